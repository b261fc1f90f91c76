//! PodDisruptionBudget refusals: evictions a budget refused wait for a watch of the budgets to
//! show one that allows disruptions again, instead of a blind backoff. The watch also tells
//! which budgets cover a blocked pod (for [`super::stuck`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::stuck::BlockedPod;

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
    /// Every budget the watch has shown: `(namespace, name)` -> `spec.selector`.
    budgets: Mutex<BTreeMap<(String, String), Option<LabelSelector>>>,
}

struct Waiter {
    pod: PodRef,
    labels: BTreeMap<String, String>,
    wake: Arc<Notify>,
    /// When its eviction was first refused by a budget.
    since: Instant,
}

impl PdbWaiters {
    pub(super) fn register(&self, pod: &PodRef, labels: &BTreeMap<String, String>) -> Arc<Notify> {
        let mut w = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = w.iter().find(|w| w.pod.uid == pod.uid) {
            return existing.wake.clone();
        }
        let wake = Arc::new(Notify::new());
        w.push(Waiter {
            pod: pod.clone(),
            labels: labels.clone(),
            wake: wake.clone(),
            since: Instant::now(),
        });
        wake
    }

    /// The pods blocked now, each with the budgets (`namespace/name`, sorted) whose selector
    /// matches it — empty when the watch has not shown any (e.g. it is forbidden). A budget
    /// without a selector selects no pod (policy/v1).
    pub(super) fn blocked(&self) -> Vec<BlockedPod> {
        let budgets = self.budgets.lock().unwrap_or_else(PoisonError::into_inner);
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|w| BlockedPod {
                pod: w.pod.clone(),
                since: w.since,
                pdbs: budgets
                    .iter()
                    .filter(|((ns, _), sel)| {
                        *ns == w.pod.namespace
                            && sel
                                .as_ref()
                                .is_some_and(|s| selector_matches(Some(s), &w.labels))
                    })
                    .map(|((ns, name), _)| format!("{ns}/{name}"))
                    .collect(),
            })
            .collect()
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
            .retain(|w| w.pod.uid != uid);
    }

    /// Records `pdb`, then wakes as many of the longest-waiting pods it covers as it allows
    /// disruptions.
    pub(super) fn on_pdb(&self, pdb: &PdbState) {
        self.budgets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                (pdb.namespace.clone(), pdb.name.clone()),
                pdb.selector.clone(),
            );
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
                w.pod.namespace == pdb.namespace
                    && selector_matches(pdb.selector.as_ref(), &w.labels)
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
