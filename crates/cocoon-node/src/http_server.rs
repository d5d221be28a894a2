//! The one HTTP server every listener of the nodes goes through (the client's OpenAI API, the
//! stats and admin ports of every role, the fake engine): HTTP/1.1 on hyper with limits a slow
//! or hostile peer cannot outlast.
//!
//! * **Header timeout** ([`HttpLimits::header_timeout`], default 15 s): from the moment a
//!   connection waits for a request — just accepted, or kept alive after its last answer —
//!   until that request's head is read. It bounds slow headers (1 byte/s), silent connections
//!   and idle keep-alive connections alike: hyper's `header_read_timeout` starts its timer
//!   when it starts waiting for a head, not at the first byte.
//! * **Body timeout** ([`HttpLimits::body_timeout`], default 30 s): the whole request body
//!   must arrive within it, counted from the end of the head (a total, not an inactivity
//!   timer, so a 1 byte/s trickle is cut too). A body shorter than its `Content-Length`
//!   fails the handler's read with [`BodyTimedOut`] and the connection is closed.
//! * **Connection cap** ([`HttpLimits::max_connections`], default 1024): a connection beyond
//!   it is answered `503` with `Connection: close` at once (never read) and closed; a warning
//!   is logged at most once per [`SHED_LOG_INTERVAL`].
//!
//! Every accepted connection also gets `TCP_NODELAY`: streamed answers are written as many
//! small chunks, and Nagle's algorithm would hold each one until the peer's delayed ACK
//! (~40 ms) on a kept-alive connection (measured by `bench/run`: p50 44 ms instead of 1.6 ms).
//! Streamed *answers* have no deadline here: how long an answer may take is the role's
//! business (the request's `timeout`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

mod deadline_body;

pub use deadline_body::{is_body_timeout, BodyTimedOut, DeadlineBody};

/// At most one "connection cap reached" warning per listener in this interval.
pub const SHED_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What one HTTP listener tolerates. See the module docs for each figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Longest wait for a request head (new, slow or idle kept-alive connections).
    pub header_timeout: Duration,
    /// Longest time for a whole request body after its head.
    pub body_timeout: Duration,
    /// Most connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
}

impl HttpLimits {
    /// Default header timeout.
    pub const HEADER_TIMEOUT: Duration = Duration::from_secs(15);
    /// Default body timeout.
    pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default connection cap.
    pub const MAX_CONNECTIONS: usize = 1024;
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: Self::HEADER_TIMEOUT,
            body_timeout: Self::BODY_TIMEOUT,
            max_connections: Self::MAX_CONNECTIONS,
        }
    }
}

/// The answer to a connection beyond the cap (written without reading the request).
const SHED_ANSWER: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\
retry-after: 1\r\ncontent-type: text/plain\r\ncontent-length: 27\r\n\r\ntoo many connections, wait\n";

/// Serves `app` on `listener` under `limits` until the listener fails for good. `name` says
/// which listener it is in log lines (e.g. "client api", "worker admin").
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    name: &'static str,
) -> std::io::Result<()> {
    let limit = limits.body_timeout;
    let app = app.layer(axum::middleware::map_request(
        move |req: Request| async move {
            req.map(|body| axum::body::Body::new(DeadlineBody::new(body, limit)))
        },
    ));
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let shed_log = ShedLog::default();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(listener = name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            shed(stream, peer, &shed_log, limits.max_connections, name);
            continue;
        };
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY on an accepted connection");
        }
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(listener = name, %peer, error = %e, "HTTP connection ended");
            }
            drop(permit);
        });
    }
}

/// Accept errors that concern one connection only (the listener is fine).
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Answers a connection beyond the cap with [`SHED_ANSWER`] (if the socket takes it at once)
/// and closes it.
fn shed(stream: TcpStream, peer: SocketAddr, log: &ShedLog, cap: usize, name: &'static str) {
    let _ = stream.try_write(SHED_ANSWER);
    drop(stream);
    let shed = log.shed.fetch_add(1, Ordering::Relaxed) + 1;
    if log.due() {
        tracing::warn!(listener = name, cap, %peer, shed_total = shed,
            "connection cap reached: refusing connections");
    }
}

/// Rate limit of the "connection cap reached" warning.
struct ShedLog {
    start: Instant,
    /// Milliseconds after `start` of the last warning, plus one (0: never).
    last_ms: AtomicU64,
    shed: AtomicU64,
}

impl Default for ShedLog {
    fn default() -> Self {
        ShedLog {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            shed: AtomicU64::new(0),
        }
    }
}

impl ShedLog {
    /// Whether a warning may be logged now (and, if so, records it).
    fn due(&self) -> bool {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX) + 1;
        let last = self.last_ms.load(Ordering::Relaxed);
        let interval = SHED_LOG_INTERVAL.as_millis() as u64;
        (last == 0 || now.saturating_sub(last) >= interval)
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_cut_a_slow_or_silent_connection_within_30_seconds() {
        let d = HttpLimits::default();
        assert!(d.header_timeout <= Duration::from_secs(30));
        assert!(d.body_timeout <= Duration::from_secs(30));
        assert!(d.max_connections >= 64);
    }

    #[test]
    fn the_shed_warning_is_rate_limited() {
        let log = ShedLog::default();
        assert!(log.due(), "the first warning is logged");
        assert!(!log.due(), "a second one right after is not");
        // A log whose last warning was a whole interval ago.
        let long_ago = ShedLog {
            start: Instant::now() - SHED_LOG_INTERVAL - Duration::from_secs(1),
            last_ms: AtomicU64::new(1),
            shed: AtomicU64::new(0),
        };
        assert!(
            long_ago.due(),
            "a warning is logged again after the interval"
        );
    }

    #[test]
    fn the_shed_answer_is_a_complete_http_response() {
        let text = std::str::from_utf8(SHED_ANSWER).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .expect("content-length")
            .parse()
            .expect("number");
        assert_eq!(body.len(), length);
        assert!(head.starts_with("HTTP/1.1 503 "));
    }
}
