//! The differential harness: one operation sequence run through our contract model
//! (`cocoon_ledger::contracts`, [`model`]) and through the real contract code in
//! `@ton/sandbox` ([`real`]); after every step the exit codes, the notices the client and
//! worker contracts send to the proxy (bit for bit), the payouts of the proxy, and every
//! contract's state must agree. Gas is the one thing left out: the real proxy is deployed
//! with [`PROXY_DEPLOY_REAL`], the model credits it [`PROXY_DEPLOY_MODEL`] (all amounts are
//! multiples of 0.01 TON, so the gas left over never decides a payout), and the two payouts
//! whose value carries gas (a close-complete sweep, a top-up returned by a closing proxy)
//! are compared within [`GAS_SLACK`].

pub mod model;
pub mod real;

use cocoon_ledger::accounting::{NanoTon, ONE_TON};
use proptest::prelude::*;

/// Client and worker contracts per case.
pub const PARTIES: usize = 2;
/// Tokens per unit of an operation's token delta (0.1 TON at the §4 price).
pub const TOKEN_UNIT: u64 = 10_000;
/// The real proxy's deploy value: the model's credit plus gas for the deploy and storage.
pub const PROXY_DEPLOY_REAL: NanoTon = ONE_TON + ONE_TON / 200;
/// What the model credits the proxy contract at its deploy.
pub const PROXY_DEPLOY_MODEL: NanoTon = ONE_TON;
/// How far a payout whose value carries gas may differ from the model's amount.
pub const GAS_SLACK: NanoTon = ONE_TON / 20;

/// One operation (client/worker `c`/`w` in `0..PARTIES`).
#[derive(Clone, Debug)]
pub enum Op {
    /// `ext_client_top_up` of `tons` TON from the owner.
    TopUp { c: usize, tons: u8 },
    /// `owner_client_register` with `nonce`.
    Register { c: usize, nonce: u64 },
    /// `owner_client_change_secret_hash` to `[byte; 32]`.
    ChangeSecret { c: usize, byte: u8 },
    /// `owner_worker_register` from the owner or a stranger (1010).
    WorkerRegister { w: usize, stranger: bool },
    /// `owner_client_increase_stake` to `tons` TON (not above the current one: 1003).
    ClientStake { c: usize, tons: u8 },
    /// A charge voucher `units` × [`TOKEN_UNIT`] above the tokens used (0: refused).
    Charge { c: usize, units: u64 },
    /// A grant-refund voucher `units` × [`TOKEN_UNIT`] above the tokens used.
    GrantRefund { c: usize, units: u64 },
    /// `owner_client_withdraw` from the owner or a stranger.
    Withdraw { c: usize, stranger: bool },
    /// `owner_client_request_refund` from the owner or a stranger.
    RequestRefund { c: usize, stranger: bool },
    /// A (last) payout voucher `units` × [`TOKEN_UNIT`] above the worker's tokens.
    WorkerPayout { w: usize, units: u64, last: bool },
    /// `ext_proxy_increase_stake` of `tons` TON (from a stranger: anyone may).
    ProxyStake { tons: u8 },
    /// `ext_proxy_payout_request` (from a stranger: anyone may).
    ProxyPayout,
    /// The signed close request.
    ProxyClose,
    /// `owner_proxy_close` from the owner or a stranger (1010).
    OwnerClose { stranger: bool },
    /// The owner's text command "w" (withdraw the commission), or a stranger's (1010).
    OwnerWithdraw { stranger: bool },
    /// The signed close completion.
    ProxyComplete,
    /// The clock moves on.
    Advance { seconds: u64 },
}

impl Op {
    /// Whether a payout this step causes carries gas in its value.
    pub fn gas_in_payouts(&self) -> bool {
        matches!(
            self,
            Op::TopUp { .. } | Op::ProxyComplete | Op::OwnerWithdraw { .. }
        )
    }

    /// The message value a payout of this step also carries: a close-complete sweep
    /// (mode 128) includes the value attached to the request.
    pub fn value_in_payouts(&self) -> NanoTon {
        match self {
            Op::ProxyComplete => cocoon_ton::messages::value::REGISTER_AND_CLOSE_FLOW,
            Op::OwnerWithdraw { .. } => cocoon_ton::messages::value::PROXY_PAYOUT_REQUEST,
            _ => 0,
        }
    }
}

/// What one step did, as both sides report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Exit code of the contract the message was sent to.
    pub exit: Option<i32>,
    /// Exit codes of the notices at the proxy, in order (`None`: not executed).
    pub proxy_exits: Vec<Option<i32>>,
    /// Representation hashes (hex) of the notice bodies, in order.
    pub notices: Vec<String>,
    /// The proxy's payouts: receiver (raw form) and amount, in order.
    pub payouts: Vec<(String, NanoTon)>,
}

/// Every contract's state: clients `(state, balance, stake, tokens_used, unlock_ts)`,
/// workers `(state, tokens)`, proxy `(state, balance, stake, unlock_ts)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct States {
    pub clients: Vec<(u8, NanoTon, NanoTon, u64, u64)>,
    pub workers: Vec<(u8, u64)>,
    pub proxy: (u8, NanoTon, NanoTon, u64),
}

/// Runs `ops` through both sides, asserting agreement after every step (the message names
/// the step). Returns the model's observations, for scenario-specific checks.
pub fn run_both(sb: &mut super::driver::Sandbox, ops: &[Op]) -> Result<Vec<Seen>, String> {
    let mut real = real::RealWorld::deploy(sb);
    let mut ours = model::ModelWorld::new(&real.addresses());
    if real.states() != ours.states() {
        return Err(format!(
            "after the deploys: real {:?}, ours {:?}",
            real.states(),
            ours.states()
        ));
    }
    let mut seen = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let qid = i as u64 + 1;
        let r = real.step(op, qid);
        let o = ours.step(op, qid);
        let same_payouts = r.payouts.len() == o.payouts.len()
            && r.payouts.iter().zip(&o.payouts).all(|(a, b)| {
                let near = a.1.abs_diff(b.1 + op.value_in_payouts()) <= GAS_SLACK;
                a.0 == b.0 && (a.1 == b.1 || (op.gas_in_payouts() && near))
            });
        let (mut r_cmp, mut o_cmp) = (r.clone(), o.clone());
        r_cmp.payouts.clear();
        o_cmp.payouts.clear();
        if r_cmp != o_cmp || !same_payouts {
            return Err(format!(
                "step {i} {op:?}: real {r:?}, ours {o:?} (ops {ops:?})"
            ));
        }
        if real.states() != ours.states() {
            return Err(format!(
                "step {i} {op:?}: states real {:?}, ours {:?} (ops {ops:?})",
                real.states(),
                ours.states()
            ));
        }
        seen.push(o);
    }
    Ok(seen)
}

/// The operation strategy (money in whole TON and 0.1 TON token units).
pub fn op() -> impl Strategy<Value = Op> {
    let c = 0..PARTIES;
    prop_oneof![
        4 => (c.clone(), 1u8..=5).prop_map(|(c, tons)| Op::TopUp { c, tons }),
        1 => (c.clone(), any::<u64>()).prop_map(|(c, nonce)| Op::Register { c, nonce }),
        1 => (c.clone(), 0u8..=4).prop_map(|(c, tons)| Op::ClientStake { c, tons }),
        1 => (c.clone(), any::<u8>()).prop_map(|(c, byte)| Op::ChangeSecret { c, byte }),
        1 => (c.clone(), prop::bool::weighted(0.2)).prop_map(|(w, stranger)| Op::WorkerRegister { w, stranger }),
        4 => (c.clone(), 0u64..=80).prop_map(|(c, units)| Op::Charge { c, units }),
        1 => (c.clone(), 0u64..=30).prop_map(|(c, units)| Op::GrantRefund { c, units }),
        2 => (c.clone(), prop::bool::weighted(0.15)).prop_map(|(c, stranger)| Op::Withdraw { c, stranger }),
        4 => (c.clone(), prop::bool::weighted(0.1)).prop_map(|(c, stranger)| Op::RequestRefund { c, stranger }),
        4 => (c.clone(), 0u64..=60, prop::bool::weighted(0.2))
            .prop_map(|(w, units, last)| Op::WorkerPayout { w, units, last }),
        1 => (1u8..=3).prop_map(|tons| Op::ProxyStake { tons }),
        1 => Just(Op::ProxyPayout),
        1 => Just(Op::ProxyClose),
        1 => prop::bool::weighted(0.3).prop_map(|stranger| Op::OwnerClose { stranger }),
        1 => prop::bool::weighted(0.3).prop_map(|stranger| Op::OwnerWithdraw { stranger }),
        1 => Just(Op::ProxyComplete),
        3 => prop_oneof![Just(1u64), Just(3601), Just(7201)].prop_map(|seconds| Op::Advance { seconds }),
    ]
}
