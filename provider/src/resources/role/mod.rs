//! `resource "pve_role"`: a custom role, a named set of privileges (`/access/roles`).
//!
//! Plan rules: `role_id` replaces the role; `privileges` updates in place (PVE replaces the whole
//! set). Refused at plan time, on the attribute: a privilege PVE 9 does not know (`VM.Monitor`
//! names its successors), and the name of a built-in role, which PVE keeps read-only
//! (`role_is_special`, pve-access-control `src/PVE/API2/Role.pm` `update_role`/`delete_role`).
//! Import with `terraform import pve_role.NAME ROLE_ID`.

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
use model::*;
use schema::names;
use steps::*;

pub struct PveRole;

impl Resource<Context> for PveRole {
    fn type_name(&self) -> &'static str {
        "pve_role"
    }

    fn schema(&self) -> Block {
        schema::schema()
    }

    fn create<'a>(&'a self, ctx: &'a Context, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, CreateError>> {
        Box::pin(async move {
            let roleid = planned.get(names::ROLE_ID).as_str().unwrap_or_default().to_string();
            let privileges = privileges_of(&planned);
            if let Err(e) = ctx.client.access().create_role(&roleid, &privileges).await {
                // A lost answer: the role may be there already, then set it as planned.
                if !(e.is_ambiguous() && fetch(ctx, &roleid).await?.is_some()) {
                    return Err(api_failure("Creating the role", e).into());
                }
                ctx.client.access().set_role_privileges(&roleid, &privileges).await.map_err(|e| api_failure("Creating the role", e))?;
            }
            created(fetch(ctx, &roleid).await, "Role", &roleid, planned)
        })
    }

    fn read<'a>(&'a self, ctx: &'a Context, state: Value) -> BoxFuture<'a, Result<Option<Value>, Diagnostics>> {
        Box::pin(async move { fetch(ctx, state.get(names::ROLE_ID).as_str().unwrap_or_default()).await })
    }

    fn update<'a>(&'a self, ctx: &'a Context, prior: Value, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let roleid = prior.get(names::ROLE_ID).as_str().unwrap_or_default().to_string();
            ctx.client
                .access()
                .set_role_privileges(&roleid, &privileges_of(&planned))
                .await
                .map_err(|e| api_failure("Updating the role", e))?;
            fetch(ctx, &roleid).await?.ok_or_else(|| vanished("Role", &roleid))
        })
    }

    fn delete<'a>(&'a self, ctx: &'a Context, prior: Value) -> BoxFuture<'a, Result<(), Diagnostics>> {
        Box::pin(async move {
            let roleid = prior.get(names::ROLE_ID).as_str().unwrap_or_default();
            match ctx.client.access().delete_role(roleid).await {
                Ok(()) => Ok(()),
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err(api_failure("Deleting the role", e)),
            }
        })
    }

    fn import<'a>(&'a self, ctx: &'a Context, id: String) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            if let Some(problem) = builtin_problem(&id) {
                return Err(Diagnostic::error("Built-in role", problem).into());
            }
            fetch(ctx, &id).await?.ok_or_else(|| Diagnostic::error("Role not found", format!("no role '{id}'")).into())
        })
    }
}
