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

use std::collections::{BTreeMap, BTreeSet};

use pve_api::GuestKind;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use std::sync::Arc;
use std::time::Duration;

use super::{Cluster, Config, MigrateRequest};
use crate::error::PveError;
use crate::state::Emulator;

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
    fn is_node_affinity(&self) -> bool {
        self.rule_type == "node-affinity"
    }

    fn affinity_is(&self, affinity: &str) -> bool {
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
type RuleErrors = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// The rules in the form the scheduler uses (`PVE::HA::Rules::compile`).
#[derive(Debug, Default)]
struct Compiled {
    /// Resource → node → priority; non-strict rules add every other node at priority -1.
    node_affinity: BTreeMap<String, BTreeMap<String, i64>>,
    positive: BTreeMap<String, BTreeSet<String>>,
    negative: BTreeMap<String, BTreeSet<String>>,
}

fn resource_type_options(rule_type: &str) -> &'static [&'static str] {
    match rule_type {
        "node-affinity" => &["resources", "nodes", "strict", "disable", "comment"],
        _ => &["resources", "affinity", "disable", "comment"],
    }
}

fn required_options(rule_type: &str) -> &'static [&'static str] {
    match rule_type {
        "node-affinity" => &["resources", "nodes"],
        _ => &["resources", "affinity"],
    }
}

fn parse_resources(value: &str) -> BTreeSet<String> {
    // `PVE::HA::Rules::decode_value`: entries that are no HA resource ID are dropped.
    pve_api::tags::split_tag_list(value)
        .filter(|sid| sid.split_once(':').is_some_and(|(t, n)| !t.is_empty() && t.chars().all(|c| c.is_ascii_lowercase()) && !n.is_empty()))
        .map(str::to_string)
        .collect()
}

fn parse_nodes(value: &str) -> BTreeMap<String, i64> {
    // `PVE::HA::Tools::parse_node_priority`, entries that do not parse dropped.
    let entry = regex::Regex::new(r"^([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)(:(\d+))?$").expect("static regex");
    pve_api::tags::split_tag_list(value)
        .filter_map(|e| {
            let caps = entry.captures(e)?;
            Some((caps[1].to_string(), caps.get(4).and_then(|p| p.as_str().parse().ok()).unwrap_or(0)))
        })
        .collect()
}

fn flag(value: &str) -> bool {
    value == "1"
}

/// `PVE::SectionConfig::check_config` for a rule: only the options of its type, and on create
/// every required one.
fn check_rule_options(rule_type: &str, params: &Config, create: bool) -> Result<(), PveError> {
    let options = resource_type_options(rule_type);
    for key in params.keys() {
        if key == "type" && params[key] == rule_type {
            continue;
        }
        if !options.contains(&key.as_str()) {
            return Err(PveError::server(format!("unexpected property '{key}'")));
        }
    }
    if create && let Some(missing) = required_options(rule_type).iter().find(|k| !params.contains_key(**k)) {
        return Err(PveError::server(format!("missing value for required option '{missing}'")));
    }
    Ok(())
}

fn sets_disjoint(a: &BTreeSet<String>, b: &BTreeSet<String>) -> bool {
    a.is_disjoint(b)
}

/// `PVE::HA::Rules::Helpers::find_disjoint_rules_resource_sets`: rules taken in the order of
/// their lowest resource, each joining the first set it overlaps.
fn disjoint_sets<'a>(rules: &[(&'a String, &'a HaRule)]) -> Vec<(Vec<String>, BTreeSet<String>)> {
    let mut sorted: Vec<&(&String, &HaRule)> = rules.iter().collect();
    sorted.sort_by(|a, b| a.1.resources.iter().next().cmp(&b.1.resources.iter().next()).then(a.0.cmp(b.0)));
    let mut sets: Vec<(Vec<String>, BTreeSet<String>)> = Vec::new();
    for (id, rule) in sorted {
        match sets.iter_mut().find(|(_, resources)| !sets_disjoint(resources, &rule.resources)) {
            Some((ids, resources)) => {
                ids.push((*id).clone());
                resources.extend(rule.resources.iter().cloned());
            }
            None => sets.push((vec![(*id).clone()], rule.resources.clone())),
        }
    }
    sets
}

fn push_error(errors: &mut RuleErrors, rule: &str, message: impl Into<String>) {
    errors.entry(rule.to_string()).or_default().entry("resources".into()).or_default().push(message.into());
}

/// `PVE::HA::Rules::check_feasibility`: every registered check over the enabled rules, node
/// affinity first, then resource affinity, then the checks between the two.
fn check_feasibility(rules: &BTreeMap<String, HaRule>, node_count: usize) -> RuleErrors {
    let enabled: Vec<(&String, &HaRule)> = rules.iter().filter(|(_, r)| !r.disable).collect();
    let node_affinity: Vec<(&String, &HaRule)> = enabled.iter().filter(|(_, r)| r.is_node_affinity()).copied().collect();
    let resource_affinity: Vec<(&String, &HaRule)> = enabled.iter().filter(|(_, r)| !r.is_node_affinity()).copied().collect();
    let positive: Vec<(&String, &HaRule)> = resource_affinity.iter().filter(|(_, r)| r.affinity_is("positive")).copied().collect();
    let negative: Vec<(&String, &HaRule)> = resource_affinity.iter().filter(|(_, r)| r.affinity_is("negative")).copied().collect();
    let mut errors = RuleErrors::new();

    // NodeAffinity::check_single_resource_reference
    let mut by_resource: BTreeMap<&String, Vec<&String>> = BTreeMap::new();
    for (id, rule) in &node_affinity {
        for sid in &rule.resources {
            by_resource.entry(sid).or_default().push(id);
        }
    }
    let mut conflicts: Vec<(&String, &String)> =
        by_resource.iter().filter(|(_, ids)| ids.len() > 1).flat_map(|(sid, ids)| ids.iter().map(move |id| (*id, *sid))).collect();
    conflicts.sort();
    for (id, sid) in conflicts {
        push_error(&mut errors, id, format!("resource '{sid}' is already used in another node affinity rule"));
    }

    // ResourceAffinity::check_resource_affinity_resources_count
    for (id, rule) in &resource_affinity {
        if rule.resources.len() < 2 {
            push_error(&mut errors, id, "rule is ineffective as there are less than two resources");
        }
    }
    // ResourceAffinity::check_negative_resource_affinity_resources_count
    for (id, rule) in &negative {
        if rule.resources.len() > node_count {
            push_error(&mut errors, id, "rule defines more resources than available nodes");
        }
    }
    // ResourceAffinity::check_inter_resource_affinity_rules_consistency
    let positive_sets = disjoint_sets(&positive);
    let mut conflicts: Vec<(&str, String)> = Vec::new();
    for (ids, resources) in &positive_sets {
        for (negative_id, rule) in &negative {
            if resources.intersection(&rule.resources).count() < 2 {
                continue;
            }
            conflicts.push(("negative", (*negative_id).clone()));
            conflicts.extend(ids.iter().map(|id| ("positive", id.clone())));
        }
    }
    conflicts.sort();
    for (kind, id) in conflicts {
        push_error(
            &mut errors,
            &id,
            format!(
                "rule shares two or more resources with a {} resource affinity rule",
                if kind == "positive" { "negative" } else { "positive" }
            ),
        );
    }

    // Rules::check_single_priority_node_affinity_in_resource_affinity_rules
    let mut conflicts: Vec<(&str, String)> = Vec::new();
    for (id, rule) in &resource_affinity {
        let paired: Vec<&(&String, &HaRule)> =
            node_affinity.iter().filter(|(_, n)| !sets_disjoint(&rule.resources, &n.resources)).collect();
        let multiple = paired.iter().any(|(_, n)| n.nodes.values().collect::<BTreeSet<_>>().len() > 1);
        if multiple {
            conflicts.push(("resource-affinity", (*id).clone()));
            conflicts.extend(paired.iter().map(|(n, _)| ("node-affinity", (*n).clone())));
        }
    }
    conflicts.sort();
    for (kind, id) in conflicts {
        let message = if kind == "node-affinity" {
            "resources are in a resource affinity rule and cannot be in a node affinity rule with multiple priorities"
        } else {
            "resources are in node affinity rules with multiple priorities"
        };
        push_error(&mut errors, &id, message);
    }

    // Rules::check_single_node_affinity_per_positive_resource_affinity_rule
    let mut conflicts: Vec<(&str, String)> = Vec::new();
    for (ids, resources) in &positive_sets {
        let paired: Vec<&String> =
            node_affinity.iter().filter(|(_, n)| !sets_disjoint(resources, &n.resources)).map(|(id, _)| *id).collect();
        if paired.len() > 1 {
            conflicts.extend(ids.iter().map(|id| ("positive", id.clone())));
            conflicts.extend(paired.iter().map(|id| ("node-affinity", (*id).clone())));
        }
    }
    conflicts.sort();
    for (kind, id) in conflicts {
        let message = if kind == "positive" {
            "resources are in multiple node affinity rules"
        } else {
            "at least one resource is in a positive resource affinity rule and there are other resources in at least one other node affinity rule already"
        };
        push_error(&mut errors, &id, message);
    }

    // Rules::check_negative_resource_affinity_node_affinity_consistency
    let mut conflicts: Vec<(&str, String)> = Vec::new();
    for (id, rule) in &negative {
        let mut allowed: BTreeSet<&String> = BTreeSet::new();
        let mut located: BTreeSet<&String> = BTreeSet::new();
        let mut paired = Vec::new();
        for (node_id, node_rule) in &node_affinity {
            let common: Vec<&String> = rule.resources.intersection(&node_rule.resources).collect();
            if common.is_empty() {
                continue;
            }
            located.extend(common);
            allowed.extend(node_rule.nodes.keys());
            paired.push((*node_id).clone());
        }
        if allowed.len() < located.len() {
            conflicts.push(("negative", (*id).clone()));
            conflicts.extend(paired.into_iter().map(|p| ("node-affinity", p)));
        }
    }
    conflicts.sort();
    for (kind, id) in conflicts {
        let message = if kind == "negative" {
            "two or more resources are restricted to less nodes than available to the resources"
        } else {
            "at least one resource is in a negative resource affinity rule and this rule would restrict these to less nodes than available to the resources"
        };
        push_error(&mut errors, &id, message);
    }
    errors
}

/// `PVE::HA::Rules::transform` then `compile`: infeasible rules dropped, connected positive rules
/// merged, the negative and node affinities a positive rule implies added.
fn compile(rules: &BTreeMap<String, HaRule>, nodes: &[String]) -> Compiled {
    let errors = check_feasibility(rules, nodes.len());
    let mut rules: BTreeMap<String, HaRule> =
        rules.iter().filter(|(id, r)| !r.disable && !errors.contains_key(*id)).map(|(k, v)| (k.clone(), v.clone())).collect();
    // ResourceAffinity::merge_connected_positive_resource_affinity_rules
    let positive: Vec<(String, HaRule)> =
        rules.iter().filter(|(_, r)| r.affinity_is("positive")).map(|(k, v)| (k.clone(), v.clone())).collect();
    let refs: Vec<(&String, &HaRule)> = positive.iter().map(|(k, v)| (k, v)).collect();
    for (ids, resources) in disjoint_sets(&refs) {
        if ids.len() < 2 {
            continue;
        }
        let order = rules.get(&ids[0]).map(|r| r.order).unwrap_or(0);
        for id in &ids {
            rules.remove(id);
        }
        rules.insert(
            format!("_merged-{}", ids.join("-")),
            HaRule { rule_type: "resource-affinity".into(), affinity: Some("positive".into()), resources, order, ..Default::default() },
        );
    }
    // ResourceAffinity::create_implicit_negative_resource_affinity_rules
    let positive: Vec<HaRule> = rules.values().filter(|r| r.affinity_is("positive")).cloned().collect();
    let negative: Vec<HaRule> = rules.values().filter(|r| r.affinity_is("negative")).cloned().collect();
    let mut implicit = Vec::new();
    for rule in &positive {
        let mut separated_from: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for neg in &negative {
            for sid in rule.resources.iter().filter(|s| neg.resources.contains(*s)) {
                for other in neg.resources.iter().filter(|o| *o != sid) {
                    separated_from.entry(other.clone()).or_default().insert(sid.clone());
                }
            }
        }
        for (other, already) in separated_from {
            for sid in rule.resources.iter().filter(|s| !already.contains(*s)) {
                implicit.push(HaRule {
                    rule_type: "resource-affinity".into(),
                    affinity: Some("negative".into()),
                    resources: [sid.clone(), other.clone()].into(),
                    ..Default::default()
                });
            }
        }
    }
    for (i, rule) in implicit.into_iter().enumerate() {
        rules.insert(format!("_implicit-negative-{i}"), rule);
    }
    // Rules::create_implicit_positive_resource_affinity_node_affinity_rules
    let positive: Vec<HaRule> = rules.values().filter(|r| r.affinity_is("positive")).cloned().collect();
    for rule in positive {
        if let Some(node_rule) = rules.values_mut().find(|n| n.is_node_affinity() && !sets_disjoint(&n.resources, &rule.resources)) {
            node_rule.resources.extend(rule.resources.iter().cloned());
        }
    }

    let mut compiled = Compiled::default();
    for rule in rules.values() {
        if rule.is_node_affinity() {
            let mut effective = rule.nodes.clone();
            if !rule.strict.unwrap_or(false) {
                for node in nodes {
                    effective.entry(node.clone()).or_insert(-1);
                }
            }
            for sid in &rule.resources {
                compiled.node_affinity.insert(sid.clone(), effective.clone());
            }
        } else {
            let set = if rule.affinity_is("positive") { &mut compiled.positive } else { &mut compiled.negative };
            for sid in &rule.resources {
                for other in rule.resources.iter().filter(|o| *o != sid) {
                    set.entry(sid.clone()).or_default().insert(other.clone());
                }
            }
        }
    }
    compiled
}

fn ha_lock_error(context: &str, error: PveError) -> PveError {
    // `PVE::HA::Config::lock_ha_domain` prefixes whatever failed inside the lock; a rule's 400
    // comes out as its text.
    let mut text = error.message.clone();
    if let Some(errors) = &error.errors {
        text = format!("{} {}\n{}", error.status, text, errors.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("\n"));
    }
    PveError::server(format!("{context}: {text}"))
}

fn node_lists(text: &[&String]) -> String {
    text.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

impl Cluster {
    fn node_names(&self) -> Vec<String> {
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

    // ---- HA rules ----

    /// The rules in effect: `rules.cfg`, plus, while groups are kept, one node-affinity rule per
    /// used group (`PVE::HA::Groups::migrate_groups_to_rules`).
    pub fn effective_rules(&self) -> BTreeMap<String, HaRule> {
        let mut rules = self.ha_rules.clone();
        let mut members: BTreeMap<&String, BTreeSet<String>> = BTreeMap::new();
        for (sid, options) in &self.ha_resources {
            if let Some(group) = options.get("group") {
                members.entry(group).or_default().insert(sid.clone());
            }
        }
        for (group, resources) in members {
            let Some(options) = self.ha_groups.get(group) else { continue };
            let order = next_ordinal(&rules);
            rules.insert(
                format!("ha-group-{group}"),
                HaRule {
                    rule_type: "node-affinity".into(),
                    resources,
                    nodes: options.get("nodes").map(|n| parse_nodes(n)).unwrap_or_default(),
                    strict: Some(options.get("restricted").is_some_and(|r| r == "1")),
                    comment: Some(options.get("comment").cloned().unwrap_or_else(|| format!("Generated from HA group '{group}'."))),
                    order,
                    ..Default::default()
                },
            );
        }
        rules
    }

    pub fn ha_rules_digest(&self) -> String {
        hex::encode(Sha1::digest(format!("{:?}", self.ha_rules).as_bytes()))
    }

    /// The rules as `GET /cluster/ha/rules` lists them (order, then ID), with each rule's
    /// feasibility errors.
    pub fn ha_rule_rows(&self) -> Vec<RuleRow> {
        let rules = self.effective_rules();
        let errors = check_feasibility(&rules, self.nodes.len());
        let mut rows: Vec<RuleRow> = rules
            .into_iter()
            .map(|(id, rule)| {
                let errs = errors.get(&id).map(|e| e.iter().map(|(k, v)| (k.clone(), v.join(", "))).collect());
                (id, rule, errs)
            })
            .collect();
        rows.sort_by(|a, b| a.1.order.cmp(&b.1.order).then(a.0.cmp(&b.0)));
        rows
    }

    fn check_rule_resources(&self, resources: &BTreeSet<String>) -> Result<(), PveError> {
        if resources.is_empty() {
            return Err(PveError::server("no resources were specified"));
        }
        let unmanaged: Vec<&String> = resources.iter().filter(|sid| !self.ha_resources.contains_key(*sid)).collect();
        if !unmanaged.is_empty() {
            return Err(PveError::server(format!("cannot use unmanaged resource(s) {}.", node_lists(&unmanaged))));
        }
        Ok(())
    }

    fn check_rule_nodes(&self, nodes: &BTreeMap<String, i64>) -> Result<(), PveError> {
        if nodes.is_empty() {
            return Err(PveError::server("no nodes were specified"));
        }
        let unknown: Vec<&String> = nodes.keys().filter(|n| self.node(n).is_none()).collect();
        if !unknown.is_empty() {
            return Err(PveError::server(format!("cannot use non-existent node(s) {}.", node_lists(&unknown))));
        }
        Ok(())
    }

    /// The new or changed rule's feasibility with the others (`$assert_feasibility`).
    fn assert_feasible(&self, rules: &BTreeMap<String, HaRule>, rule_id: &str) -> Result<(), PveError> {
        let mut all = rules.clone();
        for (id, rule) in self.effective_rules() {
            all.entry(id).or_insert(rule);
        }
        let errors = check_feasibility(&all, self.nodes.len());
        match errors.get(rule_id) {
            None => Ok(()),
            Some(rule_errors) => {
                let errors = rule_errors.iter().map(|(k, v)| (k.clone(), v.join(", "))).collect();
                Err(PveError { status: 400, message: format!("Rule '{rule_id}' is invalid."), errors: Some(errors) })
            }
        }
    }

    /// `POST /cluster/ha/rules` (pve-ha-manager `PVE::API2::HA::Rules` `create_rule`).
    pub fn create_ha_rule(&mut self, rule_id: &str, mut params: Config, groups_enabled: bool) -> Result<(), PveError> {
        if !self.ha_groups_migrated(groups_enabled) {
            return Err(PveError::server("cannot create ha rule: ha groups have not been migrated yet"));
        }
        let rule_type = params.remove("type").unwrap_or_default();
        if params.get("disable").is_some_and(|d| !flag(d)) {
            params.remove("disable");
        }
        check_rule_options(&rule_type, &params, true)?;
        let rule = HaRule {
            rule_type: rule_type.clone(),
            resources: params.get("resources").map(|r| parse_resources(r)).unwrap_or_default(),
            nodes: params.get("nodes").map(|n| parse_nodes(n)).unwrap_or_default(),
            strict: params.get("strict").map(|s| flag(s)),
            affinity: params.get("affinity").cloned(),
            disable: params.get("disable").is_some_and(|d| flag(d)),
            comment: params.get("comment").cloned(),
            order: next_ordinal(&self.ha_rules),
        };
        let wrap = |e| ha_lock_error("create ha rule failed", e);
        if self.ha_rules.contains_key(rule_id) {
            return Err(wrap(PveError::server(format!("HA rule '{rule_id}' already defined"))));
        }
        self.check_rule_resources(&rule.resources).map_err(wrap)?;
        if params.contains_key("nodes") {
            self.check_rule_nodes(&rule.nodes).map_err(wrap)?;
        }
        let mut rules = self.ha_rules.clone();
        rules.insert(rule_id.to_string(), rule);
        self.assert_feasible(&rules, rule_id).map_err(wrap)?;
        self.ha_rules = rules;
        Ok(())
    }

    /// `PUT /cluster/ha/rules/{rule}` (`update_rule`): `disable=0` is ignored (PVE drops a false
    /// `disable`; deleting it enables the rule).
    pub fn update_ha_rule(
        &mut self,
        rule_id: &str,
        mut params: Config,
        digest: Option<&str>,
        delete: &[String],
        groups_enabled: bool,
    ) -> Result<(), PveError> {
        if !self.ha_groups_migrated(groups_enabled) {
            return Err(PveError::server("cannot update ha rule: ha groups have not been migrated yet"));
        }
        if params.get("disable").is_some_and(|d| !flag(d)) {
            params.remove("disable");
        }
        let wrap = |e| ha_lock_error("update HA rules failed", e);
        if let Some(digest) = digest
            && digest != self.ha_rules_digest()
        {
            return Err(wrap(PveError::server("detected modified configuration - file changed by other user? Try again.")));
        }
        let mut rule =
            self.ha_rules.get(rule_id).cloned().ok_or_else(|| wrap(PveError::server(format!("HA rule '{rule_id}' does not exist"))))?;
        check_rule_options(&rule.rule_type, &params, false).map_err(wrap)?;
        if let Some(resources) = params.get("resources") {
            self.check_rule_resources(&parse_resources(resources)).map_err(wrap)?;
        }
        if let Some(nodes) = params.get("nodes") {
            self.check_rule_nodes(&parse_nodes(nodes)).map_err(wrap)?;
        }
        let options = resource_type_options(&rule.rule_type);
        for key in delete {
            if !options.contains(&key.as_str()) {
                return Err(wrap(PveError::server(format!("no such option '{key}'"))));
            }
            if required_options(&rule.rule_type).contains(&key.as_str()) {
                return Err(wrap(PveError::server(format!("unable to delete required option '{key}'"))));
            }
            if params.contains_key(key) {
                return Err(wrap(PveError::server(format!("cannot set and delete property '{key}' at the same time!"))));
            }
            match key.as_str() {
                "strict" => rule.strict = None,
                "disable" => rule.disable = false,
                "comment" => rule.comment = None,
                _ => {}
            }
        }
        for (key, value) in &params {
            match key.as_str() {
                "resources" => rule.resources = parse_resources(value),
                "nodes" => rule.nodes = parse_nodes(value),
                "strict" => rule.strict = Some(flag(value)),
                "affinity" => rule.affinity = Some(value.clone()),
                "disable" => rule.disable = flag(value),
                "comment" => rule.comment = Some(value.clone()),
                _ => {}
            }
        }
        let mut rules = self.ha_rules.clone();
        rules.insert(rule_id.to_string(), rule);
        self.assert_feasible(&rules, rule_id).map_err(wrap)?;
        self.ha_rules = rules;
        Ok(())
    }

    /// `DELETE /cluster/ha/rules/{rule}`: PVE does not mind a rule that is not there.
    pub fn delete_ha_rule(&mut self, rule_id: &str) {
        self.ha_rules.remove(rule_id);
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

    // ---- the manager ----

    fn ha_log(&mut self, level: &str, message: impl Into<String>) {
        let message = message.into();
        let line = if level == "info" { message } else { format!("{level}: {message}") };
        self.ha_manager.log.push((crate::state::now(), line));
        let excess = self.ha_manager.log.len().saturating_sub(1000);
        self.ha_manager.log.drain(..excess);
    }

    /// Resource → (current node, target node) as the scheduler counts them
    /// (`PVE::HA::Usage::get_used_service_nodes`).
    fn used_nodes(&self, online: &BTreeSet<String>) -> BTreeMap<String, (Option<String>, Option<String>)> {
        self.ha_manager
            .services
            .iter()
            .map(|(sid, s)| {
                let counted = matches!(
                    s.state.as_str(),
                    "started" | "request_stop" | "fence" | "freeze" | "error" | "recovery" | "migrate" | "relocate"
                );
                let current = (counted && online.contains(&s.node)).then(|| s.node.clone());
                let target =
                    if matches!(s.state.as_str(), "migrate" | "relocate") { s.target.clone().filter(|t| online.contains(t)) } else { None };
                (sid.clone(), (current, target))
            })
            .collect()
    }

    /// `PVE::HA::Manager::select_service_node`: the node affinity's highest-priority online
    /// nodes, without those where a resource in negative affinity is (or goes), narrowed to the
    /// one most of its positive-affinity partners use; staying put when allowed (`none`), else
    /// the node with the fewest HA resources (`PVE::HA::Usage::Basic`).
    fn select_service_node(&self, compiled: &Compiled, online: &BTreeSet<String>, sid: &str, preference: &str) -> Option<String> {
        let service = self.ha_manager.services.get(sid)?;
        let current = service.node.clone();
        let failback = self.ha_resources.get(sid).and_then(|o| o.get("failback")).is_none_or(|f| f == "1");
        let (allowed, mut preferred): (BTreeSet<String>, BTreeSet<String>) = match compiled.node_affinity.get(sid) {
            None => (online.clone(), online.clone()),
            Some(nodes) => {
                let available: Vec<(&String, i64)> = nodes.iter().filter(|(n, _)| online.contains(*n)).map(|(n, p)| (n, *p)).collect();
                let highest = available.iter().map(|(_, p)| *p).max();
                (
                    available.iter().map(|(n, _)| (*n).clone()).collect(),
                    available.iter().filter(|(_, p)| Some(*p) == highest).map(|(n, _)| (*n).clone()).collect(),
                )
            }
        };
        if preferred.is_empty() {
            return None;
        }
        let used = self.used_nodes(online);
        let mut together: BTreeMap<String, usize> = BTreeMap::new();
        for other in compiled.positive.get(sid).into_iter().flatten() {
            if let Some((current, target)) = used.get(other)
                && let Some(node) = target.clone().or(current.clone())
            {
                *together.entry(node).or_default() += 1;
            }
        }
        let mut separate: BTreeSet<String> = BTreeSet::new();
        for other in compiled.negative.get(sid).into_iter().flatten() {
            if let Some((current, target)) = used.get(other) {
                separate.extend(current.clone());
                separate.extend(target.clone());
            }
        }
        let allowed_here = together.contains_key(&current) || !separate.contains(&current);
        if preference == "none" && !failback && allowed.contains(&current) && allowed_here {
            return Some(current);
        }
        // apply_negative_resource_affinity, then apply_positive_resource_affinity
        preferred.retain(|n| !separate.contains(n));
        together.retain(|n, _| preferred.contains(n));
        if let Some(majority) = together.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(n, _)| n.clone()) {
            preferred.retain(|n| *n == majority);
        }
        if preference == "none" && preferred.contains(&current) {
            return Some(current);
        }
        let score = |node: &String| used.values().filter(|(c, t)| c.as_ref() == Some(node) || t.as_ref() == Some(node)).count();
        preferred.into_iter().min_by(|a, b| score(a).cmp(&score(b)).then(a.cmp(b)))
    }

    /// `queue_resource_motion`: refused when a resource in negative affinity is on the target;
    /// resources in positive affinity go along.
    fn queue_motion(&mut self, compiled: &Compiled, cmd: &str, task: &str, sid: &str, target: &str) {
        let services = self.ha_manager.services.clone();
        for other in compiled.negative.get(sid).into_iter().flatten() {
            let Some(s) = services.get(other) else { continue };
            if s.node == target && s.target.as_deref().is_none_or(|t| t == target) {
                self.ha_log(
                    "err",
                    format!("crm command '{cmd}' error - service '{other}' on node '{target}' in negative affinity with service '{sid}'"),
                );
                return;
            }
        }
        self.ha_log("info", format!("got crm command: {cmd}"));
        if let Some(s) = self.ha_manager.services.get_mut(sid) {
            s.cmd = Some((task.to_string(), target.to_string()));
        }
        for other in compiled.positive.get(sid).into_iter().flatten() {
            let Some(s) = services.get(other) else { continue };
            if s.node == target || s.target.as_deref() == Some(target) {
                continue;
            }
            self.ha_log(
                "info",
                format!("crm command '{cmd}' - {task} service '{other}' to node '{target}' (service '{other}' in positive affinity with service '{sid}')"),
            );
            if let Some(s) = self.ha_manager.services.get_mut(other) {
                s.cmd = Some((task.to_string(), target.to_string()));
            }
        }
    }

    /// One round of the HA manager: the services brought in line with the config, the queued
    /// commands read, then each resource moved towards where the rules want it. Returns what the
    /// LRMs must do; `task_running` says whether an LRM task still runs.
    pub fn ha_round(&mut self, task_running: &dyn Fn(&str) -> bool) -> Vec<HaAction> {
        let online: BTreeSet<String> = self.nodes.iter().filter(|n| n.online).map(|n| n.name.clone()).collect();
        if let Some(disarm) = &mut self.ha_manager.disarm {
            if disarm.state == "disarming" {
                disarm.state = "disarmed".into();
                self.ha_log("info", "HA is disarmed, all watchdogs released");
            }
            return Vec::new();
        }
        // Services follow the resources config.
        let configured: Vec<String> = self.ha_resources.keys().cloned().collect();
        self.ha_manager.services.retain(|sid, _| configured.contains(sid));
        for sid in &configured {
            let Some(guest) = Cluster::ha_guest_vmid(sid).and_then(|v| self.guests.get(&v)) else { continue };
            let node = guest.node.clone();
            let running = guest.running;
            self.ha_manager.services.entry(sid.clone()).or_insert_with(|| HaService {
                state: if running { "started".into() } else { "stopped".into() },
                node,
                ..Default::default()
            });
        }
        // Tasks that ended: the resource is where its guest is now.
        for (sid, service) in self.ha_manager.services.iter_mut() {
            let busy = service.task.as_deref().is_some_and(|t| t == "pending" || task_running(t));
            if busy {
                continue;
            }
            service.task = None;
            if let Some(guest) = Cluster::ha_guest_vmid(sid).and_then(|v| self.guests.get(&v)) {
                service.node = guest.node.clone();
                if matches!(service.state.as_str(), "migrate" | "relocate" | "request_stop") {
                    service.state = if guest.running { "started".into() } else { "stopped".into() };
                    service.target = None;
                }
            }
        }
        let compiled = compile(&self.effective_rules(), &self.node_names());
        // update_crm_commands
        for cmd in std::mem::take(&mut self.ha_manager.commands) {
            let parts: Vec<&str> = cmd.split_whitespace().collect();
            match parts.as_slice() {
                [task @ ("migrate" | "relocate"), sid, node] => match self.ha_manager.services.get(*sid).cloned() {
                    None => self.ha_log("err", format!("crm command error - no such service: {cmd}")),
                    Some(_) if !online.contains(*node) => self.ha_log("err", format!("crm command error - node not online: {cmd}")),
                    Some(s) if s.node == *node => {
                        self.ha_log("info", format!("ignore crm command - service already on target node: {cmd}"))
                    }
                    Some(_) => self.queue_motion(&compiled, &cmd, task, sid, node),
                },
                ["stop", sid, timeout] => match self.ha_manager.services.get_mut(*sid) {
                    Some(s) => {
                        s.cmd = Some(("stop".into(), timeout.to_string()));
                        self.ha_log("info", format!("got crm command: {cmd}"));
                    }
                    None => self.ha_log("err", format!("crm command error - no such service: {cmd}")),
                },
                _ => self.ha_log("err", format!("unable to parse crm command: {cmd}")),
            }
        }
        let mut actions = Vec::new();
        let sids: Vec<String> = self.ha_manager.services.keys().cloned().collect();
        for sid in sids {
            let Some(vmid) = Cluster::ha_guest_vmid(&sid) else { continue };
            let Some(guest) = self.guests.get(&vmid).cloned() else { continue };
            let service = self.ha_manager.services[&sid].clone();
            if service.task.is_some() || guest.lock().is_some() {
                continue;
            }
            let requested = self.ha_resources.get(&sid).and_then(|o| o.get("state")).cloned().unwrap_or_else(|| "started".into());
            if requested == "ignored" {
                continue;
            }
            let kind = guest.kind;
            if !online.contains(&guest.node) {
                // next_state_fence / next_state_recovery: the config is moved to another node.
                match self.select_service_node(&compiled, &online, &sid, "best-score") {
                    Some(node) => {
                        self.ha_log("info", format!("recover service '{sid}' from fenced node '{}' to node '{node}'", guest.node));
                        if let Some(g) = self.guests.get_mut(&vmid) {
                            g.node = node.clone();
                            g.running = false;
                            g.started_at = None;
                        }
                        let s = self.ha_manager.services.get_mut(&sid).expect("present");
                        s.node = node;
                        s.state = if requested == "started" || requested == "enabled" { "started".into() } else { "stopped".into() };
                    }
                    None => self.ha_log(
                        "err",
                        format!("recovering service '{sid}' from fenced node '{}' failed, no recovery node found", guest.node),
                    ),
                }
                continue;
            }
            let started = requested == "started" || requested == "enabled";
            let motion = match &service.cmd {
                Some((task, target)) if task == "migrate" || task == "relocate" => Some((task.clone(), target.clone())),
                _ => None,
            };
            if let Some(s) = self.ha_manager.services.get_mut(&sid) {
                s.cmd = None;
            }
            if let Some((task, target)) = motion {
                if !online.contains(&target) {
                    self.ha_log("err", format!("ignore service '{sid}' {task} request - node '{target}' not online"));
                } else if target == guest.node {
                    self.ha_log("info", format!("ignore service '{sid}' {task} request - service already on node '{target}'"));
                } else {
                    self.ha_log("info", format!("{task} service '{sid}' to node '{target}'"));
                    let s = self.ha_manager.services.get_mut(&sid).expect("present");
                    s.state = task.clone();
                    s.target = Some(target.clone());
                    s.task = Some("pending".into());
                    let relocate = task == "relocate" || kind == GuestKind::Lxc;
                    actions.push(HaAction::Migrate {
                        sid: sid.clone(),
                        vmid,
                        kind,
                        node: guest.node.clone(),
                        target,
                        online: !relocate && guest.running,
                        relocate,
                    });
                }
                continue;
            }
            if !started || service.cmd.as_ref().is_some_and(|(c, _)| c == "stop") {
                if service.cmd.as_ref().is_some_and(|(c, _)| c == "stop")
                    && let Some(options) = self.ha_resources.get_mut(&sid)
                {
                    // A stop request sets the resource's requested state to stopped.
                    options.insert("state".into(), "stopped".into());
                }
                if guest.running {
                    let s = self.ha_manager.services.get_mut(&sid).expect("present");
                    s.state = "request_stop".into();
                    s.task = Some("pending".into());
                    actions.push(HaAction::Stop { sid: sid.clone(), vmid, kind, node: guest.node.clone() });
                } else if let Some(s) = self.ha_manager.services.get_mut(&sid) {
                    s.state = "stopped".into();
                }
                continue;
            }
            // next_state_started
            match self.select_service_node(&compiled, &online, &sid, "none") {
                Some(node) if node != guest.node => {
                    let relocate = kind == GuestKind::Lxc;
                    let word = if relocate { "relocate" } else { "migrate" };
                    if relocate {
                        self.ha_log("info", format!("relocate service '{sid}' to node '{node}'"));
                    } else {
                        self.ha_log("info", format!("migrate service '{sid}' to node '{node}' (running)"));
                    }
                    let s = self.ha_manager.services.get_mut(&sid).expect("present");
                    s.state = word.into();
                    s.target = Some(node.clone());
                    s.task = Some("pending".into());
                    actions.push(HaAction::Migrate {
                        sid: sid.clone(),
                        vmid,
                        kind,
                        node: guest.node.clone(),
                        target: node,
                        online: !relocate && guest.running,
                        relocate,
                    });
                }
                _ if !guest.running && !guest.is_template() => {
                    let s = self.ha_manager.services.get_mut(&sid).expect("present");
                    s.state = "started".into();
                    s.task = Some("pending".into());
                    actions.push(HaAction::Start { sid: sid.clone(), vmid, kind, node: guest.node.clone() });
                }
                _ => {
                    if let Some(s) = self.ha_manager.services.get_mut(&sid) {
                        s.state = "started".into();
                    }
                }
            }
        }
        actions
    }
}

impl Emulator {
    /// Wakes the HA manager for a round now.
    pub fn ha_kick(&self) {
        self.ha_wakeup.notify_one();
    }

    /// Runs the HA manager: a round every `--ha-interval-ms`, and whenever something wakes it,
    /// until the emulator is gone.
    pub fn start_ha_manager(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let wakeup = self.ha_wakeup.clone();
        let interval = Duration::from_millis(self.config.ha_interval_ms.max(10));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = wakeup.notified() => {}
                    _ = tokio::time::sleep(interval) => {}
                }
                let Some(this) = weak.upgrade() else { break };
                this.ha_round().await;
            }
        });
    }

    /// One manager round, and the LRM work it asks for, each piece as its own task.
    pub async fn ha_round(self: &Arc<Self>) {
        let actions = {
            let mut cluster = self.cluster();
            if cluster.ha_resources.is_empty() && cluster.ha_manager.commands.is_empty() && cluster.ha_manager.disarm.is_none() {
                return;
            }
            let before = cluster.ha_manager.clone();
            let actions = cluster.ha_round(&|upid| self.task(upid).is_some_and(|t| t.running));
            let changed = before != cluster.ha_manager || !actions.is_empty();
            drop(cluster);
            if changed {
                self.persist();
            }
            actions
        };
        for action in actions {
            let this = self.clone();
            tokio::spawn(async move { this.run_ha_action(action).await });
        }
    }

    /// What an LRM does for the manager: start, stop (a shutdown) or migrate a resource, as
    /// root@pam on the resource's node (pve-ha-manager `PVE::HA::Resources::PVEVM` / `PVECT`).
    async fn run_ha_action(self: Arc<Self>, action: HaAction) {
        let (sid, vmid, kind) = match &action {
            HaAction::Start { sid, vmid, kind, .. }
            | HaAction::Stop { sid, vmid, kind, .. }
            | HaAction::Migrate { sid, vmid, kind, .. } => (sid.clone(), *vmid, *kind),
        };
        let guest = {
            let cluster = self.cluster();
            cluster.guests.get(&vmid).filter(|g| g.kind == kind).cloned()
        };
        let result = match (guest, action) {
            (None, _) => Err(PveError::server(format!("guest {vmid} does not exist"))),
            (Some(guest), HaAction::Start { .. }) => self.power_direct(&guest, "start".into(), false, "root@pam").await,
            (Some(guest), HaAction::Stop { .. }) => self.power_direct(&guest, "shutdown".into(), false, "root@pam").await,
            (Some(guest), HaAction::Migrate { target, online, relocate, .. }) => {
                let request = MigrateRequest {
                    target,
                    online,
                    restart: false,
                    target_storage: None,
                    with_local_disks: true,
                    force: true,
                    stop_first: relocate,
                };
                self.start_migration(&guest, request, None, "root@pam").await
            }
        };
        let mut cluster = self.cluster();
        match result {
            Ok(upid) => {
                if let Some(service) = cluster.ha_manager.services.get_mut(&sid) {
                    service.task = Some(upid.to_string());
                }
            }
            Err(error) => {
                cluster.ha_log("err", format!("service '{sid}': {}", error.message));
                if let Some(service) = cluster.ha_manager.services.get_mut(&sid) {
                    service.task = None;
                }
            }
        }
    }

    /// Takes a node down or brings it back (a power cut, for tests): HA recovers the resources
    /// of a node that is down.
    pub fn set_node_online(&self, node: &str, online: bool) {
        if let Some(n) = self.cluster().nodes.iter_mut().find(|n| n.name == node) {
            n.online = online;
        }
        self.ha_kick();
    }
}

/// `PVE::HA::Rules::get_next_ordinal`: one more than the *lowest* order in use, as PVE computes it.
fn next_ordinal(rules: &BTreeMap<String, HaRule>) -> i64 {
    rules.values().map(|r| r.order).min().unwrap_or(0) + 1
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{HaRule, check_feasibility, compile, parse_nodes};

    fn rule(rule_type: &str, resources: &[&str], extra: impl FnOnce(&mut HaRule)) -> HaRule {
        let mut rule =
            HaRule { rule_type: rule_type.into(), resources: resources.iter().map(|s| s.to_string()).collect(), ..Default::default() };
        extra(&mut rule);
        rule
    }

    #[test]
    fn node_lists_parse_with_priorities() {
        let nodes = parse_nodes("pve1:2,pve2,pve3:1");
        assert_eq!(nodes, BTreeMap::from([("pve1".into(), 2), ("pve2".into(), 0), ("pve3".into(), 1)]));
    }

    #[test]
    fn conflicting_rules_are_reported_per_rule() {
        let mut rules = BTreeMap::new();
        rules.insert("a".to_string(), rule("node-affinity", &["vm:100"], |r| r.nodes = parse_nodes("pve1")));
        rules.insert("b".to_string(), rule("node-affinity", &["vm:100"], |r| r.nodes = parse_nodes("pve2")));
        rules.insert("keep".to_string(), rule("resource-affinity", &["vm:101", "vm:102"], |r| r.affinity = Some("positive".into())));
        rules.insert("apart".to_string(), rule("resource-affinity", &["vm:101", "vm:102"], |r| r.affinity = Some("negative".into())));
        rules.insert(
            "many".to_string(),
            rule("resource-affinity", &["vm:1", "vm:2", "vm:3", "vm:4"], |r| r.affinity = Some("negative".into())),
        );
        let errors = check_feasibility(&rules, 3);
        assert_eq!(errors["a"]["resources"], vec!["resource 'vm:100' is already used in another node affinity rule"]);
        assert_eq!(errors["keep"]["resources"], vec!["rule shares two or more resources with a negative resource affinity rule"]);
        assert_eq!(errors["apart"]["resources"], vec!["rule shares two or more resources with a positive resource affinity rule"]);
        assert_eq!(errors["many"]["resources"], vec!["rule defines more resources than available nodes"]);
        let compiled = compile(&rules, &["pve1".into(), "pve2".into(), "pve3".into()]);
        assert!(compiled.node_affinity.is_empty() && compiled.positive.is_empty(), "infeasible rules are not applied");
    }

    #[test]
    fn non_strict_node_affinity_falls_back_to_every_node() {
        let mut rules = BTreeMap::new();
        rules.insert("pin".to_string(), rule("node-affinity", &["vm:100"], |r| r.nodes = parse_nodes("pve2:2")));
        rules.insert(
            "only".to_string(),
            rule("node-affinity", &["vm:101"], |r| {
                r.nodes = parse_nodes("pve3");
                r.strict = Some(true);
            }),
        );
        let compiled = compile(&rules, &["pve1".into(), "pve2".into(), "pve3".into()]);
        assert_eq!(compiled.node_affinity["vm:100"], BTreeMap::from([("pve1".into(), -1), ("pve2".into(), 2), ("pve3".into(), -1)]));
        assert_eq!(compiled.node_affinity["vm:101"], BTreeMap::from([("pve3".into(), 0)]));
    }
}
