//! Cluster-wide configuration: resource pools and HA resources.

use pve_api::GuestKind;

use super::{Cluster, Config, Pool};
use crate::error::PveError;

/// The options an HA resource keeps.
pub const HA_OPTIONS: [&str; 6] = ["state", "group", "max_restart", "max_relocate", "comment", "failback"];

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

fn no_such_ha_resource(sid: &str) -> PveError {
    PveError::server(format!("no such resource '{sid}'"))
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

    pub fn delete_pool(&mut self, id: &str) -> Result<(), PveError> {
        let pool = self.pool(id)?;
        if !pool.vms.is_empty() || !pool.storage.is_empty() {
            return Err(PveError::server("pool is not empty"));
        }
        self.pools.remove(id);
        Ok(())
    }

    /// `100` and `vm:100` both name a guest; PVE stores `vm:`/`ct:` by the guest's kind.
    pub fn ha_sid(&self, raw: &str) -> Result<String, PveError> {
        let vmid: u64 =
            raw.rsplit(':').next().and_then(|v| v.parse().ok()).ok_or_else(|| PveError::param("sid", "invalid HA resource ID"))?;
        let guest = self.guests.get(&vmid).ok_or_else(|| PveError::server(format!("unable to find VM '{vmid}'")))?;
        Ok(format!("{}:{vmid}", if guest.kind == GuestKind::Qemu { "vm" } else { "ct" }))
    }

    /// The HA resource a (raw) `sid` names, under its stored name.
    pub fn ha_resource(&self, raw_sid: &str) -> Result<(String, &Config), PveError> {
        let sid = self.ha_sid(raw_sid)?;
        let options = self.ha_resources.get(&sid).ok_or_else(|| no_such_ha_resource(&sid))?;
        Ok((sid, options))
    }

    pub fn create_ha_resource(&mut self, raw_sid: &str, options: Config) -> Result<(), PveError> {
        let sid = self.ha_sid(raw_sid)?;
        if self.ha_resources.contains_key(&sid) {
            return Err(PveError::server(format!("resource ID '{sid}' already defined")));
        }
        self.ha_resources.insert(sid, options);
        Ok(())
    }

    /// Removes the `delete`d options, then sets the given ones.
    pub fn update_ha_resource(&mut self, raw_sid: &str, delete: &[String], options: Config) -> Result<(), PveError> {
        let sid = self.ha_sid(raw_sid)?;
        let current = self.ha_resources.get_mut(&sid).ok_or_else(|| no_such_ha_resource(&sid))?;
        for key in delete {
            current.remove(key);
        }
        current.extend(options);
        Ok(())
    }

    pub fn delete_ha_resource(&mut self, raw_sid: &str) -> Result<(), PveError> {
        let sid = self.ha_sid(raw_sid)?;
        self.ha_resources.remove(&sid).ok_or_else(|| no_such_ha_resource(&sid))?;
        Ok(())
    }
}
