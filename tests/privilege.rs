//! An unprivileged user against a root-owned instanced service.

mod common;

use std::process::Command;

use common::*;

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

/// The tree is root's, but the user may walk through it.
fn walkable(t: &Tree) {
    std::fs::set_permissions(t.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

#[test]
fn an_unprivileged_user_changes_nothing() {
    let Some(user) = test_user() else { return };
    let (t, svc) = Tree::with_service();
    walkable(&t);
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

#[test]
fn a_template_file_the_user_cannot_read_makes_no_instance() {
    let Some(user) = test_user() else { return };
    let (t, svc) = Tree::with_service();
    walkable(&t);
    // The user may make instances, but one template file is root's alone.
    let uid = nix::unistd::User::from_name(user).unwrap().unwrap().uid;
    for d in ["instances", "instance"] {
        nix::unistd::chown(&svc.join(d), Some(uid), None).unwrap();
    }
    // ... and may see that the nested scanner runs.
    for (p, mode) in [("instance/.s6-svscan", 0o755), ("instance/.s6-svscan/lock", 0o644)] {
        std::fs::set_permissions(svc.join(p), std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }
    let secret = svc.join("template/secret");
    std::fs::write(&secret, "root only\n").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = run(ours_as(user, "s6-instance-create").arg(&svc).arg("b"));
    assert_eq!(code(&out), 111, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("s6-instance-create: fatal: unable to copy ")
            && stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
    // Nothing half-made, not even hidden; s6's program would have made
    // the instance without the file.
    assert!(entries(&svc.join("instances")).is_empty());
    assert_eq!(entries(&svc.join("instance")), vec![b".s6-svscan".to_vec()]);
}

#[test]
fn with_dash_p_anyone_may_wait_on_an_instance() {
    let Some(user) = test_user() else { return };
    let (t, svc) = Tree::with_service();
    walkable(&t);
    assert_eq!(code(&run(ours("s6-instance-create").arg("-P").arg(&svc).arg("pub"))), 0);
    assert_eq!(code(&run(ours("s6-instance-create").arg(&svc).arg("priv"))), 0);
    for name in ["pub", "priv"] {
        let dir = svc.join("instances").join(name);
        assert!(wait_until(std::time::Duration::from_secs(5), || status(&dir).0 != 0));
    }
    // Waiting needs a FIFO in event/ (a public fifodir lets anyone make
    // one, a private one only its group) and a readable supervise/status
    // (s6-supervise keeps supervise/ to its owner): the user gets what
    // s6's programs give, code for code.
    for name in ["pub", "priv"] {
        let args = ["-wu", "-T", "3000"];
        let out = run(ours_as(user, "s6-instance-control").args(args).arg(&svc).arg(name));
        let cout = run(reference_as(user, "s6-instance-control").args(args).arg(&svc).arg(name));
        assert_eq!(
            code(&out),
            code(&cout),
            "{name}: ours {} / s6 {}",
            stderr(&out),
            stderr(&cout)
        );
        let out = run(ours_as(user, "s6-instance-status")
            .args(["-o", "up"])
            .arg(&svc)
            .arg(name));
        let cout = run(reference_as(user, "s6-instance-status")
            .args(["-o", "up"])
            .arg(&svc)
            .arg(name));
        assert_eq!((code(&out), &out.stdout), (code(&cout), &cout.stdout), "{name}");
    }
    // With supervise/ opened to others, as an admin would for such
    // users, the public instance can be waited on and the private not.
    for name in ["pub", "priv"] {
        let sup = svc.join("instances").join(name).join("supervise");
        std::fs::set_permissions(&sup, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    for (name, expect) in [("pub", 0), ("priv", 111)] {
        let args = ["-wu", "-T", "3000"];
        let cout = run(reference_as(user, "s6-instance-control").args(args).arg(&svc).arg(name));
        let out = run(ours_as(user, "s6-instance-control").args(args).arg(&svc).arg(name));
        assert_eq!(code(&cout), expect, "{name}: s6: {}", stderr(&cout));
        assert_eq!(code(&out), expect, "{name}: {}", stderr(&out));
    }
    // No listener of the user's is left behind in either fifodir.
    for name in ["pub", "priv"] {
        let left: Vec<_> = entries(&svc.join("instances").join(name).join("event"))
            .into_iter()
            .filter(|e| e.starts_with(b"ftrig1"))
            .collect();
        assert!(left.is_empty(), "{name}: {left:?}");
    }
}

/// Everything under `dir`, with modes and owners, for "nothing changed".
fn snapshot(dir: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    for name in entries(dir) {
        let p = dir.join(os(&name));
        let md = std::fs::symlink_metadata(&p).unwrap();
        out.push(format!(
            "{:?} {:o} {}:{}",
            p.strip_prefix(dir).unwrap(),
            md.mode(),
            md.uid(),
            md.gid()
        ));
        if md.is_dir() {
            out.extend(
                snapshot(&p)
                    .into_iter()
                    .map(|l| format!("{:?}/{l}", String::from_utf8_lossy(&name))),
            );
        }
    }
    out
}

#[test]
fn a_member_of_the_services_group_may_do_what_s6_allows() {
    let Some(user) = test_user() else { return };
    let group = nix::unistd::User::from_name(user).unwrap().unwrap().gid;
    let group_name = nix::unistd::Group::from_gid(group).unwrap().unwrap().name;
    let (t, svc) = Tree::with_service();
    walkable(&t);
    for name in ["ours", "c"] {
        let create = if name == "ours" {
            ours("s6-instance-create")
        } else {
            reference("s6-instance-create")
        };
        assert_eq!(code(&run({ create }.arg(&svc).arg(name))), 0);
        // s6-svperms: the group may read the status, control the
        // supervisor and subscribe to its events.
        let dir = svc.join("instances").join(name);
        let out = run(reference("s6-svperms")
            .args(["-G", &group_name, "-E", &group_name])
            .arg(&dir));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    // Each suite, on its own instance and on the other's.
    for name in ["ours", "c"] {
        for args in [
            &["-d", "-wD", "-T", "5000"][..],
            &["-u", "-wu", "-T", "5000"],
            &["-r", "-wr", "-T", "5000"],
        ] {
            let out = run(ours_as(user, "s6-instance-control").args(args).arg(&svc).arg(name));
            let cout = run(reference_as(user, "s6-instance-control").args(args).arg(&svc).arg(name));
            assert_eq!(
                (code(&out), code(&cout)),
                (0, 0),
                "{name} {args:?}: ours {} / C {}",
                stderr(&out),
                stderr(&cout)
            );
        }
        let dir = svc.join("instances").join(name);
        assert!(wait_until(std::time::Duration::from_secs(10), || status(&dir).0 != 0));
        let out = run(ours_as(user, "s6-instance-status")
            .args(["-o", "up,wantedup"])
            .arg(&svc)
            .arg(name));
        let cout = run(reference_as(user, "s6-instance-status")
            .args(["-o", "up,wantedup"])
            .arg(&svc)
            .arg(name));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!((out.stdout, code(&cout)), (b"true true\n".to_vec(), 0));
        assert_eq!(cout.stdout, b"true true\n");
    }
    // The group was not given the service itself: creating, deleting and
    // listing stay root's, with s6's codes and a clear reason.
    let before = snapshot(&svc);
    for (prog, args) in [
        ("s6-instance-create", &["x"][..]),
        ("s6-instance-delete", &["ours"]),
        ("s6-instance-list", &[]),
    ] {
        let out = run(ours_as(user, prog).arg(&svc).args(args));
        let cout = run(reference_as(user, prog).arg(&svc).args(args));
        assert_eq!(
            code(&out),
            code(&cout),
            "{prog}: ours {} / C {}",
            stderr(&out),
            stderr(&cout)
        );
        assert_ne!(code(&out), 0, "{prog}");
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!("{prog}: fatal: unable to ")) && err.contains("Permission denied"),
            "{prog}: {err}"
        );
    }
    assert_eq!(snapshot(&svc), before);
}
