//! Provider figures: binary size, cold start to the go-plugin handshake line, and resident memory
//! after Terraform planned all data sources through it. Prints figures; asserts nothing.
//! Build first: `cargo build --release --bins`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use pve_home_tests::{Terraform, emulator, provider_block, workspace_binary};

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let provider = workspace_binary("terraform-provider-pve");
    let size = std::fs::metadata(&provider).map(|m| m.len()).unwrap_or(0);
    println!("binary {}: {:.1} MiB", provider.display(), size as f64 / (1 << 20) as f64);

    // A P-521 client certificate like the one go-plugin makes (the provider refuses to start
    // without one, and parses it).
    let certs = tempfile::tempdir().expect("temp dir");
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521", "-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(certs.path().join("client.key"))
        .arg("-out")
        .arg(certs.path().join("client.crt"))
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success());
    let client_cert = std::fs::read_to_string(certs.path().join("client.crt")).expect("client certificate");
    let mut startups = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let mut child = Command::new(&provider)
            .env("TF_PLUGIN_MAGIC_COOKIE", "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2")
            .env("PLUGIN_PROTOCOL_VERSIONS", "6")
            .env("PLUGIN_CLIENT_CERT", &client_cert)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("provider starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("handshake line");
        startups.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(line.starts_with("1|6|tcp|127.0.0.1:"), "{line}");
        let _ = child.kill();
        let _ = child.wait();
    }
    startups.sort_by(f64::total_cmp);
    println!(
        "cold start to handshake (with AutoMTLS certificate), 20 runs: min {:.1} ms, median {:.1} ms, max {:.1} ms",
        startups[0], startups[10], startups[19]
    );

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let emu = runtime.block_on(emulator(|_| {}));
    let mut debug = Command::new(&provider).arg("--debug").stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("provider starts");
    let pid = debug.id();
    let reattach = BufReader::new(debug.stdout.take().expect("stdout"))
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.trim().strip_prefix("TF_REATTACH_PROVIDERS='").map(|s| s.trim_end_matches('\'').to_string()))
        .expect("reattach line");
    println!("RSS idle after start: {} KiB", rss_kib(pid, "VmRSS:"));
    let config = format!(
        "{}\ndata \"pve_version\" \"v\" {{}}\ndata \"pve_nodes\" \"n\" {{}}\ndata \"pve_storages\" \"s\" {{}}\ndata \"pve_guests\" \"g\" {{}}\ndata \"pve_template\" \"t\" {{ name = \"ubuntu-2404-cloudinit\" }}\ndata \"pve_next_vmid\" \"i\" {{}}\n",
        provider_block(&emu)
    );
    let tf = Terraform::new(&config).env("TF_REATTACH_PROVIDERS", &reattach);
    tf.init();
    let started = Instant::now();
    let plan = tf.run(&["plan", "-input=false", "-no-color"]);
    let plan_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(plan.code, 0, "{}", plan.all());
    println!("terraform plan of 6 data sources: {plan_ms:.0} ms");
    println!("RSS after the plan: {} KiB (peak {} KiB)", rss_kib(pid, "VmRSS:"), rss_kib(pid, "VmHWM:"));
    let _ = debug.kill();
    let _ = debug.wait();
}
