//! ConfigureProvider (accepted once per process) and StopProvider.

use super::*;

impl<P: ProviderDefinition> PluginService<P> {
    pub(super) async fn configure_provider_rpc(
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

    pub(super) async fn stop_provider_rpc(
        &self,
        request: Request<pb::stop_provider::Request>,
    ) -> Result<Response<pb::stop_provider::Response>, Status> {
        let _ = request;
        if let Some(context) = self.context.read().await.as_ref() {
            self.definition.stop(context);
        }
        Ok(Response::new(pb::stop_provider::Response { error: String::new() }))
    }
}
