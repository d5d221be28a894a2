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

use std::sync::Mutex;
use std::time::{Duration, Instant};

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
        charged: u64,
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
}
