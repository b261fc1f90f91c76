//! The invariants of a chaos run, checked on kubesim's recorded write history (never on what
//! the agents say about themselves).
//!
//! The history is replayed in resourceVersion order; after every write past the run's start:
//! - at most C nodes are cordoned (C = the largest concurrency configured in the run; nodes
//!   abandoned to the lock TTL are not counted: their slot was legitimately taken over);
//! - at most C records hold the lock (a manual record counts);
//! - every cordoned node holds the lock ("cordoned without the lock");
//! - no application fell below its budget's `minAvailable` healthy pods, except after a node
//!   deletion (an involuntary disruption) until the application is whole again.
//!
//! At the end: every remaining node whose agent lived is uncordoned and its `bootID` changed
//! exactly once (at most once for the others).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use kubesim::resources::well_known::{DAEMONSETS, LEASES, NODES, PDBS, PODS};
use kubesim::store::{Event, EventType};
use serde::Serialize;
use serde_json::Value;

use crate::report::pdb_healthy;

/// A kind of broken invariant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ViolationKind {
    /// The run did not end within its time limit.
    Timeout,
    /// More than C nodes cordoned at one version.
    TooManyCordoned,
    /// More than C lock holders at one version.
    TooManyHolders,
    /// A node cordoned while not holding the lock.
    CordonedWithoutLock,
    /// Healthy pods below a budget's `minAvailable`.
    PdbViolated,
    /// A node still cordoned at the end.
    LeftCordoned,
    /// A node rebooted zero or several times.
    RebootCount,
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "timeout",
            Self::TooManyCordoned => "too-many-cordoned",
            Self::TooManyHolders => "too-many-holders",
            Self::CordonedWithoutLock => "cordoned-without-lock",
            Self::PdbViolated => "pdb-violated",
            Self::LeftCordoned => "left-cordoned",
            Self::RebootCount => "reboot-count",
        })
    }
}

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Which.
    pub kind: ViolationKind,
    /// What exactly (first occurrence).
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

/// The lock object the agents share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockObject {
    /// An annotation on a `DaemonSet`.
    Annotation {
        /// Namespace of the `DaemonSet`.
        namespace: String,
        /// Its name.
        name: String,
        /// The annotation key.
        key: String,
    },
    /// Leases `<prefix>-N` in `namespace`.
    Lease {
        /// Namespace of the Leases.
        namespace: String,
        /// Name prefix.
        prefix: String,
    },
}

impl LockObject {
    /// kured's defaults for the annotation backend.
    pub fn kured_annotation() -> Self {
        Self::Annotation {
            namespace: "kube-system".into(),
            name: "kured".into(),
            key: lock::DEFAULT_ANNOTATION.into(),
        }
    }

    /// The defaults of the Lease backend.
    pub fn kured_leases() -> Self {
        Self::Lease {
            namespace: "kube-system".into(),
            prefix: "kured".into(),
        }
    }
}

/// A `PodDisruptionBudget` over the pods labelled `app=<app>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// The `app` label.
    pub app: String,
    /// Healthy pods the budget keeps.
    pub min_available: usize,
    /// Pods the app runs when whole (after a node deletion, the budget check resumes once
    /// this many are healthy again).
    pub replicas: usize,
}

/// What the run was supposed to do.
#[derive(Debug, Clone)]
pub struct Expectations {
    /// Writes up to this resourceVersion are the seeded cluster.
    pub start_rv: u64,
    /// Every node that needed a reboot.
    pub nodes: Vec<String>,
    /// C: the largest concurrency configured in the run.
    pub max_concurrency: usize,
    /// Nodes whose agent died for good (at most one reboot, no end-state checks).
    pub dead: BTreeSet<String>,
    /// Dead nodes left to the lock TTL (not counted as cordoned by the agents).
    pub abandoned: BTreeSet<String>,
    /// The lock object.
    pub lock: LockObject,
    /// The budgets (pods in namespace `default`).
    pub budgets: Vec<Budget>,
    /// The run ended by itself before its time limit.
    pub completed: bool,
}

fn name_of(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or_default()
}

/// The holders an annotation value names (an unparsable value: none).
fn annotation_holders(obj: &Value, key: &str) -> Vec<String> {
    obj["metadata"]["annotations"][key]
        .as_str()
        .and_then(|text| lock::LockValue::parse(text).ok())
        .map(|v| v.records().iter().map(|r| r.node_id.clone()).collect())
        .unwrap_or_default()
}

/// Replay state.
#[derive(Default)]
struct State {
    cordoned: BTreeSet<String>,
    boot: BTreeMap<String, String>,
    reboots: BTreeMap<String, usize>,
    exists: BTreeSet<String>,
    /// Lock holders by lock object (the `DaemonSet`, or each Lease).
    holders: BTreeMap<String, Vec<String>>,
    /// App → healthy pod → its node.
    healthy: BTreeMap<String, BTreeMap<String, String>>,
    below: BTreeMap<String, bool>,
    /// App → pods lost with deleted nodes (healthy when their node went), until the app is
    /// whole again without them.
    lost: BTreeMap<String, BTreeSet<String>>,
}

impl State {
    fn all_holders(&self) -> Vec<&String> {
        self.holders.values().flatten().collect()
    }
}

/// Records the first violation of `kind` (later ones only counted).
struct Sink {
    found: BTreeMap<ViolationKind, (String, usize)>,
}

impl Sink {
    fn add(&mut self, kind: ViolationKind, detail: impl FnOnce() -> String) {
        self.found
            .entry(kind)
            .and_modify(|(_, n)| *n += 1)
            .or_insert_with(|| (detail(), 1));
    }
}

impl State {
    /// Applies one write; `false` when it touches nothing the invariants look at.
    fn apply(&mut self, e: &Event, exp: &Expectations, live: bool) -> bool {
        let rt = e.resource;
        let deleted = e.kind == EventType::Deleted;
        if rt == NODES {
            let name = name_of(&e.object).to_string();
            if deleted {
                self.cordoned.remove(&name);
                self.exists.remove(&name);
                if live {
                    for (app, pods) in &self.healthy {
                        let on_node = pods.iter().filter(|(_, n)| **n == name);
                        self.lost
                            .entry(app.clone())
                            .or_default()
                            .extend(on_node.map(|(p, _)| p.clone()));
                    }
                }
                return true;
            }
            self.exists.insert(name.clone());
            if e.object["spec"]["unschedulable"] == Value::Bool(true)
                && !exp.abandoned.contains(&name)
            {
                self.cordoned.insert(name.clone());
            } else {
                self.cordoned.remove(&name);
            }
            let boot = e.object["status"]["nodeInfo"]["bootID"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if let Some(old) = self.boot.insert(name.clone(), boot.clone())
                && old != boot
                && live
            {
                *self.reboots.entry(name).or_default() += 1;
            }
            return true;
        }
        if rt == PODS && e.object["metadata"]["namespace"] == "default" {
            let pod = name_of(&e.object).to_string();
            let app = e.object["metadata"]["labels"]["app"]
                .as_str()
                .unwrap_or_default();
            let set = self.healthy.entry(app.to_string()).or_default();
            if !deleted && pdb_healthy(&e.object) {
                let node = e.object["spec"]["nodeName"].as_str().unwrap_or_default();
                set.insert(pod, node.to_string());
            } else {
                set.remove(&pod);
            }
            return true;
        }
        match &exp.lock {
            LockObject::Annotation {
                namespace,
                name,
                key,
            } if rt == DAEMONSETS
                && e.object["metadata"]["namespace"] == namespace.as_str()
                && name_of(&e.object) == name =>
            {
                let holders = if deleted {
                    Vec::new()
                } else {
                    annotation_holders(&e.object, key)
                };
                self.holders.insert(name.clone(), holders);
                true
            }
            LockObject::Lease { namespace, prefix }
                if rt == LEASES
                    && e.object["metadata"]["namespace"] == namespace.as_str()
                    && name_of(&e.object).starts_with(&format!("{prefix}-")) =>
            {
                let holder = e.object["spec"]["holderIdentity"]
                    .as_str()
                    .filter(|h| !h.is_empty() && !deleted);
                self.holders.insert(
                    name_of(&e.object).to_string(),
                    holder.into_iter().map(str::to_string).collect(),
                );
                true
            }
            _ => false,
        }
    }

    /// The invariants that must hold at every version.
    fn check_version(&mut self, rv: u64, exp: &Expectations, sink: &mut Sink) {
        let c = exp.max_concurrency;
        if self.cordoned.len() > c {
            sink.add(ViolationKind::TooManyCordoned, || {
                format!(
                    "{} nodes cordoned at rv {rv} (C={c}): {:?}",
                    self.cordoned.len(),
                    self.cordoned
                )
            });
        }
        let holders = self.all_holders();
        if holders.len() > c {
            sink.add(ViolationKind::TooManyHolders, || {
                format!(
                    "{} lock holders at rv {rv} (C={c}): {holders:?}",
                    holders.len()
                )
            });
        }
        for node in &self.cordoned {
            if !holders.contains(&node) {
                sink.add(ViolationKind::CordonedWithoutLock, || {
                    format!("{node} cordoned at rv {rv}, lock held by {holders:?}")
                });
            }
        }
        for b in &exp.budgets {
            let (app, min) = (&b.app, b.min_available);
            let lost = self.lost.get(app).cloned().unwrap_or_default();
            let n = self
                .healthy
                .get(app)
                .map_or(0, |pods| pods.keys().filter(|p| !lost.contains(*p)).count());
            if n >= b.replicas {
                self.lost.remove(app);
            }
            let below = n + lost.len() < min;
            let was = self.below.insert(app.clone(), below).unwrap_or(false);
            if below && !was {
                sink.add(ViolationKind::PdbViolated, || {
                    format!("{app}: {n} healthy pods at rv {rv}, minAvailable {min}")
                });
            }
        }
    }
}

/// Checks every invariant on `history`.
pub fn check(history: &[Arc<Event>], exp: &Expectations) -> Vec<Violation> {
    let mut sink = Sink {
        found: BTreeMap::new(),
    };
    let mut st = State::default();
    for e in history {
        let live = e.rv > exp.start_rv;
        if st.apply(e, exp, live) && live {
            st.check_version(e.rv, exp, &mut sink);
        }
    }
    for node in &exp.nodes {
        let dead = exp.dead.contains(node);
        let reboots = st.reboots.get(node).copied().unwrap_or(0);
        if reboots > 1 || (!dead && reboots == 0 && exp.completed) {
            sink.add(ViolationKind::RebootCount, || {
                format!("{node} rebooted {reboots} times (bootID changes)")
            });
        }
        if !dead && st.exists.contains(node) && st.cordoned.contains(node) {
            sink.add(ViolationKind::LeftCordoned, || {
                format!("{node} still cordoned at the end")
            });
        }
    }
    if !exp.completed {
        sink.add(ViolationKind::Timeout, || {
            "the run did not finish within its time limit".into()
        });
    }
    sink.found
        .into_iter()
        .map(|(kind, (detail, n))| Violation {
            kind,
            detail: if n > 1 {
                format!("{detail} (and {} more)", n - 1)
            } else {
                detail
            },
        })
        .collect()
}

/// The run's history past the seeded cluster as one line per write the invariants look at
/// (nodes, application pods, the lock) and per budget status write, for the post-mortem of a
/// failing seed.
pub fn timeline(history: &[Arc<Event>], exp: &Expectations) -> Vec<String> {
    let mut st = State::default();
    let mut lines = Vec::new();
    for e in history {
        let live = e.rv > exp.start_rv;
        let o = &e.object;
        if e.resource == PDBS && live {
            let disrupted: Vec<&String> = o["status"]["disruptedPods"]
                .as_object()
                .map(|d| d.keys().collect())
                .unwrap_or_default();
            lines.push(format!(
                "rv {:>5} {:<8} pdb {} allowed={} healthy={} disrupted={disrupted:?}",
                e.rv,
                e.kind.as_str(),
                name_of(o),
                o["status"]["disruptionsAllowed"],
                o["status"]["currentHealthy"],
            ));
            continue;
        }
        if !st.apply(e, exp, live) || !live {
            continue;
        }
        let what = if e.resource == NODES {
            format!(
                "node {} cordoned={} ready={} boot={}",
                name_of(o),
                o["spec"]["unschedulable"] == Value::Bool(true),
                o["status"]["conditions"].as_array().is_some_and(|cs| cs
                    .iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")),
                o["status"]["nodeInfo"]["bootID"]
                    .as_str()
                    .unwrap_or_default()
                    .chars()
                    .take(8)
                    .collect::<String>()
            )
        } else if e.resource == PODS {
            format!(
                "pod {} on {} phase={} healthy={} terminating={}",
                name_of(o),
                o["spec"]["nodeName"].as_str().unwrap_or("-"),
                o["status"]["phase"].as_str().unwrap_or("-"),
                pdb_healthy(o),
                !o["metadata"]["deletionTimestamp"].is_null()
            )
        } else {
            format!("lock holders {:?}", st.all_holders())
        };
        lines.push(format!("rv {:>5} {:<8} {what}", e.rv, e.kind.as_str()));
    }
    lines
}

#[cfg(test)]
#[path = "invariants_tests.rs"]
mod tests;
