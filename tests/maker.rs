//! s6-instance-maker beside s6's C program: the trees they write, their
//! errors, and what they write at work in a real s6 tree.

mod common;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

const PROG: &str = "s6-instance-maker";

/// A template with a bit of everything the copy must keep.
fn rich_template(tpl: &Path) {
    sleeper_template(tpl);
    write_script(&tpl.join("finish"), "/usr/bin/true");
    std::fs::create_dir(tpl.join("data")).unwrap();
    std::fs::write(tpl.join("data/secret"), "s").unwrap();
    std::fs::set_permissions(tpl.join("data/secret"), PermissionsExt::from_mode(0o640)).unwrap();
    std::os::unix::fs::lchown(tpl.join("data/secret"), Some(1234), Some(4321)).unwrap();
    std::os::unix::fs::symlink("../run", tpl.join("data/link")).unwrap();
    nix::unistd::mkfifo(&tpl.join("data/fifo"), nix::sys::stat::Mode::from_bits_truncate(0o620)).unwrap();
    std::fs::create_dir(tpl.join("log")).unwrap();
    write_script(&tpl.join("log/run"), "/usr/bin/cat");
    std::fs::set_permissions(tpl, PermissionsExt::from_mode(0o750)).unwrap();
}

/// A run script with its programs' directories taken off, so that the
/// comparison holds wherever each maker finds them.
fn normalise_script(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in b.split_inclusive(|&c| c == b'\n') {
        let (shebang, rest) = match line.strip_prefix(b"#!") {
            Some(r) => (true, r),
            None => (false, line),
        };
        if rest.first() == Some(&b'/') {
            let end = rest.iter().position(|&c| c == b' ' || c == b'\n').unwrap_or(rest.len());
            let base = rest[..end].rsplit(|&c| c == b'/').next().unwrap();
            if shebang {
                out.extend_from_slice(b"#!");
            }
            out.extend_from_slice(base);
            out.extend_from_slice(&rest[end..]);
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

/// Everything under `root`: path, type and mode, owner, and contents (run
/// scripts outside the template normalised).
fn snapshot(root: &Path) -> Vec<String> {
    fn walk(root: &Path, rel: &Path, out: &mut Vec<String>) {
        let path = if rel.as_os_str().is_empty() {
            root.to_path_buf()
        } else {
            root.join(rel)
        };
        let md = std::fs::symlink_metadata(&path).unwrap();
        let ft = md.file_type();
        let what = if ft.is_dir() {
            "dir".to_string()
        } else if ft.is_symlink() {
            format!("link -> {:?}", std::fs::read_link(&path).unwrap())
        } else if ft.is_fifo() {
            "fifo".to_string()
        } else {
            let b = std::fs::read(&path).unwrap();
            let in_template = rel.components().any(|c| c.as_os_str() == "template");
            let b = if rel.file_name() == Some(OsStr::new("run")) && !in_template {
                normalise_script(&b)
            } else {
                b
            };
            format!("file {:?}", String::from_utf8_lossy(&b))
        };
        out.push(format!("{rel:?} {:o} {}:{} {what}", md.mode(), md.uid(), md.gid()));
        if ft.is_dir() {
            let mut names: Vec<OsString> = std::fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            names.sort();
            for n in names {
                walk(root, &rel.join(n), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, Path::new(""), &mut out);
    out
}

fn with_umask(cmd: &mut Command, mask: u32) -> &mut Command {
    // SAFETY: umask is async-signal-safe and touches nothing else.
    unsafe {
        cmd.pre_exec(move || {
            libc::umask(mask as libc::mode_t);
            Ok(())
        })
    }
}

/// Hidden work in progress that a maker could have left in `dir`.
fn leftovers(dir: &Path) -> Vec<Vec<u8>> {
    entries(dir).into_iter().filter(|n| n.starts_with(b".s6i-")).collect()
}

/// stderr with the directories of a comparison taken off.
/// Standard error, with the directories made generic, and without our
/// warning about a user unknown here (s6's maker does not look).
fn plain_stderr(out: &Output, dirs: &[&Path]) -> String {
    let mut s: String = stderr(out)
        .lines()
        .filter(|l| !l.ends_with("is not in /etc/passwd here: the run scripts need it where they run"))
        .map(|l| format!("{l}\n"))
        .collect();
    for d in dirs {
        s = s.replace(&*d.to_string_lossy(), "DIR");
    }
    s
}

struct Pair {
    ours: Output,
    theirs: Output,
    ours_dir: PathBuf,
    their_dir: PathBuf,
}

/// Run both makers with `args`, then `template` and a directory of
/// their own under `base` named after `tag`.
fn both(base: &Path, tag: &str, args: &[&OsStr], template: &Path, umask: u32) -> Pair {
    let ours_dir = base.join(format!("ours-{tag}"));
    let their_dir = base.join(format!("c-{tag}"));
    let ours = run(with_umask(ours(PROG).args(args).arg(template).arg(&ours_dir), umask));
    let theirs = run(with_umask(
        reference(PROG).args(args).arg(template).arg(&their_dir),
        umask,
    ));
    Pair {
        ours,
        theirs,
        ours_dir,
        their_dir,
    }
}

fn os(a: &[&str]) -> Vec<OsString> {
    a.iter().map(OsString::from).collect()
}

fn refs(a: &[OsString]) -> Vec<&OsStr> {
    a.iter().map(OsString::as_os_str).collect()
}

/// Both makers succeed and write the same tree.
fn same_tree(base: &Path, tag: &str, args: &[OsString], template: &Path, umask: u32) -> Vec<String> {
    let p = both(base, tag, &refs(args), template, umask);
    assert_eq!(code(&p.theirs), 0, "{args:?}: s6: {}", stderr(&p.theirs));
    assert_eq!(code(&p.ours), 0, "{args:?}: ours: {}", stderr(&p.ours));
    assert!(p.ours.stdout.is_empty());
    assert_eq!(
        plain_stderr(&p.ours, &[&p.ours_dir]),
        plain_stderr(&p.theirs, &[&p.their_dir]),
        "{args:?}"
    );
    let snap = snapshot(&p.ours_dir);
    assert_eq!(snap, snapshot(&p.their_dir), "{args:?} umask {umask:o}");
    assert!(leftovers(base).is_empty());
    snap
}

#[test]
fn every_option_writes_what_s6_writes() {
    let t = Tree::new();
    let tpl = t.path().join("tpl");
    rich_template(&tpl);
    let sets: Vec<Vec<OsString>> = vec![
        os(&[]),
        os(&["--"]),
        os(&["-c", "0"]),
        os(&["-c", "1"]),
        os(&["-c", "77"]),
        os(&["-c", "90000"]),
        os(&["-c", "90001"]),
        os(&["-c", "4294967295"]),
        os(&["-c", "5", "-c", "6"]),
        os(&["-u", "daemon"]),
        os(&["-u", ""]),
        os(&["-u", "a\"b\\c$x{}#"]),
        vec!["-u".into(), OsString::from_vec(b"\xe9t\x01\x7f\r".to_vec())],
        os(&["-u", "a", "-u", "nobody"]),
        os(&["-L", "/var/log/x"]),
        os(&["-L", "/var/log/with space \"and\" \\ quotes\n"]),
        os(&["-L", "/l", "-l", "nobody"]),
        os(&["-L", "/l", "-l", ""]),
        os(&["-L", "/l", "-l", "a b\tc"]),
        os(&["-L", "/l", "-t", "0"]),
        os(&["-L", "/l", "-t", "1"]),
        os(&["-L", "/l", "-t", "2"]),
        os(&["-L", "/l", "-t", "3"]),
        os(&["-L", "/l", "-n", "0"]),
        os(&["-L", "/l", "-n", "4294967295"]),
        os(&["-L", "/l", "-s", "0"]),
        os(&["-L", "/l", "-s", "18446744073709551615"]),
        os(&["-L", "/l", "-S", "0"]),
        os(&["-L", "/l", "-S", "5000000000"]),
        os(&["-L", "/l", "-P", "app:"]),
        os(&["-L", "/l", "-P", ""]),
        os(&["-L", "/l", "-P", "a#b{c}$d"]),
        os(&["-L", "/l", "-c", "90000"]),
        // Logger options without a logger are ignored.
        os(&["-l", "x", "-t", "2", "-n", "4", "-s", "1", "-S", "9", "-P", "x"]),
        os(&[
            "-c",
            "12",
            "-u",
            "daemon",
            "-l",
            "nobody",
            "-L",
            "/var/log/svc",
            "-t",
            "3",
            "-n",
            "20",
            "-s",
            "100000",
            "-S",
            "2000000",
            "-P",
            "svc:",
        ]),
        os(&[
            "-c5", "-udaemon", "-L/l", "-lnobody", "-t0", "-n3", "-s5000", "-S6000", "-Pp",
        ]),
        os(&["-r", "svc"]),
        os(&["-r", "svc", "-u", "daemon", "-c", "3"]),
        os(&["-r", "svc/log", "-L", "/l"]),
        os(&[
            "-r",
            "svc/log/pipe",
            "-L",
            "/l",
            "-l",
            "nobody",
            "-t",
            "2",
            "-P",
            "x:",
            "-S",
            "7",
        ]),
        os(&["-r", "a", "-r", "b"]),
    ];
    for (i, args) in sets.iter().enumerate() {
        same_tree(t.path(), &i.to_string(), args, &tpl, 0o022);
    }
    // Modes follow the umask as in s6, a umask that hides a script from
    // its owner earns the same warning, and directories stay 0755.
    for (i, umask) in [0o000, 0o027, 0o077, 0o277, 0o477, 0o777].into_iter().enumerate() {
        for (j, args) in [os(&["-L", "/l"]), os(&["-r", "s/l/p", "-L", "/l"])].iter().enumerate() {
            same_tree(t.path(), &format!("umask{i}-{j}"), args, &tpl, umask);
        }
    }
}

#[test]
fn the_tree_is_what_the_docs_say() {
    let t = Tree::new();
    let tpl = t.path().join("tpl");
    rich_template(&tpl);
    let dir = t.path().join("svc");
    let out = run(ours(PROG)
        .args(["-L", "/var/log/svc", "-u", "daemon"])
        .arg(&tpl)
        .arg(&dir));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let run_script = std::fs::read(dir.join("run")).unwrap();
    // s6 2.15's scanner takes -C, and counts the loggers in (500 more).
    let max = if s6i::maker::PROGRAMS.max_option == b'C' {
        "-C1000"
    } else {
        "-c500"
    };
    assert_eq!(
        String::from_utf8(normalise_script(&run_script)).unwrap(),
        format!("#!execlineb -P\n\nfdmove -c 2 1\ns6-setuidgid \"daemon\"\ns6-svscan -d3 {max} -- instance\n")
    );
    // Every program is named by an absolute path that exists.
    for script in [dir.join("run"), dir.join("log/run")] {
        let text = std::fs::read(&script).unwrap();
        for line in text.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
            let line = line.strip_prefix(b"#!").unwrap_or(line);
            let prog = line.split(|&c| c == b' ').next().unwrap();
            assert!(prog.starts_with(b"/"), "{script:?}: {}", String::from_utf8_lossy(line));
            assert!(
                Path::new(OsStr::from_bytes(prog)).exists(),
                "{}",
                String::from_utf8_lossy(prog)
            );
        }
    }
    assert_eq!(std::fs::read(dir.join("notification-fd")).unwrap(), b"3\n");
    assert_eq!(std::fs::read(dir.join("log/notification-fd")).unwrap(), b"3\n");
    assert!(entries(&dir.join("instance")).is_empty());
    assert!(entries(&dir.join("instances")).is_empty());
    assert_eq!(snapshot(&dir.join("template")), snapshot(&tpl));
}

/// Our error and s6's for the same command line: same exit code; for a
/// usage line, the same stderr; for the other refusals, the same
/// message (s6 2.11 spells one word "specifiec", fixed in later s6).
fn same_error(t: &Tree, tag: &str, args: &[&OsStr], template: &Path, expect: i32, compare_stderr: bool) {
    let p = both(t.path(), tag, args, template, 0o022);
    assert_eq!(code(&p.theirs), expect, "{args:?}: s6: {}", stderr(&p.theirs));
    assert_eq!(code(&p.ours), expect, "{args:?}: ours: {}", stderr(&p.ours));
    if compare_stderr {
        assert_eq!(
            stderr(&p.ours),
            stderr(&p.theirs).replace("specifiec", "specified"),
            "{args:?}"
        );
    }
    assert!(leftovers(t.path()).is_empty(), "{args:?}");
}

#[test]
fn refusals_match_s6() {
    let t = Tree::new();
    let tpl = t.path().join("tpl");
    sleeper_template(&tpl);
    let tpl_os = tpl.clone().into_os_string();
    let usage: Vec<Vec<&str>> = vec![
        vec!["-x"],
        vec!["-c"],
        vec!["-c", "x"],
        vec!["-c", "-1"],
        vec!["-c", "+1"],
        vec!["-c", ""],
        vec!["-c", "4294967296"],
        vec!["-t", "4294967296"],
        vec!["-n", "1x"],
        vec!["-L/l", "-r"],
    ];
    for (i, args) in usage.iter().enumerate() {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        same_error(&t, &format!("u{i}"), &args, &tpl, 100, true);
    }
    // Too few operands.
    for (i, args) in [
        vec![],
        vec![tpl_os.as_os_str()],
        vec![OsStr::new("-c5"), tpl_os.as_os_str()],
    ]
    .iter()
    .enumerate()
    {
        let ours_out = run(ours(PROG).args(args));
        let theirs = run(reference(PROG).args(args));
        assert_eq!((code(&ours_out), code(&theirs)), (100, 100), "{i}");
        assert_eq!(stderr(&ours_out), stderr(&theirs), "{i}");
    }
    // The sizes are 64-bit numbers; a bad one is a usage error in both,
    // but ours is found by s6i-make, which prints its own usage line.
    for (i, args) in [["-s", "x"], ["-S", "18446744073709551616"], ["-S", ""]]
        .iter()
        .enumerate()
    {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        same_error(&t, &format!("s{i}"), &args, &tpl, 100, false);
        let out = run(ours(PROG).args(&args).arg(&tpl).arg(t.path().join("x")));
        assert!(
            stderr(&out).starts_with("s6-instance-maker: usage: "),
            "{}",
            stderr(&out)
        );
    }
    let refused: Vec<Vec<&str>> = vec![
        vec!["-L", "rel"],
        vec!["-L", ""],
        vec!["-L", "rel", "-t", "9", "-u", "a b"],
        vec!["-t", "4"],
        vec!["-t", "4", "-u", "a b"],
        vec!["-u", "a b"],
        vec!["-u", "a\tb"],
        vec!["-u", "a\nb"],
        vec!["-u", "a b", "-r", "/x"],
        vec!["-r", "a\nb"],
        vec!["-r", "/a"],
        vec!["-r", "/"],
        vec!["-r", "a/"],
        vec!["-r", "a//b"],
        vec!["-r", "a/b"],
        vec!["-r", "a/b/c"],
        vec!["-L", "/l", "-r", "a"],
        vec!["-L", "/l", "-r", "a/b/"],
        vec!["-L", "/l", "-r", "a/b/c/d"],
        vec!["-L", "/l", "-r", "a/b/c/"],
    ];
    for (i, args) in refused.iter().enumerate() {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        same_error(&t, &format!("r{i}"), &args, &tpl, 100, true);
        assert!(!t.path().join(format!("ours-r{i}")).exists());
    }
}

#[test]
fn system_failures_leave_nothing() {
    let t = Tree::new();
    let tpl = t.path().join("tpl");
    sleeper_template(&tpl);
    let base = t.path();
    // Something is already there: a directory, a file, a dangling link.
    std::fs::create_dir(base.join("ours-dir")).unwrap();
    std::fs::create_dir(base.join("c-dir")).unwrap();
    std::fs::write(base.join("ours-file"), "x").unwrap();
    std::fs::write(base.join("c-file"), "x").unwrap();
    std::os::unix::fs::symlink("nowhere", base.join("ours-link")).unwrap();
    std::os::unix::fs::symlink("nowhere", base.join("c-link")).unwrap();
    for tag in ["dir", "file", "link"] {
        let before = snapshot(&base.join(format!("ours-{tag}")));
        same_error(&t, tag, &[], &tpl, 111, false);
        assert_eq!(snapshot(&base.join(format!("ours-{tag}"))), before);
    }
    // No template: s6 leaves a half-made directory, we leave nothing.
    same_error(&t, "notpl", &[], &base.join("missing"), 111, false);
    assert!(base.join("c-notpl/run").exists());
    assert!(!base.join("ours-notpl").exists());
    // No parent directory.
    same_error(&t, "x/y", &[], &tpl, 111, false);
    // -r: a service that exists, a logger that exists, both of one name.
    for tag in ["rc1", "rc2", "rc3"] {
        for who in ["ours", "c"] {
            std::fs::create_dir_all(base.join(format!("{who}-{tag}/svc"))).unwrap();
            std::fs::create_dir_all(base.join(format!("{who}-{tag}/log2"))).unwrap();
        }
    }
    same_error(&t, "rc1", &[OsStr::new("-r"), OsStr::new("svc")], &tpl, 111, false);
    same_error(
        &t,
        "rc2",
        &[OsStr::new("-L/l"), OsStr::new("-r"), OsStr::new("new/log2")],
        &tpl,
        111,
        false,
    );
    // s6 leaves the service without its logger; we take it back.
    assert!(base.join("c-rc2/new").exists());
    assert!(!base.join("ours-rc2/new").exists());
    same_error(
        &t,
        "rc3",
        &[OsStr::new("-L/l"), OsStr::new("-r"), OsStr::new("twin/twin")],
        &tpl,
        111,
        false,
    );
    assert!(!base.join("ours-rc3/twin").exists());
    for d in ["ours-rc1", "ours-rc2", "ours-rc3"] {
        assert!(leftovers(&base.join(d)).is_empty(), "{d}");
    }
    // -r into a file, and an empty service name.
    std::fs::write(base.join("ours-rcf"), "x").unwrap();
    std::fs::write(base.join("c-rcf"), "x").unwrap();
    same_error(&t, "rcf", &[OsStr::new("-r"), OsStr::new("svc")], &tpl, 111, false);
    same_error(&t, "rce", &[OsStr::new("-r"), OsStr::new("")], &tpl, 111, false);
    // s6 made the directory before failing; we take back what we made.
    assert!(base.join("c-rce").exists());
    assert!(!base.join("ours-rce").exists());
}

#[test]
fn rc_definitions_add_up_in_one_directory() {
    let t = Tree::new();
    let tpl = t.path().join("tpl");
    sleeper_template(&tpl);
    for who in ["ours", "c"] {
        std::fs::create_dir(t.path().join(format!("{who}-db"))).unwrap();
    }
    for args in [os(&["-r", "one"]), os(&["-r", "two/two-log/two-pipe", "-L", "/l"])] {
        let p = both(t.path(), "db", &refs(&args), &tpl, 0o022);
        assert_eq!((code(&p.ours), code(&p.theirs)), (0, 0), "{}", stderr(&p.ours));
    }
    assert_eq!(snapshot(&t.path().join("ours-db")), snapshot(&t.path().join("c-db")));
    assert_eq!(
        entries(&t.path().join("ours-db")),
        [b"one".to_vec(), b"two".to_vec(), b"two-log".to_vec()]
    );
}

#[test]
fn one_of_many_makers_wins() {
    let t = Tree::new();
    let tpl = t.path().join("tpl");
    rich_template(&tpl);
    let dir = t.path().join("svc");
    let children: Vec<_> = (0..6)
        .map(|_| {
            ours(PROG)
                .arg(&tpl)
                .arg(&dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let codes: Vec<i32> = children
        .into_iter()
        .map(|mut c| {
            assert!(wait_until(Duration::from_secs(20), || c.try_wait().unwrap().is_some()));
            c.wait().unwrap().code().unwrap()
        })
        .collect();
    assert_eq!(codes.iter().filter(|&&c| c == 0).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|&c| c == 0 || c == 111), "{codes:?}");
    assert!(leftovers(t.path()).is_empty());
    assert_eq!(snapshot(&dir.join("template")), snapshot(&tpl));
}

#[test]
fn a_linked_template_is_copied_not_linked() {
    let t = Tree::new();
    let tpl = t.path().join("tpl");
    sleeper_template(&tpl);
    std::os::unix::fs::symlink("tpl", t.path().join("tpl-link")).unwrap();
    let dir = t.path().join("svc");
    let out = run(ours(PROG).arg(t.path().join("tpl-link")).arg(&dir));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // s6 copies the link itself, which a relative target breaks.
    assert!(std::fs::symlink_metadata(dir.join("template")).unwrap().is_dir());
    assert_eq!(snapshot(&dir.join("template")), snapshot(&tpl));
}

#[test]
fn words_after_the_operands_are_ignored_and_the_step_chains() {
    let t = Tree::new();
    let tpl = t.path().join("tpl");
    sleeper_template(&tpl);
    let marker = t.path().join("marker");
    let extra = [OsStr::new("/usr/bin/touch"), marker.as_os_str()];
    for (mut maker, dir) in [(ours(PROG), "ours"), (reference(PROG), "c")] {
        let out = run(maker.arg(&tpl).arg(t.path().join(dir)).args(extra));
        assert_eq!(code(&out), 0, "{dir}: {}", stderr(&out));
    }
    assert!(!marker.exists(), "a word after dir was executed");
    assert_eq!(snapshot(&t.path().join("ours")), snapshot(&t.path().join("c")));
    // The step itself runs what follows its operands, once the directory
    // is made, and not when it fails.
    let out = run(ours("s6i-make")
        .arg("--")
        .arg(&tpl)
        .arg(t.path().join("step"))
        .arg("/usr/bin/touch")
        .arg(&marker));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(marker.exists() && t.path().join("step/run").exists());
    std::fs::remove_file(&marker).unwrap();
    let out = run(ours("s6i-make")
        .arg(&tpl)
        .arg(t.path().join("step"))
        .arg("/usr/bin/touch")
        .arg(&marker));
    assert_eq!(code(&out), 111);
    assert!(!marker.exists());
}

#[test]
fn a_made_service_runs_and_both_suites_work_on_it() {
    let t = Tree::new();
    let tpl = t.path().join("svc.template");
    sleeper_template(&tpl);
    let svc = t.path().join("svc");
    let out = run(ours(PROG).arg(&tpl).arg(&svc));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    t.start("svc", &svc);
    for (create, name) in [
        (ours("s6-instance-create"), "a"),
        (reference("s6-instance-create"), "b"),
    ] {
        let mut create = create;
        let out = run(create.args(["-t", "10000"]).arg(&svc).arg(name));
        assert_eq!(code(&out), 0, "create {name}: {}", stderr(&out));
        let dir = svc.join("instances").join(name);
        assert!(
            wait_until(Duration::from_secs(10), || status(&dir).0 != 0),
            "{name} never came up"
        );
    }
    for mut list in [ours("s6-instance-list"), reference("s6-instance-list")] {
        let out = run(list.arg(&svc));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let mut names: Vec<&[u8]> = out.stdout.split(|&c| c == b'\n').filter(|l| !l.is_empty()).collect();
        names.sort();
        assert_eq!(names, [&b"a"[..], b"b"]);
    }
    // Each suite deletes the other's instance.
    let out = run(reference("s6-instance-delete").arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(ours("s6-instance-delete").arg(&svc).arg("b"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(entries(&svc.join("instances")).is_empty());
    let out = run(ours("s6-instance-list").arg(&svc));
    assert_eq!((code(&out), out.stdout.len()), (0, 0));
}

#[test]
fn a_logged_service_logs_its_instances() {
    let t = Tree::new();
    let tpl = t.path().join("svc.template");
    std::fs::create_dir(&tpl).unwrap();
    write_script(
        &tpl.join("run"),
        "foreground { /usr/bin/echo out from $1 }\n\
         foreground { /usr/lib/execline/bin/fdmove -c 1 2 /usr/bin/echo err from $1 }\n\
         /usr/bin/sleep 3600",
    );
    let logdir = t.path().join("logs");
    let svc = t.path().join("svc");
    // A prefix with a space: s6's maker writes it bare, and its s6-log
    // would take the second word for a directive.
    let out = run(ours(PROG)
        .args(["-t", "0", "-P", "my app:", "-L"])
        .arg(&logdir)
        .arg(&tpl)
        .arg(&svc));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    t.start("svc", &svc);
    assert!(wait_until(Duration::from_secs(10), || supervised(&svc.join("log"))));
    let out = run(ours("s6-instance-create").args(["-t", "10000"]).arg(&svc).arg("web"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let current = logdir.join("current");
    let logged = |what: &str| {
        std::fs::read_to_string(&current)
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("my app:") && l.ends_with(what))
    };
    assert!(
        wait_until(Duration::from_secs(10), || logged("out from web")
            && logged("err from web")),
        "log: {:?}",
        std::fs::read_to_string(&current)
    );
}

/// A system user for the test, removed at the end.
struct SystemUser {
    name: &'static str,
    uid: u32,
    gid: u32,
    made: bool,
}

/// One number of `id` for `name` (the tests are static binaries, where
/// the C library cannot read the user database).
fn id(flag: &str, name: &str) -> Option<u32> {
    let out = run(Command::new("/usr/bin/id").arg(flag).arg(name));
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

impl SystemUser {
    fn get(name: &'static str) -> SystemUser {
        let mut made = false;
        if id("-u", name).is_none() {
            let out = run(Command::new("/usr/sbin/useradd")
                .args([
                    "--system",
                    "--user-group",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                ])
                .arg(name));
            assert_eq!(code(&out), 0, "useradd: {}", stderr(&out));
            made = true;
        }
        SystemUser {
            name,
            uid: id("-u", name).expect("uid"),
            gid: id("-g", name).expect("gid"),
            made,
        }
    }
}

impl Drop for SystemUser {
    fn drop(&mut self) {
        if self.made {
            let _ = run(Command::new("/usr/sbin/userdel").arg(self.name));
        }
    }
}

fn uid_of(pid: i32) -> u32 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            chown_tree(&e.unwrap().path(), uid, gid);
        }
    }
}

#[test]
fn a_service_runs_as_its_user() {
    if !nix::unistd::geteuid().is_root() {
        println!("skipped: only root can run a service as another user");
        return;
    }
    // Dropped after the tree, whose processes run as the user.
    let user = SystemUser::get("s6i-maker-test");
    let t = Tree::new();
    // The user's processes and commands must reach the service.
    std::fs::set_permissions(t.path(), PermissionsExt::from_mode(0o755)).unwrap();
    let tpl = t.path().join("svc.template");
    sleeper_template(&tpl);
    let svc = t.path().join("svc");
    let out = run(ours(PROG).args(["-u", user.name]).arg(&tpl).arg(&svc));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The user's scanner writes in instance/, its supervisors in the
    // copies of the template: the service is handed over to the user.
    chown_tree(&svc, user.uid, user.gid);
    t.start("svc", &svc);
    assert_eq!(uid_of(t.nested_scanner(&svc)), user.uid);
    for (create, name) in [
        (ours("s6-instance-create"), "a"),
        (reference("s6-instance-create"), "b"),
    ] {
        let mut create = create;
        let out = run(create
            .uid(user.uid)
            .gid(user.gid)
            .args(["-t", "10000"])
            .arg(&svc)
            .arg(name));
        assert_eq!(code(&out), 0, "create {name}: {}", stderr(&out));
        let dir = svc.join("instances").join(name);
        assert!(
            wait_until(Duration::from_secs(10), || status(&dir).0 != 0),
            "{name} never came up"
        );
        assert_eq!(uid_of(status(&dir).0 as i32), user.uid, "{name}");
        assert_eq!(uid_of(supervisor_pid(&dir).unwrap()), user.uid, "{name}");
    }
    let out = run(ours("s6-instance-delete")
        .uid(user.uid)
        .gid(user.gid)
        .arg(&svc)
        .arg("b"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(reference("s6-instance-delete")
        .uid(user.uid)
        .gid(user.gid)
        .arg(&svc)
        .arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(entries(&svc.join("instances")).is_empty());
}

/// Issue 26, item 9: a template is never copied into itself. Where the
/// copy would go (beside `dir`, or in it with -r) is the template or
/// lies below it, told by device and inode (a link to the template is
/// seen through): refused, exit 100, before anything is made.
#[test]
fn a_template_is_never_copied_into_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let tpl = tmp.path().join("tpl");
    sleeper_template(&tpl);
    std::fs::create_dir(tpl.join("sub")).unwrap();
    std::os::unix::fs::symlink(&tpl, tmp.path().join("link")).unwrap();
    let before = snapshot(&tpl);
    let r = OsStr::new("-r");
    let cases: Vec<(Vec<&OsStr>, PathBuf)> = vec![
        (vec![], tpl.join("svc")),
        (vec![], tpl.clone()),
        (vec![], tpl.join("sub/svc")),
        (vec![], tmp.path().join("link/svc")),
        (vec![], tpl.join("sub/../svc")),
        (vec![r, OsStr::new("svc")], tpl.clone()),
        (vec![r, OsStr::new("svc")], tpl.join("sub")),
        (vec![r, OsStr::new("svc")], tpl.join("rc")),
    ];
    for (args, dir) in cases {
        let out = run(ours(PROG).args(&args).arg(&tpl).arg(&dir));
        assert_eq!(code(&out), 100, "{args:?} {dir:?}: {}", stderr(&out));
        let said = stderr(&out);
        assert!(
            said.starts_with(&format!("{PROG}: fatal: invalid template: {}", tpl.display()))
                && said.ends_with(" or holds it: a template cannot be copied into itself\n"),
            "{said}"
        );
        assert_eq!(snapshot(&tpl), before, "{args:?} {dir:?}");
        assert!(leftovers(&tpl).is_empty() && leftovers(tmp.path()).is_empty());
    }
    // Beside it, or with the template given through a link, all is well.
    let out = run(ours(PROG).arg(tmp.path().join("link")).arg(tmp.path().join("svc")));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        std::fs::read(tmp.path().join("svc/template/run")).unwrap(),
        std::fs::read(tpl.join("run")).unwrap()
    );
    assert_eq!(snapshot(&tpl), before);
}

/// Issue 26, item 9: a template of any depth is made into a service,
/// with the descriptors of a default limit (1024), without recursion;
/// and a maker that fails after copying one leaves nothing of it.
#[test]
fn a_deep_template_is_copied_whole_and_a_failure_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let tpl = tmp.path().join("tpl");
    sleeper_template(&tpl);
    deep_tree(&tpl, DEEP);
    let svc = tmp.path().join("svc");
    let out = run_for(fd_limit(ours(PROG).arg(&tpl).arg(&svc), 1024), Duration::from_secs(120));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(deepest(&svc.join("template"), DEEP).as_deref(), Some(&b"bottom"[..]));
    assert!(svc.join("run").exists() && svc.join("instances").is_dir());
    assert!(leftovers(tmp.path()).is_empty());
    // The logger's name is taken: the service, deep template and all,
    // was built and is taken back.
    let rc = tmp.path().join("rc");
    std::fs::create_dir_all(rc.join("lg")).unwrap();
    let out = run_for(
        fd_limit(ours(PROG).args(["-L/l", "-r", "svc/lg"]).arg(&tpl).arg(&rc), 1024),
        Duration::from_secs(120),
    );
    assert_eq!(code(&out), 111, "{}", stderr(&out));
    assert_eq!(entries(&rc), vec![b"lg".to_vec()]);
    remove_deep(&svc);
    remove_deep(&tpl);
}

/// Issue 28, item 9: the first example of our man page, run as printed
/// (its paths put under a temporary tree, `/run/service` being a scan
/// directory with its s6-svscan running), three times over: it makes,
/// supervises and waits for the instanced service, and the create then
/// works, every time.
#[test]
fn the_man_pages_first_example_works_as_printed() {
    let page = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("man/s6-instance-maker.1")).unwrap();
    let examples = &page[page.find(".Sh EXAMPLES").expect("an EXAMPLES section")..];
    let start = examples.find(".Bd -literal").unwrap();
    let block: Vec<&str> = examples[start..].lines().skip(1).take_while(|l| *l != ".Ed").collect();
    assert_eq!(block.len(), 4, "{block:?}");
    for round in 0..3 {
        let t = Tree::new();
        let root = t.path();
        sleeper_template(&root.join("etc/templates/getty"));
        std::fs::create_dir_all(root.join("etc/sv")).unwrap();
        std::fs::create_dir_all(root.join("var/log")).unwrap();
        let scan = root.join("scan").display().to_string();
        let under = |w: &str| {
            if let Some(rest) = w.strip_prefix("/run/service") {
                format!("{scan}{rest}")
            } else if w.starts_with('/') {
                format!("{}{w}", root.display())
            } else {
                w.to_string()
            }
        };
        for line in &block {
            let words: Vec<String> = line.split_whitespace().map(under).collect();
            let mut cmd = if words[0].starts_with("s6-instance-") {
                ours(&words[0])
            } else {
                program(format!("/usr/bin/{}", words[0]))
            };
            let out = run_for(cmd.args(&words[1..]), Duration::from_secs(30));
            assert_eq!(code(&out), 0, "round {round}: {line}: {}", stderr(&out));
        }
        let inst = root.join("etc/sv/getty/instances/tty3");
        assert!(
            wait_until(Duration::from_secs(10), || supervised(&inst)),
            "round {round}"
        );
    }
}
