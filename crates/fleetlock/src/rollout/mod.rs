//! Kubernetes mode's stop-the-line: the attempt record at the grant, the health gate after the
//! steady-state, failures against the budget, and the halt.
//!
//! - At the grant (`pre-reboot`, before the drain) the node's reboot attempt is recorded with
//!   `gate::prepare_attempt` and `gate::record_attempt` (boot ID, workloads, PDBs); the first
//!   200 stamps it with the time the reboot was allowed (`rebootingSince`).
//! - At `steady-state` from a node that rebooted (new boot ID): with the health gate on, the
//!   node is uncordoned as before and the answer is 2xx at once, but the slot is kept
//!   ([`crate::store::Gating`]) until `gate::HealthGate::wait` passes in a background task;
//!   then the slot is released and the next machine may go. Zincati retries a failed
//!   steady-state only every 300 s, so it is never made to retry.
//! - A gate that fails, or a node not Ready with a new boot ID within
//!   `reboot_not_back_timeout` of its grant, is a failure ([`crate::halt::record_failure`]);
//!   at the budget the group halts and the failed machine keeps its slot.
//! - A supervisor looks at every group's holders each poll: it finds nodes not back in time
//!   and restarts the gate of a kept slot whose task is not running here (a restarted or
//!   another replica).
//!
//! Gate tasks end when their slot is released (by an admin, or seen in the store on the next
//! poll) and when the [`Rollout`] is stopped or dropped.

mod gate_task;
mod supervisor;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use events::{NodeEvent, NodeEvents};
use gate::{GateConfig, HealthGate, PromCheck};
use tokio::task::AbortHandle;

use crate::halt;
use crate::kube_nodes::{NodeError, NodeHandler};
use crate::metrics::{FailureLabels, GateHistogram};
use crate::rollout_config::RolloutConfig;
use crate::semaphore::{self, Acquired};
use crate::store::{Failure, LockStore};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// What a steady-state turned into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SteadyOutcome {
    /// End the claim as without a gate (release the slot).
    Release,
    /// The node is back and uncordoned; its slot is kept until the health gate passes.
    KeptForGate,
    /// The machine failed and halted its group: its slot stays until an operator clears it.
    KeptWhileHalted,
}

/// The stop-the-line machinery of one server (see the module documentation).
pub struct Rollout {
    inner: Arc<Inner>,
    supervisor: AbortHandle,
}

impl std::fmt::Debug for Rollout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rollout")
            .field("gate", &self.inner.gate)
            .field("not_back", &self.inner.not_back)
            .field("budget", &self.inner.budget)
            .finish_non_exhaustive()
    }
}

/// What the tasks share.
struct Inner {
    client: kube::Client,
    store: Arc<dyn LockStore>,
    nodes: Arc<dyn NodeHandler>,
    gate: Option<HealthGate>,
    not_back: Option<Duration>,
    budget: u32,
    poll: Duration,
    failures: Family<FailureLabels, Counter>,
    waits: GateHistogram,
    events: Arc<dyn NodeEvents>,
    /// Running gate tasks by (group, id).
    tasks: Mutex<HashMap<(String, String), AbortHandle>>,
}

/// Why a [`Rollout`] could not be built.
pub type RolloutError = gate::GateError;

impl Rollout {
    /// Builds the machinery from `config` and starts its supervisor (it needs a Tokio runtime).
    /// `failures` and `waits` are the server's metrics
    /// ([`crate::metrics::Metrics::gate_failures`], [`crate::metrics::Metrics::gate_waits`]);
    /// `events` receives the Node Events (rebooting, back, uncordoned, gate passed or failed,
    /// rollout halted, lock released).
    #[allow(clippy::too_many_arguments, reason = "the server's parts, each named")]
    pub fn start(
        client: kube::Client,
        store: Arc<dyn LockStore>,
        nodes: Arc<dyn NodeHandler>,
        config: &RolloutConfig,
        failures: Family<FailureLabels, Counter>,
        waits: GateHistogram,
        events: Arc<dyn NodeEvents>,
    ) -> Result<Self, RolloutError> {
        let gate = if config.health_gate {
            let prometheus = match (
                &config.health_gate_prometheus_url,
                &config.health_gate_prometheus_query,
            ) {
                (Some(url), Some(query)) => Some(PromCheck {
                    url: url.clone(),
                    query: query.clone(),
                }),
                _ => None,
            };
            Some(HealthGate::for_client(
                client.clone(),
                GateConfig {
                    timeout: config.health_gate_timeout,
                    poll: config.poll,
                    prometheus,
                    pod_selector: config.health_gate_pod_selector.clone(),
                },
            )?)
        } else {
            None
        };
        let inner = Arc::new(Inner {
            client,
            store,
            nodes,
            gate,
            not_back: (!config.reboot_not_back_timeout.is_zero())
                .then_some(config.reboot_not_back_timeout),
            budget: config.max_failed_nodes,
            poll: config.poll,
            failures,
            waits,
            events,
            tasks: Mutex::default(),
        });
        let supervisor = tokio::spawn(supervisor::run(Arc::clone(&inner))).abort_handle();
        Ok(Self { inner, supervisor })
    }

    /// Before the node side prepares `node` for `id`'s reboot in `group`: records the attempt
    /// (boot ID, workloads and PDBs the drain will disturb) for a new grant, or when a holder's
    /// node has none yet. A holder asking again while its health gate runs wants another
    /// reboot: its gate ends (the slot stays held) and a new attempt is recorded.
    pub async fn before_prepare(
        &self,
        group: &str,
        id: &str,
        node: &str,
        acquired: Acquired,
    ) -> Result<(), NodeError> {
        let inner = &self.inner;
        let client = &inner.client;
        let mut fresh = acquired == Acquired::Granted;
        if acquired == Acquired::AlreadyHeld
            && halt::stop_gating(inner.store.as_ref(), group, id)
                .await
                .map_err(|e| NodeError::Api(e.to_string()))?
        {
            inner.stop_task(group, id);
            tracing::info!(%id, %node, %group, "pre-reboot while the health gate runs: gate ended, new attempt");
            fresh = true;
        }
        if !fresh
            && gate::read_attempt(client, node)
                .await
                .map_err(gate_error)?
                .is_some()
        {
            return Ok(());
        }
        let attempt = gate::prepare_attempt(client, node, jiff::Timestamp::now())
            .await
            .map_err(gate_error)?;
        gate::record_attempt(client, node, &attempt)
            .await
            .map_err(gate_error)?;
        tracing::info!(%node, boot_id = %attempt.boot_id, workloads = attempt.workloads.len(), pdbs = attempt.pdbs.len(), "reboot attempt recorded");
        Ok(())
    }

    /// After the node side reported `node` ready to reboot (the 200): stamps the attempt with
    /// the time its reboot was allowed, once.
    pub async fn granted(&self, node: &str) -> Result<(), NodeError> {
        let client = &self.inner.client;
        let Some(mut attempt) = gate::read_attempt(client, node).await.map_err(gate_error)? else {
            return Ok(());
        };
        if attempt.rebooting_since.is_none() {
            attempt.rebooting_since = Some(jiff::Timestamp::now());
            gate::record_attempt(client, node, &attempt)
                .await
                .map_err(gate_error)?;
            self.inner
                .events
                .publish(node, NodeEvent::rebooting())
                .await;
        }
        Ok(())
    }

    /// The steady-state of `id` (node `node`) in `group`: see [`SteadyOutcome`].
    pub async fn steady_state(
        &self,
        group: &str,
        id: &str,
        node: &str,
    ) -> Result<SteadyOutcome, NodeError> {
        let inner = &self.inner;
        let state = inner
            .store
            .get(group)
            .await
            .map_err(|e| NodeError::Api(e.to_string()))?
            .state;
        if state.halt.is_some() && state.holds(id) && state.failures.iter().any(|f| f.id == id) {
            // Uncordoned (if we cordoned it for another reboot), but the slot stays.
            inner.nodes.finish(node).await?;
            tracing::warn!(%id, %node, %group, "steady-state of a failed machine while its group is halted: slot kept");
            return Ok(SteadyOutcome::KeptWhileHalted);
        }
        let Some(attempt) = gate::read_attempt(&inner.client, node)
            .await
            .map_err(gate_error)?
        else {
            return Ok(SteadyOutcome::Release);
        };
        let boot = gate::node_boot(&inner.client, node)
            .await
            .map_err(gate_error)?;
        if !boot.rebooted_since(&attempt) {
            tracing::warn!(%id, %node, %group, boot_id = %attempt.boot_id, "steady-state from a node that did not reboot (boot ID unchanged): releasing its slot");
            return Ok(SteadyOutcome::Release);
        }
        let Some(gate) = &inner.gate else {
            return Ok(SteadyOutcome::Release);
        };
        if state.is_gating(id) {
            return Ok(SteadyOutcome::KeptForGate);
        }
        inner.nodes.finish(node).await?;
        if !halt::start_gating(inner.store.as_ref(), group, id)
            .await
            .map_err(|e| NodeError::Api(e.to_string()))?
        {
            return Ok(SteadyOutcome::Release);
        }
        tracing::info!(%id, %node, %group, "node is back: slot kept until the health gate passes");
        inner.events.publish(node, NodeEvent::node_back()).await;
        inner
            .events
            .publish(
                node,
                NodeEvent::uncordoned("the node is back after its reboot"),
            )
            .await;
        inner.spawn_gate(gate.clone(), group, id, node, attempt, Instant::now());
        Ok(SteadyOutcome::KeptForGate)
    }

    /// After `id`'s claim ended (steady-state without a gate, admin release, a clear): stops
    /// its gate task here and removes the node's attempt record.
    pub async fn claim_ended(&self, group: &str, id: &str, node: &str) {
        self.inner.stop_task(group, id);
        if let Err(e) = gate::clear_attempt(&self.inner.client, node).await {
            tracing::warn!(%node, error = %e, "clearing the reboot attempt record");
        }
    }

    /// Stops the supervisor and every gate task of this server.
    pub fn stop(&self) {
        self.supervisor.abort();
        let tasks = std::mem::take(&mut *self.inner.lock_tasks());
        for task in tasks.into_values() {
            task.abort();
        }
    }
}

impl Drop for Rollout {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Inner {
    fn lock_tasks(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), AbortHandle>> {
        // Each update is a single insert or remove: a poisoned map is still consistent.
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn stop_task(&self, group: &str, id: &str) {
        if let Some(task) = self.lock_tasks().remove(&(group.to_owned(), id.to_owned())) {
            task.abort();
        }
    }

    /// Whether a gate task for `id` runs here.
    fn has_task(&self, group: &str, id: &str) -> bool {
        self.lock_tasks()
            .get(&(group.to_owned(), id.to_owned()))
            .is_some_and(|t| !t.is_finished())
    }

    /// Counts a failure of `id`; below the budget its claim ends (node uncordoned if we
    /// cordoned it, slot released, attempt cleared); at the budget the group halts and the
    /// slot stays.
    async fn fail(&self, group: &str, id: &str, node: &str, reason: String, label: &'static str) {
        let failure = Failure {
            id: id.to_owned(),
            node: Some(node.to_owned()),
            reason: reason.clone(),
            at: jiff::Timestamp::now().to_string(),
        };
        let outcome =
            match halt::record_failure(self.store.as_ref(), group, failure, self.budget).await {
                Ok(outcome) => outcome,
                Err(e) => {
                    tracing::warn!(%group, %id, error = %e, "recording a failure");
                    return;
                }
            };
        self.failures
            .get_or_create(&FailureLabels {
                group: group.to_owned(),
                reason: label,
            })
            .inc();
        let event = if label == "gate_failed" {
            NodeEvent::gate_failed(&reason)
        } else {
            NodeEvent::reboot_failed(&reason)
        };
        self.events.publish(node, event).await;
        if outcome.halted {
            self.events
                .publish(node, NodeEvent::rollout_halted(node, &reason))
                .await;
            tracing::error!(%group, %id, %node, %reason, failures = outcome.failures, budget = self.budget, "rollout halted: the failed machine keeps its slot until an operator clears the halt");
            return;
        }
        tracing::warn!(%group, %id, %node, %reason, failures = outcome.failures, budget = self.budget, "reboot failed; below the failure budget, the rollout goes on");
        if let Err(e) = self.nodes.finish(node).await {
            tracing::warn!(%node, error = %e, "undoing the node marks after a failure");
            return;
        }
        match semaphore::release(self.store.as_ref(), group, id).await {
            Ok(_) => self.events.publish(node, NodeEvent::lock_released()).await,
            Err(e) => tracing::warn!(%group, %id, error = %e, "releasing the slot after a failure"),
        }
        if let Err(e) = gate::clear_attempt(&self.client, node).await {
            tracing::warn!(%node, error = %e, "clearing the reboot attempt record");
        }
    }
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "used as `map_err(gate_error)`"
)]
fn gate_error(e: gate::GateError) -> NodeError {
    NodeError::Api(e.to_string())
}
