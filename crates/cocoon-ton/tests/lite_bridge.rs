//! Money flows through the whole TON stack except TON itself: `TonLedger → LiteChain →
//! liteserver client (ADNL, lite_api, proof checks, quorum of 3) → mock liteservers →
//! contract-SIMULATING MockChain`, bridged by `cocoon_ton::mock_lite`. A client's life
//! (deploy, top-up, charge by voucher, refund, withdraw after the delay), a worker payout,
//! and the proxy's save_state, each observed back through the liteservers.

use std::sync::Arc;
use std::time::Duration;

use cocoon_ledger::accounting::ONE_TON;
use cocoon_ledger::ledger::{ContractStatus, Ledger, LedgerError, SavedState};
use cocoon_ledger::root_config::RootConfig;
use cocoon_ledger::voucher::{self, VoucherKind, VoucherTerms};
use cocoon_liteclient::mock::global_config_json;
use cocoon_liteclient::{ClientOptions, GlobalConfig, LiteClient};
use cocoon_ton::chain::ChainAccess;
use cocoon_ton::lite_chain::LiteChain;
use cocoon_ton::mock_chain::MockChain;
use cocoon_ton::mock_lite::MockLiteBridge;
use cocoon_ton::ton_ledger::{MessageStatus, TonLedger, TonLedgerConfig};
use ed25519_dalek::SigningKey;
use tonlib_core::cell::{ArcCell, CellBuilder};
use tonlib_core::{TonAddress, TonHash};

fn wallet_code() -> ArcCell {
    let mut b = CellBuilder::new();
    b.store_slice(b"cocoon-rs test wallet code (not executable)")
        .expect("bits");
    Arc::new(b.build().expect("cell"))
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn addr(byte: u8) -> TonAddress {
    TonAddress::new(0, TonHash::from([byte; 32]))
}

/// The simulated chain behind three mock liteservers on an in-memory network.
struct Net {
    bridge: MockLiteBridge,
    chain: Arc<MockChain>,
    config: GlobalConfig,
    network: cocoon_liteclient::mock::MockNetwork,
}

async fn net() -> Net {
    let chain = Arc::new(MockChain::new(RootConfig::devnet_default()).expect("mock chain"));
    let bridge = MockLiteBridge::new(chain.clone(), 3).await.expect("bridge");
    let (network, entries) = bridge.network();
    let config = GlobalConfig::from_json(&global_config_json(&entries)).expect("config");
    Net {
        bridge,
        chain,
        config,
        network,
    }
}

impl Net {
    fn lite_chain(&self) -> LiteChain {
        let options = ClientOptions {
            connect_timeout: Duration::from_secs(2),
            query_timeout: Duration::from_secs(3),
            rounds: 2,
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(50),
            ..ClientOptions::default()
        };
        let client = LiteClient::with_connector(
            self.config.clone(),
            options,
            Arc::new(self.network.clone()),
        )
        .expect("client");
        let engine = self.chain.clone();
        LiteChain::new(Arc::new(client))
            .with_max_block_age(Duration::ZERO)
            .with_clock(move || engine.engine().now())
    }

    /// A ledger whose wallet key is `seed` (owner `addr(seed)`), funded with `funds`.
    async fn ledger(&self, seed: u8, funds: u128) -> TonLedger {
        let chain: Arc<dyn ChainAccess> = Arc::new(self.lite_chain());
        let mut config = TonLedgerConfig::new(
            self.chain.root_address(),
            true,
            wallet_code(),
            key(seed),
            addr(seed),
        );
        config.proxy_signing_key = Some(key(seed.wrapping_add(100)));
        config.call_timeout = Duration::from_secs(20);
        let ledger = TonLedger::new(chain, config).expect("ledger");
        if funds > 0 {
            self.chain
                .fund(ledger.wallet_address(), funds)
                .expect("fund");
        }
        self.bridge.pump().await.expect("pump");
        ledger
    }

    /// `rounds` × (a refresh round of every ledger, then a bridge step).
    async fn settle(&self, ledgers: &[&TonLedger], rounds: usize) {
        for _ in 0..rounds {
            for l in ledgers {
                l.refresh_now().await.expect("refresh");
            }
            self.bridge.pump().await.expect("pump");
        }
    }

    async fn deploy_proxy(&self, proxy: &TonLedger) -> TonAddress {
        self.settle(&[proxy], 1).await;
        let wallet = proxy.wallet_address().clone();
        let sc = proxy
            .proxy_deploy(&wallet, &key(101).verifying_key(), 5 * ONE_TON)
            .expect("deploy");
        self.settle(&[proxy], 2).await;
        sc
    }
}

fn voucher(proxy: &TonLedger, kind: VoucherKind, target: &TonAddress, tokens: u64) -> Vec<u8> {
    voucher::sign(
        &key(101),
        VoucherTerms {
            kind,
            qid: tokens ^ 0x55,
            tokens,
            target: target.clone(),
        },
        proxy.wallet_address(),
    )
    .expect("voucher")
    .boc
}

/// A read that fails with "not synced yet" until the next round watched the contract.
async fn after_round<T>(
    net: &Net,
    ledger: &TonLedger,
    mut op: impl FnMut() -> Result<T, LedgerError>,
) -> Result<T, LedgerError> {
    match op() {
        Err(LedgerError::Storage(e)) if e.contains("not synced") => {
            net.settle(&[ledger], 1).await;
            op()
        }
        other => other,
    }
}

#[tokio::test]
async fn proxy_deploy_and_save_state_through_liteservers() {
    let net = net().await;
    let proxy = net.ledger(1, 100 * ONE_TON).await;
    let report = proxy.refresh_now().await.expect("first round");
    assert!(
        report.root_adopted,
        "root config read through the liteservers"
    );
    assert_eq!(
        proxy.root_config().expect("root"),
        RootConfig::devnet_default()
    );
    assert_eq!(
        proxy
            .wallet_balance(proxy.wallet_address())
            .expect("wallet"),
        100 * ONE_TON
    );
    let psc = net.deploy_proxy(&proxy).await;
    let state = proxy.proxy_state(&psc).expect("proxy state");
    assert_eq!(state.status, ContractStatus::Active);
    assert_eq!(state.stake, 5 * ONE_TON);

    let me = proxy.wallet_address().clone();
    let saved = SavedState {
        seqno: 3,
        session_hash: [0x77; 32],
    };
    proxy.proxy_save_state(&me, &psc, saved).expect("submit");
    net.settle(&[&proxy], 2).await;
    assert_eq!(
        proxy.proxy_state(&psc).expect("state").saved_states,
        vec![saved],
        "save_state observed in the proxy contract's transactions"
    );
    assert!(proxy.pending_messages().is_empty());
    // What the liteservers received is what the simulated chain executed.
    let received: usize = net
        .bridge
        .servers()
        .iter()
        .map(|s| s.sent_messages().len())
        .sum();
    assert_eq!(received, net.chain.externals_accepted());
    assert!(net.chain.failed_messages().is_empty());
}

#[tokio::test]
async fn client_lifecycle_through_liteservers() {
    let net = net().await;
    let proxy = net.ledger(1, 100 * ONE_TON).await;
    let client = net.ledger(2, 100 * ONE_TON).await;
    let psc = net.deploy_proxy(&proxy).await;

    let me = client.wallet_address().clone();
    net.settle(&[&client], 1).await;
    let csc = after_round(&net, &client, || client.client_deploy(&me, &psc))
        .await
        .expect("client deploy");
    net.settle(&[&client], 2).await;
    let state = client.client_state(&csc).expect("client state");
    assert_eq!(state.status, ContractStatus::Active);
    assert_eq!(state.stake, ONE_TON);

    client
        .client_top_up(&me, &csc, 10 * ONE_TON)
        .expect("top up");
    net.settle(&[&client], 2).await;
    assert_eq!(
        client.client_state(&csc).expect("state").balance,
        10 * ONE_TON
    );

    let v = voucher(&proxy, VoucherKind::ClientCharge, &csc, 1000);
    let settlement = after_round(&net, &proxy, || proxy.client_charge(&csc, &v))
        .await
        .expect("charge");
    assert_eq!((settlement.tokens, settlement.amount), (1000, 2000));
    net.settle(&[&proxy, &client], 2).await;
    let state = client.client_state(&csc).expect("state");
    assert_eq!(state.tokens_used, 1000);
    assert_eq!(state.balance, 10 * ONE_TON - 2000);
    // No commission at charge time: it is booked when a worker payout arrives.
    assert_eq!(proxy.proxy_state(&psc).expect("proxy").commission, 0);

    let unlock = client.client_request_refund(&me, &csc).expect("refund");
    net.settle(&[&client], 2).await;
    let state = client.client_state(&csc).expect("state");
    assert_eq!(state.status, ContractStatus::Closing);
    assert_eq!(state.unlock_ts, unlock);
    // Withdraw is refused outside Active (the contract: exit 1006); a second refund
    // request waits until strictly after the unlock time (exit 1011).
    assert!(matches!(
        client.client_withdraw(&me, &csc),
        Err(LedgerError::WrongState(_))
    ));
    assert!(matches!(
        client.client_request_refund(&me, &csc),
        Err(LedgerError::Locked { .. })
    ));
    net.chain.advance_clock(301).expect("clock");
    net.bridge.pump().await.expect("pump");
    net.settle(&[&client], 1).await;
    let before = client.client_state(&csc).expect("state");
    let again = client
        .client_request_refund(&me, &csc)
        .expect("second request");
    assert_eq!(again, unlock);
    // The first request already returned the money above the stake (contracts.md
    // §3.1.7), down to the stake; the second one forces the refund of the rest, capped by
    // the proxy's stake.
    assert_eq!((before.balance, before.stake), (ONE_TON, ONE_TON));
    net.settle(&[&client], 2).await;
    assert_eq!(
        client.client_state(&csc).expect("state").status,
        ContractStatus::Closed
    );
    assert_eq!(
        client.wallet_balance(&me).expect("wallet"),
        100 * ONE_TON - 2000
    );
    let history = client.message_history();
    let whats: Vec<&str> = history.iter().map(|m| m.what).collect();
    assert_eq!(
        whats,
        [
            "client_deploy",
            "client_top_up",
            "client_request_refund",
            "client_request_refund"
        ]
    );
    assert!(history
        .iter()
        .all(|m| matches!(m.status, MessageStatus::Confirmed { .. })));
    assert!(
        net.chain.failed_messages().is_empty(),
        "{:?}",
        net.chain.failed_messages()
    );
}

#[tokio::test]
async fn worker_payout_through_liteservers() {
    let net = net().await;
    let proxy = net.ledger(1, 100 * ONE_TON).await;
    let worker = net.ledger(3, 10 * ONE_TON).await;
    let psc = net.deploy_proxy(&proxy).await;
    let me = worker.wallet_address().clone();
    net.settle(&[&worker], 1).await;
    let wsc = after_round(&net, &worker, || worker.worker_deploy(&me, &psc))
        .await
        .expect("worker deploy");
    net.settle(&[&worker], 2).await;
    assert_eq!(worker.worker_state(&wsc).expect("state").tokens, 0);
    let before = worker.wallet_balance(&me).expect("balance");

    let v = voucher(&proxy, VoucherKind::WorkerPayout, &wsc, 500);
    let paid = worker.worker_payout(&wsc, &v).expect("payout");
    assert_eq!((paid.tokens, paid.amount), (500, 500));
    net.settle(&[&worker], 2).await;
    assert_eq!(worker.worker_state(&wsc).expect("state").tokens, 500);
    assert_eq!(
        worker.wallet_balance(&me).expect("balance"),
        before + 500,
        "the payout shows in the wallet balance read through the liteservers"
    );
    assert!(
        net.chain.failed_messages().is_empty(),
        "{:?}",
        net.chain.failed_messages()
    );
}
