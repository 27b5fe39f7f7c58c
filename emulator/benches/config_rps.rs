//! Requests per second the emulator serves for `GET /nodes/pve1/qemu/9000/config` on loopback,
//! over HTTPS and plain HTTP, with 1 and 16 concurrent clients, and over plain HTTP for a
//! privilege-separated token whose access is worked out from ACL entries on every request (the
//! root token's user is root@pam, whose check is a shortcut). Prints figures; asserts nothing.

use std::time::{Duration, Instant};

use pve_api::{ClientConfig, Credentials, GuestKind, Params, PveClient, Retry, RetryPolicy};
use pve_emulator::EmulatorConfig;

const TOKEN: &str = pve_emulator::config::TEST_TOKEN;
const RUN: Duration = Duration::from_secs(3);

/// A privilege-separated token with `PVEAuditor` on `/vms` (its user holds it on `/`), made with
/// the root token: `USER!NAME=SECRET`.
async fn auditor_token(root: &PveClient) -> String {
    let call = |method: reqwest::Method, path: &str, params: Params| {
        let root = root.clone();
        let path = path.to_string();
        async move { root.call::<serde_json::Value>(method, &path, &params, Retry::OnlyIfNotApplied).await.expect("access call") }
    };
    call(reqwest::Method::POST, "/access/users", Params::new().set("userid", "bench@pve")).await;
    let made = call(reqwest::Method::POST, "/access/users/bench@pve/token/rps", Params::new()).await;
    for (path, who) in [("/", ("users", "bench@pve")), ("/vms", ("tokens", "bench@pve!rps"))] {
        call(reqwest::Method::PUT, "/access/acl", Params::new().set("path", path).set("roles", "PVEAuditor").set(who.0, who.1)).await;
    }
    format!("bench@pve!rps={}", made["value"].as_str().expect("secret"))
}

async fn measure(plain_http: bool, clients: usize, privsep: bool) -> f64 {
    let mut config = EmulatorConfig::for_tests();
    config.plain_http = plain_http;
    config.workers = 3;
    let emulator = pve_emulator::serve(config).await.expect("emulator starts");
    let client = |token: &str| {
        let mut client_config = ClientConfig::new(&emulator.url, Credentials::api_token(token).expect("token"));
        client_config.insecure = true;
        client_config.insecure_http = plain_http;
        client_config.retry = RetryPolicy::none();
        PveClient::new(client_config).expect("client")
    };
    let mut api = client(TOKEN);
    if privsep {
        api = client(&auditor_token(&api).await);
    }
    api.guest_config(GuestKind::Qemu, "pve1", 9000).await.expect("warm-up request");
    let deadline = Instant::now() + RUN;
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let api = api.clone();
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    api.guest_config(GuestKind::Qemu, "pve1", 9000).await.expect("config request");
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.await.expect("worker");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!("GET /api2/json/nodes/pve1/qemu/9000/config, {} s per row, 3 API workers per node", RUN.as_secs());
    for (plain, privsep) in [(false, false), (true, false), (true, true)] {
        for clients in [1, 16] {
            let rps = runtime.block_on(measure(plain, clients, privsep));
            let token = if privsep { "privsep token" } else { "root token" };
            println!("{:<6} {token:<14} clients={clients:<3} {rps:>9.0} requests/s", if plain { "http" } else { "https" });
        }
    }
}
