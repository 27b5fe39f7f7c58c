//! `resource "pve_pool"`: a resource pool (`/pools`). Guests join it through `pve_vm`'s and
//! `pve_lxc`'s `pool`; permissions granted on `/pool/ID` apply to its members.
//!
//! Plan rules: `pool_id` replaces the pool; `comment` updates in place. Destroy never orphans or
//! removes members: PVE refuses to delete a pool that still has guests, storages or sub-pools
//! (pve-manager `PVE/API2/Pool.pm` `delete_pool`), and its message is reported as it is. Guests
//! whose `pool` references this resource are destroyed (or moved) first by Terraform's ordering.
//! Import with `terraform import pve_pool.NAME POOL_ID`.

use futures::future::BoxFuture;

use crate::plugin::diag::{Diagnostic, Diagnostics, api_failure};
use crate::plugin::resource::{CreateError, Resource};
use crate::plugin::schema::Block;
use crate::plugin::value::Value;
use crate::provider::Context;
use crate::resources::access::{created, vanished};

mod model;
mod schema;
mod steps;
use schema::names;
use steps::*;

pub struct PvePool;

impl Resource<Context> for PvePool {
    fn type_name(&self) -> &'static str {
        "pve_pool"
    }

    fn schema(&self) -> Block {
        schema::schema()
    }

    fn create<'a>(&'a self, ctx: &'a Context, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, CreateError>> {
        Box::pin(async move {
            let poolid = planned.get(names::POOL_ID).as_str().unwrap_or_default().to_string();
            if let Err(e) = ctx.client.create_pool(&poolid, planned.get(names::COMMENT).as_str()).await {
                // A lost answer: the pool may be there already.
                if !(e.is_ambiguous() && fetch(ctx, &poolid).await?.is_some()) {
                    return Err(api_failure("Creating the pool", e).into());
                }
            }
            created(fetch(ctx, &poolid).await, "Pool", &poolid, planned)
        })
    }

    fn read<'a>(&'a self, ctx: &'a Context, state: Value) -> BoxFuture<'a, Result<Option<Value>, Diagnostics>> {
        Box::pin(async move { fetch(ctx, state.get(names::POOL_ID).as_str().unwrap_or_default()).await })
    }

    fn update<'a>(&'a self, ctx: &'a Context, prior: Value, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let poolid = prior.get(names::POOL_ID).as_str().unwrap_or_default().to_string();
            let comment = planned.get(names::COMMENT).as_str().unwrap_or_default();
            ctx.client
                .update_pool(&poolid, &pve_api::Params::new().set("comment", comment))
                .await
                .map_err(|e| api_failure("Updating the pool", e))?;
            fetch(ctx, &poolid).await?.ok_or_else(|| vanished("Pool", &poolid))
        })
    }

    fn delete<'a>(&'a self, ctx: &'a Context, prior: Value) -> BoxFuture<'a, Result<(), Diagnostics>> {
        Box::pin(async move {
            let poolid = prior.get(names::POOL_ID).as_str().unwrap_or_default();
            match ctx.client.delete_pool(poolid).await {
                Ok(()) => Ok(()),
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) if e.is_not_empty() => Err(Diagnostic::error(
                    "Pool is not empty",
                    format!(
                        "{e}. PVE deletes only empty pools and the provider removes no members: destroy or move the guests \
                         (their pool attribute) and storages first; guests whose pool references this pve_pool are handled \
                         first by Terraform"
                    ),
                )
                .into()),
                Err(e) => Err(api_failure("Deleting the pool", e)),
            }
        })
    }

    fn import<'a>(&'a self, ctx: &'a Context, id: String) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move { fetch(ctx, &id).await?.ok_or_else(|| Diagnostic::error("Pool not found", format!("no pool '{id}'")).into()) })
    }
}
