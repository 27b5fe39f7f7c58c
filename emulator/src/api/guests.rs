//! QEMU and LXC guests: create/restore, clone, config with digest and pending changes, resize,
//! power actions, template conversion, destroy. Long operations run as tasks holding the config lock.

use pve_api::{GuestKind, PropertyString};
use serde_json::{Value, json};

use super::{ApiRequest, not_found};
use crate::model::{Cluster, Config, Guest, Volume, is_disk_key};
use crate::schema::{SCHEMA, typed_value};
use crate::state::{ApiResult, PveError, now};

/// Parameters of create/restore requests that are not config keys.
const CREATE_ONLY: [&str; 16] = [
    "node",
    "vmid",
    "archive",
    "start",
    "pool",
    "force",
    "unique",
    "live-restore",
    "storage",
    "bwlimit",
    "ostemplate",
    "restore",
    "password",
    "ssh-public-keys",
    "ignore-unpack-errors",
    "ha-managed",
];
/// Parameters of config updates that are not config keys.
const UPDATE_ONLY: [&str; 8] = ["node", "vmid", "digest", "delete", "revert", "skiplock", "force", "background_delay"];

fn default_key(kind: GuestKind) -> &'static str {
    if kind == GuestKind::Qemu { "file" } else { "volume" }
}

fn kind_word(kind: GuestKind) -> &'static str {
    if kind == GuestKind::Qemu { "VM" } else { "CT" }
}

fn task_prefix(kind: GuestKind) -> &'static str {
    if kind == GuestKind::Qemu { "qm" } else { "vz" }
}

fn locked(guest: &Guest) -> Option<PveError> {
    guest.lock().map(|lock| PveError::server(format!("{} is locked ({lock})", kind_word(guest.kind))))
}

/// QEMU and LXC word a digest mismatch differently.
fn digest_mismatch(kind: GuestKind) -> PveError {
    PveError::server(match kind {
        GuestKind::Qemu => "checksum mismatch (file change by other user?)",
        GuestKind::Lxc => "detected modified configuration - file changed by other user? Try again.",
    })
}

/// A config change needs the guest unlocked (or `skiplock`) and, if given, a matching digest.
fn check_writable(r: &ApiRequest, guest: &Guest) -> Result<(), PveError> {
    if !r.flag("skiplock")
        && let Some(e) = locked(guest)
    {
        return Err(e);
    }
    match r.param("digest") {
        Some(digest) if digest != guest.digest() => Err(digest_mismatch(guest.kind)),
        _ => Ok(()),
    }
}

/// Hashes a cloud-init password the way PVE stores it (never the clear text).
fn hash_password(password: &str) -> String {
    use sha2::Digest;
    format!("$5${}", hex::encode(sha2::Sha256::digest(password.as_bytes())))
}

/// Allocates `STORAGE:SIZE` disks, checks referenced volumes, and writes `size=` into each disk.
fn allocate_disks(
    cluster: &mut Cluster,
    kind: GuestKind,
    node: &str,
    vmid: u64,
    config: &mut Config,
    keys: &[String],
) -> Result<Vec<String>, PveError> {
    let mut created = Vec::new();
    for key in keys {
        let Some(value) = config.get(key).cloned() else {
            continue;
        };
        let mut disk =
            PropertyString::parse(&value, Some(default_key(kind))).map_err(|e| PveError::param(key, format!("invalid format - {e}")))?;
        let file = disk.get(default_key(kind)).unwrap_or("").to_string();
        if file == "none" || file == "cdrom" || file.starts_with('/') || disk.get("media") == Some("cdrom") && !file.ends_with(":cloudinit")
        {
            continue;
        }
        let (storage, rest) = file.split_once(':').ok_or_else(|| PveError::param(key, "invalid format - missing storage"))?;
        let def = cluster.storage(storage).ok_or_else(|| PveError::server(format!("storage '{storage}' does not exist")))?.clone();
        let content = if kind == GuestKind::Qemu { "images" } else { "rootdir" };
        let new_size = if rest == "cloudinit" {
            Some(4u64 << 20)
        } else if !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.') {
            let gib: f64 = rest.parse().map_err(|_| PveError::param(key, "invalid size"))?;
            Some((gib * (1u64 << 30) as f64) as u64)
        } else {
            None
        };
        match new_size {
            Some(size) => {
                if !def.content.iter().any(|c| c == content) {
                    return Err(PveError::server(format!("storage '{storage}' does not support content-type '{content}'")));
                }
                let volid =
                    if rest == "cloudinit" { format!("{storage}:vm-{vmid}-cloudinit") } else { cluster.new_disk_name(storage, vmid, "vm") };
                cluster.volumes.push(Volume {
                    storage: storage.to_string(),
                    node: (!def.shared).then(|| node.to_string()),
                    volid: volid.clone(),
                    content: content.into(),
                    format: if def.storage_type == "dir" { "qcow2".into() } else { "raw".into() },
                    size,
                    ctime: now(),
                    vmid: Some(vmid),
                    ..Default::default()
                });
                created.push(volid.clone());
                disk.set(default_key(kind), volid);
                if rest == "cloudinit" {
                    disk.set("media", "cdrom");
                } else {
                    disk.set("size", pve_api::size::format_size(size));
                }
            }
            None => {
                let volume = cluster.find_volume(node, &file).ok_or_else(|| PveError::server(format!("volume '{file}' does not exist")))?;
                if volume.content == "images" || volume.content == "rootdir" {
                    disk.set("size", pve_api::size::format_size(volume.size));
                }
            }
        }
        config.insert(key.clone(), disk.to_string_with_default(default_key(kind)));
    }
    Ok(created)
}

/// Gives NICs without a MAC one, keeps the MAC of a NIC that already had one, checks bridges.
fn prepare_nics(cluster: &mut Cluster, kind: GuestKind, node: &str, config: &mut Config, previous: &Config) -> Result<(), PveError> {
    let bridges = cluster.node(node).map(|n| n.bridges.clone()).unwrap_or_default();
    let keys: Vec<String> = config.keys().filter(|k| k.starts_with("net") && k[3..].parse::<u32>().is_ok()).cloned().collect();
    for key in keys {
        let value = config[&key].clone();
        let mut nic = PropertyString::parse(&value, if kind == GuestKind::Qemu { Some("model") } else { None })
            .map_err(|e| PveError::param(&key, format!("invalid format - {e}")))?;
        if let Some(bridge) = nic.get("bridge")
            && !bridges.iter().any(|b| b == bridge)
        {
            return Err(PveError::server(format!("bridge '{bridge}' does not exist")));
        }
        let old =
            previous.get(&key).and_then(|v| PropertyString::parse(v, if kind == GuestKind::Qemu { Some("model") } else { None }).ok());
        match kind {
            GuestKind::Qemu => {
                // `virtio=MAC` and `model=virtio,macaddr=MAC` are the same NIC; PVE prints the first.
                let (model, mac) = match nic.get("model") {
                    Some(model) => (model.to_string(), nic.get("macaddr").map(str::to_string)),
                    None => {
                        let model =
                            nic.keys().find(|k| MODELS.contains(k)).map(str::to_string).ok_or_else(|| {
                                PveError::param(&key, "invalid format - model: property is missing and it is not optional")
                            })?;
                        let mac = nic.get(&model).map(str::to_string);
                        (model, mac)
                    }
                };
                let old_mac = old.as_ref().and_then(|o| MODELS.iter().find_map(|m| o.get(m)).or(o.get("macaddr")).map(str::to_string));
                let mac = mac.or(old_mac).unwrap_or_else(|| cluster.new_mac()).to_uppercase();
                nic.remove("model");
                nic.remove("macaddr");
                nic.remove(&model);
                let mut out = PropertyString::new();
                out.set(model, mac);
                for (k, v) in nic.iter() {
                    out.set(k, v);
                }
                config.insert(key, out.to_string());
            }
            GuestKind::Lxc => {
                if nic.get("name").is_none() {
                    return Err(PveError::param(&key, "invalid format - name: property is missing and it is not optional"));
                }
                if nic.get("hwaddr").is_none() {
                    let mac = old.as_ref().and_then(|o| o.get("hwaddr").map(str::to_string)).unwrap_or_else(|| cluster.new_mac());
                    nic.set("hwaddr", mac);
                }
                config.insert(key, nic.to_string());
            }
        }
    }
    Ok(())
}

const MODELS: [&str; 14] = [
    "virtio",
    "e1000",
    "e1000e",
    "vmxnet3",
    "rtl8139",
    "e1000-82540em",
    "e1000-82544gc",
    "e1000-82545em",
    "i82551",
    "i82557b",
    "i82559er",
    "ne2k_isa",
    "ne2k_pci",
    "pcnet",
];

/// Turns request values into stored config values: tags normalised, passwords hashed.
fn store_value(kind: GuestKind, key: &str, value: &str) -> Result<Option<String>, PveError> {
    Ok(Some(match key {
        "tags" => pve_api::tags::normalize_list(value).map_err(|e| PveError::param("tags", e.to_string()))?,
        "cipassword" if kind == GuestKind::Qemu => hash_password(value),
        "sshkeys" => value.to_string(),
        _ => value.to_string(),
    }))
}

/// Checks that a snippet volume exists; returns its file when the storage is a directory.
fn snippet(cluster: &Cluster, node: &str, param: &str, volid: &str) -> Result<Option<std::path::PathBuf>, PveError> {
    let (storage, path) = volid.split_once(':').ok_or_else(|| PveError::param(param, format!("invalid volume ID '{volid}'")))?;
    let def = cluster.storage(storage).ok_or_else(|| PveError::server(format!("storage '{storage}' does not exist")))?;
    if !def.content.iter().any(|c| c == "snippets") {
        return Err(PveError::server(format!("storage '{storage}' does not support snippets")));
    }
    // pve-storage's Plugin::parse_volname takes a snippet only as `snippets/NAME`, one plain file
    // name: `local:snippets//etc/shadow` must not reach the file system (nor tell whether it exists).
    let name = path
        .strip_prefix("snippets/")
        .filter(|name| !name.is_empty() && !name.contains('/') && *name != "." && *name != "..")
        .ok_or_else(|| PveError::server(format!("unable to parse directory volume name '{path}'")))?;
    let file = def.path.as_ref().map(|dir| std::path::Path::new(dir).join("snippets").join(name));
    let exists = match &file {
        Some(file) => file.is_file(),
        None => cluster.find_volume(node, volid).is_some(),
    };
    if !exists {
        return Err(PveError::server(format!("volume '{volid}' does not exist")));
    }
    Ok(file)
}

/// `cicustom` names snippet volumes (`user=local:snippets/x.yaml`); each must exist on the node.
fn check_cicustom(cluster: &Cluster, node: &str, value: &str) -> Result<(), PveError> {
    let parts = PropertyString::parse(value, None).map_err(|e| PveError::param("cicustom", format!("invalid format - {e}")))?;
    for (_, volid) in parts.iter() {
        snippet(cluster, node, "cicustom", volid)?;
    }
    Ok(())
}

/// A hookscript must be an executable snippet: PVE runs it at each phase of the guest's life.
fn check_hookscript(cluster: &Cluster, node: &str, volid: &str) -> Result<(), PveError> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(file) = snippet(cluster, node, "hookscript", volid)?
        && std::fs::metadata(&file).map(|m| m.permissions().mode() & 0o111 == 0).unwrap_or(true)
    {
        return Err(PveError::server(format!("script '{volid}' is not executable")));
    }
    Ok(())
}

/// Disk keys in the order PVE allocates them: a container's rootfs before its mount points.
fn disk_keys(kind: GuestKind, config: &Config) -> Vec<String> {
    let mut keys: Vec<String> = config.keys().filter(|k| is_disk_key(kind, k)).cloned().collect();
    keys.sort_by_key(|k| {
        (
            k != "rootfs",
            k.trim_end_matches(|c: char| c.is_ascii_digit()).to_string(),
            k.trim_start_matches(|c: char| !c.is_ascii_digit()).parse::<u32>().unwrap_or(0),
        )
    });
    keys
}

pub async fn list(r: ApiRequest) -> ApiResult {
    let node = r.node()?.to_string();
    let kind = r.kind();
    let cluster = r.emulator.cluster();
    Ok(Value::Array(
        cluster
            .guests
            .values()
            .filter(|g| g.node == node && g.kind == kind)
            .map(|g| {
                let mut row = json!({
                    "vmid": g.vmid, "name": g.name().unwrap_or(""), "status": if g.running { "running" } else { "stopped" },
                    "cpus": g.cpus(), "maxmem": g.max_mem(), "maxdisk": g.max_disk(), "uptime": g.started_at.map(|s| now() - s).unwrap_or(0),
                    "cpu": 0, "mem": 0, "disk": 0, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0, "type": kind.as_str(),
                });
                if g.is_template() {
                    row["template"] = json!(1);
                }
                if let Some(tags) = g.config.get("tags") {
                    row["tags"] = json!(tags);
                }
                if let Some(lock) = g.lock() {
                    row["lock"] = json!(lock);
                }
                row
            })
            .collect(),
    ))
}

pub async fn create(r: ApiRequest) -> ApiResult {
    let node = r.node()?.to_string();
    let kind = r.kind();
    let vmid = r.u64("vmid")?;
    let restore_from = match kind {
        GuestKind::Qemu => r.param("archive").map(str::to_string),
        GuestKind::Lxc => r.flag("restore").then(|| r.param("ostemplate").unwrap_or("").to_string()),
    };
    let mut config: Config = Config::new();
    {
        let mut cluster = r.emulator.cluster();
        if let Some(existing) = cluster.guests.get(&vmid) {
            let overwritable = restore_from.is_some() && r.flag("force") && existing.node == node && existing.kind == kind;
            if !overwritable {
                return Err(PveError::server(format!(
                    "unable to create {} {vmid} - {} {vmid} already exists on node '{}'",
                    kind_word(kind),
                    kind_word(kind),
                    existing.node
                )));
            }
            if existing.running {
                return Err(PveError::server(format!("unable to restore {} {vmid} - {} is running", kind_word(kind), kind_word(kind))));
            }
            if let Some(e) = locked(existing) {
                return Err(e);
            }
        }
        if let Some(archive) = &restore_from {
            let volume =
                cluster.find_volume(&node, archive).ok_or_else(|| PveError::server(format!("volume '{archive}' does not exist")))?;
            if volume.content != "backup" {
                return Err(PveError::server(format!("volume '{archive}' is not a backup archive")));
            }
            if volume.archived_kind.is_some_and(|k| k != kind) {
                return Err(PveError::server(format!("archive '{archive}' is not a {} backup", kind.as_str())));
            }
            config = volume.archived_config.clone().unwrap_or_default();
            // Restored disks are allocated anew, on --storage if given.
            for key in disk_keys(kind, &config) {
                let Ok(disk) = PropertyString::parse(&config[&key], Some(default_key(kind))) else {
                    continue;
                };
                let file = disk.get(default_key(kind)).unwrap_or("");
                let storage =
                    r.param("storage").map(str::to_string).unwrap_or_else(|| file.split(':').next().unwrap_or("local-lvm").to_string());
                let gib = disk.get("size").and_then(|s| pve_api::size::parse_size(s).ok()).unwrap_or(4 << 30) as f64 / (1u64 << 30) as f64;
                let fresh = if file.ends_with("cloudinit") { format!("{storage}:cloudinit") } else { format!("{storage}:{gib}") };
                let mut rebuilt = disk.clone();
                rebuilt.set(default_key(kind), fresh);
                rebuilt.remove("size");
                config.insert(key, rebuilt.to_string_with_default(default_key(kind)));
            }
            // MACs stay unless `unique` asks for new ones.
            if r.flag("unique") {
                // New MACs: drop the archived ones, prepare_nics generates fresh ones.
                for key in config.keys().filter(|k| k.starts_with("net")).cloned().collect::<Vec<_>>() {
                    let Ok(mut nic) = PropertyString::parse(&config[&key], if kind == GuestKind::Qemu { Some("model") } else { None })
                    else {
                        continue;
                    };
                    let model = nic.keys().find(|k| MODELS.contains(k)).map(str::to_string);
                    if let Some(model) = model {
                        nic.remove(&model);
                        nic.set("model", model);
                    }
                    nic.remove("macaddr");
                    nic.remove("hwaddr");
                    config.insert(key, nic.to_string());
                }
            }
        } else if kind == GuestKind::Lxc {
            let template = r.required("ostemplate")?;
            let volume =
                cluster.find_volume(&node, template).ok_or_else(|| PveError::server(format!("volume '{template}' does not exist")))?;
            if volume.content != "vztmpl" && volume.content != "backup" {
                return Err(PveError::server(format!("volume '{template}' is not a container template")));
            }
            config.insert("ostype".into(), "ubuntu".into());
            config.insert("arch".into(), "amd64".into());
        }
        for (key, value) in &r.params {
            if CREATE_ONLY.contains(&key.as_str()) {
                continue;
            }
            if let Some(stored) = store_value(kind, key, value)? {
                config.insert(key.clone(), stored);
            }
        }
        if kind == GuestKind::Lxc {
            config.entry("rootfs".into()).or_insert_with(|| format!("{}:4", r.param("storage").unwrap_or("local-lvm")));
            config.entry("hostname".into()).or_insert_with(|| format!("CT{vmid}"));
            if r.param("password").is_some() || r.param("ssh-public-keys").is_some() {
                // Credentials go into the container's filesystem, not its config.
            }
        } else {
            config.entry("smbios1".into()).or_insert_with(|| format!("uuid={}", uuid_for(vmid)));
            config.entry("vmgenid".into()).or_insert_with(|| uuid_for(vmid ^ 0xfeed));
            config.entry("meta".into()).or_insert_with(|| format!("creation-qemu=9.2.0,ctime={}", now()));
        }
        if let Some(pool) = r.param("pool")
            && !cluster.pools.contains_key(pool)
        {
            return Err(PveError::server(format!("pool '{pool}' does not exist")));
        }
        if let Some(cicustom) = config.get("cicustom") {
            check_cicustom(&cluster, &node, cicustom)?;
        }
        if let Some(hookscript) = config.get("hookscript") {
            check_hookscript(&cluster, &node, hookscript)?;
        }
        let previous = cluster.guests.get(&vmid).map(|g| g.config.clone()).unwrap_or_default();
        prepare_nics(&mut cluster, kind, &node, &mut config, &previous)?;
        if let Some(old) = cluster.guests.remove(&vmid) {
            for (_, volid) in old.disks() {
                cluster.remove_volume(&volid);
            }
        }
        let keys = disk_keys(kind, &config);
        if let Err(e) = allocate_disks(&mut cluster, kind, &node, vmid, &mut config, &keys) {
            cluster.volumes.retain(|v| v.vmid != Some(vmid) || v.content == "backup");
            return Err(e);
        }
        config.insert("lock".into(), "create".into());
        if let Some(pool) = r.param("pool")
            && let Some(p) = cluster.pools.get_mut(pool)
        {
            p.vms.push(vmid);
        }
        cluster.guests.insert(vmid, Guest::new(vmid, node.clone(), kind, config));
    }
    // From here on the config's `lock: create` keeps others out, as in PVE.
    let start = r.flag("start");
    let task_type = match (kind, restore_from.is_some()) {
        (GuestKind::Qemu, false) => "qmcreate",
        (GuestKind::Qemu, true) => "qmrestore",
        (GuestKind::Lxc, false) => "vzcreate",
        (GuestKind::Lxc, true) => "vzrestore",
    };
    let upid = r.emulator.spawn_task(
        &node,
        task_type,
        &vmid.to_string(),
        &r.user,
        if restore_from.is_some() { 3 } else { 1 },
        Vec::new(),
        Box::new(move |cluster, log, fail| {
            if fail {
                cluster.forget_guest(vmid);
                return Err(format!("unable to create {} {vmid} - injected task failure", kind_word(kind)));
            }
            let guest = cluster.guests.get_mut(&vmid).ok_or("guest vanished during create")?;
            guest.config.remove("lock");
            log.push(format!("{} {vmid} created", kind_word(kind)));
            if start {
                guest.running = true;
                guest.started_at = Some(now());
                log.push(format!("starting {} {vmid}", kind_word(kind)));
            }
            Ok(())
        }),
    );
    Ok(json!(upid.to_string()))
}

fn uuid_for(seed: u64) -> String {
    let hex = format!("{:032x}", (seed as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835));
    format!("{}-{}-4{}-8{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
}

/// The config as GET returns it: schema-typed values, secrets masked, `digest` added.
fn config_json(kind: GuestKind, guest: &Guest, config: &Config) -> Value {
    let key = format!("GET /nodes/{{node}}/{}/{{vmid}}/config", kind.as_str());
    let properties = SCHEMA.methods().find(|m| m.key() == key).and_then(|m| m.returns["properties"].as_object().cloned());
    let mut out = serde_json::Map::new();
    for (k, v) in config {
        let value = if k == "cipassword" { json!("**********") } else { typed_value(properties.as_ref(), k, v) };
        out.insert(k.clone(), value);
    }
    out.insert("digest".into(), json!(guest.digest()));
    Value::Object(out)
}

pub async fn get_config(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let kind = r.kind();
    if let Some(snapname) = r.param("snapshot") {
        let snap = guest.snapshots.get(snapname).ok_or_else(|| PveError::server(format!("snapshot '{snapname}' does not exist")))?;
        return Ok(config_json(kind, &guest, &snap.config));
    }
    let mut config = guest.config.clone();
    if !r.flag("current") {
        config.extend(guest.pending.clone());
        for key in &guest.pending_delete {
            config.remove(key);
        }
    }
    Ok(config_json(kind, &guest, &config))
}

pub async fn pending(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let properties = SCHEMA
        .methods()
        .find(|m| m.key() == format!("GET /nodes/{{node}}/{}/{{vmid}}/config", guest.kind.as_str()))
        .and_then(|m| m.returns["properties"].as_object().cloned());
    let mut keys: Vec<&String> = guest.config.keys().chain(guest.pending.keys()).chain(guest.pending_delete.iter()).collect();
    keys.sort();
    keys.dedup();
    Ok(Value::Array(
        keys.into_iter()
            .map(|k| {
                let mut row = json!({ "key": k });
                if let Some(v) = guest.config.get(k) {
                    row["value"] = typed_value(properties.as_ref(), k, v);
                }
                if let Some(v) = guest.pending.get(k) {
                    row["pending"] = typed_value(properties.as_ref(), k, v);
                }
                if guest.pending_delete.contains(k) {
                    row["delete"] = json!(1);
                }
                row
            })
            .collect(),
    ))
}

/// Keys a running guest takes at once; everything else waits in `pending` for a restart.
fn hotpluggable(kind: GuestKind, key: &str) -> bool {
    let prefix = key.trim_end_matches(|c: char| c.is_ascii_digit());
    let always = matches!(
        key,
        "name"
            | "hostname"
            | "description"
            | "tags"
            | "onboot"
            | "protection"
            | "startup"
            | "lock"
            | "ciuser"
            | "cipassword"
            | "sshkeys"
            | "nameserver"
            | "searchdomain"
            | "cicustom"
            | "citype"
            | "ciupgrade"
            | "hookscript"
    ) || prefix == "ipconfig"
        || prefix == "unused";
    match kind {
        GuestKind::Qemu => always || is_disk_key(kind, key) || prefix == "net" || prefix == "usb",
        GuestKind::Lxc => {
            always || matches!(key, "memory" | "swap" | "cores" | "cpulimit" | "cpuunits") || prefix == "net" || prefix == "mp"
        }
    }
}

pub async fn update_config(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let kind = guest.kind;
    let vmid = guest.vmid;
    let node = guest.node.clone();
    let _guard = r.emulator.flock(kind, vmid).await?;
    {
        let mut cluster = r.emulator.cluster();
        let guest = cluster.guests.get(&vmid).filter(|g| g.node == node).ok_or_else(|| not_found(kind, &node, vmid))?.clone();
        check_writable(&r, &guest)?;
        let mut config = guest.config.clone();
        let mut pending = guest.pending.clone();
        let mut pending_delete = guest.pending_delete.clone();
        let deletes: Vec<String> =
            r.param("delete").map(|d| pve_api::tags::split_tag_list(d).map(str::to_string).collect()).unwrap_or_default();
        let reverts: Vec<String> =
            r.param("revert").map(|d| pve_api::tags::split_tag_list(d).map(str::to_string).collect()).unwrap_or_default();
        for key in &reverts {
            pending.remove(key);
            pending_delete.retain(|k| k != key);
        }
        for key in &deletes {
            if r.params.contains_key(key) {
                return Err(PveError::param(key, "you can't modify and delete the same option at the same time"));
            }
            if kind == GuestKind::Lxc && key == "rootfs" {
                return Err(PveError::param("delete", "unable to delete required option 'rootfs'"));
            }
            if guest.running && !hotpluggable(kind, key) {
                if !pending_delete.contains(key) {
                    pending_delete.push(key.clone());
                }
                continue;
            }
            let Some(old) = config.remove(key) else {
                continue;
            };
            if is_disk_key(kind, key) {
                // A detached disk becomes `unusedN`, as in PVE; deleting `unusedN` destroys it.
                let volid =
                    PropertyString::parse(&old, Some(default_key(kind))).ok().and_then(|p| p.get(default_key(kind)).map(str::to_string));
                match volid {
                    Some(volid) if !volid.ends_with("cloudinit") && volid.contains(':') => {
                        let slot = (0..).find(|n| !config.contains_key(&format!("unused{n}"))).unwrap_or(0);
                        config.insert(format!("unused{slot}"), volid);
                    }
                    Some(volid) => cluster.remove_volume(&volid),
                    None => {}
                }
            } else if key.starts_with("unused") {
                cluster.remove_volume(&old);
            }
        }
        let mut changed: Vec<String> = Vec::new();
        let mut updates = Config::new();
        for (key, value) in &r.params {
            if UPDATE_ONLY.contains(&key.as_str()) {
                continue;
            }
            if let Some(stored) = store_value(kind, key, value)? {
                updates.insert(key.clone(), stored);
                changed.push(key.clone());
            }
        }
        // Existing disks keep their volume and size: size changes go through resize.
        let mut new_disks = Vec::new();
        for key in changed.iter().filter(|k| is_disk_key(kind, k)) {
            let new = PropertyString::parse(&updates[key], Some(default_key(kind)))
                .map_err(|e| PveError::param(key, format!("invalid format - {e}")))?;
            let new_file = new.get(default_key(kind)).unwrap_or("").to_string();
            match config.get(key).and_then(|old| PropertyString::parse(old, Some(default_key(kind))).ok()) {
                Some(old) if old.get(default_key(kind)) == Some(new_file.as_str()) => {
                    let mut merged = new.clone();
                    if let Some(size) = old.get("size") {
                        merged.set("size", size);
                    }
                    updates.insert(key.clone(), merged.to_string_with_default(default_key(kind)));
                }
                _ => new_disks.push(key.clone()),
            }
        }
        if let Some(cicustom) = updates.get("cicustom") {
            check_cicustom(&cluster, &node, cicustom)?;
        }
        if let Some(hookscript) = updates.get("hookscript") {
            check_hookscript(&cluster, &node, hookscript)?;
        }
        let mut staged = config.clone();
        staged.extend(updates.clone());
        allocate_disks(&mut cluster, kind, &node, vmid, &mut staged, &new_disks)?;
        for key in &new_disks {
            updates.insert(key.clone(), staged[key].clone());
        }
        let mut nic_view: Config = updates.iter().filter(|(k, _)| k.starts_with("net")).map(|(k, v)| (k.clone(), v.clone())).collect();
        prepare_nics(&mut cluster, kind, &node, &mut nic_view, &config)?;
        updates.extend(nic_view);
        for (key, value) in updates {
            if guest.running && !hotpluggable(kind, &key) {
                pending.insert(key, value);
            } else {
                pending.remove(&key);
                config.insert(key, value);
            }
        }
        let entry = cluster.guests.get_mut(&vmid).expect("present under lock");
        entry.config = config;
        entry.pending = pending;
        entry.pending_delete = pending_delete;
    }
    if r.key.starts_with("POST") {
        let upid = r.emulator.spawn_task(&node, "qmconfig", &vmid.to_string(), &r.user, 1, Vec::new(), Box::new(|_, _, _| Ok(())));
        return Ok(json!(upid.to_string()));
    }
    Ok(Value::Null)
}

pub async fn destroy(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let (kind, vmid, node) = (guest.kind, guest.vmid, guest.node.clone());
    let guard = r.emulator.flock(kind, vmid).await?;
    let purge = r.flag("purge");
    {
        let cluster = r.emulator.cluster();
        let guest = cluster.guests.get(&vmid).ok_or_else(|| not_found(kind, &node, vmid))?;
        if !r.flag("skiplock")
            && let Some(e) = locked(guest)
        {
            return Err(e);
        }
        if guest.config.get("protection").is_some_and(|p| p == "1") {
            return Err(PveError::server(format!("can't remove {} {vmid} - protection mode enabled", kind_word(kind))));
        }
        if guest.running {
            return Err(PveError::server(format!("{} {vmid} is running - destroy failed", kind_word(kind))));
        }
        if !purge && cluster.ha_resources.keys().any(|sid| sid.ends_with(&format!(":{vmid}"))) {
            return Err(PveError::server(format!(
                "unable to remove {} {vmid} - used in HA resources and purge parameter not set.",
                kind_word(kind)
            )));
        }
        let base = format!("base-{vmid}-disk");
        if let Some(user) = cluster
            .guests
            .values()
            .find(|g| g.vmid != vmid && g.config.values().any(|v| v.contains(&format!("{base}-")) && v.contains('/')))
        {
            return Err(PveError::server(format!(
                "base volume of {} {vmid} is still in use by linked clone {}",
                kind_word(kind),
                user.vmid
            )));
        }
    }
    r.emulator.cluster().guests.get_mut(&vmid).map(|g| g.config.insert("lock".into(), "destroyed".into()));
    let upid = r.emulator.spawn_task(
        &node,
        &format!("{}destroy", task_prefix(kind)),
        &vmid.to_string(),
        &r.user,
        1,
        vec![guard],
        Box::new(move |cluster, log, fail| {
            if fail {
                if let Some(g) = cluster.guests.get_mut(&vmid) {
                    g.config.remove("lock");
                }
                return Err("injected task failure".into());
            }
            if let Some(guest) = cluster.guests.remove(&vmid) {
                for (_, volid) in guest.disks() {
                    log.push(format!("Removing image: {volid}"));
                    cluster.remove_volume(&volid);
                }
            }
            cluster.volumes.retain(|v| v.vmid != Some(vmid) || v.content == "backup");
            for pool in cluster.pools.values_mut() {
                pool.vms.retain(|v| *v != vmid);
            }
            if purge {
                cluster.ha_resources.retain(|sid, _| !sid.ends_with(&format!(":{vmid}")));
                for job in cluster.backup_jobs.values_mut() {
                    if let Some(list) = job.get("vmid").cloned() {
                        let kept: Vec<&str> = list.split(',').filter(|v| *v != vmid.to_string()).collect();
                        job.insert("vmid".into(), kept.join(","));
                    }
                }
                log.push(format!("purging {} {vmid} from related configurations", kind_word(kind)));
            }
            Ok(())
        }),
    );
    Ok(json!(upid.to_string()))
}

pub async fn clone(r: ApiRequest) -> ApiResult {
    let source = r.guest()?;
    let (kind, vmid, node) = (source.kind, source.vmid, source.node.clone());
    let newid = r.u64("newid")?;
    let target = r.param("target").unwrap_or(&node).to_string();
    let full = r.param("full").map(|f| f == "1").unwrap_or(!source.is_template());
    if !full && !source.is_template() {
        let (key, volid) = source.disks().into_iter().next().unwrap_or_default();
        return Err(PveError::server(format!("Linked clone feature is not supported for '{volid}' ({key})")));
    }
    if r.param("storage").is_some() && !full {
        return Err(PveError::param("storage", "parameter 'storage' not allowed for linked clones"));
    }
    if r.param("format").is_some() && !full {
        return Err(PveError::param("format", "parameter 'format' not allowed for linked clones"));
    }
    // Wait for the source's config lock the way PVE does (10 s, then "got timeout").
    let source_guard = r.emulator.flock(kind, vmid).await?;
    {
        let mut cluster = r.emulator.cluster();
        if cluster.node(&target).is_none() {
            return Err(PveError::server(format!("no such cluster node '{target}'")));
        }
        let source = cluster.guests.get(&vmid).ok_or_else(|| not_found(kind, &node, vmid))?.clone();
        if let Some(e) = locked(&source) {
            return Err(e);
        }
        if cluster.guests.contains_key(&newid) {
            return Err(PveError::server(format!("unable to create {} {newid}: config file already exists", kind_word(kind))));
        }
        let storage_override = r.param("storage").map(str::to_string);
        if let Some(s) = &storage_override
            && cluster.storage(s).is_none()
        {
            return Err(PveError::server(format!("storage '{s}' does not exist")));
        }
        let all_shared = source.disks().iter().all(|(_, volid)| {
            let storage = storage_override.clone().unwrap_or_else(|| volid.split(':').next().unwrap_or("").to_string());
            cluster.storage(&storage).is_some_and(|s| s.shared)
        });
        if target != node && !all_shared {
            return Err(PveError::server(format!(
                "can't clone {} to node '{target}' ({} uses local storage)",
                kind_word(kind),
                kind_word(kind)
            )));
        }
        if let Some(pool) = r.param("pool")
            && !cluster.pools.contains_key(pool)
        {
            return Err(PveError::server(format!("pool '{pool}' does not exist")));
        }
        let mut config = source.config.clone();
        for key in ["template", "lock", "parent"] {
            config.remove(key);
        }
        config.retain(|k, _| !k.starts_with("unused"));
        match kind {
            GuestKind::Qemu => {
                config.insert(
                    "name".into(),
                    r.param("name").map(str::to_string).unwrap_or_else(|| format!("Copy-of-VM-{}", source.name().unwrap_or("vm"))),
                );
                config.insert("smbios1".into(), format!("uuid={}", uuid_for(newid)));
                config.insert("vmgenid".into(), uuid_for(newid ^ 0xfeed));
            }
            GuestKind::Lxc => {
                if let Some(hostname) = r.param("hostname") {
                    config.insert("hostname".into(), hostname.to_string());
                }
            }
        }
        if let Some(description) = r.param("description") {
            config.insert("description".into(), description.to_string());
        }
        // New MACs for every NIC.
        for key in config.keys().filter(|k| k.starts_with("net")).cloned().collect::<Vec<_>>() {
            let mut nic =
                PropertyString::parse(&config[&key], if kind == GuestKind::Qemu { Some("model") } else { None }).unwrap_or_default();
            let mac = cluster.new_mac();
            match kind {
                GuestKind::Qemu => {
                    let model = nic.keys().find(|k| MODELS.contains(k)).map(str::to_string);
                    if let Some(model) = model {
                        nic.set(model, mac);
                    }
                }
                GuestKind::Lxc => {
                    nic.set("hwaddr", mac);
                }
            }
            config.insert(key, nic.to_string());
        }
        // Disks: linked clones reference the base volume; full clones get copies.
        for (key, volid) in source.disks() {
            let mut disk = PropertyString::parse(&config[&key], Some(default_key(kind))).unwrap_or_default();
            let storage = volid.split(':').next().unwrap_or("local-lvm").to_string();
            let size = cluster.find_volume(&node, &volid).map(|v| v.size).unwrap_or(4 << 20);
            let (new_storage, new_volid) = if volid.ends_with("-cloudinit") {
                (storage.clone(), format!("{storage}:vm-{newid}-cloudinit"))
            } else if full {
                let s = storage_override.clone().unwrap_or(storage.clone());
                let name = cluster.new_disk_name(&s, newid, "vm");
                (s, name)
            } else {
                let base = volid.split(':').nth(1).unwrap_or("");
                let name = cluster.new_disk_name(&storage, newid, "vm");
                (storage.clone(), format!("{storage}:{base}/{}", name.split(':').nth(1).unwrap_or("")))
            };
            let def = cluster.storage(&new_storage).cloned();
            cluster.volumes.push(Volume {
                storage: new_storage.clone(),
                node: if def.as_ref().is_some_and(|d| d.shared) { None } else { Some(target.clone()) },
                volid: new_volid.clone(),
                content: if kind == GuestKind::Qemu { "images".into() } else { "rootdir".into() },
                format: r.param("format").unwrap_or("raw").to_string(),
                size,
                ctime: now(),
                vmid: Some(newid),
                linked_base: (!full && !volid.ends_with("-cloudinit")).then(|| volid.clone()),
                ..Default::default()
            });
            disk.set(default_key(kind), new_volid);
            config.insert(key, disk.to_string_with_default(default_key(kind)));
        }
        config.insert("lock".into(), "clone".into());
        if let Some(pool) = r.param("pool")
            && let Some(p) = cluster.pools.get_mut(pool)
        {
            p.vms.push(newid);
        }
        cluster.guests.insert(newid, Guest::new(newid, target.clone(), kind, config));
    }
    let upid = r.emulator.spawn_task(
        &node,
        &format!("{}clone", task_prefix(kind)),
        &vmid.to_string(),
        &r.user,
        if full { 3 } else { 1 },
        // The source stays flock'ed for the copy; the new guest carries `lock: clone`.
        vec![source_guard],
        Box::new(move |cluster, log, fail| {
            log.push(format!("create {} clone of drive(s) from {vmid} to {newid}", if full { "full" } else { "linked" }));
            if fail {
                // PVE removes the half-made clone when the copy fails.
                cluster.forget_guest(newid);
                return Err(format!("clone failed: injected task failure (VM {newid} removed)"));
            }
            let guest = cluster.guests.get_mut(&newid).ok_or("clone target vanished")?;
            guest.config.remove("lock");
            Ok(())
        }),
    );
    Ok(json!(upid.to_string()))
}

pub async fn template(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let (kind, vmid, node) = (guest.kind, guest.vmid, guest.node.clone());
    let _guard = r.emulator.flock(kind, vmid).await?;
    let mut cluster = r.emulator.cluster();
    let guest = cluster.guests.get(&vmid).ok_or_else(|| not_found(kind, &node, vmid))?.clone();
    if let Some(e) = locked(&guest) {
        return Err(e);
    }
    if guest.running {
        return Err(PveError::server(format!(
            "you can't convert a {} to template if it is running",
            if kind == GuestKind::Qemu { "VM" } else { "CT" }
        )));
    }
    if guest.is_template() {
        return Err(PveError::server(format!("{} {vmid} is already a template", kind_word(kind))));
    }
    let mut config = guest.config.clone();
    for (key, volid) in guest.disks() {
        if volid.ends_with("-cloudinit") || volid.contains('/') {
            continue;
        }
        let renamed = volid.replace(&format!(":vm-{vmid}-"), &format!(":base-{vmid}-"));
        for volume in cluster.volumes.iter_mut().filter(|v| v.volid == volid) {
            volume.volid = renamed.clone();
        }
        config.insert(key.clone(), config[&key].replace(&volid, &renamed));
    }
    config.insert("template".into(), "1".into());
    cluster.guests.get_mut(&vmid).expect("present").config = config;
    drop(cluster);
    if kind == GuestKind::Lxc {
        return Ok(Value::Null);
    }
    let upid = r.emulator.spawn_task(&node, "qmtemplate", &vmid.to_string(), &r.user, 1, Vec::new(), Box::new(|_, _, _| Ok(())));
    Ok(json!(upid.to_string()))
}

pub async fn resize(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let (kind, vmid, node) = (guest.kind, guest.vmid, guest.node.clone());
    let disk_key = r.required("disk")?.to_string();
    let size_text = r.required("size")?.to_string();
    let guard = r.emulator.flock(kind, vmid).await?;
    {
        let mut cluster = r.emulator.cluster();
        let guest = cluster.guests.get(&vmid).ok_or_else(|| not_found(kind, &node, vmid))?.clone();
        check_writable(&r, &guest)?;
        let value = guest.config.get(&disk_key).ok_or_else(|| PveError::server(format!("disk '{disk_key}' does not exist")))?;
        let mut disk = PropertyString::parse(value, Some(default_key(kind))).map_err(|e| PveError::server(e.to_string()))?;
        let volid = disk.get(default_key(kind)).unwrap_or("").to_string();
        if disk.get("media") == Some("cdrom") {
            return Err(PveError::server("you can't resize a cdrom"));
        }
        let current = cluster
            .find_volume(&node, &volid)
            .map(|v| v.size)
            .or_else(|| disk.get("size").and_then(|s| pve_api::size::parse_size(s).ok()))
            .unwrap_or(0);
        let (relative, number) = match size_text.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, size_text.as_str()),
        };
        let amount = pve_api::size::parse_size(number).map_err(|_| PveError::param("size", "value does not match the regex pattern"))?;
        let new_size = if relative { current + amount } else { amount };
        if new_size < current {
            return Err(PveError::server("shrinking disks is not supported"));
        }
        disk.set("size", pve_api::size::format_size(new_size));
        for volume in cluster.volumes.iter_mut().filter(|v| v.volid == volid) {
            volume.size = new_size;
        }
        cluster.guests.get_mut(&vmid).expect("present").config.insert(disk_key.clone(), disk.to_string_with_default(default_key(kind)));
    }
    let upid = r.emulator.spawn_task(
        &node,
        &format!("{}resize", task_prefix(kind)),
        &vmid.to_string(),
        &r.user,
        1,
        vec![guard],
        Box::new(|_, _, _| Ok(())),
    );
    Ok(json!(upid.to_string()))
}

pub async fn current_status(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let cluster = r.emulator.cluster();
    let managed = cluster.ha_resources.keys().any(|sid| sid.ends_with(&format!(":{}", guest.vmid)));
    let mut status = json!({
        "vmid": guest.vmid, "name": guest.name().unwrap_or(""), "status": if guest.running { "running" } else { "stopped" },
        "cpus": guest.cpus(), "maxmem": guest.max_mem(), "mem": if guest.running { guest.max_mem() / 3 } else { 0 }, "maxdisk": guest.max_disk(),
        "disk": 0, "cpu": 0, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
        "uptime": guest.started_at.map(|s| now() - s).unwrap_or(0), "ha": { "managed": u8::from(managed) },
    });
    if guest.kind == GuestKind::Qemu {
        status["qmpstatus"] = json!(if guest.running { "running" } else { "stopped" });
        if guest.config.get("agent").is_some_and(|a| a.starts_with('1') || a.contains("enabled=1")) {
            status["agent"] = json!(1);
        }
    }
    if guest.is_template() {
        status["template"] = json!(1);
    }
    if let Some(lock) = guest.lock() {
        status["lock"] = json!(lock);
    }
    if let Some(tags) = guest.config.get("tags") {
        status["tags"] = json!(tags);
    }
    Ok(status)
}

pub async fn power(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let (kind, vmid, node) = (guest.kind, guest.vmid, guest.node.clone());
    let action = r.key.rsplit('/').next().unwrap_or("start").to_string();
    let guard = r.emulator.flock(kind, vmid).await?;
    {
        let cluster = r.emulator.cluster();
        let guest = cluster.guests.get(&vmid).ok_or_else(|| not_found(kind, &node, vmid))?;
        if !r.flag("skiplock")
            && let Some(e) = locked(guest)
        {
            return Err(e);
        }
    }
    let task_type = format!("{}{action}", task_prefix(kind));
    let upid = r.emulator.spawn_task(
        &node,
        &task_type,
        &vmid.to_string(),
        &r.user,
        1,
        vec![guard],
        Box::new(move |cluster, log, fail| {
            if fail {
                return Err(format!("{action} failed: injected task failure"));
            }
            let guest = cluster.guests.get_mut(&vmid).ok_or("guest vanished")?;
            // PVE answers these with a UPID and fails inside the task.
            let word = kind_word(kind);
            match action.as_str() {
                "start" if guest.is_template() => return Err(format!("you can't start a {} if it's a template", word.to_lowercase())),
                "start" if guest.running => return Err(format!("{word} {vmid} already running")),
                "stop" | "shutdown" | "reboot" | "reset" | "suspend" if !guest.running => return Err(format!("{word} {vmid} not running")),
                _ => {}
            }
            let apply_pending = |g: &mut Guest| {
                let pending = std::mem::take(&mut g.pending);
                g.config.extend(pending);
                for key in std::mem::take(&mut g.pending_delete) {
                    g.config.remove(&key);
                }
            };
            match action.as_str() {
                "start" | "resume" => {
                    apply_pending(guest);
                    guest.running = true;
                    guest.started_at.get_or_insert(now());
                }
                "stop" | "shutdown" => {
                    guest.running = false;
                    guest.started_at = None;
                    apply_pending(guest);
                }
                "reboot" | "reset" => {
                    apply_pending(guest);
                    guest.started_at = Some(now());
                }
                _ => {}
            }
            log.push(format!("{action} {vmid}: OK"));
            Ok(())
        }),
    );
    Ok(json!(upid.to_string()))
}

/// Whether the guest's QEMU agent would answer, with PVE's checks in its order: an `agent` line
/// at all, a running VM, then the agent itself (here: answering when enabled, silent when not).
fn agent_ready(guest: &Guest) -> Result<(), PveError> {
    let Some(agent) = guest.config.get("agent") else {
        return Err(PveError::server("No QEMU guest agent configured"));
    };
    if !guest.running {
        return Err(PveError::server(format!("VM {} is not running", guest.vmid)));
    }
    if !(agent.starts_with('1') || agent.contains("enabled=1")) {
        return Err(PveError::server("QEMU guest agent is not running"));
    }
    Ok(())
}

pub async fn agent_ping(r: ApiRequest) -> ApiResult {
    agent_ready(&r.guest()?)?;
    Ok(json!({ "result": {} }))
}

/// What the agent reports: loopback, and per NIC its MAC and the address cloud-init set
/// (`ipconfigN`). A DHCP NIC gets an address from 127.100.0.0/16 (by VMID), so tools that follow
/// agent addresses stay on this machine.
pub async fn agent_interfaces(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    agent_ready(&guest)?;
    let mut interfaces = vec![
        json!({ "name": "lo", "hardware-address": "00:00:00:00:00:00", "ip-addresses": [{ "ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8 }] }),
    ];
    for n in 0..32 {
        let Some(net) = guest.config.get(&format!("net{n}")) else { continue };
        let mac = net.split(',').next().and_then(|m| m.split_once('=')).map(|(_, mac)| mac.to_string()).unwrap_or_default();
        let ip =
            guest.config.get(&format!("ipconfig{n}")).and_then(|c| c.split(',').find_map(|p| p.strip_prefix("ip=")).map(str::to_string));
        let (address, prefix) = match ip.as_deref() {
            Some(ip) if ip != "dhcp" && ip != "manual" => {
                let (a, p) = ip.split_once('/').unwrap_or((ip, "24"));
                (a.to_string(), p.parse::<u8>().unwrap_or(24))
            }
            _ => (format!("127.100.{}.{}", (guest.vmid >> 8) & 0xff, guest.vmid & 0xff), 16),
        };
        interfaces.push(json!({
            "name": format!("eth{n}"), "hardware-address": mac.to_lowercase(),
            "ip-addresses": [{ "ip-address": address, "ip-address-type": "ipv4", "prefix": prefix }],
        }));
    }
    Ok(json!({ "result": interfaces }))
}
