//! What each backend stores, read back raw: kured's exact bytes on the `DaemonSet`, and the
//! standard Lease fields.

mod common;

use std::time::Duration;

use common::{
    Backend, NAME, NAMESPACE, acquired, client, cluster, held_by, meta, raw_annotation,
    set_annotation,
};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use lock::format::format_go_time;
use lock::{
    DEFAULT_ANNOTATION, DaemonSetLock, LockConfig, LockError, LockRecord, LockValue, RebootLock,
};

#[tokio::test]
async fn single_owner_annotation_is_kureds_exact_bytes() {
    let cluster = cluster(2).await;
    let c = client(&cluster);
    let lock = Backend::DAEMONSET.lock(c.clone(), 1, Duration::from_secs(90));
    let lock::AcquireOutcome::Acquired(record) = lock.acquire("node-0", meta(true)).await.unwrap()
    else {
        panic!("free lock");
    };
    let raw = raw_annotation(&c).await.expect("annotation written");
    let created = format_go_time(record.created.expect("has a creation time"));
    assert_eq!(
        raw,
        format!(
            r#"{{"nodeID":"node-0","metadata":{{"unschedulable":true}},"created":"{created}","TTL":90000000000}}"#
        )
    );
    // RFC 3339 UTC as Go writes it: no trailing zeros in the fraction.
    assert!(created.ends_with('Z'), "{created}");
    if created.contains('.') {
        assert!(
            !created.ends_with("0Z"),
            "fraction trimmed like Go: {created}"
        );
    }
    lock.release("node-0").await.unwrap();
    assert_eq!(
        raw_annotation(&c).await,
        None,
        "single form: release deletes the annotation"
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn multi_owner_annotation_is_kureds_exact_bytes() {
    let cluster = cluster(3).await;
    let c = client(&cluster);
    let lock = Backend::DAEMONSET.lock(c.clone(), 3, Duration::ZERO);
    let a = acquired(lock.as_ref(), "node-0").await;
    let b = acquired(lock.as_ref(), "node-1").await;
    let rec = |r: &LockRecord| {
        format!(
            r#"{{"nodeID":"{}","metadata":{{"unschedulable":false}},"created":"{}","TTL":0}}"#,
            r.node_id,
            format_go_time(r.created.unwrap())
        )
    };
    let raw = raw_annotation(&c).await.unwrap();
    assert_eq!(
        raw,
        format!(r#"{{"maxOwners":3,"locks":[{},{}]}}"#, rec(&a), rec(&b))
    );
    lock.release("node-0").await.unwrap();
    lock.release("node-1").await.unwrap();
    // As Go kured: the multi form stays, with an empty list.
    assert_eq!(
        raw_annotation(&c).await.unwrap(),
        r#"{"maxOwners":3,"locks":[]}"#
    );
    acquired(lock.as_ref(), "node-2").await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn value_written_by_go_kured_is_honoured_and_released_in_place() {
    let cluster = cluster(3).await;
    let c = client(&cluster);
    // The issue's example, with a creation time of now so that a TTL would not matter.
    let created = format_go_time(Timestamp::now());
    let go = format!(
        r#"{{"nodeID":"node-2","metadata":{{"unschedulable":false}},"created":"{created}","TTL":0}}"#
    );
    set_annotation(&c, Some(&go)).await;
    let lock = Backend::DAEMONSET.lock(c.clone(), 1, Duration::ZERO);
    assert_eq!(held_by(lock.as_ref(), "node-0").await, ["node-2"]);
    assert_eq!(
        raw_annotation(&c).await.as_deref(),
        Some(go.as_str()),
        "untouched"
    );
    let held = lock
        .holding("node-2")
        .await
        .unwrap()
        .expect("node-2 holds it");
    assert_eq!(held.created.map(format_go_time), Some(created));
    // node-2 (now running kured-rs) releases the lock Go kured took.
    lock.release("node-2").await.unwrap();
    assert_eq!(raw_annotation(&c).await, None);
    cluster.shutdown().await;
}

#[tokio::test]
async fn concurrency_change_keeps_the_single_holder() {
    // Go kured at concurrency 3 reads a single-form value as an empty multi lock and overwrites
    // it; here the holder keeps its slot and the value is rewritten in the multi form.
    let cluster = cluster(3).await;
    let c = client(&cluster);
    let one = Backend::DAEMONSET.lock(c.clone(), 1, Duration::ZERO);
    acquired(one.as_ref(), "node-0").await;
    let three = Backend::DAEMONSET.lock(c.clone(), 3, Duration::ZERO);
    acquired(three.as_ref(), "node-1").await;
    let value = LockValue::parse(&raw_annotation(&c).await.unwrap()).unwrap();
    let LockValue::Multi { max_owners, locks } = value else {
        panic!("rewritten in the multi form");
    };
    assert_eq!(max_owners, 3);
    assert_eq!(common::names(&locks), ["node-0", "node-1"]);
    cluster.shutdown().await;
}

#[tokio::test]
async fn malformed_annotation_is_an_error_and_left_alone() {
    let cluster = cluster(2).await;
    let c = client(&cluster);
    set_annotation(&c, Some("locked by bob")).await;
    let lock = Backend::DAEMONSET.lock(c.clone(), 1, Duration::ZERO);
    let err = lock.acquire("node-0", meta(false)).await.unwrap_err();
    assert!(matches!(err, LockError::Format { .. }), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(raw_annotation(&c).await.as_deref(), Some("locked by bob"));
    cluster.shutdown().await;
}

#[tokio::test]
async fn missing_daemonset_is_not_found() {
    let cluster = cluster(1).await;
    let config = LockConfig {
        name: "no-such-ds".into(),
        ..LockConfig::default()
    };
    let lock = DaemonSetLock::new(client(&cluster), config).unwrap();
    let err = lock.acquire("node-0", meta(false)).await.unwrap_err();
    assert!(
        matches!(
            err,
            LockError::NotFound {
                kind: "DaemonSet",
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(
        DaemonSetLock::new(client(&cluster), LockConfig::default().concurrency(0)),
        Err(LockError::Config(_))
    ));
    cluster.shutdown().await;
}

#[tokio::test]
async fn lease_slot_fields() {
    let cluster = cluster(3).await;
    let c = client(&cluster);
    let lock = Backend::LEASE.lock(c.clone(), 2, Duration::from_millis(90_500));
    let first = acquired(lock.as_ref(), "node-0").await;
    let api: Api<Lease> = Api::namespaced(c.clone(), NAMESPACE);
    let lease = api.get(&format!("{NAME}-0")).await.unwrap();
    let spec = lease.spec.clone().unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("node-0"));
    assert_eq!(
        spec.lease_duration_seconds,
        Some(91),
        "TTL rounded up to whole seconds"
    );
    let acquire_time = spec.acquire_time.unwrap().0;
    let gap = acquire_time.duration_since(first.created.unwrap()).abs();
    assert!(
        gap < SignedDuration::from_micros(1),
        "acquireTime is the creation time in µs"
    );
    assert!(spec.renew_time.is_some());
    let stored = &lease.metadata.annotations.unwrap()[DEFAULT_ANNOTATION];
    assert_eq!(
        LockRecord::parse(stored).unwrap(),
        first,
        "full record kept for kured semantics"
    );
    assert_eq!(first.ttl, SignedDuration::from_millis(90_500));

    lock.release("node-0").await.unwrap();
    let lease = api.get(&format!("{NAME}-0")).await.unwrap();
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity, None);
    assert_eq!(spec.acquire_time, None);
    assert!(
        !lease
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key(DEFAULT_ANNOTATION)
    );
    // A slot freed by a release and taken again is not a takeover: transitions stay 0 (as in
    // leader election, only replacing a holder counts).
    acquired(lock.as_ref(), "node-1").await;
    let spec = api.get(&format!("{NAME}-0")).await.unwrap().spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("node-1"));
    assert_eq!(spec.lease_transitions, Some(0));
    assert!(
        api.get_opt(&format!("{NAME}-2")).await.unwrap().is_none(),
        "only c slots"
    );
    cluster.shutdown().await;
}

/// Collects formatted log lines.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn takeover_of_a_deleted_nodes_slot_is_logged_with_the_old_holder() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    // Current-thread test runtime: the default subscriber covers the whole test.
    let _guard = tracing::subscriber::set_default(subscriber);
    for backend in [Backend::DAEMONSET, Backend::LEASE] {
        let cluster = cluster(3).await;
        let c = client(&cluster);
        let lock = backend.lock(c.clone(), 1, Duration::ZERO);
        acquired(lock.as_ref(), "node-2").await;
        common::delete_node(&c, "node-2").await;
        tokio::time::sleep(common::NODE_CACHE).await;
        acquired(lock.as_ref(), "node-0").await;
        cluster.shutdown().await;
    }
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let takeovers: Vec<&str> = text.lines().filter(|l| l.contains("took over")).collect();
    assert_eq!(takeovers.len(), 2, "{text}");
    for line in takeovers {
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains("old_holder=node-2"), "{line}");
        assert!(line.contains("reason=Stale"), "{line}");
        assert!(
            line.contains("new_holder=\"node-0\"") || line.contains("new_holder=node-0"),
            "{line}"
        );
    }
}

#[tokio::test]
async fn writes_keep_every_other_field_of_the_daemonset() {
    use kube::api::{ApiResource, DynamicObject};
    let cluster = cluster(2).await;
    let c = client(&cluster);
    let raw: Api<DynamicObject> = Api::namespaced_with(
        c.clone(),
        NAMESPACE,
        &ApiResource::erase::<k8s_openapi::api::apps::v1::DaemonSet>(&()),
    );
    let patch = serde_json::json!({"metadata": {"annotations": {"example.com/keep": "yes"}},
        "spec": {"template": {"spec": {"x-unknown-field": {"kept": true}}}}});
    raw.patch(
        NAME,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await
    .unwrap();
    let before = raw.get(NAME).await.unwrap();
    for backend in [Backend::DAEMONSET, Backend::DAEMONSET_PATCH] {
        let lock = backend.lock(c.clone(), 1, Duration::ZERO);
        acquired(lock.as_ref(), "node-0").await;
        lock.release("node-0").await.unwrap();
    }
    let after = raw.get(NAME).await.unwrap();
    assert_eq!(after.data["spec"], before.data["spec"]);
    assert_eq!(after.metadata.labels, before.metadata.labels);
    assert_eq!(after.metadata.annotations, before.metadata.annotations);
    cluster.shutdown().await;
}
