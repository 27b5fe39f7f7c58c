//! Disk moves: to another storage (the data follows, the old volume stays as `unusedN` or is
//! freed with `delete`), to another guest, a container's volumes, and `unlink`.

mod common;

use common::*;
use pve_api::{ApiError, Params};
use reqwest::Method;

#[tokio::test]
async fn a_vm_disk_moves_to_another_storage_with_its_data() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    full_clone(&api, 100, "app").await;
    let data = data_of(&emu, "pve1", "local-lvm:vm-100-disk-0").unwrap();
    let path = "/nodes/pve1/qemu/100/move_disk";

    // Kept: the old volume becomes unused0.
    let upid = task(&api, path, Params::new().set("disk", "scsi0").set("storage", "local-zfs")).await.unwrap();
    assert_eq!((upid.task_type.as_str(), upid.id.as_str()), ("qmmove", "100"));
    let log = ok(&api, &upid).await;
    assert!(log.iter().any(|l| l == "create full clone of drive scsi0 (local-lvm:vm-100-disk-0)"), "{log:#?}");
    assert!(log.iter().any(|l| l == "adding source volume 'local-lvm:vm-100-disk-0' as 'unused0' to config"), "{log:#?}");
    let config = api.guest_config(QEMU, "pve1", 100).await.unwrap();
    assert_eq!(config.get_str("scsi0").as_deref(), Some("local-zfs:vm-100-disk-0,size=3584M"));
    assert_eq!(config.get_str("unused0").as_deref(), Some("local-lvm:vm-100-disk-0"));
    assert_eq!(data_of(&emu, "pve1", "local-zfs:vm-100-disk-0").as_deref(), Some(data.as_str()), "the data was copied");
    assert!(volume_exists(&emu, "pve1", "local-lvm:vm-100-disk-0"));

    // Deleted: the old volume is freed. A running VM's disk moves too (drive-mirror).
    ok(&api, &api.guest_action(QEMU, "pve1", 100, "start", &Params::new()).await.unwrap()).await;
    let upid = task(&api, path, Params::new().set("disk", "scsi0").set("storage", "local-lvm").flag("delete", true)).await.unwrap();
    let log = ok(&api, &upid).await;
    assert!(log.iter().any(|l| l == "removing source volume 'local-zfs:vm-100-disk-0' after successful copy"), "{log:#?}");
    let config = api.guest_config(QEMU, "pve1", 100).await.unwrap();
    assert_eq!(config.get_str("scsi0").as_deref(), Some("local-lvm:vm-100-disk-1,size=3584M"));
    assert!(config.get_str("unused1").is_none());
    assert!(!volume_exists(&emu, "pve1", "local-zfs:vm-100-disk-0"), "freed with delete=1");
    assert_eq!(data_of(&emu, "pve1", "local-lvm:vm-100-disk-1").as_deref(), Some(data.as_str()));

    // PVE's refusals.
    let same = task(&api, path, Params::new().set("disk", "scsi0").set("storage", "local-lvm")).await.unwrap_err();
    assert_eq!(same.message(), "you can't move to the same storage with same format");
    let cdrom = task(&api, path, Params::new().set("disk", "ide2").set("storage", "local-zfs")).await;
    assert!(cdrom.is_ok(), "the cloud-init drive moves");
    ok(&api, &cdrom.unwrap()).await;
    let missing = task(&api, path, Params::new().set("disk", "scsi5").set("storage", "local-zfs")).await.unwrap_err();
    assert_eq!(missing.message(), "disk 'scsi5' does not exist");
    let images = task(&api, path, Params::new().set("disk", "scsi0").set("storage", "backup")).await.unwrap_err();
    assert!(
        matches!(&images, ApiError::Parameters { errors, .. } if errors["storage"].trim() == "storage 'backup' does not support vm images"),
        "{images:?}"
    );
    let both = task(&api, path, Params::new().set("disk", "scsi0").set("storage", "local-zfs").set("target-vmid", 101)).await.unwrap_err();
    assert!(
        matches!(&both, ApiError::Parameters { errors, .. } if errors["storage"].trim() == "either set 'storage' or 'target-vmid', but not both"),
        "{both:?}"
    );
    let neither = task(&api, path, Params::new().set("disk", "scsi0")).await.unwrap_err();
    assert!(matches!(&neither, ApiError::Parameters { errors, .. } if errors.contains_key("target-vmid")), "{neither:?}");
}

#[tokio::test]
async fn a_disk_moves_to_another_vm_on_the_node() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    full_clone(&api, 100, "donor").await;
    full_clone(&api, 101, "taker").await;
    api.update_config(QEMU, "pve1", 100, &Params::new().set("scsi1", "local-lvm:2")).await.unwrap();
    let data = data_of(&emu, "pve1", "local-lvm:vm-100-disk-1").unwrap();
    let path = "/nodes/pve1/qemu/100/move_disk";
    let upid = task(&api, path, Params::new().set("disk", "scsi1").set("target-vmid", 101).set("target-disk", "scsi2")).await.unwrap();
    assert_eq!(upid.id, "100-scsi1>101-scsi2");
    ok(&api, &upid).await;
    assert!(api.guest_config(QEMU, "pve1", 100).await.unwrap().get_str("scsi1").is_none());
    let taker = api.guest_config(QEMU, "pve1", 101).await.unwrap();
    assert_eq!(taker.get_str("scsi2").as_deref(), Some("local-lvm:vm-101-disk-1,size=2G"));
    assert_eq!(data_of(&emu, "pve1", "local-lvm:vm-101-disk-1").as_deref(), Some(data.as_str()), "renamed, not copied");

    let taken = task(&api, path, Params::new().set("disk", "scsi0").set("target-vmid", 101)).await.unwrap_err();
    assert_eq!(taken.message(), "Target disk key 'scsi0' is already in use for VM '101'");
    let itself = task(&api, path, Params::new().set("disk", "scsi0").set("target-vmid", 100)).await.unwrap_err();
    assert!(
        matches!(&itself, ApiError::Parameters { errors, .. } if errors["target-vmid"].trim() == "must be different than source VMID to reassign disk")
    );
    let template =
        task(&api, path, Params::new().set("disk", "scsi0").set("target-vmid", 9000).set("target-disk", "scsi5")).await.unwrap_err();
    assert_eq!(template.message(), "Can't move disks from or to template VMs");
    ok(&api, &api.guest_action(QEMU, "pve1", 100, "start", &Params::new()).await.unwrap()).await;
    let running =
        task(&api, path, Params::new().set("disk", "scsi0").set("target-vmid", 101).set("target-disk", "scsi3")).await.unwrap_err();
    assert_eq!(running.message(), "Cannot move disk to another VM while the source VM is running - detach first");
}

#[tokio::test]
async fn a_container_moves_its_volumes_only_while_stopped() {
    let emu = emulator(|c| c.task_ms = 200).await;
    let api = client(&emu);
    let create = api
        .create_guest(
            LXC,
            "pve1",
            &Params::new()
                .set("vmid", 200)
                .set("ostemplate", "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")
                .set("rootfs", "local-lvm:8"),
        )
        .await
        .unwrap();
    ok(&api, &create).await;
    let data = data_of(&emu, "pve1", "local-lvm:vm-200-disk-0").unwrap();
    let path = "/nodes/pve1/lxc/200/move_volume";
    let upid = task(&api, path, Params::new().set("volume", "rootfs").set("storage", "local-zfs")).await.unwrap();
    assert_eq!(upid.task_type, "move_volume");
    let during = api.update_config(LXC, "pve1", 200, &Params::new().set("memory", 1024)).await.unwrap_err();
    assert_eq!(during.message(), "CT is locked (disk)");
    ok(&api, &upid).await;
    let config = api.guest_config(LXC, "pve1", 200).await.unwrap();
    assert_eq!(config.get_str("rootfs").as_deref(), Some("local-zfs:vm-200-disk-0,size=8G"));
    assert_eq!(config.get_str("unused0").as_deref(), Some("local-lvm:vm-200-disk-0"));
    assert_eq!(config.get_str("lock"), None);
    assert_eq!(data_of(&emu, "pve1", "local-zfs:vm-200-disk-0").as_deref(), Some(data.as_str()));

    let unused = task(&api, path, Params::new().set("volume", "unused0").set("storage", "local-zfs")).await.unwrap_err();
    assert_eq!(unused.message(), "cannot move volume 'unused0', only configured volumes can be moved to another storage");
    let both =
        task(&api, path, Params::new().set("volume", "rootfs").set("storage", "local-lvm").set("target-vmid", 201)).await.unwrap_err();
    assert_eq!(both.message(), "either set storage or target-vmid, but not both");
    ok(&api, &api.guest_action(LXC, "pve1", 200, "start", &Params::new()).await.unwrap()).await;
    let running = task(&api, path, Params::new().set("volume", "rootfs").set("storage", "local-lvm")).await.unwrap_err();
    assert_eq!(running.message(), "cannot move volumes of a running container");
}

#[tokio::test]
async fn unlink_detaches_or_destroys_disks() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    full_clone(&api, 100, "app").await;
    api.update_config(QEMU, "pve1", 100, &Params::new().set("scsi1", "local-lvm:2").set("scsi2", "local-lvm:2")).await.unwrap();
    let unlink = |idlist: &'static str, force: bool| {
        let api = api.clone();
        async move { call(&api, Method::PUT, "/nodes/pve1/qemu/100/unlink", Params::new().set("idlist", idlist).flag("force", force)).await }
    };
    unlink("scsi1", false).await.unwrap();
    let config = api.guest_config(QEMU, "pve1", 100).await.unwrap();
    assert_eq!(config.get_str("unused0").as_deref(), Some("local-lvm:vm-100-disk-1"), "without force the disk is detached");
    unlink("scsi2,unused0", true).await.unwrap();
    let config = api.guest_config(QEMU, "pve1", 100).await.unwrap();
    assert!(config.get_str("scsi2").is_none() && config.get_str("unused0").is_none() && config.get_str("unused1").is_none());
    assert!(!volume_exists(&emu, "pve1", "local-lvm:vm-100-disk-1") && !volume_exists(&emu, "pve1", "local-lvm:vm-100-disk-2"));
}
