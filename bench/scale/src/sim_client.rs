//! SIMULATED clients: each is one real client connection to the proxy (TCP →
//! PoW + TLS → cocoon-net session → `client.connectToProxy` and the short
//! authorization of runners.md §3.2) that keeps `streams` requests in flight
//! until the load window closes: every finished stream is replaced at once by
//! a new `client.runQueryEx`. Answers are routed by request id on the one
//! connection, as the real client does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cocoon_net::{Inbound, InboundMessage, Session};
use cocoon_node::common::dial::{dial_proxy, DialConfig};
use cocoon_wire::schema::{enums, functions, types};
use cocoon_wire::tl::{from_bytes, to_bytes};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// What one client connection measured.
#[derive(Debug, Default)]
pub struct ClientResult {
    /// Streams that ended with their final part.
    pub completed: u64,
    /// Streams completed inside the load window (for the rate).
    pub completed_in_window: u64,
    /// Streams that ended with `client.queryAnswerErrorEx`, by error code.
    pub errors_by_code: HashMap<i32, u64>,
    /// The same errors by message (first 100 characters).
    pub errors_by_message: HashMap<String, u64>,
    /// Streams lost with the connection or never answered before the drain deadline.
    pub lost: u64,
    /// Whole-stream latencies (ms) of completed streams.
    pub latencies_ms: Vec<f64>,
    /// Time to the answer head (ms) of streams that got one.
    pub first_answer_ms: Vec<f64>,
    /// Payload bytes received in answer parts.
    pub bytes: u64,
    /// Why the connection failed, if it did.
    pub failure: Option<String>,
}

/// Connects and authorizes; returns the session, its inbound half and the protocol version.
pub async fn connect(
    addr: SocketAddr,
    dial: &DialConfig,
    owner: &str,
    config_version: i32,
) -> anyhow::Result<(Session, Inbound)> {
    let (session, inbound, _peer) = dial_proxy(&addr.to_string(), dial).await?;
    let connect = functions::client::ConnectToProxy {
        params: types::client::Params {
            flags: 3,
            client_owner_address: owner.to_string(),
            is_test: Some(true),
            min_proto_version: Some(cocoon_node::client::CLIENT_MIN_PROTO),
            max_proto_version: Some(cocoon_node::client::CLIENT_MAX_PROTO),
        },
        min_config_version: config_version,
    };
    let enums::client::ConnectedToProxy::ConnectedToProxy(connected) = session
        .call(&connect, HANDSHAKE_TIMEOUT)
        .await
        .map_err(|e| anyhow::anyhow!("client.connectToProxy: {e}"))?;
    let auth = match connected.auth {
        enums::client::ProxyConnectionAuth::ProxyConnectionAuthShort(_) => {
            session
                .call(
                    &functions::client::AuthorizeWithProxyShort { data: Vec::new() },
                    HANDSHAKE_TIMEOUT,
                )
                .await
        }
        _ => {
            session
                .call(
                    &functions::client::AuthorizeWithProxyLong {},
                    HANDSHAKE_TIMEOUT,
                )
                .await
        }
    }
    .map_err(|e| anyhow::anyhow!("client authorization: {e}"))?;
    if let enums::client::AuthorizationWithProxy::AuthorizationWithProxyFailed(f) = auth {
        anyhow::bail!("proxy refused authorization: {} {}", f.error_code, f.error);
    }
    Ok((session, inbound))
}

/// The load one connection generates.
#[derive(Debug, Clone)]
pub struct Load {
    pub model: String,
    pub streams: usize,
    pub config_version: i32,
    /// New streams start until this instant.
    pub window_end: Instant,
    /// Streams still open this long after the window are counted as lost.
    pub drain: Duration,
}

/// Runs the load on one authorized connection.
pub async fn run(session: Session, mut inbound: Inbound, load: Load) -> ClientResult {
    let mut out = ClientResult::default();
    let query = to_bytes(&functions::http::Request {
        method: "POST".into(),
        url: "/v1/chat/completions".into(),
        http_version: "HTTP/1.1".into(),
        headers: vec![types::http::Header {
            name: "Content-Type".into(),
            value: "application/json".into(),
        }],
        payload: format!(
            "{{\"model\":\"{}\",\"stream\":true,\"messages\":[{{\"role\":\"user\",\"content\":\"Hello!\"}}]}}",
            load.model
        )
        .into_bytes(),
    });
    // request id → (start, head seen)
    let mut open: HashMap<[u8; 32], (Instant, bool)> = HashMap::new();
    let send_new = |session: &Session, open: &mut HashMap<[u8; 32], (Instant, bool)>| {
        let request_id: [u8; 32] = rand::random();
        let run = functions::client::RunQueryEx {
            model_name: load.model.clone(),
            query: query.clone(),
            max_coefficient: 1_000_000,
            max_tokens: 100_000,
            timeout: 120.0,
            request_id,
            min_config_version: load.config_version,
            flags: 1,
            enable_debug: Some(false),
            public_key: Some([0u8; 32]),
        };
        open.insert(request_id, (Instant::now(), false));
        let bytes = to_bytes(&run);
        let s = session.clone();
        async move { s.send(bytes).await }
    };
    for _ in 0..load.streams {
        if let Err(e) = send_new(&session, &mut open).await {
            out.failure = Some(format!("send: {e}"));
            out.lost += open.len() as u64;
            return out;
        }
    }
    let drain_deadline = load.window_end + load.drain;
    while !open.is_empty() {
        let wait = drain_deadline.saturating_duration_since(Instant::now());
        let msg = match tokio::time::timeout(wait, inbound.next()).await {
            Err(_) => break,
            Ok(None) => {
                out.failure = Some("the proxy closed the connection".into());
                break;
            }
            Ok(Some(InboundMessage::Query(q))) => {
                let _ = q.error(0, cocoon_net::LOST_PROMISE_MESSAGE).await;
                continue;
            }
            Ok(Some(InboundMessage::Packet(data))) => data,
        };
        let Ok(answer) = from_bytes::<enums::client::QueryAnswerEx>(&msg) else {
            continue; // payment notices
        };
        let (id, ended, error) = match &answer {
            enums::client::QueryAnswerEx::QueryAnswerEx(a) => {
                (a.request_id, a.flags & 1 != 0, None)
            }
            enums::client::QueryAnswerEx::QueryAnswerPartEx(p) => {
                out.bytes += p.answer.len() as u64;
                (p.request_id, p.flags & 1 != 0, None)
            }
            enums::client::QueryAnswerEx::QueryAnswerErrorEx(e) => {
                let message: String = e.error.chars().take(100).collect();
                (e.request_id, true, Some((e.error_code, message)))
            }
        };
        let Some(entry) = open.get_mut(&id) else {
            continue;
        };
        if !entry.1 {
            entry.1 = true;
            out.first_answer_ms
                .push(entry.0.elapsed().as_secs_f64() * 1000.0);
        }
        if !ended {
            continue;
        }
        let (start, _) = open.remove(&id).unwrap_or((Instant::now(), true));
        match error {
            Some((code, message)) => {
                *out.errors_by_code.entry(code).or_default() += 1;
                *out.errors_by_message.entry(message).or_default() += 1;
            }
            None => {
                out.completed += 1;
                if Instant::now() <= load.window_end {
                    out.completed_in_window += 1;
                }
                out.latencies_ms
                    .push(start.elapsed().as_secs_f64() * 1000.0);
            }
        }
        if Instant::now() < load.window_end {
            if let Err(e) = send_new(&session, &mut open).await {
                out.failure = Some(format!("send: {e}"));
                break;
            }
        }
    }
    out.lost += open.len() as u64;
    session.close();
    out
}
