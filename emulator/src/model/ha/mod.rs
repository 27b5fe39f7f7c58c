//! High availability as pve-ha-manager 5.x (PVE 9) has it: HA resources (`/cluster/ha/resources`),
//! HA rules (`/cluster/ha/rules`, node affinity and resource affinity) with their feasibility
//! checks, the HA groups PVE 9 migrates to rules, arming and disarming, and the manager (CRM and
//! LRMs) that places resources: it honours the rules when it picks a node, carries out migrate
//! and relocate requests, keeps started resources running and recovers those of failed nodes.
//!
//! Sources: `src/PVE/API2/HA/{Resources,Rules,Groups,Status}.pm`, `src/PVE/HA/Rules.pm`,
//! `src/PVE/HA/Rules/{NodeAffinity,ResourceAffinity,Helpers}.pm`, `src/PVE/HA/Config.pm`,
//! `src/PVE/HA/Groups.pm`, `src/PVE/HA/Manager.pm` (`select_service_node`,
//! `queue_resource_motion`, `update_crm_commands`, `next_state_started`, `next_state_recovery`)
//! and `src/PVE/HA/Usage/Basic.pm`.
//!
//! Here: the types, HA resources, groups and arming; `rules`: the rules and their checks;
//! `manager`: the manager's rounds and what the LRMs do for it.

mod manager;
mod rules;

use std::collections::{BTreeMap, BTreeSet};

use pve_api::GuestKind;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use self::rules::{compile, parse_nodes};
use super::{Cluster, Config};
use crate::error::PveError;

/// The options an HA resource keeps (pve-ha-manager `PVE::HA::Resources::PVEVM::options`).
pub const HA_OPTIONS: [&str; 6] = ["state", "group", "max_restart", "max_relocate", "comment", "failback"];

/// An HA rule as `rules.cfg` holds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HaRule {
    /// `node-affinity` or `resource-affinity`.
    #[serde(rename = "type")]
    pub rule_type: String,
    pub resources: BTreeSet<String>,
    /// Node → priority (node affinity).
    #[serde(default)]
    pub nodes: BTreeMap<String, i64>,
    #[serde(default)]
    pub strict: Option<bool>,
    /// `positive` or `negative` (resource affinity).
    #[serde(default)]
    pub affinity: Option<String>,
    #[serde(default)]
    pub disable: bool,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub order: i64,
}

impl HaRule {
    pub(super) fn is_node_affinity(&self) -> bool {
        self.rule_type == "node-affinity"
    }

    pub(super) fn affinity_is(&self, affinity: &str) -> bool {
        self.rule_type == "resource-affinity" && self.affinity.as_deref() == Some(affinity)
    }

    /// `node[:priority]`, sorted by node, priority 0 left out (`NodeAffinity::encode_plugin_value`).
    pub fn nodes_text(&self) -> String {
        self.nodes.iter().map(|(n, p)| if *p != 0 { format!("{n}:{p}") } else { n.clone() }).collect::<Vec<_>>().join(",")
    }

    pub fn resources_text(&self) -> String {
        self.resources.iter().cloned().collect::<Vec<_>>().join(",")
    }
}

/// `disarm-ha`: the mode resources are held in while HA is off, and how far the disarming got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HaDisarm {
    /// `freeze` (resources stay as they are) or `ignore` (resources are handled as unmanaged).
    pub mode: String,
    /// `disarming`, then `disarmed`.
    pub state: String,
}

/// The manager's view of one resource (`manager_status` `service_status`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HaService {
    /// `started`, `stopped`, `request_stop`, `migrate`, `relocate`, `recovery`, `error`.
    pub state: String,
    pub node: String,
    #[serde(default)]
    pub target: Option<String>,
    /// A queued `migrate`/`relocate` (with the target node) or `stop` (with the timeout).
    #[serde(default)]
    pub cmd: Option<(String, String)>,
    /// The LRM task acting on the resource (a UPID), `pending` while it is being started.
    #[serde(default)]
    pub task: Option<String>,
}

/// What the HA manager keeps between its rounds (`manager_status`), and its log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HaManager {
    #[serde(default)]
    pub disarm: Option<HaDisarm>,
    /// Queued CRM commands (`crm_commands`): `migrate SID NODE`, `relocate SID NODE`,
    /// `stop SID TIMEOUT`.
    #[serde(default)]
    pub commands: Vec<String>,
    #[serde(default)]
    pub services: BTreeMap<String, HaService>,
    /// What pve-ha-crm logged (shown in the master node's syslog).
    #[serde(default)]
    pub log: Vec<(i64, String)>,
}

/// What the LRMs are to do after a manager round.
#[derive(Debug, Clone, PartialEq)]
pub enum HaAction {
    Start {
        sid: String,
        vmid: u64,
        kind: GuestKind,
        node: String,
    },
    Stop {
        sid: String,
        vmid: u64,
        kind: GuestKind,
        node: String,
    },
    /// `online`: a live migration of a running VM; `relocate`: stopped first.
    Migrate {
        sid: String,
        vmid: u64,
        kind: GuestKind,
        node: String,
        target: String,
        online: bool,
        relocate: bool,
    },
}

/// A rule as listed: its ID, the rule, and its feasibility errors by property.
pub type RuleRow = (String, HaRule, Option<BTreeMap<String, String>>);

/// Errors of a rule set, per rule and property.
pub(super) type RuleErrors = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// The rules in the form the scheduler uses (`PVE::HA::Rules::compile`).
#[derive(Debug, Default)]
pub(super) struct Compiled {
    /// Resource → node → priority; non-strict rules add every other node at priority -1.
    pub(super) node_affinity: BTreeMap<String, BTreeMap<String, i64>>,
    pub(super) positive: BTreeMap<String, BTreeSet<String>>,
    pub(super) negative: BTreeMap<String, BTreeSet<String>>,
}

pub(super) fn ha_lock_error(context: &str, error: PveError) -> PveError {
    // `PVE::HA::Config::lock_ha_domain` prefixes whatever failed inside the lock; a rule's 400
    // comes out as its text.
    let mut text = error.message.clone();
    if let Some(errors) = &error.errors {
        text = format!("{} {}\n{}", error.status, text, errors.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("\n"));
    }
    PveError::server(format!("{context}: {text}"))
}

pub(super) fn node_lists(text: &[&String]) -> String {
    text.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}
impl Cluster {
    pub(super) fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Whether HA groups have been migrated to rules: with `--ha-groups` (PVE 8 behaviour) only
    /// once no group is left; in PVE 9 always (`PVE::HA::Config::have_groups_been_migrated`).
    pub fn ha_groups_migrated(&self, groups_enabled: bool) -> bool {
        !groups_enabled || self.ha_groups.is_empty()
    }

    // ---- HA resources ----

    /// `PVE::HA::Config::parse_sid`: `100` names the guest with that VMID, `vm:100` is taken as
    /// it is.
    pub fn ha_sid(&self, raw: &str) -> Result<String, PveError> {
        if raw.chars().all(|c| c.is_ascii_digit()) {
            let vmid: u64 = raw.parse().map_err(|_| PveError::server(format!("unable to parse service id '{raw}'")))?;
            let guest = self
                .guests
                .get(&vmid)
                .ok_or_else(|| PveError::server(format!("unable to detect SID from VMID - VM/CT {vmid} does not exist")))?;
            return Ok(format!("{}:{vmid}", if guest.kind == GuestKind::Qemu { "vm" } else { "ct" }));
        }
        match raw.split_once(':') {
            Some((t, n)) if !t.is_empty() && !n.is_empty() => Ok(raw.to_string()),
            _ => Err(PveError::server(format!("unable to parse service id '{raw}'"))),
        }
    }

    /// The guest an HA resource ID names, if it is one of ours.
    pub fn ha_guest_vmid(sid: &str) -> Option<u64> {
        sid.split_once(':').and_then(|(_, n)| n.parse().ok())
    }

    /// Whether HA manages the guest: configured, not `ignored`, and HA not disarmed in `ignore`
    /// mode (`PVE::HA::Config::vm_is_ha_managed`).
    pub fn vm_is_ha_managed(&self, vmid: u64) -> Option<String> {
        if self.ha_manager.disarm.as_ref().is_some_and(|d| d.mode == "ignore") {
            return None;
        }
        ["vm", "ct"]
            .iter()
            .map(|t| format!("{t}:{vmid}"))
            .find(|sid| self.ha_resources.get(sid).is_some_and(|o| o.get("state").is_none_or(|s| s != "ignored")))
    }

    /// The HA resource a (raw) `sid` names, under its stored name.
    pub fn ha_resource(&self, raw_sid: &str) -> Result<(String, &Config), PveError> {
        let sid = self.ha_sid(raw_sid)?;
        let options = self.ha_resources.get(&sid).ok_or_else(|| PveError::server(format!("no such resource '{sid}'")))?;
        Ok((sid, options))
    }

    /// `POST /cluster/ha/resources` (pve-ha-manager `PVE::API2::HA::Resources` `create`).
    pub fn create_ha_resource(
        &mut self,
        raw_sid: &str,
        type_param: Option<&str>,
        options: Config,
        groups_enabled: bool,
    ) -> Result<(), PveError> {
        let sid = self.ha_sid(raw_sid)?;
        let (kind, name) = sid.split_once(':').expect("parsed");
        if type_param.is_some_and(|t| t != kind) {
            return Err(PveError::server("types does not match"));
        }
        if options.contains_key("group") && self.ha_groups_migrated(groups_enabled) {
            return Err(PveError::server("invalid parameter 'group': ha groups have been migrated to rules"));
        }
        if !matches!(kind, "vm" | "ct") {
            return Err(PveError::server(format!("unknown resource type '{kind}'")));
        }
        if !(name.len() > 1 && name.starts_with(|c: char| ('1'..='9').contains(&c)) && name.chars().all(|c| c.is_ascii_digit())) {
            return Err(PveError::server("invalid VMID"));
        }
        let vmid: u64 = name.parse().map_err(|_| PveError::server("invalid VMID"))?;
        match self.guests.get(&vmid) {
            None => return Err(PveError::server(format!("resource '{sid}' does not exist in cluster"))),
            Some(g) if kind == "vm" && g.kind != GuestKind::Qemu => {
                return Err(PveError::server(format!("resource '{sid}' - guest with ID {vmid} is not a VM")));
            }
            Some(g) if kind == "ct" && g.kind != GuestKind::Lxc => {
                return Err(PveError::server(format!("resource '{sid}' - guest with ID {vmid} is not a container")));
            }
            Some(_) => {}
        }
        if self.ha_resources.contains_key(&sid) {
            return Err(PveError::server(format!("create resource failed: resource ID '{sid}' already defined")));
        }
        self.ha_resources.insert(sid, options);
        Ok(())
    }

    /// `PUT /cluster/ha/resources/{sid}`: the `delete`d options removed, the given ones set.
    pub fn update_ha_resource(
        &mut self,
        raw_sid: &str,
        type_param: Option<&str>,
        digest: Option<&str>,
        delete: &[String],
        options: Config,
        groups_enabled: bool,
    ) -> Result<(), PveError> {
        let sid = self.ha_sid(raw_sid)?;
        if type_param.is_some_and(|t| Some(t) != sid.split(':').next()) {
            return Err(PveError::server("types does not match"));
        }
        if let Some(group) = options.get("group").filter(|g| !g.is_empty()) {
            if self.ha_groups_migrated(groups_enabled) {
                return Err(PveError::server("invalid parameter 'group': ha groups have been migrated to rules"));
            }
            if !self.ha_groups.contains_key(group) {
                return Err(PveError::server(format!("HA group '{group}' does not exist")));
            }
        }
        if self.ha_manager.services.get(&sid).is_some_and(|s| s.state == "error") && options.get("state").is_none_or(|s| s != "disabled") {
            return Err(PveError::server(format!("service '{sid}' in error state, must be disabled and fixed first")));
        }
        let fail = |message: String| PveError::server(format!("update resources config failed: {message}"));
        if let Some(digest) = digest
            && digest != self.ha_resources_digest()
        {
            return Err(fail("detected modified configuration - file changed by other user? Try again.".into()));
        }
        let current = self.ha_resources.get_mut(&sid).ok_or_else(|| fail(format!("no such resource '{sid}'")))?;
        current.extend(options);
        for key in delete {
            if !HA_OPTIONS.contains(&key.as_str()) {
                return Err(fail(format!("no such option '{key}'")));
            }
            current.remove(key);
        }
        Ok(())
    }

    /// `DELETE /cluster/ha/resources/{sid}`; with `purge` (the default) the rules forget the
    /// resource, and a rule left without resources goes (`delete_service_from_config`).
    pub fn delete_ha_resource(&mut self, raw_sid: &str, purge: bool) -> Result<(), PveError> {
        let sid = self.ha_sid(raw_sid)?;
        if self.ha_resources.remove(&sid).is_none() {
            return Err(PveError::server(format!("cannot delete service '{sid}', not HA managed!")));
        }
        self.ha_manager.services.remove(&sid);
        if purge {
            for rule in self.ha_rules.values_mut() {
                rule.resources.remove(&sid);
            }
            self.ha_rules.retain(|_, r| !r.resources.is_empty());
        }
        Ok(())
    }

    /// A destroyed guest's HA resource goes (`purge`), and the rules forget it.
    pub fn purge_from_ha(&mut self, vmid: u64) {
        for sid in [format!("vm:{vmid}"), format!("ct:{vmid}")] {
            if self.ha_resources.contains_key(&sid) {
                let _ = self.delete_ha_resource(&sid, true);
            }
        }
    }

    pub fn ha_resources_digest(&self) -> String {
        hex::encode(Sha1::digest(format!("{:?}", self.ha_resources).as_bytes()))
    }

    /// `POST /cluster/ha/resources/{sid}/migrate|relocate`: the request queued for the CRM, and
    /// what the rules make of it (`get_resource_motion_info`).
    pub fn queue_ha_motion(&mut self, task: &str, raw_sid: &str, node: &str) -> Result<(String, Vec<String>, Vec<String>), PveError> {
        let sid = self.ha_sid(raw_sid)?;
        if self.ha_resources.get(&sid).is_none_or(|o| o.get("state").is_some_and(|s| s == "ignored")) {
            return Err(PveError::server(format!("resource '{sid}' is not HA managed")));
        }
        if self.ha_manager.services.get(&sid).is_some_and(|s| s.state == "error") {
            return Err(PveError::server(format!("service '{sid}' in error state, must be disabled and fixed first")));
        }
        self.ha_manager.commands.push(format!("{task} {sid} {node}"));
        let (comigrated, blocking) = self.resource_motion_info(&sid, node);
        Ok((sid, comigrated, blocking))
    }

    /// Resources that move along (positive affinity) and those that block `node` (negative).
    pub(super) fn resource_motion_info(&self, sid: &str, node: &str) -> (Vec<String>, Vec<String>) {
        let compiled = compile(&self.effective_rules(), &self.node_names());
        let together = compiled.positive.get(sid).cloned().unwrap_or_default();
        let separate = compiled.negative.get(sid).cloned().unwrap_or_default();
        let services = &self.ha_manager.services;
        let comigrated = together.into_iter().filter(|c| services.get(c).is_some()).collect();
        let blocking = separate
            .into_iter()
            .filter(|c| services.get(c).is_some_and(|s| s.node == node && s.target.as_deref().is_none_or(|t| t == node)))
            .collect();
        (comigrated, blocking)
    }

    // ---- HA groups (kept with `--ha-groups` only) ----

    pub fn ha_group(&self, id: &str) -> Result<&Config, PveError> {
        self.ha_groups.get(id).ok_or_else(|| PveError::server(format!("no such ha group '{id}'")))
    }

    pub fn create_ha_group(&mut self, id: &str, options: Config) -> Result<(), PveError> {
        if let Some(nodes) = options.get("nodes") {
            self.check_rule_nodes(&parse_nodes(nodes)).map_err(|e| ha_lock_error("create ha group failed", e))?;
        }
        if self.ha_groups.contains_key(id) {
            return Err(PveError::server(format!("create ha group failed: ha group ID '{id}' already defined")));
        }
        self.ha_groups.insert(id.to_string(), options);
        Ok(())
    }

    pub fn update_ha_group(&mut self, id: &str, delete: &[String], options: Config) -> Result<(), PveError> {
        let group =
            self.ha_groups.get_mut(id).ok_or_else(|| PveError::server(format!("update ha group failed: no such ha group '{id}'")))?;
        for key in delete {
            match key.as_str() {
                "nodes" => return Err(PveError::server(format!("update ha group failed: unable to delete required option '{key}'"))),
                "comment" | "nofailback" | "restricted" => {
                    group.remove(key);
                }
                _ => return Err(PveError::server(format!("update ha group failed: no such option '{key}'"))),
            }
        }
        group.extend(options);
        Ok(())
    }

    pub fn delete_ha_group(&mut self, id: &str) -> Result<(), PveError> {
        if !self.ha_groups.contains_key(id) {
            return Err(PveError::server(format!("delete ha group failed: no such ha group '{id}'")));
        }
        if let Some((sid, _)) = self.ha_resources.iter().find(|(_, o)| o.get("group").map(String::as_str) == Some(id)) {
            return Err(PveError::server(format!("delete ha group failed: ha group is used by service '{sid}'")));
        }
        self.ha_groups.remove(id);
        Ok(())
    }

    // ---- arming ----

    /// `disarm-ha` as the CRM takes it (`update_crm_commands`).
    pub fn disarm_ha(&mut self, mode: &str) {
        if let Some(disarm) = &self.ha_manager.disarm {
            let state = disarm.state.clone();
            self.ha_log("notice", format!("ignoring disarm-ha command - already in disarm state ({state})"));
            return;
        }
        self.ha_log("info", format!("got crm command: disarm-ha {mode}"));
        if mode == "ignore" {
            for sid in self.ha_manager.services.keys().cloned().collect::<Vec<_>>() {
                self.ha_log("info", format!("disarm: suspending HA tracking for service '{sid}'"));
            }
        }
        self.ha_manager.disarm = Some(HaDisarm { mode: mode.to_string(), state: "disarming".into() });
    }

    /// `arm-ha`: after `ignore`, the manager takes each resource's node from where it is now.
    pub fn arm_ha(&mut self) {
        let Some(disarm) = self.ha_manager.disarm.take() else {
            self.ha_log("notice", "ignoring arm-ha command - HA stack is not disarmed");
            return;
        };
        self.ha_log("info", "got crm command: arm-ha");
        if disarm.mode == "ignore" {
            let moved: Vec<(String, String, String)> = self
                .ha_manager
                .services
                .iter()
                .filter_map(|(sid, s)| {
                    let guest = Cluster::ha_guest_vmid(sid).and_then(|v| self.guests.get(&v))?;
                    (guest.node != s.node).then(|| (sid.clone(), s.node.clone(), guest.node.clone()))
                })
                .collect();
            for (sid, from, to) in moved {
                self.ha_log("info", format!("service '{sid}': updating node '{from}' => '{to}' (changed while disarmed)"));
                if let Some(s) = self.ha_manager.services.get_mut(&sid) {
                    s.node = to;
                }
            }
        }
    }
}
