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

/// Stop `victim`, start `cmd`, then kill `victim` while `cmd` waits on
/// it: the exit status of `cmd` if it ends within `limit`.
fn killed_midway(victim: Pid, cmd: &mut std::process::Command, limit: Duration) -> Option<std::process::ExitStatus> {
    // Stopped, the victim cannot answer; then it dies unasked.
    kill(victim, Signal::SIGSTOP).unwrap();
    let child = cmd.stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    kill(victim, Signal::SIGKILL).unwrap();
    ended_within(child, limit)
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
    let hidden = hidden_entries(&svc.join("instances"));
    assert!(hidden.is_empty(), "{hidden:?}");
    assert!(is_whole(&dir) && supervised(&dir));
}

#[test]
fn a_scanner_killed_during_create_is_an_error_not_a_hang() {
    let (t, svc) = Tree::with_service();
    let scanner = Pid::from_raw(t.nested_scanner(&svc));
    // A stopped scanner never answers: then it dies while create waits.
    // Its supervisor restarts it; the new scanner reads the poke or not:
    // either way create ends well before its timeout.
    let mut create = ours("s6-instance-create");
    create.args(["-t", "20000"]).arg(&svc).arg("x");
    let st = killed_midway(scanner, &mut create, Duration::from_secs(15)).expect("create hangs");
    assert!(matches!(st.code(), Some(0) | Some(99) | Some(111)), "{st:?}");
    if st.code() == Some(0) {
        assert!(supervised(&svc.join("instances/x")));
    } else {
        assert!(!svc.join("instances/x").exists());
    }
}

/// Run the first steps of a script's chain by hand, as if the chain had
/// been killed right after them.
fn chain_prefix(steps: &[&[&str]], svc: &Path) -> std::process::Output {
    let mut argv: Vec<std::ffi::OsString> = Vec::new();
    for step in steps {
        argv.push(bindir().join(step[0]).into());
        argv.extend(step[1..].iter().map(|a| a.into()));
        argv.push("--".into());
        argv.push(svc.into());
        if step[0] != "s6i-ensure" {
            argv.push("x".into());
        }
    }
    run(std::process::Command::new(&argv[0]).args(&argv[1..]))
}

/// After a chain killed between any two of its steps, the tree is either
/// without the instance (a create of it works) or has it whole, linked
/// and supervised; and a delete then leaves nothing, hidden or not.
#[test]
fn a_chain_killed_between_any_two_steps_leaves_a_sound_tree() {
    let (_t, svc) = Tree::with_service();
    let dir = svc.join("instances/x");
    let create: [&[&str]; 4] = [
        &["s6i-ensure", "-c"],
        &["s6i-clone"],
        &["s6i-link"],
        &["s6i-wait-supervise"],
    ];
    let delete: [&[&str]; 3] = [&["s6i-ensure"], &["s6i-unlink"], &["s6i-remove"]];
    let sound = |what: &str| {
        let listed = run(ours("s6-instance-list").arg(&svc)).stdout;
        if listed == b"x\n" {
            assert!(dir.join("run").is_file(), "{what}: listed but not whole");
            assert!(
                wait_until(Duration::from_secs(10), || supervised(&dir)),
                "{what}: listed but never supervised"
            );
        } else {
            assert!(listed.is_empty(), "{what}: {listed:?}");
            let out = run(ours("s6-instance-create").arg(&svc).arg("x"));
            assert_eq!(code(&out), 0, "{what}: create after: {}", stderr(&out));
        }
        let out = run(ours("s6-instance-delete").arg(&svc).arg("x"));
        assert_eq!(code(&out), 0, "{what}: delete after: {}", stderr(&out));
        assert!(entries(&svc.join("instances")).is_empty(), "{what}");
        assert_eq!(entries(&svc.join("instance")), vec![b".s6-svscan".to_vec()], "{what}");
    };
    for k in 1..create.len() {
        assert_eq!(code(&chain_prefix(&create[..k], &svc)), 0);
        sound(&format!("create killed after {}", create[k - 1][0]));
    }
    for k in 1..delete.len() {
        assert_eq!(code(&run(ours("s6-instance-create").arg(&svc).arg("x"))), 0);
        assert_eq!(code(&chain_prefix(&delete[..k], &svc)), 0);
        sound(&format!("delete killed after {}", delete[k - 1][0]));
    }
}

#[test]
fn a_supervisor_killed_during_delete_is_no_hang() {
    let (_t, svc) = Tree::with_service();
    assert_eq!(code(&run(ours("s6-instance-create").arg(&svc).arg("x"))), 0);
    let dir = svc.join("instances/x");
    let sup = Pid::from_raw(supervisor_pid(&dir).expect("supervisor"));
    // Stopped, it cannot act on the delete's `x`; then it dies unasked.
    let mut delete = ours("s6-instance-delete");
    delete.arg(&svc).arg("x");
    let st = killed_midway(sup, &mut delete, Duration::from_secs(10)).expect("delete hangs on a dead supervisor");
    assert_eq!(st.code(), Some(0));
    assert!(!dir.exists() && !svc.join("instance/x").exists());
}
