//! Storage work that takes time: pve-storage's storage lock around allocating, cloning, freeing
//! and renaming volumes, and copies that share a storage's bandwidth.
//!
//! - Locks (pve-storage `PVE::Storage::Plugin::cluster_lock_storage`, used by `vdisk_alloc`,
//!   `vdisk_clone`, `vdisk_create_base`, `vdisk_free` and `rename_volume` in `PVE/Storage.pm`):
//!   local storage takes the file lock `/var/lock/pve-manager/pve-storage-ID` on its node
//!   (pve-common `PVE::Tools::lock_file`, 10 s, then "can't lock file '…' - got timeout");
//!   shared storage takes the cluster-wide pmxcfs lock `storage-ID` (pve-cluster
//!   `PVE::Cluster::cfs_lock_storage`, 10 s, then "cfs-lock 'storage-ID' error: got lock request
//!   timeout"). The lock is held for `--storage-lock-ms` per operation.
//! - Copies (qemu-server `PVE::QemuServer::clone_disk`, pve-storage `storage_migrate`) run after
//!   the allocation, outside the lock. Each storage (per node when local) has `--storage-mbps`,
//!   shared by the copies reading or writing it at the same time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::locks::{Acquired, LockMode};
use crate::state::Emulator;

/// Copies running per storage channel (`STORAGE` when shared, `NODE/STORAGE` when local).
#[derive(Default)]
pub struct Transfers {
    active: Mutex<HashMap<String, usize>>,
}

/// A copy's place on its channels; leaving them frees the bandwidth for the others.
struct Registration<'a> {
    transfers: &'a Transfers,
    channels: Vec<String>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut active = self.transfers.active.lock().unwrap_or_else(|e| e.into_inner());
        for channel in &self.channels {
            if let Some(count) = active.get_mut(channel) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    active.remove(channel);
                }
            }
        }
    }
}

impl Transfers {
    fn register(&self, channels: Vec<String>) -> Registration<'_> {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        for channel in &channels {
            *active.entry(channel.clone()).or_default() += 1;
        }
        drop(active);
        Registration { transfers: self, channels }
    }

    /// How many copies share the busiest of `channels`.
    fn sharing(&self, channels: &[String]) -> usize {
        let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        channels.iter().filter_map(|c| active.get(c).copied()).max().unwrap_or(1).max(1)
    }

    /// Copies running on a channel now (for tests).
    pub fn running_on(&self, channel: &str) -> usize {
        self.active.lock().unwrap_or_else(|e| e.into_inner()).get(channel).copied().unwrap_or(0)
    }
}

/// Bytes as qemu-server's copy logs print them (pve-common `PVE::Format::render_bytes` with one
/// decimal, as `PVE::QemuServer::QemuImage::convert` calls it).
pub fn render_bytes(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", units[unit])
}

impl Emulator {
    /// The channel (and lock) a storage is known by from `node`: its ID when shared, node and ID
    /// when local.
    pub fn storage_channel(&self, node: &str, storage: &str) -> String {
        let shared = self.cluster().storage(storage).is_some_and(|s| s.shared);
        if shared { storage.to_string() } else { format!("{node}/{storage}") }
    }

    /// Takes pve-storage's lock on `storage` as seen from `node` for one volume operation, holds
    /// it for `--storage-lock-ms`, and releases it. Waits like PVE (the lock timeout, 10 s by
    /// default) and fails with PVE's message. `log` gets what PVE prints while it waits.
    pub async fn storage_lock(&self, node: &str, storage: &str, log: &(dyn Fn(String) + Sync)) -> Result<(), String> {
        let shared = self.cluster().storage(storage).is_some_and(|s| s.shared);
        let key = if shared { storage.to_string() } else { format!("{node}/{storage}") };
        let guard = match self.storage_locks.try_acquire(&key, LockMode::Exclusive) {
            Some(guard) => guard,
            None => {
                log(if shared {
                    format!("trying to acquire cfs lock 'storage-{storage}' ...")
                } else {
                    "trying to acquire lock...".into()
                });
                let timeout = Duration::from_millis(self.config.lock_timeout_ms);
                match self.storage_locks.acquire(&key, LockMode::Exclusive, timeout).await {
                    Acquired::AtOnce(guard) | Acquired::AfterWaiting(guard) => {
                        if !shared {
                            log(" OK".into());
                        }
                        guard
                    }
                    Acquired::TimedOut => return Err(storage_lock_timeout(storage, shared)),
                }
            }
        };
        tokio::time::sleep(Duration::from_millis(self.config.storage_lock_ms)).await;
        drop(guard);
        Ok(())
    }

    /// Copies a volume's `bytes` from `source` (a volume ID, seen from `source_node`) to
    /// `target_storage` on `target_node`, sharing both storages' bandwidth.
    pub async fn transfer_volume(
        &self,
        source_node: &str,
        source: &str,
        target_node: &str,
        target_storage: &str,
        bytes: u64,
        progress: &(dyn Fn(String) + Sync),
    ) {
        let channels =
            [self.storage_channel(source_node, crate::model::storage_of(source)), self.storage_channel(target_node, target_storage)];
        self.transfer(bytes, &channels, progress).await;
    }

    /// Copies `bytes` between storage channels at the storages' bandwidth, shared with the other
    /// copies on the same channels (the slowest channel decides). `progress` gets PVE's
    /// `transferred … of … (…%)` lines.
    pub async fn transfer(&self, bytes: u64, channels: &[String], progress: &(dyn Fn(String) + Sync)) {
        let mut channels = channels.to_vec();
        channels.sort();
        channels.dedup();
        let mbps = self.config.storage_mbps;
        let total = render_bytes(bytes);
        if mbps == 0 || bytes == 0 {
            progress(format!("transferred {total} of {total} (100.00%)"));
            return;
        }
        let bandwidth = mbps as f64 * (1u64 << 20) as f64;
        let _registration = self.transfers.register(channels.clone());
        let tick = Duration::from_millis(20);
        let mut done = 0f64;
        let mut reported = 0u64;
        let mut last = Instant::now();
        while done < bytes as f64 {
            // The share of the moment, taken again each tick as other copies start and end.
            let rate = bandwidth / self.transfers.sharing(&channels) as f64;
            let left = Duration::from_secs_f64(((bytes as f64 - done) / rate).max(0.0005));
            tokio::time::sleep(left.min(tick)).await;
            let now = Instant::now();
            done += rate * now.duration_since(last).as_secs_f64();
            last = now;
            let percent = ((done / bytes as f64) * 100.0).min(100.0);
            let quarter = (percent / 25.0) as u64;
            if quarter > reported && quarter < 4 {
                reported = quarter;
                let moved = (done as u64).min(bytes);
                progress(format!("transferred {} of {total} ({percent:.2}%)", render_bytes(moved)));
            }
        }
        progress(format!("transferred {total} of {total} (100.00%)"));
    }
}

/// PVE's message when the storage lock was not had in time: the node's file lock for local
/// storage, the pmxcfs lock for shared storage.
pub fn storage_lock_timeout(storage: &str, shared: bool) -> String {
    if shared {
        format!("cfs-lock 'storage-{storage}' error: got lock request timeout")
    } else {
        format!("can't lock file '/var/lock/pve-manager/pve-storage-{storage}' - got timeout")
    }
}

#[cfg(test)]
mod tests {
    use super::render_bytes;

    #[test]
    fn bytes_render_like_pve_logs() {
        assert_eq!(render_bytes(512), "512.0 B");
        assert_eq!(render_bytes(3584 << 20), "3.5 GiB");
        assert_eq!(render_bytes(32 << 30), "32.0 GiB");
    }
}
