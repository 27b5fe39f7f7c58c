//! Task endpoints: lists, status, log.

use serde_json::{Value, json};

use super::{Answer, ApiRequest, ApiResult};
use crate::error::PveError;
use crate::tasks::{TaskQuery, TaskRecord};

pub async fn node_tasks(r: ApiRequest) -> ApiResult {
    let node = r.node()?.to_string();
    let query = TaskQuery {
        node: &node,
        source: r.param("source").unwrap_or("archive"),
        vmid: r.param("vmid"),
        task_type: r.param("typefilter"),
        errors_only: r.flag("errors"),
        user: r.param("userfilter"),
        start: r.param("start").and_then(|s| s.parse().ok()).unwrap_or(0),
        limit: r.param("limit").and_then(|s| s.parse().ok()).unwrap_or(50),
    };
    // The caller's own tasks, or all of the node's with Sys.Audit on it (pve-manager `Tasks.pm`).
    let auditor = r.may(&format!("/nodes/{node}"), &["Sys.Audit"], false);
    let tasks = r.emulator.node_tasks(&query);
    Ok(Value::Array(tasks.iter().filter(|t| auditor || owns(&r, t)).map(TaskRecord::row_json).collect()))
}

pub async fn cluster_tasks(r: ApiRequest) -> ApiResult {
    // pve-manager `Cluster.pm` tasks: all with Sys.Audit on `/`, else the caller's own.
    let auditor = r.may("/", &["Sys.Audit"], false);
    Ok(Value::Array(r.emulator.recent_tasks().iter().filter(|t| auditor || owns(&r, t)).map(TaskRecord::row_json).collect()))
}

/// A task is the caller's when they started it, or one of their tokens did.
fn owns(r: &ApiRequest, task: &TaskRecord) -> bool {
    let user = task.upid.user.as_str();
    user == r.user || user.split_once('!').is_some_and(|(owner, _)| owner == r.user)
}

/// The task, if the caller started it or has Sys.Audit on its node.
fn find_task(r: &ApiRequest) -> Result<TaskRecord, PveError> {
    let task = r.emulator.node_task(r.param("node"), r.required("upid")?)?;
    if !owns(r, &task) {
        r.check(&format!("/nodes/{}", task.upid.node), &["Sys.Audit"], false)?;
    }
    Ok(task)
}

pub async fn task_status(r: ApiRequest) -> ApiResult {
    Ok(find_task(&r)?.status_json())
}

pub async fn task_log(r: ApiRequest) -> Result<Answer, PveError> {
    let task = find_task(&r)?;
    let start: usize = r.param("start").and_then(|s| s.parse().ok()).unwrap_or(0);
    // limit=0 means everything.
    let limit: usize = r.param("limit").and_then(|s| s.parse().ok()).filter(|l| *l > 0).unwrap_or(if r.param("limit").is_some() {
        usize::MAX
    } else {
        50
    });
    let (lines, total) = task.log_page(start, limit);
    Ok(Answer::from(json!(lines)).with("total", total))
}

pub async fn stop_task(r: ApiRequest) -> ApiResult {
    // Stopping another's task needs Sys.Modify on the node.
    let task = r.emulator.node_task(r.param("node"), r.required("upid")?)?;
    if !owns(&r, &task) {
        r.check(&format!("/nodes/{}", task.upid.node), &["Sys.Modify"], false)?;
    }
    Ok(Value::Null)
}
