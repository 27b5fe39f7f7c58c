//! The `pve_user` schema (docs/resources/user.md is generated from it).

use crate::plugin::schema::{Attribute, Block, Validator};
use crate::plugin::value::Type;
use crate::resources::access;

pub(super) mod names {
    pub(crate) const USER_ID: &str = "user_id";
    pub(crate) const COMMENT: &str = "comment";
    pub(crate) const EMAIL: &str = "email";
    pub(crate) const FIRST_NAME: &str = "first_name";
    pub(crate) const LAST_NAME: &str = "last_name";
    pub(crate) const ENABLED: &str = "enabled";
    pub(crate) const EXPIRE: &str = "expire";
    pub(crate) const GROUPS: &str = "groups";
    pub(crate) const PASSWORD: &str = "password";
    pub(crate) const PASSWORD_VERSION: &str = "password_version";
}

fn max_length(limit: usize) -> Validator {
    Validator::custom(move |v| match v.as_str() {
        Some(text) if text.len() > limit => Err(format!("may be at most {limit} characters")),
        _ => Ok(()),
    })
}

pub(super) fn schema() -> Block {
    Block::new(
        "A user of a realm (`pve`, `pam`, LDAP, AD or OpenID). Only `pve` users get their password from PVE, so only \
         they take `password`. Import with `terraform import pve_user.NAME USER@REALM`.",
        vec![
            Attribute::required(names::USER_ID, Type::String, "`name@realm`, e.g. `alice@pve`. Changing it replaces the user.")
                .validate(access::user_id())
                .requires_replace(),
            Attribute::optional(names::COMMENT, Type::String, "Description.").validate(max_length(2048)),
            Attribute::optional(names::EMAIL, Type::String, "E-mail address.")
                // pve-common `PVE/ParseUtils.pm` `EMAIL_RE`, which the `email-opt` format checks.
                .validate(Validator::regex(
                    r"[\w+\-~]+(\.[\w+\-~]+)*@[a-zA-Z0-9\-]+(\.[a-zA-Z0-9\-]+)*",
                    "is not an e-mail address PVE accepts",
                ))
                .validate(max_length(254)),
            Attribute::optional(names::FIRST_NAME, Type::String, "First name.").validate(max_length(1024)),
            Attribute::optional(names::LAST_NAME, Type::String, "Last name.").validate(max_length(1024)),
            Attribute::optional_computed(names::ENABLED, Type::Bool, "Whether the user may sign in. Default true.").default(true),
            Attribute::optional_computed(names::EXPIRE, Type::Number, "Account expiry as Unix epoch seconds; 0 (default) is never.")
                .validate(Validator::Range(0, i64::MAX))
                .default(0i64),
            Attribute::optional(names::GROUPS, Type::set(Type::String), "Groups the user belongs to (`pve_group`).").validate({
                let group_id = access::group_id();
                Validator::custom(move |v| v.as_list().unwrap_or_default().iter().try_for_each(|g| group_id.check(g)))
            }),
            Attribute::optional(
                names::PASSWORD,
                Type::String,
                "Password of a `pve` realm user (8 to 64 characters, as PVE's schema asks). Write-only: never stored in state (Terraform 1.11 and \
                 later; older ones keep it in state as a sensitive value). Set at creation; change `password_version` to set it again.",
            )
            .sensitive()
            .write_only()
            .validate(Validator::custom(|v| match v.as_str() {
                Some(p) if !(8..=64).contains(&p.chars().count()) => Err("must be 8 to 64 characters long".into()),
                _ => Ok(()),
            })),
            Attribute::optional(
                names::PASSWORD_VERSION,
                Type::Number,
                "Change it to set `password` again (PVE accepts password changes only from a provider signed in with \
                 username and password, not with an API token).",
            ),
        ],
    )
}
