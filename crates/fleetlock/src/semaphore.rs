//! The counting semaphore over a [`LockStore`]: recursive lock, unlock-if-held.

use std::time::Duration;

use crate::store::{Halt, Holder, LockStore, StoreError};

/// How many compare-and-swap rounds one request may lose before giving up.
const MAX_CAS_ATTEMPTS: u32 = 64;

/// Successful lock outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// A new slot was taken.
    Granted,
    /// The caller already held a slot (Zincati re-asks while it postpones the reboot).
    AlreadyHeld,
}

/// Successful unlock outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Released {
    /// The caller's slot was freed.
    Released,
    /// The caller held no slot; nothing changed.
    NotHeld,
    /// Kubernetes mode with the health gate: the node is back and uncordoned, its slot is kept
    /// until the gate passes (answered 200: Zincati is never made to retry).
    KeptForGate,
    /// The caller's failure halted its group: its slot stays until an operator clears the halt
    /// (answered 200).
    KeptWhileHalted,
}

/// Why a lock was not granted.
#[derive(Debug, thiserror::Error)]
pub enum AcquireError {
    /// Every slot is held by someone else.
    #[error("all {slots} slot(s) of group {group} are held by: {}", holders.join(", "))]
    Full {
        /// The group.
        group: String,
        /// Configured slots.
        slots: u32,
        /// Current holder ids.
        holders: Vec<String>,
    },
    /// The group's rollout is halted and the caller holds no slot.
    #[error(
        "the rollout of group {group} is halted since {} by {}: {}; an operator must clear it (POST /v1/admin/clear-halt)",
        halt.since, halt_subject(halt), halt.reason
    )]
    Halted {
        /// The group.
        group: String,
        /// The stored halt.
        halt: Halt,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `id` or `id (node NODE)`.
fn halt_subject(halt: &Halt) -> String {
    match &halt.node {
        Some(node) => format!("{} (node {node})", halt.id),
        None => halt.id.clone(),
    }
}

async fn backoff(attempt: u32) {
    let max_ms = u64::from(attempt.min(8)) * 2 + 1;
    tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=max_ms))).await;
}

fn contention(group: &str) -> StoreError {
    StoreError::Unavailable(format!(
        "gave up after {MAX_CAS_ATTEMPTS} conflicting updates of group {group}"
    ))
}

/// Takes a slot of `group` for `id` if one of `slots` is free; recursive for a holder (also
/// while the group is halted). A halted group grants no new slot.
pub async fn acquire(
    store: &dyn LockStore,
    group: &str,
    id: &str,
    slots: u32,
) -> Result<Acquired, AcquireError> {
    for attempt in 0..MAX_CAS_ATTEMPTS {
        let current = store.get(group).await?;
        if current.state.holds(id) {
            return Ok(Acquired::AlreadyHeld);
        }
        if let Some(halt) = current.state.halt {
            return Err(AcquireError::Halted {
                group: group.to_owned(),
                halt,
            });
        }
        // Configured slots win: a shrunken configuration stops new grants until enough
        // holders have left, it never evicts a holder.
        if current.state.holders.len() >= slots as usize {
            return Err(AcquireError::Full {
                group: group.to_owned(),
                slots,
                holders: current.state.holders.into_iter().map(|h| h.id).collect(),
            });
        }
        let mut next = current.state.clone();
        next.holders.push(Holder {
            id: id.to_owned(),
            since: jiff::Timestamp::now().to_string(),
        });
        if store
            .compare_and_swap(group, current.version, &next)
            .await?
        {
            return Ok(Acquired::Granted);
        }
        backoff(attempt).await;
    }
    Err(contention(group).into())
}

/// Frees `id`'s slot in `group` if it holds one (and ends its health gate); never touches
/// another holder, the halt or the failures.
pub async fn release(store: &dyn LockStore, group: &str, id: &str) -> Result<Released, StoreError> {
    for attempt in 0..MAX_CAS_ATTEMPTS {
        let current = store.get(group).await?;
        if !current.state.holds(id) {
            return Ok(Released::NotHeld);
        }
        let mut next = current.state.clone();
        next.holders.retain(|h| h.id != id);
        next.gating.retain(|g| g.id != id);
        if store
            .compare_and_swap(group, current.version, &next)
            .await?
        {
            return Ok(Released::Released);
        }
        backoff(attempt).await;
    }
    Err(contention(group))
}
