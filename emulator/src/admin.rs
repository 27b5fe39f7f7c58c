//! The emulator's own control calls, outside PVE's `/api2/json`: what happens to a real cluster
//! without an API call (a node's disk dies, the node is reinstalled), for drills against the
//! emulator binary. Only `root@pam` (its tickets and its tokens that may write) may use them.
//!
//! - `POST /emulator/nodes/{node}/lose`: the node is lost with its local storages
//!   (`crate::model::node_loss` explains what survives).
//! - `POST /emulator/nodes/{node}/reinstall`: the lost node is back, reinstalled and empty.
//!
//! Both answer `{"data": {"node": …, "guests": [VMIDs]}}`: the guests left on the lost node,
//! or whose stale configs the reinstall removed. In-process tests call
//! `RunningEmulator::lose_node` and `reinstall_node` instead.

use serde_json::json;

use crate::api::Answer;
use crate::error::PveError;
use crate::server::Identity;
use crate::state::Emulator;

/// Where the control calls live.
pub const PREFIX: &str = "/emulator/";

/// Handles `method path` (the path below [`PREFIX`]) for `identity`.
pub fn handle(emulator: &Emulator, method: &str, path: &str, identity: Option<&Identity>) -> Result<Answer, PveError> {
    // root@pam, or a token of root@pam that may change the system (a `:ro` one may not).
    let root = identity.is_some_and(|i| {
        (i.userid == "root@pam" || i.userid.starts_with("root@pam!")) && emulator.cluster().holds(&i.userid, "/", &["Sys.Modify"], false)
    });
    if !root {
        return Err(PveError::status(403, "Permission check failed (emulator control calls are for root@pam)"));
    }
    let not_found = || PveError::status(501, format!("Method '{method} {PREFIX}{path}' not implemented"));
    let mut parts = path.split('/');
    let (Some("nodes"), Some(node), Some(action), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(not_found());
    };
    let guests = match (method, action) {
        ("POST", "lose") => emulator.lose_node(node)?,
        ("POST", "reinstall") => emulator.reinstall_node(node)?,
        _ => return Err(not_found()),
    };
    tracing::info!(node, action, ?guests, "emulator control call");
    Ok(json!({ "node": node, "guests": guests }).into())
}

/// The same controls for in-process tests.
impl crate::server::RunningEmulator {
    /// Loses `node` with its disk; returns the VMIDs whose configs are left on it.
    pub fn lose_node(&self, node: &str) -> Result<Vec<u64>, PveError> {
        self.emulator.lose_node(node)
    }

    /// Brings the lost `node` back reinstalled and empty; returns the VMIDs whose stale configs went.
    pub fn reinstall_node(&self, node: &str) -> Result<Vec<u64>, PveError> {
        self.emulator.reinstall_node(node)
    }
}
