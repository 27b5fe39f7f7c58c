//! The `pve_pool` schema (docs/resources/pool.md is generated from it).

use crate::plugin::schema::{Attribute, Block};
use crate::plugin::value::Type;
use crate::resources::access;

pub(super) mod names {
    pub(crate) const POOL_ID: &str = "pool_id";
    pub(crate) const COMMENT: &str = "comment";
}

pub(super) fn schema() -> Block {
    Block::new(
        "A resource pool: guests join it with `pool` on `pve_vm` or `pve_lxc`, and roles granted on `/pool/POOL_ID` apply \
         to its members. Destroying a pool that still has members fails with PVE's message. \
         Import with `terraform import pve_pool.NAME POOL_ID`.",
        vec![
            Attribute::required(names::POOL_ID, Type::String, "Pool name (up to three levels, `a/b/c`). Changing it replaces the pool.")
                .validate(access::pool_id())
                .requires_replace(),
            Attribute::optional(names::COMMENT, Type::String, "Description."),
        ],
    )
}
