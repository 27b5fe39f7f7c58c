//! The mark every guest made by terraform-provider-pve carries from its first request on.
//!
//! It lives in the guest's description (PVE's "Notes"), as a line of its own at the end:
//! - the description is the only field that both `POST …/qemu/{vmid}/clone` and the create calls
//!   accept, so the mark is there from the moment PVE holds the guest. A tag would only follow in
//!   the config update after the clone, and a `kill -9` of Terraform between the two would leave
//!   exactly the guests worth finding unmarked;
//! - PVE keeps it through backups, restores, migrations and HA relocations, and a person sees it
//!   in the Notes panel.
//!
//! The provider hides the line from the `description` attribute; `pve-ops orphans` looks for it.

/// The line itself.
pub const MANAGED_MARK: &str = "managed-by: terraform-provider-pve";

/// `description` with the mark as its last line (the mark alone when there is no description).
pub fn with_mark(description: Option<&str>) -> String {
    match description.map(str::trim_end).filter(|d| !d.is_empty()) {
        Some(text) => format!("{text}\n\n{MANAGED_MARK}"),
        None => MANAGED_MARK.to_string(),
    }
}

/// Whether a description carries the mark.
pub fn is_marked(description: Option<&str>) -> bool {
    description.is_some_and(|d| d.lines().any(|line| line.trim() == MANAGED_MARK))
}

/// The description a person wrote, without the mark; `None` when nothing else is left.
pub fn without_mark(description: &str) -> Option<String> {
    let kept: Vec<&str> = description.lines().filter(|line| line.trim() != MANAGED_MARK).collect();
    let text = kept.join("\n");
    let text = text.trim_end();
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_round_trips_and_hides() {
        assert_eq!(with_mark(None), MANAGED_MARK);
        assert_eq!(with_mark(Some("  ")), MANAGED_MARK);
        let marked = with_mark(Some("web server\nsecond line\n"));
        assert_eq!(marked, format!("web server\nsecond line\n\n{MANAGED_MARK}"));
        assert!(is_marked(Some(&marked)) && !is_marked(Some("web server")) && !is_marked(None));
        // PVE returns descriptions with a trailing newline.
        assert_eq!(without_mark(&format!("{marked}\n")).as_deref(), Some("web server\nsecond line"));
        assert_eq!(without_mark(MANAGED_MARK), None);
        assert_eq!(without_mark("hand-written"), Some("hand-written".to_string()));
    }
}
