//! pve-api against a running emulator: the client's behaviour and the emulator's PVE semantics.

use std::time::Duration;

use pve_api::{ApiError, ClientConfig, Credentials, GuestKind, Params, PveClient, RetryPolicy, Secret, TaskWait};
use pve_home_tests::{TOKEN, client, client_with, emulator, request_log};

const QEMU: GuestKind = GuestKind::Qemu;

fn wait() -> TaskWait {
    TaskWait::with_timeout(Duration::from_secs(30))
}

#[tokio::test]
async fn create_vm_then_update_with_digest() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    let params = Params::new()
        .set("vmid", 120)
        .set("name", "db1")
        .set("cores", 2)
        .set("memory", 4096)
        .set("scsihw", "virtio-scsi-pci")
        .set("scsi0", "local-lvm:32,iothread=1")
        .set("net0", "virtio,bridge=vmbr0")
        .set("tags", "Prod;db;prod");
    let upid = api.create_guest(QEMU, "pve1", &params).await.unwrap();
    assert_eq!(upid.task_type, "qmcreate");
    api.wait_task(&upid, wait()).await.unwrap();

    let config = api.guest_config(QEMU, "pve1", 120).await.unwrap();
    assert_eq!(config.get_str("tags").as_deref(), Some("db;prod"), "tags are normalised");
    assert_eq!(config.get_str("scsi0").as_deref(), Some("local-lvm:vm-120-disk-0,iothread=1,size=32G"));
    assert!(config.get_str("net0").unwrap().starts_with("virtio=BC:24:11:"), "a MAC was generated");
    assert_eq!(config.values["cores"], serde_json::json!(2), "integers are typed per schema");
    assert_eq!(config.digest.len(), 40);

    api.update_config(QEMU, "pve1", 120, &Params::new().set("memory", 8192).set("digest", &config.digest)).await.unwrap();
    let stale = api.update_config(QEMU, "pve1", 120, &Params::new().set("cores", 4).set("digest", &config.digest)).await.unwrap_err();
    assert!(stale.is_digest_mismatch(), "{stale}");
    assert_eq!(api.guest_config(QEMU, "pve1", 120).await.unwrap().get_str("memory").as_deref(), Some("8192"));

    let shrink = api.resize_disk(QEMU, "pve1", 120, "scsi0", "16G", None).await.unwrap_err();
    assert!(shrink.to_string().contains("shrinking disks is not supported"), "{shrink}");
    let grow = api.resize_disk(QEMU, "pve1", 120, "scsi0", "+8G", None).await.unwrap().unwrap();
    api.wait_task(&grow, wait()).await.unwrap();
    assert!(api.guest_config(QEMU, "pve1", 120).await.unwrap().get_str("scsi0").unwrap().ends_with("size=40G"));
}

#[tokio::test]
async fn bad_parameters_come_back_per_parameter() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    let err = api.create_guest(QEMU, "pve1", &Params::new().set("vmid", 50).set("memory", 8).set("tags", "-bad")).await.unwrap_err();
    let ApiError::Parameters { errors, .. } = &err else { panic!("{err:?}") };
    assert_eq!(errors["vmid"].trim(), "invalid format - value does not look like a valid VM ID");
    assert_eq!(errors["memory"].trim(), "invalid format - format error\nmemory.current: value must have a minimum value of 16");
    assert_eq!(errors["tags"].trim(), "invalid format - invalid characters in tag");
    assert!(err.to_string().starts_with("POST /nodes/pve1/qemu: parameter verification failed"), "{err}");

    let taken = api.next_id(Some(9000)).await.unwrap_err();
    assert!(matches!(&taken, ApiError::Parameters { errors, .. } if errors["vmid"].contains("already exists")), "{taken}");
    assert_eq!(api.next_id(None).await.unwrap(), 100);

    let missing = api.guest_config(QEMU, "pve1", 4242).await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    let unknown = api.get::<serde_json::Value>("/nodes/pve1/nothing-here", &Params::new()).await.unwrap_err();
    assert!(matches!(unknown, ApiError::NotImplemented { .. }), "{unknown:?}");
}

#[tokio::test]
async fn linked_clone_of_template_and_protection() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    let upid = api.clone_guest(QEMU, "pve1", 9000, 101, &Params::new().set("name", "web1")).await.unwrap();
    assert_eq!((upid.task_type.as_str(), upid.id.as_str()), ("qmclone", "9000"));
    // The new guest exists at once, locked, so nobody else takes its VMID.
    let during = api.guest_config(QEMU, "pve1", 101).await.unwrap();
    assert_eq!(during.get_str("lock").as_deref(), Some("clone"));
    assert_eq!(api.next_id(None).await.unwrap(), 100);
    api.wait_task(&upid, wait()).await.unwrap();
    let config = api.guest_config(QEMU, "pve1", 101).await.unwrap();
    assert_eq!(config.get_str("lock"), None);
    assert_eq!(config.get_str("scsi0").as_deref(), Some("local-lvm:base-9000-disk-0/vm-101-disk-0,size=3584M"));
    assert_eq!(config.get_str("ide2").as_deref(), Some("local-lvm:vm-101-cloudinit,media=cdrom"));

    let cross_node = api.clone_guest(QEMU, "pve1", 9000, 102, &Params::new().set("target", "pve2")).await.unwrap_err();
    assert!(cross_node.message().contains("uses local storage"), "{cross_node}");
    // As qemu-server: a target storage must be shared, and the source's volumes are judged by
    // their own storage, whatever the target storage.
    let to_local = Params::new().set("target", "pve2").flag("full", true).set("storage", "local-lvm");
    let refused = api.clone_guest(QEMU, "pve1", 9000, 102, &to_local).await.unwrap_err();
    assert_eq!(refused.message().trim(), "can't clone to non-shared storage 'local-lvm'");
    emu.emulator.cluster().storages.insert(
        "ceph".into(),
        pve_emulator::model::StorageDef {
            storage_type: "rbd".into(),
            content: vec!["images".into()],
            shared: true,
            total: 1 << 40,
            path: None,
            nodes: None,
        },
    );
    let to_shared = Params::new().set("target", "pve2").flag("full", true).set("storage", "ceph");
    let refused = api.clone_guest(QEMU, "pve1", 9000, 102, &to_shared).await.unwrap_err();
    assert_eq!(refused.message().trim(), "can't clone VM to node 'pve2' (VM uses local storage)");

    api.update_config(QEMU, "pve1", 101, &Params::new().flag("protection", true)).await.unwrap();
    let refused = api.delete_guest(QEMU, "pve1", 101, true).await.unwrap_err();
    assert!(refused.message().contains("protection mode enabled"), "{refused}");
    let template_busy = api.delete_guest(QEMU, "pve1", 9000, true).await;
    assert!(template_busy.is_err(), "a template with linked clones cannot be destroyed");

    api.update_config(QEMU, "pve1", 101, &Params::new().set("delete", "protection")).await.unwrap();
    let upid = api.delete_guest(QEMU, "pve1", 101, true).await.unwrap();
    api.wait_task(&upid, wait()).await.unwrap();
    assert!(api.guest_config(QEMU, "pve1", 101).await.unwrap_err().is_not_found());
    assert!(api.locate_guest(101).await.unwrap().is_none());
}

#[tokio::test]
async fn lock_contention_times_out_like_pve_and_retries_recover() {
    // A full clone holds the new VMID's config lock for ~1.2 s; the lock wait gives up after 300 ms.
    let emu = emulator(|c| {
        c.task_ms = 400;
        c.lock_timeout_ms = 300;
    })
    .await;
    let no_retry = client_with(&emu, TOKEN, RetryPolicy::none());
    let clone = no_retry.clone_guest(QEMU, "pve1", 9000, 201, &Params::new().flag("full", true)).await.unwrap();
    let busy = no_retry.update_config(QEMU, "pve1", 201, &Params::new().set("cores", 4)).await.unwrap_err();
    assert!(busy.is_lock_timeout(), "{busy}");
    assert_eq!(busy.message(), "can't lock file '/var/lock/qemu-server/lock-201.conf' - got timeout");

    // The default policy resends: a lock timeout means PVE never acted on the request.
    let retrying = client(&emu);
    retrying.update_config(QEMU, "pve1", 201, &Params::new().set("cores", 4)).await.unwrap();
    retrying.wait_task(&clone, wait()).await.unwrap();
    let config = retrying.guest_config(QEMU, "pve1", 201).await.unwrap();
    assert!(config.get_str("scsi0").unwrap().starts_with("local-lvm:vm-201-disk-0"));
    assert_eq!(config.get_u64("cores"), Some(4));
}

#[tokio::test]
async fn locked_guest_refuses_config_changes() {
    let emu = emulator(|c| {
        c.task_ms = 600;
        c.lock_timeout_ms = 200;
    })
    .await;
    let api = client_with(&emu, TOKEN, RetryPolicy::none());
    let upid = api.clone_guest(QEMU, "pve1", 9000, 150, &Params::new()).await.unwrap();
    let err = api.update_config(QEMU, "pve1", 150, &Params::new().set("cores", 4).set("skiplock", 0)).await.unwrap_err();
    // The clone task holds the new VM's config lock, so this request waits and then times out.
    assert!(err.is_lock_timeout(), "{err}");
    api.wait_task(&upid, wait()).await.unwrap();
    api.update_config(QEMU, "pve1", 150, &Params::new().set("cores", 4)).await.unwrap();
}

#[tokio::test]
async fn snapshot_tree_and_rollback() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    let upid = api.clone_guest(QEMU, "pve1", 9000, 130, &Params::new().flag("full", true)).await.unwrap();
    api.wait_task(&upid, wait()).await.unwrap();
    for (name, cores) in [("first", 2), ("second", 4)] {
        api.update_config(QEMU, "pve1", 130, &Params::new().set("cores", cores)).await.unwrap();
        let upid = api.create_snapshot(QEMU, "pve1", 130, name, Some("test"), false).await.unwrap();
        api.wait_task(&upid, wait()).await.unwrap();
    }
    let duplicate = api.create_snapshot(QEMU, "pve1", 130, "first", None, false).await.unwrap_err();
    assert!(duplicate.message().contains("already used"), "{duplicate}");
    let snaps = api.snapshots(QEMU, "pve1", 130).await.unwrap();
    let second = snaps.iter().find(|s| s.name == "second").unwrap();
    assert_eq!(second.parent.as_deref(), Some("first"));
    assert_eq!(snaps.iter().find(|s| s.name == "current").unwrap().parent.as_deref(), Some("second"));

    api.update_config(QEMU, "pve1", 130, &Params::new().set("cores", 8)).await.unwrap();
    let upid = api.rollback_snapshot(QEMU, "pve1", 130, "first").await.unwrap();
    api.wait_task(&upid, wait()).await.unwrap();
    let config = api.guest_config(QEMU, "pve1", 130).await.unwrap();
    assert_eq!(config.get_u64("cores"), Some(2));
    assert_eq!(config.get_str("parent").as_deref(), Some("first"));

    let upid = api.delete_snapshot(QEMU, "pve1", 130, "first").await.unwrap();
    api.wait_task(&upid, wait()).await.unwrap();
    let snaps = api.snapshots(QEMU, "pve1", 130).await.unwrap();
    assert_eq!(snaps.iter().find(|s| s.name == "second").unwrap().parent, None, "children move up to the deleted snapshot's parent");
    assert!(api.create_snapshot(QEMU, "pve1", 130, "current", None, false).await.is_err());
}

#[tokio::test]
async fn backup_then_restore_to_a_new_vmid() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    let upid = api.clone_guest(QEMU, "pve1", 9000, 140, &Params::new().flag("full", true).set("name", "app")).await.unwrap();
    api.wait_task(&upid, wait()).await.unwrap();
    api.update_config(QEMU, "pve1", 140, &Params::new().set("memory", 3072)).await.unwrap();

    let upid = api
        .vzdump(
            "pve1",
            &Params::new()
                .set("vmid", 140)
                .set("storage", "backup")
                .set("compress", "zstd")
                .set("mode", "snapshot")
                .set("notes-template", "{{guestname}} on {{node}}"),
        )
        .await
        .unwrap();
    api.wait_task(&upid, wait()).await.unwrap();
    let backups = api.storage_content("pve2", "backup", Some("backup"), Some(140)).await.unwrap();
    assert_eq!(backups.len(), 1, "shared backup storage is visible from every node");
    let archive = &backups[0];
    assert!(archive.volid.starts_with("backup:backup/vzdump-qemu-140-") && archive.volid.ends_with(".vma.zst"), "{}", archive.volid);
    assert_eq!(archive.notes.as_deref(), Some("app on pve1"));
    assert_eq!(archive.subtype.as_deref(), Some("qemu"));

    let exists = api.create_guest(QEMU, "pve1", &Params::new().set("vmid", 140).set("archive", &archive.volid)).await.unwrap_err();
    assert!(exists.is_already_exists(), "restoring over an existing guest needs force: {exists}");
    let upid = api
        .create_guest(QEMU, "pve1", &Params::new().set("vmid", 141).set("archive", &archive.volid).set("storage", "local-zfs"))
        .await
        .unwrap();
    assert_eq!(upid.task_type, "qmrestore");
    api.wait_task(&upid, wait()).await.unwrap();
    let restored = api.guest_config(QEMU, "pve1", 141).await.unwrap();
    assert_eq!(restored.get_str("memory").as_deref(), Some("3072"));
    assert_eq!(restored.get_str("name").as_deref(), Some("app"));
    assert!(restored.get_str("scsi0").unwrap().starts_with("local-zfs:vm-141-disk-0"), "{:?}", restored.get_str("scsi0"));
}

#[tokio::test]
async fn injected_faults_are_recovered_by_retries() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let path = log.path().to_path_buf();
    let emu = emulator(|c| {
        c.error_rate = 0.2;
        c.proxy_error_rate = 0.1;
        c.reset_rate = 0.1;
        c.seed = 7;
        c.request_log = Some(path.clone());
    })
    .await;
    let mut config = ClientConfig::new(&emu.url, Credentials::api_token(TOKEN).unwrap());
    config.insecure_http = true;
    config.retry =
        RetryPolicy { initial_backoff: Duration::from_millis(5), max_backoff: Duration::from_millis(50), ..RetryPolicy::default() };
    let api = PveClient::new(config).unwrap();
    for _ in 0..40 {
        let resources = api.cluster_resources(Some("vm")).await.unwrap();
        assert!(resources.iter().any(|r| r.vmid == Some(9000)));
    }
    let statuses: Vec<u64> = request_log(&path).iter().map(|l| l["status"].as_u64().unwrap()).collect();
    let failed = statuses.iter().filter(|s| **s != 200).count();
    assert!(failed >= 8, "faults were injected ({failed} of {})", statuses.len());
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 40);
    assert!(statuses.contains(&596) && statuses.contains(&500) && statuses.contains(&0), "{statuses:?}");
}

#[tokio::test]
async fn creates_are_not_resent_after_ambiguous_failures() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let path = log.path().to_path_buf();
    let emu = emulator(|c| {
        c.error_rate = 1.0;
        c.request_log = Some(path.clone());
    })
    .await;
    let api = client(&emu);
    let err = api.create_guest(QEMU, "pve1", &Params::new().set("vmid", 300)).await.unwrap_err();
    assert!(matches!(err, ApiError::Server { status: 500, .. }), "{err:?}");
    let posts = request_log(&path).iter().filter(|l| l["method"] == "POST").count();
    assert_eq!(posts, 1, "a 500 on a create may have been applied, so it is not resent");
    // A read is idempotent: the same fault is retried until the policy gives up.
    let read =
        client_with(&emu, TOKEN, RetryPolicy { max_attempts: 3, initial_backoff: Duration::from_millis(1), ..RetryPolicy::default() });
    assert!(matches!(read.version().await.unwrap_err(), ApiError::RetriesExhausted { attempts: 3, .. }));
}

#[tokio::test]
async fn task_failures_carry_the_log_tail_and_undo_the_clone() {
    let emu = emulator(|c| c.permanent_task_failure_rate = 1.0).await;
    let api = client(&emu);
    let upid = api.clone_guest(QEMU, "pve1", 9000, 160, &Params::new()).await.unwrap();
    let err = api.wait_task(&upid, wait()).await.unwrap_err();
    let ApiError::TaskFailed { exitstatus, log_tail, .. } = &err else { panic!("{err:?}") };
    assert!(exitstatus.contains("injected task failure"), "{exitstatus}");
    assert!(log_tail.iter().any(|l| l.starts_with("TASK ERROR:")), "{log_tail:?}");
    assert!(api.locate_guest(160).await.unwrap().is_none(), "a failed clone leaves no guest behind");
}

#[tokio::test]
async fn authentication_and_privileges() {
    let emu = emulator(|c| {
        c.tokens = vec![TOKEN.into(), "auditor@pve!ro=readonly-secret:ro".into()];
        c.users = vec!["admin@pve:correct horse".into()];
    })
    .await;
    let wrong = client_with(&emu, "root@pam!terraform=wrong", RetryPolicy::none());
    assert!(matches!(wrong.version().await.unwrap_err(), ApiError::Unauthorized { .. }));

    let read_only = client_with(&emu, "auditor@pve!ro=readonly-secret", RetryPolicy::none());
    assert_eq!(read_only.version().await.unwrap().version, "9.1.3");
    let denied = read_only.update_config(QEMU, "pve1", 9000, &Params::new().set("cores", 4)).await.unwrap_err();
    assert!(
        matches!(&denied, ApiError::Forbidden { message, .. } if message.starts_with("Permission check failed (/vms/9000, ")),
        "{denied:?}"
    );

    let password = |p: &str| {
        let mut config = ClientConfig::new(&emu.url, Credentials::Password { username: "admin@pve".into(), password: Secret::new(p) });
        config.insecure_http = true;
        PveClient::new(config).unwrap()
    };
    let ticket_client = password("correct horse");
    assert_eq!(ticket_client.nodes().await.unwrap().len(), 3);
    // Writes need the CSRF header the client sends along with the ticket cookie.
    ticket_client.create_pool("lab", Some("lab guests")).await.unwrap();
    assert_eq!(ticket_client.pool("lab").await.unwrap()["comment"], "lab guests");
    assert!(matches!(password("wrong").nodes().await.unwrap_err(), ApiError::Unauthorized { .. }));
}

#[tokio::test]
async fn tls_is_verified_unless_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("emulator.pem");
    let emu = emulator(|c| {
        c.plain_http = false;
        c.cert_out = Some(cert.clone());
    })
    .await;
    assert!(emu.url.starts_with("https://"));
    let config = || ClientConfig::new(&emu.url, Credentials::api_token(TOKEN).unwrap());

    // With the default retries: a refused certificate is not retried, and the error says why.
    let err = PveClient::new(config()).unwrap().version().await.unwrap_err();
    assert!(matches!(err, ApiError::Transport { .. }), "an unknown CA is refused at once, not retried: {err:?}");
    assert!(err.is_certificate_refusal() && err.to_string().contains("UnknownIssuer"), "the message names the cause: {err}");

    let mut with_ca = config();
    with_ca.ca_file = Some(cert);
    assert_eq!(PveClient::new(with_ca).unwrap().version().await.unwrap().release, "9.1");

    let mut insecure = config();
    insecure.insecure = true;
    assert_eq!(PveClient::new(insecure).unwrap().version().await.unwrap().release, "9.1");
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    {
        let emu = emulator(|c| c.state_file = Some(state.clone())).await;
        let api = client(&emu);
        let upid = api.clone_guest(QEMU, "pve1", 9000, 170, &Params::new().set("name", "keeper")).await.unwrap();
        api.wait_task(&upid, wait()).await.unwrap();
        api.create_backup_job(&Params::new().set("id", "nightly").set("schedule", "01:00").set("all", 1).set("storage", "backup"))
            .await
            .unwrap();
    }
    let emu = emulator(|c| c.state_file = Some(state.clone())).await;
    let api = client(&emu);
    assert_eq!(api.guest_config(QEMU, "pve1", 170).await.unwrap().get_str("name").as_deref(), Some("keeper"));
    let job = api.backup_job("nightly").await.unwrap();
    assert_eq!(job["schedule"], "01:00");
    assert!(job["next-run"].as_i64().unwrap() > chrono_now());
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn backup_job_rules_and_request_log_redaction() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let path = log.path().to_path_buf();
    let emu = emulator(|c| c.request_log = Some(path.clone())).await;
    let api = client(&emu);
    let conflict = api.create_backup_job(&Params::new().set("vmid", "100").set("all", 1).set("schedule", "daily")).await.unwrap_err();
    assert!(
        matches!(&conflict, ApiError::Parameters { errors, .. } if errors["all"].contains("conflicts with option 'vmid'")),
        "{conflict}"
    );
    let bad_schedule = api.create_backup_job(&Params::new().set("all", 1).set("schedule", "sun 25:00")).await.unwrap_err();
    assert!(matches!(&bad_schedule, ApiError::Parameters { errors, .. } if errors.contains_key("schedule")), "{bad_schedule}");
    let bad_storage =
        api.create_backup_job(&Params::new().set("all", 1).set("schedule", "sun 03:00").set("storage", "local-lvm")).await.unwrap_err();
    assert!(bad_storage.message().contains("does not support backup"), "{bad_storage}");
    api.create_backup_job(
        &Params::new()
            .set("id", "lab-weekly")
            .set("all", 1)
            .set("schedule", "sun 03:00")
            .set("storage", "backup")
            .set("prune-backups", "keep-weekly=3"),
    )
    .await
    .unwrap();
    let jobs = api.backup_jobs().await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["prune-backups"], "keep-weekly=3");

    let _ = api
        .create_guest(
            GuestKind::Lxc,
            "pve1",
            &Params::new()
                .set("vmid", 400)
                .set("ostemplate", "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")
                .set("password", "hunter2hunter2")
                .set("rootfs", "local-lvm:8")
                .set("net0", "name=eth0,bridge=vmbr0,ip=dhcp"),
        )
        .await
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("hunter2"), "passwords never reach the request log");
    assert!(text.contains("\"password\":\"<redacted>\""));
}

/// The typed calls against the emulator's answers: HA resources, backup jobs, pools, storage
/// definitions, bridges, pending changes, snapshot descriptions, volume attributes, the guest
/// agent and find_guest.
#[tokio::test]
async fn typed_answers_of_the_cluster_objects() {
    let emu = emulator(|_| {}).await;
    let api = client(&emu);
    let upid = api.clone_guest(QEMU, "pve1", 9000, 180, &Params::new().set("name", "typed")).await.unwrap();
    api.wait_task(&upid, wait()).await.unwrap();
    api.update_config(QEMU, "pve1", 180, &Params::new().set("agent", "1").set("tags", "env-lab")).await.unwrap();

    api.create_pool("lab", Some("lab guests")).await.unwrap();
    api.update_pool("lab", &Params::new().set("vms", 180)).await.unwrap();
    let pools = api.list_pools().await.unwrap();
    assert_eq!((pools[0].poolid.as_str(), pools[0].comment.as_deref()), ("lab", Some("lab guests")));
    let pool = api.read_pool("lab").await.unwrap();
    assert_eq!(pool.poolid, "lab", "filled in from the request");
    assert_eq!(pool.vmids(), vec![180]);
    assert_eq!(pool.members[0].guest_kind(), Some(QEMU));

    api.create_ha_resource(&Params::new().set("sid", "vm:180").set("state", "stopped").set("max_restart", 2)).await.unwrap();
    let ha = api.list_ha_resources().await.unwrap();
    assert_eq!(ha.len(), 1);
    assert_eq!((ha[0].sid.as_str(), ha[0].vmid(), ha[0].state.as_deref()), ("vm:180", Some(180), Some("stopped")));
    assert_eq!((ha[0].max_restart, ha[0].max_relocate), (Some(2), None));
    let one = api.read_ha_resource("180").await.unwrap();
    assert_eq!(one.sid, "vm:180", "a bare VMID names the resource");
    assert_eq!(one.digest.as_ref().map(String::len), Some(40));

    api.create_backup_job(
        &Params::new()
            .set("id", "lab-nightly")
            .set("pool", "lab")
            .set("schedule", "01:00")
            .set("storage", "backup")
            .set("compress", "zstd")
            .set("prune-backups", "keep-daily=7,keep-weekly=4")
            .set("notes-template", "{{guestname}}"),
    )
    .await
    .unwrap();
    api.create_backup_job(&Params::new().set("id", "paused").set("vmid", "180").set("schedule", "sun 03:00").flag("enabled", false))
        .await
        .unwrap();
    let jobs = api.list_backup_jobs().await.unwrap();
    let nightly = jobs.iter().find(|j| j.id == "lab-nightly").unwrap();
    assert!(nightly.is_enabled());
    assert_eq!(
        (nightly.pool.as_deref(), nightly.storage.as_deref(), nightly.compress.as_deref()),
        (Some("lab"), Some("backup"), Some("zstd"))
    );
    assert_eq!(nightly.prune_backups.as_deref(), Some("keep-daily=7,keep-weekly=4"));
    assert_eq!(nightly.notes_template.as_deref(), Some("{{guestname}}"));
    assert!(nightly.next_run.unwrap() as i64 > chrono_now());
    let paused = api.read_backup_job("paused").await.unwrap();
    assert!(!paused.is_enabled());
    assert_eq!((paused.vmids(), paused.next_run), (vec![180], None));
    assert!(api.read_backup_job("nope").await.unwrap_err().message().contains("does not exist"));

    let local = api.storage_config("local").await.unwrap();
    assert!(local.supports("snippets") && local.path.is_some());
    let thin = api.storage_config("local-lvm").await.unwrap();
    assert!(!thin.supports("backup") && thin.path.is_none());
    assert_eq!(thin.extra["vgname"], "pve");
    assert!(api.storage_config("nope").await.unwrap_err().message().contains("does not exist"));

    let bridges: Vec<String> = api.node_bridges("pve1").await.unwrap().into_iter().map(|i| i.iface).collect();
    assert_eq!(bridges, vec!["vmbr0", "vmbr1"]);
    assert_eq!(api.node_network("pve1", None).await.unwrap()[0].cidr.as_deref(), Some("10.10.10.1/24"));

    assert!(!api.guest_pending(QEMU, "pve1", 180).await.unwrap().iter().any(pve_api::PendingChange::is_pending));
    let upid = api.guest_action(QEMU, "pve1", 180, "start", &Params::new()).await.unwrap();
    api.wait_task(&upid, wait()).await.unwrap();
    api.update_config(QEMU, "pve1", 180, &Params::new().set("cores", 4)).await.unwrap();
    let pending = api.guest_pending(QEMU, "pve1", 180).await.unwrap();
    let cores = pending.iter().find(|p| p.key == "cores").unwrap();
    assert!(cores.is_pending() && cores.pending.as_deref() == Some("4"), "{cores:?}");

    api.agent_ping("pve1", 180).await.unwrap();
    let nics = api.agent_network_interfaces("pve1", 180).await.unwrap();
    assert_eq!(nics[0].name, "lo");
    assert!(nics.iter().any(|n| n.name == "eth0" && n.ip_addresses.iter().any(|a| a.ip_address_type == "ipv4")));
    assert!(api.agent_ping("pve1", 9000).await.is_err(), "a stopped template has no agent to answer");

    let located = api.locate_guest(180).await.unwrap().unwrap();
    assert_eq!((located.node.as_str(), located.name.as_str(), located.running), ("pve1", "typed", true));
    assert_eq!((located.pool.as_deref(), located.tags.clone(), located.template), (Some("lab"), vec!["env-lab".to_string()], false));
    let listing = api.cluster_resources(None).await.unwrap();
    assert_eq!(pve_api::find_guest(&listing, 180), Some(located), "a full listing reads the same");
    assert!(pve_api::find_guest(&listing, 9000).unwrap().template);

    let upid = api.create_snapshot(QEMU, "pve1", 180, "before", Some("first words"), false).await.unwrap();
    api.wait_task(&upid, wait()).await.unwrap();
    api.set_snapshot_description(QEMU, "pve1", 180, "before", "second words").await.unwrap();
    let snapshots = api.snapshots(QEMU, "pve1", 180).await.unwrap();
    assert_eq!(snapshots.iter().find(|s| s.name == "before").unwrap().description.as_deref(), Some("second words"));

    let upid = api.vzdump("pve1", &Params::new().set("vmid", 180).set("storage", "backup").set("compress", "zstd")).await.unwrap();
    api.wait_task(&upid, wait()).await.unwrap();
    let archive = api.storage_content("pve1", "backup", Some("backup"), Some(180)).await.unwrap().remove(0);
    let attributes = api.volume_attributes("pve1", "backup", &archive.volid).await.unwrap();
    assert_eq!(attributes.size, archive.size);
    assert!(attributes.path.is_some());
    assert!(api.volume_attributes("pve1", "backup", "backup:backup/vzdump-qemu-180-missing.vma.zst").await.is_err());
}
