//! Moving disks: to another storage (`POST …/qemu/{vmid}/move_disk`, `POST …/lxc/{vmid}/move_volume`
//! with `storage`) and to another guest on the same node (with `target-vmid`), each as a task.
//!
//! Sources: qemu-server `PVE/API2/Qemu.pm` `move_vm_disk` (`$load_and_check_move`,
//! `$move_updatefn`, `$load_and_check_reassign_configs`, `$disk_reassignfn`) and
//! `PVE/QemuServer.pm` `clone_disk`; pve-container `PVE/API2/LXC.pm` `move_volume`
//! (`$move_to_storage_checks`, `$storage_realcmd`, `$load_and_check_reassign_configs`,
//! `$volume_reassignfn`); pve-storage `vdisk_alloc`, `vdisk_free`, `rename_volume`.
//!
//! A VM's disk moves under the VM's config lock, running or not (a running VM mirrors its disk);
//! a container's volume moves only while it is stopped, under `lock: disk`. Without `delete` the
//! old volume stays as `unusedN`.

use std::sync::Arc;

use pve_api::{GuestKind, PropertyString, Upid};

use super::{Cluster, CopyMode, DiskCopy, Guest, Volume, next_unused_key, not_found, storage_of, volume_key};
use crate::error::PveError;
use crate::state::Emulator;

/// A move to another storage.
#[derive(Debug, Clone, Default)]
pub struct DiskMove {
    /// The config key (`scsi0`, `rootfs`, `mp0`, `unused1`).
    pub disk: String,
    pub storage: String,
    pub format: Option<String>,
    /// Free the old volume after the copy instead of keeping it as `unusedN`.
    pub delete: bool,
    pub digest: Option<String>,
}

/// A move to another guest on the same node.
#[derive(Debug, Clone, Default)]
pub struct VolumeReassign {
    pub disk: String,
    pub target_vmid: u64,
    /// The key on the target (default: the same key).
    pub target_disk: Option<String>,
    pub digest: Option<String>,
    pub target_digest: Option<String>,
}

fn modified() -> PveError {
    PveError::server("detected modified configuration - file changed by other user? Try again.")
}

impl Cluster {
    /// `$load_and_check_move` (VM) and `$move_to_storage_checks` (CT): what the move starts from.
    fn check_move(&self, guest: &Guest, request: &DiskMove) -> Result<(String, u64), PveError> {
        let kind = guest.kind;
        let current = self.guests.get(&guest.vmid).ok_or_else(|| not_found(kind, &guest.node, guest.vmid))?;
        if let Some(e) = current.locked_error() {
            return Err(e);
        }
        if kind == GuestKind::Lxc {
            if current.running {
                return Err(PveError::server("cannot move volumes of a running container"));
            }
            if request.disk.starts_with("unused") {
                return Err(PveError::server(format!(
                    "cannot move volume '{}', only configured volumes can be moved to another storage",
                    request.disk
                )));
            }
        }
        if request.digest.as_ref().is_some_and(|d| *d != current.digest()) {
            return Err(modified());
        }
        let value = current.config.get(&request.disk).ok_or_else(|| {
            PveError::server(if kind == GuestKind::Qemu {
                format!("disk '{}' does not exist", request.disk)
            } else {
                format!("volume '{}' does not exist", request.disk)
            })
        })?;
        let drive = PropertyString::parse(value, Some(volume_key(kind))).map_err(|e| PveError::server(e.to_string()))?;
        let volid = drive.get(volume_key(kind)).unwrap_or("").to_string();
        if volid.is_empty() {
            return Err(PveError::server(format!("disk '{}' has no associated volume", request.disk)));
        }
        if kind == GuestKind::Qemu
            && (drive.get("media") == Some("cdrom") || volid == "cdrom" || volid == "none")
            && !volid.ends_with("-cloudinit")
        {
            return Err(PveError::server("you can't move a cdrom"));
        }
        let volume = self.find_volume(&guest.node, &volid).cloned();
        let old_format = volume.as_ref().map(|v| v.format.clone());
        let old_storage = storage_of(&volid);
        if kind == GuestKind::Qemu
            && old_storage == request.storage
            && (request.format.is_none() || old_format.is_none() || old_format == request.format)
        {
            return Err(PveError::server("you can't move to the same storage with same format"));
        }
        let def = self.storage_on_node(&request.storage, &guest.node)?;
        let content = if kind == GuestKind::Qemu { "images" } else { "rootdir" };
        if !def.content.iter().any(|c| c == content) {
            return Err(if kind == GuestKind::Qemu {
                PveError::param("storage", format!("storage '{}' does not support vm images", request.storage))
            } else {
                PveError::server(format!("storage '{}' does not support containers", request.storage))
            });
        }
        if request.delete && !current.snapshots.is_empty() {
            return Err(PveError::server(if kind == GuestKind::Qemu {
                "you can't move a disk with snapshots and delete the source"
            } else {
                "you can't move a volume with snapshots and delete the source"
            }));
        }
        Ok((volid, volume.map(|v| v.size).unwrap_or(0)))
    }

    /// The new volume of a move, made at once so its name is taken (its data arrives with the copy).
    fn plan_move(&mut self, guest: &Guest, request: &DiskMove, volid: &str, size: u64) -> DiskCopy {
        let target_def = self.storage(&request.storage).cloned().unwrap_or_else(|| panic!("checked storage"));
        let name = if volid.ends_with("-cloudinit") {
            format!("{}:vm-{}-cloudinit", request.storage, guest.vmid)
        } else {
            self.new_disk_name(&request.storage, guest.vmid, "vm")
        };
        let format = target_def.volume_format(request.format.as_deref());
        let old = self.find_volume(&guest.node, volid).cloned().unwrap_or_default();
        self.volumes.push(Volume {
            storage: request.storage.clone(),
            node: (!target_def.shared).then(|| guest.node.clone()),
            volid: name.clone(),
            content: if guest.kind == GuestKind::Qemu { "images".into() } else { "rootdir".into() },
            format,
            size,
            ctime: crate::state::now(),
            vmid: Some(guest.vmid),
            data: old.data.clone(),
            ..Default::default()
        });
        DiskCopy {
            key: request.disk.clone(),
            source: volid.to_string(),
            source_node: guest.node.clone(),
            target: name,
            target_node: guest.node.clone(),
            size,
            mode: CopyMode::Full,
        }
    }

    /// After the copy: the disk names its new volume; the old one stays as `unusedN` unless it
    /// is to be deleted. Returns the old volume when it is to be freed.
    fn finish_move(
        &mut self,
        vmid: u64,
        key: &str,
        old: &str,
        new: &str,
        delete: bool,
        log: &dyn Fn(String),
    ) -> Result<Option<String>, String> {
        let guest = self.guests.get_mut(&vmid).ok_or("guest vanished")?;
        let kind = guest.kind;
        let value = guest.config.get(key).cloned().ok_or_else(|| format!("disk '{key}' vanished"))?;
        let replaced = if key.starts_with("unused") {
            new.to_string()
        } else {
            let mut drive = PropertyString::parse(&value, Some(volume_key(kind))).map_err(|e| e.to_string())?;
            drive.set(volume_key(kind), new);
            drive.to_string_with_default(volume_key(kind))
        };
        guest.config.insert(key.to_string(), replaced);
        if delete || old.ends_with("-cloudinit") {
            return Ok(Some(old.to_string()));
        }
        let slot = next_unused_key(&guest.config);
        log(format!("adding source volume '{old}' as '{slot}' to config"));
        guest.config.insert(slot, old.to_string());
        Ok(None)
    }

    /// `$load_and_check_reassign_configs`: both guests on one node, unlocked, neither a template.
    fn check_reassign(&self, kind: GuestKind, vmid: u64, request: &VolumeReassign) -> Result<(String, String), PveError> {
        let word = if kind == GuestKind::Qemu { "VM" } else { "CT" };
        let target_key = request.target_disk.clone().unwrap_or_else(|| request.disk.clone());
        if kind == GuestKind::Lxc {
            if request.disk == "rootfs" || target_key == "rootfs" {
                return Err(PveError::server("Cannot move to/from 'rootfs'"));
            }
            if request.disk.starts_with("unused") && !target_key.starts_with("unused") {
                return Err(PveError::server("Moving an unused volume to a used one is not possible"));
            }
        }
        let source =
            self.guests.get(&vmid).filter(|g| g.kind == kind).ok_or_else(|| PveError::server(format!("could not find {word} {vmid}")))?;
        let target = self
            .guests
            .get(&request.target_vmid)
            .filter(|g| g.kind == kind)
            .ok_or_else(|| PveError::server(format!("could not find target {word} {}", request.target_vmid)))?;
        if source.node != target.node {
            return Err(PveError::server(format!(
                "Both {} need to be on the same node ({} != {})",
                if kind == GuestKind::Qemu { "VMs" } else { "containers" },
                source.node,
                target.node
            )));
        }
        if let Some(e) = source.locked_error().or_else(|| target.locked_error()) {
            return Err(e);
        }
        if source.is_template() || target.is_template() {
            return Err(PveError::server(if kind == GuestKind::Qemu {
                "Can't move disks from or to template VMs"
            } else {
                "Can't move volumes from or to template CT"
            }));
        }
        let container = if kind == GuestKind::Qemu { "VM" } else { "Container" };
        if request.digest.as_ref().is_some_and(|d| *d != source.digest()) {
            return Err(PveError::server(format!("{container} {vmid}: {}", modified().message)));
        }
        if request.target_digest.as_ref().is_some_and(|d| *d != target.digest()) {
            return Err(PveError::server(format!("{container} {}: {}", request.target_vmid, modified().message)));
        }
        let value = source.config.get(&request.disk).ok_or_else(|| {
            PveError::server(if kind == GuestKind::Qemu {
                format!("Disk '{}' for VM '{vmid}' does not exist", request.disk)
            } else {
                format!("volume '{}' for container '{vmid}' does not exist", request.disk)
            })
        })?;
        if target.config.contains_key(&target_key) {
            return Err(PveError::server(if kind == GuestKind::Qemu {
                format!("Target disk key '{target_key}' is already in use for VM '{}'", request.target_vmid)
            } else {
                format!("Target volume key '{target_key}' is already in use for container '{}'", request.target_vmid)
            }));
        }
        let drive = PropertyString::parse(value, Some(volume_key(kind))).map_err(|e| PveError::server(e.to_string()))?;
        let volid = drive.get(volume_key(kind)).unwrap_or("").to_string();
        if volid.is_empty() {
            return Err(PveError::server(format!("disk '{}' has no associated volume", request.disk)));
        }
        if kind == GuestKind::Qemu && drive.get("media") == Some("cdrom") {
            return Err(PveError::server("CD drive contents can't be moved to another VM"));
        }
        if volid.ends_with("-cloudinit") || volid.contains('/') {
            return Err(PveError::server(format!(
                "Storage does not support moving of this disk to another {}",
                if kind == GuestKind::Qemu { "VM" } else { "container" }
            )));
        }
        if source.snapshots_use(&volid) {
            return Err(PveError::server(if kind == GuestKind::Qemu {
                "Can't move disk used by a snapshot to another VM"
            } else {
                "Cannot move volume used by a snapshot to another container"
            }));
        }
        if source.running && !request.disk.starts_with("unused") {
            return Err(PveError::server(if kind == GuestKind::Qemu {
                "Cannot move disk to another VM while the source VM is running - detach first"
            } else {
                "Cannot move in-use volume while the source CT is running - detach or shutdown first"
            }));
        }
        Ok((volid, target_key))
    }

    /// The reassignment itself: the volume renamed for its new owner (`rename_volume`), taken out
    /// of the source config (and its boot order), put into the target's.
    fn reassign(
        &mut self,
        kind: GuestKind,
        vmid: u64,
        request: &VolumeReassign,
        volid: &str,
        target_key: &str,
        log: &dyn Fn(String),
    ) -> Result<String, String> {
        let (node, storage) = {
            let source = self.guests.get(&vmid).ok_or("guest vanished")?;
            (source.node.clone(), storage_of(volid).to_string())
        };
        let new_volid = self.new_disk_name(&storage, request.target_vmid, "vm");
        for volume in self.volumes.iter_mut().filter(|v| v.volid == volid && v.node.as_deref().is_none_or(|n| n == node)) {
            volume.volid = new_volid.clone();
            volume.vmid = Some(request.target_vmid);
        }
        let source = self.guests.get_mut(&vmid).ok_or("guest vanished")?;
        let old_value = source.config.remove(&request.disk).unwrap_or_default();
        if let Some(boot) = source.config.get("boot").cloned()
            && let Some(order) = boot.strip_prefix("order=")
            && order.split(';').any(|d| d == request.disk)
        {
            log(format!("removing disk '{}' from boot order config", request.disk));
            let kept: Vec<&str> = order.split(';').filter(|d| *d != request.disk).collect();
            source.config.insert("boot".into(), format!("order={}", kept.join(";")));
        }
        log(format!("removing disk '{}' from {} '{vmid}' config", request.disk, if kind == GuestKind::Qemu { "VM" } else { "container" }));
        let value = if target_key.starts_with("unused") || request.disk.starts_with("unused") {
            new_volid.clone()
        } else {
            old_value.replacen(volid, &new_volid, 1)
        };
        let target = self.guests.get_mut(&request.target_vmid).ok_or("target guest vanished")?;
        target.config.insert(target_key.to_string(), value);
        Ok(new_volid)
    }
}

impl Emulator {
    /// `POST …/qemu/{vmid}/move_disk` and `POST …/lxc/{vmid}/move_volume` with `storage`.
    pub async fn move_disk(self: &Arc<Self>, guest: &Guest, request: DiskMove, user: &str) -> Result<Upid, PveError> {
        let (kind, vmid) = (guest.kind, guest.vmid);
        let node = guest.node.clone();
        // A VM keeps its config lock for the whole move; a container is marked `lock: disk`.
        let guard = match kind {
            GuestKind::Qemu => Some(self.flock(kind, vmid).await?),
            GuestKind::Lxc => None,
        };
        let copy = {
            let _ct_lock = match kind {
                GuestKind::Lxc => Some(self.flock(kind, vmid).await?),
                GuestKind::Qemu => None,
            };
            let mut cluster = self.cluster();
            let (volid, size) = cluster.check_move(guest, &request)?;
            if kind == GuestKind::Lxc
                && let Some(g) = cluster.guests.get_mut(&vmid)
            {
                g.config.insert("lock".into(), "disk".into());
            }
            cluster.plan_move(guest, &request, &volid, size)
        };
        let task_type = if kind == GuestKind::Qemu { "qmmove" } else { "move_volume" };
        Ok(self.spawn_task_steps(
            &guest.node,
            task_type,
            &vmid.to_string(),
            user,
            1,
            guard.into_iter().collect(),
            Box::new(move |ctx| {
                Box::pin(async move {
                    let log = |line: String| ctx.log(line);
                    let unlock = || {
                        if kind == GuestKind::Lxc
                            && let Some(g) = ctx.cluster().guests.get_mut(&vmid)
                            && g.lock() == Some("disk")
                        {
                            g.config.remove("lock");
                        }
                    };
                    let source_storage = storage_of(&copy.source).to_string();
                    log(format!(
                        "copying volume '{}' from current storage '{source_storage}' to target storage '{}'",
                        copy.source, request.storage
                    ));
                    let copied = ctx.emulator.copy_disk(&copy, &ctx).await;
                    let copied = copied.and_then(|()| if ctx.fail { Err("injected task failure".to_string()) } else { Ok(()) });
                    if let Err(message) = copied {
                        // The new volume goes again; the disk stays where it was.
                        ctx.cluster().remove_volume_on(&node, &copy.target);
                        unlock();
                        return Err(if kind == GuestKind::Qemu { format!("storage migration failed: {message}") } else { message });
                    }
                    ctx.take_time().await;
                    let (to_free, template) = {
                        let mut cluster = ctx.cluster();
                        let result = cluster.finish_move(vmid, &copy.key, &copy.source, &copy.target, request.delete, &log);
                        let template = cluster.guests.get(&vmid).is_some_and(|g| g.is_template());
                        match result {
                            Ok(to_free) => (to_free, template),
                            Err(message) => {
                                cluster.remove_volume_on(&node, &copy.target);
                                drop(cluster);
                                unlock();
                                return Err(message);
                            }
                        }
                    };
                    // A template's moved disk becomes a base volume.
                    if template && !copy.target.ends_with("-cloudinit") {
                        ctx.emulator.storage_lock(&node, &request.storage, &log).await?;
                        ctx.cluster().rename_to_base(&node, vmid, &copy.target);
                    }
                    unlock();
                    if let Some(old) = to_free {
                        log(format!("removing source volume '{old}' after successful copy"));
                        if let Err(message) = ctx.emulator.free_volume(&node, &old, &log).await {
                            ctx.log(format!("WARN: {message}"));
                            if kind == GuestKind::Lxc
                                && let Some(g) = ctx.cluster().guests.get_mut(&vmid)
                            {
                                let slot = next_unused_key(&g.config);
                                g.config.insert(slot, old.clone());
                            }
                        }
                    }
                    Ok(())
                })
            }),
        ))
    }

    /// `move_disk` / `move_volume` with `target-vmid`: a `qmmove`/`move_volume` task whose ID is
    /// `VMID-KEY>TARGET-KEY`.
    pub async fn reassign_volume(self: &Arc<Self>, guest: &Guest, request: VolumeReassign, user: &str) -> Result<Upid, PveError> {
        let (kind, vmid) = (guest.kind, guest.vmid);
        if request.target_vmid == vmid && kind == GuestKind::Qemu {
            return Err(PveError::param("target-vmid", "must be different than source VMID to reassign disk"));
        }
        let (_, target_key) = self.cluster().check_reassign(kind, vmid, &request)?;
        let id = format!("{vmid}-{}>{}-{target_key}", request.disk, request.target_vmid);
        let node = guest.node.clone();
        let source_guard = self.flock(kind, vmid).await?;
        let target_guard = if request.target_vmid != vmid { Some(self.flock(kind, request.target_vmid).await?) } else { None };
        let mut guards = vec![source_guard];
        guards.extend(target_guard);
        let task_type = if kind == GuestKind::Qemu { "qmmove" } else { "move_volume" };
        Ok(self.spawn_task_steps(
            &guest.node,
            task_type,
            &id,
            user,
            1,
            guards,
            Box::new(move |ctx| {
                Box::pin(async move {
                    let log = |line: String| ctx.log(line);
                    let (volid, target_key) = ctx.cluster().check_reassign(kind, vmid, &request).map_err(|e| e.message)?;
                    if kind == GuestKind::Qemu {
                        log(format!("reassign disk '{}' from VM '{vmid}' as '{target_key}' to VM '{}'", request.disk, request.target_vmid));
                    } else {
                        log(format!("moving volume '{}' from container '{vmid}' to '{}'", request.disk, request.target_vmid));
                    }
                    ctx.emulator.storage_lock(&node, storage_of(&volid), &log).await?;
                    ctx.take_time().await;
                    if ctx.fail {
                        return Err("injected task failure".into());
                    }
                    ctx.cluster().reassign(kind, vmid, &request, &volid, &target_key, &log)?;
                    if kind == GuestKind::Lxc {
                        log(format!("target container '{}' updated with '{target_key}'", request.target_vmid));
                    }
                    Ok(())
                })
            }),
        ))
    }
}
