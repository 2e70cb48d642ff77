//! Copies that can be trusted: a root upgrade never changes a file
//! through a link another user plants, nothing is written through a
//! `log` symlink of the template, a `.s6i-pending` in a template blocks
//! nothing, and a create racing a template swap copies one template
//! whole.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A process of the test, stopped by its pid when dropped.
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0.id() as i32), Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

/// Item 1 of issue 18: while root upgrades an instance whose template
/// gives `data/` to another user, that user renames a symlink to a
/// root-only file over every `.s6i-upgrade:*/data/big` it can see, during
/// the copy of the instance's own big file. The old copy set the mode by
/// path afterwards: the root file became the big file's 0666.
#[test]
fn a_root_upgrade_changes_no_file_through_a_link_the_user_plants() {
    let Some(user) = test_user() else { return };
    let uid = nix::unistd::User::from_name(user).unwrap().unwrap().uid;
    let t = Tree::new();
    std::fs::set_permissions(t.path(), PermissionsExt::from_mode(0o755)).unwrap();
    let svc = t.service("svc", sleeper_template);
    std::fs::create_dir(svc.join("template/data")).unwrap();
    nix::unistd::chown(&svc.join("template/data"), Some(uid), None).unwrap();
    let out = run(ours("s6-instance-create").arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let data = svc.join("instances/a/data");
    assert_eq!(std::fs::metadata(&data).unwrap().uid(), uid.as_raw());
    // The instance's own big file, the user's, mode 0666.
    let big = data.join("big");
    std::fs::write(&big, vec![b'x'; 64 << 20]).unwrap();
    nix::unistd::chown(&big, Some(uid), None).unwrap();
    std::fs::set_permissions(&big, PermissionsExt::from_mode(0o666)).unwrap();
    // Root's alone.
    let secret = t.path().join("secret");
    std::fs::write(&secret, "root only\n").unwrap();
    std::fs::set_permissions(&secret, PermissionsExt::from_mode(0o600)).unwrap();

    // Only over a regular file: a `big` planted before the copy starts
    // would only make the copy skip it (or fail).
    let racer = r#"
        my ($instances, $target) = @ARGV;
        while (1) {
            for my $d (glob("$instances/.s6i-upgrade:*/data")) {
                next unless lstat("$d/big") && -f _;
                symlink($target, "$d/.race$$") or next;
                rename("$d/.race$$", "$d/big") or unlink("$d/.race$$");
            }
        }
    "#;
    let racer = Stopped(
        reference("s6-setuidgid")
            .arg(user)
            .args(["/usr/bin/perl", "-e", racer])
            .arg(svc.join("instances"))
            .arg(&secret)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for round in 0..4 {
        let out = run_for(ours("s6-instance-upgrade").arg(&svc), Duration::from_secs(60));
        assert_eq!(code(&out), 0, "round {round}: {}", stderr(&out));
        assert_eq!(
            mode(&secret),
            0o600,
            "round {round}: the upgrade changed the mode of a root file through a link"
        );
    }
    drop(racer);
    let md = std::fs::metadata(&secret).unwrap();
    assert_eq!((md.mode() & 0o7777, md.uid()), (0o600, 0));
    assert_eq!(std::fs::read(&secret).unwrap(), b"root only\n");
    // The instance is there and supervised all along.
    assert!(wait_until(Duration::from_secs(10), || supervised(
        &svc.join("instances/a")
    )));
}

/// The `down` file an upgrade writes to hold a new copy down is never
/// written through a dangling `down` symlink of the instance's own (the
/// old code made the file it points to, as root).
#[test]
fn an_upgrade_writes_no_down_file_through_a_link() {
    let (t, svc) = Tree::with_service();
    let out = run(ours("s6-instance-create").arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let target = t.path().join("made-by-root");
    std::os::unix::fs::symlink(&target, svc.join("instances/a/down")).unwrap();
    let out = run_for(ours("s6-instance-upgrade").arg(&svc), Duration::from_secs(60));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        std::fs::symlink_metadata(&target).is_err(),
        "the upgrade wrote {target:?} through the instance's down link"
    );
    let a = svc.join("instances/a");
    assert!(wait_until(Duration::from_secs(10), || supervised(&a) && status(&a).0 != 0));
}

/// Item 2: a template with `log -> elsewhere` makes no instance, and
/// nothing is written into `elsewhere`; an instance that s6's own create
/// made from it is deleted by ours, without writing through the link.
#[test]
fn a_log_symlink_in_the_template_is_never_written_through() {
    let (t, svc) = Tree::with_service();
    let elsewhere = t.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, svc.join("template/log")).unwrap();
    for opts in [&[][..], &["-d"], &["-D"]] {
        let out = run(ours("s6-instance-create").args(opts).arg(&svc).arg("a"));
        assert_ne!(code(&out), 0, "{opts:?}: the create succeeded");
        let err = stderr(&out);
        assert!(
            err.starts_with("s6-instance-create: fatal: unable to ")
                && err.contains("/instances/a/log")
                && err.to_lowercase().contains("symbolic link"),
            "{opts:?}: {err}"
        );
        assert!(entries(&elsewhere).is_empty(), "{opts:?}: {:?}", entries(&elsewhere));
        assert!(entries(&svc.join("instances")).is_empty(), "{opts:?}");
        assert_eq!(entries(&svc.join("instance")), vec![b".s6-svscan".to_vec()], "{opts:?}");
    }
    // s6's own create follows the link (so does s6-svscan); ours deletes
    // what it made, taking the link away, not what it leads to.
    let out = run(reference("s6-instance-create").arg(&svc).arg("c"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let c = svc.join("instances/c");
    assert!(wait_until(Duration::from_secs(10), || supervised(&c)));
    let out = run(ours("s6-instance-delete").arg(&svc).arg("c"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(entries(&svc.join("instances")).is_empty());
    assert_eq!(entries(&svc.join("instance")), vec![b".s6-svscan".to_vec()]);
    assert!(elsewhere.is_dir(), "the link's target went");
}

/// Item 12: a `.s6i-pending` in the template, a directory or a FIFO, is
/// not copied and blocks no create; an instance s6's create made from
/// such a template (it holds the directory) is deleted by ours.
#[test]
fn a_pending_mark_in_the_template_blocks_nothing() {
    let (_t, svc) = Tree::with_service();
    let mark = svc.join("template/.s6i-pending");
    std::fs::create_dir(&mark).unwrap();
    std::fs::write(mark.join("inside"), "x").unwrap();
    let out = run(ours("s6-instance-create").arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    std::fs::remove_dir_all(&mark).unwrap();
    nix::unistd::mkfifo(&mark, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let out = run(ours("s6-instance-create").arg(&svc).arg("b"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for name in ["a", "b"] {
        let dir = svc.join("instances").join(name);
        assert!(supervised(&dir) || wait_until(Duration::from_secs(10), || supervised(&dir)));
        assert!(
            std::fs::symlink_metadata(dir.join(".s6i-pending")).is_err(),
            "{name} has a .s6i-pending"
        );
    }

    // The reference copies the directory into its instance.
    std::fs::remove_file(&mark).unwrap();
    std::fs::create_dir(&mark).unwrap();
    std::fs::write(mark.join("inside"), "x").unwrap();
    let out = run(reference("s6-instance-create").arg(&svc).arg("c"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let c = svc.join("instances/c");
    assert!(std::fs::symlink_metadata(c.join(".s6i-pending")).unwrap().is_dir());
    let out = run(ours("s6-instance-delete").arg(&svc).arg("c"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(entries(&svc.join("instances")), vec![b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(
        entries(&svc.join("instance")),
        vec![b".s6-svscan".to_vec(), b"a".to_vec(), b"b".to_vec()]
    );
}

const FILES: usize = 3000;

/// A template of FILES files under `f/`, each holding `version`.
fn big_template(dir: &Path, version: &str) {
    sleeper_template(dir);
    std::fs::write(dir.join("version"), version).unwrap();
    let f = dir.join("f");
    std::fs::create_dir(&f).unwrap();
    for i in 0..FILES {
        std::fs::write(f.join(format!("{i:04}")), version).unwrap();
    }
}

/// Item 10: creates while s6-instance-template swaps two big templates
/// back and forth all succeed, each instance a whole copy of one.
#[test]
fn creates_racing_template_swaps_copy_one_template_whole() {
    let t = Tree::new();
    let svc = t.service("svc", |d| big_template(d, "A"));
    let templates: Vec<PathBuf> = ["A", "B"]
        .iter()
        .map(|v| {
            let d = t.path().join(format!("tpl{v}"));
            big_template(&d, v);
            d
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (stop, svc) = (stop.clone(), svc.clone());
        std::thread::spawn(move || {
            let mut swaps = 0;
            while !stop.load(Ordering::Relaxed) {
                let tpl = &templates[(swaps + 1) % 2];
                let out = run_for(ours("s6-instance-template").arg(&svc).arg(tpl), Duration::from_secs(60));
                assert_eq!(code(&out), 0, "s6-instance-template: {}", stderr(&out));
                swaps += 1;
            }
            swaps
        })
    };
    let names: Vec<String> = (0..20).map(|i| format!("i{i}")).collect();
    let mut failed = Vec::new();
    for name in &names {
        let out = run_for(ours("s6-instance-create").arg(&svc).arg(name), Duration::from_secs(60));
        if code(&out) != 0 {
            failed.push(format!("{name}: {}", stderr(&out)));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().expect("the swapping thread failed");
    assert!(swaps >= 2, "only {swaps} swaps: no race");
    assert!(failed.is_empty(), "{} of 20 creates failed: {failed:#?}", failed.len());
    for name in &names {
        let dir = svc.join("instances").join(name);
        let version = std::fs::read_to_string(dir.join("version")).unwrap();
        let files = entries(&dir.join("f"));
        assert_eq!(files.len(), FILES, "{name}: {} files", files.len());
        for f in files {
            let content = std::fs::read_to_string(dir.join("f").join(os(&f))).unwrap();
            assert_eq!(content, version, "{name}: a mix of both templates");
        }
        assert!(std::fs::symlink_metadata(svc.join("instance").join(name)).is_ok());
    }
}
