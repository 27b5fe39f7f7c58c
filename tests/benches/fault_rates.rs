//! First-apply success under a busy cluster's faults, as a user meets it: the fault suite's 30
//! guests (18 linked clones, 12 containers over three nodes) applied once per seed, for 10 seeds
//! (FAULT_SEEDS, default 1..=10), at the 5% mix and at twice it (10% HTTP 500), beside a
//! fault-free run. Prints, per rate:
//! - the first-apply success rate, and runs where PVE's guests differ from the state;
//! - the extra wall time over the fault-free run (median over the successful runs);
//! - the injected faults by type, and the requests sent beyond the fault-free run's.
//!
//! Prints figures; asserts nothing about them. Build first: `cargo build --release --bins`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pve_home_tests::{Terraform, client, emulator, fault_mix, guest_vmids, mixed_fleet, provider_block, request_log, state_vmids};

struct Run {
    ok: bool,
    /// The first error's summary and detail, for a run that failed.
    error: Option<String>,
    consistent: bool,
    wall: Duration,
    requests: usize,
    faults: BTreeMap<&'static str, usize>,
}

fn run(rt: &tokio::runtime::Runtime, scale: f64, seed: u64) -> Run {
    let log = tempfile::NamedTempFile::new().unwrap();
    let path = log.path().to_path_buf();
    let emu = rt.block_on(emulator(|c| {
        fault_mix(c, scale, seed);
        c.task_ms = 100;
        c.request_log = Some(path.clone());
    }));
    let tf = Terraform::new(&format!("{}{}", provider_block(&emu), mixed_fleet(18, 12)));
    tf.init();
    let started = Instant::now();
    let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    let wall = started.elapsed();
    let requests = request_log(&path);
    let mut faults: BTreeMap<&'static str, usize> = BTreeMap::new();
    for r in &requests {
        let kind = match r["status"].as_u64() {
            Some(0) => "connection reset",
            Some(500) if r["method"] != "GET" => "HTTP 500 on a write",
            Some(500) => "HTTP 500 on a read",
            Some(596) => "HTTP 596",
            _ => continue,
        };
        *faults.entry(kind).or_default() += 1;
    }
    let failed_tasks = emu.emulator.tasks().iter().filter(|t| t.exitstatus.as_deref().is_some_and(|e| e.contains("got timeout"))).count();
    faults.insert("task lock timeout", failed_tasks);
    let consistent = rt.block_on(guest_vmids(&client(&emu))) == state_vmids(&tf);
    let error = (out.code != 0).then(|| {
        let all = out.all();
        let start = all.find("Error: ").unwrap_or(0);
        all[start..].lines().filter(|l| !l.trim().is_empty()).take(6).collect::<Vec<_>>().join(" | ")
    });
    Run { ok: out.code == 0, error, consistent, wall, requests: requests.len(), faults }
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let seeds: Vec<u64> = std::env::var("FAULT_SEEDS")
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|_| (1..=10).collect());
    let baseline = run(&rt, 0.0, 1);
    println!("fault-free: {:.1} s, {} requests, ok = {}", baseline.wall.as_secs_f64(), baseline.requests, baseline.ok);
    for (label, scale) in [("5% mix", 1.0), ("10% mix", 2.0)] {
        let runs: Vec<Run> = seeds.iter().map(|&seed| run(&rt, scale, seed)).collect();
        let succeeded = runs.iter().filter(|r| r.ok).count();
        let inconsistent = runs.iter().filter(|r| !r.consistent).count();
        let mut extra: Vec<f64> = runs.iter().filter(|r| r.ok).map(|r| r.wall.as_secs_f64() - baseline.wall.as_secs_f64()).collect();
        extra.sort_by(f64::total_cmp);
        let median = extra.get(extra.len() / 2).copied().unwrap_or(f64::NAN);
        let mut faults: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &runs {
            for (k, v) in &r.faults {
                *faults.entry(k).or_default() += v;
            }
        }
        let resent: usize = runs.iter().map(|r| r.requests.saturating_sub(baseline.requests)).sum();
        println!("{label}: first apply succeeded {succeeded}/{} seeds; PVE != state in {inconsistent}", runs.len());
        for (seed, run) in seeds.iter().zip(&runs) {
            if let Some(error) = &run.error {
                println!("  seed {seed} failed: {error}");
            }
        }
        println!("  extra wall time over fault-free (median): {median:.1} s");
        println!("  requests beyond the fault-free run: {:.1} per run", resent as f64 / runs.len() as f64);
        for (kind, count) in faults {
            println!("  injected {kind}: {:.1} per run", count as f64 / runs.len() as f64);
        }
    }
}
