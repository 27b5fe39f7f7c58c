//! The emulated cluster: nodes, storages and their volumes, guests with configs and snapshot trees,
//! pools, HA resources and backup jobs. Serialisable, so a restarted emulator keeps its guests.

use std::collections::BTreeMap;

use pve_api::GuestKind;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StorageDef {
    pub storage_type: String,
    pub content: Vec<String>,
    pub shared: bool,
    pub total: u64,
    /// Directory-backed storages keep files here (snippets written over SFTP land in it).
    pub path: Option<String>,
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

    pub fn lock(&self) -> Option<&str> {
        self.config.get("lock").map(String::as_str)
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
        self.volumes.retain(|v| v.vmid != Some(vmid) || v.content == "backup");
        for pool in self.pools.values_mut() {
            pool.vms.retain(|v| *v != vmid);
        }
    }

    pub fn remove_volume(&mut self, volid: &str) {
        self.volumes.retain(|v| v.volid != volid);
    }

    /// A fresh cluster: `nodes` nodes named pve1.., local/local-lvm/local-zfs per node, shared
    /// `backup` storage, bridges vmbr0/vmbr1, an Ubuntu 24.04 cloud-init template at VMID 9000 and
    /// an LXC template volume on every node.
    pub fn seeded(node_count: usize, now: i64, data_dir: Option<&std::path::Path>) -> Self {
        let nodes = (1..=node_count.max(1))
            .map(|i| Node {
                name: format!("pve{i}"),
                ip: format!("10.10.10.{}", i),
                online: true,
                cpus: 16,
                memory: 64 << 30,
                bridges: vec!["vmbr0".into(), "vmbr1".into()],
            })
            .collect::<Vec<_>>();
        let dir_path = |name: &str| data_dir.map(|d| d.join(name).display().to_string());
        let mut storages = BTreeMap::new();
        storages.insert(
            "local".into(),
            StorageDef {
                storage_type: "dir".into(),
                content: ["iso", "vztmpl", "backup", "snippets", "import"].map(String::from).to_vec(),
                shared: false,
                total: 100 << 30,
                path: dir_path("local"),
            },
        );
        storages.insert(
            "local-lvm".into(),
            StorageDef {
                storage_type: "lvmthin".into(),
                content: vec!["images".into(), "rootdir".into()],
                shared: false,
                total: 1 << 40,
                path: None,
            },
        );
        storages.insert(
            "local-zfs".into(),
            StorageDef {
                storage_type: "zfspool".into(),
                content: vec!["images".into(), "rootdir".into()],
                shared: false,
                total: 1 << 40,
                path: None,
            },
        );
        storages.insert(
            "backup".into(),
            StorageDef {
                storage_type: "nfs".into(),
                content: vec!["backup".into()],
                shared: true,
                total: 4 << 40,
                path: dir_path("backup"),
            },
        );
        let mut cluster = Cluster {
            name: "homelab".into(),
            nodes,
            storages,
            volumes: Vec::new(),
            guests: BTreeMap::new(),
            pools: BTreeMap::new(),
            ha_resources: BTreeMap::new(),
            backup_jobs: BTreeMap::new(),
            mac_counter: 0,
        };
        let node_names: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
        for node in &node_names {
            cluster.volumes.push(Volume {
                storage: "local".into(),
                node: Some(node.clone()),
                volid: "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst".into(),
                content: "vztmpl".into(),
                format: "tzst".into(),
                size: 141 << 20,
                ctime: now,
                ..Default::default()
            });
        }
        let template_disk = "local-lvm:base-9000-disk-0";
        cluster.volumes.push(Volume {
            storage: "local-lvm".into(),
            node: Some("pve1".into()),
            volid: template_disk.into(),
            content: "images".into(),
            format: "raw".into(),
            size: 3584 << 20,
            ctime: now,
            vmid: Some(9000),
            ..Default::default()
        });
        cluster.volumes.push(Volume {
            storage: "local-lvm".into(),
            node: Some("pve1".into()),
            volid: "local-lvm:vm-9000-cloudinit".into(),
            content: "images".into(),
            format: "raw".into(),
            size: 4 << 20,
            ctime: now,
            vmid: Some(9000),
            ..Default::default()
        });
        let mac = cluster.new_mac();
        let config: Config = [
            ("name", "ubuntu-2404-cloudinit".to_string()),
            ("template", "1".into()),
            ("cores", "2".into()),
            ("sockets", "1".into()),
            ("memory", "2048".into()),
            ("ostype", "l26".into()),
            ("scsihw", "virtio-scsi-pci".into()),
            ("scsi0", format!("{template_disk},size=3584M")),
            ("ide2", "local-lvm:vm-9000-cloudinit,media=cdrom".into()),
            ("boot", "order=scsi0".into()),
            ("net0", format!("virtio={mac},bridge=vmbr0")),
            ("agent", "1".into()),
            ("serial0", "socket".into()),
            ("vga", "serial0".into()),
            ("ipconfig0", "ip=dhcp".into()),
            ("tags", "cloudinit;template;ubuntu".into()),
            ("meta", format!("creation-qemu=9.2.0,ctime={now}")),
            ("vmgenid", "5a4b8e0c-1111-4c2e-9a55-000000009000".into()),
            ("smbios1", "uuid=9b3b2c1a-0000-4000-8000-000000009000".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        cluster.guests.insert(9000, Guest::new(9000, "pve1".into(), GuestKind::Qemu, config));
        cluster
    }
}
