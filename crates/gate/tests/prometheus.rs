//! The gate's Prometheus check against a real Prometheus (Debian package `prometheus`; `.ci/run`
//! installs it, by hand: `apt-get update && apt-get install -y prometheus`; set `PROMETHEUS` to
//! use another binary), on a kubesim cluster whose node has "rebooted" (the attempt records an
//! old boot ID), so the query decides.
//!
//! The server has no scrape targets and no rules: the queries build their own answers
//! (`vector(1)`, `label_replace`), which needs no waiting for evaluations.

use testkit::{Prometheus, free_port};

use gate::{GateConfig, GateStatus, HealthGate, PromCheck, Unhealthy};
use kubesim::cluster::Cluster;

#[tokio::test]
async fn the_query_must_return_nothing() {
    let (server, cluster) = tokio::join!(Prometheus::start(None, ""), async {
        Cluster::builder().nodes(1).start().await.unwrap()
    });
    let client = cluster.client().unwrap();
    let mut attempt = gate::prepare_attempt(&client, "node-0", jiff::Timestamp::now())
        .await
        .unwrap();
    attempt.boot_id = "a-boot-before-the-reboot".into();
    let gate_with = |url: &str, query: &str| {
        HealthGate::for_client(
            client.clone(),
            GateConfig {
                prometheus: Some(PromCheck {
                    url: url.into(),
                    query: query.into(),
                }),
                ..GateConfig::default()
            },
        )
        .unwrap()
    };

    // Nothing returned: passes.
    let quiet = gate_with(&server.url, "vector(1) > 2");
    assert_eq!(
        quiet.check("node-0", &attempt).await.unwrap(),
        GateStatus::Passed
    );

    // Series returned: holds, naming the query, the count and the label sets.
    let query = r#"label_replace(vector(1), "job", "node", "", "") or label_replace(vector(2), "job", "db", "", "")"#;
    let GateStatus::Waiting(reasons) = gate_with(&server.url, query)
        .check("node-0", &attempt)
        .await
        .unwrap()
    else {
        panic!("passed with a non-empty query");
    };
    assert_eq!(
        reasons,
        vec![Unhealthy::QueryNotEmpty {
            query: query.into(),
            series: 2,
            examples: vec![r#"{job="node"}"#.into(), r#"{job="db"}"#.into()],
        }]
    );

    // A series whose value is 0 still counts (`up == 0` answers such series).
    let zero = gate_with(&server.url, "vector(0)");
    assert!(matches!(zero.check("node-0", &attempt).await.unwrap(),
            GateStatus::Waiting(r) if matches!(&r[..], [Unhealthy::QueryNotEmpty { series: 1, .. }])),);

    // A query Prometheus refuses, and a server that is not there: the gate holds.
    let GateStatus::Waiting(reasons) = gate_with(&server.url, "vector(")
        .check("node-0", &attempt)
        .await
        .unwrap()
    else {
        panic!("passed with a broken query");
    };
    assert!(
        matches!(&reasons[..], [Unhealthy::CheckFailed(m)] if m.contains("bad_data")),
        "{reasons:?}"
    );
    let gone = format!("http://127.0.0.1:{}", free_port());
    let GateStatus::Waiting(reasons) = gate_with(&gone, "vector(1) > 2")
        .check("node-0", &attempt)
        .await
        .unwrap()
    else {
        panic!("passed without a Prometheus");
    };
    assert!(
        matches!(&reasons[..], [Unhealthy::CheckFailed(m)] if m.contains("request failed")),
        "{reasons:?}"
    );
    cluster.shutdown().await;
}
