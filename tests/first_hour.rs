//! An operator's first hour: what a delete keeps, messages that say what
//! is wrong, a maker that refuses what cannot run, bulk control and
//! status, and the installed examples.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const EL: &str = "/usr/lib/execline/bin";

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// An example as `make install` put it, with a PATH that has execline's
/// programs and s6's, and none of ours.
fn installed_example(name: &str) -> Command {
    let dir = bindir().parent().unwrap().join("share/doc/s6-instance-steps/examples");
    let mut c = program(dir.join(name));
    c.env_clear().env("PATH", format!("{EL}:/usr/bin:/bin"));
    c
}

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
fn a_deleted_instance_finish_output_reaches_the_log() {
    let t = Tree::new();
    let (dir, logdir) = (t.path().join("web"), t.path().join("log"));
    let out = run(installed_example("logged-service")
        .arg(examples_dir().join("logged-template"))
        .arg(&logdir)
        .arg(&dir)
        .arg(t.path().join("scan")));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let names = ["one", "two", "three"];
    for name in names {
        create(&dir, name);
    }
    for name in names {
        let out = run(ours("s6-instance-delete").arg(&dir).arg(name));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let logged = || std::fs::read_to_string(logdir.join("current")).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(10), || names
            .iter()
            .all(|n| logged().contains(&format!("{n}: finished\n")))),
        "log: {:?}",
        logged()
    );
}

#[test]
fn a_logger_per_instance() {
    let t = Tree::new();
    let (dir, logroot) = (t.path().join("q"), t.path().join("logs"));
    let out = run(installed_example("logged-per-instance")
        .arg(examples_dir().join("per-instance-template"))
        .arg(&logroot)
        .arg(&dir)
        .arg(t.path().join("scan")));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for name in ["one", "two"] {
        create(&dir, name);
        assert!(supervised(&dir.join("instances").join(name).join("log")));
    }
    for name in ["one", "two"] {
        let current = logroot.join(name).join("current");
        assert!(
            wait_until(Duration::from_secs(10), || std::fs::read_to_string(&current)
                .unwrap_or_default()
                .contains(&format!("{name}: started\n"))),
            "{current:?}"
        );
    }
    let out = run(ours("s6-instance-delete").arg(&dir).arg("one"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn messages_say_what_is_wrong() {
    let (t, svc) = Tree::with_service();
    create(&svc, "a");
    let said = |prog: &str, args: &[&std::ffi::OsStr]| {
        let out = run(ours(prog).args(args));
        (code(&out), stderr(&out))
    };
    let s = svc.as_os_str();
    assert_eq!(
        said("s6-instance-create", &[s, "gamma delta".as_ref()]),
        (
            100,
            "s6-instance-create: fatal: invalid instance name: \"gamma delta\"\n".to_string()
        )
    );
    assert_eq!(
        said("s6-instance-delete", &[s, "".as_ref()]),
        (
            100,
            "s6-instance-delete: fatal: invalid instance name: \"\"\n".to_string()
        )
    );
    // A mistyped path, the scan directory above: no instanced service.
    for wrong in [t.path().join("svcc"), t.path().join("scan")] {
        let (c, e) = said("s6-instance-list", &[wrong.as_os_str()]);
        assert_eq!(
            (c, e),
            (
                111,
                format!(
                    "s6-instance-list: fatal: not an instanced service: {}\n",
                    wrong.display()
                )
            )
        );
    }
    // A timeout names the instance and what was waited for.
    let (c, e) = said(
        "s6-instance-control",
        &["-wd".as_ref(), "-T".as_ref(), "300".as_ref(), s, "a".as_ref()],
    );
    assert_eq!(c, 99);
    assert_eq!(
        e,
        format!(
            "s6-instance-control: fatal: timed out waiting for down on {}/instance/a\n",
            svc.display()
        )
    );
    // No warning about readiness before the error that matters.
    let (c, e) = said(
        "s6-instance-control",
        &["-wU".as_ref(), "-T".as_ref(), "1000".as_ref(), s, "nosuch".as_ref()],
    );
    assert_eq!(c, 111);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("nosuch: No such file or directory"), "{e}");
}

#[test]
fn the_maker_refuses_a_template_that_cannot_run() {
    let t = Tree::new();
    let tpl = t.path().join("tpl");
    std::fs::create_dir(&tpl).unwrap();
    let made = t.path().join("made");
    let make = |extra: &[&str]| run(ours("s6-instance-maker").args(extra).arg(&tpl).arg(&made));
    // No run at all, then one that cannot be executed.
    let out = make(&[]);
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    assert!(stderr(&out).contains("run does not exist"), "{}", stderr(&out));
    std::fs::write(tpl.join("run"), "#!/bin/true\n").unwrap();
    let out = make(&[]);
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    assert!(stderr(&out).contains("run is not executable"), "{}", stderr(&out));
    assert!(!made.exists(), "a refused template left {made:?}");
    // Executable: made, with a warning for a user unknown here.
    write_script(&tpl.join("run"), "/usr/bin/sleep 3600");
    let out = make(&["-u", "s6i-nosuchuser", "-l", "daemon", "-L", "/var/log/x"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "s6-instance-maker: warning: user s6i-nosuchuser is not in /etc/passwd here: the run scripts need it where they run\n"
    );
    assert!(made.join("template/run").is_file());
}

/// A block of names as execlineb hands it to a step: each name behind a
/// space, then an empty word.
fn block(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!(" {n}")).chain([String::new()]).collect()
}

#[test]
fn signal_and_status_take_a_block_of_names() {
    let (_t, svc) = Tree::with_service();
    for name in ["a", "b", "c"] {
        create(&svc, name);
    }
    let pids: Vec<u64> = ["a", "b"]
        .iter()
        .map(|n| status(&svc.join("instances").join(n)).0)
        .collect();
    let out = run(program(bindir().join("s6i-signal"))
        .args(["-r", "-wr", "-T", "10000", "--"])
        .arg(&svc)
        .args(block(&["a", "b"])));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for (name, old) in ["a", "b"].iter().zip(pids) {
        let now = status(&svc.join("instances").join(name)).0;
        assert!(now != 0 && now != old, "{name} not restarted");
    }
    let out = run(program(bindir().join("s6i-status"))
        .args(["-o", "up,wantedup", "--"])
        .arg(&svc)
        .args(block(&["a", "b", "c"])));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "a: true true\nb: true true\nc: true true\n"
    );
    // One that is not there: the others are printed, it is named.
    let out = run(program(bindir().join("s6i-status"))
        .args(["-o", "up", "--"])
        .arg(&svc)
        .args(block(&["a", "nope", "c"])));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a: true\nc: true\n");
    assert!(
        stderr(&out).contains("instance/nope: s6-supervise not running"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn restart_all_restarts_what_is_up_and_names_what_did_not_come_back() {
    let t = Tree::new();
    let svc = t.service("svc", |tpl| {
        sleeper_template(tpl);
        write_script(&tpl.join("finish"), "/usr/bin/true");
    });
    for name in ["a", "b", "slow"] {
        create(&svc, name);
    }
    let out = run(ours("s6-instance-create").args(["-d"]).arg(&svc).arg("down"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // slow takes 3 s to finish: it cannot be back within the timeout.
    write_script(&svc.join("instances/slow/finish"), "/usr/bin/sleep 3");
    let pid = |n: &str| status(&svc.join("instances").join(n)).0;
    let before = [pid("a"), pid("b")];
    let out = run(installed_example("restart-all").args(["-T", "1500"]).arg(&svc));
    assert_eq!(code(&out), 99, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("instance/slow") && !err.contains("instance/a"), "{err}");
    assert!(pid("a") != before[0] && pid("b") != before[1], "not restarted");
    assert_eq!(pid("down"), 0, "a down instance was started");
    // Once slow is back, everything comes back: exit 0.
    let slow = svc.join("instances/slow");
    assert!(wait_until(Duration::from_secs(10), || s6i::svstatus::Status::read(
        &s6i::door::Loc::at(&slow)
    )
    .is_ok_and(|st| st.is_up())));
    write_script(&svc.join("instances/slow/finish"), "/usr/bin/true");
    let out = run(installed_example("restart-all").arg(&svc));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(pid("down"), 0);
}

#[test]
fn a_delete_that_times_out_frees_the_name_and_leaves_the_tree_to_the_next_command() {
    let t = Tree::new();
    let svc = t.service("svc", sleeper_template);
    for name in ["a", "b"] {
        create(&svc, name);
    }
    let scanner = Pid::from_raw(t.nested_scanner(&svc));
    // The scanner cannot stop the supervisor while it is stopped itself.
    kill(scanner, Signal::SIGSTOP).unwrap();
    let out = run(ours("s6-instance-delete").args(["-t", "500"]).arg(&svc).arg("a"));
    let dir = svc.join("instances/a");
    let left = (dir.is_dir(), supervised(&dir), svc.join("instance/a").exists());
    kill(scanner, Signal::SIGCONT).unwrap();
    assert_eq!(code(&out), 99, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("s6-instance-delete: warning: timed out"),
        "{}",
        stderr(&out)
    );
    // The directory is put aside, its supervisor left to stop: the name
    // is free at once.
    assert_eq!(left, (false, false, false), "(directory, supervised, linked)");
    let aside: Vec<_> = entries(&svc.join("instances"))
        .into_iter()
        .filter(|e| e.starts_with(b".s6i-delete:"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    let aside = svc.join("instances").join(os(&aside[0]));
    assert!(aside.join("run").is_file());
    // Not listed; s6's own create of the name works at once, and the
    // next command of ours removes the old tree once its supervisor is
    // gone.
    let out = run(ours("s6-instance-list").arg(&svc));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "b\n");
    let out = run(reference("s6-instance-create").args(["-t", "10000"]).arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(wait_until(Duration::from_secs(10), || !supervised(&aside)));
    let out = run(ours("s6-instance-delete").arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!dir.exists());
    assert!(!aside.exists());
    // The same with our create taking the name at once.
    kill(scanner, Signal::SIGSTOP).unwrap();
    let out = run(ours("s6-instance-delete").args(["-t", "500"]).arg(&svc).arg("b"));
    kill(scanner, Signal::SIGCONT).unwrap();
    assert_eq!(code(&out), 99, "{}", stderr(&out));
    create(&svc, "b");
    let bdir = svc.join("instances/b");
    assert!(bdir.join("run").is_file() && !bdir.join(".s6i-pending").exists());
    let out = run_for(
        ours("s6i-recover").args(["-t", "10000"]).arg(&svc),
        Duration::from_secs(30),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let hidden = hidden_entries(&svc.join("instances"));
    assert!(hidden.is_empty(), "{hidden:?}");
}

/// The Makefile's probe of the s6 release says nothing where s6 is not
/// (a fresh machine, before `make demo` has installed it): no library
/// to read the release from, no programs to ask.
#[test]
fn the_s6_probe_is_quiet_without_s6() {
    let nowhere = tempfile::tempdir().unwrap();
    let out = run(std::process::Command::new("/usr/bin/make")
        .args(["-s", "-C", env!("CARGO_MANIFEST_DIR"), "version"])
        .arg(format!("S6_BIN={}", nowhere.path().display()))
        .arg(format!("S6_LIBS={}/libs6.so.*", nowhere.path().display()))
        .arg(format!("CARGO_TARGET_DIR={}", nowhere.path().display()))
        // The release a caller pinned (check-s6-versions does) would
        // spare the probe: this make finds it itself.
        .env_remove("S6_VERSION")
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("s6 2.11.3.2 "));
}
