//! `pve_role` state from PVE's role listing, and the plan-time checks of its inputs.

use super::names;
use crate::plugin::value::Value;

/// Why a role name cannot be managed: PVE's built-in roles are read-only, and PVE 9 keeps the
/// `PVE` prefix, in any case, for its own (pve-access-control `API2/Role.pm` `create_role`).
pub(super) fn builtin_problem(roleid: &str) -> Option<String> {
    if pve_api::privileges::builtin_roles().iter().any(|(name, _)| name == roleid) {
        return Some(format!(
            "\"{roleid}\" is a built-in PVE role, which cannot be changed; grant it with pve_acl, or choose another name"
        ));
    }
    roleid
        .get(..3)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("pve"))
        .then(|| format!("\"{roleid}\": role IDs starting with PVE (in any case) are reserved for PVE's built-in roles"))
}

/// Every privilege PVE 9 refuses, with [`pve_api::privileges::problem`]'s reason.
pub(super) fn privileges_problem(value: &Value) -> Result<(), String> {
    let problems: Vec<String> =
        value.as_list().unwrap_or_default().iter().filter_map(Value::as_str).filter_map(pve_api::privileges::problem).collect();
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

/// The planned privileges, sorted, as PVE takes them.
pub(super) fn privileges_of(planned: &Value) -> Vec<String> {
    let mut privileges: Vec<String> =
        planned.get(names::PRIVILEGES).as_list().unwrap_or_default().iter().filter_map(Value::as_str).map(str::to_string).collect();
    privileges.sort();
    privileges.dedup();
    privileges
}

pub(super) fn state_from(role: &pve_api::Role) -> Value {
    Value::object([
        (names::ROLE_ID, role.roleid.clone().into()),
        (names::PRIVILEGES, Value::List(role.privilege_list().into_iter().map(Value::from).collect())),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> Value {
        Value::List(items.iter().map(|s| Value::from(*s)).collect())
    }

    #[test]
    fn privileges_are_pve9s() {
        assert!(privileges_problem(&set(&["VM.Audit", "VM.GuestAgent.Audit", "Datastore.AllocateSpace"])).is_ok());
        let refused = privileges_problem(&set(&["VM.Audit", "VM.Monitor", "Sys.Everything"])).unwrap_err();
        assert!(refused.contains("VM.Monitor was removed in PVE 9") && refused.contains("VM.GuestAgent.Audit"), "{refused}");
        assert!(refused.contains("'Sys.Everything' is not a PVE 9 privilege"), "{refused}");
    }

    #[test]
    fn builtin_roles_are_refused() {
        assert!(builtin_problem("PVEVMAdmin").is_some_and(|p| p.contains("built-in")));
        assert!(builtin_problem("Administrator").is_some());
        assert!(builtin_problem("pveOperators").is_some_and(|p| p.contains("reserved")));
        assert!(builtin_problem("terraform").is_none());
    }

    #[test]
    fn state_sorts_the_privileges() {
        let role = pve_api::Role { roleid: "ops".into(), privs: Some("VM.PowerMgmt,VM.Audit".into()), special: false };
        assert_eq!(state_from(&role).get(names::PRIVILEGES), &set(&["VM.Audit", "VM.PowerMgmt"]));
        let planned = Value::object([(names::PRIVILEGES, set(&["b", "a", "a"]))]);
        assert_eq!(privileges_of(&planned), vec!["a".to_string(), "b".to_string()]);
    }
}
