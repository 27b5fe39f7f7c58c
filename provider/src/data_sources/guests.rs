//! `data "pve_guests"`: VMs and containers, filtered by tags, node, type, name and template flag.

use futures::future::BoxFuture;
use pve_api::ClusterResource;
use regex::Regex;

use crate::plugin::diag::Diagnostics;
use crate::plugin::diag::api_failure;
use crate::plugin::schema::{Attribute, Block, Validator};
use crate::plugin::service::DataSource;
use crate::plugin::value::{Type, Value};
use crate::provider::Context;

pub struct PveGuests;

pub fn guest_type() -> Type {
    Type::object([
        ("vmid", Type::Number),
        ("name", Type::String),
        ("node", Type::String),
        ("type", Type::String),
        ("status", Type::String),
        ("tags", Type::list(Type::String)),
        ("template", Type::Bool),
        ("pool", Type::String),
    ])
}

pub fn guest_value(r: &ClusterResource) -> Value {
    Value::object([
        ("vmid", r.vmid.into()),
        ("name", r.name.clone().into()),
        ("node", r.node.clone().into()),
        ("type", r.resource_type.clone().into()),
        ("status", r.status.clone().into()),
        ("tags", Value::List(r.tag_list().into_iter().map(Value::from).collect())),
        ("template", r.template.into()),
        ("pool", r.pool.clone().into()),
    ])
}

fn regex_check(value: &Value) -> Result<(), String> {
    match value.as_str() {
        Some(pattern) => Regex::new(pattern).map(|_| ()).map_err(|e| format!("is not a valid regular expression: {e}")),
        None => Ok(()),
    }
}

impl DataSource<Context> for PveGuests {
    fn type_name(&self) -> &'static str {
        "pve_guests"
    }

    fn schema(&self) -> Block {
        Block::new(
            "VMs and containers of the cluster, from one `/cluster/resources` call, sorted by VMID.",
            vec![
                Attribute::optional(
                    "tags",
                    Type::set(Type::String),
                    "Only guests carrying all of these tags (compared case-insensitively, as PVE stores them).",
                ),
                Attribute::optional("node", Type::String, "Only guests on this node."),
                Attribute::optional("type", Type::String, "Only `qemu` (VMs) or `lxc` (containers).")
                    .validate(Validator::OneOf(&["qemu", "lxc"])),
                Attribute::optional("name_regex", Type::String, "Only guests whose name matches this regular expression.")
                    .validate(Validator::custom(regex_check)),
                Attribute::optional("template", Type::Bool, "Only templates (`true`) or only non-templates (`false`)."),
                Attribute::computed(
                    "guests",
                    Type::list(guest_type()),
                    "Matching guests: `vmid`, `name`, `node`, `type`, `status`, `tags`, `template`, `pool`.",
                ),
            ],
        )
    }

    fn read<'a>(&'a self, ctx: &'a Context, config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let resources = ctx.client.cluster_resources(Some("vm")).await.map_err(|e| api_failure("Listing guests", e))?;
            let wanted_tags: Vec<String> =
                config.get("tags").as_list().unwrap_or_default().iter().filter_map(Value::as_str).map(str::to_lowercase).collect();
            let name_regex = config
                .get("name_regex")
                .as_str()
                .map(Regex::new)
                .transpose()
                .map_err(|e| super::error_at("name_regex", "Invalid name_regex", e.to_string()))?;
            let mut guests: Vec<&ClusterResource> = resources
                .iter()
                .filter(|r| r.guest_kind().is_some())
                .filter(|r| config.get("node").as_str().is_none_or(|n| r.node.as_deref() == Some(n)))
                .filter(|r| config.get("type").as_str().is_none_or(|t| r.resource_type == t))
                .filter(|r| config.get("template").as_bool().is_none_or(|t| r.template == t))
                .filter(|r| name_regex.as_ref().is_none_or(|re| re.is_match(r.name.as_deref().unwrap_or(""))))
                .filter(|r| {
                    let tags = r.tag_list();
                    wanted_tags.iter().all(|w| tags.contains(w))
                })
                .collect();
            guests.sort_by_key(|r| r.vmid);
            let mut out = match config {
                Value::Map(m) => m,
                _ => Default::default(),
            };
            out.insert("guests".into(), Value::List(guests.into_iter().map(guest_value).collect()));
            Ok(Value::Map(out))
        })
    }
}
