//! The resources, one folder each: `schema.rs` reads like the docs page, `model.rs` maps PVE's
//! config to state and back (unit-tested), `steps.rs` holds what talks to PVE, and `mod.rs` the
//! `Resource` implementation. What VMs and containers share lives once, in `guest/`; what the
//! access resources share (PVE's ID formats), in `access/`.

pub mod access;
pub mod acl;
pub mod api_token;
pub mod backup_job;
pub mod download_file;
pub mod group;
pub mod guest;
pub mod ha_resource;
pub mod ha_rule;
pub mod lifecycle_tag;
pub mod lxc;
pub mod pool;
pub mod role;
pub mod snapshot;
pub mod user;
pub mod vm;
