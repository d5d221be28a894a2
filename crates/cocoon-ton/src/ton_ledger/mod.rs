//! [`TonLedger`]: the TON backend of [`cocoon_ledger::ledger::Ledger`] over any
//! [`ChainAccess`].
//!
//! **Reads** are served from a snapshot that a refresh round updates (a background tokio
//! task runs one every [`TonLedgerConfig::refresh_interval`]; [`TonLedger::refresh_now`] runs
//! one on demand): the last block (its time is [`Ledger::now`]), the root contract state
//! (re-read every [`TonLedgerConfig::root_refresh_interval`], adopted only at a higher
//! `version`, through [`crate::root_state::RootTracker`]), our cocoon wallet's seqno and
//! balance, and every watched contract's data (parsed with [`crate::contract_state`]).
//! The transactions of our wallet and of watched proxy contracts are walked from the last
//! seen one: the wallet's confirm submitted messages, the proxy's `save_state` messages from
//! our own wallet become [`ProxyContractState::saved_states`] (never before they are seen),
//! client registrations become [`ProxyContractState::registrations`], and a client or worker
//! contract reporting a change (`client_proxy_request`, `worker_proxy_request`, sender
//! checked) is read again. The client and worker contracts of a proxy contract we sign for
//! are read only when they reported a change, when we sent them a message (every round for
//! 30 s), or every 60 s — the reference proxy learns them from the notifications alone; a
//! proxy with thousands of clients must not ask the liteservers for each of them every few
//! seconds. Every other watched contract is read every round.
//! A contract is watched from the first read or write naming it; until its first successful
//! read, reads of it fail with a "not synced yet" [`LedgerError::Storage`]. When no refresh
//! has succeeded for [`TonLedgerConfig::stale_after`], reads fail instead of serving old data.
//!
//! **Writes** (the [`Ledger`] operations) are checked against the snapshot, built as the
//! message bodies of [`crate::messages`] (deploys carry the StateInit from the root's codes),
//! queued on our [`WalletSender`] and return at once with the effect the snapshot predicts.
//! On TON a write is only **submitted**: it is confirmed when the wallet transaction carrying
//! it is observed, and its effect shows in the next reads of the contract. Callers see where
//! each message stands with [`TonLedger::pending_messages`] and [`TonLedger::message_status`].
//!
//! Every chain call runs under [`TonLedgerConfig::call_timeout`]; a failing or stuck chain
//! makes [`TonLedger::refresh_now`] return an error, never hang.

mod checks;
mod close_writes;
mod refresh;
mod snapshot;
mod writes;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::ledger::{LedgerError, ProxyContractState};
use ed25519_dalek::SigningKey;
use tonlib_core::cell::ArcCell;
use tonlib_core::TonAddress;

use crate::cells::CellError;
use crate::chain::{BlockRef, ChainAccess, ChainError, TxId};
use crate::root_state::RootState;
use crate::wallet::{CocoonWallet, MessageTicket, WalletError, WalletSender};

pub use snapshot::{
    MessageStatus, PendingMessage, WalletView, WatchKind, CONFIRMED_KEPT, SAVED_STATES_KEPT,
};

/// How a [`TonLedger`] runs.
pub struct TonLedgerConfig {
    /// The root contract.
    pub root_address: TonAddress,
    /// The node's `is_test`; the root's must match or it is not adopted.
    pub is_test: bool,
    /// The cocoon wallet's code cell (supplied by configuration; none is embedded).
    pub wallet_code: ArcCell,
    /// The cocoon wallet's key (`node_wallet_key`).
    pub wallet_key: SigningKey,
    /// The cocoon wallet's owner (`owner_address`).
    pub wallet_owner: TonAddress,
    /// The proxy's signing key (`machine_specific_private_key`), needed only to sign the
    /// proxy contract's close steps.
    pub proxy_signing_key: Option<SigningKey>,
    /// Period of the refresh rounds (the reference polls every 5–10 s).
    pub refresh_interval: Duration,
    /// Period of the root contract reads (the reference: 30–60 s).
    pub root_refresh_interval: Duration,
    /// Timeout of every chain call.
    pub call_timeout: Duration,
    /// Reads fail when no refresh round has succeeded for this long.
    pub stale_after: Duration,
    /// Below this wallet balance nothing is sent (default: the reference's 2.1 TON).
    pub wallet_low_balance: NanoTon,
}

impl TonLedgerConfig {
    /// The defaults: refresh every 5 s, root every 30 s, 10 s call timeout, stale after 120 s.
    pub fn new(
        root_address: TonAddress,
        is_test: bool,
        wallet_code: ArcCell,
        wallet_key: SigningKey,
        wallet_owner: TonAddress,
    ) -> TonLedgerConfig {
        TonLedgerConfig {
            root_address,
            is_test,
            wallet_code,
            wallet_key,
            wallet_owner,
            proxy_signing_key: None,
            refresh_interval: Duration::from_secs(5),
            root_refresh_interval: Duration::from_secs(30),
            call_timeout: Duration::from_secs(10),
            stale_after: Duration::from_secs(120),
            wallet_low_balance: crate::wallet::MIN_BALANCE,
        }
    }
}

/// Error creating a [`TonLedger`].
#[derive(Debug, thiserror::Error)]
pub enum TonLedgerError {
    /// The wallet could not be built.
    #[error(transparent)]
    Cell(#[from] CellError),
    /// The wallet sender refused the key.
    #[error(transparent)]
    Wallet(#[from] WalletError),
}

/// What one refresh round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefreshReport {
    /// The block the round read.
    pub block: Option<BlockRef>,
    /// Whether a new root state was adopted.
    pub root_adopted: bool,
    /// Tickets confirmed in this round.
    pub confirmed: Vec<MessageTicket>,
    /// Wallet seqno of an external message sent in this round (`resend` when the same
    /// bytes were sent before).
    pub sent: Option<(u32, bool)>,
    /// Accounts that could not be parsed (the round still succeeded).
    pub account_errors: Vec<String>,
    /// Why the external message of this round could not be handed over (it is retried).
    pub send_error: Option<String>,
    /// Watched contracts read this round (a proxy's clients and workers only when they
    /// changed; see `Watched::read_due`).
    pub accounts_read: usize,
}

struct Shared {
    chain: Arc<dyn ChainAccess>,
    /// The node's `is_test` (testnet).
    is_test: bool,
    root_address: TonAddress,
    wallet_address: TonAddress,
    wallet_owner: TonAddress,
    proxy_signing_key: Option<SigningKey>,
    refresh_interval: Duration,
    root_refresh_interval: Duration,
    call_timeout: Duration,
    stale_after: Duration,
    snapshot: Mutex<snapshot::Snapshot>,
    sender: Mutex<WalletSender>,
    /// Serialises refresh rounds (the background task and `refresh_now`).
    round: tokio::sync::Mutex<Option<tokio::time::Instant>>,
    wake: tokio::sync::Notify,
}

/// The TON ledger (see the module doc).
pub struct TonLedger {
    shared: Arc<Shared>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl TonLedger {
    /// A ledger over `chain`; no refresh runs until [`Self::start_refresh`] or
    /// [`Self::refresh_now`].
    pub fn new(
        chain: Arc<dyn ChainAccess>,
        config: TonLedgerConfig,
    ) -> Result<TonLedger, TonLedgerError> {
        let wallet = CocoonWallet::new(
            config.wallet_code,
            config.wallet_key.verifying_key(),
            config.wallet_owner.clone(),
        )?;
        let wallet_address = wallet.address().clone();
        let sender = WalletSender::new(wallet, config.wallet_key)?
            .with_low_balance(config.wallet_low_balance);
        Ok(TonLedger {
            shared: Arc::new(Shared {
                chain,
                root_address: config.root_address,
                wallet_address,
                wallet_owner: config.wallet_owner,
                proxy_signing_key: config.proxy_signing_key,
                refresh_interval: config.refresh_interval,
                root_refresh_interval: config.root_refresh_interval,
                call_timeout: config.call_timeout,
                stale_after: config.stale_after,
                is_test: config.is_test,
                snapshot: Mutex::new(snapshot::Snapshot::new(config.is_test)),
                sender: Mutex::new(sender),
                round: tokio::sync::Mutex::new(None),
                wake: tokio::sync::Notify::new(),
            }),
            task: Mutex::new(None),
        })
    }

    /// Spawns the background refresh task on the current tokio runtime (once; it stops when
    /// the ledger is dropped). A write wakes it early so its message goes out promptly.
    pub fn start_refresh(&self) {
        let mut task = self.task.lock().unwrap_or_else(|p| p.into_inner());
        if task.is_some() {
            return;
        }
        let shared = Arc::clone(&self.shared);
        *task = Some(tokio::spawn(async move {
            loop {
                if let Err(e) = shared.refresh_round().await {
                    tracing::warn!(error = %e, "ton ledger: refresh round failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(shared.refresh_interval) => {}
                    _ = shared.wake.notified() => {}
                }
            }
        }));
    }

    /// Runs one refresh round now (waits for a running one to finish first).
    pub async fn refresh_now(&self) -> Result<RefreshReport, ChainError> {
        self.shared.refresh_round().await
    }

    /// Our cocoon wallet's address.
    pub fn wallet_address(&self) -> &TonAddress {
        &self.shared.wallet_address
    }

    /// Our cocoon wallet as last read (`None` before the first read).
    pub fn wallet_view(&self) -> Option<WalletView> {
        self.shared.lock().wallet
    }

    /// The adopted root state (codes and key manager fields included).
    pub fn root_state(&self) -> Option<RootState> {
        self.shared.lock().root.current().cloned()
    }

    /// The last block read.
    pub fn last_block(&self) -> Option<BlockRef> {
        self.shared.lock().block
    }

    /// Starts watching `address` as `kind` (reads and writes naming it do this too).
    pub fn watch(&self, address: &TonAddress, kind: WatchKind) {
        self.shared.lock().watch(address, kind);
        self.shared.wake.notify_one();
    }

    /// The last transaction seen of a watched account (persist it to resume from there).
    pub fn last_seen_tx(&self, address: &TonAddress) -> Option<TxId> {
        self.shared
            .lock()
            .watched
            .get(&address.to_hex())
            .and_then(|(_, w)| w.last_seen_tx)
    }

    /// Submitted messages not yet confirmed, oldest first.
    pub fn pending_messages(&self) -> Vec<PendingMessage> {
        self.shared
            .lock()
            .messages
            .values()
            .filter(|m| !matches!(m.status, MessageStatus::Confirmed { .. }))
            .cloned()
            .collect()
    }

    /// Submitted messages, the last [`CONFIRMED_KEPT`] confirmed ones included, oldest first.
    pub fn message_history(&self) -> Vec<PendingMessage> {
        self.shared.lock().messages.values().cloned().collect()
    }

    /// Where a submitted message stands (`None` once forgotten or never submitted).
    pub fn message_status(&self, ticket: MessageTicket) -> Option<MessageStatus> {
        self.shared.lock().messages.get(&ticket).map(|m| m.status)
    }

    /// The proxy contract state, `saved_states` as observed on chain.
    pub fn observed_proxy_state(
        &self,
        proxy_sc: &TonAddress,
    ) -> Result<ProxyContractState, LedgerError> {
        self.shared.read(|s| s.proxy(proxy_sc))
    }
}

impl Drop for TonLedger {
    fn drop(&mut self) {
        if let Some(task) = self
            .task
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, snapshot::Snapshot> {
        self.snapshot.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_sender(&self) -> MutexGuard<'_, WalletSender> {
        self.sender.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the snapshot unless it is stale (or was never refreshed).
    fn read<T>(
        &self,
        f: impl FnOnce(&mut snapshot::Snapshot) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let mut s = self.lock();
        match s.last_success {
            None => {
                // Still run `f`: it registers the watches the first round must read.
                let _ = f(&mut s);
                self.wake.notify_one();
                return Err(LedgerError::Storage(format!(
                    "the TON ledger has not synced with the chain yet{}",
                    s.last_error
                        .as_ref()
                        .map(|e| format!(" (last error: {e})"))
                        .unwrap_or_default()
                )));
            }
            Some(at) if at.elapsed() > self.stale_after => {
                return Err(LedgerError::Storage(format!(
                    "the TON ledger's chain state is stale: no successful refresh for {:?}{}",
                    at.elapsed(),
                    s.last_error
                        .as_ref()
                        .map(|e| format!(" (last error: {e})"))
                        .unwrap_or_default()
                )));
            }
            Some(_) => {}
        }
        let out = f(&mut s);
        if out.is_err() {
            self.wake.notify_one();
        }
        out
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
#[path = "tests_close_flow.rs"]
mod tests_close_flow;
#[cfg(test)]
mod tests_lifecycle;
