//! Property tests for the lock annotation format (`lock::format`): no input makes the parser
//! panic, and whatever parses has a stable round trip (`parse → to_json → parse` gives the same
//! value, and `to_json` the same bytes). The cargo-fuzz target `lock_json` (in `fuzz/`) checks
//! the same properties on unstructured input for longer runs.

use jiff::{SignedDuration, Timestamp};
use lock::{LockMetadata, LockRecord, LockValue};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Asserts the round trip of a parsed value.
fn assert_stable(value: &LockValue) -> Result<(), TestCaseError> {
    let json = value.to_json();
    let again = LockValue::parse(&json)
        .map_err(|e| TestCaseError::fail(format!("to_json output {json} does not parse: {e}")))?;
    prop_assert_eq!(&again, value, "{}", json);
    prop_assert_eq!(again.to_json(), json);
    Ok(())
}

/// Creation times Go can write: years 0001–9999 (Go's JSON encoder refuses others), any
/// nanosecond, sometimes none.
fn created() -> impl Strategy<Value = Option<Timestamp>> {
    let min = "0001-01-01T00:00:00Z"
        .parse::<Timestamp>()
        .expect("valid literal")
        .as_second();
    // jiff's maximum lies in 9999 (UTC) for every offset it supports.
    let max = Timestamp::MAX.as_second();
    prop_oneof![
        1 => Just(None),
        6 => (min..=max, 0i32..1_000_000_000).prop_map(|(s, n)| {
            Some(Timestamp::new(s, n).expect("range is valid"))
        }),
    ]
}

fn record() -> impl Strategy<Value = LockRecord> {
    (
        prop_oneof![any::<String>(), "[a-z0-9.<>&-]{0,20}"],
        any::<bool>(),
        created(),
        any::<i64>(),
    )
        .prop_map(|(node_id, unschedulable, created, ttl)| {
            // Go's zero time is how a record without creation time is written.
            let created = created.filter(|t| t.as_second() != GO_ZERO_SECONDS);
            LockRecord {
                node_id,
                metadata: LockMetadata { unschedulable },
                created,
                ttl: SignedDuration::from_nanos(ttl),
            }
        })
}

/// `0001-01-01T00:00:00Z` in Unix seconds.
const GO_ZERO_SECONDS: i64 = -62_135_596_800;

fn value() -> impl Strategy<Value = LockValue> {
    prop_oneof![
        record().prop_map(LockValue::Single),
        (any::<i64>(), prop::collection::vec(record(), 0..4))
            .prop_map(|(max_owners, locks)| LockValue::Multi { max_owners, locks }),
    ]
}

/// JSON documents shaped like lock values, with every field sometimes of the wrong type,
/// missing, `null` or extra, and `created` strings in many RFC 3339 shapes (offsets, fractions,
/// out-of-range years).
fn json_value() -> impl Strategy<Value = Value> {
    let time_text = prop_oneof![
        Just("0001-01-01T00:00:00Z".to_string()),
        Just("0000-12-31T23:00:00-01:00".to_string()),
        Just("9999-12-31T23:59:59.999999999Z".to_string()),
        Just("-000001-01-01T00:00:00Z".to_string()),
        Just("+010000-01-01T00:00:00Z".to_string()),
        (
            0u32..10000,
            1u32..13,
            1u32..29,
            0u32..24,
            0u32..60,
            0u32..1_000_000_000,
            -1439i32..1440
        )
            .prop_map(|(y, mo, d, h, mi, ns, off)| {
                let sign = if off < 0 { '-' } else { '+' };
                let off = off.unsigned_abs();
                format!(
                    "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:07.{ns:09}{sign}{:02}:{:02}",
                    off / 60,
                    off % 60
                )
            }),
        "[0-9TZ:.+-]{0,30}",
    ];
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    let record = (
        prop::option::of(prop_oneof![
            any::<String>().prop_map(Value::String),
            scalar.clone()
        ]),
        prop::option::of(prop_oneof![
            any::<bool>().prop_map(|u| json!({"unschedulable": u})),
            scalar.clone()
        ]),
        prop::option::of(prop_oneof![
            time_text.prop_map(Value::String),
            scalar.clone()
        ]),
        prop::option::of(prop_oneof![
            any::<i64>().prop_map(Value::from),
            scalar.clone()
        ]),
        prop::option::of(scalar.clone()),
    )
        .prop_map(|(id, meta, created, ttl, extra)| {
            let mut m = Map::new();
            for (k, v) in [
                ("nodeID", id),
                ("metadata", meta),
                ("created", created),
                ("TTL", ttl),
                ("extra", extra),
            ] {
                if let Some(v) = v {
                    m.insert(k.to_string(), v);
                }
            }
            Value::Object(m)
        });
    prop_oneof![
        3 => record.clone(),
        3 => (
            prop::option::of(prop_oneof![any::<i64>().prop_map(Value::from), scalar.clone()]),
            prop::option::of(prop::collection::vec(record, 0..3).prop_map(Value::Array)),
        )
            .prop_map(|(max, locks)| {
                let mut m = Map::new();
                if let Some(max) = max {
                    m.insert("maxOwners".into(), max);
                }
                if let Some(locks) = locks {
                    m.insert("locks".into(), locks);
                }
                Value::Object(m)
            }),
        1 => scalar,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics_and_round_trips(text in any::<String>()) {
        if let Ok(v) = LockValue::parse(&text) {
            assert_stable(&v)?;
        }
        if let Ok(r) = LockRecord::parse(&text) {
            let json = r.to_json();
            prop_assert_eq!(LockRecord::parse(&json).ok(), Some(r), "{}", json);
        }
    }

    #[test]
    fn lock_shaped_json_never_panics_and_round_trips(doc in json_value()) {
        let text = doc.to_string();
        if let Ok(v) = LockValue::parse(&text) {
            assert_stable(&v)?;
        }
    }

    #[test]
    fn every_value_go_can_write_round_trips(v in value()) {
        let json = v.to_json();
        let parsed = LockValue::parse(&json).ok();
        prop_assert_eq!(parsed.as_ref(), Some(&v), "{}", json);
        assert_stable(&v)?;
        // Go's encoder escapes these; the output never holds them raw.
        prop_assert!(!json.contains(['<', '>', '&', '\u{2028}', '\u{2029}']), "{}", json);
    }
}
