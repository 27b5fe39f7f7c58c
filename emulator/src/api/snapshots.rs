//! Snapshot endpoints: the tree as a list (with `current`), take, delete, roll back, describe.

use pve_api::GuestKind;
use serde_json::{Value, json};

use super::{ApiRequest, ApiResult};
use crate::error::PveError;

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
    let name = r.required("snapname")?.to_string();
    let description = r.param("description").unwrap_or("").to_string();
    let upid = r.emulator.create_snapshot(&guest, name, description, r.flag("vmstate"), &r.user).await?;
    Ok(json!(upid.to_string()))
}

pub async fn delete(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let name = r.required("snapname")?.to_string();
    let upid = r.emulator.delete_snapshot(&guest, name, r.flag("force"), &r.user).await?;
    Ok(json!(upid.to_string()))
}

pub async fn rollback(r: ApiRequest) -> ApiResult {
    let guest = r.guest()?;
    let name = r.required("snapname")?.to_string();
    let upid = r.emulator.rollback_snapshot(&guest, name, r.flag("start"), &r.user).await?;
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
    let name = r.required("snapname")?;
    r.emulator.cluster().update_snapshot(guest.kind, &guest.node, guest.vmid, name, r.param("description"))?;
    Ok(Value::Null)
}
