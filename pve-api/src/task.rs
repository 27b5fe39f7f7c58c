//! Waiting for PVE's asynchronous tasks.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use crate::client::{Params, PveClient, Retry, segment};
use crate::error::ApiError;
use crate::upid::Upid;

#[derive(Debug, Clone, Deserialize)]
pub struct TaskStatus {
    pub status: String,
    #[serde(default)]
    pub exitstatus: Option<String>,
    #[serde(rename = "type", default)]
    pub task_type: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub starttime: Option<i64>,
}

impl TaskStatus {
    pub fn is_running(&self) -> bool {
        self.status == "running"
    }
}

/// A task that ended well; `warnings` counts `WARNINGS: N` endings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOutcome {
    pub upid: Upid,
    pub warnings: u32,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Copy)]
pub struct TaskWait {
    pub timeout: Duration,
    pub first_poll: Duration,
    pub max_poll: Duration,
}

impl Default for TaskWait {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(30 * 60), first_poll: Duration::from_millis(100), max_poll: Duration::from_secs(2) }
    }
}

impl TaskWait {
    pub fn with_timeout(timeout: Duration) -> Self {
        Self { timeout, ..Self::default() }
    }
}

/// How many log lines a failure report carries.
const LOG_TAIL_LINES: u64 = 20;

impl PveClient {
    pub async fn task_status(&self, upid: &Upid) -> Result<TaskStatus, ApiError> {
        self.get(&format!("/nodes/{}/tasks/{}/status", segment(&upid.node), segment(&upid.to_string())), &Params::new()).await
    }

    /// The last `lines` lines of a task's log.
    pub async fn task_log_tail(&self, upid: &Upid, lines: u64) -> Result<Vec<String>, ApiError> {
        let path = format!("/nodes/{}/tasks/{}/log", segment(&upid.node), segment(&upid.to_string()));
        let probe = self.call_envelope(Method::GET, &path, &Params::new().set("start", 0).set("limit", 1), Retry::Idempotent).await?;
        let total = probe.get("total").and_then(Value::as_u64).unwrap_or(0);
        let start = total.saturating_sub(lines);
        let envelope =
            self.call_envelope(Method::GET, &path, &Params::new().set("start", start).set("limit", lines), Retry::Idempotent).await?;
        Ok(envelope["data"]
            .as_array()
            .map(|lines| lines.iter().filter_map(|l| l.get("t").and_then(Value::as_str).map(str::to_string)).collect())
            .unwrap_or_default())
    }

    /// Polls a task until it stops: after `first_poll`, then every `first_poll` (most tasks end within a second),
    /// then at a quarter of the elapsed time, at most every `max_poll`. A failed task's error
    /// carries the tail of its log.
    pub async fn wait_task(&self, upid: &Upid, wait: TaskWait) -> Result<TaskOutcome, ApiError> {
        let started = Instant::now();
        // A task has hardly ever ended the moment it was created: the first look comes after
        // `first_poll`, not at once, which saves a status request per task.
        tokio::time::sleep(wait.first_poll.min(wait.timeout)).await;
        let mut delay = wait.first_poll;
        loop {
            let status = self.task_status(upid).await?;
            if !status.is_running() {
                let exitstatus = status.exitstatus.unwrap_or_default();
                let elapsed = started.elapsed();
                if exitstatus == "OK" {
                    return Ok(TaskOutcome { upid: upid.clone(), warnings: 0, elapsed });
                }
                if let Some(count) = exitstatus.strip_prefix("WARNINGS: ").and_then(|n| n.trim().parse().ok()) {
                    for line in self.task_log_tail(upid, LOG_TAIL_LINES).await.unwrap_or_default() {
                        if line.contains("WARN") {
                            tracing::warn!(upid = %upid, "{line}");
                        }
                    }
                    return Ok(TaskOutcome { upid: upid.clone(), warnings: count, elapsed });
                }
                let log_tail = self.task_log_tail(upid, LOG_TAIL_LINES).await.unwrap_or_default();
                return Err(ApiError::TaskFailed { upid: Box::new(upid.clone()), exitstatus, log_tail });
            }
            if started.elapsed() + delay > wait.timeout {
                return Err(ApiError::TaskTimeout { upid: Box::new(upid.clone()), timeout: wait.timeout });
            }
            tokio::time::sleep(delay).await;
            // Poll at a quarter of the time waited so far: the overshoot past a task's end stays
            // under 25% (it adds up when clones of one template run back to back).
            delay = (started.elapsed() / 4).clamp(wait.first_poll, wait.max_poll);
        }
    }
}
