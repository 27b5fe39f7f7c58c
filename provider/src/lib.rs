//! terraform-provider-pve: the plugin protocol layer (`plugin`), the provider's configuration
//! (`provider`), its data sources and functions.

pub mod data_sources;
pub mod docs;
pub mod functions;
pub mod memo;
pub mod plugin;
pub mod provider;
pub mod resources;

/// Generated protocol types.
pub mod proto {
    #![allow(clippy::all)]
    pub mod tfplugin6 {
        tonic::include_proto!("tfplugin6");
    }
    pub mod plugin {
        tonic::include_proto!("plugin");
    }
}
