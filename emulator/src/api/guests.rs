//! QEMU and LXC guest endpoints: list, create/restore, config and pending changes, clone, template,
//! resize, status, power actions, the QEMU agent, destroy. What they do to the cluster is in
//! `crate::model`; these parse the request and shape the answer.

use pve_api::{GuestKind, PropertyString};
use serde_json::{Value, json};

use super::{ApiRequest, ApiResult};
use crate::error::PveError;
use crate::model::{
    CloneRequest, Config, ConfigUpdate, DiskMove, Guest, MigrateRequest, NewGuest, VolumeReassign, WriteCheck, storage_of, volume_key,
};
use crate::schema::{SCHEMA, typed_value};
use crate::state::now;

/// Parameters of create/restore requests that are not config keys.
const CREATE_ONLY: [&str; 16] = [
    "node",
    "vmid",
    "archive",
    "start",
    "pool",
    "force",
    "unique",
    "live-restore",
    "storage",
    "bwlimit",
    "ostemplate",
    "restore",
    "password",
    "ssh-public-keys",
    "ignore-unpack-errors",
    "ha-managed",
];
/// Parameters of config updates that are not config keys.
const UPDATE_ONLY: [&str; 8] = ["node", "vmid", "digest", "delete", "revert", "skiplock", "force", "background_delay"];

pub async fn list(r: ApiRequest) -> ApiResult {
    let node = r.node()?.to_string();
    let kind = r.kind();
    let cluster = r.emulator.cluster();
    Ok(Value::Array(
        cluster
            .guests
            .values()
            // Only guests the caller may audit (qemu-server `vmlist`, pve-container `vmlist`).
            .filter(|g| g.node == node && g.kind == kind && cluster.holds(&r.user, &format!("/vms/{}", g.vmid), &["VM.Audit"], false))
            .map(|g| {
                let mut row = json!({
                    "vmid": g.vmid, "name": g.name().unwrap_or(""), "status": if g.running { "running" } else { "stopped" },
                    "cpus": g.cpus(), "maxmem": g.max_mem(), "maxdisk": g.max_disk(), "uptime": g.started_at.map(|s| now() - s).unwrap_or(0),
                    "cpu": 0, "mem": 0, "disk": 0, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0, "type": kind.as_str(),
                });
                if g.is_template() {
                    row["template"] = json!(1);
                }
                if let Some(tags) = g.config.get("tags") {
                    row["tags"] = json!(tags);
                }
                if let Some(lock) = g.lock() {
                    row["lock"] = json!(lock);
                }
                row
            })
            .collect(),
    ))
}

pub async fn create(r: ApiRequest) -> ApiResult {
    let node = r.node()?.to_string();
    let kind = r.kind();
    let vmid = r.u64("vmid")?;
    let restore_from = match kind {
        GuestKind::Qemu => r.param("archive").map(str::to_string),
        GuestKind::Lxc => r.flag("restore").then(|| r.param("ostemplate").unwrap_or("").to_string()),
    };
    let pool = r.param("pool");
    let settings: Config =
        r.params.iter().filter(|(k, _)| !CREATE_ONLY.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    check_create(&r, kind, vmid, pool, restore_from.is_some(), &settings)?;
    if let Some(archive) = &restore_from {
        check_restore(&r, kind, &node, archive, &settings)?;
    }
    let new = NewGuest {
        kind,
        node,
        vmid,
        restore_from,
        ostemplate: r.param("ostemplate").map(str::to_string),
        force: r.flag("force"),
        unique: r.flag("unique"),
        start: r.flag("start"),
        storage: r.param("storage").map(str::to_string),
        pool: pool.map(str::to_string),
        settings,
    };
    let upid = r.emulator.create_guest(new, &r.user)?;
    Ok(json!(upid.to_string()))
}

/// What qemu-server's and pve-container's create_vm check before they lock anything: the pool
/// exists, `Datastore.AllocateSpace` on the default `storage`, `VM.PowerMgmt` to start it,
/// `VM.Allocate` on the guest or its pool (a restore over an existing guest may do with
/// `VM.Backup`), then each option's privilege, the disks' storages and the bridges.
fn check_create(r: &ApiRequest, kind: GuestKind, vmid: u64, pool: Option<&str>, restore: bool, settings: &Config) -> Result<(), PveError> {
    r.check_pool_exists(pool)?;
    let storage = r.param("storage");
    if let Some(storage) = storage {
        r.check(&format!("/storage/{storage}"), &["Datastore.AllocateSpace"], false)?;
    }
    if r.flag("start") {
        r.check_vm(vmid, pool, &["VM.PowerMgmt"], false)?;
    }
    let exists = r.emulator.cluster().guests.contains_key(&vmid);
    let restores_existing = restore && r.flag("force") && exists && r.may(&format!("/vms/{vmid}"), &["VM.Backup"], false);
    if !restores_existing {
        r.check_allocate(vmid, pool)?;
    }
    if kind == GuestKind::Lxc
        && let Some(template) = r.param("ostemplate")
        && !restore
    {
        r.check_volume_access(Some(vmid), template)?;
    }
    r.check_options(kind, vmid, pool, settings.keys().map(String::as_str))?;
    r.check_guest_volumes(kind, vmid, settings, storage)?;
    r.check_bridges(kind, settings)
}

/// What a restore brings along is checked before the task starts, as qemu-server's `create_vm`
/// does with `check_restore_permissions` on the archived config merged with the request's
/// options: `SDN.Use` on the bridges the restored NICs name (a best effort there too, the
/// real check follows the restore).
fn check_restore(r: &ApiRequest, kind: GuestKind, node: &str, archive: &str, settings: &Config) -> Result<(), PveError> {
    let archived = r.emulator.cluster().find_volume(node, archive).and_then(|v| v.archived_config.clone());
    let Some(mut merged) = archived else { return Ok(()) };
    merged.extend(settings.iter().map(|(k, v)| (k.clone(), v.clone())));
    r.check_bridges(kind, &merged)
}

/// The config as GET returns it: schema-typed values, secrets masked, `digest` added.
fn config_json(kind: GuestKind, guest: &Guest, config: &Config) -> Value {
    let key = format!("GET /nodes/{{node}}/{}/{{vmid}}/config", kind.as_str());
    let properties = SCHEMA.methods().find(|m| m.key() == key).and_then(|m| m.returns["properties"].as_object().cloned());
    let mut out = serde_json::Map::new();
    for (k, v) in config {
        let value = if k == "cipassword" { json!("**********") } else { typed_value(properties.as_ref(), k, v) };
        out.insert(k.clone(), value);
    }
    out.insert("digest".into(), json!(guest.digest()));
    Value::Object(out)
}

pub async fn get_config(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let kind = r.kind();
    if let Some(snapname) = r.param("snapshot") {
        let snap = guest.snapshots.get(snapname).ok_or_else(|| PveError::server(format!("snapshot '{snapname}' does not exist")))?;
        return Ok(config_json(kind, &guest, &snap.config));
    }
    let config = if r.flag("current") { guest.config.clone() } else { guest.config_with_pending() };
    Ok(config_json(kind, &guest, &config))
}

pub async fn pending(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let properties = SCHEMA
        .methods()
        .find(|m| m.key() == format!("GET /nodes/{{node}}/{}/{{vmid}}/config", guest.kind.as_str()))
        .and_then(|m| m.returns["properties"].as_object().cloned());
    let mut keys: Vec<&String> = guest.config.keys().chain(guest.pending.keys()).chain(guest.pending_delete.iter()).collect();
    keys.sort();
    keys.dedup();
    Ok(Value::Array(
        keys.into_iter()
            .map(|k| {
                let mut row = json!({ "key": k });
                if let Some(v) = guest.config.get(k) {
                    row["value"] = typed_value(properties.as_ref(), k, v);
                }
                if let Some(v) = guest.pending.get(k) {
                    row["pending"] = typed_value(properties.as_ref(), k, v);
                }
                if guest.pending_delete.contains(k) {
                    row["delete"] = json!(1);
                }
                row
            })
            .collect(),
    ))
}

pub async fn update_config(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let kind = r.kind();
    let settings: Config =
        r.params.iter().filter(|(k, _)| !UPDATE_ONLY.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    let (delete, revert) = (r.list("delete"), r.list("revert"));
    // update_vm / update_pct: each deleted, reverted and set option's privilege, then the new
    // disks' storages and the bridges (for a container, the old NICs' bridges too).
    let changed = settings.keys().chain(&delete).chain(&revert).map(String::as_str);
    r.check_options(kind, guest.vmid, None, changed)?;
    r.check_guest_volumes(kind, guest.vmid, &settings, None)?;
    r.check_bridges(kind, &settings)?;
    if kind == GuestKind::Lxc {
        let replaced: Config =
            guest.config.iter().filter(|(k, _)| settings.contains_key(*k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        r.check_bridges(kind, &replaced)?;
    }
    let update = ConfigUpdate {
        check: write_check(&r),
        delete,
        revert,
        settings,
        named: r.params.keys().cloned().collect(),
        force: r.flag("force"),
    };
    // POST is the asynchronous variant: it answers with a task.
    let upid = r.emulator.update_config(&guest, update, &r.user, r.key.starts_with("POST")).await?;
    Ok(upid.map_or(Value::Null, |upid| json!(upid.to_string())))
}

fn write_check(r: &ApiRequest) -> WriteCheck {
    WriteCheck { skiplock: r.flag("skiplock"), digest: r.param("digest").map(str::to_string) }
}

pub async fn destroy(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let upid = r.emulator.destroy_guest(&guest, r.flag("skiplock"), r.flag("purge"), &r.user).await?;
    Ok(json!(upid.to_string()))
}

pub async fn clone(r: ApiRequest) -> ApiResult {
    let source = r.guest()?;
    let kind = r.kind();
    // clone_vm's early checks (`load_and_check`): the pool, the target storage (or each disk's
    // own), the bridges. For a container, pve-container checks the same storages.
    r.check_pool_exists(r.param("pool"))?;
    if let Some(storage) = r.param("storage") {
        r.check(&format!("/storage/{storage}"), &["Datastore.AllocateSpace"], false)?;
    }
    r.check_clone_volumes(kind, &source.config, r.param("storage"))?;
    r.check_bridges(kind, &source.config)?;
    let request = CloneRequest {
        newid: r.u64("newid")?,
        target: r.param("target").map(str::to_string),
        full: r.param("full").map(|f| f == "1"),
        storage: r.param("storage").map(str::to_string),
        format: r.param("format").map(str::to_string),
        pool: r.param("pool").map(str::to_string),
        name: r.param("name").map(str::to_string),
        hostname: r.param("hostname").map(str::to_string),
        description: r.param("description").map(str::to_string),
    };
    let upid = r.emulator.clone_guest(&source, request, &r.user).await?;
    Ok(json!(upid.to_string()))
}

pub async fn template(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let upid = r.emulator.make_template(&guest, &r.user).await?;
    Ok(upid.map_or(Value::Null, |upid| json!(upid.to_string())))
}

pub async fn resize(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let disk = r.required("disk")?;
    let size = r.required("size")?;
    // resize_vm / resize_vm of LXC: the disk grows on its storage.
    if let Some(volume) = guest
        .config
        .get(disk)
        .and_then(|v| PropertyString::parse(v, Some(volume_key(guest.kind))).ok())
        .and_then(|p| p.get(volume_key(guest.kind)).map(str::to_string))
    {
        r.check(&format!("/storage/{}", storage_of(&volume)), &["Datastore.AllocateSpace"], false)?;
    }
    let upid = r.emulator.resize_disk(&guest, write_check(&r), disk, size, &r.user).await?;
    Ok(json!(upid.to_string()))
}

pub async fn current_status(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let cluster = r.emulator.cluster();
    // `ha`: whether HA manages the guest and the state it asks for (`PVE::HA::Config::get_service_status`).
    let ha = cluster.ha_sid_of(guest.vmid).and_then(|sid| cluster.ha_resources.get(sid));
    let ha_json = match ha {
        Some(options) => json!({ "managed": 1, "state": options.get("state").map(String::as_str).unwrap_or("started") }),
        None => json!({ "managed": 0 }),
    };
    let mut status = json!({
        "vmid": guest.vmid, "name": guest.name().unwrap_or(""), "status": if guest.running { "running" } else { "stopped" },
        "cpus": guest.cpus(), "maxmem": guest.max_mem(), "mem": if guest.running { guest.max_mem() / 3 } else { 0 }, "maxdisk": guest.max_disk(),
        "disk": 0, "cpu": 0, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
        "uptime": guest.started_at.map(|s| now() - s).unwrap_or(0), "ha": ha_json,
    });
    if guest.kind == GuestKind::Qemu {
        status["qmpstatus"] = json!(if guest.running { "running" } else { "stopped" });
        if guest.config.get("agent").is_some_and(|a| a.starts_with('1') || a.contains("enabled=1")) {
            status["agent"] = json!(1);
        }
    }
    if guest.is_template() {
        status["template"] = json!(1);
    }
    if let Some(lock) = guest.lock() {
        status["lock"] = json!(lock);
    }
    if let Some(tags) = guest.config.get("tags") {
        status["tags"] = json!(tags);
    }
    Ok(status)
}

pub async fn power(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let action = r.key.rsplit('/').next().unwrap_or("start").to_string();
    let upid = r.emulator.power(&guest, action, r.flag("skiplock"), &r.user).await?;
    Ok(json!(upid.to_string()))
}

/// Whether the guest's QEMU agent would answer, with PVE's checks in its order: an `agent` line
/// at all, a running VM, then the agent itself (here: answering when enabled, silent when not).
fn agent_ready(guest: &Guest) -> Result<(), PveError> {
    let Some(agent) = guest.config.get("agent") else {
        return Err(PveError::server("No QEMU guest agent configured"));
    };
    if !guest.running {
        return Err(PveError::server(format!("VM {} is not running", guest.vmid)));
    }
    if !(agent.starts_with('1') || agent.contains("enabled=1")) {
        return Err(PveError::server("QEMU guest agent is not running"));
    }
    Ok(())
}

pub async fn agent_ping(r: ApiRequest) -> ApiResult {
    agent_ready(&r.guest()?)?;
    Ok(json!({ "result": {} }))
}

/// What the agent reports: loopback, and per NIC its MAC and the address cloud-init set
/// (`ipconfigN`). A DHCP NIC gets an address from 127.100.0.0/16 (by VMID), so tools that follow
/// agent addresses stay on this machine.
pub async fn agent_interfaces(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    agent_ready(&guest)?;
    let mut interfaces = vec![
        json!({ "name": "lo", "hardware-address": "00:00:00:00:00:00", "ip-addresses": [{ "ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8 }] }),
    ];
    for n in 0..32 {
        let Some(net) = guest.config.get(&format!("net{n}")) else { continue };
        let mac = net.split(',').next().and_then(|m| m.split_once('=')).map(|(_, mac)| mac.to_string()).unwrap_or_default();
        let ip =
            guest.config.get(&format!("ipconfig{n}")).and_then(|c| c.split(',').find_map(|p| p.strip_prefix("ip=")).map(str::to_string));
        let (address, prefix) = match ip.as_deref() {
            Some(ip) if ip != "dhcp" && ip != "manual" => {
                let (a, p) = ip.split_once('/').unwrap_or((ip, "24"));
                (a.to_string(), p.parse::<u8>().unwrap_or(24))
            }
            _ => (format!("127.100.{}.{}", (guest.vmid >> 8) & 0xff, guest.vmid & 0xff), 16),
        };
        interfaces.push(json!({
            "name": format!("eth{n}"), "hardware-address": mac.to_lowercase(),
            "ip-addresses": [{ "ip-address": address, "ip-address-type": "ipv4", "prefix": prefix }],
        }));
    }
    Ok(json!({ "result": interfaces }))
}

/// `POST …/migrate`: `targetstorage` for a VM, `target-storage` for a container.
pub async fn migrate(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let request = MigrateRequest {
        target: r.required("target")?.to_string(),
        online: r.flag("online"),
        restart: r.flag("restart"),
        target_storage: r.param("targetstorage").or(r.param("target-storage")).map(str::to_string),
        with_local_disks: r.flag("with-local-disks"),
        force: r.flag("force"),
        stop_first: false,
    };
    // migrate_vm: a target storage takes new volumes (`check_storage_access_migrate`).
    if let Some(storage) = &request.target_storage {
        for target in storage.split(',').map(|m| m.rsplit(':').next().unwrap_or(m)).filter(|s| !s.is_empty() && *s != "1") {
            r.check(&format!("/storage/{target}"), &["Datastore.AllocateSpace"], false)?;
        }
    }
    let upid = r.emulator.migrate_guest(&guest, request, &r.user).await?;
    Ok(json!(upid.to_string()))
}

pub async fn migrate_preconditions(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    if let Some(target) = r.param("target")
        && r.emulator.cluster().node(target).is_none()
    {
        return Err(PveError::server(format!("no such cluster node '{target}'")));
    }
    r.emulator.migrate_preconditions(&guest)
}

/// `POST …/qemu/{vmid}/move_disk` and `POST …/lxc/{vmid}/move_volume`: to another storage, or
/// (`target-vmid`) to another guest on the node.
pub async fn move_disk(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let kind = r.kind();
    let (disk_param, target_param) = if kind == GuestKind::Qemu { ("disk", "target-disk") } else { ("volume", "target-volume") };
    let disk = r.required(disk_param)?.to_string();
    let storage = r.param("storage").map(str::to_string);
    let target_vmid = r.param("target-vmid").map(|_| r.u64("target-vmid")).transpose()?;
    if kind == GuestKind::Lxc && storage.is_some() && target_vmid.is_some() {
        // pve-container dies with this before its parameter checks.
        return Err(PveError::server("either set storage or target-vmid, but not both"));
    }
    let upid = match (storage, target_vmid) {
        (Some(_), Some(_)) => {
            let message = "either set 'storage' or 'target-vmid', but not both";
            return Err(PveError::params(
                [("target-vmid".to_string(), message.to_string()), ("storage".to_string(), message.to_string())].into(),
            ));
        }
        (None, None) => {
            let message = "both 'storage' and 'target-vmid' missing, either needs to be set";
            return Err(PveError::params(
                [("target-vmid".to_string(), message.to_string()), ("storage".to_string(), message.to_string())].into(),
            ));
        }
        (Some(storage), None) => {
            // move_vm_disk / move_volume: the new copy is allocated on the target storage.
            r.check(&format!("/storage/{storage}"), &["Datastore.AllocateSpace"], false)?;
            let request = DiskMove {
                disk,
                storage,
                format: r.param("format").map(str::to_string),
                delete: r.flag("delete"),
                digest: r.param("digest").map(str::to_string),
            };
            r.emulator.move_disk(&guest, request, &r.user).await?
        }
        (None, Some(target_vmid)) => {
            // The volume becomes the other guest's disk.
            r.check_vm(target_vmid, None, &["VM.Config.Disk"], false)?;
            let request = VolumeReassign {
                disk,
                target_vmid,
                target_disk: r.param(target_param).map(str::to_string),
                digest: r.param("digest").map(str::to_string),
                target_digest: r.param("target-digest").map(str::to_string),
            };
            r.emulator.reassign_volume(&guest, request, &r.user).await?
        }
    };
    Ok(json!(upid.to_string()))
}

/// `PUT …/qemu/{vmid}/unlink`: a config update deleting `idlist` (qemu-server `unlink` calls
/// `update_vm`), destroying the volumes with `force`.
pub async fn unlink(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let update = ConfigUpdate {
        check: WriteCheck { skiplock: false, digest: None },
        delete: r.list("idlist"),
        revert: Vec::new(),
        settings: Config::new(),
        named: ["idlist".to_string()].into(),
        force: r.flag("force"),
    };
    r.emulator.update_config(&guest, update, &r.user, false).await?;
    Ok(Value::Null)
}
