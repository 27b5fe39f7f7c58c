//! Cluster-wide endpoints: version, login, resources, nextid, nodes, pools, HA, backup jobs.

use pve_api::GuestKind;
use pve_api::calendar::CalendarEvent;
use serde_json::{Value, json};

use super::ApiRequest;
use crate::model::Config;
use crate::server::make_ticket;
use crate::state::{ApiResult, PveError, now};

pub async fn version(_: ApiRequest) -> ApiResult {
    Ok(json!({ "version": "9.1.3", "release": "9.1", "repoid": "6d3ac3d6b4c6a1f2", "console": "html5" }))
}

pub async fn ticket(r: ApiRequest) -> ApiResult {
    let username = r.required("username")?;
    let userid = match (username.contains('@'), r.param("realm")) {
        (false, Some(realm)) => format!("{username}@{realm}"),
        _ => username.to_string(),
    };
    let expected =
        r.emulator.config.users.iter().find_map(|u| u.split_once(':').filter(|(id, _)| *id == userid).map(|(_, p)| p.to_string()));
    let given = r.required("password")?;
    // Constant time, and a comparison even for an unknown user, so timing tells nothing.
    let matches = subtle::ConstantTimeEq::ct_eq(expected.as_deref().unwrap_or("").as_bytes(), given.as_bytes());
    if expected.is_none() || !bool::from(matches) {
        return Err(PveError::status(401, "authentication failure"));
    }
    let (ticket, csrf) = make_ticket(&r.emulator.ticket_secret, &userid);
    let cluster = r.emulator.cluster();
    Ok(json!({ "username": userid, "ticket": ticket, "CSRFPreventionToken": csrf, "clustername": cluster.name }))
}

pub async fn status(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    let mut rows =
        vec![json!({ "type": "cluster", "id": "cluster", "name": cluster.name, "nodes": cluster.nodes.len(), "quorate": 1, "version": 3 })];
    for (i, node) in cluster.nodes.iter().enumerate() {
        rows.push(json!({ "type": "node", "id": format!("node/{}", node.name), "name": node.name, "ip": node.ip, "nodeid": i + 1, "online": u8::from(node.online), "local": u8::from(i == 0), "level": "" }));
    }
    Ok(Value::Array(rows))
}

pub async fn resources(r: ApiRequest) -> ApiResult {
    let filter = r.param("type");
    let cluster = r.emulator.cluster();
    let uptime = (now() - r.emulator.boot_time).max(0) + 86_400;
    let mut rows = Vec::new();
    if filter.is_none_or(|f| f == "node") {
        for node in &cluster.nodes {
            rows.push(json!({
                "id": format!("node/{}", node.name), "type": "node", "node": node.name, "status": if node.online { "online" } else { "offline" },
                "maxcpu": node.cpus, "cpu": 0.03, "maxmem": node.memory, "mem": node.memory / 8, "maxdisk": 100u64 << 30, "disk": 12u64 << 30,
                "uptime": uptime, "level": "", "cgroup-mode": 2,
            }));
        }
    }
    if filter.is_none_or(|f| f == "vm") {
        for guest in cluster.guests.values() {
            let ha = cluster.ha_resources.keys().find(|sid| sid.ends_with(&format!(":{}", guest.vmid)));
            let mut row = json!({
                "id": format!("{}/{}", guest.kind, guest.vmid), "type": guest.kind.as_str(), "vmid": guest.vmid, "node": guest.node,
                "name": guest.name().unwrap_or(""), "status": if guest.running { "running" } else { "stopped" },
                "template": u8::from(guest.is_template()), "maxcpu": guest.cpus(), "maxmem": guest.max_mem(), "maxdisk": guest.max_disk(),
                "cpu": 0, "mem": if guest.running { guest.max_mem() / 3 } else { 0 }, "disk": 0, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
                "uptime": guest.started_at.map(|s| now() - s).unwrap_or(0),
            });
            if let Some(tags) = guest.config.get("tags") {
                row["tags"] = json!(tags);
            }
            if let Some(lock) = guest.lock() {
                row["lock"] = json!(lock);
            }
            if let Some((pool, _)) = cluster.pools.iter().find(|(_, p)| p.vms.contains(&guest.vmid)) {
                row["pool"] = json!(pool);
            }
            if let Some(sid) = ha {
                row["hastate"] = json!(cluster.ha_resources[sid].get("state").map(String::as_str).unwrap_or("started"));
            }
            rows.push(row);
        }
    }
    if filter.is_none_or(|f| f == "storage") {
        for node in &cluster.nodes {
            for (id, storage) in &cluster.storages {
                rows.push(json!({
                    "id": format!("storage/{}/{id}", node.name), "type": "storage", "storage": id, "node": node.name, "status": "available",
                    "plugintype": storage.storage_type, "content": storage.content.join(","), "shared": u8::from(storage.shared),
                    "maxdisk": storage.total, "disk": cluster.used_bytes(&node.name, id),
                }));
            }
        }
    }
    if filter.is_none() {
        for id in cluster.pools.keys() {
            rows.push(json!({ "id": format!("/pool/{id}"), "type": "pool", "pool": id }));
        }
    }
    Ok(Value::Array(rows))
}

pub async fn nextid(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    match r.param("vmid") {
        Some(_) => {
            let vmid = r.u64("vmid")?;
            if cluster.guests.contains_key(&vmid) {
                return Err(PveError::param("vmid", format!("VM {vmid} already exists")));
            }
            // PVE returns the id as a string here.
            Ok(json!(vmid.to_string()))
        }
        None => Ok(json!(cluster.next_free_vmid(100).to_string())),
    }
}

pub async fn nodes(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    let uptime = (now() - r.emulator.boot_time).max(0) + 86_400;
    Ok(Value::Array(
        cluster
            .nodes
            .iter()
            .map(|n| {
                json!({
                    "node": n.name, "id": format!("node/{}", n.name), "type": "node", "status": if n.online { "online" } else { "offline" },
                    "maxcpu": n.cpus, "cpu": 0.03, "maxmem": n.memory, "mem": n.memory / 8, "maxdisk": 100u64 << 30, "disk": 12u64 << 30,
                    "uptime": uptime, "level": "", "ssl_fingerprint": "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99",
                })
            })
            .collect(),
    ))
}

pub async fn node_status(r: ApiRequest) -> ApiResult {
    let node_name = r.node()?.to_string();
    let cluster = r.emulator.cluster();
    let node = cluster.node(&node_name).ok_or_else(|| PveError::server("no such node"))?;
    Ok(json!({
        "uptime": (now() - r.emulator.boot_time).max(0) + 86_400, "loadavg": ["0.12", "0.10", "0.08"], "cpu": 0.03, "wait": 0,
        "kversion": "Linux 6.17.2-1-pve #1 SMP PREEMPT_DYNAMIC", "pveversion": "pve-manager/9.1.3/6d3ac3d6b4c6a1f2",
        "cpuinfo": { "cpus": node.cpus, "cores": node.cpus / 2, "sockets": 1, "model": "Emulated CPU", "mhz": "3000.000", "hvm": "1" },
        "memory": { "total": node.memory, "used": node.memory / 8, "free": node.memory - node.memory / 8 },
        "rootfs": { "total": 100u64 << 30, "used": 12u64 << 30, "avail": 88u64 << 30, "free": 88u64 << 30 },
        "swap": { "total": 8u64 << 30, "used": 0, "free": 8u64 << 30 },
        "boot-info": { "mode": "efi", "secureboot": 0 },
        "current-kernel": { "sysname": "Linux", "release": "6.17.2-1-pve", "machine": "x86_64", "version": "#1 SMP PREEMPT_DYNAMIC" },
    }))
}

pub async fn node_network(r: ApiRequest) -> ApiResult {
    let node_name = r.node()?.to_string();
    let cluster = r.emulator.cluster();
    let node = cluster.node(&node_name).ok_or_else(|| PveError::server("no such node"))?;
    let mut rows: Vec<Value> = node
        .bridges
        .iter()
        .enumerate()
        .map(|(i, b)| json!({ "iface": b, "type": "bridge", "active": 1, "autostart": 1, "bridge_ports": format!("eno{}", i + 1), "bridge_stp": "off", "bridge_fd": "0", "method": "static", "families": ["inet"] }))
        .collect();
    if let Some(first) = rows.first_mut() {
        first["cidr"] = json!(format!("{}/24", node.ip));
        first["address"] = json!(node.ip);
        first["gateway"] = json!("10.10.10.1");
    }
    Ok(Value::Array(rows))
}

// ---- pools ----

pub async fn pools(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    Ok(Value::Array(cluster.pools.iter().map(|(id, p)| json!({ "poolid": id, "comment": p.comment })).collect()))
}

pub async fn pool(r: ApiRequest) -> ApiResult {
    let id = r.required("poolid")?;
    let cluster = r.emulator.cluster();
    let pool = cluster.pools.get(id).ok_or_else(|| PveError::server(format!("pool '{id}' does not exist")))?;
    let mut members: Vec<Value> = pool
        .vms
        .iter()
        .filter_map(|vmid| cluster.guests.get(vmid))
        .map(|g| json!({ "id": format!("{}/{}", g.kind, g.vmid), "type": g.kind.as_str(), "vmid": g.vmid, "node": g.node, "name": g.name().unwrap_or(""), "status": if g.running { "running" } else { "stopped" } }))
        .collect();
    members
        .extend(pool.storage.iter().map(|s| json!({ "id": format!("storage/pve1/{s}"), "type": "storage", "storage": s, "node": "pve1" })));
    Ok(json!({ "comment": pool.comment, "members": members }))
}

pub async fn create_pool(r: ApiRequest) -> ApiResult {
    let id = r.required("poolid")?.to_string();
    let mut cluster = r.emulator.cluster();
    if cluster.pools.contains_key(&id) {
        return Err(PveError::server(format!("pool '{id}' already exists")));
    }
    cluster.pools.insert(id, crate::model::Pool { comment: r.param("comment").unwrap_or("").to_string(), ..Default::default() });
    Ok(Value::Null)
}

pub async fn update_pool(r: ApiRequest) -> ApiResult {
    let id = r.required("poolid")?.to_string();
    let mut cluster = r.emulator.cluster();
    if !cluster.pools.contains_key(&id) {
        return Err(PveError::server(format!("pool '{id}' does not exist")));
    }
    let remove = r.flag("delete");
    let vms: Vec<u64> =
        r.param("vms").map(|v| pve_api::tags::split_tag_list(v).filter_map(|x| x.parse().ok()).collect()).unwrap_or_default();
    for vmid in &vms {
        if !cluster.guests.contains_key(vmid) {
            return Err(PveError::server(format!("no such VMID '{vmid}'")));
        }
        if !remove && !r.flag("allow-move") && cluster.pools.iter().any(|(pid, p)| *pid != id && p.vms.contains(vmid)) {
            return Err(PveError::server(format!("VM {vmid} is already a pool member")));
        }
    }
    if !remove {
        for pool in cluster.pools.values_mut() {
            pool.vms.retain(|v| !vms.contains(v));
        }
    }
    let pool = cluster.pools.get_mut(&id).expect("checked above");
    if let Some(comment) = r.param("comment") {
        pool.comment = comment.to_string();
    }
    let storages: Vec<String> =
        r.param("storage").map(|s| pve_api::tags::split_tag_list(s).map(str::to_string).collect()).unwrap_or_default();
    if remove {
        pool.vms.retain(|v| !vms.contains(v));
        pool.storage.retain(|s| !storages.contains(s));
    } else {
        pool.vms.extend(vms);
        pool.storage.extend(storages);
        pool.vms.sort_unstable();
        pool.vms.dedup();
    }
    Ok(Value::Null)
}

pub async fn delete_pool(r: ApiRequest) -> ApiResult {
    let id = r.required("poolid")?;
    let mut cluster = r.emulator.cluster();
    let pool = cluster.pools.get(id).ok_or_else(|| PveError::server(format!("pool '{id}' does not exist")))?;
    if !pool.vms.is_empty() || !pool.storage.is_empty() {
        return Err(PveError::server("pool is not empty"));
    }
    cluster.pools.remove(id);
    Ok(Value::Null)
}

// ---- HA resources ----

/// `100` and `vm:100` both name a guest; PVE stores `vm:`/`ct:` by the guest's kind.
fn ha_sid(r: &ApiRequest, raw: &str) -> Result<String, PveError> {
    let vmid: u64 = raw.rsplit(':').next().and_then(|v| v.parse().ok()).ok_or_else(|| PveError::param("sid", "invalid HA resource ID"))?;
    let cluster = r.emulator.cluster();
    let guest = cluster.guests.get(&vmid).ok_or_else(|| PveError::server(format!("unable to find VM '{vmid}'")))?;
    Ok(format!("{}:{vmid}", if guest.kind == GuestKind::Qemu { "vm" } else { "ct" }))
}

fn ha_row(sid: &str, options: &Config) -> Value {
    let mut row = json!({ "sid": sid, "type": sid.split(':').next().unwrap_or("vm"), "state": "started" });
    for (k, v) in options {
        row[k] = match k.as_str() {
            "max_restart" | "max_relocate" | "failback" => v.parse::<i64>().map(Value::from).unwrap_or(json!(v)),
            _ => json!(v),
        };
    }
    row["digest"] = json!(hex::encode(<sha1::Sha1 as sha1::Digest>::digest(format!("{sid}{options:?}").as_bytes())));
    row
}

const HA_OPTIONS: [&str; 6] = ["state", "group", "max_restart", "max_relocate", "comment", "failback"];

pub async fn ha_resources(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    Ok(Value::Array(cluster.ha_resources.iter().map(|(sid, o)| ha_row(sid, o)).collect()))
}

pub async fn ha_resource(r: ApiRequest) -> ApiResult {
    let sid = ha_sid(&r, r.required("sid")?)?;
    let cluster = r.emulator.cluster();
    let options = cluster.ha_resources.get(&sid).ok_or_else(|| PveError::server(format!("no such resource '{sid}'")))?;
    Ok(ha_row(&sid, options))
}

pub async fn create_ha_resource(r: ApiRequest) -> ApiResult {
    let sid = ha_sid(&r, r.required("sid")?)?;
    let mut cluster = r.emulator.cluster();
    if cluster.ha_resources.contains_key(&sid) {
        return Err(PveError::server(format!("resource ID '{sid}' already defined")));
    }
    let options: Config = HA_OPTIONS.iter().filter_map(|k| r.param(k).map(|v| (k.to_string(), v.to_string()))).collect();
    cluster.ha_resources.insert(sid, options);
    Ok(Value::Null)
}

pub async fn update_ha_resource(r: ApiRequest) -> ApiResult {
    let sid = ha_sid(&r, r.required("sid")?)?;
    let mut cluster = r.emulator.cluster();
    let options = cluster.ha_resources.get_mut(&sid).ok_or_else(|| PveError::server(format!("no such resource '{sid}'")))?;
    for key in r.param("delete").map(|d| pve_api::tags::split_tag_list(d).map(str::to_string).collect::<Vec<_>>()).unwrap_or_default() {
        options.remove(&key);
    }
    for key in HA_OPTIONS {
        if let Some(v) = r.param(key) {
            options.insert(key.to_string(), v.to_string());
        }
    }
    Ok(Value::Null)
}

pub async fn delete_ha_resource(r: ApiRequest) -> ApiResult {
    let sid = ha_sid(&r, r.required("sid")?)?;
    let mut cluster = r.emulator.cluster();
    cluster.ha_resources.remove(&sid).ok_or_else(|| PveError::server(format!("no such resource '{sid}'")))?;
    Ok(Value::Null)
}

// ---- backup jobs (/cluster/backup) ----

/// Options stored with a job: everything the request carried except routing and write-time flags.
fn job_options(r: &ApiRequest) -> Config {
    r.params.iter().filter(|(k, _)| !matches!(k.as_str(), "id" | "delete" | "digest")).map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn check_job(options: &Config) -> Result<(), PveError> {
    let chosen: Vec<&str> = ["vmid", "all", "pool"].into_iter().filter(|k| options.get(*k).is_some_and(|v| v != "0")).collect();
    match chosen.as_slice() {
        [] => {
            return Err(PveError::server("one of 'vmid', 'all' or 'pool' is required"));
        }
        [first, second, ..] => {
            return Err(PveError::param(second, format!("option conflicts with option '{first}'")));
        }
        _ => {}
    }
    if options.contains_key("exclude") && chosen != ["all"] {
        return Err(PveError::param("exclude", "option only makes sense in combination with option 'all'"));
    }
    Ok(())
}

fn job_row(id: &str, options: &Config) -> Value {
    let properties = crate::schema::SCHEMA
        .methods()
        .find(|m| m.key() == "POST /cluster/backup")
        .and_then(|m| m.parameters["properties"].as_object().cloned());
    let mut row = json!({ "id": id, "type": "vzdump", "enabled": 1 });
    for (k, v) in options {
        row[k] = crate::schema::typed_value(properties.as_ref(), k, v);
    }
    let enabled = options.get("enabled").is_none_or(|v| v == "1");
    if enabled
        && let Some(next) =
            options.get("schedule").and_then(|s| s.parse::<CalendarEvent>().ok()).and_then(|e| e.next_after(chrono::Utc::now()))
    {
        row["next-run"] = json!(next.timestamp());
    }
    row
}

pub async fn backup_jobs(r: ApiRequest) -> ApiResult {
    let jobs = r.emulator.cluster().backup_jobs.clone();
    Ok(Value::Array(jobs.iter().map(|(id, o)| job_row(id, o)).collect()))
}

pub async fn backup_job(r: ApiRequest) -> ApiResult {
    let id = r.required("id")?;
    let job = r.emulator.cluster().backup_jobs.get(id).cloned().ok_or_else(|| PveError::server(format!("job '{id}' does not exist")))?;
    Ok(job_row(id, &job))
}

fn check_storage(r: &ApiRequest, options: &Config) -> Result<(), PveError> {
    if let Some(storage) = options.get("storage") {
        let cluster = r.emulator.cluster();
        let def = cluster.storage(storage).ok_or_else(|| PveError::server(format!("storage '{storage}' does not exist")))?;
        if !def.content.iter().any(|c| c == "backup") {
            return Err(PveError::server(format!("storage '{storage}' does not support backup content")));
        }
    }
    Ok(())
}

pub async fn create_backup_job(r: ApiRequest) -> ApiResult {
    let id = match r.param("id") {
        Some(id) => id.to_string(),
        None => format!("backup-{:08x}-{:04x}", rand::random::<u32>(), rand::random::<u16>()),
    };
    let mut options = job_options(&r);
    options.entry("schedule".into()).or_insert_with(|| "00:00".into());
    check_job(&options)?;
    check_storage(&r, &options)?;
    let mut cluster = r.emulator.cluster();
    if cluster.backup_jobs.contains_key(&id) {
        return Err(PveError::server(format!("Job '{id}' already exists")));
    }
    cluster.backup_jobs.insert(id, options);
    Ok(Value::Null)
}

pub async fn update_backup_job(r: ApiRequest) -> ApiResult {
    let id = r.required("id")?.to_string();
    let mut options =
        r.emulator.cluster().backup_jobs.get(&id).cloned().ok_or_else(|| PveError::server(format!("job '{id}' does not exist")))?;
    for key in r.param("delete").map(|d| pve_api::tags::split_tag_list(d).map(str::to_string).collect::<Vec<_>>()).unwrap_or_default() {
        options.remove(&key);
    }
    // Choosing a new selection replaces the old one.
    if ["vmid", "all", "pool"].iter().any(|k| r.param(k).is_some()) {
        for key in ["vmid", "all", "pool"] {
            options.remove(key);
        }
    }
    options.extend(job_options(&r));
    check_job(&options)?;
    check_storage(&r, &options)?;
    r.emulator.cluster().backup_jobs.insert(id, options);
    Ok(Value::Null)
}

pub async fn delete_backup_job(r: ApiRequest) -> ApiResult {
    let id = r.required("id")?;
    r.emulator.cluster().backup_jobs.remove(id).ok_or_else(|| PveError::server(format!("job '{id}' does not exist")))?;
    Ok(Value::Null)
}
