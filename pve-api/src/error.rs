//! Errors that keep the shape PVE gave them, each naming the request it came from.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::upid::Upid;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// HTTP 400: PVE's per-parameter verification errors.
    #[error("{request}: parameter verification failed: {}", describe_params(.errors))]
    Parameters { request: String, errors: BTreeMap<String, String> },
    #[error("{request}: authentication failed: {message}")]
    Unauthorized { request: String, message: String },
    #[error("{request}: {message}")]
    Forbidden { request: String, message: String },
    #[error("{request}: {message} (HTTP 501)")]
    NotImplemented { request: String, message: String },
    /// 595-599: a proxy hop between pveproxy and the target node failed.
    #[error("{request}: node unreachable: {status} {message}")]
    Proxy { request: String, status: u16, message: String },
    /// Any other non-success status, usually 500 with the handler's message.
    #[error("{request}: {message} (HTTP {status})")]
    Server { request: String, status: u16, message: String },
    /// With the whole chain of causes in the message, since reqwest's own text ("error sending
    /// request") hides the one that matters, e.g. "invalid peer certificate: UnknownIssuer". So it
    /// is not also given as the error's source: `{:#}` would say it all twice.
    #[error("{request}: {}", causes(.cause))]
    Transport { request: String, cause: reqwest::Error },
    #[error("{request}: unexpected response: {detail}")]
    Decode { request: String, detail: String },
    #[error("task {upid} failed: {exitstatus}{}", describe_log(.log_tail))]
    TaskFailed { upid: Box<Upid>, exitstatus: String, log_tail: Vec<String> },
    #[error("task {upid} still running after {timeout:?}")]
    TaskTimeout { upid: Box<Upid>, timeout: Duration },
    #[error("gave up after {attempts} attempts over {elapsed:?}: {last}")]
    RetriesExhausted { attempts: u32, elapsed: Duration, last: Box<ApiError> },
    #[error("invalid client configuration: {0}")]
    Config(String),
}

fn describe_params(errors: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (i, (param, message)) in errors.iter().enumerate() {
        let sep = if i == 0 { "" } else { "; " };
        let _ = write!(out, "{sep}{param}: {}", message.trim_end());
    }
    out
}

fn describe_log(lines: &[String]) -> String {
    if lines.is_empty() { String::new() } else { format!("\n  task log (tail):\n    {}", lines.join("\n    ")) }
}

impl ApiError {
    /// The server's message, without the request prefix.
    pub fn message(&self) -> String {
        match self {
            Self::Unauthorized { message, .. }
            | Self::Forbidden { message, .. }
            | Self::NotImplemented { message, .. }
            | Self::Proxy { message, .. }
            | Self::Server { message, .. } => message.clone(),
            Self::RetriesExhausted { last, .. } => last.message(),
            other => other.to_string(),
        }
    }

    /// PVE's 10 s config flock expired: the request was never applied and may be sent again.
    pub fn is_lock_timeout(&self) -> bool {
        match self {
            // PVE's file locks (`can't lock file '…' - got timeout`) and pmxcfs's cluster-wide
            // ones (`cfs-lock 'storage-…' error: got lock request timeout`).
            Self::Server { message, .. } => {
                (message.contains("can't lock file") && message.contains("got timeout")) || message.contains("got lock request timeout")
            }
            Self::RetriesExhausted { last, .. } => last.is_lock_timeout(),
            _ => false,
        }
    }

    /// The guest's config carries a `lock` (clone, backup, snapshot, …) that a running task will clear.
    pub fn is_guest_locked(&self) -> bool {
        matches!(self, Self::Server { message, .. } if message.contains(" is locked ("))
    }

    /// PVE's answer for something that is not there: `… does not exist` (most handlers), `no such
    /// user ('…')` and `no such token '…' for user '…'` (pve-access-control `AccessControl.pm`
    /// `check_user_exist`, `check_token_exist`).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Server { message, .. }
            if message.contains("does not exist") || message.contains("no such user") || message.contains("no such token"))
    }

    /// A refusal that stands until someone changes the cluster: a pool that still has members
    /// (pve-manager `PVE/API2/Pool.pm` `delete_pool`).
    pub fn is_not_empty(&self) -> bool {
        matches!(self, Self::Server { message, .. } if message.contains("is not empty"))
    }

    pub fn is_already_exists(&self) -> bool {
        matches!(self, Self::Server { message, .. } if message.contains("already exists"))
    }

    pub fn is_digest_mismatch(&self) -> bool {
        matches!(self, Self::Server { message, .. } if message.contains("detected modified configuration") || message.contains("checksum mismatch"))
    }

    /// Worth another try for an idempotent request.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Proxy { .. } => true,
            Self::Transport { cause, .. } => !cause.is_builder() && !cause.is_redirect() && !self.is_certificate_refusal(),
            Self::Server { status, .. } if *status >= 500 => {
                !(self.is_not_found() || self.is_already_exists() || self.is_digest_mismatch() || self.is_not_empty())
            }
            Self::Server { status, .. } => *status == 429 || *status == 408,
            _ => false,
        }
    }

    /// A request PVE may or may not have acted on: the answer was lost (a dropped connection, a
    /// proxy hop that failed, a bare 500). Only a look at what PVE holds tells which.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            Self::RetriesExhausted { last, .. } => last.is_ambiguous(),
            _ => self.is_transient() && !self.certainly_not_applied(),
        }
    }

    /// A task that failed for a reason that passes, after PVE undid what it began: a lock it
    /// could not get in time (a guest's config lock, a storage lock, a cluster-filesystem lock),
    /// or another node that did not answer the proxy. Sending the request again is the cure.
    pub fn is_transient_task_failure(&self) -> bool {
        let Self::TaskFailed { exitstatus, .. } = self else { return false };
        (exitstatus.contains("can't lock file") && exitstatus.contains("got timeout"))
            || exitstatus.contains("got lock request timeout")
            || exitstatus.contains("596")
    }

    /// PVE's 403 that names no path or privilege: what an `or` of checks answers when every
    /// branch fails (a create or clone without VM.Allocate on the guest or its pool), so the
    /// caller must say what was needed.
    pub fn is_unnamed_permission_refusal(&self) -> bool {
        matches!(self, Self::Forbidden { message, .. } if message == "Permission check failed")
    }

    /// The server's certificate was refused (unknown CA, wrong name, expired): sending again
    /// cannot help, so it fails at once instead of after every retry.
    pub fn is_certificate_refusal(&self) -> bool {
        let Self::Transport { cause, .. } = self else { return false };
        let text = causes(cause);
        text.contains("certificate") || text.contains("UnknownIssuer") || text.contains("NotValidForName")
    }

    /// Certain that the server did not act on the request, so even a create may be sent again.
    pub fn certainly_not_applied(&self) -> bool {
        match self {
            Self::Transport { cause, .. } => cause.is_connect(),
            Self::Server { status: 503, .. } => true,
            _ => self.is_lock_timeout() || self.is_guest_locked(),
        }
    }
}

/// An error and its causes, "outer: inner: innermost", each said once (reqwest repeats its
/// source's text in its own sometimes).
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let part = inner.to_string();
        if !text.contains(&part) {
            text = format!("{text}: {part}");
        }
        cause = inner.source();
    }
    text
}
