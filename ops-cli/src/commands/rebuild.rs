//! `pve-ops rebuild minio|monitoring`: disaster recovery for the two services everything else
//! leans on. Backs the guest up if it still exists (so the newest data is kept), recreates it
//! through Terraform (`apply -replace` on the module's VM in the monitoring environment), restores
//! its disks from the newest archive, starts it, and waits until the service answers.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use pve_api::{GuestKind, Params, TaskWait};
use serde_json::json;

use super::backups::{archives, online_nodes, restore_archive, safety_backup};
use super::{confirm, guest_in};
use crate::report::report;
use crate::terraform::Terraform;
use crate::{Exit, Ops};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Service {
    Minio,
    Monitoring,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Minio => "minio",
            Service::Monitoring => "monitoring",
        }
    }

    /// The module's VM in environments/monitoring: both modules build it with modules/vm, under
    /// a fixed key (the service's name).
    fn address(self) -> String {
        format!("module.{0}.module.vm.pve_vm.this[\"{0}\"]", self.name())
    }

    /// What answers when the service is up, from the environment's outputs.
    fn health_url(self, outputs: &serde_json::Value) -> Option<String> {
        match self {
            Service::Minio => outputs["minio_endpoint"]["value"].as_str().map(|e| format!("{}/minio/health/live", e.trim_end_matches('/'))),
            Service::Monitoring => {
                outputs["monitoring"]["value"]["urls"]["prometheus"].as_str().map(|u| format!("{}/-/healthy", u.trim_end_matches('/')))
            }
        }
    }
}

/// Disaster recovery for MinIO or the monitoring VM: back up what is left, recreate it with
/// `terraform apply -replace`, restore its data from the newest archive, wait until it answers.
#[derive(clap::Args)]
pub struct Args {
    #[arg(value_enum)]
    pub service: Service,
    /// The environment holding both services (a folder under --environments).
    #[arg(long, default_value = "monitoring")]
    pub env: String,
    #[arg(long, env = "PVE_OPS_ENVIRONMENTS", default_value = "environments")]
    pub environments: PathBuf,
    #[arg(long, env = "PVE_OPS_TERRAFORM", default_value = "terraform")]
    pub terraform: String,
    /// URL that answers 2xx once the service is back (default: from the environment's outputs).
    #[arg(long)]
    pub check_url: Option<String>,
    /// Seconds to wait for it.
    #[arg(long, default_value_t = 600)]
    pub check_timeout: u64,
    /// Storage for the backup taken first (default: where the newest archive is).
    #[arg(long)]
    pub storage: Option<String>,
}

async fn wait_for(url: &str, timeout: Duration) -> anyhow::Result<f64> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < timeout {
        match http.get(url).send().await {
            Ok(r) if r.status().is_success() => return Ok(started.elapsed().as_secs_f64()),
            Ok(r) => last = format!("answered {}", r.status()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    anyhow::bail!("{url} did not answer within {:?} ({last})", timeout)
}

pub async fn run(ops: &Ops, args: Args) -> anyhow::Result<Exit> {
    let service = args.service;
    let terraform = Terraform { program: &args.terraform, dir: args.environments.join(&args.env) };
    let check_timeout = Duration::from_secs(args.check_timeout);
    // MinIO holds this environment's state too: with MinIO gone, the state cannot be read, and
    // a Terraform rebuild cannot start. Its archive can: restore it first (the runbook's way).
    let before = terraform.outputs().map_err(|e| {
        anyhow::anyhow!(
            "cannot read the state of {} ({e:#}); if MinIO (which holds it) is down, restore MinIO first: \
             `pve-ops restore vm <MinIO's VMID> --node <its node> --start`, then `terraform apply` there \
             (docs/guides/DISASTER-RECOVERY.md)",
            terraform.dir.display()
        )
    })?;
    let vmid = before[service.name()]["value"]["vmid"].as_u64().ok_or_else(|| {
        anyhow::anyhow!("the environment in {} has no {} VM in its state: apply it first", terraform.dir.display(), service.name())
    })?;
    let check_url = args.check_url.clone().or_else(|| service.health_url(&before));
    let api = ops.api()?;
    let found = guest_in(&api.cluster_resources(Some("vm")).await?, vmid);
    let existing = found.as_ref();
    let node = match existing {
        Some(g) => g.node.clone(),
        // Gone: any online node sees the shared backup storage the archives are on.
        None => online_nodes(api).await?.into_iter().next().ok_or_else(|| anyhow::anyhow!("no online node to restore {vmid} on"))?,
    };
    let newest = archives(api, &node, vmid).await?.into_iter().next();
    if existing.is_none() && newest.is_none() {
        anyhow::bail!("guest {vmid} is gone and no archive of it is visible from {node}: a rebuild would come back without its data");
    }
    let storage = args.storage.clone().or_else(|| newest.as_ref().map(|(storage, _)| storage.clone())).unwrap_or_else(|| "backup".into());
    let protected = match existing {
        Some(g) => api.guest_config(g.kind, &g.node, vmid).await?.flag("protection"),
        None => false,
    };
    let steps = [
        existing.map(|g| format!("back up {vmid} ({}) to {storage}, so the newest data is kept", g.name)),
        protected.then(|| format!("lift the protection of {vmid} so Terraform can replace it (the new VM gets it back)")),
        Some(format!("terraform apply -replace={} in {}", service.address(), terraform.dir.display())),
        Some(format!(
            "restore {} into {vmid} on {node} and start it",
            if existing.is_some() { "that backup".to_string() } else { newest.as_ref().map(|(_, v)| v.volid.clone()).unwrap_or_default() }
        )),
        Some("terraform apply again: the old VM's removal took it out of backup jobs and HA".to_string()),
        check_url.as_ref().map(|u| format!("wait up to {:?} for {u} to answer", check_timeout)),
    ];
    let steps: Vec<String> = steps.into_iter().flatten().collect();
    if ops.dry_run {
        let text = steps.iter().enumerate().map(|(n, s)| format!("  {}. {s}", n + 1)).collect::<Vec<_>>().join("\n");
        report(ops, &format!("would rebuild {}:\n{text}", service.name()), json!({ "dry_run": true, "vmid": vmid, "steps": steps }));
        return Ok(Exit::Ok);
    }
    if !confirm(&format!("Rebuild {} (VM {vmid}): {}?", service.name(), steps.join("; ")), ops.yes)? {
        return Ok(Exit::Failure);
    }
    let started = Instant::now();
    let archive = match existing {
        Some(_) => safety_backup(api, &node, vmid, &storage)
            .await
            .map_err(|e| anyhow::anyhow!("backup of {vmid} failed, nothing was rebuilt: {e:#}"))?,
        None => newest.map(|(_, v)| v.volid).unwrap_or_default(),
    };
    let protect = |on: bool| {
        let (params, node) = (Params::new().flag("protection", on), node.clone());
        async move { api.update_config(GuestKind::Qemu, &node, vmid, &params).await }
    };
    if protected {
        protect(false).await?;
    }
    // Terraform's own output goes to stderr, so --json stays parseable.
    let status = terraform
        .command(&["apply", "-input=false", "-no-color", "-auto-approve", &format!("-replace={}", service.address())])
        .stdout(Stdio::from(std::io::stderr()))
        .status();
    if !status.as_ref().is_ok_and(|s| s.success()) {
        // The old VM may still be there: protect it again.
        if protected && api.locate_guest(vmid).await.ok().flatten().is_some() {
            let _ = protect(true).await;
        }
        anyhow::bail!(
            "terraform apply -replace={} failed ({}); the data is in {archive}",
            service.address(),
            status.map(|s| s.to_string()).unwrap_or_else(|e| format!("cannot run {}: {e}", terraform.program))
        );
    }
    let after = terraform.outputs()?;
    let new_vmid = after[service.name()]["value"]["vmid"].as_u64().unwrap_or(vmid);
    let rebuilt = guest_in(&api.cluster_resources(Some("vm")).await?, new_vmid);
    let rebuilt =
        rebuilt.ok_or_else(|| anyhow::anyhow!("terraform reported VM {new_vmid}, but PVE does not have it; the data is in {archive}"))?;
    restore_archive(api, GuestKind::Qemu, &rebuilt.node, new_vmid, &archive, None, Some(&rebuilt), false, false)
        .await
        .map_err(|e| anyhow::anyhow!("restoring {archive} into {new_vmid} failed: {e:#}"))?;
    let upid = api.guest_action(GuestKind::Qemu, &rebuilt.node, new_vmid, "start", &Params::new()).await?;
    api.wait_task(&upid, TaskWait::with_timeout(Duration::from_secs(600))).await?;
    // Destroying the old VM took it out of backup jobs and HA (PVE's purge): one more apply puts
    // the new one back in, and leaves the environment with nothing to change.
    let converged = terraform
        .command(&["apply", "-input=false", "-no-color", "-auto-approve"])
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", terraform.program))?;
    if !converged.success() {
        anyhow::bail!("{} was rebuilt and restored from {archive}, but the follow-up terraform apply failed ({converged})", service.name());
    }
    let answered = match &check_url {
        Some(url) => Some(wait_for(url, check_timeout).await.map_err(|e| {
            anyhow::anyhow!("{} was rebuilt and restored from {archive}, but the service does not answer: {e:#}", service.name())
        })?),
        None => None,
    };
    let seconds = started.elapsed().as_secs_f64();
    report(
        ops,
        &format!(
            "{} rebuilt as VM {new_vmid} and restored from {archive} in {seconds:.1} s{}",
            service.name(),
            check_url.as_ref().map(|u| format!("; {u} answers")).unwrap_or_default()
        ),
        json!({ "service": service.name(), "vmid": new_vmid, "archive": archive, "seconds": seconds, "check_url": check_url, "answered_after_seconds": answered }),
    );
    Ok(Exit::Ok)
}
