//! Between PVE and Terraform: a container config read into state, and the config parameters a
//! plan writes. Pure functions, unit-tested here.

use super::*;

pub(super) fn volume_from_config(value: &str) -> Option<(String, i64, PropertyString)> {
    let p = PropertyString::parse(value, Some("volume")).ok()?;
    let storage = p.get("volume")?.split(':').next()?.to_string();
    let size = p.get("size").and_then(|s| pve_api::size::parse_size(s).ok()).unwrap_or(0);
    Some((storage, gib_ceil(size), p))
}

pub(super) fn nic_string(index: usize, nic: &Value) -> String {
    let mut p = PropertyString::new();
    p.set("name", nic.get(names::NAME).as_str().map(str::to_string).unwrap_or_else(|| format!("eth{index}")));
    p.set("bridge", nic.get(names::BRIDGE).as_str().unwrap_or("vmbr0"));
    if let Some(mac) = nic.get(names::MAC).as_str() {
        p.set("hwaddr", mac);
    }
    if let Some(ip) = nic.get(names::IPV4).as_str() {
        p.set("ip", ip);
    }
    if let Some(gw) = nic.get(names::GATEWAY).as_str() {
        p.set("gw", gw);
    }
    if let Some(vlan) = nic.get(names::VLAN).as_i64() {
        p.set("tag", vlan.to_string());
    }
    if nic.get(names::FIREWALL).as_bool() == Some(true) {
        p.set("firewall", "1");
    }
    p.to_string()
}

/// What is certain about a container that exists but could not be read back.
pub(super) fn minimal_state(planned: &Value, vmid: u64) -> Value {
    settle(
        planned,
        &Value::object([
            (names::ID, vmid.to_string().into()),
            (names::VMID, vmid.into()),
            (names::CURRENT_NODE, planned.get(names::NODE).clone()),
        ]),
    )
}

/// A mount point to allocate: `STORAGE:SIZE,mp=PATH[,backup=1]`.
pub(super) fn new_mount_point(mp: &Value) -> String {
    let mut p = PropertyString::new();
    p.set("volume", format!("{}:{}", mp.get(names::STORAGE).as_str().unwrap_or("local-lvm"), mp.get(names::SIZE).as_i64().unwrap_or(1)));
    p.set("mp", mp.get(names::PATH).as_str().unwrap_or("/mnt"));
    if mp.get(names::BACKUP).as_bool() == Some(true) {
        p.set("backup", "1");
    }
    p.to_string_with_default("volume")
}

pub(super) fn features_string(state: &Value) -> Option<String> {
    let on: Vec<String> =
        ["nesting", "keyctl", "fuse"].iter().filter(|f| state.get(f).as_bool() == Some(true)).map(|f| format!("{f}=1")).collect();
    (!on.is_empty()).then(|| on.join(","))
}

/// Scalar config keys: attribute, PVE key.
pub(super) const SCALARS: [(&str, &str); 7] = [
    (names::HOSTNAME, "hostname"),
    (names::CORES, "cores"),
    (names::MEMORY, "memory"),
    (names::SWAP, "swap"),
    (names::DNS_SEARCH_DOMAIN, "searchdomain"),
    (names::STARTUP, "startup"),
    (names::OS_TYPE, "ostype"),
];

pub(super) fn state_from_config(vmid: u64, node: &str, running: bool, pool: Option<String>, config: &GuestConfig, prior: &Value) -> Value {
    let mut s: BTreeMap<String, Value> = BTreeMap::new();
    s.insert(names::ID.into(), vmid.to_string().into());
    s.insert(names::VMID.into(), vmid.into());
    s.insert(names::NODE.into(), prior.get(names::NODE).as_str().unwrap_or(node).to_string().into());
    s.insert(names::CURRENT_NODE.into(), node.into());
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
    s.insert(names::DESCRIPTION.into(), description_state(config));
    for (attribute, default) in [("memory", 512i64), (names::SWAP, 512)] {
        if s.get(attribute).is_none_or(Value::is_null) {
            s.insert(attribute.into(), default.into());
        }
    }
    s.insert(names::ON_BOOT.into(), text(config, "onboot").is_some_and(|v| flag(&v)).into());
    s.insert(names::PROTECTION.into(), text(config, "protection").is_some_and(|v| flag(&v)).into());
    s.insert(names::UNPRIVILEGED.into(), text(config, "unprivileged").is_some_and(|v| flag(&v)).into());
    let features = text(config, "features").and_then(|f| PropertyString::parse(&f, None).ok()).unwrap_or_default();
    for feature in ["nesting", "keyctl", "fuse"] {
        s.insert(feature.into(), features.get(feature).is_some_and(flag).into());
    }
    s.insert(names::STARTED.into(), running.into());
    s.insert(names::POOL.into(), pool.into());
    s.insert(names::TAGS.into(), guest_tags(config, prior.get(names::TAGS)));
    s.insert(names::DNS_SERVERS.into(), nameservers(config));
    let rootfs = text(config, "rootfs")
        .and_then(|r| volume_from_config(&r))
        .map(|(storage, size, _)| Value::object([(names::STORAGE, storage.into()), (names::SIZE, size.into())]));
    s.insert(names::ROOTFS.into(), rootfs.unwrap_or(Value::Null));
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
    s.insert(names::MOUNT_POINT.into(), Value::List(mount_points));
    let nets: Vec<Value> = indexed(config, "net")
        .into_iter()
        .filter_map(|(n, v)| {
            let p = PropertyString::parse(&json_text(v), None).ok()?;
            let prior_name = prior
                .get(names::NETWORK)
                .as_list()
                .and_then(|l| l.get(n as usize))
                .map(|nic| nic.get(names::NAME).clone())
                .unwrap_or(Value::Null);
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
    s.insert(names::NETWORK.into(), Value::List(nets));
    let hook = text(config, "hookscript");
    let ours = hook.as_deref().filter(|h| h.ends_with(&format!(":snippets/{}", crate::resources::guest::cloud_init::CT_SECURITY_HOOK)));
    s.insert(names::SECURITY_UPDATES.into(), ours.is_some().into());
    let storage = ours
        .and_then(|h| h.split(':').next())
        .map(str::to_string)
        .or_else(|| prior.get(names::SNIPPET_STORAGE).as_str().map(str::to_string));
    s.insert(names::SNIPPET_STORAGE.into(), storage.unwrap_or_else(|| "local".into()).into());
    s.insert(names::TIMEOUTS.into(), prior.get(names::TIMEOUTS).clone());
    Value::Map(s)
}

/// Config parameters from a plan (everything but volume sizes). On create every unset key goes.
pub(super) fn config_params(planned: &Value, prior: &Value, params: &mut Params, deletes: &mut Vec<String>) {
    let creating = prior.is_null();
    let changed = |name: &str| creating || planned.get(name) != prior.get(name);
    description_param(planned, prior, params);
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
    for (attribute, key) in [("on_boot", "onboot"), (names::PROTECTION, "protection")] {
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
    for (attribute, key, value) in [("tags", "tags", join("tags", ";")), (names::DNS_SERVERS, "nameserver", join("dns_servers", " "))] {
        if changed(attribute) {
            match value {
                Some(value) => params.insert(key, value),
                None if !creating && !prior.get(attribute).is_null() => deletes.push(key.to_string()),
                None => {}
            }
        }
    }
    let nets = planned.get(names::NETWORK).as_list().unwrap_or_default();
    let old = prior.get(names::NETWORK).as_list().unwrap_or_default();
    for (i, nic) in nets.iter().enumerate() {
        if creating || old.get(i) != Some(nic) {
            params.insert(format!("net{i}"), nic_string(i, nic));
        }
    }
    deletes.extend((nets.len()..old.len()).map(|i| format!("net{i}")));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_read_as_storage_and_whole_gib() {
        let (storage, size, p) = volume_from_config("local-lvm:vm-100-disk-1,mp=/data,backup=1,size=10G").unwrap();
        assert_eq!((storage.as_str(), size, p.get("mp")), ("local-lvm", 10, Some("/data")));
        // 1.5 GiB shows as 2: the state never claims less than PVE allocated.
        assert_eq!(volume_from_config("local:100/vm-100-disk-0.raw,size=1536M").unwrap().1, 2);
    }

    #[test]
    fn a_new_mount_point_carries_its_backup_flag() {
        let mp = |backup: bool| {
            Value::object([
                (names::STORAGE, "local-lvm".into()),
                (names::SIZE, 5i64.into()),
                (names::PATH, "/logs".into()),
                (names::BACKUP, backup.into()),
            ])
        };
        assert_eq!(new_mount_point(&mp(true)), "local-lvm:5,mp=/logs,backup=1");
        assert_eq!(new_mount_point(&mp(false)), "local-lvm:5,mp=/logs");
    }

    #[test]
    fn features_list_only_what_is_on() {
        let state = Value::object([(names::NESTING, true.into()), (names::KEYCTL, false.into()), (names::FUSE, true.into())]);
        assert_eq!(features_string(&state).as_deref(), Some("nesting=1,fuse=1"));
        assert_eq!(features_string(&Value::object([])), None);
    }
}
