//! The `pve_role` schema (docs/resources/role.md is generated from it).

use super::model::{builtin_problem, privileges_problem};
use crate::plugin::schema::{Attribute, Block, Validator};
use crate::plugin::value::Type;
use crate::resources::access;

pub(super) mod names {
    pub(crate) const ROLE_ID: &str = "role_id";
    pub(crate) const PRIVILEGES: &str = "privileges";
}

pub(super) fn schema() -> Block {
    Block::new(
        "A custom role: a named set of PVE 9 privileges, granted on paths by `pve_acl`. \
         Import with `terraform import pve_role.NAME ROLE_ID`.",
        vec![
            Attribute::required(names::ROLE_ID, Type::String, "Role name; not one of PVE's built-in roles. Changing it replaces the role.")
                .validate(access::role_id())
                .validate(Validator::custom(|v| v.as_str().and_then(builtin_problem).map_or(Ok(()), Err)))
                .requires_replace(),
            Attribute::required(
                names::PRIVILEGES,
                Type::set(Type::String),
                "PVE 9 privileges, e.g. `VM.Audit`, `VM.PowerMgmt`, `Datastore.AllocateSpace` (`VM.Monitor` is gone in PVE 9).",
            )
            .validate(Validator::custom(privileges_problem)),
        ],
    )
}
