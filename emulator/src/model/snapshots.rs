//! Snapshot trees: each snapshot records its parent; the guest's `parent` key names the snapshot
//! the current state grew from. Taking, deleting and rolling back lock the guest until the task ends.

use std::sync::Arc;

use pve_api::{GuestKind, Upid};

use super::guests::task_prefix;
use super::{Cluster, Guest, Snapshot, not_found};
use crate::error::PveError;
use crate::state::{Emulator, now};

fn no_such_snapshot(name: &str) -> PveError {
    PveError::server(format!("snapshot '{name}' does not exist"))
}

impl Cluster {
    fn begin_snapshot(&mut self, kind: GuestKind, node: &str, vmid: u64, name: &str) -> Result<(), PveError> {
        let guest = self.guests.get_mut(&vmid).ok_or_else(|| not_found(kind, node, vmid))?;
        if let Some(e) = guest.locked_error() {
            return Err(e);
        }
        if guest.snapshots.contains_key(name) {
            return Err(PveError::server(format!("snapshot name '{name}' already used")));
        }
        if guest.is_template() {
            return Err(PveError::server("you can't snapshot a template"));
        }
        guest.config.insert("lock".into(), "snapshot".into());
        Ok(())
    }

    /// The end of a snapshot task: the current config saved under `name`, which becomes the parent
    /// of the current state. RAM is saved only if asked for and the guest is running.
    fn finish_snapshot(
        &mut self,
        vmid: u64,
        name: &str,
        description: String,
        vmstate: bool,
        log: &mut Vec<String>,
        fail: bool,
    ) -> Result<(), String> {
        let guest = self.guests.get_mut(&vmid).ok_or("guest vanished")?;
        guest.config.remove("lock");
        if fail {
            return Err(format!("snapshot '{name}' failed: injected task failure"));
        }
        let mut config = guest.config.clone();
        config.remove("parent");
        let parent = guest.config.get("parent").cloned();
        guest
            .snapshots
            .insert(name.to_string(), Snapshot { config, description, snaptime: now(), parent, vmstate: vmstate && guest.running });
        guest.config.insert("parent".into(), name.to_string());
        log.push(format!("snapshot '{name}' created"));
        Ok(())
    }

    fn begin_snapshot_delete(&mut self, kind: GuestKind, node: &str, vmid: u64, name: &str, force: bool) -> Result<(), PveError> {
        let guest = self.guests.get_mut(&vmid).ok_or_else(|| not_found(kind, node, vmid))?;
        if !guest.snapshots.contains_key(name) {
            return Err(no_such_snapshot(name));
        }
        if !force && let Some(e) = guest.locked_error() {
            return Err(e);
        }
        guest.config.insert("lock".into(), "snapshot-delete".into());
        Ok(())
    }

    /// The end of a snapshot deletion: the snapshot's children (and the current state, if it grew
    /// from it) take its parent.
    fn finish_snapshot_delete(&mut self, vmid: u64, name: &str, fail: bool) -> Result<(), String> {
        let guest = self.guests.get_mut(&vmid).ok_or("guest vanished")?;
        guest.config.remove("lock");
        if fail {
            return Err(format!("delete snapshot '{name}' failed: injected task failure"));
        }
        let removed = guest.snapshots.remove(name).ok_or("snapshot vanished")?;
        for snapshot in guest.snapshots.values_mut().filter(|s| s.parent.as_deref() == Some(name)) {
            snapshot.parent = removed.parent.clone();
        }
        if guest.config.get("parent").map(String::as_str) == Some(name) {
            match removed.parent {
                Some(parent) => guest.config.insert("parent".into(), parent),
                None => guest.config.remove("parent"),
            };
        }
        Ok(())
    }

    fn begin_rollback(&mut self, kind: GuestKind, node: &str, vmid: u64, name: &str) -> Result<(), PveError> {
        let guest = self.guests.get_mut(&vmid).ok_or_else(|| not_found(kind, node, vmid))?;
        if !guest.snapshots.contains_key(name) {
            return Err(no_such_snapshot(name));
        }
        if let Some(e) = guest.locked_error() {
            return Err(e);
        }
        guest.config.insert("lock".into(), "rollback".into());
        Ok(())
    }

    /// The end of a rollback: the snapshot's config back, pending changes dropped.
    fn finish_rollback(&mut self, vmid: u64, name: &str, start: bool, log: &mut Vec<String>, fail: bool) -> Result<(), String> {
        let guest = self.guests.get_mut(&vmid).ok_or("guest vanished")?;
        guest.config.remove("lock");
        if fail {
            return Err(format!("rollback to '{name}' failed: injected task failure"));
        }
        let snapshot = guest.snapshots.get(name).ok_or("snapshot vanished")?.clone();
        guest.config = snapshot.config.clone();
        guest.config.insert("parent".into(), name.to_string());
        guest.pending.clear();
        guest.pending_delete.clear();
        // Without saved RAM the guest comes back stopped (unless asked to start).
        let running = snapshot.vmstate || start;
        guest.running = running;
        guest.started_at = running.then(now);
        log.push(format!("rolled back to snapshot '{name}'"));
        Ok(())
    }

    pub fn update_snapshot(
        &mut self,
        kind: GuestKind,
        node: &str,
        vmid: u64,
        name: &str,
        description: Option<&str>,
    ) -> Result<(), PveError> {
        let guest = self.guests.get_mut(&vmid).ok_or_else(|| not_found(kind, node, vmid))?;
        let snapshot = guest.snapshots.get_mut(name).ok_or_else(|| no_such_snapshot(name))?;
        if let Some(description) = description {
            snapshot.description = description.to_string();
        }
        Ok(())
    }
}

/// Snapshot operations as requests run them, under the guest's config lock; `guest` is the guest
/// as the request found it.
impl Emulator {
    pub async fn create_snapshot(
        self: &Arc<Self>,
        guest: &Guest,
        name: String,
        description: String,
        vmstate: bool,
        user: &str,
    ) -> Result<Upid, PveError> {
        let (kind, vmid) = (guest.kind, guest.vmid);
        if matches!(name.as_str(), "current" | "pending") {
            return Err(PveError::param("snapname", format!("invalid configuration ID '{name}'")));
        }
        let guard = self.flock(kind, vmid).await?;
        self.cluster().begin_snapshot(kind, &guest.node, vmid, &name)?;
        // Only VMs save RAM.
        let vmstate = vmstate && kind == GuestKind::Qemu;
        Ok(self.spawn_task(
            &guest.node,
            &format!("{}snapshot", task_prefix(kind)),
            &vmid.to_string(),
            user,
            1,
            vec![guard],
            Box::new(move |cluster, log, fail| cluster.finish_snapshot(vmid, &name, description, vmstate, log, fail)),
        ))
    }

    pub async fn delete_snapshot(self: &Arc<Self>, guest: &Guest, name: String, force: bool, user: &str) -> Result<Upid, PveError> {
        let (kind, vmid) = (guest.kind, guest.vmid);
        let guard = self.flock(kind, vmid).await?;
        self.cluster().begin_snapshot_delete(kind, &guest.node, vmid, &name, force)?;
        Ok(self.spawn_task(
            &guest.node,
            &format!("{}delsnapshot", task_prefix(kind)),
            &vmid.to_string(),
            user,
            1,
            vec![guard],
            Box::new(move |cluster, _, fail| cluster.finish_snapshot_delete(vmid, &name, fail)),
        ))
    }

    pub async fn rollback_snapshot(self: &Arc<Self>, guest: &Guest, name: String, start: bool, user: &str) -> Result<Upid, PveError> {
        let (kind, vmid) = (guest.kind, guest.vmid);
        let guard = self.flock(kind, vmid).await?;
        self.cluster().begin_rollback(kind, &guest.node, vmid, &name)?;
        Ok(self.spawn_task(
            &guest.node,
            &format!("{}rollback", task_prefix(kind)),
            &vmid.to_string(),
            user,
            2,
            vec![guard],
            Box::new(move |cluster, log, fail| cluster.finish_rollback(vmid, &name, start, log, fail)),
        ))
    }
}
