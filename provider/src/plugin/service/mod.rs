//! The gRPC `tfplugin6.Provider` service over a provider definition: schemas, validation,
//! configuration, data sources and functions. Calls the provider does not support get a clear
//! error, never a hang.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::RwLock;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::diag::{Diagnostic, Diagnostics, path_to_proto};
use super::resource::{CreateError, Resource};
use super::schema::Block;
use super::value::{Type, Value};
use crate::proto::tfplugin6 as pb;
use pb::provider_server::Provider;

pub use super::definition::{DataSource, Function, ProviderDefinition};
use write_only::{WriteOnly, keep_write_only, write_only_names};

mod apply;
mod configure;
mod list;
mod plan;
mod schemas;
#[cfg(test)]
mod tests;
mod write_only;

pub struct PluginService<P: ProviderDefinition> {
    definition: P,
    /// The provider's own schema, built once.
    provider_block: Block,
    data_sources: HashMap<&'static str, Registered<dyn DataSource<P::Context>>>,
    resources: HashMap<&'static str, Registered<dyn Resource<P::Context>>>,
    functions: HashMap<&'static str, Arc<dyn Function>>,
    context: RwLock<Option<Arc<P::Context>>>,
    /// Set by the first ConfigureProvider. Terraform configures a plugin process once; a second
    /// configuration could only come from someone else pointing our credentials elsewhere.
    configured_once: std::sync::atomic::AtomicBool,
    /// `--debug` serves many Terraform runs from one process, each configuring it anew.
    reconfigurable: bool,
    /// Whether this Terraform knows write-only attributes (see `WriteOnly`).
    write_only: WriteOnly,
}

/// A resource or data source as registered at start, with its schema and value type built once:
/// schemas hold compiled validators, and every call of a plan shares them. Derefs to the item.
struct Registered<T: ?Sized> {
    item: Arc<T>,
    block: Block,
    ty: Type,
    /// For resources: the `list` block's schema and the identity's type, when they have them.
    list_block: Option<Block>,
    identity_ty: Type,
}

impl<T: ?Sized> std::ops::Deref for Registered<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.item
    }
}

impl<C> Registered<dyn Resource<C>> {
    fn resource(item: Arc<dyn Resource<C>>) -> (&'static str, Self) {
        let block = item.schema();
        let identity_ty = Type::Object(item.identity_schema().into_iter().map(|a| (a.name.to_string(), a.ty)).collect());
        let registered = Self { ty: block.value_type(), list_block: item.list_schema(), block, identity_ty, item };
        (registered.item.type_name(), registered)
    }
}

impl<C> Registered<dyn DataSource<C>> {
    fn data_source(item: Arc<dyn DataSource<C>>) -> (&'static str, Self) {
        let block = item.schema();
        let registered = Self { ty: block.value_type(), list_block: None, block, identity_ty: Type::Object(Default::default()), item };
        (registered.item.type_name(), registered)
    }
}

impl<P: ProviderDefinition> PluginService<P> {
    pub fn new(definition: P) -> Self {
        let data_sources = definition.data_sources().into_iter().map(Registered::data_source).collect();
        let resources = definition.resources().into_iter().map(Registered::resource).collect();
        let functions = definition.functions().into_iter().map(|f| (f.name(), f)).collect();
        Self {
            provider_block: definition.schema(),
            definition,
            data_sources,
            resources,
            functions,
            context: RwLock::new(None),
            configured_once: Default::default(),
            reconfigurable: false,
            write_only: WriteOnly::default(),
        }
    }

    /// Accepts a ConfigureProvider per Terraform run, for a provider started with `--debug`.
    pub fn reconfigurable(mut self) -> Self {
        self.reconfigurable = true;
        self
    }

    fn resource(&self, name: &str) -> Result<&Registered<dyn Resource<P::Context>>, Diagnostics> {
        self.resources
            .get(name)
            .ok_or_else(|| Diagnostic::error("Unknown resource type", format!("terraform-provider-pve has no resource \"{name}\"")).into())
    }

    async fn context(&self) -> Result<Arc<P::Context>, Diagnostics> {
        self.context.read().await.clone().ok_or_else(|| {
            Diagnostics::from(Diagnostic::error(
                "Provider not configured",
                "ConfigureProvider must succeed before resources are read or changed",
            ))
        })
    }

    fn data_source(&self, name: &str) -> Result<&Registered<dyn DataSource<P::Context>>, Diagnostics> {
        self.data_sources
            .get(name)
            .ok_or_else(|| Diagnostic::error("Unknown data source", format!("terraform-provider-pve has no data source \"{name}\"")).into())
    }

    fn function_proto(f: &dyn Function) -> pb::Function {
        pb::Function {
            parameters: f
                .parameters()
                .into_iter()
                .map(|(name, ty, description)| pb::function::Parameter {
                    name: name.to_string(),
                    r#type: ty.to_json_bytes(),
                    allow_null_value: false,
                    allow_unknown_values: false,
                    description: description.to_string(),
                    description_kind: pb::StringKind::Markdown as i32,
                })
                .collect(),
            variadic_parameter: None,
            r#return: Some(pb::function::Return { r#type: f.return_type().to_json_bytes() }),
            summary: f.summary().to_string(),
            description: f.description().to_string(),
            description_kind: pb::StringKind::Markdown as i32,
            deprecation_message: String::new(),
        }
    }
}

/// The identity of `state` as the protocol carries it, if the resource has identities.
fn identity_data<C>(resource: &Registered<dyn Resource<C>>, state: &Value) -> Option<pb::ResourceIdentityData> {
    if state.is_null() {
        return None;
    }
    let identity = resource.identity(state)?;
    Some(pb::ResourceIdentityData { identity_data: Some(encode(&identity, &resource.identity_ty)) })
}

fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: true,
        get_provider_schema_optional: true,
        move_resource_state: false,
        generate_resource_config: false,
    }
}

/// Reads a `DynamicValue`: msgpack, or JSON when msgpack is empty.
pub fn decode(value: Option<&pb::DynamicValue>) -> Result<Value, Diagnostics> {
    let Some(value) = value else { return Ok(Value::Null) };
    let decoded = if !value.msgpack.is_empty() {
        Value::from_msgpack(&value.msgpack)
    } else if !value.json.is_empty() {
        Value::from_json_bytes(&value.json)
    } else {
        return Ok(Value::Null);
    };
    decoded.map_err(|e| Diagnostic::error("Malformed value from Terraform", e.to_string()).into())
}

pub fn encode(value: &Value, ty: &Type) -> pb::DynamicValue {
    pb::DynamicValue { msgpack: value.to_msgpack(ty), json: Vec::new() }
}

fn unsupported(what: &str) -> Status {
    Status::unimplemented(format!("terraform-provider-pve does not support {what}"))
}

type EventStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl<P: ProviderDefinition> Provider for PluginService<P> {
    async fn get_metadata(&self, request: Request<pb::get_metadata::Request>) -> Result<Response<pb::get_metadata::Response>, Status> {
        self.get_metadata_rpc(request).await
    }

    async fn get_provider_schema(
        &self,
        request: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        self.get_provider_schema_rpc(request).await
    }

    async fn validate_provider_config(
        &self,
        request: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        self.validate_provider_config_rpc(request).await
    }

    async fn validate_resource_config(
        &self,
        request: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        self.validate_resource_config_rpc(request).await
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        self.validate_data_resource_config_rpc(request).await
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        self.upgrade_resource_state_rpc(request).await
    }

    async fn get_resource_identity_schemas(
        &self,
        request: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Result<Response<pb::get_resource_identity_schemas::Response>, Status> {
        self.get_resource_identity_schemas_rpc(request).await
    }

    async fn upgrade_resource_identity(
        &self,
        request: Request<pb::upgrade_resource_identity::Request>,
    ) -> Result<Response<pb::upgrade_resource_identity::Response>, Status> {
        self.upgrade_resource_identity_rpc(request).await
    }

    async fn configure_provider(
        &self,
        request: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        self.configure_provider_rpc(request).await
    }

    async fn read_resource(&self, request: Request<pb::read_resource::Request>) -> Result<Response<pb::read_resource::Response>, Status> {
        self.read_resource_rpc(request).await
    }

    async fn plan_resource_change(
        &self,
        request: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        self.plan_resource_change_rpc(request).await
    }

    async fn apply_resource_change(
        &self,
        request: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        self.apply_resource_change_rpc(request).await
    }

    async fn import_resource_state(
        &self,
        request: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        self.import_resource_state_rpc(request).await
    }

    async fn move_resource_state(
        &self,
        request: Request<pb::move_resource_state::Request>,
    ) -> Result<Response<pb::move_resource_state::Response>, Status> {
        self.move_resource_state_rpc(request).await
    }

    async fn read_data_source(
        &self,
        request: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        self.read_data_source_rpc(request).await
    }

    async fn generate_resource_config(
        &self,
        _: Request<pb::generate_resource_config::Request>,
    ) -> Result<Response<pb::generate_resource_config::Response>, Status> {
        Err(unsupported("generating resource configuration"))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        _: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> Result<Response<pb::validate_ephemeral_resource_config::Response>, Status> {
        Err(unsupported("ephemeral resources"))
    }

    async fn open_ephemeral_resource(
        &self,
        _: Request<pb::open_ephemeral_resource::Request>,
    ) -> Result<Response<pb::open_ephemeral_resource::Response>, Status> {
        Err(unsupported("ephemeral resources"))
    }

    async fn renew_ephemeral_resource(
        &self,
        _: Request<pb::renew_ephemeral_resource::Request>,
    ) -> Result<Response<pb::renew_ephemeral_resource::Response>, Status> {
        Err(unsupported("ephemeral resources"))
    }

    async fn close_ephemeral_resource(
        &self,
        _: Request<pb::close_ephemeral_resource::Request>,
    ) -> Result<Response<pb::close_ephemeral_resource::Response>, Status> {
        Err(unsupported("ephemeral resources"))
    }

    type ListResourceStream = EventStream<pb::list_resource::Event>;

    async fn list_resource(&self, request: Request<pb::list_resource::Request>) -> Result<Response<Self::ListResourceStream>, Status> {
        self.list_resource_rpc(request).await
    }

    async fn validate_list_resource_config(
        &self,
        request: Request<pb::validate_list_resource_config::Request>,
    ) -> Result<Response<pb::validate_list_resource_config::Response>, Status> {
        self.validate_list_resource_config_rpc(request).await
    }

    async fn get_functions(&self, request: Request<pb::get_functions::Request>) -> Result<Response<pb::get_functions::Response>, Status> {
        self.get_functions_rpc(request).await
    }

    async fn call_function(&self, request: Request<pb::call_function::Request>) -> Result<Response<pb::call_function::Response>, Status> {
        self.call_function_rpc(request).await
    }

    async fn validate_state_store_config(
        &self,
        _: Request<pb::validate_state_store::Request>,
    ) -> Result<Response<pb::validate_state_store::Response>, Status> {
        Err(unsupported("state stores"))
    }

    async fn configure_state_store(
        &self,
        _: Request<pb::configure_state_store::Request>,
    ) -> Result<Response<pb::configure_state_store::Response>, Status> {
        Err(unsupported("state stores"))
    }

    type ReadStateBytesStream = EventStream<pb::read_state_bytes::Response>;

    async fn read_state_bytes(&self, _: Request<pb::read_state_bytes::Request>) -> Result<Response<Self::ReadStateBytesStream>, Status> {
        Err(unsupported("state stores"))
    }

    async fn write_state_bytes(
        &self,
        _: Request<tonic::Streaming<pb::write_state_bytes::RequestChunk>>,
    ) -> Result<Response<pb::write_state_bytes::Response>, Status> {
        Err(unsupported("state stores"))
    }

    async fn lock_state(&self, _: Request<pb::lock_state::Request>) -> Result<Response<pb::lock_state::Response>, Status> {
        Err(unsupported("state stores"))
    }

    async fn unlock_state(&self, _: Request<pb::unlock_state::Request>) -> Result<Response<pb::unlock_state::Response>, Status> {
        Err(unsupported("state stores"))
    }

    async fn get_states(&self, _: Request<pb::get_states::Request>) -> Result<Response<pb::get_states::Response>, Status> {
        Err(unsupported("state stores"))
    }

    async fn delete_state(&self, _: Request<pb::delete_state::Request>) -> Result<Response<pb::delete_state::Response>, Status> {
        Err(unsupported("state stores"))
    }

    async fn plan_action(&self, _: Request<pb::plan_action::Request>) -> Result<Response<pb::plan_action::Response>, Status> {
        Err(unsupported("actions"))
    }

    type InvokeActionStream = EventStream<pb::invoke_action::Event>;

    async fn invoke_action(&self, _: Request<pb::invoke_action::Request>) -> Result<Response<Self::InvokeActionStream>, Status> {
        Err(unsupported("actions"))
    }

    async fn validate_action_config(
        &self,
        _: Request<pb::validate_action_config::Request>,
    ) -> Result<Response<pb::validate_action_config::Response>, Status> {
        Err(unsupported("actions"))
    }

    async fn stop_provider(&self, request: Request<pb::stop_provider::Request>) -> Result<Response<pb::stop_provider::Response>, Status> {
        self.stop_provider_rpc(request).await
    }
}
