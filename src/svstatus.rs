//! The status record s6-supervise keeps in `supervise/status`, and the
//! ways s6-svstat prints it.
//!
//! 35 bytes: a TAI64N stamp of the last up/down change (12), a TAI64N
//! stamp of the last readiness (12), the pid of the service (u64 big
//! endian, 0 when down), its last wait status (u16 big endian), and
//! flags: 1 paused, 2 finishing, 4 wants up, 8 ready. s6 2.13 and 2.14
//! write 43 bytes: the process group (u64 big endian) after the pid.
//! Both are read, whatever release we were built for: a supervisor
//! started before an upgrade of s6 may still be running.

use std::time::{SystemTime, UNIX_EPOCH};

use nix::errno::Errno;

use crate::release::{Release, BUILT_FOR};

/// The size of a record without the process group, and with it.
pub const SIZE: usize = 35;
pub const SIZE_WITH_PGID: usize = 43;
const TAI_MAGIC: u64 = 1 << 62;

/// A TAI64N time: seconds (with the 2^62 offset) and nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tain {
    pub sec: u64,
    pub nano: u32,
}

impl Tain {
    fn unpack(b: &[u8]) -> Tain {
        Tain {
            sec: u64::from_be_bytes(b[..8].try_into().unwrap()),
            nano: u32::from_be_bytes(b[8..12].try_into().unwrap()),
        }
    }

    /// The TAI64N label, `@` and 24 hex digits.
    pub fn label(&self) -> String {
        format!("@{:016x}{:08x}", self.sec, self.nano)
    }

    /// Now, on the scale s6 writes its stamps with: UTC plus the leap
    /// seconds skalibs knows of, plus 10.
    pub fn now() -> Tain {
        let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Tain {
            sec: TAI_MAGIC + 10 + add_leap_seconds(d.as_secs()),
            nano: d.subsec_nanos(),
        }
    }

    /// Whole seconds from `self` to `later` (0 if `later` is earlier).
    pub fn seconds_until(&self, later: &Tain) -> u64 {
        let d = later.sec.saturating_sub(self.sec);
        if later.sec > self.sec && later.nano < self.nano {
            d - 1
        } else {
            d
        }
    }
}

/// Leap seconds inserted since 1972, as Unix times (the skalibs table).
const LEAP_SECONDS: [u64; 27] = [
    78796800, 94694401, 126230402, 157766403, 189302404, 220924805, 252460806, 283996807, 315532808, 362793609,
    394329610, 425865611, 489024012, 567993613, 631152014, 662688015, 709948816, 741484817, 773020818, 820454419,
    867715220, 915148821, 1136073622, 1230768023, 1341100824, 1435708825, 1483228826,
];

fn add_leap_seconds(unix: u64) -> u64 {
    let mut u = unix;
    for &leap in &LEAP_SECONDS {
        if u < leap {
            break;
        }
        u += 1;
    }
    u
}

/// A decoded status record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub stamp: Tain,
    pub readystamp: Tain,
    /// As s6 reads it: the 64-bit field cut to a pid_t.
    pub pid: i32,
    /// The process group: from the record when it has one, else the
    /// pid (a service leads its own session, so both are the same).
    pub pgid: i32,
    pub wstat: u16,
    pub paused: bool,
    pub finishing: bool,
    pub wantup: bool,
    pub ready: bool,
}

impl Status {
    /// Decode a record of either size; None if it is shorter than 35
    /// bytes. A 43-byte one holds the process group.
    pub fn decode(b: &[u8]) -> Option<Status> {
        if b.len() < SIZE {
            return None;
        }
        let be64 = |at: usize| u64::from_be_bytes(b[at..at + 8].try_into().unwrap()) as i32;
        let pid = be64(24);
        let (pgid, tail) = if b.len() >= SIZE_WITH_PGID {
            (be64(32), 40)
        } else {
            (pid, 32)
        };
        let flags = b[tail + 2];
        Some(Status {
            stamp: Tain::unpack(&b[0..12]),
            readystamp: Tain::unpack(&b[12..24]),
            pid,
            pgid,
            wstat: u16::from_be_bytes(b[tail..tail + 2].try_into().unwrap()),
            paused: flags & 1 != 0,
            finishing: flags & 2 != 0,
            wantup: flags & 4 != 0,
            ready: flags & 8 != 0,
        })
    }

    /// Read `DIR/supervise/status`. A short record is EPIPE, as in s6.
    /// The record is a regular file of ours, reached through no link
    /// and read without blocking, of 43 bytes at most: whatever else the
    /// owner of the service directory puts there (a FIFO, a link to a
    /// secret, a huge file) is an error, never read.
    pub fn read(svdir: &crate::door::Loc) -> Result<Status, Errno> {
        let b = svdir.join("supervise/status").read(SIZE_WITH_PGID)?;
        Status::decode(&b).ok_or(Errno::EPIPE)
    }

    /// Up means a run process exists and is not being finished.
    pub fn is_up(&self) -> bool {
        self.pid != 0 && !self.finishing
    }

    /// A supervisor that has not started its service yet marks its
    /// first record paused, with no pid (s6 2.13.2 and later).
    fn not_started(&self) -> bool {
        self.pid == 0 && !self.finishing && self.paused
    }

    /// How the last run ended, in s6-svstat's words: `exitcode N`, or
    /// `signal SIGNAME` (named as `release` names it). s6-supervise keeps
    /// it in the record while the next run is up too, until that one
    /// ends; a record that never saw a run says `exitcode 0`.
    pub fn death(&self, release: Release) -> String {
        match self.signaled() {
            Some(sig) => format!("signal SIG{}", sig_name(sig, release)),
            None => format!("exitcode {}", libc::WEXITSTATUS(i32::from(self.wstat))),
        }
    }

    fn exited(&self) -> Option<i32> {
        let w = i32::from(self.wstat);
        libc::WIFEXITED(w).then(|| libc::WEXITSTATUS(w))
    }

    fn signaled(&self) -> Option<i32> {
        let w = i32::from(self.wstat);
        libc::WIFSIGNALED(w).then(|| libc::WTERMSIG(w))
    }
}

/// A signal's name as skalibs spells it (without `SIG`), `???` if none.
/// Some numbers have two names; which one is printed depends on the
/// skalibs that s6 is built with (see `Release::signal_aliases`).
pub fn sig_name(sig: i32, release: Release) -> &'static str {
    const ALIASES: &[(i32, &str)] = &[(libc::SIGIOT, "IOT"), (libc::SIGCHLD, "CLD"), (libc::SIGIO, "IO")];
    const TABLE: &[(i32, &str)] = &[
        (libc::SIGABRT, "ABRT"),
        (libc::SIGALRM, "ALRM"),
        (libc::SIGBUS, "BUS"),
        (libc::SIGCHLD, "CHLD"),
        (libc::SIGCONT, "CONT"),
        (libc::SIGFPE, "FPE"),
        (libc::SIGHUP, "HUP"),
        (libc::SIGILL, "ILL"),
        (libc::SIGINT, "INT"),
        (libc::SIGKILL, "KILL"),
        (libc::SIGPIPE, "PIPE"),
        (libc::SIGQUIT, "QUIT"),
        (libc::SIGSEGV, "SEGV"),
        (libc::SIGSTOP, "STOP"),
        (libc::SIGTERM, "TERM"),
        (libc::SIGTSTP, "TSTP"),
        (libc::SIGTTIN, "TTIN"),
        (libc::SIGTTOU, "TTOU"),
        (libc::SIGUSR1, "USR1"),
        (libc::SIGUSR2, "USR2"),
        (libc::SIGPOLL, "POLL"),
        (libc::SIGPROF, "PROF"),
        (libc::SIGSYS, "SYS"),
        (libc::SIGTRAP, "TRAP"),
        (libc::SIGURG, "URG"),
        (libc::SIGVTALRM, "VTALRM"),
        (libc::SIGXCPU, "XCPU"),
        (libc::SIGXFSZ, "XFSZ"),
        (libc::SIGSTKFLT, "STKFLT"),
        (libc::SIGWINCH, "WINCH"),
        (libc::SIGPWR, "PWR"),
    ];
    let aliases = if release.signal_aliases() { ALIASES } else { &[] };
    aliases
        .iter()
        .chain(TABLE)
        .find(|(n, _)| *n == sig)
        .map_or("???", |(_, name)| name)
}

/// The number of a signal given to `s6-svc -s`: a name, with or without
/// `SIG`, in any case, or a decimal number, as skalibs reads them.
pub fn sig_number(s: &[u8]) -> Option<i32> {
    const NAMES: &[(&str, i32)] = &[("IOT", libc::SIGIOT), ("CLD", libc::SIGCHLD), ("IO", libc::SIGIO)];
    let named = |s: &[u8]| {
        (1..65)
            .map(|n| (sig_name(n, Release([2, 11, 0, 0])), n))
            .chain(NAMES.iter().copied())
            .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(s))
            .map(|(_, n)| n)
    };
    let numbered = |s: &[u8]| {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s)
            .ok()?
            .parse::<u32>()
            .ok()
            .map(|n| n.min(i32::MAX as u32) as i32)
    };
    let plain = |s: &[u8]| named(s).or_else(|| numbered(s));
    plain(s).or_else(|| match s.get(..3) {
        Some(p) if p.eq_ignore_ascii_case(b"SIG") => plain(&s[3..]),
        _ => None,
    })
}

/// A field of `s6-svstat -o`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Up,
    WantedUp,
    NormallyUp,
    Ready,
    Paused,
    Pid,
    Pgid,
    ExitCode,
    Signal,
    Signum,
    UpDownSince,
    ReadySince,
    UpDownFor,
    ReadyFor,
}

/// The fields with their names, in s6 2.11's order (which decides what
/// an abbreviation such as `p` means there: the first field it begins).
pub const FIELDS: [(&str, Field); 14] = [
    ("up", Field::Up),
    ("wantedup", Field::WantedUp),
    ("normallyup", Field::NormallyUp),
    ("ready", Field::Ready),
    ("paused", Field::Paused),
    ("pid", Field::Pid),
    ("pgid", Field::Pgid),
    ("exitcode", Field::ExitCode),
    ("signal", Field::Signal),
    ("signum", Field::Signum),
    ("updownsince", Field::UpDownSince),
    ("readysince", Field::ReadySince),
    ("updownfor", Field::UpDownFor),
    ("readyfor", Field::ReadyFor),
];

/// The most fields one call prints.
pub const MAX_FIELDS: usize = 16;

/// Which field a comma-separated item names. Up to s6 2.12, the first
/// one that starts with it (and there is no `pgid`); from 2.13, the one
/// spelled exactly so.
pub fn field_named(item: &[u8], release: Release) -> Option<Field> {
    let known = FIELDS
        .iter()
        .filter(|(_, f)| release.svstat_pgid() || *f != Field::Pgid);
    let mut known = known
        .clone()
        .filter(|(name, _)| name.as_bytes() == item)
        .chain(known.filter(|(name, _)| !release.svstat_pgid() && name.as_bytes().starts_with(item)));
    known.next().map(|(_, f)| *f)
}

/// What an instance's status reader knows besides the record.
pub struct View {
    pub status: Status,
    /// No `down` file in the service directory.
    pub normallyup: bool,
    pub now: Tain,
    /// Whose s6-svstat to print as.
    pub release: Release,
}

impl View {
    /// A stamp in the future (a clock set back) counts as now, as in s6.
    pub fn new(mut status: Status, normallyup: bool) -> View {
        let now = Tain::now();
        if status.stamp > now {
            status.stamp = now;
        }
        View {
            status,
            normallyup,
            now,
            release: BUILT_FOR,
        }
    }

    /// Not started yet, for a release that says so.
    fn not_started(&self) -> bool {
        self.release.svstat_not_started() && self.status.not_started()
    }

    /// The process group as this release prints it in the summary.
    fn pgid(&self) -> i32 {
        if self.release.pgid_is_pid() {
            self.status.pid
        } else {
            self.status.pgid
        }
    }

    /// One `-o` field.
    pub fn field(&self, f: Field) -> String {
        let st = &self.status;
        let up = st.is_up();
        let tf = |b: bool| if b { "true" } else { "false" }.to_string();
        // No exit code or signal while up, nor before the first start.
        let ended = !up && !self.not_started();
        let sig = if ended { st.signaled() } else { None };
        match f {
            Field::Up => tf(up),
            Field::WantedUp => tf(st.wantup),
            Field::NormallyUp => tf(self.normallyup),
            Field::Ready => tf(st.pid != 0 && st.ready),
            Field::Paused if self.release.svstat_not_started() => tf(st.paused && st.pid != 0),
            Field::Paused => tf(st.paused),
            Field::Pgid if !self.release.pgid_is_pid() => (if st.pgid > 0 { st.pgid } else { -1 }).to_string(),
            Field::Pid | Field::Pgid => (if up { st.pid } else { -1 }).to_string(),
            Field::ExitCode => (if ended { st.exited().unwrap_or(-1) } else { -1 }).to_string(),
            Field::Signal => sig.map_or("NA".into(), |s| format!("SIG{}", sig_name(s, self.release))),
            Field::Signum => sig.unwrap_or(-1).to_string(),
            Field::UpDownSince => st.stamp.label(),
            Field::ReadySince => st.readystamp.label(),
            Field::UpDownFor => st.stamp.seconds_until(&self.now).to_string(),
            Field::ReadyFor => st.readystamp.seconds_until(&self.now).to_string(),
        }
    }

    /// The one-line summary s6-svstat prints without options.
    pub fn summary(&self, numeric: bool) -> String {
        let st = &self.status;
        let up = st.is_up();
        let not_started = self.not_started();
        let mut s = if up && self.release.svstat_pgid() {
            format!("up (pid {} pgid {}) ", st.pid, self.pgid())
        } else if up {
            format!("up (pid {}) ", st.pid)
        } else if not_started {
            "down (not started yet) ".to_string()
        } else if let (Some(sig), true) = (st.signaled(), numeric) {
            format!("down (signal {sig}) ")
        } else {
            format!("down ({}) ", st.death(self.release))
        };
        if !not_started {
            s += &format!("{} seconds", st.stamp.seconds_until(&self.now));
        }
        if up && !self.normallyup {
            s += ", normally down";
        }
        if !up && self.normallyup {
            s += ", normally up";
        }
        if up && st.paused {
            s += ", paused";
        }
        if !up && st.wantup {
            s += ", want up";
        }
        if up && !st.wantup {
            s += ", want down";
        }
        if st.ready && !not_started {
            s += &format!(", ready {} seconds", st.readystamp.seconds_until(&self.now));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R211: Release = Release([2, 11, 3, 2]);
    const R213: Release = Release([2, 13, 1, 0]);
    const R2132: Release = Release([2, 13, 2, 0]);
    const R215: Release = Release([2, 15, 1, 0]);

    /// A record of 35 bytes, or of 43 with a process group.
    fn record_with(pid: u64, pgid: Option<u64>, wstat: u16, flags: u8) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(TAI_MAGIC + 100).to_be_bytes());
        b.extend_from_slice(&5u32.to_be_bytes());
        b.extend_from_slice(&(TAI_MAGIC + 90).to_be_bytes());
        b.extend_from_slice(&7u32.to_be_bytes());
        b.extend_from_slice(&pid.to_be_bytes());
        if let Some(g) = pgid {
            b.extend_from_slice(&g.to_be_bytes());
        }
        b.extend_from_slice(&wstat.to_be_bytes());
        b.push(flags);
        b
    }

    fn record(pid: u64, wstat: u16, flags: u8) -> Vec<u8> {
        record_with(pid, None, wstat, flags)
    }

    fn view_as(b: &[u8], normallyup: bool, release: Release) -> View {
        let status = Status::decode(b).unwrap();
        View {
            status,
            normallyup,
            now: Tain {
                sec: TAI_MAGIC + 160,
                nano: 0,
            },
            release,
        }
    }

    fn view(b: &[u8], normallyup: bool) -> View {
        view_as(b, normallyup, R211)
    }

    #[test]
    fn decodes_every_field() {
        let st = Status::decode(&record(42, 0x0100, 1 | 4 | 8)).unwrap();
        assert_eq!(
            st.stamp,
            Tain {
                sec: TAI_MAGIC + 100,
                nano: 5
            }
        );
        assert_eq!(
            st.readystamp,
            Tain {
                sec: TAI_MAGIC + 90,
                nano: 7
            }
        );
        assert_eq!((st.pid, st.pgid, st.wstat), (42, 42, 0x0100));
        assert!(st.paused && !st.finishing && st.wantup && st.ready);
        assert_eq!(st.stamp.label(), "@400000000000006400000005");
    }

    #[test]
    fn decodes_both_record_sizes() {
        let short = Status::decode(&record(42, 0x0100, 4 | 8)).unwrap();
        let long = Status::decode(&record_with(42, Some(40), 0x0100, 4 | 8)).unwrap();
        assert_eq!(record_with(42, Some(40), 0, 0).len(), SIZE_WITH_PGID);
        assert_eq!(long.pgid, 40);
        assert_eq!(Status { pgid: 42, ..long }, short);
        // Whatever release we print as, the flags come from the right byte.
        for r in [R211, R213, R215] {
            assert_eq!(
                view_as(&record_with(42, Some(40), 0, 4 | 8), true, r).field(Field::WantedUp),
                "true"
            );
            assert_eq!(
                view_as(&record_with(42, Some(40), 0, 0), true, r).field(Field::WantedUp),
                "false"
            );
        }
    }

    #[test]
    fn short_and_garbage_records() {
        for n in [0, 1, 12, 34] {
            assert_eq!(Status::decode(&record(1, 0, 0)[..n]), None);
        }
        let garbage = [0xffu8; 40];
        let st = Status::decode(&garbage).unwrap();
        assert!(st.paused && st.finishing && st.wantup && st.ready && !st.is_up());
        let v = view(&garbage, true);
        assert_eq!(v.field(Field::Pid), "-1");
        assert_eq!(v.field(Field::UpDownFor), "0");
    }

    #[test]
    fn summaries_like_s6_svstat() {
        assert_eq!(view(&record(42, 0, 4), true).summary(false), "up (pid 42) 59 seconds");
        assert_eq!(
            view(&record(42, 0, 0), false).summary(false),
            "up (pid 42) 59 seconds, normally down, want down"
        );
        assert_eq!(
            view(&record(42, 0, 1 | 4 | 8), true).summary(false),
            "up (pid 42) 59 seconds, paused, ready 69 seconds"
        );
        assert_eq!(
            view(&record(0, 3 << 8, 4), true).summary(false),
            "down (exitcode 3) 59 seconds, normally up, want up"
        );
        assert_eq!(
            view(&record(0, 9, 0), false).summary(false),
            "down (signal SIGKILL) 59 seconds"
        );
        assert_eq!(
            view(&record(0, 15, 0), false).summary(true),
            "down (signal 15) 59 seconds"
        );
        assert_eq!(
            view(&record(42, 0, 2 | 4), true).summary(false),
            "down (exitcode 0) 59 seconds, normally up, want up"
        );
    }

    #[test]
    fn summaries_of_later_releases() {
        let up = record_with(42, Some(40), 0, 4);
        assert_eq!(
            view_as(&up, true, R213).summary(false),
            "up (pid 42 pgid 40) 59 seconds"
        );
        // 2.14 on: the pgid printed is the pid.
        assert_eq!(
            view_as(&up, true, R215).summary(false),
            "up (pid 42 pgid 42) 59 seconds"
        );
        assert_eq!(
            view_as(&record(42, 0, 4), true, R213).summary(false),
            "up (pid 42 pgid 42) 59 seconds"
        );
        // Paused with no pid: not started yet, from 2.13.2 (no time, no
        // readiness).
        let fresh = record(0, 0, 1 | 8);
        assert_eq!(
            view_as(&fresh, true, R213).summary(false),
            "down (exitcode 0) 59 seconds, normally up, ready 69 seconds"
        );
        assert_eq!(
            view_as(&fresh, true, R2132).summary(false),
            "down (not started yet) , normally up"
        );
        assert_eq!(view_as(&fresh, false, R215).summary(false), "down (not started yet) ");
        assert_eq!(
            view_as(&record(0, 6, 0), false, R215).summary(false),
            "down (signal SIGIOT) 59 seconds"
        );
        assert_eq!(
            view_as(&record(0, 6, 0), false, R213).summary(false),
            "down (signal SIGABRT) 59 seconds"
        );
    }

    #[test]
    fn fields_and_abbreviations() {
        let v = view(&record(0, 15, 0), true);
        let got: Vec<String> = FIELDS.iter().map(|&(_, f)| v.field(f)).collect();
        assert_eq!(
            got,
            [
                "false",
                "false",
                "true",
                "false",
                "false",
                "-1",
                "-1",
                "-1",
                "SIGTERM",
                "15",
                "@400000000000006400000005",
                "@400000000000005a00000007",
                "59",
                "69"
            ]
        );
        assert_eq!(field_named(b"p", R211), Some(Field::Paused));
        assert_eq!(field_named(b"pi", R211), Some(Field::Pid));
        assert_eq!(field_named(b"pg", R211), None);
        assert_eq!(field_named(b"pgid", R211), None);
        assert_eq!(field_named(b"updown", R211), Some(Field::UpDownSince));
        assert_eq!(field_named(b"upx", R211), None);
        assert_eq!(field_named(b"up", R211), Some(Field::Up));
        assert_eq!(field_named(b"", R211), Some(Field::Up));
        // 2.13 on: whole names only.
        assert_eq!(field_named(b"p", R213), None);
        assert_eq!(field_named(b"", R213), None);
        assert_eq!(field_named(b"pgid", R213), Some(Field::Pgid));
        assert_eq!(field_named(b"updownfor", R215), Some(Field::UpDownFor));
        assert_eq!(sig_name(libc::SIGABRT, R211), "ABRT");
        assert_eq!(sig_name(libc::SIGIO, R211), "POLL");
        assert_eq!(sig_name(libc::SIGIO, R215), "IO");
        assert_eq!(sig_name(libc::SIGCHLD, R215), "CLD");
        assert_eq!(sig_name(64, R211), "???");
    }

    #[test]
    fn fields_of_later_releases() {
        let down = record_with(0, Some(0), 15, 1 | 8);
        // 2.13: pgid from the record, -1 when there is none.
        assert_eq!(
            view_as(&record_with(42, Some(40), 0, 4), true, R213).field(Field::Pgid),
            "40"
        );
        assert_eq!(view_as(&down, true, R213).field(Field::Pgid), "-1");
        assert_eq!(view_as(&down, true, R213).field(Field::Paused), "true");
        assert_eq!(view_as(&down, true, R213).field(Field::Signal), "SIGTERM");
        // 2.13.2 on: paused only with a pid; nothing ended before a start.
        for r in [R2132, R215] {
            let v = view_as(&down, true, r);
            assert_eq!(v.field(Field::Paused), "false");
            assert_eq!(v.field(Field::Signal), "NA");
            assert_eq!(v.field(Field::Signum), "-1");
            assert_eq!(v.field(Field::ExitCode), "-1");
        }
        assert_eq!(view_as(&record(42, 0, 4), true, R215).field(Field::Pgid), "42");
        assert_eq!(view_as(&record(0, 0, 4), true, R215).field(Field::Pgid), "-1");
    }
}
