//! `resource "pve_user"`: a user of a realm (`/access/users`).
//!
//! Plan rules: `user_id` replaces the user; everything else updates in place (`groups` replaces
//! the user's groups). `password` is write-only (state holds null; Terraform < 1.11 keeps it as a
//! sensitive value, see plugin/service/write_only.rs): sent at creation, and again when
//! `password_version` changes (or, on Terraform < 1.11, the password itself).
//! Refused at plan time: a `password` for a realm other than `pve` (PVE stores passwords only
//! for its own realm: a `pam` user's is the node's Linux password, LDAP/AD/OpenID ones live
//! there), and a password change through a provider signed in with an API token, which PVE
//! refuses (`PUT /access/password` has `allowtoken: 0`).
//! Import with `terraform import pve_user.NAME USER@REALM`.

use futures::future::BoxFuture;
use pve_api::Secret;

use crate::plugin::diag::{Diagnostic, Diagnostics, api_failure, attr};
use crate::plugin::resource::{CreateError, Resource};
use crate::plugin::schema::Block;
use crate::plugin::value::Value;
use crate::provider::Context;
use crate::resources::access::{created, realm_of, vanished};

mod model;
mod schema;
mod steps;
use model::*;
use schema::names;
use steps::*;

pub struct PveUser;

/// Whether an update sets the password again: a new `password_version`, or (Terraform < 1.11,
/// which plans write-only values like others) a new password.
fn password_changes(prior: &Value, planned: &Value) -> bool {
    planned.get(names::PASSWORD_VERSION) != prior.get(names::PASSWORD_VERSION)
        || (planned.get(names::PASSWORD).is_set() && planned.get(names::PASSWORD) != prior.get(names::PASSWORD))
}

/// A password for a user outside the `pve` realm, which PVE cannot set.
fn password_realm_problem(config: &Value) -> Option<Diagnostic> {
    let userid = config.get(names::USER_ID).as_str()?;
    let realm = realm_of(userid).filter(|r| *r != "pve" && config.get(names::PASSWORD).is_set())?;
    let why = if realm == "pam" {
        "a pam user's password is the Linux password of each node (set it there, e.g. with passwd)".to_string()
    } else {
        format!("realm '{realm}' keeps its own passwords")
    };
    Some(
        Diagnostic::error("Password for a realm other than pve", format!("PVE sets passwords only for pve users: {why}"))
            .at(attr(names::PASSWORD)),
    )
}

impl Resource<Context> for PveUser {
    fn type_name(&self) -> &'static str {
        "pve_user"
    }

    fn schema(&self) -> Block {
        schema::schema()
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        password_realm_problem(config).map(Diagnostics::from).unwrap_or_default()
    }

    fn modify_plan<'a>(
        &'a self,
        ctx: Option<&'a Context>,
        prior: &'a Value,
        config: &'a Value,
        planned: &'a mut Value,
        _replace: &'a mut Vec<crate::plugin::diag::Path>,
    ) -> BoxFuture<'a, Diagnostics> {
        Box::pin(async move {
            let mut diags = Diagnostics::default();
            let updating = !prior.is_null() && planned.get(names::USER_ID) == prior.get(names::USER_ID);
            if updating
                && password_changes(prior, planned)
                && config.get(names::PASSWORD).is_set()
                && ctx.is_some_and(|ctx| ctx.client.authenticates_with_token())
            {
                diags.push(
                    Diagnostic::error(
                        "Password change needs a signed-in user",
                        "PVE does not let API tokens change passwords (PUT /access/password): configure the provider with \
                         username and password for this apply, or replace the user",
                    )
                    .at(attr(names::PASSWORD_VERSION)),
                );
            }
            diags
        })
    }

    fn create<'a>(&'a self, ctx: &'a Context, planned: Value, config: Value) -> BoxFuture<'a, Result<Value, CreateError>> {
        Box::pin(async move {
            let userid = planned.get(names::USER_ID).as_str().unwrap_or_default().to_string();
            let mut params = params(&planned, &Value::Null).set("userid", &userid);
            if let Some(password) = config.get(names::PASSWORD).as_str() {
                params.insert("password", password);
            }
            if let Err(e) = ctx.client.access().create_user(&params).await {
                // A lost answer: the user may be there already (then made by this request).
                if !(e.is_ambiguous() && fetch(ctx, &userid, &planned).await?.is_some()) {
                    return Err(api_failure("Creating the user", e).into());
                }
            }
            created(fetch(ctx, &userid, &planned).await, "User", &userid, planned)
        })
    }

    fn read<'a>(&'a self, ctx: &'a Context, state: Value) -> BoxFuture<'a, Result<Option<Value>, Diagnostics>> {
        Box::pin(async move { fetch(ctx, state.get(names::USER_ID).as_str().unwrap_or_default(), &state).await })
    }

    fn update<'a>(&'a self, ctx: &'a Context, prior: Value, planned: Value, config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let userid = prior.get(names::USER_ID).as_str().unwrap_or_default().to_string();
            let params = params(&planned, &prior);
            if !params.is_empty() {
                ctx.client.access().update_user(&userid, &params).await.map_err(|e| api_failure("Updating the user", e))?;
            }
            if password_changes(&prior, &planned)
                && let Some(password) = config.get(names::PASSWORD).as_str()
            {
                ctx.client
                    .access()
                    .change_password(&userid, &Secret::new(password))
                    .await
                    .map_err(|e| api_failure("Changing the user's password", e))?;
            }
            fetch(ctx, &userid, &planned).await?.ok_or_else(|| vanished("User", &userid))
        })
    }

    fn delete<'a>(&'a self, ctx: &'a Context, prior: Value) -> BoxFuture<'a, Result<(), Diagnostics>> {
        Box::pin(async move {
            let userid = prior.get(names::USER_ID).as_str().unwrap_or_default();
            match ctx.client.access().delete_user(userid).await {
                Ok(()) => Ok(()),
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err(api_failure("Deleting the user", e)),
            }
        })
    }

    fn import<'a>(&'a self, ctx: &'a Context, id: String) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            fetch(ctx, &id, &Value::Null).await?.ok_or_else(|| Diagnostic::error("User not found", format!("no user '{id}'")).into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(userid: &str, password: Option<&str>) -> Value {
        Value::object([(names::USER_ID, userid.into()), (names::PASSWORD, password.into())])
    }

    #[test]
    fn passwords_only_for_the_pve_realm() {
        assert!(PveUser.validate(&config("alice@pve", Some("long enough"))).0.is_empty());
        assert!(PveUser.validate(&config("root@pam", None)).0.is_empty());
        let refused = PveUser.validate(&config("alice@pam", Some("long enough")));
        assert_eq!(refused.0.len(), 1);
        assert_eq!(refused.0[0].path, Some(attr(names::PASSWORD)), "on the attribute");
        assert!(refused.0[0].detail.contains("Linux password"), "{}", refused.0[0].detail);
    }

    #[test]
    fn a_new_version_or_a_new_legacy_password_changes_it() {
        let state = |version: Option<i64>, password: Option<&str>| {
            Value::object([(names::PASSWORD_VERSION, version.into()), (names::PASSWORD, password.into())])
        };
        assert!(!password_changes(&state(Some(1), None), &state(Some(1), None)));
        assert!(password_changes(&state(Some(1), None), &state(Some(2), None)));
        assert!(password_changes(&state(None, Some("old secret")), &state(None, Some("new secret"))));
    }
}
