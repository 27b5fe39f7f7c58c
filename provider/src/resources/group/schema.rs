//! The `pve_group` schema (docs/resources/group.md is generated from it).

use crate::plugin::schema::{Attribute, Block};
use crate::plugin::value::Type;
use crate::resources::access;

pub(super) mod names {
    pub(crate) const GROUP_ID: &str = "group_id";
    pub(crate) const COMMENT: &str = "comment";
}

pub(super) fn schema() -> Block {
    Block::new(
        "A group of users, to grant roles to with `pve_acl`; users join it through `pve_user`'s `groups`. \
         Import with `terraform import pve_group.NAME GROUP_ID`.",
        vec![
            Attribute::required(names::GROUP_ID, Type::String, "Group name. Changing it replaces the group.")
                .validate(access::group_id())
                .requires_replace(),
            Attribute::optional(names::COMMENT, Type::String, "Description."),
        ],
    )
}
