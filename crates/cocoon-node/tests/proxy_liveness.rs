//! Liveness of workers at the proxy (issue 14, item 6): a worker that stops
//! answering (as under `kill -STOP`) leaves selection within the worker
//! silence limit and its unanswered request fails over; a started stream
//! that stalls ends with an error event. Loopback only, every wait bounded.

mod proxy_common;

use std::time::{Duration, Instant};

use proxy_common::*;
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_worker_leaves_selection_and_its_request_fails_over() {
    let mut settings = settings();
    settings.worker_silence_limit = Duration::from_millis(1500);
    let proxy = start_proxy_with(settings).await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let (relay, freeze) = freezable_relay(proxy.workers_addr.expect("workers port")).await;
    // The frozen worker is the cheapest, so it is chosen first.
    let spec = ("frozen", 100, 4, Behaviour::Answer { parts: 2 });
    let _frozen = spawn_worker_via(&proxy, relay, spec, seen_tx.clone()).await;
    let _live = spawn_worker(
        &proxy,
        "live",
        200,
        4,
        Behaviour::Answer { parts: 2 },
        seen_tx,
    )
    .await;
    assert_eq!(ready_workers(&proxy, MODEL), 2);
    freeze.send(true).expect("freeze");
    let mut client = connect_client(&proxy).await;

    let started = Instant::now();
    let id = client.send_request(MODEL, 4000, 30.0).await;
    let out = client.outcome(id).await;
    let failover = started.elapsed();
    assert_eq!(out.error, None, "served by the live worker");
    assert_eq!(out.parts.len(), 2);
    let served_by = within("seen", seen.recv()).await.expect("seen").worker;
    assert_eq!(served_by, "live", "the frozen worker read nothing");
    // Out of selection after the 1.5 s silence limit (plus at most one ping period).
    assert!(
        failover < Duration::from_secs(4),
        "failover took {failover:?}"
    );
    assert_eq!(ready_workers(&proxy, MODEL), 1, "frozen worker dropped");

    let started = Instant::now();
    let id = client.send_request(MODEL, 4000, 30.0).await;
    let out = client.outcome(id).await;
    assert_eq!(out.error, None);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "next request goes straight to the live worker"
    );
    eprintln!(
        "failover after {failover:?}; next request {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stream_ends_with_an_error_event() {
    let mut settings = settings();
    settings.stream_stall_limit = Duration::from_secs(1);
    let proxy = start_proxy_with(settings).await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let mut worker = spawn_worker(
        &proxy,
        "staller",
        100,
        4,
        Behaviour::StallAfterFirst,
        seen_tx,
    )
    .await;
    let mut client = connect_client(&proxy).await;

    let started = Instant::now();
    let id = client.send_request(MODEL, 4000, 30.0).await;
    let out = client.outcome(id).await;
    let ended = started.elapsed();
    assert!(out.header.is_some(), "the answer had started");
    assert_eq!(out.parts, vec![b"chunk 0\n".to_vec()]);
    let (code, message) = out.error.expect("an error ends the stalled stream");
    assert_eq!(code, 652, "{message}");
    assert!(message.contains("sent nothing"), "{message}");
    assert!(
        (Duration::from_secs(1)..Duration::from_secs(4)).contains(&ended),
        "stream ended after {ended:?}"
    );
    let (cancelled, reason) = within("cancel", worker.cancels.recv())
        .await
        .expect("cancel");
    let sent = within("seen", seen.recv())
        .await
        .expect("seen")
        .request
        .request_id;
    assert_eq!(cancelled, sent, "the worker is told to stop that request");
    assert!(reason.contains("stalled"), "{reason}");
    assert_eq!(running(&proxy), 0, "slot freed");
}
