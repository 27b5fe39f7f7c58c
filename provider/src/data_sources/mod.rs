//! Data sources: read-only views of the cluster.

mod guests;
mod next_vmid;
mod nodes;
mod storages;
mod template;
mod version;

use std::sync::Arc;

use crate::plugin::diag::{Diagnostic, Diagnostics};
use crate::plugin::service::DataSource;
use crate::provider::Context;

pub fn all() -> Vec<Arc<dyn DataSource<Context>>> {
    vec![
        Arc::new(version::PveVersion),
        Arc::new(nodes::PveNodes),
        Arc::new(nodes::PveNode),
        Arc::new(storages::PveStorages),
        Arc::new(guests::PveGuests),
        Arc::new(template::PveTemplate),
        Arc::new(next_vmid::PveNextVmid),
    ]
}

fn error_at(attribute: &str, summary: &str, detail: String) -> Diagnostics {
    Diagnostics::from(Diagnostic::error(summary, detail).at(crate::plugin::diag::attr(attribute)))
}
