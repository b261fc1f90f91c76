//! What the simulator reads of the lock and of the agents besides node phases: the rollout
//! state (failures, halt) on the lock object, the lock releases in kubesim's history, the
//! moments every pod was Ready again, and the gate's wait from the agents' metrics.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kubesim::cluster::matching_over_time;
use kubesim::resources::well_known::{DAEMONSETS, LEASES, NODES, PODS};
use kubesim::store::{Event, Store};
use lock::{Backend, DEFAULT_ANNOTATION, DEFAULT_NAME, DEFAULT_NAMESPACE, ROLLOUT_ANNOTATION};
use serde_json::Value;

use crate::report::pdb_healthy;

/// The object holding the rollout state: the lock `DaemonSet` (annotation backend) or the
/// Lease `<name>-0` (Lease backend).
fn rollout_object(store: &Store, backend: Backend) -> Option<Arc<Value>> {
    match backend {
        Backend::Annotation => store.get(DAEMONSETS, DEFAULT_NAMESPACE, DEFAULT_NAME),
        Backend::Lease => store.get(LEASES, DEFAULT_NAMESPACE, &format!("{DEFAULT_NAME}-0")),
    }
}

/// The rollout state (failures, halt) as the agents wrote it, read straight from kubesim's
/// store (no API request).
pub(crate) fn state(store: &Store, backend: Backend) -> lock::RolloutState {
    let object = rollout_object(store, backend);
    let text = object
        .as_deref()
        .and_then(|o| o["metadata"]["annotations"][ROLLOUT_ANNOTATION].as_str());
    lock::RolloutState::from_annotation(text, "the lock object")
}

/// Whether some node holds a lock slot now (read from kubesim's store).
pub(crate) fn lock_held(store: &Store, backend: Backend) -> bool {
    let (objects, _) = match backend {
        Backend::Annotation => store.list(DAEMONSETS, Some(DEFAULT_NAMESPACE), |_| true),
        Backend::Lease => store.list(LEASES, Some(DEFAULT_NAMESPACE), |_| true),
    };
    objects.iter().any(|o| !holders(o, backend).is_empty())
}

/// The sum of `kured_gate_wait_seconds` in an agent's metrics text (`None`: the gate never
/// passed on that node).
pub(crate) fn gate_wait_seconds(metrics: &str) -> Option<f64> {
    let value = |name: &str| {
        metrics.lines().find_map(|l| {
            l.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse::<f64>()
                .ok()
        })
    };
    let count = value("kured_gate_wait_seconds_count")?;
    (count > 0.0).then(|| value("kured_gate_wait_seconds_sum"))?
}

/// The nodes holding a lock slot in `object`, a version of a lock object (the `DaemonSet`'s
/// annotation or one Lease); empty for any other object.
fn holders(object: &Value, backend: Backend) -> BTreeSet<String> {
    let meta = &object["metadata"];
    if meta["namespace"] != DEFAULT_NAMESPACE {
        return BTreeSet::new();
    }
    match backend {
        Backend::Annotation if meta["name"] == DEFAULT_NAME => meta["annotations"]
            [DEFAULT_ANNOTATION]
            .as_str()
            .and_then(|text| lock::LockValue::parse(text).ok())
            .map(|lock| {
                lock.records()
                    .iter()
                    .map(|r| r.node_id.clone())
                    .filter(|n| !n.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        Backend::Lease
            if meta["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&format!("{DEFAULT_NAME}-"))) =>
        {
            object["spec"]["holderIdentity"]
                .as_str()
                .filter(|h| !h.is_empty())
                .map(|h| BTreeSet::from([h.to_string()]))
                .unwrap_or_default()
        }
        _ => BTreeSet::new(),
    }
}

/// Every lock release after `start_rv`: `(resourceVersion, node)`, in order.
pub(crate) fn releases(
    history: &[Arc<Event>],
    start_rv: u64,
    backend: Backend,
) -> Vec<(u64, String)> {
    let plural = match backend {
        Backend::Annotation => DAEMONSETS.plural,
        Backend::Lease => LEASES.plural,
    };
    let mut out = Vec::new();
    for e in history
        .iter()
        .filter(|e| e.rv > start_rv && e.resource.plural == plural)
    {
        let before = e
            .previous
            .as_deref()
            .map(|p| holders(p, backend))
            .unwrap_or_default();
        let after = holders(&e.object, backend);
        out.extend(before.difference(&after).map(|n| (e.rv, n.clone())));
    }
    out
}

/// The resourceVersions after `start_rv` at which the last pod that was not Ready became
/// Ready again (terminating pods not counted): the moments the workloads were whole.
pub(crate) fn all_ready_moments(history: &[Arc<Event>], start_rv: u64) -> Vec<u64> {
    let counts = matching_over_time(history, PODS, |p| {
        p["metadata"]["deletionTimestamp"].is_null() && !pdb_healthy(p)
    });
    let mut out = Vec::new();
    let mut previous = 0;
    for (rv, n) in counts {
        if rv > start_rv && n == 0 && previous > 0 {
            out.push(rv);
        }
        previous = n;
    }
    out
}

/// Whether `object` (a version of the rollout object) carries a halt.
fn halted(object: &Value, backend: Backend) -> bool {
    let meta = &object["metadata"];
    let name = match backend {
        Backend::Annotation => DEFAULT_NAME.to_string(),
        Backend::Lease => format!("{DEFAULT_NAME}-0"),
    };
    meta["namespace"] == DEFAULT_NAMESPACE
        && meta["name"] == name.as_str()
        && lock::RolloutState::from_annotation(
            meta["annotations"][ROLLOUT_ANNOTATION].as_str(),
            "the lock object",
        )
        .is_halted()
}

/// The nodes cordoned (schedulable → unschedulable) after `start_rv` while the rollout was
/// halted and that held no lock slot then: a halt must stop every new drain.
pub(crate) fn cordons_while_halted(
    history: &[Arc<Event>],
    start_rv: u64,
    backend: Backend,
) -> Vec<String> {
    let lock_plural = match backend {
        Backend::Annotation => DAEMONSETS.plural,
        Backend::Lease => LEASES.plural,
    };
    let cordoned = |v: &Value| v["spec"]["unschedulable"] == Value::Bool(true);
    let mut holding: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut halt = false;
    let mut out = Vec::new();
    for e in history {
        if e.resource.plural == lock_plural {
            let key = e.object["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            holding.insert(key, holders(&e.object, backend));
            if halted(&e.object, backend) {
                halt = true;
            } else if e.previous.as_deref().is_some_and(|p| halted(p, backend)) {
                halt = false;
            }
        } else if e.resource.plural == NODES.plural
            && e.rv > start_rv
            && halt
            && cordoned(&e.object)
            && !e.previous.as_deref().is_some_and(cordoned)
        {
            let node = e.object["metadata"]["name"].as_str().unwrap_or("");
            if !holding.values().any(|h| h.contains(node)) {
                out.push(node.to_string());
            }
        }
    }
    out
}

/// When the write `rv` happened: the first sample that saw it (`None`: after the last one).
pub(crate) fn time_of(rv_times: &[(u64, Duration)], rv: u64) -> Option<Duration> {
    let i = rv_times.partition_point(|(seen, _)| *seen < rv);
    rv_times.get(i).map(|(_, at)| *at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gate_wait_is_read_from_the_histogram() {
        let text = "# TYPE kured_gate_wait_seconds histogram\n\
                    kured_gate_wait_seconds_sum 2.5\n\
                    kured_gate_wait_seconds_count 2\n";
        assert_eq!(gate_wait_seconds(text), Some(2.5));
        let none = "kured_gate_wait_seconds_sum 0.0\nkured_gate_wait_seconds_count 0\n";
        assert_eq!(gate_wait_seconds(none), None);
        assert_eq!(gate_wait_seconds(""), None);
    }

    #[test]
    fn holders_of_both_backends() {
        let ds = json!({"metadata": {"namespace": "kube-system", "name": "kured", "annotations": {
            DEFAULT_ANNOTATION: r#"{"nodeID":"n1","metadata":{"unschedulable":false},"created":"2026-12-07T10:00:00Z","TTL":0}"#}}});
        assert_eq!(
            holders(&ds, Backend::Annotation),
            BTreeSet::from(["n1".into()])
        );
        let lease = json!({"metadata": {"namespace": "kube-system", "name": "kured-1"},
            "spec": {"holderIdentity": "n2"}});
        assert_eq!(
            holders(&lease, Backend::Lease),
            BTreeSet::from(["n2".into()])
        );
        assert!(holders(&lease, Backend::Annotation).is_empty());
    }

    /// A history of writes, each with its previous version.
    #[derive(Default)]
    struct History(Vec<Arc<Event>>, BTreeMap<String, Arc<Value>>);

    impl History {
        fn write(&mut self, rt: &'static kubesim::resources::ResourceType, obj: Value) {
            let key = format!("{}/{}", rt.plural, obj["metadata"]["name"]);
            let object = Arc::new(obj);
            let previous = self.1.insert(key, object.clone());
            self.0.push(Arc::new(Event {
                rv: self.0.len() as u64 + 1,
                resource: rt,
                kind: kubesim::store::EventType::Modified,
                object,
                previous,
            }));
        }
        fn node(&mut self, name: &str, cordoned: bool) {
            self.write(
                NODES,
                json!({"metadata": {"name": name}, "spec": {"unschedulable": cordoned}}),
            );
        }
        fn lock(&mut self, holder: Option<&str>, halt: Option<&str>) {
            let mut annotations = serde_json::Map::new();
            if let Some(h) = holder {
                annotations.insert(DEFAULT_ANNOTATION.into(), json!(format!(
                    r#"{{"nodeID":"{h}","metadata":{{"unschedulable":false}},"created":"2026-12-07T10:00:00Z","TTL":0}}"#
                )));
            }
            if let Some(n) = halt {
                annotations.insert(ROLLOUT_ANNOTATION.into(), json!(format!(
                    r#"{{"failures":[],"halt":{{"node":"{n}","reason":"r","since":"2026-12-07T10:00:00Z"}}}}"#
                )));
            }
            self.write(
                DAEMONSETS,
                json!({"metadata": {"namespace": "kube-system", "name": "kured",
                    "annotations": annotations}}),
            );
        }
    }

    #[test]
    fn a_cordon_while_halted_is_caught_unless_the_node_holds_a_slot() {
        let mut h = History::default();
        h.node("a", false);
        h.node("b", false);
        h.lock(Some("a"), None);
        h.node("a", true); // a drains under the lock: fine
        h.lock(Some("a"), Some("a")); // a fails: halted, a keeps its record
        h.node("a", false);
        h.node("a", true); // the holder's own cordon while halted: allowed
        assert!(cordons_while_halted(&h.0, 0, Backend::Annotation).is_empty());
        h.node("b", true); // b drains without a slot while halted: caught
        assert_eq!(cordons_while_halted(&h.0, 0, Backend::Annotation), ["b"]);
        // Before start_rv it does not count; after the resume it is fine.
        assert!(cordons_while_halted(&h.0, 100, Backend::Annotation).is_empty());
        let mut resumed = History::default();
        resumed.node("b", false);
        resumed.lock(None, Some("a"));
        resumed.lock(None, None);
        resumed.node("b", true);
        assert!(cordons_while_halted(&resumed.0, 0, Backend::Annotation).is_empty());
    }

    #[test]
    fn time_of_takes_the_first_sample_that_saw_the_write() {
        let samples = [
            (5, Duration::from_millis(10)),
            (9, Duration::from_millis(20)),
        ];
        assert_eq!(time_of(&samples, 3), Some(Duration::from_millis(10)));
        assert_eq!(time_of(&samples, 6), Some(Duration::from_millis(20)));
        assert_eq!(time_of(&samples, 10), None);
    }
}
