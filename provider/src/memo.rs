//! Answers kept for the life of the provider process, one per key: the listings the plan checks
//! read (a node's storages, its bridges, a storage's templates) do not change while Terraform
//! plans or applies, so hundreds of guests share one request per node instead of one each.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// One answer per key. Concurrent askers of one key wait for a single request; a failed request
/// is not kept, so the next asker sends it again (and reports its own failure if it fails too).
pub struct Memo<K, V> {
    cells: Mutex<HashMap<K, Arc<OnceCell<Arc<V>>>>>,
}

impl<K: Eq + Hash + Clone, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self { cells: Mutex::new(HashMap::new()) }
    }
}

impl<K: Eq + Hash + Clone, V> Memo<K, V> {
    /// The answer for `key`, fetched with `fetch` unless it is known already.
    pub async fn get_or_fetch<E, F>(&self, key: &K, fetch: impl FnOnce() -> F) -> Result<Arc<V>, E>
    where
        F: Future<Output = Result<V, E>>,
    {
        // The map's lock is held only to find the key's cell, never across the request: one slow
        // node does not hold up the askers of another.
        let cell = self.cells.lock().unwrap_or_else(|e| e.into_inner()).entry(key.clone()).or_default().clone();
        cell.get_or_try_init(|| async { fetch().await.map(Arc::new) }).await.cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_askers_share_one_fetch_per_key() {
        let memo: Memo<String, usize> = Memo::default();
        let fetches = AtomicUsize::new(0);
        let ask = |key: &'static str| {
            let (memo, fetches) = (&memo, &fetches);
            async move {
                memo.get_or_fetch(&key.to_string(), || async {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    Ok::<_, ()>(key.len())
                })
                .await
            }
        };
        let answers = futures::future::join_all([ask("pve1"), ask("pve1"), ask("pve1"), ask("node2")]).await;
        assert_eq!(answers.iter().map(|a| **a.as_ref().unwrap()).collect::<Vec<_>>(), [4, 4, 4, 5]);
        assert_eq!(fetches.load(Ordering::SeqCst), 2, "one fetch per key");
    }

    #[tokio::test]
    async fn a_failed_fetch_is_not_kept() {
        let memo: Memo<u8, &str> = Memo::default();
        assert_eq!(memo.get_or_fetch(&1, || async { Err::<&str, _>("down") }).await.unwrap_err(), "down");
        assert_eq!(*memo.get_or_fetch(&1, || async { Ok::<_, &str>("up") }).await.unwrap(), "up");
        assert_eq!(*memo.get_or_fetch(&1, || async { Ok::<_, &str>("not asked") }).await.unwrap(), "up");
    }
}
