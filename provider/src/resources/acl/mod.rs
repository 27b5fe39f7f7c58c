//! `resource "pve_acl"`: one ACL entry (`/access/acl`): `role_id` granted on `path` to exactly
//! one of `user_id`, `group_id` or `token_id`.
//!
//! Plan rules: every attribute replaces the entry (PVE has no entry to update: a grant is added
//! or removed). Refused at plan time: a path PVE does not grant on or not in its normal form
//! (`check_path`, `normalize_path` in pve-access-control `AccessControl.pm`), and none or more
//! than one subject. Read finds the entry in `GET /access/acl`; gone, it leaves the state.
//! Import with `terraform import pve_acl.NAME 'PATH|ROLE|SUBJECT'`.

use futures::future::BoxFuture;

use crate::plugin::diag::{Diagnostic, Diagnostics, api_failure, attr};
use crate::plugin::resource::{CreateError, Resource};
use crate::plugin::schema::Block;
use crate::plugin::value::Value;
use crate::provider::Context;
use crate::resources::access::{created, vanished};

mod model;
mod schema;
mod steps;
use model::*;
use schema::{SUBJECTS, names};
use steps::*;

pub struct PveAcl;

fn grant_of(value: &Value) -> Result<pve_api::AclEntry, Diagnostics> {
    entry_of(value).ok_or_else(|| Diagnostic::error("Incomplete ACL entry", "path, role_id and one subject are needed").into())
}

impl Resource<Context> for PveAcl {
    fn type_name(&self) -> &'static str {
        "pve_acl"
    }

    fn schema(&self) -> Block {
        schema::schema()
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        // Unknown until plan (another resource's output): decided then.
        if SUBJECTS.iter().any(|name| config.get(name).is_unknown()) {
            return diags;
        }
        let set: Vec<&str> = SUBJECTS.into_iter().filter(|name| config.get(name).is_set()).collect();
        match set.as_slice() {
            [_] => {}
            [] => diags.push(Diagnostic::error("No subject", "set exactly one of user_id, group_id or token_id").at(attr(names::USER_ID))),
            [first, second, ..] => diags.push(
                Diagnostic::error(
                    "More than one subject",
                    format!("{first} and {second} cannot be combined: one entry grants to one user, group or token"),
                )
                .at(attr(second)),
            ),
        }
        diags
    }

    fn create<'a>(&'a self, ctx: &'a Context, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, CreateError>> {
        Box::pin(async move {
            let entry = grant_of(&planned)?;
            // Granting twice gives one entry: safe to send again.
            ctx.client.access().set_acl(&entry, false).await.map_err(|e| api_failure("Granting the role", e))?;
            created(fetch(ctx, &entry.path, &entry.roleid, &entry.ugid).await, "ACL entry", &id_of(&entry), planned)
        })
    }

    fn read<'a>(&'a self, ctx: &'a Context, state: Value) -> BoxFuture<'a, Result<Option<Value>, Diagnostics>> {
        Box::pin(async move {
            let entry = grant_of(&state)?;
            fetch(ctx, &entry.path, &entry.roleid, &entry.ugid).await
        })
    }

    fn update<'a>(&'a self, ctx: &'a Context, prior: Value, _planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        // Every attribute replaces the entry; nothing is left to update.
        Box::pin(async move {
            let entry = grant_of(&prior)?;
            fetch(ctx, &entry.path, &entry.roleid, &entry.ugid).await?.ok_or_else(|| vanished("ACL entry", &id_of(&entry)))
        })
    }

    fn delete<'a>(&'a self, ctx: &'a Context, prior: Value) -> BoxFuture<'a, Result<(), Diagnostics>> {
        Box::pin(async move {
            let entry = grant_of(&prior)?;
            match ctx.client.access().set_acl(&entry, true).await {
                Ok(()) => Ok(()),
                // The user, group, token or role is gone, and its entries with it.
                Err(e) if e.is_not_found() && fetch(ctx, &entry.path, &entry.roleid, &entry.ugid).await?.is_none() => Ok(()),
                Err(e) => Err(api_failure("Revoking the role", e)),
            }
        })
    }

    fn import<'a>(&'a self, ctx: &'a Context, id: String) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let Some((path, roleid, ugid)) = parse_id(&id) else {
                return Err(Diagnostic::error(
                    "Invalid import ID",
                    format!("'{id}' is not PATH|ROLE|SUBJECT, e.g. '/vms/100|PVEVMUser|alice@pve'"),
                )
                .into());
            };
            fetch(ctx, &path, &roleid, &ugid)
                .await?
                .ok_or_else(|| Diagnostic::error("ACL entry not found", format!("no entry granting {roleid} on {path} to {ugid}")).into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_subject() {
        let config = |pairs: &[(&str, Value)]| Value::object(pairs.iter().map(|(k, v)| (*k, v.clone())));
        assert!(PveAcl.validate(&config(&[(names::USER_ID, "alice@pve".into())])).0.is_empty());
        let none = PveAcl.validate(&config(&[]));
        assert_eq!(none.0[0].summary, "No subject");
        let two = PveAcl.validate(&config(&[(names::USER_ID, "alice@pve".into()), (names::TOKEN_ID, "alice@pve!ci".into())]));
        assert_eq!((two.0[0].summary.as_str(), two.0[0].path.clone()), ("More than one subject", Some(attr(names::TOKEN_ID))));
        assert!(PveAcl.validate(&config(&[(names::GROUP_ID, Value::Unknown)])).0.is_empty(), "decided at plan");
    }
}
