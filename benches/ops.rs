//! Side-by-side timings: our s6-instance-* scripts and s6's C programs,
//! run interleaved (A B, then B A) on the same private s6 tree, on tmpfs
//! when TMPDIR points there, as `make bench` does. For each N (200 and
//! 1000 by default; `S6I_BENCH_NS=200,5000` changes them): p50 and p95
//! of the wall time per operation, the p50 of its CPU time (steadier
//! than wall time on a shared machine), the ratios ours/C, the ratio over
//! the last tenth of N (as instances pile up), and the floor that list
//! and the maker cannot go below (execlineb and one exec of a step);
//! bulk create and delete of N instances in one call against N calls of
//! the C programs, beside the scanner's own time to start N supervisors
//! (the floor of bulk create); then whole
//! sets: s6-instance-sync from none to N instances and back, each in one
//! call, against N calls of the C create and delete (beside create-many
//! and delete-many), and one s6-instance-summary call for the status of
//! all N against N calls of the C s6-instance-status. Then, in a tree of
//! its own, s6-instance-upgrade of 100 instances that notify readiness,
//! one at a time (-p 1) and ten at a time (-p 10): the wall time and the
//! longest any one instance was down, sampled every millisecond from the
//! status records; s6 has no upgrade, so beside it, for reference, what
//! an operator would do with s6's C programs: a delete then a create of
//! each instance in turn. Then the peak RSS of one command of each kind,
//! ours against C. Then per-instance configuration: a sync of 1000 set
//! lines that makes them all, then one where 10 lines changed (only
//! those 10 restarted), as a fraction of the first, and the plan (`-n`)
//! of 10000 set lines. Then s6-instance-watch on 1000 instances: the
//! time to the end of its snapshot, its memory and descriptors, its CPU
//! while all 1000 restart at once, and the latency from s6-svc to its
//! line (p50, p99). `S6I_BENCH_ONLY=upgrade` (or `ops`, `env`, `watch`,
//! `rss`, `syscalls`, or a comma-separated list of them) runs only those
//! parts: `ops` is the per-N part, `upgrade` the upgrade, `env` the sets
//! with variables, `watch` the watch, `rss` the peak RSS, `syscalls` the
//! system calls of one create and one delete on an idle service (whole
//! chain, execlineb included, counted by `strace -f -c`), ours and C.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::*;

/// Run without the tests' watchdog thread, whose start would be timed
/// too; a bench that hangs is stopped by hand. The wall time and the CPU
/// time (user and system, from the rusage of the reaped child: every
/// program its pid executed in turn, and the children it waited for).
fn timed(cmd: &mut Command) -> (Duration, Duration) {
    let (cpu, start) = (children_cpu(), Instant::now());
    let st = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .expect("spawn");
    let took = start.elapsed();
    assert!(st.success(), "{cmd:?}: {st:?}");
    (took, children_cpu() - cpu)
}

/// The wall time alone.
fn time(cmd: &mut Command) -> Duration {
    timed(cmd).0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(v: &[Duration], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort();
    ms(v[((v.len() as f64 - 1.0) * p).round() as usize])
}

struct Side {
    svc: PathBuf,
    ours: bool,
}

impl Side {
    /// `prog opts -- svc [name]`, ours or s6's: wall and CPU time.
    fn time(&self, prog: &str, opts: &[&str], name: Option<&str>) -> (Duration, Duration) {
        let mut c = if self.ours { ours(prog) } else { reference(prog) };
        c.args(opts).arg("--").arg(&self.svc).args(name);
        timed(&mut c)
    }
}

fn main() {
    let ns: Vec<usize> = std::env::var("S6I_BENCH_NS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![200, 1000]);
    let only = std::env::var("S6I_BENCH_ONLY").ok();
    let parts = ["ops", "upgrade", "env", "watch", "rss", "syscalls"];
    if let Some(o) = &only {
        let unknown: Vec<&str> = o.split(',').map(str::trim).filter(|p| !parts.contains(p)).collect();
        assert!(
            unknown.is_empty(),
            "S6I_BENCH_ONLY: no part {unknown:?}; the parts are {parts:?}"
        );
    }
    let part = |p: &str| only.as_deref().is_none_or(|o| o.split(',').any(|x| x.trim() == p));
    println!("s6-instance-* ours vs s6's C programs; one fresh tree per N");
    if part("ops") {
        for n in ns {
            per_operation(n);
        }
    }
    if part("upgrade") {
        upgrade();
    }
    if part("env") {
        env_sets();
    }
    if part("watch") {
        watch();
    }
    if part("rss") {
        peak_rss();
    }
    if part("syscalls") {
        syscalls();
    }
}

/// System calls of one create and one delete on an idle service (no
/// other command under way: `.s6i-work` missing), ours against C, the
/// median of three, counted by strace over the whole chain.
fn syscalls() {
    if Command::new("strace").arg("-V").stdout(Stdio::null()).status().is_err() {
        println!(
            "
system calls: strace is not installed, skipped"
        );
        return;
    }
    let t = Tree::new();
    let svc = t.service("svc", sleeper_template);
    let out = t.path().join("strace.out");
    let count = |c: Command| -> u64 {
        let mut s = Command::new("strace");
        s.args(["-f", "-c", "-o"])
            .arg(&out)
            .arg(c.get_program())
            .args(c.get_args());
        s.env_clear().env("PATH", "/usr/bin:/bin");
        let st = s.stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
        assert!(st.success(), "{:?}", c.get_program());
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        text.lines()
            .find(|l| l.trim_end().ends_with("total"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let median = |f: &dyn Fn(usize) -> u64| {
        let mut v: Vec<u64> = (0..3).map(f).collect();
        v.sort_unstable();
        v[1]
    };
    let s = svc.to_str().unwrap();
    println!("\nsystem calls of one command on an idle service (strace -f -c, median of 3)");
    println!("{:<9} {:>6} {:>6}", "command", "ours", "C");
    // The same instance names for both commands: each delete takes away
    // what the create of its round made.
    for op in ["create", "delete"] {
        let run = |c_side: bool, i: usize| {
            let prog = format!("s6-instance-{op}");
            let mut c = if c_side { reference(&prog) } else { ours(&prog) };
            c.args([s, &format!("{}{i}", if c_side { "c" } else { "o" })]);
            count(c)
        };
        let (o, c) = (median(&|i| run(false, i)), median(&|i| run(true, i)));
        println!("{op:<9} {o:>6} {c:>6}");
    }
}

fn per_operation(n: usize) {
    let t = Tree::new();
    // Room for N instances and the bulk runs: s6's default is 500.
    let max = (2 * n + 10).to_string();
    let start = |name: &str| {
        let svc = t.offline_service_with(name, sleeper_template, &["-c", &max]);
        t.start(name, &svc);
        svc
    };
    let (a, b) = (
        Side {
            svc: start("ours"),
            ours: true,
        },
        Side {
            svc: start("c"),
            ours: false,
        },
    );
    println!("\nN = {n}, tree in {}", t.path().display());
    println!(
        "{:<12} {:>9} {:>9} {:>9} {:>9} {:>6} {:>9} {:>9} {:>6} {:>6}",
        "operation", "ours p50", "C p50", "ours p95", "C p95", "ratio", "CPU ours", "CPU C", "ratio", "last10"
    );
    let ops: [(&str, &str, &[&str]); 6] = [
        ("create", "s6-instance-create", &[]),
        ("list", "s6-instance-list", &[]),
        ("status", "s6-instance-status", &[]),
        ("ctl -d -wd", "s6-instance-control", &["-d", "-wd"]),
        ("ctl -u -wu", "s6-instance-control", &["-u", "-wu"]),
        ("delete", "s6-instance-delete", &[]),
    ];
    let mut list_p50 = 0.0;
    for (op, prog, opts) in ops {
        let (mut ours_t, mut c_t) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n {
            let name = format!("i{i}");
            let name = (prog != "s6-instance-list").then_some(name.as_str());
            let timed = |side: &Side| side.time(prog, opts, name);
            // A B, then B A: neither always goes first.
            if i % 2 == 0 {
                ours_t.push(timed(&a));
                c_t.push(timed(&b));
            } else {
                c_t.push(timed(&b));
                ours_t.push(timed(&a));
            }
        }
        let row = row(op, &ours_t, &c_t);
        if op == "list" {
            list_p50 = row;
        }
    }
    let floor = script_floor();
    println!(
        "floor: execlineb and one exec of a step {:.2} ms; list is {:+.2} ms above it",
        floor,
        list_p50 - floor
    );
    let maker_p50 = makers(t.path(), 100.min(n));
    println!("maker is {:+.2} ms above the floor", maker_p50 - floor);
    let many = bulk(&a.svc, &b.svc, n);
    sets(&a.svc, &b.svc, n, many);
}

/// Print one row of the per-operation table from (wall, CPU) pairs:
/// p50 and p95 of the wall time, the p50 of the CPU time, the ratios
/// ours/C, and the wall-time ratio over the last tenth of the run (where
/// the instances have piled up). Returns our p50.
fn row(op: &str, ours_t: &[(Duration, Duration)], c_t: &[(Duration, Duration)]) -> f64 {
    let wall = |v: &[(Duration, Duration)]| v.iter().map(|t| t.0).collect::<Vec<_>>();
    let cpu = |v: &[(Duration, Duration)]| v.iter().map(|t| t.1).collect::<Vec<_>>();
    let (ow, cw) = (wall(ours_t), wall(c_t));
    let (o50, c50) = (pct(&ow, 0.5), pct(&cw, 0.5));
    let (oc, cc) = (pct(&cpu(ours_t), 0.5), pct(&cpu(c_t), 0.5));
    let tenth = (ow.len() / 10).max(1);
    let last = pct(&ow[ow.len() - tenth..], 0.5) / pct(&cw[cw.len() - tenth..], 0.5);
    println!(
        "{op:<12} {o50:>7.2}ms {c50:>7.2}ms {:>7.2}ms {:>7.2}ms {:>6.2} {oc:>7.2}ms {cc:>7.2}ms {:>6.2} {last:>6.2}",
        pct(&ow, 0.95),
        pct(&cw, 0.95),
        o50 / c50,
        oc / cc
    );
    o50
}

/// What list and the maker cannot go below: an execline script started
/// (execlineb reads and parses it) that executes one of our steps, which
/// parses its arguments and has nothing more to run. The p50 of 200 runs,
/// in ms.
fn script_floor() -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("floor");
    std::fs::write(
        &script,
        format!(
            "#!{EL}/execlineb\n{} -u \"floor service\" -n service\n",
            bindir().join("s6i-args").display()
        ),
    )
    .unwrap();
    let mut perm = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&script, perm).unwrap();
    let runs: Vec<Duration> = (0..200).map(|_| time(Command::new(&script).arg("svc"))).collect();
    pct(&runs, 0.5)
}

/// s6-instance-maker, ours and s6's, `k` times each (interleaved), each
/// making a new instanced service in `dir`; prints the row, returns our
/// p50.
fn makers(dir: &Path, k: usize) -> f64 {
    let template = dir.join("maker.template");
    sleeper_template(&template);
    let (mut ours_t, mut c_t) = (Vec::with_capacity(k), Vec::with_capacity(k));
    for i in 0..k {
        let make = |ours_side: bool| {
            let out = dir.join(format!("made-{}-{i}", if ours_side { "ours" } else { "c" }));
            let mut c = if ours_side {
                ours("s6-instance-maker")
            } else {
                reference("s6-instance-maker")
            };
            let t = timed(c.arg("-c").arg("10").arg(&template).arg(&out));
            std::fs::remove_dir_all(&out).unwrap();
            t
        };
        if i % 2 == 0 {
            ours_t.push(make(true));
            c_t.push(make(false));
        } else {
            c_t.push(make(false));
            ours_t.push(make(true));
        }
    }
    row("maker", &ours_t, &c_t)
}

/// What bulk create cannot go below: the scanner's own time to start a
/// supervisor on each of `names`, from the one poke until every
/// supervisor has said it runs. The copies are made beforehand
/// (s6i-clone); on the clock, s6i-link links them all and pokes the
/// scanner, and s6i-wait-supervise waits on their event FIFOs, taking
/// no CPU from the scanner (a loop looking for the supervisors' status
/// files slows it down measurably). Bulk create is this plus the copies.
/// The instances are deleted after.
fn scanner_floor(svc: &Path, names: &[String]) -> Duration {
    let step = |name: &str| {
        let mut c = Command::new(bindir().join(name));
        // A block, as execlineb hands it over: each word quoted with a
        // space, then an empty word.
        c.arg("--").arg(svc).args(names.iter().map(|n| format!(" {n}"))).arg("");
        c
    };
    time(&mut step("s6i-clone"));
    let start = Instant::now();
    time(&mut step("s6i-link"));
    time(&mut step("s6i-wait-supervise"));
    let took = start.elapsed();
    time(example("delete-many").arg(svc).args(names));
    took
}

/// One create-many (and delete-many) call for all n names, beside n calls
/// of s6's C programs. Returns our two times, create then delete.
fn bulk(svc_ours: &Path, svc_c: &Path, n: usize) -> (Duration, Duration) {
    let names: Vec<String> = (0..n).map(|i| format!("b{i}")).collect();
    let floor_names: Vec<String> = (0..n).map(|i| format!("f{i}")).collect();
    // The better of two runs: the floor is what the machine can do.
    let floor = scanner_floor(svc_ours, &floor_names).min(scanner_floor(svc_ours, &floor_names));
    println!(
        "floor: the scanner starts {n} supervisors in {:.1} ms (copies made beforehand)",
        ms(floor)
    );
    let mut ours_many = Vec::new();
    for (label, script, prog) in [
        ("bulk create", "create-many", "s6-instance-create"),
        ("bulk delete", "delete-many", "s6-instance-delete"),
    ] {
        let ours_t = time(example(script).arg(svc_ours).args(&names));
        let start = Instant::now();
        for name in &names {
            time(reference(prog).arg(svc_c).arg(name));
        }
        let c_t = start.elapsed();
        println!(
            "{label:<12} ours {:>8.1} ms (one call)   C {:>8.1} ms ({n} calls)   C/ours {:>5.1}x",
            ms(ours_t),
            ms(c_t),
            c_t.as_secs_f64() / ours_t.as_secs_f64()
        );
        if label == "bulk create" {
            println!(
                "bulk create is {:.2}x the scanner's floor",
                ours_t.as_secs_f64() / floor.as_secs_f64()
            );
        }
        ours_many.push(ours_t);
    }
    (ours_many[0], ours_many[1])
}

/// The CPU time, user and system, of every child reaped so far, with
/// the children they reaped in turn (s6-svscan's supervisors are not
/// ours: their work is in neither side's figure).
fn children_cpu() -> Duration {
    // SAFETY: an all-zero rusage is valid; getrusage fills it in.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_CHILDREN of this process, into a valid rusage.
    let r = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    assert_eq!(r, 0, "getrusage");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Wall and CPU time of f; the CPU is that of the processes reaped
/// meanwhile.
fn measure(f: impl FnOnce()) -> (Duration, Duration) {
    let cpu = children_cpu();
    let start = Instant::now();
    f();
    (start.elapsed(), children_cpu() - cpu)
}

/// The lines a command prints (it must succeed).
fn lines(cmd: &mut Command) -> usize {
    let out = run(cmd);
    assert_eq!(code(&out), 0, "{cmd:?}: {}", stderr(&out));
    out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count()
}

/// Whole sets of instances: s6-instance-sync from none to N and back to
/// none, one call each, beside N calls of s6's C create and delete; in
/// between, with N instances up on each side, one s6-instance-summary
/// call beside N calls of the C s6-instance-status. `many` is our
/// create-many and delete-many time, for reference.
fn sets(svc_ours: &Path, svc_c: &Path, n: usize, many: (Duration, Duration)) {
    let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    let count = |svc: &Path| lines(ours("s6-instance-list").arg(svc));
    let row = |label: &str, (ot, oc): (Duration, Duration), (ct, cc): (Duration, Duration)| {
        println!(
            "{label:<12} ours {:>8.1} ms (one call)   C {:>8.1} ms ({n} calls)   C/ours {:>5.1}x   CPU ours {:.1} ms, C {:.1} ms",
            ms(ot),
            ms(ct),
            ct.as_secs_f64() / ot.as_secs_f64(),
            ms(oc),
            ms(cc)
        );
    };
    let c_calls = |prog: &str| {
        measure(|| {
            for name in &names {
                time(reference(prog).arg(svc_c).arg(name));
            }
        })
    };

    // None to N: every name is missing.
    assert_eq!((count(svc_ours), count(svc_c)), (0, 0), "instances left before sync");
    let up = measure(|| {
        time(ours("s6-instance-sync").arg("--").arg(svc_ours).args(&names));
    });
    let c_up = c_calls("s6-instance-create");
    assert_eq!((count(svc_ours), count(svc_c)), (n, n), "sync 0->N");
    row("sync 0->N", up, c_up);

    // The status of all N: the median of a few summary calls, each of
    // which must print a line per instance.
    let summary = || {
        let mut c = ours("s6-instance-summary");
        c.arg("--").arg(svc_ours);
        c
    };
    assert_eq!(lines(&mut summary()), n, "s6-instance-summary");
    let mut runs: Vec<(Duration, Duration)> = (0..5)
        .map(|_| {
            measure(|| {
                time(&mut summary());
            })
        })
        .collect();
    runs.sort();
    let c_status = c_calls("s6-instance-status");
    row("summary", runs[runs.len() / 2], c_status);

    // N to none: `-` with an empty standard input is the empty set.
    let down = measure(|| {
        time(ours("s6-instance-sync").arg("--").arg(svc_ours).arg("-"));
    });
    let c_down = c_calls("s6-instance-delete");
    assert_eq!((count(svc_ours), count(svc_c)), (0, 0), "sync N->0");
    row("sync N->0", down, c_down);

    let vs = |label: &str, sync: Duration, bulk: Duration, example: &str| {
        println!(
            "{label:<12} sync {:>8.1} ms   {example} {:>8.1} ms   sync/{example} {:.2}",
            ms(sync),
            ms(bulk),
            sync.as_secs_f64() / bulk.as_secs_f64()
        );
    };
    vs("sync 0->N", up.0, many.0, "create-many");
    vs("sync N->0", down.0, many.1, "delete-many");
}

/// The instances of the per-instance configuration bench, and how many
/// of their lines change.
const ENV_N: usize = 1000;
const ENV_CHANGED: usize = 10;

fn env_sets() {
    let t = Tree::new();
    let svc = t.offline_service_with("env", sleeper_template, &["-c", "2500"]);
    t.start("env", &svc);
    let set = t.path().join("env.set");
    // Line i: its port, and a generation that the first `changed` lines
    // have moved on.
    let write = |path: &Path, n: usize, changed: usize| {
        let mut text = String::from("# name PORT GEN\n");
        for i in 0..n {
            let gen = usize::from(i < changed);
            text.push_str(&format!("w{i} PORT={} GEN={gen}\n", 8000 + i));
        }
        std::fs::write(path, text).unwrap();
    };
    let sync = |extra: &[&str], set: &Path| {
        let mut c = ours("s6-instance-sync");
        c.args(["-t", "120000"])
            .args(extra)
            .arg("-f")
            .arg(set)
            .arg("--")
            .arg(&svc);
        c
    };
    let pids = || -> Vec<u64> {
        (0..ENV_N)
            .map(|i| status(&svc.join("instances").join(format!("w{i}"))).0)
            .collect()
    };
    write(&set, ENV_N, 0);
    let made = measure(|| assert_eq!(lines(&mut sync(&[], &set)), ENV_N, "sync of {ENV_N} lines"));
    let dirs: Vec<PathBuf> = (0..ENV_N)
        .map(|i| svc.join("instances").join(format!("w{i}")))
        .collect();
    assert!(
        wait_until(Duration::from_secs(60), || dirs.iter().all(|d| status(d).0 != 0)),
        "{ENV_N} instances never all up"
    );
    let before = pids();
    write(&set, ENV_N, ENV_CHANGED);
    let changed = measure(|| assert_eq!(lines(&mut sync(&[], &set)), ENV_CHANGED, "changed lines"));
    let after = pids();
    let restarted = before.iter().zip(&after).filter(|(a, b)| a != b).count();
    assert_eq!(restarted, ENV_CHANGED, "only the changed instances restart");
    println!(
        "\nPer-instance configuration, {ENV_N} instances, tree in {}",
        t.path().display()
    );
    println!(
        "sync -f, {ENV_N} new lines     {:>8.1} ms (CPU {:.1} ms)",
        ms(made.0),
        ms(made.1)
    );
    println!(
        "sync -f, {ENV_CHANGED} lines changed   {:>8.1} ms (CPU {:.1} ms)   {:.1}% of the first   {restarted} restarted",
        ms(changed.0),
        ms(changed.1),
        100.0 * changed.0.as_secs_f64() / made.0.as_secs_f64()
    );
    // The plan of ten times as many lines: the best of three.
    let big = t.path().join("big.set");
    write(&big, 10 * ENV_N, 0);
    let plan = (0..3)
        .map(|_| {
            // The 9 N new ones, and the changed ones changed back.
            measure(|| assert_eq!(lines(&mut sync(&["-n"], &big)), 9 * ENV_N + ENV_CHANGED, "the plan"))
        })
        .min()
        .unwrap();
    println!(
        "sync -n, {} lines          {:>8.1} ms (CPU {:.1} ms)",
        10 * ENV_N,
        ms(plan.0),
        ms(plan.1)
    );
}

/// The instances of the watch bench, and the latency samples taken.
const WATCH_N: usize = 1000;
const WATCH_SAMPLES: usize = 30;

/// A field of /proc/PID/status, in kB.
fn proc_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user and system) of a running process.
fn proc_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest.split_whitespace().map(|w| w.parse().unwrap_or(0)).collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis((f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)) * 1000 / hz)
}

fn watch() {
    use std::io::BufRead;
    let t = Tree::new();
    let svc = t.offline_service_with("watched", sleeper_template, &["-c", "1200"]);
    t.start("watched", &svc);
    let names: Vec<String> = (0..WATCH_N).map(|i| format!("w{i}")).collect();
    time(
        ours("s6-instance-sync")
            .args(["-t", "60000", "--"])
            .arg(&svc)
            .args(&names),
    );
    let dirs: Vec<PathBuf> = names.iter().map(|n| svc.join("instances").join(n)).collect();
    assert!(
        wait_until(Duration::from_secs(60), || dirs.iter().all(|d| status(d).0 != 0)),
        "{WATCH_N} instances never all up"
    );
    let started = Instant::now();
    let mut child = ours("s6-instance-watch")
        .arg("--")
        .arg(&svc)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("s6-instance-watch");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, String)>();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    let next = |limit: Duration| rx.recv_timeout(limit).expect("no line from s6-instance-watch");
    let mut snapshot = 0;
    let mut done = started;
    while snapshot < WATCH_N {
        let (at, line) = next(Duration::from_secs(30));
        if line.split(' ').nth(1) == Some("up") {
            snapshot += 1;
            done = at;
        }
    }
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    println!(
        "\ns6-instance-watch, {WATCH_N} instances, tree in {}",
        t.path().display()
    );
    println!(
        "snapshot done     {:>8.1} ms   RSS {} kB   descriptors {fds}",
        ms(done - started),
        proc_kb(pid, "VmRSS:")
    );
    // All restart at once: one bulk s6i-signal; every instance's new up
    // line read.
    let cpu0 = proc_cpu(pid);
    let mut restart = program(bindir().join("s6i-signal"));
    restart.args(["-r", "--"]).arg(&svc);
    for n in &names {
        restart.arg(format!(" {n}"));
    }
    restart.arg("");
    let t0 = Instant::now();
    time(&mut restart);
    let mut ups = 0;
    while ups < WATCH_N {
        let (_, line) = next(Duration::from_secs(60));
        ups += usize::from(line.split(' ').nth(1) == Some("up"));
    }
    println!(
        "{WATCH_N} restarted   every new up line in {:>8.1} ms   watch CPU {:.1} ms",
        ms(t0.elapsed()),
        ms(proc_cpu(pid) - cpu0)
    );
    // Latency: s6-svc -d (or -u) on one instance, to its line; a second
    // apart, the least s6-supervise leaves between two starts.
    let mut lat = Vec::new();
    let dir = &dirs[0];
    for i in 0..WATCH_SAMPLES {
        std::thread::sleep(Duration::from_millis(1050));
        let (flag, want) = if i % 2 == 0 { ("-d", "down") } else { ("-u", "up") };
        let t0 = Instant::now();
        time(reference("s6-svc").arg(flag).arg(dir));
        loop {
            let (at, line) = next(Duration::from_secs(10));
            let mut w = line.split(' ');
            if w.next() == Some(names[0].as_str()) && w.next() == Some(want) {
                lat.push(at - t0);
                break;
            }
        }
    }
    lat.sort();
    println!(
        "latency s6-svc to line   p50 {:.1} ms   p99 {:.1} ms   ({WATCH_SAMPLES} samples)",
        pct(&lat, 0.50),
        pct(&lat, 0.99)
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = child.wait();
    let _ = reader.join();
}

const EL: &str = "/usr/lib/execline/bin";

/// The instances of the upgrade bench.
const UPGRADE_N: usize = 100;

/// A template that notifies readiness on fd 3, as tests/upgrade.rs has
/// it; version k has k more files than version 0 (`extra-1`..`extra-k`).
fn notifying_template(dir: &Path, k: usize) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("notification-fd"), "3\n").unwrap();
    for i in 1..=k {
        std::fs::write(dir.join(format!("extra-{i}")), format!("{i}\n")).unwrap();
    }
    write_script(
        &dir.join("run"),
        &format!("{EL}/if {{ {EL}/fdmove 1 3 /usr/bin/echo }} {EL}/fdclose 3 /usr/bin/sleep 3600"),
    );
}

/// The longest stretch a condition held, seen by sampling.
#[derive(Clone, Copy, Default)]
struct Stretch {
    since: Option<Instant>,
    longest: Duration,
    times: usize,
    /// When the last stretch ended.
    ended: Option<Instant>,
}

impl Stretch {
    fn see(&mut self, out: bool, now: Instant) {
        match (out, self.since) {
            (true, None) => {
                self.since = Some(now);
                self.times += 1;
            }
            (false, Some(s)) => {
                self.longest = self.longest.max(now - s);
                self.since = None;
                self.ended = Some(now);
            }
            _ => {}
        }
    }
}

/// What the sampler saw of each instance during one run.
struct Outages {
    /// Not up by the record at instances/NAME, or no record there (an
    /// upgrade swaps a new copy in before the old service stops, so
    /// this counts a moment when the old one still runs).
    down: Vec<Stretch>,
    /// No process of the instance running: not up by its record, and the
    /// last pid seen up (in the old copy, wherever it was moved) gone.
    gone: Vec<Stretch>,
    /// Not up and ready by its record.
    unready: Vec<Stretch>,
    /// From the start until the last instance was seen up and ready
    /// again; None if some never was.
    settled: Option<Duration>,
    /// The mean time between two samples of one instance.
    period: Duration,
    /// The longest time between two samples.
    worst_gap: Duration,
    /// Outages that fell between two samples (a new pid seen up), each
    /// counted as the whole time between them.
    missed: usize,
}

/// Every instance up and ready by its record.
fn all_ready(dirs: &[PathBuf]) -> bool {
    dirs.iter()
        .all(|d| s6i::svstatus::Status::read(&s6i::door::Loc::at(d)).is_ok_and(|st| st.is_up() && st.ready))
}

/// Run `f` while a thread samples the status record of every instance in
/// `dirs` every millisecond, from just before `f` starts until `f` is
/// done and every instance is up and ready again (or 20 s after).
fn sampled<T>(dirs: &[PathBuf], f: impl FnOnce() -> T) -> (T, Outages) {
    let stop = AtomicBool::new(false);
    let started = Barrier::new(2);
    // Set on the way out, a panic in f included, so that the sampler ends.
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    std::thread::scope(|s| {
        let sampler = s.spawn(|| sample(dirs, &stop, &started));
        let out = {
            let _stop = StopOnDrop(&stop);
            started.wait();
            f()
        };
        (out, sampler.join().expect("sampler"))
    })
}

fn sample(dirs: &[PathBuf], stop: &AtomicBool, started: &Barrier) -> Outages {
    let n = dirs.len();
    let (mut down, mut gone, mut unready) = (
        vec![Stretch::default(); n],
        vec![Stretch::default(); n],
        vec![Stretch::default(); n],
    );
    let mut last_pid: Vec<Option<i32>> = vec![None; n];
    // The pid each instance was up with at the previous pass, if it was.
    let mut up_pid: Vec<Option<i32>> = vec![None; n];
    let (mut prev, mut worst_gap, mut missed) = (None::<Instant>, Duration::ZERO, 0);
    let tick = Duration::from_millis(1);
    let mut pass = |now: Instant| -> bool {
        let mut settled = true;
        for (i, dir) in dirs.iter().enumerate() {
            let st = s6i::svstatus::Status::read(&s6i::door::Loc::at(dir)).ok();
            let up = st.is_some_and(|st| st.is_up());
            let ready = up && st.is_some_and(|st| st.ready);
            let pid = st.filter(|_| up).map(|st| st.pid);
            // Up with a new pid since the previous pass, never seen down
            // (the sampler was not running): down the whole gap, at worst.
            if let (Some(was), Some(is), Some(t)) = (up_pid[i], pid, prev) {
                if was != is {
                    missed += 1;
                    for s in [&mut down[i], &mut gone[i], &mut unready[i]] {
                        s.see(true, t);
                    }
                }
            }
            up_pid[i] = pid;
            // The same pid across the run's execs (execlineb, if, fdclose,
            // sleep); a zombie not yet reaped counts as gone.
            let running = if up {
                last_pid[i] = st.map(|st| st.pid);
                true
            } else {
                let alive = last_pid[i].is_some_and(alive);
                if !alive {
                    last_pid[i] = None;
                }
                alive
            };
            down[i].see(!up, now);
            gone[i].see(!running, now);
            unready[i].see(!ready, now);
            settled &= ready;
        }
        if let Some(t) = prev {
            worst_gap = worst_gap.max(now - t);
        }
        prev = Some(now);
        settled
    };
    // A first pass before the run starts: every instance up and ready.
    assert!(pass(Instant::now()), "not every instance up and ready before the run");
    started.wait();
    let t0 = Instant::now();
    let (mut passes, mut next, mut deadline) = (0u32, t0, None);
    let settled = loop {
        let now = Instant::now();
        let all = pass(now);
        passes += 1;
        if stop.load(Ordering::SeqCst) {
            if all {
                let last = unready.iter().filter_map(|s| s.ended).max().unwrap_or(t0);
                break Some(last.saturating_duration_since(t0));
            }
            let d = *deadline.get_or_insert(now + Duration::from_secs(20));
            if now > d {
                break None;
            }
        }
        next += tick;
        match next.checked_duration_since(Instant::now()) {
            Some(wait) => std::thread::sleep(wait),
            None => next = Instant::now(),
        }
    };
    // Close what is still open (only when never settled).
    let end = Instant::now();
    for s in down.iter_mut().chain(&mut gone).chain(&mut unready) {
        s.see(false, end);
    }
    Outages {
        down,
        gone,
        unready,
        settled,
        period: (end - t0) / passes.max(1),
        worst_gap,
        missed,
    }
}

/// The upgrade of 100 instances that notify readiness, ours at -p 1 and
/// -p 10, each after a template change; then, for reference, s6's C
/// delete and create of each instance in turn, as an operator would
/// move them onto a new template with s6 alone.
fn upgrade() {
    let t = Tree::new();
    let svc = t.service("upg", |tpl| notifying_template(tpl, 0));
    let names: Vec<String> = (0..UPGRADE_N).map(|i| format!("n{i}")).collect();
    let dirs: Vec<PathBuf> = names.iter().map(|n| svc.join("instances").join(n)).collect();
    time(ours("s6-instance-sync").arg("--").arg(&svc).args(&names));
    assert!(
        wait_until(Duration::from_secs(30), || all_ready(&dirs)),
        "{UPGRADE_N} instances never all up and ready"
    );
    let mut version = 0;
    let mut new_template = || {
        version += 1;
        let dir = t.path().join(format!("upg.v{version}"));
        notifying_template(&dir, version);
        time(ours("s6-instance-template").arg(&svc).arg(&dir));
        version
    };
    // Every instance on template version k, up and ready.
    let on = |k: usize| {
        for d in &dirs {
            assert!(
                d.join(format!("extra-{k}")).is_file(),
                "{d:?} not on template version {k}"
            );
        }
        assert!(all_ready(&dirs), "not every instance up and ready after the run");
    };

    println!(
        "\nupgrade of {UPGRADE_N} instances that notify readiness (-t 20000, waiting for up and ready), tree in {}",
        t.path().display()
    );
    println!(
        "{:<22} {:>10} {:>10} {:>9} {:>9} {:>9} {:>10} {:>5}  vs s6",
        "run", "total", "all ready", "down max", "down p50", "gone max", "unrdy max", "seen"
    );
    let row = |label: &str, total: Duration, o: &Outages, vs: &str| {
        let longest = |v: &[Stretch]| v.iter().map(|s| s.longest).collect::<Vec<_>>();
        let (down, gone, unready) = (longest(&o.down), longest(&o.gone), longest(&o.unready));
        let seen = o.down.iter().filter(|s| s.times > 0).count();
        let settled = o.settled.expect("instances not all up and ready again within 20 s");
        println!(
            "{label:<22} {:>7.1} ms {:>7.1} ms {:>6.1} ms {:>6.1} ms {:>6.1} ms {:>7.1} ms {seen:>5}  {vs}",
            ms(total),
            ms(settled),
            pct(&down, 1.0),
            pct(&down, 0.5),
            pct(&gone, 1.0),
            pct(&unready, 1.0),
        );
        (o.period, o.worst_gap, o.missed)
    };
    let mut sampling = Vec::new();
    for parallel in ["1", "10"] {
        let k = new_template();
        let (took, o) = sampled(&dirs, || {
            time(
                ours("s6-instance-upgrade")
                    .args(["-p", parallel, "-t", "20000"])
                    .arg(&svc),
            )
        });
        on(k);
        sampling.push(row(
            &format!("ours upgrade -p {parallel}"),
            took,
            &o,
            "no s6 equivalent",
        ));
    }
    let k = new_template();
    let (took, o) = sampled(&dirs, || {
        let start = Instant::now();
        for name in &names {
            time(reference("s6-instance-delete").arg(&svc).arg(name));
            time(reference("s6-instance-create").arg(&svc).arg(name));
        }
        start.elapsed()
    });
    assert!(
        wait_until(Duration::from_secs(30), || all_ready(&dirs)),
        "instances not all up and ready after C delete+create"
    );
    on(k);
    sampling.push(row("C delete+create each", took, &o, "reference: naive, by hand"));
    let period = sampling.iter().map(|s| s.0).max().unwrap_or_default();
    let worst_gap = sampling.iter().map(|s| s.1).max().unwrap_or_default();
    let missed: usize = sampling.iter().map(|s| s.2).sum();
    println!("down: not up by the record at instances/NAME (or no record there), longest and median of the");
    println!("  instances' longest; gone: no process of it running (the old one, moved aside, still counts);");
    println!(
        "  unrdy: not up and ready; seen: instances seen down. Each instance sampled every {:.2} ms on",
        ms(period)
    );
    println!(
        "  average, {:.1} ms apart at worst; {missed} outages fell between two samples (a new pid, up), each counted as the whole gap",
        ms(worst_gap)
    );
}

/// The peak resident set of a command, in KiB: what wait4 reports for
/// it, which on Linux covers every program its pid executed in turn (the
/// whole chain of a script) and the children it waited for.
// Reaped by wait4, which clippy does not know of.
#[allow(clippy::zombie_processes)]
fn max_rss(cmd: &mut Command) -> i64 {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: child.id() is our child's pid, reaped here and nowhere else.
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(r, child.id() as i32, "wait4");
    assert_eq!(status, 0, "{cmd:?} failed");
    usage.ru_maxrss
}

fn peak_rss() {
    let t = Tree::new();
    let svc = t.service("svc", sleeper_template);
    let s = svc.to_str().unwrap();
    let rss = |c: &mut Command| max_rss(c);
    let steps = |list: &[(&str, &[&str])]| -> (i64, String) {
        list.iter()
            .map(|(step, args)| (rss(Command::new(bindir().join(step)).args(*args)), step.to_string()))
            .max()
            .unwrap()
    };
    println!(
        "\npeak RSS in KiB: our script's whole chain (execlineb included), our largest step run alone, s6's C program"
    );
    println!(
        "{:<9} {:>6} {:>6} {:<20} {:>6}",
        "command", "chain", "step", "(which)", "C"
    );
    let row = |op: &str, chain: i64, (step, which): (i64, String), c: i64| {
        println!("{op:<9} {chain:>6} {step:>6} {which:<20} {c:>6}");
    };
    row(
        "create",
        rss(ours("s6-instance-create").args([s, "a"])),
        steps(&[
            ("s6i-ensure", &["-c", "--", s]),
            ("s6i-clone", &["--", s, "x"]),
            ("s6i-link", &["--", s, "x"]),
            ("s6i-wait-supervise", &["--", s, "x"]),
        ]),
        rss(reference("s6-instance-create").args([s, "c"])),
    );
    row(
        "list",
        rss(ours("s6-instance-list").arg(s)),
        steps(&[("s6i-list", &["--", s])]),
        rss(reference("s6-instance-list").arg(s)),
    );
    row(
        "status",
        rss(ours("s6-instance-status").args([s, "a"])),
        steps(&[("s6i-status", &["--", s, "a"])]),
        rss(reference("s6-instance-status").args([s, "a"])),
    );
    row(
        "control",
        rss(ours("s6-instance-control").args(["-r", "-wr", s, "a"])),
        steps(&[("s6i-signal", &["-r", "-wr", "--", s, "a"])]),
        rss(reference("s6-instance-control").args(["-r", "-wr", s, "a"])),
    );
    row(
        "delete",
        rss(ours("s6-instance-delete").args([s, "a"])),
        steps(&[
            ("s6i-ensure", &["--", s]),
            ("s6i-unlink", &["--", s, "x"]),
            ("s6i-remove", &["--", s, "x"]),
        ]),
        rss(reference("s6-instance-delete").args([s, "c"])),
    );
}
