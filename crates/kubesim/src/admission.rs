//! The defaults kube-apiserver's defaulting and admission chain add to an object on create
//! (fixture fact 14): pod service-account volume, default tolerations, priority, `QoS` class,
//! pod-template defaults of the workload kinds, the not-ready taint of a new Node, and the zero
//! status of a new `PodDisruptionBudget`.
//!
//! Used by the HTTP server on `POST` and by the simulated controllers when they create pods, so
//! that objects look the same whoever created them.

use serde_json::{Value, json};

use crate::resources::ResourceType;
use crate::store::name_suffix;

/// Mount path of the service-account token volume.
const SA_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Applies the create-time defaults of `rt` to `obj` (a full object with `metadata`).
///
/// Only fields that are absent are filled in; values the client sent are kept.
pub fn admit_create(rt: &ResourceType, obj: &mut Value) {
    if !obj.is_object() {
        return;
    }
    match (rt.group, rt.plural) {
        ("", "pods") => admit_pod(obj),
        ("", "nodes") => admit_node(obj),
        ("", "namespaces") => admit_namespace(obj),
        ("apps", "daemonsets") => admit_daemonset(obj),
        ("apps", "replicasets") => admit_replicaset(obj),
        ("apps", "deployments") => admit_deployment(obj),
        ("policy", "poddisruptionbudgets") => admit_pdb(obj),
        _ => {}
    }
}

/// Inserts `key: value` into `obj` (an object) unless the key is present.
fn default_key(obj: &mut Value, key: &str, value: Value) {
    if let Some(m) = obj.as_object_mut() {
        m.entry(key.to_string()).or_insert(value);
    }
}

/// `obj[key]` as a mutable object, created (or replaced when not an object) as needed.
fn object_at<'a>(obj: &'a mut Value, key: &str) -> &'a mut Value {
    if !obj[key].is_object() {
        obj[key] = json!({});
    }
    &mut obj[key]
}

/// Whether an image reference has no tag or the `latest` tag (then `imagePullPolicy: Always`).
fn image_is_latest(image: &str) -> bool {
    let without_digest = image.split('@').next().unwrap_or(image);
    if image.contains('@') {
        return false;
    }
    let last_segment = without_digest.rsplit('/').next().unwrap_or(without_digest);
    match last_segment.rsplit_once(':') {
        Some((_, tag)) => tag == "latest",
        None => true,
    }
}

/// Container defaults shared by pods and pod templates.
fn default_containers(spec: &mut Value, key: &str) {
    let Some(containers) = spec.get_mut(key).and_then(Value::as_array_mut) else {
        return;
    };
    for c in containers {
        if !c.is_object() {
            continue;
        }
        default_key(c, "resources", json!({}));
        default_key(c, "terminationMessagePath", json!("/dev/termination-log"));
        default_key(c, "terminationMessagePolicy", json!("File"));
        let policy = if c["image"].as_str().is_some_and(image_is_latest) {
            "Always"
        } else {
            "IfNotPresent"
        };
        default_key(c, "imagePullPolicy", json!(policy));
    }
}

/// Pod-spec defaults shared by pods and the templates of workload kinds.
fn default_pod_spec(spec: &mut Value) {
    default_containers(spec, "initContainers");
    default_containers(spec, "containers");
    default_key(spec, "restartPolicy", json!("Always"));
    default_key(spec, "terminationGracePeriodSeconds", json!(30));
    default_key(spec, "dnsPolicy", json!("ClusterFirst"));
    default_key(spec, "securityContext", json!({}));
    default_key(spec, "schedulerName", json!("default-scheduler"));
}

/// The `QoS` class of a pod spec: `Guaranteed` when every container has cpu and memory limits equal
/// to its requests, `BestEffort` when no container has any, `Burstable` otherwise.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten()
        .collect();
    let has_any = containers.iter().any(|c| {
        ["requests", "limits"].iter().any(|k| {
            c["resources"][*k]
                .as_object()
                .is_some_and(|m| !m.is_empty())
        })
    });
    if !has_any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let limit = &c["resources"]["limits"][*r];
            let request = &c["resources"]["requests"][*r];
            !limit.is_null() && (request.is_null() || request == limit)
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn admit_pod(obj: &mut Value) {
    let spec = object_at(obj, "spec");
    default_pod_spec(spec);
    default_key(spec, "serviceAccountName", json!("default"));
    let sa = spec["serviceAccountName"].clone();
    default_key(spec, "serviceAccount", sa);
    service_account_volume(spec);
    default_tolerations(spec);
    default_key(spec, "priority", json!(0));
    default_key(spec, "enableServiceLinks", json!(true));
    default_key(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    let qos = qos_class(spec);
    let status = object_at(obj, "status");
    default_key(status, "phase", json!("Pending"));
    default_key(status, "qosClass", json!(qos));
    if let Some(conds) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        for c in conds {
            default_key(c, "lastProbeTime", Value::Null);
        }
    }
}

/// The `kube-api-access-xxxxx` projected volume and its mount in every container, unless the
/// pod opts out (`automountServiceAccountToken: false`) or already mounts a token.
fn service_account_volume(spec: &mut Value) {
    if spec["automountServiceAccountToken"] == json!(false) {
        return;
    }
    let already = ["initContainers", "containers"].iter().any(|k| {
        spec[*k].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                c["volumeMounts"]
                    .as_array()
                    .is_some_and(|ms| ms.iter().any(|m| m["mountPath"] == json!(SA_MOUNT_PATH)))
            })
        })
    });
    if already {
        return;
    }
    let name = format!("kube-api-access-{}", name_suffix());
    let volume = json!({
        "name": name,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
                {"configMap": {"name": "openshift-service-ca.crt", "items": [{"key": "service-ca.crt", "path": "service-ca.crt"}]}}
            ],
            "defaultMode": 420
        }
    });
    if !spec["volumes"].is_array() {
        spec["volumes"] = json!([]);
    }
    if let Some(vs) = spec["volumes"].as_array_mut() {
        vs.push(volume);
    }
    for key in ["initContainers", "containers"] {
        let Some(cs) = spec.get_mut(key).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in cs {
            if !c.is_object() {
                continue;
            }
            if !c["volumeMounts"].is_array() {
                c["volumeMounts"] = json!([]);
            }
            if let Some(ms) = c["volumeMounts"].as_array_mut() {
                ms.push(json!({"name": name, "readOnly": true, "mountPath": SA_MOUNT_PATH}));
            }
        }
    }
}

/// `DefaultTolerationSeconds`: not-ready / unreachable `NoExecute` for 300 s, unless the pod
/// already tolerates them.
fn default_tolerations(spec: &mut Value) {
    if !spec["tolerations"].is_array() {
        spec["tolerations"] = json!([]);
    }
    let Some(ts) = spec["tolerations"].as_array_mut() else {
        return;
    };
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let tolerated = ts.iter().any(|t| {
            (t["key"] == json!(key) || (t["key"].is_null() && t["operator"] == json!("Exists")))
                && (t["effect"].is_null() || t["effect"] == json!("NoExecute"))
        });
        if !tolerated {
            ts.push(json!({
                "key": key,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300
            }));
        }
    }
}

fn admit_node(obj: &mut Value) {
    let ready = obj["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == json!("Ready") && c["status"] == json!("True"))
    });
    let spec = object_at(obj, "spec");
    if !ready {
        if !spec["taints"].is_array() {
            spec["taints"] = json!([]);
        }
        if let Some(ts) = spec["taints"].as_array_mut() {
            let present = ts.iter().any(|t| {
                t["key"] == json!("node.kubernetes.io/not-ready")
                    && t["effect"] == json!("NoSchedule")
            });
            if !present {
                ts.push(json!({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}));
            }
        }
    }
    let status = object_at(obj, "status");
    default_key(
        status,
        "daemonEndpoints",
        json!({"kubeletEndpoint": {"Port": 0}}),
    );
    let node_info = object_at(status, "nodeInfo");
    for key in [
        "machineID",
        "systemUUID",
        "bootID",
        "kernelVersion",
        "osImage",
        "containerRuntimeVersion",
        "kubeletVersion",
        "kubeProxyVersion",
        "operatingSystem",
        "architecture",
    ] {
        default_key(node_info, key, json!(""));
    }
}

fn admit_namespace(obj: &mut Value) {
    let name = obj["metadata"]["name"].clone();
    if name.is_string() {
        let meta = object_at(obj, "metadata");
        let labels = object_at(meta, "labels");
        if let Some(m) = labels.as_object_mut() {
            m.insert("kubernetes.io/metadata.name".into(), name);
        }
    }
    let spec = object_at(obj, "spec");
    default_key(spec, "finalizers", json!(["kubernetes"]));
    let status = object_at(obj, "status");
    default_key(status, "phase", json!("Active"));
}

/// Defaults of a workload's `spec.template.spec`.
fn default_template(obj: &mut Value) {
    let spec = object_at(obj, "spec");
    let template = object_at(spec, "template");
    let pod_spec = object_at(template, "spec");
    default_pod_spec(pod_spec);
}

fn admit_daemonset(obj: &mut Value) {
    default_template(obj);
    let spec = object_at(obj, "spec");
    default_key(
        spec,
        "updateStrategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
    );
    default_key(spec, "revisionHistoryLimit", json!(10));
    let meta = object_at(obj, "metadata");
    let annotations = object_at(meta, "annotations");
    default_key(
        annotations,
        "deprecated.daemonset.template.generation",
        json!("1"),
    );
    default_status(
        obj,
        &[
            ("currentNumberScheduled", json!(0)),
            ("numberMisscheduled", json!(0)),
            ("desiredNumberScheduled", json!(0)),
            ("numberReady", json!(0)),
        ],
    );
}

fn admit_replicaset(obj: &mut Value) {
    default_template(obj);
    let spec = object_at(obj, "spec");
    default_key(spec, "replicas", json!(1));
    default_status(obj, &[("replicas", json!(0))]);
}

fn admit_deployment(obj: &mut Value) {
    default_template(obj);
    let spec = object_at(obj, "spec");
    default_key(spec, "replicas", json!(1));
    default_key(
        spec,
        "strategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
    );
    default_key(spec, "revisionHistoryLimit", json!(10));
    default_key(spec, "progressDeadlineSeconds", json!(600));
    default_status(obj, &[]);
}

fn admit_pdb(obj: &mut Value) {
    default_status(
        obj,
        &[
            ("disruptionsAllowed", json!(0)),
            ("currentHealthy", json!(0)),
            ("desiredHealthy", json!(0)),
            ("expectedPods", json!(0)),
        ],
    );
}

/// Fills the zero status fields the real server shows right after create. (The HTTP server
/// drops a client-sent status before admission for the kinds whose status is server-owned; see
/// [`resets_status_on_create`].)
fn default_status(obj: &mut Value, fields: &[(&str, Value)]) {
    let status = object_at(obj, "status");
    for (k, v) in fields {
        default_key(status, k, v.clone());
    }
}

/// Whether the real apiserver discards a client-sent `.status` on create for this type (its
/// strategy's `PrepareForCreate` resets it): pods, workloads and `PodDisruptionBudgets`.
pub fn resets_status_on_create(rt: &ResourceType) -> bool {
    matches!(
        (rt.group, rt.plural),
        ("", "pods" | "namespaces")
            | ("apps", "daemonsets" | "deployments" | "replicasets")
            | ("policy", "poddisruptionbudgets")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::well_known::{DAEMONSETS, NODES, PDBS, PODS};

    #[test]
    fn pod_gets_the_recorded_defaults() {
        let mut pod = json!({"metadata":{"name":"p","namespace":"default"},
            "spec":{"containers":[{"name":"c","image":"example.invalid/x:dev"}]}});
        admit_create(PODS, &mut pod);
        let spec = &pod["spec"];
        assert_eq!(spec["serviceAccountName"], "default");
        assert_eq!(spec["serviceAccount"], "default");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["tolerations"].as_array().unwrap().len(), 2);
        assert_eq!(spec["tolerations"][0]["tolerationSeconds"], 300);
        let vol = spec["volumes"][0]["name"].as_str().unwrap();
        assert!(vol.starts_with("kube-api-access-") && vol.len() == 21);
        assert_eq!(spec["containers"][0]["volumeMounts"][0]["name"], vol);
        assert_eq!(spec["containers"][0]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(
            pod["status"],
            json!({"phase":"Pending","qosClass":"BestEffort"})
        );
    }

    #[test]
    fn latest_images_are_always_pulled_and_qos_follows_resources() {
        assert!(image_is_latest("nginx"));
        assert!(image_is_latest("reg:5000/nginx:latest"));
        assert!(image_is_latest("reg:5000/nginx"));
        assert!(!image_is_latest("reg:5000/nginx:1.2"));
        assert!(!image_is_latest("nginx@sha256:abc"));
        let burstable = json!({"containers":[{"resources":{"requests":{"cpu":"1"}}}]});
        assert_eq!(qos_class(&burstable), "Burstable");
        let guaranteed =
            json!({"containers":[{"resources":{"limits":{"cpu":"1","memory":"1Gi"}}}]});
        assert_eq!(qos_class(&guaranteed), "Guaranteed");
    }

    #[test]
    fn node_without_ready_condition_gets_not_ready_taint_once() {
        let mut node = json!({"metadata":{"name":"n"},"spec":{}});
        admit_create(NODES, &mut node);
        assert_eq!(
            node["spec"]["taints"],
            json!([{"key":"node.kubernetes.io/not-ready","effect":"NoSchedule"}])
        );
        assert_eq!(node["status"]["nodeInfo"]["bootID"], "");
        let mut ready = json!({"metadata":{"name":"n"},
            "status":{"conditions":[{"type":"Ready","status":"True"}]}});
        admit_create(NODES, &mut ready);
        assert!(ready["spec"].get("taints").is_none());
    }

    #[test]
    fn workloads_and_pdbs_get_their_defaults() {
        let mut ds = json!({"metadata":{"name":"d","namespace":"x"},
            "spec":{"template":{"spec":{"containers":[{"name":"c","image":"i:1"}]}}}});
        admit_create(DAEMONSETS, &mut ds);
        assert_eq!(ds["spec"]["updateStrategy"]["rollingUpdate"]["maxSurge"], 0);
        assert_eq!(ds["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
        assert_eq!(
            ds["metadata"]["annotations"]["deprecated.daemonset.template.generation"],
            "1"
        );
        let mut pdb = json!({"metadata":{"name":"p"},"spec":{}});
        admit_create(PDBS, &mut pdb);
        assert_eq!(pdb["status"]["currentHealthy"], 0);
        assert!(resets_status_on_create(PDBS) && !resets_status_on_create(NODES));
        assert_eq!(pdb["status"]["expectedPods"], 0);
    }
}
