//! The voucher steps: proxy-signed client charges and worker payouts, with their exact
//! token and nanoTON effects.

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::ledger::devnet::DevnetSnapshot;
use cocoon_ledger::ledger::{ContractStatus, Ledger};
use cocoon_ledger::voucher::VoucherKind;
use proptest::prelude::*;
use tonlib_core::TonAddress;

use crate::common::{proxy_key, voucher};
use crate::ops::Pick;
use crate::world::{wallet_of, worker_owner, Outcome, World};

/// What a proxy contract in state `proxy` pays of `due` to a worker: all of it from its
/// worker pool and stake, or nothing when it cannot (Closed, or short of money).
pub fn payable(proxy: &cocoon_ledger::ledger::ProxyContractState, due: NanoTon) -> NanoTon {
    if proxy.status == ContractStatus::Closed || due > proxy.worker_pool + proxy.stake {
        0
    } else {
        due
    }
}

impl World {
    /// A client charge voucher for total `tokens` (signed by a stranger key if `forged`).
    pub fn charge(
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
            VoucherKind::ClientCharge,
            total,
            &sc,
            u64::from(total as u32),
        );
        let ok = match &state {
            Some(st) => {
                let proxy = &before.proxies[&st.proxy_sc];
                !forged
                    && st.status != ContractStatus::Closed
                    && proxy.status != ContractStatus::Closed
                    && total > settled
            }
            None => false,
        };
        let r = l.client_charge(&sc, &bytes);
        if let Ok(settlement) = &r {
            let st = state.expect("charged client exists");
            // Clamped to what the client has in; the rest is forgiven (contracts.md §3.1.8).
            let amount = (NanoTon::from(total - settled) * price).min(st.balance + st.stake);
            prop_assert_eq!(
                (settlement.tokens, settlement.amount),
                (total - settled, amount)
            );
            let from_balance = amount.min(st.balance);
            let now_state = l.client_state(&sc).expect("client");
            prop_assert_eq!(
                (now_state.balance, now_state.stake, now_state.tokens_used),
                (
                    st.balance - from_balance,
                    st.stake - (amount - from_balance),
                    total
                )
            );
            self.check_charged(via, before, p, &sc, total - settled, amount)?;
        }
        Ok((ok, r.map(|_| ())))
    }

    /// A worker payout voucher for total `tokens` (signed by a stranger key if `forged`).
    pub fn payout(
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
            VoucherKind::WorkerPayout,
            total,
            &sc,
            u64::from(total as u32) ^ 0x5555,
        );
        let ok = match &state {
            Some(st) => !forged && st.status != ContractStatus::Closed && total > settled,
            None => false,
        };
        let r = l.worker_payout(&sc, &bytes);
        if let Ok(settlement) = &r {
            let st = state.expect("paid worker exists");
            let due = NanoTon::from(total - settled) * fee;
            let amount = payable(&before.proxies[&st.proxy_sc], due);
            prop_assert_eq!(
                (settlement.tokens, settlement.amount),
                (total - settled, amount)
            );
            prop_assert_eq!(l.worker_state(&sc).expect("worker").tokens, total);
            self.check_paid(via, before, (w, p), &sc, due, amount)?;
        }
        Ok((ok, r.map(|_| ())))
    }

    /// After a client contract was charged `tokens` (a charge or a grant refund): the proxy
    /// contract's worker pool grew by tokens × fee, its commission by tokens × (price − fee);
    /// the charge is booked.
    pub fn check_charged(
        &mut self,
        via: usize,
        before: &DevnetSnapshot,
        p: usize,
        client_sc: &TonAddress,
        tokens: u64,
        amount: NanoTon,
    ) -> Result<(), TestCaseError> {
        let (price, fee) = (self.price(), self.fee());
        let proxy_sc = self.proxy_sc(p);
        let proxy_was = &before.proxies[&proxy_sc.to_hex()];
        let proxy_now = self.ledgers[via].proxy_state(&proxy_sc).expect("proxy");
        // What moved books the workers' part first, the rest as commission.
        let t = NanoTon::from(tokens);
        let to_workers = (t * fee).min(amount);
        prop_assert!(amount <= t * price);
        *self.books.forgiven.entry(client_sc.to_hex()).or_default() += t * price - amount;
        self.books.forgiven_workers[p] += t * fee - to_workers;
        self.books.forgiven_commission[p] += t * (price - fee) - (amount - to_workers);
        prop_assert_eq!(proxy_now.worker_pool, proxy_was.worker_pool + to_workers);
        prop_assert_eq!(
            proxy_now.commission,
            proxy_was.commission + amount - to_workers
        );
        *self.books.charged.entry(client_sc.to_hex()).or_default() += amount;
        Ok(())
    }

    /// After worker `w`'s contract at proxy `p` was paid `amount` (a payout or a last
    /// payout): taken from the proxy's worker pool first, then its stake; the owner's
    /// wallet grew by `amount`; the payment is booked.
    pub fn check_paid(
        &mut self,
        via: usize,
        before: &DevnetSnapshot,
        (w, p): (usize, usize),
        worker_sc: &TonAddress,
        due: NanoTon,
        amount: NanoTon,
    ) -> Result<(), TestCaseError> {
        // What the proxy contract could not pay is lost to the worker (voucher used up).
        *self.books.lost.entry(worker_sc.to_hex()).or_default() += due - amount;
        self.books.lost_workers[p] += due - amount;
        let l = &self.ledgers[via];
        let proxy_sc = self.proxy_sc(p);
        let proxy_was = &before.proxies[&proxy_sc.to_hex()];
        let proxy_now = l.proxy_state(&proxy_sc).expect("proxy");
        let from_pool = amount.min(proxy_was.worker_pool);
        prop_assert_eq!(
            (proxy_now.worker_pool, proxy_now.stake),
            (
                proxy_was.worker_pool - from_pool,
                proxy_was.stake - (amount - from_pool)
            )
        );
        let owner = worker_owner(w);
        prop_assert_eq!(
            l.wallet_balance(&owner).expect("wallet"),
            wallet_of(before, &owner) + amount
        );
        *self.books.paid.entry(worker_sc.to_hex()).or_default() += amount;
        Ok(())
    }
}
