//! The gate's checks, each a function that reads what it needs and returns its reasons (empty:
//! passed). A failed read is an [`Unhealthy::CheckFailed`], never a pass.

use blockers::{PrometheusQuery, QuerySample};
use futures::future::join_all;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams};

use crate::attempt::{NodeBoot, get_node};
use crate::status::{expected_ready, ns_name, pod_ready};
use crate::{Attempt, ObjectRef, Unhealthy, WorkloadRef};

/// How many series of a non-empty query a reason shows.
const QUERY_EXAMPLES: usize = 3;

/// The Node is Ready and its boot ID differs from the attempt's.
pub(crate) async fn node(client: &kube::Client, node: &str, attempt: &Attempt) -> Vec<Unhealthy> {
    let boot = match get_node(client, node).await {
        Ok(n) => NodeBoot::of(&n),
        Err(e) => return vec![Unhealthy::CheckFailed(e.to_string())],
    };
    let mut out = Vec::new();
    if !boot.ready {
        out.push(Unhealthy::NodeNotReady {
            node: node.to_string(),
        });
    }
    if !boot.rebooted_since(attempt) {
        out.push(Unhealthy::BootIdUnchanged {
            node: node.to_string(),
        });
    }
    out
}

/// Every DaemonSet-managed pod on the node that should run is Ready.
pub(crate) async fn daemonset_pods(client: &kube::Client, node: &str) -> Vec<Unhealthy> {
    let on_node = ListParams::default().fields(&format!("spec.nodeName={node}"));
    let pods = match Api::<Pod>::all(client.clone()).list(&on_node).await {
        Ok(list) => list.items,
        Err(e) => {
            return vec![Unhealthy::CheckFailed(format!(
                "listing the pods on node {node}: {e}"
            ))];
        }
    };
    pods.iter()
        .filter(|p| drain::select::daemonset_owner(p).is_some())
        .filter(|p| expected_ready(p) && !pod_ready(p))
        .map(|p| {
            let (namespace, name) = ns_name(&p.metadata);
            Unhealthy::DaemonSetPodNotReady { namespace, name }
        })
        .collect()
}

/// Every PDB has `currentHealthy >= desiredHealthy`; a PDB that no longer exists passes.
pub(crate) async fn pdbs(client: &kube::Client, pdbs: &[ObjectRef]) -> Vec<Unhealthy> {
    join_all(pdbs.iter().map(|r| pdb(client, r)))
        .await
        .into_iter()
        .flatten()
        .collect()
}

async fn pdb(client: &kube::Client, r: &ObjectRef) -> Option<Unhealthy> {
    let got = Api::<PodDisruptionBudget>::namespaced(client.clone(), &r.namespace)
        .get_opt(&r.name)
        .await;
    let pdb = match got {
        Ok(Some(pdb)) => pdb,
        Ok(None) => return None,
        Err(e) => {
            return Some(Unhealthy::CheckFailed(format!(
                "reading poddisruptionbudget {r}: {e}"
            )));
        }
    };
    let Some(status) = pdb.status else {
        return Some(Unhealthy::CheckFailed(format!(
            "poddisruptionbudget {r} has no status yet"
        )));
    };
    (status.current_healthy < status.desired_healthy).then(|| Unhealthy::PdbShort {
        namespace: r.namespace.clone(),
        name: r.name.clone(),
        current_healthy: status.current_healthy,
        desired_healthy: status.desired_healthy,
    })
}

/// Every workload has `status.readyReplicas >= spec.replicas`; one that no longer exists
/// passes.
pub(crate) async fn workloads(client: &kube::Client, workloads: &[WorkloadRef]) -> Vec<Unhealthy> {
    join_all(workloads.iter().map(|w| workload(client, w)))
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// `(ready, desired)` replicas of a workload, `None` when it is gone.
type Replicas = Option<(i32, i32)>;

async fn workload(client: &kube::Client, w: &WorkloadRef) -> Option<Unhealthy> {
    let (c, ns, name) = (client.clone(), w.namespace.as_str(), w.name.as_str());
    let got: Result<Replicas, kube::Error> = match w.kind.as_str() {
        "Deployment" => Api::<Deployment>::namespaced(c, ns)
            .get_opt(name)
            .await
            .map(|d| {
                d.map(|d| {
                    let desired = d.spec.and_then(|s| s.replicas).unwrap_or(1);
                    let ready = d.status.and_then(|s| s.ready_replicas).unwrap_or(0);
                    (ready, desired)
                })
            }),
        "StatefulSet" => Api::<StatefulSet>::namespaced(c, ns)
            .get_opt(name)
            .await
            .map(|s| {
                s.map(|s| {
                    let desired = s.spec.and_then(|s| s.replicas).unwrap_or(1);
                    let ready = s.status.and_then(|s| s.ready_replicas).unwrap_or(0);
                    (ready, desired)
                })
            }),
        "ReplicaSet" => Api::<ReplicaSet>::namespaced(c, ns)
            .get_opt(name)
            .await
            .map(|r| {
                r.map(|r| {
                    let desired = r.spec.and_then(|s| s.replicas).unwrap_or(1);
                    let ready = r.status.and_then(|s| s.ready_replicas).unwrap_or(0);
                    (ready, desired)
                })
            }),
        other => {
            return Some(Unhealthy::CheckFailed(format!(
                "{w}: the gate cannot count replicas of kind {other:?}"
            )));
        }
    };
    match got {
        Ok(Some((ready, desired))) if ready < desired => Some(Unhealthy::WorkloadShort {
            kind: w.kind.clone(),
            namespace: w.namespace.clone(),
            name: w.name.clone(),
            ready,
            desired,
        }),
        Ok(_) => None,
        Err(e) => Some(Unhealthy::CheckFailed(format!("reading {w}: {e}"))),
    }
}

/// The query returns no series.
pub(crate) async fn query(query: &PrometheusQuery) -> Vec<Unhealthy> {
    match query.samples().await {
        Ok(samples) if samples.is_empty() => Vec::new(),
        Ok(samples) => vec![Unhealthy::QueryNotEmpty {
            query: query.query().to_string(),
            series: samples.len(),
            examples: samples.iter().take(QUERY_EXAMPLES).map(labels).collect(),
        }],
        Err(e) => vec![Unhealthy::CheckFailed(e.to_string())],
    }
}

/// `{instance="a", job="x"}`.
fn labels(sample: &QuerySample) -> String {
    let pairs: Vec<String> = sample
        .metric
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// Every pod the selector matches (all namespaces) that should run is Ready.
pub(crate) async fn selected_pods(client: &kube::Client, selector: &str) -> Vec<Unhealthy> {
    let params = ListParams::default().labels(selector);
    match Api::<Pod>::all(client.clone()).list(&params).await {
        Ok(list) => list
            .items
            .iter()
            .filter(|p| expected_ready(p) && !pod_ready(p))
            .map(|p| {
                let (namespace, name) = ns_name(&p.metadata);
                Unhealthy::SelectedPodNotReady { namespace, name }
            })
            .collect(),
        Err(e) => vec![Unhealthy::CheckFailed(format!(
            "listing the pods matching {selector:?}: {e}"
        ))],
    }
}
