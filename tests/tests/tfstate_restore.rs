//! Terraform state in a real versioned S3 server (SeaweedFS): the S3 backend keeps a version per
//! apply, and `pve-ops restore tfstate` lists and restores them without losing any.

use std::process::Command;

use pve_home_tests::{CliRun as Run, PROVIDER_VERSION, S3Server, TOKEN, Terraform, emulator, workspace_binary};
use pve_ops::s3::aws_sdk_s3;
use serde_json::Value;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn config(endpoint: &str, emulator_url: &str, vms: &[&str]) -> String {
    let mut text = format!(
        r#"terraform {{
  required_providers {{
    pve = {{ source = "pve-home/pve", version = "{PROVIDER_VERSION}" }}
  }}
  backend "s3" {{
    bucket                      = "tfstate"
    key                         = "lab/terraform.tfstate"
    region                      = "us-east-1"
    endpoints                   = {{ s3 = "{endpoint}" }}
    use_path_style              = true
    use_lockfile                = true
    skip_credentials_validation = true
    skip_region_validation      = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
  }}
}}

provider "pve" {{
  endpoint      = "{emulator_url}"
  api_token     = "{TOKEN}"
  insecure_http = true
}}
"#
    );
    for name in vms {
        text.push_str(&format!(
            "\nresource \"pve_vm\" \"{name}\" {{\n  node       = \"pve1\"\n  name       = \"{name}\"\n  clone_vmid = 9000\n  disk {{\n    slot    = \"scsi0\"\n    storage = \"local-lvm\"\n    size    = 8\n  }}\n  network {{}}\n}}\n"
        ));
    }
    text
}

fn pve_ops(s3: &S3Server, args: &[&str]) -> Run {
    Run::of(
        Command::new(workspace_binary("pve-ops"))
            .args(["restore", "tfstate"])
            .args(args)
            .envs(s3.env())
            .env_remove("PVE_ENDPOINT")
            .env_remove("PVE_API_TOKEN"),
    )
}

fn state(client: &aws_sdk_s3::Client, rt: &tokio::runtime::Runtime, key: &str, version: Option<&str>) -> Vec<u8> {
    rt.block_on(async {
        let object = client.get_object().bucket("tfstate").key(key).set_version_id(version.map(str::to_string)).send().await.unwrap();
        object.body.collect().await.unwrap().into_bytes().to_vec()
    })
}

fn put(client: &aws_sdk_s3::Client, rt: &tokio::runtime::Runtime, bucket: &str, key: &str, body: &str) {
    rt.block_on(client.put_object().bucket(bucket).key(key).body(body.as_bytes().to_vec().into()).send()).unwrap();
}

#[test]
fn two_applies_leave_two_versions_and_a_restore_loses_none() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let s3 = S3Server::start();
    let client = s3.client();
    let mut tf = Terraform::new(&config(&s3.endpoint, &emu.url, &["web"]));
    for (key, value) in s3.env() {
        tf = tf.env(key, &value);
    }
    tf.init();
    for vms in [&["web"][..], &["web", "db"][..]] {
        tf.write("main.tf", &config(&s3.endpoint, &emu.url, vms));
        let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
        assert_eq!(out.code, 0, "{}", out.all());
    }

    let listed = pve_ops(&s3, &["--env", "lab", "--json"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let versions = listed.json()["versions"].as_array().unwrap().clone();
    assert!(versions.len() >= 2, "one state version per apply at least: {versions:?}");
    assert_eq!(versions[0]["latest"], true);
    assert_eq!(versions[0]["resources"], 2, "newest first: {versions:?}");
    let first = versions.iter().find(|v| v["resources"] == 1).expect("the one-VM state is still in the history").clone();
    let first_id = first["version_id"].as_str().unwrap();
    let current_id = versions[0]["version_id"].as_str().unwrap();
    let current_body = state(&client, &rt, "lab/terraform.tfstate", Some(current_id));
    let current_serial = serde_json::from_slice::<Value>(&current_body).unwrap()["serial"].as_u64().unwrap();

    // A dry run and an unconfirmed run change nothing.
    let dry = pve_ops(&s3, &["--env", "lab", "--version-id", first_id, "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains("would restore lab state") && dry.stdout.contains(&format!("to version {first_id}")), "{}", dry.stdout);
    let refused = pve_ops(&s3, &["--env", "lab", "--version-id", first_id]);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("pass --yes"), "{}", refused.stderr);
    let count = || pve_ops(&s3, &["--env", "lab", "--json"]).json()["versions"].as_array().unwrap().len();
    assert_eq!(count(), versions.len(), "no version written");

    // The state lock held by a running Terraform stops a restore.
    put(&client, &rt, "tfstate", "lab/terraform.tfstate.tflock", r#"{"ID":"x","Operation":"OperationTypeApply"}"#);
    let locked = pve_ops(&s3, &["--env", "lab", "--version-id", first_id, "--yes"]);
    assert_eq!(locked.code, 1);
    assert!(locked.stderr.contains("Terraform is running"), "{}", locked.stderr);
    rt.block_on(client.delete_object().bucket("tfstate").key("lab/terraform.tfstate.tflock").send()).unwrap();

    let restored = pve_ops(&s3, &["--env", "lab", "--version-id", first_id, "--yes", "--json"]);
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    let report = restored.json();
    assert_eq!(report["from_version_id"], first_id);
    assert!(report["serial"].as_u64().unwrap() > current_serial, "the restored state is the newest of its lineage: {report}");

    let after = pve_ops(&s3, &["--env", "lab", "--json"]).json()["versions"].as_array().unwrap().clone();
    assert_eq!(after.len(), versions.len() + 2, "the current state again, then the restored one; none deleted");
    for old in &versions {
        assert!(after.iter().any(|v| v["version_id"] == old["version_id"]), "version {} is kept", old["version_id"]);
    }
    let kept = report["previous_version_id"].as_str().unwrap();
    assert_eq!(after[1]["version_id"], kept, "the pre-restore state sits right below the restored one");
    assert_eq!(state(&client, &rt, "lab/terraform.tfstate", Some(kept)), current_body, "the pre-restore state byte for byte");

    // Terraform reads the restored state through its S3 backend.
    let listed = tf.run(&["state", "list", "-no-color"]);
    assert_eq!(listed.code, 0, "{}", listed.all());
    assert_eq!(listed.stdout.trim(), "pve_vm.web", "{}", listed.stdout);
    // And plans on it (the raised serial is accepted): the VM the restored state forgot is new to it.
    let plan = tf.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(plan.stdout.contains("1 to add, 0 to change, 0 to destroy"), "{}", plan.stdout);

    // --before a time after the newest version picks the current one: nothing to do.
    let noop = pve_ops(&s3, &["--env", "lab", "--before", "2999-01-01", "--yes"]);
    assert!(noop.code == 0 && noop.stdout.contains("already the current state"), "{}{}", noop.stdout, noop.stderr);
}

#[test]
fn refuses_what_is_not_a_safe_restore() {
    let rt = runtime();
    let s3 = S3Server::start();
    let client = s3.client();
    let state = |lineage: &str, serial: u64| {
        format!(r#"{{"version":4,"terraform_version":"1.15.5","serial":{serial},"lineage":"{lineage}","outputs":{{}},"resources":[]}}"#)
    };
    let ids = |env: &str| -> Vec<String> {
        let out = pve_ops(&s3, &["--env", env, "--json"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.json()["versions"].as_array().unwrap().iter().map(|v| v["version_id"].as_str().unwrap().to_string()).collect()
    };

    // Not a Terraform state.
    put(&client, &rt, "tfstate", "junk/terraform.tfstate", "hello");
    put(&client, &rt, "tfstate", "junk/terraform.tfstate", &state("aaaa", 1));
    let junk = ids("junk");
    let out = pve_ops(&s3, &["--env", "junk", "--version-id", &junk[1], "--yes"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("is not JSON") && out.stderr.contains("refusing to restore"), "{}", out.stderr);

    // Another lineage needs --force.
    put(&client, &rt, "tfstate", "mixed/terraform.tfstate", &state("lineage-a", 3));
    put(&client, &rt, "tfstate", "mixed/terraform.tfstate", &state("lineage-b", 1));
    let mixed = ids("mixed");
    let out = pve_ops(&s3, &["--env", "mixed", "--version-id", &mixed[1], "--yes"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("belongs to another state"), "{}", out.stderr);
    assert_eq!(ids("mixed").len(), 2, "nothing written");
    let forced = pve_ops(&s3, &["--env", "mixed", "--version-id", &mixed[1], "--yes", "--allow-other-lineage", "--json"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(forced.json()["serial"], 3, "the restored serial stays above the current one (1)");

    // A bucket without versioning could not keep the current state: refused before anything.
    rt.block_on(client.create_bucket().bucket("plain").send()).unwrap();
    put(&client, &rt, "plain", "lab/terraform.tfstate", &state("c", 1));
    let out = pve_ops(&s3, &["--env", "lab", "--bucket", "plain", "--list"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("does not have versioning enabled"), "{}", out.stderr);

    // Missing credentials: a clear message, not an S3 error.
    let out = Command::new(workspace_binary("pve-ops"))
        .args(["restore", "tfstate", "--env", "lab"])
        .env("PVE_OPS_S3_ENDPOINT", &s3.endpoint)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"));
}

#[test]
fn the_state_lock_is_released_only_while_it_is_ours() {
    use pve_ops::commands::tfstate::{Released, StateLock};
    let s3 = S3Server::start();
    let (client, rt) = (s3.client(), runtime());
    let key = "lab/terraform.tfstate";
    let lock_key = format!("{key}.tflock");
    let read_lock = |client: &aws_sdk_s3::Client| {
        rt.block_on(async {
            match client.get_object().bucket("tfstate").key(&lock_key).send().await {
                Ok(o) => Some(o.body.collect().await.unwrap().into_bytes().to_vec()),
                Err(_) => None,
            }
        })
    };

    // Ours, untouched: released.
    let lock = rt.block_on(StateLock::take(&client, "tfstate", key, "lab", false)).unwrap();
    assert!(read_lock(&client).is_some());
    assert_eq!(rt.block_on(lock.release(&client)).unwrap(), Released::Removed);
    assert_eq!(read_lock(&client), None);

    // Broken and taken by another run meanwhile: left for its holder.
    let lock = rt.block_on(StateLock::take(&client, "tfstate", key, "lab", false)).unwrap();
    let theirs = br#"{"ID":"terraform-run","Operation":"OperationTypeApply"}"#.to_vec();
    rt.block_on(client.put_object().bucket("tfstate").key(&lock_key).body(theirs.clone().into()).send()).unwrap();
    assert_eq!(rt.block_on(lock.release(&client)).unwrap(), Released::LeftForItsHolder);
    assert_eq!(read_lock(&client), Some(theirs), "the other run's lock is still there");
}

/// `restore tfstate` with the emulator's credentials, so it can check what PVE still has.
fn pve_ops_checked(s3: &S3Server, emulator_url: &str, args: &[&str]) -> Run {
    Run::of(
        Command::new(workspace_binary("pve-ops"))
            .args(["restore", "tfstate"])
            .args(args)
            .envs(s3.env())
            .env("PVE_ENDPOINT", emulator_url)
            .env("PVE_INSECURE_HTTP", "1")
            .env("PVE_API_TOKEN", TOKEN),
    )
}

const DB_BACKUP_JOB: &str = r#"
resource "pve_backup_job" "db" {
  id       = "db-nightly"
  schedule = "02:00"
  storage  = "backup"
  vmids    = [pve_vm.db.vmid]
}
"#;

#[test]
fn a_restore_names_what_it_forgets_and_its_import_blocks_adopt_them() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let s3 = S3Server::start();
    let mut tf = Terraform::new(&config(&s3.endpoint, &emu.url, &["web"]));
    for (key, value) in s3.env() {
        tf = tf.env(key, &value);
    }
    tf.init();
    let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.all());
    // The second apply adds a VM and its backup job.
    let both = format!("{}{DB_BACKUP_JOB}", config(&s3.endpoint, &emu.url, &["web", "db"]));
    tf.write("main.tf", &both);
    let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let db_vmid = tf.run(&["state", "show", "-no-color", "pve_vm.db"]);
    let db_vmid: u64 =
        db_vmid.stdout.lines().find_map(|l| l.trim().strip_prefix("vmid")?.trim().strip_prefix('=')?.trim().parse().ok()).unwrap();

    let versions = pve_ops(&s3, &["--env", "lab", "--json"]).json()["versions"].as_array().unwrap().clone();
    let first = versions.iter().find(|v| v["resources"] == 1).expect("the one-VM state").clone();
    let first_id = first["version_id"].as_str().unwrap();
    let forgotten = |report: &Value| -> Vec<(String, Value, Value)> {
        let mut rows: Vec<(String, Value, Value)> = report["forgotten"]
            .as_array()
            .unwrap_or_else(|| panic!("no forgotten list: {report}"))
            .iter()
            .map(|f| (f["address"].as_str().unwrap().to_string(), f["exists"].clone(), f["import_id"].clone()))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    };
    let expected = vec![
        ("pve_backup_job.db".to_string(), Value::Bool(true), Value::from("db-nightly")),
        ("pve_vm.db".to_string(), Value::Bool(true), Value::from(format!("pve1/{db_vmid}"))),
    ];

    // Before anything is written: the dry run names them, checked with PVE…
    let dry = pve_ops_checked(&s3, &emu.url, &["--env", "lab", "--version-id", first_id, "--dry-run", "--json"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(forgotten(&dry.json()), expected, "{}", dry.stdout);
    let text = pve_ops_checked(&s3, &emu.url, &["--env", "lab", "--version-id", first_id, "--dry-run"]);
    assert!(text.stdout.contains("The restored state forgets 2 resource(s)"), "{}", text.stdout);
    assert!(
        text.stdout.contains(&format!("  pve_vm.db (VMID {db_vmid} is in PVE on pve1)"))
            && text.stdout.contains(&format!("import {{\n  to = pve_vm.db\n  id = \"pve1/{db_vmid}\"\n}}\n")),
        "{}",
        text.stdout
    );
    // …and, without PVE credentials, says it could not check and still gives the blocks.
    let unchecked = pve_ops(&s3, &["--env", "lab", "--version-id", first_id, "--dry-run", "--json"]).json();
    assert!(unchecked["pve_check_error"].as_str().is_some_and(|e| e.contains("PVE_ENDPOINT is not set")), "{unchecked}");
    for f in unchecked["forgotten"].as_array().unwrap() {
        assert_eq!(f["exists"], Value::Null, "{f}");
        assert!(f["note"].as_str().unwrap().contains("could not check with PVE"), "{f}");
        assert!(f["import"].as_str().is_some_and(|b| b.starts_with("import {")), "{f}");
    }
    let count = pve_ops(&s3, &["--env", "lab", "--json"]).json()["versions"].as_array().unwrap().len();
    assert_eq!(count, versions.len(), "dry runs write nothing");

    let restored = pve_ops_checked(&s3, &emu.url, &["--env", "lab", "--version-id", first_id, "--yes", "--json"]);
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    let report = restored.json();
    assert_eq!(forgotten(&report), expected, "{report}");
    let listed = tf.run(&["state", "list", "-no-color"]);
    assert_eq!(listed.stdout.trim(), "pve_vm.web", "{}", listed.all());

    // The blocks, written next to the configuration (which still has both), adopt them again.
    tf.write("imports.tf", report["imports"].as_str().unwrap());
    let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("Apply complete! Resources: 2 imported, 0 added, 0 changed, 0 destroyed"), "{}", out.stdout);
    let plan = tf.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    assert_eq!(plan.code, 0, "the re-adopted VM and job plan clean: {}", plan.all());
    let api = pve_home_tests::client(&emu);
    let guests: Vec<u64> =
        rt.block_on(api.cluster_resources(Some("vm"))).unwrap().iter().filter(|r| !r.template).filter_map(|r| r.vmid).collect();
    assert_eq!(guests.len(), 2, "no duplicate of db was made: {guests:?}");
}
