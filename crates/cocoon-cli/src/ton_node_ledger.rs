//! [`NodeTonLedger`]: the [`TonLedger`] as the node roles use a [`Ledger`].
//!
//! The node money loops were written against the devnet, where every operation takes
//! effect at once and the node's wallet *is* its config's `owner_address`. On TON a write is
//! a message submitted through the node's **cocoon wallet** and confirmed when a later
//! refresh round observes it. This adapter bridges the two:
//!
//! * **Wallet.** A write whose sender is the config's `owner_address` is sent from the
//!   cocoon wallet (the only wallet the node can sign for), and the owner's wallet balance
//!   reads as the cocoon wallet's. A client contract deployed for `owner_address` is
//!   deployed for the cocoon wallet (the client contract's owner is the cocoon wallet, §6.9);
//!   proxy and worker contracts keep `owner_address` as their owner, as in the reference.
//! * **Blocking until seen.** A read that fails because the contract was not synced yet
//!   runs refresh rounds until it is (at most `sync_timeout`). A write waits until the
//!   wallet transaction carrying its message was observed and one more round read the
//!   contract (at most `confirm_timeout`; after that it returns, the message still queued,
//!   and a warning is logged). The node loops call the ledger on blocking threads; the
//!   refresh rounds run on the TON backend's own runtime, so waiting here never stalls them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::ledger::{
    ClientContractState, ContractContext, Ledger, LedgerError, ProxyContractState, SavedState,
    VoucherSettlement, WorkerContractState,
};
use cocoon_ledger::root_config::RootConfig;
use cocoon_ledger::root_keys::SignedKeyRegistration;
use cocoon_ton::ton_ledger::{MessageStatus, TonLedger};
use ed25519_dalek::VerifyingKey;
use tokio::runtime::Handle;
use tonlib_core::TonAddress;

/// How long the adapter waits (see the module doc).
#[derive(Clone, Copy, Debug)]
pub struct Waits {
    /// A read of a contract not synced yet.
    pub sync_timeout: Duration,
    /// A write until its message is confirmed.
    pub confirm_timeout: Duration,
    /// Pause between the refresh rounds run while waiting.
    pub poll: Duration,
}

/// The adapter (see the module doc).
pub struct NodeTonLedger {
    inner: Arc<TonLedger>,
    runtime: Handle,
    owner: TonAddress,
    wallet: TonAddress,
    waits: Waits,
}

fn not_synced(result: &Result<impl Sized, LedgerError>) -> bool {
    matches!(result, Err(LedgerError::Storage(e)) if e.contains("not synced"))
}

impl NodeTonLedger {
    /// Wraps `inner`, whose refresh rounds run on `runtime`; `owner` is the node config's
    /// `owner_address`.
    pub fn new(inner: Arc<TonLedger>, runtime: Handle, owner: TonAddress, waits: Waits) -> Self {
        let wallet = inner.wallet_address().clone();
        NodeTonLedger {
            inner,
            runtime,
            owner,
            wallet,
            waits,
        }
    }

    /// The owner address as the cocoon wallet.
    fn sender<'a>(&'a self, sender: &'a TonAddress) -> &'a TonAddress {
        if *sender == self.owner {
            &self.wallet
        } else {
            sender
        }
    }

    /// One refresh round on the backend's runtime, waited for from this thread.
    fn round(&self) {
        let (tx, rx) = std::sync::mpsc::channel();
        let ledger = Arc::clone(&self.inner);
        self.runtime.spawn(async move {
            let _ = tx.send(ledger.refresh_now().await);
        });
        match rx.recv_timeout(self.waits.sync_timeout.max(Duration::from_secs(1))) {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "ton ledger: refresh round failed"),
            Err(_) => tracing::debug!("ton ledger: refresh round did not finish in time"),
        }
        std::thread::sleep(self.waits.poll);
    }

    fn read<T>(&self, op: impl Fn(&TonLedger) -> Result<T, LedgerError>) -> Result<T, LedgerError> {
        let deadline = Instant::now() + self.waits.sync_timeout;
        loop {
            let result = op(&self.inner);
            if !not_synced(&result) || Instant::now() >= deadline {
                return result;
            }
            self.round();
        }
    }

    fn tickets(&self) -> BTreeSet<cocoon_ton::wallet::MessageTicket> {
        self.inner
            .message_history()
            .into_iter()
            .map(|m| m.ticket)
            .collect()
    }

    fn write<T>(
        &self,
        what: &str,
        op: impl Fn(&TonLedger) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let before = self.tickets();
        let out = self.read(op)?;
        let submitted: Vec<_> = self.tickets().difference(&before).copied().collect();
        let deadline = Instant::now() + self.waits.confirm_timeout;
        loop {
            let confirmed = submitted.iter().all(|t| {
                matches!(
                    self.inner.message_status(*t),
                    Some(MessageStatus::Confirmed { .. }) | None
                )
            });
            if confirmed {
                // One more round reads the destination contract after the wallet's.
                self.round();
                return Ok(out);
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    what,
                    waited = ?self.waits.confirm_timeout,
                    "TON message not confirmed yet; it stays queued and is resent until it lands"
                );
                return Ok(out);
            }
            self.round();
        }
    }
}

impl Ledger for NodeTonLedger {
    fn now(&self) -> u64 {
        self.inner.now()
    }

    fn root_config(&self) -> Result<RootConfig, LedgerError> {
        self.read(|l| l.root_config())
    }

    fn network(&self) -> &'static str {
        self.inner.network()
    }

    fn funding_hint(&self, wallet: &str, nanoton: NanoTon) -> String {
        self.inner.funding_hint(wallet, nanoton)
    }

    fn contract_context(&self) -> Result<ContractContext, LedgerError> {
        self.read(|l| l.contract_context())
    }

    fn wallet_balance(&self, wallet: &TonAddress) -> Result<NanoTon, LedgerError> {
        let wallet = self.sender(wallet);
        self.read(|l| l.wallet_balance(wallet))
    }

    fn root_add_public_key(
        &self,
        sender: &TonAddress,
        signed: &SignedKeyRegistration,
    ) -> Result<(), LedgerError> {
        let sender = self.sender(sender);
        self.write("root_add_public_key_signed", |l| {
            l.root_add_public_key(sender, signed)
        })
    }

    fn proxy_deploy(
        &self,
        owner: &TonAddress,
        proxy_key: &VerifyingKey,
        stake: NanoTon,
    ) -> Result<TonAddress, LedgerError> {
        self.write("proxy_deploy", |l| l.proxy_deploy(owner, proxy_key, stake))
    }

    fn proxy_state(&self, proxy_sc: &TonAddress) -> Result<ProxyContractState, LedgerError> {
        self.read(|l| l.proxy_state(proxy_sc))
    }

    fn proxy_save_state(
        &self,
        sender: &TonAddress,
        proxy_sc: &TonAddress,
        saved: SavedState,
    ) -> Result<(), LedgerError> {
        let sender = self.sender(sender);
        self.write("proxy_save_state", |l| {
            l.proxy_save_state(sender, proxy_sc, saved)
        })
    }

    fn proxy_payout(
        &self,
        sender: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<NanoTon, LedgerError> {
        let sender = self.sender(sender);
        self.write("proxy_payout", |l| l.proxy_payout(sender, proxy_sc))
    }

    fn proxy_request_close(
        &self,
        sender: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<u64, LedgerError> {
        let sender = self.sender(sender);
        self.write("proxy_request_close", |l| {
            l.proxy_request_close(sender, proxy_sc)
        })
    }

    fn proxy_complete_close(
        &self,
        sender: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<NanoTon, LedgerError> {
        let sender = self.sender(sender);
        self.write("proxy_complete_close", |l| {
            l.proxy_complete_close(sender, proxy_sc)
        })
    }

    fn client_deploy(
        &self,
        owner: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<TonAddress, LedgerError> {
        let owner = self.sender(owner);
        self.write("client_deploy", |l| l.client_deploy(owner, proxy_sc))
    }

    fn client_state(&self, client_sc: &TonAddress) -> Result<ClientContractState, LedgerError> {
        self.read(|l| l.client_state(client_sc))
    }

    fn client_top_up(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
        amount: NanoTon,
    ) -> Result<(), LedgerError> {
        let sender = self.sender(sender);
        self.write("client_top_up", |l| {
            l.client_top_up(sender, client_sc, amount)
        })
    }

    fn client_increase_stake(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
        amount: NanoTon,
    ) -> Result<(), LedgerError> {
        let sender = self.sender(sender);
        self.write("client_increase_stake", |l| {
            l.client_increase_stake(sender, client_sc, amount)
        })
    }

    fn client_change_secret_hash(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
        hash: [u8; 32],
    ) -> Result<(), LedgerError> {
        let sender = self.sender(sender);
        self.write("client_change_secret_hash", |l| {
            l.client_change_secret_hash(sender, client_sc, hash)
        })
    }

    fn client_register(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
        nonce: u64,
    ) -> Result<(), LedgerError> {
        let sender = self.sender(sender);
        self.write("client_register", |l| {
            l.client_register(sender, client_sc, nonce)
        })
    }

    fn client_charge(
        &self,
        client_sc: &TonAddress,
        voucher: &[u8],
    ) -> Result<VoucherSettlement, LedgerError> {
        self.write("client_charge", |l| l.client_charge(client_sc, voucher))
    }

    fn client_grant_refund(
        &self,
        client_sc: &TonAddress,
        signed: &[u8],
    ) -> Result<VoucherSettlement, LedgerError> {
        self.write("client_grant_refund", |l| {
            l.client_grant_refund(client_sc, signed)
        })
    }

    fn client_request_refund(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
    ) -> Result<u64, LedgerError> {
        let sender = self.sender(sender);
        self.write("client_request_refund", |l| {
            l.client_request_refund(sender, client_sc)
        })
    }

    fn client_withdraw(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
    ) -> Result<NanoTon, LedgerError> {
        let sender = self.sender(sender);
        self.write("client_withdraw", |l| l.client_withdraw(sender, client_sc))
    }

    fn worker_deploy(
        &self,
        owner: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<TonAddress, LedgerError> {
        self.write("worker_deploy", |l| l.worker_deploy(owner, proxy_sc))
    }

    fn worker_state(&self, worker_sc: &TonAddress) -> Result<WorkerContractState, LedgerError> {
        self.read(|l| l.worker_state(worker_sc))
    }

    fn worker_payout(
        &self,
        worker_sc: &TonAddress,
        voucher: &[u8],
    ) -> Result<VoucherSettlement, LedgerError> {
        self.write("worker_payout", |l| l.worker_payout(worker_sc, voucher))
    }

    fn worker_last_payout(
        &self,
        worker_sc: &TonAddress,
        signed: &[u8],
    ) -> Result<VoucherSettlement, LedgerError> {
        self.write("worker_last_payout", |l| {
            l.worker_last_payout(worker_sc, signed)
        })
    }
}
