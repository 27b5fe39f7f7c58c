//! The `pve_vm` schema: attributes and blocks, as the docs page reads (docs/resources/vm.md is
//! generated from it).

use super::*;

pub(super) const SCSI_CONTROLLERS: &[&str] = &["lsi", "lsi53c810", "virtio-scsi-pci", "virtio-scsi-single", "megasas", "pvscsi"];

pub(super) const NIC_MODELS: &[&str] = &["virtio", "e1000", "e1000e", "vmxnet3", "rtl8139"];

pub(super) fn disk_block() -> Block {
    Block::new(
        "A disk. Sizes only grow (PVE cannot shrink disks); changing `storage` moves the disk there in place (`move_disk`, also while the VM runs), the old volume freed.",
        vec![
            Attribute::required(names::SLOT, Type::String, "Bus and index, e.g. `scsi0`, `virtio1`, `sata0`.").validate(Validator::regex(
                r"(scsi([0-9]|[12][0-9]|30)|virtio([0-9]|1[0-5])|sata[0-5]|ide[0-3])",
                "is not a disk slot such as scsi0 or virtio1",
            )),
            Attribute::required(names::STORAGE, Type::String, "Storage for the disk, e.g. `local-lvm`.").validate(Validator::storage_id()),
            Attribute::required(names::SIZE, Type::Number, "Size in GiB; grown in place, never shrunk.")
                .validate(Validator::Range(1, 131072)),
            Attribute::optional(names::FORMAT, Type::String, "Image format on file storages: `raw`, `qcow2` or `vmdk`.")
                .validate(Validator::OneOf(&["raw", "qcow2", "vmdk"])),
            Attribute::optional_computed(names::IOTHREAD, Type::Bool, "Dedicated I/O thread (needs `virtio-scsi-single`). Default false.")
                .default(false),
            Attribute::optional_computed(names::DISCARD, Type::Bool, "Pass TRIM/discard to the storage. Default false.").default(false),
            Attribute::optional_computed(names::SSD, Type::Bool, "Present the disk as an SSD. Default false.").default(false),
            Attribute::optional(names::CACHE, Type::String, "Cache mode: `none`, `writethrough`, `writeback`, `unsafe`, `directsync`.")
                .validate(Validator::OneOf(&["none", "writethrough", "writeback", "unsafe", "directsync"])),
            Attribute::optional_computed(names::BACKUP, Type::Bool, "Include the disk in vzdump backups. Default true.").default(true),
            Attribute::optional(names::IMPORT_FROM, Type::String, "Disk image the new disk is made from (PVE's `import-from`): a volume with content `import`, e.g. `pve_download_file.image.volume_id`, or another VM's disk. The disk gets the image's size and is then grown to `size` (which must not be smaller). Used when the disk is created only (write-only): to rebuild from a new image, replace the VM (`replace_triggered_by` on the download).")
                .validate(Validator::volume_id("is not a volume ID like local:import/noble.qcow2"))
                .write_only(),
        ],
    )
}

pub(super) fn efi_disk_block() -> Block {
    Block::new(
        "The EFI vars disk of an OVMF VM (`efidisk0`); needs `bios = \"ovmf\"`. Changing it makes a new disk (the old vars are lost); removing the block destroys the disk.",
        vec![
            Attribute::required(names::STORAGE, Type::String, "Storage for the EFI disk, e.g. `local-lvm`.")
                .validate(Validator::storage_id()),
            Attribute::optional_computed(names::TYPE, Type::String, "`4m` (default; needed for Secure Boot) or the legacy `2m`.")
                .validate(Validator::OneOf(&["2m", "4m"]))
                .default("4m"),
            Attribute::optional_computed(
                names::PRE_ENROLLED_KEYS,
                Type::Bool,
                "Enroll the distribution and Microsoft Secure Boot keys (Secure Boot on). Default false.",
            )
            .default(false),
        ],
    )
}

pub(super) fn tpm_state_block() -> Block {
    Block::new(
        "A TPM state disk (`tpmstate0`), e.g. for Windows 11. Changing it makes a new TPM (its secrets are lost); removing the block destroys it.",
        vec![
            Attribute::required(names::STORAGE, Type::String, "Storage for the TPM state, e.g. `local-lvm`.")
                .validate(Validator::storage_id()),
            Attribute::optional_computed(names::VERSION, Type::String, "TPM version: `v2.0` (default) or `v1.2`.")
                .validate(Validator::OneOf(&["v1.2", "v2.0"]))
                .default("v2.0"),
        ],
    )
}

pub(super) fn network_block() -> Block {
    Block::new(
        "A network device; the first block is `net0`, the next `net1`, and so on.",
        vec![
            Attribute::optional_computed(names::MODEL, Type::String, "NIC model. Default `virtio`.")
                .validate(Validator::OneOf(NIC_MODELS))
                .default("virtio"),
            Attribute::optional_computed(names::BRIDGE, Type::String, "Bridge on the node. Default `vmbr0`.")
                .validate(Validator::regex(r"[-_.\w]{1,15}", "is not a bridge name"))
                .default("vmbr0"),
            Attribute::optional(names::VLAN, Type::Number, "VLAN tag.").validate(Validator::Range(1, 4094)),
            Attribute::optional_computed(names::FIREWALL, Type::Bool, "Use the PVE firewall on this NIC. Default false.").default(false),
            Attribute::optional_computed(names::MAC, Type::String, "MAC address; generated by PVE when unset and then kept.")
                .validate(Validator::regex(r"[0-9A-Fa-f][02468aceACE](:[0-9A-Fa-f]{2}){5}", "is not a unicast MAC address"))
                .use_state_for_unknown(),
            Attribute::optional(names::MTU, Type::Number, "MTU (1 = inherit the bridge's).").validate(Validator::Range(1, 65520)),
        ],
    )
}

pub(super) fn ip_config_block() -> Block {
    Block::new(
        "Cloud-init addressing of the NIC with the same position (`ipconfig0` for `net0`).",
        vec![
            Attribute::optional(names::IPV4, Type::String, "`dhcp` or an address with prefix length, e.g. `10.10.10.101/24`.")
                .validate(Validator::custom(check_ipv4_config)),
            Attribute::optional(names::GATEWAY, Type::String, "IPv4 gateway for a static address.").validate(Validator::custom(
                |v: &Value| match v.as_str() {
                    Some(ip) if ip.parse::<Ipv4Addr>().is_err() => Err(format!("\"{ip}\" is not an IPv4 address")),
                    _ => Ok(()),
                },
            )),
        ],
    )
}

impl PveVm {
    pub(super) fn attributes() -> Vec<Attribute> {
        vec![
            Attribute::computed(names::ID, Type::String, "The VMID as a string.").use_state_for_unknown(),
            Attribute::optional_computed(names::VMID, Type::Number, "VMID. Allocated race-free when unset. Changing it replaces the VM.")
                .validate(Validator::Range(100, 999_999_999))
                .requires_replace()
                .use_state_for_unknown(),
            Attribute::required(names::NODE, Type::String, "Node to create the VM on. Changing it replaces the VM; HA migrations do not (see `current_node`).")
                .validate(Validator::regex(r"[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?", "is not a valid node name"))
                .requires_replace(),
            Attribute::computed(names::CURRENT_NODE, Type::String, "Node the VM runs on now (differs from `node` after an HA migration).").use_state_for_unknown(),
            Attribute::required(names::NAME, Type::String, "VM name (a DNS name).")
                .validate(Validator::regex(r"([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?", "is not a valid DNS name")),
            Attribute::optional(names::DESCRIPTION, Type::String, "Notes shown in the PVE UI."),
            Attribute::optional(names::TAGS, Type::set(Type::String), "Tags. PVE stores them lowercased and sorted; order and case never cause a diff.")
                .validate(Validator::custom(check_tags))
                .normalize(lowercase_sorted),
            Attribute::optional(names::POOL, Type::String, "Resource pool the VM belongs to."),
            Attribute::optional_computed(names::TEMPLATE, Type::Bool, "Convert the VM into a template after creation. Default false; changing it replaces the VM.")
                .default(false)
                .requires_replace(),
            Attribute::optional_computed(names::STARTED, Type::Bool, "Desired power state. Default true (templates are never started).").default(true),
            Attribute::optional_computed(names::ON_BOOT, Type::Bool, "Start with the node. Default false.").default(false),
            Attribute::optional_computed(names::PROTECTION, Type::Bool, "Protect against removal; destroy fails while set. Default false.").default(false),
            Attribute::optional(names::STARTUP, Type::String, "Startup order and delays, e.g. `order=1,up=30`.")
                .validate(Validator::regex(r"(order=\d+)?(,?(up|down)=\d+)*", "is not a startup spec like order=1,up=30")),
            Attribute::optional(names::CLONE_VMID, Type::Number, "Template (or VM) to clone from. Used at creation only (write-only): to rebuild from another template use `terraform apply -replace`.")
                .validate(Validator::Range(100, 999_999_999))
                .write_only(),
            Attribute::optional(names::CLONE_FULL, Type::Bool, "Full clone (default true) or linked clone of a template. Used at creation only.").write_only(),
            Attribute::optional_computed(names::CORES, Type::Number, "CPU cores per socket. Default 1.").validate(Validator::Range(1, 512)).default(1i64),
            Attribute::optional_computed(names::SOCKETS, Type::Number, "CPU sockets. Default 1.").validate(Validator::Range(1, 4)).default(1i64),
            Attribute::optional_computed(names::CPU_TYPE, Type::String, "CPU type, e.g. `host`. Default `x86-64-v2-AES`.")
                .validate(Validator::regex(r"[a-zA-Z0-9_.\-]+", "is not a CPU type"))
                .default("x86-64-v2-AES"),
            Attribute::optional_computed(names::MEMORY, Type::Number, "Memory in MiB. Default 2048.").validate(Validator::Range(16, 4_194_304)).default(2048i64),
            Attribute::optional(names::BALLOON, Type::Number, "Minimum memory in MiB for ballooning; 0 turns the balloon device off.").validate(Validator::Range(0, 4_194_304)),
            Attribute::optional_computed(names::BIOS, Type::String, "`seabios` (default) or `ovmf`.").validate(Validator::OneOf(&["seabios", "ovmf"])).default("seabios"),
            Attribute::optional(names::MACHINE, Type::String, "Machine type, e.g. `q35`."),
            Attribute::optional_computed(names::SCSIHW, Type::String, "SCSI controller. Default `virtio-scsi-single`.")
                .validate(Validator::OneOf(SCSI_CONTROLLERS))
                .default("virtio-scsi-single"),
            Attribute::optional_computed(names::AGENT, Type::Bool, "Enable the QEMU guest agent device. Default true. The provider never waits on the agent.").default(true),
            Attribute::optional_computed(names::OS_TYPE, Type::String, "Guest OS type. Default `l26` (Linux).")
                .validate(Validator::OneOf(&["l26", "l24", "win11", "win10", "win8", "win7", "w2k8", "wvista", "wxp", "w2k", "solaris", "other"]))
                .default("l26"),
            Attribute::optional_computed(names::CLOUD_INIT_STORAGE, Type::String, "Storage of the cloud-init drive (`ide2` unless the VM has it elsewhere). A clone keeps its template's drive when unset; a VM built from scratch gets one only when set. Removing the attribute keeps the drive.")
                .validate(Validator::storage_id()),
            Attribute::optional_computed(names::SERIAL_CONSOLE, Type::Bool, "Serial console as display (cloud images). Default false.").default(false),
            Attribute::optional(names::CI_USER, Type::String, "Cloud-init user."),
            Attribute::optional(names::CI_PASSWORD, Type::String, "Cloud-init password. Write-only: sent to PVE (which stores a hash), never kept in state.")
                .sensitive()
                .write_only(),
            Attribute::optional(names::CI_SSH_KEYS, Type::list(Type::String), "SSH public keys for the cloud-init user."),
            Attribute::optional(names::CI_DNS_SERVERS, Type::list(Type::String), "DNS servers.").validate(Validator::custom(|v: &Value| {
                v.as_list().unwrap_or_default().iter().try_for_each(check_ip)
            })),
            Attribute::optional(names::CI_SEARCH_DOMAIN, Type::String, "DNS search domain."),
            Attribute::optional(names::CI_CUSTOM, Type::String, "Custom cloud-init files, e.g. `user=local:snippets/web.yaml`.")
                .validate(Validator::regex(r"((user|network|meta|vendor)=[^,=]+:[^,]+,?)+", "is not a cicustom spec like user=local:snippets/user.yaml")),
            Attribute::optional(names::USER_DATA, Type::String, "Cloud-init user-data used verbatim, written as a snippet over SSH (see the provider's `ssh` block).").sensitive(),
            Attribute::optional(names::USER_DATA_WO, Type::String, "As `user_data`, but write-only: never kept in state or plan, for user-data that carries secrets. Written at creation and whenever `user_data_wo_version` changes.")
                .sensitive()
                .write_only(),
            Attribute::optional(names::USER_DATA_WO_VERSION, Type::String, "Any value that changes when `user_data_wo` does (e.g. a hash of its non-secret parts, or a counter bumped on rotation): a change rewrites the snippet in place.")
                .validate(Validator::custom(|v: &Value| match v.as_str() {
                    Some("") => Err("must not be empty".into()),
                    _ => Ok(()),
                })),
            Attribute::optional_computed(names::INSTALL_DOCKER, Type::Bool, "Install and start Docker through generated cloud-init user-data. Default false.").default(false),
            Attribute::optional_computed(names::INSTALL_NODE_EXPORTER, Type::Bool, "Install and start the Prometheus node exporter through cloud-init. Default false.").default(false),
            Attribute::optional_computed(names::SECURITY_UPDATES, Type::Bool, "Enable unattended-upgrades for security updates only, never rebooting by itself. Default false.").default(false),
            Attribute::optional_computed(names::SNIPPET_STORAGE, Type::String, "Storage (with `snippets` content) the user-data snippet is written to. Default `local`.")
                .validate(Validator::storage_id())
                .default("local"),
            Attribute::computed(names::REBOOT_REQUIRED, Type::Bool, "True when changes wait for a reboot (PVE could not hotplug them).").use_state_for_unknown(),
        ]
    }
}

/// The whole schema.
pub(super) fn schema() -> Block {
    Block::new(
        "A QEMU virtual machine, cloned from a template (`clone_vmid`) or built from scratch, with cloud-init. \
         Import with `terraform import pve_vm.NAME NODE/VMID` (or just `VMID`).",
        PveVm::attributes(),
    )
    .with_block(names::DISK, Nesting::List { min: 0, max: 30 }, disk_block())
    .with_block(names::NETWORK, Nesting::List { min: 0, max: 32 }, network_block())
    .with_block(names::IP_CONFIG, Nesting::List { min: 0, max: 32 }, ip_config_block())
    .with_block(names::EFI_DISK, Nesting::Single, efi_disk_block())
    .with_block(names::TPM_STATE, Nesting::Single, tpm_state_block())
    .with_block(names::TIMEOUTS, Nesting::Single, timeouts_block())
}
