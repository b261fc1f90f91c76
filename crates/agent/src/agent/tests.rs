//! Unit tests of `agent`.

use super::*;

#[test]
fn annotation_time_is_go_rfc3339_in_utc() {
    let t: Timestamp = "2026-11-20T12:34:56.789Z".parse().unwrap();
    assert_eq!(go_rfc3339(t), "2026-11-20T12:34:56Z");
}
