//! Unit tests of the invariant checkers: each is fed a fabricated history that breaks it.
use super::*;
use serde_json::json;

/// A fabricated history: kubesim's event shape, resourceVersions in order.
#[derive(Default)]
struct History {
    events: Vec<Arc<Event>>,
}

impl History {
    fn push(&mut self, rt: &'static kubesim::resources::ResourceType, kind: EventType, obj: Value) {
        let rv = self.events.len() as u64 + 1;
        self.events.push(Arc::new(Event {
            rv,
            resource: rt,
            kind,
            object: Arc::new(obj),
            previous: None,
        }));
    }

    fn node(&mut self, name: &str, cordoned: bool, boot: &str) {
        self.push(
            NODES,
            EventType::Modified,
            json!({"metadata": {"name": name}, "spec": {"unschedulable": cordoned},
                   "status": {"nodeInfo": {"bootID": boot}}}),
        );
    }

    fn lock(&mut self, holders: &[&str]) {
        let value = if holders.is_empty() {
            json!({})
        } else {
            let locks: Vec<Value> = holders
                .iter()
                .map(|h| json!({"nodeID": h, "metadata": {"unschedulable": false}, "created": "2026-01-01T00:00:00Z", "TTL": 0}))
                .collect();
            json!({lock::DEFAULT_ANNOTATION: json!({"maxOwners": 3, "locks": locks}).to_string()})
        };
        self.push(
            DAEMONSETS,
            EventType::Modified,
            json!({"metadata": {"name": "kured", "namespace": "kube-system", "annotations": value}}),
        );
    }

    /// Pod `p-<node>[suffix]` on `<node>`.
    fn pod(&mut self, name: &str, ready: bool) {
        let node = &name[2..3];
        self.push(
            PODS,
            EventType::Modified,
            json!({"metadata": {"name": name, "namespace": "default", "labels": {"app": "app-0"}},
                   "spec": {"nodeName": node},
                   "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}}),
        );
    }

    /// Two nodes with their pods, seeded (rv <= start).
    fn seeded() -> (Self, Expectations) {
        let mut h = Self::default();
        h.node("a", false, "a0");
        h.node("b", false, "b0");
        h.pod("p-a", true);
        h.pod("p-b", true);
        let exp = Expectations {
            start_rv: h.events.len() as u64,
            nodes: vec!["a".into(), "b".into()],
            max_concurrency: 1,
            dead: BTreeSet::new(),
            abandoned: BTreeSet::new(),
            lock: LockObject::kured_annotation(),
            budgets: vec![Budget {
                app: "app-0".into(),
                min_available: 1,
                replicas: 2,
            }],
            completed: true,
        };
        (h, exp)
    }

    /// A clean cycle of `node`: lock, cordon, pod evicted and replaced, reboot, uncordon,
    /// release.
    fn cycle(&mut self, node: &str) {
        self.lock(&[node]);
        self.node(node, true, &format!("{node}0"));
        self.pod(&format!("p-{node}"), false);
        self.pod(&format!("p-{node}"), true);
        self.node(node, true, &format!("{node}1"));
        self.node(node, false, &format!("{node}1"));
        self.lock(&[]);
    }

    fn kinds(&self, exp: &Expectations) -> Vec<ViolationKind> {
        check(&self.events, exp)
            .into_iter()
            .map(|v| v.kind)
            .collect()
    }
}

#[test]
fn a_clean_rolling_reboot_passes() {
    let (mut h, exp) = History::seeded();
    h.cycle("a");
    h.cycle("b");
    assert_eq!(check(&h.events, &exp), vec![]);
}

#[test]
fn two_cordoned_at_concurrency_one_is_caught() {
    let (mut h, exp) = History::seeded();
    h.lock(&["a", "b"]);
    h.node("a", true, "a0");
    h.node("b", true, "b0");
    let kinds = h.kinds(&exp);
    assert!(kinds.contains(&ViolationKind::TooManyCordoned), "{kinds:?}");
    assert!(kinds.contains(&ViolationKind::TooManyHolders), "{kinds:?}");
}

#[test]
fn too_many_holders_is_caught() {
    let (mut h, exp) = History::seeded();
    h.lock(&["a", "manual"]);
    h.lock(&[]);
    h.cycle("a");
    h.cycle("b");
    assert_eq!(h.kinds(&exp), vec![ViolationKind::TooManyHolders]);
}

#[test]
fn cordon_without_the_lock_is_caught() {
    let (mut h, exp) = History::seeded();
    h.node("a", true, "a0");
    h.lock(&["a"]);
    h.node("a", true, "a1");
    h.node("a", false, "a1");
    h.lock(&[]);
    h.cycle("b");
    assert_eq!(h.kinds(&exp), vec![ViolationKind::CordonedWithoutLock]);
    // Releasing before the uncordon is caught too.
    let (mut h, exp) = History::seeded();
    h.lock(&["a"]);
    h.node("a", true, "a0");
    h.node("a", true, "a1");
    h.lock(&[]);
    h.node("a", false, "a1");
    h.cycle("b");
    assert_eq!(h.kinds(&exp), vec![ViolationKind::CordonedWithoutLock]);
}

#[test]
fn budget_breach_is_caught_but_not_after_a_node_deletion() {
    let (mut h, exp) = History::seeded();
    h.lock(&["a"]);
    h.node("a", true, "a0");
    h.pod("p-a", false);
    h.pod("p-b", false);
    h.pod("p-a", true);
    h.pod("p-b", true);
    h.node("a", true, "a1");
    h.node("a", false, "a1");
    h.lock(&[]);
    h.cycle("b");
    assert_eq!(h.kinds(&exp), vec![ViolationKind::PdbViolated]);

    // Pods lost with a deleted node are an involuntary disruption.
    let (mut h, mut exp) = History::seeded();
    exp.dead.insert("b".into());
    h.lock(&["b"]);
    h.push(
        NODES,
        EventType::Deleted,
        json!({"metadata": {"name": "b"}, "spec": {"unschedulable": true}}),
    );
    h.pod("p-b", false);
    h.pod("p-a", false);
    h.pod("p-a2", true);
    h.pod("p-a", true);
    h.cycle("a");
    assert_eq!(check(&h.events, &exp), vec![]);
    // Once the app is whole again, the budget counts again.
    h.pod("p-a", false);
    h.pod("p-a2", false);
    assert_eq!(h.kinds(&exp), vec![ViolationKind::PdbViolated]);
}

#[test]
fn left_cordoned_is_caught_unless_dead() {
    let (mut h, mut exp) = History::seeded();
    h.cycle("a");
    h.lock(&["b"]);
    h.node("b", true, "b0");
    h.node("b", true, "b1");
    assert_eq!(h.kinds(&exp), vec![ViolationKind::LeftCordoned]);
    exp.dead.insert("b".into());
    assert_eq!(h.kinds(&exp), vec![]);
}

#[test]
fn reboot_counts_are_checked() {
    let (mut h, exp) = History::seeded();
    h.cycle("a");
    // b never rebooted.
    assert_eq!(h.kinds(&exp), vec![ViolationKind::RebootCount]);
    // b rebooted twice.
    h.cycle("b");
    h.lock(&["b"]);
    h.node("b", true, "b1");
    h.node("b", true, "b2");
    h.node("b", false, "b2");
    h.lock(&[]);
    assert_eq!(h.kinds(&exp), vec![ViolationKind::RebootCount]);
}

#[test]
fn timeline_lists_the_run_not_the_seed() {
    let (mut h, exp) = History::seeded();
    h.cycle("a");
    let lines = timeline(&h.events, &exp);
    assert_eq!(lines.len(), 7, "{lines:#?}");
    assert!(lines[0].contains(r#"lock holders ["a"]"#), "{lines:#?}");
    assert!(lines[1].contains("node a cordoned=true"), "{lines:#?}");
    assert!(
        lines[2].contains("pod p-a on a phase=Running healthy=false"),
        "{lines:#?}"
    );
}

#[test]
fn timeout_is_a_violation() {
    let (mut h, mut exp) = History::seeded();
    h.cycle("a");
    exp.completed = false;
    // b's missing reboot is the timeout's consequence, not a separate finding.
    assert_eq!(h.kinds(&exp), vec![ViolationKind::Timeout]);
}

#[test]
fn lease_holders_are_counted() {
    let (mut h, mut exp) = History::seeded();
    exp.lock = LockObject::kured_leases();
    for (lease, holder) in [("kured-0", "a"), ("kured-1", "b")] {
        h.push(
            LEASES,
            EventType::Added,
            json!({"metadata": {"name": lease, "namespace": "kube-system"}, "spec": {"holderIdentity": holder}}),
        );
    }
    assert!(h.kinds(&exp).contains(&ViolationKind::TooManyHolders));
}
