//! The steps that talk to PVE: reading a VM back, writing its cloud-init snippet, and building
//! it (clone or create, configure, grow disks, pool, power).

use super::*;

impl PveVm {
    pub(super) async fn read_state(ctx: &Context, vmid: u64, prior: &Value) -> Result<Option<Value>, Diagnostics> {
        let found = read_config(ctx, vmid, QEMU).await?;
        Self::state_of(ctx, vmid, prior, found).await
    }

    /// The state of a VM this process just built on `planned`'s node, read without a listing.
    pub(super) async fn read_built(ctx: &Context, vmid: u64, planned: &Value) -> Result<Option<Value>, Diagnostics> {
        let at = Located {
            node: planned.get(names::NODE).as_str().unwrap_or_default().to_string(),
            running: planned.get(names::STARTED).as_bool() != Some(false) && planned.get(names::TEMPLATE).as_bool() != Some(true),
            pool: planned.get(names::POOL).as_str().map(str::to_string),
        };
        let found = read_config_at(ctx, vmid, QEMU, at).await?;
        Self::state_of(ctx, vmid, planned, found).await
    }

    pub(super) async fn state_of(
        ctx: &Context,
        vmid: u64,
        prior: &Value,
        found: Option<(Located, GuestConfig)>,
    ) -> Result<Option<Value>, Diagnostics> {
        let Some((at, config)) = found else { return Ok(None) };
        let mut state = state_from_config(vmid, &at.node, at.running, at.pool, &config, prior);
        // Only a VM already known to wait for a reboot costs a second call: has it rebooted
        // (pending changes applied) since?
        if state.get(names::REBOOT_REQUIRED).as_bool() == Some(true) {
            let waiting = Self::has_pending(ctx, &at.node, vmid).await?;
            if let Value::Map(s) = &mut state {
                s.insert(names::REBOOT_REQUIRED.into(), waiting.into());
            }
        }
        Ok(Some(state))
    }

    /// Writes the VM's user-data snippet to `node` over SFTP; returns the `cicustom` value.
    pub(super) async fn write_snippet(ctx: &Context, node: &str, vmid: u64, state: &Value) -> Result<String, Diagnostics> {
        let storage = state.get(names::SNIPPET_STORAGE).as_str().unwrap_or("local");
        let name = crate::resources::guest::cloud_init::snippet_name(vmid);
        let content = crate::resources::guest::cloud_init::render(state);
        // Root-only: user-data may carry secrets, and PVE reads snippets as root.
        let volume = upload_snippet(ctx, node, storage, &name, content.as_bytes(), 0o600, "cloud-init snippet").await?;
        Ok(format!("user={volume}"))
    }

    /// An imported VM whose user-data (`cicustom`, as read) is the provider's own snippet gets
    /// the options it was built from (the snippet's header, read over SFTP), so its import plans
    /// clean. Without SSH, or for a snippet of another origin, the state stays as read.
    pub(super) async fn with_snippet_options(ctx: &Context, vmid: u64, cicustom: Option<&str>, mut state: Value) -> Value {
        let node = state.get(names::CURRENT_NODE).as_str().unwrap_or_default().to_string();
        let storage = state.get(names::SNIPPET_STORAGE).as_str().unwrap_or("local").to_string();
        let snippet = crate::resources::guest::cloud_init::snippet_name(vmid);
        let uses_ours = cicustom.is_some_and(|c| c.starts_with("user=") && c.ends_with(&format!("snippets/{snippet}")));
        if !ctx.ssh.configured || !uses_ours {
            return state;
        }
        let read = async {
            let dir = ctx.snippet_dir(&storage).await?;
            let session = ctx.ssh(&node).await.map_err(|e| e.to_string())?;
            let path = format!("{dir}/{snippet}");
            session.read_optional(&path).await.map_err(|e| e.to_string())
        };
        match read.await {
            Ok(Some(bytes)) => {
                if let (Some(options), Value::Map(s)) =
                    (crate::resources::guest::cloud_init::options_of(&String::from_utf8_lossy(&bytes)), &mut state)
                {
                    for (option, on) in options {
                        s.insert(option.into(), on.into());
                    }
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(vmid, "could not read the VM's cloud-init snippet: {e}"),
        }
        state
    }

    pub(super) async fn remove_snippet(ctx: &Context, node: &str, vmid: u64, state: &Value) {
        let storage = state.get(names::SNIPPET_STORAGE).as_str().unwrap_or("local");
        let removed = async {
            let dir = ctx.snippet_dir(storage).await?;
            let session = ctx.ssh(node).await.map_err(|e| e.to_string())?;
            session.remove(&format!("{dir}/{}", crate::resources::guest::cloud_init::snippet_name(vmid))).await.map_err(|e| e.to_string())
        }
        .await;
        if let Err(e) = removed {
            tracing::warn!(vmid, "could not remove the cloud-init snippet: {e}");
        }
    }

    /// Detached disks become `unusedN` in PVE; this destroys the ones holding `volumes` (and
    /// leaves alone any disk someone detached by hand to keep).
    pub(super) async fn destroy_unused(ctx: &Context, node: &str, vmid: u64, volumes: &BTreeSet<String>) -> Result<(), Diagnostics> {
        let after = ctx.client.guest_config(QEMU, node, vmid).await.map_err(|e| api_failure("Reading the VM config", e))?;
        let unused: Vec<String> = indexed(&after, "unused")
            .into_iter()
            .filter(|(_, v)| volumes.contains(&json_text(v)))
            .map(|(n, _)| format!("unused{n}"))
            .collect();
        if !unused.is_empty() {
            ctx.client
                .update_config(QEMU, node, vmid, &Params::new().set("delete", unused.join(",")))
                .await
                .map_err(|e| api_failure("Removing detached disks", e))?;
        }
        Ok(())
    }

    /// Disks made from an image have the image's size: each is grown to its planned `size`, and
    /// refused when the image is larger (PVE cannot shrink it).
    pub(super) async fn grow_imported(
        ctx: &Context,
        node: &str,
        vmid: u64,
        planned: &Value,
        slots: &[String],
        limit: Duration,
    ) -> Result<(), Diagnostics> {
        if slots.is_empty() {
            return Ok(());
        }
        let config = ctx.client.guest_config(QEMU, node, vmid).await.map_err(|e| api_failure("Reading the VM config", e))?;
        let disks = planned.get(names::DISK).as_list().unwrap_or_default();
        for slot in slots {
            let Some((i, disk)) = disks.iter().enumerate().find(|(_, d)| d.get(names::SLOT).as_str() == Some(slot.as_str())) else {
                continue;
            };
            let have = text(&config, slot).and_then(|v| disk_from_config(slot, &v)).and_then(|d| d.get(names::SIZE).as_i64()).unwrap_or(0);
            let want = disk.get(names::SIZE).as_i64().unwrap_or(1);
            if want < have {
                let detail = format!("{slot} was made from an image of {have} GiB, larger than size = {want}: set size to at least {have}");
                let at = vec![Step::Attr(names::DISK.into()), Step::Index(i as i64), Step::Attr(names::SIZE.into())];
                return Err(Diagnostic::error("Image larger than the disk", detail).at(at).into());
            }
            if want > have {
                grow(ctx, QEMU, node, vmid, slot, want, limit).await?;
            }
        }
        Ok(())
    }

    /// Removes the EFI and TPM disks whose block the plan removes or changes (a changed one is
    /// made anew by the update: PVE cannot convert one in place), their volumes destroyed.
    pub(super) async fn remove_special_disks(
        ctx: &Context,
        node: &str,
        vmid: u64,
        prior: &Value,
        planned: &Value,
    ) -> Result<(), Diagnostics> {
        let keys: Vec<&str> = SPECIAL_DISKS
            .iter()
            .filter(|(block, ..)| prior.get(block).is_set() && planned.get(block) != prior.get(block))
            .map(|(_, key, ..)| *key)
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        let current = ctx.client.guest_config(QEMU, node, vmid).await.map_err(|e| api_failure("Reading the VM config", e))?;
        let volumes: BTreeSet<String> = keys.iter().filter_map(|k| text(&current, k)).map(|v| volume_of(&v)).collect();
        let keys: Vec<&str> = keys.into_iter().filter(|k| current.values.contains_key(*k)).collect();
        if keys.is_empty() {
            return Ok(());
        }
        update_config(ctx, QEMU, node, vmid, &Params::new().set("delete", keys.join(",")).set("digest", &current.digest)).await?;
        Self::destroy_unused(ctx, node, vmid, &volumes).await
    }

    /// Whether changes wait for the VM's next restart.
    pub(super) async fn has_pending(ctx: &Context, node: &str, vmid: u64) -> Result<bool, Diagnostics> {
        let pending = ctx.client.guest_pending(QEMU, node, vmid).await.map_err(|e| api_failure("Reading pending changes", e))?;
        Ok(pending.iter().any(|change| change.is_pending()))
    }

    /// A create or clone that failed: what PVE kept of it (a failed task removes what it began)
    /// is reported in state, tainted, instead of being orphaned.
    async fn unbuilt(ctx: &Context, vmid: u64, planned: &Value, failed: CreationFailed) -> CreateError {
        let partial = if failed.may_have_made { Self::read_state(ctx, vmid, planned).await.ok().flatten() } else { None };
        CreateError { partial, diagnostics: failed.diagnostics }
    }

    /// Clones, configures, grows disks, converts or starts: everything after the VMID is chosen.
    pub(super) async fn build(
        ctx: &Context,
        vmid: u64,
        planned: &Value,
        config: &Value,
        cicustom: Option<&str>,
        limit: Duration,
    ) -> Result<(), CreateError> {
        let node = planned.get(names::NODE).as_str().unwrap_or_default().to_string();
        let disks = planned.get(names::DISK).as_list().unwrap_or_default().to_vec();
        let mut params = Params::new();
        let mut deletes = Vec::new();
        let exists = match config.get(names::CLONE_VMID).as_i64() {
            Some(source) => {
                let source = source as u64;
                let Some(source_guest) = ctx.clone_source(source, QEMU).await.map_err(|e| api_failure("Reading the clone source", e))?
                else {
                    return Err(Diagnostic::error("Clone source not found", checks::clone_source_missing(QEMU, source))
                        .at(attr(names::CLONE_VMID))
                        .into());
                };
                let source_node = source_guest.node.clone();
                let full = config.get(names::CLONE_FULL).as_bool().unwrap_or(true);
                let mut clone = Params::new().set("name", planned.get(names::NAME).as_str().unwrap_or_default()).flag("full", full);
                let disk_storage = disks.first().and_then(|d| d.get(names::STORAGE).as_str());
                let placement = place_clone(ctx, QEMU, source, &source_guest, &node, disk_storage.filter(|_| full), &mut clone).await?;
                // Checked at plan time too, but a template this apply made was not there to read then.
                if !full && let Some(problem) = disk_storage.and_then(|s| checks::linked_storage_problem(QEMU, &source_guest.config, s)) {
                    return Err(problem.at(attr(names::DISK)).into());
                }
                // The mark goes with the clone request itself (see pve_api::marker).
                clone.insert("description", pve_api::marker::with_mark(planned.get(names::DESCRIPTION).as_str()));
                let creation = Creation {
                    kind: QEMU,
                    vmid,
                    node: &source_node,
                    name: planned.get(names::NAME).as_str().unwrap_or_default(),
                    what: "Cloning the VM",
                };
                let result = {
                    let _allocating = ctx.storage_slot(&placement.allocating_on, &placement.allocating_storage).await;
                    creation.run(ctx, limit, || Box::pin(ctx.client.clone_guest(QEMU, &source_node, source, vmid, &clone))).await
                };
                if let Err(failed) = result {
                    return Err(Self::unbuilt(ctx, vmid, planned, failed).await);
                }
                if let Some(target) = &placement.migrate_to
                    && let Err(d) = migrate(ctx, QEMU, &source_node, vmid, target, disk_storage, limit).await
                {
                    // The clone is there, on the source's node: kept in state (tainted), never orphaned.
                    return Err(CreateError { partial: Self::read_state(ctx, vmid, planned).await.ok().flatten(), diagnostics: d });
                }
                true
            }
            None => false,
        };
        let current = if exists {
            match ctx.client.guest_config(QEMU, &node, vmid).await {
                Ok(config) => Some(config),
                // The clone exists: report it (tainted) rather than forget it.
                Err(e) => {
                    return Err(CreateError {
                        partial: Some(minimal_state(planned, vmid)),
                        diagnostics: api_failure("Reading the cloned config", e),
                    });
                }
            }
        } else {
            None
        };
        config_params(planned, &Value::Null, &mut params, &mut deletes);
        if let Some(password) = config.get(names::CI_PASSWORD).as_str() {
            params.insert("cipassword", password);
        }
        if let Some(cicustom) = cicustom {
            params.insert("cicustom", cicustom);
            deletes.retain(|k| k != "cicustom");
        }
        let mut resizes = Vec::new();
        let imports = import_sources(config);
        for disk in &disks {
            let slot = disk.get(names::SLOT).as_str().unwrap_or_default();
            let size = disk.get(names::SIZE).as_i64().unwrap_or(1);
            match current.as_ref().and_then(|c| text(c, slot)) {
                Some(_) if imports.contains_key(slot) => {
                    let detail = format!(
                        "{slot} comes from the clone source; import_from makes new disks only: use another slot, or build the VM without clone_vmid"
                    );
                    return Err(CreateError {
                        partial: Self::read_state(ctx, vmid, planned).await.ok().flatten(),
                        diagnostics: Diagnostic::error("Disk exists already", detail).into(),
                    });
                }
                Some(existing) => {
                    let mut p = PropertyString::parse(&existing, Some("file")).unwrap_or_default();
                    let have = p.get("size").and_then(|s| pve_api::size::parse_size(s).ok()).unwrap_or(0);
                    let want = (size as u64) << 30;
                    if want < have {
                        let detail =
                            format!("{slot} of the clone source is {} GiB; a clone's disk cannot be smaller than its source's", have >> 30);
                        return Err(CreateError {
                            partial: Self::read_state(ctx, vmid, planned).await.ok().flatten(),
                            diagnostics: Diagnostic::error("Disk smaller than the template's", detail).into(),
                        });
                    }
                    if want > have {
                        resizes.push((slot.to_string(), size));
                    }
                    disk_options(disk, &mut p);
                    p.remove("size");
                    params.insert(slot, p.to_string_with_default("file"));
                }
                None => params.insert(slot, new_disk_string(disk, imports.get(slot))),
            }
        }
        special_disk_params(current.as_ref(), &Value::Null, planned, &mut params);
        let mut detached = BTreeSet::new();
        if let Some(current) = &current {
            // What the template has beyond the configuration goes: NICs, addressing, disks.
            for (prefix, block) in [("net", "network"), ("ipconfig", "ip_config")] {
                let count = planned.get(block).as_list().map(<[Value]>::len).unwrap_or(0);
                deletes.extend(
                    indexed(current, prefix).into_iter().filter(|(n, _)| *n as usize >= count).map(|(n, _)| format!("{prefix}{n}")),
                );
            }
            let planned_slots: BTreeSet<&str> = disks.iter().filter_map(|d| d.get(names::SLOT).as_str()).collect();
            for (key, value) in &current.values {
                if disk_from_config(key, &json_text(value)).is_some() && !planned_slots.contains(key.as_str()) {
                    deletes.push(key.clone());
                    detached.insert(volume_of(&json_text(value)));
                }
            }
        }
        let partial = |diags: Diagnostics| async move {
            let known = Self::read_state(ctx, vmid, planned).await.ok().flatten().unwrap_or_else(|| minimal_state(planned, vmid));
            CreateError { partial: Some(known), diagnostics: diags }
        };
        if exists {
            if !deletes.is_empty() {
                params.insert("delete", deletes.join(","));
            }
            let digest = current.as_ref().map(|c| c.digest.clone()).unwrap_or_default();
            if let Err(d) = update_config(ctx, QEMU, &node, vmid, &params.set("digest", digest)).await {
                return Err(partial(d).await);
            }
            if !detached.is_empty()
                && let Err(d) = Self::destroy_unused(ctx, &node, vmid, &detached).await
            {
                return Err(partial(d).await);
            }
            for (slot, size) in resizes {
                if let Err(d) = grow(ctx, QEMU, &node, vmid, &slot, size, limit).await {
                    return Err(partial(d).await);
                }
            }
        } else {
            let params = params.set("vmid", vmid);
            let creation = Creation {
                kind: QEMU,
                vmid,
                node: &node,
                name: planned.get(names::NAME).as_str().unwrap_or_default(),
                what: "Creating the VM",
            };
            let storage = disks.first().and_then(|d| d.get(names::STORAGE).as_str()).unwrap_or("local-lvm");
            let _allocating = ctx.storage_slot(&node, storage).await;
            if let Err(failed) = creation.run(ctx, limit, || Box::pin(ctx.client.create_guest(QEMU, &node, &params))).await {
                return Err(Self::unbuilt(ctx, vmid, planned, failed).await);
            }
        }
        let imported: Vec<String> = imports.keys().cloned().collect();
        if let Err(d) = Self::grow_imported(ctx, &node, vmid, planned, &imported, limit).await {
            return Err(partial(d).await);
        }
        if let Err(d) = set_pool(ctx, vmid, &Value::Null, planned.get(names::POOL)).await {
            return Err(partial(d).await);
        }
        let result = if planned.get(names::TEMPLATE).as_bool() == Some(true) {
            let node = node.as_str();
            until_done(
                ctx,
                node,
                "Converting to a template",
                limit,
                || Box::pin(ctx.client.convert_to_template(QEMU, node, vmid)),
                || {
                    Box::pin(async move {
                        let config =
                            ctx.client.guest_config(QEMU, node, vmid).await.map_err(|e| api_failure("Reading the VM config", e))?;
                        Ok(config.flag("template"))
                    })
                },
            )
            .await
        } else if planned.get(names::STARTED).as_bool() != Some(false) {
            set_power(ctx, QEMU, &node, vmid, true, limit).await
        } else {
            Ok(())
        };
        if let Err(d) = result {
            return Err(partial(d).await);
        }
        Ok(())
    }
}
