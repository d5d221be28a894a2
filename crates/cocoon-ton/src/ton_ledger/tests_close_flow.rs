//! The close flow of an old proxy contract through [`TonLedger`] and the contract-simulating
//! mock chain: after a root `params_version` bump the proxy sends the signed close request,
//! a grant refund to its client contract, a last payout to its worker contract and, after
//! the delay, the close completion; every step is observed in later reads.

use cocoon_ledger::accounting::ONE_TON;
use cocoon_ledger::ledger::{ContractStatus, Ledger, LedgerError};
use cocoon_ledger::voucher::{self, VoucherKind, VoucherTerms};
use tonlib_core::TonAddress;

use super::tests::{after_sync, chain, deploy_proxy, ledger, settle};
use super::*;

fn signed(proxy: &TonLedger, kind: VoucherKind, target: &TonAddress, tokens: u64) -> Vec<u8> {
    let proxy_key = proxy.shared.proxy_signing_key.as_ref().expect("proxy key");
    let terms = VoucherTerms {
        kind,
        qid: tokens ^ 0x77,
        tokens,
        target: target.clone(),
    };
    voucher::sign(proxy_key, terms, proxy.wallet_address())
        .expect("sign")
        .boc
}

#[tokio::test(start_paused = true)]
async fn old_contract_refund_last_payout_and_close_after_a_params_bump() {
    let chain = chain();
    let proxy = ledger(&chain, 1, 100 * ONE_TON);
    let client = ledger(&chain, 2, 100 * ONE_TON);
    let worker = ledger(&chain, 3, 10 * ONE_TON);
    let psc = deploy_proxy(&proxy).await;
    let (pw, cw, ww) = (
        proxy.wallet_address().clone(),
        client.wallet_address().clone(),
        worker.wallet_address().clone(),
    );
    settle(&[&client, &worker], 1).await;
    let csc = after_sync(&client, || client.client_deploy(&cw, &psc))
        .await
        .expect("client deploy");
    let wsc = after_sync(&worker, || worker.worker_deploy(&ww, &psc))
        .await
        .expect("worker deploy");
    settle(&[&client, &worker], 2).await;
    client.client_top_up(&cw, &csc, ONE_TON).expect("top up");
    settle(&[&client], 2).await;
    let charge = signed(&proxy, VoucherKind::ClientCharge, &csc, 1000);
    after_sync(&proxy, || proxy.client_charge(&csc, &charge))
        .await
        .expect("charge");
    settle(&[&proxy], 2).await;

    // The root raises params_version: the old contracts show their own, lower one.
    let mut bumped = proxy.root_config().expect("root");
    let old_version = bumped.params.params_version;
    bumped.version += 1;
    bumped.params.params_version += 1;
    chain.set_root_config(bumped).expect("bump");
    // The root is re-read every 30 s.
    tokio::time::advance(std::time::Duration::from_secs(30)).await;
    settle(&[&proxy], 2).await;
    assert_eq!(
        proxy.root_config().expect("root").params.params_version,
        old_version + 1
    );
    assert_eq!(
        proxy.proxy_state(&psc).expect("proxy").params_version,
        old_version
    );

    // 1. Close request.
    let unlock = proxy.proxy_request_close(&pw, &psc).expect("close request");
    settle(&[&proxy], 2).await;
    assert_eq!(
        proxy.proxy_state(&psc).expect("proxy").status,
        ContractStatus::Closing
    );

    // 2. Grant refund at 1500 tokens: 500 more charged (price 2), the rest returned.
    let client_wallet = chain.engine().wallet_balance(&cw).expect("balance");
    let state = after_sync(&proxy, || proxy.client_state(&csc))
        .await
        .expect("client state");
    assert_eq!(state.params_version, old_version);
    let grant = signed(&proxy, VoucherKind::ClientGrantRefund, &csc, 1500);
    let refund = proxy.client_grant_refund(&csc, &grant).expect("refund");
    assert_eq!((refund.tokens, refund.amount), (500, 1000));
    assert_eq!(
        proxy.pending_messages()[0].value,
        crate::messages::value::REGISTER_AND_CLOSE_FLOW
    );
    settle(&[&proxy], 2).await;
    let state = proxy.client_state(&csc).expect("client state");
    assert_eq!(
        (state.status, state.tokens_used, state.balance, state.stake),
        (ContractStatus::Closed, 1500, 0, ONE_TON)
    );
    // The whole balance comes back: 1 TON − 3000 charged (the stake is a figure inside it).
    assert_eq!(
        chain.engine().wallet_balance(&cw).expect("balance"),
        client_wallet + ONE_TON - 3000
    );
    assert!(matches!(
        proxy.client_grant_refund(&csc, &grant),
        Err(LedgerError::WrongState(_))
    ));

    // 3. Last payout at 1200 tokens (fee 1), then the worker contract is closed.
    let worker_wallet = chain.engine().wallet_balance(&ww).expect("balance");
    let last = signed(&proxy, VoucherKind::WorkerLastPayout, &wsc, 1200);
    let paid = after_sync(&proxy, || proxy.worker_last_payout(&wsc, &last))
        .await
        .expect("last payout");
    assert_eq!((paid.tokens, paid.amount), (1200, 1200));
    settle(&[&proxy], 2).await;
    let ws = proxy.worker_state(&wsc).expect("worker state");
    assert_eq!((ws.status, ws.tokens), (ContractStatus::Closed, 1200));
    assert_eq!(
        chain.engine().wallet_balance(&ww).expect("balance"),
        worker_wallet + 1200
    );
    // A forged last payout is refused before anything is sent.
    let forged = signed(&client, VoucherKind::WorkerLastPayout, &wsc, 2000);
    assert!(proxy.worker_last_payout(&wsc, &forged).is_err());

    // 4. Close completion after the delay: stake, commission and pool back to the owner.
    chain
        .advance_clock(unlock - chain.engine().now())
        .expect("clock");
    settle(&[&proxy], 1).await;
    let proxy_wallet = chain.engine().wallet_balance(&pw).expect("balance");
    proxy.proxy_complete_close(&pw, &psc).expect("complete");
    settle(&[&proxy], 2).await;
    assert_eq!(
        proxy.proxy_state(&psc).expect("proxy").status,
        ContractStatus::Closed
    );
    // Stake 5 TON + commission 1500 × (2 − 1) + pool 1500 × 1 − 1200 paid.
    assert_eq!(
        chain.engine().wallet_balance(&pw).expect("balance"),
        proxy_wallet + 5 * ONE_TON + 1500 + 300
    );
    assert!(
        chain.failed_messages().is_empty(),
        "{:?}",
        chain.failed_messages()
    );
    assert_eq!(
        chain.engine().devnet_holdings(),
        chain.engine().devnet_minted()
    );
}
