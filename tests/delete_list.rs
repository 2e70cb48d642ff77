//! s6-instance-delete and s6-instance-list against a real s6 tree, and
//! mixed with s6's C programs both ways.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// A template whose finish script takes a while, so that a supervisor
/// told to exit stays around long enough to be seen.
fn slow_finish_template(tpl: &Path) {
    sleeper_template(tpl);
    write_script(&tpl.join("finish"), "/usr/bin/sleep 2");
}

/// Create, then wait for the service to be up: create returns once the
/// supervisor runs, and a service told to go before it ever started has
/// no finish script to wait for.
fn create(svc: &Path, name: &str) {
    let out = run(ours("s6-instance-create").arg(svc).arg(name));
    assert_eq!(code(&out), 0, "create {name}: {}", stderr(&out));
    let dir = svc.join("instances").join(name);
    assert!(
        wait_until(Duration::from_secs(10), || status(&dir).0 != 0),
        "{name} never came up"
    );
}

#[test]
fn delete_waits_for_the_supervisor_to_exit() {
    let t = Tree::new();
    let svc = t.service("svc", slow_finish_template);
    create(&svc, "a");
    let dir = svc.join("instances/a");
    let sup = supervisor_pid(&dir).expect("supervisor");
    let started = Instant::now();
    let out = run(ours("s6-instance-delete").arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    // It waited through the 2 s finish script...
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "returned after {:?}",
        started.elapsed()
    );
    // ...until the supervisor said it was exiting.
    assert!(
        wait_until(Duration::from_millis(500), || !alive(sup)),
        "supervisor still alive"
    );
    assert!(!dir.exists());
    assert!(!svc.join("instance/a").exists());
    assert!(
        entries(&svc.join("instances")).is_empty(),
        "{:?}",
        entries(&svc.join("instances"))
    );
}

#[test]
fn delete_dash_x_does_not_wait() {
    let t = Tree::new();
    let svc = t.service("svc", |tpl| {
        sleeper_template(tpl);
        write_script(&tpl.join("finish"), "/usr/bin/sleep 5");
    });
    create(&svc, "a");
    let sup = supervisor_pid(&svc.join("instances/a")).expect("supervisor");
    let started = Instant::now();
    let out = run(ours("s6-instance-delete").arg("-X").arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // It did not sit through the 5 s finish script.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "-X waited {:?}",
        started.elapsed()
    );
    assert!(!svc.join("instance/a").exists());
    assert!(!svc.join("instances/a").exists());
    assert!(
        entries(&svc.join("instances")).is_empty(),
        "{:?}",
        entries(&svc.join("instances"))
    );
    assert!(
        wait_until(Duration::from_secs(10), || !alive(sup)),
        "supervisor never exited"
    );
}

#[test]
fn delete_of_a_logged_instance_waits_for_both() {
    let t = Tree::new();
    let svc = t.service("svc", |tpl| {
        sleeper_template(tpl);
        // A logger reads until its producer is gone, as a real one does.
        std::fs::create_dir(tpl.join("log")).unwrap();
        write_script(&tpl.join("log/run"), "/usr/bin/cat");
        write_script(&tpl.join("log/finish"), "/usr/bin/sleep 1");
    });
    create(&svc, "a");
    assert_eq!(code(&run(reference("s6-instance-create").arg(&svc).arg("c"))), 0);
    let clogsup = supervisor_pid(&svc.join("instances/c/log")).expect("log supervisor");
    let cout = run(reference("s6-instance-delete").arg(&svc).arg("c"));
    assert_eq!(code(&cout), 0, "{}", stderr(&cout));
    assert!(
        wait_until(Duration::from_millis(500), || !alive(clogsup)),
        "s6: log supervisor still alive"
    );
    let logsup = supervisor_pid(&svc.join("instances/a/log")).expect("log supervisor");
    let out = run(ours("s6-instance-delete").arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        wait_until(Duration::from_millis(500), || !alive(logsup)),
        "log supervisor still alive"
    );
    assert!(!svc.join("instances/a").exists());
}

#[test]
fn delete_of_a_missing_name_is_what_s6_does() {
    let (_t, svc) = Tree::with_service();
    let out = run(ours("s6-instance-delete").arg(&svc).arg("nope"));
    let cout = run(reference("s6-instance-delete").arg(&svc).arg("nope"));
    assert_eq!(code(&out), code(&cout), "{}", stderr(&out));
    assert_eq!(code(&out), 0);
    assert_eq!(out.stdout, cout.stdout);
}

#[test]
fn delete_refuses_bad_names_and_touches_nothing() {
    let (_t, svc) = Tree::with_service();
    create(&svc, "keep");
    for name in ["", ".", "..", ".template", "a b", "keep/..", "keep/../keep"] {
        let out = run(ours("s6-instance-delete").arg(&svc).arg(name));
        assert_eq!(code(&out), 100, "{name:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("s6-instance-delete: fatal: invalid instance name"));
    }
    assert!(supervised(&svc.join("instances/keep")));
    assert_eq!(
        entries(&svc.join("instance")),
        vec![b".s6-svscan".to_vec(), b"keep".to_vec()]
    );
    for args in [vec!["-t"], vec!["-q", "x", "y"], vec!["-t", "1.5", "x", "y"], vec!["x"]] {
        let out = run(ours("s6-instance-delete").args(&args));
        let cout = run(reference("s6-instance-delete").args(&args));
        assert_eq!((code(&out), stderr(&out)), (code(&cout), stderr(&cout)), "{args:?}");
    }
}

#[test]
fn delete_on_a_stopped_service_exits_1() {
    let (_t, svc) = Tree::with_service();
    create(&svc, "a");
    assert_eq!(code(&run(reference("s6-svc").args(["-wD", "-d"]).arg(&svc))), 0);
    assert!(wait_until(Duration::from_secs(10), || !locked(
        &svc.join("instance/.s6-svscan/lock")
    )));
    let out = run(ours("s6-instance-delete").arg(&svc).arg("a"));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(code(&run(reference("s6-instance-delete").arg(&svc).arg("a"))), 1);
    assert!(svc.join("instances/a/run").exists());
}

#[test]
fn list_prints_what_s6_prints() {
    let (_t, svc) = Tree::with_service();
    for name in ["b", "a", "zeta", "-x"] {
        let out = run(ours("s6-instance-create").arg("--").arg(&svc).arg(name));
        assert_eq!(code(&out), 0);
    }
    assert_eq!(
        code(&run(reference("s6-instance-create").arg(&svc).arg(os(b"\xfe\xff")))),
        0
    );
    let out = run(ours("s6-instance-list").arg(&svc));
    let cout = run(reference("s6-instance-list").arg(&svc));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(out.stdout, cout.stdout);
    let mut names: Vec<&[u8]> = out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    names.sort();
    assert_eq!(names, vec![&b"-x"[..], b"a", b"b", b"zeta", b"\xfe\xff"]);
    // Empty list, usage, and a stopped service, as s6.
    let (_t2, empty) = Tree::with_service();
    let out = run(ours("s6-instance-list").arg(&empty));
    assert_eq!((code(&out), out.stdout.len()), (0, 0));
    let out = run(&mut ours("s6-instance-list"));
    let cout = run(&mut reference("s6-instance-list"));
    assert_eq!((code(&out), stderr(&out)), (code(&cout), stderr(&cout)));
    let out = run(ours("s6-instance-list").arg(""));
    assert_eq!(code(&out), code(&run(reference("s6-instance-list").arg(""))));
}

#[test]
fn list_into_a_closed_pipe_does_what_s6s_does() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let (_t, svc) = Tree::with_service();
    // More than a pipe holds, so that the lister writes after the reader is gone.
    for i in 0..400 {
        let name = format!("i{i:0>200}");
        std::os::unix::fs::symlink(format!("../instances/{name}"), svc.join("instance").join(name)).unwrap();
    }
    // Both take SIGPIPE as they were given it: at its default, they die
    // of it; ignored, they fail to write (111).
    let mut outcomes = Vec::new();
    for ignored in [false, true] {
        for mut cmd in [ours("s6-instance-list"), reference("s6-instance-list")] {
            let prog = cmd.get_program().to_owned();
            cmd.arg(&svc)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            if ignored {
                unsafe {
                    std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                        nix::sys::signal::signal(
                            nix::sys::signal::Signal::SIGPIPE,
                            nix::sys::signal::SigHandler::SigIgn,
                        )
                        .map(|_| ())
                        .map_err(std::io::Error::from)
                    });
                }
            }
            let mut child = cmd.spawn().unwrap();
            let mut first = [0u8; 1];
            child.stdout.take().unwrap().read_exact(&mut first).unwrap();
            let pid = child.id() as i32;
            assert!(wait_until(Duration::from_secs(10), || !alive(pid)), "{prog:?} hangs");
            let status = child.wait().unwrap();
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            let said = err.split_once(": ").map(|(_, e)| e.to_string()).unwrap_or_default();
            outcomes.push((ignored, status.signal(), status.code(), said));
        }
    }
    assert_eq!(outcomes[0], outcomes[1]);
    assert_eq!(outcomes[2], outcomes[3]);
    assert_eq!(outcomes[0].1, Some(libc::SIGPIPE), "{outcomes:?}");
    assert_eq!(outcomes[2].2, Some(111), "{outcomes:?}");
}

#[test]
fn ours_and_s6s_mix_both_ways() {
    let (_t, svc) = Tree::with_service();
    // Created by ours, seen and deleted by s6's.
    create(&svc, "ours");
    let cout = run(reference("s6-instance-list").arg(&svc));
    assert_eq!(cout.stdout, b"ours\n");
    let cout = run(reference("s6-instance-delete").arg(&svc).arg("ours"));
    assert_eq!(code(&cout), 0, "{}", stderr(&cout));
    assert!(!svc.join("instances/ours").exists());
    assert!(!svc.join("instance/ours").exists());
    // Created by s6's, seen and deleted by ours.
    let cout = run(reference("s6-instance-create").arg(&svc).arg("theirs"));
    assert_eq!(code(&cout), 0, "{}", stderr(&cout));
    let dir = svc.join("instances/theirs");
    let sup = supervisor_pid(&dir).expect("supervisor");
    assert_eq!(run(ours("s6-instance-list").arg(&svc)).stdout, b"theirs\n");
    let out = run(ours("s6-instance-delete").arg(&svc).arg("theirs"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(wait_until(Duration::from_millis(500), || !alive(sup)));
    assert!(!dir.exists());
    assert!(run(ours("s6-instance-list").arg(&svc)).stdout.is_empty());
    // Same shape on disk either way.
    create(&svc, "x");
    assert_eq!(code(&run(reference("s6-instance-create").arg(&svc).arg("y"))), 0);
    assert_eq!(
        std::fs::read_link(svc.join("instance/x")).unwrap(),
        Path::new("../instances/x")
    );
    assert_eq!(
        std::fs::read_link(svc.join("instance/y")).unwrap(),
        Path::new("../instances/y")
    );
    // But for ours's manifest of what came from the template, which s6's
    // programs ignore (see s6i-clone(1)).
    let mut x = entries(&svc.join("instances/x"));
    x.retain(|e| e != b".s6i-template");
    assert_eq!(x, entries(&svc.join("instances/y")));
}

#[test]
fn commands_work_with_a_bare_path() {
    let (_t, svc) = Tree::with_service();
    for prog in ["s6-instance-create", "s6-instance-delete"] {
        let out = run(ours(prog).env("PATH", "/nonexistent").arg(&svc).arg("p"));
        assert_eq!(code(&out), 0, "{prog}: {}", stderr(&out));
    }
    let out = run(ours("s6-instance-list").env_remove("PATH").arg(&svc));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
