//! The fault plan of one chaos run, drawn from its seed.
//!
//! Everything random about a run is decided here, up front, from one seeded generator: the
//! cluster's shape, the lock backend and concurrency, the API fault windows, which agent is
//! killed at which phase, the permanent crash, the manual lock and the concurrency rollout.
//! The run itself happens in real time on a multi-threaded runtime, so the interleavings of
//! a seed are not exactly repeatable, but its plan is.

use std::fmt;
use std::time::Duration;

use kubesim::faults::FaultConfig;
use serde::Serialize;

/// Where in its cycle an agent is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KillPoint {
    /// When it is about to try the lock (reboot required, not holding it).
    BeforeLock,
    /// Holding the lock, before its cordon.
    BeforeCordon,
    /// Cordoned, a moment into the drain.
    MidDrain,
    /// After the reboot, before the uncordon.
    BeforeUncordon,
    /// After the post-reboot uncordon, before the release (the release delay).
    ReleaseDelay,
}

impl KillPoint {
    /// All points, in cycle order.
    pub const ALL: [Self; 5] = [
        Self::BeforeLock,
        Self::BeforeCordon,
        Self::MidDrain,
        Self::BeforeUncordon,
        Self::ReleaseDelay,
    ];
}

impl fmt::Display for KillPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BeforeLock => "before-lock",
            Self::BeforeCordon => "before-cordon",
            Self::MidDrain => "mid-drain",
            Self::BeforeUncordon => "before-uncordon",
            Self::ReleaseDelay => "release-delay",
        })
    }
}

/// An agent killed at `point`; a fresh one starts `restart_after` later (a pod restart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kill {
    /// Node index.
    pub node: usize,
    /// Where.
    pub point: KillPoint,
    /// Pod restart delay.
    pub restart_after: Duration,
}

/// How the cluster gets past an agent that died for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recovery {
    /// The node is deleted this long after the crash (while its entry holds the lock).
    DeleteNode(Duration),
    /// Nothing happens: the lock entry expires after the lock TTL.
    Ttl,
}

/// An agent killed for good at `point` (the node is dead or deleted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Crash {
    /// Node index.
    pub node: usize,
    /// Where.
    pub point: KillPoint,
    /// How the others get past it.
    pub recovery: Recovery,
}

/// An API fault injected for a while.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Every request delayed by `latency` plus up to `jitter`.
    Latency {
        /// Fixed part.
        latency: Duration,
        /// Random part.
        jitter: Duration,
    },
    /// A fraction of requests answered 500.
    Errors500(f64),
    /// A fraction of requests answered 429 with `Retry-After: 1`.
    Throttle429(f64),
    /// A fraction of writes answered 409.
    Conflict409(f64),
    /// Watch streams end after this many events.
    CutWatches(usize),
}

/// One fault window, relative to the agents' start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultWindow {
    /// Start.
    pub start: Duration,
    /// Length.
    pub duration: Duration,
    /// What.
    pub kind: FaultKind,
}

impl FaultWindow {
    /// kubesim's fault configuration for this window.
    pub fn config(&self, seed: u64) -> FaultConfig {
        let mut c = FaultConfig {
            seed,
            ..FaultConfig::default()
        };
        match self.kind {
            FaultKind::Latency { latency, jitter } => {
                c.latency = latency;
                c.jitter = jitter;
            }
            FaultKind::Errors500(f) => c.error_500_fraction = f,
            FaultKind::Throttle429(f) => c.error_429_fraction = f,
            FaultKind::Conflict409(f) => c.conflict_409_fraction = f,
            FaultKind::CutWatches(n) => c.cut_watch_after = Some(n),
        }
        c
    }
}

/// kured's manual lock (`{"nodeID":"manual"}`) set by hand once the lock is free, and removed
/// `hold` later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManualLock {
    /// When the operator starts trying to set it.
    pub at: Duration,
    /// How long it stays.
    pub hold: Duration,
}

/// The `DaemonSet` rolled to a new `--concurrency`: every live agent restarted in turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rollout {
    /// When the rollout starts.
    pub at: Duration,
    /// The new concurrency.
    pub concurrency: u32,
}

/// Everything a run will do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The seed this plan was drawn from.
    pub seed: u64,
    /// Nodes in the cluster.
    pub nodes: usize,
    /// Application pods per node (one Deployment each, a PDB `maxUnavailable: 1` each).
    pub pods_per_node: usize,
    /// The agents' first `--concurrency`.
    pub concurrency: u32,
    /// The lock object.
    pub backend: lock::Backend,
    /// Event-driven lock wait (`true`) or kured's polling.
    pub lock_wait: bool,
    /// The agents' check period.
    pub period: Duration,
    /// `--lock-release-delay`.
    pub release_delay: Duration,
    /// `--lock-ttl` (zero: none).
    pub lock_ttl: Duration,
    /// How long a node is down.
    pub reboot_time: Duration,
    /// How long an evicted pod takes to stop.
    pub drain_grace: Duration,
    /// API fault windows.
    pub faults: Vec<FaultWindow>,
    /// Agents killed and restarted.
    pub kills: Vec<Kill>,
    /// An agent killed for good.
    pub crash: Option<Crash>,
    /// The manual lock (annotation backend only).
    pub manual_lock: Option<ManualLock>,
    /// A concurrency change by restarting every agent.
    pub rollout: Option<Rollout>,
}

fn ms(rng: &mut fastrand::Rng, range: std::ops::RangeInclusive<u64>) -> Duration {
    Duration::from_millis(rng.u64(range))
}

impl Plan {
    /// The plan of `seed`.
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let nodes = rng.usize(5..=8);
        let concurrency = rng.u32(1..=3);
        let backend = if rng.u8(0..4) == 0 {
            lock::Backend::Lease
        } else {
            lock::Backend::Annotation
        };
        let faults = (0..rng.usize(1..=4))
            .map(|_| FaultWindow {
                start: ms(&mut rng, 0..=4_000),
                duration: ms(&mut rng, 300..=1_500),
                kind: match rng.u8(0..5) {
                    0 => FaultKind::Latency {
                        latency: ms(&mut rng, 20..=150),
                        jitter: ms(&mut rng, 0..=100),
                    },
                    1 => FaultKind::Errors500(rng.f64().mul_add(0.4, 0.1)),
                    2 => FaultKind::Throttle429(rng.f64().mul_add(0.3, 0.1)),
                    3 => FaultKind::Conflict409(rng.f64().mul_add(0.5, 0.2)),
                    _ => FaultKind::CutWatches(rng.usize(1..=3)),
                },
            })
            .collect();
        // Each node suffers at most one kill or crash.
        let mut order: Vec<usize> = (0..nodes).collect();
        rng.shuffle(&mut order);
        let mut free = order.into_iter();
        let mut kills = Vec::new();
        for point in KillPoint::ALL {
            if rng.f64() < 0.6
                && let Some(node) = free.next()
            {
                kills.push(Kill {
                    node,
                    point,
                    restart_after: ms(&mut rng, 50..=600),
                });
            }
        }
        let crash = if rng.f64() < 0.35 {
            free.next().map(|node| Crash {
                node,
                point: [
                    KillPoint::BeforeCordon,
                    KillPoint::MidDrain,
                    KillPoint::BeforeUncordon,
                ][rng.usize(0..3)],
                recovery: if rng.bool() {
                    Recovery::DeleteNode(ms(&mut rng, 0..=800))
                } else {
                    Recovery::Ttl
                },
            })
        } else {
            None
        };
        let lock_ttl = match crash {
            Some(Crash {
                recovery: Recovery::Ttl,
                ..
            }) => Duration::from_secs(4),
            _ => Duration::ZERO,
        };
        let manual_lock =
            (backend == lock::Backend::Annotation && rng.f64() < 0.4).then(|| ManualLock {
                at: ms(&mut rng, 200..=3_000),
                hold: ms(&mut rng, 200..=1_200),
            });
        let rollout = (rng.f64() < 0.5).then(|| {
            let mut c = rng.u32(1..=3);
            if c == concurrency {
                c = c % 3 + 1;
            }
            Rollout {
                at: ms(&mut rng, 300..=2_500),
                concurrency: c,
            }
        });
        Self {
            seed,
            nodes,
            pods_per_node: rng.usize(1..=3),
            concurrency,
            backend,
            lock_wait: rng.u8(0..4) != 0,
            period: ms(&mut rng, 200..=400),
            release_delay: if rng.bool() {
                ms(&mut rng, 100..=300)
            } else {
                Duration::ZERO
            },
            lock_ttl,
            reboot_time: ms(&mut rng, 150..=400),
            drain_grace: ms(&mut rng, 100..=250),
            faults,
            kills,
            crash,
            manual_lock,
            rollout,
        }
    }

    /// The largest concurrency any agent of this run is configured with.
    pub fn max_concurrency(&self) -> u32 {
        self.rollout
            .as_ref()
            .map_or(self.concurrency, |r| r.concurrency.max(self.concurrency))
    }

    /// Node names (kubesim's default naming).
    pub fn node_names(&self) -> Vec<String> {
        kubesim::cluster::Cluster::builder()
            .nodes(self.nodes)
            .node_names()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} nodes x {} pods, C={}{}, {:?} lock ({}), {} fault window(s), kills [{}]{}{}",
            self.nodes,
            self.pods_per_node,
            self.concurrency,
            self.rollout
                .as_ref()
                .map(|r| format!("->{}", r.concurrency))
                .unwrap_or_default(),
            self.backend,
            if self.lock_wait { "wait" } else { "poll" },
            self.faults.len(),
            self.kills
                .iter()
                .map(|k| k.point.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            self.crash
                .as_ref()
                .map(|c| format!(", crash at {} ({:?})", c.point, c.recovery))
                .unwrap_or_default(),
            if self.manual_lock.is_some() {
                ", manual lock"
            } else {
                ""
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_repeat_and_vary() {
        assert_eq!(Plan::from_seed(7), Plan::from_seed(7));
        let plans: Vec<Plan> = (0..200).map(Plan::from_seed).collect();
        // Over 200 seeds every kind of chaos is drawn.
        for point in KillPoint::ALL {
            assert!(
                plans
                    .iter()
                    .any(|p| p.kills.iter().any(|k| k.point == point))
            );
        }
        assert!(plans.iter().any(|p| matches!(
            p.crash,
            Some(Crash {
                recovery: Recovery::Ttl,
                ..
            })
        )));
        assert!(plans.iter().any(|p| matches!(
            p.crash,
            Some(Crash {
                recovery: Recovery::DeleteNode(_),
                ..
            })
        )));
        assert!(plans.iter().any(|p| p.manual_lock.is_some()));
        assert!(plans.iter().any(|p| p.backend == lock::Backend::Lease));
        for p in &plans {
            assert!((5..=8).contains(&p.nodes));
            assert!(p.max_concurrency() >= p.concurrency && p.max_concurrency() <= 3);
            if let Some(r) = &p.rollout {
                assert_ne!(r.concurrency, p.concurrency);
            }
            // One fault per node at most.
            let mut hit: Vec<usize> = p.kills.iter().map(|k| k.node).collect();
            hit.extend(p.crash.iter().map(|c| c.node));
            let n = hit.len();
            hit.sort_unstable();
            hit.dedup();
            assert_eq!(hit.len(), n);
            assert!(hit.iter().all(|i| *i < p.nodes));
            assert!(!(p.manual_lock.is_some() && p.backend == lock::Backend::Lease));
        }
    }
}
