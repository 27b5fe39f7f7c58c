//! Credentials: the configured API tokens and users, parsed once at start, and PVE's tickets with
//! their CSRF tokens. Secrets are compared in constant time.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::state::now;

/// An API token from `--tokens`.
pub struct TokenDef {
    pub id: String,
    pub secret: String,
    pub read_only: bool,
}

/// `USER@REALM!NAME=SECRET` specs, `:ro` appended for read-only tokens.
pub fn parse_tokens(specs: &[String]) -> anyhow::Result<Vec<TokenDef>> {
    specs
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|spec| {
            let (spec, read_only) = match spec.strip_suffix(":ro") {
                Some(s) => (s, true),
                None => (spec.as_str(), false),
            };
            let (id, secret) = spec.split_once('=').ok_or_else(|| anyhow::anyhow!("token '{spec}' must be USER@REALM!NAME=SECRET"))?;
            anyhow::ensure!(id.contains('@') && id.contains('!'), "token id '{id}' must be USER@REALM!NAME");
            Ok(TokenDef { id: id.to_string(), secret: secret.to_string(), read_only })
        })
        .collect()
}

/// Users who may log in with a password (`--users`), by user ID.
#[derive(Clone, Default)]
pub struct Users {
    passwords: BTreeMap<String, String>,
}

impl Users {
    /// `USER@REALM:PASSWORD` specs; parsed at start so a typo fails then, not at the first login.
    pub fn parse(specs: &[String]) -> anyhow::Result<Self> {
        let mut passwords = BTreeMap::new();
        for spec in specs.iter().filter(|s| !s.trim().is_empty()) {
            let (userid, password) = spec.split_once(':').ok_or_else(|| anyhow::anyhow!("user '{spec}' must be USER@REALM:PASSWORD"))?;
            // A user listed twice keeps the first password, as when logins searched the list.
            passwords.entry(userid.to_string()).or_insert_with(|| password.to_string());
        }
        Ok(Self { passwords })
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.passwords.keys().map(String::as_str)
    }

    pub fn password_matches(&self, userid: &str, password: &str) -> bool {
        let expected = self.passwords.get(userid);
        // Constant time, and a comparison even for an unknown user, so timing tells nothing.
        let matches = expected.map_or("", String::as_str).as_bytes().ct_eq(password.as_bytes());
        expected.is_some() && bool::from(matches)
    }
}

fn sign(secret: &str, text: &str) -> String {
    hex::encode(Sha256::digest(format!("{secret}:{text}").as_bytes()))
}

/// The CSRF token that goes with a ticket issued at `stamp`.
pub fn csrf_token(secret: &str, userid: &str, stamp: &str) -> String {
    format!("{stamp}:{}", sign(secret, &format!("csrf:{userid}:{stamp}")))
}

/// PVE ticket: `PVE:USER:HEXTIME::SIGNATURE`, valid two hours; with its CSRF token.
pub fn make_ticket(secret: &str, userid: &str) -> (String, String) {
    let stamp = format!("{:08X}", now());
    let ticket = format!("PVE:{userid}:{stamp}::{}", sign(secret, &format!("{userid}:{stamp}")));
    (ticket, csrf_token(secret, userid, &stamp))
}

/// The user and issue stamp of a valid, unexpired ticket.
pub fn ticket_user(secret: &str, ticket: &str) -> Option<(String, String)> {
    let rest = ticket.strip_prefix("PVE:")?;
    let (userid, rest) = rest.split_once(':')?;
    let (stamp, signature) = rest.split_once("::")?;
    let issued = i64::from_str_radix(stamp, 16).ok()?;
    let valid = bool::from(signature.as_bytes().ct_eq(sign(secret, &format!("{userid}:{stamp}")).as_bytes()));
    (valid && now() - issued < 7200).then(|| (userid.to_string(), stamp.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(specs: &[&str]) -> anyhow::Result<Users> {
        Users::parse(&specs.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn users_are_parsed_once_and_checked_by_password() {
        let users = users(&["root@pam:first", " ", "root@pam:second", "admin@pve:a:b"]).unwrap();
        assert!(users.password_matches("root@pam", "first"));
        assert!(!users.password_matches("root@pam", "second"));
        assert!(users.password_matches("admin@pve", "a:b"));
        assert!(!users.password_matches("nobody@pam", ""));
    }

    #[test]
    fn a_user_without_password_is_refused_at_start() {
        let error = users(&["root@pam"]).err().expect("refused").to_string();
        assert_eq!(error, "user 'root@pam' must be USER@REALM:PASSWORD");
    }
}
