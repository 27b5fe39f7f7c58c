use clap::Parser;
use pve_emulator::EmulatorConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pve_api::install_crypto_provider();
    let mut config = EmulatorConfig::parse();
    // No well-known default secret: without configured credentials, a fresh random token.
    let generated = (config.tokens.is_empty() && config.users.is_empty()).then(|| {
        let token = format!("root@pam!emulator={}", pve_emulator::server::random_secret());
        config.tokens = vec![token.clone()];
        token
    });
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&config.log).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")))
        .init();
    let running = pve_emulator::serve(config).await?;
    // Scripts read this line to find the port when started with port 0.
    println!("pve-emulator listening on {}", running.url);
    if let Some(token) = generated {
        println!("API token (generated; set --tokens or PVE_EMULATOR_TOKENS to choose one): {token}");
    }
    tracing::info!(nodes = running.emulator.cluster().nodes.len(), endpoints = pve_emulator::api::implemented().len(), "ready");
    tokio::signal::ctrl_c().await?;
    running.shutdown();
    Ok(())
}
