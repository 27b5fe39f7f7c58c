//! pve-ops against the emulator: snapshots, cleanup, lab expiry with metrics checked by promtool.

use std::process::Command;

use pve_api::{GuestKind, Params, TaskWait};
use pve_home_tests::{CliRun as Run, TOKEN, client, emulator, request_log, workspace_binary};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn pve_ops(url: &str, args: &[&str]) -> Run {
    Run::of(
        Command::new(workspace_binary("pve-ops"))
            .args(args)
            .env("PVE_ENDPOINT", url)
            .env("PVE_INSECURE_HTTP", "1")
            .env("PVE_API_TOKEN", TOKEN),
    )
}

fn clone(rt: &tokio::runtime::Runtime, api: &pve_api::PveClient, vmid: u64, name: &str, tags: &str, start: bool) {
    let upid =
        rt.block_on(api.clone_guest(GuestKind::Qemu, "pve1", 9000, vmid, &Params::new().set("name", name).flag("full", true))).unwrap();
    rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
    rt.block_on(api.update_config(GuestKind::Qemu, "pve1", vmid, &Params::new().set("tags", tags))).unwrap();
    if start {
        let upid = rt.block_on(api.guest_action(GuestKind::Qemu, "pve1", vmid, "start", &Params::new())).unwrap();
        rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
    }
}

#[test]
fn snapshot_commands_and_cleanup() {
    let rt = runtime();
    let log = tempfile::NamedTempFile::new().unwrap();
    let path = log.path().to_path_buf();
    let emu = rt.block_on(emulator(|c| c.request_log = Some(path.clone())));
    let api = client(&emu);
    clone(&rt, &api, 100, "app", "app", false);

    let made = pve_ops(&emu.url, &["snapshot", "create", "100", "--json"]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let made: serde_json::Value = serde_json::from_str(&made.stdout).unwrap();
    let auto_name = made["name"].as_str().unwrap().to_string();
    assert!(auto_name.starts_with("pve-ops-"));
    assert_eq!(pve_ops(&emu.url, &["snapshot", "create", "100", "--name", "pve-ops-keepme", "--description", "baseline [keep]"]).code, 0);
    assert_eq!(pve_ops(&emu.url, &["snapshot", "create", "100", "--name", "manual"]).code, 0);
    let listed: Vec<serde_json::Value> = serde_json::from_str(&pve_ops(&emu.url, &["snapshot", "list", "100", "--json"]).stdout).unwrap();
    assert_eq!(listed.len(), 3);

    // Rolling back needs a terminal or --yes.
    let refused = pve_ops(&emu.url, &["snapshot", "rollback", "100", "--name", "manual"]);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("pass --yes"), "{}", refused.stderr);
    assert_eq!(pve_ops(&emu.url, &["snapshot", "rollback", "100", "--name", "manual", "--yes"]).code, 0);

    // Dry-run cleanup sends no write.
    let writes = |p: &std::path::Path| request_log(p).iter().filter(|r| r["method"] != "GET").count();
    let before = writes(&path);
    let dry = pve_ops(&emu.url, &["snapshot", "cleanup", "--max-age", "0s", "--dry-run", "--json"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(writes(&path), before, "dry run changes nothing");
    let dry: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(dry["deleted"].as_array().unwrap().len(), 1);

    let metrics = tempfile::tempdir().unwrap();
    let done =
        pve_ops(&emu.url, &["snapshot", "cleanup", "--max-age", "0s", "--yes", "--metrics-dir", &metrics.path().display().to_string()]);
    assert_eq!(done.code, 0, "{}", done.stderr);
    let text = std::fs::read_to_string(metrics.path().join("pve_snapshots.prom")).unwrap();
    assert!(
        text.contains("pve_snapshot_age_seconds{vmid=\"100\",name=\"app\",snapshot=\"manual\"}")
            && text.contains("snapshot=\"pve-ops-keepme\"")
            && !text.contains(&format!("snapshot=\"{auto_name}\"")),
        "every snapshot left has its age, the deleted one none: {text}"
    );
    let names: Vec<String> =
        rt.block_on(api.snapshots(GuestKind::Qemu, "pve1", 100)).unwrap().into_iter().map(|s| s.name).filter(|n| n != "current").collect();
    assert!(!names.contains(&auto_name), "the tool's old snapshot went: {names:?}");
    assert!(
        names.contains(&"pve-ops-keepme".to_string()) && names.contains(&"manual".to_string()),
        "[keep] and foreign snapshots stay: {names:?}"
    );
}

#[test]
fn expire_lab_stops_only_expired_lab_guests() {
    let rt = runtime();
    let log = tempfile::NamedTempFile::new().unwrap();
    let path = log.path().to_path_buf();
    let emu = rt.block_on(emulator(|c| c.request_log = Some(path.clone())));
    let api = client(&emu);
    clone(&rt, &api, 101, "lab-old", "environment-lab;expires-2026-01-01", true);
    clone(&rt, &api, 102, "lab-pinned", "environment-lab;expires-2026-01-01;no-expire", true);
    clone(&rt, &api, 103, "prod-db", "environment-prod;expires-2026-01-01", true);
    clone(&rt, &api, 104, "untagged", "expires-2026-01-01", true);
    clone(&rt, &api, 105, "lab-new", "environment-lab;expires-2027-01-01", true);
    let metrics = tempfile::tempdir().unwrap();
    let metrics_dir = metrics.path().display().to_string();

    let before = request_log(&path).iter().filter(|r| r["method"] != "GET").count();
    let dry = pve_ops(&emu.url, &["expire-lab", "--today", "2026-06-01", "--dry-run", "--json"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(request_log(&path).iter().filter(|r| r["method"] != "GET").count(), before, "dry run changes nothing");

    // Stopping guests asks first: without a terminal and without --yes, nothing is stopped.
    let unasked = pve_ops(&emu.url, &["expire-lab", "--today", "2026-06-01"]);
    assert_ne!(unasked.code, 0);
    assert!(unasked.stderr.contains("pass --yes"), "{}", unasked.stderr);
    assert_eq!(request_log(&path).iter().filter(|r| r["method"] != "GET").count(), before, "nothing was stopped unasked");

    let run = pve_ops(&emu.url, &["expire-lab", "--today", "2026-06-01", "--yes", "--json", "--metrics-dir", &metrics_dir]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["stopped"], 1);
    let status = |vmid| rt.block_on(api.guest_status(GuestKind::Qemu, "pve1", vmid)).unwrap().status;
    assert_eq!(status(101), "stopped");
    for vmid in [102, 103, 104, 105] {
        assert_eq!(status(vmid), "running", "guest {vmid} is left alone");
    }
    let prom = metrics.path().join("pve_expire_lab.prom");
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(text.contains("pve_lab_guest_expired{vmid=\"101\",name=\"lab-old\",node=\"pve1\"} 1"), "{text}");
    assert!(text.contains("pve_lab_guest_expired{vmid=\"105\",name=\"lab-new\",node=\"pve1\"} 0"), "{text}");
    assert!(!text.contains("prod-db"), "prod guests are not even reported as lab guests");
    // The real promtool accepts the file.
    let promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&prom).unwrap())
        .output()
        .expect("promtool installed (scripts/setup-tools.sh)");
    assert!(
        promtool.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&promtool.stdout),
        String::from_utf8_lossy(&promtool.stderr)
    );
}

#[test]
fn credentials_never_come_from_arguments() {
    let out = Command::new(workspace_binary("pve-ops"))
        .args(["expire-lab"])
        .env_remove("PVE_ENDPOINT")
        .env_remove("PVE_API_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PVE_ENDPOINT is not set"));
    let usage = Command::new(workspace_binary("pve-ops")).args(["expire-lab", "--api-token", "x"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2), "no such flag: usage error");
}

#[test]
fn verify_backups_and_restore_round_trip() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let api = client(&emu);
    clone(&rt, &api, 100, "db", "db", false);
    clone(&rt, &api, 101, "nobackup", "web", false);
    clone(&rt, &api, 102, "scratch", "tmp", false);
    // A daily job covers 100 and 101; nothing covers 102.
    let job = Params::new().set("id", "daily").set("schedule", "*-*-* 01:00").set("vmid", "100,101").set("storage", "backup");
    rt.block_on(api.create_backup_job(&job)).unwrap();
    rt.block_on(api.update_config(GuestKind::Qemu, "pve1", 100, &Params::new().set("memory", 3072))).unwrap();
    let upid = rt.block_on(api.vzdump("pve1", &Params::new().set("vmid", 100).set("storage", "backup").set("compress", "zstd"))).unwrap();
    rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();

    let metrics = tempfile::tempdir().unwrap();
    let verify = pve_ops(&emu.url, &["verify-backups", "--full", "--json", "--metrics-dir", &metrics.path().display().to_string()]);
    assert_eq!(verify.code, 3, "one guest lacks a backup: partial\n{}", verify.stderr);
    let report: serde_json::Value = serde_json::from_str(&verify.stdout).unwrap();
    let status = |vmid: u64| report["guests"].as_array().unwrap().iter().find(|g| g["vmid"] == vmid).unwrap()["status"].clone();
    assert_eq!(
        (status(100), status(101), status(102)),
        (serde_json::json!("ok"), serde_json::json!("missing"), serde_json::json!("unscheduled")),
        "{report}"
    );
    assert_eq!(report["problems"], 1, "an unscheduled guest is not a problem");
    let allowed = report["guests"].as_array().unwrap().iter().find(|g| g["vmid"] == 100).unwrap()["allowed_age_seconds"].clone();
    assert_eq!(allowed, 86_400 + 7_200, "a daily job allows a day and two hours");
    let prom = metrics.path().join("pve_backups.prom");
    let promtool = Command::new("promtool").args(["check", "metrics"]).stdin(std::fs::File::open(&prom).unwrap()).output().unwrap();
    assert!(promtool.status.success(), "{}", String::from_utf8_lossy(&promtool.stderr));
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(text.contains("pve_backup_ok{vmid=\"101\",name=\"nobackup\"} 0"), "{text}");
    assert!(
        text.contains("pve_backup_scheduled{vmid=\"102\",name=\"scratch\"} 0") && !text.contains("pve_backup_ok{vmid=\"102\""),
        "{text}"
    );

    // The guest drifts; a restore to a new VMID brings the backed-up config back.
    rt.block_on(api.update_config(GuestKind::Qemu, "pve1", 100, &Params::new().set("memory", 1024))).unwrap();
    let restored = pve_ops(&emu.url, &["restore", "vm", "100", "--as", "200", "--yes", "--json"]);
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    assert_eq!(rt.block_on(api.guest_config(GuestKind::Qemu, "pve1", 200)).unwrap().get_str("memory").as_deref(), Some("3072"));

    // Replacing an existing guest needs --force, and backs it up first.
    let refused = pve_ops(&emu.url, &["restore", "vm", "100", "--yes"]);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("pass --force"), "{}", refused.stderr);
    let dry = pve_ops(&emu.url, &["restore", "vm", "100", "--force", "--dry-run"]);
    assert!(dry.code == 0 && dry.stdout.contains("backing up and replacing"), "{}", dry.stdout);
    let replaced = pve_ops(&emu.url, &["restore", "vm", "100", "--force", "--yes", "--json"]);
    assert_eq!(replaced.code, 0, "{}", replaced.stderr);
    let result: serde_json::Value = serde_json::from_str(&replaced.stdout).unwrap();
    assert!(result["safety_backup"].as_str().is_some_and(|v| v.contains("vzdump-qemu-100-")), "{result}");
    assert_eq!(rt.block_on(api.guest_config(GuestKind::Qemu, "pve1", 100)).unwrap().get_str("memory").as_deref(), Some("3072"));
    let archives = rt.block_on(api.storage_content("pve1", "backup", Some("backup"), Some(100))).unwrap();
    assert_eq!(archives.len(), 2, "the original archive and the safety backup of what was replaced");
}

const LAB_ENVIRONMENT: &str = r#"
terraform {
  required_providers {
    pve = { source = "pve-home/pve", version = "~> 0.1" }
  }
}

provider "pve" {}

resource "pve_vm" "sandbox" {
  node       = "pve1"
  name       = "lab-sandbox"
  clone_vmid = 9000
  cores      = 2
  memory     = 2048
  disk {
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 10
  }
  network {}
}

resource "pve_lifecycle_tag" "sandbox" {
  vmid            = pve_vm.sandbox.vmid
  environment     = "lab"
  expiration_days = 14
}
"#;

#[test]
fn drift_checks_an_environment_with_real_terraform() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let tf = pve_home_tests::Terraform::new("").env("PVE_ENDPOINT", &emu.url).env("PVE_INSECURE_HTTP", "1").env("PVE_API_TOKEN", TOKEN);
    let lab = tf.dir.path().join("lab");
    std::fs::create_dir_all(&lab).unwrap();
    // An environment of its own (connection from PVE_* like the real ones), so this test does
    // not follow the lab's backend and modules.
    std::fs::write(lab.join("main.tf"), LAB_ENVIRONMENT).unwrap();
    assert_eq!(tf.run(&["-chdir=lab", "init", "-input=false"]).code, 0);
    let metrics = tempfile::tempdir().unwrap();
    let drift = |expect_drift: bool| {
        let out = Command::new(workspace_binary("pve-ops"))
            .args(["drift", "--env", "lab", "--json", "--environments"])
            .arg(tf.dir.path())
            .arg("--terraform")
            .arg(pve_home_tests::terraform_binary())
            .arg("--metrics-dir")
            .arg(metrics.path())
            .env("PVE_ENDPOINT", &emu.url)
            .env("PVE_INSECURE_HTTP", "1")
            .env("PVE_API_TOKEN", TOKEN)
            .env("TF_CLI_CONFIG_FILE", tf.cli_config())
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
        assert_eq!(report["drift"], expect_drift, "{report}");
        report
    };
    let before = drift(true);
    assert_eq!(before["add"], 2, "the sandbox VM and its lifecycle tag are not created yet");
    assert_eq!(tf.run(&["-chdir=lab", "apply", "-auto-approve", "-input=false"]).code, 0);
    drift(false);
    // A changed output alone makes `plan -detailed-exitcode` exit 2: not drift of the infrastructure.
    std::fs::write(lab.join("outputs.tf"), "output \"sandbox_cores\" {\n  value = pve_vm.sandbox.cores\n}\n").unwrap();
    let outputs_only = drift(false);
    assert_eq!((outputs_only["add"].as_u64(), outputs_only["change"].as_u64()), (Some(0), Some(0)), "{outputs_only}");
    let api = client(&emu);
    rt.block_on(api.update_config(GuestKind::Qemu, "pve1", 100, &Params::new().set("cores", 8))).unwrap();
    let after = drift(true);
    assert_eq!(after["change"], 1);
    let prom = metrics.path().join("pve_drift_lab.prom");
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(text.contains("pve_drift_detected{env=\"lab\"} 1") && text.contains("pve_drift_resources_changed{env=\"lab\"} 1"), "{text}");
    let promtool = Command::new("promtool").args(["check", "metrics"]).stdin(std::fs::File::open(&prom).unwrap()).output().unwrap();
    assert!(promtool.status.success(), "{}", String::from_utf8_lossy(&promtool.stderr));
}

/// A real Prometheus on loopback (Debian's package), as the monitoring endpoint to check.
struct Prometheus {
    url: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("prometheus.yml"), "global:\n  scrape_interval: 1m\n").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}/prometheus.yml", dir.path().display()))
            .arg(format!("--storage.tsdb.path={}/data", dir.path().display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("prometheus installed (scripts/setup-tools.sh)");
        let url = format!("http://127.0.0.1:{port}/-/healthy");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Self { url, child, _dir: dir }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn health_checks_guests_agents_endpoints_and_the_state_bucket() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let api = client(&emu);
    let s3 = pve_home_tests::S3Server::start();
    let prometheus = Prometheus::start();
    clone(&rt, &api, 100, "web", "environment-prod", true);
    clone(&rt, &api, 101, "db", "environment-prod", false);
    clone(&rt, &api, 102, "spare", "environment-prod", false);
    clone(&rt, &api, 103, "lab1", "environment-lab", false);
    for vmid in [100, 101, 103] {
        rt.block_on(api.update_config(GuestKind::Qemu, "pve1", vmid, &Params::new().flag("onboot", true))).unwrap();
    }
    // A change PVE cannot hotplug waits for the reboot.
    rt.block_on(api.update_config(GuestKind::Qemu, "pve1", 100, &Params::new().set("cpu", "host"))).unwrap();
    let metrics = tempfile::tempdir().unwrap();
    let dead = format!("http://127.0.0.1:{}/", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
    let out = Command::new(workspace_binary("pve-ops"))
        .args(["health", "--env", "prod", "--json", "--timeout", "3", "--endpoint", &prometheus.url, "--endpoint", &dead])
        .arg("--s3-endpoint")
        .arg(&s3.endpoint)
        .arg("--metrics-dir")
        .arg(metrics.path())
        .env("PVE_ENDPOINT", &emu.url)
        .env("PVE_INSECURE_HTTP", "1")
        .env("PVE_API_TOKEN", TOKEN)
        .envs(s3.env())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a stopped on-boot guest and a dead endpoint fail: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let verdict = |check: &str, target: &str| {
        report["checks"].as_array().unwrap().iter().find(|c| c["check"] == check && c["target"] == target).map(|c| c["ok"] == true)
    };
    assert_eq!(verdict("guest", "web (100)"), Some(true));
    assert_eq!(verdict("agent", "web (100)"), Some(true), "the running guest's agent answers: {report}");
    assert_eq!(verdict("guest", "db (101)"), Some(false), "on boot but stopped");
    assert_eq!(verdict("guest", "spare (102)"), None, "not started on boot: not expected to run");
    assert_eq!(verdict("guest", "lab1 (103)"), None, "other environments are out of scope");
    assert_eq!(verdict("endpoint", &prometheus.url), Some(true), "{report}");
    assert_eq!(verdict("endpoint", &dead), Some(false));
    assert_eq!(verdict("s3", &format!("{}/tfstate", s3.endpoint)), Some(true), "{report}");
    let prom = metrics.path().join("pve_health.prom");
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(text.contains("pve_guest_reboot_required{vmid=\"100\",name=\"web\",node=\"pve1\"} 1"), "{text}");
    assert!(text.contains("pve_health_check_ok{check=\"guest\",target=\"db (101)\"} 0"), "{text}");
    let promtool = Command::new("promtool").args(["check", "metrics"]).stdin(std::fs::File::open(&prom).unwrap()).output().unwrap();
    assert!(promtool.status.success(), "{}", String::from_utf8_lossy(&promtool.stderr));
}

#[test]
fn deploy_installs_over_ssh_and_a_second_run_changes_nothing() {
    let sshd = pve_home_tests::Sshd::start();
    let root = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    let s = source.path();
    for (path, text) in [
        ("environments/lab/main.tf", "# lab\n"),
        ("environments/lab/terraform.tfvars", "ci_password = \"not-a-real-one\"\n"),
        ("environments/lab/tests/plan.tftest.hcl", "# not deployed\n"),
        ("environments/lab/terraform.tfvars.json", "{\"ci_password\": \"json-fake\"}\n"),
        ("environments/lab/backend.s3.hcl", "secret_key = \"fake\"\n"),
        ("modules/vm/main.tf", "# vm\n"),
    ] {
        std::fs::create_dir_all(s.join(path).parent().unwrap()).unwrap();
        std::fs::write(s.join(path), text).unwrap();
    }
    let settings = s.join("pve-ops.env");
    std::fs::write(&settings, "PVE_ENDPOINT=https://pve1.lan:8006\nPVE_API_TOKEN=ops@pve!ops=secret-value\n").unwrap();
    let deploy = |known_hosts: &std::path::Path, extra: &[&str]| {
        let out = Command::new(workspace_binary("pve-ops"))
            .args(["deploy", "--host", "127.0.0.1", "--json", "--yes", "--port", &sshd.port.to_string(), "--user", &sshd.user])
            .arg("--identity")
            .arg(&sshd.client_key)
            .arg("--known-hosts")
            .arg(known_hosts)
            .arg("--settings")
            .arg(&settings)
            .arg("--source")
            .arg(s)
            .arg("--root")
            .arg(root.path())
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            !stdout.contains("secret-value") && !String::from_utf8_lossy(&out.stderr).contains("secret-value"),
            "settings are never printed"
        );
        (out.status.code().unwrap_or(-1), serde_json::from_str::<serde_json::Value>(stdout.trim()).unwrap_or_default(), stdout)
    };
    let (code, first, out) = deploy(&sshd.known_hosts, &[]);
    assert_eq!(code, 0, "{out}");
    let changed = first["changed"].as_array().unwrap().len();
    assert_eq!(changed, 1 + 1 + 12 + 5, "binary, settings, 12 units, 5 environment/module files (tests/ left out): {first}");
    let r = root.path();
    let mode = |p: &str| std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(r.join(p)).unwrap().permissions()) & 0o777;
    assert_eq!(std::fs::read(r.join("etc/pve-ops/pve-ops.env")).unwrap(), std::fs::read(&settings).unwrap());
    assert_eq!(mode("etc/pve-ops/pve-ops.env"), 0o600);
    assert_eq!(mode("opt/pve-home/environments/lab/terraform.tfvars"), 0o600, "tfvars may hold secrets");
    // Secrets are not recognised by name: everything but Terraform sources is root-only.
    assert_eq!(mode("opt/pve-home/environments/lab/terraform.tfvars.json"), 0o600);
    assert_eq!(mode("opt/pve-home/environments/lab/backend.s3.hcl"), 0o600);
    assert_eq!(mode("opt/pve-home/environments/lab/main.tf"), 0o644, "sources keep their local mode");
    assert_eq!(mode("usr/local/bin/pve-ops"), 0o755);
    assert_eq!(std::fs::read(r.join("usr/local/bin/pve-ops")).unwrap(), std::fs::read(workspace_binary("pve-ops")).unwrap());
    assert!(!r.join("opt/pve-home/environments/lab/tests").exists());
    for timer in [
        "pve-ops-expire-lab",
        "pve-ops-health",
        "pve-ops-orphans",
        "pve-ops-snapshot-cleanup",
        "pve-ops-verify-backups",
        "pve-ops-drift@lab",
    ] {
        let link = r.join(format!("etc/systemd/system/timers.target.wants/{timer}.timer"));
        assert!(link.symlink_metadata().is_ok(), "systemctl enabled {timer}.timer");
    }

    let (code, second, out) = deploy(&sshd.known_hosts, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!((second["changed"].as_array().map(Vec::len), second["enabled"].as_array().map(Vec::len)), (Some(0), Some(0)), "{second}");

    std::fs::write(s.join("environments/lab/terraform.tfvars"), "ci_password = \"another-fake\"\n").unwrap();
    let (code, dry, out) = deploy(&sshd.known_hosts, &["--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(dry["changed"].as_array().unwrap().len(), 1);
    assert!(
        std::fs::read_to_string(r.join("opt/pve-home/environments/lab/terraform.tfvars")).unwrap().contains("not-a-real-one"),
        "dry run"
    );
    let (code, third, out) = deploy(&sshd.known_hosts, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(third["changed"], serde_json::json!([format!("{}/opt/pve-home/environments/lab/terraform.tfvars", r.display())]));

    let unknown = root.path().join("empty_known_hosts");
    std::fs::write(&unknown, "").unwrap();
    let out = Command::new(workspace_binary("pve-ops"))
        .args(["deploy", "--host", "127.0.0.1", "--yes", "--port", &sshd.port.to_string(), "--source"])
        .arg(s)
        .arg("--identity")
        .arg(&sshd.client_key)
        .arg("--known-hosts")
        .arg(&unknown)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not in"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn deploy_refuses_hostile_environment_names_before_any_remote_command() {
    let sshd = pve_home_tests::Sshd::start();
    let root = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    let home = std::path::PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()));
    let marker = format!("PWNED-{}", std::process::id());
    let _ = std::fs::remove_file(home.join(&marker));
    let hostile = format!("$(id>{marker})");
    for dir in ["environments/lab", &format!("environments/{hostile}")] {
        std::fs::create_dir_all(source.path().join(dir)).unwrap();
        std::fs::write(source.path().join(dir).join("main.tf"), "# env\n").unwrap();
    }
    let deploy = |extra: &[&str]| {
        Run::of(
            Command::new(workspace_binary("pve-ops"))
                .args(["deploy", "--host", "127.0.0.1", "--yes", "--port", &sshd.port.to_string(), "--user", &sshd.user])
                .arg("--identity")
                .arg(&sshd.client_key)
                .arg("--known-hosts")
                .arg(&sshd.known_hosts)
                .arg("--source")
                .arg(source.path())
                .arg("--root")
                .arg(root.path())
                .args(extra),
        )
    };
    let drift_env = format!("lab;id>{marker}");
    for extra in [&["--dry-run"][..], &[][..], &["--drift-env", &drift_env][..]] {
        let run = deploy(extra);
        assert_ne!(run.code, 0, "{extra:?}: {}", run.stdout);
        assert!(run.stderr.contains("is not valid"), "{extra:?}: {}", run.stderr);
    }
    assert!(!home.join(&marker).exists(), "no remote shell ran the name");
    assert!(std::fs::read_dir(root.path()).unwrap().next().is_none(), "nothing was installed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_settings_pin_the_ca_refuse_plain_http_and_honour_min_tls() {
    let dir = tempfile::tempdir().unwrap();
    let emulator_ca = dir.path().join("emulator-ca.pem");
    let emu = emulator(|c| {
        c.plain_http = false;
        c.cert_out = Some(emulator_ca.clone());
    })
    .await;
    // Another CA, unrelated to the emulator's certificate.
    let other = pve_emulator::serve({
        let mut c = pve_emulator::EmulatorConfig::for_tests();
        c.plain_http = false;
        c.cert_out = Some(dir.path().join("other-ca.pem"));
        c
    })
    .await
    .unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    let url = emu.url.clone();
    let run = move |env: &[(&str, &str)]| {
        let mut command = Command::new(workspace_binary("pve-ops"));
        command.args(["expire-lab", "--dry-run"]).env("PVE_API_TOKEN", TOKEN).env("PVE_ENDPOINT", &url).env_remove("PVE_CA_FILE");
        for (k, v) in env {
            command.env(k, v);
        }
        Run::of(&mut command)
    };
    let (emulator_ca_text, other_ca_text) = (emulator_ca.display().to_string(), other_ca.display().to_string());
    let outcome = tokio::task::spawn_blocking(move || {
        (
            // The emulator's CA stands in for a public CA in the system's trust store.
            run(&[("SSL_CERT_FILE", emulator_ca_text.as_str())]),
            run(&[("SSL_CERT_FILE", emulator_ca_text.as_str()), ("PVE_CA_FILE", other_ca_text.as_str())]),
            run(&[("PVE_CA_FILE", emulator_ca_text.as_str()), ("PVE_MIN_TLS", "1.3")]),
            run(&[("PVE_CA_FILE", emulator_ca_text.as_str()), ("PVE_MIN_TLS", "1.1")]),
        )
    })
    .await
    .unwrap();
    let (system_trust, pinned_elsewhere, tls13, bad_min_tls) = outcome;
    assert_eq!(system_trust.code, 0, "the system's trust store is used without ca_file: {}", system_trust.stderr);
    assert_ne!(pinned_elsewhere.code, 0, "with ca_file, only that CA vouches for the node: {}", pinned_elsewhere.stdout);
    assert_eq!(tls13.code, 0, "{}", tls13.stderr);
    assert_ne!(bad_min_tls.code, 0);
    assert!(bad_min_tls.stderr.contains("must be 1.2 or 1.3"), "{}", bad_min_tls.stderr);
    drop(other);

    // Plain HTTP only with the explicit opt-in.
    let plain = emulator(|_| {}).await;
    let plain_url = plain.url.clone();
    let refused = tokio::task::spawn_blocking(move || {
        Run::of(
            Command::new(workspace_binary("pve-ops"))
                .args(["expire-lab", "--dry-run"])
                .env("PVE_API_TOKEN", TOKEN)
                .env("PVE_ENDPOINT", &plain_url)
                .env_remove("PVE_INSECURE_HTTP"),
        )
    })
    .await
    .unwrap();
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("is plain HTTP"), "{}", refused.stderr);
    assert!(!refused.stderr.contains("00000000-0000"), "the token is not printed: {}", refused.stderr);
}
