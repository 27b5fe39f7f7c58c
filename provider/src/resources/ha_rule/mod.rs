//! `resource "pve_ha_rule"`: a PVE 9 HA rule (`/cluster/ha/rules`), the successor of HA groups.
//!
//! - `node-affinity`: the resources prefer (or, `strict`, may only run on) the listed nodes, the
//!   higher priority first.
//! - `resource-affinity`: the resources are kept together (`positive`) or apart (`negative`): a
//!   negative rule is what keeps three control planes on three nodes.
//!
//! Plan rules: `rule` and `type` replace the rule when changed, the rest updates in place.
//! Refused at plan time: attributes of the other type (`affinity` on a node-affinity rule,
//! `nodes` on a resource-affinity one), a rule without resources, a resource-affinity rule with
//! fewer than two (PVE keeps such a rule but it constrains nothing), and nodes not in the cluster.
//! Import with `terraform import pve_ha_rule.NAME RULE`.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use pve_api::Params;

use crate::plugin::diag::{Diagnostic, Diagnostics, api_error, api_failure, attr};
use crate::plugin::resource::{CreateError, Resource};
use crate::plugin::schema::{Attribute, Block, Validator};
use crate::plugin::value::{Type, Value};
use crate::provider::Context;

pub struct PveHaRule;

const NODE_AFFINITY: &str = "node-affinity";
const RESOURCE_AFFINITY: &str = "resource-affinity";

/// `nodes` as PVE writes it (`pve1:2,pve2`; no priority means 0) into a map.
fn nodes_from(text: &str) -> Value {
    let nodes: BTreeMap<String, Value> = text
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|entry| {
            let (node, priority) = entry.split_once(':').unwrap_or((entry, "0"));
            (node.to_string(), priority.parse::<i64>().unwrap_or(0).into())
        })
        .collect();
    Value::Map(nodes)
}

fn nodes_param(nodes: &Value) -> Option<String> {
    let Value::Map(map) = nodes else { return None };
    Some(map.iter().map(|(node, priority)| format!("{node}:{}", priority.as_i64().unwrap_or(0))).collect::<Vec<_>>().join(","))
}

fn resources_param(resources: &Value) -> String {
    let mut sids: Vec<&str> = resources.as_list().unwrap_or_default().iter().filter_map(Value::as_str).collect();
    sids.sort_unstable();
    sids.join(",")
}

fn state_from(rule: &pve_api::HaRule) -> Value {
    let mut resources: Vec<Value> = rule.resources.split(',').map(str::trim).filter(|r| !r.is_empty()).map(Value::from).collect();
    resources.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    let node_affinity = rule.rule_type == NODE_AFFINITY;
    Value::object([
        ("rule", rule.rule.clone().into()),
        ("type", rule.rule_type.clone().into()),
        ("resources", Value::List(resources)),
        ("nodes", if node_affinity { rule.nodes.as_deref().map(nodes_from).unwrap_or(Value::Null) } else { Value::Null }),
        ("strict", (node_affinity && rule.strict == Some(true)).into()),
        ("affinity", rule.affinity.clone().into()),
        ("disable", (rule.disable == Some(true)).into()),
        ("comment", rule.comment.clone().into()),
    ])
}

async fn fetch(ctx: &Context, rule: &str) -> Result<Option<Value>, Diagnostics> {
    let rules = ctx.client.list_ha_rules().await.map_err(|e| api_failure("Listing HA rules", e))?;
    Ok(rules.iter().find(|r| r.rule == rule).map(state_from))
}

/// What a plan writes; on update only what changed, with `type` always (PVE's section config
/// needs it to parse the update).
fn params(planned: &Value, prior: &Value) -> Params {
    let creating = prior.is_null();
    let changed = |name: &str| creating || planned.get(name) != prior.get(name);
    let mut params = Params::new().set("type", planned.get("type").as_str().unwrap_or_default());
    let mut deletes = Vec::new();
    if changed("resources") {
        params.insert("resources", resources_param(planned.get("resources")));
    }
    if changed("nodes")
        && let Some(nodes) = nodes_param(planned.get("nodes"))
    {
        params.insert("nodes", nodes);
    }
    if planned.get("type").as_str() == Some(NODE_AFFINITY) && changed("strict") {
        params.insert("strict", u8::from(planned.get("strict").as_bool() == Some(true)));
    }
    if changed("affinity")
        && let Some(affinity) = planned.get("affinity").as_str()
    {
        params.insert("affinity", affinity);
    }
    if changed("disable") {
        params.insert("disable", u8::from(planned.get("disable").as_bool() == Some(true)));
    }
    if changed("comment") {
        match planned.get("comment").as_str() {
            Some(comment) => params.insert("comment", comment),
            None if !creating => deletes.push("comment"),
            None => {}
        }
    }
    if !deletes.is_empty() {
        params.insert("delete", deletes.join(","));
    }
    params
}

fn check_sids(value: &Value) -> Result<(), String> {
    let bad: Vec<&str> = value
        .as_list()
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .filter(|sid| {
            let Some((kind, vmid)) = sid.split_once(':') else { return true };
            !matches!(kind, "vm" | "ct") || vmid.parse::<u64>().map_or(true, |n| !(100..=999_999_999).contains(&n))
        })
        .collect();
    if bad.is_empty() { Ok(()) } else { Err(format!("{} is not an HA resource ID like vm:100 or ct:200", bad.join(", "))) }
}

impl Resource<Context> for PveHaRule {
    fn type_name(&self) -> &'static str {
        "pve_ha_rule"
    }

    fn schema(&self) -> Block {
        Block::new(
            "A PVE 9 HA rule: node affinity (where HA resources run) or resource affinity (which run together or apart). \
             Import with `terraform import pve_ha_rule.NAME RULE`.",
            vec![
                Attribute::required("rule", Type::String, "Rule ID.")
                    .validate(Validator::regex("[a-zA-Z][a-zA-Z0-9_\\-]+", "is not a rule ID (a letter, then letters, digits, - or _)"))
                    .requires_replace(),
                Attribute::required("type", Type::String, "`node-affinity` or `resource-affinity`.")
                    .validate(Validator::OneOf(&[NODE_AFFINITY, RESOURCE_AFFINITY]))
                    .requires_replace(),
                Attribute::required(
                    "resources",
                    Type::set(Type::String),
                    "HA resources the rule applies to, as `vm:VMID` or `ct:VMID` (each must be a `pve_ha_resource`).",
                )
                .validate(Validator::custom(check_sids)),
                Attribute::optional(
                    "nodes",
                    Type::map(Type::Number),
                    "node-affinity: node name to priority (higher first; 0 is the lowest), e.g. `{ pve1 = 2, pve2 = 1 }`.",
                ),
                Attribute::optional_computed("strict", Type::Bool, "node-affinity: run only on these nodes (else: prefer them).")
                    .default(false),
                Attribute::optional("affinity", Type::String, "resource-affinity: `positive` (together) or `negative` (apart).")
                    .validate(Validator::OneOf(&["positive", "negative"])),
                Attribute::optional_computed("disable", Type::Bool, "Keep the rule without applying it.").default(false),
                Attribute::optional("comment", Type::String, "Description."),
            ],
        )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let Some(rule_type) = config.get("type").as_str() else { return diags };
        let node_affinity = rule_type == NODE_AFFINITY;
        if node_affinity && config.get("affinity").is_set() {
            diags.push(
                Diagnostic::error("affinity on a node-affinity rule", "affinity applies to resource-affinity rules; use nodes here")
                    .at(attr("affinity")),
            );
        }
        if node_affinity && config.get("nodes").is_null() {
            diags.push(Diagnostic::error("No nodes", "a node-affinity rule needs nodes").at(attr("nodes")));
        }
        if !node_affinity && config.get("nodes").is_set() {
            diags.push(
                Diagnostic::error("nodes on a resource-affinity rule", "nodes apply to node-affinity rules; use affinity here")
                    .at(attr("nodes")),
            );
        }
        if !node_affinity && config.get("strict").as_bool() == Some(true) {
            diags.push(Diagnostic::error("strict on a resource-affinity rule", "strict applies to node-affinity rules").at(attr("strict")));
        }
        if !node_affinity && config.get("affinity").is_null() {
            diags.push(
                Diagnostic::error("No affinity", "a resource-affinity rule needs affinity = \"positive\" or \"negative\"")
                    .at(attr("affinity")),
            );
        }
        if let Some(resources) = config.get("resources").as_list() {
            if resources.is_empty() {
                diags.push(Diagnostic::error("No resources", "a rule applies to at least one HA resource").at(attr("resources")));
            } else if !node_affinity && resources.len() < 2 {
                diags.push(
                    Diagnostic::error(
                        "One resource in a resource-affinity rule",
                        "a resource-affinity rule relates two or more HA resources; with one it constrains nothing",
                    )
                    .at(attr("resources")),
                );
            }
        }
        diags
    }

    fn modify_plan<'a>(
        &'a self,
        ctx: Option<&'a Context>,
        prior: &'a Value,
        _config: &'a Value,
        planned: &'a mut Value,
        _replace: &'a mut Vec<crate::plugin::diag::Path>,
    ) -> BoxFuture<'a, Diagnostics> {
        Box::pin(async move {
            let mut diags = Diagnostics::default();
            let (Some(ctx), Value::Map(nodes)) = (ctx, planned.get("nodes")) else { return diags };
            if planned.get("nodes") == prior.get("nodes") {
                return diags;
            }
            match ctx.resources().await {
                Ok(resources) => {
                    let known: Vec<&str> =
                        resources.iter().filter(|r| r.resource_type == "node").filter_map(|r| r.node.as_deref()).collect();
                    let unknown: Vec<&str> = nodes.keys().map(String::as_str).filter(|n| !known.contains(n)).collect();
                    if !unknown.is_empty() {
                        let detail = format!("{} not in the cluster; nodes are: {}", unknown.join(", "), known.join(", "));
                        diags.push(Diagnostic::error("Unknown node", detail).at(attr("nodes")));
                    }
                }
                Err(e) => diags.push(api_error("Listing cluster nodes", &e).at(attr("nodes"))),
            }
            diags
        })
    }

    fn create<'a>(&'a self, ctx: &'a Context, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, CreateError>> {
        Box::pin(async move {
            let rule = planned.get("rule").as_str().unwrap_or_default().to_string();
            let created = ctx.client.create_ha_rule(&params(&planned, &Value::Null).set("rule", &rule)).await;
            if let Err(e) = created {
                // A lost answer: the rule may be there already.
                if !(e.is_ambiguous() && fetch(ctx, &rule).await?.is_some()) {
                    return Err(api_failure("Creating the HA rule", e).into());
                }
            }
            Ok(fetch(ctx, &rule)
                .await?
                .ok_or_else(|| Diagnostics::from(Diagnostic::error("HA rule vanished", format!("{rule} is gone"))))?)
        })
    }

    fn read<'a>(&'a self, ctx: &'a Context, state: Value) -> BoxFuture<'a, Result<Option<Value>, Diagnostics>> {
        Box::pin(async move { fetch(ctx, state.get("rule").as_str().unwrap_or_default()).await })
    }

    fn update<'a>(&'a self, ctx: &'a Context, prior: Value, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let rule = prior.get("rule").as_str().unwrap_or_default().to_string();
            ctx.client.update_ha_rule(&rule, &params(&planned, &prior)).await.map_err(|e| api_failure("Updating the HA rule", e))?;
            fetch(ctx, &rule).await?.ok_or_else(|| Diagnostic::error("HA rule vanished", format!("{rule} is gone")).into())
        })
    }

    fn delete<'a>(&'a self, ctx: &'a Context, prior: Value) -> BoxFuture<'a, Result<(), Diagnostics>> {
        Box::pin(async move {
            let rule = prior.get("rule").as_str().unwrap_or_default();
            match ctx.client.delete_ha_rule(rule).await {
                Ok(()) => Ok(()),
                Err(e) if fetch(ctx, rule).await?.is_none() => {
                    tracing::info!(rule, reason = %e, "the HA rule is gone: deleted");
                    Ok(())
                }
                Err(e) => Err(api_failure("Deleting the HA rule", e)),
            }
        })
    }

    fn import<'a>(&'a self, ctx: &'a Context, id: String) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            fetch(ctx, &id).await?.ok_or_else(|| Diagnostic::error("HA rule not found", format!("no HA rule '{id}'")).into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_round_trip_with_priorities() {
        let nodes = nodes_from("pve1:2,pve2, pve3:1");
        assert_eq!(nodes.get("pve1").as_i64(), Some(2));
        assert_eq!(nodes.get("pve2").as_i64(), Some(0), "no priority is priority 0");
        assert_eq!(nodes_param(&nodes).as_deref(), Some("pve1:2,pve2:0,pve3:1"));
    }

    #[test]
    fn sids_are_checked() {
        let list = |items: &[&str]| Value::List(items.iter().map(|s| Value::from(*s)).collect());
        assert!(check_sids(&list(&["vm:100", "ct:200"])).is_ok());
        assert!(check_sids(&list(&["vm:100", "100"])).unwrap_err().contains("100 is not"));
        assert!(check_sids(&list(&["qemu:100"])).is_err() && check_sids(&list(&["vm:99"])).is_err());
    }
}
