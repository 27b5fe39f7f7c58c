//! `pve-ops verify-backups` and `pve-ops restore vm`.

use std::time::{Duration, Instant};

use pve_api::{GuestKind, Params, PveClient, StorageVolume, TaskWait};
use serde_json::json;

use super::{Guest, confirm, guests};
use crate::commands::snapshot::report;
use crate::metrics::{self, Family};
use crate::{Exit, Ops};

fn wait() -> TaskWait {
    TaskWait::with_timeout(Duration::from_secs(6 * 3600))
}

/// Every backup archive of `vmid` visible from `node`, newest first, with its storage.
pub async fn archives(client: &PveClient, node: &str, vmid: u64) -> anyhow::Result<Vec<(String, StorageVolume)>> {
    let mut found = Vec::new();
    for storage in client.node_storages(node, Some("backup")).await? {
        for volume in client.storage_content(node, &storage.storage, Some("backup"), Some(vmid)).await? {
            found.push((storage.storage.clone(), volume));
        }
    }
    found.sort_by_key(|(_, volume)| std::cmp::Reverse(volume.ctime));
    Ok(found)
}

/// Backs `vmid` up (snapshot mode, zstd) to `storage` and returns the new archive's volume ID.
pub async fn safety_backup(api: &PveClient, node: &str, vmid: u64, storage: &str) -> anyhow::Result<String> {
    let upid =
        api.vzdump(node, &Params::new().set("vmid", vmid).set("storage", storage).set("mode", "snapshot").set("compress", "zstd")).await?;
    api.wait_task(&upid, wait()).await?;
    archives(api, node, vmid)
        .await?
        .into_iter()
        .next()
        .map(|(_, v)| v.volid)
        .ok_or_else(|| anyhow::anyhow!("the backup of {vmid} left no archive"))
}

/// Stops `existing` (the guest at `target`, if any) and restores `archive` into `target`,
/// replacing it (`force`); `unique` gives a copy new MACs.
#[allow(clippy::too_many_arguments)]
pub async fn restore_archive(
    api: &PveClient,
    kind: GuestKind,
    node: &str,
    target: u64,
    archive: &str,
    storage: Option<&str>,
    existing: Option<&Guest>,
    unique: bool,
) -> anyhow::Result<()> {
    if let Some(existing) = existing
        && existing.running
    {
        let upid = api.guest_action(existing.kind, node, target, "stop", &Params::new()).await?;
        api.wait_task(&upid, wait()).await?;
    }
    let archive_key = if kind == GuestKind::Qemu { "archive" } else { "ostemplate" };
    let mut params = Params::new().set("vmid", target).set(archive_key, archive).opt("storage", storage);
    if kind == GuestKind::Lxc {
        params = params.flag("restore", true);
    }
    if existing.is_some() {
        params = params.flag("force", true);
    }
    if unique {
        params = params.flag("unique", true);
    }
    let upid = api.create_guest(kind, node, &params).await?;
    api.wait_task(&upid, wait()).await?;
    Ok(())
}

pub async fn verify(ops: &Ops, max_age: i64, full: bool) -> anyhow::Result<Exit> {
    let now = chrono::Utc::now().timestamp();
    let mut last = Family::gauge("pve_backup_last_timestamp_seconds", "Creation time of the newest backup archive of a guest.");
    let mut age = Family::gauge("pve_backup_age_seconds", "Age of the newest backup archive of a guest.");
    let mut size = Family::gauge("pve_backup_size_bytes", "Size of the newest backup archive of a guest.");
    let mut ok =
        Family::gauge("pve_backup_ok", "1 when the guest has a backup newer than the allowed age (and readable with --full), else 0.");
    let (mut rows, mut bad) = (Vec::new(), 0usize);
    for guest in guests(ops.api()?).await? {
        let labels = || vec![("vmid", guest.vmid.to_string()), ("name", guest.name.clone())];
        let newest = archives(ops.api()?, &guest.node, guest.vmid).await?.into_iter().next();
        let (status, fresh) = match &newest {
            None => ("missing", false),
            Some((storage, volume)) => {
                let archive_age = now - volume.ctime.unwrap_or(0) as i64;
                last.push(labels(), volume.ctime.unwrap_or(0) as f64);
                age.push(labels(), archive_age as f64);
                size.push(labels(), volume.size.unwrap_or(0) as f64);
                let readable = !full || {
                    let path = format!(
                        "/nodes/{}/storage/{}/content/{}",
                        pve_api::segment(&guest.node),
                        pve_api::segment(storage),
                        pve_api::segment(&volume.volid)
                    );
                    ops.api()?.get::<serde_json::Value>(&path, &Params::new()).await.is_ok()
                };
                match (archive_age <= max_age, readable) {
                    (true, true) => ("ok", true),
                    (false, _) => ("stale", false),
                    (true, false) => ("unreadable", false),
                }
            }
        };
        ok.push(labels(), if fresh { 1.0 } else { 0.0 });
        if !fresh {
            bad += 1;
        }
        let volid = newest.as_ref().map(|(_, v)| v.volid.clone());
        if !ops.json {
            println!("{:<8} {:<30} {:<10} {}", guest.vmid, guest.name, status, volid.as_deref().unwrap_or("-"));
        }
        rows.push(json!({ "vmid": guest.vmid, "name": guest.name, "status": status, "archive": volid }));
    }
    if let Some(dir) = &ops.metrics_dir {
        let stamp =
            Family::gauge("pve_backup_verify_last_run_timestamp_seconds", "When verify-backups last ran.").sample(vec![], now as f64);
        metrics::write(dir, "pve_backups", &[last, age, size, ok, stamp])?;
    }
    if ops.json {
        println!("{}", json!({ "guests": rows, "problems": bad }));
    }
    Ok(if bad == 0 { Exit::Ok } else { Exit::Partial })
}

pub struct RestoreRequest {
    pub vmid: u64,
    pub archive: Option<String>,
    pub node: Option<String>,
    pub storage: Option<String>,
    pub target: Option<u64>,
    pub force: bool,
}

/// Restores a guest from a vzdump archive. An existing target is only replaced with `--force`,
/// and then it is backed up first, so nothing is lost.
pub async fn restore(ops: &Ops, request: RestoreRequest) -> anyhow::Result<Exit> {
    let all = guests(ops.api()?).await?;
    let source = all.iter().find(|g| g.vmid == request.vmid);
    let node = request
        .node
        .clone()
        .or_else(|| source.map(|g| g.node.clone()))
        .ok_or_else(|| anyhow::anyhow!("guest {} is gone; say which node to restore on with --node", request.vmid))?;
    let found = archives(ops.api()?, &node, request.vmid).await?;
    let (_, archive) = match &request.archive {
        Some(volid) => found
            .into_iter()
            .find(|(_, v)| &v.volid == volid)
            .ok_or_else(|| anyhow::anyhow!("archive {volid} not found for guest {}", request.vmid))?,
        None => {
            found.into_iter().next().ok_or_else(|| anyhow::anyhow!("no backup archive of guest {} is visible from {node}", request.vmid))?
        }
    };
    let kind =
        if archive.subtype.as_deref() == Some("lxc") || archive.volid.contains("vzdump-lxc-") { GuestKind::Lxc } else { GuestKind::Qemu };
    let target = request.target.unwrap_or(request.vmid);
    let existing = all.iter().find(|g| g.vmid == target);
    if let Some(existing) = existing {
        if !request.force {
            anyhow::bail!(
                "guest {target} exists ({}, {}); pass --force to replace it (it is backed up first)",
                existing.name,
                if existing.running { "running" } else { "stopped" }
            );
        }
        if existing.node != node {
            anyhow::bail!("guest {target} lives on {}, not {node}", existing.node);
        }
    }
    let plan = format!(
        "restore {} from {}{} as {target} on {node}{}",
        request.vmid,
        archive.volid,
        request.storage.as_ref().map(|s| format!(" onto {s}")).unwrap_or_default(),
        if existing.is_some() { ", backing up and replacing the existing guest" } else { "" }
    );
    if ops.dry_run {
        report(
            ops,
            &format!("would {plan}"),
            json!({ "dry_run": true, "archive": archive.volid, "target": target, "node": node, "replaces": existing.is_some() }),
        );
        return Ok(Exit::Ok);
    }
    if !confirm(&format!("{plan}?"), ops.yes)? {
        return Ok(Exit::Failure);
    }
    let started = Instant::now();
    let api = ops.api()?;
    let mut safety = None;
    if existing.is_some() {
        let storage = archive.volid.split(':').next().unwrap_or("local");
        safety = Some(
            safety_backup(api, &node, target, storage)
                .await
                .map_err(|e| anyhow::anyhow!("safety backup of {target} failed, nothing was replaced: {e:#}"))?,
        );
    }
    let unique = request.target.is_some_and(|t| t != request.vmid);
    restore_archive(api, kind, &node, target, &archive.volid, request.storage.as_deref(), existing, unique).await?;
    let seconds = started.elapsed().as_secs_f64();
    report(
        ops,
        &format!(
            "restored {target} from {} in {seconds:.1} s{}",
            archive.volid,
            safety.as_ref().map(|s| format!("; the replaced guest was backed up to {s}")).unwrap_or_default()
        ),
        json!({ "target": target, "archive": archive.volid, "safety_backup": safety, "seconds": seconds }),
    );
    Ok(Exit::Ok)
}
