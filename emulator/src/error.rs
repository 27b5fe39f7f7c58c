//! PVE's errors: an HTTP status and a message, and for parameter errors a message per parameter.

use crate::schema::ParamErrors;

/// An error as PVE's HTTP layer returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct PveError {
    pub status: u16,
    pub message: String,
    pub errors: Option<ParamErrors>,
}

impl PveError {
    /// A handler error: HTTP 500 with the message as reason and in the body.
    pub fn server(message: impl Into<String>) -> Self {
        Self { status: 500, message: message.into(), errors: None }
    }

    pub fn params(errors: ParamErrors) -> Self {
        Self { status: 400, message: "Parameter verification failed.".into(), errors: Some(errors) }
    }

    pub fn param(name: &str, message: impl Into<String>) -> Self {
        Self::params([(name.to_string(), message.into())].into())
    }

    /// A required parameter the request lacks.
    pub fn missing(name: &str) -> Self {
        Self::param(name, "property is missing and it is not optional")
    }

    pub fn status(status: u16, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), errors: None }
    }
}
