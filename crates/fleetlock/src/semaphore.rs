//! The counting semaphore over a [`LockStore`]: recursive lock, unlock-if-held.

use std::time::Duration;

use crate::store::{GroupState, Holder, LockStore, StoreError};

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
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
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

/// Takes a slot of `group` for `id` if one of `slots` is free; recursive for a holder.
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

/// Frees `id`'s slot in `group` if it holds one; never touches another holder.
pub async fn release(store: &dyn LockStore, group: &str, id: &str) -> Result<Released, StoreError> {
    for attempt in 0..MAX_CAS_ATTEMPTS {
        let current = store.get(group).await?;
        if !current.state.holds(id) {
            return Ok(Released::NotHeld);
        }
        let next = GroupState {
            holders: current
                .state
                .holders
                .iter()
                .filter(|h| h.id != id)
                .cloned()
                .collect(),
        };
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
