//! ReadResource, ApplyResourceChange, ImportResourceState, the state upgrades and moves, data
//! source reads and function calls: everything that talks to PVE after planning.

use super::*;

impl<P: ProviderDefinition> PluginService<P> {
    pub(super) async fn upgrade_resource_state_rpc(
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
            Ok::<_, Diagnostics>(encode(&Value::from_json(&upgraded), &resource.ty))
        })();
        Ok(Response::new(match result {
            Ok(state) => pb::upgrade_resource_state::Response { upgraded_state: Some(state), diagnostics: Vec::new() },
            Err(diags) => pb::upgrade_resource_state::Response { upgraded_state: None, diagnostics: diags.to_proto() },
        }))
    }

    pub(super) async fn upgrade_resource_identity_rpc(
        &self,
        request: Request<pb::upgrade_resource_identity::Request>,
    ) -> Result<Response<pb::upgrade_resource_identity::Response>, Status> {
        let request = request.into_inner();
        let result = (|| {
            let resource = self.resource(&request.type_name)?;
            let raw = request.raw_identity.as_ref().map(|r| r.json.as_slice()).unwrap_or_default();
            let identity =
                Value::from_json_bytes(raw).map_err(|e| Diagnostics::from(Diagnostic::error("Unreadable identity", e.to_string())))?;
            Ok::<_, Diagnostics>(pb::ResourceIdentityData { identity_data: Some(encode(&identity, &resource.identity_ty)) })
        })();
        Ok(Response::new(match result {
            Ok(identity) => pb::upgrade_resource_identity::Response { upgraded_identity: Some(identity), diagnostics: Vec::new() },
            Err(diags) => pb::upgrade_resource_identity::Response { upgraded_identity: None, diagnostics: diags.to_proto() },
        }))
    }

    pub(super) async fn read_resource_rpc(
        &self,
        request: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        let request = request.into_inner();
        let result = async {
            let resource = self.resource(&request.type_name)?;
            let state = decode(request.current_state.as_ref())?;
            let context = self.context().await?;
            let mut refreshed = resource.read(&context, state.clone()).await?.unwrap_or(Value::Null);
            if self.write_only.legacy() {
                keep_write_only(&resource.block, &state, &mut refreshed);
            }
            let identity = identity_data(resource, &refreshed);
            Ok::<_, Diagnostics>((encode(&refreshed, &resource.ty), identity))
        }
        .await;
        Ok(Response::new(match result {
            Ok((state, new_identity)) => {
                pb::read_resource::Response { new_state: Some(state), private: request.private, new_identity, ..Default::default() }
            }
            Err(diags) => pb::read_resource::Response { diagnostics: diags.to_proto(), ..Default::default() },
        }))
    }

    pub(super) async fn apply_resource_change_rpc(
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
            let ty = &resource.ty;
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
                keep_write_only(&resource.block, &planned, &mut new_state);
            }
            let identity = identity_data(resource, &new_state);
            Ok::<_, Diagnostics>((encode(&new_state, ty), identity))
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
                    (Some(state), Some(resource)) => Some(encode(&state, &resource.ty)),
                    _ => None,
                };
                pb::apply_resource_change::Response { new_state, diagnostics: diags.to_proto(), ..Default::default() }
            }
        }))
    }

    pub(super) async fn import_resource_state_rpc(
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
            let identity = identity_data(resource, &state);
            Ok::<_, Diagnostics>((encode(&state, &resource.ty), identity))
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

    pub(super) async fn move_resource_state_rpc(
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

    pub(super) async fn read_data_source_rpc(
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
            Ok::<_, Diagnostics>(encode(&state, &source.ty))
        }
        .await;
        Ok(Response::new(match result {
            Ok(state) => pb::read_data_source::Response { state: Some(state), diagnostics: Vec::new(), deferred: None },
            Err(diags) => pb::read_data_source::Response { state: None, diagnostics: diags.to_proto(), deferred: None },
        }))
    }

    pub(super) async fn call_function_rpc(
        &self,
        request: Request<pb::call_function::Request>,
    ) -> Result<Response<pb::call_function::Response>, Status> {
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
}
