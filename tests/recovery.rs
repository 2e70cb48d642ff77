//! Recovery judged by locks, never by pids (issue 27): a killed command
//! that is a zombie, a mark naming a live unrelated pid, a killed
//! restart put back before a later command and never over it, restarts
//! that keep what the operator wanted, and `s6i-recover` alone.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A template whose run reads `env/`, and ignores SIGTERM when `env/HARD`
/// says so (a restart then holds it down until killed).
fn template(dir: &Path) {
    std::fs::create_dir_all(dir.join("env")).unwrap();
    std::fs::write(dir.join("env/K"), "0\n").unwrap();
    write_script(
        &dir.join("run"),
        "/usr/bin/s6-envdir env\n/bin/sh -c \"test -n \\\"$HARD\\\" && trap '' TERM; exec /usr/bin/sleep 3600\"",
    );
}

fn dir(svc: &Path, name: &str) -> PathBuf {
    svc.join("instances").join(name)
}

fn ok(out: &Output) -> String {
    assert_eq!(code(out), 0, "{}", stderr(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sync(svc: &Path, set: &Path, opts: &[&str]) -> Output {
    run_for(
        ours("s6-instance-sync")
            .args(["-t", "20000"])
            .args(opts)
            .arg("-f")
            .arg(set)
            .arg(svc),
        Duration::from_secs(60),
    )
}

fn set_file(t: &Tree, text: &str) -> PathBuf {
    let p = t.path().join("set");
    std::fs::write(&p, text).unwrap();
    p
}

/// (up, wanted up) of the instance NAME.
fn state(svc: &Path, name: &str) -> (bool, bool) {
    let (pid, flags) = status(&dir(svc, name));
    (pid != 0, flags & 4 != 0)
}

/// Whether the instance NAME comes to be in state `want` (a supervisor
/// writes its status a moment after it is told).
fn comes_to(svc: &Path, name: &str, want: (bool, bool)) -> bool {
    wait_until(Duration::from_secs(10), || state(svc, name) == want)
}

fn up_pid(svc: &Path, name: &str) -> u64 {
    let d = dir(svc, name);
    assert!(
        wait_until(Duration::from_secs(10), || supervised(&d) && status(&d).0 != 0),
        "{name} never up"
    );
    status(&d).0
}

fn work(svc: &Path) -> PathBuf {
    svc.join("instances/.s6i-work")
}

/// Whether the process `pid` is a zombie (dead, not reaped).
fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(|r| r.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// A command started in the background, its output discarded.
fn background(cmd: &mut Command) -> std::process::Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Item 1: a sync killed while it deletes, and left a zombie (its parent,
/// this test, does not reap it yet), blocks no later command: the lock on
/// its log went with it.
#[test]
fn a_zombie_command_blocks_nothing() {
    let t = Tree::new();
    // The finish script keeps each supervisor a moment after its service
    // dies: the delete is killed while it waits for them.
    let svc = t.service("svc", |d| {
        sleeper_template(d);
        write_script(&d.join("finish"), "/usr/bin/sleep 1");
    });
    let names: Vec<String> = (1..=20).map(|i| format!("k{i:03}")).collect();
    let out = run_for(
        ours("s6-instance-sync").args(["-t", "20000"]).arg(&svc).args(&names),
        Duration::from_secs(60),
    );
    ok(&out);
    let mut child = background(ours("s6-instance-sync").args(["-t", "20000"]).arg(&svc).arg("k001"));
    let gone = wait_until(Duration::from_secs(10), || !svc.join("instance/k020").exists());
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    assert!(gone, "the sync never unlinked");
    assert!(
        wait_until(Duration::from_secs(10), || zombie(child.id())),
        "the killed sync is no zombie"
    );
    // Its log is there, its lock gone: every later command goes on.
    assert!(entries(&work(&svc)).iter().any(|n| n.starts_with(b"log:")));
    let out = run_for(
        ours("s6-instance-sync").args(["-t", "20000"]).arg(&svc).args(&names),
        Duration::from_secs(60),
    );
    assert!(zombie(child.id()), "reaped too early: the test proves nothing");
    ok(&out);
    let out = run_for(
        ours("s6-instance-create").args(["-t", "20000"]).arg(&svc).arg("k021"),
        Duration::from_secs(60),
    );
    ok(&out);
    for n in names.iter().chain([&"k021".to_string()]) {
        assert!(svc.join("instance").join(n).exists(), "{n} not linked");
        up_pid(&svc, n);
    }
    assert!(zombie(child.id()));
    let st = child.wait().unwrap();
    assert_eq!(st.signal(), Some(libc::SIGKILL));
    // The trees the killed sync had put aside go once their supervisors
    // (slow to finish here) are gone: s6i-recover waits for that.
    ok(&run_for(
        ours("s6i-recover").args(["-t", "20000"]).arg(&svc),
        Duration::from_secs(60),
    ));
    assert!(!work(&svc).exists(), ".s6i-work left");
    let hidden = hidden_entries(&svc.join("instances"));
    assert!(hidden.is_empty(), "{hidden:?}");
}

/// Item 2 and the previous version's files: marks and logs that name a
/// live pid, of a process that is no command of ours, are dead
/// commands'.
#[test]
fn marks_naming_a_live_unrelated_pid_are_dead() {
    let t = Tree::new();
    let svc = t.service("svc", template);
    let f = set_file(&t, "a\nb\nc\nd\n");
    ok(&sync(&svc, &f, &[]));
    let mut sleeper = background(Command::new("/usr/bin/sleep").arg("60"));
    let live = sleeper.id();
    for n in ["b", "c"] {
        ok(&run(ours("s6-instance-control").args(["-d", "-wd"]).arg(&svc).arg(n)));
    }
    // A create killed before its link, by the previous version: the
    // instance unlinked, its mark holding a bare pid that runs.
    std::fs::remove_file(svc.join("instance/d")).unwrap();
    ok(&run(program("/usr/bin/s6-svscanctl")
        .arg("-an")
        .arg(svc.join("instance"))));
    assert!(wait_until(Duration::from_secs(10), || !supervised(&dir(&svc, "d"))));
    std::fs::write(dir(&svc, "d").join(".s6i-pending"), live.to_string()).unwrap();
    // The previous version's list of instances held down, and its mark of
    // hidden work; a log of ours with a hold record and hidden work, its
    // token naming the same live pid, its lock held by nobody.
    dead_log(&svc, live, "abcdef", &[("hold", b"c", b"up"), ("work", b"", b"")]);
    std::fs::write(work(&svc).join(format!("{live}.up")), "b\n").unwrap();
    std::fs::write(work(&svc).join(live.to_string()), "").unwrap();
    let hidden = [
        format!(".s6i-clone:{live}.abcdef:AAAAAA"),
        format!(".s6i-remove:{live}:BBBBBB"),
    ];
    for h in &hidden {
        std::fs::create_dir(svc.join("instances").join(h)).unwrap();
    }
    // One command of any kind finishes it all.
    // s6's delete says nothing of a name that is not there either.
    ok(&run(ours("s6-instance-delete").arg(&svc).arg("nosuch")));
    assert!(comes_to(&svc, "b", (true, true)) && comes_to(&svc, "c", (true, true)));
    for h in &hidden {
        assert!(!svc.join("instances").join(h).exists(), "{h} left");
    }
    assert!(!work(&svc).exists(), ".s6i-work left");
    // The half-made d is taken over by the next create of its name.
    ok(&run_for(
        ours("s6-instance-create").args(["-t", "20000"]).arg(&svc).arg("d"),
        Duration::from_secs(60),
    ));
    up_pid(&svc, "d");
    let _ = kill(Pid::from_raw(live as i32), Signal::SIGKILL);
    let _ = sleeper.wait();
}

/// A sync restarting instance `a` (which ignores SIGTERM, so that the
/// restart holds it down), killed there. Returns once it is dead.
fn kill_a_restart(t: &Tree, svc: &Path, value: &str) {
    let f = set_file(t, &format!("a HARD=1 K={value}\n"));
    let mut child = background(ours("s6-instance-sync").args(["-t", "30000", "-f"]).arg(&f).arg(svc));
    let held = wait_until(Duration::from_secs(30), || !state(svc, "a").1);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    let st = child.wait().unwrap();
    assert!(held, "the sync never held a down");
    assert_eq!(st.signal(), Some(libc::SIGKILL));
    assert!(comes_to(svc, "a", (true, false)), "a not held down");
}

/// Item 3: a killed restart is put back by the next command, of any
/// kind; a command given after the kill has the last word, and no later
/// command replays the restart over it.
#[test]
fn a_killed_restart_is_put_back_and_never_over_a_later_command() {
    let t = Tree::new();
    let svc = t.service("svc", template);
    ok(&sync(&svc, &set_file(&t, "a HARD=1 K=1\n"), &[]));
    up_pid(&svc, "a");
    // Put back by an unrelated command.
    kill_a_restart(&t, &svc, "2");
    // s6's delete says nothing of a name that is not there either.
    ok(&run(ours("s6-instance-delete").arg(&svc).arg("nosuch")));
    assert!(comes_to(&svc, "a", (true, true)), "not put back");
    assert!(!work(&svc).exists());
    // The operator's -d after the kill stays.
    kill_a_restart(&t, &svc, "3");
    ok(&run(ours("s6-instance-control").arg("-d").arg(&svc).arg("a")));
    assert!(comes_to(&svc, "a", (true, false)));
    // s6's delete says nothing of a name that is not there either.
    ok(&run(ours("s6-instance-delete").arg(&svc).arg("nosuch")));
    ok(&sync(
        &svc,
        &set_file(
            &t,
            "a HARD=1 K=3
b
",
        ),
        &["-R", "none"],
    ));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(state(&svc, "a"), (true, false), "the killed restart replayed over -d");
    assert!(!work(&svc).exists());
    ok(&run(ours("s6-instance-control").args(["-k", "-u"]).arg(&svc).arg("a")));
}

/// Item 4: a restart puts each instance back as it was: wanted up comes
/// back up, run once runs once more and stays not wanted up, wanted down
/// stays down with its new env/.
#[test]
fn restarts_keep_what_the_operator_wanted() {
    let t = Tree::new();
    let svc = t.service("svc", template);
    ok(&sync(&svc, &set_file(&t, "a K=1\nb K=1\nc K=1\n"), &[]));
    let (pa, pb) = (up_pid(&svc, "a"), up_pid(&svc, "b"));
    up_pid(&svc, "c");
    ok(&run(ours("s6-instance-control").arg("-o").arg(&svc).arg("b")));
    ok(&run(ours("s6-instance-control").args(["-d", "-wD"]).arg(&svc).arg("c")));
    assert!(comes_to(&svc, "b", (true, false)) && comes_to(&svc, "c", (false, false)));
    assert_eq!(
        ok(&sync(&svc, &set_file(&t, "a K=2\nb K=2\nc K=2\n"), &["-w", "u"])),
        "~a\n~b\n~c\n"
    );
    assert_eq!(state(&svc, "a"), (true, true));
    assert_ne!(up_pid(&svc, "a"), pa);
    assert_eq!(state(&svc, "b"), (true, false));
    assert_ne!(up_pid(&svc, "b"), pb);
    assert_eq!(state(&svc, "c"), (false, false));
    assert_eq!(std::fs::read(dir(&svc, "c").join("env/K")).unwrap(), b"2\n");
    assert!(!work(&svc).exists());
}

/// A killed run-once restart is put back as run once.
#[test]
fn a_killed_restart_of_a_run_once_instance_runs_it_once() {
    let t = Tree::new();
    let svc = t.service("svc", template);
    ok(&sync(&svc, &set_file(&t, "a HARD=1 K=1\n"), &[]));
    up_pid(&svc, "a");
    ok(&run(ours("s6-instance-control").arg("-o").arg(&svc).arg("a")));
    // Run once and ignoring TERM: the restart holds it as it is.
    let f = set_file(&t, "a HARD=1 K=2\n");
    let mut child = background(ours("s6-instance-sync").args(["-t", "30000", "-f"]).arg(&f).arg(&svc));
    let held = wait_until(Duration::from_secs(10), || {
        entries(&work(&svc))
            .iter()
            .any(|n| n.starts_with(format!("log:{}.", child.id()).as_bytes()))
    });
    std::thread::sleep(Duration::from_millis(200));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    assert!(held, "the sync never wrote its log");
    ok(&run(ours("s6i-recover").arg(&svc)));
    // Told `o`, not `u`: still not wanted up.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(state(&svc, "a"), (true, false));
    assert!(!work(&svc).exists());
    ok(&run(ours("s6-instance-control").args(["-k", "-d"]).arg(&svc).arg("a")));
}

/// `s6i-recover` alone: a dead log's hold is put back, its hidden work
/// removed, the log and `.s6i-work` gone; a live command's log and work
/// are left alone; then the rest of the command line runs.
#[test]
fn s6i_recover_finishes_dead_logs_only() {
    let t = Tree::new();
    let svc = t.service("svc", template);
    ok(&sync(&svc, &set_file(&t, "a\nb\n"), &[]));
    ok(&run(ours("s6-instance-control").args(["-d", "-wD"]).arg(&svc).arg("a")));
    ok(&run(ours("s6-instance-control").args(["-d", "-wD"]).arg(&svc).arg("b")));
    let live = LiveLog::new(&svc, "livelg");
    let mine = svc.join("instances").join(format!(".s6i-clone:{}:CCCCCC", live.token));
    std::fs::create_dir(&mine).unwrap();
    let dead = dead_log(&svc, 1, "deadlg", &[("hold", b"a", b"up"), ("work", b"", b"")]);
    let theirs = svc.join("instances").join(format!(".s6i-clone:{dead}:DDDDDD"));
    std::fs::create_dir(&theirs).unwrap();
    let out = run(ours("s6i-recover")
        .args(["-t", "5000"])
        .arg(&svc)
        .arg("/usr/bin/echo")
        .arg("next"));
    assert_eq!(ok(&out), "next\n");
    assert!(comes_to(&svc, "a", (true, true)));
    assert_eq!(state(&svc, "b"), (false, false));
    assert!(mine.exists() && !theirs.exists());
    assert_eq!(entries(&work(&svc)), vec![format!("log:{}", live.token).into_bytes()]);
    drop(live);
    std::fs::remove_dir(&mine).unwrap();
    ok(&run(ours("s6i-recover").arg(&svc)));
    assert!(!work(&svc).exists());
    // Bad usage: 100, nothing done.
    assert_eq!(code(&run(ours("s6i-recover").arg("-t"))), 100);
}

/// A log handed on across a real exec: the copy made by s6i-clone stays
/// a live command's while another program runs in between, and the
/// steps further down the chain take the log up; s6i-wait-supervise
/// ends it, once the instance is supervised.
#[test]
fn a_log_is_handed_on_across_an_exec() {
    let t = Tree::new();
    let svc = t.service("svc", template);
    ok(&run(ours("s6-instance-create").arg(&svc).arg("x")));
    let env = format!("PATH={}:/usr/bin:/bin", bindir().display());
    let out = run(ours("s6i-clone")
        .arg(&svc)
        .arg("a")
        .args(["/usr/bin/env", &env, "s6i-link"])
        .arg(&svc)
        .args(["a", "s6i-wait-supervise"])
        .arg(&svc)
        .args(["a", "/usr/bin/sh", "-c"])
        .arg("echo \"[$S6I_LOG]\"; test -e \"$1\" && ls \"$1\"; true")
        .arg("sh")
        .arg(work(&svc)));
    // Ended before the last program: not handed to it.
    assert_eq!(ok(&out), "[]\n");
    assert!(svc.join("instance/a").exists());
    assert!(!dir(&svc, "a").join(".s6i-pending").exists());
    // Between the two, the log is alive: a clone alone hands it on.
    let out = run(ours("s6i-clone")
        .arg(&svc)
        .arg("b")
        .args(["/usr/bin/sh", "-c"])
        .arg("case \"$S6I_LOG\" in *:*) ;; *) exit 1 ;; esac; ls \"$1\"")
        .arg("sh")
        .arg(work(&svc)));
    assert!(ok(&out).starts_with("log:"));
    // Once that chain is gone, its copy is a dead one's: the next create
    // of the name takes it over.
    ok(&run_for(
        ours("s6-instance-create").args(["-t", "20000"]).arg(&svc).arg("b"),
        Duration::from_secs(60),
    ));
    assert!(!work(&svc).exists());
}

/// A create killed between its copy and its link (here the chain goes
/// on in `sleep`, holding the log, and is killed there, left a zombie)
/// leaves nothing that s6's own create or list trips on: the copy is
/// kept under a hidden name until the link. Our next command removes it.
/// With `-p`, the copy is at its name at once, for chains that write
/// into it by path: killed, it is left, marked, and our next create of
/// the name takes it over.
#[test]
fn a_create_killed_before_its_link_leaves_nothing_for_s6_to_trip_on() {
    let t = Tree::new();
    let svc = t.service("svc", template);
    let mut child = background(ours("s6i-clone").arg(&svc).args(["a", "/bin/sleep", "30"]));
    assert!(wait_until(Duration::from_secs(10), || entries(&work(&svc))
        .iter()
        .any(|e| e.starts_with(b"log:"))));
    assert!(!dir(&svc, "a").exists(), "the copy is not at its name before its link");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    assert!(wait_until(Duration::from_secs(10), || zombie(child.id())));
    // s6's C programs, at once: the name is free, and listed once made.
    let out = run_for(
        reference("s6-instance-create").args(["-t", "20000"]).arg(&svc).arg("a"),
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ok(&run(reference("s6-instance-list").arg(&svc))), "a\n");
    // Ours, next: the dead chain's copy and log go.
    let out = run_for(
        ours("s6-instance-delete").args(["-t", "20000"]).arg(&svc).arg("a"),
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    child.wait().unwrap();
    assert!(
        entries(&svc.join("instances")).is_empty(),
        "{:?}",
        entries(&svc.join("instances"))
    );
    // -p: the copy is at its name until the link.
    let mut child = background(ours("s6i-clone").arg("-p").arg(&svc).args(["b", "/bin/sleep", "30"]));
    assert!(wait_until(Duration::from_secs(10), || dir(&svc, "b")
        .join("run")
        .exists()));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    assert!(!svc.join("instance/b").exists());
    let out = run_for(
        ours("s6-instance-create").args(["-t", "20000"]).arg(&svc).arg("b"),
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ok(&run(ours("s6-instance-list").arg(&svc))), "b\n");
    assert!(!dir(&svc, "b").join(".s6i-pending").exists());
}

/// Item 6: a `sync -w U` killed midway, then the same command again: its
/// exit 0 says that every instance of the set is up and ready, those the
/// killed one made included.
#[test]
fn wait_for_ready_after_a_killed_sync_means_it() {
    const EL: &str = "/usr/lib/execline/bin";
    let t = Tree::new();
    let svc = t.service("svc", |d| {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("notification-fd"), "3\n").unwrap();
        write_script(
            &d.join("run"),
            &format!(
                "{EL}/foreground {{ /usr/bin/sleep 0.5 }}\n{EL}/if {{ {EL}/fdmove 1 3 /usr/bin/echo }}\n{EL}/fdclose 3\n/usr/bin/sleep 3600"
            ),
        );
    });
    let names: Vec<String> = (1..=30).map(|i| format!("r{i:02}")).collect();
    for round in 0..3 {
        let mut child = background(
            ours("s6-instance-sync")
                .args(["-t", "30000", "-w", "U"])
                .arg(&svc)
                .args(&names),
        );
        // Killed once some are linked, before they can all be ready.
        let linked = wait_until(Duration::from_secs(20), || {
            entries(&svc.join("instance")).len() >= 5 + 5 * round
        });
        kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
        child.wait().unwrap();
        assert!(linked, "round {round}: nothing linked");
        let out = run_for(
            ours("s6-instance-sync")
                .args(["-t", "30000", "-w", "U"])
                .arg(&svc)
                .args(&names),
            Duration::from_secs(60),
        );
        ok(&out);
        for n in &names {
            let (pid, flags) = status(&dir(&svc, n));
            assert!(
                pid != 0 && flags & 8 != 0,
                "round {round}: {n} not up and ready at exit 0"
            );
        }
        assert!(!work(&svc).exists(), "round {round}: .s6i-work left");
        // Back to none but one, for the next round.
        ok(&run_for(
            ours("s6-instance-sync").args(["-t", "30000"]).arg(&svc).arg("r01"),
            Duration::from_secs(60),
        ));
    }
}

/// The killed commands, each started on a service holding the set
/// `a b c` (a K=1): a sync that creates many, one that deletes many, one
/// that restarts, an upgrade and a template swap.
fn victims(svc: &Path, t: &Tree) -> Vec<(&'static str, Command)> {
    let many: Vec<String> = (1..=40).map(|i| format!("m{i:02}")).collect();
    let restart = set_file(t, "a K=2\nb K=2\nc K=2\n");
    let tpl = t.path().join("svc.template");
    let mut v = Vec::new();
    let mut c = ours("s6-instance-sync");
    c.args(["-t", "20000"]).arg(svc).args(["a", "b", "c"]).args(&many);
    v.push(("sync creating many", c));
    let mut c = ours("s6-instance-sync");
    c.args(["-t", "20000", "-f"]).arg(&restart).arg(svc);
    v.push(("sync restarting", c));
    let mut c = ours("s6-instance-upgrade");
    c.args(["-t", "20000", "-p", "2"]).arg(svc);
    v.push(("upgrade", c));
    let mut c = ours("s6-instance-template");
    c.arg(svc).arg(&tpl);
    v.push(("template", c));
    let mut c = ours("s6-instance-sync");
    c.args(["-t", "20000"]).arg(svc).arg("a");
    v.push(("sync deleting many", c));
    v
}

/// Kills at many points of sync, upgrade, delete-many and template, each
/// killed command left a zombie (not reaped until the end), and the next
/// command of every kind run at once: each does its job, and the tree
/// ends whole, every instance up and wanted up, nothing of ours left.
#[test]
fn killed_anywhere_then_every_kind_of_command_at_once() {
    let t = Tree::new();
    let svc = t.service("svc", template);
    let base = set_file(&t, "a K=1\nb K=1\nc K=1\n");
    let mut seed = 2718u64;
    let mut zombies = Vec::new();
    for round in 0..4 {
        let kinds = victims(&svc, &t).len();
        for k in 0..kinds {
            ok(&sync(&svc, &base, &[]));
            // One already there for the deletes and upgrades to work on.
            let many: Vec<String> = (1..=40).map(|i| format!("m{i:02}")).collect();
            if k == kinds - 1 {
                ok(&run_for(
                    ours("s6-instance-sync")
                        .args(["-t", "20000"])
                        .arg(&svc)
                        .args(["a", "b", "c"])
                        .args(&many),
                    Duration::from_secs(60),
                ));
            }
            let (what, mut cmd) = victims(&svc, &t).swap_remove(k);
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let delay = Duration::from_micros((seed >> 33) % 250_000);
            let child = background(&mut cmd);
            std::thread::sleep(delay);
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let at = format!("round {round}, {what} killed at {delay:?}");
            zombies.push(child);
            // s6's own create first, on a name the killed sync was making
            // and had not linked: it never trips on what was left.
            if what == "sync creating many" {
                let listed = ok(&run(reference("s6-instance-list").arg(&svc)));
                if let Some(free) = many.iter().find(|m| !listed.lines().any(|l| l == m.as_str())) {
                    let out = run_for(
                        reference("s6-instance-create")
                            .args(["-t", "20000"])
                            .arg(&svc)
                            .arg(free),
                        Duration::from_secs(60),
                    );
                    assert_eq!(code(&out), 0, "{at}: s6's create of {free}: {}", stderr(&out));
                }
            }
            // The next command of every kind, at once.
            let out = run(ours("s6-instance-summary").arg(&svc));
            assert_eq!(code(&out), 0, "{at}: summary: {}", stderr(&out));
            let out = run(ours("s6-instance-control").arg("-u").arg(&svc).arg("a"));
            assert_eq!(code(&out), 0, "{at}: control: {}", stderr(&out));
            let n = format!("n{round}{k}");
            let out = run_for(
                ours("s6-instance-create").args(["-t", "20000"]).arg(&svc).arg(&n),
                Duration::from_secs(60),
            );
            assert_eq!(code(&out), 0, "{at}: create: {}", stderr(&out));
            let out = run_for(
                ours("s6-instance-delete").args(["-t", "20000"]).arg(&svc).arg(&n),
                Duration::from_secs(60),
            );
            assert_eq!(code(&out), 0, "{at}: delete: {}", stderr(&out));
            let out = run(ours("s6-instance-template")
                .arg(&svc)
                .arg(t.path().join("svc.template")));
            assert_eq!(code(&out), 0, "{at}: template: {}", stderr(&out));
            let out = run_for(
                ours("s6-instance-upgrade").args(["-t", "20000"]).arg(&svc).arg("a"),
                Duration::from_secs(60),
            );
            assert_eq!(code(&out), 0, "{at}: upgrade: {}", stderr(&out));
            let out = sync(&svc, &base, &["-w", "u"]);
            assert_eq!(code(&out), 0, "{at}: sync: {}", stderr(&out));
            // Sound: exactly the set, each whole, up and wanted up;
            // nothing hidden, no log, no mark.
            let listed = ok(&run(ours("s6-instance-list").arg(&svc)));
            let mut listed: Vec<&str> = listed.lines().collect();
            listed.sort_unstable();
            assert_eq!(listed, ["a", "b", "c"], "{at}");
            for name in ["a", "b", "c"] {
                let d = dir(&svc, name);
                assert!(d.join("run").is_file(), "{at}: {name} not whole");
                assert!(comes_to(&svc, name, (true, true)), "{at}: {name} not up and wanted up");
                assert!(
                    !d.join(".s6i-pending").exists() && !d.join(".s6i-changed").exists(),
                    "{at}: {name}"
                );
            }
            let hidden = hidden_entries(&svc.join("instances"));
            assert!(hidden.is_empty(), "{at}: {hidden:?}");
        }
    }
    for mut z in zombies {
        z.wait().unwrap();
    }
}

/// Item 5: SIGINT at any point of a sync (its plan, copies, envs, links,
/// waits, restarts, unlinks, removals) ends it with one message saying
/// what it undid or finished, by the signal; no directory is left in
/// `instances/` without its link, and nothing of ours is left.
#[test]
fn sigint_anywhere_in_a_sync_says_what_it_did() {
    let t = Tree::new();
    let svc = t.service("svc", template);
    let names: Vec<String> = (1..=120).map(|i| format!("s{i:03}")).collect();
    let set = |k: u32| {
        let text: String = names.iter().map(|n| format!("{n} K={k}\n")).collect();
        set_file(&t, &text)
    };
    let mut seed = 31337u64;
    let mut interrupted = 0;
    for round in 0..12 {
        // Creates, restarts and deletes in turn.
        let (start, next): (Option<PathBuf>, Vec<String>) = match round % 3 {
            0 => (None, vec!["-f".into(), set(1).display().to_string()]),
            1 => (Some(set(1)), vec!["-f".into(), set(2).display().to_string()]),
            _ => (Some(set(1)), vec!["s001".into()]),
        };
        match start {
            Some(f) => ok(&sync(&svc, &f, &[])),
            None => ok(&run_for(
                ours("s6-instance-sync").args(["-t", "20000"]).arg(&svc).arg("s001"),
                Duration::from_secs(60),
            )),
        };
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let delay = Duration::from_micros((seed >> 33) % 400_000);
        let mut cmd = ours("s6-instance-sync");
        cmd.args(["-t", "20000"]);
        let mut child = match next[0].as_str() {
            "-f" => cmd.args(&next).arg(&svc),
            _ => cmd.arg(&svc).args(&next),
        }
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        std::thread::sleep(delay);
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGINT);
        let ended = wait_until(Duration::from_secs(60), || child.try_wait().ok().flatten().is_some());
        if !ended {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
        }
        let out = child.wait_with_output().unwrap();
        let at = format!("round {round}, SIGINT at {delay:?}");
        assert!(ended, "{at}: never ended");
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        match out.status.signal() {
            Some(libc::SIGINT) => {
                interrupted += 1;
                assert_eq!(said.lines().count(), 1, "{at}: {said}");
                assert!(said.contains("interrupted"), "{at}: {said}");
            }
            _ => assert_eq!(out.status.code(), Some(0), "{at}: {said}"),
        }
        for e in entries(&svc.join("instances")) {
            if !e.starts_with(b".") {
                let name = String::from_utf8(e).unwrap();
                assert!(
                    svc.join("instance").join(&name).exists(),
                    "{at}: {name} left without its link"
                );
            }
        }
        assert!(!work(&svc).exists(), "{at}: .s6i-work left");
    }
    assert!(interrupted >= 4, "only {interrupted} rounds interrupted");
}
