//! Bounded retries with exponential backoff and full jitter.

use std::time::Duration;

use crate::error::{LockError, is_conflict};

/// How a backend retries a read-decide-write round after a 409 or a transient error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Rounds before giving up with [`crate::LockError::Contention`] (at least 1).
    pub max_attempts: u32,
    /// Backoff ceiling after the first failed round.
    pub initial_backoff: Duration,
    /// Largest backoff ceiling.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// The backoff ceiling after `failed` failed rounds (1-based): doubling, capped.
    pub fn ceiling(&self, failed: u32) -> Duration {
        let factor = 1u32 << failed.saturating_sub(1).min(16);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// Sleeps a uniformly random time in `0..=ceiling(failed)` (full jitter keeps contenders
    /// that failed together from retrying together).
    pub(crate) async fn backoff(&self, failed: u32) {
        let ceiling = u64::try_from(self.ceiling(failed).as_micros()).unwrap_or(u64::MAX);
        let pause = Duration::from_micros(fastrand::u64(0..=ceiling));
        tokio::time::sleep(pause).await;
    }
}

/// Rounds made in a read-decide-write loop, and what to do after a failed one.
pub(crate) struct Attempts {
    retry: RetryPolicy,
    /// Rounds started so far.
    pub(crate) made: u32,
}

impl Attempts {
    pub(crate) fn new(retry: RetryPolicy) -> Self {
        Self { retry, made: 0 }
    }

    /// Counts a round; false once the budget is spent.
    pub(crate) fn next(&mut self) -> bool {
        self.made += 1;
        self.made <= self.retry.max_attempts.max(1)
    }

    /// After a failed round: back off and go again if the error is worth it, else return it
    /// (a conflict on the last round becomes [`LockError::Contention`]).
    pub(crate) async fn after_failure(&self, error: LockError) -> Result<(), LockError> {
        if !error.is_retryable() {
            return Err(error);
        }
        if self.made >= self.retry.max_attempts.max(1) {
            return Err(match error {
                LockError::Api(e) if is_conflict(&e) => LockError::Contention {
                    attempts: self.made,
                },
                other => other,
            });
        }
        tracing::debug!(attempt = self.made, error = %error, "lock round failed; retrying");
        self.retry.backoff(self.made).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.ceiling(1), Duration::from_millis(20));
        assert_eq!(p.ceiling(2), Duration::from_millis(40));
        assert_eq!(p.ceiling(4), Duration::from_millis(160));
        assert_eq!(p.ceiling(7), Duration::from_secs(1));
        assert_eq!(p.ceiling(1000), Duration::from_secs(1));
    }
}
