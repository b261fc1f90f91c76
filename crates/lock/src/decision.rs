//! The lock rules as pure functions: which records still hold a slot, who may acquire, what
//! a release writes. The backends read, call these, and write with optimistic concurrency.
//!
//! Rules (the same for both backends):
//! - **Expiry.** A record expires when its effective TTL is positive and
//!   `now - created >= TTL`. The effective TTL is the *configured* TTL when one is set (> 0),
//!   else the TTL stored in the record. Go kured judges a record by the TTL stored at lock
//!   time, so raising or setting `--lock-ttl` never frees locks taken before (kured #822);
//!   here the current configuration wins. `now` is the caller's clock and `created` the
//!   holder's: clocks are assumed to be synchronised (NTP) to well under the TTL; a skew of
//!   `s` makes a lock expire `s` early or late.
//! - **Manual records** (no creation time, e.g. `{"nodeID":"manual"}`) never expire and are
//!   never stale: an operator put them there. In single-owner mode a manual lock blocks
//!   everyone (as in kured). A manual lock in the *single-owner form* also blocks everyone in
//!   multi-owner mode (Go kured reads it as an empty multi lock and silently overwrites it,
//!   which defeats its purpose); a manual record inside a multi-owner `locks` list occupies one
//!   slot. A manual record naming the caller counts as the caller's own lock, as in kured.
//! - **Stale holders.** A record whose node no longer exists (the caller looked the node up
//!   and got 404; cluster autoscaler, kured #137/#478) no longer holds its slot.
//! - **Acquire.** If the caller already holds a live record, nothing is written and that
//!   record is returned (its metadata is the node state before the first acquire, which is
//!   what must be restored). Otherwise, when fewer than `concurrency` live records remain, the
//!   caller's record is added and expired/stale records of others are dropped; the written
//!   form follows the configured concurrency (single form for 1, multi form with
//!   `maxOwners = concurrency` otherwise), and live records in either stored form are kept.
//! - **Release** removes only the caller's records (expired or not). The single form is
//!   deleted as a whole (as kured does); the multi form keeps its `maxOwners` and remaining
//!   records, so releasing the last one leaves `{"maxOwners":N,"locks":[]}` (as kured does).

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use crate::error::LockError;
use crate::format::{LockMetadata, LockRecord, LockValue};

/// The configured lock policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockPolicy {
    /// How many holders may hold the lock at once (`--concurrency`, at least 1).
    pub concurrency: u32,
    /// The configured TTL (`--lock-ttl`); zero means "not set".
    pub ttl: SignedDuration,
}

impl Default for LockPolicy {
    fn default() -> Self {
        Self {
            concurrency: 1,
            ttl: SignedDuration::ZERO,
        }
    }
}

/// Why a record does or does not occupy a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    /// It holds a slot.
    Live,
    /// Its effective TTL has passed.
    Expired,
    /// Its node no longer exists.
    Stale,
}

/// The TTL a record is judged by: the configured one when set, else the stored one.
pub fn effective_ttl(stored: SignedDuration, configured: SignedDuration) -> SignedDuration {
    if configured.is_positive() {
        configured
    } else {
        stored
    }
}

/// Whether `record` has expired at `now` under the configured TTL.
pub fn is_expired(record: &LockRecord, now: Timestamp, configured_ttl: SignedDuration) -> bool {
    let Some(created) = record.created else {
        return false;
    };
    let ttl = effective_ttl(record.ttl, configured_ttl);
    ttl.is_positive() && now.duration_since(created) >= ttl
}

/// Classifies `record`; `gone` holds the node names known not to exist.
pub fn record_state(
    record: &LockRecord,
    now: Timestamp,
    configured_ttl: SignedDuration,
    gone: &BTreeSet<String>,
) -> RecordState {
    if record.is_manual() {
        RecordState::Live
    } else if is_expired(record, now, configured_ttl) {
        RecordState::Expired
    } else if gone.contains(&record.node_id) {
        RecordState::Stale
    } else {
        RecordState::Live
    }
}

/// The live records of a stored value.
pub fn live_holders(
    current: Option<&LockValue>,
    now: Timestamp,
    configured_ttl: SignedDuration,
    gone: &BTreeSet<String>,
) -> Vec<LockRecord> {
    current
        .map(LockValue::records)
        .unwrap_or_default()
        .iter()
        .filter(|r| record_state(r, now, configured_ttl, gone) == RecordState::Live)
        .cloned()
        .collect()
}

/// `holder`'s live record, if it has one.
pub fn holding(
    current: Option<&LockValue>,
    holder: &str,
    now: Timestamp,
    configured_ttl: SignedDuration,
) -> Option<LockRecord> {
    current?
        .records()
        .iter()
        .find(|r| r.node_id == holder && !is_expired(r, now, configured_ttl))
        .cloned()
}

/// The earliest instant after `now` at which a record of `current` expires under the
/// configured TTL (`None`: none expires).
pub fn next_expiry(
    current: Option<&LockValue>,
    now: Timestamp,
    configured_ttl: SignedDuration,
) -> Option<Timestamp> {
    current?
        .records()
        .iter()
        .filter_map(|r| {
            let ttl = effective_ttl(r.ttl, configured_ttl);
            if !ttl.is_positive() {
                return None;
            }
            r.created?.checked_add(ttl).ok()
        })
        .filter(|t| *t > now)
        .min()
}

/// A record of someone else that the new value drops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Displaced {
    /// The dropped record.
    pub record: LockRecord,
    /// Why it no longer held its slot.
    pub reason: RecordState,
}

/// What an acquire should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcquireDecision {
    /// The caller already holds this live record: write nothing.
    AlreadyHeld(LockRecord),
    /// Write `value`; the caller's new record is `record`.
    Write {
        /// The new annotation value.
        value: LockValue,
        /// The caller's record inside it.
        record: LockRecord,
        /// Records of others dropped because they expired or went stale (to be logged).
        displaced: Vec<Displaced>,
    },
    /// The lock is full; these hold it.
    Blocked(Vec<LockRecord>),
}

/// Decides an acquire by `holder` against the stored `current` value.
pub fn decide_acquire(
    current: Option<&LockValue>,
    holder: &str,
    metadata: LockMetadata,
    policy: LockPolicy,
    now: Timestamp,
    gone: &BTreeSet<String>,
) -> AcquireDecision {
    if let Some(own) = holding(current, holder, now, policy.ttl) {
        return AcquireDecision::AlreadyHeld(own);
    }
    // A manual lock in the single form stops everyone, whatever the concurrency.
    if let Some(LockValue::Single(record)) = current
        && record.is_manual()
    {
        return AcquireDecision::Blocked(vec![record.clone()]);
    }
    let mut live = Vec::new();
    let mut displaced = Vec::new();
    for record in current.map(LockValue::records).unwrap_or_default() {
        if record.node_id == holder {
            // Our own expired record: replaced below.
            continue;
        }
        match record_state(record, now, policy.ttl, gone) {
            RecordState::Live => live.push(record.clone()),
            reason => displaced.push(Displaced {
                record: record.clone(),
                reason,
            }),
        }
    }
    let concurrency = policy.concurrency.max(1);
    if live.len() >= concurrency as usize {
        return AcquireDecision::Blocked(live);
    }
    let record = LockRecord::new(holder, metadata, now, policy.ttl);
    let value = if concurrency == 1 {
        LockValue::Single(record.clone())
    } else {
        live.push(record.clone());
        LockValue::Multi {
            max_owners: i64::from(concurrency),
            locks: live,
        }
    };
    AcquireDecision::Write {
        value,
        record,
        displaced,
    }
}

/// What a release should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseDecision {
    /// Write this value; `None` removes the annotation.
    Write(Option<LockValue>),
    /// The caller holds no record; these records are there.
    NotHeld(Vec<LockRecord>),
}

/// Decides a release by `holder`.
pub fn decide_release(current: Option<&LockValue>, holder: &str) -> ReleaseDecision {
    match current {
        None => ReleaseDecision::NotHeld(Vec::new()),
        Some(LockValue::Single(record)) if record.node_id == holder => ReleaseDecision::Write(None),
        Some(LockValue::Single(record)) => ReleaseDecision::NotHeld(vec![record.clone()]),
        Some(LockValue::Multi { max_owners, locks }) => {
            if locks.iter().any(|r| r.node_id == holder) {
                let remaining = locks
                    .iter()
                    .filter(|r| r.node_id != holder)
                    .cloned()
                    .collect();
                ReleaseDecision::Write(Some(LockValue::Multi {
                    max_owners: *max_owners,
                    locks: remaining,
                }))
            } else {
                ReleaseDecision::NotHeld(locks.clone())
            }
        }
    }
}

/// What a slot of the Lease backend should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotDecision {
    /// The caller already holds slot `.0` with this live record.
    AlreadyHeld(usize, LockRecord),
    /// Write `record` into slot `slot`, replacing `displaced` (expired or stale) if any.
    Take {
        /// Slot index.
        slot: usize,
        /// The caller's new record.
        record: LockRecord,
        /// The previous holder of the slot, if it held one that no longer counts.
        displaced: Option<Displaced>,
    },
    /// All slots hold live records.
    Blocked(Vec<LockRecord>),
}

/// Decides an acquire over per-slot records (`None` = free slot), one holder per slot.
pub fn decide_slots(
    slots: &[Option<LockRecord>],
    holder: &str,
    metadata: LockMetadata,
    policy: LockPolicy,
    now: Timestamp,
    gone: &BTreeSet<String>,
) -> SlotDecision {
    for (i, slot) in slots.iter().enumerate() {
        if let Some(r) = slot
            && r.node_id == holder
            && !is_expired(r, now, policy.ttl)
        {
            return SlotDecision::AlreadyHeld(i, r.clone());
        }
    }
    let mut holders = Vec::new();
    let mut free = None;
    for (i, slot) in slots.iter().enumerate() {
        match slot {
            None => {
                free.get_or_insert((i, None));
            }
            Some(r) if r.node_id == holder => {
                free.get_or_insert((i, None));
            }
            Some(r) => match record_state(r, now, policy.ttl, gone) {
                RecordState::Live => holders.push(r.clone()),
                reason => {
                    free.get_or_insert((
                        i,
                        Some(Displaced {
                            record: r.clone(),
                            reason,
                        }),
                    ));
                }
            },
        }
    }
    match free {
        Some((slot, displaced)) => SlotDecision::Take {
            slot,
            record: LockRecord::new(holder, metadata, now, policy.ttl),
            displaced,
        },
        None => SlotDecision::Blocked(holders),
    }
}

/// Answers "does this node still exist?" for the stale-holder rule.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait NodeDirectory: Send + Sync {
    /// `Ok(false)` only when the node is known not to exist (a 404).
    async fn node_exists(&self, name: &str) -> Result<bool, LockError>;
}

/// The nodes of `holders` that are known to be gone. Manual records are not looked up; a
/// lookup error counts as "exists" (a holder is only displaced on certain knowledge).
///
/// A record written less than `presume_alive` before `now` is not looked up either: its
/// agent wrote it then, which is as good an answer as a lookup that recent (the same reuse
/// time as [`crate::CachedNodeDirectory`]'s). So many waiters blocked behind young holders
/// make no request at all; a holder whose node is deleted is noticed `presume_alive` after
/// it took the lock at the latest. A record dated in the future (clock skew) is looked up.
pub async fn gone_nodes(
    directory: &dyn NodeDirectory,
    holders: &[LockRecord],
    now: Timestamp,
    presume_alive: Duration,
) -> BTreeSet<String> {
    let young = |record: &LockRecord| {
        record.created.is_some_and(|created| {
            let age = now.duration_since(created);
            !age.is_negative() && age.unsigned_abs() < presume_alive
        })
    };
    let mut gone = BTreeSet::new();
    for record in holders.iter().filter(|r| !r.is_manual() && !young(r)) {
        if gone.contains(&record.node_id) {
            continue;
        }
        match directory.node_exists(&record.node_id).await {
            Ok(true) => {}
            Ok(false) => {
                gone.insert(record.node_id.clone());
            }
            Err(e) => {
                tracing::debug!(node = %record.node_id, error = %e, "cannot tell whether the lock holder's node exists; keeping it");
            }
        }
    }
    gone
}

#[cfg(test)]
mod tests;
