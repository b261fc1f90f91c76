//! The default backend: an annotation on kured's `DaemonSet`, in Go kured's exact format.
//!
//! Every change is a read-decide-write: GET the `DaemonSet`, decide with [`crate::decision`],
//! then write carrying the read `metadata.resourceVersion`, which the API server treats as a
//! precondition (409 if anyone wrote in between). A 409 or a transient error leads to a fresh
//! read and a fresh decision after a jittered backoff, at most [`LockConfig::retry`](crate::LockConfig::retry)`.max_attempts`
//! rounds; nothing is ever blindly overwritten.
//!
//! The write is a PUT of the object as read ([`WriteMethod::Update`], the default: Go kured's
//! RBAC grants `get` and `update` on the `DaemonSet`, so kured-rs runs under the same Role). The
//! object is read and written untyped, so fields this client does not know survive. A JSON
//! merge patch carrying the resourceVersion ([`WriteMethod::MergePatch`]) sends only the
//! annotation but needs the `patch` verb. (A JSON-patch `test` on the resourceVersion would fail
//! with a generic 422 instead of a 409, so it is not offered.) [`RebootLock::wait_for_change`]
//! needs `list` and `watch` on the `DaemonSet` (a field selector on its name).
//!
//! The rollout state ([`crate::rollout`]) is a second annotation on the same object. The
//! lock's writes and the rollout writes each change only their own annotation (PUT of the
//! object as read, or a merge patch of one key), and Go kured's update keeps annotations it does
//! not know, so neither is ever lost. `acquire` reads the halt from the same object version its
//! grant is written against: a halt written before the grant makes the grant fail with a 409,
//! and the next round sees the halt.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::DaemonSet;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client};
use serde_json::json;
use tokio::time::Instant;

use crate::config::{Backend, LockConfig, WriteMethod};
use crate::decision::{
    self, AcquireDecision, NodeDirectory, ReleaseDecision, gone_nodes, live_holders,
};
use crate::error::{LockError, is_conflict, kube_error_is_retryable};
use crate::format::{LockMetadata, LockRecord, LockValue};
use crate::nodes::{CachedNodeDirectory, KubeNodeDirectory};
use crate::retry::Attempts;
use crate::rollout::{RolloutFailure, RolloutState};
use crate::watch::{Cached, ChangeTracker, Observed, SlotView, spawn_watcher};
use crate::{AcquireOutcome, RebootLock};

mod rollout;

/// How long an acquire that lost a write race waits for the watch to bring the winner's
/// write before it reads the object instead.
const CACHE_CATCH_UP: Duration = Duration::from_millis(500);

/// The DaemonSet-annotation lock. Cheap to clone; clones share the watch.
#[derive(Clone)]
pub struct DaemonSetLock {
    inner: Arc<Inner>,
}

struct Inner {
    /// Untyped, for the watch, reads and writes that keep every field.
    raw: Api<DynamicObject>,
    nodes: Arc<dyn NodeDirectory>,
    config: LockConfig,
    /// The watch and its cache of the `DaemonSet`.
    tracker: ChangeTracker<DynamicObject>,
    /// The last annotation text parsed and its value: waiters look at the cached object on
    /// every `DaemonSet` event (status changes too) and every period, mostly unchanged text.
    parsed: Mutex<Option<(String, LockValue)>>,
}

impl std::fmt::Debug for DaemonSetLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaemonSetLock")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl DaemonSetLock {
    /// A lock on the `DaemonSet` `config.namespace/config.name`; stale holders are detected with
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
        let config = config.for_backend(Backend::Annotation)?;
        Ok(Self {
            inner: Arc::new(Inner {
                raw: Api::namespaced_with(
                    client,
                    &config.namespace,
                    &ApiResource::erase::<DaemonSet>(&()),
                ),
                nodes: Arc::new(CachedNodeDirectory::new(nodes, config.node_cache)),
                tracker: ChangeTracker::new([config.name.clone()]),
                parsed: Mutex::new(None),
                config,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LockConfig {
        &self.inner.config
    }

    /// The raw annotation value now (`None` if absent), as stored.
    pub async fn raw_value(&self) -> Result<Option<String>, LockError> {
        let ds = self.get().await?;
        Ok(ds
            .metadata
            .annotations
            .and_then(|mut a| a.remove(&self.inner.config.annotation)))
    }

    async fn get(&self) -> Result<DynamicObject, LockError> {
        let c = &self.inner.config;
        let started = Instant::now();
        let ds = self.inner.raw.get_opt(&c.name).await;
        self.inner.tracker.request_took(started.elapsed());
        let ds = ds.map_err(LockError::Api)?;
        let Some(ds) = ds else {
            self.inner.tracker.observe(&c.name, Observed::Absent);
            return Err(LockError::NotFound {
                kind: "DaemonSet",
                namespace: c.namespace.clone(),
                name: c.name.clone(),
            });
        };
        if let Some(rv) = &ds.metadata.resource_version {
            self.inner
                .tracker
                .observe(&c.name, Observed::Present(rv.clone()));
        }
        Ok(ds)
    }

    /// Reads the parsed value and the object it was read from.
    async fn read(&self) -> Result<(Option<LockValue>, DynamicObject), LockError> {
        let ds = self.get().await?;
        Ok((self.parse(&ds)?, ds))
    }

    /// The watch's copy of the object, if the watch is up to date (see
    /// [`ChangeTracker::fresh`]), with its parsed value.
    fn read_cached(&self) -> Option<Result<(Option<LockValue>, DynamicObject), LockError>> {
        let cached = self.inner.tracker.fresh()?;
        let ds = cached.get(&self.inner.config.name)?;
        let ds = DynamicObject::clone(ds);
        Some(self.parse(&ds).map(|value| (value, ds)))
    }

    /// The lock value in `ds`.
    fn parse(&self, ds: &DynamicObject) -> Result<Option<LockValue>, LockError> {
        let c = &self.inner.config;
        let value = match ds
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(&c.annotation))
        {
            None => None,
            Some(text) => {
                let mut parsed = self
                    .inner
                    .parsed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if let Some((last, value)) = parsed.as_ref()
                    && last == text
                {
                    return Ok(Some(value.clone()));
                }
                let value = LockValue::parse(text).map_err(|source| LockError::Format {
                    annotation: c.annotation.clone(),
                    object: format!("{}/{}", c.namespace, c.name),
                    source,
                })?;
                *parsed = Some((text.clone(), value.clone()));
                Some(value)
            }
        };
        Ok(value)
    }

    /// Whether `cached` lets `holder` take a slot (TTL rule only: node lookups would cost
    /// requests; `wait_for_slot` looks for deleted holders on entry).
    fn slot_view(&self, cached: &Cached<DynamicObject>, holder: &str, now: Timestamp) -> SlotView {
        let policy = self.inner.config.policy;
        let Some(ds) = cached.get(&self.inner.config.name) else {
            // Let the acquire report the missing object.
            return SlotView::Free;
        };
        let Ok(value) = self.parse(ds) else {
            // Let the acquire report the format error.
            return SlotView::Free;
        };
        if self.rollout_of(ds).is_halted()
            && decision::holding(value.as_ref(), holder, now, policy.ttl).is_none()
        {
            // No slot while halted; a resume changes the object and wakes the wait.
            return SlotView::Full(None);
        }
        match self.blocking(value.as_ref(), holder, now) {
            Some(_) => SlotView::Full(decision::next_expiry(value.as_ref(), now, policy.ttl)),
            None => SlotView::Free,
        }
    }

    /// The records keeping `holder` out of `value` by the TTL rule alone (no node lookups);
    /// `None` when it could take a slot or already holds one.
    fn blocking(
        &self,
        value: Option<&LockValue>,
        holder: &str,
        now: Timestamp,
    ) -> Option<Vec<LockRecord>> {
        let none = BTreeSet::new();
        let policy = self.inner.config.policy;
        match decision::decide_acquire(value, holder, LockMetadata::default(), policy, now, &none) {
            AcquireDecision::Blocked(holders) => Some(holders),
            _ => None,
        }
    }

    /// The holders among `holders` whose node is gone (see [`gone_nodes`]).
    async fn gone(&self, holders: &[LockRecord], now: Timestamp) -> BTreeSet<String> {
        let presume_alive = self.inner.config.node_cache;
        gone_nodes(self.inner.nodes.as_ref(), holders, now, presume_alive).await
    }

    /// Whether the watch's copy shows the lock full for `holder` with a holder whose node is
    /// gone (the slot is then free for `acquire`). No request while the holders are younger
    /// than [`LockConfig::node_cache`] or known to exist; `false` without a current
    /// copy.
    async fn cached_holder_gone(&self, holder: &str) -> bool {
        let Some(Ok((value, ds))) = self.read_cached() else {
            return false;
        };
        if self.rollout_of(&ds).is_halted() {
            return false;
        }
        let now = Timestamp::now();
        match self.blocking(value.as_ref(), holder, now) {
            Some(holders) => !self.gone(&holders, now).await.is_empty(),
            None => false,
        }
    }

    /// Writes `value` (`None` removes the annotation) if the object is still as `read`.
    async fn write(&self, read: DynamicObject, value: Option<&LockValue>) -> Result<(), LockError> {
        let c = &self.inner.config;
        let started = Instant::now();
        let written = match c.write_method {
            WriteMethod::Update => {
                let mut ds = read;
                let annotations = ds.metadata.annotations.get_or_insert_with(Default::default);
                match value {
                    Some(v) => {
                        annotations.insert(c.annotation.clone(), v.to_json());
                    }
                    None => {
                        annotations.remove(&c.annotation);
                    }
                }
                self.inner
                    .raw
                    .replace(&c.name, &PostParams::default(), &ds)
                    .await
            }
            WriteMethod::MergePatch => {
                let patch = json!({
                    "metadata": {
                        "resourceVersion": read.metadata.resource_version,
                        "annotations": { c.annotation.as_str(): value.map(LockValue::to_json) },
                    }
                });
                self.inner
                    .raw
                    .patch(&c.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
            }
        };
        self.inner.tracker.request_took(started.elapsed());
        let written = written.map_err(LockError::Api)?;
        if let Some(rv) = written.metadata.resource_version {
            self.inner.tracker.observe(&c.name, Observed::Present(rv));
        }
        Ok(())
    }

    async fn try_acquire(
        &self,
        holder: &str,
        metadata: LockMetadata,
    ) -> Result<AcquireOutcome, LockError> {
        let c = &self.inner.config;
        let mut attempts = Attempts::new(c.retry);
        // Decide from the watch's copy while it is current: no GET. A write based on it that
        // gets a 409 lost to someone else; the watch brings their write, and we decide again.
        let mut use_cache = true;
        let mut conflicted = false;
        while attempts.next() {
            let cached = if use_cache { self.read_cached() } else { None };
            let from_cache = cached.is_some();
            let read = match cached {
                Some(read) => read,
                None => self.read().await,
            };
            let (current, read) = match read {
                Ok(read) => read,
                Err(e) => {
                    attempts.after_failure(e).await?;
                    continue;
                }
            };
            let read_rv =
                Observed::Present(read.metadata.resource_version.clone().unwrap_or_default());
            let now = Timestamp::now();
            let none = BTreeSet::new();
            let mut decision =
                decision::decide_acquire(current.as_ref(), holder, metadata, c.policy, now, &none);
            // The halt as of the same version the grant would be written against.
            if !matches!(decision, AcquireDecision::AlreadyHeld(_))
                && let Some(halt) = self.rollout_of(&read).halt
            {
                return Ok(AcquireOutcome::Halted(halt));
            }
            if let AcquireDecision::Blocked(holders) = &decision
                && conflicted
                && from_cache
            {
                // Another waiter took the slot between our look and our write: a collision
                // (a 409 because of some other change is not one). Its holders were just
                // written by live agents, no need to look their nodes up.
                self.inner.tracker.collided();
                return Ok(AcquireOutcome::HeldBy(holders.clone()));
            }
            if let AcquireDecision::Blocked(holders) = &decision {
                let gone = self.gone(holders, now).await;
                if !gone.is_empty() {
                    decision = decision::decide_acquire(
                        current.as_ref(),
                        holder,
                        metadata,
                        c.policy,
                        now,
                        &gone,
                    );
                }
            }
            match decision {
                AcquireDecision::AlreadyHeld(record) => {
                    return Ok(AcquireOutcome::Acquired(record));
                }
                AcquireDecision::Blocked(holders) => return Ok(AcquireOutcome::HeldBy(holders)),
                AcquireDecision::Write {
                    value,
                    record,
                    displaced,
                } => match self.write(read, Some(&value)).await {
                    Ok(()) => {
                        for d in &displaced {
                            tracing::warn!(
                                old_holder = %d.record.node_id,
                                reason = ?d.reason,
                                new_holder = holder,
                                "took over a reboot lock slot from a holder that no longer counts"
                            );
                        }
                        tracing::info!(holder, "reboot lock acquired");
                        return Ok(AcquireOutcome::Acquired(record));
                    }
                    Err(LockError::Api(e)) if from_cache && is_conflict(&e) => {
                        conflicted = true;
                        tracing::debug!(holder, "lock write lost a race; deciding again");
                        if !self
                            .inner
                            .tracker
                            .wait_past(&c.name, &read_rv, CACHE_CATCH_UP)
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

    async fn try_release(&self, holder: &str) -> Result<(), LockError> {
        let c = &self.inner.config;
        let mut attempts = Attempts::new(c.retry);
        // A write that failed without a clear "not applied" (5xx, transport) may have landed.
        let mut maybe_released = false;
        while attempts.next() {
            let (current, read) = match self.read().await {
                Ok(read) => read,
                Err(e) => {
                    attempts.after_failure(e).await?;
                    continue;
                }
            };
            match decision::decide_release(current.as_ref(), holder) {
                ReleaseDecision::NotHeld(_) if maybe_released => return Ok(()),
                ReleaseDecision::NotHeld(records) => {
                    return Err(LockError::NotHeld {
                        holder: holder.to_string(),
                        holders: records.into_iter().map(|r| r.node_id).collect(),
                    });
                }
                ReleaseDecision::Write(value) => match self.write(read, value.as_ref()).await {
                    Ok(()) => {
                        tracing::info!(holder, "reboot lock released");
                        return Ok(());
                    }
                    Err(e) => {
                        if let LockError::Api(api) = &e {
                            maybe_released |= !is_conflict(api) && kube_error_is_retryable(api);
                        }
                        attempts.after_failure(e).await?;
                    }
                },
            }
        }
        Err(LockError::Contention {
            attempts: attempts.made - 1,
        })
    }

    fn start_watch(
        &self,
        state: Arc<tokio::sync::watch::Sender<crate::watch::WatchState<DynamicObject>>>,
    ) -> tokio::task::JoinHandle<()> {
        let c = &self.inner.config;
        let config = watcher::Config::default().fields(&format!("metadata.name={}", c.name));
        let names = BTreeSet::from([c.name.clone()]);
        spawn_watcher(self.inner.raw.clone(), config, names, state)
    }

    async fn read_with_retries(&self) -> Result<Option<LockValue>, LockError> {
        let mut attempts = Attempts::new(self.inner.config.retry);
        loop {
            attempts.next();
            match self.read().await {
                Ok((value, _)) => return Ok(value),
                Err(e) => attempts.after_failure(e).await?,
            }
        }
    }
}

#[async_trait]
impl RebootLock for DaemonSetLock {
    async fn acquire(
        &self,
        holder: &str,
        metadata: LockMetadata,
    ) -> Result<AcquireOutcome, LockError> {
        self.try_acquire(holder, metadata).await
    }

    async fn release(&self, holder: &str) -> Result<(), LockError> {
        self.try_release(holder).await
    }

    async fn holders(&self) -> Result<Vec<LockRecord>, LockError> {
        let value = self.read_with_retries().await?;
        let now = Timestamp::now();
        let ttl = self.inner.config.policy.ttl;
        let live = live_holders(value.as_ref(), now, ttl, &BTreeSet::new());
        let gone = self.gone(&live, now).await;
        Ok(live_holders(value.as_ref(), now, ttl, &gone))
    }

    async fn holding(&self, holder: &str) -> Result<Option<LockRecord>, LockError> {
        let value = self.read_with_retries().await?;
        Ok(decision::holding(
            value.as_ref(),
            holder,
            Timestamp::now(),
            self.inner.config.policy.ttl,
        ))
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
