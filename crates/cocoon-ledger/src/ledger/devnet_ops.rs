//! The [`Ledger`] operations of the devnet simulation (each one validates first, then
//! mutates a copy of the state that is persisted before it becomes visible).

use ed25519_dalek::VerifyingKey;
use tonlib_core::TonAddress;

use super::{
    book_charge, clamped_charge, close, debit, key, pay_worker, DevnetLedger,
    DEVNET_SAVED_STATES_KEPT,
};
use crate::accounting::NanoTon;
use crate::address::ContractSpec;
use crate::ledger::{
    ClientContractState, ClientRegistration, ContractContext, ContractStatus, Ledger, LedgerError,
    ProxyContractState, SavedState, VoucherSettlement, WorkerContractState, REGISTRATIONS_KEPT,
};
use crate::root_config::RootConfig;
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
        sender: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<NanoTon, LedgerError> {
        self.mutate(|s| {
            let proxy = s.owned_proxy(sender, proxy_sc)?;
            let amount = std::mem::take(&mut proxy.commission);
            *s.wallet(sender) += amount;
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
            let unlock_ts = s.clock.saturating_add(u64::from(delay));
            let proxy = s.owned_proxy(sender, proxy_sc)?;
            if proxy.status != ContractStatus::Active {
                return Err(LedgerError::WrongState("proxy contract is not active"));
            }
            proxy.status = ContractStatus::Closing;
            proxy.unlock_ts = unlock_ts;
            Ok(unlock_ts)
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
            if proxy.status != ContractStatus::Closing {
                return Err(LedgerError::WrongState("proxy contract is not closing"));
            }
            if now < proxy.unlock_ts {
                return Err(LedgerError::Locked {
                    unlock_ts: proxy.unlock_ts,
                    now,
                });
            }
            let amount = std::mem::take(&mut proxy.stake)
                + std::mem::take(&mut proxy.commission)
                + std::mem::take(&mut proxy.worker_pool);
            proxy.status = ContractStatus::Closed;
            *s.wallet(sender) += amount;
            tracing::info!(proxy_sc = %key(proxy_sc), amount, "devnet: proxy contract closed");
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
            let sc = self.derive(params, ContractSpec::Client { owner, proxy_sc }, &proxy_key)?;
            if s.clients.contains_key(&key(&sc)) {
                return Err(LedgerError::AlreadyExists(key(&sc)));
            }
            let state = ClientContractState {
                owner: key(owner),
                proxy_sc: key(proxy_sc),
                status: ContractStatus::Active,
                balance: 0,
                stake: 0,
                tokens_used: 0,
                unlock_ts: 0,
                secret_hash: [0; 32],
                params_version,
            };
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
        self.mutate(|s| {
            debit(s.wallet(sender), amount)?;
            let client = s.owned_client(sender, client_sc)?;
            if client.status != ContractStatus::Active {
                return Err(LedgerError::WrongState("client contract is not active"));
            }
            client.balance += amount;
            Ok(())
        })
    }

    fn client_increase_stake(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
        amount: NanoTon,
    ) -> Result<(), LedgerError> {
        self.mutate(|s| {
            debit(s.wallet(sender), amount)?;
            let client = s.owned_client(sender, client_sc)?;
            if client.status != ContractStatus::Active {
                return Err(LedgerError::WrongState("client contract is not active"));
            }
            client.stake += amount;
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
            s.owned_client(sender, client_sc)?.secret_hash = hash;
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
            let client = s.owned_client(sender, client_sc)?;
            if client.status == ContractStatus::Closed {
                return Err(LedgerError::WrongState("client contract is closed"));
            }
            let proxy_sc = client.proxy_sc.clone();
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
            let client = s.clients.get(&key(client_sc)).ok_or_else(|| LedgerError::UnknownContract(key(client_sc)))?.clone();
            let prices = s.prices_of(client.params_version)?;
            if client.status == ContractStatus::Closed {
                return Err(LedgerError::WrongState("client contract is closed"));
            }
            let proxy_key = s.proxy_key(&client.proxy_sc)?;
            let voucher = voucher::verify(voucher_boc, VoucherKind::ClientCharge, client_sc, &proxy_key)?;
            let offered = voucher.terms.tokens;
            if offered <= client.tokens_used {
                return Err(LedgerError::VoucherNotHigher { offered, settled: client.tokens_used });
            }
            let tokens = offered - client.tokens_used;
            // The contract never refuses a charge beyond the balance: it takes everything
            // and forgives the rest (contracts.md §3.1.8).
            let (balance, stake, amount) = clamped_charge(&client, prices.client_charge(tokens));
            let proxy = s.proxies.get_mut(&client.proxy_sc).ok_or_else(|| LedgerError::UnknownContract(client.proxy_sc.clone()))?;
            if proxy.status == ContractStatus::Closed {
                // Its worker pool could never be paid out again.
                return Err(LedgerError::WrongState("proxy contract is closed"));
            }
            book_charge(proxy, prices.worker_payout(tokens), amount);
            if let Some(c) = s.clients.get_mut(&key(client_sc)) {
                c.balance = balance;
                c.stake = stake;
                c.tokens_used = offered;
            }
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
        self.mutate(|s| close::grant_refund(s, client_sc, signed))
    }

    fn client_request_refund(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
    ) -> Result<u64, LedgerError> {
        self.mutate(|s| {
            let version = s
                .clients
                .get(&key(client_sc))
                .ok_or_else(|| LedgerError::UnknownContract(key(client_sc)))?
                .params_version;
            let delay = s.params_of(version)?.client_delay_before_close;
            let now = s.clock;
            let client = s.owned_client(sender, client_sc)?;
            match client.status {
                // The first request starts the close, and the money above the stake comes
                // back at once (contracts.md §3.1.7: REFUND(G) when balance > stake).
                ContractStatus::Active => {
                    client.status = ContractStatus::Closing;
                    client.unlock_ts = now.saturating_add(u64::from(delay));
                    let unlock_ts = client.unlock_ts;
                    let refund = std::mem::take(&mut client.balance);
                    if refund > 0 {
                        *s.wallet(sender) += refund;
                        tracing::info!(client_sc = %key(client_sc), refund, "devnet: client closing, money above the stake refunded");
                    }
                    Ok(unlock_ts)
                }
                // The second request, strictly after the unlock time, closes the contract
                // and returns what is left (contracts.md §3.1.7).
                ContractStatus::Closing => {
                    if now <= client.unlock_ts {
                        return Err(LedgerError::Locked {
                            unlock_ts: client.unlock_ts,
                            now,
                        });
                    }
                    let unlock_ts = client.unlock_ts;
                    let amount =
                        std::mem::take(&mut client.balance) + std::mem::take(&mut client.stake);
                    client.status = ContractStatus::Closed;
                    *s.wallet(sender) += amount;
                    tracing::info!(client_sc = %key(client_sc), amount, "devnet: client refunded and closed");
                    Ok(unlock_ts)
                }
                ContractStatus::Closed => Err(LedgerError::WrongState("client contract is closed")),
            }
        })
    }

    fn client_withdraw(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
    ) -> Result<NanoTon, LedgerError> {
        self.mutate(|s| {
            let client = s.owned_client(sender, client_sc)?;
            // Only while Active, and only the money above the stake (contracts.md §3.1.6).
            if client.status != ContractStatus::Active {
                return Err(LedgerError::WrongState("client contract is not active"));
            }
            if client.balance == 0 {
                return Err(LedgerError::InsufficientFunds {
                    needed: 1,
                    available: 0,
                });
            }
            let amount = std::mem::take(&mut client.balance);
            *s.wallet(sender) += amount;
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
            let state = WorkerContractState {
                owner: key(owner),
                proxy_sc: key(proxy_sc),
                status: ContractStatus::Active,
                tokens: 0,
                params_version,
                payouts_bounced: 0,
            };
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
        self.mutate(|s| {
            let worker = s.workers.get(&key(worker_sc)).ok_or_else(|| LedgerError::UnknownContract(key(worker_sc)))?.clone();
            if worker.status == ContractStatus::Closed {
                return Err(LedgerError::WrongState("worker contract is closed"));
            }
            let prices = s.prices_of(worker.params_version)?;
            let proxy_key = s.proxy_key(&worker.proxy_sc)?;
            let voucher = voucher::verify(voucher_boc, VoucherKind::WorkerPayout, worker_sc, &proxy_key)?;
            let offered = voucher.terms.tokens;
            if offered <= worker.tokens {
                return Err(LedgerError::VoucherNotHigher { offered, settled: worker.tokens });
            }
            let tokens = offered - worker.tokens;
            let due = prices.worker_payout(tokens);
            let proxy = s.proxies.get_mut(&worker.proxy_sc).ok_or_else(|| LedgerError::UnknownContract(worker.proxy_sc.clone()))?;
            let amount = pay_worker(proxy, due);
            if let Some(w) = s.workers.get_mut(&key(worker_sc)) {
                w.tokens = offered;
                if amount < due {
                    w.payouts_bounced += 1;
                }
            }
            let owner = worker.owner.clone();
            *s.wallets.entry(owner).or_insert(0) += amount;
            if amount < due {
                tracing::warn!(worker_sc = %key(worker_sc), tokens, due, "devnet: the proxy contract could not pay the worker; the voucher is used up");
            } else {
                tracing::info!(worker_sc = %key(worker_sc), tokens, amount, "devnet: worker paid by voucher");
            }
            Ok(VoucherSettlement { tokens, amount })
        })
    }

    fn worker_last_payout(
        &self,
        worker_sc: &TonAddress,
        signed: &[u8],
    ) -> Result<VoucherSettlement, LedgerError> {
        self.mutate(|s| close::last_payout(s, worker_sc, signed))
    }
}
