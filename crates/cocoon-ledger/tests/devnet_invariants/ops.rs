//! The operations the property test draws, and their strategies.

use proptest::prelude::*;

pub const SLOTS: usize = 2;

/// A token total chosen relative to what is already settled.
#[derive(Clone, Copy, Debug)]
pub enum Pick {
    Below(u64),
    Same,
    Above(u64),
    Huge,
}

impl Pick {
    pub fn resolve(self, settled: u64) -> u64 {
        match self {
            Pick::Below(n) => settled.saturating_sub(n),
            Pick::Same => settled,
            Pick::Above(n) => settled.saturating_add(n),
            Pick::Huge => u64::MAX,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Who {
    ProxyOwner(usize),
    ClientOwner(usize),
    WorkerOwner(usize),
    Stranger,
}

#[derive(Clone, Debug)]
pub enum Op {
    Fund {
        who: Who,
        units: u64,
        tons: u64,
    },
    DeployProxy {
        p: usize,
        stake_delta: i64,
    },
    DeployClient {
        c: usize,
        p: usize,
    },
    DeployWorker {
        w: usize,
        p: usize,
    },
    TopUp {
        c: usize,
        p: usize,
        units: u64,
        extra: u64,
        owner: bool,
    },
    IncreaseStake {
        c: usize,
        p: usize,
        units: u64,
        extra: u64,
        owner: bool,
    },
    Charge {
        c: usize,
        p: usize,
        tokens: Pick,
        forged: bool,
    },
    Payout {
        w: usize,
        p: usize,
        tokens: Pick,
        forged: bool,
    },
    GrantRefund {
        c: usize,
        p: usize,
        tokens: Pick,
        forged: bool,
    },
    LastPayout {
        w: usize,
        p: usize,
        tokens: Pick,
        forged: bool,
    },
    SaveState {
        p: usize,
        seqno: u32,
        owner: bool,
    },
    ProxyPayout {
        p: usize,
        owner: bool,
    },
    Refund {
        c: usize,
        p: usize,
        owner: bool,
    },
    Withdraw {
        c: usize,
        p: usize,
        owner: bool,
    },
    ProxyClose {
        p: usize,
        owner: bool,
    },
    ProxyComplete {
        p: usize,
        owner: bool,
    },
    Advance {
        seconds: u64,
    },
    Reopen,
}

#[derive(Clone, Debug)]
pub struct Step {
    pub via: usize,
    pub op: Op,
}

#[derive(Clone, Debug)]
pub struct Setup {
    pub price: u64,
    pub fee: u64,
    pub proxy_delay: u32,
    pub client_delay: u32,
}

pub fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        3 => (1u64..=3).prop_map(Pick::Below),
        2 => Just(Pick::Same),
        8 => (1u64..=40).prop_map(Pick::Above),
        1 => Just(Pick::Huge),
    ]
}

pub fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        (0..SLOTS).prop_map(Who::ProxyOwner),
        (0..SLOTS).prop_map(Who::ClientOwner),
        (0..SLOTS).prop_map(Who::WorkerOwner),
        Just(Who::Stranger),
    ]
}

pub fn owner_flag() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.85)
}

pub fn op() -> impl Strategy<Value = Op> {
    let s = 0..SLOTS;
    prop_oneof![
        3 => (who(), 0u64..=60, 0u64..=2).prop_map(|(who, units, tons)| Op::Fund { who, units, tons }),
        2 => (s.clone(), -2i64..=1000).prop_map(|(p, stake_delta)| Op::DeployProxy { p, stake_delta }),
        2 => (s.clone(), s.clone()).prop_map(|(c, p)| Op::DeployClient { c, p }),
        2 => (s.clone(), s.clone()).prop_map(|(w, p)| Op::DeployWorker { w, p }),
        3 => (s.clone(), s.clone(), 0u64..=40, 0u64..=2, owner_flag())
            .prop_map(|(c, p, units, extra, owner)| Op::TopUp { c, p, units, extra, owner }),
        2 => (s.clone(), s.clone(), 0u64..=40, 0u64..=2, owner_flag())
            .prop_map(|(c, p, units, extra, owner)| Op::IncreaseStake { c, p, units, extra, owner }),
        5 => (s.clone(), s.clone(), pick(), prop::bool::weighted(0.1))
            .prop_map(|(c, p, tokens, forged)| Op::Charge { c, p, tokens, forged }),
        4 => (s.clone(), s.clone(), pick(), prop::bool::weighted(0.1))
            .prop_map(|(w, p, tokens, forged)| Op::Payout { w, p, tokens, forged }),
        1 => (s.clone(), s.clone(), pick(), prop::bool::weighted(0.1))
            .prop_map(|(c, p, tokens, forged)| Op::GrantRefund { c, p, tokens, forged }),
        1 => (s.clone(), s.clone(), pick(), prop::bool::weighted(0.1))
            .prop_map(|(w, p, tokens, forged)| Op::LastPayout { w, p, tokens, forged }),
        1 => (s.clone(), 0u32..=6, owner_flag()).prop_map(|(p, seqno, owner)| Op::SaveState { p, seqno, owner }),
        1 => (s.clone(), owner_flag()).prop_map(|(p, owner)| Op::ProxyPayout { p, owner }),
        1 => (s.clone(), s.clone(), owner_flag()).prop_map(|(c, p, owner)| Op::Refund { c, p, owner }),
        1 => (s.clone(), s.clone(), owner_flag()).prop_map(|(c, p, owner)| Op::Withdraw { c, p, owner }),
        1 => (s.clone(), owner_flag()).prop_map(|(p, owner)| Op::ProxyClose { p, owner }),
        1 => (s.clone(), owner_flag()).prop_map(|(p, owner)| Op::ProxyComplete { p, owner }),
        2 => (0u64..=700).prop_map(|seconds| Op::Advance { seconds }),
        1 => Just(Op::Reopen),
    ]
}

pub fn setup() -> impl Strategy<Value = Setup> {
    let price = prop_oneof![1u64..=4, Just((1u64 << 31) + 3)];
    (price, 0u64..=4, 0u32..=900, 0u32..=600).prop_map(
        |(price, quarter, proxy_delay, client_delay)| {
            // Worker fee: 0, ¼, ½, ¾ or all of the price.
            let fee = u64::try_from(u128::from(price) * u128::from(quarter) / 4).unwrap_or(price);
            Setup {
                price,
                fee,
                proxy_delay,
                client_delay,
            }
        },
    )
}

pub fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

/// Funds every owner and deploys every contract, topping up and staking the clients, so
/// that the random steps mostly exercise live contracts.
fn opening() -> Vec<Step> {
    let mut steps = Vec::new();
    let mut push = |op| {
        let via = steps.len() % 2;
        steps.push(Step { via, op });
    };
    for p in 0..SLOTS {
        push(Op::Fund {
            who: Who::ProxyOwner(p),
            units: 0,
            tons: 2,
        });
        push(Op::DeployProxy { p, stake_delta: 0 });
    }
    for c in 0..SLOTS {
        push(Op::Fund {
            who: Who::ClientOwner(c),
            units: 200,
            tons: 0,
        });
        for p in 0..SLOTS {
            push(Op::DeployClient { c, p });
            push(Op::TopUp {
                c,
                p,
                units: 40,
                extra: 1,
                owner: true,
            });
            push(Op::IncreaseStake {
                c,
                p,
                units: 10,
                extra: 0,
                owner: true,
            });
        }
    }
    for w in 0..SLOTS {
        for p in 0..SLOTS {
            push(Op::DeployWorker { w, p });
        }
    }
    steps
}

/// A run: usually the full opening, sometimes an empty devnet; then random steps.
pub fn steps() -> impl Strategy<Value = Vec<Step>> {
    let random = prop::collection::vec(
        (0usize..2, op()).prop_map(|(via, op)| Step { via, op }),
        1..48,
    );
    (prop::bool::weighted(0.8), random).prop_map(|(open_all, random)| {
        let mut all = if open_all { opening() } else { Vec::new() };
        all.extend(random);
        all
    })
}
