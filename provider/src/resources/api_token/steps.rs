//! What `pve_api_token` asks PVE, and the secret file it writes.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use pve_api::Secret;

use super::model::state_from;
use super::names;
use crate::plugin::diag::{Diagnostic, Diagnostics, api_failure};
use crate::plugin::value::Value;
use crate::provider::Context;

/// The token as PVE has it, or None if it (or its user) is gone.
pub(super) async fn fetch(ctx: &Context, userid: &str, name: &str, want: &Value) -> Result<Option<Value>, Diagnostics> {
    match ctx.client.access().token(userid, name).await {
        Ok(token) => Ok(Some(state_from(userid, name, &token, want))),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(api_failure("Reading the API token", e)),
    }
}

/// Why `path` cannot take the secret file: its directory must exist, and it must not be one.
pub(super) fn secret_file_problem(path: &str) -> Option<String> {
    let file = Path::new(path);
    let parent = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Some(format!("directory {} does not exist (the provider creates only the file)", parent.display()));
    }
    file.is_dir().then(|| format!("{path} is a directory"))
}

/// Writes `TOKEN_ID=SECRET` to `path` with mode 0600: into a new file beside it, then renamed over
/// it, so no reader sees a partial file and no other mode ever applies.
pub(super) fn write_secret_file(path: &str, token_id: &str, secret: &Secret) -> std::io::Result<()> {
    let target = Path::new(path);
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // One name per write of this process, so parallel writes never share a temporary file.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let serial = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temp = target.with_file_name(format!(".{name}.{}.{serial}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp)?;
        file.write_all(format!("{token_id}={}\n", secret.expose()).as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// The secret of `token_id` in a file [`write_secret_file`] wrote, if it holds that token.
pub(super) fn read_secret_file(path: &str, token_id: &str) -> Option<Secret> {
    let text = std::fs::read_to_string(path).ok()?;
    text.trim_end().strip_prefix(token_id)?.strip_prefix('=').map(Secret::new)
}

/// The secret of a token already made, for a new `secret_file`: from state (no file until now), or
/// from the file it moves out of. None after an import: PVE never shows it again.
pub(super) fn known_secret(prior: &Value, token_id: &str) -> Option<Secret> {
    match (prior.get(names::SECRET).as_str(), prior.get(names::SECRET_FILE).as_str()) {
        (Some(secret), _) => Some(Secret::new(secret)),
        (None, Some(old)) => read_secret_file(old, token_id),
        (None, None) => None,
    }
}

pub(super) fn file_error(path: &str, e: std::io::Error) -> Diagnostics {
    Diagnostic::error("Cannot write the secret file", format!("{path}: {e}")).into()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn the_secret_file_is_private_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let path = path.to_str().unwrap();
        std::fs::write(path, "old").unwrap();
        let secret = Secret::new(format!("{}-{}", "made", "up"));
        write_secret_file(path, "ci@pve!deploy", &secret).unwrap();
        assert_eq!(std::fs::read_to_string(path).unwrap(), "ci@pve!deploy=made-up\n");
        assert_eq!(std::fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
        assert_eq!(read_secret_file(path, "ci@pve!deploy").map(|s| s.expose().to_string()), Some("made-up".into()));
        assert!(read_secret_file(path, "ci@pve!other").is_none());
    }

    #[test]
    fn a_known_secret_comes_from_state_or_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old");
        let old = old.to_str().unwrap();
        write_secret_file(old, "ci@pve!deploy", &Secret::new("from-file")).unwrap();
        let prior =
            |secret: Option<&str>, file: Option<&str>| Value::object([(names::SECRET, secret.into()), (names::SECRET_FILE, file.into())]);
        assert_eq!(known_secret(&prior(Some("from-state"), None), "ci@pve!deploy").unwrap().expose(), "from-state");
        assert_eq!(known_secret(&prior(None, Some(old)), "ci@pve!deploy").unwrap().expose(), "from-file");
        assert!(known_secret(&prior(None, None), "ci@pve!deploy").is_none(), "imported");
        assert!(known_secret(&prior(None, Some(old)), "ci@pve!other").is_none(), "another token's file");
    }

    #[test]
    fn the_directory_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(secret_file_problem(dir.path().join("token").to_str().unwrap()), None);
        assert!(secret_file_problem(dir.path().join("missing/token").to_str().unwrap()).is_some_and(|p| p.contains("does not exist")));
        assert!(secret_file_problem(dir.path().to_str().unwrap()).is_some_and(|p| p.contains("is a directory")));
    }
}
