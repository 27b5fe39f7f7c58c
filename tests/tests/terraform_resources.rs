//! pve_backup_job, pve_snapshot and pve_ha_resource under the real Terraform binary.

use pve_api::{GuestKind, Params, TaskWait};
use pve_home_tests::{Terraform, client, emulator, provider_block};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn plan_code(tf: &Terraform) -> (i32, String) {
    let out = tf.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    (out.code, out.all())
}

fn apply(tf: &Terraform) {
    let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "apply failed:\n{}", out.all());
}

const POLICIES: &str = r#"
resource "pve_backup_job" "prod" {
  id            = "prod-daily"
  schedule      = "*-*-* 01:00"
  storage       = "backup"
  vmids         = [100]
  notes_template = "{{guestname}}"
  retention {
    keep_daily  = 7
    keep_weekly = 4
  }
}

resource "pve_backup_job" "lab" {
  id       = "lab-weekly"
  schedule = "sun 03:00"
  storage  = "backup"
  all      = true
  exclude  = [9000]
  retention {
    keep_weekly = 3
  }
}

resource "pve_backup_job" "monitoring" {
  id       = "monitoring-daily"
  schedule = "02:00"
  storage  = "backup"
  pool     = "monitoring"
  comment  = "monitoring stack"
  retention {
    keep_daily = 7
  }
}

output "prod_next" { value = pve_backup_job.prod.next_run }
"#;

#[test]
fn backup_jobs_for_the_seed_policies() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let api = client(&emu);
    rt.block_on(api.create_pool("monitoring", None)).unwrap();
    let upid =
        rt.block_on(api.clone_guest(GuestKind::Qemu, "pve1", 9000, 100, &Params::new().set("name", "db1").flag("full", true))).unwrap();
    rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();

    let tf = Terraform::new(&format!("{}{POLICIES}", provider_block(&emu)));
    tf.init();
    apply(&tf);
    let jobs = rt.block_on(api.backup_jobs()).unwrap();
    assert_eq!(jobs.len(), 3);
    let prod = rt.block_on(api.backup_job("prod-daily")).unwrap();
    assert_eq!(prod["prune-backups"], "keep-daily=7,keep-weekly=4");
    assert_eq!(prod["compress"], "zstd");
    let next = tf.outputs()["prod_next"]["value"].as_i64().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!(next > now && next - now <= 86_400, "next run within a day: {next} vs {now}");
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");

    // The job runs through vzdump (as PVE's scheduler does) and leaves archives.
    let upid = rt.block_on(api.vzdump("pve1", &Params::new().set("job-id", "prod-daily"))).unwrap();
    rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
    let archives = rt.block_on(api.storage_content("pve1", "backup", Some("backup"), Some(100))).unwrap();
    assert_eq!(archives.len(), 1);
    assert!(archives[0].volid.ends_with(".vma.zst") && archives[0].notes.as_deref() == Some("db1"), "{:?}", archives[0]);

    // Out-of-band change is drift; an in-place update puts it back.
    rt.block_on(api.update_backup_job("lab-weekly", &Params::new().set("schedule", "sat 03:00"))).unwrap();
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 2);
    assert!(out.contains("\"sat 03:00\" -> \"sun 03:00\"") && out.contains("1 to change"), "{out}");
    apply(&tf);

    let imported = Terraform::new(&format!("{}{POLICIES}", provider_block(&emu)));
    imported.init();
    for (address, id) in
        [("pve_backup_job.prod", "prod-daily"), ("pve_backup_job.lab", "lab-weekly"), ("pve_backup_job.monitoring", "monitoring-daily")]
    {
        let out = imported.run(&["import", "-input=false", "-no-color", address, id]);
        assert_eq!(out.code, 0, "{}", out.all());
    }
    let (code, out) = plan_code(&imported);
    assert_eq!(code, 0, "imported jobs plan clean:\n{out}");

    let out = tf.run(&["destroy", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(rt.block_on(api.backup_jobs()).unwrap().is_empty());
}

#[test]
fn backup_job_bad_inputs_fail_at_plan() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let bad = r#"
resource "pve_backup_job" "bad" {
  schedule = "sun 25:00"
  storage  = "backup"
  vmids    = [100]
  all      = true
}
resource "pve_backup_job" "nowhere" {
  schedule = "daily"
  storage  = "nas"
  all      = true
}
resource "pve_backup_job" "images" {
  schedule = "daily"
  storage  = "local-lvm"
  pool     = "x"
  exclude  = [100]
}
"#;
    let tf = Terraform::new(&format!("{}{bad}", provider_block(&emu)));
    tf.init();
    let out = tf.run(&["validate", "-no-color"]);
    assert_eq!(out.code, 1);
    let all = out.all();
    assert!(all.contains("unable to parse calendar event 'sun 25:00'"), "{all}");
    assert!(all.contains("vmids and all cannot be combined"), "{all}");
    assert!(all.contains("exclude only applies together with all = true"), "{all}");
    let fixed = bad.replace("sun 25:00", "sun 03:00").replace("  vmids    = [100]\n", "").replace("  exclude  = [100]\n", "");
    tf.write("main.tf", &format!("{}{fixed}", provider_block(&emu)));
    let out = tf.run(&["plan", "-input=false", "-no-color"]);
    assert_eq!(out.code, 1);
    assert!(out.all().contains("storage 'nas' does not exist"), "{}", out.all());
    assert!(out.all().contains("storage 'local-lvm' holds images,rootdir, not backup"), "{}", out.all());
}

#[test]
fn snapshots_and_ha() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let api = client(&emu);
    let upid =
        rt.block_on(api.clone_guest(GuestKind::Qemu, "pve1", 9000, 100, &Params::new().set("name", "app").flag("full", true))).unwrap();
    rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
    let config = |description: &str, state: &str| {
        format!(
            r#"{}
resource "pve_snapshot" "before_upgrade" {{
  vmid        = 100
  name        = "before-upgrade"
  description = "{description}"
}}
resource "pve_ha_resource" "app" {{
  vmid         = 100
  state        = "{state}"
  max_relocate = 2
}}
"#,
            provider_block(&emu)
        )
    };
    let tf = Terraform::new(&config("first", "started"));
    tf.init();
    apply(&tf);
    let snapshots = rt.block_on(api.snapshots(GuestKind::Qemu, "pve1", 100)).unwrap();
    assert!(snapshots.iter().any(|s| s.name == "before-upgrade" && s.description.as_deref() == Some("first")));
    let ha = rt.block_on(api.ha_resource("vm:100")).unwrap();
    assert_eq!((ha["state"].as_str(), ha["max_relocate"].as_i64()), (Some("started"), Some(2)));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");

    // Out-of-band changes show as drift.
    rt.block_on(
        api.put::<serde_json::Value>("/nodes/pve1/qemu/100/snapshot/before-upgrade/config", &Params::new().set("description", "edited")),
    )
    .unwrap();
    rt.block_on(api.update_ha_resource("vm:100", &Params::new().set("max_relocate", 5))).unwrap();
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 2);
    assert!(out.contains("\"edited\" -> \"first\"") && out.contains("5 -> 2"), "{out}");

    tf.write("main.tf", &config("second", "stopped"));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 2);
    assert!(out.contains("2 to change, 0 to destroy"), "description and HA state change in place:\n{out}");
    apply(&tf);
    assert_eq!(rt.block_on(api.ha_resource("vm:100")).unwrap()["state"], "stopped");

    let imported = Terraform::new(&config("second", "stopped"));
    imported.init();
    assert_eq!(imported.run(&["import", "-no-color", "pve_snapshot.before_upgrade", "pve1/100/before-upgrade"]).code, 0);
    assert_eq!(imported.run(&["import", "-no-color", "pve_ha_resource.app", "vm:100"]).code, 0);
    let (code, out) = plan_code(&imported);
    assert_eq!(code, 0, "{out}");

    let reserved =
        Terraform::new(&format!("{}\nresource \"pve_snapshot\" \"x\" {{\n  vmid = 100\n  name = \"current\"\n}}\n", provider_block(&emu)));
    reserved.init();
    let out = reserved.run(&["validate", "-no-color"]);
    assert!(out.code == 1 && out.all().contains("\"current\" and \"pending\" are reserved by PVE"), "{}", out.all());

    let out = tf.run(&["destroy", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!rt.block_on(api.snapshots(GuestKind::Qemu, "pve1", 100)).unwrap().iter().any(|s| s.name == "before-upgrade"));
    assert!(rt.block_on(api.ha_resources()).unwrap().is_empty());
}

#[test]
fn lifecycle_tags_coexist_with_vm_tags() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let api = client(&emu);
    let config = |vm_tags: &str, lifecycle: &str| {
        format!(
            r#"{}
resource "pve_vm" "lab" {{
  node    = "pve1"
  name    = "lab1"
  started = false
  tags    = [{vm_tags}]
  disk {{
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 4
  }}
}}
resource "pve_lifecycle_tag" "lab" {{
  vmid = pve_vm.lab.vmid
{lifecycle}
}}
"#,
            provider_block(&emu)
        )
    };
    let tf = Terraform::new(&config("\"web\"", "  environment = \"Lab\"\n  expiration_days = 14"));
    tf.init();
    apply(&tf);
    let expires = (chrono::Utc::now().date_naive() + chrono::Duration::days(14)).format("%Y-%m-%d").to_string();
    let tags = rt.block_on(api.guest_config(GuestKind::Qemu, "pve1", 100)).unwrap().get_str("tags").unwrap();
    assert_eq!(tags, format!("environment-lab;expires-{expires};web"));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "the VM ignores lifecycle tags and the lifecycle tag ignores the rest:\n{out}");

    // Someone removes the expiry tag by hand: drift, put back on apply.
    rt.block_on(api.update_config(GuestKind::Qemu, "pve1", 100, &Params::new().set("tags", "environment-lab;web"))).unwrap();
    let (code, out) = plan_code(&tf);
    assert!(code == 2 && out.contains("pve_lifecycle_tag.lab will be updated"), "{out}");
    apply(&tf);

    // The VM's own tags change; the lifecycle tags stay.
    tf.write("main.tf", &config("\"web\", \"db\"", "  environment = \"Lab\"\n  expiration_days = 14"));
    apply(&tf);
    let tags = rt.block_on(api.guest_config(GuestKind::Qemu, "pve1", 100)).unwrap().get_str("tags").unwrap();
    assert_eq!(tags, format!("db;environment-lab;expires-{expires};web"));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");

    // A date in the past is refused at plan time; no_expire with a date conflicts.
    tf.write("main.tf", &config("\"web\", \"db\"", "  environment = \"lab\"\n  expires = \"2020-01-01\""));
    let out = tf.run(&["plan", "-input=false", "-no-color"]);
    assert!(out.code == 1 && out.all().contains("2020-01-01 has already passed"), "{}", out.all());
    tf.write("main.tf", &config("\"web\", \"db\"", "  no_expire = true\n  expiration_days = 3"));
    let out = tf.run(&["validate", "-no-color"]);
    assert!(out.code == 1 && out.all().contains("no_expire cannot be combined"), "{}", out.all());

    // Removing the lifecycle resource removes only its tags.
    let without = config("\"web\", \"db\"", "  environment = \"Lab\"\n  expiration_days = 14");
    tf.write("main.tf", without.split("resource \"pve_lifecycle_tag\"").next().unwrap());
    apply(&tf);
    let tags = rt.block_on(api.guest_config(GuestKind::Qemu, "pve1", 100)).unwrap().get_str("tags").unwrap();
    assert_eq!(tags, "db;web");
}

#[test]
fn lxc_lifecycle_import_and_grow_only_volumes() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let api = client(&emu);
    let ct = |memory: u32, rootfs: u32, extra_mount: bool| {
        let extra = if extra_mount {
            "  mount_point {\n    slot    = \"mp1\"\n    storage = \"local-lvm\"\n    size    = 5\n    path    = \"/logs\"\n  }\n"
        } else {
            ""
        };
        format!(
            r#"{}
resource "pve_lxc" "dns" {{
  node            = "pve2"
  hostname        = "dns1"
  template_volume = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"
  password        = "s3cret-root-pw"
  ssh_public_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2e ops@laptop"]
  memory          = {memory}
  cores           = 1
  nesting         = true
  keyctl          = true
  tags            = ["DNS", "infra"]
  dns_servers     = ["10.10.10.1"]
  rootfs {{
    storage = "local-lvm"
    size    = {rootfs}
  }}
  mount_point {{
    slot    = "mp0"
    storage = "local-lvm"
    size    = 10
    path    = "/data"
    backup  = true
  }}
{extra}  network {{
    ipv4    = "10.10.20.5/24"
    gateway = "10.10.20.1"
    vlan    = 20
  }}
}}
"#,
            provider_block(&emu)
        )
    };
    let tf = Terraform::new(&ct(512, 8, false));
    tf.init();
    apply(&tf);
    let config = rt.block_on(api.guest_config(GuestKind::Lxc, "pve2", 100)).unwrap();
    assert_eq!(config.get_str("rootfs").as_deref(), Some("local-lvm:vm-100-disk-0,size=8G"));
    assert_eq!(config.get_str("mp0").as_deref(), Some("local-lvm:vm-100-disk-1,mp=/data,backup=1,size=10G"));
    assert_eq!(config.get_str("features").as_deref(), Some("nesting=1,keyctl=1"));
    assert_eq!(config.get_str("tags").as_deref(), Some("dns;infra"));
    let net0 = config.get_str("net0").unwrap();
    assert!(
        net0.starts_with("name=eth0,bridge=vmbr0,ip=10.10.20.5/24,gw=10.10.20.1,tag=20") && net0.contains("hwaddr=BC:24:11:"),
        "{net0}"
    );
    assert!(!tf.run(&["show", "-json"]).stdout.contains("s3cret-root-pw"));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");

    rt.block_on(api.update_config(GuestKind::Lxc, "pve2", 100, &Params::new().set("memory", 256))).unwrap();
    let (code, out) = plan_code(&tf);
    assert!(code == 2 && out.contains("256 -> 512"), "out-of-band memory change is drift:\n{out}");

    tf.write("main.tf", &ct(1024, 12, true));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 2);
    assert!(out.contains("1 to change, 0 to destroy"), "{out}");
    apply(&tf);
    let config = rt.block_on(api.guest_config(GuestKind::Lxc, "pve2", 100)).unwrap();
    assert_eq!(config.get_str("rootfs").as_deref(), Some("local-lvm:vm-100-disk-0,size=12G"));
    assert!(config.get_str("mp1").unwrap().contains("mp=/logs"));
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");

    tf.write("main.tf", &ct(1024, 10, true));
    let out = tf.run(&["plan", "-input=false", "-no-color"]);
    assert!(out.code == 1 && out.all().contains("it can grow but not shrink to 10 GiB"), "{}", out.all());

    let imported = Terraform::new(&ct(1024, 12, true));
    imported.init();
    assert_eq!(imported.run(&["import", "-no-color", "pve_lxc.dns", "pve2/100"]).code, 0);
    let (code, out) = plan_code(&imported);
    assert_eq!(code, 0, "imported container plans clean:\n{out}");

    tf.write("main.tf", &ct(1024, 12, true));
    let out = tf.run(&["destroy", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(rt.block_on(api.locate_guest(100)).unwrap().is_none());
}

#[test]
fn lxc_security_updates_through_a_hookscript() {
    use std::os::unix::fs::PermissionsExt;
    let rt = runtime();
    let lab = rt.block_on(pve_home_tests::SshLab::start());
    let (emu, data_dir, provider) = (&lab.emu, lab.data_dir().to_path_buf(), lab.provider_as_root());
    let ct = |updates: bool| {
        format!(
            "{provider}\nresource \"pve_lxc\" \"web\" {{\n  node = \"pve1\"\n  hostname = \"web1\"\n  template_volume = \"local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst\"\n  security_updates = {updates}\n  rootfs {{\n    storage = \"local-lvm\"\n    size = 4\n  }}\n  network {{}}\n}}\n"
        )
    };
    let tf = Terraform::new(&ct(true));
    tf.init();
    apply(&tf);
    let hook = data_dir.join("local/snippets/pve-home-ct-security-updates.sh");
    let text = std::fs::read_to_string(&hook).expect("hookscript written to the node");
    assert!(text.starts_with("#!/bin/sh") && text.contains("unattended-upgrades") && text.contains("-security"));
    assert_eq!(std::fs::metadata(&hook).unwrap().permissions().mode() & 0o111, 0o111, "executable, as PVE requires");
    let api = client(emu);
    assert_eq!(
        rt.block_on(api.guest_config(GuestKind::Lxc, "pve1", 100)).unwrap().get_str("hookscript").as_deref(),
        Some("local:snippets/pve-home-ct-security-updates.sh")
    );
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");
    tf.write("main.tf", &ct(false));
    apply(&tf);
    assert_eq!(rt.block_on(api.guest_config(GuestKind::Lxc, "pve1", 100)).unwrap().get_str("hookscript"), None);
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "{out}");
}

/// Ten containers with security updates, created at once on one node, all upload the one shared
/// hookscript: every upload goes through its own temporary name, so none trips over another.
#[test]
fn ten_containers_share_one_hookscript_created_at_once() {
    let rt = runtime();
    let lab = rt.block_on(pve_home_tests::SshLab::start());
    let (emu, data_dir, provider) = (&lab.emu, lab.data_dir().to_path_buf(), lab.provider_as_root());
    let tf = Terraform::new(&format!(
        "{provider}\nresource \"pve_lxc\" \"web\" {{\n  count = 10\n  node = \"pve1\"\n  hostname = \"web${{count.index}}\"\n  template_volume = \"local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst\"\n  security_updates = true\n  rootfs {{\n    storage = \"local-lvm\"\n    size = 4\n  }}\n  network {{}}\n}}\n"
    ));
    tf.init();
    let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve", "-parallelism=10"]);
    assert_eq!(out.code, 0, "the first apply succeeds:\n{}", out.all());
    let api = client(emu);
    let hooked = rt
        .block_on(api.cluster_resources(Some("vm")))
        .unwrap()
        .iter()
        .filter(|g| g.resource_type == "lxc")
        .filter(|g| {
            rt.block_on(api.guest_config(GuestKind::Lxc, "pve1", g.vmid.unwrap())).unwrap().get_str("hookscript").as_deref()
                == Some("local:snippets/pve-home-ct-security-updates.sh")
        })
        .count();
    assert_eq!(hooked, 10, "every container runs the hookscript");
    let leftovers: Vec<_> = std::fs::read_dir(data_dir.join("local/snippets"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n != "pve-home-ct-security-updates.sh")
        .collect();
    assert!(leftovers.is_empty(), "no temporary upload is left behind: {leftovers:?}");
}

/// A mount point added to an applied container keeps its `backup` flag, so the plan settles
/// (the update path once dropped it: `backup = false -> true` on every plan).
#[test]
fn a_mount_point_added_later_keeps_its_backup_flag() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let api = client(&emu);
    let ct = |extra: &str| {
        format!(
            "{}\nresource \"pve_lxc\" \"app\" {{\n  node = \"pve1\"\n  hostname = \"app1\"\n  template_volume = \"local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst\"\n  rootfs {{\n    storage = \"local-lvm\"\n    size = 4\n  }}\n{extra}  network {{}}\n}}\n",
            provider_block(&emu)
        )
    };
    let tf = Terraform::new(&ct(""));
    tf.init();
    apply(&tf);
    tf.write("main.tf", &ct("  mount_point {\n    slot = \"mp0\"\n    storage = \"local-lvm\"\n    size = 2\n    path = \"/data\"\n    backup = true\n  }\n"));
    apply(&tf);
    let mp0 = rt.block_on(api.guest_config(GuestKind::Lxc, "pve1", 100)).unwrap().get_str("mp0").unwrap();
    assert!(mp0.contains("backup=1"), "{mp0}");
    let (code, out) = plan_code(&tf);
    assert_eq!(code, 0, "the re-plan is clean:\n{out}");
}
