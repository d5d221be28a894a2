//! Unit and property tests for the accounting module.

use super::*;
use proptest::prelude::*;

fn prices() -> Prices {
    Prices::new(2, 1).expect("valid prices")
}

#[test]
fn adjust_tokens_matches_independent_float_evaluation() {
    // Values computed independently with Python's float arithmetic.
    assert_eq!(adjust_tokens(1000, 1000, 10_000), 1000);
    assert_eq!(adjust_tokens(7, 1500, 10_000), 10);
    assert_eq!(adjust_tokens(3, 1000, 10_000), 3);
    assert_eq!(adjust_tokens(123_456_789, 4000, 10_000), 493_827_156);
    assert_eq!(adjust_tokens(10, 1000, 5000), 5);
    assert_eq!(
        adjust_tokens(-7, 1500, 10_000),
        -10,
        "truncation is toward zero"
    );
}

#[test]
fn raw_usage_adjusts_each_category() {
    let usage = RawUsage {
        prompt: 100,
        cached: 40,
        completion: 50,
        reasoning: 10,
    };
    let multipliers = Multipliers {
        prompt: 10_000,
        cached: 5000,
        completion: 20_000,
        reasoning: 10_000,
    };
    let adjusted = usage.adjust(1500, &multipliers);
    assert_eq!(adjusted.prompt, 90); // 60 × 1.5
    assert_eq!(adjusted.cached, 30); // 40 × 1.5 × 0.5
    assert_eq!(adjusted.completion, 120); // 40 × 1.5 × 2
    assert_eq!(adjusted.reasoning, 15); // 10 × 1.5
    assert_eq!(adjusted.total, 255);
}

#[test]
fn inconsistent_backend_counters_do_not_go_negative() {
    let usage = RawUsage {
        prompt: 5,
        cached: 9,
        completion: 1,
        reasoning: 3,
    };
    let adjusted = usage.adjust(COEFFICIENT_ONE, &Multipliers::default());
    assert_eq!(
        adjusted,
        AdjustedUsage {
            prompt: 0,
            cached: 9,
            completion: 0,
            reasoning: 3,
            total: 12
        }
    );
}

#[test]
fn reservation_counts_request_bytes_and_max_coefficient() {
    assert_eq!(reservation_for(1000, 200, 4000), 4800);
}

#[test]
fn money_split_between_worker_and_proxy() {
    let p = Prices::new(5, 3).expect("valid");
    assert_eq!(p.client_charge(10), 50);
    assert_eq!(p.worker_payout(10), 30);
    assert_eq!(p.proxy_commission(10), 20);
    assert!(Prices::new(1, 2).is_err());
}

#[test]
fn safe_div_falls_back_on_zero_price() {
    assert_eq!(safe_div(10, 0), SAFE_DIV_FALLBACK);
    assert_eq!(safe_div(10, 3), 3);
}

#[test]
fn tokens_available_follows_reference_formula() {
    // balance 100 → 50 tokens payed + 7 charged; stake 20 → 10 tokens + 7.
    let chain = ClientChainView {
        balance: 100,
        stake: 20,
        sc_tokens_used: 7,
    };
    let mut client = ClientAccount::new(chain);
    assert_eq!(client.tokens_payed(&prices()), 57);
    assert_eq!(client.tokens_stake(&prices()), 10);
    assert_eq!(client.tokens_available(&prices()), 17);
    client.counters.add(5);
    let r = client.reserve(3, &prices()).expect("enough");
    assert_eq!(client.tokens_available(&prices()), 9);
    assert!(client.reserve(10, &prices()).is_err());
    client.release(r);
    assert_eq!(client.tokens_available(&prices()), 12);
}

#[test]
fn counters_commit_and_confirm_by_seqno() {
    let mut c = CommitCounters::default();
    c.add(10);
    c.commit_to_db(1).expect("first");
    c.add(5);
    c.commit_to_db(2).expect("second");
    c.add(1);
    assert_eq!(
        (
            c.tokens_max(),
            c.committed_to_db(),
            c.committed_to_blockchain()
        ),
        (16, 15, 0)
    );
    assert!(c.confirm_on_chain(1));
    assert_eq!(c.committed_to_blockchain(), 10);
    assert!(
        c.confirm_on_chain(5),
        "confirmation of a later seqno covers seqno 2"
    );
    assert_eq!(c.committed_to_blockchain(), 15);
    assert!(!c.confirm_on_chain(5));
    assert_eq!(
        c.commit_to_db(2),
        Err(CounterError::SeqnoNotIncreasing { seqno: 2, last: 2 })
    );
    let restored = CommitCounters::restored(15, 9);
    assert_eq!(
        (
            restored.tokens_max(),
            restored.committed_to_db(),
            restored.committed_to_blockchain()
        ),
        (15, 15, 15)
    );
}

#[derive(Debug, Clone)]
enum Step {
    Serve { reserve: u64, reported: u64 },
    Fail { reserve: u64 },
    Commit,
    Confirm { back: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u64..500, 0u64..800).prop_map(|(reserve, reported)| Step::Serve { reserve, reported }),
        (0u64..500).prop_map(|reserve| Step::Fail { reserve }),
        Just(Step::Commit),
        (0u64..4).prop_map(|back| Step::Confirm { back }),
    ]
}

proptest! {
    #[test]
    fn counters_are_monotone_and_settlement_conserves(
        balance in 0u128..20_000, stake in 0u128..20_000, steps in proptest::collection::vec(step(), 0..60)
    ) {
        let prices = prices();
        let mut client = ClientAccount::new(ClientChainView { balance, stake, sc_tokens_used: 0 });
        let mut worker = WorkerAccount::default();
        let mut seqno = 0u64;
        let mut charged_total = 0u64;
        for step in steps {
            let before = (client.counters.clone(), worker.counters.clone());
            match step {
                Step::Serve { reserve, reported } => {
                    if let Ok(r) = client.reserve(reserve, &prices) {
                        let s = settle_request(&mut client, &mut worker, r, reported);
                        prop_assert_eq!(s.charged + s.unbilled, reported);
                        prop_assert!(s.charged <= reserve);
                        charged_total += s.charged;
                    }
                }
                Step::Fail { reserve } => {
                    if let Ok(r) = client.reserve(reserve, &prices) {
                        client.release(r);
                    }
                }
                Step::Commit => {
                    seqno += 1;
                    client.counters.commit_to_db(seqno).expect("increasing");
                    worker.counters.commit_to_db(seqno).expect("increasing");
                }
                Step::Confirm { back } => {
                    client.counters.confirm_on_chain(seqno.saturating_sub(back));
                    worker.counters.confirm_on_chain(seqno.saturating_sub(back));
                }
            }
            for (old, new) in [(&before.0, &client.counters), (&before.1, &worker.counters)] {
                prop_assert!(new.tokens_max() >= old.tokens_max());
                prop_assert!(new.committed_to_db() >= old.committed_to_db());
                prop_assert!(new.committed_to_blockchain() >= old.committed_to_blockchain());
                prop_assert!(new.committed_to_blockchain() <= new.committed_to_db());
                prop_assert!(new.committed_to_db() <= new.tokens_max());
            }
            prop_assert_eq!(client.reserved(), 0);
            prop_assert!(client.tokens_available(&prices) >= 0);
            prop_assert_eq!(client.counters.tokens_max(), charged_total);
            prop_assert_eq!(worker.counters.tokens_max(), charged_total);
        }
    }

    #[test]
    fn adjust_is_monotone_in_tokens(t in 0i64..1_000_000_000, extra in 0i64..1000, c in 0i64..10_000, m in 0i64..50_000) {
        prop_assert!(adjust_tokens(t + extra, c, m) >= adjust_tokens(t, c, m));
    }
}
