//! The status record s6-supervise keeps in `supervise/status`, and the
//! ways s6-svstat prints it.
//!
//! 35 bytes: a TAI64N stamp of the last up/down change (12), a TAI64N
//! stamp of the last readiness (12), the pid of the service (u64 big
//! endian, 0 when down), its last wait status (u16 big endian), and
//! flags: 1 paused, 2 finishing, 4 wants up, 8 ready.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use nix::errno::Errno;

pub const SIZE: usize = 35;
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
    pub wstat: u16,
    pub paused: bool,
    pub finishing: bool,
    pub wantup: bool,
    pub ready: bool,
}

impl Status {
    /// Decode a record; None if it is shorter than 35 bytes.
    pub fn decode(b: &[u8]) -> Option<Status> {
        if b.len() < SIZE {
            return None;
        }
        let flags = b[34];
        Some(Status {
            stamp: Tain::unpack(&b[0..12]),
            readystamp: Tain::unpack(&b[12..24]),
            pid: u64::from_be_bytes(b[24..32].try_into().unwrap()) as i32,
            wstat: u16::from_be_bytes(b[32..34].try_into().unwrap()),
            paused: flags & 1 != 0,
            finishing: flags & 2 != 0,
            wantup: flags & 4 != 0,
            ready: flags & 8 != 0,
        })
    }

    /// Read `DIR/supervise/status`. A short record is EPIPE, as in s6.
    pub fn read(svdir: &Path) -> Result<Status, Errno> {
        use std::io::Read;
        let path = svdir.join("supervise").join("status");
        let mut f = std::fs::File::open(path).map_err(|e| crate::diag::errno_of(&e))?;
        let mut b = [0u8; SIZE];
        let mut n = 0;
        while n < SIZE {
            match f.read(&mut b[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(crate::diag::errno_of(&e)),
            }
        }
        Status::decode(&b[..n]).ok_or(Errno::EPIPE)
    }

    /// Up means a run process exists and is not being finished.
    pub fn is_up(&self) -> bool {
        self.pid != 0 && !self.finishing
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
/// The first name listed for a number wins, as in skalibs' table.
pub fn sig_name(sig: i32) -> &'static str {
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
        (libc::SIGIOT, "IOT"),
        (libc::SIGSTKFLT, "STKFLT"),
        (libc::SIGWINCH, "WINCH"),
        (libc::SIGIO, "IO"),
        (libc::SIGPWR, "PWR"),
    ];
    TABLE.iter().find(|(n, _)| *n == sig).map_or("???", |(_, name)| name)
}

/// The fields of `s6-svstat -o`, in s6's order (which decides what an
/// abbreviation such as `p` means: the first field it begins).
pub const FIELDS: [&str; 13] = [
    "up",
    "wantedup",
    "normallyup",
    "ready",
    "paused",
    "pid",
    "exitcode",
    "signal",
    "signum",
    "updownsince",
    "readysince",
    "updownfor",
    "readyfor",
];

/// The most fields one call prints.
pub const MAX_FIELDS: usize = 16;

/// Which field a comma-separated item names: the first one that starts
/// with it. None for an unknown item.
pub fn field_named(item: &[u8]) -> Option<usize> {
    FIELDS.iter().position(|f| f.as_bytes().starts_with(item))
}

/// What an instance's status reader knows besides the record.
pub struct View {
    pub status: Status,
    /// No `down` file in the service directory.
    pub normallyup: bool,
    pub now: Tain,
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
        }
    }

    /// One `-o` field, by its index in FIELDS.
    pub fn field(&self, i: usize) -> String {
        let st = &self.status;
        let up = st.is_up();
        let tf = |b: bool| if b { "true" } else { "false" }.to_string();
        let sig = if up { None } else { st.signaled() };
        match FIELDS[i] {
            "up" => tf(up),
            "wantedup" => tf(st.wantup),
            "normallyup" => tf(self.normallyup),
            "ready" => tf(st.pid != 0 && st.ready),
            "paused" => tf(st.paused),
            "pid" => {
                if up {
                    st.pid.to_string()
                } else {
                    "-1".into()
                }
            }
            "exitcode" => if up { -1 } else { st.exited().unwrap_or(-1) }.to_string(),
            "signal" => sig.map_or("NA".into(), |s| format!("SIG{}", sig_name(s))),
            "signum" => sig.unwrap_or(-1).to_string(),
            "updownsince" => st.stamp.label(),
            "readysince" => st.readystamp.label(),
            "updownfor" => st.stamp.seconds_until(&self.now).to_string(),
            _ => st.readystamp.seconds_until(&self.now).to_string(),
        }
    }

    /// The one-line summary s6-svstat prints without options.
    pub fn summary(&self, numeric: bool) -> String {
        let st = &self.status;
        let up = st.is_up();
        let mut s = if up {
            format!("up (pid {}) ", st.pid)
        } else if let Some(sig) = st.signaled() {
            if numeric {
                format!("down (signal {sig}) ")
            } else {
                format!("down (signal SIG{}) ", sig_name(sig))
            }
        } else {
            format!("down (exitcode {}) ", libc::WEXITSTATUS(i32::from(st.wstat)))
        };
        s += &format!("{} seconds", st.stamp.seconds_until(&self.now));
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
        if st.ready {
            s += &format!(", ready {} seconds", st.readystamp.seconds_until(&self.now));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pid: u64, wstat: u16, flags: u8) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(TAI_MAGIC + 100).to_be_bytes());
        b.extend_from_slice(&5u32.to_be_bytes());
        b.extend_from_slice(&(TAI_MAGIC + 90).to_be_bytes());
        b.extend_from_slice(&7u32.to_be_bytes());
        b.extend_from_slice(&pid.to_be_bytes());
        b.extend_from_slice(&wstat.to_be_bytes());
        b.push(flags);
        b
    }

    fn view(b: &[u8], normallyup: bool) -> View {
        let status = Status::decode(b).unwrap();
        View {
            status,
            normallyup,
            now: Tain {
                sec: TAI_MAGIC + 160,
                nano: 0,
            },
        }
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
        assert_eq!((st.pid, st.wstat), (42, 0x0100));
        assert!(st.paused && !st.finishing && st.wantup && st.ready);
        assert_eq!(st.stamp.label(), "@400000000000006400000005");
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
        assert_eq!(v.field(5), "-1");
        assert_eq!(v.field(11), "0");
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
    fn fields_and_abbreviations() {
        let v = view(&record(0, 15, 0), true);
        let got: Vec<String> = (0..FIELDS.len()).map(|i| v.field(i)).collect();
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
                "SIGTERM",
                "15",
                "@400000000000006400000005",
                "@400000000000005a00000007",
                "59",
                "69"
            ]
        );
        assert_eq!(field_named(b"p"), Some(4));
        assert_eq!(field_named(b"pi"), Some(5));
        assert_eq!(field_named(b"updown"), Some(9));
        assert_eq!(field_named(b"upx"), None);
        assert_eq!(sig_name(libc::SIGABRT), "ABRT");
        assert_eq!(sig_name(libc::SIGIO), "POLL");
        assert_eq!(sig_name(64), "???");
    }
}
