//! Commands killed with SIGKILL at random points of their chain.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const FILES: usize = 1500;

fn big_template(tpl: &Path) {
    sleeper_template(tpl);
    std::fs::create_dir(tpl.join("data")).unwrap();
    for i in 0..FILES {
        std::fs::write(tpl.join("data").join(format!("f{i}")), "some data\n").unwrap();
    }
}

fn is_whole(dir: &Path) -> bool {
    dir.join("run").is_file() && std::fs::read_dir(dir.join("data")).map(|d| d.count()).unwrap_or(0) == FILES
}

/// Start `cmd`, SIGKILL it after `delay`, reap it.
fn kill_after(cmd: &mut std::process::Command, delay: Duration) {
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

#[test]
fn killed_creates_and_deletes_leave_nothing_half_made() {
    let t = Tree::new();
    let svc = t.service("svc", big_template);
    let dir = svc.join("instances/x");
    let link = svc.join("instance/x");
    let mut seed = 12345u64;
    for round in 0..25 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let delay = Duration::from_micros(seed >> 33 & 0x7fff);
        kill_after(ours("s6-instance-create").arg(&svc).arg("x"), delay);
        // Whatever the moment: no half-made instance, nothing hidden listed.
        assert!(
            !dir.exists() || is_whole(&dir),
            "round {round}: half-made instance after {delay:?}"
        );
        assert!(
            !link.exists() || is_whole(&dir),
            "round {round}: link to a half-made instance"
        );
        let listed = run(ours("s6-instance-list").arg(&svc)).stdout;
        assert!(listed.is_empty() || listed == b"x\n", "round {round}: {listed:?}");
        // A delete, itself killed half the time, then a whole one, put the
        // tree back in order.
        if round % 2 == 1 {
            kill_after(ours("s6-instance-delete").arg(&svc).arg("x"), delay / 4);
            assert!(
                !dir.exists() || is_whole(&dir),
                "round {round}: delete left a half-removed instance"
            );
        }
        let out = run(ours("s6-instance-delete").arg(&svc).arg("x"));
        assert_eq!(code(&out), 0, "round {round}: {}", stderr(&out));
        assert!(!dir.exists() && !link.exists());
    }
    // The next create sweeps the copies that killed creates left.
    let out = run(ours("s6-instance-create").arg(&svc).arg("x"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let hidden: Vec<_> = entries(&svc.join("instances"))
        .into_iter()
        .filter(|e| e.starts_with(b"."))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
    assert!(is_whole(&dir) && supervised(&dir));
}

#[test]
fn a_scanner_killed_during_create_is_an_error_not_a_hang() {
    let (t, svc) = Tree::with_service();
    let scanner = Pid::from_raw(t.nested_scanner(&svc));
    // A stopped scanner never answers: then it dies while create waits.
    kill(scanner, Signal::SIGSTOP).unwrap();
    let mut child = ours("s6-instance-create")
        .args(["-t", "20000"])
        .arg(&svc)
        .arg("x")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    kill(scanner, Signal::SIGKILL).unwrap();
    // Its supervisor restarts it; the new scanner reads the poke or not:
    // either way create ends well before its timeout.
    let pid = child.id() as i32;
    let ended = wait_until(Duration::from_secs(15), || child.try_wait().ok().flatten().is_some());
    if !ended {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let st = child.wait().unwrap();
    assert!(ended, "create hangs");
    assert!(matches!(st.code(), Some(0) | Some(99) | Some(111)), "{st:?}");
    if st.code() == Some(0) {
        assert!(supervised(&svc.join("instances/x")));
    } else {
        assert!(!svc.join("instances/x").exists());
    }
}
