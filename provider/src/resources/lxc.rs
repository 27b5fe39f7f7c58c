//! `resource "pve_lxc"`: an LXC container, created from an OS template volume or cloned.
//!
//! Plan rules: replaced when `vmid`, `node`, `unprivileged` or a volume's `storage` changes;
//! `rootfs` and mount points grow in place and never shrink (refused at plan time); everything
//! else updates in place. Write-only inputs (`template_volume`, `clone_vmid`, `password`,
//! `ssh_public_keys`) are read at creation only and never stored, so an import plans clean.

use crate::plugin::diag::api_failure;
use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;
use pve_api::{GuestConfig, GuestKind, Params, PropertyString};

use super::common::{
    Located, check_ip, check_ipv4_config, check_tags, destroy, flag, indexed, json_text, keep_lifecycle_tags, locate, lowercase_sorted,
    read_config, set_pool, set_power, settle, text, timeout, timeouts_block, wait,
};
use crate::plugin::diag::{Diagnostic, Diagnostics, Path, Step, attr};
use crate::plugin::resource::{CreateError, Resource};
use crate::plugin::schema::{Attribute, Block, Nesting, Validator};
use crate::plugin::value::{Type, Value};
use crate::provider::Context;

const LXC: GuestKind = GuestKind::Lxc;

pub struct PveLxc;

fn volume_block(with_path: bool) -> Block {
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

fn network_block() -> Block {
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

fn volume_from_config(value: &str) -> Option<(String, i64, PropertyString)> {
    let p = PropertyString::parse(value, Some("volume")).ok()?;
    let storage = p.get("volume")?.split(':').next()?.to_string();
    let size = p.get("size").and_then(|s| pve_api::size::parse_size(s).ok()).unwrap_or(0);
    Some((storage, (size as f64 / (1u64 << 30) as f64).ceil() as i64, p))
}

fn nic_string(index: usize, nic: &Value) -> String {
    let mut p = PropertyString::new();
    p.set("name", nic.get("name").as_str().map(str::to_string).unwrap_or_else(|| format!("eth{index}")));
    p.set("bridge", nic.get("bridge").as_str().unwrap_or("vmbr0"));
    if let Some(mac) = nic.get("mac").as_str() {
        p.set("hwaddr", mac);
    }
    if let Some(ip) = nic.get("ipv4").as_str() {
        p.set("ip", ip);
    }
    if let Some(gw) = nic.get("gateway").as_str() {
        p.set("gw", gw);
    }
    if let Some(vlan) = nic.get("vlan").as_i64() {
        p.set("tag", vlan.to_string());
    }
    if nic.get("firewall").as_bool() == Some(true) {
        p.set("firewall", "1");
    }
    p.to_string()
}

/// What is certain about a container that exists but could not be read back.
fn minimal_state(planned: &Value, vmid: u64) -> Value {
    settle(planned, &Value::object([("id", vmid.to_string().into()), ("vmid", vmid.into()), ("current_node", planned.get("node").clone())]))
}

/// A mount point to allocate: `STORAGE:SIZE,mp=PATH[,backup=1]`.
fn new_mount_point(mp: &Value) -> String {
    let mut p = PropertyString::new();
    p.set("volume", format!("{}:{}", mp.get("storage").as_str().unwrap_or("local-lvm"), mp.get("size").as_i64().unwrap_or(1)));
    p.set("mp", mp.get("path").as_str().unwrap_or("/mnt"));
    if mp.get("backup").as_bool() == Some(true) {
        p.set("backup", "1");
    }
    p.to_string_with_default("volume")
}

fn features_string(state: &Value) -> Option<String> {
    let on: Vec<String> =
        ["nesting", "keyctl", "fuse"].iter().filter(|f| state.get(f).as_bool() == Some(true)).map(|f| format!("{f}=1")).collect();
    (!on.is_empty()).then(|| on.join(","))
}

/// Scalar config keys: attribute, PVE key.
const SCALARS: [(&str, &str); 8] = [
    ("hostname", "hostname"),
    ("description", "description"),
    ("cores", "cores"),
    ("memory", "memory"),
    ("swap", "swap"),
    ("dns_search_domain", "searchdomain"),
    ("startup", "startup"),
    ("os_type", "ostype"),
];

fn state_from_config(vmid: u64, node: &str, running: bool, pool: Option<String>, config: &GuestConfig, prior: &Value) -> Value {
    let mut s: BTreeMap<String, Value> = BTreeMap::new();
    s.insert("id".into(), vmid.to_string().into());
    s.insert("vmid".into(), vmid.into());
    s.insert("node".into(), prior.get("node").as_str().unwrap_or(node).to_string().into());
    s.insert("current_node".into(), node.into());
    for (attribute, key) in SCALARS {
        let value = text(config, key);
        s.insert(
            attribute.into(),
            match attribute {
                "cores" | "memory" | "swap" => value.and_then(|v| v.parse::<i64>().ok()).map(Value::from).unwrap_or(Value::Null),
                _ => value.into(),
            },
        );
    }
    for (attribute, default) in [("memory", 512i64), ("swap", 512)] {
        if s.get(attribute).is_none_or(Value::is_null) {
            s.insert(attribute.into(), default.into());
        }
    }
    s.insert("on_boot".into(), text(config, "onboot").is_some_and(|v| flag(&v)).into());
    s.insert("protection".into(), text(config, "protection").is_some_and(|v| flag(&v)).into());
    s.insert("unprivileged".into(), text(config, "unprivileged").is_some_and(|v| flag(&v)).into());
    let features = text(config, "features").and_then(|f| PropertyString::parse(&f, None).ok()).unwrap_or_default();
    for feature in ["nesting", "keyctl", "fuse"] {
        s.insert(feature.into(), features.get(feature).is_some_and(flag).into());
    }
    s.insert("started".into(), running.into());
    s.insert("pool".into(), pool.into());
    let tags: Vec<Value> = text(config, "tags")
        .map(|t| pve_api::tags::split_tag_list(&t).filter(|t| !pve_api::tags::lifecycle::is_lifecycle_tag(t)).map(Value::from).collect())
        .unwrap_or_default();
    let tags = if tags.is_empty() { Value::Null } else { Value::List(tags) };
    let prior_tags = prior.get("tags");
    s.insert(
        "tags".into(),
        if !prior_tags.is_null() && lowercase_sorted(prior_tags) == lowercase_sorted(&tags) { prior_tags.clone() } else { tags },
    );
    s.insert(
        "dns_servers".into(),
        text(config, "nameserver")
            .map(|n| Value::List(n.split_whitespace().map(|x| Value::from(x.to_string())).collect()))
            .unwrap_or(Value::Null),
    );
    let rootfs = text(config, "rootfs")
        .and_then(|r| volume_from_config(&r))
        .map(|(storage, size, _)| Value::object([("storage", storage.into()), ("size", size.into())]));
    s.insert("rootfs".into(), rootfs.unwrap_or(Value::Null));
    let mount_points: Vec<Value> = indexed(config, "mp")
        .into_iter()
        .filter_map(|(n, v)| {
            let (storage, size, p) = volume_from_config(&json_text(v))?;
            Some(Value::object([
                ("slot", format!("mp{n}").into()),
                ("storage", storage.into()),
                ("size", size.into()),
                ("path", p.get("mp").map(str::to_string).into()),
                ("backup", p.get("backup").is_some_and(flag).into()),
            ]))
        })
        .collect();
    s.insert("mount_point".into(), Value::List(mount_points));
    let nets: Vec<Value> = indexed(config, "net")
        .into_iter()
        .filter_map(|(n, v)| {
            let p = PropertyString::parse(&json_text(v), None).ok()?;
            let prior_name =
                prior.get("network").as_list().and_then(|l| l.get(n as usize)).map(|nic| nic.get("name").clone()).unwrap_or(Value::Null);
            // The default name stays unset in state, as in the configuration.
            let name = match (p.get("name"), prior_name.is_null()) {
                (Some(name), true) if name == format!("eth{n}") => Value::Null,
                (name, _) => name.map(str::to_string).into(),
            };
            Some(Value::object([
                ("name", name),
                ("bridge", p.get("bridge").map(str::to_string).into()),
                ("vlan", p.get("tag").and_then(|t| t.parse::<i64>().ok()).into()),
                ("ipv4", p.get("ip").map(str::to_string).into()),
                ("gateway", p.get("gw").map(str::to_string).into()),
                ("firewall", p.get("firewall").is_some_and(flag).into()),
                ("mac", p.get("hwaddr").map(str::to_string).into()),
            ]))
        })
        .collect();
    s.insert("network".into(), Value::List(nets));
    let hook = text(config, "hookscript");
    let ours = hook.as_deref().filter(|h| h.ends_with(&format!(":snippets/{}", super::cloud_init::CT_SECURITY_HOOK)));
    s.insert("security_updates".into(), ours.is_some().into());
    let storage =
        ours.and_then(|h| h.split(':').next()).map(str::to_string).or_else(|| prior.get("snippet_storage").as_str().map(str::to_string));
    s.insert("snippet_storage".into(), storage.unwrap_or_else(|| "local".into()).into());
    s.insert("timeouts".into(), prior.get("timeouts").clone());
    Value::Map(s)
}

/// Writes the security-update hookscript to the node; returns the `hookscript` volume.
async fn write_hook(ctx: &Context, node: &str, state: &Value) -> Result<String, Diagnostics> {
    let storage = state.get("snippet_storage").as_str().unwrap_or("local");
    let dir = ctx
        .snippet_dir(storage)
        .await
        .map_err(|e| Diagnostics::from(Diagnostic::error("Snippet storage unusable", e).at(attr("snippet_storage"))))?;
    let session = ctx.ssh(node).await.map_err(|e| Diagnostics::from(Diagnostic::error("SSH to the node failed", e.to_string())))?;
    let name = super::cloud_init::CT_SECURITY_HOOK;
    session
        .upload_with_mode(&format!("{dir}/{name}"), super::cloud_init::ct_security_hook().as_bytes(), 0o755)
        .await
        .map_err(|e| Diagnostics::from(Diagnostic::error("Writing the hookscript failed", e.to_string())))?;
    Ok(format!("{storage}:snippets/{name}"))
}

/// Config parameters from a plan (everything but volume sizes). On create every unset key goes.
fn config_params(planned: &Value, prior: &Value, params: &mut Params, deletes: &mut Vec<String>) {
    let creating = prior.is_null();
    let changed = |name: &str| creating || planned.get(name) != prior.get(name);
    for (attribute, key) in SCALARS {
        if !changed(attribute) {
            continue;
        }
        match planned.get(attribute) {
            Value::Number(n) => params.insert(key, (*n as i64).to_string()),
            Value::String(s) => params.insert(key, s),
            Value::Null if !creating && !prior.get(attribute).is_null() => deletes.push(key.to_string()),
            _ => {}
        }
    }
    for (attribute, key) in [("on_boot", "onboot"), ("protection", "protection")] {
        if changed(attribute) {
            params.insert(key, if planned.get(attribute).as_bool() == Some(true) { "1" } else { "0" });
        }
    }
    if ["nesting", "keyctl", "fuse"].iter().any(|f| changed(f)) {
        match features_string(planned) {
            Some(features) => params.insert("features", features),
            None if !creating => deletes.push("features".into()),
            None => {}
        }
    }
    let join = |name: &str, sep: &str| {
        planned.get(name).as_list().filter(|l| !l.is_empty()).map(|l| l.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(sep))
    };
    for (attribute, key, value) in [("tags", "tags", join("tags", ";")), ("dns_servers", "nameserver", join("dns_servers", " "))] {
        if changed(attribute) {
            match value {
                Some(value) => params.insert(key, value),
                None if !creating && !prior.get(attribute).is_null() => deletes.push(key.to_string()),
                None => {}
            }
        }
    }
    let nets = planned.get("network").as_list().unwrap_or_default();
    let old = prior.get("network").as_list().unwrap_or_default();
    for (i, nic) in nets.iter().enumerate() {
        if creating || old.get(i) != Some(nic) {
            params.insert(format!("net{i}"), nic_string(i, nic));
        }
    }
    deletes.extend((nets.len()..old.len()).map(|i| format!("net{i}")));
}

async fn read_state(ctx: &Context, vmid: u64, prior: &Value) -> Result<Option<Value>, Diagnostics> {
    Ok(read_config(ctx, vmid, LXC).await?.map(|(at, config)| state_from_config(vmid, &at.node, at.running, at.pool, &config, prior)))
}

/// Grows `key` (rootfs or mpN) to `size` GiB if it is smaller.
async fn grow(ctx: &Context, node: &str, vmid: u64, key: &str, size: i64, limit: std::time::Duration) -> Result<(), Diagnostics> {
    if let Some(upid) =
        ctx.client.resize_disk(LXC, node, vmid, key, &format!("{size}G"), None).await.map_err(|e| api_failure("Growing a volume", e))?
    {
        wait(ctx, &upid, limit, "Growing a volume").await?;
    }
    Ok(())
}

impl Resource<Context> for PveLxc {
    fn type_name(&self) -> &'static str {
        "pve_lxc"
    }

    fn schema(&self) -> Block {
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

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let (template, clone) = (config.get("template_volume"), config.get("clone_vmid"));
        if template.is_set() && clone.is_set() {
            diags.push(Diagnostic::error("Conflicting sources", "set template_volume or clone_vmid, not both").at(attr("clone_vmid")));
        }
        if config.get("rootfs").is_null() && clone.is_null() && !template.is_unknown() {
            diags.push(
                Diagnostic::error("Missing rootfs", "a container built from a template needs a rootfs block (storage and size)")
                    .at(attr("rootfs")),
            );
        }
        let mut slots = BTreeSet::new();
        for (i, mp) in config.get("mount_point").as_list().unwrap_or_default().iter().enumerate() {
            if let Some(slot) = mp.get("slot").as_str()
                && !slots.insert(slot.to_string())
            {
                diags.push(Diagnostic::error("Duplicate mount point", format!("{slot} is used twice")).at(vec![
                    Step::Attr("mount_point".into()),
                    Step::Index(i as i64),
                    Step::Attr("slot".into()),
                ]));
            }
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
            if !prior.is_null() {
                let mut check = |path: Path, new: &Value, old: &Value| {
                    if new.get("storage") != old.get("storage") {
                        let mut p = path.clone();
                        p.push(Step::Attr("storage".into()));
                        replace.push(p);
                    }
                    if let (Some(n), Some(o)) = (new.get("size").as_i64(), old.get("size").as_i64())
                        && n < o
                    {
                        let mut p = path;
                        p.push(Step::Attr("size".into()));
                        diags.push(
                            Diagnostic::error(
                                "Volumes cannot shrink",
                                format!("the volume is {o} GiB; it can grow but not shrink to {n} GiB"),
                            )
                            .at(p),
                        );
                    }
                };
                if !planned.get("rootfs").is_null() && !prior.get("rootfs").is_null() {
                    check(attr("rootfs"), planned.get("rootfs"), prior.get("rootfs"));
                }
                let old: BTreeMap<String, Value> = prior
                    .get("mount_point")
                    .as_list()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|m| Some((m.get("slot").as_str()?.to_string(), m.clone())))
                    .collect();
                for (i, mp) in planned.get("mount_point").as_list().unwrap_or_default().iter().enumerate() {
                    if let Some(before) = mp.get("slot").as_str().and_then(|s| old.get(s)) {
                        check(vec![Step::Attr("mount_point".into()), Step::Index(i as i64)], mp, before);
                    }
                }
            }
            if let (Some(ctx), Some(node)) = (ctx, planned.get("node").as_str())
                && prior.get("node").as_str() != Some(node)
                && let Ok(resources) = ctx.resources().await
            {
                let nodes: Vec<&str> = resources.iter().filter(|r| r.resource_type == "node").filter_map(|r| r.node.as_deref()).collect();
                if !nodes.contains(&node) {
                    diags.push(
                        Diagnostic::error("Unknown node", format!("node '{node}' is not in the cluster; nodes are: {}", nodes.join(", ")))
                            .at(attr("node")),
                    );
                }
            }
            if let Some(ctx) = ctx
                && planned.get("security_updates").as_bool() == Some(true)
                && !ctx.ssh.configured
            {
                diags.push(
                    Diagnostic::error(
                        "SSH needed for security_updates",
                        "the hookscript is written to the node over SSH: configure the provider's ssh block (or PVE_SSH_* variables).",
                    )
                    .at(attr("security_updates")),
                );
            }
            if config.get("template_volume").is_null() && config.get("clone_vmid").is_null() && prior.is_null() {
                diags.push(
                    Diagnostic::error("Missing source", "set template_volume (an OS template) or clone_vmid").at(attr("template_volume")),
                );
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
                Some(vmid) if ctx.claim_vmid(vmid as u64).await.map_err(|e| api_failure("Checking the VMID", e))? => vmid as u64,
                Some(vmid) => {
                    return Err(Diagnostic::error("VMID in use", format!("VMID {vmid} is already taken")).at(attr("vmid")).into());
                }
                None => ctx.allocate_vmid().await.map_err(|e| api_failure("Allocating a VMID", e))?,
            };
            let mut params = Params::new();
            let mut deletes = Vec::new();
            config_params(&planned, &Value::Null, &mut params, &mut deletes);
            if planned.get("security_updates").as_bool() == Some(true) {
                match write_hook(ctx, &node, &planned).await {
                    Ok(hook) => params.insert("hookscript", hook),
                    Err(diags) => {
                        ctx.release_vmid(vmid);
                        return Err(diags.into());
                    }
                }
            }
            let planned_ref = &planned;
            // Once PVE has the container, a failure still reports it (tainted), even if unreadable.
            let partial = |diags: Diagnostics| async move {
                let known = match read_state(ctx, vmid, planned_ref).await {
                    Ok(Some(actual)) => Some(settle(planned_ref, &actual)),
                    Ok(None) => None,
                    Err(_) => Some(minimal_state(planned_ref, vmid)),
                };
                CreateError { partial: known, diagnostics: diags }
            };
            let built = match config.get("clone_vmid").as_i64() {
                Some(source) => {
                    let source = source as u64;
                    let Some(Located { node: source_node, .. }) = locate(ctx, source, LXC).await? else {
                        ctx.release_vmid(vmid);
                        return Err(Diagnostic::error("Clone source not found", format!("no container with VMID {source}"))
                            .at(attr("clone_vmid"))
                            .into());
                    };
                    let _source = ctx.lock_source(source).await;
                    let mut clone = Params::new().set("hostname", planned.get("hostname").as_str().unwrap_or_default()).flag("full", true);
                    if node != source_node {
                        clone.insert("target", &node);
                    }
                    if let Some(storage) = planned.get("rootfs").get("storage").as_str() {
                        clone.insert("storage", storage);
                    }
                    let upid = ctx.client.clone_guest(LXC, &source_node, source, vmid, &clone).await.map_err(|e| {
                        ctx.release_vmid(vmid);
                        api_failure("Cloning the container", e)
                    })?;
                    ctx.invalidate_resources().await;
                    match wait(ctx, &upid, limit, "Cloning the container").await {
                        // What the clone left (if anything) is reported, not forgotten.
                        Err(diags) => Err(diags),
                        Ok(()) => {
                            // Mount points of the configuration are added, the rootfs grown.
                            for mp in planned.get("mount_point").as_list().unwrap_or_default() {
                                params.insert(mp.get("slot").as_str().unwrap_or("mp0"), new_mount_point(mp));
                            }
                            match ctx.client.update_config(LXC, &node, vmid, &params).await {
                                Err(e) => Err(api_failure("Configuring the clone", e)),
                                Ok(()) => match planned.get("rootfs").get("size").as_i64() {
                                    Some(size) => grow(ctx, &node, vmid, "rootfs", size, limit).await,
                                    None => Ok(()),
                                },
                            }
                        }
                    }
                }
                None => {
                    params.insert("vmid", vmid);
                    params.insert("ostemplate", config.get("template_volume").as_str().unwrap_or_default());
                    params.insert("unprivileged", if planned.get("unprivileged").as_bool() == Some(false) { "0" } else { "1" });
                    let rootfs = planned.get("rootfs");
                    if !rootfs.is_null() {
                        params.insert(
                            "rootfs",
                            format!(
                                "{}:{}",
                                rootfs.get("storage").as_str().unwrap_or("local-lvm"),
                                rootfs.get("size").as_i64().unwrap_or(8)
                            ),
                        );
                    }
                    for mp in planned.get("mount_point").as_list().unwrap_or_default() {
                        params.insert(mp.get("slot").as_str().unwrap_or("mp0"), new_mount_point(mp));
                    }
                    if let Some(password) = config.get("password").as_str() {
                        params.insert("password", password);
                    }
                    if let Some(keys) = config.get("ssh_public_keys").as_list().filter(|k| !k.is_empty()) {
                        params.insert("ssh-public-keys", keys.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"));
                    }
                    if let Some(pool) = planned.get("pool").as_str() {
                        params.insert("pool", pool);
                    }
                    let upid = ctx.client.create_guest(LXC, &node, &params).await.map_err(|e| {
                        ctx.release_vmid(vmid);
                        api_failure("Creating the container", e)
                    })?;
                    ctx.invalidate_resources().await;
                    wait(ctx, &upid, limit, "Creating the container").await
                }
            };
            if let Err(diags) = built {
                return Err(partial(diags).await);
            }
            if !config.get("clone_vmid").is_null()
                && let Some(pool) = planned.get("pool").as_str()
                && let Err(e) = ctx.client.update_pool(pool, &Params::new().set("vms", vmid)).await
            {
                return Err(partial(api_failure("Joining the pool", e)).await);
            }
            if planned.get("started").as_bool() != Some(false)
                && let Err(d) = set_power(ctx, LXC, &node, vmid, true, limit).await
            {
                return Err(partial(d).await);
            }
            ctx.invalidate_resources().await;
            match read_state(ctx, vmid, &planned).await {
                Ok(Some(actual)) => Ok(settle(&planned, &actual)),
                Ok(None) => Err(Diagnostic::error("Container vanished", format!("CT {vmid} is gone")).into()),
                Err(diagnostics) => Err(CreateError { partial: Some(minimal_state(&planned, vmid)), diagnostics }),
            }
        })
    }

    fn read<'a>(&'a self, ctx: &'a Context, state: Value) -> BoxFuture<'a, Result<Option<Value>, Diagnostics>> {
        Box::pin(async move {
            let Some(vmid) = state.get("vmid").as_i64() else { return Ok(None) };
            read_state(ctx, vmid as u64, &state).await
        })
    }

    fn update<'a>(&'a self, ctx: &'a Context, prior: Value, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let limit = timeout(&planned, "update", 30);
            let vmid = prior.get("vmid").as_i64().unwrap_or_default() as u64;
            let Located { node, .. } = locate(ctx, vmid, LXC)
                .await?
                .ok_or_else(|| Diagnostics::from(Diagnostic::error("Container not found", format!("CT {vmid} no longer exists"))))?;
            let _slot = ctx.node_slot(&node).await;
            let current = ctx.client.guest_config(LXC, &node, vmid).await.map_err(|e| api_failure("Reading the container config", e))?;
            let mut params = Params::new();
            let mut deletes = Vec::new();
            config_params(&planned, &prior, &mut params, &mut deletes);
            keep_lifecycle_tags(&current, &mut params, &mut deletes);
            let (had_hook, wants_hook) =
                (prior.get("security_updates").as_bool() == Some(true), planned.get("security_updates").as_bool() == Some(true));
            if wants_hook && (!had_hook || planned.get("snippet_storage") != prior.get("snippet_storage")) {
                params.insert("hookscript", write_hook(ctx, &node, &planned).await?);
            } else if had_hook && !wants_hook {
                deletes.push("hookscript".into());
            }
            let old_mps: BTreeMap<String, Value> = prior
                .get("mount_point")
                .as_list()
                .unwrap_or_default()
                .iter()
                .filter_map(|m| Some((m.get("slot").as_str()?.to_string(), m.clone())))
                .collect();
            let mut grows = Vec::new();
            let mut kept = BTreeSet::new();
            for mp in planned.get("mount_point").as_list().unwrap_or_default() {
                let slot = mp.get("slot").as_str().unwrap_or_default().to_string();
                kept.insert(slot.clone());
                match old_mps.get(&slot) {
                    Some(before) => {
                        if mp.get("size").as_i64() > before.get("size").as_i64() {
                            grows.push((slot.clone(), mp.get("size").as_i64().unwrap_or(1)));
                        }
                        if mp.get("path") != before.get("path") || mp.get("backup") != before.get("backup") {
                            let mut p =
                                text(&current, &slot).and_then(|v| PropertyString::parse(&v, Some("volume")).ok()).unwrap_or_default();
                            p.set("mp", mp.get("path").as_str().unwrap_or("/mnt"));
                            p.set("backup", if mp.get("backup").as_bool() == Some(true) { "1" } else { "0" });
                            p.remove("size");
                            params.insert(&slot, p.to_string_with_default("volume"));
                        }
                    }
                    // The same string as at creation: a copy here once dropped `backup`, so the
                    // plan never settled (`backup = false -> true` on every plan).
                    None => params.insert(&slot, new_mount_point(mp)),
                }
            }
            deletes.extend(old_mps.keys().filter(|s| !kept.contains(*s)).cloned());
            if !deletes.is_empty() {
                params.insert("delete", deletes.join(","));
            }
            if !params.is_empty() {
                ctx.client
                    .update_config(LXC, &node, vmid, &params.set("digest", &current.digest))
                    .await
                    .map_err(|e| api_failure("Updating the container config", e))?;
            }
            if let (Some(new), Some(old)) = (planned.get("rootfs").get("size").as_i64(), prior.get("rootfs").get("size").as_i64())
                && new > old
            {
                grow(ctx, &node, vmid, "rootfs", new, limit).await?;
            }
            for (slot, size) in grows {
                grow(ctx, &node, vmid, &slot, size, limit).await?;
            }
            set_pool(ctx, vmid, prior.get("pool"), planned.get("pool")).await?;
            if planned.get("started") != prior.get("started") {
                set_power(ctx, LXC, &node, vmid, planned.get("started").as_bool() == Some(true), limit).await?;
            }
            ctx.invalidate_resources().await;
            let actual = read_state(ctx, vmid, &planned)
                .await?
                .ok_or_else(|| Diagnostics::from(Diagnostic::error("Container vanished", format!("CT {vmid} is gone"))))?;
            Ok(settle(&planned, &actual))
        })
    }

    fn delete<'a>(&'a self, ctx: &'a Context, prior: Value) -> BoxFuture<'a, Result<(), Diagnostics>> {
        Box::pin(async move { destroy(ctx, LXC, &prior).await })
    }

    fn import<'a>(&'a self, ctx: &'a Context, id: String) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let vmid = crate::functions::vmid_from_id(&id)
                .ok_or_else(|| Diagnostics::from(Diagnostic::error("Invalid import ID", format!("'{id}' is not NODE/VMID or VMID"))))?;
            ctx.invalidate_resources().await;
            read_state(ctx, vmid, &Value::Null)
                .await?
                .ok_or_else(|| Diagnostic::error("Container not found", format!("no container with VMID {vmid}")).into())
        })
    }
}
