//! A method's `permissions` from the schema, checked as pve-access-control's
//! `RPCEnvironment.pm` does before a handler runs (`check_api2_permissions`,
//! `exec_api2_perm_check`). The language is in the schema's `permissions_reading`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{ROOT, normalize_path, split_tokenid};
use crate::error::PveError;
use crate::model::Cluster;

/// PVE's 403 (`raise_perm_exc`): `Permission check failed (WHAT)`, or without detail.
pub fn denied(what: Option<&str>) -> PveError {
    PveError::status(
        403,
        match what {
            Some(what) => format!("Permission check failed ({what})"),
            None => "Permission check failed".into(),
        },
    )
}

/// One method's check, for one caller and the request's parameters.
pub struct PermissionCheck<'a> {
    pub cluster: &'a Cluster,
    /// `user@realm` or `user@realm!token`; None before login (only `user: world` passes).
    pub authid: Option<&'a str>,
    pub params: &'a BTreeMap<String, String>,
}

impl PermissionCheck<'_> {
    /// `check_api2_permissions`: world, root@pam, `user: all`, then the `check` expression.
    pub fn method(&self, permissions: &Value) -> Result<(), PveError> {
        let user = permissions.get("user").and_then(Value::as_str);
        let Some(authid) = self.authid else {
            return if user == Some("world") { Ok(()) } else { Err(denied(Some("user != null"))) };
        };
        if authid == ROOT {
            return Ok(());
        }
        let defined = permissions.as_object().is_some_and(|p| !p.is_empty());
        if !defined {
            return Err(denied(Some("user != root@pam")));
        }
        if matches!(user, Some("all" | "world")) {
            return Ok(());
        }
        match permissions.get("check") {
            Some(check) => self.eval(authid, check, false).map(|_| ()),
            None => Err(denied(None)),
        }
    }

    /// `check`/`check_any` on one path: the message names the path and the privilege that
    /// failed, or with `any` all of them joined by `|`.
    pub fn path(&self, authid: &str, path: &str, privileges: &[&str], any: bool) -> Result<(), PveError> {
        let held = self.cluster.permissions(authid, path);
        if any {
            if privileges.iter().any(|p| held.contains_key(*p)) {
                return Ok(());
            }
            return Err(denied(Some(&format!("{path}, {}", privileges.join("|")))));
        }
        match privileges.iter().find(|p| !held.contains_key(**p)) {
            Some(missing) => Err(denied(Some(&format!("{path}, {missing}")))),
            None => Ok(()),
        }
    }

    /// `exec_api2_perm_check`: Ok(true) passes, Ok(false) fails quietly (inside `or`, with
    /// `noerr`), Err fails with PVE's message.
    fn eval(&self, authid: &str, check: &Value, noerr: bool) -> Result<bool, PveError> {
        let items = check.as_array().map(Vec::as_slice).unwrap_or_default();
        let fail = |what: Option<&str>| if noerr { Ok(false) } else { Err(denied(what)) };
        match items.first().and_then(Value::as_str) {
            Some("and") => {
                for sub in &items[1..] {
                    self.eval(authid, sub, false)?;
                }
                Ok(true)
            }
            Some("or") => {
                for sub in &items[1..] {
                    if self.eval(authid, sub, true)? {
                        return Ok(true);
                    }
                }
                fail(None)
            }
            Some("perm") => {
                let template = items.get(1).and_then(Value::as_str).unwrap_or("/");
                let privileges: Vec<&str> =
                    items.get(2).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
                let options = options(&items[3.min(items.len())..]);
                if let Some(required) = options.get("require_param").and_then(|v| v.as_str())
                    && !self.params.contains_key(required)
                {
                    return fail(None);
                }
                let path = normalize_path(&self.substitute(template)).unwrap_or_default();
                let any = options.get("any").is_some_and(truthy);
                self.held(authid, &path, &privileges, any, noerr)
            }
            Some("userid-group") => {
                let privileges: Vec<&str> =
                    items.get(1).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
                let options = options(&items[2.min(items.len())..]);
                self.userid_group(authid, &privileges, options.get("groups_param").and_then(|v| v.as_str()), noerr)
            }
            Some("userid-param") => {
                let userid = self.params.get("userid").map(String::as_str).unwrap_or_default();
                match items.get(1).and_then(Value::as_str) {
                    Some("self") => {
                        if !self.cluster.access.users.contains_key(userid) {
                            return if noerr { Ok(false) } else { Err(PveError::server(format!("no such user ('{userid}')"))) };
                        }
                        if authid == userid { Ok(true) } else { fail(None) }
                    }
                    _ => {
                        let path = format!("/access/realm/{}", super::realm_of(userid));
                        self.held(authid, &path, &["Realm.AllocateUser"], false, noerr)
                    }
                }
            }
            Some("perm-modify") => {
                let template = items.get(1).and_then(Value::as_str).unwrap_or("");
                let Some(path) = normalize_path(&self.substitute(template)) else { return Ok(false) };
                self.perm_modify(authid, &path, noerr)
            }
            _ => Err(PveError::server("unknown permission test")),
        }
    }

    fn held(&self, authid: &str, path: &str, privileges: &[&str], any: bool, noerr: bool) -> Result<bool, PveError> {
        match self.path(authid, path, privileges, any) {
            Ok(()) => Ok(true),
            Err(_) if noerr => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `{name}` from the request's parameters, `-` when absent (PVE::Tools `template_replace`).
    fn substitute(&self, template: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else { break };
            let name = &rest[open + 1..open + close];
            out.push_str(self.params.get(name).map(String::as_str).filter(|v| !v.is_empty()).unwrap_or("-"));
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        out
    }

    /// `check_perm_modify`: `Permissions.Modify` on the path, or the allocation privilege of
    /// what the path names.
    pub fn perm_modify(&self, authid: &str, path: &str, noerr: bool) -> Result<bool, PveError> {
        let mut privileges = vec!["Permissions.Modify"];
        if path.starts_with("/storage/") {
            privileges.push("Datastore.Allocate");
        } else if path.starts_with("/vms/") {
            privileges.push("VM.Allocate");
        } else if path.starts_with("/pool/") {
            privileges.push("Pool.Allocate");
        }
        self.held(authid, path, &privileges, true, noerr)
    }

    /// `userid-group`: the privileges on `/access/groups`, or on a group the target user is in
    /// (and, creating or updating with `groups`, on each group named).
    fn userid_group(&self, authid: &str, privileges: &[&str], groups_param: Option<&str>, noerr: bool) -> Result<bool, PveError> {
        let access = &self.cluster.access;
        let userid = self.params.get("userid").map(String::as_str).unwrap_or_default();
        let check_existing = groups_param != Some("create");
        if check_existing && !access.users.contains_key(userid) {
            return if noerr { Ok(false) } else { Err(PveError::server(format!("no such user ('{userid}')"))) };
        }
        if self.cluster.holds(authid, "/access/groups", privileges, true) {
            return Ok(true);
        }
        let allowed: Vec<&String> =
            access.groups.keys().filter(|g| self.cluster.holds(authid, &format!("/access/groups/{g}"), privileges, true)).collect();
        let joined = privileges.join("|");
        if groups_param.is_some() {
            let named: Vec<&str> = self.params.get("groups").map(|g| pve_api::tags::split_tag_list(g).collect()).unwrap_or_default();
            if named.is_empty() {
                return Err(denied(Some(&format!("/access/groups, {joined}"))));
            }
            if let Some(group) = named.iter().find(|g| !allowed.iter().any(|a| a == *g)) {
                return Err(denied(Some(&format!("/access/groups/{group}, {joined}"))));
            }
        }
        if check_existing {
            let member = access.users.get(userid).is_some_and(|u| allowed.iter().any(|g| u.groups.contains(*g)));
            if !member {
                return if noerr { Ok(false) } else { Err(denied(None)) };
            }
        }
        Ok(true)
    }

    /// `GET /access/permissions` of someone else needs `Sys.Audit` on `/access`, unless it is
    /// the caller or one of their tokens.
    pub fn may_read_permissions_of(&self, authid: &str, target: &str) -> Result<(), PveError> {
        let owned = split_tokenid(target).is_some_and(|(user, _)| user == authid);
        if target == authid || owned { Ok(()) } else { self.path(authid, "/access", &["Sys.Audit"], false) }
    }
}

/// `"any", 1, "require_param", "pool"` → a map.
fn options(rest: &[Value]) -> BTreeMap<&str, &Value> {
    rest.chunks(2).filter_map(|pair| Some((pair.first()?.as_str()?, pair.get(1)?))).collect()
}

fn truthy(value: &&Value) -> bool {
    match value {
        Value::Number(n) => n.as_i64() != Some(0),
        Value::Bool(b) => *b,
        Value::String(s) => s != "0" && !s.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::access::{AclUpdate, UserFields};

    fn cluster_with(role_on_root: &str) -> Cluster {
        let mut cluster = Cluster::seeded(1, 0, None);
        cluster.access.create_user("ops@pve", UserFields::default()).unwrap();
        let root = cluster.permissions(ROOT, "/");
        let grant = AclUpdate {
            path: "/".into(),
            roles: vec![role_on_root.into()],
            users: vec!["ops@pve".into()],
            propagate: true,
            ..Default::default()
        };
        cluster.access.update_acl(grant, &root).unwrap();
        cluster
    }

    fn clone_check() -> Value {
        // POST /nodes/{node}/qemu/{vmid}/clone in the 9.1.3 schema.
        json!({ "check": ["and", ["perm", "/vms/{vmid}", ["VM.Clone"]],
            ["or", ["perm", "/vms/{newid}", ["VM.Allocate"]], ["perm", "/pool/{pool}", ["VM.Allocate"], "require_param", "pool"]]] })
    }

    fn run(cluster: &Cluster, permissions: &Value, params: &[(&str, &str)]) -> Result<(), PveError> {
        let params: BTreeMap<String, String> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        PermissionCheck { cluster, authid: Some("ops@pve"), params: &params }.method(permissions)
    }

    #[test]
    fn a_failed_or_answers_without_detail_and_perm_names_the_path() {
        let cluster = cluster_with("PVETemplateUser");
        let params = [("vmid", "9000"), ("newid", "120")];
        assert_eq!(run(&cluster, &clone_check(), &params).unwrap_err().message, "Permission check failed");
        let cluster = cluster_with("PVEAuditor");
        assert_eq!(run(&cluster, &clone_check(), &params).unwrap_err().message, "Permission check failed (/vms/9000, VM.Clone)");
        let cluster = cluster_with("PVEVMAdmin");
        assert!(run(&cluster, &clone_check(), &params).is_ok());
    }

    #[test]
    fn world_all_and_root_only_methods() {
        let cluster = cluster_with("NoAccess");
        assert!(run(&cluster, &json!({ "user": "all" }), &[]).is_ok());
        assert_eq!(run(&cluster, &json!({}), &[]).unwrap_err().message, "Permission check failed (user != root@pam)");
        let params = BTreeMap::new();
        let anonymous = PermissionCheck { cluster: &cluster, authid: None, params: &params };
        assert!(anonymous.method(&json!({ "user": "world" })).is_ok());
        assert_eq!(anonymous.method(&json!({ "user": "all" })).unwrap_err().status, 403);
        let root = PermissionCheck { cluster: &cluster, authid: Some(ROOT), params: &params };
        assert!(root.method(&json!({})).is_ok());
    }

    #[test]
    fn any_joins_the_privileges_and_missing_parameters_become_a_dash() {
        let cluster = cluster_with("NoAccess");
        let check = json!({ "check": ["perm", "/storage/{storage}", ["Datastore.Audit", "Datastore.AllocateSpace"], "any", 1] });
        assert_eq!(
            run(&cluster, &check, &[]).unwrap_err().message,
            "Permission check failed (/storage/-, Datastore.Audit|Datastore.AllocateSpace)"
        );
    }
}
