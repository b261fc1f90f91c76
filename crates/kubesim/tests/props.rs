//! Property tests for kubesim's parsers and patch functions on arbitrary input: label and
//! field selectors never panic and mean what they say; merge, strategic merge and JSON patch
//! never panic on any JSON, a failed patch leaves the object unchanged, and a JSON merge patch
//! is idempotent. The cargo-fuzz targets `labels_selectors` and `kubesim_patch` (in `fuzz/`)
//! run the same functions on unstructured input for longer.

use kubesim::patch::{json_patch, merge_patch, strategic_merge_patch};
use kubesim::resources::well_known::{DAEMONSETS, NODES, PODS};
use kubesim::selector::{FieldSelector, LabelSelector};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Keys that make patches hit the interesting code: merge-keyed lists (containers, env,
/// volumes, tolerations), atomic ones (taints), directives and plain fields.
const KEYS: &[&str] = &[
    "metadata",
    "labels",
    "annotations",
    "spec",
    "taints",
    "containers",
    "initContainers",
    "env",
    "ports",
    "volumes",
    "tolerations",
    "template",
    "finalizers",
    "name",
    "key",
    "value",
    "effect",
    "containerPort",
    "unschedulable",
    "$patch",
    "$retainKeys",
    "$setElementOrder/containers",
    "$setElementOrder/env",
    "$deleteFromPrimitiveList/finalizers",
    "x",
];

fn json_tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-2i64..70000).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("delete".to_owned()),
            Just("replace".to_owned()),
            Just("merge".to_owned()),
            Just("NoSchedule".to_owned()),
            Just("a".to_owned()),
            any::<String>(),
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..5).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

fn json_patch_ops() -> impl Strategy<Value = Value> {
    let path = "(/(metadata|spec|labels|taints|containers|0|1|-|a~1b|~0|x)){0,4}";
    prop::collection::vec(
        (
            prop::sample::select(&["add", "remove", "replace", "move", "copy", "test", "nope"][..]),
            path,
            path,
            json_tree(),
        )
            .prop_map(|(op, path, from, value)| {
                json!({"op": op, "path": path, "from": from, "value": value})
            }),
        0..4,
    )
    .prop_map(Value::Array)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn patches_on_arbitrary_json_never_panic_and_fail_atomically(
        target in json_tree(),
        patch in json_tree(),
    ) {
        let mut once = target.clone();
        merge_patch(&mut once, &patch);
        let mut twice = once.clone();
        merge_patch(&mut twice, &patch);
        prop_assert_eq!(&twice, &once, "merge patch is not idempotent");

        for rt in [NODES, PODS, DAEMONSETS] {
            let mut t = target.clone();
            if strategic_merge_patch(rt, &mut t, &patch).is_err() {
                prop_assert_eq!(&t, &target, "failed {} strategic patch changed the object", rt.kind);
            }
        }

        let mut t = target.clone();
        if json_patch(&mut t, &patch).is_err() {
            prop_assert_eq!(&t, &target);
        }
    }

    #[test]
    fn json_patch_operation_lists_never_panic_and_fail_atomically(
        target in json_tree(),
        ops in json_patch_ops(),
    ) {
        let mut t = target.clone();
        if json_patch(&mut t, &ops).is_err() {
            prop_assert_eq!(&t, &target);
        }
    }

    #[test]
    fn label_selectors_never_panic(
        s in prop_oneof![any::<String>(), "[a-z0-9./_!=(), <>-]{0,30}", "[a-z]{1,3} (in|notin) \\([a-z,]{0,8}\\)"],
    ) {
        let obj = json!({"metadata": {"labels": {"a": "b", "in": "x"}}});
        if let Ok(sel) = LabelSelector::parse(&s) {
            let _ = sel.matches(&obj);
            // Parsing is deterministic.
            prop_assert_eq!(LabelSelector::parse(&s).ok(), Some(sel));
        }
    }

    #[test]
    fn set_selectors_mean_membership(
        key in "[a-z]([a-z0-9.-]{0,8}[a-z0-9])?",
        values in prop::collection::btree_set("[a-z0-9]{1,6}", 1..4),
        actual in prop::option::of("[a-z0-9]{1,6}"),
    ) {
        let list: Vec<&str> = values.iter().map(String::as_str).collect();
        let mut labels = Map::new();
        if let Some(v) = &actual {
            labels.insert(key.clone(), Value::String(v.clone()));
        }
        let obj = json!({"metadata": {"labels": labels}});
        let member = actual.as_ref().is_some_and(|v| values.contains(v));
        let sel_in = LabelSelector::parse(&format!("{key} in ({})", list.join(","))).expect("valid");
        prop_assert_eq!(sel_in.matches(&obj), member);
        let sel_notin = LabelSelector::parse(&format!("{key} notin ({})", list.join(", "))).expect("valid");
        prop_assert_eq!(sel_notin.matches(&obj), !member);
        let exists = LabelSelector::parse(&key).expect("valid");
        prop_assert_eq!(exists.matches(&obj), actual.is_some());
        let absent = LabelSelector::parse(&format!("!{key}")).expect("valid");
        prop_assert_eq!(absent.matches(&obj), actual.is_none());
    }

    #[test]
    fn field_selectors_never_panic_and_equality_means_equality(
        s in prop_oneof![any::<String>(), "[a-zA-Z.=!,\\\\ -]{0,30}"],
        node in "[a-z0-9-]{1,10}",
    ) {
        let pod = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"nodeName": node}});
        for rt in [PODS, NODES, DAEMONSETS] {
            if let Ok(sel) = FieldSelector::parse(rt, &s) {
                let _ = sel.matches(&pod);
            }
        }
        let eq = FieldSelector::parse(PODS, &format!("spec.nodeName={node}")).expect("valid");
        prop_assert!(eq.matches(&pod));
        let ne = FieldSelector::parse(PODS, &format!("spec.nodeName!={node}")).expect("valid");
        prop_assert!(!ne.matches(&pod));
    }
}
