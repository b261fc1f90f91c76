//! The drains this replica runs: one task per node, with its state. A task is aborted when its
//! node's claim ends ([`LocalDrains::cancel`] waits until it has stopped) and when the handler
//! is dropped (a stopped replica leaves no drain behind).

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::task::JoinHandle;

/// What this replica knows of a drain it ran.
#[derive(Debug, Clone)]
pub(super) enum LocalState {
    /// The drain task runs.
    Running,
    /// The node is drained.
    Done,
    /// The drain failed with this message.
    Failed(String),
}

/// Aborts the task when dropped, unless detached.
#[derive(Debug)]
struct Task(Option<JoinHandle<()>>);

impl Task {
    /// Lets the task run to its end (it is reporting its own end).
    fn detach(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

#[derive(Debug)]
struct Entry {
    state: LocalState,
    /// Tells a finished task's report from a newer drain's entry.
    generation: u64,
    task: Option<Task>,
}

/// The drains of this replica, by node.
#[derive(Debug, Default)]
pub(super) struct LocalDrains {
    entries: Mutex<(u64, HashMap<String, Entry>)>,
}

impl LocalDrains {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, HashMap<String, Entry>)> {
        // Entries are replaced whole; a poisoned map is still consistent.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The state of `node`'s drain, if this replica runs or ran one.
    pub(super) fn state(&self, node: &str) -> Option<LocalState> {
        self.lock().1.get(node).map(|e| e.state.clone())
    }

    /// A generation for the next drain of a node (hand it to [`LocalDrains::started`]).
    pub(super) fn next_generation(&self) -> u64 {
        let mut guard = self.lock();
        guard.0 += 1;
        guard.0
    }

    /// Records the running task of `node`'s drain.
    pub(super) fn started(&self, node: &str, generation: u64, task: JoinHandle<()>) {
        self.lock().1.insert(
            node.to_owned(),
            Entry {
                state: LocalState::Running,
                generation,
                task: Some(Task(Some(task))),
            },
        );
    }

    /// The drain task of `generation` ended in `state` (`None`: it stopped; forget it).
    pub(super) fn ended(&self, node: &str, generation: u64, state: Option<LocalState>) {
        let mut guard = self.lock();
        let map = &mut guard.1;
        if map.get(node).is_some_and(|e| e.generation == generation) {
            match state {
                Some(state) => {
                    if let Some(entry) = map.get_mut(node) {
                        entry.state = state;
                        // The task is ending by itself: detach, do not abort it.
                        if let Some(task) = entry.task.take() {
                            task.detach();
                        }
                    }
                }
                None => {
                    if let Some(mut entry) = map.remove(node)
                        && let Some(task) = entry.task.take()
                    {
                        task.detach();
                    }
                }
            }
        }
    }

    /// Stops `node`'s drain, if one runs, and waits until its task has ended: no eviction of
    /// it is sent after this returns. Forgets what was known of the node.
    pub(super) async fn cancel(&self, node: &str) {
        let entry = self.lock().1.remove(node);
        if let Some(handle) = entry
            .and_then(|mut e| e.task.take())
            .and_then(|mut t| t.0.take())
        {
            handle.abort();
            let _ = handle.await;
        }
    }
}
