//! The lock annotation value, exactly as Go kured writes and reads it.
//!
//! Single owner (`--concurrency=1`):
//!
//! ```text
//! {"nodeID":"n1","metadata":{"unschedulable":false},"created":"2024-07-17T12:40:44.917242595Z","TTL":0}
//! ```
//!
//! Multiple owners (`--concurrency>1`): `{"maxOwners":3,"locks":[<record>,…]}`.
//!
//! Details that matter for byte compatibility with Go's `encoding/json`:
//! - field order `nodeID`, `metadata`, `created`, `TTL` (and `maxOwners`, `locks`);
//! - `metadata` is always present (`omitempty` has no effect on a Go struct);
//! - `created` is `time.Time` in RFC 3339 with up to nine fractional digits, trailing zeros
//!   trimmed and no dot when the fraction is zero (Go's `time.RFC3339Nano`), in UTC (`Z`);
//!   a record without a creation time is written as Go's zero time `0001-01-01T00:00:00Z`;
//! - `TTL` is a `time.Duration`: a signed integer count of nanoseconds;
//! - `<`, `>`, `&`, U+2028 and U+2029 inside strings are escaped as `\u003c` etc.
//!
//! Reading is tolerant the way Go's is: missing or `null` fields take their zero value, unknown
//! fields are ignored, so kured's documented manual lock `{"nodeID":"manual"}` parses (as a
//! record without a creation time, see [`LockRecord::is_manual`]). A `created` with a numeric
//! offset is accepted and normalised to UTC (Go would keep the offset when re-writing it; Go
//! kured itself only ever writes UTC).

use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Go's zero `time.Time`, as `encoding/json` writes it.
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// What kured remembers about the node when it takes the lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LockMetadata {
    /// Whether the node was already unschedulable (cordoned) before kured touched it; kured
    /// only uncordons after the reboot when this is `false`.
    #[serde(default)]
    pub unschedulable: bool,
}

/// One holder of the lock.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockRecord {
    /// The holder: the node name (`nodeID`).
    pub node_id: String,
    /// The node's state before the holder touched it.
    pub metadata: LockMetadata,
    /// When the lock was taken; `None` for a record without a creation time (Go's zero time),
    /// such as kured's manual lock `{"nodeID":"manual"}`.
    pub created: Option<Timestamp>,
    /// The TTL stored with the record (Go `time.Duration`, nanoseconds); zero means none.
    pub ttl: SignedDuration,
}

impl LockRecord {
    /// A record taken by `node_id` at `created` with `ttl`.
    pub fn new(
        node_id: impl Into<String>,
        metadata: LockMetadata,
        created: Timestamp,
        ttl: SignedDuration,
    ) -> Self {
        Self {
            node_id: node_id.into(),
            metadata,
            created: Some(created),
            ttl,
        }
    }

    /// A record without a creation time was written by a person (kured documents
    /// `kubectl annotate ds kured weave.works/kured-node-lock='{"nodeID":"manual"}'` to stop
    /// all reboots). Such a record never expires and is never considered stale.
    pub fn is_manual(&self) -> bool {
        self.created.is_none()
    }

    /// The record as Go kured serialises it (one JSON object, no whitespace).
    pub fn to_json(&self) -> String {
        go_escape(&serde_json::to_string(&RecordOut::from(self)).unwrap_or_default())
    }

    /// Parses one record (tolerant: missing fields take Go's zero values).
    pub fn parse(text: &str) -> Result<Self, FormatError> {
        let raw: RecordIn = serde_json::from_str(text).map_err(FormatError::Json)?;
        raw.into_record()
    }
}

/// The whole annotation value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockValue {
    /// kured's single-owner form (`--concurrency=1`).
    Single(LockRecord),
    /// kured's multi-owner form (`--concurrency>1`).
    Multi {
        /// `maxOwners`: the concurrency of the writer.
        max_owners: i64,
        /// `locks`: the holders, in the order they took the lock.
        locks: Vec<LockRecord>,
    },
}

impl LockValue {
    /// Parses an annotation value. An object with a `locks` or `maxOwners` key is the
    /// multi-owner form; any other object is a single record.
    pub fn parse(text: &str) -> Result<Self, FormatError> {
        let value: Value = serde_json::from_str(text).map_err(FormatError::Json)?;
        let Value::Object(map) = &value else {
            return Err(FormatError::NotAnObject);
        };
        if map.contains_key("locks") || map.contains_key("maxOwners") {
            let raw: MultiIn = serde_json::from_value(value).map_err(FormatError::Json)?;
            let locks = raw
                .locks
                .unwrap_or_default()
                .into_iter()
                .map(RecordIn::into_record)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Self::Multi {
                max_owners: raw.max_owners.unwrap_or_default(),
                locks,
            })
        } else {
            let raw: RecordIn = serde_json::from_value(value).map_err(FormatError::Json)?;
            Ok(Self::Single(raw.into_record()?))
        }
    }

    /// The value as Go kured serialises it.
    pub fn to_json(&self) -> String {
        let text = match self {
            Self::Single(record) => serde_json::to_string(&RecordOut::from(record)),
            Self::Multi { max_owners, locks } => serde_json::to_string(&MultiOut {
                max_owners: *max_owners,
                locks: locks.iter().map(RecordOut::from).collect(),
            }),
        };
        // Serialising plain structs of strings, bools and integers cannot fail.
        go_escape(&text.unwrap_or_default())
    }

    /// All records, whatever the form.
    pub fn records(&self) -> &[LockRecord] {
        match self {
            Self::Single(record) => std::slice::from_ref(record),
            Self::Multi { locks, .. } => locks,
        }
    }
}

/// The annotation value could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Not JSON, or a field of the wrong type.
    #[error("invalid lock JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// Valid JSON but not an object.
    #[error("lock value is not a JSON object")]
    NotAnObject,
    /// `created` is not an RFC 3339 time.
    #[error("invalid created time {value:?}: {source}")]
    Created {
        /// The text found.
        value: String,
        /// Why it does not parse.
        #[source]
        source: jiff::Error,
    },
}

/// Formats `ts` as Go's `time.RFC3339Nano` does for a UTC time: fraction with trailing zeros
/// trimmed, no dot when it is zero, `Z`.
pub fn format_go_time(ts: Timestamp) -> String {
    let dt = ts.to_zoned(TimeZone::UTC).datetime();
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    let nanos = dt.subsec_nanosecond();
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Parses an RFC 3339 time as Go's `time.Time` JSON decoding does; Go's zero time is `None`.
///
/// The instant must lie in the years 0000–9999 in UTC, the range [`format_go_time`] (and Go's
/// encoder) can write: jiff also reads signed six-digit years (`-000001-…`), and a time such
/// as `0000-01-01T00:00:00+01:00` falls in year −1 in UTC; either would be re-written as text
/// that neither this parser nor Go can read.
pub fn parse_go_time(text: &str) -> Result<Option<Timestamp>, FormatError> {
    let created = |source| FormatError::Created {
        value: text.to_string(),
        source,
    };
    let ts: Timestamp = text.parse().map_err(created)?;
    if !(0..=9999).contains(&ts.to_zoned(TimeZone::UTC).year()) {
        return Err(created(jiff::Error::from_args(format_args!(
            "year outside 0000-9999 in UTC"
        ))));
    }
    Ok((format_go_time(ts) != GO_ZERO_TIME).then_some(ts))
}

/// Go's `encoding/json` escapes these even inside strings; they cannot occur outside strings
/// in `serde_json`'s output, so a plain replacement is exact.
fn go_escape(json: &str) -> String {
    if !json.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return json.to_string();
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

fn ttl_nanos(ttl: SignedDuration) -> i64 {
    i64::try_from(ttl.as_nanos()).unwrap_or(if ttl.is_negative() {
        i64::MIN
    } else {
        i64::MAX
    })
}

#[derive(Serialize)]
struct RecordOut<'a> {
    #[serde(rename = "nodeID")]
    node_id: &'a str,
    metadata: LockMetadata,
    created: String,
    #[serde(rename = "TTL")]
    ttl: i64,
}

impl<'a> From<&'a LockRecord> for RecordOut<'a> {
    fn from(r: &'a LockRecord) -> Self {
        Self {
            node_id: &r.node_id,
            metadata: r.metadata,
            created: r
                .created
                .map_or_else(|| GO_ZERO_TIME.to_string(), format_go_time),
            ttl: ttl_nanos(r.ttl),
        }
    }
}

#[derive(Serialize)]
struct MultiOut<'a> {
    #[serde(rename = "maxOwners")]
    max_owners: i64,
    locks: Vec<RecordOut<'a>>,
}

#[derive(Deserialize)]
struct RecordIn {
    #[serde(rename = "nodeID", default)]
    node_id: Option<String>,
    #[serde(default)]
    metadata: Option<LockMetadata>,
    #[serde(default)]
    created: Option<String>,
    #[serde(rename = "TTL", default)]
    ttl: Option<i64>,
}

impl RecordIn {
    fn into_record(self) -> Result<LockRecord, FormatError> {
        let created = match self.created.as_deref() {
            None => None,
            Some(text) => parse_go_time(text)?,
        };
        Ok(LockRecord {
            node_id: self.node_id.unwrap_or_default(),
            metadata: self.metadata.unwrap_or_default(),
            created,
            ttl: SignedDuration::from_nanos(self.ttl.unwrap_or_default()),
        })
    }
}

#[derive(Deserialize)]
struct MultiIn {
    #[serde(rename = "maxOwners", default)]
    max_owners: Option<i64>,
    #[serde(default)]
    locks: Option<Vec<RecordIn>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUE_SINGLE: &str = r#"{"nodeID":"n1","metadata":{"unschedulable":false},"created":"2024-07-17T12:40:44.917242595Z","TTL":0}"#;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn issue_single_owner_string_round_trips_byte_for_byte() {
        let value = LockValue::parse(ISSUE_SINGLE).unwrap();
        let LockValue::Single(record) = &value else {
            panic!("expected single form, got {value:?}");
        };
        assert_eq!(record.node_id, "n1");
        assert!(!record.metadata.unschedulable);
        assert_eq!(record.created, Some(ts("2024-07-17T12:40:44.917242595Z")));
        assert_eq!(record.ttl, SignedDuration::ZERO);
        assert_eq!(value.to_json(), ISSUE_SINGLE);
    }

    #[test]
    fn produces_the_issue_string_from_a_record() {
        let record = LockRecord::new(
            "n1",
            LockMetadata::default(),
            ts("2024-07-17T12:40:44.917242595Z"),
            SignedDuration::ZERO,
        );
        assert_eq!(LockValue::Single(record.clone()).to_json(), ISSUE_SINGLE);
        assert_eq!(record.to_json(), ISSUE_SINGLE);
    }

    #[test]
    fn multi_owner_realistic_value_round_trips() {
        let text = concat!(
            r#"{"maxOwners":3,"locks":["#,
            r#"{"nodeID":"worker-1","metadata":{"unschedulable":false},"created":"2024-07-17T12:40:44.917242595Z","TTL":1800000000000},"#,
            r#"{"nodeID":"worker-7","metadata":{"unschedulable":true},"created":"2024-07-17T12:41:02.5Z","TTL":1800000000000},"#,
            r#"{"nodeID":"worker-9","metadata":{"unschedulable":false},"created":"2024-07-17T12:42:00Z","TTL":0}"#,
            "]}"
        );
        let value = LockValue::parse(text).unwrap();
        let LockValue::Multi { max_owners, locks } = &value else {
            panic!("expected multi form");
        };
        assert_eq!(*max_owners, 3);
        assert_eq!(locks.len(), 3);
        assert_eq!(locks[0].ttl, SignedDuration::from_mins(30));
        assert!(locks[1].metadata.unschedulable);
        assert_eq!(locks[1].created, Some(ts("2024-07-17T12:41:02.5Z")));
        assert_eq!(value.to_json(), text);
        assert_eq!(LockValue::parse(&value.to_json()).unwrap(), value);
    }

    #[test]
    fn empty_multi_value_as_go_leaves_it_after_the_last_release() {
        let text = r#"{"maxOwners":2,"locks":[]}"#;
        let value = LockValue::parse(text).unwrap();
        assert_eq!(
            value,
            LockValue::Multi {
                max_owners: 2,
                locks: vec![]
            }
        );
        assert_eq!(value.to_json(), text);
        // Go decodes `null` and a missing list alike.
        assert_eq!(
            LockValue::parse(r#"{"maxOwners":2,"locks":null}"#).unwrap(),
            value
        );
        assert_eq!(LockValue::parse(r#"{"maxOwners":2}"#).unwrap(), value);
    }

    #[test]
    fn manual_lock_parses_as_record_without_creation_time() {
        let value = LockValue::parse(r#"{"nodeID":"manual"}"#).unwrap();
        let LockValue::Single(record) = &value else {
            panic!("expected single form");
        };
        assert_eq!(record.node_id, "manual");
        assert!(record.is_manual());
        assert_eq!(record.ttl, SignedDuration::ZERO);
        assert_eq!(record.metadata, LockMetadata::default());
        // Re-serialised the way Go would: zero time, zero TTL, metadata present.
        assert_eq!(
            value.to_json(),
            r#"{"nodeID":"manual","metadata":{"unschedulable":false},"created":"0001-01-01T00:00:00Z","TTL":0}"#
        );
        // And Go's zero time reads back as "no creation time": stable round trip.
        assert_eq!(LockValue::parse(&value.to_json()).unwrap(), value);
    }

    #[test]
    fn go_time_formatting_trims_fraction_like_rfc3339nano() {
        let cases = [
            (
                "2024-07-17T12:40:44.917242595Z",
                "2024-07-17T12:40:44.917242595Z",
            ),
            (
                "2024-07-17T12:40:44.917242500Z",
                "2024-07-17T12:40:44.9172425Z",
            ),
            ("2024-07-17T12:40:44.100Z", "2024-07-17T12:40:44.1Z"),
            (
                "2024-07-17T12:40:44.000000001Z",
                "2024-07-17T12:40:44.000000001Z",
            ),
            ("2024-07-17T12:40:44Z", "2024-07-17T12:40:44Z"),
            ("2024-07-17T14:40:44.5+02:00", "2024-07-17T12:40:44.5Z"),
            ("0999-01-02T03:04:05Z", "0999-01-02T03:04:05Z"),
        ];
        for (input, want) in cases {
            assert_eq!(format_go_time(ts(input)), want, "{input}");
        }
    }

    #[test]
    fn ttl_is_go_duration_nanoseconds_including_negative() {
        let text = r#"{"nodeID":"a","metadata":{"unschedulable":true},"created":"2024-01-01T00:00:00Z","TTL":-5}"#;
        let value = LockValue::parse(text).unwrap();
        assert_eq!(value.records()[0].ttl, SignedDuration::from_nanos(-5));
        assert_eq!(value.to_json(), text);
        let record = LockRecord::new(
            "a",
            LockMetadata::default(),
            ts("2024-01-01T00:00:00Z"),
            SignedDuration::from_secs(90),
        );
        assert!(record.to_json().ends_with(r#""TTL":90000000000}"#));
    }

    #[test]
    fn tolerant_reader_matches_go_zero_values() {
        let value = LockValue::parse(
            r#"{"nodeID":"x","metadata":null,"created":null,"TTL":null,"extra":[1,2]}"#,
        )
        .unwrap();
        let record = &value.records()[0];
        assert_eq!(record.node_id, "x");
        assert!(record.is_manual());
        assert!(!record.metadata.unschedulable);
        assert_eq!(LockValue::parse("{}").unwrap().records()[0].node_id, "");
    }

    #[test]
    fn malformed_values_are_errors_not_silently_free() {
        assert!(matches!(
            LockValue::parse("not json"),
            Err(FormatError::Json(_))
        ));
        assert!(matches!(
            LockValue::parse("[]"),
            Err(FormatError::NotAnObject)
        ));
        assert!(matches!(
            LockValue::parse(r#"{"nodeID":"a","created":"yesterday"}"#),
            Err(FormatError::Created { .. })
        ));
        assert!(matches!(
            LockValue::parse(r#"{"nodeID":"a","TTL":"1s"}"#),
            Err(FormatError::Json(_))
        ));
        assert!(matches!(
            LockValue::parse(r#"{"maxOwners":"3","locks":[]}"#),
            Err(FormatError::Json(_))
        ));
    }

    #[test]
    fn html_sensitive_characters_are_escaped_like_go() {
        let record = LockRecord::new(
            "a<b>&c\u{2028}",
            LockMetadata::default(),
            ts("2024-01-01T00:00:00Z"),
            SignedDuration::ZERO,
        );
        let text = record.to_json();
        assert!(
            text.starts_with(r#"{"nodeID":"a\u003cb\u003e\u0026c\u2028","#),
            "{text}"
        );
        assert_eq!(LockRecord::parse(&text).unwrap(), record);
    }
}
