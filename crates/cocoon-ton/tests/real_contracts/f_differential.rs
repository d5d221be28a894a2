//! F: the differential property test of issue 13 — random operation sequences (top-ups,
//! registers, stake changes, charges within and beyond the balance, grant refunds, refund
//! requests and withdraws in every state and from strangers, worker payouts and last
//! payouts, proxy stake increases, commission payouts, the proxy close and its completion,
//! clock advances past the delays, bounced notices) run through our contract model and
//! through the real contract code, compared after every step (see [`super::differential`]).
//! One sandbox process serves every case (a `reset` per case). Cases:
//! `COCOON_DIFF_CASES` (default 100: about 25 s of CPU, mostly the sandbox), up to 24 steps each.

use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::differential::{op, run_both};
use super::driver::Sandbox;
use super::world::START;

fn cases() -> u32 {
    std::env::var("COCOON_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
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
