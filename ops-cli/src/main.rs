use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pve_ops::commands::{backups, deploy, drift, expire, health, orphans, rebuild, rotate, snapshot, tfstate};
use pve_ops::{Exit, Ops};

/// Operator CLI for pve-home: restores (guests, Terraform state), backup checks, snapshots, lab
/// expiry, SSH key rotation, drift, orphan and health checks, deploy and rebuild. Credentials
/// come from PVE_* / AWS_* environment variables or --config FILE (KEY=VALUE lines) — never from
/// the command line. Every mutating command has --dry-run and asks first unless --yes.
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

// Each command's help text is the doc comment of its Args struct, next to its flags.
#[derive(Subcommand)]
enum Command {
    Snapshot(snapshot::Args),
    /// Restore guests from vzdump archives, or Terraform state from its versioned S3 bucket.
    Restore {
        #[command(subcommand)]
        what: RestoreWhat,
    },
    VerifyBackups(backups::VerifyArgs),
    Drift(drift::Args),
    Orphans(orphans::Args),
    RotateSshKeys(rotate::Args),
    Health(health::Args),
    Deploy(deploy::Args),
    Rebuild(rebuild::Args),
    ExpireLab(expire::Args),
}

#[derive(Subcommand)]
enum RestoreWhat {
    Vm(backups::RestoreArgs),
    Tfstate(tfstate::Args),
}

async fn run(cli: Cli) -> anyhow::Result<Exit> {
    let ops = Ops { client: Default::default(), json: cli.json, yes: cli.yes, dry_run: cli.dry_run, metrics_dir: cli.metrics_dir };
    match cli.command {
        Command::Snapshot(args) => snapshot::run(&ops, args).await,
        Command::Restore { what: RestoreWhat::Vm(args) } => backups::restore(&ops, args).await,
        Command::Restore { what: RestoreWhat::Tfstate(args) } => tfstate::run(&ops, args).await,
        Command::VerifyBackups(args) => backups::verify(&ops, args).await,
        Command::Drift(args) => drift::run(&ops, args),
        Command::Orphans(args) => orphans::run(&ops, args).await,
        Command::RotateSshKeys(args) => rotate::run(&ops, args).await,
        Command::Health(args) => health::run(&ops, args).await,
        Command::Deploy(args) => deploy::run(&ops, args).await,
        Command::Rebuild(args) => rebuild::run(&ops, args).await,
        Command::ExpireLab(args) => expire::run(&ops, args).await,
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
