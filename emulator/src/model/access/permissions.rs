//! The privileges an identity holds on a path, as pve-access-control computes them:
//! `AccessControl.pm` `roles` (the ACL walk) and `RPCEnvironment.pm` `permissions` /
//! `compile_acl_path` (pool-derived roles, privilege separation of tokens).

use std::collections::BTreeMap;

use super::{Access, ROOT, split_tokenid};
use crate::model::Cluster;

/// Privilege → whether it propagates (informational, as in PVE: a key present means held).
pub type Privileges = BTreeMap<String, bool>;

/// Role → propagate.
type Roles = BTreeMap<String, bool>;

/// `/vms/100` → `["/", "/vms", "/vms/100"]`.
fn path_and_ancestors(path: &str) -> Vec<String> {
    let mut prefixes = vec!["/".to_string()];
    let mut current = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        current.push('/');
        current.push_str(part);
        prefixes.push(current.clone());
    }
    prefixes
}

impl Access {
    /// The roles `authid` has on `path` from ACL entries (AccessControl.pm `roles`). Walking from
    /// `/` down, the first kind of entry that applies at a level replaces what was found above:
    /// the token's own, else the user's, else the union of their groups'. Above the path itself
    /// only propagated entries apply. `NoAccess` wins over every other role found.
    fn acl_roles(&self, authid: &str, path: &str) -> Roles {
        let prefixes = path_and_ancestors(path);
        let mut roles = Roles::new();
        let member_of = |group: &str| self.users.get(authid).is_some_and(|u| u.groups.contains(group));
        for (depth, prefix) in prefixes.iter().enumerate() {
            let Some(node) = self.acl.get(prefix) else { continue };
            let last = depth + 1 == prefixes.len();
            let applying = |entries: &BTreeMap<String, bool>| -> Roles {
                entries.iter().filter(|(_, propagate)| last || **propagate).map(|(r, p)| (r.clone(), *p)).collect()
            };
            let own = [node.tokens.get(authid), node.users.get(authid)].into_iter().flatten().map(applying).find(|r| !r.is_empty());
            if let Some(own) = own {
                roles = own;
                continue;
            }
            let from_groups: Roles =
                node.groups.iter().filter(|(group, _)| member_of(group)).flat_map(|(_, entries)| applying(entries)).collect();
            if !from_groups.is_empty() {
                roles = from_groups;
            }
        }
        match roles.get("NoAccess") {
            Some(propagate) => Roles::from([("NoAccess".to_string(), *propagate)]),
            None => roles,
        }
    }

    fn privileges_of(&self, roles: &Roles) -> Privileges {
        let mut privileges = Privileges::new();
        for (role, propagate) in roles {
            for privilege in self.role(role).into_iter().flatten() {
                let held = privileges.entry(privilege.clone()).or_insert(false);
                *held |= *propagate;
            }
        }
        privileges
    }
}

impl Cluster {
    /// What `authid` (a user or a token) may do on `path` (RPCEnvironment.pm `permissions`):
    /// root@pam everything; a token without privilege separation its user's privileges; a
    /// privilege-separated token those of its own entries that its user also holds.
    pub fn permissions(&self, authid: &str, path: &str) -> Privileges {
        let access = &self.access;
        if authid == ROOT {
            return access.role("Administrator").into_iter().flatten().map(|p| (p.clone(), true)).collect();
        }
        let owner = match split_tokenid(authid) {
            Some((userid, name)) => {
                let Some(token) = access.users.get(userid).and_then(|u| u.tokens.get(name)) else { return Privileges::new() };
                let user_privileges = self.permissions(userid, path);
                if !token.privsep {
                    return user_privileges;
                }
                Some(user_privileges)
            }
            None => None,
        };
        let mut roles = access.acl_roles(authid, path);
        // A guest or storage in a pool also gets the roles held on the pool, never propagated,
        // unless NoAccess is set on the path; NoAccess on the pool wins over the path's roles.
        if !roles.contains_key("NoAccess") {
            for (id, pool) in &self.pools {
                let member = path.strip_prefix("/vms/").and_then(|v| v.parse().ok()).is_some_and(|vmid: u64| pool.vms.contains(&vmid))
                    || path.strip_prefix("/storage/").is_some_and(|s| pool.storage.iter().any(|p| p == s));
                if !member {
                    continue;
                }
                let pool_roles = access.acl_roles(authid, &format!("/pool/{id}"));
                if pool_roles.contains_key("NoAccess") {
                    roles = Roles::from([("NoAccess".to_string(), false)]);
                    break;
                }
                for role in pool_roles.into_keys() {
                    roles.entry(role).or_insert(false);
                }
            }
        }
        let privileges = access.privileges_of(&roles);
        match owner {
            Some(user_privileges) => privileges
                .into_iter()
                .filter_map(|(p, propagate)| user_privileges.get(&p).map(|user_propagate| (p, propagate && *user_propagate)))
                .collect(),
            None => privileges,
        }
    }

    /// Whether `authid` holds all of `privileges` on `path`, or with `any` one of them.
    pub fn holds(&self, authid: &str, path: &str, privileges: &[&str], any: bool) -> bool {
        let held = self.permissions(authid, path);
        if any { privileges.iter().any(|p| held.contains_key(*p)) } else { privileges.iter().all(|p| held.contains_key(*p)) }
    }

    /// Every path with privileges for `authid`: the top-level paths, those with ACL entries and
    /// those pools refer to (RPCEnvironment.pm `get_effective_permissions`).
    pub fn effective_permissions(&self, authid: &str) -> BTreeMap<String, Privileges> {
        let mut paths: Vec<String> =
            ["/", "/access", "/access/groups", "/nodes", "/pool", "/sdn", "/storage", "/vms"].iter().map(|p| p.to_string()).collect();
        paths.extend(self.access.acl.keys().cloned());
        for pool in self.pools.values() {
            paths.extend(pool.vms.iter().map(|vmid| format!("/vms/{vmid}")));
            paths.extend(pool.storage.iter().map(|s| format!("/storage/{s}")));
        }
        paths
            .into_iter()
            .map(|path| (self.permissions(authid, &path), path))
            .filter(|(p, _)| !p.is_empty())
            .map(|(p, path)| (path, p))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::access::{AclUpdate, UserFields};

    fn grant(cluster: &mut Cluster, path: &str, role: &str, who: (&str, &str), propagate: bool) {
        let mut update = AclUpdate { path: path.into(), roles: vec![role.into()], propagate, ..Default::default() };
        match who.0 {
            "user" => update.users = vec![who.1.into()],
            "group" => update.groups = vec![who.1.into()],
            _ => update.tokens = vec![who.1.into()],
        }
        let root = cluster.permissions(ROOT, path);
        cluster.access.update_acl(update, &root).unwrap();
    }

    fn cluster_with_user() -> Cluster {
        let mut cluster = Cluster::seeded(1, 0, None);
        cluster.access.create_user("ops@pve", UserFields::default()).unwrap();
        cluster
    }

    #[test]
    fn the_most_specific_entry_wins_and_no_access_blocks() {
        let mut cluster = cluster_with_user();
        grant(&mut cluster, "/", "PVEVMAdmin", ("user", "ops@pve"), true);
        grant(&mut cluster, "/vms/100", "NoAccess", ("user", "ops@pve"), true);
        grant(&mut cluster, "/vms/101", "PVEAuditor", ("user", "ops@pve"), false);
        assert!(cluster.holds("ops@pve", "/vms/9000", &["VM.Allocate"], false));
        assert!(cluster.permissions("ops@pve", "/vms/100").is_empty());
        // The entry on /vms/101 replaces the one on / there.
        assert!(!cluster.holds("ops@pve", "/vms/101", &["VM.Allocate"], false));
        assert!(cluster.holds("ops@pve", "/vms/101", &["VM.Audit"], false));
    }

    #[test]
    fn pool_roles_reach_members_without_propagating() {
        let mut cluster = cluster_with_user();
        cluster.create_pool("lab", "").unwrap();
        cluster.pools.get_mut("lab").unwrap().vms.push(9000);
        grant(&mut cluster, "/pool/lab", "PVEVMUser", ("user", "ops@pve"), false);
        assert_eq!(cluster.permissions("ops@pve", "/vms/9000").get("VM.Console"), Some(&false));
        assert!(cluster.permissions("ops@pve", "/vms/9001").is_empty());
    }
}
