//! `pve-ops expire-lab`: stops (never deletes) lab guests whose expiry date has passed.
//!
//! Only guests tagged `environment-lab` are candidates; `environment-prod` and guests without an
//! environment tag are never touched, whatever their expiry; `no-expire` wins over a date.

use chrono::NaiveDate;
use pve_api::tags::lifecycle;
use pve_api::{Params, TaskWait};
use serde_json::json;

use super::guests;
use crate::metrics::{self, Family};
use crate::report::report;
use crate::{Exit, Ops};

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Expired,
    NotYet,
    NoExpiry,
    NotLab,
}

fn verdict(tags: &[String], today: NaiveDate) -> Verdict {
    if lifecycle::environment(tags).as_deref() != Some("lab") {
        return Verdict::NotLab;
    }
    if lifecycle::no_expire(tags) {
        return Verdict::NoExpiry;
    }
    match lifecycle::expires(tags) {
        Some(date) if date < today => Verdict::Expired,
        Some(_) => Verdict::NotYet,
        None => Verdict::NoExpiry,
    }
}

/// Stop (never delete) lab guests whose expires- tag date has passed.
#[derive(clap::Args)]
pub struct Args {
    /// Evaluate expiry as of this day (YYYY-MM-DD) instead of today.
    #[arg(long)]
    pub today: Option<NaiveDate>,
}

pub async fn run(ops: &Ops, args: Args) -> anyhow::Result<Exit> {
    let today = args.today.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let all = guests(ops.api()?).await?;
    let mut expired = Family::gauge("pve_lab_guest_expired", "1 when a lab guest's expires- date has passed (it is stopped), else 0.");
    let (mut stopped, mut failed, mut report_rows) = (0usize, 0usize, Vec::new());
    let api = ops.api()?;
    // Stopping is the one change: asked once, for all of them, before any.
    let to_stop: Vec<String> = all
        .iter()
        .filter(|g| g.running && verdict(&g.tags, today) == Verdict::Expired)
        .map(|g| format!("{} ({})", g.vmid, g.name))
        .collect();
    if !ops.dry_run && !to_stop.is_empty() && !super::confirm(&format!("Stop expired lab guests {}?", to_stop.join(", ")), ops.yes)? {
        return Ok(Exit::Failure);
    }
    for guest in &all {
        let verdict = verdict(&guest.tags, today);
        if verdict == Verdict::NotLab {
            continue;
        }
        let is_expired = verdict == Verdict::Expired;
        expired.push(
            vec![("vmid", guest.vmid.to_string()), ("name", guest.name.clone()), ("node", guest.node.clone())],
            if is_expired { 1.0 } else { 0.0 },
        );
        if !is_expired {
            continue;
        }
        let action = if !guest.running {
            "already stopped"
        } else if ops.dry_run {
            "would stop"
        } else {
            let result = async {
                let params = Params::new().set("timeout", 120).flag("forceStop", true);
                let upid = api.guest_action(guest.kind, &guest.node, guest.vmid, "shutdown", &params).await?;
                api.wait_task(&upid, TaskWait::default()).await
            }
            .await;
            match result {
                Ok(_) => {
                    stopped += 1;
                    "stopped"
                }
                Err(e) => {
                    failed += 1;
                    tracing::error!(vmid = guest.vmid, "could not stop: {e}");
                    "stop failed"
                }
            }
        };
        report_rows.push(json!({ "vmid": guest.vmid, "name": guest.name, "node": guest.node, "action": action }));
        if !ops.json {
            println!("{:<8} {:<30} {}", guest.vmid, guest.name, action);
        }
    }
    let expired_count = report_rows.len();
    if let Some(dir) = &ops.metrics_dir {
        let families = [
            expired,
            Family::gauge("pve_lab_expired_guests", "Lab guests past their expiry date.").sample(vec![], expired_count as f64),
            Family::gauge("pve_lab_expire_last_run_timestamp_seconds", "When expire-lab last ran.")
                .sample(vec![], chrono::Utc::now().timestamp() as f64),
        ];
        metrics::write(dir, "pve_expire_lab", &families)?;
    }
    report(
        ops,
        &format!("{expired_count} expired lab guest(s); {stopped} stopped, {failed} failed{}", if ops.dry_run { " (dry run)" } else { "" }),
        json!({ "dry_run": ops.dry_run, "expired": report_rows, "stopped": stopped, "failed": failed }),
    );
    Ok(match (failed, stopped) {
        (0, _) => Exit::Ok,
        (_, 0) => Exit::Failure,
        _ => Exit::Partial,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn only_expired_lab_guests_qualify() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(verdict(&tags(&["environment-lab", "expires-2026-11-22"]), today), Verdict::Expired);
        assert_eq!(
            verdict(&tags(&["environment-lab", "expires-2026-11-23"]), today),
            Verdict::NotYet,
            "the expiry day itself is still allowed"
        );
        assert_eq!(verdict(&tags(&["environment-lab", "expires-2020-01-01", "no-expire"]), today), Verdict::NoExpiry);
        assert_eq!(verdict(&tags(&["environment-prod", "expires-2020-01-01"]), today), Verdict::NotLab);
        assert_eq!(verdict(&tags(&["expires-2020-01-01"]), today), Verdict::NotLab, "no environment tag: never touched");
    }
}
