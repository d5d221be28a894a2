//! Tests of [`super::ClientMoney`] on an in-memory **devnet** ledger with a real proxy
//! contract and vouchers signed by its key.

use std::sync::Arc;

use cocoon_ledger::accounting::ONE_TON;
use cocoon_ledger::ledger::{ContractStatus, DevnetLedger, Ledger};
use cocoon_ledger::root_config::RootConfig;
use cocoon_ledger::voucher::{self, VoucherKind, VoucherTerms};
use cocoon_wire::schema::{enums, types};
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use tonlib_core::TonAddress;

use super::{ClientMoney, MoneyError};
use crate::client::ClientMoneyPolicy;
use crate::common::vouchers::PaymentsBook;

const CLIENT: &str = "0:1111111111111111111111111111111111111111111111111111111111111111";
const PROXY_OWNER: &str = "0:2222222222222222222222222222222222222222222222222222222222222222";
const PROXY: &str = "127.0.0.1:9";

fn address(text: &str) -> TonAddress {
    cocoon_ledger::address::parse_address(text)
        .expect("address")
        .address
}

struct Net {
    ledger: Arc<DevnetLedger>,
    key: SigningKey,
    params: types::proxy::Params,
}

fn net(client_funds: u128) -> Net {
    let ledger = Arc::new(DevnetLedger::in_memory(RootConfig::devnet_default()).expect("ledger"));
    let key = SigningKey::from_bytes(&[5; 32]);
    ledger
        .devnet_fund(&address(PROXY_OWNER), 2 * ONE_TON)
        .expect("fund proxy");
    ledger
        .devnet_fund(&address(CLIENT), client_funds)
        .expect("fund client");
    let proxy_sc = ledger
        .proxy_deploy(&address(PROXY_OWNER), &key.verifying_key(), ONE_TON)
        .expect("proxy contract");
    let params = types::proxy::Params {
        flags: 3,
        proxy_public_key: key.verifying_key().to_bytes(),
        proxy_owner_address: PROXY_OWNER.into(),
        proxy_sc_address: proxy_sc.to_hex(),
        is_test: Some(true),
        proto_version: Some(4),
    };
    Net {
        ledger,
        key,
        params,
    }
}

fn money(net: &Net, margin: Option<u64>) -> ClientMoney {
    let policy = ClientMoneyPolicy {
        force_charge_margin_tokens: margin,
        ..ClientMoneyPolicy::default()
    };
    ClientMoney::new(net.ledger.clone(), CLIENT, "s3cret", policy).expect("money")
}

fn pay(net: &Net, book: &PaymentsBook, client_sc: &TonAddress, tokens: u64, max: i64) {
    let terms = VoucherTerms {
        kind: VoucherKind::ClientCharge,
        qid: 1 + tokens,
        tokens,
        target: client_sc.clone(),
    };
    let excess = address(PROXY_OWNER);
    let signed = voucher::sign(&net.key, terms, &excess).expect("sign");
    let payment = enums::proxy::SignedPayment::SignedPayment(types::proxy::SignedPayment {
        data: signed.boc,
    });
    book.offer(PROXY, &payment, max, max);
}

#[test]
fn first_contact_deploys_stakes_sets_the_secret_and_tops_up() {
    let net = net(10 * ONE_TON);
    let money = money(&net, None);
    let sc = money.prepare(PROXY, &net.params, "").expect("prepare");
    let state = net.ledger.client_state(&sc).expect("deployed");
    assert_eq!(state.status, ContractStatus::Active);
    assert_eq!(state.stake, ONE_TON, "min_client_stake");
    assert_eq!(
        state.balance, ONE_TON,
        "topped up by the stake rounded down to a multiple of the price (2)"
    );
    let hash: [u8; 32] = Sha256::digest(b"s3cret").into();
    assert_eq!(state.secret_hash, hash);
    // The stake is a figure inside the balance (no money for it): only the top-up left.
    assert_eq!(
        net.ledger.wallet_balance(&address(CLIENT)).expect("wallet"),
        9 * ONE_TON
    );
    // A second contact changes nothing (already deployed, staked, funded).
    assert_eq!(money.prepare(PROXY, &net.params, "").expect("again"), sc);
    assert_eq!(net.ledger.client_state(&sc).expect("state"), state);
    let (balance, wallet) = money.wallet_json();
    assert_eq!(balance, serde_json::json!(9 * ONE_TON as u64));
    assert_eq!(wallet["address"], CLIENT);
}

/// A proxy that announces another client contract than the one our root params give (one
/// side has not read a params change yet) gets no deploy: it would be a contract the proxy
/// never charges, or an outdated one. Once the announcement matches, first contact works.
#[test]
fn no_deploy_while_the_proxy_announces_another_contract() {
    let net = net(10 * ONE_TON);
    let money = money(&net, None);
    let stranger = cocoon_ledger::address::random_friendly_address();
    let err = money
        .prepare(PROXY, &net.params, &stranger)
        .expect_err("mismatch");
    assert!(err.to_string().contains("not deploying"), "{err}");
    assert_eq!(
        net.ledger.wallet_balance(&address(CLIENT)).expect("wallet"),
        10 * ONE_TON,
        "nothing deployed, nothing spent"
    );
    let sc = money.prepare(PROXY, &net.params, "").expect("prepare");
    let announced = sc.to_base64_url();
    assert_eq!(
        money
            .prepare(PROXY, &net.params, &announced)
            .expect("matches"),
        sc
    );
}

#[test]
fn a_poor_wallet_gets_an_error_naming_the_devnet_faucet() {
    // (the hint comes from the ledger: `Ledger::funding_hint`)
    let net = net(ONE_TON / 2);
    let err = money(&net, None)
        .prepare(PROXY, &net.params, "")
        .expect_err("too poor");
    assert!(matches!(err, MoneyError::WalletTooPoor { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("cocoon devnet fund") && text.contains(CLIENT),
        "{text}"
    );
}

#[test]
fn top_up_when_the_balance_falls_below_half_the_stake() {
    let net = net(10 * ONE_TON);
    let money = money(&net, None);
    let book = PaymentsBook::default();
    book.connected(PROXY, VoucherKind::ClientCharge, CLIENT, &net.params);
    let sc = money.prepare(PROXY, &net.params, "").expect("prepare");
    // The proxy charges 0.3 TON + 0.3 TON worth of tokens: balance 0.4 TON < stake / 2.
    let tokens = 3 * ONE_TON as u64 / 10 / 2;
    for t in [tokens, 2 * tokens] {
        let terms = VoucherTerms {
            kind: VoucherKind::ClientCharge,
            qid: t,
            tokens: t,
            target: sc.clone(),
        };
        let v = voucher::sign(&net.key, terms, &address(PROXY_OWNER)).expect("sign");
        net.ledger.client_charge(&sc, &v.boc).expect("charge");
    }
    assert_eq!(
        net.ledger.client_state(&sc).expect("s").balance,
        4 * ONE_TON / 10
    );
    money.tick(&book);
    assert_eq!(
        net.ledger.client_state(&sc).expect("s").balance,
        14 * ONE_TON / 10,
        "topped up by one stake"
    );
}

#[test]
fn force_charge_submits_the_best_voucher_past_the_margin() {
    let net = net(10 * ONE_TON);
    let book = PaymentsBook::default();
    book.connected(PROXY, VoucherKind::ClientCharge, CLIENT, &net.params);
    // Reference margin: half the stake in tokens (2.5e8 here): nothing is charged.
    let reference = money(&net, None);
    let sc = reference.prepare(PROXY, &net.params, "").expect("prepare");
    pay(&net, &book, &sc, 40, 40);
    reference.tick(&book);
    assert_eq!(net.ledger.client_state(&sc).expect("s").tokens_used, 0);

    // With a margin of 10 tokens, 40 > 0 + 10: the voucher is charged, 40 × 2 nanoTON.
    let eager = money(&net, Some(10));
    eager.prepare(PROXY, &net.params, "").expect("prepare");
    eager.tick(&book);
    let state = net.ledger.client_state(&sc).expect("s");
    assert_eq!(state.tokens_used, 40);
    assert_eq!(state.balance, ONE_TON - 80);
    // The same voucher again is not an error.
    assert!(eager.manual("charge", PROXY, &book).is_ok());
    let stats = eager.contract_json(PROXY).expect("json");
    assert_eq!(stats["tokens_charged"], 40);
    assert_eq!(stats["sc_address"], sc.to_hex());
}

#[test]
fn close_twice_after_the_delay_returns_everything() {
    let net = net(10 * ONE_TON);
    let money = money(&net, None);
    let book = PaymentsBook::default();
    let sc = money.prepare(PROXY, &net.params, "").expect("prepare");
    let proxy_sc = net.params.proxy_sc_address.clone();
    let out = money.manual("close", &proxy_sc, &book).expect("close");
    assert!(out.contains("refund requested"), "{out}");
    // Withdraw is Active-only (the contract answers 1006 while Closing).
    let err = money.manual("withdraw", PROXY, &book).expect_err("closing");
    assert!(err.to_string().contains("closing"), "{err}");
    // The second request waits until strictly after the unlock time (1011 at it).
    net.ledger.devnet_advance_clock(300).expect("clock");
    let err = money
        .manual("close", PROXY, &book)
        .expect_err("still locked");
    assert!(err.to_string().contains("locked"), "{err}");
    net.ledger.devnet_advance_clock(1).expect("clock");
    let out = money.manual("close", PROXY, &book).expect("second close");
    assert!(out.contains("refund forced"), "{out}");
    assert_eq!(
        net.ledger.client_state(&sc).expect("s").status,
        ContractStatus::Closed
    );
    assert_eq!(
        net.ledger.wallet_balance(&address(CLIENT)).expect("w"),
        10 * ONE_TON
    );
    money.tick(&book);
    assert!(
        money.contract_json(PROXY).is_none(),
        "a closed contract is forgotten"
    );
    assert!(money.manual("frobnicate", PROXY, &book).is_err());
}

fn bump_params(net: &Net) {
    let mut root = net.ledger.root_config().expect("root");
    root.params.params_version += 1;
    net.ledger.devnet_set_config(root).expect("bump");
}

#[test]
fn an_outdated_contract_not_refunded_by_the_proxy_is_closed_by_our_two_refund_requests() {
    let net = net(10 * ONE_TON);
    let money = money(&net, None);
    let book = PaymentsBook::default();
    let sc = money.prepare(PROXY, &net.params, "").expect("prepare");
    bump_params(&net);
    money.tick(&book);
    assert_eq!(money.old_contracts(), vec![sc.clone()]);
    assert!(
        money.contract_json(PROXY).is_none(),
        "forgotten until the proxy announces anew"
    );
    // The money held for us is the balance (the stake is a figure inside it).
    let held = net.ledger.client_state(&sc).expect("state").balance;
    // The proxy's chance first: (600 − 300) / 2 s.
    net.ledger.devnet_advance_clock(149).expect("clock");
    money.tick(&book);
    assert_eq!(
        net.ledger.client_state(&sc).expect("state").status,
        ContractStatus::Active
    );
    let wallet = net.ledger.wallet_balance(&address(CLIENT)).expect("wallet");
    net.ledger.devnet_advance_clock(1).expect("clock");
    money.tick(&book);
    let closing = net.ledger.client_state(&sc).expect("state");
    assert_eq!(closing.status, ContractStatus::Closing);
    // The first request returned the money above the stake at once (contracts.md §3.1.7).
    assert_eq!(closing.balance, held.min(closing.stake));
    assert_eq!(
        net.ledger.wallet_balance(&address(CLIENT)).expect("wallet"),
        wallet + held - closing.balance
    );
    // At the unlock time the contract still refuses the second request; one second later.
    net.ledger.devnet_advance_clock(300).expect("clock");
    money.tick(&book);
    assert_eq!(
        net.ledger.client_state(&sc).expect("state").status,
        ContractStatus::Closing
    );
    net.ledger.devnet_advance_clock(1).expect("clock");
    money.tick(&book);
    assert_eq!(
        net.ledger.client_state(&sc).expect("state").status,
        ContractStatus::Closed
    );
    assert_eq!(
        net.ledger.wallet_balance(&address(CLIENT)).expect("wallet"),
        wallet + held
    );
    assert!(money.old_contracts().is_empty());
}

#[test]
fn a_contract_refunded_by_the_proxy_is_forgotten() {
    let net = net(10 * ONE_TON);
    let money = money(&net, None);
    let book = PaymentsBook::default();
    let sc = money.prepare(PROXY, &net.params, "").expect("prepare");
    // The proxy announces another contract (as after its redeploy).
    let mut moved = net.params.clone();
    let other_key = SigningKey::from_bytes(&[6; 32]);
    net.ledger
        .devnet_fund(&address(PROXY_OWNER), ONE_TON)
        .expect("fund");
    moved.proxy_sc_address = net
        .ledger
        .proxy_deploy(&address(PROXY_OWNER), &other_key.verifying_key(), ONE_TON)
        .expect("second proxy contract")
        .to_hex();
    moved.proxy_public_key = other_key.verifying_key().to_bytes();
    let new_sc = money.prepare(PROXY, &moved, "").expect("prepare anew");
    assert_ne!(new_sc, sc);
    assert_eq!(money.old_contracts(), vec![sc.clone()]);
    let terms = VoucherTerms {
        kind: VoucherKind::ClientGrantRefund,
        qid: 9,
        tokens: 0,
        target: sc.clone(),
    };
    let refund = voucher::sign(&net.key, terms, &address(PROXY_OWNER)).expect("sign");
    net.ledger
        .client_grant_refund(&sc, &refund.boc)
        .expect("the proxy refunds");
    money.tick(&book);
    assert!(money.old_contracts().is_empty());
    assert_eq!(
        net.ledger.client_state(&new_sc).expect("new").status,
        ContractStatus::Active
    );
}

/// Issue 13: a top-up reaching a Closing proxy contract comes back to the wallet while the
/// client contract still counts it; the client refuses to send one.
#[test]
fn no_top_up_into_a_closing_proxy_contract() {
    let net = net(10 * ONE_TON);
    let money = money(&net, None);
    let sc = money.prepare(PROXY, &net.params, "").expect("prepare");
    let proxy_sc = address(&net.params.proxy_sc_address);
    net.ledger
        .proxy_request_close(&address(PROXY_OWNER), &proxy_sc)
        .expect("close request");
    let before = net.ledger.client_state(&sc).expect("s").balance;
    let err = money
        .manual("topup", PROXY, &PaymentsBook::default())
        .expect_err("refused");
    assert!(err.to_string().contains("not topping up"), "{err}");
    assert_eq!(net.ledger.client_state(&sc).expect("s").balance, before);
}
