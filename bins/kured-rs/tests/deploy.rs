//! Renders `deploy/kured-rs` (and its signal variant) with `kubectl kustomize` and checks the
//! `DaemonSet` and the RBAC rules.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn render(dir: &str) -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(root.join(dir))
        .output()
        .expect("kubectl is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| {
            let v: serde_yaml_ng::Value = serde::Deserialize::deserialize(doc).unwrap();
            serde_json::to_value(v).unwrap()
        })
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name} not rendered"))
}

/// `(apiGroup, resource, verb, resourceNames)` tuples of a role.
fn rules(role: &Value) -> Vec<(String, String, String, Vec<String>)> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for rule in role["rules"].as_array().unwrap() {
        for g in strings(&rule["apiGroups"]) {
            for r in strings(&rule["resources"]) {
                for v in strings(&rule["verbs"]) {
                    out.push((g.clone(), r.clone(), v, strings(&rule["resourceNames"])));
                }
            }
        }
    }
    out
}

fn allows(
    rules: &[(String, String, String, Vec<String>)],
    group: &str,
    resource: &str,
    verb: &str,
) -> bool {
    rules
        .iter()
        .any(|(g, r, v, _)| g == group && r == resource && v == verb)
}

#[test]
fn base_renders_the_daemonset_and_least_privilege_rbac() {
    let objects = render("deploy/kured-rs");
    let ds = find(&objects, "DaemonSet", "kured");
    assert_eq!(ds["metadata"]["namespace"], "kube-system");
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"], true);
    assert_eq!(pod["serviceAccountName"], "kured");
    assert_eq!(
        pod["enableServiceLinks"], false,
        "service links would inject KURED_* vars"
    );
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["privileged"], true);
    let env = c["env"].as_array().unwrap();
    assert!(env.iter().any(|e| e["name"] == "KURED_NODE_ID"
        && e["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"));
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/sentinel")
        .expect("sentinel mount");
    assert_eq!(mount["readOnly"], true);
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert_eq!(volume["hostPath"]["path"], "/var/run");
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.contains(&"--reboot-sentinel=/sentinel/reboot-required"),
        "{args:?}"
    );
    assert!(
        !args.iter().any(|a| a.starts_with("--reboot-method")),
        "{args:?}"
    );
    assert!(
        args.contains(&"--autoscaler-guard"),
        "the base turns the autoscaler guard on: {args:?}"
    );

    let cluster = rules(find(&objects, "ClusterRole", "kured"));
    for (g, r, v) in [
        ("", "nodes", "get"),
        ("", "nodes", "patch"),
        ("", "nodes", "list"),
        ("", "nodes", "watch"),
        ("", "pods", "list"),
        ("", "pods", "get"),
        ("", "pods", "delete"),
        ("", "pods/eviction", "create"),
        ("apps", "daemonsets", "get"),
    ] {
        assert!(allows(&cluster, g, r, v), "ClusterRole lacks {v} {g}/{r}");
    }
    // Least privilege: no wildcards, no cluster-wide writes beyond the above.
    for (g, r, v, _) in &cluster {
        assert!(
            g != "*" && r != "*" && v != "*",
            "wildcard rule {g}/{r} {v}"
        );
        assert!(
            !(r == "nodes" && (v == "delete" || v == "update" || v == "create")),
            "ClusterRole may {v} nodes"
        );
        assert!(
            !(r == "daemonsets" && v != "get"),
            "cluster-wide {v} on daemonsets"
        );
    }
    let role = find(&objects, "Role", "kured");
    assert_eq!(role["metadata"]["namespace"], "kube-system");
    let ns_rules = rules(role);
    let ds_update: Vec<_> = ns_rules
        .iter()
        .filter(|(g, r, v, _)| g == "apps" && r == "daemonsets" && v == "update")
        .collect();
    assert!(
        !ds_update.is_empty(),
        "Role cannot update the lock DaemonSet"
    );
    assert!(
        ds_update.iter().all(|(_, _, _, names)| names == &["kured"]),
        "DaemonSet update not restricted to the lock DaemonSet: {ds_update:?}"
    );
    assert!(allows(&ns_rules, "apps", "daemonsets", "watch"));
    assert!(allows(&ns_rules, "coordination.k8s.io", "leases", "update"));
    let crb = find(&objects, "ClusterRoleBinding", "kured");
    assert_eq!(crb["subjects"][0]["name"], "kured");
    assert_eq!(crb["subjects"][0]["namespace"], "kube-system");
    let rb = find(&objects, "RoleBinding", "kured");
    assert_eq!(rb["roleRef"]["name"], "kured");
    find(&objects, "ServiceAccount", "kured");
}

#[test]
fn signal_variant_has_no_privilege_and_only_cap_kill() {
    let objects = render("deploy/kured-rs/signal");
    let ds = find(&objects, "DaemonSet", "kured");
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"], true);
    let c = &pod["containers"][0];
    let sc = &c["securityContext"];
    assert_eq!(sc["privileged"], false);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["add"], serde_json::json!(["KILL"]));
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(args.contains(&"--reboot-method=signal"), "{args:?}");
}
