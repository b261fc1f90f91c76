//! Server-side printing: the `meta.k8s.io/v1` `Table` that `kubectl get` asks for with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,…`. Pods and nodes have the recorded
//! columns (`shared/k8s-reference/list-{pods,nodes}-as-table-kubectl-get.json`); the other
//! served types get the columns of kubectl's printers for them (`kubectl get ds` shows
//! DESIRED/CURRENT/READY/…, `kubectl get pdb` MIN AVAILABLE/…, `kubectl get lease` HOLDER).

use axum::http::{HeaderMap, header};
use serde_json::{Map, Value, json};

use crate::resources::ResourceType;

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const ADDRESSES_DESC: &str = "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";

/// What the row's `object` carries (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object.
    None,
    /// A `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query value (default `Metadata`).
    pub fn parse(v: Option<&str>) -> Self {
        match v {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

/// Whether the `Accept` header asks for a `meta.k8s.io/v1` Table as its first choice.
pub fn wants_table(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(first) = accept.split(',').next() else {
        return false;
    };
    let params: Vec<&str> = first.split(';').map(str::trim).collect();
    params.contains(&"as=Table") && params.contains(&"g=meta.k8s.io") && params.contains(&"v=v1")
}

fn column(name: &str, format: &str, description: &str, priority: u8) -> Value {
    json!({"name": name, "type": "string", "format": format, "description": description, "priority": priority})
}

fn columns(rt: &ResourceType) -> Vec<Value> {
    match (rt.group, rt.plural) {
        ("", "pods") => vec![
            column("Name", "name", NAME_DESC, 0),
            column(
                "Ready",
                "",
                "The aggregate readiness state of this pod for accepting traffic.",
                0,
            ),
            column(
                "Status",
                "",
                "The aggregate status of the containers in this pod.",
                0,
            ),
            column(
                "Restarts",
                "",
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
                0,
            ),
            column("Age", "", AGE_DESC, 0),
            column(
                "IP",
                "",
                "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
                1,
            ),
            column(
                "Node",
                "",
                "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
                1,
            ),
            column(
                "Nominated Node",
                "",
                "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.",
                1,
            ),
            column(
                "Readiness Gates",
                "",
                "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
                1,
            ),
        ],
        ("", "nodes") => vec![
            column("Name", "name", NAME_DESC, 0),
            column("Status", "", "The status of the node", 0),
            column("Roles", "", "The roles of the node", 0),
            column("Age", "", AGE_DESC, 0),
            column("Version", "", "Kubelet Version reported by the node.", 0),
            column("Internal-IP", "", ADDRESSES_DESC, 1),
            column("External-IP", "", ADDRESSES_DESC, 1),
            column(
                "OS-Image",
                "",
                "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
                1,
            ),
            column(
                "Kernel-Version",
                "",
                "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
                1,
            ),
            column(
                "Container-Runtime",
                "",
                "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
                1,
            ),
        ],
        _ => workload_columns(rt),
    }
}

fn typed_column(name: &str, ty: &str, description: &str, priority: u8) -> Value {
    json!({"name": name, "type": ty, "format": "", "description": description, "priority": priority})
}

/// Columns of the other served types (kubectl's printers for them).
fn workload_columns(rt: &ResourceType) -> Vec<Value> {
    let name = column("Name", "name", NAME_DESC, 0);
    let age = column("Age", "", AGE_DESC, 0);
    match (rt.group, rt.plural) {
        ("", "namespaces") => vec![
            name,
            column("Status", "", "The status of the namespace", 0),
            age,
        ],
        ("apps", _) => apps_columns(rt, name, age),
        ("policy", "poddisruptionbudgets") => vec![
            name,
            column(
                "Min Available",
                "",
                "The minimum number of pods that must be available simultaneously.",
                0,
            ),
            column(
                "Max Unavailable",
                "",
                "The maximum number of pods that may be unavailable simultaneously.",
                0,
            ),
            typed_column(
                "Allowed Disruptions",
                "integer",
                "Calculated number of pods that may be disrupted at this time.",
                0,
            ),
            age,
        ],
        ("coordination.k8s.io", "leases") => vec![
            name,
            column("Holder", "", "The holder of the lease", 0),
            age,
        ],
        ("", "events") => vec![
            column("Last Seen", "", "Time when this event was last seen", 0),
            column(
                "Type",
                "",
                "Type of this event (Normal, Warning), new types could be added in the future.",
                0,
            ),
            column("Reason", "", "The reason for this event.", 0),
            column("Object", "", "The object that this event is about.", 0),
            column(
                "Message",
                "",
                "A human-readable description of the status of this operation.",
                0,
            ),
        ],
        _ => vec![name, age],
    }
}

/// (name, type, description) of the priority-0 columns between Name and Age of the apps/v1
/// workloads (a Node Selector column follows for daemonsets).
const DAEMONSET_COLUMNS: &[(&str, &str, &str)] = &[
    (
        "Desired",
        "integer",
        "The total number of nodes that should be running the daemon pod.",
    ),
    (
        "Current",
        "integer",
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
    ),
    (
        "Ready",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
    ),
    (
        "Up-to-date",
        "integer",
        "The total number of nodes that are running updated daemon pod",
    ),
    (
        "Available",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.",
    ),
    (
        "Node Selector",
        "string",
        "NodeSelector is a selector which must be true for the pod to fit on a node.",
    ),
];
const DEPLOYMENT_COLUMNS: &[(&str, &str, &str)] = &[
    ("Ready", "string", "Number of the pod with ready state"),
    (
        "Up-to-date",
        "integer",
        "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
    ),
    (
        "Available",
        "integer",
        "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
    ),
];
const REPLICASET_COLUMNS: &[(&str, &str, &str)] = &[
    (
        "Desired",
        "integer",
        "Replicas is the number of desired replicas.",
    ),
    (
        "Current",
        "integer",
        "Replicas is the most recently observed number of replicas.",
    ),
    (
        "Ready",
        "integer",
        "The number of ready replicas for this replica set.",
    ),
];

/// Columns of the apps/v1 workloads: Name, the kind's own columns, Age, then (priority 1)
/// Containers, Images, Selector.
fn apps_columns(rt: &ResourceType, name: Value, age: Value) -> Vec<Value> {
    let own = match rt.plural {
        "daemonsets" => DAEMONSET_COLUMNS,
        "deployments" => DEPLOYMENT_COLUMNS,
        "replicasets" => REPLICASET_COLUMNS,
        _ => &[],
    };
    let mut cols = vec![name];
    cols.extend(own.iter().map(|(n, t, d)| typed_column(n, t, d, 0)));
    cols.push(age);
    cols.push(column(
        "Containers",
        "",
        "Names of each container in the template.",
        1,
    ));
    cols.push(column(
        "Images",
        "",
        "Images referenced by each container in the template.",
        1,
    ));
    cols.push(column("Selector", "", "Label selector for pods.", 1));
    cols
}

/// `k=v,…` of a string map, or `<none>`.
fn format_map(v: &Value) -> String {
    match v.as_object() {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(","),
        _ => "<none>".to_string(),
    }
}

/// A `metav1.LabelSelector` as kubectl prints it (`app=web,tier in (a,b)`).
fn format_selector(sel: &Value) -> String {
    let mut parts: Vec<String> = sel["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    for e in sel["matchExpressions"].as_array().into_iter().flatten() {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = e["values"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        parts.push(match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other}"),
        });
    }
    if parts.is_empty() {
        "<none>".to_string()
    } else {
        parts.join(",")
    }
}

/// Container names and images of a workload's pod template.
fn template_cells(obj: &Value) -> [Value; 3] {
    let cs = obj["spec"]["template"]["spec"]["containers"].as_array();
    let join = |field: &str| {
        cs.map(|cs| {
            cs.iter()
                .filter_map(|c| c[field].as_str())
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
    };
    [
        json!(join("name")),
        json!(join("image")),
        json!(format_selector(&obj["spec"]["selector"])),
    ]
}

fn int_at(v: &Value) -> Value {
    json!(v.as_i64().unwrap_or(0))
}

fn workload_cells(rt: &ResourceType, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let name = obj["metadata"]["name"].clone();
    let created = json!(age(&obj["metadata"]["creationTimestamp"], now));
    let st = &obj["status"];
    match (rt.group, rt.plural) {
        ("", "namespaces") => vec![
            name,
            json!(st["phase"].as_str().unwrap_or_default()),
            created,
        ],
        ("apps", "daemonsets") => {
            let [c, i, s] = template_cells(obj);
            vec![
                name,
                int_at(&st["desiredNumberScheduled"]),
                int_at(&st["currentNumberScheduled"]),
                int_at(&st["numberReady"]),
                int_at(&st["updatedNumberScheduled"]),
                int_at(&st["numberAvailable"]),
                json!(format_map(&obj["spec"]["template"]["spec"]["nodeSelector"])),
                created,
                c,
                i,
                s,
            ]
        }
        ("apps", "deployments") => {
            let [c, i, s] = template_cells(obj);
            let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = st["readyReplicas"].as_i64().unwrap_or(0);
            vec![
                name,
                json!(format!("{ready}/{want}")),
                int_at(&st["updatedReplicas"]),
                int_at(&st["availableReplicas"]),
                created,
                c,
                i,
                s,
            ]
        }
        ("apps", "replicasets") => {
            let [c, i, s] = template_cells(obj);
            vec![
                name,
                json!(obj["spec"]["replicas"].as_i64().unwrap_or(1)),
                int_at(&st["replicas"]),
                int_at(&st["readyReplicas"]),
                created,
                c,
                i,
                s,
            ]
        }
        ("policy", "poddisruptionbudgets") => {
            let or_na = |v: &Value| match v {
                Value::Null => "N/A".to_string(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            vec![
                name,
                json!(or_na(&obj["spec"]["minAvailable"])),
                json!(or_na(&obj["spec"]["maxUnavailable"])),
                int_at(&st["disruptionsAllowed"]),
                created,
            ]
        }
        ("coordination.k8s.io", "leases") => vec![
            name,
            json!(obj["spec"]["holderIdentity"].as_str().unwrap_or_default()),
            created,
        ],
        ("", "events") => {
            let last = ["lastTimestamp", "eventTime", "firstTimestamp"]
                .iter()
                .map(|k| &obj[*k])
                .find(|v| v.is_string())
                .unwrap_or(&obj["metadata"]["creationTimestamp"]);
            let io = &obj["involvedObject"];
            let object = format!(
                "{}/{}",
                io["kind"].as_str().unwrap_or_default().to_ascii_lowercase(),
                io["name"].as_str().unwrap_or_default()
            );
            vec![
                json!(age(last, now)),
                json!(obj["type"].as_str().unwrap_or_default()),
                json!(obj["reason"].as_str().unwrap_or_default()),
                json!(object),
                json!(obj["message"].as_str().unwrap_or_default()),
            ]
        }
        _ => vec![name, created],
    }
}

/// kubectl's `HumanDuration` for a number of seconds.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Age of an RFC 3339 timestamp relative to `now`, or `<unknown>`.
fn age(ts: &Value, now: jiff::Timestamp) -> String {
    ts.as_str()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map_or_else(
            || "<unknown>".to_string(),
            |t| human_duration(now.as_second() - t.as_second()),
        )
}

fn or_none(v: &Value) -> String {
    match v.as_str() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => "<none>".to_string(),
    }
}

fn pod_cells(pod: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let spec = &pod["spec"];
    let status = &pod["status"];
    let total = spec["containers"].as_array().map_or(0, Vec::len);
    let statuses = status["containerStatuses"].as_array();
    let ready = statuses.map_or(0, |cs| {
        cs.iter().filter(|c| c["ready"] == json!(true)).count()
    });
    let restarts: i64 = statuses.map_or(0, |cs| {
        cs.iter().filter_map(|c| c["restartCount"].as_i64()).sum()
    });
    let mut reason = status["phase"].as_str().unwrap_or_default().to_string();
    if let Some(r) = status["reason"].as_str().filter(|r| !r.is_empty()) {
        reason = r.to_string();
    }
    if let Some(cs) = statuses {
        for c in cs.iter().rev() {
            if let Some(r) = c["state"]["waiting"]["reason"]
                .as_str()
                .filter(|r| !r.is_empty())
            {
                reason = r.to_string();
            } else if let Some(r) = c["state"]["terminated"]["reason"]
                .as_str()
                .filter(|r| !r.is_empty())
            {
                reason = r.to_string();
            }
        }
    }
    if !pod["metadata"]["deletionTimestamp"].is_null() {
        reason = if status["reason"] == json!("NodeLost") {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    let gates = spec["readinessGates"].as_array().map_or_else(
        || "<none>".to_string(),
        |gs| {
            let conds = status["conditions"].as_array();
            let ok = gs
                .iter()
                .filter(|g| {
                    conds.is_some_and(|cs| {
                        cs.iter().any(|c| {
                            c["type"] == g["conditionType"] && c["status"] == json!("True")
                        })
                    })
                })
                .count();
            format!("{ok}/{}", gs.len())
        },
    );
    vec![
        pod["metadata"]["name"].clone(),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts.to_string()),
        json!(age(&pod["metadata"]["creationTimestamp"], now)),
        json!(or_none(&status["podIP"])),
        json!(or_none(&spec["nodeName"])),
        json!(or_none(&status["nominatedNodeName"])),
        json!(gates),
    ]
}

fn node_address(node: &Value, kind: &str) -> String {
    node["status"]["addresses"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["type"] == json!(kind)))
        .map_or_else(|| "<none>".to_string(), |x| or_none(&x["address"]))
}

fn node_cells(node: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let ready = node["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == json!("Ready")));
    let mut status = match ready.map(|c| c["status"].as_str().unwrap_or_default()) {
        Some("True") => "Ready".to_string(),
        Some("False") => "NotReady".to_string(),
        _ => "Unknown".to_string(),
    };
    if node["spec"]["unschedulable"] == json!(true) {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<String> = Vec::new();
    if let Some(labels) = node["metadata"]["labels"].as_object() {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.push(role.to_string());
                }
            } else if k == "kubernetes.io/role"
                && let Some(r) = v.as_str().filter(|r| !r.is_empty())
            {
                roles.push(r.to_string());
            }
        }
    }
    roles.sort();
    roles.dedup();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let info = &node["status"]["nodeInfo"];
    let unknown = |v: &Value| match v.as_str() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => "<unknown>".to_string(),
    };
    let kernel = match (
        info["kernelVersion"].as_str(),
        info["architecture"].as_str(),
    ) {
        (Some(k), Some(a)) if !k.is_empty() && !a.is_empty() => format!("{k} ({a})"),
        _ => unknown(&info["kernelVersion"]),
    };
    vec![
        node["metadata"]["name"].clone(),
        json!(status),
        json!(roles),
        json!(age(&node["metadata"]["creationTimestamp"], now)),
        json!(info["kubeletVersion"].as_str().unwrap_or_default()),
        json!(node_address(node, "InternalIP")),
        json!(node_address(node, "ExternalIP")),
        json!(unknown(&info["osImage"])),
        json!(kernel),
        json!(unknown(&info["containerRuntimeVersion"])),
    ]
}

fn row(rt: &ResourceType, obj: &Value, include: IncludeObject, now: jiff::Timestamp) -> Value {
    let cells = match (rt.group, rt.plural) {
        ("", "pods") => pod_cells(obj, now),
        ("", "nodes") => node_cells(obj, now),
        _ => workload_cells(rt, obj, now),
    };
    let mut m = Map::new();
    m.insert("cells".into(), Value::Array(cells));
    if rt.group.is_empty() && rt.plural == "pods" {
        // Finished pods carry a `Completed` row condition (kubectl greys them out).
        let completed = match obj["status"]["phase"].as_str() {
            Some("Succeeded") => Some(("Succeeded", "The pod has completed successfully.")),
            Some("Failed") => Some(("Failed", "The pod failed.")),
            _ => None,
        };
        if let Some((reason, message)) = completed {
            m.insert(
                "conditions".into(),
                json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]),
            );
        }
    }
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            m.insert(
                "object".into(),
                json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"].clone()
                }),
            );
        }
        IncludeObject::Object => {
            let mut o = obj.clone();
            o["kind"] = json!(rt.kind);
            o["apiVersion"] = json!(rt.api_version());
            m.insert("object".into(), o);
        }
    }
    Value::Object(m)
}

/// A `Table` of `objects` with the given list metadata (`resourceVersion`, `continue`, …).
pub fn table<'a>(
    rt: &ResourceType,
    objects: impl IntoIterator<Item = &'a Value>,
    list_metadata: Value,
    include: IncludeObject,
) -> Value {
    let now = jiff::Timestamp::now();
    let rows: Vec<Value> = objects
        .into_iter()
        .map(|o| row(rt, o, include, now))
        .collect();
    let mut m = Map::new();
    m.insert("kind".into(), json!("Table"));
    m.insert("apiVersion".into(), json!("meta.k8s.io/v1"));
    m.insert("metadata".into(), list_metadata);
    m.insert("columnDefinitions".into(), Value::Array(columns(rt)));
    m.insert("rows".into(), Value::Array(rows));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::well_known::{LEASES, NODES, PODS};
    use axum::http::HeaderValue;

    #[test]
    fn human_durations_match_kubectl() {
        assert_eq!(human_duration(35), "35s");
        assert_eq!(human_duration(354), "5m54s");
        assert_eq!(human_duration(448), "7m28s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
        assert_eq!(human_duration(30 * 3600), "30h");
        assert_eq!(human_duration(3 * 86400), "3d");
        assert_eq!(human_duration(-5), "<invalid>");
    }

    #[test]
    fn pod_and_node_rows_have_the_recorded_cells() {
        let pod = json!({"metadata":{"name":"b-1","creationTimestamp":"2020-01-01T00:00:00Z"},
            "spec":{"containers":[{"name":"c"}],"nodeName":"node-b"},
            "status":{"phase":"Running"}});
        let t = table(
            PODS,
            [&pod],
            json!({"resourceVersion":"5"}),
            IncludeObject::Metadata,
        );
        let cells = &t["rows"][0]["cells"];
        assert_eq!(cells[0], "b-1");
        assert_eq!(cells[1], "0/1");
        assert_eq!(cells[2], "Running");
        assert_eq!(cells[5], "<none>");
        assert_eq!(cells[6], "node-b");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 9);
        let node = json!({"metadata":{"name":"n","labels":{"node-role.kubernetes.io/worker":""}},
            "spec":{"unschedulable":true},
            "status":{"conditions":[{"type":"Ready","status":"True"}],
              "addresses":[{"type":"InternalIP","address":"127.0.0.1"}],
              "nodeInfo":{"kubeletVersion":"v1.36.2","osImage":"fake","kernelVersion":"fake","architecture":"amd64","containerRuntimeVersion":"fake://0"}}});
        let t = table(NODES, [&node], json!({}), IncludeObject::None);
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "n",
                "Ready,SchedulingDisabled",
                "worker",
                "<unknown>",
                "v1.36.2",
                "127.0.0.1",
                "<none>",
                "fake",
                "fake (amd64)",
                "fake://0"
            ])
        );
        assert!(t["rows"][0].get("object").is_none());
        let t = table(LEASES, [&node], json!({}), IncludeObject::Object);
        assert_eq!(t["rows"][0]["object"]["kind"], "Lease");
    }

    #[test]
    fn workload_tables_have_kubectl_columns() {
        use crate::resources::well_known::{DAEMONSETS, DEPLOYMENTS, PDBS};
        let ds = json!({"metadata":{"name":"kured"},
            "spec":{"selector":{"matchLabels":{"name":"kured"}},
              "template":{"spec":{"containers":[{"name":"kured","image":"k:1"}]}}},
            "status":{"desiredNumberScheduled":3,"currentNumberScheduled":3,"numberReady":2}});
        let t = table(DAEMONSETS, [&ds], json!({}), IncludeObject::None);
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "kured",
                3,
                3,
                2,
                0,
                0,
                "<none>",
                "<unknown>",
                "kured",
                "k:1",
                "name=kured"
            ])
        );
        assert_eq!(t["columnDefinitions"][1]["type"], "integer");
        let pdb = json!({"metadata":{"name":"p"},"spec":{"minAvailable":"50%"},"status":{"disruptionsAllowed":1}});
        let t = table(PDBS, [&pdb], json!({}), IncludeObject::None);
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["p", "50%", "N/A", 1, "<unknown>"])
        );
        let d = json!({"metadata":{"name":"web"},"spec":{"replicas":3,
            "selector":{"matchExpressions":[{"key":"tier","operator":"In","values":["a","b"]}]}},
            "status":{"readyReplicas":2}});
        let t = table(DEPLOYMENTS, [&d], json!({}), IncludeObject::None);
        assert_eq!(t["rows"][0]["cells"][1], "2/3");
        assert_eq!(t["rows"][0]["cells"][7], "tier in (a,b)");
    }

    #[test]
    fn table_accept_is_recognised() {
        let mut h = HeaderMap::new();
        assert!(!wants_table(&h));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
            ),
        );
        assert!(wants_table(&h));
    }
}
