//! PlanResourceChange: the generic plan rules, the resource's own plan checks, and the write-only
//! compatibility for clients that do not know write-only attributes.

use super::*;

impl<P: ProviderDefinition> PluginService<P> {
    pub(super) async fn plan_resource_change_rpc(
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
            let schema = &resource.block;
            if proposed.is_null() {
                // Destroy: nothing to adjust.
                return Ok((encode(&Value::Null, &schema.value_type()), Vec::new(), Diagnostics::default()));
            }
            let (mut planned, mut replace) = crate::plugin::resource::plan(schema, &prior, &proposed, &config);
            let mut diags = resource.modify_plan(context.as_deref(), &prior, &config, &mut planned, &mut replace).await;
            if diags.has_errors() {
                return Err(diags);
            }
            if self.write_only.legacy() {
                keep_write_only(schema, &config, &mut planned);
                let set: Vec<&str> = write_only_names(schema).filter(|name| !config.get(name).is_null()).collect();
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
            .and_then(|r| identity_data(r, &decode(request.prior_state.as_ref()).unwrap_or_default()));
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
}
