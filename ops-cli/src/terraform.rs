//! Terraform as pve-ops uses it: the binary run in an environment folder, the resources of a
//! state (in `terraform show -json`'s form and in the state file's own), and `import` blocks
//! with the import ID each of the provider's resource types takes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// Terraform in an environment's folder.
pub struct Terraform<'a> {
    pub program: &'a str,
    pub dir: PathBuf,
}

impl Terraform<'_> {
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(self.program);
        command.arg(format!("-chdir={}", self.dir.display())).args(args).env("TF_IN_AUTOMATION", "1").stdin(Stdio::null());
        command
    }

    /// Runs `args`, returning stdout; a failure carries Terraform's error messages.
    fn output(&self, args: &[&str]) -> anyhow::Result<Vec<u8>> {
        let out = self.command(args).output().map_err(|e| anyhow::anyhow!("cannot run {}: {e}", self.program))?;
        if !out.status.success() {
            anyhow::bail!(
                "terraform {} in {} failed ({}): {}",
                args.first().copied().unwrap_or_default(),
                self.dir.display(),
                out.status,
                errors(&String::from_utf8_lossy(&out.stderr))
            );
        }
        Ok(out.stdout)
    }

    pub fn outputs(&self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_slice(&self.output(&["output", "-json", "-no-color"])?)?)
    }

    /// `terraform show -json` of the state (any backend; takes no lock), or of a saved plan.
    pub fn show_json(&self, plan: Option<&Path>) -> anyhow::Result<Value> {
        let plan = plan.map(|p| p.display().to_string());
        let mut args = vec!["show", "-json", "-no-color"];
        args.extend(plan.as_deref());
        let stdout = self.output(&args)?;
        serde_json::from_slice(&stdout).map_err(|e| anyhow::anyhow!("terraform show -json in {} printed no JSON: {e}", self.dir.display()))
    }

    /// A plan of the configuration against the state as it is (no refresh, no lock), saved to
    /// `out` and read back as JSON.
    pub fn plan_json(&self, out: &Path) -> anyhow::Result<Value> {
        let out_arg = format!("-out={}", out.display());
        self.output(&["plan", "-refresh=false", "-lock=false", "-input=false", "-no-color", &out_arg])?;
        self.show_json(Some(out))
    }
}

/// Terraform's error messages from its human-readable output (`Error: …` lines), else the
/// output's last lines.
pub fn errors(text: &str) -> String {
    let found: Vec<&str> = text.lines().filter_map(|l| l.trim_start_matches(['│', ' ', '╷']).strip_prefix("Error: ")).collect();
    if !found.is_empty() {
        return found.join("; ");
    }
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines[lines.len().saturating_sub(5)..].join(" ")
}

/// One resource instance of a state.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Full address: module path, type, name and index key (`module.web.pve_vm.this[0]`).
    pub address: String,
    pub resource_type: String,
    pub managed: bool,
    /// A deposed object (create_before_destroy), still tracked until Terraform destroys it.
    pub deposed: bool,
    pub attributes: Value,
}

/// Every resource instance of `terraform show -json` (state form): the root module's resources
/// and those of its child modules, at any depth.
pub fn show_instances(show: &Value) -> Vec<Instance> {
    fn walk(module: &Value, found: &mut Vec<Instance>) {
        for r in module["resources"].as_array().into_iter().flatten() {
            found.push(Instance {
                address: r["address"].as_str().unwrap_or_default().to_string(),
                resource_type: r["type"].as_str().unwrap_or_default().to_string(),
                managed: r["mode"] == "managed",
                deposed: r.get("deposed_key").is_some(),
                attributes: r["values"].clone(),
            });
        }
        for child in module["child_modules"].as_array().into_iter().flatten() {
            walk(child, found);
        }
    }
    let mut found = Vec::new();
    walk(&show["values"]["root_module"], &mut found);
    found
}

/// Every resource instance of a state file (format version 4).
pub fn state_instances(state: &Value) -> Vec<Instance> {
    let mut found = Vec::new();
    for r in state["resources"].as_array().into_iter().flatten() {
        let (resource_type, name) = (r["type"].as_str().unwrap_or_default(), r["name"].as_str().unwrap_or_default());
        let managed = r["mode"] != "data";
        let mut base = r["module"].as_str().filter(|m| !m.is_empty()).map(|m| format!("{m}.")).unwrap_or_default();
        if !managed {
            base.push_str("data.");
        }
        base.push_str(&format!("{resource_type}.{name}"));
        for i in r["instances"].as_array().into_iter().flatten() {
            found.push(Instance {
                address: format!("{base}{}", index_key(&i["index_key"])),
                resource_type: resource_type.to_string(),
                managed,
                deposed: i.get("deposed").is_some(),
                attributes: i["attributes"].clone(),
            });
        }
    }
    found
}

/// `[0]`, `["key"]`, or nothing, as Terraform writes an instance key in an address.
fn index_key(key: &Value) -> String {
    match key {
        Value::Number(n) => format!("[{n}]"),
        Value::String(s) => format!("[{}]", quote(s)),
        _ => String::new(),
    }
}

/// An HCL string literal.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // A template sequence would be evaluated: doubled, it is literal.
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The guest kind and VMID of a `pve_vm` or `pve_lxc` instance.
pub fn guest_vmid(resource_type: &str, attributes: &Value) -> Option<(pve_api::GuestKind, u64)> {
    let kind = match resource_type {
        "pve_vm" => pve_api::GuestKind::Qemu,
        "pve_lxc" => pve_api::GuestKind::Lxc,
        _ => return None,
    };
    Some((kind, attributes["vmid"].as_u64()?))
}

/// The ID `terraform import` takes for an instance of one of the provider's resource types (see
/// each type's `fn import` in provider/src/resources/): `NODE/VMID` for guests (the node they are
/// on now: pve_vm checks it), the job ID for backup jobs, `VMID/NAME` for snapshots, the VMID for
/// HA resources and lifecycle tags. `None` for other providers' types and for attributes that
/// lack what the ID is made of.
pub fn import_id(resource_type: &str, attributes: &Value) -> Option<String> {
    let vmid = || attributes["vmid"].as_u64();
    let text = |key: &str| attributes[key].as_str().filter(|s| !s.is_empty()).map(str::to_string);
    match resource_type {
        "pve_vm" | "pve_lxc" => {
            let node = text("current_node").or_else(|| text("node"));
            Some(match node {
                Some(node) => format!("{node}/{}", vmid()?),
                None => vmid()?.to_string(),
            })
        }
        "pve_backup_job" => text("id"),
        "pve_snapshot" => Some(format!("{}/{}", vmid()?, text("name")?)),
        "pve_ha_resource" | "pve_lifecycle_tag" => Some(vmid()?.to_string()),
        _ => None,
    }
}

/// An `import` block.
pub fn import_block(address: &str, id: &str) -> String {
    format!("import {{\n  to = {address}\n  id = {}\n}}\n", quote(id))
}

/// Text with every line commented out (`# `).
pub fn commented(text: &str) -> String {
    text.lines().map(|l| format!("# {l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn walks_show_json_through_nested_modules() {
        let show = json!({
            "format_version": "1.0",
            "values": { "root_module": {
                "resources": [
                    { "address": "pve_vm.web", "mode": "managed", "type": "pve_vm", "name": "web", "values": { "vmid": 100 } },
                    { "address": "data.pve_nodes.all", "mode": "data", "type": "pve_nodes", "name": "all", "values": {} }
                ],
                "child_modules": [{
                    "address": "module.k8s",
                    "resources": [
                        { "address": "module.k8s.pve_lxc.ct[\"a\"]", "mode": "managed", "type": "pve_lxc", "name": "ct", "index": "a", "values": { "vmid": 200 } }
                    ],
                    "child_modules": [{
                        "address": "module.k8s.module.node[0]",
                        "resources": [
                            { "address": "module.k8s.module.node[0].pve_vm.this", "mode": "managed", "type": "pve_vm", "name": "this", "values": { "vmid": 300 } },
                            { "address": "module.k8s.module.node[0].pve_vm.this", "mode": "managed", "type": "pve_vm", "name": "this", "deposed_key": "d1", "values": { "vmid": 301 } }
                        ]
                    }]
                }]
            }}
        });
        let found = show_instances(&show);
        let guests: Vec<(String, u64, bool)> = found
            .iter()
            .filter_map(|i| guest_vmid(&i.resource_type, &i.attributes).map(|(_, vmid)| (i.address.clone(), vmid, i.deposed)))
            .collect();
        assert_eq!(
            guests,
            [
                ("pve_vm.web".to_string(), 100, false),
                ("module.k8s.pve_lxc.ct[\"a\"]".to_string(), 200, false),
                ("module.k8s.module.node[0].pve_vm.this".to_string(), 300, false),
                ("module.k8s.module.node[0].pve_vm.this".to_string(), 301, true),
            ]
        );
        assert!(!found[1].managed, "the data source is read, not managed");
        // No state at all: `{"format_version":"1.0"}`.
        assert!(show_instances(&json!({ "format_version": "1.0" })).is_empty());
    }

    #[test]
    fn addresses_of_a_state_file() {
        let state = json!({ "version": 4, "resources": [
            { "mode": "managed", "type": "pve_vm", "name": "web", "instances": [{ "attributes": { "vmid": 100 } }] },
            { "module": "module.k8s[\"prod\"]", "mode": "managed", "type": "pve_vm", "name": "node",
              "instances": [{ "index_key": 0, "attributes": {} }, { "index_key": 1, "attributes": {} }] },
            { "mode": "managed", "type": "pve_lxc", "name": "ct", "instances": [{ "index_key": "a\"b", "attributes": {} }] },
            { "mode": "data", "type": "pve_nodes", "name": "all", "instances": [{ "attributes": {} }] }
        ]});
        let addresses: Vec<String> = state_instances(&state).into_iter().map(|i| i.address).collect();
        assert_eq!(
            addresses,
            [
                "pve_vm.web",
                "module.k8s[\"prod\"].pve_vm.node[0]",
                "module.k8s[\"prod\"].pve_vm.node[1]",
                "pve_lxc.ct[\"a\\\"b\"]",
                "data.pve_nodes.all"
            ]
        );
    }

    #[test]
    fn import_ids_follow_each_resource_type() {
        let vm = json!({ "vmid": 105, "node": "pve1", "current_node": "pve2" });
        assert_eq!(import_id("pve_vm", &vm).as_deref(), Some("pve2/105"), "where the VM is now: pve_vm checks the node");
        assert_eq!(import_id("pve_lxc", &json!({ "vmid": 200, "node": "pve1" })).as_deref(), Some("pve1/200"));
        assert_eq!(import_id("pve_backup_job", &json!({ "id": "backup-nightly" })).as_deref(), Some("backup-nightly"));
        assert_eq!(import_id("pve_snapshot", &json!({ "vmid": 105, "name": "before" })).as_deref(), Some("105/before"));
        assert_eq!(import_id("pve_ha_resource", &json!({ "vmid": 105, "sid": "vm:105" })).as_deref(), Some("105"));
        assert_eq!(import_id("pve_lifecycle_tag", &json!({ "vmid": 105 })).as_deref(), Some("105"));
        assert_eq!(import_id("random_pet", &json!({ "id": "x" })), None, "another provider's type");
        assert_eq!(import_id("pve_vm", &json!({})), None);
        assert_eq!(import_block("pve_vm.vm[5]", "pve1/105"), "import {\n  to = pve_vm.vm[5]\n  id = \"pve1/105\"\n}\n");
        assert_eq!(quote("a\"b${c}\\"), r#""a\"b$${c}\\""#);
        assert_eq!(commented("import {\n}\n"), "# import {\n# }\n");
    }

    #[test]
    fn keeps_terraforms_error_lines() {
        let stderr = "\n╷\n│ Error: Failed to load state: no such bucket\n│ \n│ more detail\n╵\n";
        assert_eq!(errors(stderr), "Failed to load state: no such bucket");
        assert_eq!(errors("something\nwent wrong\n"), "something went wrong");
    }
}
