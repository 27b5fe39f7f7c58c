//! PVE 9 as it really is, with the real Terraform against the emulator: clones of one template
//! side by side, storage locks absorbed, one local-storage template for every node (clone, then
//! migrate), disks moved in place, HA rules.

use std::time::{Duration, Instant};

use pve_api::{GuestKind, Params, TaskWait};
use pve_home_tests::{Terraform, add_shared_storage, client, cloned_vms, emulator, provider_block, request_log};
use serde_json::Value;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn apply(tf: &Terraform) -> String {
    let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "apply failed:\n{}", out.all());
    out.stdout
}

fn plan_code(tf: &Terraform) -> (i32, String) {
    let out = tf.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    (out.code, out.all())
}

fn writes(path: &std::path::Path) -> Vec<Value> {
    request_log(path).into_iter().filter(|r| r["method"] != "GET" && r["path"] != "/access/ticket").collect()
}

#[test]
fn clones_of_one_template_run_side_by_side() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|c| c.task_ms = 1000));
    let tf = Terraform::new(&format!("{}{}", provider_block(&emu), cloned_vms(2, false)));
    tf.init();
    apply(&tf);
    let clones: Vec<_> = emu.emulator.tasks().into_iter().filter(|t| t.upid.task_type == "qmclone").collect();
    assert_eq!(clones.len(), 2, "two clone tasks");
    let (a, b) = (&clones[0], &clones[1]);
    let (a_end, b_end) = (a.endtime.unwrap(), b.endtime.unwrap());
    assert!(
        a.upid.starttime < b_end && b.upid.starttime < a_end,
        "the clones overlap in time (PVE takes a shared lock on a stopped template): {}..{} and {}..{}",
        a.upid.starttime,
        a_end,
        b.upid.starttime,
        b_end
    );
}

#[test]
fn a_config_change_on_the_template_waits_for_its_clones() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|c| c.task_ms = 2500));
    let tf = Terraform::new(&format!("{}{}", provider_block(&emu), cloned_vms(1, false)));
    tf.init();
    let mut apply = tf.spawn(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    let api = client(&emu);
    let started = Instant::now();
    while !emu.emulator.tasks().iter().any(|t| t.upid.task_type == "qmclone" && t.running) {
        assert!(started.elapsed() < Duration::from_secs(30), "the clone started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = Instant::now();
    rt.block_on(api.update_config(GuestKind::Qemu, "pve1", 9000, &Params::new().set("description", "edited during a clone"))).unwrap();
    let clone = emu.emulator.tasks().into_iter().find(|t| t.upid.task_type == "qmclone").unwrap();
    assert!(!clone.running, "the update waited for the clone's shared lock to go (it took {:?})", sent.elapsed());
    assert!(apply.wait().unwrap().success());
}

#[test]
fn storage_lock_contention_gets_pves_message_and_is_absorbed() {
    let rt = runtime();
    // Every allocation holds local-lvm's lock for 600 ms, and a waiter gives up after 1 s: six
    // clones at once meet PVE's timeout.
    let emu = rt.block_on(emulator(|c| {
        c.task_ms = 200;
        c.storage_lock_ms = 600;
        c.lock_timeout_ms = 1000;
    }));
    let provider = provider_block(&emu).replacen("insecure_http", "max_allocations_per_storage = 6\n  insecure_http", 1);
    let tf = Terraform::new(&format!("{provider}{}", cloned_vms(6, false)));
    tf.init();
    apply(&tf);
    let timeouts: Vec<String> = emu
        .emulator
        .tasks()
        .into_iter()
        .filter_map(|t| t.exitstatus)
        .filter(|e| e.contains("can't lock file '/var/lock/pve-manager/pve-storage-local-lvm' - got timeout"))
        .collect();
    assert!(!timeouts.is_empty(), "PVE's storage lock timeout happened (and the apply still succeeded)");
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");
    let guests = rt.block_on(client(&emu).cluster_resources(Some("vm"))).unwrap();
    assert_eq!(guests.iter().filter(|g| !g.template).count(), 6, "six VMs, no leftovers");
}

#[test]
fn one_local_template_serves_every_node() {
    let rt = runtime();
    let log = tempfile::NamedTempFile::new().unwrap();
    let path = log.path().to_path_buf();
    let emu = rt.block_on(emulator(|c| c.request_log = Some(path.clone())));
    let api = client(&emu);
    // A container template on pve1's local-lvm.
    let params = Params::new()
        .set("vmid", 250)
        .set("hostname", "base")
        .set("ostemplate", "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")
        .set("rootfs", "local-lvm:4")
        .set("unprivileged", 1)
        .set("net0", "name=eth0,bridge=vmbr0");
    let upid = rt.block_on(api.create_guest(GuestKind::Lxc, "pve1", &params)).unwrap();
    rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
    rt.block_on(api.convert_to_template(GuestKind::Lxc, "pve1", 250)).unwrap();
    let tf = Terraform::new(&format!(
        r#"{}
resource "pve_vm" "far" {{
  node       = "pve2"
  name       = "far"
  clone_vmid = 9000
  disk {{
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 8
  }}
  network {{}}
}}

resource "pve_lxc" "far" {{
  node       = "pve3"
  hostname   = "far-ct"
  clone_vmid = 250
  rootfs {{
    storage = "local-lvm"
    size    = 4
  }}
  network {{}}
}}
"#,
        provider_block(&emu)
    ));
    tf.init();
    apply(&tf);
    let guests = rt.block_on(api.cluster_resources(Some("vm"))).unwrap();
    let at = |name: &str| guests.iter().find(|g| g.name.as_deref() == Some(name)).and_then(|g| g.node.clone());
    assert_eq!(at("far").as_deref(), Some("pve2"), "the VM runs on pve2");
    assert_eq!(at("far-ct").as_deref(), Some("pve3"), "the container runs on pve3");
    let vm = guests.iter().find(|g| g.name.as_deref() == Some("far")).unwrap().vmid.unwrap();
    let config = rt.block_on(api.guest_config(GuestKind::Qemu, "pve2", vm)).unwrap();
    let disk = config.get_str("scsi0").unwrap();
    assert!(disk.starts_with("local-lvm:") && disk.contains("size=8G"), "its disk is on pve2's local-lvm, grown: {disk}");
    assert!(emu.emulator.cluster().find_volume("pve2", disk.split(',').next().unwrap()).is_some(), "the volume is on pve2");
    let migrations: Vec<_> =
        request_log(&path).into_iter().filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with("/migrate"))).collect();
    assert_eq!(migrations.len(), 2, "cloned on pve1, then migrated: {migrations:#?}");
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_disk_storage_change_moves_the_disk_in_place() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let vm = |storage: &str| {
        format!(
            r#"{}
resource "pve_vm" "db" {{
  node       = "pve1"
  name       = "db"
  clone_vmid = 9000
  disk {{
    slot    = "scsi0"
    storage = "{storage}"
    size    = 8
  }}
  network {{}}
}}
"#,
            provider_block(&emu)
        )
    };
    let tf = Terraform::new(&vm("local-lvm"));
    tf.init();
    apply(&tf);
    let api = client(&emu);
    let vmid =
        rt.block_on(api.cluster_resources(Some("vm"))).unwrap().iter().find(|g| g.name.as_deref() == Some("db")).unwrap().vmid.unwrap();
    let volume_of = |rt: &tokio::runtime::Runtime| {
        let config = rt.block_on(api.guest_config(GuestKind::Qemu, "pve1", vmid)).unwrap();
        config.get_str("scsi0").unwrap().split(',').next().unwrap().to_string()
    };
    let before = volume_of(&rt);
    // Data the VM wrote.
    {
        let mut cluster = emu.emulator.cluster();
        let volume = cluster.volumes.iter_mut().find(|v| v.volid == before).unwrap();
        volume.data = Some("rows of the database".into());
    }
    tf.write("main.tf", &vm("local-zfs"));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 2);
    assert!(out.contains("1 to change, 0 to destroy") && !out.contains("must be replaced"), "moved, not replaced:\n{out}");
    apply(&tf);
    let after = volume_of(&rt);
    assert!(after.starts_with("local-zfs:"), "{after}");
    let cluster = emu.emulator.cluster();
    assert_eq!(
        cluster.find_volume("pve1", &after).and_then(|v| v.data.clone()).as_deref(),
        Some("rows of the database"),
        "the data moved along"
    );
    assert!(cluster.find_volume("pve1", &before).is_none(), "the old volume is freed");
    drop(cluster);
    assert!(rt.block_on(api.locate_guest(vmid)).unwrap().is_some_and(|g| g.running), "the same VM, still running");
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn an_ha_rule_keeps_three_vms_apart_without_drift_and_imports() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    add_shared_storage(&emu);
    // Two of the three start on pve1: the rule is what moves one of them away.
    let config = format!(
        r#"{}
locals {{
  placement = {{ a = "pve1", b = "pve1", c = "pve2" }}
}}

resource "pve_vm" "cp" {{
  for_each = local.placement
  node     = each.value
  name     = "cp-${{each.key}}"
  disk {{
    slot    = "scsi0"
    storage = "ceph"
    size    = 4
  }}
  network {{}}
}}

resource "pve_ha_resource" "cp" {{
  for_each = pve_vm.cp
  vmid     = each.value.vmid
}}

resource "pve_ha_rule" "apart" {{
  rule      = "control-planes-apart"
  type      = "resource-affinity"
  affinity  = "negative"
  resources = [for ha in pve_ha_resource.cp : ha.sid]
  comment   = "one per node"
}}
"#,
        provider_block(&emu)
    );
    let tf = Terraform::new(&config);
    tf.init();
    apply(&tf);
    let api = client(&emu);
    let nodes = || {
        let guests = rt.block_on(api.cluster_resources(Some("vm"))).unwrap();
        let mut nodes: Vec<String> =
            guests.iter().filter(|g| g.name.as_deref().is_some_and(|n| n.starts_with("cp-"))).filter_map(|g| g.node.clone()).collect();
        nodes.sort();
        nodes
    };
    let waited = Instant::now();
    while nodes() != ["pve1", "pve2", "pve3"] {
        assert!(waited.elapsed() < Duration::from_secs(20), "HA spreads the three over three nodes: {:?}", nodes());
        std::thread::sleep(Duration::from_millis(200));
    }
    // A node fails: its VM has nowhere to go without joining another one, so it waits.
    emu.emulator.set_node_online("pve3", false);
    std::thread::sleep(Duration::from_secs(2));
    let now = nodes();
    let mut distinct = now.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), now.len(), "never two of them on one node: {now:?}");
    emu.emulator.set_node_online("pve3", true);
    let waited = Instant::now();
    while nodes() != ["pve1", "pve2", "pve3"] {
        assert!(waited.elapsed() < Duration::from_secs(20), "back on three nodes: {:?}", nodes());
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "HA moved a VM; that is no drift:\n{out}");

    // Another working directory adopts the rule.
    let rule = rt.block_on(api.list_ha_rules()).unwrap().into_iter().find(|r| r.rule == "control-planes-apart").unwrap();
    let sids: Vec<&str> = rule.resources.split(',').collect();
    let adopt = Terraform::new(&format!(
        r#"{}
resource "pve_ha_rule" "apart" {{
  rule      = "control-planes-apart"
  type      = "resource-affinity"
  affinity  = "negative"
  resources = {}
  comment   = "one per node"
}}

import {{
  to = pve_ha_rule.apart
  id = "control-planes-apart"
}}
"#,
        provider_block(&emu),
        serde_json::to_string(&sids).unwrap()
    ));
    adopt.init();
    let out = adopt.run(&["plan", "-input=false", "-no-color"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("1 to import, 0 to add, 0 to change, 0 to destroy"), "the imported rule plans clean:\n{}", out.stdout);
}

#[test]
fn ha_groups_and_bad_rules_are_refused_at_plan_with_no_writes() {
    let rt = runtime();
    let log = tempfile::NamedTempFile::new().unwrap();
    let path = log.path().to_path_buf();
    let emu = rt.block_on(emulator(|c| c.request_log = Some(path.clone())));
    let refused = |body: &str| {
        let tf = Terraform::new(&format!("{}{body}", provider_block(&emu)));
        tf.init();
        let out = tf.run(&["plan", "-input=false", "-no-color"]);
        assert_eq!(out.code, 1, "refused at plan:\n{}", out.all());
        out.all()
    };
    let group = refused("resource \"pve_ha_resource\" \"db\" {\n  vmid  = 9000\n  group = \"old\"\n}\n");
    assert!(group.contains("HA groups are not available") && group.contains("pve_ha_rule"), "{group}");
    let unknown_node = refused(
        "resource \"pve_ha_rule\" \"r\" {\n  rule      = \"pin\"\n  type      = \"node-affinity\"\n  nodes     = { pve9 = 1 }\n  resources = [\"vm:9000\"]\n}\n",
    );
    assert!(unknown_node.contains("Unknown node") && unknown_node.contains("pve9 not in the cluster"), "{unknown_node}");
    let empty = refused(
        "resource \"pve_ha_rule\" \"r\" {\n  rule      = \"pin\"\n  type      = \"node-affinity\"\n  nodes     = { pve1 = 1 }\n  resources = []\n}\n",
    );
    assert!(empty.contains("No resources"), "{empty}");
    let affinity = refused(
        "resource \"pve_ha_rule\" \"r\" {\n  rule      = \"pin\"\n  type      = \"node-affinity\"\n  nodes     = { pve1 = 1 }\n  affinity  = \"negative\"\n  resources = [\"vm:9000\"]\n}\n",
    );
    assert!(affinity.contains("affinity on a node-affinity rule"), "{affinity}");
    assert!(writes(&path).is_empty(), "nothing was written: {:#?}", writes(&path));
}
