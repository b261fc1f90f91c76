//! The controller contract ([`Reconciler`]), its work queue, and the loop that drives it over
//! the store's event log.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::store::{Event, Store};

/// Work queue of one controller: keys to reconcile now, and timers that make keys dirty later.
pub(crate) struct Queue<K: Ord> {
    dirty: BTreeSet<K>,
    timers: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord + Clone> Queue<K> {
    pub(crate) fn new() -> Self {
        Self {
            dirty: BTreeSet::new(),
            timers: BinaryHeap::new(),
        }
    }

    /// Reconcile `key` as soon as possible.
    pub(crate) fn dirty(&mut self, key: K) {
        self.dirty.insert(key);
    }

    /// Reconcile `key` at `at` (again).
    pub(crate) fn at(&mut self, at: Instant, key: K) {
        self.timers.push(Reverse((at, key)));
    }

    pub(crate) fn fire_due(&mut self, now: Instant) {
        while let Some(Reverse((t, _))) = self.timers.peek() {
            if *t > now {
                break;
            }
            if let Some(Reverse((_, k))) = self.timers.pop() {
                self.dirty.insert(k);
            }
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }
}

/// One simulated controller, driven by [`run`].
pub(crate) trait Reconciler: Send + 'static {
    /// What the work queue holds.
    type Key: Ord + Clone + Send;

    /// Marks everything this controller owns dirty (at start and after the event log expired).
    fn resync(&mut self, store: &Store, queue: &mut Queue<Self::Key>);

    /// Marks the keys an event affects dirty.
    fn on_event(&mut self, store: &Store, event: &Event, queue: &mut Queue<Self::Key>);

    /// Called before a batch of reconciles (to drop per-batch caches).
    fn begin_batch(&mut self) {}

    /// Brings one key to its desired state.
    fn reconcile(&mut self, store: &Store, key: &Self::Key, queue: &mut Queue<Self::Key>);
}

/// The controller loop: follow the event log, reconcile dirty keys, sleep until the next write,
/// timer or stop.
pub(crate) async fn run<R: Reconciler>(
    store: Arc<Store>,
    mut r: R,
    mut stop: watch::Receiver<bool>,
) {
    let mut changes = store.subscribe();
    let mut queue = Queue::new();
    let mut rv = store.current_rv();
    r.resync(&store, &mut queue);
    loop {
        if *stop.borrow() {
            return;
        }
        queue.fire_due(Instant::now());
        if !queue.dirty.is_empty() {
            r.begin_batch();
            let dirty = std::mem::take(&mut queue.dirty);
            for key in &dirty {
                r.reconcile(&store, key, &mut queue);
            }
            // Let the HTTP server and the other controllers run between batches.
            tokio::task::yield_now().await;
        }
        let idle = queue.dirty.is_empty();
        let deadline = queue.next_deadline();
        let wait_timer = async move {
            if !idle {
                return;
            }
            match deadline {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            res = stop.changed() => {
                if res.is_err() {
                    return;
                }
                continue;
            }
            res = changes.changed() => {
                if res.is_err() {
                    return;
                }
            }
            () = wait_timer => {}
        }
        if let Ok(events) = store.events_since(rv) {
            for e in &events {
                r.on_event(&store, e, &mut queue);
            }
            if let Some(last) = events.last() {
                rv = last.rv;
            }
        } else {
            // The log was compacted past us: start over from the current state.
            rv = store.current_rv();
            r.resync(&store, &mut queue);
        }
    }
}
