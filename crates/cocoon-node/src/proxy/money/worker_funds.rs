//! Never a worker payout our contract cannot pay (issue 13; contracts.md §3.3.1).
//!
//! The proxy contract pays a worker payout from the money it holds; one it cannot cover
//! fails there (exit 5) and bounces — while the worker contract has already counted the
//! tokens as paid: the voucher is used up and the worker never gets that money. So each
//! round of the money loop compares what the workers are owed (tokens committed to them
//! beyond their contracts' paid counters × the worker fee) with what our contract holds
//! (`funds`: on TON its balance); while it holds less, no worker voucher above the ones
//! already signed is signed and the loop submits none ([`ProxyPayments::hold_worker_vouchers`]),
//! and it says so once, loudly; it releases them once the contract holds enough again (a
//! client top-up or a stake increase by the owner). In normal operation this never triggers:
//! clients prepay, and a worker's fee is below the client's price.

use std::sync::Mutex;

use cocoon_ledger::accounting::NanoTon;
use tracing::{info, warn};

use super::{LoopState, Money};
use crate::proxy::payments::ProxyPayments;
use crate::proxy::registry::lock;

/// Whether worker vouchers must wait: the workers are owed more than the contract holds.
pub fn worker_payouts_must_wait(owed: NanoTon, funds: NanoTon) -> bool {
    owed > funds
}

impl Money {
    /// Holds or releases worker vouchers for this round (see the module doc); returns
    /// whether they are held.
    pub(super) fn check_worker_funds(
        &self,
        st: &mut LoopState,
        payments: &Mutex<ProxyPayments>,
    ) -> bool {
        let funds = match self.ledger.proxy_state(&self.proxy_sc) {
            Ok(state) => state.funds,
            // Unknown for now: keep the last decision.
            Err(_) => return lock(payments).worker_vouchers_held(),
        };
        let mut p = lock(payments);
        let tokens = p.tokens_owed_to_workers();
        let owed = self.prices.worker_payout(tokens);
        let hold = worker_payouts_must_wait(owed, funds);
        if p.hold_worker_vouchers(hold) {
            if hold {
                warn!(owed_nanoton = %owed, held_nanoton = %funds, tokens,
                    "proxy contract holds less than the workers are owed: worker vouchers wait until it is funded (a payout it cannot pay would bounce and use the voucher up)");
                st.view.last_error = Some(format!(
                    "worker vouchers held: the contract holds {funds} nanoTON, the workers are owed {owed}"
                ));
            } else {
                info!(owed_nanoton = %owed, held_nanoton = %funds, "proxy contract covers the workers again: worker vouchers released");
            }
        }
        hold
    }
}

#[cfg(test)]
mod tests {
    use super::worker_payouts_must_wait;

    #[test]
    fn payouts_wait_only_when_the_contract_holds_less_than_owed() {
        assert!(!worker_payouts_must_wait(0, 0));
        assert!(!worker_payouts_must_wait(100, 100));
        assert!(worker_payouts_must_wait(101, 100));
    }
}
