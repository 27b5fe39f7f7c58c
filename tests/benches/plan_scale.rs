//! A no-op plan at scale, measured as a user meets it. Applies N linked clones of the template
//! (N = PLAN_SCALE_VMS, default 500) against the emulator, then prints:
//! - requests per created VM, by endpoint, from the emulator's request log;
//! - the wall time of a no-op `terraform plan` with the emulator answering after 20 ms, and of
//!   the same plan with `-refresh=false`;
//! - the provider's CPU time per PlanResourceChange and per ReadResource, and Terraform core's
//!   CPU time beside them, read from /proc/<pid>/stat of each process while the plan runs;
//! - the provider's peak RSS during the plan;
//! - the wall time and the requests of a plan that creates the N VMs afresh (what the plan-time
//!   checks cost: they read the cluster for new guests only).
//!
//! Prints figures; asserts nothing about them. Build first: `cargo build --release --bins`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pve_home_tests::{Terraform, cloned_vms, emulator, provider_block, request_log};

/// The last sample of one process: command name, CPU seconds, peak RSS in KiB.
type Sample = (String, f64, u64);

/// CPU seconds (user + system) and peak RSS (KiB) of every process whose command name starts
/// with one of `names`, sampled until stopped; the last sample of each process is kept.
struct CpuWatch {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<HashMap<u32, Sample>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn clock_ticks() -> f64 {
    // Linux reports /proc/<pid>/stat times in USER_HZ, 100 on every common platform.
    100.0
}

impl CpuWatch {
    fn start(names: &'static [&'static str]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Arc<Mutex<HashMap<u32, Sample>>> = Arc::default();
        let thread = {
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
                        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
                        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
                        let comm = &stat[open + 1..close];
                        if !names.iter().any(|n| comm.starts_with(n)) {
                            continue;
                        }
                        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
                        // utime and stime are fields 14 and 15 of stat, 12 and 13 after the comm.
                        let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
                            + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
                        let hwm = std::fs::read_to_string(format!("/proc/{pid}/status"))
                            .unwrap_or_default()
                            .lines()
                            .find_map(|l| l.strip_prefix("VmHWM:").and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok()))
                            .unwrap_or(0);
                        seen.lock().unwrap().insert(pid, (comm.to_string(), ticks / clock_ticks(), hwm));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        Self { stop, seen, thread: Some(thread) }
    }

    /// (provider CPU s, Terraform CPU s, provider peak RSS KiB).
    fn finish(mut self) -> (f64, f64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let seen = self.seen.lock().unwrap();
        let provider: Vec<_> = seen.values().filter(|(c, _, _)| c.starts_with("terraform-provi")).collect();
        let core: f64 = seen.values().filter(|(c, _, _)| c == "terraform").map(|(_, cpu, _)| cpu).sum();
        (provider.iter().map(|(_, cpu, _)| cpu).sum(), core, provider.iter().map(|(_, _, rss)| *rss).max().unwrap_or(0))
    }
}

struct Measured {
    wall: f64,
    provider_cpu: f64,
    core_cpu: f64,
    provider_rss_kib: u64,
}

fn measured_plan(tf: &Terraform, extra: &[&str]) -> Measured {
    let watch = CpuWatch::start(&["terraform"]);
    let started = Instant::now();
    let mut args = vec!["plan", "-input=false", "-no-color", "-detailed-exitcode"];
    args.extend_from_slice(extra);
    let out = tf.run(&args);
    let wall = started.elapsed().as_secs_f64();
    let (provider_cpu, core_cpu, provider_rss_kib) = watch.finish();
    assert_eq!(out.code, 0, "the plan is a no-op:\n{}", out.all());
    Measured { wall, provider_cpu, core_cpu, provider_rss_kib }
}

fn main() {
    let count: usize = std::env::var("PLAN_SCALE_VMS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("emulator.json");
    let log = dir.path().join("requests.jsonl");

    // 1. Create N linked clones on a fast emulator; count requests per created VM.
    let emu = runtime.block_on(emulator(|c| {
        c.task_ms = 5;
        c.state_file = Some(state.clone());
        c.request_log = Some(log.clone());
    }));
    let tf = Terraform::new(&format!("{}{}", provider_block(&emu), cloned_vms(count, false)));
    tf.init();
    let started = Instant::now();
    let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.all());
    println!("apply of {count} linked clones (5 ms tasks, 0 ms latency): {:.1} s", started.elapsed().as_secs_f64());
    let requests = request_log(&log);
    let mut by_endpoint: BTreeMap<String, usize> = BTreeMap::new();
    for request in &requests {
        let path = request["path"].as_str().unwrap_or("");
        // Guest-specific paths folded: /nodes/pve1/qemu/123/config -> /nodes/{node}/qemu/{vmid}/config
        let shape: Vec<&str> = path
            .split('/')
            .enumerate()
            .map(|(i, s)| match (i, s) {
                (2, _) if path.starts_with("/nodes/") => "{node}",
                (4, s) if s.chars().all(|c| c.is_ascii_digit()) => "{vmid}",
                (4, s) if s.starts_with("UPID") => "{upid}",
                _ => s,
            })
            .collect();
        *by_endpoint.entry(format!("{} {}", request["method"].as_str().unwrap_or("?"), shape.join("/"))).or_default() += 1;
    }
    println!("requests per created VM: {:.2} ({} requests)", requests.len() as f64 / count as f64, requests.len());
    for (endpoint, n) in &by_endpoint {
        println!("  {:>6.2}  {endpoint} ({n})", *n as f64 / count as f64);
    }
    drop(emu);

    // 2. The same cluster, answering after 20 ms: a no-op plan, with and without refresh.
    let emu = runtime.block_on(emulator(|c| {
        c.latency_ms = 20;
        c.state_file = Some(state.clone());
    }));
    tf.write("main.tf", &format!("{}{}", provider_block(&emu), cloned_vms(count, false)));
    let full = measured_plan(&tf, &[]);
    let no_refresh = measured_plan(&tf, &["-refresh=false"]);
    // Startup, schema and configuration cost, measured on a configuration with no resources.
    let empty = Terraform::new(&provider_block(&emu));
    empty.init();
    let baseline = measured_plan(&empty, &[]);
    let per_plan = (no_refresh.provider_cpu - baseline.provider_cpu).max(0.0) / count as f64 * 1000.0;
    let per_read = (full.provider_cpu - no_refresh.provider_cpu).max(0.0) / count as f64 * 1000.0;
    println!("no-op plan of {count} VMs at 20 ms/request: {:.2} s wall", full.wall);
    println!("  same with -refresh=false: {:.2} s wall", no_refresh.wall);
    println!(
        "  provider CPU: {:.2} s with refresh, {:.2} s without, {:.2} s for an empty configuration",
        full.provider_cpu, no_refresh.provider_cpu, baseline.provider_cpu
    );
    println!("  provider CPU per PlanResourceChange: {per_plan:.2} ms; per ReadResource: {per_read:.2} ms");
    println!("  Terraform core CPU: {:.2} s with refresh, {:.2} s without", full.core_cpu, no_refresh.core_cpu);
    println!(
        "  provider peak RSS: {:.1} MB with refresh, {:.1} MB without",
        full.provider_rss_kib as f64 / 1024.0,
        no_refresh.provider_rss_kib as f64 / 1024.0
    );
    drop(emu);

    // 3. A plan that creates the N VMs anew (another working directory, no state), at 20 ms.
    let plan_log = dir.path().join("plan-requests.jsonl");
    let emu = runtime.block_on(emulator(|c| {
        c.latency_ms = 20;
        c.state_file = Some(state.clone());
        c.request_log = Some(plan_log.clone());
    }));
    let fresh = Terraform::new(&format!("{}{}", provider_block(&emu), cloned_vms(count, false)));
    fresh.init();
    let started = Instant::now();
    let out = fresh.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(out.code, 2, "the plan creates {count} VMs:\n{}", out.all());
    let asked = request_log(&plan_log);
    let mut by_endpoint: BTreeMap<String, usize> = BTreeMap::new();
    for request in &asked {
        *by_endpoint
            .entry(format!("{} {}", request["method"].as_str().unwrap_or("?"), request["path"].as_str().unwrap_or("")))
            .or_default() += 1;
    }
    println!(
        "plan of {count} new VMs at 20 ms/request: {wall:.2} s wall, {} requests ({:.3} per VM)",
        asked.len(),
        asked.len() as f64 / count as f64
    );
    for (endpoint, n) in &by_endpoint {
        println!("  {n:>6}  {endpoint}");
    }
}
