//! A Proxmox VE 9.1.3 API emulator, held to the official API schema: validation with PVE's messages,
//! async tasks with UPIDs, config locks with PVE's 10 s timeout, digests, tag normalisation,
//! per-node worker limits, seeded fault injection, persistence and a JSON request log.

pub mod admin;
pub mod api;
pub mod auth;
pub mod config;
pub mod error;
pub mod fixtures;
pub mod locks;
pub mod model;
pub mod schema;
pub mod server;
pub mod state;
pub mod storage_io;
pub mod tasks;
pub mod vzdump;

pub use config::EmulatorConfig;
pub use server::{RunningEmulator, serve};
