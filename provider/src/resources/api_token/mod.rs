//! `resource "pve_api_token"`: an API token of a user (`/access/users/{userid}/token/{tokenid}`).
//!
//! PVE returns the secret once, in the answer to the create (pve-access-control `API2/User.pm`
//! `generate_token`). Where it goes is the user's choice, documented in docs/security.md:
//! - `secret_file`: the provider writes `USER@REALM!NAME=SECRET` there, mode 0600, through a
//!   temporary file in the same directory and a rename; `secret` stays null, so neither state nor
//!   plan ever holds it. Changing the path moves the file (setting it later writes the secret
//!   from state there and drops it from state); destroying the token removes the file if it
//!   still holds this token.
//! - otherwise `secret` keeps it in state, sensitive: the only way every supported Terraform can
//!   hand it to another resource.
//!
//! The secret is never logged: pve-api reads it straight into a `Secret`, which prints as `***`.
//! Plan rules: `user_id`, `token_name` and `privilege_separation` replace the token; `comment`
//! and `expire` update in place. Refused at plan time: a `secret_file` whose directory does not
//! exist. A create whose answer is lost leaves a token whose secret nobody has: it is kept in
//! state, tainted, so the next apply replaces it.
//! Import with `terraform import pve_api_token.NAME USER@REALM!NAME`.

use futures::future::BoxFuture;

use crate::plugin::diag::{Diagnostic, Diagnostics, api_failure, attr};
use crate::plugin::resource::{CreateError, Resource};
use crate::plugin::schema::Block;
use crate::plugin::value::Value;
use crate::provider::Context;
use crate::resources::access::{self, vanished};

mod model;
mod schema;
mod steps;
use model::*;
use schema::names;
use steps::*;

pub struct PveApiToken;

fn ids(value: &Value) -> (String, String) {
    let text = |name: &str| value.get(name).as_str().unwrap_or_default().to_string();
    (text(names::USER_ID), text(names::TOKEN_NAME))
}

/// A new `secret_file` for a token whose secret nobody has any more (imported, or its file gone).
fn secret_unavailable(path: &str, before: Option<&str>) -> Diagnostic {
    Diagnostic::error(
        "The secret is not available",
        format!(
            "PVE shows a token's secret only at creation, and neither state nor {} holds it: replace the token \
             (terraform apply -replace=ADDRESS) to write a new secret to {path}",
            before.unwrap_or("a previous secret_file")
        ),
    )
    .at(attr(names::SECRET_FILE))
}

fn with(state: Value, name: &str, value: Value) -> Value {
    let Value::Map(mut map) = state else { return state };
    map.insert(name.to_string(), value);
    Value::Map(map)
}

impl Resource<Context> for PveApiToken {
    fn type_name(&self) -> &'static str {
        "pve_api_token"
    }

    fn schema(&self) -> Block {
        schema::schema()
    }

    fn modify_plan<'a>(
        &'a self,
        _ctx: Option<&'a Context>,
        prior: &'a Value,
        _config: &'a Value,
        planned: &'a mut Value,
        _replace: &'a mut Vec<crate::plugin::diag::Path>,
    ) -> BoxFuture<'a, Diagnostics> {
        Box::pin(async move {
            let mut diags = Diagnostics::default();
            let file = planned.get(names::SECRET_FILE).clone();
            let creating = prior.is_null() || planned.get(names::TOKEN_ID).is_unknown();
            if let Some(path) = file.as_str()
                && prior.get(names::SECRET_FILE).as_str() != Some(path)
            {
                if let Some(problem) = secret_file_problem(path) {
                    diags.push(Diagnostic::error("Invalid secret_file", problem).at(attr(names::SECRET_FILE)));
                } else if !creating && known_secret(prior, prior.get(names::TOKEN_ID).as_str().unwrap_or_default()).is_none() {
                    diags.push(secret_unavailable(path, prior.get(names::SECRET_FILE).as_str()));
                }
            }
            if creating && let (Some(userid), Some(name)) = (planned.get(names::USER_ID).as_str(), planned.get(names::TOKEN_NAME).as_str())
            {
                let id = full_id(userid, name);
                *planned = with(std::mem::take(planned), names::TOKEN_ID, id.into());
            }
            // With a file the secret never enters state; without, it is known after creation.
            let secret = if file.is_set() {
                Value::Null
            } else if creating || file.is_unknown() {
                Value::Unknown
            } else {
                prior.get(names::SECRET).clone()
            };
            *planned = with(std::mem::take(planned), names::SECRET, secret);
            diags
        })
    }

    fn create<'a>(&'a self, ctx: &'a Context, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, CreateError>> {
        Box::pin(async move {
            let (userid, name) = ids(&planned);
            let token_id = full_id(&userid, &name);
            let created = match ctx.client.access().create_token(&userid, &name, &params(&planned, &Value::Null)).await {
                Ok(created) => created,
                Err(e) => {
                    // A lost answer may have made a token whose secret nobody has: keep it, tainted.
                    let partial = if e.is_ambiguous() {
                        fetch(ctx, &userid, &name, &with(planned.clone(), names::SECRET, Value::Null)).await?
                    } else {
                        None
                    };
                    return Err(CreateError { partial, diagnostics: api_failure("Creating the API token", e) });
                }
            };
            // The secret first: it exists only in this answer.
            let secret = match planned.get(names::SECRET_FILE).as_str().map(str::to_string) {
                Some(path) => {
                    if let Err(e) = write_secret_file(&path, &created.full_tokenid, &created.value) {
                        // Lost with the answer: the token stays in state, tainted, and is replaced.
                        let partial = with(planned, names::SECRET, Value::Null);
                        return Err(CreateError { partial: Some(partial), diagnostics: file_error(&path, e) });
                    }
                    Value::Null
                }
                None => created.value.expose().into(),
            };
            let planned = with(planned, names::SECRET, secret);
            access::created(fetch(ctx, &userid, &name, &planned).await, "API token", &token_id, planned)
        })
    }

    fn read<'a>(&'a self, ctx: &'a Context, state: Value) -> BoxFuture<'a, Result<Option<Value>, Diagnostics>> {
        Box::pin(async move {
            let (userid, name) = ids(&state);
            fetch(ctx, &userid, &name, &state).await
        })
    }

    fn update<'a>(&'a self, ctx: &'a Context, prior: Value, planned: Value, _config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let (userid, name) = ids(&prior);
            let token_id = full_id(&userid, &name);
            let params = params(&planned, &prior);
            if !params.is_empty() {
                ctx.client.access().update_token(&userid, &name, &params).await.map_err(|e| api_failure("Updating the API token", e))?;
            }
            let (before, after) = (prior.get(names::SECRET_FILE).as_str(), planned.get(names::SECRET_FILE).as_str());
            if let Some(path) = after
                && before != Some(path)
            {
                let Some(secret) = known_secret(&prior, &token_id) else { return Err(secret_unavailable(path, before).into()) };
                write_secret_file(path, &token_id, &secret).map_err(|e| file_error(path, e))?;
                // The old file goes only if it still holds this token and is not the new one
                // under another name (`tok` and `./tok`).
                if let Some(old) = before
                    && read_secret_file(old, &token_id).is_some()
                    && !same_file(old, path)
                {
                    let _ = std::fs::remove_file(old);
                }
            }
            fetch(ctx, &userid, &name, &planned).await?.ok_or_else(|| vanished("API token", &token_id))
        })
    }

    fn delete<'a>(&'a self, ctx: &'a Context, prior: Value) -> BoxFuture<'a, Result<(), Diagnostics>> {
        Box::pin(async move {
            let (userid, name) = ids(&prior);
            match ctx.client.access().delete_token(&userid, &name).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(api_failure("Deleting the API token", e)),
            }
            // The file of a token that no longer exists; left alone if it holds something else now.
            if let Some(path) = prior.get(names::SECRET_FILE).as_str()
                && read_secret_file(path, &full_id(&userid, &name)).is_some()
            {
                let _ = std::fs::remove_file(path);
            }
            Ok(())
        })
    }

    fn import<'a>(&'a self, ctx: &'a Context, id: String) -> BoxFuture<'a, Result<Value, Diagnostics>> {
        Box::pin(async move {
            let Some((userid, name)) = split_id(&id) else {
                return Err(Diagnostic::error("Invalid import ID", format!("'{id}' is not USER@REALM!NAME, e.g. ci@pve!deploy")).into());
            };
            fetch(ctx, userid, name, &Value::Null)
                .await?
                .ok_or_else(|| Diagnostic::error("API token not found", format!("no token '{id}'")).into())
        })
    }
}

/// Whether two paths name one file (same device and inode).
fn same_file(a: &str, b: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}
