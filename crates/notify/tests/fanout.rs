//! Fan-out: one failing backend does not stop the others, and the error names it.

use std::sync::Arc;
use std::time::Duration;

use notify::{Event, FanOut, MessageTemplates, Notifications, Notifier};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn server(status: u16) -> MockServer {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(status))
        .mount(&s)
        .await;
    s
}

async fn bodies(s: &MockServer) -> Vec<String> {
    s.received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| String::from_utf8(r.body.clone()).unwrap())
        .collect()
}

#[tokio::test]
async fn one_failing_backend_others_still_receive() {
    let (a, bad, c) = (server(200).await, server(503).await, server(200).await);
    let urls = format!(
        "generic+http://{}/hook, generic+http://{}/hook?token=BADS3CRET generic+http://{}/hook",
        a.address(),
        bad.address(),
        c.address()
    );
    let fanout = FanOut::from_urls(&urls, Duration::from_secs(5)).unwrap();
    assert_eq!(fanout.backends(), 3);
    let shown = format!("{fanout:?} {}", fanout.target());
    assert!(!shown.contains("BADS3CRET"), "{shown}");
    let notifications = Notifications::new(Arc::new(fanout), MessageTemplates::default());

    let err = notifications
        .try_notify("n1", Event::Drain)
        .await
        .unwrap_err();
    assert_eq!(err.total, 3);
    assert_eq!(err.failures.len(), 1);
    let failed = &err.failures[0];
    assert_eq!((failed.service, failed.status()), ("generic", Some(503)));
    assert_eq!(failed.target, format!("generic://{}/***", bad.address()));
    let text = err.to_string();
    assert!(
        text.starts_with("1 of 3 notifier(s) failed: generic notification to generic://127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("HTTP status 503") && !text.contains("BADS3CRET"),
        "{text}"
    );

    for s in [&a, &bad, &c] {
        assert_eq!(bodies(s).await, ["Draining node n1"]);
    }

    // `notify` logs and swallows the failure.
    notifications.notify("n1", Event::Uncordon).await;
    assert_eq!(
        bodies(&a).await,
        [
            "Draining node n1",
            "Node n1 rebooted & uncordoned successfully!"
        ]
    );
}

#[tokio::test]
async fn a_hanging_backend_is_cut_off_by_the_timeout() {
    let fast = server(200).await;
    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&slow)
        .await;
    let urls = format!(
        "generic+http://{}/hook generic+http://{}/hook",
        fast.address(),
        slow.address()
    );
    let fanout = FanOut::from_urls(&urls, Duration::from_millis(500)).unwrap();
    let notifications = Notifications::new(Arc::new(fanout), MessageTemplates::default())
        .with_timeout(Duration::from_secs(5));
    let start = std::time::Instant::now();
    let err = notifications
        .try_notify("n1", Event::Reboot)
        .await
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(err.failures.len(), 1);
    assert_eq!(
        err.failures[0].failure,
        notify::SendFailure::Timeout(Duration::from_millis(500))
    );
    assert_eq!(bodies(&fast).await, ["Rebooting node n1"]);
}

#[tokio::test]
async fn blocked_message_and_empty_list() {
    let s = server(200).await;
    let fanout = FanOut::from_urls(
        &format!("generic+http://{}/hook", s.address()),
        Duration::from_secs(5),
    )
    .unwrap();
    let templates = MessageTemplates::new(
        "Draining node %s",
        "Rebooting node %s",
        "Node %s rebooted & uncordoned successfully!",
        "[{cluster}] reboot of {node} blocked for longer than {duration}: {reason}",
    )
    .unwrap();
    let n = Notifications::new(Arc::new(fanout), templates).with_cluster("prod");
    n.try_notify(
        "n1",
        Event::Blocked {
            blocked_for: Duration::from_secs(3 * 3600),
            reason: "alerts: HighLoad",
        },
    )
    .await
    .unwrap();
    assert_eq!(
        bodies(&s).await,
        ["[prod] reboot of n1 blocked for longer than 3h: alerts: HighLoad"]
    );

    let empty = FanOut::from_urls("  ", Duration::from_secs(1)).unwrap();
    assert!(empty.is_empty());
    Notifications::new(Arc::new(empty), MessageTemplates::default())
        .try_notify("n1", Event::Drain)
        .await
        .unwrap();
}
