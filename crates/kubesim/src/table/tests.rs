//! Unit tests of `table`.

use super::cells::human_duration;
use super::*;
use crate::resources::well_known::{LEASES, NODES, PODS};
use axum::http::HeaderValue;

#[test]
fn human_durations_match_kubectl() {
    assert_eq!(human_duration(35), "35s");
    assert_eq!(human_duration(354), "5m54s");
    assert_eq!(human_duration(448), "7m28s");
    assert_eq!(human_duration(600), "10m");
    assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
    assert_eq!(human_duration(30 * 3600), "30h");
    assert_eq!(human_duration(3 * 86400), "3d");
    assert_eq!(human_duration(-5), "<invalid>");
}

#[test]
fn pod_and_node_rows_have_the_recorded_cells() {
    let pod = json!({"metadata":{"name":"b-1","creationTimestamp":"2020-01-01T00:00:00Z"},
        "spec":{"containers":[{"name":"c"}],"nodeName":"node-b"},
        "status":{"phase":"Running"}});
    let t = table(
        PODS,
        [&pod],
        json!({"resourceVersion":"5"}),
        IncludeObject::Metadata,
    );
    let cells = &t["rows"][0]["cells"];
    assert_eq!(cells[0], "b-1");
    assert_eq!(cells[1], "0/1");
    assert_eq!(cells[2], "Running");
    assert_eq!(cells[5], "<none>");
    assert_eq!(cells[6], "node-b");
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 9);
    let node = json!({"metadata":{"name":"n","labels":{"node-role.kubernetes.io/worker":""}},
        "spec":{"unschedulable":true},
        "status":{"conditions":[{"type":"Ready","status":"True"}],
          "addresses":[{"type":"InternalIP","address":"127.0.0.1"}],
          "nodeInfo":{"kubeletVersion":"v1.36.2","osImage":"fake","kernelVersion":"fake","architecture":"amd64","containerRuntimeVersion":"fake://0"}}});
    let t = table(NODES, [&node], json!({}), IncludeObject::None);
    assert_eq!(
        t["rows"][0]["cells"],
        json!([
            "n",
            "Ready,SchedulingDisabled",
            "worker",
            "<unknown>",
            "v1.36.2",
            "127.0.0.1",
            "<none>",
            "fake",
            "fake (amd64)",
            "fake://0"
        ])
    );
    assert!(t["rows"][0].get("object").is_none());
    let t = table(LEASES, [&node], json!({}), IncludeObject::Object);
    assert_eq!(t["rows"][0]["object"]["kind"], "Lease");
}

#[test]
fn workload_tables_have_kubectl_columns() {
    use crate::resources::well_known::{DAEMONSETS, DEPLOYMENTS, PDBS};
    let ds = json!({"metadata":{"name":"kured"},
        "spec":{"selector":{"matchLabels":{"name":"kured"}},
          "template":{"spec":{"containers":[{"name":"kured","image":"k:1"}]}}},
        "status":{"desiredNumberScheduled":3,"currentNumberScheduled":3,"numberReady":2}});
    let t = table(DAEMONSETS, [&ds], json!({}), IncludeObject::None);
    assert_eq!(
        t["rows"][0]["cells"],
        json!([
            "kured",
            3,
            3,
            2,
            0,
            0,
            "<none>",
            "<unknown>",
            "kured",
            "k:1",
            "name=kured"
        ])
    );
    assert_eq!(t["columnDefinitions"][1]["type"], "integer");
    let pdb = json!({"metadata":{"name":"p"},"spec":{"minAvailable":"50%"},"status":{"disruptionsAllowed":1}});
    let t = table(PDBS, [&pdb], json!({}), IncludeObject::None);
    assert_eq!(
        t["rows"][0]["cells"],
        json!(["p", "50%", "N/A", 1, "<unknown>"])
    );
    let d = json!({"metadata":{"name":"web"},"spec":{"replicas":3,
        "selector":{"matchExpressions":[{"key":"tier","operator":"In","values":["a","b"]}]}},
        "status":{"readyReplicas":2}});
    let t = table(DEPLOYMENTS, [&d], json!({}), IncludeObject::None);
    assert_eq!(t["rows"][0]["cells"][1], "2/3");
    assert_eq!(t["rows"][0]["cells"][7], "tier in (a,b)");
}

#[test]
fn table_accept_is_recognised() {
    let mut h = HeaderMap::new();
    assert!(!wants_table(&h));
    h.insert(
        header::ACCEPT,
        HeaderValue::from_static("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
    );
    assert!(wants_table(&h));
}
