//! ListResource (`terraform query`).

use super::*;

impl<P: ProviderDefinition> PluginService<P> {
    pub(super) async fn list_resource_rpc(
        &self,
        request: Request<pb::list_resource::Request>,
    ) -> Result<Response<EventStream<pb::list_resource::Event>>, Status> {
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
            let ty = &resource.ty;
            Ok::<_, Diagnostics>(
                found
                    .into_iter()
                    .map(|(display_name, state)| pb::list_resource::Event {
                        identity: identity_data(resource, &state),
                        display_name,
                        resource_object: request.include_resource_object.then(|| encode(&state, ty)),
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
}
