pub mod backups;
pub mod deploy;
pub mod drift;
pub mod expire;
pub mod health;
pub mod orphans;
pub mod rebuild;
pub mod rotate;
pub mod snapshot;
pub mod tfstate;

use std::path::PathBuf;
use std::time::Duration;

use pve_api::{ClusterResource, GuestLocation, PveClient};
use pve_ssh::{HostKeyMode, Options, Target};

/// A guest found in /cluster/resources, read the way the provider reads it (pve-api's
/// `find_guest`): node, kind, name, running, tags.
pub use pve_api::GuestLocation as Guest;

/// Every guest but templates: pve-ops never acts on a template.
pub async fn guests(client: &PveClient) -> anyhow::Result<Vec<Guest>> {
    let rows: Vec<ClusterResource> = client.cluster_resources(Some("vm")).await?;
    Ok(rows.iter().filter_map(GuestLocation::from_resource).filter(|g| !g.template).collect())
}

/// The guest with `vmid` in a listing, unless it is a template.
pub fn guest_in(rows: &[ClusterResource], vmid: u64) -> Option<Guest> {
    pve_api::find_guest(rows, vmid).filter(|g| !g.template)
}

pub async fn guest(client: &PveClient, vmid: u64) -> anyhow::Result<Guest> {
    guest_in(&client.cluster_resources(Some("vm")).await?, vmid)
        .ok_or_else(|| anyhow::anyhow!("no VM or container with VMID {vmid}, or this API user lacks VM.Audit on /vms/{vmid}"))
}

/// Asks on the terminal; without a terminal (or with --yes) the answer must come from --yes.
pub fn confirm(question: &str, yes: bool) -> anyhow::Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("{question} — refusing without a terminal; pass --yes to confirm");
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// How pve-ops logs in over SSH (rotate-ssh-keys, deploy): strict host keys by default.
#[derive(clap::Args)]
pub struct SshArgs {
    /// The private key that logs in today.
    #[arg(long, env = "PVE_OPS_SSH_IDENTITY", default_value_os_t = home(".ssh/id_ed25519"))]
    pub identity: PathBuf,
    /// Host keys to check against (a dedicated file; unknown hosts are refused).
    #[arg(long, env = "PVE_OPS_KNOWN_HOSTS", default_value_os_t = home(".config/pve-ops/known_hosts"))]
    pub known_hosts: PathBuf,
    /// Record the host keys of hosts not yet known (a changed key is still refused).
    #[arg(long)]
    pub init_known_hosts: bool,
    #[arg(long, default_value = "root")]
    pub user: String,
    #[arg(long, default_value_t = 22)]
    pub port: u16,
}

impl SshArgs {
    pub fn target(&self, host: &str) -> Target {
        Target { host: host.to_string(), port: self.port, user: self.user.clone() }
    }

    /// Logging in with `--identity`; `--init-known-hosts` lets this login record unknown hosts.
    pub fn options(&self, timeout: Duration) -> Options {
        let mode = if self.init_known_hosts { HostKeyMode::LearnUnknown } else { HostKeyMode::Strict };
        Options { private_key: self.identity.clone(), known_hosts: self.known_hosts.clone(), mode, timeout }
    }
}

fn home(path: &str) -> PathBuf {
    std::path::Path::new(&std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(path)
}
