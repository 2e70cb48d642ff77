//! A sync built by hand from its steps (s6i-plan, s6i-waves, the create
//! and delete steps, s6i-env -S, s6i-change), run by execlineb against
//! a real tree: what each step hands on, what it says, what is left.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// execlineb running `script`, in which `@` stands for our steps'
/// directory, with the service as $1 and execline's programs in PATH.
fn chain(script: &str, svc: &Path) -> Command {
    let script = script.replace('@', &format!("{}/", bindir().display()));
    let mut c = program("/usr/lib/execline/bin/execlineb");
    c.env_clear()
        .env("PATH", "/usr/lib/execline/bin:/usr/bin:/bin")
        .arg("-Ws1")
        .arg("-c")
        .arg(script)
        .arg(svc);
    c
}

const SYNC: &str = "
@s6i-plan -p 2 -f ${1}/../set -- $1 { }
@s6i-unlink -e -- $1 { $first }
@s6i-remove -ev -- $1 { $first }
@s6i-waves -p 2 { $create } {
  @s6i-clone -- $1 { $wave }
  @s6i-env $set -- $1 { $wave }
  @s6i-link -- $1 { $wave }
  @s6i-wait-supervise -v -t 10000 $up -- $1 { $wave }
}
@s6i-waves { $change } { @s6i-change -v -R none $set -- $1 { $wave } }
@s6i-unlink -e -- $1 { $delete }
@s6i-remove -ev -- $1 { $delete }
";

fn env_of(svc: &Path, name: &str, key: &str) -> String {
    std::fs::read_to_string(svc.join("instances").join(name).join("env").join(key)).unwrap_or_default()
}

#[test]
fn a_sync_made_of_steps_does_what_the_command_does() {
    let (t, svc) = Tree::with_service();
    let set = t.path().join("set");
    assert_eq!(code(&run(ours("s6-instance-create").arg(&svc).arg("old"))), 0);
    std::fs::write(&set, "a K=1\nb K=2\nc\n").unwrap();
    // The plan alone: printed, nothing done, the rest not run.
    let out = run(&mut chain(&SYNC.replace("-p 2 -f", "-n -p 2 -f"), &svc));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "+a\n+b\n+c\n-old\n");
    assert_eq!(entries(&svc.join("instances")), vec![b"old".to_vec()]);
    // For real: each wave said once its supervisors run, then the delete.
    let out = run(&mut chain(SYNC, &svc));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "+a\n+b\n+c\n-old\n");
    for n in ["a", "b", "c"] {
        assert!(supervised(&svc.join("instances").join(n)), "{n}");
    }
    assert_eq!(
        (env_of(&svc, "a", "K"), env_of(&svc, "b", "K")),
        ("1\n".into(), "2\n".into())
    );
    assert!(!svc.join("instances/old").exists() && !svc.join("instance/old").exists());
    // A change: only b's env/ differs; said with ~, nothing else done.
    std::fs::write(&set, "a K=1\nb K=3\nc\n").unwrap();
    let out = run(&mut chain(SYNC, &svc));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "~b\n");
    assert_eq!(env_of(&svc, "b", "K"), "3\n");
    // Nothing to do: every list empty, every step passes.
    let out = run(&mut chain(SYNC, &svc));
    assert_eq!((code(&out), out.stdout.len()), (0, 0), "{}", stderr(&out));
    // Bad input stops the plan: nothing done, exit 100.
    std::fs::write(&set, "a\nx/y\n").unwrap();
    let out = run(&mut chain(SYNC, &svc));
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    assert!(stderr(&out).contains("invalid set line 2"), "{}", stderr(&out));
    assert_eq!(entries(&svc.join("instance")).len(), 4);
    // So does an -R that s6i-change would refuse: checked by the plan.
    std::fs::write(&set, "d\n").unwrap();
    let out = run(&mut chain(&SYNC.replace("-p 2 -f", "-R BOGUS -p 2 -f"), &svc));
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    assert_eq!(entries(&svc.join("instance")).len(), 4);
    assert!(!svc.join("instances/d").exists());
}

#[test]
fn an_empty_list_is_nothing_to_do_only_where_e_says_so() {
    let (_t, svc) = Tree::with_service();
    for step in [
        "s6i-clone",
        "s6i-link",
        "s6i-wait-supervise",
        "s6i-unlink",
        "s6i-remove",
    ] {
        let out = run(program(bindir().join(step)).args(["-e", "--"]).arg(&svc).arg(""));
        assert_eq!(code(&out), 0, "{step}: {}", stderr(&out));
        let out = run(program(bindir().join(step)).arg("--").arg(&svc).arg(""));
        assert_eq!(code(&out), 100, "{step}: {}", stderr(&out));
    }
    assert_eq!(entries(&svc.join("instance")), vec![b".s6-svscan".to_vec()]);
}

#[test]
fn a_wave_killed_leaves_no_process_running_on() {
    // The waves run in the chain's own process: killing it stops them.
    let (t, svc) = Tree::with_service();
    std::fs::write(
        t.path().join("set"),
        (0..40).map(|i| format!("n{i}\n")).collect::<String>(),
    )
    .unwrap();
    let mut c = chain(&SYNC.replace("-p 2", "-p 1"), &svc);
    kill_after(&mut c, std::time::Duration::from_millis(30));
    let before = entries(&svc.join("instances")).len();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(entries(&svc.join("instances")).len(), before);
    // And the next sync finishes the work.
    let out = run(&mut chain(SYNC, &svc));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(entries(&svc.join("instance")).len(), 41);
}
