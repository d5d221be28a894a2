//! The close-flow steps of an old proxy contract: the proxy-signed final refund of a client
//! contract and last payout of a worker contract, with their exact effects.

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::ledger::devnet::DevnetSnapshot;
use cocoon_ledger::ledger::{ContractStatus, Ledger};
use cocoon_ledger::voucher::VoucherKind;
use proptest::prelude::*;

use crate::common::{proxy_key, voucher};
use crate::ops::Pick;
use crate::world::{client_owner, wallet_of, Outcome, World};

impl World {
    /// A grant refund for total `tokens` (signed by a stranger key if `forged`).
    pub fn grant_refund(
        &mut self,
        via: usize,
        before: &DevnetSnapshot,
        (c, p): (usize, usize),
        tokens: Pick,
        forged: bool,
    ) -> Result<Outcome, TestCaseError> {
        let l = &self.ledgers[via];
        let price = self.price();
        let sc = self.client_sc(c, p);
        let state = before.clients.get(&sc.to_hex()).cloned();
        let settled = state.as_ref().map_or(0, |s| s.tokens_used);
        let total = tokens.resolve(settled);
        let key = proxy_key(if forged { 0x77 } else { 0x50 + p as u8 });
        let bytes = voucher(
            &key,
            VoucherKind::ClientGrantRefund,
            total,
            &sc,
            u64::from(total as u32) ^ 0x0F0F,
        );
        let delta = total.saturating_sub(settled);
        let ok = match &state {
            Some(st) => {
                let proxy = &before.proxies[&st.proxy_sc];
                !forged
                    && st.status != ContractStatus::Closed
                    && (delta == 0 || proxy.status != ContractStatus::Closed)
            }
            None => false,
        };
        let r = l.client_grant_refund(&sc, &bytes);
        if let Ok(settlement) = &r {
            let st = state.expect("refunded client exists");
            // Clamped as a charge (contracts.md §3.1.9).
            let amount = (NanoTon::from(delta) * price).min(st.balance + st.stake);
            prop_assert_eq!((settlement.tokens, settlement.amount), (delta, amount));
            let now_state = l.client_state(&sc).expect("client");
            prop_assert_eq!(
                (
                    now_state.status,
                    now_state.balance,
                    now_state.stake,
                    now_state.tokens_used
                ),
                (ContractStatus::Closed, 0, 0, settled.max(total))
            );
            let owner = client_owner(c);
            prop_assert_eq!(
                l.wallet_balance(&owner).expect("wallet"),
                wallet_of(before, &owner) + st.balance + st.stake - amount,
                "the owner gets back exactly balance + stake − charged"
            );
            self.check_charged(via, before, p, &sc, delta, amount)?;
        }
        Ok((ok, r.map(|_| ())))
    }

    /// A last payout for total `tokens` (signed by a stranger key if `forged`).
    pub fn last_payout(
        &mut self,
        via: usize,
        before: &DevnetSnapshot,
        (w, p): (usize, usize),
        tokens: Pick,
        forged: bool,
    ) -> Result<Outcome, TestCaseError> {
        let l = &self.ledgers[via];
        let fee = self.fee();
        let sc = self.worker_sc(w, p);
        let state = before.workers.get(&sc.to_hex()).cloned();
        let settled = state.as_ref().map_or(0, |s| s.tokens);
        let total = tokens.resolve(settled);
        let key = proxy_key(if forged { 0x77 } else { 0x50 + p as u8 });
        let bytes = voucher(
            &key,
            VoucherKind::WorkerLastPayout,
            total,
            &sc,
            u64::from(total as u32) ^ 0x3C3C,
        );
        let delta = total.saturating_sub(settled);
        let ok = match &state {
            Some(st) => !forged && st.status != ContractStatus::Closed,
            None => false,
        };
        let r = l.worker_last_payout(&sc, &bytes);
        if let Ok(settlement) = &r {
            let st = state.expect("paid worker exists");
            let due = NanoTon::from(delta) * fee;
            let amount = if delta == 0 {
                0
            } else {
                crate::vouchers::payable(&before.proxies[&st.proxy_sc], due)
            };
            prop_assert_eq!((settlement.tokens, settlement.amount), (delta, amount));
            let now_state = l.worker_state(&sc).expect("worker");
            prop_assert_eq!(
                (now_state.status, now_state.tokens),
                (ContractStatus::Closed, settled.max(total))
            );
            self.check_paid(via, before, (w, p), &sc, due, amount)?;
        }
        Ok((ok, r.map(|_| ())))
    }
}
