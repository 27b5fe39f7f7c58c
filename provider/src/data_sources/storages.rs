//! `data "pve_storages"`: the storages a node sees, optionally only those holding a content type.

use futures::future::BoxFuture;

use crate::plugin::diag::Diagnostics;
use crate::plugin::diag::api_failure;
use crate::plugin::schema::{Attribute, Block, Validator};
use crate::plugin::service::DataSource;
use crate::plugin::value::{Type, Value};
use crate::provider::Context;

pub struct PveStorages;

const CONTENT_TYPES: &[&str] = &["images", "rootdir", "vztmpl", "backup", "iso", "snippets", "import"];

impl DataSource<Context> for PveStorages {
    fn type_name(&self) -> &'static str {
        "pve_storages"
    }

    fn schema(&self) -> Block {
        Block::new(
            "Storages visible on a node.",
            vec![
                Attribute::optional("node", Type::String, "Node to ask (default: the first online node)."),
                Attribute::optional(
                    "content",
                    Type::String,
                    "Only storages that hold this content: `images`, `rootdir`, `vztmpl`, `backup`, `iso`, `snippets`, `import`.",
                )
                .validate(Validator::OneOf(CONTENT_TYPES)),
                Attribute::computed(
                    "storages",
                    Type::list(Type::object([
                        ("name", Type::String),
                        ("type", Type::String),
                        ("content", Type::list(Type::String)),
                        ("shared", Type::Bool),
                        ("total", Type::Number),
                        ("used", Type::Number),
                        ("available", Type::Number),
                    ])),
                    "Storages sorted by name, with sizes in bytes.",
                ),
            ],
        )
    }

    fn read<'a>(&'a self, ctx: &'a Context, config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let node = match config.get("node").as_str() {
                Some(node) => node.to_string(),
                None => {
                    let nodes = ctx.client.nodes().await.map_err(|e| api_failure("Listing nodes", e))?;
                    let mut online: Vec<String> =
                        nodes.into_iter().filter(|n| n.status.as_deref() == Some("online")).map(|n| n.node).collect();
                    online.sort();
                    online
                        .into_iter()
                        .next()
                        .ok_or_else(|| super::error_at("node", "No online node", "no node of the cluster is online".into()))?
                }
            };
            let mut storages = ctx
                .client
                .node_storages(&node, config.get("content").as_str())
                .await
                .map_err(|e| api_failure(&format!("Listing storages on {node}"), e))?;
            storages.sort_by(|a, b| a.storage.cmp(&b.storage));
            let rows = storages
                .iter()
                .map(|s| {
                    Value::object([
                        ("name", s.storage.clone().into()),
                        ("type", s.storage_type.clone().into()),
                        (
                            "content",
                            Value::List(s.content.as_deref().unwrap_or("").split(',').filter(|c| !c.is_empty()).map(Value::from).collect()),
                        ),
                        ("shared", s.shared.into()),
                        ("total", s.total.into()),
                        ("used", s.used.into()),
                        ("available", s.avail.into()),
                    ])
                })
                .collect();
            Ok(Value::object([("node", node.into()), ("content", config.get("content").clone()), ("storages", Value::List(rows))]))
        })
    }
}
