//! Request cancellation through the proxy (our `cocoonrs.cancelRequest`
//! extension, docs/protocol-extensions.md), over real loopback links: a
//! client's cancel, a closing client connection and the proxy's own timeout
//! each reach the worker as a cancel carrying the PROXY request id, and free
//! the slot; cancels for unknown or finished ids change nothing.

mod proxy_common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use proxy_common::*;
use tokio::sync::mpsc;

fn cancelled(proxy: &cocoon_node::proxy::ProxyHandle) -> (u64, u64) {
    let c = &proxy.shared.counters;
    (
        c.cancelled.load(Ordering::Relaxed),
        c.worker_cancels.load(Ordering::Relaxed),
    )
}

#[tokio::test]
async fn client_cancel_reaches_the_worker_with_the_proxy_request_id() {
    let proxy = start_proxy().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let mut w = spawn_worker(&proxy, "w", 1000, 4, Behaviour::Hang, seen_tx).await;
    let client = connect_client(&proxy).await;
    let client_id = client.send_request(MODEL, 4000, 100.0).await;
    let proxy_id = within("dispatch", seen.recv())
        .await
        .expect("request seen")
        .request
        .request_id;
    assert_ne!(proxy_id, client_id);
    assert_eq!(running(&proxy), 1);

    client.send_cancel(client_id, "caller went away").await;
    let (cancelled_id, reason) = within("worker cancel", w.cancels.recv())
        .await
        .expect("cancel");
    assert_eq!(cancelled_id, proxy_id, "the worker gets the proxy's id");
    assert_eq!(reason, "proxy: cancelled by the client");
    wait_until("slot freed", || running(&proxy) == 0).await;
    wait_until("counted", || cancelled(&proxy) == (1, 1)).await;
    let stats = http_get(proxy.stats_addr.expect("stats port"), "/jsonstats").await;
    let stats: serde_json::Value = serde_json::from_str(&stats).expect("json");
    assert_eq!(stats["stats"]["requests_cancelled"], 1, "{stats}");
    assert_eq!(stats["stats"]["worker_cancels_sent"], 1, "{stats}");
    let metrics = http_get(proxy.stats_addr.expect("stats port"), "/metrics").await;
    assert!(
        metrics.contains("cocoon_proxy_requests_cancelled_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn closing_client_connection_cancels_its_running_requests_at_the_worker() {
    let proxy = start_proxy().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let mut w = spawn_worker(&proxy, "w", 1000, 4, Behaviour::Hang, seen_tx).await;
    let client = connect_client(&proxy).await;
    let mut proxy_ids = BTreeSet::new();
    for _ in 0..2 {
        client.send_request(MODEL, 4000, 100.0).await;
        let seen = within("dispatch", seen.recv()).await.expect("request seen");
        proxy_ids.insert(seen.request.request_id);
    }
    assert_eq!(running(&proxy), 2);

    client.session.close();
    let mut cancelled_ids = BTreeSet::new();
    for _ in 0..2 {
        let (id, reason) = within("worker cancel", w.cancels.recv())
            .await
            .expect("cancel");
        assert_eq!(reason, "proxy: client connection closed");
        cancelled_ids.insert(id);
    }
    assert_eq!(cancelled_ids, proxy_ids);
    wait_until("slots freed", || running(&proxy) == 0).await;
    wait_until("counted", || cancelled(&proxy) == (2, 2)).await;
}

#[tokio::test]
async fn proxy_timeout_cancels_the_request_at_the_worker() {
    let proxy = start_proxy().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let mut w = spawn_worker(&proxy, "w", 1000, 4, Behaviour::Hang, seen_tx).await;
    let mut client = connect_client(&proxy).await;
    let id = client.send_request(MODEL, 4000, 0.3).await;
    let proxy_id = within("dispatch", seen.recv())
        .await
        .expect("request seen")
        .request
        .request_id;
    let out = client.outcome(id).await;
    assert_eq!(out.error.map(|(code, _)| code), Some(652));
    let (cancelled_id, reason) = within("worker cancel", w.cancels.recv())
        .await
        .expect("cancel");
    assert_eq!(
        (cancelled_id, reason.as_str()),
        (proxy_id, "proxy: timeout")
    );
    wait_until("slot freed", || running(&proxy) == 0).await;
    // A timeout is a failure, not a client cancel; the worker still got one.
    assert_eq!(cancelled(&proxy), (0, 1));
}

#[tokio::test]
async fn unknown_finished_and_malformed_cancels_change_nothing() {
    let proxy = start_proxy().await;
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let mut w = spawn_worker(
        &proxy,
        "w",
        1000,
        4,
        Behaviour::Answer { parts: 2 },
        seen_tx,
    )
    .await;
    let mut client = connect_client(&proxy).await;
    // Unknown id, before any request.
    client.send_cancel(rand::random(), "no such request").await;
    // A finished request.
    let id = client.send_request(MODEL, 4000, 100.0).await;
    assert_eq!(client.outcome(id).await.error, None);
    wait_until("slot freed", || running(&proxy) == 0).await;
    client.send_cancel(id, "too late").await;
    // Malformed: the cancel id followed by a truncated body.
    let truncated =
        cocoon_wire::tl::to_bytes(&cocoon_wire::schema::types::cocoonrs::CancelRequest {
            request_id: id,
            reason: "cut".into(),
        });
    let truncated = truncated.get(..10).unwrap_or_default().to_vec();
    client.session.send(truncated).await.expect("send");

    // The connection still works, and no cancel reached the worker.
    let id = client.send_request(MODEL, 4000, 100.0).await;
    assert_eq!(client.outcome(id).await.error, None);
    assert_eq!(seen.len(), 2, "both requests reached the worker");
    assert!(w.cancels.try_recv().is_err(), "no cancel for the worker");
    assert_eq!(cancelled(&proxy), (0, 0));
    assert!(!client.session.is_closed());
}
