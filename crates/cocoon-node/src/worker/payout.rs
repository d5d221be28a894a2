//! The worker's money at each proxy, on a ledger (runners.md §6.6).
//!
//! At first contact with a proxy our worker contract there is deployed if missing
//! ([`WorkerMoney::prepare`]). The payout loop ([`run_payout_loop`], every
//! [`PayoutPolicy::interval`] plus a random part) submits the best voucher, repacked with
//! our wallet as `excess_to`, when `(committed_to_blockchain − paid) × worker_fee` reaches
//! the threshold in nanoTON, or the smaller idle threshold while no request runs (the
//! reference compares tokens with nanoTON here, §13.15). Before each round, a proxy whose
//! count for us is above our best voucher is asked for a newer one
//! (`worker.updatePaymentStatus`). `/request/payout?proxy=` pays out at once whatever is owed.
//! A contract whose `params_version` is below the root's is paid out at once whatever the
//! threshold (its proxy is closing it), and forgotten once closed (by the proxy's last
//! payout). The reference first waits `client_delay_before_close / 2`; paying earlier loses
//! nothing, the last payout settles only the rest.
//!
//! Devnet simplification: our wallet is the config's `owner_address`, and payouts go
//! straight to it; no message values or fees are paid. The ledger is synchronous: callers
//! run these methods on a blocking thread.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::address::parse_address;
use cocoon_ledger::ledger::{
    ContractContext, ContractStatus, Ledger, LedgerError, WorkerContractState,
};
use cocoon_ledger::voucher::{self, VoucherKind};
use cocoon_wire::schema::types;
use rand::Rng;
use serde_json::{json, Value};
use tonlib_core::TonAddress;

use super::settings::PayoutPolicy;
use super::WorkerState;
use crate::common::node_wallet::NodeWallet;
use crate::common::vouchers::{contract_outdated, nano_json, PaymentsBook, PaymentsView};

/// Our worker contract at one proxy.
#[derive(Debug, Clone)]
struct ContractEntry {
    proxy_sc: TonAddress,
    /// `None` until deployed (retried by the loop).
    worker_sc: Option<TonAddress>,
    /// The worker contract address the proxy announced (checked before deploying).
    announced_sc: String,
    state: Option<WorkerContractState>,
    last_error: Option<String>,
    /// nanoTON paid to us by this contract since we started.
    paid_out: NanoTon,
    /// Bounced payouts already logged ([`bounced_payouts_error`]).
    bounces_reported: u32,
}

/// The worker's ledger side (one per process).
pub struct WorkerMoney {
    ledger: Arc<dyn Ledger>,
    wallet: NodeWallet,
    policy: PayoutPolicy,
    /// Our contracts by proxy network address.
    contracts: Mutex<BTreeMap<String, ContractEntry>>,
}

impl WorkerMoney {
    /// Money of the wallet `owner_address` on `ledger`.
    pub fn new(
        ledger: Arc<dyn Ledger>,
        owner_address: &str,
        policy: PayoutPolicy,
    ) -> Result<Self, String> {
        let wallet = NodeWallet::parse(owner_address)?;
        Ok(WorkerMoney {
            ledger,
            wallet,
            policy,
            contracts: Mutex::new(BTreeMap::new()),
        })
    }

    /// The ledger's contract context (our contract addresses are derived in it).
    pub fn contract_context(&self) -> Result<ContractContext, LedgerError> {
        self.ledger.contract_context()
    }

    /// First contact with the proxy at `proxy_address`: our worker contract there is
    /// deployed if missing. A failure is remembered and retried by the loop.
    pub fn prepare(&self, proxy_address: &str, params: &types::proxy::Params, announced_sc: &str) {
        let proxy_sc = match parse_address(&params.proxy_sc_address) {
            Ok(a) => a.address,
            Err(e) => {
                tracing::warn!(proxy = %proxy_address, error = %e, "proxy contract address unusable; no payouts");
                return;
            }
        };
        let mut entry = match self.lock().get(proxy_address) {
            Some(e) if e.proxy_sc == proxy_sc => ContractEntry {
                announced_sc: announced_sc.to_owned(),
                ..e.clone()
            },
            _ => ContractEntry {
                proxy_sc,
                worker_sc: None,
                announced_sc: announced_sc.to_owned(),
                state: None,
                last_error: None,
                paid_out: 0,
                bounces_reported: 0,
            },
        };
        if let Err(e) = self.deploy(&mut entry, params) {
            tracing::warn!(proxy = %proxy_address, error = %e, "worker contract not deployed yet");
            entry.last_error = Some(e.to_string());
        }
        self.refresh_wallet();
        self.lock().insert(proxy_address.to_owned(), entry);
    }

    fn deploy(
        &self,
        entry: &mut ContractEntry,
        params: &types::proxy::Params,
    ) -> Result<(), LedgerError> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(&params.proxy_public_key)
            .map_err(|_| LedgerError::Invalid("invalid proxy public key".into()))?;
        let ctx = self.contract_context()?;
        let derived = crate::common::vouchers::derive_our_contract(
            VoucherKind::WorkerPayout,
            &self.wallet.address,
            &entry.proxy_sc,
            &key,
            &ctx,
        )
        .map_err(LedgerError::Invalid)?;
        crate::common::vouchers::check_announced_contract(&derived, &entry.announced_sc, &ctx)
            .map_err(LedgerError::Invalid)?;
        let sc = match self.ledger.worker_state(&derived) {
            Ok(_) => derived,
            Err(LedgerError::UnknownContract(_)) => {
                let sc = self
                    .ledger
                    .worker_deploy(&self.wallet.address, &entry.proxy_sc)?;
                tracing::info!(worker_sc = %sc.to_hex(), "worker contract deployed");
                sc
            }
            Err(e) => return Err(e),
        };
        entry.state = Some(self.ledger.worker_state(&sc)?);
        entry.worker_sc = Some(sc);
        entry.last_error = None;
        Ok(())
    }

    /// One round of the payout loop; `idle`: no request is running.
    pub fn tick(&self, payments: &PaymentsBook, idle: bool) {
        self.refresh_wallet();
        let entries: Vec<(String, ContractEntry)> = self
            .lock()
            .iter()
            .map(|(a, e)| (a.clone(), e.clone()))
            .collect();
        for (address, mut entry) in entries {
            let Some(view) = payments.view(&address) else {
                continue;
            };
            if entry.worker_sc.is_none() {
                let params = params_of(&view);
                if let Err(e) = self.deploy(&mut entry, &params) {
                    entry.last_error = Some(e.to_string());
                    self.lock().insert(address, entry);
                    continue;
                }
            }
            match self.maybe_pay(&mut entry, &view, idle, false) {
                Ok(_) => {
                    entry.last_error = match entry.worker_sc.clone() {
                        Some(sc) => bounced_payouts_error(&sc, &mut entry),
                        None => None,
                    }
                }
                Err(e) => {
                    if entry.last_error.as_deref() != Some(&e.to_string()) {
                        tracing::warn!(proxy = %address, error = %e, "worker payout");
                    }
                    entry.last_error = Some(e.to_string());
                }
            }
            if entry
                .state
                .as_ref()
                .is_some_and(|s| s.status == ContractStatus::Closed)
            {
                tracing::info!(proxy = %address, "worker contract closed; forgetting it");
                self.lock().remove(&address);
                continue;
            }
            self.lock().insert(address, entry);
        }
    }

    /// Pays out the best voucher when the policy (or `force`) says so; returns the message.
    fn maybe_pay(
        &self,
        entry: &mut ContractEntry,
        view: &PaymentsView,
        idle: bool,
        force: bool,
    ) -> Result<Option<String>, LedgerError> {
        let Some(sc) = entry.worker_sc.clone() else {
            return Err(LedgerError::WrongState("worker contract not deployed"));
        };
        let state = self.ledger.worker_state(&sc)?;
        entry.state = Some(state.clone());
        if state.status == ContractStatus::Closed {
            return Ok(None);
        }
        let owed_tokens = view.voucher_tokens().saturating_sub(state.tokens);
        let root = self.ledger.root_config()?.params;
        let fee = root.worker_fee_per_token;
        let owed = NanoTon::from(owed_tokens) * NanoTon::from(fee);
        // An outdated contract (root params_version raised) is paid out whatever the
        // threshold: its proxy is leaving it (the proxy's last payout closes it).
        let outdated = contract_outdated(state.params_version, root.params_version);
        let due = owed_tokens > 0
            && (force
                || outdated
                || owed >= self.policy.threshold_nanoton
                || (idle && owed >= self.policy.idle_threshold_nanoton));
        let Some(best) = view.best.as_ref().filter(|_| due) else {
            return Ok(None);
        };
        let boc = voucher::repack(&best.boc, VoucherKind::WorkerPayout, &self.wallet.address)?;
        let done = self.ledger.worker_payout(&sc, &boc)?;
        entry.paid_out += done.amount;
        entry.state = Some(self.ledger.worker_state(&sc)?);
        self.refresh_wallet();
        tracing::info!(worker_sc = %sc.to_hex(), tokens = done.tokens, amount = done.amount,
            "worker payout: voucher submitted to our worker contract");
        Ok(Some(format!(
            "paid out {} tokens, {} nanoTON to {}",
            done.tokens, done.amount, self.wallet.text
        )))
    }

    /// `/request/payout?proxy=<proxy contract or address>`: pays out whatever is owed.
    pub fn payout_now(&self, proxy: &str, payments: &PaymentsBook) -> Result<String, String> {
        let (address, mut entry) = self.find(proxy)?;
        let view = payments
            .view(&address)
            .ok_or_else(|| "no payments from this proxy yet".to_owned())?;
        let out = self
            .maybe_pay(&mut entry, &view, true, true)
            .map_err(|e| e.to_string())?;
        self.lock().insert(address, entry);
        Ok(out.unwrap_or_else(|| "nothing to pay out".into()))
    }

    fn find(&self, proxy: &str) -> Result<(String, ContractEntry), String> {
        let map = self.lock();
        if let Some(e) = map.get(proxy) {
            return Ok((proxy.to_owned(), e.clone()));
        }
        let wanted = parse_address(proxy).ok().map(|a| a.address);
        map.iter()
            .find(|(_, e)| wanted.as_ref() == Some(&e.proxy_sc))
            .map(|(a, e)| (a.clone(), e.clone()))
            .ok_or_else(|| format!("no worker contract at proxy {proxy:?}"))
    }

    fn refresh_wallet(&self) {
        self.wallet.refresh(&*self.ledger);
    }

    /// `(status.wallet_balance, wallet)` of `/jsonstats`.
    pub fn wallet_json(&self) -> (Value, Value) {
        self.wallet.json(self.ledger.network())
    }

    /// Ledger fields of our contract at the proxy at `address`.
    pub fn contract_json(&self, address: &str) -> Option<Value> {
        let map = self.lock();
        let e = map.get(address)?;
        Some(json!({
            "sc_inited": e.worker_sc.is_some(),
            "sc_address": e.worker_sc.as_ref().map(|a| a.to_hex()),
            "state": e.state.as_ref().map(|s| format!("{:?}", s.status)),
            "paid": e.state.as_ref().map_or(0, |s| s.tokens),
            "payouts_bounced": e.state.as_ref().map_or(0, |s| s.payouts_bounced),
            "paid_out_nanoton": nano_json(e.paid_out),
            "money_error": e.last_error,
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ContractEntry>> {
        self.contracts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A payout the proxy contract could not pay (it bounced, contracts.md §3.3.1): the voucher's
/// tokens count as paid on our contract, the money never came. Logged as an error once per
/// new bounce and kept as the contract's `money_error` (/jsonstats) — nothing here can get
/// that money back; the proxy's operator must. Later vouchers are still submitted.
fn bounced_payouts_error(sc: &TonAddress, entry: &mut ContractEntry) -> Option<String> {
    let bounced = entry.state.as_ref().map_or(0, |s| s.payouts_bounced);
    if bounced == 0 {
        return None;
    }
    if bounced > entry.bounces_reported {
        tracing::error!(worker_sc = %sc.to_hex(), bounced,
            "worker payout bounced: the proxy contract could not pay; those tokens count as paid but their money did not arrive");
        entry.bounces_reported = bounced;
    }
    Some(format!(
        "{bounced} payout(s) bounced at the proxy contract (it could not pay): those tokens count as paid, their money did not arrive"
    ))
}

/// The proxy params a view was made from (enough to derive our contract again).
fn params_of(view: &PaymentsView) -> types::proxy::Params {
    types::proxy::Params {
        flags: 0,
        proxy_public_key: view.proxy_public_key,
        proxy_owner_address: String::new(),
        proxy_sc_address: view.proxy_sc_address.clone(),
        is_test: None,
        proto_version: None,
    }
}

/// Deadline of `worker.updatePaymentStatus`.
const PAYMENT_STATUS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Asks every connected proxy whose count for us is above the voucher we keep for its
/// latest payment status (the reference's periodic reconciliation).
async fn refresh_payment_status(state: &WorkerState) {
    use cocoon_wire::schema::{enums, functions};
    for (address, session) in state.link_sessions() {
        let behind = state
            .payments
            .view(&address)
            .is_some_and(|v| v.max_tokens > v.voucher_tokens());
        if !behind {
            continue;
        }
        match session
            .call(
                &functions::worker::UpdatePaymentStatus {},
                PAYMENT_STATUS_TIMEOUT,
            )
            .await
        {
            Ok(enums::worker::PaymentStatus::PaymentStatus(p)) => {
                state
                    .payments
                    .offer(&address, &p.signed_payment, p.db_tokens, p.max_tokens)
            }
            Err(e) => {
                tracing::debug!(proxy = %address, error = %e, "worker.updatePaymentStatus failed")
            }
        }
    }
}

/// Runs [`WorkerMoney::tick`] forever (after refreshing the vouchers it may submit).
pub(crate) async fn run_payout_loop(state: Arc<WorkerState>) {
    let Some(money) = state.money.clone() else {
        return;
    };
    loop {
        let base = money.policy.interval;
        let extra = base.mul_f64(rand::thread_rng().gen_range(0.0..1.0));
        tokio::time::sleep(base + extra).await;
        refresh_payment_status(&state).await;
        let (m, st) = (money.clone(), state.clone());
        let idle = st.active_requests() == 0;
        if let Err(e) = tokio::task::spawn_blocking(move || m.tick(&st.payments, idle)).await {
            tracing::warn!(error = %e, "worker payout round failed");
        }
    }
}

#[cfg(test)]
#[path = "payout_tests.rs"]
mod tests;
