//! Test harness: a private s6 tree per test, started and stopped by pid.
//!
//! Each `Tree` makes a temporary directory with a scan directory, starts
//! a real `s6-svscan` on it, and makes instanced services there with s6's
//! own C `s6-instance-maker`. Dropping the tree stops the scanner by its
//! pid, waits (with a deadline) for every process that lives in the tree
//! to go, kills any that remain, and removes the directory.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub const EXECLINEB: &str = "/usr/lib/execline/bin/execlineb";

/// Where `make check` installed our commands.
pub fn bindir() -> PathBuf {
    PathBuf::from(std::env::var_os("S6I_BINDIR").expect("S6I_BINDIR is not set: run the tests with `make check`"))
}

/// One of our installed commands, by absolute path, with a PATH that
/// does not hold our bin directory.
pub fn ours(prog: &str) -> Command {
    let mut c = program(bindir().join(prog));
    c.env_clear().env("PATH", "/usr/bin:/bin");
    c
}

/// A command that starts with every signal at its default disposition
/// and none blocked, whatever the test runner was given: `cargo test`
/// started in the background by a non-interactive shell has SIGINT and
/// SIGQUIT ignored, and hands that on to all it runs.
pub fn program(path: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new(path);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        c.pre_exec(|| {
            for sig in 1..libc::SIGRTMIN() {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::signal(sig, libc::SIG_DFL);
                }
            }
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            Ok(())
        });
    }
    c
}

/// The reference: s6's C program of that name. With our Debian package
/// installed, /usr/bin's s6-instance-* are ours, and s6's own are where
/// the package diverted them (dpkg keeps the list in its diversions
/// file: the path, where it went, and by whom, a line each).
pub fn reference(prog: &str) -> Command {
    let path = Path::new("/usr/bin").join(prog);
    let diversions = std::fs::read_to_string("/var/lib/dpkg/diversions").unwrap_or_default();
    let lines: Vec<&str> = diversions.lines().collect();
    let diverted = lines
        .chunks(3)
        .find(|d| d.len() == 3 && Path::new(d[0]) == path)
        .map(|d| PathBuf::from(d[1]));
    let mut c = program(diverted.unwrap_or(path));
    c.env_clear().env("PATH", "/usr/bin:/bin");
    c
}

/// An example script of this tree, run with our steps in PATH.
pub fn example(name: &str) -> Command {
    let mut c = program(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples").join(name));
    c.env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bindir().display()));
    c
}

/// Run with a deadline; a hang fails the test instead of stalling CI.
pub fn run(cmd: &mut Command) -> Output {
    run_for(cmd, Duration::from_secs(20))
}

pub fn run_for(cmd: &mut Command, limit: Duration) -> Output {
    run_fed(cmd, &[], limit)
}

/// Run with `input` on standard input (none: /dev/null), with a deadline.
pub fn run_with_input(cmd: &mut Command, input: &[u8]) -> Output {
    run_fed(cmd, input, Duration::from_secs(20))
}

fn run_fed(cmd: &mut Command, input: &[u8], limit: Duration) -> Output {
    let mut child = cmd
        .stdin(if input.is_empty() {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Written, then closed, before the output is read: small inputs fit
    // the pipe. A reader gone early is the command's business.
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(input);
    }
    // A watchdog kills the command, by its pid, if it outlives the limit.
    let pid = Pid::from_raw(child.id() as i32);
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let late = finished.recv_timeout(limit).is_err();
        if late {
            let _ = kill(pid, Signal::SIGKILL);
        }
        late
    });
    let out = child.wait_with_output().expect("output");
    let _ = done.send(());
    if watchdog.join().unwrap_or(true) {
        panic!(
            "{cmd:?} did not finish in {limit:?}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

pub fn code(out: &Output) -> i32 {
    out.status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {:?}", out.status))
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Poll `cond` until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether a lock file is held (the way s6 asks).
pub fn locked(lockfile: &Path) -> bool {
    s6i::lock::held(&s6i::door::Loc::of(lockfile)).unwrap_or(false)
}

pub fn supervised(dir: &Path) -> bool {
    locked(&dir.join("supervise/lock"))
}

/// The supervise/status record: (pid, flags). It is 35 bytes, or 43 with
/// a process group (s6 2.13 and 2.14).
pub fn status(dir: &Path) -> (u64, u8) {
    let b = std::fs::read(dir.join("supervise/status")).expect("read status");
    assert!(
        b.len() == 35 || b.len() == 43,
        "status record of {dir:?}: {} bytes",
        b.len()
    );
    (u64::from_be_bytes(b[24..32].try_into().unwrap()), b[b.len() - 1])
}

/// The s6 release the commands were built for (`make check` builds them
/// for the s6 installed, or laid over /usr by `make check-s6-versions`).
pub fn release() -> s6i::release::Release {
    s6i::release::BUILT_FOR
}

/// Pids of the processes whose working directory satisfies `pred` (the
/// kernel shows a removed one with a " (deleted)" suffix, taken off here).
fn pids_where(pred: impl Fn(&Path) -> bool) -> Vec<i32> {
    let mut pids = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(cwd) = std::fs::read_link(p.path().join("cwd")) {
            let b = cwd.as_os_str().as_bytes();
            let b = b.strip_suffix(b" (deleted)").unwrap_or(b);
            if pred(Path::new(OsStr::from_bytes(b))) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// Pids of the processes whose working directory is `dir`.
pub fn pids_in(dir: &Path) -> Vec<i32> {
    pids_where(|cwd| cwd == dir)
}

/// Pids of the processes whose working directory is `dir` or below.
pub fn pids_under(dir: &Path) -> Vec<i32> {
    pids_where(|cwd| cwd.starts_with(dir))
}

/// The command name of a process.
pub fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The s6-supervise running in `dir`, if any.
pub fn supervisor_pid(dir: &Path) -> Option<i32> {
    pids_in(dir).into_iter().find(|&p| comm(p) == "s6-supervise")
}

pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// Entries of a directory, sorted, as bytes.
pub fn entries(dir: &Path) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.flatten().map(|e| e.file_name().as_bytes().to_vec()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// A template: a run script that sleeps, optionally more files.
/// The hidden entries of `dir` (names beginning with a dot): what a
/// command left there under a work-in-progress name.
pub fn hidden_entries(dir: &Path) -> Vec<Vec<u8>> {
    entries(dir).into_iter().filter(|e| e.starts_with(b".")).collect()
}

pub fn write_script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!{EXECLINEB} -S1\n{body}\n")).unwrap();
    let mut perm = std::fs::metadata(path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(path, perm).unwrap();
}

pub fn sleeper_template(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    write_script(&dir.join("run"), "/usr/bin/sleep 3600");
}

pub struct Tree {
    pub dir: tempfile::TempDir,
    scanner: Option<Child>,
}

impl Tree {
    /// A tree with a running s6-svscan and nothing in it.
    pub fn new() -> Tree {
        Tree::new_in(&std::env::temp_dir())
    }

    /// The same, in a temporary directory made in `parent`.
    pub fn new_in(parent: &Path) -> Tree {
        let dir = tempfile::Builder::new()
            .prefix("s6i-test.")
            .tempdir_in(parent)
            .expect("tempdir");
        let scan = dir.path().join("scan");
        std::fs::create_dir(&scan).unwrap();
        let mut cmd = program("/usr/bin/s6-svscan");
        cmd.arg(&scan)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Our own process group, so that a test's signals stay in the tree.
        cmd.process_group(0);
        let scanner = cmd.spawn().expect("start s6-svscan");
        let t = Tree {
            dir,
            scanner: Some(scanner),
        };
        assert!(
            wait_until(Duration::from_secs(10), || locked(&scan.join(".s6-svscan/lock"))),
            "s6-svscan did not start"
        );
        t
    }

    /// A tree with one live instanced service `svc` made from `template`
    /// (by default, a run script that sleeps).
    pub fn with_service() -> (Tree, PathBuf) {
        let t = Tree::new();
        let svc = t.service("svc", sleeper_template);
        (t, svc)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Make an instanced service NAME (s6's maker), link it into the scan
    /// directory and wait until its nested scanner runs.
    pub fn service(&self, name: &str, template: impl FnOnce(&Path)) -> PathBuf {
        let svc = self.offline_service(name, template);
        self.start(name, &svc);
        svc
    }

    /// Make an instanced service but do not supervise it.
    pub fn offline_service(&self, name: &str, template: impl FnOnce(&Path)) -> PathBuf {
        self.offline_service_with(name, template, &[])
    }

    /// The same, with options for s6-instance-maker (such as `-c max`).
    pub fn offline_service_with(&self, name: &str, template: impl FnOnce(&Path), opts: &[&str]) -> PathBuf {
        let tpl = self.path().join(format!("{name}.template"));
        template(&tpl);
        let svc = self.path().join(name);
        let out = run(reference("s6-instance-maker").args(opts).arg(&tpl).arg(&svc));
        assert_eq!(code(&out), 0, "s6-instance-maker: {}", stderr(&out));
        svc
    }

    pub fn start(&self, name: &str, svc: &Path) {
        std::os::unix::fs::symlink(svc, self.path().join("scan").join(name)).unwrap();
        // A scanner just started holds its lock a moment before it
        // listens: s6-svscanctl then says nobody listens (100).
        let scan = self.path().join("scan");
        assert!(
            wait_until(Duration::from_secs(10), || code(&run(reference("s6-svscanctl")
                .arg("-a")
                .arg(&scan)))
                == 0),
            "s6-svscan never listened on {scan:?}"
        );
        assert!(
            wait_until(Duration::from_secs(10), || locked(
                &svc.join("instance/.s6-svscan/lock")
            )),
            "nested s6-svscan did not start on {svc:?}"
        );
        // Ready too (listening on its control FIFO, as s6-svscan -d
        // tells), so that every test starts from a settled tree.
        let out = run(reference("s6-svwait").args(["-U", "-t", "10000"]).arg(svc));
        assert_eq!(code(&out), 0, "nested s6-svscan not ready on {svc:?}: {}", stderr(&out));
    }

    /// The pid of the nested s6-svscan of `svc` (the run of its supervisor).
    pub fn nested_scanner(&self, svc: &Path) -> i32 {
        status(svc).0 as i32
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let dir = self.path().to_path_buf();
        stop_scanner(self.scanner.take(), &dir);
    }
}

/// Stop `scanner` by its pid (SIGTERM, then SIGKILL after 10 s), then
/// every process still working below `dir`: the supervisors and
/// services of the tree end on their own once the scanner is gone; any
/// that do not are killed, by pid.
pub fn stop_scanner(scanner: Option<Child>, dir: &Path) {
    if let Some(mut scanner) = scanner {
        let pid = Pid::from_raw(scanner.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let ended = wait_until(Duration::from_secs(10), || scanner.try_wait().ok().flatten().is_some());
        if !ended {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = scanner.wait();
        }
    }
    if !wait_until(Duration::from_secs(10), || pids_under(dir).is_empty()) {
        for pid in pids_under(dir) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        wait_until(Duration::from_secs(5), || pids_under(dir).is_empty());
    }
}

/// The system user the tests drop to (made if need be), or None, with
/// the reason printed, when the tests do not run as root and cannot make
/// one.
pub fn test_user() -> Option<&'static str> {
    const USER: &str = "s6itest";
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: the test needs root to add a user and drop to it");
        return None;
    }
    let known = Command::new("/usr/bin/id")
        .arg(USER)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !known {
        let out = run(Command::new("/usr/sbin/useradd").args(["--system", "--no-create-home", USER]));
        assert!(
            out.status.success() || stderr(&out).contains("already exists"),
            "useradd: {}",
            stderr(&out)
        );
    }
    Some(USER)
}

/// Start `cmd` (its output discarded), SIGKILL it after `delay`, reap it.
pub fn kill_after(cmd: &mut Command, delay: Duration) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
    let _ = child.wait();
}

/// Our `s6-instance-sync -t 60000 SVC NAMES...`, started in the
/// background, its standard error kept.
pub fn sync_in_background(svc: &Path, names: &[String]) -> Child {
    ours("s6-instance-sync")
        .args(["-t", "60000"])
        .arg(svc)
        .args(names)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// The exit status of `child` if it ends within `limit`; else it is
/// killed, by its pid, and reaped.
pub fn ended_within(mut child: Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let ended = wait_until(limit, || child.try_wait().ok().flatten().is_some());
    if !ended {
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
    }
    let st = child.wait().unwrap();
    ended.then_some(st)
}

/// Bytes of a path, to build names that are not UTF-8.
pub fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

/// How deep the deep templates of the tests go: far past what holding a
/// descriptor per level (1024 by default) or recursing would survive.
pub const DEEP: usize = 5000;

/// Make `levels` directories `d`, one inside the other, below `top` (a
/// directory), with a file `f` in each and `deepest` (holding "bottom")
/// in the last. Made by descriptor: such a path is longer than PATH_MAX.
/// The umask is left alone (the door's makers clear it for a moment,
/// which, in a test process, would reach the programs other tests spawn
/// meanwhile): the modes are the umask's.
pub fn deep_tree(top: &Path, levels: usize) {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::{mkdirat, Mode};
    let write = |dir: &std::os::fd::OwnedFd, name: &str, data: &[u8]| {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC;
        let fd = openat(dir, name, flags, Mode::from_bits_retain(0o644)).unwrap();
        assert_eq!(nix::unistd::write(&fd, data).unwrap(), data.len());
    };
    let dflags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut dir = nix::fcntl::open(top, dflags, Mode::empty()).unwrap();
    for _ in 0..levels {
        mkdirat(&dir, "d", Mode::from_bits_retain(0o755)).unwrap();
        let sub = openat(&dir, "d", dflags, Mode::empty()).unwrap();
        write(&sub, "f", b"x");
        dir = sub;
    }
    write(&dir, "deepest", b"bottom");
}

/// What the file `deepest` at the bottom of a `deep_tree` below `top`
/// holds, reached by descriptor.
pub fn deepest(top: &Path, levels: usize) -> Option<Vec<u8>> {
    use s6i::door::Loc;
    let mut at = Loc::at(top);
    for _ in 0..levels {
        let fd = at.join("d").open_dir().ok()?;
        at = Loc::on(fd, at.path());
    }
    at.join("deepest").read(64).ok()
}

/// Remove a tree of any depth, by descriptor (a TempDir's removal need
/// not manage one).
pub fn remove_deep(path: &Path) {
    use s6i::door::Loc;
    let parent = path.parent().unwrap();
    Loc::at(parent).join(path.file_name().unwrap()).remove_tree().unwrap();
    assert!(std::fs::symlink_metadata(path).is_err());
}

/// Have `cmd` run with at most `n` descriptors (soft and hard limits),
/// as on a system with the default limit of 1024.
pub fn fd_limit(cmd: &mut Command, n: u64) -> &mut Command {
    // SAFETY: setrlimit is async-signal-safe and touches nothing else.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: n as libc::rlim_t,
                rlim_max: n as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// The intent log of a command that lives: `SV/instances/.s6i-work/
/// log:TOKEN`, made and locked by this test process for as long as
/// this lives. Marks and hidden names with its token are a live
/// command's.
pub struct LiveLog {
    pub token: String,
    _fd: std::os::fd::OwnedFd,
    path: PathBuf,
}

impl LiveLog {
    pub fn new(svc: &Path, random: &str) -> LiveLog {
        use std::os::unix::fs::DirBuilderExt;
        let work = svc.join("instances/.s6i-work");
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&work);
        let token = format!("{}.{random}", std::process::id());
        let path = work.join(format!("log:{token}"));
        let f = std::fs::File::create(&path).unwrap();
        let fd = std::os::fd::OwnedFd::from(f);
        // SAFETY: fd is open.
        assert_eq!(
            unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&fd), libc::LOCK_EX) },
            0
        );
        LiveLog { token, _fd: fd, path }
    }
}

impl Drop for LiveLog {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A dead command's intent log, as a killed one leaves it: its records
/// (`+KIND\0NAME\0EXTRA\0` each), nobody holding its lock. Returns its
/// token.
pub fn dead_log(svc: &Path, pid: u32, random: &str, records: &[(&str, &[u8], &[u8])]) -> String {
    use std::os::unix::fs::DirBuilderExt;
    let work = svc.join("instances/.s6i-work");
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&work);
    let token = format!("{pid}.{random}");
    let mut log = Vec::new();
    for (kind, name, extra) in records {
        log.push(b'+');
        log.extend_from_slice(kind.as_bytes());
        log.push(0);
        log.extend_from_slice(name);
        log.push(0);
        log.extend_from_slice(extra);
        log.push(0);
    }
    std::fs::write(work.join(format!("log:{token}")), log).unwrap();
    token
}
