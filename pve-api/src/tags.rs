//! PVE tag lists. PVE stores a guest's tags lowercased, de-duplicated, sorted and joined with `;`,
//! and returns that form from the config and /cluster/resources; clients that compare against the
//! user's order or case see a diff that is not real, so every comparison goes through `normalize`.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)^[a-z0-9_][a-z0-9_\-+.]*$").expect("static regex"));

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tag '{tag}': tags start with a letter, digit or '_' and contain only letters, digits and '_', '-', '+', '.'")]
pub struct InvalidTag {
    pub tag: String,
}

pub fn is_valid_tag(tag: &str) -> bool {
    TAG.is_match(tag)
}

/// Splits a tag list as PVE does: on `;`, `,` and whitespace.
pub fn split_tag_list(list: &str) -> impl Iterator<Item = &str> {
    list.split([';', ',', ' ', '\t', '\n']).filter(|t| !t.is_empty())
}

/// Validates, lowercases, de-duplicates and sorts tags.
pub fn normalize<I, S>(tags: I) -> Result<Vec<String>, InvalidTag>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut set = BTreeSet::new();
    for tag in tags {
        let tag = tag.as_ref().trim();
        if tag.is_empty() {
            continue;
        }
        if !is_valid_tag(tag) {
            return Err(InvalidTag { tag: tag.to_string() });
        }
        set.insert(tag.to_lowercase());
    }
    Ok(set.into_iter().collect())
}

/// Normalises a `;`/`,`/space separated list into PVE's stored form.
pub fn normalize_list(list: &str) -> Result<String, InvalidTag> {
    Ok(normalize(split_tag_list(list))?.join(";"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sorts_lowercases_and_dedups() {
        assert_eq!(normalize_list("Web;db,web  RKE2").unwrap(), "db;rke2;web");
        assert_eq!(normalize(["b", "A", "a"]).unwrap(), vec!["a", "b"]);
        assert_eq!(normalize_list("").unwrap(), "");
    }

    #[test]
    fn rejects_bad_tags() {
        assert_eq!(normalize(["ok", "-bad"]).unwrap_err().tag, "-bad");
        assert!(normalize(["has:colon"]).is_err());
        assert!(is_valid_tag("expires-2026-12-01"));
        assert!(is_valid_tag("environment.lab"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        #[test]
        fn normalisation_is_idempotent_and_order_free(tags in proptest::collection::vec("[A-Za-z0-9_][A-Za-z0-9_+.-]{0,10}", 0..8)) {
            let once = normalize(&tags).unwrap();
            let mut reversed = tags.clone();
            reversed.reverse();
            prop_assert_eq!(&normalize(&reversed).unwrap(), &once);
            prop_assert_eq!(normalize_list(&once.join(";")).unwrap(), once.join(";"));
        }

        #[test]
        fn never_panics(list in ".{0,40}") {
            let _ = normalize_list(&list);
        }
    }
}

/// Lifecycle tags shared by `pve_lifecycle_tag` and `pve-ops expire-lab`. PVE tags cannot hold
/// ':', so the values follow a dash: `environment-lab`, `expires-2026-12-07`, `no-expire`.
pub mod lifecycle {
    pub const ENVIRONMENT: &str = "environment-";
    pub const EXPIRES: &str = "expires-";
    pub const NO_EXPIRE: &str = "no-expire";

    /// Whether a tag belongs to the lifecycle set (and so not to the guest resource's `tags`).
    pub fn is_lifecycle_tag(tag: &str) -> bool {
        let tag = tag.to_ascii_lowercase();
        tag.starts_with(ENVIRONMENT) || tag.starts_with(EXPIRES) || tag == NO_EXPIRE
    }

    pub fn environment(tags: &[String]) -> Option<String> {
        tags.iter().find_map(|t| t.strip_prefix(ENVIRONMENT).map(str::to_string))
    }

    pub fn expires(tags: &[String]) -> Option<chrono::NaiveDate> {
        tags.iter().find_map(|t| t.strip_prefix(EXPIRES).and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()))
    }

    pub fn no_expire(tags: &[String]) -> bool {
        tags.iter().any(|t| t == NO_EXPIRE)
    }
}

#[cfg(test)]
mod lifecycle_tests {
    use super::lifecycle::*;

    #[test]
    fn lifecycle_tags_are_valid_pve_tags_and_parse_back() {
        let tags: Vec<String> = ["environment-lab", "expires-2026-12-07", "no-expire", "web"].map(String::from).to_vec();
        assert!(tags.iter().all(|t| super::is_valid_tag(t)));
        assert_eq!(environment(&tags).as_deref(), Some("lab"));
        assert_eq!(expires(&tags), chrono::NaiveDate::from_ymd_opt(2026, 12, 7));
        assert!(no_expire(&tags));
        assert!(is_lifecycle_tag("Expires-2026-01-01") && !is_lifecycle_tag("web"));
    }
}
