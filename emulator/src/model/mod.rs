//! The emulated cluster: nodes, storages and their volumes, guests with configs and snapshot trees,
//! pools, HA resources and backup jobs. Serialisable, so a restarted emulator keeps its guests.
//! The operations that change it, with PVE's checks and messages, are in the submodules (and in
//! `crate::vzdump` for backups); handlers only parse requests and shape answers.

pub mod access;
mod cluster;
mod downloads;
mod guests;
mod ha;
mod migrate;
mod moves;
mod node_loss;
mod seed;
mod snapshots;
mod storage;

use std::collections::BTreeMap;

use pve_api::GuestKind;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

pub use cluster::PoolUpdate;
pub use downloads::{Download, image_virtual_size};
pub use guests::{CloneRequest, ConfigUpdate, NewGuest, WriteCheck};
pub use ha::RuleRow;
pub use ha::{HA_OPTIONS, HaAction, HaDisarm, HaManager, HaRule, HaService};
pub use migrate::MigrateRequest;
pub use moves::{DiskMove, VolumeReassign};
pub use storage::{CopyMode, DiskCopy};

use crate::error::PveError;

/// Guest config values as PVE's config file holds them: text, in key order.
pub type Config = BTreeMap<String, String>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cluster {
    pub name: String,
    pub nodes: Vec<Node>,
    pub storages: BTreeMap<String, StorageDef>,
    pub volumes: Vec<Volume>,
    pub guests: BTreeMap<u64, Guest>,
    pub pools: BTreeMap<String, Pool>,
    /// `vm:100` → its options.
    pub ha_resources: BTreeMap<String, Config>,
    pub backup_jobs: BTreeMap<String, Config>,
    pub mac_counter: u32,
    /// `/etc/pve/ha/rules.cfg`.
    #[serde(default)]
    pub ha_rules: BTreeMap<String, HaRule>,
    /// `/etc/pve/ha/groups.cfg` (kept with `--ha-groups` only).
    #[serde(default)]
    pub ha_groups: BTreeMap<String, Config>,
    /// The HA manager's status (`manager_status`).
    #[serde(default)]
    pub ha_manager: HaManager,
    /// Users, groups, roles, ACL entries and API tokens (`user.cfg`).
    #[serde(default)]
    pub access: access::Access,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub ip: String,
    pub online: bool,
    pub cpus: u32,
    pub memory: u64,
    pub bridges: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StorageDef {
    pub storage_type: String,
    pub content: Vec<String>,
    pub shared: bool,
    pub total: u64,
    /// Directory-backed storages keep files here (snippets written over SFTP land in it).
    pub path: Option<String>,
    /// The nodes the storage is available on (storage.cfg `nodes`); all when unset.
    #[serde(default)]
    pub nodes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Volume {
    pub storage: String,
    /// None on shared storage.
    pub node: Option<String>,
    /// `local-lvm:vm-100-disk-0`
    pub volid: String,
    pub content: String,
    pub format: String,
    pub size: u64,
    pub ctime: i64,
    pub vmid: Option<u64>,
    pub notes: Option<String>,
    pub subtype: Option<String>,
    /// For backup archives: the guest config inside, so restores can recreate it.
    #[serde(default)]
    pub archived_config: Option<Config>,
    #[serde(default)]
    pub archived_kind: Option<GuestKind>,
    /// For linked clones: the template volume this one is based on.
    #[serde(default)]
    pub linked_base: Option<String>,
    /// What the volume holds, as a marker: made with the volume, carried by every copy (full and
    /// linked clones, disk moves, migrations, backups and restores), so tests can follow data.
    #[serde(default)]
    pub data: Option<String>,
    /// For backup archives: the data markers of the guest's disks, by config key.
    #[serde(default)]
    pub archived_data: BTreeMap<String, String>,
    /// For disk images (`import/*.qcow2`, `*.raw`): the size of the disk the image holds, which
    /// the file's length is not for qcow2.
    #[serde(default)]
    pub virtual_size: Option<u64>,
    /// For downloaded files: their hex digest by algorithm (md5 … sha512), so a download of the
    /// same name with a checksum can tell whether the file is already there, without the data dir.
    #[serde(default)]
    pub checksums: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Guest {
    pub vmid: u64,
    pub node: String,
    pub kind: GuestKind,
    pub config: Config,
    /// Changes waiting for a restart of a running guest.
    #[serde(default)]
    pub pending: Config,
    #[serde(default)]
    pub pending_delete: Vec<String>,
    pub snapshots: BTreeMap<String, Snapshot>,
    pub running: bool,
    pub started_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub config: Config,
    pub description: String,
    pub snaptime: i64,
    pub parent: Option<String>,
    pub vmstate: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Pool {
    pub comment: String,
    pub vms: Vec<u64>,
    pub storage: Vec<String>,
}

impl StorageDef {
    /// The format a new volume gets: files on directory storages are qcow2 (and take the
    /// `wanted` format), block storages only hold raw volumes (pve-storage `get_formats`).
    pub fn volume_format(&self, wanted: Option<&str>) -> String {
        match (self.storage_type.as_str(), wanted) {
            ("dir" | "nfs", Some(format)) => format.to_string(),
            ("dir" | "nfs", None) => "qcow2".into(),
            _ => "raw".into(),
        }
    }
}

impl StorageDef {
    /// What a storage makes of a request for `bytes`: LVM rounds a volume up to its 4 MiB
    /// extents (pve-storage `LvmThinPlugin::alloc_image` asks lvcreate for KiB), ZFS a zvol up to
    /// its 16 KiB volblocksize; files are as asked.
    pub fn allocated_size(&self, bytes: u64) -> u64 {
        let unit: u64 = match self.storage_type.as_str() {
            "lvm" | "lvmthin" => 4 << 20,
            "zfspool" => 16 << 10,
            _ => 1,
        };
        bytes.div_ceil(unit) * unit
    }
}

/// "VM" or "CT", as PVE's messages name a guest.
pub fn kind_word(kind: GuestKind) -> &'static str {
    if kind == GuestKind::Qemu { "VM" } else { "CT" }
}

/// PVE's answer for a guest whose config file is not where the request looked.
pub fn not_found(kind: GuestKind, node: &str, vmid: u64) -> PveError {
    let dir = if kind == GuestKind::Qemu { "qemu-server" } else { "lxc" };
    PveError::server(format!("Configuration file 'nodes/{node}/{dir}/{vmid}.conf' does not exist"))
}

/// The storage a volume ID names (`local-lvm:vm-100-disk-0` → `local-lvm`).
pub fn storage_of(volid: &str) -> &str {
    volid.split(':').next().unwrap_or("")
}

/// The key a drive's property string gives its volume without `key=`.
pub fn volume_key(kind: GuestKind) -> &'static str {
    if kind == GuestKind::Qemu { "file" } else { "volume" }
}

/// The first free `unusedN` key of a config.
pub fn next_unused_key(config: &Config) -> String {
    (0..).map(|n| format!("unused{n}")).find(|k| !config.contains_key(k)).expect("a free unusedN exists")
}

/// Config keys that hold volumes.
pub fn is_disk_key(kind: GuestKind, key: &str) -> bool {
    let prefix = key.trim_end_matches(|c: char| c.is_ascii_digit());
    let indexed = prefix != key;
    match kind {
        GuestKind::Qemu => (indexed && matches!(prefix, "scsi" | "virtio" | "sata" | "ide")) || matches!(key, "efidisk0" | "tpmstate0"),
        GuestKind::Lxc => key == "rootfs" || (indexed && prefix == "mp"),
    }
}

impl Guest {
    /// A stopped guest without snapshots or pending changes.
    pub fn new(vmid: u64, node: String, kind: GuestKind, config: Config) -> Self {
        Self {
            vmid,
            node,
            kind,
            config,
            pending: Config::new(),
            pending_delete: Vec::new(),
            snapshots: BTreeMap::new(),
            running: false,
            started_at: None,
        }
    }

    pub fn name(&self) -> Option<&str> {
        let key = if self.kind == GuestKind::Qemu { "name" } else { "hostname" };
        self.config.get(key).map(String::as_str)
    }

    pub fn is_template(&self) -> bool {
        self.config.get("template").is_some_and(|v| v == "1")
    }

    /// Whether a snapshot still refers to the volume (PVE's `is_volume_in_use` for snapshots).
    pub fn snapshots_use(&self, volid: &str) -> bool {
        self.snapshots.values().any(|s| s.config.values().any(|v| v.contains(volid)))
    }

    pub fn lock(&self) -> Option<&str> {
        self.config.get("lock").map(String::as_str)
    }

    /// PVE's error for a locked guest, if it is locked.
    pub fn locked_error(&self) -> Option<PveError> {
        self.lock().map(|lock| PveError::server(format!("{} is locked ({lock})", kind_word(self.kind))))
    }

    /// The config as it will be after a restart: pending changes applied.
    pub fn config_with_pending(&self) -> Config {
        let mut config = self.config.clone();
        config.extend(self.pending.clone());
        for key in &self.pending_delete {
            config.remove(key);
        }
        config
    }

    /// Makes the pending changes current (a start, stop or reboot does).
    pub fn apply_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        self.config.extend(pending);
        for key in std::mem::take(&mut self.pending_delete) {
            self.config.remove(&key);
        }
    }

    /// PVE's digest: SHA-1 of the config file, snapshot sections included.
    pub fn digest(&self) -> String {
        let mut text = render_config(&self.config);
        for (name, snapshot) in &self.snapshots {
            text.push_str(&format!("\n[{name}]\n"));
            text.push_str(&render_config(&snapshot.config));
        }
        hex::encode(Sha1::digest(text.as_bytes()))
    }

    /// Disk keys and their volume IDs, skipping CD-ROMs and `none`.
    pub fn disks(&self) -> Vec<(String, String)> {
        self.config
            .iter()
            .filter(|(k, _)| is_disk_key(self.kind, k))
            .filter_map(|(k, v)| {
                let volume = pve_api::PropertyString::parse(v, Some(if self.kind == GuestKind::Qemu { "file" } else { "volume" })).ok()?;
                let file = volume.get("file").or(volume.get("volume"))?.to_string();
                let cloudinit = file.ends_with("-cloudinit");
                if file == "none" || file == "cdrom" || (volume.get("media") == Some("cdrom") && !cloudinit) {
                    return None;
                }
                Some((k.clone(), file))
            })
            .collect()
    }

    /// Sum of disk sizes in bytes, from `size=` of each disk.
    pub fn max_disk(&self) -> u64 {
        self.disks()
            .iter()
            .filter_map(|(k, _)| {
                let value = self.config.get(k)?;
                let p = pve_api::PropertyString::parse(value, Some("file")).ok()?;
                pve_api::size::parse_size(p.get("size")?).ok()
            })
            .sum()
    }

    pub fn max_mem(&self) -> u64 {
        let mem = self.config.get("memory").and_then(|m| m.split(',').next().map(|c| c.trim_start_matches("current=").to_string()));
        mem.and_then(|m| m.parse::<u64>().ok()).unwrap_or(512) << 20
    }

    pub fn cpus(&self) -> u64 {
        let cores: u64 = self.config.get("cores").and_then(|c| c.parse().ok()).unwrap_or(1);
        let sockets: u64 = self.config.get("sockets").and_then(|c| c.parse().ok()).unwrap_or(1);
        cores * sockets
    }
}

fn render_config(config: &Config) -> String {
    config.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

impl Cluster {
    /// The guest at `{node}/{kind}/{vmid}`, checked the way PVE does: the config file must exist on
    /// that node under that kind.
    pub fn guest_at(&self, node: &str, kind: GuestKind, vmid: u64) -> Result<&Guest, PveError> {
        match self.guests.get(&vmid) {
            Some(g) if g.node == node && g.kind == kind => Ok(g),
            _ => Err(not_found(kind, node, vmid)),
        }
    }

    /// The HA resource ID (`vm:100`, `ct:100`) configured for a guest, if any.
    pub fn ha_sid_of(&self, vmid: u64) -> Option<&String> {
        self.ha_resources.keys().find(|sid| Cluster::ha_guest_vmid(sid) == Some(vmid))
    }

    /// After a restart: tasks do not survive it, and neither do the locks they held.
    pub fn release_task_locks(&mut self) {
        for guest in self.guests.values_mut() {
            if matches!(guest.lock(), Some("clone" | "create" | "backup" | "migrate" | "disk")) {
                guest.config.remove("lock");
            }
        }
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Storages visible on a node (all of them in this emulator: every node has local storages and
    /// sees the shared ones).
    pub fn storage(&self, id: &str) -> Option<&StorageDef> {
        self.storages.get(id)
    }

    pub fn volumes_on<'a>(&'a self, node: &'a str, storage: &'a str) -> impl Iterator<Item = &'a Volume> + 'a {
        self.volumes.iter().filter(move |v| v.storage == storage && v.node.as_deref().is_none_or(|n| n == node))
    }

    pub fn find_volume(&self, node: &str, volid: &str) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.volid == volid && v.node.as_deref().is_none_or(|n| n == node))
    }

    pub fn used_bytes(&self, node: &str, storage: &str) -> u64 {
        self.volumes_on(node, storage).map(|v| v.size).sum()
    }

    pub fn next_free_vmid(&self, from: u64) -> u64 {
        let mut id = from.max(100);
        while self.guests.contains_key(&id) {
            id += 1;
        }
        id
    }

    /// A locally administered MAC in Proxmox's `BC:24:11` range, unique within this cluster.
    pub fn new_mac(&mut self) -> String {
        self.mac_counter += 1;
        let n = self.mac_counter;
        format!("BC:24:11:{:02X}:{:02X}:{:02X}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
    }

    /// Next free `vm-<vmid>-disk-N` name on a storage.
    pub fn new_disk_name(&self, storage: &str, vmid: u64, prefix: &str) -> String {
        (0..)
            .map(|n| format!("{storage}:{prefix}-{vmid}-disk-{n}"))
            .find(|name| {
                !self.volumes.iter().any(|v| v.volid == *name || v.volid.ends_with(&format!("/{}", name.split(':').nth(1).unwrap_or(""))))
            })
            .expect("an unused disk name exists")
    }

    /// Removes a half-made guest with its disks and pool membership (backups stay).
    pub fn forget_guest(&mut self, vmid: u64) {
        self.guests.remove(&vmid);
        self.access.forget_paths_under(&format!("/vms/{vmid}"));
        self.volumes.retain(|v| v.vmid != Some(vmid) || v.content == "backup");
        for pool in self.pools.values_mut() {
            pool.vms.retain(|v| *v != vmid);
        }
    }

    pub fn remove_volume(&mut self, volid: &str) {
        self.volumes.retain(|v| v.volid != volid);
    }

    /// Removes the volume `volid` as `node` sees it: a local volume of the same name on another
    /// node (a migration's source or target) stays.
    pub fn remove_volume_on(&mut self, node: &str, volid: &str) {
        self.volumes.retain(|v| v.volid != volid || v.node.as_deref().is_some_and(|n| n != node));
    }

    /// Whether `storage` can be used from `node` (pve-storage `storage_check_node`).
    pub fn storage_on_node(&self, storage: &str, node: &str) -> Result<&StorageDef, PveError> {
        let def = self.storage(storage).ok_or_else(|| PveError::server(format!("storage '{storage}' does not exist")))?;
        if def.nodes.as_ref().is_some_and(|nodes| !nodes.iter().any(|n| n == node)) {
            return Err(PveError::server(format!("storage '{storage}' is not available on node '{node}'")));
        }
        Ok(def)
    }
}

/// A fresh data marker for a new volume: what it holds, carried along by copies.
pub fn new_data_marker(volid: &str) -> String {
    format!("{volid}#{:016x}", rand::random::<u64>())
}
