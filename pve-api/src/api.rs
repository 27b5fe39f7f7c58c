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

/// [`flexible_bool`] for options whose absence means PVE's default, not `false` (a backup job's
/// `enabled` defaults to 1, an HA resource's `failback` too).
pub fn flexible_opt_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => None,
        other => Some(flexible_bool(other).map_err(serde::de::Error::custom)?),
    })
}

/// Text as PVE's config files hold it: PVE types some values per schema (`compress: 0`, a
/// single-VMID `vmid: 100`, pending `memory: 2048`), so numbers and booleans become their digits.
pub fn flexible_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => None,
        Value::String(s) => Some(s),
        Value::Bool(b) => Some(if b { "1" } else { "0" }.to_string()),
        other => Some(other.to_string()),
    })
}

/// A property string (`keep-daily=7,keep-weekly=4`) that PVE sends as text or, for some
/// endpoints and versions, as an object of its keys; both come out as the text form.
pub fn property_string_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Object(keys) => Some(
            keys.into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s,
                        Value::Bool(b) => if b { "1" } else { "0" }.to_string(),
                        other => other.to_string(),
                    };
                    (k, v)
                })
                .collect::<crate::propstr::PropertyString>()
                .to_string(),
        ),
        other => flexible_string(other).map_err(serde::de::Error::custom)?,
    })
}

/// The VMIDs of a `pve-vmid-list` (`100,101`; PVE also splits on `;` and whitespace).
fn vmid_list(list: Option<&str>) -> Vec<u64> {
    list.map(|l| crate::tags::split_tag_list(l).filter_map(|v| v.parse().ok()).collect()).unwrap_or_default()
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

/// One HA resource: a row of `/cluster/ha/resources` or `/cluster/ha/resources/{sid}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct HaResource {
    /// `vm:100` or `ct:200`.
    pub sid: String,
    /// `vm` or `ct`.
    #[serde(rename = "type", default)]
    pub resource_type: Option<String>,
    /// `started` (PVE's default when unset), `stopped`, `enabled`, `disabled`, `ignored`.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub max_restart: Option<u64>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub max_relocate: Option<u64>,
    #[serde(default)]
    pub comment: Option<String>,
    /// Unset means PVE's default, true.
    #[serde(default, deserialize_with = "flexible_opt_bool")]
    pub failback: Option<bool>,
    #[serde(default)]
    pub digest: Option<String>,
    /// Keys this struct does not name (PVE 9 adds HA rules; later versions may add more).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl HaResource {
    /// The guest's VMID (the part after `vm:`/`ct:`; PVE also accepts a bare VMID as SID).
    pub fn vmid(&self) -> Option<u64> {
        self.sid.rsplit(':').next().and_then(|v| v.parse().ok())
    }
}

/// One HA rule (PVE 9): a row of `/cluster/ha/rules` or `/cluster/ha/rules/{rule}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct HaRule {
    pub rule: String,
    /// `node-affinity` or `resource-affinity`.
    #[serde(rename = "type")]
    pub rule_type: String,
    /// Comma-separated SIDs (`vm:100,ct:200`).
    #[serde(default)]
    pub resources: String,
    /// node-affinity: comma-separated `node[:priority]`.
    #[serde(default)]
    pub nodes: Option<String>,
    #[serde(default, deserialize_with = "flexible_opt_bool")]
    pub strict: Option<bool>,
    /// resource-affinity: `positive` or `negative`.
    #[serde(default)]
    pub affinity: Option<String>,
    #[serde(default, deserialize_with = "flexible_opt_bool")]
    pub disable: Option<bool>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// One scheduled vzdump job: a row of `/cluster/backup` or `/cluster/backup/{id}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct BackupJob {
    pub id: String,
    /// `vzdump`.
    #[serde(rename = "type", default)]
    pub job_type: Option<String>,
    #[serde(default)]
    pub schedule: Option<String>,
    /// Unset means enabled; see [`BackupJob::is_enabled`].
    #[serde(default, deserialize_with = "flexible_opt_bool")]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub storage: Option<String>,
    /// Run only on this node.
    #[serde(default)]
    pub node: Option<String>,
    /// The selected guests as PVE stores them (`100,101`); see [`BackupJob::vmids`].
    #[serde(default, deserialize_with = "flexible_string")]
    pub vmid: Option<String>,
    #[serde(default)]
    pub pool: Option<String>,
    #[serde(default, deserialize_with = "flexible_opt_bool")]
    pub all: Option<bool>,
    /// With `all`: guests left out (`100,101`); see [`BackupJob::excluded`].
    #[serde(default, deserialize_with = "flexible_string")]
    pub exclude: Option<String>,
    /// `snapshot` (PVE's default when unset), `suspend`, `stop`.
    #[serde(default)]
    pub mode: Option<String>,
    /// `0` (PVE's default when unset), `1`, `gzip`, `lzo`, `zstd`; PVE may send 0/1 as numbers.
    #[serde(default, deserialize_with = "flexible_string")]
    pub compress: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(rename = "notes-template", default)]
    pub notes_template: Option<String>,
    /// Retention as a property string (`keep-daily=7,keep-weekly=4`).
    #[serde(rename = "prune-backups", default, deserialize_with = "property_string_text")]
    pub prune_backups: Option<String>,
    /// Addresses or users, comma-separated.
    #[serde(default)]
    pub mailto: Option<String>,
    /// `always` or `failure`.
    #[serde(default)]
    pub mailnotification: Option<String>,
    /// `auto` (PVE's default), `legacy-sendmail` or `notification-system` (PVE 8.1+).
    #[serde(rename = "notification-mode", default)]
    pub notification_mode: Option<String>,
    /// Run a job whose time passed while the node was down, once it is back.
    #[serde(rename = "repeat-missed", default, deserialize_with = "flexible_opt_bool")]
    pub repeat_missed: Option<bool>,
    /// Unix time of the next run; PVE only sends it for enabled jobs.
    #[serde(rename = "next-run", default, deserialize_with = "flexible_u64")]
    pub next_run: Option<u64>,
    /// Every other vzdump option the job carries (bwlimit, fleecing, performance, protected, …).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl BackupJob {
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }

    /// The VMIDs the job names explicitly.
    pub fn vmids(&self) -> Vec<u64> {
        vmid_list(self.vmid.as_deref())
    }

    /// The VMIDs an `all` job leaves out.
    pub fn excluded(&self) -> Vec<u64> {
        vmid_list(self.exclude.as_deref())
    }
}

/// A resource pool: a row of `/pools`, or `/pools/{poolid}` (which leaves out `poolid`; the
/// client fills it in).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct Pool {
    #[serde(default)]
    pub poolid: String,
    #[serde(default)]
    pub comment: Option<String>,
    /// Guests and storages in the pool (the `/pools` listing may leave them out).
    #[serde(default)]
    pub members: Vec<PoolMember>,
}

impl Pool {
    /// The VMIDs of the pool's guests.
    pub fn vmids(&self) -> Vec<u64> {
        self.members.iter().filter_map(|m| m.vmid).collect()
    }
}

/// A guest or storage in a pool.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct PoolMember {
    /// `qemu/100`, `storage/pve1/local`.
    pub id: String,
    /// `qemu`, `lxc`, `openvz` or `storage`.
    #[serde(rename = "type", default)]
    pub member_type: String,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub vmid: Option<u64>,
    #[serde(default)]
    pub storage: Option<String>,
    /// PVE sends each member's /cluster/resources row (name, status, maxmem, …).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl PoolMember {
    pub fn guest_kind(&self) -> Option<GuestKind> {
        match self.member_type.as_str() {
            "qemu" => Some(GuestKind::Qemu),
            "lxc" => Some(GuestKind::Lxc),
            _ => None,
        }
    }
}

/// A storage's cluster-wide definition (`/storage/{storage}`), as opposed to its state on a node
/// ([`StorageInfo`]).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct StorageConfig {
    #[serde(default)]
    pub storage: String,
    /// `dir`, `nfs`, `lvmthin`, `zfspool`, `pbs`, …
    #[serde(rename = "type", default)]
    pub storage_type: Option<String>,
    /// Content types, comma-separated (`iso,vztmpl,backup,snippets`); see [`StorageConfig::supports`].
    #[serde(default)]
    pub content: Option<String>,
    /// Where the files of a directory-backed storage live.
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default, deserialize_with = "flexible_bool")]
    pub shared: bool,
    /// The nodes that may use it, comma-separated; unset means all.
    #[serde(default)]
    pub nodes: Option<String>,
    #[serde(default, deserialize_with = "flexible_bool")]
    pub disable: bool,
    #[serde(rename = "prune-backups", default, deserialize_with = "property_string_text")]
    pub prune_backups: Option<String>,
    #[serde(default)]
    pub digest: Option<String>,
    /// Type-specific keys (vgname, thinpool, pool, server, export, datastore, …).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl StorageConfig {
    pub fn supports(&self, content: &str) -> bool {
        self.content.as_deref().is_some_and(|c| c.split(',').any(|c| c == content))
    }

    /// The nodes it is restricted to; empty when every node may use it.
    pub fn node_list(&self) -> Vec<String> {
        self.nodes
            .as_deref()
            .map(|n| n.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_string).collect())
            .unwrap_or_default()
    }
}

/// One interface of `/nodes/{node}/network`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct NetworkInterface {
    pub iface: String,
    /// `bridge`, `bond`, `eth`, `vlan`, `OVSBridge`, `vnet`, …
    #[serde(rename = "type", default)]
    pub iface_type: String,
    #[serde(default, deserialize_with = "flexible_bool")]
    pub active: bool,
    #[serde(default, deserialize_with = "flexible_bool")]
    pub autostart: bool,
    /// `static`, `dhcp`, `manual`, …
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub cidr: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub gateway: Option<String>,
    #[serde(default)]
    pub bridge_ports: Option<String>,
    #[serde(default, deserialize_with = "flexible_bool")]
    pub bridge_vlan_aware: bool,
    #[serde(default)]
    pub comments: Option<String>,
    /// IPv6, bond, VLAN, OVS and VXLAN settings.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl NetworkInterface {
    /// A Linux or Open vSwitch bridge: what a guest NIC's `bridge=` may name.
    pub fn is_bridge(&self) -> bool {
        matches!(self.iface_type.as_str(), "bridge" | "OVSBridge")
    }
}

/// One config key of `/nodes/{node}/{qemu|lxc}/{vmid}/pending`: its current value and what
/// waits for the guest's next restart.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct PendingChange {
    pub key: String,
    #[serde(default, deserialize_with = "flexible_string")]
    pub value: Option<String>,
    /// The value it takes on restart.
    #[serde(default, deserialize_with = "flexible_string")]
    pub pending: Option<String>,
    /// Set when the key is to be removed (1, or 2 for a forced removal).
    #[serde(default, deserialize_with = "flexible_u64")]
    pub delete: Option<u64>,
}

impl PendingChange {
    /// Whether this key changes on the next restart (a new value or a removal).
    pub fn is_pending(&self) -> bool {
        self.pending.is_some() || self.delete.is_some()
    }
}

/// A volume's attributes (`/nodes/{node}/storage/{storage}/content/{volume}`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct VolumeAttributes {
    /// Its path on the node.
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub size: Option<u64>,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub used: Option<u64>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default, deserialize_with = "flexible_bool")]
    pub protected: bool,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// One NIC the QEMU guest agent reports (`agent/network-get-interfaces`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct AgentInterface {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "hardware-address", default)]
    pub hardware_address: Option<String>,
    #[serde(rename = "ip-addresses", default)]
    pub ip_addresses: Vec<AgentIpAddress>,
    /// Statistics and whatever else the agent's version reports.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct AgentIpAddress {
    #[serde(rename = "ip-address", default)]
    pub ip_address: String,
    /// `ipv4` or `ipv6`.
    #[serde(rename = "ip-address-type", default)]
    pub ip_address_type: String,
    #[serde(default, deserialize_with = "flexible_u64")]
    pub prefix: Option<u64>,
}

/// Where a guest lives and what it is, from one /cluster/resources row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestLocation {
    pub node: String,
    pub kind: GuestKind,
    pub vmid: u64,
    /// Empty when PVE sends none.
    pub name: String,
    pub running: bool,
    pub template: bool,
    pub pool: Option<String>,
    pub tags: Vec<String>,
}

impl GuestLocation {
    /// The guest a row describes; `None` for nodes, storages, pools and rows without a node.
    pub fn from_resource(row: &ClusterResource) -> Option<Self> {
        Some(Self {
            node: row.node.clone()?,
            kind: row.guest_kind()?,
            vmid: row.vmid?,
            name: row.name.clone().unwrap_or_default(),
            running: row.status.as_deref() == Some("running"),
            template: row.template,
            pool: row.pool.clone(),
            tags: row.tag_list(),
        })
    }
}

/// The guest with `vmid` in a /cluster/resources listing (of any type filter), of either kind,
/// templates included: the one "find a guest" of the provider and pve-ops, so both read a row the
/// same way. Callers that must not act on templates check [`GuestLocation::template`].
pub fn find_guest(resources: &[ClusterResource], vmid: u64) -> Option<GuestLocation> {
    resources.iter().filter(|r| r.vmid == Some(vmid)).find_map(GuestLocation::from_resource)
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

    /// Fetches a URL into a storage (`iso`, `vztmpl` or `import` content) as a `download` task.
    /// Not resent unless PVE certainly did not act: a second request would find the file and fail.
    pub async fn download_url(&self, node: &str, storage: &str, params: &Params) -> Result<Upid, ApiError> {
        let path = format!("/nodes/{}/storage/{}/download-url", segment(node), segment(storage));
        let value = self.post(&path, params, Retry::OnlyIfNotApplied).await?;
        upid_from(value, &format!("POST {path}"))
    }

    /// Finds a guest anywhere in the cluster (one listing; see [`find_guest`]).
    pub async fn locate_guest(&self, vmid: u64) -> Result<Option<GuestLocation>, ApiError> {
        Ok(find_guest(&self.cluster_resources(Some("vm")).await?, vmid))
    }

    /// A storage's definition: type, content types, path, nodes. PVE answers 500 "storage 'x'
    /// does not exist" for an unknown ID.
    pub async fn storage_config(&self, storage: &str) -> Result<StorageConfig, ApiError> {
        let mut config: StorageConfig = self.get(&format!("/storage/{}", segment(storage)), &Params::new()).await?;
        if config.storage.is_empty() {
            config.storage = storage.to_string();
        }
        Ok(config)
    }

    /// A node's interfaces, or those of one `type` (`bridge`, `any_bridge`, `eth`, …).
    pub async fn node_network(&self, node: &str, iface_type: Option<&str>) -> Result<Vec<NetworkInterface>, ApiError> {
        self.get(&format!("/nodes/{}/network", segment(node)), &Params::new().opt("type", iface_type)).await
    }

    /// The bridges guests on `node` can attach to (Linux and OVS bridges).
    pub async fn node_bridges(&self, node: &str) -> Result<Vec<NetworkInterface>, ApiError> {
        // With SDN, `any_bridge` lists the zones' vnets too; only the node's own Linux and OVS
        // bridges are kept, as the provider has always reported them.
        let mut interfaces = self.node_network(node, Some("any_bridge")).await?;
        interfaces.retain(NetworkInterface::is_bridge);
        Ok(interfaces)
    }

    /// A volume's attributes; an error when the node cannot read it.
    pub async fn volume_attributes(&self, node: &str, storage: &str, volid: &str) -> Result<VolumeAttributes, ApiError> {
        let path = format!("/nodes/{}/storage/{}/content/{}", segment(node), segment(storage), segment(volid));
        self.get(&path, &Params::new()).await
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

    /// Offline migration of a stopped guest to `target`; its local volumes go to `storage` there
    /// (qemu `targetstorage`, pve-container `target-storage`), or to the same storage ID.
    pub async fn migrate_guest(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u64,
        target: &str,
        storage: Option<&str>,
    ) -> Result<Upid, ApiError> {
        let path = format!("{}/migrate", guest_path(kind, node, vmid));
        let storage_key = if kind == GuestKind::Qemu { "targetstorage" } else { "target-storage" };
        let params = Params::new().set("target", target).opt(storage_key, storage);
        let value = self.post(&path, &params, Retry::OnlyIfNotApplied).await?;
        upid_from(value, &format!("POST {path}"))
    }

    /// Moves a VM disk (`move_disk`) or a container volume (`move_volume`) to `storage`; with
    /// `delete` the old volume is freed (else it stays as `unusedN`).
    pub async fn move_volume(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u64,
        slot: &str,
        storage: &str,
        delete: bool,
    ) -> Result<Upid, ApiError> {
        let (action, slot_key) = if kind == GuestKind::Qemu { ("move_disk", "disk") } else { ("move_volume", "volume") };
        let path = format!("{}/{action}", guest_path(kind, node, vmid));
        let params = Params::new().set(slot_key, slot).set("storage", storage).flag("delete", delete);
        let value = self.post(&path, &params, Retry::OnlyIfNotApplied).await?;
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

    /// Every config key with its current and pending value; see [`PendingChange::is_pending`].
    pub async fn guest_pending(&self, kind: GuestKind, node: &str, vmid: u64) -> Result<Vec<PendingChange>, ApiError> {
        self.get(&format!("{}/pending", guest_path(kind, node, vmid)), &Params::new()).await
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

    /// Sets a snapshot's description (the only thing PVE lets change). Synchronous; sending it
    /// twice gives the same result.
    pub async fn set_snapshot_description(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u64,
        name: &str,
        description: &str,
    ) -> Result<(), ApiError> {
        let path = format!("{}/snapshot/{}/config", guest_path(kind, node, vmid), segment(name));
        let _: Value = self.put(&path, &Params::new().set("description", description)).await?;
        Ok(())
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

    /// Pings a VM's guest agent. PVE answers a silent agent with a 500 only after its own
    /// timeout, so this is never resent after an ambiguous failure: asking again only makes the
    /// caller wait longer.
    pub async fn agent_ping(&self, node: &str, vmid: u64) -> Result<(), ApiError> {
        let path = format!("{}/agent/ping", guest_path(GuestKind::Qemu, node, vmid));
        let _: Value = self.post(&path, &Params::new(), Retry::OnlyIfNotApplied).await?;
        Ok(())
    }

    /// The NICs and addresses a VM's guest agent reports; not resent after an ambiguous failure,
    /// for the same reason as [`PveClient::agent_ping`].
    pub async fn agent_network_interfaces(&self, node: &str, vmid: u64) -> Result<Vec<AgentInterface>, ApiError> {
        #[derive(Deserialize)]
        struct Answer {
            result: Vec<AgentInterface>,
        }
        let path = format!("{}/agent/network-get-interfaces", guest_path(GuestKind::Qemu, node, vmid));
        let answer: Answer = self.call(reqwest::Method::GET, &path, &Params::new(), Retry::OnlyIfNotApplied).await?;
        Ok(answer.result)
    }

    pub async fn node_tasks(&self, node: &str, params: &Params) -> Result<Vec<TaskSummary>, ApiError> {
        self.get(&format!("/nodes/{}/tasks", segment(node)), params).await
    }

    pub async fn vzdump(&self, node: &str, params: &Params) -> Result<Upid, ApiError> {
        let path = format!("/nodes/{}/vzdump", segment(node));
        let value = self.post(&path, params, Retry::OnlyIfNotApplied).await?;
        upid_from(value, &format!("POST {path}"))
    }

    /// Untyped form of [`PveClient::list_backup_jobs`], kept until the provider has moved over.
    pub async fn backup_jobs(&self) -> Result<Vec<BTreeMap<String, Value>>, ApiError> {
        self.get("/cluster/backup", &Params::new()).await
    }

    /// Untyped form of [`PveClient::read_backup_job`], kept until the provider has moved over.
    pub async fn backup_job(&self, id: &str) -> Result<BTreeMap<String, Value>, ApiError> {
        self.get(&format!("/cluster/backup/{}", segment(id)), &Params::new()).await
    }

    pub async fn list_backup_jobs(&self) -> Result<Vec<BackupJob>, ApiError> {
        self.get("/cluster/backup", &Params::new()).await
    }

    /// One job; PVE answers 500 "job 'x' does not exist" for an unknown ID.
    pub async fn read_backup_job(&self, id: &str) -> Result<BackupJob, ApiError> {
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

    /// Untyped form of [`PveClient::list_ha_resources`], kept until the provider has moved over.
    pub async fn ha_resources(&self) -> Result<Vec<BTreeMap<String, Value>>, ApiError> {
        self.get("/cluster/ha/resources", &Params::new()).await
    }

    /// Untyped form of [`PveClient::read_ha_resource`], kept until the provider has moved over.
    pub async fn ha_resource(&self, sid: &str) -> Result<BTreeMap<String, Value>, ApiError> {
        self.get(&format!("/cluster/ha/resources/{}", segment(sid)), &Params::new()).await
    }

    pub async fn list_ha_resources(&self) -> Result<Vec<HaResource>, ApiError> {
        self.get("/cluster/ha/resources", &Params::new()).await
    }

    pub async fn read_ha_resource(&self, sid: &str) -> Result<HaResource, ApiError> {
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

    /// PVE 8's HA groups; PVE 9 refuses this once the groups are migrated to rules.
    pub async fn list_ha_groups(&self) -> Result<Vec<BTreeMap<String, Value>>, ApiError> {
        self.get("/cluster/ha/groups", &Params::new()).await
    }

    pub async fn list_ha_rules(&self) -> Result<Vec<HaRule>, ApiError> {
        self.get("/cluster/ha/rules", &Params::new()).await
    }

    pub async fn create_ha_rule(&self, params: &Params) -> Result<(), ApiError> {
        let _: Value = self.post("/cluster/ha/rules", params, Retry::OnlyIfNotApplied).await?;
        Ok(())
    }

    pub async fn update_ha_rule(&self, rule: &str, params: &Params) -> Result<(), ApiError> {
        let _: Value = self.put(&format!("/cluster/ha/rules/{}", segment(rule)), params).await?;
        Ok(())
    }

    pub async fn delete_ha_rule(&self, rule: &str) -> Result<(), ApiError> {
        let _: Value = self.delete(&format!("/cluster/ha/rules/{}", segment(rule)), &Params::new()).await?;
        Ok(())
    }

    /// Untyped form of [`PveClient::list_pools`], kept until the provider has moved over.
    pub async fn pools(&self) -> Result<Vec<BTreeMap<String, Value>>, ApiError> {
        self.get("/pools", &Params::new()).await
    }

    /// Untyped form of [`PveClient::read_pool`], kept until the provider has moved over.
    pub async fn pool(&self, poolid: &str) -> Result<BTreeMap<String, Value>, ApiError> {
        self.get(&format!("/pools/{}", segment(poolid)), &Params::new()).await
    }

    pub async fn list_pools(&self) -> Result<Vec<Pool>, ApiError> {
        self.get("/pools", &Params::new()).await
    }

    /// One pool with its members.
    pub async fn read_pool(&self, poolid: &str) -> Result<Pool, ApiError> {
        let mut pool: Pool = self.get(&format!("/pools/{}", segment(poolid)), &Params::new()).await?;
        // PVE leaves the ID out of this answer.
        if pool.poolid.is_empty() {
            pool.poolid = poolid.to_string();
        }
        Ok(pool)
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

mod access;
pub use access::{Access, AclEntry, AclSubject, CreatedToken, Group, Role, Token, User};

#[cfg(test)]
mod tests;
