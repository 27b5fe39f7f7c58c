//! Storage content: deleting volumes, and the snippet volumes guest configs refer to.

use std::sync::Arc;

use pve_api::{PropertyString, Upid};

use super::{Cluster, Volume, kind_word, storage_of};
use crate::error::PveError;
use crate::state::Emulator;
use crate::tasks::TaskCtx;

/// How a disk reaches its new volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMode {
    /// A new volume, then a copy of every byte at the storages' bandwidth.
    Full,
    /// A copy-on-write volume on the base's storage (`vdisk_clone`): no data moves.
    Linked,
}

/// One disk of a clone, move or migration: from `source` (on `source_node`) to `target` (on
/// `target_node`).
#[derive(Debug, Clone)]
pub struct DiskCopy {
    /// The config key (`scsi0`, `rootfs`, `unused1`), for the log.
    pub key: String,
    pub source: String,
    pub source_node: String,
    pub target: String,
    pub target_node: String,
    pub size: u64,
    pub mode: CopyMode,
}

impl Cluster {
    /// Removes a volume unless its guest's config still uses it; returns what was removed.
    pub fn delete_volume(&mut self, node: &str, volid: &str) -> Result<Volume, PveError> {
        let volume = self.find_volume(node, volid).cloned().ok_or_else(|| PveError::server(format!("volume '{volid}' does not exist")))?;
        if let Some(owner) = volume.vmid.and_then(|id| self.guests.get(&id))
            && owner.config.values().any(|c| c.contains(volid))
        {
            return Err(PveError::server(format!(
                "unable to delete '{volid}' - volume is still in use by {} {}",
                kind_word(owner.kind),
                owner.vmid
            )));
        }
        self.remove_volume_on(node, volid);
        // A downloaded file lives in the storage's directory too (pve-storage `vdisk_free` unlinks it).
        if matches!(volume.content.as_str(), "iso" | "vztmpl" | "import")
            && let Some(dir) = self.storage(&volume.storage).and_then(|s| s.path.clone())
            && let Some((_, name)) = volid.split_once('/')
        {
            let file = std::path::Path::new(&dir).join(pve_api::storage_files::content_subdir(&volume.content)).join(name);
            let _ = std::fs::remove_file(file);
        }
        Ok(volume)
    }

    /// Checks that a snippet volume exists; returns its file when the storage is a directory.
    fn snippet(&self, node: &str, param: &str, volid: &str) -> Result<Option<std::path::PathBuf>, PveError> {
        let (storage, path) = volid.split_once(':').ok_or_else(|| PveError::param(param, format!("invalid volume ID '{volid}'")))?;
        let def = self.storage(storage).ok_or_else(|| PveError::server(format!("storage '{storage}' does not exist")))?;
        if !def.content.iter().any(|c| c == "snippets") {
            return Err(PveError::server(format!("storage '{storage}' does not support snippets")));
        }
        // pve-storage's Plugin::parse_volname takes a snippet only as `snippets/NAME`, one plain file
        // name: `local:snippets//etc/shadow` must not reach the file system (nor tell whether it exists).
        let name = path
            .strip_prefix("snippets/")
            .filter(|name| !name.is_empty() && !name.contains('/') && *name != "." && *name != "..")
            .ok_or_else(|| PveError::server(format!("unable to parse directory volume name '{path}'")))?;
        let file = def.path.as_ref().map(|dir| std::path::Path::new(dir).join("snippets").join(name));
        let exists = match &file {
            Some(file) => file.is_file(),
            None => self.find_volume(node, volid).is_some(),
        };
        if !exists {
            return Err(PveError::server(format!("volume '{volid}' does not exist")));
        }
        Ok(file)
    }

    /// `cicustom` names snippet volumes (`user=local:snippets/x.yaml`); each must exist on the node.
    pub(super) fn check_cicustom(&self, node: &str, value: &str) -> Result<(), PveError> {
        let parts = PropertyString::parse(value, None).map_err(|e| PveError::param("cicustom", format!("invalid format - {e}")))?;
        for (_, volid) in parts.iter() {
            self.snippet(node, "cicustom", volid)?;
        }
        Ok(())
    }

    /// A hookscript must be an executable snippet: PVE runs it at each phase of the guest's life.
    pub(super) fn check_hookscript(&self, node: &str, volid: &str) -> Result<(), PveError> {
        use std::os::unix::fs::PermissionsExt;
        if let Some(file) = self.snippet(node, "hookscript", volid)?
            && std::fs::metadata(&file).map(|m| m.permissions().mode() & 0o111 == 0).unwrap_or(true)
        {
            return Err(PveError::server(format!("script '{volid}' is not executable")));
        }
        Ok(())
    }
}

impl Emulator {
    /// Makes one disk's new volume inside a task, as qemu-server's `clone_disk` does: the
    /// allocation (or linked clone) under the target storage's lock, then, for a full copy, the
    /// data at the bandwidth the source and target storages have left. Fails with PVE's storage
    /// lock message.
    pub async fn copy_disk(&self, copy: &DiskCopy, ctx: &TaskCtx) -> Result<(), String> {
        let log = |line: String| ctx.log(line);
        let target_storage = storage_of(&copy.target);
        match copy.mode {
            CopyMode::Linked => {
                ctx.log(format!("create linked clone of drive {} ({})", copy.key, copy.source));
                self.storage_lock(&copy.target_node, target_storage, &log).await?;
            }
            CopyMode::Full => {
                ctx.log(format!("create full clone of drive {} ({})", copy.key, copy.source));
                self.storage_lock(&copy.target_node, target_storage, &log).await?;
                ctx.log(format!("allocated target volume '{}'", copy.target));
                self.transfer_volume(&copy.source_node, &copy.source, &copy.target_node, target_storage, copy.size, &log).await;
            }
        }
        Ok(())
    }

    /// Frees a volume the way `vdisk_free` does, under its storage's lock; the volume stays when
    /// the lock is not had in time.
    pub async fn free_volume(&self, node: &str, volid: &str, log: &(dyn Fn(String) + Sync)) -> Result<(), String> {
        self.storage_lock(node, storage_of(volid), log).await?;
        self.cluster().remove_volume_on(node, volid);
        Ok(())
    }

    /// Deletes a volume under its storage's lock (`vdisk_free`); a backup archive's deletion is
    /// an `imgdel` task, as in PVE.
    pub async fn delete_volume(self: &Arc<Self>, node: &str, volid: &str, user: &str) -> Result<Option<Upid>, PveError> {
        // Checked first, so a missing volume is not worth a lock.
        self.cluster().find_volume(node, volid).ok_or_else(|| PveError::server(format!("volume '{volid}' does not exist")))?;
        self.storage_lock(node, storage_of(volid), &|_| {}).await.map_err(PveError::server)?;
        let removed = self.cluster().delete_volume(node, volid)?;
        Ok((removed.content == "backup").then(|| self.spawn_noop_task(node, "imgdel", volid, user)))
    }
}
