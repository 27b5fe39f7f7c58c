//! `pve-ops health`: are the guests that should run running, do their guest agents answer, do
//! the monitoring endpoints and the state bucket answer — written as metrics for the alerts
//! (`pve_health_check_ok`, `pve_guest_reboot_required`).

use std::time::Duration;

use pve_api::{GuestKind, PendingChange, PveClient};
use serde_json::json;

use super::backups::online_nodes;
use super::{Guest, guests};
use crate::metrics::{self, Family};
use crate::s3::S3Settings;
use crate::{Exit, Ops};

/// Check guests (running when they start on boot, guest agent answering), monitoring
/// endpoints and the state bucket; writes pve_health.prom. Exit 3 when a check fails.
#[derive(clap::Args)]
pub struct Args {
    /// Only guests tagged environment-<ENV>.
    #[arg(long)]
    pub env: Option<String>,
    /// A URL that must answer 2xx/3xx, e.g. http://monitoring.lan:9090/-/healthy (repeatable;
    /// PVE_OPS_HEALTH_ENDPOINTS takes a comma-separated list).
    #[arg(long, env = "PVE_OPS_HEALTH_ENDPOINTS", value_delimiter = ',')]
    pub endpoint: Vec<String>,
    /// Also check the Terraform state bucket (S3 endpoint URL; credentials from AWS_* settings).
    #[arg(long, env = "PVE_OPS_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// Bucket to check (default: PVE_OPS_S3_BUCKET, then tfstate).
    #[arg(long)]
    pub bucket: Option<String>,
    /// Seconds to wait for each endpoint.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

/// `name (VMID)`, or `VMID` alone for a guest whose name PVE does not list (its node is down).
fn label(guest: &Guest) -> String {
    if guest.name.is_empty() { guest.vmid.to_string() } else { format!("{} ({})", guest.name, guest.vmid) }
}

/// One check's verdict.
struct Check {
    check: &'static str,
    target: String,
    ok: bool,
    detail: String,
}

fn agent_enabled(config: &pve_api::api::GuestConfig) -> bool {
    config.get_str("agent").is_some_and(|a| a == "1" || a.starts_with("1,") || a.contains("enabled=1"))
}

/// Changes waiting for a reboot: entries of /pending with a `pending` value or a `delete` mark.
async fn reboot_required(api: &PveClient, guest: &Guest) -> anyhow::Result<bool> {
    Ok(api.guest_pending(guest.kind, &guest.node, guest.vmid).await?.iter().any(PendingChange::is_pending))
}

async fn guest_checks(api: &PveClient, guest: &Guest, checks: &mut Vec<Check>, reboot: &mut Family) -> anyhow::Result<()> {
    let config = api.guest_config(guest.kind, &guest.node, guest.vmid).await?;
    let target = label(guest);
    // A guest that starts with its node is meant to be up; others may be stopped on purpose
    // (expired lab guests, templates of a kind, spares).
    if config.flag("onboot") {
        checks.push(Check {
            check: "guest",
            target: target.clone(),
            ok: guest.running,
            detail: if guest.running { "running".into() } else { "stopped, but starts on boot".into() },
        });
    }
    if guest.running && guest.kind == GuestKind::Qemu && agent_enabled(&config) {
        // PVE answers a silent agent with a 500 after its own ping timeout; agent_ping does not
        // ask again, which would only make the check slower.
        let answer = api.agent_ping(&guest.node, guest.vmid).await;
        checks.push(Check {
            check: "agent",
            target: target.clone(),
            ok: answer.is_ok(),
            detail: answer.map(|_| "guest agent answers".to_string()).unwrap_or_else(|e| e.to_string()),
        });
    }
    if guest.running {
        let labels = vec![("vmid", guest.vmid.to_string()), ("name", guest.name.clone()), ("node", guest.node.clone())];
        reboot.push(labels, if reboot_required(api, guest).await? { 1.0 } else { 0.0 });
    }
    Ok(())
}

/// A URL as it may be shown and used as a label: without user:password@ and query string.
fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        Err(_) => "(not a URL)".into(),
    }
}

async fn endpoint_check(http: &reqwest::Client, url: &str) -> Check {
    let (ok, detail) = match http.get(url).send().await {
        Ok(response) if response.status().is_success() || response.status().is_redirection() => (true, response.status().to_string()),
        Ok(response) => (false, format!("answered {}", response.status())),
        // reqwest's error names the URL: keep only its kind, the URL may carry a secret.
        Err(e) => (
            false,
            format!(
                "no answer ({})",
                if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "connection failed"
                } else {
                    "request failed"
                }
            ),
        ),
    };
    Check { check: "endpoint", target: shown(url), ok, detail }
}

async fn s3_check(settings: &S3Settings) -> Check {
    let target = format!("{}/{}", settings.endpoint.as_deref().unwrap_or("s3"), settings.bucket);
    let result = async {
        let client = settings.client()?;
        client.head_bucket().bucket(&settings.bucket).send().await.map_err(|e| crate::s3::error("HEAD bucket", e))?;
        let versioning =
            client.get_bucket_versioning().bucket(&settings.bucket).send().await.map_err(|e| crate::s3::error("versioning", e))?;
        match versioning.status().map(|s| s.as_str()) {
            Some("Enabled") => Ok("bucket answers, versioning on".to_string()),
            other => anyhow::bail!("bucket answers but versioning is {}: state versions are not kept", other.unwrap_or("off")),
        }
    }
    .await;
    match result {
        Ok(detail) => Check { check: "s3", target, ok: true, detail },
        Err(e) => Check { check: "s3", target, ok: false, detail: format!("{e:#}") },
    }
}

pub async fn run(ops: &Ops, args: Args) -> anyhow::Result<Exit> {
    // Only with an endpoint given, and with no backend.hcl to fall back on: --env here selects
    // guests by tag, not an environment folder.
    let s3 = args.s3_endpoint.clone().map(|e| S3Settings::resolve(Some(e), args.bucket.clone(), std::path::Path::new("")));
    let api = ops.api()?;
    let mut checks = Vec::new();
    let mut reboot = Family::gauge("pve_guest_reboot_required", "1 when a running guest has configuration changes waiting for a reboot.");
    let in_scope = |g: &Guest| args.env.is_none() || pve_api::tags::lifecycle::environment(&g.tags) == args.env;
    let selected: Vec<Guest> = guests(api).await?.into_iter().filter(in_scope).collect();
    let online = online_nodes(api).await?;
    let progress = indicatif::ProgressBar::new((selected.len() + args.endpoint.len()) as u64).with_message("health checks");
    for guest in &selected {
        // A node that is down answers nothing (every call would end in 595 after the retries):
        // its guests fail at once, and say why.
        if !online.contains(&guest.node) {
            let detail = format!("node {} is not online: the guest is not running (PVE shows it as unknown)", guest.node);
            checks.push(Check { check: "guest", target: label(guest), ok: false, detail });
        } else if let Err(e) = guest_checks(api, guest, &mut checks, &mut reboot).await {
            // A check of its own: the guest's samples above may already be recorded.
            checks.push(Check { check: "api", target: label(guest), ok: false, detail: format!("{e:#}") });
        }
        progress.inc(1);
    }
    let http = reqwest::Client::builder().timeout(Duration::from_secs(args.timeout)).build()?;
    for url in &args.endpoint {
        checks.push(endpoint_check(&http, url).await);
        progress.inc(1);
    }
    if let Some(settings) = &s3 {
        checks.push(s3_check(settings).await);
    }
    progress.finish_and_clear();
    let failed = checks.iter().filter(|c| !c.ok).count();
    if let Some(dir) = &ops.metrics_dir {
        let mut ok = Family::gauge("pve_health_check_ok", "1 when the health check passed, else 0.");
        for c in &checks {
            ok.push(vec![("check", c.check.to_string()), ("target", c.target.clone())], if c.ok { 1.0 } else { 0.0 });
        }
        let stamp = Family::gauge("pve_health_last_run_timestamp_seconds", "When pve-ops health last ran.")
            .sample(vec![], chrono::Utc::now().timestamp() as f64);
        metrics::write(dir, "pve_health", &[ok, reboot, stamp])?;
    }
    if ops.json {
        let rows: Vec<_> = checks.iter().map(|c| json!({ "check": c.check, "target": c.target, "ok": c.ok, "detail": c.detail })).collect();
        println!("{}", json!({ "checks": rows, "failed": failed }));
    } else {
        for c in &checks {
            println!("{:<5} {:<8} {}: {}", if c.ok { "ok" } else { "FAIL" }, c.check, c.target, c.detail);
        }
        println!("{} check(s), {failed} failed", checks.len());
    }
    Ok(if failed == 0 { Exit::Ok } else { Exit::Partial })
}
