//! `pve-ops orphans`: guests the provider made that no environment's Terraform state holds.
//!
//! Every guest terraform-provider-pve creates carries a mark in its description from the create
//! or clone request on (`pve_api::marker`), so a guest left behind by a Terraform killed
//! mid-apply, by a state restored to an older version or by a `terraform state rm` is still
//! recognisable. The command lists the marked guests whose VMID is in no environment's state, and
//! matches each to the address where the environment's configuration plans to create a guest of
//! that name, with an `import` block that adopts it there instead.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use pve_api::{GuestKind, PveClient};
use serde_json::{Value, json};

use crate::metrics::{self, Family};
use crate::report::report;
use crate::terraform::{Terraform, commented, guest_vmid, import_block, show_instances};
use crate::{Exit, Ops};

/// The file `--write-imports` writes in an environment folder.
pub const IMPORTS_FILE: &str = "orphans-imports.tf";
/// The first line of that file: pve-ops rewrites only a file that starts with it.
const IMPORTS_HEADER: &str = "# Written by pve-ops orphans:";

/// List guests that carry the provider's mark but are in no environment's Terraform state, with
/// import blocks that adopt them where the configuration plans to create them. Exit 0 (orphans
/// are a finding, in the metrics), 1 when a state or PVE cannot be read, 3 when an
/// environment's plan failed (its orphans are listed unmatched) or its imports file was not
/// pve-ops's to replace.
#[derive(clap::Args)]
pub struct Args {
    /// Environment to read (a folder under --environments; repeatable). Default: every folder
    /// there that has been `terraform init`-ed (has a .terraform directory).
    #[arg(long = "env")]
    pub envs: Vec<String>,
    #[arg(long, env = "PVE_OPS_ENVIRONMENTS", default_value = "environments")]
    pub environments: PathBuf,
    #[arg(long, env = "PVE_OPS_TERRAFORM", default_value = "terraform")]
    pub terraform: String,
    /// Write each environment's import blocks to <env folder>/orphans-imports.tf (not with --dry-run).
    #[arg(long)]
    pub write_imports: bool,
}

/// A guest with the mark that no state holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub vmid: u64,
    pub kind: GuestKind,
    pub node: String,
    pub name: String,
    /// PVE's config lock (`clone`, `create`, …): a task is still working on it.
    pub lock: Option<String>,
}

impl Orphan {
    /// The ID the provider's import takes (`fn import` of pve_vm and pve_lxc): NODE/VMID.
    pub fn import_id(&self) -> String {
        format!("{}/{}", self.node, self.vmid)
    }
}

/// What an environment's plan intends for one guest address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub env: String,
    pub address: String,
    pub kind: GuestKind,
    pub intent: Intent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// A new guest: its name (`name` of pve_vm, `hostname` of pve_lxc), and node and VMID when
    /// the plan knows them.
    Create { name: String, node: Option<String>, vmid: Option<u64> },
    /// An import block in the configuration already adopts this VMID here.
    Import { vmid: u64 },
}

/// The guest creates (and pending imports) of a saved plan's `terraform show -json`. Only
/// actions of exactly `["create"]`: a replace's address is in the state already, and Terraform
/// refuses to import into an address it manages.
pub fn planned(env: &str, plan: &Value) -> Vec<Planned> {
    let mut found = Vec::new();
    for change in plan["resource_changes"].as_array().into_iter().flatten() {
        let kind = match change["type"].as_str() {
            Some("pve_vm") => GuestKind::Qemu,
            Some("pve_lxc") => GuestKind::Lxc,
            _ => continue,
        };
        if change["mode"] != "managed" {
            continue;
        }
        let (Some(address), after) = (change["address"].as_str(), &change["change"]["after"]) else { continue };
        let importing = &change["change"]["importing"];
        let importing =
            importing["id"].as_str().and_then(|id| id.rsplit('/').next()?.parse().ok()).or_else(|| importing["identity"]["vmid"].as_u64());
        let intent = if let Some(vmid) = importing {
            Intent::Import { vmid }
        } else if change["change"]["actions"] == json!(["create"]) {
            let name_key = if kind == GuestKind::Qemu { "name" } else { "hostname" };
            // An unknown name (computed from another resource) cannot be matched.
            let Some(name) = after[name_key].as_str() else { continue };
            Intent::Create { name: name.to_string(), node: after["node"].as_str().map(str::to_string), vmid: after["vmid"].as_u64() }
        } else {
            continue;
        };
        found.push(Planned { env: env.to_string(), address: address.to_string(), kind, intent });
    }
    found
}

/// Where an orphan goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `address` in `env`; `already` when an import block in the configuration adopts it there.
    Matched { env: String, address: String, already: bool },
    /// Why no address was found (no planned create of that name, or it went to a lower VMID).
    Unmatched { reason: String },
}

/// Matches orphans to planned addresses by kind, name and (when the plan knows them) node and
/// VMID; each address takes at most one orphan, the lowest VMID first. Returns a verdict per
/// orphan, in `orphans`' order. `failed` names the environments whose plan is unknown.
pub fn assign(orphans: &[Orphan], planned: &[Planned], failed: &[String]) -> Vec<Verdict> {
    let mut order: Vec<usize> = (0..orphans.len()).collect();
    order.sort_by_key(|&i| orphans[i].vmid);
    let mut taken: BTreeMap<usize, u64> = BTreeMap::new();
    let mut verdicts = vec![None; orphans.len()];
    // Pending imports first: they name their VMID.
    for &i in &order {
        let orphan = &orphans[i];
        if let Some(p) = planned.iter().position(|p| p.kind == orphan.kind && p.intent == Intent::Import { vmid: orphan.vmid })
            && !taken.contains_key(&p)
        {
            taken.insert(p, orphan.vmid);
            verdicts[i] = Some(Verdict::Matched { env: planned[p].env.clone(), address: planned[p].address.clone(), already: true });
        }
    }
    for &i in &order {
        if verdicts[i].is_some() {
            continue;
        }
        let orphan = &orphans[i];
        let fits = |p: &Planned| match &p.intent {
            Intent::Create { name, node, vmid } => {
                p.kind == orphan.kind
                    && name == &orphan.name
                    && node.as_ref().is_none_or(|n| n == &orphan.node)
                    && vmid.is_none_or(|v| v == orphan.vmid)
            }
            Intent::Import { .. } => false,
        };
        // A plan that names this very VMID wins over one that leaves the VMID to the provider.
        let exact = |p: &Planned| matches!(p.intent, Intent::Create { vmid: Some(v), .. } if v == orphan.vmid);
        let mut candidates: Vec<usize> = (0..planned.len()).filter(|&p| fits(&planned[p])).collect();
        candidates.sort_by_key(|&p| !exact(&planned[p]));
        let free = candidates.iter().copied().find(|p| !taken.contains_key(p));
        verdicts[i] = Some(match (free, candidates.first()) {
            (Some(p), _) => {
                taken.insert(p, orphan.vmid);
                Verdict::Matched { env: planned[p].env.clone(), address: planned[p].address.clone(), already: false }
            }
            (None, Some(p)) => Verdict::Unmatched {
                reason: format!(
                    "the planned create of {:?} ({} in {}) already takes VMID {}, a lower VMID of the same name",
                    orphan.name, planned[*p].address, planned[*p].env, taken[p]
                ),
            },
            (None, None) => {
                let what = if orphan.kind == GuestKind::Qemu { "VM" } else { "container" };
                let mut reason = format!("no environment plans to create a {what} named {:?} on {}", orphan.name, orphan.node);
                if !failed.is_empty() {
                    reason.push_str(&format!(" (the plan of {} failed, so what it would create is unknown)", failed.join(", ")));
                }
                Verdict::Unmatched { reason }
            }
        });
    }
    verdicts.into_iter().map(|v| v.expect("every orphan judged")).collect()
}

/// An environment's name and folder.
type Environment = (String, PathBuf);

/// The environments to read: the named ones, or every initialised folder under `root`; and the
/// folders with Terraform files that are not initialised (not read: their guests would look
/// orphaned).
fn environments(root: &Path, named: &[String]) -> anyhow::Result<(Vec<Environment>, Vec<String>)> {
    if !named.is_empty() {
        let mut found = Vec::new();
        for env in named {
            let dir = root.join(env);
            if !dir.is_dir() {
                anyhow::bail!("environment {env}: {} is not a folder", dir.display());
            }
            if !dir.join(".terraform").is_dir() {
                anyhow::bail!("environment {env}: {} has not been initialised (no .terraform): run terraform init there", dir.display());
            }
            found.push((env.clone(), dir));
        }
        return Ok((found, Vec::new()));
    }
    let entries = std::fs::read_dir(root).map_err(|e| anyhow::anyhow!("cannot read the environments folder {}: {e}", root.display()))?;
    let (mut found, mut skipped) = (Vec::new(), Vec::new());
    for entry in entries {
        let dir = entry.map_err(|e| anyhow::anyhow!("cannot read the environments folder {}: {e}", root.display()))?.path();
        let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
        if dir.join(".terraform").is_dir() {
            found.push((name, dir));
        } else if has_terraform_files(&dir) {
            skipped.push(name);
        }
    }
    found.sort();
    skipped.sort();
    if found.is_empty() {
        anyhow::bail!(
            "no environment under {} has been initialised (terraform init): without their states every marked guest would look orphaned; init them or pass --env",
            root.display()
        );
    }
    Ok((found, skipped))
}

fn has_terraform_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).into_iter().flatten().flatten().any(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".tf")))
}

/// Every marked guest in PVE (templates too: the provider makes those as well).
async fn marked_guests(api: &PveClient) -> anyhow::Result<Vec<Orphan>> {
    let rows = api.cluster_resources(Some("vm")).await.map_err(|e| anyhow::anyhow!("cannot list the guests: {e}"))?;
    let mut found = Vec::new();
    for row in &rows {
        let Some(guest) = pve_api::GuestLocation::from_resource(row) else { continue };
        // The description is only in the config.
        let config = match api.guest_config(guest.kind, &guest.node, guest.vmid).await {
            Ok(config) => config,
            // Deleted since the listing.
            Err(e) if api.locate_guest(guest.vmid).await.is_ok_and(|g| g.is_none()) => {
                tracing::debug!(vmid = guest.vmid, "gone since the listing: {e}");
                continue;
            }
            Err(e) => anyhow::bail!("cannot read the config of guest {} on {}: {e}", guest.vmid, guest.node),
        };
        if pve_api::marker::is_marked(config.get_str("description").as_deref()) {
            found.push(Orphan {
                vmid: guest.vmid,
                kind: guest.kind,
                node: guest.node,
                name: guest.name,
                lock: config.get_str("lock").or_else(|| row.lock.clone()),
            });
        }
    }
    found.sort_by_key(|g| g.vmid);
    Ok(found)
}

/// The VMIDs of every pve_vm and pve_lxc in an environment's state.
fn state_vmids(terraform: &Terraform) -> anyhow::Result<BTreeSet<u64>> {
    let show = terraform.show_json(None)?;
    Ok(show_instances(&show).iter().filter_map(|i| guest_vmid(&i.resource_type, &i.attributes)).map(|(_, vmid)| vmid).collect())
}

/// An environment's planned guest addresses, from a plan saved to a private temp file.
fn plan(terraform: &Terraform, env: &str) -> anyhow::Result<Vec<Planned>> {
    // The plan file may hold provider settings: a private folder, removed on drop.
    let dir = tempfile::Builder::new().prefix("pve-ops-orphans-").tempdir()?;
    let plan = terraform.plan_json(&dir.path().join("orphans.tfplan"))?;
    Ok(planned(env, &plan))
}

/// The addresses an `orphans-imports.tf` written by pve-ops declares (none for another file).
fn our_imports(path: &Path) -> Option<BTreeSet<String>> {
    let text = std::fs::read_to_string(path).ok()?;
    text.starts_with(IMPORTS_HEADER)
        .then(|| text.lines().filter_map(|l| l.trim().strip_prefix("to = ").map(|a| a.trim().to_string())).collect())
}

/// Per environment, what is found there.
struct EnvReport {
    name: String,
    dir: PathBuf,
    guests_in_state: usize,
    plan_error: Option<String>,
    planned: bool,
    /// The import blocks to write or paste: (address, id).
    imports: Vec<(String, String)>,
    file: Option<PathBuf>,
    written: bool,
    /// Why --write-imports left the file alone.
    not_written: Option<String>,
}

pub async fn run(ops: &Ops, args: Args) -> anyhow::Result<Exit> {
    let result = check(ops, &args).await;
    if let Some(dir) = &ops.metrics_dir {
        let mut families = Vec::new();
        if let Ok(Found { orphans, .. }) = &result {
            families.push(
                Family::gauge("pve_orphan_guests", "Guests carrying terraform-provider-pve's mark that no environment's state holds.")
                    .sample(vec![], orphans.len() as f64),
            );
        }
        families.push(
            Family::gauge("pve_orphans_check_failed", "1 when the orphan check itself failed (a state or PVE could not be read).")
                .sample(vec![], f64::from(u8::from(result.is_err()))),
        );
        families.push(
            Family::gauge("pve_orphans_last_check_timestamp_seconds", "When the orphan check last ran.")
                .sample(vec![], chrono::Utc::now().timestamp() as f64),
        );
        metrics::write(dir, "pve_orphans", &families)?;
    }
    let Found { orphans, verdicts, mut envs, skipped } = result?;
    for env in envs.iter_mut().filter(|e| !e.imports.is_empty()) {
        let path = env.dir.join(IMPORTS_FILE);
        if args.write_imports && !ops.dry_run {
            if path.exists() && our_imports(&path).is_none() {
                env.not_written = Some(format!("{} exists and was not written by pve-ops orphans: left as it is", path.display()));
                env.file = Some(path);
                continue;
            }
            let blocks: String = env.imports.iter().map(|(address, id)| format!("\n{}", import_block(address, id))).collect();
            let text = format!(
                "{IMPORTS_HEADER} guests this environment plans to create, which PVE already has (they carry\n# the provider's mark, no state holds them). Run terraform apply here; once it reports them\n# imported, delete this file.\n{blocks}"
            );
            std::fs::write(&path, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            env.written = true;
        }
        env.file = Some(path);
    }
    let partial = envs.iter().any(|e| e.plan_error.is_some() || e.not_written.is_some());
    if ops.json {
        print_json(ops, &orphans, &verdicts, &envs, &skipped, &args);
    } else {
        print_text(&orphans, &verdicts, &envs, &skipped, &args);
    }
    Ok(if partial { Exit::Partial } else { Exit::Ok })
}

/// What a check found.
struct Found {
    orphans: Vec<Orphan>,
    verdicts: Vec<Verdict>,
    envs: Vec<EnvReport>,
    /// Environment folders not read because they are not initialised.
    skipped: Vec<String>,
}

async fn check(ops: &Ops, args: &Args) -> anyhow::Result<Found> {
    let (envs, skipped) = environments(&args.environments, &args.envs)?;
    let api = ops.api()?;
    // PVE first, then the states: a guest an apply creates in between is then not seen at all,
    // rather than seen without its state.
    let marked = marked_guests(api).await?;
    let mut in_state = BTreeSet::new();
    let mut reports = Vec::new();
    let mut problems = Vec::new();
    for (name, dir) in envs {
        let terraform = Terraform { program: &args.terraform, dir: dir.clone() };
        match state_vmids(&terraform) {
            Ok(vmids) => {
                reports.push(EnvReport {
                    name,
                    dir,
                    guests_in_state: vmids.len(),
                    plan_error: None,
                    planned: false,
                    imports: Vec::new(),
                    file: None,
                    written: false,
                    not_written: None,
                });
                in_state.extend(vmids);
            }
            Err(e) => problems.push(format!("{name}: {e:#}")),
        }
    }
    if !problems.is_empty() {
        anyhow::bail!(
            "cannot read the Terraform state of {} (orphans are only what no state holds, so none are reported): {}",
            if problems.len() == 1 { "an environment".to_string() } else { format!("{} environments", problems.len()) },
            problems.join("; ")
        );
    }
    let orphans: Vec<Orphan> = marked.into_iter().filter(|g| !in_state.contains(&g.vmid)).collect();
    let mut planned_all = Vec::new();
    let mut failed = Vec::new();
    if !orphans.is_empty() {
        for env in &mut reports {
            let terraform = Terraform { program: &args.terraform, dir: env.dir.clone() };
            match plan(&terraform, &env.name) {
                Ok(found) => {
                    planned_all.extend(found);
                    env.planned = true;
                }
                Err(e) => {
                    tracing::debug!(env = %env.name, "plan failed: {e:#}");
                    env.plan_error = Some(format!("{e:#}"));
                    failed.push(env.name.clone());
                }
            }
        }
    }
    let verdicts = assign(&orphans, &planned_all, &failed);
    for (orphan, verdict) in orphans.iter().zip(&verdicts) {
        let Verdict::Matched { env, address, already } = verdict else { continue };
        let Some(env) = reports.iter_mut().find(|r| &r.name == env) else { continue };
        // A pending import declared elsewhere stays there; one in our own file is written again.
        let ours = our_imports(&env.dir.join(IMPORTS_FILE)).unwrap_or_default();
        if !already || ours.contains(address) {
            env.imports.push((address.clone(), orphan.import_id()));
        }
    }
    Ok(Found { orphans, verdicts, envs: reports, skipped })
}

fn placeholder(kind: GuestKind) -> &'static str {
    if kind == GuestKind::Qemu { "pve_vm.CHOOSE_A_NAME" } else { "pve_lxc.CHOOSE_A_NAME" }
}

fn print_text(orphans: &[Orphan], verdicts: &[Verdict], envs: &[EnvReport], skipped: &[String], args: &Args) {
    let names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
    if !skipped.is_empty() {
        println!(
            "not read (not terraform init-ed): {}; guests in their states would show here as orphans: init them, or name the environments with --env",
            skipped.join(", ")
        );
    }
    if orphans.is_empty() {
        println!("no orphan guests: every guest with the provider's mark is in a state ({})", names.join(", "));
        return;
    }
    println!(
        "{} orphan guest(s): they carry the mark \"{}\" but are in no environment's state ({})",
        orphans.len(),
        pve_api::marker::MANAGED_MARK,
        names.join(", ")
    );
    println!("{:<8} {:<5} {:<10} {:<30} MATCH", "VMID", "KIND", "NODE", "NAME");
    for (orphan, verdict) in orphans.iter().zip(verdicts) {
        let matched = match verdict {
            Verdict::Matched { env, address, already: false } => format!("{env}: {address}"),
            Verdict::Matched { env, address, already: true } => format!("{env}: {address} (import block already in the configuration)"),
            Verdict::Unmatched { reason } => format!("none: {reason}"),
        };
        let lock = orphan.lock.as_ref().map(|l| format!(" [locked: {l}, a task is still at work on it]")).unwrap_or_default();
        println!("{:<8} {:<5} {:<10} {:<30} {matched}{lock}", orphan.vmid, orphan.kind.as_str(), orphan.node, orphan.name);
    }
    for env in envs {
        if let Some(error) = &env.plan_error {
            println!("\n# {}: the plan failed, so no orphan is matched to what it would create: {error}", env.name);
        }
        if env.imports.is_empty() {
            continue;
        }
        let file = env.file.as_ref().map(|f| f.display().to_string()).unwrap_or_default();
        let how = if let Some(why) = &env.not_written {
            format!("not written ({why}): paste them into a .tf file there")
        } else if env.written {
            format!("written to {file}")
        } else if args.write_imports {
            format!("would be written to {file} (dry run)")
        } else {
            format!("paste into a .tf file in {} (or use --write-imports)", env.dir.display())
        };
        println!("\n# {} ({}): {how}, then run terraform apply there", env.name, env.dir.display());
        let blocks: Vec<String> = env.imports.iter().map(|(address, id)| import_block(address, id)).collect();
        print!("{}", blocks.join("\n"));
    }
    for (orphan, verdict) in orphans.iter().zip(verdicts) {
        if let Verdict::Unmatched { reason } = verdict {
            println!("\n# VMID {} ({} {:?} on {}) is not matched: {reason}.", orphan.vmid, orphan.kind.as_str(), orphan.name, orphan.node);
            let destroy = if orphan.kind == GuestKind::Qemu { "qm" } else { "pct" };
            println!(
                "# Destroy it if nothing needs it ({destroy} destroy {} on {}), or import it under an address you choose (with a resource block for it):",
                orphan.vmid, orphan.node
            );
            print!("{}", commented(&import_block(placeholder(orphan.kind), &orphan.import_id())));
        }
    }
}

fn print_json(ops: &Ops, orphans: &[Orphan], verdicts: &[Verdict], envs: &[EnvReport], skipped: &[String], args: &Args) {
    let rows: Vec<Value> = orphans
        .iter()
        .zip(verdicts)
        .map(|(o, v)| {
            let (env, address, already, reason) = match v {
                Verdict::Matched { env, address, already } => (Some(env), Some(address), *already, None),
                Verdict::Unmatched { reason } => (None, None, false, Some(reason)),
            };
            json!({
                "vmid": o.vmid, "kind": o.kind.as_str(), "node": o.node, "name": o.name, "lock": o.lock,
                "import_id": o.import_id(), "env": env, "address": address, "import_in_configuration": already, "reason": reason,
            })
        })
        .collect();
    let envs: Vec<Value> = envs
        .iter()
        .map(|e| {
            json!({
                "env": e.name, "dir": e.dir, "guests_in_state": e.guests_in_state, "planned": e.planned, "plan_error": e.plan_error,
                "imports": e.imports.iter().map(|(address, id)| json!({ "to": address, "id": id })).collect::<Vec<_>>(),
                "imports_text": e.imports.iter().map(|(address, id)| import_block(address, id)).collect::<Vec<_>>().join("\n"),
                "imports_file": e.file, "written": e.written, "not_written": e.not_written,
            })
        })
        .collect();
    report(
        ops,
        "",
        json!({
            "count": orphans.len(), "orphans": rows, "environments": envs, "not_initialised": skipped,
            "dry_run": ops.dry_run, "write_imports": args.write_imports,
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orphan(vmid: u64, name: &str, node: &str) -> Orphan {
        Orphan { vmid, kind: GuestKind::Qemu, node: node.into(), name: name.into(), lock: None }
    }

    fn create(address: &str, name: &str, node: Option<&str>, vmid: Option<u64>) -> Planned {
        Planned {
            env: "lab".into(),
            address: address.into(),
            kind: GuestKind::Qemu,
            intent: Intent::Create { name: name.into(), node: node.map(Into::into), vmid },
        }
    }

    fn matched(address: &str) -> Verdict {
        Verdict::Matched { env: "lab".into(), address: address.into(), already: false }
    }

    #[test]
    fn reads_creates_and_pending_imports_from_a_plan() {
        let plan = json!({ "resource_changes": [
            { "address": "pve_vm.vm[0]", "mode": "managed", "type": "pve_vm",
              "change": { "actions": ["create"], "after": { "name": "vm-0", "node": "pve1" }, "after_unknown": { "vmid": true } } },
            { "address": "module.ct.pve_lxc.this", "mode": "managed", "type": "pve_lxc",
              "change": { "actions": ["create"], "after": { "hostname": "dns", "node": "pve2", "vmid": 300 } } },
            // A replace: the address is in the state already.
            { "address": "pve_vm.old", "mode": "managed", "type": "pve_vm",
              "change": { "actions": ["delete", "create"], "after": { "name": "old", "node": "pve1" } } },
            // The name is computed: no match possible.
            { "address": "pve_vm.computed", "mode": "managed", "type": "pve_vm",
              "change": { "actions": ["create"], "after": { "node": "pve1" }, "after_unknown": { "name": true } } },
            { "address": "pve_vm.vm[1]", "mode": "managed", "type": "pve_vm",
              "change": { "actions": ["no-op"], "importing": { "id": "pve1/105" }, "after": { "name": "vm-1" } } },
            { "address": "pve_backup_job.nightly", "mode": "managed", "type": "pve_backup_job", "change": { "actions": ["create"], "after": {} } }
        ]});
        let found = planned("lab", &plan);
        assert_eq!(
            found,
            [
                create("pve_vm.vm[0]", "vm-0", Some("pve1"), None),
                Planned {
                    env: "lab".into(),
                    address: "module.ct.pve_lxc.this".into(),
                    kind: GuestKind::Lxc,
                    intent: Intent::Create { name: "dns".into(), node: Some("pve2".into()), vmid: Some(300) }
                },
                Planned { env: "lab".into(), address: "pve_vm.vm[1]".into(), kind: GuestKind::Qemu, intent: Intent::Import { vmid: 105 } },
            ]
        );
    }

    #[test]
    fn matches_by_kind_name_node_and_vmid() {
        let planned = [
            create("pve_vm.web", "web", Some("pve1"), None),
            create("pve_vm.db", "db", Some("pve2"), None),
            create("pve_vm.fixed", "fixed", None, Some(150)),
            Planned {
                env: "lab".into(),
                address: "pve_lxc.dns".into(),
                kind: GuestKind::Lxc,
                intent: Intent::Create { name: "dns".into(), node: None, vmid: None },
            },
        ];
        let orphans = [
            orphan(101, "web", "pve1"),
            orphan(102, "db", "pve1"),    // planned on pve2
            orphan(103, "fixed", "pve1"), // planned as VMID 150
            orphan(104, "dns", "pve1"),   // a VM, but the plan makes a container of that name
            orphan(150, "fixed", "pve3"), // node unknown to the plan, VMID as planned
        ];
        let verdicts = assign(&orphans, &planned, &[]);
        assert_eq!(verdicts[0], matched("pve_vm.web"));
        assert!(matches!(&verdicts[1], Verdict::Unmatched { reason } if reason.contains("named \"db\" on pve1")), "{:?}", verdicts[1]);
        assert!(matches!(verdicts[2], Verdict::Unmatched { .. }), "the plan wants VMID 150: {:?}", verdicts[2]);
        assert!(matches!(verdicts[3], Verdict::Unmatched { .. }), "kinds differ: {:?}", verdicts[3]);
        assert_eq!(verdicts[4], matched("pve_vm.fixed"));
    }

    #[test]
    fn each_address_takes_one_orphan_the_lowest_vmid_first() {
        let planned = [create("pve_vm.web[0]", "web", Some("pve1"), None), create("pve_vm.web[1]", "web", Some("pve1"), None)];
        // Out of order on purpose: the verdicts follow the input, the choice follows the VMID.
        let orphans = [orphan(130, "web", "pve1"), orphan(110, "web", "pve1"), orphan(120, "web", "pve1")];
        let verdicts = assign(&orphans, &planned, &["prod".to_string()]);
        assert_eq!(verdicts[1], matched("pve_vm.web[0]"));
        assert_eq!(verdicts[2], matched("pve_vm.web[1]"));
        match &verdicts[0] {
            Verdict::Unmatched { reason } => assert!(reason.contains("already takes VMID 110"), "{reason}"),
            other => panic!("the third orphan has no address left: {other:?}"),
        }
        // An exact VMID wins over a free choice, and a failed plan is named when nothing fits.
        let planned = [create("pve_vm.any", "app", None, None), create("pve_vm.exact", "app", None, Some(111))];
        let verdicts = assign(&[orphan(110, "app", "pve1"), orphan(111, "app", "pve1")], &planned, &[]);
        assert_eq!(verdicts, [matched("pve_vm.any"), matched("pve_vm.exact")]);
        let verdicts = assign(&[orphan(110, "gone", "pve1")], &planned, &["prod".to_string()]);
        assert!(matches!(&verdicts[0], Verdict::Unmatched { reason } if reason.contains("the plan of prod failed")), "{verdicts:?}");
    }

    #[test]
    fn a_pending_import_keeps_its_orphan() {
        let planned = [
            Planned { env: "lab".into(), address: "pve_vm.web[0]".into(), kind: GuestKind::Qemu, intent: Intent::Import { vmid: 120 } },
            create("pve_vm.web[1]", "web", Some("pve1"), None),
        ];
        let verdicts = assign(&[orphan(110, "web", "pve1"), orphan(120, "web", "pve1")], &planned, &[]);
        assert_eq!(verdicts[0], matched("pve_vm.web[1]"));
        assert_eq!(verdicts[1], Verdict::Matched { env: "lab".into(), address: "pve_vm.web[0]".into(), already: true });
    }

    #[test]
    fn finds_initialised_environments_only() {
        let root = tempfile::tempdir().unwrap();
        for (env, init) in [("lab", true), ("prod", true), ("scratch", false)] {
            std::fs::create_dir_all(root.path().join(env)).unwrap();
            if init {
                std::fs::create_dir_all(root.path().join(env).join(".terraform")).unwrap();
            }
        }
        std::fs::write(root.path().join("scratch/main.tf"), "# not initialised\n").unwrap();
        std::fs::create_dir_all(root.path().join("notes")).unwrap();
        let (found, skipped) = environments(root.path(), &[]).unwrap();
        let names: Vec<String> = found.into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["lab", "prod"]);
        assert_eq!(skipped, ["scratch"], "a folder with Terraform files but no .terraform is named, not read");
        let error = environments(root.path(), &["scratch".to_string()]).unwrap_err().to_string();
        assert!(error.contains("has not been initialised"), "{error}");
        let empty = tempfile::tempdir().unwrap();
        assert!(environments(empty.path(), &[]).unwrap_err().to_string().contains("would look orphaned"));
    }
}
