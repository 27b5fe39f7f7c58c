//! Storages and their content, vzdump backups, and the task endpoints.

use pve_api::GuestKind;
use serde_json::{Value, json};

use super::ApiRequest;
use crate::model::Volume;
use crate::state::{ApiResult, PveError, TaskRecord, now};

pub async fn storages(r: ApiRequest) -> ApiResult {
    let node = r.node()?.to_string();
    let cluster = r.emulator.cluster();
    Ok(Value::Array(
        cluster
            .storages
            .iter()
            .filter(|(id, s)| r.param("content").is_none_or(|c| c.split(',').all(|c| s.content.iter().any(|x| x == c))) && r.param("storage").is_none_or(|want| want == *id))
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
    // Directory storages report where their files live (snippets are written there over SSH).
    if let Some(path) = &def.path {
        row["path"] = json!(path);
    } else if def.storage_type == "dir" || def.storage_type == "nfs" {
        row["path"] = json!(format!("/var/lib/vz/{id}"));
    }
    row
}

pub async fn storage_configs(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    Ok(Value::Array(cluster.storages.iter().map(|(id, def)| storage_config_row(id, def)).collect()))
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
    let cluster = r.emulator.cluster();
    let vmid: Option<u64> = r.param("vmid").and_then(|v| v.parse().ok());
    let mut rows: Vec<Value> = cluster
        .volumes_on(&node, &storage)
        .filter(|v| r.param("content").is_none_or(|c| c == v.content) && vmid.is_none_or(|id| v.vmid == Some(id)))
        .map(volume_row)
        .collect();
    // Snippets written straight into the storage directory (over SFTP on real nodes) are content too.
    if let Some(dir) = cluster.storage(&storage).and_then(|s| s.path.clone())
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
    Ok(Value::Array(rows))
}

pub async fn volume(r: ApiRequest) -> ApiResult {
    let (node, storage) = storage_def(&r)?;
    let volume = full_volid(&storage, r.required("volume")?);
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
    let mut cluster = r.emulator.cluster();
    let v = cluster.find_volume(&node, &volume).cloned().ok_or_else(|| PveError::server(format!("volume '{volume}' does not exist")))?;
    if let Some(owner) = v.vmid.and_then(|id| cluster.guests.get(&id))
        && owner.config.values().any(|c| c.contains(&volume))
    {
        return Err(PveError::server(format!(
            "unable to delete '{volume}' - volume is still in use by {} {}",
            if owner.kind == GuestKind::Qemu { "VM" } else { "CT" },
            owner.vmid
        )));
    }
    cluster.remove_volume(&volume);
    drop(cluster);
    if v.content == "backup" {
        let upid = r.emulator.spawn_task(&node, "imgdel", &volume, &r.user, 1, Vec::new(), Box::new(|_, _, _| Ok(())));
        return Ok(json!(upid.to_string()));
    }
    Ok(Value::Null)
}

/// `vzdump`: backs up the selected guests on this node into archives on the target storage.
pub async fn vzdump(mut r: ApiRequest) -> ApiResult {
    let node = r.node()?.to_string();
    // The scheduler runs a job as vzdump with its job-id: the job's options fill in the rest.
    if let Some(id) = r.param("job-id").map(str::to_string) {
        let job =
            r.emulator.cluster().backup_jobs.get(&id).cloned().ok_or_else(|| PveError::server(format!("job '{id}' does not exist")))?;
        const JOB_KEYS: [&str; 10] =
            ["all", "vmid", "pool", "exclude", "storage", "mode", "compress", "notes-template", "prune-backups", "mailto"];
        for (key, value) in job.into_iter().filter(|(k, _)| JOB_KEYS.contains(&k.as_str())) {
            r.params.entry(key).or_insert(value);
        }
    }
    let storage = r.param("storage").unwrap_or("local").to_string();
    let compress = r.param("compress").unwrap_or("0").to_string();
    let notes_template = r.param("notes-template").map(str::to_string);
    let keep_last: Option<usize> = r
        .param("prune-backups")
        .and_then(|p| pve_api::PropertyString::parse(p, None).ok().and_then(|p| p.get("keep-last").and_then(|n| n.parse().ok())));
    let selected: Vec<u64> = {
        let cluster = r.emulator.cluster();
        let def = cluster.storage(&storage).ok_or_else(|| PveError::server(format!("storage '{storage}' does not exist")))?;
        if !def.content.iter().any(|c| c == "backup") {
            return Err(PveError::server(format!("storage '{storage}' does not support vzdump backups")));
        }
        let excluded: Vec<u64> =
            r.param("exclude").map(|e| pve_api::tags::split_tag_list(e).filter_map(|v| v.parse().ok()).collect()).unwrap_or_default();
        let on_node = |vmid: &u64| cluster.guests.get(vmid).is_some_and(|g| g.node == node && !g.is_template());
        if r.flag("all") {
            cluster.guests.keys().filter(|v| on_node(v) && !excluded.contains(v)).copied().collect()
        } else if let Some(pool) = r.param("pool") {
            cluster
                .pools
                .get(pool)
                .ok_or_else(|| PveError::server(format!("pool '{pool}' does not exist")))?
                .vms
                .iter()
                .filter(|v| on_node(v))
                .copied()
                .collect()
        } else if let Some(list) = r.param("vmid") {
            let ids: Vec<u64> = pve_api::tags::split_tag_list(list).filter_map(|v| v.parse().ok()).collect();
            if let Some(missing) = ids.iter().find(|v| !cluster.guests.contains_key(v)) {
                return Err(PveError::server(format!("guest {missing} does not exist")));
            }
            ids.into_iter().filter(|v| on_node(v)).collect()
        } else {
            return Err(PveError::server("no guests selected: set vmid, all or pool"));
        }
    };
    let id = if selected.len() == 1 { selected[0].to_string() } else { String::new() };
    let weight = selected.len().max(1) as u64;
    let upid = r.emulator.spawn_task(
        &node,
        "vzdump",
        &id,
        &r.user,
        weight,
        Vec::new(),
        Box::new(move |cluster, log, fail| {
            let mut errors = 0;
            let cluster_name = cluster.name.clone();
            for vmid in &selected {
                let Some(guest) = cluster.guests.get(vmid).cloned() else {
                    continue;
                };
                log.push(format!("INFO: Starting Backup of VM {vmid} ({})", guest.kind));
                if let Some(lock) = guest.lock() {
                    log.push(format!(
                        "ERROR: Backup of VM {vmid} failed - {} {vmid} is locked ({lock})",
                        if guest.kind == GuestKind::Qemu { "VM" } else { "CT" }
                    ));
                    errors += 1;
                    continue;
                }
                if fail {
                    log.push(format!("ERROR: Backup of VM {vmid} failed - injected task failure"));
                    errors += 1;
                    continue;
                }
                let (ext, format) = match (guest.kind, compress.as_str()) {
                    (GuestKind::Qemu, "zstd") => ("vma.zst", "vma.zst"),
                    (GuestKind::Qemu, "gzip" | "1") => ("vma.gz", "vma.gz"),
                    (GuestKind::Qemu, "lzo") => ("vma.lzo", "vma.lzo"),
                    (GuestKind::Qemu, _) => ("vma", "vma"),
                    (GuestKind::Lxc, "zstd") => ("tar.zst", "tar.zst"),
                    (GuestKind::Lxc, "gzip" | "1") => ("tar.gz", "tar.gz"),
                    (GuestKind::Lxc, "lzo") => ("tar.lzo", "tar.lzo"),
                    (GuestKind::Lxc, _) => ("tar", "tar"),
                };
                let mut stamp = chrono::Utc::now();
                let volid = loop {
                    let name = format!("{storage}:backup/vzdump-{}-{vmid}-{}.{ext}", guest.kind, stamp.format("%Y_%m_%d-%H_%M_%S"));
                    if !cluster.volumes.iter().any(|v| v.volid == name) {
                        break name;
                    }
                    stamp += chrono::Duration::seconds(1);
                };
                let notes = notes_template.as_ref().map(|t| {
                    t.replace("{{guestname}}", guest.name().unwrap_or(""))
                        .replace("{{vmid}}", &vmid.to_string())
                        .replace("{{node}}", &guest.node)
                        .replace("{{cluster}}", &cluster_name)
                });
                let shared = cluster.storage(&storage).is_some_and(|s| s.shared);
                // The archive holds the config file, [PENDING] section included; a restored guest
                // starts stopped, and its first start applies those changes, so they are folded in.
                let mut archived = guest.config.clone();
                archived.extend(guest.pending.clone());
                for key in &guest.pending_delete {
                    archived.remove(key);
                }
                archived.remove("lock");
                archived.remove("parent");
                cluster.volumes.push(Volume {
                    storage: storage.clone(),
                    node: (!shared).then(|| guest.node.clone()),
                    volid: volid.clone(),
                    content: "backup".into(),
                    format: format.into(),
                    size: guest.max_disk() / 20 + (1 << 20),
                    ctime: stamp.timestamp(),
                    vmid: Some(*vmid),
                    notes,
                    subtype: Some(guest.kind.as_str().into()),
                    archived_config: Some(archived),
                    archived_kind: Some(guest.kind),
                    linked_base: None,
                });
                log.push(format!("INFO: creating vzdump archive '{}'", volid));
                log.push(format!("INFO: Finished Backup of VM {vmid}"));
                if let Some(keep) = keep_last {
                    let mut backups: Vec<(i64, String)> = cluster
                        .volumes
                        .iter()
                        .filter(|v| v.content == "backup" && v.vmid == Some(*vmid) && v.storage == storage)
                        .map(|v| (v.ctime, v.volid.clone()))
                        .collect();
                    backups.sort();
                    let excess = backups.len().saturating_sub(keep.max(1));
                    for (_, old) in backups.into_iter().take(excess) {
                        log.push(format!("INFO: prune older backup '{old}'"));
                        cluster.remove_volume(&old);
                    }
                }
            }
            if errors > 0 {
                return Err("job errors".into());
            }
            log.push("INFO: Backup job finished successfully".into());
            Ok(())
        }),
    );
    Ok(json!(upid.to_string()))
}

fn task_row(t: &TaskRecord) -> Value {
    let mut row = t.status_json();
    if !t.running {
        row["status"] = json!(t.exitstatus.clone().unwrap_or_default());
        row["endtime"] = json!(t.endtime.unwrap_or_else(now));
    } else {
        row["status"] = json!("RUNNING");
    }
    row
}

pub async fn node_tasks(r: ApiRequest) -> ApiResult {
    let node = r.node()?.to_string();
    let source = r.param("source").unwrap_or("archive");
    let vmid = r.param("vmid");
    let type_filter = r.param("typefilter");
    let errors_only = r.flag("errors");
    let start: usize = r.param("start").and_then(|s| s.parse().ok()).unwrap_or(0);
    let limit: usize = r.param("limit").and_then(|s| s.parse().ok()).unwrap_or(50);
    let mut tasks: Vec<TaskRecord> = r
        .emulator
        .tasks()
        .into_iter()
        .filter(|t| t.upid.node == node)
        .filter(|t| match source {
            "active" => t.running,
            "all" => true,
            _ => !t.running,
        })
        .filter(|t| vmid.is_none_or(|v| t.upid.id == v))
        .filter(|t| type_filter.is_none_or(|f| t.upid.task_type == f))
        .filter(|t| !errors_only || t.exitstatus.as_deref().is_some_and(|e| e != "OK"))
        .filter(|t| r.param("userfilter").is_none_or(|u| t.upid.user.contains(u)))
        .collect();
    tasks.sort_by(|a, b| b.upid.starttime.cmp(&a.upid.starttime).then(b.upid.pid.cmp(&a.upid.pid)));
    Ok(Value::Array(tasks.iter().skip(start).take(limit).map(task_row).collect()))
}

pub async fn cluster_tasks(r: ApiRequest) -> ApiResult {
    let mut tasks = r.emulator.tasks();
    tasks.sort_by(|a, b| b.upid.starttime.cmp(&a.upid.starttime).then(b.upid.pid.cmp(&a.upid.pid)));
    Ok(Value::Array(tasks.iter().take(100).map(task_row).collect()))
}

fn find_task(r: &ApiRequest) -> Result<TaskRecord, PveError> {
    let upid = r.required("upid")?;
    let parsed: pve_api::Upid = upid.parse().map_err(|_| PveError::param("upid", "unable to parse worker upid"))?;
    if Some(parsed.node.as_str()) != r.param("node") {
        return Err(PveError::server(format!("no such task on node '{}'", r.param("node").unwrap_or(""))));
    }
    r.emulator.task(upid).ok_or_else(|| PveError::server(format!("no such task '{upid}'")))
}

pub async fn task_status(r: ApiRequest) -> ApiResult {
    Ok(find_task(&r)?.status_json())
}

pub async fn task_log(r: ApiRequest) -> ApiResult {
    let task = find_task(&r)?;
    let start: usize = r.param("start").and_then(|s| s.parse().ok()).unwrap_or(0);
    // limit=0 means everything.
    let limit: usize = r.param("limit").and_then(|s| s.parse().ok()).filter(|l| *l > 0).unwrap_or(if r.param("limit").is_some() {
        usize::MAX
    } else {
        50
    });
    let mut lines = task.log.clone();
    if lines.is_empty() {
        lines.push("no content".into());
    }
    let total = lines.len();
    let data: Vec<Value> = lines.into_iter().enumerate().skip(start).take(limit).map(|(i, t)| json!({ "n": i + 1, "t": t })).collect();
    Ok(json!({ "data": data, "$envelope": { "total": total } }))
}

pub async fn stop_task(r: ApiRequest) -> ApiResult {
    find_task(&r)?;
    Ok(Value::Null)
}
