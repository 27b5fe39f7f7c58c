//! `pve-ops drift --env E`: runs `terraform plan -detailed-exitcode` in an environment folder and
//! records whether the real infrastructure drifted from the configuration.

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;

use crate::metrics::{self, Family};
use crate::report::report;
use crate::{Exit, Ops};

/// Run `terraform plan` in an environment and record drift as metrics.
#[derive(clap::Args)]
pub struct Args {
    /// Environment name: a folder under --environments.
    #[arg(long)]
    pub env: String,
    #[arg(long, env = "PVE_OPS_ENVIRONMENTS", default_value = "environments")]
    pub environments: PathBuf,
    #[arg(long, env = "PVE_OPS_TERRAFORM", default_value = "terraform")]
    pub terraform: String,
}

/// Counts from Terraform's machine-readable plan output (`change_summary`).
fn summary(json_lines: &str) -> (u64, u64, u64) {
    json_lines
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "change_summary")
        .map(|v| {
            (
                v["changes"]["add"].as_u64().unwrap_or(0),
                v["changes"]["change"].as_u64().unwrap_or(0),
                v["changes"]["remove"].as_u64().unwrap_or(0),
            )
        })
        .next()
        .unwrap_or((0, 0, 0))
}

pub fn run(ops: &Ops, args: Args) -> anyhow::Result<Exit> {
    let Args { env, environments, terraform } = &args;
    let dir = environments.join(env);
    let output = Command::new(terraform)
        .arg(format!("-chdir={}", dir.display()))
        .args(["plan", "-detailed-exitcode", "-input=false", "-lock=false", "-no-color", "-json"])
        .env("TF_IN_AUTOMATION", "1")
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run {terraform}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (add, change, remove) = summary(&stdout);
    let code = output.status.code().unwrap_or(1);
    // Exit 2 also means "only outputs change" (a node's status, a version): that is not the
    // infrastructure drifting, so only planned resource changes count.
    let (drifted, failed) = match code {
        0 => (false, false),
        2 => (add + change + remove > 0, false),
        _ => (false, true),
    };
    let labels = || vec![("env", env.to_string())];
    if let Some(dir) = &ops.metrics_dir {
        let families = [
            Family::gauge("pve_drift_detected", "1 when terraform plan found changes in the environment.")
                .sample(labels(), f64::from(u8::from(drifted))),
            Family::gauge("pve_drift_resources_changed", "Resources the plan would add, change or destroy.")
                .sample(labels(), (add + change + remove) as f64),
            Family::gauge("pve_drift_check_failed", "1 when the drift check itself failed.").sample(labels(), f64::from(u8::from(failed))),
            Family::gauge("pve_drift_last_check_timestamp_seconds", "When the drift check last ran.")
                .sample(labels(), chrono::Utc::now().timestamp() as f64),
        ];
        metrics::write(dir, &format!("pve_drift_{env}"), &families)?;
    }
    if failed {
        let errors: Vec<String> = stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["@level"] == "error")
            .filter_map(|v| v["@message"].as_str().map(str::to_string))
            .collect();
        anyhow::bail!(
            "terraform plan failed in {} (exit {code}): {}{}",
            dir.display(),
            errors.join("; "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    report(
        ops,
        &if drifted {
            format!("{env}: drift — {add} to add, {change} to change, {remove} to destroy")
        } else {
            format!("{env}: no drift")
        },
        json!({ "env": env, "drift": drifted, "add": add, "change": change, "remove": remove }),
    );
    // Drift is a finding, not a failure of the tool.
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_change_summary() {
        let lines = r#"{"@level":"info","type":"version"}
{"@level":"info","type":"change_summary","changes":{"add":1,"change":2,"import":0,"remove":0,"operation":"plan"}}"#;
        assert_eq!(super::summary(lines), (1, 2, 0));
        assert_eq!(super::summary(""), (0, 0, 0));
    }
}
