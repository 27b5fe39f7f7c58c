//! `resource "pve_vm"`: a QEMU virtual machine, cloned from a template or built from scratch.
//!
//! Plan rules, in brief:
//! - Replaced when changed: `vmid`, `node`, `template`, a disk's `storage` (disks are not moved).
//! - In place: everything else. Hardware changes of a running VM that PVE cannot hotplug wait as
//!   pending changes; `reboot_required` then says so.
//! - Never a diff: tag order or case (PVE sorts and lowercases), write-only inputs (`clone_vmid`,
//!   `clone_full`, `ci_password`), a VM that HA moved to another node (`current_node` follows it).
//! - Refused at plan time: shrinking a disk, an unknown node, and every malformed value.
//!
//! Concurrency: clones of one template run one at a time inside the provider (PVE locks the
//! source for the copy), writes per node are bounded by `max_concurrent_per_node`, and VMIDs are
//! reserved in-process and confirmed with PVE, so parallel creates never collide.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use futures::future::BoxFuture;
use pve_api::{ApiError, GuestConfig, GuestKind, Params, PropertyString, TaskWait};
use serde_json::Value as Json;

use crate::plugin::diag::{Diagnostic, Diagnostics, Path, Step, attr};
use crate::plugin::resource::{CreateError, IdentityAttribute, Resource};
use crate::plugin::schema::{Attribute, Block, Nesting, Validator};
use crate::plugin::value::{Type, Value};
use crate::provider::Context;

const QEMU: GuestKind = GuestKind::Qemu;

pub struct PveVm;

fn lowercase_sorted(value: &Value) -> Value {
    let set: BTreeSet<String> = value.as_list().unwrap_or_default().iter().filter_map(Value::as_str).map(str::to_lowercase).collect();
    Value::List(set.into_iter().map(Value::from).collect())
}

fn check_tags(value: &Value) -> Result<(), String> {
    for tag in value.as_list().unwrap_or_default().iter().filter_map(Value::as_str) {
        if !pve_api::tags::is_valid_tag(tag) {
            return Err(format!("\"{tag}\" is not a valid tag: use letters, digits and _ - + . (not starting with - + .)"));
        }
    }
    Ok(())
}

fn check_ipv4_config(value: &Value) -> Result<(), String> {
    match value.as_str() {
        None | Some("dhcp") => Ok(()),
        Some(cidr) => {
            let (ip, prefix) = cidr
                .split_once('/')
                .ok_or(format!("\"{cidr}\" must be \"dhcp\" or an IPv4 address with prefix length, e.g. 10.10.10.101/24"))?;
            match (ip.parse::<Ipv4Addr>(), prefix.parse::<u8>()) {
                (Ok(_), Ok(p)) if p <= 32 => Ok(()),
                _ => Err(format!("\"{cidr}\" must be \"dhcp\" or an IPv4 address with prefix length, e.g. 10.10.10.101/24")),
            }
        }
    }
}

fn check_ip(value: &Value) -> Result<(), String> {
    match value.as_str() {
        Some(ip) if ip.parse::<IpAddr>().is_err() => Err(format!("\"{ip}\" is not an IP address")),
        _ => Ok(()),
    }
}

fn check_duration(value: &Value) -> Result<(), String> {
    match value.as_str() {
        Some(text) => parse_duration(text).map(|_| ()),
        None => Ok(()),
    }
}

/// `90s`, `10m`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("\"{text}\" is not a duration like 90s, 10m or 1h30m");
    let mut total = 0u64;
    let mut number = String::new();
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        let n: u64 = number.parse().map_err(|_| invalid())?;
        number.clear();
        total += n * match ch {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(invalid()),
        };
    }
    if !number.is_empty() || total == 0 {
        return Err(invalid());
    }
    Ok(Duration::from_secs(total))
}

const SCSI_CONTROLLERS: &[&str] = &["lsi", "lsi53c810", "virtio-scsi-pci", "virtio-scsi-single", "megasas", "pvscsi"];
const NIC_MODELS: &[&str] = &["virtio", "e1000", "e1000e", "vmxnet3", "rtl8139"];

fn disk_block() -> Block {
    Block::new(
        "A disk. Sizes only grow (PVE cannot shrink disks); changing `storage` replaces the VM.",
        vec![
            Attribute::required("slot", Type::String, "Bus and index, e.g. `scsi0`, `virtio1`, `sata0`.").validate(Validator::regex(
                r"(scsi([0-9]|[12][0-9]|30)|virtio([0-9]|1[0-5])|sata[0-5]|ide[0-3])",
                "is not a disk slot such as scsi0 or virtio1",
            )),
            Attribute::required("storage", Type::String, "Storage for the disk, e.g. `local-lvm`.")
                .validate(Validator::regex(r"[a-zA-Z][a-zA-Z0-9\-_.]*[a-zA-Z0-9]", "is not a storage ID")),
            Attribute::required("size", Type::Number, "Size in GiB; grown in place, never shrunk.").validate(Validator::Range(1, 131072)),
            Attribute::optional("format", Type::String, "Image format on file storages: `raw`, `qcow2` or `vmdk`.")
                .validate(Validator::OneOf(&["raw", "qcow2", "vmdk"])),
            Attribute::optional_computed("iothread", Type::Bool, "Dedicated I/O thread (needs `virtio-scsi-single`). Default false.")
                .default(false),
            Attribute::optional_computed("discard", Type::Bool, "Pass TRIM/discard to the storage. Default false.").default(false),
            Attribute::optional_computed("ssd", Type::Bool, "Present the disk as an SSD. Default false.").default(false),
            Attribute::optional("cache", Type::String, "Cache mode: `none`, `writethrough`, `writeback`, `unsafe`, `directsync`.")
                .validate(Validator::OneOf(&["none", "writethrough", "writeback", "unsafe", "directsync"])),
            Attribute::optional_computed("backup", Type::Bool, "Include the disk in vzdump backups. Default true.").default(true),
        ],
    )
}

fn network_block() -> Block {
    Block::new(
        "A network device; the first block is `net0`, the next `net1`, and so on.",
        vec![
            Attribute::optional_computed("model", Type::String, "NIC model. Default `virtio`.")
                .validate(Validator::OneOf(NIC_MODELS))
                .default("virtio"),
            Attribute::optional_computed("bridge", Type::String, "Bridge on the node. Default `vmbr0`.")
                .validate(Validator::regex(r"[-_.\w]{1,15}", "is not a bridge name"))
                .default("vmbr0"),
            Attribute::optional("vlan", Type::Number, "VLAN tag.").validate(Validator::Range(1, 4094)),
            Attribute::optional_computed("firewall", Type::Bool, "Use the PVE firewall on this NIC. Default false.").default(false),
            Attribute::optional_computed("mac", Type::String, "MAC address; generated by PVE when unset and then kept.")
                .validate(Validator::regex(r"[0-9A-Fa-f][02468aceACE](:[0-9A-Fa-f]{2}){5}", "is not a unicast MAC address"))
                .use_state_for_unknown(),
            Attribute::optional("mtu", Type::Number, "MTU (1 = inherit the bridge's).").validate(Validator::Range(1, 65520)),
        ],
    )
}

fn ip_config_block() -> Block {
    Block::new(
        "Cloud-init addressing of the NIC with the same position (`ipconfig0` for `net0`).",
        vec![
            Attribute::optional("ipv4", Type::String, "`dhcp` or an address with prefix length, e.g. `10.10.10.101/24`.")
                .validate(Validator::custom(check_ipv4_config)),
            Attribute::optional("gateway", Type::String, "IPv4 gateway for a static address.").validate(Validator::custom(|v: &Value| {
                match v.as_str() {
                    Some(ip) if ip.parse::<Ipv4Addr>().is_err() => Err(format!("\"{ip}\" is not an IPv4 address")),
                    _ => Ok(()),
                }
            })),
        ],
    )
}

fn timeouts_block() -> Block {
    Block::new(
        "How long each operation may take before it fails (e.g. `30m`).",
        vec![
            Attribute::optional("create", Type::String, "Default 30m.").validate(Validator::custom(check_duration)),
            Attribute::optional("update", Type::String, "Default 30m.").validate(Validator::custom(check_duration)),
            Attribute::optional("delete", Type::String, "Default 10m.").validate(Validator::custom(check_duration)),
        ],
    )
}

fn timeout(state: &Value, operation: &str, default_minutes: u64) -> Duration {
    state.get("timeouts").get(operation).as_str().and_then(|t| parse_duration(t).ok()).unwrap_or(Duration::from_secs(default_minutes * 60))
}

/// Keys this resource manages in the PVE config; others (set by hand) are left alone.
const SCALAR_KEYS: &[(&str, &str)] = &[
    ("name", "name"),
    ("description", "description"),
    ("cores", "cores"),
    ("sockets", "sockets"),
    ("cpu_type", "cpu"),
    ("memory", "memory"),
    ("balloon", "balloon"),
    ("bios", "bios"),
    ("machine", "machine"),
    ("scsihw", "scsihw"),
    ("os_type", "ostype"),
    ("startup", "startup"),
    ("ci_user", "ciuser"),
    ("ci_search_domain", "searchdomain"),
    ("ci_custom", "cicustom"),
];

const BOOL_KEYS: &[(&str, &str)] = &[("on_boot", "onboot"), ("protection", "protection")];

impl PveVm {
    fn attributes() -> Vec<Attribute> {
        vec![
            Attribute::computed("id", Type::String, "The VMID as a string.").use_state_for_unknown(),
            Attribute::optional_computed("vmid", Type::Number, "VMID. Allocated race-free when unset. Changing it replaces the VM.")
                .validate(Validator::Range(100, 999_999_999))
                .requires_replace()
                .use_state_for_unknown(),
            Attribute::required("node", Type::String, "Node to create the VM on. Changing it replaces the VM; HA migrations do not (see `current_node`).")
                .validate(Validator::regex(r"[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?", "is not a valid node name"))
                .requires_replace(),
            Attribute::computed("current_node", Type::String, "Node the VM runs on now (differs from `node` after an HA migration).").use_state_for_unknown(),
            Attribute::required("name", Type::String, "VM name (a DNS name).")
                .validate(Validator::regex(r"([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?", "is not a valid DNS name")),
            Attribute::optional("description", Type::String, "Notes shown in the PVE UI."),
            Attribute::optional("tags", Type::set(Type::String), "Tags. PVE stores them lowercased and sorted; order and case never cause a diff.")
                .validate(Validator::custom(check_tags))
                .normalize(lowercase_sorted),
            Attribute::optional("pool", Type::String, "Resource pool the VM belongs to."),
            Attribute::optional_computed("template", Type::Bool, "Convert the VM into a template after creation. Default false; changing it replaces the VM.")
                .default(false)
                .requires_replace(),
            Attribute::optional_computed("started", Type::Bool, "Desired power state. Default true (templates are never started).").default(true),
            Attribute::optional_computed("on_boot", Type::Bool, "Start with the node. Default false.").default(false),
            Attribute::optional_computed("protection", Type::Bool, "Protect against removal; destroy fails while set. Default false.").default(false),
            Attribute::optional("startup", Type::String, "Startup order and delays, e.g. `order=1,up=30`.")
                .validate(Validator::regex(r"(order=\d+)?(,?(up|down)=\d+)*", "is not a startup spec like order=1,up=30")),
            Attribute::optional("clone_vmid", Type::Number, "Template (or VM) to clone from. Used at creation only (write-only): to rebuild from another template use `terraform apply -replace`.")
                .validate(Validator::Range(100, 999_999_999))
                .write_only(),
            Attribute::optional("clone_full", Type::Bool, "Full clone (default true) or linked clone of a template. Used at creation only.").write_only(),
            Attribute::optional_computed("cores", Type::Number, "CPU cores per socket. Default 1.").validate(Validator::Range(1, 512)).default(1i64),
            Attribute::optional_computed("sockets", Type::Number, "CPU sockets. Default 1.").validate(Validator::Range(1, 4)).default(1i64),
            Attribute::optional_computed("cpu_type", Type::String, "CPU type, e.g. `host`. Default `x86-64-v2-AES`.")
                .validate(Validator::regex(r"[a-zA-Z0-9_.\-]+", "is not a CPU type"))
                .default("x86-64-v2-AES"),
            Attribute::optional_computed("memory", Type::Number, "Memory in MiB. Default 2048.").validate(Validator::Range(16, 4_194_304)).default(2048i64),
            Attribute::optional("balloon", Type::Number, "Minimum memory in MiB for ballooning; 0 turns the balloon device off.").validate(Validator::Range(0, 4_194_304)),
            Attribute::optional_computed("bios", Type::String, "`seabios` (default) or `ovmf`.").validate(Validator::OneOf(&["seabios", "ovmf"])).default("seabios"),
            Attribute::optional("machine", Type::String, "Machine type, e.g. `q35`."),
            Attribute::optional_computed("scsihw", Type::String, "SCSI controller. Default `virtio-scsi-single`.")
                .validate(Validator::OneOf(SCSI_CONTROLLERS))
                .default("virtio-scsi-single"),
            Attribute::optional_computed("agent", Type::Bool, "Enable the QEMU guest agent device. Default true. The provider never waits on the agent.").default(true),
            Attribute::optional_computed("os_type", Type::String, "Guest OS type. Default `l26` (Linux).")
                .validate(Validator::OneOf(&["l26", "l24", "win11", "win10", "win8", "win7", "w2k8", "wvista", "wxp", "w2k", "solaris", "other"]))
                .default("l26"),
            Attribute::optional_computed("serial_console", Type::Bool, "Serial console as display (cloud images). Default false.").default(false),
            Attribute::optional("ci_user", Type::String, "Cloud-init user."),
            Attribute::optional("ci_password", Type::String, "Cloud-init password. Write-only: sent to PVE (which stores a hash), never kept in state.")
                .sensitive()
                .write_only(),
            Attribute::optional("ci_ssh_keys", Type::list(Type::String), "SSH public keys for the cloud-init user."),
            Attribute::optional("ci_dns_servers", Type::list(Type::String), "DNS servers.").validate(Validator::custom(|v: &Value| {
                v.as_list().unwrap_or_default().iter().try_for_each(check_ip)
            })),
            Attribute::optional("ci_search_domain", Type::String, "DNS search domain."),
            Attribute::optional("ci_custom", Type::String, "Custom cloud-init files, e.g. `user=local:snippets/web.yaml`.")
                .validate(Validator::regex(r"((user|network|meta|vendor)=[^,=]+:[^,]+,?)+", "is not a cicustom spec like user=local:snippets/user.yaml")),
            Attribute::optional("user_data", Type::String, "Cloud-init user-data used verbatim, written as a snippet over SSH (see the provider's `ssh` block).").sensitive(),
            Attribute::optional_computed("install_docker", Type::Bool, "Install and start Docker through generated cloud-init user-data. Default false.").default(false),
            Attribute::optional_computed("install_node_exporter", Type::Bool, "Install and start the Prometheus node exporter through cloud-init. Default false.").default(false),
            Attribute::optional_computed("security_updates", Type::Bool, "Enable unattended-upgrades for security updates only, never rebooting by itself. Default false.").default(false),
            Attribute::optional_computed("snippet_storage", Type::String, "Storage (with `snippets` content) the user-data snippet is written to. Default `local`.")
                .validate(Validator::regex(r"[a-zA-Z][a-zA-Z0-9\-_.]*[a-zA-Z0-9]", "is not a storage ID"))
                .default("local"),
            Attribute::computed("reboot_required", Type::Bool, "True when changes wait for a reboot (PVE could not hotplug them).").use_state_for_unknown(),
        ]
    }
}

/// A config value as text (PVE returns numbers for integer keys).
fn text(config: &GuestConfig, key: &str) -> Option<String> {
    config.get_str(key)
}

fn flag(value: &str) -> bool {
    matches!(value, "1" | "on" | "yes" | "true")
}

fn is_disk_slot(key: &str) -> bool {
    ["scsi", "virtio", "sata", "ide"]
        .iter()
        .any(|p| key.strip_prefix(p).is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())))
}

/// A disk's state from its config entry; None for CD-ROMs, cloud-init drives and non-disk keys.
fn disk_from_config(slot: &str, value: &str) -> Option<Value> {
    if !is_disk_slot(slot) {
        return None;
    }
    let disk = PropertyString::parse(value, Some("file")).ok()?;
    let file = disk.get("file")?;
    if disk.get("media") == Some("cdrom") || file == "none" {
        return None;
    }
    let storage = file.split(':').next()?.to_string();
    let size = disk.get("size").and_then(|s| pve_api::size::parse_size(s).ok()).unwrap_or(0);
    Some(Value::object([
        ("slot", slot.into()),
        ("storage", storage.into()),
        ("size", ((size as f64 / (1u64 << 30) as f64).ceil() as i64).into()),
        ("format", disk.get("format").map(str::to_string).into()),
        ("iothread", disk.get("iothread").is_some_and(flag).into()),
        ("discard", (disk.get("discard") == Some("on")).into()),
        ("ssd", disk.get("ssd").is_some_and(flag).into()),
        ("cache", disk.get("cache").map(str::to_string).into()),
        ("backup", disk.get("backup").is_none_or(flag).into()),
    ]))
}

/// Sets `key` to `value`, or removes it.
fn put(into: &mut PropertyString, key: &str, value: Option<&str>) {
    match value {
        Some(value) => {
            into.set(key, value);
        }
        None => {
            into.remove(key);
        }
    }
}

/// Options of a disk string besides its volume and size.
fn disk_options(disk: &Value, into: &mut PropertyString) {
    let on = |key: &str| disk.get(key).as_bool() == Some(true);
    put(into, "iothread", on("iothread").then_some("1"));
    put(into, "ssd", on("ssd").then_some("1"));
    put(into, "discard", on("discard").then_some("on"));
    put(into, "backup", (disk.get("backup").as_bool() == Some(false)).then_some("0"));
    put(into, "cache", disk.get("cache").as_str());
    if let Some(format) = disk.get("format").as_str() {
        into.set("format", format);
    }
}

fn new_disk_string(disk: &Value) -> String {
    let mut p = PropertyString::new();
    p.set("file", format!("{}:{}", disk.get("storage").as_str().unwrap_or("local-lvm"), disk.get("size").as_i64().unwrap_or(1)));
    disk_options(disk, &mut p);
    p.to_string_with_default("file")
}

fn nic_from_config(value: &str) -> Option<Value> {
    let nic = PropertyString::parse(value, Some("model")).ok()?;
    let (model, mac) = match nic.get("model") {
        Some(model) => (model.to_string(), nic.get("macaddr").map(str::to_string)),
        None => {
            let model = nic.keys().find(|k| NIC_MODELS.contains(k) || k.starts_with("e1000") || k.starts_with("i8255"))?.to_string();
            let mac = nic.get(&model).map(str::to_string);
            (model, mac)
        }
    };
    Some(Value::object([
        ("model", model.into()),
        ("bridge", nic.get("bridge").map(str::to_string).into()),
        ("vlan", nic.get("tag").and_then(|t| t.parse::<i64>().ok()).into()),
        ("firewall", nic.get("firewall").is_some_and(flag).into()),
        ("mac", mac.into()),
        ("mtu", nic.get("mtu").and_then(|t| t.parse::<i64>().ok()).into()),
    ]))
}

fn nic_string(nic: &Value) -> String {
    let mut p = PropertyString::new();
    let model = nic.get("model").as_str().unwrap_or("virtio");
    match nic.get("mac").as_str() {
        Some(mac) => p.set(model, mac),
        None => p.set("model", model),
    };
    p.set("bridge", nic.get("bridge").as_str().unwrap_or("vmbr0"));
    if let Some(vlan) = nic.get("vlan").as_i64() {
        p.set("tag", vlan.to_string());
    }
    if nic.get("firewall").as_bool() == Some(true) {
        p.set("firewall", "1");
    }
    if let Some(mtu) = nic.get("mtu").as_i64() {
        p.set("mtu", mtu.to_string());
    }
    if nic.get("mac").is_null() { p.to_string_with_default("model") } else { p.to_string() }
}

fn ipconfig_from_config(value: &str) -> Value {
    let p = PropertyString::parse(value, None).unwrap_or_default();
    Value::object([("ipv4", p.get("ip").map(str::to_string).into()), ("gateway", p.get("gw").map(str::to_string).into())])
}

fn ipconfig_string(ip: &Value) -> String {
    let mut p = PropertyString::new();
    if let Some(v4) = ip.get("ipv4").as_str() {
        p.set("ip", v4);
    }
    if let Some(gw) = ip.get("gateway").as_str() {
        p.set("gw", gw);
    }
    p.to_string()
}

/// PVE keeps `sshkeys` URL-encoded, one key per line.
fn encode_ssh_keys(keys: &[Value]) -> String {
    pve_api::segment(&keys.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"))
}

fn decode_ssh_keys(text: &str) -> Vec<Value> {
    // Form encoding may use '+' for spaces.
    pve_api::percent_decode(&text.replace('+', " ")).lines().filter(|l| !l.trim().is_empty()).map(|l| Value::from(l.to_string())).collect()
}

fn indexed<'a>(config: &'a GuestConfig, prefix: &str) -> Vec<(u32, &'a Json)> {
    let mut items: Vec<(u32, &Json)> =
        config.values.iter().filter_map(|(k, v)| k.strip_prefix(prefix).and_then(|n| n.parse::<u32>().ok()).map(|n| (n, v))).collect();
    items.sort_by_key(|(n, _)| *n);
    items
}

fn json_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The state PVE's config describes. `prior` supplies what the config cannot (the configured
/// node, timeouts, disk order, the user's spelling of tags).
fn state_from_config(vmid: u64, current_node: &str, running: bool, pool: Option<String>, config: &GuestConfig, prior: &Value) -> Value {
    let mut s: BTreeMap<String, Value> = BTreeMap::new();
    s.insert("id".into(), vmid.to_string().into());
    s.insert("vmid".into(), vmid.into());
    let node = prior.get("node").as_str().unwrap_or(current_node).to_string();
    s.insert("node".into(), node.into());
    s.insert("current_node".into(), current_node.into());
    for (attribute, key) in SCALAR_KEYS {
        let value = text(config, key);
        let value = match *attribute {
            "cores" | "sockets" | "balloon" => value.and_then(|v| v.parse::<i64>().ok()).map(Value::from).unwrap_or(Value::Null),
            "memory" => value
                .and_then(|v| v.trim_start_matches("current=").split(',').next().and_then(|m| m.parse::<i64>().ok()))
                .map(Value::from)
                .unwrap_or(Value::Null),
            _ => value.map(Value::from).unwrap_or(Value::Null),
        };
        s.insert(attribute.to_string(), value);
    }
    let defaults: [(&str, Value); 6] = [
        ("cores", 1i64.into()),
        ("sockets", 1i64.into()),
        ("memory", 512i64.into()),
        ("bios", "seabios".into()),
        ("scsihw", "lsi".into()),
        ("os_type", "other".into()),
    ];
    for (attribute, default) in defaults {
        if s.get(attribute).is_none_or(Value::is_null) {
            s.insert(attribute.into(), default);
        }
    }
    if s.get("cpu_type").is_none_or(Value::is_null) {
        s.insert("cpu_type".into(), "kvm64".into());
    }
    for (attribute, key) in BOOL_KEYS {
        s.insert(attribute.to_string(), text(config, key).is_some_and(|v| flag(&v)).into());
    }
    s.insert("template".into(), config.flag("template").into());
    s.insert("started".into(), running.into());
    s.insert("agent".into(), text(config, "agent").is_some_and(|a| a.split(',').any(|p| p == "1" || p == "enabled=1")).into());
    s.insert("serial_console".into(), (text(config, "vga").as_deref() == Some("serial0")).into());
    s.insert("pool".into(), pool.into());
    // Tags: PVE's form, unless it equals the prior spelling once normalised.
    // Lifecycle tags belong to pve_lifecycle_tag, not to this resource.
    let tags: Vec<Value> = text(config, "tags")
        .map(|t| pve_api::tags::split_tag_list(&t).filter(|t| !pve_api::tags::lifecycle::is_lifecycle_tag(t)).map(Value::from).collect())
        .unwrap_or_default();
    let tags = if tags.is_empty() { Value::Null } else { Value::List(tags) };
    let prior_tags = prior.get("tags");
    s.insert(
        "tags".into(),
        if !prior_tags.is_null() && lowercase_sorted(prior_tags) == lowercase_sorted(&tags) { prior_tags.clone() } else { tags },
    );
    // Disks in the prior order, then any others by slot.
    let mut disks: Vec<Value> = Vec::new();
    let mut found: BTreeMap<String, Value> =
        config.values.iter().filter_map(|(k, v)| disk_from_config(k, &json_text(v)).map(|d| (k.clone(), d))).collect();
    for prior_disk in prior.get("disk").as_list().unwrap_or_default() {
        if let Some(disk) = prior_disk.get("slot").as_str().and_then(|slot| found.remove(slot)) {
            disks.push(disk);
        }
    }
    disks.extend(found.into_values());
    s.insert("disk".into(), Value::List(disks));
    let nets: Vec<Value> = indexed(config, "net").into_iter().filter_map(|(_, v)| nic_from_config(&json_text(v))).collect();
    s.insert("network".into(), Value::List(nets));
    let ips: Vec<Value> = indexed(config, "ipconfig").into_iter().map(|(_, v)| ipconfig_from_config(&json_text(v))).collect();
    s.insert("ip_config".into(), Value::List(ips));
    s.insert("ci_ssh_keys".into(), text(config, "sshkeys").map(|k| Value::List(decode_ssh_keys(&k))).unwrap_or(Value::Null));
    s.insert(
        "ci_dns_servers".into(),
        text(config, "nameserver")
            .map(|n| Value::List(n.split_whitespace().map(|x| Value::from(x.to_string())).collect()))
            .unwrap_or(Value::Null),
    );
    // Our own generated snippet is not the user's ci_custom; the inputs it was built from are
    // not in PVE's config, so they carry over from the prior state.
    let generated = format!("snippets/{}", crate::resources::cloud_init::snippet_name(vmid));
    if s.get("ci_custom").and_then(Value::as_str).is_some_and(|c| c.starts_with("user=") && c.ends_with(&generated) && !c.contains(',')) {
        s.insert("ci_custom".into(), Value::Null);
    }
    for key in ["user_data", "install_docker", "install_node_exporter", "security_updates", "snippet_storage"] {
        s.insert(key.into(), prior.get(key).clone());
    }
    if let Some(cicustom) = text(config, "cicustom").filter(|c| c.ends_with(&generated))
        && prior.get("snippet_storage").is_null()
    {
        // Imported: the snippet's storage is in the reference.
        let storage = cicustom.trim_start_matches("user=").split(':').next().unwrap_or("local").to_string();
        s.insert("snippet_storage".into(), storage.into());
    }
    for key in ["install_docker", "install_node_exporter", "security_updates"] {
        if s.get(key).is_none_or(Value::is_null) {
            s.insert(key.into(), false.into());
        }
    }
    if s.get("snippet_storage").is_none_or(Value::is_null) {
        s.insert("snippet_storage".into(), "local".into());
    }
    s.insert("timeouts".into(), prior.get("timeouts").clone());
    s.insert("reboot_required".into(), (running && prior.get("reboot_required").as_bool() == Some(true)).into());
    Value::Map(s)
}

/// Fills the unknowns of `planned` from `actual`; known planned values stand (they were written).
fn settle(planned: &Value, actual: &Value) -> Value {
    match (planned, actual) {
        (Value::Unknown, actual) => actual.clone(),
        (Value::Map(p), Value::Map(a)) => {
            Value::Map(p.iter().map(|(k, v)| (k.clone(), settle(v, a.get(k).unwrap_or(&Value::Null)))).collect())
        }
        (Value::List(p), Value::List(a)) if p.len() == a.len() => Value::List(p.iter().zip(a).map(|(p, a)| settle(p, a)).collect()),
        (Value::List(p), _) => Value::List(p.iter().map(|p| settle(p, &Value::Null)).collect()),
        (planned, _) => planned.clone(),
    }
}

/// Config parameters for everything but disks, from a planned state. On create (`prior` null)
/// every unset key is deleted too, so nothing a clone inherited from its template lingers.
fn config_params(planned: &Value, prior: &Value, params: &mut Params, deletes: &mut Vec<String>) {
    let creating = prior.is_null();
    let changed = |name: &str| creating || planned.get(name) != prior.get(name);
    let had = |name: &str| creating || !prior.get(name).is_null();
    for (attribute, key) in SCALAR_KEYS {
        if !changed(attribute) {
            continue;
        }
        match planned.get(attribute) {
            Value::Null if had(attribute) => deletes.push(key.to_string()),
            Value::Number(n) => params.insert(*key, (*n as i64).to_string()),
            Value::String(s) => params.insert(*key, s),
            _ => {}
        }
    }
    for (attribute, key) in BOOL_KEYS {
        if changed(attribute) {
            params.insert(*key, if planned.get(attribute).as_bool() == Some(true) { "1" } else { "0" });
        }
    }
    if changed("agent") {
        params.insert("agent", if planned.get("agent").as_bool() == Some(false) { "0" } else { "1" });
    }
    if changed("serial_console") {
        if planned.get("serial_console").as_bool() == Some(true) {
            params.insert("serial0", "socket");
            params.insert("vga", "serial0");
        } else {
            deletes.push("vga".into());
        }
    }
    let joined = |name: &str, sep: &str| {
        planned.get(name).as_list().filter(|l| !l.is_empty()).map(|l| l.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(sep))
    };
    for (attribute, key, value) in [
        ("tags", "tags", joined("tags", ";")),
        ("ci_ssh_keys", "sshkeys", planned.get("ci_ssh_keys").as_list().filter(|l| !l.is_empty()).map(encode_ssh_keys)),
        ("ci_dns_servers", "nameserver", joined("ci_dns_servers", " ")),
    ] {
        if !changed(attribute) {
            continue;
        }
        match value {
            Some(value) => params.insert(key, value),
            None if had(attribute) => deletes.push(key.to_string()),
            None => {}
        }
    }
    let list = |v: &Value, name: &str| v.get(name).as_list().unwrap_or_default().to_vec();
    let (new_nets, old_nets) = (list(planned, "network"), list(prior, "network"));
    for (i, nic) in new_nets.iter().enumerate() {
        if old_nets.get(i) != Some(nic) {
            params.insert(format!("net{i}"), nic_string(nic));
        }
    }
    deletes.extend((new_nets.len()..old_nets.len()).map(|i| format!("net{i}")));
    let (new_ips, old_ips) = (list(planned, "ip_config"), list(prior, "ip_config"));
    for (i, ip) in new_ips.iter().enumerate() {
        if old_ips.get(i) != Some(ip) {
            params.insert(format!("ipconfig{i}"), ipconfig_string(ip));
        }
    }
    deletes.extend((new_ips.len()..old_ips.len()).map(|i| format!("ipconfig{i}")));
}

fn fail(summary: &str, error: ApiError) -> Diagnostics {
    Diagnostic::error(summary, error.to_string()).into()
}

impl PveVm {
    async fn wait(ctx: &Context, upid: &pve_api::Upid, limit: Duration, what: &str) -> Result<(), Diagnostics> {
        ctx.client.wait_task(upid, TaskWait::with_timeout(limit)).await.map(|_| ()).map_err(|e| fail(what, e))
    }

    /// Where the VM is now, from the shared resource listing.
    async fn locate(ctx: &Context, vmid: u64) -> Result<Option<(String, bool, Option<String>)>, Diagnostics> {
        let resources = ctx.resources().await.map_err(|e| fail("Listing cluster resources", e))?;
        let Some(row) = resources.iter().find(|r| r.vmid == Some(vmid)) else { return Ok(None) };
        if row.resource_type != "qemu" {
            return Err(Diagnostic::error(
                "VMID now belongs to a container",
                format!("VMID {vmid} is an LXC container now; refusing to manage it as a VM"),
            )
            .into());
        }
        Ok(Some((row.node.clone().unwrap_or_default(), row.status.as_deref() == Some("running"), row.pool.clone())))
    }

    async fn read_state(ctx: &Context, vmid: u64, prior: &Value) -> Result<Option<Value>, Diagnostics> {
        let Some((node, running, pool)) = Self::locate(ctx, vmid).await? else { return Ok(None) };
        let config = match ctx.client.guest_config(QEMU, &node, vmid).await {
            Ok(config) => config,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(fail("Reading the VM config", e)),
        };
        Ok(Some(state_from_config(vmid, &node, running, pool, &config, prior)))
    }

    async fn set_power(ctx: &Context, node: &str, vmid: u64, start: bool, limit: Duration) -> Result<(), Diagnostics> {
        let status = ctx.client.guest_status(QEMU, node, vmid).await.map_err(|e| fail("Reading the VM status", e))?;
        let running = status.status == "running";
        if running == start {
            return Ok(());
        }
        let upid = if start {
            ctx.client.guest_action(QEMU, node, vmid, "start", &Params::new()).await.map_err(|e| fail("Starting the VM", e))?
        } else {
            // Ask the guest to shut down; stop it if it does not within the time left.
            let params = Params::new().set("timeout", 60).flag("forceStop", true);
            ctx.client.guest_action(QEMU, node, vmid, "shutdown", &params).await.map_err(|e| fail("Shutting the VM down", e))?
        };
        Self::wait(ctx, &upid, limit, if start { "Starting the VM" } else { "Shutting the VM down" }).await
    }

    /// Writes the VM's user-data snippet to `node` over SFTP; returns the `cicustom` value.
    async fn write_snippet(ctx: &Context, node: &str, vmid: u64, state: &Value) -> Result<String, Diagnostics> {
        let storage = state.get("snippet_storage").as_str().unwrap_or("local");
        let dir = ctx
            .snippet_dir(storage)
            .await
            .map_err(|e| Diagnostics::from(Diagnostic::error("Snippet storage unusable", e).at(attr("snippet_storage"))))?;
        let name = crate::resources::cloud_init::snippet_name(vmid);
        let session = ctx.ssh(node).await.map_err(|e| Diagnostics::from(Diagnostic::error("SSH to the node failed", e.to_string())))?;
        let content = crate::resources::cloud_init::render(state);
        session
            .upload(&format!("{dir}/{name}"), content.as_bytes())
            .await
            .map_err(|e| Diagnostics::from(Diagnostic::error("Writing the cloud-init snippet failed", e.to_string())))?;
        Ok(format!("user={storage}:snippets/{name}"))
    }

    async fn remove_snippet(ctx: &Context, node: &str, vmid: u64, state: &Value) {
        let storage = state.get("snippet_storage").as_str().unwrap_or("local");
        let removed = async {
            let dir = ctx.snippet_dir(storage).await?;
            let session = ctx.ssh(node).await.map_err(|e| e.to_string())?;
            session.remove(&format!("{dir}/{}", crate::resources::cloud_init::snippet_name(vmid))).await.map_err(|e| e.to_string())
        }
        .await;
        if let Err(e) = removed {
            tracing::warn!(vmid, "could not remove the cloud-init snippet: {e}");
        }
    }

    /// Detached disks become `unusedN` in PVE; this destroys their volumes.
    async fn destroy_unused(ctx: &Context, node: &str, vmid: u64) -> Result<(), Diagnostics> {
        let after = ctx.client.guest_config(QEMU, node, vmid).await.map_err(|e| fail("Reading the VM config", e))?;
        let unused: Vec<String> = indexed(&after, "unused").into_iter().map(|(n, _)| format!("unused{n}")).collect();
        if !unused.is_empty() {
            ctx.client
                .update_config(QEMU, node, vmid, &Params::new().set("delete", unused.join(",")))
                .await
                .map_err(|e| fail("Removing detached disks", e))?;
        }
        Ok(())
    }

    /// Adds `vmid` to `pool`, or removes it from `old`.
    async fn set_pool(ctx: &Context, vmid: u64, old: &Value, new: &Value) -> Result<(), Diagnostics> {
        if old == new {
            return Ok(());
        }
        if let Some(old) = old.as_str() {
            ctx.client
                .update_pool(old, &Params::new().set("vms", vmid).flag("delete", true))
                .await
                .map_err(|e| fail("Leaving the pool", e))?;
        }
        if let Some(new) = new.as_str() {
            ctx.client.update_pool(new, &Params::new().set("vms", vmid)).await.map_err(|e| fail("Joining the pool", e))?;
        }
        Ok(())
    }

    /// Clones, configures, grows disks, converts or starts: everything after the VMID is chosen.
    async fn build(
        ctx: &Context,
        vmid: u64,
        planned: &Value,
        config: &Value,
        cicustom: Option<&str>,
        limit: Duration,
    ) -> Result<(), CreateError> {
        let node = planned.get("node").as_str().unwrap_or_default().to_string();
        let disks = planned.get("disk").as_list().unwrap_or_default().to_vec();
        let mut params = Params::new();
        let mut deletes = Vec::new();
        let exists = match config.get("clone_vmid").as_i64() {
            Some(source) => {
                let source = source as u64;
                let Some((source_node, _, _)) = Self::locate(ctx, source).await? else {
                    return Err(Diagnostic::error("Clone source not found", format!("no VM or template with VMID {source}"))
                        .at(attr("clone_vmid"))
                        .into());
                };
                let full = config.get("clone_full").as_bool().unwrap_or(true);
                let mut clone = Params::new().set("name", planned.get("name").as_str().unwrap_or_default()).flag("full", full);
                if node != source_node {
                    clone.insert("target", &node);
                }
                if full && let Some(storage) = disks.first().and_then(|d| d.get("storage").as_str()) {
                    clone.insert("storage", storage);
                }
                // One clone per source at a time: PVE holds the source's lock for the whole copy.
                let _source = ctx.lock_source(source).await;
                let upid = ctx.client.clone_guest(QEMU, &source_node, source, vmid, &clone).await.map_err(|e| fail("Cloning the VM", e))?;
                ctx.invalidate_resources().await;
                let result = Self::wait(ctx, &upid, limit, "Cloning the VM").await;
                if let Err(diags) = result {
                    // PVE removes a failed clone; if anything is left, report it instead of orphaning it.
                    return Err(CreateError { partial: Self::read_state(ctx, vmid, planned).await.ok().flatten(), diagnostics: diags });
                }
                true
            }
            None => false,
        };
        let current = if exists {
            Some(ctx.client.guest_config(QEMU, &node, vmid).await.map_err(|e| fail("Reading the cloned config", e))?)
        } else {
            None
        };
        config_params(planned, &Value::Null, &mut params, &mut deletes);
        if let Some(password) = config.get("ci_password").as_str() {
            params.insert("cipassword", password);
        }
        if let Some(cicustom) = cicustom {
            params.insert("cicustom", cicustom);
            deletes.retain(|k| k != "cicustom");
        }
        let mut resizes = Vec::new();
        for disk in &disks {
            let slot = disk.get("slot").as_str().unwrap_or_default();
            let size = disk.get("size").as_i64().unwrap_or(1);
            match current.as_ref().and_then(|c| text(c, slot)) {
                Some(existing) => {
                    let mut p = PropertyString::parse(&existing, Some("file")).unwrap_or_default();
                    let have = p.get("size").and_then(|s| pve_api::size::parse_size(s).ok()).unwrap_or(0);
                    let want = (size as u64) << 30;
                    if want < have {
                        let detail =
                            format!("{slot} of the clone source is {} GiB; a clone's disk cannot be smaller than its source's", have >> 30);
                        return Err(CreateError {
                            partial: Self::read_state(ctx, vmid, planned).await.ok().flatten(),
                            diagnostics: Diagnostic::error("Disk smaller than the template's", detail).into(),
                        });
                    }
                    if want > have {
                        resizes.push((slot.to_string(), format!("{size}G")));
                    }
                    disk_options(disk, &mut p);
                    p.remove("size");
                    params.insert(slot, p.to_string_with_default("file"));
                }
                None => params.insert(slot, new_disk_string(disk)),
            }
        }
        let mut detached = false;
        if let Some(current) = &current {
            // What the template has beyond the configuration goes: NICs, addressing, disks.
            for (prefix, block) in [("net", "network"), ("ipconfig", "ip_config")] {
                let count = planned.get(block).as_list().map(<[Value]>::len).unwrap_or(0);
                deletes.extend(
                    indexed(current, prefix).into_iter().filter(|(n, _)| *n as usize >= count).map(|(n, _)| format!("{prefix}{n}")),
                );
            }
            let planned_slots: BTreeSet<&str> = disks.iter().filter_map(|d| d.get("slot").as_str()).collect();
            for (key, value) in &current.values {
                if disk_from_config(key, &json_text(value)).is_some() && !planned_slots.contains(key.as_str()) {
                    deletes.push(key.clone());
                    detached = true;
                }
            }
        }
        let partial = |diags: Diagnostics| async move {
            CreateError { partial: Self::read_state(ctx, vmid, planned).await.ok().flatten(), diagnostics: diags }
        };
        if exists {
            if !deletes.is_empty() {
                params.insert("delete", deletes.join(","));
            }
            let digest = current.as_ref().map(|c| c.digest.clone()).unwrap_or_default();
            if let Err(e) = ctx.client.update_config(QEMU, &node, vmid, &params.set("digest", digest)).await {
                return Err(partial(fail("Configuring the cloned VM", e)).await);
            }
            if detached && let Err(d) = Self::destroy_unused(ctx, &node, vmid).await {
                return Err(partial(d).await);
            }
            for (slot, size) in resizes {
                match ctx.client.resize_disk(QEMU, &node, vmid, &slot, &size, None).await {
                    Ok(Some(upid)) => {
                        if let Err(d) = Self::wait(ctx, &upid, limit, "Growing a disk").await {
                            return Err(partial(d).await);
                        }
                    }
                    Ok(None) => {}
                    Err(e) => return Err(partial(fail("Growing a disk", e)).await),
                }
            }
        } else {
            let params = params.set("vmid", vmid);
            let upid = ctx.client.create_guest(QEMU, &node, &params).await.map_err(|e| {
                if e.is_already_exists() {
                    Diagnostic::error("VMID taken", format!("{e} (another client created it first; nothing of it was adopted)"))
                        .at(attr("vmid"))
                        .into()
                } else {
                    fail("Creating the VM", e)
                }
            })?;
            ctx.invalidate_resources().await;
            if let Err(d) = Self::wait(ctx, &upid, limit, "Creating the VM").await {
                return Err(partial(d).await);
            }
        }
        if let Err(d) = Self::set_pool(ctx, vmid, &Value::Null, planned.get("pool")).await {
            return Err(partial(d).await);
        }
        let result = if planned.get("template").as_bool() == Some(true) {
            match ctx.client.convert_to_template(QEMU, &node, vmid).await {
                Ok(Some(upid)) => Self::wait(ctx, &upid, limit, "Converting to a template").await,
                Ok(None) => Ok(()),
                Err(e) => Err(fail("Converting to a template", e)),
            }
        } else if planned.get("started").as_bool() != Some(false) {
            Self::set_power(ctx, &node, vmid, true, limit).await
        } else {
            Ok(())
        };
        if let Err(d) = result {
            return Err(partial(d).await);
        }
        Ok(())
    }
}

impl Resource<Context> for PveVm {
    fn type_name(&self) -> &'static str {
        "pve_vm"
    }

    fn schema(&self) -> Block {
        Block::new(
            "A QEMU virtual machine, cloned from a template (`clone_vmid`) or built from scratch, with cloud-init. \
             Import with `terraform import pve_vm.NAME NODE/VMID` (or just `VMID`).",
            Self::attributes(),
        )
        .with_block("disk", Nesting::List { min: 0, max: 30 }, disk_block())
        .with_block("network", Nesting::List { min: 0, max: 32 }, network_block())
        .with_block("ip_config", Nesting::List { min: 0, max: 32 }, ip_config_block())
        .with_block("timeouts", Nesting::Single, timeouts_block())
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let mut slots = BTreeSet::new();
        for (i, disk) in config.get("disk").as_list().unwrap_or_default().iter().enumerate() {
            let at = |field: &str| vec![Step::Attr("disk".into()), Step::Index(i as i64), Step::Attr(field.into())];
            let bus = disk.get("slot").as_str().unwrap_or("").trim_end_matches(|c: char| c.is_ascii_digit()).to_string();
            // PVE's drive formats: ssd emulation is not offered on virtio, iothreads only on scsi/virtio.
            if disk.get("ssd").as_bool() == Some(true) && bus == "virtio" {
                diags.push(
                    Diagnostic::error("No SSD emulation on virtio", "ssd is available on scsi, sata and ide disks, not virtio")
                        .at(at("ssd")),
                );
            }
            if disk.get("iothread").as_bool() == Some(true) && (bus == "sata" || bus == "ide") {
                diags.push(
                    Diagnostic::error("No iothread on this bus", "iothread is available on scsi and virtio disks").at(at("iothread")),
                );
            }
            if let Some(slot) = disk.get("slot").as_str()
                && !slots.insert(slot.to_string())
            {
                diags.push(Diagnostic::error("Duplicate disk slot", format!("{slot} is used by more than one disk")).at(vec![
                    Step::Attr("disk".into()),
                    Step::Index(i as i64),
                    Step::Attr("slot".into()),
                ]));
            }
        }
        for (i, ip) in config.get("ip_config").as_list().unwrap_or_default().iter().enumerate() {
            if ip.get("ipv4").as_str() == Some("dhcp") && !ip.get("gateway").is_null() {
                diags.push(Diagnostic::error("Gateway with DHCP", "a gateway only applies to a static address").at(vec![
                    Step::Attr("ip_config".into()),
                    Step::Index(i as i64),
                    Step::Attr("gateway".into()),
                ]));
            }
        }
        let builtins =
            ["install_docker", "install_node_exporter", "security_updates"].iter().any(|k| config.get(k).as_bool() == Some(true));
        if !config.get("user_data").is_null() && builtins {
            diags.push(Diagnostic::error("Conflicting user-data", "user_data is used verbatim; install_docker, install_node_exporter and security_updates build user-data of their own. Use one or the other.").at(attr("user_data")));
        }
        if (builtins || !config.get("user_data").is_null()) && !config.get("ci_custom").is_null() {
            diags.push(
                Diagnostic::error(
                    "Conflicting user-data",
                    "ci_custom names its own snippets; it cannot be combined with user_data or the install_* options.",
                )
                .at(attr("ci_custom")),
            );
        }
        if (builtins || !config.get("user_data").is_null()) && !config.get("ci_password").is_null() {
            diags.push(
                Diagnostic::error(
                    "Password with generated user-data",
                    "PVE ignores ci_password when user-data comes from a snippet; log in with ci_ssh_keys instead.",
                )
                .at(attr("ci_password")),
            );
        }
        if config.get("template").as_bool() == Some(true) && config.get("started").as_bool() == Some(true) {
            diags.push(
                Diagnostic::error("Templates do not run", "set started = false (or leave it unset) for a template").at(attr("started")),
            );
        }
        diags
    }

    fn modify_plan<'a>(
        &'a self,
        ctx: Option<&'a Context>,
        prior: &'a Value,
        config: &'a Value,
        planned: &'a mut Value,
        replace: &'a mut Vec<Path>,
    ) -> BoxFuture<'a, Diagnostics> {
        Box::pin(async move {
            let mut diags = Diagnostics::default();
            if let Value::Map(p) = planned {
                if config.get("template").as_bool() == Some(true) && config.get("started").is_null() {
                    p.insert("started".into(), false.into());
                }
                if prior.is_null() {
                    p.insert("reboot_required".into(), false.into());
                }
            }
            let prior_disks: BTreeMap<String, Value> = prior
                .get("disk")
                .as_list()
                .unwrap_or_default()
                .iter()
                .filter_map(|d| Some((d.get("slot").as_str()?.to_string(), d.clone())))
                .collect();
            for (i, disk) in planned.get("disk").as_list().unwrap_or_default().iter().enumerate() {
                let Some(before) = disk.get("slot").as_str().and_then(|s| prior_disks.get(s)) else { continue };
                let path = |field: &str| vec![Step::Attr("disk".into()), Step::Index(i as i64), Step::Attr(field.into())];
                if let (Some(new), Some(old)) = (disk.get("size").as_i64(), before.get("size").as_i64())
                    && new < old
                {
                    diags.push(
                        Diagnostic::error(
                            "Disks cannot shrink",
                            format!(
                                "{} is {old} GiB; it can grow but not shrink to {new} GiB",
                                disk.get("slot").as_str().unwrap_or("disk")
                            ),
                        )
                        .at(path("size")),
                    );
                }
                if disk.get("storage") != before.get("storage") {
                    replace.push(path("storage"));
                }
            }
            if !prior.is_null() {
                let hardware = ["cores", "sockets", "cpu_type", "memory", "bios", "machine", "scsihw"];
                if prior.get("started").as_bool() == Some(true)
                    && hardware.iter().any(|k| planned.get(k) != prior.get(k))
                    && let Value::Map(p) = planned
                {
                    p.insert("reboot_required".into(), Value::Unknown);
                }
            }
            if let Some(ctx) = ctx
                && crate::resources::cloud_init::wanted(planned)
                && !ctx.ssh.configured
            {
                diags.push(
                    Diagnostic::error("SSH needed for user-data", "user_data and the install_* options are written to the node as a snippet over SSH: configure the provider's ssh block (or PVE_SSH_* variables).")
                        .at(attr("user_data")),
                );
            }
            if let (Some(ctx), Some(node)) = (ctx, planned.get("node").as_str())
                && prior.get("node").as_str() != Some(node)
            {
                match ctx.resources().await {
                    Ok(resources) => {
                        let nodes: Vec<&str> =
                            resources.iter().filter(|r| r.resource_type == "node").filter_map(|r| r.node.as_deref()).collect();
                        if !nodes.contains(&node) {
                            diags.push(
                                Diagnostic::error(
                                    "Unknown node",
                                    format!("node '{node}' is not in the cluster; nodes are: {}", nodes.join(", ")),
                                )
                                .at(attr("node")),
                            );
                        }
                    }
                    Err(e) => diags.push(fail("Listing cluster nodes", e).0.remove(0)),
                }
            }
            diags
        })
    }

    fn create<'a>(&'a self, ctx: &'a Context, planned: Value, config: Value) -> BoxFuture<'a, Result<Value, CreateError>> {
        Box::pin(async move {
            let limit = timeout(&planned, "create", 30);
            let node = planned.get("node").as_str().unwrap_or_default().to_string();
            let _slot = ctx.node_slot(&node).await;
            let vmid = match planned.get("vmid").as_i64() {
                Some(vmid) => {
                    let vmid = vmid as u64;
                    if !ctx.claim_vmid(vmid).await.map_err(|e| fail("Checking the VMID", e))? {
                        return Err(Diagnostic::error(
                            "VMID in use",
                            format!("VMID {vmid} is already taken; choose another or leave vmid unset"),
                        )
                        .at(attr("vmid"))
                        .into());
                    }
                    vmid
                }
                None => ctx.allocate_vmid().await.map_err(|e| fail("Allocating a VMID", e))?,
            };
            let cicustom = if crate::resources::cloud_init::wanted(&planned) {
                match Self::write_snippet(ctx, &node, vmid, &planned).await {
                    Ok(cicustom) => Some(cicustom),
                    Err(diags) => {
                        ctx.release_vmid(vmid);
                        return Err(diags.into());
                    }
                }
            } else {
                None
            };
            let built = Self::build(ctx, vmid, &planned, &config, cicustom.as_deref(), limit).await;
            ctx.invalidate_resources().await;
            if let Err(mut error) = built {
                if error.partial.is_none() {
                    ctx.release_vmid(vmid);
                    if cicustom.is_some() {
                        Self::remove_snippet(ctx, &node, vmid, &planned).await;
                    }
                }
                // The half-built VM stays in state (tainted) with what we know of it.
                error.partial = error.partial.map(|actual| settle(&planned, &actual));
                return Err(error);
            }
            let actual = Self::read_state(ctx, vmid, &planned).await?.ok_or_else(|| {
                CreateError::from(Diagnostics::from(Diagnostic::error("VM vanished", format!("VM {vmid} was created but is gone"))))
            })?;
            Ok(settle(&planned, &actual))
        })
    }

    fn read<'a>(&'a self, ctx: &'a Context, state: Value) -> BoxFuture<'a, Result<Option<Value>, Diagnostics>> {
        Box::pin(async move {
            let Some(vmid) = state.get("vmid").as_i64() else { return Ok(None) };
            Self::read_state(ctx, vmid as u64, &state).await
        })
    }

    fn update<'a>(&'a self, ctx: &'a Context, prior: Value, planned: Value, config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let limit = timeout(&planned, "update", 30);
            let vmid = prior.get("vmid").as_i64().unwrap_or_default() as u64;
            let Some((node, _, _)) = Self::locate(ctx, vmid).await? else {
                return Err(Diagnostic::error("VM not found", format!("VM {vmid} no longer exists; run terraform plan again")).into());
            };
            let _slot = ctx.node_slot(&node).await;
            let current = ctx.client.guest_config(QEMU, &node, vmid).await.map_err(|e| fail("Reading the VM config", e))?;
            let mut params = Params::new();
            let mut deletes = Vec::new();
            config_params(&planned, &prior, &mut params, &mut deletes);
            if let Some(password) = config.get("ci_password").as_str() {
                params.insert("cipassword", password);
            }
            // Lifecycle tags on the guest stay when this resource rewrites its own tags.
            let lifecycle_tags: Vec<String> = text(&current, "tags")
                .map(|t| {
                    pve_api::tags::split_tag_list(&t)
                        .filter(|t| pve_api::tags::lifecycle::is_lifecycle_tag(t))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if !lifecycle_tags.is_empty() && (params.get("tags").is_some() || deletes.iter().any(|d| d == "tags")) {
                let mut tags: Vec<String> = params.get("tags").map(|t| t.split(';').map(str::to_string).collect()).unwrap_or_default();
                tags.extend(lifecycle_tags);
                deletes.retain(|d| d != "tags");
                params.insert("tags", tags.join(";"));
            }
            let (had_snippet, wants_snippet) =
                (crate::resources::cloud_init::wanted(&prior), crate::resources::cloud_init::wanted(&planned));
            let snippet_inputs = [
                "user_data",
                "install_docker",
                "install_node_exporter",
                "security_updates",
                "snippet_storage",
                "name",
                "ci_user",
                "ci_ssh_keys",
            ];
            if wants_snippet && (!had_snippet || snippet_inputs.iter().any(|k| planned.get(k) != prior.get(k))) {
                // Rewritten in place: the VM reads it at its next boot, nothing is replaced.
                let cicustom = Self::write_snippet(ctx, &node, vmid, &planned).await?;
                if !had_snippet || planned.get("snippet_storage") != prior.get("snippet_storage") {
                    params.insert("cicustom", cicustom);
                }
            } else if had_snippet && !wants_snippet && planned.get("ci_custom").is_null() {
                deletes.push("cicustom".into());
            }
            let prior_disks: BTreeMap<String, Value> = prior
                .get("disk")
                .as_list()
                .unwrap_or_default()
                .iter()
                .filter_map(|d| Some((d.get("slot").as_str()?.to_string(), d.clone())))
                .collect();
            let mut resizes = Vec::new();
            let mut kept = BTreeSet::new();
            for disk in planned.get("disk").as_list().unwrap_or_default() {
                let slot = disk.get("slot").as_str().unwrap_or_default().to_string();
                kept.insert(slot.clone());
                match (prior_disks.get(&slot), text(&current, &slot)) {
                    (Some(before), Some(existing)) => {
                        if disk.get("size").as_i64() > before.get("size").as_i64() {
                            resizes.push((slot.clone(), format!("{}G", disk.get("size").as_i64().unwrap_or(1))));
                        }
                        let mut with_size = before.clone();
                        if let (Value::Map(w), Value::Map(d)) = (&mut with_size, disk) {
                            w.extend(d.iter().filter(|(k, _)| *k != "size").map(|(k, v)| (k.clone(), v.clone())));
                        }
                        if with_size != *before {
                            let mut p = PropertyString::parse(&existing, Some("file")).unwrap_or_default();
                            disk_options(disk, &mut p);
                            params.insert(&slot, p.to_string_with_default("file"));
                        }
                    }
                    _ => params.insert(&slot, new_disk_string(disk)),
                }
            }
            // Removed disks are detached and their volumes destroyed, as the config says.
            for slot in prior_disks.keys().filter(|s| !kept.contains(*s)) {
                deletes.push(slot.clone());
            }
            if !deletes.is_empty() {
                params.insert("delete", deletes.join(","));
            }
            let has_changes = params.iter().count() > 0;
            if has_changes {
                ctx.client.update_config(QEMU, &node, vmid, &params.set("digest", &current.digest)).await.map_err(|e| {
                    if e.is_digest_mismatch() {
                        Diagnostics::from(Diagnostic::error(
                            "VM changed concurrently",
                            format!("{e}; someone edited VM {vmid} since it was read: run terraform apply again"),
                        ))
                    } else {
                        fail("Updating the VM config", e)
                    }
                })?;
            }
            if prior_disks.keys().any(|s| !kept.contains(s)) {
                Self::destroy_unused(ctx, &node, vmid).await?;
            }
            for (slot, size) in resizes {
                if let Some(upid) =
                    ctx.client.resize_disk(QEMU, &node, vmid, &slot, &size, None).await.map_err(|e| fail("Growing a disk", e))?
                {
                    Self::wait(ctx, &upid, limit, "Growing a disk").await?;
                }
            }
            if had_snippet && !wants_snippet {
                Self::remove_snippet(ctx, &node, vmid, &prior).await;
            }
            Self::set_pool(ctx, vmid, prior.get("pool"), planned.get("pool")).await?;
            if planned.get("started") != prior.get("started") && planned.get("template").as_bool() != Some(true) {
                Self::set_power(ctx, &node, vmid, planned.get("started").as_bool() == Some(true), limit).await?;
            }
            let reboot_required = if planned.get("started").as_bool() == Some(true) {
                let pending: Vec<Json> = ctx
                    .client
                    .get(&format!("/nodes/{node}/qemu/{vmid}/pending"), &Params::new())
                    .await
                    .map_err(|e| fail("Reading pending changes", e))?;
                pending.iter().any(|p| p.get("pending").is_some() || p.get("delete").is_some())
            } else {
                false
            };
            ctx.invalidate_resources().await;
            let mut actual = Self::read_state(ctx, vmid, &planned)
                .await?
                .ok_or_else(|| Diagnostics::from(Diagnostic::error("VM vanished", format!("VM {vmid} is gone"))))?;
            if let Value::Map(a) = &mut actual {
                a.insert("reboot_required".into(), reboot_required.into());
            }
            Ok(settle(&planned, &actual))
        })
    }

    fn delete<'a>(&'a self, ctx: &'a Context, prior: Value) -> BoxFuture<'a, Result<(), Diagnostics>> {
        Box::pin(async move {
            let limit = timeout(&prior, "delete", 10);
            let vmid = prior.get("vmid").as_i64().unwrap_or_default() as u64;
            ctx.invalidate_resources().await;
            let Some((node, running, _)) = Self::locate(ctx, vmid).await? else { return Ok(()) };
            let config = ctx.client.guest_config(QEMU, &node, vmid).await.map_err(|e| fail("Reading the VM config", e))?;
            if config.flag("protection") {
                return Err(Diagnostic::error(
                    "VM is protected",
                    format!("VM {vmid} has protection enabled; set protection = false and apply before destroying it"),
                )
                .at(attr("protection"))
                .into());
            }
            let _slot = ctx.node_slot(&node).await;
            if running {
                Self::set_power(ctx, &node, vmid, false, limit).await?;
            }
            let upid = ctx.client.delete_guest(QEMU, &node, vmid, true).await.map_err(|e| fail("Destroying the VM", e))?;
            Self::wait(ctx, &upid, limit, "Destroying the VM").await?;
            if crate::resources::cloud_init::wanted(&prior) {
                Self::remove_snippet(ctx, &node, vmid, &prior).await;
            }
            ctx.invalidate_resources().await;
            Ok(())
        })
    }

    fn identity_schema(&self) -> Vec<IdentityAttribute> {
        vec![
            IdentityAttribute { name: "vmid", ty: Type::Number, required_for_import: true, description: "VMID of the VM." },
            IdentityAttribute { name: "node", ty: Type::String, required_for_import: false, description: "Node the VM was created on." },
        ]
    }

    fn identity(&self, state: &Value) -> Option<Value> {
        Some(Value::object([("vmid", state.get("vmid").clone()), ("node", state.get("node").clone())]))
    }

    fn import_id(&self, identity: &Value) -> Option<String> {
        let vmid = identity.get("vmid").as_i64()?;
        Some(match identity.get("node").as_str() {
            Some(node) => format!("{node}/{vmid}"),
            None => vmid.to_string(),
        })
    }

    fn list_schema(&self) -> Option<Block> {
        Some(Block::new(
            "Finds VMs for `terraform query`; every filter is optional.",
            vec![
                Attribute::optional("node", Type::String, "Only VMs on this node."),
                Attribute::optional("tags", Type::set(Type::String), "Only VMs carrying all of these tags."),
                Attribute::optional("name_regex", Type::String, "Only VMs whose name matches.").validate(Validator::custom(|v: &Value| {
                    match v.as_str() {
                        Some(p) => regex::Regex::new(p).map(|_| ()).map_err(|e| format!("is not a valid regular expression: {e}")),
                        None => Ok(()),
                    }
                })),
            ],
        ))
    }

    fn list<'a>(&'a self, ctx: &'a Context, config: Value, with_objects: bool) -> BoxFuture<'a, Result<Vec<(String, Value)>, Diagnostics>> {
        Box::pin(async move {
            let resources = ctx.resources().await.map_err(|e| fail("Listing cluster resources", e))?;
            let tags: Vec<String> =
                config.get("tags").as_list().unwrap_or_default().iter().filter_map(Value::as_str).map(str::to_lowercase).collect();
            let name_regex = config.get("name_regex").as_str().and_then(|p| regex::Regex::new(p).ok());
            let mut found = Vec::new();
            for row in resources.iter().filter(|r| r.resource_type == "qemu" && !r.template) {
                let (Some(vmid), Some(node)) = (row.vmid, row.node.as_deref()) else { continue };
                let name = row.name.clone().unwrap_or_default();
                let matches = config.get("node").as_str().is_none_or(|n| n == node)
                    && tags.iter().all(|t| row.tag_list().contains(t))
                    && name_regex.as_ref().is_none_or(|re| re.is_match(&name));
                if !matches {
                    continue;
                }
                let state = if with_objects {
                    let prior = Value::object([("node", node.into())]);
                    match Self::read_state(ctx, vmid, &prior).await? {
                        Some(state) => state,
                        None => continue,
                    }
                } else {
                    Value::object([("vmid", vmid.into()), ("node", node.into()), ("name", name.clone().into())])
                };
                found.push((format!("{name} ({node}/{vmid})"), state));
            }
            Ok(found)
        })
    }

    fn import<'a>(&'a self, ctx: &'a Context, id: String) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let vmid = crate::functions::vmid_from_id(&id).ok_or_else(|| {
                Diagnostics::from(Diagnostic::error("Invalid import ID", format!("'{id}' is not NODE/VMID or VMID (e.g. pve1/101)")))
            })?;
            ctx.invalidate_resources().await;
            let state = Self::read_state(ctx, vmid, &Value::Null)
                .await?
                .ok_or_else(|| Diagnostics::from(Diagnostic::error("VM not found", format!("no VM with VMID {vmid}"))))?;
            if let Some(node) = id.split('/').next().filter(|n| id.contains('/') && *n != "qemu")
                && state.get("current_node").as_str() != Some(node)
            {
                return Err(Diagnostic::error(
                    "VM is on another node",
                    format!("VM {vmid} is on {}, not {node}", state.get("current_node").as_str().unwrap_or("?")),
                )
                .into());
            }
            Ok(state)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("10").is_err() && parse_duration("5x").is_err() && parse_duration("").is_err());
    }

    #[test]
    fn ssh_keys_round_trip_through_pves_encoding() {
        let keys = vec![Value::from("ssh-ed25519 AAAAC3Nza user@host"), Value::from("ssh-rsa AAAAB3 other")];
        assert_eq!(decode_ssh_keys(&encode_ssh_keys(&keys)), keys);
    }

    #[test]
    fn nic_strings_round_trip() {
        let nic = nic_from_config("virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=10,firewall=1").unwrap();
        assert_eq!(nic.get("mac"), &Value::from("BC:24:11:00:00:01"));
        assert_eq!(nic.get("vlan").as_i64(), Some(10));
        assert_eq!(nic_string(&nic), "virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=10,firewall=1");
    }

    #[test]
    fn disks_parse_from_config() {
        let disk = disk_from_config("scsi0", "local-lvm:vm-101-disk-0,iothread=1,discard=on,size=50G").unwrap();
        assert_eq!(disk.get("storage"), &Value::from("local-lvm"));
        assert_eq!(disk.get("size").as_i64(), Some(50));
        assert_eq!(disk.get("discard").as_bool(), Some(true));
        assert!(disk_from_config("ide2", "local-lvm:vm-101-cloudinit,media=cdrom").is_none());
    }
}
