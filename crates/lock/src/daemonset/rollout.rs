//! The rollout state of the annotation backend: [`ROLLOUT_ANNOTATION`] on the lock
//! `DaemonSet`, beside kured's lock annotation, read and written here (the `daemonset` module
//! docs say why neither annotation is ever lost and why `acquire` cannot miss a halt).

use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::time::Instant;

use super::DaemonSetLock;
use crate::config::WriteMethod;
use crate::error::LockError;
use crate::retry::Attempts;
use crate::rollout::{ROLLOUT_ANNOTATION, RolloutState};
use crate::watch::Observed;

impl DaemonSetLock {
    /// The rollout state stored on `ds` (a halt when it cannot be read).
    pub(super) fn rollout_of(&self, ds: &DynamicObject) -> RolloutState {
        let c = &self.inner.config;
        let text = ds
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ROLLOUT_ANNOTATION));
        RolloutState::from_annotation(
            text.map(String::as_str),
            &format!("DaemonSet {}/{}", c.namespace, c.name),
        )
    }

    /// The rollout state now, read with the lock's retries.
    pub(super) async fn read_rollout(&self) -> Result<RolloutState, LockError> {
        let mut attempts = Attempts::new(self.inner.config.retry);
        loop {
            attempts.next();
            match self.get().await {
                Ok(ds) => return Ok(self.rollout_of(&ds)),
                Err(e) => attempts.after_failure(e).await?,
            }
        }
    }

    /// Applies `change` to the stored state: read, change, write with the read
    /// `resourceVersion` as the precondition, again on conflicts and transient errors. No
    /// write when nothing changes. Returns the state written.
    pub(super) async fn modify_rollout(
        &self,
        change: impl Fn(RolloutState) -> RolloutState + Send + Sync,
    ) -> Result<RolloutState, LockError> {
        let mut attempts = Attempts::new(self.inner.config.retry);
        while attempts.next() {
            let ds = match self.get().await {
                Ok(ds) => ds,
                Err(e) => {
                    attempts.after_failure(e).await?;
                    continue;
                }
            };
            let current = self.rollout_of(&ds);
            let next = change(current.clone());
            if next == current {
                return Ok(next);
            }
            match self.write_rollout(ds, next.to_annotation()).await {
                Ok(()) => return Ok(next),
                Err(e) => attempts.after_failure(e).await?,
            }
        }
        Err(LockError::Contention {
            attempts: attempts.made - 1,
        })
    }

    /// Writes the rollout annotation (`None` removes it) if the object is still as `read`;
    /// every other annotation is kept as read.
    async fn write_rollout(
        &self,
        read: DynamicObject,
        value: Option<String>,
    ) -> Result<(), LockError> {
        let c = &self.inner.config;
        let started = Instant::now();
        let written = match c.write_method {
            WriteMethod::Update => {
                let mut ds = read;
                let annotations = ds.metadata.annotations.get_or_insert_with(Default::default);
                match value {
                    Some(v) => annotations.insert(ROLLOUT_ANNOTATION.to_string(), v),
                    None => annotations.remove(ROLLOUT_ANNOTATION),
                };
                self.inner
                    .raw
                    .replace(&c.name, &PostParams::default(), &ds)
                    .await
            }
            WriteMethod::MergePatch => {
                let patch = json!({
                    "metadata": {
                        "resourceVersion": read.metadata.resource_version,
                        "annotations": { ROLLOUT_ANNOTATION: value },
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
}
