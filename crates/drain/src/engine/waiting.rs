//! Waiting for evicted pods to be gone, by uid, on one watch of the node's pods.
//!
//! [`watch_node`] feeds [`WatchMsg`]s (events, and a fresh list after the watch ends or
//! expires); [`Waiting`] keeps the pods not gone yet and says which ones a message shows gone.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use jiff::Timestamp;
use tokio::sync::mpsc;

use crate::api::{PodApi, PodEvent};
use crate::error::{PendingPod, PendingState};
use crate::select::{deleted_long_ago, deletion_timestamp};
use crate::types::PodRef;
use backoff::Backoff;

/// What the watcher reports.
#[derive(Debug)]
pub(super) enum WatchMsg {
    Event(PodEvent),
    /// A fresh list of the node's pods (after the watch ended or expired).
    Snapshot(Vec<(PodRef, Option<Timestamp>)>),
}

/// Watches the node's pods, relisting when the watch ends, expires or fails.
pub(super) async fn watch_node<A: PodApi + ?Sized>(
    api: Arc<A>,
    node: String,
    mut rv: String,
    tx: mpsc::UnboundedSender<WatchMsg>,
    retry: Backoff,
) {
    let mut failures = 0u32;
    loop {
        match api.watch_pods_on_node(&node, &rv).await {
            Ok(mut stream) => {
                failures = 0;
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(PodEvent::Expired) => break,
                        Ok(ev) => {
                            if tx.send(WatchMsg::Event(ev)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::debug!(node, "pod watch error: {e}");
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                failures += 1;
                tracing::debug!(node, "pod watch failed: {e}");
                tokio::time::sleep(retry.delay(failures, None)).await;
            }
        }
        // Resynchronise: the list says which pods still exist.
        loop {
            if tx.is_closed() {
                return;
            }
            match api.list_pods_on_node(&node, None).await {
                Ok(list) => {
                    rv = list.resource_version;
                    let snapshot = list
                        .pods
                        .iter()
                        .map(|p| (PodRef::of(p), deletion_timestamp(p)))
                        .collect();
                    if tx.send(WatchMsg::Snapshot(snapshot)).is_err() {
                        return;
                    }
                    break;
                }
                Err(e) => {
                    failures += 1;
                    tracing::debug!(node, "pod relist failed: {e}");
                    tokio::time::sleep(retry.delay(failures, None)).await;
                }
            }
        }
    }
}

#[derive(Debug)]
struct Tracked {
    pod: PodRef,
    evicted: bool,
    deletion: Option<Timestamp>,
}

/// The pods not gone yet, by uid.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    by_uid: HashMap<String, Tracked>,
    by_name: HashMap<(String, String), String>,
}

impl Waiting {
    pub(super) fn track(&mut self, pod: PodRef, deletion: Option<Timestamp>) {
        self.by_name
            .insert((pod.namespace.clone(), pod.name.clone()), pod.uid.clone());
        self.by_uid.insert(
            pod.uid.clone(),
            Tracked {
                pod,
                evicted: false,
                deletion,
            },
        );
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_uid.is_empty()
    }

    pub(super) fn remove(&mut self, uid: &str) -> Option<PodRef> {
        let t = self.by_uid.remove(uid)?;
        self.by_name
            .remove(&(t.pod.namespace.clone(), t.pod.name.clone()));
        Some(t.pod)
    }

    pub(super) fn mark_evicted(&mut self, uid: &str) {
        if let Some(t) = self.by_uid.get_mut(uid) {
            t.evicted = true;
        }
    }

    /// Applies a watch message; returns the tracked pods it shows to be gone.
    pub(super) fn apply(&mut self, msg: WatchMsg) -> Vec<PodRef> {
        let mut gone = Vec::new();
        match msg {
            WatchMsg::Event(PodEvent::Deleted(p)) => gone.extend(self.remove(&p.uid)),
            WatchMsg::Event(PodEvent::Present { pod, deletion }) => {
                gone.extend(self.seen(&pod, deletion));
            }
            WatchMsg::Event(PodEvent::Expired) => {}
            WatchMsg::Snapshot(pods) => {
                let present: HashSet<&str> = pods.iter().map(|(p, _)| p.uid.as_str()).collect();
                let missing: Vec<String> = self
                    .by_uid
                    .keys()
                    .filter(|u| !present.contains(u.as_str()))
                    .cloned()
                    .collect();
                for uid in missing {
                    gone.extend(self.remove(&uid));
                }
                for (p, deletion) in &pods {
                    gone.extend(self.seen(p, *deletion));
                }
            }
        }
        gone
    }

    /// A pod exists: update our record of it, or retire ours if the name has a new uid.
    fn seen(&mut self, pod: &PodRef, deletion: Option<Timestamp>) -> Option<PodRef> {
        if let Some(t) = self.by_uid.get_mut(&pod.uid) {
            t.deletion = deletion;
            return None;
        }
        let old = self
            .by_name
            .get(&(pod.namespace.clone(), pod.name.clone()))?
            .clone();
        self.remove(&old)
    }

    /// Evicted pods terminating for more than `secs` past their deletionTimestamp (removed).
    pub(super) fn overdue(&mut self, secs: u64, now: Timestamp) -> Vec<PodRef> {
        let uids: Vec<String> = self
            .by_uid
            .values()
            .filter(|t| t.evicted && deleted_long_ago(t.deletion, secs, now))
            .map(|t| t.pod.uid.clone())
            .collect();
        uids.iter().filter_map(|u| self.remove(u)).collect()
    }

    /// The pods not gone yet and why: `last_refusal` and `blocked_by` (the budgets blocking
    /// a pod, for pods a PodDisruptionBudget refused) by uid.
    pub(super) fn pending(
        &self,
        last_refusal: &HashMap<String, String>,
        blocked_by: &HashMap<String, Vec<String>>,
    ) -> Vec<PendingPod> {
        let mut out: Vec<PendingPod> = self
            .by_uid
            .values()
            .map(|t| {
                let message = || last_refusal.get(&t.pod.uid).cloned().unwrap_or_default();
                PendingPod {
                    pod: t.pod.clone(),
                    state: if t.evicted {
                        PendingState::Terminating
                    } else if let Some(pdbs) = blocked_by.get(&t.pod.uid) {
                        PendingState::BlockedByPdb {
                            pdbs: pdbs.clone(),
                            message: message(),
                        }
                    } else {
                        PendingState::NotEvicted(message())
                    },
                }
            })
            .collect();
        out.sort_by(|a, b| a.pod.cmp(&b.pod));
        out
    }
}
