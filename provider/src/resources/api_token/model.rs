//! `pve_api_token` state from PVE's answer, and the parameters of a create or update.

use pve_api::Params;

use super::names;
use crate::plugin::value::Value;
use crate::resources::access::text;

/// `user@realm!name`, PVE's full token ID.
pub(super) fn full_id(userid: &str, name: &str) -> String {
    format!("{userid}!{name}")
}

/// An import ID `user@realm!name` as its parts.
pub(super) fn split_id(id: &str) -> Option<(&str, &str)> {
    id.rsplit_once('!').filter(|(user, name)| user.contains('@') && !name.is_empty())
}

/// Everything on create; on update what changed, an emptied comment through `delete`.
pub(super) fn params(planned: &Value, prior: &Value) -> Params {
    let creating = prior.is_null();
    let changed = |name: &str| creating || planned.get(name) != prior.get(name);
    let mut params = Params::new();
    if changed(names::COMMENT) {
        match planned.get(names::COMMENT).as_str() {
            Some(comment) => params.insert("comment", comment),
            None if !creating => params.insert("delete", "comment"),
            None => {}
        }
    }
    if changed(names::EXPIRE) {
        params.insert("expire", planned.get(names::EXPIRE).as_i64().unwrap_or(0));
    }
    if creating {
        params.insert("privsep", u8::from(planned.get(names::PRIVILEGE_SEPARATION).as_bool() != Some(false)));
    }
    params
}

/// The token's state; `secret` and `secret_file` are ours, kept from `want` (plan or state).
pub(super) fn state_from(userid: &str, name: &str, token: &pve_api::Token, want: &Value) -> Value {
    Value::object([
        (names::USER_ID, userid.into()),
        (names::TOKEN_NAME, name.into()),
        (names::TOKEN_ID, full_id(userid, name).into()),
        (names::COMMENT, text(&token.comment)),
        (names::EXPIRE, token.expire.unwrap_or(0).into()),
        (names::PRIVILEGE_SEPARATION, (token.privsep != Some(false)).into()),
        (names::SECRET, if want.get(names::SECRET).is_unknown() { Value::Null } else { want.get(names::SECRET).clone() }),
        (names::SECRET_FILE, want.get(names::SECRET_FILE).clone()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_at_the_last_bang() {
        assert_eq!(split_id("ci@pve!deploy"), Some(("ci@pve", "deploy")));
        assert_eq!(split_id("ci@pve"), None);
        assert_eq!(split_id("deploy!x"), None, "no realm");
        assert_eq!(full_id("ci@pve", "deploy"), "ci@pve!deploy");
    }

    #[test]
    fn create_sends_privsep_and_update_clears_the_comment() {
        let planned =
            Value::object([(names::COMMENT, "ci".into()), (names::EXPIRE, 0i64.into()), (names::PRIVILEGE_SEPARATION, true.into())]);
        let create = params(&planned, &Value::Null);
        assert_eq!((create.get("comment"), create.get("expire"), create.get("privsep")), (Some("ci"), Some("0"), Some("1")));
        let cleared =
            Value::object([(names::COMMENT, Value::Null), (names::EXPIRE, 0i64.into()), (names::PRIVILEGE_SEPARATION, true.into())]);
        let update = params(&cleared, &planned);
        assert_eq!((update.get("delete"), update.get("expire"), update.get("privsep")), (Some("comment"), None, None));
    }

    #[test]
    fn the_secret_comes_from_the_plan_not_from_pve() {
        let want = Value::object([(names::SECRET, Value::Unknown), (names::SECRET_FILE, "/tmp/t".into())]);
        let state = state_from("ci@pve", "deploy", &pve_api::Token::default(), &want);
        assert_eq!(state.get(names::SECRET), &Value::Null);
        assert_eq!(state.get(names::PRIVILEGE_SEPARATION).as_bool(), Some(true));
        assert_eq!(state.get(names::TOKEN_ID).as_str(), Some("ci@pve!deploy"));
    }
}
