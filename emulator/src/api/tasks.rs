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
    Ok(Value::Array(r.emulator.node_tasks(&query).iter().map(TaskRecord::row_json).collect()))
}

pub async fn cluster_tasks(r: ApiRequest) -> ApiResult {
    Ok(Value::Array(r.emulator.recent_tasks().iter().map(TaskRecord::row_json).collect()))
}

fn find_task(r: &ApiRequest) -> Result<TaskRecord, PveError> {
    r.emulator.node_task(r.param("node"), r.required("upid")?)
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
    find_task(&r)?;
    Ok(Value::Null)
}
