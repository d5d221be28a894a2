//! The client's close flow on the simulated TON, driven through a running `cocoon client`'s
//! manual money controls on its admin port (`/request/close`, with the reference's
//! `?access_hash=`), finished by the proxy's grant refund, checked on the chain.

use std::time::Duration;

use cocoon_ledger::ledger::devnet::DevnetSnapshot;
use cocoon_ledger::ledger::{ClientContractState, ContractStatus};
use cocoon_ton::messages::op;
use tonlib_core::TonAddress;

use super::network::{TonNetwork, CLIENT_ACCESS_HASH};
use super::{ops_received, wait_until, wallet_of};

/// `POST http://127.0.0.1:port/path?query&access_hash=…` on the client's admin port:
/// (status, body).
pub async fn admin_post(port: u16, path_and_query: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{port}{path_and_query}&access_hash={CLIENT_ACCESS_HASH}"
        ))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path_and_query}: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// The client's close flow: one `/request/close` (`owner_client_request_refund` from its
/// wallet) puts the contract in Closing; the proxy, seeing it Closing with every token
/// committed, sends the final charge and refund itself (`ext_client_grant_refund_signed`,
/// as the reference proxy does) — so no forced refund from the proxy's stake is needed; the
/// contract's balance (the stake is a figure inside it) comes back to the client's cocoon
/// wallet.
pub async fn client_closes_and_withdraws(
    net: &TonNetwork,
    client_sc: &TonAddress,
    proxy_sc: &TonAddress,
    logs: impl Fn() -> String + Copy,
) {
    let (ton, client, proxy) = (&net.ton, &net.client, &net.proxy);
    let (client_admin, deadline) = (net.client_admin, net.deadline);
    let contract =
        |s: &DevnetSnapshot| -> ClientContractState { s.clients[&client_sc.to_hex()].clone() };
    let open = ton.chain.engine().devnet_snapshot();
    let proxy_text = proxy_sc.to_hex();
    let (status, body) =
        admin_post(client_admin, &format!("/request/close?proxy={proxy_text}")).await;
    assert!(
        status == 200 && body.contains("refund requested"),
        "close: HTTP {status} {body}\n{}",
        logs()
    );
    let closed =
        || contract(&ton.chain.engine().devnet_snapshot()).status == ContractStatus::Closed;
    wait_until(
        "the client contract closed by the proxy's grant refund",
        deadline,
        logs,
        closed,
    )
    .await;
    let after = ton.chain.engine().devnet_snapshot();
    let was = contract(&open);
    assert_eq!(
        wallet_of(&after, &ton.wallet_of(client)),
        wallet_of(&open, &ton.wallet_of(client)) + was.balance,
        "the balance back in the client's wallet"
    );
    let ops = ops_received(ton, client_sc, &ton.wallet_of(client));
    let requests = ops
        .iter()
        .filter(|o| **o == op::OWNER_CLIENT_REQUEST_REFUND)
        .count();
    assert!(
        requests == 1 && !ops.contains(&op::OWNER_CLIENT_WITHDRAW),
        "close messages from the client wallet: {ops:x?}"
    );
    let granted = ops_received(ton, client_sc, &ton.wallet_of(proxy));
    assert!(
        granted.contains(&op::EXT_CLIENT_GRANT_REFUND_SIGNED),
        "the proxy's grant refund on the client contract: {granted:x?}"
    );
}
