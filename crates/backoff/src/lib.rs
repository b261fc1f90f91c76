//! Capped exponential backoff with jitter: the one retry timing of the workspace.
//!
//! The reboot lock retries its read-decide-write rounds with it ([`Jitter::Full`], an attempt
//! budget), the drain engine its evictions and watches ([`Jitter::Equal`], no budget: the drain
//! timeout bounds it). Retry number `n` (1-based) has the ceiling `min(initial · 2ⁿ⁻¹, max)`;
//! the pause is drawn below the ceiling as the [`Jitter`] says, and never shorter than a
//! server's hint (itself capped at `max`).
//!
//! ```
//! use std::time::Duration;
//! use backoff::{Backoff, Jitter};
//!
//! let lock_rounds = Backoff::new(Duration::from_millis(20), Duration::from_secs(1))
//!     .max_attempts(10);
//! assert_eq!(lock_rounds.jitter, Jitter::Full);
//! assert!(lock_rounds.delay(2, None) <= Duration::from_millis(40));
//! assert!(lock_rounds.allows(10) && !lock_rounds.allows(11));
//! ```

use std::time::Duration;

/// Where below the ceiling a pause is drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Jitter {
    /// Uniformly in `[0, ceiling]`: contenders that failed together retry apart.
    #[default]
    Full,
    /// Uniformly in `[ceiling/2, ceiling]`: spread, but never much shorter than the ceiling.
    Equal,
}

/// Capped exponential backoff with jitter and an optional attempt budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry.
    pub initial: Duration,
    /// The largest ceiling (and the cap of a server's hint).
    pub max: Duration,
    /// Where the pause is drawn below the ceiling.
    pub jitter: Jitter,
    /// Attempts allowed in all (`None`: no budget; the caller bounds the retries otherwise).
    pub max_attempts: Option<u32>,
}

impl Backoff {
    /// `initial` doubling up to `max`, full jitter, no attempt budget.
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            jitter: Jitter::Full,
            max_attempts: None,
        }
    }

    /// Sets the jitter.
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the attempt budget (at least 1 is always allowed).
    pub const fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Whether attempt number `attempt` (1-based) is within the budget.
    pub fn allows(&self, attempt: u32) -> bool {
        self.max_attempts.is_none_or(|max| attempt <= max.max(1))
    }

    /// The ceiling of retry number `attempt` (1-based): doubling from `initial`, capped at `max`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        self.initial
            .checked_mul(1u32 << exp)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// The pause before retry number `attempt` (1-based): jittered below the ceiling, never
    /// shorter than `server_hint` capped at `max`.
    pub fn delay(&self, attempt: u32, server_hint: Option<Duration>) -> Duration {
        let ceiling = self.ceiling(attempt);
        let floor = match self.jitter {
            Jitter::Full => Duration::ZERO,
            Jitter::Equal => ceiling / 2,
        };
        let span = u64::try_from(ceiling.saturating_sub(floor).as_micros()).unwrap_or(u64::MAX);
        let jittered = floor + Duration::from_micros(fastrand::u64(0..=span));
        match server_hint {
            Some(hint) => jittered.max(hint.min(self.max)),
            None => jittered,
        }
    }

    /// Sleeps [`Self::delay`]`(attempt, server_hint)`.
    pub async fn sleep(&self, attempt: u32, server_hint: Option<Duration>) {
        tokio::time::sleep(self.delay(attempt, server_hint)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_and_caps() {
        let b = Backoff::new(Duration::from_millis(20), Duration::from_secs(1));
        assert_eq!(b.ceiling(1), Duration::from_millis(20));
        assert_eq!(b.ceiling(2), Duration::from_millis(40));
        assert_eq!(b.ceiling(4), Duration::from_millis(160));
        assert_eq!(b.ceiling(7), Duration::from_secs(1));
        assert_eq!(b.ceiling(1000), Duration::from_secs(1));
        assert_eq!(b.ceiling(0), Duration::from_millis(20));
    }

    #[test]
    fn full_jitter_spans_zero_to_the_ceiling() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let draws: Vec<_> = (0..500).map(|_| b.delay(2, None)).collect();
        assert!(draws.iter().all(|d| *d <= Duration::from_millis(200)));
        assert!(
            draws.iter().any(|d| *d < Duration::from_millis(100)),
            "reaches the lower half"
        );
    }

    #[test]
    fn equal_jitter_grows_is_spread_and_capped() {
        let b =
            Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).jitter(Jitter::Equal);
        for _ in 0..200 {
            let d1 = b.delay(1, None);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = b.delay(3, None);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            let d50 = b.delay(50, None);
            assert!(d50 >= Duration::from_millis(500) && d50 <= Duration::from_secs(1));
        }
        let distinct: std::collections::BTreeSet<_> = (0..50).map(|_| b.delay(4, None)).collect();
        assert!(distinct.len() > 10, "jitter spreads retries");
    }

    #[test]
    fn server_hints_are_honoured_up_to_max() {
        let b =
            Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).jitter(Jitter::Equal);
        for _ in 0..100 {
            assert_eq!(
                b.delay(1, Some(Duration::from_secs(10))),
                Duration::from_secs(1)
            );
            assert!(b.delay(1, Some(Duration::from_millis(300))) >= Duration::from_millis(300));
        }
    }

    #[test]
    fn the_budget_counts_attempts() {
        let unbounded = Backoff::new(Duration::from_millis(1), Duration::from_millis(2));
        assert!(unbounded.allows(u32::MAX));
        let three = unbounded.max_attempts(3);
        assert!(three.allows(1) && three.allows(3) && !three.allows(4));
        assert!(
            unbounded.max_attempts(0).allows(1),
            "one attempt is always allowed"
        );
    }
}
