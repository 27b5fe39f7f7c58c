//! What `pve_group` asks PVE.

use super::model::state_from;
use crate::plugin::diag::{Diagnostics, api_failure};
use crate::plugin::value::Value;
use crate::provider::Context;

/// The group as PVE has it, or None if it is gone.
pub(super) async fn fetch(ctx: &Context, groupid: &str) -> Result<Option<Value>, Diagnostics> {
    match ctx.client.access().group(groupid).await {
        Ok(group) => Ok(Some(state_from(groupid, &group))),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(api_failure("Reading the group", e)),
    }
}
