//! HA rules (`/etc/pve/ha/rules.cfg`): their options, the feasibility checks between them, and
//! the compiled form the scheduler uses (pve-ha-manager `src/PVE/HA/Rules.pm`,
//! `src/PVE/HA/Rules/{NodeAffinity,ResourceAffinity,Helpers}.pm`, `src/PVE/API2/HA/Rules.pm`).

use std::collections::{BTreeMap, BTreeSet};

use sha1::{Digest, Sha1};

use super::{Compiled, HaRule, RuleErrors, RuleRow, ha_lock_error, node_lists};
use crate::error::PveError;
use crate::model::{Cluster, Config};

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

pub(super) fn parse_nodes(value: &str) -> BTreeMap<String, i64> {
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
pub(super) fn check_feasibility(rules: &BTreeMap<String, HaRule>, node_count: usize) -> RuleErrors {
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
pub(super) fn compile(rules: &BTreeMap<String, HaRule>, nodes: &[String]) -> Compiled {
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
/// `PVE::HA::Rules::get_next_ordinal`: one more than the *lowest* order in use, as PVE computes it.
pub(super) fn next_ordinal(rules: &BTreeMap<String, HaRule>) -> i64 {
    rules.values().map(|r| r.order).min().unwrap_or(0) + 1
}

impl Cluster {
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

    pub(super) fn check_rule_nodes(&self, nodes: &BTreeMap<String, i64>) -> Result<(), PveError> {
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
