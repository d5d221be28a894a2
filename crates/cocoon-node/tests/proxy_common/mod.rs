//! Test support for the proxy tests: an in-process proxy on loopback and
//! in-process fake clients and workers that speak the real protocol
//! (TCP → PoW + RA-TLS with a simulated "fake" TEE → cocoon-net session →
//! the TL handshakes and messages).

#![allow(dead_code)]

pub mod scripted_km;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use cocoon_net::{Inbound, InboundMessage, QueryError, Session};
use cocoon_node::common::admin::{AdminPort, AdminToken};
use cocoon_node::common::dial::{dial_proxy, DialConfig, TeeMode};
use cocoon_node::proxy::{self, GateOptions, ProxyHandle, ProxyListeners, ProxySettings};
use cocoon_wire::schema::{enums, functions, types};
use cocoon_wire::tl::{from_bytes, to_bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Upper bound for anything a test waits for.
pub const WAIT: Duration = Duration::from_secs(10);
/// A syntactically valid user-friendly TON address.
pub const OWNER: &str = "UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m";
pub const MODEL: &str = "test/model";
/// Root config version the test proxy runs with.
pub const CONFIG_VERSION: i32 = 3;
/// The admin token of a test proxy whose settings set no `http_access_hash`.
pub const ADMIN_TOKEN: &str = "test-admin-token";

pub fn settings() -> ProxySettings {
    ProxySettings::fake_ton([7; 32], CONFIG_VERSION)
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback")
}

/// A proxy with a fake-TEE certificate, `fake` worker policy, `any` client
/// policy and PoW difficulty 0, on ephemeral loopback ports.
pub async fn start_proxy_with(settings: ProxySettings) -> ProxyHandle {
    let opts = GateOptions {
        tee: TeeMode::Fake,
        worker_policy: "fake".into(),
        client_policy: "any".into(),
        pow_difficulty: 0,
    };
    let (gate, _own) = proxy::build_gate(&opts).expect("gate");
    let token = AdminToken::new(&settings.http_access_hash)
        .unwrap_or_else(|| AdminToken::new(ADMIN_TOKEN).expect("token"));
    let listeners = ProxyListeners {
        workers: Some(bind().await),
        clients: Some(bind().await),
        stats: Some(bind().await),
        admin: Some(AdminPort {
            listener: bind().await,
            token,
        }),
        ..ProxyListeners::default()
    };
    proxy::start(settings, gate, listeners)
        .await
        .expect("proxy starts")
}

pub async fn start_proxy() -> ProxyHandle {
    start_proxy_with(settings()).await
}

/// Dials `addr` as a fake-TEE peer.
pub async fn dial(addr: SocketAddr) -> (Session, Inbound) {
    let cfg = DialConfig::new(TeeMode::Fake, "fake", None).expect("dial config");
    let (session, inbound, _peer) = dial_proxy(&addr.to_string(), &cfg)
        .await
        .expect("dial proxy");
    (session, inbound)
}

/// Polls `cond` until it holds (panics after [`WAIT`]).
pub async fn wait_until<F: FnMut() -> bool>(what: &str, mut cond: F) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Awaits `fut`, panicking after [`WAIT`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Number of ready worker connections for `model`.
pub fn ready_workers(proxy: &ProxyHandle, model: &str) -> usize {
    proxy
        .current()
        .registry
        .snapshot()
        .into_iter()
        .find(|(m, _)| m == model)
        .map_or(0, |(_, c)| c.len())
}

/// Total running requests on the proxy's worker connections.
pub fn running(proxy: &ProxyHandle) -> u32 {
    proxy
        .current()
        .registry
        .snapshot()
        .iter()
        .flat_map(|(_, c)| c.iter())
        .map(|c| c.state().running)
        .sum()
}

pub fn worker_params(model: &str, coefficient: i32, max_active: i32) -> types::worker::Params {
    types::worker::Params {
        flags: 3,
        worker_owner_address: OWNER.into(),
        model: model.into(),
        coefficient,
        is_test: Some(true),
        proxy_cnt: Some(1),
        max_active_requests: Some(max_active),
        min_proto_version: Some(3),
        max_proto_version: Some(4),
        machine_description_json: None,
    }
}

/// Runs the worker handshake (connect, compare with zero counters, complete).
pub async fn worker_handshake(
    session: &Session,
    params: types::worker::Params,
) -> Result<types::proxy::Params, QueryError> {
    let enums::worker::ConnectedToProxy::ConnectedToProxy(connected) = session
        .call(&functions::worker::ConnectToProxy { params }, WAIT)
        .await?;
    let compare = functions::worker::CompareBalanceWithProxy {
        tokens_committed_to_blockchain: 0,
        tokens_committed_to_db: 0,
        max_tokens: 0,
    };
    session.call(&compare, WAIT).await?;
    session
        .call(
            &functions::worker::ProxyHandshakeComplete { is_disabled: false },
            WAIT,
        )
        .await?;
    Ok(connected.params)
}

/// What a fake worker does with each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer with headers, then `parts` body parts, the last one final (10 tokens).
    Answer { parts: usize },
    /// Answer with an error before any answer.
    ErrorFirst { code: i32 },
    /// Close the connection without answering.
    DropFirst,
    /// Send the header answer, then close the connection.
    DropAfterFirst,
    /// Never answer.
    Hang,
    /// Send the header answer and one body part, then nothing more (the
    /// connection stays up and answers pings).
    StallAfterFirst,
}

/// A request as a fake worker saw it.
#[derive(Debug)]
pub struct Seen {
    pub worker: &'static str,
    pub request: functions::proxy::RunQueryEx,
}

/// A fake worker connected to a proxy.
pub struct FakeWorker {
    pub session: Session,
    pub task: JoinHandle<()>,
    /// Every `cocoonrs.cancelRequest` received: (proxy request id, reason).
    pub cancels: mpsc::UnboundedReceiver<([u8; 32], String)>,
}

/// Connects a worker, runs its handshake and serves requests as `behaviour`;
/// every request received is reported on `seen`.
pub async fn spawn_worker(
    proxy: &ProxyHandle,
    name: &'static str,
    coefficient: i32,
    max_active: i32,
    behaviour: Behaviour,
    seen: mpsc::UnboundedSender<Seen>,
) -> FakeWorker {
    let addr = proxy.workers_addr.expect("workers port");
    let spec = (name, coefficient, max_active, behaviour);
    spawn_worker_via(proxy, addr, spec, seen).await
}

/// [`spawn_worker`] dialing `addr` (e.g. a relay in front of the proxy's
/// workers port); `spec` is (name, coefficient, max_active, behaviour).
pub async fn spawn_worker_via(
    proxy: &ProxyHandle,
    addr: SocketAddr,
    spec: (&'static str, i32, i32, Behaviour),
    seen: mpsc::UnboundedSender<Seen>,
) -> FakeWorker {
    let (name, coefficient, max_active, behaviour) = spec;
    let params = worker_params(MODEL, coefficient, max_active);
    spawn_worker_with_params(proxy, addr, params, (name, behaviour), seen).await
}

/// [`spawn_worker_via`] with the worker's own `params` (e.g. a protocol range); `spec` is
/// (name, behaviour).
pub async fn spawn_worker_with_params(
    proxy: &ProxyHandle,
    addr: SocketAddr,
    params: types::worker::Params,
    spec: (&'static str, Behaviour),
    seen: mpsc::UnboundedSender<Seen>,
) -> FakeWorker {
    let (name, behaviour) = spec;
    let (session, mut inbound) = dial(addr).await;
    let before = ready_workers(proxy, MODEL);
    worker_handshake(&session, params)
        .await
        .expect("worker handshake");
    wait_until("worker registered", || ready_workers(proxy, MODEL) > before).await;
    let s = session.clone();
    let (cancel_tx, cancels) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Some(msg) = inbound.next().await {
            let InboundMessage::Packet(data) = msg else {
                continue;
            };
            if let Ok(cancel) = from_bytes::<types::cocoonrs::CancelRequest>(&data) {
                let _ = cancel_tx.send((cancel.request_id, cancel.reason));
                continue;
            }
            let Ok(request) = from_bytes::<functions::proxy::RunQueryEx>(&data) else {
                continue;
            };
            let id = request.request_id;
            let _ = seen.send(Seen {
                worker: name,
                request,
            });
            if !serve_one(&s, id, behaviour).await {
                s.close();
                return;
            }
        }
    });
    FakeWorker {
        session,
        task,
        cancels,
    }
}

fn final_info(total: i64) -> types::proxy::QueryFinalInfo {
    types::proxy::QueryFinalInfo {
        flags: 2,
        tokens_used: types::TokensUsed {
            prompt_tokens_used: 4,
            cached_tokens_used: 0,
            completion_tokens_used: total - 4,
            reasoning_tokens_used: 0,
            total_tokens_used: total,
        },
        worker_debug: None,
        worker_start_time: Some(1.0),
        worker_end_time: Some(2.0),
    }
}

fn http_response() -> Vec<u8> {
    to_bytes(&types::http::Response {
        http_version: "HTTP/1.1".into(),
        status_code: 200,
        reason: String::new(),
        headers: vec![types::http::Header {
            name: "Content-Type".into(),
            value: "application/json".into(),
        }],
        payload: Vec::new(),
    })
}

/// Serves one request; false = close the connection now.
async fn serve_one(s: &Session, request_id: [u8; 32], behaviour: Behaviour) -> bool {
    let answer = || types::proxy::QueryAnswerEx {
        request_id,
        answer: http_response(),
        flags: 0,
        final_info: None,
    };
    match behaviour {
        Behaviour::Answer { parts } => {
            let _ = s.send(to_bytes(&answer())).await;
            for i in 0..parts {
                let last = i + 1 == parts;
                let part = types::proxy::QueryAnswerPartEx {
                    request_id,
                    answer: format!("chunk {i}\n").into_bytes(),
                    flags: u32::from(last),
                    final_info: last.then(|| final_info(10)),
                };
                let _ = s.send(to_bytes(&part)).await;
            }
            true
        }
        Behaviour::ErrorFirst { code } => {
            let err = types::proxy::QueryAnswerErrorEx {
                request_id,
                error_code: code,
                error: "worker: busy".into(),
                flags: 1,
                final_info: Some(final_info(0)),
            };
            let _ = s.send(to_bytes(&err)).await;
            true
        }
        Behaviour::DropFirst => false,
        Behaviour::DropAfterFirst => {
            let _ = s.send(to_bytes(&answer())).await;
            false
        }
        Behaviour::Hang => true,
        Behaviour::StallAfterFirst => {
            let _ = s.send(to_bytes(&answer())).await;
            let part = types::proxy::QueryAnswerPartEx {
                request_id,
                answer: b"chunk 0\n".to_vec(),
                flags: 0,
                final_info: None,
            };
            let _ = s.send(to_bytes(&part)).await;
            true
        }
    }
}

/// A fake client connected and authorized.
pub struct FakeClient {
    pub session: Session,
    pub inbound: Inbound,
    pub version: i32,
}

pub fn client_params(min: i32, max: i32) -> types::client::Params {
    types::client::Params {
        flags: 3,
        client_owner_address: OWNER.into(),
        is_test: Some(true),
        min_proto_version: Some(min),
        max_proto_version: Some(max),
    }
}

/// Connects and runs the client handshake (short auth with an empty secret).
pub async fn connect_client(proxy: &ProxyHandle) -> FakeClient {
    let (session, inbound) = dial(proxy.clients_addr.expect("clients port")).await;
    let connect = functions::client::ConnectToProxy {
        params: client_params(1, 4),
        min_config_version: CONFIG_VERSION,
    };
    let enums::client::ConnectedToProxy::ConnectedToProxy(connected) =
        session.call(&connect, WAIT).await.expect("connect");
    let version = connected.params.proto_version.unwrap_or(0);
    session
        .call(
            &functions::client::AuthorizeWithProxyShort { data: Vec::new() },
            WAIT,
        )
        .await
        .expect("short auth");
    FakeClient {
        session,
        inbound,
        version,
    }
}

pub fn http_request() -> Vec<u8> {
    to_bytes(&functions::http::Request {
        method: "POST".into(),
        url: "/v1/chat/completions".into(),
        http_version: "HTTP/1.1".into(),
        headers: Vec::new(),
        payload: br#"{"model":"test/model","messages":[]}"#.to_vec(),
    })
}

/// How a request ended, from the client's point of view.
#[derive(Debug, Default)]
pub struct Outcome {
    pub header: Option<types::http::Response>,
    pub parts: Vec<Vec<u8>>,
    pub error: Option<(i32, String)>,
    pub final_info: Option<types::client::QueryFinalInfo>,
}

impl FakeClient {
    /// Sends `client.runQueryEx` (`max_tokens` 1000); returns its request id.
    pub async fn send_request(&self, model: &str, max_coefficient: i32, timeout: f64) -> [u8; 32] {
        self.send_request_with(model, max_coefficient, 1000, timeout)
            .await
    }

    /// Sends `client.runQueryEx` with `max_tokens`; returns its request id.
    pub async fn send_request_with(
        &self,
        model: &str,
        max_coefficient: i32,
        max_tokens: i32,
        timeout: f64,
    ) -> [u8; 32] {
        self.send_request_keyed(model, (max_coefficient, max_tokens, timeout), None)
            .await
    }

    /// Sends `client.runQueryEx` naming the request key `public_key` (flags bit 1; `None`
    /// = a plain request); `limits` is (max_coefficient, max_tokens, timeout). Returns its
    /// request id.
    pub async fn send_request_keyed(
        &self,
        model: &str,
        (max_coefficient, max_tokens, timeout): (i32, i32, f64),
        public_key: Option<[u8; 32]>,
    ) -> [u8; 32] {
        let request_id: [u8; 32] = rand::random();
        let run = functions::client::RunQueryEx {
            model_name: model.into(),
            query: http_request(),
            max_coefficient,
            max_tokens,
            timeout,
            request_id,
            min_config_version: CONFIG_VERSION,
            flags: if public_key.is_some() { 3 } else { 1 },
            enable_debug: Some(false),
            public_key,
        };
        self.session
            .send(to_bytes(&run))
            .await
            .expect("send request");
        request_id
    }

    /// Sends `cocoonrs.cancelRequest` for `id` (our extension).
    pub async fn send_cancel(&self, id: [u8; 32], reason: &str) {
        let cancel = types::cocoonrs::CancelRequest {
            request_id: id,
            reason: reason.into(),
        };
        self.session
            .send(to_bytes(&cancel))
            .await
            .expect("send cancel");
    }

    /// Reads answer messages for `id` until it completes or fails
    /// (payment notices and other requests' messages are skipped).
    pub async fn outcome(&mut self, id: [u8; 32]) -> Outcome {
        let mut out = Outcome::default();
        loop {
            let msg = within("client answer", self.inbound.next())
                .await
                .expect("proxy closed the client connection");
            let InboundMessage::Packet(data) = msg else {
                continue;
            };
            let Ok(answer) = from_bytes::<enums::client::QueryAnswerEx>(&data) else {
                continue;
            };
            match answer {
                enums::client::QueryAnswerEx::QueryAnswerEx(a) if a.request_id == id => {
                    out.header = Some(from_bytes(&a.answer).expect("http.response"));
                    if a.flags & 1 != 0 {
                        out.final_info = a.final_info;
                        return out;
                    }
                }
                enums::client::QueryAnswerEx::QueryAnswerPartEx(p) if p.request_id == id => {
                    out.parts.push(p.answer);
                    if p.flags & 1 != 0 {
                        out.final_info = p.final_info;
                        return out;
                    }
                }
                enums::client::QueryAnswerEx::QueryAnswerErrorEx(e) if e.request_id == id => {
                    out.error = Some((e.error_code, e.error));
                    out.final_info = e.final_info;
                    return out;
                }
                _ => {}
            }
        }
    }
}

/// A plain HTTP/1.1 GET (one request, `Connection: close`); returns the body
/// of a 200 answer.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = within("connect", tokio::net::TcpStream::connect(addr))
        .await
        .expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    within("read", tcp.read_to_end(&mut raw))
        .await
        .expect("read");
    let text = String::from_utf8(raw).expect("utf-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// `METHOD path` with `headers` on a fresh connection: (status, head, body).
pub async fn http_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = within("connect", tokio::net::TcpStream::connect(addr))
        .await
        .expect("connect");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    within("read", tcp.read_to_end(&mut raw))
        .await
        .expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, head.to_owned(), body.to_owned())
}

/// `POST path` on the proxy's admin port with `Authorization: Bearer token`: (status, body).
pub async fn admin_post(proxy: &ProxyHandle, token: &str, path: &str) -> (u16, String) {
    let admin = proxy.admin_addr.expect("admin port");
    let bearer = format!("Bearer {token}");
    let (status, _, body) = http_call(admin, "POST", path, &[("Authorization", &bearer)]).await;
    (status, body)
}

/// A worker that answers each request with one final answer of `tokens` tokens and
/// reports every `proxy.workerRequestPayment` it receives.
pub async fn paying_worker(
    proxy: &ProxyHandle,
    tokens: i64,
) -> (
    Session,
    String,
    tokio::sync::mpsc::UnboundedReceiver<types::proxy::WorkerRequestPayment>,
) {
    scripted_worker(proxy, tokens, false, OWNER).await
}

/// [`paying_worker`] owned by `owner`, or with `fail` one that answers each request with
/// an error (`proxy.queryAnswerErrorEx`, code 602) whose final info reports `tokens` tokens.
pub async fn scripted_worker(
    proxy: &ProxyHandle,
    tokens: i64,
    fail: bool,
    owner: &str,
) -> (
    Session,
    String,
    tokio::sync::mpsc::UnboundedReceiver<types::proxy::WorkerRequestPayment>,
) {
    let (session, mut inbound) = dial(proxy.workers_addr.expect("workers port")).await;
    let enums::worker::ConnectedToProxy::ConnectedToProxy(connected) = session
        .call(
            &functions::worker::ConnectToProxy {
                params: types::worker::Params {
                    worker_owner_address: owner.into(),
                    ..worker_params(MODEL, 1000, 4)
                },
            },
            WAIT,
        )
        .await
        .expect("connect");
    let compare = functions::worker::CompareBalanceWithProxy {
        tokens_committed_to_blockchain: 0,
        tokens_committed_to_db: 0,
        max_tokens: 0,
    };
    session.call(&compare, WAIT).await.expect("compare");
    session
        .call(
            &functions::worker::ProxyHandshakeComplete { is_disabled: false },
            WAIT,
        )
        .await
        .expect("complete");
    wait_until("worker registered", || ready_workers(proxy, MODEL) > 0).await;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let s = session.clone();
    tokio::spawn(async move {
        while let Some(msg) = inbound.next().await {
            let InboundMessage::Packet(data) = msg else {
                continue;
            };
            if let Ok(p) = from_bytes::<types::proxy::WorkerRequestPayment>(&data) {
                let _ = tx.send(p);
                continue;
            }
            let Ok(run) = from_bytes::<functions::proxy::RunQueryEx>(&data) else {
                continue;
            };
            let tokens_used = types::TokensUsed {
                prompt_tokens_used: 0,
                cached_tokens_used: 0,
                completion_tokens_used: tokens,
                reasoning_tokens_used: 0,
                total_tokens_used: tokens,
            };
            if fail {
                let error = types::proxy::QueryAnswerErrorEx {
                    request_id: run.request_id,
                    error_code: 602,
                    error: "scripted failure".into(),
                    flags: 1,
                    final_info: Some(final_info_of(tokens_used)),
                };
                let _ = s.send(to_bytes(&error)).await;
                continue;
            }
            let answer = types::proxy::QueryAnswerEx {
                request_id: run.request_id,
                answer: to_bytes(&types::http::Response {
                    http_version: "HTTP/1.1".into(),
                    status_code: 200,
                    reason: String::new(),
                    headers: Vec::new(),
                    payload: b"{}".to_vec(),
                }),
                flags: 1,
                final_info: Some(final_info_of(tokens_used)),
            };
            let _ = s.send(to_bytes(&answer)).await;
        }
    });
    (session, connected.worker_sc_address, rx)
}

fn final_info_of(tokens_used: types::TokensUsed) -> types::proxy::QueryFinalInfo {
    types::proxy::QueryFinalInfo {
        flags: 0,
        tokens_used,
        worker_debug: None,
        worker_start_time: None,
        worker_end_time: None,
    }
}

/// Settings of a REAL cocoon-rs worker (`cocoon_node::worker::run_worker`) serving `model`
/// from the engine at `engine` to `proxy` (fake TEE, no ledger, protocol minimum 1).
pub fn real_worker_settings(
    proxy: &ProxyHandle,
    engine: &str,
    model: &str,
) -> cocoon_node::worker::WorkerSettings {
    cocoon_node::worker::WorkerSettings {
        owner_address: OWNER.into(),
        model_name: model.into(),
        coefficient: 1000,
        max_active_requests: 4,
        forward_requests_to: engine.into(),
        proxy_addresses: vec![proxy.workers_addr.expect("workers port").to_string()],
        proxy_connections: 1,
        is_test: true,
        multipliers: Default::default(),
        ledger: None,
        payout: cocoon_node::worker::PayoutPolicy::devnet(),
        contracts: cocoon_ledger::ledger::ContractContext::devnet(
            cocoon_ledger::root_config::RootConfig::devnet_default().params,
        )
        .expect("devnet context"),
        min_proto_version: cocoon_node::worker::WORKER_MIN_PROTO,
        machine_description_json: "{}".into(),
        model_change: Default::default(),
    }
}

/// Runs a real worker with `settings` (fake TEE) until the task is aborted.
pub fn spawn_real_worker(settings: cocoon_node::worker::WorkerSettings) -> JoinHandle<()> {
    let dial = DialConfig::new(TeeMode::Fake, "fake", None).expect("dial");
    tokio::spawn(async move {
        let _ = cocoon_node::worker::run_worker(settings, dial, Default::default()).await;
    })
}

/// A one-connection TCP relay to `target` that stops moving bytes either way
/// while its switch is true: the far side then looks like a stopped process
/// (the kernel still takes the bytes, nothing answers).
pub async fn freezable_relay(target: SocketAddr) -> (SocketAddr, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
    let addr = listener.local_addr().expect("relay addr");
    let (freeze, frozen) = watch::channel(false);
    tokio::spawn(async move {
        let Ok((inner, _)) = listener.accept().await else {
            return;
        };
        let Ok(outer) = TcpStream::connect(target).await else {
            return;
        };
        let (ir, iw) = inner.into_split();
        let (or, ow) = outer.into_split();
        tokio::spawn(pump(ir, ow, frozen.clone()));
        tokio::spawn(pump(or, iw, frozen));
    });
    (addr, freeze)
}

async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut frozen: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if frozen.wait_for(|f| !*f).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Bytes read just before the freeze are held too.
        if frozen.wait_for(|f| !*f).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
