//! `pve_user` state from PVE's answer, and the parameters of a create or update.

use pve_api::Params;

use super::names;
use crate::plugin::value::Value;
use crate::resources::access::text;

/// Text attributes and the PVE keys they travel under.
const TEXTS: [(&str, &str); 4] =
    [(names::COMMENT, "comment"), (names::EMAIL, "email"), (names::FIRST_NAME, "firstname"), (names::LAST_NAME, "lastname")];

fn sorted_groups(value: &Value) -> Vec<String> {
    let mut groups: Vec<String> = value.as_list().unwrap_or_default().iter().filter_map(Value::as_str).map(str::to_string).collect();
    groups.sort();
    groups.dedup();
    groups
}

/// What a plan writes (without the password): everything on create, what changed on update. PVE's
/// update stores what it is given (pve-access-control `API2/User.pm` `update_user`), so an
/// emptied text goes as `""`, and `groups` replaces the user's groups.
pub(super) fn params(planned: &Value, prior: &Value) -> Params {
    let creating = prior.is_null();
    let changed = |name: &str| creating || planned.get(name) != prior.get(name);
    let mut params = Params::new();
    for (attribute, key) in TEXTS {
        if changed(attribute) {
            match planned.get(attribute).as_str() {
                Some(text) => params.insert(key, text),
                None if !creating => params.insert(key, ""),
                None => {}
            }
        }
    }
    if changed(names::ENABLED) {
        params.insert("enable", u8::from(planned.get(names::ENABLED).as_bool() != Some(false)));
    }
    if changed(names::EXPIRE) {
        params.insert("expire", planned.get(names::EXPIRE).as_i64().unwrap_or(0));
    }
    if changed(names::GROUPS) && (!creating || planned.get(names::GROUPS).is_set()) {
        params.insert("groups", sorted_groups(planned.get(names::GROUPS)).join(","));
    }
    params
}

/// The user's state; `groups` stays as written where PVE means the same (none, or `[]`).
pub(super) fn state_from(userid: &str, user: &pve_api::User, want: &Value) -> Value {
    let mut groups = user.groups.clone();
    groups.sort();
    let groups = if groups.is_empty() && want.get(names::GROUPS).is_null() {
        Value::Null
    } else {
        Value::List(groups.into_iter().map(Value::from).collect())
    };
    Value::object([
        (names::USER_ID, Value::from(userid)),
        (names::COMMENT, text(&user.comment)),
        (names::EMAIL, text(&user.email)),
        (names::FIRST_NAME, text(&user.firstname)),
        (names::LAST_NAME, text(&user.lastname)),
        (names::ENABLED, (user.enable != Some(false)).into()),
        (names::EXPIRE, user.expire.unwrap_or(0).into()),
        (names::GROUPS, groups),
        // Write-only: PVE never shows it.
        (names::PASSWORD, Value::Null),
        // Ours only: what the configuration last set.
        (names::PASSWORD_VERSION, want.get(names::PASSWORD_VERSION).clone()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_config(pairs: &[(&str, Value)]) -> Value {
        Value::object(pairs.iter().map(|(k, v)| (*k, v.clone())))
    }

    #[test]
    fn create_sends_what_is_set_and_update_what_changed() {
        let planned = user_config(&[
            (names::USER_ID, "alice@pve".into()),
            (names::EMAIL, "alice@example.org".into()),
            (names::ENABLED, true.into()),
            (names::EXPIRE, 0i64.into()),
            (names::GROUPS, Value::List(vec!["ops".into(), "dev".into()])),
        ]);
        let create = params(&planned, &Value::Null);
        assert_eq!(create.get("email"), Some("alice@example.org"));
        assert_eq!(create.get("comment"), None);
        assert_eq!((create.get("enable"), create.get("expire"), create.get("groups")), (Some("1"), Some("0"), Some("dev,ops")));

        let mut next = planned.clone();
        if let Value::Map(m) = &mut next {
            m.insert(names::EMAIL.into(), Value::Null);
            m.insert(names::GROUPS.into(), Value::Null);
        }
        let update = params(&next, &planned);
        assert_eq!(update.get("email"), Some(""), "an emptied text is cleared");
        assert_eq!(update.get("groups"), Some(""), "no groups leaves them all");
        assert_eq!(update.get("enable"), None, "unchanged is not sent");
    }

    #[test]
    fn state_reads_pve_defaults() {
        let user = pve_api::User { comment: Some(String::new()), ..Default::default() };
        let state = state_from("bob@pve", &user, &Value::Null);
        assert_eq!(state.get(names::ENABLED).as_bool(), Some(true));
        assert_eq!(state.get(names::EXPIRE).as_i64(), Some(0));
        assert_eq!(state.get(names::COMMENT), &Value::Null);
        assert_eq!(state.get(names::GROUPS), &Value::Null);
        let empty = state_from("bob@pve", &user, &user_config(&[(names::GROUPS, Value::List(vec![]))]));
        assert_eq!(empty.get(names::GROUPS), &Value::List(vec![]), "groups = [] stays []");
    }
}
