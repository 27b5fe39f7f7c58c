//! Terraform's plugin protocol 6, owned here rather than borrowed from a framework: the go-plugin
//! handshake, cty values, schemas with validators, diagnostics, and the gRPC service.

pub mod definition;
pub mod diag;
pub mod handshake;
pub mod mtls;
pub mod resource;
pub mod schema;
pub mod service;
pub mod value;
