//! Time as the agent sees it: "now" (for the maintenance window and annotations) and sleeping.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;

/// The agent's source of time. Tests replace it to move "now" into or out of the window.
#[async_trait]
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Timestamp;
    /// Sleeps for `d` (the agent makes every sleep cancellable itself).
    async fn sleep(&self, d: Duration);
}

/// The real clock: the system time and `tokio::time::sleep`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// A clock whose "now" is set by hand (sleeping still takes real time, so loops keep
/// moving). Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Timestamp>>,
}

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: Timestamp) -> Self {
        Self {
            now: Arc::new(Mutex::new(now)),
        }
    }

    /// Sets the time every clone shows.
    pub fn set(&self, now: Timestamp) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = now;
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// kured's jitter (`delaytick`): the first check happens after a uniformly random delay in
/// `[period/2, 3·period/2)`; `unit` is a sample of `[0, 1)`.
pub fn first_tick_delay(period: Duration, unit: f64) -> Duration {
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.0
    };
    period / 2 + period.mul_f64(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_spans_half_to_three_halves_of_the_period() {
        let p = Duration::from_secs(60);
        assert_eq!(first_tick_delay(p, 0.0), Duration::from_secs(30));
        assert_eq!(first_tick_delay(p, 0.5), Duration::from_secs(60));
        assert!(first_tick_delay(p, 0.999_999) < Duration::from_secs(90));
        assert_eq!(first_tick_delay(p, f64::NAN), Duration::from_secs(30));
    }

    #[test]
    fn manual_clock_clones_share_time() {
        let a = ManualClock::new(Timestamp::UNIX_EPOCH);
        let b = a.clone();
        let t: Timestamp = "2026-11-20T12:00:00Z".parse().unwrap();
        b.set(t);
        assert_eq!(a.now(), t);
    }
}
