//! The worker against a scripted proxy over the real link (PoW + RA-TLS with the simulated
//! "fake" TEE, cocoon-net session): a reordered, lower `proxy.workerRequestPayment` is
//! ignored and logged, and the connection stays up (the reference reconnects, runners.md
//! §13.21).

use std::sync::Arc;
use std::time::Duration;

use cocoon_ledger::ledger::ContractContext;
use cocoon_ledger::root_config::RootConfig;
use cocoon_ledger::voucher::{self, VoucherKind, VoucherTerms};
use cocoon_net::{InboundMessage, Session, SessionConfig};
use cocoon_wire::schema::{enums, functions, types};
use cocoon_wire::tl::{peek_constructor_id, to_bytes};
use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;
use tonlib_core::TonAddress;

use super::run_proxy_target;
use crate::common::dial::{DialConfig, TeeMode};
use crate::common::vouchers::derive_our_contract;
use crate::proxy::listener::PortGate;
use crate::proxy::GateOptions;
use crate::worker::{PayoutPolicy, WorkerSettings, WorkerState};

const WORKER: &str = "0:4444444444444444444444444444444444444444444444444444444444444444";
const PROXY_SC: &str = "0:5555555555555555555555555555555555555555555555555555555555555555";

fn address(text: &str) -> TonAddress {
    cocoon_ledger::address::parse_address(text)
        .expect("address")
        .address
}

fn settings(proxy: &str) -> WorkerSettings {
    WorkerSettings {
        owner_address: WORKER.into(),
        model_name: "test/model".into(),
        coefficient: 1000,
        max_active_requests: 4,
        forward_requests_to: "127.0.0.1:1".into(),
        proxy_addresses: vec![proxy.into()],
        proxy_connections: 1,
        is_test: true,
        multipliers: Default::default(),
        ledger: None,
        payout: PayoutPolicy::devnet(),
        contracts: ContractContext::devnet(RootConfig::devnet_default().params).expect("devnet"),
        min_proto_version: crate::worker::WORKER_MIN_PROTO,
        machine_description_json: "{}".into(),
        model_change: Default::default(),
    }
}

fn payment(key: &SigningKey, tokens: u64) -> Vec<u8> {
    let root = ContractContext::devnet(RootConfig::devnet_default().params).expect("devnet");
    let ours = derive_our_contract(
        VoucherKind::WorkerPayout,
        &address(WORKER),
        &address(PROXY_SC),
        &key.verifying_key(),
        &root,
    )
    .expect("derive");
    let terms = VoucherTerms {
        kind: VoucherKind::WorkerPayout,
        qid: tokens,
        tokens,
        target: ours,
    };
    let signed = voucher::sign(key, terms, &address(PROXY_SC)).expect("sign");
    let wire = i64::try_from(tokens).expect("tokens");
    to_bytes(&types::proxy::WorkerRequestPayment {
        request_id: [1; 32],
        signed_payment: enums::proxy::SignedPayment::SignedPayment(types::proxy::SignedPayment {
            data: signed.boc,
        }),
        db_tokens: wire,
        max_tokens: wire,
        request_tokens: wire,
        request_client_owner: String::new(),
    })
}

/// The answer to a fresh worker's balance compare: nothing earned, nothing committed.
fn fresh_compare_result() -> Vec<u8> {
    to_bytes(&types::worker::CompareBalanceWithProxyResult {
        signed_payment: enums::proxy::SignedPayment::SignedPaymentEmpty(
            types::proxy::SignedPaymentEmpty {},
        ),
        tokens_committed_to_db: 0,
        max_tokens: 0,
        error_code: 0,
    })
}

/// Accepts one worker's link as a proxy does (PoW 0, fake TEE): the acceptor's session.
async fn accept_worker(listener: TcpListener) -> (Session, cocoon_net::Inbound) {
    let opts = GateOptions {
        tee: TeeMode::Fake,
        worker_policy: "fake".into(),
        client_policy: "any".into(),
        pow_difficulty: 0,
    };
    let (gate, _own) = crate::proxy::build_gate(&opts).expect("gate");
    let PortGate::Attested(link) = gate.workers else {
        panic!("attested gate expected");
    };
    let (tcp, _) = listener.accept().await.expect("accept");
    let (tls, _peer) = cocoon_tee::link::accept(tcp, &link).await.expect("link");
    cocoon_net::establish(tls, SessionConfig::acceptor())
        .await
        .expect("session")
}

/// Accepts one worker, answers its handshake, then sends a voucher for 50 tokens followed
/// by an older one for 20. Returns the session.
async fn scripted_proxy(listener: TcpListener, key: SigningKey) -> Session {
    let (session, mut inbound) = accept_worker(listener).await;
    let params = types::proxy::Params {
        flags: 3,
        proxy_public_key: key.verifying_key().to_bytes(),
        proxy_owner_address: String::new(),
        proxy_sc_address: PROXY_SC.into(),
        is_test: Some(true),
        proto_version: Some(4),
    };
    let s = session.clone();
    tokio::spawn(async move {
        while let Some(msg) = inbound.next().await {
            let InboundMessage::Query(mut q) = msg else {
                continue;
            };
            let data = q.take_data();
            let answer = match peek_constructor_id(&data) {
                Some(functions::worker::ConnectToProxy::CONSTRUCTOR_ID) => {
                    to_bytes(&types::worker::ConnectedToProxy {
                        params: params.clone(),
                        worker_sc_address: String::new(),
                    })
                }
                Some(functions::worker::CompareBalanceWithProxy::CONSTRUCTOR_ID) => {
                    fresh_compare_result()
                }
                Some(functions::worker::ProxyHandshakeComplete::CONSTRUCTOR_ID) => {
                    let _ = q
                        .answer(to_bytes(&types::worker::ProxyHandshakeCompleted {}))
                        .await;
                    s.send(payment(&key, 50)).await.expect("send high");
                    s.send(payment(&key, 20)).await.expect("send low");
                    continue;
                }
                _ => {
                    let _ = q.error(0, "unexpected").await;
                    continue;
                }
            };
            let _ = q.answer(answer).await;
        }
    });
    session
}

#[tokio::test]
async fn a_lower_voucher_is_ignored_and_the_connection_stays_up() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let proxy = listener.local_addr().expect("addr").to_string();
    let key = SigningKey::from_bytes(&[3; 32]);
    let server = tokio::spawn(scripted_proxy(listener, key));
    let state = Arc::new(WorkerState::new(settings(&proxy)).expect("state"));
    let dial = Arc::new(DialConfig::new(TeeMode::Fake, "fake", None).expect("dial"));
    let worker = tokio::spawn(run_proxy_target(state.clone(), dial, proxy.clone()));
    let session = tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("handshake in time")
        .expect("proxy task");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while state.payments.ignored_lower(&proxy) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "lower voucher never seen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        state.payments.voucher_tokens(&proxy),
        50,
        "the higher voucher is kept"
    );
    assert!(!session.is_closed(), "the worker kept the connection");
    assert_eq!(
        state.snapshot().proxies.len(),
        1,
        "still connected, no reconnect"
    );
    worker.abort();
}

/// Accepts one worker as a **December** reference proxy does (protocol `[0,2]`, runners.md
/// §3.4): refuses a worker whose range does not reach 2, answers v2 with the reference's wire
/// forms, then sends one v2 `proxy.runQueryEx` (no key field) and forwards every packet the
/// worker sends. Returns the worker's announced params and the packets.
async fn december_proxy(
    listener: TcpListener,
    key: SigningKey,
) -> (
    types::worker::Params,
    tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let body = br#"{"model":"test/model","messages":[{"role":"user","content":"hi"}]}"#;
    proxy_with_one_request(listener, key, 2, body.to_vec(), None).await
}

/// As [`december_proxy`], speaking up to `max_proto` and sending `body` with `private_key`
/// (flags bit 1 from v3, as the April proxy does).
async fn proxy_with_one_request(
    listener: TcpListener,
    key: SigningKey,
    max_proto: i32,
    body: Vec<u8>,
    private_key: Option<[u8; 32]>,
) -> (
    types::worker::Params,
    tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let (session, mut inbound) = accept_worker(listener).await;
    let (params_tx, params_rx) = tokio::sync::oneshot::channel();
    let (packets_tx, packets_rx) = tokio::sync::mpsc::unbounded_channel();
    let s = session.clone();
    tokio::spawn(async move {
        let mut params_tx = Some(params_tx);
        while let Some(msg) = inbound.next().await {
            let mut q = match msg {
                InboundMessage::Query(q) => q,
                InboundMessage::Packet(data) => {
                    let _ = packets_tx.send(data);
                    continue;
                }
            };
            let data = q.take_data();
            let answer = match peek_constructor_id(&data) {
                Some(functions::worker::ConnectToProxy::CONSTRUCTOR_ID) => {
                    let c: functions::worker::ConnectToProxy =
                        cocoon_wire::tl::from_bytes(&data).expect("worker.connectToProxy");
                    let (min, max) = (
                        c.params.min_proto_version.unwrap_or(0),
                        c.params.max_proto_version.unwrap_or(0),
                    );
                    if let Some(tx) = params_tx.take() {
                        let _ = tx.send(c.params);
                    }
                    if max < 0 || max_proto < min {
                        let _ = q.error(621, "cannot choose common protocol version").await;
                        continue;
                    }
                    to_bytes(&types::worker::ConnectedToProxy {
                        params: types::proxy::Params {
                            flags: 3,
                            proxy_public_key: key.verifying_key().to_bytes(),
                            proxy_owner_address: cocoon_ledger::address::text_to_wire_form(
                                WORKER, false,
                            ),
                            proxy_sc_address: cocoon_ledger::address::text_to_wire_form(
                                PROXY_SC, false,
                            ),
                            is_test: Some(true),
                            proto_version: Some(max.min(max_proto)),
                        },
                        worker_sc_address: String::new(),
                    })
                }
                Some(functions::worker::CompareBalanceWithProxy::CONSTRUCTOR_ID) => {
                    fresh_compare_result()
                }
                Some(functions::worker::ProxyHandshakeComplete::CONSTRUCTOR_ID) => {
                    let _ = q
                        .answer(to_bytes(&types::worker::ProxyHandshakeCompleted {}))
                        .await;
                    let request = to_bytes(&functions::http::Request {
                        method: "POST".into(),
                        url: "/v1/chat/completions".into(),
                        http_version: "HTTP/1.1".into(),
                        headers: vec![types::http::Header {
                            name: "Host".into(),
                            value: "127.0.0.1:10000".into(),
                        }],
                        payload: body.clone(),
                    });
                    // v2: flags bit 0 only (no key field), as the December proxy sends;
                    // from v3 bit 1 and the key (zero when none), as the April proxy.
                    let keyed = max_proto >= 3;
                    let run = to_bytes(&functions::proxy::RunQueryEx {
                        query: request,
                        signed_payment: enums::proxy::SignedPayment::SignedPaymentEmpty(
                            types::proxy::SignedPaymentEmpty {},
                        ),
                        coefficient: 1000,
                        timeout: 30.0,
                        request_id: [9; 32],
                        flags: if keyed { 3 } else { 1 },
                        enable_debug: Some(false),
                        private_key: keyed.then(|| private_key.unwrap_or([0; 32])),
                    });
                    s.send(run).await.expect("send the request");
                    continue;
                }
                _ => {
                    let _ = q.error(0, "unexpected").await;
                    continue;
                }
            };
            let _ = q.answer(answer).await;
        }
    });
    (params_rx.await.expect("worker params"), packets_rx)
}

#[tokio::test]
async fn a_december_proxy_gets_a_v2_worker_and_the_reference_usage_costs() {
    use crate::fake_engine::{serve_fake_engine, FakeEngineOptions};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let engine = TcpListener::bind("127.0.0.1:0").await.expect("bind engine");
    let engine_addr = engine.local_addr().expect("addr").to_string();
    tokio::spawn(serve_fake_engine(
        engine,
        FakeEngineOptions {
            chunks: 3,
            model: "test/model".into(),
            reference_ndjson: true,
            ..FakeEngineOptions::default()
        },
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let proxy = listener.local_addr().expect("addr").to_string();
    let server = tokio::spawn(december_proxy(listener, SigningKey::from_bytes(&[3; 32])));
    let mut settings = settings(&proxy);
    settings.forward_requests_to = engine_addr;
    let price = i64::try_from(settings.contracts.params.price_per_token).expect("price");
    let state = Arc::new(WorkerState::new(settings).expect("state"));
    let dial = Arc::new(DialConfig::new(TeeMode::Fake, "fake", None).expect("dial"));
    let worker = tokio::spawn(run_proxy_target(state.clone(), dial, proxy.clone()));
    let (params, mut packets) = tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("handshake in time")
        .expect("proxy task");
    assert_eq!(
        (params.min_proto_version, params.max_proto_version),
        (Some(1), Some(4)),
        "the December proxy [0,2] and the April one [0,4] both overlap"
    );
    assert_eq!(
        params.flags & 4,
        0,
        "no machine description below v4 minimum"
    );

    let mut body = Vec::new();
    let final_info = loop {
        let data = tokio::time::timeout(Duration::from_secs(20), packets.recv())
            .await
            .expect("answer in time")
            .expect("link open");
        match peek_constructor_id(&data) {
            Some(types::proxy::QueryAnswerEx::CONSTRUCTOR_ID) => {
                let head: types::proxy::QueryAnswerEx =
                    cocoon_wire::tl::from_bytes(&data).expect("head");
                assert_eq!(head.flags, 0);
            }
            Some(types::proxy::QueryAnswerPartEx::CONSTRUCTOR_ID) => {
                let part: types::proxy::QueryAnswerPartEx =
                    cocoon_wire::tl::from_bytes(&data).expect("part");
                body.extend_from_slice(&part.answer);
                if part.flags & 1 != 0 {
                    break part.final_info.expect("final info on the last part");
                }
            }
            other => panic!("unexpected packet {other:x?}"),
        }
    };
    // v2: the final info carries the timestamps (flags bit 1), as the December worker's.
    assert_eq!(final_info.flags, 2);
    assert!(final_info.worker_start_time.is_some() && final_info.worker_end_time.is_some());
    let total = final_info.tokens_used.total_tokens_used;
    assert!(total > 0, "the answer was metered");
    // The usage value carries the reference worker's cost fields, consistent with the bill.
    let text = String::from_utf8(body).expect("utf-8 body");
    let usage_line = text
        .lines()
        .find(|l| l.contains("\"usage\""))
        .expect("a usage line");
    let value: serde_json::Value = serde_json::from_str(usage_line).expect("JSON line");
    assert_eq!(value["usage"]["total_cost"], total * price);
    worker.abort();
}

/// The April reference's encrypted request (`vectors/encryption/enc*.json`, made by its
/// `encrypt-message`), sent by an April-style proxy with the key manager's seed: the engine
/// sees the clear request, the tokens are metered, and every answer value comes back
/// encrypted to the caller's key — decryptable with the caller's seed and the key manager's
/// public key — for a JSON answer and an SSE stream alike.
#[tokio::test]
async fn an_encrypted_request_is_opened_for_the_engine_and_its_answer_sealed_for_the_caller() {
    use crate::fake_engine::{serve_fake_engine, FakeEngineOptions};
    use cocoon_e2e::stream::decrypt_answer_line;
    use cocoon_e2e::{PublicKey, Seed};
    let Some(vectors) = std::env::var_os("COCOON_VECTORS").map(std::path::PathBuf::from) else {
        assert!(std::env::var_os("CI").is_none(), "CI needs COCOON_VECTORS");
        println!("skipped: COCOON_VECTORS not set (the April-2026 encryption vectors)");
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let seed = |hex_text: &str| -> [u8; 32] {
        hex::decode(hex_text)
            .expect("hex")
            .try_into()
            .expect("32 bytes")
    };
    let km_seed = seed("070ad82e6132dab32067fb720afd0060555a64f905bbec0dc2849088951b3a63");
    let km_public = PublicKey(seed(
        "fb67d0fcd338f20e0d4957d9e82adc101d2e3513a448a3ab46052ee1b88c5818",
    ));
    let caller: [u8; 32] = std::array::from_fn(|i| i as u8);
    let caller = Seed::from_bytes(caller);

    for (file, streamed) in [("enc.json", false), ("enc-stream.json", true)] {
        let body = std::fs::read(vectors.join("encryption").join(file)).expect("vector");
        let engine = TcpListener::bind("127.0.0.1:0").await.expect("bind engine");
        let engine_addr = engine.local_addr().expect("addr").to_string();
        tokio::spawn(serve_fake_engine(
            engine,
            FakeEngineOptions {
                chunks: 3,
                model: "Qwen/Qwen3-8B".into(),
                ..FakeEngineOptions::default()
            },
        ));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let proxy = listener.local_addr().expect("addr").to_string();
        let server = tokio::spawn(proxy_with_one_request(
            listener,
            SigningKey::from_bytes(&[3; 32]),
            4,
            body,
            Some(km_seed),
        ));
        let mut settings = settings(&proxy);
        settings.forward_requests_to = engine_addr;
        settings.model_name = "Qwen/Qwen3-8B".into();
        let state = Arc::new(WorkerState::new(settings).expect("state"));
        let dial = Arc::new(DialConfig::new(TeeMode::Fake, "fake", None).expect("dial"));
        let worker = tokio::spawn(run_proxy_target(state.clone(), dial, proxy.clone()));
        let (_params, mut packets) = tokio::time::timeout(Duration::from_secs(20), server)
            .await
            .expect("handshake in time")
            .expect("proxy task");
        let mut body = Vec::new();
        let final_info = loop {
            let data = tokio::time::timeout(Duration::from_secs(20), packets.recv())
                .await
                .expect("answer in time")
                .expect("link open");
            match peek_constructor_id(&data) {
                Some(types::proxy::QueryAnswerEx::CONSTRUCTOR_ID) => {}
                Some(types::proxy::QueryAnswerPartEx::CONSTRUCTOR_ID) => {
                    let part: types::proxy::QueryAnswerPartEx =
                        cocoon_wire::tl::from_bytes(&data).expect("part");
                    body.extend_from_slice(&part.answer);
                    if part.flags & 1 != 0 {
                        break part.final_info.expect("final info");
                    }
                }
                Some(types::proxy::QueryAnswerErrorEx::CONSTRUCTOR_ID) => {
                    let e: types::proxy::QueryAnswerErrorEx =
                        cocoon_wire::tl::from_bytes(&data).expect("error");
                    panic!("{file}: the worker refused: {} {}", e.error_code, e.error);
                }
                other => panic!("unexpected packet {other:x?}"),
            }
        };
        assert!(
            final_info.tokens_used.total_tokens_used > 0,
            "{file}: metered on the clear text"
        );
        let text = String::from_utf8(body).expect("utf-8");
        assert!(
            !text.contains("Hello"),
            "{file}: nothing of the answer in clear: {text}"
        );
        let mut opened = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let payload = match (streamed, line.strip_prefix("data: ")) {
                (true, Some("[DONE]")) => continue,
                (true, Some(p)) => p,
                (true, None) => continue,
                (false, _) => line,
            };
            let clear = decrypt_answer_line(payload.as_bytes(), &caller, &km_public)
                .unwrap_or_else(|e| panic!("{file}: line {payload}: {e}"));
            opened.push(serde_json::Value::Object(clear));
        }
        assert!(!opened.is_empty(), "{file}: some answer values: {text}");
        let all = serde_json::Value::Array(opened).to_string();
        assert!(
            all.contains("\"usage\""),
            "{file}: the usage value is among them: {all}"
        );
        if streamed {
            assert!(
                text.lines().filter(|l| l.starts_with("data: {")).count() >= 3,
                "{text}"
            );
        }
        worker.abort();
    }
}
