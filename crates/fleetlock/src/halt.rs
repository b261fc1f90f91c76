//! Stop-the-line state of a group, written by compare-and-swap in the group's store so every
//! replica sees it: holders kept for their health gate, failures counted against the budget,
//! the halt that stops new grants, and its clearing by an operator.

use std::time::Duration;

use crate::store::{Failure, Gating, GroupState, Halt, LockStore, StoreError};

/// How many compare-and-swap rounds one update may lose before giving up.
const MAX_CAS_ATTEMPTS: u32 = 64;

/// What [`record_failure`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailureOutcome {
    /// Failures counted now (distinct ids), this one included.
    pub failures: usize,
    /// The group is halted (by this failure or an earlier one): the failed holder keeps its slot.
    pub halted: bool,
}

/// What [`clear_halt`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cleared {
    /// The halt that stood, if any.
    pub halt: Option<Halt>,
    /// The failures that were counted.
    pub failures: Vec<Failure>,
}

/// Applies `change` to the group's state until a compare-and-swap succeeds. `change` returns
/// whether it changed anything (nothing is written otherwise) and the answer.
async fn modify<T>(
    store: &dyn LockStore,
    group: &str,
    mut change: impl FnMut(&mut GroupState) -> (bool, T),
) -> Result<T, StoreError> {
    for attempt in 0..MAX_CAS_ATTEMPTS {
        let current = store.get(group).await?;
        let mut next = current.state.clone();
        let (changed, answer) = change(&mut next);
        if !changed
            || store
                .compare_and_swap(group, current.version, &next)
                .await?
        {
            return Ok(answer);
        }
        let max_ms = u64::from(attempt.min(8)) * 2 + 1;
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=max_ms))).await;
    }
    Err(StoreError::Unavailable(format!(
        "gave up after {MAX_CAS_ATTEMPTS} conflicting updates of group {group}"
    )))
}

/// Marks `id`'s slot as kept for its health gate (from now), if it holds one and is not marked
/// yet. Returns whether `id` holds a slot.
pub async fn start_gating(
    store: &dyn LockStore,
    group: &str,
    id: &str,
) -> Result<bool, StoreError> {
    modify(store, group, |state| {
        if !state.holds(id) {
            return (false, false);
        }
        if state.is_gating(id) {
            return (false, true);
        }
        state.gating.push(Gating {
            id: id.to_owned(),
            since: jiff::Timestamp::now().to_string(),
        });
        (true, true)
    })
    .await
}

/// Ends `id`'s kept slot for the health gate (it stays a holder). Returns whether it was kept.
pub async fn stop_gating(store: &dyn LockStore, group: &str, id: &str) -> Result<bool, StoreError> {
    modify(store, group, |state| {
        let kept = state.is_gating(id);
        state.gating.retain(|g| g.id != id);
        (kept, kept)
    })
    .await
}

/// Counts `failure` (one per id: a later failure of the same id replaces the earlier one) and
/// ends its health gate. When the distinct failures reach `budget` and the group is not halted
/// yet, halts it with this failure's id, node and reason. The failed holder's slot is left as
/// it is: the caller releases it when the group is not halted.
pub async fn record_failure(
    store: &dyn LockStore,
    group: &str,
    failure: Failure,
    budget: u32,
) -> Result<FailureOutcome, StoreError> {
    modify(store, group, |state| {
        state.gating.retain(|g| g.id != failure.id);
        state.failures.retain(|f| f.id != failure.id);
        state.failures.push(failure.clone());
        if state.halt.is_none() && state.failures.len() >= budget as usize {
            state.halt = Some(Halt {
                id: failure.id.clone(),
                node: failure.node.clone(),
                reason: failure.reason.clone(),
                since: failure.at.clone(),
            });
        }
        let outcome = FailureOutcome {
            failures: state.failures.len(),
            halted: state.halt.is_some(),
        };
        (true, outcome)
    })
    .await
}

/// Clears the group's halt and its failures (the operator's resume); holders stay.
pub async fn clear_halt(store: &dyn LockStore, group: &str) -> Result<Cleared, StoreError> {
    modify(store, group, |state| {
        let cleared = Cleared {
            halt: state.halt.take(),
            failures: std::mem::take(&mut state.failures),
        };
        let changed = cleared.halt.is_some() || !cleared.failures.is_empty();
        (changed, cleared)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::semaphore::{self, AcquireError, Acquired, Released};
    use crate::store::MemoryStore;

    fn failure(id: &str) -> Failure {
        Failure {
            id: id.into(),
            node: Some(format!("node-{id}")),
            reason: format!("{id} broke"),
            at: "2026-05-01T10:00:00Z".into(),
        }
    }

    #[tokio::test]
    async fn budget_halts_and_clear_resumes() {
        let store = MemoryStore::new();
        assert_eq!(
            semaphore::acquire(&store, "g", "a", 1).await.unwrap(),
            Acquired::Granted
        );
        assert!(start_gating(&store, "g", "a").await.unwrap());
        assert!(!start_gating(&store, "g", "nobody").await.unwrap());
        assert!(store.get("g").await.unwrap().state.is_gating("a"));
        assert!(stop_gating(&store, "g", "a").await.unwrap());
        assert!(!stop_gating(&store, "g", "a").await.unwrap());
        let state = store.get("g").await.unwrap().state;
        assert!(state.holds("a") && !state.is_gating("a"));
        assert!(start_gating(&store, "g", "a").await.unwrap());

        // Budget 2: the first failure is counted, the line keeps moving.
        let first = record_failure(&store, "g", failure("a"), 2).await.unwrap();
        assert_eq!(
            first,
            FailureOutcome {
                failures: 1,
                halted: false
            }
        );
        assert!(!store.get("g").await.unwrap().state.is_gating("a"));
        // The same id again is still one failure.
        let again = record_failure(&store, "g", failure("a"), 2).await.unwrap();
        assert_eq!(again.failures, 1);
        assert_eq!(
            semaphore::release(&store, "g", "a").await.unwrap(),
            Released::Released
        );

        semaphore::acquire(&store, "g", "b", 1).await.unwrap();
        let second = record_failure(&store, "g", failure("b"), 2).await.unwrap();
        assert_eq!(
            second,
            FailureOutcome {
                failures: 2,
                halted: true
            }
        );
        let state = store.get("g").await.unwrap().state;
        let halt = state.halt.clone().unwrap();
        assert_eq!(
            (halt.id.as_str(), halt.node.as_deref()),
            ("b", Some("node-b"))
        );
        assert_eq!(halt.reason, "b broke");

        // The holder keeps its slot; nobody else gets one, even with free slots.
        assert_eq!(
            semaphore::acquire(&store, "g", "b", 1).await.unwrap(),
            Acquired::AlreadyHeld
        );
        let refused = semaphore::acquire(&store, "g", "c", 5).await.unwrap_err();
        assert!(matches!(refused, AcquireError::Halted { .. }), "{refused}");
        let text = refused.to_string();
        assert!(
            text.contains("halted") && text.contains("b (node node-b)"),
            "{text}"
        );
        // Releasing a slot leaves the halt.
        semaphore::release(&store, "g", "b").await.unwrap();
        assert!(store.get("g").await.unwrap().state.halt.is_some());

        let cleared = clear_halt(&store, "g").await.unwrap();
        assert_eq!(cleared.halt, Some(halt));
        assert_eq!(cleared.failures.len(), 2);
        assert_eq!(clear_halt(&store, "g").await.unwrap(), Cleared::default());
        assert_eq!(
            semaphore::acquire(&store, "g", "c", 1).await.unwrap(),
            Acquired::Granted
        );
    }

    #[test]
    fn old_state_reads_as_not_halted_and_new_fields_stay_out_while_empty() {
        let old: GroupState =
            serde_json::from_str(r#"{"holders":[{"id":"a","since":"2026-05-01T10:00:00Z"}]}"#)
                .unwrap();
        assert!(old.halt.is_none() && old.failures.is_empty() && old.gating.is_empty());
        assert_eq!(
            serde_json::to_string(&old).unwrap(),
            r#"{"holders":[{"id":"a","since":"2026-05-01T10:00:00Z"}]}"#
        );
    }
}
