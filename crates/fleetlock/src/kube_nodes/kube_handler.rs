//! [`KubeNodeHandler`], the real [`NodeHandler`]: cordon, annotate and drain a node (in the
//! background, on one replica at a time) before its reboot is granted; stop the drain and
//! uncordon the node (if we cordoned it) when the claim ends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use drain::Drainer;
use k8s_openapi::api::core::v1::Node;
use kube::api::ObjectMeta;
use kube::{Api, Client};

use super::annotations::{
    ANNOTATION_DRAIN, ANNOTATION_HOLDER, ANNOTATION_SEED_STATUS, ANNOTATION_WAS_UNSCHEDULABLE,
};
use super::cache::NodeCache;
use super::drain_record::{DrainPhase, DrainRecord};
use super::drain_task::DrainTask;
use super::local_drains::{LocalDrains, LocalState};
use super::node_handler::{ClaimCheck, NodeError, NodeHandler, Preparation};
use super::node_writes::{AnnotationPatch, annotation, patch_if_unchanged, read, read_meta};
use super::progress::DrainProgress;
use crate::metrics::DrainHistogram;

/// How many compare-and-swap rounds one request may lose before answering "ask again".
const CAS_ATTEMPTS: usize = 8;
/// How often `finish` looks whether the replica draining the node has stopped.
const CANCEL_POLL: Duration = Duration::from_millis(50);
/// Default heartbeat of a drain's owner.
pub const DEFAULT_DRAIN_HEARTBEAT: Duration = Duration::from_secs(2);
/// Default age of a heartbeat after which another replica takes a drain over.
pub const DEFAULT_DRAIN_TAKEOVER: Duration = Duration::from_secs(8);

/// The real [`NodeHandler`]: crates/drain's `Drainer` over a [`NodeCache`], with the node's
/// marks and [`DrainRecord`] written by compare-and-swap.
pub struct KubeNodeHandler {
    cache: NodeCache,
    nodes: Api<Node>,
    drainer: Arc<dyn Drainer>,
    local: Arc<LocalDrains>,
    drain_metrics: Option<DrainHistogram>,
    progress: Option<DrainProgress>,
    seed_annotations: bool,
    replica: String,
    heartbeat: Duration,
    takeover_after: Duration,
}

impl std::fmt::Debug for KubeNodeHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeNodeHandler")
            .field("cache", &self.cache)
            .field("replica", &self.replica)
            .field("seed_annotations", &self.seed_annotations)
            .finish_non_exhaustive()
    }
}

impl KubeNodeHandler {
    /// A handler writing nodes through `client` and evicting with `drainer`. Its replica id
    /// (the drain owner it records) is `$HOSTNAME` (the pod name) plus a random suffix.
    pub fn new(client: Client, cache: NodeCache, drainer: Arc<dyn Drainer>) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "fleetlock-rs".to_owned());
        Self {
            cache,
            nodes: Api::all(client),
            drainer,
            local: Arc::default(),
            drain_metrics: None,
            progress: None,
            seed_annotations: false,
            replica: format!("{host}-{:08x}", fastrand::u32(..)),
            heartbeat: DEFAULT_DRAIN_HEARTBEAT,
            takeover_after: DEFAULT_DRAIN_TAKEOVER,
        }
    }

    /// Records each drain's duration in `histogram` (see [`crate::metrics::Metrics::drains`]).
    pub fn with_drain_metrics(mut self, histogram: DrainHistogram) -> Self {
        self.drain_metrics = Some(histogram);
        self
    }

    /// Reports drain progress and PodDisruptionBudget refusals from `progress`, which must
    /// be fed by the drainer's events ([`DrainProgress::sink`]).
    pub fn with_progress(mut self, progress: DrainProgress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Maintains the original reboot manager's [`ANNOTATION_SEED_STATUS`] annotation:
    /// `Rebooting` when a node is cordoned for its reboot, `Ready` at its steady-state.
    pub fn with_seed_annotations(mut self, on: bool) -> Self {
        self.seed_annotations = on;
        self
    }

    /// The drain owner's heartbeat (`every`, default [`DEFAULT_DRAIN_HEARTBEAT`]) and the age
    /// after which another replica takes a drain over (default [`DEFAULT_DRAIN_TAKEOVER`]).
    pub fn with_drain_heartbeat(mut self, every: Duration, takeover_after: Duration) -> Self {
        self.heartbeat = every;
        self.takeover_after = takeover_after.max(every);
        self
    }

    /// The id this replica records as a drain's owner.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// The node cache.
    pub fn cache(&self) -> &NodeCache {
        &self.cache
    }

    fn spawn_drain(&self, node: &str, holder: &str, claim: Arc<dyn ClaimCheck>) {
        let generation = self.local.next_generation();
        let task = DrainTask {
            nodes: self.nodes.clone(),
            drainer: Arc::clone(&self.drainer),
            progress: self.progress.clone(),
            metrics: self.drain_metrics.clone(),
            replica: self.replica.clone(),
            heartbeat: self.heartbeat,
            claim,
            node: node.to_owned(),
            holder: holder.to_owned(),
            local: Arc::downgrade(&self.local),
            generation,
        };
        self.local
            .started(node, generation, tokio::spawn(task.run()));
    }

    /// The answer while this replica drains `node`: progress, or the PDB refusal.
    fn running(&self, node: &str) -> Result<Preparation, NodeError> {
        let Some(progress) = self.progress.as_ref().and_then(|p| p.get(node)) else {
            return Ok(Preparation::Draining(format!(
                "node {node} is being drained; ask again later"
            )));
        };
        if let Some((pod, message)) = progress.blocked.iter().next() {
            return Err(NodeError::PdbBlocked {
                node: node.to_owned(),
                pod: pod.clone(),
                message: message.clone(),
                progress: progress.to_string(),
            });
        }
        Ok(Preparation::Draining(format!(
            "node {node} is being drained: {progress}; ask again later"
        )))
    }

    /// The answer while another replica drains `node`, from its record.
    fn from_record(node: &str, record: &DrainRecord) -> Result<Preparation, NodeError> {
        if let (DrainPhase::PdbBlocked, Some((pod, message))) = (record.phase, &record.blocked) {
            return Err(NodeError::PdbBlocked {
                node: node.to_owned(),
                pod: pod.clone(),
                message: message.clone(),
                progress: record.detail.clone(),
            });
        }
        let progress = if record.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", record.detail)
        };
        Ok(Preparation::Draining(format!(
            "node {node} is being drained by replica {}{progress}; ask again later",
            record.owner
        )))
    }

    /// The marks, cordon and drain record that claim `node`'s drain for `id` on this replica.
    fn claim_patch(&self, current: &Node, id: &str) -> AnnotationPatch {
        let mut patch = AnnotationPatch::new();
        if annotation(&current.metadata, ANNOTATION_WAS_UNSCHEDULABLE).is_none() {
            let was = current
                .spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false);
            patch.insert(
                ANNOTATION_WAS_UNSCHEDULABLE.to_owned(),
                Some(was.to_string()),
            );
        }
        patch.insert(ANNOTATION_HOLDER.to_owned(), Some(id.to_owned()));
        if self.seed_annotations
            && annotation(&current.metadata, ANNOTATION_SEED_STATUS) != Some("Rebooting")
        {
            patch.insert(
                ANNOTATION_SEED_STATUS.to_owned(),
                Some("Rebooting".to_owned()),
            );
        }
        let record = DrainRecord::new(&self.replica, DrainPhase::Running, "");
        patch.insert(ANNOTATION_DRAIN.to_owned(), Some(record.to_annotation()));
        patch
    }

    /// What `finish` writes to `current`: our marks and the record removed, uncordoned if we
    /// cordoned it. `None` when there is nothing to undo.
    fn release_patch(&self, current: &ObjectMeta) -> Option<(AnnotationPatch, Option<bool>)> {
        let mut patch = AnnotationPatch::new();
        let mut uncordon = None;
        if let Some(was) = annotation(current, ANNOTATION_WAS_UNSCHEDULABLE) {
            if was == "false" {
                uncordon = Some(false);
            }
            patch.insert(ANNOTATION_WAS_UNSCHEDULABLE.to_owned(), None);
            patch.insert(ANNOTATION_HOLDER.to_owned(), None);
        }
        if annotation(current, ANNOTATION_DRAIN).is_some() {
            patch.insert(ANNOTATION_DRAIN.to_owned(), None);
        }
        if self.seed_annotations && annotation(current, ANNOTATION_SEED_STATUS) != Some("Ready") {
            patch.insert(ANNOTATION_SEED_STATUS.to_owned(), Some("Ready".to_owned()));
        }
        (!patch.is_empty()).then_some((patch, uncordon))
    }
}

#[async_trait]
impl NodeHandler for KubeNodeHandler {
    fn lookup(&self, id: &str) -> Result<Option<String>, NodeError> {
        Ok(self.cache.lookup(id)?)
    }

    async fn prepare(
        &self,
        id: &str,
        node: &str,
        claim: Arc<dyn ClaimCheck>,
    ) -> Result<Preparation, NodeError> {
        let mut failed = None;
        match self.local.state(node) {
            Some(LocalState::Running) => return self.running(node),
            Some(LocalState::Done) => {
                // Another replica may have finished this cycle (steady-state) since: only trust
                // our memory while the node still carries the marks for this holder.
                if self.cache.marked_for(node, id) {
                    return Ok(Preparation::Ready);
                }
                self.local.cancel(node).await;
            }
            Some(LocalState::Failed(msg)) => {
                self.local.cancel(node).await;
                failed = Some(msg);
            }
            None => {}
        }
        if let Some(condition) = self.cache.not_ready(node) {
            return Err(NodeError::NotReady {
                node: node.to_owned(),
                condition,
            });
        }
        for _ in 0..CAS_ATTEMPTS {
            let Some(current) = read(&self.nodes, node).await? else {
                return Ok(Preparation::NotANode);
            };
            let record = DrainRecord::read(current.metadata.annotations.as_ref());
            let for_id = annotation(&current.metadata, ANNOTATION_WAS_UNSCHEDULABLE).is_some()
                && annotation(&current.metadata, ANNOTATION_HOLDER) == Some(id);
            let other = record
                .as_ref()
                .filter(|r| for_id && r.owner != self.replica);
            if let Some(r) = other {
                if r.phase == DrainPhase::Done {
                    return Ok(Preparation::Ready);
                }
                if r.is_draining(self.takeover_after) {
                    return Self::from_record(node, r);
                }
            }
            let patch = self.claim_patch(&current, id);
            if !patch_if_unchanged(&self.nodes, &current.metadata, &patch, Some(true)).await? {
                continue;
            }
            if let Some(p) = &self.progress {
                p.forget(node);
            }
            self.spawn_drain(node, id, claim);
            if let Some(msg) = failed {
                return Ok(Preparation::DrainFailed(format!(
                    "drain of node {node} failed, retrying: {msg}"
                )));
            }
            if let Some(r) = other.filter(|r| r.phase != DrainPhase::Failed) {
                tracing::warn!(%node, previous = %r.owner, "took over a drain whose owner stopped beating");
                return Ok(Preparation::Draining(format!(
                    "node {node}: replica {} stopped draining it; drain resumed; ask again later",
                    r.owner
                )));
            }
            return Ok(Preparation::Draining(format!(
                "node {node} cordoned, drain started; ask again later"
            )));
        }
        Ok(Preparation::Draining(format!(
            "node {node} is being changed by other writers; ask again later"
        )))
    }

    async fn finish(&self, node: &str) -> Result<(), NodeError> {
        // Our own drain first: no eviction of ours after this.
        self.local.cancel(node).await;
        let mut attempts = 0;
        loop {
            let Some(current) = read_meta(&self.nodes, node).await? else {
                break;
            };
            let record = DrainRecord::read(current.annotations.as_ref());
            if let Some(r) =
                record.filter(|r| r.owner != self.replica && r.is_draining(self.takeover_after))
            {
                // Another replica drains it: ask it to stop, and wait until it has (or has
                // stopped beating). The caller's request timeout bounds the wait.
                if r.phase != DrainPhase::CancelRequested {
                    let asked = DrainRecord {
                        phase: DrainPhase::CancelRequested,
                        ..r
                    };
                    let patch = BTreeMap::from([(
                        ANNOTATION_DRAIN.to_owned(),
                        Some(asked.to_annotation()),
                    )]);
                    patch_if_unchanged(&self.nodes, &current, &patch, None).await?;
                }
                tokio::time::sleep(CANCEL_POLL).await;
                continue;
            }
            let Some((patch, uncordon)) = self.release_patch(&current) else {
                break;
            };
            if patch_if_unchanged(&self.nodes, &current, &patch, uncordon).await? {
                break;
            }
            attempts += 1;
            if attempts >= CAS_ATTEMPTS {
                return Err(NodeError::Api(format!(
                    "node {node} kept changing while its marks were removed; retry"
                )));
            }
        }
        if let Some(p) = &self.progress {
            p.forget(node);
        }
        Ok(())
    }
}
