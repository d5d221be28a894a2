//! Proxy handshakes over real loopback links (fake TEE): worker and client
//! handshakes, version negotiation, refusals, balance compare anomalies.

mod proxy_common;

use cocoon_net::QueryError;
use cocoon_wire::schema::{enums, functions};
use proxy_common::*;

#[tokio::test]
async fn worker_handshake_registers_the_connection() {
    let proxy = start_proxy().await;
    let (session, _inbound) = dial(proxy.workers_addr.unwrap()).await;
    let params = within(
        "handshake",
        worker_handshake(&session, worker_params("m@abc:def", 1000, 8)),
    )
    .await
    .unwrap();
    assert_eq!(
        params.proto_version,
        Some(4),
        "worker [3,4] with proxy [0,4] → 4"
    );
    assert_eq!(params.flags & 3, 3);
    assert_eq!(params.is_test, Some(true));
    assert_eq!(params.proxy_public_key, proxy.shared.settings.public_key);
    wait_until("registered under the base name", || {
        ready_workers(&proxy, "m") == 1
    })
    .await;
    let snapshot = proxy.shared.registry.snapshot();
    let conn = &snapshot[0].1[0];
    assert_eq!(conn.model, "m@abc:def");
    assert_eq!(conn.max_active, 8);
    assert_eq!(conn.state().coefficient, 1000);
    // Closing the connection unregisters it.
    session.close();
    wait_until("unregistered", || ready_workers(&proxy, "m") == 0).await;
}

#[tokio::test]
async fn worker_version_and_parameter_refusals_close_the_connection() {
    let proxy = start_proxy().await;
    let cases = [
        ("versions above ours", {
            let mut p = worker_params(MODEL, 1000, 4);
            p.min_proto_version = Some(5);
            p.max_proto_version = Some(6);
            p
        }),
        ("flag 1 missing", {
            let mut p = worker_params(MODEL, 1000, 4);
            p.flags = 0;
            p.is_test = None;
            p.proxy_cnt = None;
            p.max_active_requests = None;
            p.min_proto_version = None;
            p.max_proto_version = None;
            p
        }),
        ("is_test mismatch", {
            let mut p = worker_params(MODEL, 1000, 4);
            p.is_test = Some(false);
            p
        }),
        ("negative coefficient", worker_params(MODEL, -1, 4)),
        ("zero capacity", worker_params(MODEL, 1000, 0)),
        ("empty model", worker_params("", 1000, 4)),
    ];
    for (what, params) in cases {
        let (session, _inbound) = dial(proxy.workers_addr.unwrap()).await;
        let err = within(
            what,
            session.call(&functions::worker::ConnectToProxy { params }, WAIT),
        )
        .await;
        assert!(
            matches!(err, Err(QueryError::Remote { .. })),
            "{what}: expected a refusal, got {err:?}"
        );
        within("connection closed", session.closed()).await;
    }
    assert_eq!(ready_workers(&proxy, MODEL), 0);
}

#[tokio::test]
async fn bad_balance_compare_is_refused_without_harming_the_proxy() {
    let proxy = start_proxy().await;
    let (session, _inbound) = dial(proxy.workers_addr.unwrap()).await;
    let connect = functions::worker::ConnectToProxy {
        params: worker_params(MODEL, 1000, 4),
    };
    within("connect", session.call(&connect, WAIT))
        .await
        .unwrap();
    // The worker claims more committed tokens than the proxy has: the reference aborts.
    let compare = functions::worker::CompareBalanceWithProxy {
        tokens_committed_to_blockchain: 1_000_000,
        tokens_committed_to_db: 2_000_000,
        max_tokens: 3_000_000,
    };
    let err = within("compare", session.call(&compare, WAIT)).await;
    match err {
        Err(QueryError::Remote { message, .. }) => {
            assert!(message.contains("balance mismatch"), "{message}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    within("connection closed", session.closed()).await;
    // The proxy still works: another worker completes its handshake.
    let (other, _inbound2) = dial(proxy.workers_addr.unwrap()).await;
    within(
        "handshake",
        worker_handshake(&other, worker_params(MODEL, 1000, 4)),
    )
    .await
    .unwrap();
    wait_until("second worker registered", || {
        ready_workers(&proxy, MODEL) == 1
    })
    .await;
}

#[tokio::test]
async fn extended_balance_compare_completes_the_handshake() {
    let proxy = start_proxy().await;
    let (session, _inbound) = dial(proxy.workers_addr.unwrap()).await;
    let connect = functions::worker::ConnectToProxy {
        params: worker_params(MODEL, 1000, 4),
    };
    within("connect", session.call(&connect, WAIT))
        .await
        .unwrap();
    let compare = functions::worker::CompareBalanceWithProxy {
        tokens_committed_to_blockchain: 0,
        tokens_committed_to_db: 0,
        max_tokens: 50,
    };
    let enums::worker::CompareBalanceWithProxyResult::CompareBalanceWithProxyResult(result) =
        within("compare", session.call(&compare, WAIT))
            .await
            .unwrap();
    assert_eq!(
        result.error_code, 1,
        "worker saw more tokens than the proxy"
    );
    let ext = functions::worker::ExtendedCompareBalanceWithProxy {
        tokens_committed_to_db: 0,
        other: Vec::new(),
    };
    let enums::worker::ExtendedCompareBalanceWithProxyResult::ExtendedCompareBalanceWithProxyResult(
        ext_result,
    ) = within("extended compare", session.call(&ext, WAIT))
        .await
        .unwrap();
    assert_eq!(ext_result.error_code, 0);
    // The reference wedges here (runners.md §13.5); we complete.
    within(
        "complete",
        session.call(
            &functions::worker::ProxyHandshakeComplete { is_disabled: true },
            WAIT,
        ),
    )
    .await
    .unwrap();
    wait_until("registered", || ready_workers(&proxy, MODEL) == 1).await;
    assert!(
        proxy.shared.registry.snapshot()[0].1[0].state().disabled,
        "is_disabled honoured"
    );
}

#[tokio::test]
async fn client_handshake_and_worker_types() {
    let proxy = start_proxy().await;
    let (seen_tx, _seen) = tokio::sync::mpsc::unbounded_channel();
    let _w = spawn_worker(&proxy, "w", 1500, 3, Behaviour::Hang, seen_tx).await;
    let client = connect_client(&proxy).await;
    assert_eq!(client.version, 4);
    let enums::client::WorkerTypesV2::WorkerTypesV2(types) = within(
        "types",
        client
            .session
            .call(&functions::client::GetWorkerTypesV2 {}, WAIT),
    )
    .await
    .unwrap();
    assert_eq!(types.types.len(), 1);
    assert_eq!(types.types[0].name, MODEL);
    assert_eq!(types.types[0].workers.len(), 1);
    assert_eq!(types.types[0].workers[0].coefficient, 1500);
    assert_eq!(types.types[0].workers[0].max_active_requests, 3);
    let enums::client::WorkerTypes::WorkerTypes(v0) = within(
        "types v0",
        client
            .session
            .call(&functions::client::GetWorkerTypes {}, WAIT),
    )
    .await
    .unwrap();
    assert_eq!(
        (v0.types[0].active_workers, v0.types[0].coefficient_max),
        (1, 1500)
    );
    let enums::client::PaymentStatus::PaymentStatus(status) = within(
        "payment status",
        client
            .session
            .call(&functions::client::UpdatePaymentStatus {}, WAIT),
    )
    .await
    .unwrap();
    assert_eq!((status.db_tokens, status.max_tokens), (0, 0));
}

#[tokio::test]
async fn client_refusals_close_the_connection() {
    let proxy = start_proxy().await;
    let addr = proxy.clients_addr.unwrap();
    // Versions that do not overlap with the proxy's [0,4].
    let (session, _i) = dial(addr).await;
    let connect = functions::client::ConnectToProxy {
        params: client_params(5, 7),
        min_config_version: CONFIG_VERSION,
    };
    let err = within("connect", session.call(&connect, WAIT)).await;
    match err {
        Err(QueryError::Remote { message, .. }) => {
            assert!(message.contains("version"), "{message}")
        }
        other => panic!("expected a version refusal, got {other:?}"),
    }
    within("closed", session.closed()).await;
    // A root config newer than the proxy's.
    let (session, _i) = dial(addr).await;
    let connect = functions::client::ConnectToProxy {
        params: client_params(1, 4),
        min_config_version: CONFIG_VERSION + 1,
    };
    assert!(within("connect", session.call(&connect, WAIT))
        .await
        .is_err());
    within("closed", session.closed()).await;
    // A wrong secret.
    let (session, _i) = dial(addr).await;
    let connect = functions::client::ConnectToProxy {
        params: client_params(1, 4),
        min_config_version: CONFIG_VERSION,
    };
    within("connect", session.call(&connect, WAIT))
        .await
        .unwrap();
    let auth = functions::client::AuthorizeWithProxyShort {
        data: b"not the secret".to_vec(),
    };
    match within("auth", session.call(&auth, WAIT)).await {
        Err(QueryError::Remote { message, .. }) => assert_eq!(message, "sha256 mismatch"),
        other => panic!("expected sha256 mismatch, got {other:?}"),
    }
    within("closed", session.closed()).await;
    // A v0-only client still negotiates version 0.
    let (session, _i) = dial(addr).await;
    let mut legacy = client_params(0, 0);
    legacy.flags = 1;
    legacy.min_proto_version = None;
    legacy.max_proto_version = None;
    let connect = functions::client::ConnectToProxy {
        params: legacy,
        min_config_version: 0,
    };
    let enums::client::ConnectedToProxy::ConnectedToProxy(c) =
        within("connect v0", session.call(&connect, WAIT))
            .await
            .unwrap();
    assert_eq!((c.params.flags & 2, c.params.proto_version), (0, None));
}

#[tokio::test]
async fn long_auth_succeeds_in_fake_ton_mode() {
    let proxy = start_proxy().await;
    let (session, _i) = dial(proxy.clients_addr.unwrap()).await;
    let connect = functions::client::ConnectToProxy {
        params: client_params(1, 2),
        min_config_version: 0,
    };
    let enums::client::ConnectedToProxy::ConnectedToProxy(c) =
        within("connect", session.call(&connect, WAIT))
            .await
            .unwrap();
    assert_eq!(c.params.proto_version, Some(2));
    let enums::client::AuthorizationWithProxy::AuthorizationWithProxySuccess(_) = within(
        "long auth",
        session.call(&functions::client::AuthorizeWithProxyLong {}, WAIT),
    )
    .await
    .unwrap() else {
        panic!("long auth refused");
    };
}

/// What the reference worker and client accept in the proxy's handshake answers (interop.md §3):
/// every contract and owner address in the user-friendly non-bounceable form with the node's
/// testnet flag (the reference compares the flags too), and a signed voucher even when nothing
/// was earned yet (the reference worker refuses `signedPaymentEmpty`: "tokens_committed_to_blockchain
/// is too low").
#[tokio::test]
async fn handshake_answers_use_the_reference_wire_forms() {
    use cocoon_ledger::address::parse_address;
    for testnet in [false, true] {
        let key = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
        let mut settings =
            cocoon_node::proxy::ProxySettings::fake_ton_signing(key, OWNER, CONFIG_VERSION);
        settings.is_testnet = testnet;
        let proxy = start_proxy_with(settings).await;
        let (session, _inbound) = dial(proxy.workers_addr.unwrap()).await;
        let enums::worker::ConnectedToProxy::ConnectedToProxy(connected) = within(
            "worker connect",
            session.call(
                &functions::worker::ConnectToProxy {
                    params: worker_params(MODEL, 1000, 4),
                },
                WAIT,
            ),
        )
        .await
        .expect("connected");
        let p = &connected.params;
        for (what, text) in [
            ("proxy_owner_address", &p.proxy_owner_address),
            ("proxy_sc_address", &p.proxy_sc_address),
            ("worker_sc_address", &connected.worker_sc_address),
        ] {
            let parsed = parse_address(text).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(!parsed.bounceable, "{what} {text} must be non-bounceable");
            assert_eq!(parsed.testnet, testnet, "{what} {text}: testnet flag");
            assert_eq!(text.len(), 48, "{what} {text}: user-friendly form");
        }
        assert_eq!(
            parse_address(&p.proxy_owner_address).unwrap().address,
            parse_address(OWNER).unwrap().address
        );
        let enums::worker::CompareBalanceWithProxyResult::CompareBalanceWithProxyResult(result) =
            within(
                "compare",
                session.call(
                    &functions::worker::CompareBalanceWithProxy {
                        tokens_committed_to_blockchain: 0,
                        tokens_committed_to_db: 0,
                        max_tokens: 0,
                    },
                    WAIT,
                ),
            )
            .await
            .expect("compare answered");
        let enums::proxy::SignedPayment::SignedPayment(voucher) = &result.signed_payment else {
            panic!("a fresh worker gets a signed voucher for 0 tokens, not signedPaymentEmpty");
        };
        let terms = cocoon_ledger::voucher::peek_terms(
            &voucher.data,
            cocoon_ledger::voucher::VoucherKind::WorkerPayout,
        )
        .expect("voucher decodes");
        assert_eq!(terms.tokens, 0);
        assert_eq!(
            terms.target,
            parse_address(&connected.worker_sc_address).unwrap().address
        );

        // The client's handshake answer: the same forms.
        let (client, _inbound) = dial(proxy.clients_addr.unwrap()).await;
        let enums::client::ConnectedToProxy::ConnectedToProxy(answer) = within(
            "client connect",
            client.call(
                &functions::client::ConnectToProxy {
                    params: client_params(1, 2),
                    min_config_version: CONFIG_VERSION,
                },
                WAIT,
            ),
        )
        .await
        .expect("client connected");
        assert_eq!(
            answer.params.proto_version,
            Some(2),
            "a December client gets v2"
        );
        for text in [&answer.params.proxy_sc_address, &answer.client_sc_address] {
            let parsed = parse_address(text).expect("address");
            assert!(!parsed.bounceable && parsed.testnet == testnet, "{text}");
        }
    }
}

/// A worker whose minimum protocol is 4 sends `machine_description_json` (`worker.params`
/// flags bit 2); the proxy shows it in `/jsonstats` as `machine_description`. With the
/// default minimum (1: December proxies parse no bit 2) nothing is sent and `{}` is shown.
#[tokio::test]
async fn a_v4_worker_describes_its_machine_and_the_proxy_shows_it() {
    use cocoon_node::fake_engine::{serve_fake_engine, FakeEngineOptions};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let proxy = start_proxy().await;
    let engine = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("engine");
    let engine_addr = engine.local_addr().expect("addr").to_string();
    tokio::spawn(serve_fake_engine(engine, FakeEngineOptions::default()));
    let worker = |model: &str, min: i32| cocoon_node::worker::WorkerSettings {
        min_proto_version: min,
        machine_description_json: r#"{"gpu":"H200","count":8}"#.into(),
        ..real_worker_settings(&proxy, &engine_addr, model)
    };
    let described = spawn_real_worker(worker("described", 4));
    let plain = spawn_real_worker(worker("plain", 1));
    wait_until("both workers ready", || {
        ready_workers(&proxy, "described") == 1 && ready_workers(&proxy, "plain") == 1
    })
    .await;
    let stats: serde_json::Value =
        serde_json::from_str(&http_get(proxy.stats_addr.expect("stats"), "/jsonstats").await)
            .expect("json");
    let shown = |model: &str| {
        stats["worker_connections"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["model"] == model)
            .map(|c| c["machine_description"].clone())
    };
    assert_eq!(
        shown("described"),
        Some(serde_json::json!({"gpu": "H200", "count": 8})),
        "{stats}"
    );
    assert_eq!(shown("plain"), Some(serde_json::json!({})), "{stats}");
    described.abort();
    plain.abort();
}
