//! The examples, run as their headers say.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

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

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Copy an example template into the tree's template place.
fn example_template(name: &str) -> impl FnOnce(&std::path::Path) {
    let src = examples_dir().join(name);
    move |dst: &std::path::Path| {
        s6i::copy::copy_tree(&s6i::door::Loc::at(&src), &s6i::door::Loc::of(dst))
            .unwrap()
            .publish();
    }
}

/// PATH for examples that need execline's programs too.
fn with_execline(mut c: Command) -> Command {
    c.env(
        "PATH",
        format!("{}:/usr/lib/execline/bin:/usr/bin:/bin", bindir().display()),
    );
    c
}

#[test]
fn template_gets_its_name_as_arguments() {
    let t = Tree::new();
    let svc = t.service("svc", example_template("template"));
    assert_eq!(code(&run(ours("s6-instance-create").arg(&svc).arg("web"))), 0);
    let dir = svc.join("instances/web");
    assert!(wait_until(std::time::Duration::from_secs(5), || dir
        .join("running-as")
        .exists()));
    assert!(wait_until(
        std::time::Duration::from_secs(5),
        || std::fs::read_to_string(dir.join("running-as")).unwrap() == "web\n"
    ));
    let out = run(ours("s6-instance-control")
        .args(["-k", "-wD", "-T", "5000"])
        .arg(&svc)
        .arg("web"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let finished = std::fs::read_to_string(dir.join("finished")).unwrap();
    assert!(finished.starts_with("web exited "), "{finished:?}");
    assert!(
        finished.trim_end().ends_with(&format!("signal {}", libc::SIGKILL)),
        "{finished:?}"
    );
}

#[test]
fn create_with_env_writes_the_envdir_before_the_first_start() {
    let t = Tree::new();
    let svc = t.service("svc", example_template("env-template"));
    let out = run(with_execline(example("create-with-env"))
        .arg(&svc)
        .arg("a")
        .arg("hello there"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let dir = svc.join("instances/a");
    assert!(wait_until(std::time::Duration::from_secs(5), || {
        std::fs::read_to_string(dir.join("greeting")).is_ok_and(|g| g == "hello there\n")
    }));
    // If the environment cannot be written, nothing is left.
    std::fs::create_dir(svc.join("template/env")).unwrap();
    let out = run(with_execline(example("create-with-env")).arg(&svc).arg("b").arg("x"));
    assert_eq!(code(&out), 111, "{}", stderr(&out));
    assert!(!svc.join("instances/b").exists());
    assert!(!svc.join("instance/b").exists());
}

#[test]
fn create_and_run_waits_for_readiness() {
    let t = Tree::new();
    let svc = t.service("svc", |tpl| {
        std::fs::create_dir_all(tpl).unwrap();
        std::fs::write(tpl.join("notification-fd"), "3\n").unwrap();
        write_script(
            &tpl.join("run"),
            "/usr/lib/execline/bin/if { /usr/bin/sleep 0.3 }\n/usr/lib/execline/bin/if { /usr/lib/execline/bin/fdmove 1 3 /usr/bin/echo }\n/usr/bin/sleep 3600",
        );
    });
    let out = run(example("create-and-run")
        .arg(&svc)
        .arg("a")
        .args(["/usr/bin/cat", "/proc/self/status"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Name:\tcat"));
    let st = s6i::svstatus::Status::read(&s6i::door::Loc::at(&svc.join("instances/a"))).unwrap();
    assert!(st.is_up() && st.ready);
    // The program gets a clean environment, without the steps' variables.
    let out = run(example("create-and-run").arg(&svc).arg("b").arg("/usr/bin/env"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(env.contains("PATH=") && !env.contains("S6I_"), "{env}");
}

#[test]
fn restart_all_restarts_every_instance() {
    let (_t, svc) = Tree::with_service();
    let out = run(example("create-many").arg(&svc).args(names(3)));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let dirs: Vec<PathBuf> = names(3).iter().map(|n| svc.join("instances").join(n)).collect();
    assert!(wait_until(std::time::Duration::from_secs(5), || dirs
        .iter()
        .all(|d| status(d).0 != 0)));
    let before: Vec<u64> = dirs.iter().map(|d| status(d).0).collect();
    let out = run(with_execline(example("restart-all")).arg(&svc));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for (d, pid) in dirs.iter().zip(before) {
        let now = status(d).0;
        assert!(now != 0 && now != pid, "{d:?} not restarted");
    }
    // An instance without a supervisor is not up: left alone, silently.
    let scanner = nix::unistd::Pid::from_raw(_t.nested_scanner(&svc));
    nix::sys::signal::kill(scanner, nix::sys::signal::Signal::SIGSTOP).unwrap();
    sleeper_template(&svc.join("instances/lone"));
    std::os::unix::fs::symlink("../instances/lone", svc.join("instance/lone")).unwrap();
    let out = run(with_execline(example("restart-all")).arg(&svc));
    // Too short a wait for the others: the failures are said in the
    // example's own name.
    let late = run(with_execline(example("restart-all")).args(["-T", "1"]).arg(&svc));
    nix::sys::signal::kill(scanner, nix::sys::signal::Signal::SIGCONT).unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_eq!(code(&late), 99, "{}", stderr(&late));
    assert!(
        stderr(&late).lines().all(|l| l.starts_with("restart-all: ")),
        "{}",
        stderr(&late)
    );
}

#[test]
fn instances_from_a_list() {
    let (t, svc) = Tree::with_service();
    let list = t.path().join("users");
    std::fs::write(&list, "alice\nbob\n").unwrap();
    let out = run(with_execline(example("instances-from-list")).arg(&svc).arg(&list));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    std::fs::write(&list, "alice\nbob\ncarol\n").unwrap();
    let out = run(with_execline(example("instances-from-list")).arg(&svc).arg(&list));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Those there already are left alone, without a word.
    assert_eq!(stderr(&out), "");
    assert_eq!(
        entries(&svc.join("instances")),
        vec![b"alice".to_vec(), b"bob".to_vec(), b"carol".to_vec()]
    );
}

#[test]
fn a_logged_service_gathers_every_instance_in_one_log() {
    let t = Tree::new();
    let (dir, logdir) = (t.path().join("web"), t.path().join("log"));
    let out = run(with_execline(example("logged-service"))
        .arg(examples_dir().join("logged-template"))
        .arg(&logdir)
        .arg(&dir)
        .arg(t.path().join("scan")));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Ready: create works at once, with no wait of our own.
    for name in ["one", "two"] {
        let out = run(ours("s6-instance-create").arg(&dir).arg(name));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let logged = || std::fs::read_to_string(logdir.join("current")).unwrap_or_default();
    assert!(
        wait_until(std::time::Duration::from_secs(10), || {
            let log = logged();
            log.contains("one: started\n") && log.contains("two: started\n")
        }),
        "log: {:?}",
        logged()
    );
}

#[test]
fn the_demo_shows_every_command_and_leaves_nothing() {
    let tmp = tempfile::Builder::new().prefix("s6i-demo-test.").tempdir().unwrap();
    let out = run_for(
        example("demo").env("TMPDIR", tmp.path()).arg(bindir()),
        std::time::Duration::from_secs(60),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // What may vary: the pid, the seconds, and list's order (readdir's).
    let mut lines: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.starts_with("+ ") {
            names.sort();
            lines.append(&mut names);
            lines.push(line.to_string());
        } else if let Some(rest) = line.strip_prefix("up (pid ") {
            let secs = rest.split(") ").nth(1).unwrap_or("");
            assert!(secs.ends_with(" seconds"), "{line}");
            lines.push("up (pid PID) N seconds".to_string());
        } else {
            names.push(line.to_string());
        }
    }
    lines.append(&mut names);
    assert_eq!(
        lines.join("\n"),
        "+ s6-instance-maker template svc\n\
         + s6-instance-create svc one; s6-instance-create svc two; s6-instance-create -d svc three\n\
         + s6-instance-list svc\none\nthree\ntwo\n\
         + s6-instance-status -o up,wantedup svc three\nfalse false\n\
         + s6-instance-control -u -wu svc three\n\
         + s6-instance-status svc three\nup (pid PID) N seconds\n\
         + s6-instance-delete svc two\n\
         + s6-instance-list svc\none\nthree\n\
         + s6-instance-summary -o up,wantedup svc\none true true\nthree true true\n\
         + tear down"
    );
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
    assert!(wait_until(std::time::Duration::from_secs(5), || pids_under(tmp.path()).is_empty()));
}

#[test]
fn a_sync_built_from_the_steps_prepares_each_new_instance() {
    let (_t, svc) = Tree::with_service();
    assert_eq!(code(&run(ours("s6-instance-create").arg(&svc).arg("old"))), 0);
    assert_eq!(code(&run(ours("s6-instance-create").arg(&svc).arg("b"))), 0);
    let out = run(with_execline(example("sync-prepared"))
        .args(["-p", "2"])
        .arg(&svc)
        .args(["a", "b", "c", "d"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // New ones by waves of two, then the extra one; b, kept, untouched.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "+a\n+c\n+d\n-old\n");
    for n in ["a", "c", "d"] {
        let dir = svc.join("instances").join(n);
        assert_eq!(std::fs::read_to_string(dir.join("prepared")).unwrap(), format!("{n}\n"));
        assert!(supervised(&dir), "{n}");
    }
    assert!(!svc.join("instances/b/prepared").exists());
    assert!(supervised(&svc.join("instances/b")));
    assert!(!svc.join("instances/old").exists());
    // Run again: nothing to do, nothing said.
    let out = run(with_execline(example("sync-prepared"))
        .arg(&svc)
        .args(["a", "b", "c", "d"]));
    assert_eq!((code(&out), out.stdout.len()), (0, 0), "{}", stderr(&out));
    // A preparation that fails removes its wave's copies and stops the
    // sync there: no later wave is made.
    std::fs::create_dir(svc.join("template/prepared")).unwrap();
    let out = run(with_execline(example("sync-prepared"))
        .args(["-p", "1"])
        .arg(&svc)
        .args(["a", "e", "f"]));
    assert_eq!(code(&out), 111, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert!(!svc.join("instances/e").exists() && !svc.join("instance/e").exists());
    assert!(!svc.join("instances/f").exists());
    assert!(supervised(&svc.join("instances/c")));
}
