//! Legacy (protocol v0) peers and hostile input: a v0 client gets the legacy
//! answer forms, a v0 worker gets `proxy.runQuery` and its legacy answers are
//! relayed, and garbage packets or queries never take the proxy down.

mod proxy_common;

use cocoon_net::InboundMessage;
use cocoon_wire::schema::{enums, functions, types};
use cocoon_wire::tl::{from_bytes, to_bytes};
use proxy_common::*;
use tokio::sync::mpsc;

/// A v0 worker: `worker.params` without flag 1, answers with legacy messages.
async fn spawn_v0_worker(proxy: &cocoon_node::proxy::ProxyHandle) -> cocoon_net::Session {
    let (session, mut inbound) = dial(proxy.workers_addr.unwrap()).await;
    let mut params = worker_params(MODEL, 1000, 4);
    params.flags = 1;
    params.min_proto_version = None;
    params.max_proto_version = None;
    let negotiated = within("v0 handshake", worker_handshake(&session, params))
        .await
        .unwrap();
    assert_eq!((negotiated.flags & 2, negotiated.proto_version), (0, None));
    wait_until("v0 worker registered", || ready_workers(proxy, MODEL) == 1).await;
    let s = session.clone();
    tokio::spawn(async move {
        while let Some(msg) = inbound.next().await {
            let InboundMessage::Packet(data) = msg else {
                continue;
            };
            let Ok(run) = from_bytes::<functions::proxy::RunQuery>(&data) else {
                continue;
            };
            let tokens = types::TokensUsed {
                prompt_tokens_used: 1,
                cached_tokens_used: 0,
                completion_tokens_used: 6,
                reasoning_tokens_used: 0,
                total_tokens_used: 7,
            };
            let response = types::http::Response {
                http_version: "HTTP/1.1".into(),
                status_code: 200,
                reason: String::new(),
                headers: Vec::new(),
                payload: Vec::new(),
            };
            let answer = types::proxy::QueryAnswer {
                answer: to_bytes(&response),
                is_completed: false,
                request_id: run.request_id,
                tokens_used: tokens.clone(),
            };
            let _ = s.send(to_bytes(&answer)).await;
            let part = types::proxy::QueryAnswerPart {
                answer: b"legacy body".to_vec(),
                is_completed: true,
                request_id: run.request_id,
                tokens_used: tokens,
            };
            let _ = s.send(to_bytes(&part)).await;
        }
    });
    session
}

#[tokio::test]
async fn v0_worker_answers_reach_a_modern_client() {
    let proxy = start_proxy().await;
    let _worker = spawn_v0_worker(&proxy).await;
    let mut client = connect_client(&proxy).await;
    let id = client.send_request(MODEL, 4000, 100.0).await;
    let out = client.outcome(id).await;
    assert_eq!(out.error, None);
    assert_eq!(out.parts, vec![b"legacy body".to_vec()]);
    assert_eq!(
        out.final_info
            .expect("final info")
            .tokens_used
            .total_tokens_used,
        7
    );
}

#[tokio::test]
async fn v0_client_gets_legacy_answers_and_errors() {
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
    let (session, mut inbound) = dial(proxy.clients_addr.unwrap()).await;
    let mut params = client_params(0, 0);
    params.flags = 1;
    params.min_proto_version = None;
    params.max_proto_version = None;
    let connect = functions::client::ConnectToProxy {
        params,
        min_config_version: 0,
    };
    within("connect", session.call(&connect, WAIT))
        .await
        .unwrap();
    within(
        "auth",
        session.call(
            &functions::client::AuthorizeWithProxyShort { data: Vec::new() },
            WAIT,
        ),
    )
    .await
    .unwrap();
    let run = |model: &str, request_id: [u8; 32]| functions::client::RunQuery {
        model_name: model.into(),
        query: http_request(),
        max_coefficient: 4000,
        max_tokens: 100,
        timeout: 50.0,
        request_id,
        min_config_version: 0,
    };
    session.send(to_bytes(&run(MODEL, [1; 32]))).await.unwrap();
    session
        .send(to_bytes(&run("unknown/model", [2; 32])))
        .await
        .unwrap();
    let (mut answered, mut completed, mut error) = (false, false, None);
    while !(completed && error.is_some()) {
        let Some(InboundMessage::Packet(data)) = within("legacy message", inbound.next()).await
        else {
            continue;
        };
        if let Ok(msg) = from_bytes::<enums::client::QueryAnswer>(&data) {
            match msg {
                enums::client::QueryAnswer::QueryAnswer(a) => answered = a.request_id == [1; 32],
                enums::client::QueryAnswer::QueryAnswerError(e) => {
                    error = Some((e.request_id, e.error_code))
                }
            }
        } else if let Ok(enums::client::QueryAnswerPart::QueryAnswerPart(p)) = from_bytes(&data) {
            assert!(answered, "part after the answer");
            completed = p.is_completed && p.request_tokens_used.total_tokens_used == 10;
        }
    }
    assert_eq!(error, Some(([2; 32], 621)));
}

#[tokio::test]
async fn garbage_from_peers_never_takes_the_proxy_down() {
    let proxy = start_proxy().await;
    let (seen_tx, _seen) = mpsc::unbounded_channel();
    let worker = spawn_worker(
        &proxy,
        "w",
        1000,
        4,
        Behaviour::Answer { parts: 1 },
        seen_tx,
    )
    .await;
    let mut client = connect_client(&proxy).await;
    let junk: Vec<Vec<u8>> = vec![
        vec![],
        vec![1, 2, 3],
        vec![0xff; 64],
        // A valid constructor id with a truncated body.
        functions::client::RunQueryEx::CONSTRUCTOR_ID
            .to_le_bytes()
            .to_vec(),
        types::proxy::QueryAnswerEx::CONSTRUCTOR_ID
            .to_le_bytes()
            .iter()
            .copied()
            .chain([9; 40])
            .collect(),
        // An answer for a request that does not exist.
        to_bytes(&types::proxy::QueryAnswerPartEx {
            request_id: [9; 32],
            answer: vec![1],
            flags: 1,
            final_info: None,
        }),
    ];
    for j in &junk {
        client.session.send(j.clone()).await.unwrap();
        worker.session.send(j.clone()).await.unwrap();
        // Garbage queries get an error answer, not a crash.
        assert!(within("junk query", client.session.query(j.clone(), WAIT))
            .await
            .is_err());
    }
    // A request whose query is not an http.request is refused as such.
    let request_id = [5; 32];
    let bad = functions::client::RunQueryEx {
        model_name: MODEL.into(),
        query: vec![1, 2, 3, 4],
        max_coefficient: 4000,
        max_tokens: 10,
        timeout: 10.0,
        request_id,
        min_config_version: 0,
        flags: 1,
        enable_debug: Some(true),
        public_key: None,
    };
    client.session.send(to_bytes(&bad)).await.unwrap();
    assert_eq!(
        client.outcome(request_id).await.error.map(|e| e.0),
        Some(621)
    );
    // Still serving.
    let id = client.send_request(MODEL, 4000, 100.0).await;
    assert_eq!(client.outcome(id).await.error, None);
}
