//! Cluster-wide configuration: resource pools (HA is in `ha`).

use super::{Cluster, Pool};
use crate::error::PveError;

/// `PUT /pools/{poolid}`: members added, or removed with `delete`.
pub struct PoolUpdate {
    pub comment: Option<String>,
    pub vms: Vec<u64>,
    pub storage: Vec<String>,
    pub remove: bool,
    /// Take guests out of their other pool instead of refusing them.
    pub allow_move: bool,
}

fn no_such_pool(id: &str) -> PveError {
    PveError::server(format!("pool '{id}' does not exist"))
}

impl Cluster {
    pub fn pool(&self, id: &str) -> Result<&Pool, PveError> {
        self.pools.get(id).ok_or_else(|| no_such_pool(id))
    }

    pub fn create_pool(&mut self, id: &str, comment: &str) -> Result<(), PveError> {
        if self.pools.contains_key(id) {
            return Err(PveError::server(format!("pool '{id}' already exists")));
        }
        self.pools.insert(id.to_string(), Pool { comment: comment.to_string(), ..Default::default() });
        Ok(())
    }

    pub fn update_pool(&mut self, id: &str, update: PoolUpdate) -> Result<(), PveError> {
        if !self.pools.contains_key(id) {
            return Err(no_such_pool(id));
        }
        for vmid in &update.vms {
            if !self.guests.contains_key(vmid) {
                return Err(PveError::server(format!("no such VMID '{vmid}'")));
            }
            if !update.remove && !update.allow_move && self.pools.iter().any(|(pid, p)| pid != id && p.vms.contains(vmid)) {
                return Err(PveError::server(format!("VM {vmid} is already a pool member")));
            }
        }
        if !update.remove {
            for pool in self.pools.values_mut() {
                pool.vms.retain(|v| !update.vms.contains(v));
            }
        }
        let pool = self.pools.get_mut(id).expect("checked above");
        if let Some(comment) = update.comment {
            pool.comment = comment;
        }
        if update.remove {
            pool.vms.retain(|v| !update.vms.contains(v));
            pool.storage.retain(|s| !update.storage.contains(s));
        } else {
            pool.vms.extend(update.vms);
            pool.storage.extend(update.storage);
            pool.vms.sort_unstable();
            pool.vms.dedup();
        }
        Ok(())
    }

    /// pve-manager `PVE/API2/Pool.pm` `delete_pool`: only an empty pool goes, and the message
    /// names the first member found (guests before storages).
    pub fn delete_pool(&mut self, id: &str) -> Result<(), PveError> {
        let pool = self.pool(id)?;
        if let Some(vmid) = pool.vms.iter().find(|v| self.guests.contains_key(v)) {
            return Err(PveError::server(format!("pool '{id}' is not empty (contains VM {vmid})")));
        }
        if let Some(storage) = pool.storage.first() {
            return Err(PveError::server(format!("pool '{id}' is not empty (contains storage '{storage}')")));
        }
        self.pools.remove(id);
        Ok(())
    }
}
