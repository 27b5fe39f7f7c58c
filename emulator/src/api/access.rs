//! `/access/*`: users, API tokens, groups, roles, ACL entries, permissions and realms. Shapes
//! and filters of pve-access-control `src/PVE/API2/User.pm`, `Group.pm`, `Role.pm`, `ACL.pm`,
//! `AccessControl.pm` and `Domains.pm`; the rules are in `model::access`.

use serde_json::{Map, Value, json};

use super::{ApiRequest, ApiResult};
use crate::error::PveError;
use crate::model::access::{AclUpdate, PermissionCheck, REALMS, ROOT, Token, TokenUpdate, User, UserFields, denied, realm_of};
use crate::state::now;

/// A boolean parameter, if given.
fn boolean(r: &ApiRequest, name: &str) -> Option<bool> {
    r.param(name).map(|v| v == "1")
}

fn integer(r: &ApiRequest, name: &str) -> Option<i64> {
    r.param(name).and_then(|v| v.parse().ok())
}

fn text(r: &ApiRequest, name: &str) -> Option<String> {
    r.param(name).map(str::to_string)
}

fn token_info(token: &Token) -> Map<String, Value> {
    let mut info = Map::new();
    info.insert("privsep".into(), json!(u8::from(token.privsep)));
    info.insert("expire".into(), json!(token.expire));
    if let Some(comment) = &token.comment {
        info.insert("comment".into(), json!(comment));
    }
    info
}

/// A user's tokens as listings show them: each one's info with its `tokenid`.
fn token_rows(user: &User) -> Vec<Value> {
    user.tokens
        .iter()
        .map(|(name, token)| {
            let mut info = token_info(token);
            info.insert("tokenid".into(), json!(name));
            Value::Object(info)
        })
        .collect()
}

/// User.pm `extract_user_data`: the stored fields, and with `full` groups and tokens.
fn user_data(user: &User) -> Map<String, Value> {
    let mut entry = Map::new();
    entry.insert("enable".into(), json!(u8::from(user.enable)));
    entry.insert("expire".into(), json!(user.expire));
    for (key, value) in [
        ("firstname", &user.firstname),
        ("lastname", &user.lastname),
        ("email", &user.email),
        ("comment", &user.comment),
        ("keys", &user.keys),
    ] {
        if let Some(value) = value {
            entry.insert(key.into(), json!(value));
        }
    }
    entry
}

fn user_fields(r: &ApiRequest) -> UserFields {
    UserFields {
        enable: boolean(r, "enable"),
        expire: integer(r, "expire"),
        comment: text(r, "comment"),
        email: text(r, "email"),
        firstname: text(r, "firstname"),
        lastname: text(r, "lastname"),
        keys: text(r, "keys"),
        groups: r.param("groups").map(|_| r.list("groups")),
        append_groups: r.flag("append"),
        password: text(r, "password"),
    }
}

/// `GET /access/users`: the users the caller may manage or audit (on `/access/groups`, or on a
/// group they are in), and always the caller.
pub async fn users(r: ApiRequest) -> ApiResult {
    let privileges = ["User.Modify", "Sys.Audit"];
    let all = r.may("/access/groups", &privileges, true);
    let cluster = r.emulator.cluster();
    let access = &cluster.access;
    let allowed_groups: Vec<&String> =
        access.groups.keys().filter(|g| cluster.holds(&r.user, &format!("/access/groups/{g}"), &privileges, true)).collect();
    let enabled = boolean(&r, "enabled");
    let full = r.flag("full");
    let mut rows = Vec::new();
    for (userid, user) in &access.users {
        let visible = all || *userid == r.user || allowed_groups.iter().any(|g| user.groups.contains(*g));
        if !visible || enabled.is_some_and(|e| e != user.enable) {
            continue;
        }
        let mut entry = user_data(user);
        if full {
            entry.insert("groups".into(), json!(user.groups.iter().cloned().collect::<Vec<_>>().join(",")));
            entry.insert("tokens".into(), Value::Array(token_rows(user)));
        }
        entry.insert("realm-type".into(), json!(realm_of(userid)));
        entry.insert("userid".into(), json!(userid));
        rows.push(Value::Object(entry));
    }
    Ok(Value::Array(rows))
}

pub async fn create_user(r: ApiRequest) -> ApiResult {
    let userid = r.required("userid")?;
    r.emulator.cluster().access.create_user(userid, user_fields(&r))?;
    Ok(Value::Null)
}

pub async fn user(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    let user = cluster.access.user(r.required("userid")?)?;
    let mut entry = user_data(user);
    entry.insert("groups".into(), json!(user.groups));
    let tokens: Map<String, Value> = user.tokens.iter().map(|(name, t)| (name.clone(), Value::Object(token_info(t)))).collect();
    entry.insert("tokens".into(), Value::Object(tokens));
    Ok(Value::Object(entry))
}

pub async fn update_user(r: ApiRequest) -> ApiResult {
    let userid = r.required("userid")?;
    r.emulator.cluster().access.update_user(userid, user_fields(&r))?;
    Ok(Value::Null)
}

pub async fn delete_user(r: ApiRequest) -> ApiResult {
    r.emulator.cluster().access.delete_user(r.required("userid")?)?;
    Ok(Value::Null)
}

pub async fn tokens(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    let user = cluster.access.user(r.required("userid")?)?;
    Ok(Value::Array(token_rows(user)))
}

pub async fn token(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    let token = cluster.access.token(r.required("userid")?, r.required("tokenid")?)?;
    Ok(Value::Object(token_info(token)))
}

/// `POST …/token/{tokenid}`: the secret `value` is in this answer only.
pub async fn create_token(r: ApiRequest) -> ApiResult {
    let privsep = boolean(&r, "privsep").unwrap_or(true);
    let made = r.emulator.cluster().access.create_token(
        r.required("userid")?,
        r.required("tokenid")?,
        privsep,
        integer(&r, "expire").unwrap_or(0),
        text(&r, "comment"),
    )?;
    Ok(json!({ "full-tokenid": made.full_tokenid, "info": token_info(&made.token), "value": made.value }))
}

pub async fn update_token(r: ApiRequest) -> ApiResult {
    let userid = r.required("userid")?;
    let name = r.required("tokenid")?;
    let update = TokenUpdate {
        privsep: boolean(&r, "privsep"),
        expire: integer(&r, "expire"),
        comment: text(&r, "comment"),
        delete: r.list("delete"),
        regenerate: r.flag("regenerate"),
    };
    let (token, value) = r.emulator.cluster().access.update_token(userid, name, update)?;
    let mut answer = token_info(&token);
    if let Some(value) = value {
        answer.insert("value".into(), json!(value));
        answer.insert("full-tokenid".into(), json!(format!("{userid}!{name}")));
    }
    Ok(Value::Object(answer))
}

pub async fn delete_token(r: ApiRequest) -> ApiResult {
    r.emulator.cluster().access.delete_token(r.required("userid")?, r.required("tokenid")?)?;
    Ok(Value::Null)
}

/// `GET /access/groups`: the groups the caller may manage or audit.
pub async fn groups(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    let privileges = ["User.Modify", "Sys.Audit", "Group.Allocate"];
    let rows = cluster
        .access
        .groups
        .iter()
        .filter(|(id, _)| cluster.holds(&r.user, &format!("/access/groups/{id}"), &privileges, true))
        .map(|(id, group)| {
            let members: Vec<&String> = cluster.access.group_members(id);
            let mut entry = json!({ "groupid": id, "users": members.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(",") });
            if let Some(comment) = &group.comment {
                entry["comment"] = json!(comment);
            }
            entry
        })
        .collect();
    Ok(Value::Array(rows))
}

pub async fn create_group(r: ApiRequest) -> ApiResult {
    r.emulator.cluster().access.create_group(r.required("groupid")?, text(&r, "comment"))?;
    Ok(Value::Null)
}

pub async fn group(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    let id = r.required("groupid")?;
    let group = cluster.access.group(id)?;
    let mut answer = json!({ "members": cluster.access.group_members(id) });
    if let Some(comment) = &group.comment {
        answer["comment"] = json!(comment);
    }
    Ok(answer)
}

pub async fn update_group(r: ApiRequest) -> ApiResult {
    r.emulator.cluster().access.update_group(r.required("groupid")?, text(&r, "comment"))?;
    Ok(Value::Null)
}

pub async fn delete_group(r: ApiRequest) -> ApiResult {
    r.emulator.cluster().access.delete_group(r.required("groupid")?)?;
    Ok(Value::Null)
}

/// `GET /access/roles`: built-in roles are `special`.
pub async fn roles(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    let rows = cluster
        .access
        .roles()
        .map(|(id, privileges, special)| {
            json!({ "roleid": id, "privs": privileges.iter().cloned().collect::<Vec<_>>().join(","), "special": u8::from(special) })
        })
        .collect();
    Ok(Value::Array(rows))
}

pub async fn create_role(r: ApiRequest) -> ApiResult {
    r.emulator.cluster().access.create_role(r.required("roleid")?, &r.list("privs"))?;
    Ok(Value::Null)
}

/// `GET /access/roles/{roleid}`: privilege → 1.
pub async fn role(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    let id = r.required("roleid")?;
    let privileges = cluster.access.role(id).ok_or_else(|| PveError::server(format!("role '{id}' does not exist")))?;
    Ok(Value::Object(privileges.iter().map(|p| (p.clone(), json!(1))).collect()))
}

pub async fn update_role(r: ApiRequest) -> ApiResult {
    let privileges = r.param("privs").map(|_| r.list("privs"));
    r.emulator.cluster().access.update_role(r.required("roleid")?, privileges.as_deref(), r.flag("append"))?;
    Ok(Value::Null)
}

pub async fn delete_role(r: ApiRequest) -> ApiResult {
    r.emulator.cluster().access.delete_role(r.required("roleid")?)?;
    Ok(Value::Null)
}

/// `GET /access/acl`: every entry with `Sys.Audit` on `/access`, else those on paths where the
/// caller may change permissions.
pub async fn acl(r: ApiRequest) -> ApiResult {
    let audit = r.may("/access", &["Sys.Audit"], false);
    let cluster = r.emulator.cluster();
    let check = PermissionCheck { cluster: &cluster, authid: Some(&r.user), params: &r.params };
    let rows = cluster
        .access
        .acl_entries()
        .into_iter()
        .filter(|(path, ..)| audit || check.perm_modify(&r.user, path, true).unwrap_or(false))
        .map(|(path, kind, ugid, role, propagate)| {
            json!({ "path": path, "type": kind, "ugid": ugid, "roleid": role, "propagate": u8::from(propagate) })
        })
        .collect();
    Ok(Value::Array(rows))
}

pub async fn update_acl(r: ApiRequest) -> ApiResult {
    let path = r.required("path")?.to_string();
    let update = AclUpdate {
        roles: r.list("roles"),
        users: r.list("users"),
        groups: r.list("groups"),
        tokens: r.list("tokens"),
        propagate: boolean(&r, "propagate").unwrap_or(true),
        delete: r.flag("delete"),
        path,
    };
    let mut cluster = r.emulator.cluster();
    let granter = crate::model::access::normalize_path(&update.path).map(|p| cluster.permissions(&r.user, &p)).unwrap_or_default();
    cluster.access.update_acl(update, &granter)?;
    Ok(Value::Null)
}

/// `GET /access/permissions`: the caller's (or with `userid` another's, needing `Sys.Audit` on
/// `/access` unless it is one of the caller's tokens) privileges on `path`, or on every path
/// that has any.
pub async fn permissions(r: ApiRequest) -> ApiResult {
    let cluster = r.emulator.cluster();
    let target = r.param("userid").unwrap_or(&r.user).to_string();
    PermissionCheck { cluster: &cluster, authid: Some(&r.user), params: &r.params }.may_read_permissions_of(&r.user, &target)?;
    let render = |privileges: crate::model::access::Privileges| -> Value {
        Value::Object(privileges.into_iter().map(|(p, propagate)| (p, json!(u8::from(propagate)))).collect())
    };
    let answer: Map<String, Value> = match r.param("path").filter(|p| !p.is_empty()) {
        Some(path) => [(path.to_string(), render(cluster.permissions(&target, path)))].into_iter().collect(),
        None => cluster.effective_permissions(&target).into_iter().map(|(path, p)| (path, render(p))).collect(),
    };
    Ok(Value::Object(answer))
}

/// `PUT /access/password` (AccessControl.pm change_password, RPCEnvironment.pm
/// `reauth_user_for_user_modification`): anyone but root@pam confirms with their own password;
/// only root@pam changes root's or another `pam` user's password.
pub async fn change_password(r: ApiRequest) -> ApiResult {
    let userid = r.required("userid")?;
    let mut cluster = r.emulator.cluster();
    cluster.access.user(userid)?;
    let is_root = r.user == ROOT;
    if userid == ROOT && !is_root {
        return Err(denied(None));
    }
    if !is_root {
        let confirmation = r
            .param("confirmation-password")
            .ok_or_else(|| PveError::param("confirmation-password", "password is required to modify user"))?;
        let confirmed = r.emulator.users.password_matches(&r.user, confirmation) | cluster.access.password_matches(&r.user, confirmation);
        if !confirmed {
            return Err(PveError::server("authentication failure"));
        }
        if r.user == userid {
            if !cluster.access.is_active(userid, now()) {
                return Err(PveError::server(format!("user '{userid}' is disabled")));
            }
        } else if realm_of(userid) == "pam" {
            return Err(denied(None));
        }
    }
    cluster.access.set_password(userid, r.required("password")?)?;
    Ok(Value::Null)
}

/// `GET /access/domains`: the two realms of a fresh cluster.
pub async fn domains(_: ApiRequest) -> ApiResult {
    Ok(Value::Array(REALMS.iter().map(|(realm, kind, comment)| json!({ "realm": realm, "type": kind, "comment": comment })).collect()))
}
