//! Devnet ledger tests: the full payment lifecycle with real vouchers and accounting.

use ed25519_dalek::SigningKey;
use tonlib_core::{TonAddress, TonHash};

use super::*;
use crate::accounting::{settle_request, ClientAccount, ClientChainView, WorkerAccount, ONE_TON};
use crate::ledger::{ContractStatus, Ledger, SavedState, REGISTRATIONS_KEPT};
use crate::voucher::{self, VoucherKind, VoucherTerms};

fn wallet(byte: u8) -> TonAddress {
    TonAddress::new(0, TonHash::from([byte; 32]))
}

struct World {
    ledger: DevnetLedger,
    proxy_key: SigningKey,
    proxy_owner: TonAddress,
    client_owner: TonAddress,
    worker_owner: TonAddress,
    proxy_sc: TonAddress,
    client_sc: TonAddress,
    worker_sc: TonAddress,
}

fn conserved(ledger: &DevnetLedger) {
    assert_eq!(
        ledger.devnet_holdings(),
        ledger.devnet_minted(),
        "money must be conserved"
    );
}

fn world(ledger: DevnetLedger) -> World {
    let proxy_key = SigningKey::from_bytes(&[0x11; 32]);
    let (proxy_owner, client_owner, worker_owner) = (wallet(1), wallet(2), wallet(3));
    ledger
        .devnet_fund(&proxy_owner, 2 * ONE_TON)
        .expect("fund proxy");
    ledger
        .devnet_fund(&client_owner, 10 * ONE_TON)
        .expect("fund client");
    let proxy_sc = ledger
        .proxy_deploy(&proxy_owner, &proxy_key.verifying_key(), ONE_TON)
        .expect("proxy");
    let client_sc = ledger
        .client_deploy(&client_owner, &proxy_sc)
        .expect("client");
    let worker_sc = ledger
        .worker_deploy(&worker_owner, &proxy_sc)
        .expect("worker");
    World {
        ledger,
        proxy_key,
        proxy_owner,
        client_owner,
        worker_owner,
        proxy_sc,
        client_sc,
        worker_sc,
    }
}

fn sign(w: &World, kind: VoucherKind, tokens: u64, target: &TonAddress, qid: u64) -> Vec<u8> {
    voucher::sign(
        &w.proxy_key,
        VoucherTerms {
            kind,
            qid,
            tokens,
            target: target.clone(),
        },
        &w.proxy_owner,
    )
    .expect("sign")
    .boc
}

#[test]
fn full_payment_lifecycle_on_devnet() {
    let w = world(DevnetLedger::in_memory(RootConfig::devnet_default()).expect("devnet"));
    let l = &w.ledger;
    let prices = l
        .root_config()
        .expect("config")
        .params
        .prices()
        .expect("prices");
    assert_eq!(
        (prices.price_per_token(), prices.worker_fee_per_token()),
        (2, 1)
    );
    conserved(l);

    // Client funds its contract and raises its stake (a figure inside the balance: no money
    // moves for it, contracts.md §3.1.5).
    l.client_top_up(&w.client_owner, &w.client_sc, 3 * ONE_TON)
        .expect("top up");
    l.client_increase_stake(&w.client_owner, &w.client_sc, ONE_TON)
        .expect("stake");
    l.client_change_secret_hash(&w.client_owner, &w.client_sc, [7; 32])
        .expect("secret");
    assert_eq!(
        l.wallet_balance(&w.client_owner).expect("balance"),
        7 * ONE_TON
    );
    let cs = l.client_state(&w.client_sc).expect("state");
    assert_eq!((cs.balance, cs.stake), (3 * ONE_TON, 2 * ONE_TON));
    assert_eq!(
        l.proxy_state(&w.proxy_sc).expect("proxy").funds,
        4 * ONE_TON
    );
    conserved(l);

    // Proxy serves two requests and commits them (DB seqno 1, confirmed on chain).
    let cs = l.client_state(&w.client_sc).expect("state");
    let mut client = ClientAccount::new(ClientChainView {
        balance: cs.balance,
        stake: cs.stake,
        sc_tokens_used: cs.tokens_used,
    });
    let mut worker = WorkerAccount::default();
    for reported in [600, 400] {
        let r = client.reserve(1000, &prices).expect("reserve");
        settle_request(&mut client, &mut worker, r, reported);
    }
    client.counters.commit_to_db(1).expect("commit");
    worker.counters.commit_to_db(1).expect("commit");
    l.proxy_save_state(
        &w.proxy_owner,
        &w.proxy_sc,
        SavedState {
            seqno: 1,
            session_hash: [9; 32],
        },
    )
    .expect("save");
    assert!(l
        .proxy_save_state(
            &w.proxy_owner,
            &w.proxy_sc,
            SavedState {
                seqno: 1,
                session_hash: [9; 32]
            }
        )
        .is_err());
    assert!(l
        .proxy_save_state(
            &w.client_owner,
            &w.proxy_sc,
            SavedState {
                seqno: 2,
                session_hash: [9; 32]
            }
        )
        .is_err());
    let seen = l.proxy_state(&w.proxy_sc).expect("proxy").saved_states;
    assert_eq!(seen.last().map(|s| s.seqno), Some(1));
    client.counters.confirm_on_chain(1);
    worker.counters.confirm_on_chain(1);
    let served = client.counters.committed_to_blockchain();
    assert_eq!(served, 1000);

    // Client voucher charges tokens × price.
    let charge = sign(&w, VoucherKind::ClientCharge, served, &w.client_sc, 1);
    let settled = l.client_charge(&w.client_sc, &charge).expect("charge");
    assert_eq!((settled.tokens, settled.amount), (1000, 2000));
    assert_eq!(
        l.client_state(&w.client_sc).expect("state").balance,
        3 * ONE_TON - 2000
    );
    // A charge moves no money and books no commission (contracts.md §7.6).
    let proxy = l.proxy_state(&w.proxy_sc).expect("proxy");
    assert_eq!((proxy.commission, proxy.funds), (0, 4 * ONE_TON));
    conserved(l);
    assert!(matches!(
        l.client_charge(&w.client_sc, &charge),
        Err(LedgerError::VoucherNotHigher { .. })
    ));
    let lower = sign(&w, VoucherKind::ClientCharge, 500, &w.client_sc, 2);
    assert!(matches!(
        l.client_charge(&w.client_sc, &lower),
        Err(LedgerError::VoucherNotHigher { .. })
    ));
    let forged = voucher::sign(
        &SigningKey::from_bytes(&[0x22; 32]),
        VoucherTerms {
            kind: VoucherKind::ClientCharge,
            qid: 3,
            tokens: 5000,
            target: w.client_sc.clone(),
        },
        &w.client_owner,
    )
    .expect("sign")
    .boc;
    assert!(matches!(
        l.client_charge(&w.client_sc, &forged),
        Err(LedgerError::Voucher(_))
    ));
    let misaddressed = sign(&w, VoucherKind::ClientCharge, 5000, &w.worker_sc, 4);
    assert!(matches!(
        l.client_charge(&w.client_sc, &misaddressed),
        Err(LedgerError::Voucher(_))
    ));

    // Worker voucher pays tokens × worker fee (repacked with the worker's own wallet).
    let payout = sign(
        &w,
        VoucherKind::WorkerPayout,
        worker.counters.committed_to_blockchain(),
        &w.worker_sc,
        5,
    );
    let repacked =
        voucher::repack(&payout, VoucherKind::WorkerPayout, &w.worker_owner).expect("repack");
    let paid = l.worker_payout(&w.worker_sc, &repacked).expect("payout");
    assert_eq!((paid.tokens, paid.amount), (1000, 1000));
    assert_eq!(l.wallet_balance(&w.worker_owner).expect("balance"), 1000);
    assert!(matches!(
        l.worker_payout(&w.worker_sc, &payout),
        Err(LedgerError::VoucherNotHigher { .. })
    ));
    assert_eq!(l.worker_state(&w.worker_sc).expect("worker").tokens, 1000);
    conserved(l);

    // The proxy's commission was booked by the worker payout (price − fee per token); anyone
    // may ask for its payout, which goes to the owner.
    assert_eq!(l.proxy_state(&w.proxy_sc).expect("proxy").commission, 1000);
    assert_eq!(
        l.proxy_payout(&w.client_owner, &w.proxy_sc)
            .expect("commission"),
        1000
    );
    assert_eq!(
        l.wallet_balance(&w.proxy_owner).expect("balance"),
        ONE_TON + 1000
    );
    conserved(l);

    // Client closes: the first request returns the money above the stake at once
    // (contracts.md §3.1.7), a second one, strictly after the delay, returns the stake;
    // withdraw is refused once the contract is closing (as the real contract: 1006).
    let wallet = l.wallet_balance(&w.client_owner).expect("balance");
    let unlock = l
        .client_request_refund(&w.client_owner, &w.client_sc)
        .expect("refund");
    assert_eq!(unlock, DEVNET_GENESIS_TIME + 300);
    assert_eq!(
        l.wallet_balance(&w.client_owner).expect("balance"),
        wallet + ONE_TON - 2000
    );
    conserved(l);
    assert!(matches!(
        l.client_withdraw(&w.client_owner, &w.client_sc),
        Err(LedgerError::WrongState(_))
    ));
    l.devnet_advance_clock(300).expect("clock");
    assert!(matches!(
        l.client_request_refund(&w.client_owner, &w.client_sc),
        Err(LedgerError::Locked { .. })
    ));
    l.devnet_advance_clock(1).expect("clock");
    let before = l.client_state(&w.client_sc).expect("state");
    assert_eq!(
        l.client_request_refund(&w.client_owner, &w.client_sc)
            .expect("second request"),
        unlock
    );
    // The forced refund of the 2 TON left is capped by the proxy's 1 TON stake.
    assert_eq!((before.balance, before.stake), (2 * ONE_TON, 2 * ONE_TON));
    assert_eq!(
        l.wallet_balance(&w.client_owner).expect("balance"),
        9 * ONE_TON - 2000
    );
    assert_eq!(l.proxy_state(&w.proxy_sc).expect("proxy").stake, 0);
    assert_eq!(
        l.client_state(&w.client_sc).expect("state").status,
        ContractStatus::Closed
    );
    conserved(l);

    // Proxy closes after its own delay and gets everything it holds: the client's unrefunded
    // TON (contracts.md §3.3.6).
    l.proxy_request_close(&w.proxy_owner, &w.proxy_sc)
        .expect("close");
    l.devnet_advance_clock(599).expect("clock");
    assert!(matches!(
        l.proxy_complete_close(&w.proxy_owner, &w.proxy_sc),
        Err(LedgerError::Locked { .. })
    ));
    l.devnet_advance_clock(1).expect("clock");
    assert_eq!(
        l.proxy_complete_close(&w.proxy_owner, &w.proxy_sc)
            .expect("closed"),
        2 * ONE_TON
    );
    assert_eq!(
        l.wallet_balance(&w.proxy_owner).expect("balance"),
        3 * ONE_TON + 1000
    );
    conserved(l);
    assert_eq!(l.devnet_minted(), 12 * ONE_TON);
}

#[test]
fn charge_beyond_the_balance_is_clamped_and_books_nothing() {
    let w = world(DevnetLedger::in_memory(RootConfig::devnet_default()).expect("devnet"));
    let l = &w.ledger;
    l.client_top_up(&w.client_owner, &w.client_sc, 100)
        .expect("top up");
    let before = l.proxy_state(&w.proxy_sc).expect("proxy");
    // 61 tokens cost 122; the balance is 100 (the 1 TON stake is a figure inside it, not
    // money): the balance goes to 0 and the rest is forgiven (contracts.md §3.1.8).
    let too_much = sign(&w, VoucherKind::ClientCharge, 61, &w.client_sc, 1);
    let settled = l.client_charge(&w.client_sc, &too_much).expect("clamped");
    assert_eq!((settled.tokens, settled.amount), (61, 100));
    let state = l.client_state(&w.client_sc).expect("state");
    assert_eq!(
        (state.balance, state.stake, state.tokens_used),
        (0, ONE_TON, 61)
    );
    assert_eq!(
        l.proxy_state(&w.proxy_sc).expect("proxy"),
        before,
        "a charge moves nothing"
    );
    conserved(l);
    // On an empty balance a charge moves nothing and is still accepted.
    let more = sign(&w, VoucherKind::ClientCharge, 70, &w.client_sc, 2);
    let settled = l.client_charge(&w.client_sc, &more).expect("clamped");
    assert_eq!((settled.tokens, settled.amount), (9, 0));
    assert_eq!(l.client_state(&w.client_sc).expect("state").tokens_used, 70);
    conserved(l);
}

#[test]
fn devnet_state_persists_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("devnet.json");
    let (client_sc, proxy_sc) = {
        let w = world(
            DevnetLedger::open_or_create(&path, RootConfig::devnet_default()).expect("create"),
        );
        w.ledger
            .client_top_up(&w.client_owner, &w.client_sc, 5000)
            .expect("top up");
        w.ledger.devnet_advance_clock(42).expect("clock");
        (w.client_sc, w.proxy_sc)
    };
    let reopened =
        DevnetLedger::open_or_create(&path, RootConfig::devnet_default()).expect("reopen");
    assert_eq!(reopened.now(), DEVNET_GENESIS_TIME + 42);
    assert_eq!(
        reopened.client_state(&client_sc).expect("client").balance,
        5000
    );
    assert_eq!(
        reopened.proxy_state(&proxy_sc).expect("proxy").stake,
        ONE_TON
    );
    assert_eq!(reopened.devnet_minted(), 12 * ONE_TON);
    assert!(!dir.path().join("devnet.json.tmp").exists());
    // A corrupted file is refused rather than silently reset.
    std::fs::write(&path, b"{ not json").expect("corrupt");
    assert!(DevnetLedger::open_or_create(&path, RootConfig::devnet_default()).is_err());
}

#[test]
fn devnet_is_deterministic() {
    let a = world(DevnetLedger::in_memory(RootConfig::devnet_default()).expect("a"));
    let b = world(DevnetLedger::in_memory(RootConfig::devnet_default()).expect("b"));
    assert_eq!(a.proxy_sc, b.proxy_sc);
    assert_eq!(a.client_sc, b.client_sc);
    assert_eq!(a.worker_sc, b.worker_sc);
    assert_ne!(a.client_sc, a.worker_sc);
}

#[test]
fn usable_as_a_trait_object_and_config_bumps_version() {
    let devnet =
        std::sync::Arc::new(DevnetLedger::in_memory(RootConfig::devnet_default()).expect("devnet"));
    let ledger: std::sync::Arc<dyn Ledger> = devnet.clone();
    let before = ledger.root_config().expect("config");
    let mut changed = before.clone();
    changed.params.price_per_token = 3;
    devnet.devnet_set_config(changed).expect("set");
    let after = ledger.root_config().expect("config");
    assert_eq!(after.version, before.version + 1);
    assert_eq!(after.params.price_per_token, 3);
    let mut bad = after.clone();
    bad.params.worker_fee_per_token = 4;
    assert!(
        devnet.devnet_set_config(bad).is_err(),
        "worker fee above price is refused"
    );
}

#[test]
fn client_registration_reaches_the_proxy_contract_from_the_owner_only() {
    let w = world(DevnetLedger::in_memory(RootConfig::devnet_default()).expect("ledger"));
    let before = w.ledger.devnet_snapshot();
    // Someone else cannot register through this client's contract.
    assert_eq!(
        w.ledger.client_register(&w.worker_owner, &w.client_sc, 7),
        Err(LedgerError::NotOwner(key(&w.client_sc)))
    );
    assert_eq!(
        w.ledger.devnet_snapshot(),
        before,
        "a refused register changes nothing"
    );
    w.ledger
        .client_register(&w.client_owner, &w.client_sc, 7)
        .expect("register");
    let state = w.ledger.proxy_state(&w.proxy_sc).expect("proxy");
    let found = state.registration(7, &w.client_owner).expect("registered");
    assert_eq!(found.client_sc, w.client_sc.to_hex());
    assert!(
        state.registration(7, &w.worker_owner).is_none(),
        "owner must match"
    );
    assert!(
        state.registration(8, &w.client_owner).is_none(),
        "nonce must match"
    );
    // Bounded: the oldest registrations go first.
    for nonce in 100..100 + REGISTRATIONS_KEPT as u64 {
        w.ledger
            .client_register(&w.client_owner, &w.client_sc, nonce)
            .expect("register");
    }
    let state = w.ledger.proxy_state(&w.proxy_sc).expect("proxy");
    assert_eq!(state.registrations.len(), REGISTRATIONS_KEPT);
    assert!(state.registration(7, &w.client_owner).is_none());
    assert!(state.registration(100, &w.client_owner).is_some());
    conserved(&w.ledger);
}
