//! Root contract configuration (§6.8, April-2026 "V7" additions) and its params cell.
//!
//! [`RootParams::to_cell`] writes the params cell with the layout the reference contracts
//! carry in their init data (the codes included per mask), so contract addresses derived
//! from it follow the reference derivation. [`RootConfig::devnet_default`] gives the values
//! the reference's fake-TON mode hard-codes (price 2, worker fee 1, close delays 600/300 s,
//! minimum stakes 1 TON, multipliers 1.0×), used by the **devnet** ledger.

use std::sync::Arc;

use tonlib_core::cell::{Cell, CellBuilder};

use crate::accounting::{Multipliers, NanoTon, PriceError, Prices, ONE_TON};
use crate::boc::{self, BocError};

/// Params-cell mask bit: include the proxy contract code.
pub const CODE_MASK_PROXY: u8 = 1;
/// Params-cell mask bit: include the worker contract code.
pub const CODE_MASK_WORKER: u8 = 2;
/// Params-cell mask bit: include the client contract code.
pub const CODE_MASK_CLIENT: u8 = 4;

/// Contract code cells the root publishes.
#[derive(Clone, Debug)]
pub struct ContractCodes {
    /// Proxy contract code.
    pub proxy: Arc<Cell>,
    /// Worker contract code.
    pub worker: Arc<Cell>,
    /// Client contract code.
    pub client: Arc<Cell>,
}

/// The root's `params` cell fields.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RootParams {
    /// Layout version (≤ 5; multipliers need ≥ 2/3, stakes ≥ 1).
    pub struct_version: u8,
    /// Bumping it re-creates every payment contract.
    pub params_version: u32,
    /// Network-unique id.
    pub unique_id: u32,
    /// Test network flag.
    pub is_test: bool,
    /// nanoTON a client pays per adjusted token.
    pub price_per_token: u64,
    /// nanoTON a worker earns per adjusted token.
    pub worker_fee_per_token: u64,
    /// Per-category multipliers.
    pub multipliers: Multipliers,
    /// Seconds a closing proxy waits.
    pub proxy_delay_before_close: u32,
    /// Seconds a closing client waits.
    pub client_delay_before_close: u32,
    /// Minimum proxy stake.
    pub min_proxy_stake: NanoTon,
    /// Minimum client stake.
    pub min_client_stake: NanoTon,
}

impl RootParams {
    /// Validated prices.
    pub fn prices(&self) -> Result<Prices, PriceError> {
        Prices::new(self.price_per_token, self.worker_fee_per_token)
    }

    /// Serialises the params cell including the codes selected by `mask`
    /// (proxy contract: worker + client = 6; worker/client contracts: 0; root: 7).
    pub fn to_cell(&self, codes: &ContractCodes, mask: u8) -> Result<Cell, BocError> {
        let sv = self.struct_version;
        let mut b = CellBuilder::new();
        b.store_u8(8, sv)?;
        b.store_u32(32, self.params_version)?;
        b.store_u32(32, self.unique_id)?;
        b.store_bit(self.is_test)?;
        boc::store_coins(&mut b, NanoTon::from(self.price_per_token))?;
        boc::store_coins(&mut b, NanoTon::from(self.worker_fee_per_token))?;
        let m = &self.multipliers;
        if sv >= 3 {
            b.store_u32(32, m.prompt)?;
        }
        if sv >= 2 {
            b.store_u32(32, m.cached)?;
        }
        if sv >= 3 {
            b.store_u32(32, m.completion)?;
        }
        if sv >= 2 {
            b.store_u32(32, m.reasoning)?;
        }
        b.store_u32(32, self.proxy_delay_before_close)?;
        b.store_u32(32, self.client_delay_before_close)?;
        if sv >= 1 {
            boc::store_coins(&mut b, self.min_proxy_stake)?;
            boc::store_coins(&mut b, self.min_client_stake)?;
        }
        for (bit, code) in [
            (CODE_MASK_PROXY, &codes.proxy),
            (CODE_MASK_WORKER, &codes.worker),
            (CODE_MASK_CLIENT, &codes.client),
        ] {
            if mask & bit != 0 {
                b.store_bit(true)?;
                b.store_reference(code)?;
            } else {
                b.store_bit(false)?;
            }
        }
        Ok(b.build()?)
    }
}

/// A proxy registered in the root: its worker-facing and client-facing `ip:port`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegisteredProxy {
    /// Registration number.
    pub seqno: u32,
    /// Address workers connect to.
    pub worker_address: String,
    /// Address clients connect to.
    pub client_address: String,
}

/// A key registered by the key manager (V7).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegisteredPublicKey {
    /// Ed25519 public key.
    pub public_key: [u8; 32],
    /// Key type.
    pub key_type: u8,
    /// Unix expiry time.
    pub expire_at: u32,
}

/// The whole root configuration as the nodes see it (`rootConfig.configV7` content).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RootConfig {
    /// Bumps when any field changes.
    pub version: u32,
    /// Contract parameters.
    pub params: RootParams,
    /// Allowed proxy image hashes (sorted).
    pub proxy_hashes: Vec<[u8; 32]>,
    /// Allowed worker image hashes (sorted).
    pub worker_hashes: Vec<[u8; 32]>,
    /// Allowed model hashes (sorted).
    pub model_hashes: Vec<[u8; 32]>,
    /// Registered proxies.
    pub registered_proxies: Vec<RegisteredProxy>,
    /// Highest proxy registration number.
    pub last_proxy_seqno: u32,
    /// Keys registered by the key manager.
    pub registered_public_keys: Vec<RegisteredPublicKey>,
    /// Key manager `ip:port`, if any.
    pub key_manager_address: Option<String>,
    /// The key manager's public key (its `machine_specific_private_key`): the root accepts
    /// `root_add_public_key_signed` only with its signature. All zero: none set (the devnet
    /// then takes any signer; the reference's fake-TON root leaves it zero too).
    #[serde(default)]
    pub key_manager_public_key: [u8; 32],
    /// The image hash a key manager must attest (`key_manager_image_hash`); proxies and
    /// workers that check image hashes refuse any other. All zero: none set (the
    /// reference's fake-TON loader leaves it zero).
    #[serde(default)]
    pub key_manager_image_hash: [u8; 32],
}

impl RootConfig {
    /// The devnet defaults (the reference fake-TON values; struct version 5).
    pub fn devnet_default() -> RootConfig {
        RootConfig {
            version: 3,
            params: RootParams {
                struct_version: 5,
                params_version: 1,
                unique_id: 13,
                is_test: true,
                price_per_token: 2,
                worker_fee_per_token: 1,
                multipliers: Multipliers::default(),
                proxy_delay_before_close: 600,
                client_delay_before_close: 300,
                min_proxy_stake: ONE_TON,
                min_client_stake: ONE_TON,
            },
            proxy_hashes: Vec::new(),
            worker_hashes: Vec::new(),
            model_hashes: Vec::new(),
            registered_proxies: Vec::new(),
            last_proxy_seqno: 0,
            registered_public_keys: Vec::new(),
            key_manager_address: None,
            key_manager_public_key: [0; 32],
            key_manager_image_hash: [0; 32],
        }
    }
    /// Whether a proxy image hash is allowed.
    pub fn allows_proxy_hash(&self, hash: &[u8; 32]) -> bool {
        self.proxy_hashes.contains(hash)
    }
    /// Whether a worker image hash is allowed.
    pub fn allows_worker_hash(&self, hash: &[u8; 32]) -> bool {
        self.worker_hashes.contains(hash)
    }
    /// Whether a model hash is allowed.
    pub fn allows_model_hash(&self, hash: &[u8; 32]) -> bool {
        self.model_hashes.contains(hash)
    }
}
