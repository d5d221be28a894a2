//! F: the differential property test of issue 13 — random operation sequences (top-ups,
//! registers, stake changes, charges within and beyond the balance, grant refunds, refund
//! requests and withdraws in every state and from strangers, worker payouts and last
//! payouts, proxy stake increases, commission payouts, the proxy close and its completion,
//! clock advances past the delays, bounced notices) run through our contract model and
//! through the real contract code, compared after every step (see [`super::differential`]).
//! One sandbox process serves every case (a `reset` per case). Cases:
//! `COCOON_DIFF_CASES` (default 150, about 20 s here), up to 24 steps each.
//!
//! Also D's remaining parts as named scenarios: the client stake inside the balance, the
//! commission booked at the worker payout, the proxy close paying everything to its owner.

use cocoon_ledger::accounting::ONE_TON;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::differential::{op, run_both, Op, Seen};
use super::driver::Sandbox;
use super::world::START;

fn cases() -> u32 {
    std::env::var("COCOON_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150)
}

#[test]
fn f_model_and_real_contracts_agree_on_random_operation_sequences() {
    let Some(sb) = Sandbox::start(START) else {
        return;
    };
    // The runner takes a `Fn`: the one sandbox sits behind a RefCell.
    let sb = std::cell::RefCell::new(sb);
    let started = std::time::Instant::now();
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let ops = proptest::collection::vec(op(), 1..=24);
    let result = runner.run(&ops, |ops| {
        run_both(&mut sb.borrow_mut(), &ops)
            .map(|_| ())
            .map_err(TestCaseError::fail)
    });
    println!("{} cases in {:?}", cases(), started.elapsed());
    if let Err(e) = result {
        panic!("the model and the real contracts differ: {e}");
    }
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
