//! Config locks with PVE's shared/exclusive semantics, pve-storage's storage locks and the
//! bandwidth full copies share.

mod common;

use std::time::{Duration, Instant};

use common::*;
use pve_api::Params;
use pve_emulator::model::StorageDef;
use reqwest::Method;

#[tokio::test]
async fn two_clones_of_one_template_run_at_the_same_time() {
    // Were the template locked exclusively, the second clone would wait 1.2 s and time out at 200 ms.
    let emu = emulator(|c| {
        c.task_ms = 400;
        c.lock_timeout_ms = 200;
    })
    .await;
    let api = client(&emu);
    let first = api.clone_guest(QEMU, "pve1", 9000, 101, &Params::new().flag("full", true)).await.unwrap();
    let second = api.clone_guest(QEMU, "pve1", 9000, 102, &Params::new().flag("full", true)).await.unwrap();
    assert!(running(&api, &first).await && running(&api, &second).await, "both clones run at once");
    ok(&api, &first).await;
    ok(&api, &second).await;
    for vmid in [101, 102] {
        let config = api.guest_config(QEMU, "pve1", vmid).await.unwrap();
        assert_eq!(config.get_str("scsi0").unwrap(), format!("local-lvm:vm-{vmid}-disk-0,size=3584M"));
    }
}

#[tokio::test]
async fn a_config_change_on_the_template_waits_for_its_clones() {
    let emu = emulator(|c| c.task_ms = 300).await;
    let api = client(&emu);
    let clone = api.clone_guest(QEMU, "pve1", 9000, 110, &Params::new()).await.unwrap();
    let started = Instant::now();
    api.update_config(QEMU, "pve1", 9000, &Params::new().set("description", "golden image")).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200), "the update waited for the clone's shared lock: {:?}", started.elapsed());
    assert!(!running(&api, &clone).await, "the clone had ended when the update got the lock");
    ok(&api, &clone).await;
    assert_eq!(api.guest_config(QEMU, "pve1", 9000).await.unwrap().get_str("description").as_deref(), Some("golden image"));
}

#[tokio::test]
async fn a_running_source_is_locked_exclusively() {
    let emu = emulator(|c| {
        c.task_ms = 300;
        c.lock_timeout_ms = 200;
    })
    .await;
    let api = client(&emu);
    full_clone(&api, 120, "app").await;
    ok(&api, &api.guest_action(QEMU, "pve1", 120, "start", &Params::new()).await.unwrap()).await;
    let first = api.clone_guest(QEMU, "pve1", 120, 121, &Params::new()).await.unwrap();
    let second = api.clone_guest(QEMU, "pve1", 120, 122, &Params::new()).await.unwrap_err();
    assert_eq!(second.message(), "can't lock file '/var/lock/qemu-server/lock-120.conf' - got timeout");
    ok(&api, &first).await;
}

#[tokio::test]
async fn local_storage_lock_contention_fails_the_clone_with_pves_message() {
    // Each linked clone holds local-lvm's lock on pve1 for 500 ms; the next one gives up after 150 ms.
    let emu = emulator(|c| {
        c.storage_lock_ms = 500;
        c.lock_timeout_ms = 150;
    })
    .await;
    let api = client(&emu);
    let first = api.clone_guest(QEMU, "pve1", 9000, 130, &Params::new()).await.unwrap();
    let second = api.clone_guest(QEMU, "pve1", 9000, 131, &Params::new()).await.unwrap();
    ok(&api, &first).await;
    let (status, log) = finish(&api, &second).await;
    assert_eq!(status, "clone failed: can't lock file '/var/lock/pve-manager/pve-storage-local-lvm' - got timeout");
    assert!(log.iter().any(|l| l == "trying to acquire lock..."), "{log:#?}");
    assert!(api.locate_guest(131).await.unwrap().is_none(), "the half-made guest is removed");
    assert!(!emu.emulator.cluster().volumes.iter().any(|v| v.vmid == Some(131)), "and its volumes freed");

    // A sync allocation (a new disk in PUT config) fails in the request itself.
    let long = api.clone_guest(QEMU, "pve1", 9000, 132, &Params::new()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let busy = api.update_config(QEMU, "pve1", 130, &Params::new().set("scsi1", "local-lvm:2")).await.unwrap_err();
    assert_eq!(busy.message(), "can't lock file '/var/lock/pve-manager/pve-storage-local-lvm' - got timeout");
    ok(&api, &long).await;
}

#[tokio::test]
async fn shared_storage_is_locked_cluster_wide_and_local_storage_per_node() {
    let emu = emulator(|c| {
        c.storage_lock_ms = 500;
        c.lock_timeout_ms = 150;
    })
    .await;
    emu.emulator.cluster().storages.insert(
        "ceph".into(),
        StorageDef { storage_type: "rbd".into(), content: vec!["images".into()], shared: true, total: 1 << 42, path: None, nodes: None },
    );
    let api = client(&emu);
    let create = |node: &'static str, vmid: u64, disk: &'static str| {
        let api = api.clone();
        async move { api.create_guest(QEMU, node, &Params::new().set("vmid", vmid).set("scsi0", disk)).await.unwrap() }
    };
    // The same local storage on two nodes: two locks, no waiting.
    let (a, b) = (create("pve1", 140, "local-lvm:4").await, create("pve2", 141, "local-lvm:4").await);
    ok(&api, &a).await;
    ok(&api, &b).await;
    // One shared storage from two nodes: one pmxcfs lock.
    let (c, d) = (create("pve1", 142, "ceph:4").await, create("pve2", 143, "ceph:4").await);
    ok(&api, &c).await;
    let (status, _) = finish(&api, &d).await;
    assert_eq!(status, "unable to create VM 143 - cfs-lock 'storage-ceph' error: got lock request timeout");
    assert!(api.locate_guest(143).await.unwrap().is_none());
}

#[tokio::test]
async fn full_copies_share_the_storage_bandwidth() {
    // The template's 3.5 GiB disk at 7 GiB/s: half a second alone, a second each when two share local-lvm.
    let emu = emulator(|c| {
        c.task_ms = 10;
        c.storage_mbps = 7168;
    })
    .await;
    let api = client(&emu);
    let timed = |newid: u64| {
        let api = api.clone();
        async move {
            let started = Instant::now();
            let upid = api.clone_guest(QEMU, "pve1", 9000, newid, &Params::new().flag("full", true)).await.unwrap();
            let log = ok(&api, &upid).await;
            (started.elapsed(), log)
        }
    };
    let (alone, log) = timed(150).await;
    assert!(alone >= Duration::from_millis(450), "{alone:?}");
    assert!(log.iter().any(|l| l == "create full clone of drive scsi0 (local-lvm:base-9000-disk-0)"), "{log:#?}");
    assert!(log.iter().any(|l| l == "transferred 3.5 GiB of 3.5 GiB (100.00%)"), "{log:#?}");
    let ((first, _), (second, _)) = tokio::join!(timed(151), timed(152));
    // Unshared, each would take half a second again; sharing, a second.
    let shared = Duration::from_millis(900);
    assert!(first >= shared && second >= shared, "alone {alone:?}, together {first:?} and {second:?}");
    // Another node's local-lvm is another disk: no sharing.
    assert_eq!(emu.emulator.transfers.running_on("pve1/local-lvm"), 0);

    // A linked clone copies nothing.
    let started = Instant::now();
    ok(&api, &api.clone_guest(QEMU, "pve1", 9000, 153, &Params::new()).await.unwrap()).await;
    assert!(started.elapsed() < Duration::from_millis(300));
    let _ = call(&api, Method::GET, "/version", Params::new()).await.unwrap();
}
