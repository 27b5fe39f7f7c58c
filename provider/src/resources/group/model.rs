//! `pve_group` state from PVE's answer.

use super::names;
use crate::plugin::value::Value;
use crate::resources::access::text;

pub(super) fn state_from(groupid: &str, group: &pve_api::Group) -> Value {
    Value::object([(names::GROUP_ID, groupid.into()), (names::COMMENT, text(&group.comment))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emptied_comment_is_null() {
        let group = pve_api::Group { comment: Some(String::new()), members: vec![] };
        assert_eq!(state_from("ops", &group).get(names::COMMENT), &Value::Null);
        let group = pve_api::Group { comment: Some("operators".into()), members: vec![] };
        assert_eq!(state_from("ops", &group).get(names::COMMENT).as_str(), Some("operators"));
    }
}
