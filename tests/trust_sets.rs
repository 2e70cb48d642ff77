//! The set commands under stress: typos, a full scanner, interrupted
//! and killed runs, a full filesystem, a stopped scanner, few
//! descriptors. Each test fails on the code before issue 18.

mod common;

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn sync(svc: &Path, names: &[&str]) -> std::process::Output {
    run_for(
        ours("s6-instance-sync").args(["-t", "20000"]).arg(svc).args(names),
        Duration::from_secs(40),
    )
}

fn listed(svc: &Path) -> Vec<String> {
    let out = run(ours("s6-instance-list").arg(svc));
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect();
    names.sort();
    names
}

/// The names listed are exactly `names`, each whole and supervised, no
/// link leads nowhere, and nothing else is in `instances/` but hidden
/// leftovers.
fn exactly(svc: &Path, names: &[&str], what: &str) {
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(listed(svc), want, "{what}");
    for n in names {
        let dir = svc.join("instances").join(n);
        assert!(dir.join("run").is_file(), "{what}: {n} not whole");
        assert!(
            wait_until(Duration::from_secs(10), || supervised(&dir)),
            "{what}: {n} never supervised"
        );
    }
    for e in entries(&svc.join("instance")) {
        let link = svc.join("instance").join(String::from_utf8_lossy(&e).as_ref());
        assert!(e.starts_with(b".") || link.exists(), "{what}: {link:?} leads nowhere");
    }
    let plain: Vec<_> = entries(&svc.join("instances"))
        .into_iter()
        .filter(|e| !e.starts_with(b"."))
        .collect();
    assert_eq!(plain.len(), names.len(), "{what}: {plain:?}");
}

fn hidden(svc: &Path) -> Vec<Vec<u8>> {
    hidden_entries(&svc.join("instances"))
}

/// `.s6i-work` as our commands make it: root's, mode 0700.
fn work_dir(svc: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::DirBuilderExt;
    let work = svc.join("instances/.s6i-work");
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&work);
    work
}

#[test]
fn a_name_that_looks_like_an_option_is_refused() {
    let (_t, svc) = Tree::with_service();
    assert_eq!(code(&sync(&svc, &["a", "b"])), 0);
    for args in [&["-n", "a"][..], &["a", "-t", "5000"], &["a", "-"]] {
        let out = run(ours("s6-instance-sync").arg(&svc).args(args));
        assert_eq!(code(&out), 100, "sync {args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("begins with -"), "{}", stderr(&out));
    }
    let out = run(ours("s6-instance-sync")
        .args(["-n"])
        .arg(&svc)
        .args(["-t", "5000", "a"]));
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    let out = run(ours("s6-instance-upgrade").arg(&svc).args(["-p", "2"]));
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    exactly(&svc, &["a", "b"], "after the typos");
}

#[test]
fn sync_and_upgrade_fit_the_scanners_limit() {
    let t = Tree::new();
    let svc = t.offline_service_with("svc", sleeper_template, &["-c", "3"]);
    t.start("svc", &svc);
    assert_eq!(code(&sync(&svc, &["a", "b", "c"])), 0);
    // Full: the extra instance goes first, then the new one comes.
    let out = sync(&svc, &["a", "b", "d"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(out.stdout, b"-c\n+d\n");
    exactly(&svc, &["a", "b", "d"], "swapped one at the limit");
    // Too many for the scanner: refused at once, nothing changed.
    let before = supervisor_pid(&svc.join("instances/a"));
    let started = Instant::now();
    let out = sync(&svc, &["a", "b", "c", "d"]);
    assert_eq!(code(&out), 111, "{}", stderr(&out));
    assert!(stderr(&out).contains("at most 3"), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(5));
    exactly(&svc, &["a", "b", "d"], "refused set");
    // A full service has no room for an upgrade's new supervisors.
    let out = run(ours("s6-instance-upgrade").args(["-t", "10000"]).arg(&svc));
    assert_eq!(code(&out), 111, "{}", stderr(&out));
    assert!(stderr(&out).contains("s6-instance-maker -c"), "{}", stderr(&out));
    assert_eq!(
        supervisor_pid(&svc.join("instances/a")),
        before,
        "an instance was touched"
    );
    // With room for one, a batch of five goes one at a time.
    assert_eq!(code(&sync(&svc, &["a", "b"])), 0);
    let out = run_for(
        ours("s6-instance-upgrade").args(["-p", "5", "-t", "10000"]).arg(&svc),
        Duration::from_secs(40),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(out.stdout, b"a: upgraded\nb: upgraded\n");
    exactly(&svc, &["a", "b"], "upgraded one at a time");
}

/// A pid that no process has any more.
fn dead_pid() -> i32 {
    let mut c = Command::new("/bin/true").spawn().unwrap();
    let pid = c.id() as i32;
    c.wait().unwrap();
    pid
}

#[test]
fn create_and_sync_finish_a_delete_killed_before_it_told_the_scanner() {
    let (_t, svc) = Tree::with_service();
    assert_eq!(code(&sync(&svc, &["a", "b", "c"])), 0);
    // As a delete killed right after its unlink leaves them: marked by a
    // chain that is gone, unlinked, still supervised.
    let mut old = Vec::new();
    for n in ["a", "b"] {
        let dir = svc.join("instances").join(n);
        std::fs::write(dir.join(".s6i-pending"), dead_pid().to_string()).unwrap();
        std::fs::remove_file(svc.join("instance").join(n)).unwrap();
        old.push(supervisor_pid(&dir).expect("supervised"));
    }
    let out = run(ours("s6-instance-create").args(["-t", "10000"]).arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = sync(&svc, &["a", "b", "c"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(out.stdout, b"+b\n");
    exactly(&svc, &["a", "b", "c"], "after the killed delete");
    for (n, pid) in ["a", "b"].iter().zip(old) {
        assert!(!alive(pid), "{n}: the old supervisor {pid} still runs");
        assert!(!svc.join("instances").join(n).join(".s6i-pending").exists());
    }
}

#[test]
fn an_interrupted_sync_undoes_its_creates() {
    let (t, svc) = Tree::with_service();
    assert_eq!(code(&sync(&svc, &["keep"])), 0);
    let scanner = Pid::from_raw(t.nested_scanner(&svc));
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // A stopped scanner starts no supervisor: the sync waits.
        kill(scanner, Signal::SIGSTOP).unwrap();
        let child = ours("s6-instance-sync")
            .arg(&svc)
            .args(["keep", "x", "y"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        let linked = wait_until(Duration::from_secs(10), || {
            svc.join("instance/x").exists() && svc.join("instance/y").exists()
        });
        // Linked, then subscribed: give it a moment to be in its wait.
        std::thread::sleep(Duration::from_millis(300));
        kill(pid, sig).unwrap();
        let out = child.wait_with_output();
        kill(scanner, Signal::SIGCONT).unwrap();
        let out = out.unwrap();
        assert!(linked, "{sig}: the sync never linked its instances");
        assert_eq!(out.status.signal(), Some(sig as i32), "{sig}: {:?}", out.status);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("interrupted"), "{sig}: {err}");
        for n in ["x", "y"] {
            assert!(!svc.join("instances").join(n).exists(), "{sig}: {n} left");
            assert!(
                std::fs::symlink_metadata(svc.join("instance").join(n)).is_err(),
                "{sig}: link {n} left"
            );
        }
        exactly(&svc, &["keep"], "after the interrupted sync");
    }
    let out = sync(&svc, &["keep", "x", "y"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    exactly(&svc, &["keep", "x", "y"], "the sync again");
}

/// A small tmpfs, mounted for one test and unmounted after it.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn new(opts: &str) -> Option<Tmpfs> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("full-filesystem test skipped: mounting a tmpfs needs root");
            return None;
        }
        let dir = tempfile::Builder::new().prefix("s6i-tmpfs.").tempdir().unwrap().keep();
        let out = run(Command::new("/usr/bin/mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(&dir));
        assert_eq!(code(&out), 0, "mount: {}", stderr(&out));
        Some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = run(Command::new("/usr/bin/umount").arg("-l").arg(&self.0));
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Fill the filesystem of `dir`: its blocks, then its inodes.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let block = vec![0u8; 65536];
    while f.write_all(&block).is_ok() {}
    let _ = f.write_all(&block[..1]);
    for i in 0.. {
        if std::fs::File::create(dir.join(format!("f{i}"))).is_err() {
            break;
        }
    }
}

#[test]
fn delete_works_on_a_full_filesystem() {
    let Some(fs) = Tmpfs::new("size=8m,nr_inodes=2000") else {
        return;
    };
    // Fields drop in order: the tree (its processes) before the mount.
    let t = Tree::new_in(&fs.0);
    let svc = t.service("svc", sleeper_template);
    assert_eq!(code(&sync(&svc, &["a", "b", "c"])), 0);
    fill(&t.path().join("scan"));
    assert!(std::fs::File::create(t.path().join("more")).is_err(), "not full");
    let out = run(ours("s6-instance-delete").arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "ours: {}", stderr(&out));
    assert!(!svc.join("instances/a").exists() && !svc.join("instance/a").exists());
    // As s6's own does (it skips what it cannot write).
    let out = run(reference("s6-instance-delete").arg(&svc).arg("b"));
    assert_eq!(code(&out), 0, "s6's: {}", stderr(&out));
    assert_eq!(listed(&svc), vec!["c".to_string()]);
    drop(t);
}

/// CPU time (user and system, in clock ticks) a process has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name in parentheses: state is field 3, utime 14.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest.split_whitespace().map(|w| w.parse().unwrap_or(0)).collect();
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}

#[test]
fn a_bulk_wait_on_a_stopped_scanner_sleeps() {
    let (t, svc) = Tree::with_service();
    let names: Vec<String> = (0..500).map(|i| format!("n{i}")).collect();
    let scanner = Pid::from_raw(t.nested_scanner(&svc));
    kill(scanner, Signal::SIGSTOP).unwrap();
    let mut child = sync_in_background(&svc, &names);
    let last = svc.join("instance").join(names.last().unwrap());
    let linked = wait_until(Duration::from_secs(30), || last.exists());
    // Past its set-up (500 subscriptions, slow on a busy machine): its
    // CPU time stands still for a moment.
    let mut before = cpu_ticks(child.id());
    wait_until(Duration::from_secs(20), || {
        std::thread::sleep(Duration::from_millis(300));
        let now = cpu_ticks(child.id());
        std::mem::replace(&mut before, now) == now
    });
    let (t0, c0) = (Instant::now(), cpu_ticks(child.id()));
    std::thread::sleep(Duration::from_secs(4));
    let (spent, c1) = (t0.elapsed(), cpu_ticks(child.id()));
    let running = child.try_wait().unwrap().is_none();
    // Woken, the scanner starts them all, and the wait ends with them.
    kill(scanner, Signal::SIGCONT).unwrap();
    let st = ended_within(child, Duration::from_secs(60));
    assert!(linked, "never linked");
    assert!(running, "the sync ended before its wait was measured");
    eprintln!("500-name wait: {} ticks of CPU in {spent:?}", c1 - c0);
    assert!(c1 - c0 <= 3, "{} ticks of CPU in {spent:?}", c1 - c0);
    assert_eq!(st.and_then(|s| s.code()), Some(0));
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    exactly(&svc, &names, "after the scanner woke");
}

#[test]
fn a_bulk_sync_under_a_low_descriptor_limit() {
    let (_t, svc) = Tree::with_service();
    let names: Vec<String> = (0..70).map(|i| format!("n{i}")).collect();
    let low = |c: &mut Command| {
        // SAFETY: setrlimit is async-signal-safe.
        unsafe {
            c.pre_exec(|| {
                nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, 64, 4096)
                    .map_err(std::io::Error::from)
            });
        }
    };
    let mut cmd = ours("s6-instance-sync");
    cmd.args(["-t", "20000"]).arg(&svc).args(&names);
    low(&mut cmd);
    let out = run_for(&mut cmd, Duration::from_secs(40));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    exactly(&svc, &names, "70 under ulimit -n 64");
    // The next program gets the limit the step was given.
    let mut cmd = program(bindir().join("s6i-sync"));
    cmd.arg("--").arg(&svc);
    for n in &names[..69] {
        cmd.arg(format!(" {n}"));
    }
    cmd.args(["", "/usr/bin/cat", "/proc/self/limits"]);
    low(&mut cmd);
    let out = run_for(&mut cmd, Duration::from_secs(40));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let limits = String::from_utf8_lossy(&out.stdout);
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap_or("");
    assert_eq!(line.split_whitespace().nth(3), Some("64"), "{limits}");
}

#[test]
fn killed_syncs_leave_a_set_the_next_sync_makes_whole() {
    let (_t, svc) = Tree::with_service();
    let sets: [&[&str]; 3] = [&["a", "b", "c", "d"], &["c", "d", "e", "f", "g"], &["a"]];
    let mut seed = 4242u64;
    for round in 0..15 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let delay = Duration::from_micros(seed >> 33 & 0x3fff);
        let set = sets[round % sets.len()];
        kill_after(ours("s6-instance-sync").arg(&svc).args(set), delay);
        // Whatever the moment: every name listed is whole.
        for n in listed(&svc) {
            assert!(
                svc.join("instances").join(&n).join("run").is_file(),
                "round {round}: {n} half there after {delay:?}"
            );
        }
        let out = sync(&svc, set);
        assert_eq!(code(&out), 0, "round {round}, killed at {delay:?}: {}", stderr(&out));
        exactly(&svc, set, &format!("round {round}, killed at {delay:?}"));
    }
    // A sync that creates sweeps what killed ones hid.
    assert_eq!(code(&sync(&svc, &["z"])), 0);
    assert!(hidden(&svc).is_empty(), "{:?}", hidden(&svc));
}

#[test]
fn killed_bulk_deletes_are_finished_by_the_next_command() {
    let (_t, svc) = Tree::with_service();
    let all = ["a", "b", "c", "d", "e", "f"];
    let mut seed = 777u64;
    for round in 0..10 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let delay = Duration::from_micros(seed >> 33 & 0x3fff);
        assert_eq!(code(&sync(&svc, &all)), 0, "round {round}");
        kill_after(example("delete-many").arg(&svc).args(&all[..3]), delay);
        let what = format!("round {round}, killed at {delay:?}");
        // Half the time the next delete of the names finishes, half the
        // time a sync to what is left does.
        if round % 2 == 0 {
            let out = run(example("delete-many").arg(&svc).args(&all[..3]));
            assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
        } else {
            let out = sync(&svc, &all[3..]);
            assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
        }
        exactly(&svc, &all[3..], &what);
    }
}

#[test]
fn a_linked_instance_left_marked_is_whole() {
    // A create killed between its link and the mark's removal, or a
    // delete killed between its mark and its unlink: linked, marked by a
    // chain that is gone. It is listed, supervised, kept by a sync, and
    // a delete takes it.
    let (_t, svc) = Tree::with_service();
    assert_eq!(code(&sync(&svc, &["a", "b"])), 0);
    let dir = svc.join("instances/a");
    std::fs::write(dir.join(".s6i-pending"), dead_pid().to_string()).unwrap();
    let pid = supervisor_pid(&dir);
    let out = sync(&svc, &["a", "b"]);
    assert_eq!((code(&out), out.stdout.as_slice()), (0, &b""[..]), "{}", stderr(&out));
    assert!(!dir.join(".s6i-pending").exists(), "a sync leaves the stale mark");
    std::fs::write(dir.join(".s6i-pending"), dead_pid().to_string()).unwrap();
    let out = run(ours("s6-instance-create").arg(&svc).arg("a"));
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    assert_eq!(supervisor_pid(&dir), pid, "the instance was touched");
    exactly(&svc, &["a", "b"], "linked and marked");
    let out = run(ours("s6-instance-delete").arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    exactly(&svc, &["b"], "deleted");
}

#[test]
fn a_sync_has_a_linked_instance_the_scanner_was_never_told_of_supervised() {
    // A create killed between its link and its call to the scanner: the
    // instance is whole and linked, and no scan has happened since.
    let (_t, svc) = Tree::with_service();
    assert_eq!(code(&sync(&svc, &["a"])), 0);
    sleeper_template(&svc.join("instances/x"));
    std::os::unix::fs::symlink("../instances/x", svc.join("instance/x")).unwrap();
    let out = sync(&svc, &["a", "x"]);
    assert_eq!((code(&out), out.stdout.as_slice()), (0, &b""[..]), "{}", stderr(&out));
    exactly(&svc, &["a", "x"], "after the sync");
}

#[test]
fn a_sync_with_nothing_to_do_sweeps_what_killed_commands_hid() {
    let (_t, svc) = Tree::with_service();
    assert_eq!(code(&sync(&svc, &["a"])), 0);
    // As a delete killed while it removed a tree leaves it: the tree, and
    // the mark that says its process had hidden work under way.
    let pid = dead_pid();
    sleeper_template(&svc.join(format!("instances/.s6i-remove:{pid}:abcdef")));
    std::fs::write(work_dir(&svc).join(pid.to_string()), "").unwrap();
    let out = sync(&svc, &["a"]);
    assert_eq!((code(&out), out.stdout.as_slice()), (0, &b""[..]), "{}", stderr(&out));
    assert!(hidden(&svc).is_empty(), "{:?}", hidden(&svc));
    exactly(&svc, &["a"], "after the sweep");
    // A delete finishes them too; with no killed command's mark, no
    // command reads instances/ for them.
    let pid = dead_pid();
    sleeper_template(&svc.join(format!("instances/.s6i-clone:{pid}:abcdef")));
    std::fs::write(work_dir(&svc).join(pid.to_string()), "").unwrap();
    let out = run(ours("s6-instance-delete").arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(hidden(&svc).is_empty(), "{:?}", hidden(&svc));
}
