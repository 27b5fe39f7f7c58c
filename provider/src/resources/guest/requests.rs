//! Requests whose answer can be lost, sent so that one apply is enough.
//!
//! - A create or clone whose answer was lost (HTTP 500, 596, a dropped connection) is reconciled
//!   with what PVE holds, never guessed: the provider chose the VMID, so it asks PVE what is
//!   there. Nothing: sent again. The guest this request made (its name, the provider's mark, on
//!   one of the nodes it could be on): waited for and adopted. Anything else: an error that says
//!   what was found.
//! - A task that failed for a transient reason (a lock PVE could not get in time, a proxied 596)
//!   is sent again when PVE left nothing behind, within the resource's timeout.
//! - Power actions are idempotent: a start whose answer was lost, or that PVE refused because the
//!   guest already runs, counts as done once the guest runs.
//!
//! Every retry is logged at info with its reason.

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use pve_api::{ApiError, GuestKind, Upid};

use super::{Diagnostic, Diagnostics, Params, api_failure, attr, word};
use crate::provider::{Context, TaskWaitError};

/// How many times one create, clone or power action is sent at most.
const MAX_ATTEMPTS: u32 = 6;

/// A create or clone that met the same answer this many times in a row, with nothing at its
/// VMID each time, takes it as PVE's refusal.
const SAME_ANSWER_IS_FINAL: u32 = 3;

/// The wait before sending again: a lock held by someone else is let go, a node comes back.
fn pause(attempt: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << attempt.min(5)))
}

/// A create or clone, as PVE will show it once it holds the guest.
pub struct Creation<'a> {
    pub kind: GuestKind,
    pub vmid: u64,
    /// The node the request goes to (a clone's source node).
    pub node: &'a str,
    /// The guest's `name` (VM) or `hostname` (container), as the request sets it.
    pub name: &'a str,
    /// "Cloning the VM", "Creating the container", …
    pub what: &'a str,
}

/// What PVE holds at a VMID after an answer was lost.
enum Found {
    Nothing,
    /// The guest this request made, finished.
    Ours,
    /// The guest this request made, still locked by its task when the time ran out.
    StillBuilding(String),
    Other(String),
}

/// A create or clone that did not succeed.
pub struct CreationFailed {
    pub diagnostics: Diagnostics,
    /// Whether PVE may hold a guest this request made (its task failed or is still running): the
    /// caller reads it back and keeps it in state, tainted. Never set for a guest someone else
    /// made at that VMID.
    pub may_have_made: bool,
}

impl Creation<'_> {
    /// Sends the request and waits for its task, reconciling lost answers and resending after
    /// transient task failures, until it succeeded, failed for good, or `limit` ran out.
    pub async fn run<'f>(
        &self,
        ctx: &Context,
        limit: Duration,
        send: impl Fn() -> BoxFuture<'f, Result<Upid, ApiError>>,
    ) -> Result<(), CreationFailed> {
        let deadline = Instant::now() + limit;
        let failed = |diagnostics: Diagnostics, may_have_made: bool| CreationFailed { diagnostics, may_have_made };
        // The last answer that found nothing at the VMID, and how many times in a row it came.
        let mut previous: Option<(String, u32)> = None;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            let may_retry = attempt < MAX_ATTEMPTS && left > pause(attempt);
            // A node slot bounds the requests, not the task: PVE runs tasks side by side.
            let sent = {
                let _slot = ctx.node_slot(self.node).await;
                send().await
            };
            match sent {
                Ok(upid) => match ctx.wait_task(&upid, left).await {
                    Ok(_) => return Ok(()),
                    Err(TaskWaitError::Api(error)) if error.is_transient_task_failure() && may_retry => {
                        match self.look(ctx, deadline).await.map_err(|d| failed(d, true))? {
                            Found::Nothing => {
                                tracing::info!(vmid = self.vmid, attempt, reason = %error, "{}: the task failed for a transient reason; sending it again", self.what);
                            }
                            // PVE removes what a failed create or clone began; whatever is left
                            // is reported (and kept in state by the caller), never built over.
                            Found::Ours | Found::StillBuilding(_) => {
                                return Err(failed(Diagnostic::error(self.what, error.to_string()).into(), true));
                            }
                            Found::Other(found) => return Err(failed(self.failure(&error, &found), false)),
                        }
                    }
                    Err(error) => return Err(failed(Diagnostic::error(self.what, error).into(), true)),
                },
                Err(error) if error.is_ambiguous() => match self.look(ctx, deadline).await.map_err(|d| failed(d, false))? {
                    Found::Ours => {
                        tracing::info!(vmid = self.vmid, reason = %error, "{}: the answer was lost, and PVE holds the guest this request made: adopted", self.what);
                        return Ok(());
                    }
                    Found::StillBuilding(found) => {
                        let detail = format!("{error}; the guest it made ({found}) was still being built when the timeout ran out");
                        return Err(failed(Diagnostic::error(self.what, detail).into(), true));
                    }
                    Found::Other(found) => return Err(failed(self.failure(&error, &found), false)),
                    Found::Nothing => {
                        // PVE answers a request it refuses with a 500 too: the same answer three
                        // times in a row is PVE's answer, not a lost one.
                        let message = error.message();
                        let repeated = match &previous {
                            Some((last, times)) if *last == message => times + 1,
                            _ => 1,
                        };
                        if !may_retry || repeated >= SAME_ANSWER_IS_FINAL {
                            return Err(failed(api_failure(self.what, error), false));
                        }
                        previous = Some((message, repeated));
                        tracing::info!(vmid = self.vmid, attempt, reason = %error, "{}: the answer was lost and PVE holds no guest {}; sending it again", self.what, self.vmid);
                    }
                },
                Err(error) if error.is_already_exists() => {
                    let detail = format!("{error} (another client created it first; nothing of it was adopted)");
                    return Err(failed(Diagnostic::error("VMID taken", detail).at(attr("vmid")).into(), false));
                }
                Err(error) if error.is_unnamed_permission_refusal() => {
                    // PVE names no path when an `or` of checks fails: for a create or clone that
                    // is VM.Allocate on the new guest or its pool (qemu-server / pve-container
                    // `create_vm`, `clone_vm`).
                    let detail =
                        format!("{error}: PVE requires VM.Allocate on /vms/{} (or on /pool/POOL for a guest that joins POOL)", self.vmid);
                    return Err(failed(Diagnostic::error(self.what, detail).into(), false));
                }
                Err(error) => return Err(failed(api_failure(self.what, error), false)),
            }
            tokio::time::sleep(pause(attempt)).await;
        }
    }

    fn failure(&self, error: &impl std::fmt::Display, found: &str) -> Diagnostics {
        Diagnostic::error(
            self.what,
            format!("{error}; VMID {} now holds {found}, which this request did not make: nothing was adopted", self.vmid),
        )
        .into()
    }

    /// What PVE holds at the VMID, from a fresh listing; a guest this request made that is
    /// still being built (`lock: create`/`clone`) is waited for, until `deadline`.
    async fn look(&self, ctx: &Context, deadline: Instant) -> Result<Found, Diagnostics> {
        loop {
            let resources = ctx.client.cluster_resources(Some("vm")).await.map_err(|e| api_failure("Listing guests", e))?;
            let Some(at) = pve_api::find_guest(&resources, self.vmid) else { return Ok(Found::Nothing) };
            let config = match ctx.client.guest_config(at.kind, &at.node, self.vmid).await {
                Ok(config) => config,
                // Gone between the listing and the read: a failed task removed it.
                Err(e) if e.is_not_found() => return Ok(Found::Nothing),
                Err(e) => return Err(api_failure("Reading the guest config", e)),
            };
            let name_key = if self.kind == GuestKind::Qemu { "name" } else { "hostname" };
            let name = config.get_str(name_key).unwrap_or_default();
            let ours = at.kind == self.kind
                && name == self.name
                && pve_api::marker::is_marked(config.get_str("description").as_deref())
                && matches!(config.get_str("lock").as_deref(), None | Some("create" | "clone"));
            if !ours {
                let lock = config.get_str("lock").map(|l| format!(", locked '{l}'")).unwrap_or_default();
                return Ok(Found::Other(format!("{} '{name}' on {}{lock}", word(at.kind), at.node)));
            }
            if config.get_str("lock").is_none() {
                return Ok(Found::Ours);
            }
            if Instant::now() >= deadline {
                return Ok(Found::StillBuilding(format!("{} '{name}' on {}", word(at.kind), at.node)));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// An action that may be sent again without harm (a power change, an absolute resize, a template
/// conversion, a destroy), with `done` telling whether it has taken effect: resent after a lost
/// answer, a transient task failure or a lock held by a task that ends, until `done` says so or
/// the time is up. Success is the effect, whatever the answers were: a start refused because the
/// guest already runs is a start that succeeded.
pub async fn until_done<'f>(
    ctx: &Context,
    node: &str,
    what: &str,
    limit: Duration,
    send: impl Fn() -> BoxFuture<'f, Result<Option<Upid>, ApiError>>,
    done: impl Fn() -> BoxFuture<'f, Result<bool, Diagnostics>>,
) -> Result<(), Diagnostics> {
    let deadline = Instant::now() + limit;
    let mut attempt = 0;
    loop {
        attempt += 1;
        // The first time, the caller knows the action is needed; after a failed attempt, the
        // effect may be there all the same.
        if attempt > 1 && done().await? {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let may_retry = attempt < MAX_ATTEMPTS && left > pause(attempt);
        let sent = {
            let _slot = ctx.node_slot(node).await;
            send().await
        };
        let error = match sent {
            Ok(None) => return Ok(()),
            Ok(Some(upid)) => match ctx.wait_task(&upid, left).await {
                Ok(_) => return Ok(()),
                Err(TaskWaitError::Api(error)) => error,
                Err(stopped) => return Err(Diagnostic::error(what, stopped).into()),
            },
            Err(error) => error,
        };
        if done().await? {
            tracing::info!(reason = %error, "{what}: it has taken effect: done");
            return Ok(());
        }
        if !(may_retry && (error.is_ambiguous() || error.is_transient_task_failure() || error.is_guest_locked())) {
            return Err(api_failure(what, error));
        }
        tracing::info!(attempt, reason = %error, "{what}: sending it again");
        tokio::time::sleep(pause(attempt)).await;
    }
}

/// Starts a guest, or shuts it down (stopping it if it does not go within 60 s); idempotent.
pub async fn set_power(ctx: &Context, kind: GuestKind, node: &str, vmid: u64, start: bool, limit: Duration) -> Result<(), Diagnostics> {
    let (action, params, what) = if start {
        ("start", Params::new(), format!("Starting the {}", word(kind)))
    } else {
        ("shutdown", Params::new().set("timeout", 60).flag("forceStop", true), format!("Shutting the {} down", word(kind)))
    };
    let params = &params;
    let there = || -> BoxFuture<'_, Result<bool, Diagnostics>> {
        Box::pin(async move {
            let status = ctx.client.guest_status(kind, node, vmid).await.map_err(|e| api_failure("Reading the guest status", e))?;
            Ok((status.status == "running") == start)
        })
    };
    if there().await? {
        return Ok(());
    }
    until_done(
        ctx,
        node,
        &what,
        limit,
        || Box::pin(async move { ctx.client.guest_action(kind, node, vmid, action, params).await.map(Some) }),
        there,
    )
    .await
}
