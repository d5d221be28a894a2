//! E: a deploy leaves the proxy contract's stake at 0; only `ext_proxy_increase_stake`
//! raises it, and a forced refund to a client is capped by it.

use cocoon_ledger::accounting::ONE_TON;
use cocoon_ledger::ledger::Ledger;
use cocoon_ton::messages::op;

use super::ours::{chain, ledger, proxy_key, settle};
use super::world::{addr, Real};

#[tokio::test]
async fn e_proxy_stake_is_raised() {
    ours().await;
    if let Some(mut real) = Real::start() {
        real_contracts(&mut real);
    }
}

/// A client tops up 3 TON, asks for its refund (2 TON back at once), and after the unlock
/// asks again: the forced refund of its last 1 TON; returns what that paid.
fn forced_refund(real: &mut Real, owner_byte: u8) -> u128 {
    let owner = addr(owner_byte);
    let csc = real.deploy_client(&owner);
    assert_eq!(real.top_up(&owner, &csc, 3 * ONE_TON).first_exit(), Some(0));
    let first = real.request_refund(&owner, &csc);
    assert_eq!(Real::payouts_to(&first, &owner), [2 * ONE_TON]);
    real.sb.advance(3601);
    let second = real.request_refund(&owner, &csc);
    assert_eq!(second.first_exit(), Some(0));
    let proxy_tx = second.tx_on(&real.proxy_sc.clone(), op::CLIENT_PROXY_REQUEST);
    assert_eq!(proxy_tx.exit_code(), Some(0));
    let paid = Real::payouts_to(&second, &owner);
    assert_eq!(paid.len(), 1, "a payout is sent even when it is 0");
    paid[0]
}

fn real_contracts(real: &mut Real) {
    let proxy_sc = real.proxy_sc.clone();
    assert_eq!(
        real.account(&proxy_sc).field("stake"),
        0,
        "a deploy sets no stake"
    );
    // Without stake the forced refund pays 0: the client's last 1 TON stays in the proxy.
    assert_eq!(forced_refund(real, 0x21), 0);

    // Our encoder's ext_proxy_increase_stake, from the proxy owner: stake = the minimum.
    let owner = real.proxy_owner.clone();
    let min = real.params.min_proxy_stake;
    let raise = real.increase_stake(&owner, min);
    assert_eq!(
        raise
            .tx_on(&proxy_sc, op::EXT_PROXY_INCREASE_STAKE)
            .exit_code(),
        Some(0)
    );
    assert_eq!(real.account(&proxy_sc).field("stake"), min);
    // With the stake the forced refund pays, and lowers the stake by what it paid.
    assert_eq!(forced_refund(real, 0x22), ONE_TON);
    assert_eq!(real.account(&proxy_sc).field("stake"), min - ONE_TON);
    println!("real: forced refund 0 with stake 0, 1 TON with stake {min}");
}

async fn ours() {
    let chain = chain();
    let proxy = ledger(&chain, 1, 100 * ONE_TON);
    settle(&[&proxy], 1).await;
    let me = proxy.wallet_address().clone();
    let min = 2 * ONE_TON;
    let psc = proxy
        .proxy_deploy(&me, &proxy_key(1).verifying_key(), min)
        .expect("proxy deploy");
    settle(&[&proxy], 3).await;
    assert_eq!(proxy.proxy_state(&psc).expect("proxy").stake, min);
    // The stake came from ext_proxy_increase_stake sent after the deploy.
    let ops = chain.ops_received(&psc, &me);
    assert_eq!(
        ops,
        [op::EXT_PROXY_INCREASE_STAKE],
        "deploy (empty body), then the raise"
    );
    let whats: Vec<&str> = proxy.message_history().iter().map(|m| m.what).collect();
    assert_eq!(whats, ["proxy_deploy", "proxy_increase_stake"]);
    assert_eq!(
        proxy.wallet_balance(&me).expect("wallet"),
        100 * ONE_TON - min
    );
    assert!(
        chain.failed_messages().is_empty(),
        "{:?}",
        chain.failed_messages()
    );
}
