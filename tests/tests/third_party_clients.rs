//! The emulator serves clients written by others: proxmoxer (Python), with token and ticket auth
//! over verified TLS.

use pve_home_tests::{emulator, repo_root};

#[test]
fn proxmoxer_clones_updates_and_sees_pve_errors() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let emu = runtime.block_on(emulator(|c| {
        c.plain_http = false;
        c.cert_out = Some(ca.clone());
        c.users = vec!["admin@pve:proxmoxer-pass".into()];
    }));
    let python = repo_root().join(".venv/bin/python");
    assert!(python.exists(), "run scripts/setup-tools.sh first");
    let out = std::process::Command::new(python)
        .arg(repo_root().join("tests/clients/proxmoxer_session.py"))
        .args([
            &emu.addr.to_string(),
            &ca.display().to_string(),
            "root@pam",
            "terraform",
            "00000000-0000-0000-0000-000000000000",
            "admin@pve",
            "proxmoxer-pass",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "proxmoxer session failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["version"], "9.1.3");
    assert_eq!(seen["nodes"], serde_json::json!(["pve1", "pve2", "pve3"]));
    assert_eq!(seen["clone_exit"], "OK");
    assert_eq!(seen["clone_name"], "from-proxmoxer");
    assert_eq!(seen["cores"], 4);
    assert_eq!(seen["tags"], "b;proxmoxer");
    assert_eq!(seen["bad_vmid_status"], 400);
    assert_eq!(seen["bad_vmid_errors"]["vmid"], "invalid format - value does not look like a valid VM ID\n");
    assert_eq!(seen["missing_status"], 500);
    assert!(seen["missing_message"].as_str().unwrap().contains("does not exist"), "{seen}");
}
