//! Kubernetes Events about a Node, for kured-rs and fleetlock-rs.
//!
//! Every phase of a node's rollout (reboot required, blocked, lock taken, draining, drain
//! blocked by a PodDisruptionBudget, rebooting, back, health gate, halt, uncordoned, lock
//! released) is a [`NodeEvent`], built by one constructor per phase so reasons and actions
//! are the same in both programs (table in [`NodeEvent`]'s module docs). A [`NodeEvents`]
//! publishes them:
//!
//! - [`KubeNodeEvents`]: events.k8s.io/v1 Events regarding the Node, in namespace `default`,
//!   through kube's own [`kube::runtime::events::Recorder`] (repeats become a series), so
//!   `kubectl describe node` lists them;
//! - [`NoEvents`]: publishes nothing;
//! - [`RecordedEvents`]: keeps them in memory, for tests.
//!
//! Publishing is best effort: a failure is logged, never returned, so a missing RBAC rule or
//! an unavailable API server never stops a reboot.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use events::{EventType, NodeEvent, NodeEvents, RecordedEvents};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let recorded = Arc::new(RecordedEvents::new());
//! let sink: Arc<dyn NodeEvents> = recorded.clone();
//! sink.publish("node-1", NodeEvent::lock_taken()).await;
//! sink.publish(
//!     "node-1",
//!     NodeEvent::drain_blocked(&["shop/web-pdb".into()], &["shop/web-0".into()], Duration::from_secs(300)),
//! )
//! .await;
//! let events = recorded.events();
//! assert_eq!(events.len(), 2);
//! assert_eq!(events[1].1.kind, EventType::Warning);
//! assert_eq!(events[1].1.reason, "DrainBlockedByPdb");
//! # }
//! ```

// Kubernetes kind names (PodDisruptionBudget, …) read better unquoted in prose.
#![allow(clippy::doc_markdown)]

mod event;
mod kube_events;
mod recorded;

use async_trait::async_trait;

pub use event::{EventType, MAX_NOTE_BYTES, NodeEvent, reason, truncate_note};
pub use kube_events::KubeNodeEvents;
pub use recorded::{NoEvents, RecordedEvents};

/// Publishes [`NodeEvent`]s about nodes.
#[async_trait]
pub trait NodeEvents: Send + Sync + std::fmt::Debug {
    /// Publishes `event` about `node`. Best effort: a failure is logged (a warning at most once
    /// per reason per minute), never returned.
    async fn publish(&self, node: &str, event: NodeEvent);
}
