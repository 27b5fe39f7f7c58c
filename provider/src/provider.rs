//! The `provider "pve"` block: where the cluster is, how to authenticate, how hard to push it.
//! Every attribute falls back to an environment variable, so secrets can stay out of the config.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use pve_api::{
    ApiError, ClientConfig, ClusterResource, Credentials, GuestConfig, MinTls, NetworkInterface, PveClient, Secret, StorageInfo,
    StorageVolume,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::data_sources;
use crate::functions;
use crate::memo::Memo;
use crate::plugin::diag::{Diagnostic, Diagnostics, api_error, attr};
use crate::plugin::resource::Resource;
use crate::plugin::schema::{Attribute, Block, Nesting, Validator};
use crate::plugin::service::{DataSource, Function, ProviderDefinition};
use crate::plugin::value::{Type, Value};

pub const PROVIDER_ADDRESS: &str = "registry.terraform.io/pve-home/pve";

/// What data sources and resources get once the provider is configured: the client, and the
/// coordination that lets many resources share one cluster safely at Terraform's parallelism.
pub struct Context {
    pub client: PveClient,
    /// At most this many write requests in flight per node (PVE runs 3 API workers per node);
    /// the tasks they start are not bounded here.
    pub max_concurrent_per_node: usize,
    /// One `/cluster/resources` answer shared by every read of a refresh.
    resources: tokio::sync::Mutex<Option<(Instant, Arc<Vec<ClusterResource>>)>>,
    node_slots: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// At most this many creates and clones allocating on one storage at a time.
    pub max_allocations_per_storage: usize,
    /// One semaphore per storage (`STORAGE` when shared, `NODE/STORAGE` when local): PVE takes
    /// the storage's lock for every allocation, and waits for it only 10 s.
    storage_slots: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// VMIDs handed out in this run, so concurrent creates never pick the same one.
    reserved_vmids: Mutex<BTreeSet<u64>>,
    /// VMIDs in use when this process first allocated one. Stale by design: every candidate is
    /// confirmed by PVE (`nextid?vmid=`) and ours are in `reserved_vmids`, so allocating needs no
    /// whole-cluster listing per guest.
    used_at_start: tokio::sync::Mutex<Option<Arc<BTreeSet<u64>>>>,
    /// Clone sources by VMID: their node and disk storages, read once per process (a template
    /// does not move or change its disks during an apply; a clone from a stale entry fails
    /// with PVE's message and nothing is created).
    clone_sources: tokio::sync::Mutex<HashMap<u64, Arc<CloneSource>>>,
    /// What the plan checks read (resources::guest::checks), once per process: each node's
    /// storages and bridges, and the volumes of one content type on a node's storage.
    node_storages: Memo<String, Vec<StorageInfo>>,
    node_bridges: Memo<String, Vec<NetworkInterface>>,
    storage_volumes: Memo<(String, String, String), Vec<StorageVolume>>,
    /// The VMIDs the plans of this process set, and who set each: two resources creating one
    /// VMID are refused at plan time, and an allocated VMID never takes one of them.
    planned_vmids: Mutex<HashMap<u64, PlannedVmid>>,
    pub ssh: SshSettings,
    ssh_sessions: tokio::sync::Mutex<HashMap<String, Arc<pve_ssh::SshSession>>>,
    snippet_dirs: tokio::sync::Mutex<HashMap<String, String>>,
    /// Set when Terraform asks the provider to stop (Ctrl-C): task waits give up at once.
    stopping: tokio::sync::watch::Sender<bool>,
}

/// A guest that other guests are cloned from.
pub struct CloneSource {
    pub node: String,
    pub config: GuestConfig,
}

/// A resource that sets a VMID in its plan, as far as the provider can tell resources apart:
/// Terraform does not tell providers resource addresses, so by type and guest name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimant {
    /// `pve_vm` or `pve_lxc`.
    pub resource_type: &'static str,
    /// The VM's `name` or the container's `hostname`.
    pub name: String,
}

impl std::fmt::Display for Claimant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} '{}'", self.resource_type, self.name)
    }
}

struct PlannedVmid {
    claimant: Claimant,
    /// The claimant's prior state has this VMID: it manages the guest there (update, replace).
    existing: bool,
}

/// How long a shared `/cluster/resources` answer stays fresh.
const RESOURCES_TTL: Duration = Duration::from_secs(10);

impl Context {
    pub fn new(client: PveClient, max_concurrent_per_node: usize, max_allocations_per_storage: usize, ssh: SshSettings) -> Self {
        Self {
            client,
            max_concurrent_per_node,
            max_allocations_per_storage,
            resources: tokio::sync::Mutex::new(None),
            node_slots: Mutex::new(HashMap::new()),
            storage_slots: Mutex::new(HashMap::new()),
            reserved_vmids: Mutex::new(BTreeSet::new()),
            used_at_start: tokio::sync::Mutex::new(None),
            clone_sources: tokio::sync::Mutex::new(HashMap::new()),
            node_storages: Memo::default(),
            node_bridges: Memo::default(),
            storage_volumes: Memo::default(),
            planned_vmids: Mutex::new(HashMap::new()),
            ssh,
            ssh_sessions: tokio::sync::Mutex::new(HashMap::new()),
            snippet_dirs: tokio::sync::Mutex::new(HashMap::new()),
            stopping: tokio::sync::watch::channel(false).0,
        }
    }

    /// Terraform's StopProvider: interrupt every task wait.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Waits for a PVE task, unless Terraform is stopping the provider; then the error says the
    /// task goes on in PVE, and resources report what they created as tainted.
    pub async fn wait_task(&self, upid: &pve_api::Upid, limit: Duration) -> Result<pve_api::TaskOutcome, TaskWaitError> {
        let mut stopping = self.stopping.subscribe();
        if *stopping.borrow() {
            return Err(TaskWaitError::Stopped(upid.clone()));
        }
        tokio::select! {
            outcome = self.client.wait_task(upid, pve_api::TaskWait::with_timeout(limit)) => outcome.map_err(TaskWaitError::Api),
            _ = stopping.wait_for(|stop| *stop) => Err(TaskWaitError::Stopped(upid.clone())),
        }
    }

    /// One SSH session per node, opened on first use and shared; a session that has closed (idle
    /// timeout, network) is replaced.
    pub async fn ssh(&self, node: &str) -> Result<Arc<pve_ssh::SshSession>, pve_ssh::SshError> {
        if let Some(session) = self.ssh_sessions.lock().await.get(node).filter(|s| !s.is_closed()) {
            return Ok(session.clone());
        }
        let host = self.ssh.node_addresses.get(node).cloned().unwrap_or_else(|| node.to_string());
        let target = pve_ssh::Target { host, port: self.ssh.port, user: self.ssh.user.clone() };
        let options = pve_ssh::Options {
            private_key: self.ssh.private_key.clone(),
            known_hosts: self.ssh.known_hosts.clone(),
            mode: pve_ssh::HostKeyMode::Strict,
            timeout: Duration::from_secs(30),
        };
        // Connect without holding the map: one unreachable node must not hold up the others.
        let session = Arc::new(pve_ssh::SshSession::connect(target, &options).await?);
        self.ssh_sessions.lock().await.insert(node.to_string(), session.clone());
        Ok(session)
    }

    /// The directory snippets of `storage` live in on the nodes (`<path>/snippets`).
    pub async fn snippet_dir(&self, storage: &str) -> Result<String, String> {
        let mut dirs = self.snippet_dirs.lock().await;
        if let Some(dir) = dirs.get(storage) {
            return Ok(dir.clone());
        }
        let config = self.client.storage_config(storage).await.map_err(|e| e.to_string())?;
        if !config.supports("snippets") {
            return Err(format!("storage '{storage}' does not hold snippets (content: {})", config.content.as_deref().unwrap_or("")));
        }
        let path = config
            .path
            .as_deref()
            .ok_or_else(|| format!("storage '{storage}' has no directory path; snippets need a directory storage"))?;
        let dir = format!("{}/snippets", path.trim_end_matches('/'));
        dirs.insert(storage.to_string(), dir.clone());
        Ok(dir)
    }

    /// The cluster's guests, nodes and storages; concurrent callers share one request.
    pub async fn resources(&self) -> Result<Arc<Vec<ClusterResource>>, ApiError> {
        self.listing_unless_cached(|at| at.elapsed() < RESOURCES_TTL).await
    }

    /// The listing, fetched anew unless the cached one was fetched at or after `since`: a guest
    /// missing from an older listing may have been created after it.
    pub async fn resources_since(&self, since: Instant) -> Result<Arc<Vec<ClusterResource>>, ApiError> {
        self.listing_unless_cached(|at| at >= since).await
    }

    /// The cached listing if `still_good` says so of when it was fetched, else a fresh one (which
    /// becomes the cache). Concurrent callers wait for one request.
    async fn listing_unless_cached(&self, still_good: impl Fn(Instant) -> bool) -> Result<Arc<Vec<ClusterResource>>, ApiError> {
        let mut cached = self.resources.lock().await;
        if let Some((at, resources)) = cached.as_ref()
            && still_good(*at)
        {
            return Ok(resources.clone());
        }
        let fresh = Arc::new(self.client.cluster_resources(None).await?);
        *cached = Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }

    /// A clone source's node and disk storages, read once per process. A source missing from the
    /// shared listing is looked for once more in a listing no older than this call: the shared
    /// one may predate the source's creation (a template made earlier in the same apply).
    pub async fn clone_source(&self, vmid: u64, kind: pve_api::GuestKind) -> Result<Option<Arc<CloneSource>>, ApiError> {
        let asked = Instant::now();
        let mut sources = self.clone_sources.lock().await;
        if let Some(source) = sources.get(&vmid) {
            return Ok(Some(source.clone()));
        }
        let is_source = |r: &ClusterResource| r.vmid == Some(vmid) && r.guest_kind() == Some(kind);
        let mut resources = self.resources().await?;
        if !resources.iter().any(is_source) {
            resources = self.resources_since(asked).await?;
        }
        let Some(row) = resources.iter().find(|r| is_source(r)) else { return Ok(None) };
        let node = row.node.clone().unwrap_or_default();
        let config = self.client.guest_config(kind, &node, vmid).await?;
        let source = Arc::new(CloneSource { node, config });
        sources.insert(vmid, source.clone());
        Ok(Some(source))
    }

    /// The storages `node` sees, with their content types and whether they are enabled, active
    /// and shared (`GET /nodes/{node}/storage`), read once per process.
    pub async fn node_storages(&self, node: &str) -> Result<Arc<Vec<StorageInfo>>, ApiError> {
        self.node_storages.get_or_fetch(&node.to_string(), || self.client.node_storages(node, None)).await
    }

    /// What a NIC on `node` can attach to: its Linux and Open vSwitch bridges and, with SDN, the
    /// vnets of its zones (`type=any_bridge` lists all three), read once per process.
    pub async fn node_bridges(&self, node: &str) -> Result<Arc<Vec<NetworkInterface>>, ApiError> {
        self.node_bridges.get_or_fetch(&node.to_string(), || self.client.node_network(node, Some("any_bridge"))).await
    }

    /// The volumes of `content` (`vztmpl`, `import`, …) on `storage` as `node` sees it, read once
    /// per process.
    pub async fn storage_volumes(&self, node: &str, storage: &str, content: &str) -> Result<Arc<Vec<StorageVolume>>, ApiError> {
        let key = (node.to_string(), storage.to_string(), content.to_string());
        self.storage_volumes.get_or_fetch(&key, || self.client.storage_content(node, storage, Some(content), None)).await
    }

    /// Whether `volid` (of `content`) is on `storage` of `node`: the listing read once per
    /// process, and read again before saying no, since a file this apply made (a download a
    /// guest depends on) may have come after the listing was read.
    pub async fn has_volume(
        &self,
        node: &str,
        storage: &str,
        content: &str,
        volid: &str,
    ) -> Result<(bool, Arc<Vec<StorageVolume>>), ApiError> {
        let listed = self.storage_volumes(node, storage, content).await?;
        if listed.iter().any(|v| v.volid == volid) {
            return Ok((true, listed));
        }
        let fresh = Arc::new(self.client.storage_content(node, storage, Some(content), None).await?);
        Ok((fresh.iter().any(|v| v.volid == volid), fresh))
    }

    /// Records that `claimant` plans VMID `vmid`; `existing` when its prior state has that VMID.
    /// Err names the other resource when two create one VMID (a resource planned again, as
    /// Terraform does, is no second claimant). Ok(true) when the VMID is the claimant's own
    /// guest, which a replacement's create (planned with no prior state) may reuse.
    pub fn claim_planned_vmid(&self, vmid: u64, claimant: Claimant, existing: bool) -> Result<bool, Claimant> {
        let mut planned = self.planned_vmids.lock().unwrap_or_else(|e| e.into_inner());
        match planned.get_mut(&vmid) {
            None => {
                planned.insert(vmid, PlannedVmid { claimant, existing });
                Ok(existing)
            }
            Some(held) if held.claimant == claimant => {
                held.existing |= existing;
                Ok(held.existing)
            }
            // Two resources already managing one guest are not this plan's doing: only a new
            // guest is refused (and one that collides with a managed guest names its manager).
            Some(_) if existing => Ok(true),
            Some(held) => Err(held.claimant.clone()),
        }
    }

    /// The resource of this plan that sets `vmid`, if one does.
    pub fn planned_guest(&self, vmid: u64) -> Option<Claimant> {
        self.planned_vmids.lock().unwrap_or_else(|e| e.into_inner()).get(&vmid).map(|p| p.claimant.clone())
    }

    /// After a change, the next read fetches anew.
    pub async fn invalidate_resources(&self) {
        *self.resources.lock().await = None;
    }

    /// A slot for one write operation on `node`.
    pub async fn node_slot(&self, node: &str) -> OwnedSemaphorePermit {
        let semaphore = self
            .node_slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(node.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.max_concurrent_per_node)))
            .clone();
        semaphore.acquire_owned().await.expect("semaphores are never closed")
    }

    /// A slot for one create or clone allocating on `storage` from `node`. PVE serialises
    /// allocations on a storage (its storage lock: per node for local storage, cluster-wide for
    /// shared) and gives up after 10 s; bounding them here keeps the queue short enough that
    /// they do not time out. Clones of one template are not serialised: PVE takes a shared lock
    /// on a stopped source and runs them side by side.
    pub async fn storage_slot(&self, node: &str, storage: &str) -> OwnedSemaphorePermit {
        let shared = self.node_storages(node).await.is_ok_and(|s| s.iter().any(|s| s.storage == storage && s.shared));
        let key = if shared { storage.to_string() } else { format!("{node}/{storage}") };
        let semaphore = self
            .storage_slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(self.max_allocations_per_storage)))
            .clone();
        semaphore.acquire_owned().await.expect("semaphores are never closed")
    }

    /// A VMID that no guest has and no other create of this run holds, confirmed by PVE.
    pub async fn allocate_vmid(&self) -> Result<u64, ApiError> {
        let used = {
            let mut snapshot = self.used_at_start.lock().await;
            match snapshot.as_ref() {
                Some(used) => used.clone(),
                None => {
                    let used: Arc<BTreeSet<u64>> = Arc::new(self.resources().await?.iter().filter_map(|r| r.vmid).collect());
                    *snapshot = Some(used.clone());
                    used
                }
            }
        };
        loop {
            let candidate = {
                let mut reserved = self.reserved_vmids.lock().unwrap_or_else(|e| e.into_inner());
                // VMIDs other resources of this run set themselves are theirs, even before their create.
                let planned = self.planned_vmids.lock().unwrap_or_else(|e| e.into_inner());
                let candidate = (100u64..)
                    .find(|id| !used.contains(id) && !reserved.contains(id) && !planned.contains_key(id))
                    .expect("a free VMID exists");
                drop(planned);
                reserved.insert(candidate);
                candidate
            };
            match self.client.next_id(Some(candidate)).await {
                Ok(_) => return Ok(candidate),
                // Taken since the listing (by someone else): keep it reserved and try the next.
                Err(ApiError::Parameters { .. }) => continue,
                Err(e) => {
                    self.release_vmid(candidate);
                    return Err(e);
                }
            }
        }
    }

    /// Reserves a VMID the configuration chose, failing if PVE says it is taken.
    pub async fn claim_vmid(&self, vmid: u64) -> Result<bool, ApiError> {
        if !self.reserved_vmids.lock().unwrap_or_else(|e| e.into_inner()).insert(vmid) {
            return Ok(false);
        }
        match self.client.next_id(Some(vmid)).await {
            Ok(_) => Ok(true),
            Err(ApiError::Parameters { .. }) => {
                self.release_vmid(vmid);
                Ok(false)
            }
            Err(e) => {
                self.release_vmid(vmid);
                Err(e)
            }
        }
    }

    pub fn release_vmid(&self, vmid: u64) {
        self.reserved_vmids.lock().unwrap_or_else(|e| e.into_inner()).remove(&vmid);
    }
}

pub struct PveProvider;

fn ssh_block() -> Block {
    Block::new(
        "SSH to the nodes, for what the API cannot do: writing cloud-init snippets. Host keys are checked \
         strictly against `known_hosts_file`; add each node's key there first (e.g. `ssh-keyscan`, after checking \
         its fingerprint).",
        vec![
            Attribute::optional("user", Type::String, "SSH user on the nodes (default `root`). Env: `PVE_SSH_USER`."),
            Attribute::optional(
                "private_key_file",
                Type::String,
                "Private key file (default `~/.ssh/id_ed25519`). Env: `PVE_SSH_PRIVATE_KEY_FILE`.",
            ),
            Attribute::optional(
                "known_hosts_file",
                Type::String,
                "known_hosts file with the nodes' host keys (default `~/.ssh/known_hosts`). Env: `PVE_SSH_KNOWN_HOSTS`.",
            ),
            Attribute::optional("port", Type::Number, "SSH port (default 22). Env: `PVE_SSH_PORT`.").validate(Validator::Range(1, 65535)),
            Attribute::optional(
                "node_addresses",
                Type::map(Type::String),
                "Address to reach each node at, by node name (default: the node name). Env: `PVE_SSH_NODE_ADDRESSES` as `pve1=10.0.0.11,pve2=10.0.0.12`.",
            ),
        ],
    )
}

/// Where and how to reach nodes over SSH.
pub struct SshSettings {
    pub user: String,
    pub port: u16,
    pub private_key: std::path::PathBuf,
    pub known_hosts: std::path::PathBuf,
    pub node_addresses: std::collections::BTreeMap<String, String>,
    /// False when neither the `ssh` block nor `PVE_SSH_*` variables were given.
    pub configured: bool,
}

impl SshSettings {
    fn from_config(block: &Value) -> Self {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        let text = |key: &str, var: &str| block.get(key).as_str().map(str::to_string).or_else(|| env(var));
        let configured = !block.is_null()
            || ["PVE_SSH_USER", "PVE_SSH_PRIVATE_KEY_FILE", "PVE_SSH_KNOWN_HOSTS", "PVE_SSH_PORT", "PVE_SSH_NODE_ADDRESSES"]
                .iter()
                .any(|v| env(v).is_some());
        Self {
            user: text("user", "PVE_SSH_USER").unwrap_or_else(|| "root".into()),
            port: block.get("port").as_i64().map(|p| p as u16).or_else(|| env("PVE_SSH_PORT").and_then(|p| p.parse().ok())).unwrap_or(22),
            private_key: text("private_key_file", "PVE_SSH_PRIVATE_KEY_FILE").unwrap_or_else(|| format!("{home}/.ssh/id_ed25519")).into(),
            known_hosts: text("known_hosts_file", "PVE_SSH_KNOWN_HOSTS").unwrap_or_else(|| format!("{home}/.ssh/known_hosts")).into(),
            node_addresses: match block.get("node_addresses") {
                Value::Map(m) => m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect(),
                _ => env("PVE_SSH_NODE_ADDRESSES")
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(node, address)| (node.trim().to_string(), address.trim().to_string()))
                    .collect(),
            },
            configured,
        }
    }
}

fn token_shape(value: &Value) -> Result<(), String> {
    // Never echo the value: it is a secret.
    match value.as_str() {
        Some(token) if Credentials::api_token(token).is_err() => {
            Err("must look like USER@REALM!TOKENID=SECRET (the form PVE shows when the token is created)".into())
        }
        _ => Ok(()),
    }
}

impl ProviderDefinition for PveProvider {
    type Context = Context;

    fn schema(&self) -> Block {
        Block::new(
            "Manages a Proxmox VE cluster through its API. Every attribute can also be set through the environment variable named in its description.",
            vec![
                Attribute::optional("endpoint", Type::String, "API URL of any cluster node, e.g. `https://pve1.lan:8006`. Env: `PVE_ENDPOINT`.")
                    .validate(Validator::regex(r"https?://[^/\s:]+(:\d+)?(/.*)?", "is not an http(s) URL such as https://pve1:8006")),
                Attribute::optional("api_token", Type::String, "API token as `USER@REALM!TOKENID=SECRET`. Env: `PVE_API_TOKEN`. Preferred over username/password.")
                    .sensitive()
                    .validate(Validator::custom(token_shape)),
                Attribute::optional("username", Type::String, "User for ticket authentication, e.g. `root@pam`. Env: `PVE_USERNAME`.")
                    .validate(Validator::regex(r"[^\s@:]+@[A-Za-z][A-Za-z0-9.\-_]+", "must look like USER@REALM, e.g. root@pam")),
                Attribute::optional("password", Type::String, "Password for `username`. Env: `PVE_PASSWORD`.").sensitive(),
                Attribute::optional("insecure", Type::Bool, "Skip TLS certificate verification. Off by default; prefer `ca_file`. Env: `PVE_INSECURE`."),
                Attribute::optional(
                    "insecure_http",
                    Type::Bool,
                    "Allow a plain `http://` endpoint, which sends the credentials unencrypted. For test servers (such as the emulator with `--plain-http`) only. Env: `PVE_INSECURE_HTTP`.",
                ),
                Attribute::optional(
                    "ca_file",
                    Type::String,
                    "PEM file with the CA that signed the cluster's certificate (e.g. `/etc/pve/pve-root-ca.pem`); only that CA is trusted then, not the system's. Env: `PVE_CA_FILE`.",
                ),
                Attribute::optional("min_tls", Type::String, "Lowest TLS version to accept: `1.2` (default) or `1.3`. Env: `PVE_MIN_TLS`.")
                    .validate(Validator::OneOf(&["1.2", "1.3"])),
                Attribute::optional("timeout", Type::Number, "Per-request timeout in seconds (default 60). Env: `PVE_TIMEOUT`.")
                    .validate(Validator::Range(1, 3600)),
                Attribute::optional(
                    "max_concurrent_per_node",
                    Type::Number,
                    "Most write requests in flight to one node at once (default 3, PVE's API worker count); the tasks they start run side by side, as PVE runs them. Env: `PVE_MAX_CONCURRENT_PER_NODE`.",
                )
                .validate(Validator::Range(1, 32)),
                Attribute::optional(
                    "max_allocations_per_storage",
                    Type::Number,
                    "Most creates and clones allocating on one storage at once (default 4): PVE serialises allocations per storage and waits 10 s for its lock. Env: `PVE_MAX_ALLOCATIONS_PER_STORAGE`.",
                )
                .validate(Validator::Range(1, 64)),
            ],
        )
        .with_block("ssh", Nesting::Single, ssh_block())
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let set = |name: &str| !config.get(name).is_null();
        if set("api_token") && (set("username") || set("password")) {
            diags.push(
                Diagnostic::error("Conflicting credentials", "Set either api_token, or username and password, not both.")
                    .at(attr("api_token")),
            );
        }
        if set("password") && !set("username") {
            diags.push(Diagnostic::error("Missing username", "password is set but username is not.").at(attr("username")));
        }
        if config.get("insecure_http").as_bool() == Some(true) {
            diags.push(
                Diagnostic::warning(
                    "Plain HTTP allowed",
                    "insecure_http = true lets the provider send its API token or password unencrypted to an http:// endpoint. Use it for test servers only.",
                )
                .at(attr("insecure_http")),
            );
        }
        if config.get("insecure").as_bool() == Some(true) && set("ca_file") {
            diags.push(
                Diagnostic::warning("insecure overrides ca_file", "With insecure = true the certificate is not checked at all.")
                    .at(attr("insecure")),
            );
        }
        diags
    }

    fn configure<'a>(&'a self, config: Value, _terraform_version: String) -> BoxFuture<'a, Result<Context, Diagnostics>> {
        Box::pin(async move {
            if !config.is_wholly_known() {
                return Err(Diagnostic::error(
                    "Provider configuration depends on values not yet known",
                    "The pve provider's settings must be known at plan time; do not derive them from resources created in the same run.",
                )
                .into());
            }
            let setting = |name: &str, env: &str| -> Option<String> {
                match config.get(name) {
                    Value::String(s) => Some(s.clone()),
                    Value::Bool(b) => Some(b.to_string()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => std::env::var(env).ok().filter(|v| !v.is_empty()),
                }
            };
            let endpoint = setting("endpoint", "PVE_ENDPOINT").ok_or_else(|| {
                Diagnostics::from(
                    Diagnostic::error("Missing endpoint", "Set endpoint in the provider block or PVE_ENDPOINT in the environment.")
                        .at(attr("endpoint")),
                )
            })?;
            let credentials =
                match (setting("api_token", "PVE_API_TOKEN"), setting("username", "PVE_USERNAME"), setting("password", "PVE_PASSWORD")) {
                    (Some(token), _, _) => Credentials::api_token(&token)
                        .map_err(|e| Diagnostics::from(Diagnostic::error("Invalid api_token", e.to_string()).at(attr("api_token"))))?,
                    (None, Some(username), Some(password)) => Credentials::Password { username, password: Secret::new(password) },
                    _ => {
                        return Err(Diagnostic::error(
                            "Missing credentials",
                            "Set api_token (or PVE_API_TOKEN), or username and password (or PVE_USERNAME and PVE_PASSWORD).",
                        )
                        .at(attr("api_token"))
                        .into());
                    }
                };
            let uses_token = matches!(credentials, Credentials::ApiToken { .. });
            let mut client_config = ClientConfig::new(endpoint, credentials);
            client_config.insecure = setting("insecure", "PVE_INSECURE").is_some_and(|v| matches!(v.as_str(), "true" | "1"));
            client_config.insecure_http = setting("insecure_http", "PVE_INSECURE_HTTP").is_some_and(|v| matches!(v.as_str(), "true" | "1"));
            client_config.ca_file = setting("ca_file", "PVE_CA_FILE").map(Into::into);
            if let Some(min_tls) = setting("min_tls", "PVE_MIN_TLS") {
                client_config.min_tls = MinTls::parse(&min_tls)
                    .map_err(|e| Diagnostics::from(Diagnostic::error("Invalid min_tls", e.to_string()).at(attr("min_tls"))))?;
            }
            if let Some(timeout) = setting("timeout", "PVE_TIMEOUT") {
                let secs: f64 = timeout.parse().map_err(|_| {
                    Diagnostics::from(
                        Diagnostic::error("Invalid timeout", format!("'{timeout}' is not a number of seconds")).at(attr("timeout")),
                    )
                })?;
                if !(1.0..=3600.0).contains(&secs) {
                    return Err(Diagnostic::error("Invalid timeout", format!("{secs} is not between 1 and 3600 seconds"))
                        .at(attr("timeout"))
                        .into());
                }
                client_config.timeout = Duration::from_secs_f64(secs);
            }
            let max_concurrent_per_node = match setting("max_concurrent_per_node", "PVE_MAX_CONCURRENT_PER_NODE") {
                Some(n) => n.parse::<f64>().ok().filter(|n| (1.0..=32.0).contains(n)).map(|n| n as usize).ok_or_else(|| {
                    Diagnostics::from(
                        Diagnostic::error("Invalid max_concurrent_per_node", format!("'{n}' is not a number from 1 to 32"))
                            .at(attr("max_concurrent_per_node")),
                    )
                })?,
                None => 3,
            };
            let max_allocations_per_storage = match setting("max_allocations_per_storage", "PVE_MAX_ALLOCATIONS_PER_STORAGE") {
                Some(n) => n.parse::<f64>().ok().filter(|n| (1.0..=64.0).contains(n)).map(|n| n as usize).ok_or_else(|| {
                    Diagnostics::from(
                        Diagnostic::error("Invalid max_allocations_per_storage", format!("'{n}' is not a number from 1 to 64"))
                            .at(attr("max_allocations_per_storage")),
                    )
                })?,
                None => 4,
            };
            let client = PveClient::new(client_config).map_err(|e| {
                let at = if e.to_string().contains("CA file") { "ca_file" } else { "endpoint" };
                Diagnostics::from(Diagnostic::error("Invalid provider configuration", e.to_string()).at(attr(at)))
            })?;
            // Fail now, with the server's words, rather than at the first resource.
            match client.version().await {
                Ok(version) => tracing::info!(version = %version.version, "connected to Proxmox VE"),
                Err(error @ ApiError::Unauthorized { .. }) => {
                    let at = if uses_token { "api_token" } else { "password" };
                    return Err(api_error("Authentication failed", &error).at(attr(at)).into());
                }
                Err(error) => {
                    return Err(api_error("Cannot reach the Proxmox VE API", &error).at(attr("endpoint")).into());
                }
            }
            let ssh = SshSettings::from_config(config.get("ssh"));
            Ok(Context::new(client, max_concurrent_per_node, max_allocations_per_storage, ssh))
        })
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource<Context>>> {
        data_sources::all()
    }

    fn resources(&self) -> Vec<Arc<dyn Resource<Context>>> {
        use crate::resources::*;
        vec![
            Arc::new(vm::PveVm),
            Arc::new(lxc::PveLxc),
            Arc::new(backup_job::PveBackupJob),
            Arc::new(download_file::PveDownloadFile),
            Arc::new(snapshot::PveSnapshot),
            Arc::new(ha_resource::PveHaResource),
            Arc::new(ha_rule::PveHaRule),
            Arc::new(lifecycle_tag::PveLifecycleTag),
            Arc::new(role::PveRole),
            Arc::new(user::PveUser),
            Arc::new(group::PveGroup),
            Arc::new(acl::PveAcl),
            Arc::new(api_token::PveApiToken),
            Arc::new(pool::PvePool),
        ]
    }

    fn functions(&self) -> Vec<Arc<dyn Function>> {
        functions::all()
    }

    fn stop(&self, context: &Context) {
        context.stop();
    }
}

/// Why waiting for a task ended without its success.
#[derive(Debug)]
pub enum TaskWaitError {
    /// Terraform is stopping the provider; the task goes on in PVE.
    Stopped(pve_api::Upid),
    /// The task failed, timed out, or could not be read.
    Api(ApiError),
}

impl std::fmt::Display for TaskWaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stopped(upid) => write!(f, "stopped by Terraform; task {upid} may still be running in PVE"),
            Self::Api(error) => error.fmt(f),
        }
    }
}

impl From<TaskWaitError> for String {
    fn from(error: TaskWaitError) -> Self {
        error.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> Context {
        let credentials = Credentials::api_token("root@pam!t=00000000-0000-0000-0000-000000000000").unwrap();
        let client = PveClient::new(ClientConfig::new("https://127.0.0.1:1", credentials)).unwrap();
        Context::new(client, 3, 4, SshSettings::from_config(&Value::Null))
    }

    fn claimant(resource_type: &'static str, name: &str) -> Claimant {
        Claimant { resource_type, name: name.into() }
    }

    #[test]
    fn one_vmid_is_created_by_one_resource_only() {
        let ctx = context();
        let (web, dns) = (claimant("pve_vm", "web1"), claimant("pve_lxc", "dns1"));
        assert_eq!(ctx.claim_planned_vmid(300, web.clone(), false), Ok(false));
        assert_eq!(ctx.claim_planned_vmid(300, web.clone(), false), Ok(false), "planned again: the same claimant");
        assert_eq!(ctx.claim_planned_vmid(300, dns.clone(), false), Err(web.clone()));
        assert_eq!(ctx.claim_planned_vmid(300, dns.clone(), true), Ok(true), "a managed guest is never refused");
        assert_eq!(ctx.planned_guest(300), Some(web.clone()));
        assert_eq!(ctx.planned_guest(301), None);
        assert_eq!(web.to_string(), "pve_vm 'web1'");
    }

    #[test]
    fn a_replacement_reuses_its_own_vmid() {
        let ctx = context();
        let db = claimant("pve_vm", "db1");
        // Terraform plans a replacement twice: with the prior state, then its create without it.
        assert_eq!(ctx.claim_planned_vmid(110, db.clone(), true), Ok(true));
        assert_eq!(ctx.claim_planned_vmid(110, db.clone(), false), Ok(true));
        assert_eq!(ctx.claim_planned_vmid(110, claimant("pve_vm", "other"), false), Err(db));
    }
}
