//! Instanced services under a real s6-rc (0.5.4.1, built by `make
//! s6rc` from ../shared/vendor): the maker's `-r` output compiled and
//! started, every command on the live service, `s6-rc -d`/`-u`,
//! `s6-rc-update` keeping and restarting the longrun (the instances'
//! own values survive it: instance-env/), and the boot-time shape of
//! examples/s6-rc, rebooted on a fresh live directory.
//!
//! Each test has its own scan directory, live directory and s6-svscan,
//! started and stopped by its pid; at the end every service is brought
//! down with `s6-rc -da change` first. Without s6-rc (S6I_S6RC_BINDIR
//! unset, or `make s6rc` could not build it), each test says it is
//! skipped, and why, and passes.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Where s6-rc's programs are, or None, with the reason printed.
fn s6rc_bindir() -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("S6I_S6RC_BINDIR").map(PathBuf::from) else {
        eprintln!("skipped: S6I_S6RC_BINDIR is not set (make check builds s6-rc and sets it)");
        return None;
    };
    if !dir.join("s6-rc").exists() {
        let why = std::fs::read_to_string(dir.with_file_name("unavailable"))
            .unwrap_or_else(|_| format!("no s6-rc in {}", dir.display()));
        eprintln!("skipped: s6-rc not built: {}", why.trim());
        return None;
    }
    Some(dir)
}

/// Whether s6-rc-update can run here; if not, the reason is printed.
fn update_works() -> bool {
    // Debian 12's libs6 (2.11), which s6-rc is built against, reads the
    // status record as 35 bytes; s6 2.13 writes 43 (the pgid before the
    // wait status and flags). s6-rc-update, keeping an instanced
    // longrun, asks each instance's supervisor whether it is wanted up
    // before it holds it down for the copy, gets a wrong answer, never
    // lets it go: every instance is left wanted down, with a down file.
    // 2.14 and later write 35 bytes again.
    if release().status_size() != 35 {
        eprintln!(
            "skipped: s6-rc 0.5.4.1 is built against Debian 12's libs6 2.11, which misreads s6 {}'s {}-byte status records (s6-rc-update leaves every instance down)",
            std::env::var("S6I_S6_VERSION").unwrap_or_default(),
            release().status_size()
        );
        return false;
    }
    true
}

/// A private s6-rc world: a scan directory with its s6-svscan, and a
/// live directory once `init` ran. PATH: s6-rc's programs first
/// (s6-rc-update runs `s6-rc` by name), then execline's and s6's, not
/// ours: the scanner hands it to the oneshots it runs, which are the
/// installed examples, reaching ours by absolute path.
struct Rc {
    dir: tempfile::TempDir,
    bin: PathBuf,
    scanner: Option<Child>,
}

impl Rc {
    /// The longrun `web` of the port template (default 8000), compiled
    /// and started, without instances: its live service directory.
    fn web(&self) -> PathBuf {
        let tpl = self.path().join("tpl");
        port_template(&tpl, "8000");
        let src = self.path().join("src");
        make_source(&src, &tpl, &["-c", "16", "-r", "web"]);
        self.init(&self.compile("1", &src));
        self.up(&["web"]);
        self.sv("web")
    }

    /// `web`, its instances synced from PORT_SET, up and ready: its live
    /// service directory, and the set file.
    fn web_synced(&self) -> (PathBuf, PathBuf) {
        let sv = self.web();
        let set = self.path().join("set");
        std::fs::write(&set, PORT_SET).unwrap();
        let out = run(ours("s6-instance-sync").args(["-w", "U", "-f"]).arg(&set).arg(&sv));
        assert_eq!(code(&out), 0, "sync: {}", stderr(&out));
        (sv, set)
    }

    /// One for a test that runs s6-rc-update (see `update_works`).
    fn for_update() -> Option<Rc> {
        if s6rc_bindir().is_none() || !update_works() {
            return None;
        }
        Rc::new()
    }

    fn new() -> Option<Rc> {
        let bin = s6rc_bindir()?;
        let dir = tempfile::Builder::new().prefix("s6i-s6rc.").tempdir().unwrap();
        let mut rc = Rc {
            dir,
            bin,
            scanner: None,
        };
        std::fs::create_dir(rc.scan()).unwrap();
        rc.start_scanner();
        Some(rc)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn scan(&self) -> PathBuf {
        self.path().join("scan")
    }

    fn live(&self) -> PathBuf {
        self.path().join("live")
    }

    fn path_var(&self) -> String {
        format!("{}:/usr/lib/execline/bin:/usr/bin:/bin", self.bin.display())
    }

    fn start_scanner(&mut self) {
        let mut cmd = program("/usr/bin/s6-svscan");
        cmd.arg(self.scan())
            .env_clear()
            .env("PATH", self.path_var())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        self.scanner = Some(cmd.spawn().expect("start s6-svscan"));
        let lock = self.scan().join(".s6-svscan/lock");
        assert!(
            wait_until(Duration::from_secs(10), || locked(&lock)),
            "s6-svscan did not start"
        );
        let scan = self.scan();
        assert!(
            wait_until(Duration::from_secs(10), || code(&run(reference("s6-svscanctl")
                .arg("-a")
                .arg(&scan)))
                == 0),
            "s6-svscan never listened"
        );
    }

    /// Bring every service down, stop the scanner by its pid, and wait
    /// for every process of the tree to go (killed, by pid, if not).
    fn stop(&mut self) {
        if self.live().exists() {
            let _ = run_for(
                self.s6rc("s6-rc")
                    .args(["-l"])
                    .arg(self.live())
                    .args(["-t", "20000", "-da", "change"]),
                Duration::from_secs(30),
            );
        }
        let dir = self.path().to_path_buf();
        stop_scanner(self.scanner.take(), &dir);
    }

    /// One of s6-rc's programs, by absolute path, with our PATH.
    fn s6rc(&self, prog: &str) -> Command {
        let mut c = program(self.bin.join(prog));
        c.env_clear().env("PATH", self.path_var());
        c
    }

    fn ok(&self, what: &str, cmd: &mut Command) -> Output {
        let out = run_for(cmd, Duration::from_secs(60));
        assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
        out
    }

    /// Compile the source directory `src` into `compiled-NAME`.
    fn compile(&self, name: &str, src: &Path) -> PathBuf {
        let compiled = self.path().join(format!("compiled-{name}"));
        self.ok("s6-rc-compile", self.s6rc("s6-rc-compile").arg(&compiled).arg(src));
        compiled
    }

    fn init(&self, compiled: &Path) {
        self.ok(
            "s6-rc-init",
            self.s6rc("s6-rc-init")
                .arg("-c")
                .arg(compiled)
                .arg("-l")
                .arg(self.live())
                .arg("-d")
                .arg(self.scan()),
        );
    }

    /// `s6-rc -u change` (or `-d`) of `names`.
    fn change(&self, dir: &str, names: &[&str]) -> Output {
        run_for(
            self.s6rc("s6-rc")
                .arg("-l")
                .arg(self.live())
                .args(["-t", "30000", dir, "change"])
                .args(names),
            Duration::from_secs(60),
        )
    }

    fn up(&self, names: &[&str]) {
        let out = self.change("-u", names);
        assert_eq!(code(&out), 0, "s6-rc -u change {names:?}: {}", stderr(&out));
    }

    fn down(&self, names: &[&str]) {
        let out = self.change("-d", names);
        assert_eq!(code(&out), 0, "s6-rc -d change {names:?}: {}", stderr(&out));
    }

    /// `s6-rc-update` to `compiled`, with a conversion file if given.
    fn update(&self, compiled: &Path, conversion: Option<&str>) {
        let mut cmd = self.s6rc("s6-rc-update");
        cmd.arg("-l").arg(self.live()).args(["-t", "30000"]);
        if let Some(conv) = conversion {
            let file = self.path().join("conversion");
            std::fs::write(&file, conv).unwrap();
            cmd.arg("-f").arg(file);
        }
        self.ok("s6-rc-update", cmd.arg(compiled));
    }

    /// The live service directory of NAME (through the `live` link, as
    /// users reach it: s6-rc-update swaps what the link points to).
    fn sv(&self, name: &str) -> PathBuf {
        self.live().join("servicedirs").join(name)
    }

    /// The services s6-rc says are up.
    fn active(&self) -> Vec<String> {
        let out = self.ok(
            "s6-rc -a list",
            self.s6rc("s6-rc").arg("-l").arg(self.live()).args(["-a", "list"]),
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Rc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Our maker's `-r` output for `template`, into the source directory
/// `src` (made if missing).
fn make_source(src: &Path, template: &Path, opts: &[&str]) {
    std::fs::create_dir_all(src).unwrap();
    let out = run(ours("s6-instance-maker").args(opts).arg(template).arg(src));
    assert_eq!(code(&out), 0, "s6-instance-maker: {}", stderr(&out));
}

/// A template whose run writes `NAME PORT` (the defaults of env/, then
/// the instance's own instance-env/) into `running`, says `NAME
/// listening on PORT` on its output, then says it is ready and sleeps:
/// what each run saw is on disk.
fn port_template(dir: &Path, port: &str) {
    std::fs::create_dir_all(dir.join("env")).unwrap();
    std::fs::write(dir.join("env/PORT"), format!("{port}\n")).unwrap();
    std::fs::write(dir.join("notification-fd"), "3\n").unwrap();
    write_script(
        &dir.join("run"),
        "s6-envdir env\n\
         s6-envdir -I instance-env\n\
         importas -i PORT PORT\n\
         foreground { redirfd -w 1 running.new echo ${1} ${PORT} }\n\
         foreground { mv -f running.new running }\n\
         foreground { echo ${1} listening on ${PORT} }\n\
         foreground { fdmove 1 3 echo }\n\
         fdclose 3\n\
         sleep 3600",
    );
}

/// What the last run of instance NAME of `sv` saw, once it is up and
/// ready.
fn seen(sv: &Path, name: &str) -> String {
    let dir = sv.join("instances").join(name);
    let out = run(reference("s6-svwait").args(["-U", "-t", "10000"]).arg(&dir));
    assert_eq!(code(&out), 0, "{name} never ready: {}", stderr(&out));
    std::fs::read_to_string(dir.join("running")).unwrap().trim().to_string()
}

/// Restart instance NAME (s6-svc -r) and wait for its new run to be
/// ready: what that run saw.
fn restarted(sv: &Path, name: &str) -> String {
    let dir = sv.join("instances").join(name);
    let _ = std::fs::remove_file(dir.join("running"));
    let out = run(ours("s6-instance-control")
        .args(["-r", "-wU", "-T", "10000"])
        .arg(sv)
        .arg(name));
    assert_eq!(code(&out), 0, "restart {name}: {}", stderr(&out));
    assert!(
        wait_until(Duration::from_secs(10), || dir.join("running").exists()),
        "{name}: no new run"
    );
    seen(sv, name)
}

fn summary(sv: &Path) -> String {
    let out = run(ours("s6-instance-summary").arg(sv));
    assert_eq!(code(&out), 0, "summary: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn list(sv: &Path) -> Vec<String> {
    let out = run(ours("s6-instance-list").arg(sv));
    assert_eq!(code(&out), 0, "list: {}", stderr(&out));
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// The port example of issue 29: a and b given their own ports by set
/// lines, c none (the template's default).
const PORT_SET: &str = "a PORT=8001\nb PORT=8002\nc\n";

#[test]
fn the_makers_r_output_compiles_and_runs_with_and_without_a_logger() {
    let Some(rc) = Rc::new() else { return };
    let tpl = rc.path().join("tpl");
    port_template(&tpl, "8000");
    let src = rc.path().join("src");
    make_source(&src, &tpl, &["-c", "8", "-r", "plain"]);
    let logs = rc.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    for (log, names) in [("l1", "logged/logged-log"), ("l2", "piped/piped-log/piped-pipe")] {
        let log = logs.join(log);
        make_source(&src, &tpl, &["-c", "8", "-L", log.to_str().unwrap(), "-r", names]);
    }
    let compiled = rc.compile("1", &src);
    rc.init(&compiled);
    // The pipeline's name is a bundle of the service and its logger.
    let out = rc.ok(
        "s6-rc-db contents",
        rc.s6rc("s6-rc-db")
            .arg("-c")
            .arg(&compiled)
            .args(["contents", "piped-pipe"]),
    );
    let mut contents: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    contents.sort();
    assert_eq!(contents, ["piped", "piped-log"]);
    rc.up(&["plain", "logged", "piped-pipe"]);
    let active = rc.active();
    for s in ["plain", "logged", "logged-log", "piped", "piped-log"] {
        assert!(active.iter().any(|a| a == s), "{s} not up: {active:?}");
    }
    for s in ["plain", "logged", "piped"] {
        let sv = rc.sv(s);
        assert!(locked(&sv.join("instance/.s6-svscan/lock")), "{s}: no nested scanner");
        let out = run(ours("s6-instance-create").arg(&sv).arg("x"));
        assert_eq!(code(&out), 0, "{s}: create: {}", stderr(&out));
        assert_eq!(seen(&sv, "x"), "x 8000");
    }
    // The loggers run, and what the instances say reaches them through
    // the nested scanner's output.
    for (s, log) in [("logged", "l1"), ("piped", "l2")] {
        assert!(supervised(&rc.sv(&format!("{s}-log"))), "{s}-log not supervised");
        let current = logs.join(log).join("current");
        assert!(
            wait_until(Duration::from_secs(10), || std::fs::read_to_string(&current)
                .is_ok_and(|c| c.contains("x listening on 8000"))),
            "{log}: the instance's line never came: {:?}",
            std::fs::read_to_string(&current)
        );
        let out = run(ours("s6-instance-delete").arg(rc.sv(s)).arg("x"));
        assert_eq!(code(&out), 0, "delete: {}", stderr(&out));
    }
}

#[test]
fn every_command_on_the_live_service_beside_s6s_own() {
    let Some(rc) = Rc::new() else { return };
    let sv = rc.web();
    // create: ours, then s6's; list with both.
    assert_eq!(code(&run(ours("s6-instance-create").arg(&sv).arg("o1"))), 0);
    let out = run(reference("s6-instance-create").arg(&sv).arg("c1"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(list(&sv), ["c1", "o1"]);
    let theirs = run(reference("s6-instance-list").arg(&sv));
    let mut theirs: Vec<String> = String::from_utf8_lossy(&theirs.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    theirs.sort();
    assert_eq!(theirs, ["c1", "o1"]);
    // control and status, ours on s6's instance and s6's on ours.
    let out = run(ours("s6-instance-control")
        .args(["-d", "-wD", "-T", "10000"])
        .arg(&sv)
        .arg("c1"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(reference("s6-instance-status").arg(&sv).arg("c1"));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("down"), "{out:?}");
    let out = run(reference("s6-instance-control")
        .args(["-u", "-wU", "-T", "10000"])
        .arg(&sv)
        .arg("c1"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(ours("s6-instance-status").arg(&sv).arg("c1"));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("up"), "{out:?}");
    // summary: a line each.
    let s = summary(&sv);
    assert!(s.starts_with("c1: up") && s.contains("\no1: up"), "{s}");
    // sync with set lines: o1 and c1 go, the set comes, each with its own.
    let set = rc.path().join("set");
    std::fs::write(&set, PORT_SET).unwrap();
    let out = run(ours("s6-instance-sync").args(["-w", "U", "-f"]).arg(&set).arg(&sv));
    assert_eq!(code(&out), 0, "sync: {}", stderr(&out));
    assert_eq!(list(&sv), ["a", "b", "c"]);
    assert_eq!(
        [seen(&sv, "a"), seen(&sv, "b"), seen(&sv, "c")],
        ["a 8001", "b 8002", "c 8000"]
    );
    // watch, streaming: the state of each, then a line per change, an
    // instance of s6's create included; stopped by its pid.
    let mut w = ours("s6-instance-watch")
        .arg(&sv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let out = w.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let until = |want: &str| {
        let mut got = Vec::new();
        let end = std::time::Instant::now() + Duration::from_secs(15);
        while let Ok(l) = rx.recv_timeout(end.saturating_duration_since(std::time::Instant::now())) {
            let hit = l == want || l.starts_with(&format!("{want} "));
            got.push(l);
            if hit {
                return got;
            }
        }
        panic!("watch: no line {want:?}: {got:?}");
    };
    for n in ["a up", "b up", "c up"] {
        until(n);
    }
    let out = run(reference("s6-instance-create").arg(&sv).arg("w"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    until("w created");
    until("w up");
    assert_eq!(code(&run(ours("s6-instance-delete").arg(&sv).arg("w"))), 0);
    until("w deleted");
    let _ = kill(Pid::from_raw(w.id() as i32), Signal::SIGTERM);
    assert!(
        ended_within(w, Duration::from_secs(10)).is_some(),
        "watch did not end on SIGTERM"
    );
    // watch -U: the whole set is up and ready.
    let out = run(ours("s6-instance-watch").args(["-U", "-t", "10000"]).arg(&sv));
    assert_eq!(code(&out), 0, "watch: {}", stderr(&out));
    // template then upgrade: the new default reaches c; a and b keep their own.
    let tpl2 = rc.path().join("tpl2");
    port_template(&tpl2, "9000");
    let out = run(ours("s6-instance-template").arg(&sv).arg(&tpl2));
    assert_eq!(code(&out), 0, "template: {}", stderr(&out));
    let out = run(ours("s6-instance-upgrade").args(["-w", "U"]).arg(&sv));
    assert_eq!(code(&out), 0, "upgrade: {}", stderr(&out));
    assert_eq!(seen(&sv, "a"), "a 8001");
    assert_eq!(seen(&sv, "b"), "b 8002");
    // The upgrade put the new default under c's own values (none): the
    // next sync has nothing to change.
    assert_eq!(seen(&sv, "c"), "c 9000");
    let out = run(ours("s6-instance-sync").args(["-w", "U", "-f"]).arg(&set).arg(&sv));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{}", stderr(&out));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // delete: ours on one, s6's on another.
    assert_eq!(code(&run(ours("s6-instance-delete").arg(&sv).arg("a"))), 0);
    let out = run(reference("s6-instance-delete").arg(&sv).arg("b"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(list(&sv), ["c"]);
    // Nothing of ours left in instances/ (s6-rc-update walks every entry).
    assert_eq!(hidden_entries(&sv.join("instances")), Vec::<Vec<u8>>::new());
}

#[test]
fn s6rc_down_then_up_brings_the_instances_back_supervised() {
    let Some(rc) = Rc::new() else { return };
    let (sv, set) = rc.web_synced();
    // Down with a down file (-D): it stays down when its supervisor is
    // started again.
    let out = run(ours("s6-instance-create").args(["-D"]).arg(&sv).arg("held"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(sv.join("instances/held/down").exists());
    rc.down(&["web"]);
    assert!(sv.join("instances/held/down").exists(), "no down file after s6-rc -d");
    for n in ["a", "b", "c", "held"] {
        assert!(!supervised(&sv.join("instances").join(n)), "{n} still supervised");
    }
    let out = run(ours("s6-instance-list").arg(&sv));
    assert_eq!(code(&out), 1, "list on a stopped service: {}", stderr(&out));
    rc.up(&["web"]);
    let out = run(ours("s6-instance-watch")
        .args(["-U", "-t", "10000"])
        .arg(&sv)
        .args(["a", "b", "c"]));
    assert_eq!(code(&out), 0, "watch: {}", stderr(&out));
    assert_eq!(
        [seen(&sv, "a"), seen(&sv, "b"), seen(&sv, "c")],
        ["a 8001", "b 8002", "c 8000"]
    );
    assert!(supervised(&sv.join("instances/held")));
    assert!(summary(&sv).contains("held: down"), "{}", summary(&sv));
    let out = run(ours("s6-instance-sync").args(["-n", "-f"]).arg(&set).arg(&sv));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "-held\n");
}

/// Issue 29, item 1, the longrun kept: s6-rc-update copies the new
/// template (env/PORT 9000) into every instance, and each one's next
/// run still sees its own port; sync plans nothing.
#[test]
fn own_values_survive_an_update_that_keeps_the_longrun() {
    let Some(rc) = Rc::for_update() else { return };
    let (sv, set) = rc.web_synced();
    let scanner = status(&sv).0;
    let tpl2 = rc.path().join("tpl2");
    port_template(&tpl2, "9000");
    let src2 = rc.path().join("src2");
    make_source(&src2, &tpl2, &["-c", "16", "-r", "web"]);
    rc.update(&rc.compile("2", &src2), None);
    assert_eq!(status(&sv).0, scanner, "the longrun was restarted");
    // The copy reached every instance: env/ is the new template's.
    for n in ["a", "b", "c"] {
        let port = std::fs::read_to_string(sv.join("instances").join(n).join("env/PORT")).unwrap();
        assert_eq!(port, "9000\n", "{n}");
    }
    let out = run(ours("s6-instance-sync").args(["-n", "-f"]).arg(&set).arg(&sv));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "sync plans a change");
    assert_eq!(restarted(&sv, "a"), "a 8001");
    assert_eq!(restarted(&sv, "b"), "b 8002");
    assert_eq!(restarted(&sv, "c"), "c 9000");
    // A sync after it changes nothing, restarts nothing.
    let pids: Vec<u64> = ["a", "b", "c"]
        .iter()
        .map(|n| status(&sv.join("instances").join(n)).0)
        .collect();
    let out = run(ours("s6-instance-sync").args(["-f"]).arg(&set).arg(&sv));
    assert_eq!(
        (code(&out), String::from_utf8_lossy(&out.stdout).into_owned()),
        (0, String::new())
    );
    let after: Vec<u64> = ["a", "b", "c"]
        .iter()
        .map(|n| status(&sv.join("instances").join(n)).0)
        .collect();
    assert_eq!(pids, after);
    // A changed line still changes only its instance.
    std::fs::write(&set, "a PORT=8011\nb PORT=8002\nc\n").unwrap();
    let out = run(ours("s6-instance-sync").args(["-w", "U", "-f"]).arg(&set).arg(&sv));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "~a\n", "{}", stderr(&out));
    assert_eq!(seen(&sv, "a"), "a 8011");
}

/// Copy examples/s6-rc's source definition NAME, as `make install` put
/// it (our commands named by absolute path), into `src`, its paths
/// changed to this world's: the live directory, the set file, the
/// consoles.
fn example_source(rc: &Rc, name: &str, src: &Path, set: &Path, active: &Path) {
    let from = bindir()
        .parent()
        .unwrap()
        .join("share/doc/s6-instance-steps/examples/s6-rc/source")
        .join(name);
    let up = std::fs::read_to_string(from.join("up")).unwrap();
    let sync = format!("{}/s6-instance-sync ", bindir().display());
    assert!(up.contains(&sync), "the installed {name}/up does not run {sync}: {up}");
    let to = src.join(name);
    std::fs::create_dir_all(to.join("dependencies.d")).unwrap();
    for entry in std::fs::read_dir(&from).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            for dep in std::fs::read_dir(&p).unwrap().flatten() {
                std::fs::write(to.join("dependencies.d").join(dep.file_name()), "").unwrap();
            }
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let text = text
            .replace("/run/s6-rc/", &format!("{}/", rc.live().display()))
            .replace("/etc/s6-sets/web", set.to_str().unwrap())
            .replace("/sys/class/tty/console/active", active.to_str().unwrap());
        std::fs::write(to.join(entry.file_name()), text).unwrap();
    }
}

fn examples_s6rc() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/s6-rc")
}

/// The web of examples/s6-rc, its oneshot web-sync and its set file:
/// compiled in `src`.
fn boot_shape(rc: &Rc, set: &Path) -> PathBuf {
    let src = rc.path().join("src");
    make_source(&src, &examples_s6rc().join("web-template"), &["-c", "16", "-r", "web"]);
    example_source(rc, "web-sync", &src, set, Path::new("/nonexistent"));
    src
}

/// Issue 29, item 1, the longrun restarted: s6-rc-update makes the
/// instances again from the new template (s6's
/// s6_servicedir_instances_recreate_offline keeps only their names and
/// down files), and restarts the oneshot that depends on the longrun:
/// its down deletes them, its up makes them from the set file again,
/// each with its own port.
#[test]
fn own_values_survive_an_update_that_restarts_the_longrun() {
    let Some(rc) = Rc::for_update() else { return };
    let set = rc.path().join("sets/web");
    std::fs::create_dir_all(set.parent().unwrap()).unwrap();
    std::fs::copy(examples_s6rc().join("sets/web"), &set).unwrap();
    let src = boot_shape(&rc, &set);
    rc.init(&rc.compile("1", &src));
    rc.up(&["web-sync"]);
    let sv = rc.sv("web");
    assert_eq!(
        [seen(&sv, "a"), seen(&sv, "b"), seen(&sv, "c")],
        ["a 8001", "b 8002", "c 8000"]
    );
    let scanner = status(&sv).0;
    // The new template: default 9000.
    let tpl2 = rc.path().join("tpl2");
    s6i::copy::copy_tree(
        &s6i::door::Loc::at(&examples_s6rc().join("web-template")),
        &s6i::door::Loc::of(&tpl2),
    )
    .unwrap()
    .publish();
    std::fs::write(tpl2.join("env/PORT"), "9000\n").unwrap();
    let src2 = rc.path().join("src2");
    make_source(&src2, &tpl2, &["-c", "16", "-r", "web"]);
    example_source(&rc, "web-sync", &src2, &set, Path::new("/nonexistent"));
    rc.update(&rc.compile("2", &src2), Some("web restart\n"));
    assert_ne!(status(&sv).0, scanner, "the longrun was not restarted");
    assert!(rc.active().iter().any(|s| s == "web-sync"), "{:?}", rc.active());
    assert_eq!(list(&sv), ["a", "b", "c"]);
    assert_eq!(
        [seen(&sv, "a"), seen(&sv, "b"), seen(&sv, "c")],
        ["a 8001", "b 8002", "c 9000"]
    );
    assert_eq!(restarted(&sv, "a"), "a 8001");
    assert_eq!(restarted(&sv, "c"), "c 9000");
}

/// Issue 29, item 2: examples/s6-rc's boot shape. Up: every instance of
/// the set up and ready. The whole tree stopped, the live directory
/// gone (a tmpfs at a reboot), a new scanner, s6-rc-init again: the
/// same set is back, each on its own values.
#[test]
fn the_boot_shape_brings_the_set_back_after_a_reboot() {
    let Some(mut rc) = Rc::new() else { return };
    let set = rc.path().join("sets/web");
    std::fs::create_dir_all(set.parent().unwrap()).unwrap();
    std::fs::copy(examples_s6rc().join("sets/web"), &set).unwrap();
    std::fs::write(&set, "a PORT=8001\nb PORT=8002\nc\nd PORT=8004\n").unwrap();
    let src = boot_shape(&rc, &set);
    let compiled = rc.compile("1", &src);
    for boot in 0..2 {
        rc.init(&compiled);
        rc.up(&["web-sync"]);
        let sv = rc.sv("web");
        assert_eq!(list(&sv), ["a", "b", "c", "d"], "boot {boot}");
        let out = run(ours("s6-instance-watch").args(["-U", "-t", "1000"]).arg(&sv));
        assert_eq!(code(&out), 0, "boot {boot}: not all up and ready: {}", stderr(&out));
        assert_eq!(
            [seen(&sv, "a"), seen(&sv, "b"), seen(&sv, "c"), seen(&sv, "d")],
            ["a 8001", "b 8002", "c 8000", "d 8004"],
            "boot {boot}"
        );
        // The reboot: everything down, the scanner stopped, the live
        // directory and the scan directory's links gone.
        rc.down(&["web"]);
        assert!(entries(&sv.join("instances")).is_empty(), "down left instances");
        rc.stop();
        for e in std::fs::read_dir(rc.path()).unwrap().flatten() {
            let name = e.file_name();
            if name.to_string_lossy().starts_with("live") {
                let p = e.path();
                if p.is_symlink() {
                    std::fs::remove_file(&p).unwrap();
                } else {
                    std::fs::remove_dir_all(&p).unwrap();
                }
            }
        }
        std::fs::remove_dir_all(rc.scan()).unwrap();
        std::fs::create_dir(rc.scan()).unwrap();
        rc.start_scanner();
    }
    // An empty (lost) set file: up refuses it, nothing is made.
    std::fs::write(&set, "").unwrap();
    rc.init(&compiled);
    let out = rc.change("-u", &["web-sync"]);
    assert_ne!(code(&out), 0, "an empty set file was taken");
    assert!(entries(&rc.sv("web").join("instances")).is_empty());
}

/// The getty per console: the oneshot's up makes the instances exactly
/// the active consoles (a file stands in for
/// /sys/class/tty/console/active), its down deletes them all.
#[test]
fn getty_per_active_console() {
    let Some(rc) = Rc::new() else { return };
    let active = rc.path().join("console-active");
    std::fs::write(&active, "tty0 ttyS0\n").unwrap();
    let src = rc.path().join("src");
    // agetty would take the consoles: a stand-in template that sleeps.
    let tpl = rc.path().join("getty-template");
    sleeper_template(&tpl);
    assert!(examples_s6rc().join("getty-template/run").exists());
    make_source(&src, &tpl, &["-c", "16", "-r", "getty"]);
    example_source(&rc, "getty-consoles", &src, Path::new("/nonexistent"), &active);
    rc.init(&rc.compile("1", &src));
    // One made by hand beforehand goes: the set is the consoles.
    rc.up(&["getty"]);
    let sv = rc.sv("getty");
    assert_eq!(code(&run(ours("s6-instance-create").arg(&sv).arg("tty9"))), 0);
    rc.up(&["getty-consoles"]);
    assert_eq!(list(&sv), ["tty0", "ttyS0"]);
    for n in ["tty0", "ttyS0"] {
        assert!(supervised(&sv.join("instances").join(n)), "{n}");
    }
    rc.down(&["getty-consoles"]);
    assert_eq!(list(&sv), Vec::<String>::new());
    assert!(entries(&sv.join("instances")).is_empty());
    std::fs::write(&active, "ttyS1\n").unwrap();
    rc.up(&["getty-consoles"]);
    assert_eq!(list(&sv), ["ttyS1"]);
}
