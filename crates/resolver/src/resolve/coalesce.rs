//! Coalescing of identical concurrent work: the first caller for a key
//! runs it in its own task, later callers wait for the same result. One
//! upstream resolution per question however many clients ask.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

/// In-flight work by key.
#[derive(Debug)]
pub struct Coalescer<K, V> {
    inflight: Arc<Mutex<HashMap<K, broadcast::Sender<V>>>>,
}

impl<K, V> Default for Coalescer<K, V> {
    fn default() -> Self {
        Self {
            inflight: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl<K, V> Coalescer<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    /// Run `work` for `key` unless it is already running; either way
    /// return its result. The work runs in a spawned task, so it finishes
    /// (and fills the cache) even if every caller goes away. `None` only if
    /// the task died without a result.
    pub async fn run<F>(&self, key: K, work: F) -> Option<V>
    where
        F: Future<Output = V> + Send + 'static,
    {
        let mut rx = {
            let mut map = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(tx) = map.get(&key) {
                tx.subscribe()
            } else {
                let (tx, rx) = broadcast::channel(1);
                map.insert(key.clone(), tx.clone());
                let inflight = Arc::clone(&self.inflight);
                tokio::spawn(async move {
                    let value = work.await;
                    // Remove before sending: a caller arriving after this
                    // starts fresh work instead of waiting on a closed channel.
                    inflight
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&key);
                    let _ = tx.send(value);
                });
                rx
            }
        };
        rx.recv().await.ok()
    }

    /// Whether work for `key` is running.
    pub fn is_running(&self, key: &K) -> bool {
        self.inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_one_run() {
        let c: Arc<Coalescer<u8, u32>> = Arc::default();
        let runs = Arc::new(AtomicU32::new(0));
        let mut handles = Vec::new();
        for _ in 0..50 {
            let c = Arc::clone(&c);
            let runs = Arc::clone(&runs);
            handles.push(tokio::spawn(async move {
                c.run(1, async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    7
                })
                .await
            }));
        }
        for h in handles {
            assert_eq!(h.await.unwrap(), Some(7));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(!c.is_running(&1));
    }
}
