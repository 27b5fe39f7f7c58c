pub mod backup_job;
pub mod cloud_init;
pub mod ha_resource;
pub mod lifecycle_tag;
pub mod snapshot;
pub mod vm;
