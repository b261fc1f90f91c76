//! One node's drain on the replica that owns it: the drain engine runs while a heartbeat
//! renews the node's [`DrainRecord`] with the progress, and stops the drain as soon as the
//! holder's claim has ended (its slot is gone, the node's marks name someone else, or another
//! replica asked for [`DrainPhase::CancelRequested`], which is acknowledged with
//! [`DrainPhase::Stopped`] once the drain is dropped).

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use drain::Drainer;
use k8s_openapi::api::core::v1::Node;
use kube::Api;

use super::annotations::{ANNOTATION_DRAIN, ANNOTATION_HOLDER};
use super::drain_record::{DrainPhase, DrainRecord};
use super::local_drains::{LocalDrains, LocalState};
use super::node_handler::ClaimCheck;
use super::node_writes::{annotation, patch_if_unchanged, read_meta};
use super::progress::DrainProgress;
use crate::metrics::{DrainHistogram, DrainLabels};

/// How many compare-and-swap rounds one record write may lose before it waits for the next beat.
const CAS_ATTEMPTS: usize = 5;

/// What the heartbeat found.
enum Beat {
    /// The claim stands: keep draining.
    Continue,
    /// The claim ended: stop.
    Stop,
    /// Another replica asked this one to stop: stop, then acknowledge.
    StopAndAcknowledge,
}

/// Everything one drain task needs.
pub(super) struct DrainTask {
    pub(super) nodes: Api<Node>,
    pub(super) drainer: Arc<dyn Drainer>,
    pub(super) progress: Option<DrainProgress>,
    pub(super) metrics: Option<DrainHistogram>,
    pub(super) replica: String,
    pub(super) heartbeat: Duration,
    pub(super) claim: Arc<dyn ClaimCheck>,
    pub(super) node: String,
    pub(super) holder: String,
    pub(super) local: Weak<LocalDrains>,
    pub(super) generation: u64,
}

impl DrainTask {
    /// Runs the drain under the heartbeat until it ends or the claim ends.
    pub(super) async fn run(self) {
        let started = Instant::now();
        let mut drain = Box::pin(self.drainer.drain(&self.node));
        // The first beat one period from now: the drain starts at once.
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + self.heartbeat, self.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let result = loop {
            tokio::select! {
                result = &mut drain => break Ok(result),
                _ = tick.tick() => match self.beat().await {
                    Beat::Continue => {}
                    Beat::Stop => break Err(false),
                    Beat::StopAndAcknowledge => break Err(true),
                },
            }
        };
        // Dropping the drain future aborts its evictions before anything is acknowledged.
        drop(drain);
        let state = match result {
            Ok(result) => Some(self.finished(result, started).await),
            Err(acknowledge) => {
                tracing::info!(node = %self.node, holder = %self.holder, "drain stopped: the claim ended");
                if acknowledge {
                    self.write(DrainPhase::CancelRequested, || {
                        DrainRecord::new(&self.replica, DrainPhase::Stopped, "")
                    })
                    .await;
                }
                None
            }
        };
        if let Some(local) = self.local.upgrade() {
            local.ended(&self.node, self.generation, state);
        }
    }

    /// Records the drain's outcome (metrics, log, record) as the local state.
    async fn finished(
        &self,
        result: Result<drain::DrainReport, drain::DrainError>,
        started: Instant,
    ) -> LocalState {
        if let Some(m) = &self.metrics {
            let result = if result.is_ok() { "ok" } else { "failed" };
            m.get_or_create(&DrainLabels { result })
                .observe(started.elapsed().as_secs_f64());
        }
        let (state, record) = match result {
            Ok(report) => {
                tracing::info!(node = %self.node, evicted = report.evicted.len(), elapsed = ?started.elapsed(), "node drained");
                (
                    LocalState::Done,
                    DrainRecord::new(&self.replica, DrainPhase::Done, ""),
                )
            }
            Err(e) => {
                tracing::warn!(node = %self.node, error = %e, "drain failed");
                (
                    LocalState::Failed(e.to_string()),
                    DrainRecord::new(&self.replica, DrainPhase::Failed, e.to_string()),
                )
            }
        };
        for phase in [DrainPhase::Running, DrainPhase::PdbBlocked] {
            if self.write(phase, || record.clone()).await {
                break;
            }
        }
        state
    }

    /// Replaces our record with `next()` if it is ours and in phase `from` (compare-and-swap).
    async fn write(&self, from: DrainPhase, next: impl Fn() -> DrainRecord) -> bool {
        for _ in 0..CAS_ATTEMPTS {
            let Ok(Some(node)) = read_meta(&self.nodes, &self.node).await else {
                return false;
            };
            let current = DrainRecord::read(node.annotations.as_ref());
            if !current.is_some_and(|r| r.owner == self.replica && r.phase == from) {
                return false;
            }
            let patch =
                BTreeMap::from([(ANNOTATION_DRAIN.to_owned(), Some(next().to_annotation()))]);
            match patch_if_unchanged(&self.nodes, &node, &patch, None).await {
                Ok(true) => return true,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(node = %self.node, error = %e, "writing the drain record");
                    return false;
                }
            }
        }
        false
    }

    /// The record as the progress stands now.
    fn progress_record(&self) -> DrainRecord {
        let progress = self.progress.as_ref().and_then(|p| p.get(&self.node));
        let mut record = DrainRecord::new(
            &self.replica,
            DrainPhase::Running,
            progress
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        );
        if let Some((pod, message)) = progress.and_then(|p| p.blocked.into_iter().next()) {
            record.phase = DrainPhase::PdbBlocked;
            record.blocked = Some((pod, message));
        }
        record
    }

    /// Checks the claim and renews the heartbeat. A failing API call keeps the drain going (the
    /// record goes stale, and another replica takes over, only if this one stops beating).
    async fn beat(&self) -> Beat {
        if matches!(self.claim.holds().await, Ok(false)) {
            return Beat::Stop;
        }
        for _ in 0..CAS_ATTEMPTS {
            let node = match read_meta(&self.nodes, &self.node).await {
                Ok(Some(node)) => node,
                Ok(None) => return Beat::Stop,
                Err(_) => return Beat::Continue,
            };
            let record = DrainRecord::read(node.annotations.as_ref());
            let Some(record) = record.filter(|r| r.owner == self.replica) else {
                return Beat::Stop;
            };
            if annotation(&node, ANNOTATION_HOLDER) != Some(self.holder.as_str()) {
                return Beat::Stop;
            }
            if record.phase == DrainPhase::CancelRequested {
                return Beat::StopAndAcknowledge;
            }
            let patch = BTreeMap::from([(
                ANNOTATION_DRAIN.to_owned(),
                Some(self.progress_record().to_annotation()),
            )]);
            match patch_if_unchanged(&self.nodes, &node, &patch, None).await {
                Ok(true) | Err(_) => return Beat::Continue,
                Ok(false) => {}
            }
        }
        Beat::Continue
    }
}
