//! `PodBlocker`, `OptOutBlocker` and a composite of them against kubesim over HTTP.

// Scenario tests read best top to bottom.
#![allow(clippy::too_many_lines)]

use std::collections::BTreeMap;

use blockers::{
    BlockReason, BlockerError, BlockerSpec, CompositeBlocker, DEFAULT_OPT_OUT_KEY, MetadataKind,
    OptOutBlocker, OptOutSource, PodBlocker, PodMatch, RebootBlocker, check_or_block,
};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use kubesim::cluster::{Cluster, RunningCluster};
use kubesim::resources::well_known::PODS;
use serde_json::json;

/// Seeds a pod straight into the store, bound to `node`, in `phase`.
fn pod(
    cluster: &RunningCluster,
    ns: &str,
    name: &str,
    node: &str,
    labels: &[(&str, &str)],
    phase: &str,
) {
    let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
    cluster
        .store()
        .create(
            PODS,
            json!({
                "metadata": {"name": name, "namespace": ns, "labels": labels},
                "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.example/c:1"}]},
                "status": {"phase": phase},
            }),
        )
        .unwrap();
}

/// Two nodes, no controllers (phases stay as seeded), and these pods:
///
/// | pod | node | labels | phase |
/// |---|---|---|---|
/// | a/db-0 | node-0 | app=db, tier=primary | Running |
/// | b/db-1 | node-1 | app=db | Running |
/// | a/web | node-0 | app=web | Running |
/// | jobs/backup-done | node-0 | app=backup | Succeeded |
/// | jobs/backup-failed | node-0 | app=backup | Failed |
/// | jobs/backup-lost | node-0 | app=backup | Unknown |
/// | jobs/backup-next | node-1 | app=backup | Pending |
/// | many/m-00…m-11 | node-1 | many=yes | Running |
async fn cluster() -> RunningCluster {
    let cluster = Cluster::builder()
        .nodes(2)
        .controllers(false)
        .start()
        .await
        .unwrap();
    pod(
        &cluster,
        "a",
        "db-0",
        "node-0",
        &[("app", "db"), ("tier", "primary")],
        "Running",
    );
    pod(&cluster, "b", "db-1", "node-1", &[("app", "db")], "Running");
    pod(&cluster, "a", "web", "node-0", &[("app", "web")], "Running");
    pod(
        &cluster,
        "jobs",
        "backup-done",
        "node-0",
        &[("app", "backup")],
        "Succeeded",
    );
    pod(
        &cluster,
        "jobs",
        "backup-failed",
        "node-0",
        &[("app", "backup")],
        "Failed",
    );
    pod(
        &cluster,
        "jobs",
        "backup-lost",
        "node-0",
        &[("app", "backup")],
        "Unknown",
    );
    pod(
        &cluster,
        "jobs",
        "backup-next",
        "node-1",
        &[("app", "backup")],
        "Pending",
    );
    for i in 0..12 {
        pod(
            &cluster,
            "many",
            &format!("m-{i:02}"),
            "node-1",
            &[("many", "yes")],
            "Running",
        );
    }
    cluster
}

/// Selectors, node, expected matches.
type Case<'a> = (Vec<&'a str>, &'a str, Option<Vec<PodMatch>>);

fn matched(selector: &str, pods: &[&str]) -> PodMatch {
    PodMatch {
        selector: selector.into(),
        pods: pods.iter().map(ToString::to_string).collect(),
        truncated: false,
    }
}

fn lists(cluster: &RunningCluster) -> u64 {
    cluster.requests_by_verb().get("list").copied().unwrap_or(0)
}

#[tokio::test]
async fn pod_blocker_selects_by_node_phase_and_selectors() {
    let cluster = cluster().await;
    let client = cluster.client().unwrap();
    let blocker =
        |selectors: &[&str]| PodBlocker::new(client.clone(), selectors.iter().copied()).unwrap();

    let cases: Vec<Case> = vec![
        (
            vec!["app=db"],
            "node-0",
            Some(vec![matched("app=db", &["a/db-0"])]),
        ),
        (
            vec!["app=db"],
            "node-1",
            Some(vec![matched("app=db", &["b/db-1"])]),
        ),
        // AND within one selector
        (
            vec!["app=db,tier=primary"],
            "node-0",
            Some(vec![matched("app=db,tier=primary", &["a/db-0"])]),
        ),
        (vec!["app=db,tier=primary"], "node-1", None),
        // terminal pods (Succeeded, Failed, and Unknown as in kured) do not block; Pending does
        (vec!["app=backup"], "node-0", None),
        (
            vec!["app=backup"],
            "node-1",
            Some(vec![matched("app=backup", &["jobs/backup-next"])]),
        ),
        // OR across selectors: only the ones that matched are reported
        (
            vec!["app=nothing", "app=db"],
            "node-0",
            Some(vec![matched("app=db", &["a/db-0"])]),
        ),
        (
            vec!["app=db", "app=web", "app=backup"],
            "node-0",
            Some(vec![
                matched("app=db", &["a/db-0"]),
                matched("app=web", &["a/web"]),
            ]),
        ),
        // set-based syntax and existence
        (
            vec!["app in (web, backup)"],
            "node-0",
            Some(vec![matched("app in (web, backup)", &["a/web"])]),
        ),
        (vec!["tier"], "node-1", None),
        (
            vec!["app,!tier"],
            "node-0",
            Some(vec![matched("app,!tier", &["a/web"])]),
        ),
        (vec![], "node-0", None),
        // a node without pods
        (vec!["app=db"], "node-9", None),
    ];
    for (selectors, node, expected) in cases {
        let before = lists(&cluster);
        let got = blocker(&selectors).check(node).await.unwrap();
        assert_eq!(
            got,
            expected.map(BlockReason::Pods),
            "{selectors:?} on {node}"
        );
        assert_eq!(
            lists(&cluster) - before,
            selectors.len() as u64,
            "one list per selector: {selectors:?}"
        );
    }

    // More than a page: ten names and a truncation mark.
    let reason = blocker(&["many=yes"])
        .check("node-1")
        .await
        .unwrap()
        .unwrap();
    let BlockReason::Pods(found) = &reason else {
        panic!("{reason:?}")
    };
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].pods.len(), 10, "{reason}");
    assert!(found[0].truncated, "{reason}");
    assert!(
        found[0].pods.iter().all(|p| p.starts_with("many/m-")),
        "{reason}"
    );
    assert!(reason.to_string().ends_with(", …"), "{reason}");
    assert_eq!(reason.label(), "blocker_pod");
}

#[tokio::test]
async fn pod_blocker_fails_safe() {
    let cluster = cluster().await;
    let client = cluster.client().unwrap();

    // The API server rejects the selector: an error, which blocks.
    let bad = PodBlocker::new(client.clone(), ["app in (db"]).unwrap();
    let err = bad.check("node-0").await.unwrap_err();
    assert!(
        matches!(&err, BlockerError::Kube { what, .. } if what.contains("app in (db")),
        "{err}"
    );
    let reason = check_or_block(&bad, "node-0").await.unwrap();
    assert!(
        matches!(&reason, BlockReason::CheckFailed { blocker, .. } if blocker == "blocker_pod"),
        "{reason}"
    );

    // A failing selector next to a matching one: both are reported.
    let mixed = PodBlocker::new(client.clone(), ["app in (db", "app=db"]).unwrap();
    let reason = mixed.check("node-0").await.unwrap().unwrap();
    assert_eq!(reason.reasons().len(), 2, "{reason}");
    assert_eq!(
        reason.reasons()[0],
        BlockReason::Pods(vec![matched("app=db", &["a/db-0"])])
    );
    assert!(reason.is_check_failure());

    // The API server is gone.
    let gone = PodBlocker::new(client, ["app=db"]).unwrap();
    cluster.shutdown().await;
    let err = gone.check("node-0").await.unwrap_err();
    assert!(matches!(err, BlockerError::Kube { .. }), "{err}");
    assert!(
        check_or_block(&gone, "node-0")
            .await
            .unwrap()
            .is_check_failure()
    );
}

#[tokio::test]
async fn pod_blocker_refuses_bad_configuration() {
    let cluster = cluster().await;
    let client = cluster.client().unwrap();
    let err = PodBlocker::new(client.clone(), ["app=db", " "]).unwrap_err();
    assert!(
        matches!(&err, BlockerError::Config(m) if m.contains("#2")),
        "{err}"
    );
    // An empty node name would select unscheduled pods.
    let blocker = PodBlocker::new(client, ["app=db"]).unwrap();
    assert!(matches!(
        blocker.check("").await,
        Err(BlockerError::Config(_))
    ));
}

async fn set_metadata(nodes: &Api<Node>, node: &str, field: &str, key: &str, value: Option<&str>) {
    let patch = json!({"metadata": {field: {key: value}}});
    nodes
        .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

#[tokio::test]
async fn opt_out_by_label_or_annotation() {
    let cluster = Cluster::builder()
        .nodes(2)
        .controllers(false)
        .start()
        .await
        .unwrap();
    let client = cluster.client().unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    let by = |key: &str, source| OptOutBlocker::new(client.clone(), key, source).unwrap();
    let label = by(DEFAULT_OPT_OUT_KEY, OptOutSource::Label);
    let annotation = by(DEFAULT_OPT_OUT_KEY, OptOutSource::Annotation);
    let either = by(DEFAULT_OPT_OUT_KEY, OptOutSource::LabelOrAnnotation);
    let opt_out = |kind, value: &str| {
        Some(BlockReason::OptOut {
            kind,
            key: DEFAULT_OPT_OUT_KEY.into(),
            value: value.into(),
        })
    };

    for b in [&label, &annotation, &either] {
        assert_eq!(b.check("node-0").await.unwrap(), None, "{b:?}");
    }

    set_metadata(
        &nodes,
        "node-0",
        "labels",
        DEFAULT_OPT_OUT_KEY,
        Some("true"),
    )
    .await;
    assert_eq!(
        label.check("node-0").await.unwrap(),
        opt_out(MetadataKind::Label, "true")
    );
    assert_eq!(
        either.check("node-0").await.unwrap(),
        opt_out(MetadataKind::Label, "true")
    );
    assert_eq!(annotation.check("node-0").await.unwrap(), None);
    assert_eq!(
        label.check("node-1").await.unwrap(),
        None,
        "only the labelled node"
    );

    // Any value but "false" opts out, the empty one included.
    set_metadata(&nodes, "node-0", "labels", DEFAULT_OPT_OUT_KEY, Some("")).await;
    assert_eq!(
        label.check("node-0").await.unwrap(),
        opt_out(MetadataKind::Label, "")
    );
    set_metadata(
        &nodes,
        "node-0",
        "labels",
        DEFAULT_OPT_OUT_KEY,
        Some("False"),
    )
    .await;
    assert_eq!(label.check("node-0").await.unwrap(), None);
    set_metadata(&nodes, "node-0", "labels", DEFAULT_OPT_OUT_KEY, None).await;
    assert_eq!(either.check("node-0").await.unwrap(), None);

    // Annotations may carry free text.
    let text = "kernel tests until Friday";
    set_metadata(
        &nodes,
        "node-1",
        "annotations",
        DEFAULT_OPT_OUT_KEY,
        Some(text),
    )
    .await;
    assert_eq!(
        annotation.check("node-1").await.unwrap(),
        opt_out(MetadataKind::Annotation, text)
    );
    assert_eq!(
        either.check("node-1").await.unwrap(),
        opt_out(MetadataKind::Annotation, text)
    );
    assert_eq!(label.check("node-1").await.unwrap(), None);
    let reason = either.check("node-1").await.unwrap().unwrap();
    assert_eq!(
        reason.to_string(),
        format!("node opted out of reboots: annotation {DEFAULT_OPT_OUT_KEY}=\"{text}\"")
    );
    assert_eq!(reason.label(), "opt_out");

    // A configurable key.
    let custom = by("example.com/hold", OptOutSource::LabelOrAnnotation);
    assert_eq!(custom.check("node-1").await.unwrap(), None);
    set_metadata(&nodes, "node-1", "labels", "example.com/hold", Some("yes")).await;
    assert_eq!(
        custom.check("node-1").await.unwrap(),
        Some(BlockReason::OptOut {
            kind: MetadataKind::Label,
            key: "example.com/hold".into(),
            value: "yes".into()
        })
    );

    // A node that cannot be read blocks.
    let err = either.check("node-9").await.unwrap_err();
    assert!(
        matches!(&err, BlockerError::Kube { what, .. } if what.contains("node-9")),
        "{err}"
    );
    assert!(
        check_or_block(&either, "node-9")
            .await
            .unwrap()
            .is_check_failure()
    );

    assert!(matches!(
        OptOutBlocker::new(client, "", OptOutSource::Label),
        Err(BlockerError::Config(_))
    ));
}

#[tokio::test]
async fn composite_reports_pods_and_opt_out_together() {
    let cluster = cluster().await;
    let client = cluster.client().unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    set_metadata(
        &nodes,
        "node-0",
        "labels",
        DEFAULT_OPT_OUT_KEY,
        Some("true"),
    )
    .await;
    let composite = CompositeBlocker::new()
        .with(PodBlocker::new(client.clone(), ["app=db"]).unwrap())
        .with(OptOutBlocker::new(client.clone(), DEFAULT_OPT_OUT_KEY, OptOutSource::Label).unwrap())
        .with(PodBlocker::new(client, ["app in (db"]).unwrap());

    let reason = composite.check("node-0").await.unwrap().unwrap();
    let leaves = reason.reasons();
    assert_eq!(leaves.len(), 3, "{reason}");
    assert_eq!(
        leaves[0],
        BlockReason::Pods(vec![matched("app=db", &["a/db-0"])])
    );
    assert_eq!(
        leaves[1],
        BlockReason::OptOut {
            kind: MetadataKind::Label,
            key: DEFAULT_OPT_OUT_KEY.into(),
            value: "true".into()
        }
    );
    assert!(
        matches!(&leaves[2], BlockReason::CheckFailed { blocker, .. } if blocker == "blocker_pod")
    );
    assert_eq!(reason.label(), "multiple");

    // node-1: the db pod only (plus the failing selector).
    let reason = composite.check("node-1").await.unwrap().unwrap();
    assert_eq!(reason.reasons().len(), 2, "{reason}");
    assert_eq!(
        reason.reasons()[0],
        BlockReason::Pods(vec![matched("app=db", &["b/db-1"])])
    );
}

#[tokio::test]
async fn a_spec_builds_what_it_names_in_order_and_refuses_bad_parts() {
    let cluster = cluster().await;
    let client = cluster.client().unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    set_metadata(
        &nodes,
        "node-0",
        "annotations",
        DEFAULT_OPT_OUT_KEY,
        Some("yes"),
    )
    .await;
    assert!(BlockerSpec::default().build(&client).unwrap().is_empty());
    let spec = BlockerSpec {
        prometheus: None,
        pod_selectors: vec!["app=db".into()],
        opt_out_key: Some(DEFAULT_OPT_OUT_KEY.into()),
    };
    let built = spec.build(&client).unwrap();
    assert_eq!(built.len(), 2);
    let reason = built.check("node-0").await.unwrap().unwrap();
    assert_eq!(
        reason.reasons(),
        [
            BlockReason::Pods(vec![matched("app=db", &["a/db-0"])]),
            // Label or annotation, as kured-rs's --opt-out-key.
            BlockReason::OptOut {
                kind: MetadataKind::Annotation,
                key: DEFAULT_OPT_OUT_KEY.into(),
                value: "yes".into()
            },
        ]
    );
    let empty_selector = BlockerSpec {
        pod_selectors: vec![" ".into()],
        ..BlockerSpec::default()
    };
    assert!(matches!(
        empty_selector.build(&client),
        Err(BlockerError::Config(_))
    ));
}
