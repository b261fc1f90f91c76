//! Drain progress per node, from the drain engine's [`DrainEvent`]s: what the answers to a
//! node's pre-reboot report while its drain runs.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use drain::{DrainEvent, PodRef};

/// Progress of one node's drain, from the drain engine's events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeProgress {
    /// Pods the drain has to move.
    pub to_evict: usize,
    /// Evictions accepted so far (including pods deleted by the PDB fallback).
    pub evicted: usize,
    /// Pods gone from the node so far.
    pub gone: usize,
    /// Pods whose last eviction a PodDisruptionBudget refused, with the server's message.
    pub blocked: BTreeMap<String, String>,
}

impl NodeProgress {
    /// Pods still on the node that the drain waits for.
    pub fn left(&self) -> usize {
        self.to_evict.saturating_sub(self.gone)
    }
}

impl std::fmt::Display for NodeProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} pod(s) evicted, {} left",
            self.evicted,
            self.to_evict,
            self.left()
        )
    }
}

#[derive(Debug, Default)]
struct ProgressState {
    nodes: HashMap<String, NodeProgress>,
    pod_node: HashMap<PodRef, String>,
}

/// Collects [`DrainEvent`]s per node; hand [`DrainProgress::sink`] to
/// `drain::DrainEngine::on_event` and the same value to [`KubeNodeHandler::with_progress`](super::KubeNodeHandler::with_progress).
#[derive(Clone, Debug, Default)]
pub struct DrainProgress {
    state: Arc<Mutex<ProgressState>>,
}

impl DrainProgress {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProgressState> {
        // Every update is a few field writes; a poisoned state is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records one event.
    pub fn record(&self, event: &DrainEvent) {
        let mut s = self.lock();
        let node_of = |s: &ProgressState, pod: &PodRef| s.pod_node.get(pod).cloned();
        match event {
            DrainEvent::Selected { node, evict, .. } => {
                s.pod_node.retain(|_, n| n != node);
                for pod in evict {
                    s.pod_node.insert(pod.clone(), node.clone());
                }
                s.nodes.insert(
                    node.clone(),
                    NodeProgress {
                        to_evict: evict.len(),
                        ..NodeProgress::default()
                    },
                );
            }
            DrainEvent::Evicted(pod) | DrainEvent::DeletedDespitePdb { pod, .. } => {
                if let Some(node) = node_of(&s, pod)
                    && let Some(p) = s.nodes.get_mut(&node)
                {
                    p.evicted += 1;
                    p.blocked.remove(&pod.to_string());
                }
            }
            DrainEvent::AlreadyGone(pod) | DrainEvent::Gone(pod) => {
                if let Some(node) = node_of(&s, pod)
                    && let Some(p) = s.nodes.get_mut(&node)
                {
                    p.gone += 1;
                    p.blocked.remove(&pod.to_string());
                }
            }
            DrainEvent::BlockedByPdb { pod, message, .. } => {
                if let Some(node) = node_of(&s, pod)
                    && let Some(p) = s.nodes.get_mut(&node)
                {
                    p.blocked.insert(pod.to_string(), message.clone());
                }
            }
            DrainEvent::Finished { node, .. } => {
                if let Some(p) = s.nodes.get_mut(node) {
                    p.blocked.clear();
                }
            }
            _ => {}
        }
    }

    /// A closure for `drain::DrainEngine::on_event`.
    pub fn sink(&self) -> impl Fn(&DrainEvent) + Send + Sync + 'static {
        let this = self.clone();
        move |e| this.record(e)
    }

    /// The progress of `node`'s current (or last) drain.
    pub fn get(&self, node: &str) -> Option<NodeProgress> {
        self.lock().nodes.get(node).cloned()
    }

    /// Drops what is known of `node`'s drain.
    pub(super) fn forget(&self, node: &str) {
        let mut s = self.lock();
        s.nodes.remove(node);
        s.pod_node.retain(|_, n| n != node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str) -> PodRef {
        PodRef::new("default", name, format!("uid-{name}"))
    }

    #[test]
    fn progress_counts_evictions_and_pdb_refusals_per_node() {
        let p = DrainProgress::new();
        p.record(&DrainEvent::Selected {
            node: "n1".into(),
            evict: vec![pod("a"), pod("b")],
            skipped: Vec::new(),
            warnings: String::new(),
        });
        p.record(&DrainEvent::Selected {
            node: "n2".into(),
            evict: vec![pod("c")],
            skipped: Vec::new(),
            warnings: String::new(),
        });
        p.record(&DrainEvent::Evicted(pod("a")));
        p.record(&DrainEvent::BlockedByPdb {
            pod: pod("b"),
            message: "The disruption budget web-pdb needs 2".into(),
            retry_in: std::time::Duration::from_secs(1),
        });
        let n1 = p.get("n1").unwrap();
        assert_eq!((n1.to_evict, n1.evicted, n1.gone, n1.left()), (2, 1, 0, 2));
        assert_eq!(
            n1.blocked.get("default/b").map(String::as_str),
            Some("The disruption budget web-pdb needs 2")
        );
        assert_eq!(n1.to_string(), "1 of 2 pod(s) evicted, 2 left");
        assert_eq!(p.get("n2").unwrap().evicted, 0, "other nodes untouched");
        p.record(&DrainEvent::Gone(pod("a")));
        p.record(&DrainEvent::Evicted(pod("b")));
        let n1 = p.get("n1").unwrap();
        assert!(
            n1.blocked.is_empty(),
            "an accepted eviction clears the refusal"
        );
        assert_eq!((n1.evicted, n1.left()), (2, 1));
        p.forget("n1");
        assert_eq!(p.get("n1"), None);
        assert!(p.get("n2").is_some());
    }
}
