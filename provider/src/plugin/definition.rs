//! What a provider is made of: its definition, data sources and functions (resources are in
//! `resource`). The plugin server serves any `ProviderDefinition`.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::diag::Diagnostics;
use super::resource::Resource;
use super::schema::Block;
use super::value::{Type, Value};

pub trait DataSource<C>: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Block;
    /// Checks beyond the schema's validators (e.g. conflicting attributes).
    fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::default()
    }
    fn read<'a>(&'a self, ctx: &'a C, config: Value) -> BoxFuture<'a, Result<Value, Diagnostics>>;
}

/// A provider function (`provider::pve::NAME(...)`).
pub trait Function: Send + Sync {
    fn name(&self) -> &'static str;
    fn summary(&self) -> &'static str;
    fn description(&self) -> &'static str;
    fn parameters(&self) -> Vec<(&'static str, Type, &'static str)>;
    fn return_type(&self) -> Type;
    /// On failure: the message and, if one argument is at fault, its index.
    fn call(&self, arguments: &[Value]) -> Result<Value, (String, Option<i64>)>;
}

/// What a provider is: its configuration and what it offers.
pub trait ProviderDefinition: Send + Sync + 'static {
    type Context: Send + Sync + 'static;
    fn schema(&self) -> Block;
    fn validate(&self, config: &Value) -> Diagnostics;
    fn configure<'a>(&'a self, config: Value, terraform_version: String) -> BoxFuture<'a, Result<Self::Context, Diagnostics>>;
    fn data_sources(&self) -> Vec<Arc<dyn DataSource<Self::Context>>>;
    fn resources(&self) -> Vec<Arc<dyn Resource<Self::Context>>> {
        Vec::new()
    }
    fn functions(&self) -> Vec<Arc<dyn Function>>;
    /// Terraform asked the provider to stop (Ctrl-C): interrupt long waits.
    fn stop(&self, _context: &Self::Context) {}
}
