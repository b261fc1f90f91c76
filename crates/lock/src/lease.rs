//! (Over 600 lines: one idea, the Lease backend's read-decide-write rounds; the rules are in `decision`.)
//! The Lease backend: `coordination.k8s.io/v1` Leases `<name>-0 … <name>-(c-1)` in the lock
//! namespace, one per slot.
//!
//! A held slot has `spec.holderIdentity` = the node, `spec.acquireTime` = `spec.renewTime` =
//! the acquire time (`MicroTime`), `spec.leaseDurationSeconds` = the TTL rounded up to whole
//! seconds (absent for no TTL), `spec.leaseTransitions` counting takeovers, and the holder's
//! full kured-format record (nanosecond `created`, exact TTL, `unschedulable`) in the lock
//! annotation. A free slot has no holder and no annotation; a missing Lease is a free slot and
//! is created on first use. Leases whose holder was set by something else are read from the
//! spec alone (time = `renewTime`, else `acquireTime`; no time = a manual record that never
//! expires).
//!
//! Writes use optimistic concurrency like the `DaemonSet` backend: create (409 `AlreadyExists` =
//! someone else was first) or a merge patch carrying the read `resourceVersion` (409 = someone
//! else wrote). Each slot has one holder, so at most `c` nodes hold the lock.
//!
//! **Slots above the concurrency.** When `--concurrency` is lowered (a `DaemonSet` rollout
//! from 3 to 1, say), nodes may still hold slots `<name>-c …` taken under the larger value.
//! Like kured's multi-owner annotation with a lowered `maxOwners`, such a holder still holds
//! the lock: [`RebootLock::holding`], [`RebootLock::holders`] and [`RebootLock::release`] see
//! every `<name>-<n>` Lease, and [`RebootLock::acquire`] grants a slot (always one below the
//! caller's `c`) only while the live holders over **all** slots number fewer than `c`. Dead
//! (expired or node-less) holders of high slots are cleared by the next successful acquire,
//! as dead holders of low slots are taken over. Reads find the high slots with one LIST of the
//! namespace's Leases, filtered by name (no label selector: Leases written by older versions
//! carry no label, and the lock's watch already receives every Lease of the namespace); the
//! watch caches slots `0 … max(c, 64) − 1`, and a decision from that cache is used only while
//! the last LIST showed no slot beyond it. Agents with different `c` at once (mid-rollout)
//! never exceed the larger `c`, as each slot has one holder and grants go to slots below the
//! caller's `c`; two simultaneous grants may briefly exceed the smaller `c` (each counted the
//! holders before the other's write: the count over several Leases is not one atomic read).
//!
//! **Rollout state.** The rollout state ([`crate::rollout`]) is an annotation on `<name>-0`
//! (created without a holder when a failure is recorded and it is missing). The lock's writes
//! to slot 0 are merge patches naming only the lock annotation and the spec, so they keep it.
//! A grant of slot 0 carries Lease 0's `resourceVersion`, so it cannot miss a halt. A grant of
//! another slot writes another object, and a halt may land on Lease 0 between the grant's read
//! and its write: to close that window, such a grant reads Lease 0 again *after* its write (a
//! GET, not the watch cache) and, if a halt stands by then, gives the slot back and answers
//! [`AcquireOutcome::Halted`]. Every grant that stays thus either preceded the halt (like a
//! node that held its slot before the halt) or saw it. The cost is one GET per grant of slot 1
//! and above; other agents may see the given-back slot taken for a moment. What remains: if
//! giving the slot back fails (after the lock's retries), the record stays, and as a holder's
//! acquire is idempotent even while halted, that node's next acquire succeeds.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::config::{Backend, LockConfig};
use crate::decision::{
    self, Displaced, LockPolicy, NodeDirectory, SlotDecision, gone_nodes, is_expired, record_state,
};
use crate::error::{LockError, is_conflict, kube_error_is_retryable};
use crate::format::{LockMetadata, LockRecord};
use crate::nodes::{CachedNodeDirectory, KubeNodeDirectory};
use crate::retry::Attempts;
use crate::rollout::{RolloutFailure, RolloutState};
use crate::watch::{Cached, ChangeTracker, Observed, SlotView, WatchState, spawn_watcher};
use crate::{AcquireOutcome, RebootLock};

mod rollout;

/// How long an acquire that lost a write race waits for the watch to bring the winner's
/// write before it reads the slots instead.
const CACHE_CATCH_UP: Duration = Duration::from_millis(500);

/// The watch caches slots `0 … max(c, TRACKED_SLOTS) − 1`: enough for the high slots any
/// realistic earlier `--concurrency` left behind.
const TRACKED_SLOTS: u32 = 64;

/// The Lease lock. Cheap to clone; clones share the watch.
#[derive(Clone)]
pub struct LeaseLock {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api<Lease>,
    nodes: Arc<dyn NodeDirectory>,
    config: LockConfig,
    /// The names of the slots the watch caches (`0 … max(c, TRACKED_SLOTS) − 1`).
    tracked: Vec<String>,
    /// The last LIST showed a slot Lease beyond `tracked` (or none was made yet): the cache
    /// cannot see every holder, so decisions read the Leases instead.
    beyond_tracked: AtomicBool,
    /// The watch and its cache of the slot Leases.
    tracker: ChangeTracker<Lease>,
}

impl std::fmt::Debug for LeaseLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseLock")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// One slot as read.
#[derive(Debug, Clone)]
struct Slot {
    /// Slot number (`<name>-<index>`).
    index: u32,
    /// Lease name.
    name: String,
    /// `None` when the Lease does not exist.
    rv: Option<String>,
    record: Option<LockRecord>,
    transitions: i32,
    /// The rollout annotation's text (kept on slot 0).
    rollout: Option<String>,
}

impl LeaseLock {
    /// A lock over Leases in `config.namespace`; stale holders are detected with
    /// [`KubeNodeDirectory`] on the same client.
    pub fn new(client: Client, config: LockConfig) -> Result<Self, LockError> {
        let nodes = Arc::new(KubeNodeDirectory::new(client.clone()));
        Self::with_node_directory(client, config, nodes)
    }

    /// As [`Self::new`] with another way to tell whether a holder's node still exists.
    pub fn with_node_directory(
        client: Client,
        config: LockConfig,
        nodes: Arc<dyn NodeDirectory>,
    ) -> Result<Self, LockError> {
        let config = config.for_backend(Backend::Lease)?;
        let tracked: Vec<String> = (0..config.policy.concurrency.max(TRACKED_SLOTS))
            .map(|i| format!("{}-{i}", config.name))
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                api: Api::namespaced(client, &config.namespace),
                nodes: Arc::new(CachedNodeDirectory::new(nodes, config.node_cache)),
                tracker: ChangeTracker::new(tracked.clone()),
                tracked,
                beyond_tracked: AtomicBool::new(true),
                config,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LockConfig {
        &self.inner.config
    }

    fn record_of(&self, lease: &Lease) -> Option<LockRecord> {
        let spec = lease.spec.as_ref()?;
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty())?;
        let stored = lease
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(&self.inner.config.annotation))
            .and_then(|text| LockRecord::parse(text).ok())
            .filter(|r| r.node_id == holder);
        if let Some(record) = stored {
            return Some(record);
        }
        let created = spec
            .renew_time
            .as_ref()
            .or(spec.acquire_time.as_ref())
            .map(|t| t.0);
        Some(LockRecord {
            node_id: holder.to_string(),
            metadata: LockMetadata::default(),
            created,
            ttl: SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(0))),
        })
    }

    /// The slot number of a Lease name `<name>-<n>` (canonical decimal), if it is one.
    fn slot_index(&self, lease_name: &str) -> Option<u32> {
        let digits = lease_name
            .strip_prefix(self.inner.config.name.as_str())?
            .strip_prefix('-')?;
        let index = digits.parse::<u32>().ok()?;
        (index.to_string() == digits).then_some(index)
    }

    fn free_slot(&self, index: u32) -> Slot {
        Slot {
            index,
            name: format!("{}-{index}", self.inner.config.name),
            rv: None,
            record: None,
            transitions: 0,
            rollout: None,
        }
    }

    /// Every slot: `0 … c − 1` (free when the Lease is missing), then the existing slot
    /// Leases numbered `c` and above, in slot order. One LIST of the namespace's Leases.
    async fn read_slots(&self) -> Result<Vec<Slot>, LockError> {
        let started = tokio::time::Instant::now();
        let list = self.inner.api.list(&ListParams::default()).await;
        self.inner.tracker.request_took(started.elapsed());
        let list = list.map_err(LockError::Api)?;
        let mut found: std::collections::BTreeMap<u32, Slot> = list
            .items
            .iter()
            .filter_map(|lease| {
                let index = self.slot_index(lease.metadata.name.as_deref()?)?;
                Some((index, self.slot_of(index, lease)))
            })
            .collect();
        for name in &self.inner.tracked {
            let observed = match self.slot_index(name).and_then(|i| found.get(&i)) {
                Some(slot) => Observed::Present(slot.rv.clone().unwrap_or_default()),
                None => Observed::Absent,
            };
            self.inner.tracker.observe(name, observed);
        }
        let tracked = u32::try_from(self.inner.tracked.len()).unwrap_or(u32::MAX);
        self.inner
            .beyond_tracked
            .store(found.range(tracked..).next().is_some(), Ordering::Relaxed);
        let high = found.keys().copied().collect();
        Ok(self.assemble(|index| found.remove(&index), high))
    }

    /// Slots `0 … c − 1` from `low` (free when `None`) followed by the `high` ones.
    fn assemble(&self, mut low: impl FnMut(u32) -> Option<Slot>, high: Vec<u32>) -> Vec<Slot> {
        let c = self.inner.config.policy.concurrency;
        let mut slots: Vec<Slot> = (0..c)
            .map(|i| low(i).unwrap_or_else(|| self.free_slot(i)))
            .collect();
        for index in high.into_iter().filter(|&i| i >= c) {
            if let Some(slot) = low(index) {
                slots.push(slot);
            }
        }
        slots
    }

    fn slot_of(&self, index: u32, lease: &Lease) -> Slot {
        Slot {
            index,
            name: lease
                .metadata
                .name
                .clone()
                .unwrap_or_else(|| format!("{}-{index}", self.inner.config.name)),
            rv: Some(lease.metadata.resource_version.clone().unwrap_or_default()),
            record: self.record_of(lease),
            transitions: lease
                .spec
                .as_ref()
                .and_then(|s| s.lease_transitions)
                .unwrap_or(0),
            rollout: Self::rollout_text(lease),
        }
    }

    /// The slots as the watch has them, if it is up to date and sees every slot Lease (no
    /// request).
    fn slots_cached(&self) -> Option<Vec<Slot>> {
        if self.inner.beyond_tracked.load(Ordering::Relaxed) {
            return None;
        }
        let cached = self.inner.tracker.fresh()?;
        Some(self.slots_of_cache(&cached))
    }

    fn slots_of_cache(&self, cached: &Cached<Lease>) -> Vec<Slot> {
        let mut found: std::collections::BTreeMap<u32, Slot> = cached
            .iter()
            .filter_map(|(name, lease)| {
                let index = self.slot_index(name)?;
                Some((index, self.slot_of(index, lease)))
            })
            .collect();
        let high = found.keys().copied().collect();
        self.assemble(|index| found.remove(&index), high)
    }

    fn start_watch(
        &self,
        state: Arc<tokio::sync::watch::Sender<WatchState<Lease>>>,
    ) -> tokio::task::JoinHandle<()> {
        let names: BTreeSet<String> = self.inner.tracked.iter().cloned().collect();
        spawn_watcher(
            self.inner.api.clone(),
            kube::runtime::watcher::Config::default(),
            names,
            state,
        )
    }

    /// Whether the cached slots let `holder` take one (TTL rule only, as for the `DaemonSet`
    /// backend).
    fn slot_view(&self, cached: &Cached<Lease>, holder: &str, now: Timestamp) -> SlotView {
        let policy = self.inner.config.policy;
        let slots = self.slots_of_cache(cached);
        let none = BTreeSet::new();
        let holds = slots
            .iter()
            .filter_map(|s| s.record.as_ref())
            .any(|r| r.node_id == holder && !is_expired(r, now, policy.ttl));
        if !holds && self.halt_in(&slots).is_some() {
            // No slot while halted; a resume changes Lease 0 and wakes the wait.
            return SlotView::Full(None);
        }
        match decide(&slots, holder, LockMetadata::default(), policy, now, &none).decision {
            SlotDecision::Blocked(_) => {
                let next = slots
                    .iter()
                    .filter_map(|s| s.record.clone())
                    .filter_map(|r| {
                        let value = crate::format::LockValue::Single(r);
                        decision::next_expiry(Some(&value), now, policy.ttl)
                    })
                    .min();
                SlotView::Full(next)
            }
            _ => SlotView::Free,
        }
    }

    /// The holders among `holders` whose node is gone (see [`gone_nodes`]).
    async fn gone(&self, holders: &[LockRecord], now: Timestamp) -> BTreeSet<String> {
        let presume_alive = self.inner.config.node_cache;
        gone_nodes(self.inner.nodes.as_ref(), holders, now, presume_alive).await
    }

    /// Whether the watch's copy shows every slot taken for `holder` with a holder whose node
    /// is gone (a slot is then free for `acquire`). No request while the holders are younger
    /// than [`LockConfig::node_cache`] or known to exist; `false` without a current copy.
    async fn cached_holder_gone(&self, holder: &str) -> bool {
        let Some(slots) = self.slots_cached() else {
            return false;
        };
        if self.halt_in(&slots).is_some() {
            return false;
        }
        let now = Timestamp::now();
        let policy = self.inner.config.policy;
        let none = BTreeSet::new();
        match decide(&slots, holder, LockMetadata::default(), policy, now, &none).decision {
            SlotDecision::Blocked(holders) => !self.gone(&holders, now).await.is_empty(),
            _ => false,
        }
    }

    async fn read_with_retries(&self) -> Result<Vec<Slot>, LockError> {
        let mut attempts = Attempts::new(self.inner.config.retry);
        loop {
            attempts.next();
            match self.read_slots().await {
                Ok(slots) => return Ok(slots),
                Err(e) => attempts.after_failure(e).await?,
            }
        }
    }

    fn observe_written(&self, name: &str, lease: &Lease) {
        if let Some(rv) = &lease.metadata.resource_version {
            self.inner
                .tracker
                .observe(name, Observed::Present(rv.clone()));
        }
    }

    /// Writes `record` into slot `index` as read in `slot`.
    async fn take(&self, slot: &Slot, record: &LockRecord) -> Result<(), LockError> {
        let c = &self.inner.config;
        let name = &slot.name;
        let time = record.created.map(MicroTime);
        let duration = lease_seconds(record.ttl);
        let lease = match &slot.rv {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(c.namespace.clone()),
                        annotations: Some([(c.annotation.clone(), record.to_json())].into()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(record.node_id.clone()),
                        lease_duration_seconds: duration,
                        acquire_time: time.clone(),
                        renew_time: time,
                        lease_transitions: Some(0),
                        ..LeaseSpec::default()
                    }),
                };
                self.inner.api.create(&PostParams::default(), &lease).await
            }
            Some(rv) => {
                let transitions = if slot.record.is_some() {
                    slot.transitions.saturating_add(1)
                } else {
                    slot.transitions
                };
                let patch = json!({
                    "metadata": {
                        "resourceVersion": rv,
                        "annotations": { c.annotation.as_str(): record.to_json() },
                    },
                    "spec": {
                        "holderIdentity": record.node_id,
                        "leaseDurationSeconds": duration,
                        "acquireTime": time,
                        "renewTime": time,
                        "leaseTransitions": transitions,
                    }
                });
                self.inner
                    .api
                    .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
            }
        }
        .map_err(LockError::Api)?;
        self.observe_written(name, &lease);
        Ok(())
    }

    /// Clears the slots `c` and above whose holders no longer count (best effort: a slot that
    /// changed meanwhile or a failed request is left for the next acquire).
    async fn clear_dead_high(&self, slots: &[Slot], dead: &[(usize, Displaced)], holder: &str) {
        for (pos, d) in dead {
            let slot = &slots[*pos];
            let Some(rv) = &slot.rv else { continue };
            match self.clear(&slot.name, rv).await {
                Ok(()) => tracing::warn!(
                    old_holder = %d.record.node_id,
                    reason = ?d.reason,
                    new_holder = holder,
                    lease = %slot.name,
                    "cleared a reboot lock slot above the concurrency whose holder no longer counts"
                ),
                Err(e) => tracing::debug!(
                    error = %e,
                    lease = %slot.name,
                    "could not clear a dead slot above the concurrency; left for the next acquire"
                ),
            }
        }
    }

    /// Empties the slot Lease `name` if it is still at `rv`.
    async fn clear(&self, name: &str, rv: &str) -> Result<(), LockError> {
        let c = &self.inner.config;
        let patch = json!({
            "metadata": {
                "resourceVersion": rv,
                "annotations": { c.annotation.as_str(): null },
            },
            "spec": {
                "holderIdentity": null,
                "leaseDurationSeconds": null,
                "acquireTime": null,
                "renewTime": null,
            }
        });
        let lease = self
            .inner
            .api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(LockError::Api)?;
        self.observe_written(name, &lease);
        Ok(())
    }
}

/// An acquire decision over every slot, with the dead holders of high slots to clear.
#[derive(Debug)]
struct Decided {
    /// `AlreadyHeld`/`Take` carry a position in the slot list.
    decision: SlotDecision,
    /// Positions of slots `c` and above whose record no longer counts (expired, node gone,
    /// or the caller's own expired record).
    dead_high: Vec<(usize, Displaced)>,
}

/// Decides an acquire by `holder` over `slots` (slots `0 … c − 1` first, then the existing
/// higher ones): the caller's live record in any slot is its lock; otherwise a slot below `c`
/// is taken (a free one, or one whose holder no longer counts) only while the live holders of
/// all slots number fewer than `c`.
fn decide(
    slots: &[Slot],
    holder: &str,
    metadata: LockMetadata,
    policy: LockPolicy,
    now: Timestamp,
    gone: &BTreeSet<String>,
) -> Decided {
    let c = policy.concurrency.max(1);
    let mut dead_high = Vec::new();
    if let Some((pos, record)) = slots.iter().enumerate().find_map(|(pos, s)| {
        s.record
            .as_ref()
            .filter(|r| r.node_id == holder && !is_expired(r, now, policy.ttl))
            .map(|r| (pos, r.clone()))
    }) {
        return Decided {
            decision: SlotDecision::AlreadyHeld(pos, record),
            dead_high,
        };
    }
    let mut high_live = Vec::new();
    for (pos, slot) in slots.iter().enumerate().filter(|(_, s)| s.index >= c) {
        let Some(r) = &slot.record else { continue };
        let state = if r.node_id == holder {
            decision::RecordState::Expired
        } else {
            record_state(r, now, policy.ttl, gone)
        };
        match state {
            decision::RecordState::Live => high_live.push(r.clone()),
            reason => dead_high.push((
                pos,
                Displaced {
                    record: r.clone(),
                    reason,
                },
            )),
        }
    }
    let low: Vec<Option<LockRecord>> = slots
        .iter()
        .filter(|s| s.index < c)
        .map(|s| s.record.clone())
        .collect();
    let low_live: Vec<LockRecord> = low
        .iter()
        .flatten()
        .filter(|r| {
            r.node_id != holder
                && record_state(r, now, policy.ttl, gone) == decision::RecordState::Live
        })
        .cloned()
        .collect();
    let decision = match decision::decide_slots(&low, holder, metadata, policy, now, gone) {
        SlotDecision::Take { .. } if low_live.len() + high_live.len() >= c as usize => {
            SlotDecision::Blocked(low_live.into_iter().chain(high_live).collect())
        }
        SlotDecision::Blocked(mut holders) => {
            holders.extend(high_live);
            SlotDecision::Blocked(holders)
        }
        other => other,
    };
    Decided {
        decision,
        dead_high,
    }
}

/// `leaseDurationSeconds` for a TTL: whole seconds rounded up; none for no TTL.
fn lease_seconds(ttl: SignedDuration) -> Option<i32> {
    if !ttl.is_positive() {
        return None;
    }
    let secs = ttl.as_secs() + i64::from(ttl.subsec_nanos() > 0);
    Some(i32::try_from(secs).unwrap_or(i32::MAX))
}

#[async_trait]
impl RebootLock for LeaseLock {
    async fn acquire(
        &self,
        holder: &str,
        metadata: LockMetadata,
    ) -> Result<AcquireOutcome, LockError> {
        let policy = self.inner.config.policy;
        let mut attempts = Attempts::new(self.inner.config.retry);
        // As the DaemonSet backend: decide from the watch's copy while it is current.
        let mut use_cache = true;
        let mut conflicted = false;
        while attempts.next() {
            let cached = if use_cache { self.slots_cached() } else { None };
            let from_cache = cached.is_some();
            let slots = match cached {
                Some(slots) => slots,
                None => match self.read_slots().await {
                    Ok(s) => s,
                    Err(e) => {
                        attempts.after_failure(e).await?;
                        continue;
                    }
                },
            };
            let now = Timestamp::now();
            let mut decided = decide(&slots, holder, metadata, policy, now, &BTreeSet::new());
            if !matches!(decided.decision, SlotDecision::AlreadyHeld(..))
                && let Some(halt) = self.halt_in(&slots)
            {
                return Ok(AcquireOutcome::Halted(halt));
            }
            if let SlotDecision::Blocked(holders) = &decided.decision
                && conflicted
                && from_cache
            {
                self.inner.tracker.collided();
                return Ok(AcquireOutcome::HeldBy(holders.clone()));
            }
            if let SlotDecision::Blocked(holders) = &decided.decision {
                let gone = self.gone(holders, now).await;
                if !gone.is_empty() {
                    decided = decide(&slots, holder, metadata, policy, now, &gone);
                }
            }
            match decided.decision {
                SlotDecision::AlreadyHeld(_, record) => {
                    return Ok(AcquireOutcome::Acquired(record));
                }
                SlotDecision::Blocked(holders) => return Ok(AcquireOutcome::HeldBy(holders)),
                SlotDecision::Take {
                    slot,
                    record,
                    displaced,
                } => match self.take(&slots[slot], &record).await {
                    Ok(()) => {
                        let lease = &slots[slot].name;
                        if let Some(d) = displaced {
                            tracing::warn!(
                                old_holder = %d.record.node_id,
                                reason = ?d.reason,
                                new_holder = holder,
                                %lease,
                                "took over a reboot lock slot from a holder that no longer counts"
                            );
                        }
                        tracing::info!(holder, %lease, "reboot lock acquired");
                        self.clear_dead_high(&slots, &decided.dead_high, holder)
                            .await;
                        if slots[slot].index == 0 {
                            // Written against Lease 0's version: no halt was missed.
                            return Ok(AcquireOutcome::Acquired(record));
                        }
                        return self.confirm_grant(holder, record).await;
                    }
                    Err(LockError::Api(e)) if from_cache && is_conflict(&e) => {
                        conflicted = true;
                        let seen = slots[slot]
                            .rv
                            .clone()
                            .map_or(Observed::Absent, Observed::Present);
                        if !self
                            .inner
                            .tracker
                            .wait_past(&slots[slot].name, &seen, CACHE_CATCH_UP)
                            .await
                        {
                            use_cache = false;
                        }
                    }
                    Err(e) => attempts.after_failure(e).await?,
                },
            }
        }
        Err(LockError::Contention {
            attempts: attempts.made - 1,
        })
    }

    async fn release(&self, holder: &str) -> Result<(), LockError> {
        let mut attempts = Attempts::new(self.inner.config.retry);
        let mut released_any = false;
        while attempts.next() {
            let slots = match self.read_slots().await {
                Ok(s) => s,
                Err(e) => {
                    attempts.after_failure(e).await?;
                    continue;
                }
            };
            let mine = slots
                .iter()
                .position(|s| s.record.as_ref().is_some_and(|r| r.node_id == holder));
            let Some(index) = mine else {
                if released_any {
                    return Ok(());
                }
                return Err(LockError::NotHeld {
                    holder: holder.to_string(),
                    holders: slots
                        .into_iter()
                        .filter_map(|s| s.record.map(|r| r.node_id))
                        .collect(),
                });
            };
            let rv = slots[index].rv.clone().unwrap_or_default();
            match self.clear(&slots[index].name, &rv).await {
                Ok(()) => {
                    tracing::info!(holder, lease = %slots[index].name, "reboot lock released");
                    // Go round again: a holder should have one slot, but clear any other.
                    released_any = true;
                }
                Err(e) => {
                    if let LockError::Api(api) = &e {
                        released_any |= !is_conflict(api) && kube_error_is_retryable(api);
                    }
                    attempts.after_failure(e).await?;
                }
            }
        }
        Err(LockError::Contention {
            attempts: attempts.made - 1,
        })
    }

    async fn holders(&self) -> Result<Vec<LockRecord>, LockError> {
        let slots = self.read_with_retries().await?;
        let now = Timestamp::now();
        let ttl = self.inner.config.policy.ttl;
        let none = BTreeSet::new();
        let live: Vec<LockRecord> = slots
            .iter()
            .filter_map(|s| s.record.clone())
            .filter(|r| record_state(r, now, ttl, &none) == decision::RecordState::Live)
            .collect();
        let gone = self.gone(&live, now).await;
        Ok(live
            .into_iter()
            .filter(|r| record_state(r, now, ttl, &gone) == decision::RecordState::Live)
            .collect())
    }

    async fn holding(&self, holder: &str) -> Result<Option<LockRecord>, LockError> {
        let slots = self.read_with_retries().await?;
        let now = Timestamp::now();
        let ttl = self.inner.config.policy.ttl;
        Ok(slots
            .into_iter()
            .filter_map(|s| s.record)
            .find(|r| r.node_id == holder && !is_expired(r, now, ttl)))
    }

    async fn wait_for_change(&self) -> Result<(), LockError> {
        self.inner
            .tracker
            .wait(|state| self.start_watch(state))
            .await
    }

    async fn wait_for_slot(&self, holder: &str) -> Result<(), LockError> {
        if self.cached_holder_gone(holder).await {
            return Ok(());
        }
        self.inner
            .tracker
            .wait_for_slot(
                holder,
                |state| self.start_watch(state),
                |cached, now| self.slot_view(cached, holder, now),
            )
            .await
    }

    async fn rollout(&self) -> Result<RolloutState, LockError> {
        self.read_rollout().await
    }

    async fn record_failure(
        &self,
        failure: RolloutFailure,
        budget: u32,
    ) -> Result<RolloutState, LockError> {
        self.modify_rollout(|s| s.with_failure(failure.clone(), budget))
            .await
    }

    async fn clear_failure(&self, node: &str) -> Result<(), LockError> {
        self.modify_rollout(|s| s.without_failure(node))
            .await
            .map(drop)
    }

    async fn resume(&self) -> Result<(), LockError> {
        self.modify_rollout(|_| RolloutState::default())
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests;
