//! pve-ops figures: wall time of rotate-ssh-keys on 20 real sshd hosts (found through the
//! emulator), and what `pve-ops snapshot create|rollback` adds above the emulator's own task time
//! (task polling and the process itself). Needs `cargo build --release --bins` first.
//! Prints figures; asserts nothing.

use std::process::Command;
use std::time::{Duration, Instant};

use pve_api::{GuestKind, Params, TaskWait};
use pve_home_tests::{TOKEN, client, emulator, fleet, workspace_binary};

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn pve_ops(url: &str, args: &[&str]) -> Duration {
    let started = Instant::now();
    let out = Command::new(workspace_binary("pve-ops"))
        .args(args)
        .env("PVE_ENDPOINT", url)
        .env("PVE_INSECURE_HTTP", "1")
        .env("PVE_API_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    started.elapsed()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // Tasks as a real node would take them: a snapshot of a small VM takes about a second.
    let emu = rt.block_on(emulator(|c| c.task_ms = 1000));
    let api = client(&emu);

    let hosts = 20;
    let fleet = fleet(hosts, |_, _| String::new());
    for (i, (address, _)) in fleet.hosts.iter().enumerate() {
        let vmid = 300 + i as u64;
        let upid = rt.block_on(api.clone_guest(GuestKind::Qemu, "pve1", 9000, vmid, &Params::new().set("name", format!("h{i}")))).unwrap();
        rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
        let params = Params::new().set("tags", "environment-lab").set("ipconfig0", format!("ip={address}/8"));
        rt.block_on(api.update_config(GuestKind::Qemu, "pve1", vmid, &params)).unwrap();
        let upid = rt.block_on(api.guest_action(GuestKind::Qemu, "pve1", vmid, "start", &Params::new())).unwrap();
        rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
    }
    let keys_path = format!("{}/{{host}}/authorized_keys", fleet.keys.path().display());
    let port = fleet.hosts[0].1.port.to_string();
    for (parallel, add, remove) in [("1", "new", "old.pub"), ("8", "old", "new.pub"), ("20", "new", "old.pub")] {
        let identity = if add == "new" { "old" } else { "new" };
        let remove_key = fleet.key(remove).display().to_string();
        let took = pve_ops(
            &emu.url,
            &[
                "rotate-ssh-keys",
                "--env",
                "lab",
                "--yes",
                "--parallel",
                parallel,
                "--port",
                &port,
                "--user",
                &fleet.hosts[0].1.user,
                "--add-key",
                &fleet.key(add).display().to_string(),
                "--remove-key",
                &remove_key,
                "--identity",
                &fleet.key(identity).display().to_string(),
                "--known-hosts",
                &fleet.known_hosts.display().to_string(),
                "--authorized-keys",
                &keys_path,
            ],
        );
        println!(
            "rotate-ssh-keys on {hosts} sshd hosts, --parallel {parallel:>2}: {:.2} s ({:.0} ms per host)",
            took.as_secs_f64(),
            took.as_secs_f64() * 1000.0 / hosts as f64
        );
    }

    // Snapshot overhead: pve-ops end to end (process start, guest lookup, task polling) minus the
    // same API calls made in-process.
    let rounds = 7;
    let (mut direct_create, mut direct_rollback, mut cli_create, mut cli_rollback) = (vec![], vec![], vec![], vec![]);
    for n in 0..rounds {
        let started = Instant::now();
        let upid = rt.block_on(api.create_snapshot(GuestKind::Qemu, "pve1", 300, &format!("direct{n}"), None, false)).unwrap();
        rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
        direct_create.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let upid = rt.block_on(api.rollback_snapshot(GuestKind::Qemu, "pve1", 300, &format!("direct{n}"))).unwrap();
        rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
        direct_rollback.push(started.elapsed().as_secs_f64());
        let name = format!("cli{n}");
        cli_create.push(pve_ops(&emu.url, &["snapshot", "create", "300", "--name", &name]).as_secs_f64());
        cli_rollback.push(pve_ops(&emu.url, &["snapshot", "rollback", "300", "--name", &name, "--yes"]).as_secs_f64());
    }
    // The emulator runs a snapshot create as one task unit and a rollback as two (PVE's rollback
    // restores the disks and the saved state).
    for (what, task, direct, cli) in [("create", 1.0, direct_create, cli_create), ("rollback", 2.0, direct_rollback, cli_rollback)] {
        let (direct, cli) = (median(direct), median(cli));
        println!(
            "snapshot {what:<8}: emulator task {task:.2} s; API calls in-process {direct:.3} s; pve-ops end to end {cli:.3} s; \
             above the task {:.0} ms, of which pve-ops itself (start, guest lookup) {:.0} ms",
            (cli - task) * 1000.0,
            (cli - direct) * 1000.0
        );
    }
}
