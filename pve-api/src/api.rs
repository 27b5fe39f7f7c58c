//! Typed calls for the endpoints pve-home uses. Paths and parameter names are PVE's own; each call
//! says whether it is safe to send twice.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::client::{Params, PveClient, Retry, segment};
use crate::error::ApiError;
use crate::upid::Upid;

/// QEMU virtual machine or LXC container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum GuestKind {
    Qemu,
    Lxc,
}

impl GuestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Qemu => "qemu",
            Self::Lxc => "lxc",
        }
    }
}

impl fmt::Display for GuestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// PVE sends booleans as 0/1, sometimes as strings; accept every form.
pub fn flexible_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Bool(b) => b,
        Value::Number(n) => n.as_i64().unwrap_or(0) != 0,
        Value::String(s) => matches!(s.as_str(), "1" | "true" | "yes" | "on"),
        _ => false,
    })
}

/// PVE sends some integers as strings (e.g. /cluster/nextid); accept both.
pub fn flexible_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f as u64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    })
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Version {
    pub version: String,
    pub release: String,
    pub repoid: String,
}

/// One row of /cluster/resources.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct ClusterResource {
    pub id: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub vmid: Option<u64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub tags: Option<String>,
    #[serde(default, deserialize_with = "flexible_bool")]
    pub template: bool,
    #[serde(default)]
    pub pool: Option<String>,
    #[serde(default)]
    pub lock: Option<String>,
    #[serde(default)]
    pub hastate: Option<String>,
    #[serde(default)]
    pub storage: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub plugintype: Option<String>,
    #[serde(default, deserialize_with = "flexible_bool")]
    pub shared: bool,
    #[serde(default)]
    pub maxcpu: Option<f64>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub maxmem: Option<u64>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub maxdisk: Option<u64>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub disk: Option<u64>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub mem: Option<u64>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub uptime: Option<u64>,
}

impl ClusterResource {
    /// For `qemu`/`lxc` rows, the guest kind.
    pub fn guest_kind(&self) -> Option<GuestKind> {
        match self.resource_type.as_str() {
            "qemu" => Some(GuestKind::Qemu),
            "lxc" => Some(GuestKind::Lxc),
            _ => None,
        }
    }

    pub fn tag_list(&self) -> Vec<String> {
        self.tags.as_deref().map(|t| crate::tags::split_tag_list(t).map(str::to_string).collect()).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct NodeInfo {
    pub node: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub maxcpu: Option<f64>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub maxmem: Option<u64>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub mem: Option<u64>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub uptime: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct StorageInfo {
    pub storage: String,
    #[serde(rename = "type", default)]
    pub storage_type: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default, deserialize_with = "flexible_bool")]
    pub active: bool,
    #[serde(default, deserialize_with = "flexible_bool")]
    pub enabled: bool,
    #[serde(default, deserialize_with = "flexible_bool")]
    pub shared: bool,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub total: Option<u64>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub used: Option<u64>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub avail: Option<u64>,
}

impl StorageInfo {
    pub fn supports(&self, content: &str) -> bool {
        self.content.as_deref().is_some_and(|c| c.split(',').any(|c| c == content))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct StorageVolume {
    pub volid: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub size: Option<u64>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub ctime: Option<u64>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub vmid: Option<u64>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub subtype: Option<String>,
}

/// A guest's current configuration and the digest to send back with changes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GuestConfig {
    pub values: BTreeMap<String, Value>,
    pub digest: String,
}

impl GuestConfig {
    /// A value as PVE's config text has it (numbers and booleans as digits).
    pub fn get_str(&self, key: &str) -> Option<String> {
        self.values.get(key).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get_str(key).and_then(|s| s.parse().ok())
    }

    pub fn flag(&self, key: &str) -> bool {
        self.get_str(key).is_some_and(|v| v == "1")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct GuestStatus {
    pub status: String,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub vmid: Option<u64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub lock: Option<String>,
    #[serde(default)]
    pub qmpstatus: Option<String>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub uptime: Option<u64>,
    #[serde(default, deserialize_with = "flexible_bool")]
    pub template: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct SnapshotInfo {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub snaptime: Option<u64>,
    #[serde(default, deserialize_with = "flexible_bool")]
    pub vmstate: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct TaskSummary {
    pub upid: String,
    #[serde(rename = "type", default)]
    pub task_type: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub starttime: Option<u64>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub endtime: Option<u64>,
    #[serde(default)]
    pub user: Option<String>,
}

/// Where a guest lives, found through /cluster/resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestLocation {
    pub node: String,
    pub kind: GuestKind,
    pub vmid: u64,
}

fn guest_path(kind: GuestKind, node: &str, vmid: u64) -> String {
    format!("/nodes/{}/{}/{vmid}", segment(node), kind.as_str())
}

fn upid_from(value: Value, request: &str) -> Result<Upid, ApiError> {
    value
        .as_str()
        .ok_or_else(|| ApiError::Decode { request: request.to_string(), detail: format!("expected a UPID, got {value}") })?
        .parse()
        .map_err(|e: crate::upid::InvalidUpid| ApiError::Decode { request: request.to_string(), detail: e.to_string() })
}

impl PveClient {
    pub async fn version(&self) -> Result<Version, ApiError> {
        self.get("/version", &Params::new()).await
    }

    /// All resources, or those of one type (`vm`, `storage`, `node`).
    pub async fn cluster_resources(&self, resource_type: Option<&str>) -> Result<Vec<ClusterResource>, ApiError> {
        self.get("/cluster/resources", &Params::new().opt("type", resource_type)).await
    }

    /// The next free VMID, or checks that `vmid` is free (PVE answers 400 if it is taken).
    pub async fn next_id(&self, vmid: Option<u64>) -> Result<u64, ApiError> {
        #[derive(Deserialize)]
        struct Id(#[serde(deserialize_with = "flexible_u64")] Option<u64>);
        let Id(id) = self.get("/cluster/nextid", &Params::new().opt("vmid", vmid)).await?;
        id.ok_or_else(|| ApiError::Decode { request: "GET /cluster/nextid".into(), detail: "no integer in response".into() })
    }

    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, ApiError> {
        self.get("/nodes", &Params::new()).await
    }

    pub async fn node_storages(&self, node: &str, content: Option<&str>) -> Result<Vec<StorageInfo>, ApiError> {
        self.get(&format!("/nodes/{}/storage", segment(node)), &Params::new().opt("content", content)).await
    }

    pub async fn storage_content(
        &self,
        node: &str,
        storage: &str,
        content: Option<&str>,
        vmid: Option<u64>,
    ) -> Result<Vec<StorageVolume>, ApiError> {
        let path = format!("/nodes/{}/storage/{}/content", segment(node), segment(storage));
        self.get(&path, &Params::new().opt("content", content).opt("vmid", vmid)).await
    }

    pub async fn delete_volume(&self, node: &str, storage: &str, volid: &str) -> Result<Option<String>, ApiError> {
        let path = format!("/nodes/{}/storage/{}/content/{}", segment(node), segment(storage), segment(volid));
        self.delete(&path, &Params::new()).await
    }

    /// Finds a guest anywhere in the cluster.
    pub async fn locate_guest(&self, vmid: u64) -> Result<Option<GuestLocation>, ApiError> {
        let resources = self.cluster_resources(Some("vm")).await?;
        Ok(resources
            .into_iter()
            .find(|r| r.vmid == Some(vmid))
            .and_then(|r| Some(GuestLocation { node: r.node.clone()?, kind: r.guest_kind()?, vmid })))
    }

    pub async fn guest_config(&self, kind: GuestKind, node: &str, vmid: u64) -> Result<GuestConfig, ApiError> {
        let mut values: BTreeMap<String, Value> = self.get(&format!("{}/config", guest_path(kind, node, vmid)), &Params::new()).await?;
        let digest = values.remove("digest").and_then(|d| d.as_str().map(str::to_string)).unwrap_or_default();
        Ok(GuestConfig { values, digest })
    }

    /// Creates a guest (or restores one with `archive`). Not retried unless PVE certainly did not act.
    pub async fn create_guest(&self, kind: GuestKind, node: &str, params: &Params) -> Result<Upid, ApiError> {
        let path = format!("/nodes/{}/{}", segment(node), kind.as_str());
        let value = self.post(&path, params, Retry::OnlyIfNotApplied).await?;
        upid_from(value, &format!("POST {path}"))
    }

    pub async fn clone_guest(&self, kind: GuestKind, node: &str, vmid: u64, newid: u64, params: &Params) -> Result<Upid, ApiError> {
        let path = format!("{}/clone", guest_path(kind, node, vmid));
        let value = self.post(&path, &params.clone().set("newid", newid), Retry::OnlyIfNotApplied).await?;
        upid_from(value, &format!("POST {path}"))
    }

    /// Synchronous config update (PUT). Pass `digest` to detect concurrent edits.
    pub async fn update_config(&self, kind: GuestKind, node: &str, vmid: u64, params: &Params) -> Result<(), ApiError> {
        let _: Value = self.put(&format!("{}/config", guest_path(kind, node, vmid)), params).await?;
        Ok(())
    }

    /// Asynchronous QEMU config update (POST), for changes that allocate disks; returns a task.
    pub async fn update_config_async(&self, node: &str, vmid: u64, params: &Params) -> Result<Option<Upid>, ApiError> {
        let path = format!("{}/config", guest_path(GuestKind::Qemu, node, vmid));
        let value: Value = self.post(&path, params, Retry::OnlyIfNotApplied).await?;
        if value.is_null() { Ok(None) } else { upid_from(value, &format!("POST {path}")).map(Some) }
    }

    pub async fn guest_status(&self, kind: GuestKind, node: &str, vmid: u64) -> Result<GuestStatus, ApiError> {
        self.get(&format!("{}/status/current", guest_path(kind, node, vmid)), &Params::new()).await
    }

    /// `start`, `stop`, `shutdown`, `reboot`, `suspend`, `resume`.
    pub async fn guest_action(&self, kind: GuestKind, node: &str, vmid: u64, action: &str, params: &Params) -> Result<Upid, ApiError> {
        let path = format!("{}/status/{action}", guest_path(kind, node, vmid));
        // A repeated start/stop is harmless, but the second one would fail on the lock the first
        // still holds; only resend when the first certainly did nothing.
        let value = self.post(&path, params, Retry::OnlyIfNotApplied).await?;
        upid_from(value, &format!("POST {path}"))
    }

    /// Grows a disk to `size` (absolute, e.g. `40G`) or by `+N`.
    pub async fn resize_disk(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u64,
        disk: &str,
        size: &str,
        digest: Option<&str>,
    ) -> Result<Option<Upid>, ApiError> {
        let path = format!("{}/resize", guest_path(kind, node, vmid));
        let value: Value = self.put(&path, &Params::new().set("disk", disk).set("size", size).opt("digest", digest)).await?;
        if value.is_null() { Ok(None) } else { upid_from(value, &format!("PUT {path}")).map(Some) }
    }

    pub async fn delete_guest(&self, kind: GuestKind, node: &str, vmid: u64, purge: bool) -> Result<Upid, ApiError> {
        let path = guest_path(kind, node, vmid);
        let mut params = Params::new().flag("purge", purge);
        if kind == GuestKind::Qemu {
            params = params.flag("destroy-unreferenced-disks", true);
        }
        let value = self.delete(&path, &params).await?;
        upid_from(value, &format!("DELETE {path}"))
    }

    pub async fn convert_to_template(&self, kind: GuestKind, node: &str, vmid: u64) -> Result<Option<Upid>, ApiError> {
        let path = format!("{}/template", guest_path(kind, node, vmid));
        let value: Value = self.post(&path, &Params::new(), Retry::OnlyIfNotApplied).await?;
        if value.is_null() { Ok(None) } else { upid_from(value, &format!("POST {path}")).map(Some) }
    }

    pub async fn snapshots(&self, kind: GuestKind, node: &str, vmid: u64) -> Result<Vec<SnapshotInfo>, ApiError> {
        self.get(&format!("{}/snapshot", guest_path(kind, node, vmid)), &Params::new()).await
    }

    pub async fn create_snapshot(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u64,
        name: &str,
        description: Option<&str>,
        vmstate: bool,
    ) -> Result<Upid, ApiError> {
        let path = format!("{}/snapshot", guest_path(kind, node, vmid));
        let mut params = Params::new().set("snapname", name).opt("description", description);
        if vmstate {
            params = params.flag("vmstate", true);
        }
        let value = self.post(&path, &params, Retry::OnlyIfNotApplied).await?;
        upid_from(value, &format!("POST {path}"))
    }

    pub async fn delete_snapshot(&self, kind: GuestKind, node: &str, vmid: u64, name: &str) -> Result<Upid, ApiError> {
        let path = format!("{}/snapshot/{}", guest_path(kind, node, vmid), segment(name));
        let value = self.delete(&path, &Params::new()).await?;
        upid_from(value, &format!("DELETE {path}"))
    }

    pub async fn rollback_snapshot(&self, kind: GuestKind, node: &str, vmid: u64, name: &str) -> Result<Upid, ApiError> {
        let path = format!("{}/snapshot/{}/rollback", guest_path(kind, node, vmid), segment(name));
        let value = self.post(&path, &Params::new(), Retry::OnlyIfNotApplied).await?;
        upid_from(value, &format!("POST {path}"))
    }

    pub async fn node_tasks(&self, node: &str, params: &Params) -> Result<Vec<TaskSummary>, ApiError> {
        self.get(&format!("/nodes/{}/tasks", segment(node)), params).await
    }

    pub async fn vzdump(&self, node: &str, params: &Params) -> Result<Upid, ApiError> {
        let path = format!("/nodes/{}/vzdump", segment(node));
        let value = self.post(&path, params, Retry::OnlyIfNotApplied).await?;
        upid_from(value, &format!("POST {path}"))
    }

    pub async fn backup_jobs(&self) -> Result<Vec<BTreeMap<String, Value>>, ApiError> {
        self.get("/cluster/backup", &Params::new()).await
    }

    pub async fn backup_job(&self, id: &str) -> Result<BTreeMap<String, Value>, ApiError> {
        self.get(&format!("/cluster/backup/{}", segment(id)), &Params::new()).await
    }

    pub async fn create_backup_job(&self, params: &Params) -> Result<(), ApiError> {
        let _: Value = self.post("/cluster/backup", params, Retry::OnlyIfNotApplied).await?;
        Ok(())
    }

    pub async fn update_backup_job(&self, id: &str, params: &Params) -> Result<(), ApiError> {
        let _: Value = self.put(&format!("/cluster/backup/{}", segment(id)), params).await?;
        Ok(())
    }

    pub async fn delete_backup_job(&self, id: &str) -> Result<(), ApiError> {
        let _: Value = self.delete(&format!("/cluster/backup/{}", segment(id)), &Params::new()).await?;
        Ok(())
    }

    pub async fn ha_resources(&self) -> Result<Vec<BTreeMap<String, Value>>, ApiError> {
        self.get("/cluster/ha/resources", &Params::new()).await
    }

    pub async fn ha_resource(&self, sid: &str) -> Result<BTreeMap<String, Value>, ApiError> {
        self.get(&format!("/cluster/ha/resources/{}", segment(sid)), &Params::new()).await
    }

    pub async fn create_ha_resource(&self, params: &Params) -> Result<(), ApiError> {
        let _: Value = self.post("/cluster/ha/resources", params, Retry::OnlyIfNotApplied).await?;
        Ok(())
    }

    pub async fn update_ha_resource(&self, sid: &str, params: &Params) -> Result<(), ApiError> {
        let _: Value = self.put(&format!("/cluster/ha/resources/{}", segment(sid)), params).await?;
        Ok(())
    }

    pub async fn delete_ha_resource(&self, sid: &str) -> Result<(), ApiError> {
        let _: Value = self.delete(&format!("/cluster/ha/resources/{}", segment(sid)), &Params::new()).await?;
        Ok(())
    }

    pub async fn pools(&self) -> Result<Vec<BTreeMap<String, Value>>, ApiError> {
        self.get("/pools", &Params::new()).await
    }

    pub async fn pool(&self, poolid: &str) -> Result<BTreeMap<String, Value>, ApiError> {
        self.get(&format!("/pools/{}", segment(poolid)), &Params::new()).await
    }

    pub async fn create_pool(&self, poolid: &str, comment: Option<&str>) -> Result<(), ApiError> {
        let _: Value = self.post("/pools", &Params::new().set("poolid", poolid).opt("comment", comment), Retry::OnlyIfNotApplied).await?;
        Ok(())
    }

    pub async fn update_pool(&self, poolid: &str, params: &Params) -> Result<(), ApiError> {
        let _: Value = self.put(&format!("/pools/{}", segment(poolid)), params).await?;
        Ok(())
    }

    pub async fn delete_pool(&self, poolid: &str) -> Result<(), ApiError> {
        let _: Value = self.delete(&format!("/pools/{}", segment(poolid)), &Params::new()).await?;
        Ok(())
    }
}
