//! In-process store: not persistent, not shared between replicas. For tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{GroupState, LockStore, StoreError, Version, Versioned};

/// A store kept in memory. Everything is lost when the process exits.
#[derive(Debug, Default)]
pub struct MemoryStore {
    groups: Mutex<BTreeMap<String, Versioned>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Versioned>> {
        // A panic while holding this lock cannot leave the map half-updated (each update is a
        // single insert), so a poisoned lock is still consistent.
        self.groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl LockStore for MemoryStore {
    async fn get(&self, group: &str) -> Result<Versioned, StoreError> {
        Ok(self.lock().get(group).cloned().unwrap_or_default())
    }

    async fn compare_and_swap(
        &self,
        group: &str,
        expected: Version,
        new: &GroupState,
    ) -> Result<bool, StoreError> {
        let mut groups = self.lock();
        let current = groups.get(group).map_or(Version::ABSENT, |v| v.version);
        if current != expected {
            return Ok(false);
        }
        groups.insert(
            group.to_owned(),
            Versioned {
                version: Version(current.0 + 1),
                state: new.clone(),
            },
        );
        Ok(true)
    }

    async fn groups(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.lock().keys().cloned().collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
