//! **Devnet** ledger: a deterministic, local simulation of the COCOON payment contracts.
//!
//! Nothing here talks to TON. Contract addresses are derived with the real algorithm but
//! from devnet placeholder code cells ([`crate::address::devnet_placeholder_codes`]), so
//! they never collide with real ones. Vouchers are verified exactly as the real contracts
//! verify them. No gas or message fees are simulated: only protocol money moves, so the sum
//! of all holdings always equals what was minted with [`DevnetLedger::devnet_fund`].
//!
//! The devnet has its own clock ([`DevnetLedger::devnet_advance_clock`]), starting at a
//! fixed genesis time, so close delays are testable and runs are reproducible. The whole
//! state is persisted as JSON in one file after every successful operation (write to a
//! temporary file, fsync, rename), so a crash leaves either the old or the new state.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};
use tonlib_core::{TonAddress, TonHash};

use super::{ClientContractState, LedgerError, ProxyContractState, WorkerContractState};
use crate::accounting::{NanoTon, Prices};
use crate::address::{derive_contract_address, devnet_placeholder_codes, ContractSpec};
use crate::root_config::{ContractCodes, RootConfig};

/// Devnet genesis time (2026-01-01T00:00:00Z).
pub const DEVNET_GENESIS_TIME: u64 = 1_767_225_600;
/// Format tag of the devnet state file.
pub const DEVNET_FORMAT: &str = "cocoon-devnet-ledger/1";
/// How many `save_state` records a devnet proxy contract keeps.
pub const DEVNET_SAVED_STATES_KEPT: usize = 64;

/// The devnet root contract address: `0:sha256("cocoon-devnet root")`.
pub fn devnet_root_address() -> TonAddress {
    let hash: [u8; 32] = Sha256::digest(b"cocoon-devnet root").into();
    TonAddress::new(0, TonHash::from(hash))
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct DevnetState {
    format: String,
    clock: u64,
    config: RootConfig,
    minted: NanoTon,
    wallets: BTreeMap<String, NanoTon>,
    proxies: BTreeMap<String, ProxyContractState>,
    clients: BTreeMap<String, ClientContractState>,
    workers: BTreeMap<String, WorkerContractState>,
}

/// Every account of a devnet, keyed by raw address (`0:hex`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DevnetSnapshot {
    /// Devnet clock (unix seconds).
    pub clock: u64,
    /// Root config version.
    pub config_version: u32,
    /// Total nanoTON minted by the faucet.
    pub minted: NanoTon,
    /// Wallet balances.
    pub wallets: BTreeMap<String, NanoTon>,
    /// Proxy contracts.
    pub proxies: BTreeMap<String, ProxyContractState>,
    /// Client contracts.
    pub clients: BTreeMap<String, ClientContractState>,
    /// Worker contracts.
    pub workers: BTreeMap<String, WorkerContractState>,
}

/// The devnet ledger (see the module doc). Cheap to share: `Arc<DevnetLedger>`.
pub struct DevnetLedger {
    path: Option<PathBuf>,
    codes: ContractCodes,
    state: Mutex<DevnetState>,
}

fn key(address: &TonAddress) -> String {
    address.to_hex()
}

fn storage(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Storage(e.to_string())
}

fn debit(balance: &mut NanoTon, amount: NanoTon) -> Result<(), LedgerError> {
    if *balance < amount {
        return Err(LedgerError::InsufficientFunds {
            needed: amount,
            available: *balance,
        });
    }
    *balance -= amount;
    Ok(())
}

impl DevnetState {
    fn new(config: RootConfig) -> DevnetState {
        DevnetState {
            format: DEVNET_FORMAT.to_string(),
            clock: DEVNET_GENESIS_TIME,
            config,
            minted: 0,
            wallets: BTreeMap::new(),
            proxies: BTreeMap::new(),
            clients: BTreeMap::new(),
            workers: BTreeMap::new(),
        }
    }
    fn prices(&self) -> Result<Prices, LedgerError> {
        self.config
            .params
            .prices()
            .map_err(|e| LedgerError::Invalid(e.to_string()))
    }
    fn wallet(&mut self, address: &TonAddress) -> &mut NanoTon {
        self.wallets.entry(key(address)).or_insert(0)
    }
    fn proxy(&mut self, sc: &TonAddress) -> Result<&mut ProxyContractState, LedgerError> {
        self.proxies
            .get_mut(&key(sc))
            .ok_or_else(|| LedgerError::UnknownContract(key(sc)))
    }
    fn owned_proxy(
        &mut self,
        sender: &TonAddress,
        sc: &TonAddress,
    ) -> Result<&mut ProxyContractState, LedgerError> {
        let proxy = self.proxy(sc)?;
        if proxy.owner != key(sender) {
            return Err(LedgerError::NotOwner(key(sc)));
        }
        Ok(proxy)
    }
    fn owned_client(
        &mut self,
        sender: &TonAddress,
        sc: &TonAddress,
    ) -> Result<&mut ClientContractState, LedgerError> {
        let client = self
            .clients
            .get_mut(&key(sc))
            .ok_or_else(|| LedgerError::UnknownContract(key(sc)))?;
        if client.owner != key(sender) {
            return Err(LedgerError::NotOwner(key(sc)));
        }
        Ok(client)
    }
    fn proxy_key(&self, proxy_sc: &str) -> Result<VerifyingKey, LedgerError> {
        let proxy = self
            .proxies
            .get(proxy_sc)
            .ok_or_else(|| LedgerError::UnknownContract(proxy_sc.to_string()))?;
        VerifyingKey::from_bytes(&proxy.public_key).map_err(|e| LedgerError::Invalid(e.to_string()))
    }
    /// Sum of every holding; equals `minted` at all times.
    fn holdings(&self) -> NanoTon {
        let wallets: NanoTon = self.wallets.values().sum();
        let proxies: NanoTon = self
            .proxies
            .values()
            .map(|p| p.stake + p.commission + p.worker_pool)
            .sum();
        let clients: NanoTon = self.clients.values().map(|c| c.balance + c.stake).sum();
        wallets + proxies + clients
    }
}

impl DevnetLedger {
    /// A devnet ledger that lives only in memory.
    pub fn in_memory(config: RootConfig) -> Result<DevnetLedger, LedgerError> {
        config
            .params
            .prices()
            .map_err(|e| LedgerError::Invalid(e.to_string()))?;
        Ok(DevnetLedger {
            path: None,
            codes: devnet_placeholder_codes().map_err(storage)?,
            state: Mutex::new(DevnetState::new(config)),
        })
    }

    /// Opens the devnet state file at `path`, or creates it with `config` if absent.
    pub fn open_or_create(path: &Path, config: RootConfig) -> Result<DevnetLedger, LedgerError> {
        let state = match std::fs::read(path) {
            Ok(bytes) => {
                let state: DevnetState = serde_json::from_slice(&bytes).map_err(storage)?;
                if state.format != DEVNET_FORMAT {
                    return Err(LedgerError::Storage(format!(
                        "unknown devnet file format {:?}",
                        state.format
                    )));
                }
                if state.holdings() != state.minted {
                    return Err(LedgerError::Storage(
                        "devnet file does not conserve money".into(),
                    ));
                }
                state
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let state = DevnetState::new(config);
                persist(path, &state)?;
                tracing::info!(path = %path.display(), "devnet: created new devnet ledger file");
                state
            }
            Err(e) => return Err(storage(e)),
        };
        state
            .config
            .params
            .prices()
            .map_err(|e| LedgerError::Invalid(e.to_string()))?;
        Ok(DevnetLedger {
            path: Some(path.to_path_buf()),
            codes: devnet_placeholder_codes().map_err(storage)?,
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> MutexGuard<'_, DevnetState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&DevnetState) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        f(&self.lock())
    }

    /// Runs `f` on a copy of the state; commits (and persists) only if it succeeds.
    fn mutate<T>(
        &self,
        f: impl FnOnce(&mut DevnetState) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let mut guard = self.lock();
        let mut next = guard.clone();
        let out = f(&mut next)?;
        debug_assert_eq!(next.holdings(), next.minted, "devnet money not conserved");
        if let Some(path) = &self.path {
            persist(path, &next)?;
        }
        *guard = next;
        Ok(out)
    }

    /// Devnet faucet: mints `amount` into `wallet` (the only way money enters the devnet).
    pub fn devnet_fund(&self, wallet: &TonAddress, amount: NanoTon) -> Result<(), LedgerError> {
        self.mutate(|s| {
            // Every holding is bounded by `minted`, so checking it here rules out overflow elsewhere.
            s.minted = s
                .minted
                .checked_add(amount)
                .ok_or_else(|| LedgerError::Invalid("devnet supply overflow".into()))?;
            *s.wallet(wallet) += amount;
            tracing::info!(wallet = %key(wallet), amount, "devnet: funded wallet");
            Ok(())
        })
    }

    /// Advances the devnet clock.
    pub fn devnet_advance_clock(&self, seconds: u64) -> Result<u64, LedgerError> {
        self.mutate(|s| {
            s.clock = s.clock.saturating_add(seconds);
            Ok(s.clock)
        })
    }

    /// Replaces the devnet root config (bumps `version`).
    pub fn devnet_set_config(&self, mut config: RootConfig) -> Result<(), LedgerError> {
        config
            .params
            .prices()
            .map_err(|e| LedgerError::Invalid(e.to_string()))?;
        self.mutate(|s| {
            config.version = s.config.version.saturating_add(1);
            s.config = config;
            Ok(())
        })
    }

    /// A copy of every devnet account (for `cocoon devnet status`).
    pub fn devnet_snapshot(&self) -> DevnetSnapshot {
        let s = self.lock();
        DevnetSnapshot {
            clock: s.clock,
            config_version: s.config.version,
            minted: s.minted,
            wallets: s.wallets.clone(),
            proxies: s.proxies.clone(),
            clients: s.clients.clone(),
            workers: s.workers.clone(),
        }
    }

    /// Total nanoTON ever minted by the faucet.
    pub fn devnet_minted(&self) -> NanoTon {
        self.lock().minted
    }

    /// Sum of all wallet and contract holdings (equals [`Self::devnet_minted`]).
    pub fn devnet_holdings(&self) -> NanoTon {
        self.lock().holdings()
    }

    fn derive(
        &self,
        s: &DevnetState,
        spec: ContractSpec<'_>,
        proxy_key: &VerifyingKey,
    ) -> Result<TonAddress, LedgerError> {
        derive_contract_address(spec, proxy_key, &s.config.params, &self.codes).map_err(storage)
    }
}

fn persist(path: &Path, state: &DevnetState) -> Result<(), LedgerError> {
    let bytes = serde_json::to_vec_pretty(state).map_err(storage)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::File::create(&tmp).map_err(storage)?;
    file.write_all(&bytes).map_err(storage)?;
    file.sync_all().map_err(storage)?;
    std::fs::rename(&tmp, path).map_err(storage)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

#[path = "devnet_ops.rs"]
mod ops;

#[cfg(test)]
#[path = "devnet_tests.rs"]
mod tests;
