//! s6-instance-control and s6-instance-status against a real s6 tree,
//! beside s6's C programs and s6-svstat.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

const EL: &str = "/usr/lib/execline/bin";

/// A template whose run script records, in `./signals`, the number of
/// every signal it gets; SIGTERM also ends the service.
fn recording_template(tpl: &Path) {
    std::fs::create_dir_all(tpl).unwrap();
    write_script(
        &tpl.join("run"),
        &format!(
            "{EL}/trap
{{
  SIGTERM {{ {EL}/foreground {{ {EL}/importas -iu s SIGNAL {EL}/redirfd -a 1 signals {EL}/fdmove -c 2 1 /usr/bin/echo $s }} {EL}/importas -iu p ! /usr/bin/kill $p }}
  default {{ {EL}/importas -iu s SIGNAL {EL}/redirfd -a 1 signals /usr/bin/echo $s }}
}}
/usr/bin/sleep 3600"
        ),
    );
}

/// A template that notifies readiness on fd 3.
fn notifying_template(tpl: &Path) {
    std::fs::create_dir_all(tpl).unwrap();
    std::fs::write(tpl.join("notification-fd"), "3\n").unwrap();
    write_script(
        &tpl.join("run"),
        &format!("{EL}/if {{ {EL}/fdmove 1 3 /usr/bin/echo }} {EL}/fdclose 3 /usr/bin/sleep 3600"),
    );
}

/// A template that exits with code 3 at once.
fn failing_template(tpl: &Path) {
    std::fs::create_dir_all(tpl).unwrap();
    write_script(&tpl.join("run"), &format!("{EL}/exit 3"));
}

/// Create, and wait for the service to be up unless ARGS ask for it down.
fn create(svc: &Path, args: &[&str]) {
    create_only(svc, args);
    // Create returns once the supervisor runs, as s6's does; the service
    // itself comes up a moment later. Status comparisons need it settled.
    if !args.iter().any(|a| a.starts_with("-d") || a.starts_with("-D")) {
        let dir = svc.join("instances").join(args[args.len() - 1]);
        assert!(
            wait_until(Duration::from_secs(5), || s6i::svstatus::Status::read(
                &s6i::door::Loc::at(&dir)
            )
            .is_ok_and(|st| st.is_up())),
            "instance {} never came up",
            args[args.len() - 1]
        );
    }
}

fn create_only(svc: &Path, args: &[&str]) {
    let out = run(ours("s6-instance-create")
        .args(args.iter().take(args.len() - 1))
        .arg(svc)
        .arg(args[args.len() - 1]));
    assert_eq!(code(&out), 0, "create {args:?}: {}", stderr(&out));
}

fn control(svc: &Path, args: &[&str], name: &str) -> std::process::Output {
    run(ours("s6-instance-control").args(args).arg(svc).arg(name))
}

fn c_control(svc: &Path, args: &[&str], name: &str) -> std::process::Output {
    run(reference("s6-instance-control").args(args).arg(svc).arg(name))
}

/// Our status output, and s6-svstat's on the same instance, with the
/// seconds counts (which tick between the two calls) normalised.
fn statuses(svc: &Path, args: &[&str], name: &str) -> (i32, String, i32, String) {
    let out = run(ours("s6-instance-status").args(args).arg(svc).arg(name));
    let cout = run(reference("s6-svstat").args(args).arg(svc.join("instance").join(name)));
    (code(&out), normalise(&out.stdout), code(&cout), normalise(&cout.stdout))
}

fn normalise(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let mut out = String::new();
    let mut words = s.split(' ').peekable();
    while let Some(w) = words.next() {
        let seconds = words.peek().is_some_and(|n| n.starts_with("seconds"));
        out.push_str(if seconds && w.chars().all(|c| c.is_ascii_digit()) {
            "N"
        } else {
            w
        });
        out.push(' ');
    }
    out
}

fn same_status(svc: &Path, args: &[&str], name: &str) -> String {
    // An instance whose run exits is restarted every second: its record
    // may change between the two reads. A few tries, then the verdict.
    let mut tries = 3;
    loop {
        let (c, o, cc, co) = statuses(svc, args, name);
        tries -= 1;
        if (c, &o) == (cc, &co) || tries == 0 {
            assert_eq!((c, &o), (cc, &co), "status {args:?} of {name}");
            return o;
        }
    }
}

fn signals(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("signals")).unwrap_or_default()
}

fn state(svc: &Path, name: &str) -> (bool, bool) {
    let st = s6i::svstatus::Status::read(&s6i::door::Loc::at(&svc.join("instances").join(name))).unwrap();
    (st.is_up(), st.wantup)
}

#[test]
fn up_down_once_and_exit() {
    let (_t, svc) = Tree::with_service();
    create(&svc, &["a"]);
    let out = control(&svc, &["-d", "-wd"], "a");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(state(&svc, "a"), (false, false));
    assert!(same_status(&svc, &[], "a").starts_with("down (signal SIGTERM) N seconds, normally up"));
    assert_eq!(code(&control(&svc, &["-u", "-wu"], "a")), 0);
    assert_eq!(state(&svc, "a"), (true, true));
    // Once: up now, not restarted when it dies.
    assert_eq!(code(&control(&svc, &["-o"], "a")), 0);
    // Without a wait, the command may not be taken yet: wait until it is
    // before the two readers compare.
    assert!(wait_until(Duration::from_secs(5), || !state(&svc, "a").1));
    same_status(&svc, &[], "a");
    assert_eq!(code(&control(&svc, &["-k", "-wd"], "a")), 0);
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(state(&svc, "a"), (false, false));
    same_status(&svc, &[], "a");
    // Exit: the supervisor goes once the service is down.
    let dir = svc.join("instances/a");
    let sup = supervisor_pid(&dir).unwrap();
    assert_eq!(code(&control(&svc, &["-x"], "a")), 0);
    assert!(wait_until(Duration::from_secs(5), || !alive(sup)));
    // What a supervisor that does not listen gets is in
    // a_supervisor_that_does_not_listen_as_the_installed_s6_svc_says: from
    // s6 2.13, the scanner starts a new supervisor here at once.
}

#[test]
fn signals_reach_the_service_in_order() {
    let t = Tree::new();
    let svc = t.service("svc", recording_template);
    create(&svc, &["a"]);
    let dir = svc.join("instances/a");
    // Let the trap program set its handlers.
    std::thread::sleep(Duration::from_millis(300));
    for (letter, sig) in [
        ("a", libc::SIGALRM),
        ("b", libc::SIGABRT),
        ("q", libc::SIGQUIT),
        ("h", libc::SIGHUP),
        ("i", libc::SIGINT),
        ("1", libc::SIGUSR1),
        ("2", libc::SIGUSR2),
        ("y", libc::SIGWINCH),
    ] {
        let before = signals(&dir);
        let out = control(&svc, &[&format!("-{letter}")], "a");
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let want = format!("{before}{sig}\n");
        assert!(
            wait_until(Duration::from_secs(5), || signals(&dir) == want),
            "-{letter}: {:?}",
            signals(&dir)
        );
    }
    // Several in one call (trap records them from concurrent handlers, so
    // their order on file is not theirs on the wire), then TERM, which ends
    // the service, and the wait for its restart.
    let before = signals(&dir);
    let pid = status(&dir).0;
    let out = control(&svc, &["-h1", "-wr", "-t"], "a");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got = signals(&dir);
    let tail = got.strip_prefix(&before).unwrap_or("");
    let mut nums: Vec<i32> = tail.lines().map(|l| l.parse().unwrap()).collect();
    nums.sort();
    let mut want = vec![libc::SIGHUP, libc::SIGUSR1, libc::SIGTERM];
    want.sort();
    assert_eq!(nums, want, "{tail:?}");
    assert_ne!(status(&dir).0, pid, "not restarted");
    assert_ne!(status(&dir).0, 0);
}

#[test]
fn pause_and_continue() {
    let (_t, svc) = Tree::with_service();
    create(&svc, &["a"]);
    let dir = svc.join("instances/a");
    assert!(wait_until(Duration::from_secs(5), || status(&dir).0 != 0));
    let pid = status(&dir).0 as i32;
    assert_eq!(code(&control(&svc, &["-p"], "a")), 0);
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap()
            .contains(") T ")
    }));
    // s6-supervise signals first and writes its status after.
    assert!(paused_is(&svc, "true\n "));
    assert!(same_status(&svc, &[], "a").contains(", paused"));
    assert_eq!(code(&control(&svc, &["-c"], "a")), 0);
    assert!(wait_until(Duration::from_secs(5), || {
        !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap()
            .contains(") T ")
    }));
    assert!(paused_is(&svc, "false\n "));
}

/// Whether ours and s6-svstat come to print `want` for `-o paused`.
fn paused_is(svc: &Path, want: &str) -> bool {
    wait_until(Duration::from_secs(5), || {
        let (c, o, cc, co) = statuses(svc, &["-o", "paused"], "a");
        (c, cc) == (0, 0) && o == want && co == want
    })
}

#[test]
fn every_wait_mode() {
    let t = Tree::new();
    let svc = t.service("svc", |tpl| {
        notifying_template(tpl);
        write_script(&tpl.join("finish"), "/usr/bin/sleep 0.3");
    });
    create(&svc, &["-D", "a"]);
    let dir = svc.join("instances/a");
    for (args, up, ready) in [
        (&["-u", "-wu"][..], true, None),
        (&["-d", "-wd"], false, None),
        (&["-u", "-wU"], true, Some(true)),
        (&["-d", "-wD"], false, Some(true)),
        (&["-u", "-wU"], true, Some(true)),
        (&["-r", "-wr"], true, None),
        (&["-r", "-wR"], true, Some(true)),
    ] {
        let before = status(&dir).0;
        let out = control(&svc, args, "a");
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        let st = s6i::svstatus::Status::read(&s6i::door::Loc::at(&dir)).unwrap();
        assert_eq!(st.is_up(), up, "{args:?}");
        if let Some(r) = ready {
            assert_eq!(st.ready, r, "{args:?}");
        }
        if args[0] == "-r" {
            assert_ne!(st.pid as u64, before, "{args:?}: not restarted");
        }
    }
    // A wait without a command only waits, and one that holds returns at once.
    assert_eq!(code(&control(&svc, &["-wu", "-T", "2000"], "a")), 0);
    let out = control(&svc, &["-wd", "-T", "300"], "a");
    assert_eq!(code(&out), 99, "{}", stderr(&out));
    let cout = c_control(&svc, &["-wd", "-T", "300"], "a");
    assert_eq!(code(&cout), 99);
    // Down and finished, then a wait for up without a command times out.
    assert_eq!(code(&control(&svc, &["-d", "-wD", "-T", "5000"], "a")), 0);
    assert_eq!(code(&control(&svc, &["-wU", "-T", "300"], "a")), 99);
}

#[test]
fn readiness_waits_fall_back_without_notification_fd() {
    let (_t, svc) = Tree::with_service();
    create(&svc, &["-D", "a"]);
    let out = control(&svc, &["-u", "-wU", "-T", "5000"], "a");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("notification-fd not present - ignoring request for readiness notification"),
        "{}",
        stderr(&out)
    );
    assert!(state(&svc, "a").0);
}

#[test]
fn a_service_that_never_gets_ready_times_out() {
    let t = Tree::new();
    let svc = t.service("svc", |tpl| {
        sleeper_template(tpl);
        std::fs::write(tpl.join("notification-fd"), "3\n").unwrap();
    });
    create(&svc, &["-D", "a"]);
    let out = control(&svc, &["-u", "-wU", "-T", "300"], "a");
    let cout = c_control(&svc, &["-wU", "-T", "300"], "a");
    assert_eq!((code(&out), code(&cout)), (99, 99), "{}", stderr(&out));
    assert!(stderr(&out).contains("timed out"));
    // No listener FIFO is left behind.
    let fifos: Vec<_> = entries(&svc.join("instances/a/event"));
    assert!(fifos.is_empty(), "{fifos:?}");
}

#[test]
fn a_supervisor_that_exits_fails_the_wait() {
    let (_t, svc) = Tree::with_service();
    create(&svc, &["-D", "a"]);
    // Waiting for up while the supervisor is told to exit: exit 1, as s6-svc.
    let out = control(&svc, &["-x", "-wu", "-T", "5000"], "a");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
}

#[test]
fn controlling_what_is_not_there() {
    let (_t, svc) = Tree::with_service();
    for args in [&["-u"][..], &["-wu", "-T", "200"], &["-u", "-wu", "-T", "200"]] {
        let out = control(&svc, args, "nope");
        let cout = c_control(&svc, args, "nope");
        assert_eq!(
            code(&out),
            code(&cout),
            "{args:?}: ours {} / C {}",
            stderr(&out),
            stderr(&cout)
        );
        assert_eq!(code(&out), 111);
    }
    assert!(!svc.join("instance/nope").exists());
    for args in [&[][..], &["-o", "up"]] {
        let (c, _, cc, _) = statuses(&svc, args, "nope");
        assert_eq!((c, cc), (1, 1));
    }
}

#[test]
fn control_usage_and_names() {
    let (_t, svc) = Tree::with_service();
    create(&svc, &["a"]);
    let s = svc.to_str().unwrap();
    for args in [
        vec![],
        vec![s],
        vec!["-w", "x", s, "a"],
        vec!["-T", "x", s, "a"],
        vec!["-z", s, "a"],
        vec!["-w"],
    ] {
        let out = run(ours("s6-instance-control").args(&args));
        let cout = run(reference("s6-instance-control").args(&args));
        assert_eq!(code(&out), 100, "{args:?}");
        assert_eq!(code(&cout), 100, "{args:?}");
        assert_eq!(stderr(&out), with_svc_commands(&stderr(&cout)), "{args:?}");
    }
    // An empty service: s6's words, for both commands.
    for prog in ["s6-instance-control", "s6-instance-status"] {
        let out = run(ours(prog).args(["", "a"]));
        let cout = run(reference(prog).args(["", "a"]));
        assert_eq!((code(&out), stderr(&out)), (code(&cout), stderr(&cout)), "{prog}");
    }
    let many = "u".repeat(70);
    let out = run(ours("s6-instance-control").arg(format!("-{many}")).arg(s).arg("a"));
    assert_eq!(code(&out), 100);
    assert!(stderr(&out).contains("too many commands"));
    for name in ["", ".a", "a b", "a/b", "../a"] {
        let out = run(ours("s6-instance-control").arg("-d").arg(s).arg(name));
        assert_eq!(code(&out), 100, "{name:?}");
        assert!(stderr(&out).contains("invalid instance name"));
    }
    assert!(state(&svc, "a").0, "a bad call changed the instance");
    // Injected words are arguments, never programs.
    let marker = svc.join("marker");
    let out = run(ours("s6-instance-control")
        .arg("-u")
        .arg(s)
        .arg("a")
        .arg("/usr/bin/touch")
        .arg(&marker));
    assert_eq!(code(&out), 0);
    assert!(!marker.exists());
}

#[test]
fn status_outputs_match_s6_svstat() {
    let t = Tree::new();
    let svc = t.service("svc", notifying_template);
    let bad = t.service("bad", failing_template);
    create(&svc, &["up"]);
    create(&svc, &["-D", "down"]);
    create(&svc, &["killed"]);
    create_only(&bad, &["exited"]);
    assert_eq!(code(&control(&svc, &["-wU", "-T", "5000"], "up")), 0);
    assert_eq!(code(&control(&svc, &["-wU", "-T", "5000"], "killed")), 0);
    assert_eq!(code(&control(&svc, &["-d", "-wD", "-T", "5000"], "killed")), 0);
    std::thread::sleep(Duration::from_millis(300));
    let all =
        "up,wantedup,normallyup,ready,paused,pid,exitcode,signal,signum,updownsince,readysince,updownfor,readyfor";
    let option_sets: Vec<Vec<&str>> = vec![
        vec![],
        vec!["-n"],
        vec!["-u"],
        vec!["-w"],
        vec!["-N"],
        vec!["-r"],
        vec!["-p"],
        vec!["-e"],
        vec!["-s"],
        vec!["-t"],
        vec!["-uwNrpest"],
        vec!["-o", all],
        vec!["-n", "-o", "signal,signum"],
        vec!["-u", "-o", "pid,p,updown", "-e"],
        vec!["-o", "up,"],
    ];
    for (s, name) in [(&svc, "up"), (&svc, "down"), (&svc, "killed"), (&bad, "exited")] {
        for args in &option_sets {
            same_status(s, args, name);
        }
    }
    assert!(same_status(&svc, &[], "up").contains(", ready N seconds"));
    let down = same_status(&svc, &[], "down");
    if release().svstat_not_started() {
        assert!(down.starts_with("down (not started yet) "), "{down}");
    } else {
        assert!(down.starts_with("down (exitcode 0) N seconds"), "{down}");
    }
    assert!(same_status(&svc, &["-n"], "killed").starts_with("down (signal 15) N seconds, normally up, ready"));
    let exited = same_status(&bad, &["-o", "up,exitcode,signal,wantedup"], "exited");
    assert_eq!(exited, "false 3 NA true\n ");
    // Bad field lists and too many fields: usage errors, as s6.
    for args in [
        vec!["-o", "nope"],
        vec!["-o", "up,,pid"],
        vec!["-o", "upx"],
        vec!["-o", &format!("{all},up,up,up,up")],
        vec!["-uuuuuuuuuuuuuuuuu"],
    ] {
        let (c, o, cc, _) = statuses(&svc, &args, "up");
        assert_eq!((c, cc), (100, 100), "{args:?}");
        assert!(o.trim().is_empty());
    }
}

/// A fake instance whose supervise/lock the test holds, so that the
/// status record can be anything.
struct FakeSupervisor {
    _lock: std::fs::File,
    dir: PathBuf,
}

impl FakeSupervisor {
    fn new(svc: &Path, name: &str) -> FakeSupervisor {
        let dir = svc.join("instances").join(name);
        std::fs::create_dir_all(dir.join("supervise")).unwrap();
        std::os::unix::fs::symlink(format!("../instances/{name}"), svc.join("instance").join(name)).unwrap();
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(dir.join("supervise/lock"))
            .unwrap();
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as _;
        fl.l_whence = libc::SEEK_SET as _;
        let r = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::F_SETLK, &fl) };
        assert_eq!(r, 0);
        FakeSupervisor { _lock: lock, dir }
    }
}

#[test]
fn broken_status_records() {
    let (_t, svc) = Tree::with_service();
    // The lock must be held by another process than the reader: ours is.
    let fake = FakeSupervisor::new(&svc, "fake");
    let record_file = |b: &[u8]| std::fs::write(fake.dir.join("supervise/status"), b).unwrap();
    // Missing, then short: 111, as s6-svstat.
    let (c, _, cc, _) = statuses(&svc, &[], "fake");
    assert_eq!((c, cc), (111, 111));
    record_file(&[0u8; 20]);
    let (c, _, cc, _) = statuses(&svc, &[], "fake");
    assert_eq!((c, cc), (111, 111));
    // Garbage, and odd but whole records, print what s6-svstat prints.
    // (A stamp in the future reads as "now", which ticks between calls:
    // keep the garbage stamp in the past.) Records are of the size the
    // installed s6 writes: status_records_of_both_sizes reads the other.
    let size = release().status_size();
    let mut garbage = vec![0xa5u8; size];
    garbage[..8].copy_from_slice(&[0x40, 0, 0, 0, 0, 0, 0, 1]);
    let pgid = (size == 43).then_some(7);
    for rec in [garbage, record(7, pgid, 0x86, 0x0f)] {
        record_file(&rec);
        for args in [
            &[][..],
            &["-n"],
            &[
                "-o",
                "up,wantedup,ready,paused,pid,exitcode,signal,signum,updownsince,readysince",
            ],
        ] {
            same_status(&svc, args, "fake");
        }
    }
    // Every signal number is named as s6 names it.
    for sig in 1..=64u16 {
        record_file(&record(0, pgid.map(|_| 0), sig & 0x7f, 0));
        same_status(&svc, &["-o", "signal,signum"], "fake");
        same_status(&svc, &[], "fake");
    }
}

#[test]
fn the_signal_step_chains() {
    let t = Tree::new();
    let svc = t.service("svc", notifying_template);
    create(&svc, &["-D", "a"]);
    let marker = t.path().join("ready-marker");
    // Bring it up, wait until it is ready, then run a command.
    let out = run(program(bindir().join("s6i-signal"))
        .args(["-u", "-wU", "-T", "5000", "--"])
        .arg(&svc)
        .arg("a")
        .arg("/usr/bin/touch")
        .arg(&marker));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(marker.exists());
    let st = s6i::svstatus::Status::read(&s6i::door::Loc::at(&svc.join("instances/a"))).unwrap();
    assert!(st.is_up() && st.ready);
}

#[test]
fn listener_fifos_go_when_a_wait_is_interrupted() {
    use std::os::unix::process::ExitStatusExt;
    let t = Tree::new();
    let svc = t.service("svc", |tpl| {
        sleeper_template(tpl);
        std::fs::write(tpl.join("notification-fd"), "3\n").unwrap();
    });
    create(&svc, &["a"]);
    let event = svc.join("instances/a/event");
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let mut child = ours("s6-instance-control")
            .args(["-wU", "-T", "20000"])
            .arg(&svc)
            .arg("a")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        assert!(
            wait_until(Duration::from_secs(10), || entries(&event)
                .iter()
                .any(|e| e.starts_with(b"ftrig1:"))),
            "no listener appeared"
        );
        // s6's mode: read by the listener, written by any supervisor.
        for e in entries(&event) {
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &std::fs::symlink_metadata(event.join(os(&e))).unwrap().permissions(),
            );
            assert_eq!(mode & 0o7777, 0o622, "{:?}", String::from_utf8_lossy(&e));
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::try_from(sig).unwrap(),
        )
        .unwrap();
        let pid = child.id() as i32;
        assert!(wait_until(Duration::from_secs(10), || !alive(pid)
            || child.try_wait().ok().flatten().is_some()));
        let st = child.wait().unwrap();
        assert_eq!(st.signal(), Some(sig), "{st:?}");
        assert!(entries(&event).is_empty(), "left behind: {:?}", entries(&event));
    }
}

#[test]
fn empty_option_arguments_stay_arguments() {
    let (_t, svc) = Tree::with_service();
    create(&svc, &["a"]);
    // s6-svstat -o "" prints the summary line.
    assert!(same_status(&svc, &["-o", ""], "a").starts_with("up (pid"));
    // A wait letter that the signal step refuses is still the script's
    // usage error, worded as s6's.
    for w in [&["-w", ""][..], &["-wO"], &["-wx"]] {
        let out = control(&svc, w, "a");
        let cout = c_control(&svc, w, "a");
        assert_eq!((code(&out), code(&cout)), (100, 100), "{w:?}");
        assert_eq!(stderr(&out), with_svc_commands(&stderr(&cout)), "{w:?}");
    }
}

/// The part of an s6 program's usage line between `after` and ` before`.
fn usage_part(prog: &str, after: &str, before: &str) -> String {
    let err = stderr(&run(&mut reference(prog)));
    let start = err.find(after).unwrap_or_else(|| panic!("{prog} usage: {err}")) + after.len();
    let end = err[start..]
        .find(before)
        .unwrap_or_else(|| panic!("{prog} usage: {err}"))
        + start;
    err[start..end].to_string()
}

/// s6's s6-instance-control usage line, with the commands of the
/// installed s6-svc in place of 2.11's, which it always lists: ours.
fn with_svc_commands(c_usage: &str) -> String {
    let commands = usage_part("s6-svc", "[ -T timeout ] ", " servicedir");
    assert!(c_usage.contains("[ -abqhkti12pcyroduDUxO ]"), "{c_usage}");
    c_usage.replace("[ -abqhkti12pcyroduDUxO ]", &commands)
}

#[test]
fn usage_lines_list_what_the_installed_s6_takes() {
    let commands = usage_part("s6-svc", "[ -T timeout ] ", " servicedir");
    let out = run(&mut ours("s6-instance-control"));
    assert_eq!(code(&out), 100);
    let want = format!(
        "s6-instance-control: usage: s6-instance-control [ -wu | -wU | -wd | -wD | -wr | -wR ] [ -T timeout ] {commands} service instancename\n"
    );
    assert_eq!(stderr(&out), want);
    let fields = usage_part("s6-svstat", "s6-svstat ", " servicedir");
    let out = run(&mut ours("s6-instance-status"));
    assert_eq!(code(&out), 100);
    assert_eq!(
        stderr(&out),
        format!("s6-instance-status: usage: s6-instance-status {fields} service name\n")
    );
}

/// Whether the installed s6-svc takes option `opt` (with `arg`): on a
/// service that does not exist, it fails to control it, not with usage.
fn svc_takes(opt: &str) -> bool {
    let out = run(reference("s6-svc").args(opt.split(' ')).arg("/nonexistent/s6i-svc"));
    code(&out) != 100
}

#[test]
fn every_command_the_installed_s6_svc_knows_and_no_other() {
    let (_t, svc) = Tree::with_service();
    create(&svc, &["-D", "a"]);
    let mut known = 0;
    for opt in "abqhkti12pcyrlPCKoduDUxOQ"
        .chars()
        .map(|c| format!("-{c}"))
        .chain(["-s TERM".to_string()])
    {
        // A missing instance: each known command gets as far as s6-svc's
        // "unable to control"; an unknown one is refused before.
        let args: Vec<&str> = opt.split(' ').collect();
        let out = control(&svc, &args, "nope");
        if svc_takes(&opt) {
            known += 1;
            assert_eq!(code(&out), 111, "{opt}: {}", stderr(&out));
            assert!(stderr(&out).contains("unable to control"), "{opt}: {}", stderr(&out));
        } else {
            assert_eq!(code(&out), 100, "{opt}: {}", stderr(&out));
            let want = format!(" needs s6 {}", s6i::release::Release::svc_since(opt.as_bytes()[1]));
            assert!(stderr(&out).contains(&want), "{opt}: {}", stderr(&out));
            assert_eq!(stderr(&out).lines().count(), 1);
        }
    }
    // Every release knows at least 2.11's 21 commands.
    assert!(known >= 21, "{known}");
    assert!(
        state(&svc, "a") == (false, false),
        "a refused command reached the instance"
    );
}

#[test]
fn signals_by_name_and_to_the_process_group() {
    let t = Tree::new();
    let svc = t.service("svc", |tpl| {
        recording_template(tpl);
        std::fs::write(tpl.join("reload-signal"), "USR2\n").unwrap();
    });
    create(&svc, &["a"]);
    let dir = svc.join("instances/a");
    std::thread::sleep(Duration::from_millis(300));
    let sent = |args: &[&str], sig: i32| {
        let before = signals(&dir);
        let out = control(&svc, args, "a");
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        let want = format!("{before}{sig}\n");
        assert!(
            wait_until(Duration::from_secs(5), || signals(&dir) == want),
            "{args:?}: {:?}",
            signals(&dir)
        );
    };
    if svc_takes("-s TERM") {
        sent(&["-s", "usr1"], libc::SIGUSR1);
        sent(&["-s", "SIGWINCH"], libc::SIGWINCH);
        sent(&["-s", "1"], libc::SIGHUP);
        for (bad, says) in [
            ("SEGV", "SEGV is not in the list of user-available signals"),
            ("nope", "invalid signal: nope"),
        ] {
            let out = control(&svc, &["-s", bad], "a");
            let cout = run(reference("s6-svc").args(["-s", bad]).arg(svc.join("instance/a")));
            assert_eq!((code(&out), code(&cout)), (100, 100), "{bad}");
            assert_eq!(stderr(&out), format!("s6-instance-control: fatal: {says}\n"));
            assert_eq!(stderr(&cout), format!("s6-svc: fatal: {says}\n"));
        }
    }
    if svc_takes("-l") {
        // The signal named in reload-signal.
        sent(&["-l"], libc::SIGUSR2);
    }
    if svc_takes("-P") {
        let pid = status(&dir).0 as i32;
        let stopped = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") T ")
        };
        assert_eq!(code(&control(&svc, &["-P"], "a")), 0);
        assert!(wait_until(Duration::from_secs(5), stopped), "-P did not stop the group");
        assert_eq!(code(&control(&svc, &["-C"], "a")), 0);
        assert!(
            wait_until(Duration::from_secs(5), || !stopped()),
            "-C did not continue it"
        );
        let out = control(&svc, &["-K", "-wr", "-T", "5000"], "a");
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(!alive(pid), "-K left the service alive");
        assert!(wait_until(Duration::from_secs(5), || status(&dir).0 != 0));
    }
    assert!(signals(&dir).lines().all(|l| l != "11"));
}

#[test]
fn a_supervisor_that_does_not_listen_as_the_installed_s6_svc_says() {
    let (_t, svc) = Tree::with_service();
    // A directory linked but never supervised, and one whose supervise/
    // is a file: s6-svc's codes and words, from the release at hand.
    for (name, broken) in [("idle", false), ("broken", true)] {
        let dir = svc.join("instances").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        if broken {
            std::fs::write(dir.join("supervise"), "").unwrap();
        }
        std::os::unix::fs::symlink(format!("../instances/{name}"), svc.join("instance").join(name)).unwrap();
        let out = control(&svc, &["-u"], name);
        let cout = run(reference("s6-svc").arg("-u").arg(svc.join("instance").join(name)));
        assert_eq!(
            code(&out),
            code(&cout),
            "{name}: ours {} / s6-svc {}",
            stderr(&out),
            stderr(&cout)
        );
        let level = |e: &str| e.split(": ").nth(1).unwrap_or("").to_string();
        assert_eq!(level(&stderr(&out)), level(&stderr(&cout)), "{name}: {}", stderr(&cout));
    }
}

/// A record as s6-supervise writes it: 35 bytes, or 43 with `pgid`.
fn record(pid: u64, pgid: Option<u64>, wstat: u16, flags: u8) -> Vec<u8> {
    let mut r = vec![0u8; 24];
    r[0] = 0x40;
    r[7] = 1;
    r[12] = 0x40;
    r.extend_from_slice(&pid.to_be_bytes());
    if let Some(g) = pgid {
        r.extend_from_slice(&g.to_be_bytes());
    }
    r.extend_from_slice(&wstat.to_be_bytes());
    r.push(flags);
    r
}

#[test]
fn status_records_of_both_sizes() {
    let (_t, svc) = Tree::with_service();
    let fake = FakeSupervisor::new(&svc, "fake");
    let write = |b: &[u8]| std::fs::write(fake.dir.join("supervise/status"), b).unwrap();
    let with_pgid = release().status_size() == 43;
    let option_sets: [&[&str]; 5] = [
        &[],
        &["-o", "up,wantedup,ready,paused,pid,exitcode,signal"],
        &["-o", "pid,pgid"],
        &["-g"],
        &["-n"],
    ];
    for (pid, wstat, flags) in [
        (77u64, 0u16, 4u8 | 8),
        (0, 0x0300, 4),
        (0, 9, 0),
        (0, 0, 1),
        (55, 0, 1 | 4),
    ] {
        // The size the installed s6 writes: the same as s6-svstat.
        let native = record(pid, with_pgid.then_some(pid), wstat, flags);
        write(&native);
        let outs: Vec<(i32, String)> = option_sets
            .iter()
            .map(|args| {
                let (c, o, cc, co) = statuses(&svc, args, "fake");
                assert_eq!((c, &o), (cc, &co), "{args:?} of {native:?}");
                (c, o)
            })
            .collect();
        // The other size (a supervisor from before an upgrade): read as
        // well, and printed the same.
        write(&record(pid, (!with_pgid).then_some(pid), wstat, flags));
        for (args, want) in option_sets.iter().zip(&outs) {
            let (c, o, _, _) = statuses(&svc, args, "fake");
            assert_eq!(&(c, o), want, "{args:?}");
        }
    }
}

#[test]
fn field_names_as_the_installed_s6_svstat_reads_them() {
    let (_t, svc) = Tree::with_service();
    create(&svc, &["a"]);
    create(&svc, &["-d", "down"]);
    for name in ["a", "down"] {
        for args in [
            &["-o", "u"][..],
            &["-o", "p,pi"],
            &["-o", "pgid"],
            &["-o", "up,,pid"],
            &["-o", ",up"],
            &["-g"],
            &["-o", "updown"],
            &["-o", "paused,pid,exitcode,signal,signum"],
        ] {
            same_status(&svc, args, name);
        }
    }
    // The summary of an instance never started: `not started yet` from
    // s6 2.13.2.
    let down = same_status(&svc, &[], "down");
    if release().svstat_not_started() {
        assert!(down.starts_with("down (not started yet) "), "{down}");
    } else {
        assert!(down.starts_with("down (exitcode 0) N seconds"), "{down}");
    }
    let up = same_status(&svc, &[], "a");
    assert_eq!(up.contains(" pgid "), release().svstat_pgid(), "{up}");
}
