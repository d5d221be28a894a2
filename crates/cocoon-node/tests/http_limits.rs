//! Hostile peers against `cocoon_node::http_server` (the server of every HTTP listener of the
//! nodes), on loopback with small limits: headers sent one byte at a time, a silent
//! connection, an idle kept-alive connection, a body shorter than its `Content-Length`, and a
//! burst of connections beyond the cap. Each is cut within its limit (plus slack for a loaded
//! machine), and the server keeps serving.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use cocoon_node::http_server::{is_body_timeout, serve, HttpLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Slack over a limit for a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(2);

async fn echo(body: Body) -> (StatusCode, String) {
    match axum::body::to_bytes(body, 1 << 20).await {
        Ok(bytes) => (StatusCode::OK, format!("{} bytes\n", bytes.len())),
        Err(e) if is_body_timeout(&e) => (StatusCode::REQUEST_TIMEOUT, "too slow\n".into()),
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")),
    }
}

async fn start(limits: HttpLimits) -> SocketAddr {
    let app = Router::new()
        .route("/", get(|| async { "hello\n" }))
        .route("/echo", post(echo));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve(listener, app, limits, "test"));
    addr
}

fn limits(header: u64, body: u64, cap: usize) -> HttpLimits {
    HttpLimits {
        header_timeout: Duration::from_secs(header),
        body_timeout: Duration::from_secs(body),
        max_connections: cap,
    }
}

/// Reads until the peer closes (EOF or reset) or `within` passes; returns what was read
/// and whether it closed.
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

/// A full `GET /` on a fresh connection answers 200: the server still serves.
async fn still_serves(addr: SocketAddr) {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let (answer, closed) = read_until_closed(&mut tcp, Duration::from_secs(5)).await;
    assert!(closed && answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn headers_sent_one_byte_at_a_time_are_cut_at_the_header_timeout() {
    let addr = start(limits(1, 30, 16)).await;
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let started = Instant::now();
    let request =
        b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut cut = false;
    for byte in request {
        if tcp.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        // Poll for a close between bytes (a write to a closed socket may still succeed once).
        let mut probe = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(100), tcp.read(&mut probe)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut = true;
                break;
            }
            Ok(Ok(_)) | Err(_) => {}
        }
        if started.elapsed() > Duration::from_secs(1) + SLACK {
            break;
        }
    }
    assert!(cut, "a 10 byte/s header was not cut");
    assert!(
        started.elapsed() < Duration::from_secs(1) + SLACK,
        "cut after {:?}",
        started.elapsed()
    );
    still_serves(addr).await;
}

#[tokio::test]
async fn a_silent_connection_and_an_idle_kept_alive_one_are_closed() {
    let addr = start(limits(1, 30, 16)).await;
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(1) + SLACK).await;
    assert!(
        closed,
        "a silent connection stayed open {:?}",
        started.elapsed()
    );

    let mut idle = TcpStream::connect(addr).await.expect("connect");
    idle.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut idle, Duration::from_secs(1) + SLACK).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "an idle kept-alive connection stayed open");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "kept alive a while first"
    );
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_cut_at_the_body_timeout() {
    let addr = start(limits(5, 1, 16)).await;
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly ten b")
        .await
        .expect("write");
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut tcp, Duration::from_secs(1) + SLACK).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(closed, "the connection stayed open after the cut body");
    assert!(started.elapsed() >= Duration::from_millis(900));
    // A trickle (one byte every 200 ms) is cut too: the timeout is a total, not a gap.
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let mut answer = String::new();
    for _ in 0..40 {
        if tcp.write_all(b"x").await.is_err() {
            break;
        }
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut buf)).await
        {
            answer.push_str(&String::from_utf8_lossy(&buf[..n]));
            break;
        }
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(1) + SLACK);
    still_serves(addr).await;
}

#[tokio::test]
async fn connections_beyond_the_cap_are_refused_and_the_cap_frees_up() {
    let cap = 4;
    let addr = start(limits(10, 10, cap)).await;
    let mut held = Vec::new();
    for _ in 0..cap {
        held.push(TcpStream::connect(addr).await.expect("connect"));
    }
    // Let the server accept them all before the burst.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..3 {
        let mut extra = TcpStream::connect(addr).await.expect("connect");
        let (answer, closed) = read_until_closed(&mut extra, Duration::from_secs(3)).await;
        assert!(closed, "a connection beyond the cap was kept");
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    }
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let (answer, _) = read_until_closed(&mut tcp, Duration::from_secs(3)).await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "the cap never freed: {answer}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
