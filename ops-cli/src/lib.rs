//! pve-ops: the operator's half of pve-home. Thin command handlers over `pve-api`; every mutating
//! command has `--dry-run`, asks before acting unless `--yes`, prints JSON with `--json`, and
//! leaves Prometheus textfile metrics where asked.

pub mod commands;
pub mod metrics;
pub mod report;
pub mod s3;
pub mod terraform;

use std::path::{Path, PathBuf};

use pve_api::{ClientConfig, PveClient};

/// Exit codes (documented in docs/ops-cli.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Failure = 1,
    Usage = 2,
    /// Some targets were handled, some failed.
    Partial = 3,
}

/// Settings every command shares.
pub struct Ops {
    /// The PVE API client, built on first use: commands that only talk to S3 or SSH need no
    /// PVE credentials.
    pub client: std::sync::OnceLock<PveClient>,
    pub json: bool,
    pub yes: bool,
    pub dry_run: bool,
    pub metrics_dir: Option<PathBuf>,
}

/// Loads `KEY=VALUE` lines (the same PVE_* and AWS_* names as the environment) from a config file into the
/// environment, without overriding variables already set. Secrets stay off the command line.
pub fn load_config_file(path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once('=').ok_or_else(|| anyhow::anyhow!("{}:{}: expected KEY=VALUE", path.display(), n + 1))?;
        let (key, value) = (key.trim(), value.trim().trim_matches('"'));
        if !key.starts_with("PVE_") && !key.starts_with("AWS_") {
            anyhow::bail!("{}:{}: unknown setting {key} (settings start with PVE_ or AWS_)", path.display(), n + 1);
        }
        if std::env::var_os(key).is_none() {
            // SAFETY: main calls this first, before the runtime or any other thread exists.
            unsafe { std::env::set_var(key, value) };
        }
    }
    Ok(())
}

impl Ops {
    /// The PVE API client (from PVE_* settings), built on first use.
    pub fn api(&self) -> anyhow::Result<&PveClient> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = client_from_env()?;
        Ok(self.client.get_or_init(|| client))
    }
}

pub fn client_from_env() -> anyhow::Result<PveClient> {
    let config = ClientConfig::from_env().map_err(|e| anyhow::anyhow!("{e} (set PVE_* in the environment or in --config FILE)"))?;
    Ok(PveClient::new(config)?)
}

/// `7d`, `12h`, `30m` → seconds.
pub fn parse_age(text: &str) -> Result<i64, String> {
    let (number, unit) = text.split_at(text.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len());
    let n: i64 = number.parse().map_err(|_| format!("'{text}' is not an age like 7d, 12h or 30m"))?;
    let factor = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" | "" => 1,
        _ => return Err(format!("'{text}' is not an age like 7d, 12h or 30m")),
    };
    Ok(n * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(parse_age("7d"), Ok(604_800));
        assert_eq!(parse_age("12h"), Ok(43_200));
        assert!(parse_age("7w").is_err() && parse_age("d").is_err());
    }
}
