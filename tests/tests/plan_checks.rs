//! "Every mistake a read can catch is caught at plan time, with no writes": each refusal of the
//! plan-time checks under the real Terraform against the emulator, on the attribute at fault,
//! with the emulator's request log showing that nothing was written; and a valid configuration
//! (local-lvm, local-zfs, a shared storage, both bridges, a clone across nodes from shared
//! storage, a template and an HA resource created in the same run) that plans and applies.

use pve_api::{GuestKind, Params, TaskWait};
use pve_emulator::RunningEmulator;
use pve_home_tests::{Terraform, client, emulator, provider_block, request_log};
use serde_json::Value;

const TEMPLATE_VOLUME: &str = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst";

/// An emulator with a request log and a Terraform directory for it.
struct Lab {
    rt: tokio::runtime::Runtime,
    emu: RunningEmulator,
    log: tempfile::NamedTempFile,
    tf: Terraform,
}

impl Lab {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let log = tempfile::NamedTempFile::new().unwrap();
        let path = log.path().to_path_buf();
        let emu = rt.block_on(emulator(|c| c.request_log = Some(path)));
        // The PVE_SSH_* variables count as an ssh configuration: snippets pass the SSH check
        // (no connection is made at plan time).
        let tf = Terraform::new(&provider_block(&emu)).env("PVE_SSH_USER", "root");
        tf.init();
        Self { rt, emu, log, tf }
    }

    fn requests(&self) -> Vec<Value> {
        request_log(self.log.path())
    }

    /// `terraform plan` of `resources`, which must fail without writing anything; its error
    /// diagnostics.
    fn refused(&self, resources: &str) -> Vec<Value> {
        let before = self.requests().len();
        self.tf.write("main.tf", &format!("{}{resources}", provider_block(&self.emu)));
        let out = self.tf.run(&["plan", "-input=false", "-no-color", "-json"]);
        assert_eq!(out.code, 1, "the plan is refused:\n{}", out.all());
        let writes = writes(&self.requests()[before..]);
        assert!(writes.is_empty(), "a refused plan writes nothing, but sent {writes:?}");
        diagnostics(&out.stdout)
    }
}

/// Requests that change something: anything but a GET, and the login (which the token never
/// needs anyway).
fn writes(requests: &[Value]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r["method"] != "GET" && !(r["method"] == "POST" && r["path"] == "/access/ticket"))
        .map(|r| format!("{} {}", r["method"].as_str().unwrap_or("?"), r["path"].as_str().unwrap_or("?")))
        .collect()
}

/// The error diagnostics of a `terraform plan -json` run.
fn diagnostics(json_lines: &str) -> Vec<Value> {
    json_lines
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["type"] == "diagnostic" && line["diagnostic"]["severity"] == "error")
        .map(|line| line["diagnostic"].clone())
        .collect()
}

/// One error with `summary` whose detail contains `detail`, pinned to `address` at the
/// configuration line containing `line` (Terraform quotes the attribute the path names).
fn assert_refusal(diags: &[Value], address: &str, summary: &str, detail: &str, line: &str) {
    let found =
        diags.iter().find(|d| d["summary"] == summary && d["address"] == address && d["detail"].as_str().unwrap_or("").contains(detail));
    let d = found.unwrap_or_else(|| panic!("no {summary:?} on {address} with {detail:?} in:\n{diags:#?}"));
    let code = d["snippet"]["code"].as_str().unwrap_or("");
    assert!(code.contains(line), "{summary} on {address} points at {code:?}, not at {line:?}");
}

#[test]
fn storages_that_cannot_take_the_volume_are_refused_at_plan() {
    let lab = Lab::new();
    let diags = lab.refused(&format!(
        r#"
resource "pve_vm" "nowhere" {{
  node    = "pve1"
  name    = "nowhere"
  started = false
  disk {{
    slot    = "scsi0"
    storage = "nas"
    size    = 4
  }}
}}
resource "pve_vm" "iso_store" {{
  node    = "pve1"
  name    = "iso-store"
  started = false
  disk {{
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 4
  }}
  disk {{
    slot    = "scsi1"
    storage = "local"
    size    = 4
  }}
}}
resource "pve_vm" "snippets" {{
  node            = "pve1"
  name            = "snippets"
  clone_vmid      = 9000
  install_docker  = true
  snippet_storage = "local-lvm"
  disk {{
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 4
  }}
}}
resource "pve_lxc" "rootfs" {{
  node            = "pve2"
  hostname        = "rootfs"
  template_volume = "{TEMPLATE_VOLUME}"
  rootfs {{
    storage = "backup"
    size    = 4
  }}
  mount_point {{
    slot    = "mp0"
    storage = "tank"
    size    = 4
    path    = "/data"
  }}
}}
"#
    ));
    assert_refusal(&diags, "pve_vm.nowhere", "Unknown storage", "storage 'nas' does not exist on node pve1", "storage = \"nas\"");
    assert_refusal(&diags, "pve_vm.nowhere", "Unknown storage", "storages for VM disks on pve1: local-lvm, local-zfs", "\"nas\"");
    assert_refusal(
        &diags,
        "pve_vm.iso_store",
        "Storage cannot hold VM disks",
        "storage 'local' does not hold content type 'images'",
        "storage = \"local\"",
    );
    assert_refusal(
        &diags,
        "pve_vm.snippets",
        "Storage cannot hold snippets",
        "storage 'local-lvm' does not hold content type 'snippets'",
        "snippet_storage = \"local-lvm\"",
    );
    assert_refusal(
        &diags,
        "pve_lxc.rootfs",
        "Storage cannot hold container volumes",
        "storage 'backup' does not hold content type 'rootdir'",
        "storage = \"backup\"",
    );
    assert_refusal(&diags, "pve_lxc.rootfs", "Unknown storage", "storage 'tank' does not exist on node pve2", "storage = \"tank\"");
    assert_eq!(diags.len(), 5, "one error per mistake, no more: {diags:#?}");
}

#[test]
fn clone_sources_and_template_volumes_that_do_not_exist_are_refused_at_plan() {
    let lab = Lab::new();
    let diags = lab.refused(
        r#"
resource "pve_vm" "orphan" {
  node       = "pve1"
  name       = "orphan"
  clone_vmid = 4242
  disk {
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 4
  }
}
resource "pve_lxc" "from_a_vm" {
  node       = "pve1"
  hostname   = "from-a-vm"
  clone_vmid = 9000
}
resource "pve_lxc" "no_template" {
  node            = "pve1"
  hostname        = "no-template"
  template_volume = "local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst"
  rootfs {
    storage = "local-lvm"
    size    = 4
  }
}
"#,
    );
    assert_refusal(&diags, "pve_vm.orphan", "Clone source not found", "no VM or template with VMID 4242", "clone_vmid = 4242");
    assert_refusal(
        &diags,
        "pve_lxc.from_a_vm",
        "Clone source not found",
        "VMID 9000 is a VM; a container clones from a container",
        "clone_vmid = 9000",
    );
    assert_refusal(
        &diags,
        "pve_lxc.no_template",
        "Template volume not found",
        &format!(
            "storage 'local' on node pve1 has no volume 'local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst'; templates there: {TEMPLATE_VOLUME}"
        ),
        "template_volume = \"local:vztmpl/debian-13",
    );
    assert_eq!(diags.len(), 3, "{diags:#?}");
}

#[test]
fn vmids_in_use_or_planned_twice_are_refused_at_plan() {
    let lab = Lab::new();
    let diags = lab.refused(&format!(
        r#"
resource "pve_vm" "taken" {{
  node    = "pve1"
  name    = "taken"
  vmid    = 9000
  started = false
}}
resource "pve_vm" "web" {{
  node    = "pve1"
  name    = "web1"
  vmid    = 300
  started = false
}}
resource "pve_lxc" "dns" {{
  node            = "pve2"
  hostname        = "dns1"
  vmid            = 300
  template_volume = "{TEMPLATE_VOLUME}"
  rootfs {{
    storage = "local-lvm"
    size    = 4
  }}
}}
"#
    ));
    assert_refusal(
        &diags,
        "pve_vm.taken",
        "VMID in use",
        "VMID 9000 is already used by VM 'ubuntu-2404-cloudinit' (a template) on pve1",
        "vmid    = 9000",
    );
    // Whichever of the two Terraform plans second is refused; the message names both.
    let duplicate = diags.iter().find(|d| d["summary"] == "Duplicate VMID").unwrap_or_else(|| panic!("{diags:#?}"));
    let detail = duplicate["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("VMID 300 is set for two guests: ") && detail.contains("pve_vm 'web1'") && detail.contains("pve_lxc 'dns1'"),
        "{detail}"
    );
    assert!(duplicate["snippet"]["code"].as_str().unwrap().contains("= 300"), "{duplicate:#?}");
    assert_eq!(diags.len(), 2, "{diags:#?}");
}

/// VMIDs that only become known during apply get past the plan; the apply refuses the second
/// guest before it writes, naming both.
#[test]
fn duplicate_vmids_known_only_at_apply_are_refused_there_naming_both() {
    let lab = Lab::new();
    // `0 * length(id)` is unknown until terraform_data is created: the VMIDs are known at apply only.
    lab.tf.write(
        "main.tf",
        &format!(
            r#"{}
resource "terraform_data" "later" {{}}
resource "pve_vm" "a" {{
  node    = "pve1"
  name    = "first"
  vmid    = 320 + 0 * length(terraform_data.later.id)
  started = false
}}
resource "pve_vm" "b" {{
  node    = "pve1"
  name    = "second"
  vmid    = 320 + 0 * length(terraform_data.later.id)
  started = false
}}
"#,
            provider_block(&lab.emu)
        ),
    );
    let out = lab.tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let all = out.all();
    assert!(all.contains("Error: Duplicate VMID"), "{all}");
    assert!(all.contains("VMID 320 is set for two guests") && all.contains("pve_vm 'first'") && all.contains("pve_vm 'second'"), "{all}");
    let guests = lab.rt.block_on(client(&lab.emu).cluster_resources(Some("vm"))).unwrap();
    assert_eq!(guests.iter().filter(|g| g.vmid == Some(320)).count(), 1, "one of the two was created, the other refused");
}

/// Values unknown at plan time pass the plan and are checked at apply, before anything is written.
#[test]
fn values_known_only_at_apply_are_checked_before_any_write() {
    let lab = Lab::new();
    // `substr(id, 0, 0)` is "" once terraform_data exists, and unknown until then.
    lab.tf.write(
        "main.tf",
        &format!(
            r#"{}
resource "terraform_data" "later" {{}}
resource "pve_vm" "vm" {{
  node    = "pve1"
  name    = "later"
  started = false
  disk {{
    slot    = "scsi0"
    storage = "nas${{substr(terraform_data.later.id, 0, 0)}}"
    size    = 4
  }}
  network {{
    bridge = "vmbr0${{substr(terraform_data.later.id, 0, 0)}}"
  }}
}}
resource "pve_ha_resource" "ghost" {{
  vmid = 4242 + 0 * length(terraform_data.later.id)
}}
"#,
            provider_block(&lab.emu)
        ),
    );
    let out = lab.tf.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    assert_eq!(out.code, 2, "unknown values pass the plan:\n{}", out.all());
    let out = lab.tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let all = out.all();
    assert!(all.contains("Error: Unknown storage") && all.contains("storage 'nas' does not exist on node pve1"), "{all}");
    assert!(all.contains("Error: Guest not found") && all.contains("no VM or container with VMID 4242"), "{all}");
    let writes = writes(&lab.requests());
    assert!(writes.is_empty(), "nothing was written: {writes:?}");
}

#[test]
fn ha_for_a_guest_that_does_not_exist_is_refused_at_plan() {
    let lab = Lab::new();
    let diags = lab.refused(
        r#"
resource "pve_ha_resource" "ghost" {
  vmid  = 4242
  state = "started"
}
"#,
    );
    assert_refusal(&diags, "pve_ha_resource.ghost", "Guest not found", "no VM or container with VMID 4242", "vmid  = 4242");
    assert_eq!(diags.len(), 1, "{diags:#?}");
}

#[test]
fn bridges_the_node_does_not_have_are_refused_at_plan() {
    let lab = Lab::new();
    let diags = lab.refused(&format!(
        r#"
resource "pve_vm" "vm" {{
  node    = "pve1"
  name    = "vm"
  started = false
  network {{
    bridge = "vmbr0"
  }}
  network {{
    bridge = "vmbr7"
  }}
}}
resource "pve_lxc" "ct" {{
  node            = "pve3"
  hostname        = "ct"
  template_volume = "{TEMPLATE_VOLUME}"
  rootfs {{
    storage = "local-lvm"
    size    = 4
  }}
  network {{
    bridge = "lan"
  }}
}}
"#
    ));
    assert_refusal(
        &diags,
        "pve_vm.vm",
        "Unknown bridge",
        "bridge 'vmbr7' does not exist on node pve1; bridges there: vmbr0, vmbr1",
        "bridge = \"vmbr7\"",
    );
    assert_refusal(&diags, "pve_lxc.ct", "Unknown bridge", "bridge 'lan' does not exist on node pve3", "bridge = \"lan\"");
    assert_eq!(diags.len(), 2, "{diags:#?}");
}

#[test]
fn more_vcpus_than_the_node_has_are_refused_at_plan() {
    let lab = Lab::new();
    let diags = lab.refused(&format!(
        r#"
resource "pve_vm" "big" {{
  node    = "pve1"
  name    = "big"
  started = false
  cores   = 12
  sockets = 2
}}
resource "pve_lxc" "big" {{
  node            = "pve2"
  hostname        = "big"
  cores           = 32
  template_volume = "{TEMPLATE_VOLUME}"
  rootfs {{
    storage = "local-lvm"
    size    = 4
  }}
}}
"#
    ));
    assert_refusal(
        &diags,
        "pve_vm.big",
        "Too many vCPUs",
        "cores × sockets = 12 × 2 = 24 vCPUs, but node pve1 has 16 CPUs: PVE refuses to start the VM",
        "cores   = 12",
    );
    assert_refusal(&diags, "pve_lxc.big", "Too many vCPUs", "cores = 32, but node pve2 has 16 CPUs", "cores           = 32");
    assert_eq!(diags.len(), 2, "{diags:#?}");
}

#[test]
fn linked_clones_to_another_node_from_local_storage_are_refused_at_plan() {
    let lab = Lab::new();
    let diags = lab.refused(
        r#"
resource "pve_vm" "far" {
  node       = "pve3"
  name       = "far"
  clone_vmid = 9000
  clone_full = false
  disk {
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 4
  }
}
"#,
    );
    assert_refusal(
        &diags,
        "pve_vm.far",
        "Linked clone on another node",
        "a linked clone stays on its template's node (pve1) and storage, and the template's volumes are local: set clone_full = true",
        "storage = \"local-lvm\"",
    );
    assert_eq!(diags.len(), 1, "{diags:#?}");
}

#[test]
fn a_valid_configuration_plans_and_applies_without_false_refusals() {
    let lab = Lab::new();
    pve_home_tests::add_shared_storage(&lab.emu);
    // A template on shared storage, on pve1.
    let api = client(&lab.emu);
    let params = Params::new().set("vmid", 9001).set("name", "shared-template").set("scsi0", "ceph:4").set("net0", "virtio,bridge=vmbr0");
    let upid = lab.rt.block_on(api.create_guest(GuestKind::Qemu, "pve1", &params)).unwrap();
    lab.rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
    if let Some(upid) = lab.rt.block_on(api.convert_to_template(GuestKind::Qemu, "pve1", 9001)).unwrap() {
        lab.rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
    }
    let config = |memory: u32| {
        format!(
            r#"{}
resource "pve_vm" "scratch" {{
  node    = "pve1"
  name    = "scratch"
  vmid    = 310
  started = false
  memory  = {memory}
  cores   = 4
  sockets = 4
  disk {{
    slot    = "scsi0"
    storage = "local-zfs"
    size    = 4
  }}
  network {{
    bridge = "vmbr1"
  }}
}}
resource "pve_vm" "clone" {{
  node       = "pve1"
  name       = "clone"
  clone_vmid = 9000
  started    = false
  disk {{
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 4
  }}
  network {{}}
}}
# Across nodes: the template and the clone's disk are on shared storage.
resource "pve_vm" "far" {{
  node       = "pve2"
  name       = "far"
  clone_vmid = 9001
  started    = false
  disk {{
    slot    = "scsi0"
    storage = "ceph"
    size    = 4
  }}
}}
# A template this run creates, and a clone of it: the source is checked once it exists.
resource "pve_vm" "golden" {{
  node     = "pve1"
  name     = "golden"
  vmid     = 9100
  template = true
  disk {{
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 4
  }}
}}
resource "pve_vm" "from_golden" {{
  node       = "pve1"
  name       = "from-golden"
  clone_vmid = pve_vm.golden.vmid
  started    = false
  disk {{
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 4
  }}
}}
resource "pve_lxc" "ct" {{
  node            = "pve2"
  hostname        = "ct"
  cores           = 16
  template_volume = "{TEMPLATE_VOLUME}"
  started         = false
  rootfs {{
    storage = "local-lvm"
    size    = 4
  }}
  mount_point {{
    slot    = "mp0"
    storage = "ceph"
    size    = 2
    path    = "/data"
  }}
  network {{
    bridge = "vmbr1"
  }}
}}
# HA for a VM this run creates with a fixed VMID.
resource "pve_ha_resource" "scratch" {{
  vmid  = pve_vm.scratch.vmid
  state = "stopped"
}}
"#,
            provider_block(&lab.emu)
        )
    };
    lab.tf.write("main.tf", &config(2048));
    let before = lab.requests().len();
    let out = lab.tf.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    assert_eq!(out.code, 2, "the plan passes:\n{}", out.all());
    assert!(writes(&lab.requests()[before..]).is_empty());
    let out = lab.tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "the apply passes:\n{}", out.all());
    let resources = lab.rt.block_on(api.cluster_resources(Some("vm"))).unwrap();
    let on = |name: &str| resources.iter().find(|r| r.name.as_deref() == Some(name)).and_then(|r| r.node.clone());
    assert_eq!(on("far").as_deref(), Some("pve2"), "cloned across nodes from shared storage");
    assert!(on("from-golden").is_some());
    assert_eq!(lab.rt.block_on(api.ha_resource("vm:310")).unwrap()["state"], "stopped");

    let out = lab.tf.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    assert_eq!(out.code, 0, "the apply re-plans clean:\n{}", out.all());

    // An update that keeps node, storages and bridges asks the cluster nothing new.
    lab.tf.write("main.tf", &config(4096));
    let before = lab.requests().len();
    let out = lab.tf.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode", "-refresh=false"]);
    assert_eq!(out.code, 2, "{}", out.all());
    let asked: Vec<String> = lab.requests()[before..].iter().map(|r| r["path"].as_str().unwrap_or("").to_string()).collect();
    assert!(
        !asked.iter().any(|p| p.contains("/storage") || p.contains("/network") || p.ends_with("/config")),
        "a memory change reads no storage, network or clone source: {asked:?}"
    );
}
