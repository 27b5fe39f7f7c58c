//! `pve-ops orphans` after a Terraform killed with SIGKILL mid-apply: the guests PVE made for it
//! that never reached the state are found by the provider's mark, matched to the addresses the
//! configuration intends, and imported there; one more apply ends with exactly the configured
//! fleet in PVE and in the state.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use pve_home_tests::{CliRun as Run, TOKEN, Terraform, client, cloned_vms, emulator, provider_block, terraform_binary, workspace_binary};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// The processes whose parent is `pid` (Terraform's provider plugins).
fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid …: comm may hold spaces, so split after its closing parenthesis.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            found.push(child);
        }
    }
    found
}

/// SIGKILL for each of `pids`.
fn kill(pids: &[u32]) {
    for pid in pids {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(std::process::Stdio::null()).status();
    }
}

/// Terraform and the providers it starts, killed when the test ends however it ends.
struct Processes(Vec<u32>);

impl Drop for Processes {
    fn drop(&mut self) {
        kill(&self.0);
    }
}

/// The guests whose description carries the provider's mark, and the non-template ones, by VMID.
fn pve_guests(rt: &tokio::runtime::Runtime, api: &pve_api::PveClient) -> (BTreeSet<u64>, BTreeSet<u64>) {
    let rows = rt.block_on(api.cluster_resources(Some("vm"))).unwrap();
    let (mut marked, mut guests) = (BTreeSet::new(), BTreeSet::new());
    for guest in rows.iter().filter_map(pve_api::GuestLocation::from_resource) {
        let config = rt.block_on(api.guest_config(guest.kind, &guest.node, guest.vmid)).unwrap();
        if pve_api::marker::is_marked(config.get_str("description").as_deref()) {
            marked.insert(guest.vmid);
        }
        if !guest.template {
            guests.insert(guest.vmid);
        }
    }
    (marked, guests)
}

/// The VMIDs of the pve_vm instances in the environment's state (root module only here).
fn state_vmids(tf: &Terraform) -> BTreeSet<u64> {
    let out = tf.run(&["-chdir=lab", "show", "-json", "-no-color"]);
    assert_eq!(out.code, 0, "terraform show: {}", out.all());
    let show: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    show["values"]["root_module"]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["type"] == "pve_vm")
        .map(|r| r["values"]["vmid"].as_u64().unwrap())
        .collect()
}

#[test]
fn guests_left_by_a_killed_apply_are_found_matched_and_imported() {
    let rt = runtime();
    // Linked clones hold the template's config lock for their task: 1.5 s each, one after the
    // other, so twelve of them take about 20 s and the kill lands with some made and some not.
    let emu = rt.block_on(emulator(|c| c.task_ms = 1500));
    let api = client(&emu);
    let tf = Terraform::new("");
    let lab = tf.dir.path().join("lab");
    std::fs::create_dir_all(&lab).unwrap();
    std::fs::write(lab.join("main.tf"), format!("{}{}", provider_block(&emu), cloned_vms(12, false))).unwrap();
    let init = tf.run(&["-chdir=lab", "init", "-input=false", "-no-color"]);
    assert_eq!(init.code, 0, "{}", init.all());

    let mut apply = tf.spawn(&["-chdir=lab", "apply", "-input=false", "-no-color", "-auto-approve", "-parallelism=10"]);
    let mut processes = Processes(vec![apply.id()]);
    let started = Instant::now();
    // Kill once a few clones exist in PVE (the rest are queued on the template's lock).
    loop {
        let made = pve_guests(&rt, &api).1.len();
        if made >= 4 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the apply made no clones within a minute ({made})");
        assert!(apply.try_wait().unwrap().is_none(), "the apply ended before it could be killed");
        std::thread::sleep(Duration::from_millis(200));
    }
    let providers = children(apply.id());
    processes.0.extend(&providers);
    assert!(!providers.is_empty(), "terraform runs its provider as a child process");
    apply.kill().unwrap(); // SIGKILL
    assert!(!apply.wait().unwrap().success());
    // Nothing tells the provider Terraform died; it sees itself re-parented and exits.
    let gone = |pid: &u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_or(true, |stat| stat.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('Z')))
    };
    let waited = Instant::now();
    while !providers.iter().all(gone) && waited.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        providers.iter().all(gone),
        "the provider exits once Terraform is gone: {:?}",
        providers.iter().map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default()).collect::<Vec<_>>()
    );
    kill(&providers);
    // Reaped: their IDs may be reused from now on.
    processes.0.clear();
    // Terraform's local state lock is an fcntl lock, which the kernel dropped with the process;
    // only its description is left, and the next apply takes the lock over it.
    assert!(lab.join(".terraform.tfstate.lock.info").exists());
    // Clone tasks PVE had accepted run to their end: wait until no guest is locked.
    let settled = Instant::now();
    while rt.block_on(api.cluster_resources(Some("vm"))).unwrap().iter().any(|r| r.lock.is_some()) {
        assert!(settled.elapsed() < Duration::from_secs(60), "clone tasks still running after a minute");
        std::thread::sleep(Duration::from_millis(200));
    }

    let (marked, _) = pve_guests(&rt, &api);
    let in_state = state_vmids(&tf);
    let expected: BTreeSet<u64> = marked.difference(&in_state).copied().collect();
    assert!(!expected.is_empty(), "the kill left guests PVE has and the state does not: marked {marked:?}, state {in_state:?}");

    let metrics = tempfile::tempdir().unwrap();
    let orphans = |extra: &[&str]| {
        Run::of(
            Command::new(workspace_binary("pve-ops"))
                .arg("orphans")
                .arg("--environments")
                .arg(tf.dir.path())
                .arg("--terraform")
                .arg(terraform_binary())
                .arg("--metrics-dir")
                .arg(metrics.path())
                .args(extra)
                .env("PVE_ENDPOINT", &emu.url)
                .env("PVE_INSECURE_HTTP", "1")
                .env("PVE_API_TOKEN", TOKEN)
                .env("TF_CLI_CONFIG_FILE", tf.cli_config())
                .env("CHECKPOINT_DISABLE", "1"),
        )
    };
    // A dry run names them and writes nothing.
    let dry = orphans(&["--write-imports", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}{}", dry.stdout, dry.stderr);
    assert!(dry.stdout.contains("would be written to"), "{}", dry.stdout);
    assert!(!lab.join("orphans-imports.tf").exists(), "dry run");

    let found = orphans(&["--write-imports", "--json"]);
    assert_eq!(found.code, 0, "{}", found.stderr);
    let report = found.json();
    let rows = report["orphans"].as_array().unwrap();
    let named: BTreeSet<u64> = rows.iter().map(|o| o["vmid"].as_u64().unwrap()).collect();
    assert_eq!(named, expected, "exactly the marked guests no state holds: {report}");
    for orphan in rows {
        // vm-N is the clone of pve_vm.vm[N].
        let index = orphan["name"].as_str().unwrap().trim_start_matches("vm-");
        assert_eq!(orphan["address"], format!("pve_vm.vm[{index}]"), "{orphan}");
        assert_eq!(orphan["env"], "lab");
        assert_eq!(orphan["import_id"], format!("pve1/{}", orphan["vmid"]));
    }
    let written = std::fs::read_to_string(lab.join("orphans-imports.tf")).unwrap();
    assert_eq!(written.matches("import {").count(), expected.len(), "{written}");
    // Run again before the apply: the plan now imports them through that file, which is written
    // again as it was (no orphan loses its address to its own pending import).
    let again = orphans(&["--write-imports", "--json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let again = again.json();
    let rows = again["orphans"].as_array().unwrap();
    assert_eq!(rows.iter().map(|o| o["vmid"].as_u64().unwrap()).collect::<BTreeSet<_>>(), expected, "{again}");
    assert!(rows.iter().all(|o| o["import_in_configuration"] == true && o["address"].is_string()), "{again}");
    assert_eq!(std::fs::read_to_string(lab.join("orphans-imports.tf")).unwrap(), written);
    let prom = std::fs::read_to_string(metrics.path().join("pve_orphans.prom")).unwrap();
    assert!(prom.contains(&format!("pve_orphan_guests {}\n", expected.len())) && prom.contains("pve_orphans_check_failed 0"), "{prom}");

    let out = tf.run(&["-chdir=lab", "apply", "-input=false", "-no-color", "-auto-approve", "-parallelism=10"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains(&format!("Apply complete! Resources: {} imported", expected.len())), "{}", out.stdout);
    let (_, guests) = pve_guests(&rt, &api);
    let in_state = state_vmids(&tf);
    assert_eq!(guests, in_state, "every guest in PVE is in the state, and the other way round");
    assert_eq!(guests.len(), 12);
    let plan = tf.run(&["-chdir=lab", "plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    assert_eq!(plan.code, 0, "the imported clones plan clean: {}", plan.all());

    let after = orphans(&["--json"]);
    assert_eq!(after.code, 0, "{}", after.stderr);
    assert_eq!(after.json()["count"], 0, "{}", after.stdout);
    let prom = std::fs::read_to_string(metrics.path().join("pve_orphans.prom")).unwrap();
    assert!(prom.contains("pve_orphan_guests 0\n"), "{prom}");
}

#[test]
fn unmatched_orphans_failed_plans_and_unreadable_states() {
    let rt = runtime();
    let emu = rt.block_on(emulator(|_| {}));
    let api = client(&emu);
    // A guest with the mark that no configuration asks for, and one made by hand (no mark).
    for (vmid, name, description) in [(150, "stray", pve_api::marker::MANAGED_MARK), (151, "by-hand", "made in the web UI")] {
        let params = pve_api::Params::new().set("name", name).set("description", description);
        let upid = rt.block_on(api.clone_guest(pve_api::GuestKind::Qemu, "pve1", 9000, vmid, &params)).unwrap();
        rt.block_on(api.wait_task(&upid, pve_api::TaskWait::default())).unwrap();
    }
    let tf = Terraform::new("");
    let root = tf.dir.path();
    let write = |env: &str, text: &str| {
        std::fs::create_dir_all(root.join(env)).unwrap();
        std::fs::write(root.join(env).join("main.tf"), text).unwrap();
    };
    write("lab", &format!("{}{}", provider_block(&emu), cloned_vms(1, false)));
    // Plans only with a value for its variable.
    write(
        "noplan",
        &format!(
            "{}variable \"name\" {{\n  type = string\n}}\n{}",
            provider_block(&emu),
            cloned_vms(1, false).replace("\"vm-${count.index}\"", "var.name")
        ),
    );
    for env in ["lab", "noplan"] {
        let init = tf.run(&[&format!("-chdir={env}"), "init", "-input=false", "-no-color"]);
        assert_eq!(init.code, 0, "{}", init.all());
    }
    // Looks initialised, but its backend never was: Terraform cannot read its state.
    write("broken", "terraform {\n  backend \"local\" {\n    path = \"elsewhere.tfstate\"\n  }\n}\n");
    std::fs::create_dir_all(root.join("broken/.terraform")).unwrap();

    let metrics = tempfile::tempdir().unwrap();
    let orphans = |extra: &[&str]| {
        Run::of(
            Command::new(workspace_binary("pve-ops"))
                .arg("orphans")
                .arg("--environments")
                .arg(root)
                .arg("--terraform")
                .arg(terraform_binary())
                .arg("--metrics-dir")
                .arg(metrics.path())
                .args(extra)
                .env("PVE_ENDPOINT", &emu.url)
                .env("PVE_INSECURE_HTTP", "1")
                .env("PVE_API_TOKEN", TOKEN)
                .env("TF_CLI_CONFIG_FILE", tf.cli_config())
                .env("CHECKPOINT_DISABLE", "1"),
        )
    };
    let failed = orphans(&[]);
    assert_eq!(failed.code, 1, "an unreadable state fails the check: {}{}", failed.stdout, failed.stderr);
    assert!(failed.stderr.contains("cannot read the Terraform state") && failed.stderr.contains("broken:"), "{}", failed.stderr);
    assert!(!failed.stdout.contains("stray"), "no guest is called an orphan then: {}", failed.stdout);
    let prom = std::fs::read_to_string(metrics.path().join("pve_orphans.prom")).unwrap();
    assert!(prom.contains("pve_orphans_check_failed 1") && !prom.contains("pve_orphan_guests "), "{prom}");

    let found = orphans(&["--env", "lab", "--env", "noplan", "--json", "--write-imports"]);
    assert_eq!(found.code, 3, "a failed plan leaves the matching partial: {}{}", found.stdout, found.stderr);
    let report = found.json();
    assert_eq!(report["count"], 1, "{report}");
    let orphan = &report["orphans"][0];
    assert_eq!((orphan["vmid"].as_u64(), orphan["address"].as_str()), (Some(150), None), "{report}");
    let reason = orphan["reason"].as_str().unwrap();
    assert!(reason.contains("named \"stray\" on pve1") && reason.contains("the plan of noplan failed"), "{reason}");
    let noplan = report["environments"].as_array().unwrap().iter().find(|e| e["env"] == "noplan").unwrap();
    assert!(noplan["plan_error"].as_str().is_some_and(|e| e.contains("No value for required variable")), "{noplan}");
    assert!(!root.join("lab/orphans-imports.tf").exists(), "nothing matched, nothing written");
    let prom = std::fs::read_to_string(metrics.path().join("pve_orphans.prom")).unwrap();
    assert!(prom.contains("pve_orphan_guests 1\n") && prom.contains("pve_orphans_check_failed 0"), "{prom}");

    let text = orphans(&["--env", "lab"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("150      qemu  pve1       stray"), "{}", text.stdout);
    assert!(
        text.stdout.contains("# Destroy it if nothing needs it (qm destroy 150 on pve1), or import it under an address you choose")
            && text.stdout.contains("# import {\n#   to = pve_vm.CHOOSE_A_NAME\n#   id = \"pve1/150\"\n# }\n"),
        "{}",
        text.stdout
    );
    assert!(!text.stdout.contains("by-hand"), "a guest without the mark is not Terraform's: {}", text.stdout);
}
