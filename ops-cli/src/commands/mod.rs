pub mod backups;
pub mod deploy;
pub mod drift;
pub mod expire;
pub mod health;
pub mod rebuild;
pub mod rotate;
pub mod snapshot;
pub mod tfstate;

use pve_api::{ClusterResource, GuestKind, PveClient};

/// A guest found in /cluster/resources.
pub struct Guest {
    pub vmid: u64,
    pub node: String,
    pub kind: GuestKind,
    pub name: String,
    pub running: bool,
    pub tags: Vec<String>,
}

pub async fn guests(client: &PveClient) -> anyhow::Result<Vec<Guest>> {
    let rows: Vec<ClusterResource> = client.cluster_resources(Some("vm")).await?;
    Ok(rows
        .into_iter()
        .filter(|r| !r.template)
        .filter_map(|r| {
            Some(Guest {
                vmid: r.vmid?,
                kind: r.guest_kind()?,
                node: r.node.clone()?,
                name: r.name.clone().unwrap_or_default(),
                running: r.status.as_deref() == Some("running"),
                tags: r.tag_list(),
            })
        })
        .collect())
}

pub async fn guest(client: &PveClient, vmid: u64) -> anyhow::Result<Guest> {
    guests(client).await?.into_iter().find(|g| g.vmid == vmid).ok_or_else(|| anyhow::anyhow!("no VM or container with VMID {vmid}"))
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
