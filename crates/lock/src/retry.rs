//! Bounded read-decide-write rounds, retried with [`Backoff`] (exponential, full jitter).

use std::time::Duration;

use backoff::Backoff;

use crate::error::{LockError, is_conflict};

/// How a backend retries a read-decide-write round after a 409 or a transient error: 20 ms
/// doubling up to 1 s, full jitter (contenders that failed together retry apart), 10 rounds
/// before [`crate::LockError::Contention`].
pub const DEFAULT_RETRY: Backoff =
    Backoff::new(Duration::from_millis(20), Duration::from_secs(1)).max_attempts(10);

/// Rounds made in a read-decide-write loop, and what to do after a failed one.
pub(crate) struct Attempts {
    retry: Backoff,
    /// Rounds started so far.
    pub(crate) made: u32,
}

impl Attempts {
    pub(crate) fn new(retry: Backoff) -> Self {
        Self { retry, made: 0 }
    }

    /// Counts a round; false once the budget is spent.
    pub(crate) fn next(&mut self) -> bool {
        self.made += 1;
        self.retry.allows(self.made)
    }

    /// After a failed round: back off and go again if the error is worth it, else return it
    /// (a conflict on the last round becomes [`LockError::Contention`]).
    pub(crate) async fn after_failure(&self, error: LockError) -> Result<(), LockError> {
        if !error.is_retryable() {
            return Err(error);
        }
        if !self.retry.allows(self.made + 1) {
            return Err(match error {
                LockError::Api(e) if is_conflict(&e) => LockError::Contention {
                    attempts: self.made,
                },
                other => other,
            });
        }
        tracing::debug!(attempt = self.made, error = %error, "lock round failed; retrying");
        self.retry.sleep(self.made, None).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_retry_is_the_locks_historic_policy() {
        assert_eq!(DEFAULT_RETRY.ceiling(1), Duration::from_millis(20));
        assert_eq!(DEFAULT_RETRY.ceiling(2), Duration::from_millis(40));
        assert_eq!(DEFAULT_RETRY.ceiling(4), Duration::from_millis(160));
        assert_eq!(DEFAULT_RETRY.ceiling(7), Duration::from_secs(1));
        assert_eq!(DEFAULT_RETRY.ceiling(1000), Duration::from_secs(1));
        assert_eq!(DEFAULT_RETRY.jitter, backoff::Jitter::Full);
        assert_eq!(DEFAULT_RETRY.max_attempts, Some(10));
    }
}
