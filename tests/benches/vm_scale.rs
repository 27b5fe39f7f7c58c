//! pve_vm at scale against the emulator: API calls per guest on a no-op refresh of 100 guests
//! (from the emulator's request log), and wall time of 20 parallel full clones of one template
//! against the bound set by PVE's per-source lock. Prints figures; asserts nothing.

use std::time::Instant;

use pve_home_tests::{Terraform, cloned_vms, emulator, provider_block, request_log};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");

    let log = tempfile::NamedTempFile::new().expect("log");
    let path = log.path().to_path_buf();
    let emu = runtime.block_on(emulator(|c| {
        c.task_ms = 5;
        c.request_log = Some(path.clone());
    }));
    let tf = Terraform::new(&format!("{}{}", provider_block(&emu), cloned_vms(100, false)));
    tf.init();
    let started = Instant::now();
    let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.all());
    println!("apply of 100 linked clones: {:.1} s", started.elapsed().as_secs_f64());
    let before = request_log(&path).len();
    let started = Instant::now();
    let out = tf.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let refresh = &request_log(&path)[before..];
    let configs = refresh.iter().filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with("/config"))).count();
    let listings = refresh.iter().filter(|r| r["path"] == "/cluster/resources").count();
    println!(
        "no-op refresh of 100 guests: {} API calls ({:.2} per guest: {configs} config reads, {listings} /cluster/resources), {:.1} s",
        refresh.len(),
        refresh.len() as f64 / 100.0,
        started.elapsed().as_secs_f64()
    );

    let task_ms = 200u64;
    let emu = runtime.block_on(emulator(|c| c.task_ms = task_ms));
    let tf = Terraform::new(&format!("{}{}", provider_block(&emu), cloned_vms(20, true)));
    tf.init();
    let started = Instant::now();
    let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve", "-parallelism=10"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let wall = started.elapsed().as_secs_f64();
    // A full clone task runs 3 x task_ms and holds the template's lock throughout.
    let bound = 20.0 * 3.0 * task_ms as f64 / 1000.0;
    println!(
        "20 full clones of one template at -parallelism=10: {wall:.1} s; lock-serialised bound {bound:.1} s ({:.0}% of wall time is the bound)",
        bound / wall * 100.0
    );
}
