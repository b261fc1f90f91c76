//! The engine on a hand-written fake server: the cap on requests in flight, and a cut watch
//! resumed by relisting.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc::unbounded;
use k8s_openapi::api::core::v1::Pod;

use super::*;
use crate::api::{EvictResponse, PdbEventStream, PodEvent, PodEventStream, PodList};

/// A fake server: evictions take a few milliseconds; counts requests in flight; the watch
/// stream ends (then 410s) after `cut_after` events to exercise the relist path. Like a real
/// API server, a list carries a resourceVersion and a watch replays every deletion after it,
/// so a deletion between a relist and the next watch is not lost.
struct Fake {
    state: Mutex<FakeState>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    lists: AtomicUsize,
    watches: AtomicUsize,
    cut_after: usize,
}

/// The pods, the log of deletions (its length is the resourceVersion) and the open watch.
struct FakeState {
    pods: Vec<Pod>,
    deleted: Vec<PodRef>,
    tx: Option<Tx>,
}

#[async_trait]
impl PodApi for Fake {
    async fn list_pods_on_node(
        &self,
        _node: &str,
        _label_selector: Option<String>,
    ) -> Result<PodList, kube::Error> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        let state = self.state.lock().unwrap();
        Ok(PodList {
            pods: state.pods.clone(),
            resource_version: state.deleted.len().to_string(),
        })
    }

    async fn daemonset_exists(&self, _: &str, _: &str) -> Result<bool, kube::Error> {
        Ok(true)
    }

    async fn evict(&self, pod: &PodRef, _: Option<i64>) -> EvictResponse {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(3)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut state = self.state.lock().unwrap();
        state
            .pods
            .retain(|p| p.metadata.name.as_deref() != Some(&pod.name));
        state.deleted.push(pod.clone());
        if let Some(tx) = state.tx.as_ref() {
            let _ = tx.unbounded_send(Ok(PodEvent::Deleted(pod.clone())));
        }
        EvictResponse::Evicted
    }

    async fn delete(&self, _: &PodRef, _: Option<i64>) -> EvictResponse {
        EvictResponse::Rejected {
            code: 405,
            message: "not used".into(),
        }
    }

    async fn watch_pdbs(&self) -> Result<PdbEventStream, kube::Error> {
        Ok(futures::stream::pending().boxed())
    }

    async fn watch_pods_on_node(
        &self,
        _: &str,
        resource_version: &str,
    ) -> Result<PodEventStream, kube::Error> {
        self.watches.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = unbounded();
        let mut state = self.state.lock().unwrap();
        let from: usize = resource_version.parse().unwrap_or(0);
        for pod in state.deleted.iter().skip(from) {
            let _ = tx.unbounded_send(Ok(PodEvent::Deleted(pod.clone())));
        }
        state.tx = Some(tx);
        drop(state);
        let limited = rx
            .take(self.cut_after)
            .chain(futures::stream::once(async { Ok(PodEvent::Expired) }).boxed());
        Ok(limited.boxed())
    }
}

fn fake(n: usize, cut_after: usize) -> Fake {
    Fake {
        state: Mutex::new(FakeState {
            pods: (0..n).map(|i| pod(&format!("p{i}"), true)).collect(),
            deleted: Vec::new(),
            tx: None,
        }),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
        lists: AtomicUsize::new(0),
        watches: AtomicUsize::new(0),
        cut_after,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evictions_run_concurrently_up_to_the_cap() {
    let options = DrainOptions {
        max_in_flight: 4,
        ..fast_options()
    };
    let engine = DrainEngine::new(fake(40, usize::MAX), options);
    let report = engine.drain("n1").await.unwrap();
    assert_eq!(report.evicted.len(), 40);
    let max = engine.api.max_in_flight.load(Ordering::SeqCst);
    assert!((2..=4).contains(&max), "max in flight {max}");
    assert_eq!(
        engine.api.watches.load(Ordering::SeqCst),
        1,
        "one watch for all pods"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_watch_is_resumed_by_relisting() {
    let engine = DrainEngine::new(fake(12, 3), fast_options());
    let report = tokio::time::timeout(Duration::from_secs(10), engine.drain("n1"))
        .await
        .expect("no lost deletions")
        .unwrap();
    assert_eq!(report.evicted.len(), 12);
    assert!(
        engine.api.lists.load(Ordering::SeqCst) >= 2,
        "relisted after the cut"
    );
    // Whether it watches again depends on whether pods were left after the relist; the
    // deletions in between are replayed from the list's resourceVersion either way.
    // The futures are cancel-safe: a drain dropped midway leaves no task behind that panics.
    let engine = DrainEngine::new(fake(5, usize::MAX), fast_options());
    assert!(engine.drain("n1").now_or_never().is_none());
}
