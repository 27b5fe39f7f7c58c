//! The environments users run: each one (with the modules it uses) applies against the emulator
//! through the real provider, with its state in a real versioned S3 server (SeaweedFS) and
//! cloud-init snippets written over SFTP to a real sshd, and re-plans clean. Each shipped
//! environment is applied once from its own `terraform.tfvars.example`, as a new user would.

use pve_home_tests::{S3Server, Sshd, Terraform, copy_tree, emulator, repo_root};

/// An environment of the repository in a working copy (with the modules), run against the
/// emulator with its state in SeaweedFS and snippets written to a real sshd.
struct Environment {
    runtime: tokio::runtime::Runtime,
    emu: pve_emulator::RunningEmulator,
    s3: S3Server,
    _sshd: Sshd,
    data: tempfile::TempDir,
    tf: Terraform,
    name: &'static str,
}

impl Environment {
    fn new(name: &'static str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let data = tempfile::tempdir().unwrap();
        let data_dir = data.path().to_path_buf();
        let emu = runtime.block_on(emulator(|c| c.data_dir = Some(data_dir.clone())));
        let s3 = S3Server::start();
        let sshd = Sshd::start();
        let tf = pve_home_tests::environments_workdir(&emu, &sshd, &s3);
        copy_tree(&repo_root().join("environments").join(name), &tf.dir.path().join("environments").join(name));
        std::fs::write(
            tf.dir.path().join(format!("environments/{name}/backend.hcl")),
            format!("bucket    = \"{}\"\nendpoints = {{ s3 = \"{}\" }}\n", s3.bucket, s3.endpoint),
        )
        .unwrap();
        let env = Self { runtime, emu, s3, _sshd: sshd, data, tf, name };
        let out = env.run(&["init", "-input=false", "-no-color", "-backend-config=backend.hcl"]);
        assert_eq!(out.code, 0, "{}", out.all());
        env
    }

    /// The environment variables Terraform runs with (for tools that run it themselves).
    fn tf_env(&self) -> Vec<(String, String)> {
        let mut vars = self.tf.env_vars().to_vec();
        vars.push(("TF_CLI_CONFIG_FILE".into(), self.tf.cli_config().display().to_string()));
        vars.push(("CHECKPOINT_DISABLE".into(), "1".into()));
        vars
    }

    fn dir(&self) -> std::path::PathBuf {
        self.tf.dir.path().join("environments").join(self.name)
    }

    fn run(&self, args: &[&str]) -> pve_home_tests::TfOutput {
        let chdir = format!("-chdir=environments/{}", self.name);
        let mut all = vec![chdir.as_str()];
        all.extend_from_slice(args);
        self.tf.run(&all)
    }
}

#[test]
fn lab_environment_applies_with_s3_state_and_replans_clean() {
    let env = Environment::new("lab");
    let (runtime, s3, data_dir) = (&env.runtime, &env.s3, env.data.path());
    let run = |args: &[&str]| env.run(args);
    let out = run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = run(&["output", "-json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let outputs: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(outputs["proxmox_version"]["value"], "9.1.3");
    assert_eq!(outputs["template"]["value"]["vmid"], 9000);
    let expires = (chrono::Utc::now().date_naive() + chrono::Duration::days(14)).format("%Y-%m-%d").to_string();
    assert_eq!(outputs["sandbox"]["value"]["expires"], expires);
    let vmid = outputs["sandbox"]["value"]["vmid"].as_u64().unwrap();
    let snippet = data_dir.join(format!("local/snippets/pve-home-{vmid}-user.yaml"));
    let text = std::fs::read_to_string(&snippet).expect("the sandbox's cloud-init snippet was written over SFTP");
    assert!(text.contains("-security"), "security updates are on by default: {text}");

    let out = run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    assert_eq!(out.code, 0, "the lab re-plans clean:\n{}", out.all());

    // A second apply that changes something leaves another state version; the first stays.
    let out = run(&["apply", "-input=false", "-no-color", "-auto-approve", "-var", "expiration_days=30"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let client = s3.client();
    let versions = runtime
        .block_on(client.list_object_versions().bucket(&s3.bucket).prefix("lab/terraform.tfstate").send())
        .unwrap()
        .versions()
        .iter()
        .filter(|v| v.key() == Some("lab/terraform.tfstate"))
        .count();
    assert!(versions >= 2, "two applies, at least two state versions in the bucket: {versions}");
}

/// Placeholders for the monitoring environment's required secrets (fakes, for the emulator only).
const MONITORING_TFVARS: &str = r#"
ssh_public_keys          = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2e ops@laptop"]
minio_server_sha256      = "1111111111111111111111111111111111111111111111111111111111111111"
minio_client_sha256      = "2222222222222222222222222222222222222222222222222222222222222222"
minio_root_user          = "tfadmin"
minio_root_password      = "fake-password-for-the-emulator-only"
pve_exporter_token_value = "00000000-0000-0000-0000-000000000000"
telegram_bot_token       = "123456:AAHfakefakefakefakefakefakefakefake"
telegram_chat_id         = "123456789"
grafana_admin_password   = "fake-password-for-the-emulator-only"
"#;

/// The checksums MONITORING_TFVARS leaves out (built here, so no literal looks like one).
fn monitoring_checksums() -> String {
    format!("grafana_deb_sha256 = {}\n", fake_sha256('3'))
}

#[test]
fn rebuild_recreates_minio_from_terraform_and_restores_its_data() {
    use pve_api::{GuestKind, Params};
    let env = Environment::new("monitoring");
    std::fs::write(env.dir().join("terraform.tfvars"), format!("{MONITORING_TFVARS}{}", monitoring_checksums())).unwrap();
    let out = env.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let outputs: serde_json::Value = serde_json::from_str(&env.run(&["output", "-json"]).stdout).unwrap();
    let vmid = outputs["minio"]["value"]["vmid"].as_u64().unwrap();
    let api = pve_home_tests::client(&env.emu);
    // Something only the guest's own data carries (Terraform does not manage it): it must come back.
    // (A running VM keeps it pending; the archive carries pending changes too.)
    env.runtime.block_on(api.update_config(GuestKind::Qemu, "pve1", vmid, &Params::new().set("tablet", "0"))).unwrap();
    let tablet = || env.runtime.block_on(api.guest_config(GuestKind::Qemu, "pve1", vmid)).unwrap().get_str("tablet");

    let pve_ops = |extra: &[&str]| {
        let out = std::process::Command::new(pve_home_tests::workspace_binary("pve-ops"))
            .args(["rebuild", "minio", "--yes", "--json", "--check-timeout", "30"])
            .arg("--environments")
            .arg(env.tf.dir.path().join("environments"))
            .arg("--terraform")
            .arg(pve_home_tests::terraform_binary())
            .arg("--check-url")
            .arg(format!("{}/healthz", env.s3.endpoint))
            .args(extra)
            .envs(env.tf_env())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, stdout, stderr) = pve_ops(&["--dry-run"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let plan: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let steps = plan["steps"].as_array().unwrap();
    assert!(
        steps[0].as_str().unwrap().starts_with(&format!("back up {vmid}"))
            && steps[1].as_str().unwrap().starts_with(&format!("lift the protection of {vmid}"))
            && steps[2].as_str().unwrap().contains("-replace=module.minio.module.vm.pve_vm.this[\"minio\"]"),
        "{plan}"
    );
    assert_eq!(tablet().as_deref(), Some("0"), "a dry run changes nothing");

    let (code, stdout, stderr) = pve_ops(&[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["vmid"], vmid);
    assert!(report["archive"].as_str().unwrap().contains(&format!("vzdump-qemu-{vmid}-")), "{report}");
    assert!(stderr.contains("1 added, 0 changed, 1 destroyed"), "Terraform replaced the VM: {stderr}");
    assert_eq!(tablet().as_deref(), Some("0"), "the data came back from the archive: {report}");
    let status = env.runtime.block_on(api.guest_status(GuestKind::Qemu, "pve1", vmid)).unwrap();
    assert_eq!(status.status, "running");
    let config = env.runtime.block_on(api.guest_config(GuestKind::Qemu, "pve1", vmid)).unwrap();
    assert!(config.flag("protection"), "the restored VM is protected again");
    let out = env.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    assert_eq!(out.code, 0, "after the rebuild Terraform and PVE agree:\n{}", out.all());
}

/// `terraform.tfvars.example` as a user copies it, with the placeholders that cannot work as
/// written (the example's comments say what goes there) replaced: `fills` names each variable
/// and its value, and every one must be in the example (so a renamed variable fails here).
fn tfvars_from_example(env: &Environment, fills: &[(&str, String)]) -> String {
    let example = std::fs::read_to_string(env.dir().join("terraform.tfvars.example")).unwrap();
    let mut filled = 0;
    let text: Vec<String> = example
        .lines()
        .map(|line| {
            let name = line.split('=').next().unwrap_or("").trim();
            match fills.iter().find(|(n, _)| *n == name && line.contains('=')) {
                Some((n, v)) => {
                    filled += 1;
                    format!("{n} = {v}")
                }
                None => line.to_string(),
            }
        })
        .collect();
    assert_eq!(filled, fills.len(), "every filled-in placeholder is in {}'s example:\n{example}", env.name);
    text.join("\n") + "\n"
}

/// Applies the environment from its example (with `fills`), checks the re-plan is clean, and
/// returns its outputs.
fn apply_example(name: &'static str, fills: &[(&str, String)]) -> (Environment, serde_json::Value) {
    apply_example_keeping(name, fills, None)
}

/// As `apply_example`; with `defaults_but`, the example must also equal the variables' defaults
/// except for the variables named there: a plan with only those set (the rest left to the
/// defaults) changes nothing, so copying the example changes no existing guest.
fn apply_example_keeping(name: &'static str, fills: &[(&str, String)], defaults_but: Option<&[&str]>) -> (Environment, serde_json::Value) {
    let env = Environment::new(name);
    let tfvars = tfvars_from_example(&env, fills);
    std::fs::write(env.dir().join("terraform.tfvars"), &tfvars).unwrap();
    let out = env.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "{name} applies from its example in one go:\n{}", out.all());
    let out = env.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    assert_eq!(out.code, 0, "{name} re-plans clean after applying its example:\n{}", out.all());
    if let Some(kept) = defaults_but {
        let only: Vec<&str> = tfvars.lines().filter(|l| kept.iter().any(|k| l.split('=').next().unwrap_or("").trim() == *k)).collect();
        assert_eq!(only.len(), kept.len(), "{kept:?} are single lines of the example");
        std::fs::write(env.dir().join("terraform.tfvars"), only.join("\n") + "\n").unwrap();
        let out = env.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
        assert_eq!(out.code, 0, "{name}'s example matches the defaults it replaces:\n{}", out.all());
    }
    let out = env.run(&["output", "-json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let outputs = serde_json::from_str(&out.stdout).unwrap();
    (env, outputs)
}

/// A checksum-shaped fake (64 hex digits), built here so no literal looks like a secret.
fn fake_sha256(digit: char) -> String {
    format!("\"{}\"", digit.to_string().repeat(64))
}

#[test]
fn lab_applies_from_its_example() {
    let (env, outputs) = apply_example("lab", &[]);
    assert_eq!(outputs["sandbox"]["value"]["vmid"], 200, "the example's sandbox VMID: {outputs}");
    let api = pve_home_tests::client(&env.emu);
    let guests = env.runtime.block_on(api.cluster_resources(Some("vm"))).unwrap();
    for vmid in [200, 201, 202] {
        let guest = guests.iter().find(|g| g.vmid == Some(vmid)).unwrap_or_else(|| panic!("guest {vmid} exists: {guests:?}"));
        assert!(guest.tags.as_deref().unwrap_or("").contains("environment-lab"), "{guest:?}");
    }
}

#[test]
fn prod_applies_from_its_example() {
    let (env, outputs) = apply_example_keeping("prod", &[], Some(&["ssh_public_keys"]));
    let api = pve_home_tests::client(&env.emu);
    let guests = env.runtime.block_on(api.cluster_resources(Some("vm"))).unwrap();
    for vmid in [120, 121, 130, 131, 132] {
        assert!(guests.iter().any(|g| g.vmid == Some(vmid)), "guest {vmid} of the example exists: {outputs}");
    }
}

#[test]
fn k8s_applies_from_its_example() {
    let (env, _outputs) = apply_example_keeping("k8s", &[], Some(&["ssh_public_keys"]));
    let api = pve_home_tests::client(&env.emu);
    let guests = env.runtime.block_on(api.cluster_resources(Some("vm"))).unwrap();
    let nodes: std::collections::BTreeSet<_> =
        guests.iter().filter(|g| (151..=153).contains(&g.vmid.unwrap_or(0))).filter_map(|g| g.node.clone()).collect();
    assert_eq!(nodes.len(), 3, "the three control planes are on three nodes: {guests:?}");
}

#[test]
fn monitoring_applies_from_its_example() {
    let fills =
        [("minio_server_sha256", fake_sha256('1')), ("minio_client_sha256", fake_sha256('2')), ("grafana_deb_sha256", fake_sha256('3'))];
    // What has no default (the key, checksums, secrets) stays; everything else in the example
    // must be the defaults.
    let required = [
        "ssh_public_keys",
        "minio_server_sha256",
        "minio_client_sha256",
        "grafana_deb_sha256",
        "minio_root_user",
        "minio_root_password",
        "pve_exporter_token_value",
        "telegram_bot_token",
        "telegram_chat_id",
        "grafana_admin_password",
    ];
    let (_env, outputs) = apply_example_keeping("monitoring", &fills, Some(&required));
    assert_eq!(outputs["minio"]["value"]["vmid"], 110, "{outputs}");
}
