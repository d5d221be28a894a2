//! D, the money model: a charge beyond the client's balance clamps the balance to 0 and the
//! rest is forgiven (contracts.md §3.1.8), and what really moved is what `TonLedger`
//! reports; an unpayable worker voucher is used up; the client stake is a figure inside the
//! balance; the proxy's commission is booked when a worker payout arrives; closing the proxy
//! pays everything it holds to its owner. The last three run on the differential harness
//! (our contract model against the real code, compared after every step).

use cocoon_ledger::accounting::{NanoTon, ONE_TON};
use cocoon_ledger::ledger::{ContractStatus, Ledger};
use cocoon_ledger::voucher::{self, VoucherKind, VoucherTerms};
use cocoon_ton::messages::{self, op};
use tonlib_core::TonAddress;

use super::differential::{run_both, Op, Seen};
use super::driver::Sandbox;
use super::ours::{after_sync, funded_client, proxy_key, settle, with_deployed_proxy, WithProxy};
use super::world::{addr, Real, STANDARD, START};

/// 1 200 000 tokens × 10 000 = 12 TON, beyond the 11 TON the client has in.
const FIRST: u64 = 1_200_000;
/// Another 100 000 tokens (1 TON) on an empty balance.
const SECOND: u64 = 1_300_000;

/// What one charge did: the balance drop and the tokens used after it.
#[derive(Debug, PartialEq, Eq)]
struct Charged {
    moved: NanoTon,
    tokens_used: u64,
}

#[tokio::test]
async fn d_charge_beyond_balance_is_clamped() {
    let ours = ours().await;
    let Some(mut real) = Real::start() else {
        return;
    };
    let real = real_contracts(&mut real);
    println!("real: {real:?}; ours: {ours:?}");
    assert_eq!(ours, real);
}

fn real_contracts(real: &mut Real) -> Vec<Charged> {
    let proxy_owner = real.proxy_owner.clone();
    assert_eq!(
        real.increase_stake(&proxy_owner, 2 * ONE_TON).first_exit(),
        Some(0)
    );
    let owner = addr(0x0c);
    let csc = real.deploy_client(&owner);
    // 11 TON in: the 1 TON stake is a figure inside the balance.
    assert_eq!(
        real.top_up(&owner, &csc, 11 * ONE_TON).first_exit(),
        Some(0)
    );
    let mut out = Vec::new();
    for (qid, tokens) in [(80, FIRST), (81, SECOND)] {
        let before = real.account(&csc).field("balance");
        let terms = VoucherTerms {
            kind: VoucherKind::ClientCharge,
            qid,
            tokens,
            target: csc.clone(),
        };
        let body =
            messages::signed_voucher_body(&real.proxy_key, &terms, &proxy_owner).expect("voucher");
        let trace = real
            .sb
            .send(&proxy_owner, &csc, STANDARD, Some(&body), None);
        // Not refused: the charge succeeds and no money leaves the proxy contract.
        assert_eq!(
            trace.tx_on(&csc, op::EXT_CLIENT_CHARGE_SIGNED).exit_code(),
            Some(0),
            "{trace:#?}"
        );
        let client = real.account(&csc);
        assert_eq!(client.field("balance"), 0, "clamped to 0");
        out.push(Charged {
            moved: NanoTon::try_from(before - client.field("balance")).expect("amount"),
            tokens_used: u64::try_from(client.field("tokens_used")).expect("tokens"),
        });
    }
    // A refund request now has nothing above the stake: no refund, the contract closes.
    let trace = real.request_refund(&owner, &csc);
    assert_eq!(trace.first_exit(), Some(0));
    assert!(Real::payouts_to(&trace, &owner).is_empty(), "{trace:#?}");
    assert_eq!(real.account(&csc).field("state"), 1);
    out
}

async fn ours() -> Vec<Charged> {
    let WithProxy {
        chain,
        proxy,
        party: client,
        psc,
    } = with_deployed_proxy(2, 100 * ONE_TON, 2).await;
    let key = proxy_key(1);
    let me: TonAddress = client.wallet_address().clone();
    let csc = funded_client(&client, &psc, 11 * ONE_TON, &[&client, &proxy]).await;
    let mut out = Vec::new();
    for (qid, tokens) in [(80, FIRST), (81, SECOND)] {
        let terms = VoucherTerms {
            kind: VoucherKind::ClientCharge,
            qid,
            tokens,
            target: csc.clone(),
        };
        let v = voucher::sign(&key, terms, proxy.wallet_address()).expect("voucher");
        let settled = after_sync(&proxy, || proxy.client_charge(&csc, &v.boc))
            .await
            .expect("a charge beyond the balance is not refused");
        settle(&[&proxy, &client], 2).await;
        let state = client.client_state(&csc).expect("state");
        // The balance goes to 0; the stake figure stays (it is inside the balance, not money).
        assert_eq!((state.balance, state.stake), (0, ONE_TON), "clamped to 0");
        out.push(Charged {
            moved: settled.amount,
            tokens_used: state.tokens_used,
        });
    }
    let wallet = client.wallet_balance(&me).expect("wallet");
    client
        .client_request_refund(&me, &csc)
        .expect("refund request");
    settle(&[&client], 2).await;
    assert_eq!(client.wallet_balance(&me).expect("wallet"), wallet);
    assert_eq!(
        client.client_state(&csc).expect("state").status,
        ContractStatus::Closing
    );
    assert!(
        chain.failed_messages().is_empty(),
        "{:?}",
        chain.failed_messages()
    );
    out
}

/// 500 000 tokens × worker fee 9 000 = 4.5 TON: more than a proxy contract holding only
/// its deploy TON and a 2 TON stake can pay.
const UNPAYABLE: u64 = 500_000;

/// D (part): a worker voucher the proxy contract cannot pay (exit 5 there) is still used
/// up: the worker contract counts the tokens, the worker owner gets nothing, and the same
/// voucher cannot be submitted again.
#[tokio::test]
async fn d_unpaid_worker_voucher_is_used_up() {
    let ours = unpaid_ours().await;
    let Some(mut real) = Real::start() else {
        return;
    };
    let real = unpaid_real(&mut real);
    println!("real (tokens counted, paid to the owner): {real:?}; ours: {ours:?}");
    assert_eq!(ours, real);
}

fn unpaid_real(real: &mut Real) -> (u64, NanoTon) {
    let proxy_owner = real.proxy_owner.clone();
    assert_eq!(
        real.increase_stake(&proxy_owner, 2 * ONE_TON).first_exit(),
        Some(0)
    );
    let worker = addr(0x0e);
    let wsc = real.deploy_worker(&worker);
    let proxy_sc = real.proxy_sc.clone();
    let terms = VoucherTerms {
        kind: VoucherKind::WorkerPayout,
        qid: 90,
        tokens: UNPAYABLE,
        target: wsc.clone(),
    };
    let body = messages::signed_voucher_body(&real.proxy_key, &terms, &worker).expect("voucher");
    let trace = real.sb.send(&worker, &wsc, ONE_TON / 2, Some(&body), None);
    assert_eq!(trace.first_exit(), Some(0), "{trace:#?}");
    // The proxy contract cannot reserve its balance minus 4.5 TON: exit 5.
    assert_eq!(
        trace.tx_on(&proxy_sc, op::WORKER_PROXY_REQUEST).exit_code(),
        Some(5),
        "{trace:#?}"
    );
    let paid: NanoTon = Real::payouts_to(&trace, &worker).iter().sum();
    let tokens = u64::try_from(real.account(&wsc).field("tokens")).expect("tokens");
    // Used up: the same voucher again is refused by the worker contract (1000).
    let again = real.sb.send(&worker, &wsc, ONE_TON / 2, Some(&body), None);
    assert_eq!(again.first_exit(), Some(1000), "{again:#?}");
    (tokens, paid)
}

async fn unpaid_ours() -> (u64, NanoTon) {
    let WithProxy {
        chain,
        proxy,
        party: worker,
        psc,
    } = with_deployed_proxy(3, 10 * ONE_TON, 3).await;
    let key = proxy_key(1);
    let me = worker.wallet_address().clone();
    let wsc = after_sync(&worker, || worker.worker_deploy(&me, &psc))
        .await
        .expect("worker deploy");
    settle(&[&worker], 2).await;
    let wallet = worker.wallet_balance(&me).expect("wallet");
    let terms = VoucherTerms {
        kind: VoucherKind::WorkerPayout,
        qid: 90,
        tokens: UNPAYABLE,
        target: wsc.clone(),
    };
    let v = voucher::sign(&key, terms, proxy.wallet_address()).expect("voucher");
    worker
        .worker_payout(&wsc, &v.boc)
        .expect("payout submitted");
    settle(&[&worker], 2).await;
    assert!(
        chain.failed_messages().is_empty(),
        "{:?}",
        chain.failed_messages()
    );
    let tokens = worker.worker_state(&wsc).expect("worker").tokens;
    let paid = worker
        .wallet_balance(&me)
        .expect("wallet")
        .saturating_sub(wallet);
    assert!(
        worker.worker_payout(&wsc, &v.boc).is_err(),
        "the used-up voucher is refused"
    );
    (tokens, paid)
}

/// Runs a fixed scenario through both sides; `None` when the sandbox is unavailable.
fn scenario(ops: &[Op]) -> Option<Vec<Seen>> {
    let mut sb = Sandbox::start(START)?;
    Some(run_both(&mut sb, ops).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn d_client_stake_is_inside_the_balance() {
    // Deployed with stake 1 TON and balance 0 (no money for the stake); 3 TON in, then a
    // withdraw pays only what is above the stake, a second one has nothing to pay (1001),
    // and the refund request pays nothing more at once (INFO, Closing).
    let ops = [
        Op::TopUp { c: 0, tons: 3 },
        Op::Withdraw {
            c: 0,
            stranger: false,
        },
        Op::Withdraw {
            c: 0,
            stranger: false,
        },
        Op::ClientStake { c: 0, tons: 1 },
        Op::ClientStake { c: 0, tons: 2 },
        Op::RequestRefund {
            c: 0,
            stranger: false,
        },
        Op::Withdraw {
            c: 0,
            stranger: false,
        },
    ];
    let Some(seen) = scenario(&ops) else { return };
    assert_eq!(seen[1].payouts.len(), 1);
    assert_eq!(seen[1].payouts[0].1, 2 * ONE_TON, "3 TON in, 1 TON stake");
    assert_eq!(seen[2].exit, Some(1001));
    assert_eq!(seen[3].exit, Some(1003), "not above the stake");
    assert!(
        seen[5].payouts.is_empty(),
        "balance 1 TON, stake 2 TON: nothing above"
    );
    assert_eq!(seen[6].exit, Some(1006), "no withdraw while Closing");
}

#[test]
fn d_commission_accrues_at_worker_payout() {
    let ops = [
        Op::TopUp { c: 0, tons: 5 },
        Op::Charge { c: 0, units: 30 },
        Op::ProxyPayout,
        Op::WorkerPayout {
            w: 0,
            units: 30,
            last: false,
        },
        Op::ProxyPayout,
    ];
    let Some(seen) = scenario(&ops) else { return };
    // Nothing booked at charge time: the payout request pays 0.
    assert_eq!(seen[2].payouts[0].1, 0);
    // 300 000 tokens: 2.7 TON to the worker, 0.3 TON booked and then paid to the owner.
    assert_eq!(seen[3].payouts[0].1, 27 * ONE_TON / 10);
    assert_eq!(seen[4].payouts[0].1, 3 * ONE_TON / 10);
}

#[test]
fn d_proxy_close_pays_everything_to_its_owner() {
    let ops = [
        Op::TopUp { c: 0, tons: 4 },
        Op::ProxyStake { tons: 2 },
        Op::ProxyClose,
        Op::ProxyComplete,
        Op::Advance { seconds: 7201 },
        Op::TopUp { c: 1, tons: 1 },
        Op::ProxyComplete,
        Op::Withdraw {
            c: 0,
            stranger: false,
        },
    ];
    let Some(seen) = scenario(&ops) else { return };
    assert_eq!(seen[3].exit, Some(1011), "before the unlock time");
    // A top-up reaching a closing proxy goes back to the client owner.
    assert_eq!(seen[5].payouts.len(), 1);
    // Everything it holds: its 1 TON deploy credit, the client's 4 TON, the 2 TON stake.
    assert_eq!(seen[6].payouts[0].1, 7 * ONE_TON);
    // Afterwards the proxy refuses the refund (1006); the client's balance is lowered anyway.
    assert_eq!(seen[7].proxy_exits, vec![Some(1006)]);
}
