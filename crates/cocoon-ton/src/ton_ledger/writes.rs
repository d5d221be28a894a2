//! The [`Ledger`] operations of [`TonLedger`]: reads from the snapshot; writes checked
//! against it, built as contract messages and queued on the wallet sender. A write returns
//! the effect the snapshot predicts (see the module doc of [`super`]).

use std::sync::Arc;

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::address::{derive_contract_address, proxy_data_cell, ContractSpec};
use cocoon_ledger::ledger::{
    ClientContractState, ContractContext, ContractStatus, Ledger, LedgerError, ProxyContractState,
    SavedState, VoucherSettlement, WorkerContractState,
};
use cocoon_ledger::root_config::RootConfig;
use cocoon_ledger::root_keys::SignedKeyRegistration;
use cocoon_ledger::voucher::VoucherKind;
use ed25519_dalek::VerifyingKey;
use tonlib_core::TonAddress;

use super::checks::{invalid, qid};
use super::snapshot::WatchKind;
use super::{Shared, TonLedger};
use crate::messages::{self, deploy_message, value, ProxyCloseStep};

impl Ledger for TonLedger {
    fn now(&self) -> u64 {
        Shared::now_of(&self.shared.lock())
    }

    fn network(&self) -> &'static str {
        if self.shared.is_test {
            "ton-testnet"
        } else {
            "ton"
        }
    }

    fn funding_hint(&self, wallet: &str, nanoton: NanoTon) -> String {
        format!(
            "on TON, send at least {nanoton} nanoTON to {wallet} (see `cocoon wallet address` for \
             the cocoon wallet and the amounts a node needs)"
        )
    }

    fn contract_context(&self) -> Result<ContractContext, LedgerError> {
        let sh = &self.shared;
        sh.read(|s| {
            let root = Shared::root_parts(s)?;
            Ok(ContractContext {
                root: sh.root_address.clone(),
                params: root.params,
                codes: root.codes,
            })
        })
    }

    fn root_config(&self) -> Result<RootConfig, LedgerError> {
        self.shared.read(|s| {
            s.root.current().map(|r| r.config.clone()).ok_or_else(|| {
                LedgerError::Storage(format!(
                    "root contract state not adopted{}",
                    s.root_error
                        .as_ref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ))
            })
        })
    }

    fn wallet_balance(&self, wallet: &TonAddress) -> Result<NanoTon, LedgerError> {
        let own = &self.shared.wallet_address;
        self.shared.read(|s| {
            if wallet == own {
                return s
                    .wallet
                    .map(|w| w.balance)
                    .ok_or_else(|| super::snapshot::not_synced(wallet));
            }
            Ok(s.synced(wallet, WatchKind::Plain)?.balance)
        })
    }

    /// A `root_add_public_key_signed` message from our wallet to the root with 0.4 TON (the
    /// reference's value; the excess returns to the wallet). Submitted, not confirmed: the
    /// key shows up in [`RootConfig::registered_public_keys`] once the root processed it.
    /// The April root's code for this op is not public: what it checks is inferred (§8.5).
    fn root_add_public_key(
        &self,
        sender: &TonAddress,
        signed: &SignedKeyRegistration,
    ) -> Result<(), LedgerError> {
        let sh = &self.shared;
        sh.read(|s| {
            sh.own_wallet(sender)?;
            let body = messages::root_add_public_key_body(signed, &sh.wallet_address);
            let msg = Shared::message(&sh.root_address, value::ROOT_ADD_PUBLIC_KEY, body)?;
            sh.submit(s, "root_add_public_key_signed", msg)?;
            Ok(())
        })
    }

    fn proxy_deploy(
        &self,
        owner: &TonAddress,
        proxy_key: &VerifyingKey,
        stake: NanoTon,
    ) -> Result<TonAddress, LedgerError> {
        let sh = &self.shared;
        sh.read(|s| {
            let root = Shared::root_parts(s)?;
            if stake < root.params.min_proxy_stake {
                return Err(LedgerError::Invalid(format!(
                    "proxy stake {stake} below minimum {}",
                    root.params.min_proxy_stake
                )));
            }
            let spec = ContractSpec::Proxy {
                owner,
                root: &sh.root_address,
            };
            let address = derive_contract_address(spec, proxy_key, &root.params, &root.codes)
                .map_err(invalid)?;
            if s.deployed(&address) {
                return Err(LedgerError::AlreadyExists(address.to_hex()));
            }
            let data = proxy_data_cell(
                owner,
                proxy_key,
                &sh.root_address,
                &root.params,
                &root.codes,
            )
            .map_err(invalid)?;
            let msg = deploy_message(
                &root.codes.proxy,
                &Arc::new(data),
                value::DEPLOY_PROXY_OR_WORKER,
            )
            .map_err(invalid)?;
            let needed = msg
                .value
                .saturating_add(stake)
                .saturating_add(value::PROXY_INCREASE_STAKE_GAS);
            if let Some(wallet) = s.wallet.filter(|w| w.balance < needed) {
                return Err(LedgerError::InsufficientFunds {
                    needed,
                    available: wallet.balance,
                });
            }
            sh.submit(s, "proxy_deploy", msg)?;
            // A deploy leaves the contract's stake at 0: only `ext_proxy_increase_stake`
            // raises it, and a forced client refund is capped by it (contracts.md §3.3.4).
            let body = messages::proxy_increase_stake_body(qid(), stake, &sh.wallet_address);
            let stake_value = stake.saturating_add(value::PROXY_INCREASE_STAKE_GAS);
            let msg = Shared::message(&address, stake_value, body)?;
            sh.submit(s, "proxy_increase_stake", msg)?;
            s.watch(&address, WatchKind::Proxy);
            Ok(address)
        })
    }

    fn proxy_state(&self, proxy_sc: &TonAddress) -> Result<ProxyContractState, LedgerError> {
        self.shared.read(|s| s.proxy(proxy_sc))
    }

    fn proxy_increase_stake(
        &self,
        _sender: &TonAddress,
        proxy_sc: &TonAddress,
        amount: NanoTon,
    ) -> Result<(), LedgerError> {
        let sh = &self.shared;
        sh.read(|s| {
            let value = amount.saturating_add(value::PROXY_INCREASE_STAKE_GAS);
            if let Some(wallet) = s.wallet.filter(|w| w.balance < value) {
                return Err(LedgerError::InsufficientFunds {
                    needed: value,
                    available: wallet.balance,
                });
            }
            let body = messages::proxy_increase_stake_body(qid(), amount, &sh.wallet_address);
            let msg = Shared::message(proxy_sc, value, body)?;
            sh.submit(s, "proxy_increase_stake", msg)?;
            Ok(())
        })
    }

    fn proxy_save_state(
        &self,
        sender: &TonAddress,
        proxy_sc: &TonAddress,
        saved: SavedState,
    ) -> Result<(), LedgerError> {
        let sh = &self.shared;
        sh.read(|s| {
            sh.own_wallet(sender)?;
            let state = s.proxy(proxy_sc)?;
            if state.status == ContractStatus::Closed {
                return Err(LedgerError::WrongState("proxy contract is closed"));
            }
            let seqno = i32::try_from(saved.seqno)
                .map_err(|_| invalid(format!("save_state seqno {} exceeds i32", saved.seqno)))?;
            let last_seen = state.saved_states.last().map(|l| l.seqno);
            let last_sent = s.synced(proxy_sc, WatchKind::Proxy)?.save_submitted;
            if let Some(last) = last_seen.max(last_sent).filter(|l| *l >= saved.seqno) {
                return Err(invalid(format!(
                    "save_state seqno {} does not increase (last {last})",
                    saved.seqno
                )));
            }
            let body = messages::proxy_save_state_body(qid(), seqno, &saved.session_hash);
            let msg = Shared::message(proxy_sc, value::PROXY_SAVE_STATE, body)?;
            sh.submit(s, "proxy_save_state", msg)?;
            s.synced(proxy_sc, WatchKind::Proxy)?.save_submitted = Some(saved.seqno);
            Ok(())
        })
    }

    fn proxy_payout(
        &self,
        sender: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<NanoTon, LedgerError> {
        let sh = &self.shared;
        sh.read(|s| {
            sh.own_wallet(sender)?;
            let state = s.proxy(proxy_sc)?;
            let body = messages::proxy_payout_request_body(qid(), &sh.wallet_address);
            let msg = Shared::message(proxy_sc, value::PROXY_PAYOUT_REQUEST, body)?;
            sh.submit(s, "proxy_payout", msg)?;
            Ok(state.commission)
        })
    }

    fn proxy_request_close(
        &self,
        sender: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<u64, LedgerError> {
        let sh = &self.shared;
        sh.read(|s| {
            sh.own_wallet(sender)?;
            let key = sh.proxy_signing_key.as_ref().ok_or_else(|| {
                invalid("closing a proxy contract needs the proxy's signing key (not configured)")
            })?;
            let state = s.proxy(proxy_sc)?;
            if state.status != ContractStatus::Active {
                return Err(LedgerError::WrongState("proxy contract is not active"));
            }
            let delay = Shared::root_parts(s)?.params.proxy_delay_before_close;
            let body = messages::proxy_close_body(
                key,
                ProxyCloseStep::Request,
                qid(),
                proxy_sc,
                &sh.wallet_address,
            );
            let msg = Shared::message(proxy_sc, value::REGISTER_AND_CLOSE_FLOW, body)?;
            sh.submit(s, "proxy_request_close", msg)?;
            Ok(Shared::now_of(s).saturating_add(u64::from(delay)))
        })
    }

    fn proxy_complete_close(
        &self,
        sender: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<NanoTon, LedgerError> {
        let sh = &self.shared;
        sh.read(|s| {
            sh.own_wallet(sender)?;
            let key = sh.proxy_signing_key.as_ref().ok_or_else(|| {
                invalid("closing a proxy contract needs the proxy's signing key (not configured)")
            })?;
            let state = s.proxy(proxy_sc)?;
            if state.status != ContractStatus::Closing {
                return Err(LedgerError::WrongState("proxy contract is not closing"));
            }
            let now = Shared::now_of(s);
            if now < state.unlock_ts {
                return Err(LedgerError::Locked {
                    unlock_ts: state.unlock_ts,
                    now,
                });
            }
            let body = messages::proxy_close_body(
                key,
                ProxyCloseStep::Complete,
                qid(),
                proxy_sc,
                &sh.wallet_address,
            );
            let msg = Shared::message(proxy_sc, value::REGISTER_AND_CLOSE_FLOW, body)?;
            sh.submit(s, "proxy_complete_close", msg)?;
            Ok(state.funds.max(state.stake + state.commission))
        })
    }

    fn client_deploy(
        &self,
        owner: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<TonAddress, LedgerError> {
        let sh = &self.shared;
        sh.read(|s| sh.deploy_contract(s, WatchKind::Client, owner, proxy_sc))
    }

    fn client_state(&self, client_sc: &TonAddress) -> Result<ClientContractState, LedgerError> {
        self.shared.read(|s| s.client(client_sc))
    }

    fn client_top_up(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
        amount: NanoTon,
    ) -> Result<(), LedgerError> {
        let sh = &self.shared;
        sh.read(|s| {
            let state = sh.owned_client(s, sender, client_sc)?;
            if state.status != ContractStatus::Active {
                return Err(LedgerError::WrongState("client contract is not active"));
            }
            let body = messages::client_top_up_body(qid(), amount, &sh.wallet_address);
            let msg = Shared::message(client_sc, value::STANDARD.saturating_add(amount), body)?;
            sh.submit(s, "client_top_up", msg).map(|_| ())
        })
    }

    fn client_increase_stake(
        &self,
        _sender: &TonAddress,
        _client_sc: &TonAddress,
        _amount: NanoTon,
    ) -> Result<(), LedgerError> {
        Err(invalid(
            "owner_client_increase_stake is not sent by the reference runners and its body \
             layout is not published; on TON a client contract starts with min_client_stake \
             in its init data",
        ))
    }

    fn client_change_secret_hash(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
        hash: [u8; 32],
    ) -> Result<(), LedgerError> {
        let sh = &self.shared;
        sh.read(|s| {
            sh.owned_client(s, sender, client_sc)?;
            let body = messages::client_change_secret_hash_body(qid(), &hash, &sh.wallet_address);
            let msg = Shared::message(client_sc, value::STANDARD, body)?;
            sh.submit(s, "client_change_secret_hash", msg).map(|_| ())
        })
    }

    fn client_register(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
        nonce: u64,
    ) -> Result<(), LedgerError> {
        let sh = &self.shared;
        sh.read(|s| {
            let state = sh.owned_client(s, sender, client_sc)?;
            if state.status == ContractStatus::Closed {
                return Err(LedgerError::WrongState("client contract is closed"));
            }
            let body = messages::client_register_body(qid(), nonce, &sh.wallet_address);
            let msg = Shared::message(client_sc, value::REGISTER_AND_CLOSE_FLOW, body)?;
            sh.submit(s, "client_register", msg).map(|_| ())
        })
    }

    fn client_charge(
        &self,
        client_sc: &TonAddress,
        voucher_boc: &[u8],
    ) -> Result<VoucherSettlement, LedgerError> {
        let sh = &self.shared;
        sh.read(|s| {
            let state = s.client(client_sc)?;
            if state.status == ContractStatus::Closed {
                return Err(LedgerError::WrongState("client contract is closed"));
            }
            let tokens = Shared::check_voucher(
                s,
                VoucherKind::ClientCharge,
                client_sc,
                &state.proxy_sc,
                state.tokens_used,
                voucher_boc,
            )?;
            // The contract clamps a charge beyond the balance to it and forgives the rest
            // (contracts.md §3.1.8): what moves is at most what the client has in.
            let cost = Shared::root_parts(s)?.prices.client_charge(tokens);
            let amount = cost.min(state.balance);
            let body = messages::repacked_voucher_body(
                voucher_boc,
                VoucherKind::ClientCharge,
                &sh.wallet_address,
            );
            let msg = Shared::message(client_sc, value::STANDARD, body)?;
            sh.submit(s, "client_charge", msg)?;
            Ok(VoucherSettlement { tokens, amount })
        })
    }

    fn client_grant_refund(
        &self,
        client_sc: &TonAddress,
        signed: &[u8],
    ) -> Result<VoucherSettlement, LedgerError> {
        self.shared.client_grant_refund(client_sc, signed)
    }

    fn client_request_refund(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
    ) -> Result<u64, LedgerError> {
        let sh = &self.shared;
        sh.read(|s| {
            let state = sh.owned_client(s, sender, client_sc)?;
            let now = Shared::now_of(s);
            // Active: the contract starts closing. Closing: a second request strictly after
            // the unlock time closes it with a forced refund (contracts.md §3.1.7; withdraw
            // is refused there with exit 1006).
            let unlock_ts = match state.status {
                ContractStatus::Active => {
                    let delay = Shared::root_parts(s)?.params.client_delay_before_close;
                    now.saturating_add(u64::from(delay))
                }
                ContractStatus::Closing if now > state.unlock_ts => state.unlock_ts,
                ContractStatus::Closing => {
                    return Err(LedgerError::Locked {
                        unlock_ts: state.unlock_ts,
                        now,
                    })
                }
                ContractStatus::Closed => {
                    return Err(LedgerError::WrongState("client contract is closed"))
                }
            };
            let body = messages::client_request_refund_body(qid(), &sh.wallet_address);
            let msg = Shared::message(client_sc, value::STANDARD, body)?;
            sh.submit(s, "client_request_refund", msg)?;
            Ok(unlock_ts)
        })
    }

    fn client_withdraw(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
    ) -> Result<NanoTon, LedgerError> {
        let sh = &self.shared;
        sh.read(|s| {
            let state = sh.owned_client(s, sender, client_sc)?;
            // The contract accepts withdraw only while Active (exit 1006 otherwise) and only
            // with a balance above the stake, which stays inside it (exit 1001).
            if state.status != ContractStatus::Active {
                return Err(LedgerError::WrongState("client contract is not active"));
            }
            if state.balance <= state.stake {
                return Err(LedgerError::InsufficientFunds {
                    needed: state.stake + 1,
                    available: state.balance,
                });
            }
            let body = messages::client_withdraw_body(qid(), &sh.wallet_address);
            let msg = Shared::message(client_sc, value::STANDARD, body)?;
            sh.submit(s, "client_withdraw", msg)?;
            Ok(state.balance - state.stake)
        })
    }

    fn worker_deploy(
        &self,
        owner: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<TonAddress, LedgerError> {
        let sh = &self.shared;
        sh.read(|s| sh.deploy_contract(s, WatchKind::Worker, owner, proxy_sc))
    }

    fn worker_state(&self, worker_sc: &TonAddress) -> Result<WorkerContractState, LedgerError> {
        self.shared.read(|s| s.worker(worker_sc))
    }

    fn worker_payout(
        &self,
        worker_sc: &TonAddress,
        voucher_boc: &[u8],
    ) -> Result<VoucherSettlement, LedgerError> {
        let sh = &self.shared;
        sh.read(|s| {
            let state = s.worker(worker_sc)?;
            if state.status == ContractStatus::Closed {
                return Err(LedgerError::WrongState("worker contract is closed"));
            }
            let tokens = Shared::check_voucher(
                s,
                VoucherKind::WorkerPayout,
                worker_sc,
                &state.proxy_sc,
                state.tokens,
                voucher_boc,
            )?;
            let amount = Shared::root_parts(s)?.prices.worker_payout(tokens);
            // The worker submits a received voucher with 0.5 TON, the proxy with 0.7 TON.
            let value = if state.owner == sh.wallet_address.to_hex()
                || state.owner == sh.wallet_owner.to_hex()
            {
                value::WORKER_SUBMITS_VOUCHER
            } else {
                value::STANDARD
            };
            let body = messages::repacked_voucher_body(
                voucher_boc,
                VoucherKind::WorkerPayout,
                &sh.wallet_address,
            );
            let msg = Shared::message(worker_sc, value, body)?;
            sh.submit(s, "worker_payout", msg)?;
            Ok(VoucherSettlement { tokens, amount })
        })
    }

    fn worker_last_payout(
        &self,
        worker_sc: &TonAddress,
        signed: &[u8],
    ) -> Result<VoucherSettlement, LedgerError> {
        self.shared.worker_last_payout(worker_sc, signed)
    }
}
