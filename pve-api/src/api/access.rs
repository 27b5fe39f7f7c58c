//! Typed calls for access control (`/access/*`): roles, users, groups, ACL entries and API tokens,
//! reached through [`PveClient::access`]. Paths, parameters and answers follow the 9.1.3 schema;
//! the handlers are pve-access-control's `src/PVE/API2/{Role,User,Group,ACL}.pm` and
//! `API2/AccessControl.pm` (`change_password`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{flexible_bool, flexible_opt_bool, flexible_u64};
use crate::client::{Params, PveClient, Retry, segment};
use crate::error::ApiError;
use crate::secret::Secret;

/// A row of `GET /access/roles`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct Role {
    pub roleid: String,
    /// Comma-separated privileges (`pve-priv-list`); absent for a role with none.
    #[serde(default)]
    pub privs: Option<String>,
    /// Built-in (`role_is_special` in AccessControl.pm): PVE refuses to change or delete it.
    #[serde(default, deserialize_with = "flexible_bool")]
    pub special: bool,
}

impl Role {
    /// The privileges, sorted.
    pub fn privilege_list(&self) -> Vec<String> {
        let mut privileges: Vec<String> =
            self.privs.as_deref().unwrap_or_default().split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect();
        privileges.sort();
        privileges.dedup();
        privileges
    }
}

/// `GET /access/users/{userid}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct User {
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Unset means PVE's default, enabled.
    #[serde(default, deserialize_with = "flexible_opt_bool")]
    pub enable: Option<bool>,
    /// Epoch seconds; 0 or unset: never.
    #[serde(default, deserialize_with = "flexible_u64")]
    pub expire: Option<u64>,
    #[serde(default)]
    pub firstname: Option<String>,
    #[serde(default)]
    pub lastname: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// `GET /access/groups/{groupid}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct Group {
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub members: Vec<String>,
}

/// Who an ACL entry grants a role to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum AclSubject {
    User,
    Group,
    Token,
}

impl AclSubject {
    /// The `PUT /access/acl` parameter that names subjects of this kind.
    pub fn param(self) -> &'static str {
        match self {
            Self::User => "users",
            Self::Group => "groups",
            Self::Token => "tokens",
        }
    }
}

/// A row of `GET /access/acl`: one role granted on one path to one user, group or token.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct AclEntry {
    pub path: String,
    pub roleid: String,
    #[serde(rename = "type")]
    pub subject: AclSubject,
    /// The user, group or token ID.
    pub ugid: String,
    /// Unset means PVE's default, propagate.
    #[serde(default, deserialize_with = "flexible_opt_bool")]
    pub propagate: Option<bool>,
}

impl AclEntry {
    pub fn propagates(&self) -> bool {
        self.propagate != Some(false)
    }
}

/// `GET /access/users/{userid}/token/{tokenid}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct Token {
    #[serde(default)]
    pub comment: Option<String>,
    /// Epoch seconds; 0 or unset: never (or the user's expiry).
    #[serde(default, deserialize_with = "flexible_u64")]
    pub expire: Option<u64>,
    /// Unset means PVE's default, separated.
    #[serde(default, deserialize_with = "flexible_opt_bool")]
    pub privsep: Option<bool>,
}

/// `POST /access/users/{userid}/token/{tokenid}`: the only answer that carries the secret.
#[derive(Deserialize)]
pub struct CreatedToken {
    #[serde(rename = "full-tokenid")]
    pub full_tokenid: String,
    /// The secret; PVE never shows it again.
    pub value: Secret,
}

/// The `/access` part of the API.
pub struct Access<'a>(&'a PveClient);

impl PveClient {
    pub fn access(&self) -> Access<'_> {
        Access(self)
    }
}

impl Access<'_> {
    pub async fn roles(&self) -> Result<Vec<Role>, ApiError> {
        self.0.get("/access/roles", &Params::new()).await
    }

    pub async fn create_role(&self, roleid: &str, privileges: &[String]) -> Result<(), ApiError> {
        let params = Params::new().set("roleid", roleid).set("privs", privileges.join(","));
        let _: Value = self.0.post("/access/roles", &params, Retry::OnlyIfNotApplied).await?;
        Ok(())
    }

    /// Replaces the role's privileges (no `append`).
    pub async fn set_role_privileges(&self, roleid: &str, privileges: &[String]) -> Result<(), ApiError> {
        let _: Value = self.0.put(&format!("/access/roles/{}", segment(roleid)), &Params::new().set("privs", privileges.join(","))).await?;
        Ok(())
    }

    pub async fn delete_role(&self, roleid: &str) -> Result<(), ApiError> {
        let _: Value = self.0.delete(&format!("/access/roles/{}", segment(roleid)), &Params::new()).await?;
        Ok(())
    }

    pub async fn user(&self, userid: &str) -> Result<User, ApiError> {
        self.0.get(&format!("/access/users/{}", segment(userid)), &Params::new()).await
    }

    /// `params` may carry `password` (the initial one); it is sent in the form body only.
    pub async fn create_user(&self, params: &Params) -> Result<(), ApiError> {
        let _: Value = self.0.post("/access/users", params, Retry::OnlyIfNotApplied).await?;
        Ok(())
    }

    /// `groups` replaces the user's groups (no `append`).
    pub async fn update_user(&self, userid: &str, params: &Params) -> Result<(), ApiError> {
        let _: Value = self.0.put(&format!("/access/users/{}", segment(userid)), params).await?;
        Ok(())
    }

    pub async fn delete_user(&self, userid: &str) -> Result<(), ApiError> {
        let _: Value = self.0.delete(&format!("/access/users/{}", segment(userid)), &Params::new()).await?;
        Ok(())
    }

    /// `PUT /access/password`. PVE refuses API tokens here (`allowtoken: 0`), and asks anyone but
    /// root@pam to confirm with their own password (`reauth_user_for_user_modification` in
    /// RPCEnvironment.pm): the client sends its login password as `confirmation-password`.
    pub async fn change_password(&self, userid: &str, password: &Secret) -> Result<(), ApiError> {
        let mut params = Params::new().set("userid", userid).set("password", password.expose());
        if let Some(own) = self.0.login_password() {
            params.insert("confirmation-password", own.expose());
        }
        let _: Value = self.0.put("/access/password", &params).await?;
        Ok(())
    }

    pub async fn group(&self, groupid: &str) -> Result<Group, ApiError> {
        self.0.get(&format!("/access/groups/{}", segment(groupid)), &Params::new()).await
    }

    pub async fn create_group(&self, groupid: &str, comment: Option<&str>) -> Result<(), ApiError> {
        let params = Params::new().set("groupid", groupid).opt("comment", comment);
        let _: Value = self.0.post("/access/groups", &params, Retry::OnlyIfNotApplied).await?;
        Ok(())
    }

    /// An empty comment clears it (Group.pm stores what it is given).
    pub async fn set_group_comment(&self, groupid: &str, comment: &str) -> Result<(), ApiError> {
        let _: Value = self.0.put(&format!("/access/groups/{}", segment(groupid)), &Params::new().set("comment", comment)).await?;
        Ok(())
    }

    pub async fn delete_group(&self, groupid: &str) -> Result<(), ApiError> {
        let _: Value = self.0.delete(&format!("/access/groups/{}", segment(groupid)), &Params::new()).await?;
        Ok(())
    }

    pub async fn acl(&self) -> Result<Vec<AclEntry>, ApiError> {
        self.0.get("/access/acl", &Params::new()).await
    }

    /// Grants (or, with `revoke`, removes) one role on one path to one subject. Sending it twice
    /// gives the same ACL.
    pub async fn set_acl(&self, entry: &AclEntry, revoke: bool) -> Result<(), ApiError> {
        let mut params = Params::new().set("path", &entry.path).set("roles", &entry.roleid).set(entry.subject.param(), &entry.ugid);
        params = params.flag("propagate", entry.propagates());
        if revoke {
            params = params.flag("delete", true);
        }
        let _: Value = self.0.put("/access/acl", &params).await?;
        Ok(())
    }

    pub async fn token(&self, userid: &str, tokenid: &str) -> Result<Token, ApiError> {
        self.0.get(&token_path(userid, tokenid), &Params::new()).await
    }

    /// Creates the token; the answer holds its secret, which PVE never shows again.
    pub async fn create_token(&self, userid: &str, tokenid: &str, params: &Params) -> Result<CreatedToken, ApiError> {
        self.0.post(&token_path(userid, tokenid), params, Retry::OnlyIfNotApplied).await
    }

    pub async fn update_token(&self, userid: &str, tokenid: &str, params: &Params) -> Result<(), ApiError> {
        let _: Value = self.0.put(&token_path(userid, tokenid), params).await?;
        Ok(())
    }

    pub async fn delete_token(&self, userid: &str, tokenid: &str) -> Result<(), ApiError> {
        let _: Value = self.0.delete(&token_path(userid, tokenid), &Params::new()).await?;
        Ok(())
    }
}

fn token_path(userid: &str, tokenid: &str) -> String {
    format!("/access/users/{}/token/{}", segment(userid), segment(tokenid))
}
