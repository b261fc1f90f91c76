//! Unit tests of the engine's retry, waiting and selection wiring, without HTTP: mockall's
//! `MockPodApi` scripts the server's answers; a small hand-written fake measures concurrency.
//! `escalation`: the PDB stuck report and the escalation delete; `fake`: concurrency and
//! relisting on a hand-written fake server.

mod escalation;
mod fake;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::collections::BTreeMap;

use futures::channel::mpsc::{UnboundedSender, unbounded};
use futures::{FutureExt, StreamExt};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use super::pdb::PdbWaiters;
use super::*;
use crate::api::{EvictResponse, MockPodApi, PdbState, PodEvent, PodList};
use crate::error::PendingState;
use backoff::{Backoff, Jitter};

type Tx = UnboundedSender<Result<PodEvent, kube::Error>>;

fn pod(name: &str, owned: bool) -> Pod {
    let mut v = json!({
        "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}")},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": "Running"},
    });
    if owned {
        v["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "name": "rs", "uid": "rs", "controller": true}]);
    }
    serde_json::from_value(v).unwrap()
}

fn r(name: &str) -> PodRef {
    PodRef::new("ns", name, format!("uid-{name}"))
}

fn pdb_429() -> EvictResponse {
    EvictResponse::TooManyRequests {
        pdb: true,
        message: "Cannot evict pod as it would violate the pod's disruption budget.".into(),
        retry_after: None,
    }
}

fn fast_options() -> DrainOptions {
    DrainOptions {
        retry: Backoff::new(Duration::from_millis(2), Duration::from_millis(10))
            .jitter(Jitter::Equal),
        ..DrainOptions::default()
    }
}

/// What the scripted server does after an accepted eviction.
#[derive(Clone, Copy, PartialEq, Eq)]
enum After {
    /// The pod is deleted (watch DELETED).
    Delete,
    /// The pod stays terminating (no event).
    Stay,
    /// A new pod with the same name and a new uid appears (watch ADDED).
    Replace,
    /// The pod is terminating with a deletionTimestamp 100 s in the past (watch MODIFIED).
    LongTerminating,
}

struct Script {
    pods: Vec<Pod>,
    /// Per pod name: the answers in order (the last one repeats).
    answers: HashMap<String, Vec<EvictResponse>>,
    after: HashMap<String, After>,
}

struct Scripted {
    api: MockPodApi,
    calls: Arc<Mutex<Vec<String>>>,
}

fn notify(tx: &Tx, pod: &PodRef, after: After) {
    let ev = match after {
        After::Delete => PodEvent::Deleted(pod.clone()),
        After::Stay => return,
        After::Replace => PodEvent::Present {
            pod: PodRef::new(&pod.namespace, &pod.name, "a-new-uid"),
            deletion: None,
        },
        After::LongTerminating => PodEvent::Present {
            pod: pod.clone(),
            deletion: Some(Timestamp::now() - jiff::SignedDuration::from_secs(100)),
        },
    };
    let _ = tx.unbounded_send(Ok(ev));
}

/// Lets `api` open one watch of the node's pods; returns the sender of its events.
fn one_pod_watch(api: &mut MockPodApi) -> Tx {
    let (tx, rx) = unbounded();
    let mut rx = Some(rx);
    api.expect_watch_pods_on_node()
        .returning(move |_, _| Ok(rx.take().expect("one watch").boxed()));
    tx
}

fn scripted(script: Script) -> Scripted {
    scripted_with(script, Budgets::default())
}

/// The PodDisruptionBudgets a scripted server shows, and which pods a label selector matches.
#[derive(Default)]
struct Budgets {
    /// What the PDB watch shows first (then nothing).
    pdbs: Vec<PdbState>,
    /// The answer to a list of the node's pods with a label selector: `(selector, pod names)`.
    selected: Option<(&'static str, Vec<&'static str>)>,
    /// The grace period every eviction must carry.
    grace: Option<i64>,
}

fn scripted_with(script: Script, budgets: Budgets) -> Scripted {
    let mut api = MockPodApi::new();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = unbounded();
    let pods = script.pods.clone();
    api.expect_list_pods_on_node()
        .withf(|_, selector| selector.is_none())
        .times(1)
        .returning(move |_, _| {
            Ok(PodList {
                pods: pods.clone(),
                resource_version: "10".into(),
            })
        });
    if let Some((selector, names)) = budgets.selected {
        let pods = script.pods.clone();
        let log = calls.clone();
        api.expect_list_pods_on_node()
            .withf(|_, s| s.is_some())
            .returning(move |node, s| {
                assert_eq!((node, s.as_deref()), ("n1", Some(selector)));
                log.lock().unwrap().push(format!("list {selector}"));
                let pods = pods
                    .iter()
                    .filter(|p| names.contains(&p.metadata.name.as_deref().unwrap_or("")))
                    .cloned()
                    .collect();
                Ok(PodList {
                    pods,
                    resource_version: "11".into(),
                })
            });
    }
    api.expect_daemonset_exists().returning(|_, _| Ok(true));
    let pdbs = budgets.pdbs;
    api.expect_watch_pdbs().times(0..=1).returning(move || {
        let shown: Vec<Result<PdbState, kube::Error>> = pdbs.iter().cloned().map(Ok).collect();
        Ok(futures::stream::iter(shown)
            .chain(futures::stream::pending())
            .boxed())
    });
    let mut rx = Some(rx);
    api.expect_watch_pods_on_node()
        .times(0..=1)
        .returning(move |node, rv| {
            assert_eq!(
                (node, rv),
                ("n1", "10"),
                "watch from the list's resourceVersion"
            );
            Ok(rx.take().expect("one watch").boxed())
        });
    let answers = Arc::new(Mutex::new(script.answers));
    let after = script.after.clone();
    let log = calls.clone();
    let evict_tx = tx.clone();
    let expected_grace = budgets.grace;
    api.expect_evict().returning(move |pod, grace| {
        assert_eq!(grace, expected_grace, "grace -1 means the pod's own");
        log.lock().unwrap().push(format!("evict {}", pod.name));
        let mut answers = answers.lock().unwrap();
        let list = answers.get_mut(&pod.name).expect("scripted pod");
        let answer = if list.len() > 1 {
            list.remove(0)
        } else {
            list[0].clone()
        };
        if answer == EvictResponse::Evicted {
            notify(
                &evict_tx,
                pod,
                after.get(&pod.name).copied().unwrap_or(After::Delete),
            );
        }
        answer
    });
    let log = calls.clone();
    api.expect_delete().returning(move |pod, grace| {
        log.lock().unwrap().push(format!("delete {}", pod.name));
        log.lock()
            .unwrap()
            .push(format!("delete {} grace {grace:?}", pod.name));
        notify(&tx, pod, After::Delete);
        EvictResponse::Evicted
    });
    Scripted { api, calls }
}

fn collect_events(
    engine: DrainEngine<MockPodApi>,
) -> (DrainEngine<MockPodApi>, Arc<Mutex<Vec<DrainEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let engine = engine.on_event(move |e| sink.lock().unwrap().push(e.clone()));
    (engine, events)
}

fn count(calls: &Arc<Mutex<Vec<String>>>, what: &str) -> usize {
    calls.lock().unwrap().iter().filter(|c| *c == what).count()
}

#[tokio::test]
async fn retries_pdb_429_then_evicts_and_waits_for_deletion() {
    let s = scripted(Script {
        pods: vec![pod("a", true), pod("b", true)],
        answers: HashMap::from([
            (
                "a".into(),
                vec![pdb_429(), pdb_429(), EvictResponse::Evicted],
            ),
            ("b".into(), vec![EvictResponse::Evicted]),
        ]),
        after: HashMap::new(),
    });
    let (engine, events) = collect_events(DrainEngine::new(s.api, fast_options()));
    let report = engine.drain("n1").await.unwrap();
    assert_eq!(report.evicted, [r("a"), r("b")]);
    assert_eq!(count(&s.calls, "evict a"), 3);
    assert_eq!(count(&s.calls, "evict b"), 1);
    let events = events.lock().unwrap();
    let blocked = events
        .iter()
        .filter(|e| matches!(e, DrainEvent::BlockedByPdb { pod, .. } if *pod == r("a")))
        .count();
    assert_eq!(blocked, 2);
    let gone: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            DrainEvent::Gone(p) => Some(p.name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(gone.len(), 2, "{events:?}");
    assert!(matches!(events.first(), Some(DrainEvent::Selected { evict, .. }) if evict.len() == 2));
    assert!(matches!(events.last(), Some(DrainEvent::Finished { .. })));
}

#[tokio::test]
async fn server_errors_and_throttling_are_retried() {
    let s = scripted(Script {
        pods: vec![pod("a", true)],
        answers: HashMap::from([(
            "a".into(),
            vec![
                EvictResponse::Retryable {
                    code: Some(500),
                    message: "boom".into(),
                },
                EvictResponse::Retryable {
                    code: None,
                    message: "connection reset".into(),
                },
                EvictResponse::TooManyRequests {
                    pdb: false,
                    message: "slow down".into(),
                    retry_after: Some(Duration::from_millis(1)),
                },
                EvictResponse::Evicted,
            ],
        )]),
        after: HashMap::new(),
    });
    let (engine, events) = collect_events(DrainEngine::new(s.api, fast_options()));
    let report = engine.drain("n1").await.unwrap();
    assert_eq!(report.evicted, [r("a")]);
    assert_eq!(count(&s.calls, "evict a"), 4);
    let codes: Vec<Option<u16>> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            DrainEvent::Retrying { code, .. } => Some(*code),
            _ => None,
        })
        .collect();
    assert_eq!(codes, [Some(500), None, Some(429)]);
}

#[tokio::test]
async fn not_found_and_uid_conflict_count_as_gone() {
    let s = scripted(Script {
        pods: vec![pod("a", true), pod("b", true)],
        answers: HashMap::from([
            ("a".into(), vec![EvictResponse::NotFound]),
            ("b".into(), vec![EvictResponse::UidChanged]),
        ]),
        after: HashMap::new(),
    });
    let (engine, mut events) = DrainEngine::new(s.api, fast_options()).with_event_channel();
    let report = engine.drain("n1").await.unwrap();
    assert_eq!(report.already_gone, [r("a"), r("b")]);
    let mut gone = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let DrainEvent::AlreadyGone(p) = e {
            gone.push(p.name);
        }
    }
    gone.sort();
    assert_eq!(gone, ["a", "b"]);
    assert!(report.evicted.is_empty());
    assert_eq!(s.calls.lock().unwrap().len(), 2, "no retries");
}

#[tokio::test]
async fn a_new_uid_under_the_same_name_counts_as_gone() {
    let s = scripted(Script {
        pods: vec![pod("sts-0", true)],
        answers: HashMap::from([("sts-0".into(), vec![EvictResponse::Evicted])]),
        after: HashMap::from([("sts-0".into(), After::Replace)]),
    });
    let (engine, events) = collect_events(DrainEngine::new(s.api, fast_options()));
    let report = tokio::time::timeout(Duration::from_secs(5), engine.drain("n1"))
        .await
        .expect("the replacement ends the wait")
        .unwrap();
    assert_eq!(report.evicted, [r("sts-0")]);
    assert!(
        events
            .lock()
            .unwrap()
            .contains(&DrainEvent::Gone(r("sts-0")))
    );
}

#[tokio::test]
async fn rejected_eviction_fails_naming_the_pod_after_the_rest_is_done() {
    let s = scripted(Script {
        pods: vec![pod("a", true), pod("b", true)],
        answers: HashMap::from([
            (
                "a".into(),
                vec![EvictResponse::Rejected {
                    code: 403,
                    message: "forbidden".into(),
                }],
            ),
            ("b".into(), vec![EvictResponse::Evicted]),
        ]),
        after: HashMap::new(),
    });
    let err = DrainEngine::new(s.api, fast_options())
        .drain("n1")
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(err.pods(), [r("a")]);
    assert_eq!(
        err.to_string(),
        "drain of node n1: 1 eviction(s) failed: ns/a: forbidden (403)"
    );
    assert_eq!(count(&s.calls, "evict b"), 1);
}

#[tokio::test]
async fn timeout_lists_blocked_and_terminating_pods() {
    let s = scripted(Script {
        pods: vec![pod("a", true), pod("b", true), pod("c", true)],
        answers: HashMap::from([
            ("a".into(), vec![pdb_429()]),
            ("b".into(), vec![EvictResponse::Evicted]),
            ("c".into(), vec![EvictResponse::Evicted]),
        ]),
        after: HashMap::from([("b".into(), After::Stay)]),
    });
    let options = DrainOptions {
        timeout: Duration::from_millis(300),
        ..fast_options()
    };
    let started = Instant::now();
    let err = DrainEngine::new(s.api, options)
        .drain("n1")
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(err.is_retryable());
    let DrainError::Timeout { pending, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].pod, r("a"));
    assert!(
        matches!(&pending[0].state, PendingState::BlockedByPdb { pdbs, message } if pdbs.is_empty() && message.contains("disruption budget"))
    );
    assert_eq!(pending[1].pod, r("b"));
    assert_eq!(pending[1].state, PendingState::Terminating);
    let text = err.to_string();
    assert!(text.starts_with("drain of node n1 timed out after 300ms: 2 pod(s) left: ns/a (blocked by a PodDisruptionBudget: Cannot evict pod"), "{text}");
    assert!(
        text.ends_with("ns/b (evicted, still terminating)"),
        "{text}"
    );
    assert!(
        count(&s.calls, "evict a") > 3,
        "kept retrying until the timeout"
    );
}

#[tokio::test]
async fn refusal_evicts_nothing_and_names_every_pod() {
    let mut api = MockPodApi::new();
    api.expect_list_pods_on_node().returning(|_, _| {
        Ok(PodList {
            pods: vec![pod("bare-1", false), pod("ok", true), pod("bare-2", false)],
            resource_version: "1".into(),
        })
    });
    api.expect_evict().times(0);
    api.expect_watch_pods_on_node().times(0);
    let options = DrainOptions {
        force: false,
        ..fast_options()
    };
    let err = DrainEngine::new(api, options)
        .drain("n1")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot drain node n1: cannot delete Pods that declare no controller (use --force to \
         override): ns/bare-1, ns/bare-2"
    );
    assert_eq!(err.pods(), [r("bare-1"), r("bare-2")]);
}

#[tokio::test]
async fn pod_selector_and_grace_period_are_passed_through() {
    let mut api = MockPodApi::new();
    api.expect_list_pods_on_node()
        .withf(|node, sel| node == "n1" && sel.as_deref() == Some("app=web"))
        .times(1)
        .returning(|_, _| {
            Ok(PodList {
                pods: vec![pod("a", true)],
                resource_version: "1".into(),
            })
        });
    let tx = one_pod_watch(&mut api);
    api.expect_evict()
        .withf(|_, grace| *grace == Some(0))
        .times(1)
        .returning(move |pod, _| {
            notify(&tx, pod, After::Delete);
            EvictResponse::Evicted
        });
    let options = DrainOptions {
        pod_selector: "app=web".into(),
        grace_period_seconds: 0,
        ..fast_options()
    };
    let report = DrainEngine::new(api, options).drain("n1").await.unwrap();
    assert_eq!(report.evicted, [r("a")]);
}

#[tokio::test]
async fn stops_waiting_for_pods_terminating_past_the_skip_wait_timeout() {
    let s = scripted(Script {
        pods: vec![pod("a", true), pod("b", true)],
        answers: HashMap::from([
            ("a".into(), vec![EvictResponse::Evicted]),
            ("b".into(), vec![EvictResponse::Evicted]),
        ]),
        after: HashMap::from([("a".into(), After::LongTerminating)]),
    });
    let options = DrainOptions {
        skip_wait_for_delete_timeout: Duration::from_secs(10),
        timeout: Duration::from_secs(10),
        ..fast_options()
    };
    let (engine, events) = collect_events(DrainEngine::new(s.api, options));
    let report = engine.drain("n1").await.unwrap();
    assert_eq!(report.not_waited_for, [r("a")]);
    assert_eq!(report.evicted, [r("a"), r("b")]);
    assert!(
        events
            .lock()
            .unwrap()
            .contains(&DrainEvent::StoppedWaiting(r("a")))
    );
}

#[tokio::test]
async fn a_pdb_that_allows_disruptions_again_wakes_the_blocked_eviction() {
    let mut api = MockPodApi::new();
    api.expect_list_pods_on_node().returning(|_, _| {
        Ok(PodList {
            pods: vec![pod("a", true)],
            resource_version: "1".into(),
        })
    });
    let tx = one_pod_watch(&mut api);
    let (pdb_tx, pdb_rx) = unbounded::<Result<PdbState, kube::Error>>();
    let mut pdb_rx = Some(pdb_rx);
    api.expect_watch_pdbs()
        .times(1)
        .returning(move || Ok(pdb_rx.take().expect("one PDB watch").boxed()));
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    api.expect_evict().returning(move |pod, _| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            pdb_429()
        } else {
            notify(&tx, pod, After::Delete);
            EvictResponse::Evicted
        }
    });
    // Backoff alone would wait at least 10 s before the second attempt.
    let options = DrainOptions {
        retry: Backoff::new(Duration::from_secs(20), Duration::from_secs(30)).jitter(Jitter::Equal),
        ..DrainOptions::default()
    };
    let engine = DrainEngine::new(api, options);
    let started = Instant::now();
    let drain = engine.drain("n1");
    let budget = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let other_namespace = PdbState {
            namespace: "other".into(),
            name: "x".into(),
            selector: None,
            disruptions_allowed: 5,
        };
        pdb_tx.unbounded_send(Ok(other_namespace)).unwrap();
        let still_blocked = PdbState {
            namespace: "ns".into(),
            name: "web".into(),
            selector: None,
            disruptions_allowed: 0,
        };
        pdb_tx.unbounded_send(Ok(still_blocked.clone())).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let allowed = PdbState {
            disruptions_allowed: 1,
            ..still_blocked
        };
        pdb_tx.unbounded_send(Ok(allowed)).unwrap();
    };
    let (report, ()) = tokio::join!(drain, budget);
    let report = report.unwrap();
    assert_eq!(report.evicted, [r("a")]);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(5),
        "woken by the budget, not by other namespaces or a 0 allowance: {took:?}"
    );
}

#[test]
fn pdb_wakes_at_most_as_many_matching_waiters_as_it_allows() {
    let waiters = PdbWaiters::default();
    let web = BTreeMap::from([("app".to_string(), "web".to_string())]);
    let db = BTreeMap::from([("app".to_string(), "db".to_string())]);
    let w1 = waiters.register(&r("w1"), &web);
    let d1 = waiters.register(&r("d1"), &db);
    let w2 = waiters.register(&r("w2"), &web);
    let w3 = waiters.register(&r("w3"), &web);
    let selector: k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector =
        serde_json::from_value(json!({"matchLabels": {"app": "web"}})).unwrap();
    waiters.unregister("uid-w2");
    waiters.on_pdb(&PdbState {
        namespace: "ns".into(),
        name: "web".into(),
        selector: Some(selector),
        disruptions_allowed: 1,
    });
    assert!(
        w1.notified().now_or_never().is_some(),
        "longest waiting first"
    );
    assert!(d1.notified().now_or_never().is_none(), "not covered");
    assert!(w2.notified().now_or_never().is_none(), "unregistered");
    assert!(w3.notified().now_or_never().is_none(), "budget of one");
}
