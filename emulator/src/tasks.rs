//! Tasks as PVE runs them: a UPID at once, the work applied when the task's time is up (with
//! injected slowness and failures), then an exit status and a log; and the queries on them.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::error::PveError;
use crate::locks::LockGuard;
use crate::model::Cluster;
use crate::state::{Emulator, now};
use pve_api::Upid;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct TaskRecord {
    pub upid: Upid,
    pub running: bool,
    pub exitstatus: Option<String>,
    pub log: Vec<String>,
    pub endtime: Option<i64>,
}

impl TaskRecord {
    pub fn status_json(&self) -> Value {
        let u = &self.upid;
        let mut v = json!({
            "upid": u.to_string(), "node": u.node, "pid": u.pid, "pstart": u.pstart, "starttime": u.starttime,
            "type": u.task_type, "id": u.id, "user": u.user,
            "status": if self.running { "running" } else { "stopped" },
        });
        if let Some(exit) = &self.exitstatus {
            v["exitstatus"] = json!(exit);
        }
        v
    }

    /// A row of the task lists: the status is `RUNNING` or the exit status, and ended tasks have
    /// an end time.
    pub fn row_json(&self) -> Value {
        let mut row = self.status_json();
        if !self.running {
            row["status"] = json!(self.exitstatus.clone().unwrap_or_default());
            row["endtime"] = json!(self.endtime.unwrap_or_else(now));
        } else {
            row["status"] = json!("RUNNING");
        }
        row
    }

    /// Up to `limit` log lines from line `start` (counted from 0), numbered from 1, and how many
    /// lines there are. An empty log reads as one line, "no content", as in PVE.
    pub fn log_page(&self, start: usize, limit: usize) -> (Vec<Value>, usize) {
        let mut lines = self.log.clone();
        if lines.is_empty() {
            lines.push("no content".into());
        }
        let total = lines.len();
        let page = lines.into_iter().enumerate().skip(start).take(limit).map(|(i, t)| json!({ "n": i + 1, "t": t })).collect();
        (page, total)
    }
}

/// What a task does when its time is up. It gets the cluster, its log, and whether an injected
/// failure hits it (then it must undo its effects and return the error).
pub type TaskWork = Box<dyn FnOnce(&mut Cluster, &mut Vec<String>, bool) -> Result<(), String> + Send>;

/// The future of a task that works in steps (waits for storage locks, copies at the storage's
/// bandwidth, then changes the cluster).
pub type TaskFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// What a stepwise task does, given its context.
pub type AsyncTaskWork = Box<dyn FnOnce(TaskCtx) -> TaskFuture + Send>;

/// What a running task can reach: the emulator, its own log (visible while it runs, as PVE's
/// task logs are), its share of time and whether an injected failure hits it.
#[derive(Clone)]
pub struct TaskCtx {
    pub emulator: Arc<Emulator>,
    pub upid: Upid,
    /// An injected failure: the task must undo what it began and return an error.
    pub fail: bool,
    /// The task's own time (task_ms × weight, longer for an injected slow task).
    pub duration: Duration,
}

impl TaskCtx {
    pub fn log(&self, line: impl Into<String>) {
        if let Some(record) = self.emulator.tasks.records().get_mut(&self.upid.to_string()) {
            record.log.push(line.into());
        }
    }

    pub fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.emulator.cluster()
    }

    /// Spends the task's own time.
    pub async fn take_time(&self) {
        tokio::time::sleep(self.duration).await;
    }
}

/// Every task since the start, by UPID.
pub struct Tasks {
    records: Mutex<BTreeMap<String, TaskRecord>>,
    /// Task PIDs; atomic so tasks can be started while a handler holds the cluster.
    next_pid: AtomicU32,
}

impl Default for Tasks {
    fn default() -> Self {
        Self { records: Mutex::new(BTreeMap::new()), next_pid: AtomicU32::new(0x1000) }
    }
}

impl Tasks {
    fn records(&self) -> MutexGuard<'_, BTreeMap<String, TaskRecord>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new_upid(&self, node: &str, task_type: &str, id: &str, user: &str) -> Upid {
        let pid = self.next_pid.fetch_add(1, Ordering::Relaxed);
        Upid {
            node: node.to_string(),
            pid,
            pstart: (pid as u64) * 7 + 0x0100_0000,
            starttime: now(),
            task_type: task_type.to_string(),
            id: id.to_string(),
            user: user.to_string(),
        }
    }
}

/// `GET /nodes/{node}/tasks`: which of a node's tasks, and which page of them.
pub struct TaskQuery<'a> {
    pub node: &'a str,
    /// `active`, `all` or (the default) `archive`: running, any, or ended tasks.
    pub source: &'a str,
    pub vmid: Option<&'a str>,
    pub task_type: Option<&'a str>,
    pub errors_only: bool,
    pub user: Option<&'a str>,
    pub start: usize,
    pub limit: usize,
}

impl TaskQuery<'_> {
    fn matches(&self, t: &TaskRecord) -> bool {
        let source = match self.source {
            "active" => t.running,
            "all" => true,
            _ => !t.running,
        };
        t.upid.node == self.node
            && source
            && self.vmid.is_none_or(|v| t.upid.id == v)
            && self.task_type.is_none_or(|f| t.upid.task_type == f)
            && (!self.errors_only || t.exitstatus.as_deref().is_some_and(|e| e != "OK"))
            && self.user.is_none_or(|u| t.upid.user.contains(u))
    }
}

fn newest_first(tasks: &mut [TaskRecord]) {
    tasks.sort_by(|a, b| b.upid.starttime.cmp(&a.upid.starttime).then(b.upid.pid.cmp(&a.upid.pid)));
}

/// PVE's answer when a task cannot get a lock within 10 s: the guest's config lock for guest
/// tasks (PVE::AbstractConfig::lock_config), the storage lock otherwise (PVE::Storage::lock_storage_config).
fn lock_timeout(upid: &Upid) -> String {
    let file = match &upid.task_type[..2.min(upid.task_type.len())] {
        "qm" => format!("/var/lock/qemu-server/lock-{}.conf", upid.id),
        "vz" => format!("/run/lock/lxc/pve-config-{}.lock", upid.id),
        _ => "/var/lock/pve-manager/pve-storage-local".to_string(),
    };
    format!("can't lock file '{file}' - got timeout")
}

impl Emulator {
    /// Starts a task that runs for the configured time (longer when a slow task is drawn), then
    /// applies `work`. The guards (config locks) are held until it ends.
    // The task's UPID fields, its weight, its locks and its work: splitting them up reads worse.
    #[allow(clippy::too_many_arguments)]
    pub fn spawn_task(
        self: &Arc<Self>,
        node: &str,
        task_type: &str,
        id: &str,
        user: &str,
        weight: u64,
        guards: Vec<LockGuard>,
        work: TaskWork,
    ) -> Upid {
        self.spawn_task_steps(
            node,
            task_type,
            id,
            user,
            weight,
            guards,
            Box::new(move |ctx: TaskCtx| {
                Box::pin(async move {
                    ctx.take_time().await;
                    let mut log = Vec::new();
                    let result = {
                        let mut cluster = ctx.cluster();
                        work(&mut cluster, &mut log, ctx.fail)
                    };
                    for line in log {
                        ctx.log(line);
                    }
                    result
                })
            }),
        )
    }

    /// Starts a task that works in steps (`work` decides when to spend the task's own time). The
    /// guards (config locks) are held until it ends; the log fills while it runs.
    #[allow(clippy::too_many_arguments)]
    pub fn spawn_task_steps(
        self: &Arc<Self>,
        node: &str,
        task_type: &str,
        id: &str,
        user: &str,
        weight: u64,
        guards: Vec<LockGuard>,
        work: AsyncTaskWork,
    ) -> Upid {
        let upid = self.tasks.new_upid(node, task_type, id, user);
        let mut duration = self.config.task_ms.saturating_mul(weight.max(1));
        if self.chance(self.config.slow_task_rate) {
            duration = duration.saturating_mul(self.config.slow_task_factor);
        }
        let transient = self.chance(self.config.task_failure_rate);
        let permanent = self.chance(self.config.permanent_task_failure_rate);
        let fail = transient || permanent;
        let record = TaskRecord { upid: upid.clone(), running: true, exitstatus: None, log: Vec::new(), endtime: None };
        self.tasks.records().insert(upid.to_string(), record);
        let ctx = TaskCtx { emulator: self.clone(), upid: upid.clone(), fail, duration: Duration::from_millis(duration) };
        let key = upid.to_string();
        let failure = lock_timeout(&upid);
        tokio::spawn(async move {
            let this = ctx.emulator.clone();
            let result = work(ctx).await;
            this.persist();
            let mut records = this.tasks.records();
            if let Some(record) = records.get_mut(&key) {
                let warnings = record.log.iter().filter(|l| l.starts_with("WARN")).count();
                let exitstatus = match result {
                    Ok(()) if warnings > 0 => format!("WARNINGS: {warnings}"),
                    Ok(()) => "OK".to_string(),
                    Err(message) => {
                        let message = if transient && !permanent { failure } else { message };
                        record.log.push(format!("TASK ERROR: {message}"));
                        message
                    }
                };
                if exitstatus == "OK" || exitstatus.starts_with("WARNINGS") {
                    record.log.push(format!("TASK {exitstatus}"));
                }
                record.running = false;
                record.exitstatus = Some(exitstatus);
                record.endtime = Some(now());
            }
            drop(records);
            drop(guards);
            this.ha_kick();
        });
        upid
    }

    /// A task whose change was made when it started: it only takes its time and ends OK.
    pub fn spawn_noop_task(self: &Arc<Self>, node: &str, task_type: &str, id: &str, user: &str) -> Upid {
        self.spawn_task(node, task_type, id, user, 1, Vec::new(), Box::new(|_, _, _| Ok(())))
    }

    pub fn task(&self, upid: &str) -> Option<TaskRecord> {
        self.tasks.records().get(upid).cloned()
    }

    pub fn tasks(&self) -> Vec<TaskRecord> {
        self.tasks.records().values().cloned().collect()
    }

    /// The task a `/nodes/{node}/tasks/{upid}` path names: the UPID must parse and be this node's.
    pub fn node_task(&self, node: Option<&str>, upid: &str) -> Result<TaskRecord, PveError> {
        let parsed: Upid = upid.parse().map_err(|_| PveError::param("upid", "unable to parse worker upid"))?;
        if Some(parsed.node.as_str()) != node {
            return Err(PveError::server(format!("no such task on node '{}'", node.unwrap_or(""))));
        }
        self.task(upid).ok_or_else(|| PveError::server(format!("no such task '{upid}'")))
    }

    /// A node's tasks that match the query, newest first.
    pub fn node_tasks(&self, query: &TaskQuery) -> Vec<TaskRecord> {
        let mut tasks: Vec<TaskRecord> = self.tasks().into_iter().filter(|t| query.matches(t)).collect();
        newest_first(&mut tasks);
        tasks.into_iter().skip(query.start).take(query.limit).collect()
    }

    /// The cluster's 100 newest tasks.
    pub fn recent_tasks(&self) -> Vec<TaskRecord> {
        let mut tasks = self.tasks();
        newest_first(&mut tasks);
        tasks.truncate(100);
        tasks
    }
}
