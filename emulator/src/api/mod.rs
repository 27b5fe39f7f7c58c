//! Endpoint handlers, one module per area. `handler` maps a schema key (`METHOD /template`) to
//! its implementation; keys with no handler answer 501 as PVE does for unknown methods.

mod access;
mod backup;
mod cluster;
mod guests;
mod ha;
mod privileges;
mod snapshots;
mod storage;
mod tasks;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use pve_api::GuestKind;
use serde_json::{Map, Value};

use crate::error::PveError;
use crate::model::Guest;
use crate::model::access::PermissionCheck;
use crate::state::Emulator;

/// What most handlers return: the answer's `data`.
pub type ApiResult = Result<Value, PveError>;

/// A handler's answer: `data`, and the few fields some endpoints put beside it (a task log's
/// `total`).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub data: Value,
    pub extra: Map<String, Value>,
}

impl Answer {
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    /// The response body: `{"data": …}` and the extra fields.
    pub fn into_body(self) -> Value {
        let mut body = self.extra;
        body.insert("data".into(), self.data);
        Value::Object(body)
    }
}

impl From<Value> for Answer {
    fn from(data: Value) -> Self {
        Self { data, extra: Map::new() }
    }
}

/// A validated request: path and body parameters merged, as PVE's handlers see them.
pub struct ApiRequest {
    pub emulator: Arc<Emulator>,
    /// `POST /nodes/{node}/qemu/{vmid}/clone`
    pub key: String,
    pub params: BTreeMap<String, String>,
    pub user: String,
}

impl ApiRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// A parameter the schema marks required (so validation guarantees it).
    pub fn required(&self, name: &str) -> Result<&str, PveError> {
        self.param(name).ok_or_else(|| PveError::missing(name))
    }

    pub fn flag(&self, name: &str) -> bool {
        self.param(name) == Some("1")
    }

    pub fn u64(&self, name: &str) -> Result<u64, PveError> {
        self.required(name)?.trim_start_matches('+').parse().map_err(|_| PveError::param(name, "type check ('integer') failed"))
    }

    pub fn kind(&self) -> GuestKind {
        if self.key.contains("/lxc") { GuestKind::Lxc } else { GuestKind::Qemu }
    }

    pub fn node(&self) -> Result<&str, PveError> {
        let node = self.required("node")?;
        if self.emulator.cluster().node(node).is_none() {
            return Err(PveError::status(595, format!("no such cluster node '{node}'")));
        }
        Ok(node)
    }

    /// The guest at `{node}/{kind}/{vmid}`, checked the way PVE does: the config file must exist on
    /// that node under that kind.
    pub fn guest(&self) -> Result<Guest, PveError> {
        let node = self.node()?;
        let vmid = self.u64("vmid")?;
        self.emulator.cluster().guest_at(node, self.kind(), vmid).cloned()
    }

    /// A privilege check inside a handler, as PVE's handlers call `$rpcenv->check` (all of
    /// `privileges`) or `check_any` (`any`): 403 `Permission check failed (PATH, PRIV)`, or with
    /// `any` the privileges joined by `|`. The method's own schema check has already passed
    /// when a handler runs; this is for what the schema's `permissions.description` adds (disk
    /// storages, bridges, pools, per-option privileges); `api::privileges` has the guest ones
    /// (`check_vm`, `check_guest_volumes`, `check_volume_access`, `check_bridges`, …).
    ///
    /// It takes the cluster lock: call it before taking `emulator.cluster()` yourself (code that
    /// already holds the lock uses `Cluster::holds` or `Cluster::permissions`).
    pub fn check(&self, path: &str, privileges: &[&str], any: bool) -> Result<(), PveError> {
        let cluster = self.emulator.cluster();
        PermissionCheck { cluster: &cluster, authid: Some(&self.user), params: &self.params }.path(&self.user, path, privileges, any)
    }

    /// `Permissions.Modify` on the path, or what allocates what it names (`check_perm_modify`).
    pub fn check_perm_modify(&self, path: &str) -> Result<(), PveError> {
        let cluster = self.emulator.cluster();
        PermissionCheck { cluster: &cluster, authid: Some(&self.user), params: &self.params }
            .perm_modify(&self.user, path, false)
            .map(|_| ())
    }

    /// The same check as a yes or no, for what PVE filters quietly (listings).
    pub fn may(&self, path: &str, privileges: &[&str], any: bool) -> bool {
        self.emulator.cluster().holds(&self.user, path, privileges, any)
    }

    /// A list parameter (`a,b` or `a;b`), empty when not given.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.param(name).map(|d| pve_api::tags::split_tag_list(d).map(str::to_string).collect()).unwrap_or_default()
    }
}

pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Answer, PveError>> + Send>>;
pub type Handler = fn(ApiRequest) -> HandlerFuture;

/// Handlers return their `data` (`ApiResult`) or a whole `Answer`.
macro_rules! routes {
    ($key:expr; $($route:literal => $f:path),* $(,)?) => {
        match $key {
            $($route => Some(|r| Box::pin(async move { $f(r).await.map(Answer::from) }) as HandlerFuture),)*
            _ => None,
        }
    };
}

pub fn handler(key: &str) -> Option<Handler> {
    routes!(key;
        "GET /version" => cluster::version,
        "POST /access/ticket" => cluster::ticket,
        "GET /access/users" => access::users,
        "POST /access/users" => access::create_user,
        "GET /access/users/{userid}" => access::user,
        "PUT /access/users/{userid}" => access::update_user,
        "DELETE /access/users/{userid}" => access::delete_user,
        "GET /access/users/{userid}/token" => access::tokens,
        "GET /access/users/{userid}/token/{tokenid}" => access::token,
        "POST /access/users/{userid}/token/{tokenid}" => access::create_token,
        "PUT /access/users/{userid}/token/{tokenid}" => access::update_token,
        "DELETE /access/users/{userid}/token/{tokenid}" => access::delete_token,
        "GET /access/groups" => access::groups,
        "POST /access/groups" => access::create_group,
        "GET /access/groups/{groupid}" => access::group,
        "PUT /access/groups/{groupid}" => access::update_group,
        "DELETE /access/groups/{groupid}" => access::delete_group,
        "GET /access/roles" => access::roles,
        "POST /access/roles" => access::create_role,
        "GET /access/roles/{roleid}" => access::role,
        "PUT /access/roles/{roleid}" => access::update_role,
        "DELETE /access/roles/{roleid}" => access::delete_role,
        "GET /access/acl" => access::acl,
        "PUT /access/acl" => access::update_acl,
        "GET /access/permissions" => access::permissions,
        "GET /access/domains" => access::domains,
        "PUT /access/password" => access::change_password,
        "GET /cluster/status" => cluster::status,
        "GET /cluster/resources" => cluster::resources,
        "GET /cluster/nextid" => cluster::nextid,
        "GET /cluster/tasks" => tasks::cluster_tasks,
        "GET /cluster/backup" => backup::jobs,
        "POST /cluster/backup" => backup::create_job,
        "GET /cluster/backup/{id}" => backup::job,
        "PUT /cluster/backup/{id}" => backup::update_job,
        "DELETE /cluster/backup/{id}" => backup::delete_job,
        "GET /cluster/ha" => ha::index,
        "GET /cluster/ha/resources" => ha::resources,
        "POST /cluster/ha/resources" => ha::create_resource,
        "GET /cluster/ha/resources/{sid}" => ha::resource,
        "PUT /cluster/ha/resources/{sid}" => ha::update_resource,
        "DELETE /cluster/ha/resources/{sid}" => ha::delete_resource,
        "POST /cluster/ha/resources/{sid}/migrate" => ha::motion,
        "POST /cluster/ha/resources/{sid}/relocate" => ha::motion,
        "GET /cluster/ha/rules" => ha::rules,
        "POST /cluster/ha/rules" => ha::create_rule,
        "GET /cluster/ha/rules/{rule}" => ha::rule,
        "PUT /cluster/ha/rules/{rule}" => ha::update_rule,
        "DELETE /cluster/ha/rules/{rule}" => ha::delete_rule,
        "GET /cluster/ha/groups" => ha::groups,
        "POST /cluster/ha/groups" => ha::create_group,
        "GET /cluster/ha/groups/{group}" => ha::group,
        "PUT /cluster/ha/groups/{group}" => ha::update_group,
        "DELETE /cluster/ha/groups/{group}" => ha::delete_group,
        "GET /cluster/ha/status" => ha::status_index,
        "GET /cluster/ha/status/current" => ha::status_current,
        "GET /cluster/ha/status/manager_status" => ha::manager_status,
        "POST /cluster/ha/status/arm-ha" => ha::arm,
        "POST /cluster/ha/status/disarm-ha" => ha::disarm,
        "GET /pools" => cluster::pools,
        "POST /pools" => cluster::create_pool,
        "GET /pools/{poolid}" => cluster::pool,
        "PUT /pools/{poolid}" => cluster::update_pool,
        "DELETE /pools/{poolid}" => cluster::delete_pool,
        "GET /nodes" => cluster::nodes,
        "GET /nodes/{node}/status" => cluster::node_status,
        "GET /nodes/{node}/version" => cluster::node_version,
        "GET /nodes/{node}/syslog" => cluster::node_syslog,
        "GET /nodes/{node}/network" => cluster::node_network,
        "GET /storage" => storage::storage_configs,
        "GET /storage/{storage}" => storage::storage_config,
        "GET /nodes/{node}/storage" => storage::storages,
        "GET /nodes/{node}/storage/{storage}/status" => storage::storage_status,
        "GET /nodes/{node}/storage/{storage}/content" => storage::content,
        "GET /nodes/{node}/storage/{storage}/content/{volume}" => storage::volume,
        "DELETE /nodes/{node}/storage/{storage}/content/{volume}" => storage::delete_volume,
        "POST /nodes/{node}/storage/{storage}/download-url" => storage::download_url,
        "POST /nodes/{node}/vzdump" => backup::vzdump,
        "GET /nodes/{node}/tasks" => tasks::node_tasks,
        "GET /nodes/{node}/tasks/{upid}/status" => tasks::task_status,
        "GET /nodes/{node}/tasks/{upid}/log" => tasks::task_log,
        "DELETE /nodes/{node}/tasks/{upid}" => tasks::stop_task,
        "GET /nodes/{node}/qemu" => guests::list,
        "GET /nodes/{node}/lxc" => guests::list,
        "POST /nodes/{node}/qemu" => guests::create,
        "POST /nodes/{node}/lxc" => guests::create,
        "GET /nodes/{node}/qemu/{vmid}/config" => guests::get_config,
        "GET /nodes/{node}/lxc/{vmid}/config" => guests::get_config,
        "PUT /nodes/{node}/qemu/{vmid}/config" => guests::update_config,
        "POST /nodes/{node}/qemu/{vmid}/config" => guests::update_config,
        "PUT /nodes/{node}/lxc/{vmid}/config" => guests::update_config,
        "GET /nodes/{node}/qemu/{vmid}/pending" => guests::pending,
        "GET /nodes/{node}/lxc/{vmid}/pending" => guests::pending,
        "DELETE /nodes/{node}/qemu/{vmid}" => guests::destroy,
        "DELETE /nodes/{node}/lxc/{vmid}" => guests::destroy,
        "POST /nodes/{node}/qemu/{vmid}/clone" => guests::clone,
        "POST /nodes/{node}/lxc/{vmid}/clone" => guests::clone,
        "POST /nodes/{node}/qemu/{vmid}/template" => guests::template,
        "GET /nodes/{node}/qemu/{vmid}/migrate" => guests::migrate_preconditions,
        "GET /nodes/{node}/lxc/{vmid}/migrate" => guests::migrate_preconditions,
        "POST /nodes/{node}/qemu/{vmid}/migrate" => guests::migrate,
        "POST /nodes/{node}/lxc/{vmid}/migrate" => guests::migrate,
        "POST /nodes/{node}/qemu/{vmid}/move_disk" => guests::move_disk,
        "POST /nodes/{node}/lxc/{vmid}/move_volume" => guests::move_disk,
        "PUT /nodes/{node}/qemu/{vmid}/unlink" => guests::unlink,
        "POST /nodes/{node}/lxc/{vmid}/template" => guests::template,
        "PUT /nodes/{node}/qemu/{vmid}/resize" => guests::resize,
        "PUT /nodes/{node}/lxc/{vmid}/resize" => guests::resize,
        "GET /nodes/{node}/qemu/{vmid}/status/current" => guests::current_status,
        "POST /nodes/{node}/qemu/{vmid}/agent/ping" => guests::agent_ping,
        "GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces" => guests::agent_interfaces,
        "GET /nodes/{node}/lxc/{vmid}/status/current" => guests::current_status,
        "POST /nodes/{node}/qemu/{vmid}/status/start" => guests::power,
        "POST /nodes/{node}/qemu/{vmid}/status/stop" => guests::power,
        "POST /nodes/{node}/qemu/{vmid}/status/shutdown" => guests::power,
        "POST /nodes/{node}/qemu/{vmid}/status/reboot" => guests::power,
        "POST /nodes/{node}/qemu/{vmid}/status/reset" => guests::power,
        "POST /nodes/{node}/qemu/{vmid}/status/suspend" => guests::power,
        "POST /nodes/{node}/qemu/{vmid}/status/resume" => guests::power,
        "POST /nodes/{node}/lxc/{vmid}/status/start" => guests::power,
        "POST /nodes/{node}/lxc/{vmid}/status/stop" => guests::power,
        "POST /nodes/{node}/lxc/{vmid}/status/shutdown" => guests::power,
        "POST /nodes/{node}/lxc/{vmid}/status/reboot" => guests::power,
        "POST /nodes/{node}/lxc/{vmid}/status/suspend" => guests::power,
        "POST /nodes/{node}/lxc/{vmid}/status/resume" => guests::power,
        "GET /nodes/{node}/qemu/{vmid}/snapshot" => snapshots::list,
        "GET /nodes/{node}/lxc/{vmid}/snapshot" => snapshots::list,
        "POST /nodes/{node}/qemu/{vmid}/snapshot" => snapshots::create,
        "POST /nodes/{node}/lxc/{vmid}/snapshot" => snapshots::create,
        "DELETE /nodes/{node}/qemu/{vmid}/snapshot/{snapname}" => snapshots::delete,
        "DELETE /nodes/{node}/lxc/{vmid}/snapshot/{snapname}" => snapshots::delete,
        "POST /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback" => snapshots::rollback,
        "POST /nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback" => snapshots::rollback,
        "GET /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config" => snapshots::config,
        "GET /nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config" => snapshots::config,
        "PUT /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config" => snapshots::update,
        "PUT /nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config" => snapshots::update,
    )
}

/// Every schema key this emulator implements (for `--help`-style listings and tests).
pub fn implemented() -> Vec<String> {
    crate::schema::SCHEMA.methods().map(|m| m.key()).filter(|k| handler(k).is_some()).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Answer;

    #[test]
    fn an_answer_puts_its_extra_fields_beside_data() {
        assert_eq!(Answer::from(json!([1])).into_body().to_string(), r#"{"data":[1]}"#);
        assert_eq!(Answer::from(json!([{ "n": 1 }])).with("total", 1).into_body().to_string(), r#"{"data":[{"n":1}],"total":1}"#);
    }
}
