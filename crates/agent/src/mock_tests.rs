//! Order of effects, with every Kubernetes-facing seam mocked: uncordon always comes before
//! the release (kured #1409), and an admin-cordoned node is never uncordoned.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use drain::{DrainError, DrainReport, MockDrainer, MockNodeOps, NodeState};
use lock::{AcquireOutcome, LockMetadata, LockRecord, MockRebootLock};
use notify::{Message, Notifications, Notifier, NotifyError};
use sentinel::{CommandError, RebootError, RebootSentinel, Rebooter, SentinelError};
use tokio_util::sync::CancellationToken;

use crate::{Agent, Config, Deps, Metrics, Outcome, REBOOT_IN_PROGRESS_ANNOTATION, SystemClock};

type Log = Arc<Mutex<Vec<String>>>;

fn push(log: &Log, s: impl Into<String>) {
    log.lock().unwrap().push(s.into());
}

struct Fixed(bool);

#[async_trait]
impl RebootSentinel for Fixed {
    async fn reboot_required(&self) -> Result<bool, SentinelError> {
        Ok(self.0)
    }
}

/// Node operations whose node reads find it schedulable, without annotations.
fn schedulable_nodes() -> MockNodeOps {
    let mut nodes = MockNodeOps::new();
    nodes
        .expect_node_state()
        .returning(|_| Ok(NodeState::default()));
    nodes
}

struct FailingRebooter(Log);

#[async_trait]
impl Rebooter for FailingRebooter {
    async fn reboot(&self) -> Result<(), RebootError> {
        push(&self.0, "reboot");
        Err(RebootError::Command(CommandError::Empty))
    }
}

#[derive(Debug)]
struct LogNotifier(Log);

#[async_trait]
impl Notifier for LogNotifier {
    fn service(&self) -> &'static str {
        "log"
    }
    fn target(&self) -> String {
        String::new()
    }
    async fn send(&self, message: &Message) -> Result<(), NotifyError> {
        push(&self.0, format!("notify:{}", message.text));
        Ok(())
    }
}

fn record(unschedulable: bool) -> LockRecord {
    LockRecord::new(
        "n1",
        LockMetadata { unschedulable },
        jiff::Timestamp::now(),
        jiff::SignedDuration::ZERO,
    )
}

fn deps(
    log: &Log,
    nodes: MockNodeOps,
    lock: MockRebootLock,
    drainer: MockDrainer,
    required: bool,
) -> Deps {
    Deps {
        nodes: Arc::new(nodes),
        drainer: Arc::new(drainer),
        lock: Arc::new(lock),
        sentinel: Arc::new(Fixed(required)),
        rebooter: Arc::new(FailingRebooter(log.clone())),
        blockers: Arc::new(blockers::CompositeBlocker::new()),
        notifications: Some(Notifications::new(
            Arc::new(LogNotifier(log.clone())),
            notify::MessageTemplates::default(),
        )),
        clock: Arc::new(SystemClock),
        metrics: Metrics::new(),
    }
}

fn config() -> Config {
    let mut c = Config::new("n1");
    c.period = Duration::from_millis(10);
    c.retry_interval = Duration::from_millis(10);
    c.annotate_nodes = true;
    c.post_reboot_node_labels = [("kured".to_string(), "done".to_string())].into();
    c
}

/// A lock whose `release` logs and stops the agent (so the test ends after it).
fn releasing_lock(log: &Log, cancel: &CancellationToken) -> MockRebootLock {
    let mut lock = MockRebootLock::new();
    let (l, c) = (log.clone(), cancel.clone());
    lock.expect_release().times(1).returning(move |_| {
        push(&l, "release");
        c.cancel();
        Ok(())
    });
    lock
}

#[tokio::test]
async fn start_up_completion_uncordons_labels_notifies_then_releases() {
    let log: Log = Arc::default();
    let cancel = CancellationToken::new();
    let mut lock = releasing_lock(&log, &cancel);
    lock.expect_holding().returning(|_| Ok(Some(record(false))));
    let mut nodes = schedulable_nodes();
    let l = log.clone();
    nodes.expect_uncordon().times(1).returning(move |_| {
        push(&l, "uncordon");
        Ok(true)
    });
    let l = log.clone();
    nodes
        .expect_add_labels()
        .times(1)
        .returning(move |_, labels| {
            push(&l, format!("labels:{labels:?}"));
            Ok(())
        });
    let l = log.clone();
    nodes
        .expect_remove_annotations()
        .times(1)
        .returning(move |_, keys| {
            push(&l, format!("unannotate:{}", keys.join(",")));
            Ok(())
        });
    let agent = Agent::new(config(), deps(&log, nodes, lock, MockDrainer::new(), false));
    let outcome = tokio::time::timeout(Duration::from_secs(5), agent.run(cancel))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Cancelled);
    assert_eq!(
        *log.lock().unwrap(),
        [
            "uncordon".to_string(),
            "labels:{\"kured\": \"done\"}".to_string(),
            format!("unannotate:{REBOOT_IN_PROGRESS_ANNOTATION}"),
            "notify:Node n1 rebooted & uncordoned successfully!".to_string(),
            "release".to_string(),
        ]
    );
}

/// `--lock-release-delay` is the agent's: the release waits for it after the uncordon (the
/// lock backends release at once).
#[tokio::test]
async fn start_up_completion_waits_the_release_delay_after_the_uncordon() {
    let log: Log = Arc::default();
    let cancel = CancellationToken::new();
    let mut lock = releasing_lock(&log, &cancel);
    lock.expect_holding().returning(|_| Ok(Some(record(false))));
    let uncordoned_at: Arc<Mutex<Option<std::time::Instant>>> = Arc::default();
    let mut nodes = schedulable_nodes();
    let at = uncordoned_at.clone();
    nodes.expect_uncordon().times(1).returning(move |_| {
        *at.lock().unwrap() = Some(std::time::Instant::now());
        Ok(true)
    });
    nodes.expect_add_labels().returning(|_, _| Ok(()));
    nodes.expect_remove_annotations().returning(|_, _| Ok(()));
    let delay = Duration::from_millis(300);
    let mut config = config();
    config.lock_release_delay = delay;
    let agent = Agent::new(config, deps(&log, nodes, lock, MockDrainer::new(), false));
    tokio::time::timeout(Duration::from_secs(5), agent.run(cancel))
        .await
        .unwrap();
    let released_after = uncordoned_at.lock().unwrap().expect("uncordoned").elapsed();
    assert!(
        released_after >= delay,
        "released {released_after:?} after the uncordon"
    );
    assert_eq!(
        log.lock().unwrap().last().map(String::as_str),
        Some("release")
    );
}

#[tokio::test]
async fn start_up_completion_leaves_an_admin_cordon() {
    let log: Log = Arc::default();
    let cancel = CancellationToken::new();
    let mut lock = releasing_lock(&log, &cancel);
    lock.expect_holding().returning(|_| Ok(Some(record(true))));
    let mut nodes = schedulable_nodes();
    nodes.expect_uncordon().never();
    nodes.expect_add_labels().returning(|_, _| Ok(()));
    nodes.expect_remove_annotations().returning(|_, _| Ok(()));
    let agent = Agent::new(config(), deps(&log, nodes, lock, MockDrainer::new(), false));
    tokio::time::timeout(Duration::from_secs(5), agent.run(cancel))
        .await
        .unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        ["release"],
        "no uncordon, no notification"
    );
}

/// A lock not held at start that grants one acquire (logged; `pre_cordoned` recorded as an
/// admin cordon) and stops the agent at the release.
fn acquiring_lock(log: &Log, cancel: &CancellationToken, pre_cordoned: bool) -> MockRebootLock {
    let mut lock = releasing_lock(log, cancel);
    lock.expect_holding().returning(|_| Ok(None));
    let l = log.clone();
    lock.expect_acquire().times(1).returning(move |_, meta| {
        push(&l, "acquire");
        Ok(AcquireOutcome::Acquired(record(
            meta.unschedulable || pre_cordoned,
        )))
    });
    lock
}

/// Logs cordons (answering "already cordoned" with `pre_cordoned`) and uncordons.
fn log_cordons(nodes: &mut MockNodeOps, log: &Log, pre_cordoned: bool) {
    let l = log.clone();
    nodes.expect_cordon().returning(move |_| {
        push(&l, "cordon");
        Ok(pre_cordoned)
    });
    let l = log.clone();
    nodes.expect_uncordon().returning(move |_| {
        push(&l, "uncordon");
        Ok(true)
    });
}

/// Lock taken, cordon, drain (ok or not), reboot (fails): uncordon strictly before release.
async fn attempt(pre_cordoned: bool, drain_ok: bool) -> Vec<String> {
    let log: Log = Arc::default();
    let cancel = CancellationToken::new();
    let lock = acquiring_lock(&log, &cancel, pre_cordoned);
    let mut nodes = schedulable_nodes();
    log_cordons(&mut nodes, &log, pre_cordoned);
    nodes.expect_add_annotations().returning(|_, _| Ok(()));
    let mut drainer = MockDrainer::new();
    let l = log.clone();
    drainer.expect_drain().returning(move |node| {
        push(&l, "drain");
        if drain_ok {
            Ok(DrainReport::default())
        } else {
            Err(DrainError::Timeout {
                node: node.to_string(),
                timeout: Duration::from_secs(1),
                pending: Vec::new(),
            })
        }
    });
    let agent = Agent::new(config(), deps(&log, nodes, lock, drainer, true));
    tokio::time::timeout(Duration::from_secs(5), agent.run(cancel))
        .await
        .unwrap();
    let mut log = log.lock().unwrap();
    std::mem::take(&mut *log)
}

#[tokio::test]
async fn failed_reboot_uncordons_then_releases() {
    assert_eq!(
        attempt(false, true).await,
        [
            "acquire",
            "notify:Draining node n1",
            "cordon",
            "drain",
            "notify:Rebooting node n1",
            "reboot",
            "uncordon",
            "release"
        ]
    );
}

#[tokio::test]
async fn failed_drain_of_an_admin_cordoned_node_releases_without_uncordon() {
    assert_eq!(
        attempt(true, false).await,
        [
            "acquire",
            "notify:Draining node n1",
            "cordon",
            "drain",
            "release"
        ]
    );
}

/// Counts sentinel checks.
struct CountingSentinel(Arc<std::sync::atomic::AtomicUsize>);

#[async_trait]
impl RebootSentinel for CountingSentinel {
    async fn reboot_required(&self) -> Result<bool, SentinelError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(true)
    }
}

/// Counts Node reads; answers `unschedulable` as currently set.
#[derive(Default)]
struct CountingReader {
    reads: std::sync::atomic::AtomicUsize,
    unschedulable: std::sync::atomic::AtomicBool,
}

impl CountingReader {
    fn node_state(&self) -> NodeState {
        use std::sync::atomic::Ordering::SeqCst;
        self.reads.fetch_add(1, SeqCst);
        NodeState {
            unschedulable: self.unschedulable.load(SeqCst),
            ..NodeState::default()
        }
    }
}

/// A lock held by `other` until `open` is notified; logs each acquire's metadata.
struct OneSlotLater {
    open: tokio::sync::watch::Sender<bool>,
    acquires: Mutex<Vec<bool>>,
    stop: CancellationToken,
}

#[async_trait]
impl lock::RebootLock for OneSlotLater {
    async fn acquire(
        &self,
        holder: &str,
        metadata: LockMetadata,
    ) -> Result<AcquireOutcome, lock::LockError> {
        self.acquires.lock().unwrap().push(metadata.unschedulable);
        if *self.open.borrow() {
            let now = jiff::Timestamp::now();
            let record = LockRecord::new(holder, metadata, now, jiff::SignedDuration::ZERO);
            Ok(AcquireOutcome::Acquired(record))
        } else {
            let other = LockRecord::new(
                "other",
                LockMetadata::default(),
                jiff::Timestamp::now(),
                jiff::SignedDuration::ZERO,
            );
            Ok(AcquireOutcome::HeldBy(vec![other]))
        }
    }
    async fn release(&self, _holder: &str) -> Result<(), lock::LockError> {
        self.stop.cancel();
        Ok(())
    }
    async fn holders(&self) -> Result<Vec<LockRecord>, lock::LockError> {
        Ok(Vec::new())
    }
    async fn holding(&self, _holder: &str) -> Result<Option<LockRecord>, lock::LockError> {
        Ok(None)
    }
    async fn wait_for_change(&self) -> Result<(), lock::LockError> {
        std::future::pending().await
    }
    async fn wait_for_slot(&self, _holder: &str) -> Result<(), lock::LockError> {
        let mut rx = self.open.subscribe();
        rx.wait_for(|open| *open)
            .await
            .map(|_| ())
            .map_err(|_| lock::LockError::WatchEnded)
    }
    async fn rollout(&self) -> Result<lock::RolloutState, lock::LockError> {
        Ok(lock::RolloutState::default())
    }
    async fn record_failure(
        &self,
        failure: lock::RolloutFailure,
        budget: u32,
    ) -> Result<lock::RolloutState, lock::LockError> {
        Ok(lock::RolloutState::default().with_failure(failure, budget))
    }
    async fn clear_failure(&self, _node: &str) -> Result<(), lock::LockError> {
        Ok(())
    }
    async fn resume(&self) -> Result<(), lock::LockError> {
        Ok(())
    }
}

/// kured re-reads the Node and retries the lock every period; in wait mode a waiting agent
/// re-checks only the window, the sentinel and the blockers per period, and reads the Node
/// (whose cordon state goes into the record) right before the acquire a free slot allows.
#[tokio::test]
async fn waiting_periods_neither_read_the_node_nor_try_the_lock() {
    use std::sync::atomic::Ordering::SeqCst;
    let cancel = CancellationToken::new();
    let lock = Arc::new(OneSlotLater {
        open: tokio::sync::watch::Sender::new(false),
        acquires: Mutex::default(),
        stop: cancel.clone(),
    });
    let reader = Arc::new(CountingReader::default());
    let checks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut nodes = MockNodeOps::new();
    let counted = reader.clone();
    nodes
        .expect_node_state()
        .returning(move |_| Ok(counted.node_state()));
    nodes.expect_add_annotations().returning(|_, _| Ok(()));
    nodes.expect_cordon().returning(|_| Ok(false));
    let mut drainer = MockDrainer::new();
    drainer
        .expect_drain()
        .returning(|_| Ok(DrainReport::default()));
    let log: Log = Arc::default();
    let mut deps = deps(&log, nodes, MockRebootLock::new(), drainer, true);
    deps.lock = lock.clone();
    deps.sentinel = Arc::new(CountingSentinel(checks.clone()));
    let mut config = config();
    config.lock_wait = crate::LockWaitMode::Wait;
    let agent = tokio::spawn(Agent::new(config, deps).run(cancel.clone()));

    // ~20 periods of 10 ms with the lock held by "other".
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(
        checks.load(SeqCst) >= 5,
        "the sentinel is checked every period: {} checks",
        checks.load(SeqCst)
    );
    assert_eq!(
        reader.reads.load(SeqCst),
        1,
        "one Node read before the first try"
    );
    assert_eq!(*lock.acquires.lock().unwrap(), [false], "one lock attempt");

    // An admin cordons the node while it waits; then the slot frees.
    reader.unschedulable.store(true, SeqCst);
    lock.open.send_replace(true);
    tokio::time::timeout(Duration::from_secs(5), agent)
        .await
        .expect("the agent takes the slot, fails its reboot and releases")
        .unwrap();
    assert_eq!(
        reader.reads.load(SeqCst),
        2,
        "the Node is read again before the acquire"
    );
    assert_eq!(
        *lock.acquires.lock().unwrap(),
        [false, true],
        "the record carries the cordon made during the wait"
    );
}

/// A node that needs no reboot removes the `PreferNoSchedule` taint once (a previous agent
/// may have left it), not every period: each removal reads the Node.
#[tokio::test]
async fn the_taint_is_removed_once_not_every_period() {
    let log: Log = Arc::default();
    let cancel = CancellationToken::new();
    let mut lock = MockRebootLock::new();
    lock.expect_holding().returning(|_| Ok(None));
    let mut nodes = schedulable_nodes();
    let l = log.clone();
    nodes
        .expect_remove_prefer_no_schedule_taint()
        .times(1)
        .returning(move |_, _| {
            push(&l, "remove-taint");
            Ok(true)
        });
    let mut config = config();
    config.prefer_no_schedule_taint = Some("weave.works/kured-node-reboot".into());
    let agent = Agent::new(config, deps(&log, nodes, lock, MockDrainer::new(), false));
    let stop = cancel.clone();
    tokio::spawn(async move {
        // ~20 periods of 10 ms.
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.cancel();
    });
    let outcome = tokio::time::timeout(Duration::from_secs(5), agent.run(cancel))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Cancelled);
    assert_eq!(*log.lock().unwrap(), ["remove-taint"]);
}

/// Node operations over an in-memory annotation map that log the guard's writes.
fn annotated_nodes(log: &Log, initial: &[(&str, &str)]) -> (MockNodeOps, Annotations) {
    let annotations: Annotations = Arc::new(Mutex::new(
        initial
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
    ));
    let mut nodes = MockNodeOps::new();
    let a = annotations.clone();
    nodes.expect_node_state().returning(move |_| {
        Ok(NodeState {
            unschedulable: false,
            annotations: a.lock().unwrap().clone(),
        })
    });
    let (l, a) = (log.clone(), annotations.clone());
    nodes.expect_add_annotations().returning(move |_, add| {
        if add.contains_key(crate::AUTOSCALER_GUARD_MARKER_ANNOTATION) {
            push(&l, format!("guard:{:?}", add.keys().collect::<Vec<_>>()));
        }
        a.lock().unwrap().extend(add.clone());
        Ok(())
    });
    let (l, a) = (log.clone(), annotations.clone());
    nodes.expect_remove_annotations().returning(move |_, keys| {
        if keys
            .iter()
            .any(|k| k == crate::AUTOSCALER_GUARD_MARKER_ANNOTATION)
        {
            push(&l, format!("unguard:{keys:?}"));
        }
        let mut a = a.lock().unwrap();
        for k in keys {
            a.remove(k);
        }
        Ok(())
    });
    log_cordons(&mut nodes, log, false);
    nodes.expect_add_labels().returning(|_, _| Ok(()));
    (nodes, annotations)
}

type Annotations = Arc<Mutex<std::collections::BTreeMap<String, String>>>;

#[tokio::test]
async fn autoscaler_guard_is_set_after_acquire_before_cordon_and_removed_before_release() {
    use crate::{DO_NOT_DISRUPT_ANNOTATION, SCALE_DOWN_DISABLED_ANNOTATION};
    let log: Log = Arc::default();
    let cancel = CancellationToken::new();
    let lock = acquiring_lock(&log, &cancel, false);
    // Karpenter's annotation is someone else's: never touched.
    let (nodes, annotations) = annotated_nodes(&log, &[(DO_NOT_DISRUPT_ANNOTATION, "true")]);
    let mut drainer = MockDrainer::new();
    let l = log.clone();
    drainer.expect_drain().returning(move |_| {
        push(&l, "drain");
        Ok(DrainReport::default())
    });
    let mut config = config();
    config.autoscaler_guard = true;
    let agent = Agent::new(config, deps(&log, nodes, lock, drainer, true));
    tokio::time::timeout(Duration::from_secs(5), agent.run(cancel))
        .await
        .unwrap();
    let scale_down = format!("{:?}", [SCALE_DOWN_DISABLED_ANNOTATION]);
    assert_eq!(
        *log.lock().unwrap(),
        [
            "acquire".to_string(),
            format!(
                "guard:{:?}",
                [
                    SCALE_DOWN_DISABLED_ANNOTATION,
                    crate::AUTOSCALER_GUARD_MARKER_ANNOTATION
                ]
            ),
            "notify:Draining node n1".into(),
            "cordon".into(),
            "drain".into(),
            "notify:Rebooting node n1".into(),
            "reboot".into(),
            "uncordon".into(),
            format!(
                "unguard:{:?}",
                [
                    SCALE_DOWN_DISABLED_ANNOTATION,
                    crate::AUTOSCALER_GUARD_MARKER_ANNOTATION
                ]
            ),
            "release".into(),
        ],
        "set {scale_down} after the acquire and before the cordon; removed before the release"
    );
    let left = annotations.lock().unwrap();
    assert_eq!(
        left.get(DO_NOT_DISRUPT_ANNOTATION).map(String::as_str),
        Some("true"),
        "the pre-existing key stays"
    );
    assert!(!left.contains_key(SCALE_DOWN_DISABLED_ANNOTATION));
}

#[tokio::test]
async fn start_up_completion_removes_only_the_marked_guard_before_release() {
    use crate::{DO_NOT_DISRUPT_ANNOTATION, SCALE_DOWN_DISABLED_ANNOTATION};
    let log: Log = Arc::default();
    let cancel = CancellationToken::new();
    let mut lock = releasing_lock(&log, &cancel);
    lock.expect_holding().returning(|_| Ok(Some(record(false))));
    // Written before the reboot by the previous process: it set only the autoscaler's key.
    let (nodes, annotations) = annotated_nodes(
        &log,
        &[
            (DO_NOT_DISRUPT_ANNOTATION, "true"),
            (SCALE_DOWN_DISABLED_ANNOTATION, "true"),
            (
                crate::AUTOSCALER_GUARD_MARKER_ANNOTATION,
                SCALE_DOWN_DISABLED_ANNOTATION,
            ),
        ],
    );
    let agent = Agent::new(config(), deps(&log, nodes, lock, MockDrainer::new(), false));
    tokio::time::timeout(Duration::from_secs(5), agent.run(cancel))
        .await
        .unwrap();
    let log = log.lock().unwrap();
    let n = log.len();
    assert_eq!(log[0], "uncordon");
    assert!(log[n - 2].starts_with("unguard:"), "{log:?}");
    assert_eq!(log[n - 1], "release");
    let left = annotations.lock().unwrap();
    assert_eq!(
        left.keys().collect::<Vec<_>>(),
        [DO_NOT_DISRUPT_ANNOTATION],
        "only someone else's key is left"
    );
}
