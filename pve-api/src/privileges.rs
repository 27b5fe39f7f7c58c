//! PVE 9's privileges and built-in roles, shared by the provider (plan-time validation of roles)
//! and the emulator (the roles a fresh cluster has).
//!
//! Source: pve-access-control `src/PVE/AccessControl.pm` (`$privgroups`, `create_roles`). PVE
//! sorts each category's privileges into four tiers and derives the built-in roles from them:
//! `PVE<Cat>Admin` = admin + user + audit, `PVEAdmin` = every category's admin + user + audit
//! except `Mapping.Modify`, `PVE<Cat>User` = user + audit (only for categories with a user tier),
//! `PVEAuditor` = every audit tier, `PVETemplateUser` = `VM.Clone` + `VM.Audit`, `Administrator`
//! = everything, `NoAccess` = nothing. `VM.Monitor` is gone in PVE 9 (guest-agent privileges
//! replaced it), so a role listing it is refused.

/// One category's privileges by tier.
struct Category {
    name: &'static str,
    /// Only root@pam, or `Administrator`, should hold these.
    root: &'static [&'static str],
    admin: &'static [&'static str],
    user: &'static [&'static str],
    audit: &'static [&'static str],
}

const CATEGORIES: &[Category] = &[
    Category {
        name: "VM",
        root: &[],
        admin: &[
            "VM.Config.Disk",
            "VM.Config.CPU",
            "VM.Config.Memory",
            "VM.Config.Network",
            "VM.Config.HWType",
            "VM.Config.Options",
            "VM.Allocate",
            "VM.Clone",
            "VM.GuestAgent.Unrestricted",
            "VM.Migrate",
            "VM.Replicate",
            "VM.Snapshot",
            "VM.Snapshot.Rollback",
        ],
        user: &[
            "VM.Config.CDROM",
            "VM.Config.Cloudinit",
            "VM.Console",
            "VM.Backup",
            "VM.GuestAgent.FileRead",
            "VM.GuestAgent.FileSystemMgmt",
            "VM.GuestAgent.FileWrite",
            "VM.PowerMgmt",
        ],
        audit: &["VM.Audit", "VM.GuestAgent.Audit"],
    },
    Category {
        name: "Sys",
        root: &["Sys.PowerMgmt", "Sys.Modify", "Sys.Incoming", "Sys.AccessNetwork"],
        admin: &["Sys.Console", "Sys.Syslog"],
        user: &[],
        audit: &["Sys.Audit"],
    },
    Category {
        name: "Datastore",
        root: &[],
        admin: &["Datastore.Allocate", "Datastore.AllocateTemplate"],
        user: &["Datastore.AllocateSpace"],
        audit: &["Datastore.Audit"],
    },
    Category { name: "SDN", root: &[], admin: &["SDN.Allocate", "SDN.Audit"], user: &["SDN.Use"], audit: &["SDN.Audit"] },
    Category {
        name: "User",
        root: &["Realm.Allocate"],
        admin: &["User.Modify", "Group.Allocate", "Realm.AllocateUser"],
        user: &[],
        audit: &[],
    },
    Category { name: "Pool", root: &[], admin: &["Pool.Allocate"], user: &["Pool.Audit"], audit: &["Pool.Audit"] },
    Category { name: "Mapping", root: &[], admin: &["Mapping.Modify"], user: &["Mapping.Use"], audit: &["Mapping.Audit"] },
];

/// The one privilege in no category.
const PERMISSIONS_MODIFY: &str = "Permissions.Modify";

/// Every privilege PVE 9 knows, sorted.
pub fn all() -> Vec<&'static str> {
    let mut privileges: Vec<&'static str> = CATEGORIES
        .iter()
        .flat_map(|c| c.root.iter().chain(c.admin).chain(c.user).chain(c.audit))
        .copied()
        .chain([PERMISSIONS_MODIFY])
        .collect();
    privileges.sort_unstable();
    privileges.dedup();
    privileges
}

pub fn is_valid(privilege: &str) -> bool {
    all().contains(&privilege)
}

/// Why a privilege is refused, in the words a user needs (PVE 9 dropped `VM.Monitor`).
pub fn problem(privilege: &str) -> Option<String> {
    if is_valid(privilege) {
        return None;
    }
    Some(if privilege == "VM.Monitor" {
        "VM.Monitor was removed in PVE 9: use VM.GuestAgent.Audit (guest-agent reads) or VM.GuestAgent.Unrestricted".to_string()
    } else {
        format!("'{privilege}' is not a PVE 9 privilege")
    })
}

/// PVE's built-in roles (`special` roles: they cannot be changed or deleted), with their
/// privileges, sorted by name.
pub fn builtin_roles() -> Vec<(String, Vec<&'static str>)> {
    let mut roles: std::collections::BTreeMap<String, Vec<&'static str>> = std::collections::BTreeMap::new();
    roles.insert("NoAccess".into(), vec![]);
    roles.insert("Administrator".into(), all());
    roles.insert("PVETemplateUser".into(), vec!["VM.Audit", "VM.Clone"]);
    for c in CATEGORIES {
        let admin_tiers: Vec<&'static str> = c.admin.iter().chain(c.user).chain(c.audit).copied().collect();
        roles.entry(format!("PVE{}Admin", c.name)).or_default().extend(&admin_tiers);
        roles.entry("PVEAdmin".into()).or_default().extend(admin_tiers.iter().filter(|p| **p != "Mapping.Modify"));
        if !c.user.is_empty() {
            roles.entry(format!("PVE{}User", c.name)).or_default().extend(c.user.iter().chain(c.audit));
        }
        roles.entry("PVEAuditor".into()).or_default().extend(c.audit);
    }
    roles
        .into_iter()
        .map(|(name, mut privileges)| {
            privileges.sort_unstable();
            privileges.dedup();
            (name, privileges)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str) -> Vec<&'static str> {
        builtin_roles().into_iter().find(|(n, _)| n == name).map(|(_, p)| p).unwrap_or_default()
    }

    #[test]
    fn pve9_has_no_vm_monitor_and_names_the_replacement() {
        assert!(!is_valid("VM.Monitor"));
        assert!(problem("VM.Monitor").is_some_and(|p| p.contains("VM.GuestAgent.Audit")));
        assert!(is_valid("VM.GuestAgent.Audit") && is_valid("Permissions.Modify"));
        assert_eq!(all().len(), 47);
    }

    #[test]
    fn builtin_roles_follow_the_tiers() {
        assert_eq!(role("PVETemplateUser"), vec!["VM.Audit", "VM.Clone"]);
        assert!(role("PVEAdmin").contains(&"VM.Allocate") && !role("PVEAdmin").contains(&"Mapping.Modify"));
        assert!(!role("PVEAdmin").contains(&"Sys.Modify"), "root-tier privileges are only in Administrator");
        assert!(role("PVEAuditor").contains(&"Datastore.Audit") && !role("PVEAuditor").contains(&"VM.Backup"));
        assert!(role("PVEVMUser").contains(&"VM.Backup") && !role("PVEVMUser").contains(&"VM.Allocate"));
        assert!(!builtin_roles().iter().any(|(n, _)| n == "PVESysUser" || n == "PVEUserUser"), "no user tier, no User role");
        assert_eq!(role("Administrator").len(), all().len());
    }
}
