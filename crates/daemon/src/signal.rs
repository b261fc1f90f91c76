//! Waiting for the signals that ask a daemon to stop.

use tokio::signal::unix::{SignalKind, signal};

/// Resolves when the process receives SIGTERM (Kubernetes stopping the pod) or SIGINT (Ctrl-C).
///
/// The handlers are installed when the future is first polled, inside the Tokio runtime; from
/// then on these signals no longer kill the process. A signal that cannot be watched is logged
/// as a warning and the other one is waited for alone (if neither can, this never resolves).
pub async fn termination_signal() {
    tokio::select! {
        () = received(SignalKind::terminate(), "SIGTERM") => {}
        () = received(SignalKind::interrupt(), "SIGINT") => {}
    }
}

/// Resolves when `kind` arrives; never, when it cannot be watched.
async fn received(kind: SignalKind, name: &'static str) {
    match signal(kind) {
        Ok(mut stream) => {
            stream.recv().await;
            tracing::debug!(signal = name, "termination signal received");
        }
        Err(error) => {
            tracing::warn!(
                signal = name,
                %error,
                "cannot watch {name}; waiting for the other termination signal only"
            );
            std::future::pending::<()>().await;
        }
    }
}
