//! What `pve_role` asks PVE.

use super::model::state_from;
use crate::plugin::diag::{Diagnostics, api_failure};
use crate::plugin::value::Value;
use crate::provider::Context;

/// The role as PVE has it, or None if it is gone. Read from the listing, which carries the
/// privileges as one list and the built-in flag.
pub(super) async fn fetch(ctx: &Context, roleid: &str) -> Result<Option<Value>, Diagnostics> {
    let roles = ctx.client.access().roles().await.map_err(|e| api_failure("Listing roles", e))?;
    Ok(roles.iter().find(|r| r.roleid == roleid).map(state_from))
}
