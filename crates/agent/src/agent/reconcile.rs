//! Reconcile what we cordoned (kured #63): a node carrying our cordon mark
//! ([`crate::CORDONED_BY_ANNOTATION`]) that is Ready, cordoned, holds no lock and is not the
//! halted node was left behind by a lost attempt (its lock record taken over after the TTL,
//! say): uncordon it, with an Event. Checked at start and every period.

use std::sync::atomic::Ordering;

use events::NodeEvent;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{Agent, Cancelled};
use crate::config::CORDONED_BY_ANNOTATION;

impl Agent {
    /// Uncordons this node if a lost attempt of ours left it cordoned (see the module doc).
    /// Costs one Node read while the mark may be there (at start, and after we marked a
    /// cordon until a read shows it gone); the lock and rollout state are read only when it is.
    pub(super) async fn reconcile_cordon(
        &self,
        cancel: &CancellationToken,
    ) -> Result<(), Cancelled> {
        if !self.cordon_maybe_marked.load(Ordering::SeqCst) {
            return Ok(());
        }
        let node = self.node();
        let state = match self
            .cancellable(cancel, self.deps.nodes.node_state(node))
            .await?
        {
            Ok(s) => s,
            Err(e) => {
                debug!(node, error = %e, "cannot read the node to reconcile its cordon");
                return Ok(());
            }
        };
        // The same read tells whether a failure record may need removing later.
        self.failure_maybe_set.store(
            state
                .annotations
                .contains_key(crate::REBOOT_FAILURE_ANNOTATION),
            Ordering::SeqCst,
        );
        if !state.annotations.contains_key(CORDONED_BY_ANNOTATION) {
            self.cordon_maybe_marked.store(false, Ordering::SeqCst);
            return Ok(());
        }
        if !state.unschedulable {
            // Uncordoned by someone else: only the mark is left.
            return self.unmark_cordon(cancel).await;
        }
        if !state.ready {
            debug!(node, "cordoned by us but not Ready: leaving it cordoned");
            return Ok(());
        }
        match self
            .cancellable(cancel, self.deps.lock.holding(node))
            .await?
        {
            Ok(None) => {}
            Ok(Some(_)) | Err(_) => return Ok(()),
        }
        match self.cancellable(cancel, self.deps.lock.rollout()).await? {
            Ok(r) if r.halt.as_ref().is_some_and(|h| h.node == node) => return Ok(()),
            Ok(_) => {}
            Err(_) => return Ok(()),
        }
        info!(
            node,
            "cordoned by an earlier attempt that no longer holds the lock: uncordoning"
        );
        match self
            .cancellable(cancel, self.deps.nodes.uncordon(node))
            .await?
        {
            Ok(_) => {
                self.unmark_cordon(cancel).await?;
                self.event(NodeEvent::uncordoned(
                    "reconciled: cordoned by kured-rs for an attempt that no longer holds the lock",
                ))
                .await;
            }
            Err(e) => warn!(node, error = %e, "cannot uncordon"),
        }
        Ok(())
    }

    /// Removes our cordon mark (logged if it cannot be).
    pub(super) async fn unmark_cordon(&self, cancel: &CancellationToken) -> Result<(), Cancelled> {
        let keys = [CORDONED_BY_ANNOTATION.to_string()];
        if let Err(e) = self
            .cancellable(
                cancel,
                self.deps.nodes.remove_annotations(self.node(), &keys),
            )
            .await?
        {
            warn!(node = %self.node(), error = %e, "cannot remove the cordon mark");
        } else {
            self.cordon_maybe_marked.store(false, Ordering::SeqCst);
        }
        Ok(())
    }
}
