//! Storage content: deleting volumes, and the snippet volumes guest configs refer to.

use std::sync::Arc;

use pve_api::{PropertyString, Upid};

use super::{Cluster, Volume, kind_word};
use crate::error::PveError;
use crate::state::Emulator;

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
        self.remove_volume(volid);
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
    /// Deletes a volume; a backup archive's deletion is an `imgdel` task, as in PVE.
    pub fn delete_volume(self: &Arc<Self>, node: &str, volid: &str, user: &str) -> Result<Option<Upid>, PveError> {
        let removed = self.cluster().delete_volume(node, volid)?;
        Ok((removed.content == "backup").then(|| self.spawn_noop_task(node, "imgdel", volid, user)))
    }
}
