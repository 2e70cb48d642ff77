//! Side-by-side timings: our s6-instance-* scripts and s6's C programs,
//! run interleaved on the same private s6 tree (on tmpfs when TMPDIR
//! points there, as `make bench` does). Prints p50 and p95 per operation
//! and the ratio ours/C. Run with `make bench` (N=200 by default;
//! `S6I_BENCH_N` changes it).

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn time(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    let out = run(cmd);
    let took = start.elapsed();
    assert_eq!(code(&out), 0, "{cmd:?}: {}", stderr(&out));
    took
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

fn main() {
    let n: usize = std::env::var("S6I_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let t = Tree::new();
    let svc_ours = t.service("ours", sleeper_template);
    let svc_c = t.service("c", sleeper_template);
    println!("s6-instance-* ours vs s6 C, N = {n}, tree in {}", t.path().display());
    println!(
        "{:<10} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "op", "ours p50", "C p50", "ours p95", "C p95", "ratio"
    );
    let ops: [(&str, &str, &[&str]); 6] = [
        ("create", "s6-instance-create", &[]),
        ("list", "s6-instance-list", &[]),
        ("status", "s6-instance-status", &[]),
        ("ctl -d -wd", "s6-instance-control", &["-d", "-wd"]),
        ("ctl -u -wu", "s6-instance-control", &["-u", "-wu"]),
        ("delete", "s6-instance-delete", &[]),
    ];
    for (op, prog, opts) in ops {
        let (mut ours_t, mut c_t) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n {
            let name = format!("i{i}");
            let mut a = ours(prog);
            let mut b = reference(prog);
            a.args(opts).arg(&svc_ours);
            b.args(opts).arg(&svc_c);
            if prog != "s6-instance-list" {
                a.arg(&name);
                b.arg(&name);
            }
            // A B, then B A: neither always goes first.
            if i % 2 == 0 {
                ours_t.push(time(&mut a));
                c_t.push(time(&mut b));
            } else {
                c_t.push(time(&mut b));
                ours_t.push(time(&mut a));
            }
        }
        let (o50, c50) = (pct(&mut ours_t, 0.5), pct(&mut c_t, 0.5));
        let (o95, c95) = (pct(&mut ours_t, 0.95), pct(&mut c_t, 0.95));
        println!(
            "{op:<10} {o50:>7.2}ms {c50:>7.2}ms {o95:>7.2}ms {c95:>7.2}ms {:>7.2}",
            o50 / c50
        );
    }

    bulk(&svc_ours, &svc_c, n);
}

/// One create-many (and delete-many) call for all n names, beside n calls
/// of s6's C programs.
fn bulk(svc_ours: &std::path::Path, svc_c: &std::path::Path, n: usize) {
    let names: Vec<String> = (0..n).map(|i| format!("b{i}")).collect();
    let examples = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let path = format!("{}:/usr/bin:/bin", bindir().display());
    for (label, example, prog) in [
        ("bulk create", "create-many", "s6-instance-create"),
        ("bulk delete", "delete-many", "s6-instance-delete"),
    ] {
        let mut many = Command::new(examples.join(example));
        many.env_clear().env("PATH", &path).arg(svc_ours).args(&names);
        let ours_t = time(&mut many);
        let start = Instant::now();
        for name in &names {
            time(reference(prog).arg(svc_c).arg(name));
        }
        let c_t = start.elapsed();
        println!(
            "{label:<12} ours {:>8.1}ms (one call)   C {:>8.1}ms ({n} calls)   C/ours {:>5.1}x",
            ours_t.as_secs_f64() * 1000.0,
            c_t.as_secs_f64() * 1000.0,
            c_t.as_secs_f64() / ours_t.as_secs_f64()
        );
    }
}
