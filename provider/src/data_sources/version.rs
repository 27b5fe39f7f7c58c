//! `data "pve_version"`: the cluster's Proxmox VE version.

use futures::future::BoxFuture;

use crate::plugin::diag::Diagnostics;
use crate::plugin::diag::api_failure;
use crate::plugin::schema::{Attribute, Block};
use crate::plugin::service::DataSource;
use crate::plugin::value::{Type, Value};
use crate::provider::Context;

pub struct PveVersion;

impl DataSource<Context> for PveVersion {
    fn type_name(&self) -> &'static str {
        "pve_version"
    }

    fn schema(&self) -> Block {
        Block::new(
            "The Proxmox VE version of the cluster the provider talks to.",
            vec![
                Attribute::computed("version", Type::String, "Version, e.g. `9.1.3`."),
                Attribute::computed("release", Type::String, "Release, e.g. `9.1`."),
                Attribute::computed("repoid", Type::String, "Git commit of the pve-manager build."),
            ],
        )
    }

    fn read<'a>(&'a self, ctx: &'a Context, _config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let version = ctx.client.version().await.map_err(|e| api_failure("Reading the version", e))?;
            Ok(Value::object([("version", version.version.into()), ("release", version.release.into()), ("repoid", version.repoid.into())]))
        })
    }
}
