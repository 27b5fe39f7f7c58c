//! The HTTP(S) front: TLS with a generated certificate, PVE's auth (tokens, tickets + CSRF),
//! schema validation, privilege checks, fault injection, the request log and PVE's response shapes.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

use crate::api::{self, Answer};
use crate::auth::{Users, csrf_token, parse_tokens, ticket_user};
use crate::error::PveError;
use crate::model::access::PermissionCheck;
use crate::schema::SCHEMA;
use crate::state::Emulator;
use crate::state::now;

/// Who made a request.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `root@pam` or `root@pam!terraform`.
    pub userid: String,
}

pub struct Server {
    emulator: Arc<Emulator>,
    request_log: Option<Mutex<std::fs::File>>,
}

/// A started emulator.
pub struct RunningEmulator {
    pub addr: SocketAddr,
    /// `https://127.0.0.1:PORT` (or http with --plain-http).
    pub url: String,
    /// PEM of the self-signed certificate, when serving TLS.
    pub certificate_pem: Option<String>,
    pub emulator: Arc<Emulator>,
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl RunningEmulator {
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts serving; returns once the listener is bound.
pub async fn serve(config: crate::config::EmulatorConfig) -> anyhow::Result<RunningEmulator> {
    pve_api::install_crypto_provider();
    let tokens = parse_tokens(&config.tokens)?;
    let users = Users::parse(&config.users)?;
    let request_log = match &config.request_log {
        Some(path) => Some(Mutex::new(open_private_log(path).map_err(|e| anyhow::anyhow!("opening request log {}: {e}", path.display()))?)),
        None => None,
    };
    let listener = TcpListener::bind(config.listen).await.map_err(|e| anyhow::anyhow!("binding {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let plain = config.plain_http;
    let cert_out = config.cert_out.clone();
    let emulator = Emulator::new(config, users, &tokens)?;
    emulator.start_ha_manager();
    let server = Arc::new(Server { emulator: emulator.clone(), request_log });

    let (tls, certificate_pem) = if plain {
        (None, None)
    } else {
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "pve1".to_string(), addr.ip().to_string()];
        let certified = rcgen::generate_simple_self_signed(names)?;
        let pem = certified.cert.pem();
        if let Some(path) = &cert_out {
            std::fs::write(path, &pem).map_err(|e| anyhow::anyhow!("writing certificate to {}: {e}", path.display()))?;
        }
        let key = rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let tls_config = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(vec![certified.cert.der().clone()], key)?;
        (Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls_config))), Some(pem))
    };

    let (shutdown, mut shutdown_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => { tracing::warn!("accept failed: {e}"); continue; }
                },
                _ = shutdown_rx.changed() => break,
            };
            let server = server.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let server = server.clone();
                    async move { server.handle(req).await }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                let result = match tls {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(stream) => builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await,
                        Err(e) => return tracing::debug!("TLS handshake with {peer} failed: {e}"),
                    },
                    None => builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await,
                };
                if let Err(e) = result {
                    tracing::debug!("connection from {peer} ended: {e}");
                }
            });
        }
    });
    let scheme = if plain { "http" } else { "https" };
    Ok(RunningEmulator { addr, url: format!("{scheme}://{addr}"), certificate_pem, emulator, shutdown })
}

/// Raised to make hyper drop the connection without a response (injected reset).
#[derive(Debug)]
struct InjectedReset;

impl std::fmt::Display for InjectedReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected connection reset")
    }
}

impl std::error::Error for InjectedReset {}

impl Server {
    async fn handle(self: Arc<Self>, req: Request<hyper::body::Incoming>) -> Result<Response<Body>, InjectedReset> {
        let started = Instant::now();
        let (parts, body) = req.into_parts();
        let method = parts.method.as_str().to_string();
        let path = parts.uri.path().to_string();
        let query = parts.uri.query().unwrap_or("").to_string();
        let headers = parts.headers;
        let no_params = BTreeMap::new();

        let config = &self.emulator.config;
        if config.latency_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(config.latency_ms)).await;
        }
        // A write's dropped connection strikes before or after it is carried out (lost_answer_rate).
        let writes = method != "GET";
        let reset = self.emulator.chance(config.reset_rate);
        let reset_after = reset && writes && self.emulator.chance(config.lost_answer_rate);
        if reset && !reset_after {
            self.log_request(&method, &path, &no_params, 0, started, "-");
            return Err(InjectedReset);
        }
        if let Some(control) = path.strip_prefix(crate::admin::PREFIX) {
            let identity = self.authenticate(&method, &path, &headers);
            let user = identity.as_ref().ok().and_then(Option::as_ref).map(|i| i.userid.clone()).unwrap_or_else(|| "-".into());
            let result = identity.and_then(|identity| crate::admin::handle(&self.emulator, &method, control, identity.as_ref()));
            return Ok(self.finish(&method, &path, &no_params, result, started, &user).await);
        }
        let Some(api_path) = path.strip_prefix("/api2/json") else {
            let error = PveError::status(501, format!("Method '{method} {path}' not implemented"));
            return Ok(self.finish(&method, &path, &no_params, Err(error), started, "-").await);
        };
        let api_path = if api_path.is_empty() { "/" } else { api_path };
        // As pveproxy: credentials come from the headers and are checked before any body is read,
        // and a body larger than the limit is refused from its declared length, unread.
        let identity = match self.authenticate(&method, api_path, &headers) {
            Ok(identity) => identity,
            Err(e) => return Ok(self.finish(&method, api_path, &no_params, Err(e), started, "-").await),
        };
        let user = identity.as_ref().map(|i| i.userid.clone()).unwrap_or_else(|| "-".into());
        let too_large = || PveError::status(501, "for data too large");
        let declared = headers.get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > MAX_POST_BYTES as u64) {
            return Ok(self.finish(&method, api_path, &no_params, Err(too_large()), started, &user).await);
        }
        let body = match http_body_util::Limited::new(body, MAX_POST_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
                return Ok(self.finish(&method, api_path, &no_params, Err(too_large()), started, &user).await);
            }
            Err(_) => Bytes::new(),
        };
        let params = match parse_params(&query, &headers, &body) {
            Ok(p) => p,
            Err(message) => {
                return Ok(self.finish(&method, api_path, &no_params, Err(PveError::status(400, message)), started, &user).await);
            }
        };
        let result = self.dispatch(&method, api_path, params.clone(), identity).await;
        if reset_after {
            self.log_request(&method, api_path, &params, 0, started, &user);
            return Err(InjectedReset);
        }
        Ok(self.finish(&method, api_path, &params, result, started, &user).await)
    }

    fn authenticate(&self, method: &str, path: &str, headers: &hyper::HeaderMap) -> Result<Option<Identity>, PveError> {
        if path == "/access/ticket" && method == "POST" {
            return Ok(None);
        }
        if let Some(auth) = headers.get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
            let failed = || PveError::status(401, "Authentication failed!");
            let token = auth.strip_prefix("PVEAPIToken=").ok_or_else(failed)?;
            // USER@REALM!TOKENID=SECRET (a space instead of '=' is accepted too)
            let (id, secret) = token.split_once('=').or_else(|| token.split_once(' ')).ok_or_else(failed)?;
            // Tokens made through the API and those from --tokens alike; the secret is compared in
            // constant time, and an expired token or one of a disabled or expired user fails as
            // PVE's `verify_token` does.
            let valid = self.emulator.cluster().access.token_authenticates(id, secret, now());
            return if valid { Ok(Some(Identity { userid: id.to_string() })) } else { Err(failed()) };
        }
        let cookie = headers
            .get_all(hyper::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix("PVEAuthCookie=").map(str::to_string));
        let Some(ticket) = cookie.map(|c| c.replace("%3A", ":").replace("%3a", ":")) else {
            return Err(PveError::status(401, "No ticket"));
        };
        let (userid, stamp) =
            ticket_user(&self.emulator.ticket_secret, &ticket).ok_or_else(|| PveError::status(401, "Authentication failed!"))?;
        if method != "GET" {
            let expected = csrf_token(&self.emulator.ticket_secret, &userid, &stamp);
            let given = headers.get("CSRFPreventionToken").and_then(|v| v.to_str().ok());
            if !given.is_some_and(|given| bool::from(given.as_bytes().ct_eq(expected.as_bytes()))) {
                return Err(PveError::status(401, "Permission denied - invalid csrf token"));
            }
        }
        // A ticket stays valid only while its user may log in (`check_user_enabled`).
        if !self.emulator.cluster().access.is_active(&userid, now()) {
            return Err(PveError::status(401, "Authentication failed!"));
        }
        Ok(Some(Identity { userid }))
    }

    async fn dispatch(
        &self,
        method: &str,
        path: &str,
        mut params: BTreeMap<String, String>,
        identity: Option<Identity>,
    ) -> Result<Answer, PveError> {
        let not_implemented = || PveError::status(501, format!("Method '{method} {path}' not implemented"));
        let route = SCHEMA.route(method, path).ok_or_else(not_implemented)?;
        let key = route.spec.key();
        let handler = api::handler(&key).ok_or_else(not_implemented)?;
        for (name, value) in &route.path_params {
            params.insert(name.clone(), value.clone());
        }
        SCHEMA.validate(route.spec, &params).map_err(PveError::params)?;
        // The method's own check from the schema. PVE makes it before the handler validates the
        // parameters (pve-manager `HTTPServer.pm` rest_handler); here validation comes first, so
        // every endpoint refuses unknown parameters alike, whoever calls. Handlers make the
        // checks inside them themselves (`ApiRequest::check`).
        // pveproxy proxies a request for another node to it after authentication; a node that is
        // down does not answer, and the permission check would have happened there.
        if key.contains(" /nodes/{node}")
            && let Some(node) = params.get("node")
        {
            self.emulator.cluster().proxy_to(node)?;
        }
        let authid = identity.as_ref().map(|i| i.userid.as_str());
        if authid.is_some_and(|id| id.contains('!')) && !route.spec.allowtoken {
            // pve-manager `HTTPServer.pm` rest_handler, before the permission check.
            return Err(PveError::status(
                403,
                format!("Permission check failed (URI '{path}' not available with API token, need proper ticket.\n)"),
            ));
        }
        PermissionCheck { cluster: &self.emulator.cluster(), authid, params: &params }.method(&route.spec.permissions)?;
        let config = &self.emulator.config;
        let fault = if self.emulator.chance(config.proxy_error_rate) {
            Some(PveError::status(596, "Broken pipe"))
        } else if self.emulator.chance(config.error_rate) {
            Some(PveError::server("injected fault: internal server error"))
        } else {
            None
        };
        let mutating = method != "GET";
        // A fault on a write strikes before it is carried out, or after (the answer is lost).
        let answer_lost = fault.is_some() && mutating && self.emulator.chance(config.lost_answer_rate);
        if let Some(fault) = fault.as_ref().filter(|_| !answer_lost) {
            return Err(fault.clone());
        }
        let node = params.get("node").cloned().unwrap_or_else(|| "pve1".into());
        let _worker = self.emulator.worker(&node).await;
        let request = api::ApiRequest {
            emulator: self.emulator.clone(),
            key,
            params,
            // Only `POST /access/ticket` runs without an identity; it holds no privileges.
            user: identity.map(|i| i.userid).unwrap_or_default(),
        };
        let result = handler(request).await;
        if mutating && result.is_ok() {
            self.emulator.persist();
        }
        match fault {
            Some(fault) => Err(fault),
            None => result,
        }
    }

    async fn finish(
        &self,
        method: &str,
        path: &str,
        params: &BTreeMap<String, String>,
        result: Result<Answer, PveError>,
        started: Instant,
        user: &str,
    ) -> Response<Body> {
        let unauthorized = matches!(&result, Err(e) if e.status == 401);
        if unauthorized {
            // pveproxy holds every 401 back (3 s from the request's start), which slows guessing.
            let delay = std::time::Duration::from_millis(self.emulator.config.auth_failure_delay_ms);
            tokio::time::sleep(delay.saturating_sub(started.elapsed())).await;
        }
        // A failed login's parameters are its guesses: never logged.
        let no_params = BTreeMap::new();
        let logged = if unauthorized { &no_params } else { params };
        let (status, response) = match result {
            Ok(answer) => (200, json_response(StatusCode::OK, None, &answer.into_body())),
            Err(error) => {
                let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let reason = error.message.lines().next().unwrap_or("").to_string();
                let response = match error.status {
                    400 => json_response(
                        status,
                        Some(&reason),
                        &json!({ "data": null, "message": format!("{}\n", error.message), "errors": error.errors.unwrap_or_default().into_iter().map(|(k, v)| (k, format!("{v}\n"))).collect::<BTreeMap<_, _>>() }),
                    ),
                    // Failed logins at /access/ticket carry a JSON body; other 401s are empty.
                    401 if path != "/access/ticket" => empty_response(status, &reason),
                    _ => json_response(status, Some(&reason), &json!({ "data": null, "message": format!("{}\n", error.message) })),
                };
                (error.status, response)
            }
        };
        self.log_request(method, path, logged, status, started, user);
        response
    }

    fn log_request(&self, method: &str, path: &str, params: &BTreeMap<String, String>, status: u16, started: Instant, user: &str) {
        let Some(log) = &self.request_log else { return };
        let params: BTreeMap<&str, &str> =
            params.iter().map(|(k, v)| (k.as_str(), if SCHEMA.is_secret(k) { "<redacted>" } else { v.as_str() })).collect();
        let line = json!({
            "ts": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "method": method, "path": path, "params": params, "status": status,
            "ms": started.elapsed().as_secs_f64() * 1000.0, "user": user,
        });
        let mut file = log.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(file, "{line}");
    }
}

/// The request log, created 0600 (it names users, guests and paths), and made 0600 if it was not.
fn open_private_log(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

/// pveproxy's `$limit_max_post` (pve-http-server `PVE/APIServer/AnyEvent.pm`): larger bodies are
/// answered `501 for data too large` without being read.
pub const MAX_POST_BYTES: usize = 512 * 1024;

/// A random secret for a generated token, in the UUID shape PVE gives token secrets.
pub fn random_secret() -> String {
    let bits: u128 = rand::random();
    let hex = format!("{bits:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

fn json_response(status: StatusCode, reason: Option<&str>, body: &Value) -> Response<Body> {
    let mut response = Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json;charset=UTF-8")
        .header(hyper::header::CACHE_CONTROL, "max-age=0")
        .body(Body::from(body.to_string()))
        .unwrap_or_default();
    if let Some(reason) = reason {
        set_reason(&mut response, reason);
    }
    response
}

fn empty_response(status: StatusCode, reason: &str) -> Response<Body> {
    let mut response = Response::builder().status(status).body(Body::empty()).unwrap_or_default();
    set_reason(&mut response, reason);
    response
}

/// PVE puts the error message in the HTTP status line; clients such as proxmoxer show it.
fn set_reason(response: &mut Response<Body>, reason: &str) {
    let printable: String = reason.chars().filter(|c| (' '..='~').contains(c)).take(200).collect();
    if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(Bytes::from(printable)) {
        response.extensions_mut().insert(phrase);
    }
}

/// Query string, then a form or JSON body; JSON booleans and numbers become PVE's text forms.
fn parse_params(query: &str, headers: &hyper::HeaderMap, body: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let mut params: BTreeMap<String, String> =
        serde_urlencoded::from_str::<Vec<(String, String)>>(query).map_err(|e| format!("invalid query string: {e}"))?.into_iter().collect();
    if body.is_empty() {
        return Ok(params);
    }
    let content_type = headers.get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("application/json") {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
        let object = value.as_object().ok_or("JSON body must be an object")?;
        for (k, v) in object {
            let text = match v {
                Value::Null => continue,
                Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
                Value::String(s) => s.clone(),
                Value::Array(items) => {
                    items.iter().map(|i| i.as_str().map(str::to_string).unwrap_or_else(|| i.to_string())).collect::<Vec<_>>().join(",")
                }
                other => other.to_string(),
            };
            params.insert(k.clone(), text);
        }
    } else {
        for (k, v) in serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).map_err(|e| format!("invalid form body: {e}"))? {
            params.insert(k, v);
        }
    }
    Ok(params)
}
