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

/// What the plan asks of the cluster (see `guest::checks`). Creating (or replacing): the root
/// filesystem and every mount point, NIC and the hookscript's storage, the cores, and the
/// template or clone source. Updating: only what is new or changed, on the node the container is
/// on now. Values not known yet are left out (checked again in create and update); None while
/// the node is unknown.
pub(super) fn cluster_wants(prior: &Value, config: &Value, planned: &Value, creating: bool) -> Option<Wants> {
    let node = match planned.get(names::CURRENT_NODE).as_str() {
        Some(current) if !creating => current,
        _ => planned.get(names::NODE).as_str()?,
    };
    let mut wants = Wants::new(LXC, node, attr(names::NODE));
    let at = |block: &str, i: usize, field: &str| vec![Step::Attr(block.into()), Step::Index(i as i64), Step::Attr(field.into())];
    let rootfs = planned.get(names::ROOTFS).get(names::STORAGE);
    if let Some(storage) = rootfs.as_str()
        && (creating || rootfs != prior.get(names::ROOTFS).get(names::STORAGE))
    {
        let at = vec![Step::Attr(names::ROOTFS.into()), Step::Attr(names::STORAGE.into())];
        wants.volumes.push(VolumeWant { at, storage: storage.into(), content: ROOTDIR });
    }
    let prior_mps = by_slot(prior.get(names::MOUNT_POINT));
    for (i, mp) in planned.get(names::MOUNT_POINT).as_list().unwrap_or_default().iter().enumerate() {
        let Some(storage) = mp.get(names::STORAGE).as_str() else { continue };
        let before = mp.get(names::SLOT).as_str().and_then(|slot| prior_mps.get(slot));
        if creating || before.is_none_or(|b| b.get(names::STORAGE) != mp.get(names::STORAGE)) {
            wants.volumes.push(VolumeWant { at: at(names::MOUNT_POINT, i, names::STORAGE), storage: storage.into(), content: ROOTDIR });
        }
    }
    let hook = |state: &Value| state.get(names::SECURITY_UPDATES).as_bool() == Some(true);
    if hook(planned)
        && (creating || !hook(prior) || planned.get(names::SNIPPET_STORAGE) != prior.get(names::SNIPPET_STORAGE))
        && let Some(storage) = planned.get(names::SNIPPET_STORAGE).as_str()
    {
        wants.volumes.push(VolumeWant { at: attr(names::SNIPPET_STORAGE), storage: storage.into(), content: SNIPPETS });
    }
    wants.nics = bridge_wants(prior, planned, creating);
    if let Some(cores) = planned.get(names::CORES).as_i64()
        && (creating || planned.get(names::CORES) != prior.get(names::CORES))
    {
        wants.vcpus = Some(VcpuWant { at: attr(names::CORES), count: cores.max(0) as u64, made_of: format!("cores = {cores}") });
    }
    // Template and clone source come from the configuration: both are write-only.
    if creating {
        if let Some(volume) = config.get(names::TEMPLATE_VOLUME).as_str() {
            wants.template = Some(TemplateWant { at: attr(names::TEMPLATE_VOLUME), volume: volume.into() });
        }
        if let Some(source) = config.get(names::CLONE_VMID).as_i64() {
            // The clone request names the rootfs storage, when there is one (see create).
            wants.clone = Some(CloneWant {
                at: attr(names::CLONE_VMID),
                vmid: source.max(0) as u64,
                storage: rootfs.as_str().map(str::to_string),
                storage_unknown: rootfs.is_unknown() || planned.get(names::ROOTFS).is_unknown(),
                linked: None,
            });
        }
    }
    Some(wants)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct(rootfs: &str, mount_points: &[(&str, &str)], cores: i64) -> Value {
        let mps = mount_points
            .iter()
            .map(|(slot, storage)| Value::object([(names::SLOT, (*slot).into()), (names::STORAGE, (*storage).into())]))
            .collect();
        Value::object([
            (names::NODE, "pve2".into()),
            (names::CURRENT_NODE, "pve2".into()),
            (names::CORES, cores.into()),
            (names::SNIPPET_STORAGE, "local".into()),
            (names::ROOTFS, Value::object([(names::STORAGE, rootfs.into())])),
            (names::MOUNT_POINT, Value::List(mps)),
            (names::NETWORK, Value::List(vec![Value::object([(names::BRIDGE, "vmbr0".into())])])),
        ])
    }

    #[test]
    fn a_create_asks_for_its_volumes_template_and_cores() {
        let planned = ct("local-lvm", &[("mp0", "ceph")], 2);
        let config = Value::object([(names::TEMPLATE_VOLUME, "local:vztmpl/debian.tar.zst".into())]);
        let wants = cluster_wants(&Value::Null, &config, &planned, true).unwrap();
        let asked: Vec<(&str, &str)> = wants.volumes.iter().map(|v| (v.storage.as_str(), v.content)).collect();
        assert_eq!(asked, [("local-lvm", "rootdir"), ("ceph", "rootdir")]);
        assert_eq!(wants.volumes[0].at, vec![Step::Attr("rootfs".into()), Step::Attr("storage".into())]);
        assert_eq!(wants.template.as_ref().map(|t| t.volume.as_str()), Some("local:vztmpl/debian.tar.zst"));
        assert_eq!(wants.vcpus.as_ref().map(|v| v.made_of.as_str()), Some("cores = 2"));
        assert!(wants.clone.is_none());
    }

    #[test]
    fn an_update_asks_for_new_mount_points_and_the_hookscript_storage_only() {
        let prior = ct("local-lvm", &[("mp0", "ceph")], 2);
        let mut planned = ct("local-lvm", &[("mp0", "ceph"), ("mp1", "local-zfs")], 2);
        if let Value::Map(p) = &mut planned {
            p.insert(names::SECURITY_UPDATES.into(), true.into());
        }
        let config = Value::object([(names::CLONE_VMID, 300i64.into())]);
        let wants = cluster_wants(&prior, &config, &planned, false).unwrap();
        let asked: Vec<(&str, &str)> = wants.volumes.iter().map(|v| (v.storage.as_str(), v.content)).collect();
        assert_eq!(asked, [("local-zfs", "rootdir"), ("local", "snippets")]);
        assert!(wants.nics.is_empty() && wants.vcpus.is_none() && wants.clone.is_none() && wants.template.is_none());
        assert!(cluster_wants(&prior, &config, &prior, false).unwrap().is_empty());
    }

    #[test]
    fn a_clone_names_its_rootfs_storage() {
        let config = Value::object([(names::CLONE_VMID, 300i64.into())]);
        let wants = cluster_wants(&Value::Null, &config, &ct("ceph", &[], 1), true).unwrap();
        let clone = wants.clone.unwrap();
        assert_eq!((clone.vmid, clone.storage.as_deref(), clone.storage_unknown), (300, Some("ceph"), false));
        let without_rootfs = Value::object([(names::NODE, "pve2".into())]);
        let clone = cluster_wants(&Value::Null, &config, &without_rootfs, true).unwrap().clone.unwrap();
        assert_eq!((clone.storage, clone.storage_unknown), (None, false), "no rootfs: every volume stays on the source's storage");
    }

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
