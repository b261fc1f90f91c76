//! Unit tests of the patch types (several against recorded real-server answers).

use serde_json::{Value, json};

use super::*;
use crate::errors::ApiError;
use crate::resources::well_known::{
    DAEMONSETS, DEPLOYMENTS, LEASES, NAMESPACES, NODES, PDBS, PODS,
};

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/k8s-reference")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read fixture {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn content_types() {
    assert_eq!(
        PatchKind::from_content_type("application/json-patch+json"),
        Some(PatchKind::Json)
    );
    assert_eq!(
        PatchKind::from_content_type("application/merge-patch+json; charset=utf-8"),
        Some(PatchKind::Merge)
    );
    assert_eq!(
        PatchKind::from_content_type("Application/Strategic-Merge-Patch+JSON"),
        Some(PatchKind::Strategic)
    );
    assert_eq!(
        PatchKind::from_content_type("application/apply-patch+yaml"),
        Some(PatchKind::Apply)
    );
    assert_eq!(PatchKind::from_content_type("application/json"), None);
    assert_eq!(PatchKind::from_content_type("text/plain"), None);
    assert_eq!(PatchKind::from_content_type(""), None);
    for k in [
        PatchKind::Json,
        PatchKind::Merge,
        PatchKind::Strategic,
        PatchKind::Apply,
    ] {
        assert_eq!(PatchKind::from_content_type(k.content_type()), Some(k));
    }
}

// --- merge patch -----------------------------------------------------------------------

#[test]
fn merge_patch_rfc7386_examples() {
    // The test cases of RFC 7386 appendix A.
    let cases = [
        (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
        (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
        (json!({"a":"b"}), json!({"a":null}), json!({})),
        (
            json!({"a":"b","b":"c"}),
            json!({"a":null}),
            json!({"b":"c"}),
        ),
        (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
        (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
        (
            json!({"a":{"b":"c"}}),
            json!({"a":{"b":"d","c":null}}),
            json!({"a":{"b":"d"}}),
        ),
        (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
        (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
        (json!({"a":"b"}), json!(["c"]), json!(["c"])),
        (json!({"a":"foo"}), json!(null), json!(null)),
        (json!({"a":"foo"}), json!("bar"), json!("bar")),
        (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
        (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
        (
            json!({}),
            json!({"a":{"bb":{"ccc":null}}}),
            json!({"a":{"bb":{}}}),
        ),
    ];
    for (mut target, patch, want) in cases {
        merge_patch(&mut target, &patch);
        assert_eq!(target, want, "patch {patch}");
    }
}

#[test]
fn merge_patch_fixtures() {
    // Applying the recorded patch to the recorded result changes nothing (the patch is
    // already reflected in it, including the removals).
    for name in [
        "patch-node-merge-patch-annotation-null-removes.json",
        "patch-node-merge-patch-annotation-slash-key.json",
        "patch-node-merge-patch-taints-null-removes.json",
        "patch-node-merge-patch-taints-replaces-list.json",
        "patch-node-merge-patch-unschedulable-true.json",
    ] {
        let f = fixture(name);
        let after = &f["response"]["body"];
        let mut target = after.clone();
        merge_patch(&mut target, &f["request"]["body"]);
        assert_eq!(&target, after, "{name}");
    }
    let mut node = json!({"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}});
    merge_patch(&mut node, &json!({"spec": {"taints": null}}));
    assert_eq!(node, json!({"spec": {}}));
    let mut node = json!({"metadata": {"annotations": {"x": "1"}}});
    merge_patch(
        &mut node,
        &json!({"metadata": {"annotations": {"weave.works/kured-node-lock": "v"}}}),
    );
    assert_eq!(
        node["metadata"]["annotations"],
        json!({"x": "1", "weave.works/kured-node-lock": "v"})
    );
}

#[test]
fn merge_patch_keeps_key_order() {
    let mut v = json!({"a": 1, "b": 2, "c": 3});
    merge_patch(&mut v, &json!({"a": null, "d": 4}));
    assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"b":2,"c":3,"d":4}"#);
}

// --- strategic merge patch ---------------------------------------------------------------

fn node_with_taints() -> Value {
    json!({
        "kind": "Node",
        "metadata": {"name": "node-a", "labels": {"a": "1"}},
        "spec": {"taints": [
            {"key": "example.com/reboot", "value": "pending", "effect": "NoSchedule"},
            {"key": "example.com/second", "effect": "PreferNoSchedule"}
        ]},
        "status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady"}
        ], "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}
    })
}

#[test]
fn smp_taints_are_atomic() {
    let mut node = node_with_taints();
    let patch = json!({"spec": {"taints": [{"key": "example.com/reboot", "value": "in-progress", "effect": "NoSchedule"}]}});
    strategic_merge_patch(NODES, &mut node, &patch).unwrap();
    assert_eq!(node["spec"]["taints"], patch["spec"]["taints"]);
    assert_eq!(node["metadata"]["labels"], json!({"a": "1"}));
}

#[test]
fn smp_fixtures_taints_and_labels() {
    // add-taint-1 on a node without taints, then 2 and 3 replace the list.
    let mut node = json!({"metadata": {"name": "node-a"}, "spec": {}});
    for name in [
        "patch-node-smp-add-taint-1.json",
        "patch-node-smp-add-taint-2-replaces-list.json",
        "patch-node-smp-taint-3-replaces-list.json",
        "patch-node-smp-label.json",
    ] {
        let f = fixture(name);
        strategic_merge_patch(NODES, &mut node, &f["request"]["body"]).unwrap();
        if name.contains("taint") {
            let want = &f["response"]["body"]["spec"]["taints"];
            assert_eq!(&node["spec"]["taints"], want, "{name}");
        }
    }
    assert_eq!(
        node["metadata"]["labels"]["example.com/reboot-needed"],
        "true"
    );
}

#[test]
fn smp_delete_directive_on_atomic_taints_is_the_recorded_422() {
    let f = fixture("error-422-smp-delete-directive-on-atomic-taints.json");
    let mut node = node_with_taints();
    let before = node.clone();
    let err = strategic_merge_patch(NODES, &mut node, &f["request"]["body"]).unwrap_err();
    assert_eq!(node, before, "nothing changed");
    assert_eq!(err.code, 422);
    assert_eq!(err.to_status(), f["response"]["body"]);
    assert_eq!(
        err.headers,
        vec![(
            "Warning",
            f["response"]["headers"]["warning"]
                .as_str()
                .unwrap()
                .to_string()
        )]
    );
}

#[test]
fn invalid_taint_effect_is_the_recorded_422() {
    let f = fixture("error-422-invalid-node-taint-effect.json");
    let mut node = node_with_taints();
    let err = strategic_merge_patch(NODES, &mut node, &f["request"]["body"]).unwrap_err();
    assert_eq!(err.to_status(), f["response"]["body"]);
    assert!(err.headers.is_empty());
    // Several errors: bracketed, de-duplicated message; causes twice.
    let bad =
        json!({"metadata": {"name": "n"}, "spec": {"taints": [{"key": "-x", "value": "-y"}]}});
    let err = validate_node_taints(&bad).unwrap_err();
    assert!(err.message.starts_with("Node \"n\" is invalid: [metadata.taints[0].key: Invalid value: \"-x\": name part must consist"), "{}", err.message);
    assert!(
        err.message
            .contains(", metadata.taints[0].value: Invalid value: \"-y\": a valid label must")
    );
    assert!(
        err.message
            .ends_with(", metadata.taints[0].effect: Required value]")
    );
    assert_eq!(
        err.details.as_ref().unwrap()["causes"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    assert!(validate_node_taints(&node_with_taints()).is_ok());

    let dup = json!({"metadata": {"name": "n"}, "spec": {"taints": [
        {"key": "k", "effect": "NoSchedule"},
        {"key": "k", "value": "other", "effect": "NoSchedule"},
        {"key": "k", "effect": "NoExecute"}
    ]}});
    let err = validate_node_taints(&dup).unwrap_err();
    assert_eq!(
        err.message,
        "Node \"n\" is invalid: metadata.taints[1]: Duplicate value: core.Taint{Key:\"k\", Value:\"other\", Effect:\"NoSchedule\", TimeAdded:(*v1.Time)(nil)}: taints must be unique by key and effect pair"
    );
    assert_eq!(
        err.details.as_ref().unwrap()["causes"][0]["reason"],
        "FieldValueDuplicate"
    );
}

#[test]
fn smp_status_conditions_merge_by_type_patched_first() {
    let f = fixture("patch-node-status-smp-conditions-merge.json");
    let mut node = node_with_taints();
    strategic_merge_patch(NODES, &mut node, &f["request"]["body"]).unwrap();
    let types: Vec<&str> = node["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = f["response"]["body"]["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, want);
    assert_eq!(types, ["MemoryPressure", "Ready"]);

    // Exactly the recorded list: start from the recorded result without the patched
    // condition, apply the recorded patch, get the recorded result back.
    let after = &f["response"]["body"];
    let mut before = after.clone();
    before["status"]["conditions"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c["type"] != "MemoryPressure");
    strategic_merge_patch(NODES, &mut before, &f["request"]["body"]).unwrap();
    assert_eq!(before["status"], after["status"]);

    // Updating an existing condition merges its fields in place.
    strategic_merge_patch(
        NODES,
        &mut node,
        &json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": null}]}}),
    )
    .unwrap();
    let ready = &node["status"]["conditions"][1];
    assert_eq!(ready, &json!({"type": "Ready", "status": "False"}));
    // Addresses merge by type too.
    strategic_merge_patch(
        NODES,
        &mut node,
        &json!({"status": {"addresses": [{"type": "Hostname", "address": "node-a"}]}}),
    )
    .unwrap();
    assert_eq!(node["status"]["addresses"].as_array().unwrap().len(), 2);
}

#[test]
fn smp_list_directives() {
    let mut node = node_with_taints();
    strategic_merge_patch(
        NODES,
        &mut node,
        &json!({"status": {"conditions": [{"type": "Ready", "$patch": "delete"}, {"type": "PIDPressure", "status": "False"}]}}),
    )
    .unwrap();
    assert_eq!(
        node["status"]["conditions"],
        json!([{"type": "PIDPressure", "status": "False"}])
    );
    strategic_merge_patch(
        NODES,
        &mut node,
        &json!({"status": {"conditions": [{"$patch": "replace"}, {"type": "Ready", "status": "True"}]}}),
    )
    .unwrap();
    assert_eq!(
        node["status"]["conditions"],
        json!([{"type": "Ready", "status": "True"}])
    );
    let err = strategic_merge_patch(
        NODES,
        &mut node,
        &json!({"status": {"conditions": [{"status": "True"}]}}),
    )
    .unwrap_err();
    assert_eq!(err.code, 500);
    assert!(
        err.message
            .contains("does not contain declared merge key: type")
    );
    let err = strategic_merge_patch(
        NODES,
        &mut node,
        &json!({"status": {"conditions": [{"type": "Ready", "$patch": "bogus"}]}}),
    )
    .unwrap_err();
    assert!(err.message.starts_with("unknown patch type: bogus"));
}

#[test]
fn smp_map_directives_and_nulls() {
    let mut pod = json!({"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}}});
    strategic_merge_patch(
        PODS,
        &mut pod,
        &json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}, "annotations": {"x": null}}}),
    )
    .unwrap();
    assert_eq!(pod["metadata"]["labels"], json!({"c": "3"}));
    assert_eq!(pod["metadata"]["annotations"], json!({}));
    strategic_merge_patch(
        PODS,
        &mut pod,
        &json!({"metadata": {"labels": {"$patch": "delete"}}}),
    )
    .unwrap();
    assert_eq!(pod["metadata"]["labels"], json!({}));
    // A new key drops the nulls inside it.
    strategic_merge_patch(
        PODS,
        &mut pod,
        &json!({"spec": {"nodeName": "n", "x": null}}),
    )
    .unwrap();
    assert_eq!(pod["spec"], json!({"nodeName": "n"}));
    // $retainKeys keeps only the listed keys.
    let mut dep =
        json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
    strategic_merge_patch(
        DEPLOYMENTS,
        &mut dep,
        &json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
    )
    .unwrap();
    assert_eq!(dep["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn smp_pod_lists_merge_by_their_keys() {
    let mut pod = json!({
        "metadata": {"name": "p", "finalizers": ["a"], "ownerReferences": [{"uid": "1", "name": "rs"}]},
        "spec": {
            "containers": [{"name": "app", "image": "v1", "env": [{"name": "A", "value": "1"}],
                            "ports": [{"containerPort": 80, "name": "http"}]}],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "tolerations": [{"key": "t1", "operator": "Exists"}]
        },
        "status": {"podIPs": [{"ip": "10.0.0.1"}]}
    });
    strategic_merge_patch(
        PODS,
        &mut pod,
        &json!({
            "metadata": {"finalizers": ["b", "a"], "ownerReferences": [{"uid": "2", "name": "other"}]},
            "spec": {
                "containers": [{"name": "app", "image": "v2", "env": [{"name": "B", "value": "2"}],
                                "ports": [{"containerPort": 443}]},
                               {"name": "sidecar", "image": "s"}],
                "volumes": [{"name": "cache", "emptyDir": {}}],
                "tolerations": [{"key": "t2", "operator": "Exists"}]
            },
            "status": {"podIPs": [{"ip": "fd00::1"}]}
        }),
    )
    .unwrap();
    assert_eq!(pod["metadata"]["finalizers"], json!(["b", "a"]));
    let owners: Vec<&str> = pod["metadata"]["ownerReferences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["uid"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["2", "1"]);
    let containers = pod["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2);
    assert_eq!(containers[0]["image"], "v2");
    assert_eq!(containers[0]["env"].as_array().unwrap().len(), 2);
    assert_eq!(containers[0]["ports"].as_array().unwrap().len(), 2);
    assert_eq!(containers[1]["name"], "sidecar");
    assert_eq!(pod["spec"]["volumes"].as_array().unwrap().len(), 2);
    assert_eq!(
        pod["spec"]["tolerations"],
        json!([{"key": "t2", "operator": "Exists"}]),
        "tolerations are atomic"
    );
    assert_eq!(pod["status"]["podIPs"].as_array().unwrap().len(), 2);

    strategic_merge_patch(
        PODS,
        &mut pod,
        &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
    )
    .unwrap();
    assert_eq!(pod["metadata"]["finalizers"], json!(["a"]));

    // Primitive merge lists are de-duplicated unions; an empty patch list is a no-op for a
    // merge list and a replacement for an atomic one.
    let mut pod = json!({"metadata": {"finalizers": ["x", "x", "y"]}, "spec": {
        "containers": [{"name": "c"}], "tolerations": [{"key": "t"}]}});
    strategic_merge_patch(
        PODS,
        &mut pod,
        &json!({"metadata": {"finalizers": ["z"]}, "spec": {"containers": [], "tolerations": []}}),
    )
    .unwrap();
    assert_eq!(pod["metadata"]["finalizers"], json!(["z", "x", "y"]));
    assert_eq!(pod["spec"]["containers"], json!([{"name": "c"}]));
    assert_eq!(pod["spec"]["tolerations"], json!([]));
}

#[test]
fn smp_set_element_order() {
    let mut node = json!({"metadata": {"name": "n"}, "status": {"conditions": [
        {"type": "A"}, {"type": "B"}, {"type": "C"}
    ]}});
    strategic_merge_patch(
        NODES,
        &mut node,
        &json!({"status": {
            "$setElementOrder/conditions": [{"type": "C"}, {"type": "B"}, {"type": "A"}],
            "conditions": [{"type": "B", "status": "True"}]
        }}),
    )
    .unwrap();
    let types: Vec<&str> = node["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["C", "B", "A"]);
    assert_eq!(node["status"]["conditions"][1]["status"], "True");
}

#[test]
fn smp_templates_pdb_selector_and_defaults() {
    let mut ds = json!({"spec": {"template": {"metadata": {"labels": {"a": "1"}},
        "spec": {"containers": [{"name": "kured", "image": "v1"}]}}}});
    strategic_merge_patch(
        DAEMONSETS,
        &mut ds,
        &json!({"spec": {"template": {"spec": {"containers": [{"name": "kured", "image": "v2"}]}}}}),
    )
    .unwrap();
    assert_eq!(
        ds["spec"]["template"]["spec"]["containers"],
        json!([{"name": "kured", "image": "v2"}])
    );

    let mut pdb = json!({"spec": {"selector": {"matchLabels": {"a": "1"}}, "minAvailable": 1}});
    strategic_merge_patch(
        PDBS,
        &mut pdb,
        &json!({"spec": {"selector": {"matchLabels": {"b": "2"}}}}),
    )
    .unwrap();
    assert_eq!(pdb["spec"]["selector"], json!({"matchLabels": {"b": "2"}}));

    assert_eq!(
        field_strategy("Node", &["spec", "taints"]),
        PatchStrategy::Default
    );
    assert_eq!(
        field_strategy("Pod", &["spec", "initContainers", "volumeMounts"]),
        PatchStrategy::MergeByKey("mountPath")
    );
    assert_eq!(
        field_strategy(
            "Deployment",
            &["spec", "template", "metadata", "finalizers"]
        ),
        PatchStrategy::MergeSet
    );
    assert_eq!(
        field_strategy("Namespace", &["status", "conditions"]),
        PatchStrategy::MergeByKey("type")
    );
    assert_eq!(
        field_strategy("Pod", &["spec", "tolerations"]),
        PatchStrategy::Default
    );
    assert_eq!(
        field_strategy(LEASES.kind, &["spec"]),
        PatchStrategy::Default
    );

    let mut ns = json!({"metadata": {"name": "x"}});
    strategic_merge_patch(
        NAMESPACES,
        &mut ns,
        &json!({"metadata": {"labels": {"a": "b"}}}),
    )
    .unwrap();
    assert_eq!(ns["metadata"]["labels"]["a"], "b");
}

#[test]
fn smp_bad_bodies() {
    let mut node = node_with_taints();
    let err = strategic_merge_patch(NODES, &mut node, &json!([1])).unwrap_err();
    assert_eq!(err.code, 400);
    assert_eq!(
        err.message,
        "json: cannot unmarshal array into Go value of type map[string]interface {}"
    );
    let err = strategic_merge_patch(
        NODES,
        &mut node,
        &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "x"}}),
    )
    .unwrap_err();
    assert_eq!(err.code, 400);
    assert_eq!(node, node_with_taints());
}

#[test]
fn smp_warnings_for_dropped_directives() {
    let mut node = json!({"metadata": {"name": "n"}});
    let warnings = strategic_merge_patch_with_warnings(
        NODES,
        &mut node,
        &json!({"status": {"conditions": [{"type": "Ready", "$patch": "delete"}]}}),
    )
    .unwrap();
    assert_eq!(warnings, ["unknown field \"status.conditions[0].$patch\""]);
    assert_eq!(node["status"]["conditions"], json!([{"type": "Ready"}]));
    assert_eq!(
        warning_header_value(&warnings[0]),
        "299 - \"unknown field \\\"status.conditions[0].$patch\\\"\""
    );
}

// --- JSON patch --------------------------------------------------------------------------

fn assert_json_patch_failed(target: &Value, ops: &Value) {
    let mut t = target.clone();
    let err = json_patch(&mut t, ops).unwrap_err();
    assert_eq!(err, ApiError::json_patch_failed(), "{ops}");
    assert_eq!(&t, target, "unchanged after a failure: {ops}");
}

#[test]
fn json_patch_error_fixtures() {
    let pod_without_annotations =
        json!({"metadata": {"name": "solo-1", "namespace": "default"}, "spec": {}});
    let node = json!({"metadata": {"name": "node-a", "resourceVersion": "300", "labels": {"bump": "1"},
                                    "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
                      "spec": {}});
    let cases = [
        (
            "error-422-json-patch-add-missing-parent.json",
            &pod_without_annotations,
        ),
        ("error-422-json-patch-append-to-missing-taints.json", &node),
        ("error-422-json-patch-remove-missing-key.json", &node),
        (
            "error-422-json-patch-test-op-failed-resourceversion.json",
            &node,
        ),
        ("error-422-json-patch-test-op-failed.json", &node),
    ];
    for (name, target) in cases {
        let f = fixture(name);
        let mut t = target.clone();
        let err = json_patch(&mut t, &f["request"]["body"]).unwrap_err();
        assert_eq!(err.to_status(), f["response"]["body"], "{name}");
        assert_eq!(&t, target, "{name}");
    }
}

#[test]
fn json_patch_success_fixtures() {
    let mut node = json!({"metadata": {"name": "node-a", "resourceVersion": "315",
        "annotations": {"node.alpha.kubernetes.io/ttl": "0"}}, "spec": {}});
    let f = fixture("patch-node-json-patch-add-annotations-map-replaces-existing.json");
    json_patch(&mut node, &f["request"]["body"]).unwrap();
    assert_eq!(
        node["metadata"]["annotations"],
        f["response"]["body"]["metadata"]["annotations"]
    );
    let f = fixture("patch-node-json-patch-test-and-replace-annotation.json");
    let mut n2 = node.clone();
    n2["metadata"]["annotations"]["weave.works/kured-reboot-in-progress"] =
        json!("2026-01-02T03:04:05Z");
    json_patch(&mut n2, &f["request"]["body"]).unwrap();
    assert_eq!(
        n2["metadata"]["annotations"]["weave.works/kured-reboot-in-progress"],
        "2026-01-02T04:05:06Z"
    );
    let f = fixture("patch-node-json-patch-remove-annotation.json");
    json_patch(&mut n2, &f["request"]["body"]).unwrap();
    assert_eq!(n2["metadata"]["annotations"], json!({}));

    let f = fixture("patch-node-json-patch-add-taints-array.json");
    json_patch(&mut node, &f["request"]["body"]).unwrap();
    let f2 = fixture("patch-node-json-patch-append-taint-existing.json");
    json_patch(&mut node, &f2["request"]["body"]).unwrap();
    assert_eq!(
        node["spec"]["taints"],
        f2["response"]["body"]["spec"]["taints"]
    );

    let f = fixture("patch-daemonset-json-patch-lock-annotation.json");
    let mut ds = json!({"metadata": {"name": "kured", "resourceVersion": "315",
        "annotations": {"weave.works/kured-node-lock": "{}"}}});
    json_patch(&mut ds, &f["request"]["body"]).unwrap();
    assert_eq!(
        ds["metadata"]["annotations"]["weave.works/kured-node-lock"],
        f["request"]["body"][1]["value"]
    );
    ds["metadata"]["resourceVersion"] = json!("316");
    assert_json_patch_failed(&ds, &f["request"]["body"]);
}

#[test]
fn json_patch_rfc6902_operations() {
    let doc = json!({"a": {"b": [1, 2, 3]}, "c/d": 1, "e~f": 2});
    let apply = |ops: Value| {
        let mut d = doc.clone();
        json_patch(&mut d, &ops).unwrap();
        d
    };
    assert_eq!(
        apply(json!([{"op": "add", "path": "/a/b/1", "value": 9}]))["a"]["b"],
        json!([1, 9, 2, 3])
    );
    assert_eq!(
        apply(json!([{"op": "add", "path": "/a/b/3", "value": 9}]))["a"]["b"],
        json!([1, 2, 3, 9])
    );
    assert_eq!(
        apply(json!([{"op": "remove", "path": "/a/b/0"}]))["a"]["b"],
        json!([2, 3])
    );
    assert_eq!(
        apply(json!([{"op": "replace", "path": "/c~1d", "value": 5}]))["c/d"],
        5
    );
    assert_eq!(
        apply(json!([{"op": "remove", "path": "/e~0f"}])).get("e~f"),
        None
    );
    let moved = apply(json!([{"op": "move", "from": "/a/b", "path": "/x"}]));
    assert_eq!(moved["x"], json!([1, 2, 3]));
    assert_eq!(moved["a"], json!({}));
    let copied = apply(json!([{"op": "copy", "from": "/a/b/2", "path": "/a/b/0"}]));
    assert_eq!(copied["a"]["b"], json!([3, 1, 2, 3]));
    apply(json!([{"op": "test", "path": "/a/b", "value": [1, 2, 3]}]));
    apply(json!([{"op": "test", "path": "/a/missing", "value": null}]));
    assert_eq!(
        apply(json!([{"op": "add", "path": "", "value": {"z": 1}}])),
        json!({"z": 1})
    );
    assert_eq!(apply(json!(null)), doc);
    assert_eq!(apply(json!([])), doc);

    for ops in [
        json!([{"op": "add", "path": "/a/b/5", "value": 1}]),
        json!([{"op": "add", "path": "/a/b/x", "value": 1}]),
        json!([{"op": "add", "path": "/x/y", "value": 1}]),
        json!([{"op": "remove", "path": "/a/b/3"}]),
        json!([{"op": "remove", "path": "/zz"}]),
        json!([{"op": "replace", "path": "/zz", "value": 1}]),
        json!([{"op": "move", "from": "/a", "path": "/a/b/c"}]),
        json!([{"op": "move", "from": "/zz", "path": "/y"}]),
        json!([{"op": "copy", "from": "/zz", "path": "/y"}]),
        json!([{"op": "test", "path": "/a/b/0", "value": 2}]),
        json!([{"op": "test", "path": "/zz/y", "value": null}]),
        json!([{"op": "frobnicate", "path": "/a"}]),
        json!([{"path": "/a"}]),
        json!([{"op": "add", "value": 1}]),
        json!([{"op": "add", "path": "a", "value": 1}]),
        json!([null]),
        // Atomic: the first op succeeds, the second fails.
        json!([{"op": "add", "path": "/new", "value": 1}, {"op": "remove", "path": "/zz"}]),
    ] {
        assert_json_patch_failed(&doc, &ops);
    }
}

#[test]
fn json_patch_bodies_that_do_not_decode_are_400() {
    let mut d = json!({});
    let err = json_patch(&mut d, &json!({"op": "add"})).unwrap_err();
    assert_eq!(err.code, 400);
    assert_eq!(
        err.message,
        "error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp"
    );
    assert_eq!(err.reason, Some("BadRequest"));
    assert!(err.details.is_none());
    let err = json_patch(&mut d, &json!([1])).unwrap_err();
    assert_eq!(
        err.message,
        "error decoding patch: json: cannot unmarshal number into Go value of type handlers.jsonPatchOp"
    );
    let err = json_patch(&mut d, &json!([{"op": "add", "path": 1}])).unwrap_err();
    assert_eq!(
        err.message,
        "error decoding patch: json: cannot unmarshal number into Go struct field jsonPatchOp.path of type string"
    );
    assert_eq!(d, json!({}));
}

/// JSON trees of maps and scalars (no lists, no directive keys), keys from a small set so
/// that patches and targets overlap.
fn map_tree() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0i64..5).prop_map(Value::from),
        "[xy]{0,2}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        proptest::collection::btree_map("[a-d]", inner, 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    })
}

proptest::proptest! {
    #[test]
    fn smp_without_lists_is_a_json_merge_patch(target in map_tree(), patch in map_tree()) {
        proptest::prop_assume!(target.is_object() && patch.is_object());
        let mut by_merge = target.clone();
        merge_patch(&mut by_merge, &patch);
        let mut by_smp = target.clone();
        strategic_merge_patch(LEASES, &mut by_smp, &patch).unwrap();
        proptest::prop_assert_eq!(by_smp, by_merge);
    }

    #[test]
    fn json_patch_never_panics(path in "(/[a-c0-9~-]{0,3}){0,3}", op in "(add|remove|replace|move|copy|test)") {
        let doc = json!({"a": {"b": [1, 2]}, "c": "d", "0": [[]]});
        let mut d = doc.clone();
        let ops = json!([{"op": op, "path": path, "from": path, "value": {"x": 1}}]);
        if json_patch(&mut d, &ops).is_err() {
            proptest::prop_assert_eq!(d, doc);
        }
    }
}
