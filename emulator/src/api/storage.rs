//! Storages and their content.

use serde_json::{Value, json};

use super::{ApiRequest, ApiResult};
use crate::error::PveError;
use crate::model::{Download, Volume};
use crate::state::now;

pub async fn storages(r: ApiRequest) -> ApiResult {
    let node = r.node()?.to_string();
    let cluster = r.emulator.cluster();
    Ok(Value::Array(
        cluster
            .storages
            .iter()
            // A storage restricted to some nodes (`nodes` in storage.cfg) is not listed elsewhere.
            .filter(|(_, s)| s.nodes.as_ref().is_none_or(|nodes| nodes.contains(&node)))
            .filter(|(id, s)| r.param("content").is_none_or(|c| c.split(',').all(|c| s.content.iter().any(|x| x == c))) && r.param("storage").is_none_or(|want| want == *id))
            .filter(|(id, _)| may_see_storage(&cluster, &r.user, id))
            .map(|(id, s)| {
                let used = cluster.used_bytes(&node, id);
                json!({
                    "storage": id, "type": s.storage_type, "content": s.content.join(","), "active": 1, "enabled": 1, "shared": u8::from(s.shared),
                    "total": s.total, "used": used, "avail": s.total.saturating_sub(used), "used_fraction": used as f64 / s.total.max(1) as f64,
                })
            })
            .collect(),
    ))
}

/// Storage lists show only storages the caller may audit or allocate on (pve-storage
/// `PVE/API2/Storage/Status.pm` and `Config.pm` index).
fn may_see_storage(cluster: &crate::model::Cluster, authid: &str, id: &str) -> bool {
    cluster.holds(authid, &format!("/storage/{id}"), &["Datastore.Audit", "Datastore.AllocateSpace"], true)
}

fn storage_config_row(id: &str, def: &crate::model::StorageDef) -> Value {
    let mut row = json!({ "storage": id, "type": def.storage_type, "content": def.content.join(","), "shared": u8::from(def.shared), "digest": "0000000000000000000000000000000000000000" });
    match def.storage_type.as_str() {
        "lvmthin" => {
            row["vgname"] = json!("pve");
            row["thinpool"] = json!("data");
        }
        "zfspool" => row["pool"] = json!("rpool/data"),
        _ => {}
    }
    if let Some(nodes) = &def.nodes {
        row["nodes"] = json!(nodes.join(","));
    }
    // Directory storages report where their files live (snippets are written there over SSH).
    if let Some(path) = def.file_root(id) {
        row["path"] = json!(path);
    }
    row
}

pub async fn storage_configs(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    Ok(Value::Array(
        cluster
            .storages
            .iter()
            .filter(|(id, _)| may_see_storage(&cluster, &r.user, id))
            .map(|(id, def)| storage_config_row(id, def))
            .collect(),
    ))
}

pub async fn storage_config(r: ApiRequest) -> ApiResult {
    let id = r.required("storage")?;
    let cluster = r.emulator.cluster();
    let def = cluster.storage(id).ok_or_else(|| PveError::server(format!("storage '{id}' does not exist")))?;
    Ok(storage_config_row(id, def))
}

fn storage_def(r: &ApiRequest) -> Result<(String, String), PveError> {
    let node = r.node()?.to_string();
    let storage = r.required("storage")?.to_string();
    if r.emulator.cluster().storage(&storage).is_none() {
        return Err(PveError::server(format!("storage '{storage}' does not exist")));
    }
    Ok((node, storage))
}

pub async fn storage_status(r: ApiRequest) -> ApiResult {
    let (node, storage) = storage_def(&r)?;
    let cluster = r.emulator.cluster();
    let def = cluster.storage(&storage).ok_or_else(|| PveError::server("storage vanished"))?;
    let used = cluster.used_bytes(&node, &storage);
    Ok(
        json!({ "type": def.storage_type, "content": def.content.join(","), "active": 1, "enabled": 1, "shared": u8::from(def.shared), "total": def.total, "used": used, "avail": def.total.saturating_sub(used) }),
    )
}

fn volume_row(v: &Volume) -> Value {
    let mut row = json!({ "volid": v.volid, "content": v.content, "format": v.format, "size": v.size, "ctime": v.ctime });
    if let Some(vmid) = v.vmid {
        row["vmid"] = json!(vmid);
    }
    if let Some(notes) = &v.notes {
        row["notes"] = json!(notes);
    }
    if let Some(subtype) = &v.subtype {
        row["subtype"] = json!(subtype);
    }
    row
}

pub async fn content(r: ApiRequest) -> ApiResult {
    let (node, storage) = storage_def(&r)?;
    let rows = content_rows(&r, &node, &storage);
    // Only volumes the caller may read (pve-storage `Content.pm` index skips what
    // `check_volume_access` refuses).
    Ok(Value::Array(rows.into_iter().filter(|row| row["volid"].as_str().is_some_and(|v| r.check_volume_access(None, v).is_ok())).collect()))
}

fn content_rows(r: &ApiRequest, node: &str, storage: &str) -> Vec<Value> {
    let cluster = r.emulator.cluster();
    let vmid: Option<u64> = r.param("vmid").and_then(|v| v.parse().ok());
    let mut rows: Vec<Value> = cluster
        .volumes_on(node, storage)
        .filter(|v| r.param("content").is_none_or(|c| c == v.content) && vmid.is_none_or(|id| v.vmid == Some(id)))
        .map(volume_row)
        .collect();
    // Snippets written straight into the storage directory (over SFTP on real nodes) are content too.
    if let Some(dir) = cluster.storage(storage).and_then(|s| s.path.clone())
        && r.param("content").is_none_or(|c| c == "snippets")
        && let Ok(entries) = std::fs::read_dir(std::path::Path::new(&dir).join("snippets"))
    {
        for entry in entries.flatten() {
            let meta = entry.metadata().ok();
            let name = entry.file_name().to_string_lossy().to_string();
            rows.push(json!({
                "volid": format!("{storage}:snippets/{name}"), "content": "snippets", "format": "snippet",
                "size": meta.as_ref().map(|m| m.len()).unwrap_or(0), "ctime": now(),
            }));
        }
    }
    rows
}

pub async fn volume(r: ApiRequest) -> ApiResult {
    let (node, storage) = storage_def(&r)?;
    let volume = full_volid(&storage, r.required("volume")?);
    r.check_volume_access(None, &volume)?;
    let cluster = r.emulator.cluster();
    let v = cluster.find_volume(&node, &volume).ok_or_else(|| PveError::server(format!("volume '{volume}' does not exist")))?;
    let mut row = volume_row(v);
    row["path"] = json!(format!("/mnt/pve/{storage}/{}", volume.split(':').nth(1).unwrap_or("")));
    row["used"] = json!(v.size);
    Ok(row)
}

fn full_volid(storage: &str, volume: &str) -> String {
    if volume.contains(':') { volume.to_string() } else { format!("{storage}:{volume}") }
}

pub async fn delete_volume(r: ApiRequest) -> ApiResult {
    let (node, storage) = storage_def(&r)?;
    let volume = full_volid(&storage, r.required("volume")?);
    check_volume_delete(&r, &storage, &volume)?;
    let upid = r.emulator.delete_volume(&node, &volume, &r.user).await?;
    Ok(upid.map_or(Value::Null, |upid| json!(upid.to_string())))
}

/// pve-storage `Content.pm` delete: `Datastore.Allocate` on the storage, or for a backup
/// `Datastore.AllocateSpace` with `VM.Backup` on its guest.
fn check_volume_delete(r: &ApiRequest, storage: &str, volid: &str) -> Result<(), PveError> {
    let path = format!("/storage/{storage}");
    let backup_of = volid.split_once(":backup/vzdump-").and_then(|(_, rest)| rest.split('-').nth(1)).and_then(|v| v.parse::<u64>().ok());
    match backup_of {
        Some(vmid) if r.may(&format!("/vms/{vmid}"), &["VM.Backup"], false) => r.check(&path, &["Datastore.AllocateSpace"], false),
        _ => r.check(&path, &["Datastore.Allocate"], false),
    }
}

/// `POST …/download-url`: answered with the `download` task's UPID.
pub async fn download_url(r: ApiRequest) -> ApiResult {
    let node = r.node()?.to_string();
    let checksum = match (r.param("checksum-algorithm"), r.param("checksum")) {
        (Some(algorithm), Some(checksum)) => Some((algorithm.to_string(), checksum.to_string())),
        _ => None,
    };
    let download = Download {
        node,
        storage: r.required("storage")?.to_string(),
        content: r.required("content")?.to_string(),
        url: r.required("url")?.to_string(),
        filename: r.required("filename")?.to_string(),
        checksum,
        // The schema's default is 1: only an explicit 0 turns verification off.
        verify_certificates: r.param("verify-certificates") != Some("0"),
        compression: r.param("compression").map(str::to_string),
    };
    let upid = r.emulator.download_url(download, &r.user)?;
    Ok(json!(upid.to_string()))
}
