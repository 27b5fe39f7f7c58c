//! What `pve_user` asks PVE.

use super::model::state_from;
use crate::plugin::diag::{Diagnostics, api_failure};
use crate::plugin::value::Value;
use crate::provider::Context;

/// The user as PVE has it, or None if it is gone; `want` (plan or state) keeps what PVE does not
/// hold (`password_version`) and the form of an empty `groups`.
pub(super) async fn fetch(ctx: &Context, userid: &str, want: &Value) -> Result<Option<Value>, Diagnostics> {
    match ctx.client.access().user(userid).await {
        Ok(user) => Ok(Some(state_from(userid, &user, want))),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(api_failure("Reading the user", e)),
    }
}
