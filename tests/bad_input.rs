//! The bad-input catalogue: every command and every step, given what it
//! must refuse. Each refusal is a `PROG: fatal: ...` or `PROG: usage: ...`
//! line with s6's exit code, never a panic, and changes nothing on disk.
//! Where s6's C program takes the same input, its exit code is ours.

mod common;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::*;

/// Everything under `dir` that a refused command could have touched:
/// names, types, modes, link targets and file contents. Supervisors'
/// own `supervise/` directories are left out: they write there.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let md = std::fs::symlink_metadata(&p).unwrap();
            let content = if md.file_type().is_symlink() {
                std::fs::read_link(&p).unwrap().into_os_string().into_vec()
            } else if md.is_file() {
                std::fs::read(&p).unwrap_or_default()
            } else {
                Vec::new()
            };
            if md.is_dir() && e.file_name() != "supervise" {
                todo.push(p.clone());
            }
            out.push((p, md.mode(), content));
        }
    }
    out.sort();
    out
}

/// What a refusal must look like.
enum Says {
    Usage,
    Fatal(&'static str),
    /// A warning, then the exit code (s6-svc from s6 2.14).
    Warning(&'static str),
    /// Byte for byte what s6's C program says.
    AsS6,
}

struct Case {
    prog: &'static str,
    args: Vec<OsString>,
    code: i32,
    says: Says,
    /// s6's C program of that name takes the same input to the same code.
    like_s6: bool,
}

fn case(prog: &'static str, args: &[&OsStr], code: i32, says: Says, like_s6: bool) -> Case {
    Case {
        prog,
        args: args.iter().map(|a| a.to_os_string()).collect(),
        code,
        says,
        like_s6,
    }
}

fn check(cases: Vec<Case>, tree: &Path) {
    let before = snapshot(tree);
    for c in cases {
        let out = run(ours(c.prog).args(&c.args));
        let err = stderr(&out);
        let what = format!("{} {:?}", c.prog, c.args);
        assert_eq!(code(&out), c.code, "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        assert!(out.stdout.is_empty(), "{what}: printed {:?}", out.stdout);
        let (kind, tail) = match c.says {
            Says::Usage => ("usage", ""),
            Says::Fatal(msg) => ("fatal", msg),
            Says::Warning(msg) => ("warning", msg),
            Says::AsS6 => ("", ""),
        };
        let head = format!("{}: {kind}", c.prog);
        assert!(err.starts_with(&head), "{what}: {err:?}");
        assert!(err.contains(tail), "{what}: {err:?} lacks {tail:?}");
        assert_eq!(err.lines().count(), 1, "{what}: {err:?}");
        if c.like_s6 {
            let cout = run(reference(c.prog).args(&c.args));
            assert_eq!(code(&cout), c.code, "{what}: s6 says {}", stderr(&cout));
            if matches!(c.says, Says::AsS6) {
                assert_eq!(err, stderr(&cout), "{what}");
            }
        }
        assert!(snapshot(tree) == before, "{what} changed the tree");
    }
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// A live instanced service `svc` with an instance `a`, a live one whose
/// template is gone, and paths that are no instanced service at all.
struct Bad {
    t: Tree,
    svc: PathBuf,
}

impl Bad {
    fn new() -> Bad {
        let t = Tree::new();
        let svc = t.service("svc", sleeper_template);
        let out = run(ours("s6-instance-create").arg(&svc).arg("a"));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let notpl = t.service("notpl", sleeper_template);
        std::fs::remove_dir_all(notpl.join("template")).unwrap();
        std::fs::write(t.path().join("file"), "x").unwrap();
        std::os::unix::fs::symlink(t.path().join("nowhere"), t.path().join("dangling")).unwrap();
        Bad { t, svc }
    }

    fn path(&self, what: &str) -> PathBuf {
        self.t.path().join(what)
    }
}

/// s6 says why the path cannot be opened; we say what is wrong.
const NOT_A_SERVICE: [(&str, &str); 3] = [
    ("missing", "not an instanced service: "),
    ("file", "not an instanced service: "),
    ("dangling", "not an instanced service: "),
];

fn bad_names() -> Vec<(OsString, bool)> {
    // (name, whether s6's C programs refuse it too)
    let mut v: Vec<(OsString, bool)> = ["", ".a", "..", "a b", "a\tb", "a\nb", "a\x0cb", "a\rb"]
        .iter()
        .map(|n| (OsString::from(n), true))
        .collect();
    v.push(("a/b".into(), false));
    v.push(("../x".into(), false));
    v
}

#[test]
fn the_commands_refuse_bad_input_and_touch_nothing() {
    let b = Bad::new();
    let svc = b.svc.as_os_str();
    let mut cases = Vec::new();
    for (prog, opts) in [
        ("s6-instance-create", &["-t", "x"][..]),
        ("s6-instance-create", &["-t", "99999999999"]),
        ("s6-instance-create", &["-t", ""]),
        ("s6-instance-create", &["-Z"]),
        ("s6-instance-delete", &["-t", "-1"]),
        ("s6-instance-delete", &["-t", "4294967296"]),
        ("s6-instance-delete", &["-d"]),
        ("s6-instance-control", &["-T", "x"]),
        ("s6-instance-control", &["-T", "99999999999"]),
        ("s6-instance-control", &["-wx"]),
        ("s6-instance-control", &["-w", ""]),
        ("s6-instance-control", &["-Z"]),
        ("s6-instance-status", &["-o", "bogus"]),
        ("s6-instance-status", &["-o", "up,,pid"]),
        ("s6-instance-status", &["-Z"]),
    ] {
        let mut args: Vec<&OsStr> = opts.iter().map(|o| os(o)).collect();
        args.extend([svc, os("a")]);
        let says = if prog == "s6-instance-status" && opts[0] == "-o" {
            Says::Fatal("option field")
        } else {
            Says::Usage
        };
        cases.push(case(prog, &args, 100, says, true));
    }
    for prog in [
        "s6-instance-create",
        "s6-instance-delete",
        "s6-instance-control",
        "s6-instance-status",
    ] {
        cases.push(case(prog, &[], 100, Says::Usage, true));
        cases.push(case(prog, &[svc], 100, Says::Usage, true));
        for (name, like_s6) in bad_names() {
            let says = Says::Fatal("invalid instance name");
            cases.push(case(prog, &[svc, &name], 100, says, like_s6));
        }
        // Too long for the file system: refused by it, as in s6.
        let long = "x".repeat(300);
        if prog != "s6-instance-create" {
            // From s6 2.14, s6-svc warns and goes on to its next operand.
            let says = if prog == "s6-instance-control" && release().svc_warns() {
                Says::Warning("File name too long")
            } else {
                Says::Fatal("File name too long")
            };
            cases.push(case(prog, &[svc, os(&long)], 111, says, true));
        }
    }
    for prog in ["s6-instance-create", "s6-instance-delete", "s6-instance-list"] {
        for (what, reason) in NOT_A_SERVICE {
            let p = b.path(what);
            let args: Vec<&OsStr> = if prog == "s6-instance-list" {
                vec![p.as_os_str()]
            } else {
                vec![p.as_os_str(), os("b")]
            };
            cases.push(case(prog, &args, 111, Says::Fatal(reason), true));
        }
        let empty: Vec<&OsStr> = if prog == "s6-instance-list" {
            vec![os("")]
        } else {
            vec![os(""), os("b")]
        };
        cases.push(case(prog, &empty, 100, Says::Fatal("invalid service path"), true));
    }
    for prog in ["s6-instance-control", "s6-instance-status"] {
        cases.push(case(
            prog,
            &[os(""), os("a")],
            100,
            Says::Fatal("invalid service name"),
            true,
        ));
        // They go to the instance's supervisor without a look at the
        // service first, as s6's do, and keep s6's codes; but say why.
        for (what, reason) in NOT_A_SERVICE {
            // A file where the service should be: no supervisor can be
            // looked at there (ENOTDIR), 111 as s6's says.
            let code = if prog == "s6-instance-status" && what != "file" {
                1
            } else {
                111
            };
            let p = b.path(what);
            let args = [os("-u"), p.as_os_str(), os("b")];
            let args = if prog == "s6-instance-control" {
                &args[..]
            } else {
                &args[1..]
            };
            cases.push(case(prog, args, code, Says::Fatal(reason), true));
        }
    }
    cases.push(case("s6-instance-list", &[], 100, Says::Usage, true));
    cases.push(case("s6-instance-list", &[os("-Z"), svc], 100, Says::Usage, true));
    // A live service without its template: nothing to copy.
    let notpl = b.path("notpl");
    cases.push(case(
        "s6-instance-create",
        &[notpl.as_os_str(), os("b")],
        111,
        Says::Fatal("template"),
        true,
    ));
    // An instance that exists already.
    cases.push(case(
        "s6-instance-create",
        &[svc, os("a")],
        100,
        Says::Fatal("instance appears to already exist"),
        true,
    ));
    check(cases, b.t.path());
}

#[test]
fn the_steps_refuse_bad_input_and_touch_nothing() {
    let b = Bad::new();
    let svc = b.svc.as_os_str();
    let missing = b.path("missing");
    let mut cases = Vec::new();
    let named = [
        "s6i-clone",
        "s6i-link",
        "s6i-wait-supervise",
        "s6i-unlink",
        "s6i-remove",
        "s6i-signal",
        "s6i-status",
    ];
    for step in named {
        cases.push(case(step, &[], 100, Says::Usage, false));
        cases.push(case(step, &[svc], 100, Says::Usage, false));
        cases.push(case(step, &[os("-Z"), svc, os("a")], 100, Says::Usage, false));
        for (name, _) in bad_names() {
            cases.push(case(
                step,
                &[svc, &name],
                100,
                Says::Fatal("invalid instance name"),
                false,
            ));
        }
        // An empty block of names is an empty name.
        cases.push(case(
            step,
            &[svc, os("")],
            100,
            Says::Fatal("invalid instance name"),
            false,
        ));
    }
    for (step, opt) in [("s6i-wait-supervise", "-t"), ("s6i-unlink", "-t"), ("s6i-signal", "-T")] {
        for v in ["x", "", "-1", "4294967296", "99999999999999999999"] {
            cases.push(case(step, &[os(opt), os(v), svc, os("a")], 100, Says::Usage, false));
        }
    }
    for step in ["s6i-ensure", "s6i-list", "s6i-make"] {
        cases.push(case(step, &[], 100, Says::Usage, false));
        cases.push(case(step, &[os("-Z"), svc], 100, Says::Usage, false));
    }
    cases.push(case(
        "s6i-ensure",
        &[missing.as_os_str()],
        111,
        Says::Fatal("not an instanced service: "),
        false,
    ));
    cases.push(case(
        "s6i-list",
        &[missing.as_os_str()],
        111,
        Says::Fatal("not an instanced service: "),
        false,
    ));
    cases.push(case(
        "s6i-ensure",
        &[os("")],
        100,
        Says::Fatal("invalid service path"),
        false,
    ));
    let notpl = b.path("notpl");
    cases.push(case(
        "s6i-ensure",
        &[os("-c"), notpl.as_os_str()],
        111,
        Says::Fatal("template"),
        false,
    ));
    cases.push(case(
        "s6i-clone",
        &[svc, os("a")],
        100,
        Says::Fatal("already exist"),
        false,
    ));
    cases.push(case("s6i-signal", &[os("-wq"), svc, os("a")], 100, Says::Usage, false));
    cases.push(case(
        "s6i-status",
        &[os("-o"), os("nope"), svc, os("a")],
        100,
        Says::Fatal("invalid option field"),
        false,
    ));
    // The maker's refusals, with s6's codes.
    let tpl = b.path("svc.template");
    let dir = b.path("made");
    for opts in [
        &["-t", "4"][..],
        &["-c", "x"],
        &["-L", "relative"],
        &["-u", "a b"],
        &["-s", "x"],
    ] {
        let mut args: Vec<&OsStr> = opts.iter().map(|o| os(o)).collect();
        args.extend([tpl.as_os_str(), dir.as_os_str()]);
        cases.push(case("s6-instance-maker", &args, 100, Says::AsS6, true));
    }
    // s6i-args outside a script has no positional parameters to read.
    cases.push(case(
        "s6i-args",
        &[os("-u"), os("x y"), os("true")],
        100,
        Says::Fatal("execlineb"),
        false,
    ));
    cases.push(case("s6i-args", &[os("-o"), os("x=")], 100, Says::Usage, false));
    check(cases, b.t.path());
}
