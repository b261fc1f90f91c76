//! The object store: every object of every served type, one global resourceVersion counter,
//! an event log for watches, and (optionally) the full history of writes for invariant checks.
//!
//! The store is deliberately dumb about API semantics: it enforces identity (namespace, name,
//! uid, creationTimestamp never change), stamps `resourceVersion`, bumps `metadata.generation`
//! when `spec` changes, and records events. Preconditions (stale resourceVersion, uid) are
//! checked by the caller inside the `update`/`delete` closures, which run under the store lock,
//! so read-check-write is atomic.
//!
//! A type that is a second API over another type's objects (events.k8s.io/v1 events, see
//! [`ResourceType::storage`]) names the same objects as its storage type: every method keeps,
//! stamps (`kind`/`apiVersion`) and logs objects under the storage type, in its shape, and only
//! error messages name the type the caller passed. Converting shapes is the caller's job
//! ([`crate::event_conversion`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::errors::ApiError;
use crate::resources::{RESOURCES, ResourceType, well_known};

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed (the object is its last state, stamped with the deletion's resourceVersion).
    Deleted,
}

impl EventType {
    /// The watch event `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One write, as recorded in the event log and history.
#[derive(Debug, Clone)]
pub struct Event {
    /// The resourceVersion this write produced.
    pub rv: u64,
    /// The type of the object.
    pub resource: &'static ResourceType,
    /// What happened.
    pub kind: EventType,
    /// The object after the write (for `Deleted`: its last state with the new resourceVersion).
    pub object: Arc<Value>,
    /// The object before the write (`None` for `Added`).
    pub previous: Option<Arc<Value>>,
}

/// The requested resourceVersion is older than the retained event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    /// The requested resourceVersion.
    pub requested: u64,
    /// The oldest resourceVersion from which a watch can still start.
    pub oldest: u64,
}

/// Store tuning.
#[derive(Debug, Clone, Copy)]
pub struct StoreConfig {
    /// How many events the watch log retains; a watch from an older resourceVersion gets 410.
    pub watch_window: usize,
    /// Keep every event forever (for invariant checks in tests and simulations).
    pub record_history: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            watch_window: 100_000,
            record_history: false,
        }
    }
}

type Key = (String, String);

struct Inner {
    rv: u64,
    objects: Vec<BTreeMap<Key, Arc<Value>>>,
    log: VecDeque<Arc<Event>>,
    /// The events of `log` split by resource type (indexed like [`RESOURCES`]).
    log_by_type: Vec<VecDeque<Arc<Event>>>,
    /// Events with rv <= this value are no longer in the log.
    compacted: u64,
    history: Option<Vec<Arc<Event>>>,
    window: usize,
    /// Pods by `spec.nodeName` ("" for unbound pods): the index behind
    /// [`Store::list_pods_on_node`], which kubelets, drains and `spec.nodeName=` field
    /// selectors use on every call.
    pods_by_node: HashMap<String, BTreeSet<Key>>,
}

fn pod_node(obj: &Value) -> &str {
    obj["spec"]["nodeName"].as_str().unwrap_or_default()
}

impl Inner {
    fn index_add(&mut self, rt: &ResourceType, key: &Key, obj: &Value) {
        if rt == well_known::PODS {
            self.pods_by_node
                .entry(pod_node(obj).to_string())
                .or_default()
                .insert(key.clone());
        }
    }

    fn index_remove(&mut self, rt: &ResourceType, key: &Key, obj: &Value) {
        if rt == well_known::PODS {
            let node = pod_node(obj);
            if let Some(set) = self.pods_by_node.get_mut(node) {
                set.remove(key);
                if set.is_empty() {
                    self.pods_by_node.remove(node);
                }
            }
        }
    }
}

/// The in-memory object store shared by the HTTP server and the simulated controllers.
pub struct Store {
    inner: Mutex<Inner>,
    changed: watch::Sender<u64>,
    /// One change signal per resource type (indexed like [`RESOURCES`]), so that a watch of
    /// one type is not woken by writes of the others (with thousands of watches — one lock
    /// watch per simulated agent — waking every watch on every pod update was quadratic).
    changed_by_type: Vec<watch::Sender<u64>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("resource_version", &self.current_rv())
            .finish_non_exhaustive()
    }
}

/// `metadata.namespace` ("" when absent) and `metadata.name` of an object.
pub fn object_key(obj: &Value) -> (String, String) {
    let meta = &obj["metadata"];
    (
        meta["namespace"].as_str().unwrap_or_default().to_string(),
        meta["name"].as_str().unwrap_or_default().to_string(),
    )
}

/// The current time as `metav1.Time` (RFC 3339, whole seconds, `Z`).
pub fn now_rfc3339() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string()
}

/// A random UUID (version 4 layout), as the apiserver assigns to `metadata.uid`.
pub fn new_uid() -> String {
    let v = fastrand::u128(..);
    let v = (v & !(0xF << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A 5-character suffix for `generateName`, from the apiserver's alphabet.
pub fn name_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

fn set_rv(obj: &mut Value, rv: u64) {
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
}

/// Object without its resourceVersion, for no-op detection.
fn strip_rv(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    o
}

impl Store {
    /// A new, empty store.
    pub fn new(config: StoreConfig) -> Arc<Self> {
        let (changed, _) = watch::channel(1);
        Arc::new(Self {
            inner: Mutex::new(Inner {
                rv: 1,
                objects: RESOURCES.iter().map(|_| BTreeMap::new()).collect(),
                log: VecDeque::new(),
                log_by_type: RESOURCES.iter().map(|_| VecDeque::new()).collect(),
                compacted: 1,
                history: config.record_history.then(Vec::new),
                window: config.watch_window.max(1),
                pods_by_node: HashMap::new(),
            }),
            changed,
            changed_by_type: RESOURCES.iter().map(|_| watch::channel(1).0).collect(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock would already have failed the test or simulation that
        // caused it; the data is still consistent (every write is a single insert), so go on.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The latest resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// A receiver that changes whenever a write happens (its value is the new resourceVersion).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// A receiver that changes whenever an object of type `rt` is written.
    pub fn subscribe_type(&self, rt: &ResourceType) -> watch::Receiver<u64> {
        self.changed_by_type[rt.storage().index()].subscribe()
    }

    fn record(&self, inner: &mut Inner, event: Event) {
        let event = Arc::new(event);
        if let Some(h) = inner.history.as_mut() {
            h.push(event.clone());
        }
        let idx = event.resource.index();
        inner.log_by_type[idx].push_back(event.clone());
        inner.log.push_back(event);
        while inner.log.len() > inner.window {
            if let Some(old) = inner.log.pop_front() {
                inner.compacted = old.rv;
                // The oldest event of its type is this one (both logs are in rv order).
                inner.log_by_type[old.resource.index()].pop_front();
            }
        }
        self.changed.send_replace(inner.rv);
        self.changed_by_type[idx].send_replace(inner.rv);
    }

    /// One object.
    pub fn get(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<Value>> {
        self.lock().objects[rt.storage().index()]
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Objects of a type (in one namespace, or all when `namespace` is `None`) that pass
    /// `filter`, ordered by namespace then name, with the resourceVersion of the snapshot.
    pub fn list(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        filter: impl Fn(&Value) -> bool,
    ) -> (Vec<Arc<Value>>, u64) {
        let inner = self.lock();
        let map = &inner.objects[rt.storage().index()];
        let items = match namespace {
            Some(ns) => map
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(_, v)| v)
                .filter(|v| filter(v))
                .cloned()
                .collect(),
            None => map.values().filter(|v| filter(v)).cloned().collect(),
        };
        (items, inner.rv)
    }

    /// Pods bound to `node` (`""` = unbound pods), in one namespace or all, that pass `filter`,
    /// ordered by namespace then name — the same answer as [`Store::list`] with a
    /// `spec.nodeName` filter, from an index instead of a scan of every pod.
    pub fn list_pods_on_node(
        &self,
        namespace: Option<&str>,
        node: &str,
        filter: impl Fn(&Value) -> bool,
    ) -> (Vec<Arc<Value>>, u64) {
        let inner = self.lock();
        let pods = &inner.objects[well_known::PODS.index()];
        let items = inner
            .pods_by_node
            .get(node)
            .into_iter()
            .flatten()
            .filter(|(ns, _)| namespace.is_none_or(|want| want == ns))
            .filter_map(|key| pods.get(key))
            .filter(|v| filter(v))
            .cloned()
            .collect();
        (items, inner.rv)
    }

    /// Creates an object. Fills `kind`/`apiVersion`, `uid`, `creationTimestamp`,
    /// `resourceVersion`, `generation` (types that have one) and a `generateName` suffix.
    pub fn create(
        &self,
        rt: &'static ResourceType,
        mut obj: Value,
    ) -> Result<Arc<Value>, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("object must be a JSON object"));
        }
        let storage = rt.storage();
        obj["kind"] = json!(storage.kind);
        obj["apiVersion"] = json!(storage.api_version());
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        let mut inner = self.lock();
        let map_idx = storage.index();
        let meta = &mut obj["metadata"];
        if meta["name"].as_str().is_none_or(str::is_empty)
            && let Some(prefix) = meta["generateName"].as_str().map(str::to_string)
        {
            let mut name = format!("{prefix}{}", name_suffix());
            let ns = meta["namespace"].as_str().unwrap_or_default().to_string();
            while inner.objects[map_idx].contains_key(&(ns.clone(), name.clone())) {
                name = format!("{prefix}{}", name_suffix());
            }
            meta["name"] = json!(name);
        }
        let (namespace, name) = object_key(&obj);
        if name.is_empty() {
            return Err(ApiError::new(
                422,
                Some("Invalid"),
                format!(
                    "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                    rt.kind
                ),
            ));
        }
        let key = (namespace, name.clone());
        if inner.objects[map_idx].contains_key(&key) {
            return Err(ApiError::already_exists(rt, &name));
        }
        let meta = &mut obj["metadata"];
        if meta["uid"].as_str().is_none_or(str::is_empty) {
            meta["uid"] = json!(new_uid());
        }
        if meta["creationTimestamp"].as_str().is_none() {
            meta["creationTimestamp"] = json!(now_rfc3339());
        }
        if rt.has_generation {
            meta["generation"] = json!(1);
        }
        inner.rv += 1;
        let rv = inner.rv;
        set_rv(&mut obj, rv);
        let obj = Arc::new(obj);
        inner.index_add(storage, &key, &obj);
        inner.objects[map_idx].insert(key, obj.clone());
        let event = Event {
            rv,
            resource: storage,
            kind: EventType::Added,
            object: obj.clone(),
            previous: None,
        };
        self.record(&mut inner, event);
        Ok(obj)
    }

    /// Read-modify-write of one object, atomically. `f` sees the current object and returns
    /// the desired one (it checks preconditions and may fail). Identity fields are kept from
    /// the current object; a result equal to the current object (ignoring resourceVersion) is a
    /// no-op that keeps the old resourceVersion. Returns the stored object and whether it
    /// changed.
    pub fn update(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        f: impl FnOnce(&Value) -> Result<Value, ApiError>,
    ) -> Result<(Arc<Value>, bool), ApiError> {
        let mut inner = self.lock();
        let key = (namespace.to_string(), name.to_string());
        let storage = rt.storage();
        let idx = storage.index();
        let Some(current) = inner.objects[idx].get(&key).cloned() else {
            return Err(ApiError::not_found(rt, name));
        };
        let mut desired = f(&current)?;
        if !desired.is_object() {
            return Err(ApiError::bad_request("object must be a JSON object"));
        }
        desired["kind"] = json!(storage.kind);
        desired["apiVersion"] = json!(storage.api_version());
        if !desired["metadata"].is_object() {
            desired["metadata"] = json!({});
        }
        for field in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
        ] {
            match current["metadata"].get(field) {
                Some(v) => desired["metadata"][field] = v.clone(),
                None => {
                    if let Some(m) = desired["metadata"].as_object_mut() {
                        m.remove(field);
                    }
                }
            }
        }
        if strip_rv(&desired) == strip_rv(&current) {
            return Ok((current, false));
        }
        // The real server bumps generation on spec changes and when a graceful deletion starts
        // (deletionTimestamp first set).
        let deletion_started = current["metadata"].get("deletionTimestamp").is_none()
            && desired["metadata"].get("deletionTimestamp").is_some();
        if rt.has_generation && (desired.get("spec") != current.get("spec") || deletion_started) {
            let generation = current["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            desired["metadata"]["generation"] = json!(generation);
        }
        inner.rv += 1;
        let rv = inner.rv;
        set_rv(&mut desired, rv);
        let obj = Arc::new(desired);
        inner.index_remove(storage, &key, &current);
        inner.index_add(storage, &key, &obj);
        inner.objects[idx].insert(key, obj.clone());
        let event = Event {
            rv,
            resource: storage,
            kind: EventType::Modified,
            object: obj.clone(),
            previous: Some(current),
        };
        self.record(&mut inner, event);
        Ok((obj, true))
    }

    /// Removes one object, atomically after `check` (preconditions) passed. Returns the last
    /// state, stamped with the deletion's resourceVersion.
    pub fn delete(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        check: impl FnOnce(&Value) -> Result<(), ApiError>,
    ) -> Result<Arc<Value>, ApiError> {
        let mut inner = self.lock();
        let key = (namespace.to_string(), name.to_string());
        let storage = rt.storage();
        let idx = storage.index();
        let Some(current) = inner.objects[idx].get(&key).cloned() else {
            return Err(ApiError::not_found(rt, name));
        };
        check(&current)?;
        inner.objects[idx].remove(&key);
        inner.index_remove(storage, &key, &current);
        inner.rv += 1;
        let rv = inner.rv;
        let mut last = (*current).clone();
        set_rv(&mut last, rv);
        let last = Arc::new(last);
        let event = Event {
            rv,
            resource: storage,
            kind: EventType::Deleted,
            object: last.clone(),
            previous: Some(current),
        };

        self.record(&mut inner, event);
        Ok(last)
    }

    /// Events with a resourceVersion greater than `rv`, or [`Expired`] when the log no longer
    /// reaches back that far.
    pub fn events_since(&self, rv: u64) -> Result<Vec<Arc<Event>>, Expired> {
        let inner = self.lock();
        if rv < inner.compacted {
            return Err(Expired {
                requested: rv,
                oldest: inner.compacted,
            });
        }
        let start = inner.log.partition_point(|e| e.rv <= rv);
        Ok(inner.log.range(start..).cloned().collect())
    }

    /// As [`Self::events_since`], only the events of type `rt` (without scanning the others),
    /// with the store's resourceVersion at the time of the read (every event of the type up to
    /// it is included).
    pub fn events_of_type_since(
        &self,
        rt: &ResourceType,
        rv: u64,
    ) -> Result<(Vec<Arc<Event>>, u64), Expired> {
        let inner = self.lock();
        if rv < inner.compacted {
            return Err(Expired {
                requested: rv,
                oldest: inner.compacted,
            });
        }
        let log = &inner.log_by_type[rt.storage().index()];
        let start = log.partition_point(|e| e.rv <= rv);
        Ok((log.range(start..).cloned().collect(), inner.rv))
    }

    /// The oldest resourceVersion a watch may start from.
    pub fn oldest_watchable_rv(&self) -> u64 {
        self.lock().compacted
    }

    /// Drops the whole event log, as an etcd compaction does: watches and exact-version reads
    /// from any earlier resourceVersion now expire.
    pub fn compact(&self) {
        let mut inner = self.lock();
        inner.log.clear();
        for log in &mut inner.log_by_type {
            log.clear();
        }
        inner.compacted = inner.rv;
    }

    /// Every recorded event since the store was created (empty unless `record_history`).
    pub fn history(&self) -> Vec<Arc<Event>> {
        self.lock().history.clone().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
