//! Unit tests of `watch`.

use super::*;

fn p(rv: &str) -> Observed {
    Observed::Present(rv.into())
}

#[test]
fn pacing_window_tracks_the_number_of_waiters() {
    // Losers see the slot taken about window / n + one latency after it freed; the window
    // converges to where that gap is the target, i.e. it grows with n.
    let converge = |n: u32| {
        let mut p = Pacing::default();
        for _ in 0..200 {
            let gap = p.window / (n + 1) + p.effective();
            p.lost(gap);
        }
        p.window
    };
    let w10 = converge(10);
    let w100 = converge(100);
    assert!(w100 > w10 * 5, "{w10:?} vs {w100:?}");
    // At the fixed point the first waiter wakes ~3 latencies after the slot frees.
    let p = Pacing::default();
    let first = w100 / 101;
    assert!(
        first >= p.effective() * 2 && first <= p.effective() * 4,
        "{first:?}"
    );
}

#[test]
fn pacing_collision_doubles_and_jitter_is_monotone_and_bounded() {
    let mut p = Pacing::default();
    let (w, e) = (p.window, p.effective());
    p.collided();
    assert_eq!(p.window, w * 2);
    assert_eq!(p.effective(), e * 2);
    p.window = MAX_WINDOW;
    let draws: Vec<Duration> = (0..=100).map(|i| p.jitter(f64::from(i) / 100.0)).collect();
    assert!(draws.windows(2).all(|w| w[0] <= w[1]), "order kept");
    assert!(draws[100] < Duration::from_secs(1), "{:?}", draws[100]);
    assert_eq!(p.jitter(0.0), Duration::ZERO);
}

#[test]
fn newer_compares_numerically_when_possible() {
    assert!(newer(&p("9"), &p("10")));
    assert!(!newer(&p("10"), &p("9")));
    assert!(!newer(&p("10"), &p("10")));
    assert!(newer(&p("abc"), &p("abd")));
    assert!(!newer(&p("abc"), &p("abc")));
    assert!(newer(&p("1"), &Observed::Absent));
    assert!(newer(&Observed::Absent, &p("1")));
    assert!(!newer(&Observed::Absent, &Observed::Absent));
}

#[tokio::test]
async fn wait_resolves_on_change_after_own_observation_and_not_before() {
    let tracker = Arc::new(ChangeTracker::<()>::new(["ds".to_string()]));
    tracker.observe("ds", p("5"));
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let start = move |state: Arc<watch::Sender<WatchState<()>>>| {
        tokio::spawn(async move {
            // Initial list shows the version we already saw: no change yet.
            state.send_modify(|s| {
                s.objects.insert("ds".into(), p("5"));
                s.ready = true;
            });
            let _ = go_rx.await;
            state.send_modify(|s| {
                s.objects.insert("ds".into(), p("6"));
            });
            std::future::pending::<()>().await;
        })
    };
    let waiter = {
        let tracker = tracker.clone();
        tokio::spawn(async move { tracker.wait(start).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!waiter.is_finished(), "no change yet");
    go_tx.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn change_between_read_and_wait_is_not_lost() {
    let tracker = ChangeTracker::<()>::new(["ds".to_string()]);
    tracker.observe("ds", p("5"));
    let start = |state: Arc<watch::Sender<WatchState<()>>>| {
        tokio::spawn(async move {
            // By the time the watcher lists, the object has moved on.
            state.send_modify(|s| {
                s.objects.insert("ds".into(), p("7"));
                s.ready = true;
            });
            std::future::pending::<()>().await;
        })
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), tracker.wait(start))
        .await
        .unwrap()
        .unwrap();
}

/// A caller bounding each wait with a period shorter than its jitter resumes the same
/// turn on the next call instead of drawing again (fresh draws each period could starve).
#[tokio::test]
async fn a_turn_survives_a_dropped_wait() {
    let tracker = ChangeTracker::<()>::new(["ds".to_string()]);
    {
        // A lock learnt to be busy: draws of up to ~1.4 s.
        let mut pacing = locked(&tracker.pacing);
        pacing.echo = Duration::from_millis(20);
        pacing.window = MAX_WINDOW;
    }
    fastrand::seed(7);
    let start = |state: Arc<watch::Sender<WatchState<()>>>| {
        tokio::spawn(async move {
            state.send_modify(|s| s.ready = true);
            std::future::pending::<()>().await;
        })
    };
    let period = Duration::from_millis(50);
    let free = |_: &Cached<()>, _: Timestamp| SlotView::Free;
    let first = tokio::time::timeout(period, tracker.wait_for_slot("n1", start, free)).await;
    assert!(first.is_err(), "seed 7 draws more than one period");
    let (_, wake) = locked(&tracker.turns)["n1"];
    let mut calls = 1;
    loop {
        let start = |_: Arc<watch::Sender<WatchState<()>>>| unreachable!("already started");
        let waited = tokio::time::timeout(period, tracker.wait_for_slot("n1", start, free));
        calls += 1;
        if waited.await.is_ok() {
            break;
        }
        assert_eq!(locked(&tracker.turns)["n1"].1, wake, "the same turn");
    }
    let now = Instant::now();
    assert!(now >= wake, "not before the turn");
    assert!(now < wake + Duration::from_secs(1), "{calls} calls");
    assert!(calls > 2, "{calls} calls");
    assert!(locked(&tracker.turns).is_empty(), "the turn is over");
}

#[tokio::test]
async fn stale_watcher_state_does_not_wake() {
    let tracker = ChangeTracker::<()>::new(["ds".to_string()]);
    tracker.observe("ds", p("8"));
    let start = |state: Arc<watch::Sender<WatchState<()>>>| {
        tokio::spawn(async move {
            state.send_modify(|s| {
                s.objects.insert("ds".into(), p("7"));
                s.ready = true;
            });
            std::future::pending::<()>().await;
        })
    };
    let r = tokio::time::timeout(std::time::Duration::from_millis(100), tracker.wait(start)).await;
    assert!(r.is_err(), "a watcher behind our own read must not wake us");
}
