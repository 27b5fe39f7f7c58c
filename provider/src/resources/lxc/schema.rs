//! The `pve_lxc` schema: attributes and blocks, as the docs page reads (docs/resources/lxc.md is
//! generated from it).

use super::*;

pub(super) fn volume_block(with_path: bool) -> Block {
    let mut attributes = vec![
        Attribute::required("storage", Type::String, "Storage for the volume; changing it replaces the container.")
            .validate(Validator::regex(r"[a-zA-Z][a-zA-Z0-9\-_.]*[a-zA-Z0-9]", "is not a storage ID")),
        Attribute::required("size", Type::Number, "Size in GiB; grows in place, never shrinks.").validate(Validator::Range(1, 131072)),
    ];
    if with_path {
        attributes.insert(
            0,
            Attribute::required("slot", Type::String, "`mp0` … `mp255`.")
                .validate(Validator::regex(r"mp([0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])", "is not a mount point slot like mp0")),
        );
        attributes.push(
            Attribute::required("path", Type::String, "Mount path inside the container, e.g. `/data`.")
                .validate(Validator::regex(r"/.*", "must be an absolute path")),
        );
        attributes.push(
            Attribute::optional_computed("backup", Type::Bool, "Include in backups. Default false (PVE's default for mount points).")
                .default(false),
        );
    }
    Block::new(if with_path { "A mount point volume." } else { "The root filesystem." }, attributes)
}

pub(super) fn network_block() -> Block {
    Block::new(
        "A network interface; the first block is `net0`.",
        vec![
            Attribute::optional("name", Type::String, "Interface name inside the container (default `eth<N>`).")
                .validate(Validator::regex(r"[a-zA-Z0-9_.\-]{1,15}", "is not an interface name")),
            Attribute::optional_computed("bridge", Type::String, "Bridge on the node. Default `vmbr0`.")
                .validate(Validator::regex(r"[-_.\w]{1,15}", "is not a bridge name"))
                .default("vmbr0"),
            Attribute::optional("vlan", Type::Number, "VLAN tag.").validate(Validator::Range(1, 4094)),
            Attribute::optional("ipv4", Type::String, "`dhcp` or an address with prefix length, e.g. `10.10.20.5/24`.")
                .validate(Validator::custom(check_ipv4_config)),
            Attribute::optional("gateway", Type::String, "IPv4 gateway for a static address.").validate(Validator::custom(check_ip)),
            Attribute::optional_computed("firewall", Type::Bool, "Use the PVE firewall. Default false.").default(false),
            Attribute::optional_computed("mac", Type::String, "MAC address; generated when unset and then kept.").use_state_for_unknown(),
        ],
    )
}

/// The whole schema.
pub(super) fn schema() -> Block {
    Block::new(
        "An LXC container. Import with `terraform import pve_lxc.NAME NODE/VMID` (or `VMID`).",
        vec![
            Attribute::computed("id", Type::String, "The VMID as a string.").use_state_for_unknown(),
            Attribute::optional_computed(
                "vmid",
                Type::Number,
                "VMID; allocated race-free when unset. Changing it replaces the container.",
            )
            .validate(Validator::Range(100, 999_999_999))
            .requires_replace()
            .use_state_for_unknown(),
            Attribute::required("node", Type::String, "Node to create the container on.")
                .validate(Validator::regex(r"[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?", "is not a valid node name"))
                .requires_replace(),
            Attribute::computed("current_node", Type::String, "Node the container runs on now.").use_state_for_unknown(),
            Attribute::required("hostname", Type::String, "Hostname (a DNS name).").validate(Validator::regex(
                r"([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?",
                "is not a valid DNS name",
            )),
            Attribute::optional(
                "template_volume",
                Type::String,
                "OS template volume, e.g. `local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst`. Used at creation only.",
            )
            .validate(Validator::regex(r"[a-zA-Z][a-zA-Z0-9\-_.]*[a-zA-Z0-9]:.+", "is not a volume ID like local:vztmpl/NAME"))
            .write_only(),
            Attribute::optional("clone_vmid", Type::Number, "Container to clone instead of a template. Used at creation only.")
                .validate(Validator::Range(100, 999_999_999))
                .write_only(),
            Attribute::optional("password", Type::String, "Root password. Write-only: never stored in state.").sensitive().write_only(),
            Attribute::optional(
                "ssh_public_keys",
                Type::list(Type::String),
                "Root's authorized SSH keys, set at creation. Write-only.",
            )
            .write_only(),
            Attribute::optional("description", Type::String, "Notes shown in the PVE UI."),
            Attribute::optional("tags", Type::set(Type::String), "Tags; order and case never cause a diff.")
                .validate(Validator::custom(check_tags))
                .normalize(lowercase_sorted),
            Attribute::optional("pool", Type::String, "Resource pool."),
            Attribute::optional_computed(
                "unprivileged",
                Type::Bool,
                "Unprivileged container (default true). Changing it replaces the container.",
            )
            .default(true)
            .requires_replace(),
            Attribute::optional_computed("nesting", Type::Bool, "Allow nested containers (e.g. Docker). Default false.").default(false),
            Attribute::optional_computed("keyctl", Type::Bool, "Allow keyctl() (Docker in unprivileged containers). Default false.")
                .default(false),
            Attribute::optional_computed("fuse", Type::Bool, "Allow FUSE mounts. Default false.").default(false),
            Attribute::optional_computed("cores", Type::Number, "CPU cores (unset: all of the node's).")
                .validate(Validator::Range(1, 8192)),
            Attribute::optional_computed("memory", Type::Number, "Memory in MiB. Default 512.")
                .validate(Validator::Range(16, 4_194_304))
                .default(512i64),
            Attribute::optional_computed("swap", Type::Number, "Swap in MiB. Default 512.")
                .validate(Validator::Range(0, 4_194_304))
                .default(512i64),
            Attribute::optional_computed("started", Type::Bool, "Desired power state. Default true.").default(true),
            Attribute::optional_computed("on_boot", Type::Bool, "Start with the node. Default false.").default(false),
            Attribute::optional_computed("protection", Type::Bool, "Protect against removal. Default false.").default(false),
            Attribute::optional("startup", Type::String, "Startup order, e.g. `order=2,up=10`."),
            Attribute::optional_computed("os_type", Type::String, "OS type as PVE detected it from the template.")
                .use_state_for_unknown(),
            Attribute::optional("dns_servers", Type::list(Type::String), "DNS servers.")
                .validate(Validator::custom(|v: &Value| v.as_list().unwrap_or_default().iter().try_for_each(check_ip))),
            Attribute::optional("dns_search_domain", Type::String, "DNS search domain."),
            Attribute::optional_computed(
                "security_updates",
                Type::Bool,
                "Enable unattended-upgrades for security updates only (no reboots) inside the container, through a PVE hookscript written over SSH. Default false.",
            )
            .default(false),
            Attribute::optional_computed("snippet_storage", Type::String, "Storage (with `snippets` content) for the hookscript. Default `local`.").default("local"),
        ],
    )
    .with_block("rootfs", Nesting::Single, volume_block(false))
    .with_block("mount_point", Nesting::List { min: 0, max: 256 }, volume_block(true))
    .with_block("network", Nesting::List { min: 0, max: 32 }, network_block())
    .with_block("timeouts", Nesting::Single, timeouts_block())
}
