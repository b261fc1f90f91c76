//! PodDisruptionBudget refusals: evictions a budget refused wait for a watch of the budgets to
//! show one that allows disruptions again, instead of a blind backoff.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use tokio::sync::Notify;

use crate::api::{PdbState, PodApi};
use crate::select::selector_matches;
use crate::types::PodRef;
use backoff::Backoff;

/// Evictions a PodDisruptionBudget refused, waiting for one to allow disruptions again.
#[derive(Default)]
pub(super) struct PdbWaiters {
    /// In the order they were first refused.
    waiting: Mutex<Vec<Waiter>>,
    /// The PDB watch is established (waiters need no short backoff timer).
    live: AtomicBool,
}

struct Waiter {
    uid: String,
    namespace: String,
    labels: BTreeMap<String, String>,
    wake: Arc<Notify>,
}

impl PdbWaiters {
    pub(super) fn register(&self, pod: &PodRef, labels: &BTreeMap<String, String>) -> Arc<Notify> {
        let mut w = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = w.iter().find(|w| w.uid == pod.uid) {
            return existing.wake.clone();
        }
        let wake = Arc::new(Notify::new());
        w.push(Waiter {
            uid: pod.uid.clone(),
            namespace: pod.namespace.clone(),
            labels: labels.clone(),
            wake: wake.clone(),
        });
        wake
    }

    /// Whether the PDB watch is established (a change of a budget wakes the waiters, so they
    /// need no short backoff timer).
    pub(super) fn is_live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }

    pub(super) fn unregister(&self, uid: &str) {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|w| w.uid != uid);
    }

    /// Wakes as many of the longest-waiting pods this budget covers as it allows disruptions.
    pub(super) fn on_pdb(&self, pdb: &PdbState) {
        let Ok(allowed) = usize::try_from(pdb.disruptions_allowed) else {
            return;
        };
        if allowed == 0 {
            return;
        }
        let w = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        for waiter in w
            .iter()
            .filter(|w| {
                w.namespace == pdb.namespace && selector_matches(pdb.selector.as_ref(), &w.labels)
            })
            .take(allowed)
        {
            waiter.wake.notify_one();
        }
    }
}

/// Feeds PDB changes to the waiters until aborted or forbidden.
pub(super) async fn watch_pdbs<A: PodApi + ?Sized>(
    api: Arc<A>,
    waiters: Arc<PdbWaiters>,
    retry: Backoff,
) {
    let mut failures = 0u32;
    loop {
        match api.watch_pdbs().await {
            Ok(mut stream) => {
                failures = 0;
                waiters.live.store(true, Ordering::SeqCst);
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(pdb) => waiters.on_pdb(&pdb),
                        Err(e) => {
                            tracing::debug!("PodDisruptionBudget watch error: {e}");
                            break;
                        }
                    }
                }
                waiters.live.store(false, Ordering::SeqCst);
            }
            Err(e) if matches!(crate::error::kube_error_code(&e), Some(401 | 403 | 404)) => {
                tracing::info!(
                    "cannot watch PodDisruptionBudgets ({e}); blocked evictions are retried on \
                     a timer only"
                );
                return;
            }
            Err(e) => {
                failures += 1;
                tracing::debug!("PodDisruptionBudget watch failed: {e}");
                tokio::time::sleep(retry.delay(failures, None)).await;
            }
        }
    }
}
