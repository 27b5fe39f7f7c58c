//! Access control: users, groups, roles, ACL entries and API tokens, as PVE keeps them in
//! `user.cfg` (pve-access-control `src/PVE/AccessControl.pm` parse_user_config) with the rules of
//! its API (`src/PVE/API2/User.pm`, `Group.pm`, `Role.pm`, `ACL.pm`). How privileges follow from
//! them is in `permissions`; how a method's `permissions` are checked is in `check`.
//!
//! Secrets are kept as salted SHA-256 digests only: a token's value is shown once, when it is made.

mod check;
mod permissions;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use check::{PermissionCheck, denied};
pub use permissions::Privileges;

use crate::error::PveError;

/// The superuser: every privilege everywhere, and the methods only root may call
/// (RPCEnvironment.pm `check_api2_permissions`).
pub const ROOT: &str = "root@pam";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Access {
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, Group>,
    /// Custom roles by name. The built-in ones (`special` in PVE) are never stored: they come
    /// from `pve_api::privileges`, so they cannot be changed.
    pub roles: BTreeMap<String, BTreeSet<String>>,
    /// ACL entries by normalised path.
    pub acl: BTreeMap<String, AclNode>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub enable: bool,
    /// Seconds since the epoch; 0 never expires.
    #[serde(default)]
    pub expire: i64,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub firstname: Option<String>,
    #[serde(default)]
    pub lastname: Option<String>,
    #[serde(default)]
    pub keys: Option<String>,
    #[serde(default)]
    pub groups: BTreeSet<String>,
    #[serde(default)]
    pub tokens: BTreeMap<String, Token>,
    /// For the `pve` realm: `SALT$DIGEST` of the password set through the API.
    #[serde(default)]
    pub password: Option<String>,
}

impl Default for User {
    fn default() -> Self {
        Self {
            enable: true,
            expire: 0,
            comment: None,
            email: None,
            firstname: None,
            lastname: None,
            keys: None,
            groups: BTreeSet::new(),
            tokens: BTreeMap::new(),
            password: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Token {
    /// Privilege separation: the token holds only what its own ACL entries grant, within its
    /// user's privileges (PVE's default, 1).
    pub privsep: bool,
    #[serde(default)]
    pub expire: i64,
    #[serde(default)]
    pub comment: Option<String>,
    /// `SALT$DIGEST` of the secret.
    pub secret: String,
    /// From `--tokens`: made again at every start, so a token dropped from the options stops
    /// working even though the state file kept it.
    #[serde(default)]
    pub configured: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Group {
    #[serde(default)]
    pub comment: Option<String>,
}

/// The entries on one ACL path: who → role → propagate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AclNode {
    #[serde(default)]
    pub users: BTreeMap<String, BTreeMap<String, bool>>,
    #[serde(default)]
    pub groups: BTreeMap<String, BTreeMap<String, bool>>,
    #[serde(default)]
    pub tokens: BTreeMap<String, BTreeMap<String, bool>>,
}

impl AclNode {
    fn is_empty(&self) -> bool {
        [&self.users, &self.groups, &self.tokens].iter().all(|m| m.values().all(BTreeMap::is_empty))
    }
}

/// `POST /access/users` and `PUT /access/users/{userid}`: what is given.
#[derive(Debug, Default)]
pub struct UserFields {
    pub enable: Option<bool>,
    pub expire: Option<i64>,
    pub comment: Option<String>,
    pub email: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub keys: Option<String>,
    /// None: not given; an update replaces the groups unless `append_groups`.
    pub groups: Option<Vec<String>>,
    pub append_groups: bool,
    pub password: Option<String>,
}

/// `PUT /access/acl`.
#[derive(Debug, Default)]
pub struct AclUpdate {
    pub path: String,
    pub roles: Vec<String>,
    pub users: Vec<String>,
    pub groups: Vec<String>,
    pub tokens: Vec<String>,
    pub propagate: bool,
    pub delete: bool,
}

/// A new token's answer: `full-tokenid`, `info` and the secret `value`, shown this once.
pub struct NewToken {
    pub full_tokenid: String,
    pub token: Token,
    pub value: String,
}

static BUILTIN_ROLES: LazyLock<BTreeMap<String, BTreeSet<String>>> = LazyLock::new(|| {
    pve_api::privileges::builtin_roles()
        .into_iter()
        .map(|(name, privileges)| (name, privileges.into_iter().map(str::to_string).collect()))
        .collect()
});

/// Whether PVE made the role and refuses changes to it (`role_is_special`).
pub fn is_builtin_role(role: &str) -> bool {
    BUILTIN_ROLES.contains_key(role)
}

/// `USER@REALM!NAME` → (`USER@REALM`, `NAME`) (AccessControl.pm `split_tokenid`).
pub fn split_tokenid(authid: &str) -> Option<(&str, &str)> {
    let (user, name) = authid.split_once('!')?;
    user.contains('@').then_some((user, name))
}

/// The realm of `USER@REALM`.
pub fn realm_of(userid: &str) -> &str {
    userid.rsplit_once('@').map_or("", |(_, realm)| realm)
}

fn digest(salt: &str, secret: &str) -> String {
    hex::encode(Sha256::digest(format!("{salt}:{secret}").as_bytes()))
}

/// `SALT$DIGEST` of a secret, with a fresh salt.
pub fn seal(secret: &str) -> String {
    let salt = format!("{:016x}", rand::random::<u64>());
    format!("{salt}${}", digest(&salt, secret))
}

/// Whether `secret` is what `sealed` was made from, compared in constant time.
pub fn unseal_matches(sealed: &str, secret: &str) -> bool {
    let (salt, expected) = sealed.split_once('$').unwrap_or(("", sealed));
    bool::from(digest(salt, secret).as_bytes().ct_eq(expected.as_bytes()))
}

/// PVE's wrapper around an access change that failed (`lock_user_config` with its message).
fn failed(what: &str, message: impl std::fmt::Display) -> PveError {
    PveError::server(format!("{what}: {message}"))
}

/// PVE's path normalisation (`normalize_path`): no doubled or trailing slashes, a leading one.
pub fn normalize_path(path: &str) -> Option<String> {
    let mut normal = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        normal.push('/');
        normal.push_str(part);
    }
    if normal.is_empty() {
        normal.push('/');
    }
    normal.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/')).then_some(normal)
}

/// The paths PVE accepts for new ACL entries (AccessControl.pm `check_path`).
fn is_acl_path(path: &str) -> bool {
    static PATHS: LazyLock<regex::Regex> = LazyLock::new(|| {
        let name = r"[[:alnum:]\.\-_]+";
        let pool = r"[A-Za-z0-9\.\-_]+(?:/[A-Za-z0-9\.\-_]+){0,2}";
        let alternatives = [
            "/".to_string(),
            "/access".into(),
            "/access/groups".into(),
            format!("/access/groups/{name}"),
            "/access/realm".into(),
            format!("/access/realm/{name}"),
            "/nodes".into(),
            format!("/nodes/{name}"),
            "/pool".into(),
            format!("/pool/{pool}"),
            "/sdn".into(),
            format!("/sdn/(?:controllers|dns|fabrics|ipams|prefix-lists|route-maps)(?:/{name})?"),
            "/sdn/zones".into(),
            format!("/sdn/zones/{name}(?:/{name}(?:/[1-9][0-9]{{0,3}})?)?"),
            "/storage".into(),
            format!("/storage/{name}"),
            "/vms".into(),
            "/vms/[1-9][0-9]{2,}".into(),
            "/mapping".into(),
            format!("/mapping/{name}(?:/{name})?"),
        ];
        regex::Regex::new(&format!("^(?:{})$", alternatives.join("|"))).expect("static regex")
    });
    PATHS.is_match(path)
}

impl Access {
    /// A role's privileges, built-in or custom.
    pub fn role(&self, role: &str) -> Option<&BTreeSet<String>> {
        BUILTIN_ROLES.get(role).or_else(|| self.roles.get(role))
    }

    /// Every role, built-in ones first marked `special`.
    pub fn roles(&self) -> impl Iterator<Item = (&String, &BTreeSet<String>, bool)> {
        BUILTIN_ROLES.iter().map(|(n, p)| (n, p, true)).chain(self.roles.iter().map(|(n, p)| (n, p, false)))
    }

    pub fn user(&self, userid: &str) -> Result<&User, PveError> {
        self.users.get(userid).ok_or_else(|| PveError::server(format!("no such user ('{userid}')")))
    }

    pub fn group_members(&self, group: &str) -> Vec<&String> {
        self.users.iter().filter(|(_, u)| u.groups.contains(group)).map(|(id, _)| id).collect()
    }

    /// The user a token or user ID acts for is enabled and unexpired, and so is the token
    /// (AccessControl.pm `check_user_enabled`, `verify_token`).
    pub fn is_active(&self, authid: &str, now: i64) -> bool {
        let (userid, token) = match split_tokenid(authid) {
            Some((user, token)) => (user, Some(token)),
            None => (authid, None),
        };
        let Some(user) = self.users.get(userid) else { return false };
        let unexpired = |expire: i64| expire == 0 || expire >= now;
        let token_ok = token.is_none_or(|t| user.tokens.get(t).is_some_and(|t| unexpired(t.expire)));
        user.enable && unexpired(user.expire) && token_ok
    }

    /// An API token's secret matches, and token and user may still log in.
    pub fn token_authenticates(&self, authid: &str, secret: &str, now: i64) -> bool {
        let Some((userid, name)) = split_tokenid(authid) else { return false };
        let token = self.users.get(userid).and_then(|u| u.tokens.get(name));
        // The digest is computed even for an unknown token, so timing tells little.
        let matches = unseal_matches(token.map_or("", |t| t.secret.as_str()), secret);
        token.is_some() && matches && self.is_active(authid, now)
    }

    /// A `pve`-realm user's password set through the API.
    pub fn password_matches(&self, userid: &str, password: &str) -> bool {
        let sealed = self.users.get(userid).and_then(|u| u.password.as_deref());
        let matches = unseal_matches(sealed.unwrap_or(""), password);
        sealed.is_some() && matches
    }

    // -- users (User.pm) --

    pub fn create_user(&mut self, userid: &str, fields: UserFields) -> Result<(), PveError> {
        let fail = |m: String| failed("create user failed", m);
        if self.users.contains_key(userid) {
            return Err(fail(format!("user '{userid}' already exists")));
        }
        if fields.password.is_some() {
            check_realm(userid).map_err(fail)?;
        }
        let mut user = User { enable: fields.enable.unwrap_or(true), ..Default::default() };
        for group in fields.groups.iter().flatten() {
            if !self.groups.contains_key(group) {
                return Err(fail(format!("no such group '{group}'")));
            }
            user.groups.insert(group.clone());
        }
        user.password = fields.password.as_deref().map(seal);
        // Empty values are not stored on create (User.pm create_user: `if $param->{…}`).
        user.expire = fields.expire.unwrap_or(0);
        let non_empty = |v: Option<String>| v.filter(|v| !v.is_empty());
        user.comment = non_empty(fields.comment);
        user.email = non_empty(fields.email);
        user.firstname = non_empty(fields.firstname);
        user.lastname = non_empty(fields.lastname);
        user.keys = non_empty(fields.keys);
        self.users.insert(userid.to_string(), user);
        Ok(())
    }

    pub fn update_user(&mut self, userid: &str, fields: UserFields) -> Result<(), PveError> {
        let fail = |m: String| failed("update user failed", m);
        if !self.users.contains_key(userid) {
            return Err(fail(format!("no such user ('{userid}')")));
        }
        if let Some(group) = fields.groups.iter().flatten().find(|g| !self.groups.contains_key(*g)) {
            return Err(fail(format!("no such group '{group}'")));
        }
        let Some(user) = self.users.get_mut(userid) else { return Ok(()) };
        if let Some(enable) = fields.enable {
            user.enable = enable;
        }
        if let Some(expire) = fields.expire {
            user.expire = expire;
        }
        if let Some(groups) = fields.groups {
            if !fields.append_groups {
                user.groups.clear();
            }
            user.groups.extend(groups);
        }
        for (field, value) in [
            (&mut user.comment, fields.comment),
            (&mut user.email, fields.email),
            (&mut user.firstname, fields.firstname),
            (&mut user.lastname, fields.lastname),
            (&mut user.keys, fields.keys),
        ] {
            if value.is_some() {
                *field = value;
            }
        }
        Ok(())
    }

    /// Removes the user with its tokens, group memberships and ACL entries (theirs and their
    /// tokens': PVE drops entries of tokens that no longer exist when it reads `user.cfg`).
    pub fn delete_user(&mut self, userid: &str) -> Result<(), PveError> {
        if !self.users.contains_key(userid) {
            return Err(failed("delete user failed", format!("no such user ('{userid}')")));
        }
        // root@pam comes back at once (AccessControl.pm `userconfig_force_defaults`): its
        // tokens and ACL entries go, the user stays.
        if userid == ROOT {
            if let Some(root) = self.users.get_mut(ROOT) {
                root.tokens.clear();
            }
        } else {
            self.users.remove(userid);
        }
        let token_prefix = format!("{userid}!");
        self.forget_acl_entries(|node| {
            node.users.remove(userid);
            node.tokens.retain(|id, _| !id.starts_with(&token_prefix));
        });
        Ok(())
    }

    /// `PUT /access/password`. PVE hands `pam` passwords to the node's passwd; here they are kept
    /// like `pve` ones, so either realm can log in with a ticket.
    pub fn set_password(&mut self, userid: &str, password: &str) -> Result<(), PveError> {
        check_realm(userid).map_err(PveError::server)?;
        let user = self.users.get_mut(userid).ok_or_else(|| PveError::server(format!("no such user ('{userid}')")))?;
        user.password = Some(seal(password));
        Ok(())
    }

    // -- tokens (User.pm generate_token, update_token_info, remove_token) --

    pub fn token(&self, userid: &str, name: &str) -> Result<&Token, PveError> {
        let user = self.user(userid)?;
        user.tokens.get(name).ok_or_else(|| PveError::server(format!("no such token '{name}' for user '{userid}'")))
    }

    pub fn create_token(
        &mut self,
        userid: &str,
        name: &str,
        privsep: bool,
        expire: i64,
        comment: Option<String>,
    ) -> Result<NewToken, PveError> {
        let user = self.users.get_mut(userid).ok_or_else(|| PveError::server(format!("no such user ('{userid}')")))?;
        if user.tokens.contains_key(name) {
            return Err(PveError::param("tokenid", "Token already exists."));
        }
        let value = crate::server::random_secret();
        let token = Token { privsep, expire, comment: comment.filter(|c| !c.is_empty()), secret: seal(&value), configured: false };
        user.tokens.insert(name.to_string(), token.clone());
        Ok(NewToken { full_tokenid: format!("{userid}!{name}"), token, value })
    }

    /// Updates a token; with `regenerate`, answers its new secret.
    pub fn update_token(&mut self, userid: &str, name: &str, update: TokenUpdate) -> Result<(Token, Option<String>), PveError> {
        self.token(userid, name)?;
        if let Some(key) = update.delete.iter().find(|k| k.as_str() != "comment") {
            return Err(PveError::param("delete", format!("unknown option '{key}'")));
        }
        let token = self.users.get_mut(userid).and_then(|u| u.tokens.get_mut(name)).ok_or_else(|| PveError::server("token vanished"))?;
        if let Some(privsep) = update.privsep {
            token.privsep = privsep;
        }
        if let Some(expire) = update.expire {
            token.expire = expire;
        }
        if let Some(comment) = update.comment {
            token.comment = Some(comment).filter(|c| !c.is_empty());
        }
        if !update.delete.is_empty() {
            token.comment = None;
        }
        let value = update.regenerate.then(crate::server::random_secret);
        if let Some(value) = &value {
            token.secret = seal(value);
        }
        Ok((token.clone(), value))
    }

    pub fn delete_token(&mut self, userid: &str, name: &str) -> Result<(), PveError> {
        self.token(userid, name)?;
        if let Some(user) = self.users.get_mut(userid) {
            user.tokens.remove(name);
        }
        let authid = format!("{userid}!{name}");
        self.forget_acl_entries(|node| {
            node.tokens.remove(&authid);
        });
        Ok(())
    }

    // -- groups (Group.pm) --

    pub fn create_group(&mut self, group: &str, comment: Option<String>) -> Result<(), PveError> {
        if self.groups.contains_key(group) {
            return Err(failed("create group failed", format!("group '{group}' already exists")));
        }
        self.groups.insert(group.to_string(), Group { comment: comment.filter(|c| !c.is_empty()) });
        Ok(())
    }

    pub fn group(&self, group: &str) -> Result<&Group, PveError> {
        self.groups.get(group).ok_or_else(|| PveError::server(format!("group '{group}' does not exist")))
    }

    pub fn update_group(&mut self, group: &str, comment: Option<String>) -> Result<(), PveError> {
        let data = self.groups.get_mut(group).ok_or_else(|| failed("update group failed", format!("group '{group}' does not exist")))?;
        if comment.is_some() {
            data.comment = comment;
        }
        Ok(())
    }

    /// Removes the group, its members' membership and its ACL entries.
    pub fn delete_group(&mut self, group: &str) -> Result<(), PveError> {
        if self.groups.remove(group).is_none() {
            return Err(failed("delete group failed", format!("group '{group}' does not exist")));
        }
        for user in self.users.values_mut() {
            user.groups.remove(group);
        }
        self.forget_acl_entries(|node| {
            node.groups.remove(group);
        });
        Ok(())
    }

    // -- roles (Role.pm) --

    pub fn create_role(&mut self, role: &str, privileges: &[String]) -> Result<(), PveError> {
        if role.to_ascii_lowercase().starts_with("pve") {
            return Err(PveError::param("roleid", "cannot use role ID starting with the (case-insensitive) 'PVE' namespace"));
        }
        if self.role(role).is_some() {
            return Err(failed("create role failed", format!("role '{role}' already exists")));
        }
        let privileges = valid_privileges(privileges).map_err(|e| failed("create role failed", e))?;
        self.roles.insert(role.to_string(), privileges);
        Ok(())
    }

    pub fn update_role(&mut self, role: &str, privileges: Option<&[String]>, append: bool) -> Result<(), PveError> {
        if is_builtin_role(role) {
            return Err(PveError::server(format!("auto-generated role '{role}' cannot be modified")));
        }
        let fail = |m: String| failed("update role failed", m);
        let Some(current) = self.roles.get_mut(role) else {
            return Err(fail(format!("role '{role}' does not exist")));
        };
        // PVE empties the role unless `append`, even when no privileges are given.
        if !append {
            current.clear();
        }
        current.extend(valid_privileges(privileges.unwrap_or_default()).map_err(fail)?);
        Ok(())
    }

    /// Deletes a custom role. PVE leaves ACL entries naming it in place (Role.pm delete_role), and
    /// they grant nothing.
    pub fn delete_role(&mut self, role: &str) -> Result<(), PveError> {
        if is_builtin_role(role) {
            return Err(PveError::server(format!("auto-generated role '{role}' cannot be deleted")));
        }
        if self.roles.remove(role).is_none() {
            return Err(failed("delete role failed", format!("role '{role}' does not exist")));
        }
        Ok(())
    }

    // -- ACL (ACL.pm update_acl) --

    /// Adds or removes entries. `granter` holds the caller's privileges on the path: without
    /// `Permissions.Modify` a caller may grant only roles within what they hold (propagated, to
    /// propagate), and never `NoAccess`.
    pub fn update_acl(&mut self, update: AclUpdate, granter: &BTreeMap<String, bool>) -> Result<(), PveError> {
        if update.users.is_empty() && update.groups.is_empty() && update.tokens.is_empty() {
            let message = "either 'users', 'groups' or 'tokens' is required.";
            return Err(PveError::params(["users", "groups", "tokens"].iter().map(|k| (k.to_string(), message.to_string())).collect()));
        }
        let invalid = || PveError::param("path", format!("invalid ACL path '{}'", update.path));
        let path = normalize_path(&update.path).ok_or_else(invalid)?;
        if !update.delete && !is_acl_path(&path) {
            return Err(invalid());
        }
        let verb = if update.delete { "remove" } else { "add" };
        for role in &update.roles {
            let privileges = self.role(role).ok_or_else(|| PveError::server(format!("role '{role}' does not exist")))?;
            if granter.contains_key("Permissions.Modify") {
                continue;
            }
            for privilege in privileges {
                let Some(propagated) = granter.get(privilege) else {
                    return Err(PveError::param(
                        "role",
                        format!("Cannot {verb} role '{role}' - requires 'Permissions.Modify' or superset of privileges."),
                    ));
                };
                if update.propagate && !propagated && !update.delete {
                    return Err(PveError::param(
                        "role",
                        format!(
                            "Cannot {verb} role '{role}' with propagation - requires 'Permissions.Modify' or propagated superset of privileges."
                        ),
                    ));
                }
            }
            if role == "NoAccess" {
                return Err(PveError::param("role", format!("Cannot {verb} role '{role}' - requires 'Permissions.Modify'")));
            }
        }
        if let Some(group) = update.groups.iter().find(|g| !self.groups.contains_key(*g)) {
            return Err(PveError::server(format!("group '{group}' does not exist")));
        }
        if let Some(user) = update.users.iter().find(|u| !self.users.contains_key(*u)) {
            return Err(PveError::server(format!("user '{user}' does not exist")));
        }
        for tokenid in &update.tokens {
            let (userid, name) = split_tokenid(tokenid).ok_or_else(|| {
                PveError::server(format!("'{tokenid}' is not a valid token ID - not able to split into user and token parts"))
            })?;
            self.token(userid, name)?;
        }
        let node = self.acl.entry(path.clone()).or_default();
        for role in &update.roles {
            for (entries, ids) in [(&mut node.groups, &update.groups), (&mut node.users, &update.users), (&mut node.tokens, &update.tokens)]
            {
                for id in ids {
                    let roles = entries.entry(id.clone()).or_default();
                    if update.delete {
                        roles.remove(role);
                    } else {
                        roles.insert(role.clone(), update.propagate);
                    }
                }
                entries.retain(|_, roles| !roles.is_empty());
            }
        }
        self.acl.retain(|_, node| !node.is_empty());
        Ok(())
    }

    /// Drops the entries on `path` and below it.
    pub fn forget_paths_under(&mut self, path: &str) {
        let below = format!("{path}/");
        self.acl.retain(|p, _| p != path && !p.starts_with(&below));
    }

    /// Every entry, as `GET /access/acl` lists them: (path, type, ugid, role, propagate).
    pub fn acl_entries(&self) -> Vec<(&str, &'static str, &str, &str, bool)> {
        let mut rows = Vec::new();
        for (path, node) in &self.acl {
            for (kind, entries) in [("user", &node.users), ("group", &node.groups), ("token", &node.tokens)] {
                for (id, roles) in entries {
                    for (role, propagate) in roles {
                        rows.push((path.as_str(), kind, id.as_str(), role.as_str(), *propagate));
                    }
                }
            }
        }
        rows
    }

    /// At start: a user from `--tokens` or `--users` exists and holds `role` on `/`
    /// (propagated), so configured credentials keep working as before access control.
    pub fn bootstrap_user(&mut self, userid: &str, role: &str) {
        self.users.entry(userid.to_string()).or_default();
        if userid != ROOT {
            self.acl.entry("/".into()).or_default().users.entry(userid.to_string()).or_default().insert(role.to_string(), true);
        }
    }

    /// At start, before the configured tokens are made again: the ones an earlier start made go,
    /// with their ACL entries.
    pub fn forget_configured_tokens(&mut self) {
        let mut gone = Vec::new();
        for (userid, user) in &mut self.users {
            user.tokens.retain(|name, token| {
                if token.configured {
                    gone.push(format!("{userid}!{name}"));
                }
                !token.configured
            });
        }
        self.forget_acl_entries(|node| node.tokens.retain(|id, _| !gone.contains(id)));
    }

    /// Removes entries from every ACL node with `forget`, then the nodes left with none.
    fn forget_acl_entries(&mut self, forget: impl FnMut(&mut AclNode)) {
        self.acl.values_mut().for_each(forget);
        self.acl.retain(|_, node| !node.is_empty());
    }

    /// At start: a token from `--tokens` with its secret; with `own_role`, privilege-separated
    /// and holding that role on `/`, else acting with its user's privileges.
    pub fn bootstrap_token(&mut self, authid: &str, secret: &str, own_role: Option<&str>) {
        let Some((userid, name)) = split_tokenid(authid) else { return };
        let user = self.users.entry(userid.to_string()).or_default();
        let token = Token { privsep: own_role.is_some(), expire: 0, comment: None, secret: seal(secret), configured: true };
        user.tokens.insert(name.to_string(), token);
        if let Some(role) = own_role {
            self.acl.entry("/".into()).or_default().tokens.entry(authid.to_string()).or_default().insert(role.to_string(), true);
        }
    }
}

/// `PUT /access/users/{userid}/token/{tokenid}`.
#[derive(Debug, Default)]
pub struct TokenUpdate {
    pub privsep: Option<bool>,
    pub expire: Option<i64>,
    pub comment: Option<String>,
    pub delete: Vec<String>,
    pub regenerate: bool,
}

/// The realms of a fresh cluster (`domains.cfg`).
pub const REALMS: [(&str, &str, &str); 2] =
    [("pam", "pam", "Linux PAM standard authentication"), ("pve", "pve", "Proxmox VE authentication server")];

/// A password can be stored only in a realm that exists (AccessControl.pm `domain_set_password`).
fn check_realm(userid: &str) -> Result<(), String> {
    let realm = realm_of(userid);
    if REALMS.iter().any(|(id, _, _)| *id == realm) { Ok(()) } else { Err(format!("auth domain '{realm}' does not exist")) }
}

/// The privileges of a role, each checked (AccessControl.pm `add_role_privs`).
fn valid_privileges(privileges: &[String]) -> Result<BTreeSet<String>, String> {
    match privileges.iter().find(|p| !pve_api::privileges::is_valid(p)) {
        Some(invalid) => Err(format!("invalid privilege '{invalid}'")),
        None => Ok(privileges.iter().cloned().collect()),
    }
}
