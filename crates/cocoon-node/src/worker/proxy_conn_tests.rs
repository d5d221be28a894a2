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

/// Accepts one worker, answers its handshake, then sends a voucher for 50 tokens followed
/// by an older one for 20. Returns the session.
async fn scripted_proxy(listener: TcpListener, key: SigningKey) -> Session {
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
    let (session, mut inbound) = cocoon_net::establish(tls, SessionConfig::acceptor())
        .await
        .expect("session");
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
                    to_bytes(&types::worker::CompareBalanceWithProxyResult {
                        signed_payment: enums::proxy::SignedPayment::SignedPaymentEmpty(
                            types::proxy::SignedPaymentEmpty {},
                        ),
                        tokens_committed_to_db: 0,
                        max_tokens: 0,
                        error_code: 0,
                    })
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
