//! Clients that close their contracts (runners.md §6.5; contracts.md §3.1.7, §3.1.9, §3.3.2).
//!
//! A client's first `owner_client_request_refund` puts its contract in Closing. Left alone,
//! the client's second request after the unlock time closes the contract and asks the proxy
//! contract for a **forced** refund, which the real contract pays from the proxy's *stake*,
//! capped by it (REFUND(F)) — while the client's top-ups stay in the proxy contract and go to
//! its owner at close. With a small stake the client loses money; with a large one the stake
//! drains. As the reference proxy does, we settle first: once a Closing client has every
//! token it used committed and nothing reserved, the proxy sends
//! `ext_client_grant_refund_signed` for those tokens — the contract takes the final charge,
//! closes and the proxy contract refunds the whole remaining balance from the money it holds
//! (REFUND(G)). The send is repeated at most every [`GRANT_RESEND_AFTER`] while the contract
//! still shows Closing (a TON message takes seconds to land).
//!
//! A refund the proxy contract cannot cover would fail there (exit 5) after the client
//! contract has already closed — its money stuck there. So before signing it the proxy
//! checks that its contract holds the refund plus what the workers are still owed; if not,
//! it first raises its own stake by the shortfall (`ext_proxy_increase_stake` from its
//! wallet, which funds the contract) and sends the refund once that has landed.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::ledger::VoucherSettlement;
use cocoon_ledger::voucher::VoucherKind;
use tonlib_core::TonAddress;
use tracing::{debug, info};

use super::{LoopState, Money};
use crate::proxy::payments::{ProxyPayments, Side};
use crate::proxy::registry::lock;

/// How long a sent grant refund is given to land before it is sent again.
pub const GRANT_RESEND_AFTER: Duration = Duration::from_secs(30);

impl Money {
    /// The final charge and refund of `owner`'s Closing contract `sc` (see the module doc);
    /// `charged`: the tokens its contract has been charged for. `None` while waiting.
    pub(super) fn grant_closing_refund(
        &self,
        st: &mut LoopState,
        payments: &Mutex<ProxyPayments>,
        owner: &str,
        sc: &TonAddress,
        (charged, balance): (u64, NanoTon),
    ) -> Result<Option<VoucherSettlement>, String> {
        let (counters, reserved) = {
            let p = lock(payments);
            (p.counters(Side::Client, owner), p.reserved(owner))
        };
        if reserved > 0 || counters.committed_to_blockchain < counters.tokens_max {
            debug!(client = %owner, reserved, committed = counters.committed_to_blockchain,
                used = counters.tokens_max, "closing client: waiting for its tokens to be committed");
            return Ok(None);
        }
        if st
            .granted
            .get(owner)
            .is_some_and(|at| at.elapsed() < GRANT_RESEND_AFTER)
        {
            return Ok(None);
        }
        let tokens = counters.committed_to_blockchain.max(charged);
        // What the refund pays: the balance left after the final charge.
        let final_charge = self.prices.client_charge(tokens.saturating_sub(charged));
        let refund = balance.saturating_sub(final_charge);
        if !self.contract_covers(st, payments, refund)? {
            return Ok(None);
        }
        let signed =
            lock(payments).sign_close_flow(VoucherKind::ClientGrantRefund, tokens, sc.clone())?;
        let settled = self
            .ledger
            .client_grant_refund(sc, &signed)
            .map_err(|e| format!("refunding closing client contract {}: {e}", sc.to_hex()))?;
        st.granted.insert(owner.to_owned(), Instant::now());
        info!(client = %owner, client_sc = %sc.to_hex(), tokens, charged_now = settled.tokens,
            nanoton = settled.amount,
            "closing client: final charge and refund granted (the client's money comes back from the proxy contract, not its stake)");
        st.view.charges.add(settled.tokens, settled.amount);
        Ok(Some(settled))
    }

    /// Whether our contract holds `refund` plus what the workers are owed; if not, raises
    /// our stake by the shortfall (at most once per [`GRANT_RESEND_AFTER`]) and says no.
    fn contract_covers(
        &self,
        st: &mut LoopState,
        payments: &Mutex<ProxyPayments>,
        refund: NanoTon,
    ) -> Result<bool, String> {
        let funds = self
            .ledger
            .proxy_state(&self.proxy_sc)
            .map_err(|e| format!("reading the proxy contract: {e}"))?
            .funds;
        let owed = self
            .prices
            .worker_payout(lock(payments).tokens_owed_to_workers());
        let Some(shortfall) = refund_shortfall(funds, refund, owed) else {
            return Ok(true);
        };
        if st
            .stake_raised_at
            .is_some_and(|at| at.elapsed() < GRANT_RESEND_AFTER)
        {
            return Ok(false);
        }
        self.ledger
            .proxy_increase_stake(&self.wallet, &self.proxy_sc, shortfall)
            .map_err(|e| {
                format!("raising our stake by {shortfall} nanoTON to cover a client refund: {e}")
            })?;
        st.stake_raised_at = Some(Instant::now());
        info!(shortfall, refund, owed_to_workers = owed, held = funds,
            "our contract could not cover a closing client's refund: stake raised by the shortfall first");
        Ok(false)
    }
}

/// How much our contract lacks to pay `refund` and still owe the workers `owed_to_workers`
/// while holding `funds`; `None` when it has enough.
pub fn refund_shortfall(
    funds: NanoTon,
    refund: NanoTon,
    owed_to_workers: NanoTon,
) -> Option<NanoTon> {
    let needed = refund.saturating_add(owed_to_workers);
    (funds < needed).then(|| needed - funds)
}

#[cfg(test)]
mod tests {
    use super::refund_shortfall;

    #[test]
    fn a_refund_is_covered_only_with_the_workers_still_paid() {
        assert_eq!(refund_shortfall(100, 60, 40), None);
        assert_eq!(refund_shortfall(100, 60, 41), Some(1));
        assert_eq!(refund_shortfall(0, 5, 0), Some(5));
        assert_eq!(refund_shortfall(u128::MAX, u128::MAX, u128::MAX), None);
    }
}
