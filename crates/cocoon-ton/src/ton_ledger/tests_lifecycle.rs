//! Money flows through [`TonLedger`] and the contract-simulating mock chain: a client's whole
//! life (deploy, top-up, charge by voucher, refund, withdraw after the delay), a worker
//! payout, and the proxy's payout and close.

use cocoon_ledger::accounting::ONE_TON;
use cocoon_ledger::ledger::{ContractStatus, Ledger, LedgerError};
use cocoon_ledger::voucher::{self, VoucherKind, VoucherTerms};
use tonlib_core::TonAddress;

use super::tests::{after_sync, chain, deploy_proxy, ledger, settle};
use super::*;

fn voucher(proxy: &TonLedger, kind: VoucherKind, target: &TonAddress, tokens: u64) -> Vec<u8> {
    let proxy_key = proxy.shared.proxy_signing_key.as_ref().expect("proxy key");
    voucher::sign(
        proxy_key,
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

#[tokio::test]
async fn client_lifecycle_register_top_up_charge_refund_withdraw() {
    let chain = chain();
    let proxy = ledger(&chain, 1, 100 * ONE_TON);
    let client = ledger(&chain, 2, 100 * ONE_TON);
    let psc = deploy_proxy(&proxy).await;
    let proxy_state = proxy.proxy_state(&psc).expect("proxy state");
    assert_eq!(proxy_state.status, ContractStatus::Active);
    assert_eq!(proxy_state.stake, 5 * ONE_TON);

    // Deploy: the client ledger first has to learn the proxy contract (its key).
    let me = client.wallet_address().clone();
    settle(&[&client], 1).await;
    let csc = after_sync(&client, || client.client_deploy(&me, &psc))
        .await
        .expect("client deploy");
    assert!(matches!(
        client.client_state(&csc),
        Err(LedgerError::Storage(_))
    ));
    settle(&[&client], 2).await;
    let state = client.client_state(&csc).expect("client state");
    assert_eq!(state.status, ContractStatus::Active);
    assert_eq!(state.stake, ONE_TON, "min_client_stake from the init data");
    assert_eq!(state.owner, me.to_hex());
    assert_eq!(state.proxy_sc, psc.to_hex());

    // Register (long auth): the client contract forwards the nonce to the proxy contract,
    // where the proxy's ledger reads it; only the owner may send it.
    let nonce = 0xfeed_0000_0000_0042;
    let stranger = proxy.wallet_address().clone();
    // (The proxy's ledger does not even watch that contract; the devnet and the mock
    // contract refuse a stranger's register with NotOwner.)
    assert!(proxy.client_register(&stranger, &csc, nonce).is_err());
    client.client_register(&me, &csc, nonce).expect("register");
    settle(&[&client, &proxy], 2).await;
    let registered = proxy.proxy_state(&psc).expect("proxy state");
    let found = registered
        .registration(nonce, &me)
        .expect("registration observed");
    assert_eq!(found.client_sc, csc.to_hex());
    assert!(registered.registration(nonce, &stranger).is_none());

    // Top-up.
    client
        .client_top_up(&me, &csc, 10 * ONE_TON)
        .expect("top up");
    // The proxy learns the new balance from the top-up's notice (it predicts a charge
    // from it: at most the balance moves).
    settle(&[&client, &proxy], 2).await;
    assert_eq!(
        client.client_state(&csc).expect("state").balance,
        10 * ONE_TON
    );

    // The proxy charges 1000 tokens (price 2) with its voucher.
    let v = voucher(&proxy, VoucherKind::ClientCharge, &csc, 1000);
    let settlement = after_sync(&proxy, || proxy.client_charge(&csc, &v))
        .await
        .expect("charge");
    assert_eq!((settlement.tokens, settlement.amount), (1000, 2000));
    settle(&[&proxy], 2).await;
    assert!(matches!(
        proxy.client_charge(&csc, &v),
        Err(LedgerError::VoucherNotHigher {
            offered: 1000,
            settled: 1000
        })
    ));
    settle(&[&client], 1).await;
    let state = client.client_state(&csc).expect("state");
    assert_eq!(state.tokens_used, 1000);
    assert_eq!(state.balance, 10 * ONE_TON - 2000);
    // A charge books no commission: that comes with worker payouts (contracts.md §7.6).
    let commission = proxy.proxy_state(&psc).expect("proxy").commission;
    assert_eq!(commission, 0, "no commission at charge time");

    // Refund request, then the close delay.
    let unlock = client.client_request_refund(&me, &csc).expect("refund");
    assert_eq!(unlock, client.now() + 300);
    settle(&[&client], 2).await;
    let state = client.client_state(&csc).expect("state");
    assert_eq!(state.status, ContractStatus::Closing);
    assert_eq!(state.unlock_ts, unlock);
    // The money above the stake came back at once: the balance is down to the stake.
    assert_eq!(state.balance, ONE_TON);
    assert_eq!(
        client.wallet_balance(&me).expect("wallet"),
        100 * ONE_TON - ONE_TON - 2000
    );
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
    chain.advance_clock(301).expect("clock");
    settle(&[&client], 1).await;
    let before = client.client_state(&csc).expect("state");
    let again = client
        .client_request_refund(&me, &csc)
        .expect("second request");
    assert_eq!(again, unlock);
    // The first request already returned the money above the stake (contracts.md
    // §3.1.7); the second one forces the refund of the rest, capped by the proxy's stake.
    assert_eq!(
        (before.balance, before.stake),
        (ONE_TON, ONE_TON),
        "balance, stake"
    );
    settle(&[&client], 2).await;
    assert_eq!(
        client.client_state(&csc).expect("state").status,
        ContractStatus::Closed
    );
    // 100 TON − 10 TON top-up + (10 TON − 2000 charged) refunded.
    assert_eq!(
        client.wallet_balance(&me).expect("wallet"),
        100 * ONE_TON - 2000
    );
    assert!(client.pending_messages().is_empty());
    let history = client.message_history();
    let whats: Vec<&str> = history.iter().map(|m| m.what).collect();
    assert_eq!(
        whats,
        [
            "client_deploy",
            "client_register",
            "client_top_up",
            "client_request_refund",
            "client_request_refund"
        ]
    );
    assert!(history
        .iter()
        .all(|m| matches!(m.status, MessageStatus::Confirmed { .. })));
    assert!(
        chain.failed_messages().is_empty(),
        "{:?}",
        chain.failed_messages()
    );
}

#[tokio::test]
async fn worker_payout_by_the_worker_and_by_the_proxy() {
    let chain = chain();
    let proxy = ledger(&chain, 1, 100 * ONE_TON);
    let worker = ledger(&chain, 3, 10 * ONE_TON);
    let psc = deploy_proxy(&proxy).await;
    let me = worker.wallet_address().clone();
    settle(&[&worker], 1).await;
    let wsc = after_sync(&worker, || worker.worker_deploy(&me, &psc))
        .await
        .expect("worker deploy");
    settle(&[&worker], 2).await;
    assert_eq!(worker.worker_state(&wsc).expect("state").tokens, 0);
    let before = chain.engine().wallet_balance(&me).expect("balance");

    // The worker submits the proxy's voucher (worker fee 1 per token).
    let v = voucher(&proxy, VoucherKind::WorkerPayout, &wsc, 500);
    let paid = worker.worker_payout(&wsc, &v).expect("payout");
    assert_eq!((paid.tokens, paid.amount), (500, 500));
    assert_eq!(
        worker.pending_messages()[0].value,
        crate::messages::value::WORKER_SUBMITS_VOUCHER
    );
    settle(&[&worker], 2).await;
    assert_eq!(worker.worker_state(&wsc).expect("state").tokens, 500);
    assert_eq!(
        chain.engine().wallet_balance(&me).expect("balance"),
        before + 500
    );

    // The proxy pays a higher voucher itself.
    let v = voucher(&proxy, VoucherKind::WorkerPayout, &wsc, 800);
    let paid = after_sync(&proxy, || proxy.worker_payout(&wsc, &v))
        .await
        .expect("proxy payout");
    assert_eq!((paid.tokens, paid.amount), (300, 300));
    assert_eq!(
        proxy.pending_messages()[0].value,
        crate::messages::value::STANDARD
    );
    settle(&[&proxy], 2).await;
    settle(&[&worker], 1).await;
    assert_eq!(worker.worker_state(&wsc).expect("state").tokens, 800);
    assert_eq!(
        chain.engine().wallet_balance(&me).expect("balance"),
        before + 800
    );
    // A voucher for another worker contract is refused before anything is sent.
    let wrong = voucher(&proxy, VoucherKind::WorkerPayout, &psc, 900);
    assert!(matches!(
        worker.worker_payout(&wsc, &wrong),
        Err(LedgerError::Voucher(_))
    ));
    assert!(
        chain.failed_messages().is_empty(),
        "{:?}",
        chain.failed_messages()
    );
}

#[tokio::test]
async fn proxy_payout_and_signed_close() {
    let chain = chain();
    let proxy = ledger(&chain, 1, 100 * ONE_TON);
    let client = ledger(&chain, 2, 100 * ONE_TON);
    let psc = deploy_proxy(&proxy).await;
    let me = proxy.wallet_address().clone();
    let cw = client.wallet_address().clone();
    settle(&[&client], 1).await;
    let csc = after_sync(&client, || client.client_deploy(&cw, &psc))
        .await
        .expect("deploy");
    settle(&[&client], 2).await;
    client.client_top_up(&cw, &csc, ONE_TON).expect("top up");
    settle(&[&client], 2).await;
    let v = voucher(&proxy, VoucherKind::ClientCharge, &csc, 4000);
    after_sync(&proxy, || proxy.client_charge(&csc, &v))
        .await
        .expect("charge");
    settle(&[&proxy], 2).await;
    assert_eq!(proxy.proxy_state(&psc).expect("state").commission, 0);
    // The commission is booked when a worker payout arrives: 4000 tokens × (2 − 1).
    let wsc = after_sync(&client, || client.worker_deploy(&cw, &psc))
        .await
        .expect("worker deploy");
    settle(&[&client], 2).await;
    let w = voucher(&proxy, VoucherKind::WorkerPayout, &wsc, 4000);
    after_sync(&proxy, || proxy.worker_payout(&wsc, &w))
        .await
        .expect("worker payout");
    settle(&[&proxy], 2).await;
    assert_eq!(proxy.proxy_state(&psc).expect("state").commission, 4000);

    let before = chain.engine().wallet_balance(&me).expect("balance");
    assert_eq!(proxy.proxy_payout(&me, &psc).expect("payout"), 4000);
    settle(&[&proxy], 2).await;
    assert_eq!(proxy.proxy_state(&psc).expect("state").commission, 0);
    assert_eq!(
        chain.engine().wallet_balance(&me).expect("balance"),
        before + 4000
    );

    let unlock = proxy.proxy_request_close(&me, &psc).expect("close");
    settle(&[&proxy], 2).await;
    assert_eq!(
        proxy.proxy_state(&psc).expect("state").status,
        ContractStatus::Closing
    );
    assert!(matches!(
        proxy.proxy_complete_close(&me, &psc),
        Err(LedgerError::Locked { .. })
    ));
    chain
        .advance_clock(unlock - chain.engine().now())
        .expect("clock");
    settle(&[&proxy], 1).await;
    let back = proxy.proxy_complete_close(&me, &psc).expect("complete");
    settle(&[&proxy], 2).await;
    assert_eq!(
        proxy.proxy_state(&psc).expect("state").status,
        ContractStatus::Closed
    );
    // The contract pays everything it holds — its account balance, which the ledger reads
    // as `funds`: the 5 TON stake and the client's 1 TON, less the 4000 paid to the worker
    // and the 4000 of commission already paid out; the prediction says so.
    assert_eq!(back, 6 * ONE_TON - 8000);
    assert_eq!(
        chain.engine().wallet_balance(&me).expect("balance"),
        before + 4000 + 6 * ONE_TON - 8000
    );
    assert!(
        chain.failed_messages().is_empty(),
        "{:?}",
        chain.failed_messages()
    );
}

/// The proxy reads its clients' contracts when they tell its proxy contract they changed
/// (as the reference proxy learns them), not every round: a proxy with many clients would
/// otherwise ask the liteservers for every client contract every few seconds.
#[tokio::test(start_paused = true)]
async fn a_proxy_reads_client_contracts_when_notified_not_every_round() {
    let chain = chain();
    let proxy = ledger(&chain, 1, 100 * ONE_TON);
    let client = ledger(&chain, 2, 100 * ONE_TON);
    let psc = deploy_proxy(&proxy).await;
    let me = client.wallet_address().clone();
    settle(&[&client], 1).await;
    let csc = after_sync(&client, || client.client_deploy(&me, &psc))
        .await
        .expect("client deploy");
    settle(&[&client], 2).await;
    // The proxy starts watching the client contract (first read), then the hot period of
    // its own messages passes: rounds read only the proxy's own accounts.
    let _ = after_sync(&proxy, || proxy.client_state(&csc)).await;
    settle(&[&proxy], 1).await;
    tokio::time::advance(std::time::Duration::from_secs(40)).await;
    let idle = proxy.refresh_now().await.expect("round").accounts_read;
    settle(&[&proxy], 1).await;
    let quiet = proxy.refresh_now().await.expect("round").accounts_read;
    assert_eq!(quiet, idle, "nothing changed, nothing more read");
    let before = proxy.client_state(&csc).expect("state").balance;

    // A top-up: the client contract notifies the proxy contract; the proxy sees it on its
    // own contract, then reads the client contract again.
    client
        .client_top_up(&me, &csc, 3 * ONE_TON)
        .expect("top up");
    settle(&[&client], 2).await;
    let notified = chain.ops_received(&psc, &csc);
    assert!(
        notified.contains(&crate::messages::op::CLIENT_PROXY_REQUEST),
        "{notified:x?}"
    );
    settle(&[&proxy], 1).await;
    let hot = proxy.refresh_now().await.expect("round").accounts_read;
    assert!(
        hot > quiet,
        "the notified client contract is read ({hot} > {quiet})"
    );
    assert_eq!(
        proxy.client_state(&csc).expect("state").balance,
        before + 3 * ONE_TON
    );

    // Without any notification it is still re-read after REPORTED_RECHECK.
    tokio::time::advance(super::snapshot::REPORTED_RECHECK).await;
    let recheck = proxy.refresh_now().await.expect("round").accounts_read;
    assert!(recheck > quiet, "periodic re-read ({recheck} > {quiet})");
}
