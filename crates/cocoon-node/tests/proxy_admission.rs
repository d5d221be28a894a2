//! Floods of the proxy's RPC ports before the handshake (issue 14): connections beyond the
//! pending caps are closed at once without a PoW challenge, a silent connection is closed
//! at the handshake deadline, one flooding address does not keep another one out, sessions
//! once established are not counted, and a flood is logged once, not per connection.
//!
//! A pending connection is recognisable from outside: the proxy writes it the 24-byte PoW
//! challenge at once. A shed one reads end-of-file (or a reset) instead. Loopback only:
//! Linux accepts any 127.0.0.0/8 source, so the flood comes from 127.0.0.2 and the
//! legitimate peers from 127.0.0.1.

mod proxy_common;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cocoon_node::common::dial::{dial_proxy, DialConfig, TeeMode};
use cocoon_node::proxy::{AdmissionLimits, ProxySettings};
use proxy_common::*;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

/// Source address of the floods.
const FLOOD_SOURCE: &str = "127.0.0.2";

fn settings_with(limits: AdmissionLimits) -> ProxySettings {
    ProxySettings {
        admission: limits,
        ..settings()
    }
}

/// A TCP connection to `to` from `source`.
async fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    let from: SocketAddr = format!("{source}:0").parse().expect("source address");
    socket.bind(from).expect("bind the source address");
    within("flood connect", socket.connect(to))
        .await
        .expect("connect")
}

/// Whether the proxy challenged the connection (it is pending) or closed it unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Challenged,
    Closed,
}

/// What happened to `conn`: its first bytes (the PoW challenge) or its end, within [`WAIT`].
async fn fate(conn: &mut TcpStream) -> Fate {
    let mut first = [0u8; 24];
    match within("challenge or close", conn.read(&mut first)).await {
        Ok(0) | Err(_) => Fate::Closed,
        Ok(_) => Fate::Challenged,
    }
}

/// Opens `n` silent connections from [`FLOOD_SOURCE`] to `to` and sorts them by fate;
/// the challenged ones are kept open (pending at the proxy).
async fn flood(n: usize, to: SocketAddr) -> (Vec<TcpStream>, usize) {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(connect_from(FLOOD_SOURCE, to).await);
    }
    let mut pending = Vec::new();
    let mut closed = 0;
    for mut conn in conns {
        match fate(&mut conn).await {
            Fate::Challenged => pending.push(conn),
            Fate::Closed => closed += 1,
        }
    }
    (pending, closed)
}

fn limits(max_pending: usize, per_address: usize, deadline: Duration) -> AdmissionLimits {
    AdmissionLimits {
        max_pending,
        max_pending_per_address: per_address,
        deadline,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_beyond_the_cap_is_closed_unread_and_sessions_do_not_count() {
    let proxy = start_proxy_with(settings_with(limits(4, 1000, Duration::from_secs(30)))).await;
    let workers = proxy.workers_addr.expect("workers port");
    // Six established worker sessions: more than the cap, none of them pending.
    let (seen, _seen_rx) = mpsc::unbounded_channel();
    let mut established = Vec::new();
    for _ in 0..6 {
        let w = spawn_worker(
            &proxy,
            "w",
            1000,
            10,
            Behaviour::Answer { parts: 1 },
            seen.clone(),
        );
        established.push(w.await);
    }
    assert_eq!(ready_workers(&proxy, MODEL), 6);

    let started = Instant::now();
    let (pending, closed) = flood(24, workers).await;
    assert_eq!(pending.len(), 4, "exactly the cap is pending");
    assert_eq!(closed, 20, "the rest is closed without a challenge");
    assert!(
        started.elapsed() < WAIT,
        "the flood is answered promptly, not at a timeout"
    );
    assert_eq!(ready_workers(&proxy, MODEL), 6, "established sessions stay");

    // The flood goes away: its places are free again for a real peer.
    drop(pending);
    let cfg = DialConfig::new(TeeMode::Fake, "fake", None).expect("dial config");
    within("a worker gets in after the flood", async {
        loop {
            if dial_proxy(&workers.to_string(), &cfg).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_flooding_address_does_not_keep_another_out() {
    let proxy = start_proxy_with(settings_with(limits(1000, 4, Duration::from_secs(30)))).await;
    let clients = proxy.clients_addr.expect("clients port");
    let workers = proxy.workers_addr.expect("workers port");

    let (held_clients, closed) = flood(20, clients).await;
    assert_eq!(
        held_clients.len(),
        4,
        "the address cap holds on the clients port"
    );
    assert_eq!(closed, 16);
    let (held_workers, closed) = flood(20, workers).await;
    assert_eq!(
        held_workers.len(),
        4,
        "and on the workers port, counted apart"
    );
    assert_eq!(closed, 16);

    // While 127.0.0.2 holds its share of both ports, peers from 127.0.0.1 get through.
    let client = within("a client from another address", connect_client(&proxy)).await;
    assert!(client.version >= 1);
    let (seen, _seen_rx) = mpsc::unbounded_channel();
    let _worker = within(
        "a worker from another address",
        spawn_worker(&proxy, "w", 1000, 10, Behaviour::Answer { parts: 1 }, seen),
    )
    .await;
    assert_eq!(ready_workers(&proxy, MODEL), 1);
    drop((held_clients, held_workers));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_at_the_deadline_and_a_session_is_not() {
    let deadline = Duration::from_millis(800);
    let proxy = start_proxy_with(settings_with(limits(1000, 1000, deadline))).await;
    let workers = proxy.workers_addr.expect("workers port");
    let (seen, _seen_rx) = mpsc::unbounded_channel();
    let _worker = spawn_worker(&proxy, "w", 1000, 10, Behaviour::Answer { parts: 1 }, seen).await;

    let started = Instant::now();
    let mut silent = connect_from(FLOOD_SOURCE, workers).await;
    assert_eq!(fate(&mut silent).await, Fate::Challenged);
    let mut rest = Vec::new();
    let end = within(
        "the silent connection is closed",
        silent.read_to_end(&mut rest),
    )
    .await;
    let waited = started.elapsed();
    assert!(
        matches!(end, Ok(0) | Err(_)),
        "nothing more was sent: {end:?}"
    );
    assert!(
        waited + Duration::from_millis(50) >= deadline,
        "not before the deadline: {waited:?}"
    );
    // Generous slack for a loaded CI machine; the PoW phase's own timeout is 30 s.
    assert!(
        waited < deadline + Duration::from_secs(5),
        "at the deadline: {waited:?}"
    );

    // The worker's session was established before the deadline: it is not cut at it.
    tokio::time::sleep(deadline * 2).await;
    assert_eq!(
        ready_workers(&proxy, MODEL),
        1,
        "an established session stays"
    );
}

/// A log sink for one test (the proxy runs on the test's single thread, so a thread-local
/// subscriber sees its lines).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log sink").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines_with(&self, needle: &str) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.0.lock().expect("log sink")).into_owned();
        text.lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_flood_is_logged_once_not_per_connection() {
    let sink = Captured::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let proxy = start_proxy_with(settings_with(limits(2, 1000, Duration::from_secs(30)))).await;
    let (pending, closed) = flood(60, proxy.clients_addr.expect("clients port")).await;
    assert_eq!((pending.len(), closed), (2, 58));

    let lines = sink.lines_with("shedding connections before the handshake");
    assert_eq!(lines.len(), 1, "one line for the flood: {lines:#?}");
    assert!(
        lines[0].contains("clients") && lines[0].contains("shed_global_cap="),
        "the line names the port and the reason: {}",
        lines[0]
    );
}
