//! Snapshot trees: each snapshot records its parent; the guest's `parent` key names the snapshot
//! the current state grew from.

use pve_api::GuestKind;
use serde_json::{Value, json};

use super::{ApiRequest, not_found};
use crate::model::Snapshot;
use crate::state::{ApiResult, PveError, now};

fn prefix(kind: GuestKind) -> &'static str {
    if kind == GuestKind::Qemu { "qm" } else { "vz" }
}

fn locked_error(kind: GuestKind, lock: &str) -> PveError {
    PveError::server(format!("{} is locked ({lock})", if kind == GuestKind::Qemu { "VM" } else { "CT" }))
}

pub async fn list(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let mut rows: Vec<Value> = guest
        .snapshots
        .iter()
        .map(|(name, s)| {
            let mut row = json!({ "name": name, "description": s.description, "snaptime": s.snaptime });
            if let Some(parent) = &s.parent {
                row["parent"] = json!(parent);
            }
            if guest.kind == GuestKind::Qemu {
                row["vmstate"] = json!(u8::from(s.vmstate));
            }
            row
        })
        .collect();
    let mut current = json!({ "name": "current", "description": "You are here!", "digest": guest.digest() });
    if guest.kind == GuestKind::Qemu {
        current["running"] = json!(u8::from(guest.running));
    }
    if let Some(parent) = guest.config.get("parent") {
        current["parent"] = json!(parent);
    }
    rows.push(current);
    Ok(Value::Array(rows))
}

pub async fn create(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let (kind, vmid, node) = (guest.kind, guest.vmid, guest.node.clone());
    let name = r.required("snapname")?.to_string();
    if matches!(name.as_str(), "current" | "pending") {
        return Err(PveError::param("snapname", format!("invalid configuration ID '{name}'")));
    }
    let guard = r.emulator.flock(kind, vmid).await?;
    {
        let mut cluster = r.emulator.cluster();
        let guest = cluster.guests.get_mut(&vmid).ok_or_else(|| not_found(kind, &node, vmid))?;
        if let Some(lock) = guest.lock() {
            return Err(locked_error(kind, lock));
        }
        if guest.snapshots.contains_key(&name) {
            return Err(PveError::server(format!("snapshot name '{name}' already used")));
        }
        if guest.is_template() {
            return Err(PveError::server("you can't snapshot a template"));
        }
        guest.config.insert("lock".into(), "snapshot".into());
    }
    let description = r.param("description").unwrap_or("").to_string();
    let vmstate = r.flag("vmstate") && kind == GuestKind::Qemu;
    let upid = r.emulator.spawn_task(
        &node,
        &format!("{}snapshot", prefix(kind)),
        &vmid.to_string(),
        &r.user,
        1,
        vec![guard],
        Box::new(move |cluster, log, fail| {
            let guest = cluster.guests.get_mut(&vmid).ok_or("guest vanished")?;
            guest.config.remove("lock");
            if fail {
                return Err(format!("snapshot '{name}' failed: injected task failure"));
            }
            let mut config = guest.config.clone();
            config.remove("parent");
            let parent = guest.config.get("parent").cloned();
            guest
                .snapshots
                .insert(name.clone(), Snapshot { config, description, snaptime: now(), parent, vmstate: vmstate && guest.running });
            guest.config.insert("parent".into(), name.clone());
            log.push(format!("snapshot '{name}' created"));
            Ok(())
        }),
    );
    Ok(json!(upid.to_string()))
}

pub async fn delete(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let (kind, vmid, node) = (guest.kind, guest.vmid, guest.node.clone());
    let name = r.required("snapname")?.to_string();
    let guard = r.emulator.flock(kind, vmid).await?;
    {
        let mut cluster = r.emulator.cluster();
        let guest = cluster.guests.get_mut(&vmid).ok_or_else(|| not_found(kind, &node, vmid))?;
        if !guest.snapshots.contains_key(&name) {
            return Err(PveError::server(format!("snapshot '{name}' does not exist")));
        }
        if let Some(lock) = guest.lock()
            && !r.flag("force")
        {
            return Err(locked_error(kind, lock));
        }
        guest.config.insert("lock".into(), "snapshot-delete".into());
    }
    let upid = r.emulator.spawn_task(
        &node,
        &format!("{}delsnapshot", prefix(kind)),
        &vmid.to_string(),
        &r.user,
        1,
        vec![guard],
        Box::new(move |cluster, _, fail| {
            let guest = cluster.guests.get_mut(&vmid).ok_or("guest vanished")?;
            guest.config.remove("lock");
            if fail {
                return Err(format!("delete snapshot '{name}' failed: injected task failure"));
            }
            let removed = guest.snapshots.remove(&name).ok_or("snapshot vanished")?;
            for snapshot in guest.snapshots.values_mut().filter(|s| s.parent.as_deref() == Some(name.as_str())) {
                snapshot.parent = removed.parent.clone();
            }
            if guest.config.get("parent") == Some(&name) {
                match removed.parent {
                    Some(parent) => guest.config.insert("parent".into(), parent),
                    None => guest.config.remove("parent"),
                };
            }
            Ok(())
        }),
    );
    Ok(json!(upid.to_string()))
}

pub async fn rollback(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let (kind, vmid, node) = (guest.kind, guest.vmid, guest.node.clone());
    let name = r.required("snapname")?.to_string();
    let start = r.flag("start");
    let guard = r.emulator.flock(kind, vmid).await?;
    {
        let mut cluster = r.emulator.cluster();
        let guest = cluster.guests.get_mut(&vmid).ok_or_else(|| not_found(kind, &node, vmid))?;
        if !guest.snapshots.contains_key(&name) {
            return Err(PveError::server(format!("snapshot '{name}' does not exist")));
        }
        if let Some(lock) = guest.lock() {
            return Err(locked_error(kind, lock));
        }
        guest.config.insert("lock".into(), "rollback".into());
    }
    let upid = r.emulator.spawn_task(
        &node,
        &format!("{}rollback", prefix(kind)),
        &vmid.to_string(),
        &r.user,
        2,
        vec![guard],
        Box::new(move |cluster, log, fail| {
            let guest = cluster.guests.get_mut(&vmid).ok_or("guest vanished")?;
            guest.config.remove("lock");
            if fail {
                return Err(format!("rollback to '{name}' failed: injected task failure"));
            }
            let snapshot = guest.snapshots.get(&name).ok_or("snapshot vanished")?.clone();
            guest.config = snapshot.config.clone();
            guest.config.insert("parent".into(), name.clone());
            guest.pending.clear();
            guest.pending_delete.clear();
            // Without saved RAM the guest comes back stopped (unless asked to start).
            let running = snapshot.vmstate || start;
            guest.running = running;
            guest.started_at = running.then(now);
            log.push(format!("rolled back to snapshot '{name}'"));
            Ok(())
        }),
    );
    Ok(json!(upid.to_string()))
}

pub async fn config(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let name = r.required("snapname")?;
    let snapshot = guest.snapshots.get(name).ok_or_else(|| PveError::server(format!("snapshot '{name}' does not exist")))?;
    let mut out: serde_json::Map<String, Value> = snapshot.config.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    out.insert("snaptime".into(), json!(snapshot.snaptime));
    out.insert("description".into(), json!(snapshot.description));
    if let Some(parent) = &snapshot.parent {
        out.insert("parent".into(), json!(parent));
    }
    Ok(Value::Object(out))
}

pub async fn update(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let name = r.required("snapname")?.to_string();
    let mut cluster = r.emulator.cluster();
    let entry = cluster.guests.get_mut(&guest.vmid).ok_or_else(|| not_found(guest.kind, &guest.node, guest.vmid))?;
    let snapshot = entry.snapshots.get_mut(&name).ok_or_else(|| PveError::server(format!("snapshot '{name}' does not exist")))?;
    if let Some(description) = r.param("description") {
        snapshot.description = description.to_string();
    }
    Ok(Value::Null)
}
