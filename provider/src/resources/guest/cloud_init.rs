//! Cloud-init user-data the provider writes as a snippet (PVE's API cannot upload snippets, so it
//! goes over SFTP to the node's snippet storage and the VM references it through `cicustom`).
//! The built-ins cover what the homelab modules need: Docker, node_exporter, and unattended
//! upgrades limited to security updates with no automatic reboot.

use crate::plugin::value::Value;

/// The snippet's file name for a VM; its own name, so several VMs never share one.
pub fn snippet_name(vmid: u64) -> String {
    format!("pve-home-{vmid}-user.yaml")
}

/// The options that build user-data of the provider's own.
pub const BUILT_INS: [&str; 3] = ["install_docker", "install_node_exporter", "security_updates"];

/// The comment line in a generated snippet that names the options it was built from.
const OPTIONS_HEADER: &str = "# terraform-provider-pve options:";

/// The built-in options a generated snippet was rendered from, read from its header; None for
/// user-data the provider did not build (custom `user_data`, or written before the header).
pub fn options_of(snippet: &str) -> Option<Vec<(&'static str, bool)>> {
    let line = snippet.lines().take(3).find_map(|l| l.strip_prefix(OPTIONS_HEADER))?;
    let set: Vec<(&str, &str)> = line.split_whitespace().filter_map(|kv| kv.split_once('=')).collect();
    Some(BUILT_INS.iter().map(|k| (*k, set.iter().any(|(name, value)| name == k && *value == "true"))).collect())
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

/// Whether the VM's settings ask for a generated or custom user-data snippet.
pub fn wanted(state: &Value) -> bool {
    !state.get("user_data").is_null()
        || !state.get("user_data_wo_version").is_null()
        || BUILT_INS.iter().any(|k| state.get(k).as_bool() == Some(true))
}

/// The user-data for a VM: `user_data` verbatim, or a #cloud-config built from the options.
pub fn render(state: &Value) -> String {
    if let Some(custom) = state.get("user_data").as_str() {
        return custom.to_string();
    }
    let on = |key: &str| state.get(key).as_bool() == Some(true);
    let user = state.get("ci_user").as_str().unwrap_or("ubuntu");
    let mut groups = vec!["sudo"];
    if on("install_docker") {
        groups.push("docker");
    }
    let mut out = String::from("#cloud-config\n# Written by terraform-provider-pve; changes here are overwritten.\n");
    // What it was built from, so an import can tell (options_of).
    let options: Vec<String> = BUILT_INS.iter().map(|k| format!("{k}={}", on(k))).collect();
    out.push_str(&format!("{OPTIONS_HEADER} {}\n", options.join(" ")));
    out.push_str(&format!("hostname: {}\n", quoted(state.get("name").as_str().unwrap_or("vm"))));
    out.push_str("users:\n");
    out.push_str(&format!(
        "  - name: {}\n    groups: [{}]\n    shell: /bin/bash\n    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n    lock_passwd: true\n",
        quoted(user),
        groups.join(", ")
    ));
    let keys = state.get("ci_ssh_keys").as_list().unwrap_or_default();
    if !keys.is_empty() {
        out.push_str("    ssh_authorized_keys:\n");
        for key in keys.iter().filter_map(Value::as_str) {
            out.push_str(&format!("      - {}\n", quoted(key)));
        }
    }
    let mut packages = vec!["qemu-guest-agent"];
    if on("install_docker") {
        packages.extend(["docker.io", "docker-compose-v2"]);
    }
    if on("install_node_exporter") {
        packages.push("prometheus-node-exporter");
    }
    if on("security_updates") {
        packages.push("unattended-upgrades");
    }
    out.push_str("package_update: true\npackages:\n");
    for package in &packages {
        out.push_str(&format!("  - {package}\n"));
    }
    if on("security_updates") {
        out.push_str(concat!(
            "write_files:\n",
            "  - path: /etc/apt/apt.conf.d/52pve-home-security-only\n",
            "    content: |\n",
            "      // Only security updates, and never an automatic reboot.\n",
            "      Unattended-Upgrade::Origins-Pattern { \"origin=${distro_id},archive=${distro_codename}-security\"; };\n",
            "      Unattended-Upgrade::Automatic-Reboot \"false\";\n",
            "  - path: /etc/apt/apt.conf.d/20auto-upgrades\n",
            "    content: |\n",
            "      APT::Periodic::Update-Package-Lists \"1\";\n",
            "      APT::Periodic::Unattended-Upgrade \"1\";\n",
        ));
    }
    out.push_str("runcmd:\n  - [systemctl, enable, --now, qemu-guest-agent]\n");
    if on("install_docker") {
        out.push_str("  - [systemctl, enable, --now, docker]\n");
    }
    if on("install_node_exporter") {
        out.push_str("  - [systemctl, enable, --now, prometheus-node-exporter]\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_render_a_cloud_config() {
        let state = Value::object([
            ("name", "web1".into()),
            ("ci_user", "admin".into()),
            ("ci_ssh_keys", Value::List(vec!["ssh-ed25519 AAAA key\"with-quote".into()])),
            ("install_docker", true.into()),
            ("install_node_exporter", true.into()),
            ("security_updates", true.into()),
        ]);
        let text = render(&state);
        assert!(text.starts_with("#cloud-config\n"));
        assert!(text.contains("  - name: \"admin\"\n    groups: [sudo, docker]"));
        assert!(text.contains("      - \"ssh-ed25519 AAAA key\\\"with-quote\"\n"), "keys are quoted:\n{text}");
        assert!(text.contains("  - docker.io\n") && text.contains("  - prometheus-node-exporter\n"));
        assert!(text.contains("archive=${distro_codename}-security") && text.contains("Automatic-Reboot \"false\""));
        assert!(wanted(&state));
        assert!(!wanted(&Value::object([("name", "x".into())])));
        assert_eq!(options_of(&text), Some(vec![("install_docker", true), ("install_node_exporter", true), ("security_updates", true)]));
        let plain = render(&Value::object([("name", "x".into()), ("install_node_exporter", true.into())]));
        assert_eq!(options_of(&plain), Some(vec![("install_docker", false), ("install_node_exporter", true), ("security_updates", false)]));
        assert_eq!(options_of("#cloud-config\nruncmd: [echo hi]\n"), None, "user-data of someone else's");
    }

    #[test]
    fn custom_user_data_is_verbatim() {
        let state = Value::object([("user_data", "#cloud-config\nruncmd: [echo hi]\n".into())]);
        assert_eq!(render(&state), "#cloud-config\nruncmd: [echo hi]\n");
    }
}

/// File name of the container hookscript that turns on security-only unattended upgrades.
pub const CT_SECURITY_HOOK: &str = "pve-home-ct-security-updates.sh";

/// Containers share the host's kernel, so only userland updates apply: at each start the
/// hookscript makes sure unattended-upgrades installs security updates only and never reboots.
/// It runs in the background so the start is not held up.
pub fn ct_security_hook() -> &'static str {
    r#"#!/bin/sh
# Written by terraform-provider-pve. PVE runs a hookscript at each phase of a guest's life;
# at post-start this one enables unattended-upgrades for security updates only, without reboots.
vmid="$1"
phase="$2"
[ "$phase" = "post-start" ] || exit 0
pct exec "$vmid" -- sh -c '
  command -v apt-get >/dev/null 2>&1 || exit 0
  [ -f /etc/apt/apt.conf.d/52pve-home-security-only ] && exit 0
  export DEBIAN_FRONTEND=noninteractive
  apt-get -qq update && apt-get -qq -y install unattended-upgrades || exit 0
  printf "%s\n" "Unattended-Upgrade::Origins-Pattern { \"origin=\${distro_id},archive=\${distro_codename}-security\"; };" \
    "Unattended-Upgrade::Automatic-Reboot \"false\";" > /etc/apt/apt.conf.d/52pve-home-security-only
  printf "%s\n" "APT::Periodic::Update-Package-Lists \"1\";" "APT::Periodic::Unattended-Upgrade \"1\";" > /etc/apt/apt.conf.d/20auto-upgrades
' >/dev/null 2>&1 &
exit 0
"#
}

#[cfg(test)]
mod hook_tests {
    #[test]
    fn the_container_hook_is_valid_shell() {
        let dir = std::env::temp_dir().join(format!("pve-home-hook-{}", std::process::id()));
        std::fs::write(&dir, super::ct_security_hook()).unwrap();
        let status = std::process::Command::new("sh").arg("-n").arg(&dir).status().unwrap();
        let _ = std::fs::remove_file(&dir);
        assert!(status.success(), "sh -n accepts the hookscript");
        assert!(super::ct_security_hook().contains("-security") && super::ct_security_hook().contains("Automatic-Reboot \\\"false\\\""));
    }
}
