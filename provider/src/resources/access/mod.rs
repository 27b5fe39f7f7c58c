//! What the access-control resources (`pve_role`, `pve_user`, `pve_group`, `pve_acl`,
//! `pve_api_token`) and `pve_pool` share: PVE's ID formats as plan-time validators, and the
//! mapping of PVE's optional text fields to state.
//!
//! The formats are pve-access-control's: `verify_username` and the regexes of
//! `src/PVE/Auth/Plugin.pm` (`user_regex`, `realm_regex`, `groupname_regex`), `verify_rolename`,
//! `verify_poolname` and `$token_subid_regex` in `src/PVE/AccessControl.pm`, plus the leading
//! letter pve-manager's `PVE/API2/Pool.pm` (`create_pool`) asks of a pool name.

use crate::plugin::diag::{Diagnostic, Diagnostics};
use crate::plugin::resource::CreateError;
use crate::plugin::schema::Validator;
use crate::plugin::value::Value;

/// A user or realm part: no whitespace, `:` or `/`; a realm starts with a letter.
const USER_ID: &str = r"[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+";
/// A token's own name (`$token_subid_regex` is the realm regex).
pub const TOKEN_NAME: &str = r"[A-Za-z][A-Za-z0-9.\-_]+";

/// `name@realm`, 3 to 64 characters.
pub fn user_id() -> Validator {
    let format = Validator::regex(USER_ID, "is not a user ID like alice@pve (name@realm)");
    Validator::custom(move |value| {
        let Some(text) = value.as_str() else { return Ok(()) };
        if !(3..=64).contains(&text.len()) {
            return Err(format!("\"{text}\" must be 3 to 64 characters long"));
        }
        format.check(value)
    })
}

/// The realm of a user ID (`pve` in `alice@pve`).
pub fn realm_of(userid: &str) -> Option<&str> {
    userid.rsplit_once('@').map(|(_, realm)| realm)
}

/// `user@realm!name`.
pub fn token_id() -> Validator {
    let user = user_id();
    let name = Validator::regex(TOKEN_NAME, "is not a token name (a letter, then letters, digits, ., - or _)");
    Validator::custom(move |value| {
        let Some(text) = value.as_str() else { return Ok(()) };
        let Some((userid, token)) = text.split_once('!') else {
            return Err(format!("\"{text}\" is not a token ID like alice@pve!automation (user@realm!name)"));
        };
        user.check(&Value::from(userid))?;
        name.check(&Value::from(token))
    })
}

pub fn group_id() -> Validator {
    Validator::regex(r"[A-Za-z0-9.\-_]+", "is not a group ID (letters, digits, ., - or _)")
}

pub fn role_id() -> Validator {
    Validator::regex(r"[A-Za-z0-9.\-_]+", "is not a role ID (letters, digits, ., - or _)")
}

/// Up to three levels (`a/b/c`), each of letters, digits, `.`, `-` or `_`, starting with a letter.
pub fn pool_id() -> Validator {
    Validator::regex(
        r"[A-Za-z][A-Za-z0-9.\-_]*(?:/[A-Za-z][A-Za-z0-9.\-_]*){0,2}",
        "is not a pool ID (up to three levels a/b/c, each a letter, then letters, digits, ., - or _)",
    )
}

/// PVE keeps an emptied text field as `""`; state says null, as the configuration does.
pub fn text(value: &Option<String>) -> Value {
    value.as_deref().filter(|s| !s.is_empty()).map(Value::from).unwrap_or(Value::Null)
}

/// The error for an object that was just written and cannot be read back.
pub fn vanished(what: &str, id: &str) -> Diagnostics {
    Diagnostic::error(format!("{what} vanished"), format!("{what} '{id}' was written but PVE no longer has it")).into()
}

/// The state of an object just created, from the read that follows. If that read fails, the plan
/// goes into state instead (unknowns as null; Terraform marks it tainted), so the object is
/// never left behind without Terraform knowing it.
pub fn created(read: Result<Option<Value>, Diagnostics>, what: &str, id: &str, planned: Value) -> Result<Value, CreateError> {
    match read {
        Ok(Some(state)) => Ok(state),
        Ok(None) => Err(vanished(what, id).into()),
        Err(diagnostics) => {
            let partial = match planned {
                Value::Map(attributes) => {
                    Value::Map(attributes.into_iter().map(|(k, v)| (k, if v.is_unknown() { Value::Null } else { v })).collect())
                }
                other => other,
            };
            Err(CreateError { partial: Some(partial), diagnostics })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_pve_formats() {
        let ok = |v: &Validator, s: &str| v.check(&Value::from(s)).is_ok();
        assert!(ok(&user_id(), "alice@pve") && ok(&user_id(), "john@example.com@ldap"));
        assert!(!ok(&user_id(), "alice") && !ok(&user_id(), "al:ice@pve") && !ok(&user_id(), "a@1realm"));
        assert!(ok(&token_id(), "ci@pve!deploy") && !ok(&token_id(), "ci@pve") && !ok(&token_id(), "ci@pve!1x"));
        assert!(ok(&pool_id(), "lab/web/db") && !ok(&pool_id(), "a/b/c/d") && !ok(&pool_id(), "1lab"));
        assert!(ok(&group_id(), "ops-team") && !ok(&group_id(), "ops team"));
        assert_eq!(realm_of("john@example.com@ldap"), Some("ldap"));
    }

    #[test]
    fn a_failed_read_after_a_create_keeps_the_plan() {
        let planned = Value::object([("id", Value::Unknown), ("name", "x".into())]);
        let failed = created(Err(Diagnostic::error("read failed", "timeout").into()), "Thing", "x", planned).err().unwrap();
        assert_eq!(failed.partial, Some(Value::object([("id", Value::Null), ("name", "x".into())])));
        assert!(created(Ok(None), "Thing", "x", Value::Null).err().unwrap().partial.is_none(), "gone: nothing to keep");
    }
}
