//! Charging clients, paying workers and withdrawing the commission (runners.md §6.5).
//!
//! Each check compares nanoTON with a nanoTON threshold (the reference's worker side
//! compared tokens with nanoTON, §13.15):
//! * client: `(committed_to_blockchain − charged_on_chain) × price ≥ client_charge_threshold`
//!   ⇒ the client voucher for `committed_to_blockchain` goes to the client contract;
//! * worker: `(committed_to_blockchain − paid_on_chain) × worker_fee ≥ worker_payout_threshold`
//!   ⇒ the worker voucher goes to the worker contract (the worker may also submit it itself);
//! * commission: `ready_for_withdraw ≥ commission_payout_threshold` ⇒ `proxy_payout`.
//!
//! A client contract in Closing is not charged here: it gets its final charge and refund
//! ([`super::closing`]).
//!
//! The manual controls (`/request/charge`, `/request/payout`, `/request/withdraw`) run the
//! same steps with the threshold waived.

use std::sync::Mutex;

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::ledger::{ContractStatus, LedgerError, VoucherSettlement};
use tracing::{debug, info, warn};

use super::{LoopState, Money};
use crate::proxy::payments::{ClientChain, ProxyPayments, Side};
use crate::proxy::registry::lock;

impl Money {
    /// Every check of §6.5 once, with the configured thresholds.
    pub(super) fn charging_tick(&self, st: &mut LoopState, payments: &Mutex<ProxyPayments>) {
        let clients = lock(payments).owners(Side::Client);
        for owner in clients {
            if let Err(e) = self.charge_client_locked(st, payments, &owner, false) {
                warn!(client = %owner, error = %e, "money loop: client charge failed");
                st.view.last_error = Some(e);
            }
        }
        let held = self.check_worker_funds(st, payments);
        let workers = lock(payments).owners(Side::Worker);
        for owner in workers.into_iter().filter(|_| !held) {
            if let Err(e) = self.pay_worker_locked(st, payments, &owner, false) {
                warn!(worker = %owner, error = %e, "money loop: worker payout failed");
                st.view.last_error = Some(e);
            }
        }
        if let Err(e) = self.withdraw_locked(st, false) {
            warn!(error = %e, "money loop: commission payout failed");
            st.view.last_error = Some(e);
        }
        match self.ledger.wallet_balance(&self.wallet) {
            Ok(balance) => st.view.wallet_balance = Some(balance),
            Err(e) => debug!(error = %e, "money loop: wallet balance unknown"),
        }
    }

    /// Charges `owner`'s client contract now (threshold waived).
    pub fn charge_client(
        &self,
        payments: &Mutex<ProxyPayments>,
        owner: &str,
    ) -> Result<Option<VoucherSettlement>, String> {
        let mut st = lock(&self.state);
        self.charge_client_locked(&mut st, payments, owner, true)
    }

    /// Pays `owner`'s worker contract now (threshold waived).
    pub fn pay_worker(
        &self,
        payments: &Mutex<ProxyPayments>,
        owner: &str,
    ) -> Result<Option<VoucherSettlement>, String> {
        let mut st = lock(&self.state);
        self.pay_worker_locked(&mut st, payments, owner, true)
    }

    /// Withdraws the commission now (threshold waived); returns the amount.
    pub fn withdraw(&self) -> Result<NanoTon, String> {
        let mut st = lock(&self.state);
        self.withdraw_locked(&mut st, true)
    }

    fn charge_client_locked(
        &self,
        st: &mut LoopState,
        payments: &Mutex<ProxyPayments>,
        owner: &str,
        forced: bool,
    ) -> Result<Option<VoucherSettlement>, String> {
        let Some(sc) = lock(payments).contract(Side::Client, owner) else {
            return Err(format!("no client contract can be derived for {owner}"));
        };
        let state = match self.ledger.client_state(&sc) {
            Ok(state) => state,
            Err(LedgerError::UnknownContract(_)) if !forced => return Ok(None),
            Err(e) => return Err(format!("reading client contract {}: {e}", sc.to_hex())),
        };
        lock(payments).set_client_chain(owner, ClientChain::fetched(&state));
        let charged = state.tokens_used;
        let balance = state.balance;
        let closing = state.status == ContractStatus::Closing;
        st.view.clients.insert(owner.to_owned(), state);
        if closing && !forced {
            return self.grant_closing_refund(st, payments, owner, &sc, (charged, balance));
        }
        let Some((tokens, boc)) = self.voucher_due(payments, Side::Client, owner, charged, forced)
        else {
            return Ok(None);
        };
        match self.ledger.client_charge(&sc, &boc) {
            Ok(settled) => {
                info!(client = %owner, client_sc = %sc.to_hex(), voucher_tokens = tokens,
                    tokens = settled.tokens, nanoton = settled.amount, "client contract charged");
                st.view.charges.add(settled.tokens, settled.amount);
                if let Ok(state) = self.ledger.client_state(&sc) {
                    lock(payments).set_client_chain(owner, ClientChain::fetched(&state));
                    st.view.clients.insert(owner.to_owned(), state);
                }
                Ok(Some(settled))
            }
            // The client submitted this voucher (or a newer one) itself.
            Err(LedgerError::VoucherNotHigher { .. }) => Ok(None),
            Err(e) => Err(format!("charging client contract {}: {e}", sc.to_hex())),
        }
    }

    /// The committed voucher of `owner` on `side` when it settles tokens beyond the
    /// `settled` ones on chain and what it moves (client charge or worker payout) reaches
    /// that side's threshold, or when `forced`.
    fn voucher_due(
        &self,
        payments: &Mutex<ProxyPayments>,
        side: Side,
        owner: &str,
        settled: u64,
        forced: bool,
    ) -> Option<(u64, Vec<u8>)> {
        let mut p = lock(payments);
        let committed = p.counters(side, owner).committed_to_blockchain;
        let tokens = committed.saturating_sub(settled);
        let (due, threshold) = match side {
            Side::Client => (
                self.prices.client_charge(tokens),
                self.settings.client_charge_threshold,
            ),
            Side::Worker => (
                self.prices.worker_payout(tokens),
                self.settings.worker_payout_threshold,
            ),
        };
        if committed <= settled || !(forced || due >= threshold.max(1)) {
            return None;
        }
        p.committed_voucher(side, owner)
    }

    fn pay_worker_locked(
        &self,
        st: &mut LoopState,
        payments: &Mutex<ProxyPayments>,
        owner: &str,
        forced: bool,
    ) -> Result<Option<VoucherSettlement>, String> {
        let Some(sc) = lock(payments).contract(Side::Worker, owner) else {
            return Err(format!("no worker contract can be derived for {owner}"));
        };
        let state = match self.ledger.worker_state(&sc) {
            Ok(state) => state,
            // The worker deploys its contract itself; until then there is nowhere to pay.
            Err(LedgerError::UnknownContract(_)) if !forced => return Ok(None),
            Err(e) => return Err(format!("reading worker contract {}: {e}", sc.to_hex())),
        };
        let paid = state.tokens;
        lock(payments).set_worker_paid(owner, paid);
        st.view.workers.insert(owner.to_owned(), state);
        if lock(payments).worker_vouchers_held() {
            return Err(
                "worker vouchers are held: the proxy contract holds less than the workers are owed"
                    .into(),
            );
        }
        let Some((tokens, boc)) = self.voucher_due(payments, Side::Worker, owner, paid, forced)
        else {
            return Ok(None);
        };
        match self.ledger.worker_payout(&sc, &boc) {
            Ok(settled) => {
                info!(worker = %owner, worker_sc = %sc.to_hex(), voucher_tokens = tokens,
                    tokens = settled.tokens, nanoton = settled.amount, "worker paid");
                st.view.payouts.add(settled.tokens, settled.amount);
                if let Ok(state) = self.ledger.worker_state(&sc) {
                    lock(payments).set_worker_paid(owner, state.tokens);
                    st.view.workers.insert(owner.to_owned(), state);
                }
                Ok(Some(settled))
            }
            // The worker submitted this voucher (or a newer one) itself.
            Err(LedgerError::VoucherNotHigher { .. }) => Ok(None),
            Err(e) => Err(format!("paying worker contract {}: {e}", sc.to_hex())),
        }
    }

    fn withdraw_locked(&self, st: &mut LoopState, forced: bool) -> Result<NanoTon, String> {
        let state = self
            .ledger
            .proxy_state(&self.proxy_sc)
            .map_err(|e| format!("reading the proxy contract: {e}"))?;
        let ready = state.commission > 0
            && (forced || state.commission >= self.settings.commission_payout_threshold);
        st.view.proxy = Some(state);
        if !ready {
            return Ok(0);
        }
        let amount = self
            .ledger
            .proxy_payout(&self.wallet, &self.proxy_sc)
            .map_err(|e| format!("commission payout: {e}"))?;
        info!(nanoton = amount, wallet = %self.wallet.to_hex(), "commission withdrawn to the owner wallet");
        st.view.withdrawals.add(0, amount);
        if let Ok(state) = self.ledger.proxy_state(&self.proxy_sc) {
            st.view.proxy = Some(state);
        }
        Ok(amount)
    }
}
