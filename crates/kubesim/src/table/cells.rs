//! The cells of a `Table` row per served type, and the formatting they share (ages as kubectl
//! prints them, label maps, selectors).

use serde_json::{Value, json};

use crate::resources::ResourceType;

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

pub(crate) fn workload_cells(rt: &ResourceType, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
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
        ("", "events") => event_cells(obj, now),
        _ => vec![name, created],
    }
}

/// The cells of an Event row (the real server's `printEvent`, wide): ages of the last and
/// first occurrence (series, legacy timestamps or `eventTime`), the object, the source and the
/// count (a JSON number: series count, count, or 1).
fn event_cells(obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let is_set = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty());
    let first = if is_set(&obj["firstTimestamp"]) {
        age(&obj["firstTimestamp"], now)
    } else {
        age(&obj["eventTime"], now)
    };
    let mut last = if is_set(&obj["lastTimestamp"]) {
        age(&obj["lastTimestamp"], now)
    } else {
        first.clone()
    };
    let mut count = obj["count"].as_i64().unwrap_or(0);
    if let Some(series) = obj.get("series").filter(|s| s.is_object()) {
        last = age(&series["lastObservedTime"], now);
        count = series["count"].as_i64().unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let io = &obj["involvedObject"];
    let kind = io["kind"].as_str().unwrap_or_default().to_ascii_lowercase();
    let object = match io["name"].as_str() {
        Some(name) if !name.is_empty() => format!("{kind}/{name}"),
        _ => kind,
    };
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let component = text(&obj["source"]["component"]);
    let host = text(&obj["source"]["host"]);
    let mut source = vec![if component.is_empty() {
        text(&obj["reportingComponent"])
    } else {
        component
    }];
    let instance = if host.is_empty() {
        text(&obj["reportingInstance"])
    } else {
        host
    };
    if !instance.is_empty() {
        source.push(instance);
    }
    let source = if source[0].is_empty() && source.len() == 1 {
        String::new()
    } else {
        source.join(", ")
    };
    vec![
        json!(last),
        json!(text(&obj["type"])),
        json!(text(&obj["reason"])),
        json!(object),
        json!(text(&io["fieldPath"])),
        json!(source),
        json!(text(&obj["message"]).trim()),
        json!(first),
        json!(count),
        json!(text(&obj["metadata"]["name"])),
    ]
}

/// kubectl's `HumanDuration` for a number of seconds.
pub(crate) fn human_duration(seconds: i64) -> String {
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

pub(crate) fn pod_cells(pod: &Value, now: jiff::Timestamp) -> Vec<Value> {
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

pub(crate) fn node_cells(node: &Value, now: jiff::Timestamp) -> Vec<Value> {
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
