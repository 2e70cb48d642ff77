//! s6-instance-watch on real trees: the snapshot, each kind of line,
//! instances made and removed while watched, a burst of restarts checked
//! against the status records, the set-wide waits, idle CPU, and the
//! FIFOs removed from every event/ on each way out.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const EL: &str = "/usr/lib/execline/bin";

/// A run script that says it is ready (notification-fd 3), then sleeps.
fn notifying_template(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    write_script(
        &dir.join("run"),
        &format!("{EL}/foreground {{ {EL}/fdmove 1 3 /usr/bin/echo }}\n{EL}/fdclose 3\n/usr/bin/sleep 3600"),
    );
    std::fs::write(dir.join("notification-fd"), "3\n").unwrap();
}

/// A run script that exits 3 at once, and a finish script that asks for
/// no restart (exit 125).
fn failing_template(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    write_script(&dir.join("run"), &format!("{EL}/exit 3"));
    write_script(&dir.join("finish"), &format!("{EL}/exit 125"));
}

fn create(svc: &Path, name: &str) {
    let out = run(ours("s6-instance-create").arg(svc).arg(name));
    assert_eq!(code(&out), 0, "create {name}: {}", stderr(&out));
}

fn create_many(svc: &Path, names: &[String]) {
    let out = run_for(
        ours("s6-instance-sync").args(["-t", "30000"]).arg(svc).args(names),
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 0, "sync: {}", stderr(&out));
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("i{i:03}")).collect()
}

fn svc_cmd(svc: &Path, name: &str, opt: &str) {
    let out = run(reference("s6-svc").arg(opt).arg(svc.join("instance").join(name)));
    assert_eq!(code(&out), 0, "s6-svc {opt} {name}: {}", stderr(&out));
}

fn inst(svc: &Path, name: &str) -> PathBuf {
    svc.join("instances").join(name)
}

/// Our FIFOs (and half-made ones) in every event/ of the service.
fn fifos(svc: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(dirs) = std::fs::read_dir(svc.join("instances")) else {
        return found;
    };
    for d in dirs.flatten() {
        for ev in [d.path().join("event"), d.path().join("log/event")] {
            for e in std::fs::read_dir(&ev).into_iter().flatten().flatten() {
                let n = e.file_name();
                let n = n.to_string_lossy();
                if n.starts_with("ftrig1") || n.starts_with(".ftrig1") {
                    found.push(e.path());
                }
            }
        }
    }
    found
}

/// A running watcher, its lines read by a thread.
struct Watcher {
    child: Option<Child>,
    rx: Receiver<String>,
    seen: Vec<String>,
}

fn watcher(cmd: &mut Command) -> Watcher {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Watcher {
        child: Some(child),
        rx,
        seen: Vec::new(),
    }
}

fn watch(svc: &Path, args: &[&str]) -> Watcher {
    watcher(ours("s6-instance-watch").args(args).arg(svc))
}

impl Watcher {
    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().unwrap().id() as i32)
    }

    /// The next line, if one comes within `limit`.
    fn line(&mut self, limit: Duration) -> Option<String> {
        let l = self.rx.recv_timeout(limit).ok()?;
        self.seen.push(l.clone());
        Some(l)
    }

    /// The next `n` lines (10 s at most in all).
    fn lines(&mut self, n: usize) -> Vec<String> {
        let end = Instant::now() + Duration::from_secs(10);
        let mut got = Vec::new();
        while got.len() < n {
            match self.line(end.saturating_duration_since(Instant::now())) {
                Some(l) => got.push(l),
                None => panic!("{} of {n} lines came: {got:?}", got.len()),
            }
        }
        got
    }

    /// Read lines until one equals `want`; the lines read, that one
    /// included.
    fn until(&mut self, want: &str) -> Vec<String> {
        self.until_match(|l| l == want, want)
    }

    fn until_match(&mut self, pred: impl Fn(&str) -> bool, what: &str) -> Vec<String> {
        let end = Instant::now() + Duration::from_secs(15);
        let mut got = Vec::new();
        loop {
            match self.line(end.saturating_duration_since(Instant::now())) {
                Some(l) => {
                    let hit = pred(&l);
                    got.push(l);
                    if hit {
                        return got;
                    }
                }
                None => {
                    let seen = self.seen.clone();
                    panic!(
                        "no line {what:?}; got {got:?}; all: {seen:?}; stderr: {}",
                        self.stop_output()
                    )
                }
            }
        }
    }

    /// Nothing more within `limit`.
    fn quiet_for(&mut self, limit: Duration) -> Option<String> {
        self.line(limit)
    }

    /// Stop it by `sig`, by its pid; its exit status.
    fn stop(&mut self, sig: Signal) -> std::process::ExitStatus {
        let _ = kill(self.pid(), sig);
        let child = self.child.take().unwrap();
        ended_within(child, Duration::from_secs(10)).expect("the watcher did not end on its signal")
    }

    fn stop_output(&mut self) -> String {
        let Some(mut child) = self.child.take() else {
            return String::new();
        };
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
        let _ = child.wait();
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        err
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}

/// The pid of the run, 0 when down. While the finish script runs (as
/// s6-supervise 2.11 forks one, even with no finish file), the record
/// holds its pid, flagged finishing: down.
fn pid_of(dir: &Path) -> u64 {
    let (pid, flags) = status(dir);
    if flags & 2 != 0 {
        0
    } else {
        pid
    }
}

#[test]
fn snapshot_then_a_line_per_change() {
    let t = Tree::new();
    let svc = t.service("svc", notifying_template);
    for n in ["c", "a", "b"] {
        create(&svc, n);
    }
    for n in ["a", "b", "c"] {
        // Up and ready: a record that never saw a run has its ready flag
        // set too.
        assert!(wait_until(Duration::from_secs(10), || {
            pid_of(&inst(&svc, n)) != 0 && status(&inst(&svc, n)).1 & 8 != 0
        }));
    }
    let mut w = watch(&svc, &[]);
    let snap = w.lines(6);
    let want: Vec<String> = ["a", "b", "c"]
        .iter()
        .flat_map(|n| [format!("{n} up {}", pid_of(&inst(&svc, n))), format!("{n} ready")])
        .collect();
    assert_eq!(snap, want);

    // A kill: down with its signal, then the new run, then ready again.
    svc_cmd(&svc, "b", "-k");
    let got = w.until("b ready");
    assert_eq!(got[0], "b down signal SIGKILL", "{got:?}");
    assert!(wait_until(Duration::from_secs(5), || pid_of(&inst(&svc, "b")) != 0));
    assert_eq!(got[1], format!("b up {}", pid_of(&inst(&svc, "b"))), "{got:?}");
    assert_eq!(got.len(), 3, "{got:?}");

    // Down by s6-svc -d: sleep dies of SIGTERM.
    svc_cmd(&svc, "c", "-d");
    assert_eq!(w.until("c down signal SIGTERM"), vec!["c down signal SIGTERM"]);

    // Made while watched, then removed.
    create(&svc, "d");
    let got = w.until("d ready");
    assert_eq!(got[0], "d created", "{got:?}");
    assert!(got.contains(&format!("d up {}", pid_of(&inst(&svc, "d")))), "{got:?}");
    let out = run(ours("s6-instance-delete").arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(w.until("a deleted"), vec!["a deleted"]);

    // The logger of an instance is not reported, and nothing else came.
    assert_eq!(w.quiet_for(Duration::from_millis(300)), None);
    let st = w.stop(Signal::SIGTERM);
    assert_eq!(st.signal(), Some(libc::SIGTERM));
    assert_eq!(fifos(&svc), Vec::<PathBuf>::new());
}

#[test]
fn a_permanent_failure_and_an_exit_code() {
    let t = Tree::new();
    let svc = t.service("svc", failing_template);
    let mut w = watch(&svc, &[]);
    // No instances: no snapshot lines.
    assert_eq!(w.quiet_for(Duration::from_millis(200)), None);
    create(&svc, "f");
    let got = w.until("f failed");
    assert_eq!(got[0], "f created", "{got:?}");
    let n = got.len();
    assert_eq!(got[n - 2], "f down exitcode 3", "{got:?}");
    // The snapshot of a new watcher says what the record says.
    let mut w2 = watch(&svc, &[]);
    assert_eq!(w2.lines(1), vec!["f down exitcode 3"]);
    for w in [&mut w, &mut w2] {
        assert_eq!(w.stop(Signal::SIGINT).signal(), Some(libc::SIGINT));
    }
    assert_eq!(fifos(&svc), Vec::<PathBuf>::new());
}

#[test]
fn named_instances_only_and_one_not_made_yet() {
    let (t, svc) = Tree::with_service();
    let _ = &t;
    create(&svc, "a");
    create(&svc, "b");
    assert!(wait_until(Duration::from_secs(10), || pid_of(&inst(&svc, "b")) != 0));
    let mut w = watcher(ours("s6-instance-watch").arg(&svc).args(["b", "z"]));
    assert_eq!(w.lines(1), vec![format!("b up {}", pid_of(&inst(&svc, "b")))]);
    create(&svc, "y");
    create(&svc, "z");
    let got = w.until_match(|l| l.starts_with("z up "), "z up");
    assert_eq!(got[0], "z created", "{got:?}");
    assert!(got.iter().all(|l| l.starts_with("z ")), "{got:?}");
    svc_cmd(&svc, "a", "-k");
    svc_cmd(&svc, "y", "-k");
    svc_cmd(&svc, "b", "-d");
    assert_eq!(w.until("b down signal SIGTERM"), vec!["b down signal SIGTERM"]);
    assert_eq!(w.stop(Signal::SIGHUP).signal(), Some(libc::SIGHUP));
    assert_eq!(fifos(&svc), Vec::<PathBuf>::new());
}

/// CPU ticks (user and system) a process has used.
fn ticks(pid: Pid) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn idle_then_a_burst_of_100_restarts_ends_on_every_record() {
    let (t, svc) = Tree::with_service();
    let _ = &t;
    let all = names(100);
    create_many(&svc, &all);
    for n in &all {
        assert!(wait_until(Duration::from_secs(10), || pid_of(&inst(&svc, n)) != 0));
    }
    let mut w = watch(&svc, &[]);
    let snap = w.lines(100);
    let want: Vec<String> = all
        .iter()
        .map(|n| format!("{n} up {}", pid_of(&inst(&svc, n))))
        .collect();
    assert_eq!(snap, want);

    // Idle: asleep in epoll, no CPU over 2 s.
    let before = ticks(w.pid());
    std::thread::sleep(Duration::from_secs(2));
    let used = ticks(w.pid()) - before;
    assert!(used <= 1, "{used} ticks while idle");

    // All 100 killed at once by one bulk step; each comes back.
    let olds: HashMap<&String, u64> = all.iter().map(|n| (n, pid_of(&inst(&svc, n)))).collect();
    let mut argv = vec!["-k".to_string(), "--".to_string(), svc.display().to_string()];
    argv.extend(all.iter().map(|n| format!(" {n}")));
    argv.push(String::new());
    let out = run(program(bindir().join("s6i-signal")).args(&argv));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(wait_until(Duration::from_secs(20), || all.iter().all(|n| {
        let pid = pid_of(&inst(&svc, n));
        pid != 0 && pid != olds[n]
    })));
    // The last up line of each names the pid in its record.
    let mut last: HashMap<String, String> = HashMap::new();
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let done = all
            .iter()
            .all(|n| last.get(n) == Some(&format!("up {}", pid_of(&inst(&svc, n)))));
        if done || Instant::now() > end {
            break;
        }
        if let Some(l) = w.line(Duration::from_millis(200)) {
            let (n, rest) = l.split_once(' ').unwrap();
            if rest.starts_with("up ") {
                last.insert(n.to_string(), rest.to_string());
            }
        }
    }
    for n in &all {
        assert_eq!(last.get(n), Some(&format!("up {}", pid_of(&inst(&svc, n)))), "{n}");
    }
    // Each death was said before its new run.
    for n in &all {
        let mine: Vec<&String> = w.seen[100..]
            .iter()
            .filter(|l| l.starts_with(&format!("{n} ")))
            .collect();
        assert_eq!(
            mine.first().map(|s| s.as_str()),
            Some(format!("{n} down signal SIGKILL").as_str()),
            "{n}: {mine:?}"
        );
    }
    assert_eq!(w.stop(Signal::SIGTERM).signal(), Some(libc::SIGTERM));
    assert_eq!(fifos(&svc), Vec::<PathBuf>::new());
}

#[test]
fn an_instance_deleted_while_its_events_are_read() {
    let (t, svc) = Tree::with_service();
    let _ = &t;
    let all = names(20);
    create_many(&svc, &all);
    let mut w = watch(&svc, &[]);
    w.lines(20);
    // Killed, then deleted at once: their events and their links' removal
    // come together.
    let mut argv = vec!["-k".to_string(), "--".to_string(), svc.display().to_string()];
    argv.extend(all.iter().map(|n| format!(" {n}")));
    argv.push(String::new());
    let out = run(program(bindir().join("s6i-signal")).args(&argv));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run_for(example("delete-many").arg(&svc).args(&all), Duration::from_secs(60));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut deleted = 0;
    let end = Instant::now() + Duration::from_secs(15);
    while deleted < 20 && Instant::now() < end {
        if let Some(l) = w.line(Duration::from_millis(500)) {
            deleted += usize::from(l.ends_with(" deleted"));
        }
    }
    assert_eq!(deleted, 20, "{:?}", w.seen);
    // Nothing after an instance's `deleted`.
    for n in &all {
        let at = w.seen.iter().position(|l| *l == format!("{n} deleted")).unwrap();
        assert!(
            !w.seen[at + 1..].iter().any(|l| l.starts_with(&format!("{n} "))),
            "{n}: {:?}",
            w.seen
        );
    }
    // Still watching: a new one is seen.
    create(&svc, "new");
    w.until("new created");
    assert_eq!(w.stop(Signal::SIGTERM).signal(), Some(libc::SIGTERM));
    assert_eq!(fifos(&svc), Vec::<PathBuf>::new());
}

fn wait_cmd(svc: &Path, args: &[&str]) -> Command {
    let mut c = ours("s6-instance-watch");
    c.args(args).arg(svc);
    c
}

#[test]
fn waits_on_the_whole_set() {
    let t = Tree::new();
    let svc = t.service("svc", notifying_template);
    // No instances at all: done at once.
    let out = run(&mut wait_cmd(&svc, &["-u"]));
    assert_eq!((code(&out), out.stdout.len()), (0, 0), "{}", stderr(&out));
    create(&svc, "a");
    create(&svc, "b");
    for (opt, want) in [("-u", 0), ("-U", 0), ("-d", 99), ("-D", 99)] {
        let limit = if want == 0 { "10000" } else { "300" };
        let out = run(&mut wait_cmd(&svc, &[opt, "-t", limit]));
        assert_eq!(code(&out), want, "{opt}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
        if want == 99 {
            let what = if opt == "-d" { "down" } else { "down and finished" };
            assert_eq!(
                stderr(&out),
                format!(
                    "s6-instance-watch: fatal: timed out waiting for {what} on {}: a b\n",
                    svc.display()
                )
            );
        }
    }
    // Down, for every one: the wait ends once the last is down.
    let mut waiting = wait_cmd(&svc, &["-D", "-t", "20000"]);
    let child = waiting.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    svc_cmd(&svc, "a", "-d");
    std::thread::sleep(Duration::from_millis(200));
    assert!(nix::sys::wait::waitpid(
        Pid::from_raw(child.id() as i32),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG)
    )
    .is_ok_and(|s| s == nix::sys::wait::WaitStatus::StillAlive));
    svc_cmd(&svc, "b", "-d");
    let st = ended_within(child, Duration::from_secs(10)).expect("the -D wait did not end");
    assert_eq!(st.code(), Some(0));

    // Up and ready, with one made meanwhile (down): it joins the wait.
    // b, still down, keeps the wait going until c is made.
    svc_cmd(&svc, "a", "-u");
    let child = wait_cmd(&svc, &["-U", "-t", "20000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = Pid::from_raw(child.id() as i32);
    let alive = || {
        nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG))
            .is_ok_and(|s| s == nix::sys::wait::WaitStatus::StillAlive)
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive());
    let out = run(ours("s6-instance-create").arg("-d").arg(&svc).arg("c"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    svc_cmd(&svc, "b", "-u");
    assert!(wait_until(Duration::from_secs(5), || {
        pid_of(&inst(&svc, "b")) != 0 && status(&inst(&svc, "b")).1 & 8 != 0
    }));
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(), "the wait ended with c down");
    svc_cmd(&svc, "c", "-u");
    let st = ended_within(child, Duration::from_secs(10)).expect("the -U wait did not end");
    assert_eq!(st.code(), Some(0));

    // A named instance that does not exist yet is waited for.
    let child = wait_cmd(&svc, &["-u", "-t", "20000"])
        .arg("a")
        .arg("later")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    create(&svc, "later");
    let st = ended_within(child, Duration::from_secs(10)).expect("the named wait did not end");
    assert_eq!(st.code(), Some(0));
    let out = run(wait_cmd(&svc, &["-u", "-t", "200"]).arg("nothere"));
    assert_eq!(code(&out), 99);
    assert!(stderr(&out).ends_with(": nothere\n"), "{}", stderr(&out));

    // In stream mode, -t ends the stream, exit 0.
    let out = run(wait_cmd(&svc, &["-t", "300"]).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("a up {}\na ready\n", pid_of(&inst(&svc, "a")))
    );
    assert_eq!(fifos(&svc), Vec::<PathBuf>::new());
}

#[test]
fn a_wait_for_up_ends_on_a_permanent_failure() {
    let t = Tree::new();
    let svc = t.service("svc", failing_template);
    let out = run(ours("s6-instance-create").arg("-d").arg(&svc).arg("f"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Its run starts and ends at once, never ready: -U cannot be met.
    let child2 = wait_cmd(&svc, &["-U", "-t", "20000"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    svc_cmd(&svc, "f", "-u");
    let out = child2.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("permanent failure or their supervisor died: f"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fifos(&svc), Vec::<PathBuf>::new());
}

#[test]
fn fifos_removed_when_the_reader_goes() {
    let (t, svc) = Tree::with_service();
    let _ = &t;
    create(&svc, "a");
    for ignore_pipe in [false, true] {
        // Close-on-exec: no other test's child may hold the reading end.
        let (r, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let mut cmd = ours("s6-instance-watch");
        cmd.arg(&svc)
            .stdin(Stdio::null())
            .stdout(Stdio::from(wr))
            .stderr(Stdio::piped());
        if ignore_pipe {
            // SAFETY: signal() is async-signal-safe.
            unsafe {
                cmd.pre_exec(|| {
                    libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().unwrap();
        drop(cmd);
        // The snapshot line is there, then the reader goes.
        let mut pfd = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(&r),
            nix::poll::PollFlags::POLLIN,
        )];
        assert_eq!(nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(10000u16)), Ok(1));
        assert!(wait_until(Duration::from_secs(5), || !fifos(&svc).is_empty()));
        let _ = r.as_raw_fd();
        drop(r);
        // Idle (no event to write): it sees its reader gone all the same.
        let st = ended_within(child, Duration::from_secs(5)).expect("the watcher outlived its reader");
        if ignore_pipe {
            assert_eq!(st.code(), Some(0), "{st:?}");
        } else {
            assert_eq!(st.signal(), Some(libc::SIGPIPE), "{st:?}");
        }
        assert_eq!(fifos(&svc), Vec::<PathBuf>::new());
    }
}

#[test]
fn bad_usage_no_instanced_service_no_scanner() {
    let (t, svc) = Tree::with_service();
    for args in [&[][..], &["-t"], &["-t", "x", "svc"], &["-z", "svc"]] {
        let out = run(ours("s6-instance-watch").args(args));
        assert_eq!(code(&out), 100, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with("s6-instance-watch: usage: s6-instance-watch "),
            "{}",
            stderr(&out)
        );
    }
    let out = run(ours("s6-instance-watch").arg(&svc).arg("a/b"));
    assert_eq!(code(&out), 100, "{}", stderr(&out));
    let out = run(ours("s6-instance-watch").arg(t.path()));
    assert_eq!(code(&out), 111, "{}", stderr(&out));
    assert!(stderr(&out).contains("not an instanced service"), "{}", stderr(&out));
    let off = t.offline_service("off", sleeper_template);
    // Its scanner never ran: no lock file, but a template (as summary
    // and s6's own commands say it).
    let out = run(ours("s6-instance-watch").arg("-u").arg(&off));
    assert_eq!(code(&out), 111, "{}", stderr(&out));
    assert!(stderr(&out).contains("unable to open "), "{}", stderr(&out));
    // Its scanner ran and stopped.
    let out = run(reference("s6-svc").args(["-wD", "-d", "-T", "10000"]).arg(&svc));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(ours("s6-instance-watch").arg(&svc));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "s6-instance-watch: fatal: instanced service not running on {}\n",
            svc.display()
        )
    );
}

#[test]
fn the_stream_ends_when_the_instanced_service_stops() {
    let (t, svc) = Tree::with_service();
    let _ = &t;
    create(&svc, "a");
    let mut w = watch(&svc, &[]);
    w.lines(1);
    let out = run(reference("s6-svc").arg("-d").arg(&svc));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let child = w.child.take().unwrap();
    let st = ended_within(child, Duration::from_secs(10)).expect("the watcher outlived its scanner");
    assert_eq!(st.code(), Some(1));
    assert_eq!(fifos(&svc), Vec::<PathBuf>::new());
}

#[test]
fn example_watch_failures_logs_each_failure_by_name() {
    let t = Tree::new();
    let svc = t.service("svc", failing_template);
    let mut cmd = example("watch-failures");
    cmd.env("PATH", format!("{}:{EL}:/usr/bin:/bin", bindir().display()));
    let mut w = watcher(cmd.arg(&svc));
    std::thread::sleep(Duration::from_millis(300));
    create(&svc, "f1");
    create(&svc, "f2");
    let mut got = vec![w.line(Duration::from_secs(10)), w.line(Duration::from_secs(10))];
    got.sort();
    assert_eq!(
        got,
        vec![
            Some("watch-failures: instance f1 failed permanently".to_string()),
            Some("watch-failures: instance f2 failed permanently".to_string())
        ]
    );
    // Its forstdin stopped: the watch sees its reader gone and cleans up.
    w.stop(Signal::SIGTERM);
    assert!(
        wait_until(Duration::from_secs(5), || fifos(&svc).is_empty()),
        "{:?}",
        fifos(&svc)
    );
}

#[test]
fn an_upgraded_instance_is_followed_onto_its_new_tree() {
    let (t, svc) = Tree::with_service();
    let _ = &t;
    create(&svc, "a");
    let mut w = watch(&svc, &[]);
    w.lines(1);
    // The upgrade swaps a new copy of the instance in, with a supervisor
    // of its own: the watch subscribes to that one.
    let out = run(ours("s6-instance-upgrade").args(["-t", "10000"]).arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let up = format!("a up {}", pid_of(&inst(&svc, "a")));
    w.until(&up);
    svc_cmd(&svc, "a", "-k");
    assert_eq!(w.until("a down signal SIGKILL"), vec!["a down signal SIGKILL"]);
    assert!(wait_until(Duration::from_secs(5), || pid_of(&inst(&svc, "a")) != 0));
    w.until(&format!("a up {}", pid_of(&inst(&svc, "a"))));
    assert_eq!(w.stop(Signal::SIGTERM).signal(), Some(libc::SIGTERM));
    assert_eq!(fifos(&svc), Vec::<PathBuf>::new());
}

#[test]
fn a_wait_does_not_care_who_reads_its_output() {
    let (t, svc) = Tree::with_service();
    let _ = &t;
    let out = run(ours("s6-instance-create").arg("-d").arg(&svc).arg("a"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (r, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let child = wait_cmd(&svc, &["-u", "-t", "20000"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(wr))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(r);
    std::thread::sleep(Duration::from_millis(300));
    svc_cmd(&svc, "a", "-u");
    let st = ended_within(child, Duration::from_secs(10)).expect("the wait did not end");
    assert_eq!(st.code(), Some(0), "{st:?}");
}

#[test]
fn names_are_bytes() {
    let (t, svc) = Tree::with_service();
    let _ = &t;
    let name = os(b"caf\xe9");
    let out = run(ours("s6-instance-create").arg("-d").arg(&svc).arg(name));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(ours("s6-instance-watch").args(["-t", "300"]).arg(&svc).arg(name));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(out.stdout, b"caf\xe9 down exitcode 0\n");
    let out = run(ours("s6-instance-watch").args(["-d", "-t", "5000"]).arg(&svc));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn a_reader_that_does_not_read_does_not_keep_it_from_its_signals() {
    let (t, svc) = Tree::with_service();
    let _ = &t;
    create(&svc, "a");
    // A pipe already full: the snapshot's write blocks.
    let (r, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let set = |flags: nix::fcntl::OFlag| nix::fcntl::fcntl(&wr, nix::fcntl::FcntlArg::F_SETFL(flags)).unwrap();
    set(nix::fcntl::OFlag::O_NONBLOCK);
    while nix::unistd::write(&wr, &[b'x'; 4096]).is_ok() {}
    set(nix::fcntl::OFlag::empty());
    let child = ours("s6-instance-watch")
        .arg(&svc)
        .stdin(Stdio::null())
        .stdout(Stdio::from(wr))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), || !fifos(&svc).is_empty()));
    std::thread::sleep(Duration::from_millis(200));
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let st = ended_within(child, Duration::from_secs(5)).expect("SIGTERM did not end a blocked write");
    assert_eq!(st.signal(), Some(libc::SIGTERM));
    assert_eq!(fifos(&svc), Vec::<PathBuf>::new());
    drop(r);
}
