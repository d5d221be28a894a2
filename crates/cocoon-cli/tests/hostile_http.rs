//! Slow and silent peers against every HTTP listener of a `cocoon up` network started with
//! small limits (`--http-header-timeout 2 --http-body-timeout 2 --http-max-connections 8`):
//! the fake engine, the proxy's stats and admin ports, the worker's, and the client's OpenAI,
//! stats and admin ports. Headers sent a byte at a time, a silent connection and a body
//! shorter than its `Content-Length` are all cut within the limit (plus slack), and a burst
//! of connections beyond the cap is refused.

mod common;

use std::time::{Duration, Instant};

use common::UpNetwork;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMIT: Duration = Duration::from_secs(2);
const CAP: usize = 8;
/// Slack over a limit for a loaded 2-core machine running other tests.
const SLACK: Duration = Duration::from_secs(3);

/// Reads until the peer closes (EOF or reset) or `within` passes: (what was read, closed).
async fn read_until_closed(tcp: &mut TcpStream, within: Duration) -> (String, bool) {
    let deadline = tokio::time::Instant::now() + within;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// A connection that never sends a byte is closed within the header timeout.
async fn silent(name: String, addr: String) {
    let mut tcp = TcpStream::connect(&addr).await.expect("connect");
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut tcp, LIMIT + SLACK).await;
    assert!(
        closed,
        "{name} {addr}: a silent connection stayed open {:?}",
        started.elapsed()
    );
}

/// Headers at 5 bytes a second are cut within the header timeout.
async fn slow_headers(name: String, addr: String) {
    let mut tcp = TcpStream::connect(&addr).await.expect("connect");
    let started = Instant::now();
    let request = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    for byte in request {
        if tcp.write_all(&[*byte]).await.is_err() {
            break;
        }
        let mut probe = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut probe)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) | Err(_) => {}
        }
        assert!(
            started.elapsed() < LIMIT + SLACK,
            "{name} {addr}: slow headers still read after {:?}",
            started.elapsed()
        );
    }
    assert!(
        started.elapsed() < LIMIT + SLACK,
        "{name} {addr}: slow headers ran {:?}",
        started.elapsed()
    );
}

/// A POST whose body stops short of its `Content-Length` is answered or dropped and the
/// connection closed, within the body timeout.
async fn short_body(name: String, addr: String, path: &'static str) -> String {
    let mut tcp = TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"model\":"
    );
    tcp.write_all(head.as_bytes()).await.expect("write");
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut tcp, LIMIT + SLACK).await;
    assert!(
        closed,
        "{name} {addr}: a short body held the connection {:?} ({answer:?})",
        started.elapsed()
    );
    answer
}

/// `CAP` silent connections hold every slot; the next ones are answered 503 and closed.
async fn burst(name: &str, addr: &str) {
    let mut held = Vec::new();
    for _ in 0..CAP {
        held.push(TcpStream::connect(addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut refused = 0;
    for _ in 0..4 {
        let mut extra = TcpStream::connect(addr).await.expect("connect");
        let (answer, closed) = read_until_closed(&mut extra, Duration::from_secs(1)).await;
        if closed && answer.starts_with("HTTP/1.1 503") {
            refused += 1;
        }
    }
    assert!(
        refused >= 3,
        "{name} {addr}: {refused} of 4 connections over the cap refused"
    );
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listener_cuts_slow_and_silent_peers_and_caps_connections() {
    let limit = LIMIT.as_secs().to_string();
    let cap = CAP.to_string();
    let net = UpNetwork::start(&[
        "--workers",
        "1",
        "--fake-chunks",
        "2",
        "--http-header-timeout",
        &limit,
        "--http-body-timeout",
        &limit,
        "--http-max-connections",
        &cap,
    ]);
    let mut listeners: Vec<(String, String)> = Vec::new();
    let engine = net.engine_url.clone().expect("fake engine");
    listeners.push(("engine".into(), engine.trim_start_matches("http://").into()));
    listeners.push((
        "client api".into(),
        net.client_url.trim_start_matches("http://").into(),
    ));
    for node in ["proxy", "worker1", "client"] {
        let info = net.node(node);
        listeners.push((format!("{node} stats"), info.stats.clone().expect("stats")));
        listeners.push((format!("{node} admin"), info.admin.clone().expect("admin")));
    }
    assert_eq!(listeners.len(), 8);

    let started = Instant::now();
    let mut checks = tokio::task::JoinSet::new();
    for (name, addr) in &listeners {
        checks.spawn(silent(name.clone(), addr.clone()));
        checks.spawn(slow_headers(name.clone(), addr.clone()));
        let (n, a) = (name.clone(), addr.clone());
        checks.spawn(async move {
            short_body(n, a, "/v1/chat/completions").await;
        });
    }
    while let Some(done) = checks.join_next().await {
        done.expect("check");
    }
    assert!(
        started.elapsed() < LIMIT + SLACK + SLACK,
        "{:?}",
        started.elapsed()
    );

    // The client's OpenAI port answers a cut body 408 (an OpenAI-shaped error).
    let client_api = net.client_url.trim_start_matches("http://").to_string();
    let answer = short_body(
        "client api".into(),
        client_api.clone(),
        "/v1/chat/completions",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");

    burst("client api", &client_api).await;
    let worker_admin = net.node("worker1").admin.clone().expect("admin");
    burst("worker1 admin", &worker_admin).await;

    // Everything still serves after the abuse.
    let http = reqwest::Client::new();
    let models = http
        .get(format!("{}/v1/models", net.client_url))
        .send()
        .await
        .expect("models");
    assert_eq!(models.status(), 200);
}
