//! Clones at Terraform's default parallelism against PVE's real serialisation points, each
//! figure beside the same work serialised (`-parallelism=1`) in the same run:
//! - 20 linked clones of one template, 1 s tasks: PVE runs them side by side (a stopped
//!   template takes a shared lock), so the wall time should be a fraction of 20 single clones;
//! - 50 full clones of one template on pve1's local-lvm, spread over three nodes (cloned on
//!   pve1, migrated to pve2 and pve3), with the emulator's copy bandwidth: errors, and the wall
//!   time beside the bound that bandwidth sets (the bytes the busiest storage copies / MiB/s);
//! - 30 linked clones of three templates onto one storage at parallelism 30: errors, and the
//!   storage-lock timeouts PVE answered and the provider absorbed.
//!
//! Prints figures; asserts nothing about them. Build first: `cargo build --release --bins`.

use std::time::{Duration, Instant};

use pve_api::{GuestKind, Params, TaskWait};
use pve_emulator::{EmulatorConfig, RunningEmulator};
use pve_home_tests::{Terraform, client, emulator, provider_block};

struct Run {
    wall: Duration,
    ok: bool,
    errors: usize,
    lock_timeouts: usize,
}

fn apply(
    rt: &tokio::runtime::Runtime,
    adjust: impl Fn(&mut EmulatorConfig),
    prepare: impl Fn(&RunningEmulator),
    body: &str,
    parallelism: u32,
) -> Run {
    let emu = rt.block_on(emulator(|c| adjust(c)));
    prepare(&emu);
    let tf = Terraform::new(&format!("{}{body}", provider_block(&emu)));
    tf.init();
    let started = Instant::now();
    let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve", &format!("-parallelism={parallelism}")]);
    let wall = started.elapsed();
    let lock_timeouts = emu
        .emulator
        .tasks()
        .iter()
        .filter(|t| t.exitstatus.as_deref().is_some_and(|e| e.contains("got timeout") || e.contains("lock request timeout")))
        .count();
    Run { wall, ok: out.code == 0, errors: out.all().matches("Error: ").count(), lock_timeouts }
}

fn clones(count: usize, source: &str, full: bool, node: &str) -> String {
    format!(
        r#"
resource "pve_vm" "vm" {{
  count      = {count}
  node       = {node}
  name       = "vm-${{count.index}}"
  clone_vmid = {source}
  clone_full = {full}
  started    = false
  disk {{
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 4
  }}
  network {{}}
}}
"#
    )
}

/// Two more templates (9001, 9002) on pve1's local-lvm, full copies of 9000.
fn more_templates(emu: &RunningEmulator) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let api = client(emu);
    for vmid in [9001, 9002] {
        let upid = rt
            .block_on(api.clone_guest(
                GuestKind::Qemu,
                "pve1",
                9000,
                vmid,
                &Params::new().set("name", format!("template-{vmid}")).flag("full", true),
            ))
            .unwrap();
        rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
        if let Some(upid) = rt.block_on(api.convert_to_template(GuestKind::Qemu, "pve1", vmid)).unwrap() {
            rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
        }
    }
}

fn report(label: &str, parallelism: u32, parallel: &Run, serial: &Run) {
    println!(
        "{label}: {:.1} s at parallelism {parallelism} ({}), {:.1} s serialised ({}) = {:.2}x; errors {}, PVE lock timeouts absorbed {}",
        parallel.wall.as_secs_f64(),
        if parallel.ok { "ok" } else { "FAILED" },
        serial.wall.as_secs_f64(),
        if serial.ok { "ok" } else { "FAILED" },
        parallel.wall.as_secs_f64() / serial.wall.as_secs_f64(),
        parallel.errors,
        parallel.lock_timeouts,
    );
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let none = |_: &RunningEmulator| {};

    let one_second = |c: &mut EmulatorConfig| c.task_ms = 1000;
    let body = clones(20, "9000", false, "\"pve1\"");
    report(
        "20 linked clones of one template, 1 s tasks",
        10,
        &apply(&rt, one_second, none, &body, 10),
        &apply(&rt, one_second, none, &body, 1),
    );

    // The template's disk is 3.5 GiB; every clone is copied on pve1's local-lvm (a third of them
    // once more into pve2's and pve3's by the migration).
    let mbps = 20_000u64;
    let copying = move |c: &mut EmulatorConfig| {
        c.task_ms = 200;
        c.storage_mbps = mbps;
    };
    let body = clones(50, "9000", true, "\"pve${count.index % 3 + 1}\"");
    let parallel = apply(&rt, copying, none, &body, 10);
    let serial = apply(&rt, copying, none, &body, 1);
    report("50 full clones over 3 nodes", 10, &parallel, &serial);
    let bound = 50.0 * 3.5 * 1024.0 / mbps as f64;
    println!("  bandwidth bound: 50 x 3.5 GiB through pve1's local-lvm at {mbps} MiB/s = {bound:.1} s");

    let busy = |c: &mut EmulatorConfig| {
        c.task_ms = 300;
        c.storage_lock_ms = 200;
    };
    let body = format!(
        "{}{}{}",
        clones(10, "9000", false, "\"pve1\"").replace("\"vm\"", "\"a\"").replace("vm-$", "a-$"),
        clones(10, "9001", false, "\"pve1\"").replace("\"vm\"", "\"b\"").replace("vm-$", "b-$"),
        clones(10, "9002", false, "\"pve1\"").replace("\"vm\"", "\"c\"").replace("vm-$", "c-$"),
    );
    report(
        "30 linked clones of 3 templates onto one storage",
        30,
        &apply(&rt, busy, more_templates, &body, 30),
        &apply(&rt, busy, more_templates, &body, 1),
    );
}
