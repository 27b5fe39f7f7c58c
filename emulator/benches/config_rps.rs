//! Requests per second the emulator serves for `GET /nodes/pve1/qemu/9000/config` on loopback,
//! over HTTPS and plain HTTP, with 1 and 16 concurrent clients. Prints figures; asserts nothing.

use std::time::{Duration, Instant};

use pve_api::{ClientConfig, Credentials, GuestKind, PveClient, RetryPolicy};
use pve_emulator::EmulatorConfig;

const TOKEN: &str = pve_emulator::config::TEST_TOKEN;
const RUN: Duration = Duration::from_secs(3);

async fn measure(plain_http: bool, clients: usize) -> f64 {
    let mut config = EmulatorConfig::for_tests();
    config.plain_http = plain_http;
    config.workers = 3;
    let emulator = pve_emulator::serve(config).await.expect("emulator starts");
    let mut client_config = ClientConfig::new(&emulator.url, Credentials::api_token(TOKEN).expect("token"));
    client_config.insecure = true;
    client_config.insecure_http = plain_http;
    client_config.retry = RetryPolicy::none();
    let api = PveClient::new(client_config).expect("client");
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
    for plain in [false, true] {
        for clients in [1, 16] {
            let rps = runtime.block_on(measure(plain, clients));
            println!("{:<6} clients={clients:<3} {rps:>9.0} requests/s", if plain { "http" } else { "https" });
        }
    }
}
