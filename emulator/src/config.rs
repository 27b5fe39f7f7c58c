//! Emulator options: every one a flag with an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// A Proxmox VE 9.1.3 API emulator: serves `/api2/json` like a real cluster (async tasks with UPIDs,
/// config locks, digests, PVE's error shapes), validating every request against the official API
/// schema. Point Terraform, pve-ops, proxmoxer or Ansible at it instead of a real cluster.
#[derive(Debug, Clone, Parser)]
#[command(name = "pve-emulator", version)]
pub struct EmulatorConfig {
    /// Address to listen on. Port 0 picks a free port; the chosen address is printed on stdout.
    #[arg(long, env = "PVE_EMULATOR_LISTEN", default_value = "127.0.0.1:8006")]
    pub listen: SocketAddr,

    /// Serve plain HTTP instead of HTTPS (tests only; real PVE always speaks TLS).
    #[arg(long, env = "PVE_EMULATOR_PLAIN_HTTP")]
    pub plain_http: bool,

    /// Write the generated self-signed CA/server certificate (PEM) here, for clients' `ca_file`.
    #[arg(long, env = "PVE_EMULATOR_CERT_OUT")]
    pub cert_out: Option<PathBuf>,

    /// Start as a fresh install does: no template VM and no container template volume, only the
    /// nodes, storages and bridges (build templates with `download-url` and `import-from`).
    /// Ignored when a state file is loaded.
    #[arg(long, env = "PVE_EMULATOR_BARE")]
    pub bare: bool,

    /// Number of cluster nodes (named pve1, pve2, …).
    #[arg(long, env = "PVE_EMULATOR_NODES", default_value_t = 3)]
    pub nodes: usize,

    /// API tokens `USER@REALM!NAME=SECRET`, comma separated: their users hold `Administrator` on
    /// `/`; append `:ro` for a read-only token (`PVEAuditor`). Tokens and users made through
    /// `/access` hold what ACL entries grant them.
    /// Prefer the environment variable: arguments are visible in the process list. With neither
    /// tokens nor users, one token with a random secret is made and printed on stdout.
    #[arg(long, env = "PVE_EMULATOR_TOKENS", value_delimiter = ',')]
    pub tokens: Vec<String>,

    /// Users for ticket (password) login, `USER@REALM:PASSWORD`, comma separated.
    #[arg(long, env = "PVE_EMULATOR_USERS", value_delimiter = ',')]
    pub users: Vec<String>,

    /// How long an answer to a failed authentication is held back, in milliseconds (pveproxy
    /// delays every 401 by 3 s), which slows down guessing.
    #[arg(long, env = "PVE_EMULATOR_AUTH_FAILURE_DELAY_MS", default_value_t = 3000)]
    pub auth_failure_delay_ms: u64,

    /// Keep the cluster in this JSON file: loaded at start, written after every change.
    #[arg(long, env = "PVE_EMULATOR_STATE_FILE")]
    pub state_file: Option<PathBuf>,

    /// Directory for file-backed storages (`local`, `backup`): snippets, backups, downloads.
    #[arg(long, env = "PVE_EMULATOR_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Append one JSON line per request (method, path, params with secrets redacted, status, ms).
    #[arg(long, env = "PVE_EMULATOR_REQUEST_LOG")]
    pub request_log: Option<PathBuf>,

    /// How long a task (clone, create, start, backup, …) runs, in milliseconds.
    #[arg(long, env = "PVE_EMULATOR_TASK_MS", default_value_t = 300)]
    pub task_ms: u64,

    /// How long a request waits for a guest's config lock before "got timeout", in milliseconds (PVE: 10 s).
    #[arg(long, env = "PVE_EMULATOR_LOCK_TIMEOUT_MS", default_value_t = 10_000)]
    pub lock_timeout_ms: u64,

    /// How long one volume operation (allocate, linked clone, free, rename) holds pve-storage's
    /// storage lock, in milliseconds: a node-local file lock for local storage, a cluster-wide
    /// pmxcfs lock for shared storage. Others wait for it up to the lock timeout.
    #[arg(long, env = "PVE_EMULATOR_STORAGE_LOCK_MS", default_value_t = 10)]
    pub storage_lock_ms: u64,

    /// Bandwidth of each storage (per node for local storage) in MiB/s, shared by the copies
    /// running on it at once (full clones, disk moves, migrations). 0: copies take no time.
    #[arg(long, env = "PVE_EMULATOR_STORAGE_MBPS", default_value_t = 50_000)]
    pub storage_mbps: u64,

    /// Keep HA groups usable, as before PVE 9 migrated them to HA rules (PVE 8 behaviour). By
    /// default the cluster's groups are migrated: the group endpoints and a resource's `group`
    /// are refused, as PVE 9 refuses them.
    #[arg(long, env = "PVE_EMULATOR_HA_GROUPS")]
    pub ha_groups: bool,

    /// How often the HA manager (CRM and LRMs) acts, in milliseconds; changes to HA resources,
    /// rules and nodes also wake it at once. PVE's loop runs every 10 s.
    #[arg(long, env = "PVE_EMULATOR_HA_INTERVAL_MS", default_value_t = 1000)]
    pub ha_interval_ms: u64,

    /// API workers per node; requests beyond this wait for a free worker (PVE: 3).
    #[arg(long, env = "PVE_EMULATOR_WORKERS", default_value_t = 3)]
    pub workers: usize,

    /// Added latency per request, in milliseconds.
    #[arg(long, env = "PVE_EMULATOR_LATENCY_MS", default_value_t = 0)]
    pub latency_ms: u64,

    /// Fraction (0..1) of requests answered with HTTP 500 before they are handled.
    #[arg(long, env = "PVE_EMULATOR_ERROR_RATE", default_value_t = 0.0)]
    pub error_rate: f64,

    /// Fraction of requests answered with 596 "Broken pipe" (an unreachable node) before they are handled.
    #[arg(long, env = "PVE_EMULATOR_PROXY_ERROR_RATE", default_value_t = 0.0)]
    pub proxy_error_rate: f64,

    /// Fraction of requests whose connection is dropped without a response.
    #[arg(long, env = "PVE_EMULATOR_RESET_RATE", default_value_t = 0.0)]
    pub reset_rate: f64,

    /// Fraction of tasks that fail for a transient reason, as busy clusters see it: a lock the
    /// task could not get within PVE's 10 s (`can't lock file '…' - got timeout`). The task undoes
    /// what it began, so sending the request again is the cure.
    #[arg(long, env = "PVE_EMULATOR_TASK_FAILURE_RATE", default_value_t = 0.0)]
    pub task_failure_rate: f64,

    /// Fraction of tasks that fail for good (`… injected task failure`): nothing a retry fixes.
    #[arg(long, env = "PVE_EMULATOR_PERMANENT_TASK_FAILURE_RATE", default_value_t = 0.0)]
    pub permanent_task_failure_rate: f64,

    /// Of the injected HTTP faults (500, 596, reset) on writes, the fraction that strike after
    /// the request was carried out: the answer is lost, not the request. Clients must look at
    /// what PVE holds before they send it again.
    #[arg(long, env = "PVE_EMULATOR_LOST_ANSWER_RATE", default_value_t = 0.5)]
    pub lost_answer_rate: f64,

    /// Fraction of tasks that run `slow_task_factor` times longer.
    #[arg(long, env = "PVE_EMULATOR_SLOW_TASK_RATE", default_value_t = 0.0)]
    pub slow_task_rate: f64,

    #[arg(long, env = "PVE_EMULATOR_SLOW_TASK_FACTOR", default_value_t = 10)]
    pub slow_task_factor: u64,

    /// Seed for every injected fault, so a run can be repeated exactly.
    #[arg(long, env = "PVE_EMULATOR_SEED", default_value_t = 1)]
    pub seed: u64,

    /// Log level for the emulator's own log on stderr (e.g. info, debug).
    #[arg(long, env = "PVE_EMULATOR_LOG", default_value = "info")]
    pub log: String,
}

/// The token `for_tests` configures (`USER@REALM!NAME=SECRET`).
pub const TEST_TOKEN: &str = "root@pam!terraform=00000000-0000-0000-0000-000000000000";
/// The user `for_tests` configures (`USER@REALM:PASSWORD`).
pub const TEST_USER: &str = "root@pam:emulator";

impl EmulatorConfig {
    /// Defaults for in-process tests: free port, plain HTTP, fast tasks.
    pub fn for_tests() -> Self {
        let mut config = Self::parse_from(["pve-emulator"]);
        config.listen = "127.0.0.1:0".parse().expect("static address");
        config.plain_http = true;
        config.task_ms = 50;
        config.ha_interval_ms = 100;
        // Well-known credentials, for in-process tests only: the binary has no default secret.
        config.tokens = vec![TEST_TOKEN.to_string()];
        config.users = vec![TEST_USER.to_string()];
        config.auth_failure_delay_ms = 100;
        config
    }
}
