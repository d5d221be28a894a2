//! Several `DevnetLedger` instances (standing in for the node processes of a local
//! network) on one devnet file: every operation sees the latest file state and no update
//! is ever lost, also under concurrent writers.

mod common;

use std::sync::Barrier;

use cocoon_ledger::accounting::ONE_TON;
use cocoon_ledger::ledger::devnet::DEVNET_GENESIS_TIME;
use cocoon_ledger::ledger::{DevnetLedger, Ledger, LedgerError};
use cocoon_ledger::root_config::RootConfig;
use cocoon_ledger::voucher::VoucherKind;
use common::{proxy_key, voucher, wallet};

fn open(path: &std::path::Path) -> DevnetLedger {
    DevnetLedger::open_or_create(path, RootConfig::devnet_default()).expect("open devnet")
}

#[test]
fn two_instances_on_one_file_see_each_others_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("devnet.json");
    let a = open(&path);
    let b = open(&path);
    let key = proxy_key(0x31);
    let (proxy_owner, client_owner) = (wallet(1), wallet(2));

    a.devnet_fund(&proxy_owner, 3 * ONE_TON).expect("fund");
    assert_eq!(
        b.wallet_balance(&proxy_owner).expect("b reads"),
        3 * ONE_TON
    );
    let proxy_sc = b
        .proxy_deploy(&proxy_owner, &key.verifying_key(), ONE_TON)
        .expect("b deploys");
    assert_eq!(
        a.proxy_state(&proxy_sc).expect("a sees proxy").stake,
        ONE_TON
    );
    // `a` last wrote before `b` deployed: its next write must start from b's state.
    a.devnet_fund(&client_owner, 5 * ONE_TON).expect("fund");
    let client_sc = a.client_deploy(&client_owner, &proxy_sc).expect("deploy");
    b.client_top_up(&client_owner, &client_sc, 1000)
        .expect("b tops up");
    a.client_top_up(&client_owner, &client_sc, 500)
        .expect("a tops up");
    let charge = voucher(&key, VoucherKind::ClientCharge, 100, &client_sc, 1);
    assert_eq!(
        b.client_charge(&client_sc, &charge).expect("charge").amount,
        200
    );
    assert_eq!(a.client_state(&client_sc).expect("a reads").balance, 1300);
    assert!(matches!(
        a.client_charge(&client_sc, &charge),
        Err(LedgerError::VoucherNotHigher {
            offered: 100,
            settled: 100
        })
    ));
    b.devnet_advance_clock(7).expect("clock");
    assert_eq!(a.now(), DEVNET_GENESIS_TIME + 7);

    let fresh = open(&path);
    let snapshot = fresh.try_devnet_snapshot().expect("snapshot");
    assert_eq!(snapshot, a.devnet_snapshot());
    assert_eq!(snapshot, b.devnet_snapshot());
    assert_eq!(snapshot.minted, 8 * ONE_TON);
    assert_eq!(fresh.devnet_holdings(), 8 * ONE_TON);
    // The new file has generation 0; each of the 8 successful operations bumped it once,
    // the proxy deploy twice (the deploy, then raising its stake, as on TON).
    assert_eq!(snapshot.generation, 9);
}

#[test]
fn file_changed_behind_the_ledger_is_reloaded_and_corruption_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("devnet.json");
    let ledger = open(&path);
    ledger.devnet_fund(&wallet(1), 10).expect("fund");
    let older = std::fs::read(&path).expect("read");
    ledger.devnet_fund(&wallet(2), 20).expect("fund");
    assert_eq!(ledger.devnet_minted(), 30);

    // Restoring an older copy by hand (no lock-file bump) is still noticed.
    std::fs::write(&path, &older).expect("restore");
    assert_eq!(ledger.wallet_balance(&wallet(2)).expect("balance"), 0);
    assert_eq!(ledger.devnet_minted(), 10);

    std::fs::write(&path, b"{ truncated").expect("corrupt");
    assert!(matches!(
        ledger.wallet_balance(&wallet(1)),
        Err(LedgerError::Storage(_))
    ));
    assert!(ledger.devnet_fund(&wallet(1), 1).is_err());
    assert!(ledger.try_devnet_snapshot().is_err());
    // The infallible accessors fall back to the last state seen.
    assert_eq!(ledger.now(), DEVNET_GENESIS_TIME);
    assert_eq!(ledger.devnet_minted(), 10);
    // The corrupt file was not overwritten by the failed operation.
    assert_eq!(std::fs::read(&path).expect("read"), b"{ truncated");
}

#[test]
fn concurrent_instances_never_lose_an_update() {
    const THREADS: u64 = 4;
    const ROUNDS: u64 = 12;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("devnet.json");
    let key = proxy_key(0x41);
    let proxy_owner = wallet(1);
    let shared_wallet = wallet(2);
    let setup = open(&path);
    setup.devnet_fund(&proxy_owner, ONE_TON).expect("fund");
    let proxy_sc = setup
        .proxy_deploy(&proxy_owner, &key.verifying_key(), ONE_TON)
        .expect("proxy");
    let clients: Vec<_> = (0..THREADS)
        .map(|i| {
            let owner = wallet(10 + i as u8);
            let sc = setup.client_deploy(&owner, &proxy_sc).expect("client");
            (owner, sc)
        })
        .collect();

    let barrier = Barrier::new(THREADS as usize);
    std::thread::scope(|scope| {
        for (owner, client_sc) in &clients {
            let (path, barrier, key) = (&path, &barrier, &key);
            let shared_wallet = &shared_wallet;
            scope.spawn(move || {
                // Each thread has its own instance, as each node process would.
                let ledger = open(path);
                barrier.wait();
                for round in 1..=ROUNDS {
                    ledger.devnet_fund(owner, 1000).expect("fund own wallet");
                    ledger
                        .devnet_fund(shared_wallet, 1)
                        .expect("fund shared wallet");
                    ledger.client_top_up(owner, client_sc, 100).expect("top up");
                    let charge =
                        voucher(key, VoucherKind::ClientCharge, round * 10, client_sc, round);
                    let settled = ledger.client_charge(client_sc, &charge).expect("charge");
                    assert_eq!((settled.tokens, settled.amount), (10, 20));
                    ledger.devnet_advance_clock(1).expect("clock");
                    // A read right after our own write sees at least our write.
                    let state = ledger.client_state(client_sc).expect("state");
                    assert_eq!(state.tokens_used, round * 10);
                }
            });
        }
    });

    let check = open(&path);
    let n = u128::from(THREADS * ROUNDS);
    assert_eq!(check.devnet_minted(), ONE_TON + n * 1000 + n);
    assert_eq!(check.devnet_holdings(), check.devnet_minted());
    assert_eq!(check.wallet_balance(&shared_wallet).expect("shared"), n);
    assert_eq!(check.now(), DEVNET_GENESIS_TIME + THREADS * ROUNDS);
    for (owner, client_sc) in &clients {
        let state = check.client_state(client_sc).expect("client");
        let rounds = u128::from(ROUNDS);
        assert_eq!(state.balance, rounds * (100 - 20));
        assert_eq!(state.tokens_used, ROUNDS * 10);
        assert_eq!(check.wallet_balance(owner).expect("owner"), rounds * 900);
    }
    let proxy = check.proxy_state(&proxy_sc).expect("proxy");
    // Every top-up reached the proxy contract (its 1 TON stake besides); the charges moved
    // no money and booked no commission (that comes with worker payouts).
    assert_eq!(proxy.funds, ONE_TON + n * 100);
    assert_eq!(proxy.commission, 0);
}
