//! From a bare cluster to templates, with the real Terraform: `modules/template` downloads a
//! cloud image (served from loopback) to every node and builds a cloud-init template from it,
//! clones of those templates apply and re-plan clean, a bad checksum fails and keeps nothing,
//! and storage mistakes are refused at plan time.

use pve_api::GuestKind::Qemu;
use pve_emulator::fixtures::{qcow2_image, serve_files};
use pve_home_tests::{Terraform, client, copy_tree, emulator, older_terraform_binary, provider_block, repo_root};
use sha2::{Digest, Sha256};

const GIB: u64 = 1 << 30;

/// A fault seed whose first task fails at `task_failure_rate = 0.5` and whose second does not.
const SEED_FIRST_TASK_FAILS: u64 = 6;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn apply(tf: &Terraform) -> pve_home_tests::TfOutput {
    tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"])
}

fn plan(tf: &Terraform) -> pve_home_tests::TfOutput {
    tf.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"])
}

/// A working directory with the repository's modules beside main.tf.
fn with_modules(main_tf: &str) -> Terraform {
    let tf = Terraform::new(main_tf);
    copy_tree(&repo_root().join("modules/template"), &tf.dir.path().join("modules/template"));
    tf
}

/// The cloud image: 64 KiB of qcow2 whose disk is 2 GiB, served with a container template.
fn image_server() -> (String, String) {
    let image = qcow2_image(2 * GIB, 64 << 10);
    let sum = hex::encode(Sha256::digest(&image));
    let base =
        serve_files(vec![("noble-server-cloudimg-amd64.img", image), ("debian-12-standard_12.7-1_amd64.tar.zst", b"tarball".to_vec())]);
    (base, sum)
}

fn template_module(base: &str, sum: &str) -> String {
    format!(
        r#"
module "ubuntu" {{
  source             = "./modules/template"
  url                = "{base}/noble-server-cloudimg-amd64.img"
  file_name          = "noble-server-cloudimg-amd64.qcow2"
  checksum           = "{sum}"
  checksum_algorithm = "sha256"
  nodes              = {{ pve1 = 9000, pve2 = 9001, pve3 = 9002 }}
  lxc_templates = {{
    debian = {{ url = "{base}/debian-12-standard_12.7-1_amd64.tar.zst" }}
  }}
}}

output "templates" {{ value = module.ubuntu.template_vmids }}
output "lxc" {{ value = module.ubuntu.lxc_template_volume_ids }}
"#
    )
}

const CLONES: &str = r#"
resource "pve_vm" "app" {
  for_each   = module.ubuntu.template_vmids
  node       = each.key
  name       = "app-${each.key}"
  clone_vmid = each.value
  started    = false
  cores      = 2
  memory     = 2048
  scsihw     = "virtio-scsi-pci"
  serial_console = true
  disk {
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 10
    discard = true
  }
  network {
    bridge = "vmbr0"
  }
  ip_config {
    ipv4 = "dhcp"
  }
}
"#;

#[test]
fn a_bare_cluster_gets_a_template_on_every_node_and_clones_of_them_replan_clean() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|c| c.bare = true));
    let api = client(&emu);
    let (base, sum) = image_server();
    let tf = with_modules(&format!("{}{}", provider_block(&emu), template_module(&base, &sum)));
    tf.init();
    let started = std::time::Instant::now();
    let out = apply(&tf);
    assert_eq!(out.code, 0, "{}", out.all());
    eprintln!("templates on 3 nodes from a bare cluster: {:?}", started.elapsed());
    let outputs = tf.outputs();
    assert_eq!(outputs["templates"]["value"], serde_json::json!({ "pve1": 9000, "pve2": 9001, "pve3": 9002 }));
    for (node, vmid) in [("pve1", 9000), ("pve2", 9001), ("pve3", 9002)] {
        let config = rt.block_on(api.guest_config(Qemu, node, vmid)).unwrap();
        assert!(config.flag("template"), "{node}: {config:?}");
        // Imported at the image's 2 GiB, grown to the module's 8, then made a base volume.
        assert_eq!(config.get_str("scsi0").unwrap(), format!("local-lvm:base-{vmid}-disk-0,discard=on,size=8G"));
        assert!(config.get_str("ide2").unwrap().contains("cloudinit"), "a cloud-init drive: {config:?}");
        assert_eq!(config.get_str("serial0").as_deref(), Some("socket"));
        assert_eq!(config.get_str("vga").as_deref(), Some("serial0"));
        assert_eq!(config.get_str("agent").as_deref(), Some("1"));
        assert_eq!(config.get_str("tags").as_deref(), Some("cloudinit;template"));
        let images = rt.block_on(api.storage_content(node, "local", Some("import"), None)).unwrap();
        assert_eq!(images.iter().map(|v| v.volid.as_str()).collect::<Vec<_>>(), ["local:import/noble-server-cloudimg-amd64.qcow2"]);
        assert_eq!(images[0].size, Some(64 << 10));
        assert_eq!(
            outputs["lxc"]["value"]["debian"][node],
            serde_json::json!("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"),
            "the container template is on every node"
        );
    }
    let out = plan(&tf);
    assert_eq!(out.code, 0, "the templates re-plan clean:\n{}", out.all());

    tf.write("clones.tf", CLONES);
    let out = apply(&tf);
    assert_eq!(out.code, 0, "{}", out.all());
    let resources = rt.block_on(api.cluster_resources(Some("vm"))).unwrap();
    for node in ["pve1", "pve2", "pve3"] {
        let clone = resources.iter().find(|r| r.name.as_deref() == Some(&format!("app-{node}"))).expect("a clone per node");
        assert_eq!(clone.node.as_deref(), Some(node), "each clone is on its template's node");
        assert!(!clone.template);
    }
    let out = plan(&tf);
    assert_eq!(out.code, 0, "templates and clones re-plan clean:\n{}", out.all());

    // An image deleted behind Terraform's back is gone from state: the plan downloads it again.
    let volid = "local:import/noble-server-cloudimg-amd64.qcow2";
    rt.block_on(api.delete_volume("pve3", "local", volid)).unwrap();
    let out = plan(&tf);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.all().contains(r#"module.ubuntu.pve_download_file.image["pve3"] will be created"#), "{}", out.all());
}

#[test]
fn a_bad_checksum_fails_naming_it_and_leaves_nothing() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|c| c.bare = true));
    let api = client(&emu);
    let (base, _) = image_server();
    let wrong = "0".repeat(64);
    let tf = Terraform::new(&format!(
        r#"{}
resource "pve_download_file" "image" {{
  node               = "pve2"
  storage            = "local"
  content            = "import"
  url                = "{base}/noble-server-cloudimg-amd64.img"
  file_name          = "noble.qcow2"
  checksum           = "{wrong}"
  checksum_algorithm = "sha256"
}}
"#,
        provider_block(&emu)
    ));
    tf.init();
    let out = apply(&tf);
    assert_ne!(out.code, 0, "{}", out.all());
    let text = pve_home_tests::flat(&out.all());
    assert!(text.contains("Download failed") && text.contains("checksum mismatch: got '"), "{text}");
    assert!(text.contains(&format!("!= expect '{wrong}'")), "PVE's message names the expected sum: {text}");
    assert!(
        text.contains("with pve_download_file.image,") && text.contains(&format!("checksum = \"{wrong}\"")),
        "on the checksum attribute: {text}"
    );
    let state = tf.run(&["state", "list"]);
    assert!(state.stdout.trim().is_empty(), "nothing in state: {}", state.all());
    assert!(rt.block_on(api.storage_content("pve2", "local", Some("import"), None)).unwrap().is_empty(), "no file kept");
}

/// `pve_download_file.NAME` of the served image to `noble.qcow2` on pve1, checked with `sum`.
fn image_download(name: &str, base: &str, sum: &str) -> String {
    format!(
        r#"
resource "pve_download_file" "{name}" {{
  node               = "pve1"
  storage            = "local"
  content            = "import"
  url                = "{base}/noble-server-cloudimg-amd64.img"
  file_name          = "noble.qcow2"
  checksum           = "{sum}"
  checksum_algorithm = "sha256"
}}
"#
    )
}

/// A file already on the storage is not Terraform's, even when its checksum matches (PVE would
/// keep it without downloading): the plan asks for an import, so a destroy never deletes it.
#[test]
fn a_file_already_there_is_for_import_even_with_a_matching_checksum() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|c| c.bare = true));
    let api = client(&emu);
    let (base, sum) = image_server();
    let config = |n: &str| format!("{}{}", provider_block(&emu), image_download(n, &base, &sum));
    // Someone else's copy of the image, made by another configuration.
    let other = Terraform::new(&config("theirs"));
    other.init();
    assert_eq!(apply(&other).code, 0);
    let tf = Terraform::new(&config("mine"));
    tf.init();
    let out = plan(&tf);
    let text = pve_home_tests::flat(&out.all());
    assert!(out.code == 1 && text.contains("File already there") && text.contains("terraform import"), "{text}");
    assert_eq!(rt.block_on(api.storage_content("pve1", "local", Some("import"), None)).unwrap().len(), 1, "the file stays");
}

#[test]
fn storage_mistakes_are_refused_at_plan_time() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|c| c.bare = true));
    let download = |storage: &str, content: &str, file: &str| {
        format!(
            r#"
resource "pve_download_file" "f" {{
  node    = "pve1"
  storage = "{storage}"
  content = "{content}"
  url     = "http://127.0.0.1:9/{file}"
}}
"#
        )
    };
    for (storage, content, file, expected) in [
        ("nas", "iso", "x.iso", "storage 'nas' does not exist on node pve1"),
        ("local-lvm", "import", "noble.qcow2", "Storage cannot hold import images"),
        ("backup", "vztmpl", "debian.tar.zst", "does not hold content type 'vztmpl'"),
    ] {
        let tf = Terraform::new(&format!("{}{}", provider_block(&emu), download(storage, content, file)));
        tf.init();
        let out = plan(&tf);
        assert_eq!(out.code, 1, "{storage}/{content} is refused:\n{}", out.all());
        assert!(out.all().contains(expected) && out.all().contains("storage = \""), "{expected}, on storage:\n{}", out.all());
    }
    // An .img name for import content is refused on the URL it came from, before any request.
    let tf = Terraform::new(&format!("{}{}", provider_block(&emu), download("local", "import", "noble-server-cloudimg-amd64.img")));
    tf.init();
    let out = plan(&tf);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.all().contains("invalid filename or wrong extension"), "{}", out.all());
    // A malformed checksum (a check of the configuration alone), and a disk imported from what
    // is no image (a check against the cluster).
    let checksum = r#"
resource "pve_download_file" "f" {
  node               = "pve1"
  storage            = "local"
  content            = "iso"
  url                = "http://127.0.0.1:9/x.iso"
  checksum           = "abc"
  checksum_algorithm = "sha512"
}
"#;
    let iso_disk = r#"
resource "pve_vm" "t" {
  node = "pve1"
  name = "t"
  disk {
    slot        = "scsi0"
    storage     = "local-lvm"
    size        = 4
    import_from = "local:iso/installer.iso"
  }
}
"#;
    for (config, expected) in [(checksum, "a sha512 checksum is 128 hex digits; got 3 characters"), (iso_disk, "Not a disk image")] {
        let tf = Terraform::new(&format!("{}{config}", provider_block(&emu)));
        tf.init();
        let out = plan(&tf);
        assert_eq!(out.code, 1, "{}", out.all());
        assert!(out.all().contains(expected), "{expected}:\n{}", out.all());
    }
    assert!(rt.block_on(client(&emu).cluster_resources(Some("vm"))).unwrap().is_empty(), "nothing was created");
}

/// A UEFI template built from scratch on pve1 (VMID 9100): the image downloaded, the disk
/// imported from it, EFI vars with enrolled keys, a TPM, a cloud-init drive.
fn ovmf_template(base: &str, sum: &str) -> String {
    format!(
        r#"resource "pve_download_file" "image" {{
  node               = "pve1"
  storage            = "local"
  content            = "import"
  url                = "{base}/noble-server-cloudimg-amd64.img"
  file_name          = "noble.qcow2"
  checksum           = "{sum}"
  checksum_algorithm = "sha256"
}}

resource "pve_vm" "t" {{
  node               = "pve1"
  vmid               = 9100
  name               = "noble-uefi"
  template           = true
  bios               = "ovmf"
  machine            = "q35"
  scsihw             = "virtio-scsi-pci"
  serial_console     = true
  cloud_init_storage = "local-lvm"
  disk {{
    slot        = "scsi0"
    storage     = "local-lvm"
    size        = 2
    import_from = pve_download_file.image.volume_id
  }}
  efi_disk {{
    storage           = "local-lvm"
    pre_enrolled_keys = true
  }}
  tpm_state {{
    storage = "local-lvm"
  }}
}}
"#
    )
}

#[test]
fn an_ovmf_template_from_scratch_imports_and_plans_clean() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|c| c.bare = true));
    let api = client(&emu);
    let (base, sum) = image_server();
    let config = format!("{}{}", provider_block(&emu), ovmf_template(&base, &sum));
    let tf = Terraform::new(&config);
    tf.init();
    let out = apply(&tf);
    assert_eq!(out.code, 0, "{}", out.all());
    let vm = rt.block_on(api.guest_config(Qemu, "pve1", 9100)).unwrap();
    assert!(vm.get_str("efidisk0").unwrap().contains("efitype=4m,pre-enrolled-keys=1"), "{vm:?}");
    assert!(vm.get_str("tpmstate0").unwrap().contains("version=v2.0"), "{vm:?}");
    assert_eq!(vm.get_str("scsi0").unwrap(), "local-lvm:base-9100-disk-0,size=2G", "the image's size, as asked");
    let out = plan(&tf);
    assert_eq!(out.code, 0, "re-plans clean:\n{}", out.all());

    // Forgotten and imported again (the file too): the plan is clean.
    let out = tf.run(&["state", "rm", "pve_vm.t", "pve_download_file.image"]);
    assert_eq!(out.code, 0, "{}", out.all());
    for (address, id) in [("pve_vm.t", "pve1/9100"), ("pve_download_file.image", "pve1/local:import/noble.qcow2")] {
        let out = tf.run(&["import", "-input=false", "-no-color", address, id]);
        assert_eq!(out.code, 0, "{}", out.all());
    }
    let out = tf.run(&["state", "show", "-no-color", "pve_download_file.image"]);
    assert!(
        out.stdout.contains(&format!("{base}/noble-server-cloudimg-amd64.img")),
        "the URL is read back from the task log: {}",
        out.all()
    );
    let out = plan(&tf);
    // PVE keeps no checksum: the imported file records the configured one in place.
    let text = out.all();
    assert!(!text.contains("pve_vm.t "), "the imported template plans clean:\n{text}");
    assert!(text.contains("pve_download_file.image will be updated in-place") && !text.contains("must be replaced"), "{text}");

    // Destroy removes the template and the file.
    let out = tf.run(&["destroy", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(rt.block_on(api.guest_config(Qemu, "pve1", 9100)).is_err(), "the template is gone");
    assert!(rt.block_on(api.storage_content("pve1", "local", Some("import"), None)).unwrap().is_empty(), "the image is gone");
}

#[test]
fn images_import_on_terraform_versions_without_write_only_attributes() {
    // Terraform 1.6 and 1.9 know no write-only attributes: import_from is kept in state there
    // (as clone_vmid is), and the template still applies and re-plans clean.
    let rt = runtime();
    let (base, sum) = image_server();
    for minor in ["1.6", "1.9"] {
        let emu = rt.block_on(emulator(|c| c.bare = true));
        let tf =
            Terraform::new(&format!("{}{}", provider_block(&emu), ovmf_template(&base, &sum))).with_binary(older_terraform_binary(minor));
        tf.init();
        let out = apply(&tf);
        assert_eq!(out.code, 0, "Terraform {minor}:\n{}", out.all());
        assert!(rt.block_on(client(&emu).guest_config(Qemu, "pve1", 9100)).unwrap().flag("template"), "Terraform {minor}");
        let out = plan(&tf);
        assert_eq!(out.code, 0, "Terraform {minor} re-plans clean:\n{}", out.all());
    }
}

#[test]
fn a_download_failing_for_a_passing_reason_is_sent_again() {
    let rt = runtime();
    // Seeded: the first download task fails on a storage lock timeout, the next succeeds.
    let emu = rt.block_on(emulator(|c| {
        c.bare = true;
        c.task_failure_rate = 0.5;
        c.seed = SEED_FIRST_TASK_FAILS;
    }));
    let api = client(&emu);
    let (base, sum) = image_server();
    let tf = Terraform::new(&format!("{}{}", provider_block(&emu), image_download("image", &base, &sum)));
    tf.init();
    let out = apply(&tf);
    assert_eq!(out.code, 0, "{}", out.all());
    let tasks: Vec<_> = emu.emulator.tasks().into_iter().filter(|t| t.upid.task_type == "download").collect();
    assert!(tasks.len() >= 2, "sent again after the failure: {tasks:?}");
    assert!(tasks.iter().any(|t| t.exitstatus.as_deref().is_some_and(|e| e.contains("got timeout"))), "{tasks:?}");
    assert_eq!(rt.block_on(api.storage_content("pve1", "local", Some("import"), None)).unwrap().len(), 1);
}
