//! The running controllers: one tokio task each, started together and stopped together.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::config::ControllerConfig;
use super::reconciler::run;
use super::{daemonset, kubelet, pdb, replicaset};
use crate::store::Store;

/// The running controller tasks. Dropping it stops them.
#[derive(Debug)]
pub struct Controllers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Controllers {
    /// Starts the controllers `config` switches on, over `store`. Must be called inside a tokio
    /// runtime.
    pub fn start(store: &Arc<Store>, config: &ControllerConfig) -> Self {
        let (stop, _) = watch::channel(false);
        let mut tasks = Vec::new();
        if config.kubelet {
            let r = kubelet::Kubelet::new(config);
            tasks.push(tokio::spawn(run(store.clone(), r, stop.subscribe())));
        }
        if config.replicasets {
            let r = replicaset::ReplicaSetController::new(config);
            tasks.push(tokio::spawn(run(store.clone(), r, stop.subscribe())));
        }
        if config.daemonsets {
            let r = daemonset::DaemonSetController::new(config);
            tasks.push(tokio::spawn(run(store.clone(), r, stop.subscribe())));
        }
        if config.pdbs {
            let r = pdb::DisruptionController::new(config);
            tasks.push(tokio::spawn(run(store.clone(), r, stop.subscribe())));
        }
        Self { stop, tasks }
    }

    /// Stops every controller and waits until their tasks have ended.
    pub async fn stop(mut self) {
        self.stop.send_replace(true);
        for t in std::mem::take(&mut self.tasks) {
            // A task that panicked has ended too; nothing else to do with its error.
            let _ = t.await;
        }
    }
}

impl Drop for Controllers {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}
