//! The Proxmox VE API client shared by the Terraform provider and the operator CLI.
//!
//! - [`PveClient`]: token or ticket auth, verified TLS (opt-out only with `insecure`), PVE's error
//!   shapes as [`ApiError`], jittered retries that never resend a create PVE may have acted on.
//! - [`task`]: waiting for UPIDs with a short first poll and the log tail on failure.
//! - [`propstr`], [`tags`], [`size`], [`calendar`]: PVE's text formats, property-tested.

pub mod api;
pub mod calendar;
pub mod client;
pub mod config;
pub mod error;
pub mod marker;
pub mod privileges;
pub mod propstr;
pub mod secret;
pub mod size;
pub mod storage_files;
pub mod tags;
pub mod task;
pub mod upid;

pub use api::{
    Access, AclEntry, AclSubject, AgentInterface, AgentIpAddress, BackupJob, ClusterResource, CreatedToken, Group, GuestConfig, GuestKind,
    GuestLocation, GuestStatus, HaResource, HaRule, NetworkInterface, NodeInfo, PendingChange, Pool, PoolMember, Role, SnapshotInfo,
    StorageConfig, StorageInfo, StorageVolume, Token, User, Version, VolumeAttributes, find_guest,
};
pub use client::{Params, PveClient, Retry, install_crypto_provider, percent_decode, segment};
pub use config::{ClientConfig, Credentials, MinTls, RetryPolicy};
pub use error::ApiError;
pub use propstr::PropertyString;
pub use secret::Secret;
pub use task::{TaskOutcome, TaskStatus, TaskWait};
pub use upid::Upid;
