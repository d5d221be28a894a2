//! Property tests of the devnet ledger: arbitrary sequences of operations (funding,
//! deploys, top-ups, stakes, proxy-signed client charges, worker payouts, final client
//! refunds (grant refund) and worker last payouts with arbitrary — also lower, duplicate
//! and huge — token totals, save_state, commission payouts, client
//! refund/withdraw, proxy close, clock advances, and reopening from the file), run through
//! two instances sharing one devnet file.
//!
//! What each step does is the contract model's business (`cocoon_ledger::contracts`, checked
//! against the real contracts by `cocoon-ton`'s differential test); here, after every step:
//! * **money**: `minted` = Σ wallets + Σ proxy contract funds (client contracts hold no
//!   money), and `minted` = Σ of what the faucet handed out;
//! * a charge moves no money and books no commission; raising a client stake moves none;
//!   a worker payout pays its owner what it reports, and the worker counts the tokens;
//! * **atomicity**: a refused operation changes nothing; forged vouchers, strangers in
//!   owner operations and unknown contracts are refused;
//! * both instances and a reopened one see the same state; closed contracts hold nothing.
//!
//! Finally every contract is closed as its owner, and then all minted money sits in wallets.

#[path = "devnet_invariants/checks.rs"]
mod checks;
mod common;
#[path = "devnet_invariants/ops.rs"]
mod ops;
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
