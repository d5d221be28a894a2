//! Tests of [`super::WorkerMoney`] on an in-memory **devnet** ledger: deployment at first
//! contact, thresholds in nanoTON (runners.md §13.15), idle payouts, manual payout, and a
//! payout the proxy contract could not pay.

use std::sync::Arc;

use cocoon_ledger::accounting::ONE_TON;
use cocoon_ledger::ledger::{DevnetLedger, Ledger};
use cocoon_ledger::root_config::RootConfig;
use cocoon_ledger::voucher::{self, VoucherKind, VoucherTerms};
use cocoon_wire::schema::{enums, types};
use ed25519_dalek::SigningKey;
use tonlib_core::TonAddress;

use super::WorkerMoney;
use crate::common::vouchers::PaymentsBook;
use crate::worker::PayoutPolicy;

const WORKER: &str = "0:4444444444444444444444444444444444444444444444444444444444444444";
const PROXY_OWNER: &str = "0:2222222222222222222222222222222222222222222222222222222222222222";
const PROXY: &str = "127.0.0.1:9";

fn address(text: &str) -> TonAddress {
    cocoon_ledger::address::parse_address(text)
        .expect("address")
        .address
}

/// A devnet with a proxy contract, worker fee `fee`; returns the worker contract too.
fn setup(
    fee: u64,
    policy: PayoutPolicy,
) -> (
    Arc<DevnetLedger>,
    SigningKey,
    WorkerMoney,
    PaymentsBook,
    TonAddress,
) {
    let mut config = RootConfig::devnet_default();
    config.params.worker_fee_per_token = fee;
    config.params.price_per_token = fee.max(2);
    let ledger = Arc::new(DevnetLedger::in_memory(config).expect("ledger"));
    let key = SigningKey::from_bytes(&[6; 32]);
    ledger
        .devnet_fund(&address(PROXY_OWNER), 5 * ONE_TON)
        .expect("fund");
    let proxy_sc = ledger
        .proxy_deploy(&address(PROXY_OWNER), &key.verifying_key(), 5 * ONE_TON)
        .expect("proxy contract");
    let params = types::proxy::Params {
        flags: 3,
        proxy_public_key: key.verifying_key().to_bytes(),
        proxy_owner_address: PROXY_OWNER.into(),
        proxy_sc_address: proxy_sc.to_hex(),
        is_test: Some(true),
        proto_version: Some(4),
    };
    let money = WorkerMoney::new(ledger.clone(), WORKER, policy).expect("money");
    let book = PaymentsBook::default();
    let root = money.contract_context().expect("context");
    book.connected_in(PROXY, VoucherKind::WorkerPayout, WORKER, &params, &root);
    let sc = book
        .view(PROXY)
        .and_then(|v| v.our_sc)
        .expect("our contract");
    // A proxy announcing another contract (a root params change one side has not read
    // yet) gets no deploy; the announcement the proxy derives like us does.
    let stranger = cocoon_ledger::address::random_friendly_address();
    money.prepare(PROXY, &params, &stranger);
    assert!(
        matches!(
            ledger.worker_state(&sc),
            Err(cocoon_ledger::ledger::LedgerError::UnknownContract(_))
        ),
        "not deployed while the addresses disagree"
    );
    money.prepare(PROXY, &params, &sc.to_hex());
    assert!(
        ledger.worker_state(&sc).is_ok(),
        "deployed at first contact"
    );
    (ledger, key, money, book, sc)
}

fn earn(key: &SigningKey, book: &PaymentsBook, sc: &TonAddress, tokens: u64) {
    let terms = VoucherTerms {
        kind: VoucherKind::WorkerPayout,
        qid: tokens,
        tokens,
        target: sc.clone(),
    };
    let v = voucher::sign(key, terms, &address(PROXY_OWNER)).expect("sign");
    let p = enums::proxy::SignedPayment::SignedPayment(types::proxy::SignedPayment { data: v.boc });
    let wire = i64::try_from(tokens).expect("tokens");
    book.offer(PROXY, &p, wire, wire);
}

fn wallet(ledger: &DevnetLedger) -> u128 {
    ledger.wallet_balance(&address(WORKER)).expect("wallet")
}

#[test]
fn thresholds_compare_nanoton_with_nanoton() {
    let policy = PayoutPolicy {
        threshold_nanoton: 10_000,
        idle_threshold_nanoton: 500,
        ..PayoutPolicy::devnet()
    };
    // Fee 3 nanoTON per token: 3000 tokens owed are 9000 nanoTON, below 10000 while busy.
    let (ledger, key, money, book, sc) = setup(3, policy);
    earn(&key, &book, &sc, 3000);
    money.tick(&book, false);
    assert_eq!(wallet(&ledger), 0, "9000 nanoTON < 10000 while busy");
    // 3334 tokens are 10002 nanoTON: paid although the token count is below 10000
    // (the reference would compare 3334 tokens with 10000 and wait).
    earn(&key, &book, &sc, 3334);
    money.tick(&book, false);
    assert_eq!(wallet(&ledger), 3334 * 3);
    assert_eq!(ledger.worker_state(&sc).expect("state").tokens, 3334);
    let stats = money.contract_json(PROXY).expect("stats");
    assert_eq!(stats["paid"], 3334);
    assert_eq!(stats["sc_inited"], true);
}

#[test]
fn idle_pays_out_smaller_amounts() {
    let policy = PayoutPolicy {
        threshold_nanoton: 10_000,
        idle_threshold_nanoton: 500,
        ..PayoutPolicy::devnet()
    };
    let (ledger, key, money, book, sc) = setup(1, policy);
    earn(&key, &book, &sc, 400);
    money.tick(&book, true);
    assert_eq!(wallet(&ledger), 0, "400 nanoTON < idle threshold 500");
    earn(&key, &book, &sc, 600);
    money.tick(&book, false);
    assert_eq!(wallet(&ledger), 0, "busy: 600 < 10000");
    money.tick(&book, true);
    assert_eq!(wallet(&ledger), 600, "idle: 600 ≥ 500");
}

#[test]
fn manual_payout_pays_whatever_is_owed() {
    let (ledger, key, money, book, sc) = setup(1, PayoutPolicy::reference());
    earn(&key, &book, &sc, 7);
    money.tick(&book, true);
    assert_eq!(
        wallet(&ledger),
        0,
        "reference thresholds: 7 nanoTON is too little"
    );
    let proxy_sc = ledger.worker_state(&sc).expect("state").proxy_sc;
    let out = money.payout_now(&proxy_sc, &book).expect("payout");
    assert!(out.contains("7 tokens"), "{out}");
    assert_eq!(wallet(&ledger), 7);
    assert_eq!(
        money.payout_now(PROXY, &book).expect("nothing"),
        "nothing to pay out"
    );
    assert!(money.payout_now("nowhere", &book).is_err());
    let (balance, _) = money.wallet_json();
    assert_eq!(balance, serde_json::json!(7));
}

#[test]
fn an_outdated_contract_is_paid_out_at_once_and_forgotten_when_closed() {
    let policy = PayoutPolicy {
        threshold_nanoton: 10_000,
        idle_threshold_nanoton: 5_000,
        ..PayoutPolicy::devnet()
    };
    let (ledger, key, money, book, sc) = setup(1, policy);
    earn(&key, &book, &sc, 40);
    money.tick(&book, true);
    assert_eq!(wallet(&ledger), 0, "40 nanoTON is below both thresholds");
    let mut root = ledger.root_config().expect("root");
    root.params.params_version += 1;
    ledger.devnet_set_config(root).expect("bump");
    money.tick(&book, false);
    assert_eq!(
        wallet(&ledger),
        40,
        "outdated: paid out whatever the threshold"
    );
    // The proxy's last payout closes the contract (nothing more owed); then it is forgotten.
    let terms = VoucherTerms {
        kind: VoucherKind::WorkerLastPayout,
        qid: 77,
        tokens: 40,
        target: sc.clone(),
    };
    let last = voucher::sign(&key, terms, &address(PROXY_OWNER)).expect("sign");
    ledger
        .worker_last_payout(&sc, &last.boc)
        .expect("last payout");
    money.tick(&book, false);
    assert!(
        money.contract_json(PROXY).is_none(),
        "closed contract forgotten"
    );
    assert_eq!(wallet(&ledger), 40);
}

#[test]
fn a_payout_the_proxy_contract_cannot_pay_is_reported_not_hidden() {
    let (ledger, key, money, book, sc) = setup(1, PayoutPolicy::devnet());
    // 6 TON owed (fee 1 nanoTON per token) and the proxy contract holds a 5 TON stake: the
    // proxy contract cannot pay; the voucher is used up all the same (contracts.md §3.3.1).
    let tokens = u64::try_from(6 * ONE_TON).expect("tokens");
    earn(&key, &book, &sc, tokens);
    money.tick(&book, true);
    let state = ledger.worker_state(&sc).expect("state");
    assert_eq!(state.tokens, tokens, "the voucher is used up");
    assert_eq!(state.payouts_bounced, 1);
    assert_eq!(wallet(&ledger), 0, "no money arrived");
    let stats = money.contract_json(PROXY).expect("stats");
    assert_eq!(stats["payouts_bounced"], 1);
    let error = stats["money_error"].as_str().unwrap_or_default();
    assert!(error.contains("bounced at the proxy contract"), "{stats}");
    // Still said on later rounds (nothing can get that money back from here).
    money.tick(&book, true);
    let stats = money.contract_json(PROXY).expect("stats");
    assert!(stats["money_error"].as_str().is_some(), "{stats}");
}
