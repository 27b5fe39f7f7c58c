pub mod backup_job;
pub mod cloud_init;
pub mod common;
pub mod ha_resource;
pub mod lifecycle_tag;
pub mod lxc;
pub mod snapshot;
pub mod vm;
