//! HA endpoints (`/cluster/ha/*`): resources, rules, groups (refused once migrated, as in PVE 9),
//! status, arming and disarming. The rules and the manager are in `crate::model` (`ha`).

use serde_json::{Value, json};

use super::{ApiRequest, ApiResult};
use crate::error::PveError;
use crate::model::{Cluster, Config, HA_OPTIONS, HaDisarm, HaRule};
use crate::state::now;

pub async fn index(_: ApiRequest) -> ApiResult {
    Ok(json!([{ "id": "status" }, { "id": "resources" }, { "id": "groups" }, { "id": "rules" }]))
}

fn groups_enabled(r: &ApiRequest) -> bool {
    r.emulator.config.ha_groups
}

// ---- resources ----

fn resource_row(cluster: &Cluster, sid: &str, options: &Config, hide_group: bool) -> Value {
    let mut row = json!({ "sid": sid, "type": sid.split(':').next().unwrap_or("vm"), "state": "started" });
    for (k, v) in options {
        if k == "group" && hide_group {
            continue;
        }
        row[k] = match k.as_str() {
            "max_restart" | "max_relocate" | "failback" => v.parse::<i64>().map(Value::from).unwrap_or(json!(v)),
            _ => json!(v),
        };
    }
    if let Some(group) = options.get("group").filter(|g| !hide_group && !cluster.ha_groups.contains_key(*g)) {
        row["errors"] = json!({ "group": format!("group '{group}' does not exist") });
    }
    row["digest"] = json!(cluster.ha_resources_digest());
    row
}

/// The HA options the request sets.
fn resource_options(r: &ApiRequest) -> Config {
    HA_OPTIONS.iter().filter_map(|k| r.param(k).map(|v| (k.to_string(), v.to_string()))).collect()
}

pub async fn resources(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    let hide_group = cluster.ha_groups_migrated(groups_enabled(&r));
    let filter = r.param("type");
    Ok(Value::Array(
        cluster
            .ha_resources
            .iter()
            .filter(|(sid, _)| filter.is_none_or(|t| sid.split(':').next() == Some(t)))
            .map(|(sid, o)| resource_row(&cluster, sid, o, hide_group))
            .collect(),
    ))
}

pub async fn resource(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    let hide_group = cluster.ha_groups_migrated(groups_enabled(&r));
    let (sid, options) = cluster.ha_resource(r.required("sid")?)?;
    Ok(resource_row(&cluster, &sid, options, hide_group))
}

pub async fn create_resource(r: ApiRequest) -> ApiResult {
    r.emulator.cluster().create_ha_resource(r.required("sid")?, r.param("type"), resource_options(&r), groups_enabled(&r))?;
    r.emulator.ha_kick();
    Ok(Value::Null)
}

pub async fn update_resource(r: ApiRequest) -> ApiResult {
    r.emulator.cluster().update_ha_resource(
        r.required("sid")?,
        r.param("type"),
        r.param("digest"),
        &r.list("delete"),
        resource_options(&r),
        groups_enabled(&r),
    )?;
    r.emulator.ha_kick();
    Ok(Value::Null)
}

pub async fn delete_resource(r: ApiRequest) -> ApiResult {
    let purge = r.param("purge").is_none_or(|p| p == "1");
    r.emulator.cluster().delete_ha_resource(r.required("sid")?, purge)?;
    Ok(Value::Null)
}

/// `POST /cluster/ha/resources/{sid}/migrate` and `…/relocate`: the request is queued for the
/// manager; the answer says what moves along and what stands in the way.
pub async fn motion(r: ApiRequest) -> ApiResult {
    let task = if r.key.ends_with("/relocate") { "relocate" } else { "migrate" };
    let node = r.required("node")?.to_string();
    let (sid, comigrated, blocking) = r.emulator.cluster().queue_ha_motion(task, r.required("sid")?, &node)?;
    r.emulator.ha_kick();
    let mut answer = json!({ "sid": sid, "requested-node": node });
    if !comigrated.is_empty() {
        answer["comigrated-resources"] = json!(comigrated);
    }
    if !blocking.is_empty() {
        answer["blocking-resources"] = Value::Array(blocking.iter().map(|b| json!({ "sid": b, "cause": "resource-affinity" })).collect());
    }
    Ok(answer)
}

// ---- rules ----

fn rule_row(id: &str, rule: &HaRule, errors: Option<&std::collections::BTreeMap<String, String>>, digest: &str) -> Value {
    let mut row = json!({
        "rule": id, "type": rule.rule_type, "resources": rule.resources_text(), "order": rule.order, "digest": digest,
    });
    if rule.rule_type == "node-affinity" {
        row["nodes"] = json!(rule.nodes_text());
    }
    if let Some(strict) = rule.strict {
        row["strict"] = json!(u8::from(strict));
    }
    if let Some(affinity) = &rule.affinity {
        row["affinity"] = json!(affinity);
    }
    if rule.disable {
        row["disable"] = json!(1);
    }
    if let Some(comment) = &rule.comment {
        row["comment"] = json!(comment);
    }
    if let Some(errors) = errors {
        row["errors"] = json!(errors);
    }
    row
}

/// A rule's settings from the request: everything but its ID, `digest` and `delete`.
fn rule_params(r: &ApiRequest) -> Config {
    r.params.iter().filter(|(k, _)| !matches!(k.as_str(), "rule" | "digest" | "delete")).map(|(k, v)| (k.clone(), v.clone())).collect()
}

pub async fn rules(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    let digest = cluster.ha_rules_digest();
    let (filter_type, filter_sid) = (r.param("type"), r.param("resource"));
    Ok(Value::Array(
        cluster
            .ha_rule_rows()
            .iter()
            .filter(|(_, rule, _)| filter_type.is_none_or(|t| rule.rule_type == t) && filter_sid.is_none_or(|s| rule.resources.contains(s)))
            .map(|(id, rule, errors)| rule_row(id, rule, errors.as_ref(), &digest))
            .collect(),
    ))
}

pub async fn rule(r: ApiRequest) -> ApiResult {
    let id = r.required("rule")?;
    let cluster = r.emulator.cluster();
    let digest = cluster.ha_rules_digest();
    let rows = cluster.ha_rule_rows();
    let (id, rule, errors) =
        rows.iter().find(|(rid, _, _)| rid == id).ok_or_else(|| PveError::server(format!("no such ha rule '{id}'")))?;
    Ok(rule_row(id, rule, errors.as_ref(), &digest))
}

pub async fn create_rule(r: ApiRequest) -> ApiResult {
    let id = r.required("rule")?;
    r.emulator.cluster().create_ha_rule(id, rule_params(&r), groups_enabled(&r))?;
    r.emulator.ha_kick();
    Ok(Value::Null)
}

pub async fn update_rule(r: ApiRequest) -> ApiResult {
    let id = r.required("rule")?;
    r.emulator.cluster().update_ha_rule(id, rule_params(&r), r.param("digest"), &r.list("delete"), groups_enabled(&r))?;
    r.emulator.ha_kick();
    Ok(Value::Null)
}

pub async fn delete_rule(r: ApiRequest) -> ApiResult {
    r.emulator.cluster().delete_ha_rule(r.required("rule")?);
    r.emulator.ha_kick();
    Ok(Value::Null)
}

// ---- groups ----

/// PVE 9 refuses the group endpoints once groups are migrated to rules
/// (pve-ha-manager `PVE::API2::HA::Groups`).
fn groups_refused(r: &ApiRequest, verb: &str) -> Result<(), PveError> {
    if groups_enabled(r) {
        return Ok(());
    }
    Err(PveError::server(format!("cannot {verb}: ha groups have been migrated to rules")))
}

fn group_row(id: &str, options: &Config) -> Value {
    let mut row = json!({ "group": id, "type": "group" });
    for (k, v) in options {
        row[k] = match k.as_str() {
            "restricted" | "nofailback" => v.parse::<i64>().map(Value::from).unwrap_or(json!(v)),
            _ => json!(v),
        };
    }
    row["digest"] = json!(hex::encode(<sha1::Sha1 as sha1::Digest>::digest(format!("{options:?}").as_bytes())));
    row
}

fn group_options(r: &ApiRequest) -> Config {
    ["nodes", "restricted", "nofailback", "comment"].iter().filter_map(|k| r.param(k).map(|v| (k.to_string(), v.to_string()))).collect()
}

pub async fn groups(r: ApiRequest) -> ApiResult {
    groups_refused(&r, "index groups")?;
    let cluster = r.emulator.cluster();
    Ok(Value::Array(cluster.ha_groups.iter().map(|(id, o)| group_row(id, o)).collect()))
}

pub async fn group(r: ApiRequest) -> ApiResult {
    groups_refused(&r, "read group")?;
    let id = r.required("group")?;
    let cluster = r.emulator.cluster();
    Ok(group_row(id, cluster.ha_group(id)?))
}

pub async fn create_group(r: ApiRequest) -> ApiResult {
    groups_refused(&r, "create group")?;
    if r.param("type").is_some_and(|t| t != "group") {
        return Err(PveError::server("types does not match"));
    }
    r.emulator.cluster().create_ha_group(r.required("group")?, group_options(&r))?;
    r.emulator.ha_kick();
    Ok(Value::Null)
}

pub async fn update_group(r: ApiRequest) -> ApiResult {
    groups_refused(&r, "update group")?;
    r.emulator.cluster().update_ha_group(r.required("group")?, &r.list("delete"), group_options(&r))?;
    r.emulator.ha_kick();
    Ok(Value::Null)
}

pub async fn delete_group(r: ApiRequest) -> ApiResult {
    groups_refused(&r, "delete group")?;
    r.emulator.cluster().delete_ha_group(r.required("group")?)?;
    Ok(Value::Null)
}

// ---- status ----

pub async fn status_index(_: ApiRequest) -> ApiResult {
    Ok(json!([{ "name": "current" }, { "name": "manager_status" }, { "name": "disarm-ha" }, { "name": "arm-ha" }]))
}

/// `GET /cluster/ha/status/current`: quorum, the CRM master, fencing, each node's LRM and each
/// resource, as `PVE::API2::HA::Status` `status` lists them.
pub async fn status_current(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    let master = cluster.nodes.iter().find(|n| n.online).map(|n| n.name.clone()).unwrap_or_else(|| "pve1".into());
    let stamp = now();
    let mut rows = vec![json!({ "id": "quorum", "type": "quorum", "node": master, "status": "OK", "quorate": 1 })];
    let active = !cluster.ha_resources.is_empty();
    rows.push(json!({
        "id": "master", "type": "master", "node": master, "timestamp": stamp,
        "status": format!("{master} ({}, {})", if active { "active" } else { "idle" }, chrono::Utc::now().format("%a %b %e %H:%M:%S %Y")),
    }));
    match &cluster.ha_manager.disarm {
        Some(HaDisarm { mode, state }) => rows.push(json!({
            "id": "fencing", "type": "fencing", "node": master, "armed-state": state, "resource_mode": mode,
            "status": format!("{state}, resource mode: {mode}"),
        })),
        None => rows.push(json!({
            "id": "fencing", "type": "fencing", "node": master, "armed-state": if active { "armed" } else { "standby" },
            "status": if active { "armed" } else { "standby" },
        })),
    }
    for node in &cluster.nodes {
        let busy = cluster.ha_manager.services.values().any(|s| s.node == node.name);
        let state = if !node.online {
            "old timestamp - dead?"
        } else if busy {
            "active"
        } else {
            "idle"
        };
        rows.push(json!({ "id": format!("lrm:{}", node.name), "type": "lrm", "node": node.name, "timestamp": stamp, "status": format!("{} ({state})", node.name) }));
    }
    for (sid, options) in &cluster.ha_resources {
        let service = cluster.ha_manager.services.get(sid);
        let node = service
            .map(|s| s.node.clone())
            .or_else(|| Cluster::ha_guest_vmid(sid).and_then(|v| cluster.guests.get(&v)).map(|g| g.node.clone()))
            .unwrap_or_default();
        let request_state = options.get("state").cloned().unwrap_or_else(|| "started".into());
        let crm_state = service.map(|s| s.state.clone()).unwrap_or_else(|| "queued".into());
        let mut row = json!({
            "id": format!("service:{sid}"), "type": "service", "sid": sid, "node": node, "crm_state": crm_state,
            "request_state": request_state, "state": crm_state, "status": format!("{sid} ({node}, {crm_state})"),
            "max_restart": options.get("max_restart").and_then(|v| v.parse::<i64>().ok()).unwrap_or(1),
            "max_relocate": options.get("max_relocate").and_then(|v| v.parse::<i64>().ok()).unwrap_or(1),
            "failback": options.get("failback").and_then(|v| v.parse::<i64>().ok()).unwrap_or(1),
        });
        if let Some(HaDisarm { mode, .. }) = &cluster.ha_manager.disarm {
            row["resource_mode"] = json!(mode);
        }
        rows.push(row);
    }
    Ok(Value::Array(rows))
}

/// `GET /cluster/ha/status/manager_status`: the manager's own status.
pub async fn manager_status(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    let master = cluster.nodes.iter().find(|n| n.online).map(|n| n.name.clone()).unwrap_or_else(|| "pve1".into());
    let node_status: serde_json::Map<String, Value> =
        cluster.nodes.iter().map(|n| (n.name.clone(), json!(if n.online { "online" } else { "unknown" }))).collect();
    let service_status: serde_json::Map<String, Value> = cluster
        .ha_manager
        .services
        .iter()
        .map(|(sid, s)| {
            let mut row = json!({ "state": s.state, "node": s.node });
            if let Some(target) = &s.target {
                row["target"] = json!(target);
            }
            (sid.clone(), row)
        })
        .collect();
    let mut status = json!({ "master_node": master, "node_status": node_status, "service_status": service_status, "timestamp": now() });
    if let Some(disarm) = &cluster.ha_manager.disarm {
        status["disarm"] = json!({ "mode": disarm.mode, "state": disarm.state });
    }
    Ok(json!({ "manager_status": status, "quorum": { "node": master, "quorate": "1" } }))
}

/// `POST /cluster/ha/status/disarm-ha`: HA stops acting (watchdogs released); resources are
/// frozen or, with `ignore`, handled as if unmanaged.
pub async fn disarm(r: ApiRequest) -> ApiResult {
    let mode = r.required("resource-mode")?.to_string();
    r.emulator.cluster().disarm_ha(&mode);
    r.emulator.ha_kick();
    Ok(Value::Null)
}

pub async fn arm(r: ApiRequest) -> ApiResult {
    r.emulator.cluster().arm_ha();
    r.emulator.ha_kick();
    Ok(Value::Null)
}
