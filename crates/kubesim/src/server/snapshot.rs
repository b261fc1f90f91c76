//! Past states of a list, rebuilt from the store's event log (for `resourceVersionMatch=Exact`
//! and continue tokens), and the keys lists are ordered and continued by.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::request::ApiRequest;
use crate::store::{EventType, Store, object_key};

/// The etcd-style key of an object within a list: `ns/name` for a cluster-wide list of a
/// namespaced type, `name` otherwise.
pub(crate) fn list_key(req: &ApiRequest<'_>, obj: &Value) -> String {
    let (ns, name) = object_key(obj);
    if req.rt.namespaced && req.ns.is_none() {
        format!("{ns}/{name}")
    } else {
        name
    }
}

/// The objects of the request's type and namespace as they were at resourceVersion `at`,
/// rebuilt from the current state by undoing the logged events after `at`; `None` when the log no longer reaches back.
pub(crate) fn snapshot(store: &Store, req: &ApiRequest<'_>, at: u64) -> Option<Vec<Arc<Value>>> {
    let (items, list_rv) = store.list(req.rt, req.ns.as_deref(), |_| true);
    if at >= list_rv {
        return Some(items);
    }
    let events = store.events_since(at).ok()?;
    let mut map: BTreeMap<(String, String), Arc<Value>> =
        items.into_iter().map(|o| (object_key(&o), o)).collect();
    for e in events
        .iter()
        .rev()
        // Compare by identity fields: `well_known::*` and `RESOURCES` entries are equal but
        // not necessarily at the same address.
        .filter(|e| {
            e.rv <= list_rv
                && e.resource.group == req.rt.storage().group
                && e.resource.plural == req.rt.storage().plural
        })
    {
        let key = object_key(&e.object);
        if let Some(ns) = req.ns.as_deref()
            && req.rt.namespaced
            && key.0 != ns
        {
            continue;
        }
        match (e.kind, &e.previous) {
            (EventType::Added, _) => {
                map.remove(&key);
            }
            (EventType::Modified | EventType::Deleted, Some(prev)) => {
                map.insert(key, prev.clone());
            }
            (_, None) => {}
        }
    }
    Some(map.into_values().collect())
}
