//! Property tests of the devnet ledger: arbitrary sequences of operations (funding,
//! deploys, top-ups, stakes, proxy-signed client charges, worker payouts, final client
//! refunds (grant refund) and worker last payouts with arbitrary — also lower, duplicate
//! and huge — token totals, save_state, commission payouts, client
//! refund/withdraw, proxy close, clock advances, and reopening from the file), run through
//! two instances sharing one devnet file.
//!
//! After every step:
//! * **money**: `minted` = Σ wallets + Σ proxy (stake + commission + worker pool) + Σ client
//!   (balance + stake), and `minted` = Σ of what the faucet handed out;
//! * **flow**: Σ charged from clients + Σ proxy stake drawn for workers = Σ paid to
//!   workers + proxy commission (held, paid out and returned at close) + worker pools
//!   (held and returned at close);
//! * **tokens** (exact, from the voucher semantics): an accepted voucher with total `T`
//!   moves exactly `(T − settled) × price` (client) or `× worker_fee` (worker), anything
//!   with `T ≤ settled` moves nothing; hence for every client Σ charged = `tokens_used ×
//!   price`, for every worker Σ paid = `tokens × worker_fee`, and for every proxy
//!   commission = `(price − fee) × Σ tokens_used` of its clients and
//!   `fee × Σ worker tokens + pool + pool returned = fee × Σ client tokens + stake drawn`;
//! * **atomicity**: a refused operation (insufficient funds, lower voucher, wrong state,
//!   not the owner, forged voucher, still locked, …) changes nothing, and each operation
//!   succeeds exactly when its preconditions hold;
//! * a grant refund settles like a charge (nothing for a total at or below `tokens_used`),
//!   then returns exactly the remaining balance + stake to the client owner and closes; a
//!   last payout settles like a payout, then closes the worker contract, which takes no
//!   voucher afterwards;
//! * both instances and a reopened one see the same state; closed contracts hold nothing.
//!
//! Finally every contract is closed as its owner: each client owner gets back exactly
//! balance + stake (the reference lost a client's stake, its issue #77), each proxy owner
//! stake + commission + pool, and then all minted money sits in wallets.

#[path = "devnet_invariants/checks.rs"]
mod checks;
#[path = "devnet_invariants/close_flow.rs"]
mod close_flow;
mod common;
#[path = "devnet_invariants/ops.rs"]
mod ops;
#[path = "devnet_invariants/vouchers.rs"]
mod vouchers;
#[path = "devnet_invariants/world.rs"]
mod world;

use proptest::prelude::*;

use ops::{cases, setup, steps};
use world::World;

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn devnet_invariants_hold_for_any_operation_sequence(setup in setup(), steps in steps()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut world = World::new(setup, dir.path().join("devnet.json"));
        world.check_invariants(&world.ledgers[0].try_devnet_snapshot().expect("snapshot"))?;
        for step in &steps {
            world.step(step)?;
        }
        world.close_everything()?;
    }
}
