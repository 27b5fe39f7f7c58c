//! Migration of guests between nodes: `POST /nodes/{node}/{qemu,lxc}/{vmid}/migrate` and its
//! precondition check `GET …/migrate`.
//!
//! Sources: qemu-server `PVE/API2/Qemu.pm` (`migrate_vm`, `migrate_vm_precondition`,
//! `$check_storage_access_migrate`), `PVE/QemuServer.pm` (`check_storage_availability`),
//! `PVE/QemuMigrate.pm` (`prepare`, `scan_local_volumes`, `sync_offline_local_volumes`,
//! `phase1`, `phase1_cleanup`, `phase3_cleanup`), pve-container `PVE/API2/LXC.pm` (`migrate_vm`)
//! and `PVE/LXC/Migrate.pm` (`prepare`, `phase1`), pve-guest-common `PVE/AbstractMigrate.pm`
//! (`migrate`, the log format) and pve-storage `storage_migrate`.
//!
//! The API checks what it can at once; the rest happens in the `qmigrate`/`vzmigrate` task,
//! which holds the config lock and `lock: migrate`, copies the local volumes to the target
//! node's storage at the storages' bandwidth (new volumes, under the target storage's lock),
//! moves the config and frees the old volumes. An HA-managed guest is not migrated by the API
//! but by the HA manager: the API answers with a `hamigrate` task that queues the request.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use pve_api::{GuestKind, PropertyString, Upid};
use serde_json::{Value, json};

use super::{Cluster, Guest, Volume, kind_word, not_found, storage_of, volume_key};
use crate::error::PveError;
use crate::state::Emulator;
use crate::tasks::TaskCtx;

/// `POST …/migrate`.
#[derive(Debug, Clone, Default)]
pub struct MigrateRequest {
    pub target: String,
    /// A live migration of a running VM (for a container: refused in the task).
    pub online: bool,
    /// A container's restart migration: shut down, migrated, started on the target.
    pub restart: bool,
    /// `targetstorage` / `target-storage`: a storage map for the local volumes.
    pub target_storage: Option<String>,
    pub with_local_disks: bool,
    pub force: bool,
    /// Stop a running guest first (the HA manager's relocation).
    pub stop_first: bool,
}

/// `PVE::JSONSchema::parse_idmap`: `SOURCE:TARGET` entries, one default target, or `1` for the
/// identity.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct StorageMap {
    identity: bool,
    default: Option<String>,
    entries: BTreeMap<String, String>,
}

impl StorageMap {
    fn parse(text: &str) -> Result<Self, String> {
        let storage_id = regex::Regex::new(r"(?i)^[a-z][a-z0-9\-_.]*[a-z0-9]$").expect("static regex");
        let check = |id: &str, entry: &str| {
            if storage_id.is_match(id) {
                Ok(())
            } else {
                Err(format!("entry '{entry}' contains invalid ID - storage ID '{id}' contains illegal characters"))
            }
        };
        let mut map = StorageMap::default();
        for entry in pve_api::tags::split_tag_list(text) {
            if entry == "1" {
                map.identity = true;
            } else if let Some((source, target)) = entry.split_once(':') {
                check(source, entry)?;
                check(target, entry)?;
                if map.entries.contains_key(source) {
                    return Err(format!("duplicate mapping for source '{source}'"));
                }
                map.entries.insert(source.to_string(), target.to_string());
            } else {
                check(entry, entry)?;
                if map.default.is_some() {
                    return Err("default target ID can only be provided once".into());
                }
                map.default = Some(entry.to_string());
            }
        }
        if map.identity && (map.default.is_some() || !map.entries.is_empty()) {
            return Err("identity mapping cannot be combined with other mappings".into());
        }
        Ok(map)
    }

    /// `PVE::JSONSchema::map_id`.
    fn map(&self, source: &str) -> String {
        if self.identity {
            return source.to_string();
        }
        self.entries.get(source).or(self.default.as_ref()).cloned().unwrap_or_else(|| source.to_string())
    }
}

/// One local volume to move, as `scan_local_volumes` finds it.
#[derive(Debug, Clone)]
struct LocalVolume {
    volid: String,
    /// `attached`, `unused` or `generated` (cloud-init).
    reference: &'static str,
    target_storage: String,
    size: u64,
}

/// `HH:MM:SS` as `PVE::AbstractMigrate::migrate` prints a migration's duration.
fn duration_text(started: Instant) -> String {
    let secs = started.elapsed().as_secs();
    format!("{:02}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60)
}

/// A migration log line as `PVE::AbstractMigrate::log` prints it: a timestamp, `ERROR:` for errors.
fn stamp(level: &str, message: &str) -> String {
    let time = chrono::Local::now().format("%Y-%m-%d %H:%M:%S");
    if level == "err" { format!("{time} ERROR: {message}") } else { format!("{time} {message}") }
}

impl Cluster {
    /// Volumes of every kind of drive a config holds: (key, volid, is cdrom).
    fn config_volumes(guest: &Guest) -> Vec<(String, String, bool)> {
        let key = volume_key(guest.kind);
        guest
            .config
            .iter()
            .filter(|(k, _)| super::is_disk_key(guest.kind, k) || k.starts_with("unused"))
            .filter_map(|(k, v)| {
                let drive = PropertyString::parse(v, Some(key)).ok()?;
                let volid = drive.get(key)?.to_string();
                if volid == "none" || volid == "cdrom" || volid.starts_with('/') || !volid.contains(':') {
                    return None;
                }
                let cdrom = drive.get("media") == Some("cdrom") && !volid.ends_with("-cloudinit");
                Some((k.clone(), volid, cdrom))
            })
            .collect()
    }

    /// The API's checks before any task (`migrate_vm` in qemu-server and pve-container).
    fn check_migrate(&self, guest: &Guest, request: &MigrateRequest, user: &str) -> Result<Option<StorageMap>, PveError> {
        let target = &request.target;
        if *target == guest.node {
            return Err(PveError::param("target", "target is local node."));
        }
        if self.node(target).is_none() {
            return Err(PveError::server(format!("no such cluster node '{target}'")));
        }
        let current = self.guests.get(&guest.vmid).ok_or_else(|| not_found(guest.kind, &guest.node, guest.vmid))?;
        if guest.kind == GuestKind::Qemu {
            if request.force && user != "root@pam" {
                return Err(PveError::param("force", "Only root may use this option."));
            }
            if let Some(e) = current.locked_error() {
                return Err(e);
            }
            if current.running && !request.online {
                return Err(PveError::server("can't migrate running VM without --online"));
            }
        } else if current.running && !request.online && !request.restart {
            return Err(PveError::server("can't migrate running container without --online or --restart"));
        }
        let param = if guest.kind == GuestKind::Qemu { "targetstorage" } else { "target-storage" };
        let map = match &request.target_storage {
            Some(text) => Some(StorageMap::parse(text).map_err(|e| PveError::param(param, format!("failed to parse storage map: {e}")))?),
            None => None,
        };
        // `$check_storage_access_migrate` for every target of the map.
        if let Some(map) = &map {
            for storage in map.entries.values().chain(map.default.iter()) {
                let def = self.storage_on_node(storage, target)?;
                let content = if guest.kind == GuestKind::Qemu { "images" } else { "rootdir" };
                if !def.content.iter().any(|c| c == content) {
                    return Err(PveError::server(if guest.kind == GuestKind::Qemu {
                        format!("storage '{storage}' does not support vm images")
                    } else {
                        format!("storage '{storage}' does not support CT rootdirs")
                    }));
                }
            }
        }
        // `check_storage_availability`: without a map, every volume's storage must be on the target.
        if guest.kind == GuestKind::Qemu && map.as_ref().is_none_or(|m| m.identity) {
            for (_, volid, _) in Cluster::config_volumes(current) {
                self.storage_on_node(storage_of(&volid), &guest.node)?;
                self.storage_on_node(storage_of(&volid), target)?;
            }
        }
        Ok(map)
    }

    /// `scan_local_volumes` (and LXC's `phase1` checks): the local volumes to copy, or the
    /// problems that stop the migration.
    fn scan_local_volumes(
        &self,
        vmid: u64,
        map: Option<&StorageMap>,
        running: bool,
        with_local_disks: bool,
        target: &str,
        log: &mut Vec<String>,
    ) -> Result<Vec<LocalVolume>, String> {
        let guest = self.guests.get(&vmid).ok_or("guest vanished")?;
        let kind = guest.kind;
        let mut found = Vec::new();
        let mut errors: Vec<(String, String)> = Vec::new();
        let content = if kind == GuestKind::Qemu { "images" } else { "rootdir" };
        for (key, volid, cdrom) in Cluster::config_volumes(guest) {
            let storage = storage_of(&volid).to_string();
            let Some(def) = self.storage(&storage) else {
                errors.push((volid.clone(), format!("storage '{storage}' does not exist")));
                continue;
            };
            let target_storage = if def.shared { storage.clone() } else { map.map(|m| m.map(&storage)).unwrap_or_else(|| storage.clone()) };
            match self.storage_on_node(&target_storage, target) {
                Err(e) => {
                    errors.push((volid.clone(), e.message));
                    continue;
                }
                Ok(target_def) if !cdrom && !target_def.content.iter().any(|c| c == content) => {
                    errors
                        .push((volid.clone(), format!("{volid}: content type '{content}' is not available on storage '{target_storage}'")));
                    continue;
                }
                Ok(_) => {}
            }
            if def.shared {
                continue;
            }
            if cdrom {
                errors.push((volid.clone(), "local cdrom image".into()));
                continue;
            }
            let Some(volume) = self.find_volume(&guest.node, &volid) else {
                errors.push((volid.clone(), format!("unable to determine size for volume '{volid}'")));
                continue;
            };
            let reference = if volid.ends_with("-cloudinit") {
                "generated"
            } else if key.starts_with("unused") {
                "unused"
            } else {
                "attached"
            };
            if !guest.snapshots.is_empty() && reference != "generated" {
                if running {
                    errors.push((volid.clone(), "online storage migration not possible if non-replicated snapshot exists".into()));
                    continue;
                }
                if !(def.storage_type == "zfspool" || volume.format == "qcow2") {
                    errors.push((volid.clone(), "non-migratable snapshot exists".into()));
                    continue;
                }
            }
            let base_in_use = volid.contains(":base-") && self.volumes.iter().any(|v| v.linked_base.as_deref() == Some(volid.as_str()));
            if base_in_use {
                errors.push((volid.clone(), "referenced by linked clone(s)".into()));
                continue;
            }
            found.push((LocalVolume { volid: volid.clone(), reference, target_storage, size: volume.size }, volume.linked_base.clone()));
        }
        for (entry, _) in &found {
            let LocalVolume { volid, reference, .. } = entry;
            match (kind, *reference) {
                (GuestKind::Qemu, "attached") => {
                    if running && !with_local_disks {
                        errors.push((volid.clone(), "can't live migrate attached local disks without with-local-disks option".into()));
                    }
                    log.push(stamp("info", &format!("found local disk '{volid}' (attached)")));
                }
                (GuestKind::Qemu, "unused") => log.push(stamp("info", &format!("found local disk '{volid}' (unused)"))),
                (GuestKind::Qemu, _) => log.push(stamp("info", &format!("found generated disk '{volid}' (in current VM config)"))),
                (GuestKind::Lxc, _) => log.push(stamp("info", &format!("found local volume '{volid}' (in current VM config)"))),
            }
        }
        if !errors.is_empty() {
            let disk = if kind == GuestKind::Qemu { "disk" } else { "volume" };
            for (volid, message) in &errors {
                log.push(stamp("warn", &format!("can't migrate local {disk} '{volid}': {message}")));
            }
            return Err(if kind == GuestKind::Qemu {
                "Problem found while scanning volumes - can't migrate VM - check log".to_string()
            } else {
                "can't migrate CT - check log".to_string()
            });
        }
        // A linked clone on local storage cannot leave its base's node.
        if let Some((entry, Some(base))) = found.iter().find(|(_, base)| base.is_some()) {
            let base_name = base.split(':').nth(1).unwrap_or(base);
            return Err(if kind == GuestKind::Qemu {
                format!("Problem found while scanning volumes - can't migrate '{}' as it's a clone of '{base_name}'", entry.volid)
            } else {
                format!("can't migrate local volume '{}': clone of '{base_name}'", entry.volid)
            });
        }
        Ok(found.into_iter().map(|(v, _)| v).collect())
    }

    /// The name a volume gets on the target: its own, unless the target node has one of that
    /// name (`storage_migrate` with `allow_rename`; cloud-init keeps its name).
    fn migrated_volid(&self, volume: &LocalVolume, vmid: u64, target: &str) -> String {
        let name = volume.volid.split_once(':').map(|(_, n)| n).unwrap_or("");
        let wanted = format!("{}:{name}", volume.target_storage);
        let taken = |id: &str| self.volumes.iter().any(|v| v.volid == id && v.node.as_deref().is_none_or(|n| n == target));
        if !taken(&wanted) || volume.reference == "generated" {
            return wanted;
        }
        let prefix = if name.starts_with("base-") { "base" } else { "vm" };
        (0..).map(|n| format!("{}:{prefix}-{vmid}-disk-{n}", volume.target_storage)).find(|id| !taken(id)).expect("a free name exists")
    }
}

impl Emulator {
    /// `POST /nodes/{node}/{qemu,lxc}/{vmid}/migrate`.
    pub async fn migrate_guest(self: &Arc<Self>, guest: &Guest, request: MigrateRequest, user: &str) -> Result<Upid, PveError> {
        let (kind, vmid) = (guest.kind, guest.vmid);
        let (map, ha_managed) = {
            let cluster = self.cluster();
            let map = cluster.check_migrate(guest, &request, user)?;
            (map, cluster.vm_is_ha_managed(vmid))
        };
        if let Some(sid) = ha_managed {
            // The API hands an HA-managed guest to the HA manager (`ha-manager migrate`).
            let target = request.target.clone();
            let word = kind_word(kind);
            return Ok(self.spawn_task_steps(
                &guest.node,
                "hamigrate",
                &vmid.to_string(),
                user,
                1,
                Vec::new(),
                Box::new(move |ctx| {
                    Box::pin(async move {
                        ctx.log(format!("Requesting HA migration for {word} {vmid} to node {target}"));
                        ctx.cluster().ha_manager.commands.push(format!("migrate {sid} {target}"));
                        ctx.emulator.ha_kick();
                        Ok(())
                    })
                }),
            ));
        }
        self.start_migration(guest, request, map, user).await
    }

    /// The migration task itself (also what the HA manager's LRM runs).
    pub(crate) async fn start_migration(
        self: &Arc<Self>,
        guest: &Guest,
        request: MigrateRequest,
        map: Option<StorageMap>,
        user: &str,
    ) -> Result<Upid, PveError> {
        let (kind, vmid) = (guest.kind, guest.vmid);
        let source = guest.node.clone();
        let guard = self.flock(kind, vmid).await?;
        let task_type = if kind == GuestKind::Qemu { "qmigrate" } else { "vzmigrate" };
        Ok(self.spawn_task_steps(
            &guest.node,
            task_type,
            &vmid.to_string(),
            user,
            1,
            vec![guard],
            Box::new(move |ctx| Box::pin(async move { ctx.emulator.clone().run_migration(&ctx, kind, vmid, source, request, map).await })),
        ))
    }

    async fn run_migration(
        self: Arc<Self>,
        ctx: &TaskCtx,
        kind: GuestKind,
        vmid: u64,
        source: String,
        request: MigrateRequest,
        map: Option<StorageMap>,
    ) -> Result<(), String> {
        let started = Instant::now();
        let target = request.target.clone();
        let word = kind_word(kind);
        let log = |level: &str, message: String| ctx.log(stamp(level, &message));
        let abort = |message: String| {
            ctx.log(stamp("err", &format!("migration aborted (duration {}): {message}", duration_text(started))));
            Err::<(), String>("migration aborted".into())
        };
        // prepare
        let (running, target_ip) = {
            let cluster = ctx.cluster();
            let guest = cluster.guests.get(&vmid).filter(|g| g.node == source).ok_or_else(|| format!("guest {vmid} vanished"))?;
            if let Some(lock) = guest.lock().map(str::to_string) {
                drop(cluster);
                return abort(format!("{word} is locked ({lock})"));
            }
            (guest.running, cluster.node(&target).map(|n| n.ip.clone()).unwrap_or_default())
        };
        if kind == GuestKind::Lxc && running && request.online && !request.restart {
            return abort("lxc live migration is currently not implemented".into());
        }
        let was_running = running;
        let mut running = running;
        if running && (request.stop_first || (kind == GuestKind::Lxc && request.restart)) {
            log("info", format!("shutdown {word} {vmid}"));
            ctx.take_time().await;
            if let Some(g) = ctx.cluster().guests.get_mut(&vmid) {
                g.running = false;
                g.started_at = None;
                g.apply_pending();
            }
            running = false;
        }
        // A restart migration starts the container on the target if it ran before.
        let restart_after = kind == GuestKind::Lxc && request.restart && !request.stop_first && was_running;
        let online = kind == GuestKind::Qemu && running;
        // phase1
        log("info", format!("starting migration of {word} {vmid} to node '{target}' ({target_ip})"));
        let mut scan_log = Vec::new();
        let scanned = {
            let mut cluster = ctx.cluster();
            if let Some(g) = cluster.guests.get_mut(&vmid) {
                g.config.insert("lock".into(), "migrate".into());
            }
            cluster.scan_local_volumes(vmid, map.as_ref(), online, request.with_local_disks, &target, &mut scan_log)
        };
        for line in scan_log {
            ctx.log(line);
        }
        let unlock = || {
            if let Some(g) = ctx.cluster().guests.get_mut(&vmid) {
                g.config.remove("lock");
            }
        };
        let volumes = match scanned {
            Ok(volumes) => volumes,
            Err(message) => {
                log("err", message.clone());
                log("info", "aborting phase 1 - cleanup resources".into());
                unlock();
                return abort(message);
            }
        };
        ctx.take_time().await;
        if !volumes.is_empty() {
            log("info", if kind == GuestKind::Qemu { "copying local disk images".into() } else { "copying local volumes".into() });
        }
        let mut moved: Vec<(LocalVolume, String)> = Vec::new();
        for volume in &volumes {
            let new_volid = ctx.cluster().migrated_volid(volume, vmid, &target);
            // storage_migrate: the target allocates under its storage's lock, then the data flows.
            let copied = async {
                self.storage_lock(&target, &volume.target_storage, &|l| log("info", l)).await?;
                {
                    let mut cluster = ctx.cluster();
                    let old = cluster.find_volume(&source, &volume.volid).cloned().unwrap_or_default();
                    let def = cluster.storage(&volume.target_storage).cloned().unwrap_or_default();
                    cluster.volumes.push(Volume {
                        storage: volume.target_storage.clone(),
                        node: (!def.shared).then(|| target.clone()),
                        volid: new_volid.clone(),
                        format: def.volume_format(None),
                        ctime: crate::state::now(),
                        linked_base: None,
                        ..old
                    });
                }
                self.transfer_volume(&source, &volume.volid, &target, &volume.target_storage, volume.size, &|l| log("info", l)).await;
                Ok::<(), String>(())
            }
            .await;
            if let Err(message) = copied {
                let message = format!("storage migration for '{}' to storage '{}' failed - {message}", volume.volid, volume.target_storage);
                log("err", message.clone());
                log("info", "aborting phase 1 - cleanup resources".into());
                let mut cluster = ctx.cluster();
                for (_, copy) in &moved {
                    cluster.remove_volume_on(&target, copy);
                }
                drop(cluster);
                unlock();
                return abort(message);
            }
            log("info", format!("volume '{}' is '{new_volid}' on the target", volume.volid));
            moved.push((volume.clone(), new_volid));
        }
        if ctx.fail {
            let mut cluster = ctx.cluster();
            for (_, copy) in &moved {
                cluster.remove_volume_on(&target, copy);
            }
            drop(cluster);
            unlock();
            return abort("injected task failure".into());
        }
        // phase2: the VM's memory follows a live migration.
        if online {
            let memory = ctx.cluster().guests.get(&vmid).map(|g| g.max_mem()).unwrap_or(0);
            log("info", format!("starting online/live migration on unix:/run/qemu-server/{vmid}.migrate"));
            let channels = [format!("net/{source}"), format!("net/{target}")];
            self.transfer(memory, &channels, &|_| {}).await;
            log("info", format!("migration completed, transferred {} VM-state", crate::storage_io::render_bytes(memory)));
        }
        // phase3_cleanup: the config names the new volumes and moves to the target; the local
        // copies are freed.
        {
            let mut cluster = ctx.cluster();
            if let Some(g) = cluster.guests.get_mut(&vmid) {
                for value in g.config.values_mut() {
                    for (volume, new_volid) in &moved {
                        if value.split(',').any(|part| {
                            part == volume.volid
                                || part.strip_prefix("file=").or(part.strip_prefix("volume=")) == Some(volume.volid.as_str())
                        }) {
                            *value = value.replacen(&volume.volid, new_volid, 1);
                        }
                    }
                }
                g.node = target.clone();
                g.running = online;
                if !online {
                    g.started_at = None;
                }
            }
        }
        let mut problems = false;
        for (volume, _) in &moved {
            if let Err(message) = self.free_volume(&source, &volume.volid, &|l| log("info", l)).await {
                log("err", format!("removing local copy of '{}' failed - {message}", volume.volid));
                problems = true;
            }
        }
        unlock();
        if restart_after {
            log("info", "start container on target node".into());
            if let Some(g) = ctx.cluster().guests.get_mut(&vmid) {
                g.running = true;
                g.started_at = Some(crate::state::now());
            }
        }
        if problems {
            log("err", format!("migration finished with problems (duration {})", duration_text(started)));
            return Err("migration problems".into());
        }
        log("info", format!("migration finished successfully (duration {})", duration_text(started)));
        Ok(())
    }

    /// `GET …/migrate`: what a migration would meet (`migrate_vm_precondition`).
    pub fn migrate_preconditions(&self, guest: &Guest) -> Result<Value, PveError> {
        let cluster = self.cluster();
        let current = cluster.guests.get(&guest.vmid).ok_or_else(|| not_found(guest.kind, &guest.node, guest.vmid))?;
        if let Some(e) = current.locked_error() {
            return Err(e);
        }
        let volumes = Cluster::config_volumes(current);
        let sid = cluster.vm_is_ha_managed(guest.vmid);
        let mut allowed = Vec::new();
        let mut not_allowed = serde_json::Map::new();
        for node in cluster.nodes.iter().filter(|n| n.name != guest.node) {
            let mut blockers = serde_json::Map::new();
            if guest.kind == GuestKind::Qemu {
                let unavailable: std::collections::BTreeSet<String> = volumes
                    .iter()
                    .map(|(_, v, _)| storage_of(v).to_string())
                    .filter(|s| cluster.storage(s).is_some_and(|d| d.nodes.as_ref().is_some_and(|n| !n.contains(&node.name))))
                    .collect();
                if !unavailable.is_empty() {
                    blockers.insert("unavailable_storages".into(), json!(unavailable));
                }
            }
            if let Some(sid) = &sid {
                let (_, blocking) = cluster.resource_motion_info(sid, &node.name);
                if !blocking.is_empty() {
                    let rows: Vec<Value> = blocking.iter().map(|b| json!({ "sid": b, "cause": "resource-affinity" })).collect();
                    blockers.insert("blocking-ha-resources".into(), json!(rows));
                }
            }
            if blockers.is_empty() {
                allowed.push(node.name.clone());
            } else {
                not_allowed.insert(node.name.clone(), Value::Object(blockers));
            }
        }
        let mut answer = json!({ "running": u8::from(current.running) });
        if guest.kind == GuestKind::Qemu {
            answer["allowed_nodes"] = json!(allowed);
            answer["not_allowed_nodes"] = Value::Object(not_allowed);
            let local: Vec<Value> = volumes
                .iter()
                .filter(|(_, v, _)| cluster.storage(storage_of(v)).is_some_and(|d| !d.shared))
                .map(|(key, v, cdrom)| {
                    let size = cluster.find_volume(&guest.node, v).map(|vol| vol.size).unwrap_or(0);
                    json!({ "volid": v, "size": size, "cdrom": u8::from(*cdrom), "is_unused": u8::from(key.starts_with("unused")) })
                })
                .collect();
            answer["local_disks"] = json!(local);
            answer["local_resources"] = json!([]);
            answer["mapped-resources"] = json!([]);
            answer["mapped-resource-info"] = json!({});
            answer["has-dbus-vmstate"] = json!(1);
        } else {
            answer["allowed-nodes"] = json!(allowed);
            answer["not-allowed-nodes"] = Value::Object(not_allowed);
        }
        if let Some(sid) = &sid {
            let (comigrated, _) = cluster.resource_motion_info(sid, &guest.node);
            answer["dependent-ha-resources"] = json!(comigrated);
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::StorageMap;

    #[test]
    fn storage_maps_parse_like_parse_idmap() {
        let map = StorageMap::parse("local-lvm:local-zfs,backup").unwrap();
        assert_eq!((map.map("local-lvm"), map.map("other")), ("local-zfs".to_string(), "backup".to_string()));
        assert!(StorageMap::parse("1").unwrap().identity);
        assert_eq!(StorageMap::parse("1,local").unwrap_err(), "identity mapping cannot be combined with other mappings");
        assert_eq!(StorageMap::parse("a1,b2").unwrap_err(), "default target ID can only be provided once");
        assert_eq!(StorageMap::parse("xy:a1,xy:b2").unwrap_err(), "duplicate mapping for source 'xy'");
    }
}
