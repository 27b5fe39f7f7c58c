//! `pve_acl`: the entry a configuration means, its composite ID, and its state.

use pve_api::{AclEntry, AclSubject};

use super::names;
use crate::plugin::value::Value;

/// The paths PVE accepts ACL entries on (pve-access-control `src/PVE/AccessControl.pm`
/// `check_path`), as regexes of the whole path.
const ACL_PATHS: &[&str] = &[
    r"/",
    r"/access(/groups(/[[:alnum:]._\-]+)?|/realm(/[[:alnum:]._\-]+)?)?",
    r"/nodes(/[[:alnum:]._\-]+)?",
    r"/pool(/[A-Za-z0-9._\-]+(/[A-Za-z0-9._\-]+){0,2})?",
    r"/sdn(/controllers(/[[:alnum:]_\-]+)?|/(dns|fabrics|ipams|prefix-lists|route-maps)(/[[:alnum:]]+)?)?",
    r"/sdn/zones(/[[:alnum:]._\-]+(/[[:alnum:]._\-]+(/[1-9][0-9]{0,3})?)?)?",
    r"/storage(/[[:alnum:]._\-]+)?",
    r"/vms(/[1-9][0-9]{2,})?",
    r"/mapping(/[[:alnum:]._\-]+(/[[:alnum:]._\-]+)?)?",
];

/// Why PVE would refuse `path`. PVE normalises a path before checking it (`normalize_path`:
/// one `/` between parts, none at the end); the state compares it as written, so only the
/// normal form is taken.
pub(super) fn path_problem(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return Some(format!("\"{path}\" must start with / (e.g. /vms/100)"));
    }
    if path.contains("//") || (path.len() > 1 && path.ends_with('/')) {
        return Some(format!("\"{path}\" is not in PVE's form: one / between parts and none at the end"));
    }
    static PATHS: std::sync::LazyLock<regex::RegexSet> = std::sync::LazyLock::new(|| {
        regex::RegexSet::new(ACL_PATHS.iter().map(|pattern| format!("^(?:{pattern})$"))).expect("ACL path patterns are valid")
    });
    let known = PATHS.is_match(path);
    (!known).then(|| {
        format!("\"{path}\" is not a path PVE grants on: /, /vms/VMID, /storage/ID, /pool/ID, /nodes/NAME, /sdn/…, /access/…, /mapping/…")
    })
}

/// The subject's kind, from the ID's form: a token has `!`, a user `@`, a group neither.
pub(super) fn subject_of(ugid: &str) -> AclSubject {
    if ugid.contains('!') {
        AclSubject::Token
    } else if ugid.contains('@') {
        AclSubject::User
    } else {
        AclSubject::Group
    }
}

fn subject_attribute(subject: AclSubject) -> &'static str {
    match subject {
        AclSubject::User => names::USER_ID,
        AclSubject::Group => names::GROUP_ID,
        AclSubject::Token => names::TOKEN_ID,
    }
}

/// The entry a plan or state stands for.
pub(super) fn entry_of(value: &Value) -> Option<AclEntry> {
    let ugid = super::schema::SUBJECTS.iter().find_map(|name| value.get(name).as_str())?;
    Some(AclEntry {
        path: value.get(names::PATH).as_str()?.to_string(),
        roleid: value.get(names::ROLE_ID).as_str()?.to_string(),
        subject: subject_of(ugid),
        ugid: ugid.to_string(),
        propagate: Some(value.get(names::PROPAGATE).as_bool() != Some(false)),
    })
}

pub(super) fn id_of(entry: &AclEntry) -> String {
    format!("{}|{}|{}", entry.path, entry.roleid, entry.ugid)
}

/// An import ID `PATH|ROLE|SUBJECT` as the entry to look for.
pub(super) fn parse_id(id: &str) -> Option<(String, String, String)> {
    let mut parts = id.splitn(3, '|');
    let (path, role, ugid) = (parts.next()?, parts.next()?, parts.next()?);
    (!path.is_empty() && !role.is_empty() && !ugid.is_empty()).then(|| (path.to_string(), role.to_string(), ugid.to_string()))
}

/// Whether a row of `GET /access/acl` is this entry (propagation aside).
pub(super) fn same_grant(row: &AclEntry, path: &str, roleid: &str, ugid: &str) -> bool {
    row.path == path && row.roleid == roleid && row.ugid == ugid && row.subject == subject_of(ugid)
}

pub(super) fn state_from(row: &AclEntry) -> Value {
    let mut state = vec![
        (names::ID, Value::from(id_of(row))),
        (names::PATH, row.path.clone().into()),
        (names::ROLE_ID, row.roleid.clone().into()),
        (names::PROPAGATE, row.propagates().into()),
    ];
    for subject in [AclSubject::User, AclSubject::Group, AclSubject::Token] {
        let value = if row.subject == subject { Value::from(row.ugid.clone()) } else { Value::Null };
        state.push((subject_attribute(subject), value));
    }
    Value::object(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_pves() {
        for good in ["/", "/vms/100", "/storage/local-lvm", "/pool/lab/web", "/sdn/zones/home/vnet1/20", "/access/groups/ops", "/nodes"] {
            assert_eq!(path_problem(good), None, "{good}");
        }
        assert!(path_problem("vms/100").is_some_and(|p| p.contains("must start with /")));
        assert!(path_problem("/vms/100/").is_some_and(|p| p.contains("none at the end")));
        assert!(path_problem("/vms/99").is_some(), "VMIDs start at 100");
        assert!(path_problem("/cluster").is_some());
    }

    #[test]
    fn the_id_round_trips_and_names_the_subject_kind() {
        let row = AclEntry {
            path: "/vms/100".into(),
            roleid: "PVEVMUser".into(),
            subject: AclSubject::Token,
            ugid: "ci@pve!deploy".into(),
            propagate: None,
        };
        let state = state_from(&row);
        assert_eq!(state.get(names::TOKEN_ID).as_str(), Some("ci@pve!deploy"));
        assert_eq!(state.get(names::USER_ID), &Value::Null);
        assert_eq!(state.get(names::PROPAGATE).as_bool(), Some(true), "unset is PVE's default");
        let (path, role, ugid) = parse_id(state.get(names::ID).as_str().unwrap()).unwrap();
        assert!(same_grant(&row, &path, &role, &ugid));
        assert_eq!(entry_of(&state).unwrap().propagate, Some(true));
        assert_eq!(subject_of("ops"), AclSubject::Group);
        assert_eq!(subject_of("alice@pve"), AclSubject::User);
        assert!(parse_id("/vms/100|PVEVMUser").is_none());
    }
}
