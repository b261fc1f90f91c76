//! The writes other controllers make to an object right after it is created, on a real
//! cluster within milliseconds: the TTL controller annotates every new Node with
//! `node.alpha.kubernetes.io/ttl: "0"` (kubesim uses the value of clusters under 100 nodes
//! whatever the size), and the DaemonSet controller writes the first status of a new DaemonSet
//! (`desiredNumberScheduled` = eligible nodes, nothing scheduled yet, `observedGeneration`).
//!
//! The server applies them before it answers the create (when the cluster runs its
//! controllers), so that the resourceVersion the client got back is already stale, as it
//! would be on a real cluster by the time the client acts on it: an update that carries it
//! gets a 409 Conflict, and every test runs its client's conflict handling.

use serde_json::{Value, json};

use super::daemonset::{daemonset_status, node_eligible};
use crate::resources::ResourceType;
use crate::resources::well_known::{DAEMONSETS, NODES};
use crate::store::Store;

/// The TTL annotation the TTL controller puts on every Node.
const TTL_ANNOTATION: &str = "node.alpha.kubernetes.io/ttl";

/// Applies the controllers' first writes to `created`, just stored as an object of `rt`.
/// Writes that lost a race (the object changed or went) are skipped, as a controller would
/// retry on its next event.
pub(crate) fn after_create(store: &Store, rt: &ResourceType, created: &Value) {
    let ns = created["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let Some(name) = created["metadata"]["name"].as_str() else {
        return;
    };
    if std::ptr::eq(rt, NODES) {
        let _ = store.update(NODES, "", name, |cur| {
            let mut o = cur.clone();
            if o["metadata"]["annotations"].get(TTL_ANNOTATION).is_none() {
                if !o["metadata"]["annotations"].is_object() {
                    o["metadata"]["annotations"] = json!({});
                }
                o["metadata"]["annotations"][TTL_ANNOTATION] = json!("0");
            }
            Ok(o)
        });
    } else if std::ptr::eq(rt, DAEMONSETS) {
        let (nodes, _) = store.list(NODES, None, |_| true);
        let _ = store.update(DAEMONSETS, ns, name, |cur| {
            let mut o = cur.clone();
            // The controller got there first (its own reconcile already wrote a status).
            if o["status"].get("observedGeneration").is_none() {
                let desired = nodes.iter().filter(|n| node_eligible(cur, n)).count();
                o["status"] = daemonset_status(cur, desired, 0, 0, 0);
            }
            Ok(o)
        });
    }
}
