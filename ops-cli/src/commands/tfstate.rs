//! `pve-ops restore tfstate --env E`: list the versions of an environment's Terraform state in
//! its versioned S3 bucket and restore one, losing nothing.
//!
//! Restoring writes two new versions on top of the history and deletes none: first the current
//! state again (so the state just before the restore is the version right below it, and a fresh
//! one that noncurrent-version expiry rules do not reach soon), then the chosen state with its
//! serial raised above the current one, so Terraform treats it as the newest of its lineage.
//!
//! Before anything is written (dry run too) it says what the restored state forgets: resources
//! of the current state at addresses the chosen version lacks, checked with PVE where it can
//! (guests by VMID, backup jobs by ID), with `import` blocks that re-adopt them there.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use serde_json::json;

use std::collections::BTreeSet;

use super::confirm;
use crate::report::report;
use crate::s3::{S3Settings, error};
use crate::terraform::{Instance, guest_vmid, import_block, import_id, state_instances};
use crate::{Exit, Ops};

/// How many versions `--list` reads the serial and lineage of.
const LIST_DETAILS: usize = 50;

/// List the versions of an environment's Terraform state in S3, or restore one
/// (--version-id or --before); the current state is kept as a version first.
#[derive(clap::Args)]
pub struct Args {
    /// Environment name (a folder under --environments with backend.tf / backend.hcl).
    #[arg(long)]
    pub env: String,
    /// Version to restore (see the listing).
    #[arg(long, conflicts_with = "before")]
    pub version_id: Option<String>,
    /// Restore the newest version written before this time (RFC 3339, 'YYYY-MM-DD HH:MM' UTC, or a day).
    #[arg(long, value_parser = parse_time)]
    pub before: Option<chrono::DateTime<chrono::Utc>>,
    /// Only list the versions (the default without --version-id or --before).
    #[arg(long, conflicts_with_all = ["version_id", "before"])]
    pub list: bool,
    /// State object key (default: <env>/terraform.tfstate, as in the environments' backend.tf).
    #[arg(long)]
    pub key: Option<String>,
    /// Bucket (default: PVE_OPS_S3_BUCKET, then backend.hcl, then tfstate).
    #[arg(long)]
    pub bucket: Option<String>,
    /// S3 endpoint URL (default: PVE_OPS_S3_ENDPOINT / AWS_ENDPOINT_URL_S3, then backend.hcl).
    #[arg(long)]
    pub s3_endpoint: Option<String>,
    #[arg(long, env = "PVE_OPS_ENVIRONMENTS", default_value = "environments")]
    pub environments: std::path::PathBuf,
    /// Restore a state of another lineage (a different Terraform state).
    #[arg(long)]
    pub allow_other_lineage: bool,
    /// Go on while the state lock is held (only for a lock left by a crashed run).
    #[arg(long)]
    pub ignore_lock: bool,
}

/// One version of the state object (or a delete marker), newest first.
#[derive(Debug, Clone)]
struct Version {
    id: String,
    modified: i64,
    /// Sub-second part of the modification time, for ordering versions of the same second.
    modified_nanos: u32,
    size: i64,
    latest: bool,
    deleted: bool,
}

/// What makes an object a Terraform state.
#[derive(Debug, Clone, PartialEq)]
pub struct StateSummary {
    pub serial: u64,
    pub lineage: String,
    pub resources: usize,
    pub terraform_version: String,
}

/// Checks `bytes` is a Terraform state (format version 4 with serial and lineage).
pub fn parse_state(bytes: &[u8]) -> Result<(serde_json::Value, StateSummary), String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON ({e})"))?;
    if value["version"].as_u64() != Some(4) {
        return Err(format!("not a Terraform state (format version {} instead of 4)", value["version"]));
    }
    let serial = value["serial"].as_u64().ok_or("not a Terraform state (no serial)")?;
    let lineage = value["lineage"].as_str().filter(|l| !l.is_empty()).ok_or("not a Terraform state (no lineage)")?.to_string();
    let resources = value["resources"].as_array().ok_or("not a Terraform state (no resources list)")?.len();
    let terraform_version = value["terraform_version"].as_str().unwrap_or("").to_string();
    Ok((value.clone(), StateSummary { serial, lineage, resources, terraform_version }))
}

async fn versions(client: &Client, bucket: &str, key: &str) -> anyhow::Result<Vec<Version>> {
    let mut found = Vec::new();
    let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
    loop {
        let page = client
            .list_object_versions()
            .bucket(bucket)
            .prefix(key)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .map_err(|e| error(&format!("cannot list the versions of s3://{bucket}/{key}"), e))?;
        for v in page.versions().iter().filter(|v| v.key() == Some(key)) {
            found.push(Version {
                id: v.version_id().unwrap_or("null").to_string(),
                modified: v.last_modified().map_or(0, |t| t.secs()),
                modified_nanos: v.last_modified().map_or(0, |t| t.subsec_nanos()),
                size: v.size().unwrap_or(0),
                latest: v.is_latest().unwrap_or(false),
                deleted: false,
            });
        }
        for m in page.delete_markers().iter().filter(|m| m.key() == Some(key)) {
            found.push(Version {
                id: m.version_id().unwrap_or("null").to_string(),
                modified: m.last_modified().map_or(0, |t| t.secs()),
                modified_nanos: m.last_modified().map_or(0, |t| t.subsec_nanos()),
                size: 0,
                latest: m.is_latest().unwrap_or(false),
                deleted: true,
            });
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
    }
    // Newest first; the latest flag decides between versions of the same second.
    found.sort_by_key(|v| (std::cmp::Reverse((v.modified, v.modified_nanos)), !v.latest));
    Ok(found)
}

async fn get(client: &Client, bucket: &str, key: &str, version: &str) -> anyhow::Result<Vec<u8>> {
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .version_id(version)
        .send()
        .await
        .map_err(|e| error(&format!("cannot read version {version} of s3://{bucket}/{key}"), e))?;
    let body = object.body.collect().await.map_err(|e| anyhow::anyhow!("reading version {version} of s3://{bucket}/{key}: {e}"))?;
    Ok(body.into_bytes().to_vec())
}

async fn put(client: &Client, bucket: &str, key: &str, body: Vec<u8>) -> anyhow::Result<String> {
    let out = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| error(&format!("cannot write s3://{bucket}/{key}"), e))?;
    Ok(out.version_id().unwrap_or("null").to_string())
}

fn timestamp(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
}

pub async fn run(ops: &Ops, args: Args) -> anyhow::Result<Exit> {
    let env = &args.env;
    let backend_hcl = args.environments.join(env).join("backend.hcl");
    let settings = S3Settings::resolve(args.s3_endpoint.clone(), args.bucket.clone(), &backend_hcl);
    if settings.endpoint.is_none() && !backend_hcl.exists() {
        anyhow::bail!(
            "no S3 endpoint for {env}: {} does not exist; set PVE_OPS_S3_ENDPOINT or --s3-endpoint (for AWS itself: https://s3.<region>.amazonaws.com)",
            backend_hcl.display()
        );
    }
    let key = &args.key.clone().unwrap_or_else(|| format!("{env}/terraform.tfstate"));
    let bucket = &settings.bucket;
    let client = settings.client()?;
    let status = client
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| error(&format!("cannot read the versioning of bucket {bucket}"), e))?;
    if status.status().map(|s| s.as_str()) != Some("Enabled") {
        anyhow::bail!(
            "bucket {bucket} does not have versioning enabled ({}): a restore would overwrite the current state with no way back; enable versioning first",
            status.status().map_or("never enabled", |s| s.as_str())
        );
    }
    let history = versions(&client, bucket, key).await?;
    if history.is_empty() {
        anyhow::bail!("s3://{bucket}/{key} has no versions: is {} the environment's state key?", key);
    }
    if args.version_id.is_none() && args.before.is_none() {
        return list(ops, &client, env, bucket, key, &history).await;
    }
    let chosen = match (&args.version_id, args.before) {
        (Some(id), _) => history.iter().find(|v| &v.id == id).ok_or_else(|| anyhow::anyhow!("s3://{bucket}/{key} has no version {id}"))?,
        (None, Some(before)) => history
            .iter()
            .find(|v| !v.deleted && v.modified < before.timestamp())
            .ok_or_else(|| anyhow::anyhow!("s3://{bucket}/{key} has no version older than {before}"))?,
        (None, None) => unreachable!("listed above"),
    };
    if chosen.deleted {
        anyhow::bail!("version {} of s3://{bucket}/{key} is a delete marker, not a state", chosen.id);
    }
    let chosen_bytes = get(&client, bucket, key, &chosen.id).await?;
    let (chosen_value, chosen_state) = parse_state(&chosen_bytes)
        .map_err(|e| anyhow::anyhow!("version {} of s3://{bucket}/{key} is {e}; refusing to restore it", chosen.id))?;
    let current = history.iter().find(|v| v.latest && !v.deleted);
    if current.is_some_and(|v| v.id == chosen.id) {
        report(
            ops,
            &format!("version {} is already the current state of {}; nothing to do", chosen.id, env),
            json!({ "restored": false, "version_id": chosen.id }),
        );
        return Ok(Exit::Ok);
    }
    let current_bytes = match current {
        Some(v) => Some(get(&client, bucket, key, &v.id).await?),
        None => None,
    };
    // Lineage and serial floor from the newest version that is a state: the current one, or the
    // last good one when the current is deleted or unreadable.
    let mut reference = current_bytes.as_deref().and_then(|b| parse_state(b).ok()).map(|(_, s)| s);
    if reference.is_none() {
        for v in history.iter().filter(|v| !v.deleted && Some(&v.id) != current.map(|c| &c.id)) {
            if let Some((_, state)) = get(&client, bucket, key, &v.id).await.ok().and_then(|b| parse_state(&b).ok()) {
                reference = Some(state);
                break;
            }
        }
    }
    if let Some(state) = &reference
        && state.lineage != chosen_state.lineage
        && !args.allow_other_lineage
    {
        anyhow::bail!(
            "version {} belongs to another state (lineage {}, current {}); pass --allow-other-lineage to restore it anyway",
            chosen.id,
            chosen_state.lineage,
            state.lineage
        );
    }
    let floor = reference.as_ref().map_or(0, |s| s.serial);
    let new_serial = chosen_state.serial.max(floor + 1);
    let body = with_serial(&chosen_bytes, chosen_state.serial, new_serial)?;
    let plan = format!(
        "restore {} state (s3://{bucket}/{key} at {}) to version {} ({}, serial {}, {} resources) over {} — the current state stays in the history and is written again first; the restored copy gets serial {new_serial}",
        env,
        settings.endpoint.as_deref().unwrap_or("AWS S3"),
        chosen.id,
        timestamp(chosen.modified),
        chosen_state.serial,
        chosen_state.resources,
        current.map_or("no current state (deleted)".to_string(), |v| format!("current version {} (serial {floor})", v.id)),
    );
    // What the restored state forgets: resources the current state has, at addresses the chosen
    // version does not. Shown before anything is written, dry run or not.
    let current_value = current_bytes.as_deref().and_then(|b| parse_state(b).ok()).map(|(v, _)| v);
    let (forgotten, unchecked) = match &current_value {
        Some(current) => check_forgotten(ops, forgotten_instances(current, &chosen_value), &chosen_value).await,
        None => (Vec::new(), None),
    };
    let forgotten_text = forgotten_text(env, &forgotten, unchecked.as_deref());
    let forgotten_json: Vec<serde_json::Value> = forgotten.iter().map(Forgotten::to_json).collect();
    let imports = forgotten.iter().filter_map(Forgotten::block).collect::<Vec<_>>().join("\n");
    if ops.dry_run {
        report(
            ops,
            &format!("would {plan}{forgotten_text}"),
            json!({
                "dry_run": true, "version_id": chosen.id, "serial": new_serial,
                "forgotten": forgotten_json, "imports": imports, "pve_check_error": unchecked,
            }),
        );
        return Ok(Exit::Ok);
    }
    if !ops.json && !forgotten_text.is_empty() {
        println!("{}", forgotten_text.trim_start());
    }
    if !confirm(&format!("{}{}?", plan[..1].to_uppercase(), &plan[1..]), ops.yes)? {
        return Ok(Exit::Failure);
    }
    // Hold Terraform's own lock (use_lockfile) while writing, so no apply starts in between.
    let lock = StateLock::take(&client, bucket, key, env, args.ignore_lock).await?;
    let result = async {
        // Nothing may have changed since the versions were read.
        let latest_now = versions(&client, bucket, key).await?.into_iter().find(|v| v.latest).map(|v| v.id);
        if latest_now != history.iter().find(|v| v.latest).map(|v| v.id.clone()) {
            anyhow::bail!(
                "s3://{bucket}/{key} changed while preparing the restore (now {latest_now:?}); nothing was written, run it again"
            );
        }
        let kept = match current_bytes {
            Some(bytes) => Some(put(&client, bucket, key, bytes).await?),
            None => None,
        };
        let new_version = put(&client, bucket, key, body.clone()).await?;
        // Read it back: the restore is done only when the bucket serves what was written.
        let latest = versions(&client, bucket, key).await?.into_iter().find(|v| v.latest).map(|v| v.id);
        if latest.as_deref() != Some(new_version.as_str()) || get(&client, bucket, key, &new_version).await? != body {
            anyhow::bail!(
                "wrote version {new_version} of s3://{bucket}/{key} but the bucket serves {latest:?}; check the history with --list"
            );
        }
        Ok((kept, new_version))
    }
    .await;
    lock.release(&client).await?;
    let (kept, new_version) = result?;
    report(
        ops,
        &format!(
            "{} state restored from version {} as version {new_version} (serial {new_serial}); the previous state is version {}",
            env,
            chosen.id,
            kept.as_deref().unwrap_or("-")
        ),
        json!({
            "restored": true, "from_version_id": chosen.id, "version_id": new_version, "serial": new_serial, "previous_version_id": kept,
            "forgotten": forgotten_json, "imports": imports, "pve_check_error": unchecked,
        }),
    );
    Ok(Exit::Ok)
}

/// Managed resource instances of `current` whose address `restored` does not have (deposed
/// objects aside: Terraform was about to destroy them).
pub fn forgotten_instances(current: &serde_json::Value, restored: &serde_json::Value) -> Vec<Instance> {
    let kept: BTreeSet<String> = state_instances(restored).into_iter().filter(|i| i.managed).map(|i| i.address).collect();
    let mut seen = BTreeSet::new();
    state_instances(current)
        .into_iter()
        .filter(|i| i.managed && !i.deposed && !kept.contains(&i.address) && seen.insert(i.address.clone()))
        .collect()
}

/// A resource the restored state forgets, and what PVE says about it.
#[derive(Debug, Clone)]
pub struct Forgotten {
    pub instance: Instance,
    /// The ID its import takes (None for other providers' types).
    pub import_id: Option<String>,
    /// Whether PVE still has it; None when not checked or not checkable.
    pub exists: Option<bool>,
    pub note: String,
}

impl Forgotten {
    /// Its import block, unless PVE no longer has it or the ID is unknown.
    fn block(&self) -> Option<String> {
        match (&self.import_id, self.exists) {
            (Some(id), Some(true) | None) => Some(import_block(&self.instance.address, id)),
            _ => None,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "address": self.instance.address, "type": self.instance.resource_type, "import_id": self.import_id,
            "exists": self.exists, "note": self.note, "import": self.block(),
        })
    }
}

/// Asks PVE whether each forgotten guest (by VMID) and backup job (by ID) still exists; other
/// types are listed unchecked. Without PVE credentials nothing is checked, and it says so. A
/// guest the restored state holds at another address gets no import block (one guest, one
/// address). Also returns why PVE could not be asked, if it could not.
async fn check_forgotten(ops: &Ops, instances: Vec<Instance>, restored: &serde_json::Value) -> (Vec<Forgotten>, Option<String>) {
    if instances.is_empty() {
        return (Vec::new(), None);
    }
    let restored_guests: std::collections::BTreeMap<u64, String> = state_instances(restored)
        .into_iter()
        .filter_map(|i| guest_vmid(&i.resource_type, &i.attributes).map(|(_, vmid)| (vmid, i.address)))
        .collect();
    let (api, rows) = match ops.api() {
        Ok(api) => match api.cluster_resources(Some("vm")).await {
            Ok(rows) => (Some(api), Ok(rows)),
            Err(e) => (None, Err(e.to_string())),
        },
        Err(e) => (None, Err(format!("{e:#}"))),
    };
    let unchecked = "could not check with PVE".to_string();
    let mut found = Vec::new();
    for instance in instances {
        let mut import_id = import_id(&instance.resource_type, &instance.attributes);
        let (exists, note) = if let Some((kind, vmid)) = guest_vmid(&instance.resource_type, &instance.attributes) {
            match &rows {
                Ok(rows) => match pve_api::find_guest(rows, vmid) {
                    Some(guest) if guest.kind != kind => {
                        (Some(false), format!("VMID {vmid} is now a {} in PVE, another guest", guest.kind.as_str()))
                    }
                    Some(guest) => {
                        let name_key = if kind == pve_api::GuestKind::Qemu { "name" } else { "hostname" };
                        let was = instance.attributes[name_key].as_str().unwrap_or_default();
                        let renamed = if guest.name == was { String::new() } else { format!(", now named {:?} (was {was:?})", guest.name) };
                        // Where it is now: pve_vm's import checks the node.
                        import_id = Some(format!("{}/{vmid}", guest.node));
                        (Some(true), format!("VMID {vmid} is in PVE on {}{renamed}", guest.node))
                    }
                    None => (Some(false), format!("VMID {vmid} is gone from PVE: nothing to re-adopt")),
                },
                Err(_) => (None, unchecked.clone()),
            }
        } else if instance.resource_type == "pve_backup_job"
            && let Some(id) = &import_id
        {
            match api {
                Some(api) => match api.read_backup_job(id).await {
                    Ok(_) => (Some(true), format!("backup job {id} is in PVE")),
                    Err(e) if e.is_not_found() => (Some(false), format!("backup job {id} is gone from PVE: nothing to re-adopt")),
                    Err(e) => (None, format!("could not check with PVE: {e}")),
                },
                None => (None, unchecked.clone()),
            }
        } else if import_id.is_some() {
            (None, "not checked with PVE".to_string())
        } else {
            let id = instance.attributes["id"].as_str().map(|id| format!(" (its id was {id:?})")).unwrap_or_default();
            (None, format!("not the pve provider's: its import ID is its own provider's{id}"))
        };
        let elsewhere = guest_vmid(&instance.resource_type, &instance.attributes).and_then(|(_, vmid)| restored_guests.get(&vmid));
        let (import_id, note) = match elsewhere {
            Some(address) => (None, format!("{note}; the restored state holds this guest as {address}")),
            None => (import_id, note),
        };
        found.push(Forgotten { instance, import_id, exists, note });
    }
    (found, rows.err())
}

/// The list of forgotten resources and their import blocks, as text (empty when none).
fn forgotten_text(env: &str, forgotten: &[Forgotten], unchecked: Option<&str>) -> String {
    if forgotten.is_empty() {
        return String::new();
    }
    let mut text = format!(
        "\n\nThe restored state forgets {} resource(s) the current state has: Terraform would create them again, next to what PVE still runs.\n",
        forgotten.len()
    );
    for f in forgotten {
        text.push_str(&format!("  {} ({})\n", f.instance.address, f.note));
    }
    if let Some(why) = unchecked {
        text.push_str(&format!("PVE was not asked whether they still exist: {why}\n"));
    }
    let blocks: Vec<String> = forgotten.iter().filter_map(Forgotten::block).collect();
    if !blocks.is_empty() {
        text.push_str(&format!(
            "Import blocks that re-adopt them at the same addresses (paste into a .tf file of {env}, then terraform apply):\n{}",
            blocks.join("\n")
        ));
    }
    text.trim_end().to_string()
}

/// The state's bytes with only the top-level serial changed (Terraform writes it before
/// `lineage`, `outputs` and `resources`), so nothing else is re-encoded.
fn with_serial(bytes: &[u8], old: u64, new: u64) -> anyhow::Result<Vec<u8>> {
    let text = std::str::from_utf8(bytes).map_err(|e| anyhow::anyhow!("the state is not UTF-8: {e}"))?;
    let pattern = regex::Regex::new(r#""serial"\s*:\s*(\d+)"#).expect("valid pattern");
    let found = pattern.captures(text).and_then(|c| c.get(1)).filter(|m| m.as_str() == old.to_string());
    let before_resources = found.is_some_and(|m| text.find("\"resources\"").is_none_or(|r| m.start() < r));
    match found {
        Some(m) if before_resources => Ok(format!("{}{new}{}", &text[..m.start()], &text[m.end()..]).into_bytes()),
        // An unusual layout: re-encode rather than guess.
        _ => {
            let mut value: serde_json::Value = serde_json::from_slice(bytes)?;
            value["serial"] = json!(new);
            Ok(serde_json::to_vec_pretty(&value)?)
        }
    }
}

/// Terraform's S3 lock object (`<key>.tflock`), created only if absent.
pub struct StateLock {
    bucket: String,
    /// The lock we hold: its key, the bytes we wrote, and their version when the bucket has them.
    held: Option<HeldLock>,
}

struct HeldLock {
    key: String,
    body: Vec<u8>,
    version_id: Option<String>,
}

/// What `StateLock::release` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Released {
    /// Our lock object was removed.
    Removed,
    /// Nothing was held (--ignore-lock over someone else's lock).
    NotHeld,
    /// The lock object is no longer ours (someone broke it and took it): left in place.
    LeftForItsHolder,
}

impl StateLock {
    pub async fn take(client: &Client, bucket: &str, key: &str, env: &str, ignore_existing: bool) -> anyhow::Result<Self> {
        let lock = format!("{key}.tflock");
        let info = json!({
            "ID": format!("pve-ops-{:016x}", rand::random::<u64>()),
            "Operation": "pve-ops restore tfstate",
            "Who": format!("pve-ops@{}", std::env::var("HOSTNAME").unwrap_or_default()),
            "Version": env!("CARGO_PKG_VERSION"),
            "Created": chrono::Utc::now().to_rfc3339(),
            "Path": format!("{bucket}/{key}"),
        });
        let body = serde_json::to_vec(&info)?;
        let created = client.put_object().bucket(bucket).key(&lock).if_none_match("*").body(ByteStream::from(body.clone())).send().await;
        match created {
            Ok(put) => Ok(Self { bucket: bucket.to_string(), held: Some(HeldLock { key: lock, body, version_id: put.version_id }) }),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => {
                if ignore_existing {
                    tracing::warn!(%lock, "the state lock is held; going on without it (--ignore-lock)");
                    return Ok(Self { bucket: bucket.to_string(), held: None });
                }
                let holder = match client.get_object().bucket(bucket).key(&lock).send().await {
                    Ok(o) => o.body.collect().await.map(|b| String::from_utf8_lossy(&b.into_bytes()).into_owned()).unwrap_or_default(),
                    Err(_) => String::new(),
                };
                anyhow::bail!(
                    "s3://{bucket}/{lock} exists: Terraform is running on {env} (or left a stale lock: {holder}); retry when it ends, or pass --ignore-lock"
                )
            }
            Err(e) => Err(error(&format!("cannot take the state lock s3://{bucket}/{lock}"), e)),
        }
    }

    /// Removes the lock only while it is still ours: a lock someone else took after breaking ours
    /// (`terraform force-unlock`, then their own run) is theirs, and stays. In a versioned bucket
    /// only our own version is deleted, so even a lock replaced between the check and the delete
    /// survives.
    pub async fn release(self, client: &Client) -> anyhow::Result<Released> {
        let Some(held) = &self.held else { return Ok(Released::NotHeld) };
        let key = &held.key;
        let current = match client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(object) => Some(
                object.body.collect().await.map_err(|e| anyhow::anyhow!("cannot read the state lock {key}: {e}"))?.into_bytes().to_vec(),
            ),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => None,
            Err(e) => return Err(error(&format!("cannot read the state lock {key}"), e)),
        };
        if current.as_deref() != Some(held.body.as_slice()) {
            tracing::warn!(%key, holder = %String::from_utf8_lossy(current.as_deref().unwrap_or_default()), "the state lock is no longer ours; left in place");
            return Ok(Released::LeftForItsHolder);
        }
        let mut delete = client.delete_object().bucket(&self.bucket).key(key);
        if let Some(version) = &held.version_id {
            delete = delete.version_id(version);
        }
        delete.send().await.map_err(|e| error(&format!("cannot remove the state lock {key}"), e))?;
        Ok(Released::Removed)
    }
}

async fn list(ops: &Ops, client: &Client, env: &str, bucket: &str, key: &str, history: &[Version]) -> anyhow::Result<Exit> {
    let mut rows = Vec::new();
    for (n, v) in history.iter().enumerate() {
        let state = if v.deleted || n >= LIST_DETAILS {
            None
        } else {
            get(client, bucket, key, &v.id).await.ok().and_then(|b| parse_state(&b).ok()).map(|(_, s)| s)
        };
        rows.push(json!({
            "version_id": v.id,
            "modified": timestamp(v.modified),
            "size": v.size,
            "latest": v.latest,
            "delete_marker": v.deleted,
            "serial": state.as_ref().map(|s| s.serial),
            "lineage": state.as_ref().map(|s| s.lineage.clone()),
            "resources": state.as_ref().map(|s| s.resources),
        }));
    }
    if ops.json {
        println!("{}", json!({ "env": env, "bucket": bucket, "key": key, "versions": rows }));
    } else {
        println!("s3://{bucket}/{key}");
        println!("{:<40} {:<21} {:>8} {:>7} {:>10}", "VERSION", "MODIFIED", "SIZE", "SERIAL", "RESOURCES");
        for row in &rows {
            let cell = |k: &str| row[k].as_u64().map_or("-".to_string(), |n| n.to_string());
            let mark = if row["delete_marker"] == true {
                " (deleted)"
            } else if row["latest"] == true {
                " (current)"
            } else {
                ""
            };
            println!(
                "{:<40} {:<21} {:>8} {:>7} {:>10}{mark}",
                row["version_id"].as_str().unwrap_or(""),
                row["modified"].as_str().unwrap_or(""),
                cell("size"),
                cell("serial"),
                cell("resources")
            );
        }
        println!("restore one with --version-id ID or --before TIME");
    }
    Ok(Exit::Ok)
}

/// `--before`: RFC 3339, `YYYY-MM-DD HH:MM[:SS]` (UTC) or a day.
pub fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Utc.from_utc_datetime(&t));
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Utc.from_utc_datetime(&t))
        .ok_or_else(|| format!("'{text}' is not a time like 2026-11-30T18:00:00Z, '2026-11-30 18:00' or 2026-11-30"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_terraform_states() {
        let state = br#"{"version":4,"terraform_version":"1.15.5","serial":7,"lineage":"abc","outputs":{},"resources":[{}]}"#;
        let (_, summary) = parse_state(state).unwrap();
        assert_eq!(summary, StateSummary { serial: 7, lineage: "abc".into(), resources: 1, terraform_version: "1.15.5".into() });
        assert!(parse_state(b"hello").unwrap_err().contains("not JSON"));
        assert!(parse_state(br#"{"version":3,"serial":1,"lineage":"a","resources":[]}"#).unwrap_err().contains("format version 3"));
        assert!(parse_state(br#"{"version":4,"lineage":"a","resources":[]}"#).unwrap_err().contains("no serial"));
        assert!(parse_state(br#"{"version":4,"serial":1,"lineage":"","resources":[]}"#).unwrap_err().contains("no lineage"));
    }

    #[test]
    fn finds_what_a_restored_state_forgets_by_full_address() {
        let vm = |module: Option<&str>, name: &str, index: Option<u64>, vmid: u64| {
            json!({ "module": module, "mode": "managed", "type": "pve_vm", "name": name,
                    "instances": [{ "index_key": index, "attributes": { "vmid": vmid, "node": "pve1" } }] })
        };
        let current = json!({ "version": 4, "resources": [
            vm(None, "web", None, 100),
            vm(None, "db", None, 101),
            vm(Some("module.k8s"), "node", Some(0), 102),
            vm(Some("module.k8s"), "node", Some(1), 103),
            { "mode": "data", "type": "pve_nodes", "name": "all", "instances": [{ "attributes": {} }] },
            { "mode": "managed", "type": "pve_vm", "name": "swap", "instances": [
                { "attributes": { "vmid": 104 } }, { "deposed": "d1", "attributes": { "vmid": 90 } }] }
        ]});
        // The restored version had web, the first k8s node, and `db` inside a module (another address).
        let restored = json!({ "version": 4, "resources": [
            vm(None, "web", None, 100),
            vm(Some("module.k8s"), "node", Some(0), 102),
            vm(Some("module.old"), "db", None, 101)
        ]});
        let addresses: Vec<String> = forgotten_instances(&current, &restored).into_iter().map(|i| i.address).collect();
        assert_eq!(addresses, ["pve_vm.db", "module.k8s.pve_vm.node[1]", "pve_vm.swap"], "data sources and deposed objects aside");
        assert!(forgotten_instances(&restored, &restored).is_empty());
    }

    #[test]
    fn parses_times() {
        assert_eq!(parse_time("2026-11-30T18:00:00Z").unwrap().timestamp(), 1_796_061_600);
        assert_eq!(parse_time("2026-11-30 18:00").unwrap().timestamp(), 1_796_061_600);
        assert_eq!(parse_time("2026-11-30").unwrap().timestamp(), 1_795_996_800);
        assert!(parse_time("yesterday").is_err());
    }
}
