//! [`BlockReason`]: why a reboot must wait, in a shape callers can log, count and show.

use std::fmt;

/// How many names a reason's text lists before it summarises the rest as "(+N more)".
const SHOWN_NAMES: usize = 10;

/// Where an opt-out key was found on the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetadataKind {
    /// `metadata.labels`.
    Label,
    /// `metadata.annotations`.
    Annotation,
}

impl MetadataKind {
    /// `"label"` or `"annotation"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Label => "label",
            Self::Annotation => "annotation",
        }
    }
}

impl fmt::Display for MetadataKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The pods one blocking selector found on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodMatch {
    /// The label selector as configured (`--blocking-pod-selector`).
    pub selector: String,
    /// `namespace/name` of the matching pods, in the order the API server listed them (at most
    /// one page, see [`crate::PodBlocker`]).
    pub pods: Vec<String>,
    /// True when the API server had more matching pods than were listed.
    pub truncated: bool,
}

/// Why a node must not reboot now.
///
/// A blocker returns one of the leaf variants; [`crate::CompositeBlocker`] returns
/// [`BlockReason::Multiple`] when several blockers object, so that every reason is reported.
/// The `Display` text is meant for logs, events and notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockReason {
    /// Prometheus has active alerts that count (see [`crate::PrometheusBlocker`]); their
    /// names, sorted and de-duplicated.
    Alerts(Vec<String>),
    /// Pods matching blocking selectors run on the node: one entry per selector that matched.
    Pods(Vec<PodMatch>),
    /// The node carries the opt-out key (see [`crate::OptOutBlocker`]).
    OptOut {
        /// Label or annotation.
        kind: MetadataKind,
        /// The key found.
        key: String,
        /// Its value.
        value: String,
    },
    /// The check itself failed (Prometheus unreachable, API error, …). Blockers fail safe: a
    /// check that cannot tell blocks the reboot.
    CheckFailed {
        /// The [`crate::RebootBlocker::name`] of the blocker that failed.
        blocker: String,
        /// The error, as text.
        error: String,
    },
    /// A reason from a blocker outside this crate.
    Other {
        /// The [`crate::RebootBlocker::name`] of the blocker.
        blocker: String,
        /// Why it blocks.
        message: String,
    },
    /// Several reasons at once (never nested, never fewer than two).
    Multiple(Vec<BlockReason>),
}

impl BlockReason {
    /// Combines reasons: `None` for none, the reason itself for one, [`BlockReason::Multiple`]
    /// (flattened) for more.
    pub fn combine(reasons: impl IntoIterator<Item = BlockReason>) -> Option<BlockReason> {
        let mut flat = Vec::new();
        for reason in reasons {
            match reason {
                Self::Multiple(inner) => flat.extend(inner),
                leaf => flat.push(leaf),
            }
        }
        match flat.len() {
            0 => None,
            1 => flat.pop(),
            _ => Some(Self::Multiple(flat)),
        }
    }

    /// The leaf reasons: the reason itself, or the members of [`BlockReason::Multiple`].
    pub fn reasons(&self) -> &[BlockReason] {
        match self {
            Self::Multiple(inner) => inner,
            leaf => std::slice::from_ref(leaf),
        }
    }

    /// A short label naming the kind of blocker, for metrics and structured logs (kured's
    /// labels where kured has one): `prometheus_alert`, `blocker_pod`, `opt_out`, the failed
    /// blocker's name for [`BlockReason::CheckFailed`] and [`BlockReason::Other`], `multiple`.
    pub fn label(&self) -> &str {
        match self {
            Self::Alerts(_) => crate::prometheus::LABEL,
            Self::Pods(_) => crate::pods::LABEL,
            Self::OptOut { .. } => crate::opt_out::LABEL,
            Self::CheckFailed { blocker, .. } | Self::Other { blocker, .. } => blocker,
            Self::Multiple(_) => "multiple",
        }
    }

    /// True when this reason (or one of its members) is a failed check rather than an
    /// observed condition.
    pub fn is_check_failure(&self) -> bool {
        self.reasons()
            .iter()
            .any(|r| matches!(r, Self::CheckFailed { .. }))
    }
}

/// Writes `names` joined by ", ", at most [`SHOWN_NAMES`] of them, then "(+N more)".
fn write_names(f: &mut fmt::Formatter<'_>, names: &[String], more: bool) -> fmt::Result {
    for (i, name) in names.iter().take(SHOWN_NAMES).enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        f.write_str(name)?;
    }
    let hidden = names.len().saturating_sub(SHOWN_NAMES);
    if hidden > 0 {
        write!(f, " (+{hidden} more)")?;
    } else if more {
        f.write_str(", …")?;
    }
    Ok(())
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Alerts(names) => {
                let n = names.len();
                write!(f, "{n} active alert{}: ", if n == 1 { "" } else { "s" })?;
                write_names(f, names, false)
            }
            Self::Pods(matches) => {
                f.write_str("blocking pods on the node: ")?;
                for (i, m) in matches.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "selector {:?}: ", m.selector)?;
                    write_names(f, &m.pods, m.truncated)?;
                }
                Ok(())
            }
            Self::OptOut { kind, key, value } => {
                write!(f, "node opted out of reboots: {kind} {key}={value:?}")
            }
            Self::CheckFailed { blocker, error } => {
                write!(f, "{blocker} check failed, blocking to be safe: {error}")
            }
            Self::Other { blocker, message } => write!(f, "{blocker}: {message}"),
            Self::Multiple(reasons) => {
                for (i, r) in reasons.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{r}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(b: &str) -> BlockReason {
        BlockReason::CheckFailed {
            blocker: b.into(),
            error: "boom".into(),
        }
    }

    #[test]
    fn combine_flattens_and_unwraps_single() {
        assert_eq!(BlockReason::combine([]), None);
        let one = BlockReason::Alerts(vec!["A".into()]);
        assert_eq!(BlockReason::combine([one.clone()]), Some(one.clone()));
        let nested = BlockReason::Multiple(vec![failed("x"), failed("y")]);
        let all = BlockReason::combine([one.clone(), nested]).unwrap();
        assert_eq!(
            all,
            BlockReason::Multiple(vec![one, failed("x"), failed("y")])
        );
        assert_eq!(all.reasons().len(), 3);
        assert_eq!(all.label(), "multiple");
        assert!(all.is_check_failure());
    }

    #[test]
    fn labels_follow_kured() {
        assert_eq!(BlockReason::Alerts(vec![]).label(), "prometheus_alert");
        assert_eq!(BlockReason::Pods(vec![]).label(), "blocker_pod");
        let opt = BlockReason::OptOut {
            kind: MetadataKind::Label,
            key: "k".into(),
            value: "true".into(),
        };
        assert_eq!(opt.label(), "opt_out");
        assert!(!opt.is_check_failure());
        assert_eq!(failed("blocker_pod").label(), "blocker_pod");
    }

    #[test]
    fn display_texts() {
        let names: Vec<String> = (0..12).map(|i| format!("A{i:02}")).collect();
        assert_eq!(
            BlockReason::Alerts(names).to_string(),
            "12 active alerts: A00, A01, A02, A03, A04, A05, A06, A07, A08, A09 (+2 more)"
        );
        assert_eq!(
            BlockReason::Alerts(vec!["Only".into()]).to_string(),
            "1 active alert: Only"
        );
        let pods = BlockReason::Pods(vec![
            PodMatch {
                selector: "app=db".into(),
                pods: vec!["ns/db-0".into(), "ns/db-1".into()],
                truncated: true,
            },
            PodMatch {
                selector: "batch".into(),
                pods: vec!["jobs/j".into()],
                truncated: false,
            },
        ]);
        assert_eq!(
            pods.to_string(),
            "blocking pods on the node: selector \"app=db\": ns/db-0, ns/db-1, …; \
             selector \"batch\": jobs/j"
        );
        let opt = BlockReason::OptOut {
            kind: MetadataKind::Annotation,
            key: "example.com/no-reboot".into(),
            value: String::new(),
        };
        assert_eq!(
            opt.to_string(),
            "node opted out of reboots: annotation example.com/no-reboot=\"\""
        );
        let both = BlockReason::combine([opt, failed("prometheus_alert")]).unwrap();
        assert_eq!(
            both.to_string(),
            "node opted out of reboots: annotation example.com/no-reboot=\"\"; \
             prometheus_alert check failed, blocking to be safe: boom"
        );
    }
}
