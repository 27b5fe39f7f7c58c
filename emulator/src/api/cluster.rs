//! Cluster-wide endpoints: version, login, resources, nextid, nodes, pools, HA resources.

use serde_json::{Value, json};

use super::{ApiRequest, ApiResult};
use crate::auth::make_ticket;
use crate::error::PveError;
use crate::model::PoolUpdate;
use crate::state::now;

pub async fn version(_: ApiRequest) -> ApiResult {
    Ok(json!({ "version": "9.1.3", "release": "9.1", "repoid": "6d3ac3d6b4c6a1f2", "console": "html5" }))
}

/// `GET /nodes/{node}/version`: the node's pve-manager version (pve-manager `PVE::API2::Nodes`
/// `version`, from `PVE::pvecfg::version_info`), without the cluster-wide `console` setting.
pub async fn node_version(r: ApiRequest) -> ApiResult {
    r.node()?;
    Ok(json!({ "version": "9.1.3", "release": "9.1", "repoid": "6d3ac3d6b4c6a1f2" }))
}

/// `GET /nodes/{node}/syslog`: what the HA manager (pve-ha-crm, on the master node) logged.
pub async fn node_syslog(r: ApiRequest) -> ApiResult {
    let node = r.node()?.to_string();
    let cluster = r.emulator.cluster();
    let master = cluster.nodes.iter().find(|n| n.online).map(|n| n.name.clone()).unwrap_or_default();
    let lines: Vec<String> = if node == master && r.param("service").is_none_or(|s| s == "pve-ha-crm") {
        cluster
            .ha_manager
            .log
            .iter()
            .map(|(time, line)| {
                let stamp = chrono::DateTime::from_timestamp(*time, 0).map(|t| t.format("%b %d %H:%M:%S").to_string()).unwrap_or_default();
                format!("{stamp} {node} pve-ha-crm[2001]: {line}")
            })
            .collect()
    } else {
        Vec::new()
    };
    let start: usize = r.param("start").and_then(|s| s.parse().ok()).unwrap_or(0);
    let limit: usize = r.param("limit").and_then(|s| s.parse().ok()).unwrap_or(50);
    let mut rows: Vec<Value> = lines.into_iter().enumerate().skip(start).take(limit).map(|(i, t)| json!({ "n": i + 1, "t": t })).collect();
    if rows.is_empty() {
        rows.push(json!({ "n": 1, "t": "no content" }));
    }
    Ok(Value::Array(rows))
}

pub async fn ticket(r: ApiRequest) -> ApiResult {
    let username = r.required("username")?;
    let userid = match (username.contains('@'), r.param("realm")) {
        (false, Some(realm)) => format!("{username}@{realm}"),
        _ => username.to_string(),
    };
    let password = r.required("password")?;
    let cluster = r.emulator.cluster();
    // A password from --users, or one set through the API; either way the user must exist and be
    // enabled and unexpired (AccessControl.pm `authenticate_user`, `check_user_enabled`).
    let known = r.emulator.users.password_matches(&userid, password) | cluster.access.password_matches(&userid, password);
    if !known || !cluster.access.is_active(&userid, now()) {
        return Err(PveError::status(401, "authentication failure"));
    }
    let (ticket, csrf) = make_ticket(&r.emulator.ticket_secret, &userid);
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
            if !node.online {
                rows.push(offline_node_row(node));
                continue;
            }
            let mut row = json!({
                "id": format!("node/{}", node.name), "type": "node", "node": node.name, "status": "online",
                "maxcpu": node.cpus, "cpu": 0.03, "maxmem": node.memory, "mem": node.memory / 8, "maxdisk": 100u64 << 30, "disk": 12u64 << 30,
                "uptime": uptime, "level": "", "cgroup-mode": 2,
            });
            hide_figures_unless_audited(&cluster, &r.user, &node.name, &mut row);
            rows.push(row);
        }
    }
    if filter.is_none_or(|f| f == "vm") {
        // Guests with VM.Audit, storages with Datastore.Audit, pools with Pool.Audit.
        for guest in cluster.guests.values().filter(|g| cluster.holds(&r.user, &format!("/vms/{}", g.vmid), &["VM.Audit"], false)) {
            let ha = cluster.ha_sid_of(guest.vmid);
            // A guest of a node that is down: only what its config in pmxcfs says (see
            // model::node_loss); name, status and sizes come from the node's RRD data, gone.
            let mut row = if cluster.node_offline(&guest.node) {
                json!({ "id": format!("{}/{}", guest.kind, guest.vmid), "type": guest.kind.as_str(), "vmid": guest.vmid, "node": guest.node, "status": "unknown" })
            } else {
                json!({
                "id": format!("{}/{}", guest.kind, guest.vmid), "type": guest.kind.as_str(), "vmid": guest.vmid, "node": guest.node,
                "name": guest.name().unwrap_or(""), "status": if guest.running { "running" } else { "stopped" },
                "template": u8::from(guest.is_template()), "maxcpu": guest.cpus(), "maxmem": guest.max_mem(), "maxdisk": guest.max_disk(),
                "cpu": 0, "mem": if guest.running { guest.max_mem() / 3 } else { 0 }, "disk": 0, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
                "uptime": guest.started_at.map(|s| now() - s).unwrap_or(0),
                })
            };
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
            for (id, storage) in
                cluster.storages.iter().filter(|(id, _)| cluster.holds(&r.user, &format!("/storage/{id}"), &["Datastore.Audit"], false))
            {
                if !node.online {
                    // pve-manager `extract_storage_stats` without the node's RRD data.
                    rows.push(json!({
                        "id": format!("storage/{}/{id}", node.name), "type": "storage", "storage": id, "node": node.name, "status": "unknown",
                        "plugintype": storage.storage_type, "content": storage.content.join(","), "shared": u8::from(storage.shared),
                    }));
                    continue;
                }
                rows.push(json!({
                    "id": format!("storage/{}/{id}", node.name), "type": "storage", "storage": id, "node": node.name, "status": "available",
                    "plugintype": storage.storage_type, "content": storage.content.join(","), "shared": u8::from(storage.shared),
                    "maxdisk": storage.total, "disk": cluster.used_bytes(&node.name, id),
                }));
            }
        }
    }
    if filter.is_none() {
        for id in cluster.pools.keys().filter(|id| cluster.holds(&r.user, &format!("/pool/{id}"), &["Pool.Audit"], false)) {
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

/// Every node is listed, its figures only with `Sys.Audit` on it (pve-manager `API2Tools.pm`
/// `extract_node_stats` with `exclude_stats`, for `/nodes` and `/cluster/resources`).
fn hide_figures_unless_audited(cluster: &crate::model::Cluster, authid: &str, node: &str, row: &mut Value) {
    const FIGURES: [&str; 7] = ["uptime", "cpu", "mem", "disk", "maxcpu", "maxmem", "maxdisk"];
    if !cluster.holds(authid, &format!("/nodes/{node}"), &["Sys.Audit"], false)
        && let Some(fields) = row.as_object_mut()
    {
        fields.retain(|k, _| !FIGURES.contains(&k.as_str()));
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
                if !n.online {
                    let mut row = offline_node_row(n);
                    row["ssl_fingerprint"] = json!(NODE_FINGERPRINT);
                    return row;
                }
                let mut row = json!({
                    "node": n.name, "id": format!("node/{}", n.name), "type": "node", "status": "online",
                    "maxcpu": n.cpus, "cpu": 0.03, "maxmem": n.memory, "mem": n.memory / 8, "maxdisk": 100u64 << 30, "disk": 12u64 << 30,
                    "uptime": uptime, "level": "", "ssl_fingerprint": NODE_FINGERPRINT,
                });
                hide_figures_unless_audited(&cluster, &r.user, &n.name, &mut row);
                row
            })
            .collect(),
    ))
}

/// Every node's certificate fingerprint, as `/nodes` lists it (pmxcfs keeps it for nodes that are down).
const NODE_FINGERPRINT: &str = "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99";

/// A node that is down, in `/nodes` and `/cluster/resources`: pve-manager `PVE/API2Tools.pm`
/// `extract_node_stats` for a member not online, whose RRD data pmxcfs dropped (model::node_loss).
fn offline_node_row(node: &crate::model::Node) -> Value {
    json!({ "id": format!("node/{}", node.name), "type": "node", "node": node.name, "status": "offline" })
}

pub async fn node_status(r: ApiRequest) -> ApiResult {
    let node_name = r.node()?.to_string();
    let cluster = r.emulator.cluster();
    let node = cluster.node(&node_name).ok_or_else(|| PveError::server("no such node"))?;
    Ok(json!({
        "uptime": (now() - r.emulator.boot_time).max(0) + 86_400, "loadavg": ["0.12", "0.10", "0.08"], "cpu": 0.03, "wait": 0,
        "kversion": "Linux 6.17.2-1-pve #1 SMP PREEMPT_DYNAMIC", "pveversion": "pve-manager/9.1.3/6d3ac3d6b4c6a1f2",
        "cpuinfo": { "cpus": node.cpus, "cores": node.cpus / 2, "sockets": 1, "model": "Emulated CPU", "mhz": "3000.000", "hvm": "1" },
        // `available` (MemAvailable) counts reclaimable cache too, so it is at least `free`.
        "memory": { "total": node.memory, "used": node.memory / 8, "free": node.memory - node.memory / 8, "available": node.memory - node.memory / 10 },
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
    // Pools the caller may audit (pve-access-control `Pool.pm` index).
    Ok(Value::Array(
        cluster
            .pools
            .iter()
            .filter(|(id, _)| cluster.holds(&r.user, &format!("/pool/{id}"), &["Pool.Audit"], false))
            .map(|(id, p)| json!({ "poolid": id, "comment": p.comment }))
            .collect(),
    ))
}

pub async fn pool(r: ApiRequest) -> ApiResult {
    let id = r.required("poolid")?;
    let cluster = r.emulator.cluster();
    let pool = cluster.pool(id)?;
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
    let id = r.required("poolid")?;
    r.emulator.cluster().create_pool(id, r.param("comment").unwrap_or(""))?;
    Ok(Value::Null)
}

pub async fn update_pool(r: ApiRequest) -> ApiResult {
    let id = r.required("poolid")?;
    let update = PoolUpdate {
        comment: r.param("comment").map(str::to_string),
        vms: r.list("vms").iter().filter_map(|x| x.parse().ok()).collect(),
        storage: r.list("storage"),
        remove: r.flag("delete"),
        allow_move: r.flag("allow-move"),
    };
    // Adding or removing a member needs the right to change its permissions (pve-access-control
    // `Pool.pm` update_pool, `check_perm_modify`).
    let members = update.vms.iter().map(|vmid| format!("/vms/{vmid}")).chain(update.storage.iter().map(|s| format!("/storage/{s}")));
    for path in members {
        r.check_perm_modify(&path)?;
    }
    r.emulator.cluster().update_pool(id, update)?;
    Ok(Value::Null)
}

pub async fn delete_pool(r: ApiRequest) -> ApiResult {
    let id = r.required("poolid")?;
    let mut cluster = r.emulator.cluster();
    cluster.delete_pool(id)?;
    // A deleted pool's ACL entries go with it (AccessControl.pm `delete_pool_acl`).
    cluster.access.forget_paths_under(&format!("/pool/{id}"));
    Ok(Value::Null)
}
