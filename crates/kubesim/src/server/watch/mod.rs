//! `?watch=true`: a chunked stream of newline-delimited `{"type":T,"object":{…}}` events.
//!
//! Behaviour (README facts 20–23 and the `watch-*.json` fixtures):
//!
//! - HTTP 200, `Content-Type: application/json`, chunked; one event per line, each line its own
//!   body chunk. Objects carry `kind`/`apiVersion`.
//! - Start point:
//!   - `resourceVersion=N` (not `"0"`): the events with RV > N from the store's event log. N
//!     older than the log → one `ERROR` event (Status 410 Expired,
//!     `too old resource version: N (M)`) and end of stream. N in the future → silent until
//!     events pass it.
//!   - absent or `"0"`: synthetic `ADDED` events for every object that currently matches, then
//!     live events (what the real server does for both: "get state and start at most recent" /
//!     "start at any").
//!   - `sendInitialEvents=true` (streaming list): the same initial `ADDED` events, then — with
//!     `allowWatchBookmarks` — a `BOOKMARK` annotated `k8s.io/initial-events-end: "true"`.
//!     `sendInitialEvents=false` never sends initial events (from N, or from now without RV).
//! - Namespace, label selector and field selector filter the events. An object that stops
//!   matching yields `DELETED` carrying its previous (still matching) content stamped with the
//!   new resourceVersion; one that starts matching yields `ADDED` with its current content;
//!   changes while outside the selection yield nothing.
//! - When the event log has been compacted past what a slow watcher has read, the watcher gets
//!   the 410 `ERROR` event and the stream ends.
//! - `timeoutSeconds` ends the stream cleanly at the deadline. Without it (or with 0) kubesim
//!   uses [`DEFAULT_TIMEOUT`] (30 min; the real server picks a random 30–60 min).
//! - `allowWatchBookmarks=true`: a `BOOKMARK` (an empty object of the kind — kind, apiVersion,
//!   `metadata.resourceVersion` and the zero-value fields the real encoder writes) every `ServerOptions::bookmark_interval`, and one 2 s before the deadline when the
//!   timeout is longer than 2 s.
//! - No task is spawned: the stream is driven by the HTTP body, so when the client disconnects
//!   and hyper drops the body, the watch is gone ([`active_watches`] counts live ones).
//!
//! Fault injection: [`watch_response_with`] takes [`WatchLimits`]; `max_events: Some(n)` ends
//! the stream cleanly after `n` lines (kube-rs' watcher then re-watches from its last
//! resourceVersion). (`crate::faults` cuts streams in its middleware instead, which works for
//! any body; this hook is for callers that build watch responses themselves.)

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch as tokio_watch;
use tokio::time::Instant;

use super::query::ListQuery;
use super::response::{api_error_response, set_json_headers};
use super::state::ServerState;
use crate::errors::ApiError;
use crate::resources::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Event, EventType, Store};

/// Stream length when the client gives no `timeoutSeconds` (or 0).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How long before the deadline the last BOOKMARK is sent.
const BOOKMARK_BEFORE_DEADLINE: Duration = Duration::from_secs(2);

/// Annotation on the BOOKMARK that ends a streaming list's initial events.
pub const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// Fault-injection limits for one watch stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchLimits {
    /// End the stream (cleanly) after this many event lines.
    pub max_events: Option<usize>,
}

/// Live watch streams per store (keyed by the store's address; a live watch holds an `Arc` of
/// its store, so the address cannot be reused while it counts).
static ACTIVE: Mutex<BTreeMap<usize, usize>> = Mutex::new(BTreeMap::new());

fn store_key(store: &Store) -> usize {
    std::ptr::from_ref(store) as usize
}

fn active_map() -> std::sync::MutexGuard<'static, BTreeMap<usize, usize>> {
    // The map is only ever modified by single insert/remove calls, so a poisoned lock still
    // holds consistent data.
    ACTIVE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Number of watch streams currently alive over `store` (for leak tests: a stream ends when
/// its client disconnects or its timeout passes).
pub fn active_watches(store: &Store) -> usize {
    active_map().get(&store_key(store)).copied().unwrap_or(0)
}

struct ActiveGuard(usize);

impl ActiveGuard {
    fn new(store: &Store) -> Self {
        let key = store_key(store);
        *active_map().entry(key).or_insert(0) += 1;
        Self(key)
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let mut map = active_map();
        if let Some(n) = map.get_mut(&self.0) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.0);
            }
        }
    }
}

/// The selection a watch filters by.
struct Filter {
    namespace: Option<String>,
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

impl Filter {
    fn in_namespace(&self, obj: &Value) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| obj.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns))
    }

    fn selects(&self, obj: &Value) -> bool {
        self.labels.as_ref().is_none_or(|l| l.matches(obj))
            && self.fields.as_ref().is_none_or(|f| f.matches(obj))
    }
}

#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    object: &'a Value,
}

fn encode(kind: &str, object: &Value) -> Bytes {
    let mut v = serde_json::to_vec(&Line { kind, object }).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

/// An event waiting to be sent; encoded only when it is its turn, so a large initial state or
/// backlog is held as shared objects rather than as serialised text.
struct Pending {
    kind: &'static str,
    object: Arc<Value>,
}

impl Pending {
    fn new(kind: &'static str, object: Arc<Value>) -> Self {
        Self { kind, object }
    }

    /// The line for a watcher of `rt`: stored objects in the API type's shape (an `ERROR`
    /// Status as it is).
    fn encode(&self, rt: &ResourceType) -> Bytes {
        if self.kind == "ERROR" {
            return encode(self.kind, &self.object);
        }
        encode(
            self.kind,
            &crate::event_conversion::for_api(rt, &self.object),
        )
    }
}

fn with_rv(obj: &Value, rv: u64) -> Value {
    let mut o = obj.clone();
    o["metadata"]["resourceVersion"] = json!(rv.to_string());
    o
}

/// The 410 Status of an expired watch.
pub fn expired_status(requested: u64, oldest: u64) -> Value {
    ApiError::new(
        410,
        Some("Expired"),
        format!("too old resource version: {requested} ({oldest})"),
    )
    .to_status()
}

/// The event one store event produces for a watcher with `filter`, if any.
fn translate(rt: &'static ResourceType, filter: &Filter, ev: &Event) -> Option<Pending> {
    let storage = rt.storage();
    if !std::ptr::eq(ev.resource, storage) && ev.resource != storage {
        return None;
    }
    if !filter.in_namespace(&ev.object) {
        return None;
    }
    let now = filter.selects(&ev.object);
    match ev.kind {
        EventType::Added => now.then(|| Pending::new("ADDED", ev.object.clone())),
        EventType::Deleted => {
            let before = ev.previous.as_deref().map_or(now, |p| filter.selects(p));
            before.then(|| Pending::new("DELETED", ev.object.clone()))
        }
        EventType::Modified => {
            let before = ev.previous.as_deref().is_some_and(|p| filter.selects(p));
            match (before, now) {
                (true, true) => Some(Pending::new("MODIFIED", ev.object.clone())),
                (false, true) => Some(Pending::new("ADDED", ev.object.clone())),
                (true, false) => {
                    let prev = ev.previous.as_deref().unwrap_or(&ev.object);
                    Some(Pending::new("DELETED", Arc::new(with_rv(prev, ev.rv))))
                }
                (false, false) => None,
            }
        }
    }
}

/// The zero-value `spec`/`status` fields the real server's JSON encoder writes for an empty
/// object of the kind (non-`omitempty` fields), as carried by BOOKMARK events. Clients only
/// read `metadata.resourceVersion`; this keeps the shape identical to the recording.
fn empty_body(kind: &str) -> Value {
    let template = json!({"metadata": {}, "spec": {"containers": null}});
    match kind {
        "Node" => json!({
            "spec": {},
            "status": {
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
                "nodeInfo": {
                    "machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "",
                    "osImage": "", "containerRuntimeVersion": "", "kubeletVersion": "",
                    "kubeProxyVersion": "", "operatingSystem": "", "architecture": ""
                }
            }
        }),
        "Pod" => json!({"spec": {"containers": null}, "status": {}}),
        "Namespace" => json!({"spec": {}, "status": {}}),
        "Event" => json!({
            "involvedObject": {}, "source": {}, "firstTimestamp": null, "lastTimestamp": null,
            "eventTime": null, "reportingComponent": "", "reportingInstance": ""
        }),
        "DaemonSet" => json!({
            "spec": {"selector": null, "template": template, "updateStrategy": {}},
            "status": {
                "currentNumberScheduled": 0, "numberMisscheduled": 0,
                "desiredNumberScheduled": 0, "numberReady": 0
            }
        }),
        "Deployment" => json!({
            "spec": {"selector": null, "template": template, "strategy": {}},
            "status": {}
        }),
        "ReplicaSet" => json!({
            "spec": {"selector": null, "template": template},
            "status": {"replicas": 0}
        }),
        "Lease" => json!({"spec": {}}),
        "PodDisruptionBudget" => json!({
            "spec": {},
            "status": {
                "disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0,
                "expectedPods": 0
            }
        }),
        _ => json!({}),
    }
}

/// A BOOKMARK: an otherwise empty object of the kind carrying `metadata.resourceVersion` (and
/// the `k8s.io/initial-events-end` annotation after a streaming list's initial events).
fn bookmark(rt: &ResourceType, rv: u64, initial_end: bool) -> Pending {
    let mut meta = serde_json::Map::new();
    meta.insert("resourceVersion".into(), json!(rv.to_string()));
    if initial_end {
        meta.insert("annotations".into(), json!({INITIAL_EVENTS_END: "true"}));
    }
    let storage = rt.storage();
    let mut obj = serde_json::Map::new();
    obj.insert("kind".into(), json!(storage.kind));
    obj.insert("apiVersion".into(), json!(storage.api_version()));
    obj.insert("metadata".into(), Value::Object(meta));
    if let Value::Object(rest) = empty_body(storage.kind) {
        obj.extend(rest);
    }
    // Built in the storage shape like every other pending object (converted when sent).
    Pending::new("BOOKMARK", Arc::new(Value::Object(obj)))
}

/// The state of one watch stream.
struct Watch {
    store: Arc<Store>,
    rt: &'static ResourceType,
    filter: Filter,
    changes: tokio_watch::Receiver<u64>,
    /// Every event with rv <= this has been looked at.
    last_rv: u64,
    pending: VecDeque<Pending>,
    /// End after `pending` drains.
    finished: bool,
    deadline: Instant,
    bookmarks: Option<Duration>,
    next_bookmark: Option<Instant>,
    final_bookmark: Option<Instant>,
    sent: usize,
    max_events: Option<usize>,
    _guard: ActiveGuard,
}

impl Watch {
    /// Reads new events from the store into `pending`.
    fn poll_store(&mut self) {
        // Mark the change notification as seen *before* reading, so a write racing with the
        // read wakes us again.
        self.changes.borrow_and_update();
        match self.store.events_of_type_since(self.rt, self.last_rv) {
            Err(expired) => {
                self.pending.push_back(Pending::new(
                    "ERROR",
                    Arc::new(expired_status(expired.requested, expired.oldest)),
                ));
                self.finished = true;
            }
            Ok((events, read_at)) => {
                for ev in events {
                    if let Some(p) = translate(self.rt, &self.filter, &ev) {
                        self.pending.push_back(p);
                    }
                }
                // Every event of this type up to `read_at` has been looked at.
                self.last_rv = self.last_rv.max(read_at);
            }
        }
    }

    fn next_wakeup(&self) -> Instant {
        [self.next_bookmark, self.final_bookmark]
            .into_iter()
            .flatten()
            .fold(self.deadline, Instant::min)
    }

    /// The next line, or `None` at the end of the stream.
    async fn next_line(&mut self) -> Option<Bytes> {
        loop {
            if self.max_events.is_some_and(|m| self.sent >= m) {
                return None;
            }
            // The deadline ends the stream even while events keep coming.
            if Instant::now() >= self.deadline {
                return None;
            }
            if let Some(p) = self.pending.pop_front() {
                self.sent += 1;
                return Some(p.encode(self.rt));
            }
            if self.finished {
                return None;
            }
            self.poll_store();
            if !self.pending.is_empty() || self.finished {
                continue;
            }
            let wake = self.next_wakeup();
            tokio::select! {
                changed = self.changes.changed() => {
                    if changed.is_err() {
                        // The store is gone: nothing more can happen.
                        self.finished = true;
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    if now >= self.deadline {
                        return None;
                    }
                    let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
                    if due(self.next_bookmark) || due(self.final_bookmark) {
                        self.pending.push_back(bookmark(self.rt, self.last_rv, false));
                        if due(self.final_bookmark) {
                            self.final_bookmark = None;
                        }
                        self.next_bookmark = self.bookmarks.map(|i| now + i);
                    }
                }
            }
        }
    }
}

/// Parses the watch's selectors and start point; `Err` is the 400 to answer with.
fn build(
    state: ServerState,
    rt: &'static ResourceType,
    namespace: Option<String>,
    query: ListQuery,
    limits: WatchLimits,
) -> Result<Watch, ApiError> {
    let ServerState { store, options } = state;
    let ListQuery {
        label_selector,
        field_selector,
        resource_version,
        timeout_seconds,
        allow_watch_bookmarks,
        send_initial_events,
        ..
    } = query;
    let labels = match label_selector.as_deref() {
        Some(s) if !s.trim().is_empty() => Some(LabelSelector::parse(s)?),
        _ => None,
    };
    let fields = match field_selector.as_deref() {
        Some(s) if !s.trim().is_empty() => Some(FieldSelector::parse(rt, s)?),
        _ => None,
    };
    let filter = Filter {
        namespace: namespace.filter(|ns| !ns.is_empty()),
        labels,
        fields,
    };
    let rv_param = resource_version
        .as_deref()
        .filter(|s| !s.is_empty() && *s != "0");
    let start_rv = match rv_param {
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))?,
        ),
        None => None,
    };
    let send_initial = send_initial_events.unwrap_or(start_rv.is_none());

    let guard = ActiveGuard::new(&store);
    let changes = store.subscribe_type(rt);
    let mut pending = VecDeque::new();
    let last_rv = if send_initial {
        let (items, rv) = store.list(rt, filter.namespace.as_deref(), |o| filter.selects(o));
        pending.extend(items.into_iter().map(|o| Pending::new("ADDED", o)));
        if send_initial_events == Some(true) && allow_watch_bookmarks {
            pending.push_back(bookmark(rt, rv, true));
        }
        rv.max(start_rv.unwrap_or(0))
    } else {
        start_rv.unwrap_or_else(|| store.current_rv())
    };

    let now = Instant::now();
    let timeout = match timeout_seconds {
        Some(s) if s > 0 => Duration::from_secs(s),
        _ => DEFAULT_TIMEOUT,
    };
    let deadline = now + timeout;
    let bookmarks = query
        .allow_watch_bookmarks
        .then_some(options.bookmark_interval)
        .filter(|i| !i.is_zero());
    let final_bookmark = (allow_watch_bookmarks && timeout > BOOKMARK_BEFORE_DEADLINE)
        .then(|| deadline - BOOKMARK_BEFORE_DEADLINE);
    Ok(Watch {
        store,
        rt,
        filter,
        changes,
        last_rv,
        pending,
        finished: false,
        deadline,
        bookmarks,
        next_bookmark: bookmarks.map(|i| now + i),
        final_bookmark,
        sent: 0,
        max_events: limits.max_events,
        _guard: guard,
    })
}

/// Answers a watch request (see the module docs). A bad selector or resourceVersion is answered
/// with its 400 `Status`.
pub fn watch_response(
    state: ServerState,
    rt: &'static ResourceType,
    namespace: Option<String>,
    query: ListQuery,
) -> Response {
    watch_response_with(state, rt, namespace, query, WatchLimits::default())
}

/// [`watch_response`] with fault-injection limits.
pub fn watch_response_with(
    state: ServerState,
    rt: &'static ResourceType,
    namespace: Option<String>,
    query: ListQuery,
    limits: WatchLimits,
) -> Response {
    let watch = match build(state, rt, namespace, query, limits) {
        Ok(w) => w,
        Err(e) => return api_error_response(&e),
    };
    let stream = futures::stream::unfold(watch, |mut w| async move {
        let line = w.next_line().await?;
        Some((Ok::<Bytes, std::convert::Infallible>(line), w))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    set_json_headers(&mut resp);
    resp
}

#[cfg(test)]
mod tests;
