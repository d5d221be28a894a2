//! The contract model against the worked examples of contracts.md §4 (contract-decided
//! amounts only: no gas).

use super::*;
use crate::accounting::{Prices, ONE_TON};

const CLIENT_OWNER: &str = "0:cc";
const WORKER_OWNER: &str = "0:ee";
const PROXY_SC: &str = "0:aa";

fn prices() -> Prices {
    Prices::new(10_000, 9_000).expect("prices")
}

fn client() -> ClientContractState {
    client::deployed(CLIENT_OWNER.into(), PROXY_SC.into(), ONE_TON, 1)
}

fn proxy() -> ProxyContractState {
    proxy::deployed("0:0a".into(), [7; 32], 0, 1)
}

/// Runs a client handler's notice through the proxy; returns the payouts.
fn via_proxy(p: &mut ProxyContractState, out: &[Emitted]) -> Result<Vec<Emitted>, Exit> {
    let mut payouts = Vec::new();
    for msg in out {
        let handled = match msg {
            Emitted::ClientNotice {
                owner,
                payload: Some(payload),
                ..
            } => proxy::client_notice(p, owner, payload)?,
            Emitted::WorkerNotice {
                owner,
                payout: Some(payout),
                ..
            } => proxy::worker_notice(p, owner, payout)?,
            _ => continue,
        };
        *p = handled.0;
        payouts.extend(handled.1);
    }
    Ok(payouts)
}

fn paid(to: &str, amount: NanoTon) -> Vec<Emitted> {
    vec![Emitted::Payout {
        to: to.into(),
        amount,
    }]
}

#[test]
fn the_client_stake_is_inside_the_balance_and_only_the_excess_is_withdrawn() {
    let mut p = proxy();
    let (p2, _) = proxy::increase_stake(&p, 2 * ONE_TON).expect("stake");
    p = p2;
    let c = client();
    assert_eq!(
        (c.balance, c.stake),
        (0, ONE_TON),
        "init data: no money for the stake"
    );
    let (c, out) = client::top_up(&c, 10 * ONE_TON).expect("top up");
    assert!(via_proxy(&mut p, &out).expect("kept").is_empty());
    assert_eq!(p.funds, 12 * ONE_TON);
    let (c, out, taken) = client::charge(&c, 300_000, &prices()).expect("charge");
    assert_eq!((taken, c.balance), (3 * ONE_TON, 7 * ONE_TON));
    assert!(via_proxy(&mut p, &out).expect("info").is_empty());
    assert_eq!(p.commission, 0, "no commission at charge time");
    let (c, out) = client::withdraw(&c, CLIENT_OWNER).expect("withdraw");
    assert_eq!(c.balance, ONE_TON);
    assert_eq!(via_proxy(&mut p, &out), Ok(paid(CLIENT_OWNER, 6 * ONE_TON)));
    assert_eq!(
        client::withdraw(&c, CLIENT_OWNER).map(|_| ()),
        Err(Exit::NothingAboveStake)
    );
    assert_eq!(
        client::withdraw(&c, WORKER_OWNER)
            .map(|_| ())
            .map_err(|e| e.code()),
        Err(1009)
    );
}

#[test]
fn a_charge_beyond_the_balance_forgives_the_rest() {
    let (c, _) = client::top_up(&client(), ONE_TON).expect("top up");
    let (c, _, taken) = client::charge(&c, 700_000, &prices()).expect("charge");
    assert_eq!((taken, c.balance, c.tokens_used), (ONE_TON, 0, 700_000));
    assert_eq!(
        client::charge(&c, 700_000, &prices())
            .map(|_| ())
            .map_err(|e| e.code()),
        Err(1000)
    );
}

#[test]
fn closing_a_client_refunds_the_excess_at_once_then_forces_the_rest_capped_by_the_proxy_stake() {
    let mut p = proxy();
    let (c, out) = client::top_up(&client(), 3 * ONE_TON).expect("top up");
    via_proxy(&mut p, &out).expect("kept");
    let (c, out) = client::request_refund(&c, CLIENT_OWNER, 100, 3600).expect("first");
    assert_eq!(
        (c.status, c.balance, c.unlock_ts),
        (ContractStatus::Closing, ONE_TON, 3700)
    );
    assert_eq!(via_proxy(&mut p, &out), Ok(paid(CLIENT_OWNER, 2 * ONE_TON)));
    assert_eq!(
        client::withdraw(&c, CLIENT_OWNER)
            .map_err(|e| e.code())
            .map(|_| ()),
        Err(1006)
    );
    let locked = client::request_refund(&c, CLIENT_OWNER, 3700, 3600).map(|_| ());
    assert_eq!(locked.map_err(|e| e.code()), Err(1011));
    let (c, out) = client::request_refund(&c, CLIENT_OWNER, 3701, 3600).expect("second");
    assert_eq!(
        (c.status, c.balance, c.stake),
        (ContractStatus::Closed, 0, ONE_TON)
    );
    // Proxy stake 0: a 0 payout; the 1 TON stays with the proxy.
    assert_eq!(via_proxy(&mut p, &out), Ok(paid(CLIENT_OWNER, 0)));
    assert_eq!(p.funds, ONE_TON);
    // Closing the proxy pays it to the owner.
    let (p2, _) = proxy::close_request(&p, 0, 7200).expect("close");
    assert_eq!(
        proxy::close_complete(&p2, 7199)
            .map_err(|e| e.code())
            .map(|_| ()),
        Err(1011)
    );
    let (p3, out) = proxy::close_complete(&p2, 7200).expect("complete");
    assert_eq!(out, paid("0:0a", ONE_TON));
    assert_eq!(
        (p3.status, p3.funds, p3.stake),
        (ContractStatus::Closed, 0, 0)
    );
}

#[test]
fn commission_is_booked_when_a_worker_payout_arrives() {
    let mut p = proxy();
    let (_, out) = client::top_up(&client(), 5 * ONE_TON).expect("top up");
    via_proxy(&mut p, &out).expect("kept");
    let w = worker::deployed(WORKER_OWNER.into(), PROXY_SC.into(), 1);
    let (w, out) = worker::payout(&w, 250_000, false, &prices()).expect("payout");
    assert_eq!(
        via_proxy(&mut p, &out),
        Ok(paid(WORKER_OWNER, 2_250_000_000))
    );
    assert_eq!((p.commission, p.funds), (250_000_000, 2_750_000_000));
    let (q, out) = proxy::payout_request(&p).expect("payout request");
    assert_eq!(out, paid("0:0a", 250_000_000));
    assert_eq!((q.commission, q.funds), (0, 2_500_000_000));
    // A last payout beyond the proxy's money: exit 5, the voucher is used up anyway.
    let (w, out) = worker::payout(&w, 1_000_000, true, &prices()).expect("last payout");
    assert_eq!(via_proxy(&mut p, &out).map_err(|e| e.code()), Err(5));
    assert_eq!((w.status, w.tokens), (ContractStatus::Closed, 1_000_000));
    assert_eq!(
        worker::payout(&w, 1_000_001, false, &prices())
            .map_err(|e| e.code())
            .map(|_| ()),
        Err(1006)
    );
}

#[test]
fn a_top_up_to_a_closing_proxy_goes_back_to_the_client_owner_but_stays_in_the_balance() {
    let (p, _) = proxy::close_request(&proxy(), 0, 10).expect("close");
    let (c, out) = client::top_up(&client(), 2 * ONE_TON).expect("top up");
    let mut p = p;
    assert_eq!(via_proxy(&mut p, &out), Ok(paid(CLIENT_OWNER, 2 * ONE_TON)));
    assert_eq!((c.balance, p.funds), (2 * ONE_TON, 0));
}

#[test]
fn grant_refund_charges_then_returns_the_whole_balance_uncapped() {
    let mut p = proxy();
    let (c, out) = client::top_up(&client(), 2 * ONE_TON).expect("top up");
    via_proxy(&mut p, &out).expect("kept");
    let (c, _, _) = client::charge(&c, 100_000, &prices()).expect("charge");
    let (c, out, taken) = client::grant_refund(&c, 150_000, &prices()).expect("grant");
    assert_eq!(taken, ONE_TON / 2);
    assert_eq!(
        (c.status, c.balance, c.unlock_ts),
        (ContractStatus::Closed, 0, 0)
    );
    assert_eq!(via_proxy(&mut p, &out), Ok(paid(CLIENT_OWNER, ONE_TON / 2)));
    assert_eq!(
        client::grant_refund(&c, 150_000, &prices())
            .map(|_| ())
            .map_err(|e| e.code()),
        Err(1006)
    );
}
