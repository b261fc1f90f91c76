//! The etcd store against Debian's real `etcd` (package `etcd-server`), started on free
//! loopback ports with a temporary data directory and killed when the guard drops.

mod common;

use std::time::Duration;

use common::{Etcd, config, holders, post, start, start_etcd};
use fleetlock::StoreSpec;

fn spec(etcd: &Etcd, prefix: &str) -> StoreSpec {
    format!("{}{prefix}", etcd.client_url.replace("http://", "etcd://"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn etcd_store_protocol_suite_and_two_servers() {
    let etcd = start_etcd().await;
    let mut c = config(&[("one", 1), ("two", 2)]);
    c.store = spec(&etcd, "/suite");
    let server = start(c.clone()).await;
    common::protocol_suite(&server).await;

    // A second replica on the same etcd: the herd split over both never exceeds the slots.
    let other = start(c).await;
    for (group, slots) in [("one", 1), ("two", 2)] {
        let mut tasks = Vec::new();
        for i in 0..20 {
            let s = if i % 2 == 0 { &server } else { &other };
            let client = s.client(&format!("id-{i}"), group);
            tasks.push(tokio::spawn(
                async move { client.pre_reboot().await.is_ok() },
            ));
        }
        let mut granted = 0;
        for t in tasks {
            granted += usize::from(t.await.unwrap());
        }
        assert_eq!(granted, slots, "group {group}");
        assert_eq!(holders(&other, group).await.len(), slots);
    }
    let mut groups = server.app.store().groups().await.unwrap();
    groups.sort();
    assert_eq!(groups, ["one", "two"]);
    server.stop().await;
    other.stop().await;
}

#[tokio::test]
async fn etcd_store_survives_server_restart_and_readyz_tracks_etcd() {
    let etcd = start_etcd().await;
    let mut c = config(&[("default", 1)]);
    c.store = spec(&etcd, "/restart");
    c.request_timeout = Duration::from_secs(3);
    let s = start(c.clone()).await;
    assert_eq!(post(&s, "pre-reboot", "n1", "default").await, (200, None));
    s.stop().await;
    let s = start(c).await;
    assert_eq!(holders(&s, "default").await, ["n1"]);
    assert_eq!(post(&s, "pre-reboot", "n2", "default").await.0, 409);

    let ready = s.base().join("readyz").unwrap();
    let http = common::http();
    assert_eq!(http.get(ready.clone()).send().await.unwrap().status(), 200);
    drop(etcd);
    assert_eq!(http.get(ready).send().await.unwrap().status(), 503);
    assert_eq!(
        post(&s, "pre-reboot", "n2", "default").await,
        (503, Some("failed_store_unavailable".into()))
    );
    s.stop().await;
}
