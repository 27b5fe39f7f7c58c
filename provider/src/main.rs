//! terraform-provider-pve: started by Terraform (go-plugin handshake), or by hand with `--debug`.

use terraform_provider_pve::plugin::handshake::{Mode, serve};
use terraform_provider_pve::provider::{PROVIDER_ADDRESS, PveProvider};

#[tokio::main]
async fn main() {
    pve_api::install_crypto_provider();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version" || a == "-v") {
        println!("terraform-provider-pve {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "terraform-provider-pve {}: Terraform provider for Proxmox VE.\n\n\
             Terraform starts this binary itself. To debug it, run it with --debug and export the\n\
             TF_REATTACH_PROVIDERS value it prints before running terraform.\n\n\
             Log level: TF_LOG_PROVIDER or TF_LOG (trace, debug, info, warn, error).",
            env!("CARGO_PKG_VERSION")
        );
        return;
    }
    init_logging();
    let mode =
        if args.iter().any(|a| a == "--debug") { Mode::Debug { provider_address: PROVIDER_ADDRESS.to_string() } } else { Mode::Plugin };
    if matches!(mode, Mode::Plugin) {
        tokio::spawn(exit_with_terraform());
    }
    if let Err(error) = serve(PveProvider, mode).await {
        eprintln!("{error}");
        std::process::exit(1);
    }
}

/// Logs go to stderr, where Terraform picks them up; the level follows TF_LOG_PROVIDER or TF_LOG.
fn init_logging() {
    let level = std::env::var("TF_LOG_PROVIDER").or_else(|_| std::env::var("TF_LOG")).unwrap_or_default().to_lowercase();
    let ours = match level.as_str() {
        "trace" | "debug" | "info" | "warn" | "error" => level.as_str(),
        "json" => "trace",
        _ => "warn",
    };
    // Our crates at the requested level; libraries (TLS, HTTP/2) only when they warn.
    let filter = format!("warn,terraform_provider_pve={ours},pve_api={ours}");
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .init();
}

/// Terraform killed with SIGKILL never tells its plugins to stop, and a provider left behind
/// would sit on its sockets and SSH sessions for good: once the process that started this one is
/// gone (the provider is re-parented), it exits. What it sent PVE goes on there; `pve-ops
/// orphans` finds the guests no state holds.
async fn exit_with_terraform() {
    let parent = std::os::unix::process::parent_id();
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        // No log line: the stderr pipe Terraform read may be full with nobody left to read it,
        // and a write would block the exit.
        if std::os::unix::process::parent_id() != parent {
            std::process::exit(1);
        }
    }
}
