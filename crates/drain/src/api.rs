//! The pod-level API calls of the drain engine ([`PodApi`]) and their Kubernetes
//! implementation ([`KubePodApi`]).
//!
//! Evictions are POSTed as hand-built `policy/v1` `Eviction` JSON with
//! `deleteOptions.gracePeriodSeconds` (camelCase, as the API server decodes it) and
//! `deleteOptions.preconditions.uid`, under `?fieldValidation=Strict` so a misspelt field is a
//! 400 rather than a silently dropped option. (kube 5's `Api::evict` serialises the options as
//! `delete_options`, which the server ignores with a `Warning: 299 unknown field`: the grace
//! period never arrives.) The uid precondition makes the eviction of a pod that was replaced by a
//! new one with the same name (StatefulSet) a `409` — the old pod is gone — instead of evicting
//! the new one.

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, DeleteParams, ListParams, Preconditions, WatchEvent, WatchParams};
use serde_json::{Value, json};

use crate::types::PodRef;

/// The reason of a 429 caused by a PodDisruptionBudget (`details.causes[].reason`).
pub const DISRUPTION_BUDGET_CAUSE: &str = "DisruptionBudget";

/// Pods listed on a node, with the list's resourceVersion (to watch from).
#[derive(Debug, Clone, Default)]
pub struct PodList {
    /// The pods.
    pub pods: Vec<Pod>,
    /// `metadata.resourceVersion` of the list.
    pub resource_version: String,
}

/// How the server answered an eviction (or a fallback delete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvictResponse {
    /// Accepted (201): the pod is being deleted.
    Evicted,
    /// 404: the pod is already gone.
    NotFound,
    /// 409 on the uid precondition (`Precondition failed: UID in precondition: …`): the name
    /// now belongs to a new pod; ours is gone.
    UidChanged,
    /// 429: not now.
    TooManyRequests {
        /// A PodDisruptionBudget refused it (`DisruptionBudget` cause).
        pdb: bool,
        /// The server's message (and cause).
        message: String,
        /// The server's `retryAfterSeconds`, if any.
        retry_after: Option<Duration>,
    },
    /// Worth retrying: 5xx, a 403 because the namespace is terminating, or no answer at all.
    Retryable {
        /// The HTTP status, if the server answered.
        code: Option<u16>,
        /// The message.
        message: String,
    },
    /// Refused for good (400, 403, 422, …).
    Rejected {
        /// The HTTP status.
        code: u16,
        /// The message.
        message: String,
    },
}

/// What happened to a pod on the watched node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodEvent {
    /// The pod exists in this state (added or modified).
    Present {
        /// The pod.
        pod: PodRef,
        /// Its `deletionTimestamp`.
        deletion: Option<Timestamp>,
    },
    /// The pod was deleted.
    Deleted(PodRef),
    /// The watch can no longer continue from its resourceVersion (410 Gone): relist.
    Expired,
}

/// A stream of pod events for one node; it ends when the server closes the watch.
pub type PodEventStream = BoxStream<'static, Result<PodEvent, kube::Error>>;

/// The state of a PodDisruptionBudget, as listed or watched.
#[derive(Debug, Clone, PartialEq)]
pub struct PdbState {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `spec.selector`.
    pub selector: Option<LabelSelector>,
    /// `status.disruptionsAllowed`.
    pub disruptions_allowed: i32,
}

/// Every PDB's state (first the current ones, then changes); ends when the watch closes.
pub type PdbEventStream = BoxStream<'static, Result<PdbState, kube::Error>>;

/// The pod-level API calls the drain engine makes (the seam for its unit tests).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PodApi: Send + Sync {
    /// Pods with `spec.nodeName == node`, optionally filtered by a label selector.
    async fn list_pods_on_node(
        &self,
        node: &str,
        label_selector: Option<String>,
    ) -> Result<PodList, kube::Error>;

    /// Whether the DaemonSet `namespace/name` exists.
    async fn daemonset_exists(&self, namespace: &str, name: &str) -> Result<bool, kube::Error>;

    /// POSTs an Eviction for `pod` (grace period `None` = the pod's own).
    async fn evict(&self, pod: &PodRef, grace_period_seconds: Option<i64>) -> EvictResponse;

    /// Deletes `pod` directly, bypassing PodDisruptionBudgets (the opt-in fallback).
    async fn delete(&self, pod: &PodRef, grace_period_seconds: Option<i64>) -> EvictResponse;

    /// Watches pods with `spec.nodeName == node` from `resource_version`.
    async fn watch_pods_on_node(
        &self,
        node: &str,
        resource_version: &str,
    ) -> Result<PodEventStream, kube::Error>;

    /// Lists and then watches PodDisruptionBudgets in all namespaces, so evictions a budget
    /// refused are retried as soon as it allows disruptions again.
    async fn watch_pdbs(&self) -> Result<PdbEventStream, kube::Error>;
}

/// The Eviction body the engine sends.
pub fn eviction_body(pod: &PodRef, grace_period_seconds: Option<i64>) -> Value {
    let mut options = json!({});
    if let Some(g) = grace_period_seconds {
        options["gracePeriodSeconds"] = json!(g);
    }
    if !pod.uid.is_empty() {
        options["preconditions"] = json!({"uid": pod.uid});
    }
    json!({
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod.name, "namespace": pod.namespace},
        "deleteOptions": options,
    })
}

/// Classifies a failed eviction or delete call.
pub fn classify_error(e: &kube::Error) -> EvictResponse {
    let kube::Error::Api(s) = e else {
        return EvictResponse::Retryable {
            code: None,
            message: e.to_string(),
        };
    };
    let causes = s
        .details
        .as_ref()
        .map(|d| d.causes.as_slice())
        .unwrap_or_default();
    let cause_text = causes
        .iter()
        .map(|c| c.message.as_str())
        .filter(|m| !m.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let message = if cause_text.is_empty() {
        s.message.clone()
    } else {
        format!("{} ({cause_text})", s.message)
    };
    match s.code {
        404 => EvictResponse::NotFound,
        // The uid precondition failed: the name belongs to a new pod. Any other conflict is
        // transient (kube-apiserver's own resourceVersion guard).
        409 if s.message.contains("UID in precondition") => EvictResponse::UidChanged,
        409 => EvictResponse::Retryable {
            code: Some(409),
            message,
        },
        429 => EvictResponse::TooManyRequests {
            pdb: causes.iter().any(|c| c.reason == DISRUPTION_BUDGET_CAUSE)
                || s.message.contains("disruption budget"),
            message,
            retry_after: s
                .details
                .as_ref()
                .map(|d| d.retry_after_seconds)
                .filter(|s| *s > 0)
                .map(|s| Duration::from_secs(u64::from(s))),
        },
        403 if causes.iter().any(|c| c.reason == "NamespaceTerminating") => {
            EvictResponse::Retryable {
                code: Some(403),
                message,
            }
        }
        c if c >= 500 => EvictResponse::Retryable {
            code: Some(c),
            message,
        },
        c => EvictResponse::Rejected { code: c, message },
    }
}

/// [`PodApi`] over the Kubernetes API.
#[derive(Clone)]
pub struct KubePodApi {
    client: kube::Client,
    watch_timeout_secs: u32,
}

impl std::fmt::Debug for KubePodApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubePodApi")
            .field("watch_timeout_secs", &self.watch_timeout_secs)
            .finish_non_exhaustive()
    }
}

impl KubePodApi {
    /// Pod calls through `client` (watches are re-opened every 290 s).
    ///
    /// The client should be built with [`kube::Config::default_retry`] off (see
    /// [`Self::from_config`]): kube's default client retries every 429 up to 15 times with a
    /// backoff growing to minutes, inside the request, so a PodDisruptionBudget refusal never
    /// reaches the engine (no events, no PDB fallback, a timeout that cannot say why) and each
    /// hidden retry is still a request to the API server.
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            watch_timeout_secs: 290,
        }
    }

    /// Pod calls through a client built from `config` with kube's built-in retry of
    /// 429/503/504 switched off (the engine retries by itself, visibly).
    pub fn from_config(mut config: kube::Config) -> Result<Self, kube::Error> {
        config.default_retry = false;
        Ok(Self::new(kube::Client::try_from(config)?))
    }

    fn pods(&self, namespace: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), namespace)
    }
}

fn pdb_state(p: &PodDisruptionBudget) -> PdbState {
    PdbState {
        namespace: p.metadata.namespace.clone().unwrap_or_default(),
        name: p.metadata.name.clone().unwrap_or_default(),
        selector: p.spec.as_ref().and_then(|s| s.selector.clone()),
        disruptions_allowed: p.status.as_ref().map_or(0, |s| s.disruptions_allowed),
    }
}

fn node_selector(node: &str) -> String {
    format!("spec.nodeName={node}")
}

fn to_event(ev: WatchEvent<Pod>) -> Option<Result<PodEvent, kube::Error>> {
    match ev {
        WatchEvent::Added(p) | WatchEvent::Modified(p) => Some(Ok(PodEvent::Present {
            deletion: crate::select::deletion_timestamp(&p),
            pod: PodRef::of(&p),
        })),
        WatchEvent::Deleted(p) => Some(Ok(PodEvent::Deleted(PodRef::of(&p)))),
        WatchEvent::Bookmark(_) => None,
        WatchEvent::Error(s) if s.code == 410 => Some(Ok(PodEvent::Expired)),
        WatchEvent::Error(s) => Some(Err(kube::Error::Api(s))),
    }
}

#[async_trait]
impl PodApi for KubePodApi {
    async fn list_pods_on_node(
        &self,
        node: &str,
        label_selector: Option<String>,
    ) -> Result<PodList, kube::Error> {
        let api: Api<Pod> = Api::all(self.client.clone());
        let mut lp = ListParams::default().fields(&node_selector(node));
        if let Some(sel) = label_selector.as_deref().filter(|s| !s.is_empty()) {
            lp = lp.labels(sel);
        }
        let list = api.list(&lp).await?;
        Ok(PodList {
            resource_version: list.metadata.resource_version.unwrap_or_default(),
            pods: list.items,
        })
    }

    async fn daemonset_exists(&self, namespace: &str, name: &str) -> Result<bool, kube::Error> {
        let api: Api<DaemonSet> = Api::namespaced(self.client.clone(), namespace);
        Ok(api.get_opt(name).await?.is_some())
    }

    async fn evict(&self, pod: &PodRef, grace_period_seconds: Option<i64>) -> EvictResponse {
        let body = eviction_body(pod, grace_period_seconds);
        let uri = format!(
            "/api/v1/namespaces/{}/pods/{}/eviction?fieldValidation=Strict",
            pod.namespace, pod.name
        );
        let bytes = match serde_json::to_vec(&body) {
            Ok(b) => b,
            Err(e) => {
                return EvictResponse::Rejected {
                    code: 0,
                    message: format!("cannot encode the Eviction: {e}"),
                };
            }
        };
        let req = match http::Request::post(uri)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(bytes)
        {
            Ok(r) => r,
            Err(e) => {
                return EvictResponse::Rejected {
                    code: 0,
                    message: format!("cannot build the eviction request: {e}"),
                };
            }
        };
        match self.client.request::<Value>(req).await {
            Ok(_) => EvictResponse::Evicted,
            Err(e) => classify_error(&e),
        }
    }

    async fn delete(&self, pod: &PodRef, grace_period_seconds: Option<i64>) -> EvictResponse {
        let dp = DeleteParams {
            grace_period_seconds: grace_period_seconds.and_then(|g| u32::try_from(g).ok()),
            preconditions: (!pod.uid.is_empty()).then(|| Preconditions {
                uid: Some(pod.uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match self.pods(&pod.namespace).delete(&pod.name, &dp).await {
            Ok(_) => EvictResponse::Evicted,
            Err(e) => classify_error(&e),
        }
    }

    async fn watch_pdbs(&self) -> Result<PdbEventStream, kube::Error> {
        let api: Api<PodDisruptionBudget> = Api::all(self.client.clone());
        let list = api.list(&ListParams::default()).await?;
        let rv = list.metadata.resource_version.clone().unwrap_or_default();
        let initial: Vec<Result<PdbState, kube::Error>> =
            list.items.iter().map(|p| Ok(pdb_state(p))).collect();
        let wp = WatchParams::default().timeout(self.watch_timeout_secs);
        let changes = api.watch(&wp, &rv).await?.filter_map(|ev| async move {
            match ev {
                Ok(WatchEvent::Added(p) | WatchEvent::Modified(p)) => Some(Ok(pdb_state(&p))),
                Ok(WatchEvent::Deleted(_) | WatchEvent::Bookmark(_)) => None,
                Ok(WatchEvent::Error(s)) => Some(Err(kube::Error::Api(s))),
                Err(e) => Some(Err(e)),
            }
        });
        Ok(futures::stream::iter(initial).chain(changes).boxed())
    }

    async fn watch_pods_on_node(
        &self,
        node: &str,
        resource_version: &str,
    ) -> Result<PodEventStream, kube::Error> {
        let api: Api<Pod> = Api::all(self.client.clone());
        let wp = WatchParams::default()
            .fields(&node_selector(node))
            .timeout(self.watch_timeout_secs);
        let stream = api.watch(&wp, resource_version).await?;
        Ok(stream
            .map_ok(to_event)
            .filter_map(|r| async move {
                match r {
                    Ok(Some(ev)) => Some(ev),
                    Ok(None) => None,
                    Err(e) => Some(Err(e)),
                }
            })
            .boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;
    use kube::core::response::{StatusCause, StatusDetails};

    fn status(code: u16, message: &str, causes: &[(&str, &str)], retry: u32) -> kube::Error {
        kube::Error::Api(Box::new(Status {
            code,
            message: message.into(),
            details: Some(StatusDetails {
                causes: causes
                    .iter()
                    .map(|(r, m)| StatusCause {
                        reason: (*r).into(),
                        message: (*m).into(),
                        field: String::new(),
                    })
                    .collect(),
                retry_after_seconds: retry,
                name: String::new(),
                group: String::new(),
                kind: String::new(),
                uid: String::new(),
            }),
            ..Status::default()
        }))
    }

    #[test]
    fn eviction_body_uses_camel_case_delete_options_and_uid_precondition() {
        let body = eviction_body(&PodRef::new("ns", "p", "u-1"), Some(0));
        assert_eq!(
            body,
            json!({"apiVersion": "policy/v1", "kind": "Eviction",
                   "metadata": {"name": "p", "namespace": "ns"},
                   "deleteOptions": {"gracePeriodSeconds": 0, "preconditions": {"uid": "u-1"}}})
        );
        let body = eviction_body(&PodRef::new("ns", "p", ""), None);
        assert_eq!(body["deleteOptions"], json!({}));
    }

    #[test]
    fn classifies_eviction_errors() {
        let pdb = status(
            429,
            "Cannot evict pod as it would violate the pod's disruption budget.",
            &[("DisruptionBudget", "needs 3 healthy pods")],
            0,
        );
        match classify_error(&pdb) {
            EvictResponse::TooManyRequests {
                pdb,
                message,
                retry_after,
            } => {
                assert!(pdb);
                assert!(message.contains("needs 3 healthy pods"), "{message}");
                assert_eq!(retry_after, None);
            }
            other => panic!("{other:?}"),
        }
        let throttled = status(429, "slow down", &[], 2);
        assert_eq!(
            classify_error(&throttled),
            EvictResponse::TooManyRequests {
                pdb: false,
                message: "slow down".into(),
                retry_after: Some(Duration::from_secs(2)),
            }
        );
        assert_eq!(
            classify_error(&status(404, "x", &[], 0)),
            EvictResponse::NotFound
        );
        assert_eq!(
            classify_error(&status(
                409,
                "Operation cannot be fulfilled on Pod \"p\": Precondition failed: UID in \
                 precondition: a, UID in object meta: b",
                &[],
                0
            )),
            EvictResponse::UidChanged
        );
        assert!(matches!(
            classify_error(&status(409, "the object has been modified", &[], 0)),
            EvictResponse::Retryable {
                code: Some(409),
                ..
            }
        ));
        assert!(matches!(
            classify_error(&status(500, "multiple PDBs", &[], 0)),
            EvictResponse::Retryable {
                code: Some(500),
                ..
            }
        ));
        assert!(matches!(
            classify_error(&status(
                403,
                "ns terminating",
                &[("NamespaceTerminating", "")],
                0
            )),
            EvictResponse::Retryable {
                code: Some(403),
                ..
            }
        ));
        assert!(matches!(
            classify_error(&status(403, "forbidden", &[], 0)),
            EvictResponse::Rejected { code: 403, .. }
        ));
        let transport = kube::Error::LinesCodecMaxLineLengthExceeded;
        assert!(matches!(
            classify_error(&transport),
            EvictResponse::Retryable { code: None, .. }
        ));
    }
}
