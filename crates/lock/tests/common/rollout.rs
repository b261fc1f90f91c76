//! The rollout annotation read and written raw, as an operator (or `kubectl`) would.

use std::process::Command;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use kubesim::cluster::RunningCluster;
use lock::ROLLOUT_ANNOTATION;
use serde_json::json;

use super::{Backend, NAME, NAMESPACE};

/// The Lease carrying the rollout state.
pub fn lease0() -> String {
    format!("{NAME}-0")
}

impl Backend {
    /// The rollout annotation's text on the object that carries it (`None` when absent or
    /// when the Lease does not exist).
    pub async fn raw_rollout(self, client: &Client) -> Option<String> {
        let annotations = match self.kind {
            lock::Backend::Annotation => {
                let api: Api<DaemonSet> = Api::namespaced(client.clone(), NAMESPACE);
                api.get(NAME).await.expect("get ds").metadata.annotations
            }
            lock::Backend::Lease => {
                let api: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
                api.get_opt(&lease0())
                    .await
                    .expect("get lease")?
                    .metadata
                    .annotations
            }
        };
        annotations.and_then(|mut a| a.remove(ROLLOUT_ANNOTATION))
    }

    /// Sets the rollout annotation to `text` without any precondition (creating Lease 0
    /// without a holder when missing).
    pub async fn plant_rollout(self, client: &Client, text: &str) {
        let patch = json!({"metadata": {"annotations": {ROLLOUT_ANNOTATION: text}}});
        match self.kind {
            lock::Backend::Annotation => {
                let api: Api<DaemonSet> = Api::namespaced(client.clone(), NAMESPACE);
                api.patch(NAME, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .expect("annotate ds");
            }
            lock::Backend::Lease => {
                let api: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
                if api.get_opt(&lease0()).await.expect("get lease").is_none() {
                    let lease: Lease = serde_json::from_value(json!({
                        "metadata": {"name": lease0(), "namespace": NAMESPACE},
                        "spec": {},
                    }))
                    .unwrap();
                    api.create(&PostParams::default(), &lease)
                        .await
                        .expect("create lease");
                }
                api.patch(&lease0(), &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .expect("annotate lease");
            }
        }
    }

    /// The operator's documented resume, run with the real `kubectl` against `cluster`:
    /// `kubectl -n kube-system annotate daemonset kured kured-rs.dev/rollout-` (or `lease
    /// kured-0`).
    pub async fn kubectl_resume(self, cluster: &RunningCluster) {
        let path = std::env::temp_dir().join(format!(
            "kured-lock-rollout-{}-{}.kubeconfig.json",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        cluster.kubeconfig(&path).expect("write kubeconfig");
        let (kind, name) = match self.kind {
            lock::Backend::Annotation => ("daemonset", NAME.to_string()),
            lock::Backend::Lease => ("lease", lease0()),
        };
        let args: Vec<String> = [
            "--kubeconfig",
            path.to_str().expect("utf-8 temp path"),
            "-n",
            NAMESPACE,
            "annotate",
            kind,
            &name,
            &format!("{ROLLOUT_ANNOTATION}-"),
        ]
        .into_iter()
        .map(String::from)
        .collect();
        // kubectl blocks; kubesim serves on this test's runtime.
        let out = tokio::task::spawn_blocking(move || Command::new("kubectl").args(&args).output())
            .await
            .expect("kubectl task")
            .expect("run kubectl");
        let _ = std::fs::remove_file(&path);
        assert!(
            out.status.success(),
            "kubectl annotate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
