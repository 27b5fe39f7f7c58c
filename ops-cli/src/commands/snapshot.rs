//! `pve-ops snapshot create|list|rollback|delete|cleanup`.

use std::time::{Duration, Instant};

use pve_api::TaskWait;
use serde_json::json;

use super::{confirm, guest, guests};
use crate::metrics::{self, Family};
use crate::report::report;
use crate::{Exit, Ops};

/// Create, list, roll back, delete and clean up snapshots.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand)]
pub enum Action {
    /// Take a snapshot (named pve-ops-<timestamp> unless --name).
    Create {
        vmid: u64,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Include a running VM's memory.
        #[arg(long)]
        ram: bool,
    },
    /// List a guest's snapshots.
    List { vmid: u64 },
    /// Roll a guest back to a snapshot (waits for the task).
    Rollback {
        vmid: u64,
        #[arg(long)]
        name: String,
    },
    /// Delete one snapshot.
    Delete {
        vmid: u64,
        #[arg(long)]
        name: String,
    },
    /// Delete this tool's snapshots older than --max-age, except those marked [keep].
    Cleanup {
        /// e.g. 7d, 12h.
        #[arg(long, value_parser = crate::parse_age)]
        max_age: i64,
        /// One guest (default: all guests).
        #[arg(long)]
        vmid: Option<u64>,
    },
}

/// Snapshots this tool makes start with this; `cleanup` deletes no other.
pub const PREFIX: &str = "pve-ops-";
/// A description containing this keeps a snapshot through `cleanup`.
pub const KEEP_MARK: &str = "[keep]";

fn wait() -> TaskWait {
    TaskWait::with_timeout(Duration::from_secs(30 * 60))
}

pub fn default_name() -> String {
    format!("{PREFIX}{}", chrono::Utc::now().format("%Y%m%d-%H%M%S"))
}

pub async fn run(ops: &Ops, args: Args) -> anyhow::Result<Exit> {
    match args.action {
        Action::Create { vmid, name, description, ram } => create(ops, vmid, name, description, ram).await,
        Action::List { vmid } => list(ops, vmid).await,
        Action::Rollback { vmid, name } => rollback(ops, vmid, &name).await,
        Action::Delete { vmid, name } => delete(ops, vmid, &name).await,
        Action::Cleanup { max_age, vmid } => cleanup(ops, max_age, vmid).await,
    }
}

pub async fn create(ops: &Ops, vmid: u64, name: Option<String>, description: Option<String>, ram: bool) -> anyhow::Result<Exit> {
    let guest = guest(ops.api()?, vmid).await?;
    let name = name.unwrap_or_else(default_name);
    if ops.dry_run {
        report(
            ops,
            &format!("would snapshot {} {vmid} ({}) as {name}", guest.kind, guest.name),
            json!({ "dry_run": true, "vmid": vmid, "name": name }),
        );
        return Ok(Exit::Ok);
    }
    let started = Instant::now();
    let upid = ops.api()?.create_snapshot(guest.kind, &guest.node, vmid, &name, description.as_deref(), ram).await?;
    ops.api()?.wait_task(&upid, wait()).await?;
    let seconds = started.elapsed().as_secs_f64();
    report(ops, &format!("snapshot {name} of {vmid} created in {seconds:.1} s"), json!({ "vmid": vmid, "name": name, "seconds": seconds }));
    Ok(Exit::Ok)
}

pub async fn list(ops: &Ops, vmid: u64) -> anyhow::Result<Exit> {
    let guest = guest(ops.api()?, vmid).await?;
    let snapshots = ops.api()?.snapshots(guest.kind, &guest.node, vmid).await?;
    let rows: Vec<_> = snapshots.iter().filter(|s| s.name != "current").collect();
    if ops.json {
        println!("{}", serde_json::to_string(&rows)?);
    } else {
        for s in rows {
            let when = s.snaptime.and_then(|t| chrono::DateTime::from_timestamp(t as i64, 0)).map(|t| t.to_rfc3339()).unwrap_or_default();
            println!("{:<40} {:<26} {}", s.name, when, s.description.as_deref().unwrap_or(""));
        }
    }
    Ok(Exit::Ok)
}

pub async fn rollback(ops: &Ops, vmid: u64, name: &str) -> anyhow::Result<Exit> {
    let guest = guest(ops.api()?, vmid).await?;
    if !ops.api()?.snapshots(guest.kind, &guest.node, vmid).await?.iter().any(|s| s.name == name) {
        anyhow::bail!("{} {vmid} has no snapshot '{name}'", guest.kind);
    }
    if ops.dry_run {
        report(
            ops,
            &format!("would roll {vmid} ({}) back to {name}, losing changes since", guest.name),
            json!({ "dry_run": true, "vmid": vmid, "name": name }),
        );
        return Ok(Exit::Ok);
    }
    if !confirm(&format!("Roll {} {vmid} ({}) back to {name}? Changes since then are lost", guest.kind, guest.name), ops.yes)? {
        return Ok(Exit::Failure);
    }
    let started = Instant::now();
    let upid = ops.api()?.rollback_snapshot(guest.kind, &guest.node, vmid, name).await?;
    ops.api()?.wait_task(&upid, wait()).await?;
    let seconds = started.elapsed().as_secs_f64();
    report(ops, &format!("{vmid} rolled back to {name} in {seconds:.1} s"), json!({ "vmid": vmid, "name": name, "seconds": seconds }));
    Ok(Exit::Ok)
}

pub async fn delete(ops: &Ops, vmid: u64, name: &str) -> anyhow::Result<Exit> {
    let guest = guest(ops.api()?, vmid).await?;
    if ops.dry_run {
        report(ops, &format!("would delete snapshot {name} of {vmid}"), json!({ "dry_run": true, "vmid": vmid, "name": name }));
        return Ok(Exit::Ok);
    }
    if !confirm(&format!("Delete snapshot {name} of {vmid} ({})?", guest.name), ops.yes)? {
        return Ok(Exit::Failure);
    }
    let upid = ops.api()?.delete_snapshot(guest.kind, &guest.node, vmid, name).await?;
    ops.api()?.wait_task(&upid, wait()).await?;
    report(ops, &format!("snapshot {name} of {vmid} deleted"), json!({ "vmid": vmid, "name": name, "deleted": true }));
    Ok(Exit::Ok)
}

/// Deletes snapshots made by this tool (name prefix) older than `max_age` seconds, except those
/// whose description carries the keep mark.
pub async fn cleanup(ops: &Ops, max_age: i64, vmid: Option<u64>) -> anyhow::Result<Exit> {
    let now = chrono::Utc::now().timestamp();
    let api = ops.api()?;
    let targets: Vec<_> = guests(api).await?.into_iter().filter(|g| vmid.is_none_or(|v| v == g.vmid)).collect();
    let (mut deleted, mut kept, mut failed) = (Vec::new(), 0usize, Vec::new());
    // Every snapshot that is left, whoever made it: old ones hold disk space and block resizes.
    let mut ages = Family::gauge("pve_snapshot_age_seconds", "Age of each snapshot left after cleanup.");
    for guest in &targets {
        let snapshots = match api.snapshots(guest.kind, &guest.node, guest.vmid).await {
            Ok(s) => s,
            Err(e) => {
                failed.push(json!({ "vmid": guest.vmid, "error": e.to_string() }));
                continue;
            }
        };
        for snapshot in snapshots.iter().filter(|s| s.name != "current") {
            let age = now - snapshot.snaptime.unwrap_or(now as u64) as i64;
            let left = |ages: &mut Family| {
                ages.push(
                    vec![("vmid", guest.vmid.to_string()), ("name", guest.name.clone()), ("snapshot", snapshot.name.clone())],
                    age as f64,
                )
            };
            if !snapshot.name.starts_with(PREFIX) {
                left(&mut ages);
                continue;
            }
            if age < max_age || snapshot.description.as_deref().is_some_and(|d| d.contains(KEEP_MARK)) {
                kept += 1;
                left(&mut ages);
                continue;
            }
            if !ops.dry_run {
                let result = async {
                    let upid = api.delete_snapshot(guest.kind, &guest.node, guest.vmid, &snapshot.name).await?;
                    api.wait_task(&upid, wait()).await
                }
                .await;
                if let Err(e) = result {
                    failed.push(json!({ "vmid": guest.vmid, "name": snapshot.name, "error": e.to_string() }));
                    left(&mut ages);
                    continue;
                }
            } else {
                left(&mut ages);
            }
            deleted.push(json!({ "vmid": guest.vmid, "name": snapshot.name, "age_seconds": age }));
        }
    }
    if let Some(dir) = &ops.metrics_dir {
        let stamp =
            Family::gauge("pve_snapshot_cleanup_last_run_timestamp_seconds", "When snapshot cleanup last ran.").sample(vec![], now as f64);
        metrics::write(dir, "pve_snapshots", &[ages, stamp])?;
    }
    let verb = if ops.dry_run { "would delete" } else { "deleted" };
    report(
        ops,
        &format!("{verb} {} snapshot(s), kept {kept}, {} failure(s)", deleted.len(), failed.len()),
        json!({ "dry_run": ops.dry_run, "deleted": deleted, "kept": kept, "failed": failed }),
    );
    Ok(if failed.is_empty() {
        Exit::Ok
    } else if deleted.is_empty() {
        Exit::Failure
    } else {
        Exit::Partial
    })
}
