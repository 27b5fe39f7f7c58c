use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pve_ops::commands::{backups, deploy, drift, expire, health, rebuild, rotate, snapshot, tfstate};
use pve_ops::{Exit, Ops};

/// Operator CLI for pve-home: restores (guests, Terraform state), backup checks, snapshots, lab
/// expiry, SSH key rotation, drift and health checks, deploy and rebuild. Credentials come from
/// PVE_* / AWS_* environment variables or --config FILE (KEY=VALUE lines) — never from the
/// command line. Every mutating command has --dry-run and asks first unless --yes.
///
/// Exit codes: 0 ok, 1 failure, 2 usage error, 3 partial (some targets failed or were skipped).
#[derive(Parser)]
#[command(name = "pve-ops", version)]
struct Cli {
    /// File with PVE_ENDPOINT, PVE_API_TOKEN, AWS_ACCESS_KEY_ID, PVE_OPS_*, … as KEY=VALUE lines
    /// (read before anything else; the environment wins over it).
    #[arg(long, global = true, env = "PVE_OPS_CONFIG")]
    config: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Do not ask for confirmation.
    #[arg(long, global = true)]
    yes: bool,
    /// Show what would be done and change nothing.
    #[arg(long, global = true)]
    dry_run: bool,
    /// Directory for Prometheus textfile metrics (node_exporter's textfile collector).
    #[arg(long, global = true, env = "PVE_OPS_METRICS_DIR")]
    metrics_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create, list, roll back, delete and clean up snapshots.
    Snapshot {
        #[command(subcommand)]
        action: SnapshotAction,
    },
    /// Restore guests from vzdump archives, or Terraform state from its versioned S3 bucket.
    Restore {
        #[command(subcommand)]
        what: RestoreWhat,
    },
    /// Check every guest a backup job covers has an archive within its job's interval (+2 h);
    /// writes metrics. Guests no job covers are listed as unscheduled.
    VerifyBackups {
        /// Allowed age for every scheduled guest instead of its job's interval (e.g. 26h, 8d).
        #[arg(long, value_parser = pve_ops::parse_age)]
        max_age: Option<i64>,
        /// Also check each newest archive is readable through the API.
        #[arg(long)]
        full: bool,
    },
    /// Run `terraform plan` in an environment and record drift as metrics.
    Drift {
        /// Environment name: a folder under --environments.
        #[arg(long)]
        env: String,
        #[arg(long, env = "PVE_OPS_ENVIRONMENTS", default_value = "environments")]
        environments: PathBuf,
        #[arg(long, env = "PVE_OPS_TERRAFORM", default_value = "terraform")]
        terraform: String,
    },
    /// Add a new SSH key on guests, prove it logs in, only then remove the old key (never a lockout).
    #[command(group = clap::ArgGroup::new("scope").required(true).multiple(true).args(["env", "all", "host"]))]
    RotateSshKeys {
        /// Private key file of the new key: its public half is installed, and it proves the new login.
        #[arg(long)]
        add_key: PathBuf,
        /// Public key to remove once the new one works: a .pub file or the 'ssh-ed25519 AAAA…' text.
        #[arg(long)]
        remove_key: Option<String>,
        /// Guests tagged environment-<ENV> (running, with a static address in their config).
        #[arg(long)]
        env: Option<String>,
        /// Every running guest with a static address.
        #[arg(long)]
        all: bool,
        /// A host to include by address (repeatable).
        #[arg(long)]
        host: Vec<String>,
        #[command(flatten)]
        ssh: SshArgs,
        /// authorized_keys path, relative to the user's home or absolute.
        #[arg(long, default_value = ".ssh/authorized_keys")]
        authorized_keys: String,
        /// Hosts worked on at once.
        #[arg(long, default_value_t = 8)]
        parallel: usize,
        /// Connection retries per login (exponential backoff from 200 ms).
        #[arg(long, default_value_t = 3)]
        retries: u32,
        /// Seconds to wait for each connection or command.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// Check guests (running when they start on boot, guest agent answering), monitoring
    /// endpoints and the state bucket; writes pve_health.prom. Exit 3 when a check fails.
    Health {
        /// Only guests tagged environment-<ENV>.
        #[arg(long)]
        env: Option<String>,
        /// A URL that must answer 2xx/3xx, e.g. http://monitoring.lan:9090/-/healthy (repeatable;
        /// PVE_OPS_HEALTH_ENDPOINTS takes a comma-separated list).
        #[arg(long, env = "PVE_OPS_HEALTH_ENDPOINTS", value_delimiter = ',')]
        endpoint: Vec<String>,
        /// Also check the Terraform state bucket (S3 endpoint URL; credentials from AWS_* settings).
        #[arg(long, env = "PVE_OPS_S3_ENDPOINT")]
        s3_endpoint: Option<String>,
        /// Bucket to check (default: PVE_OPS_S3_BUCKET, then tfstate).
        #[arg(long)]
        bucket: Option<String>,
        /// Seconds to wait for each endpoint.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// Install pve-ops, its settings, the environments and the systemd timers on the monitoring
    /// VM over SSH and enable the timers. Idempotent: only changed files are sent.
    Deploy {
        /// The monitoring VM's address.
        #[arg(long)]
        host: String,
        #[command(flatten)]
        ssh: SshArgs,
        /// KEY=VALUE settings (PVE_*, AWS_*, PVE_OPS_*) to install as /etc/pve-ops/pve-ops.env (mode 0600).
        #[arg(long)]
        settings: Option<PathBuf>,
        /// Checkout whose environments/ and modules/ (with tfvars) go to /opt/pve-home.
        #[arg(long, default_value = ".")]
        source: PathBuf,
        /// Environments to enable the hourly drift check for (default: all under environments/).
        #[arg(long = "drift-env")]
        drift_env: Vec<String>,
        /// Install below this directory instead of / (systemctl --root, for staging an image).
        #[arg(long, default_value = "/")]
        root: String,
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Disaster recovery for MinIO or the monitoring VM: back up what is left, recreate it with
    /// `terraform apply -replace`, restore its data from the newest archive, wait until it answers.
    Rebuild {
        #[arg(value_enum)]
        service: rebuild::Service,
        /// The environment holding both services (a folder under --environments).
        #[arg(long, default_value = "monitoring")]
        env: String,
        #[arg(long, env = "PVE_OPS_ENVIRONMENTS", default_value = "environments")]
        environments: PathBuf,
        #[arg(long, env = "PVE_OPS_TERRAFORM", default_value = "terraform")]
        terraform: String,
        /// URL that answers 2xx once the service is back (default: from the environment's outputs).
        #[arg(long)]
        check_url: Option<String>,
        /// Seconds to wait for it.
        #[arg(long, default_value_t = 600)]
        check_timeout: u64,
        /// Storage for the backup taken first (default: where the newest archive is).
        #[arg(long)]
        storage: Option<String>,
    },
    /// Stop (never delete) lab guests whose expires- tag date has passed.
    ExpireLab {
        /// Evaluate expiry as of this day (YYYY-MM-DD) instead of today.
        #[arg(long)]
        today: Option<chrono::NaiveDate>,
    },
}

/// How pve-ops logs in over SSH (rotate-ssh-keys, deploy): strict host keys by default.
#[derive(clap::Args)]
struct SshArgs {
    /// The private key that logs in today.
    #[arg(long, env = "PVE_OPS_SSH_IDENTITY", default_value_os_t = home(".ssh/id_ed25519"))]
    identity: PathBuf,
    /// Host keys to check against (a dedicated file; unknown hosts are refused).
    #[arg(long, env = "PVE_OPS_KNOWN_HOSTS", default_value_os_t = home(".config/pve-ops/known_hosts"))]
    known_hosts: PathBuf,
    /// Record the host keys of hosts not yet known (a changed key is still refused).
    #[arg(long)]
    init_known_hosts: bool,
    #[arg(long, default_value = "root")]
    user: String,
    #[arg(long, default_value_t = 22)]
    port: u16,
}

#[derive(Subcommand)]
enum RestoreWhat {
    /// Restore a VM or container from its newest archive (or --archive).
    Vm {
        vmid: u64,
        /// Archive volume ID (default: the newest).
        #[arg(long)]
        archive: Option<String>,
        /// Node to restore on (default: where the guest is).
        #[arg(long)]
        node: Option<String>,
        /// Storage for the restored disks.
        #[arg(long)]
        storage: Option<String>,
        /// Restore as this VMID instead (new MACs).
        #[arg(long = "as")]
        target: Option<u64>,
        /// Replace an existing guest (backed up first).
        #[arg(long)]
        force: bool,
    },
    /// List the versions of an environment's Terraform state in S3, or restore one
    /// (--version-id or --before); the current state is kept as a version first.
    Tfstate {
        /// Environment name (a folder under --environments with backend.tf / backend.hcl).
        #[arg(long)]
        env: String,
        /// Version to restore (see the listing).
        #[arg(long, conflicts_with = "before")]
        version_id: Option<String>,
        /// Restore the newest version written before this time (RFC 3339, 'YYYY-MM-DD HH:MM' UTC, or a day).
        #[arg(long, value_parser = tfstate::parse_time)]
        before: Option<chrono::DateTime<chrono::Utc>>,
        /// Only list the versions (the default without --version-id or --before).
        #[arg(long, conflicts_with_all = ["version_id", "before"])]
        list: bool,
        /// State object key (default: <env>/terraform.tfstate, as in the environments' backend.tf).
        #[arg(long)]
        key: Option<String>,
        /// Bucket (default: PVE_OPS_S3_BUCKET, then backend.hcl, then tfstate).
        #[arg(long)]
        bucket: Option<String>,
        /// S3 endpoint URL (default: PVE_OPS_S3_ENDPOINT / AWS_ENDPOINT_URL_S3, then backend.hcl).
        #[arg(long)]
        s3_endpoint: Option<String>,
        #[arg(long, env = "PVE_OPS_ENVIRONMENTS", default_value = "environments")]
        environments: PathBuf,
        /// Restore a state of another lineage (a different Terraform state).
        #[arg(long)]
        allow_other_lineage: bool,
        /// Go on while the state lock is held (only for a lock left by a crashed run).
        #[arg(long)]
        ignore_lock: bool,
    },
}

#[derive(Subcommand)]
enum SnapshotAction {
    /// Take a snapshot (named pve-ops-<timestamp> unless --name).
    Create {
        vmid: u64,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Include a running VM's memory.
        #[arg(long)]
        ram: bool,
    },
    /// List a guest's snapshots.
    List { vmid: u64 },
    /// Roll a guest back to a snapshot (waits for the task).
    Rollback {
        vmid: u64,
        #[arg(long)]
        name: String,
    },
    /// Delete one snapshot.
    Delete {
        vmid: u64,
        #[arg(long)]
        name: String,
    },
    /// Delete this tool's snapshots older than --max-age, except those marked [keep].
    Cleanup {
        /// e.g. 7d, 12h.
        #[arg(long, value_parser = pve_ops::parse_age)]
        max_age: i64,
        /// One guest (default: all guests).
        #[arg(long)]
        vmid: Option<u64>,
    },
}

fn home(path: &str) -> PathBuf {
    std::path::Path::new(&std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(path)
}

async fn run(cli: Cli) -> anyhow::Result<Exit> {
    let ops = Ops { client: Default::default(), json: cli.json, yes: cli.yes, dry_run: cli.dry_run, metrics_dir: cli.metrics_dir };
    match cli.command {
        Command::Snapshot { action } => match action {
            SnapshotAction::Create { vmid, name, description, ram } => snapshot::create(&ops, vmid, name, description, ram).await,
            SnapshotAction::List { vmid } => snapshot::list(&ops, vmid).await,
            SnapshotAction::Rollback { vmid, name } => snapshot::rollback(&ops, vmid, &name).await,
            SnapshotAction::Delete { vmid, name } => snapshot::delete(&ops, vmid, &name).await,
            SnapshotAction::Cleanup { max_age, vmid } => snapshot::cleanup(&ops, max_age, vmid).await,
        },
        Command::Restore { what: RestoreWhat::Vm { vmid, archive, node, storage, target, force } } => {
            backups::restore(&ops, backups::RestoreRequest { vmid, archive, node, storage, target, force }).await
        }
        Command::Restore {
            what:
                RestoreWhat::Tfstate {
                    env,
                    version_id,
                    before,
                    list: _,
                    key,
                    bucket,
                    s3_endpoint,
                    environments,
                    allow_other_lineage,
                    ignore_lock,
                },
        } => {
            let backend_hcl = environments.join(&env).join("backend.hcl");
            let settings = pve_ops::s3::S3Settings::resolve(s3_endpoint, bucket, &backend_hcl);
            if settings.endpoint.is_none() && !backend_hcl.exists() {
                anyhow::bail!(
                    "no S3 endpoint for {env}: {} does not exist; set PVE_OPS_S3_ENDPOINT or --s3-endpoint (for AWS itself: https://s3.<region>.amazonaws.com)",
                    backend_hcl.display()
                );
            }
            let key = key.unwrap_or_else(|| format!("{env}/terraform.tfstate"));
            tfstate::run(&ops, tfstate::Request { env, key, settings, version_id, before, allow_other_lineage, ignore_lock }).await
        }
        Command::VerifyBackups { max_age, full } => backups::verify(&ops, max_age, full).await,
        Command::Drift { env, environments, terraform } => drift::run(&ops, &terraform, &environments.join(&env), &env),
        Command::RotateSshKeys {
            add_key,
            remove_key,
            env,
            all,
            host,
            ssh: SshArgs { identity, known_hosts, init_known_hosts, user, port },
            authorized_keys,
            parallel,
            retries,
            timeout,
        } => {
            let request = rotate::Request {
                add_key,
                remove_key,
                identity,
                known_hosts,
                init_known_hosts,
                user,
                port,
                authorized_keys,
                env,
                all,
                hosts: host,
                parallel,
                retries,
                timeout: std::time::Duration::from_secs(timeout),
            };
            rotate::run(&ops, request).await
        }
        Command::Health { env, endpoint, s3_endpoint, bucket, timeout } => {
            let s3 = s3_endpoint.map(|e| pve_ops::s3::S3Settings::resolve(Some(e), bucket, std::path::Path::new("")));
            health::run(&ops, health::Request { env, endpoints: endpoint, s3, timeout: std::time::Duration::from_secs(timeout) }).await
        }
        Command::Deploy {
            host,
            ssh: SshArgs { identity, known_hosts, init_known_hosts, user, port },
            settings,
            source,
            drift_env,
            root,
            timeout,
        } => {
            let request = deploy::Request {
                host,
                port,
                user,
                identity,
                known_hosts,
                init_known_hosts,
                settings_file: settings,
                source,
                environments: drift_env,
                root,
                timeout: std::time::Duration::from_secs(timeout),
            };
            deploy::run(&ops, request).await
        }
        Command::Rebuild { service, env, environments, terraform, check_url, check_timeout, storage } => {
            let request = rebuild::Request {
                service,
                env_dir: environments.join(env),
                terraform,
                check_url,
                check_timeout: std::time::Duration::from_secs(check_timeout),
                storage,
            };
            rebuild::run(&ops, request).await
        }
        Command::ExpireLab { today } => expire::run(&ops, today.unwrap_or_else(|| chrono::Utc::now().date_naive())).await,
    }
}

/// `--config FILE` (or PVE_OPS_CONFIG) from the raw arguments: the file must be in the
/// environment before clap reads its `env` defaults and before any thread exists.
fn config_path() -> Option<PathBuf> {
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.to_str().and_then(|a| a.strip_prefix("--config=")) {
            return Some(path.into());
        }
    }
    std::env::var_os("PVE_OPS_CONFIG").map(PathBuf::from)
}

fn main() -> ExitCode {
    pve_api::install_crypto_provider();
    if let Some(path) = config_path()
        && let Err(error) = pve_ops::load_config_file(&path)
    {
        eprintln!("pve-ops: {error:#}");
        return ExitCode::from(Exit::Usage as u8);
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("PVE_OPS_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("pve-ops: cannot start the async runtime: {error}");
            return ExitCode::from(Exit::Failure as u8);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(error) => {
            eprintln!("pve-ops: {error:#}");
            ExitCode::from(Exit::Failure as u8)
        }
    }
}
