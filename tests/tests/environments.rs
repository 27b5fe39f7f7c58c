//! The environments users run: `environments/lab` (with the modules it uses) applies against
//! the emulator through the real provider, with its state in a real versioned S3 server
//! (SeaweedFS) and cloud-init snippets written over SFTP to a real sshd, and re-plans clean.

use pve_home_tests::{S3Server, Sshd, TOKEN, Terraform, emulator, repo_root};

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        if name == ".terraform" || name == ".terraform.lock.hcl" || name == "terraform.tfstate" {
            continue;
        }
        if path.is_dir() {
            copy_tree(&path, &to.join(name));
        } else {
            std::fs::copy(&path, to.join(name)).unwrap();
        }
    }
}

#[test]
fn lab_environment_applies_with_s3_state_and_replans_clean() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_path_buf();
    let emu = runtime.block_on(emulator(|c| c.data_dir = Some(data_dir.clone())));
    let s3 = S3Server::start();
    let sshd = Sshd::start();
    let mut tf = Terraform::new("")
        .env("PVE_ENDPOINT", &emu.url)
        .env("PVE_API_TOKEN", TOKEN)
        .env("PVE_SSH_USER", &sshd.user)
        .env("PVE_SSH_PORT", &sshd.port.to_string())
        .env("PVE_SSH_PRIVATE_KEY_FILE", &sshd.client_key.display().to_string())
        .env("PVE_SSH_KNOWN_HOSTS", &sshd.known_hosts.display().to_string())
        .env("PVE_SSH_NODE_ADDRESSES", "pve1=127.0.0.1,pve2=127.0.0.1,pve3=127.0.0.1");
    for (key, value) in s3.env() {
        tf = tf.env(key, &value);
    }
    // The repository's layout, so the lab's `../../modules/…` sources resolve.
    std::fs::remove_file(tf.dir.path().join("main.tf")).unwrap();
    copy_tree(&repo_root().join("modules"), &tf.dir.path().join("modules"));
    copy_tree(&repo_root().join("environments/lab"), &tf.dir.path().join("environments/lab"));
    std::fs::write(
        tf.dir.path().join("environments/lab/backend.hcl"),
        format!("bucket    = \"{}\"\nendpoints = {{ s3 = \"{}\" }}\n", s3.bucket, s3.endpoint),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["-chdir=environments/lab"];
        all.extend_from_slice(args);
        tf.run(&all)
    };
    let out = run(&["init", "-input=false", "-no-color", "-backend-config=backend.hcl"]);
    assert_eq!(out.code, 0, "{}", out.all());
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
