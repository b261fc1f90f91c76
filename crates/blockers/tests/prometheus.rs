//! `PrometheusBlocker` against a real Prometheus (Debian package `prometheus`; `.ci/run`
//! installs it, by hand: `apt-get update && apt-get install -y prometheus`; set `PROMETHEUS`
//! to use another binary).
//!
//! One server with firing and pending alerts is shared by all the alert cases of one test
//! function (starting Prometheus costs a few seconds); a second, rule-less server behind a
//! path prefix covers "no alerts". Both are killed by a drop guard when the test ends, also
//! when it fails.

// Scenario tests read best top to bottom.
#![allow(clippy::too_many_lines)]

use std::time::Duration;

use testkit::{Prometheus, free_port};

use blockers::{
    BlockReason, BlockerError, CompositeBlocker, PrometheusBlocker, RebootBlocker, check_or_block,
};
use regex::Regex;

/// Every alert name the rule file makes active, sorted.
const ALL: [&str; 6] = [
    "Duplicated",
    "FiringCritical",
    "FiringWarning",
    "Mixed",
    "PendingOnly",
    "Watchdog",
];

/// Firing alerts only: `PendingOnly` has `for: 1h`; `Mixed` has a firing and a pending rule.
const FIRING: [&str; 5] = [
    "Duplicated",
    "FiringCritical",
    "FiringWarning",
    "Mixed",
    "Watchdog",
];

const RULES: &str = r"groups:
  - name: blockers-test
    interval: 1s
    rules:
      - alert: FiringCritical
        expr: vector(1) > 0
        labels:
          severity: critical
      - alert: FiringWarning
        expr: vector(1) > 0
        labels:
          severity: warning
      # the same name twice (different label sets): listed once
      - alert: Duplicated
        expr: vector(1) > 0
        labels:
          instance: a
      - alert: Duplicated
        expr: vector(1) > 0
        labels:
          instance: b
      - alert: PendingOnly
        expr: vector(1) > 0
        for: 1h
      - alert: Mixed
        expr: vector(1) > 0
        labels:
          part: firing
      - alert: Mixed
        expr: vector(1) > 0
        for: 1h
        labels:
          part: pending
      - alert: Watchdog
        expr: vector(1) > 0
      # never active
      - alert: Inactive
        expr: vector(0) > 0
";

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

/// The reason expected for these alerts.
fn alerts(list: &[&str]) -> BlockReason {
    BlockReason::Alerts(names(list))
}

/// Waits until every rule has been evaluated (all firing and pending alerts show).
async fn wait_for_alerts(server: &Prometheus) {
    let blocker = PrometheusBlocker::new(&server.url).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = blocker.active_alerts().await.unwrap();
        let firing = blocker
            .clone()
            .firing_only(true)
            .active_alerts()
            .await
            .unwrap();
        if now == names(&ALL) && firing == names(&FIRING) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "alerts did not show within 60 s: {now:?} / firing {firing:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn alert_semantics_against_a_real_prometheus() {
    let (server, empty) = tokio::join!(
        Prometheus::start(Some(RULES), ""),
        Prometheus::start(None, "/prom")
    );
    wait_for_alerts(&server).await;
    let url = server.url.as_str();
    let re = |s: &str| Some(Regex::new(s).unwrap());
    let new = || PrometheusBlocker::new(url).unwrap();

    // (what, blocker, expected reason)
    let cases: Vec<(&str, PrometheusBlocker, Option<BlockReason>)> = vec![
        (
            "no filter: firing and pending, de-duplicated",
            new(),
            Some(alerts(&ALL)),
        ),
        (
            "firing only",
            new().firing_only(true),
            Some(alerts(&FIRING)),
        ),
        (
            "filter ignores matching names",
            new().filter(re("^Firing")),
            Some(alerts(&["Duplicated", "Mixed", "PendingOnly", "Watchdog"])),
        ),
        (
            "the filter is unanchored",
            new().filter(re("ing")),
            Some(alerts(&["Duplicated", "Mixed", "Watchdog"])),
        ),
        (
            "match-only: only matching names block",
            new().filter(re("^Firing")).filter_match_only(true),
            Some(alerts(&["FiringCritical", "FiringWarning"])),
        ),
        (
            "match-only without a filter counts everything",
            new().filter_match_only(true),
            Some(alerts(&ALL)),
        ),
        (
            "filter + firing only",
            new().filter(re("Watchdog|Duplicated")).firing_only(true),
            Some(alerts(&["FiringCritical", "FiringWarning", "Mixed"])),
        ),
        (
            "match-only + firing only: pending matches do not block",
            new()
                .filter(re("^Pending"))
                .filter_match_only(true)
                .firing_only(true),
            None,
        ),
        (
            "match-only + firing only: a name with a firing instance blocks",
            new()
                .filter(re("^(Mixed|PendingOnly)$"))
                .filter_match_only(true)
                .firing_only(true),
            Some(alerts(&["Mixed"])),
        ),
        (
            "a filter that removes every alert",
            new().filter(re(".*")),
            None,
        ),
        (
            "match-only with a filter matching nothing",
            new().filter(re("^NoSuchAlert$")).filter_match_only(true),
            None,
        ),
    ];
    for (what, blocker, expected) in cases {
        let got = blocker.check("node-0").await;
        assert_eq!(got.as_ref().ok(), Some(&expected), "{what}: {got:?}");
    }

    // The reason text lists the names sorted.
    let reason = new().check("node-0").await.unwrap().unwrap();
    assert_eq!(
        reason.to_string(),
        "6 active alerts: Duplicated, FiringCritical, FiringWarning, Mixed, PendingOnly, Watchdog"
    );
    assert_eq!(reason.label(), "prometheus_alert");

    // No alerts at all: an empty vector, from a server behind a path prefix.
    let quiet = PrometheusBlocker::new(&format!("{}/", empty.url)).unwrap();
    assert_eq!(quiet.query_url(), format!("{}/api/v1/query", empty.url));
    assert_eq!(quiet.check("node-0").await.unwrap(), None);
    assert_eq!(check_or_block(&quiet, "node-0").await, None);
    // The same server without its prefix answers 404: an error, which blocks.
    let unprefixed = empty.url.trim_end_matches("/prom");
    let wrong = PrometheusBlocker::new(unprefixed).unwrap();
    let err = wrong.check("node-0").await.unwrap_err();
    assert!(
        matches!(err, BlockerError::PrometheusStatus { status: 404, .. }),
        "{err}"
    );

    // Composite: the real server's alerts next to a quiet server and a failing one.
    let composite = CompositeBlocker::new()
        .with(quiet)
        .with(new().filter(re("^FiringCritical$")).filter_match_only(true))
        .with(wrong);
    let reason = composite.check("node-0").await.unwrap().unwrap();
    let leaves = reason.reasons();
    assert_eq!(leaves.len(), 2, "{reason}");
    assert_eq!(leaves[0], alerts(&["FiringCritical"]));
    assert!(
        matches!(&leaves[1], BlockReason::CheckFailed { blocker, error }
            if blocker == "prometheus_alert" && error.contains("HTTP 404")),
        "{reason}"
    );
}

#[tokio::test]
async fn an_unreachable_prometheus_blocks() {
    let port = free_port(); // bound and released: nothing listens there now
    let blocker = PrometheusBlocker::new(&format!("http://127.0.0.1:{port}"))
        .unwrap()
        .firing_only(true);
    let err = blocker.check("node-0").await.unwrap_err();
    match &err {
        BlockerError::PrometheusTransport { url, source } => {
            assert_eq!(url, &format!("http://127.0.0.1:{port}/api/v1/query"));
            assert!(source.is_connect(), "{source:?}");
        }
        other => panic!("unexpected error: {other}"),
    }
    let reason = check_or_block(&blocker, "node-0").await.unwrap();
    assert!(reason.is_check_failure());
    assert!(
        reason
            .to_string()
            .starts_with("prometheus_alert check failed, blocking to be safe: prometheus query"),
        "{reason}"
    );
}
