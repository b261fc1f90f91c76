//! The eviction of one pod, in its own task: POST the Eviction until it is accepted, the pod
//! is gone, or it is refused for good; a PDB refusal waits for the budget (see `pdb`),
//! other 429s, 5xx and transport errors back off; the opt-in escalation deletes a pod the
//! budget keeps blocking if it matches the escalation selector.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

use super::abort_on_drop::AbortOnDrop;
use super::escalation::{Matched, PdbEscalation};
use super::events::{DrainEvent, EventSink, emit};
use super::options::DrainOptions;
use super::pdb::{PdbWaiters, watch_pdbs};
use super::stuck::BlockedPod;
use crate::api::{EvictResponse, PodApi};
use crate::error::{EvictionFailure, humanize};
use crate::types::PodRef;
use backoff::Backoff;

/// A pod to evict.
pub(super) struct Target {
    pub(super) pod: PodRef,
    pub(super) deletion: Option<Timestamp>,
    pub(super) labels: BTreeMap<String, String>,
}

/// Shared state of the eviction tasks.
pub(super) struct TaskCtx<A: PodApi + ?Sized> {
    api: Arc<A>,
    node: String,
    permits: Semaphore,
    grace: Option<i64>,
    retry: Backoff,
    escalation: Option<PdbEscalation>,
    /// Which pods the escalation selector matches (looked up once, when first needed).
    matched: Matched,
    events: Option<EventSink>,
    /// The last refusal message per uid (for the timeout error).
    last_refusal: Mutex<HashMap<String, String>>,
    waiters: Arc<PdbWaiters>,
    /// The PDB watch, started by the first refusal (aborted when the drain ends).
    pdb_watch: Mutex<Option<AbortOnDrop>>,
}

impl<A: PodApi + ?Sized> TaskCtx<A> {
    /// The shared state of the eviction tasks of one drain of `node`.
    pub(super) fn new(
        api: Arc<A>,
        node: &str,
        options: &DrainOptions,
        events: Option<EventSink>,
    ) -> Self {
        Self {
            api,
            node: node.to_string(),
            permits: Semaphore::new(options.in_flight()),
            grace: options.grace(),
            retry: options.retry,
            escalation: options.pdb_escalation.clone(),
            matched: Matched::default(),
            events,
            last_refusal: Mutex::new(HashMap::new()),
            waiters: Arc::new(PdbWaiters::default()),
            pdb_watch: Mutex::new(None),
        }
    }

    /// The last refusal message per uid (for the timeout error).
    pub(super) fn last_refusals(&self) -> MutexGuard<'_, HashMap<String, String>> {
        self.last_refusal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The pods a PodDisruptionBudget is blocking now, with the budgets covering them.
    pub(super) fn blocked(&self) -> Vec<BlockedPod> {
        self.waiters.blocked()
    }

    fn emit(&self, e: &DrainEvent) {
        emit(self.events.as_ref(), e);
    }

    /// Whether the escalation may delete `pod` now that it is due (it matches the selector).
    /// A failed lookup deletes nothing (tried again by the next pod that is due).
    async fn escalation_matches(&self, escalation: &PdbEscalation, pod: &PodRef) -> bool {
        match self
            .matched
            .contains(&*self.api, &self.node, escalation, pod)
            .await
        {
            Ok(true) => true,
            Ok(false) => {
                tracing::debug!(pod = %pod, "does not match the drain escalation selector; not deleting it");
                false
            }
            Err(e) => {
                tracing::warn!(
                    pod = %pod,
                    "cannot list the pods matching the drain escalation selector {:?}; deleting \
                     nothing: {e}",
                    escalation.selector()
                );
                false
            }
        }
    }

    /// Registers `pod` as blocked by a PDB (starting the PDB watch on the first one); returns
    /// what wakes it.
    fn register_blocked(&self, pod: &PodRef, labels: &BTreeMap<String, String>) -> Arc<Notify>
    where
        A: 'static,
    {
        let wake = self.waiters.register(pod, labels);
        let mut watch = self
            .pdb_watch
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if watch.is_none() {
            *watch = Some(AbortOnDrop(tokio::spawn(watch_pdbs(
                self.api.clone(),
                self.waiters.clone(),
                self.retry,
            ))));
        }
        wake
    }

    fn note(&self, pod: &PodRef, message: &str) {
        self.last_refusals()
            .insert(pod.uid.clone(), message.to_string());
    }

    async fn call<F, Fut>(&self, f: F) -> EvictResponse
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = EvictResponse>,
    {
        // The semaphore is never closed, so acquire cannot fail; fall back to running unbounded
        // rather than panicking if that ever changes.
        let _permit = self.permits.acquire().await.ok();
        f().await
    }
}

#[derive(Debug)]
pub(super) enum Outcome {
    Evicted,
    Deleted,
    Gone,
    Failed(EvictionFailure),
}

/// Evicts one pod until it is accepted, gone, or refused for good.
pub(super) async fn evict_pod<A: PodApi + ?Sized + 'static>(
    ctx: Arc<TaskCtx<A>>,
    pod: PodRef,
    labels: BTreeMap<String, String>,
) -> (PodRef, Outcome) {
    let out = evict_until_settled(&ctx, pod, &labels).await;
    ctx.waiters.unregister(&out.0.uid);
    out
}

async fn evict_until_settled<A: PodApi + ?Sized + 'static>(
    ctx: &Arc<TaskCtx<A>>,
    pod: PodRef,
    labels: &BTreeMap<String, String>,
) -> (PodRef, Outcome) {
    let mut attempt = 0u32;
    let mut blocked_since: Option<Instant> = None;
    loop {
        let response = ctx.call(|| ctx.api.evict(&pod, ctx.grace)).await;
        attempt += 1;
        let mut wake = None;
        let wait = match response {
            EvictResponse::Evicted => {
                ctx.emit(&DrainEvent::Evicted(pod.clone()));
                return (pod, Outcome::Evicted);
            }
            EvictResponse::NotFound | EvictResponse::UidChanged => return (pod, Outcome::Gone),
            EvictResponse::TooManyRequests {
                pdb: true,
                message,
                retry_after,
            } => {
                let since = *blocked_since.get_or_insert_with(Instant::now);
                ctx.note(&pod, &message);
                if let Some(escalation) = &ctx.escalation {
                    let blocked_for = since.elapsed();
                    if blocked_for >= escalation.after()
                        && ctx.escalation_matches(escalation, &pod).await
                    {
                        match escalate_delete(ctx, &pod, blocked_for, &message).await {
                            Some(outcome) => return (pod, outcome),
                            None => continue,
                        }
                    }
                }
                wake = Some(ctx.register_blocked(&pod, labels));
                // With the PDB watch up, a change of the budget wakes us: the timer is only a
                // safety net, at the longest backoff.
                let backoff_step = if ctx.waiters.is_live() {
                    u32::MAX
                } else {
                    attempt
                };
                let mut wait = ctx.retry.delay(backoff_step, retry_after);
                if let Some(escalation) = &ctx.escalation {
                    // Wake up in time for the escalation rather than a full backoff later.
                    let left = escalation.after().saturating_sub(since.elapsed());
                    if !left.is_zero() {
                        wait = wait.min(left.max(Duration::from_millis(10)));
                    }
                }
                tracing::info!(pod = %pod, retry_in = ?wait, "eviction blocked by a PodDisruptionBudget: {message}");
                ctx.emit(&DrainEvent::BlockedByPdb {
                    pod: pod.clone(),
                    message,
                    retry_in: wait,
                });
                wait
            }
            EvictResponse::TooManyRequests {
                pdb: false,
                message,
                retry_after,
            } => retrying(
                ctx,
                &pod,
                Some(429),
                message,
                ctx.retry.delay(attempt, retry_after),
            ),
            EvictResponse::Retryable { code, message } => {
                retrying(ctx, &pod, code, message, ctx.retry.delay(attempt, None))
            }
            EvictResponse::Rejected { code, message } => {
                let failure = EvictionFailure {
                    pod: pod.clone(),
                    code: Some(code).filter(|c| *c != 0),
                    message,
                };
                return (pod, Outcome::Failed(failure));
            }
        };
        match wake {
            Some(wake) => {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = wake.notified() => {
                        tracing::debug!(pod = %pod, "a PodDisruptionBudget allows disruptions again");
                    }
                }
            }
            None => tokio::time::sleep(wait).await,
        }
    }
}

fn retrying<A: PodApi + ?Sized>(
    ctx: &TaskCtx<A>,
    pod: &PodRef,
    code: Option<u16>,
    message: String,
    wait: Duration,
) -> Duration {
    ctx.note(pod, &message);
    tracing::debug!(pod = %pod, ?code, retry_in = ?wait, "eviction failed, retrying: {message}");
    ctx.emit(&DrainEvent::Retrying {
        pod: pod.clone(),
        code,
        message,
        retry_in: wait,
    });
    wait
}

/// The opt-in PDB bypass of a pod matching the escalation selector: `Some(outcome)` when
/// settled, `None` to keep trying.
async fn escalate_delete<A: PodApi + ?Sized>(
    ctx: &TaskCtx<A>,
    pod: &PodRef,
    blocked_for: Duration,
    message: &str,
) -> Option<Outcome> {
    tracing::warn!(
        pod = %pod,
        blocked_for = %humanize(blocked_for),
        "DELETING POD DESPITE ITS PODDISRUPTIONBUDGET: the budget has blocked its eviction for \
         {} ({message}) and the pod matches the drain escalation selector",
        humanize(blocked_for)
    );
    match ctx.call(|| ctx.api.delete(pod, ctx.grace)).await {
        EvictResponse::Evicted => {
            ctx.emit(&DrainEvent::DeletedDespitePdb {
                pod: pod.clone(),
                blocked_for,
            });
            Some(Outcome::Deleted)
        }
        EvictResponse::NotFound | EvictResponse::UidChanged => Some(Outcome::Gone),
        EvictResponse::Rejected { code, message } => Some(Outcome::Failed(EvictionFailure {
            pod: pod.clone(),
            code: Some(code).filter(|c| *c != 0),
            message: format!("escalation delete: {message}"),
        })),
        EvictResponse::TooManyRequests { message, .. }
        | EvictResponse::Retryable { message, .. } => {
            tracing::warn!(pod = %pod, "escalation delete failed, retrying: {message}");
            tokio::time::sleep(ctx.retry.delay(1, None)).await;
            None
        }
    }
}
