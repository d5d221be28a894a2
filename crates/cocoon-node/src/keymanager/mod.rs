//! The key manager role (delta-2026-04 §3): owns the request-encryption key pairs,
//! registers their public keys on the root contract, and serves the private keys to
//! attested proxies and workers.
//!
//! Structure:
//! * [`keys`] — a key record and the reference's schedule (type-1 key every hour, valid a
//!   day, expired keys deleted; the fixed test key of fake-TEE test mode);
//! * [`store`] — the durable, signed store (redb; survives `kill -9`);
//! * [`ring`] — the held keys: schedule ticks, generation, removal, registration through
//!   the [`Ledger`] (`root_add_public_key_signed`, retried until accepted);
//! * [`rpc`] — the RPC port: PoW + RA-TLS gate, `getProxyPrivateKeys` /
//!   `getWorkerPrivateKeys` with the image-hash policy;
//! * [`http`] — `/stats`, `/jsonstats`, `/metrics`, and the admin controls.
//!
//! Start one with [`start`] (what `cocoon keymanager` and a local network call).

pub mod http;
pub mod keys;
pub mod ring;
pub mod rpc;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use cocoon_ledger::ledger::Ledger;
use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tonlib_core::TonAddress;
use tracing::{info, warn};

use crate::common::admission::AdmissionLimits;
use crate::common::gate::PortGate;
use crate::common::ports::NodePorts;
use crate::common::stats::stats_router;
use ring::{Clock, KeyRing, Registrar};
use store::{KeyStore, StoreError};

/// Default schedule tick (the reference's runner alarm fires every 1–2 s).
pub const DEFAULT_TICK: Duration = Duration::from_secs(1);
/// Default wait after a failed registration.
pub const DEFAULT_REGISTRATION_RETRY: Duration = Duration::from_secs(10);

/// The image hashes the root allows, when no ledger gives the root config (fake TON).
#[derive(Debug, Clone, Default)]
pub struct RootHashes {
    pub proxy_hashes: Vec<[u8; 32]>,
    pub worker_hashes: Vec<[u8; 32]>,
}

/// How a key manager runs.
#[derive(Clone)]
pub struct KeyManagerSettings {
    /// `machine_specific_private_key`: signs the store's rows and the registrations.
    pub machine_key: SigningKey,
    /// `db_path`: the store's directory.
    pub db_path: PathBuf,
    /// Check callers' image hashes against the root (`check_hashes || !is_test`).
    pub check_hashes: bool,
    /// Hold the reference's fixed test key (`is_test && !check_hashes`: fake-TEE test mode).
    pub test_key: bool,
    /// Our own image hash (shown only).
    pub image_hash: [u8; 32],
    /// Our wallet (`owner_address`, as configured), shown in the stats.
    pub owner_address: String,
    /// The ledger keys are registered on and the root config read from; `None`: fake TON
    /// (nothing registered; the hash lists come from `local_root`).
    pub ledger: Option<Arc<dyn Ledger>>,
    /// The wallet registrations are sent from (needed with a ledger).
    pub wallet: Option<TonAddress>,
    /// The root's hash lists when there is no ledger.
    pub local_root: RootHashes,
    /// Schedule tick.
    pub tick: Duration,
    /// Wait after a failed registration.
    pub registration_retry: Duration,
    /// Pre-handshake caps and deadline of the RPC port.
    pub admission: AdmissionLimits,
    /// Our TEE, for the stats page (e.g. "fake (simulated)").
    pub tee_label: String,
    /// Unix time (the system clock; tests inject their own).
    pub clock: Clock,
}

impl std::fmt::Debug for KeyManagerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyManagerSettings")
            .field("db_path", &self.db_path)
            .field("check_hashes", &self.check_hashes)
            .field("test_key", &self.test_key)
            .field("ledger", &self.ledger.as_ref().map(|l| l.network()))
            .finish_non_exhaustive()
    }
}

impl KeyManagerSettings {
    /// Settings with the defaults (system clock, 1 s tick, 10 s retry).
    pub fn new(machine_key: SigningKey, db_path: PathBuf) -> Self {
        KeyManagerSettings {
            machine_key,
            db_path,
            check_hashes: true,
            test_key: false,
            image_hash: [0; 32],
            owner_address: String::new(),
            ledger: None,
            wallet: None,
            local_root: RootHashes::default(),
            tick: DEFAULT_TICK,
            registration_retry: DEFAULT_REGISTRATION_RETRY,
            admission: AdmissionLimits::default(),
            tee_label: String::new(),
            clock: ring::system_clock(),
        }
    }
}

/// Query counters of the RPC port.
#[derive(Debug, Default)]
pub struct KmCounters {
    pub served: AtomicU64,
    pub refused: AtomicU64,
    pub unknown: AtomicU64,
}

/// State shared by the key manager's tasks.
#[derive(Debug)]
pub struct KeyManagerShared {
    pub settings: KeyManagerSettings,
    pub ring: KeyRing,
    pub counters: KmCounters,
}

impl KeyManagerShared {
    /// Opens the store and builds the ring (blocking).
    pub fn open(settings: KeyManagerSettings) -> Result<Arc<Self>, KeyManagerError> {
        let (store, stored) = KeyStore::open(&settings.db_path, settings.machine_key.clone())?;
        let registrar = match (&settings.ledger, &settings.wallet) {
            (Some(ledger), Some(wallet)) => Some(Registrar {
                ledger: ledger.clone(),
                wallet: wallet.clone(),
                machine_key: settings.machine_key.clone(),
                retry: settings.registration_retry,
            }),
            (Some(_), None) => {
                return Err(KeyManagerError::Config(
                    "a ledger needs the wallet registrations are sent from (owner_address)".into(),
                ))
            }
            (None, _) => None,
        };
        info!(db = %settings.db_path.display(), stored_keys = stored.keys.len(),
            test_key = settings.test_key, "key store opened");
        let ring = KeyRing::new(
            store,
            stored,
            registrar,
            settings.clock.clone(),
            settings.test_key,
        );
        Ok(Arc::new(KeyManagerShared {
            settings,
            ring,
            counters: KmCounters::default(),
        }))
    }

    /// Whether the root allows `image_hash` for `caller` (the ledger's root config when
    /// there is a ledger — refused when it cannot be read — else the local root's lists).
    pub fn root_allows(&self, caller: rpc::Caller, image_hash: &[u8; 32]) -> bool {
        match &self.settings.ledger {
            Some(ledger) => match ledger.root_config() {
                Ok(root) => match caller {
                    rpc::Caller::Proxy => root.allows_proxy_hash(image_hash),
                    rpc::Caller::Worker => root.allows_worker_hash(image_hash),
                },
                Err(e) => {
                    warn!(error = %e, "root config unreadable; refusing the key query");
                    false
                }
            },
            None => {
                let list = match caller {
                    rpc::Caller::Proxy => &self.settings.local_root.proxy_hashes,
                    rpc::Caller::Worker => &self.settings.local_root.worker_hashes,
                };
                list.contains(image_hash)
            }
        }
    }
}

/// Why a key manager could not start.
#[derive(Debug, thiserror::Error)]
pub enum KeyManagerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("key manager config: {0}")]
    Config(String),
    #[error("key manager: {0}")]
    Io(#[from] std::io::Error),
}

/// A running key manager; dropping it stops every task.
#[derive(Debug)]
pub struct KeyManagerHandle {
    pub shared: Arc<KeyManagerShared>,
    /// Where the RPC port listens.
    pub rpc_addr: SocketAddr,
    tasks: JoinSet<()>,
}

impl KeyManagerHandle {
    /// Waits until a task ends (they only end on a fatal error).
    pub async fn wait(mut self) {
        let _ = self.tasks.join_next().await;
    }
}

/// Starts a key manager: opens the store (one first schedule step before serving, so a
/// key exists), then serves the RPC port `rpc` through `gate`, the stats/admin `ports`, and
/// ticks the schedule.
pub async fn start(
    settings: KeyManagerSettings,
    gate: PortGate,
    rpc: TcpListener,
    ports: NodePorts,
) -> Result<KeyManagerHandle, KeyManagerError> {
    let rpc_addr = rpc.local_addr()?;
    let shared = tokio::task::spawn_blocking(move || {
        let shared = KeyManagerShared::open(settings)?;
        shared.ring.tick()?;
        Ok::<_, KeyManagerError>(shared)
    })
    .await
    .map_err(|e| KeyManagerError::Config(format!("start-up panicked: {e}")))??;
    let mut tasks = JoinSet::new();
    tasks.spawn(rpc::accept_loop(rpc, Arc::new(gate), shared.clone()));
    ports.spawn(
        &mut tasks,
        stats_router(shared.clone(), None),
        http::admin_routes(shared.clone()),
        ["key manager stats", "key manager admin"],
    );
    tasks.spawn(tick_loop(shared.clone()));
    Ok(KeyManagerHandle {
        shared,
        rpc_addr,
        tasks,
    })
}

/// One [`KeyRing::tick`] per interval, on the blocking pool (store and ledger calls).
async fn tick_loop(shared: Arc<KeyManagerShared>) {
    let mut ticker = tokio::time::interval(shared.settings.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let step = shared.clone();
        match tokio::task::spawn_blocking(move || step.ring.tick()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "key schedule step failed; retrying"),
            Err(e) => warn!(error = %e, "key schedule step panicked"),
        }
    }
}
