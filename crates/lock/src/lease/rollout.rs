//! The rollout state of the Lease backend: [`ROLLOUT_ANNOTATION`] on the Lease `<name>-0`,
//! read and written here; the `lease` module docs say how the lock's writes keep it and how a
//! grant of another slot is checked against a halt written meanwhile ([`LeaseLock::confirm_grant`]).

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::time::Instant;

use super::{LeaseLock, Slot};
use crate::AcquireOutcome;
use crate::error::LockError;
use crate::format::LockRecord;
use crate::retry::Attempts;
use crate::rollout::{ROLLOUT_ANNOTATION, RolloutHalt, RolloutState};
use crate::watch::Observed;

impl LeaseLock {
    /// The name of the Lease holding the rollout state (slot 0).
    fn rollout_lease(&self) -> String {
        format!("{}-0", self.inner.config.name)
    }

    /// The rollout state in the annotation text of Lease 0 (a halt when it cannot be read).
    fn rollout_of_text(&self, text: Option<&str>) -> RolloutState {
        let c = &self.inner.config;
        RolloutState::from_annotation(
            text,
            &format!("Lease {}/{}", c.namespace, self.rollout_lease()),
        )
    }

    /// The rollout annotation text of `lease`, if any.
    pub(super) fn rollout_text(lease: &Lease) -> Option<String> {
        lease
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ROLLOUT_ANNOTATION))
            .cloned()
    }

    /// The halt standing in `slots` as read (slot 0 carries the state).
    pub(super) fn halt_in(&self, slots: &[Slot]) -> Option<RolloutHalt> {
        let zero = slots.iter().find(|s| s.index == 0)?;
        self.rollout_of_text(zero.rollout.as_deref()).halt
    }

    /// Lease 0 now (`None` if missing), by GET.
    async fn get_rollout_lease(&self) -> Result<Option<Lease>, LockError> {
        let name = self.rollout_lease();
        let started = Instant::now();
        let lease = self.inner.api.get_opt(&name).await;
        self.inner.tracker.request_took(started.elapsed());
        let lease = lease.map_err(LockError::Api)?;
        let observed = match &lease {
            Some(l) => Observed::Present(l.metadata.resource_version.clone().unwrap_or_default()),
            None => Observed::Absent,
        };
        self.inner.tracker.observe(&name, observed);
        Ok(lease)
    }

    /// The rollout state now, read with the lock's retries.
    pub(super) async fn read_rollout(&self) -> Result<RolloutState, LockError> {
        let mut attempts = Attempts::new(self.inner.config.retry);
        loop {
            attempts.next();
            match self.get_rollout_lease().await {
                Ok(lease) => {
                    let text = lease.as_ref().and_then(Self::rollout_text);
                    return Ok(self.rollout_of_text(text.as_deref()));
                }
                Err(e) => attempts.after_failure(e).await?,
            }
        }
    }

    /// After `holder` was granted a slot other than 0 (`record`): if a halt stands now, gives
    /// the slot back and answers `Halted` (see the module docs). A failed check gives the
    /// slot back too and returns the error.
    pub(super) async fn confirm_grant(
        &self,
        holder: &str,
        record: LockRecord,
    ) -> Result<AcquireOutcome, LockError> {
        let halt = match self.read_rollout().await {
            Ok(state) => state.halt,
            Err(e) => {
                self.give_back(holder).await;
                return Err(e);
            }
        };
        match halt {
            None => Ok(AcquireOutcome::Acquired(record)),
            Some(halt) => {
                tracing::info!(
                    holder,
                    halted_by = %halt.node,
                    "the rollout was halted while the slot was taken; giving it back"
                );
                self.give_back(holder).await;
                Ok(AcquireOutcome::Halted(halt))
            }
        }
    }

    async fn give_back(&self, holder: &str) {
        if let Err(e) = crate::RebootLock::release(self, holder).await {
            tracing::warn!(holder, error = %e, "could not give back a slot taken during a halt");
        }
    }

    /// Applies `change` to the state on Lease 0: read, change, write with the read
    /// `resourceVersion` as the precondition (or create Lease 0), again on conflicts and
    /// transient errors. No write when nothing changes. Returns the state written.
    pub(super) async fn modify_rollout(
        &self,
        change: impl Fn(RolloutState) -> RolloutState + Send + Sync,
    ) -> Result<RolloutState, LockError> {
        let mut attempts = Attempts::new(self.inner.config.retry);
        while attempts.next() {
            let lease = match self.get_rollout_lease().await {
                Ok(lease) => lease,
                Err(e) => {
                    attempts.after_failure(e).await?;
                    continue;
                }
            };
            let text = lease.as_ref().and_then(Self::rollout_text);
            let current = self.rollout_of_text(text.as_deref());
            let next = change(current.clone());
            if next == current {
                return Ok(next);
            }
            let rv = lease.and_then(|l| l.metadata.resource_version);
            match self.write_rollout(rv, next.to_annotation()).await {
                Ok(()) => return Ok(next),
                Err(e) => attempts.after_failure(e).await?,
            }
        }
        Err(LockError::Contention {
            attempts: attempts.made - 1,
        })
    }

    /// Writes the rollout annotation of Lease 0 (`None` removes it): a merge patch carrying
    /// `rv`, or a create without a holder when the Lease is missing (`rv` is `None`).
    async fn write_rollout(
        &self,
        rv: Option<String>,
        value: Option<String>,
    ) -> Result<(), LockError> {
        let c = &self.inner.config;
        let name = self.rollout_lease();
        let started = Instant::now();
        let written = match rv {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(c.namespace.clone()),
                        annotations: value.map(|v| [(ROLLOUT_ANNOTATION.to_string(), v)].into()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(LeaseSpec::default()),
                };
                self.inner.api.create(&PostParams::default(), &lease).await
            }
            Some(rv) => {
                let patch = json!({
                    "metadata": {
                        "resourceVersion": rv,
                        "annotations": { ROLLOUT_ANNOTATION: value },
                    }
                });
                self.inner
                    .api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
            }
        };
        self.inner.tracker.request_took(started.elapsed());
        let lease = written.map_err(LockError::Api)?;
        self.observe_written(&name, &lease);
        Ok(())
    }
}
