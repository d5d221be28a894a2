//! The write-side helpers of [`super::TonLedger`]: root parts, ownership and voucher checks
//! against the snapshot, building messages, and queueing them on the wallet sender.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cocoon_ledger::accounting::{NanoTon, Prices};
use cocoon_ledger::address::{
    client_data_cell, derive_contract_address, worker_data_cell, ContractSpec,
};
use cocoon_ledger::ledger::{ClientContractState, LedgerError};
use cocoon_ledger::root_config::{ContractCodes, RootParams};
use cocoon_ledger::voucher::{self, VoucherKind};
use ed25519_dalek::VerifyingKey;
use tonlib_core::TonAddress;

use super::snapshot::{MessageStatus, PendingMessage, Snapshot, WatchKind};
use super::Shared;
use crate::messages::{deploy_message, value, OutgoingMessage};
use crate::wallet::{MessageTicket, COINS_RESERVE};

pub(super) fn invalid(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Invalid(e.to_string())
}

pub(super) fn qid() -> u64 {
    rand::random()
}

pub(super) struct RootParts {
    pub params: RootParams,
    pub codes: ContractCodes,
    pub prices: Prices,
}

impl Shared {
    pub(super) fn own_wallet(&self, sender: &TonAddress) -> Result<(), LedgerError> {
        if sender != &self.wallet_address {
            return Err(LedgerError::Invalid(format!(
                "this TON ledger sends from wallet {}, not {}",
                self.wallet_address.to_hex(),
                sender.to_hex()
            )));
        }
        Ok(())
    }

    pub(super) fn root_parts(s: &Snapshot) -> Result<RootParts, LedgerError> {
        let root = s
            .root
            .current()
            .ok_or_else(|| LedgerError::Storage("root contract state not adopted yet".into()))?;
        let codes = root.codes.contract_codes().ok_or_else(|| {
            LedgerError::Invalid("the root contract publishes no contract codes".into())
        })?;
        let params = root.config.params.clone();
        let prices = params.prices().map_err(invalid)?;
        Ok(RootParts {
            params,
            codes,
            prices,
        })
    }

    pub(super) fn now_of(s: &Snapshot) -> u64 {
        s.block.map_or_else(
            || {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            },
            |b| b.utime,
        )
    }

    pub(super) fn proxy_key_of(
        s: &mut Snapshot,
        proxy_sc: &TonAddress,
    ) -> Result<VerifyingKey, LedgerError> {
        let proxy = s.proxy(proxy_sc)?;
        VerifyingKey::from_bytes(&proxy.public_key).map_err(invalid)
    }

    /// Queues `msg` on the wallet sender and records it.
    pub(super) fn submit(
        &self,
        s: &mut Snapshot,
        what: &'static str,
        msg: OutgoingMessage,
    ) -> Result<MessageTicket, LedgerError> {
        if let Some(wallet) = s.wallet {
            let needed = msg.value.saturating_add(COINS_RESERVE);
            if wallet.balance < needed {
                return Err(LedgerError::InsufficientFunds {
                    needed,
                    available: wallet.balance,
                });
            }
        }
        let dest = msg.dest.clone();
        let value = msg.value;
        let ticket = self
            .sender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .enqueue(msg);
        let submitted_at = Self::now_of(s);
        s.heat(&dest, tokio::time::Instant::now());
        s.messages.insert(
            ticket,
            PendingMessage {
                ticket,
                what,
                dest,
                value,
                submitted_at,
                status: MessageStatus::Queued,
            },
        );
        self.wake.notify_one();
        tracing::info!(
            what,
            ticket = ticket.0,
            value,
            "ton ledger: message submitted"
        );
        Ok(ticket)
    }

    pub(super) fn owned_client(
        &self,
        s: &mut Snapshot,
        sender: &TonAddress,
        client_sc: &TonAddress,
    ) -> Result<ClientContractState, LedgerError> {
        self.own_wallet(sender)?;
        let state = s.client(client_sc)?;
        if state.owner != sender.to_hex() {
            return Err(LedgerError::NotOwner(client_sc.to_hex()));
        }
        Ok(state)
    }

    pub(super) fn deploy_contract(
        &self,
        s: &mut Snapshot,
        kind: WatchKind,
        owner: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<TonAddress, LedgerError> {
        let proxy_key = Self::proxy_key_of(s, proxy_sc)?;
        let root = Self::root_parts(s)?;
        let (spec, code, data, what, value) = match kind {
            WatchKind::Client => (
                ContractSpec::Client { owner, proxy_sc },
                &root.codes.client,
                client_data_cell(owner, proxy_sc, &proxy_key, &root.params, &root.codes),
                "client_deploy",
                value::DEPLOY_CLIENT,
            ),
            _ => (
                ContractSpec::Worker { owner, proxy_sc },
                &root.codes.worker,
                worker_data_cell(owner, proxy_sc, &proxy_key, &root.params, &root.codes),
                "worker_deploy",
                value::DEPLOY_PROXY_OR_WORKER,
            ),
        };
        let address = derive_contract_address(spec, &proxy_key, &root.params, &root.codes)
            .map_err(invalid)?;
        if s.deployed(&address) {
            return Err(LedgerError::AlreadyExists(address.to_hex()));
        }
        let msg =
            deploy_message(code, &Arc::new(data.map_err(invalid)?), value).map_err(invalid)?;
        self.submit(s, what, msg)?;
        s.watch(&address, kind);
        Ok(address)
    }

    /// Checks a voucher for `target` against the snapshot; returns the tokens it settles
    /// beyond the `settled` ones (none is an error).
    pub(super) fn check_voucher(
        s: &mut Snapshot,
        kind: VoucherKind,
        target: &TonAddress,
        proxy_sc: &str,
        settled: u64,
        bytes: &[u8],
    ) -> Result<u64, LedgerError> {
        let offered = Self::voucher_total(s, kind, target, proxy_sc, bytes)?;
        if offered <= settled {
            return Err(LedgerError::VoucherNotHigher { offered, settled });
        }
        Ok(offered - settled)
    }

    /// The token total of a `kind` message for `target` (a voucher, a grant refund, a last
    /// payout), verified against the key of the proxy contract `proxy_sc` (hex form).
    pub(super) fn voucher_total(
        s: &mut Snapshot,
        kind: VoucherKind,
        target: &TonAddress,
        proxy_sc: &str,
        bytes: &[u8],
    ) -> Result<u64, LedgerError> {
        let proxy_sc = cocoon_ledger::address::parse_address(proxy_sc)
            .map_err(invalid)?
            .address;
        let key = Self::proxy_key_of(s, &proxy_sc)?;
        Ok(voucher::verify(bytes, kind, target, &key)?.terms.tokens)
    }

    pub(super) fn body(
        cell: Result<tonlib_core::cell::Cell, crate::cells::CellError>,
    ) -> Result<Option<tonlib_core::cell::ArcCell>, LedgerError> {
        Ok(Some(Arc::new(cell.map_err(invalid)?)))
    }

    pub(super) fn message(
        dest: &TonAddress,
        value: NanoTon,
        body: Result<tonlib_core::cell::Cell, crate::cells::CellError>,
    ) -> Result<OutgoingMessage, LedgerError> {
        Ok(OutgoingMessage {
            dest: dest.clone(),
            value,
            state_init: None,
            body: Self::body(body)?,
        })
    }
}
