//! What `pve_pool` asks PVE.

use super::model::state_from;
use crate::plugin::diag::{Diagnostics, api_failure};
use crate::plugin::value::Value;
use crate::provider::Context;

/// The pool as PVE has it, or None if it is gone.
pub(super) async fn fetch(ctx: &Context, poolid: &str) -> Result<Option<Value>, Diagnostics> {
    match ctx.client.read_pool(poolid).await {
        Ok(pool) => Ok(Some(state_from(&pool))),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(api_failure("Reading the pool", e)),
    }
}
