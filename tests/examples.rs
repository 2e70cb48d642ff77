//! The examples, run as their headers say.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

/// An example script, run with our steps in PATH.
fn example(name: &str) -> Command {
    let mut c = Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples").join(name));
    c.env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bindir().display()));
    c
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("n{i}")).collect()
}

#[test]
fn create_many_and_delete_many() {
    let (_t, svc) = Tree::with_service();
    let out = run(example("create-many").arg(&svc).args(names(20)));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for n in names(20) {
        assert!(supervised(&svc.join("instances").join(&n)), "{n}");
    }
    let listed = run(ours("s6-instance-list").arg(&svc)).stdout;
    assert_eq!(listed.iter().filter(|&&b| b == b'\n').count(), 20);
    let out = run(example("delete-many").arg(&svc).args(&names(20)[..15]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(entries(&svc.join("instances")).len(), 5);
    assert_eq!(entries(&svc.join("instance")).len(), 6);
}

#[test]
fn create_many_is_all_or_nothing() {
    let (_t, svc) = Tree::with_service();
    assert_eq!(code(&run(ours("s6-instance-create").arg(&svc).arg("n3"))), 0);
    // n3 exists: nothing else is created.
    let out = run(example("create-many").arg(&svc).args(names(6)));
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    assert_eq!(entries(&svc.join("instances")), vec![b"n3".to_vec()]);
    // A bad name anywhere in the list: nothing is created either.
    let out = run(example("create-many").arg(&svc).args(["a", "b", "c/d"]));
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    assert_eq!(entries(&svc.join("instances")), vec![b"n3".to_vec()]);
    // A timeout undoes every one of them.
    let scanner = nix::unistd::Pid::from_raw(status(&svc).0 as i32);
    nix::sys::signal::kill(scanner, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let out = run(example("create-many")
        .args(["-t", "300"])
        .arg(&svc)
        .args(["x", "y", "z"]));
    nix::sys::signal::kill(scanner, nix::sys::signal::Signal::SIGCONT).unwrap();
    assert_eq!(code(&out), 99, "{}", stderr(&out));
    assert_eq!(entries(&svc.join("instances")), vec![b"n3".to_vec()]);
    assert_eq!(
        entries(&svc.join("instance")),
        vec![b".s6-svscan".to_vec(), b"n3".to_vec()]
    );
}
