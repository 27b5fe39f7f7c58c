//! Decoding of PVE's answers into the typed responses. The samples are what the emulator sends
//! and what PVE 9.1 sends (numbers as strings, property strings as objects, keys we do not model).

use serde_json::json;

use super::*;

fn decode<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).unwrap()
}

#[test]
fn ha_resources_decode_with_pve_defaults_left_unset() {
    let rows: Vec<HaResource> = decode(json!([
        // The emulator: integers typed per schema.
        { "sid": "vm:100", "type": "vm", "state": "started", "max_restart": 2, "max_relocate": 1, "group": "prefer-pve1",
          "comment": "database", "digest": "digest-of-vm-100" },
        // PVE: integers and booleans as strings, and a key this version of pve-api does not know.
        { "sid": "ct:200", "type": "ct", "state": "stopped", "max_restart": "0", "failback": "0", "node-affinity": "rule-1",
          "digest": "digest-of-ct-200" },
        { "sid": "vm:300" },
    ]));
    assert_eq!(rows[0].sid, "vm:100");
    assert_eq!(rows[0].vmid(), Some(100));
    assert_eq!(rows[0].resource_type.as_deref(), Some("vm"));
    assert_eq!((rows[0].max_restart, rows[0].max_relocate), (Some(2), Some(1)));
    assert_eq!(rows[0].group.as_deref(), Some("prefer-pve1"));
    assert_eq!(rows[0].comment.as_deref(), Some("database"));
    assert_eq!(rows[0].failback, None, "unset: PVE's default (true) applies");
    assert!(rows[0].extra.is_empty());

    assert_eq!(rows[1].vmid(), Some(200));
    assert_eq!(rows[1].max_restart, Some(0));
    assert_eq!(rows[1].failback, Some(false));
    assert_eq!(rows[1].extra["node-affinity"], "rule-1", "unknown keys are kept");

    assert_eq!(rows[2].state, None);
    assert_eq!(rows[2].max_relocate, None);
}

#[test]
fn backup_jobs_decode_every_selection_form() {
    let jobs: Vec<BackupJob> = decode(json!([
        // The emulator's answer for a job created with all=1 and a retention string.
        { "id": "lab-weekly", "type": "vzdump", "enabled": 1, "all": 1, "schedule": "sun 03:00", "storage": "backup",
          "prune-backups": "keep-weekly=3", "exclude": "9000", "next-run": 1_765_076_400 },
        // PVE 9.1: explicit VMIDs, retention as an object, options pve-api does not model.
        { "id": "backup-5d0d1a5e-2a1c", "type": "vzdump", "enabled": "1", "schedule": "mon..fri 01:00", "storage": "pbs",
          "vmid": "100,101;102", "mode": "stop", "compress": "zstd", "notes-template": "{{guestname}} on {{node}}",
          "mailto": "root@pam,ops@example.com", "mailnotification": "failure", "node": "pve2", "comment": "prod",
          "prune-backups": { "keep-daily": "7", "keep-last": 3 }, "fleecing": "enabled=1,storage=local-lvm",
          "repeat-missed": 1, "next-run": "1765155600" },
        // A disabled pool job: compress 0 sent as a number, a single VMID list as a number.
        { "id": "pool-job", "enabled": 0, "pool": "lab", "schedule": "daily", "compress": 0, "exclude": 104 },
    ]));
    let lab = &jobs[0];
    assert!(lab.is_enabled() && lab.all == Some(true));
    assert_eq!(lab.schedule.as_deref(), Some("sun 03:00"));
    assert_eq!(lab.prune_backups.as_deref(), Some("keep-weekly=3"));
    assert_eq!(lab.excluded(), vec![9000]);
    assert!(lab.vmids().is_empty());
    assert_eq!(lab.next_run, Some(1_765_076_400));
    assert_eq!((lab.mode.as_deref(), lab.compress.as_deref()), (None, None), "PVE's defaults are left to the caller");

    let prod = &jobs[1];
    assert_eq!(prod.vmids(), vec![100, 101, 102]);
    assert_eq!(prod.all, None);
    assert_eq!(prod.mode.as_deref(), Some("stop"));
    assert_eq!(prod.compress.as_deref(), Some("zstd"));
    assert_eq!(prod.notes_template.as_deref(), Some("{{guestname}} on {{node}}"));
    assert_eq!(prod.mailto.as_deref(), Some("root@pam,ops@example.com"));
    assert_eq!(prod.mailnotification.as_deref(), Some("failure"));
    assert_eq!((prod.node.as_deref(), prod.comment.as_deref()), (Some("pve2"), Some("prod")));
    assert_eq!(prod.next_run, Some(1_765_155_600));
    let retention = crate::propstr::PropertyString::parse(prod.prune_backups.as_deref().unwrap(), None).unwrap();
    assert_eq!((retention.get("keep-daily"), retention.get("keep-last")), (Some("7"), Some("3")), "an object becomes the text form");
    assert_eq!(prod.extra["fleecing"], "enabled=1,storage=local-lvm");
    assert_eq!(prod.repeat_missed, Some(true), "PVE's 1 is a bool");

    let pool = &jobs[2];
    assert!(!pool.is_enabled());
    assert_eq!(pool.pool.as_deref(), Some("lab"));
    assert_eq!(pool.compress.as_deref(), Some("0"));
    assert_eq!(pool.excluded(), vec![104]);
    assert_eq!(pool.job_type, None);
}

#[test]
fn pools_decode_listing_and_members() {
    let listing: Vec<Pool> = decode(json!([{ "poolid": "lab", "comment": "lab guests" }, { "poolid": "prod" }]));
    assert_eq!(listing[0].poolid, "lab");
    assert_eq!(listing[0].comment.as_deref(), Some("lab guests"));
    assert!(listing[1].members.is_empty() && listing[1].comment.is_none());

    // GET /pools/{poolid} as the emulator and PVE send it: no poolid, members with their rows.
    let pool: Pool = decode(json!({
        "comment": "lab guests",
        "members": [
            { "id": "qemu/100", "type": "qemu", "vmid": 100, "node": "pve1", "name": "web1", "status": "running", "maxmem": 2_147_483_648u64 },
            { "id": "lxc/200", "type": "lxc", "vmid": "200", "node": "pve2", "name": "dns", "status": "stopped" },
            { "id": "storage/pve1/backup", "type": "storage", "storage": "backup", "node": "pve1" },
        ],
    }));
    assert_eq!(pool.poolid, "", "read_pool fills it in");
    assert_eq!(pool.vmids(), vec![100, 200]);
    assert_eq!(pool.members[0].guest_kind(), Some(GuestKind::Qemu));
    assert_eq!(pool.members[1].guest_kind(), Some(GuestKind::Lxc));
    assert_eq!(pool.members[0].extra["name"], "web1");
    assert_eq!(pool.members[2].guest_kind(), None);
    assert_eq!(pool.members[2].storage.as_deref(), Some("backup"));
}

#[test]
fn storage_configs_decode_per_type() {
    // The emulator's `local` and `local-lvm`.
    let local: StorageConfig = decode(json!({
        "storage": "local", "type": "dir", "content": "iso,vztmpl,backup,snippets,import", "shared": 0,
        "digest": "0000000000000000000000000000000000000000", "path": "/var/lib/vz",
    }));
    assert_eq!(local.storage_type.as_deref(), Some("dir"));
    assert!(local.supports("snippets") && local.supports("backup") && !local.supports("images"));
    assert_eq!(local.path.as_deref(), Some("/var/lib/vz"));
    assert!(!local.shared && !local.disable);
    assert!(local.node_list().is_empty());

    let thin: StorageConfig = decode(json!({
        "storage": "local-lvm", "type": "lvmthin", "content": "images,rootdir", "shared": 0, "vgname": "pve", "thinpool": "data",
        "digest": "0000000000000000000000000000000000000000",
    }));
    assert_eq!(thin.path, None);
    assert!(!thin.supports("backup"));
    assert_eq!((thin.extra["vgname"].as_str(), thin.extra["thinpool"].as_str()), (Some("pve"), Some("data")));

    // PVE: an NFS storage limited to two nodes, with its retention.
    let nfs: StorageConfig = decode(json!({
        "storage": "backup", "type": "nfs", "server": "10.10.10.5", "export": "/srv/pve-backup", "path": "/mnt/pve/backup",
        "content": "backup", "nodes": "pve1,pve2", "prune-backups": "keep-all=1", "options": "vers=4.2", "shared": "1", "disable": 1,
    }));
    assert_eq!(nfs.node_list(), vec!["pve1".to_string(), "pve2".to_string()]);
    assert_eq!(nfs.prune_backups.as_deref(), Some("keep-all=1"));
    assert!(nfs.shared && nfs.disable);
    assert_eq!(nfs.extra["server"], "10.10.10.5");
}

#[test]
fn network_interfaces_decode_and_bridges_are_told_apart() {
    let interfaces: Vec<NetworkInterface> = decode(json!([
        // The emulator's first bridge.
        { "iface": "vmbr0", "type": "bridge", "active": 1, "autostart": 1, "bridge_ports": "eno1", "bridge_stp": "off", "bridge_fd": "0",
          "method": "static", "families": ["inet"], "cidr": "10.10.10.1/24", "address": "10.10.10.1", "gateway": "10.10.10.1" },
        // PVE: a VLAN-aware OVS bridge, a NIC and an SDN vnet.
        { "iface": "vmbr1", "type": "OVSBridge", "active": "1", "autostart": 0, "ovs_ports": "eno2", "bridge_vlan_aware": 1,
          "method": "manual", "method6": "manual", "priority": 5, "comments": "storage network" },
        { "iface": "eno1", "type": "eth", "active": 1, "exists": 1, "method": "manual" },
        { "iface": "vnet10", "type": "vnet", "active": 1 },
    ]));
    let bridges: Vec<&str> = interfaces.iter().filter(|i| i.is_bridge()).map(|i| i.iface.as_str()).collect();
    assert_eq!(bridges, vec!["vmbr0", "vmbr1"]);
    assert!(interfaces[0].active && interfaces[0].autostart);
    assert_eq!(interfaces[0].cidr.as_deref(), Some("10.10.10.1/24"));
    assert_eq!(interfaces[0].bridge_ports.as_deref(), Some("eno1"));
    assert_eq!(interfaces[0].extra["families"], json!(["inet"]));
    assert!(interfaces[1].active && !interfaces[1].autostart && interfaces[1].bridge_vlan_aware);
    assert_eq!(interfaces[1].comments.as_deref(), Some("storage network"));
    assert_eq!(interfaces[1].extra["ovs_ports"], "eno2");
}

#[test]
fn pending_changes_decode_typed_and_text_values() {
    let entries: Vec<PendingChange> = decode(json!([
        // The emulator types values per schema.
        { "key": "cores", "value": 2, "pending": 4 },
        { "key": "memory", "value": 2048 },
        { "key": "net1", "value": "virtio=BC:24:11:00:00:01,bridge=vmbr1", "delete": 1 },
        // PVE sends text.
        { "key": "onboot", "value": "1" },
        { "key": "balloon", "pending": "0" },
        { "key": "hotplug", "delete": "2" },
    ]));
    assert_eq!(entries[0].value.as_deref(), Some("2"));
    assert_eq!(entries[0].pending.as_deref(), Some("4"));
    let pending: Vec<&str> = entries.iter().filter(|e| e.is_pending()).map(|e| e.key.as_str()).collect();
    assert_eq!(pending, vec!["cores", "net1", "balloon", "hotplug"]);
    assert_eq!(entries[5].delete, Some(2));
    assert_eq!(entries[4].value, None);
}

#[test]
fn volume_attributes_decode() {
    let volume: VolumeAttributes = decode(json!({
        "path": "/mnt/pve/backup/dump/vzdump-qemu-100-2026_01_10-02_00_01.vma.zst", "format": "vma.zst", "size": 1_288_490_188u64,
        "used": 1_288_490_188u64, "notes": "web1", "protected": 1, "ctime": 1_768_010_401,
    }));
    assert_eq!(volume.size, Some(1_288_490_188));
    assert_eq!(volume.format.as_deref(), Some("vma.zst"));
    assert!(volume.protected);
    assert_eq!(volume.extra["ctime"], 1_768_010_401);
    let bare: VolumeAttributes = decode(json!({ "format": "raw", "size": "34359738368" }));
    assert_eq!((bare.size, bare.path, bare.protected), (Some(34_359_738_368), None, false));
}

#[test]
fn agent_interfaces_decode() {
    let interfaces: Vec<AgentInterface> = decode(json!([
        { "name": "lo", "hardware-address": "00:00:00:00:00:00",
          "ip-addresses": [{ "ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8 }, { "ip-address": "::1", "ip-address-type": "ipv6", "prefix": 128 }],
          "statistics": { "rx-bytes": 2048, "tx-bytes": 2048 } },
        { "name": "eth0", "hardware-address": "bc:24:11:5e:7a:01",
          "ip-addresses": [{ "ip-address": "10.10.10.50", "ip-address-type": "ipv4", "prefix": 24 }] },
        { "name": "docker0" },
    ]));
    assert_eq!(interfaces[0].ip_addresses.len(), 2);
    assert_eq!(interfaces[0].extra["statistics"]["rx-bytes"], 2048);
    assert_eq!(interfaces[1].hardware_address.as_deref(), Some("bc:24:11:5e:7a:01"));
    assert_eq!(interfaces[1].ip_addresses[0].ip_address, "10.10.10.50");
    assert_eq!(interfaces[1].ip_addresses[0].ip_address_type, "ipv4");
    assert_eq!(interfaces[1].ip_addresses[0].prefix, Some(24));
    assert!(interfaces[2].ip_addresses.is_empty());
}

/// A /cluster/resources listing as the emulator sends it without a type filter.
fn listing() -> Vec<ClusterResource> {
    decode(json!([
        { "id": "node/pve1", "type": "node", "node": "pve1", "status": "online", "maxcpu": 16, "maxmem": 68_719_476_736u64 },
        { "id": "qemu/100", "type": "qemu", "vmid": 100, "node": "pve2", "name": "web1", "status": "running", "template": 0,
          "tags": "env-lab;web", "pool": "lab", "maxmem": 2_147_483_648u64 },
        { "id": "lxc/200", "type": "lxc", "vmid": "200", "node": "pve1", "name": "dns", "status": "stopped", "template": 0 },
        { "id": "qemu/9000", "type": "qemu", "vmid": 9000, "node": "pve1", "name": "ubuntu-24.04", "status": "stopped", "template": 1 },
        { "id": "storage/pve1/local", "type": "storage", "storage": "local", "node": "pve1", "content": "iso,backup", "shared": 0 },
        { "id": "/pool/lab", "type": "pool", "pool": "lab" },
    ]))
}

#[test]
fn find_guest_reads_one_row_of_either_kind() {
    let resources = listing();
    let web = find_guest(&resources, 100).unwrap();
    assert_eq!(
        web,
        GuestLocation {
            node: "pve2".into(),
            kind: GuestKind::Qemu,
            vmid: 100,
            name: "web1".into(),
            running: true,
            template: false,
            pool: Some("lab".into()),
            tags: vec!["env-lab".into(), "web".into()],
        }
    );
    let dns = find_guest(&resources, 200).unwrap();
    assert_eq!((dns.kind, dns.node.as_str(), dns.running, dns.pool), (GuestKind::Lxc, "pve1", false, None));
    assert!(find_guest(&resources, 9000).unwrap().template, "templates are found and marked");
    assert_eq!(find_guest(&resources, 101), None);
    assert_eq!(find_guest(&[], 100), None);
    // Rows that are not guests never match, whatever they carry.
    let odd: Vec<ClusterResource> = decode(json!([{ "id": "storage/pve1/x", "type": "storage", "vmid": 300, "node": "pve1" }]));
    assert_eq!(find_guest(&odd, 300), None);
}

#[test]
fn access_answers_decode_with_pve_defaults_left_unset() {
    // PVE: booleans as 0/1 or strings, propagate left out where it is the default.
    let acl: Vec<AclEntry> = decode(json!([
        { "path": "/vms/100", "roleid": "PVEVMUser", "type": "user", "ugid": "alice@pve", "propagate": 1 },
        { "path": "/", "roleid": "PVEAuditor", "type": "token", "ugid": "ci@pve!deploy", "propagate": "0" },
        { "path": "/pool/lab", "roleid": "Operator", "type": "group", "ugid": "operators" },
    ]));
    assert_eq!((acl[0].subject, acl[0].propagates()), (AclSubject::User, true));
    assert_eq!((acl[1].subject, acl[1].propagates()), (AclSubject::Token, false));
    assert!(acl[2].propagates() && acl[2].propagate.is_none(), "unset: PVE's default");
    assert_eq!(AclSubject::Token.param(), "tokens");

    let roles: Vec<Role> = decode(json!([{ "roleid": "PVEAuditor", "privs": "VM.Audit,Sys.Audit", "special": 1 }, { "roleid": "Empty" }]));
    assert!(roles[0].special && !roles[1].special);
    assert_eq!(roles[0].privilege_list(), ["Sys.Audit", "VM.Audit"]);
    assert!(roles[1].privilege_list().is_empty());

    let user: User = decode(json!({ "enable": "0", "expire": "0", "groups": ["ops"], "tokens": { "deploy": { "privsep": 1 } } }));
    assert_eq!((user.enable, user.expire, user.groups.as_slice()), (Some(false), Some(0), ["ops".to_string()].as_slice()));

    let token: Token = decode(json!({ "privsep": 0, "expire": 1_900_000_000 }));
    assert_eq!((token.privsep, token.expire, token.comment), (Some(false), Some(1_900_000_000), None));

    // The new token's secret never prints.
    let created: CreatedToken = decode(json!({ "full-tokenid": "ci@pve!deploy", "info": { "privsep": 1 }, "value": "made-up-value" }));
    assert_eq!(created.full_tokenid, "ci@pve!deploy");
    assert_eq!(created.value.expose(), "made-up-value");
    assert!(!format!("{:?}", created.value).contains("made-up"));
}

#[test]
fn access_not_found_answers_are_final() {
    let server = |message: &str| ApiError::Server { request: "GET /access/users/x".into(), status: 500, message: message.into() };
    for message in ["no such user ('bob@pve')", "no such token 'deploy' for user 'ci@pve'", "group 'ops' does not exist"] {
        assert!(server(message).is_not_found() && !server(message).is_transient(), "{message}");
    }
    let not_empty = server("pool 'lab' is not empty (contains VM 150)");
    assert!(not_empty.is_not_empty() && !not_empty.is_transient(), "a refusal that stands is not retried");
}
