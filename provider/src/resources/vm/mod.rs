//! `resource "pve_vm"`: a QEMU virtual machine, cloned from a template or built from scratch.
//!
//! Plan rules, in brief:
//! - Replaced when changed: `vmid`, `node`, `template`. A disk's `storage` moves the disk in place.
//! - A clone to another node than its source's, where PVE cannot clone across nodes (local
//!   volumes), is made on the source's node and migrated offline to `node`.
//! - In place: everything else. Hardware changes of a running VM that PVE cannot hotplug wait as
//!   pending changes; `reboot_required` then says so.
//! - Never a diff: tag order or case (PVE sorts and lowercases), write-only inputs (`clone_vmid`,
//!   `clone_full`, `ci_password`), a VM that HA moved to another node (`current_node` follows it).
//! - Refused at plan time, with no writes (`guest::checks`; only what is new or changed, values
//!   unknown at plan time in create and update before the first write): shrinking a disk, an
//!   unknown node, a disk `storage` the node lacks or that holds no `images`, a `snippet_storage`
//!   without `snippets` when a snippet is written, a `clone_vmid` that is no VM or template, a
//!   linked clone on another storage than its template's, a clone to another node from or to
//!   local storage, a `vmid` another guest has or another resource of the plan sets, a `bridge`
//!   the node lacks, more vCPUs (`cores` × `sockets`) than the node has, and every malformed value.
//!
//! Concurrency: clones of one template run side by side (PVE takes a shared lock on a stopped
//! source); allocations per storage are bounded by `max_allocations_per_storage` (PVE serialises
//! them behind the storage lock), write requests per node by `max_concurrent_per_node`, and VMIDs are
//! reserved in-process and confirmed with PVE, so parallel creates never collide.

use crate::plugin::diag::api_failure;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use futures::future::BoxFuture;
use pve_api::{GuestConfig, GuestKind, Params, PropertyString};

use crate::plugin::diag::{Diagnostic, Diagnostics, Path, Step, attr};
use crate::plugin::resource::{CreateError, IdentityAttribute, Resource};
use crate::plugin::schema::{Attribute, Block, Nesting, Validator};
use crate::plugin::value::{Type, Value};
use crate::provider::Context;

use super::guest::checks::{self, CloneWant, IMAGES, ImageWant, SNIPPETS, VcpuWant, VolumeWant, Wants, bridge_wants};
use super::guest::{
    Creation, CreationFailed, Located, by_slot, check_ip, check_ipv4_config, check_node, check_tags, description_param, description_state,
    destroy, duplicate_slots, flag, gib_ceil, grow, guest_tags, indexed, json_text, keep_lifecycle_tags, locate, lowercase_sorted, migrate,
    move_volumes, nameservers, place_clone, read_config, read_config_at, set_pool, set_power, settle, storage_moves, text, timeout,
    timeouts_block, until_done, update_config, upload_snippet,
};

mod model;
pub(crate) mod names;
mod schema;
mod steps;
use model::*;
use schema::*;

const QEMU: GuestKind = GuestKind::Qemu;

pub struct PveVm;

impl Resource<Context> for PveVm {
    fn type_name(&self) -> &'static str {
        "pve_vm"
    }

    fn schema(&self) -> Block {
        schema::schema()
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        for (i, disk) in config.get(names::DISK).as_list().unwrap_or_default().iter().enumerate() {
            let at = |field: &str| vec![Step::Attr(names::DISK.into()), Step::Index(i as i64), Step::Attr(field.into())];
            let bus = disk.get(names::SLOT).as_str().unwrap_or("").trim_end_matches(|c: char| c.is_ascii_digit()).to_string();
            // PVE's drive formats: ssd emulation is not offered on virtio, iothreads only on scsi/virtio.
            if disk.get(names::SSD).as_bool() == Some(true) && bus == "virtio" {
                diags.push(
                    Diagnostic::error("No SSD emulation on virtio", "ssd is available on scsi, sata and ide disks, not virtio")
                        .at(at("ssd")),
                );
            }
            if disk.get(names::IOTHREAD).as_bool() == Some(true) && (bus == "sata" || bus == "ide") {
                diags.push(
                    Diagnostic::error("No iothread on this bus", "iothread is available on scsi and virtio disks").at(at("iothread")),
                );
            }
        }
        diags.extend(duplicate_slots(config, names::DISK, "Duplicate disk slot", "is used by more than one disk"));
        if !config.get(names::CLONE_VMID).is_null() {
            let storages: BTreeSet<&str> =
                config.get(names::DISK).as_list().unwrap_or_default().iter().filter_map(|d| d.get(names::STORAGE).as_str()).collect();
            if storages.len() > 1 {
                diags.push(
                    Diagnostic::error(
                        "One storage per clone",
                        "PVE clones every disk onto one storage; give all disk blocks the same storage, or build the VM from scratch",
                    )
                    .at(attr(names::DISK)),
                );
            }
        }
        for (i, ip) in config.get(names::IP_CONFIG).as_list().unwrap_or_default().iter().enumerate() {
            if ip.get(names::IPV4).as_str() == Some("dhcp") && !ip.get(names::GATEWAY).is_null() {
                diags.push(Diagnostic::error("Gateway with DHCP", "a gateway only applies to a static address").at(vec![
                    Step::Attr(names::IP_CONFIG.into()),
                    Step::Index(i as i64),
                    Step::Attr(names::GATEWAY.into()),
                ]));
            }
        }
        let builtins =
            ["install_docker", "install_node_exporter", "security_updates"].iter().any(|k| config.get(k).as_bool() == Some(true));
        let (wo, wo_version) = (config.get(names::USER_DATA_WO), config.get(names::USER_DATA_WO_VERSION));
        if wo.is_set() && config.get(names::USER_DATA).is_set() {
            diags.push(Diagnostic::error("Conflicting user-data", "set user_data or user_data_wo, not both").at(attr(names::USER_DATA_WO)));
        }
        if wo.is_set() && builtins {
            diags.push(Diagnostic::error("Conflicting user-data", "user_data_wo is used verbatim; install_docker, install_node_exporter and security_updates build user-data of their own. Use one or the other.").at(attr(names::USER_DATA_WO)));
        }
        if wo.is_set() && wo_version.is_null() {
            diags.push(
                Diagnostic::error(
                    "user_data_wo needs a version",
                    "set user_data_wo_version too: write-only values are not compared, so its change is what rewrites the snippet",
                )
                .at(attr(names::USER_DATA_WO_VERSION)),
            );
        }
        if config.get(names::USER_DATA).is_set() && builtins {
            diags.push(Diagnostic::error("Conflicting user-data", "user_data is used verbatim; install_docker, install_node_exporter and security_updates build user-data of their own. Use one or the other.").at(attr(names::USER_DATA)));
        }
        // Only what is known to be set conflicts: at validate time a module's inputs are still
        // unknown, and a VM that takes user_data_wo_version and ci_password from one conditional
        // (one or the other) must pass.
        let snippet = config.get(names::USER_DATA).is_set() || wo_version.is_set() || builtins;
        if snippet && config.get(names::CI_CUSTOM).is_set() {
            diags.push(
                Diagnostic::error(
                    "Conflicting user-data",
                    "ci_custom names its own snippets; it cannot be combined with user_data or the install_* options.",
                )
                .at(attr(names::CI_CUSTOM)),
            );
        }
        if snippet && config.get(names::CI_PASSWORD).is_set() {
            diags.push(
                Diagnostic::error(
                    "Password with generated user-data",
                    "PVE ignores ci_password when user-data comes from a snippet; log in with ci_ssh_keys instead.",
                )
                .at(attr(names::CI_PASSWORD)),
            );
        }
        if config.get(names::EFI_DISK).is_set() && config.get(names::BIOS).as_str() != Some("ovmf") {
            diags.push(
                Diagnostic::error(
                    "EFI disk without OVMF",
                    "an efi_disk holds UEFI variables: set bios = \"ovmf\" (SeaBIOS, the default, has none)",
                )
                .at(attr(names::EFI_DISK)),
            );
        }
        if config.get(names::CLOUD_INIT_STORAGE).is_set()
            && config.get(names::DISK).as_list().unwrap_or_default().iter().any(|d| d.get(names::SLOT).as_str() == Some("ide2"))
        {
            diags.push(
                Diagnostic::error("ide2 is the cloud-init drive's", "the cloud-init drive goes on ide2: give that disk another slot")
                    .at(attr(names::CLOUD_INIT_STORAGE)),
            );
        }
        if config.get(names::TEMPLATE).as_bool() == Some(true) && config.get(names::STARTED).as_bool() == Some(true) {
            diags.push(
                Diagnostic::error("Templates do not run", "set started = false (or leave it unset) for a template")
                    .at(attr(names::STARTED)),
            );
        }
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
            if let Value::Map(p) = planned {
                if config.get(names::TEMPLATE).as_bool() == Some(true) && config.get(names::STARTED).is_null() {
                    p.insert(names::STARTED.into(), false.into());
                }
                if prior.is_null() {
                    p.insert(names::REBOOT_REQUIRED.into(), false.into());
                }
            }
            let prior_disks = by_slot(prior.get(names::DISK));
            for (i, disk) in planned.get(names::DISK).as_list().unwrap_or_default().iter().enumerate() {
                let Some(before) = disk.get(names::SLOT).as_str().and_then(|s| prior_disks.get(s)) else { continue };
                let path = |field: &str| vec![Step::Attr(names::DISK.into()), Step::Index(i as i64), Step::Attr(field.into())];
                if let (Some(new), Some(old)) = (disk.get(names::SIZE).as_i64(), before.get(names::SIZE).as_i64())
                    && new < old
                {
                    diags.push(
                        Diagnostic::error(
                            "Disks cannot shrink",
                            format!(
                                "{} is {old} GiB; it can grow but not shrink to {new} GiB",
                                disk.get(names::SLOT).as_str().unwrap_or("disk")
                            ),
                        )
                        .at(path("size")),
                    );
                }
            }
            if !prior.is_null() {
                let hardware = ["cores", "sockets", "cpu_type", "memory", "bios", "machine", "scsihw"];
                if prior.get(names::STARTED).as_bool() == Some(true)
                    && hardware.iter().any(|k| planned.get(k) != prior.get(k))
                    && let Value::Map(p) = planned
                {
                    p.insert(names::REBOOT_REQUIRED.into(), Value::Unknown);
                }
            }
            if let Some(ctx) = ctx
                && crate::resources::guest::cloud_init::wanted(planned)
                && !ctx.ssh.configured
            {
                diags.push(
                    Diagnostic::error("SSH needed for user-data", "user_data and the install_* options are written to the node as a snippet over SSH: configure the provider's ssh block (or PVE_SSH_* variables).")
                        .at(attr(names::USER_DATA)),
                );
            }
            diags.extend(check_node(ctx, planned, prior).await);
            if let Some(ctx) = ctx {
                let vmid = |state: &Value| state.get(names::VMID).as_i64().map(|v| v.max(0) as u64);
                let (name, at) = (planned.get(names::NAME).as_str(), attr(names::VMID));
                diags.extend(checks::check_planned_vmid(ctx, "pve_vm", name, vmid(planned), vmid(prior), &at).await);
                // A replacement is a new VM: asked for everything, like a create.
                let creating = prior.is_null() || !replace.is_empty();
                if let Some(wants) = cluster_wants(prior, config, planned, creating) {
                    diags.extend(checks::check(ctx, &wants).await);
                }
            }
            diags
        })
    }

    fn create<'a>(&'a self, ctx: &'a Context, planned: Value, config: Value) -> BoxFuture<'a, Result<Value, CreateError>> {
        Box::pin(async move {
            let limit = timeout(&planned, "create", 30);
            // What was unknown at plan time is known now: checked before the first write.
            checks::check_before_writing(ctx, cluster_wants(&Value::Null, &config, &planned, true)).await?;
            let node = planned.get(names::NODE).as_str().unwrap_or_default().to_string();
            let vmid = match planned.get(names::VMID).as_i64() {
                Some(vmid) => {
                    let vmid = vmid as u64;
                    // Another resource of this run that sets the same VMID is named, not just "taken".
                    let me = crate::provider::Claimant {
                        resource_type: "pve_vm",
                        name: planned.get(names::NAME).as_str().unwrap_or_default().into(),
                    };
                    checks::claim_vmid_in_plan(ctx, vmid, me, false, &attr(names::VMID))?;
                    if !ctx.claim_vmid(vmid).await.map_err(|e| api_failure("Checking the VMID", e))? {
                        return Err(Diagnostic::error(
                            "VMID in use",
                            format!("VMID {vmid} is already taken; choose another or leave vmid unset"),
                        )
                        .at(attr(names::VMID))
                        .into());
                    }
                    vmid
                }
                None => ctx.allocate_vmid().await.map_err(|e| api_failure("Allocating a VMID", e))?,
            };
            let cicustom = if crate::resources::guest::cloud_init::wanted(&planned) {
                match Self::write_snippet(ctx, &node, vmid, &with_write_only_user_data(&planned, &config)).await {
                    Ok(cicustom) => Some(cicustom),
                    Err(diags) => {
                        ctx.release_vmid(vmid);
                        return Err(diags.into());
                    }
                }
            } else {
                None
            };
            // No listing is invalidated: a guest missing from the shared listing is looked up
            // again in a fresh one (guest::find_guest), so creates do not cost a listing each.
            let built = Self::build(ctx, vmid, &planned, &config, cicustom.as_deref(), limit).await;
            if let Err(mut error) = built {
                if error.partial.is_none() {
                    ctx.release_vmid(vmid);
                    if cicustom.is_some() {
                        Self::remove_snippet(ctx, &node, vmid, &planned).await;
                    }
                }
                // The half-built VM stays in state (tainted) with what we know of it.
                error.partial = error.partial.map(|actual| settle(&planned, &actual));
                return Err(error);
            }
            let actual = match Self::read_built(ctx, vmid, &planned).await {
                Ok(Some(actual)) => actual,
                Ok(None) => return Err(Diagnostic::error("VM vanished", format!("VM {vmid} was created but is gone")).into()),
                // Built, but not readable right now: keep it in state rather than lose track of it.
                Err(diagnostics) => return Err(CreateError { partial: Some(minimal_state(&planned, vmid)), diagnostics }),
            };
            Ok(settle(&planned, &actual))
        })
    }

    fn read<'a>(&'a self, ctx: &'a Context, state: Value) -> BoxFuture<'a, Result<Option<Value>, Diagnostics>> {
        Box::pin(async move {
            let Some(vmid) = state.get(names::VMID).as_i64() else { return Ok(None) };
            Self::read_state(ctx, vmid as u64, &state).await
        })
    }

    fn update<'a>(&'a self, ctx: &'a Context, prior: Value, planned: Value, config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let limit = timeout(&planned, "update", 30);
            checks::check_before_writing(ctx, cluster_wants(&prior, &config, &planned, false)).await?;
            let vmid = prior.get(names::VMID).as_i64().unwrap_or_default() as u64;
            let Some(Located { node, running, .. }) = locate(ctx, vmid, QEMU).await? else {
                return Err(Diagnostic::error("VM not found", format!("VM {vmid} no longer exists; run terraform plan again")).into());
            };
            // Disks whose storage changes move first, so the update below sees their new volumes.
            let (old_disks, new_disks) =
                (prior.get(names::DISK).as_list().unwrap_or_default(), planned.get(names::DISK).as_list().unwrap_or_default());
            let moves = storage_moves(&old_disks.iter().collect::<Vec<_>>(), &new_disks.iter().collect::<Vec<_>>());
            move_volumes(ctx, QEMU, &node, vmid, &moves, running, limit).await?;
            Self::remove_special_disks(ctx, &node, vmid, &prior, &planned).await?;
            let current = ctx.client.guest_config(QEMU, &node, vmid).await.map_err(|e| api_failure("Reading the VM config", e))?;
            let mut params = Params::new();
            let mut deletes = Vec::new();
            config_params(&planned, &prior, &mut params, &mut deletes);
            if let Some(password) = config.get(names::CI_PASSWORD).as_str() {
                params.insert("cipassword", password);
            }
            keep_lifecycle_tags(&current, &mut params, &mut deletes);
            let (had_snippet, wants_snippet) =
                (crate::resources::guest::cloud_init::wanted(&prior), crate::resources::guest::cloud_init::wanted(&planned));
            let snippet_inputs = [
                "user_data",
                "user_data_wo_version",
                "install_docker",
                "install_node_exporter",
                "security_updates",
                "snippet_storage",
                "name",
                "ci_user",
                "ci_ssh_keys",
            ];
            if wants_snippet && (!had_snippet || snippet_inputs.iter().any(|k| planned.get(k) != prior.get(k))) {
                // Rewritten in place: the VM reads it at its next boot, nothing is replaced.
                if planned.get(names::USER_DATA_WO_VERSION).is_set() && config.get(names::USER_DATA_WO).is_null() {
                    return Err(Diagnostic::error(
                        "user_data_wo missing",
                        "user_data_wo_version changed but user_data_wo is not set: the snippet would lose its content",
                    )
                    .at(attr(names::USER_DATA_WO))
                    .into());
                }
                let cicustom = Self::write_snippet(ctx, &node, vmid, &with_write_only_user_data(&planned, &config)).await?;
                if !had_snippet || planned.get(names::SNIPPET_STORAGE) != prior.get(names::SNIPPET_STORAGE) {
                    params.insert("cicustom", cicustom);
                }
            } else if had_snippet && !wants_snippet && planned.get(names::CI_CUSTOM).is_null() {
                deletes.push("cicustom".into());
            }
            let prior_disks = by_slot(prior.get(names::DISK));
            let imports = import_sources(&config);
            let mut imported = Vec::new();
            let mut resizes = Vec::new();
            let mut kept = BTreeSet::new();
            for disk in planned.get(names::DISK).as_list().unwrap_or_default() {
                let slot = disk.get(names::SLOT).as_str().unwrap_or_default().to_string();
                kept.insert(slot.clone());
                match (prior_disks.get(&slot), text(&current, &slot)) {
                    (Some(before), Some(existing)) => {
                        if disk.get(names::SIZE).as_i64() > before.get(names::SIZE).as_i64() {
                            resizes.push((slot.clone(), disk.get(names::SIZE).as_i64().unwrap_or(1)));
                        }
                        let mut with_size = before.clone();
                        if let (Value::Map(w), Value::Map(d)) = (&mut with_size, disk) {
                            w.extend(d.iter().filter(|(k, _)| *k != "size").map(|(k, v)| (k.clone(), v.clone())));
                        }
                        if with_size != *before {
                            let mut p = PropertyString::parse(&existing, Some("file")).unwrap_or_default();
                            disk_options(disk, &mut p);
                            params.insert(&slot, p.to_string_with_default("file"));
                        }
                    }
                    _ => {
                        if imports.contains_key(&slot) {
                            imported.push(slot.clone());
                        }
                        params.insert(&slot, new_disk_string(disk, imports.get(&slot)));
                    }
                }
            }
            special_disk_params(Some(&current), &prior, &planned, &mut params);
            // Removed disks are detached and their volumes destroyed, as the config says.
            let mut removed_volumes = BTreeSet::new();
            for slot in prior_disks.keys().filter(|s| !kept.contains(*s)) {
                deletes.push(slot.clone());
                if let Some(value) = text(&current, slot) {
                    removed_volumes.insert(volume_of(&value));
                }
            }
            if !deletes.is_empty() {
                params.insert("delete", deletes.join(","));
            }
            let has_changes = params.iter().count() > 0;
            if has_changes {
                update_config(ctx, QEMU, &node, vmid, &params.set("digest", &current.digest)).await?;
            }
            if !removed_volumes.is_empty() {
                Self::destroy_unused(ctx, &node, vmid, &removed_volumes).await?;
            }
            for (slot, size) in resizes {
                grow(ctx, QEMU, &node, vmid, &slot, size, limit).await?;
            }
            Self::grow_imported(ctx, &node, vmid, &planned, &imported, limit).await?;
            if had_snippet && !wants_snippet {
                Self::remove_snippet(ctx, &node, vmid, &prior).await;
            }
            set_pool(ctx, vmid, prior.get(names::POOL), planned.get(names::POOL)).await?;
            if planned.get(names::STARTED) != prior.get(names::STARTED) && planned.get(names::TEMPLATE).as_bool() != Some(true) {
                set_power(ctx, QEMU, &node, vmid, planned.get(names::STARTED).as_bool() == Some(true), limit).await?;
            }
            let reboot_required = planned.get(names::STARTED).as_bool() == Some(true) && Self::has_pending(ctx, &node, vmid).await?;
            ctx.invalidate_resources().await;
            let mut actual = Self::read_state(ctx, vmid, &planned)
                .await?
                .ok_or_else(|| Diagnostics::from(Diagnostic::error("VM vanished", format!("VM {vmid} is gone"))))?;
            if let Value::Map(a) = &mut actual {
                a.insert(names::REBOOT_REQUIRED.into(), reboot_required.into());
            }
            Ok(settle(&planned, &actual))
        })
    }

    fn delete<'a>(&'a self, ctx: &'a Context, prior: Value) -> BoxFuture<'a, Result<(), Diagnostics>> {
        Box::pin(async move {
            destroy(ctx, QEMU, &prior).await?;
            if crate::resources::guest::cloud_init::wanted(&prior) {
                let node = prior.get(names::CURRENT_NODE).as_str().or(prior.get(names::NODE).as_str()).unwrap_or_default().to_string();
                let vmid = prior.get(names::VMID).as_i64().unwrap_or_default() as u64;
                Self::remove_snippet(ctx, &node, vmid, &prior).await;
            }
            Ok(())
        })
    }

    fn identity_schema(&self) -> Vec<IdentityAttribute> {
        vec![
            IdentityAttribute { name: "vmid", ty: Type::Number, required_for_import: true, description: "VMID of the VM." },
            IdentityAttribute { name: "node", ty: Type::String, required_for_import: false, description: "Node the VM was created on." },
        ]
    }

    fn identity(&self, state: &Value) -> Option<Value> {
        Some(Value::object([(names::VMID, state.get(names::VMID).clone()), (names::NODE, state.get(names::NODE).clone())]))
    }

    fn import_id(&self, identity: &Value) -> Option<String> {
        let vmid = identity.get(names::VMID).as_i64()?;
        Some(match identity.get(names::NODE).as_str() {
            Some(node) => format!("{node}/{vmid}"),
            None => vmid.to_string(),
        })
    }

    fn list_schema(&self) -> Option<Block> {
        Some(Block::new(
            "Finds VMs for `terraform query`; every filter is optional.",
            vec![
                Attribute::optional(names::NODE, Type::String, "Only VMs on this node."),
                Attribute::optional(names::TAGS, Type::set(Type::String), "Only VMs carrying all of these tags."),
                Attribute::optional("name_regex", Type::String, "Only VMs whose name matches.").validate(Validator::custom(|v: &Value| {
                    match v.as_str() {
                        Some(p) => regex::Regex::new(p).map(|_| ()).map_err(|e| format!("is not a valid regular expression: {e}")),
                        None => Ok(()),
                    }
                })),
            ],
        ))
    }

    fn list<'a>(&'a self, ctx: &'a Context, config: Value, with_objects: bool) -> BoxFuture<'a, Result<Vec<(String, Value)>, Diagnostics>> {
        Box::pin(async move {
            let resources = ctx.resources().await.map_err(|e| api_failure("Listing cluster resources", e))?;
            let tags: Vec<String> =
                config.get(names::TAGS).as_list().unwrap_or_default().iter().filter_map(Value::as_str).map(str::to_lowercase).collect();
            let name_regex = config.get("name_regex").as_str().and_then(|p| regex::Regex::new(p).ok());
            let mut found = Vec::new();
            for row in resources.iter().filter(|r| r.resource_type == "qemu" && !r.template) {
                let (Some(vmid), Some(node)) = (row.vmid, row.node.as_deref()) else { continue };
                let name = row.name.clone().unwrap_or_default();
                let matches = config.get(names::NODE).as_str().is_none_or(|n| n == node)
                    && tags.iter().all(|t| row.tag_list().contains(t))
                    && name_regex.as_ref().is_none_or(|re| re.is_match(&name));
                if !matches {
                    continue;
                }
                let state = if with_objects {
                    let prior = Value::object([(names::NODE, node.into())]);
                    match Self::read_state(ctx, vmid, &prior).await? {
                        Some(state) => state,
                        None => continue,
                    }
                } else {
                    Value::object([(names::VMID, vmid.into()), (names::NODE, node.into()), (names::NAME, name.clone().into())])
                };
                found.push((format!("{name} ({node}/{vmid})"), state));
            }
            Ok(found)
        })
    }

    fn import<'a>(&'a self, ctx: &'a Context, id: String) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let vmid = crate::functions::vmid_from_id(&id).ok_or_else(|| {
                Diagnostics::from(Diagnostic::error("Invalid import ID", format!("'{id}' is not NODE/VMID or VMID (e.g. pve1/101)")))
            })?;
            ctx.invalidate_resources().await;
            let found = read_config(ctx, vmid, QEMU).await?;
            let cicustom = found.as_ref().and_then(|(_, config)| text(config, "cicustom"));
            let state = Self::state_of(ctx, vmid, &Value::Null, found)
                .await?
                .ok_or_else(|| Diagnostics::from(Diagnostic::error("VM not found", format!("no VM with VMID {vmid}"))))?;
            let state = Self::with_snippet_options(ctx, vmid, cicustom.as_deref(), state).await;
            if let Some(node) = id.split('/').next().filter(|n| id.contains('/') && *n != "qemu")
                && state.get(names::CURRENT_NODE).as_str() != Some(node)
            {
                return Err(Diagnostic::error(
                    "VM is on another node",
                    format!("VM {vmid} is on {}, not {node}", state.get(names::CURRENT_NODE).as_str().unwrap_or("?")),
                )
                .into());
            }
            Ok(state)
        })
    }
}
