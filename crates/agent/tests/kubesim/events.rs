//! The agent's Events through the real `kubectl` (from the PATH; `.ci/run` installs it):
//! `kubectl describe node` shows the phases of the node's reboot, reported by `kured-rs`.

use std::time::Duration;

use testkit::eventually;

use crate::sim::{Setup, Sim, builder};

async fn kubectl(sim: &Sim, home: &std::path::Path, args: &[&str]) -> String {
    let kubeconfig = home.join("kubeconfig.json");
    sim.cluster.kubeconfig(&kubeconfig).unwrap();
    let out = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(args)
        .env_remove("KUBECONFIG")
        .env("HOME", home)
        .env("KUBECACHEDIR", home.join("cache"))
        .output()
        .await
        .expect("kubectl on the PATH");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_describe_node_shows_the_phases_of_the_reboot() {
    let sim = Sim::start(
        builder().nodes(2),
        Setup {
            events: true,
            gate: Some(gate::GateConfig {
                timeout: Duration::from_secs(20),
                poll: Duration::from_millis(50),
                ..gate::GateConfig::default()
            }),
            ..Setup::default()
        },
    )
    .await;
    sim.hosts.require("node-0");
    sim.spawn_all();
    eventually(
        Duration::from_secs(20),
        "node-0 rebooted and released",
        || {
            sim.hosts.reboots() == ["node-0"]
                && sim.lock_value().is_none_or(|v| !v.contains("nodeID"))
        },
    )
    .await;
    sim.stop().await;
    let home = tempfile::tempdir().unwrap();
    let described = kubectl(&sim, home.path(), &["describe", "node", "node-0"]).await;
    let events = &described[described.find("Events:").expect("an Events section")..];
    for reason in [
        "RebootRequired",
        "LockAcquired",
        "Draining",
        "Rebooting",
        "NodeBack",
        "HealthGatePassed",
        "LockReleased",
    ] {
        assert!(
            events
                .lines()
                .any(|l| l.contains(reason) && l.contains("kured-rs")),
            "{reason} by kured-rs missing:\n{events}"
        );
    }
    // Nothing about the other node there; its own list is empty of reboot phases.
    let other = kubectl(
        &sim,
        home.path(),
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=node-1",
        ],
    )
    .await;
    assert!(!other.contains("Rebooting"), "{other}");
    let listed = kubectl(
        &sim,
        home.path(),
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=node-0",
        ],
    )
    .await;
    assert!(listed.contains("LockReleased"), "{listed}");
}
