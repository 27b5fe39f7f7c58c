//! `data "pve_next_vmid"`: a VMID that is free right now (at or above `min`).

use futures::future::BoxFuture;

use crate::plugin::diag::Diagnostics;
use crate::plugin::diag::api_failure;
use crate::plugin::schema::{Attribute, Block, Validator};
use crate::plugin::service::DataSource;
use crate::plugin::value::{Type, Value};
use crate::provider::Context;

pub struct PveNextVmid;

impl DataSource<Context> for PveNextVmid {
    fn type_name(&self) -> &'static str {
        "pve_next_vmid"
    }

    fn schema(&self) -> Block {
        Block::new(
            "A VMID that is free when read. It is not reserved: resources that need a VMID allocate one \
             themselves, race-free, when `vmid` is left unset.",
            vec![
                Attribute::optional("min", Type::Number, "Lowest acceptable VMID (default 100).")
                    .validate(Validator::Range(100, 999_999_999)),
                Attribute::computed("vmid", Type::Number, "The free VMID."),
            ],
        )
    }

    fn read<'a>(&'a self, ctx: &'a Context, config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let vmid = match config.get("min").as_i64() {
                None => ctx.client.next_id(None).await.map_err(|e| api_failure("Asking for the next VMID", e))?,
                Some(min) => {
                    let resources = ctx.client.cluster_resources(Some("vm")).await.map_err(|e| api_failure("Listing guests", e))?;
                    let used: std::collections::BTreeSet<u64> = resources.iter().filter_map(|r| r.vmid).collect();
                    let candidate = (min as u64..).find(|id| !used.contains(id)).unwrap_or(min as u64);
                    // PVE confirms the choice (400 if it was taken in the meantime).
                    ctx.client.next_id(Some(candidate)).await.map_err(|e| api_failure("Checking the VMID", e))?
                }
            };
            Ok(Value::object([("min", config.get("min").clone()), ("vmid", vmid.into())]))
        })
    }
}
