//! Issue 26: root among an instance user's files. A service made with
//! the maker's `-u s6itest`, and `chown -R s6itest:` over its
//! `instance/`, `instances/` and `template/`, as its man page suggests;
//! the user plants links, FIFOs, sockets, sparse files and locks, and
//! races renames against root's commands. Each case checks that
//! nothing outside the service changed, that nothing hung past its `-t`
//! plus a margin, and, where a file could be read whole, that memory
//! stayed bounded. Every check of a case is made, and all that fail are
//! told together.

mod common;

use std::ffi::OsStr;
use std::io::{BufRead, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The margin past a command's `-t` within which it must be done.
const MARGIN: Duration = Duration::from_secs(3);
/// Peak memory a command may take, whatever the files it meets.
const MAX_RSS_KB: i64 = 64 * 1024;
/// Address space given to the commands run here: a command that reads
/// `/dev/zero` whole fails at this size instead of taking the machine
/// (with room for the arenas and stacks of a program with threads).
const MAX_AS: u64 = 2 << 30;

/// Root's secret: 35 bytes, shaped as a status record whose pid reads
/// 12513090 and whose stamps hold 499602d2 and 13371337.
fn secret_bytes() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&[0x40, 0, 0, 0, 0x49, 0x96, 0x02, 0xd2, 0x13, 0x37, 0x13, 0x37]);
    b.extend_from_slice(&[0x40, 0, 0, 0, 0x49, 0x96, 0x02, 0xd2, 0x13, 0x37, 0x13, 0x37]);
    b.extend_from_slice(&12513090u64.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0x0c]);
    assert_eq!(b.len(), 35);
    b
}

/// What a command prints that comes from the secret.
fn leaks_secret(out: &[u8]) -> bool {
    let s = String::from_utf8_lossy(out).to_lowercase();
    s.contains("12513090") || s.contains("499602d2") || s.contains("13371337") || s.contains("1234567890")
}

/// Failures of a case, told together at its end.
#[derive(Default)]
struct Checks(Vec<String>);

impl Checks {
    fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.0.push(msg());
        }
    }

    fn done(self) {
        if !self.0.is_empty() {
            panic!("{} check(s) failed:\n- {}", self.0.len(), self.0.join("\n- "));
        }
    }
}

/// A command run to its end (or killed by the watchdog), with what it
/// cost.
struct Ran {
    what: String,
    /// The exit code, or 128 + the signal that killed it.
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
    elapsed: Duration,
    /// Peak resident set of the command and the children it reaped
    /// (wait4's rusage of that one child), in KiB.
    maxrss_kb: i64,
    /// Killed by the watchdog.
    hung: bool,
}

impl Ran {
    fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    fn describe(&self) -> String {
        format!(
            "{}: code {}{} after {:?}, {} KiB peak; stderr: {}",
            self.what,
            self.code,
            if self.hung {
                " (hung: killed by the watchdog)"
            } else {
                ""
            },
            self.elapsed,
            self.maxrss_kb,
            self.stderr.trim_end()
        )
    }
}

/// Run `cmd` with `input` on its standard input, in a process group of
/// its own with an address space of MAX_AS; after `limit`, the group is
/// killed (its id is the command's pid) and the command reaped. The
/// command is reaped with wait4, for its own rusage.
fn measured(cmd: &mut Command, input: &[u8], limit: Duration) -> Ran {
    let what = format!("{cmd:?}");
    cmd.stdin(if input.is_empty() {
        Stdio::null()
    } else {
        Stdio::piped()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0);
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: MAX_AS,
                rlim_max: MAX_AS,
            };
            libc::setrlimit(libc::RLIMIT_AS, &lim);
            Ok(())
        });
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let pid = child.id() as i32;
    let feeder = child.stdin.take().map(|mut stdin| {
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        })
    });
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid one.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let mut hung = false;
    loop {
        // SAFETY: plain wait4 on our own child.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4: {}", std::io::Error::last_os_error());
        if start.elapsed() > limit {
            hung = true;
            let _ = kill(Pid::from_raw(-pid), Signal::SIGKILL);
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            // SAFETY: as above, blocking: it was just killed.
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
            assert_eq!(r, pid);
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = start.elapsed();
    // What the command left in its group (a helper it did not reap)
    // goes with it: the group's id is the command's pid.
    let _ = kill(Pid::from_raw(-pid), Signal::SIGKILL);
    if let Some(f) = feeder {
        let _ = f.join();
    }
    let stdout = out_t.join().unwrap();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap()).into_owned();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    let ran = Ran {
        what,
        code,
        stdout,
        stderr,
        elapsed,
        maxrss_kb: ru.ru_maxrss,
        hung,
    };
    // Shown with the output of a case that fails.
    eprintln!("ran {}; stdout: {:?}", ran.describe(), ran.out());
    ran
}

/// A process of the test, stopped by its pid (or its process group,
/// whose id is its pid) when dropped.
struct Stopped {
    child: Child,
    group: bool,
}

impl Stopped {
    fn spawn(cmd: &mut Command, group: bool) -> Stopped {
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        if group {
            cmd.process_group(0);
        }
        Stopped {
            child: cmd.spawn().expect("spawn"),
            group,
        }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        if self.group {
            let _ = kill(Pid::from_raw(-pid), Signal::SIGKILL);
        }
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = ended_within_ref(&mut self.child, Duration::from_secs(10));
    }
}

fn ended_within_ref(child: &mut Child, limit: Duration) -> bool {
    wait_until(limit, || child.try_wait().ok().flatten().is_some())
}

const USER: &str = "s6itest";

/// A program run as the service's user, without any group of root's.
fn as_user(prog: impl AsRef<OsStr>) -> Command {
    as_who(USER, prog)
}

fn as_who(user: &str, prog: impl AsRef<OsStr>) -> Command {
    let u = nix::unistd::User::from_name(user).unwrap().unwrap();
    let mut c = program("/usr/bin/setpriv");
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .arg(format!("--reuid={}", u.uid))
        .arg(format!("--regid={}", u.gid))
        .args(["--clear-groups", "--"])
        .arg(prog);
    c
}

/// The user does `prog args...`, which must succeed.
fn user_does(prog: &str, args: &[&OsStr]) {
    let out = run(as_user(prog).args(args));
    assert!(out.status.success(), "as {USER}: {prog} {args:?}: {}", stderr(&out));
}

fn o(p: &Path) -> &OsStr {
    p.as_os_str()
}

/// Everything under `dir` (not following links), with types, modes,
/// owners, sizes, link targets and the bytes of small files.
fn snapshot(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for name in entries(&d) {
            let p = d.join(os(&name));
            let Ok(md) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let mut line = format!(
                "{} {:o} {}:{} {}",
                p.strip_prefix(dir).unwrap().display(),
                md.mode(),
                md.uid(),
                md.gid(),
                md.len()
            );
            if md.file_type().is_symlink() {
                line += &format!(" -> {:?}", std::fs::read_link(&p).unwrap_or_default());
            } else if md.is_file() && md.len() <= 4096 {
                line += &format!(" {:?}", String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()));
            } else if md.is_dir() {
                stack.push(p);
            }
            out.push(line);
        }
    }
    out.sort();
    out
}

/// An inotify watch on the victim directory (and its `sub/`) and on the
/// secret: what root's commands do there as they run, even what they
/// undo before they end (a FIFO made and removed, a file opened).
/// Changes are kept whenever they come; opens of files only while a
/// root command runs, since the test reads them too. An open of the
/// victim directory itself is not told: the user's supervisors list an
/// `event` that leads there.
struct Tripwire {
    ino: nix::sys::inotify::Inotify,
    labels: Vec<(nix::sys::inotify::WatchDescriptor, String)>,
    seen: std::cell::RefCell<Vec<String>>,
}

impl Tripwire {
    fn arm(victim: &Path, secret: &Path) -> Tripwire {
        use nix::sys::inotify::{AddWatchFlags as F, InitFlags, Inotify};
        let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).unwrap();
        let mask = F::IN_CREATE
            | F::IN_DELETE
            | F::IN_MOVED_FROM
            | F::IN_MOVED_TO
            | F::IN_ATTRIB
            | F::IN_MODIFY
            | F::IN_DELETE_SELF
            | F::IN_MOVE_SELF
            | F::IN_OPEN
            | F::IN_ACCESS;
        let mut labels = Vec::new();
        for (p, label) in [
            (victim.to_path_buf(), "victim"),
            (victim.join("sub"), "victim/sub"),
            (secret.to_path_buf(), "secret"),
        ] {
            labels.push((ino.add_watch(&p, mask).unwrap(), label.to_string()));
        }
        Tripwire {
            ino,
            labels,
            seen: Default::default(),
        }
    }

    /// Take the events so far; opens and reads only if `reads`.
    fn collect(&self, reads: bool, during: &str) {
        use nix::sys::inotify::AddWatchFlags as F;
        while let Ok(evs) = self.ino.read_events() {
            if evs.is_empty() {
                break;
            }
            for ev in evs {
                let read = ev.mask.intersects(F::IN_OPEN | F::IN_ACCESS);
                if read && (!reads || (ev.mask.contains(F::IN_ISDIR) && ev.name.is_none())) {
                    continue;
                }
                let label = self
                    .labels
                    .iter()
                    .find(|(wd, _)| *wd == ev.wd)
                    .map(|(_, l)| l.as_str())
                    .unwrap_or("?");
                let name = ev.name.map(|n| format!("/{}", n.to_string_lossy())).unwrap_or_default();
                self.seen
                    .borrow_mut()
                    .push(format!("{label}{name}: {:?} (during {during})", ev.mask));
            }
        }
    }

    /// What was seen so far, taken.
    fn take(&self) -> Vec<String> {
        self.collect(false, "the test");
        std::mem::take(&mut *self.seen.borrow_mut())
    }
}

/// The set-up of issue 26: a tree with a scanner; a template; our maker's
/// `-u s6itest -c 80` service `svc`, its `instance/`, `instances/` and
/// `template/` given to the user, started under the tree's scanner;
/// instances made by the user (with our create, run as the user). Beside
/// the service: `victim/`, root's, 0755, holding `4000000`, `31337.up`
/// and more, and `secret`, root's, 0600.
struct Hostile {
    svc: PathBuf,
    victim: PathBuf,
    secret: PathBuf,
    tpl: PathBuf,
    uid: u32,
    gid: u32,
    outside: Vec<String>,
    trip: Tripwire,
    t: Tree,
}

impl Hostile {
    /// None (with a loud message) when not root.
    fn new(instances: &[&str]) -> Option<Hostile> {
        Hostile::with_template(instances, |_| {})
    }

    fn with_template(instances: &[&str], more: impl FnOnce(&Path)) -> Option<Hostile> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED: tests/hostile.rs needs root (to add the user s6itest and drop to it)");
            return None;
        }
        let user = test_user()?;
        assert_eq!(user, USER);
        let u = nix::unistd::User::from_name(USER).unwrap().unwrap();
        let t = Tree::new();
        std::fs::set_permissions(t.path(), PermissionsExt::from_mode(0o755)).unwrap();
        let tpl = t.path().join("tpl");
        sleeper_template(&tpl);
        more(&tpl);
        let svc = t.path().join("svc");
        let out = run_for(
            ours("s6-instance-maker")
                .args(["-u", USER, "-c", "80"])
                .arg(&tpl)
                .arg(&svc),
            Duration::from_secs(60),
        );
        assert_eq!(code(&out), 0, "s6-instance-maker -u: {}", stderr(&out));
        let out = run(Command::new("/usr/bin/chown")
            .args(["-R", &format!("{USER}:")])
            .arg(svc.join("instance"))
            .arg(svc.join("instances"))
            .arg(svc.join("template")));
        assert!(out.status.success(), "chown: {}", stderr(&out));
        t.start("svc", &svc);
        for name in instances {
            let out = run_for(
                as_user(bindir().join("s6-instance-create"))
                    .args(["-t", "10000"])
                    .arg(&svc)
                    .arg(name),
                Duration::from_secs(20),
            );
            assert_eq!(code(&out), 0, "the user's create of {name}: {}", stderr(&out));
            let dir = svc.join("instances").join(name);
            assert!(
                wait_until(Duration::from_secs(10), || supervised(&dir) && status(&dir).0 != 0),
                "{name} never came up"
            );
        }
        let victim = t.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        std::fs::set_permissions(&victim, PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::write(victim.join("4000000"), "").unwrap();
        std::fs::write(victim.join("31337.up"), "ghost\n").unwrap();
        std::fs::write(victim.join("keep"), "victim data\n").unwrap();
        std::fs::create_dir(victim.join("sub")).unwrap();
        std::fs::write(victim.join("sub/file"), "deeper\n").unwrap();
        let secret = t.path().join("secret");
        std::fs::write(&secret, secret_bytes()).unwrap();
        std::fs::set_permissions(&secret, PermissionsExt::from_mode(0o600)).unwrap();
        let trip = Tripwire::arm(&victim, &secret);
        let mut h = Hostile {
            svc,
            victim,
            secret,
            tpl,
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
            outside: Vec::new(),
            trip,
            t,
        };
        h.outside = h.outside_now();
        h.trip.collect(false, "the set-up");
        h.trip.take();
        Some(h)
    }

    fn inst(&self, name: &str) -> PathBuf {
        self.svc.join("instances").join(name)
    }

    /// Everything outside the service that a root command could reach
    /// through a planted object: the tree's top (beside svc, scan and
    /// the template source), victim/ whole, the secret, the template.
    fn outside_now(&self) -> Vec<String> {
        let mut v: Vec<String> = entries(self.t.path())
            .into_iter()
            .map(|e| format!("top: {}", String::from_utf8_lossy(&e)))
            .collect();
        v.extend(snapshot(&self.victim).into_iter().map(|l| format!("victim/{l}")));
        v.extend(snapshot(&self.tpl).into_iter().map(|l| format!("tpl/{l}")));
        let md = std::fs::symlink_metadata(&self.secret).unwrap();
        v.push(format!(
            "secret {:o} {}:{} {:?}",
            md.mode(),
            md.uid(),
            md.gid(),
            std::fs::read(&self.secret).unwrap()
        ));
        v
    }

    /// (1) Nothing outside the service changed, nor was opened by root's
    /// commands as they ran.
    fn untouched(&self, c: &mut Checks, after: &str) {
        let seen = self.trip.take();
        c.check(seen.is_empty(), || {
            format!("up to {after}: seen in victim/ or on the secret: {seen:?}")
        });
        let now = self.outside_now();
        if now != self.outside {
            let gone: Vec<&String> = self.outside.iter().filter(|l| !now.contains(l)).collect();
            let new: Vec<&String> = now.iter().filter(|l| !self.outside.contains(l)).collect();
            c.0.push(format!(
                "after {after}: outside the service, gone or changed: {gone:?}; new or changed: {new:?}"
            ));
        }
    }

    /// One of our commands, as root, measured, with a watchdog at
    /// `t_ms` plus ten seconds.
    fn root(&self, prog: &str, args: &[&OsStr], input: &[u8], t_ms: u64) -> Ran {
        self.trip.collect(false, "the test");
        let r = measured(
            ours(prog).args(args),
            input,
            Duration::from_millis(t_ms) * waits(prog) + Duration::from_secs(10),
        );
        self.trip.collect(true, prog);
        r
    }
}

fn s(x: &str) -> &OsStr {
    OsStr::new(x)
}

/// How many times its `-t` a command may wait in all: an upgrade gives
/// it to a batch and again to each step of putting an instance back.
fn waits(what: &str) -> u32 {
    if what.contains("s6-instance-upgrade") {
        3
    } else {
        1
    }
}

/// (2) Done within `t_ms` (times its waits) plus the margin, not killed
/// by the watchdog; and (3) memory bounded, whatever it met.
fn in_time(c: &mut Checks, r: &Ran, t_ms: u64) {
    let bound = Duration::from_millis(t_ms) * waits(&r.what) + MARGIN;
    c.check(!r.hung && r.elapsed < bound, || {
        format!("not done within {bound:?} (-t {t_ms}): {}", r.describe())
    });
    small(c, r);
}

/// (3) Memory stayed bounded.
fn small(c: &mut Checks, r: &Ran) {
    c.check(r.maxrss_kb > 0 && r.maxrss_kb < MAX_RSS_KB, || {
        format!("peak memory not under {MAX_RSS_KB} KiB: {}", r.describe())
    });
}

/// No `ftrig1` FIFO, nor any other entry of a listener's, in `dir`.
fn no_fifo_in(c: &mut Checks, dir: &Path, after: &str) {
    let ftrig: Vec<_> = entries(dir)
        .into_iter()
        .filter(|e| e.starts_with(b"ftrig1") || e.starts_with(b".ftrig1"))
        .collect();
    c.check(ftrig.is_empty(), || {
        format!("after {after}: FIFOs made in {dir:?}: {ftrig:?}")
    });
}

/// Whether event/ of an instance is one its supervisor (the user) may
/// announce in, and no more open than s6's modes 03730 and 01733.
fn event_ok(dir: &Path, uid: u32, gid: u32) -> Result<(), String> {
    let ev = dir.join("event");
    let md = std::fs::symlink_metadata(&ev).map_err(|e| format!("{ev:?}: {e}"))?;
    let mode = md.mode() & 0o7777;
    if !md.is_dir() {
        return Err(format!("{ev:?} is not a directory"));
    }
    if mode & 0o044 != 0 || mode & !0o3733 != 0 {
        return Err(format!("{ev:?} mode {mode:o}: more open than 03730/01733"));
    }
    let user_may = md.uid() == uid || (md.gid() == gid && mode & 0o030 == 0o030) || mode & 0o003 == 0o003;
    if !user_may {
        return Err(format!(
            "{ev:?} mode {mode:o} owner {}:{}: the service's user ({uid}:{gid}) may not write to it",
            md.uid(),
            md.gid()
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------
// Item 0: root cannot make an instance in a -u service.

#[test]
fn item0_root_sync_and_create_make_instances_in_a_user_service() {
    let Some(h) = Hostile::new(&["a"]) else { return };
    let mut c = Checks::default();
    let r = h.root(
        "s6-instance-sync",
        &[s("-t"), s("3000"), o(&h.svc), s("a"), s("z1")],
        b"",
        3000,
    );
    in_time(&mut c, &r, 3000);
    c.check(r.code == 0 && r.out() == "+z1\n", || {
        format!("sync: {} / stdout {:?}", r.describe(), r.out())
    });
    let r = h.root(
        "s6-instance-create",
        &[s("-t"), s("3000"), o(&h.svc), s("z2")],
        b"",
        3000,
    );
    in_time(&mut c, &r, 3000);
    c.check(r.code == 0, || format!("create: {}", r.describe()));
    for name in ["z1", "z2"] {
        let dir = h.inst(name);
        c.check(
            wait_until(Duration::from_secs(5), || supervised(&dir) && status(&dir).0 != 0),
            || format!("{name} is not supervised and up"),
        );
        if let Err(e) = event_ok(&dir, h.uid, h.gid) {
            c.0.push(e);
        }
    }
    // And root's upgrade of them all comes through too.
    let r = h.root("s6-instance-upgrade", &[s("-t"), s("5000"), o(&h.svc)], b"", 5000);
    in_time(&mut c, &r, 5000);
    c.check(r.code == 0, || format!("upgrade: {}", r.describe()));
    h.untouched(&mut c, "sync, create and upgrade");
    c.done();
}

// ---------------------------------------------------------------------
// Item 1: a hidden copy swapped for a link to /victim.

/// The user's racer: each `.s6i-TAG:*` directory that appears in
/// `instances/` is renamed away and a link to the victim put at its name.
const SWAPPER: &str = r#"
    my ($instances, $target, $tag) = @ARGV;
    my $n = 0;
    while (1) {
        opendir(my $d, $instances) or next;
        for my $e (readdir $d) {
            next unless index($e, ".s6i-$tag:") == 0;
            my $p = "$instances/$e";
            next if -l $p;
            next unless -d _;
            $n++;
            rename($p, "$instances/.moved-$$-$n") or next;
            symlink($target, $p);
        }
        closedir $d;
    }
"#;

fn swapper(h: &Hostile, tag: &str) -> Stopped {
    Stopped::spawn(
        as_user("/usr/bin/perl")
            .args(["-e", SWAPPER])
            .arg(h.svc.join("instances"))
            .arg(&h.victim)
            .arg(tag),
        false,
    )
}

/// A template of 3000 files, to widen the window.
fn many_files(tpl: &Path) {
    for i in 0..3000 {
        std::fs::write(tpl.join(format!("f{i:04}")), format!("file {i}\n")).unwrap();
    }
}

#[test]
fn item1_an_upgrade_copy_swapped_for_a_link_writes_nothing_outside() {
    let Some(h) = Hostile::with_template(&["a"], many_files) else {
        return;
    };
    let mut c = Checks::default();
    // The instance's own file, the user's bytes.
    std::fs::write(h.inst("a").join("planted"), "#!/bin/sh\necho owned\n").unwrap();
    std::os::unix::fs::chown(h.inst("a").join("planted"), Some(h.uid), Some(h.gid)).unwrap();
    let racer = swapper(&h, "upgrade");
    for round in 0..3 {
        let r = h.root("s6-instance-upgrade", &[s("-t"), s("5000"), o(&h.svc)], b"", 5000);
        in_time(&mut c, &r, 5000);
        c.check(r.code == 0 || r.stderr.contains("fatal: "), || {
            format!("round {round}: failed without a message: {}", r.describe())
        });
        h.untouched(&mut c, &format!("upgrade round {round}"));
    }
    drop(racer);
    c.done();
}

#[test]
fn item1_a_create_clone_swapped_for_a_link_writes_nothing_outside() {
    let Some(h) = Hostile::with_template(&["a"], many_files) else {
        return;
    };
    let mut c = Checks::default();
    let racer = swapper(&h, "clone");
    for round in 0..3 {
        let name = format!("n{round}");
        let r = h.root(
            "s6-instance-create",
            &[s("-t"), s("5000"), o(&h.svc), s(&name)],
            b"",
            5000,
        );
        in_time(&mut c, &r, 5000);
        c.check(r.code == 0 || r.stderr.contains("fatal: "), || {
            format!("round {round}: failed without a message: {}", r.describe())
        });
        h.untouched(&mut c, &format!("create round {round}"));
    }
    drop(racer);
    c.done();
}

// ---------------------------------------------------------------------
// Item 2: `.s6i-work` a link to /victim.

#[test]
fn item2_a_work_link_makes_root_remove_create_or_read_nothing_outside() {
    let Some(h) = Hostile::new(&["a", "b"]) else { return };
    let mut c = Checks::default();
    user_does(
        "/usr/bin/ln",
        &[s("-s"), o(&h.victim), o(&h.svc.join("instances/.s6i-work"))],
    );
    let r = h.root(
        "s6-instance-sync",
        &[s("-t"), s("3000"), o(&h.svc), s("a"), s("b")],
        b"",
        3000,
    );
    in_time(&mut c, &r, 3000);
    h.untouched(&mut c, "a no-op sync");
    c.check(!r.out().contains("ghost"), || {
        format!("sync read 31337.up: {:?}", r.out())
    });
    c.check(std::fs::symlink_metadata(h.inst("ghost")).is_err(), || {
        "sync made an instance named in victim/31337.up".into()
    });
    c.check(r.code == 0 || r.stderr.contains(".s6i-work"), || {
        format!("sync failed without naming .s6i-work: {}", r.describe())
    });
    let r = h.root(
        "s6-instance-delete",
        &[s("-t"), s("3000"), o(&h.svc), s("b")],
        b"",
        3000,
    );
    in_time(&mut c, &r, 3000);
    h.untouched(&mut c, "a delete");
    c.check(r.code == 0 || r.stderr.contains(".s6i-work"), || {
        format!("delete failed without naming .s6i-work: {}", r.describe())
    });
    c.done();
}

// ---------------------------------------------------------------------
// Item 3: `event` a link to /victim.

fn event_to_victim(h: &Hostile, name: &str) {
    let ev = h.inst(name).join("event");
    user_does("/usr/bin/mv", &[o(&ev), o(&h.inst(name).join(".event-aside"))]);
    user_does("/usr/bin/ln", &[s("-s"), o(&h.victim), o(&ev)]);
}

#[test]
fn item3_a_sync_restart_makes_no_fifo_through_an_event_link() {
    let Some(h) = Hostile::new(&["a", "b"]) else { return };
    let mut c = Checks::default();
    event_to_victim(&h, "b");
    // b gets an environment: it is restarted, and waited for.
    let r = h.root(
        "s6-instance-sync",
        &[s("-t"), s("3000"), s("-f"), s("-"), o(&h.svc)],
        b"a\nb K=1\n",
        3000,
    );
    in_time(&mut c, &r, 3000);
    no_fifo_in(&mut c, &h.victim, "sync");
    h.untouched(&mut c, "sync");
    c.done();
}

#[test]
fn item3_an_upgrade_makes_no_fifo_through_an_event_link() {
    let Some(h) = Hostile::new(&["a", "b"]) else { return };
    let mut c = Checks::default();
    event_to_victim(&h, "a");
    let r = h.root("s6-instance-upgrade", &[s("-t"), s("3000"), o(&h.svc)], b"", 3000);
    in_time(&mut c, &r, 3000);
    no_fifo_in(&mut c, &h.victim, "upgrade");
    h.untouched(&mut c, "upgrade");
    c.done();
}

#[test]
fn item3_a_create_makes_no_fifo_through_an_event_link() {
    let Some(h) = Hostile::new(&["a"]) else { return };
    let mut c = Checks::default();
    // The template is the user's: event/ there is a link to the victim.
    let tev = h.svc.join("template/event");
    user_does("/usr/bin/ln", &[s("-s"), o(&h.victim), o(&tev)]);
    let r = h.root(
        "s6-instance-create",
        &[s("-t"), s("3000"), o(&h.svc), s("y")],
        b"",
        3000,
    );
    in_time(&mut c, &r, 3000);
    no_fifo_in(&mut c, &h.victim, "create from a template with an event link");
    h.untouched(&mut c, "create from a template with an event link");
    user_does("/usr/bin/rm", &[o(&tev)]);
    // Then the user plants the link in each new instance as soon as it
    // appears in instances/ (its copy is the user's once in place),
    // moving away an event/ already made.
    let planter = r#"
        my ($instances, $v) = @ARGV;
        my $n = 0;
        while (1) {
            opendir(my $d, $instances) or next;
            for my $e (readdir $d) {
                next unless $e =~ /^z/;
                my $p = "$instances/$e";
                next if -l "$p/event";
                $n++;
                if (-d "$p/event") { rename("$p/event", "$p/.ev-$n") or next; }
                symlink($v, "$p/event");
            }
            closedir $d;
        }
    "#;
    let racer = Stopped::spawn(
        as_user("/usr/bin/perl")
            .args(["-e", planter])
            .arg(h.svc.join("instances"))
            .arg(&h.victim),
        false,
    );
    for round in 0..3 {
        let name = format!("z{round}");
        let r = h.root(
            "s6-instance-create",
            &[s("-t"), s("3000"), o(&h.svc), s(&name)],
            b"",
            3000,
        );
        in_time(&mut c, &r, 3000);
        no_fifo_in(&mut c, &h.victim, &format!("create {name}"));
    }
    drop(racer);
    h.untouched(&mut c, "the creates");
    c.done();
}

#[test]
fn item3_a_watch_makes_no_fifo_through_an_event_link() {
    let Some(h) = Hostile::new(&["a", "b"]) else { return };
    let mut c = Checks::default();
    // a's is a link before the watch starts; b's flips between its
    // directory and a link while watches start. b's is root's, as root's
    // create makes it today: a watch that takes only root's subscribes.
    event_to_victim(&h, "a");
    std::os::unix::fs::chown(h.inst("b").join("event"), Some(0), Some(0)).unwrap();
    let flipper = r#"
        my ($b, $v) = @ARGV;
        while (1) {
            rename("$b/event", "$b/.ev") or next;
            symlink($v, "$b/event");
            unlink("$b/event");
            rename("$b/.ev", "$b/event");
        }
    "#;
    let racer = Stopped::spawn(
        as_user("/usr/bin/perl")
            .args(["-e", flipper])
            .arg(h.inst("b"))
            .arg(&h.victim),
        false,
    );
    for round in 0..20 {
        let r = h.root("s6-instance-watch", &[s("-t"), s("200"), o(&h.svc)], b"", 200);
        in_time(&mut c, &r, 200);
        no_fifo_in(&mut c, &h.victim, &format!("watch round {round}"));
    }
    drop(racer);
    h.untouched(&mut c, "the watches");
    c.done();
}

// ---------------------------------------------------------------------
// Item 4: planted FIFOs hang root.

fn fifo_at(h: &Hostile, rel: &str) {
    let p = h.svc.join("instances").join(rel);
    let _ = run(as_user("/usr/bin/rm").arg("-f").arg(&p));
    user_does("/usr/bin/mkfifo", &[o(&p)]);
}

/// Root's summary with `args`, where a's status cannot be read: in
/// time, on to b, and a word of a on standard error (`about_a`).
fn summary_goes_past_a(h: &Hostile, c: &mut Checks, args: &[&OsStr], about_a: &str) -> Ran {
    let r = h.root("s6-instance-summary", args, b"", 0);
    in_time(c, &r, 0);
    c.check(r.out().lines().any(|l| l.starts_with("b")), || {
        format!("summary did not go on to b: stdout {:?}; {}", r.out(), r.describe())
    });
    c.check(r.stderr.contains(about_a), || {
        format!("summary said nothing of a ({about_a:?}): {}", r.describe())
    });
    r
}

#[test]
fn item4_a_fifo_as_supervise_lock_hangs_no_status_or_summary() {
    let Some(h) = Hostile::new(&["a", "b"]) else { return };
    let mut c = Checks::default();
    fifo_at(&h, "a/supervise/lock");
    let r = h.root("s6-instance-status", &[o(&h.svc), s("a")], b"", 0);
    in_time(&mut c, &r, 0);
    c.check(
        r.code != 0 && (r.stderr.contains("instances/a") || r.stderr.contains("instance/a")),
        || format!("status of a: not refused naming it: {}", r.describe()),
    );
    summary_goes_past_a(&h, &mut c, &[o(&h.svc)], "/a");
    h.untouched(&mut c, "status and summary");
    c.done();
}

#[test]
fn item4_a_fifo_as_supervise_lock_hangs_no_sync_or_delete() {
    let Some(h) = Hostile::new(&["a", "b"]) else { return };
    let mut c = Checks::default();
    fifo_at(&h, "a/supervise/lock");
    let r = h.root(
        "s6-instance-sync",
        &[s("-t"), s("2000"), o(&h.svc), s("a"), s("b")],
        b"",
        2000,
    );
    in_time(&mut c, &r, 2000);
    let r = h.root(
        "s6-instance-delete",
        &[s("-t"), s("2000"), o(&h.svc), s("a")],
        b"",
        2000,
    );
    in_time(&mut c, &r, 2000);
    h.untouched(&mut c, "sync and delete");
    c.done();
}

#[test]
fn item4_a_fifo_as_template_mark_or_down_hangs_no_upgrade() {
    let Some(h) = Hostile::new(&["a", "b"]) else { return };
    let mut c = Checks::default();
    fifo_at(&h, "a/.s6i-template");
    let r = h.root(
        "s6-instance-upgrade",
        &[s("-t"), s("3000"), o(&h.svc), s("a")],
        b"",
        3000,
    );
    in_time(&mut c, &r, 3000);
    c.check(r.code == 0 || r.stderr.contains(".s6i-template"), || {
        format!("upgrade of a failed without naming .s6i-template: {}", r.describe())
    });
    // Taken away, and b's down a FIFO: an upgrade of b, then of all.
    user_does("/usr/bin/rm", &[s("-f"), o(&h.inst("a").join(".s6i-template"))]);
    fifo_at(&h, "b/down");
    for args in [
        vec![s("-t"), s("3000"), o(&h.svc), s("b")],
        vec![s("-t"), s("3000"), o(&h.svc)],
    ] {
        let r = h.root("s6-instance-upgrade", &args, b"", 3000);
        in_time(&mut c, &r, 3000);
        c.check(r.code == 0 || r.stderr.contains("down"), || {
            format!("upgrade failed without naming b's down: {}", r.describe())
        });
    }
    h.untouched(&mut c, "the upgrades");
    c.done();
}

#[test]
fn a_fifo_as_supervise_control_blocks_no_control_or_restart() {
    let Some(h) = Hostile::new(&["a", "b"]) else { return };
    let mut c = Checks::default();
    fifo_at(&h, "a/supervise/control");
    let r = h.root(
        "s6-instance-control",
        &[s("-r"), s("-wr"), s("-T"), s("2000"), o(&h.svc), s("a")],
        b"",
        2000,
    );
    in_time(&mut c, &r, 2000);
    // The FIFO held open for reading by the user, never read: a command
    // written there is lost, and the wait ends at its deadline.
    let p = h.inst("a").join("supervise/control");
    let holder = Stopped::spawn(
        as_user("/usr/bin/perl")
            .args(["-e", "open(my $f, '+<', $ARGV[0]) or die; sleep 60"])
            .arg(&p),
        false,
    );
    std::thread::sleep(Duration::from_millis(200));
    let r = h.root(
        "s6-instance-control",
        &[s("-r"), s("-wr"), s("-T"), s("2000"), o(&h.svc), s("a")],
        b"",
        2000,
    );
    in_time(&mut c, &r, 2000);
    let r = h.root(
        "s6-instance-sync",
        &[s("-t"), s("2000"), s("-f"), s("-"), o(&h.svc)],
        b"a K=2\nb\n",
        2000,
    );
    in_time(&mut c, &r, 2000);
    drop(holder);
    h.untouched(&mut c, "control and sync");
    c.done();
}

// ---------------------------------------------------------------------
// Item 5: unbounded reads.

#[test]
fn item5_a_2g_sparse_env_file_costs_a_plan_no_memory() {
    let Some(h) = Hostile::new(&["a"]) else { return };
    let mut c = Checks::default();
    let env = h.inst("a").join("env");
    user_does("/usr/bin/mkdir", &[o(&env)]);
    user_does("/usr/bin/truncate", &[s("-s"), s("2G"), o(&env.join("BIG"))]);
    let r = h.root(
        "s6-instance-sync",
        &[s("-n"), s("-f"), s("-"), o(&h.svc)],
        b"a K=1\n",
        0,
    );
    in_time(&mut c, &r, 0);
    c.check(r.stderr.contains("BIG") || r.out().contains("BIG"), || {
        format!(
            "the oversized env/BIG is not reported: stdout {:?}; {}",
            r.out(),
            r.describe()
        )
    });
    h.untouched(&mut c, "sync -n");
    c.done();
}

#[test]
fn item5_a_down_linked_to_dev_zero_costs_no_memory() {
    let Some(h) = Hostile::new(&["a", "b"]) else { return };
    let mut c = Checks::default();
    // On a, the first in name order: an upgrade that fails on the first
    // instance goes no further.
    user_does("/usr/bin/ln", &[s("-s"), s("/dev/zero"), o(&h.inst("a").join("down"))]);
    for (prog, args, input, t) in [
        (
            "s6-instance-upgrade",
            vec![s("-t"), s("3000"), o(&h.svc), s("a")],
            &b""[..],
            3000,
        ),
        (
            "s6-instance-sync",
            vec![s("-n"), s("-f"), s("-"), o(&h.svc)],
            b"a\nb K=1\n",
            0,
        ),
        ("s6-instance-summary", vec![s("-N"), o(&h.svc)], b"", 0),
        ("s6-instance-status", vec![s("-N"), o(&h.svc), s("a")], b"", 0),
    ] {
        let r = h.root(prog, &args, input, t);
        in_time(&mut c, &r, t);
        c.check(r.code < 128, || format!("killed: {}", r.describe()));
    }
    h.untouched(&mut c, "upgrade, sync -n, summary and status");
    c.done();
}

#[test]
fn a_2g_sparse_down_file_costs_an_upgrade_no_memory() {
    let Some(h) = Hostile::new(&["a", "b"]) else { return };
    let mut c = Checks::default();
    user_does("/usr/bin/truncate", &[s("-s"), s("2G"), o(&h.inst("a").join("down"))]);
    let r = h.root(
        "s6-instance-upgrade",
        &[s("-t"), s("3000"), o(&h.svc), s("a")],
        b"",
        3000,
    );
    in_time(&mut c, &r, 3000);
    c.check(r.code < 128, || format!("killed: {}", r.describe()));
    h.untouched(&mut c, "upgrade");
    c.done();
}

// ---------------------------------------------------------------------
// Item 6: the status record read through a link.

fn status_to_secret(h: &Hostile, name: &str) {
    let st = h.inst(name).join("supervise/status");
    user_does("/usr/bin/rm", &[s("-f"), o(&st)]);
    user_does("/usr/bin/ln", &[s("-s"), o(&h.secret), o(&st)]);
}

#[test]
fn item6_a_status_link_shows_root_no_secret_in_status_or_summary() {
    let Some(h) = Hostile::new(&["a", "b"]) else { return };
    let mut c = Checks::default();
    status_to_secret(&h, "a");
    let r = h.root(
        "s6-instance-status",
        &[s("-o"), s("pid,readysince"), o(&h.svc), s("a")],
        b"",
        0,
    );
    in_time(&mut c, &r, 0);
    c.check(!leaks_secret(&r.stdout) && !leaks_secret(r.stderr.as_bytes()), || {
        format!("status printed the secret: stdout {:?}; {}", r.out(), r.describe())
    });
    c.check(r.code != 0 && r.stderr.contains("unable to read status"), || {
        format!("status did not say it cannot read the status: {}", r.describe())
    });
    for args in [vec![s("-o"), s("pid,readysince"), o(&h.svc)], vec![o(&h.svc)]] {
        let r = summary_goes_past_a(&h, &mut c, &args, "unable to read status");
        c.check(!leaks_secret(&r.stdout) && !leaks_secret(r.stderr.as_bytes()), || {
            format!("summary printed the secret: stdout {:?}; {}", r.out(), r.describe())
        });
    }
    h.untouched(&mut c, "status and summary");
    c.done();
}

#[test]
fn item6_a_status_link_shows_root_no_secret_in_watch() {
    let Some(h) = Hostile::new(&["a", "b"]) else { return };
    let mut c = Checks::default();
    status_to_secret(&h, "a");
    let r = h.root("s6-instance-watch", &[s("-t"), s("1000"), o(&h.svc)], b"", 1000);
    in_time(&mut c, &r, 1000);
    c.check(!leaks_secret(&r.stdout) && !leaks_secret(r.stderr.as_bytes()), || {
        format!("watch printed the secret: stdout {:?}; {}", r.out(), r.describe())
    });
    c.check(r.out().lines().any(|l| l.starts_with("b up ")), || {
        format!("watch did not go on to b: stdout {:?}; {}", r.out(), r.describe())
    });
    h.untouched(&mut c, "watch");
    c.done();
}

// ---------------------------------------------------------------------
// Item 7: a lock on the template stalls root's create.

#[test]
fn item7_a_users_lock_on_the_template_stalls_no_create() {
    let Some(h) = Hostile::new(&["a"]) else { return };
    let mut c = Checks::default();
    let template = h.svc.join("template");
    // As nobody: the template is world-readable. flock forks its sleep:
    // both are in a group of their own, killed together at the end.
    let locker = Stopped::spawn(
        as_who("nobody", "/usr/bin/flock")
            .arg("-x")
            .arg(&template)
            .args(["sleep", "15"]),
        true,
    );
    let held = wait_until(Duration::from_secs(5), || {
        let f = std::fs::File::open(&template).unwrap();
        // SAFETY: flock on a descriptor we own.
        let r = unsafe {
            use std::os::fd::AsRawFd;
            libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB)
        };
        r != 0
    });
    assert!(held, "nobody's flock never held the template");
    let r = h.root(
        "s6-instance-create",
        &[s("-t"), s("2000"), o(&h.svc), s("x")],
        b"",
        2000,
    );
    in_time(&mut c, &r, 2000);
    c.check(r.code == 0 || (r.code == 99 && r.stderr.contains("template")), || {
        format!(
            "create: neither made nor timed out naming the template: {}",
            r.describe()
        )
    });
    drop(locker);
    h.untouched(&mut c, "create");
    c.done();
}

// ---------------------------------------------------------------------
// Item 8: root's watch on a -u service.

/// A running command whose stdout lines arrive on a channel; stopped by
/// its pid when dropped.
struct Streaming {
    proc: Stopped,
    lines: mpsc::Receiver<String>,
    err: std::thread::JoinHandle<String>,
}

fn streaming(cmd: &mut Command) -> Streaming {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(so).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let err = std::thread::spawn(move || {
        let mut v = String::new();
        let _ = se.read_to_string(&mut v);
        v
    });
    Streaming {
        proc: Stopped { child, group: false },
        lines,
        err,
    }
}

impl Streaming {
    /// Lines until one satisfies `pred` or `limit` passes.
    fn until(&self, limit: Duration, seen: &mut Vec<String>, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    seen.push(l.clone());
                    if pred(&l) {
                        return Some(l);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    fn stop(self) -> String {
        drop(self.proc);
        self.err.join().unwrap_or_default()
    }
}

#[test]
fn item8_root_watch_sees_the_changes_of_a_user_service() {
    let Some(h) = Hostile::new(&["a"]) else { return };
    let mut c = Checks::default();
    let pid1 = status(&h.inst("a")).0;
    let w = streaming(ours("s6-instance-watch").args(["-t", "20000"]).arg(&h.svc));
    let mut seen = Vec::new();
    let first = w.until(Duration::from_secs(5), &mut seen, |l| l == format!("a up {pid1}"));
    c.check(first.is_some(), || {
        format!("no snapshot line \"a up {pid1}\": {seen:?}")
    });
    // The user's service restarts: the watch must say so.
    let out = run(reference("s6-svc").arg("-r").arg(h.svc.join("instance/a")));
    assert_eq!(code(&out), 0, "s6-svc -r: {}", stderr(&out));
    let next = w.until(Duration::from_secs(5), &mut seen, |l| {
        l.starts_with("a up ") && l != format!("a up {pid1}")
    });
    let err = w.stop();
    c.check(next.is_some(), || {
        format!("no change line \"a up NEWPID\": lines {seen:?}; stderr: {err}")
    });
    c.check(!err.contains("Permission denied"), || format!("watch: {err}"));
    // The same, waiting: -u on a user service whose instance is up.
    let r = h.root(
        "s6-instance-watch",
        &[s("-u"), s("-t"), s("3000"), o(&h.svc)],
        b"",
        3000,
    );
    in_time(&mut c, &r, 3000);
    c.check(r.code == 0, || format!("watch -u: {}", r.describe()));
    h.untouched(&mut c, "watch");
    c.done();
}

// ---------------------------------------------------------------------
// Item 9: recursion.

/// Removes deep trees that a failed command may leave (tempfile's
/// removal holds a descriptor per level), with rm, which walks any
/// depth; run before the tree is dropped. `paths` go whole; in each of
/// `hidden_in`, the entries named `.s6i-*`.
struct Sweep {
    paths: Vec<PathBuf>,
    hidden_in: Vec<PathBuf>,
}

impl Drop for Sweep {
    fn drop(&mut self) {
        let mut all = self.paths.clone();
        for dir in &self.hidden_in {
            for e in entries(dir) {
                if e.starts_with(b".s6i-") {
                    all.push(dir.join(os(&e)));
                }
            }
        }
        for p in all {
            let _ = run_for(
                Command::new("/usr/bin/rm")
                    .args(["-rf", "--one-file-system", "--"])
                    .arg(p),
                Duration::from_secs(120),
            );
        }
    }
}

fn hidden_named(dir: &Path, prefix: &[u8]) -> Vec<String> {
    entries(dir)
        .into_iter()
        .filter(|e| e.starts_with(prefix))
        .map(|e| String::from_utf8_lossy(&e).into_owned())
        .collect()
}

#[test]
fn item9_the_service_as_its_own_template_is_refused() {
    let Some(h) = Hostile::new(&[]) else { return };
    let _sweep = Sweep {
        paths: vec![],
        hidden_in: vec![h.svc.clone(), h.svc.join("instances"), h.svc.join("template")],
    };
    let mut c = Checks::default();
    let before = entries(&h.svc);
    let r = measured(
        ours("s6-instance-template").arg(&h.svc).arg(&h.svc),
        b"",
        Duration::from_secs(60),
    );
    c.check(r.code == 100, || format!("not refused with 100: {}", r.describe()));
    for d in [h.svc.clone(), h.svc.join("instances"), h.svc.join("template")] {
        let left = hidden_named(&d, b".s6i-");
        c.check(left.is_empty(), || format!("left in {d:?}: {left:?}"));
    }
    let now = entries(&h.svc);
    c.check(now == before, || {
        let new: Vec<String> = now
            .iter()
            .filter(|e| !before.contains(e))
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect();
        format!("new in {:?}: {new:?}", h.svc)
    });
    h.untouched(&mut c, "template");
    c.done();
}

#[test]
fn item9_a_maker_into_its_own_template_is_refused_and_leaves_nothing() {
    let Some(h) = Hostile::new(&[]) else { return };
    let mut h = h;
    let tpl = h.t.path().join("tpl2");
    sleeper_template(&tpl);
    h.outside = h.outside_now();
    let _sweep = Sweep {
        paths: vec![tpl.join("svc")],
        hidden_in: vec![tpl.clone()],
    };
    let mut c = Checks::default();
    let before = snapshot(&tpl);
    let r = measured(
        ours("s6-instance-maker").arg(&tpl).arg(tpl.join("svc")),
        b"",
        Duration::from_secs(60),
    );
    c.check(r.code == 100, || format!("not refused with 100: {}", r.describe()));
    let now = snapshot(&tpl);
    c.check(now == before, || {
        format!(
            "the template changed: new {:?}",
            now.iter().filter(|l| !before.contains(l)).take(5).collect::<Vec<_>>()
        )
    });
    h.untouched(&mut c, "maker");
    c.done();
}

/// Make `depth` nested directories `d` in `dir`, one descriptor at a
/// time (the path is longer than PATH_MAX).
fn deep_dirs(dir: &Path, depth: usize) {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let name = c"d";
    let mut fd: OwnedFd = std::fs::File::open(dir).unwrap().into();
    for _ in 0..depth {
        // SAFETY: *at calls on a descriptor we own; the new one is owned.
        unsafe {
            assert_eq!(libc::mkdirat(fd.as_raw_fd(), name.as_ptr(), 0o755), 0, "mkdirat");
            let n = libc::openat(
                fd.as_raw_fd(),
                name.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            );
            assert!(n >= 0, "openat");
            fd = OwnedFd::from_raw_fd(n);
        }
    }
}

/// How many nested `d` there are in `dir`.
fn depth_of(dir: &Path) -> usize {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let name = c"d";
    let Ok(f) = std::fs::File::open(dir) else { return 0 };
    let mut fd: OwnedFd = f.into();
    let mut n = 0;
    loop {
        // SAFETY: as in deep_dirs.
        let next = unsafe {
            libc::openat(
                fd.as_raw_fd(),
                name.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if next < 0 {
            return n;
        }
        // SAFETY: a descriptor just opened.
        fd = unsafe { OwnedFd::from_raw_fd(next) };
        n += 1;
    }
}

#[test]
fn item9_a_template_5000_directories_deep_is_copied_by_the_maker() {
    let Some(h) = Hostile::new(&[]) else { return };
    let tpl = h.t.path().join("deep");
    sleeper_template(&tpl);
    deep_dirs(&tpl, 5000);
    // The source (its copy is counted, level by level, below).
    assert_eq!(depth_of(&tpl), 5000);
    let out_dir = h.t.path().join("svc-deep");
    let _sweep = Sweep {
        paths: vec![tpl.clone(), out_dir.clone()],
        hidden_in: vec![h.t.path().to_path_buf()],
    };
    let mut c = Checks::default();
    let r = measured(
        ours("s6-instance-maker").arg(&tpl).arg(&out_dir),
        b"",
        Duration::from_secs(120),
    );
    c.check(r.code == 0, || format!("maker: {}", r.describe()));
    let d = depth_of(&out_dir.join("template"));
    c.check(d == 5000, || format!("the copy is {d} levels deep, not 5000"));
    c.done();
}

// ---------------------------------------------------------------------
// More of the same kind.

#[test]
fn a_foreign_instance_link_makes_root_delete_nothing_through_it() {
    let Some(h) = Hostile::new(&["a", "b"]) else { return };
    let mut c = Checks::default();
    // instance/a leads to the victim, not to ../instances/a.
    let link = h.svc.join("instance/a");
    user_does("/usr/bin/ln", &[s("-sfn"), o(&h.victim), o(&link)]);
    let r = h.root(
        "s6-instance-delete",
        &[s("-t"), s("2000"), o(&h.svc), s("a")],
        b"",
        2000,
    );
    in_time(&mut c, &r, 2000);
    h.untouched(&mut c, "delete of a");
    // Made again, then a sync to the empty set deletes every instance.
    user_does("/usr/bin/ln", &[s("-sfn"), o(&h.victim), o(&link)]);
    let r = h.root(
        "s6-instance-sync",
        &[s("-e"), s("-t"), s("2000"), o(&h.svc), s("-")],
        b"",
        2000,
    );
    in_time(&mut c, &r, 2000);
    h.untouched(&mut c, "sync to the empty set");
    let r = h.root("s6-instance-summary", &[o(&h.svc)], b"", 0);
    in_time(&mut c, &r, 0);
    h.untouched(&mut c, "summary");
    c.done();
}

/// A unix socket at `p`, made by the user (it stays once its process
/// exits).
fn socket_at(p: &Path) {
    let _ = run(as_user("/usr/bin/rm").arg("-f").arg(p));
    user_does(
        "/usr/bin/perl",
        &[
            s("-MIO::Socket::UNIX"),
            s("-e"),
            s("IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $ARGV[0], Listen => 1) or die $!"),
            o(p),
        ],
    );
}

#[test]
fn sockets_where_files_should_be_are_refused_without_a_hang() {
    let Some(h) = Hostile::new(&["a", "b"]) else { return };
    let mut c = Checks::default();
    socket_at(&h.inst("a").join("supervise/status"));
    socket_at(&h.inst("b").join("down"));
    let r = h.root("s6-instance-status", &[o(&h.svc), s("a")], b"", 0);
    in_time(&mut c, &r, 0);
    c.check(r.code != 0 && r.stderr.contains("unable to read status"), || {
        format!("status of a: {}", r.describe())
    });
    summary_goes_past_a(&h, &mut c, &[o(&h.svc)], "/a");
    let r = h.root(
        "s6-instance-upgrade",
        &[s("-t"), s("3000"), o(&h.svc), s("b")],
        b"",
        3000,
    );
    in_time(&mut c, &r, 3000);
    c.check(r.code == 0 || r.stderr.contains("down"), || {
        format!("upgrade of b failed without naming its down: {}", r.describe())
    });
    h.untouched(&mut c, "status, summary and upgrade");
    c.done();
}

#[test]
fn a_status_link_to_a_fifo_outside_hangs_no_reader() {
    let Some(h) = Hostile::new(&["a", "b"]) else { return };
    let mut c = Checks::default();
    // A FIFO outside the service, root's, that nobody writes to.
    let fifo = h.t.path().join("victim-fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let mut h = h;
    h.outside = h.outside_now();
    let st = h.inst("a").join("supervise/status");
    user_does("/usr/bin/rm", &[s("-f"), o(&st)]);
    user_does("/usr/bin/ln", &[s("-s"), o(&fifo), o(&st)]);
    for (prog, args) in [
        ("s6-instance-status", vec![o(&h.svc), s("a")]),
        ("s6-instance-summary", vec![o(&h.svc)]),
        ("s6-instance-list", vec![o(&h.svc)]),
    ] {
        let r = h.root(prog, &args, b"", 0);
        in_time(&mut c, &r, 0);
    }
    let r = h.root("s6-instance-watch", &[s("-t"), s("1000"), o(&h.svc)], b"", 1000);
    in_time(&mut c, &r, 1000);
    h.untouched(&mut c, "status, summary, list and watch");
    c.done();
}
