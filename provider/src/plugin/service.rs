//! The gRPC `tfplugin6.Provider` service over a provider definition: schemas, validation,
//! configuration, data sources and functions. Calls the provider does not support get a clear
//! error, never a hang.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::RwLock;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::diag::{Diagnostic, Diagnostics, path_to_proto};
use super::resource::{CreateError, Resource};
use super::schema::Block;
use super::value::{Type, Value};
use crate::proto::tfplugin6 as pb;
use pb::provider_server::Provider;

pub trait DataSource<C>: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Block;
    /// Checks beyond the schema's validators (e.g. conflicting attributes).
    fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::default()
    }
    fn read<'a>(&'a self, ctx: &'a C, config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>>;
}

/// A provider function (`provider::pve::NAME(...)`).
pub trait Function: Send + Sync {
    fn name(&self) -> &'static str;
    fn summary(&self) -> &'static str;
    fn description(&self) -> &'static str;
    fn parameters(&self) -> Vec<(&'static str, Type, &'static str)>;
    fn return_type(&self) -> Type;
    /// On failure: the message and, if one argument is at fault, its index.
    fn call(&self, arguments: &[Value]) -> Result<Value, (String, Option<i64>)>;
}

/// What a provider is: its configuration and what it offers.
pub trait ProviderDefinition: Send + Sync + 'static {
    type Context: Send + Sync + 'static;
    fn schema(&self) -> Block;
    fn validate(&self, config: &Value) -> Diagnostics;
    fn configure<'a>(&'a self, config: Value, terraform_version: String) -> BoxFuture<'a, Result<Self::Context, Diagnostics>>;
    fn data_sources(&self) -> Vec<Arc<dyn DataSource<Self::Context>>>;
    fn resources(&self) -> Vec<Arc<dyn Resource<Self::Context>>> {
        Vec::new()
    }
    fn functions(&self) -> Vec<Arc<dyn Function>>;
    /// Terraform asked the provider to stop (Ctrl-C): interrupt long waits.
    fn stop(&self, _context: &Self::Context) {}
}

pub struct PluginService<P: ProviderDefinition> {
    definition: P,
    data_sources: HashMap<&'static str, Arc<dyn DataSource<P::Context>>>,
    resources: HashMap<&'static str, Arc<dyn Resource<P::Context>>>,
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

/// Terraform < 1.11 (and OpenTofu < 1.10) do not know write-only attributes: they read the schema's
/// flag as nothing and treat such an attribute as an ordinary one, so a provider that plans it as
/// null breaks the protocol ("planned an invalid value"). Terraform 1.11+ says it knows them in
/// `client_capabilities.write_only_attributes_allowed`; every Terraform sends its version in
/// ConfigureProvider. For an older client the attributes are planned, applied and kept in state as
/// ordinary (still sensitive) values, with a warning that names them.
#[derive(Default)]
struct WriteOnly(std::sync::atomic::AtomicU8);

impl WriteOnly {
    const UNKNOWN: u8 = 0;
    const SUPPORTED: u8 = 1;
    const UNSUPPORTED: u8 = 2;

    fn client_says_supported(&self) {
        self.0.store(Self::SUPPORTED, std::sync::atomic::Ordering::SeqCst);
    }

    /// From ConfigureProvider's `terraform_version` (empty: no opinion). A capability already seen
    /// wins over the version.
    fn judge_by_version(&self, version: &str) {
        let mut parts = version.trim_start_matches('v').split(['.', '-']).map(|p| p.parse::<u64>().ok());
        let known = match (parts.next().flatten(), parts.next().flatten()) {
            (Some(major), Some(minor)) => (major, minor) >= (1, 11),
            _ => return,
        };
        let value = if known { Self::SUPPORTED } else { Self::UNSUPPORTED };
        let _ = self.0.compare_exchange(Self::UNKNOWN, value, std::sync::atomic::Ordering::SeqCst, std::sync::atomic::Ordering::SeqCst);
    }

    /// True only when the client is known not to support write-only attributes.
    fn legacy(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst) == Self::UNSUPPORTED
    }
}

/// Names of the schema's top-level write-only attributes.
fn write_only_names(schema: &Block) -> impl Iterator<Item = &'static str> + '_ {
    schema.attributes.iter().filter(|a| a.write_only).map(|a| a.name)
}

/// Copies the write-only attributes of `from` into `into` (an object), for clients that keep them
/// as ordinary values.
fn keep_write_only(schema: &Block, from: &Value, into: &mut Value) {
    if let Value::Map(attributes) = into {
        for name in write_only_names(schema) {
            attributes.insert(name.to_string(), from.get(name).clone());
        }
    }
}

impl<P: ProviderDefinition> PluginService<P> {
    pub fn new(definition: P) -> Self {
        let data_sources = definition.data_sources().into_iter().map(|d| (d.type_name(), d)).collect();
        let resources = definition.resources().into_iter().map(|r| (r.type_name(), r)).collect();
        let functions = definition.functions().into_iter().map(|f| (f.name(), f)).collect();
        Self {
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

    fn resource(&self, name: &str) -> Result<&Arc<dyn Resource<P::Context>>, Diagnostics> {
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

    fn data_source(&self, name: &str) -> Result<&Arc<dyn DataSource<P::Context>>, Diagnostics> {
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

fn identity_type<C>(resource: &dyn Resource<C>) -> Type {
    Type::Object(resource.identity_schema().into_iter().map(|a| (a.name.to_string(), a.ty)).collect())
}

/// The identity of `state` as the protocol carries it, if the resource has identities.
fn identity_data<C>(resource: &dyn Resource<C>, state: &Value) -> Option<pb::ResourceIdentityData> {
    if state.is_null() {
        return None;
    }
    let identity = resource.identity(state)?;
    Some(pb::ResourceIdentityData { identity_data: Some(encode(&identity, &identity_type(resource))) })
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
    async fn get_metadata(&self, _: Request<pb::get_metadata::Request>) -> Result<Response<pb::get_metadata::Response>, Status> {
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            data_sources: self.data_sources.keys().map(|n| pb::get_metadata::DataSourceMetadata { type_name: n.to_string() }).collect(),
            resources: self.resources.keys().map(|n| pb::get_metadata::ResourceMetadata { type_name: n.to_string() }).collect(),
            functions: self.functions.keys().map(|n| pb::get_metadata::FunctionMetadata { name: n.to_string() }).collect(),
            list_resources: self
                .resources
                .iter()
                .filter(|(_, r)| r.list_schema().is_some())
                .map(|(n, _)| pb::get_metadata::ListResourceMetadata { type_name: n.to_string() })
                .collect(),
            ..Default::default()
        }))
    }

    async fn get_provider_schema(
        &self,
        _: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(self.definition.schema().to_proto(0)),
            data_source_schemas: self.data_sources.iter().map(|(n, d)| (n.to_string(), d.schema().to_proto(0))).collect(),
            resource_schemas: self.resources.iter().map(|(n, r)| (n.to_string(), r.schema().to_proto(r.schema_version()))).collect(),
            functions: self.functions.iter().map(|(n, f)| (n.to_string(), Self::function_proto(f.as_ref()))).collect(),
            list_resource_schemas: self.resources.iter().filter_map(|(n, r)| Some((n.to_string(), r.list_schema()?.to_proto(0)))).collect(),
            server_capabilities: Some(capabilities()),
            ..Default::default()
        }))
    }

    async fn validate_provider_config(
        &self,
        request: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let diags = match decode(request.get_ref().config.as_ref()) {
            Ok(config) => {
                let mut diags = self.definition.schema().validate(&config);
                diags.extend(self.definition.validate(&config));
                diags
            }
            Err(diags) => diags,
        };
        Ok(Response::new(pb::validate_provider_config::Response { diagnostics: diags.to_proto() }))
    }

    async fn validate_resource_config(
        &self,
        request: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let request = request.into_inner();
        if request.client_capabilities.as_ref().is_some_and(|c| c.write_only_attributes_allowed) {
            self.write_only.client_says_supported();
        }
        let diags = match (self.resource(&request.type_name), decode(request.config.as_ref())) {
            (Ok(resource), Ok(config)) => {
                let mut diags = resource.schema().validate(&config);
                diags.extend(resource.validate(&config));
                diags
            }
            (Err(diags), _) | (_, Err(diags)) => diags,
        };
        Ok(Response::new(pb::validate_resource_config::Response { diagnostics: diags.to_proto() }))
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let request = request.into_inner();
        let diags = match (self.data_source(&request.type_name), decode(request.config.as_ref())) {
            (Ok(source), Ok(config)) => {
                let mut diags = source.schema().validate(&config);
                diags.extend(source.validate(&config));
                diags
            }
            (Err(diags), _) | (_, Err(diags)) => diags,
        };
        Ok(Response::new(pb::validate_data_resource_config::Response { diagnostics: diags.to_proto() }))
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let request = request.into_inner();
        let result = (|| {
            let resource = self.resource(&request.type_name)?;
            let raw = request.raw_state.as_ref().map(|r| r.json.as_slice()).unwrap_or_default();
            let json: serde_json::Value =
                serde_json::from_slice(raw).map_err(|e| Diagnostics::from(Diagnostic::error("Unreadable state", e.to_string())))?;
            if request.version > resource.schema_version() {
                return Err(Diagnostic::error(
                    "State from a newer provider",
                    format!(
                        "{} state version {} is newer than this provider understands ({}); upgrade the provider",
                        request.type_name,
                        request.version,
                        resource.schema_version()
                    ),
                )
                .into());
            }
            let upgraded = if request.version < resource.schema_version() { resource.upgrade(request.version, json)? } else { json };
            Ok::<_, Diagnostics>(encode(&Value::from_json(&upgraded), &resource.schema().value_type()))
        })();
        Ok(Response::new(match result {
            Ok(state) => pb::upgrade_resource_state::Response { upgraded_state: Some(state), diagnostics: Vec::new() },
            Err(diags) => pb::upgrade_resource_state::Response { upgraded_state: None, diagnostics: diags.to_proto() },
        }))
    }

    async fn get_resource_identity_schemas(
        &self,
        _: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Result<Response<pb::get_resource_identity_schemas::Response>, Status> {
        let identity_schemas = self
            .resources
            .iter()
            .filter(|(_, r)| !r.identity_schema().is_empty())
            .map(|(name, r)| {
                let attributes = r
                    .identity_schema()
                    .into_iter()
                    .map(|a| pb::resource_identity_schema::IdentityAttribute {
                        name: a.name.to_string(),
                        r#type: a.ty.to_json_bytes(),
                        required_for_import: a.required_for_import,
                        optional_for_import: !a.required_for_import,
                        description: a.description.to_string(),
                    })
                    .collect();
                (name.to_string(), pb::ResourceIdentitySchema { version: 0, identity_attributes: attributes })
            })
            .collect();
        Ok(Response::new(pb::get_resource_identity_schemas::Response { identity_schemas, diagnostics: Vec::new() }))
    }

    async fn upgrade_resource_identity(
        &self,
        request: Request<pb::upgrade_resource_identity::Request>,
    ) -> Result<Response<pb::upgrade_resource_identity::Response>, Status> {
        let request = request.into_inner();
        let result = (|| {
            let resource = self.resource(&request.type_name)?;
            let raw = request.raw_identity.as_ref().map(|r| r.json.as_slice()).unwrap_or_default();
            let identity =
                Value::from_json_bytes(raw).map_err(|e| Diagnostics::from(Diagnostic::error("Unreadable identity", e.to_string())))?;
            Ok::<_, Diagnostics>(pb::ResourceIdentityData { identity_data: Some(encode(&identity, &identity_type(resource.as_ref()))) })
        })();
        Ok(Response::new(match result {
            Ok(identity) => pb::upgrade_resource_identity::Response { upgraded_identity: Some(identity), diagnostics: Vec::new() },
            Err(diags) => pb::upgrade_resource_identity::Response { upgraded_identity: None, diagnostics: diags.to_proto() },
        }))
    }

    async fn configure_provider(
        &self,
        request: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let request = request.into_inner();
        if self.configured_once.swap(true, std::sync::atomic::Ordering::SeqCst) && !self.reconfigurable {
            tracing::warn!("refused a second ConfigureProvider");
            let refused = Diagnostic::error(
                "Provider already configured",
                "This provider process accepts one ConfigureProvider call; Terraform starts a new process for every configuration.",
            );
            return Ok(Response::new(pb::configure_provider::Response { diagnostics: Diagnostics::from(refused).to_proto() }));
        }
        self.write_only.judge_by_version(&request.terraform_version);
        let result = match decode(request.config.as_ref()) {
            Ok(config) => self.definition.configure(config, request.terraform_version).await,
            Err(diags) => Err(diags),
        };
        let diagnostics = match result {
            Ok(context) => {
                *self.context.write().await = Some(Arc::new(context));
                Vec::new()
            }
            Err(diags) => diags.to_proto(),
        };
        Ok(Response::new(pb::configure_provider::Response { diagnostics }))
    }

    async fn read_resource(&self, request: Request<pb::read_resource::Request>) -> Result<Response<pb::read_resource::Response>, Status> {
        let request = request.into_inner();
        let result = async {
            let resource = self.resource(&request.type_name)?;
            let state = decode(request.current_state.as_ref())?;
            let context = self.context().await?;
            let mut refreshed = resource.read(&context, state.clone()).await?.unwrap_or(Value::Null);
            if self.write_only.legacy() {
                keep_write_only(&resource.schema(), &state, &mut refreshed);
            }
            let identity = identity_data(resource.as_ref(), &refreshed);
            Ok::<_, Diagnostics>((encode(&refreshed, &resource.schema().value_type()), identity))
        }
        .await;
        Ok(Response::new(match result {
            Ok((state, new_identity)) => {
                pb::read_resource::Response { new_state: Some(state), private: request.private, new_identity, ..Default::default() }
            }
            Err(diags) => pb::read_resource::Response { diagnostics: diags.to_proto(), ..Default::default() },
        }))
    }

    async fn plan_resource_change(
        &self,
        request: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let request = request.into_inner();
        if request.client_capabilities.as_ref().is_some_and(|c| c.write_only_attributes_allowed) {
            self.write_only.client_says_supported();
        }
        let context = self.context.read().await.clone();
        let result = async {
            let resource = self.resource(&request.type_name)?;
            let prior = decode(request.prior_state.as_ref())?;
            let proposed = decode(request.proposed_new_state.as_ref())?;
            let config = decode(request.config.as_ref())?;
            let schema = resource.schema();
            if proposed.is_null() {
                // Destroy: nothing to adjust.
                return Ok((encode(&Value::Null, &schema.value_type()), Vec::new(), Diagnostics::default()));
            }
            let (mut planned, mut replace) = super::resource::plan(&schema, &prior, &proposed, &config);
            let mut diags = resource.modify_plan(context.as_deref(), &prior, &config, &mut planned, &mut replace).await;
            if diags.has_errors() {
                return Err(diags);
            }
            if self.write_only.legacy() {
                keep_write_only(&schema, &config, &mut planned);
                let set: Vec<&str> = write_only_names(&schema).filter(|name| !config.get(name).is_null()).collect();
                if !set.is_empty() {
                    // On the resource, not on an attribute: Terraform would quote the attribute's
                    // configuration line, secret included.
                    let sensitive: Vec<&str> =
                        schema.attributes.iter().filter(|a| a.sensitive && set.contains(&a.name)).map(|a| a.name).collect();
                    diags.push(Diagnostic::warning(
                        format!("Write-only attributes kept in state by this Terraform: {}", set.join(", ")),
                        format!(
                            "{} declares {} write-only, but this Terraform does not know write-only attributes (Terraform 1.11 or later and OpenTofu 1.10 or later do). They are planned and stored in state like any other value{}. Upgrade Terraform to keep them out of state.",
                            request.type_name,
                            set.join(", "),
                            if sensitive.is_empty() { String::new() } else { format!(" ({} still marked sensitive)", sensitive.join(", ")) }
                        ),
                    ));
                }
            }
            Ok::<_, Diagnostics>((encode(&planned, &schema.value_type()), replace, diags))
        }
        .await;
        let planned_identity = self
            .resources
            .get(request.type_name.as_str())
            .and_then(|r| identity_data(r.as_ref(), &decode(request.prior_state.as_ref()).unwrap_or_default()));
        Ok(Response::new(match result {
            Ok((planned, replace, diags)) => pb::plan_resource_change::Response {
                planned_identity,
                planned_state: Some(planned),
                requires_replace: replace.iter().map(path_to_proto).collect(),
                planned_private: request.prior_private,
                diagnostics: diags.to_proto(),
                ..Default::default()
            },
            Err(diags) => pb::plan_resource_change::Response { diagnostics: diags.to_proto(), ..Default::default() },
        }))
    }

    async fn apply_resource_change(
        &self,
        request: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let request = request.into_inner();
        let mut partial: Option<Value> = None;
        let result = async {
            let resource = self.resource(&request.type_name)?;
            let prior = decode(request.prior_state.as_ref())?;
            let planned = decode(request.planned_state.as_ref())?;
            let config = decode(request.config.as_ref())?;
            let context = self.context().await?;
            let ty = resource.schema().value_type();
            let new_state = if planned.is_null() {
                resource.delete(&context, prior).await?;
                Value::Null
            } else if prior.is_null() {
                match resource.create(&context, planned.clone(), config).await {
                    Ok(state) => state,
                    Err(CreateError { partial: left, diagnostics }) => {
                        partial = left;
                        return Err(diagnostics);
                    }
                }
            } else {
                resource.update(&context, prior, planned.clone(), config).await?
            };
            let mut new_state = new_state;
            if self.write_only.legacy() && !new_state.is_null() {
                keep_write_only(&resource.schema(), &planned, &mut new_state);
            }
            let identity = identity_data(resource.as_ref(), &new_state);
            Ok::<_, Diagnostics>((encode(&new_state, &ty), identity))
        }
        .await;
        Ok(Response::new(match result {
            Ok((state, new_identity)) => pb::apply_resource_change::Response {
                new_state: Some(state),
                private: request.planned_private,
                new_identity,
                ..Default::default()
            },
            Err(diags) => {
                // A create that left an object behind reports it, so Terraform keeps it (tainted).
                let new_state = match (partial, self.resources.get(request.type_name.as_str())) {
                    (Some(state), Some(resource)) => Some(encode(&state, &resource.schema().value_type())),
                    _ => None,
                };
                pb::apply_resource_change::Response { new_state, diagnostics: diags.to_proto(), ..Default::default() }
            }
        }))
    }

    async fn import_resource_state(
        &self,
        request: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let request = request.into_inner();
        let result = async {
            let resource = self.resource(&request.type_name)?;
            let context = self.context().await?;
            // An `import` block may name the object by identity instead of by ID.
            let id = match request.identity.as_ref().and_then(|i| i.identity_data.as_ref()) {
                Some(identity) if request.id.is_empty() => {
                    let identity = decode(Some(identity))?;
                    resource.import_id(&identity).ok_or_else(|| {
                        Diagnostics::from(Diagnostic::error("Incomplete identity", "the identity does not name an object"))
                    })?
                }
                _ => request.id.clone(),
            };
            let state = resource.import(&context, id).await?;
            let identity = identity_data(resource.as_ref(), &state);
            Ok::<_, Diagnostics>((encode(&state, &resource.schema().value_type()), identity))
        }
        .await;
        Ok(Response::new(match result {
            Ok((state, identity)) => pb::import_resource_state::Response {
                imported_resources: vec![pb::import_resource_state::ImportedResource {
                    type_name: request.type_name,
                    state: Some(state),
                    identity,
                    ..Default::default()
                }],
                ..Default::default()
            },
            Err(diags) => pb::import_resource_state::Response { diagnostics: diags.to_proto(), ..Default::default() },
        }))
    }

    async fn move_resource_state(
        &self,
        request: Request<pb::move_resource_state::Request>,
    ) -> Result<Response<pb::move_resource_state::Response>, Status> {
        let request = request.get_ref();
        let detail = format!(
            "moving {} from {} into {} is not supported; use `terraform import` on the new address instead",
            request.source_type_name, request.source_provider_address, request.target_type_name
        );
        Ok(Response::new(pb::move_resource_state::Response {
            diagnostics: Diagnostics::from(Diagnostic::error("Unsupported move", detail)).to_proto(),
            ..Default::default()
        }))
    }

    async fn read_data_source(
        &self,
        request: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        let request = request.into_inner();
        let result = async {
            let source = self.data_source(&request.type_name)?;
            let config = decode(request.config.as_ref())?;
            let context = self.context.read().await.clone().ok_or_else(|| {
                Diagnostics::from(Diagnostic::error(
                    "Provider not configured",
                    "ConfigureProvider must succeed before data sources are read",
                ))
            })?;
            let state = source.read(&context, config).await?;
            Ok::<_, Diagnostics>(encode(&state, &source.schema().value_type()))
        }
        .await;
        Ok(Response::new(match result {
            Ok(state) => pb::read_data_source::Response { state: Some(state), diagnostics: Vec::new(), deferred: None },
            Err(diags) => pb::read_data_source::Response { state: None, diagnostics: diags.to_proto(), deferred: None },
        }))
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
        let request = request.into_inner();
        let events: Vec<pb::list_resource::Event> = match async {
            let resource = self.resource(&request.type_name)?;
            let schema = resource
                .list_schema()
                .ok_or_else(|| Diagnostics::from(Diagnostic::error("Not listable", format!("{} cannot be listed", request.type_name))))?;
            let config = decode(request.config.as_ref())?;
            let diags = schema.validate(&config);
            if diags.has_errors() {
                return Err(diags);
            }
            let context = self.context().await?;
            let mut found = resource.list(&context, config, request.include_resource_object).await?;
            if request.limit > 0 {
                found.truncate(request.limit as usize);
            }
            let ty = resource.schema().value_type();
            Ok::<_, Diagnostics>(
                found
                    .into_iter()
                    .map(|(display_name, state)| pb::list_resource::Event {
                        identity: identity_data(resource.as_ref(), &state),
                        display_name,
                        resource_object: request.include_resource_object.then(|| encode(&state, &ty)),
                        diagnostic: Vec::new(),
                    })
                    .collect(),
            )
        }
        .await
        {
            Ok(events) => events,
            Err(diags) => vec![pb::list_resource::Event { diagnostic: diags.to_proto(), ..Default::default() }],
        };
        Ok(Response::new(Box::pin(tokio_stream::iter(events.into_iter().map(Ok)))))
    }

    async fn validate_list_resource_config(
        &self,
        request: Request<pb::validate_list_resource_config::Request>,
    ) -> Result<Response<pb::validate_list_resource_config::Response>, Status> {
        let request = request.into_inner();
        let diags = match (self.resource(&request.type_name), decode(request.config.as_ref())) {
            (Ok(resource), Ok(config)) => match resource.list_schema() {
                Some(schema) => schema.validate(&config),
                None => Diagnostic::error("Not listable", format!("{} cannot be listed", request.type_name)).into(),
            },
            (Err(diags), _) | (_, Err(diags)) => diags,
        };
        Ok(Response::new(pb::validate_list_resource_config::Response { diagnostics: diags.to_proto() }))
    }

    async fn get_functions(&self, _: Request<pb::get_functions::Request>) -> Result<Response<pb::get_functions::Response>, Status> {
        Ok(Response::new(pb::get_functions::Response {
            functions: self.functions.iter().map(|(n, f)| (n.to_string(), Self::function_proto(f.as_ref()))).collect(),
            diagnostics: Vec::new(),
        }))
    }

    async fn call_function(&self, request: Request<pb::call_function::Request>) -> Result<Response<pb::call_function::Response>, Status> {
        let request = request.into_inner();
        let fail = |text: String, argument: Option<i64>| {
            Ok(Response::new(pb::call_function::Response {
                result: None,
                error: Some(pb::FunctionError { text, function_argument: argument }),
            }))
        };
        let Some(function) = self.functions.get(request.name.as_str()) else {
            return fail(format!("terraform-provider-pve has no function \"{}\"", request.name), None);
        };
        let mut arguments = Vec::with_capacity(request.arguments.len());
        for (index, argument) in request.arguments.iter().enumerate() {
            match decode(Some(argument)) {
                Ok(value) => arguments.push(value),
                Err(_) => return fail("malformed argument".into(), Some(index as i64)),
            }
        }
        match function.call(&arguments) {
            Ok(value) => {
                Ok(Response::new(pb::call_function::Response { result: Some(encode(&value, &function.return_type())), error: None }))
            }
            Err((text, argument)) => fail(text, argument),
        }
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

    async fn stop_provider(&self, _: Request<pb::stop_provider::Request>) -> Result<Response<pb::stop_provider::Response>, Status> {
        if let Some(context) = self.context.read().await.as_ref() {
            self.definition.stop(context);
        }
        Ok(Response::new(pb::stop_provider::Response { error: String::new() }))
    }
}

#[cfg(test)]
mod write_only_tests {
    use super::WriteOnly;

    #[test]
    fn the_terraform_version_decides_until_the_client_says_more() {
        for (version, legacy) in
            [("1.6.6", true), ("1.9.8", true), ("1.10.5", true), ("1.11.0", false), ("1.15.5", false), ("2.0.0", false)]
        {
            let support = WriteOnly::default();
            support.judge_by_version(version);
            assert_eq!(support.legacy(), legacy, "{version}");
        }
        // No version: no opinion (write-only as declared).
        let support = WriteOnly::default();
        support.judge_by_version("");
        assert!(!support.legacy());
        // A client that announces the capability is believed over its version.
        let support = WriteOnly::default();
        support.client_says_supported();
        support.judge_by_version("1.10.0");
        assert!(!support.legacy());
    }
}
