//! Concurrency: many commands at once on one instanced service, and a
//! storm of random ones, after which the tree must be consistent.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait for all children, each with a deadline; their exit codes.
fn codes(children: Vec<Child>) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(60);
    children
        .into_iter()
        .map(|mut c| loop {
            if let Some(st) = c.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(c.stderr.as_mut().unwrap(), &mut err).unwrap();
                assert!(!err.contains("panicked"), "{err}");
                // Shown when a test fails: what each refusal said.
                if !err.is_empty() {
                    eprintln!("exit {:?}: {err}", st.code());
                }
                break st.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("a command hangs");
            }
            std::thread::sleep(Duration::from_millis(5));
        })
        .collect()
}

fn supervisors_in(dir: &Path) -> usize {
    pids_in(dir).into_iter().filter(|&p| comm(p) == "s6-supervise").count()
}

/// Every instance whole, linked and supervised once; every link leads to
/// an instance; no hidden leftovers; no listener FIFO left behind.
fn assert_consistent(svc: &Path) {
    let instances = svc.join("instances");
    for name in entries(&instances) {
        assert_ne!(
            name.first(),
            Some(&b'.'),
            "leftover {:?}",
            String::from_utf8_lossy(&name)
        );
        let dir = instances.join(os(&name));
        assert!(dir.join("run").is_file(), "{dir:?} is not whole");
        if !svc.join("instance").join(os(&name)).exists() {
            // A delete that timed out leaves its instance unlinked and
            // marked, for the next delete or create of the name.
            assert!(dir.join(".s6i-pending").is_file(), "{dir:?} has no link and no mark");
            continue;
        }
        assert!(
            wait_until(Duration::from_secs(5), || supervisors_in(&dir) == 1),
            "{dir:?}: {} supervisors",
            supervisors_in(&dir)
        );
        let fifos: Vec<_> = entries(&dir.join("event"))
            .into_iter()
            .filter(|e| e.starts_with(b"ftrig1"))
            .collect();
        assert!(fifos.is_empty(), "{dir:?}/event: {fifos:?}");
    }
    for link in entries(&svc.join("instance")) {
        if link.first() != Some(&b'.') {
            assert!(
                instances.join(os(&link)).is_dir(),
                "dangling link {:?}",
                String::from_utf8_lossy(&link)
            );
        }
    }
}

#[test]
fn same_name_creates_have_one_winner() {
    let (_t, svc) = Tree::with_service();
    for round in 0..5 {
        let name = format!("r{round}");
        let children: Vec<Child> = (0..32)
            .map(|_| spawn(ours("s6-instance-create").arg(&svc).arg(&name)))
            .collect();
        let mut got = codes(children);
        got.sort();
        assert_eq!(got[0], 0, "round {round}: {got:?}");
        assert!(got[1..].iter().all(|&c| c == 100), "round {round}: {got:?}");
        assert_consistent(&svc);
    }
}

#[test]
fn different_name_creates_all_succeed() {
    let (_t, svc) = Tree::with_service();
    let children: Vec<Child> = (0..64)
        .map(|i| spawn(ours("s6-instance-create").arg(&svc).arg(format!("n{i}"))))
        .collect();
    let got = codes(children);
    assert!(got.iter().all(|&c| c == 0), "{got:?}");
    assert_eq!(entries(&svc.join("instances")).len(), 64);
    assert_consistent(&svc);
    let children: Vec<Child> = (0..64)
        .map(|i| spawn(ours("s6-instance-delete").arg(&svc).arg(format!("n{i}"))))
        .collect();
    let got = codes(children);
    assert!(got.iter().all(|&c| c == 0), "{got:?}");
    assert!(entries(&svc.join("instances")).is_empty());
    assert_eq!(entries(&svc.join("instance")), vec![b".s6-svscan".to_vec()]);
}

#[test]
fn a_storm_leaves_a_consistent_tree() {
    let (_t, svc) = Tree::with_service();
    let names = ["a", "b", "c", "d", "e"];
    let stop = Instant::now() + Duration::from_secs(6);
    let workers: Vec<std::thread::JoinHandle<Vec<i32>>> = (0..4u64)
        .map(|w| {
            let svc = svc.clone();
            std::thread::spawn(move || {
                let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ (w + 1);
                let mut got = Vec::new();
                while Instant::now() < stop {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let name = names[(seed % 5) as usize];
                    let (prog, opts): (&str, &[&str]) = match (seed >> 8) % 4 {
                        0 | 1 => ("s6-instance-create", &["-t", "5000"]),
                        2 => ("s6-instance-control", &["-r", "-wu", "-T", "3000"]),
                        _ => ("s6-instance-delete", &["-t", "5000"]),
                    };
                    let mut cmd = ours(prog);
                    cmd.args(opts).arg(&svc).arg(name);
                    got.extend(codes(vec![spawn(&mut cmd)]));
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.join().unwrap());
    }
    assert!(all.len() > 20, "the storm was too quiet: {}", all.len());
    // Creates refused as duplicates (100), controls of what is gone (100,
    // 111, 1), and controls that lost their instance mid-wait (1, 99) are
    // all fair outcomes; a panic or anything else is not.
    assert!(all.iter().all(|c| [0, 1, 99, 100, 111].contains(c)), "{all:?}");
    assert_consistent(&svc);
}

/// Hold `instances/` locked, as the other one of a create and a delete
/// of the same name does for its look and its change: a flock on our
/// root-only `instances/.s6i-work`, made as our commands make it.
fn hold_instances(svc: &Path) -> std::fs::File {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::DirBuilderExt;
    let work = svc.join("instances/.s6i-work");
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&work);
    let f = std::fs::File::open(&work).unwrap();
    // SAFETY: f is an open descriptor.
    assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
    f
}

/// Whether process `pid` waits for a lock: a `->` line of /proc/locks.
fn waits_for_lock(pid: u32) -> bool {
    let locks = std::fs::read_to_string("/proc/locks").unwrap();
    locks.lines().any(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.get(1) == Some(&"->") && w.get(5) == Some(&pid.to_string().as_str())
    })
}

/// Run a step that must come to the lock, do `meanwhile` while it waits
/// there, then let it go; its output.
fn step_held_at_lock(svc: &Path, step: &mut Command, meanwhile: impl FnOnce()) -> std::process::Output {
    let held = hold_instances(svc);
    let mut child = step
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = wait_until(Duration::from_secs(10), || waits_for_lock(child.id()));
    if !waiting {
        let _ = child.kill();
    }
    assert!(waiting, "the step never waited for the lock");
    meanwhile();
    drop(held);
    let ended = wait_until(Duration::from_secs(10), || child.try_wait().ok().flatten().is_some());
    if !ended {
        let _ = child.kill();
    }
    assert!(ended, "the step hangs");
    child.wait_with_output().unwrap()
}

/// A delete's removal that lands between a create's preparation and its
/// link: the create links nothing, rather than a link leading nowhere.
#[test]
fn a_link_after_the_directory_went_is_not_made() {
    let (_t, svc) = Tree::with_service();
    // -p: a copy at its name, which a chain may write into by path.
    let out = run(program(bindir().join("s6i-clone"))
        .args(["-p", "--"])
        .arg(&svc)
        .arg("x"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let dir = svc.join("instances/x");
    let out = step_held_at_lock(
        &svc,
        program(bindir().join("s6i-link")).arg("--").arg(&svc).arg("x"),
        || std::fs::remove_dir_all(&dir).unwrap(),
    );
    assert_eq!(code(&out), 111, "{}", stderr(&out));
    assert!(stderr(&out).contains("instance deleted meanwhile"), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(svc.join("instance/x")).is_err());
    assert_consistent(&svc);
}

/// A create of the same name between a delete's unlink and its removal:
/// the unlink put the old directory aside, so the name is free at once
/// for the create (ours, or s6's own), and the removal takes only the
/// old tree, never the new instance.
#[test]
fn a_create_between_an_unlink_and_its_removal_keeps_the_new_instance() {
    let (_t, svc) = Tree::with_service();
    for create in [ours("s6-instance-create"), reference("s6-instance-create")] {
        let mut create = create;
        assert_eq!(code(&run(ours("s6-instance-create").arg(&svc).arg("x"))), 0);
        // The old one is told by a file of its own (an inode number may
        // be reused at once).
        std::fs::write(svc.join("instances/x/old"), "").unwrap();
        let out = run(program(bindir().join("s6i-unlink")).arg("--").arg(&svc).arg("x"));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(!svc.join("instances/x").exists(), "the name is not free");
        let out = run(create.args(["-t", "10000"]).arg(&svc).arg("x"));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let out = run(program(bindir().join("s6i-remove")).arg("--").arg(&svc).arg("x"));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(stderr(&out).contains("it is linked again"), "{}", stderr(&out));
        assert!(svc.join("instances/x/run").is_file());
        assert!(!svc.join("instances/x/old").exists(), "the old tree is at the name");
        assert!(wait_until(Duration::from_secs(10), || supervisors_in(
            &svc.join("instances/x")
        ) == 1));
        assert_consistent(&svc);
        assert_eq!(code(&run(ours("s6-instance-delete").arg(&svc).arg("x"))), 0);
    }
}
