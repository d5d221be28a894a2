//! `TonLedger` against the REAL contract code (`cocoon_ton::sandbox::SandboxChain`: the
//! vectors' compiled code executed in `@ton/sandbox`), for what our model cannot show:
//! a worker payout the proxy contract cannot pay is bounced by the real proxy code
//! (contracts.md §3.3.1, exit 5) — the worker contract's tokens advance anyway (the voucher
//! is used up) — and the worker's ledger reports it (`payouts_bounced`).
//!
//! Needs `COCOON_VECTORS`, `node` and `contracts-sandbox/node_modules`; skipped saying why
//! without them, a failure in CI (`CI` set).

use std::path::PathBuf;
use std::sync::Arc;

use cocoon_ledger::accounting::ONE_TON;
use cocoon_ledger::ledger::{Ledger, LedgerError};
use cocoon_ledger::root_config::RootConfig;
use cocoon_ledger::voucher::{self, VoucherKind, VoucherTerms};
use cocoon_ton::chain::ChainAccess;
use cocoon_ton::sandbox::{SandboxChain, SandboxSetup};
use cocoon_ton::ton_ledger::{TonLedger, TonLedgerConfig};
use ed25519_dalek::SigningKey;
use tonlib_core::{TonAddress, TonHash};

/// The sandbox setup, or `None` after saying why (a failure in CI).
fn setup() -> Option<SandboxSetup> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts-sandbox");
    SandboxSetup::from_env_for_tests(&dir)
}

fn addr(byte: u8) -> TonAddress {
    TonAddress::new(0, TonHash::from([byte; 32]))
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// A ledger with wallet key `seed`, owner `addr(seed)`, its wallet funded with 20 TON.
fn ledger(chain: &Arc<SandboxChain>, seed: u8, proxy_key: Option<SigningKey>) -> TonLedger {
    let dyn_chain: Arc<dyn ChainAccess> = chain.clone();
    let wallet_code = chain.code("wallet").expect("wallet code");
    let mut config = TonLedgerConfig::new(
        chain.root_address(),
        true,
        wallet_code,
        key(seed),
        addr(seed),
    );
    config.proxy_signing_key = proxy_key;
    let ledger = TonLedger::new(dyn_chain, config).expect("ledger");
    chain
        .fund(ledger.wallet_address(), 20 * ONE_TON)
        .expect("fund");
    ledger
}

/// Refresh rounds of every ledger until `done` holds (at most 60 rounds); "not synced yet"
/// and "unknown contract" answers are waited out (a write refused so sends nothing).
async fn until<T>(
    ledgers: &[&TonLedger],
    what: &str,
    mut done: impl FnMut() -> Result<Option<T>, LedgerError>,
) -> T {
    for _ in 0..60 {
        for l in ledgers {
            l.refresh_now().await.expect("refresh");
        }
        match done() {
            Ok(Some(v)) => return v,
            Ok(None) | Err(LedgerError::Storage(_)) | Err(LedgerError::UnknownContract(_)) => {}
            Err(e) => panic!("{what}: {e}"),
        }
    }
    panic!("{what}: not after 60 refresh rounds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_the_proxy_contract_cannot_pay_bounces_and_the_worker_sees_it() {
    let Some(setup) = setup() else { return };
    let mut root = RootConfig::devnet_default();
    root.params.struct_version = 3;
    root.params.price_per_token = 10_000;
    root.params.worker_fee_per_token = 9_000;
    root.params.min_proxy_stake = 2 * ONE_TON;
    let chain = Arc::new(SandboxChain::start(&setup, 1_800_000_000, &root).expect("sandbox"));
    let proxy_key = key(101);
    let proxy = ledger(&chain, 1, Some(proxy_key.clone()));
    let worker = ledger(&chain, 2, None);
    let both = [&proxy, &worker];
    until(&both, "first sync", || proxy.root_config().map(Some)).await;
    until(&both, "first sync", || worker.root_config().map(Some)).await;

    // The proxy contract holds its 2 TON stake and what is left of the deploy value.
    let proxy_wallet = proxy.wallet_address().clone();
    let proxy_sc = until(&both, "proxy deploy sent", || {
        proxy
            .proxy_deploy(&proxy_wallet, &proxy_key.verifying_key(), 2 * ONE_TON)
            .map(Some)
    })
    .await;
    until(&both, "proxy stake", || {
        Ok(proxy
            .proxy_state(&proxy_sc)?
            .stake
            .eq(&(2 * ONE_TON))
            .then_some(()))
    })
    .await;
    let worker_sc = until(&both, "worker deploy sent", || {
        worker.worker_deploy(&addr(2), &proxy_sc).map(Some)
    })
    .await;
    until(&both, "worker contract", || {
        worker.worker_state(&worker_sc).map(Some)
    })
    .await;

    let voucher_for = |tokens: u64| {
        let terms = VoucherTerms {
            kind: VoucherKind::WorkerPayout,
            qid: tokens,
            tokens,
            target: worker_sc.clone(),
        };
        voucher::sign(&proxy_key, terms, worker.wallet_address())
            .expect("sign")
            .boc
    };
    // 1 000 tokens × 9 000 = 0.009 TON: paid.
    until(&both, "payout sent", || {
        worker
            .worker_payout(&worker_sc, &voucher_for(1_000))
            .map(Some)
    })
    .await;
    let paid = until(&both, "the small payout", || {
        let s = worker.worker_state(&worker_sc)?;
        Ok((s.tokens == 1_000).then_some(s))
    })
    .await;
    assert_eq!(paid.payouts_bounced, 0, "a payable payout does not bounce");

    // 1 000 000 tokens × 9 000 = 9 TON, more than the proxy contract holds: the real proxy
    // code refuses (exit 5) and bounces; the worker contract's tokens advanced regardless.
    until(&both, "payout sent", || {
        worker
            .worker_payout(&worker_sc, &voucher_for(1_000_000))
            .map(Some)
    })
    .await;
    let used_up = until(&both, "the bounced payout seen", || {
        let s = worker.worker_state(&worker_sc)?;
        Ok((s.payouts_bounced > 0).then_some(s))
    })
    .await;
    assert_eq!(
        used_up.tokens, 1_000_000,
        "the voucher is used up on the real code"
    );
    assert_eq!(used_up.payouts_bounced, 1);
    assert!(
        chain.failures().iter().any(|f| f.contains("exit Some(5)")),
        "the proxy contract failed with exit 5: {:?}",
        chain.failures()
    );
}
