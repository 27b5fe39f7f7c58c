//! `resource "pve_lxc"`: an LXC container, created from an OS template volume or cloned.
//!
//! Plan rules: replaced when `vmid`, `node` or `unprivileged` changes; a volume's `storage` moves
//! it in place (a running container is shut down for the move, as PVE requires, and started again);
//! `rootfs` and mount points grow in place and never shrink (refused at plan time); everything
//! else updates in place. Write-only inputs (`template_volume`, `clone_vmid`, `password`,
//! `ssh_public_keys`) are read at creation only and never stored, so an import plans clean.
//!
//! Refused at plan time, with no writes (`guest::checks`; only what is new or changed, values
//! unknown at plan time in create and update before the first write): an unknown node, a rootfs
//! or mount point `storage` the node lacks or that holds no `rootdir`, a `snippet_storage`
//! without `snippets` for the security-updates hookscript, a `template_volume` that is not on
//! its storage on the node, a `clone_vmid` that is no container, a `vmid` another guest has or another resource of the plan sets, a
//! `bridge` the node lacks, and more `cores` than the node has. A clone to another node that PVE
//! cannot make there (local volumes) is made on the source's node and migrated offline.

use crate::plugin::diag::api_failure;
use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;
use pve_api::{GuestConfig, GuestKind, Params, PropertyString};

use super::guest::checks::{self, CloneWant, ROOTDIR, SNIPPETS, TemplateWant, VcpuWant, VolumeWant, Wants, bridge_wants};
use super::guest::{
    Creation, CreationFailed, Located, by_slot, check_ip, check_ipv4_config, check_node, check_tags, description_param, description_state,
    destroy, duplicate_slots, flag, gib_ceil, grow, guest_tags, indexed, json_text, keep_lifecycle_tags, locate, lowercase_sorted, migrate,
    move_volumes, nameservers, place_clone, read_config, set_pool, set_power, settle, storage_moves, text, timeout, timeouts_block,
    update_config, upload_snippet,
};
use crate::plugin::diag::{Diagnostic, Diagnostics, Path, Step, attr};
use crate::plugin::resource::{CreateError, Resource};
use crate::plugin::schema::{Attribute, Block, Nesting, Validator};
use crate::plugin::value::{Type, Value};
use crate::provider::Context;

mod model;
pub(crate) mod names;
mod schema;
mod steps;
use model::*;
use steps::*;

const LXC: GuestKind = GuestKind::Lxc;

pub struct PveLxc;

impl Resource<Context> for PveLxc {
    fn type_name(&self) -> &'static str {
        "pve_lxc"
    }

    fn schema(&self) -> Block {
        schema::schema()
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let (template, clone) = (config.get(names::TEMPLATE_VOLUME), config.get(names::CLONE_VMID));
        if template.is_set() && clone.is_set() {
            diags.push(Diagnostic::error("Conflicting sources", "set template_volume or clone_vmid, not both").at(attr(names::CLONE_VMID)));
        }
        if config.get(names::ROOTFS).is_null() && clone.is_null() && !template.is_unknown() {
            diags.push(
                Diagnostic::error("Missing rootfs", "a container built from a template needs a rootfs block (storage and size)")
                    .at(attr(names::ROOTFS)),
            );
        }
        diags.extend(duplicate_slots(config, names::MOUNT_POINT, "Duplicate mount point", "is used twice"));
        diags
    }

    fn modify_plan<'a>(
        &'a self,
        ctx: Option<&'a Context>,
        prior: &'a Value,
        config: &'a Value,
        planned: &'a mut Value,
        replace: &'a mut Vec<Path>,
    ) -> BoxFuture<'a, Diagnostics> {
        Box::pin(async move {
            let mut diags = Diagnostics::default();
            if !prior.is_null() {
                // A volume whose storage changes is moved in place (move_volume), not replaced.
                let mut check = |path: Path, new: &Value, old: &Value| {
                    if let (Some(n), Some(o)) = (new.get(names::SIZE).as_i64(), old.get(names::SIZE).as_i64())
                        && n < o
                    {
                        let mut p = path;
                        p.push(Step::Attr(names::SIZE.into()));
                        diags.push(
                            Diagnostic::error(
                                "Volumes cannot shrink",
                                format!("the volume is {o} GiB; it can grow but not shrink to {n} GiB"),
                            )
                            .at(p),
                        );
                    }
                };
                if !planned.get(names::ROOTFS).is_null() && !prior.get(names::ROOTFS).is_null() {
                    check(attr(names::ROOTFS), planned.get(names::ROOTFS), prior.get(names::ROOTFS));
                }
                let old = by_slot(prior.get(names::MOUNT_POINT));
                for (i, mp) in planned.get(names::MOUNT_POINT).as_list().unwrap_or_default().iter().enumerate() {
                    if let Some(before) = mp.get(names::SLOT).as_str().and_then(|s| old.get(s)) {
                        check(vec![Step::Attr(names::MOUNT_POINT.into()), Step::Index(i as i64)], mp, before);
                    }
                }
            }
            diags.extend(check_node(ctx, planned, prior).await);
            if let Some(ctx) = ctx {
                let vmid = |state: &Value| state.get(names::VMID).as_i64().map(|v| v.max(0) as u64);
                let (name, at) = (planned.get(names::HOSTNAME).as_str(), attr(names::VMID));
                diags.extend(checks::check_planned_vmid(ctx, "pve_lxc", name, vmid(planned), vmid(prior), &at).await);
                // A replacement is a new container: asked for everything, like a create.
                let creating = prior.is_null() || !replace.is_empty();
                if let Some(wants) = cluster_wants(prior, config, planned, creating) {
                    diags.extend(checks::check(ctx, &wants).await);
                }
            }
            if let Some(ctx) = ctx
                && planned.get(names::SECURITY_UPDATES).as_bool() == Some(true)
                && !ctx.ssh.configured
            {
                diags.push(
                    Diagnostic::error(
                        "SSH needed for security_updates",
                        "the hookscript is written to the node over SSH: configure the provider's ssh block (or PVE_SSH_* variables).",
                    )
                    .at(attr(names::SECURITY_UPDATES)),
                );
            }
            // pve-container `check_ct_modify_config_perm` lets only root@pam itself (a password
            // login, no token, not even root's) set a hookscript.
            if let Some(ctx) = ctx
                && planned.get(names::SECURITY_UPDATES).as_bool() == Some(true)
                && prior.get(names::SECURITY_UPDATES).as_bool() != Some(true)
                && ctx.client.authenticates_with_token()
            {
                diags.push(
                    Diagnostic::warning(
                        "PVE lets only root@pam set a hookscript",
                        "security_updates sets the container's hookscript, which PVE allows only to root@pam logged in with its password: a real cluster refuses every API token here (\"changing the hookscript is only allowed for root@pam\"). Give this provider root@pam's username and password, or set security_updates = false.",
                    )
                    .at(attr(names::SECURITY_UPDATES)),
                );
            }
            if config.get(names::TEMPLATE_VOLUME).is_null() && config.get(names::CLONE_VMID).is_null() && prior.is_null() {
                diags.push(
                    Diagnostic::error("Missing source", "set template_volume (an OS template) or clone_vmid")
                        .at(attr(names::TEMPLATE_VOLUME)),
                );
            }
            diags
        })
    }

    fn create<'a>(&'a self, ctx: &'a Context, planned: Value, config: Value) -> BoxFuture<'a, Result<Value, CreateError>> {
        Box::pin(async move {
            let limit = timeout(&planned, "create", 30);
            // What was unknown at plan time is known now: checked before the first write.
            checks::check_before_writing(ctx, cluster_wants(&Value::Null, &config, &planned, true)).await?;
            if let Some(vmid) = planned.get(names::VMID).as_i64() {
                // Another resource of this run that sets the same VMID is named, not just "taken".
                let hostname = planned.get(names::HOSTNAME).as_str().unwrap_or_default().to_string();
                let me = crate::provider::Claimant { resource_type: "pve_lxc", name: hostname };
                checks::claim_vmid_in_plan(ctx, vmid as u64, me, false, &attr(names::VMID))?;
            }
            let node = planned.get(names::NODE).as_str().unwrap_or_default().to_string();
            let vmid = match planned.get(names::VMID).as_i64() {
                Some(vmid) if ctx.claim_vmid(vmid as u64).await.map_err(|e| api_failure("Checking the VMID", e))? => vmid as u64,
                Some(vmid) => {
                    return Err(Diagnostic::error("VMID in use", format!("VMID {vmid} is already taken")).at(attr(names::VMID)).into());
                }
                None => ctx.allocate_vmid().await.map_err(|e| api_failure("Allocating a VMID", e))?,
            };
            let mut params = Params::new();
            let mut deletes = Vec::new();
            config_params(&planned, &Value::Null, &mut params, &mut deletes);
            if planned.get(names::SECURITY_UPDATES).as_bool() == Some(true) {
                match write_hook(ctx, &node, &planned).await {
                    Ok(hook) => params.insert("hookscript", hook),
                    Err(diags) => {
                        ctx.release_vmid(vmid);
                        return Err(diags.into());
                    }
                }
            }
            let planned_ref = &planned;
            // Once PVE has the container, a failure still reports it (tainted), even if unreadable.
            let partial = |diags: Diagnostics| async move {
                let known = match read_state(ctx, vmid, planned_ref).await {
                    Ok(Some(actual)) => Some(settle(planned_ref, &actual)),
                    Ok(None) => None,
                    Err(_) => Some(minimal_state(planned_ref, vmid)),
                };
                CreateError { partial: known, diagnostics: diags }
            };
            let built = match config.get(names::CLONE_VMID).as_i64() {
                Some(source) => {
                    let source = source as u64;
                    let source_guest = ctx.clone_source(source, LXC).await.map_err(|e| api_failure("Reading the clone source", e))?;
                    let Some(source_guest) = source_guest else {
                        ctx.release_vmid(vmid);
                        return Err(Diagnostic::error("Clone source not found", checks::clone_source_missing(LXC, source))
                            .at(attr(names::CLONE_VMID))
                            .into());
                    };
                    let source_node = source_guest.node.clone();
                    let mut clone =
                        Params::new().set("hostname", planned.get(names::HOSTNAME).as_str().unwrap_or_default()).flag("full", true);
                    let storage = planned.get(names::ROOTFS).get("storage").as_str();
                    let placement = place_clone(ctx, LXC, source, &source_guest, &node, storage, &mut clone).await?;
                    // The mark goes with the clone request itself (see pve_api::marker).
                    clone.insert("description", pve_api::marker::with_mark(planned.get(names::DESCRIPTION).as_str()));
                    let hostname = planned.get(names::HOSTNAME).as_str().unwrap_or_default();
                    let creation = Creation { kind: LXC, vmid, node: &source_node, name: hostname, what: "Cloning the container" };
                    let mut cloned = {
                        let _allocating = ctx.storage_slot(&placement.allocating_on, &placement.allocating_storage).await;
                        creation.run(ctx, limit, || Box::pin(ctx.client.clone_guest(LXC, &source_node, source, vmid, &clone))).await
                    };
                    if cloned.is_ok()
                        && let Some(target) = &placement.migrate_to
                        && let Err(diagnostics) = migrate(ctx, LXC, &source_node, vmid, target, storage, limit).await
                    {
                        // The clone is there, on the source's node: kept in state (tainted).
                        cloned = Err(CreationFailed { diagnostics, may_have_made: true });
                    }
                    ctx.invalidate_resources().await;
                    match cloned {
                        Err(failed) => Err(failed),
                        Ok(()) => {
                            // Mount points of the configuration are added, the rootfs grown.
                            for mp in planned.get(names::MOUNT_POINT).as_list().unwrap_or_default() {
                                params.insert(mp.get(names::SLOT).as_str().unwrap_or("mp0"), new_mount_point(mp));
                            }
                            let configured = match update_config(ctx, LXC, &node, vmid, &params).await {
                                Err(d) => Err(d),
                                Ok(()) => match planned.get(names::ROOTFS).get("size").as_i64() {
                                    Some(size) => grow(ctx, LXC, &node, vmid, "rootfs", size, limit).await,
                                    None => Ok(()),
                                },
                            };
                            configured.map_err(|diagnostics| CreationFailed { diagnostics, may_have_made: true })
                        }
                    }
                }
                None => {
                    params.insert("vmid", vmid);
                    params.insert("ostemplate", config.get(names::TEMPLATE_VOLUME).as_str().unwrap_or_default());
                    params.insert("unprivileged", if planned.get(names::UNPRIVILEGED).as_bool() == Some(false) { "0" } else { "1" });
                    let rootfs = planned.get(names::ROOTFS);
                    if !rootfs.is_null() {
                        params.insert(
                            "rootfs",
                            format!(
                                "{}:{}",
                                rootfs.get(names::STORAGE).as_str().unwrap_or("local-lvm"),
                                rootfs.get(names::SIZE).as_i64().unwrap_or(8)
                            ),
                        );
                    }
                    for mp in planned.get(names::MOUNT_POINT).as_list().unwrap_or_default() {
                        params.insert(mp.get(names::SLOT).as_str().unwrap_or("mp0"), new_mount_point(mp));
                    }
                    if let Some(password) = config.get(names::PASSWORD).as_str() {
                        params.insert("password", password);
                    }
                    if let Some(keys) = config.get(names::SSH_PUBLIC_KEYS).as_list().filter(|k| !k.is_empty()) {
                        params.insert("ssh-public-keys", keys.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"));
                    }
                    if let Some(pool) = planned.get(names::POOL).as_str() {
                        params.insert("pool", pool);
                    }
                    let hostname = planned.get(names::HOSTNAME).as_str().unwrap_or_default();
                    let creation = Creation { kind: LXC, vmid, node: &node, name: hostname, what: "Creating the container" };
                    let storage = planned.get(names::ROOTFS).get(names::STORAGE).as_str().unwrap_or("local-lvm");
                    let _allocating = ctx.storage_slot(&node, storage).await;
                    let created = creation.run(ctx, limit, || Box::pin(ctx.client.create_guest(LXC, &node, &params))).await;
                    ctx.invalidate_resources().await;
                    created
                }
            };
            match built {
                Ok(()) => {}
                // What PVE kept of a create or clone (if anything) is reported, not forgotten.
                Err(CreationFailed { diagnostics, may_have_made: true }) => return Err(partial(diagnostics).await),
                Err(CreationFailed { diagnostics, may_have_made: false }) => {
                    ctx.release_vmid(vmid);
                    return Err(diagnostics.into());
                }
            }
            if !config.get(names::CLONE_VMID).is_null()
                && let Some(pool) = planned.get(names::POOL).as_str()
                && let Err(e) = ctx.client.update_pool(pool, &Params::new().set("vms", vmid)).await
            {
                return Err(partial(api_failure("Joining the pool", e)).await);
            }
            if planned.get(names::STARTED).as_bool() != Some(false)
                && let Err(d) = set_power(ctx, LXC, &node, vmid, true, limit).await
            {
                return Err(partial(d).await);
            }
            ctx.invalidate_resources().await;
            match read_state(ctx, vmid, &planned).await {
                Ok(Some(actual)) => Ok(settle(&planned, &actual)),
                Ok(None) => Err(Diagnostic::error("Container vanished", format!("CT {vmid} is gone")).into()),
                Err(diagnostics) => Err(CreateError { partial: Some(minimal_state(&planned, vmid)), diagnostics }),
            }
        })
    }

    fn read<'a>(&'a self, ctx: &'a Context, state: Value) -> BoxFuture<'a, Result<Option<Value>, Diagnostics>> {
        Box::pin(async move {
            let Some(vmid) = state.get(names::VMID).as_i64() else { return Ok(None) };
            read_state(ctx, vmid as u64, &state).await
        })
    }

    fn update<'a>(&'a self, ctx: &'a Context, prior: Value, planned: Value, config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let limit = timeout(&planned, "update", 30);
            checks::check_before_writing(ctx, cluster_wants(&prior, &config, &planned, false)).await?;
            let vmid = prior.get(names::VMID).as_i64().unwrap_or_default() as u64;
            let Located { node, running, .. } = locate(ctx, vmid, LXC)
                .await?
                .ok_or_else(|| Diagnostics::from(Diagnostic::error("Container not found", format!("CT {vmid} no longer exists"))))?;
            // Volumes whose storage changes move first, so the update below sees their new volumes.
            let with_slot = |rootfs: &Value| match rootfs {
                Value::Map(m) => {
                    let mut m = m.clone();
                    m.insert(names::SLOT.into(), "rootfs".into());
                    Value::Map(m)
                }
                other => other.clone(),
            };
            let volumes = |state: &Value| {
                let mut all = vec![with_slot(state.get(names::ROOTFS))];
                all.extend(state.get(names::MOUNT_POINT).as_list().unwrap_or_default().iter().cloned());
                all
            };
            let (old_volumes, new_volumes) = (volumes(&prior), volumes(&planned));
            let moves = storage_moves(&old_volumes.iter().collect::<Vec<_>>(), &new_volumes.iter().collect::<Vec<_>>());
            move_volumes(ctx, LXC, &node, vmid, &moves, running, limit).await?;
            let current = ctx.client.guest_config(LXC, &node, vmid).await.map_err(|e| api_failure("Reading the container config", e))?;
            let mut params = Params::new();
            let mut deletes = Vec::new();
            config_params(&planned, &prior, &mut params, &mut deletes);
            keep_lifecycle_tags(&current, &mut params, &mut deletes);
            let (had_hook, wants_hook) =
                (prior.get(names::SECURITY_UPDATES).as_bool() == Some(true), planned.get(names::SECURITY_UPDATES).as_bool() == Some(true));
            if wants_hook && (!had_hook || planned.get(names::SNIPPET_STORAGE) != prior.get(names::SNIPPET_STORAGE)) {
                params.insert("hookscript", write_hook(ctx, &node, &planned).await?);
            } else if had_hook && !wants_hook {
                deletes.push("hookscript".into());
            }
            let old_mps = by_slot(prior.get(names::MOUNT_POINT));
            let mut grows = Vec::new();
            let mut kept = BTreeSet::new();
            for mp in planned.get(names::MOUNT_POINT).as_list().unwrap_or_default() {
                let slot = mp.get(names::SLOT).as_str().unwrap_or_default().to_string();
                kept.insert(slot.clone());
                match old_mps.get(&slot) {
                    Some(before) => {
                        if mp.get(names::SIZE).as_i64() > before.get(names::SIZE).as_i64() {
                            grows.push((slot.clone(), mp.get(names::SIZE).as_i64().unwrap_or(1)));
                        }
                        if mp.get(names::PATH) != before.get(names::PATH) || mp.get(names::BACKUP) != before.get(names::BACKUP) {
                            let mut p =
                                text(&current, &slot).and_then(|v| PropertyString::parse(&v, Some("volume")).ok()).unwrap_or_default();
                            p.set("mp", mp.get(names::PATH).as_str().unwrap_or("/mnt"));
                            p.set("backup", if mp.get(names::BACKUP).as_bool() == Some(true) { "1" } else { "0" });
                            p.remove("size");
                            params.insert(&slot, p.to_string_with_default("volume"));
                        }
                    }
                    // The same string as at creation: a copy here once dropped `backup`, so the
                    // plan never settled (`backup = false -> true` on every plan).
                    None => params.insert(&slot, new_mount_point(mp)),
                }
            }
            deletes.extend(old_mps.keys().filter(|s| !kept.contains(*s)).cloned());
            if !deletes.is_empty() {
                params.insert("delete", deletes.join(","));
            }
            if !params.is_empty() {
                update_config(ctx, LXC, &node, vmid, &params.set("digest", &current.digest)).await?;
            }
            if let (Some(new), Some(old)) = (planned.get(names::ROOTFS).get("size").as_i64(), prior.get(names::ROOTFS).get("size").as_i64())
                && new > old
            {
                grow(ctx, LXC, &node, vmid, "rootfs", new, limit).await?;
            }
            for (slot, size) in grows {
                grow(ctx, LXC, &node, vmid, &slot, size, limit).await?;
            }
            set_pool(ctx, vmid, prior.get(names::POOL), planned.get(names::POOL)).await?;
            if planned.get(names::STARTED) != prior.get(names::STARTED) {
                set_power(ctx, LXC, &node, vmid, planned.get(names::STARTED).as_bool() == Some(true), limit).await?;
            }
            ctx.invalidate_resources().await;
            let actual = read_state(ctx, vmid, &planned)
                .await?
                .ok_or_else(|| Diagnostics::from(Diagnostic::error("Container vanished", format!("CT {vmid} is gone"))))?;
            Ok(settle(&planned, &actual))
        })
    }

    fn delete<'a>(&'a self, ctx: &'a Context, prior: Value) -> BoxFuture<'a, Result<(), Diagnostics>> {
        Box::pin(async move { destroy(ctx, LXC, &prior).await })
    }

    fn import<'a>(&'a self, ctx: &'a Context, id: String) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let vmid = crate::functions::vmid_from_id(&id)
                .ok_or_else(|| Diagnostics::from(Diagnostic::error("Invalid import ID", format!("'{id}' is not NODE/VMID or VMID"))))?;
            ctx.invalidate_resources().await;
            read_state(ctx, vmid, &Value::Null)
                .await?
                .ok_or_else(|| Diagnostic::error("Container not found", format!("no container with VMID {vmid}")).into())
        })
    }
}
