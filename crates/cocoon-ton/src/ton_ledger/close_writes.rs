//! The close-flow writes of [`super::TonLedger`] (an old proxy contract settling its
//! clients and workers): the proxy-signed `ext_client_grant_refund_signed` and
//! `ext_worker_last_payout_request_signed`, repacked with our wallet as `excess_to` and sent
//! with 1 TON each (runners.md §6.7). Checked against the snapshot first: the signature by
//! the contract's proxy key, the contract not closed, and (for a refund) the charge covered
//! by balance + stake. The returned settlement is the snapshot's prediction, priced with
//! the root's current params: the contract charges with its own (an outdated contract's
//! may differ); the caller observes the effect in later reads.

use cocoon_ledger::address::parse_address;
use cocoon_ledger::ledger::{ContractStatus, LedgerError, VoucherSettlement};
use cocoon_ledger::voucher::{self, VoucherKind};
use tonlib_core::TonAddress;

use super::checks::invalid;
use super::snapshot::Snapshot;
use super::Shared;
use crate::messages::{self, value};

impl Shared {
    /// Verifies a close-flow message of `kind` for `target` whose proxy contract is
    /// `proxy_sc`; returns its signed token total.
    fn close_flow_tokens(
        s: &mut Snapshot,
        kind: VoucherKind,
        target: &TonAddress,
        proxy_sc: &str,
        signed: &[u8],
    ) -> Result<u64, LedgerError> {
        let proxy_sc = parse_address(proxy_sc).map_err(invalid)?.address;
        let key = Self::proxy_key_of(s, &proxy_sc)?;
        Ok(voucher::verify(signed, kind, target, &key)?.terms.tokens)
    }

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
            let offered = Self::close_flow_tokens(s, kind, client_sc, &state.proxy_sc, signed)?;
            let tokens = offered.saturating_sub(state.tokens_used);
            let amount = Self::root_parts(s)?.prices.client_charge(tokens);
            if amount > state.balance + state.stake {
                return Err(LedgerError::InsufficientFunds {
                    needed: amount,
                    available: state.balance + state.stake,
                });
            }
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
            let offered = Self::close_flow_tokens(s, kind, worker_sc, &state.proxy_sc, signed)?;
            let tokens = offered.saturating_sub(state.tokens);
            let amount = Self::root_parts(s)?.prices.worker_payout(tokens);
            let body = messages::repacked_voucher_body(signed, kind, &self.wallet_address);
            let msg = Self::message(worker_sc, value::REGISTER_AND_CLOSE_FLOW, body)?;
            self.submit(s, "worker_last_payout", msg)?;
            Ok(VoucherSettlement { tokens, amount })
        })
    }
}
