//! A step hands on what an exec would: the signal dispositions it was
//! given, closed standard descriptors, an environment without the
//! script's own variables; and the copy goes on where s6's goes on.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Start `cmd` with these signals ignored and these descriptors closed.
fn given(cmd: &mut Command, ignored: &'static [libc::c_int], closed: &'static [libc::c_int]) {
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            for &sig in ignored {
                libc::signal(sig, libc::SIG_IGN);
            }
            for &fd in closed {
                libc::close(fd);
            }
            Ok(())
        });
    }
}

/// Create instance `a`, and wait until it is up (create returns once its
/// supervisor runs; the service comes up a moment later).
fn create_up(svc: &Path) {
    let out = run(ours("s6-instance-create").arg(svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let dir = svc.join("instances/a");
    assert!(
        wait_until(Duration::from_secs(10), || status(&dir).0 != 0),
        "a never came up"
    );
}

/// The signals a program finds ignored (SigIgn of /proc/self/status),
/// run through `chain` (the words before the program) or alone.
fn ignored_mask(chain: &[&std::ffi::OsStr], ignored: &'static [libc::c_int]) -> u64 {
    let grep = ["/usr/bin/grep", "^SigIgn:", "/proc/self/status"];
    let mut cmd = match chain.split_first() {
        Some((prog, rest)) => {
            let mut c = program(prog);
            c.args(rest).args(grep);
            c
        }
        None => {
            let mut c = program(grep[0]);
            c.args(&grep[1..]);
            c
        }
    };
    given(&mut cmd, ignored, &[]);
    let out = run(&mut cmd);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let line = String::from_utf8(out.stdout).unwrap();
    u64::from_str_radix(line.trim().trim_start_matches("SigIgn:").trim(), 16).unwrap()
}

#[test]
fn ignored_signals_are_handed_on_as_given() {
    let (_t, svc) = Tree::with_service();
    let out = run(ours("s6-instance-create").arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ensure = bindir().join("s6i-ensure");
    let signal = bindir().join("s6i-signal");
    let chains: [Vec<&std::ffi::OsStr>; 2] = [
        vec![ensure.as_os_str(), "--".as_ref(), svc.as_os_str()],
        // A wait catches signals while it listens; what it hands on is
        // still what it was given.
        vec![
            ensure.as_os_str(),
            "--".as_ref(),
            svc.as_os_str(),
            signal.as_os_str(),
            "-wu".as_ref(),
            "-T".as_ref(),
            "5000".as_ref(),
            "--".as_ref(),
            svc.as_os_str(),
            "a".as_ref(),
        ],
    ];
    for ignored in [&[][..], &[libc::SIGHUP, libc::SIGINT, libc::SIGPIPE]] {
        let alone = ignored_mask(&[], ignored);
        for chain in &chains {
            assert_eq!(ignored_mask(chain, ignored), alone, "{ignored:?} through {chain:?}");
        }
    }
    // HUP, INT and PIPE: bits 1, 2 and 13 (the test runner may hand on
    // others).
    assert_eq!(
        ignored_mask(&[], &[libc::SIGHUP, libc::SIGINT, libc::SIGPIPE]) & 0x1fff,
        0x1003
    );
}

#[test]
fn a_waiting_control_keeps_ignoring_what_it_was_given_ignored() {
    let (_t, svc) = Tree::with_service();
    create_up(&svc);
    let event = svc.join("instances/a/event");
    // Waiting for a down that never comes: a background job of a script
    // (INT ignored) under nohup (HUP ignored).
    let mut cmd = ours("s6-instance-control");
    cmd.args(["-wd", "-T", "20000"])
        .arg(&svc)
        .arg("a")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    given(&mut cmd, &[libc::SIGHUP, libc::SIGINT], &[]);
    let mut child = cmd.spawn().unwrap();
    let pid = child.id() as i32;
    assert!(
        wait_until(Duration::from_secs(10), || entries(&event)
            .iter()
            .any(|e| e.starts_with(b"ftrig1:"))),
        "no listener appeared"
    );
    for sig in [Signal::SIGHUP, Signal::SIGINT] {
        kill(Pid::from_raw(pid), sig).unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(alive(pid), "an ignored signal killed the wait");
    // A signal it was not given ignored ends it, and its FIFO goes.
    kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    assert!(wait_until(Duration::from_secs(10), || child
        .try_wait()
        .ok()
        .flatten()
        .is_some()));
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
    assert!(entries(&event).is_empty(), "left behind: {:?}", entries(&event));
}

#[test]
fn listener_fifos_go_on_every_fatal_signal() {
    let (_t, svc) = Tree::with_service();
    create_up(&svc);
    let event = svc.join("instances/a/event");
    for sig in [
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGPIPE,
        libc::SIGRTMIN() + 2,
    ] {
        let mut child = ours("s6-instance-control")
            .args(["-wd", "-T", "20000"])
            .arg(&svc)
            .arg("a")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert!(
            wait_until(Duration::from_secs(10), || entries(&event)
                .iter()
                .any(|e| e.starts_with(b"ftrig1:"))),
            "no listener appeared"
        );
        // SAFETY: a plain kill(2).
        assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
        assert!(wait_until(Duration::from_secs(10), || child
            .try_wait()
            .ok()
            .flatten()
            .is_some()));
        assert_eq!(child.wait().unwrap().signal(), Some(sig));
        assert!(entries(&event).is_empty(), "signal {sig} left {:?}", entries(&event));
    }
}

#[test]
fn closed_descriptors_stay_closed() {
    let (_t, svc) = Tree::with_service();
    for fd in [0, 1, 2] {
        // test(1) succeeds when the descriptor is not open.
        let mut cmd = program(bindir().join("s6i-ensure"));
        cmd.arg("--")
            .arg(&svc)
            .args(["/usr/bin/test", "!", "-e", &format!("/proc/self/fd/{fd}")]);
        const FDS: [libc::c_int; 3] = [0, 1, 2];
        given(&mut cmd, &[], &FDS[fd..fd + 1]);
        let status = cmd.status().unwrap();
        assert_eq!(status.code(), Some(0), "fd {fd} reached the program open");
    }
}

#[test]
fn list_and_status_with_stdout_closed_fail_as_s6s() {
    let (_t, svc) = Tree::with_service();
    let out = run(ours("s6-instance-create").arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for (prog, args) in [("s6-instance-list", &[][..]), ("s6-instance-status", &["a"][..])] {
        let mut results = Vec::new();
        for mut cmd in [ours(prog), reference(prog)] {
            cmd.arg(&svc).args(args).stdout(Stdio::null());
            given(&mut cmd, &[], &[1]);
            let out = run_for(&mut cmd, Duration::from_secs(20));
            // s6's status speaks as s6-svstat.
            let err = stderr(&out)
                .split_once(": ")
                .map(|(_, e)| e.to_string())
                .unwrap_or_default();
            results.push((code(&out), err));
        }
        assert_eq!(results[0], results[1], "{prog}");
        assert_eq!(results[0].0, 111, "{prog}");
    }
}

#[test]
fn the_script_variables_stay_with_the_steps() {
    let (_t, svc) = Tree::with_service();
    let ensure = bindir().join("s6i-ensure");
    // An installed step named by absolute path goes on in-process, one in
    // PATH is executed: the program after either gets a clean
    // environment.
    for step in [ensure.to_str().unwrap(), "s6i-ensure"] {
        let mut cmd = ours("s6i-args");
        cmd.env("PATH", format!("{}:/usr/bin:/bin", bindir().display()))
            .env("#", "1")
            .env("1", &svc)
            .args([
                "-u",
                "mine service",
                "-n",
                "service",
                step,
                "--",
                "$service",
                "/usr/bin/env",
            ]);
        let out = run(&mut cmd);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let env = String::from_utf8_lossy(&out.stdout);
        assert!(!env.contains("S6I_"), "{step}: {env}");
    }
    // A step of the chain still speaks as the script.
    let mut cmd = ours("s6i-args");
    cmd.env("#", "1").env("1", "/nonexistent/svc").args([
        "-u",
        "mine service",
        "-n",
        "service",
        ensure.to_str().unwrap(),
        "--",
        "$service",
    ]);
    let out = run(&mut cmd);
    assert!(stderr(&out).starts_with("mine: fatal: "), "{}", stderr(&out));
}

/// A template with a file owned by a user that a rootless container
/// (`unshare -Ur`, which maps only root) does not map.
fn foreign_template(tpl: &Path) {
    sleeper_template(tpl);
    std::fs::write(tpl.join("data"), "x").unwrap();
    std::os::unix::fs::lchown(tpl.join("data"), Some(54321), Some(54321)).unwrap();
}

#[test]
fn an_owner_that_cannot_be_set_is_no_error() {
    let t = Tree::new();
    let svc = t.service("svc", foreign_template);
    // In the namespace, chown to the unmapped owner fails (EINVAL): the
    // maker and create go on, as s6's do.
    let in_userns = |args: &[&std::ffi::OsStr]| {
        let mut cmd = Command::new("/usr/bin/unshare");
        cmd.env_clear().env("PATH", "/usr/bin:/bin").arg("-Ur").args(args);
        run(&mut cmd)
    };
    let create = bindir().join("s6-instance-create");
    let out = in_userns(&[create.as_os_str(), svc.as_os_str(), "a".as_ref()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read(svc.join("instances/a/data")).unwrap(), b"x");
    assert!(supervised(&svc.join("instances/a")));
    let maker = bindir().join("s6-instance-maker");
    let made = t.path().join("made");
    let tpl = t.path().join("svc.template");
    let out = in_userns(&[maker.as_os_str(), tpl.as_os_str(), made.as_os_str()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(made.join("template/data").exists());
}

#[test]
fn a_template_entry_named_like_our_mark_never_blocks() {
    let t = Tree::new();
    let svc = t.service("svc", |tpl| {
        sleeper_template(tpl);
        nix::unistd::mkfifo(&tpl.join(".s6i-pending"), nix::sys::stat::Mode::from_bits_retain(0o644)).unwrap();
    });
    let out = run(ours("s6-instance-create").arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(supervised(&svc.join("instances/a")));
    let out = run(ours("s6-instance-list").arg(&svc));
    assert_eq!(out.stdout, b"a\n");
    let out = run(ours("s6-instance-delete").arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Made again over an instance a killed chain could have left.
    let out = run(ours("s6-instance-create").arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn a_create_whose_instance_is_deleted_meanwhile_gives_up() {
    let t = Tree::new();
    let svc = t.service("svc", sleeper_template);
    let scanner = Pid::from_raw(t.nested_scanner(&svc));
    // The scanner stops between the link and the supervisor's start; a
    // delete of the name lands then.
    kill(scanner, Signal::SIGSTOP).unwrap();
    let mut create = ours("s6-instance-create")
        .arg(&svc)
        .arg("a")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let linked = wait_until(Duration::from_secs(10), || svc.join("instance/a").exists());
    let out = run(ours("s6-instance-delete").arg(&svc).arg("a"));
    kill(scanner, Signal::SIGCONT).unwrap();
    assert!(linked, "create never linked");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ended = wait_until(Duration::from_secs(10), || create.try_wait().ok().flatten().is_some());
    if !ended {
        let _ = create.kill();
    }
    let status = create.wait().unwrap();
    assert!(ended, "create still waits");
    assert_eq!(status.code(), Some(111));
    assert!(entries(&svc.join("instances")).is_empty());
    assert!(entries(&svc.join("instance")).iter().all(|e| e.starts_with(b".")));
}

#[test]
fn instances_dir_is_0755_whatever_the_umask() {
    let (_t, svc) = Tree::with_service();
    let _ = std::fs::remove_dir(svc.join("instances"));
    assert!(!svc.join("instances").exists());
    let mut cmd = ours("s6-instance-create");
    cmd.arg(&svc).arg("a");
    // SAFETY: umask is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o077);
            Ok(())
        });
    }
    let out = run(&mut cmd);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mode = std::fs::metadata(svc.join("instances")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
}
