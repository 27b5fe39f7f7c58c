//! Locks as PVE takes them: flock(2) on a guest's config lock file, shared or exclusive
//! (pve-common `PVE::Tools::lock_file_full`, used by pve-guest-common `PVE::AbstractConfig`
//! `lock_config_full` / `lock_config_shared`), and the storage locks of pve-storage
//! `PVE::Storage::Plugin::cluster_lock_storage` (a file lock per node for local storage, a pmxcfs
//! lock for shared storage). Each waits up to a timeout and then fails with PVE's message.
//!
//! Like flock, a lock here has no queue: a shared request is granted while only shared holders
//! hold it, even if an exclusive request is waiting. Exclusive requests can therefore starve
//! behind a stream of shared ones and time out, as they do on a real node.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// Shared (`LOCK_SH`) or exclusive (`LOCK_EX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

#[derive(Default)]
struct Holders {
    shared: usize,
    exclusive: bool,
}

#[derive(Default)]
struct Lock {
    holders: Mutex<Holders>,
    released: Notify,
}

impl Lock {
    fn try_take(&self, mode: LockMode) -> bool {
        let mut holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
        match mode {
            LockMode::Shared if !holders.exclusive => {
                holders.shared += 1;
                true
            }
            LockMode::Exclusive if !holders.exclusive && holders.shared == 0 => {
                holders.exclusive = true;
                true
            }
            _ => false,
        }
    }

    fn release(&self, mode: LockMode) {
        {
            let mut holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
            match mode {
                LockMode::Shared => holders.shared = holders.shared.saturating_sub(1),
                LockMode::Exclusive => holders.exclusive = false,
            }
        }
        self.released.notify_waiters();
    }

    fn is_held(&self) -> bool {
        let holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
        holders.exclusive || holders.shared > 0
    }
}

/// A held lock; dropping it releases the lock.
pub struct LockGuard {
    lock: Arc<Lock>,
    mode: LockMode,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.lock.release(self.mode);
    }
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard").field("mode", &self.mode).finish()
    }
}

/// Locks by name, made on first use.
#[derive(Default)]
pub struct LockTable {
    locks: Mutex<HashMap<String, Arc<Lock>>>,
}

/// How a wait for a lock went.
pub enum Acquired {
    /// At once, nobody held it in a conflicting mode.
    AtOnce(LockGuard),
    /// After waiting for other holders.
    AfterWaiting(LockGuard),
    /// The timeout passed first.
    TimedOut,
}

impl LockTable {
    fn lock(&self, name: &str) -> Arc<Lock> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        // Forget locks nobody holds, so the table does not grow with every VMID ever locked.
        if locks.len() > 4096 {
            locks.retain(|_, lock| Arc::strong_count(lock) > 1 || lock.is_held());
        }
        locks.entry(name.to_string()).or_default().clone()
    }

    /// The lock in `mode` if nobody holds it in a conflicting mode.
    pub fn try_acquire(&self, name: &str, mode: LockMode) -> Option<LockGuard> {
        let lock = self.lock(name);
        // Not `then_some`: a guard made for nothing would release the holder's lock when dropped.
        if lock.try_take(mode) { Some(LockGuard { lock, mode }) } else { None }
    }

    /// Waits up to `timeout` for the lock in `mode`.
    pub async fn acquire(&self, name: &str, mode: LockMode, timeout: Duration) -> Acquired {
        let lock = self.lock(name);
        if lock.try_take(mode) {
            return Acquired::AtOnce(LockGuard { lock, mode });
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let taken = {
                let released = lock.released.notified();
                tokio::pin!(released);
                // Registered before trying again, so a release in between is not missed.
                released.as_mut().enable();
                if lock.try_take(mode) {
                    true
                } else if tokio::time::timeout_at(deadline, released).await.is_err() {
                    return Acquired::TimedOut;
                } else {
                    false
                }
            };
            if taken {
                return Acquired::AfterWaiting(LockGuard { lock, mode });
            }
        }
    }

    /// Whether anybody holds the lock (for tests and status).
    pub fn is_held(&self, name: &str) -> bool {
        self.locks.lock().unwrap_or_else(|e| e.into_inner()).get(name).is_some_and(|l| l.is_held())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Acquired, LockMode, LockTable};

    fn held(acquired: Acquired) -> super::LockGuard {
        match acquired {
            Acquired::AtOnce(g) | Acquired::AfterWaiting(g) => g,
            Acquired::TimedOut => panic!("timed out"),
        }
    }

    #[tokio::test]
    async fn shared_holders_coexist_and_exclusive_waits_for_all_of_them() {
        let table = LockTable::default();
        let short = Duration::from_millis(30);
        let a = held(table.acquire("9000", LockMode::Shared, short).await);
        let b = held(table.acquire("9000", LockMode::Shared, short).await);
        assert!(matches!(table.acquire("9000", LockMode::Exclusive, short).await, Acquired::TimedOut));
        drop(a);
        assert!(matches!(table.acquire("9000", LockMode::Exclusive, short).await, Acquired::TimedOut));
        drop(b);
        let exclusive = held(table.acquire("9000", LockMode::Exclusive, short).await);
        assert!(matches!(table.acquire("9000", LockMode::Shared, short).await, Acquired::TimedOut));
        drop(exclusive);
        assert!(!table.is_held("9000"));
    }

    #[test]
    fn a_failed_try_leaves_the_holder_alone() {
        let table = LockTable::default();
        let _held = table.try_acquire("local-lvm", LockMode::Exclusive).unwrap();
        assert!(table.try_acquire("local-lvm", LockMode::Exclusive).is_none());
        assert!(table.try_acquire("local-lvm", LockMode::Exclusive).is_none(), "the failed try did not release the lock");
    }

    #[tokio::test]
    async fn a_waiter_gets_the_lock_when_it_is_released() {
        let table = std::sync::Arc::new(LockTable::default());
        let first = held(table.acquire("x", LockMode::Exclusive, Duration::from_millis(10)).await);
        let waiter = {
            let table = table.clone();
            tokio::spawn(async move {
                matches!(table.acquire("x", LockMode::Exclusive, Duration::from_secs(5)).await, Acquired::AfterWaiting(_))
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(first);
        assert!(waiter.await.unwrap());
    }
}
