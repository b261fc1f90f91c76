//! The gate at steady-state: the answer at once, the slot kept until the pods are Ready, a new
//! attempt from a holder asking again, and the gate task's end.

use std::time::{Duration, Instant};

use kubesim::cluster::{Cluster, IntOrPercent, PdbSpec};

use crate::support::*;

/// The Events of a cycle whose gate passed, recorded and as the real kubectl shows them on
/// the Node.
async fn passed_cycle_events(env: &Env, node: &str) {
    assert_eq!(
        env.events.reasons(node),
        [
            "LockAcquired",
            "Draining",
            "Rebooting",
            "NodeBack",
            "Uncordoned",
            "HealthGatePassed",
            "LockReleased"
        ]
    );
    // The same Events on the Node, as the real kubectl shows them.
    let described = kubectl_describe_node(env, node).await;
    let shown = described
        .lines()
        .skip_while(|l| !l.starts_with("Events:"))
        .collect::<Vec<_>>()
        .join("\n");
    for reason in ["Rebooting", "NodeBack", "HealthGatePassed"] {
        assert!(
            shown
                .lines()
                .any(|l| l.contains(reason) && l.contains("fleetlock-rs")),
            "{reason} from fleetlock-rs missing:\n{shown}"
        );
    }
}

#[tokio::test]
async fn steady_state_answers_at_once_and_the_slot_waits_for_the_pods() {
    let env = env(
        Cluster::builder()
            .nodes(2)
            .deployment("shop", "web", 4, None)
            .daemonset("kube-system", "proxy")
            .kubelet_start_delay(Duration::from_millis(1500)),
        rollout(Some(Duration::from_secs(30)), Duration::ZERO),
        1,
    )
    .await;
    until_granted(&env, "node-0").await;
    // The attempt was recorded before the drain, and stamped at the 200.
    let attempt = gate::read_attempt(&env.client, "node-0")
        .await
        .unwrap()
        .expect("attempt recorded at the grant");
    assert_eq!(
        attempt
            .workloads
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["deployment shop/web"]
    );
    assert!(attempt.rebooting_since.is_some(), "{attempt:?}");
    assert!(unschedulable(&env, "node-0").await);

    reboot(&env, "node-0", Duration::from_millis(300), true).await;
    let asked = Instant::now();
    assert_eq!(ask(&env, "steady-state", "node-0").await.0, 200);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "steady-state waited: {:?}",
        asked.elapsed()
    );
    // Uncordoned at once, slot kept for the gate.
    assert!(!unschedulable(&env, "node-0").await);
    let s = status(&env).await;
    assert_eq!(
        s.holders.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
        ["node-0"]
    );
    assert_eq!(s.gating.len(), 1, "{s:?}");
    assert!(
        !daemon_pods_ready(&env, "node-0").await,
        "pods restarted too fast for the test"
    );

    // The next machine waits while node-0's pods are not Ready, and goes once they are.
    let mut refused = 0;
    loop {
        let (code, kind, _) = ask(&env, "pre-reboot", "node-1").await;
        if kind != "failed_lock_semaphore_full" {
            assert!(
                daemon_pods_ready(&env, "node-0").await,
                "node-1 got the slot ({code} {kind}) before node-0's pods were Ready"
            );
            break;
        }
        refused += 1;
        assert!(
            asked.elapsed() < Duration::from_secs(20),
            "the gate never passed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused > 0, "the slot was not kept while the gate ran");
    let s = status(&env).await;
    assert_eq!(
        s.holders.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
        ["node-1"]
    );
    assert!(s.gating.is_empty() && s.halt.is_none(), "{s:?}");
    assert_eq!(
        gate::read_attempt(&env.client, "node-0").await.unwrap(),
        None
    );
    let text = metrics(&env).await;
    assert!(
        text.contains("fleetlock_health_gate_wait_seconds_count{result=\"passed\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("fleetlock_rollout_halted{group=\"default\"} 0"),
        "{text}"
    );
    passed_cycle_events(&env, "node-0").await;
    env.cluster.shutdown().await;
}

#[tokio::test]
async fn a_holder_asking_again_while_its_gate_runs_starts_a_new_attempt() {
    let env = env(
        Cluster::builder()
            .nodes(2)
            .deployment("shop", "web", 2, None)
            .daemonset("kube-system", "proxy")
            .kubelet_start_delay(Duration::from_millis(1500)),
        rollout(Some(Duration::from_secs(30)), Duration::ZERO),
        1,
    )
    .await;
    until_granted(&env, "node-0").await;
    reboot(&env, "node-0", Duration::from_millis(200), true).await;
    assert_eq!(ask(&env, "steady-state", "node-0").await.0, 200);
    assert_eq!(status(&env).await.gating.len(), 1);
    let rebooted = gate::node_boot(&env.client, "node-0").await.unwrap();

    // Another update: the same machine asks to reboot again before its gate passed.
    until_granted(&env, "node-0").await;
    let s = status(&env).await;
    assert!(s.gating.is_empty(), "the gate still runs: {s:?}");
    assert!(
        unschedulable(&env, "node-0").await,
        "not cordoned for the new reboot"
    );
    let attempt = gate::read_attempt(&env.client, "node-0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        Some(attempt.boot_id),
        rebooted.boot_id,
        "the attempt is not new"
    );
    // The ended gate does not release the slot once the pods are Ready.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(daemon_pods_ready(&env, "node-0").await);
    let s = status(&env).await;
    assert_eq!(
        s.holders.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
        ["node-0"]
    );
    assert_eq!(
        ask(&env, "pre-reboot", "node-1").await.1,
        "failed_lock_semaphore_full"
    );
    env.cluster.shutdown().await;
}
#[tokio::test]
async fn the_gate_task_ends_with_an_admin_release_and_with_the_server() {
    let env = env(
        Cluster::builder().nodes(2).deployment(
            "shop",
            "web",
            4,
            Some(PdbSpec::MinAvailable(IntOrPercent::Int(1))),
        ),
        rollout(Some(Duration::from_millis(1500)), Duration::ZERO),
        1,
    )
    .await;
    // A gate that would fail 1.5 s after the steady-state (and then write: halt, node marks).
    let gating = |node: &'static str| {
        let env = &env;
        async move {
            set_min_available(env, "shop", "web-pdb", 1).await;
            until_granted(env, node).await;
            set_min_available(env, "shop", "web-pdb", 10).await;
            reboot(env, node, Duration::from_millis(200), true).await;
            assert_eq!(ask(env, "steady-state", node).await.0, 200);
            assert_eq!(status(env).await.gating.len(), 1);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };

    gating("node-0").await;
    let (code, text) = admin(
        &env,
        "v1/admin/release",
        Some(ADMIN),
        r#"{"group":"default","id":"node-0"}"#,
    )
    .await;
    assert_eq!((code, text.as_str()), (200, r#"{"released":true}"#));
    let (rv, before) = (last_rv(&env.cluster), reads(&env.cluster));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let s = status(&env).await;
    assert!(
        s.halt.is_none() && s.failures.is_empty() && s.holders.is_empty(),
        "{s:?}"
    );
    assert_eq!(node_writes_after(&env.cluster, rv), Vec::<String>::new());
    assert_eq!(
        reads(&env.cluster),
        before,
        "the gate kept reading after the release"
    );

    gating("node-1").await;
    env.server.app.stop_background();
    let (rv, before) = (last_rv(&env.cluster), reads(&env.cluster));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let s = status(&env).await;
    assert!(s.halt.is_none() && s.failures.is_empty(), "{s:?}");
    assert_eq!(
        s.gating.len(),
        1,
        "the stopped server left the kept slot as it was"
    );
    assert_eq!(node_writes_after(&env.cluster, rv), Vec::<String>::new());
    assert_eq!(
        reads(&env.cluster),
        before,
        "the gate kept reading after the stop"
    );
    env.cluster.shutdown().await;
}
