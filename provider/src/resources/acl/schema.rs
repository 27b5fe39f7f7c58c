//! The `pve_acl` schema (docs/resources/acl.md is generated from it).

use super::model::path_problem;
use crate::plugin::schema::{Attribute, Block, Validator};
use crate::plugin::value::Type;
use crate::resources::access;

pub(super) mod names {
    pub(crate) const ID: &str = "id";
    pub(crate) const PATH: &str = "path";
    pub(crate) const ROLE_ID: &str = "role_id";
    pub(crate) const USER_ID: &str = "user_id";
    pub(crate) const GROUP_ID: &str = "group_id";
    pub(crate) const TOKEN_ID: &str = "token_id";
    pub(crate) const PROPAGATE: &str = "propagate";
}

/// The attributes naming who gets the role: exactly one is set.
pub(super) const SUBJECTS: [&str; 3] = [names::USER_ID, names::GROUP_ID, names::TOKEN_ID];

pub(super) fn schema() -> Block {
    Block::new(
        "One ACL entry: a role granted on a path to one user, group or API token. Any change replaces the entry. \
         Import with `terraform import pve_acl.NAME 'PATH|ROLE|SUBJECT'` (SUBJECT a user, group or token ID), e.g. \
         `'/vms/100|PVEVMUser|alice@pve'`.",
        vec![
            Attribute::computed(names::ID, Type::String, "`PATH|ROLE|SUBJECT`.").use_state_for_unknown(),
            Attribute::required(names::PATH, Type::String, "Where the role applies: `/`, `/vms/100`, `/storage/local`, `/pool/lab`, `/nodes/pve1`, `/sdn/zones/…`, `/access/groups/…`, `/mapping/…`.")
                .validate(Validator::custom(|v| v.as_str().and_then(path_problem).map_or(Ok(()), Err)))
                .requires_replace(),
            Attribute::required(names::ROLE_ID, Type::String, "Role to grant: built-in (`PVEVMUser`) or a `pve_role`.")
                .validate(access::role_id())
                .requires_replace(),
            Attribute::optional(names::USER_ID, Type::String, "Grant to this user (`name@realm`).")
                .validate(access::user_id())
                .requires_replace(),
            Attribute::optional(names::GROUP_ID, Type::String, "Grant to this group.").validate(access::group_id()).requires_replace(),
            Attribute::optional(
                names::TOKEN_ID,
                Type::String,
                "Grant to this API token (`user@realm!name`); a token with privilege separation has nothing until granted.",
            )
            .validate(access::token_id())
            .requires_replace(),
            Attribute::optional_computed(names::PROPAGATE, Type::Bool, "Inherited by the paths below. Default true.")
                .default(true)
                .requires_replace(),
        ],
    )
}
