//! Conversations the reference runners had with each other (December 2025 and April 2026,
//! recorded by running them; `tests/reference-conversations/README.md`), replayed against our
//! nodes: every byte the reference sends must decode with our codec and re-encode identically,
//! our proxy must answer the reference client's and worker's own messages as the reference
//! proxy did, and it must accept the reference worker's answers.

mod conversations;
mod proxy_common;

use cocoon_tee::peer_info::AttestedPeerInfo;
use cocoon_wire::dynamic::{decode_json, encode_json};
use cocoon_wire::schema::{enums, functions, types};
use cocoon_wire::tl::{from_bytes, peek_constructor_id, to_bytes};
use conversations::{Kind, Transcript};
use serde_json::Value;

/// Fields whose bytes are themselves a boxed TL object: (constructor, field).
const NESTED: [(&str, &str); 8] = [
    ("tcp.packet", "data"),
    ("tcp.query", "data"),
    ("tcp.queryAnswer", "data"),
    ("proxy.runQueryEx", "query"),
    ("client.runQueryEx", "query"),
    ("proxy.queryAnswerEx", "answer"),
    ("client.queryAnswerEx", "answer"),
    ("proxy.runQuery", "query"),
];

/// Decodes `bytes` with our schema, re-encodes, and recurses into nested objects; returns the
/// constructor names met, outermost first.
fn round_trip(bytes: &[u8], path: &str) -> Vec<String> {
    let value = decode_json(bytes).unwrap_or_else(|e| panic!("{path}: our codec refuses it: {e}"));
    let again = encode_json(&value).unwrap_or_else(|e| panic!("{path}: re-encoding: {e}"));
    assert_eq!(again, bytes, "{path}: not re-encoded byte for byte");
    let name = value["@type"].as_str().expect("@type").to_owned();
    let mut names = vec![name.clone()];
    for (ctor, field) in NESTED {
        if ctor == name {
            if let Some(Value::String(b64)) = value.get(field) {
                use base64::Engine as _;
                let inner = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("base64 bytes");
                names.extend(round_trip(&inner, &format!("{path} > {name}.{field}")));
            }
        }
    }
    names
}

#[test]
fn every_generation_was_recorded() {
    for t in conversations::all() {
        assert!(!t.units.is_empty(), "{}", t.path.display());
        assert!(!t.commit.is_empty() && !t.link.is_empty());
    }
}

#[test]
fn every_reference_frame_decodes_and_re_encodes_byte_for_byte() {
    let mut seen = std::collections::BTreeSet::new();
    for t in conversations::all() {
        let mut seqnos = std::collections::BTreeMap::<String, i32>::new();
        for (i, u) in t.units.iter().enumerate() {
            let path = format!("{} unit {i} from {}", t.path.display(), u.from);
            match u.kind {
                Kind::Frame => {
                    // Seqnos count up from 0 per direction (runners.md §2.2).
                    let next = seqnos.entry(u.from.clone()).or_insert(0);
                    assert_eq!(u.seqno, Some(*next), "{path}: seqno");
                    *next += 1;
                    cocoon_wire::frame::check_payload_len(u.bytes.len())
                        .unwrap_or_else(|e| panic!("{path}: {e}"));
                    for name in round_trip(&u.bytes, &path) {
                        seen.insert(format!("{}:{name}", t.generation));
                    }
                }
                Kind::PeerInfo => {
                    let record = AttestedPeerInfo::decode(&u.bytes)
                        .unwrap_or_else(|e| panic!("{path}: peer info: {e}"));
                    assert_eq!(record.encode().expect("encodes"), u.bytes, "{path}");
                }
                Kind::Socks => {}
            }
        }
    }
    // The conversations cover the handshakes, requests, answers and payments of both roles.
    for generation in conversations::GENERATIONS {
        for name in [
            "client.connectToProxy",
            "client.connectedToProxy",
            "client.runQueryEx",
            "client.queryAnswerEx",
            "client.queryAnswerPartEx",
            "worker.connectToProxy",
            "worker.compareBalanceWithProxyResult",
            "proxy.runQueryEx",
            "proxy.queryAnswerEx",
            "proxy.queryAnswerPartEx",
            "proxy.workerRequestPayment",
            "http.request",
            "http.response",
        ] {
            assert!(
                seen.contains(&format!("{generation}:{name}")),
                "{generation}: {name} never recorded"
            );
        }
    }
}

/// Our SOCKS5 dialer writes exactly the bytes the reference client and worker wrote to the
/// router, and reads the router's replies.
#[tokio::test]
async fn our_socks5_dialer_writes_what_the_reference_runners_wrote() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for t in conversations::all() {
        let socks: Vec<&conversations::Unit> =
            t.units.iter().filter(|u| u.kind == Kind::Socks).collect();
        if socks.is_empty() {
            continue; // a tap in front of the proxy: no SOCKS there
        }
        // The router's side, unit by unit: read what the dialer must send, send its replies.
        let script: Vec<(bool, Vec<u8>)> = socks
            .iter()
            .map(|u| (u.from == t.dialer, u.bytes.clone()))
            .collect();
        let connect = &script
            .iter()
            .rev()
            .find(|(dialer, _)| *dialer)
            .expect("CONNECT")
            .1;
        // The CONNECT request ends with IPv4 address and port (runners.md §2.1).
        let n = connect.len();
        let ip = std::net::Ipv4Addr::new(
            connect[n - 6],
            connect[n - 5],
            connect[n - 4],
            connect[n - 3],
        );
        let port = u16::from_be_bytes([connect[n - 2], connect[n - 1]]);
        let (mut near, mut far) = tokio::io::duplex(1024);
        let path = t.path.display().to_string();
        let router = tokio::spawn(async move {
            for (from_dialer, bytes) in script {
                if from_dialer {
                    let mut got = vec![0u8; bytes.len()];
                    far.read_exact(&mut got)
                        .await
                        .expect("read the dialer's bytes");
                    assert_eq!(got, bytes, "{path}: our SOCKS5 bytes");
                } else {
                    far.write_all(&bytes).await.expect("replay the router");
                }
            }
        });
        tokio::time::timeout(
            proxy_common::WAIT,
            cocoon_net::socks5::negotiate(&mut near, (ip, port).into()),
        )
        .await
        .expect("negotiation in time")
        .unwrap_or_else(|e| panic!("{}: {e}", t.path.display()));
        router
            .await
            .expect("the router saw the reference runner's bytes");
    }
}

/// What the reference peers check in `proxy.params` and the handshake answers: flags, version,
/// test mode, and every address in the same user-friendly form with the same flags.
fn assert_same_address_form(ours: &str, reference: &str, what: &str) {
    use cocoon_ledger::address::parse_address;
    let (o, r) = (
        parse_address(ours).unwrap_or_else(|e| panic!("{what}: ours {e}")),
        parse_address(reference).unwrap_or_else(|e| panic!("{what}: reference {e}")),
    );
    assert_eq!(ours.len(), reference.len(), "{what}: {ours} vs {reference}");
    assert_eq!(
        (o.bounceable, o.testnet),
        (r.bounceable, r.testnet),
        "{what}: {ours} vs {reference}"
    );
}

fn assert_params_like(ours: &types::proxy::Params, reference: &types::proxy::Params, what: &str) {
    assert_eq!(ours.flags, reference.flags, "{what}: flags");
    assert_eq!(
        ours.proto_version, reference.proto_version,
        "{what}: version"
    );
    assert_eq!(ours.is_test, reference.is_test, "{what}: is_test");
    assert_same_address_form(
        &ours.proxy_owner_address,
        &reference.proxy_owner_address,
        what,
    );
    assert_same_address_form(&ours.proxy_sc_address, &reference.proxy_sc_address, what);
}

fn is_voucher(p: &enums::proxy::SignedPayment) -> bool {
    matches!(p, enums::proxy::SignedPayment::SignedPayment(_))
}

/// The reference worker's answer messages for its first request, with `request_id` put in.
fn worker_answers(worker: &Transcript, request_id: [u8; 32]) -> Vec<Vec<u8>> {
    let packets = worker.packets("worker");
    let first: [u8; 32] = packets
        .iter()
        .find_map(|p| from_bytes::<types::proxy::QueryAnswerEx>(p).ok())
        .expect("the reference worker answered")
        .request_id;
    packets
        .iter()
        .filter_map(
            |p| match from_bytes::<enums::proxy::QueryAnswerEx>(p).ok()? {
                enums::proxy::QueryAnswerEx::QueryAnswerEx(mut a) if a.request_id == first => {
                    a.request_id = request_id;
                    Some(to_bytes(&a))
                }
                enums::proxy::QueryAnswerEx::QueryAnswerPartEx(mut a) if a.request_id == first => {
                    a.request_id = request_id;
                    Some(to_bytes(&a))
                }
                _ => None,
            },
        )
        .collect()
}

/// The reference proxy's answer messages to the client's first request.
fn proxy_answers_to_client(client: &Transcript) -> Vec<enums::client::QueryAnswerEx> {
    let packets = client.packets("proxy");
    let first = packets
        .iter()
        .find_map(|p| from_bytes::<types::client::QueryAnswerEx>(p).ok())
        .expect("the reference proxy answered")
        .request_id;
    packets
        .iter()
        .filter_map(|p| from_bytes::<enums::client::QueryAnswerEx>(p).ok())
        .filter(|a| match a {
            enums::client::QueryAnswerEx::QueryAnswerEx(a) => a.request_id == first,
            enums::client::QueryAnswerEx::QueryAnswerPartEx(a) => a.request_id == first,
            enums::client::QueryAnswerEx::QueryAnswerErrorEx(a) => a.request_id == first,
        })
        .collect()
}

/// Our proxy between a replayed reference worker and a replayed reference client: it must
/// answer their handshakes as the reference proxy did, route the reference client's own request
/// to the reference worker, and hand the reference worker's answer to the client as the
/// reference proxy did (same body, same tokens).
#[tokio::test]
async fn our_proxy_in_a_reference_conversation() {
    use proxy_common::*;
    for generation in conversations::GENERATIONS {
        let worker_t = conversations::load(generation, "worker-proxy.at-proxy");
        let client_t = conversations::load(generation, "client-proxy.at-proxy");
        let key = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
        let proxy = start_proxy_with(cocoon_node::proxy::ProxySettings::fake_ton_signing(
            key,
            OWNER,
            CONFIG_VERSION,
        ))
        .await;

        // The reference worker's handshake, query by query.
        let (worker, mut worker_inbound) = dial(proxy.workers_addr.unwrap()).await;
        let (connect, reference) =
            worker_t.exchange("worker", functions::worker::ConnectToProxy::CONSTRUCTOR_ID);
        let ours: types::worker::ConnectedToProxy = from_bytes(
            &within("connect", worker.query(connect, WAIT))
                .await
                .expect("our proxy accepts the reference worker"),
        )
        .expect("worker.connectedToProxy");
        let reference: types::worker::ConnectedToProxy =
            from_bytes(&reference.expect("answered")).expect("recorded answer");
        assert_params_like(&ours.params, &reference.params, generation);
        assert_same_address_form(
            &ours.worker_sc_address,
            &reference.worker_sc_address,
            "worker_sc_address",
        );
        for id in [
            functions::worker::CompareBalanceWithProxy::CONSTRUCTOR_ID,
            functions::worker::ProxyHandshakeComplete::CONSTRUCTOR_ID,
        ] {
            let (query, reference) = worker_t.exchange("worker", id);
            let reference = reference.expect("answered");
            let ours = within("handshake", worker.query(query, WAIT))
                .await
                .unwrap_or_else(|e| panic!("{generation} {id:#x}: {e}"));
            assert_eq!(peek_constructor_id(&ours), peek_constructor_id(&reference));
            if let Ok(r) = from_bytes::<types::worker::CompareBalanceWithProxyResult>(&reference) {
                let o: types::worker::CompareBalanceWithProxyResult =
                    from_bytes(&ours).expect("ours");
                assert_eq!(is_voucher(&o.signed_payment), is_voucher(&r.signed_payment));
                assert_eq!(o.error_code, r.error_code);
            }
        }
        let model = worker_t
            .exchanges("worker")
            .iter()
            .find_map(|(q, _)| from_bytes::<functions::worker::ConnectToProxy>(q).ok())
            .expect("worker params")
            .params
            .model;
        let base = model.split('@').next().unwrap().to_owned();
        wait_until("the reference worker is registered", || {
            ready_workers(&proxy, &base) == 1
        })
        .await;

        // The reference client's handshake.
        let (client, mut client_inbound) = dial(proxy.clients_addr.unwrap()).await;
        let (connect, reference) =
            client_t.exchange("client", functions::client::ConnectToProxy::CONSTRUCTOR_ID);
        let ours: types::client::ConnectedToProxy = from_bytes(
            &within("client connect", client.query(connect, WAIT))
                .await
                .expect("our proxy accepts the reference client"),
        )
        .expect("client.connectedToProxy");
        let reference: types::client::ConnectedToProxy =
            from_bytes(&reference.expect("answered")).expect("recorded");
        assert_params_like(&ours.params, &reference.params, generation);
        assert_same_address_form(
            &ours.client_sc_address,
            &reference.client_sc_address,
            "client_sc_address",
        );
        assert_eq!(
            std::mem::discriminant(&ours.auth),
            std::mem::discriminant(&reference.auth),
            "{generation}: auth mode"
        );
        for id in [
            functions::client::AuthorizeWithProxyShort::CONSTRUCTOR_ID,
            functions::client::GetWorkerTypesV2::CONSTRUCTOR_ID,
        ] {
            let (query, reference) = client_t.exchange("client", id);
            let reference = reference.expect("answered");
            let ours = within("client handshake", client.query(query, WAIT))
                .await
                .unwrap_or_else(|e| panic!("{generation} {id:#x}: {e}"));
            assert_eq!(peek_constructor_id(&ours), peek_constructor_id(&reference));
        }

        // The reference client's own request, through our proxy, to the reference worker.
        let run = client_t
            .packets("client")
            .into_iter()
            .find(|p| peek_constructor_id(p) == Some(functions::client::RunQueryEx::CONSTRUCTOR_ID))
            .expect("a recorded request");
        let run_req: functions::client::RunQueryEx = from_bytes(&run).expect("client.runQueryEx");
        client.send(run).await.expect("send the request");
        let forwarded = loop {
            let msg = within("forwarded request", worker_inbound.next())
                .await
                .expect("worker link open");
            if let cocoon_net::InboundMessage::Packet(p) = msg {
                if let Ok(q) = from_bytes::<functions::proxy::RunQueryEx>(&p) {
                    break q;
                }
            }
        };
        let reference_run: functions::proxy::RunQueryEx = worker_t
            .packets("proxy")
            .iter()
            .find_map(|p| from_bytes(p).ok())
            .expect("recorded proxy.runQueryEx");
        assert_eq!(
            forwarded.flags, reference_run.flags,
            "{generation}: runQueryEx flags"
        );
        assert_eq!(
            forwarded.private_key.is_some(),
            reference_run.private_key.is_some()
        );
        assert_eq!(
            forwarded.query, run_req.query,
            "the client's http.request, untouched"
        );
        for answer in worker_answers(&worker_t, forwarded.request_id) {
            worker
                .send(answer)
                .await
                .expect("replay the worker's answer");
        }

        // What reaches the client: what the reference proxy sent it.
        let reference_answers = proxy_answers_to_client(&client_t);
        let mut body = Vec::new();
        let mut status = None;
        let final_info = loop {
            let msg = within("client answer", client_inbound.next())
                .await
                .expect("client link open");
            let cocoon_net::InboundMessage::Packet(p) = msg else {
                continue;
            };
            match from_bytes::<enums::client::QueryAnswerEx>(&p) {
                Ok(enums::client::QueryAnswerEx::QueryAnswerEx(a)) => {
                    let head: types::http::Response = from_bytes(&a.answer).expect("head");
                    status = Some(head.status_code);
                    body.extend(head.payload);
                    if a.flags & 1 != 0 {
                        break a.final_info;
                    }
                }
                Ok(enums::client::QueryAnswerEx::QueryAnswerPartEx(a)) => {
                    body.extend(a.answer);
                    if a.flags & 1 != 0 {
                        break a.final_info;
                    }
                }
                Ok(enums::client::QueryAnswerEx::QueryAnswerErrorEx(e)) => {
                    panic!("{generation}: error {} {}", e.error_code, e.error)
                }
                Err(_) => {}
            }
        }
        .expect("final info");
        let mut reference_body = Vec::new();
        let mut reference_status = None;
        let mut reference_final = None;
        for a in &reference_answers {
            match a {
                enums::client::QueryAnswerEx::QueryAnswerEx(a) => {
                    let head: types::http::Response = from_bytes(&a.answer).expect("head");
                    reference_status = Some(head.status_code);
                    reference_body.extend(head.payload.clone());
                    reference_final = reference_final.or(a.final_info.clone());
                }
                enums::client::QueryAnswerEx::QueryAnswerPartEx(a) => {
                    reference_body.extend(a.answer.clone());
                    reference_final = reference_final.or(a.final_info.clone());
                }
                enums::client::QueryAnswerEx::QueryAnswerErrorEx(_) => {}
            }
        }
        let reference_final = reference_final.expect("recorded final info");
        assert_eq!(status, reference_status, "{generation}: status");
        assert_eq!(body, reference_body, "{generation}: body");
        assert_eq!(
            final_info.flags & 2,
            reference_final.flags & 2,
            "{generation}: timestamps"
        );
        assert_eq!(
            final_info.tokens_used, reference_final.tokens_used,
            "{generation}: the tokens the client is told"
        );
    }
}

/// Who dials the replayed reference proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialer {
    Worker,
    Client,
}

/// Plays the reference proxy of `t` to the one worker or client that dials `listener`: answers
/// each of its queries with the reference proxy's recorded reply to the same function. A worker
/// gets, once its handshake completed, every packet the reference proxy sent (its requests and
/// payment notices, unchanged); a client gets, for each request it sends, the reference proxy's
/// answer to the recorded client's first request, under the new request id. Returns the packets
/// the dialer sends.
async fn replay_reference_proxy(
    listener: tokio::net::TcpListener,
    t: Transcript,
    dialer: Dialer,
) -> tokio::sync::mpsc::UnboundedReceiver<Vec<u8>> {
    use cocoon_node::common::dial::TeeMode;
    use cocoon_node::proxy::listener::PortGate;
    let opts = cocoon_node::proxy::GateOptions {
        tee: TeeMode::Fake,
        worker_policy: "fake".into(),
        client_policy: "fake".into(),
        pow_difficulty: 0,
    };
    let (gate, _own) = cocoon_node::proxy::build_gate(&opts).expect("gate");
    let port = match dialer {
        Dialer::Worker => gate.workers,
        Dialer::Client => gate.clients,
    };
    let PortGate::Attested(link) = port else {
        panic!("attested gate expected");
    };
    let (tcp, _) = listener.accept().await.expect("accept");
    let (tls, _peer) = cocoon_tee::link::accept(tcp, &link).await.expect("link");
    let (session, mut inbound) = cocoon_net::establish(tls, cocoon_net::SessionConfig::acceptor())
        .await
        .expect("session");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let from = match dialer {
        Dialer::Worker => "worker",
        Dialer::Client => "client",
    };
    let replies = t.exchanges(from);
    let packets = t.packets("proxy");
    let answers = match dialer {
        Dialer::Worker => Vec::new(),
        Dialer::Client => proxy_answers_to_client(&t),
    };
    tokio::spawn(async move {
        while let Some(msg) = inbound.next().await {
            let mut q = match msg {
                cocoon_net::InboundMessage::Query(q) => q,
                cocoon_net::InboundMessage::Packet(p) => {
                    if let Ok(run) = from_bytes::<functions::client::RunQueryEx>(&p) {
                        for answer in &answers {
                            let bytes = with_request_id(answer.clone(), run.request_id);
                            session.send(bytes).await.expect("replay an answer");
                        }
                    }
                    let _ = tx.send(p);
                    continue;
                }
            };
            let data = q.take_data();
            let id = peek_constructor_id(&data);
            let reply = replies
                .iter()
                .find(|(rq, _)| peek_constructor_id(rq) == id)
                .map(|(_, r)| r.clone());
            match reply {
                Some(Ok(answer)) => {
                    let complete =
                        id == Some(functions::worker::ProxyHandshakeComplete::CONSTRUCTOR_ID);
                    let _ = q.answer(answer).await;
                    if complete {
                        for p in &packets {
                            session.send(p.clone()).await.expect("replay a packet");
                        }
                    }
                }
                Some(Err((code, message))) => {
                    let _ = q.error(code, message).await;
                }
                None => {
                    let _ = q.error(0, "not in the recorded conversation").await;
                }
            }
        }
    });
    rx
}

/// A proxy→client answer message for `request_id`.
fn with_request_id(answer: enums::client::QueryAnswerEx, request_id: [u8; 32]) -> Vec<u8> {
    match answer {
        enums::client::QueryAnswerEx::QueryAnswerEx(mut a) => {
            a.request_id = request_id;
            to_bytes(&a)
        }
        enums::client::QueryAnswerEx::QueryAnswerPartEx(mut a) => {
            a.request_id = request_id;
            to_bytes(&a)
        }
        enums::client::QueryAnswerEx::QueryAnswerErrorEx(mut a) => {
            a.request_id = request_id;
            to_bytes(&a)
        }
    }
}

/// Our worker with a replayed reference proxy: it must accept the reference proxy's handshake
/// answers and its own requests (the reference client's http.request, unchanged), and answer
/// them as the reference worker did: head first, then parts, the last one final with the same
/// tokens and final-info flags, and the same cost fields inside `usage`.
#[tokio::test]
async fn our_worker_in_a_reference_conversation() {
    use cocoon_node::common::dial::{DialConfig, TeeMode};
    use cocoon_node::fake_engine::{serve_fake_engine, FakeEngineOptions};
    use cocoon_node::worker::{PayoutPolicy, WorkerSettings};
    let _ = rustls::crypto::ring::default_provider().install_default();
    for generation in conversations::GENERATIONS {
        let t = conversations::load(generation, "worker-proxy.at-proxy");
        let params = t
            .exchanges("worker")
            .iter()
            .find_map(|(q, _)| from_bytes::<functions::worker::ConnectToProxy>(q).ok())
            .expect("recorded worker params")
            .params;
        let engine = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let engine_addr = engine.local_addr().unwrap().to_string();
        tokio::spawn(serve_fake_engine(
            engine,
            FakeEngineOptions {
                model: params.model.split('@').next().unwrap().to_owned(),
                reference_ndjson: true,
                ..FakeEngineOptions::default()
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = listener.local_addr().unwrap().to_string();
        let replay = tokio::spawn(replay_reference_proxy(listener, t.clone(), Dialer::Worker));
        let settings = WorkerSettings {
            owner_address: params.worker_owner_address.clone(),
            model_name: params.model.clone(),
            coefficient: params.coefficient,
            max_active_requests: 8,
            forward_requests_to: engine_addr,
            proxy_addresses: vec![proxy],
            proxy_connections: 1,
            is_test: true,
            multipliers: Default::default(),
            ledger: None,
            payout: PayoutPolicy::devnet(),
            contracts: cocoon_ledger::ledger::ContractContext::devnet(
                cocoon_ledger::root_config::RootConfig::devnet_default().params,
            )
            .expect("devnet context"),
            min_proto_version: cocoon_node::worker::WORKER_MIN_PROTO,
            machine_description_json: "{}".into(),
            model_change: Default::default(),
        };
        let price = settings.contracts.params.price_per_token;
        let dial = DialConfig::new(TeeMode::Fake, "fake", None).unwrap();
        let worker = tokio::spawn(cocoon_node::worker::run_worker(
            settings,
            dial,
            Default::default(),
        ));
        let mut packets = proxy_common::within("handshake", replay)
            .await
            .expect("replay task");

        // Every request the reference proxy sent, answered as the reference worker answered it.
        let requests: Vec<functions::proxy::RunQueryEx> = t
            .packets("proxy")
            .iter()
            .filter_map(|p| from_bytes(p).ok())
            .collect();
        assert!(!requests.is_empty());
        let mut ours = std::collections::HashMap::<[u8; 32], Vec<Vec<u8>>>::new();
        let mut done = 0;
        while done < requests.len() {
            let p = proxy_common::within("worker answer", packets.recv())
                .await
                .expect("worker link open");
            let Ok(answer) = from_bytes::<enums::proxy::QueryAnswerEx>(&p) else {
                continue;
            };
            let (id, last) = match &answer {
                enums::proxy::QueryAnswerEx::QueryAnswerEx(a) => (a.request_id, a.flags & 1 != 0),
                enums::proxy::QueryAnswerEx::QueryAnswerPartEx(a) => {
                    (a.request_id, a.flags & 1 != 0)
                }
                enums::proxy::QueryAnswerEx::QueryAnswerErrorEx(e) => {
                    panic!(
                        "{generation}: our worker failed: {} {}",
                        e.error_code, e.error
                    )
                }
            };
            ours.entry(id).or_default().push(p);
            done += usize::from(last);
        }
        for request in &requests {
            let reference: Vec<Vec<u8>> = t
                .packets("worker")
                .into_iter()
                .filter(|p| match from_bytes::<enums::proxy::QueryAnswerEx>(p) {
                    Ok(enums::proxy::QueryAnswerEx::QueryAnswerEx(a)) => {
                        a.request_id == request.request_id
                    }
                    Ok(enums::proxy::QueryAnswerEx::QueryAnswerPartEx(a)) => {
                        a.request_id == request.request_id
                    }
                    _ => false,
                })
                .collect();
            let ours = &ours[&request.request_id];
            compare_worker_answers(ours, &reference, price, generation);
        }
        worker.abort();
    }
}

/// The parts of one answer: (head, body, final info).
fn worker_answer(
    packets: &[Vec<u8>],
) -> (types::http::Response, Vec<u8>, types::proxy::QueryFinalInfo) {
    let head: types::proxy::QueryAnswerEx = from_bytes(&packets[0]).expect("the head comes first");
    assert_eq!(head.flags, 0, "the head alone, not final");
    let response: types::http::Response = from_bytes(&head.answer).expect("http.response");
    let mut body = response.payload.clone();
    let mut info = None;
    for p in &packets[1..] {
        let part: types::proxy::QueryAnswerPartEx = from_bytes(p).expect("parts follow");
        body.extend(part.answer);
        if part.flags & 1 != 0 {
            info = part.final_info;
        }
    }
    (response, body, info.expect("final info on the last part"))
}

fn compare_worker_answers(ours: &[Vec<u8>], reference: &[Vec<u8>], price: u64, what: &str) {
    let (o_head, o_body, o_info) = worker_answer(ours);
    let (r_head, r_body, r_info) = worker_answer(reference);
    assert_eq!(o_head.status_code, r_head.status_code, "{what}: status");
    for name in [
        "X-Cocoon-Worker-Start",
        "X-Cocoon-Worker-End",
        "Content-Type",
    ] {
        assert!(
            o_head
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case(name)),
            "{what}: {name} missing"
        );
    }
    assert_eq!(o_info.flags, r_info.flags, "{what}: final info flags");
    assert_eq!(o_info.tokens_used, r_info.tokens_used, "{what}: tokens");
    // The same usage, with the same cost fields, in the last JSON value of each body.
    let usage = |body: &[u8]| -> Value {
        let text = String::from_utf8(body.to_vec()).expect("utf-8");
        let line = text
            .lines()
            .rev()
            .find(|l| l.contains("\"usage\""))
            .expect("a usage value");
        serde_json::from_str::<Value>(line).expect("JSON")["usage"].clone()
    };
    let (o_usage, r_usage) = (usage(&o_body), usage(&r_body));
    assert_eq!(o_usage, r_usage, "{what}: usage with its cost fields");
    assert_eq!(
        o_usage["total_cost"].as_u64(),
        Some(o_info.tokens_used.total_tokens_used as u64 * price),
        "{what}: total_cost = tokens × price"
    );
}

/// Our client with a replayed reference proxy: it must accept the reference proxy's handshake
/// answers and deliver the reference proxy's answer to its HTTP caller, byte for byte; the
/// request it sends must carry the reference client's flags and the caller's Host.
#[tokio::test]
async fn our_client_in_a_reference_conversation() {
    use cocoon_node::client::{ClientMoneyPolicy, ClientSettings};
    use cocoon_node::common::dial::{DialConfig, TeeMode};
    let _ = rustls::crypto::ring::default_provider().install_default();
    for generation in conversations::GENERATIONS {
        let t = conversations::load(generation, "client-proxy.at-proxy");
        let connect: functions::client::ConnectToProxy = t
            .exchanges("client")
            .iter()
            .find_map(|(q, _)| from_bytes(q).ok())
            .expect("recorded connect");
        let recorded_run: functions::client::RunQueryEx = t
            .packets("client")
            .iter()
            .find_map(|p| from_bytes(p).ok())
            .expect("recorded request");
        let recorded_http: functions::http::Request =
            from_bytes(&recorded_run.query).expect("http.request");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = listener.local_addr().unwrap().to_string();
        let replay = tokio::spawn(replay_reference_proxy(listener, t.clone(), Dialer::Client));
        let settings = ClientSettings {
            owner_address: connect.params.client_owner_address.clone(),
            secret_string: String::new(),
            is_test: true,
            proxy_addresses: vec![proxy],
            proxy_connections: 1,
            config_version: connect.min_config_version,
            ledger: None,
            money: ClientMoneyPolicy::default(),
            contracts: cocoon_ledger::ledger::ContractContext::devnet(
                cocoon_ledger::root_config::RootConfig::devnet_default().params,
            )
            .expect("devnet context"),
        };
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", http.local_addr().unwrap());
        let dial = DialConfig::new(TeeMode::Fake, "fake", None).unwrap();
        let client = tokio::spawn(cocoon_node::client::run_client(
            settings,
            dial,
            http,
            Default::default(),
        ));
        let mut packets = proxy_common::within("handshake", replay)
            .await
            .expect("replay task");

        // Once the handshake is done, the caller's request as the reference client got it.
        let http_client = reqwest::Client::new();
        let url = format!("{base}/v1/chat/completions");
        let deadline = tokio::time::Instant::now() + proxy_common::WAIT;
        let response = loop {
            let response = http_client
                .post(&url)
                .header("Content-Type", "application/json")
                .body(recorded_http.payload.clone())
                .send()
                .await
                .expect("our client answers");
            if response.status().as_u16() != 503 && response.status().as_u16() != 502 {
                break response;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{generation}: never ready"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("body").to_vec();
        let (mut reference_status, mut reference_body) = (None, Vec::new());
        for a in proxy_answers_to_client(&t) {
            match a {
                enums::client::QueryAnswerEx::QueryAnswerEx(a) => {
                    let head: types::http::Response = from_bytes(&a.answer).expect("head");
                    reference_status = Some(head.status_code);
                    reference_body.extend(head.payload);
                }
                enums::client::QueryAnswerEx::QueryAnswerPartEx(a) => {
                    reference_body.extend(a.answer)
                }
                enums::client::QueryAnswerEx::QueryAnswerErrorEx(_) => {}
            }
        }
        assert_eq!(
            Some(i32::from(status)),
            reference_status,
            "{generation}: status"
        );
        assert_eq!(
            body, reference_body,
            "{generation}: the caller gets the answer byte for byte"
        );

        // What our client sent: the reference client's form of the request.
        let ours: functions::client::RunQueryEx = loop {
            let p = proxy_common::within("our request", packets.recv())
                .await
                .expect("client link open");
            if let Ok(run) = from_bytes(&p) {
                break run;
            }
        };
        assert_eq!(
            ours.flags, recorded_run.flags,
            "{generation}: runQueryEx flags"
        );
        assert_eq!(ours.public_key.is_some(), recorded_run.public_key.is_some());
        assert_eq!(ours.model_name, recorded_run.model_name);
        let our_http: functions::http::Request = from_bytes(&ours.query).expect("http.request");
        assert_eq!(our_http.method, recorded_http.method);
        assert_eq!(our_http.url, recorded_http.url);
        assert!(
            our_http
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("host")),
            "{generation}: Host travels, as with the reference client"
        );
        client.abort();
    }
}
