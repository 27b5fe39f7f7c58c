//! Schemas and validation: GetMetadata, GetProviderSchema, the Validate* calls, identity schemas
//! and the function list. All answer from the schemas registered once at start.

use super::*;

impl<P: ProviderDefinition> PluginService<P> {
    pub(super) async fn get_metadata_rpc(
        &self,
        request: Request<pb::get_metadata::Request>,
    ) -> Result<Response<pb::get_metadata::Response>, Status> {
        let _ = request;
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            data_sources: self.data_sources.keys().map(|n| pb::get_metadata::DataSourceMetadata { type_name: n.to_string() }).collect(),
            resources: self.resources.keys().map(|n| pb::get_metadata::ResourceMetadata { type_name: n.to_string() }).collect(),
            functions: self.functions.keys().map(|n| pb::get_metadata::FunctionMetadata { name: n.to_string() }).collect(),
            list_resources: self
                .resources
                .iter()
                .filter(|(_, r)| r.list_block.is_some())
                .map(|(n, _)| pb::get_metadata::ListResourceMetadata { type_name: n.to_string() })
                .collect(),
            ..Default::default()
        }))
    }

    pub(super) async fn get_provider_schema_rpc(
        &self,
        request: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        let _ = request;
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(self.provider_block.to_proto(0)),
            data_source_schemas: self.data_sources.iter().map(|(n, d)| (n.to_string(), d.block.to_proto(0))).collect(),
            resource_schemas: self.resources.iter().map(|(n, r)| (n.to_string(), r.block.to_proto(r.schema_version()))).collect(),
            functions: self.functions.iter().map(|(n, f)| (n.to_string(), Self::function_proto(f.as_ref()))).collect(),
            list_resource_schemas: self
                .resources
                .iter()
                .filter_map(|(n, r)| Some((n.to_string(), r.list_block.as_ref()?.to_proto(0))))
                .collect(),
            server_capabilities: Some(capabilities()),
            ..Default::default()
        }))
    }

    pub(super) async fn validate_provider_config_rpc(
        &self,
        request: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let diags = match decode(request.get_ref().config.as_ref()) {
            Ok(config) => {
                let mut diags = self.provider_block.validate(&config);
                diags.extend(self.definition.validate(&config));
                diags
            }
            Err(diags) => diags,
        };
        Ok(Response::new(pb::validate_provider_config::Response { diagnostics: diags.to_proto() }))
    }

    pub(super) async fn validate_resource_config_rpc(
        &self,
        request: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let request = request.into_inner();
        if request.client_capabilities.as_ref().is_some_and(|c| c.write_only_attributes_allowed) {
            self.write_only.client_says_supported();
        }
        let diags = match (self.resource(&request.type_name), decode(request.config.as_ref())) {
            (Ok(resource), Ok(config)) => {
                let mut diags = resource.block.validate(&config);
                diags.extend(resource.validate(&config));
                diags
            }
            (Err(diags), _) | (_, Err(diags)) => diags,
        };
        Ok(Response::new(pb::validate_resource_config::Response { diagnostics: diags.to_proto() }))
    }

    pub(super) async fn validate_data_resource_config_rpc(
        &self,
        request: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let request = request.into_inner();
        let diags = match (self.data_source(&request.type_name), decode(request.config.as_ref())) {
            (Ok(source), Ok(config)) => {
                let mut diags = source.block.validate(&config);
                diags.extend(source.validate(&config));
                diags
            }
            (Err(diags), _) | (_, Err(diags)) => diags,
        };
        Ok(Response::new(pb::validate_data_resource_config::Response { diagnostics: diags.to_proto() }))
    }

    pub(super) async fn get_resource_identity_schemas_rpc(
        &self,
        request: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Result<Response<pb::get_resource_identity_schemas::Response>, Status> {
        let _ = request;
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

    pub(super) async fn validate_list_resource_config_rpc(
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

    pub(super) async fn get_functions_rpc(
        &self,
        request: Request<pb::get_functions::Request>,
    ) -> Result<Response<pb::get_functions::Response>, Status> {
        let _ = request;
        Ok(Response::new(pb::get_functions::Response {
            functions: self.functions.iter().map(|(n, f)| (n.to_string(), Self::function_proto(f.as_ref()))).collect(),
            diagnostics: Vec::new(),
        }))
    }
}
