//! How to reach and authenticate against a PVE cluster.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::ApiError;
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub enum Credentials {
    /// `USER@REALM!TOKENID` and its secret; sent as `Authorization: PVEAPIToken=…`.
    ApiToken { token_id: String, secret: Secret },
    /// A ticket is requested from /access/ticket and renewed before it expires.
    Password { username: String, password: Secret },
}

impl Credentials {
    /// Parses the combined form `USER@REALM!TOKENID=SECRET` that PVE shows when a token is created.
    pub fn api_token(combined: &str) -> Result<Self, ApiError> {
        let (token_id, secret) =
            combined.split_once('=').ok_or_else(|| ApiError::Config("API token must look like USER@REALM!TOKENID=SECRET".into()))?;
        let valid_id = token_id.split_once('!').is_some_and(|(user, name)| user.contains('@') && !name.is_empty());
        if !valid_id || secret.is_empty() {
            return Err(ApiError::Config("API token must look like USER@REALM!TOKENID=SECRET".into()));
        }
        Ok(Self::ApiToken { token_id: token_id.to_string(), secret: Secret::new(secret) })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinTls {
    Tls12,
    Tls13,
}

impl MinTls {
    /// `1.2` or `1.3` (as `PVE_MIN_TLS` and the provider's `min_tls` take it).
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        match text.trim() {
            "1.2" => Ok(Self::Tls12),
            "1.3" => Ok(Self::Tls13),
            other => Err(ApiError::Config(format!("minimum TLS version '{other}' must be 1.2 or 1.3"))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// No retry starts after this much time has passed since the first attempt.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    pub fn none() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://host:8006` (the `/api2/json` suffix is optional).
    pub endpoint: String,
    pub credentials: Credentials,
    /// Skip TLS certificate verification. Off unless asked for.
    pub insecure: bool,
    /// Accept an `http://` endpoint (credentials in clear). Off unless asked for: test servers only.
    pub insecure_http: bool,
    /// PEM file with the CA that signed the cluster's certificate (PVE's own CA by default).
    pub ca_file: Option<PathBuf>,
    pub min_tls: MinTls,
    /// Per-request timeout.
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl ClientConfig {
    pub fn new(endpoint: impl Into<String>, credentials: Credentials) -> Self {
        Self {
            endpoint: endpoint.into(),
            credentials,
            insecure: false,
            insecure_http: false,
            ca_file: None,
            min_tls: MinTls::Tls12,
            timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }

    /// Reads `PVE_ENDPOINT`, `PVE_API_TOKEN` or `PVE_USERNAME` + `PVE_PASSWORD`, `PVE_INSECURE`,
    /// `PVE_INSECURE_HTTP`, `PVE_CA_FILE`, `PVE_MIN_TLS` (`1.2` or `1.3`), `PVE_TIMEOUT` (seconds).
    pub fn from_env() -> Result<Self, ApiError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let endpoint = var("PVE_ENDPOINT").ok_or_else(|| ApiError::Config("PVE_ENDPOINT is not set".into()))?;
        let credentials = match (var("PVE_API_TOKEN"), var("PVE_USERNAME"), var("PVE_PASSWORD")) {
            (Some(token), _, _) => Credentials::api_token(&token)?,
            (None, Some(username), Some(password)) => Credentials::Password { username, password: Secret::new(password) },
            _ => {
                return Err(ApiError::Config("set PVE_API_TOKEN, or PVE_USERNAME and PVE_PASSWORD".into()));
            }
        };
        let mut config = Self::new(endpoint, credentials);
        let flag = |name: &str| var(name).is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
        config.insecure = flag("PVE_INSECURE");
        config.insecure_http = flag("PVE_INSECURE_HTTP");
        config.ca_file = var("PVE_CA_FILE").map(PathBuf::from);
        if let Some(min_tls) = var("PVE_MIN_TLS") {
            config.min_tls = MinTls::parse(&min_tls)?;
        }
        if let Some(secs) = var("PVE_TIMEOUT") {
            let secs: u64 = secs.parse().map_err(|_| ApiError::Config(format!("PVE_TIMEOUT '{secs}' is not a number of seconds")))?;
            config.timeout = Duration::from_secs(secs);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_combined_token() {
        let Credentials::ApiToken { token_id, secret } = Credentials::api_token("root@pam!tf=abc-123").unwrap() else {
            panic!("expected token")
        };
        assert_eq!(token_id, "root@pam!tf");
        assert_eq!(secret.expose(), "abc-123");
        for bad in ["root@pam!tf", "root@pam=abc", "rootpam!tf=abc", "root@pam!tf="] {
            assert!(Credentials::api_token(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn min_tls_parses_the_two_versions() {
        assert_eq!(MinTls::parse("1.2").unwrap(), MinTls::Tls12);
        assert_eq!(MinTls::parse(" 1.3 ").unwrap(), MinTls::Tls13);
        assert!(MinTls::parse("1.1").is_err());
    }

    #[test]
    fn token_secret_is_not_in_debug_output() {
        let config = ClientConfig::new("https://pve:8006", Credentials::api_token("root@pam!tf=very-secret").unwrap());
        assert!(!format!("{config:?}").contains("very-secret"));
    }
}
