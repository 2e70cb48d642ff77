//! The Ansible playbook of examples/ansible, run by ansible-playbook
//! against this machine (`-i localhost, -c local`) on a real tree.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

fn playbook(tree: &Path, svc: &Path, set: &Path, check: bool) -> Output {
    let book = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/ansible/sync.yml");
    let home = tree.join("ansible-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new("/usr/bin/ansible-playbook");
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &home)
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
        .env("ANSIBLE_REMOTE_TEMP", home.join("tmp"))
        .args(["-i", "localhost,", "-c", "local"])
        .arg("-e")
        .arg(format!("service={}", svc.display()))
        .arg("-e")
        .arg(format!("set={}", set.display()))
        .arg("-e")
        .arg(format!("bindir={}", bindir().display()))
        .args(["-e", "ansible_python_interpreter=/usr/bin/python3"]);
    if check {
        cmd.arg("--check");
    }
    run_for(cmd.arg(book), Duration::from_secs(120))
}

/// The recap's counts for localhost: (ok, changed, failed).
fn recap(out: &Output) -> (u32, u32, u32) {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("localhost") && l.contains("changed="))
        .unwrap_or_else(|| panic!("no recap in: {text}"));
    let count = |key: &str| -> u32 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {line}"))
    };
    (count("ok="), count("changed="), count("failed="))
}

#[test]
fn the_playbook_plans_applies_and_then_has_nothing_to_do() {
    let (t, svc) = Tree::with_service();
    let set = t.path().join("worker.set");
    std::fs::write(&set, "# a pool of two\nw1 PORT=8001\nw2 PORT=8002\n").unwrap();
    let listed = || run(ours("s6-instance-list").arg(&svc)).stdout;

    // Check mode: the plan is not empty, so changed; nothing is done.
    let out = playbook(t.path(), &svc, &set, true);
    assert_eq!(recap(&out), (1, 1, 0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(listed().is_empty());

    // Applied: changed, and the instances are there with their ports.
    let out = playbook(t.path(), &svc, &set, false);
    assert_eq!(recap(&out), (1, 1, 0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(listed(), b"w1\nw2\n");
    for (n, port) in [("w1", "8001\n"), ("w2", "8002\n")] {
        let dir = svc.join("instances").join(n);
        assert_eq!(std::fs::read_to_string(dir.join("env/PORT")).unwrap(), port);
        assert!(wait_until(Duration::from_secs(10), || supervised(&dir)));
    }

    // Applied again: nothing to do.
    let out = playbook(t.path(), &svc, &set, false);
    assert_eq!(recap(&out), (1, 0, 0), "{}", String::from_utf8_lossy(&out.stdout));

    // One port changed: the check says changed, the apply changes it.
    std::fs::write(&set, "w1 PORT=8001\nw2 PORT=9002\n").unwrap();
    let out = playbook(t.path(), &svc, &set, true);
    assert_eq!(recap(&out), (1, 1, 0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        std::fs::read_to_string(svc.join("instances/w2/env/PORT")).unwrap(),
        "8002\n"
    );
    let out = playbook(t.path(), &svc, &set, false);
    assert_eq!(recap(&out), (1, 1, 0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        std::fs::read_to_string(svc.join("instances/w2/env/PORT")).unwrap(),
        "9002\n"
    );
}
