//! What `pve_acl` asks PVE.

use super::model::{same_grant, state_from};
use crate::plugin::diag::{Diagnostics, api_failure};
use crate::plugin::value::Value;
use crate::provider::Context;

/// The entry as `GET /access/acl` lists it, or None if it is gone.
pub(super) async fn fetch(ctx: &Context, path: &str, roleid: &str, ugid: &str) -> Result<Option<Value>, Diagnostics> {
    let rows = ctx.client.access().acl().await.map_err(|e| api_failure("Listing ACL entries", e))?;
    Ok(rows.iter().find(|row| same_grant(row, path, roleid, ugid)).map(state_from))
}
