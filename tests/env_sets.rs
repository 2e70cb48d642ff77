//! Declarative sets with a per-instance environment (issue 19): set
//! files, envdirs, counts, only the changed instances touched, `-R`
//! each way, waves, bad lines, a killed swap, s6i-env, and an upgrade
//! that keeps an instance's own env/.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use common::*;

const EL: &str = "/usr/lib/execline/bin";

/// A template with defaults in env/ (COLOR=blue, DELAY=0), whose run
/// reads env/ whole (`s6-envdir -f`), writes its environment to `seen`,
/// waits DELAY seconds, tells its readiness, counts the SIGHUPs it gets
/// in `hups`, and sleeps.
fn env_template(dir: &Path) {
    std::fs::create_dir_all(dir.join("env")).unwrap();
    std::fs::write(dir.join("env/COLOR"), "blue\n").unwrap();
    std::fs::write(dir.join("env/DELAY"), "0\n").unwrap();
    std::fs::write(dir.join("notification-fd"), "3\n").unwrap();
    let body = format!(
        "/usr/bin/s6-envdir -f env\n\
         {EL}/if {{ {EL}/redirfd -w 1 seen /usr/bin/env }}\n\
         {EL}/importas -i delay DELAY\n\
         {EL}/foreground {{ /usr/bin/sleep $delay }}\n\
         {EL}/if {{ {EL}/fdmove 1 3 /usr/bin/echo }}\n\
         {EL}/fdclose 3\n\
         {EL}/trap {{ SIGHUP {{ {EL}/redirfd -a 1 hups /usr/bin/echo hup }} SIGTERM {{ {EL}/importas -i c ! /usr/bin/kill -- $c }} }}\n\
         /usr/bin/sleep 3600"
    );
    write_script(&dir.join("run"), &body);
}

fn sync(svc: &Path, args: &[&str]) -> Output {
    run_for(
        ours("s6-instance-sync").args(["-t", "20000"]).args(args).arg(svc),
        Duration::from_secs(60),
    )
}

fn set_file(t: &Tree, name: &str, text: &str) -> PathBuf {
    let p = t.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn sync_file(svc: &Path, file: &Path, opts: &[&str]) -> Output {
    run_for(
        ours("s6-instance-sync")
            .args(["-t", "20000"])
            .args(opts)
            .arg("-f")
            .arg(file)
            .arg(svc),
        Duration::from_secs(60),
    )
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ok(out: &Output) -> String {
    assert_eq!(code(out), 0, "{}", stderr(out));
    stdout(out)
}

fn dir(svc: &Path, name: &str) -> PathBuf {
    svc.join("instances").join(name)
}

/// What the run of instance NAME saw: its variables, once it wrote them.
fn seen(svc: &Path, name: &str) -> String {
    let f = dir(svc, name).join("seen");
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read(&f)
            .is_ok_and(|b| !b.is_empty())),
        "{name} never wrote what it saw"
    );
    String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned()
}

fn has_var(seen: &str, var: &str) -> bool {
    seen.lines().any(|l| l == var)
}

fn pid(svc: &Path, name: &str) -> u64 {
    let d = dir(svc, name);
    assert!(
        wait_until(Duration::from_secs(10), || supervised(&d) && status(&d).0 != 0),
        "{name} never up"
    );
    status(&d).0
}

fn env_of(svc: &Path, name: &str) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir(svc, name).join("env"))
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect()
}

fn hidden_in(d: &Path) -> Vec<Vec<u8>> {
    entries(d)
        .into_iter()
        .filter(|e| e.starts_with(b".s6i-env") || e.starts_with(b".s6i-manifest"))
        .collect()
}

#[test]
fn a_set_file_makes_instances_with_their_env_and_changes_only_what_differs() {
    let t = Tree::new();
    let svc = t.service("svc", env_template);
    let f = set_file(&t, "set", "# workers\n\na PORT=1\nb\tPORT=2\nc\n");
    assert_eq!(ok(&sync_file(&svc, &f, &[])), "+a\n+b\n+c\n");
    let a = seen(&svc, "a");
    assert!(has_var(&a, "PORT=1") && has_var(&a, "COLOR=blue"), "{a}");
    let c = seen(&svc, "c");
    assert!(has_var(&c, "COLOR=blue") && !c.contains("PORT="), "{c}");
    assert_eq!(
        env_of(&svc, "b"),
        kv(&[("COLOR", "blue\n"), ("DELAY", "0\n"), ("PORT", "2\n")])
    );
    // The env/ is the instance's user's, readable by all, and the
    // manifest no longer says it came from the template.
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(dir(&svc, "b").join("env")).unwrap();
    let owner = std::fs::metadata(dir(&svc, "b")).unwrap();
    assert_eq!((md.mode() & 0o7777, md.uid()), (0o755, owner.uid()));
    let manifest = std::fs::read(dir(&svc, "b").join(".s6i-template")).unwrap();
    assert!(!manifest
        .split(|&b| b == 0)
        .any(|p| p == b"env" || p.starts_with(b"env/")));
    let pids = ["a", "b", "c"].map(|n| pid(&svc, n));

    // The same set again: nothing done.
    assert_eq!(ok(&sync_file(&svc, &f, &[])), "");
    // One line changed: only that instance, restarted (and up again
    // before sync returns); the others keep their pid.
    let f = set_file(&t, "set", "a PORT=1\nb PORT=3\nc\n");
    assert_eq!(ok(&sync_file(&svc, &f, &[])), "~b\n");
    let b = dir(&svc, "b");
    assert_ne!(status(&b).0, 0, "b not up when sync returned");
    assert_ne!(pid(&svc, "b"), pids[1]);
    assert!(wait_until(Duration::from_secs(10), || has_var(
        &seen(&svc, "b"),
        "PORT=3"
    )));
    assert_eq!((pid(&svc, "a"), pid(&svc, "c")), (pids[0], pids[2]));

    // A plan: nothing done.
    let f2 = set_file(&t, "set2", "a PORT=9\nb PORT=3\nc\nd\n");
    assert_eq!(ok(&sync_file(&svc, &f2, &["-n"])), "+d\n~a\n");
    assert_eq!(std::fs::read(dir(&svc, "a").join("env/PORT")).unwrap(), b"1\n");
    assert!(!dir(&svc, "d").exists());

    // -R none: env/ swapped, the service left running; a variable
    // dropped from its line is gone.
    let pid_b = pid(&svc, "b");
    let f = set_file(&t, "set", "a PORT=1\nb\nc COLOR=red\n");
    assert_eq!(ok(&sync_file(&svc, &f, &["-R", "none"])), "~b\n~c\n");
    assert_eq!((pid(&svc, "b"), pid(&svc, "c")), (pid_b, pids[2]));
    assert_eq!(std::fs::read(dir(&svc, "c").join("env/COLOR")).unwrap(), b"red\n");
    assert!(!dir(&svc, "b").join("env/PORT").exists());
    assert!(has_var(&seen(&svc, "c"), "COLOR=blue"));

    // -R HUP: signalled, not restarted.
    let f = set_file(&t, "set", "a PORT=5\nb\nc COLOR=red\n");
    assert_eq!(ok(&sync_file(&svc, &f, &["-R", "SIGHUP"])), "~a\n");
    assert_eq!(pid(&svc, "a"), pids[0]);
    let hups = dir(&svc, "a").join("hups");
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read(&hups)
            .is_ok_and(|b| b == b"hup\n")),
        "no SIGHUP seen"
    );
    // An unknown signal is refused before anything is done.
    let f = set_file(&t, "set", "a PORT=6\nb\nc COLOR=red\n");
    let out = sync_file(&svc, &f, &["-R", "BOGUS"]);
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    assert_eq!(std::fs::read(dir(&svc, "a").join("env/PORT")).unwrap(), b"5\n");

    // Set lines on standard input, with -f -; the extra instances go
    // last.
    let out = run_with_input(
        ours("s6-instance-sync").args(["-t", "20000", "-f", "-"]).arg(&svc),
        b"a PORT=7\nd\n",
    );
    assert_eq!(ok(&out), "+d\n~a\n-b\n-c\n");
    // Issue 28, item 6: names on standard input (-) are names, as on the
    // command line: what s6-instance-list prints changes nothing, env/
    // is not managed, and a set line there is refused.
    let listed = run(ours("s6-instance-list").arg(&svc));
    assert_eq!(ok(&listed), "a\nd\n");
    let before = pid(&svc, "a");
    let out = run_with_input(
        ours("s6-instance-sync").args(["-t", "20000"]).arg(&svc).arg("-"),
        &listed.stdout,
    );
    assert_eq!(ok(&out), "");
    assert_eq!(pid(&svc, "a"), before);
    assert_eq!(std::fs::read(dir(&svc, "a").join("env/PORT")).unwrap(), b"7\n");
    let out = run_with_input(
        ours("s6-instance-sync").args(["-t", "20000"]).arg(&svc).arg("-"),
        b"a\nd PORT=8\n",
    );
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "s6-instance-sync: fatal: invalid name line 2: invalid instance name: \"d PORT=8\"\n"
    );
    assert_eq!(ok(&run(ours("s6-instance-list").arg(&svc))), "a\nd\n");
    assert_eq!(pid(&svc, "a"), before);
    for n in ["a", "b", "c", "d"] {
        assert!(hidden_in(&dir(&svc, n)).is_empty(), "{n}");
    }
}

#[test]
fn counts_and_envdirs() {
    let t = Tree::new();
    let svc = t.service("svc", env_template);
    // -N: the names 1 to count, env/ not managed (the template's copy).
    assert_eq!(ok(&sync(&svc, &["-N", "3"])), "+1\n+2\n+3\n");
    std::fs::write(dir(&svc, "2").join("env/MINE"), "x\n").unwrap();
    assert_eq!(ok(&sync(&svc, &["-N", "3"])), "");
    assert!(dir(&svc, "2").join("env/MINE").exists());
    assert_eq!(ok(&sync(&svc, &["-N", "1"])), "-2\n-3\n");

    // -E: one envdir per instance, values of any bytes.
    let e = t.path().join("envs");
    std::fs::create_dir_all(e.join("x")).unwrap();
    std::fs::create_dir_all(e.join("1")).unwrap();
    std::fs::write(e.join("x/MSG"), "hello  world\nsecond line\n").unwrap();
    std::fs::write(e.join("x/BIN"), b"\xff\x01\n").unwrap();
    let out = sync(&svc, &["-E", e.to_str().unwrap()]);
    // 1 had no env/ of its own, but the template's copy: the same.
    assert_eq!(ok(&out), "+x\n");
    let x = seen(&svc, "x");
    assert!(x.contains("MSG=hello  world\nsecond line\n"), "{x}");
    assert_eq!(std::fs::read(dir(&svc, "x").join("env/BIN")).unwrap(), b"\xff\x01\n");
    assert_eq!(ok(&sync(&svc, &["-E", e.to_str().unwrap()])), "");

    // What -E refuses: an entry that is no directory, a file in one that
    // is not regular; nothing done.
    std::os::unix::fs::symlink("/etc", e.join("x/LINK")).unwrap();
    std::fs::write(e.join("x/NEW"), "1\n").unwrap();
    let out = sync(&svc, &["-E", e.to_str().unwrap()]);
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    assert!(stderr(&out).contains("not a regular file: LINK"), "{}", stderr(&out));
    std::fs::remove_file(e.join("x/LINK")).unwrap();
    std::fs::write(e.join("y"), "").unwrap();
    let out = sync(&svc, &["-E", e.to_str().unwrap()]);
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    assert!(stderr(&out).contains("not a directory"), "{}", stderr(&out));
    assert!(!dir(&svc, "x").join("env/NEW").exists());

    // Only one source; no names beside one.
    for args in [&["-N", "2", "-E", "/nowhere"][..], &["-N", "2", "-f", "/nowhere"]] {
        let out = sync(&svc, args);
        assert_eq!(code(&out), 100, "{args:?}: {}", stderr(&out));
    }
    let out = run(ours("s6-instance-sync").args(["-N", "2"]).arg(&svc).arg("a"));
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    let out = run(ours("s6-instance-sync").arg(&svc));
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    assert!(stderr(&out).contains("usage"), "{}", stderr(&out));
    assert_eq!(entries(&svc.join("instances")), [b"1".to_vec(), b"x".to_vec()]);
}

#[test]
fn every_bad_line_is_refused_with_its_number_and_nothing_is_done() {
    let t = Tree::new();
    let svc = t.service("svc", env_template);
    let f = set_file(&t, "set", "a PORT=1\n");
    assert_eq!(ok(&sync_file(&svc, &f, &[])), "+a\n");
    for (text, why) in [
        (&b"a PORT=2\nb PORT\n"[..], "invalid set line 2: word without =: PORT"),
        (b"a PORT=2\n\nb =x\n", "invalid set line 3: empty key"),
        (b"a P/Q=1\n", "invalid set line 1: invalid key: P/Q"),
        (b"b\n.c\n", "invalid set line 2: invalid instance name: \".c\""),
        (b"b\nc/d\n", "invalid set line 2: invalid instance name: \"c/d\""),
        (b"b\n-n\n", "invalid set line 2: invalid instance name: \"-n\""),
        (b"b\nb\n", "invalid set line 2: name given twice: b"),
        (b"b K=1 K=2\n", "invalid set line 1: key given twice: K"),
        (b"b K=1\0x\n", "invalid set line 1: value of K holds a NUL byte"),
        // Issue 28, item 1: a NUL in a name, a name over NAME_MAX, after
        // good lines: refused before the sync deletes anything.
        (
            b"a PORT=1\nd\0x X=1\n",
            "invalid set line 2: invalid instance name: \"d\\x00x\"",
        ),
        (
            &[&b"a PORT=1\n"[..], &[b'n'; 300], b" X=1\n"].concat(),
            "invalid set line 2: invalid instance name: \"nnnnn",
        ),
        // Item 2: a key s6-envdir would skip.
        (
            b"a X=2 .HID=1\n",
            "invalid set line 1: invalid key: .HID: it begins with a dot",
        ),
        // Item 4: a value over the bound the instance side reads.
        (
            &[&b"a PORT="[..], &vec![b'9'; 64 * 1024 + 1], b"\n"].concat(),
            "invalid set line 1: value of PORT is over 65536 bytes",
        ),
    ] {
        let p = t.path().join("bad");
        std::fs::write(&p, text).unwrap();
        let out = sync_file(&svc, &p, &[]);
        assert_eq!(code(&out), 100, "{why}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with(&format!("s6-instance-sync: fatal: {why}")),
            "{why}: {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty());
        assert_eq!(entries(&svc.join("instances")), [b"a".to_vec()], "{why}");
        assert_eq!(std::fs::read(dir(&svc, "a").join("env/PORT")).unwrap(), b"1\n");
    }
    // Item 3: a CR LF copy of the same set changes nothing, and a line
    // with a name alone reads as that name.
    let before = pid(&svc, "a");
    let crlf = set_file(&t, "crlf", "a PORT=1\r\n");
    assert_eq!(ok(&sync_file(&svc, &crlf, &[])), "");
    assert_eq!(std::fs::read(dir(&svc, "a").join("env/PORT")).unwrap(), b"1\n");
    assert_eq!(pid(&svc, "a"), before);
    let crlf = set_file(&t, "crlf", "a PORT=1\r\nb\r\n");
    assert_eq!(ok(&sync_file(&svc, &crlf, &[])), "+b\n");
}

/// The TAI64N stamps of an instance's status: when it went up, when it
/// became ready.
fn stamps(d: &Path) -> ([u8; 12], [u8; 12]) {
    let b = std::fs::read(d.join("supervise/status")).unwrap();
    (b[0..12].try_into().unwrap(), b[12..24].try_into().unwrap())
}

#[test]
fn waves_start_each_after_the_previous_is_ready() {
    let t = Tree::new();
    let svc = t.service("svc", env_template);
    // Each takes 0.3 s to be ready: all at once, they would all start
    // before any is ready.
    let f = set_file(
        &t,
        "set",
        "a DELAY=0.3\nb DELAY=0.3\nc DELAY=0.3\nd DELAY=0.3\ne DELAY=0.3\n",
    );
    assert_eq!(
        ok(&sync_file(&svc, &f, &["-p", "2", "-w", "U"])),
        "+a\n+b\n+c\n+d\n+e\n"
    );
    let check = |what: &str| {
        let st: Vec<_> = ["a", "b", "c", "d", "e"].map(|n| stamps(&dir(&svc, n))).to_vec();
        for (i, (up, ready)) in st.iter().enumerate() {
            assert!(ready >= up, "{what}: {i} ready before up");
        }
        for (later, earlier) in [(2, 0), (2, 1), (3, 0), (3, 1), (4, 2), (4, 3)] {
            assert!(
                st[later].0 >= st[earlier].1,
                "{what}: instance {later} started before {earlier} was ready"
            );
        }
        assert!(
            st[1].0 < st[0].1 || st[0].0 < st[1].1,
            "{what}: a wave ran one at a time"
        );
    };
    check("creates");
    // Restarts in waves too.
    let f = set_file(
        &t,
        "set",
        "a DELAY=0.4\nb DELAY=0.4\nc DELAY=0.4\nd DELAY=0.4\ne DELAY=0.4\n",
    );
    assert_eq!(
        ok(&sync_file(&svc, &f, &["-p", "2", "-w", "U"])),
        "~a\n~b\n~c\n~d\n~e\n"
    );
    check("restarts");
    // A wave that is not ready in time stops the sync: 99, naming the
    // late instance; the waves before it stay.
    let f = set_file(
        &t,
        "set",
        "a DELAY=0.4\nb DELAY=0.4\nc DELAY=0.4\nd DELAY=0.4\ne DELAY=0.4\nf\ng\nh DELAY=30\ni\nj\n",
    );
    let out = run_for(
        ours("s6-instance-sync")
            .args(["-t", "3000", "-p", "2", "-w", "U", "-f"])
            .arg(&f)
            .arg(&svc),
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 99, "{}", stderr(&out));
    assert_eq!(stdout(&out), "+f\n+g\n+h\n+i\n");
    assert!(
        stderr(&out).contains("timed out waiting for instances to be up and ready: h\n"),
        "{}",
        stderr(&out)
    );
    assert!(!dir(&svc, "j").exists());
}

#[test]
fn a_killed_swap_is_finished_by_the_next_sync() {
    let t = Tree::new();
    let svc = t.service("svc", env_template);
    let f = set_file(&t, "set", "a PORT=1\nb PORT=2\n");
    assert_eq!(ok(&sync_file(&svc, &f, &[])), "+a\n+b\n");
    // A dead pid.
    let mut child = std::process::Command::new("/usr/bin/true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    // A swap killed before its exchange (the new env/ half written under
    // its hidden name), and one killed after it (the old env/ there).
    let a = dir(&svc, "a");
    let left = a.join(format!(".s6i-env:{dead}:abcdef"));
    std::fs::create_dir(&left).unwrap();
    std::fs::write(left.join("PORT"), "half").unwrap();
    let b = dir(&svc, "b");
    std::fs::rename(b.join("env"), b.join(format!(".s6i-env:{dead}:ghijkl"))).unwrap();
    // Sync finishes both: b's env/ (missing) written, nothing hidden left.
    let f = set_file(&t, "set", "a PORT=1\nb PORT=2\nc\n");
    assert_eq!(ok(&sync_file(&svc, &f, &["-R", "none"])), "+c\n~b\n");
    assert!(hidden_in(&a).is_empty() && hidden_in(&b).is_empty());
    assert_eq!(std::fs::read(b.join("env/PORT")).unwrap(), b"2\n");
    // A live command's swap is left alone: its log is there and locked.
    // (A live pid alone makes nothing live.)
    let log = LiveLog::new(&svc, "abcdef");
    let live = a.join(format!(".s6i-env:{}:mnopqr", log.token));
    std::fs::create_dir(&live).unwrap();
    let old_kind = a.join(format!(".s6i-env:{}:stuvwx", std::process::id()));
    std::fs::create_dir(&old_kind).unwrap();
    assert_eq!(ok(&sync_file(&svc, &f, &[])), "");
    assert!(live.exists() && !old_kind.exists());
    std::fs::remove_dir(&live).unwrap();
    // A sync killed after its swap, before it restarted the service: its
    // mark (and a dead command's token) makes the next sync restart the
    // instance, although env/ is already what the set says. A live
    // chain's mark is its own business.
    let pid_a = pid(&svc, "a");
    std::fs::write(a.join(".s6i-changed"), &log.token).unwrap();
    assert_eq!(ok(&sync_file(&svc, &f, &[])), "");
    assert_eq!(pid(&svc, "a"), pid_a);
    drop(log);
    std::fs::write(a.join(".s6i-changed"), format!("{dead}.abcdef")).unwrap();
    assert_eq!(ok(&sync_file(&svc, &f, &["-n"])), "~a\n");
    assert_eq!(ok(&sync_file(&svc, &f, &[])), "~a\n");
    assert_ne!(pid(&svc, "a"), pid_a);
    assert!(!a.join(".s6i-changed").exists());
    assert_eq!(ok(&sync_file(&svc, &f, &[])), "");
}

#[test]
fn s6i_env_sets_one_instance_and_upgrade_keeps_it() {
    let t = Tree::new();
    let svc = t.service("svc", env_template);
    let f = set_file(&t, "set", "a COLOR=green PORT=1\nb\n");
    assert_eq!(ok(&sync_file(&svc, &f, &[])), "+a\n+b\n");
    let pid_b = pid(&svc, "b");
    // s6i-env: the block's variables over the template's, nothing said,
    // nothing restarted, then the rest of the command line.
    let out = run(ours("s6i-env")
        .arg(&svc)
        .args(["b", " PORT=9", " X=a b", "", "/usr/bin/echo", "next"]));
    assert_eq!(ok(&out), "next\n");
    assert_eq!(
        env_of(&svc, "b"),
        kv(&[("COLOR", "blue\n"), ("DELAY", "0\n"), ("PORT", "9\n"), ("X", "a b\n")])
    );
    assert_eq!(pid(&svc, "b"), pid_b);
    assert!(hidden_in(&dir(&svc, "b")).is_empty());
    // Bad input: 100, nothing changed.
    for args in [
        &["b", " PORT", ""][..],
        &["b", " =1", ""],
        &["b", " K=1", " K=2", ""],
        &["b", " K=1"],
    ] {
        let out = run(ours("s6i-env").arg(&svc).args(args));
        assert_eq!(code(&out), 100, "{args:?}: {}", stderr(&out));
    }
    assert_eq!(std::fs::read(dir(&svc, "b").join("env/PORT")).unwrap(), b"9\n");

    // The template changes its defaults; an upgrade keeps each
    // instance's own values (instance-env/) and puts the new defaults
    // under them in env/: a's line gave COLOR, b's gave nothing, and
    // s6i-env gave b PORT and X.
    let tpl = svc.join("template");
    std::fs::write(tpl.join("env/COLOR"), "yellow\n").unwrap();
    std::fs::write(tpl.join("env/NEW"), "1\n").unwrap();
    let upgrade = || {
        let out = run_for(
            ours("s6-instance-upgrade").args(["-t", "20000"]).arg(&svc),
            Duration::from_secs(60),
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    };
    upgrade();
    let a = kv(&[("COLOR", "green\n"), ("DELAY", "0\n"), ("NEW", "1\n"), ("PORT", "1\n")]);
    let b = kv(&[
        ("COLOR", "yellow\n"),
        ("DELAY", "0\n"),
        ("NEW", "1\n"),
        ("PORT", "9\n"),
        ("X", "a b\n"),
    ]);
    assert_eq!(env_of(&svc, "a"), a);
    assert_eq!(env_of(&svc, "b"), b);
    // And a second upgrade too (the new copy's manifest does not claim
    // env/).
    upgrade();
    assert_eq!(env_of(&svc, "a"), a);
    assert_eq!(env_of(&svc, "b"), b);
    // The set has nothing more for a; b's own values are s6i-env's, not
    // its line's.
    assert_eq!(ok(&sync_file(&svc, &f, &["-R", "none"])), "~b\n");
    assert_eq!(env_of(&svc, "a"), a);
    assert_eq!(
        env_of(&svc, "b"),
        kv(&[("COLOR", "yellow\n"), ("DELAY", "0\n"), ("NEW", "1\n")])
    );
}

/// The variables of an envdir, read from one descriptor of it: what a
/// starting service would see. None when the directory read is no
/// longer `env/` once read (swapped out meanwhile, and being removed:
/// that reader read an old one, and a restart after the swap reads the
/// new one).
fn read_whole(env: &Path) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::{fstat, stat, Mode};
    let d = open(env, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).ok()?;
    let got = read_all(&d)?;
    // Still the live env/: the same inode at the name, and still linked
    // (a directory swapped out and removed meanwhile has no links).
    let (now, read) = (stat(env).ok()?, fstat(&d).ok()?);
    (now.st_ino == read.st_ino && now.st_dev == read.st_dev && read.st_nlink > 0).then_some(got)
}

fn read_all(d: &std::os::fd::OwnedFd) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::Mode;
    use std::io::Read;
    let mut out = Vec::new();
    for key in ["K", "L"] {
        let Ok(f) = openat(d, key, OFlag::O_RDONLY, Mode::empty()) else {
            out.push((key.as_bytes().to_vec(), b"missing".to_vec()));
            continue;
        };
        let mut v = Vec::new();
        std::fs::File::from(f).read_to_end(&mut v).ok()?;
        out.push((key.as_bytes().to_vec(), v));
    }
    Some(out)
}

#[test]
fn concurrent_syncs_swap_whole_envdirs() {
    let t = Tree::new();
    let svc = t.service("svc", env_template);
    let one = set_file(&t, "one", "a K=1 L=1\nb K=1 L=1\n");
    let two = set_file(&t, "two", "a K=2 L=2\nb K=2 L=2\n");
    assert_eq!(ok(&sync_file(&svc, &one, &[])), "+a\n+b\n");
    let env = dir(&svc, "a").join("env");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (env, stop) = (env.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Some(got) = read_whole(&env) else { continue };
                let whole = got == [(b"K".to_vec(), b"1\n".to_vec()), (b"L".to_vec(), b"1\n".to_vec())]
                    || got == [(b"K".to_vec(), b"2\n".to_vec()), (b"L".to_vec(), b"2\n".to_vec())];
                assert!(whole, "half an env/: {got:?}");
                reads += 1;
            }
            reads
        })
    };
    for round in 0..10 {
        let spawn = |f: &Path| {
            ours("s6-instance-sync")
                .args(["-R", "none", "-f"])
                .arg(f)
                .arg(&svc)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (x, y) = (spawn(&one), spawn(&two));
        for c in [x, y] {
            let out = c.wait_with_output().unwrap();
            assert_eq!(code(&out), 0, "round {round}: {}", stderr(&out));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    // Whole at the end too, the same for both instances' own sets, and
    // nothing hidden left.
    for n in ["a", "b"] {
        let got = read_whole(&dir(&svc, n).join("env")).unwrap();
        assert_eq!(got[0].1, got[1].1, "{n}");
        assert!(hidden_in(&dir(&svc, n)).is_empty(), "{n}");
    }
}

#[test]
fn killed_syncs_leave_envs_the_next_sync_makes_whole() {
    let t = Tree::new();
    let svc = t.service("svc", env_template);
    let sets = [
        "a PORT=1\nb PORT=1\nc PORT=1\n",
        "b PORT=2 X=y\nc PORT=2\nd PORT=2\ne\n",
        "a PORT=3\ne COLOR=red\n",
    ];
    let mut seed = 1919u64;
    for round in 0..12 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let delay = Duration::from_micros(seed >> 33 & 0x7fff);
        let text = sets[round % sets.len()];
        let f = set_file(&t, "set", text);
        let action = if round % 2 == 0 { "none" } else { "restart" };
        kill_after(
            ours("s6-instance-sync").args(["-R", action, "-f"]).arg(&f).arg(&svc),
            delay,
        );
        let what = format!("round {round}, killed at {delay:?}");
        // Whatever the moment: every env/ there is a whole one.
        for n in entries(&svc.join("instance")) {
            if n.starts_with(b".") {
                continue;
            }
            let env = svc.join("instances").join(String::from_utf8(n).unwrap()).join("env");
            if env.exists() {
                let colour = std::fs::read(env.join("COLOR")).unwrap_or_default();
                assert!(colour == b"blue\n" || colour == b"red\n", "{what}: {env:?} half there");
            }
        }
        let out = sync_file(&svc, &f, &["-R", action]);
        assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
        // Exactly the set, each with its env/, nothing hidden left.
        let mut names = Vec::new();
        for line in text.lines() {
            let mut words = line.split(' ');
            let name = words.next().unwrap();
            names.push(name.as_bytes().to_vec());
            let mut want = vec![("COLOR", "blue\n".to_string()), ("DELAY", "0\n".to_string())];
            for w in words {
                let (k, v) = w.split_once('=').unwrap();
                want.retain(|(key, _)| *key != k);
                want.push((k, format!("{v}\n")));
            }
            want.sort();
            let want: Vec<(&str, &str)> = want.iter().map(|(k, v)| (*k, v.as_str())).collect();
            assert_eq!(env_of(&svc, name), kv(&want), "{what}: {name}");
            assert!(hidden_in(&dir(&svc, name)).is_empty(), "{what}: {name}");
            assert!(
                wait_until(Duration::from_secs(10), || supervised(&dir(&svc, name))),
                "{what}: {name} not supervised"
            );
        }
        names.sort();
        let listed: Vec<Vec<u8>> = entries(&svc.join("instance"))
            .into_iter()
            .filter(|e| !e.starts_with(b"."))
            .collect();
        assert_eq!(listed, names, "{what}");
    }
}

/// Whether the instance is wanted up, as s6-svstat reads its status.
fn wanted_up(svc: &Path, name: &str) -> bool {
    let out = run(program("/usr/bin/s6-svstat")
        .args(["-o", "wantedup"])
        .arg(dir(svc, name)));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    stdout(&out).trim() == "true"
}

/// A restart is a down, then an up (s6-supervise holds `s6-svc -r` back a
/// second). In between the instance is wanted down: a sync stopped by
/// SIGTERM there brings it up before it dies, and one killed there
/// leaves its intent log, which the next command of another kind (a
/// create of another name) reads to bring it up.
#[test]
fn a_restart_stopped_midway_leaves_the_instance_wanted_up() {
    let t = Tree::new();
    // The finish script holds the restart between its down and its up
    // (s6-supervise stops it after timeout-finish, 5 s by default).
    let svc = t.service("svc", |d| {
        sleeper_template(d);
        write_script(&d.join("finish"), "/usr/bin/sleep 30");
    });
    let f = set_file(&t, "set", "a X=1\n");
    assert_eq!(ok(&sync_file(&svc, &f, &[])), "+a\n");
    let work = svc.join("instances/.s6i-work");
    for (round, sig) in [Signal::SIGTERM, Signal::SIGKILL].into_iter().enumerate() {
        let pid_a = pid(&svc, "a");
        let f = set_file(&t, "set", &format!("a X={}\n", round + 2));
        let child = ours("s6-instance-sync")
            .args(["-t", "20000", "-f"])
            .arg(&f)
            .arg(&svc)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = format!("log:{}.", child.id());
        let held = || entries(&work).iter().any(|n| n.starts_with(log.as_bytes()));
        let seen = wait_until(Duration::from_secs(10), || held() && !wanted_up(&svc, "a"));
        kill(Pid::from_raw(child.id() as i32), sig).unwrap();
        let st = ended_within(child, Duration::from_secs(10)).expect("sync did not end");
        assert!(seen, "round {round}: sync never held a down");
        assert_eq!(st.signal(), Some(sig as i32), "round {round}");
        if sig == Signal::SIGKILL {
            assert!(held() && !wanted_up(&svc, "a"));
            // Any command that finishes leftovers brings it up.
            let out = run_for(
                ours("s6-instance-create").args(["-t", "20000"]).arg(&svc).arg("b"),
                Duration::from_secs(60),
            );
            assert_eq!(code(&out), 0, "{}", stderr(&out));
        }
        assert!(wanted_up(&svc, "a"), "round {round}: a left wanted down");
        assert!(!work.exists(), "round {round}: .s6i-work left");
        let a = dir(&svc, "a");
        let out = run_for(
            program("/usr/bin/s6-svwait").args(["-u", "-t", "20000"]).arg(&a),
            Duration::from_secs(30),
        );
        assert_eq!(code(&out), 0, "round {round}: a not up again");
        assert_ne!(pid(&svc, "a"), pid_a);
    }
}

/// The kill point between the two swaps (s6-instance-steps(7)): the new
/// env/ in place, the old instance-env/ still there. The next sync takes
/// the instance as changed (its own values are not the set's), writes
/// both and restarts it; the one after changes nothing.
#[test]
fn a_sync_killed_between_its_two_swaps_is_finished_by_the_next() {
    let t = Tree::new();
    let svc = t.service("svc", env_template);
    let f = set_file(&t, "set", "a PORT=1\n");
    assert_eq!(ok(&sync_file(&svc, &f, &[])), "+a\n");
    let a = dir(&svc, "a");
    assert_eq!(std::fs::read(a.join("instance-env/PORT")).unwrap(), b"1\n");
    // What a sync to PORT=2 killed after its first swap leaves.
    let f = set_file(&t, "set", "a PORT=2\n");
    std::fs::write(a.join("env/PORT"), "2\n").unwrap();
    let pid_a = pid(&svc, "a");
    assert_eq!(ok(&sync_file(&svc, &f, &["-n"])), "~a\n");
    assert_eq!(ok(&sync_file(&svc, &f, &[])), "~a\n");
    assert_eq!(std::fs::read(a.join("instance-env/PORT")).unwrap(), b"2\n");
    assert_ne!(pid(&svc, "a"), pid_a);
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(a.join("seen"))
            .is_ok_and(|s| has_var(&s, "PORT=2"))),
        "the new run never saw PORT=2"
    );
    assert_eq!(ok(&sync_file(&svc, &f, &[])), "");
}
