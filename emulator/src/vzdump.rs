//! Backups: vzdump runs (which guests, archive names and contents, pruning) and the backup jobs
//! that schedule them (`/cluster/backup`).

use std::collections::BTreeMap;
use std::sync::Arc;

use pve_api::{GuestKind, Upid};

use crate::error::PveError;
use crate::model::{Cluster, Config, Volume, kind_word};
use crate::state::Emulator;

/// The guests a vzdump run or backup job covers.
pub enum Selection {
    /// `all=1`: every guest on the node (but templates and `exclude`d ones).
    All,
    Pool(String),
    Guests(Vec<u64>),
    Nothing,
}

/// A vzdump run: `POST /nodes/{node}/vzdump`.
pub struct Vzdump {
    pub storage: String,
    pub compress: String,
    pub notes_template: Option<String>,
    /// From `prune-backups`: how many backups of each guest to keep.
    pub keep_last: Option<usize>,
    pub selection: Selection,
    pub exclude: Vec<u64>,
}

/// The job options a scheduled vzdump run takes from its job.
const JOB_KEYS: [&str; 12] = [
    "all",
    "vmid",
    "pool",
    "exclude",
    "storage",
    "mode",
    "compress",
    "notes-template",
    "prune-backups",
    "mailto",
    "mailnotification",
    "notification-mode",
];

/// Whether vzdump knows the option (its parameters in the schema, pve-guest-common
/// `PVE::VZDump::Common::option_exists`).
fn is_vzdump_option(key: &str) -> bool {
    crate::schema::SCHEMA
        .methods()
        .find(|m| m.key() == "POST /nodes/{node}/vzdump")
        .is_some_and(|m| m.parameters["properties"].get(key).is_some() && key != "node")
}

impl Vzdump {
    /// vzdump's parameters; a job's options (when run as `job-id`) fill in those not given.
    pub fn from_params(params: &BTreeMap<String, String>, job: Option<&Config>) -> Self {
        let mut params = params.clone();
        for (key, value) in job.into_iter().flatten().filter(|(k, _)| JOB_KEYS.contains(&k.as_str())) {
            params.entry(key.clone()).or_insert_with(|| value.clone());
        }
        let param = |name: &str| params.get(name).map(String::as_str);
        let ids = |list: &str| pve_api::tags::split_tag_list(list).filter_map(|v| v.parse().ok()).collect::<Vec<u64>>();
        let selection = if param("all") == Some("1") {
            Selection::All
        } else if let Some(pool) = param("pool") {
            Selection::Pool(pool.to_string())
        } else if let Some(list) = param("vmid") {
            Selection::Guests(ids(list))
        } else {
            Selection::Nothing
        };
        Self {
            storage: param("storage").unwrap_or("local").to_string(),
            compress: param("compress").unwrap_or("0").to_string(),
            notes_template: param("notes-template").map(str::to_string),
            keep_last: param("prune-backups")
                .and_then(|p| pve_api::PropertyString::parse(p, None).ok().and_then(|p| p.get("keep-last").and_then(|n| n.parse().ok()))),
            selection,
            exclude: param("exclude").map(ids).unwrap_or_default(),
        }
    }
}

/// The archive's extension (and volume format) by guest kind and compression.
fn archive_format(kind: GuestKind, compress: &str) -> &'static str {
    match (kind, compress) {
        (GuestKind::Qemu, "zstd") => "vma.zst",
        (GuestKind::Qemu, "gzip" | "1") => "vma.gz",
        (GuestKind::Qemu, "lzo") => "vma.lzo",
        (GuestKind::Qemu, _) => "vma",
        (GuestKind::Lxc, "zstd") => "tar.zst",
        (GuestKind::Lxc, "gzip" | "1") => "tar.gz",
        (GuestKind::Lxc, "lzo") => "tar.lzo",
        (GuestKind::Lxc, _) => "tar",
    }
}

/// What `/cluster/backup` stores: exactly one of vmid, all or pool, and `exclude` only with all.
fn check_job(options: &Config) -> Result<(), PveError> {
    let chosen: Vec<&str> = ["vmid", "all", "pool"].into_iter().filter(|k| options.get(*k).is_some_and(|v| v != "0")).collect();
    match chosen.as_slice() {
        [] => {
            return Err(PveError::server("one of 'vmid', 'all' or 'pool' is required"));
        }
        [first, second, ..] => {
            return Err(PveError::param(second, format!("option conflicts with option '{first}'")));
        }
        _ => {}
    }
    if options.contains_key("exclude") && chosen != ["all"] {
        return Err(PveError::param("exclude", "option only makes sense in combination with option 'all'"));
    }
    Ok(())
}

fn no_such_job(id: &str) -> PveError {
    PveError::server(format!("job '{id}' does not exist"))
}

impl Cluster {
    /// The guests on `node` a run backs up, after checking its storage takes backups.
    fn select_for_backup(&self, node: &str, run: &Vzdump) -> Result<Vec<u64>, PveError> {
        let storage = &run.storage;
        let def = self.storage(storage).ok_or_else(|| PveError::server(format!("storage '{storage}' does not exist")))?;
        if !def.content.iter().any(|c| c == "backup") {
            return Err(PveError::server(format!("storage '{storage}' does not support vzdump backups")));
        }
        let on_node = |vmid: &u64| self.guests.get(vmid).is_some_and(|g| g.node == node && !g.is_template());
        match &run.selection {
            Selection::All => Ok(self.guests.keys().filter(|v| on_node(v) && !run.exclude.contains(v)).copied().collect()),
            Selection::Pool(pool) => Ok(self
                .pools
                .get(pool)
                .ok_or_else(|| PveError::server(format!("pool '{pool}' does not exist")))?
                .vms
                .iter()
                .filter(|v| on_node(v))
                .copied()
                .collect()),
            Selection::Guests(ids) => {
                if let Some(missing) = ids.iter().find(|v| !self.guests.contains_key(v)) {
                    return Err(PveError::server(format!("guest {missing} does not exist")));
                }
                Ok(ids.iter().filter(|v| on_node(v)).copied().collect())
            }
            Selection::Nothing => Err(PveError::server("no guests selected: set vmid, all or pool")),
        }
    }

    /// The vzdump task's work: an archive per guest (holding its config for restores), then the
    /// older backups beyond `keep-last` pruned. A locked guest is an error, the others go on.
    fn back_up(&mut self, selected: &[u64], run: &Vzdump, log: &mut Vec<String>, fail: bool) -> Result<(), String> {
        let mut errors = 0;
        let cluster_name = self.name.clone();
        let storage = &run.storage;
        for vmid in selected {
            let Some(guest) = self.guests.get(vmid).cloned() else {
                continue;
            };
            log.push(format!("INFO: Starting Backup of VM {vmid} ({})", guest.kind));
            if let Some(lock) = guest.lock() {
                log.push(format!("ERROR: Backup of VM {vmid} failed - {} {vmid} is locked ({lock})", kind_word(guest.kind)));
                errors += 1;
                continue;
            }
            if fail {
                log.push(format!("ERROR: Backup of VM {vmid} failed - injected task failure"));
                errors += 1;
                continue;
            }
            let format = archive_format(guest.kind, &run.compress);
            let mut stamp = chrono::Utc::now();
            let volid = loop {
                let name = format!("{storage}:backup/vzdump-{}-{vmid}-{}.{format}", guest.kind, stamp.format("%Y_%m_%d-%H_%M_%S"));
                if !self.volumes.iter().any(|v| v.volid == name) {
                    break name;
                }
                stamp += chrono::Duration::seconds(1);
            };
            let notes = run.notes_template.as_ref().map(|t| {
                t.replace("{{guestname}}", guest.name().unwrap_or(""))
                    .replace("{{vmid}}", &vmid.to_string())
                    .replace("{{node}}", &guest.node)
                    .replace("{{cluster}}", &cluster_name)
            });
            let shared = self.storage(storage).is_some_and(|s| s.shared);
            // The archive holds the config file, [PENDING] section included; a restored guest
            // starts stopped, and its first start applies those changes, so they are folded in.
            let mut archived = guest.config_with_pending();
            archived.remove("lock");
            archived.remove("parent");
            // The archive holds the disks' data too: a restore brings it back.
            let archived_data = guest
                .disks()
                .into_iter()
                .filter_map(|(key, disk)| Some((key, self.find_volume(&guest.node, &disk)?.data.clone()?)))
                .collect();
            self.volumes.push(Volume {
                storage: storage.clone(),
                node: (!shared).then(|| guest.node.clone()),
                volid: volid.clone(),
                content: "backup".into(),
                format: format.into(),
                size: guest.max_disk() / 20 + (1 << 20),
                ctime: stamp.timestamp(),
                vmid: Some(*vmid),
                notes,
                subtype: Some(guest.kind.as_str().into()),
                archived_config: Some(archived),
                archived_kind: Some(guest.kind),
                archived_data,
                ..Default::default()
            });
            log.push(format!("INFO: creating vzdump archive '{}'", volid));
            log.push(format!("INFO: Finished Backup of VM {vmid}"));
            if let Some(keep) = run.keep_last {
                self.prune_backups(storage, *vmid, keep, log);
            }
        }
        if errors > 0 {
            return Err("job errors".into());
        }
        log.push("INFO: Backup job finished successfully".into());
        Ok(())
    }

    /// Removes a guest's oldest backups on `storage` beyond the newest `keep` (at least one).
    fn prune_backups(&mut self, storage: &str, vmid: u64, keep: usize, log: &mut Vec<String>) {
        let mut backups: Vec<(i64, String)> = self
            .volumes
            .iter()
            .filter(|v| v.content == "backup" && v.vmid == Some(vmid) && v.storage == storage)
            .map(|v| (v.ctime, v.volid.clone()))
            .collect();
        backups.sort();
        let excess = backups.len().saturating_sub(keep.max(1));
        for (_, old) in backups.into_iter().take(excess) {
            log.push(format!("INFO: prune older backup '{old}'"));
            self.remove_volume(&old);
        }
    }

    pub fn backup_job(&self, id: &str) -> Result<&Config, PveError> {
        self.backup_jobs.get(id).ok_or_else(|| no_such_job(id))
    }

    /// A job's storage, if it names one, must exist and take backups.
    fn check_backup_storage(&self, options: &Config) -> Result<(), PveError> {
        if let Some(storage) = options.get("storage") {
            let def = self.storage(storage).ok_or_else(|| PveError::server(format!("storage '{storage}' does not exist")))?;
            if !def.content.iter().any(|c| c == "backup") {
                return Err(PveError::server(format!("storage '{storage}' does not support backup content")));
            }
        }
        Ok(())
    }

    /// A new job (with a generated ID if none is given), scheduled daily at midnight by default.
    pub fn create_backup_job(&mut self, id: Option<&str>, mut options: Config) -> Result<(), PveError> {
        let id = match id {
            Some(id) => id.to_string(),
            None => format!("backup-{:08x}-{:04x}", rand::random::<u32>(), rand::random::<u16>()),
        };
        options.entry("schedule".into()).or_insert_with(|| "00:00".into());
        check_job(&options)?;
        self.check_backup_storage(&options)?;
        if self.backup_jobs.contains_key(&id) {
            return Err(PveError::server(format!("Job '{id}' already exists")));
        }
        self.backup_jobs.insert(id, options);
        Ok(())
    }

    /// Removes the `delete`d options, then sets the given ones; a new selection (vmid, all or
    /// pool) replaces the old one.
    pub fn update_backup_job(&mut self, id: &str, delete: &[String], options: Config) -> Result<(), PveError> {
        if options.is_empty() && delete.is_empty() {
            return Err(PveError::server("no options specified"));
        }
        let mut updated = self.backup_job(id)?.clone();
        for key in delete {
            // pve-manager `PVE::API2::Backup` `update_job`: a job's own `comment` and
            // `repeat-missed`, or any vzdump option (`notification-mode`, `mailnotification`, …).
            if !(matches!(key.as_str(), "comment" | "repeat-missed") || is_vzdump_option(key)) {
                return Err(PveError::param("delete", format!("unknown option '{key}'")));
            }
            updated.remove(key);
        }
        if ["vmid", "all", "pool"].iter().any(|k| options.contains_key(*k)) {
            for key in ["vmid", "all", "pool"] {
                updated.remove(key);
            }
        }
        updated.extend(options);
        check_job(&updated)?;
        self.check_backup_storage(&updated)?;
        self.backup_jobs.insert(id.to_string(), updated);
        Ok(())
    }

    pub fn delete_backup_job(&mut self, id: &str) -> Result<(), PveError> {
        self.backup_jobs.remove(id).ok_or_else(|| no_such_job(id))?;
        Ok(())
    }
}

impl Emulator {
    /// Starts a vzdump run over the selected guests on `node` (one task for all of them).
    pub fn vzdump(self: &Arc<Self>, node: &str, run: Vzdump, user: &str) -> Result<Upid, PveError> {
        let selected = self.cluster().select_for_backup(node, &run)?;
        let id = if selected.len() == 1 { selected[0].to_string() } else { String::new() };
        let weight = selected.len().max(1) as u64;
        Ok(self.spawn_task(
            node,
            "vzdump",
            &id,
            user,
            weight,
            Vec::new(),
            Box::new(move |cluster, log, fail| cluster.back_up(&selected, &run, log, fail)),
        ))
    }
}
