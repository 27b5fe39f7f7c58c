//! The systemd units of pve-ops pass `systemd-analyze verify` (with the built binary in place of
//! /usr/local/bin/pve-ops, which the check requires to exist).

use pve_home_tests::{repo_root, workspace_binary};

#[test]
fn units_verify() {
    let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].into_iter().find(|p| std::path::Path::new(p).exists());
    let analyze = analyze.expect("systemd-analyze is installed (scripts/setup-tools.sh installs systemd)");
    let dir = tempfile::tempdir().unwrap();
    let binary = workspace_binary("pve-ops").display().to_string();
    let mut units = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("ops-cli/systemd")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap().replace("/usr/local/bin/pve-ops", &binary);
        assert!(
            !text.contains("--api-token") && !text.contains("PVE_API_TOKEN="),
            "{name}: credentials come from the EnvironmentFile only"
        );
        // Template units are checked through an instance.
        let name = name.replace("@.", "@lab.");
        std::fs::write(dir.path().join(&name), text).unwrap();
        units.push(dir.path().join(name));
    }
    assert_eq!(units.len(), 12);
    let out = std::process::Command::new(analyze).arg("verify").args(&units).env("SYSTEMD_LOG_LEVEL", "warning").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Lines about the machine (no running systemd in a container, missing EnvironmentFile) are not about the units.
    let problems: Vec<&str> =
        stderr.lines().filter(|l| !l.contains("EnvironmentFile") && !l.contains("Failed to connect") && !l.trim().is_empty()).collect();
    assert!(out.status.success() || problems.is_empty(), "systemd-analyze verify:\n{stderr}");
    assert!(problems.is_empty(), "systemd-analyze verify:\n{stderr}");
}
