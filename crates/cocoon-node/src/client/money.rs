//! The client's money at each proxy, on a ledger (runners.md §6.4).
//!
//! On first contact with a proxy, before any request goes through it, [`ClientMoney::prepare`]
//! derives our client contract, deploys it if missing, brings its stake up to the root's
//! `min_client_stake`, sets the secret hash to `sha256(secret_string)` and tops it up. Then
//! [`ClientMoney::tick`] runs every 1–2 s per proxy: forget a closed contract, fix the secret
//! hash, **auto top-up** when `payed − charged < stake_tokens / 2` (by the stake rounded down
//! to a multiple of the price), and **force charge** (submit the best voucher, repacked with
//! our wallet as `excess_to`) when the proxy's `tokens_max > charged + stake_tokens / 2`.
//! The operator can do each step by hand (`/request/charge|topup|close|withdraw?proxy=`).
//! When a proxy offers long auth, [`ClientMoney::register`] sends the on-chain registration
//! with its nonce.
//! An outdated contract (root `params_version` raised, or the proxy announcing another
//! contract) is closed by `money_old`: by the proxy's refund, or else by our own refund
//! request and withdrawal.
//!
//! Devnet simplification: our wallet is the config's `owner_address` (the reference sends
//! through a separate cocoon wallet), and no message values or fees are paid.
//! The ledger is synchronous: callers run these methods on a blocking thread.

use std::collections::BTreeMap;
use std::sync::Mutex;

use cocoon_ledger::accounting::{safe_div, NanoTon};
use cocoon_ledger::address::parse_address;
use cocoon_ledger::ledger::{
    ClientContractState, ContractContext, ContractStatus, Ledger, LedgerError,
};
use cocoon_ledger::voucher::{self, VoucherKind};
use cocoon_wire::schema::types;
use ed25519_dalek::VerifyingKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tonlib_core::TonAddress;

use super::settings::ClientMoneyPolicy;
use crate::common::node_wallet::NodeWallet;
use crate::common::vouchers::{
    check_announced_contract, contract_outdated, derive_our_contract, nano_json, PaymentsBook,
    PaymentsView,
};

/// A money operation that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MoneyError {
    /// Our wallet cannot pay.
    #[error("wallet {wallet} has {available} nanoTON but {needed} are needed to {what}; {hint}")]
    WalletTooPoor {
        /// Our wallet (as configured).
        wallet: String,
        /// What the money was for.
        what: &'static str,
        /// nanoTON needed.
        needed: NanoTon,
        /// nanoTON in the wallet.
        available: NanoTon,
        /// How to fund it on this ledger's network.
        hint: String,
    },
    /// The ledger refused.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// Anything else (unknown proxy, bad address, nothing to do).
    #[error("{0}")]
    Other(String),
}

/// Our contract at one proxy.
#[derive(Debug, Clone)]
struct ContractEntry {
    proxy_sc: TonAddress,
    client_sc: TonAddress,
    /// Latest state read from the ledger.
    state: Option<ClientContractState>,
    /// Root price per token when last read.
    price: u64,
    last_error: Option<String>,
}

/// The client's ledger side (one per process).
pub struct ClientMoney {
    ledger: Arc<dyn Ledger>,
    wallet: NodeWallet,
    secret_hash: [u8; 32],
    policy: ClientMoneyPolicy,
    /// Our contracts by proxy network address.
    contracts: Mutex<BTreeMap<String, ContractEntry>>,
    /// Outdated contracts still to close ([`money_old`]).
    old: Mutex<Vec<money_old::OldClientContract>>,
}

impl ClientMoney {
    /// Money of the wallet `owner_address` with secret `secret_string` on `ledger`.
    pub fn new(
        ledger: Arc<dyn Ledger>,
        owner_address: &str,
        secret_string: &str,
        policy: ClientMoneyPolicy,
    ) -> Result<Self, String> {
        let wallet = NodeWallet::parse(owner_address)?;
        Ok(ClientMoney {
            ledger,
            wallet,
            secret_hash: Sha256::digest(secret_string.as_bytes()).into(),
            policy,
            contracts: Mutex::new(BTreeMap::new()),
            old: Mutex::new(Vec::new()),
        })
    }

    /// The loop's period (a random part of it is added each time).
    pub fn interval(&self) -> std::time::Duration {
        self.policy.interval
    }

    /// The ledger's contract context (our contract addresses are derived in it).
    pub fn contract_context(&self) -> Result<ContractContext, LedgerError> {
        self.ledger.contract_context()
    }

    /// First contact with the proxy at `proxy_address` announcing `params`: our contract
    /// deployed, staked, with our secret hash, topped up. Returns its address.
    pub fn prepare(
        &self,
        proxy_address: &str,
        params: &types::proxy::Params,
        announced_sc: &str,
    ) -> Result<TonAddress, MoneyError> {
        let proxy_sc = parse_address(&params.proxy_sc_address)
            .map_err(|e| MoneyError::Other(format!("proxy contract address: {e}")))?
            .address;
        let proxy_key = VerifyingKey::from_bytes(&params.proxy_public_key)
            .map_err(|_| MoneyError::Other("invalid proxy public key".into()))?;
        let ctx = self.contract_context()?;
        let derived = derive_our_contract(
            VoucherKind::ClientCharge,
            &self.wallet.address,
            &proxy_sc,
            &proxy_key,
            &ctx,
        )
        .map_err(MoneyError::Other)?;
        check_announced_contract(&derived, announced_sc, &ctx).map_err(MoneyError::Other)?;
        let client_sc = match self.ledger.client_state(&derived) {
            Ok(_) => derived,
            Err(LedgerError::UnknownContract(_)) => {
                let deployed = self.ledger.client_deploy(&self.wallet.address, &proxy_sc)?;
                if deployed != derived {
                    tracing::warn!(derived = %derived.to_hex(), deployed = %deployed.to_hex(),
                        "ledger derived another client contract address than ours");
                }
                tracing::info!(proxy = %proxy_address, client_sc = %deployed.to_hex(),
                    "client contract deployed");
                deployed
            }
            Err(e) => return Err(e.into()),
        };
        let mut entry = ContractEntry {
            proxy_sc,
            client_sc: client_sc.clone(),
            state: None,
            price: ctx.params.price_per_token,
            last_error: None,
        };
        let state = self.ledger.client_state(&client_sc)?;
        if state.status == ContractStatus::Closed {
            return Err(MoneyError::Other(format!(
                "our client contract {} at this proxy is closed",
                client_sc.to_hex()
            )));
        }
        if state.stake < ctx.params.min_client_stake {
            let amount = ctx.params.min_client_stake - state.stake;
            self.pay("bring the client contract stake to the minimum", amount)?;
            self.ledger
                .client_increase_stake(&self.wallet.address, &client_sc, amount)
                .map_err(|e| self.poor("stake the client contract", e))?;
            tracing::info!(client_sc = %client_sc.to_hex(), amount, "client contract stake increased");
        }
        entry.state = Some(self.ledger.client_state(&client_sc)?);
        self.maintain(&mut entry, None)?;
        self.refresh_wallet();
        let replaced = self.lock().insert(proxy_address.to_owned(), entry);
        if let Some(replaced) = replaced.filter(|r| r.client_sc != client_sc) {
            // The proxy moved to another contract (a params_version bump).
            self.retire_contract(
                replaced.client_sc,
                "the proxy announced a new proxy contract",
            );
        }
        Ok(client_sc)
    }

    /// Long auth (runners.md §3.2 step 6): `owner_client_register(nonce)` from our wallet to
    /// our contract `client_sc`, which forwards the nonce to its proxy contract.
    pub fn register(&self, client_sc: &TonAddress, nonce: u64) -> Result<(), MoneyError> {
        self.ledger
            .client_register(&self.wallet.address, client_sc, nonce)?;
        tracing::info!(client_sc = %client_sc.to_hex(), nonce, "registration sent for long auth");
        Ok(())
    }

    /// One round of the money loop over every proxy we prepared.
    pub fn tick(&self, payments: &PaymentsBook) {
        self.refresh_wallet();
        let entries: Vec<(String, ContractEntry)> = self
            .lock()
            .iter()
            .map(|(a, e)| (a.clone(), e.clone()))
            .collect();
        for (address, mut entry) in entries {
            let view = payments.view(&address);
            let result = self.maintain(&mut entry, view.as_ref());
            let error = result.err().map(|e| e.to_string());
            if error.is_some() && error != entry.last_error {
                tracing::warn!(proxy = %address, error = ?error, "client money management");
            }
            entry.last_error = error;
            if entry
                .state
                .as_ref()
                .is_some_and(|s| s.status == ContractStatus::Closed)
            {
                tracing::info!(proxy = %address, "client contract closed; forgetting it");
                self.lock().remove(&address);
                continue;
            }
            let outdated = self.ledger.root_config().is_ok_and(|root| {
                entry.state.as_ref().is_some_and(|s| {
                    contract_outdated(s.params_version, root.params.params_version)
                })
            });
            if outdated {
                // The proxy announces its new contract when we reconnect (prepare again).
                self.lock().remove(&address);
                self.retire_contract(entry.client_sc, "its params_version is below the root's");
                continue;
            }
            self.lock().insert(address, entry);
        }
        self.close_old_contracts();
    }

    /// Refresh, secret hash, auto top-up, force charge (when `view` is known).
    fn maintain(
        &self,
        entry: &mut ContractEntry,
        view: Option<&PaymentsView>,
    ) -> Result<(), MoneyError> {
        entry.price = self.ledger.root_config()?.params.price_per_token;
        let state = self.ledger.client_state(&entry.client_sc)?;
        entry.state = Some(state.clone());
        if state.status != ContractStatus::Active {
            return Ok(());
        }
        if state.secret_hash != self.secret_hash {
            self.ledger.client_change_secret_hash(
                &self.wallet.address,
                &entry.client_sc,
                self.secret_hash,
            )?;
            tracing::info!(client_sc = %entry.client_sc.to_hex(), "client contract secret hash set");
        }
        let stake_tokens = safe_div(state.stake, entry.price);
        if safe_div(state.balance, entry.price) < stake_tokens / 2 {
            self.top_up(entry)?;
        }
        if let Some(view) = view {
            let margin = self
                .policy
                .force_charge_margin_tokens
                .unwrap_or(stake_tokens / 2);
            if view.max_tokens > state.tokens_used.saturating_add(margin)
                && view.voucher_tokens() > state.tokens_used
            {
                self.charge(entry, view)?;
            }
        }
        entry.state = Some(self.ledger.client_state(&entry.client_sc)?);
        Ok(())
    }

    /// Tops up by the stake rounded down to a multiple of the price — never into a proxy
    /// contract known to be closing or closed: the real proxy contract sends such a top-up
    /// back to our wallet while our client contract still counts it (contracts.md §3.3.2),
    /// so the balance would over-state the money behind it.
    fn top_up(&self, entry: &ContractEntry) -> Result<String, MoneyError> {
        if let Ok(proxy) = self.ledger.proxy_state(&entry.proxy_sc) {
            if proxy.status != ContractStatus::Active {
                return Err(MoneyError::Other(format!(
                    "not topping up: the proxy contract is {:?} (the money would come back while our contract counted it)",
                    proxy.status
                )));
            }
        }
        let stake = entry.state.as_ref().map_or(0, |s| s.stake);
        let price = NanoTon::from(entry.price.max(1));
        let amount = stake - stake % price;
        if amount == 0 {
            return Err(MoneyError::Other("stake is below one token's price".into()));
        }
        self.pay("top up the client contract", amount)?;
        self.ledger
            .client_top_up(&self.wallet.address, &entry.client_sc, amount)
            .map_err(|e| self.poor("top up the client contract", e))?;
        tracing::info!(client_sc = %entry.client_sc.to_hex(), amount, "client contract topped up");
        Ok(format!("topped up {amount} nanoTON"))
    }

    /// Submits the best voucher (repacked with our wallet as `excess_to`).
    fn charge(&self, entry: &ContractEntry, view: &PaymentsView) -> Result<String, MoneyError> {
        let best = view
            .best
            .as_ref()
            .ok_or_else(|| MoneyError::Other("no voucher from this proxy yet".into()))?;
        let boc = voucher::repack(&best.boc, VoucherKind::ClientCharge, &self.wallet.address)
            .map_err(|e| MoneyError::Other(format!("repacking the voucher: {e}")))?;
        match self.ledger.client_charge(&entry.client_sc, &boc) {
            Ok(done) => {
                tracing::info!(client_sc = %entry.client_sc.to_hex(), tokens = done.tokens,
                    amount = done.amount, "client contract charged by our voucher (force charge)");
                Ok(format!(
                    "charged {} tokens, {} nanoTON",
                    done.tokens, done.amount
                ))
            }
            Err(LedgerError::VoucherNotHigher { offered, settled }) => {
                tracing::debug!(offered, settled, "voucher already charged");
                Ok(format!("already charged up to {settled} tokens"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Checks the wallet can pay `amount` (an error saying how to fund it on this network if not).
    fn pay(&self, what: &'static str, amount: NanoTon) -> Result<(), MoneyError> {
        let available = self.ledger.wallet_balance(&self.wallet.address)?;
        if available < amount {
            return Err(MoneyError::WalletTooPoor {
                wallet: self.wallet.text.clone(),
                what,
                needed: amount,
                available,
                hint: self.ledger.funding_hint(&self.wallet.text, amount),
            });
        }
        Ok(())
    }

    fn poor(&self, what: &'static str, e: LedgerError) -> MoneyError {
        match e {
            LedgerError::InsufficientFunds { needed, available } => MoneyError::WalletTooPoor {
                wallet: self.wallet.text.clone(),
                what,
                needed,
                available,
                hint: self.ledger.funding_hint(&self.wallet.text, needed),
            },
            other => other.into(),
        }
    }

    fn refresh_wallet(&self) {
        self.wallet.refresh(&*self.ledger);
    }

    /// The entry of `proxy`: a proxy network address, or a proxy contract address.
    fn find(&self, proxy: &str) -> Result<(String, ContractEntry), MoneyError> {
        let map = self.lock();
        if let Some(e) = map.get(proxy) {
            return Ok((proxy.to_owned(), e.clone()));
        }
        let wanted = parse_address(proxy).ok().map(|a| a.address);
        map.iter()
            .find(|(_, e)| wanted.as_ref() == Some(&e.proxy_sc))
            .map(|(a, e)| (a.clone(), e.clone()))
            .ok_or_else(|| MoneyError::Other(format!("no client contract at proxy {proxy:?}")))
    }

    /// `/request/<op>?proxy=`: `charge`, `topup`, `close` (refund request) or `withdraw`.
    pub fn manual(
        &self,
        op: &str,
        proxy: &str,
        payments: &PaymentsBook,
    ) -> Result<String, MoneyError> {
        let (address, mut entry) = self.find(proxy)?;
        entry.state = Some(self.ledger.client_state(&entry.client_sc)?);
        let out = match op {
            "charge" => {
                let view = payments
                    .view(&address)
                    .ok_or_else(|| MoneyError::Other("no payments from this proxy yet".into()))?;
                self.charge(&entry, &view)?
            }
            "topup" => self.top_up(&entry)?,
            // First request: the contract starts closing. Second request, strictly after
            // the unlock time: the contract closes and refunds the rest (withdraw is
            // refused outside Active, contracts.md §3.1.6–3.1.7).
            "close" => {
                let closing = entry
                    .state
                    .as_ref()
                    .is_some_and(|s| s.status == ContractStatus::Closing);
                let unlock = self
                    .ledger
                    .client_request_refund(&self.wallet.address, &entry.client_sc)?;
                if closing {
                    format!(
                        "refund forced: contract closes, the rest goes to {}",
                        self.wallet.text
                    )
                } else {
                    format!("refund requested; close again after ledger time {unlock}")
                }
            }
            "withdraw" => {
                let amount = self
                    .ledger
                    .client_withdraw(&self.wallet.address, &entry.client_sc)?;
                format!("withdrew {amount} nanoTON to {}", self.wallet.text)
            }
            other => return Err(MoneyError::Other(format!("unknown operation {other:?}"))),
        };
        entry.state = self.ledger.client_state(&entry.client_sc).ok();
        self.refresh_wallet();
        self.lock().insert(address, entry);
        Ok(out)
    }

    /// `/jsonstats` parts: `wallet_balance`, `wallet{…}` and the ledger fields of one proxy.
    pub fn wallet_json(&self) -> (Value, Value) {
        self.wallet.json(self.ledger.network())
    }

    /// Ledger fields of our contract at the proxy at `address`, if prepared.
    pub fn contract_json(&self, address: &str) -> Option<Value> {
        let map = self.lock();
        let e = map.get(address)?;
        let s = e.state.as_ref();
        let balance = s.map_or(0, |s| s.balance);
        let charged = s.map_or(0, |s| s.tokens_used);
        Some(json!({
            "sc_address": e.client_sc.to_hex(),
            "state": s.map(|s| format!("{:?}", s.status)),
            "tokens_charged": charged,
            "tokens_payed": safe_div(balance, e.price).saturating_add(charged),
            "balance": nano_json(balance),
            "stake": nano_json(s.map_or(0, |s| s.stake)),
            "unlock_ts": s.map(|s| s.unlock_ts),
            "money_error": e.last_error,
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ContractEntry>> {
        self.contracts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[path = "money_old.rs"]
mod money_old;

#[cfg(test)]
#[path = "money_tests.rs"]
mod tests;
