//! How the drain engine retries evictions after a 429, a 5xx or a transport error, and its
//! watches and API calls after transient failures.

use std::time::Duration;

use backoff::{Backoff, Jitter};

/// 250 ms doubling up to 5 s (kubectl retries every 5 s), each pause drawn from the upper half
/// of its ceiling ([`Jitter::Equal`]), never shorter than the server's `retryAfterSeconds`
/// (itself capped at 5 s). No attempt budget: `--drain-timeout` bounds a drain.
pub const DEFAULT_RETRY: Backoff =
    Backoff::new(Duration::from_millis(250), Duration::from_secs(5)).jitter(Jitter::Equal);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_kubectls_pace() {
        assert_eq!(DEFAULT_RETRY.ceiling(1), Duration::from_millis(250));
        assert_eq!(DEFAULT_RETRY.ceiling(6), Duration::from_secs(5));
        for _ in 0..100 {
            let d = DEFAULT_RETRY.delay(2, None);
            assert!(d >= Duration::from_millis(250) && d <= Duration::from_millis(500));
        }
        assert_eq!(DEFAULT_RETRY.max_attempts, None);
    }
}
