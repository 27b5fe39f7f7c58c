//! `resource "pve_group"`: a group of users (`/access/groups`), to grant roles to many users with
//! one `pve_acl`. Members are set on each `pve_user` (`groups`), as PVE stores them.
//!
//! Plan rules: `group_id` replaces the group; `comment` updates in place.
//! Import with `terraform import pve_group.NAME GROUP_ID`.

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

pub struct PveGroup;

impl Resource<Context> for PveGroup {
    fn type_name(&self) -> &'static str {
        "pve_group"
    }

    fn schema(&self) -> Block {
        schema::schema()
    }

    fn create<'a>(&'a self, ctx: &'a Context, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, CreateError>> {
        Box::pin(async move {
            let groupid = planned.get(names::GROUP_ID).as_str().unwrap_or_default().to_string();
            let comment = planned.get(names::COMMENT).as_str();
            if let Err(e) = ctx.client.access().create_group(&groupid, comment).await {
                // A lost answer: the group may be there already.
                if !(e.is_ambiguous() && fetch(ctx, &groupid).await?.is_some()) {
                    return Err(api_failure("Creating the group", e).into());
                }
            }
            created(fetch(ctx, &groupid).await, "Group", &groupid, planned)
        })
    }

    fn read<'a>(&'a self, ctx: &'a Context, state: Value) -> BoxFuture<'a, Result<Option<Value>, Diagnostics>> {
        Box::pin(async move { fetch(ctx, state.get(names::GROUP_ID).as_str().unwrap_or_default()).await })
    }

    fn update<'a>(&'a self, ctx: &'a Context, prior: Value, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let groupid = prior.get(names::GROUP_ID).as_str().unwrap_or_default().to_string();
            let comment = planned.get(names::COMMENT).as_str().unwrap_or_default();
            ctx.client.access().set_group_comment(&groupid, comment).await.map_err(|e| api_failure("Updating the group", e))?;
            fetch(ctx, &groupid).await?.ok_or_else(|| vanished("Group", &groupid))
        })
    }

    fn delete<'a>(&'a self, ctx: &'a Context, prior: Value) -> BoxFuture<'a, Result<(), Diagnostics>> {
        Box::pin(async move {
            let groupid = prior.get(names::GROUP_ID).as_str().unwrap_or_default();
            match ctx.client.access().delete_group(groupid).await {
                Ok(()) => Ok(()),
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err(api_failure("Deleting the group", e)),
            }
        })
    }

    fn import<'a>(&'a self, ctx: &'a Context, id: String) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(
            async move { fetch(ctx, &id).await?.ok_or_else(|| Diagnostic::error("Group not found", format!("no group '{id}'")).into()) },
        )
    }
}
