//! B: the worker contract's notification to the proxy contract carries
//! `worker_part:coins proxy_part:coins send_excesses_to:addr`, not a token count.

use cocoon_ledger::accounting::ONE_TON;
use cocoon_ledger::ledger::Ledger;
use cocoon_ledger::root_config::{ContractCodes, RootParams};
use cocoon_ledger::voucher::{self, VoucherKind, VoucherTerms};
use cocoon_ton::messages::{
    self, op, parse_proxy_inbound, ProxyContractContext, ProxyInbound, WorkerProxyPayload,
};
use ed25519_dalek::VerifyingKey;
use tonlib_core::cell::Cell;
use tonlib_core::TonAddress;

use super::ours::{
    after_sync, funded_client, ledger, proxy_key, settle, with_deployed_proxy, WithProxy,
};
use super::world::{addr, Real};

const TOKENS: u64 = 250_000;

#[tokio::test]
async fn b_worker_payout_notification() {
    ours().await;
    if let Some(mut real) = Real::start() {
        real_contracts(&mut real);
    }
}

fn parse_payout(
    proxy_sc: &TonAddress,
    key: &VerifyingKey,
    params: &RootParams,
    codes: &ContractCodes,
    worker_sc: &TonAddress,
    body: &Cell,
) -> (u64, WorkerProxyPayload) {
    let ctx = ProxyContractContext {
        proxy_sc,
        proxy_key: key,
        params,
        codes,
        own_wallet: &addr(0x99),
    };
    match parse_proxy_inbound(&ctx, worker_sc, body).expect("our parser") {
        ProxyInbound::Worker(w) => (w.tokens, w.payload.expect("payload")),
        other => panic!("not a worker request: {other:?}"),
    }
}

fn real_contracts(real: &mut Real) {
    // The proxy contract needs TON to pay: a client's 10 TON top-up.
    let client = addr(0x0c);
    let csc = real.deploy_client(&client);
    assert_eq!(
        real.top_up(&client, &csc, 10 * ONE_TON).first_exit(),
        Some(0)
    );
    let worker = addr(0x0e);
    let wsc = real.deploy_worker(&worker);
    let terms = VoucherTerms {
        kind: VoucherKind::WorkerPayout,
        qid: 77,
        tokens: TOKENS,
        target: wsc.clone(),
    };
    let body = messages::signed_voucher_body(&real.proxy_key, &terms, &worker).expect("voucher");
    let proxy_sc = real.proxy_sc.clone();
    let trace = real.sb.send(&worker, &wsc, ONE_TON / 2, Some(&body), None);
    assert_eq!(trace.first_exit(), Some(0), "{trace:#?}");
    let notification = trace.tx_on(&proxy_sc, op::WORKER_PROXY_REQUEST);
    assert_eq!(notification.exit_code(), Some(0));
    let (tokens, payload) = parse_payout(
        &proxy_sc,
        &real.proxy_key.verifying_key(),
        &real.params,
        &real.codes,
        &wsc,
        &notification.in_msg.as_ref().expect("in msg").body_cell(),
    );
    assert_eq!(tokens, TOKENS);
    // contracts.md §4.2: 250 000 tokens ⇒ 2.25 TON for the worker, 0.25 TON commission.
    assert_eq!(
        payload,
        WorkerProxyPayload::PayoutRequest {
            worker_part: 2_250_000_000,
            proxy_part: 250_000_000,
            excess_to: worker.clone(),
        }
    );
    assert_eq!(Real::payouts_to(&trace, &worker), [2_250_000_000]);
    assert_eq!(real.account(&proxy_sc).field("balance"), 250_000_000);
    println!("real: worker_part 2.25 TON, proxy_part 0.25 TON for {TOKENS} tokens");
}

async fn ours() {
    let WithProxy {
        chain,
        proxy,
        party: worker,
        psc,
    } = with_deployed_proxy(3, 10 * ONE_TON, 3).await;
    let key = proxy_key(1);
    // The devnet engine pays workers from what clients were charged: a client is charged
    // the same tokens first.
    let client = ledger(&chain, 2, 100 * ONE_TON);
    settle(&[&client], 1).await;
    let csc = funded_client(&client, &psc, 10 * ONE_TON, &[&client, &proxy]).await;
    let charge = VoucherTerms {
        kind: VoucherKind::ClientCharge,
        qid: 76,
        tokens: TOKENS,
        target: csc.clone(),
    };
    let v = voucher::sign(&key, charge, proxy.wallet_address()).expect("charge voucher");
    after_sync(&proxy, || proxy.client_charge(&csc, &v.boc))
        .await
        .expect("charge");
    settle(&[&proxy], 2).await;

    let me = worker.wallet_address().clone();
    let wsc = after_sync(&worker, || worker.worker_deploy(&me, &psc))
        .await
        .expect("worker deploy");
    settle(&[&worker], 2).await;
    let terms = VoucherTerms {
        kind: VoucherKind::WorkerPayout,
        qid: 77,
        tokens: TOKENS,
        target: wsc.clone(),
    };
    let v = voucher::sign(&key, terms, proxy.wallet_address()).expect("voucher");
    worker.worker_payout(&wsc, &v.boc).expect("payout");
    settle(&[&worker], 2).await;
    assert!(
        chain.failed_messages().is_empty(),
        "{:?}",
        chain.failed_messages()
    );
    let tx = chain
        .transactions_of(&psc)
        .into_iter()
        .filter_map(|t| t.in_msg)
        .find(|m| m.source.as_ref() == Some(&wsc))
        .expect("the worker contract told its proxy contract");
    let params = chain.engine().root_config().expect("config").params;
    let (tokens, payload) = parse_payout(
        &psc,
        &key.verifying_key(),
        &params,
        chain.codes(),
        &wsc,
        &tx.body,
    );
    assert_eq!(tokens, TOKENS);
    assert_eq!(
        payload,
        WorkerProxyPayload::PayoutRequest {
            worker_part: 2_250_000_000,
            proxy_part: 250_000_000,
            excess_to: me.clone(),
        }
    );
}
