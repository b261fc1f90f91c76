//! Kubernetes mode: map FleetLock ids to Nodes from a watch-fed cache, cordon and drain a node
//! before its reboot is granted, uncordon it after (only if we cordoned it).
//!
//! # What a Zincati caller sees
//!
//! `pre-reboot` never waits for a drain: the drain runs in a background task and every answer
//! comes from memory within milliseconds, so Zincati simply asks again (it retries every few
//! minutes, and any non-2xx means "not yet"). The answers while a node is being prepared:
//!
//! | situation | HTTP | `kind` | `value` says |
//! | --- | --- | --- | --- |
//! | cordoned, pods being evicted | 409 | `drain_in_progress` | pods evicted so far / left, the pods still waited for |
//! | a PodDisruptionBudget refuses an eviction | 409 | see [`PDB_BLOCKED_KIND`] | the budget's message (it names the PDB) and the pod |
//! | the node's `Ready` condition is not `True` | 409 | see [`NODE_NOT_READY_KIND`] | the condition's status, reason and message |
//! | the drain failed (e.g. an eviction forbidden by RBAC) | 409 | `failed_drain` | the error; the drain is retried on the next request |
//! | the id matches several nodes | 409 | `failed_node_ambiguous` | the nodes and the rule that matched |
//! | a Kubernetes call failed (e.g. 403) | 503 | `failed_kubernetes_unavailable` | the API error, which names the verb and resource |
//! | drained | 200 | | |
//!
//! **Node not ready.** A node whose kubelet is down cannot be drained (its pods would be
//! evicted but never terminate), so fleetlock-rs does not cordon or drain it and does not let it
//! reboot through the node path: the answer stays "not ready" until the kubelet reports Ready
//! again. The id keeps the slot it took: a NotReady node is capacity the cluster has already
//! lost, so letting another node of the group reboot on top of it would make the outage worse.
//! The slot is freed by the node's steady-state, by `POST /v1/admin/release`, or by deleting the
//! Node object (the id is then a plain fleet machine and is granted by the semaphore alone).
//! A node that was already drained and granted is not affected: it is rebooting, and is
//! expected to go NotReady.
//!
//! What we did to a node is recorded in annotations on the node itself
//! ([`ANNOTATION_WAS_UNSCHEDULABLE`], [`ANNOTATION_HOLDER`]), so a restarted or another replica
//! knows whether to uncordon. With [`KubeNodeHandler::with_seed_annotations`], the original
//! reboot manager's `rebootmanager/status` annotation is maintained too: `Rebooting` when the
//! node is cordoned for its reboot, `Ready` at steady-state. Every write of a node is a
//! compare-and-swap on its resourceVersion.
//!
//! # One drain per node, never past its claim
//!
//! Replicas share the node's [`DrainRecord`] ([`ANNOTATION_DRAIN`]): the replica that cordons
//! the node owns its drain and renews a heartbeat with the progress; another replica asked
//! about the node answers from the record (progress, PodDisruptionBudget refusal, done) and
//! starts no drain of its own. When the owner stops beating (killed), the next replica asked
//! takes the drain over. When the claim ends — steady-state, admin release, or the holder's
//! slot gone from the store — the drain is stopped before the answer: on this replica by
//! aborting its task, on another by asking it to stop and waiting until it has (bounded by
//! the request timeout). No eviction for the node is sent after that.

//! # The node cache
//!
//! One LIST and then one WATCH of all Nodes feed a [`NodeIndex`](crate::node_id::NodeIndex) that is updated node by node:
//! a watch event costs a hash-map update (and two HMACs only when the node's machine id or
//! system UUID changed), a lookup costs at most four hash-map probes under a read lock. Nothing
//! about the id mapping calls the API server on the request path.

//!
//! # Where things are
//!
//! `node_handler` (the [`NodeHandler`] seam, [`ClaimCheck`] and the answers), `kube_handler`
//! ([`KubeNodeHandler`]: prepare and finish), `drain_task` (one drain under its heartbeat),
//! `local_drains` (this replica's drain tasks), `drain_record` ([`DrainRecord`]),
//! `node_writes` (compare-and-swap node patches), `cache` ([`NodeCache`]), `progress`
//! ([`DrainProgress`]) and `annotations` (the node marks).

mod annotations;
mod cache;
mod drain_record;
mod drain_task;
mod kube_handler;
mod local_drains;
mod node_handler;
mod node_writes;
mod progress;

pub use self::annotations::{
    ANNOTATION_DRAIN, ANNOTATION_HOLDER, ANNOTATION_SEED_STATUS, ANNOTATION_WAS_UNSCHEDULABLE,
};
pub use self::cache::NodeCache;
pub use self::drain_record::{DrainPhase, DrainRecord};
pub use self::kube_handler::{DEFAULT_DRAIN_HEARTBEAT, DEFAULT_DRAIN_TAKEOVER, KubeNodeHandler};
pub use self::node_handler::{
    ClaimCheck, NODE_NOT_READY_KIND, NodeError, NodeHandler, PDB_BLOCKED_KIND, Preparation,
    api_message,
};
pub use self::progress::{DrainProgress, NodeProgress};
