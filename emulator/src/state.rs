//! The running emulator: cluster state, tasks, config locks, API workers and fault injection.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use pve_api::{GuestKind, Upid};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

use crate::config::EmulatorConfig;
use crate::model::Cluster;
use crate::schema::ParamErrors;

/// An error as PVE's HTTP layer returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct PveError {
    pub status: u16,
    pub message: String,
    pub errors: Option<ParamErrors>,
}

impl PveError {
    /// A handler error: HTTP 500 with the message as reason and in the body.
    pub fn server(message: impl Into<String>) -> Self {
        Self { status: 500, message: message.into(), errors: None }
    }

    pub fn params(errors: ParamErrors) -> Self {
        Self { status: 400, message: "Parameter verification failed.".into(), errors: Some(errors) }
    }

    pub fn param(name: &str, message: impl Into<String>) -> Self {
        Self::params([(name.to_string(), message.into())].into())
    }

    pub fn status(status: u16, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), errors: None }
    }
}

pub type ApiResult = Result<Value, PveError>;

#[derive(Debug, Clone)]
pub struct TaskRecord {
    pub upid: Upid,
    pub running: bool,
    pub exitstatus: Option<String>,
    pub log: Vec<String>,
    pub endtime: Option<i64>,
}

impl TaskRecord {
    pub fn status_json(&self) -> Value {
        let u = &self.upid;
        let mut v = json!({
            "upid": u.to_string(), "node": u.node, "pid": u.pid, "pstart": u.pstart, "starttime": u.starttime,
            "type": u.task_type, "id": u.id, "user": u.user,
            "status": if self.running { "running" } else { "stopped" },
        });
        if let Some(exit) = &self.exitstatus {
            v["exitstatus"] = json!(exit);
        }
        v
    }
}

/// What a task does when its time is up. It gets the cluster, its log, and whether an injected
/// failure hits it (then it must undo its effects and return the error).
pub type TaskWork = Box<dyn FnOnce(&mut Cluster, &mut Vec<String>, bool) -> Result<(), String> + Send>;

pub struct Emulator {
    pub config: EmulatorConfig,
    cluster: Mutex<Cluster>,
    tasks: Mutex<BTreeMap<String, TaskRecord>>,
    flocks: Mutex<HashMap<u64, Arc<tokio::sync::Mutex<()>>>>,
    workers: HashMap<String, Arc<Semaphore>>,
    rng: Mutex<StdRng>,
    /// Task PIDs; atomic so tasks can be started while a handler holds the cluster.
    next_pid: AtomicU32,
    pub ticket_secret: String,
    pub boot_time: i64,
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Emulator {
    pub fn new(config: EmulatorConfig) -> anyhow::Result<Arc<Self>> {
        let boot_time = now();
        let cluster = match &config.state_file {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading state file {}: {e}", path.display()))?;
                let mut cluster: Cluster =
                    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("state file {} is not valid: {e}", path.display()))?;
                // Tasks do not survive a restart; neither do the locks they held.
                for guest in cluster.guests.values_mut() {
                    if matches!(guest.config.get("lock").map(String::as_str), Some("clone" | "create" | "backup" | "migrate")) {
                        guest.config.remove("lock");
                    }
                }
                cluster
            }
            _ => Cluster::seeded(config.nodes, boot_time, config.data_dir.as_deref()),
        };
        if let Some(dir) = &config.data_dir {
            for storage in cluster.storages.values() {
                if let Some(path) = &storage.path {
                    for sub in ["snippets", "dump", "template/cache", "template/iso"] {
                        std::fs::create_dir_all(std::path::Path::new(path).join(sub))
                            .map_err(|e| anyhow::anyhow!("creating {} under {}: {e}", sub, dir.display()))?;
                    }
                }
            }
        }
        let workers = cluster.nodes.iter().map(|n| (n.name.clone(), Arc::new(Semaphore::new(config.workers.max(1))))).collect();
        let rng = StdRng::seed_from_u64(config.seed);
        let ticket_secret = format!("{:032x}", rand::rng().random::<u128>());
        Ok(Arc::new(Self {
            config,
            cluster: Mutex::new(cluster),
            tasks: Mutex::new(BTreeMap::new()),
            flocks: Mutex::new(HashMap::new()),
            workers,
            rng: Mutex::new(rng),
            next_pid: AtomicU32::new(0x1000),
            ticket_secret,
            boot_time,
        }))
    }

    pub fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Draws from the seeded generator: true with probability `rate`.
    pub fn chance(&self, rate: f64) -> bool {
        rate > 0.0 && self.rng.lock().unwrap_or_else(|e| e.into_inner()).random::<f64>() < rate
    }

    /// Writes the cluster to the state file, atomically.
    pub fn persist(&self) {
        let Some(path) = &self.config.state_file else {
            return;
        };
        let text = match serde_json::to_string(&*self.cluster()) {
            Ok(text) => text,
            Err(e) => return tracing::error!("cannot serialise state: {e}"),
        };
        if let Err(e) = write_private(path, text.as_bytes()) {
            tracing::error!("cannot write state file {}: {e}", path.display());
        }
    }

    /// One of the node's API workers, held while a request is handled (PVE runs three).
    pub async fn worker(&self, node: &str) -> Option<OwnedSemaphorePermit> {
        let semaphore = self.workers.get(node).or_else(|| self.workers.values().next())?.clone();
        semaphore.acquire_owned().await.ok()
    }

    /// The guest's config file lock, waited for as PVE does (10 s by default), then "got timeout".
    pub async fn flock(&self, kind: GuestKind, vmid: u64) -> Result<OwnedMutexGuard<()>, PveError> {
        let lock = self.flocks.lock().unwrap_or_else(|e| e.into_inner()).entry(vmid).or_default().clone();
        let timeout = Duration::from_millis(self.config.lock_timeout_ms);
        match tokio::time::timeout(timeout, lock.lock_owned()).await {
            Ok(guard) => Ok(guard),
            Err(_) => {
                let file = match kind {
                    GuestKind::Qemu => format!("/var/lock/qemu-server/lock-{vmid}.conf"),
                    GuestKind::Lxc => format!("/run/lock/lxc/pve-config-{vmid}.lock"),
                };
                Err(PveError::server(format!("can't lock file '{file}' - got timeout")))
            }
        }
    }

    fn new_upid(&self, node: &str, task_type: &str, id: &str, user: &str) -> Upid {
        let pid = self.next_pid.fetch_add(1, Ordering::Relaxed);
        Upid {
            node: node.to_string(),
            pid,
            pstart: (pid as u64) * 7 + 0x0100_0000,
            starttime: now(),
            task_type: task_type.to_string(),
            id: id.to_string(),
            user: user.to_string(),
        }
    }

    /// Starts a task that runs for the configured time (longer when a slow task is drawn), then
    /// applies `work`. The guards (config locks) are held until it ends.
    // The task's UPID fields, its weight, its locks and its work: splitting them up reads worse.
    #[allow(clippy::too_many_arguments)]
    pub fn spawn_task(
        self: &Arc<Self>,
        node: &str,
        task_type: &str,
        id: &str,
        user: &str,
        weight: u64,
        guards: Vec<OwnedMutexGuard<()>>,
        work: TaskWork,
    ) -> Upid {
        let upid = self.new_upid(node, task_type, id, user);
        let mut duration = self.config.task_ms.saturating_mul(weight.max(1));
        if self.chance(self.config.slow_task_rate) {
            duration = duration.saturating_mul(self.config.slow_task_factor);
        }
        let fail = self.chance(self.config.task_failure_rate);
        let record = TaskRecord { upid: upid.clone(), running: true, exitstatus: None, log: Vec::new(), endtime: None };
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).insert(upid.to_string(), record);
        let this = self.clone();
        let key = upid.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(duration)).await;
            let mut log = Vec::new();
            let result = {
                let mut cluster = this.cluster();
                work(&mut cluster, &mut log, fail)
            };
            this.persist();
            let warnings = log.iter().filter(|l| l.starts_with("WARN")).count();
            let exitstatus = match result {
                Ok(()) if warnings > 0 => format!("WARNINGS: {warnings}"),
                Ok(()) => "OK".to_string(),
                Err(message) => {
                    log.push(format!("TASK ERROR: {message}"));
                    message
                }
            };
            if exitstatus == "OK" || exitstatus.starts_with("WARNINGS") {
                log.push(format!("TASK {}", if warnings > 0 { format!("WARNINGS: {warnings}") } else { "OK".into() }));
            }
            if let Some(record) = this.tasks.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&key) {
                record.running = false;
                record.exitstatus = Some(exitstatus);
                record.log = log;
                record.endtime = Some(now());
            }
            drop(guards);
        });
        upid
    }

    pub fn task(&self, upid: &str) -> Option<TaskRecord> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).get(upid).cloned()
    }

    pub fn tasks(&self) -> Vec<TaskRecord> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }
}

/// Replaces `path` with `bytes` in one rename, readable by the owner only: the state holds guest
/// configs (hashed passwords, keys). The temporary file has a random name and is created
/// exclusively, so two writers never share it and nobody can plant it in advance.
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
