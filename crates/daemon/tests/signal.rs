//! `termination_signal` in a whole process: SIGTERM and SIGINT sent to a child stop it cleanly.

mod common;

use std::io::{BufRead as _, BufReader};
use std::pin::pin;
use std::sync::mpsc;
use std::task::Poll;
use std::time::Duration;

use rustix_libc_wrappers::rustix::process::{Pid, Signal, kill_process};

/// What the child prints once its handlers are installed. libtest prints `test child_process
/// ... ` without a line break before a test's own output, so look for it inside a line.
const READY: &str = "daemon-test-child: ready";
/// What the child prints once `termination_signal` has resolved.
const STOPPED: &str = "daemon-test-child: stopped";

/// The child side: watch the signals, say it is ready, wait, say it stopped.
#[test]
fn child_process() {
    if common::role().is_none() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut signal = pin!(daemon::termination_signal());
        // The first poll installs the handlers; only then may the parent send its signal.
        std::future::poll_fn(|cx| {
            assert!(signal.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        println!("{READY}");
        signal.await;
        println!("{STOPPED}");
    });
}

/// Start the child, send it `signal` once it is ready; whether it then printed [`STOPPED`]
/// and exited with success.
fn stop_child_with(signal: Signal) {
    let mut child = common::child("child_process", "signal").spawn().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let ready = std::iter::from_fn(|| received.recv_timeout(Duration::from_secs(30)).ok())
        .any(|line| line.contains(READY));
    if !ready {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the child did not become ready");
    }
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    kill_process(pid, signal).unwrap();
    let status = common::wait_or_kill(&mut child);
    assert!(status.success(), "{status}");
    let after: Vec<String> = received.iter().collect();
    assert!(after.iter().any(|l| l.contains(STOPPED)), "{after:?}");
}

#[test]
fn sigterm_resolves_it() {
    stop_child_with(Signal::TERM);
}

#[test]
fn sigint_resolves_it() {
    stop_child_with(Signal::INT);
}
