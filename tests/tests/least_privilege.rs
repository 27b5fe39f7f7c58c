//! Least privilege, proven against the emulator's permission checks (PVE's own): the roles
//! `modules/access` grants are enough for every resource's create, update, import and destroy and
//! for every pve-ops command; each privilege in them is needed, because taking it away makes the
//! operation that needs it fail with PVE's `Permission check failed (PATH, PRIVILEGE)`; and
//! `docs/permissions.md` lists exactly those privileges.

use std::collections::BTreeMap;
use std::process::Command;

use pve_api::{GuestKind, Params, PveClient, TaskWait};
use pve_emulator::fixtures::{qcow2_image, serve_files};
use pve_home_tests::{CliRun, SshLab, TOKEN, Terraform, client, copy_tree, flat, repo_root, workspace_binary};
use sha2::{Digest, Sha256};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// A seeded cluster (template 9000, a container template) with an sshd for snippets, an image
/// server, and the two identities `modules/access` made with root's token.
struct Cluster {
    rt: tokio::runtime::Runtime,
    lab: SshLab,
    root: PveClient,
    image_base: String,
    image_sum: String,
    terraform_token: String,
    ops_token: String,
    /// Role => privileges, as the module made them, and the paths it granted them on.
    roles: BTreeMap<String, Vec<String>>,
    paths: BTreeMap<String, Vec<String>>,
    _secrets: tempfile::TempDir,
}

impl Cluster {
    fn bootstrap() -> Self {
        let rt = runtime();
        let lab = rt.block_on(SshLab::start());
        let root = client(&lab.emu);
        let image = qcow2_image(2 << 30, 64 << 10);
        let image_sum = hex::encode(Sha256::digest(&image));
        let image_base = serve_files(vec![("image.qcow2", image)]);
        let secrets = tempfile::tempdir().unwrap();
        let token_file = |name: &str| secrets.path().join(name).display().to_string();
        let tf = Terraform::new(&format!(
            r#"{}
module "access" {{
  source               = "./modules/access"
  terraform_token_file = "{}"
  ops_token_file       = "{}"
  download_nodes       = ["pve1"]
}}
output "roles" {{ value = module.access.roles }}
"#,
            lab.provider(),
            token_file("terraform.token"),
            token_file("ops.token"),
        ));
        copy_tree(&repo_root().join("modules/access"), &tf.dir.path().join("modules/access"));
        tf.init();
        let out = tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
        assert_eq!(out.code, 0, "the bootstrap applies with root's token:\n{}", out.all());
        let outputs = tf.outputs();
        let roles_out = outputs["roles"]["value"].as_object().unwrap();
        let strings = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect::<Vec<_>>();
        let roles = roles_out.iter().map(|(role, v)| (role.clone(), strings(&v["privileges"]))).collect();
        let paths = roles_out.iter().map(|(role, v)| (role.clone(), strings(&v["paths"]))).collect();
        let read = |name: &str| std::fs::read_to_string(secrets.path().join(name)).unwrap().trim().to_string();
        let (terraform_token, ops_token) = (read("terraform.token"), read("ops.token"));
        Self { rt, lab, root, image_base, image_sum, terraform_token, ops_token, roles, paths, _secrets: secrets }
    }

    /// The provider block with the least-privilege token instead of root's.
    fn provider(&self) -> String {
        self.lab.provider().replace(TOKEN, &self.terraform_token)
    }

    fn set_privileges(&self, role: &str, privileges: &[String]) {
        self.rt.block_on(self.root.access().set_role_privileges(role, privileges)).unwrap();
    }

    /// Every resource kind the provider has, numbered `n` so that runs never collide.
    fn everything(&self, n: u64, memory: u64) -> String {
        let base = 1000 + n * 10;
        format!(
            r#"{provider}
data "pve_nodes" "all" {{}}
data "pve_storages" "images" {{ content = "images" }}
data "pve_guests" "templates" {{ template = true }}

resource "pve_pool" "team" {{
  pool_id = "team{n}"
  comment = "least privilege, memory {memory}"
}}

resource "pve_download_file" "image" {{
  node               = "pve1"
  storage            = "local"
  content            = "import"
  url                = "{image_base}/image.qcow2"
  file_name          = "image-{n}.qcow2"
  checksum           = "{image_sum}"
  checksum_algorithm = "sha256"
}}

resource "pve_vm" "built" {{
  node               = "pve1"
  vmid               = {built}
  name               = "built-{n}"
  template           = true
  started            = false
  serial_console     = true
  agent              = true
  cloud_init_storage = "local-lvm"
  disk {{
    slot        = "scsi0"
    storage     = "local-lvm"
    size        = 4
    import_from = pve_download_file.image.volume_id
  }}
  network {{ bridge = "vmbr0" }}
  ip_config {{ ipv4 = "dhcp" }}
}}

resource "pve_vm" "app" {{
  node                  = "pve1"
  vmid                  = {app}
  name                  = "app-{n}"
  clone_vmid            = 9000
  pool                  = pve_pool.team.pool_id
  memory                = {memory}
  cores                 = 2
  agent                 = true
  startup               = "order=2"
  ci_user               = "ops"
  ci_ssh_keys           = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2e ops@laptop"]
  install_node_exporter = true
  disk {{
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 8
  }}
  network {{ bridge = "vmbr0" }}
}}

resource "pve_vm" "far" {{
  node       = "pve2"
  vmid       = {far}
  name       = "far-{n}"
  clone_vmid = 9000
  started    = false
  disk {{
    slot    = "scsi0"
    storage = "local-lvm"
    size    = 4
  }}
  network {{ bridge = "vmbr0" }}
}}

resource "pve_lxc" "ct" {{
  node            = "pve1"
  vmid            = {ct}
  hostname        = "ct-{n}"
  template_volume = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"
  started         = false
  rootfs {{
    storage = "local-lvm"
    size    = 4
  }}
  network {{ bridge = "vmbr0" }}
}}

resource "pve_snapshot" "before" {{
  vmid        = pve_vm.app.vmid
  name        = "before"
  description = "memory {memory}"
}}

resource "pve_backup_job" "nightly" {{
  id       = "nightly-{n}"
  schedule = "*-*-* 01:00"
  storage  = "backup"
  vmids    = [pve_vm.app.vmid]
  retention {{ keep_daily = 7 }}
}}

resource "pve_ha_resource" "far" {{
  vmid  = pve_vm.far.vmid
  state = "stopped"
}}

resource "pve_ha_rule" "far_on_pve2" {{
  rule      = "far-{n}"
  type      = "node-affinity"
  resources = [pve_ha_resource.far.sid]
  nodes     = {{ pve2 = 1 }}
}}

resource "pve_lifecycle_tag" "app" {{
  vmid            = pve_vm.app.vmid
  environment     = "lab"
  expiration_days = 14
}}
"#,
            provider = self.provider(),
            image_base = self.image_base,
            image_sum = self.image_sum,
            built = base + 1,
            app = base + 2,
            far = base + 3,
            ct = base + 4,
        )
    }

    fn pve_ops(&self, token: &str, args: &[&str]) -> CliRun {
        CliRun::of(
            Command::new(workspace_binary("pve-ops"))
                .args(args)
                .env("PVE_ENDPOINT", &self.lab.emu.url)
                .env("PVE_INSECURE_HTTP", "1")
                .env("PVE_API_TOKEN", token),
        )
    }
}

fn apply(tf: &Terraform) -> pve_home_tests::TfOutput {
    tf.run(&["apply", "-input=false", "-no-color", "-auto-approve"])
}

/// Where a diagnostic names `privilege` and the path it is missing on: PVE's `Permission check
/// failed (PATH, PRIVILEGE)`, or the provider's words where PVE hides instead of refusing (a
/// listing without the guest or storage) or names no path (`lacks P on PATH`, `requires P on
/// PATH`, `holds P on PATH`).
fn names_privilege<'a>(text: &'a str, privilege: &str) -> Option<&'a str> {
    // PVE's own, with `A|B` when any one of several would do (RPCEnvironment.pm `check_any`).
    const REFUSED: &str = "Permission check failed (";
    for (start, _) in text.match_indices(REFUSED) {
        let Some(len) = text[start..].find(')') else { continue };
        let what = &text[start + REFUSED.len()..start + len];
        if what.split_once(", ").is_some_and(|(_, privileges)| privileges.split('|').any(|p| p == privilege)) {
            return Some(&text[start..=start + len]);
        }
    }
    // "lacks P on PATH", or "requires|holds A on PATH and P on PATH": a verb shortly before.
    let words = format!("{privilege} on /");
    text.match_indices(&words).find_map(|(at, _)| {
        let before = &text[at.saturating_sub(80)..at];
        let verb = ["lacks ", "requires ", "holds "].iter().filter_map(|v| before.rfind(v).map(|i| at.saturating_sub(80) + i)).max()?;
        let end = text[at + words.len()..].find([' ', ',', ';', ')']).map_or(text.len(), |e| at + words.len() + e);
        Some(&text[verb..end])
    })
}

#[test]
fn the_provider_role_runs_every_resource_and_each_privilege_is_needed() {
    let cluster = Cluster::bootstrap();

    // docs/permissions.md's pveum commands grant exactly what the module grants.
    let doc = std::fs::read_to_string(repo_root().join("docs/permissions.md")).unwrap();
    for (role, privileges) in &cluster.roles {
        let line = format!("pveum role add {role} -privs \"{}\"", privileges.join(","));
        assert!(doc.contains(&line), "docs/permissions.md lacks `{line}`");
    }

    // Create, update in place, import, destroy: all with the least-privilege token.
    let tf = Terraform::new(&cluster.everything(0, 2048));
    tf.init();
    let out = apply(&tf);
    assert_eq!(out.code, 0, "every resource applies with the Terraform role:\n{}", out.all());
    tf.write("main.tf", &cluster.everything(0, 3072));
    let out = apply(&tf);
    assert_eq!(out.code, 0, "and updates in place:\n{}", out.all());
    assert!(out.stdout.contains("0 added") && out.stdout.contains("0 destroyed"), "{}", out.stdout);
    let out = tf.run(&["state", "rm", "pve_vm.far", "pve_pool.team"]);
    assert_eq!(out.code, 0, "{}", out.all());
    tf.write(
        "imports.tf",
        "import {\n  to = pve_vm.far\n  id = \"pve2/qemu/1003\"\n}\nimport {\n  to = pve_pool.team\n  id = \"team0\"\n}\n",
    );
    let out = apply(&tf);
    assert_eq!(out.code, 0, "and imports:\n{}", out.all());
    let out = tf.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    assert_eq!(out.code, 0, "the imported resources plan clean:\n{}", out.all());
    std::fs::remove_file(tf.dir.path().join("imports.tf")).unwrap();
    let out = tf.run(&["destroy", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(out.code, 0, "and destroys:\n{}", out.all());
    let left = cluster.rt.block_on(cluster.root.cluster_resources(Some("vm"))).unwrap();
    assert!(left.iter().all(|g| g.vmid.is_none_or(|v| !(1000..1010).contains(&v))), "nothing left: {left:?}");

    // What no role can grant: a container's hookscript is root@pam's alone, so the plan warns.
    let hooked = Terraform::new(&format!(
        "{}\nresource \"pve_lxc\" \"hooked\" {{\n  node = \"pve1\"\n  hostname = \"hooked\"\n  template_volume = \"local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst\"\n  security_updates = true\n  rootfs {{\n    storage = \"local-lvm\"\n    size = 4\n  }}\n  network {{}}\n}}\n",
        cluster.provider()
    ));
    hooked.init();
    let out = hooked.run(&["plan", "-input=false", "-no-color"]);
    assert!(flat(&out.all()).contains("PVE lets only root@pam set a hookscript"), "{}", out.all());
    let out = apply(&hooked);
    assert!(out.code != 0 && flat(&out.all()).contains("changing the hookscript is only allowed for root@pam"), "{}", out.all());

    // Without any one privilege, the operation that needs it fails, naming it.
    let mut n = 0;
    let mut unneeded = Vec::new();
    for role in ["Terraform", "TerraformFiles", "TerraformDownload"] {
        if cluster.paths[role].is_empty() {
            continue; // not granted with these settings (downloads come with Sys.Modify on /)
        }
        let granted = cluster.roles[role].clone();
        for privilege in &granted {
            n += 1;
            let fewer: Vec<String> = granted.iter().filter(|p| *p != privilege).cloned().collect();
            cluster.set_privileges(role, &fewer);
            let tf = Terraform::new(&cluster.everything(n, 2048));
            tf.init();
            let out = apply(&tf);
            let text = flat(&out.all());
            cluster.set_privileges(role, &granted);
            match names_privilege(&text, privilege) {
                Some(diagnostic) if out.code != 0 => eprintln!("without {privilege}: {diagnostic}"),
                _ => {
                    let first_error = text.find("Error:").map(|i| &text[i..(i + 400).min(text.len())]).unwrap_or("");
                    unneeded.push(format!("{role}: {privilege} (exit {}) {first_error}", out.code));
                }
            }
        }
    }
    assert!(unneeded.is_empty(), "privileges no operation needed (take them out of the role): {unneeded:#?}");
}

#[test]
fn pve_ops_runs_with_its_own_role_and_each_privilege_is_needed() {
    let cluster = Cluster::bootstrap();
    let rt = &cluster.rt;
    let api = &cluster.root;
    // A running guest with a guest agent, a backup job covering it and its backup; a lab guest
    // whose expiry has passed.
    for (vmid, name, tags) in [(300u64, "db", "environment-prod"), (310, "old-lab", "environment-lab;expires-2020-01-01")] {
        let upid =
            rt.block_on(api.clone_guest(GuestKind::Qemu, "pve1", 9000, vmid, &Params::new().set("name", name).flag("full", true))).unwrap();
        rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
        rt.block_on(api.update_config(GuestKind::Qemu, "pve1", vmid, &Params::new().set("tags", tags).set("agent", "1"))).unwrap();
        let upid = rt.block_on(api.guest_action(GuestKind::Qemu, "pve1", vmid, "start", &Params::new())).unwrap();
        rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
    }
    let job = Params::new().set("id", "daily").set("schedule", "*-*-* 01:00").set("vmid", "300").set("storage", "backup");
    rt.block_on(api.create_backup_job(&job)).unwrap();

    let ops = cluster.ops_token.clone();
    // Every command that talks to PVE, in this order; each must succeed with the full role.
    let commands: Vec<Vec<&str>> = vec![
        vec!["verify-backups", "--json"],
        vec!["snapshot", "create", "300", "--name", "lp"],
        vec!["snapshot", "rollback", "300", "--name", "lp", "--yes"],
        vec!["snapshot", "delete", "300", "--name", "lp", "--yes"],
        vec!["health", "--json"],
        vec!["restore", "vm", "300", "--as", "301", "--yes", "--json"],
        vec!["restore", "vm", "300", "--force", "--yes", "--json"],
        vec!["expire-lab", "--yes", "--json"],
    ];
    let commands = &commands[..];
    let run_all = |token: &str| -> Vec<(String, CliRun)> {
        // A fresh backup first, made by root, so every round has an archive to restore.
        let upid =
            rt.block_on(api.vzdump("pve1", &Params::new().set("vmid", 300).set("storage", "backup").set("compress", "zstd"))).unwrap();
        rt.block_on(api.wait_task(&upid, TaskWait::default())).unwrap();
        let _ = rt
            .block_on(api.delete_guest(GuestKind::Qemu, "pve1", 301, true))
            .map(|upid| rt.block_on(api.wait_task(&upid, TaskWait::default())));
        // The expired lab guest runs again (expire-lab stopped it the round before).
        if let Ok(upid) = rt.block_on(api.guest_action(GuestKind::Qemu, "pve1", 310, "start", &Params::new())) {
            let _ = rt.block_on(api.wait_task(&upid, TaskWait::default()));
        }
        commands.iter().map(|args| (args.join(" "), cluster.pve_ops(token, args))).collect()
    };
    for (command, run) in run_all(&ops) {
        assert!(run.code == 0 || (command.starts_with("verify-backups") && run.code == 3), "{command} with the Operations role: {run:?}");
    }

    let granted = cluster.roles["Operations"].clone();
    let mut unneeded = Vec::new();
    for privilege in &granted {
        let fewer: Vec<String> = granted.iter().filter(|p| *p != privilege).cloned().collect();
        cluster.set_privileges("Operations", &fewer);
        let runs = run_all(&ops);
        cluster.set_privileges("Operations", &granted);
        let named = runs.iter().find_map(|(command, run)| {
            let output = flat(&format!("{} {}", run.stdout, run.stderr));
            (run.code != 0).then(|| names_privilege(&output, privilege).map(|d| (command.clone(), d.to_string()))).flatten()
        });
        match named {
            Some((command, diagnostic)) => eprintln!("without {privilege}: `pve-ops {command}` fails: {diagnostic}"),
            None => {
                let failures: Vec<String> = runs
                    .iter()
                    .filter(|(_, run)| run.code != 0)
                    .map(|(command, run)| format!("{command} (exit {}): {}", run.code, run.stderr.lines().last().unwrap_or("")))
                    .collect();
                unneeded.push(format!("{privilege}: {failures:#?}"));
            }
        }
    }
    assert!(unneeded.is_empty(), "privileges no pve-ops command needed: {unneeded:?}");
}
