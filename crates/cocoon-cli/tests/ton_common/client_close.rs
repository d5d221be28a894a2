//! The client's close flow on the simulated TON, driven through a running `cocoon client`'s
//! manual money controls on its admin port (`/request/close` twice, with the reference's
//! `?access_hash=`), checked on the chain.

use std::time::{Duration, Instant};

use cocoon_ledger::ledger::devnet::DevnetSnapshot;
use cocoon_ledger::ledger::{ClientContractState, ContractStatus};
use cocoon_ton::messages::op;
use tonlib_core::TonAddress;

use super::network::CLIENT_ACCESS_HASH;
use super::{ops_received, wait_until, wallet_of, MockTon, Party};

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

/// The client's close flow by hand (`/request/close`, then `/request/close` again once the
/// contract unlocks): two `owner_client_request_refund` from its wallet (the real contract
/// refuses `owner_client_withdraw` while Closing); the contract's balance (the stake is a
/// figure inside it) comes back to the client's cocoon wallet: what is above the stake at
/// once, the rest as a forced refund the proxy's stake covers.
pub async fn client_closes_and_withdraws(
    ton: &MockTon,
    client: &Party,
    client_admin: u16,
    client_sc: &TonAddress,
    proxy_sc: &TonAddress,
    deadline: Instant,
    logs: impl Fn() -> String + Copy,
) {
    let contract =
        |s: &DevnetSnapshot| -> ClientContractState { s.clients[&client_sc.to_hex()].clone() };
    let open = ton.chain.engine().devnet_snapshot();
    let proxy = proxy_sc.to_hex();
    let (status, body) = admin_post(client_admin, &format!("/request/close?proxy={proxy}")).await;
    assert!(
        status == 200 && body.contains("refund requested"),
        "close: HTTP {status} {body}\n{}",
        logs()
    );
    let closing =
        || contract(&ton.chain.engine().devnet_snapshot()).status == ContractStatus::Closing;
    wait_until("the client contract closing", deadline, logs, closing).await;
    // Closed by the second request once the chain's clock passed unlock_ts (refused as
    // locked before).
    let mut withdrawn = None;
    while withdrawn.is_none() {
        let (status, body) =
            admin_post(client_admin, &format!("/request/close?proxy={proxy}")).await;
        if status == 200 {
            withdrawn = Some(body);
        } else {
            assert!(
                Instant::now() < deadline,
                "second close: HTTP {status} {body}\n{}",
                logs()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let closed =
        || contract(&ton.chain.engine().devnet_snapshot()).status == ContractStatus::Closed;
    wait_until("the client contract closed", deadline, logs, closed).await;
    let after = ton.chain.engine().devnet_snapshot();
    let was = contract(&open);
    assert_eq!(
        wallet_of(&after, &client.wallet()),
        wallet_of(&open, &client.wallet()) + was.balance,
        "the balance back in the client's wallet ({withdrawn:?})"
    );
    let ops = ops_received(ton, client_sc, &client.wallet());
    let requests = ops
        .iter()
        .filter(|o| **o == op::OWNER_CLIENT_REQUEST_REFUND)
        .count();
    assert!(
        requests == 2 && !ops.contains(&op::OWNER_CLIENT_WITHDRAW),
        "close messages from the client wallet: {ops:x?}"
    );
}
