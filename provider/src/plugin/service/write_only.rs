//! Write-only attributes for clients that do not know them.

use super::Block;
use super::Value;

/// Terraform < 1.11 (and OpenTofu < 1.10) do not know write-only attributes: they read the schema's
/// flag as nothing and treat such an attribute as an ordinary one, so a provider that plans it as
/// null breaks the protocol ("planned an invalid value"). Terraform 1.11+ says it knows them in
/// `client_capabilities.write_only_attributes_allowed`; every Terraform sends its version in
/// ConfigureProvider. For an older client the attributes are planned, applied and kept in state as
/// ordinary (still sensitive) values, with a warning that names them.
#[derive(Default)]
pub(super) struct WriteOnly(std::sync::atomic::AtomicU8);

impl WriteOnly {
    const UNKNOWN: u8 = 0;
    const SUPPORTED: u8 = 1;
    const UNSUPPORTED: u8 = 2;

    pub(super) fn client_says_supported(&self) {
        self.0.store(Self::SUPPORTED, std::sync::atomic::Ordering::SeqCst);
    }

    /// From ConfigureProvider's `terraform_version` (empty: no opinion). A capability already seen
    /// wins over the version.
    pub(super) fn judge_by_version(&self, version: &str) {
        let mut parts = version.trim_start_matches('v').split(['.', '-']).map(|p| p.parse::<u64>().ok());
        let known = match (parts.next().flatten(), parts.next().flatten()) {
            (Some(major), Some(minor)) => (major, minor) >= (1, 11),
            _ => return,
        };
        let value = if known { Self::SUPPORTED } else { Self::UNSUPPORTED };
        let _ = self.0.compare_exchange(Self::UNKNOWN, value, std::sync::atomic::Ordering::SeqCst, std::sync::atomic::Ordering::SeqCst);
    }

    /// True only when the client is known not to support write-only attributes.
    pub(super) fn legacy(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst) == Self::UNSUPPORTED
    }
}

/// Names of the schema's top-level write-only attributes.
pub(super) fn write_only_names(schema: &Block) -> impl Iterator<Item = &'static str> + '_ {
    schema.attributes.iter().filter(|a| a.write_only).map(|a| a.name)
}

/// Copies the write-only attributes of `from` into `into` (an object), nested blocks' too (list
/// items by position), for clients that keep them as ordinary values.
pub(super) fn keep_write_only(schema: &Block, from: &Value, into: &mut Value) {
    if let Value::Map(attributes) = into {
        for name in write_only_names(schema) {
            attributes.insert(name.to_string(), from.get(name).clone());
        }
        for nested in &schema.blocks {
            match (attributes.get_mut(nested.name), from.get(nested.name)) {
                (Some(Value::List(items)), Value::List(sources)) => {
                    for (item, source) in items.iter_mut().zip(sources) {
                        keep_write_only(&nested.block, source, item);
                    }
                }
                (Some(item @ Value::Map(_)), source) => keep_write_only(&nested.block, source, item),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WriteOnly;

    #[test]
    fn the_terraform_version_decides_until_the_client_says_more() {
        for (version, legacy) in
            [("1.6.6", true), ("1.9.8", true), ("1.10.5", true), ("1.11.0", false), ("1.15.5", false), ("2.0.0", false)]
        {
            let support = WriteOnly::default();
            support.judge_by_version(version);
            assert_eq!(support.legacy(), legacy, "{version}");
        }
        // No version: no opinion (write-only as declared).
        let support = WriteOnly::default();
        support.judge_by_version("");
        assert!(!support.legacy());
        // A client that announces the capability is believed over its version.
        let support = WriteOnly::default();
        support.client_says_supported();
        support.judge_by_version("1.10.0");
        assert!(!support.legacy());
    }
}
