//! Change notification for `wait_for_change`: one lazily started watcher per lock, and a record
//! of the resourceVersions this lock has itself observed, so that a change that happened
//! between a read and the wait is not lost.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::LockError;

/// What is known about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Observed {
    /// Exists with this resourceVersion.
    Present(String),
    /// Does not exist.
    Absent,
}

/// Whether `now` is a later state than `seen`. resourceVersions are opaque by contract but
/// integers on every real server (etcd revisions) and on kubesim: compare them numerically
/// when both parse, else treat any difference as newer.
pub(crate) fn newer(seen: &Observed, now: &Observed) -> bool {
    match (seen, now) {
        (Observed::Present(a), Observed::Present(b)) => {
            match (a.parse::<u64>(), b.parse::<u64>()) {
                (Ok(a), Ok(b)) => b > a,
                _ => a != b,
            }
        }
        (Observed::Absent, Observed::Absent) => false,
        _ => true,
    }
}

/// What the watcher has seen.
#[derive(Debug, Clone, Default)]
pub(crate) struct WatchState {
    /// The initial list has completed at least once.
    ready: bool,
    /// The watcher task stopped.
    ended: bool,
    objects: BTreeMap<String, Observed>,
}

/// Per-lock change tracking.
#[derive(Debug)]
pub(crate) struct ChangeTracker {
    names: BTreeSet<String>,
    seen: Mutex<BTreeMap<String, Observed>>,
    state: Arc<watch::Sender<WatchState>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl ChangeTracker {
    pub(crate) fn new(names: impl IntoIterator<Item = String>) -> Self {
        Self {
            names: names.into_iter().collect(),
            seen: Mutex::new(BTreeMap::new()),
            state: Arc::new(watch::Sender::new(WatchState::default())),
            task: Mutex::new(None),
        }
    }

    /// Records what a read or write of this lock saw.
    pub(crate) fn observe(&self, name: &str, observed: Observed) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        match seen.get(name) {
            Some(old) if !newer(old, &observed) => {}
            _ => {
                seen.insert(name.to_string(), observed);
            }
        }
    }

    /// Waits until the watcher reports a state newer than the one this lock observed last.
    /// `start` spawns the watcher if it is not running yet.
    pub(crate) async fn wait(
        &self,
        start: impl FnOnce(Arc<watch::Sender<WatchState>>) -> JoinHandle<()>,
    ) -> Result<(), LockError> {
        let mut rx = self.state.subscribe();
        {
            let mut task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
            if task.as_ref().is_none_or(JoinHandle::is_finished) {
                if task.is_some() {
                    // Restart a watcher that ended (e.g. its runtime went away).
                    self.state.send_modify(|s| *s = WatchState::default());
                    rx.mark_changed();
                }
                *task = Some(start(self.state.clone()));
            }
        }
        loop {
            {
                let state = rx.borrow_and_update();
                if state.ready && self.catch_up(&state) {
                    return Ok(());
                }
                if state.ended {
                    return Err(LockError::WatchEnded);
                }
            }
            rx.changed().await.map_err(|_| LockError::WatchEnded)?;
        }
    }

    /// Adopts the watcher's state; true if it shows a change for any name. Names this lock
    /// never observed take the watcher's state as their baseline.
    fn catch_up(&self, state: &WatchState) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let mut changed = false;
        for name in &self.names {
            let current = state.objects.get(name).cloned().unwrap_or(Observed::Absent);
            match seen.get(name) {
                None => {
                    seen.insert(name.clone(), current);
                }
                Some(old) if newer(old, &current) => {
                    seen.insert(name.clone(), current);
                    changed = true;
                }
                Some(_) => {}
            }
        }
        changed
    }
}

impl Drop for ChangeTracker {
    fn drop(&mut self) {
        if let Some(task) = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

/// Spawns a watcher over `api` (narrowed by `config`) that publishes the state of `names`.
pub(crate) fn spawn_watcher<K>(
    api: Api<K>,
    config: watcher::Config,
    names: BTreeSet<String>,
    state: Arc<watch::Sender<WatchState>>,
) -> JoinHandle<()>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    tokio::spawn(async move {
        let stream = watcher::watcher(api, config).default_backoff();
        let mut stream = std::pin::pin!(stream);
        let mut buffer: BTreeMap<String, Observed> = BTreeMap::new();
        let observed = |obj: &K| Observed::Present(obj.resource_version().unwrap_or_default());
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Init) => buffer.clear(),
                Ok(Event::InitApply(obj)) => {
                    if names.contains(&obj.name_any()) {
                        buffer.insert(obj.name_any(), observed(&obj));
                    }
                }
                Ok(Event::InitDone) => {
                    let objects = std::mem::take(&mut buffer);
                    state.send_modify(|s| {
                        s.objects = objects;
                        s.ready = true;
                    });
                }
                Ok(Event::Apply(obj)) => {
                    if names.contains(&obj.name_any()) {
                        state.send_modify(|s| {
                            s.objects.insert(obj.name_any(), observed(&obj));
                        });
                    }
                }
                Ok(Event::Delete(obj)) => {
                    if names.contains(&obj.name_any()) {
                        state.send_modify(|s| {
                            s.objects.insert(obj.name_any(), Observed::Absent);
                        });
                    }
                }
                Err(e) => tracing::debug!(error = %e, "lock watch error; the watcher retries"),
            }
        }
        state.send_modify(|s| s.ended = true);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(rv: &str) -> Observed {
        Observed::Present(rv.into())
    }

    #[test]
    fn newer_compares_numerically_when_possible() {
        assert!(newer(&p("9"), &p("10")));
        assert!(!newer(&p("10"), &p("9")));
        assert!(!newer(&p("10"), &p("10")));
        assert!(newer(&p("abc"), &p("abd")));
        assert!(!newer(&p("abc"), &p("abc")));
        assert!(newer(&p("1"), &Observed::Absent));
        assert!(newer(&Observed::Absent, &p("1")));
        assert!(!newer(&Observed::Absent, &Observed::Absent));
    }

    #[tokio::test]
    async fn wait_resolves_on_change_after_own_observation_and_not_before() {
        let tracker = Arc::new(ChangeTracker::new(["ds".to_string()]));
        tracker.observe("ds", p("5"));
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
        let start = move |state: Arc<watch::Sender<WatchState>>| {
            tokio::spawn(async move {
                // Initial list shows the version we already saw: no change yet.
                state.send_modify(|s| {
                    s.objects.insert("ds".into(), p("5"));
                    s.ready = true;
                });
                let _ = go_rx.await;
                state.send_modify(|s| {
                    s.objects.insert("ds".into(), p("6"));
                });
                std::future::pending::<()>().await;
            })
        };
        let waiter = {
            let tracker = tracker.clone();
            tokio::spawn(async move { tracker.wait(start).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "no change yet");
        go_tx.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn change_between_read_and_wait_is_not_lost() {
        let tracker = ChangeTracker::new(["ds".to_string()]);
        tracker.observe("ds", p("5"));
        let start = |state: Arc<watch::Sender<WatchState>>| {
            tokio::spawn(async move {
                // By the time the watcher lists, the object has moved on.
                state.send_modify(|s| {
                    s.objects.insert("ds".into(), p("7"));
                    s.ready = true;
                });
                std::future::pending::<()>().await;
            })
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), tracker.wait(start))
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn stale_watcher_state_does_not_wake() {
        let tracker = ChangeTracker::new(["ds".to_string()]);
        tracker.observe("ds", p("8"));
        let start = |state: Arc<watch::Sender<WatchState>>| {
            tokio::spawn(async move {
                state.send_modify(|s| {
                    s.objects.insert("ds".into(), p("7"));
                    s.ready = true;
                });
                std::future::pending::<()>().await;
            })
        };
        let r =
            tokio::time::timeout(std::time::Duration::from_millis(100), tracker.wait(start)).await;
        assert!(r.is_err(), "a watcher behind our own read must not wake us");
    }
}
