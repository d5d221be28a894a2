//! **Mock chain** (tests; the `mock` feature): an in-memory [`ChainAccess`] that SIMULATES
//! the COCOON contracts. Nothing here talks to TON.
//!
//! * External messages are decoded for real ([`decode`]): the cocoon wallet's StateInit must
//!   hash to its address, the order's Ed25519 signature is checked with the key in the
//!   wallet's init data, the seqno must equal the wallet's, `valid_until` must not have
//!   passed, at most 4 internal messages, and the wallet must hold the attached values.
//!   A refused message is a [`ChainError::Rejected`], as a liteserver refuses an external
//!   message the wallet does not accept.
//! * Each internal message is dispatched by its opcode ([`exec`]) to an in-memory
//!   [`DevnetLedger`], the semantics engine: deploys (StateInit with the root's codes),
//!   client owner operations, top-ups, signed charges and worker payouts, proxy payouts and
//!   the signed proxy close steps. `save_state` (`do_not_process`) only leaves a transaction,
//!   as on TON. A message the engine refuses still leaves a transaction (bounces are not
//!   simulated) and is listed in [`MockChain::failed_messages`]. A client or worker contract
//!   that changed tells its proxy contract ([`notify`]): `client_proxy_request` /
//!   `worker_proxy_request`, a transaction on the proxy contract, as the real contracts do.
//! * Money: only the protocol amounts move (the engine's rules); message values, gas and
//!   excesses are not simulated. A client contract deployed through the mock gets the
//!   root's `min_client_stake` from the deployer, as its init data on TON carries it; a proxy
//!   deploy leaves its stake at 0 and `ext_proxy_increase_stake` moves the amount it names
//!   from the sender into the stake, as on TON.
//! * Reads: account states are data cells in the documented layouts ([`accounts`]), the root
//!   account's data is written by [`root_cell`]; every delivered message leaves a transaction
//!   (mock hashes) on its destination. The chain clock is the engine's clock.
//! * Faults for tests: failing the next calls, stalling every call, dropping external messages.

pub mod accounts;
pub mod decode;
mod exec;
mod notify;
pub mod root_cell;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::address::{devnet_placeholder_codes, ContractKind};
use cocoon_ledger::ledger::devnet::{devnet_root_address, DevnetLedger};
use cocoon_ledger::ledger::{Ledger, LedgerError};
use cocoon_ledger::root_config::{ContractCodes, RootConfig};
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};
use tonlib_core::cell::{ArcCell, CellBuilder};
use tonlib_core::{TonAddress, TonHash};

use crate::chain::{
    AccountSnapshot, BlockRef, ChainAccess, ChainError, ChainFuture, ChainTx, InMsg, TxId,
};

/// A cocoon wallet the mock has seen (from its StateInit).
struct MockWallet {
    code: ArcCell,
    public_key: VerifyingKey,
    owner: TonAddress,
    seqno: u32,
}

/// A payment contract deployed through the mock.
struct Deployed {
    kind: ContractKind,
    init_data: ArcCell,
}

#[derive(Default)]
struct Faults {
    fail_next: usize,
    stalled: bool,
    drop_externals: usize,
}

/// An internal message the engine refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageFailure {
    /// Destination (raw form).
    pub dest: String,
    /// Body opcode (0 for an empty body).
    pub op: u32,
    /// Why.
    pub error: String,
}

struct MockState {
    root_owner: TonAddress,
    root_config: RootConfig,
    block_seqno: u32,
    next_lt: u64,
    wallets: HashMap<String, MockWallet>,
    contracts: HashMap<String, Deployed>,
    txs: HashMap<String, Vec<ChainTx>>,
    faults: Faults,
    failures: Vec<MessageFailure>,
    externals_accepted: usize,
    externals_dropped: usize,
}

/// The simulated chain (see the module doc).
pub struct MockChain {
    engine: DevnetLedger,
    root_address: TonAddress,
    codes: ContractCodes,
    root_code: ArcCell,
    state: Mutex<MockState>,
}

enum Fault {
    None,
    Fail,
    Stall,
}

fn engine_err(e: LedgerError) -> ChainError {
    ChainError::Unavailable(format!("mock engine: {e}"))
}

impl MockChain {
    /// A mock chain whose root contract (at the devnet root address, publishing the devnet
    /// placeholder codes) serves `config`.
    pub fn new(config: RootConfig) -> Result<MockChain, LedgerError> {
        let engine = DevnetLedger::in_memory(config.clone())?;
        let codes = devnet_placeholder_codes().map_err(|e| LedgerError::Invalid(e.to_string()))?;
        let mut b = CellBuilder::new();
        b.store_slice(b"cocoon-rs mock root contract code (not executable)")
            .map_err(|e| LedgerError::Invalid(e.to_string()))?;
        let root_code = Arc::new(b.build().map_err(|e| LedgerError::Invalid(e.to_string()))?);
        let root_owner = TonAddress::new(0, TonHash::from([0x0f; 32]));
        Ok(MockChain {
            engine,
            root_address: devnet_root_address(),
            codes,
            root_code,
            state: Mutex::new(MockState {
                root_owner,
                root_config: config,
                block_seqno: 1,
                next_lt: 1_000,
                wallets: HashMap::new(),
                contracts: HashMap::new(),
                txs: HashMap::new(),
                faults: Faults::default(),
                failures: Vec::new(),
                externals_accepted: 0,
                externals_dropped: 0,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, MockState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The root contract address.
    pub fn root_address(&self) -> TonAddress {
        self.root_address.clone()
    }

    /// The contract codes the root publishes.
    pub fn codes(&self) -> &ContractCodes {
        &self.codes
    }

    /// The semantics engine (for assertions).
    pub fn engine(&self) -> &DevnetLedger {
        &self.engine
    }

    /// Mints `amount` into `address`.
    pub fn fund(&self, address: &TonAddress, amount: NanoTon) -> Result<(), LedgerError> {
        self.engine.devnet_fund(address, amount)?;
        self.lock().block_seqno += 1;
        Ok(())
    }

    /// Moves the chain clock forward; returns the new time.
    pub fn advance_clock(&self, seconds: u64) -> Result<u64, LedgerError> {
        let now = self.engine.devnet_advance_clock(seconds)?;
        self.lock().block_seqno += 1;
        Ok(now)
    }

    /// Serves `config` as the root state from the next block on (its `version` as given,
    /// lower ones included) and makes the engine follow its parameters.
    pub fn set_root_config(&self, config: RootConfig) -> Result<(), LedgerError> {
        self.engine.devnet_set_config(config.clone())?;
        let mut st = self.lock();
        st.root_config = config;
        st.block_seqno += 1;
        Ok(())
    }

    /// The next `n` calls fail with [`ChainError::Unavailable`].
    pub fn fail_next_calls(&self, n: usize) {
        self.lock().faults.fail_next = n;
    }

    /// While set, every call hangs (the caller's timeout must fire).
    pub fn set_stalled(&self, stalled: bool) {
        self.lock().faults.stalled = stalled;
    }

    /// The next `n` external messages are answered "sent" but silently lost.
    pub fn drop_next_externals(&self, n: usize) {
        self.lock().faults.drop_externals = n;
    }

    /// External messages accepted so far.
    pub fn externals_accepted(&self) -> usize {
        self.lock().externals_accepted
    }

    /// External messages dropped by [`Self::drop_next_externals`].
    pub fn externals_dropped(&self) -> usize {
        self.lock().externals_dropped
    }

    /// Internal messages the engine refused, oldest first.
    pub fn failed_messages(&self) -> Vec<MessageFailure> {
        self.lock().failures.clone()
    }

    /// The opcodes of the messages `account` received from `from`, oldest first.
    pub fn ops_received(&self, account: &TonAddress, from: &TonAddress) -> Vec<u32> {
        self.transactions_of(account)
            .iter()
            .filter_map(|t| t.in_msg.as_ref())
            .filter(|m| m.source.as_ref() == Some(from))
            .filter_map(|m| m.body.parser().load_u32(32).ok())
            .collect()
    }

    /// Every transaction of `address`, oldest first.
    pub fn transactions_of(&self, address: &TonAddress) -> Vec<ChainTx> {
        self.lock()
            .txs
            .get(&address.to_hex())
            .cloned()
            .unwrap_or_default()
    }

    fn fault(&self) -> Fault {
        let mut st = self.lock();
        if st.faults.stalled {
            return Fault::Stall;
        }
        if st.faults.fail_next > 0 {
            st.faults.fail_next -= 1;
            return Fault::Fail;
        }
        Fault::None
    }

    async fn gate(&self, what: &str) -> Result<(), ChainError> {
        match self.fault() {
            Fault::None => Ok(()),
            Fault::Fail => Err(ChainError::Unavailable(format!(
                "mock chain: injected failure of {what}"
            ))),
            Fault::Stall => std::future::pending().await,
        }
    }

    fn record_tx(st: &mut MockState, account: &TonAddress, utime: u64, in_msg: InMsg) {
        let lt = st.next_lt;
        st.next_lt += 10;
        let mut h = Sha256::new();
        h.update(b"cocoon-rs mock transaction");
        h.update(account.to_hex().as_bytes());
        h.update(lt.to_be_bytes());
        h.update(cocoon_ledger::boc::cell_hash(&in_msg.body));
        let prev = Self::last_tx(st, &account.to_hex());
        let tx = ChainTx {
            id: TxId {
                lt,
                hash: h.finalize().into(),
            },
            prev,
            utime,
            in_msg: Some(in_msg),
        };
        st.txs.entry(account.to_hex()).or_default().push(tx);
    }

    fn last_tx(st: &MockState, key: &str) -> Option<TxId> {
        st.txs.get(key).and_then(|t| t.last()).map(|t| t.id)
    }

    fn account_now(&self, address: &TonAddress) -> Result<Option<AccountSnapshot>, ChainError> {
        let st = self.lock();
        let key = address.to_hex();
        let last_tx = Self::last_tx(&st, &key);
        if *address == self.root_address {
            let data = root_cell::root_data_cell(&st.root_owner, &st.root_config, &self.codes)
                .map_err(|e| ChainError::Malformed(e.to_string()))?;
            return Ok(Some(AccountSnapshot {
                balance: 0,
                code: Some(self.root_code.clone()),
                data: Some(Arc::new(data)),
                last_tx,
            }));
        }
        let snapshot = self.engine.try_devnet_snapshot().map_err(engine_err)?;
        let balance = snapshot.wallets.get(&key).copied().unwrap_or(0);
        let built = |r: Result<tonlib_core::cell::Cell, crate::cells::CellError>| {
            r.map(|c| Some(Arc::new(c)))
                .map_err(|e| ChainError::Malformed(e.to_string()))
        };
        if let Some(w) = st.wallets.get(&key).filter(|w| w.seqno > 0) {
            return Ok(Some(AccountSnapshot {
                balance,
                code: Some(w.code.clone()),
                data: built(accounts::wallet_data(w.seqno, &w.public_key, &w.owner))?,
                last_tx,
            }));
        }
        if let Some(d) = st.contracts.get(&key) {
            let code = match d.kind {
                ContractKind::Proxy => &self.codes.proxy,
                ContractKind::Worker => &self.codes.worker,
                ContractKind::Client => &self.codes.client,
            };
            let (balance, data) = exec::contract_data(self, &snapshot, &key, d)?;
            return Ok(Some(AccountSnapshot {
                balance,
                code: Some(code.clone()),
                data: Some(Arc::new(data)),
                last_tx,
            }));
        }
        if balance > 0 || last_tx.is_some() {
            return Ok(Some(AccountSnapshot {
                balance,
                code: None,
                data: None,
                last_tx,
            }));
        }
        Ok(None)
    }

    fn transactions_now(
        &self,
        address: &TonAddress,
        from: TxId,
        limit: usize,
    ) -> Result<Vec<ChainTx>, ChainError> {
        let st = self.lock();
        let txs = st
            .txs
            .get(&address.to_hex())
            .ok_or_else(|| ChainError::Rejected("account has no transactions".into()))?;
        let index = txs
            .iter()
            .position(|t| t.id == from)
            .ok_or_else(|| ChainError::Rejected(format!("unknown transaction lt {}", from.lt)))?;
        Ok(txs[..=index].iter().rev().take(limit).cloned().collect())
    }
}

impl ChainAccess for MockChain {
    fn last_block(&self) -> ChainFuture<'_, BlockRef> {
        Box::pin(async move {
            self.gate("last_block").await?;
            let seqno = self.lock().block_seqno;
            let mut h = Sha256::new();
            h.update(b"cocoon-rs mock block");
            h.update(seqno.to_be_bytes());
            Ok(BlockRef {
                seqno,
                root_hash: h.finalize().into(),
                utime: self.engine.now(),
            })
        })
    }

    fn account<'a>(&'a self, address: &'a TonAddress) -> ChainFuture<'a, Option<AccountSnapshot>> {
        Box::pin(async move {
            self.gate("account").await?;
            self.account_now(address)
        })
    }

    fn transactions<'a>(
        &'a self,
        address: &'a TonAddress,
        from: TxId,
        limit: usize,
    ) -> ChainFuture<'a, Vec<ChainTx>> {
        Box::pin(async move {
            self.gate("transactions").await?;
            self.transactions_now(address, from, limit)
        })
    }

    fn send_external<'a>(&'a self, boc: &'a [u8]) -> ChainFuture<'a, ()> {
        Box::pin(async move {
            self.gate("send_external").await?;
            exec::accept_external(self, boc)
        })
    }
}

#[cfg(test)]
mod tests;
