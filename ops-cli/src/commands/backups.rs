//! `pve-ops verify-backups` and `pve-ops restore vm`.

use std::time::{Duration, Instant};

use pve_api::{GuestKind, Params, PveClient, StorageVolume, TaskWait};
use serde_json::json;

use super::{Guest, confirm, guest_in, guests};
use crate::metrics::{self, Family};
use crate::report::report;
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

/// The nodes that are up: a node that is down answers nothing (595), but its guests' archives on
/// shared storage are visible from any of these.
pub async fn online_nodes(client: &PveClient) -> anyhow::Result<Vec<String>> {
    Ok(client.nodes().await?.into_iter().filter(|n| n.status.as_deref() == Some("online")).map(|n| n.node).collect())
}

/// Where to read a guest's archives from: its node, or the first online one when its node is down.
fn lookout<'a>(node: &'a str, online: &'a [String]) -> &'a str {
    if online.iter().any(|n| n == node) { node } else { online.first().map(String::as_str).unwrap_or(node) }
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
/// replacing it (`force`); `unique` gives a copy new MACs; `start` has PVE start it once restored.
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
    start: bool,
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
    if start {
        params = params.flag("start", true);
    }
    let upid = api.create_guest(kind, node, &params).await.map_err(|e| {
        // PVE names no path when neither VM.Allocate on the guest nor VM.Backup over it holds.
        if e.is_unnamed_permission_refusal() {
            anyhow::anyhow!(
                "{e}: restoring requires VM.Allocate on /vms/{target} (or VM.Backup on /vms/{target} to restore over the guest)"
            )
        } else {
            e.into()
        }
    })?;
    api.wait_task(&upid, wait()).await?;
    Ok(())
}

/// Slack on top of a job's interval: a backup of many guests takes a while.
const SLACK_SECONDS: i64 = 2 * 3600;

/// The longest gap between two runs of `schedule` over the coming eight days (a weekday-only
/// job has a weekend gap): the most a guest's newest archive may age before the next run.
fn longest_gap(schedule: &str, now: chrono::DateTime<chrono::Utc>) -> Option<i64> {
    let event: pve_api::calendar::CalendarEvent = schedule.parse().ok()?;
    let mut last = event.next_after(now)?;
    let mut gap = 0i64;
    while last < now + chrono::Duration::days(8) {
        let next = event.next_after(last)?;
        gap = gap.max((next - last).num_seconds());
        last = next;
    }
    Some(gap)
}

/// A backup job's selection, as /cluster/backup returns it.
struct Job {
    id: String,
    vmids: Vec<u64>,
    all: bool,
    exclude: Vec<u64>,
    pool_members: Vec<u64>,
    node: Option<String>,
    /// Allowed age of the newest archive under this job.
    allowed: i64,
}

impl Job {
    fn covers(&self, guest: &super::Guest) -> bool {
        self.node.as_ref().is_none_or(|n| n == &guest.node)
            && (self.vmids.contains(&guest.vmid)
                || self.pool_members.contains(&guest.vmid)
                || (self.all && !self.exclude.contains(&guest.vmid)))
    }
}

async fn jobs(api: &PveClient, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<Vec<Job>> {
    let mut found = Vec::new();
    for job in api.list_backup_jobs().await? {
        if !job.is_enabled() {
            continue;
        }
        let Some(gap) = job.schedule.as_deref().and_then(|s| longest_gap(s, now)) else { continue };
        let pool_members = match &job.pool {
            Some(pool) => api.read_pool(pool).await?.vmids(),
            None => Vec::new(),
        };
        found.push(Job {
            vmids: job.vmids(),
            all: job.all == Some(true),
            exclude: job.excluded(),
            pool_members,
            node: job.node,
            allowed: gap + SLACK_SECONDS,
            id: job.id,
        });
    }
    Ok(found)
}

/// Check every guest a backup job covers has an archive within its job's interval (+2 h);
/// writes metrics. Guests no job covers are listed as unscheduled.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Allowed age for every scheduled guest instead of its job's interval (e.g. 26h, 8d).
    #[arg(long, value_parser = crate::parse_age)]
    pub max_age: Option<i64>,
    /// Also check each newest archive is readable through the API.
    #[arg(long)]
    pub full: bool,
}

/// Judges each guest a backup job covers against that job's schedule (or `--max-age`);
/// guests no job covers are reported as unscheduled, never as failures.
pub async fn verify(ops: &Ops, VerifyArgs { max_age, full }: VerifyArgs) -> anyhow::Result<Exit> {
    let api = ops.api()?;
    let clock = chrono::Utc::now();
    let now = clock.timestamp();
    let jobs = jobs(api, clock).await?;
    let online = online_nodes(api).await?;
    let mut last = Family::gauge("pve_backup_last_timestamp_seconds", "Creation time of the newest backup archive of a guest.");
    let mut age = Family::gauge("pve_backup_age_seconds", "Age of the newest backup archive of a guest.");
    let mut size = Family::gauge("pve_backup_size_bytes", "Size of the newest backup archive of a guest.");
    let mut scheduled = Family::gauge("pve_backup_scheduled", "1 when a backup job covers the guest, else 0.");
    let mut ok = Family::gauge(
        "pve_backup_ok",
        "1 when a scheduled guest's newest archive is within its job's interval + 2 h (and readable with --full), else 0.",
    );
    let (mut rows, mut bad) = (Vec::new(), 0usize);
    for guest in guests(api).await? {
        let labels = || vec![("vmid", guest.vmid.to_string()), ("name", guest.name.clone())];
        let covering: Vec<&Job> = jobs.iter().filter(|j| j.covers(&guest)).collect();
        // --max-age replaces the schedule's allowance, for scheduled guests only.
        let allowed = covering.iter().map(|j| j.allowed).min().map(|from_schedule| max_age.unwrap_or(from_schedule));
        scheduled.push(labels(), if covering.is_empty() { 0.0 } else { 1.0 });
        // A guest of a node that is down is what most needs its archives checked.
        let from = lookout(&guest.node, &online);
        let newest = archives(api, from, guest.vmid).await?.into_iter().next();
        if let Some((_, volume)) = &newest {
            last.push(labels(), volume.ctime.unwrap_or(0) as f64);
            age.push(labels(), (now - volume.ctime.unwrap_or(0) as i64) as f64);
            size.push(labels(), volume.size.unwrap_or(0) as f64);
        }
        let status = match (&newest, allowed) {
            (_, None) => "unscheduled",
            (None, Some(_)) => "missing",
            (Some((storage, volume)), Some(allowed)) => {
                let readable = !full || api.volume_attributes(from, storage, &volume.volid).await.is_ok();
                match (now - volume.ctime.unwrap_or(0) as i64 <= allowed, readable) {
                    (true, true) => "ok",
                    (false, _) => "stale",
                    (true, false) => "unreadable",
                }
            }
        };
        if status != "unscheduled" {
            ok.push(labels(), if status == "ok" { 1.0 } else { 0.0 });
            if status != "ok" {
                bad += 1;
            }
        }
        let volid = newest.as_ref().map(|(_, v)| v.volid.clone());
        let job_ids: Vec<&str> = covering.iter().map(|j| j.id.as_str()).collect();
        if !ops.json {
            println!("{:<8} {:<30} {:<12} {:<20} {}", guest.vmid, guest.name, status, job_ids.join(","), volid.as_deref().unwrap_or("-"));
        }
        rows.push(json!({ "vmid": guest.vmid, "name": guest.name, "status": status, "archive": volid, "jobs": job_ids, "allowed_age_seconds": allowed }));
    }
    // A VMID a job names that PVE no longer has: lost with its node (a reinstall took its
    // config), or destroyed without purge. Its job backs nothing up for it any more; what is
    // left is its newest archive, which is what a restore needs.
    let present: std::collections::BTreeSet<u64> = api.cluster_resources(Some("vm")).await?.iter().filter_map(|r| r.vmid).collect();
    let named: std::collections::BTreeSet<u64> = jobs.iter().flat_map(|j| j.vmids.iter().copied()).collect();
    for vmid in named.difference(&present) {
        let job_ids: Vec<&str> = jobs.iter().filter(|j| j.vmids.contains(vmid)).map(|j| j.id.as_str()).collect();
        let newest = match online.first() {
            Some(node) => archives(api, node, *vmid).await?.into_iter().next(),
            None => None,
        };
        let labels = || vec![("vmid", vmid.to_string()), ("name", String::new())];
        if let Some((_, volume)) = &newest {
            last.push(labels(), volume.ctime.unwrap_or(0) as f64);
            age.push(labels(), (now - volume.ctime.unwrap_or(0) as i64) as f64);
            size.push(labels(), volume.size.unwrap_or(0) as f64);
        }
        scheduled.push(labels(), 1.0);
        ok.push(labels(), 0.0);
        bad += 1;
        let volid = newest.as_ref().map(|(_, v)| v.volid.clone());
        if !ops.json {
            println!("{:<8} {:<30} {:<12} {:<20} {}", vmid, "(not in PVE)", "gone", job_ids.join(","), volid.as_deref().unwrap_or("-"));
        }
        rows.push(json!({ "vmid": vmid, "name": null, "status": "gone", "archive": volid, "jobs": job_ids, "allowed_age_seconds": null }));
    }
    if let Some(dir) = &ops.metrics_dir {
        let stamp =
            Family::gauge("pve_backup_verify_last_run_timestamp_seconds", "When verify-backups last ran.").sample(vec![], now as f64);
        metrics::write(dir, "pve_backups", &[last, age, size, scheduled, ok, stamp])?;
    }
    if ops.json {
        println!("{}", json!({ "guests": rows, "problems": bad }));
    }
    Ok(if bad == 0 { Exit::Ok } else { Exit::Partial })
}

/// Restore a VM or container from its newest archive (or --archive).
#[derive(clap::Args)]
pub struct RestoreArgs {
    pub vmid: u64,
    /// Archive volume ID (default: the newest).
    #[arg(long)]
    pub archive: Option<String>,
    /// Node to restore on (default: where the guest is).
    #[arg(long)]
    pub node: Option<String>,
    /// Storage for the restored disks.
    #[arg(long)]
    pub storage: Option<String>,
    /// Restore as this VMID instead (new MACs).
    #[arg(long = "as")]
    pub target: Option<u64>,
    /// Replace an existing guest (backed up first).
    #[arg(long)]
    pub force: bool,
    /// Start the guest once it is restored (after a disaster, the services come back with it).
    #[arg(long)]
    pub start: bool,
}

/// Restores a guest from a vzdump archive. An existing target is only replaced with `--force`,
/// and then it is backed up first, so nothing is lost.
pub async fn restore(ops: &Ops, args: RestoreArgs) -> anyhow::Result<Exit> {
    let rows = ops.api()?.cluster_resources(Some("vm")).await?;
    let source = guest_in(&rows, args.vmid);
    let node = args
        .node
        .clone()
        .or_else(|| source.map(|g| g.node))
        .ok_or_else(|| anyhow::anyhow!("guest {} is gone; say which node to restore on with --node", args.vmid))?;
    let found = archives(ops.api()?, &node, args.vmid).await?;
    let (_, archive) = match &args.archive {
        Some(volid) => found
            .into_iter()
            .find(|(_, v)| &v.volid == volid)
            .ok_or_else(|| anyhow::anyhow!("archive {volid} not found for guest {}", args.vmid))?,
        None => match found.into_iter().next() {
            Some(newest) => newest,
            None => {
                // PVE lists a backup only to who may restore it (pve-storage `check_volume_access`).
                let storages: Vec<String> = ops.api()?.node_storages(&node, Some("backup")).await?.into_iter().map(|s| s.storage).collect();
                anyhow::bail!(
                    "no backup archive of guest {vmid} is visible from {node} (storages: {}); PVE lists one only to a user that holds VM.Backup on /vms/{vmid} and Datastore.AllocateSpace on /storage/{}",
                    if storages.is_empty() { "none with backup content".to_string() } else { storages.join(", ") },
                    storages.first().map(String::as_str).unwrap_or("STORAGE"),
                    vmid = args.vmid,
                )
            }
        },
    };
    let kind =
        if archive.subtype.as_deref() == Some("lxc") || archive.volid.contains("vzdump-lxc-") { GuestKind::Lxc } else { GuestKind::Qemu };
    let target = args.target.unwrap_or(args.vmid);
    let existing = guest_in(&rows, target);
    let existing = existing.as_ref();
    if let Some(existing) = existing {
        if !args.force {
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
        "restore {} from {}{} as {target} on {node}{}{}",
        args.vmid,
        archive.volid,
        args.storage.as_ref().map(|s| format!(" onto {s}")).unwrap_or_default(),
        if existing.is_some() { ", backing up and replacing the existing guest" } else { "" },
        if args.start { ", and start it" } else { "" }
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
    let unique = args.target.is_some_and(|t| t != args.vmid);
    restore_archive(api, kind, &node, target, &archive.volid, args.storage.as_deref(), existing, unique, args.start).await?;
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

#[cfg(test)]
mod tests {
    #[test]
    fn archives_of_a_node_that_is_down_are_read_from_one_that_is_up() {
        let online = vec!["pve1".to_string(), "pve3".to_string()];
        assert_eq!(super::lookout("pve3", &online), "pve3");
        assert_eq!(super::lookout("pve2", &online), "pve1");
        assert_eq!(super::lookout("pve2", &[]), "pve2", "nothing is up: the error says which node failed");
    }

    #[test]
    fn allowed_age_follows_the_schedule() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(super::longest_gap("*-*-* 02:00", now), Some(86_400));
        assert_eq!(super::longest_gap("sun 03:00", now), Some(7 * 86_400));
        assert_eq!(super::longest_gap("mon..fri 01:00", now), Some(3 * 86_400), "the weekend gap counts");
        assert_eq!(super::longest_gap("not a schedule", now), None);
    }
}
