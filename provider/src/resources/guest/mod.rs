//! The guest core: what `pve_vm` and `pve_lxc` share because PVE treats VMs and containers the
//! same way. Finding a guest (one `find_guest` for every resource), power state, pools, destroy
//! with its HA and backup-job cleanup, tags and lifecycle-tag keeping, validators, timeouts, the
//! settle step after apply, cloud-init rendering (`cloud_init`), and the plan-time checks
//! against the cluster (`checks`).

pub mod checks;
pub mod cloud_init;
mod requests;

pub use requests::{Creation, CreationFailed, set_power, until_done};

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use pve_api::{GuestConfig, GuestKind, Params};
use serde_json::Value as Json;

use crate::plugin::diag::{Diagnostic, Diagnostics, api_error, api_failure, attr};
use crate::plugin::schema::{Attribute, Block, Validator};
use crate::plugin::value::{Type, Value};
use crate::provider::Context;

pub fn lowercase_sorted(value: &Value) -> Value {
    let set: BTreeSet<String> = value.as_list().unwrap_or_default().iter().filter_map(Value::as_str).map(str::to_lowercase).collect();
    Value::List(set.into_iter().map(Value::from).collect())
}

pub fn check_tags(value: &Value) -> Result<(), String> {
    for tag in value.as_list().unwrap_or_default().iter().filter_map(Value::as_str) {
        if !pve_api::tags::is_valid_tag(tag) {
            return Err(format!("\"{tag}\" is not a valid tag: use letters, digits and _ - + . (not starting with - + .)"));
        }
    }
    Ok(())
}

pub fn check_ipv4_config(value: &Value) -> Result<(), String> {
    match value.as_str() {
        None | Some("dhcp") => Ok(()),
        Some(cidr) => {
            let (ip, prefix) = cidr
                .split_once('/')
                .ok_or(format!("\"{cidr}\" must be \"dhcp\" or an IPv4 address with prefix length, e.g. 10.10.10.101/24"))?;
            match (ip.parse::<Ipv4Addr>(), prefix.parse::<u8>()) {
                (Ok(_), Ok(p)) if p <= 32 => Ok(()),
                _ => Err(format!("\"{cidr}\" must be \"dhcp\" or an IPv4 address with prefix length, e.g. 10.10.10.101/24")),
            }
        }
    }
}

pub fn check_ip(value: &Value) -> Result<(), String> {
    match value.as_str() {
        Some(ip) if ip.parse::<IpAddr>().is_err() => Err(format!("\"{ip}\" is not an IP address")),
        _ => Ok(()),
    }
}

/// Fills the unknowns of `planned` from `actual`; known planned values stand (they were written).
pub fn settle(planned: &Value, actual: &Value) -> Value {
    match (planned, actual) {
        (Value::Unknown, actual) => actual.clone(),
        (Value::Map(p), Value::Map(a)) => {
            Value::Map(p.iter().map(|(k, v)| (k.clone(), settle(v, a.get(k).unwrap_or(&Value::Null)))).collect())
        }
        (Value::List(p), Value::List(a)) if p.len() == a.len() => Value::List(p.iter().zip(a).map(|(p, a)| settle(p, a)).collect()),
        (Value::List(p), _) => Value::List(p.iter().map(|p| settle(p, &Value::Null)).collect()),
        (planned, _) => planned.clone(),
    }
}

pub fn flag(value: &str) -> bool {
    matches!(value, "1" | "on" | "yes" | "true")
}

pub fn check_duration(value: &Value) -> Result<(), String> {
    match value.as_str() {
        Some(text) => parse_duration(text).map(|_| ()),
        None => Ok(()),
    }
}

/// `90s`, `10m`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("\"{text}\" is not a duration like 90s, 10m or 1h30m");
    let mut total = 0u64;
    let mut number = String::new();
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        let n: u64 = number.parse().map_err(|_| invalid())?;
        number.clear();
        total += n * match ch {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(invalid()),
        };
    }
    if !number.is_empty() || total == 0 {
        return Err(invalid());
    }
    Ok(Duration::from_secs(total))
}

pub fn timeouts_block() -> Block {
    Block::new(
        "How long each operation may take before it fails (e.g. `30m`).",
        vec![
            Attribute::optional("create", Type::String, "Default 30m.").validate(Validator::custom(check_duration)),
            Attribute::optional("update", Type::String, "Default 30m.").validate(Validator::custom(check_duration)),
            Attribute::optional("delete", Type::String, "Default 10m.").validate(Validator::custom(check_duration)),
        ],
    )
}

pub fn timeout(state: &Value, operation: &str, default_minutes: u64) -> Duration {
    state.get("timeouts").get(operation).as_str().and_then(|t| parse_duration(t).ok()).unwrap_or(Duration::from_secs(default_minutes * 60))
}

/// A config value as text (PVE returns numbers for integer keys).
pub fn text(config: &GuestConfig, key: &str) -> Option<String> {
    config.get_str(key)
}

pub fn indexed<'a>(config: &'a GuestConfig, prefix: &str) -> Vec<(u32, &'a Json)> {
    let mut items: Vec<(u32, &Json)> =
        config.values.iter().filter_map(|(k, v)| k.strip_prefix(prefix).and_then(|n| n.parse::<u32>().ok()).map(|n| (n, v))).collect();
    items.sort_by_key(|(n, _)| *n);
    items
}

pub fn json_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Where a guest is now, from the shared resource listing.
pub struct Located {
    pub node: String,
    pub running: bool,
    pub pool: Option<String>,
}

/// Finds a guest of either kind: where it is and what it is. A guest missing from the shared
/// listing is looked for once more in a listing no older than this call: the shared one may
/// predate the guest's creation or migration. The one "find a guest" of the provider.
pub async fn find_guest(ctx: &Context, vmid: u64) -> Result<Option<(Located, GuestKind)>, Diagnostics> {
    let asked = std::time::Instant::now();
    let mut resources = ctx.resources().await.map_err(|e| api_failure("Listing cluster resources", e))?;
    if !resources.iter().any(|r| r.vmid == Some(vmid)) {
        resources = ctx.resources_since(asked).await.map_err(|e| api_failure("Listing cluster resources", e))?;
    }
    // pve-api's find_guest is the lookup pve-ops uses too; this adds the shared, cached listing.
    Ok(pve_api::find_guest(&resources, vmid).map(|at| (Located { node: at.node, running: at.running, pool: at.pool }, at.kind)))
}

/// Finds a guest of `kind`; a VMID now used by the other kind is an error, never adopted.
pub async fn locate(ctx: &Context, vmid: u64, kind: GuestKind) -> Result<Option<Located>, Diagnostics> {
    match find_guest(ctx, vmid).await? {
        Some((located, found)) if found == kind => Ok(Some(located)),
        Some((_, found)) => {
            let detail = format!("VMID {vmid} is a {} guest now; refusing to manage it as {kind}", found.as_str());
            Err(Diagnostic::error("VMID belongs to another guest", detail).into())
        }
        None => Ok(None),
    }
}

/// A guest's config. On "not found" it looks again with a fresh listing before concluding the
/// guest is gone: the listing may predate a migration, and dropping a live guest from state
/// would lead to a duplicate.
pub async fn read_config(ctx: &Context, vmid: u64, kind: GuestKind) -> Result<Option<(Located, GuestConfig)>, Diagnostics> {
    for fresh in [false, true] {
        if fresh {
            ctx.invalidate_resources().await;
        }
        let Some(located) = locate(ctx, vmid, kind).await? else { return Ok(None) };
        match ctx.client.guest_config(kind, &located.node, vmid).await {
            Ok(config) => return Ok(Some((located, config))),
            Err(e) if e.is_not_found() && !fresh => continue,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(api_failure("Reading the guest config", e)),
        }
    }
    Ok(None)
}

/// The config of a guest this process just built where it built it: no listing needed.
pub async fn read_config_at(ctx: &Context, vmid: u64, kind: GuestKind, at: Located) -> Result<Option<(Located, GuestConfig)>, Diagnostics> {
    match ctx.client.guest_config(kind, &at.node, vmid).await {
        Ok(config) => Ok(Some((at, config))),
        // Moved already (HA): find it.
        Err(e) if e.is_not_found() => read_config(ctx, vmid, kind).await,
        Err(e) => Err(api_failure("Reading the guest config", e)),
    }
}

fn word(kind: GuestKind) -> &'static str {
    if kind == GuestKind::Qemu { "VM" } else { "CT" }
}

/// Waits for a task (interrupted when Terraform stops the provider).
pub async fn wait(ctx: &Context, upid: &pve_api::Upid, limit: Duration, what: &str) -> Result<(), Diagnostics> {
    ctx.wait_task(upid, limit).await.map(|_| ()).map_err(|e| Diagnostic::error(what, e).into())
}

/// Moves a guest from pool `old` to pool `new` (either may be null).
pub async fn set_pool(ctx: &Context, vmid: u64, old: &Value, new: &Value) -> Result<(), Diagnostics> {
    if old == new {
        return Ok(());
    }
    if let Some(old) = old.as_str() {
        ctx.client
            .update_pool(old, &Params::new().set("vms", vmid).flag("delete", true))
            .await
            .map_err(|e| api_failure("Leaving the pool", e))?;
    }
    if let Some(new) = new.as_str() {
        ctx.client.update_pool(new, &Params::new().set("vms", vmid)).await.map_err(|e| api_failure("Joining the pool", e))?;
    }
    Ok(())
}

/// When a guest resource rewrites its tags, the lifecycle tags on the guest (which belong to
/// pve_lifecycle_tag) are written along.
pub fn keep_lifecycle_tags(current: &GuestConfig, params: &mut Params, deletes: &mut Vec<String>) {
    let lifecycle_tags: Vec<String> = text(current, "tags")
        .map(|t| pve_api::tags::split_tag_list(&t).filter(|t| pve_api::tags::lifecycle::is_lifecycle_tag(t)).map(str::to_string).collect())
        .unwrap_or_default();
    if !lifecycle_tags.is_empty() && (params.get("tags").is_some() || deletes.iter().any(|d| d == "tags")) {
        let mut tags: Vec<String> = params.get("tags").map(|t| t.split(';').map(str::to_string).collect()).unwrap_or_default();
        tags.extend(lifecycle_tags);
        deletes.retain(|d| d != "tags");
        params.insert("tags", tags.join(";"));
    }
}

/// Destroys a guest: refused while protected, shut down first, purged from pools, HA and jobs.
pub async fn destroy(ctx: &Context, kind: GuestKind, prior: &Value) -> Result<(), Diagnostics> {
    let limit = timeout(prior, "delete", 10);
    let vmid = prior.get("vmid").as_i64().unwrap_or_default() as u64;
    ctx.invalidate_resources().await;
    let Some(Located { node, running, .. }) = locate(ctx, vmid, kind).await? else { return Ok(()) };
    let config = ctx.client.guest_config(kind, &node, vmid).await.map_err(|e| api_failure("Reading the guest config", e))?;
    if config.flag("protection") {
        let detail = format!("{} {vmid} has protection enabled; set protection = false and apply before destroying it", word(kind));
        return Err(Diagnostic::error(format!("{} is protected", word(kind)), detail).at(attr("protection")).into());
    }
    if running {
        set_power(ctx, kind, &node, vmid, false, limit).await?;
    }
    let what = format!("Destroying the {}", word(kind));
    let node = node.as_str();
    until_done(
        ctx,
        node,
        &what,
        limit,
        || Box::pin(async move { ctx.client.delete_guest(kind, node, vmid, true).await.map(Some) }),
        || {
            Box::pin(async move {
                match ctx.client.guest_config(kind, node, vmid).await {
                    Ok(_) => Ok(false),
                    Err(e) if e.is_not_found() => Ok(true),
                    Err(e) => Err(api_failure("Reading the guest config", e)),
                }
            })
        },
    )
    .await?;
    ctx.invalidate_resources().await;
    Ok(())
}

/// Where a clone is made, and where it goes afterwards.
pub struct ClonePlacement {
    /// Set when PVE cannot clone straight to the guest's node (local volumes): the clone is made
    /// beside the source and migrated there afterwards.
    pub migrate_to: Option<String>,
    /// The node and storage the clone's volumes are allocated on, for `Context::storage_slot`.
    pub allocating_on: String,
    pub allocating_storage: String,
}

/// Places a clone of `source` (VMID `source_vmid`) for `node`, whose volumes go to `storage`
/// (None: the source's storage), and writes PVE's `target` and `storage` into `clone`: straight
/// to `node` where PVE can clone across nodes, else beside the source, onto `storage` if the
/// source's node has it (the migration then moves the volumes to `storage` on `node`).
pub async fn place_clone(
    ctx: &Context,
    kind: GuestKind,
    source_vmid: u64,
    source: &crate::provider::CloneSource,
    node: &str,
    storage: Option<&str>,
    clone: &mut Params,
) -> Result<ClonePlacement, Diagnostics> {
    let migrate = checks::clone_then_migrate(ctx, kind, source_vmid, source, node, storage)
        .await
        .map_err(|e| api_failure("Listing the nodes' storages", e))?;
    if node != source.node && !migrate {
        clone.insert("target", node);
    }
    if let Some(storage) = storage {
        let there = !migrate || ctx.node_storages(&source.node).await.is_ok_and(|s| s.iter().any(|s| s.storage == storage));
        if there {
            clone.insert("storage", storage);
        }
    }
    let allocating_on = if clone.get("target").is_some() { node } else { source.node.as_str() }.to_string();
    let allocating_storage = match clone.get("storage") {
        Some(storage) => storage.to_string(),
        None => checks::volume_storages(kind, &source.config, false).into_iter().next().unwrap_or_else(|| "local-lvm".into()),
    };
    Ok(ClonePlacement { migrate_to: migrate.then(|| node.to_string()), allocating_on, allocating_storage })
}

/// Migrates a stopped guest from `node` to `target` (offline: its local volumes are copied, to
/// `storage` there when given); done once PVE lists it on `target`, unlocked.
pub async fn migrate(
    ctx: &Context,
    kind: GuestKind,
    node: &str,
    vmid: u64,
    target: &str,
    storage: Option<&str>,
    limit: Duration,
) -> Result<(), Diagnostics> {
    let what = format!("Migrating the {} to {target}", word(kind));
    until_done(
        ctx,
        node,
        &what,
        limit,
        || Box::pin(async move { ctx.client.migrate_guest(kind, node, vmid, target, storage).await.map(Some) }),
        || {
            Box::pin(async move {
                let resources = ctx.client.cluster_resources(Some("vm")).await.map_err(|e| api_failure("Listing guests", e))?;
                Ok(resources.iter().any(|r| r.vmid == Some(vmid) && r.node.as_deref() == Some(target) && r.lock.is_none()))
            })
        },
    )
    .await?;
    ctx.invalidate_resources().await;
    Ok(())
}

/// The volumes whose storage a plan changes: (slot, new storage), matched by slot.
pub fn storage_moves(prior: &[&Value], planned: &[&Value]) -> Vec<(String, String)> {
    planned
        .iter()
        .filter_map(|new| {
            let slot = new.get("slot").as_str()?;
            let old = prior.iter().find(|old| old.get("slot").as_str() == Some(slot))?;
            let storage = new.get("storage").as_str()?;
            (old.get("storage").as_str() != Some(storage)).then(|| (slot.to_string(), storage.to_string()))
        })
        .collect()
}

/// Moves volumes to other storages in place (`move_disk` / `move_volume`, the old volume freed),
/// instead of replacing the guest. A VM's disks move while it runs (PVE mirrors them); PVE moves
/// a container's volumes only while it is stopped, so a running container is shut down for the
/// move and started again.
pub async fn move_volumes(
    ctx: &Context,
    kind: GuestKind,
    node: &str,
    vmid: u64,
    moves: &[(String, String)],
    running: bool,
    limit: Duration,
) -> Result<(), Diagnostics> {
    if moves.is_empty() {
        return Ok(());
    }
    let restart = running && kind == GuestKind::Lxc;
    if restart {
        tracing::info!(vmid, "shutting the container down: PVE moves a container's volumes only while it is stopped");
        set_power(ctx, kind, node, vmid, false, limit).await?;
    }
    for (slot, storage) in moves {
        let what = format!("Moving {slot} to storage '{storage}'");
        until_done(
            ctx,
            node,
            &what,
            limit,
            || Box::pin(async move { ctx.client.move_volume(kind, node, vmid, slot, storage, true).await.map(Some) }),
            || {
                Box::pin(async move {
                    let config = ctx.client.guest_config(kind, node, vmid).await.map_err(|e| api_failure("Reading the guest config", e))?;
                    Ok(config.get_str("lock").is_none()
                        && text(&config, slot).is_some_and(|drive| drive.starts_with(&format!("{storage}:"))))
                })
            },
        )
        .await?;
    }
    if restart {
        set_power(ctx, kind, node, vmid, true, limit).await?;
    }
    Ok(())
}

/// Grows the disk or volume `slot` to `size` GiB (an absolute size, so sending it again is
/// harmless); done once PVE's config shows at least that size.
pub async fn grow(
    ctx: &Context,
    kind: GuestKind,
    node: &str,
    vmid: u64,
    slot: &str,
    size: i64,
    limit: Duration,
) -> Result<(), Diagnostics> {
    let wanted = format!("{size}G");
    let what = if kind == GuestKind::Qemu { "Growing a disk" } else { "Growing a volume" };
    let wanted_bytes = (size.max(0) as u64) << 30;
    until_done(
        ctx,
        node,
        what,
        limit,
        || Box::pin(ctx.client.resize_disk(kind, node, vmid, slot, &wanted, None)),
        || {
            Box::pin(async move {
                let config = ctx.client.guest_config(kind, node, vmid).await.map_err(|e| api_failure("Reading the guest config", e))?;
                let have = text(&config, slot)
                    .and_then(|drive| pve_api::PropertyString::parse(&drive, Some("file")).ok()?.get("size").map(str::to_string))
                    .and_then(|size| pve_api::size::parse_size(&size).ok())
                    .unwrap_or(0);
                Ok(have >= wanted_bytes)
            })
        },
    )
    .await
}

/// Plan-time check that a guest's (new) `node` is in the cluster. A failed listing is reported,
/// never skipped: a plan that cannot check must not pass silently.
pub async fn check_node(ctx: Option<&Context>, planned: &Value, prior: &Value) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let (Some(ctx), Some(node)) = (ctx, planned.get("node").as_str()) else { return diags };
    if prior.get("node").as_str() == Some(node) {
        return diags;
    }
    match ctx.resources().await {
        Ok(resources) => {
            let nodes: Vec<&str> = resources.iter().filter(|r| r.resource_type == "node").filter_map(|r| r.node.as_deref()).collect();
            if !nodes.contains(&node) {
                diags.push(
                    Diagnostic::error("Unknown node", format!("node '{node}' is not in the cluster; nodes are: {}", nodes.join(", ")))
                        .at(attr("node")),
                );
            }
        }
        Err(e) => diags.push(api_error("Listing cluster nodes", &e).at(attr("node"))),
    }
    diags
}

/// Writes a config update guarded by its `digest`. When the answer was lost and the client's
/// resend met the digest the first write had already changed (or the answer is lost for good),
/// the config is read back: every value already in place (pending ones included, as PVE's config
/// read shows them) means the write took effect. Anything else is reported, never written over.
pub async fn update_config(ctx: &Context, kind: GuestKind, node: &str, vmid: u64, params: &Params) -> Result<(), Diagnostics> {
    let sent = {
        let _slot = ctx.node_slot(node).await;
        ctx.client.update_config(kind, node, vmid, params).await
    };
    let error = match sent {
        Ok(()) => return Ok(()),
        Err(error) => error,
    };
    if !(error.is_digest_mismatch() || error.is_ambiguous()) {
        return Err(config_update_failure(kind, vmid, error));
    }
    let unapplied = match ctx.client.guest_config(kind, node, vmid).await {
        Ok(now) => first_unapplied(&now, params),
        Err(_) => return Err(config_update_failure(kind, vmid, error)),
    };
    let Some(unapplied) = unapplied else {
        tracing::info!(vmid, reason = %error, "the config update had taken effect: its answer was lost");
        return Ok(());
    };
    if error.is_digest_mismatch() {
        let detail = format!(
            "{error}; someone edited {} {vmid} since it was read (this apply wrote {unapplied}): run terraform apply again",
            word(kind)
        );
        return Err(Diagnostic::error(format!("{} changed concurrently", word(kind)), detail).into());
    }
    Err(config_update_failure(kind, vmid, error))
}

/// The first key of `params` that `config` does not hold as written (None: all are in place):
/// each value as sent (a new disk `STORAGE:SIZE` as any volume on that storage; property strings
/// in any order), each `delete`d key gone. Values PVE keeps only in another form (`cipassword`)
/// are not compared.
pub fn first_unapplied(config: &GuestConfig, params: &Params) -> Option<String> {
    let same = |key: &str, sent: &str| {
        let Some(have) = text(config, key) else { return false };
        if have.trim_end() == sent.trim_end() {
            return true;
        }
        if let Some((storage, size)) = sent.split(',').next().and_then(|first| first.split_once(':'))
            && size.chars().all(|c| c.is_ascii_digit())
        {
            return have.starts_with(&format!("{storage}:"));
        }
        // The same options in another order, give or take what PVE adds itself: a NIC's MAC
        // (`model=virtio` is stored as `virtio=MAC`, an LXC NIC gains `hwaddr` and `type`) and a
        // volume's `size`.
        let (Ok(have), Ok(sent)) =
            (pve_api::PropertyString::parse(&have, Some("file")), pve_api::PropertyString::parse(sent, Some("file")))
        else {
            return false;
        };
        let generated = |k: &str| matches!(k, "hwaddr" | "type" | "size" | "macaddr");
        let model = sent.get("model");
        let sent_ok = sent.keys().all(|k| match k {
            "model" => model.is_some_and(|m| have.get(m).is_some()),
            _ => have.get(k) == sent.get(k),
        });
        let have_ok = have.keys().all(|k| generated(k) || sent.get(k).is_some() || (model == Some(k) && sent.get(k).is_none()));
        sent_ok && have_ok
    };
    params
        .iter()
        .find(|(key, value)| match *key {
            "digest" | "cipassword" | "password" => false,
            "delete" => value.split(',').any(|gone| text(config, gone.trim()).is_some()),
            _ => !same(key, value),
        })
        .map(|(key, value)| format!("{key}={value} (PVE has {})", text(config, key).unwrap_or_default()))
}

/// A config update refused because the guest changed since it was read says so plainly.
pub fn config_update_failure(kind: GuestKind, vmid: u64, error: pve_api::ApiError) -> Diagnostics {
    if error.is_digest_mismatch() {
        Diagnostic::error(
            format!("{} changed concurrently", word(kind)),
            format!("{error}; someone edited {} {vmid} since it was read: run terraform apply again", word(kind)),
        )
        .into()
    } else {
        api_failure(&format!("Updating the {} config", if kind == GuestKind::Qemu { "VM" } else { "container" }), error)
    }
}

/// A size in bytes as whole GiB, rounded up (how PVE's `size=` values are shown in state).
pub fn gib_ceil(bytes: u64) -> i64 {
    bytes.div_ceil(1 << 30) as i64
}

/// The DNS servers of a guest config (`nameserver`, space-separated), as a list.
pub fn nameservers(config: &GuestConfig) -> Value {
    text(config, "nameserver").map(|servers| Value::List(servers.split_whitespace().map(Value::from).collect())).unwrap_or(Value::Null)
}

/// Writes `content` as `name` into `storage`'s snippets directory on `node` over SFTP, with
/// `mode`; returns the volume ID (`STORAGE:snippets/NAME`). Shared by user-data snippets and
/// hookscripts.
pub async fn upload_snippet(
    ctx: &Context,
    node: &str,
    storage: &str,
    name: &str,
    content: &[u8],
    mode: u32,
    what: &str,
) -> Result<String, Diagnostics> {
    let dir = ctx
        .snippet_dir(storage)
        .await
        .map_err(|e| Diagnostics::from(Diagnostic::error("Snippet storage unusable", e).at(attr("snippet_storage"))))?;
    let session = ctx.ssh(node).await.map_err(|e| Diagnostics::from(Diagnostic::error("SSH to the node failed", e.to_string())))?;
    session
        .upload_with_mode(&format!("{dir}/{name}"), content, mode)
        .await
        .map_err(|e| Diagnostics::from(Diagnostic::error(format!("Writing the {what} failed"), e.to_string())))?;
    Ok(format!("{storage}:snippets/{name}"))
}

/// A guest's tags for state: PVE's form, unless it equals the prior spelling once normalised
/// (PVE lowercases and sorts). Lifecycle tags belong to `pve_lifecycle_tag` and are left out.
pub fn guest_tags(config: &GuestConfig, prior: &Value) -> Value {
    let tags: Vec<Value> = text(config, "tags")
        .map(|t| pve_api::tags::split_tag_list(&t).filter(|t| !pve_api::tags::lifecycle::is_lifecycle_tag(t)).map(Value::from).collect())
        .unwrap_or_default();
    let tags = if tags.is_empty() { Value::Null } else { Value::List(tags) };
    if !prior.is_null() && lowercase_sorted(prior) == lowercase_sorted(&tags) { prior.clone() } else { tags }
}

/// A list of disk or mount-point blocks by their `slot` (`scsi0`, `mp1`): volumes are matched
/// by slot, never by position, so adding or reordering blocks changes only what changed.
pub fn by_slot(blocks: &Value) -> std::collections::BTreeMap<String, Value> {
    blocks.as_list().unwrap_or_default().iter().filter_map(|b| Some((b.get("slot").as_str()?.to_string(), b.clone()))).collect()
}

/// A plan-time error on every block of `block` (a list of disks or mount points) whose `slot` an
/// earlier block already took: two volumes cannot share `scsi0` or `mp1`.
pub fn duplicate_slots(config: &Value, block: &str, summary: &str, used_again: &str) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let mut slots = BTreeSet::new();
    for (i, item) in config.get(block).as_list().unwrap_or_default().iter().enumerate() {
        if let Some(slot) = item.get("slot").as_str()
            && !slots.insert(slot.to_string())
        {
            let at = vec![
                crate::plugin::diag::Step::Attr(block.into()),
                crate::plugin::diag::Step::Index(i as i64),
                crate::plugin::diag::Step::Attr("slot".into()),
            ];
            diags.push(Diagnostic::error(summary, format!("{slot} {used_again}")).at(at));
        }
    }
    diags
}

/// The `description` attribute: the guest's notes without the provider's mark
/// ([`pve_api::marker`]), so the mark is never a diff.
pub fn description_state(config: &GuestConfig) -> Value {
    text(config, "description").and_then(|d| pve_api::marker::without_mark(&d)).map(Value::from).unwrap_or(Value::Null)
}

/// The `description` parameter, always with the mark: on create, and whenever it changes (an
/// emptied description keeps the mark alone).
pub fn description_param(planned: &Value, prior: &Value, params: &mut Params) {
    if prior.is_null() || planned.get("description") != prior.get("description") {
        params.insert("description", pve_api::marker::with_mark(planned.get("description").as_str()));
    }
}

#[cfg(test)]
mod slot_tests {
    use super::*;

    #[test]
    fn a_slot_used_again_is_refused_where_it_is_used_again() {
        let disk = |slot: &str| Value::object([("slot", slot.into())]);
        let config = Value::object([("disk", Value::List(vec![disk("scsi0"), disk("scsi1"), disk("scsi0")]))]);
        let diags = duplicate_slots(&config, "disk", "Duplicate disk slot", "is used by more than one disk");
        let proto = diags.to_proto();
        assert_eq!(proto.len(), 1, "{proto:?}");
        assert_eq!(proto[0].detail, "scsi0 is used by more than one disk");
        assert!(format!("{:?}", proto[0].attribute).contains("ElementKeyInt(2)"), "{:?}", proto[0].attribute);
        assert!(duplicate_slots(&Value::object([]), "disk", "x", "y").to_proto().is_empty());
    }

    #[test]
    fn blocks_are_matched_by_slot() {
        let mp = |slot: &str, size: i64| Value::object([("slot", slot.into()), ("size", size.into())]);
        let slots = by_slot(&Value::List(vec![mp("mp1", 5), mp("mp0", 10)]));
        assert_eq!(slots.keys().collect::<Vec<_>>(), ["mp0", "mp1"]);
        assert_eq!(slots["mp0"].get("size").as_i64(), Some(10));
    }
}
