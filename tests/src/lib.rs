//! Shared helpers for the integration suites: an in-process emulator and a client for it.

use pve_api::{ClientConfig, Credentials, PveClient, RetryPolicy};
use pve_emulator::{EmulatorConfig, RunningEmulator};

pub const TOKEN: &str = "root@pam!terraform=00000000-0000-0000-0000-000000000000";

/// Starts an emulator on a free loopback port (plain HTTP, fast tasks) after `adjust`.
pub async fn emulator(adjust: impl FnOnce(&mut EmulatorConfig)) -> RunningEmulator {
    let mut config = EmulatorConfig::for_tests();
    adjust(&mut config);
    pve_emulator::serve(config).await.expect("emulator starts")
}

pub fn client_with(emulator: &RunningEmulator, token: &str, retry: RetryPolicy) -> PveClient {
    let mut config = ClientConfig::new(&emulator.url, Credentials::api_token(token).expect("valid token"));
    config.retry = retry;
    PveClient::new(config).expect("client builds")
}

pub fn client(emulator: &RunningEmulator) -> PveClient {
    client_with(emulator, TOKEN, RetryPolicy::default())
}

/// Lines of the emulator's JSON request log.
pub fn request_log(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}
