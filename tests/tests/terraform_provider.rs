//! The provider under the real Terraform 1.15 binary: handshake (AutoMTLS and reattach), schema,
//! provider configuration diagnostics, data sources and functions against the emulator.

use std::io::BufRead;

use pve_home_tests::{Terraform, emulator, provider_block, request_log, workspace_binary};

/// Runs a future on a runtime that keeps serving the emulator while Terraform runs.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

const DATA_SOURCES: &str = r#"
data "pve_version" "v" {}
data "pve_nodes" "all" {}
data "pve_node" "two" { name = "pve2" }
data "pve_storages" "images" { content = "images" }
data "pve_guests" "templates" {
  template = true
  tags     = ["Ubuntu"]
}
data "pve_template" "ubuntu" { name = "ubuntu-2404-cloudinit" }
data "pve_next_vmid" "id" { min = 9000 }

output "version" { value = data.pve_version.v.version }
output "nodes" { value = [for n in data.pve_nodes.all.nodes : n.name] }
output "bridges" { value = data.pve_node.two.bridges }
output "storages" { value = [for s in data.pve_storages.images.storages : s.name] }
output "templates" { value = [for g in data.pve_guests.templates.guests : g.vmid] }
output "template_node" { value = data.pve_template.ubuntu.node }
output "next" { value = data.pve_next_vmid.id.vmid }
output "clone_task" { value = provider::pve::parse_upid("UPID:pve1:0002A3F1:01B2C3D4:6740A1B2:qmclone:9000:root@pam:").id }
output "vmid" { value = provider::pve::vmid_from_id("pve1/qemu/123") }
"#;

#[test]
fn data_sources_and_functions_plan_and_apply() {
    let rt = runtime();
    let log = tempfile::NamedTempFile::new().unwrap();
    let log_path = log.path().to_path_buf();
    let emu = rt.block_on(emulator(|c| c.request_log = Some(log_path.clone())));
    let tf = Terraform::new(&format!("{}{DATA_SOURCES}", provider_block(&emu)));
    tf.init();
    let plan = tf.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    assert_eq!(plan.code, 2, "outputs are new, so the plan has changes:\n{}", plan.all());
    let apply = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let outputs = tf.outputs();
    assert_eq!(outputs["version"]["value"], "9.1.3");
    assert_eq!(outputs["nodes"]["value"], serde_json::json!(["pve1", "pve2", "pve3"]));
    assert_eq!(outputs["bridges"]["value"], serde_json::json!(["vmbr0", "vmbr1"]));
    assert_eq!(outputs["storages"]["value"], serde_json::json!(["local-lvm", "local-zfs"]));
    assert_eq!(outputs["templates"]["value"], serde_json::json!([9000]));
    assert_eq!(outputs["template_node"]["value"], "pve1");
    assert_eq!(outputs["next"]["value"], 9001, "9000 is taken by the template");
    assert_eq!(outputs["clone_task"]["value"], "9000");
    assert_eq!(outputs["vmid"]["value"], 123);

    let replan = tf.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    assert_eq!(replan.code, 0, "nothing changed, so the plan is empty:\n{}", replan.all());

    let requests = request_log(&log_path);
    assert!(requests.iter().all(|r| r["status"] == 200), "every request succeeded: {requests:?}");
    assert!(
        requests.iter().any(|r| r["path"] == "/cluster/nextid" && r["params"]["vmid"] == "9001"),
        "the chosen VMID was confirmed with PVE"
    );
    assert!(requests.iter().all(|r| r["user"] == "root@pam!terraform"));
}

/// Local storage needs a template per node, all of one name: `node` chooses among them, and
/// without it the data source names the candidates instead of guessing.
#[test]
fn template_of_one_name_on_several_nodes_is_chosen_by_node() {
    use pve_api::{GuestKind, Params, TaskWait};
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let api = pve_home_tests::client(&emu);
    let upid = rt
        .block_on(api.clone_guest(
            GuestKind::Qemu,
            "pve1",
            9000,
            9001,
            &Params::new().set("name", "ubuntu-2404-cloudinit").set("full", "1"),
        ))
        .unwrap();
    rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
    // Local storage: a copy reaches another node by migration, not by a clone there.
    let upid = rt.block_on(api.migrate_guest(GuestKind::Qemu, "pve1", 9001, "pve2", None)).unwrap();
    rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
    if let Some(upid) = rt.block_on(api.convert_to_template(GuestKind::Qemu, "pve2", 9001)).unwrap() {
        rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
    }

    let chosen = r#"
data "pve_template" "on_pve2" {
  name = "ubuntu-2404-cloudinit"
  node = "pve2"
}
output "vmid" { value = data.pve_template.on_pve2.vmid }
"#;
    let tf = Terraform::new(&format!("{}{chosen}", provider_block(&emu)));
    tf.init();
    let apply = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert_eq!(tf.outputs()["vmid"]["value"], 9001);

    tf.write("main.tf", &format!("{}data \"pve_template\" \"any\" {{ name = \"ubuntu-2404-cloudinit\" }}\n", provider_block(&emu)));
    let ambiguous = tf.run(&["plan", "-input=false", "-no-color"]);
    assert_ne!(ambiguous.code, 0);
    let text = pve_home_tests::flat(&ambiguous.all());
    assert!(text.contains("Ambiguous template") && text.contains("VMIDs 9000, 9001; set node to choose one"), "{text}");
}

#[test]
fn schema_documents_every_attribute() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let tf = Terraform::new(&provider_block(&emu));
    tf.init();
    let out = tf.run(&["providers", "schema", "-json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let schema: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let provider = &schema["provider_schemas"]["registry.terraform.io/pve-home/pve"];
    let mut checked = 0;
    let blocks = std::iter::once(&provider["provider"]).chain(provider["data_source_schemas"].as_object().unwrap().values());
    for block in blocks {
        for (name, attribute) in block["block"]["attributes"].as_object().unwrap() {
            assert!(attribute["description"].as_str().is_some_and(|d| d.len() > 10), "{name} has a description");
            checked += 1;
        }
    }
    assert!(checked >= 35, "checked {checked} attributes");
    assert_eq!(provider["data_source_schemas"].as_object().unwrap().len(), 7);
    assert_eq!(provider["provider"]["block"]["attributes"]["api_token"]["sensitive"], true);
    assert!(provider["functions"]["parse_upid"].is_object());
}

#[test]
fn bad_provider_configuration_is_reported_on_the_attribute() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let config = format!(
        "terraform {{\n  required_providers {{\n    pve = {{ source = \"pve-home/pve\" }}\n  }}\n}}\n\
         provider \"pve\" {{\n  endpoint = \"{}\"\n  api_token = \"not-a-token-s3cr3t\"\n  min_tls = \"1.1\"\n  timeout = 0\n}}\n\
         data \"pve_version\" \"v\" {{}}\n",
        emu.url
    );
    let tf = Terraform::new(&config);
    tf.init();
    let out = tf.run(&["plan", "-input=false", "-no-color"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let all = out.all();
    assert!(all.contains("Invalid api_token") && all.contains("USER@REALM!TOKENID=SECRET"), "{all}");
    assert!(all.contains("Invalid min_tls") && all.contains("must be one of 1.2, 1.3"), "{all}");
    assert!(all.contains("Invalid timeout") && all.contains("must be between 1 and 3600"), "{all}");
    assert!(all.contains("api_token = "), "the diagnostic points at the attribute:\n{all}");
    // Terraform quotes the offending source line; our messages never repeat the value.
    assert!(all.lines().filter(|l| l.contains("s3cr3t")).all(|l| l.contains("api_token = \"not-a-token-s3cr3t\"")), "{all}");
}

#[test]
fn wrong_token_fails_at_configure_with_the_servers_message() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let config = provider_block(&emu).replace("00000000-0000-0000-0000-000000000000", "wrong-secret") + "data \"pve_version\" \"v\" {}\n";
    let tf = Terraform::new(&config);
    tf.init();
    let out = tf.run(&["plan", "-input=false", "-no-color"]);
    assert_eq!(out.code, 1);
    let all = out.all();
    assert!(all.contains("Authentication failed") && all.contains("GET /version: authentication failed: Authentication failed!"), "{all}");
    assert!(all.lines().filter(|l| l.contains("wrong-secret")).all(|l| l.contains("api_token = ")), "{all}");
}

#[test]
fn data_source_input_errors_come_before_any_request() {
    let rt = runtime();
    let log = tempfile::NamedTempFile::new().unwrap();
    let log_path = log.path().to_path_buf();
    let emu = rt.block_on(emulator(|c| c.request_log = Some(log_path.clone())));
    let config = format!(
        "{}\ndata \"pve_guests\" \"g\" {{\n  type = \"vm\"\n  name_regex = \"([\"\n}}\ndata \"pve_template\" \"t\" {{}}\ndata \"pve_next_vmid\" \"n\" {{ min = 50 }}\n",
        provider_block(&emu)
    );
    let tf = Terraform::new(&config);
    tf.init();
    let out = tf.run(&["validate", "-no-color"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let all = out.all();
    assert!(all.contains("must be one of qemu, lxc, got \"vm\""), "{all}");
    assert!(all.contains("Invalid name_regex") && all.contains("is not a valid regular expression"), "{all}");
    assert!(all.contains("Missing selector"), "{all}");
    assert!(all.contains("must be between 100 and 999999999, got 50"), "{all}");
    assert!(request_log(&log_path).is_empty(), "validation needs no API call");
    let unknown_node = Terraform::new(&format!("{}\ndata \"pve_node\" \"n\" {{ name = \"pve9\" }}\n", provider_block(&emu)));
    unknown_node.init();
    let out = unknown_node.run(&["plan", "-input=false", "-no-color"]);
    assert_eq!(out.code, 1);
    assert!(out.all().contains("node 'pve9' is not in the cluster; nodes are: pve1, pve2, pve3"), "{}", out.all());
}

#[test]
fn reattach_with_debug_mode() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let mut provider = std::process::Command::new(workspace_binary("terraform-provider-pve"))
        .arg("--debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("provider starts");
    let stdout = provider.stdout.take().unwrap();
    let reattach = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.trim().strip_prefix("TF_REATTACH_PROVIDERS='").map(|s| s.trim_end_matches('\'').to_string()))
        .expect("the provider prints TF_REATTACH_PROVIDERS");
    let parsed: serde_json::Value = serde_json::from_str(&reattach).unwrap();
    assert_eq!(parsed["registry.terraform.io/pve-home/pve"]["ProtocolVersion"], 6);
    let tf = Terraform::new(&format!(
        "{}\ndata \"pve_version\" \"v\" {{}}\noutput \"v\" {{ value = data.pve_version.v.release }}\n",
        provider_block(&emu)
    ))
    .env("TF_REATTACH_PROVIDERS", &reattach);
    tf.init();
    let out = tf.run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    let _ = provider.kill();
    let _ = provider.wait();
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("v = \"9.1\""), "{}", out.stdout);
}

#[test]
fn run_by_hand_the_binary_explains_itself() {
    let out = std::process::Command::new(workspace_binary("terraform-provider-pve")).env_remove("TF_PLUGIN_MAGIC_COOKIE").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("This binary is a plugin"), "{:?}", out);
}
