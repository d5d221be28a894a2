//! A whole network on the **TON backend**: a `cocoon proxy`, a `cocoon worker` and a
//! `cocoon client` process, each pointed at a TON global config whose two liteservers are
//! mock liteservers on loopback (in this test process) and at the root contract of the
//! contract-SIMULATING `MockChain` behind them (`cocoon_ton::mock_lite`; nothing touches
//! TON). The engine is the in-process fake engine (simulated answers, no model).
//!
//! The root contract registers the proxy's two ports, so the worker and the client find it
//! through the chain. Funded by the test: the three cocoon wallets (they send every
//! message) and the proxy's `owner_address` (the simulation takes a proxy's stake from the
//! contract owner; see `cocoon_ton::mock_chain`).
//!
//! Checked, on the simulated chain's books: the proxy contract is deployed; the worker
//! contract (owned by the worker's `owner_address`) and the client contract (owned by the
//! client's cocoon wallet, the identity it announces) are deployed through their wallets;
//! after one chat request, the client contract's balance fell by tokens × price, the
//! worker's owner wallet rose by tokens × fee and the proxy owner's wallet by tokens ×
//! (price − fee), through a signed charge on the client contract, a signed payout on the
//! worker contract and a payout request on the proxy contract; then the client closes its
//! contract by hand (`/request/close`, and `/request/close` again once unlocked) and gets its
//! balance back (the stake is a figure inside it). Every message is sent through a cocoon wallet and seen on chain.

mod ton_common;

use std::time::Duration;

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::ledger::ContractStatus;
use cocoon_ton::messages::op;
use serde_json::{json, Value};

use ton_common::client_close::client_closes_and_withdraws;
use ton_common::network::{TonNetwork, MODEL};
use ton_common::{address, ops_received, wait_until, wallet_of};

/// sha256("") — the client's secret hash with an empty `secret_string`.
const SHA256_OF_EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// Whole-test budget for the network to come up and settle (debug build, 2 shared cores).
const BUDGET: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_worker_client_processes_move_money_through_mock_liteservers() {
    let net = TonNetwork::start("network", BUDGET, |root| {
        // Short enough to withdraw a closed client contract within the test.
        root.params.client_delay_before_close = 2;
    })
    .await;
    let (ton, proxy, worker, client) = (&net.ton, &net.proxy, &net.worker, &net.client);
    let (client_http, started, deadline) = (net.client_http, net.started, net.deadline);
    let (proxy_node, proxy_ready) = (&net.proxy_node, net.proxy_ready);
    let (price, fee) = (
        NanoTon::from(net.root.params.price_per_token),
        NanoTon::from(net.root.params.worker_fee_per_token),
    );
    let logs = || net.logs();

    net.wait_serving().await;
    let network_ready = started.elapsed();

    let before = ton.chain.engine().devnet_snapshot();
    assert_eq!(before.proxies.len(), 1, "one proxy contract");
    assert_eq!(before.workers.len(), 1, "one worker contract");
    assert_eq!(before.clients.len(), 1, "one client contract");
    let (proxy_sc, proxy_state) = before.proxies.iter().next().expect("proxy contract");
    let (worker_sc, worker_state) = before.workers.iter().next().expect("worker contract");
    let (client_sc, client_state) = before.clients.iter().next().expect("client contract");
    let (proxy_sc, worker_sc, client_sc) =
        (address(proxy_sc), address(worker_sc), address(client_sc));
    assert_eq!(proxy_state.owner, proxy.owner().to_hex());
    assert_eq!(
        worker_state.owner,
        worker.owner().to_hex(),
        "worker contract owner"
    );
    assert_eq!(worker_state.proxy_sc, proxy_sc.to_hex());
    assert_eq!(
        client_state.owner,
        client.wallet().to_hex(),
        "the client contract is owned by the client's cocoon wallet"
    );
    assert_eq!(client_state.proxy_sc, proxy_sc.to_hex());
    assert_eq!(client_state.status, ContractStatus::Active);
    assert!(client_state.balance > 0, "topped up: {client_state:?}");
    assert_eq!(
        client_state.secret_hash.as_slice(),
        hex::decode(SHA256_OF_EMPTY).expect("hex").as_slice(),
        "secret hash set through the wallet"
    );
    let deploy_ops = ops_received(ton, &client_sc, &client.wallet());
    assert!(
        deploy_ops.contains(&op::EXT_CLIENT_TOP_UP)
            && deploy_ops.contains(&op::OWNER_CLIENT_CHANGE_SECRET_HASH),
        "client contract messages from the client wallet: {deploy_ops:x?}"
    );
    // Long auth (the proxy had never seen this client): the client registered through its
    // contract, the contract told the proxy contract, and the proxy let the client in.
    assert!(
        deploy_ops.contains(&op::OWNER_CLIENT_REGISTER),
        "owner_client_register from the client wallet: {deploy_ops:x?}"
    );
    assert!(
        ops_received(ton, &proxy_sc, &client_sc).contains(&op::CLIENT_PROXY_REQUEST),
        "the client contract forwarded the registration to the proxy contract"
    );
    assert!(
        proxy_node.log().contains("client authorized (long auth)"),
        "{}",
        logs()
    );

    // One request through client → proxy → worker → fake engine.
    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "Hello!"}]});
    let response = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{client_http}/v1/chat/completions"
        ))
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap_or_else(|e| panic!("chat request: {e}\n{}", logs()));
    let status = response.status();
    let text = response.text().await.expect("answer body");
    assert!(status.is_success(), "HTTP {status}: {text}\n{}", logs());
    let answer: Value = serde_json::from_str(&text).expect("answer JSON");
    let usage = &answer["usage"];
    // Coefficient 1.0 and multipliers 1.0: adjusted tokens = prompt + completion.
    let tokens = usage["prompt_tokens"].as_u64().expect("prompt_tokens")
        + usage["completion_tokens"]
            .as_u64()
            .expect("completion_tokens");
    assert!(tokens > 0, "the fake engine reports usage: {answer}");

    // Settled on chain: the proxy commits, charges the client contract and pays the worker
    // contract (or the worker submits its voucher itself).
    let settled = || {
        let s = ton.chain.engine().devnet_snapshot();
        let charged = s
            .clients
            .get(&client_sc.to_hex())
            .map_or(0, |c| c.tokens_used);
        let paid = s.workers.get(&worker_sc.to_hex()).map_or(0, |w| w.tokens);
        charged >= tokens && paid >= tokens
    };
    wait_until(
        "the charge and the payout on chain",
        deadline,
        logs,
        settled,
    )
    .await;
    let settled_at = started.elapsed();
    let after = ton.chain.engine().devnet_snapshot();

    let client_before = &before.clients[&client_sc.to_hex()];
    let client_after = &after.clients[&client_sc.to_hex()];
    assert_eq!(client_after.tokens_used, tokens);
    assert_eq!(client_after.stake, client_before.stake);
    assert_eq!(
        client_after.balance + NanoTon::from(tokens) * price,
        client_before.balance,
        "the client contract balance fell by tokens × price"
    );
    assert_eq!(after.workers[&worker_sc.to_hex()].tokens, tokens);
    assert_eq!(
        wallet_of(&after, &worker.owner()),
        wallet_of(&before, &worker.owner()) + NanoTon::from(tokens) * fee,
        "the worker's owner wallet rose by tokens × fee"
    );
    // The commission (price − fee per token) is withdrawn to the proxy owner's wallet
    // (threshold 1 nanoTON): through `ext_proxy_payout_request` from the proxy's wallet.
    let earned = NanoTon::from(tokens) * (price - fee);
    let withdrawn = || {
        let s = ton.chain.engine().devnet_snapshot();
        s.proxies[&proxy_sc.to_hex()].commission == 0
            && wallet_of(&s, &proxy.owner()) == wallet_of(&before, &proxy.owner()) + earned
    };
    wait_until(
        "the commission withdrawn to the proxy owner's wallet",
        deadline,
        logs,
        withdrawn,
    )
    .await;
    assert_eq!(before.proxies[&proxy_sc.to_hex()].commission, 0);
    let withdraw_ops = ops_received(ton, &proxy_sc, &proxy.wallet());
    assert!(
        withdraw_ops.contains(&op::EXT_PROXY_PAYOUT_REQUEST),
        "the proxy's payout request on its contract: {withdraw_ops:x?}"
    );

    // The messages that moved it, as the chain saw them.
    let charge_ops = ops_received(ton, &client_sc, &proxy.wallet());
    assert!(
        charge_ops.contains(&op::EXT_CLIENT_CHARGE_SIGNED),
        "the proxy's signed charge on the client contract: {charge_ops:x?}"
    );
    let payouts: Vec<u32> = [proxy.wallet(), worker.wallet()]
        .iter()
        .flat_map(|from| ops_received(ton, &worker_sc, from))
        .collect();
    assert!(
        payouts.contains(&op::EXT_WORKER_PAYOUT_REQUEST_SIGNED),
        "a signed payout on the worker contract: {payouts:x?}"
    );
    // A voucher submitted twice (e.g. by the proxy and by the worker) is refused the
    // second time, as a contract refuses a voucher that is not higher; nothing else fails.
    let voucher_ops = [
        op::EXT_WORKER_PAYOUT_REQUEST_SIGNED,
        op::EXT_CLIENT_CHARGE_SIGNED,
    ];
    let unexpected: Vec<_> = ton
        .chain
        .failed_messages()
        .into_iter()
        .filter(|f| !(voucher_ops.contains(&f.op) && f.error.contains("is not above the settled")))
        .collect();
    assert!(unexpected.is_empty(), "refused messages: {unexpected:?}");
    let paid_at = started.elapsed();

    client_closes_and_withdraws(&net, &client_sc, &proxy_sc, logs).await;
    eprintln!(
        "ton network: proxy ready after {proxy_ready:?}, client serving after \
         {network_ready:?}, {tokens} tokens settled after {settled_at:?}, commission paid \
         after {paid_at:?}, client contract closed and withdrawn: total {:?}",
        started.elapsed()
    );
    net.engine_task.abort();
}
