//! What the emulator's own integration suites share: an in-process emulator, a pve-api client
//! for it, and a few raw calls pve-api has no typed method for.

#![allow(dead_code, unused_imports)]

use std::time::{Duration, Instant};

use pve_api::{ApiError, ClientConfig, Credentials, Params, PveClient, Retry, RetryPolicy, TaskWait, Upid};
use pve_emulator::config::TEST_TOKEN;
pub use pve_emulator::fixtures::{qcow2_image, serve_files};
use pve_emulator::{EmulatorConfig, RunningEmulator};
use reqwest::Method;
use serde_json::Value;

pub use pve_api::GuestKind::{Lxc as LXC, Qemu as QEMU};

pub async fn emulator(adjust: impl FnOnce(&mut EmulatorConfig)) -> RunningEmulator {
    let mut config = EmulatorConfig::for_tests();
    adjust(&mut config);
    pve_emulator::serve(config).await.expect("emulator starts")
}

/// A client that never resends, so every PVE answer is seen as it is.
pub fn client(emu: &RunningEmulator) -> PveClient {
    let mut config = ClientConfig::new(&emu.url, Credentials::api_token(TEST_TOKEN).expect("valid token"));
    config.retry = RetryPolicy::none();
    config.insecure_http = true;
    PveClient::new(config).expect("client builds")
}

pub fn wait() -> TaskWait {
    TaskWait { timeout: Duration::from_secs(60), first_poll: Duration::from_millis(20), max_poll: Duration::from_millis(50) }
}

pub async fn call(api: &PveClient, method: Method, path: &str, params: Params) -> Result<Value, ApiError> {
    let retry = if method == Method::GET { Retry::Idempotent } else { Retry::OnlyIfNotApplied };
    api.call::<Value>(method, path, &params, retry).await
}

pub async fn get(api: &PveClient, path: &str) -> Value {
    call(api, Method::GET, path, Params::new()).await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// A POST answered with a task.
pub async fn task(api: &PveClient, path: &str, params: Params) -> Result<Upid, ApiError> {
    let upid = call(api, Method::POST, path, params).await?;
    Ok(upid.as_str().expect("a UPID").parse().expect("UPID parses"))
}

/// Waits for a task and returns (its exit status, its log).
pub async fn finish(api: &PveClient, upid: &Upid) -> (String, Vec<String>) {
    let started = Instant::now();
    loop {
        let status = api.task_status(upid).await.unwrap();
        if status.status == "stopped" {
            let log = api.task_log_tail(upid, 500).await.unwrap();
            return (status.exitstatus.unwrap_or_default(), log);
        }
        assert!(started.elapsed() < Duration::from_secs(60), "task {upid} did not end");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn ok(api: &PveClient, upid: &Upid) -> Vec<String> {
    let (status, log) = finish(api, upid).await;
    assert_eq!(status, "OK", "{upid}: {log:#?}");
    log
}

pub async fn running(api: &PveClient, upid: &Upid) -> bool {
    api.task_status(upid).await.unwrap().status == "running"
}

/// A full clone of the template (on pve1, local-lvm), finished.
pub async fn full_clone(api: &PveClient, newid: u64, name: &str) {
    let upid = api.clone_guest(QEMU, "pve1", 9000, newid, &Params::new().flag("full", true).set("name", name)).await.unwrap();
    ok(api, &upid).await;
}

/// Polls `check` until it holds (the HA manager acts on its own time).
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(20), "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The data marker of the volume `volid` on `node`.
pub fn data_of(emu: &RunningEmulator, node: &str, volid: &str) -> Option<String> {
    emu.emulator.cluster().find_volume(node, volid).and_then(|v| v.data.clone())
}

pub fn volume_exists(emu: &RunningEmulator, node: &str, volid: &str) -> bool {
    emu.emulator.cluster().find_volume(node, volid).is_some()
}
