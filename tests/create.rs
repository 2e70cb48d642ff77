//! s6-instance-create against a real s6 tree, beside s6's C program.

mod common;

use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

#[test]
fn create_starts_the_instance_up() {
    let (_t, svc) = Tree::with_service();
    let out = run(ours("s6-instance-create").arg(&svc).arg("web"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let link = svc.join("instance/web");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        std::path::Path::new("../instances/web")
    );
    let dir = svc.join("instances/web");
    // When create returns, the supervisor runs: no waiting here.
    assert!(supervised(&dir));
    assert!(
        wait_until(Duration::from_secs(10), || status(&dir).0 != 0),
        "instance never came up"
    );
    assert!(!dir.join("down").exists());
    assert_eq!(
        std::fs::read(dir.join("run")).unwrap(),
        std::fs::read(svc.join("template/run")).unwrap()
    );
}

/// `s6-svstat -o up,wantedup,normallyup` of an instance.
fn svstat(dir: &std::path::Path) -> String {
    let out = run(reference("s6-svstat").args(["-o", "up,wantedup,normallyup"]).arg(dir));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn create_down_options_match_s6() {
    let (_t, svc) = Tree::with_service();
    for (opt, down_file, state) in [("-d", false, "false false true\n"), ("-D", true, "false false false\n")] {
        let name = format!("ours{opt}");
        let out = run(ours("s6-instance-create").arg(opt).arg(&svc).arg(&name));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let dir = svc.join("instances").join(&name);
        assert!(supervised(&dir));
        assert_eq!(status(&dir).0, 0, "{opt}: the instance must not run");
        assert_eq!(dir.join("down").exists(), down_file, "{opt}: down file");

        let cname = format!("c{opt}");
        let out = run(reference("s6-instance-create").arg(opt).arg(&svc).arg(&cname));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(svstat(&dir), svstat(&svc.join("instances").join(&cname)), "{opt}");
        assert_eq!(svstat(&dir), state, "{opt}");
    }
    // The last of -d and -D wins, as in s6.
    let out = run(ours("s6-instance-create").args(["-D", "-d"]).arg(&svc).arg("last"));
    assert_eq!(code(&out), 0);
    assert!(!svc.join("instances/last/down").exists());
}

#[test]
fn timeout_undoes_everything() {
    let (t, svc) = Tree::with_service();
    let scanner = Pid::from_raw(t.nested_scanner(&svc));
    assert_eq!(common::comm(scanner.as_raw()), "s6-svscan");
    kill(scanner, Signal::SIGSTOP).unwrap();
    let out = run(ours("s6-instance-create").args(["-t", "300"]).arg(&svc).arg("late"));
    let cout = run(reference("s6-instance-create")
        .args(["-t", "300"])
        .arg(&svc)
        .arg("clate"));
    kill(scanner, Signal::SIGCONT).unwrap();
    assert_eq!(code(&out), 99, "{}", stderr(&out));
    assert_eq!(code(&cout), 99);
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    // Nothing left: no link, no directory, no temporary copy.
    assert_eq!(entries(&svc.join("instance")), vec![b".s6-svscan".to_vec()]);
    assert!(
        entries(&svc.join("instances")).is_empty(),
        "{:?}",
        entries(&svc.join("instances"))
    );
    // And once the scanner reads its commands, no supervisor appears.
    std::thread::sleep(Duration::from_millis(300));
    let inst = svc.join("instances");
    assert!(pids_under(&inst).is_empty(), "processes left in {inst:?}");
}

#[test]
fn names_are_judged_as_s6_does() {
    let t = Tree::new();
    let ours_svc = t.service("ours", sleeper_template);
    let c_svc = t.service("c", sleeper_template);
    let long = vec![b'x'; 300];
    let cases: Vec<(&[u8], i32)> = vec![
        (b"", 100),
        (b".hidden", 100),
        (b"a b", 100),
        (b"a\tb", 100),
        (b"a\nb", 100),
        (b"a\rb", 100),
        (b"a\x0cb", 100),
        (&long, 111),
        (b"caf\xe9\xff", 0),
        (b"-dash", 0),
        (b"a\x0bb", 0),
    ];
    for (name, expect) in cases {
        let out = run(ours("s6-instance-create").arg("--").arg(&ours_svc).arg(os(name)));
        let cout = run(reference("s6-instance-create").arg("--").arg(&c_svc).arg(os(name)));
        assert_eq!(
            code(&out),
            code(&cout),
            "name {name:?}: ours {} / C {}",
            stderr(&out),
            stderr(&cout)
        );
        assert_eq!(code(&out), expect, "name {name:?}: {}", stderr(&out));
        let made = ours_svc.join("instances").join(os(name));
        assert_eq!(expect == 0, !name.is_empty() && made.is_dir(), "name {name:?}");
        if expect == 100 {
            assert!(stderr(&out).contains("invalid instance name"), "{}", stderr(&out));
        }
    }
    assert_eq!(entries(&ours_svc.join("instances")), entries(&c_svc.join("instances")));
    assert_eq!(entries(&ours_svc.join("instance")), entries(&c_svc.join("instance")));
}

#[test]
fn a_slash_in_a_name_is_refused() {
    let (t, svc) = Tree::with_service();
    let before_tree = entries(t.path());
    for name in ["a/b", "a/../../x", "x/", "/abs"] {
        let out = run(ours("s6-instance-create").arg(&svc).arg(name));
        assert_eq!(code(&out), 100, "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("s6-instance-create: fatal: invalid instance name"),
            "{}",
            stderr(&out)
        );
    }
    assert!(entries(&svc.join("instances")).is_empty());
    assert_eq!(entries(&svc.join("instance")), vec![b".s6-svscan".to_vec()]);
    assert_eq!(entries(t.path()), before_tree);
    assert_eq!(
        entries(&svc),
        vec![
            b"event".to_vec(),
            b"instance".to_vec(),
            b"instances".to_vec(),
            b"notification-fd".to_vec(),
            b"run".to_vec(),
            b"supervise".to_vec(),
            b"template".to_vec()
        ]
    );
}

#[test]
fn duplicate_is_refused_and_leaves_the_instance_alone() {
    let (_t, svc) = Tree::with_service();
    let dir = svc.join("instances/one");
    assert_eq!(code(&run(ours("s6-instance-create").arg(&svc).arg("one"))), 0);
    std::fs::write(dir.join("marker"), "mine").unwrap();
    let sup = supervisor_pid(&dir).expect("supervisor of one");
    let out = run(ours("s6-instance-create").arg(&svc).arg("one"));
    assert_eq!(code(&out), 100);
    assert!(
        stderr(&out).contains("instance appears to already exist at"),
        "{}",
        stderr(&out)
    );
    let cout = run(reference("s6-instance-create").arg(&svc).arg("one"));
    assert_eq!(code(&cout), 100);
    assert_eq!(std::fs::read_to_string(dir.join("marker")).unwrap(), "mine");
    assert_eq!(supervisor_pid(&dir), Some(sup));
    assert_eq!(entries(&svc.join("instances")), vec![b"one".to_vec()]);
    // A file where the instance would go is refused too.
    std::fs::write(svc.join("instances/file"), "").unwrap();
    let out = run(ours("s6-instance-create").arg(&svc).arg("file"));
    assert_eq!(code(&out), 100);
    assert!(
        stderr(&out).contains("unexpected file preventing instance creation"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_stopped_service_exits_1() {
    let (t, svc) = Tree::with_service();
    let out = run(reference("s6-svc").args(["-wD", "-d"]).arg(&svc));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(wait_until(Duration::from_secs(10), || !locked(
        &svc.join("instance/.s6-svscan/lock")
    )));
    let before = (entries(&svc.join("instances")), entries(&svc.join("instance")));
    let out = run(ours("s6-instance-create").arg(&svc).arg("x"));
    let cout = run(reference("s6-instance-create").arg(&svc).arg("x"));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(code(&cout), 1);
    let msg = format!("fatal: instanced service not running on {}\n", svc.display());
    assert!(stderr(&out).ends_with(&msg), "{}", stderr(&out));
    assert_eq!(
        (entries(&svc.join("instances")), entries(&svc.join("instance"))),
        before
    );
    drop(t);
}

#[test]
fn a_never_started_service_fails_as_in_s6() {
    let t = Tree::new();
    let svc = t.offline_service("idle", sleeper_template);
    let out = run(ours("s6-instance-create").arg(&svc).arg("x"));
    let cout = run(reference("s6-instance-create").arg(&svc).arg("x"));
    assert_eq!(code(&out), 111, "{}", stderr(&out));
    assert_eq!(code(&cout), 111);
    // Same reason as s6's, after our program's name.
    let reason = |s: String| s.split_once("fatal: ").map(|(_, r)| r.to_string()).unwrap_or(s);
    assert_eq!(reason(stderr(&out)), reason(stderr(&cout)));
    assert!(entries(&svc.join("instances")).is_empty());
}

#[test]
fn a_missing_template_changes_nothing() {
    let (_t, svc) = Tree::with_service();
    std::fs::remove_dir_all(svc.join("template")).unwrap();
    let out = run(ours("s6-instance-create").arg(&svc).arg("x"));
    assert_eq!(code(&out), 111, "{}", stderr(&out));
    assert!(stderr(&out).contains("template"), "{}", stderr(&out));
    assert_eq!(code(&run(reference("s6-instance-create").arg(&svc).arg("y"))), 111);
    assert!(entries(&svc.join("instances")).is_empty());
    assert_eq!(entries(&svc.join("instance")), vec![b".s6-svscan".to_vec()]);
}

#[test]
fn the_old_template_place_is_read() {
    let (_t, svc) = Tree::with_service();
    std::fs::rename(svc.join("template"), svc.join("instances/.template")).unwrap();
    let out = run(ours("s6-instance-create").arg(&svc).arg("x"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(supervised(&svc.join("instances/x")));
}

#[test]
fn a_logged_template_gets_both_supervisors() {
    let t = Tree::new();
    let svc = t.service("logged", |tpl| {
        sleeper_template(tpl);
        // A logger reads until its producer is gone, as a real one does.
        std::fs::create_dir(tpl.join("log")).unwrap();
        write_script(&tpl.join("log/run"), "/usr/bin/cat");
    });
    let out = run(ours("s6-instance-create").arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Both run as soon as create returns.
    assert!(supervised(&svc.join("instances/a")));
    assert!(supervised(&svc.join("instances/a/log")));
    // -D keeps both down, as s6 does.
    let out = run(ours("s6-instance-create").arg("-D").arg(&svc).arg("b"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(svc.join("instances/b/log/down").exists());
    assert!(supervised(&svc.join("instances/b/log")));
}

#[test]
fn template_copy_keeps_links_modes_and_fifos() {
    let t = Tree::new();
    let svc = t.service("rich", |tpl| {
        sleeper_template(tpl);
        std::fs::create_dir(tpl.join("data")).unwrap();
        std::fs::write(tpl.join("data/secret"), "s").unwrap();
        std::fs::set_permissions(
            tpl.join("data/secret"),
            std::os::unix::fs::PermissionsExt::from_mode(0o640),
        )
        .unwrap();
        std::os::unix::fs::symlink("../run", tpl.join("data/link")).unwrap();
        nix::unistd::mkfifo(&tpl.join("data/fifo"), nix::sys::stat::Mode::from_bits_truncate(0o620)).unwrap();
    });
    assert_eq!(code(&run(ours("s6-instance-create").arg(&svc).arg("a"))), 0);
    assert_eq!(code(&run(reference("s6-instance-create").arg(&svc).arg("b"))), 0);
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    for (ours_f, c_f) in ["data", "data/secret", "data/link", "data/fifo", "run"]
        .iter()
        .map(|f| (svc.join("instances/a").join(f), svc.join("instances/b").join(f)))
    {
        let (a, b) = (
            std::fs::symlink_metadata(&ours_f).unwrap(),
            std::fs::symlink_metadata(&c_f).unwrap(),
        );
        assert_eq!(a.mode(), b.mode(), "{ours_f:?}");
        assert_eq!((a.uid(), a.gid()), (b.uid(), b.gid()), "{ours_f:?}");
        assert_eq!(a.file_type().is_fifo(), b.file_type().is_fifo());
    }
    assert_eq!(
        std::fs::read_link(svc.join("instances/a/data/link")).unwrap(),
        std::path::Path::new("../run")
    );
}

#[test]
fn user_words_are_never_executed() {
    let (t, svc) = Tree::with_service();
    let victim = t.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    let marker = t.path().join("marker");
    let injected: Vec<Vec<&std::ffi::OsStr>> = vec![
        vec![
            "name".as_ref(),
            "/usr/bin/rm".as_ref(),
            "-rf".as_ref(),
            victim.as_os_str(),
        ],
        vec!["n2".as_ref(), "/usr/bin/touch".as_ref(), marker.as_os_str()],
        vec![
            "n3".as_ref(),
            "}".as_ref(),
            "/usr/bin/touch".as_ref(),
            marker.as_os_str(),
        ],
    ];
    for words in &injected {
        let out = run(ours("s6-instance-create").arg(&svc).args(words));
        let cout = run(reference("s6-instance-create")
            .arg(&svc)
            .arg(format!("c{}", words[0].to_string_lossy()))
            .args(&words[1..]));
        assert_eq!(code(&out), code(&cout), "{}", stderr(&out));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    // Words that look like our own steps' options or a block.
    for name in ["-c", "--", "{", "$name"] {
        let out = run(ours("s6-instance-create")
            .arg("--")
            .arg(&svc)
            .arg(name)
            .arg("/usr/bin/touch")
            .arg(&marker));
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        assert!(svc.join("instances").join(name).is_dir(), "{name}");
    }
    assert!(victim.is_dir(), "rm ran");
    assert!(!marker.exists(), "touch ran");
    assert!(svc.join("instances/name").is_dir());
    // A service path that looks like an option is still a path.
    let out = run(ours("s6-instance-create").arg("--").arg("-X").arg("n"));
    assert_eq!(code(&out), 111, "{}", stderr(&out));
}

#[test]
fn usage_errors_print_s6s_usage_line() {
    let (_t, svc) = Tree::with_service();
    let svc = svc.to_str().unwrap();
    for args in [
        vec![],
        vec![svc],
        vec!["-t", "x", svc, "n"],
        vec!["-t"],
        vec!["-q", svc, "n"],
        vec!["-t", "99999999999", svc, "n"],
    ] {
        let out = run(ours("s6-instance-create").args(&args));
        let cout = run(reference("s6-instance-create").args(&args));
        assert_eq!(code(&out), 100, "{args:?}");
        assert_eq!(stderr(&out), stderr(&cout), "{args:?}");
    }
    assert!(entries(&std::path::Path::new(svc).join("instances")).is_empty());
}

#[test]
fn a_name_of_bytes_roundtrips_through_list() {
    let (_t, svc) = Tree::with_service();
    let name = b"\xc3\x28-raw";
    assert_eq!(code(&run(ours("s6-instance-create").arg(&svc).arg(os(name)))), 0);
    let out = run(ours("s6-instance-list").arg(&svc));
    assert_eq!(out.stdout, [&name[..], b"\n"].concat());
    assert!(svc
        .join("instances")
        .join(os(name))
        .as_os_str()
        .as_bytes()
        .ends_with(name));
}

#[test]
fn messages_speak_as_the_command() {
    let (_t, svc) = Tree::with_service();
    assert_eq!(code(&run(ours("s6-instance-create").arg(&svc).arg("a"))), 0);
    let out = run(ours("s6-instance-create").arg(&svc).arg("a"));
    let cout = run(reference("s6-instance-create").arg(&svc).arg("a"));
    assert!(
        stderr(&out).starts_with("s6-instance-create: fatal: instance appears to already exist at "),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&cout).starts_with("s6-instance-create: fatal: instance appears to already exist at "));
}

#[test]
fn symlinks_are_not_followed_to_write_elsewhere() {
    let t = Tree::new();
    let victim = t.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let svc = t.service("svc", |tpl| {
        sleeper_template(tpl);
        std::os::unix::fs::symlink(&victim, tpl.join("down")).unwrap();
    });
    // -D writes a down file: not through the template's symlink.
    let out = run(ours("s6-instance-create").arg("-D").arg(&svc).arg("a"));
    assert_eq!(code(&out), 111, "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!svc.join("instances/a").exists() && !svc.join("instance/a").exists());
    // A symlink (even dangling) where the instance would go is refused.
    std::os::unix::fs::symlink("nowhere", svc.join("instances/b")).unwrap();
    let out = run(ours("s6-instance-create").arg(&svc).arg("b"));
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(svc.join("instances/b"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(!svc.join("instance/b").exists());
}

#[test]
fn a_symlinked_template_gives_each_instance_its_own_copy() {
    let t = Tree::new();
    let svc = t.service("svc", sleeper_template);
    let real = t.path().join("real-template");
    std::fs::rename(svc.join("template"), &real).unwrap();
    std::os::unix::fs::symlink(&real, svc.join("template")).unwrap();
    for n in ["a", "b"] {
        assert_eq!(code(&run(ours("s6-instance-create").arg(&svc).arg(n))), 0);
        let md = std::fs::symlink_metadata(svc.join("instances").join(n)).unwrap();
        assert!(md.is_dir(), "{n} is not a directory of its own");
    }
}

/// Names, types, modes and contents of everything under `dir`.
fn tree_of(dir: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    for name in entries(dir) {
        let p = dir.join(os(&name));
        let md = std::fs::symlink_metadata(&p).unwrap();
        let body = if md.is_file() {
            std::fs::read_to_string(&p).unwrap_or_default()
        } else {
            String::new()
        };
        out.push(format!("{} {:o} {body}", String::from_utf8_lossy(&name), md.mode()));
        if md.is_dir() {
            out.extend(
                tree_of(&p)
                    .into_iter()
                    .map(|l| format!("{}/{l}", String::from_utf8_lossy(&name))),
            );
        }
    }
    out
}

#[test]
fn links_planted_in_the_service_are_never_followed() {
    let (t, svc) = Tree::with_service();
    let elsewhere = t.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("precious"), "keep").unwrap();
    let before = tree_of(&elsewhere);
    // instances/NAME leading to a real directory: refused, as s6 does.
    std::os::unix::fs::symlink(&elsewhere, svc.join("instances/b")).unwrap();
    for prog in [ours("s6-instance-create"), reference("s6-instance-create")].iter_mut() {
        let out = run(prog.arg(&svc).arg("b"));
        assert_eq!(code(&out), 100, "{}", stderr(&out));
    }
    assert!(!svc.join("instance/b").exists());
    // instance/NAME (the link the scanner sees) planted first: the create
    // fails when it cannot make its own link, and takes back its copy.
    std::os::unix::fs::symlink(&elsewhere, svc.join("instance/c")).unwrap();
    let out = run(ours("s6-instance-create").args(["-D", "-P", "-f"]).arg(&svc).arg("c"));
    assert_eq!(code(&out), 111, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("s6-instance-create: fatal: unable to make symlink "),
        "{}",
        stderr(&out)
    );
    assert!(!svc.join("instances/c").exists());
    assert_eq!(std::fs::read_link(svc.join("instance/c")).unwrap(), elsewhere);
    assert_eq!(tree_of(&elsewhere), before);
    // Deleting through either planted link removes the link, never what
    // it leads to. (The planted scan-directory link goes first: any rescan
    // while it is there, whoever asks for it, has s6-svscan supervise
    // whatever it leads to.)
    for name in ["c", "b"] {
        let out = run(ours("s6-instance-delete").arg(&svc).arg(name));
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
    }
    assert_eq!(tree_of(&elsewhere), before);
    let mode = std::fs::metadata(&elsewhere).unwrap().permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o7777, 0o755);
}

#[test]
fn links_in_the_template_are_copied_as_links_and_never_written_through() {
    let t = Tree::new();
    let elsewhere = t.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("precious"), "keep").unwrap();
    let outside = elsewhere.clone();
    let svc = t.service("svc", move |tpl| {
        sleeper_template(tpl);
        std::os::unix::fs::symlink(&outside, tpl.join("data")).unwrap();
    });
    let before = (
        tree_of(&elsewhere),
        std::fs::metadata(&elsewhere).unwrap().permissions(),
    );
    for opts in [&[][..], &["-D"], &["-d", "-P", "-f"]] {
        let out = run(ours("s6-instance-create").args(opts).arg(&svc).arg("a"));
        assert_eq!(code(&out), 0, "{opts:?}: {}", stderr(&out));
        assert_eq!(std::fs::read_link(svc.join("instances/a/data")).unwrap(), elsewhere);
        let out = run(ours("s6-instance-delete").arg(&svc).arg("a"));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(!svc.join("instances/a").exists());
    }
    // event/ as a link in the template: the fifodir is not made (or,
    // with -f, its mode fixed) through it; the create fails whole.
    std::os::unix::fs::symlink(&elsewhere, svc.join("template/event")).unwrap();
    for opts in [&[][..], &["-f"], &["-P", "-f"]] {
        let out = run(ours("s6-instance-create").args(opts).arg(&svc).arg("e"));
        assert_eq!(code(&out), 111, "{opts:?}: {}", stderr(&out));
        assert!(!svc.join("instances/e").exists() && !svc.join("instance/e").exists());
    }
    assert_eq!(
        (
            tree_of(&elsewhere),
            std::fs::metadata(&elsewhere).unwrap().permissions()
        ),
        before
    );
}
