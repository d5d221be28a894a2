//! SIMULATED workers: each is one real worker connection to the proxy (TCP →
//! PoW + RA-TLS with the simulated "fake" TEE → cocoon-net session → the
//! worker handshake of runners.md §3.3), answering every `proxy.runQueryEx`
//! from an in-process SIMULATED engine (no HTTP, no model): the response head,
//! then `lines` parts of the reference benchmark's NDJSON shape, `delay`
//! apart, then the final part with fixed token usage. Thousands of them run
//! in one process, which is what makes a 1,000-worker proxy testable here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cocoon_net::{InboundMessage, Session};
use cocoon_node::common::dial::{dial_proxy, DialConfig};
use cocoon_wire::schema::{enums, functions, types};
use cocoon_wire::tl::{from_bytes, peek_constructor_id, to_bytes};

/// Deadline of each handshake query.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// The shape of every simulated answer.
#[derive(Debug, Clone, Copy)]
pub struct EngineShape {
    pub lines: usize,
    pub line_bytes: usize,
    pub delay: Duration,
}

/// One simulated worker's identity and limits.
pub struct WorkerSpec {
    pub owner_address: String,
    pub model: String,
    pub max_active_requests: i32,
}

/// Connects and handshakes; returns the session and its inbound half.
pub async fn connect(
    addr: SocketAddr,
    dial: &DialConfig,
    spec: &WorkerSpec,
) -> anyhow::Result<(Session, cocoon_net::Inbound)> {
    let (session, inbound, _peer) = dial_proxy(&addr.to_string(), dial).await?;
    let params = types::worker::Params {
        flags: 3,
        worker_owner_address: spec.owner_address.clone(),
        model: spec.model.clone(),
        coefficient: 1000,
        is_test: Some(true),
        proxy_cnt: Some(1),
        max_active_requests: Some(spec.max_active_requests),
        min_proto_version: Some(cocoon_node::worker::WORKER_MIN_PROTO),
        max_proto_version: Some(cocoon_node::worker::WORKER_MAX_PROTO),
        machine_description_json: None,
    };
    let enums::worker::ConnectedToProxy::ConnectedToProxy(_connected) = session
        .call(
            &functions::worker::ConnectToProxy { params },
            HANDSHAKE_TIMEOUT,
        )
        .await
        .map_err(|e| anyhow::anyhow!("worker.connectToProxy: {e}"))?;
    let compare = functions::worker::CompareBalanceWithProxy {
        tokens_committed_to_blockchain: 0,
        tokens_committed_to_db: 0,
        max_tokens: 0,
    };
    session
        .call(&compare, HANDSHAKE_TIMEOUT)
        .await
        .map_err(|e| anyhow::anyhow!("worker.compareBalanceWithProxy: {e}"))?;
    session
        .call(
            &functions::worker::ProxyHandshakeComplete { is_disabled: false },
            HANDSHAKE_TIMEOUT,
        )
        .await
        .map_err(|e| anyhow::anyhow!("worker.proxyHandshakeComplete: {e}"))?;
    Ok((session, inbound))
}

/// Serves requests until the connection ends (each request streams on its own
/// task); returns why it ended.
pub async fn serve(
    session: Session,
    mut inbound: cocoon_net::Inbound,
    shape: EngineShape,
) -> String {
    let body = Arc::new(SimulatedAnswer::new(shape));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            msg = inbound.next() => match msg {
                None => break,
                Some(InboundMessage::Packet(data)) => {
                    if peek_constructor_id(&data) != Some(functions::proxy::RunQueryEx::CONSTRUCTOR_ID) {
                        continue; // payments, cancels: not simulated
                    }
                    if let Ok(q) = from_bytes::<functions::proxy::RunQueryEx>(&data) {
                        tasks.spawn(answer(session.clone(), q.request_id, body.clone()));
                    }
                }
                Some(InboundMessage::Query(q)) => {
                    let _ = q.error(0, cocoon_net::LOST_PROMISE_MESSAGE).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tasks.abort_all();
    match session.close_reason() {
        Some(reason) => format!("{reason:?}"),
        None => "inbound ended".to_string(),
    }
}

/// The simulated engine's answer: the reference benchmark server's NDJSON lines.
struct SimulatedAnswer {
    shape: EngineShape,
    head: Vec<u8>,
    lines: Vec<Vec<u8>>,
}

impl SimulatedAnswer {
    fn new(shape: EngineShape) -> Self {
        let head = to_bytes(&types::http::Response {
            http_version: "HTTP/1.1".into(),
            status_code: 200,
            reason: String::new(),
            headers: vec![
                types::http::Header {
                    name: "Content-Type".into(),
                    value: "application/x-ndjson".into(),
                },
                types::http::Header {
                    name: "Transfer-Encoding".into(),
                    value: "chunked".into(),
                },
            ],
            payload: Vec::new(),
        });
        let delta = "0".repeat(shape.line_bytes);
        let mut lines = vec![format!(
            "{{\"chunks\":{},\"bytes\":{},\"delay\":{}}}\n",
            shape.lines,
            shape.line_bytes,
            shape.delay.as_millis()
        )
        .into_bytes()];
        for i in 0..shape.lines {
            lines.push(format!("{{\"delta\":\"{delta}\",\"i\":{i}}}\n").into_bytes());
        }
        lines.push(
            b"{\"usage\":{\"prompt_tokens\":34,\"completion_tokens\":100,\"total_tokens\":134}}\n"
                .to_vec(),
        );
        SimulatedAnswer { shape, head, lines }
    }
}

async fn answer(session: Session, request_id: [u8; 32], body: Arc<SimulatedAnswer>) {
    let start = Instant::now();
    let first = types::proxy::QueryAnswerEx {
        request_id,
        answer: body.head.clone(),
        flags: 0,
        final_info: None,
    };
    if session.send(to_bytes(&first)).await.is_err() {
        return;
    }
    let count = body.lines.len();
    for (i, line) in body.lines.iter().enumerate() {
        if i > 1 && !body.shape.delay.is_zero() {
            tokio::time::sleep(body.shape.delay).await;
        }
        let last = i + 1 == count;
        let part = types::proxy::QueryAnswerPartEx {
            request_id,
            answer: line.clone(),
            flags: u32::from(last),
            final_info: last.then(|| final_info(start.elapsed())),
        };
        if session.send(to_bytes(&part)).await.is_err() {
            return;
        }
    }
}

fn final_info(elapsed: Duration) -> types::proxy::QueryFinalInfo {
    let now = cocoon_node::common::proto::now_unix();
    types::proxy::QueryFinalInfo {
        flags: 2,
        tokens_used: types::TokensUsed {
            prompt_tokens_used: 34,
            cached_tokens_used: 0,
            completion_tokens_used: 100,
            reasoning_tokens_used: 0,
            total_tokens_used: 134,
        },
        worker_debug: None,
        worker_start_time: Some(now - elapsed.as_secs_f64()),
        worker_end_time: Some(now),
    }
}
