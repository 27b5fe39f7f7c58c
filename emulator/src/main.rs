use clap::Parser;
use pve_emulator::EmulatorConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pve_api::install_crypto_provider();
    let config = EmulatorConfig::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&config.log).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")))
        .init();
    let running = pve_emulator::serve(config).await?;
    // Scripts read this line to find the port when started with port 0.
    println!("pve-emulator listening on {}", running.url);
    tracing::info!(nodes = running.emulator.cluster().nodes.len(), endpoints = pve_emulator::api::implemented().len(), "ready");
    tokio::signal::ctrl_c().await?;
    running.shutdown();
    Ok(())
}
