//! Devnet tests of the old-contract close flow: a `params_version` bump, then the proxy's
//! close request, final client refund, worker last payout and close completion, with the
//! old contracts keeping their own prices and delays.

use ed25519_dalek::SigningKey;
use tonlib_core::{TonAddress, TonHash};

use super::*;
use crate::accounting::ONE_TON;
use crate::ledger::{ContractStatus, Ledger};
use crate::voucher::{self, VoucherKind, VoucherTerms};

fn wallet(byte: u8) -> TonAddress {
    TonAddress::new(0, TonHash::from([byte; 32]))
}

fn signed(key: &SigningKey, kind: VoucherKind, tokens: u64, target: &TonAddress) -> Vec<u8> {
    let terms = VoucherTerms {
        kind,
        qid: tokens ^ 0xABCD,
        tokens,
        target: target.clone(),
    };
    voucher::sign(key, terms, &wallet(0xFE)).expect("sign").boc
}

#[test]
fn old_contracts_close_with_their_own_params_after_a_params_bump() {
    let l = DevnetLedger::in_memory(RootConfig::devnet_default()).expect("devnet");
    let key = SigningKey::from_bytes(&[0x21; 32]);
    let (proxy_owner, client_owner, worker_owner) = (wallet(1), wallet(2), wallet(3));
    l.devnet_fund(&proxy_owner, 3 * ONE_TON).expect("fund");
    l.devnet_fund(&client_owner, 10 * ONE_TON).expect("fund");
    let old_params = l.root_config().expect("config").params;
    let proxy_sc = l
        .proxy_deploy(&proxy_owner, &key.verifying_key(), ONE_TON)
        .expect("proxy");
    let client_sc = l.client_deploy(&client_owner, &proxy_sc).expect("client");
    let worker_sc = l.worker_deploy(&worker_owner, &proxy_sc).expect("worker");
    l.client_top_up(&client_owner, &client_sc, 1000)
        .expect("top up");
    l.client_increase_stake(&client_owner, &client_sc, 500)
        .expect("stake");
    let charged = l
        .client_charge(
            &client_sc,
            &signed(&key, VoucherKind::ClientCharge, 100, &client_sc),
        )
        .expect("charge");
    assert_eq!(charged.amount, 100 * u128::from(old_params.price_per_token));

    // Bump: new prices and delays; the old contracts keep theirs.
    let mut bumped = l.root_config().expect("config");
    bumped.params.params_version += 1;
    bumped.params.price_per_token *= 10;
    bumped.params.worker_fee_per_token *= 10;
    bumped.params.proxy_delay_before_close += 1000;
    l.devnet_set_config(bumped.clone()).expect("bump");
    let mut lower = bumped.clone();
    lower.params.params_version -= 1;
    assert!(
        l.devnet_set_config(lower).is_err(),
        "params_version may not go down"
    );
    assert_eq!(
        l.proxy_state(&proxy_sc).expect("proxy").params_version,
        old_params.params_version
    );
    // The same owner and key derive a new proxy contract under the new params.
    let new_proxy = l
        .proxy_deploy(&proxy_owner, &key.verifying_key(), ONE_TON)
        .expect("new proxy");
    assert_ne!(new_proxy, proxy_sc);
    let new_state = l.proxy_state(&new_proxy).expect("new proxy");
    assert_eq!(new_state.params_version, bumped.params.params_version);

    let unlock = l
        .proxy_request_close(&proxy_owner, &proxy_sc)
        .expect("close");
    assert_eq!(
        unlock,
        l.now() + u64::from(old_params.proxy_delay_before_close),
        "old delay"
    );

    // Grant refund at 150 tokens: 50 more charged at the old price, the rest returned.
    let before = l.wallet_balance(&client_owner).expect("wallet");
    let grant = signed(&key, VoucherKind::ClientGrantRefund, 150, &client_sc);
    assert!(
        l.client_charge(&client_sc, &grant).is_err(),
        "a grant refund is not a charge voucher"
    );
    let settled = l.client_grant_refund(&client_sc, &grant).expect("refund");
    let price = u128::from(old_params.price_per_token);
    assert_eq!((settled.tokens, settled.amount), (50, 50 * price));
    let after = l.wallet_balance(&client_owner).expect("wallet");
    // The whole balance (1000 in, 150 tokens charged) comes back; the stake was only a
    // figure inside it and stays written in the closed contract.
    assert_eq!(after - before, 1000 - 150 * price);
    let cs = l.client_state(&client_sc).expect("client");
    assert_eq!(
        (cs.status, cs.balance, cs.stake, cs.tokens_used),
        (ContractStatus::Closed, 0, ONE_TON + 500, 150)
    );
    assert!(l.client_grant_refund(&client_sc, &grant).is_err(), "closed");

    // Last payout at 120 tokens: the old fee, then closed; later vouchers refused.
    let fee = u128::from(old_params.worker_fee_per_token);
    let last = signed(&key, VoucherKind::WorkerLastPayout, 120, &worker_sc);
    let paid = l
        .worker_last_payout(&worker_sc, &last)
        .expect("last payout");
    assert_eq!((paid.tokens, paid.amount), (120, 120 * fee));
    assert_eq!(l.wallet_balance(&worker_owner).expect("wallet"), 120 * fee);
    let ws = l.worker_state(&worker_sc).expect("worker");
    assert_eq!((ws.status, ws.tokens), (ContractStatus::Closed, 120));
    let more = signed(&key, VoucherKind::WorkerPayout, 130, &worker_sc);
    assert!(matches!(
        l.worker_payout(&worker_sc, &more),
        Err(LedgerError::WrongState(_))
    ));

    l.devnet_advance_clock(u64::from(old_params.proxy_delay_before_close))
        .expect("clock");
    let returned = l
        .proxy_complete_close(&proxy_owner, &proxy_sc)
        .expect("complete");
    // Everything the proxy contract holds: its stake, and the client money neither refunded
    // nor paid to the worker (150 × price charged − 120 × fee paid).
    assert_eq!(returned, ONE_TON + 150 * price - 120 * fee);
    assert_eq!(l.devnet_holdings(), l.devnet_minted());
}

#[test]
fn a_refund_below_the_charged_total_is_refused_and_one_at_it_charges_nothing() {
    let l = DevnetLedger::in_memory(RootConfig::devnet_default()).expect("devnet");
    let key = SigningKey::from_bytes(&[0x22; 32]);
    let (proxy_owner, client_owner) = (wallet(1), wallet(2));
    l.devnet_fund(&proxy_owner, 2 * ONE_TON).expect("fund");
    l.devnet_fund(&client_owner, 5000).expect("fund");
    let proxy_sc = l
        .proxy_deploy(&proxy_owner, &key.verifying_key(), ONE_TON)
        .expect("proxy");
    let client_sc = l.client_deploy(&client_owner, &proxy_sc).expect("client");
    l.client_top_up(&client_owner, &client_sc, 4000)
        .expect("top up");
    l.client_charge(
        &client_sc,
        &signed(&key, VoucherKind::ClientCharge, 10, &client_sc),
    )
    .expect("charge");
    let forged = signed(
        &SigningKey::from_bytes(&[0x99; 32]),
        VoucherKind::ClientGrantRefund,
        5,
        &client_sc,
    );
    assert!(matches!(
        l.client_grant_refund(&client_sc, &forged),
        Err(LedgerError::Voucher(_))
    ));
    // Below the charged total: exit 1000 (contracts.md §3.1.9); at it: nothing charged.
    assert!(matches!(
        l.client_grant_refund(
            &client_sc,
            &signed(&key, VoucherKind::ClientGrantRefund, 5, &client_sc),
        ),
        Err(LedgerError::VoucherNotHigher { .. })
    ));
    let settled = l
        .client_grant_refund(
            &client_sc,
            &signed(&key, VoucherKind::ClientGrantRefund, 10, &client_sc),
        )
        .expect("refund");
    assert_eq!((settled.tokens, settled.amount), (0, 0));
    assert_eq!(l.wallet_balance(&client_owner).expect("wallet"), 5000 - 20);
    assert_eq!(l.client_state(&client_sc).expect("client").tokens_used, 10);
    assert_eq!(l.devnet_holdings(), l.devnet_minted());
}

#[test]
fn a_refund_beyond_the_balance_is_clamped_and_closes() {
    let l = DevnetLedger::in_memory(RootConfig::devnet_default()).expect("devnet");
    let key = SigningKey::from_bytes(&[0x22; 32]);
    let (proxy_owner, client_owner) = (wallet(1), wallet(2));
    l.devnet_fund(&proxy_owner, 2 * ONE_TON).expect("fund");
    l.devnet_fund(&client_owner, 5000).expect("fund");
    let proxy_sc = l
        .proxy_deploy(&proxy_owner, &key.verifying_key(), ONE_TON)
        .expect("proxy");
    let client_sc = l.client_deploy(&client_owner, &proxy_sc).expect("client");
    l.client_top_up(&client_owner, &client_sc, 4000)
        .expect("top up");
    // 5000 tokens cost 10 000; the client has 4000 in: all of it is charged, the rest
    // forgiven, and the contract closes with nothing to return (contracts.md §3.1.9).
    let too_much = signed(&key, VoucherKind::ClientGrantRefund, 5000, &client_sc);
    let settled = l
        .client_grant_refund(&client_sc, &too_much)
        .expect("clamped");
    assert_eq!((settled.tokens, settled.amount), (5000, 4000));
    let state = l.client_state(&client_sc).expect("client");
    assert_eq!(
        (state.status, state.balance, state.tokens_used),
        (ContractStatus::Closed, 0, 5000)
    );
    assert_eq!(l.wallet_balance(&client_owner).expect("wallet"), 1000);
    assert_eq!(l.devnet_holdings(), l.devnet_minted());
}
