//! Server-side printing: the `meta.k8s.io/v1` `Table` that `kubectl get` asks for with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,…`. Pods and nodes have the recorded
//! columns (`shared/k8s-reference/list-{pods,nodes}-as-table-kubectl-get.json`); the other
//! served types get the columns of kubectl's printers for them (`kubectl get ds` shows
//! DESIRED/CURRENT/READY/…, `kubectl get pdb` MIN AVAILABLE/…, `kubectl get lease` HOLDER).

mod cells;
mod columns;

use axum::http::{HeaderMap, header};
use serde_json::{Map, Value, json};

use crate::resources::ResourceType;
use cells::{node_cells, pod_cells, workload_cells};
use columns::columns;

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

/// One row; `obj` is the stored object (in the storage type's shape), `rt` the API type asked.
fn row(rt: &ResourceType, obj: &Value, include: IncludeObject, now: jiff::Timestamp) -> Value {
    let storage = rt.storage();
    let cells = match (storage.group, storage.plural) {
        ("", "pods") => pod_cells(obj, now),
        ("", "nodes") => node_cells(obj, now),
        _ => workload_cells(storage, obj, now),
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
            let mut o = crate::event_conversion::for_api(rt, obj).into_owned();
            o["kind"] = json!(rt.kind);
            o["apiVersion"] = json!(rt.api_version());
            m.insert("object".into(), o);
        }
    }
    Value::Object(m)
}

/// A `Table` of the stored `objects` of API type `rt` with the given list metadata
/// (`resourceVersion`, `continue`, …). A view type (events.k8s.io events) prints the columns
/// of its storage type, as the real server's shared printer does.
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
    m.insert(
        "columnDefinitions".into(),
        Value::Array(columns(rt.storage())),
    );
    m.insert("rows".into(), Value::Array(rows));
    Value::Object(m)
}

#[cfg(test)]
mod tests;
