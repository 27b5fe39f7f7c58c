//! Migration between nodes: offline with local disks copied to the target's storage, online,
//! containers in restart mode, PVE's refusals, HA-managed guests handed to the HA manager, and
//! the precondition check.

mod common;

use std::time::{Duration, Instant};

use common::*;
use pve_api::{ApiError, Params};
use reqwest::Method;

fn migrate_path(kind: &str, node: &str, vmid: u64) -> String {
    format!("/nodes/{node}/{kind}/{vmid}/migrate")
}

#[tokio::test]
async fn offline_migration_moves_local_disks_to_the_target_storage_and_takes_time() {
    let emu = emulator(|c| {
        c.task_ms = 10;
        c.storage_mbps = 7168;
    })
    .await;
    let api = client(&emu);
    full_clone(&api, 120, "app").await;
    let disk = "local-lvm:vm-120-disk-0";
    let data = data_of(&emu, "pve1", disk).expect("a full clone holds the template's data");

    let started = Instant::now();
    let upid = task(&api, &migrate_path("qemu", "pve1", 120), Params::new().set("target", "pve2").set("targetstorage", "local-zfs"))
        .await
        .unwrap();
    assert_eq!((upid.task_type.as_str(), upid.node.as_str(), upid.id.as_str()), ("qmigrate", "pve1", "120"));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let during = api.guest_config(QEMU, "pve1", 120).await.unwrap();
    assert_eq!(during.get_str("lock").as_deref(), Some("migrate"), "locked during the copy");
    let other = client(&emu);
    let busy = tokio::spawn(async move { other.update_config(QEMU, "pve1", 120, &Params::new().set("cores", 4)).await });
    let log = ok(&api, &upid).await;
    let busy = busy.await.unwrap().unwrap_err();
    assert!(busy.is_not_found(), "a config change waits for the migration, then finds the VM gone from pve1: {busy}");
    assert!(started.elapsed() >= Duration::from_millis(450), "3.5 GiB at 7 GiB/s: {:?}", started.elapsed());

    assert!(log.iter().any(|l| l.ends_with("starting migration of VM 120 to node 'pve2' (10.10.10.2)")), "{log:#?}");
    assert!(log.iter().any(|l| l.ends_with("found local disk 'local-lvm:vm-120-disk-0' (attached)")), "{log:#?}");
    assert!(log.iter().any(|l| l.ends_with("volume 'local-lvm:vm-120-disk-0' is 'local-zfs:vm-120-disk-0' on the target")), "{log:#?}");
    assert!(log.iter().any(|l| l.contains("migration finished successfully (duration 00:00:0")), "{log:#?}");

    assert!(api.guest_config(QEMU, "pve1", 120).await.unwrap_err().is_not_found());
    let moved = api.guest_config(QEMU, "pve2", 120).await.unwrap();
    assert_eq!(moved.get_str("scsi0").as_deref(), Some("local-zfs:vm-120-disk-0,size=3584M"));
    assert_eq!(moved.get_str("ide2").as_deref(), Some("local-zfs:vm-120-cloudinit,media=cdrom"));
    assert_eq!(moved.get_str("lock"), None);
    assert_eq!(data_of(&emu, "pve2", "local-zfs:vm-120-disk-0").as_deref(), Some(data.as_str()), "the data moved along");
    assert!(!volume_exists(&emu, "pve1", disk), "the old volume is freed");
    assert_eq!(api.locate_guest(120).await.unwrap().unwrap().node, "pve2");

    // Without a storage map the volume keeps its storage and name, now on the target node.
    let back = task(&api, &migrate_path("qemu", "pve2", 120), Params::new().set("target", "pve1")).await.unwrap();
    ok(&api, &back).await;
    assert_eq!(api.guest_config(QEMU, "pve1", 120).await.unwrap().get_str("scsi0").as_deref(), Some("local-zfs:vm-120-disk-0,size=3584M"));
    assert!(volume_exists(&emu, "pve1", "local-zfs:vm-120-disk-0") && !volume_exists(&emu, "pve2", "local-zfs:vm-120-disk-0"));
}

#[tokio::test]
async fn pve_refuses_what_cannot_be_migrated() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    full_clone(&api, 130, "db").await;
    let path = migrate_path("qemu", "pve1", 130);

    let same = task(&api, &path, Params::new().set("target", "pve1")).await.unwrap_err();
    assert!(matches!(&same, ApiError::Parameters { errors, .. } if errors["target"].trim() == "target is local node."), "{same:?}");
    let unknown = task(&api, &path, Params::new().set("target", "pve9")).await.unwrap_err();
    assert_eq!(unknown.message(), "no such cluster node 'pve9'");
    let bad_map = task(&api, &path, Params::new().set("target", "pve2").set("targetstorage", "1,local-zfs")).await.unwrap_err();
    assert!(
        matches!(&bad_map, ApiError::Parameters { errors, .. } if errors["targetstorage"].trim() == "failed to parse storage map: identity mapping cannot be combined with other mappings"),
        "{bad_map:?}"
    );
    let no_storage = task(&api, &path, Params::new().set("target", "pve2").set("targetstorage", "nas")).await.unwrap_err();
    assert_eq!(no_storage.message(), "storage 'nas' does not exist");
    let no_images = task(&api, &path, Params::new().set("target", "pve2").set("targetstorage", "backup")).await.unwrap_err();
    assert_eq!(no_images.message(), "storage 'backup' does not support vm images");
    emu.emulator.cluster().storages.get_mut("local-zfs").unwrap().nodes = Some(vec!["pve1".into(), "pve2".into()]);
    let not_there = task(&api, &path, Params::new().set("target", "pve3").set("targetstorage", "local-zfs")).await.unwrap_err();
    assert_eq!(not_there.message(), "storage 'local-zfs' is not available on node 'pve3'");
    let preconditions = get(&api, &path).await;
    assert_eq!(preconditions["allowed_nodes"], serde_json::json!(["pve2", "pve3"]), "{preconditions}");
    assert_eq!(preconditions["local_disks"].as_array().unwrap().len(), 2, "{preconditions}");

    ok(&api, &api.guest_action(QEMU, "pve1", 130, "start", &Params::new()).await.unwrap()).await;
    let running = task(&api, &path, Params::new().set("target", "pve2")).await.unwrap_err();
    assert_eq!(running.message(), "can't migrate running VM without --online");
    // Live, the local disks need with-local-disks.
    let online = task(&api, &path, Params::new().set("target", "pve2").flag("online", true)).await.unwrap();
    let (status, log) = finish(&api, &online).await;
    assert_eq!(status, "migration aborted");
    assert!(
        log.iter().any(|l| l.ends_with(
            "can't migrate local disk 'local-lvm:vm-130-disk-0': can't live migrate attached local disks without with-local-disks option"
        )),
        "{log:#?}"
    );
    assert!(log.iter().any(|l| l.contains("ERROR: migration aborted (duration")), "{log:#?}");
    assert_eq!(api.guest_config(QEMU, "pve1", 130).await.unwrap().get_str("lock"), None, "the lock is cleared again");
    let live = task(&api, &path, Params::new().set("target", "pve2").flag("online", true).flag("with-local-disks", true)).await.unwrap();
    let log = ok(&api, &live).await;
    assert!(log.iter().any(|l| l.contains("starting online/live migration")), "{log:#?}");
    assert!(api.guest_status(QEMU, "pve2", 130).await.unwrap().status == "running", "still running, now on pve2");

    // A linked clone cannot leave its base's node.
    let linked = api.clone_guest(QEMU, "pve1", 9000, 131, &Params::new()).await.unwrap();
    ok(&api, &linked).await;
    let upid = task(&api, &migrate_path("qemu", "pve1", 131), Params::new().set("target", "pve2")).await.unwrap();
    let (status, log) = finish(&api, &upid).await;
    assert_eq!(status, "migration aborted");
    assert!(
        log.iter().any(|l| l.ends_with(
            "ERROR: Problem found while scanning volumes - can't migrate 'local-lvm:base-9000-disk-0/vm-131-disk-0' as it's a clone of 'base-9000-disk-0'"
        )),
        "{log:#?}"
    );
    // And the template, while it has linked clones, neither.
    let upid = task(&api, &migrate_path("qemu", "pve1", 9000), Params::new().set("target", "pve2")).await.unwrap();
    let (status, log) = finish(&api, &upid).await;
    assert_eq!(status, "migration aborted");
    assert!(
        log.iter().any(|l| l.ends_with("can't migrate local disk 'local-lvm:base-9000-disk-0': referenced by linked clone(s)")),
        "{log:#?}"
    );
}

#[tokio::test]
async fn containers_migrate_in_restart_mode() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    let create = api
        .create_guest(
            LXC,
            "pve1",
            &Params::new()
                .set("vmid", 200)
                .set("ostemplate", "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")
                .set("rootfs", "local-lvm:8")
                .flag("start", true),
        )
        .await
        .unwrap();
    ok(&api, &create).await;
    let path = migrate_path("lxc", "pve1", 200);
    let refused = task(&api, &path, Params::new().set("target", "pve2")).await.unwrap_err();
    assert_eq!(refused.message(), "can't migrate running container without --online or --restart");
    let live = task(&api, &path, Params::new().set("target", "pve2").flag("online", true)).await.unwrap();
    let (status, log) = finish(&api, &live).await;
    assert_eq!(status, "migration aborted");
    assert!(log.iter().any(|l| l.contains("lxc live migration is currently not implemented")), "{log:#?}");

    let restart =
        task(&api, &path, Params::new().set("target", "pve2").flag("restart", true).set("target-storage", "local-zfs")).await.unwrap();
    assert_eq!(restart.task_type, "vzmigrate");
    let log = ok(&api, &restart).await;
    assert!(log.iter().any(|l| l.ends_with("shutdown CT 200")), "{log:#?}");
    let config = api.guest_config(LXC, "pve2", 200).await.unwrap();
    assert_eq!(config.get_str("rootfs").as_deref(), Some("local-zfs:vm-200-disk-0,size=8G"));
    assert_eq!(api.guest_status(LXC, "pve2", 200).await.unwrap().status, "running", "started again on the target");
}

#[tokio::test]
async fn an_ha_managed_guest_is_migrated_by_the_ha_manager() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    full_clone(&api, 140, "web").await;
    api.create_ha_resource(&Params::new().set("sid", "vm:140")).await.unwrap();
    // HA starts a resource whose state is `started`.
    eventually("HA starts vm:140", async || api.guest_status(QEMU, "pve1", 140).await.is_ok_and(|s| s.status == "running")).await;

    // qemu-server checks `online` before it hands the guest to HA.
    let refused = task(&api, &migrate_path("qemu", "pve1", 140), Params::new().set("target", "pve3")).await.unwrap_err();
    assert_eq!(refused.message(), "can't migrate running VM without --online");
    let upid = task(&api, &migrate_path("qemu", "pve1", 140), Params::new().set("target", "pve3").flag("online", true)).await.unwrap();
    assert_eq!(upid.task_type, "hamigrate");
    let log = ok(&api, &upid).await;
    assert!(log.iter().any(|l| l == "Requesting HA migration for VM 140 to node pve3"), "{log:#?}");
    eventually("the HA manager migrates vm:140 to pve3", async || {
        api.locate_guest(140).await.unwrap().is_some_and(|g| g.node == "pve3" && g.running)
    })
    .await;
    let migrations = api.node_tasks("pve1", &Params::new().set("typefilter", "qmigrate").set("source", "all")).await.unwrap();
    assert_eq!(migrations.len(), 1);
    assert_eq!(migrations[0].upid.split(":").nth(7), Some("root@pam"), "the LRM runs the migration");
    let syslog = get(&api, "/nodes/pve1/syslog").await;
    assert!(syslog.to_string().contains("got crm command: migrate vm:140 pve3"), "{syslog}");
    let _ = call(&api, Method::GET, "/cluster/ha/status/current", Params::new()).await.unwrap();
}
