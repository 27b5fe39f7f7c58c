pub mod cloud_init;
pub mod vm;
