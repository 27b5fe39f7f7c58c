//! The service's resource RPCs with an in-memory resource: plan rules, write-only values, partial
//! creates, refresh of vanished objects, import and state upgrades, all through the gRPC trait.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use tonic::Request;

use crate::plugin::diag::{Diagnostic, Diagnostics};
use crate::plugin::resource::{CreateError, Resource};
use crate::plugin::schema::{Attribute, Block};
use crate::plugin::service::{DataSource, Function, PluginService, ProviderDefinition, decode, encode};
use crate::plugin::value::{Type, Value};
use crate::proto::tfplugin6 as pb;
use pb::provider_server::Provider;

#[derive(Default)]
struct Store {
    items: Mutex<BTreeMap<String, Value>>,
    passwords_seen: Mutex<Vec<String>>,
}

struct Item;

impl<C: std::ops::Deref<Target = Store> + Send + Sync> Resource<C> for Item {
    fn type_name(&self) -> &'static str {
        "mem_item"
    }
    fn schema_version(&self) -> i64 {
        1
    }
    fn schema(&self) -> Block {
        Block::new(
            "An item",
            vec![
                Attribute::computed("id", Type::String, "ID").use_state_for_unknown(),
                Attribute::required("name", Type::String, "Name").requires_replace(),
                Attribute::optional_computed("size", Type::Number, "Size").default(1i64),
                Attribute::optional("password", Type::String, "Password").write_only().sensitive(),
            ],
        )
    }
    fn create<'a>(&'a self, ctx: &'a C, planned: Value, config: Value) -> BoxFuture<'a, Result<Value, CreateError>> {
        Box::pin(async move {
            if let Some(p) = config.get("password").as_str() {
                ctx.passwords_seen.lock().unwrap().push(p.to_string());
            }
            let name = planned.get("name").as_str().unwrap_or_default().to_string();
            let mut state = planned.clone();
            if let Value::Map(m) = &mut state {
                m.insert("id".into(), format!("id-{name}").into());
            }
            if name == "half" {
                return Err(CreateError {
                    partial: Some(state),
                    diagnostics: Diagnostic::error("Start failed", "created but not started").into(),
                });
            }
            ctx.items.lock().unwrap().insert(format!("id-{name}"), state.clone());
            Ok(state)
        })
    }
    fn read<'a>(&'a self, ctx: &'a C, state: Value) -> BoxFuture<'a, Result<Option<Value>, Diagnostics>> {
        Box::pin(async move { Ok(ctx.items.lock().unwrap().get(state.get("id").as_str().unwrap_or_default()).cloned()) })
    }
    fn update<'a>(&'a self, ctx: &'a C, _prior: Value, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            ctx.items.lock().unwrap().insert(planned.get("id").as_str().unwrap_or_default().to_string(), planned.clone());
            Ok(planned)
        })
    }
    fn delete<'a>(&'a self, ctx: &'a C, prior: Value) -> BoxFuture<'a, Result<(), Diagnostics>> {
        Box::pin(async move {
            ctx.items.lock().unwrap().remove(prior.get("id").as_str().unwrap_or_default());
            Ok(())
        })
    }
    fn import<'a>(&'a self, ctx: &'a C, id: String) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            ctx.items.lock().unwrap().get(&id).cloned().ok_or_else(|| Diagnostic::error("Not found", format!("no item {id}")).into())
        })
    }
    fn upgrade(&self, version: i64, mut state: serde_json::Value) -> Result<serde_json::Value, Diagnostics> {
        // Version 0 called `size` `capacity`.
        if version == 0
            && let Some(capacity) = state.as_object_mut().and_then(|o| o.remove("capacity"))
        {
            state["size"] = capacity;
        }
        Ok(state)
    }
}

struct Memory(Arc<Store>);

impl ProviderDefinition for Memory {
    type Context = Arc<Store>;
    fn schema(&self) -> Block {
        Block::new("memory", vec![])
    }
    fn validate(&self, _: &Value) -> Diagnostics {
        Diagnostics::default()
    }
    fn configure<'a>(&'a self, _: Value, _: String) -> BoxFuture<'a, Result<Arc<Store>, Diagnostics>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
    fn data_sources(&self) -> Vec<Arc<dyn DataSource<Arc<Store>>>> {
        Vec::new()
    }
    fn resources(&self) -> Vec<Arc<dyn Resource<Arc<Store>>>> {
        vec![Arc::new(Item)]
    }
    fn functions(&self) -> Vec<Arc<dyn Function>> {
        Vec::new()
    }
}

fn ty() -> Type {
    <Item as Resource<Arc<Store>>>::schema(&Item).value_type()
}

fn dv(value: &Value) -> Option<pb::DynamicValue> {
    Some(encode(value, &ty()))
}

async fn service() -> (PluginService<Memory>, Arc<Store>) {
    let store = Arc::new(Store::default());
    let service = PluginService::new(Memory(store.clone()));
    let response = service.configure_provider(Request::new(pb::configure_provider::Request::default())).await.unwrap();
    assert!(response.get_ref().diagnostics.is_empty());
    (service, store)
}

async fn plan(service: &PluginService<Memory>, prior: &Value, config: &Value) -> pb::plan_resource_change::Response {
    // Terraform proposes the config merged with the prior state's computed values.
    let mut proposed = config.clone();
    if let (Value::Map(p), Value::Map(prior)) = (&mut proposed, prior) {
        for key in ["id", "size"] {
            if p.get(key).is_none_or(Value::is_null) {
                p.insert(key.into(), prior.get(key).cloned().unwrap_or_default());
            }
        }
    }
    let request = pb::plan_resource_change::Request {
        type_name: "mem_item".into(),
        prior_state: dv(prior),
        proposed_new_state: dv(&proposed),
        config: dv(config),
        ..Default::default()
    };
    service.plan_resource_change(Request::new(request)).await.unwrap().into_inner()
}

async fn apply(service: &PluginService<Memory>, prior: &Value, planned: &Value, config: &Value) -> pb::apply_resource_change::Response {
    let request = pb::apply_resource_change::Request {
        type_name: "mem_item".into(),
        prior_state: dv(prior),
        planned_state: dv(planned),
        config: dv(config),
        ..Default::default()
    };
    service.apply_resource_change(Request::new(request)).await.unwrap().into_inner()
}

#[tokio::test]
async fn create_update_replace_destroy() {
    let (service, store) = service().await;
    let config = Value::object([("name", "a".into()), ("password", "hunter2".into())]);
    let planned = plan(&service, &Value::Null, &config).await;
    assert!(planned.diagnostics.is_empty());
    let planned = decode(planned.planned_state.as_ref()).unwrap();
    assert_eq!(planned.get("id"), &Value::Unknown);
    assert_eq!(planned.get("size").as_i64(), Some(1));
    assert_eq!(planned.get("password"), &Value::Null, "write-only values never enter the plan");

    let created = apply(&service, &Value::Null, &planned, &config).await;
    let state = decode(created.new_state.as_ref()).unwrap();
    assert_eq!(state.get("id"), &Value::from("id-a"));
    assert_eq!(state.get("password"), &Value::Null, "nor the state");
    assert_eq!(store.passwords_seen.lock().unwrap().as_slice(), ["hunter2"], "but create saw it");

    let same = plan(&service, &state, &Value::object([("name", "a".into())])).await;
    assert_eq!(decode(same.planned_state.as_ref()).unwrap(), state, "an unchanged config plans no change");
    assert!(same.requires_replace.is_empty());

    let renamed = plan(&service, &state, &Value::object([("name", "b".into())])).await;
    assert_eq!(renamed.requires_replace.len(), 1, "a new name replaces the item");

    let resized = plan(&service, &state, &Value::object([("name", "a".into()), ("size", 5i64.into())])).await;
    assert!(resized.requires_replace.is_empty());
    let resized_state =
        decode(apply(&service, &state, &decode(resized.planned_state.as_ref()).unwrap(), &Value::Null).await.new_state.as_ref()).unwrap();
    assert_eq!(resized_state.get("size").as_i64(), Some(5));

    let destroyed = apply(&service, &resized_state, &Value::Null, &Value::Null).await;
    assert_eq!(decode(destroyed.new_state.as_ref()).unwrap(), Value::Null);
    assert!(store.items.lock().unwrap().is_empty());
}

#[tokio::test]
async fn partial_create_is_kept_in_state_and_vanished_objects_drop_out() {
    let (service, _) = service().await;
    let config = Value::object([("name", "half".into())]);
    let planned = decode(plan(&service, &Value::Null, &config).await.planned_state.as_ref()).unwrap();
    let response = apply(&service, &Value::Null, &planned, &config).await;
    assert_eq!(response.diagnostics.len(), 1);
    let kept = decode(response.new_state.as_ref()).unwrap();
    assert_eq!(kept.get("id"), &Value::from("id-half"), "the half-made object is reported, not orphaned");

    let read = service
        .read_resource(Request::new(pb::read_resource::Request {
            type_name: "mem_item".into(),
            current_state: dv(&kept),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decode(read.new_state.as_ref()).unwrap(), Value::Null, "gone objects leave the state");
}

#[tokio::test]
async fn import_and_upgrade() {
    let (service, store) = service().await;
    store.items.lock().unwrap().insert("id-x".into(), Value::object([("id", "id-x".into()), ("name", "x".into()), ("size", 3i64.into())]));
    let imported = service
        .import_resource_state(Request::new(pb::import_resource_state::Request {
            type_name: "mem_item".into(),
            id: "id-x".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decode(imported.imported_resources[0].state.as_ref()).unwrap().get("name"), &Value::from("x"));
    let missing = service
        .import_resource_state(Request::new(pb::import_resource_state::Request {
            type_name: "mem_item".into(),
            id: "nope".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(missing.imported_resources.is_empty() && missing.diagnostics[0].detail.contains("no item nope"));

    let upgraded = service
        .upgrade_resource_state(Request::new(pb::upgrade_resource_state::Request {
            type_name: "mem_item".into(),
            version: 0,
            raw_state: Some(pb::RawState { json: br#"{"id":"id-x","name":"x","capacity":7}"#.to_vec(), ..Default::default() }),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decode(upgraded.upgraded_state.as_ref()).unwrap().get("size").as_i64(), Some(7));
    let newer = service
        .upgrade_resource_state(Request::new(pb::upgrade_resource_state::Request {
            type_name: "mem_item".into(),
            version: 9,
            raw_state: Some(pb::RawState { json: b"{}".to_vec(), ..Default::default() }),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(newer.diagnostics[0].summary.contains("newer provider"));
}
