//! Unit tests of `decision`.

use super::*;
use mockall::predicate::eq;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

const NOW: &str = "2024-07-17T13:00:00Z";

fn rec(node: &str, created: &str, ttl_secs: i64) -> LockRecord {
    LockRecord::new(
        node,
        LockMetadata::default(),
        t(created),
        SignedDuration::from_secs(ttl_secs),
    )
}

fn manual(node: &str) -> LockRecord {
    LockRecord {
        node_id: node.into(),
        metadata: LockMetadata::default(),
        created: None,
        ttl: SignedDuration::ZERO,
    }
}

fn policy(concurrency: u32, ttl_secs: i64) -> LockPolicy {
    LockPolicy {
        concurrency,
        ttl: SignedDuration::from_secs(ttl_secs),
    }
}

fn none() -> BTreeSet<String> {
    BTreeSet::new()
}

fn multi(max: i64, locks: Vec<LockRecord>) -> LockValue {
    LockValue::Multi {
        max_owners: max,
        locks,
    }
}

fn meta(unschedulable: bool) -> LockMetadata {
    LockMetadata { unschedulable }
}

#[test]
fn effective_ttl_prefers_configured_when_set() {
    let s = SignedDuration::from_secs;
    assert_eq!(effective_ttl(s(60), s(0)), s(60));
    assert_eq!(effective_ttl(s(60), s(10)), s(10));
    assert_eq!(effective_ttl(s(0), s(10)), s(10));
    assert_eq!(effective_ttl(s(0), s(0)), s(0));
    assert_eq!(effective_ttl(s(60), s(-1)), s(60));
}

#[test]
fn expiry_boundary_is_inclusive_and_zero_ttl_never_expires() {
    let r = rec("a", "2024-07-17T12:59:00Z", 60);
    assert!(is_expired(&r, t(NOW), SignedDuration::ZERO));
    assert!(!is_expired(
        &r,
        t("2024-07-17T12:59:59.999999999Z"),
        SignedDuration::ZERO
    ));
    let forever = rec("a", "2000-01-01T00:00:00Z", 0);
    assert!(!is_expired(&forever, t(NOW), SignedDuration::ZERO));
    // Setting --lock-ttl now frees an old TTL-less lock (kured #822 fixed).
    assert!(is_expired(
        &forever,
        t(NOW),
        SignedDuration::from_secs(3600)
    ));
    // A shorter configured TTL overrides a longer stored one, and vice versa.
    let long = rec("a", "2024-07-17T12:00:00Z", 7200);
    assert!(is_expired(&long, t(NOW), SignedDuration::from_secs(1800)));
    let short = rec("a", "2024-07-17T12:00:00Z", 60);
    assert!(!is_expired(&short, t(NOW), SignedDuration::from_secs(7200)));
    // A creation time in the future (holder's clock ahead) is not expired.
    assert!(!is_expired(
        &rec("a", "2024-07-17T13:05:00Z", 60),
        t(NOW),
        SignedDuration::ZERO
    ));
}

#[test]
fn next_expiry_is_the_earliest_future_one() {
    let cur = multi(
        3,
        vec![
            rec("a", "2024-07-17T12:59:00Z", 120),
            rec("b", "2024-07-17T12:59:30Z", 60),
            rec("c", "2024-07-17T12:00:00Z", 0),
            manual("m"),
        ],
    );
    let zero = SignedDuration::ZERO;
    assert_eq!(
        next_expiry(Some(&cur), t(NOW), zero),
        Some(t("2024-07-17T13:00:30Z"))
    );
    // The configured TTL wins; records already expired are not "next".
    assert_eq!(
        next_expiry(Some(&cur), t(NOW), SignedDuration::from_secs(90)),
        Some(t("2024-07-17T13:00:30Z"))
    );
    assert_eq!(
        next_expiry(Some(&cur), t(NOW), SignedDuration::from_secs(10)),
        None
    );
    assert_eq!(next_expiry(None, t(NOW), zero), None);
}

#[test]
fn manual_records_never_expire_and_are_never_stale() {
    let m = manual("manual");
    let gone: BTreeSet<String> = ["manual".to_string()].into();
    assert_eq!(
        record_state(&m, t(NOW), SignedDuration::from_secs(1), &gone),
        RecordState::Live
    );
}

#[test]
fn acquire_free_lock_single_form() {
    let d = decide_acquire(None, "n1", meta(true), policy(1, 0), t(NOW), &none());
    let AcquireDecision::Write {
        value,
        record,
        displaced,
    } = d
    else {
        panic!("expected write, got {d:?}");
    };
    assert_eq!(
        record,
        LockRecord::new("n1", meta(true), t(NOW), SignedDuration::ZERO)
    );
    assert_eq!(value, LockValue::Single(record));
    assert!(displaced.is_empty());
}

#[test]
fn acquire_free_lock_multi_form_carries_configured_ttl() {
    let d = decide_acquire(None, "n1", meta(false), policy(3, 30), t(NOW), &none());
    let AcquireDecision::Write { value, record, .. } = d else {
        panic!("expected write");
    };
    assert_eq!(record.ttl, SignedDuration::from_secs(30));
    assert_eq!(value, multi(3, vec![record]));
}

#[test]
fn acquire_blocked_by_live_single_holder() {
    let cur = LockValue::Single(rec("n2", "2024-07-17T12:59:00Z", 0));
    let d = decide_acquire(Some(&cur), "n1", meta(false), policy(1, 0), t(NOW), &none());
    assert_eq!(
        d,
        AcquireDecision::Blocked(vec![rec("n2", "2024-07-17T12:59:00Z", 0)])
    );
}

#[test]
fn acquire_is_idempotent_and_keeps_original_metadata() {
    let mine = LockRecord::new(
        "n1",
        meta(false),
        t("2024-07-17T12:59:00Z"),
        SignedDuration::ZERO,
    );
    for cur in [
        LockValue::Single(mine.clone()),
        multi(2, vec![rec("n2", NOW, 0), mine.clone()]),
    ] {
        for c in [1, 2] {
            let d = decide_acquire(Some(&cur), "n1", meta(true), policy(c, 0), t(NOW), &none());
            assert_eq!(d, AcquireDecision::AlreadyHeld(mine.clone()));
        }
    }
}

#[test]
fn own_expired_record_is_replaced() {
    let cur = multi(
        2,
        vec![rec("n1", "2024-07-17T10:00:00Z", 60), rec("n2", NOW, 0)],
    );
    let d = decide_acquire(Some(&cur), "n1", meta(false), policy(2, 0), t(NOW), &none());
    let AcquireDecision::Write {
        value, displaced, ..
    } = d
    else {
        panic!("expected write");
    };
    assert!(displaced.is_empty(), "own record is not 'displaced'");
    assert_eq!(
        value,
        multi(
            2,
            vec![
                rec("n2", NOW, 0),
                LockRecord::new("n1", meta(false), t(NOW), SignedDuration::ZERO)
            ]
        )
    );
}

#[test]
fn expired_single_holder_is_taken_over_and_reported() {
    let old = rec("n2", "2024-07-17T12:00:00Z", 60);
    let cur = LockValue::Single(old.clone());
    let d = decide_acquire(Some(&cur), "n1", meta(false), policy(1, 0), t(NOW), &none());
    let AcquireDecision::Write {
        displaced, value, ..
    } = d
    else {
        panic!("expected write");
    };
    assert_eq!(
        displaced,
        vec![Displaced {
            record: old,
            reason: RecordState::Expired
        }]
    );
    assert!(matches!(value, LockValue::Single(r) if r.node_id == "n1"));
}

#[test]
fn configured_ttl_frees_lock_stored_without_ttl() {
    let cur = LockValue::Single(rec("n2", "2024-07-17T12:00:00Z", 0));
    let blocked = decide_acquire(Some(&cur), "n1", meta(false), policy(1, 0), t(NOW), &none());
    assert!(matches!(blocked, AcquireDecision::Blocked(_)));
    let freed = decide_acquire(
        Some(&cur),
        "n1",
        meta(false),
        policy(1, 1800),
        t(NOW),
        &none(),
    );
    assert!(matches!(freed, AcquireDecision::Write { .. }));
}

#[test]
fn stale_holder_frees_its_slot() {
    let cur = LockValue::Single(rec("gone-node", "2024-07-17T12:59:00Z", 0));
    let gone: BTreeSet<String> = ["gone-node".to_string()].into();
    let d = decide_acquire(Some(&cur), "n1", meta(false), policy(1, 0), t(NOW), &gone);
    let AcquireDecision::Write { displaced, .. } = d else {
        panic!("expected write");
    };
    assert_eq!(displaced[0].reason, RecordState::Stale);
    assert_eq!(displaced[0].record.node_id, "gone-node");
}

#[test]
fn manual_single_form_blocks_everyone_in_both_modes_even_with_ttl() {
    let cur = LockValue::parse(r#"{"nodeID":"manual"}"#).unwrap();
    let gone: BTreeSet<String> = ["manual".to_string()].into();
    for c in [1, 2, 5] {
        let d = decide_acquire(Some(&cur), "n1", meta(false), policy(c, 60), t(NOW), &gone);
        assert_eq!(
            d,
            AcquireDecision::Blocked(vec![manual("manual")]),
            "concurrency {c}"
        );
    }
}

#[test]
fn manual_record_naming_the_caller_is_the_callers_lock() {
    let cur = LockValue::Single(manual("n1"));
    let d = decide_acquire(Some(&cur), "n1", meta(false), policy(1, 0), t(NOW), &none());
    assert_eq!(d, AcquireDecision::AlreadyHeld(manual("n1")));
}

#[test]
fn manual_record_in_multi_list_takes_one_slot() {
    let cur = multi(2, vec![manual("manual")]);
    let d = decide_acquire(
        Some(&cur),
        "n1",
        meta(false),
        policy(2, 60),
        t(NOW),
        &none(),
    );
    let AcquireDecision::Write { value, .. } = d else {
        panic!("expected write");
    };
    assert_eq!(value.records().len(), 2);
    assert!(value.records()[0].is_manual());
    let d = decide_acquire(
        Some(&value),
        "n3",
        meta(false),
        policy(2, 60),
        t(NOW),
        &none(),
    );
    assert!(matches!(d, AcquireDecision::Blocked(h) if h.len() == 2));
}

#[test]
fn multi_mode_counts_live_and_drops_dead_records() {
    let cur = multi(
        3,
        vec![
            rec("a", "2024-07-17T12:59:00Z", 600),
            rec("b", "2024-07-17T11:00:00Z", 600),
            rec("c", "2024-07-17T12:59:30Z", 600),
        ],
    );
    let d = decide_acquire(Some(&cur), "n1", meta(false), policy(3, 0), t(NOW), &none());
    let AcquireDecision::Write {
        value, displaced, ..
    } = d
    else {
        panic!("expected write");
    };
    let names: Vec<_> = value.records().iter().map(|r| r.node_id.as_str()).collect();
    assert_eq!(names, ["a", "c", "n1"]);
    assert_eq!(displaced.len(), 1);
    assert_eq!(displaced[0].record.node_id, "b");
    // Full with three live records.
    let d = decide_acquire(
        Some(&value),
        "n9",
        meta(false),
        policy(3, 0),
        t(NOW),
        &none(),
    );
    assert!(matches!(d, AcquireDecision::Blocked(h) if h.len() == 3));
}

#[test]
fn never_more_records_than_concurrency_after_a_write() {
    // Exhaustive over small states: 0..=4 records, each live/expired/stale, c in 1..=3.
    let kinds = [
        ("2024-07-17T12:59:00Z", false),
        ("2024-07-17T10:00:00Z", false),
        ("2024-07-17T12:59:00Z", true),
    ];
    for c in 1..=3u32 {
        for n in 0..=4usize {
            for mask in 0..3usize.pow(u32::try_from(n).unwrap()) {
                let mut m = mask;
                let mut locks = Vec::new();
                let mut gone = BTreeSet::new();
                for i in 0..n {
                    let (created, is_gone) = kinds[m % 3];
                    m /= 3;
                    let name = format!("h{i}");
                    if is_gone {
                        gone.insert(name.clone());
                    }
                    locks.push(rec(&name, created, 600));
                }
                let live = locks.len()
                    - gone.len()
                    - locks
                        .iter()
                        .filter(|r| is_expired(r, t(NOW), SignedDuration::ZERO))
                        .count();
                let cur = multi(i64::from(c), locks);
                match decide_acquire(Some(&cur), "me", meta(false), policy(c, 0), t(NOW), &gone) {
                    AcquireDecision::Write { value, .. } => {
                        assert!(live < c as usize);
                        assert!(value.records().len() <= c as usize);
                        assert_eq!(value.records().len(), live + 1);
                    }
                    AcquireDecision::Blocked(h) => {
                        assert!(live >= c as usize);
                        assert_eq!(h.len(), live);
                    }
                    AcquireDecision::AlreadyHeld(_) => panic!("'me' holds nothing"),
                }
            }
        }
    }
}

#[test]
fn single_mode_reading_multi_form_respects_its_holders() {
    let cur = multi(3, vec![rec("a", "2024-07-17T12:59:00Z", 0)]);
    let d = decide_acquire(Some(&cur), "n1", meta(false), policy(1, 0), t(NOW), &none());
    assert!(matches!(d, AcquireDecision::Blocked(h) if h[0].node_id == "a"));
    let empty = multi(3, vec![]);
    let d = decide_acquire(
        Some(&empty),
        "n1",
        meta(false),
        policy(1, 0),
        t(NOW),
        &none(),
    );
    assert!(matches!(
        d,
        AcquireDecision::Write {
            value: LockValue::Single(_),
            ..
        }
    ));
}

#[test]
fn multi_mode_reading_single_real_record_keeps_it() {
    let a = rec("a", "2024-07-17T12:59:00Z", 0);
    let cur = LockValue::Single(a.clone());
    let d = decide_acquire(Some(&cur), "n1", meta(false), policy(2, 0), t(NOW), &none());
    let AcquireDecision::Write { value, record, .. } = d else {
        panic!("expected write");
    };
    assert_eq!(value, multi(2, vec![a, record]));
}

#[test]
fn release_rules() {
    let mine = rec("n1", NOW, 0);
    assert_eq!(decide_release(None, "n1"), ReleaseDecision::NotHeld(vec![]));
    assert_eq!(
        decide_release(Some(&LockValue::Single(mine.clone())), "n1"),
        ReleaseDecision::Write(None)
    );
    let other = rec("n2", NOW, 0);
    assert_eq!(
        decide_release(Some(&LockValue::Single(other.clone())), "n1"),
        ReleaseDecision::NotHeld(vec![other.clone()])
    );
    let cur = multi(3, vec![other.clone(), mine.clone()]);
    assert_eq!(
        decide_release(Some(&cur), "n1"),
        ReleaseDecision::Write(Some(multi(3, vec![other.clone()])))
    );
    let last = multi(3, vec![mine]);
    assert_eq!(
        decide_release(Some(&last), "n1"),
        ReleaseDecision::Write(Some(multi(3, vec![])))
    );
    assert_eq!(
        decide_release(Some(&multi(3, vec![other.clone()])), "n1"),
        ReleaseDecision::NotHeld(vec![other])
    );
    // An expired own record is still ours to remove.
    let expired = LockValue::Single(rec("n1", "2000-01-01T00:00:00Z", 1));
    assert_eq!(
        decide_release(Some(&expired), "n1"),
        ReleaseDecision::Write(None)
    );
}

#[test]
fn holders_and_holding() {
    let cur = multi(
        3,
        vec![
            rec("a", "2024-07-17T12:59:00Z", 0),
            rec("b", "2024-07-17T10:00:00Z", 60),
            manual("manual"),
        ],
    );
    let live = live_holders(Some(&cur), t(NOW), SignedDuration::ZERO, &none());
    let names: Vec<_> = live.iter().map(|r| r.node_id.as_str()).collect();
    assert_eq!(names, ["a", "manual"]);
    assert!(holding(Some(&cur), "a", t(NOW), SignedDuration::ZERO).is_some());
    assert!(holding(Some(&cur), "b", t(NOW), SignedDuration::ZERO).is_none());
    assert!(holding(Some(&cur), "a", t(NOW), SignedDuration::from_secs(30)).is_none());
    assert!(holding(None, "a", t(NOW), SignedDuration::ZERO).is_none());
}

#[test]
fn slots_take_first_free_or_dead_slot() {
    let p = policy(3, 0);
    let slots = vec![Some(rec("a", NOW, 0)), None, Some(rec("b", NOW, 0))];
    let d = decide_slots(&slots, "n1", meta(true), p, t(NOW), &none());
    assert_eq!(
        d,
        SlotDecision::Take {
            slot: 1,
            record: LockRecord::new("n1", meta(true), t(NOW), SignedDuration::ZERO),
            displaced: None
        }
    );
    let full = vec![
        Some(rec("a", NOW, 0)),
        Some(rec("c", "2024-07-17T10:00:00Z", 60)),
        Some(rec("b", NOW, 0)),
    ];
    let d = decide_slots(&full, "n1", meta(false), p, t(NOW), &none());
    assert!(matches!(
        d,
        SlotDecision::Take {
            slot: 1,
            displaced: Some(Displaced {
                reason: RecordState::Expired,
                ..
            }),
            ..
        }
    ));
    let gone: BTreeSet<String> = ["b".to_string()].into();
    let live = vec![Some(rec("a", NOW, 0)), Some(rec("b", NOW, 0))];
    let d = decide_slots(&live, "n1", meta(false), policy(2, 0), t(NOW), &gone);
    assert!(matches!(
        d,
        SlotDecision::Take {
            slot: 1,
            displaced: Some(Displaced {
                reason: RecordState::Stale,
                ..
            }),
            ..
        }
    ));
    let d = decide_slots(&live, "n1", meta(false), policy(2, 0), t(NOW), &none());
    assert!(matches!(d, SlotDecision::Blocked(h) if h.len() == 2));
    let d = decide_slots(&live, "b", meta(false), policy(2, 0), t(NOW), &none());
    assert_eq!(d, SlotDecision::AlreadyHeld(1, rec("b", NOW, 0)));
}

#[tokio::test]
async fn gone_nodes_asks_the_directory_once_per_real_holder() {
    let mut dir = MockNodeDirectory::new();
    dir.expect_node_exists()
        .with(eq("alive"))
        .times(1)
        .returning(|_| Ok(true));
    dir.expect_node_exists()
        .with(eq("dead"))
        .times(1)
        .returning(|_| Ok(false));
    dir.expect_node_exists()
        .with(eq("flaky"))
        .times(1)
        .returning(|_| Err(LockError::Contention { attempts: 1 }));
    let holders = vec![
        rec("alive", NOW, 0),
        rec("dead", NOW, 0),
        rec("dead", NOW, 0),
        rec("flaky", NOW, 0),
        manual("manual"),
    ];
    let gone = gone_nodes(&dir, &holders, t(NOW), Duration::ZERO).await;
    assert_eq!(gone, ["dead".to_string()].into());
}

#[tokio::test]
async fn young_records_are_presumed_alive_and_not_looked_up() {
    let mut dir = MockNodeDirectory::new();
    // Only the records at least 30 s old (and the one from the future) are asked about.
    dir.expect_node_exists()
        .with(eq("old"))
        .times(1)
        .returning(|_| Ok(false));
    dir.expect_node_exists()
        .with(eq("future"))
        .times(1)
        .returning(|_| Ok(false));
    dir.expect_node_exists()
        .with(eq("exactly-30s"))
        .times(1)
        .returning(|_| Ok(false));
    let holders = vec![
        rec("young", "2026-11-20T11:59:31Z", 0),
        rec("exactly-30s", "2026-11-20T11:59:30Z", 0),
        rec("old", "2026-11-20T11:50:00Z", 0),
        rec("future", "2026-11-20T12:00:05Z", 0),
    ];
    let now = t("2026-11-20T12:00:00Z");
    let gone = gone_nodes(&dir, &holders, now, Duration::from_secs(30)).await;
    let expected: BTreeSet<String> = ["exactly-30s", "future", "old"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(gone, expected);
}

#[tokio::test]
async fn stale_takeover_through_mocked_directory() {
    let mut dir = MockNodeDirectory::new();
    dir.expect_node_exists()
        .returning(|name| Ok(name != "autoscaled-away"));
    let cur = multi(2, vec![rec("autoscaled-away", NOW, 0), rec("b", NOW, 0)]);
    let blocked = decide_acquire(Some(&cur), "n1", meta(false), policy(2, 0), t(NOW), &none());
    let AcquireDecision::Blocked(holders) = blocked else {
        panic!("full lock must block before node lookups");
    };
    let gone = gone_nodes(&dir, &holders, t(NOW), Duration::ZERO).await;
    let d = decide_acquire(Some(&cur), "n1", meta(false), policy(2, 0), t(NOW), &gone);
    let AcquireDecision::Write {
        value, displaced, ..
    } = d
    else {
        panic!("expected takeover");
    };
    assert_eq!(displaced[0].record.node_id, "autoscaled-away");
    let names: Vec<_> = value.records().iter().map(|r| r.node_id.as_str()).collect();
    assert_eq!(names, ["b", "n1"]);
}
