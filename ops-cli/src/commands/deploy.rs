//! `pve-ops deploy --host H`: install pve-ops, its settings, the environments (with their tfvars)
//! and the systemd timers on the monitoring VM over SSH, and enable the timers. Idempotent: files
//! are compared by SHA-256 first and only changed ones are sent (streamed, written atomically); a
//! second run changes nothing and says so.

use std::path::{Path, PathBuf};

use pve_ssh::SshSession;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{SshArgs, confirm};
use crate::report::report;
use crate::{Exit, Ops};

/// The units, as shipped in ops-cli/systemd/ (built into the binary so it deploys itself).
const UNITS: &[(&str, &str)] = &[
    ("pve-ops-drift@.service", include_str!("../../systemd/pve-ops-drift@.service")),
    ("pve-ops-drift@.timer", include_str!("../../systemd/pve-ops-drift@.timer")),
    ("pve-ops-expire-lab.service", include_str!("../../systemd/pve-ops-expire-lab.service")),
    ("pve-ops-expire-lab.timer", include_str!("../../systemd/pve-ops-expire-lab.timer")),
    ("pve-ops-health.service", include_str!("../../systemd/pve-ops-health.service")),
    ("pve-ops-health.timer", include_str!("../../systemd/pve-ops-health.timer")),
    ("pve-ops-orphans.service", include_str!("../../systemd/pve-ops-orphans.service")),
    ("pve-ops-orphans.timer", include_str!("../../systemd/pve-ops-orphans.timer")),
    ("pve-ops-snapshot-cleanup.service", include_str!("../../systemd/pve-ops-snapshot-cleanup.service")),
    ("pve-ops-snapshot-cleanup.timer", include_str!("../../systemd/pve-ops-snapshot-cleanup.timer")),
    ("pve-ops-verify-backups.service", include_str!("../../systemd/pve-ops-verify-backups.service")),
    ("pve-ops-verify-backups.timer", include_str!("../../systemd/pve-ops-verify-backups.timer")),
];

/// Install pve-ops, its settings, the environments and the systemd timers on the monitoring
/// VM over SSH and enable the timers. Idempotent: only changed files are sent.
#[derive(clap::Args)]
pub struct Args {
    /// The monitoring VM's address.
    #[arg(long)]
    pub host: String,
    #[command(flatten)]
    pub ssh: SshArgs,
    /// KEY=VALUE settings (PVE_*, AWS_*, PVE_OPS_*) to install as /etc/pve-ops/pve-ops.env (mode 0600).
    #[arg(long)]
    pub settings: Option<PathBuf>,
    /// Checkout whose environments/ and modules/ (with tfvars) go to /opt/pve-home.
    #[arg(long, default_value = ".")]
    pub source: PathBuf,
    /// Environments to enable the hourly drift check for (default: all under environments/).
    #[arg(long = "drift-env")]
    pub drift_env: Vec<String>,
    /// Install below this directory instead of / (systemctl --root, for staging an image).
    #[arg(long, default_value = "/")]
    pub root: String,
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

/// One file to be in place on the host.
struct Wanted {
    local: Source,
    remote: String,
    mode: u32,
    sha256: String,
}

enum Source {
    File(PathBuf),
    Text(&'static str),
}

fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Single-quoted for the remote shell.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// environments/ and modules/ without tests, Terraform's working files or local state.
fn tree(source: &Path, dir: &str, out: &mut Vec<(PathBuf, String)>) -> anyhow::Result<()> {
    let base = source.join(dir);
    let Ok(entries) = std::fs::read_dir(&base) else { return Ok(()) };
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        if matches!(name.as_str(), "tests" | ".terraform" | ".terraform.lock.hcl") || name.contains(".tfstate") {
            continue;
        }
        let relative = format!("{dir}/{name}");
        if path.is_dir() {
            tree(source, &relative, out)?;
        } else {
            out.push((path, relative));
        }
    }
    Ok(())
}

fn wanted(args: &Args) -> anyhow::Result<Vec<Wanted>> {
    let root = args.root.trim_end_matches('/');
    let mut files = Vec::new();
    let binary = std::env::current_exe()?;
    files.push(Wanted {
        sha256: sha256_file(&binary)?,
        local: Source::File(binary),
        remote: format!("{root}/usr/local/bin/pve-ops"),
        mode: 0o755,
    });
    if let Some(settings) = &args.settings {
        files.push(Wanted {
            sha256: sha256_file(settings)?,
            local: Source::File(settings.clone()),
            remote: format!("{root}/etc/pve-ops/pve-ops.env"),
            mode: 0o600,
        });
    }
    for (name, text) in UNITS {
        files.push(Wanted {
            sha256: hex::encode(Sha256::digest(text.as_bytes())),
            local: Source::Text(text),
            remote: format!("{root}/etc/systemd/system/{name}"),
            mode: 0o644,
        });
    }
    let mut trees = Vec::new();
    tree(&args.source, "environments", &mut trees)?;
    tree(&args.source, "modules", &mut trees)?;
    for (path, relative) in trees {
        files.push(Wanted {
            sha256: sha256_file(&path)?,
            mode: tree_mode(&path, &relative)?,
            local: Source::File(path),
            remote: format!("{root}/opt/pve-home/{relative}"),
        });
    }
    Ok(files)
}

/// The mode a file of environments/ or modules/ gets on the host. Terraform sources (`*.tf`) keep
/// their local mode; anything else (tfvars in any spelling, backend settings, saved plans,
/// templates) may hold a secret, so it is readable by root only, executable where it is locally.
fn tree_mode(path: &Path, relative: &str) -> anyhow::Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    let local = std::fs::metadata(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?.permissions().mode() & 0o777;
    Ok(if relative.ends_with(".tf") {
        local
    } else if local & 0o100 != 0 {
        0o700
    } else {
        0o600
    })
}

/// Environment names become systemd instance names and words of remote commands: only the
/// characters a directory of environments/ is meant to have.
fn check_environment(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    anyhow::ensure!(
        valid,
        "environment name {name:?} is not valid: use lowercase letters, digits and '-', starting with a letter or digit"
    );
    Ok(())
}

fn timers(environments: &[String]) -> Vec<String> {
    let mut timers: Vec<String> =
        UNITS.iter().map(|(n, _)| *n).filter(|n| n.ends_with(".timer") && !n.contains('@')).map(String::from).collect();
    timers.extend(environments.iter().map(|env| format!("pve-ops-drift@{env}.timer")));
    timers
}

pub async fn run(ops: &Ops, args: Args) -> anyhow::Result<Exit> {
    let mut environments = args.drift_env.clone();
    if environments.is_empty() {
        let dir = args.source.join("environments");
        let entries = std::fs::read_dir(&dir).map_err(|e| anyhow::anyhow!("cannot read {}: {e} (give --source)", dir.display()))?;
        environments =
            entries.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).map(|e| e.file_name().to_string_lossy().to_string()).collect();
        environments.sort();
    }
    for environment in &environments {
        check_environment(environment)?;
    }
    let files = wanted(&args)?;
    let options = args.ssh.options(std::time::Duration::from_secs(args.timeout));
    let session = SshSession::connect(args.ssh.target(&args.host), &options).await?;

    // What is there already, read over SFTP: no command runs on the host before the confirmation,
    // so --dry-run only reads.
    let remote: Vec<String> = files.iter().map(|f| f.remote.clone()).collect();
    let present = session.sha256_files(&remote).await?;
    let changed: Vec<&Wanted> = files.iter().filter(|f| present.get(&f.remote) != Some(&f.sha256)).collect();
    let timers = timers(&environments);
    let root = args.root.trim_end_matches('/');
    let systemctl = if root.is_empty() { "systemctl".to_string() } else { format!("systemctl --root={}", quote(root)) };
    // `systemctl enable` links each timer into timers.target.wants (their [Install] section).
    let links: Vec<String> = timers.iter().map(|t| format!("{root}/etc/systemd/system/timers.target.wants/{t}")).collect();
    let enabled = session.exist(&links).await?;
    let to_enable: Vec<&String> = timers.iter().zip(&enabled).filter(|(_, on)| !**on).map(|(t, _)| t).collect();

    let names: Vec<&str> = changed.iter().map(|f| f.remote.as_str()).collect();
    if changed.is_empty() && to_enable.is_empty() {
        report(
            ops,
            &format!("{}: nothing to change ({} files and {} timers already in place)", args.host, files.len(), timers.len()),
            json!({ "host": args.host, "changed": [], "enabled": [], "unchanged": files.len() }),
        );
        return Ok(Exit::Ok);
    }
    if ops.dry_run {
        report(
            ops,
            &format!(
                "would update {} file(s) and enable {} timer(s) on {}: {}",
                changed.len(),
                to_enable.len(),
                args.host,
                names.join(", ")
            ),
            json!({ "dry_run": true, "host": args.host, "changed": names, "enabled": to_enable }),
        );
        return Ok(Exit::Ok);
    }
    if !confirm(&format!("Update {} file(s) and enable {} timer(s) on {}?", changed.len(), to_enable.len(), args.host), ops.yes)? {
        return Ok(Exit::Failure);
    }
    let mut dirs: Vec<String> = changed.iter().filter_map(|f| f.remote.rsplit_once('/').map(|(d, _)| quote(d))).collect();
    dirs.sort();
    dirs.dedup();
    if !dirs.is_empty() {
        session.exec(&format!("mkdir -p -- {}", dirs.join(" "))).await?;
    }
    let progress = indicatif::ProgressBar::new(changed.len() as u64).with_message("uploading");
    for file in &changed {
        match &file.local {
            // Streamed from disk: the binary is tens of MB.
            Source::File(path) => {
                let content = tokio::fs::File::open(path).await.map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                session.upload_with_mode(&file.remote, content, file.mode).await?
            }
            Source::Text(text) => session.upload_with_mode(&file.remote, text.as_bytes(), file.mode).await?,
        };
        progress.inc(1);
    }
    progress.finish_and_clear();
    let units_changed = changed.iter().any(|f| f.remote.contains("/etc/systemd/system/"));
    let quoted_timers: Vec<String> = timers.iter().map(|t| quote(t)).collect();
    let enable = if root.is_empty() {
        // A running systemd reloads changed units and starts the timers now.
        format!("{}systemctl enable --now {}", if units_changed { "systemctl daemon-reload && " } else { "" }, quoted_timers.join(" "))
    } else {
        format!("{systemctl} enable {}", quoted_timers.join(" "))
    };
    session.exec(&enable).await?;
    report(
        ops,
        &format!("{}: updated {} file(s), {} timer(s) enabled: {}", args.host, changed.len(), timers.len(), names.join(", ")),
        json!({ "host": args.host, "changed": names, "enabled": to_enable }),
    );
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    #[test]
    fn environment_names_are_checked() {
        for good in ["lab", "prod", "k8s", "lab-2"] {
            assert!(super::check_environment(good).is_ok(), "{good}");
        }
        for bad in ["", "-lab", "Lab", "lab;id", "$(id>PWNED)", "a b", "lab/x", "lab.timer"] {
            assert!(super::check_environment(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(super::quote("/opt/pve home/it's"), r"'/opt/pve home/it'\''s'");
    }
}
