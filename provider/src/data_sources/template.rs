//! `data "pve_template"`: finds one template by name or tag, for clones; on one node when
//! templates of one name sit on several (local storage needs a template per node).

use futures::future::BoxFuture;

use super::error_at;
use crate::plugin::diag::api_failure;
use crate::plugin::diag::{Diagnostic, Diagnostics, attr};
use crate::plugin::schema::{Attribute, Block, Validator};
use crate::plugin::service::DataSource;
use crate::plugin::value::{Type, Value};
use crate::provider::Context;

pub struct PveTemplate;

impl DataSource<Context> for PveTemplate {
    fn type_name(&self) -> &'static str {
        "pve_template"
    }

    fn schema(&self) -> Block {
        Block::new(
            "Exactly one template, found by `name` or by `tag`, on `node` if set. Fails if none or several match.",
            vec![
                Attribute::optional("name", Type::String, "Template name, e.g. `ubuntu-2404-cloudinit`."),
                Attribute::optional("tag", Type::String, "A tag the template carries, e.g. `ubuntu`."),
                Attribute::optional("type", Type::String, "`qemu` (default) or `lxc`.").validate(Validator::OneOf(&["qemu", "lxc"])),
                Attribute::computed("vmid", Type::Number, "The template's VMID."),
                Attribute::optional_computed(
                    "node",
                    Type::String,
                    "The node holding the template. Set it to choose among templates of one name on several nodes.",
                ),
                Attribute::computed("tags", Type::list(Type::String), "The template's tags."),
            ],
        )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let name = config.get("name");
        let tag = config.get("tag");
        if name.is_null() && tag.is_null() {
            return Diagnostic::error("Missing selector", "Set name or tag to choose the template.").at(attr("name")).into();
        }
        if !name.is_null() && !tag.is_null() {
            return Diagnostic::error("Conflicting selectors", "Set name or tag, not both.").at(attr("tag")).into();
        }
        Diagnostics::default()
    }

    fn read<'a>(&'a self, ctx: &'a Context, config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let kind = config.get("type").as_str().unwrap_or("qemu").to_string();
            let resources = ctx.client.cluster_resources(Some("vm")).await.map_err(|e| api_failure("Listing guests", e))?;
            let name = config.get("name").as_str();
            let tag = config.get("tag").as_str().map(str::to_lowercase);
            let node = config.get("node").as_str();
            let matches: Vec<_> = resources
                .iter()
                .filter(|r| r.template && r.resource_type == kind)
                .filter(|r| name.is_none_or(|n| r.name.as_deref() == Some(n)))
                .filter(|r| tag.as_ref().is_none_or(|t| r.tag_list().contains(t)))
                .filter(|r| node.is_none_or(|n| r.node.as_deref() == Some(n)))
                .collect();
            let selector = if name.is_some() { "name" } else { "tag" };
            let wanted = name.map(str::to_string).or(tag).unwrap_or_default();
            let on_node = node.map(|n| format!(" on node '{n}'")).unwrap_or_default();
            let template = match matches.as_slice() {
                [one] => *one,
                [] => {
                    return Err(error_at(selector, "No such template", format!("no {kind} template with {selector} '{wanted}'{on_node}")));
                }
                many => {
                    let ids: Vec<String> = many.iter().filter_map(|r| r.vmid.map(|v| v.to_string())).collect();
                    return Err(error_at(
                        selector,
                        "Ambiguous template",
                        format!(
                            "{} {kind} templates match {selector} '{wanted}'{on_node}: VMIDs {}; set node to choose one",
                            many.len(),
                            ids.join(", ")
                        ),
                    ));
                }
            };
            Ok(Value::object([
                ("name", template.name.clone().into()),
                ("tag", config.get("tag").clone()),
                ("type", kind.into()),
                ("vmid", template.vmid.into()),
                ("node", template.node.clone().into()),
                ("tags", Value::List(template.tag_list().into_iter().map(Value::from).collect())),
            ]))
        })
    }
}
