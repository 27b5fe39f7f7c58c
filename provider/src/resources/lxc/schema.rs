//! The `pve_lxc` schema: attributes and blocks, as the docs page reads (docs/resources/lxc.md is
//! generated from it).

use super::*;

pub(super) fn volume_block(with_path: bool) -> Block {
    let mut attributes = vec![
        Attribute::required(
            names::STORAGE,
            Type::String,
            "Storage for the volume; changing it moves the volume there (a running container is shut down for the move and started again).",
        )
        .validate(Validator::storage_id()),
        Attribute::required(names::SIZE, Type::Number, "Size in GiB; grows in place, never shrinks.").validate(Validator::Range(1, 131072)),
    ];
    if with_path {
        attributes.insert(
            0,
            Attribute::required(names::SLOT, Type::String, "`mp0` … `mp255`.")
                .validate(Validator::regex(r"mp([0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])", "is not a mount point slot like mp0")),
        );
        attributes.push(
            Attribute::required(names::PATH, Type::String, "Mount path inside the container, e.g. `/data`.")
                .validate(Validator::regex(r"/.*", "must be an absolute path")),
        );
        attributes.push(
            Attribute::optional_computed(names::BACKUP, Type::Bool, "Include in backups. Default false (PVE's default for mount points).")
                .default(false),
        );
    }
    Block::new(if with_path { "A mount point volume." } else { "The root filesystem." }, attributes)
}

pub(super) fn network_block() -> Block {
    Block::new(
        "A network interface; the first block is `net0`.",
        vec![
            Attribute::optional(names::NAME, Type::String, "Interface name inside the container (default `eth<N>`).")
                .validate(Validator::regex(r"[a-zA-Z0-9_.\-]{1,15}", "is not an interface name")),
            Attribute::optional_computed(names::BRIDGE, Type::String, "Bridge on the node. Default `vmbr0`.")
                .validate(Validator::regex(r"[-_.\w]{1,15}", "is not a bridge name"))
                .default("vmbr0"),
            Attribute::optional(names::VLAN, Type::Number, "VLAN tag.").validate(Validator::Range(1, 4094)),
            Attribute::optional(names::IPV4, Type::String, "`dhcp` or an address with prefix length, e.g. `10.10.20.5/24`.")
                .validate(Validator::custom(check_ipv4_config)),
            Attribute::optional(names::GATEWAY, Type::String, "IPv4 gateway for a static address.").validate(Validator::custom(check_ip)),
            Attribute::optional_computed(names::FIREWALL, Type::Bool, "Use the PVE firewall. Default false.").default(false),
            Attribute::optional_computed(names::MAC, Type::String, "MAC address; generated when unset and then kept.")
                .use_state_for_unknown(),
        ],
    )
}

/// The whole schema.
pub(super) fn schema() -> Block {
    Block::new(
        "An LXC container. Import with `terraform import pve_lxc.NAME NODE/VMID` (or `VMID`).",
        vec![
            Attribute::computed(names::ID, Type::String, "The VMID as a string.").use_state_for_unknown(),
            Attribute::optional_computed(
                names::VMID,
                Type::Number,
                "VMID; allocated race-free when unset. Changing it replaces the container.",
            )
            .validate(Validator::Range(100, 999_999_999))
            .requires_replace()
            .use_state_for_unknown(),
            Attribute::required(names::NODE, Type::String, "Node to create the container on.")
                .validate(Validator::regex(r"[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?", "is not a valid node name"))
                .requires_replace(),
            Attribute::computed(names::CURRENT_NODE, Type::String, "Node the container runs on now.").use_state_for_unknown(),
            Attribute::required(names::HOSTNAME, Type::String, "Hostname (a DNS name).").validate(Validator::regex(
                r"([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?",
                "is not a valid DNS name",
            )),
            Attribute::optional(
                names::TEMPLATE_VOLUME,
                Type::String,
                "OS template volume, e.g. `local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst`. Used at creation only.",
            )
            .validate(Validator::volume_id("is not a volume ID like local:vztmpl/NAME"))
            .write_only(),
            Attribute::optional(names::CLONE_VMID, Type::Number, "Container to clone instead of a template. Used at creation only.")
                .validate(Validator::Range(100, 999_999_999))
                .write_only(),
            Attribute::optional(names::PASSWORD, Type::String, "Root password. Write-only: never stored in state.").sensitive().write_only(),
            Attribute::optional(
                names::SSH_PUBLIC_KEYS,
                Type::list(Type::String),
                "Root's authorized SSH keys, set at creation. Write-only.",
            )
            .write_only(),
            Attribute::optional(names::DESCRIPTION, Type::String, "Notes shown in the PVE UI."),
            Attribute::optional(names::TAGS, Type::set(Type::String), "Tags; order and case never cause a diff.")
                .validate(Validator::custom(check_tags))
                .normalize(lowercase_sorted),
            Attribute::optional(names::POOL, Type::String, "Resource pool."),
            Attribute::optional_computed(
                names::UNPRIVILEGED,
                Type::Bool,
                "Unprivileged container (default true). Changing it replaces the container.",
            )
            .default(true)
            .requires_replace(),
            Attribute::optional_computed(names::NESTING, Type::Bool, "Allow nested containers (e.g. Docker). Default false.").default(false),
            Attribute::optional_computed(names::KEYCTL, Type::Bool, "Allow keyctl() (Docker in unprivileged containers). Default false.")
                .default(false),
            Attribute::optional_computed(names::FUSE, Type::Bool, "Allow FUSE mounts. Default false.").default(false),
            Attribute::optional_computed(names::CORES, Type::Number, "CPU cores (unset: all of the node's).")
                .validate(Validator::Range(1, 8192)),
            Attribute::optional_computed(names::MEMORY, Type::Number, "Memory in MiB. Default 512.")
                .validate(Validator::Range(16, 4_194_304))
                .default(512i64),
            Attribute::optional_computed(names::SWAP, Type::Number, "Swap in MiB. Default 512.")
                .validate(Validator::Range(0, 4_194_304))
                .default(512i64),
            Attribute::optional_computed(names::STARTED, Type::Bool, "Desired power state. Default true.").default(true),
            Attribute::optional_computed(names::ON_BOOT, Type::Bool, "Start with the node. Default false.").default(false),
            Attribute::optional_computed(names::PROTECTION, Type::Bool, "Protect against removal. Default false.").default(false),
            Attribute::optional(names::STARTUP, Type::String, "Startup order, e.g. `order=2,up=10`."),
            Attribute::optional_computed(names::OS_TYPE, Type::String, "OS type as PVE detected it from the template.")
                .use_state_for_unknown(),
            Attribute::optional(names::DNS_SERVERS, Type::list(Type::String), "DNS servers.")
                .validate(Validator::custom(|v: &Value| v.as_list().unwrap_or_default().iter().try_for_each(check_ip))),
            Attribute::optional(names::DNS_SEARCH_DOMAIN, Type::String, "DNS search domain."),
            Attribute::optional_computed(
                names::SECURITY_UPDATES,
                Type::Bool,
                "Enable unattended-upgrades for security updates only (no reboots) inside the container, through a PVE hookscript written over SSH. Default false.",
            )
            .default(false),
            Attribute::optional_computed(names::SNIPPET_STORAGE, Type::String, "Storage (with `snippets` content) for the hookscript. Default `local`.").default("local"),
        ],
    )
    .with_block(names::ROOTFS, Nesting::Single, volume_block(false))
    .with_block(names::MOUNT_POINT, Nesting::List { min: 0, max: 256 }, volume_block(true))
    .with_block(names::NETWORK, Nesting::List { min: 0, max: 32 }, network_block())
    .with_block(names::TIMEOUTS, Nesting::Single, timeouts_block())
}
