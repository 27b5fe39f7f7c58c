//! The `pve_api_token` schema (docs/resources/api_token.md is generated from it).

use crate::plugin::schema::{Attribute, Block, Validator};
use crate::plugin::value::Type;
use crate::resources::access;

pub(super) mod names {
    pub(crate) const USER_ID: &str = "user_id";
    pub(crate) const TOKEN_NAME: &str = "token_name";
    pub(crate) const TOKEN_ID: &str = "token_id";
    pub(crate) const COMMENT: &str = "comment";
    pub(crate) const EXPIRE: &str = "expire";
    pub(crate) const PRIVILEGE_SEPARATION: &str = "privilege_separation";
    pub(crate) const SECRET: &str = "secret";
    pub(crate) const SECRET_FILE: &str = "secret_file";
}

pub(super) fn schema() -> Block {
    Block::new(
        "An API token of a user. PVE shows its secret once, at creation: with `secret_file` the provider writes \
         `USER@REALM!NAME=SECRET` there (mode 0600) and state never holds it; without, `secret` holds it in state \
         (sensitive). Import with `terraform import pve_api_token.NAME USER@REALM!NAME` (the secret is not imported).",
        vec![
            Attribute::required(names::USER_ID, Type::String, "Owner, `name@realm`. Changing it replaces the token.")
                .validate(access::user_id())
                .requires_replace(),
            Attribute::required(names::TOKEN_NAME, Type::String, "Token name, unique per user. Changing it replaces the token.")
                .validate(Validator::regex(access::TOKEN_NAME, "is not a token name (a letter, then letters, digits, ., - or _)"))
                .requires_replace(),
            Attribute::computed(names::TOKEN_ID, Type::String, "`USER@REALM!NAME`, as ACL entries (`pve_acl.token_id`) name it.")
                .use_state_for_unknown(),
            Attribute::optional(names::COMMENT, Type::String, "Description."),
            Attribute::optional_computed(
                names::EXPIRE,
                Type::Number,
                "Expiry as Unix epoch seconds; 0 (default): none of its own (its user's expiry still applies).",
            )
            .validate(Validator::Range(0, i64::MAX))
            .default(0i64),
            Attribute::optional_computed(
                names::PRIVILEGE_SEPARATION,
                Type::Bool,
                "Default true: the token has only what ACL entries grant the token itself (within its user's privileges); \
                 false: all of its user's privileges. Changing it replaces the token.",
            )
            .default(true)
            .requires_replace(),
            Attribute::computed(
                names::SECRET,
                Type::String,
                "The secret, when `secret_file` is unset: kept in state (sensitive), the only way every Terraform version can \
                 pass it on. Null with `secret_file`, and after an import.",
            )
            .sensitive()
            .use_state_for_unknown(),
            Attribute::optional(
                names::SECRET_FILE,
                Type::String,
                "Local file the provider writes `USER@REALM!NAME=SECRET` to at creation (mode 0600, replaced atomically; its \
                 directory must exist), keeping the secret out of state. Changing it moves the file (setting it later writes \
                 the secret from state there); destroying the token removes it.",
            ),
        ],
    )
}
