//! Between PVE and Terraform: a VM config read into state, and the config parameters a plan
//! writes. Pure functions, unit-tested here.

use super::*;

/// Keys this resource manages in the PVE config; others (set by hand) are left alone.
pub(super) const SCALAR_KEYS: &[(&str, &str)] = &[
    (names::NAME, "name"),
    (names::CORES, "cores"),
    (names::SOCKETS, "sockets"),
    (names::CPU_TYPE, "cpu"),
    (names::MEMORY, "memory"),
    (names::BALLOON, "balloon"),
    (names::BIOS, "bios"),
    (names::MACHINE, "machine"),
    (names::SCSIHW, "scsihw"),
    (names::OS_TYPE, "ostype"),
    (names::STARTUP, "startup"),
    (names::CI_USER, "ciuser"),
    (names::CI_SEARCH_DOMAIN, "searchdomain"),
    (names::CI_CUSTOM, "cicustom"),
];

pub(super) const BOOL_KEYS: &[(&str, &str)] = &[("on_boot", "onboot"), (names::PROTECTION, "protection")];

pub(super) fn is_disk_slot(key: &str) -> bool {
    ["scsi", "virtio", "sata", "ide"]
        .iter()
        .any(|p| key.strip_prefix(p).is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())))
}

/// A disk's state from its config entry; None for CD-ROMs, cloud-init drives and non-disk keys.
pub(super) fn disk_from_config(slot: &str, value: &str) -> Option<Value> {
    if !is_disk_slot(slot) {
        return None;
    }
    let disk = PropertyString::parse(value, Some("file")).ok()?;
    let file = disk.get("file")?;
    if disk.get("media") == Some("cdrom") || file == "none" {
        return None;
    }
    let storage = file.split(':').next()?.to_string();
    let size = disk.get(names::SIZE).and_then(|s| pve_api::size::parse_size(s).ok()).unwrap_or(0);
    Some(Value::object([
        ("slot", slot.into()),
        ("storage", storage.into()),
        ("size", gib_ceil(size).into()),
        ("format", disk.get(names::FORMAT).map(str::to_string).into()),
        ("iothread", disk.get(names::IOTHREAD).is_some_and(flag).into()),
        ("discard", (disk.get(names::DISCARD) == Some("on")).into()),
        ("ssd", disk.get(names::SSD).is_some_and(flag).into()),
        ("cache", disk.get(names::CACHE).map(str::to_string).into()),
        ("backup", disk.get(names::BACKUP).is_none_or(flag).into()),
        // Write-only: PVE does not keep where a disk was imported from.
        (names::IMPORT_FROM, Value::Null),
    ]))
}

/// The `import_from` of each disk of the configuration, by slot (write-only: only the
/// configuration has it, never the plan or the state). Unknown values are left out.
pub(super) fn import_sources(config: &Value) -> BTreeMap<String, String> {
    config
        .get(names::DISK)
        .as_list()
        .unwrap_or_default()
        .iter()
        .filter_map(|d| Some((d.get(names::SLOT).as_str()?.to_string(), d.get(names::IMPORT_FROM).as_str()?.to_string())))
        .collect()
}

/// The cloud-init drive as (slot, storage): the drive holding a `…-cloudinit` volume.
pub(super) fn cloud_init_drive(config: &GuestConfig) -> Option<(String, String)> {
    config.values.iter().filter(|(k, _)| is_disk_slot(k)).find_map(|(key, value)| {
        let drive = PropertyString::parse(&json_text(value), Some("file")).ok()?;
        let file = drive.get("file")?;
        let (storage, volume) = file.split_once(':')?;
        volume.ends_with("-cloudinit").then(|| (key.clone(), storage.to_string()))
    })
}

/// An `efidisk0` entry as the `efi_disk` block (PVE's default `efitype` is `2m`).
pub(super) fn efi_disk_from_config(value: &str) -> Option<Value> {
    let drive = PropertyString::parse(value, Some("file")).ok()?;
    let storage = drive.get("file")?.split(':').next()?.to_string();
    Some(Value::object([
        (names::STORAGE, storage.into()),
        (names::TYPE, drive.get("efitype").unwrap_or("2m").into()),
        (names::PRE_ENROLLED_KEYS, drive.get("pre-enrolled-keys").is_some_and(flag).into()),
    ]))
}

/// A new `efidisk0` (qemu-server allocates it from the OVMF vars file; the `1` is ignored).
pub(super) fn efi_disk_string(block: &Value) -> String {
    let storage = block.get(names::STORAGE).as_str().unwrap_or("local-lvm");
    let keys = if block.get(names::PRE_ENROLLED_KEYS).as_bool() == Some(true) { "1" } else { "0" };
    format!("{storage}:1,efitype={},pre-enrolled-keys={keys}", block.get(names::TYPE).as_str().unwrap_or("4m"))
}

/// A `tpmstate0` entry as the `tpm_state` block.
pub(super) fn tpm_state_from_config(value: &str) -> Option<Value> {
    let drive = PropertyString::parse(value, Some("file")).ok()?;
    let storage = drive.get("file")?.split(':').next()?.to_string();
    Some(Value::object([(names::STORAGE, storage.into()), (names::VERSION, drive.get("version").unwrap_or("v1.2").into())]))
}

/// A new `tpmstate0` (qemu-server gives it a fixed 4 MiB; the `1` is ignored).
pub(super) fn tpm_state_string(block: &Value) -> String {
    format!(
        "{}:1,version={}",
        block.get(names::STORAGE).as_str().unwrap_or("local-lvm"),
        block.get(names::VERSION).as_str().unwrap_or("v2.0")
    )
}

/// The special disks that are blocks of their own: (block, config key, reader, writer).
pub(super) type SpecialDisk = (&'static str, &'static str, fn(&str) -> Option<Value>, fn(&Value) -> String);
pub(super) const SPECIAL_DISKS: [SpecialDisk; 2] = [
    (names::EFI_DISK, "efidisk0", efi_disk_from_config, efi_disk_string),
    (names::TPM_STATE, "tpmstate0", tpm_state_from_config, tpm_state_string),
];

/// Sets `key` to `value`, or removes it.
pub(super) fn put(into: &mut PropertyString, key: &str, value: Option<&str>) {
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
pub(super) fn disk_options(disk: &Value, into: &mut PropertyString) {
    let on = |key: &str| disk.get(key).as_bool() == Some(true);
    put(into, "iothread", on("iothread").then_some("1"));
    put(into, "ssd", on("ssd").then_some("1"));
    put(into, "discard", on("discard").then_some("on"));
    put(into, "backup", (disk.get(names::BACKUP).as_bool() == Some(false)).then_some("0"));
    put(into, "cache", disk.get(names::CACHE).as_str());
    if let Some(format) = disk.get(names::FORMAT).as_str() {
        into.set("format", format);
    }
}

/// The volume ID of a drive string (`local-lvm:vm-100-disk-1,size=8G` → `local-lvm:vm-100-disk-1`).
pub(super) fn volume_of(drive: &str) -> String {
    PropertyString::parse(drive, Some("file")).ok().and_then(|p| p.get("file").map(str::to_string)).unwrap_or_default()
}

/// A new disk: `STORAGE:SIZE`, or `STORAGE:0,import-from=VOLUME` (qemu-server's syntax for a
/// disk made from an image, which gets the image's size).
pub(super) fn new_disk_string(disk: &Value, import_from: Option<&String>) -> String {
    let mut p = PropertyString::new();
    let storage = disk.get(names::STORAGE).as_str().unwrap_or("local-lvm");
    match import_from {
        Some(source) => {
            p.set("file", format!("{storage}:0"));
            p.set("import-from", source.as_str());
        }
        None => {
            p.set("file", format!("{storage}:{}", disk.get(names::SIZE).as_i64().unwrap_or(1)));
        }
    }
    disk_options(disk, &mut p);
    p.to_string_with_default("file")
}

pub(super) fn nic_from_config(value: &str) -> Option<Value> {
    let nic = PropertyString::parse(value, Some("model")).ok()?;
    let (model, mac) = match nic.get(names::MODEL) {
        Some(model) => (model.to_string(), nic.get("macaddr").map(str::to_string)),
        None => {
            let model = nic.keys().find(|k| NIC_MODELS.contains(k) || k.starts_with("e1000") || k.starts_with("i8255"))?.to_string();
            let mac = nic.get(&model).map(str::to_string);
            (model, mac)
        }
    };
    Some(Value::object([
        ("model", model.into()),
        ("bridge", nic.get(names::BRIDGE).map(str::to_string).into()),
        ("vlan", nic.get("tag").and_then(|t| t.parse::<i64>().ok()).into()),
        ("firewall", nic.get(names::FIREWALL).is_some_and(flag).into()),
        ("mac", mac.into()),
        ("mtu", nic.get(names::MTU).and_then(|t| t.parse::<i64>().ok()).into()),
    ]))
}

pub(super) fn nic_string(nic: &Value) -> String {
    let mut p = PropertyString::new();
    let model = nic.get(names::MODEL).as_str().unwrap_or("virtio");
    match nic.get(names::MAC).as_str() {
        Some(mac) => p.set(model, mac),
        None => p.set("model", model),
    };
    p.set("bridge", nic.get(names::BRIDGE).as_str().unwrap_or("vmbr0"));
    if let Some(vlan) = nic.get(names::VLAN).as_i64() {
        p.set("tag", vlan.to_string());
    }
    if nic.get(names::FIREWALL).as_bool() == Some(true) {
        p.set("firewall", "1");
    }
    if let Some(mtu) = nic.get(names::MTU).as_i64() {
        p.set("mtu", mtu.to_string());
    }
    if nic.get(names::MAC).is_null() { p.to_string_with_default("model") } else { p.to_string() }
}

pub(super) fn ipconfig_from_config(value: &str) -> Value {
    let p = PropertyString::parse(value, None).unwrap_or_default();
    Value::object([(names::IPV4, p.get("ip").map(str::to_string).into()), (names::GATEWAY, p.get("gw").map(str::to_string).into())])
}

pub(super) fn ipconfig_string(ip: &Value) -> String {
    let mut p = PropertyString::new();
    if let Some(v4) = ip.get(names::IPV4).as_str() {
        p.set("ip", v4);
    }
    if let Some(gw) = ip.get(names::GATEWAY).as_str() {
        p.set("gw", gw);
    }
    p.to_string()
}

/// PVE keeps `sshkeys` URL-encoded, one key per line.
pub(super) fn encode_ssh_keys(keys: &[Value]) -> String {
    pve_api::segment(&keys.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"))
}

pub(super) fn decode_ssh_keys(text: &str) -> Vec<Value> {
    // Form encoding may use '+' for spaces.
    pve_api::percent_decode(&text.replace('+', " ")).lines().filter(|l| !l.trim().is_empty()).map(|l| Value::from(l.to_string())).collect()
}

/// The state PVE's config describes. `prior` supplies what the config cannot (the configured
/// node, timeouts, disk order, the user's spelling of tags).
pub(super) fn state_from_config(
    vmid: u64,
    current_node: &str,
    running: bool,
    pool: Option<String>,
    config: &GuestConfig,
    prior: &Value,
) -> Value {
    let mut s: BTreeMap<String, Value> = BTreeMap::new();
    s.insert(names::ID.into(), vmid.to_string().into());
    s.insert(names::VMID.into(), vmid.into());
    let node = prior.get(names::NODE).as_str().unwrap_or(current_node).to_string();
    s.insert(names::NODE.into(), node.into());
    s.insert(names::CURRENT_NODE.into(), current_node.into());
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
    s.insert(names::DESCRIPTION.into(), description_state(config));
    let defaults: [(&str, Value); 6] = [
        ("cores", 1i64.into()),
        ("sockets", 1i64.into()),
        ("memory", 512i64.into()),
        (names::BIOS, "seabios".into()),
        (names::SCSIHW, "lsi".into()),
        (names::OS_TYPE, "other".into()),
    ];
    for (attribute, default) in defaults {
        if s.get(attribute).is_none_or(Value::is_null) {
            s.insert(attribute.into(), default);
        }
    }
    if s.get(names::CPU_TYPE).is_none_or(Value::is_null) {
        s.insert(names::CPU_TYPE.into(), "kvm64".into());
    }
    for (attribute, key) in BOOL_KEYS {
        s.insert(attribute.to_string(), text(config, key).is_some_and(|v| flag(&v)).into());
    }
    s.insert(names::TEMPLATE.into(), config.flag("template").into());
    s.insert(names::STARTED.into(), running.into());
    s.insert(names::AGENT.into(), text(config, "agent").is_some_and(|a| a.split(',').any(|p| p == "1" || p == "enabled=1")).into());
    s.insert(names::SERIAL_CONSOLE.into(), (text(config, "vga").as_deref() == Some("serial0")).into());
    s.insert(names::CLOUD_INIT_STORAGE.into(), cloud_init_drive(config).map(|(_, storage)| storage).into());
    // EFI and TPM disks are state only where the configuration has the block (a clone's template
    // may have them unmanaged), and on import, which shows all there is.
    for (block, key, read, _) in SPECIAL_DISKS {
        let managed = prior.is_null() || prior.get(block).is_set();
        let value = text(config, key).filter(|_| managed).and_then(|v| read(&v));
        s.insert(block.into(), value.unwrap_or(Value::Null));
    }
    s.insert(names::POOL.into(), pool.into());
    s.insert(names::TAGS.into(), guest_tags(config, prior.get(names::TAGS)));
    // Disks in the prior order, then any others by slot.
    let mut disks: Vec<Value> = Vec::new();
    let mut found: BTreeMap<String, Value> =
        config.values.iter().filter_map(|(k, v)| disk_from_config(k, &json_text(v)).map(|d| (k.clone(), d))).collect();
    for prior_disk in prior.get(names::DISK).as_list().unwrap_or_default() {
        if let Some(mut disk) = prior_disk.get(names::SLOT).as_str().and_then(|slot| found.remove(slot)) {
            // PVE drops `format` from the drive string once it has allocated the volume.
            if let Value::Map(d) = &mut disk
                && d.get(names::FORMAT).is_none_or(Value::is_null)
            {
                d.insert(names::FORMAT.into(), prior_disk.get(names::FORMAT).clone());
            }
            disks.push(disk);
        }
    }
    disks.extend(found.into_values());
    s.insert(names::DISK.into(), Value::List(disks));
    let nets: Vec<Value> = indexed(config, "net").into_iter().filter_map(|(_, v)| nic_from_config(&json_text(v))).collect();
    s.insert(names::NETWORK.into(), Value::List(nets));
    let ips: Vec<Value> = indexed(config, "ipconfig").into_iter().map(|(_, v)| ipconfig_from_config(&json_text(v))).collect();
    s.insert(names::IP_CONFIG.into(), Value::List(ips));
    s.insert(names::CI_SSH_KEYS.into(), text(config, "sshkeys").map(|k| Value::List(decode_ssh_keys(&k))).unwrap_or(Value::Null));
    s.insert(names::CI_DNS_SERVERS.into(), nameservers(config));
    // Our own generated snippet is not the user's ci_custom; the inputs it was built from are
    // not in PVE's config, so they carry over from the prior state.
    let generated = format!("snippets/{}", crate::resources::guest::cloud_init::snippet_name(vmid));
    if s.get(names::CI_CUSTOM)
        .and_then(Value::as_str)
        .is_some_and(|c| c.starts_with("user=") && c.ends_with(&generated) && !c.contains(','))
    {
        s.insert(names::CI_CUSTOM.into(), Value::Null);
    }
    for key in ["user_data", "user_data_wo_version", "install_docker", "install_node_exporter", "security_updates", "snippet_storage"] {
        s.insert(key.into(), prior.get(key).clone());
    }
    if let Some(cicustom) = text(config, "cicustom").filter(|c| c.ends_with(&generated))
        && prior.get(names::SNIPPET_STORAGE).is_null()
    {
        // Imported: the snippet's storage is in the reference.
        let storage = cicustom.trim_start_matches("user=").split(':').next().unwrap_or("local").to_string();
        s.insert(names::SNIPPET_STORAGE.into(), storage.into());
    }
    for key in ["install_docker", "install_node_exporter", "security_updates"] {
        if s.get(key).is_none_or(Value::is_null) {
            s.insert(key.into(), false.into());
        }
    }
    if s.get(names::SNIPPET_STORAGE).is_none_or(Value::is_null) {
        s.insert(names::SNIPPET_STORAGE.into(), "local".into());
    }
    s.insert(names::TIMEOUTS.into(), prior.get(names::TIMEOUTS).clone());
    s.insert(names::REBOOT_REQUIRED.into(), (running && prior.get(names::REBOOT_REQUIRED).as_bool() == Some(true)).into());
    Value::Map(s)
}

/// The planned state with the write-only user-data from the configuration, to render the snippet
/// from (it never goes into state).
pub(super) fn with_write_only_user_data(planned: &Value, config: &Value) -> Value {
    match (planned, config.get(names::USER_DATA_WO).as_str()) {
        (Value::Map(map), Some(user_data)) => {
            let mut map = map.clone();
            map.insert(names::USER_DATA.into(), user_data.into());
            Value::Map(map)
        }
        _ => planned.clone(),
    }
}

/// What is certain about a guest that exists but could not be read back: the plan, with the VMID.
pub(super) fn minimal_state(planned: &Value, vmid: u64) -> Value {
    let known = Value::object([
        ("id", vmid.to_string().into()),
        ("vmid", vmid.into()),
        ("current_node", planned.get(names::NODE).clone()),
        ("reboot_required", false.into()),
    ]);
    settle(planned, &known)
}

/// Config parameters for everything but disks, from a planned state. On create (`prior` null)
/// every unset key is deleted too, so nothing a clone inherited from its template lingers.
pub(super) fn config_params(planned: &Value, prior: &Value, params: &mut Params, deletes: &mut Vec<String>) {
    let creating = prior.is_null();
    let changed = |name: &str| creating || planned.get(name) != prior.get(name);
    let had = |name: &str| creating || !prior.get(name).is_null();
    description_param(planned, prior, params);
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
        params.insert("agent", if planned.get(names::AGENT).as_bool() == Some(false) { "0" } else { "1" });
    }
    if changed("serial_console") {
        if planned.get(names::SERIAL_CONSOLE).as_bool() == Some(true) {
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
        (names::TAGS, "tags", joined("tags", ";")),
        (names::CI_SSH_KEYS, "sshkeys", planned.get(names::CI_SSH_KEYS).as_list().filter(|l| !l.is_empty()).map(encode_ssh_keys)),
        (names::CI_DNS_SERVERS, "nameserver", joined("ci_dns_servers", " ")),
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

/// The config parameters for the cloud-init drive and the EFI and TPM disks a plan adds, from
/// the VM's `current` config (None before it exists) and the `prior` state.
pub(super) fn special_disk_params(current: Option<&GuestConfig>, prior: &Value, planned: &Value, params: &mut Params) {
    if let Some(storage) = planned.get(names::CLOUD_INIT_STORAGE).as_str()
        && planned.get(names::CLOUD_INIT_STORAGE) != prior.get(names::CLOUD_INIT_STORAGE)
    {
        let have = current.and_then(cloud_init_drive);
        if have.as_ref().map(|(_, s)| s.as_str()) != Some(storage) {
            // qemu-server makes the drive from `STORAGE:cloudinit`, in the slot it had (ide2 by convention).
            let slot = have.map(|(slot, _)| slot).unwrap_or_else(|| "ide2".to_string());
            params.insert(slot, format!("{storage}:cloudinit"));
        }
    }
    for (block, key, _, write) in SPECIAL_DISKS {
        let wanted = planned.get(block);
        let there = current.is_some_and(|c| c.values.contains_key(key));
        // A changed or removed disk was taken away before (`remove_special_disks`).
        if wanted.is_set() && !there {
            params.insert(key, write(wanted));
        }
    }
}

/// The node a plan's checks look at: where the VM will be when it is created (or replaced), and
/// where it is now (`current_node`, which HA may have moved it to) when it is updated.
fn checked_node(planned: &Value, creating: bool) -> Option<&str> {
    match planned.get(names::CURRENT_NODE).as_str() {
        Some(current) if !creating => Some(current),
        _ => planned.get(names::NODE).as_str(),
    }
}

/// What the plan asks of the cluster (see `guest::checks`). Creating (or replacing): every disk,
/// NIC and the snippet storage, the vCPUs and the clone. Updating: only what is new or changed,
/// so an update that keeps node and storages asks nothing. Values not known yet are left out
/// (checked again in create and update); None while the node is unknown.
pub(super) fn cluster_wants(prior: &Value, config: &Value, planned: &Value, creating: bool) -> Option<Wants> {
    let node = checked_node(planned, creating)?;
    let mut wants = Wants::new(QEMU, node, attr(names::NODE));
    let at = |block: &str, i: usize, field: &str| vec![Step::Attr(block.into()), Step::Index(i as i64), Step::Attr(field.into())];
    let disks = planned.get(names::DISK).as_list().unwrap_or_default();
    let prior_disks = by_slot(prior.get(names::DISK));
    for (i, disk) in disks.iter().enumerate() {
        let Some(storage) = disk.get(names::STORAGE).as_str() else { continue };
        let before = disk.get(names::SLOT).as_str().and_then(|slot| prior_disks.get(slot));
        if creating || before.is_none_or(|b| b.get(names::STORAGE) != disk.get(names::STORAGE)) {
            wants.volumes.push(VolumeWant { at: at(names::DISK, i, names::STORAGE), storage: storage.into(), content: IMAGES });
        }
    }
    let imports = import_sources(config);
    for (i, disk) in disks.iter().enumerate() {
        let Some(slot) = disk.get(names::SLOT).as_str() else { continue };
        if let Some(volume) = imports.get(slot)
            && (creating || !prior_disks.contains_key(slot))
        {
            wants.images.push(ImageWant { at: at(names::DISK, i, names::IMPORT_FROM), volume: volume.clone() });
        }
    }
    for (block, ..) in SPECIAL_DISKS {
        if let Some(storage) = planned.get(block).get(names::STORAGE).as_str()
            && (creating || planned.get(block).get(names::STORAGE) != prior.get(block).get(names::STORAGE))
        {
            let at = vec![Step::Attr(block.into()), Step::Attr(names::STORAGE.into())];
            wants.volumes.push(VolumeWant { at, storage: storage.into(), content: IMAGES });
        }
    }
    if let Some(storage) = planned.get(names::CLOUD_INIT_STORAGE).as_str()
        && (creating || planned.get(names::CLOUD_INIT_STORAGE) != prior.get(names::CLOUD_INIT_STORAGE))
    {
        wants.volumes.push(VolumeWant { at: attr(names::CLOUD_INIT_STORAGE), storage: storage.into(), content: IMAGES });
    }
    let snippet_storage_is_new = creating
        || !crate::resources::guest::cloud_init::wanted(prior)
        || planned.get(names::SNIPPET_STORAGE) != prior.get(names::SNIPPET_STORAGE);
    if crate::resources::guest::cloud_init::wanted(planned)
        && snippet_storage_is_new
        && let Some(storage) = planned.get(names::SNIPPET_STORAGE).as_str()
    {
        wants.volumes.push(VolumeWant { at: attr(names::SNIPPET_STORAGE), storage: storage.into(), content: SNIPPETS });
    }
    wants.nics = bridge_wants(prior, planned, creating);
    if let (Some(cores), Some(sockets)) = (planned.get(names::CORES).as_i64(), planned.get(names::SOCKETS).as_i64())
        && (creating || planned.get(names::CORES) != prior.get(names::CORES) || planned.get(names::SOCKETS) != prior.get(names::SOCKETS))
    {
        let count = cores.max(0).saturating_mul(sockets.max(0));
        wants.vcpus = Some(VcpuWant {
            at: attr(names::CORES),
            count: count as u64,
            made_of: format!("cores × sockets = {cores} × {sockets} = {count} vCPUs"),
        });
    }
    // The clone source is read from the configuration: clone_vmid is write-only.
    if creating && let Some(source) = config.get(names::CLONE_VMID).as_i64() {
        let full = match config.get(names::CLONE_FULL) {
            Value::Unknown => None,
            value => Some(value.as_bool().unwrap_or(true)),
        };
        // What build() sends: a full clone goes to the first disk's storage, a linked one stays.
        let first = disks.first().map(|d| d.get(names::STORAGE));
        wants.clone = Some(CloneWant {
            at: attr(names::CLONE_VMID),
            vmid: source.max(0) as u64,
            storage: first.and_then(Value::as_str).filter(|_| full == Some(true)).map(str::to_string),
            storage_unknown: full.is_none() || first.is_some_and(Value::is_unknown),
            linked: first
                .and_then(Value::as_str)
                .filter(|_| full == Some(false))
                .map(|storage| (at(names::DISK, 0, names::STORAGE), storage.to_string())),
        });
    }
    Some(wants)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(slot: &str, storage: &str) -> Value {
        Value::object([(names::SLOT, slot.into()), (names::STORAGE, storage.into()), (names::SIZE, 4i64.into())])
    }

    fn vm(disks: Vec<Value>, bridges: &[&str], cores: i64) -> Value {
        let nics = bridges.iter().map(|b| Value::object([(names::BRIDGE, (*b).into())])).collect();
        Value::object([
            (names::NODE, "pve1".into()),
            (names::CURRENT_NODE, "pve2".into()),
            (names::CORES, cores.into()),
            (names::SOCKETS, 1i64.into()),
            (names::SNIPPET_STORAGE, "local".into()),
            (names::DISK, Value::List(disks)),
            (names::NETWORK, Value::List(nics)),
        ])
    }

    #[test]
    fn a_create_asks_for_everything_and_an_unchanged_update_for_nothing() {
        let planned = vm(vec![disk("scsi0", "local-lvm"), disk("scsi1", "local-zfs")], &["vmbr0"], 2);
        let config = Value::object([(names::CLONE_VMID, 9000i64.into())]);
        let create = cluster_wants(&Value::Null, &config, &planned, true).unwrap();
        assert_eq!(create.node, "pve1");
        assert_eq!(create.volumes.iter().map(|v| v.storage.as_str()).collect::<Vec<_>>(), ["local-lvm", "local-zfs"]);
        assert_eq!(create.nics.len(), 1);
        assert_eq!(create.vcpus.as_ref().map(|v| v.count), Some(2));
        let clone = create.clone.as_ref().unwrap();
        assert_eq!((clone.vmid, clone.storage.as_deref(), clone.linked.is_some()), (9000, Some("local-lvm"), false));

        let update = cluster_wants(&planned, &config, &planned, false).unwrap();
        assert!(update.is_empty(), "an update that keeps node, storages and bridges asks nothing");
        assert_eq!(update.node, "pve2", "an update looks where the VM is now");
    }

    #[test]
    fn an_update_asks_only_for_what_is_new() {
        let prior = vm(vec![disk("scsi0", "local-lvm")], &["vmbr0"], 2);
        let mut planned = vm(vec![disk("scsi0", "local-lvm"), disk("scsi1", "ceph")], &["vmbr0", "vmbr1"], 4);
        if let Value::Map(p) = &mut planned {
            p.insert(names::INSTALL_DOCKER.into(), true.into());
        }
        let wants = cluster_wants(&prior, &Value::Null, &planned, false).unwrap();
        let asked: Vec<(&str, &str)> = wants.volumes.iter().map(|v| (v.storage.as_str(), v.content)).collect();
        assert_eq!(asked, [("ceph", "images"), ("local", "snippets")]);
        assert_eq!(wants.volumes[0].at, vec![Step::Attr("disk".into()), Step::Index(1), Step::Attr("storage".into())]);
        assert_eq!(wants.nics.iter().map(|n| n.bridge.as_str()).collect::<Vec<_>>(), ["vmbr1"]);
        assert_eq!(wants.vcpus.as_ref().map(|v| v.made_of.as_str()), Some("cores × sockets = 4 × 1 = 4 vCPUs"));
        assert!(wants.clone.is_none(), "the clone source matters at creation only");
    }

    #[test]
    fn unknown_values_are_left_for_apply() {
        let mut planned = vm(vec![Value::object([(names::SLOT, "scsi0".into()), (names::STORAGE, Value::Unknown)])], &[], 2);
        if let Value::Map(p) = &mut planned {
            p.insert(names::CORES.into(), Value::Unknown);
        }
        let config = Value::object([(names::CLONE_VMID, 9000i64.into()), (names::CLONE_FULL, false.into())]);
        let wants = cluster_wants(&Value::Null, &config, &planned, true).unwrap();
        assert!(wants.volumes.is_empty() && wants.vcpus.is_none());
        let clone = wants.clone.unwrap();
        assert!(clone.storage.is_none() && clone.linked.is_none() && clone.storage_unknown);
        let unknown_node = Value::object([(names::NODE, Value::Unknown)]);
        assert!(cluster_wants(&Value::Null, &config, &unknown_node, true).is_none());
    }

    #[test]
    fn durations() {
        use crate::resources::guest::parse_duration;
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
        assert_eq!(nic.get(names::MAC), &Value::from("BC:24:11:00:00:01"));
        assert_eq!(nic.get(names::VLAN).as_i64(), Some(10));
        assert_eq!(nic_string(&nic), "virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=10,firewall=1");
    }

    #[test]
    fn imported_disks_use_qemu_servers_syntax() {
        let disk = Value::object([(names::STORAGE, "local-lvm".into()), (names::SIZE, 8i64.into()), (names::DISCARD, true.into())]);
        let source = "local:import/noble.qcow2".to_string();
        assert_eq!(new_disk_string(&disk, Some(&source)), "local-lvm:0,import-from=local:import/noble.qcow2,discard=on");
        assert_eq!(new_disk_string(&disk, None), "local-lvm:8,discard=on");
        let config = Value::object([(
            names::DISK,
            Value::List(vec![Value::object([(names::SLOT, "scsi0".into()), (names::IMPORT_FROM, source.clone().into())])]),
        )]);
        assert_eq!(import_sources(&config).get("scsi0"), Some(&source));
    }

    #[test]
    fn efi_and_tpm_disks_round_trip() {
        let efi = efi_disk_from_config("local-lvm:vm-100-disk-1,efitype=4m,pre-enrolled-keys=1,ms-cert=2023k,size=4M").unwrap();
        assert_eq!(efi.get(names::STORAGE), &Value::from("local-lvm"));
        assert_eq!(efi.get(names::TYPE), &Value::from("4m"));
        assert_eq!(efi.get(names::PRE_ENROLLED_KEYS).as_bool(), Some(true));
        assert_eq!(efi_disk_string(&efi), "local-lvm:1,efitype=4m,pre-enrolled-keys=1");
        assert_eq!(efi_disk_from_config("local-lvm:vm-100-disk-1,size=128K").unwrap().get(names::TYPE), &Value::from("2m"));
        let tpm = tpm_state_from_config("local-zfs:vm-100-disk-2,size=4M,version=v2.0").unwrap();
        assert_eq!(tpm_state_string(&tpm), "local-zfs:1,version=v2.0");
    }

    #[test]
    fn special_disks_are_added_once() {
        let planned = Value::object([
            (names::CLOUD_INIT_STORAGE, "local-lvm".into()),
            (
                names::EFI_DISK,
                Value::object([(names::STORAGE, "local-lvm".into()), (names::TYPE, "4m".into()), (names::PRE_ENROLLED_KEYS, false.into())]),
            ),
        ]);
        let mut params = Params::new();
        special_disk_params(None, &Value::Null, &planned, &mut params);
        let sent: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert!(sent.contains(&("ide2".into(), "local-lvm:cloudinit".into())), "{sent:?}");
        assert!(sent.contains(&("efidisk0".into(), "local-lvm:1,efitype=4m,pre-enrolled-keys=0".into())), "{sent:?}");
        // A clone whose template has both already: nothing to add.
        let current = GuestConfig {
            values: [("ide2", "local-lvm:vm-101-cloudinit,media=cdrom"), ("efidisk0", "local-lvm:vm-101-disk-1,efitype=4m,size=4M")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::from(v)))
                .collect(),
            digest: String::new(),
        };
        let mut params = Params::new();
        special_disk_params(Some(&current), &Value::Null, &planned, &mut params);
        assert_eq!(params.iter().count(), 0);
    }

    #[test]
    fn disks_parse_from_config() {
        let disk = disk_from_config("scsi0", "local-lvm:vm-101-disk-0,iothread=1,discard=on,size=50G").unwrap();
        assert_eq!(disk.get(names::STORAGE), &Value::from("local-lvm"));
        assert_eq!(disk.get(names::SIZE).as_i64(), Some(50));
        assert_eq!(disk.get(names::DISCARD).as_bool(), Some(true));
        assert!(disk_from_config("ide2", "local-lvm:vm-101-cloudinit,media=cdrom").is_none());
    }
}
