//! The PodDisruptionBudget stuck report ([`DrainOptions::pdb_stuck_after`]) and the escalation
//! delete ([`DrainOptions::pdb_escalation`]) on a scripted server.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::json;

use super::*;
use crate::api::PdbState;

/// A ReplicaSet-owned pod labelled `app=<app>`.
fn labelled(name: &str, app: &str) -> Pod {
    let mut p = pod(name, true);
    p.metadata.labels = Some(BTreeMap::from([("app".into(), app.into())]));
    p
}

/// A budget in `ns` selecting `app=<app>` that allows no disruption.
fn budget(name: &str, app: &str) -> PdbState {
    let selector: LabelSelector =
        serde_json::from_value(json!({"matchLabels": {"app": app}})).unwrap();
    PdbState {
        namespace: "ns".into(),
        name: name.into(),
        selector: Some(selector),
        disruptions_allowed: 0,
    }
}

/// Every eviction of `pods` is refused by a budget, for good.
fn always_refused(pods: Vec<Pod>) -> Script {
    let answers = pods
        .iter()
        .map(|p| (p.metadata.name.clone().unwrap(), vec![pdb_429()]))
        .collect();
    Script {
        pods,
        answers,
        after: HashMap::new(),
    }
}

fn stuck_events(events: &Mutex<Vec<DrainEvent>>) -> Vec<(Vec<String>, Vec<PodRef>, Duration)> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            DrainEvent::PdbStuck {
                pdbs,
                pods,
                blocked_for,
            } => Some((pdbs.clone(), pods.clone(), *blocked_for)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn stuck_budgets_are_reported_once_per_set_after_the_time_and_escalation_deletes_only_matched_pods()
 {
    let s = scripted_with(
        always_refused(vec![
            labelled("web-1", "web"),
            labelled("web-2", "web"),
            labelled("db-1", "db"),
        ]),
        Budgets {
            pdbs: vec![budget("web-pdb", "web"), budget("db-pdb", "db")],
            selected: Some(("app=web", vec!["web-1", "web-2"])),
            grace: None,
        },
    );
    let after = Duration::from_millis(150);
    let options = DrainOptions {
        timeout: Duration::from_millis(1200),
        pdb_stuck_after: Some(after),
        pdb_escalation: Some(PdbEscalation::new(Duration::from_millis(400), "app=web").unwrap()),
        ..fast_options()
    };
    let (engine, events) = collect_events(DrainEngine::new(s.api, options));
    let started = Instant::now();
    let drain = engine.drain("n1");
    let early = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stuck_events(&events).len()
    };
    let (result, reported_early) = tokio::join!(drain, early);
    assert_eq!(reported_early, 0, "nothing reported before the time");
    let err = result.unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(1200));

    // One report per set of budgets, naming the budget and every pod it blocks.
    let mut stuck = stuck_events(&events);
    stuck.sort();
    assert_eq!(stuck.len(), 2, "{stuck:?}");
    assert_eq!(stuck[0].0, ["ns/db-pdb"]);
    assert_eq!(stuck[0].1, [r("db-1")]);
    assert_eq!(stuck[1].0, ["ns/web-pdb"]);
    assert_eq!(stuck[1].1, [r("web-1"), r("web-2")]);
    assert!(stuck.iter().all(|s| s.2 >= after), "{stuck:?}");

    // Only the matched pods were deleted, with their own grace period, after 400 ms.
    assert_eq!(count(&s.calls, "delete web-1 grace None"), 1);
    assert_eq!(count(&s.calls, "delete web-2 grace None"), 1);
    assert_eq!(
        count(&s.calls, "delete db-1"),
        0,
        "never delete an unmatched pod"
    );
    assert_eq!(
        count(&s.calls, "list app=web"),
        1,
        "the selector is looked up once"
    );
    let deleted: Vec<(PodRef, Duration)> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            DrainEvent::DeletedDespitePdb { pod, blocked_for } => Some((pod.clone(), *blocked_for)),
            _ => None,
        })
        .collect();
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    assert!(
        deleted
            .iter()
            .all(|(p, d)| p.name.starts_with("web-") && *d >= Duration::from_millis(400))
    );

    // The unmatched pod kept being retried until the timeout, which names its budget.
    assert!(count(&s.calls, "evict db-1") > 3);
    let DrainError::Timeout { pending, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].pod, r("db-1"));
    assert!(matches!(&pending[0].state,
        PendingState::BlockedByPdb { pdbs, message } if pdbs == &["ns/db-pdb"] && message.contains("disruption budget")));
    assert_eq!(err.pdbs(), ["ns/db-pdb"]);
    let text = err.to_string();
    assert!(
        text.contains("ns/db-1 (blocked by PodDisruptionBudget ns/db-pdb: Cannot evict pod"),
        "{text}"
    );
}

#[tokio::test]
async fn a_drain_that_succeeds_reports_the_stuck_budgets_and_none_before_the_time() {
    // web-1 is refused 20 times, at least 12.5 ms apart, then evicted; the report is due at
    // 100 ms.
    let mut script = always_refused(vec![labelled("web-1", "web")]);
    let mut answers = vec![pdb_429(); 20];
    answers.push(EvictResponse::Evicted);
    script.answers.insert("web-1".into(), answers);
    let s = scripted_with(
        script,
        Budgets {
            pdbs: vec![budget("web-pdb", "web")],
            selected: None,
            grace: None,
        },
    );
    let options = DrainOptions {
        pdb_stuck_after: Some(Duration::from_millis(100)),
        retry: Backoff::new(Duration::from_millis(25), Duration::from_millis(25))
            .jitter(Jitter::Equal),
        ..fast_options()
    };
    let report = DrainEngine::new(s.api, options).drain("n1").await.unwrap();
    assert_eq!(report.evicted, [r("web-1")]);
    assert_eq!(report.pdb_stuck.len(), 1, "{report:?}");
    assert_eq!(report.pdb_stuck[0].pdbs, ["ns/web-pdb"]);
    assert_eq!(report.pdb_stuck[0].pods, [r("web-1")]);
    assert!(report.pdb_stuck[0].blocked_for >= Duration::from_millis(100));
    assert_eq!(
        count(&s.calls, "delete web-1"),
        0,
        "no escalation configured"
    );

    // A refusal shorter than the time is not reported.
    let mut script = always_refused(vec![labelled("web-1", "web")]);
    script
        .answers
        .insert("web-1".into(), vec![pdb_429(), EvictResponse::Evicted]);
    let s = scripted_with(
        script,
        Budgets {
            pdbs: vec![budget("web-pdb", "web")],
            selected: None,
            grace: None,
        },
    );
    let options = DrainOptions {
        pdb_stuck_after: Some(Duration::from_secs(5)),
        ..fast_options()
    };
    let (engine, events) = collect_events(DrainEngine::new(s.api, options));
    let report = engine.drain("n1").await.unwrap();
    assert!(report.pdb_stuck.is_empty());
    assert!(stuck_events(&events).is_empty());
}

#[tokio::test]
async fn without_escalation_nothing_is_deleted_and_the_timeout_names_the_budget() {
    let s = scripted_with(
        always_refused(vec![labelled("web-1", "web")]),
        Budgets {
            pdbs: vec![budget("web-pdb", "web")],
            selected: None,
            grace: None,
        },
    );
    let options = DrainOptions {
        timeout: Duration::from_millis(300),
        ..fast_options()
    };
    let (engine, events) = collect_events(DrainEngine::new(s.api, options));
    let err = engine.drain("n1").await.unwrap_err();
    assert_eq!(count(&s.calls, "delete web-1"), 0);
    assert_eq!(err.pdbs(), ["ns/web-pdb"]);
    assert!(
        stuck_events(&events).is_empty(),
        "no report unless configured"
    );
}

#[tokio::test]
async fn escalation_uses_the_configured_grace_period_when_set() {
    let s = scripted_with(
        always_refused(vec![labelled("web-1", "web")]),
        Budgets {
            pdbs: vec![budget("web-pdb", "web")],
            selected: Some(("app=web", vec!["web-1"])),
            grace: Some(0),
        },
    );
    let options = DrainOptions {
        timeout: Duration::from_secs(10),
        grace_period_seconds: 0,
        pdb_escalation: Some(PdbEscalation::new(Duration::from_millis(50), "app=web").unwrap()),
        ..fast_options()
    };
    let report = DrainEngine::new(s.api, options).drain("n1").await.unwrap();
    assert_eq!(report.deleted_despite_pdb, [r("web-1")]);
    assert_eq!(count(&s.calls, "delete web-1 grace Some(0)"), 1);
}

#[test]
fn an_empty_or_invalid_escalation_selector_is_refused() {
    for empty in ["", " ", "\t\n"] {
        let e = PdbEscalation::new(Duration::from_secs(1), empty).unwrap_err();
        assert_eq!(
            e.to_string(),
            "drain escalation pod selector: empty label selector (it would match every pod)"
        );
    }
    let e = PdbEscalation::new(Duration::from_secs(1), "app=(x").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("drain escalation pod selector: invalid label selector \"app=(x\""),
        "{e}"
    );
    let ok = PdbEscalation::new(Duration::from_secs(60), "app in (web, api)").unwrap();
    assert_eq!(
        (ok.after(), ok.selector()),
        (Duration::from_secs(60), "app in (web, api)")
    );
}
