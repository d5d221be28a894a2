//! **Devnet** ledger: a deterministic, local simulation of the COCOON payment contracts.
//!
//! Nothing here talks to TON. Contract addresses are derived with the real algorithm but
//! from devnet placeholder code cells ([`crate::address::devnet_placeholder_codes`]), so
//! they never collide with real ones. Vouchers are verified exactly as the real contracts
//! verify them. No gas or message fees are simulated: only protocol money moves, so the sum
//! of all holdings always equals what was minted with [`DevnetLedger::devnet_fund`].
//!
//! The devnet has its own clock ([`DevnetLedger::devnet_advance_clock`]), starting at a
//! fixed genesis time, so close delays are testable and runs are reproducible.
//!
//! A file-backed devnet ([`DevnetLedger::open_or_create`]) is shared by every process of a
//! local network: each operation, reads included, runs under an advisory lock on
//! `<file>.lock`, first reloads the state if another instance changed the file, and a write
//! replaces the file atomically (temporary file, fsync, rename) before it becomes visible.
//! Details in the `store` submodule (`devnet_store.rs`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};
use tonlib_core::{TonAddress, TonHash};

use super::{ClientContractState, LedgerError, ProxyContractState, WorkerContractState};
use crate::accounting::{NanoTon, Prices};
use crate::address::{derive_contract_address, devnet_placeholder_codes, ContractSpec};
use crate::contracts::{self, Emitted};
use crate::root_config::{ContractCodes, RootConfig, RootParams};
use deliver::{exit_error, Kind};
use store::{FileStore, LockMode};

/// Devnet genesis time (2026-01-01T00:00:00Z).
pub const DEVNET_GENESIS_TIME: u64 = 1_767_225_600;
/// Format tag of the devnet state file.
/// (2: the contract model — client contracts hold no money, proxy contracts hold `funds`;
/// files of format 1 kept money in client contracts and are refused.)
pub const DEVNET_FORMAT: &str = "cocoon-devnet-ledger/2";
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
    /// Bumped by every write; mirrored in the lock file for cheap change detection.
    #[serde(default)]
    generation: u64,
    clock: u64,
    config: RootConfig,
    minted: NanoTon,
    wallets: BTreeMap<String, NanoTon>,
    proxies: BTreeMap<String, ProxyContractState>,
    clients: BTreeMap<String, ClientContractState>,
    workers: BTreeMap<String, WorkerContractState>,
    /// The params of every earlier `params_version`, by version: contracts deployed under
    /// them keep charging, paying and closing with their own params.
    #[serde(default)]
    retired_params: BTreeMap<u32, RootParams>,
    /// What the contracts emitted in the last operation (not persisted): the mock chain
    /// turns it into transactions.
    #[serde(skip)]
    outbox: Vec<Emitted>,
}

/// Every account of a devnet, keyed by raw address (`0:hex`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DevnetSnapshot {
    /// Write counter of the devnet file (bumped by every successful operation).
    pub generation: u64,
    /// Devnet clock (unix seconds).
    pub clock: u64,
    /// Root config version.
    pub config_version: u32,
    /// Root `params_version` (contracts with a lower one are outdated).
    pub params_version: u32,
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

/// The devnet ledger (see the module doc). Cheap to share: `Arc<DevnetLedger>`; several
/// instances (threads or processes) may share one file.
pub struct DevnetLedger {
    codes: ContractCodes,
    inner: Mutex<Inner>,
}

/// The last state this instance saw, and the file it mirrors (none: in memory).
struct Inner {
    state: DevnetState,
    store: Option<FileStore>,
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
            generation: 0,
            clock: DEVNET_GENESIS_TIME,
            config,
            minted: 0,
            wallets: BTreeMap::new(),
            proxies: BTreeMap::new(),
            clients: BTreeMap::new(),
            workers: BTreeMap::new(),
            retired_params: BTreeMap::new(),
            outbox: Vec::new(),
        }
    }
    /// The params a contract deployed under `params_version` was written with (0: a
    /// contract stored before versions were recorded, taken as current).
    fn params_of(&self, params_version: u32) -> Result<&RootParams, LedgerError> {
        if params_version == 0 || params_version == self.config.params.params_version {
            return Ok(&self.config.params);
        }
        self.retired_params.get(&params_version).ok_or_else(|| {
            LedgerError::Storage(format!(
                "no params recorded for params_version {params_version}"
            ))
        })
    }
    /// Prices of the contracts deployed under `params_version`.
    fn prices_of(&self, params_version: u32) -> Result<Prices, LedgerError> {
        self.params_of(params_version)?
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
    fn client(&mut self, sc: &TonAddress) -> Result<&mut ClientContractState, LedgerError> {
        self.clients
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
    fn proxy_key(&self, proxy_sc: &str) -> Result<VerifyingKey, LedgerError> {
        let proxy = self
            .proxies
            .get(proxy_sc)
            .ok_or_else(|| LedgerError::UnknownContract(proxy_sc.to_string()))?;
        VerifyingKey::from_bytes(&proxy.public_key).map_err(|e| LedgerError::Invalid(e.to_string()))
    }
    /// Sum of every holding (wallets and the proxy contracts' money: client contracts hold
    /// none); equals `minted` at all times.
    fn holdings(&self) -> NanoTon {
        let wallets: NanoTon = self.wallets.values().sum();
        let proxies: NanoTon = self.proxies.values().map(|p| p.funds).sum();
        wallets + proxies
    }
    fn snapshot(&self) -> DevnetSnapshot {
        DevnetSnapshot {
            generation: self.generation,
            clock: self.clock,
            config_version: self.config.version,
            params_version: self.config.params.params_version,
            minted: self.minted,
            wallets: self.wallets.clone(),
            proxies: self.proxies.clone(),
            clients: self.clients.clone(),
            workers: self.workers.clone(),
        }
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
            codes: devnet_placeholder_codes().map_err(storage)?,
            inner: Mutex::new(Inner {
                state: DevnetState::new(config),
                store: None,
            }),
        })
    }

    /// Opens the devnet state file at `path`, or creates it with `config` if absent (the
    /// check and the creation happen under the file lock, so concurrent openers agree).
    /// Every later operation re-reads the file if another instance changed it.
    pub fn open_or_create(path: &Path, config: RootConfig) -> Result<DevnetLedger, LedgerError> {
        config
            .params
            .prices()
            .map_err(|e| LedgerError::Invalid(e.to_string()))?;
        let mut store = FileStore::open(path)?;
        let state = {
            let mut locked = store.lock(LockMode::Exclusive)?;
            if locked.exists()? {
                locked.reload_if_changed()?
            } else {
                let state = DevnetState::new(config);
                locked.write(&state)?;
                tracing::info!(path = %path.display(), "devnet: created new devnet ledger file");
                Some(state)
            }
        };
        let state = state.ok_or_else(|| LedgerError::Storage("devnet file not loaded".into()))?;
        Ok(DevnetLedger {
            codes: devnet_placeholder_codes().map_err(storage)?,
            inner: Mutex::new(Inner {
                state,
                store: Some(store),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state is only replaced after a fully successful operation, so a poisoned
        // mutex still holds a consistent state.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the latest state (reloaded under the shared file lock if it changed).
    fn read<T>(
        &self,
        f: impl FnOnce(&DevnetState) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(store) = inner.store.as_mut() else {
            return f(&inner.state);
        };
        let mut locked = store.lock(LockMode::Shared)?;
        if let Some(fresh) = locked.reload_if_changed()? {
            inner.state = fresh;
        }
        f(&inner.state)
    }

    /// Like [`Self::read`], but falls back to the last state seen if the file cannot be
    /// read (for the infallible accessors); the failure is logged.
    fn read_or_last<T>(&self, f: impl Fn(&DevnetState) -> T) -> T {
        match self.read(|s| Ok(f(s))) {
            Ok(out) => out,
            Err(e) => {
                tracing::warn!(error = %e, "devnet: cannot refresh from the ledger file; using the last state seen");
                f(&self.lock().state)
            }
        }
    }

    /// Under the exclusive file lock: reloads the latest state, runs `f` on a copy and, if
    /// it succeeds, writes the copy (bumping `generation`) before it becomes visible.
    fn mutate<T>(
        &self,
        f: impl FnOnce(&mut DevnetState) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(store) = inner.store.as_mut() else {
            let mut next = inner.state.clone();
            next.outbox.clear();
            let out = f(&mut next)?;
            debug_assert_eq!(next.holdings(), next.minted, "devnet money not conserved");
            next.generation = next.generation.wrapping_add(1);
            inner.state = next;
            return Ok(out);
        };
        let mut locked = store.lock(LockMode::Exclusive)?;
        if let Some(fresh) = locked.reload_if_changed()? {
            inner.state = fresh;
        }
        let mut next = inner.state.clone();
        next.outbox.clear();
        let out = f(&mut next)?;
        debug_assert_eq!(next.holdings(), next.minted, "devnet money not conserved");
        next.generation = next.generation.wrapping_add(1);
        locked.write(&next)?;
        inner.state = next;
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

    /// Deploys the proxy contract of `owner` as a plain deploy does on TON: stake 0 (no
    /// minimum is enforced; the contract has none), raised only by
    /// [`Self::proxy_increase_stake`].
    pub fn devnet_proxy_deploy_unstaked(
        &self,
        owner: &TonAddress,
        proxy_key: &VerifyingKey,
    ) -> Result<TonAddress, LedgerError> {
        let root = devnet_root_address();
        self.mutate(|s| {
            let params = &s.config.params;
            let params_version = params.params_version;
            let sc = self.derive(
                params,
                ContractSpec::Proxy { owner, root: &root },
                proxy_key,
            )?;
            if s.proxies.contains_key(&key(&sc)) {
                return Err(LedgerError::AlreadyExists(key(&sc)));
            }
            s.proxies.insert(
                key(&sc),
                contracts::proxy::deployed(key(owner), proxy_key.to_bytes(), 0, params_version),
            );
            tracing::info!(proxy_sc = %key(&sc), "devnet: proxy contract deployed");
            Ok(sc)
        })
    }

    /// `ext_proxy_increase_stake`: moves `amount` from `sender`'s wallet (anyone's, as on
    /// TON: the contract does not check the sender) into the proxy contract's stake;
    /// refused once the contract is closed. Returns the new stake.
    pub fn proxy_increase_stake(
        &self,
        sender: &TonAddress,
        proxy_sc: &TonAddress,
        amount: NanoTon,
    ) -> Result<NanoTon, LedgerError> {
        self.mutate(|s| {
            let (next, _) = contracts::proxy::increase_stake(s.proxy(proxy_sc)?, amount)
                .map_err(|e| exit_error(e, proxy_sc, Kind::Proxy))?;
            debit(s.wallet(sender), amount)?;
            let stake = next.stake;
            *s.proxy(proxy_sc)? = next;
            tracing::info!(proxy_sc = %key(proxy_sc), amount, stake, "devnet: proxy stake raised");
            Ok(stake)
        })
    }

    /// The messages the contracts emitted in the last operation of this instance (notices
    /// to proxy contracts, payouts), in order, and forgets them.
    pub fn devnet_take_emitted(&self) -> Vec<Emitted> {
        std::mem::take(&mut self.lock().state.outbox)
    }

    /// Advances the devnet clock.
    pub fn devnet_advance_clock(&self, seconds: u64) -> Result<u64, LedgerError> {
        self.mutate(|s| {
            s.clock = s.clock.saturating_add(seconds);
            Ok(s.clock)
        })
    }

    /// Replaces the devnet root config (bumps `version`). A higher `params_version` retires
    /// the current params (contracts deployed under them keep using them); a lower one is
    /// refused.
    pub fn devnet_set_config(&self, mut config: RootConfig) -> Result<(), LedgerError> {
        config
            .params
            .prices()
            .map_err(|e| LedgerError::Invalid(e.to_string()))?;
        self.mutate(|s| {
            let (old, new) = (s.config.params.params_version, config.params.params_version);
            if new < old {
                return Err(LedgerError::Invalid(format!(
                    "params_version may not go down ({old} -> {new})"
                )));
            }
            if new != old {
                s.retired_params.insert(old, s.config.params.clone());
                tracing::info!(old, new, "devnet: root params_version bumped");
            }
            config.version = s.config.version.saturating_add(1);
            s.config = config;
            Ok(())
        })
    }

    /// The address [`Ledger::client_deploy`] (`client = true`) or [`Ledger::worker_deploy`]
    /// would give the contract of `owner` at `proxy_sc` (derived with that proxy contract's
    /// params), without deploying anything: a simulator checks a deploy message against it
    /// before applying it.
    pub fn devnet_party_address(
        &self,
        client: bool,
        owner: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<TonAddress, LedgerError> {
        self.read(|s| {
            let proxy_key = s.proxy_key(&key(proxy_sc))?;
            let version = s
                .proxies
                .get(&key(proxy_sc))
                .map_or(0, |p| p.params_version);
            let spec = if client {
                ContractSpec::Client { owner, proxy_sc }
            } else {
                ContractSpec::Worker { owner, proxy_sc }
            };
            self.derive(s.params_of(version)?, spec, &proxy_key)
        })
    }

    /// A copy of every devnet account (for `cocoon devnet status`). Falls back to the last
    /// state seen if the file cannot be read; see [`Self::try_devnet_snapshot`].
    pub fn devnet_snapshot(&self) -> DevnetSnapshot {
        self.read_or_last(DevnetState::snapshot)
    }

    /// A copy of every devnet account, failing if the file cannot be read.
    pub fn try_devnet_snapshot(&self) -> Result<DevnetSnapshot, LedgerError> {
        self.read(|s| Ok(s.snapshot()))
    }

    /// Total nanoTON ever minted by the faucet.
    pub fn devnet_minted(&self) -> NanoTon {
        self.read_or_last(|s| s.minted)
    }

    /// Sum of all wallet and contract holdings (equals [`Self::devnet_minted`]).
    pub fn devnet_holdings(&self) -> NanoTon {
        self.read_or_last(DevnetState::holdings)
    }

    fn derive(
        &self,
        params: &RootParams,
        spec: ContractSpec<'_>,
        proxy_key: &VerifyingKey,
    ) -> Result<TonAddress, LedgerError> {
        derive_contract_address(spec, proxy_key, params, &self.codes).map_err(storage)
    }
}

#[path = "devnet_ops.rs"]
mod ops;

#[path = "devnet_deliver.rs"]
mod deliver;

#[path = "devnet_store.rs"]
mod store;

#[path = "devnet_root.rs"]
mod root;

#[cfg(test)]
#[path = "devnet_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "devnet_close_tests.rs"]
mod close_tests;
