//! `data "pve_nodes"` (every node) and `data "pve_node"` (one node by name).

use futures::future::BoxFuture;
use pve_api::NodeInfo;

use super::error_at;
use crate::plugin::diag::Diagnostics;
use crate::plugin::diag::api_failure;
use crate::plugin::schema::{Attribute, Block, Validator};
use crate::plugin::service::DataSource;
use crate::plugin::value::{Type, Value};
use crate::provider::Context;

fn node_type() -> Type {
    Type::object([
        ("name", Type::String),
        ("status", Type::String),
        ("cpus", Type::Number),
        ("memory", Type::Number),
        ("uptime", Type::Number),
    ])
}

fn node_value(node: &NodeInfo) -> Value {
    Value::object([
        ("name", node.node.clone().into()),
        ("status", node.status.clone().into()),
        ("cpus", node.maxcpu.into()),
        ("memory", node.maxmem.into()),
        ("uptime", node.uptime.into()),
    ])
}

pub struct PveNodes;

impl DataSource<Context> for PveNodes {
    fn type_name(&self) -> &'static str {
        "pve_nodes"
    }

    fn schema(&self) -> Block {
        Block::new(
            "All nodes of the cluster, sorted by name.",
            vec![Attribute::computed(
                "nodes",
                Type::list(node_type()),
                "Nodes: `name`, `status` (`online`/`offline`), `cpus`, `memory` (bytes), `uptime` (seconds).",
            )],
        )
    }

    fn read<'a>(&'a self, ctx: &'a Context, _config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let mut nodes = ctx.client.nodes().await.map_err(|e| api_failure("Listing nodes", e))?;
            nodes.sort_by(|a, b| a.node.cmp(&b.node));
            Ok(Value::object([("nodes", Value::List(nodes.iter().map(node_value).collect()))]))
        })
    }
}

pub struct PveNode;

impl DataSource<Context> for PveNode {
    fn type_name(&self) -> &'static str {
        "pve_node"
    }

    fn schema(&self) -> Block {
        Block::new(
            "One node of the cluster, with its network bridges.",
            vec![
                Attribute::required("name", Type::String, "Node name, e.g. `pve1`.")
                    .validate(Validator::regex(r"[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?", "is not a valid node name")),
                Attribute::computed("status", Type::String, "`online` or `offline`."),
                Attribute::computed("cpus", Type::Number, "Logical CPUs."),
                Attribute::computed("memory", Type::Number, "Memory in bytes."),
                Attribute::computed("uptime", Type::Number, "Uptime in seconds."),
                Attribute::computed("bridges", Type::list(Type::String), "Linux bridges guests can attach to, e.g. `vmbr0`."),
            ],
        )
    }

    fn read<'a>(&'a self, ctx: &'a Context, config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let name = config.get("name").as_str().unwrap_or_default().to_string();
            let nodes = ctx.client.nodes().await.map_err(|e| api_failure("Listing nodes", e))?;
            let Some(node) = nodes.iter().find(|n| n.node == name) else {
                let known: Vec<&str> = nodes.iter().map(|n| n.node.as_str()).collect();
                return Err(error_at(
                    "name",
                    "Unknown node",
                    format!("node '{name}' is not in the cluster; nodes are: {}", known.join(", ")),
                ));
            };
            let mut bridges: Vec<String> = ctx
                .client
                .node_bridges(&name)
                .await
                .map_err(|e| api_failure("Listing bridges", e))?
                .into_iter()
                .map(|bridge| bridge.iface)
                .collect();
            bridges.sort();
            let mut value = node_value(node);
            if let Value::Map(fields) = &mut value {
                fields.remove("name");
                fields.insert("name".into(), name.into());
                fields.insert("bridges".into(), Value::List(bridges.into_iter().map(Value::from).collect()));
            }
            Ok(value)
        })
    }
}
