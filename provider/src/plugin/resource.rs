//! Managed resources: the trait a resource implements (CRUD, import, state upgrades) and the
//! generic planner that applies each attribute's plan rules, so a resource file states rules
//! instead of re-deriving Terraform's planning semantics.

use futures::future::BoxFuture;

use super::diag::{Diagnostics, Path, Step};
use super::schema::{Block, Nesting, PlanRule};
use super::value::Value;

/// A failed create that got far enough to leave something behind: `partial` goes into the state
/// (Terraform marks it tainted), so nothing is orphaned.
pub struct CreateError {
    pub partial: Option<Value>,
    pub diagnostics: Diagnostics,
}

impl From<super::diag::Diagnostic> for CreateError {
    fn from(diagnostic: super::diag::Diagnostic) -> Self {
        Self { partial: None, diagnostics: diagnostic.into() }
    }
}

impl From<Diagnostics> for CreateError {
    fn from(diagnostics: Diagnostics) -> Self {
        Self { partial: None, diagnostics }
    }
}

/// One attribute of a resource's identity (used by `import` blocks and `terraform query`).
pub struct IdentityAttribute {
    pub name: &'static str,
    pub ty: super::value::Type,
    pub required_for_import: bool,
    pub description: &'static str,
}

pub trait Resource<C>: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Block;
    /// Bumped when the stored state's shape changes; `upgrade` converts older states.
    fn schema_version(&self) -> i64 {
        0
    }
    /// Checks beyond the schema's validators.
    fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::default()
    }
    /// Last word on the plan after the generic rules ran: checks that need the cluster (a node
    /// that does not exist) or the prior state (a disk shrink), derived unknowns. `prior` is Null
    /// on create; `ctx` is None only if the provider is not configured yet.
    fn modify_plan<'a>(
        &'a self,
        _ctx: Option<&'a C>,
        _prior: &'a Value,
        _config: &'a Value,
        _planned: &'a mut Value,
        _requires_replace: &'a mut Vec<Path>,
    ) -> BoxFuture<'a, Diagnostics> {
        Box::pin(async { Diagnostics::default() })
    }
    /// `config` carries write-only values, which never appear in `planned`.
    fn create<'a>(&'a self, ctx: &'a C, planned: Value, config: Value) -> BoxFuture<'a, Result<Value, CreateError>>;
    /// `Ok(None)` when the object is gone, so Terraform plans to create it again.
    fn read<'a>(&'a self, ctx: &'a C, state: Value) -> BoxFuture<'a, Result<Option<Value>, Diagnostics>>;
    fn update<'a>(&'a self, ctx: &'a C, prior: Value, planned: Value, config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>>;
    fn delete<'a>(&'a self, ctx: &'a C, prior: Value) -> BoxFuture<'a, Result<(), Diagnostics>>;
    fn import<'a>(&'a self, ctx: &'a C, id: String) -> BoxFuture<'a, Result<Value, Diagnostics>>;
    /// The attributes that identify an object; empty when the resource has no identity.
    fn identity_schema(&self) -> Vec<IdentityAttribute> {
        Vec::new()
    }
    /// The identity of a stored object (must not change over its life).
    fn identity(&self, _state: &Value) -> Option<Value> {
        None
    }
    /// The import ID an identity stands for.
    fn import_id(&self, _identity: &Value) -> Option<String> {
        None
    }
    /// For `terraform query`: the schema of a `list` block's `config`, if the resource can list.
    fn list_schema(&self) -> Option<Block> {
        None
    }
    /// Objects matching a `list` block: display name and state (state only if `with_objects`,
    /// else just enough for the identity).
    fn list<'a>(&'a self, _ctx: &'a C, _config: Value, _with_objects: bool) -> BoxFuture<'a, Result<Vec<(String, Value)>, Diagnostics>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    /// Converts a stored state of an older `version` (as JSON) to the current shape.
    fn upgrade(&self, _version: i64, state: serde_json::Value) -> Result<serde_json::Value, Diagnostics> {
        Ok(state)
    }
}

/// Terraform's proposed new state, adjusted by each attribute's plan rules (nested blocks too).
pub fn plan(schema: &Block, prior: &Value, proposed: &Value, config: &Value) -> (Value, Vec<Path>) {
    let mut requires_replace = Vec::new();
    let planned = plan_block(schema, prior, proposed, config, prior.is_null(), &Vec::new(), &mut requires_replace);
    (planned, requires_replace)
}

fn plan_block(
    schema: &Block,
    prior: &Value,
    proposed: &Value,
    config: &Value,
    creating: bool,
    prefix: &Path,
    requires_replace: &mut Vec<Path>,
) -> Value {
    let Value::Map(mut planned) = proposed.clone() else { return proposed.clone() };
    for attribute in &schema.attributes {
        let name = attribute.name;
        let configured = config.get(name);
        let mut value = planned.remove(name).unwrap_or(Value::Null);
        let mut path = prefix.clone();
        path.push(Step::Attr(name.to_string()));
        if attribute.write_only {
            // Write-only values live in the config only; planned and applied state hold null.
            planned.insert(name.to_string(), Value::Null);
            continue;
        }
        if attribute.computed && configured.is_null() {
            let default = attribute.plan_rules.iter().find_map(|r| if let PlanRule::Default(v) = r { Some(v.clone()) } else { None });
            let keeps_state = attribute.plan_rules.iter().any(|r| matches!(r, PlanRule::UseStateForUnknown));
            value = match (default, creating) {
                (Some(default), _) => default,
                (None, true) => Value::Unknown,
                (None, false) if keeps_state => prior.get(name).clone(),
                // Terraform proposes the prior value; the resource marks what a change recomputes.
                (None, false) => value,
            };
        }
        if !creating {
            let before = prior.get(name);
            for rule in &attribute.plan_rules {
                // Only where the config sets the attribute: for a null config Terraform requires null.
                if let PlanRule::Normalize(normalize) = rule
                    && value.is_wholly_known()
                    && !configured.is_null()
                    && !before.is_null()
                    && normalize(&value) == normalize(before)
                {
                    value = before.clone();
                }
            }
            let replace = attribute.plan_rules.iter().any(|r| matches!(r, PlanRule::RequiresReplace));
            if replace && value != *before && !(value.is_unknown() && attribute.computed && configured.is_null()) {
                requires_replace.push(path);
            }
        }
        planned.insert(name.to_string(), value);
    }
    for nested in &schema.blocks {
        let name = nested.name;
        let mut path = prefix.clone();
        path.push(Step::Attr(name.to_string()));
        let value = planned.remove(name).unwrap_or(Value::Null);
        let before = prior.get(name);
        let planned_value = match (nested.nesting, &value) {
            (Nesting::Single, v) if !v.is_null() && !v.is_unknown() => {
                let element_creating = creating || before.is_null();
                plan_block(&nested.block, before, v, config.get(name), element_creating, &path, requires_replace)
            }
            (Nesting::List { .. }, Value::List(items)) => {
                let prior_items = before.as_list().unwrap_or_default();
                let config_items = config.get(name).as_list().unwrap_or_default();
                Value::List(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| {
                            let prior_item = prior_items.get(i).cloned().unwrap_or(Value::Null);
                            let config_item = config_items.get(i).cloned().unwrap_or(Value::Null);
                            let mut item_path = path.clone();
                            item_path.push(Step::Index(i as i64));
                            plan_block(
                                &nested.block,
                                &prior_item,
                                item,
                                &config_item,
                                creating || prior_item.is_null(),
                                &item_path,
                                requires_replace,
                            )
                        })
                        .collect(),
                )
            }
            _ => value.clone(),
        };
        if nested.requires_replace && !creating && planned_value != *before {
            requires_replace.push(path);
        }
        planned.insert(name.to_string(), planned_value);
    }
    Value::Map(planned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::schema::Attribute;
    use crate::plugin::value::Type;

    fn schema() -> Block {
        let lower_sorted = |v: &Value| {
            let mut items: Vec<String> = v.as_list().unwrap_or_default().iter().filter_map(Value::as_str).map(str::to_lowercase).collect();
            items.sort();
            items.dedup();
            Value::List(items.into_iter().map(Value::from).collect())
        };
        Block::new(
            "test",
            vec![
                Attribute::computed("id", Type::String, "id").use_state_for_unknown(),
                Attribute::required("name", Type::String, "name").requires_replace(),
                Attribute::optional("tags", Type::set(Type::String), "tags").normalize(lower_sorted),
                Attribute::optional_computed("size", Type::Number, "size").default(1i64),
                Attribute::computed("status", Type::String, "status"),
                Attribute::optional("password", Type::String, "password").write_only().sensitive(),
            ],
        )
    }

    fn obj(pairs: &[(&str, Value)]) -> Value {
        Value::object(pairs.iter().map(|(k, v)| (*k, v.clone())))
    }

    #[test]
    fn create_plans_unknowns_defaults_and_hides_write_only() {
        let config = obj(&[("name", "a".into()), ("password", "hunter2".into())]);
        let (planned, replace) = plan(&schema(), &Value::Null, &config, &config);
        assert_eq!(planned.get("id"), &Value::Unknown);
        assert_eq!(planned.get("status"), &Value::Unknown);
        assert_eq!(planned.get("size").as_i64(), Some(1));
        assert_eq!(planned.get("password"), &Value::Null);
        assert!(replace.is_empty());
    }

    #[test]
    fn update_keeps_ids_ignores_tag_order_and_flags_replacement() {
        let prior = obj(&[
            ("id", "1".into()),
            ("name", "a".into()),
            ("tags", Value::List(vec!["a".into(), "b".into()])),
            ("size", 1i64.into()),
            ("status", "ok".into()),
            ("password", Value::Null),
        ]);
        let config = obj(&[("name", "a".into()), ("tags", Value::List(vec!["B".into(), "a".into()]))]);
        let proposed = obj(&[
            ("id", "1".into()),
            ("name", "a".into()),
            ("tags", Value::List(vec!["B".into(), "a".into()])),
            ("size", 1i64.into()),
            ("status", "ok".into()),
        ]);
        let (planned, replace) = plan(&schema(), &prior, &proposed, &config);
        assert_eq!(planned, prior, "order and case of tags are not a change");
        assert!(replace.is_empty());

        let renamed = obj(&[("id", "1".into()), ("name", "b".into()), ("size", 1i64.into()), ("status", "ok".into())]);
        let (planned, replace) = plan(&schema(), &prior, &renamed, &obj(&[("name", "b".into())]));
        assert_eq!(planned.get("id"), &Value::from("1"));
        assert_eq!(replace, vec![vec![Step::Attr("name".into())]]);
    }
}
