//! The cluster a fresh emulator starts with.

use std::collections::BTreeMap;

use pve_api::GuestKind;

use super::{Cluster, Config, Guest, Node, StorageDef, Volume};

impl Cluster {
    /// The seeded cluster (`bare`) with an Ubuntu 24.04 cloud-init template at VMID 9000 on pve1
    /// and an LXC template volume on every node, as the tests and the lab start from.
    pub fn seeded(node_count: usize, now: i64, data_dir: Option<&std::path::Path>) -> Self {
        let mut cluster = Self::bare(node_count, data_dir);
        cluster.seed_templates(now);
        cluster
    }

    /// A fresh install: `nodes` nodes named pve1.., local/local-lvm/local-zfs per node, shared
    /// `backup` storage, bridges vmbr0/vmbr1, and no guest or template.
    pub fn bare(node_count: usize, data_dir: Option<&std::path::Path>) -> Self {
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
                nodes: None,
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
                nodes: None,
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
                nodes: None,
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
                nodes: None,
            },
        );
        Cluster {
            name: "homelab".into(),
            nodes,
            storages,
            volumes: Vec::new(),
            guests: BTreeMap::new(),
            pools: BTreeMap::new(),
            ha_resources: BTreeMap::new(),
            backup_jobs: BTreeMap::new(),
            mac_counter: 0,
            ha_rules: BTreeMap::new(),
            ha_groups: BTreeMap::new(),
            ha_manager: Default::default(),
            access: Default::default(),
        }
    }

    fn seed_templates(&mut self, now: i64) {
        let cluster = self;
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
            data: Some("ubuntu-24.04-server-cloudimg-amd64".into()),
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
    }
}
