//! Events through the real `kubectl` (see `kubectl_cli`): Node events published with kube-rs'
//! own `Recorder` (events.k8s.io/v1, reporting controller `kured-rs`, namespace `default`, a
//! repeat sent as a series merge patch) show in `kubectl describe node`'s `Events:` section, as
//! the real server's recording prints them (`shared/k8s-reference/
//! events-core-v1-list-all-namespaces-kubectl-describe-node-uid.json`), and are listed by
//! `kubectl get events --field-selector involvedObject.name=…` and by
//! `kubectl get events.events.k8s.io --field-selector regarding.name=…`.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kubesim::cluster::{Cluster, RunningCluster};
use kubesim::resources::well_known::{EVENTS, NODES};
use serde_json::Value;

mod kubectl_cli;
use kubectl_cli::Kubectl;

/// The columns of a kubectl text table line (cells are separated by two or more spaces).
fn columns(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// The rows of the `Events:` section of `kubectl describe` output (without its two header
/// lines), as columns.
fn describe_events(out: &str) -> Vec<Vec<&str>> {
    let mut lines = out.lines().skip_while(|l| !l.starts_with("Events:"));
    let title = lines.next().expect("an Events: section");
    assert_ne!(title.trim(), "Events:  <none>", "no events shown:\n{out}");
    let header = lines.next().expect("the Events header");
    assert_eq!(
        columns(header),
        ["Type", "Reason", "Age", "From", "Message"],
        "{out}"
    );
    lines
        .skip(1) // the ---- underline
        .take_while(|l| l.starts_with("  "))
        .map(columns)
        .collect()
}

/// Publishes, as kured-rs would with kube-rs' `Recorder`: a Warning about node-0, a Normal
/// event about node-0 twice (a series), and one about node-1; checks how they are stored.
async fn publish_node_events(cluster: &RunningCluster) {
    let node = cluster.store().get(NODES, "", "node-0").unwrap();
    let reference = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Node".into()),
        name: Some("node-0".into()),
        uid: node["metadata"]["uid"].as_str().map(str::to_string),
        ..ObjectReference::default()
    };
    let recorder = Recorder::new(
        cluster.client().unwrap(),
        Reporter {
            controller: "kured-rs".into(),
            instance: Some("kured-rs-node-0".into()),
        },
    );
    let rebooting = Event {
        type_: EventType::Normal,
        reason: "Rebooting".into(),
        note: Some("Rebooting node node-0".into()),
        action: "Reboot".into(),
        secondary: None,
    };
    let blocked = Event {
        type_: EventType::Warning,
        reason: "DrainBlocked".into(),
        note: Some(
            "Cannot evict pod kdemo/kweb-1: would violate PodDisruptionBudget kweb-pdb".into(),
        ),
        action: "Drain".into(),
        secondary: None,
    };
    recorder.publish(&blocked, &reference).await.unwrap();
    recorder.publish(&rebooting, &reference).await.unwrap();
    // The repeat is a merge patch of the cached event with series {count: 2}.
    recorder.publish(&rebooting, &reference).await.unwrap();
    // An event about the other node must not show.
    let other = ObjectReference {
        name: Some("node-1".into()),
        uid: None,
        ..reference.clone()
    };
    recorder.publish(&rebooting, &other).await.unwrap();

    // Stored once, in the core/v1 shape, in `default`.
    let (stored, _) = cluster.store().list(EVENTS, Some("default"), |e| {
        e["involvedObject"]["name"] == "node-0"
    });
    assert_eq!(stored.len(), 2);
    let repeated = stored.iter().find(|e| e["reason"] == "Rebooting").unwrap();
    assert_eq!(repeated["series"]["count"], 2);
    assert_eq!(repeated["reportingComponent"], "kured-rs");
    assert_eq!(repeated["message"], "Rebooting node node-0");
}

/// `kubectl describe node node-0` shows both node-0 events as the recorded kubectl prints them.
async fn check_describe_node(k: &Kubectl) {
    let out = k.ok(&["describe", "node", "node-0"]).await;
    let rows = describe_events(&out);
    assert_eq!(rows.len(), 2, "{out}");
    // kubectl sorts by lastTimestamp only; events.k8s.io events (lastTimestamp null) keep the
    // list order (by name, i.e. by creation time here).
    let (warning, normal) = (&rows[0], &rows[1]);
    assert_eq!(warning[..2], ["Warning", "DrainBlocked"], "{out}");
    assert_eq!(
        warning[3..],
        [
            "kured-rs",
            "Cannot evict pod kdemo/kweb-1: would violate PodDisruptionBudget kweb-pdb"
        ],
        "{out}"
    );
    assert!(
        !warning[2].contains("(x"),
        "a single event has no count: {out}"
    );
    assert_eq!(normal[..2], ["Normal", "Rebooting"], "{out}");
    assert_eq!(normal[3..], ["kured-rs", "Rebooting node node-0"], "{out}");
    // Age = 'AGE(series.lastObservedTime) (x2 over AGE(eventTime))'.
    assert!(
        normal[2].ends_with(')') && normal[2].contains(" (x2 over "),
        "the series shows as a count: {out}"
    );
}

/// `kubectl get events` through both APIs, each with its own field labels.
async fn check_get_events(k: &Kubectl) {
    // kubectl get events --field-selector involvedObject.name=node-0 (server-side Table).
    let out = k
        .ok(&[
            "get",
            "events",
            "-n",
            "default",
            "--field-selector",
            "involvedObject.name=node-0",
        ])
        .await;
    let lines: Vec<Vec<&str>> = out.lines().map(columns).collect();
    assert_eq!(
        lines[0],
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        "{out}"
    );
    let reasons: Vec<(&str, &str, &str)> = lines[1..].iter().map(|l| (l[1], l[2], l[3])).collect();
    assert_eq!(
        reasons,
        [
            ("Warning", "DrainBlocked", "node/node-0"),
            ("Normal", "Rebooting", "node/node-0")
        ],
        "{out}"
    );

    // The same events through events.k8s.io, in its shape.
    let out = k
        .ok(&[
            "get",
            "events.events.k8s.io",
            "-n",
            "default",
            "--field-selector",
            "regarding.name=node-0",
            "-o",
            "json",
        ])
        .await;
    let list: Value = serde_json::from_str(&out).unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{out}");
    for item in items {
        assert_eq!(item["apiVersion"], "events.k8s.io/v1");
        assert_eq!(item["regarding"]["name"], "node-0");
        assert_eq!(item["reportingController"], "kured-rs");
        assert!(item.get("involvedObject").is_none());
    }

    // Each API accepts only its own field labels.
    let wrong = k
        .run(&[
            "get",
            "events",
            "-n",
            "default",
            "--field-selector",
            "regarding.name=node-0",
        ])
        .await;
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr)
            .contains("field label not supported: regarding.name"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorder_events_show_in_describe_node_and_get_events() {
    let cluster = Cluster::builder().nodes(2).start().await.unwrap();
    publish_node_events(&cluster).await;
    let k = Kubectl::new(&cluster);
    check_describe_node(&k).await;
    check_get_events(&k).await;
    cluster.shutdown().await;
}
