//! Change notification and a cache of the lock objects for `wait_for_change`,
//! `wait_for_slot` and acquires: one lazily started watcher per lock, a record of the
//! resourceVersions this lock has itself observed (so that a change that happened between a
//! read and the wait is not lost), and the pacing of waiters that all see the same free slot.
//!
//! Why pacing: every waiter watches the lock, so when a slot frees, all N of them learn it
//! within the watch latency. If all of them wrote at once, a handoff would cost N requests
//! (one write wins, N − 1 get a 409). Each waiter instead sleeps a random time in
//! `[0, window)` and writes only if the slot is still free when it wakes; the first to wake
//! takes it and the others see that through their watch, at no request. The window adapts:
//! a waiter that saw the slot taken measures the gap between "free" and "taken" (≈ window / N
//! plus the winner's request latency) and scales its window so that this gap stays a few
//! request latencies long, which makes the window ≈ N × a few latencies without anyone
//! knowing N; a write that still collides (409) doubles the window. Handoffs then cost O(1)
//! requests however many nodes wait, for a delay of a few request latencies.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

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
#[derive(Debug, Clone)]
pub(crate) struct WatchState<K> {
    /// The initial list has completed at least once.
    ready: bool,
    /// The watcher task stopped.
    ended: bool,
    /// The version of each watched name (absent names may be missing).
    objects: BTreeMap<String, Observed>,
    /// The watched objects that exist, as last delivered.
    cache: BTreeMap<String, Arc<K>>,
}

impl<K> Default for WatchState<K> {
    fn default() -> Self {
        Self {
            ready: false,
            ended: false,
            objects: BTreeMap::new(),
            cache: BTreeMap::new(),
        }
    }
}

/// The cached objects of a ready watcher, by name (absent objects are missing).
pub(crate) type Cached<K> = BTreeMap<String, Arc<K>>;

/// Whether a cached state lets the caller take a slot now, and if not, when a record of it
/// expires (a TTL lapse changes nothing on the server, so no event would wake the waiter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotView {
    /// The caller could take (or already holds) a slot.
    Free,
    /// Full; re-evaluate at this instant if given.
    Full(Option<Timestamp>),
}

/// Smallest and largest jitter window, and the one a fresh waiter starts with.
const MIN_WINDOW: Duration = Duration::from_millis(1);
const MAX_WINDOW: Duration = Duration::from_secs(30);
const INITIAL_WINDOW: Duration = Duration::from_millis(250);
/// The first guess of the effective latency: from a waiter deciding to write until the
/// others see the write through their watch.
const INITIAL_ECHO: Duration = Duration::from_millis(2);
/// Cap of the learnt latency: beyond it, a collision now and then is cheaper than the
/// delay (a handoff waits a few of these at most).
const MAX_ECHO: Duration = Duration::from_millis(200);
/// Desired "free → taken" gap, in effective latencies: the first waiter wakes about
/// `TARGET_GAP − 1` latencies after the slot frees, so a second one rarely wakes within the
/// latency of the first.
const TARGET_GAP: u32 = 4;

/// The adaptive jitter of one waiter (see the module docs).
#[derive(Debug, Clone, Copy)]
struct Pacing {
    window: Duration,
    /// Moving average of this lock's request round trips.
    latency: Duration,
    /// Learned effective latency (write + watch delivery to the others): it only grows,
    /// doubling each time a write of this waiter collides.
    echo: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            window: INITIAL_WINDOW,
            latency: Duration::from_millis(1),
            echo: INITIAL_ECHO,
        }
    }
}

impl Pacing {
    fn request_took(&mut self, d: Duration) {
        self.latency = (self.latency * 4 + d.min(MAX_ECHO)) / 5;
    }

    /// The effective latency used for the target gap.
    fn effective(&self) -> Duration {
        self.echo.max(self.latency * 2)
    }

    /// Another waiter took the slot `gap` after this one saw it free: scale the window so that
    /// the gap tends to the target (a gap ≈ window / waiters + latency, so this makes the
    /// window ≈ waiters × a few latencies, without knowing how many wait).
    fn lost(&mut self, gap: Duration) {
        let target = self.effective() * TARGET_GAP;
        let floor = self.effective() / 4;
        let factor = (target.as_secs_f64() / gap.max(floor).as_secs_f64()).clamp(0.5, 2.0);
        self.window = self.window.mul_f64(factor).clamp(MIN_WINDOW, MAX_WINDOW);
    }

    /// The delay before writing for a uniform draw `u` in `[0, 1)`: `u × window`, except that
    /// beyond twice the target gap time runs logarithmically. The map is monotone, so the
    /// order in which waiters wake is unchanged (the first one is still alone), but a waiter
    /// whose window is too large (say, the last one left, no one taking slots to teach it)
    /// waits a few target gaps, not half a window.
    fn jitter(&self, u: f64) -> Duration {
        let linear = self.window.mul_f64(u.clamp(0.0, 1.0));
        let knee = self.effective() * TARGET_GAP * 2;
        if linear <= knee || knee.is_zero() {
            return linear;
        }
        knee.mul_f64(1.0 + (linear.as_secs_f64() / knee.as_secs_f64()).log2())
    }

    /// A write lost a race despite the jitter: the effective latency is larger than thought.
    fn collided(&mut self) {
        self.echo = (self.echo * 2).min(MAX_ECHO);
        self.window = (self.window * 2).min(MAX_WINDOW);
    }
}

/// Per-lock change tracking and object cache.
#[derive(Debug)]
pub(crate) struct ChangeTracker<K> {
    names: BTreeSet<String>,
    seen: Mutex<BTreeMap<String, Observed>>,
    state: Arc<watch::Sender<WatchState<K>>>,
    task: Mutex<Option<JoinHandle<()>>>,
    pacing: Mutex<Pacing>,
    /// Per waiting holder: when it saw the slot free and when its jitter ends. Kept when a
    /// `wait_for_slot` is dropped mid-jitter (callers bound the wait with their period), so
    /// that the next call resumes the same turn instead of drawing a new delay: with a window
    /// longer than the caller's period, fresh draws every period would starve the handoff.
    turns: Mutex<BTreeMap<String, (Instant, Instant)>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<K> ChangeTracker<K> {
    pub(crate) fn new(names: impl IntoIterator<Item = String>) -> Self {
        Self {
            names: names.into_iter().collect(),
            seen: Mutex::new(BTreeMap::new()),
            state: Arc::new(watch::Sender::new(WatchState::default())),
            task: Mutex::new(None),
            pacing: Mutex::new(Pacing::default()),
            turns: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records what a read or write of this lock saw.
    pub(crate) fn observe(&self, name: &str, observed: Observed) {
        let mut seen = locked(&self.seen);
        match seen.get(name) {
            Some(old) if !newer(old, &observed) => {}
            _ => {
                seen.insert(name.to_string(), observed);
            }
        }
    }

    /// Records how long one of this lock's requests took (for the pacing).
    pub(crate) fn request_took(&self, d: Duration) {
        locked(&self.pacing).request_took(d);
    }

    /// Records that a write based on the cache lost a race (409).
    pub(crate) fn collided(&self) {
        locked(&self.pacing).collided();
    }

    /// Starts the watcher if it is not running yet (restarting one that ended) and subscribes.
    fn ensure_started(
        &self,
        start: impl FnOnce(Arc<watch::Sender<WatchState<K>>>) -> JoinHandle<()>,
    ) -> watch::Receiver<WatchState<K>> {
        let mut rx = self.state.subscribe();
        let mut task = locked(&self.task);
        if task.as_ref().is_none_or(JoinHandle::is_finished) {
            if task.is_some() {
                // Restart a watcher that ended (e.g. its runtime went away).
                self.state.send_modify(|s| *s = WatchState::default());
                rx.mark_changed();
            }
            *task = Some(start(self.state.clone()));
        }
        rx
    }

    /// The watcher's objects if it is running, has listed, and is not behind what this lock
    /// itself has read or written (so a decision on them is as good as a fresh GET, up to the
    /// watch latency); `None` otherwise.
    pub(crate) fn fresh(&self) -> Option<Cached<K>> {
        if locked(&self.task)
            .as_ref()
            .is_none_or(JoinHandle::is_finished)
        {
            return None;
        }
        let state = self.state.borrow();
        if !state.ready || state.ended {
            return None;
        }
        let seen = locked(&self.seen);
        for name in &self.names {
            let current = state.objects.get(name).cloned().unwrap_or(Observed::Absent);
            if let Some(old) = seen.get(name)
                && newer(&current, old)
            {
                return None;
            }
        }
        Some(state.cache.clone())
    }

    /// Waits (at most `limit`) until the watcher shows `name` at a version other than `rv`
    /// (the version a write just failed on); true if it did.
    pub(crate) async fn wait_past(&self, name: &str, rv: &Observed, limit: Duration) -> bool {
        let mut rx = self.state.subscribe();
        let check = |s: &WatchState<K>| {
            s.ready
                && !s.ended
                && newer(
                    rv,
                    &s.objects.get(name).cloned().unwrap_or(Observed::Absent),
                )
        };
        tokio::time::timeout(limit, async {
            loop {
                if check(&rx.borrow_and_update()) {
                    return true;
                }
                if rx.changed().await.is_err() {
                    return false;
                }
            }
        })
        .await
        .unwrap_or(false)
    }

    /// Waits until the watcher reports a state newer than the one this lock observed last.
    /// `start` spawns the watcher if it is not running yet.
    pub(crate) async fn wait(
        &self,
        start: impl FnOnce(Arc<watch::Sender<WatchState<K>>>) -> JoinHandle<()>,
    ) -> Result<(), LockError> {
        let mut rx = self.ensure_started(start);
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

    /// Waits until the cached objects show a slot `view` calls free, then sleeps the jitter
    /// and returns if the slot is still free (see the module docs). Makes no API request.
    pub(crate) async fn wait_for_slot(
        &self,
        holder: &str,
        start: impl FnOnce(Arc<watch::Sender<WatchState<K>>>) -> JoinHandle<()>,
        view: impl Fn(&Cached<K>, Timestamp) -> SlotView,
    ) -> Result<(), LockError> {
        let mut rx = self.ensure_started(start);
        let look = |rx: &mut watch::Receiver<WatchState<K>>| -> Result<SlotView, LockError> {
            let state = rx.borrow_and_update();
            if state.ended {
                return Err(LockError::WatchEnded);
            }
            if !state.ready {
                return Ok(SlotView::Full(None));
            }
            // Keep `wait_for_change` in step: this state has been seen.
            self.catch_up(&state);
            Ok(view(&state.cache, Timestamp::now()))
        };
        loop {
            // Until a slot is free.
            loop {
                let recheck = match look(&mut rx)? {
                    SlotView::Free => break,
                    SlotView::Full(at) => at,
                };
                // A turn drawn for an earlier free slot is over.
                locked(&self.turns).remove(holder);
                let sleep = recheck.map(|at| {
                    let left = Timestamp::now().duration_until(at);
                    Duration::try_from(left)
                        .unwrap_or_default()
                        .max(Duration::from_millis(1))
                });
                tokio::select! {
                    changed = rx.changed() => changed.map_err(|_| LockError::WatchEnded)?,
                    () = tokio::time::sleep(sleep.unwrap_or_default()), if sleep.is_some() => {}
                }
            }
            let (free_at, wake) = *locked(&self.turns)
                .entry(holder.to_string())
                .or_insert_with(|| {
                    let now = Instant::now();
                    (now, now + locked(&self.pacing).jitter(fastrand::f64()))
                });
            let lost = loop {
                tokio::select! {
                    changed = rx.changed() => changed.map_err(|_| LockError::WatchEnded)?,
                    () = tokio::time::sleep_until(wake) => {}
                }
                let view = look(&mut rx)?;
                if view != SlotView::Free {
                    break true;
                }
                if Instant::now() >= wake {
                    break false;
                }
            };
            locked(&self.turns).remove(holder);
            if !lost {
                return Ok(());
            }
            let gap = free_at.elapsed();
            let mut pacing = locked(&self.pacing);
            pacing.lost(gap);
            tracing::trace!(?gap, window = ?pacing.window, "another waiter took the free slot");
        }
    }

    /// Adopts the watcher's state; true if it shows a change for any name. Names this lock
    /// never observed take the watcher's state as their baseline.
    fn catch_up(&self, state: &WatchState<K>) -> bool {
        let mut seen = locked(&self.seen);
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

impl<K> Drop for ChangeTracker<K> {
    fn drop(&mut self) {
        if let Some(task) = locked(&self.task).take() {
            task.abort();
        }
    }
}

/// Spawns a watcher over `api` (narrowed by `config`) that publishes the state of `names`.
pub(crate) fn spawn_watcher<K>(
    api: Api<K>,
    config: watcher::Config,
    names: BTreeSet<String>,
    state: Arc<watch::Sender<WatchState<K>>>,
) -> JoinHandle<()>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    tokio::spawn(async move {
        let stream = watcher::watcher(api, config).default_backoff();
        let mut stream = std::pin::pin!(stream);
        let mut buffer: BTreeMap<String, Arc<K>> = BTreeMap::new();
        let observed = |obj: &K| Observed::Present(obj.resource_version().unwrap_or_default());
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Init) => buffer.clear(),
                Ok(Event::InitApply(obj)) => {
                    if names.contains(&obj.name_any()) {
                        buffer.insert(obj.name_any(), Arc::new(obj));
                    }
                }
                Ok(Event::InitDone) => {
                    let cache = std::mem::take(&mut buffer);
                    state.send_modify(|s| {
                        s.objects = cache
                            .iter()
                            .map(|(n, o)| (n.clone(), observed(o)))
                            .collect();
                        s.cache = cache;
                        s.ready = true;
                    });
                }
                Ok(Event::Apply(obj)) => {
                    let name = obj.name_any();
                    if names.contains(&name) {
                        let version = observed(&obj);
                        state.send_modify(|s| {
                            s.objects.insert(name.clone(), version);
                            s.cache.insert(name, Arc::new(obj));
                        });
                    }
                }
                Ok(Event::Delete(obj)) => {
                    let name = obj.name_any();
                    if names.contains(&name) {
                        state.send_modify(|s| {
                            s.objects.insert(name.clone(), Observed::Absent);
                            s.cache.remove(&name);
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
mod tests;
