//! QEMU and LXC guests: create/restore, config updates with digest and pending changes, clone,
//! template conversion, resize, power actions and destroy. Each operation checks and changes the
//! cluster at once, under the guest's config lock, and leaves the rest to a task.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use pve_api::{GuestKind, PropertyString, Upid};

use super::{
    Cluster, Config, CopyMode, DiskCopy, Guest, Volume, is_disk_key, kind_word, new_data_marker, next_unused_key, not_found, storage_of,
    volume_key,
};
use crate::error::PveError;
use crate::locks::LockMode;
use crate::state::{Emulator, now};

pub(super) fn task_prefix(kind: GuestKind) -> &'static str {
    if kind == GuestKind::Qemu { "qm" } else { "vz" }
}

/// QEMU and LXC word a digest mismatch differently.
fn digest_mismatch(kind: GuestKind) -> PveError {
    PveError::server(match kind {
        GuestKind::Qemu => "checksum mismatch (file change by other user?)",
        GuestKind::Lxc => "detected modified configuration - file changed by other user? Try again.",
    })
}

/// What a config change asks of the guest's config: `skiplock` and, if given, its `digest`.
pub struct WriteCheck {
    pub skiplock: bool,
    pub digest: Option<String>,
}

impl WriteCheck {
    /// A config change needs the guest unlocked (or `skiplock`) and, if given, a matching digest.
    fn check(&self, guest: &Guest) -> Result<(), PveError> {
        if !self.skiplock
            && let Some(e) = guest.locked_error()
        {
            return Err(e);
        }
        match &self.digest {
            Some(digest) if *digest != guest.digest() => Err(digest_mismatch(guest.kind)),
            _ => Ok(()),
        }
    }
}

/// Hashes a cloud-init password the way PVE stores it (never the clear text).
fn hash_password(password: &str) -> String {
    use sha2::Digest;
    format!("$5${}", hex::encode(sha2::Sha256::digest(password.as_bytes())))
}

/// Turns request values into stored config values: tags normalised, passwords hashed.
fn store_value(kind: GuestKind, key: &str, value: &str) -> Result<Option<String>, PveError> {
    Ok(Some(match key {
        "tags" => pve_api::tags::normalize_list(value).map_err(|e| PveError::param("tags", e.to_string()))?,
        "cipassword" if kind == GuestKind::Qemu => hash_password(value),
        "sshkeys" => value.to_string(),
        _ => value.to_string(),
    }))
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

/// The storages a config change allocates on (`STORAGE:SIZE`, `STORAGE:cloudinit`) or frees
/// from (deleted `unusedN` and cloud-init drives), in order, each once.
fn storages_touched(kind: GuestKind, update: &ConfigUpdate, current: &Config) -> Vec<String> {
    let volume_of =
        |value: &str| PropertyString::parse(value, Some(volume_key(kind))).ok().and_then(|d| d.get(volume_key(kind)).map(str::to_string));
    let mut storages = Vec::new();
    for (key, value) in &update.settings {
        if !is_disk_key(kind, key) {
            continue;
        }
        if let Some((storage, rest)) = volume_of(value).as_deref().and_then(|f| f.split_once(':'))
            && (rest == "cloudinit" || (!rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.')))
        {
            storages.push(storage.to_string());
        }
    }
    for key in &update.delete {
        let Some(value) = current.get(key) else { continue };
        let freed = key.starts_with("unused")
            || volume_of(value).is_some_and(|v| v.ends_with("-cloudinit"))
            || (update.force && is_disk_key(kind, key) && !value.contains("media=cdrom"));
        if freed && let Some((storage, _)) = volume_of(value).as_deref().and_then(|f| f.split_once(':')) {
            storages.push(storage.to_string());
        }
    }
    let mut seen = BTreeSet::new();
    storages.retain(|s| seen.insert(s.clone()));
    storages
}

/// qemu-server `PVE::QemuServer::Drive::TPMSTATE_DISK_SIZE`.
const TPMSTATE_DISK_SIZE: u64 = 4 << 20;

/// The size of the OVMF vars file an EFI disk is made from (qemu-server
/// `OVMF::get_efivars_size`): `OVMF_VARS_4M*.fd` for `efitype=4m`, the legacy 128 KiB
/// `OVMF_VARS.fd` for `2m` (the default when unset).
fn efivars_size(disk: &PropertyString) -> u64 {
    if disk.get("efitype") == Some("4m") { 540_672 } else { 131_072 }
}

/// The content type pve-storage's `parse_volname` gives a volume name (`import/…`, `iso/…`,
/// `vztmpl/…`, `backup/…`, `snippets/…`; anything else is an image).
fn guess_vtype(volid: &str) -> &str {
    let name = volid.split_once(':').map(|(_, n)| n).unwrap_or(volid);
    match name.split_once('/').map(|(dir, _)| dir) {
        Some(dir @ ("import" | "iso" | "vztmpl" | "backup" | "snippets")) => dir,
        _ => "images",
    }
}

/// Disk keys in the order PVE allocates them: a container's rootfs before its mount points; a
/// VM's in qemu-server's `valid_drive_names` order (ide, scsi, virtio, sata, efidisk0,
/// tpmstate0), which `foreach_volume` follows.
fn disk_keys(kind: GuestKind, config: &Config) -> Vec<String> {
    const QEMU_ORDER: [&str; 6] = ["ide", "scsi", "virtio", "sata", "efidisk", "tpmstate"];
    let mut keys: Vec<String> = config.keys().filter(|k| is_disk_key(kind, k)).cloned().collect();
    keys.sort_by_key(|k| {
        let prefix = k.trim_end_matches(|c: char| c.is_ascii_digit());
        (
            k != "rootfs",
            QEMU_ORDER.iter().position(|p| *p == prefix).unwrap_or(QEMU_ORDER.len()),
            prefix.to_string(),
            k.trim_start_matches(|c: char| !c.is_ascii_digit()).parse::<u32>().unwrap_or(0),
        )
    });
    keys
}

fn uuid_for(seed: u64) -> String {
    let hex = format!("{:032x}", (seed as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835));
    format!("{}-{}-4{}-8{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
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

/// `POST /nodes/{node}/{qemu,lxc}`: a new guest, or one restored from a backup archive.
pub struct NewGuest {
    pub kind: GuestKind,
    pub node: String,
    pub vmid: u64,
    /// The archive to restore (`archive` for a VM, `ostemplate` with `restore` for a CT).
    pub restore_from: Option<String>,
    /// A new container's template.
    pub ostemplate: Option<String>,
    /// Replace an existing guest when restoring.
    pub force: bool,
    /// New MACs for a restored guest.
    pub unique: bool,
    pub start: bool,
    pub storage: Option<String>,
    pub pool: Option<String>,
    /// The config keys the request sets, as given.
    pub settings: Config,
}

/// `PUT`/`POST .../config`.
pub struct ConfigUpdate {
    pub check: WriteCheck,
    pub delete: Vec<String>,
    pub revert: Vec<String>,
    /// The config keys the request sets, as given.
    pub settings: Config,
    /// Every parameter the request named: an option can't be both set and deleted.
    pub named: BTreeSet<String>,
    /// Deleted disks are destroyed instead of kept as `unusedN` (`force`, and `unlink`).
    pub force: bool,
}

/// `POST .../clone`.
pub struct CloneRequest {
    pub newid: u64,
    pub target: Option<String>,
    /// Full copy or linked clone; by default full unless the source is a template.
    pub full: Option<bool>,
    pub storage: Option<String>,
    pub format: Option<String>,
    pub pool: Option<String>,
    pub name: Option<String>,
    pub hostname: Option<String>,
    pub description: Option<String>,
}

impl Cluster {
    /// Allocates `STORAGE:SIZE` disks, checks referenced volumes, and writes `size=` into each
    /// disk. Returns the new volumes, and the copies the disks imported from images still need
    /// (qemu-server `import_from_volid` copies the image into the new volume).
    fn allocate_disks(
        &mut self,
        kind: GuestKind,
        node: &str,
        vmid: u64,
        config: &mut Config,
        keys: &[String],
    ) -> Result<(Vec<String>, Vec<DiskCopy>), PveError> {
        let mut created = Vec::new();
        let mut imports = Vec::new();
        for key in keys {
            let Some(value) = config.get(key).cloned() else {
                continue;
            };
            let mut disk =
                PropertyString::parse(&value, Some(volume_key(kind))).map_err(|e| PveError::param(key, format!("invalid format - {e}")))?;
            let file = disk.get(volume_key(kind)).unwrap_or("").to_string();
            if file == "none"
                || file == "cdrom"
                || file.starts_with('/')
                || disk.get("media") == Some("cdrom") && !file.ends_with(":cloudinit")
            {
                continue;
            }
            let (storage, rest) = file.split_once(':').ok_or_else(|| PveError::param(key, "invalid format - missing storage"))?;
            let def = self.storage_on_node(storage, node)?.clone();
            let content = if kind == GuestKind::Qemu { "images" } else { "rootdir" };
            let new_disk = !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.');
            let import_from = disk.get("import-from").map(str::to_string);
            let mut data = None;
            let new_size = if rest == "cloudinit" {
                Some(4u64 << 20)
            } else if let Some(source) = &import_from {
                // qemu-server `check_drive_param`: only `STORAGE:0` may import.
                if !new_disk || rest.parse::<f64>().ok() != Some(0.0) {
                    return Err(PveError::param(key, "'import-from' requires special syntax - use <storage ID>:0,import-from=<source>"));
                }
                let required: &[&str] = match key.as_str() {
                    "efidisk0" => &["efitype", "pre-enrolled-keys"],
                    "tpmstate0" => &["version"],
                    _ => &[],
                };
                if let Some(missing) = required.iter().find(|option| disk.get(option).is_none()) {
                    return Err(PveError::param(key, format!("need to specify '{missing}' when using 'import-from'")));
                }
                let (size, source_data) = self.import_source(node, key, source)?;
                data = source_data;
                disk.remove("import-from");
                Some(size)
            } else if key == "efidisk0" {
                Some(efivars_size(&disk))
            } else if key == "tpmstate0" {
                // qemu-server `create_disks`: a fixed size (`TPMSTATE_DISK_SIZE`).
                Some(TPMSTATE_DISK_SIZE)
            } else if new_disk {
                let gib: f64 = rest.parse().map_err(|_| PveError::param(key, "invalid size"))?;
                Some((gib * (1u64 << 30) as f64) as u64)
            } else {
                None
            };
            match new_size {
                Some(size) => {
                    let size = def.allocated_size(size);
                    if key == "efidisk0" && disk.get("pre-enrolled-keys") == Some("1") {
                        // qemu-server `OVMF::create_efidisk`: PVE 9's Microsoft-enrolled vars
                        // carry the 2023 UEFI CA, which it records on the drive.
                        disk.set("ms-cert", "2023k");
                    }
                    if !def.content.iter().any(|c| c == content) {
                        return Err(PveError::server(format!("storage '{storage}' does not support content-type '{content}'")));
                    }
                    let volid = if rest == "cloudinit" {
                        format!("{storage}:vm-{vmid}-cloudinit")
                    } else {
                        self.new_disk_name(storage, vmid, "vm")
                    };
                    self.volumes.push(Volume {
                        storage: storage.to_string(),
                        node: (!def.shared).then(|| node.to_string()),
                        volid: volid.clone(),
                        content: content.into(),
                        format: def.volume_format(None),
                        size,
                        ctime: now(),
                        vmid: Some(vmid),
                        data: data.or_else(|| (rest != "cloudinit").then(|| new_data_marker(&volid))),
                        ..Default::default()
                    });
                    created.push(volid.clone());
                    if let Some(source) = &import_from {
                        imports.push(DiskCopy {
                            key: key.clone(),
                            source: source.clone(),
                            source_node: node.to_string(),
                            target: volid.clone(),
                            target_node: node.to_string(),
                            size,
                            mode: CopyMode::Full,
                        });
                    }
                    disk.set(volume_key(kind), volid);
                    if rest == "cloudinit" {
                        disk.set("media", "cdrom");
                    } else {
                        disk.set("size", pve_api::size::format_size(size));
                    }
                }
                None => {
                    let volume =
                        self.find_volume(node, &file).ok_or_else(|| PveError::server(format!("volume '{file}' does not exist")))?;
                    if volume.content == "images" || volume.content == "rootdir" {
                        disk.set("size", pve_api::size::format_size(volume.size));
                    }
                }
            }
            config.insert(key.clone(), disk.to_string_with_default(volume_key(kind)));
        }
        Ok((created, imports))
    }

    /// The size and data of the image a disk's `import-from` names, checked as qemu-server's
    /// `check_storage_access` (the source's content type) and `import_from_volid` (its size)
    /// do.
    // PERMISSION: qemu-server `check_storage_access`: VM.Clone on /vms/{owner} for another VM's
    // disk, else pve-storage `check_volume_access` (Datastore.Allocate, or Datastore.AllocateSpace
    // or Datastore.Audit, on /storage/{source storage}); Datastore.AllocateSpace on the target.
    fn import_source(&self, node: &str, key: &str, source: &str) -> Result<(u64, Option<String>), PveError> {
        if !source.contains(':') {
            // An absolute path is root@pam's only; this emulator has no such files.
            return Err(PveError::server(format!("cannot import from '{source}' - could not get file size of {source}")));
        }
        let storage = storage_of(source);
        self.storage_on_node(storage, node)?;
        let volume = self.find_volume(node, source);
        let vtype = volume.map(|v| v.content.as_str()).unwrap_or_else(|| guess_vtype(source));
        if vtype != "images" && vtype != "import" {
            return Err(PveError::param(key, format!("{source} has wrong type '{vtype}' - needs to be 'images' or 'import'")));
        }
        let volume = volume.ok_or_else(|| PveError::server(format!("cannot import from '{source}' - could not get size of {source}")))?;
        if volume.volid.ends_with("-cloudinit") {
            return Err(PveError::server(format!("cannot import from '{source}' - cannot import from cloudinit disk")));
        }
        let size = if volume.content == "images" { Some(volume.size) } else { volume.virtual_size };
        let size = size.ok_or_else(|| PveError::server(format!("cannot import from '{source}' - could not get size of {source}")))?;
        Ok((size, volume.data.clone()))
    }

    /// Gives NICs without a MAC one, keeps the MAC of a NIC that already had one, checks bridges.
    fn prepare_nics(&mut self, kind: GuestKind, node: &str, config: &mut Config, previous: &Config) -> Result<(), PveError> {
        let bridges = self.node(node).map(|n| n.bridges.clone()).unwrap_or_default();
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
                            let model = nic.keys().find(|k| MODELS.contains(k)).map(str::to_string).ok_or_else(|| {
                                PveError::param(&key, "invalid format - model: property is missing and it is not optional")
                            })?;
                            let mac = nic.get(&model).map(str::to_string);
                            (model, mac)
                        }
                    };
                    let old_mac = old.as_ref().and_then(|o| MODELS.iter().find_map(|m| o.get(m)).or(o.get("macaddr")).map(str::to_string));
                    let mac = mac.or(old_mac).unwrap_or_else(|| self.new_mac()).to_uppercase();
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
                        let mac = old.as_ref().and_then(|o| o.get("hwaddr").map(str::to_string)).unwrap_or_else(|| self.new_mac());
                        nic.set("hwaddr", mac);
                    }
                    config.insert(key, nic.to_string());
                }
            }
        }
        Ok(())
    }

    /// Checks a create or restore and makes the guest, its disks allocated and its config locked
    /// (`lock: create`) until the task ends; returns the new volumes and the image copies left
    /// to the task.
    pub fn create_guest(&mut self, new: &NewGuest) -> Result<(Vec<String>, Vec<DiskCopy>), PveError> {
        let NewGuest { kind, vmid, .. } = *new;
        let node = new.node.as_str();
        let mut config: Config = Config::new();
        let mut restored_data = BTreeMap::new();
        if let Some(existing) = self.guests.get(&vmid) {
            let overwritable = new.restore_from.is_some() && new.force && existing.node == node && existing.kind == kind;
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
            if let Some(e) = existing.locked_error() {
                return Err(e);
            }
        }
        if let Some(archive) = &new.restore_from {
            let volume = self.find_volume(node, archive).ok_or_else(|| PveError::server(format!("volume '{archive}' does not exist")))?;
            if volume.content != "backup" {
                return Err(PveError::server(format!("volume '{archive}' is not a backup archive")));
            }
            if volume.archived_kind.is_some_and(|k| k != kind) {
                return Err(PveError::server(format!("archive '{archive}' is not a {} backup", kind.as_str())));
            }
            config = volume.archived_config.clone().unwrap_or_default();
            restored_data = volume.archived_data.clone();
            // Restored disks are allocated anew, on --storage if given.
            for key in disk_keys(kind, &config) {
                let Ok(disk) = PropertyString::parse(&config[&key], Some(volume_key(kind))) else {
                    continue;
                };
                let file = disk.get(volume_key(kind)).unwrap_or("");
                let storage = new.storage.clone().unwrap_or_else(|| file.split(':').next().unwrap_or("local-lvm").to_string());
                let gib = disk.get("size").and_then(|s| pve_api::size::parse_size(s).ok()).unwrap_or(4 << 30) as f64 / (1u64 << 30) as f64;
                let fresh = if file.ends_with("cloudinit") { format!("{storage}:cloudinit") } else { format!("{storage}:{gib}") };
                let mut rebuilt = disk.clone();
                rebuilt.set(volume_key(kind), fresh);
                rebuilt.remove("size");
                config.insert(key, rebuilt.to_string_with_default(volume_key(kind)));
            }
            // MACs stay unless `unique` asks for new ones.
            if new.unique {
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
            let template = new.ostemplate.as_deref().ok_or_else(|| PveError::missing("ostemplate"))?;
            let volume = self.find_volume(node, template).ok_or_else(|| PveError::server(format!("volume '{template}' does not exist")))?;
            if volume.content != "vztmpl" && volume.content != "backup" {
                return Err(PveError::server(format!("volume '{template}' is not a container template")));
            }
            config.insert("ostype".into(), "ubuntu".into());
            config.insert("arch".into(), "amd64".into());
        }
        for (key, value) in &new.settings {
            if let Some(stored) = store_value(kind, key, value)? {
                config.insert(key.clone(), stored);
            }
        }
        if kind == GuestKind::Lxc {
            config.entry("rootfs".into()).or_insert_with(|| format!("{}:4", new.storage.as_deref().unwrap_or("local-lvm")));
            config.entry("hostname".into()).or_insert_with(|| format!("CT{vmid}"));
            // A container's password and SSH keys go into its filesystem, not its config.
        } else {
            config.entry("smbios1".into()).or_insert_with(|| format!("uuid={}", uuid_for(vmid)));
            config.entry("vmgenid".into()).or_insert_with(|| uuid_for(vmid ^ 0xfeed));
            config.entry("meta".into()).or_insert_with(|| format!("creation-qemu=9.2.0,ctime={}", now()));
        }
        if let Some(pool) = &new.pool
            && !self.pools.contains_key(pool)
        {
            return Err(PveError::server(format!("pool '{pool}' does not exist")));
        }
        if let Some(cicustom) = config.get("cicustom") {
            self.check_cicustom(node, cicustom)?;
        }
        if let Some(hookscript) = config.get("hookscript") {
            self.check_hookscript(node, hookscript)?;
        }
        let previous = self.guests.get(&vmid).map(|g| g.config.clone()).unwrap_or_default();
        self.prepare_nics(kind, node, &mut config, &previous)?;
        if let Some(old) = self.guests.remove(&vmid) {
            for (_, volid) in old.disks() {
                self.remove_volume(&volid);
            }
        }
        let keys = disk_keys(kind, &config);
        let (created, imports) = match self.allocate_disks(kind, node, vmid, &mut config, &keys) {
            Ok(allocated) => allocated,
            Err(e) => {
                self.volumes.retain(|v| v.vmid != Some(vmid) || v.content == "backup");
                return Err(e);
            }
        };
        // A restore writes the archive's data into the new volumes.
        for (key, data) in restored_data {
            let Some(volid) = config
                .get(&key)
                .and_then(|v| PropertyString::parse(v, Some(volume_key(kind))).ok())
                .and_then(|d| d.get(volume_key(kind)).map(str::to_string))
            else {
                continue;
            };
            if let Some(volume) = self.volumes.iter_mut().find(|v| v.volid == volid && v.vmid == Some(vmid)) {
                volume.data = Some(data);
            }
        }
        config.insert("lock".into(), "create".into());
        if let Some(pool) = &new.pool
            && let Some(p) = self.pools.get_mut(pool)
        {
            p.vms.push(vmid);
        }
        self.guests.insert(vmid, Guest::new(vmid, node.to_string(), kind, config));
        Ok((created, imports))
    }

    /// The end of a create task: the guest unlocked (and started if asked), or removed on failure.
    fn finish_create(&mut self, kind: GuestKind, vmid: u64, start: bool, log: &mut Vec<String>, fail: bool) -> Result<(), String> {
        if fail {
            self.forget_guest(vmid);
            return Err(format!("unable to create {} {vmid} - injected task failure", kind_word(kind)));
        }
        let guest = self.guests.get_mut(&vmid).ok_or("guest vanished during create")?;
        guest.config.remove("lock");
        log.push(format!("{} {vmid} created", kind_word(kind)));
        if start {
            guest.running = true;
            guest.started_at = Some(now());
            log.push(format!("starting {} {vmid}", kind_word(kind)));
        }
        Ok(())
    }

    /// Applies a config change: deletions and reverts, new values (held in `pending` while a
    /// running guest can't take them), new disks allocated, NICs given MACs.
    pub fn update_config(&mut self, kind: GuestKind, node: &str, vmid: u64, update: &ConfigUpdate) -> Result<(), PveError> {
        let guest = self.guests.get(&vmid).filter(|g| g.node == node).ok_or_else(|| not_found(kind, node, vmid))?.clone();
        update.check.check(&guest)?;
        let mut config = guest.config.clone();
        let mut pending = guest.pending.clone();
        let mut pending_delete = guest.pending_delete.clone();
        for key in &update.revert {
            pending.remove(key);
            pending_delete.retain(|k| k != key);
        }
        for key in &update.delete {
            if update.named.contains(key) {
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
                // A detached disk becomes `unusedN`, as in PVE, unless `force` destroys it
                // (qemu-server `vmconfig_delete_or_detach_drive`); CD-ROMs are only detached.
                let drive = PropertyString::parse(&old, Some(volume_key(kind))).ok();
                let volid = drive.as_ref().and_then(|p| p.get(volume_key(kind)).map(str::to_string));
                let cdrom = drive.as_ref().is_some_and(|d| d.get("media") == Some("cdrom"));
                match volid {
                    Some(volid) if volid.ends_with("cloudinit") => self.remove_volume_on(node, &volid),
                    Some(_) if cdrom => {}
                    Some(volid) if volid.contains(':') && update.force => {
                        if guest.snapshots_use(&volid) {
                            return Err(PveError::server(format!("unable to delete '{volid}' - volume is still in use (snapshot?)")));
                        }
                        self.remove_volume_on(node, &volid);
                    }
                    Some(volid) if volid.contains(':') => {
                        config.insert(next_unused_key(&config), volid);
                    }
                    _ => {}
                }
            } else if key.starts_with("unused") {
                if guest.snapshots_use(&old) {
                    return Err(PveError::server(format!("unable to delete '{old}' - volume is still in use (snapshot?)")));
                }
                self.remove_volume_on(node, &old);
            }
        }
        let mut changed: Vec<String> = Vec::new();
        let mut updates = Config::new();
        for (key, value) in &update.settings {
            if let Some(stored) = store_value(kind, key, value)? {
                updates.insert(key.clone(), stored);
                changed.push(key.clone());
            }
        }
        // Existing disks keep their volume and size: size changes go through resize.
        let mut new_disks = Vec::new();
        for key in changed.iter().filter(|k| is_disk_key(kind, k)) {
            let new = PropertyString::parse(&updates[key], Some(volume_key(kind)))
                .map_err(|e| PveError::param(key, format!("invalid format - {e}")))?;
            let new_file = new.get(volume_key(kind)).unwrap_or("").to_string();
            match config.get(key).and_then(|old| PropertyString::parse(old, Some(volume_key(kind))).ok()) {
                Some(old) if old.get(volume_key(kind)) == Some(new_file.as_str()) => {
                    let mut merged = new.clone();
                    if let Some(size) = old.get("size") {
                        merged.set("size", size);
                    }
                    updates.insert(key.clone(), merged.to_string_with_default(volume_key(kind)));
                }
                _ => new_disks.push(key.clone()),
            }
        }
        if let Some(cicustom) = updates.get("cicustom") {
            self.check_cicustom(node, cicustom)?;
        }
        if let Some(hookscript) = updates.get("hookscript") {
            self.check_hookscript(node, hookscript)?;
        }
        let mut staged = config.clone();
        staged.extend(updates.clone());
        self.allocate_disks(kind, node, vmid, &mut staged, &new_disks)?;
        for key in &new_disks {
            updates.insert(key.clone(), staged[key].clone());
        }
        let mut nic_view: Config = updates.iter().filter(|(k, _)| k.starts_with("net")).map(|(k, v)| (k.clone(), v.clone())).collect();
        self.prepare_nics(kind, node, &mut nic_view, &config)?;
        updates.extend(nic_view);
        for (key, value) in updates {
            if guest.running && !hotpluggable(kind, &key) {
                pending.insert(key, value);
            } else {
                pending.remove(&key);
                config.insert(key, value);
            }
        }
        let entry = self.guests.get_mut(&vmid).expect("present under lock");
        entry.config = config;
        entry.pending = pending;
        entry.pending_delete = pending_delete;
        Ok(())
    }

    /// Checks a destroy and locks the guest (`lock: destroyed`) until the task removes it.
    fn begin_destroy(&mut self, kind: GuestKind, node: &str, vmid: u64, skiplock: bool, purge: bool) -> Result<(), PveError> {
        let guest = self.guests.get(&vmid).ok_or_else(|| not_found(kind, node, vmid))?;
        if !skiplock && let Some(e) = guest.locked_error() {
            return Err(e);
        }
        if guest.config.get("protection").is_some_and(|p| p == "1") {
            return Err(PveError::server(format!("can't remove {} {vmid} - protection mode enabled", kind_word(kind))));
        }
        if guest.running {
            return Err(PveError::server(format!("{} {vmid} is running - destroy failed", kind_word(kind))));
        }
        if !purge && self.ha_sid_of(vmid).is_some() {
            return Err(PveError::server(format!(
                "unable to remove {} {vmid} - used in HA resources and purge parameter not set.",
                kind_word(kind)
            )));
        }
        let base = format!("base-{vmid}-disk");
        if let Some(user) =
            self.guests.values().find(|g| g.vmid != vmid && g.config.values().any(|v| v.contains(&format!("{base}-")) && v.contains('/')))
        {
            return Err(PveError::server(format!(
                "base volume of {} {vmid} is still in use by linked clone {}",
                kind_word(kind),
                user.vmid
            )));
        }
        if let Some(g) = self.guests.get_mut(&vmid) {
            g.config.insert("lock".into(), "destroyed".into());
        }
        Ok(())
    }

    /// The end of a destroy task: the guest, its disks and pool membership gone; with `purge` also
    /// its HA resource and its place in backup jobs. Backups stay.
    fn finish_destroy(&mut self, kind: GuestKind, vmid: u64, purge: bool, log: &mut Vec<String>) -> Result<(), String> {
        self.guests.remove(&vmid);
        // pve-access-control `remove_vm_access`: a VMID used again inherits no old grant.
        self.access.forget_paths_under(&format!("/vms/{vmid}"));
        for pool in self.pools.values_mut() {
            pool.vms.retain(|v| *v != vmid);
        }
        if purge {
            self.purge_from_ha(vmid);
            for job in self.backup_jobs.values_mut() {
                if let Some(list) = job.get("vmid").cloned() {
                    let kept: Vec<&str> = list.split(',').filter(|v| *v != vmid.to_string()).collect();
                    job.insert("vmid".into(), kept.join(","));
                }
            }
            log.push(format!("purging {} {vmid} from related configurations", kind_word(kind)));
        }
        Ok(())
    }

    /// Checks a clone and makes the new guest (`lock: clone` until the task ends): its config
    /// copied with new identity and MACs, its disks copies or (linked) based on the template's.
    fn clone_guest(&mut self, source: &Guest, target: &str, full: bool, request: &CloneRequest) -> Result<Vec<DiskCopy>, PveError> {
        let (kind, vmid, node, newid) = (source.kind, source.vmid, source.node.as_str(), request.newid);
        if self.node(target).is_none() {
            return Err(PveError::server(format!("no such cluster node '{target}'")));
        }
        let source = self.guests.get(&vmid).ok_or_else(|| not_found(kind, node, vmid))?.clone();
        if let Some(e) = source.locked_error() {
            return Err(e);
        }
        if self.guests.contains_key(&newid) {
            return Err(PveError::server(format!("unable to create {} {newid}: config file already exists", kind_word(kind))));
        }
        let storage_override = request.storage.clone();
        if let Some(s) = &storage_override
            && self.storage(s).is_none()
        {
            return Err(PveError::server(format!("storage '{s}' does not exist")));
        }
        // To another node only from and to shared storage. As qemu-server and pve-container: a
        // target `storage` must be shared itself (checked first); qemu-server then judges each
        // source volume by its own storage, pve-container by the target storage when one is given.
        if target != node {
            if let Some(s) = &storage_override
                && !self.storage(s).is_some_and(|def| def.shared)
            {
                return Err(PveError::server(format!("can't clone to non-shared storage '{s}'")));
            }
            let all_shared = source.disks().iter().all(|(_, volid)| {
                let own = storage_of(volid).to_string();
                let storage = match kind {
                    GuestKind::Qemu => own,
                    GuestKind::Lxc => storage_override.clone().unwrap_or(own),
                };
                self.storage(&storage).is_some_and(|s| s.shared)
            });
            if !all_shared {
                return Err(PveError::server(format!(
                    "can't clone {} to node '{target}' ({} uses local storage)",
                    kind_word(kind),
                    kind_word(kind)
                )));
            }
        }
        if let Some(pool) = &request.pool
            && !self.pools.contains_key(pool)
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
                config
                    .insert("name".into(), request.name.clone().unwrap_or_else(|| format!("Copy-of-VM-{}", source.name().unwrap_or("vm"))));
                config.insert("smbios1".into(), format!("uuid={}", uuid_for(newid)));
                config.insert("vmgenid".into(), uuid_for(newid ^ 0xfeed));
            }
            GuestKind::Lxc => {
                if let Some(hostname) = &request.hostname {
                    config.insert("hostname".into(), hostname.clone());
                }
            }
        }
        if let Some(description) = &request.description {
            config.insert("description".into(), description.clone());
        }
        // New MACs for every NIC.
        for key in config.keys().filter(|k| k.starts_with("net")).cloned().collect::<Vec<_>>() {
            let mut nic =
                PropertyString::parse(&config[&key], if kind == GuestKind::Qemu { Some("model") } else { None }).unwrap_or_default();
            let mac = self.new_mac();
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
        let mut plan = Vec::new();
        for (key, volid) in source.disks() {
            let mut disk = PropertyString::parse(&config[&key], Some(volume_key(kind))).unwrap_or_default();
            let storage = volid.split(':').next().unwrap_or("local-lvm").to_string();
            let (size, data) = self.find_volume(node, &volid).map(|v| (v.size, v.data.clone())).unwrap_or((4 << 20, None));
            let cloudinit = volid.ends_with("-cloudinit");
            let (new_storage, new_volid) = if cloudinit {
                (storage.clone(), format!("{storage}:vm-{newid}-cloudinit"))
            } else if full {
                let s = storage_override.clone().unwrap_or(storage.clone());
                let name = self.new_disk_name(&s, newid, "vm");
                (s, name)
            } else {
                let base = volid.split(':').nth(1).unwrap_or("");
                let name = self.new_disk_name(&storage, newid, "vm");
                (storage.clone(), format!("{storage}:{base}/{}", name.split(':').nth(1).unwrap_or("")))
            };
            let def = self.storage(&new_storage).cloned();
            self.volumes.push(Volume {
                storage: new_storage.clone(),
                node: if def.as_ref().is_some_and(|d| d.shared) { None } else { Some(target.to_string()) },
                volid: new_volid.clone(),
                content: if kind == GuestKind::Qemu { "images".into() } else { "rootdir".into() },
                format: request.format.clone().unwrap_or_else(|| "raw".into()),
                size,
                ctime: now(),
                vmid: Some(newid),
                linked_base: (!full && !cloudinit).then(|| volid.clone()),
                // A copy holds what the source held; a linked clone starts as its base.
                data: if cloudinit { None } else { data },
                ..Default::default()
            });
            plan.push(DiskCopy {
                key: key.clone(),
                source: volid.clone(),
                source_node: node.to_string(),
                target: new_volid.clone(),
                target_node: target.to_string(),
                size,
                // The cloud-init drive is always a (small) copy.
                mode: if full || cloudinit { CopyMode::Full } else { CopyMode::Linked },
            });
            disk.set(volume_key(kind), new_volid);
            config.insert(key, disk.to_string_with_default(volume_key(kind)));
        }
        config.insert("lock".into(), "clone".into());
        if let Some(pool) = &request.pool
            && let Some(p) = self.pools.get_mut(pool)
        {
            p.vms.push(newid);
        }
        self.guests.insert(newid, Guest::new(newid, target.to_string(), kind, config));
        Ok(plan)
    }

    /// The end of a clone task: the new guest unlocked, or removed when the copy fails (as PVE does).
    fn finish_clone(&mut self, newid: u64, fail: bool) -> Result<(), String> {
        if fail {
            self.forget_guest(newid);
            return Err(format!("clone failed: injected task failure (VM {newid} removed)"));
        }
        let guest = self.guests.get_mut(&newid).ok_or("clone target vanished")?;
        guest.config.remove("lock");
        Ok(())
    }

    /// Turns a stopped guest into a template: its own disks become `base-` volumes.
    fn begin_template(&mut self, kind: GuestKind, node: &str, vmid: u64) -> Result<Vec<String>, PveError> {
        let guest = self.guests.get(&vmid).ok_or_else(|| not_found(kind, node, vmid))?.clone();
        if let Some(e) = guest.locked_error() {
            return Err(e);
        }
        if guest.running {
            return Err(PveError::server(format!("you can't convert a {} to template if it is running", kind_word(kind))));
        }
        if guest.is_template() {
            return Err(PveError::server(format!("{} {vmid} is already a template", kind_word(kind))));
        }
        self.guests.get_mut(&vmid).expect("present").config.insert("template".into(), "1".into());
        Ok(guest.disks().into_iter().map(|(_, volid)| volid).filter(|v| !v.ends_with("-cloudinit") && !v.contains('/')).collect())
    }

    /// A template's disk becomes a `base-` volume (pve-storage `vdisk_create_base`).
    pub(super) fn rename_to_base(&mut self, node: &str, vmid: u64, volid: &str) {
        let renamed = volid.replace(&format!(":vm-{vmid}-"), &format!(":base-{vmid}-"));
        for volume in self.volumes.iter_mut().filter(|v| v.volid == volid && v.node.as_deref().is_none_or(|n| n == node)) {
            volume.volid = renamed.clone();
        }
        if let Some(guest) = self.guests.get_mut(&vmid) {
            for value in guest.config.values_mut() {
                let parsed = PropertyString::parse(value, Some(volume_key(guest.kind))).ok();
                if parsed.as_ref().and_then(|p| p.get(volume_key(guest.kind))) == Some(volid) {
                    *value = value.replacen(volid, &renamed, 1);
                }
            }
        }
    }

    /// Grows a disk to `size` (`+SIZE` for relative); shrinking is refused.
    fn resize_disk(
        &mut self,
        kind: GuestKind,
        node: &str,
        vmid: u64,
        check: &WriteCheck,
        disk_key: &str,
        size: &str,
    ) -> Result<(), PveError> {
        let guest = self.guests.get(&vmid).ok_or_else(|| not_found(kind, node, vmid))?.clone();
        check.check(&guest)?;
        let value = guest.config.get(disk_key).ok_or_else(|| PveError::server(format!("disk '{disk_key}' does not exist")))?;
        let mut disk = PropertyString::parse(value, Some(volume_key(kind))).map_err(|e| PveError::server(e.to_string()))?;
        let volid = disk.get(volume_key(kind)).unwrap_or("").to_string();
        if disk.get("media") == Some("cdrom") {
            return Err(PveError::server("you can't resize a cdrom"));
        }
        let current = self
            .find_volume(node, &volid)
            .map(|v| v.size)
            .or_else(|| disk.get("size").and_then(|s| pve_api::size::parse_size(s).ok()))
            .unwrap_or(0);
        let (relative, number) = match size.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, size),
        };
        let amount = pve_api::size::parse_size(number).map_err(|_| PveError::param("size", "value does not match the regex pattern"))?;
        let new_size = if relative { current + amount } else { amount };
        if new_size < current {
            return Err(PveError::server("shrinking disks is not supported"));
        }
        disk.set("size", pve_api::size::format_size(new_size));
        for volume in self.volumes.iter_mut().filter(|v| v.volid == volid) {
            volume.size = new_size;
        }
        self.guests.get_mut(&vmid).expect("present").config.insert(disk_key.to_string(), disk.to_string_with_default(volume_key(kind)));
        Ok(())
    }

    /// The end of a power task (`start`, `stop`, `shutdown`, `reboot`, `reset`, `suspend`,
    /// `resume`). PVE accepts these with a UPID and fails inside the task.
    fn finish_power(&mut self, kind: GuestKind, vmid: u64, action: &str, log: &mut Vec<String>, fail: bool) -> Result<(), String> {
        if fail {
            return Err(format!("{action} failed: injected task failure"));
        }
        let guest = self.guests.get_mut(&vmid).ok_or("guest vanished")?;
        let word = kind_word(kind);
        match action {
            "start" if guest.is_template() => return Err(format!("you can't start a {} if it's a template", word.to_lowercase())),
            "start" if guest.running => return Err(format!("{word} {vmid} already running")),
            "stop" | "shutdown" | "reboot" | "reset" | "suspend" if !guest.running => return Err(format!("{word} {vmid} not running")),
            _ => {}
        }
        match action {
            "start" | "resume" => {
                guest.apply_pending();
                guest.running = true;
                guest.started_at.get_or_insert(now());
            }
            "stop" | "shutdown" => {
                guest.running = false;
                guest.started_at = None;
                guest.apply_pending();
            }
            "reboot" | "reset" => {
                guest.apply_pending();
                guest.started_at = Some(now());
            }
            _ => {}
        }
        log.push(format!("{action} {vmid}: OK"));
        Ok(())
    }
}

/// The guest operations as requests run them: the guest's config lock waited for, the change
/// made, and the task that finishes it started. `guest` is the guest as the request found it.
impl Emulator {
    pub fn create_guest(self: &Arc<Self>, new: NewGuest, user: &str) -> Result<Upid, PveError> {
        let (created, imports) = self.cluster().create_guest(&new)?;
        // From here on the config's `lock: create` keeps others out, as in PVE.
        let NewGuest { kind, vmid, start, .. } = new;
        let restoring = new.restore_from.is_some();
        let task_type = match (kind, restoring) {
            (GuestKind::Qemu, false) => "qmcreate",
            (GuestKind::Qemu, true) => "qmrestore",
            (GuestKind::Lxc, false) => "vzcreate",
            (GuestKind::Lxc, true) => "vzrestore",
        };
        let node = new.node.clone();
        Ok(self.spawn_task_steps(
            &new.node,
            task_type,
            &vmid.to_string(),
            user,
            if restoring { 3 } else { 1 },
            Vec::new(),
            Box::new(move |ctx| {
                Box::pin(async move {
                    // The worker allocates each disk under its storage's lock (`vdisk_alloc`); a
                    // lock it cannot get undoes the create (qemu-server `create_vm`,
                    // pve-container `create_vm`).
                    for volid in &created {
                        let storage = storage_of(volid);
                        if let Err(message) = ctx.emulator.storage_lock(&node, storage, &|l| ctx.log(l)).await {
                            ctx.cluster().forget_guest(vmid);
                            let word = kind_word(kind);
                            let verb = if restoring { "restore" } else { "create" };
                            return Err(format!("unable to {verb} {word} {vmid} - {message}"));
                        }
                    }
                    // Disks made from images get the image's data, at the storages' bandwidth.
                    for copy in &imports {
                        ctx.log(format!("create full clone of drive {} ({})", copy.key, copy.source));
                        let log = |line: String| ctx.log(line);
                        ctx.emulator
                            .transfer_volume(&copy.source_node, &copy.source, &copy.target_node, storage_of(&copy.target), copy.size, &log)
                            .await;
                        ctx.log(format!("{}: successfully created disk '{}'", copy.key, copy.target));
                    }
                    ctx.take_time().await;
                    let mut log = Vec::new();
                    let result = ctx.cluster().finish_create(kind, vmid, start, &mut log, ctx.fail);
                    for line in log {
                        ctx.log(line);
                    }
                    result
                })
            }),
        ))
    }

    /// A config change; `asynchronous` (POST) runs it as a `qmconfig` task, as PVE does.
    pub async fn update_config(
        self: &Arc<Self>,
        guest: &Guest,
        update: ConfigUpdate,
        user: &str,
        asynchronous: bool,
    ) -> Result<Option<Upid>, PveError> {
        let _guard = self.flock(guest.kind, guest.vmid).await?;
        // New disks are allocated and `unusedN` deletions freed under their storage's lock
        // (qemu-server `create_disks` / `vdisk_free`), within the config lock.
        let storages = {
            let cluster = self.cluster();
            let current = cluster.guests.get(&guest.vmid).map(|g| g.config.clone()).unwrap_or_default();
            storages_touched(guest.kind, &update, &current)
        };
        for storage in storages {
            self.storage_lock(&guest.node, &storage, &|_| {}).await.map_err(PveError::server)?;
        }
        self.cluster().update_config(guest.kind, &guest.node, guest.vmid, &update)?;
        Ok(asynchronous.then(|| self.spawn_noop_task(&guest.node, "qmconfig", &guest.vmid.to_string(), user)))
    }

    pub async fn destroy_guest(self: &Arc<Self>, guest: &Guest, skiplock: bool, purge: bool, user: &str) -> Result<Upid, PveError> {
        let (kind, vmid) = (guest.kind, guest.vmid);
        let node = guest.node.clone();
        let guard = self.flock(kind, vmid).await?;
        self.cluster().begin_destroy(kind, &guest.node, vmid, skiplock, purge)?;
        Ok(self.spawn_task_steps(
            &guest.node,
            &format!("{}destroy", task_prefix(kind)),
            &vmid.to_string(),
            user,
            1,
            vec![guard],
            Box::new(move |ctx| {
                Box::pin(async move {
                    ctx.take_time().await;
                    if ctx.fail {
                        if let Some(g) = ctx.cluster().guests.get_mut(&vmid) {
                            g.config.remove("lock");
                        }
                        return Err("injected task failure".into());
                    }
                    // Every volume the guest owns, referenced or not (qemu-server `destroy_vm`),
                    // each freed under its storage's lock; one that cannot be freed stays behind
                    // with a warning, as in PVE.
                    let owned: Vec<String> = ctx
                        .cluster()
                        .volumes
                        .iter()
                        .filter(|v| v.vmid == Some(vmid) && v.content != "backup" && v.node.as_deref().is_none_or(|n| n == node))
                        .map(|v| v.volid.clone())
                        .collect();
                    for volid in owned {
                        ctx.log(format!("Removing image: {volid}"));
                        if let Err(message) = ctx.emulator.free_volume(&node, &volid, &|l| ctx.log(l)).await {
                            ctx.log(format!("WARN: Could not remove disk '{volid}', check manually: {message}"));
                        }
                    }
                    let mut log = Vec::new();
                    let result = ctx.cluster().finish_destroy(kind, vmid, purge, &mut log);
                    for line in log {
                        ctx.log(line);
                    }
                    result
                })
            }),
        ))
    }

    pub async fn clone_guest(self: &Arc<Self>, source: &Guest, request: CloneRequest, user: &str) -> Result<Upid, PveError> {
        let (kind, vmid, newid) = (source.kind, source.vmid, request.newid);
        let node = source.node.clone();
        let target = request.target.clone().unwrap_or_else(|| node.clone());
        let full = request.full.unwrap_or(!source.is_template());
        if !full && !source.is_template() {
            let (key, volid) = source.disks().into_iter().next().unwrap_or_default();
            return Err(PveError::server(format!("Linked clone feature is not supported for '{volid}' ({key})")));
        }
        if request.storage.is_some() && !full {
            return Err(PveError::param("storage", "parameter 'storage' not allowed for linked clones"));
        }
        if request.format.is_some() && !full {
            return Err(PveError::param("format", "parameter 'format' not allowed for linked clones"));
        }
        // qemu-server `clone_vm` / pve-container `clone_vm`: the source is locked exclusively only
        // while it runs, shared otherwise (every template), so clones of one template run side by
        // side; the new VMID is locked exclusively for the whole clone.
        let running = source.running;
        let source_mode = if running { LockMode::Exclusive } else { LockMode::Shared };
        let source_guard = self.flock_mode(kind, vmid, source_mode).await?;
        let target_guard = self.flock(kind, newid).await?;
        let plan = {
            let mut cluster = self.cluster();
            let now_running = cluster.guests.get(&vmid).is_some_and(|g| g.running);
            if now_running != running {
                return Err(PveError::server("unexpected state change"));
            }
            cluster.clone_guest(source, &target, full, &request)?
        };
        Ok(self.spawn_task_steps(
            &node,
            &format!("{}clone", task_prefix(kind)),
            &vmid.to_string(),
            user,
            if full { 3 } else { 1 },
            // Both locks are held until the clone ends; the new guest also carries `lock: clone`.
            vec![source_guard, target_guard],
            Box::new(move |ctx| {
                Box::pin(async move {
                    ctx.log(format!("creating a clone of VM {vmid} with ID {newid}"));
                    for copy in &plan {
                        if let Err(message) = ctx.emulator.copy_disk(copy, &ctx).await {
                            // The half-made guest goes, its new volumes freed (as PVE does).
                            ctx.cluster().forget_guest(newid);
                            return Err(format!("clone failed: {message}"));
                        }
                    }
                    ctx.take_time().await;
                    ctx.cluster().finish_clone(newid, ctx.fail)
                })
            }),
        ))
    }

    /// Template conversion (qemu-server / pve-container `template`): checked and marked under the
    /// config lock; the disks become `base-` volumes under their storage's lock, in a
    /// `qmtemplate` task for a VM, at once for a container (whose API answers no task).
    pub async fn make_template(self: &Arc<Self>, guest: &Guest, user: &str) -> Result<Option<Upid>, PveError> {
        let (kind, vmid) = (guest.kind, guest.vmid);
        let node = guest.node.clone();
        let guard = self.flock(kind, vmid).await?;
        let disks = self.cluster().begin_template(kind, &guest.node, vmid)?;
        if kind == GuestKind::Lxc {
            for volid in &disks {
                self.storage_lock(&node, storage_of(volid), &|_| {}).await.map_err(PveError::server)?;
                self.cluster().rename_to_base(&node, vmid, volid);
            }
            return Ok(None);
        }
        Ok(Some(self.spawn_task_steps(
            &guest.node,
            "qmtemplate",
            &vmid.to_string(),
            user,
            1,
            vec![guard],
            Box::new(move |ctx| {
                Box::pin(async move {
                    for volid in &disks {
                        let storage = storage_of(volid);
                        ctx.emulator.storage_lock(&node, storage, &|l| ctx.log(l)).await?;
                        ctx.cluster().rename_to_base(&node, vmid, volid);
                    }
                    ctx.take_time().await;
                    Ok(())
                })
            }),
        )))
    }

    pub async fn resize_disk(
        self: &Arc<Self>,
        guest: &Guest,
        check: WriteCheck,
        disk: &str,
        size: &str,
        user: &str,
    ) -> Result<Upid, PveError> {
        let (kind, vmid) = (guest.kind, guest.vmid);
        let guard = self.flock(kind, vmid).await?;
        self.cluster().resize_disk(kind, &guest.node, vmid, &check, disk, size)?;
        Ok(self.spawn_task(
            &guest.node,
            &format!("{}resize", task_prefix(kind)),
            &vmid.to_string(),
            user,
            1,
            vec![guard],
            Box::new(|_, _, _| Ok(())),
        ))
    }

    /// A power action (the last part of `status/{action}`), checked and applied by its task.
    /// An HA-managed guest is started and stopped through HA: `start` sets the resource's state to
    /// started (an `hastart` task), `stop` and `shutdown` queue an HA stop request (`hastop`), and
    /// the HA manager does the rest (qemu-server `vm_start`/`vm_stop`/`vm_shutdown`,
    /// pve-container `vm_start`/`vm_stop`/`vm_shutdown`).
    pub async fn power(self: &Arc<Self>, guest: &Guest, action: String, skiplock: bool, user: &str) -> Result<Upid, PveError> {
        let (kind, vmid) = (guest.kind, guest.vmid);
        let managed = self.cluster().vm_is_ha_managed(vmid);
        if let Some(sid) = managed.filter(|_| matches!(action.as_str(), "start" | "stop" | "shutdown")) {
            let word = kind_word(kind);
            let (task_type, line) = if action == "start" {
                ("hastart", format!("Requesting HA start for {word} {vmid}"))
            } else {
                ("hastop", format!("Requesting HA stop for {word} {vmid}"))
            };
            return Ok(self.spawn_task_steps(
                &guest.node,
                task_type,
                &vmid.to_string(),
                user,
                1,
                Vec::new(),
                Box::new(move |ctx| {
                    Box::pin(async move {
                        ctx.log(line);
                        {
                            let mut cluster = ctx.cluster();
                            if action == "start" {
                                if let Some(options) = cluster.ha_resources.get_mut(&sid) {
                                    options.insert("state".into(), "started".into());
                                }
                            } else {
                                let timeout = if action == "stop" { "0" } else { "180" };
                                cluster.ha_manager.commands.push(format!("stop {sid} {timeout}"));
                            }
                        }
                        ctx.emulator.ha_kick();
                        Ok(())
                    })
                }),
            ));
        }
        self.power_direct(guest, action, skiplock, user).await
    }

    /// A power action as the node runs it, HA or not (the LRM calls this).
    pub(crate) async fn power_direct(
        self: &Arc<Self>,
        guest: &Guest,
        action: String,
        skiplock: bool,
        user: &str,
    ) -> Result<Upid, PveError> {
        let (kind, vmid) = (guest.kind, guest.vmid);
        let guard = self.flock(kind, vmid).await?;
        {
            let cluster = self.cluster();
            let guest = cluster.guests.get(&vmid).ok_or_else(|| not_found(kind, &guest.node, vmid))?;
            if !skiplock && let Some(e) = guest.locked_error() {
                return Err(e);
            }
        }
        let task_type = format!("{}{action}", task_prefix(kind));
        Ok(self.spawn_task(
            &guest.node,
            &task_type,
            &vmid.to_string(),
            user,
            1,
            vec![guard],
            Box::new(move |cluster, log, fail| cluster.finish_power(kind, vmid, &action, log, fail)),
        ))
    }
}
