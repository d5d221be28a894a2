//! What the proxy role needs to know, gathered from the proxy config file and
//! the (fake-TON) root config, so the role itself never reads files.

use std::sync::Arc;
use std::time::Duration;

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::ledger::{ContractContext, Ledger};
use cocoon_ledger::root_config::RootConfig;

use sha2::{Digest, Sha256};

use super::admission::AdmissionLimits;
use super::registry::model_base_name;
use crate::common::km_client::KeyManagerSettings;
use crate::config::{LocalRootConfig, ProxyConfig};

/// Cadence and thresholds of the proxy's money loop (runners.md §6.5, §8). Only used with a
/// ledger. The defaults are the **devnet** ones: short intervals and 1-nanoTON thresholds, so
/// money moves within seconds of a request (the reference waits for 1 TON of client charges
/// and 10 TON of worker payouts or commission, and saves state every 30–60 s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneySettings {
    /// How often changed counters are flushed to the books (one fsync'd commit each).
    pub flush_interval: Duration,
    /// How often the latest commit is sent on chain as `save_state(seqno, session_hash)`.
    pub save_state_interval: Duration,
    /// How often charges, payouts and the commission are checked.
    pub check_interval: Duration,
    /// How old a client contract view may be when a request reserves against it.
    pub client_view_max_age: Duration,
    /// Charge a client contract once `(committed − charged) × price` reaches this (nanoTON).
    pub client_charge_threshold: NanoTon,
    /// Pay a worker once `(committed − paid) × worker_fee` reaches this (nanoTON).
    pub worker_payout_threshold: NanoTon,
    /// Withdraw the commission once the contract holds this much (nanoTON).
    pub commission_payout_threshold: NanoTon,
}

impl MoneySettings {
    /// Devnet defaults (see the type doc).
    pub fn devnet() -> Self {
        MoneySettings {
            flush_interval: Duration::from_secs(1),
            save_state_interval: Duration::from_secs(2),
            check_interval: Duration::from_secs(1),
            client_view_max_age: Duration::from_secs(1),
            client_charge_threshold: 1,
            worker_payout_threshold: 1,
            commission_payout_threshold: 1,
        }
    }
}

impl Default for MoneySettings {
    fn default() -> Self {
        Self::devnet()
    }
}

/// Default [`ProxySettings::worker_silence_limit`]: a hung worker is out of
/// selection at most 6 s after its last frame (ping after 2 s of quiet).
pub const DEFAULT_WORKER_SILENCE_LIMIT: Duration = Duration::from_secs(6);
/// Default [`ProxySettings::stream_stall_limit`].
pub const DEFAULT_STREAM_STALL_LIMIT: Duration = Duration::from_secs(30);

/// Settings of one proxy.
#[derive(Clone)]
pub struct ProxySettings {
    /// Test network (`is_test`): must equal the peers' `is_test`.
    pub is_test: bool,
    /// TON testnet (`is_testnet`): the testnet flag of every address we send.
    pub is_testnet: bool,
    /// Our owner address (sent in `proxy.params`).
    pub owner_address: String,
    /// Our proxy contract address (sent in `proxy.params`). When empty, the proxy
    /// derives it in its contract context at start (see `payments`).
    pub proxy_sc_address: String,
    /// Ed25519 public key of `machine_specific_private_key`.
    pub public_key: [u8; 32],
    /// `machine_specific_private_key`, which signs the payment vouchers; `None` (only
    /// [`ProxySettings::fake_ton`]) = vouchers are never signed.
    pub signing_key: Option<ed25519_dalek::SigningKey>,
    /// Directory of the durable payment books (`db_path`); `None` = in memory only.
    pub db_path: Option<std::path::PathBuf>,
    /// The active root config version (`min_config_version` checks).
    pub config_version: i32,
    /// Check worker image and model hashes against the root lists
    /// (`check_worker_hashes || !is_test`).
    pub check_worker_hashes: bool,
    /// Root config's allowed worker image hashes.
    pub worker_hashes: Vec<[u8; 32]>,
    /// Root config's allowed model hashes (sha256 of the full model string).
    pub model_hashes: Vec<[u8; 32]>,
    /// Secret hash of auto-registered clients in fake-TON mode: sha256("").
    pub client_secret_hash: [u8; 32],
    /// Root contract address (shown in stats).
    pub root_address: String,
    /// `?access_hash=` required by the stats pages; empty = open.
    pub http_access_hash: String,
    /// Time a client or worker gets to finish its handshake.
    pub handshake_timeout: Duration,
    /// Caps and deadline of each RPC port before the session is established (PoW, TLS,
    /// `tcp.connect`), see [`super::admission`].
    pub admission: AdmissionLimits,
    /// A worker link with no frame for this long is closed and its worker taken
    /// out of selection; the proxy pings a quiet worker link every third of it
    /// (a live worker answers at once). Requests on it that have no answer yet
    /// fail over to another worker.
    pub worker_silence_limit: Duration,
    /// A streamed answer that gets no part from its worker for this long ends
    /// with an error to the client (and a cancel to the worker).
    pub stream_stall_limit: Duration,
    /// Capacity of a running request's relay buffer (worker messages not yet
    /// forwarded to the client); overflowing it fails that request.
    pub relay_buffer: usize,
    /// The ledger money settles on (devnet: `--devnet-ledger`). `None`: no money moves,
    /// and commits count as on chain at once (fake-TON behaviour).
    pub ledger: Option<Arc<dyn Ledger>>,
    /// Cadence and thresholds of the money loop (with a ledger).
    pub money: MoneySettings,
    /// Where contract addresses are derived without a ledger: the fake-TON root config's
    /// codes and params and `root_address` (with a ledger, the ledger's context is used).
    pub contracts: ContractContext,
    /// The key-manager client (delta-2026-04 §3.6): where the root says the key manager is,
    /// how to dial it, how often to poll. `None`: no keys are fetched, and every encrypted
    /// request is refused with `unknown public key …`.
    pub key_manager: Option<KeyManagerSettings>,
}

impl std::fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxySettings")
            .field("is_test", &self.is_test)
            .field("is_testnet", &self.is_testnet)
            .field("owner_address", &self.owner_address)
            .field("proxy_sc_address", &self.proxy_sc_address)
            .field("public_key", &hex::encode(self.public_key))
            .field("db_path", &self.db_path)
            .field("config_version", &self.config_version)
            .field("check_worker_hashes", &self.check_worker_hashes)
            .field("root_address", &self.root_address)
            .field("ledger", &self.ledger.is_some())
            .field("money", &self.money)
            .field("admission", &self.admission)
            .field("key_manager", &self.key_manager)
            .finish_non_exhaustive()
    }
}

impl ProxySettings {
    /// Settings for a local fake-TON test network with the given key.
    pub fn fake_ton(public_key: [u8; 32], config_version: i32) -> Self {
        ProxySettings {
            is_test: true,
            is_testnet: false,
            owner_address: String::new(),
            proxy_sc_address: String::new(),
            public_key,
            signing_key: None,
            db_path: None,
            config_version,
            check_worker_hashes: false,
            worker_hashes: Vec::new(),
            model_hashes: Vec::new(),
            client_secret_hash: Sha256::digest(b"").into(),
            root_address: String::new(),
            http_access_hash: String::new(),
            handshake_timeout: Duration::from_secs(60),
            admission: AdmissionLimits::default(),
            worker_silence_limit: DEFAULT_WORKER_SILENCE_LIMIT,
            stream_stall_limit: DEFAULT_STREAM_STALL_LIMIT,
            relay_buffer: 256,
            ledger: None,
            money: MoneySettings::devnet(),
            contracts: ContractContext::devnet(RootConfig::devnet_default().params)
                .expect("the devnet placeholder codes are constant and build"),
            key_manager: None,
        }
    }

    /// [`ProxySettings::fake_ton`] with a signing key (vouchers signed) and an owner.
    pub fn fake_ton_signing(
        key: ed25519_dalek::SigningKey,
        owner_address: &str,
        config_version: i32,
    ) -> Self {
        ProxySettings {
            owner_address: owner_address.to_owned(),
            ..ProxySettings::fake_ton(key.verifying_key().to_bytes(), config_version)
        }
        .with_signing_key(key)
    }

    fn with_signing_key(mut self, key: ed25519_dalek::SigningKey) -> Self {
        self.public_key = key.verifying_key().to_bytes();
        self.signing_key = Some(key);
        self
    }

    /// Settings from the proxy config file and the fake-TON root config
    /// (`--disable-ton`). The root's `version` is the active config version;
    /// hash checking is on when `check_worker_hashes || !is_test`. Fails when the root
    /// config's contract codes or prices cannot form a contract context.
    pub fn from_configs(cfg: &ProxyConfig, root: &LocalRootConfig) -> Result<Self, String> {
        let signing = ed25519_dalek::SigningKey::from_bytes(&cfg.machine_specific_private_key.0);
        let contracts = root
            .contract_context(&cfg.root_contract_address)
            .map_err(|e| format!("root config: {e}"))?;
        Ok(ProxySettings {
            is_test: cfg.is_test,
            is_testnet: cfg.is_testnet,
            owner_address: cfg.owner_address.clone(),
            check_worker_hashes: cfg.check_worker_hashes || !cfg.is_test,
            worker_hashes: root.worker_hashes.iter().map(|h| h.0).collect(),
            model_hashes: root.accepted_model_hashes().iter().map(|h| h.0).collect(),
            root_address: cfg.root_contract_address.clone(),
            http_access_hash: cfg.http_access_hash.clone(),
            db_path: (!cfg.db_path.is_empty()).then(|| cfg.db_path.clone().into()),
            contracts,
            ..ProxySettings::fake_ton(signing.verifying_key().to_bytes(), root.version)
        }
        .with_signing_key(signing))
    }

    /// Whether a worker with this image hash and full model string may serve
    /// (only checked when hash checking is on). The model hash may be of the
    /// full string (as the reference's real check) or of the base name (as its
    /// fake-TON `model_types`, runners.md §13.20).
    pub fn worker_allowed(&self, image_hash: &[u8; 32], model: &str) -> Result<(), String> {
        if !self.check_worker_hashes {
            return Ok(());
        }
        if !self.worker_hashes.contains(image_hash) {
            return Err(format!(
                "worker image hash {} is not allowed",
                hex::encode(image_hash)
            ));
        }
        let full: [u8; 32] = Sha256::digest(model.as_bytes()).into();
        let base: [u8; 32] = Sha256::digest(model_base_name(model).as_bytes()).into();
        if !self.model_hashes.contains(&full) && !self.model_hashes.contains(&base) {
            return Err(format!("model {model} is not allowed"));
        }
        Ok(())
    }
}
