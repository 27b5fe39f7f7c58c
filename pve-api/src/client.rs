//! The HTTP layer: one connection pool, authentication, PVE's envelope and error shapes, retries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::config::{ClientConfig, Credentials, MinTls, RetryPolicy};
use crate::error::ApiError;
use crate::secret::Secret;

/// Form or query parameters, in order, as PVE receives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.insert(key, value);
        self
    }

    pub fn opt(self, key: impl Into<String>, value: Option<impl ToString>) -> Self {
        match value {
            Some(value) => self.set(key, value),
            None => self,
        }
    }

    /// PVE booleans travel as 0/1.
    pub fn flag(self, key: impl Into<String>, value: bool) -> Self {
        self.set(key, if value { "1" } else { "0" })
    }

    pub fn insert(&mut self, key: impl Into<String>, value: impl ToString) {
        let key = key.into();
        let value = value.to_string();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether a request may be sent again after an ambiguous failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Reads, and writes that give the same result when repeated.
    Idempotent,
    /// Creates and actions: sent again only when the server certainly did not act on it.
    OnlyIfNotApplied,
}

/// Percent-encodes one path segment (UPIDs and volume IDs contain ':', '@', '!', '/').
pub fn segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (the inverse of [`segment`]); malformed escapes pass through.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Ticket {
    cookie: Secret,
    csrf: Secret,
    issued: Instant,
}

enum Auth {
    Token(Secret),
    Password { username: String, password: Secret, ticket: Mutex<Option<Ticket>> },
}

/// PVE tickets live two hours; renew well before.
const TICKET_RENEW_AFTER: Duration = Duration::from_secs(90 * 60);

#[derive(Clone)]
pub struct PveClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    retry: RetryPolicy,
}

impl std::fmt::Debug for PveClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PveClient").field("base", &self.inner.base).finish_non_exhaustive()
    }
}

/// rustls needs a process-wide crypto provider; we use ring everywhere.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl PveClient {
    pub fn new(config: ClientConfig) -> Result<Self, ApiError> {
        install_crypto_provider();
        let base = normalize_endpoint(&config.endpoint)?;
        if base.starts_with("http://") {
            if !config.insecure_http {
                return Err(ApiError::Config(format!(
                    "endpoint '{}' is plain HTTP, which would send the API token or password in clear; use https://, \
                     or opt in to plain HTTP explicitly (insecure_http / PVE_INSECURE_HTTP=1) for a test server",
                    config.endpoint
                )));
            }
            tracing::warn!(endpoint = %base, "plain HTTP to PVE: credentials travel unencrypted (insecure_http is set)");
        }
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            // pveproxy closes idle keep-alive connections after about 5 s; reusing one then
            // gives a reset, so drop ours first.
            .pool_idle_timeout(Duration::from_secs(4))
            .user_agent(concat!("pve-home/", env!("CARGO_PKG_VERSION")))
            .min_tls_version(match config.min_tls {
                MinTls::Tls12 => reqwest::tls::Version::TLS_1_2,
                MinTls::Tls13 => reqwest::tls::Version::TLS_1_3,
            });
        if config.insecure {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| ApiError::Config(format!("cannot read CA file {}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| ApiError::Config(format!("CA file {} is not PEM: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(ApiError::Config(format!("CA file {} holds no certificate", path.display())));
            }
            // Only this CA vouches for the cluster: a public CA's certificate for the node's name
            // must not be accepted in its place.
            builder = builder.tls_certs_only(certs);
        }
        let http = builder.build().map_err(|e| ApiError::Config(format!("cannot build HTTP client: {e}")))?;
        let auth = match config.credentials {
            Credentials::ApiToken { token_id, secret } => Auth::Token(Secret::new(format!("PVEAPIToken={token_id}={}", secret.expose()))),
            Credentials::Password { username, password } => Auth::Password { username, password, ticket: Mutex::new(None) },
        };
        Ok(Self { inner: Arc::new(Inner { http, base, auth, retry: config.retry }) })
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// True when the client signs in with an API token (PVE refuses tokens on some calls, such
    /// as a password change).
    pub fn authenticates_with_token(&self) -> bool {
        matches!(self.inner.auth, Auth::Token(_))
    }

    /// The password the client signs in with, for calls where PVE asks for it again.
    pub(crate) fn login_password(&self) -> Option<&Secret> {
        match &self.inner.auth {
            Auth::Password { password, .. } => Some(password),
            Auth::Token(_) => None,
        }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str, params: &Params) -> Result<T, ApiError> {
        self.call(Method::GET, path, params, Retry::Idempotent).await
    }

    pub async fn put<T: DeserializeOwned>(&self, path: &str, params: &Params) -> Result<T, ApiError> {
        self.call(Method::PUT, path, params, Retry::Idempotent).await
    }

    pub async fn post<T: DeserializeOwned>(&self, path: &str, params: &Params, retry: Retry) -> Result<T, ApiError> {
        self.call(Method::POST, path, params, retry).await
    }

    pub async fn delete<T: DeserializeOwned>(&self, path: &str, params: &Params) -> Result<T, ApiError> {
        self.call(Method::DELETE, path, params, Retry::Idempotent).await
    }

    /// Sends a request with retries and returns `data` decoded as `T`.
    pub async fn call<T: DeserializeOwned>(&self, method: Method, path: &str, params: &Params, retry: Retry) -> Result<T, ApiError> {
        let envelope = self.call_envelope(method.clone(), path, params, retry).await?;
        let data = envelope.get("data").cloned().unwrap_or(Value::Null);
        serde_json::from_value(data).map_err(|e| ApiError::Decode { request: describe(&method, path), detail: e.to_string() })
    }

    /// Sends a request with retries and returns the whole JSON envelope (`data`, `total`, …).
    pub async fn call_envelope(&self, method: Method, path: &str, params: &Params, retry: Retry) -> Result<Value, ApiError> {
        let policy = &self.inner.retry;
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let error = match self.send_once(method.clone(), path, params).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let retryable = !error.is_certificate_refusal()
                && match retry {
                    Retry::Idempotent => error.is_transient() || error.certainly_not_applied(),
                    Retry::OnlyIfNotApplied => error.certainly_not_applied(),
                };
            let elapsed = started.elapsed();
            if !retryable || attempt >= policy.max_attempts || elapsed >= policy.max_elapsed {
                return Err(if attempt > 1 && retryable {
                    ApiError::RetriesExhausted { attempts: attempt, elapsed, last: Box::new(error) }
                } else {
                    error
                });
            }
            let delay = backoff(policy, attempt);
            tracing::debug!(%error, attempt, ?delay, "retrying PVE request");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn send_once(&self, method: Method, path: &str, params: &Params) -> Result<Value, ApiError> {
        let request_name = describe(&method, path);
        let url = format!("{}{}", self.inner.base, path);
        let mut request = self.inner.http.request(method.clone(), &url);
        request = if method == Method::GET || method == Method::DELETE { request.query(&params.0) } else { request.form(&params.0) };
        request = self.authorize(request, &method).await?;
        let response = request.send().await.map_err(|cause| ApiError::Transport { request: request_name.clone(), cause })?;
        let status = response.status();
        let reason = reason_phrase(&response);
        let body = response.bytes().await.map_err(|cause| ApiError::Transport { request: request_name.clone(), cause })?;
        if status == StatusCode::UNAUTHORIZED {
            self.forget_ticket().await;
        }
        decode_response(&request_name, status, reason, &body)
    }

    async fn authorize(&self, request: reqwest::RequestBuilder, method: &Method) -> Result<reqwest::RequestBuilder, ApiError> {
        match &self.inner.auth {
            Auth::Token(header) => Ok(request.header(reqwest::header::AUTHORIZATION, header.expose())),
            Auth::Password { username, password, ticket } => {
                let mut guard = ticket.lock().await;
                if guard.as_ref().is_none_or(|t| t.issued.elapsed() > TICKET_RENEW_AFTER) {
                    *guard = Some(self.login(username, password).await?);
                }
                let t = guard.as_ref().expect("ticket set above");
                let mut request = request.header(reqwest::header::COOKIE, format!("PVEAuthCookie={}", t.cookie.expose()));
                if method != Method::GET {
                    request = request.header("CSRFPreventionToken", t.csrf.expose());
                }
                Ok(request)
            }
        }
    }

    async fn login(&self, username: &str, password: &Secret) -> Result<Ticket, ApiError> {
        let request_name = "POST /access/ticket".to_string();
        let response = self
            .inner
            .http
            .post(format!("{}/access/ticket", self.inner.base))
            .form(&[("username", username), ("password", password.expose())])
            .send()
            .await
            .map_err(|cause| ApiError::Transport { request: request_name.clone(), cause })?;
        let status = response.status();
        let reason = reason_phrase(&response);
        let body = response.bytes().await.map_err(|cause| ApiError::Transport { request: request_name.clone(), cause })?;
        let envelope = decode_response(&request_name, status, reason, &body)?;
        let field = |name: &str| {
            envelope["data"][name]
                .as_str()
                .map(Secret::new)
                .ok_or_else(|| ApiError::Decode { request: request_name.clone(), detail: format!("no {name} in ticket response") })
        };
        Ok(Ticket { cookie: field("ticket")?, csrf: field("CSRFPreventionToken")?, issued: Instant::now() })
    }

    async fn forget_ticket(&self) {
        if let Auth::Password { ticket, .. } = &self.inner.auth {
            *ticket.lock().await = None;
        }
    }
}

/// PVE puts its error message in the HTTP status line (401s and 403s often have no body).
fn reason_phrase(response: &reqwest::Response) -> Option<String> {
    response.extensions().get::<hyper::ext::ReasonPhrase>().map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
}

fn describe(method: &Method, path: &str) -> String {
    format!("{method} {path}")
}

fn normalize_endpoint(endpoint: &str) -> Result<String, ApiError> {
    let url = url::Url::parse(endpoint.trim()).map_err(|e| ApiError::Config(format!("endpoint '{endpoint}' is not a URL: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(ApiError::Config(format!("endpoint '{endpoint}' must be an http(s) URL with a host, e.g. https://pve1:8006")));
    }
    let trimmed = url.as_str().trim_end_matches('/');
    let base = trimmed.strip_suffix("/api2/json").unwrap_or(trimmed);
    Ok(format!("{base}/api2/json"))
}

/// Full jitter: a random delay up to the exponential bound, so parallel clients spread out.
fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exp = policy.initial_backoff.saturating_mul(1u32 << attempt.min(16).saturating_sub(1));
    let cap = exp.min(policy.max_backoff);
    let floor = cap / 4;
    let jitter = rand::rng().random_range(0..=cap.saturating_sub(floor).as_millis() as u64);
    floor + Duration::from_millis(jitter)
}

/// Turns PVE's status, reason and body into the envelope or a typed error.
fn decode_response(request: &str, status: StatusCode, reason: Option<String>, body: &[u8]) -> Result<Value, ApiError> {
    let request = request.to_string();
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if status.is_success() {
        return json.ok_or_else(|| ApiError::Decode { request, detail: format!("body is not JSON ({} bytes)", body.len()) });
    }
    let body_message = json.as_ref().and_then(|j| j.get("message")).and_then(Value::as_str).map(|m| m.trim_end().to_string());
    let message =
        body_message.or(reason).filter(|m| !m.is_empty()).unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    let code = status.as_u16();
    Err(match code {
        400 => {
            let errors = json
                .as_ref()
                .and_then(|j| j.get("errors"))
                .and_then(Value::as_object)
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))).collect())
                .unwrap_or_else(|| [("(request)".to_string(), message.clone())].into());
            ApiError::Parameters { request, errors }
        }
        401 => ApiError::Unauthorized { request, message },
        403 => ApiError::Forbidden { request, message },
        501 => ApiError::NotImplemented { request, message },
        595..=599 => ApiError::Proxy { request, status: code, message },
        _ => ApiError::Server { request, status: code, message },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_gets_api_suffix_once() {
        assert_eq!(normalize_endpoint("https://pve:8006").unwrap(), "https://pve:8006/api2/json");
        assert_eq!(normalize_endpoint("https://pve:8006/api2/json/").unwrap(), "https://pve:8006/api2/json");
        assert!(normalize_endpoint("pve:8006").is_err());
        assert!(normalize_endpoint("ftp://pve").is_err());
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("local:backup/vzdump-qemu-100.vma.zst"), "local%3Abackup%2Fvzdump-qemu-100.vma.zst");
        assert_eq!(segment("UPID:pve1:root@pam!t:"), "UPID%3Apve1%3Aroot%40pam%21t%3A");
        assert_eq!(percent_decode(&segment("a b/c:%d\n")), "a b/c:%d\n");
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn decodes_parameter_errors() {
        let body =
            br#"{"data":null,"message":"Parameter verification failed.\n","errors":{"vmid":"value must have a minimum value of 100\n"}}"#;
        let err = decode_response("POST /nodes/pve1/qemu", StatusCode::BAD_REQUEST, None, body).unwrap_err();
        let ApiError::Parameters { errors, .. } = &err else { panic!("{err:?}") };
        assert_eq!(errors["vmid"], "value must have a minimum value of 100\n");
        assert_eq!(err.to_string(), "POST /nodes/pve1/qemu: parameter verification failed: vmid: value must have a minimum value of 100");
    }

    #[test]
    fn classifies_server_errors() {
        let lock = decode_response(
            "PUT /x",
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            br#"{"data":null,"message":"can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout\n"}"#,
        )
        .unwrap_err();
        assert!(lock.is_lock_timeout() && lock.certainly_not_applied() && lock.is_transient());
        let exists = decode_response(
            "POST /x",
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            br#"{"data":null,"message":"VM 100 already exists on node 'pve1'\n"}"#,
        )
        .unwrap_err();
        assert!(exists.is_already_exists() && !exists.is_transient());
        let proxy = decode_response("GET /x", StatusCode::from_u16(596).unwrap(), Some("Broken pipe".into()), b"").unwrap_err();
        assert!(matches!(proxy, ApiError::Proxy { status: 596, .. }) && proxy.is_transient() && !proxy.certainly_not_applied());
        assert_eq!(proxy.to_string(), "GET /x: node unreachable: 596 Broken pipe");
        let denied =
            decode_response("PUT /x", StatusCode::FORBIDDEN, Some("Permission check failed (/vms/100, VM.Config.Memory)".into()), b"")
                .unwrap_err();
        assert!(matches!(denied, ApiError::Forbidden { .. }) && !denied.is_transient());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy::default();
        for attempt in 1..20 {
            let d = backoff(&policy, attempt);
            assert!(d <= policy.max_backoff, "{d:?}");
        }
        let first = backoff(&policy, 1);
        assert!(first <= policy.initial_backoff && first >= policy.initial_backoff / 4);
    }
}
