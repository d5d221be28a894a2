//! The close-flow writes of [`super::TonLedger`] (an old proxy contract settling its
//! clients and workers): the proxy-signed `ext_client_grant_refund_signed` and
//! `ext_worker_last_payout_request_signed`, repacked with our wallet as `excess_to` and sent
//! with 1 TON each (runners.md §6.7). Checked against the snapshot first: the signature by
//! the contract's proxy key and the contract not closed; a refund's charge is predicted as
//! `min(cost, balance)` (the stake is inside the balance). The returned settlement is the snapshot's prediction, priced with
//! the root's current params: the contract charges with its own (an outdated contract's
//! may differ); the caller observes the effect in later reads.

use cocoon_ledger::ledger::{ContractStatus, LedgerError, VoucherSettlement};
use cocoon_ledger::voucher::VoucherKind;
use tonlib_core::TonAddress;

use super::Shared;
use crate::messages::{self, value};

impl Shared {
    pub(super) fn client_grant_refund(
        &self,
        client_sc: &TonAddress,
        signed: &[u8],
    ) -> Result<VoucherSettlement, LedgerError> {
        self.read(|s| {
            let state = s.client(client_sc)?;
            if state.status == ContractStatus::Closed {
                return Err(LedgerError::WrongState("client contract is closed"));
            }
            let kind = VoucherKind::ClientGrantRefund;
            let offered = Self::voucher_total(s, kind, client_sc, &state.proxy_sc, signed)?;
            let tokens = offered.saturating_sub(state.tokens_used);
            // Charged as a charge: clamped to what the client has in (contracts.md §3.1.9).
            let cost = Self::root_parts(s)?.prices.client_charge(tokens);
            let amount = cost.min(state.balance);
            let body = messages::repacked_voucher_body(signed, kind, &self.wallet_address);
            let msg = Self::message(client_sc, value::REGISTER_AND_CLOSE_FLOW, body)?;
            self.submit(s, "client_grant_refund", msg)?;
            Ok(VoucherSettlement { tokens, amount })
        })
    }

    pub(super) fn worker_last_payout(
        &self,
        worker_sc: &TonAddress,
        signed: &[u8],
    ) -> Result<VoucherSettlement, LedgerError> {
        self.read(|s| {
            let state = s.worker(worker_sc)?;
            if state.status == ContractStatus::Closed {
                return Err(LedgerError::WrongState("worker contract is closed"));
            }
            let kind = VoucherKind::WorkerLastPayout;
            let offered = Self::voucher_total(s, kind, worker_sc, &state.proxy_sc, signed)?;
            let tokens = offered.saturating_sub(state.tokens);
            let amount = Self::root_parts(s)?.prices.worker_payout(tokens);
            let body = messages::repacked_voucher_body(signed, kind, &self.wallet_address);
            let msg = Self::message(worker_sc, value::REGISTER_AND_CLOSE_FLOW, body)?;
            self.submit(s, "worker_last_payout", msg)?;
            Ok(VoucherSettlement { tokens, amount })
        })
    }
}
