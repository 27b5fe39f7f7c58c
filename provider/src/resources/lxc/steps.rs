//! The steps that talk to PVE and the nodes: reading a container back, growing volumes, and the
//! security-updates hookscript written over SSH.

use super::*;

/// Writes the security-update hookscript to the node (executable: PVE runs it); returns the
/// `hookscript` volume.
pub(super) async fn write_hook(ctx: &Context, node: &str, state: &Value) -> Result<String, Diagnostics> {
    let storage = state.get(names::SNIPPET_STORAGE).as_str().unwrap_or("local");
    let hook = crate::resources::guest::cloud_init::ct_security_hook();
    upload_snippet(ctx, node, storage, crate::resources::guest::cloud_init::CT_SECURITY_HOOK, hook.as_bytes(), 0o755, "hookscript").await
}

pub(super) async fn read_state(ctx: &Context, vmid: u64, prior: &Value) -> Result<Option<Value>, Diagnostics> {
    Ok(read_config(ctx, vmid, LXC).await?.map(|(at, config)| state_from_config(vmid, &at.node, at.running, at.pool, &config, prior)))
}
