//! `pve-ops health`: are the guests that should run running, do their guest agents answer, do
//! the monitoring endpoints and the state bucket answer — written as metrics for the alerts
//! (`pve_health_check_ok`, `pve_guest_reboot_required`).

use std::time::Duration;

use pve_api::{GuestKind, Params, PveClient};
use serde_json::json;

use super::{Guest, guests};
use crate::metrics::{self, Family};
use crate::s3::S3Settings;
use crate::{Exit, Ops};

pub struct Request {
    /// Only guests tagged environment-<env>.
    pub env: Option<String>,
    /// HTTP(S) URLs that must answer 2xx or 3xx (Prometheus, Grafana, Alertmanager, …).
    pub endpoints: Vec<String>,
    /// The state bucket to check (needs the S3 credentials), when given.
    pub s3: Option<S3Settings>,
    pub timeout: Duration,
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
    let path = format!("/nodes/{}/{}/{}/pending", pve_api::segment(&guest.node), guest.kind, guest.vmid);
    let entries: Vec<serde_json::Value> = api.get(&path, &Params::new()).await?;
    Ok(entries.iter().any(|e| e.get("pending").is_some() || e.get("delete").is_some()))
}

async fn guest_checks(api: &PveClient, guest: &Guest, checks: &mut Vec<Check>, reboot: &mut Family) -> anyhow::Result<()> {
    let config = api.guest_config(guest.kind, &guest.node, guest.vmid).await?;
    let target = format!("{} ({})", guest.name, guest.vmid);
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
        let path = format!("/nodes/{}/qemu/{}/agent/ping", pve_api::segment(&guest.node), guest.vmid);
        // PVE answers a silent agent with a 500 after its own ping timeout: asking again only
        // makes the check slower, so no retries.
        let answer = api.post::<serde_json::Value>(&path, &Params::new(), pve_api::Retry::OnlyIfNotApplied).await;
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

pub async fn run(ops: &Ops, request: Request) -> anyhow::Result<Exit> {
    let api = ops.api()?;
    let mut checks = Vec::new();
    let mut reboot = Family::gauge("pve_guest_reboot_required", "1 when a running guest has configuration changes waiting for a reboot.");
    let in_scope = |g: &Guest| request.env.is_none() || pve_api::tags::lifecycle::environment(&g.tags) == request.env;
    let selected: Vec<Guest> = guests(api).await?.into_iter().filter(in_scope).collect();
    let progress = indicatif::ProgressBar::new((selected.len() + request.endpoints.len()) as u64).with_message("health checks");
    for guest in &selected {
        if let Err(e) = guest_checks(api, guest, &mut checks, &mut reboot).await {
            // A check of its own: the guest's samples above may already be recorded.
            checks.push(Check { check: "api", target: format!("{} ({})", guest.name, guest.vmid), ok: false, detail: format!("{e:#}") });
        }
        progress.inc(1);
    }
    let http = reqwest::Client::builder().timeout(request.timeout).build()?;
    for url in &request.endpoints {
        checks.push(endpoint_check(&http, url).await);
        progress.inc(1);
    }
    if let Some(settings) = &request.s3 {
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
