//! Reporting PodDisruptionBudgets that keep a drain stuck: once pods have been refused by the
//! same budgets for [`crate::DrainOptions::pdb_stuck_after`], one [`PdbStuck`] per set of
//! budgets names them and every pod they block — not one report per retry.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

use crate::types::PodRef;

/// PodDisruptionBudgets that have refused evictions for at least the configured time, and
/// the pods they block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdbStuck {
    /// The budgets (`namespace/name`, sorted) whose selector matches the pods; empty when
    /// they could not be watched (no `list`/`watch` on PodDisruptionBudgets).
    pub pdbs: Vec<String>,
    /// Every pod these budgets blocked when the report was made, sorted.
    pub pods: Vec<PodRef>,
    /// How long the longest-blocked of them had been refused.
    pub blocked_for: Duration,
}

/// A pod whose eviction a budget refused, and since when.
#[derive(Debug, Clone)]
pub(super) struct BlockedPod {
    pub(super) pod: PodRef,
    /// The budgets covering it (`namespace/name`, sorted).
    pub(super) pdbs: Vec<String>,
    pub(super) since: Instant,
}

/// Makes at most one report per set of budgets during one drain.
#[derive(Debug)]
pub(super) struct StuckReporter {
    after: Duration,
    reported: BTreeSet<Vec<String>>,
}

impl StuckReporter {
    pub(super) fn new(after: Duration) -> Self {
        Self {
            after,
            reported: BTreeSet::new(),
        }
    }

    /// How often to look: often enough to report soon after `after`, at most every second.
    pub(super) fn period(&self) -> Duration {
        (self.after / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }

    /// Groups `blocked` by their budgets; reports each group not reported yet whose
    /// longest-blocked pod has been refused for at least `after`.
    pub(super) fn check(&mut self, blocked: Vec<BlockedPod>, now: Instant) -> Vec<PdbStuck> {
        let mut groups: BTreeMap<Vec<String>, (Vec<PodRef>, Duration)> = BTreeMap::new();
        for b in blocked {
            let entry = groups.entry(b.pdbs).or_default();
            entry.0.push(b.pod);
            entry.1 = entry.1.max(now.saturating_duration_since(b.since));
        }
        let mut out = Vec::new();
        for (pdbs, (mut pods, blocked_for)) in groups {
            if blocked_for < self.after || self.reported.contains(&pdbs) {
                continue;
            }
            self.reported.insert(pdbs.clone());
            pods.sort();
            out.push(PdbStuck {
                pdbs,
                pods,
                blocked_for,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(name: &str, pdbs: &[&str], since: Instant) -> BlockedPod {
        BlockedPod {
            pod: PodRef::new("ns", name, format!("uid-{name}")),
            pdbs: pdbs.iter().map(ToString::to_string).collect(),
            since,
        }
    }

    #[test]
    fn one_report_per_set_of_budgets_once_the_longest_blocked_pod_is_due() {
        let t0 = Instant::now();
        let after = Duration::from_secs(60);
        let mut r = StuckReporter::new(after);
        let now = t0 + Duration::from_secs(59);
        let pods = vec![
            blocked("b", &["ns/web"], t0),
            blocked("a", &["ns/web"], t0 + Duration::from_secs(30)),
            blocked("c", &["ns/db"], t0 + Duration::from_secs(10)),
        ];
        assert!(r.check(pods.clone(), now).is_empty(), "not before the time");
        let now = t0 + Duration::from_secs(61);
        let got = r.check(pods.clone(), now);
        assert_eq!(
            got,
            [PdbStuck {
                pdbs: vec!["ns/web".into()],
                pods: vec![
                    PodRef::new("ns", "a", "uid-a"),
                    PodRef::new("ns", "b", "uid-b")
                ],
                blocked_for: Duration::from_secs(61),
            }],
            "a joins b's report although it is blocked for less; db is not due yet"
        );
        assert!(r.check(pods.clone(), now).is_empty(), "reported once");
        let got = r.check(pods, t0 + Duration::from_secs(75));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].pdbs, ["ns/db"]);
        assert_eq!(got[0].blocked_for, Duration::from_secs(65));
        assert_eq!(r.period(), Duration::from_secs(1));
        assert_eq!(
            StuckReporter::new(Duration::from_millis(20)).period(),
            Duration::from_millis(10)
        );
    }
}
