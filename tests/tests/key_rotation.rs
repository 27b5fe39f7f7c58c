//! `pve-ops rotate-ssh-keys` against real OpenSSH sshd instances on loopback addresses, with the
//! guests found through the emulator by environment tag and ipconfig address.

use std::process::Command;

use pve_api::{GuestKind, Params, TaskWait};
use pve_home_tests::{Fleet, TOKEN, client, emulator, fleet, keygen, workspace_binary};
use pve_ssh::{HostKeyMode, Options, SshError, SshSession, Target};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// A running VM tagged `environment-<env>` with `address` as its static ipconfig0.
fn guest(rt: &tokio::runtime::Runtime, api: &pve_api::PveClient, vmid: u64, env: &str, address: &str) {
    let upid = rt
        .block_on(api.clone_guest(
            GuestKind::Qemu,
            "pve1",
            9000,
            vmid,
            &Params::new().set("name", format!("{env}{vmid}")).flag("full", true),
        ))
        .unwrap();
    rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
    let params = Params::new().set("tags", format!("environment-{env}")).set("ipconfig0", format!("ip={address}/8,gw=127.0.0.1"));
    rt.block_on(api.update_config(GuestKind::Qemu, "pve1", vmid, &params)).unwrap();
    let upid = rt.block_on(api.guest_action(GuestKind::Qemu, "pve1", vmid, "start", &Params::new())).unwrap();
    rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
}

fn rotate(url: &str, fleet: &Fleet, extra: &[&str]) -> (i32, serde_json::Value, String) {
    let port = fleet.hosts[0].1.port.to_string();
    let out = Command::new(workspace_binary("pve-ops"))
        .args(["rotate-ssh-keys", "--json", "--yes", "--port", &port, "--user", &fleet.hosts[0].1.user])
        .arg("--add-key")
        .arg(fleet.key("new"))
        .arg("--identity")
        .arg(fleet.key("old"))
        .arg("--known-hosts")
        .arg(&fleet.known_hosts)
        .arg("--authorized-keys")
        .arg(format!("{}/{{host}}/authorized_keys", fleet.keys.path().display()))
        .args(extra)
        .env("PVE_ENDPOINT", url)
        .env("PVE_INSECURE_HTTP", "1")
        .env("PVE_API_TOKEN", TOKEN)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let report = serde_json::from_str(stdout.lines().last().unwrap_or("null")).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), report, format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
}

fn login(rt: &tokio::runtime::Runtime, fleet: &Fleet, address: &str, key: &str) -> Result<(), SshError> {
    let target = Target { host: address.into(), port: fleet.hosts[0].1.port, user: fleet.hosts[0].1.user.clone() };
    let options = Options {
        private_key: fleet.key(key),
        known_hosts: fleet.known_hosts.clone(),
        mode: HostKeyMode::Strict,
        timeout: std::time::Duration::from_secs(5),
    };
    rt.block_on(async { SshSession::connect(target, &options).await?.exec("true").await.map(|_| ()) })
}

#[test]
fn rotation_never_locks_anyone_out() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let api = client(&emu);
    // Host 4 refuses the new key (sshd RevokedKeys); host 5 presents a host key that changed.
    let fleet = fleet(7, |i, keys| if i == 4 { format!("RevokedKeys {}/new.pub\n", keys.display()) } else { String::new() });
    let changed = tempfile::tempdir().unwrap();
    keygen(&changed.path().join("impostor"));
    let impostor = std::fs::read_to_string(changed.path().join("impostor.pub")).unwrap();
    let impostor: Vec<&str> = impostor.split_whitespace().take(2).collect();
    let known = std::fs::read_to_string(&fleet.known_hosts).unwrap();
    let port = fleet.hosts[0].1.port;
    let known: Vec<String> = known
        .lines()
        .map(|l| {
            if l.starts_with(&format!("[127.0.0.16]:{port}")) {
                format!("[127.0.0.16]:{port} {}", impostor.join(" "))
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&fleet.known_hosts, known.join("\n") + "\n").unwrap();
    for (i, (address, _)) in fleet.hosts.iter().enumerate() {
        // The last host is a prod guest: --env lab must not touch it.
        guest(&rt, &api, 101 + i as u64, if i == 6 { "prod" } else { "lab" }, address);
    }
    // A stopped lab guest cannot be rotated: it is reported, not silently passed over.
    let upid = rt.block_on(api.clone_guest(GuestKind::Qemu, "pve1", 9000, 130, &Params::new().set("name", "lab-off"))).unwrap();
    rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
    rt.block_on(api.update_config(GuestKind::Qemu, "pve1", 130, &Params::new().set("tags", "environment-lab"))).unwrap();
    let old_pub = fleet.key("old.pub").display().to_string();
    let before: Vec<String> = fleet.hosts.iter().map(|(a, _)| fleet.authorized(a)).collect();

    let (code, report, all) = rotate(&emu.url, &fleet, &["--env", "lab", "--remove-key", &old_pub, "--dry-run"]);
    assert_eq!(code, 0, "{all}");
    assert_eq!(report["hosts"].as_array().map(Vec::len), Some(6), "six lab guests, the prod one left out: {report}");
    assert_eq!(fleet.hosts.iter().map(|(a, _)| fleet.authorized(a)).collect::<Vec<_>>(), before, "a dry run changes nothing");

    let metrics = tempfile::tempdir().unwrap();
    let metrics_dir = metrics.path().display().to_string();
    let (code, report, all) = rotate(&emu.url, &fleet, &["--env", "lab", "--remove-key", &old_pub, "--metrics-dir", &metrics_dir]);
    assert_eq!(code, 3, "two hosts failed, four rotated: partial\n{all}");
    let status = |address: &str| {
        let row = report["hosts"].as_array().unwrap().iter().find(|h| h["address"] == address).cloned().unwrap_or_default();
        (row["status"].as_str().unwrap_or("").to_string(), row["detail"].as_str().unwrap_or("").to_string())
    };
    let new_pub = std::fs::read_to_string(fleet.key("new.pub")).unwrap();
    let new_blob = new_pub.split_whitespace().nth(1).unwrap();
    let old_blob = before[0].split_whitespace().nth(1).unwrap().to_string();
    for address in ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"] {
        assert_eq!(status(address).0, "ok", "{address}: {:?}", status(address));
        let keys = fleet.authorized(address);
        assert!(keys.contains(new_blob) && !keys.contains(&old_blob), "{address}: {keys}");
        login(&rt, &fleet, address, "new").unwrap_or_else(|e| panic!("{address}: the new key logs in: {e}"));
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(fleet.keys_file(address)).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600, "{address}: authorized_keys stays private (sshd's StrictModes)");
        assert!(matches!(login(&rt, &fleet, address, "old"), Err(SshError::AuthFailed { .. })), "{address}: the old key is gone");
    }
    // The host that refuses the new key keeps the old one, untouched.
    let (state, detail) = status("127.0.0.15");
    assert!(state == "failed" && detail.contains("new key does not log in"), "{detail}");
    assert_eq!(fleet.authorized("127.0.0.15"), before[4]);
    login(&rt, &fleet, "127.0.0.15", "old").expect("the old key still works where the new one is refused");
    // A changed host key is refused before anything is sent.
    let (state, detail) = status("127.0.0.16");
    assert!(state == "failed" && detail.contains("CHANGED"), "{detail}");
    assert_eq!(fleet.authorized("127.0.0.16"), before[5]);
    assert_eq!(fleet.authorized("127.0.0.17"), before[6], "prod untouched");
    assert_eq!(status("lab-off (130)").0, "", "a skipped guest has no address row");
    let skipped = report["hosts"].as_array().unwrap().iter().find(|h| h["host"] == "lab-off (130)").cloned().unwrap_or_default();
    assert_eq!((skipped["status"].as_str(), skipped["detail"].as_str()), (Some("skipped"), Some("stopped")), "{report}");

    let prom = metrics.path().join("pve_ssh_key_rotation.prom");
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains("pve_ssh_key_rotation_ok{host=\"127.0.0.11\"} 1")
            && text.contains("pve_ssh_key_rotation_ok{host=\"127.0.0.15\"} 0")
            && text.contains("pve_ssh_key_rotation_ok{host=\"lab-off (130)\"} 0"),
        "{text}"
    );
    let promtool = Command::new("promtool").args(["check", "metrics"]).stdin(std::fs::File::open(&prom).unwrap()).output().unwrap();
    assert!(promtool.status.success(), "{}", String::from_utf8_lossy(&promtool.stderr));

    // Unknown hosts are refused by default and learnt only with --init-known-hosts.
    std::fs::write(&fleet.known_hosts, "").unwrap();
    let (code, report, all) = rotate(&emu.url, &fleet, &["--host", "127.0.0.17"]);
    assert_eq!(code, 1, "{all}");
    assert!(report["hosts"][0]["detail"].as_str().unwrap_or("").contains("is not in"), "{report}");
    assert_eq!(fleet.authorized("127.0.0.17"), before[6]);
    let (code, report, all) = rotate(&emu.url, &fleet, &["--host", "127.0.0.17", "--init-known-hosts"]);
    assert_eq!(code, 0, "{all}");
    assert_eq!(report["hosts"][0]["detail"], "new key added, verified");
    assert!(std::fs::read_to_string(&fleet.known_hosts).unwrap().contains("127.0.0.17"), "the host key was recorded");
    assert!(fleet.authorized("127.0.0.17").contains(&old_blob), "without --remove-key the old key stays");
}

#[test]
fn refuses_to_remove_the_key_it_adds() {
    let fleet = fleet(1, |_, _| String::new());
    let new_pub = fleet.key("new.pub").display().to_string();
    let (code, _, all) = rotate("http://127.0.0.1:9", &fleet, &["--host", "127.0.0.11", "--remove-key", &new_pub]);
    assert_eq!(code, 1);
    assert!(all.contains("lock everyone out"), "{all}");
    let (code, _, all) = rotate("http://127.0.0.1:9", &fleet, &[]);
    assert_eq!(code, 2, "a scope (--env, --all or --host) is required: {all}");
}

#[test]
fn dhcp_guests_are_reached_at_the_address_their_agent_reports() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let api = client(&emu);
    // The emulator's guest agent reports DHCP guests in 127.100.0.0/16, by VMID: 120 → 127.100.0.120.
    let sshd = pve_home_tests::Sshd::start_on("127.100.0.120", 0, "");
    let upid = rt.block_on(api.clone_guest(GuestKind::Qemu, "pve1", 9000, 120, &Params::new().set("name", "dhcp1"))).unwrap();
    rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
    let params = Params::new().set("tags", "environment-lab").set("ipconfig0", "ip=dhcp").set("agent", "1");
    rt.block_on(api.update_config(GuestKind::Qemu, "pve1", 120, &params)).unwrap();
    let upid = rt.block_on(api.guest_action(GuestKind::Qemu, "pve1", 120, "start", &Params::new())).unwrap();
    rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
    let keys = tempfile::tempdir().unwrap();
    keygen(&keys.path().join("new"));
    let out = Command::new(workspace_binary("pve-ops"))
        .args(["rotate-ssh-keys", "--env", "lab", "--yes", "--json", "--port", &sshd.port.to_string(), "--user", &sshd.user])
        .arg("--add-key")
        .arg(keys.path().join("new"))
        .arg("--identity")
        .arg(&sshd.client_key)
        .arg("--known-hosts")
        .arg(&sshd.known_hosts)
        .arg("--authorized-keys")
        .arg(sshd.authorized_keys())
        .env("PVE_ENDPOINT", &emu.url)
        .env("PVE_INSECURE_HTTP", "1")
        .env("PVE_API_TOKEN", TOKEN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["hosts"][0]["address"], "127.100.0.120", "{report}");
    let new_pub = std::fs::read_to_string(keys.path().join("new.pub")).unwrap();
    assert!(std::fs::read_to_string(sshd.authorized_keys()).unwrap().contains(new_pub.split_whitespace().nth(1).unwrap()));
}
