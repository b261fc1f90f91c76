//! The halt: a failed gate and a node not back in time stop the group; the admin clear resumes.

use std::time::Duration;

use fleetlock::server::HaltCleared;

use kubesim::cluster::{Cluster, IntOrPercent, PdbSpec};

use crate::support::*;

/// `/metrics` and the Node Events show the halt of node-0 after a failure of `reason` (the
/// metric label) reported with Event reason `event`.
async fn halt_is_visible(env: &Env, reason: &str, event: &'static str) {
    let text = metrics(env).await;
    assert!(
        text.contains("fleetlock_rollout_halted{group=\"default\"} 1"),
        "{text}"
    );
    let failures =
        format!("fleetlock_reboot_failures_total{{group=\"default\",reason=\"{reason}\"}} 1");
    assert!(text.contains(&failures), "{text}");
    let reasons = env.events.reasons("node-0");
    assert!(reasons.ends_with(&[event, "RolloutHalted"]), "{reasons:?}");
}

/// Unauthorized and malformed clear-halt calls are refused with a clear error and leave the
/// halt as it is.
async fn bad_clear_calls_change_nothing(env: &Env, halt: &fleetlock::store::Halt) {
    let path = "v1/admin/clear-halt";
    for (token, body, code, says) in [
        (None, r#"{"group":"default"}"#, 401, "failed_unauthorized"),
        (Some(ADMIN), "{}", 400, "failed_parse_body"),
        (
            Some(ADMIN),
            r#"{"group":"default","x":1}"#,
            400,
            "failed_parse_body",
        ),
        (
            Some(ADMIN),
            r#"{"group":"a b"}"#,
            400,
            "failed_invalid_group",
        ),
        (
            Some(ADMIN),
            r#"{"group":"nope"}"#,
            404,
            "failed_unknown_group",
        ),
    ] {
        let (got, text) = admin(env, path, token, body).await;
        assert_eq!(got, code, "{body}: {text}");
        assert!(text.contains(says), "{body}: {text}");
        assert_eq!(
            status(env).await.halt.as_ref(),
            Some(halt),
            "{body} changed the halt"
        );
    }
}

#[tokio::test]
async fn a_failed_gate_halts_and_the_admin_clear_resumes() {
    let env = env(
        Cluster::builder().nodes(3).deployment(
            "shop",
            "web",
            6,
            Some(PdbSpec::MinAvailable(IntOrPercent::Int(1))),
        ),
        rollout(Some(Duration::from_secs(1)), Duration::ZERO),
        2,
    )
    .await;
    until_granted(&env, "node-0").await;
    let attempt = gate::read_attempt(&env.client, "node-0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        attempt
            .pdbs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["shop/web-pdb"]
    );
    until_granted(&env, "node-1").await;
    // The budget can never be met again: node-0's gate will fail.
    set_min_available(&env, "shop", "web-pdb", 10).await;
    reboot(&env, "node-0", Duration::from_millis(200), true).await;
    assert_eq!(ask(&env, "steady-state", "node-0").await.0, 200);

    wait_status(&env, "the halt", Duration::from_secs(15), |s| {
        s.halt.is_some()
    })
    .await;
    let s = status(&env).await;
    let halt = s.halt.clone().unwrap();
    assert_eq!(
        (halt.id.as_str(), halt.node.as_deref()),
        ("node-0", Some("node-0"))
    );
    assert!(halt.reason.contains("health gate failed"), "{halt:?}");
    assert!(halt.reason.contains("pdb shop/web-pdb"), "{halt:?}");
    assert_eq!(s.failures.len(), 1);
    let mut holders: Vec<&str> = s.holders.iter().map(|h| h.id.as_str()).collect();
    holders.sort_unstable();
    assert_eq!(
        holders,
        ["node-0", "node-1"],
        "the failed machine keeps its slot"
    );

    // A holder keeps its 200; a machine without a slot gets the halt's own answer.
    assert_eq!(ask(&env, "pre-reboot", "node-1").await.0, 200);
    let (code, kind, value) = ask(&env, "pre-reboot", "node-2").await;
    assert_eq!((code, kind.as_str()), (423, "rollout_halted"), "{value}");
    assert!(
        value.contains("node-0") && value.contains("clear-halt"),
        "{value}"
    );
    halt_is_visible(&env, "gate_failed", "HealthGateFailed").await;
    bad_clear_calls_change_nothing(&env, &halt).await;
    assert_eq!(ask(&env, "pre-reboot", "node-2").await.1, "rollout_halted");

    let (code, text) = admin(
        &env,
        "v1/admin/clear-halt",
        Some(ADMIN),
        r#"{"group":"default"}"#,
    )
    .await;
    assert_eq!(code, 200, "{text}");
    let cleared: HaltCleared = serde_json::from_str(&text).unwrap();
    assert_eq!(cleared.halt, Some(halt));
    assert_eq!(cleared.released, ["node-0"]);
    let s = status(&env).await;
    assert!(s.halt.is_none() && s.failures.is_empty(), "{s:?}");
    assert_eq!(
        s.holders.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
        ["node-1"]
    );
    let (_, kind, _) = ask(&env, "pre-reboot", "node-2").await;
    assert!(
        !["rollout_halted", "failed_lock_semaphore_full"].contains(&kind.as_str()),
        "{kind}"
    );
    assert!(status(&env).await.holders.iter().any(|h| h.id == "node-2"));
    assert!(
        metrics(&env)
            .await
            .contains("fleetlock_rollout_halted{group=\"default\"} 0")
    );
    env.cluster.shutdown().await;
}

#[tokio::test]
async fn a_node_not_back_in_time_halts() {
    let env = env(
        Cluster::builder()
            .nodes(2)
            .deployment("default", "web", 2, None),
        rollout(None, Duration::from_secs(1)),
        1,
    )
    .await;
    until_granted(&env, "node-0").await;
    // Kept down far beyond the limit.
    reboot(&env, "node-0", Duration::from_secs(3600), false).await;
    wait_status(&env, "the halt", Duration::from_secs(15), |s| {
        s.halt.is_some()
    })
    .await;
    let halt = status(&env).await.halt.unwrap();
    assert_eq!(halt.id, "node-0");
    assert!(
        halt.reason
            .contains("node node-0 is not rebooted (boot ID unchanged)"),
        "{halt:?}"
    );
    assert_eq!(ask(&env, "pre-reboot", "node-1").await.1, "rollout_halted");
    halt_is_visible(&env, "not_back", "RebootFailed").await;
}
