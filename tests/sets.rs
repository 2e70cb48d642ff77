//! Whole sets of instances: s6-instance-summary, s6-instance-sync and
//! s6-instance-template against real s6 trees.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn create(svc: &Path, args: &[&str], name: &str) {
    let out = run(ours("s6-instance-create").args(args).arg(svc).arg(name));
    assert_eq!(code(&out), 0, "create {name}: {}", stderr(&out));
}

fn up(dir: &Path) -> bool {
    s6i::svstatus::Status::read(&s6i::door::Loc::at(dir)).is_ok_and(|st| st.is_up())
}

/// The seconds counts, which tick between two readers, as N.
fn normalise(s: &str) -> String {
    let words: Vec<&str> = s.split(' ').collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let seconds = words.get(i + 1).is_some_and(|n| n.starts_with("seconds"));
        out.push(if seconds && w.chars().all(|c| c.is_ascii_digit()) {
            "N"
        } else {
            w
        });
    }
    out.join(" ")
}

/// `s6-instance-sync OPTS SVC NAMES` (options are the words that start
/// with a dash, at the front).
fn sync(svc: &Path, words: &[&str]) -> std::process::Output {
    let opts = words.iter().take_while(|w| w.len() > 1 && w.starts_with('-')).count();
    run(ours("s6-instance-sync")
        .args(&words[..opts])
        .arg(svc)
        .args(&words[opts..]))
}

fn instances(svc: &Path) -> Vec<String> {
    entries(&svc.join("instances"))
        .iter()
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect()
}

#[test]
fn summary_prints_each_instance_as_svstat_does_sorted() {
    let (_t, svc) = Tree::with_service();
    for name in ["c", "a", "b"] {
        create(&svc, &[], name);
    }
    create(&svc, &["-d"], "down");
    for n in ["a", "b", "c"] {
        assert!(wait_until(Duration::from_secs(10), || up(&svc
            .join("instances")
            .join(n))));
    }
    // A linked directory that no supervisor runs on.
    std::fs::create_dir(svc.join("instances/idle")).unwrap();
    std::os::unix::fs::symlink("../instances/idle", svc.join("instance/idle")).unwrap();
    let out = run(ours("s6-instance-summary").arg(&svc));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = text.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(names, ["a", "b", "c", "down", "idle"]);
    for line in text.lines() {
        let (name, said) = line.split_once(": ").unwrap();
        if name == "idle" {
            assert_eq!(said, "s6-supervise not running");
            continue;
        }
        let c = run(reference("s6-svstat").arg(svc.join("instance").join(name)));
        let want = String::from_utf8(c.stdout).unwrap();
        assert_eq!(normalise(said), normalise(want.trim_end()), "{name}");
    }
    // Fields: the name, then the fields, spaces between.
    let out = run(ours("s6-instance-summary")
        .args(["-o", "up,wantedup"])
        .arg(&svc)
        .args(["down", "a", "idle", "a"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "a true true\ndown false false\nidle unsupervised\n"
    );
    // A named instance that is not there: said, and exit 1.
    let out = run(ours("s6-instance-summary").arg("-u").arg(&svc).args(["a", "nope"]));
    assert_eq!(code(&out), 1);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a true\n");
    assert!(stderr(&out).contains("no instance named nope"), "{}", stderr(&out));
}

#[test]
fn summary_refuses_bad_input_as_status_does() {
    let t = Tree::new();
    let svc = t.service("svc", sleeper_template);
    let stopped = t.offline_service("stopped", sleeper_template);
    let nowhere = t.path().join("nowhere");
    for (args, want) in [
        (vec!["".as_ref()], 100),
        (vec![svc.as_os_str(), "a b".as_ref()], 100),
        (vec!["-o".as_ref(), "nope".as_ref(), svc.as_os_str()], 100),
        (vec![], 100),
        (vec![nowhere.as_os_str()], 111),
        (vec![stopped.as_os_str()], 111),
    ] {
        let out = run(ours("s6-instance-summary").args(&args));
        assert_eq!(code(&out), want, "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
}

#[test]
fn sync_makes_the_set_and_a_second_run_does_nothing() {
    let (_t, svc) = Tree::with_service();
    let out = sync(&svc, &["a", "b", "c"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "+a\n+b\n+c\n");
    for n in ["a", "b", "c"] {
        assert!(supervised(&svc.join("instances").join(n)), "{n}");
    }
    let out = sync(&svc, &["c", "b", "a"]);
    assert_eq!((code(&out), out.stdout.len()), (0, 0), "{}", stderr(&out));
    // A plan, and nothing done.
    let out = sync(&svc, &["-n", "b", "d"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "+d\n-a\n-c\n");
    assert_eq!(instances(&svc), ["a", "b", "c"]);
    // The names on standard input, one a line; -D as create's.
    let out = run_with_input(
        ours("s6-instance-sync").args(["-D", "--"]).arg(&svc).arg("-"),
        b"b\nd\n",
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "+d\n-a\n-c\n");
    assert_eq!(instances(&svc), ["b", "d"]);
    assert!(svc.join("instances/d/down").exists());
    assert!(!up(&svc.join("instances/d")));
    // Issue 28, item 5: an empty set, from any source, deletes nothing
    // without -e: exit 100, a count, nothing changed.
    let empty = svc.parent().unwrap().join("empty.set");
    std::fs::write(&empty, "").unwrap();
    let empty_dir = svc.parent().unwrap().join("empty.d");
    std::fs::create_dir(&empty_dir).unwrap();
    let sources: [&[&std::ffi::OsStr]; 4] = [
        &["-".as_ref()],
        &["-f".as_ref(), empty.as_os_str()],
        &["-N".as_ref(), "0".as_ref()],
        &["-E".as_ref(), empty_dir.as_os_str()],
    ];
    for how in sources {
        let (opts, names) = if how[0] == "-" {
            (&how[..0], how)
        } else {
            (how, &how[..0])
        };
        let out = run(ours("s6-instance-sync").args(opts).arg(&svc).args(names));
        assert_eq!(code(&out), 100, "{how:?}: {}", stderr(&out));
        assert_eq!(
            stderr(&out),
            "s6-instance-sync: fatal: the set is empty: it would delete every instance (2 instances); -e says it is meant\n",
            "{how:?}"
        );
        assert!(out.stdout.is_empty());
        assert_eq!(instances(&svc), ["b", "d"], "{how:?}");
    }
    // With -e, an empty standard input is the empty set.
    let out = run(ours("s6-instance-sync").arg("-e").arg(&svc).arg("-"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "-b\n-d\n");
    assert!(instances(&svc).is_empty());
}

#[test]
fn sync_checks_every_name_first_and_creates_all_or_nothing() {
    let (_t, svc) = Tree::with_service();
    create(&svc, &[], "keep");
    for bad in [&["a", "b c"][..], &["a", ".hidden"], &["a", ""], &["a/b"]] {
        let out = sync(&svc, bad);
        assert_eq!(code(&out), 100, "{bad:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
        assert_eq!(instances(&svc), ["keep"], "{bad:?}");
    }
    // One of the new names cannot be made: none of them is left, and the
    // extra instance is not deleted either.
    std::fs::write(svc.join("instances/zz"), "in the way").unwrap();
    let out = sync(&svc, &["a", "b", "zz"]);
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(instances(&svc), ["keep", "zz"]);
    assert_eq!(
        entries(&svc.join("instance")),
        [b".s6-svscan".to_vec(), b"keep".to_vec()]
    );
}

#[test]
fn sync_beside_creates_and_deletes_of_the_same_names_loses_and_doubles_nothing() {
    let (t, svc) = Tree::with_service();
    let names = ["a", "b", "c", "d"];
    let stop = Instant::now() + Duration::from_secs(5);
    let mut codes = Vec::new();
    // What each command of the round said, for the report of a failure.
    let log = |i: usize| t.path().join(format!("round.{i}"));
    while Instant::now() < stop {
        let mut children: Vec<(String, Child)> = Vec::new();
        let mut spawn = |prog: &str, args: &[&str]| {
            let mut c = ours(prog);
            let out = std::fs::File::create(log(children.len())).unwrap();
            c.args(args)
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out);
            children.push((format!("{prog} {args:?}"), c.spawn().unwrap()));
        };
        // With timeouts: s6 2.13's scanner has been seen, in such a storm,
        // never to start a supervisor on a freshly linked instance (which
        // would leave s6's own create waiting too); a create that gives up
        // takes its instance back.
        let s = svc.to_str().unwrap();
        spawn("s6-instance-sync", &["-t", "10000", s, "a", "b", "c"]);
        spawn("s6-instance-create", &["-t", "10000", s, "b"]);
        spawn("s6-instance-delete", &["-t", "10000", s, "a"]);
        spawn("s6-instance-sync", &["-t", "10000", s, "c", "d"]);
        for (what, mut child) in children {
            let ended = wait_until(Duration::from_secs(30), || child.try_wait().ok().flatten().is_some());
            if !ended {
                let _ = child.kill();
            }
            assert!(ended, "{what} hangs");
            codes.push(child.wait().unwrap().code().unwrap_or(-1));
        }
        // After each round, no link is left without its instance (from
        // s6 2.13, such a link makes the scanner drop every scan).
        let said = || {
            let what: Vec<String> = (0..4)
                .map(|i| String::from_utf8_lossy(&std::fs::read(log(i)).unwrap()).into_owned())
                .collect();
            format!("{what:#?}")
        };
        for link in entries(&svc.join("instance")) {
            let link = svc.join("instance").join(os(&link));
            assert!(link.is_dir(), "{link:?} leads nowhere; the round said {}", said());
        }
    }
    assert!(codes.iter().all(|c| [0, 99, 100, 111].contains(c)), "{codes:?}");
    // Every instance left is whole, linked and supervised once; nothing
    // half made is left behind.
    for name in instances(&svc) {
        assert!(names.contains(&name.as_str()), "{name}");
        let dir = svc.join("instances").join(&name);
        assert!(dir.join("run").is_file(), "{name} is not whole");
        if svc.join("instance").join(&name).exists() {
            assert!(wait_until(Duration::from_secs(10), || pids_in(&dir)
                .into_iter()
                .filter(|&p| comm(p) == "s6-supervise")
                .count()
                == 1));
        } else {
            assert!(dir.join(".s6i-pending").is_file(), "{name}: no link, no mark");
        }
    }
    // And a last sync puts everything right, unless the scanner will not
    // start a supervisor (see above): then it says so in time.
    let out = sync(&svc, &["-t10000", "a", "b"]);
    match code(&out) {
        0 => assert_eq!(instances(&svc), ["a", "b"]),
        99 => assert!(
            stderr(&out).contains("timed out waiting for s6-supervise to start"),
            "{}",
            stderr(&out)
        ),
        c => panic!("{c}: {}", stderr(&out)),
    }
}

#[test]
fn template_is_replaced_at_once_and_only_with_one_that_runs() {
    let t = Tree::new();
    let svc = t.service("svc", sleeper_template);
    create(&svc, &[], "old");
    let new = t.path().join("v2");
    sleeper_template(&new);
    std::fs::write(new.join("version"), "2\n").unwrap();
    // Refused: no run, then a run that cannot be executed. Nothing moves.
    let bad = t.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    let out = run(ours("s6-instance-template").arg(&svc).arg(&bad));
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    std::fs::write(bad.join("run"), "x").unwrap();
    let out = run(ours("s6-instance-template").arg(&svc).arg(&bad));
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    let out = run(ours("s6-instance-template").arg(&svc).arg(t.path().join("nowhere")));
    assert_eq!(code(&out), 111, "{}", stderr(&out));
    assert!(!svc.join("template/version").exists());
    assert!(
        entries(&svc).iter().all(|e| !e.starts_with(b".s6i-")),
        "{:?}",
        entries(&svc)
    );
    let out = run(ours("s6-instance-template").arg(&svc).arg(&new));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read(svc.join("template/version")).unwrap(), b"2\n");
    assert!(
        entries(&svc).iter().all(|e| !e.starts_with(b".s6i-")),
        "{:?}",
        entries(&svc)
    );
    // New instances get it; the running one keeps its copy.
    create(&svc, &[], "new");
    assert!(svc.join("instances/new/version").exists());
    assert!(!svc.join("instances/old/version").exists());
    // s6's create copies the new one too.
    let out = run(reference("s6-instance-create").arg(&svc).arg("theirs"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(svc.join("instances/theirs/version").exists());
}

#[test]
fn the_boot_example_brings_back_the_instances_of_a_file() {
    let t = Tree::new();
    let svc = t.service("svc", sleeper_template);
    let names = t.path().join("names");
    std::fs::write(&names, "web\nworker\n").unwrap();
    let example = || {
        let mut c = std::process::Command::new(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/sync-at-boot"),
        );
        c.env_clear()
            .env(
                "PATH",
                format!("{}:/usr/lib/execline/bin:/usr/bin:/bin", bindir().display()),
            )
            .arg(&svc)
            .arg(&names);
        run(&mut c)
    };
    let out = example();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "+web\n+worker\n");
    // As after a reboot on tmpfs: the instances are gone, the file stays.
    for name in ["web", "worker"] {
        let out = run(ours("s6-instance-delete").arg(&svc).arg(name));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    std::fs::write(&names, "web\nmail\n").unwrap();
    let out = example();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "+mail\n+web\n");
    assert_eq!(instances(&svc), ["mail", "web"]);
    let out = example();
    assert_eq!((code(&out), out.stdout.len()), (0, 0));
}

/// Issue 26, item 9: the service is never its own new template, nor
/// inside it: the copy, made beside the template, would go on copying
/// itself. Refused, exit 100, nothing made or changed.
#[test]
fn a_template_is_never_copied_into_itself() {
    let (t, svc) = Tree::with_service();
    let before: Vec<(Vec<u8>, Vec<u8>)> = entries(&svc.join("template"))
        .into_iter()
        .map(|n| {
            let data = std::fs::read(svc.join("template").join(os(&n))).unwrap_or_default();
            (n, data)
        })
        .collect();
    let unchanged = |what: &str| {
        let now: Vec<(Vec<u8>, Vec<u8>)> = entries(&svc.join("template"))
            .into_iter()
            .map(|n| {
                let data = std::fs::read(svc.join("template").join(os(&n))).unwrap_or_default();
                (n, data)
            })
            .collect();
        assert_eq!(now, before, "{what}");
        assert!(
            entries(&svc).iter().all(|e| !e.starts_with(b".s6i-")),
            "{what}: {:?}",
            entries(&svc)
        );
    };
    let refused = |new: &Path| {
        let out = run(ours("s6-instance-template").arg(&svc).arg(new));
        assert_eq!(code(&out), 100, "{new:?}: {}", stderr(&out));
        assert!(
            stderr(&out).ends_with(" or holds it: a template cannot be copied into itself\n"),
            "{}",
            stderr(&out)
        );
        unchanged(&format!("{new:?}"));
    };
    // The service as its own template (its run is executable).
    refused(&svc);
    // Through a link to it: told by inode, not by name.
    std::os::unix::fs::symlink(&svc, t.path().join("link")).unwrap();
    refused(&t.path().join("link"));
    // A template that holds the service.
    let outer = t.path().join("outer");
    sleeper_template(&outer);
    let inner = outer.join("svc");
    let out = run(ours("s6-instance-maker").arg(t.path().join("svc.template")).arg(&inner));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(ours("s6-instance-template").arg(&inner).arg(&outer));
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    assert!(entries(&inner).iter().all(|e| !e.starts_with(b".s6i-")));
    assert!(!inner.join("template/svc").exists());
    // A source inside the service, beside where the copy goes, is fine:
    // the template replaced by a copy of itself.
    let out = run(ours("s6-instance-template").arg(&svc).arg(svc.join("template")));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    unchanged("template itself");
}

/// Issue 26, item 9: a template of any depth is taken by a live
/// service, with the descriptors of a default limit (1024), and the
/// deep one it replaces later is removed whole.
#[test]
fn a_deep_template_is_taken_and_given_up() {
    let (t, svc) = Tree::with_service();
    let deep = t.path().join("deep");
    sleeper_template(&deep);
    deep_tree(&deep, DEEP);
    let out = run_for(
        fd_limit(ours("s6-instance-template").arg(&svc).arg(&deep), 1024),
        Duration::from_secs(120),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(deepest(&svc.join("template"), DEEP).as_deref(), Some(&b"bottom"[..]));
    let plain = t.path().join("plain");
    sleeper_template(&plain);
    let out = run_for(
        fd_limit(ours("s6-instance-template").arg(&svc).arg(&plain), 1024),
        Duration::from_secs(120),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!svc.join("template/d").exists());
    assert!(entries(&svc).iter().all(|e| !e.starts_with(b".s6i-")));
    remove_deep(&deep);
}

/// A summary called again and again while a sync makes 300 instances:
/// an instance linked whose supervisor has not written its first status
/// yet reads as not running, never as an error.
#[test]
fn a_summary_during_a_sync_never_fails_on_an_instance_starting() {
    let (_t, svc) = Tree::with_service();
    let names: Vec<String> = (0..300).map(|i| format!("m{i:03}")).collect();
    let mut child = sync_in_background(&svc, &names);
    let give_up = Instant::now() + Duration::from_secs(60);
    let (mut calls, mut failed) = (0, Vec::new());
    while child.try_wait().unwrap().is_none() && Instant::now() < give_up {
        let out = run(ours("s6-instance-summary").arg(&svc));
        calls += 1;
        if code(&out) != 0 {
            failed.push(stderr(&out));
        }
    }
    let ended = ended_within(child, Duration::from_secs(10)).expect("the sync hangs");
    assert_eq!(ended.code(), Some(0));
    assert!(calls > 0);
    assert!(
        failed.is_empty(),
        "{} of {calls} summaries failed: {:?}",
        failed.len(),
        &failed[..1]
    );
}

/// SIGINT while a sync copies its template: the copies it made go, one
/// message says so, and it dies of the signal, leaving no instance
/// unlinked (which s6's own create would refuse to make again).
#[test]
fn a_sync_interrupted_while_it_copies_takes_its_copies_back() {
    let t = Tree::new();
    let svc = t.service("svc", |d| {
        sleeper_template(d);
        for i in 0..400 {
            std::fs::write(d.join(format!("f{i}")), "x").unwrap();
        }
    });
    let names: Vec<String> = (0..200).map(|i| format!("c{i:03}")).collect();
    let mut child = sync_in_background(&svc, &names);
    // Some copies made, none linked yet: it is copying.
    let copying = wait_until(Duration::from_secs(30), || instances(&svc).len() >= 3);
    let linked = entries(&svc.join("instance")).len() > 1;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let ended = wait_until(Duration::from_secs(30), || child.try_wait().ok().flatten().is_some());
    if !ended {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert!(ended, "the sync hangs after SIGINT");
    assert!(copying && !linked, "the sync was not caught copying");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGINT),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("interrupted by SIGINT: undid the creation"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        entries(&svc.join("instances")).is_empty(),
        "{:?}",
        entries(&svc.join("instances"))
    );
    assert_eq!(entries(&svc.join("instance")), vec![b".s6-svscan".to_vec()]);
}
