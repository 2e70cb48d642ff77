//! An unprivileged user against a root-owned instanced service.

mod common;

use std::process::Command;

use common::*;

const USER: &str = "s6itest";

/// A system user to drop to, or None (with the reason printed) when the
/// tests do not run as root and cannot make one.
fn user() -> Option<&'static str> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("privilege tests skipped: they need root to add a user and drop to it");
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

/// One of our commands, run as `user`.
fn ours_as(user: &str, prog: &str) -> Command {
    let mut c = reference("s6-setuidgid");
    c.arg(user).arg(bindir().join(prog));
    c
}

fn reference_as(user: &str, prog: &str) -> Command {
    let mut c = reference("s6-setuidgid");
    c.arg(user).arg(std::path::Path::new("/usr/bin").join(prog));
    c
}

#[test]
fn an_unprivileged_user_changes_nothing() {
    let Some(user) = user() else { return };
    let (t, svc) = Tree::with_service();
    // The tree is root's, but the user may walk through it.
    let mut perm = std::fs::metadata(t.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(t.path(), perm).unwrap();
    assert_eq!(code(&run(ours("s6-instance-create").arg(&svc).arg("a"))), 0);
    let before = (entries(&svc.join("instances")), entries(&svc.join("instance")));

    let out = run(ours_as(user, "s6-instance-create").arg(&svc).arg("b"));
    let cout = run(reference_as(user, "s6-instance-create").arg(&svc).arg("c"));
    assert_eq!((code(&out), code(&cout)), (111, 111), "{}", stderr(&out));
    assert!(stderr(&out).contains("Permission denied"), "{}", stderr(&out));

    let out = run(ours_as(user, "s6-instance-delete").arg(&svc).arg("a"));
    assert_eq!(code(&out), 111, "{}", stderr(&out));
    assert!(stderr(&out).contains("Permission denied"), "{}", stderr(&out));

    for args in [&["-d"][..], &["-d", "-wd", "-T", "1000"]] {
        let out = run(ours_as(user, "s6-instance-control").args(args).arg(&svc).arg("a"));
        let cout = run(reference_as(user, "s6-instance-control").args(args).arg(&svc).arg("a"));
        assert_eq!(
            code(&out),
            code(&cout),
            "{args:?}: ours {} / C {}",
            stderr(&out),
            stderr(&cout)
        );
        assert_ne!(code(&out), 0);
    }
    let out = run(ours_as(user, "s6-instance-status").arg(&svc).arg("a"));
    let cout = run(reference_as(user, "s6-instance-status").arg(&svc).arg("a"));
    assert_eq!(code(&out), code(&cout), "ours {} / C {}", stderr(&out), stderr(&cout));
    let out = run(ours_as(user, "s6-instance-list").arg(&svc));
    let cout = run(reference_as(user, "s6-instance-list").arg(&svc));
    assert_eq!((code(&out), out.stdout), (code(&cout), cout.stdout));

    assert_eq!(
        (entries(&svc.join("instances")), entries(&svc.join("instance"))),
        before
    );
    assert!(supervised(&svc.join("instances/a")));
    assert!(
        status(&svc.join("instances/a")).0 != 0
            || wait_until(std::time::Duration::from_secs(5), || status(&svc.join("instances/a")).0
                != 0)
    );
}
