//! The running emulator: the cluster behind its lock, config locks, API workers, fault injection,
//! persistence and the users who may log in. What the operations do to the cluster is in `model`,
//! `tasks` and `vzdump`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use pve_api::GuestKind;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::auth::{TokenDef, Users};
use crate::config::EmulatorConfig;
use crate::error::PveError;
use crate::locks::{Acquired, LockGuard, LockMode, LockTable};
use crate::model::Cluster;
use crate::tasks::Tasks;

pub struct Emulator {
    pub config: EmulatorConfig,
    cluster: Mutex<Cluster>,
    pub(crate) tasks: Tasks,
    /// Guests' config lock files, by VMID.
    flocks: LockTable,
    /// pve-storage's storage locks: `NODE/STORAGE` for local storage, `STORAGE` for shared.
    pub(crate) storage_locks: LockTable,
    /// Copies running on each storage, which share its bandwidth.
    pub transfers: crate::storage_io::Transfers,
    /// Wakes the HA manager early (a rule, resource or guest changed).
    pub(crate) ha_wakeup: Arc<Notify>,
    workers: HashMap<String, Arc<Semaphore>>,
    rng: Mutex<StdRng>,
    /// Who may log in with a password (`/access/ticket`).
    pub users: Users,
    pub ticket_secret: String,
    pub boot_time: i64,
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Emulator {
    pub fn new(config: EmulatorConfig, users: Users, tokens: &[TokenDef]) -> anyhow::Result<Arc<Self>> {
        let boot_time = now();
        let mut cluster = match &config.state_file {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading state file {}: {e}", path.display()))?;
                let mut cluster: Cluster =
                    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("state file {} is not valid: {e}", path.display()))?;
                cluster.release_task_locks();
                cluster
            }
            _ if config.bare => Cluster::bare(config.nodes, config.data_dir.as_deref()),
            _ => Cluster::seeded(config.nodes, boot_time, config.data_dir.as_deref()),
        };
        if let Some(dir) = &config.data_dir {
            for storage in cluster.storages.values() {
                if let Some(path) = &storage.path {
                    for sub in ["snippets", "dump", "template/cache", "template/iso", "import"] {
                        std::fs::create_dir_all(std::path::Path::new(path).join(sub))
                            .map_err(|e| anyhow::anyhow!("creating {} under {}: {e}", sub, dir.display()))?;
                    }
                }
            }
        }
        bootstrap_credentials(&mut cluster, &users, tokens);
        let workers = cluster.nodes.iter().map(|n| (n.name.clone(), Arc::new(Semaphore::new(config.workers.max(1))))).collect();
        let rng = StdRng::seed_from_u64(config.seed);
        let ticket_secret = format!("{:032x}", rand::rng().random::<u128>());
        Ok(Arc::new(Self {
            config,
            cluster: Mutex::new(cluster),
            tasks: Tasks::default(),
            flocks: LockTable::default(),
            storage_locks: LockTable::default(),
            transfers: Default::default(),
            ha_wakeup: Arc::new(Notify::new()),
            workers,
            rng: Mutex::new(rng),
            users,
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

    /// The guest's config file lock, exclusive, waited for as PVE does (10 s by default), then
    /// "got timeout" (pve-guest-common `PVE::AbstractConfig::lock_config`).
    pub async fn flock(&self, kind: GuestKind, vmid: u64) -> Result<LockGuard, PveError> {
        self.flock_mode(kind, vmid, LockMode::Exclusive).await
    }

    /// The guest's config file lock in `mode`: a clone reads a stopped source under a shared lock
    /// (`lock_config_shared`), so clones of one template run side by side, while everything that
    /// changes the guest takes it exclusively and waits for them.
    pub async fn flock_mode(&self, kind: GuestKind, vmid: u64, mode: LockMode) -> Result<LockGuard, PveError> {
        let timeout = Duration::from_millis(self.config.lock_timeout_ms);
        match self.flocks.acquire(&vmid.to_string(), mode, timeout).await {
            Acquired::AtOnce(guard) | Acquired::AfterWaiting(guard) => Ok(guard),
            Acquired::TimedOut => Err(PveError::server(format!("can't lock file '{}' - got timeout", config_lock_file(kind, vmid)))),
        }
    }
}

/// The configured credentials keep their meaning under access control: their users exist and
/// hold `Administrator` on `/` (root@pam needs no entry), and their tokens act with their user's
/// privileges. A `:ro` token's user holds `PVEAuditor` instead, and the token is
/// privilege-separated with `PVEAuditor` of its own, so even root@pam's `:ro` token only reads.
/// root@pam always exists, as PVE makes sure (`userconfig_force_defaults`).
fn bootstrap_credentials(cluster: &mut Cluster, users: &Users, tokens: &[TokenDef]) {
    cluster.access.users.entry(crate::model::access::ROOT.to_string()).or_default();
    cluster.access.forget_configured_tokens();
    for userid in users.ids() {
        cluster.access.bootstrap_user(userid, "Administrator");
    }
    for token in tokens {
        let Some((userid, _)) = crate::model::access::split_tokenid(&token.id) else { continue };
        cluster.access.bootstrap_user(userid, if token.read_only { "PVEAuditor" } else { "Administrator" });
        cluster.access.bootstrap_token(&token.id, &token.secret, token.read_only.then_some("PVEAuditor"));
    }
}

/// The file PVE flocks for a guest's config (`PVE::QemuConfig` / `PVE::LXC::Config` `config_file_lock`).
pub fn config_lock_file(kind: GuestKind, vmid: u64) -> String {
    match kind {
        GuestKind::Qemu => format!("/var/lock/qemu-server/lock-{vmid}.conf"),
        GuestKind::Lxc => format!("/run/lock/lxc/pve-config-{vmid}.lock"),
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
