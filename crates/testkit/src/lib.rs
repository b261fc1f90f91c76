//! Test helpers shared by every crate of the workspace (`publish = false`; a dev-dependency,
//! and a dependency of reboot-sim):
//!
//! - [`eventually`] / [`wait_until`]: poll a condition until it holds or a deadline passes;
//! - [`SimHosts`] (feature `host`, on by default): the host side of simulated nodes — a
//!   [`RebootSentinel`](sentinel::RebootSentinel) per node whose answer the test sets, and a
//!   [`Rebooter`](sentinel::Rebooter) that reboots the node in kubesim and ends its agent, as
//!   the host going down would;
//! - `Prometheus` (feature `prometheus`): a real Prometheus server on a free loopback port.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::time::Duration;
//! let start = std::time::Instant::now();
//! testkit::eventually(Duration::from_secs(5), "100 ms passed", || {
//!     start.elapsed() >= Duration::from_millis(100)
//! })
//! .await;
//! assert!(!testkit::wait_until(Duration::from_millis(50), || false).await);
//! # }
//! ```

#[cfg(feature = "host")]
mod host;
#[cfg(feature = "prometheus")]
mod prometheus;

use std::time::Duration;

#[cfg(feature = "host")]
pub use host::{HostRebooter, HostSentinel, SimHosts};
#[cfg(feature = "prometheus")]
pub use prometheus::Prometheus;

/// A loopback port that was free a moment ago (bound and released): for a server a test
/// starts, or for an address nothing listens on.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("its address").port()
}

/// How often [`eventually`] and [`wait_until`] look again.
const POLL: Duration = Duration::from_millis(20);

/// Waits until `cond` holds, looking every 20 ms; panics naming `what` if it still does not
/// after `within`.
pub async fn eventually(within: Duration, what: &str, cond: impl FnMut() -> bool) {
    assert!(
        wait_until(within, cond).await,
        "timed out after {within:?} waiting for: {what}"
    );
}

/// Whether `cond` holds within `within`, looking every 20 ms (and once more at the end).
pub async fn wait_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(POLL).await;
    }
    cond()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wait_until_sees_a_late_condition_and_gives_up_on_a_false_one() {
        let start = tokio::time::Instant::now();
        assert!(
            wait_until(Duration::from_secs(5), || start.elapsed()
                >= Duration::from_millis(60))
            .await
        );
        let start = tokio::time::Instant::now();
        assert!(!wait_until(Duration::from_millis(100), || false).await);
        assert!(
            start.elapsed() >= Duration::from_millis(100),
            "waited the whole time"
        );
    }

    #[tokio::test]
    #[should_panic(expected = "timed out after 50ms waiting for: the impossible")]
    async fn eventually_names_what_it_waited_for() {
        eventually(Duration::from_millis(50), "the impossible", || false).await;
    }
}
