//! Child processes: a test re-runs its own test binary to check what only a whole process
//! shows (the global subscriber on a real stderr, signals).

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Names what a re-run test binary does (unset in an ordinary test run).
const ROLE: &str = "DAEMON_TEST_CHILD_ROLE";

/// The role this process was started with, if it is a child.
pub fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// This test binary, running only `test` in role `role`, with `RUST_LOG` unset and stdout and
/// stderr piped.
pub fn child(test: &str, role: &str) -> Command {
    let exe = std::env::current_exe().expect("the test binary's own path");
    let mut command = Command::new(exe);
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Wait for `child` for up to 30 s; kill it and panic if it is still running then.
pub fn wait_or_kill(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child process did not stop within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
