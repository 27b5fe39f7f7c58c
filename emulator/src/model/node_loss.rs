//! A node lost with its disk, and the same node reinstalled: what the disaster-recovery drill
//! needs, modelled on what a PVE cluster really keeps and loses.
//!
//! - **What survives a dead disk.** Guest configs live in pmxcfs (`/etc/pve/nodes/<node>/
//!   qemu-server/<vmid>.conf`, `…/lxc/<vmid>.conf`), replicated to every node, so the other nodes
//!   keep them; shared storage (`backup`) is on another machine and keeps its archives.
//! - **What does not.** Volumes on the node's local storages (`local`, `local-lvm`, `local-zfs`),
//!   backups kept there included, and the guests' running state.
//! - **What the cluster shows meanwhile.** The node is no member online: `/nodes` and
//!   `/cluster/resources` give it `status: offline` and, once pmxcfs dropped its RRD data (after
//!   5 minutes: pve-cluster `src/pmxcfs/status.c` `rrd_entry_is_old`), no usage figures at all
//!   (pve-manager `PVE/API2Tools.pm` `extract_node_stats`). Its guests are still listed from their
//!   configs, with `status: unknown` and no name or sizes, which come from the RRD too
//!   (`extract_vm_stats`); its storages are `unknown` (`extract_storage_stats`). This model shows
//!   that steady state at once. Requests for the node are proxied by pveproxy and fail at the
//!   connection: AnyEvent::HTTP's `595` with the socket's error (pve-http-server
//!   `PVE/APIServer/AnyEvent.pm` `proxy_request` passes its status and reason on).
//! - **Reinstalling.** PVE's documented way back for a node with the same name is `pvecm delnode`
//!   on a surviving node, then taking what is still wanted out of the dead node's
//!   `/etc/pve/nodes/<node>` and removing that directory (pve-docs `pvecm.adoc`, the cleanup after
//!   a node's removal), a fresh install, and `pvecm add`. A node that rejoins with the old configs in place would claim
//!   guests whose disks are gone. So `reinstall_node` stands for all of it: the node is online
//!   again with empty local storages and none of its old guests; cluster-wide configuration
//!   (storage definitions, pools, backup jobs, HA resources, which name VMIDs, not nodes) stays.
//!   The guests come back by restoring their archives from the shared storage.

use super::Cluster;
use crate::error::PveError;
use crate::state::Emulator;

impl Emulator {
    /// Loses `node` with its disk (see the module's header); returns the VMIDs left on it.
    pub fn lose_node(&self, node: &str) -> Result<Vec<u64>, PveError> {
        let stranded = self.cluster().lose_node(node)?;
        self.persist();
        self.ha_kick();
        Ok(stranded)
    }

    /// Brings a lost node back reinstalled and empty; returns the VMIDs whose stale configs went.
    pub fn reinstall_node(&self, node: &str) -> Result<Vec<u64>, PveError> {
        let stale = self.cluster().reinstall_node(node)?;
        self.persist();
        self.ha_kick();
        Ok(stale)
    }
}

impl Cluster {
    fn node_mut(&mut self, name: &str) -> Result<&mut super::Node, PveError> {
        self.nodes.iter_mut().find(|n| n.name == name).ok_or_else(|| PveError::server(format!("no such node '{name}'")))
    }

    /// The node's disk died: it goes offline, its local volumes are gone, and its guests stop
    /// (their configs stay, in pmxcfs). Returns the VMIDs whose configs are left on the node.
    pub fn lose_node(&mut self, name: &str) -> Result<Vec<u64>, PveError> {
        self.node_mut(name)?.online = false;
        self.volumes.retain(|v| v.node.as_deref() != Some(name));
        let mut stranded = Vec::new();
        for guest in self.guests.values_mut().filter(|g| g.node == name) {
            guest.running = false;
            guest.started_at = None;
            stranded.push(guest.vmid);
        }
        Ok(stranded)
    }

    /// The node was reinstalled and rejoined after `pvecm delnode` and the removal of its old
    /// `/etc/pve/nodes/<node>`: online, empty, none of its old guests. Returns the VMIDs whose
    /// stale configs went.
    pub fn reinstall_node(&mut self, name: &str) -> Result<Vec<u64>, PveError> {
        if self.node_mut(name)?.online {
            return Err(PveError::server(format!("node '{name}' is online: only a lost node is reinstalled")));
        }
        let stale: Vec<u64> = self.guests.values().filter(|g| g.node == name).map(|g| g.vmid).collect();
        for vmid in &stale {
            self.guests.remove(vmid);
        }
        // A fresh install has nothing on its local storages (lose_node emptied them already;
        // anything put there since could not have been, the node being down).
        self.volumes.retain(|v| v.node.as_deref() != Some(name));
        self.node_mut(name)?.online = true;
        Ok(stale)
    }

    /// Whether a request for `node` reaches it; pveproxy's answer when it does not.
    pub fn proxy_to(&self, node: &str) -> Result<(), PveError> {
        match self.node(node) {
            Some(n) if !n.online => Err(PveError::status(595, "No route to host")),
            _ => Ok(()),
        }
    }

    /// Whether the node is a cluster member that is down.
    pub fn node_offline(&self, node: &str) -> bool {
        self.node(node).is_some_and(|n| !n.online)
    }
}

#[cfg(test)]
mod tests {
    use super::Cluster;

    #[test]
    fn a_lost_node_keeps_configs_and_loses_local_volumes_until_reinstalled() {
        let mut cluster = Cluster::seeded(3, 0, None);
        let local_on = |c: &Cluster, node: &str| c.volumes.iter().filter(|v| v.node.as_deref() == Some(node)).count();
        assert!(local_on(&cluster, "pve1") > 0);
        let stranded = cluster.lose_node("pve1").unwrap();
        assert_eq!(stranded, vec![9000], "the template's config is still in pmxcfs");
        assert_eq!(local_on(&cluster, "pve1"), 0, "the node's local volumes are gone");
        assert!(local_on(&cluster, "pve2") > 0, "other nodes keep theirs");
        assert_eq!(cluster.proxy_to("pve1").unwrap_err().status, 595);
        assert!(cluster.proxy_to("pve2").is_ok());
        assert!(cluster.reinstall_node("pve2").is_err(), "an online node is not reinstalled");
        assert_eq!(cluster.reinstall_node("pve1").unwrap(), vec![9000]);
        assert!(!cluster.guests.contains_key(&9000) && !cluster.node_offline("pve1"));
        assert!(cluster.lose_node("pve9").is_err());
    }
}
