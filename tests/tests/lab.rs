//! README command 1 (`bash scripts/lab.sh`) from a checkout under a world-writable parent, as a
//! clone into /tmp is: sshd's StrictModes refuses an authorized_keys file below such a directory,
//! so the lab keeps it elsewhere. Run twice, as a user who comes back the next day does: the
//! second run replaces the first one's services and applies again.
//!
//! The checkout is a copy of this one's files; the binaries are the ones this test suite built
//! (PVE_HOME_BIN_DIR), so the test costs no second build, and the ports are moved
//! (PVE_HOME_LAB_PORT_OFFSET) so a lab a developer runs is left alone.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use pve_home_tests::{repo_root, workspace_binary};

/// Copies the files git knows of (tracked, and new ones not ignored) from `from` to `to`.
fn copy_checkout(from: &Path, to: &Path) {
    let listed =
        Command::new("git").args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"]).current_dir(from).output().unwrap();
    assert!(listed.status.success(), "git ls-files works in {}", from.display());
    for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).unwrap();
        let (source, target) = (from.join(name), to.join(name));
        if !source.is_file() {
            continue;
        }
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&source, &target).unwrap();
    }
}

fn stop_services(work: &Path) {
    for pid_file in ["emulator.pid", "s3.pid", "sshd.pid"] {
        if let Ok(pid) = std::fs::read_to_string(work.join(pid_file)) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

#[test]
fn lab_runs_from_a_checkout_under_a_world_writable_parent_twice() {
    let parent = tempfile::Builder::new().prefix("pve-home-lab-").tempdir_in("/tmp").unwrap();
    std::fs::set_permissions(parent.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let checkout = parent.path().join("pve-home");
    copy_checkout(&repo_root(), &checkout);
    // The tools setup-tools.sh installed for this checkout serve the copy (they are not what is
    // under test, and installing them again costs minutes).
    std::os::unix::fs::symlink(repo_root().join(".venv"), checkout.join(".venv")).unwrap();
    let bin_dir = workspace_binary("pve-emulator").parent().unwrap().to_path_buf();
    let offset = 1000 + std::process::id() % 500 * 10;
    let work = checkout.join(".work");
    // Output goes to a file, not a pipe: a service that kept the pipe open would hang the test
    // (and a user's `lab.sh | tee`), and the file shows it.
    let run = || {
        let log = tempfile::NamedTempFile::new().unwrap();
        let status = Command::new("bash")
            .arg(checkout.join("scripts/lab.sh"))
            .current_dir("/")
            .env("PVE_HOME_BIN_DIR", &bin_dir)
            .env("PVE_HOME_LAB_PORT_OFFSET", offset.to_string())
            .env_remove("TF_CLI_CONFIG_FILE")
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .status()
            .unwrap();
        (status, std::fs::read_to_string(log.path()).unwrap_or_default())
    };
    let mut outputs = Vec::new();
    for round in ["first", "second"] {
        let (status, text) = run();
        if !status.success() {
            stop_services(&work);
            panic!("the {round} run of lab.sh fails:\n{text}");
        }
        outputs.push(text);
    }
    // The lab ran as terraform@pve, with the token the bootstrap wrote to a private file; root's
    // token served the bootstrap only.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let token = std::fs::read_to_string(work.join("secrets/terraform.token")).unwrap_or_default();
    let env = std::fs::read_to_string(work.join("lab.env")).unwrap_or_default();
    let (token_mode, ops_mode) = (mode(&work.join("secrets/terraform.token")), mode(&work.join("secrets/pve-ops.token")));
    stop_services(&work);
    assert!(token.starts_with("terraform@pve!iac="), "the bootstrap wrote the provider's token");
    assert_eq!((token_mode, ops_mode), (0o600, 0o600), "token files are private");
    assert!(env.contains(&format!("PVE_API_TOKEN='{}'", token.trim())), "lab.env points terraform at terraform@pve");
    assert!(outputs[0].contains("from a bare cluster to the applied lab in"), "{}", outputs[0]);
    assert!(outputs[0].contains("apply environments/lab as terraform@pve!iac"), "{}", outputs[0]);
    // lab.sh keeps the sshd's authorized_keys under ~/.cache/pve-home-lab/<hash of the checkout>.
    let hash = Command::new("sh").arg("-c").arg("printf '%s' \"$1\" | sha256sum | cut -c1-16").arg("-").arg(&checkout).output().unwrap();
    if let Some(home) = std::env::var_os("HOME") {
        let keys = Path::new(&home).join(".cache/pve-home-lab").join(String::from_utf8_lossy(&hash.stdout).trim());
        assert!(keys.join("authorized_keys").exists(), "the keys live outside the world-writable tree");
        let _ = std::fs::remove_dir_all(keys);
    }
    assert!(outputs[0].contains("Apply complete!"), "the first run applies the lab:\n{}", outputs[0]);
    assert!(outputs[1].contains("Apply complete!") && outputs[1].contains("0 added"), "the second run finds it applied:\n{}", outputs[1]);
    assert!(!outputs.iter().any(|o| o.contains("authentication as root failed")), "the snippet uploads log in");
}
