//! Capped exponential backoff with jitter.

use std::time::Duration;

/// How evictions are retried after a 429, a 5xx or a transport error.
///
/// The n-th retry waits a random time in `[d/2, d]` with `d = min(initial · 2ⁿ⁻¹, max)`, and never
/// less than the server's `retryAfterSeconds` (itself capped at `max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first delay (before jitter).
    pub initial: Duration,
    /// The largest delay.
    pub max: Duration,
}

impl Default for RetryPolicy {
    /// 250 ms doubling up to 5 s (kubectl retries every 5 s).
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (1-based), honouring the server's hint.
    pub fn delay(&self, attempt: u32, server_hint: Option<Duration>) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let base = self
            .initial
            .checked_mul(1u32 << exp)
            .unwrap_or(self.max)
            .min(self.max);
        let half = base / 2;
        let span = u64::try_from(base.saturating_sub(half).as_micros()).unwrap_or(u64::MAX);
        let jittered = half + Duration::from_micros(fastrand::u64(0..=span));
        match server_hint {
            Some(h) => jittered.max(h.min(self.max)),
            None => jittered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_are_jittered_and_capped() {
        let p = RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for _ in 0..200 {
            let d1 = p.delay(1, None);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = p.delay(3, None);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            let d50 = p.delay(50, None);
            assert!(d50 >= Duration::from_millis(500) && d50 <= Duration::from_secs(1));
            assert!(p.delay(1, Some(Duration::from_secs(10))) == Duration::from_secs(1));
            assert!(p.delay(1, Some(Duration::from_millis(300))) >= Duration::from_millis(300));
        }
        let distinct: std::collections::BTreeSet<_> = (0..50).map(|_| p.delay(4, None)).collect();
        assert!(distinct.len() > 10, "jitter spreads retries");
    }
}
