//! The [`Ledger`] operations of the devnet simulation (each one validates first, then
//! mutates a copy of the state that is persisted before it becomes visible).

use ed25519_dalek::VerifyingKey;
use tonlib_core::TonAddress;

use super::deliver::{deliver, deliver_counted, exit_error, Kind};
use super::{debit, key, DevnetLedger, DevnetState, DEVNET_SAVED_STATES_KEPT};
use crate::accounting::NanoTon;
use crate::address::ContractSpec;
use crate::contracts;
use crate::ledger::{
    ClientContractState, ClientRegistration, ContractContext, ContractStatus, Ledger, LedgerError,
    ProxyContractState, SavedState, VoucherSettlement, WorkerContractState, REGISTRATIONS_KEPT,
};
use crate::root_config::RootConfig;
use crate::root_keys::SignedKeyRegistration;
use crate::voucher::{self, VoucherKind};

impl Ledger for DevnetLedger {
    fn now(&self) -> u64 {
        self.read_or_last(|s| s.clock)
    }

    fn root_config(&self) -> Result<RootConfig, LedgerError> {
        self.read(|s| Ok(s.config.clone()))
    }

    fn network(&self) -> &'static str {
        "devnet"
    }

    fn funding_hint(&self, wallet: &str, nanoton: NanoTon) -> String {
        format!(
            "on the devnet, mint it with `cocoon devnet fund --ledger <devnet file> --wallet {wallet} \
             --nanoton {nanoton}`"
        )
    }

    fn contract_context(&self) -> Result<ContractContext, LedgerError> {
        let params = self.read(|s| Ok(s.config.params.clone()))?;
        ContractContext::devnet(params).map_err(|e| LedgerError::Storage(e.to_string()))
    }

    fn wallet_balance(&self, wallet: &TonAddress) -> Result<NanoTon, LedgerError> {
        self.read(|s| Ok(s.wallets.get(&key(wallet)).copied().unwrap_or(0)))
    }

    fn root_add_public_key(
        &self,
        sender: &TonAddress,
        signed: &SignedKeyRegistration,
    ) -> Result<(), LedgerError> {
        self.devnet_root_add_public_key(sender, signed)
    }

    fn proxy_deploy(
        &self,
        owner: &TonAddress,
        proxy_key: &VerifyingKey,
        stake: NanoTon,
    ) -> Result<TonAddress, LedgerError> {
        let (min, funds) = self.read(|s| {
            let funds = s.wallets.get(&key(owner)).copied().unwrap_or(0);
            Ok((s.config.params.min_proxy_stake, funds))
        })?;
        if stake < min {
            return Err(LedgerError::Invalid(format!(
                "proxy stake {stake} below minimum {min}"
            )));
        }
        if funds < stake {
            return Err(LedgerError::InsufficientFunds {
                needed: stake,
                available: funds,
            });
        }
        // As on TON: a deploy leaves the stake at 0; only `ext_proxy_increase_stake` raises it.
        let sc = self.devnet_proxy_deploy_unstaked(owner, proxy_key)?;
        self.proxy_increase_stake(owner, &sc, stake)?;
        Ok(sc)
    }

    fn proxy_increase_stake(
        &self,
        sender: &TonAddress,
        proxy_sc: &TonAddress,
        amount: NanoTon,
    ) -> Result<(), LedgerError> {
        DevnetLedger::proxy_increase_stake(self, sender, proxy_sc, amount).map(|_| ())
    }

    fn proxy_state(&self, proxy_sc: &TonAddress) -> Result<ProxyContractState, LedgerError> {
        self.read(|s| {
            s.proxies
                .get(&key(proxy_sc))
                .cloned()
                .ok_or_else(|| LedgerError::UnknownContract(key(proxy_sc)))
        })
    }

    fn proxy_save_state(
        &self,
        sender: &TonAddress,
        proxy_sc: &TonAddress,
        saved: SavedState,
    ) -> Result<(), LedgerError> {
        self.mutate(|s| {
            let proxy = s.owned_proxy(sender, proxy_sc)?;
            if proxy.status == ContractStatus::Closed {
                return Err(LedgerError::WrongState("proxy contract is closed"));
            }
            if proxy
                .saved_states
                .last()
                .is_some_and(|last| last.seqno >= saved.seqno)
            {
                return Err(LedgerError::Invalid(format!(
                    "save_state seqno {} does not increase",
                    saved.seqno
                )));
            }
            proxy.saved_states.push(saved);
            let excess = proxy
                .saved_states
                .len()
                .saturating_sub(DEVNET_SAVED_STATES_KEPT);
            proxy.saved_states.drain(..excess);
            Ok(())
        })
    }

    fn proxy_payout(
        &self,
        _sender: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<NanoTon, LedgerError> {
        // Anyone may ask; the commission goes to the owner (contracts.md §3.3.3).
        self.mutate(|s| {
            let (next, out) = contracts::proxy::payout_request(s.proxy(proxy_sc)?)
                .map_err(|e| exit_error(e, proxy_sc, Kind::Proxy))?;
            *s.proxy(proxy_sc)? = next;
            let amount = deliver(s, out);
            tracing::info!(proxy_sc = %key(proxy_sc), amount, "devnet: proxy commission paid out");
            Ok(amount)
        })
    }

    fn proxy_request_close(
        &self,
        sender: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<u64, LedgerError> {
        self.mutate(|s| {
            let version = s.proxy(proxy_sc)?.params_version;
            let delay = s.params_of(version)?.proxy_delay_before_close;
            let now = s.clock;
            let proxy = s.proxy(proxy_sc)?;
            let (next, _) =
                contracts::proxy::owner_close(proxy, &key(sender), now, u64::from(delay))
                    .map_err(|e| exit_error(e, proxy_sc, Kind::Proxy))?;
            *proxy = next;
            Ok(proxy.unlock_ts)
        })
    }

    fn proxy_complete_close(
        &self,
        sender: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<NanoTon, LedgerError> {
        self.mutate(|s| {
            let now = s.clock;
            let proxy = s.owned_proxy(sender, proxy_sc)?;
            let (next, out) = contracts::proxy::close_complete(proxy, now)
                .map_err(|e| exit_error(e, proxy_sc, Kind::Proxy))?;
            *proxy = next;
            let amount = deliver(s, out);
            tracing::info!(proxy_sc = %key(proxy_sc), amount, "devnet: proxy contract closed, everything it held paid to its owner");
            Ok(amount)
        })
    }

    fn client_deploy(
        &self,
        owner: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<TonAddress, LedgerError> {
        self.mutate(|s| {
            let proxy_key = s.proxy_key(&key(proxy_sc))?;
            // A contract is written with the params of its proxy contract.
            let params_version = s.proxy(proxy_sc)?.params_version;
            let params = s.params_of(params_version)?;
            let stake = params.min_client_stake;
            let sc = self.derive(params, ContractSpec::Client { owner, proxy_sc }, &proxy_key)?;
            if s.clients.contains_key(&key(&sc)) {
                return Err(LedgerError::AlreadyExists(key(&sc)));
            }
            let state =
                contracts::client::deployed(key(owner), key(proxy_sc), stake, params_version);
            s.clients.insert(key(&sc), state);
            Ok(sc)
        })
    }

    fn client_state(&self, client_sc: &TonAddress) -> Result<ClientContractState, LedgerError> {
        self.read(|s| {
            s.clients
                .get(&key(client_sc))
                .cloned()
                .ok_or_else(|| LedgerError::UnknownContract(key(client_sc)))
        })
    }

    fn client_top_up(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
        amount: NanoTon,
    ) -> Result<(), LedgerError> {
        // Anyone may top up (contracts.md §3.1.1); the money goes on to the proxy contract.
        self.mutate(|s| {
            let (next, out) = contracts::client::top_up(s.client(client_sc)?, amount)
                .map_err(|e| exit_error(e, client_sc, Kind::Client))?;
            debit(s.wallet(sender), amount)?;
            *s.client(client_sc)? = next;
            deliver(s, out);
            Ok(())
        })
    }

    fn client_increase_stake(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
        amount: NanoTon,
    ) -> Result<(), LedgerError> {
        // Only the figure grows: no money moves (contracts.md §3.1.5).
        self.mutate(|s| {
            let client = s.client(client_sc)?;
            let new_stake = client.stake + amount;
            let (next, out) = contracts::client::increase_stake(client, &key(sender), new_stake)
                .map_err(|e| exit_error(e, client_sc, Kind::Client))?;
            *s.client(client_sc)? = next;
            deliver(s, out);
            Ok(())
        })
    }

    fn client_change_secret_hash(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
        hash: [u8; 32],
    ) -> Result<(), LedgerError> {
        self.mutate(|s| {
            let (next, out) =
                contracts::client::change_secret_hash(s.client(client_sc)?, &key(sender), hash)
                    .map_err(|e| exit_error(e, client_sc, Kind::Client))?;
            *s.client(client_sc)? = next;
            deliver(s, out);
            Ok(())
        })
    }

    fn client_register(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
        nonce: u64,
    ) -> Result<(), LedgerError> {
        // The devnet keeps no message fees: registering costs nothing (on TON the 1 TON
        // attached comes back as excess, less fees).
        self.mutate(|s| {
            let (next, out) =
                contracts::client::register(s.client(client_sc)?, &key(sender), nonce)
                    .map_err(|e| exit_error(e, client_sc, Kind::Client))?;
            let proxy_sc = next.proxy_sc.clone();
            *s.client(client_sc)? = next;
            deliver(s, out);
            // The proxy contract never executes the notice; its node sees the transaction.
            let proxy = s
                .proxies
                .get_mut(&proxy_sc)
                .ok_or_else(|| LedgerError::UnknownContract(proxy_sc.clone()))?;
            proxy.registrations.push(ClientRegistration {
                nonce,
                owner: key(sender),
                client_sc: key(client_sc),
            });
            let excess = proxy.registrations.len().saturating_sub(REGISTRATIONS_KEPT);
            proxy.registrations.drain(..excess);
            Ok(())
        })
    }

    fn client_charge(
        &self,
        client_sc: &TonAddress,
        voucher_boc: &[u8],
    ) -> Result<VoucherSettlement, LedgerError> {
        self.mutate(|s| {
            let client = s.client(client_sc)?.clone();
            let proxy_key = s.proxy_key(&client.proxy_sc)?;
            let voucher =
                voucher::verify(voucher_boc, VoucherKind::ClientCharge, client_sc, &proxy_key)?;
            let prices = s.prices_of(client.params_version)?;
            let offered = voucher.terms.tokens;
            // Beyond the balance the contract takes it all and forgives the rest; no money
            // moves and no commission is booked (contracts.md §3.1.8).
            let (next, out, amount) = contracts::client::charge(&client, offered, &prices)
                .map_err(|e| exit_error(e, client_sc, Kind::Client))?;
            let tokens = offered - client.tokens_used;
            *s.client(client_sc)? = next;
            deliver(s, out);
            let forgiven = prices.client_charge(tokens) - amount;
            tracing::info!(client_sc = %key(client_sc), tokens, amount, forgiven, "devnet: client charged by voucher");
            Ok(VoucherSettlement { tokens, amount })
        })
    }

    fn client_grant_refund(
        &self,
        client_sc: &TonAddress,
        signed: &[u8],
    ) -> Result<VoucherSettlement, LedgerError> {
        self.mutate(|s| {
            let client = s.client(client_sc)?.clone();
            let proxy_key = s.proxy_key(&client.proxy_sc)?;
            let granted =
                voucher::verify(signed, VoucherKind::ClientGrantRefund, client_sc, &proxy_key)?;
            let prices = s.prices_of(client.params_version)?;
            let offered = granted.terms.tokens;
            let (next, out, amount) = contracts::client::grant_refund(&client, offered, &prices)
                .map_err(|e| exit_error(e, client_sc, Kind::Client))?;
            let tokens = offered - client.tokens_used;
            *s.client(client_sc)? = next;
            let refund = deliver(s, out);
            tracing::info!(client_sc = %key(client_sc), tokens, amount, refund, "devnet: client charged, refunded and closed by the proxy");
            Ok(VoucherSettlement { tokens, amount })
        })
    }

    fn client_request_refund(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
    ) -> Result<u64, LedgerError> {
        self.mutate(|s| {
            let client = s.client(client_sc)?.clone();
            let delay = s
                .params_of(client.params_version)?
                .client_delay_before_close;
            let now = s.clock;
            let (next, out) =
                contracts::client::request_refund(&client, &key(sender), now, u64::from(delay))
                    .map_err(|e| exit_error(e, client_sc, Kind::Client))?;
            // The unlock time it starts (first request) or waited for (second).
            let unlock_ts = next.unlock_ts;
            *s.client(client_sc)? = next;
            let refund = deliver(s, out);
            tracing::info!(client_sc = %key(client_sc), refund, "devnet: client refund requested");
            Ok(unlock_ts)
        })
    }

    fn client_withdraw(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
    ) -> Result<NanoTon, LedgerError> {
        self.mutate(|s| {
            let (next, out) = contracts::client::withdraw(s.client(client_sc)?, &key(sender))
                .map_err(|e| exit_error(e, client_sc, Kind::Client))?;
            *s.client(client_sc)? = next;
            let amount = deliver(s, out);
            tracing::info!(client_sc = %key(client_sc), amount, "devnet: client withdrew above its stake");
            Ok(amount)
        })
    }

    fn worker_deploy(
        &self,
        owner: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<TonAddress, LedgerError> {
        self.mutate(|s| {
            let proxy_key = s.proxy_key(&key(proxy_sc))?;
            let params_version = s.proxy(proxy_sc)?.params_version;
            let params = s.params_of(params_version)?;
            let sc = self.derive(params, ContractSpec::Worker { owner, proxy_sc }, &proxy_key)?;
            if s.workers.contains_key(&key(&sc)) {
                return Err(LedgerError::AlreadyExists(key(&sc)));
            }
            let state = contracts::worker::deployed(key(owner), key(proxy_sc), params_version);
            s.workers.insert(key(&sc), state);
            Ok(sc)
        })
    }

    fn worker_state(&self, worker_sc: &TonAddress) -> Result<WorkerContractState, LedgerError> {
        self.read(|s| {
            s.workers
                .get(&key(worker_sc))
                .cloned()
                .ok_or_else(|| LedgerError::UnknownContract(key(worker_sc)))
        })
    }

    fn worker_payout(
        &self,
        worker_sc: &TonAddress,
        voucher_boc: &[u8],
    ) -> Result<VoucherSettlement, LedgerError> {
        self.mutate(|s| worker_voucher(s, worker_sc, voucher_boc, false))
    }

    fn worker_last_payout(
        &self,
        worker_sc: &TonAddress,
        signed: &[u8],
    ) -> Result<VoucherSettlement, LedgerError> {
        self.mutate(|s| worker_voucher(s, worker_sc, signed, true))
    }
}

/// A worker payout (`last`: the last payout, which closes the worker): the worker counts
/// the tokens, then the proxy contract pays `worker_part` if it can. A proxy that cannot
/// (Closed: 1006, short of money: exit 5) pays nothing, and the voucher is used up
/// (contracts.md §3.2.1, §3.3.1). `amount` is what was paid.
fn worker_voucher(
    s: &mut DevnetState,
    worker_sc: &TonAddress,
    signed: &[u8],
    last: bool,
) -> Result<VoucherSettlement, LedgerError> {
    let worker = s
        .workers
        .get(&key(worker_sc))
        .ok_or_else(|| LedgerError::UnknownContract(key(worker_sc)))?
        .clone();
    // A Closed worker answers 1006 before reading the voucher.
    if worker.status == ContractStatus::Closed {
        return Err(LedgerError::WrongState("worker contract is closed"));
    }
    let kind = if last {
        VoucherKind::WorkerLastPayout
    } else {
        VoucherKind::WorkerPayout
    };
    let proxy_key = s.proxy_key(&worker.proxy_sc)?;
    let voucher = voucher::verify(signed, kind, worker_sc, &proxy_key)?;
    let prices = s.prices_of(worker.params_version)?;
    let offered = voucher.terms.tokens;
    let (next, out) = contracts::worker::payout(&worker, offered, last, &prices)
        .map_err(|e| exit_error(e, worker_sc, Kind::Worker))?;
    let tokens = offered - worker.tokens;
    let delivered = deliver_counted(s, out);
    let amount = delivered.paid;
    if let Some(w) = s.workers.get_mut(&key(worker_sc)) {
        *w = next;
        // Observed by the ledger: the proxy contract bounced the payout notice.
        w.payouts_bounced += delivered.refused;
    }
    let due = prices.worker_payout(tokens);
    if amount < due {
        tracing::warn!(worker_sc = %key(worker_sc), tokens, due, "devnet: the proxy contract could not pay the worker; the voucher is used up");
    } else {
        tracing::info!(worker_sc = %key(worker_sc), tokens, amount, last, "devnet: worker paid by voucher");
    }
    Ok(VoucherSettlement { tokens, amount })
}
