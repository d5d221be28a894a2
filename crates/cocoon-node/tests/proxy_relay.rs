//! Proxy request relay over real loopback links (fake TEE): answers, worker
//! selection, `*Ex` errors, failover before the first byte, prompt errors
//! after it, and slots freed when the client goes away.

mod proxy_common;

use proxy_common::*;
use tokio::sync::mpsc;

#[tokio::test]
async fn answer_and_parts_are_relayed_with_proxy_headers() {
    let proxy = start_proxy().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let _w = spawn_worker(
        &proxy,
        "w",
        1000,
        4,
        Behaviour::Answer { parts: 3 },
        seen_tx,
    )
    .await;
    let mut client = connect_client(&proxy).await;
    let id = client.send_request(MODEL, 4000, 100.0).await;
    let out = client.outcome(id).await;
    assert_eq!(out.error, None);
    let header = out.header.expect("header answer");
    assert_eq!(header.status_code, 200);
    let names: Vec<&str> = header.headers.iter().map(|h| h.name.as_str()).collect();
    assert!(
        names.contains(&"X-Cocoon-Proxy-Start") && names.contains(&"X-Cocoon-Proxy-End"),
        "{names:?}"
    );
    assert_eq!(
        out.parts,
        vec![
            b"chunk 0\n".to_vec(),
            b"chunk 1\n".to_vec(),
            b"chunk 2\n".to_vec()
        ]
    );
    let info = out.final_info.expect("final info");
    assert_eq!(info.tokens_used.total_tokens_used, 10);
    assert_eq!(info.flags & 2, 2, "v4 client gets timestamps");
    assert_eq!(info.worker_start_time, Some(1.0));
    // What the worker got: the client's query verbatim, our coefficient, timeout ×0.95, v≥3 key flag.
    let got = seen.recv().await.unwrap().request;
    assert_eq!(got.query, http_request());
    assert_eq!(got.coefficient, 1000);
    assert!(
        got.timeout > 90.0 && got.timeout <= 95.0,
        "timeout {}",
        got.timeout
    );
    assert_eq!(got.flags & 3, 3);
    assert_eq!(got.private_key, Some([0; 32]));
    assert_ne!(got.request_id, id, "the proxy uses its own request id");
    wait_until("slot freed", || running(&proxy) == 0).await;
    let acc = proxy.shared.accounts.lock().unwrap();
    assert_eq!(acc.all.total, 10);
    assert_eq!(acc.clients.get(OWNER).map(|c| c.tokens.total), Some(10));
}

#[tokio::test]
async fn selection_prefers_the_cheapest_then_the_least_loaded() {
    let proxy = start_proxy().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let _a = spawn_worker(
        &proxy,
        "expensive",
        2000,
        4,
        Behaviour::Hang,
        seen_tx.clone(),
    )
    .await;
    let _b = spawn_worker(&proxy, "cheap-1", 1000, 4, Behaviour::Hang, seen_tx.clone()).await;
    let _c = spawn_worker(&proxy, "cheap-2", 1000, 4, Behaviour::Hang, seen_tx).await;
    let client = connect_client(&proxy).await;
    let mut got = Vec::new();
    for _ in 0..4 {
        client.send_request(MODEL, 4000, 100.0).await;
        got.push(within("dispatch", seen.recv()).await.unwrap().worker);
    }
    // Cheapest first; between equals the least loaded (then the lower connection id).
    assert_eq!(got, vec!["cheap-1", "cheap-2", "cheap-1", "cheap-2"]);
    assert_eq!(running(&proxy), 4);
}

#[tokio::test]
async fn selection_errors_reach_the_client_as_ex_errors() {
    let proxy = start_proxy().await;
    let mut client = connect_client(&proxy).await;
    // Unknown model.
    let id = client.send_request("nobody/serves-this", 4000, 10.0).await;
    let out = client.outcome(id).await;
    assert_eq!(
        out.error,
        Some((621, "unknown model nobody/serves-this".into()))
    );
    assert!(out.final_info.is_some());
    // Too expensive.
    let (seen_tx, _seen) = mpsc::unbounded_channel();
    let w = spawn_worker(&proxy, "w", 5000, 4, Behaviour::Hang, seen_tx).await;
    let id = client.send_request(MODEL, 4000, 10.0).await;
    assert_eq!(
        client.outcome(id).await.error,
        Some((651, "can run this query with coefficient=5000".into()))
    );
    // Known model, no workers left.
    w.session.close();
    wait_until("worker gone", || ready_workers(&proxy, MODEL) == 0).await;
    let id = client.send_request(MODEL, 4000, 10.0).await;
    assert_eq!(
        client.outcome(id).await.error,
        Some((651, format!("no workers for model {MODEL}")))
    );
    let rejected = proxy
        .shared
        .counters
        .rejected
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(rejected, 3);
}

#[tokio::test]
async fn full_workers_give_no_ready_workers() {
    let proxy = start_proxy().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let _w = spawn_worker(&proxy, "w", 1000, 1, Behaviour::Hang, seen_tx).await;
    let mut client = connect_client(&proxy).await;
    client.send_request(MODEL, 4000, 100.0).await;
    within("first dispatched", seen.recv()).await.unwrap();
    let id = client.send_request(MODEL, 4000, 100.0).await;
    assert_eq!(
        client.outcome(id).await.error,
        Some((651, format!("no ready workers for model {MODEL}")))
    );
}

#[tokio::test]
async fn worker_dropping_before_its_first_byte_fails_over() {
    let proxy = start_proxy().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let _bad = spawn_worker(
        &proxy,
        "drops",
        1000,
        4,
        Behaviour::DropFirst,
        seen_tx.clone(),
    )
    .await;
    let _good = spawn_worker(
        &proxy,
        "good",
        1000,
        4,
        Behaviour::Answer { parts: 1 },
        seen_tx,
    )
    .await;
    let mut client = connect_client(&proxy).await;
    let id = client.send_request(MODEL, 4000, 100.0).await;
    let out = client.outcome(id).await;
    assert_eq!(out.error, None, "retried on the other worker");
    assert_eq!(out.parts.len(), 1);
    let first = seen.recv().await.unwrap();
    let second = seen.recv().await.unwrap();
    assert_eq!((first.worker, second.worker), ("drops", "good"));
    assert_ne!(
        first.request.request_id, second.request.request_id,
        "fresh proxy id per attempt"
    );
    assert_eq!(
        proxy
            .shared
            .counters
            .retried
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn worker_error_before_its_first_byte_fails_over_once() {
    let proxy = start_proxy().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let _a = spawn_worker(
        &proxy,
        "busy-1",
        1000,
        4,
        Behaviour::ErrorFirst { code: 602 },
        seen_tx.clone(),
    )
    .await;
    let _b = spawn_worker(
        &proxy,
        "busy-2",
        1000,
        4,
        Behaviour::ErrorFirst { code: 602 },
        seen_tx.clone(),
    )
    .await;
    let _c = spawn_worker(
        &proxy,
        "good",
        1000,
        4,
        Behaviour::Answer { parts: 1 },
        seen_tx,
    )
    .await;
    let mut client = connect_client(&proxy).await;
    let id = client.send_request(MODEL, 4000, 100.0).await;
    // Two attempts at most: both busy workers fail, the client gets the last error.
    assert_eq!(
        client.outcome(id).await.error,
        Some((602, "worker: busy".into()))
    );
    let tried: Vec<_> = [
        seen.recv().await.unwrap().worker,
        seen.recv().await.unwrap().worker,
    ]
    .into();
    assert_eq!(tried, vec!["busy-1", "busy-2"]);
    // An invalid-request error (621) is not retried.
    let proxy2 = start_proxy().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let _d = spawn_worker(
        &proxy2,
        "invalid",
        1000,
        4,
        Behaviour::ErrorFirst { code: 621 },
        seen_tx.clone(),
    )
    .await;
    let _e = spawn_worker(
        &proxy2,
        "good",
        1000,
        4,
        Behaviour::Answer { parts: 1 },
        seen_tx,
    )
    .await;
    let mut client = connect_client(&proxy2).await;
    let id = client.send_request(MODEL, 4000, 100.0).await;
    assert_eq!(
        client.outcome(id).await.error,
        Some((621, "worker: busy".into()))
    );
    assert_eq!(seen.recv().await.unwrap().worker, "invalid");
    assert!(seen.try_recv().is_err(), "no second attempt");
}

#[tokio::test]
async fn worker_dropping_mid_stream_fails_the_request_at_once() {
    let proxy = start_proxy().await;
    let (seen_tx, _seen) = mpsc::unbounded_channel();
    let _w = spawn_worker(&proxy, "w", 1000, 4, Behaviour::DropAfterFirst, seen_tx).await;
    let mut client = connect_client(&proxy).await;
    let started = std::time::Instant::now();
    let id = client.send_request(MODEL, 4000, 600.0).await;
    let out = client.outcome(id).await;
    assert!(out.header.is_some(), "the header answer arrived first");
    assert_eq!(
        out.error,
        Some((651, "proxy: worker connection lost".into()))
    );
    // Long before the 600 s request timeout (outcome() itself gives up after 10 s).
    assert!(started.elapsed() < WAIT);
}

#[tokio::test]
async fn client_going_away_frees_the_worker_slot() {
    let proxy = start_proxy().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let _w = spawn_worker(&proxy, "w", 1000, 1, Behaviour::Hang, seen_tx).await;
    let client = connect_client(&proxy).await;
    client.send_request(MODEL, 4000, 100.0).await;
    within("dispatched", seen.recv()).await.unwrap();
    assert_eq!(running(&proxy), 1);
    client.session.close();
    drop(client);
    wait_until("slot freed after the client left", || running(&proxy) == 0).await;
    // The freed slot serves the next client.
    let client2 = connect_client(&proxy).await;
    client2.send_request(MODEL, 4000, 100.0).await;
    within("dispatched again", seen.recv()).await.unwrap();
}

#[tokio::test]
async fn proxy_timeout_reaches_the_client() {
    let proxy = start_proxy().await;
    let (seen_tx, _seen) = mpsc::unbounded_channel();
    let _w = spawn_worker(&proxy, "w", 1000, 4, Behaviour::Hang, seen_tx).await;
    let mut client = connect_client(&proxy).await;
    let id = client.send_request(MODEL, 4000, 0.3).await;
    assert_eq!(
        client.outcome(id).await.error,
        Some((652, "timeout in proxy".into()))
    );
    wait_until("slot freed", || running(&proxy) == 0).await;
}

#[tokio::test]
async fn stats_endpoints_serve_reference_keys() {
    let proxy = start_proxy().await;
    let (seen_tx, _seen) = mpsc::unbounded_channel();
    let _w = spawn_worker(
        &proxy,
        "w",
        1000,
        4,
        Behaviour::Answer { parts: 1 },
        seen_tx,
    )
    .await;
    let mut client = connect_client(&proxy).await;
    let id = client.send_request(MODEL, 4000, 100.0).await;
    client.outcome(id).await;
    let addr = proxy.stats_addr.unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&http_get(addr, "/jsonstats").await).unwrap();
    assert_eq!(json["stats"]["success"], 1);
    assert_eq!(json["stats"]["total_adjusted_tokens_used"], 10);
    assert_eq!(json["worker_connections"][0]["model"], MODEL);
    let metrics = http_get(addr, "/metrics").await;
    assert!(
        metrics.contains("cocoon_proxy_requests_success_total 1"),
        "{metrics}"
    );
    let html = http_get(addr, "/stats").await;
    assert!(html.contains("worker_connections"));
}
