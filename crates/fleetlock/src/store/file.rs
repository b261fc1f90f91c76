//! Embedded store: one JSON file, replaced atomically, every read-modify-write done under an
//! exclusive advisory lock on a sibling `PATH.lock` file.
//!
//! Why not an embedded database: the state is tiny (a few holders per group), and a database
//! such as redb takes an exclusive lock on its file for the life of the process, so two server
//! processes could not share it. Here each operation opens `PATH.lock`, takes `flock(LOCK_EX)`,
//! reads `PATH`, and — for a successful compare-and-swap — writes `PATH.tmp.<pid>`, fsyncs it,
//! renames it over `PATH` and fsyncs the directory. A crash leaves either the old or the new
//! file, never a torn one; the kernel drops the lock when a process dies, so no stale lock
//! survives. The lock file is locked rather than the data file because rename replaces the data
//! file's inode.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{GroupState, LockStore, StoreError, Version, Versioned};

#[derive(Debug, Default, Serialize, Deserialize)]
struct FileContents {
    /// Bumped on every write; never reused, so versions stay unique across groups.
    revision: u64,
    groups: BTreeMap<String, StoredGroup>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredGroup {
    revision: u64,
    #[serde(flatten)]
    state: GroupState,
}

/// The embedded single-file store (`--store file:PATH`).
#[derive(Debug, Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    lock_path: PathBuf,
    tmp_counter: AtomicU64,
}

impl FileStore {
    /// Opens (creating if needed) the store at `path`; fails early if the directory is not
    /// writable or the file cannot be decoded.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        let mut lock_path = path.clone().into_os_string();
        lock_path.push(".lock");
        let store = Self {
            inner: Arc::new(Inner {
                path,
                lock_path: lock_path.into(),
                tmp_counter: AtomicU64::new(0),
            }),
        };
        store
            .blocking(|inner| inner.with_lock(|_| Ok(((), false))))
            .await?;
        Ok(store)
    }

    /// The data file's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| StoreError::Unavailable(format!("file store task failed: {e}")))?
    }
}

impl Inner {
    /// Runs `f` on the decoded contents while holding the exclusive lock.
    fn with_lock<T>(
        &self,
        f: impl FnOnce(&mut FileContents) -> Result<(T, bool), StoreError>,
    ) -> Result<T, StoreError> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)?;
        lock.lock()?;
        let mut contents = self.read()?;
        let (out, write) = f(&mut contents)?;
        if write {
            self.write(&contents)?;
        }
        lock.unlock()?;
        Ok(out)
    }

    fn read(&self) -> Result<FileContents, StoreError> {
        match std::fs::read(&self.path) {
            Ok(bytes) if bytes.is_empty() => Ok(FileContents::default()),
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("{}: {e}", self.path.display()))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(FileContents::default()),
            Err(e) => Err(e.into()),
        }
    }

    fn write(&self, contents: &FileContents) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(contents)
            .map_err(|e| StoreError::Corrupt(format!("encoding state: {e}")))?;
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(format!(
            ".tmp.{}.{}",
            std::process::id(),
            self.tmp_counter.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = PathBuf::from(tmp);
        let result = (|| {
            let mut file = File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            let dir = match self.path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        Ok(result?)
    }
}

#[async_trait]
impl LockStore for FileStore {
    async fn get(&self, group: &str) -> Result<Versioned, StoreError> {
        let group = group.to_owned();
        self.blocking(move |inner| {
            inner.with_lock(|c| {
                let v = c
                    .groups
                    .get(&group)
                    .map_or_else(Versioned::default, |g| Versioned {
                        version: Version(g.revision),
                        state: g.state.clone(),
                    });
                Ok((v, false))
            })
        })
        .await
    }

    async fn compare_and_swap(
        &self,
        group: &str,
        expected: Version,
        new: &GroupState,
    ) -> Result<bool, StoreError> {
        let group = group.to_owned();
        let new = new.clone();
        self.blocking(move |inner| {
            inner.with_lock(|c| {
                let current = c
                    .groups
                    .get(&group)
                    .map_or(Version::ABSENT, |g| Version(g.revision));
                if current != expected {
                    return Ok((false, false));
                }
                c.revision += 1;
                let revision = c.revision;
                c.groups.insert(
                    group,
                    StoredGroup {
                        revision,
                        state: new,
                    },
                );
                Ok((true, true))
            })
        })
        .await
    }

    async fn groups(&self) -> Result<Vec<String>, StoreError> {
        self.blocking(|inner| inner.with_lock(|c| Ok((c.groups.keys().cloned().collect(), false))))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.blocking(|inner| inner.with_lock(|_| Ok(((), false))))
            .await
    }
}
