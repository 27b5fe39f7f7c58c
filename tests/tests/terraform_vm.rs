//! pve_vm under the real Terraform binary against the emulator: lifecycle, drift, import,
//! parallel clones, plan-time validation.

use pve_api::{GuestKind, Params};
use pve_home_tests::{Terraform, client, emulator, provider_block, request_log};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn web_vm(cores: u32, memory: u32, tags: &str, disk_gib: u32) -> String {
    format!(
        r#"
resource "pve_vm" "web" {{
  node        = "pve1"
  name        = "web1"
  clone_vmid  = 9000
  cores       = {cores}
  memory      = {memory}
  cpu_type    = "host"
  tags        = [{tags}]
  ci_user     = "ubuntu"
  ci_password = "correct-horse-battery"
  ci_ssh_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2e user@laptop"]
  ci_dns_servers = ["10.10.10.1"]

  disk {{
    slot     = "scsi0"
    storage  = "local-lvm"
    size     = {disk_gib}
    iothread = true
    discard  = true
  }}

  network {{
    bridge = "vmbr0"
    vlan   = 10
  }}

  ip_config {{
    ipv4    = "10.10.10.101/24"
    gateway = "10.10.10.1"
  }}
}}

output "vmid" {{ value = pve_vm.web.vmid }}
"#
    )
}

fn plan_code(tf: &Terraform) -> (i32, String) {
    let out = tf.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    (out.code, out.all())
}

fn apply(tf: &Terraform) {
    let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "apply failed:\n{}", out.all());
}

#[test]
fn lifecycle_update_drift_import_destroy() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let api = client(&emu);
    let tf = Terraform::new(&format!("{}{}", provider_block(&emu), web_vm(2, 4096, "\"Web\", \"rke2\"", 10)));
    tf.init();
    apply(&tf);
    let vmid = tf.outputs()["vmid"]["value"].as_u64().unwrap();
    assert_eq!(vmid, 100, "the lowest free VMID");
    let config = rt.block_on(api.guest_config(GuestKind::Qemu, "pve1", vmid)).unwrap();
    assert_eq!(config.get_str("tags").as_deref(), Some("rke2;web"));
    assert_eq!(config.get_str("scsi0").as_deref(), Some("local-lvm:vm-100-disk-0,iothread=1,discard=on,size=10G"));
    assert_eq!(config.get_str("ipconfig0").as_deref(), Some("ip=10.10.10.101/24,gw=10.10.10.1"));
    assert_eq!(config.get_str("cipassword").as_deref(), Some("**********"), "the password reached PVE");
    assert!(config.get_str("net0").unwrap().contains("tag=10"));
    let state = tf.run(&["show", "-json"]);
    assert!(!state.stdout.contains("correct-horse-battery"), "write-only password never enters state");
    let status = rt.block_on(api.guest_status(GuestKind::Qemu, "pve1", vmid)).unwrap();
    assert_eq!(status.status, "running");

    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "a fresh apply re-plans clean:\n{out}");

    // Tag order and case are not a change.
    tf.write("main.tf", &format!("{}{}", provider_block(&emu), web_vm(2, 4096, "\"RKE2\", \"web\"", 10)));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "tag order/case is no diff:\n{out}");

    // In-place update: cores, memory, tags, disk growth.
    tf.write("main.tf", &format!("{}{}", provider_block(&emu), web_vm(4, 8192, "\"web\", \"rke2\", \"prod\"", 20)));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 2);
    assert!(out.contains("1 to change, 0 to destroy") && !out.contains("must be replaced"), "{out}");
    apply(&tf);
    let config = rt.block_on(api.guest_config(GuestKind::Qemu, "pve1", vmid)).unwrap();
    assert_eq!(config.get_str("scsi0").as_deref(), Some("local-lvm:vm-100-disk-0,iothread=1,discard=on,size=20G"));
    assert_eq!(config.get_str("cores").as_deref(), Some("4"));
    assert_eq!(config.get_str("tags").as_deref(), Some("prod;rke2;web"));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");
    let shown: serde_json::Value = serde_json::from_str(&tf.run(&["show", "-json"]).stdout).unwrap();
    let attrs = &shown["values"]["root_module"]["resources"][0]["values"];
    assert_eq!(attrs["reboot_required"], true, "cores/memory of a running VM wait for a reboot");

    // Out-of-band change shows as drift and is put back.
    rt.block_on(api.update_config(GuestKind::Qemu, "pve1", vmid, &Params::new().set("memory", 1024))).unwrap();
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("memory") && out.contains("1024 -> 8192"), "{out}");
    apply(&tf);

    // Import into a fresh working directory with the same configuration: no changes.
    let imported = Terraform::new(&format!("{}{}", provider_block(&emu), web_vm(4, 8192, "\"web\", \"rke2\", \"prod\"", 20)));
    imported.init();
    let out = imported.run(&["import", "-input=false", "-no-color", "pve_vm.web", &format!("pve1/{vmid}")]);
    assert_eq!(out.code, 0, "{}", out.all());
    let (code, out) = plan_code(&imported);
    assert_eq!(code, 0, "import then plan shows no changes:\n{out}");

    let out = tf.run(&["destroy", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(rt.block_on(api.locate_guest(vmid)).unwrap().is_none());
}

#[test]
fn twenty_parallel_clones_of_one_template() {
    let rt = runtime();
    let log = tempfile::NamedTempFile::new().unwrap();
    let path = log.path().to_path_buf();
    // Full clones hold the template's lock for 3 x 50 ms, a slow one ten times as long; PVE's 10 s
    // lock wait applies.
    let emu = rt.block_on(emulator(|c| {
        c.task_ms = 50;
        c.slow_task_rate = 0.2;
        c.slow_task_factor = 10;
        c.request_log = Some(path.clone());
    }));
    let config = format!(
        r#"{}
resource "pve_vm" "node" {{
  count      = 20
  node       = "pve1"
  name       = "k8s-${{count.index}}"
  clone_vmid = 9000
  started    = false
  disk {{
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 4
  }}
  network {{}}
}}
output "vmids" {{ value = pve_vm.node[*].vmid }}
"#,
        provider_block(&emu)
    );
    let tf = Terraform::new(&config);
    tf.init();
    let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve", "-parallelism=10"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let vmids: Vec<u64> = tf.outputs()["vmids"]["value"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    let unique: std::collections::BTreeSet<u64> = vmids.iter().copied().collect();
    assert_eq!(unique.len(), 20, "every clone got its own VMID: {vmids:?}");
    let failures = request_log(&path).iter().filter(|r| r["status"] != 200).count();
    assert_eq!(failures, 0, "no lock timeouts, no VMID collisions");
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn bad_inputs_fail_at_plan_without_writes() {
    let rt = runtime();
    let log = tempfile::NamedTempFile::new().unwrap();
    let path = log.path().to_path_buf();
    let emu = rt.block_on(emulator(|c| c.request_log = Some(path.clone())));
    let config = format!(
        r#"{}
resource "pve_vm" "bad" {{
  node   = "pve9"
  name   = "bad"
  vmid   = 50
  memory = 8
  tags   = ["ok", "-bad"]
  disk {{
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 4
  }}
  ip_config {{
    ipv4 = "10.10.10.300/24"
  }}
}}
"#,
        provider_block(&emu)
    );
    let tf = Terraform::new(&config);
    tf.init();
    let out = tf.run(&["plan", "-input=false", "-no-color"]);
    assert_eq!(out.code, 1);
    let all = out.all();
    for expected in [
        "Invalid vmid",
        "must be between 100 and 999999999, got 50",
        "Invalid memory",
        "\"-bad\" is not a valid tag",
        "\"10.10.10.300/24\" must be \"dhcp\" or an IPv4 address",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
    // The node is checked once the static checks pass.
    let fixed = config
        .replace("vmid   = 50", "vmid   = 150")
        .replace("memory = 8", "memory = 1024")
        .replace(", \"-bad\"", "")
        .replace("10.10.10.300/24", "10.10.10.30/24");
    tf.write("main.tf", &fixed);
    let out = tf.run(&["plan", "-input=false", "-no-color"]);
    assert_eq!(out.code, 1);
    assert!(out.all().contains("node 'pve9' is not in the cluster; nodes are: pve1, pve2, pve3"), "{}", out.all());

    // Shrinking a disk is refused at plan time.
    tf.write(
        "main.tf",
        &fixed
            .replace("pve9", "pve1")
            .replace("size    = 4", "size    = 8")
            .replace("name   = \"bad\"", "name   = \"bad\"\n  started = false"),
    );
    apply(&tf);
    tf.write(
        "main.tf",
        &fixed
            .replace("pve9", "pve1")
            .replace("size    = 4", "size    = 6")
            .replace("name   = \"bad\"", "name   = \"bad\"\n  started = false"),
    );
    let out = tf.run(&["plan", "-input=false", "-no-color"]);
    assert_eq!(out.code, 1);
    assert!(out.all().contains("scsi0 is 8 GiB; it can grow but not shrink to 6 GiB"), "{}", out.all());
    let writes_before_shrink = request_log(&path).iter().filter(|r| r["method"] != "GET").count();
    let _ = tf.run(&["plan", "-input=false", "-no-color"]);
    assert_eq!(request_log(&path).iter().filter(|r| r["method"] != "GET").count(), writes_before_shrink, "plans never write");
}

const RKE2_LAYOUT: &str = r#"
locals {
  masters = { "rke2-master-1" = 101, "rke2-master-2" = 102, "rke2-master-3" = 103 }
  workers = { "rke2-worker-1" = 111, "rke2-worker-2" = 112, "rke2-worker-3" = 113 }
}

resource "pve_vm" "master" {
  for_each   = local.masters
  node       = "pve1"
  name       = each.key
  clone_vmid = 9000
  cores      = 2
  memory     = 4096
  cpu_type   = "host"
  scsihw     = "virtio-scsi-pci"
  tags       = ["rke2", "master"]
  ci_user    = "ubuntu"
  disk {
    slot     = "scsi0"
    storage  = "local-lvm"
    size     = 50
    iothread = true
  }
  network {}
  ip_config {
    ipv4    = "10.10.10.${each.value}/24"
    gateway = "10.10.10.1"
  }
}

resource "pve_vm" "worker" {
  for_each   = local.workers
  node       = "pve1"
  name       = each.key
  clone_vmid = 9000
  cores      = 3
  memory     = 12288
  cpu_type   = "host"
  scsihw     = "virtio-scsi-pci"
  tags       = ["rke2", "worker"]
  ci_user    = "ubuntu"
  disk {
    slot     = "scsi0"
    storage  = "local-lvm"
    size     = 100
    iothread = true
  }
  network {}
  ip_config {
    ipv4    = "10.10.10.${each.value}/24"
    gateway = "10.10.10.1"
  }
}

output "addresses" {
  value = sort(concat([for vm in pve_vm.master : vm.ip_config[0].ipv4], [for vm in pve_vm.worker : vm.ip_config[0].ipv4]))
}
"#;

#[test]
fn rke2_layout_applies_in_one_run_and_replans_clean() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let tf = Terraform::new(&format!("{}{RKE2_LAYOUT}", provider_block(&emu)));
    tf.init();
    apply(&tf);
    let addresses = tf.outputs()["addresses"]["value"].clone();
    assert_eq!(addresses.as_array().unwrap().len(), 6);
    assert_eq!(addresses[0], "10.10.10.101/24");
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");
    let api = client(&emu);
    let resources = rt.block_on(api.cluster_resources(Some("vm"))).unwrap();
    let workers: Vec<_> = resources.iter().filter(|r| r.tags.as_deref() == Some("rke2;worker")).collect();
    assert_eq!(workers.len(), 3);
    assert!(workers.iter().all(|w| w.maxmem == Some(12288 << 20) && w.maxcpu == Some(3.0) && w.status.as_deref() == Some("running")));
}

#[test]
fn apply_converges_under_injected_faults() {
    let rt = runtime();
    let log = tempfile::NamedTempFile::new().unwrap();
    let path = log.path().to_path_buf();
    let emu = rt.block_on(emulator(|c| {
        c.error_rate = 0.05;
        c.proxy_error_rate = 0.02;
        c.seed = 42;
        c.request_log = Some(path.clone());
    }));
    let tf = Terraform::new(&format!("{}{RKE2_LAYOUT}", provider_block(&emu)));
    tf.init();
    // A create that hit an ambiguous fault is reported, never retried blindly; a second apply
    // picks up where the first stopped (tainted guests are replaced, finished ones kept).
    let mut converged = false;
    for _ in 0..4 {
        let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
        if out.code == 0 {
            converged = true;
            break;
        }
    }
    assert!(converged, "apply converged within four runs");
    let faults = request_log(&path).iter().filter(|r| r["status"] == 500 || r["status"] == 596).count();
    assert!(faults >= 3, "faults were injected ({faults})");
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");
    let guests = rt.block_on(client(&emu).cluster_resources(Some("vm"))).unwrap();
    assert_eq!(guests.iter().filter(|r| r.tags.as_deref().is_some_and(|t| t.contains("rke2"))).count(), 6, "no orphans, no duplicates");
}

#[test]
fn query_finds_vms_and_import_blocks_take_an_identity() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|c| c.task_ms = 20));
    let api = client(&emu);
    // A VM made by hand, outside Terraform.
    let upid =
        rt.block_on(api.clone_guest(GuestKind::Qemu, "pve1", 9000, 321, &Params::new().set("name", "legacy").flag("full", true))).unwrap();
    rt.block_on(api.wait_task(&upid, pve_api::TaskWait::default())).unwrap();
    rt.block_on(api.update_config(GuestKind::Qemu, "pve1", 321, &Params::new().set("tags", "legacy"))).unwrap();

    let tf = Terraform::new(&provider_block(&emu));
    tf.write("find.tfquery.hcl", "list \"pve_vm\" \"legacy\" {\n  provider = pve\n  config {\n    tags = [\"legacy\"]\n  }\n}\n");
    tf.init();
    let out = tf.run(&["query", "-no-color"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("node=pve1,vmid=321") && out.stdout.contains("legacy (pve1/321)"), "{}", out.stdout);
    assert!(!out.stdout.contains("9000"), "templates are not listed");

    // Generated configuration plus its identity-based import block: one import, then a clean plan.
    let out = tf.run(&["query", "-no-color", "-generate-config-out=generated.tf"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let generated = std::fs::read_to_string(tf.dir.path().join("generated.tf")).unwrap();
    assert!(generated.contains("identity = {") && generated.contains("vmid = 321"), "{generated}");
    std::fs::remove_file(tf.dir.path().join("find.tfquery.hcl")).unwrap();
    let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("1 imported, 0 added"), "{}", out.stdout);
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "an imported VM plans clean against its generated configuration:\n{out}");
}

#[test]
fn cloud_init_snippets_go_over_sftp_and_update_in_place() {
    let rt = runtime();
    let sshd = pve_home_tests::Sshd::start();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_path_buf();
    let emu = rt.block_on(emulator(|c| c.data_dir = Some(data_dir.clone())));
    let provider = |known_hosts: &std::path::Path| pve_home_tests::provider_block_with_ssh(&emu, &sshd, known_hosts);
    let vm = |docker: bool| {
        format!(
            r#"
resource "pve_vm" "app" {{
  node                  = "pve1"
  name                  = "app1"
  clone_vmid            = 9000
  ci_user               = "ops"
  ci_ssh_keys           = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2e ops@laptop"]
  install_docker        = {docker}
  install_node_exporter = true
  security_updates      = true
  disk {{
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 8
  }}
  network {{}}
}}
"#
        )
    };
    let tf = Terraform::new(&format!("{}{}", provider(&sshd.known_hosts), vm(true)));
    tf.init();
    apply(&tf);
    let snippet = data_dir.join("local/snippets/pve-home-100-user.yaml");
    let text = std::fs::read_to_string(&snippet).expect("the snippet was written to the node");
    assert!(
        text.starts_with("#cloud-config")
            && text.contains("docker.io")
            && text.contains("prometheus-node-exporter")
            && text.contains("-security"),
        "{text}"
    );
    let api = client(&emu);
    let config = rt.block_on(api.guest_config(GuestKind::Qemu, "pve1", 100)).unwrap();
    assert_eq!(config.get_str("cicustom").as_deref(), Some("user=local:snippets/pve-home-100-user.yaml"));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");

    // Changing the snippet's inputs rewrites it in place.
    tf.write("main.tf", &format!("{}{}", provider(&sshd.known_hosts), vm(false)));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 2);
    assert!(out.contains("1 to change, 0 to destroy") && !out.contains("must be replaced"), "{out}");
    apply(&tf);
    let text = std::fs::read_to_string(&snippet).unwrap();
    assert!(!text.contains("docker.io") && text.contains("prometheus-node-exporter"), "{text}");
    assert!(rt.block_on(api.locate_guest(100)).unwrap().is_some(), "same VM");

    // A node whose host key is not known is refused, and nothing is created.
    let empty = sshd.dir.path().join("no_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let strict = Terraform::new(&format!("{}{}", provider(&empty), vm(true).replace("\"app\"", "\"other\"").replace("app1", "other1")));
    strict.init();
    let out = strict.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 1);
    assert!(out.all().contains("is not in") && out.all().contains("SHA256:"), "{}", out.all());
    assert!(rt.block_on(api.locate_guest(101)).unwrap().is_none(), "no VM was created without its snippet");

    let out = tf.run(&["destroy", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!snippet.exists(), "destroy removes the snippet");
}

#[test]
fn import_of_a_vm_with_generated_user_data_plans_clean() {
    let rt = runtime();
    let lab = rt.block_on(pve_home_tests::SshLab::start());
    let provider = lab.provider();
    let vm = r#"
resource "pve_vm" "docker" {
  node                  = "pve1"
  name                  = "docker1"
  clone_vmid            = 9000
  ci_user               = "ops"
  ci_ssh_keys           = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2e ops@laptop"]
  install_docker        = true
  install_node_exporter = true
  security_updates      = true
  disk {
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 8
  }
  network {}
}
"#;
    let made = Terraform::new(&format!("{provider}{vm}"));
    made.init();
    apply(&made);
    let vmid = made
        .run(&["state", "show", "-no-color", "pve_vm.docker"])
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("vmid").map(|v| v.trim().trim_start_matches('=').trim().to_string()));
    let vmid = vmid.expect("vmid in state");

    // Another working directory adopts the same VM with an import block.
    let adopted = Terraform::new(&format!("{provider}{vm}\nimport {{\n  to = pve_vm.docker\n  id = \"pve1/{vmid}\"\n}}\n"));
    adopted.init();
    let out = adopted.run(&["plan", "-input=false", "-no-color"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("1 to import, 0 to add, 0 to change, 0 to destroy"), "the import plans clean:\n{}", out.stdout);
}

#[test]
fn failed_creates_leave_no_orphans() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|c| {
        c.permanent_task_failure_rate = 0.3;
        c.seed = 11;
    }));
    let config = format!(
        r#"{}
resource "pve_vm" "flaky" {{
  count      = 6
  node       = "pve1"
  name       = "flaky-${{count.index}}"
  clone_vmid = 9000
  disk {{
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 4
  }}
  network {{}}
}}
"#,
        provider_block(&emu)
    );
    let tf = Terraform::new(&config);
    tf.init();
    let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 1, "some tasks fail:\n{}", out.all());
    let in_state = tf.run(&["state", "list"]).stdout.lines().count();
    let guests = rt.block_on(client(&emu).cluster_resources(Some("vm"))).unwrap();
    let in_pve = guests.iter().filter(|g| !g.template).count();
    assert_eq!(in_state, in_pve, "every guest PVE has is in state (tainted if half-made):\n{}", out.all());
    let plan = tf.run(&["plan", "-input=false", "-no-color"]);
    assert!(plan.stdout.contains("6 to add") || plan.stdout.contains("to add"), "{}", plan.stdout);
}

#[test]
fn vm_from_scratch_and_protection() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let vm = |protection: bool| {
        format!(
            r#"{}
resource "pve_vm" "db" {{
  node       = "pve2"
  vmid       = 500
  name       = "db1"
  started    = false
  protection = {protection}
  bios       = "ovmf"
  machine    = "q35"
  disk {{
    slot    = "virtio0"
    storage = "local-zfs"
    size    = 32
    discard = true
  }}
  disk {{
    slot    = "virtio1"
    storage = "local-zfs"
    size    = 100
    backup  = false
  }}
  network {{
    bridge   = "vmbr1"
    firewall = true
    mtu      = 9000
  }}
}}
"#,
            provider_block(&emu)
        )
    };
    let tf = Terraform::new(&vm(true).replace("discard = true", "ssd = true"));
    tf.init();
    let out = tf.run(&["plan", "-input=false", "-no-color"]);
    assert!(out.code == 1 && out.all().contains("ssd is available on scsi, sata and ide disks, not virtio"), "{}", out.all());
    tf.write("main.tf", &vm(true));
    apply(&tf);
    let api = client(&emu);
    let config = rt.block_on(api.guest_config(GuestKind::Qemu, "pve2", 500)).unwrap();
    assert_eq!(config.get_str("virtio0").as_deref(), Some("local-zfs:vm-500-disk-0,discard=on,size=32G"));
    assert_eq!(config.get_str("virtio1").as_deref(), Some("local-zfs:vm-500-disk-1,backup=0,size=100G"));
    assert!(config.get_str("net0").unwrap().contains("bridge=vmbr1,firewall=1,mtu=9000"), "{:?}", config.get_str("net0"));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");
    let out = tf.run(&["destroy", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 1);
    assert!(out.all().contains("VM 500 has protection enabled"), "{}", out.all());
    assert!(rt.block_on(api.locate_guest(500)).unwrap().is_some(), "a protected VM survives destroy");
    tf.write("main.tf", &vm(false));
    apply(&tf);
    let out = tf.run(&["destroy", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(rt.block_on(api.locate_guest(500)).unwrap().is_none());
}

#[test]
fn ha_migration_is_not_drift() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let tf = Terraform::new(&format!(
        "{}\nresource \"pve_vm\" \"ha\" {{\n  node = \"pve1\"\n  name = \"ha1\"\n  started = false\n  disk {{\n    slot = \"scsi0\"\n    storage = \"local-zfs\"\n    size = 4\n  }}\n}}\n",
        provider_block(&emu)
    ));
    tf.init();
    apply(&tf);
    // What an HA relocation does: the guest (and its config) now lives on another node.
    emu.emulator.cluster().guests.get_mut(&100).expect("created").node = "pve3".into();
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "a VM that HA moved plans clean:\n{out}");
    let out = tf.run(&["apply", "-refresh-only", "-auto-approve", "-input=false", "-no-color"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let shown: serde_json::Value = serde_json::from_str(&tf.run(&["show", "-json"]).stdout).unwrap();
    let attrs = &shown["values"]["root_module"]["resources"][0]["values"];
    assert_eq!(
        (attrs["node"].as_str(), attrs["current_node"].as_str()),
        (Some("pve1"), Some("pve3")),
        "current_node follows the VM; node stays as configured"
    );
    let out = tf.run(&["destroy", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "destroy finds the VM on its new node:\n{}", out.all());
}

#[test]
fn removing_a_disk_spares_disks_detached_by_hand() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let api = client(&emu);
    let vm = |slots: &[&str]| {
        let disks: String = slots
            .iter()
            .map(|s| format!("  disk {{\n    slot    = \"{s}\"\n    storage = \"local-lvm\"\n    size    = 4\n  }}\n"))
            .collect();
        format!(
            "{}\nresource \"pve_vm\" \"d\" {{\n  node    = \"pve1\"\n  name    = \"disks\"\n  started = false\n{disks}}}\n",
            provider_block(&emu)
        )
    };
    let tf = Terraform::new(&vm(&["scsi0", "scsi1", "scsi2"]));
    tf.init();
    apply(&tf);
    let config = rt.block_on(api.guest_config(GuestKind::Qemu, "pve1", 100)).unwrap();
    let kept_by_hand = config.get_str("scsi1").unwrap().split(',').next().unwrap().to_string();
    let removed = config.get_str("scsi2").unwrap().split(',').next().unwrap().to_string();
    // An operator detaches scsi1 to keep its data: it becomes unused0.
    rt.block_on(api.update_config(GuestKind::Qemu, "pve1", 100, &Params::new().set("delete", "scsi1"))).unwrap();
    // The configuration drops scsi2 (and keeps wanting a scsi1, which is created anew).
    tf.write("main.tf", &vm(&["scsi0", "scsi1"]));
    apply(&tf);
    let volumes: Vec<String> =
        rt.block_on(api.storage_content("pve1", "local-lvm", Some("images"), Some(100))).unwrap().into_iter().map(|v| v.volid).collect();
    assert!(volumes.contains(&kept_by_hand), "the hand-detached disk survives: {volumes:?}");
    assert!(!volumes.contains(&removed), "the disk the configuration removed is gone: {volumes:?}");
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn interrupt_stops_waiting_and_keeps_the_guest_in_state() {
    let rt = runtime();
    // A full clone that takes 3 x 20 s: far longer than this test waits.
    let emu = rt.block_on(emulator(|c| c.task_ms = 20_000));
    let tf = Terraform::new(&format!(
        "{}\nresource \"pve_vm\" \"slow\" {{\n  node = \"pve1\"\n  name = \"slow\"\n  clone_vmid = 9000\n  started = false\n  disk {{\n    slot = \"scsi0\"\n    storage = \"local-lvm\"\n    size = 4\n  }}\n}}\n",
        provider_block(&emu)
    ));
    tf.init();
    let mut apply = tf.spawn(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    // Wait until the clone has started in PVE.
    let api = client(&emu);
    for _ in 0..100 {
        if rt.block_on(api.locate_guest(100)).unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let started = std::time::Instant::now();
    std::process::Command::new("kill").args(["-INT", &apply.id().to_string()]).status().unwrap();
    let status = apply.wait().unwrap();
    let waited = started.elapsed();
    assert!(!status.success());
    assert!(waited < std::time::Duration::from_secs(15), "Ctrl-C ends the apply promptly ({waited:?}), not after the 60 s clone");
    let state = tf.run(&["state", "list"]);
    assert!(state.stdout.contains("pve_vm.slow"), "the half-made clone is kept in state:\n{}", state.all());
}

#[test]
fn write_only_user_data_never_reaches_state_and_its_version_rewrites_the_snippet() {
    let rt = runtime();
    let lab = rt.block_on(pve_home_tests::SshLab::start());
    let (data_dir, provider) = (lab.data_dir().to_path_buf(), lab.provider());
    let vm = |secret: &str, version: &str| {
        format!(
            r##"
resource "pve_vm" "minio" {{
  node                 = "pve1"
  name                 = "minio"
  clone_vmid           = 9000
  user_data_wo         = "#cloud-config\nwrite_files:\n  - path: /etc/minio.env\n    content: MINIO_ROOT_PASSWORD={secret}\n"
  user_data_wo_version = "{version}"
  disk {{
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 8
  }}
  network {{}}
}}
"##
        )
    };
    let tf = Terraform::new(&format!("{provider}{}", vm("first-s3cr3t", "1")));
    tf.init();
    apply(&tf);
    let snippet = data_dir.join("local/snippets/pve-home-100-user.yaml");
    assert!(std::fs::read_to_string(&snippet).unwrap().contains("MINIO_ROOT_PASSWORD=first-s3cr3t"));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&snippet).unwrap().permissions()) & 0o777;
    assert_eq!(mode, 0o600, "the snippet may carry secrets");
    let state = tf.run(&["state", "pull"]).stdout;
    assert!(!state.contains("first-s3cr3t"), "write-only: not in state");
    assert!(state.contains("\"user_data_wo_version\": \"1\""), "{state}");
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");

    // A new value with the same version is not compared (write-only), so nothing is planned…
    tf.write("main.tf", &format!("{provider}{}", vm("second-s3cr3t", "1")));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");
    // …and a new version rewrites the snippet in place.
    tf.write("main.tf", &format!("{provider}{}", vm("second-s3cr3t", "2")));
    let (code, out) = plan_code(&tf);
    assert!(code == 2 && out.contains("1 to change, 0 to destroy") && !out.contains("second-s3cr3t"), "{out}");
    apply(&tf);
    assert!(std::fs::read_to_string(&snippet).unwrap().contains("MINIO_ROOT_PASSWORD=second-s3cr3t"));
    assert!(!tf.run(&["state", "pull"]).stdout.contains("s3cr3t"));

    // Without a version the value could never be updated: refused at plan.
    tf.write("main.tf", &format!("{provider}{}", vm("x", "2").replace("  user_data_wo_version = \"2\"\n", "")));
    let out = tf.run(&["plan", "-input=false", "-no-color"]);
    assert!(out.code == 1 && out.all().contains("user_data_wo needs a version"), "{}", out.all());
}

/// A module that gives a VM either its own user-data or PVE's password (one conditional on an
/// input, as modules/vm does) validates: at validate time both are unknown, and only values known
/// to be set conflict. Known to be set together, they are still refused at plan.
#[test]
fn password_and_own_user_data_conflict_only_when_both_are_known() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let guest = r##"
terraform {
  required_providers {
    pve = { source = "pve-home/pve" }
  }
}
variable "own_user_data" { type = bool }
variable "password" {
  type      = string
  sensitive = true
}
resource "pve_vm" "this" {
  node                 = "pve1"
  name                 = "guest"
  clone_vmid           = 9000
  ci_password          = var.own_user_data ? null : var.password
  user_data_wo         = var.own_user_data ? "#cloud-config\n" : null
  user_data_wo_version = var.own_user_data ? "1" : null
  disk {
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 8
  }
  network {}
}
"##;
    let root = |own: bool| {
        format!(
            "{}\nmodule \"guest\" {{\n  source        = \"./guest\"\n  own_user_data = {own}\n  password      = \"a-password-of-length\"\n}}\n",
            provider_block(&emu)
        )
    };
    let tf = Terraform::new(&root(true));
    std::fs::create_dir_all(tf.dir.path().join("guest")).unwrap();
    tf.write("guest/main.tf", guest);
    tf.init();
    let out = tf.run(&["validate", "-no-color"]);
    assert_eq!(out.code, 0, "unknown values are no conflict:\n{}", out.all());
    // At plan the values are known (own user-data, no password): no conflict. (The plan stops
    // later, at the missing ssh block this test leaves out; the check runs before that.)
    let out = tf.run(&["plan", "-input=false", "-no-color"]);
    assert!(!out.all().contains("Password with generated user-data"), "{}", out.all());

    // Both known and set: the provider refuses the password PVE would ignore.
    tf.write("guest/main.tf", &guest.replace("var.own_user_data ? null : var.password", "var.password"));
    let out = tf.run(&["plan", "-input=false", "-no-color"]);
    assert!(out.code == 1 && out.all().contains("Password with generated user-data"), "{}", out.all());
}

/// A disk, then a NIC, added to an applied VM: each apply settles and re-plans clean.
#[test]
fn a_disk_then_a_nic_added_later_plan_clean() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let api = client(&emu);
    let vm = |extra: &str| {
        format!(
            "{}\nresource \"pve_vm\" \"app\" {{\n  node = \"pve1\"\n  name = \"app1\"\n  clone_vmid = 9000\n  disk {{\n    slot = \"scsi0\"\n    storage = \"local-lvm\"\n    size = 8\n  }}\n  network {{}}\n{extra}}}\n",
            provider_block(&emu)
        )
    };
    let tf = Terraform::new(&vm(""));
    tf.init();
    apply(&tf);
    let disk = "  disk {\n    slot = \"scsi1\"\n    storage = \"local-lvm\"\n    size = 4\n    discard = true\n  }\n";
    tf.write("main.tf", &vm(disk));
    apply(&tf);
    assert!(rt.block_on(api.guest_config(GuestKind::Qemu, "pve1", 100)).unwrap().get_str("scsi1").is_some());
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "clean after adding a disk:\n{out}");
    tf.write("main.tf", &vm(&format!("{disk}  network {{\n    bridge = \"vmbr1\"\n    firewall = true\n  }}\n")));
    apply(&tf);
    assert!(rt.block_on(api.guest_config(GuestKind::Qemu, "pve1", 100)).unwrap().get_str("net1").is_some_and(|n| n.contains("vmbr1")));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "clean after adding a NIC:\n{out}");
}
