//! A: a Closing client contract is closed by a SECOND `owner_client_request_refund` after
//! its unlock time; `owner_client_withdraw` is refused there (exit 1006).

use cocoon_ledger::accounting::ONE_TON;
use cocoon_ledger::ledger::{ContractStatus, Ledger, LedgerError};
use cocoon_ton::messages::op;

use super::ours::{chain, funded_client, ledger, proxy_key, settle};
use super::world::{addr, Real, START};

#[tokio::test]
async fn a_client_close_flow() {
    ours().await;
    if let Some(mut real) = Real::start() {
        real_contracts(&mut real);
    }
}

fn real_contracts(real: &mut Real) {
    let proxy_owner = real.proxy_owner.clone();
    assert_eq!(
        real.increase_stake(&proxy_owner, 2 * ONE_TON).first_exit(),
        Some(0)
    );
    let owner = addr(0x0c);
    let csc = real.deploy_client(&owner);
    assert_eq!(
        real.top_up(&owner, &csc, 10 * ONE_TON).first_exit(),
        Some(0)
    );
    let client = real.account(&csc);
    assert_eq!(
        (client.field("balance"), client.field("stake")),
        (10 * ONE_TON, ONE_TON)
    );

    // First request (Active): Closing, and the money above the stake comes back at once.
    let first = real.request_refund(&owner, &csc);
    assert_eq!(
        first
            .tx_on(&csc, op::OWNER_CLIENT_REQUEST_REFUND)
            .exit_code(),
        Some(0)
    );
    assert_eq!(Real::payouts_to(&first, &owner), [9 * ONE_TON]);
    let client = real.account(&csc);
    assert_eq!(client.field("state"), 1);
    assert_eq!(client.field("balance"), ONE_TON);
    assert_eq!(client.field("unlock_ts"), u128::from(START + 3600));

    // Withdraw is refused outside Active: exit 1006, bounced, nothing moves.
    let withdraw = real.withdraw(&owner, &csc);
    assert_eq!(
        withdraw.tx_on(&csc, op::OWNER_CLIENT_WITHDRAW).exit_code(),
        Some(1006)
    );
    assert!(Real::payouts_to(&withdraw, &owner).is_empty());

    // A second request needs `unlock_ts < now` strictly: 1011 before and at the unlock time.
    assert_eq!(real.request_refund(&owner, &csc).first_exit(), Some(1011));
    real.sb.advance(3600);
    assert_eq!(real.request_refund(&owner, &csc).first_exit(), Some(1011));
    real.sb.advance(1);
    let second = real.request_refund(&owner, &csc);
    assert_eq!(second.first_exit(), Some(0));
    // The forced refund through the proxy pays the rest (within the proxy's stake).
    assert_eq!(Real::payouts_to(&second, &owner), [ONE_TON]);
    let client = &second.accounts[&csc.to_hex()];
    assert_eq!((client.field("state"), client.field("balance")), (2, 0));
    // The prepaid money never was in the client contract: it keeps only its deploy TON.
    assert!(client.balance() <= 800_000_000, "{client:?}");
    assert_eq!(real.account(&real.proxy_sc.clone()).field("stake"), ONE_TON);
    // Everything topped up came back: 9 TON at once, 1 TON at the close.
    println!("real: refunds 9 TON at the first request, 1 TON at the second; withdraw 1006");
}

async fn ours() {
    let chain = chain();
    let proxy = ledger(&chain, 1, 100 * ONE_TON);
    let client = ledger(&chain, 2, 100 * ONE_TON);
    settle(&[&proxy, &client], 1).await;
    let psc = proxy
        .proxy_deploy(
            proxy.wallet_address(),
            &proxy_key(1).verifying_key(),
            2 * ONE_TON,
        )
        .expect("proxy deploy");
    settle(&[&proxy, &client], 2).await;
    let me = client.wallet_address().clone();
    let csc = funded_client(&client, &psc, 10 * ONE_TON, &[&client]).await;

    let unlock = client
        .client_request_refund(&me, &csc)
        .expect("first request");
    assert_eq!(unlock, client.now() + 3600);
    settle(&[&client], 2).await;
    assert_eq!(
        client.client_state(&csc).expect("state").status,
        ContractStatus::Closing
    );
    // As the contract (1006), the ledger refuses withdraw on a Closing contract.
    assert!(matches!(
        client.client_withdraw(&me, &csc),
        Err(LedgerError::WrongState(_))
    ));
    // As the contract (1011), a second request waits until strictly after the unlock time.
    assert!(matches!(
        client.client_request_refund(&me, &csc),
        Err(LedgerError::Locked { .. })
    ));
    chain.advance_clock(3600).expect("clock");
    settle(&[&client], 1).await;
    assert!(matches!(
        client.client_request_refund(&me, &csc),
        Err(LedgerError::Locked { .. })
    ));
    chain.advance_clock(1).expect("clock");
    settle(&[&client], 1).await;
    assert_eq!(
        client
            .client_request_refund(&me, &csc)
            .expect("second request"),
        unlock
    );
    settle(&[&client], 2).await;
    assert_eq!(
        client.client_state(&csc).expect("state").status,
        ContractStatus::Closed
    );
    // Everything came back (the mock moves no gas): the top-up and the stake it took.
    assert_eq!(client.wallet_balance(&me).expect("wallet"), 100 * ONE_TON);
    let whats: Vec<&str> = client.message_history().iter().map(|m| m.what).collect();
    assert_eq!(
        whats,
        [
            "client_deploy",
            "client_top_up",
            "client_request_refund",
            "client_request_refund"
        ]
    );
    assert!(
        chain.failed_messages().is_empty(),
        "{:?}",
        chain.failed_messages()
    );
}
