//! A node lost with its disk, then reinstalled, through the emulator's control calls: PVE's
//! answers for a node that is down, and a restore from the shared backup storage afterwards.

mod common;

use common::*;
use pve_api::Params;
use pve_emulator::config::TEST_TOKEN;
use serde_json::Value;

/// `POST /emulator/nodes/{node}/{action}` with `token` (or none): status and body.
async fn control(emu: &pve_emulator::RunningEmulator, token: Option<&str>, node: &str, action: &str) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(format!("{}/emulator/nodes/{node}/{action}", emu.url));
    if let Some(token) = token {
        request = request.header("Authorization", format!("PVEAPIToken={token}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_lost_node_answers_as_pve_and_comes_back_empty_after_a_reinstall() {
    // A read-only root token and another user's token, made here (no secret-looking literal).
    let (audit, ops) = (format!("root@pam!audit={}", "a".repeat(12)), format!("ops@pve!drill={}", "b".repeat(12)));
    let (audit_config, ops_config) = (format!("{audit}:ro"), ops.clone());
    let emu = emulator(move |c| {
        c.auth_failure_delay_ms = 0;
        c.tokens.extend([audit_config, ops_config]);
    })
    .await;
    let api = client(&emu);
    full_clone(&api, 120, "app").await;
    ok(&api, &api.guest_action(QEMU, "pve1", 120, "start", &Params::new()).await.unwrap()).await;
    let disk = api.guest_config(QEMU, "pve1", 120).await.unwrap().get_str("scsi0").unwrap();
    let volid = disk.split(',').next().unwrap().to_string();
    let marker = data_of(&emu, "pve1", &volid).expect("the clone's disk holds data");
    ok(&api, &api.vzdump("pve1", &Params::new().set("vmid", 120).set("storage", "backup")).await.unwrap()).await;

    // Only root may pull the plug.
    assert_eq!(control(&emu, None, "pve1", "lose").await.0, 401);
    let (status, _) = control(&emu, Some("root@pam!other=wrong"), "pve1", "lose").await;
    assert_eq!(status, 401);
    assert_eq!(control(&emu, Some(&audit), "pve1", "lose").await.0, 403, "a read-only token changes nothing");
    assert_eq!(control(&emu, Some(&ops), "pve1", "lose").await.0, 403, "only root@pam");
    assert_eq!(control(&emu, Some(TEST_TOKEN), "pve1", "explode").await.0, 501);
    assert!(api.locate_guest(120).await.unwrap().unwrap().running, "none of those touched the node");
    let (status, answer) = control(&emu, Some(TEST_TOKEN), "pve1", "lose").await;
    assert_eq!(status, 200, "{answer}");
    let mut stranded: Vec<u64> = serde_json::from_value(answer["data"]["guests"].clone()).unwrap();
    stranded.sort_unstable();
    assert_eq!(stranded, vec![120, 9000], "their configs stay in pmxcfs");

    let nodes = get(&api, "/nodes").await;
    let pve1 = nodes.as_array().unwrap().iter().find(|n| n["node"] == "pve1").unwrap().clone();
    assert_eq!(pve1["status"], "offline");
    assert!(pve1.get("cpu").is_none() && pve1.get("mem").is_none() && pve1.get("uptime").is_none(), "no figures: {pve1}");
    let resources = get(&api, "/cluster/resources").await;
    let rows = resources.as_array().unwrap();
    let guest = rows.iter().find(|r| r["vmid"] == 120).unwrap();
    assert_eq!((guest["status"].as_str(), guest["node"].as_str()), (Some("unknown"), Some("pve1")), "{guest}");
    assert!(guest.get("name").is_none() && guest.get("maxmem").is_none(), "name and sizes come from the node's RRD: {guest}");
    let storage = rows.iter().find(|r| r["id"] == "storage/pve1/local-lvm").unwrap();
    assert_eq!(storage["status"], "unknown");
    assert!(rows.iter().any(|r| r["id"] == "storage/pve2/local-lvm" && r["status"] == "available"), "the others are fine");

    // Anything for the node is proxied to it, and it does not answer.
    let error = call(&api, reqwest::Method::GET, "/nodes/pve1/status", Params::new()).await.unwrap_err();
    assert!(error.to_string().contains("595 No route to host"), "{error}");
    assert!(call(&api, reqwest::Method::GET, "/nodes/pve2/status", Params::new()).await.is_ok());

    let (status, answer) = control(&emu, Some(TEST_TOKEN), "pve2", "reinstall").await;
    assert_eq!(status, 500, "only a lost node is reinstalled: {answer}");
    let (status, answer) = control(&emu, Some(TEST_TOKEN), "pve1", "reinstall").await;
    assert_eq!(status, 200, "{answer}");
    let nodes = get(&api, "/nodes").await;
    assert!(nodes.as_array().unwrap().iter().all(|n| n["status"] == "online"), "{nodes}");
    assert!(api.locate_guest(120).await.unwrap().is_none(), "the stale configs went with the reinstall");
    let local = get(&api, "/nodes/pve1/storage/local-lvm/content").await;
    assert_eq!(local, Value::Array(vec![]), "a fresh install has empty local storage");
    let archives = api.storage_content("pve1", "backup", Some("backup"), Some(120)).await.unwrap();
    assert_eq!(archives.len(), 1, "the shared backup storage kept its archive");

    let restore = Params::new().set("vmid", 120).set("archive", &archives[0].volid).set("storage", "local-lvm");
    ok(&api, &api.create_guest(QEMU, "pve1", &restore).await.unwrap()).await;
    let disk = api.guest_config(QEMU, "pve1", 120).await.unwrap().get_str("scsi0").unwrap();
    let restored = disk.split(',').next().unwrap().to_string();
    assert_eq!(data_of(&emu, "pve1", &restored).as_deref(), Some(marker.as_str()), "the data came back from the archive");

    // The same controls in process: a node with no guests loses nothing but its local volumes.
    assert_eq!(emu.lose_node("pve3").unwrap(), Vec::<u64>::new());
    assert!(api.storage_content("pve3", "local", None, None).await.is_err(), "pve3 is down");
    assert_eq!(emu.reinstall_node("pve3").unwrap(), Vec::<u64>::new());
    assert_eq!(api.storage_content("pve3", "local", None, None).await.unwrap().len(), 0, "a fresh install has no templates either");
}
