//! `pve-ops rotate-ssh-keys`: put a new SSH key on guests and take the old one off without ever
//! locking anyone out. Per host: log in with the current key, add the new key, prove a fresh
//! login with the new key works, and only then remove the old key (and prove the new key still
//! works). Any failure puts the file back as it was, so the old key keeps working.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pve_api::{GuestKind, PropertyString};
use pve_ssh::{HostKeyMode, Options, SshError, SshSession, Target};
use serde_json::json;

use super::{Guest, SshArgs, confirm, guests};
use crate::metrics::{self, Family};
use crate::report::report;
use crate::{Exit, Ops};

/// Add a new SSH key on guests, prove it logs in, only then remove the old key (never a lockout).
#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("scope").required(true).multiple(true).args(["env", "all", "host"]))]
pub struct Args {
    /// Private key file of the new key: its public half is installed, and it proves the new login.
    #[arg(long)]
    pub add_key: PathBuf,
    /// Public key to remove once the new one works: a .pub file or the 'ssh-ed25519 AAAA…' text.
    #[arg(long)]
    pub remove_key: Option<String>,
    /// Guests tagged environment-<ENV> (running, with a static address in their config).
    #[arg(long)]
    pub env: Option<String>,
    /// Every running guest with a static address.
    #[arg(long)]
    pub all: bool,
    /// A host to include by address (repeatable).
    #[arg(long)]
    pub host: Vec<String>,
    #[command(flatten)]
    pub ssh: SshArgs,
    // Relative paths resolve against the home directory as SFTP does; `{host}` and `{user}` are
    // replaced, for sshd's central `AuthorizedKeysFile /etc/ssh/keys/%u` style.
    /// authorized_keys path, relative to the user's home or absolute.
    #[arg(long, default_value = ".ssh/authorized_keys")]
    pub authorized_keys: String,
    /// Hosts worked on at once.
    #[arg(long, default_value_t = 8)]
    pub parallel: usize,
    /// Connection retries per login (exponential backoff from 200 ms).
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Seconds to wait for each connection or command.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

/// The `type base64` part of a public key line (options and comment dropped), for comparison.
fn key_id(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[0].starts_with("ssh-") || w[0].starts_with("ecdsa-") || w[0].starts_with("sk-"))
        .map(|w| format!("{} {}", w[0], w[1]))
}

/// `text` with `add` appended (unless there) and every line of key `remove` dropped.
fn edit_authorized_keys(text: &str, add: Option<&str>, remove: Option<&str>) -> String {
    let remove_id = remove.and_then(key_id);
    let mut lines: Vec<&str> = text.lines().filter(|l| remove_id.is_none() || key_id(l) != remove_id).collect();
    if let Some(add) = add
        && !lines.iter().any(|l| key_id(l) == key_id(add))
    {
        lines.push(add);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// A guest's first static IPv4 address (qemu `ipconfigN`, LXC `netN`).
fn guest_address(kind: GuestKind, config: &pve_api::api::GuestConfig) -> Option<String> {
    let prefix = if kind == GuestKind::Qemu { "ipconfig" } else { "net" };
    (0..32).find_map(|n| {
        let value = config.get_str(&format!("{prefix}{n}"))?;
        let ip = PropertyString::parse(&value, None).ok()?.get("ip")?.to_string();
        (ip != "dhcp" && ip != "manual").then(|| ip.split('/').next().unwrap_or(&ip).to_string())
    })
}

/// The first IPv4 address other than loopback that the guest agent reports (DHCP guests).
async fn agent_address(api: &pve_api::PveClient, guest: &Guest) -> Option<String> {
    // A silent agent answers 500 after PVE's own timeout; the call does not ask again.
    let interfaces = api.agent_network_interfaces(&guest.node, guest.vmid).await.ok()?;
    interfaces
        .into_iter()
        .filter(|i| i.name != "lo")
        .flat_map(|i| i.ip_addresses)
        .find(|a| a.ip_address_type == "ipv4" && !a.ip_address.is_empty())
        .map(|a| a.ip_address)
}

/// Hosts to rotate (label, address), deduplicated by address, and guests left out (label, why).
async fn targets(ops: &Ops, args: &Args) -> anyhow::Result<(Vec<(String, String)>, Vec<(String, String)>)> {
    let mut found: Vec<(String, String)> = args.host.iter().map(|h| (h.clone(), h.clone())).collect();
    let mut skipped = Vec::new();
    if args.env.is_some() || args.all {
        let api = ops.api()?;
        let in_scope = |g: &Guest| args.env.is_none() || pve_api::tags::lifecycle::environment(&g.tags) == args.env;
        for guest in guests(api).await?.into_iter().filter(in_scope) {
            let label = format!("{} ({})", guest.name, guest.vmid);
            if !guest.running {
                skipped.push((label, "stopped".to_string()));
                continue;
            }
            let config = api.guest_config(guest.kind, &guest.node, guest.vmid).await?;
            let address = match guest_address(guest.kind, &config) {
                Some(address) => Some(address),
                None if guest.kind == GuestKind::Qemu => agent_address(api, &guest).await,
                None => None,
            };
            match address {
                Some(address) => found.push((label, address)),
                None => skipped.push((label, "no static address in its config and none from its guest agent".to_string())),
            }
        }
    }
    // Two tasks on one host would write the same file at once.
    let mut seen = std::collections::HashSet::new();
    found.retain(|(_, address)| seen.insert(address.clone()));
    Ok((found, skipped))
}

/// Connects, retrying refused or unanswered connections with exponential backoff; a refused
/// host key or login is final.
async fn connect(target: &Target, options: &Options, retries: u32) -> Result<SshSession, SshError> {
    let mut delay = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        match SshSession::connect(target.clone(), options).await {
            Err(SshError::Connect { .. }) if attempt < retries => {
                attempt += 1;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            other => return other,
        }
    }
}

async fn write(session: &SshSession, path: &str, text: &str) -> Result<u64, SshError> {
    // sshd's StrictModes refuses an authorized_keys others can write.
    session.upload_with_mode(path, std::io::Cursor::new(text.as_bytes().to_vec()), 0o600).await
}

/// Logs in with `options` and proves a shell runs: a `command=` or `restrict` entry would let the
/// login succeed without giving one.
async fn proves_login(target: &Target, options: &Options, retries: u32) -> Result<SshSession, SshError> {
    let session = connect(target, options, retries).await?;
    let nonce = format!("pve-ops-{:016x}", rand::random::<u64>());
    let answer = session.exec(&format!("echo {nonce}")).await?;
    if answer.trim() != nonce {
        return Err(SshError::Io {
            target: target.to_string(),
            operation: "checking the login".into(),
            detail: format!("the shell did not answer (a forced command?): {:?}", answer.trim()),
        });
    }
    Ok(session)
}

/// Puts `text` back through the first session that takes it.
async fn put_back(sessions: &[&SshSession], path: &str, text: &str) -> Result<(), String> {
    let mut errors = Vec::new();
    for session in sessions {
        match write(session, path, text).await {
            Ok(_) => return Ok(()),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Err(errors.join("; "))
}

/// One host: add, verify, remove, verify. Returns what was done.
async fn rotate_host(host: &str, args: &Args, new_line: &str, remove: Option<&str>) -> anyhow::Result<&'static str> {
    let target = args.ssh.target(host);
    let old = args.ssh.options(Duration::from_secs(args.timeout));
    let new = Options { private_key: args.add_key.clone(), mode: HostKeyMode::Strict, ..old.clone() };
    let path = &args.authorized_keys.replace("{host}", host).replace("{user}", &args.ssh.user);

    let session = connect(&target, &old, args.retries).await?;
    let original = session.read_optional(path).await?.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let added = edit_authorized_keys(&original, Some(new_line), None);
    if added != original {
        write(&session, path, &added).await?;
    }
    // A fresh login with the new key, before anything is taken away.
    let verified = match proves_login(&target, &new, args.retries).await {
        Ok(s) => s,
        Err(e) => {
            if added != original {
                put_back(&[&session], path, &original)
                    .await
                    .map_err(|r| anyhow::anyhow!("{e}; and putting authorized_keys back failed: {r}"))?;
            }
            anyhow::bail!("the new key does not log in ({e}); authorized_keys left as it was, the old key still works");
        }
    };
    let Some(remove) = remove else {
        return Ok(if added == original { "new key already present, verified" } else { "new key added, verified" });
    };
    // An entry with options (from=, command=, restrict) may not give the access the old key gave.
    if let Some(line) =
        added.lines().find(|l| key_id(l) == key_id(new_line) && !l.trim_start().starts_with(new_line.split(' ').next().unwrap_or("")))
    {
        anyhow::bail!(
            "the new key's authorized_keys entry has options ({}); the old key was not removed",
            line.split(' ').next().unwrap_or("")
        );
    }
    let removed = edit_authorized_keys(&added, None, Some(remove));
    if removed == added {
        return Ok("new key verified; old key was not present");
    }
    // From here on a failure must leave a key that logs in: put `added` (both keys) back.
    let outcome = match write(&verified, path, &removed).await {
        Ok(_) => proves_login(&target, &new, args.retries).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = outcome {
        return match put_back(&[&verified, &session], path, &added).await {
            Ok(()) => Err(anyhow::anyhow!("removing the old key failed or broke the new login ({e}); both keys were put back")),
            Err(r) => Err(anyhow::anyhow!(
                "LOCKOUT RISK on {target}: removing the old key failed or broke the new login ({e}), and putting both keys back failed ({r}); \
                 {path} should read:\n{added}"
            )),
        };
    }
    Ok("new key added and verified, old key removed")
}

pub async fn run(ops: &Ops, args: Args) -> anyhow::Result<Exit> {
    let new_line = pve_ssh::public_key_line(&args.add_key)?;
    let remove = match &args.remove_key {
        Some(k) if std::path::Path::new(k).is_file() => {
            Some(std::fs::read_to_string(k).map_err(|e| anyhow::anyhow!("cannot read {k}: {e}"))?.trim().to_string())
        }
        Some(k) => Some(k.clone()),
        None => None,
    };
    if let Some(remove) = &remove {
        let id = key_id(remove).ok_or_else(|| anyhow::anyhow!("--remove-key is not a public key ('ssh-ed25519 AAAA…' or a .pub file)"))?;
        if key_id(&new_line).as_ref() == Some(&id) {
            anyhow::bail!("--remove-key is the key being added: that would lock everyone out");
        }
    }
    let (hosts, skipped) = targets(ops, &args).await?;
    if hosts.is_empty() && skipped.is_empty() {
        anyhow::bail!("no hosts: give --env, --all or --host (guests need a static address in their ipconfig/net config)");
    }
    let action = if remove.is_some() { "add the new key and remove the old one on" } else { "add the new key on" };
    if ops.dry_run {
        let names: Vec<String> = hosts.iter().map(|(n, a)| format!("{n} {a}")).collect();
        let left_out: Vec<String> = skipped.iter().map(|(n, why)| format!("{n}: {why}")).collect();
        report(
            ops,
            &format!(
                "would {action} {} host(s): {}; left out: {}",
                hosts.len(),
                names.join(", "),
                if left_out.is_empty() { "none".into() } else { left_out.join(", ") }
            ),
            json!({ "dry_run": true, "hosts": names, "skipped": left_out }),
        );
        return Ok(Exit::Ok);
    }
    if !confirm(&format!("{}{action} {} host(s)?", "Rotate SSH keys: ", hosts.len()), ops.yes)? {
        return Ok(Exit::Failure);
    }
    let started = Instant::now();
    let progress = indicatif::ProgressBar::new(hosts.len() as u64).with_message("rotating SSH keys");
    let limit = Arc::new(tokio::sync::Semaphore::new(args.parallel.max(1)));
    let args = Arc::new(args);
    let (new_line, remove) = (Arc::new(new_line), Arc::new(remove));
    let mut tasks = tokio::task::JoinSet::new();
    for (name, address) in hosts {
        let (limit, args, new_line, remove, progress) = (limit.clone(), args.clone(), new_line.clone(), remove.clone(), progress.clone());
        tasks.spawn(async move {
            let _slot = limit.acquire_owned().await;
            let outcome = rotate_host(&address, &args, &new_line, remove.as_deref()).await;
            progress.inc(1);
            (name, address, outcome)
        });
    }
    let mut results = Vec::new();
    while let Some(done) = tasks.join_next().await {
        results.push(done?);
    }
    progress.finish_and_clear();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let seconds = started.elapsed().as_secs_f64();
    let failed = results.iter().filter(|r| r.2.is_err()).count();
    let mut ok = Family::gauge("pve_ssh_key_rotation_ok", "1 when the last key rotation on the host succeeded, else 0.");
    let mut rows = Vec::new();
    for (name, address, outcome) in &results {
        ok.push(vec![("host", address.clone())], if outcome.is_ok() { 1.0 } else { 0.0 });
        let (status, detail) = match outcome {
            Ok(what) => ("ok", what.to_string()),
            Err(e) => ("failed", format!("{e:#}")),
        };
        if !ops.json {
            println!("{status:<7} {name} {address}: {detail}");
        }
        rows.push(json!({ "host": name, "address": address, "status": status, "detail": detail }));
    }
    // A guest left out still holds only the old key: it must not look rotated.
    for (name, why) in &skipped {
        ok.push(vec![("host", name.clone())], 0.0);
        if !ops.json {
            println!("skipped {name}: {why}");
        }
        rows.push(json!({ "host": name, "address": null, "status": "skipped", "detail": why }));
    }
    if let Some(dir) = &ops.metrics_dir {
        let stamp = Family::gauge("pve_ssh_key_rotation_last_run_timestamp_seconds", "When rotate-ssh-keys last ran.")
            .sample(vec![], chrono::Utc::now().timestamp() as f64);
        metrics::write(dir, "pve_ssh_key_rotation", &[ok, stamp])?;
    }
    if ops.json {
        println!("{}", json!({ "hosts": rows, "failed": failed, "seconds": seconds }));
    } else {
        println!("{} host(s) rotated, {failed} failed, {} skipped, in {seconds:.1} s", results.len() - failed, skipped.len());
    }
    // With --remove-key a skipped guest means the old key is still needed somewhere.
    let incomplete = failed + if remove.is_some() { skipped.len() } else { 0 };
    Ok(match incomplete {
        0 => Exit::Ok,
        _ if failed == results.len() => Exit::Failure,
        _ => Exit::Partial,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOLD old@laptop";
    const NEW: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINEW new@laptop";

    #[test]
    fn edits_authorized_keys_by_key_not_by_comment() {
        let text = format!("# managed\nfrom=\"10.0.0.0/8\" {OLD}\n");
        let added = edit_authorized_keys(&text, Some(NEW), None);
        assert_eq!(added, format!("# managed\nfrom=\"10.0.0.0/8\" {OLD}\n{NEW}\n"));
        assert_eq!(edit_authorized_keys(&added, Some(NEW), None), added, "adding twice changes nothing");
        let removed = edit_authorized_keys(&added, None, Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOLD other-comment"));
        assert_eq!(removed, format!("# managed\n{NEW}\n"));
    }

    #[test]
    fn reads_guest_addresses() {
        let mut config = pve_api::api::GuestConfig::default();
        config.values.insert("ipconfig0".into(), json!("ip=dhcp"));
        config.values.insert("ipconfig1".into(), json!("ip=10.10.10.5/24,gw=10.10.10.1"));
        assert_eq!(guest_address(GuestKind::Qemu, &config).as_deref(), Some("10.10.10.5"));
        let mut lxc = pve_api::api::GuestConfig::default();
        lxc.values.insert("net0".into(), json!("name=eth0,bridge=vmbr0,ip=192.168.1.9/24"));
        assert_eq!(guest_address(GuestKind::Lxc, &lxc).as_deref(), Some("192.168.1.9"));
    }
}
