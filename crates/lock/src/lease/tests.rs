//! Unit tests of `lease`.

use super::*;

#[test]
fn lease_seconds_round_up_and_none_for_zero() {
    assert_eq!(lease_seconds(SignedDuration::ZERO), None);
    assert_eq!(lease_seconds(SignedDuration::from_secs(-3)), None);
    assert_eq!(lease_seconds(SignedDuration::from_secs(30)), Some(30));
    assert_eq!(lease_seconds(SignedDuration::from_millis(1500)), Some(2));
    assert_eq!(lease_seconds(SignedDuration::from_nanos(1)), Some(1));
}
