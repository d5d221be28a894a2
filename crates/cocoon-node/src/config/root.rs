//! `rootConfig.pseudo`: the local (fake-TON) root contract config of `--disable-ton`
//! (runners.md §6.10; April 2026 fields of delta §1.2 and §3.7).

use std::net::SocketAddrV4;
use std::path::Path;
use std::sync::Arc;

use cocoon_ledger::ledger::ContractContext;
use cocoon_ledger::root_config::ContractCodes;
use tonlib_core::cell::Cell;

use sha2::{Digest, Sha256};

use super::tl_json::{invalid, ipv4_socket_addr, parse_object, ObjectReader};
use super::{load_file, ConfigError, Int256};

/// Keys of the reference's shipped `spec/fake-ton/fake-ton-config.json` that are not schema
/// fields; the reference ignores them (runners.md §13.20), so do we.
const ROOT_IGNORED_KEYS: &[&str] = &["model_names"];
const PROXY_ENTRY_IGNORED_KEYS: &[&str] = &["proxy_hash"];

/// A registered proxy: `seqno` and its address string `"<ip:port for workers> <ip:port for
/// clients>"` (one address serves both when there is no space).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredProxy {
    /// Registration sequence number.
    pub seqno: i32,
    /// The address string as written in the file.
    pub address: String,
    /// Where workers connect.
    pub address_for_workers: SocketAddrV4,
    /// Where clients connect.
    pub address_for_clients: SocketAddrV4,
}

/// A public key registered by the key manager (April 2026).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredPublicKey {
    /// Ed25519 public key.
    pub public_key: Int256,
    /// Key type (1 = auto-rotated request key; other values undefined, delta §8.4).
    pub key_type: i32,
    /// Unix expiry time.
    pub expire_at: i32,
}

/// `rootConfig.pseudo`: what the fake-TON mode uses instead of the on-chain root contract.
///
/// Fields that the pseudo config does not carry are fixed by the reference's loader and exposed
/// as constants ([`Self::STRUCT_VERSION`] and friends).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalRootConfig {
    /// Accepted proxy image hashes (base64 in the file).
    pub proxy_hashes: Vec<Int256>,
    /// Accepted worker image hashes.
    pub worker_hashes: Vec<Int256>,
    /// Accepted model hashes as given.
    pub model_hashes: Vec<Int256>,
    /// Model names whose hash (`sha256` of the name up to `@`) is also accepted; see
    /// [`Self::accepted_model_hashes`].
    pub model_types: Vec<String>,
    /// Registered proxies.
    pub registered_proxies: Vec<RegisteredProxy>,
    /// Client price per adjusted token, nanoTON.
    pub price_per_token: i32,
    /// Worker fee per adjusted token, nanoTON.
    pub worker_fee_per_token: i32,
    /// Last proxy registration seqno.
    pub last_proxy_seqno: i32,
    /// Config version (a bump means a new config).
    pub version: i32,
    /// Params version (a bump re-creates payment contracts).
    pub params_version: i32,
    /// Key-manager public keys (April 2026).
    pub registered_public_keys: Vec<RegisteredPublicKey>,
    /// Key manager address (April 2026); `None` when empty.
    pub key_manager_address: Option<SocketAddrV4>,
    /// Proxy contract code, BoC bytes (hex in the file); empty = the reference's empty cell.
    pub proxy_sc_code: Vec<u8>,
    /// Worker contract code, BoC bytes; empty = empty cell.
    pub worker_sc_code: Vec<u8>,
    /// Client contract code, BoC bytes; empty = empty cell.
    pub client_sc_code: Vec<u8>,
    /// Root owner address string.
    pub root_owner_address: String,
    /// Non-schema keys that were present and ignored (see the module doc).
    pub ignored_keys: Vec<String>,
}

impl LocalRootConfig {
    /// TL constructor name.
    pub const TL_NAME: &'static str = "rootConfig.pseudo";
    /// Params struct version the reference's pseudo loader sets.
    pub const STRUCT_VERSION: u8 = 1;
    /// Unique id the reference's pseudo loader sets.
    pub const UNIQUE_ID: u32 = 13;
    /// The pseudo root is always a test root.
    pub const IS_TEST: bool = true;
    /// Proxy close delay, seconds.
    pub const PROXY_DELAY_BEFORE_CLOSE: u32 = 600;
    /// Client close delay, seconds.
    pub const CLIENT_DELAY_BEFORE_CLOSE: u32 = 300;
    /// Minimum proxy stake, nanoTON (1 TON).
    pub const MIN_PROXY_STAKE: u64 = 1_000_000_000;
    /// Minimum client stake, nanoTON (1 TON).
    pub const MIN_CLIENT_STAKE: u64 = 1_000_000_000;
    /// All four price multipliers (10000 = 1.0×).
    pub const PRICE_MULTIPLIER: i32 = 10_000;

    /// Reads and decodes a config file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        load_file(path.as_ref(), Self::from_json_str)
    }

    /// Decodes config text, including the checks the reference's loader makes (proxy and
    /// key-manager addresses parse as IPv4 `ip:port`, contract codes are hex).
    pub fn from_json_str(text: &str) -> Result<Self, ConfigError> {
        let mut r = ObjectReader::new(parse_object(text)?, String::new(), Self::TL_NAME);
        r.type_tag(Self::TL_NAME)?;
        let proxy_hashes = r.int256_vec("proxy_hashes")?;
        let worker_hashes = r.int256_vec("worker_hashes")?;
        let model_hashes = r.int256_vec("model_hashes")?;
        let model_types = r.string_vec("model_types")?;
        let mut ignored_keys = Vec::new();
        let mut registered_proxies = Vec::new();
        for mut entry in r.object_vec("registered_proxies", "rootConfig.registeredProxy")? {
            let seqno = entry.int32("seqno")?;
            let address = entry.string("address")?;
            let field = format!("registered_proxies[{}].address", registered_proxies.len());
            let (workers, clients) = match address.split_once(' ') {
                None => {
                    let a = ipv4_socket_addr(&field, &address)?;
                    (a, a)
                }
                Some((w, c)) => (ipv4_socket_addr(&field, w)?, ipv4_socket_addr(&field, c)?),
            };
            ignored_keys.extend(entry.finish(PROXY_ENTRY_IGNORED_KEYS)?);
            registered_proxies.push(RegisteredProxy {
                seqno,
                address,
                address_for_workers: workers,
                address_for_clients: clients,
            });
        }
        let price_per_token = r.int32("price_per_token")?;
        let worker_fee_per_token = r.int32("worker_fee_per_token")?;
        let last_proxy_seqno = r.int32("last_proxy_seqno")?;
        let version = r.int32("version")?;
        let params_version = r.int32("params_version")?;
        let mut registered_public_keys = Vec::new();
        for mut entry in r.object_vec("registered_public_keys", "rootConfig.registeredPublicKey")? {
            let key = RegisteredPublicKey {
                public_key: entry.int256("public_key")?,
                key_type: entry.int32("key_type")?,
                expire_at: entry.int32("expire_at")?,
            };
            entry.finish(&[])?;
            registered_public_keys.push(key);
        }
        let key_manager_address = match r.string("key_manager_address")? {
            s if s.is_empty() => None,
            s => Some(ipv4_socket_addr("key_manager_address", &s)?),
        };
        let proxy_sc_code = hex_code("proxy_sc_code", r.string("proxy_sc_code")?)?;
        let worker_sc_code = hex_code("worker_sc_code", r.string("worker_sc_code")?)?;
        let client_sc_code = hex_code("client_sc_code", r.string("client_sc_code")?)?;
        let root_owner_address = r.string("root_owner_address")?;
        let mut top_ignored = r.finish(ROOT_IGNORED_KEYS)?;
        top_ignored.extend(ignored_keys);
        Ok(LocalRootConfig {
            proxy_hashes,
            worker_hashes,
            model_hashes,
            model_types,
            registered_proxies,
            price_per_token,
            worker_fee_per_token,
            last_proxy_seqno,
            version,
            params_version,
            registered_public_keys,
            key_manager_address,
            proxy_sc_code,
            worker_sc_code,
            client_sc_code,
            root_owner_address,
            ignored_keys: top_ignored,
        })
    }

    /// The accepted model hashes as the reference's pseudo loader computes them: `model_hashes`
    /// plus `sha256(name up to '@')` of each `model_types` entry, sorted. (The real on-chain check
    /// hashes the full model string; runners.md §13.20 notes the mismatch.)
    pub fn accepted_model_hashes(&self) -> Vec<Int256> {
        let mut all = self.model_hashes.clone();
        for name in &self.model_types {
            let base = super::runners::model_base_name(name);
            all.push(Int256(Sha256::digest(base.as_bytes()).into()));
        }
        all.sort();
        all
    }
}

impl LocalRootConfig {
    /// The root config a node uses, built from the root contract state read from TON
    /// (`config` as parsed from the chain, the root `owner` address string, and the proxy,
    /// worker and client contract code BoCs it publishes, empty when absent).
    /// Fields the pseudo config cannot express (struct version, multipliers, delays, stakes)
    /// stay with the ledger, which serves the chain's values itself. Fails when a value
    /// does not fit the pseudo config's types (a price above `i32::MAX`, a proxy or key
    /// manager address that is not IPv4 `ip:port`).
    pub fn from_chain_root(
        config: &cocoon_ledger::root_config::RootConfig,
        owner: &str,
        [proxy_sc_code, worker_sc_code, client_sc_code]: [Vec<u8>; 3],
    ) -> Result<Self, ConfigError> {
        let int32 = |field: &str, v: u64| {
            i32::try_from(v).map_err(|_| invalid(field, format!("{v} does not fit 32 bits")))
        };
        let mut registered_proxies = Vec::with_capacity(config.registered_proxies.len());
        for (i, p) in config.registered_proxies.iter().enumerate() {
            let field = format!("registered_proxies[{i}]");
            registered_proxies.push(RegisteredProxy {
                seqno: int32(&field, p.seqno.into())?,
                address: if p.worker_address == p.client_address {
                    p.worker_address.clone()
                } else {
                    format!("{} {}", p.worker_address, p.client_address)
                },
                address_for_workers: ipv4_socket_addr(&field, &p.worker_address)?,
                address_for_clients: ipv4_socket_addr(&field, &p.client_address)?,
            });
        }
        let registered_public_keys = registered_keys_from_chain(&config.registered_public_keys)?;
        let key_manager_address = match config.key_manager_address.as_deref() {
            None | Some("") => None,
            Some(a) => Some(ipv4_socket_addr("key_manager_address", a)?),
        };
        let hashes = |v: &[[u8; 32]]| v.iter().map(|h| Int256(*h)).collect();
        Ok(LocalRootConfig {
            proxy_hashes: hashes(&config.proxy_hashes),
            worker_hashes: hashes(&config.worker_hashes),
            model_hashes: hashes(&config.model_hashes),
            model_types: Vec::new(),
            registered_proxies,
            price_per_token: int32("price_per_token", config.params.price_per_token)?,
            worker_fee_per_token: int32(
                "worker_fee_per_token",
                config.params.worker_fee_per_token,
            )?,
            last_proxy_seqno: int32("last_proxy_seqno", config.last_proxy_seqno.into())?,
            version: int32("version", config.version.into())?,
            params_version: int32("params_version", config.params.params_version.into())?,
            registered_public_keys,
            key_manager_address,
            proxy_sc_code,
            worker_sc_code,
            client_sc_code,
            root_owner_address: owner.to_string(),
            ignored_keys: Vec::new(),
        })
    }
}

impl LocalRootConfig {
    /// The context the payment contracts of this (fake-TON) root are derived in, as the
    /// reference's pseudo loader sets it up (runners.md §6.10): the root `root_address`
    /// (empty or unparsable: the devnet root), the hard-coded params with this file's
    /// prices and params version, and this file's contract codes (an empty code is an empty
    /// cell). Reference peers derive the same addresses from the same file, so vouchers
    /// interoperate.
    pub fn contract_context(&self, root_address: &str) -> Result<ContractContext, ConfigError> {
        let code = |field: &str, boc: &[u8]| -> Result<Arc<Cell>, ConfigError> {
            if boc.is_empty() {
                return Ok(Arc::new(Cell::default()));
            }
            cocoon_ledger::boc::parse_single_root(boc, MAX_CODE_BOC, MAX_CODE_CELLS)
                .map_err(|e| invalid(field, format!("contract code BoC: {e}")))
        };
        let codes = ContractCodes {
            proxy: code("proxy_sc_code", &self.proxy_sc_code)?,
            worker: code("worker_sc_code", &self.worker_sc_code)?,
            client: code("client_sc_code", &self.client_sc_code)?,
        };
        let price = |field: &str, v: i32| {
            u64::try_from(v).map_err(|_| invalid(field, format!("{v} is negative")))
        };
        let mut params = cocoon_ledger::root_config::RootConfig::devnet_default().params;
        params.struct_version = Self::STRUCT_VERSION;
        params.unique_id = Self::UNIQUE_ID;
        params.is_test = Self::IS_TEST;
        params.price_per_token = price("price_per_token", self.price_per_token)?;
        params.worker_fee_per_token = price("worker_fee_per_token", self.worker_fee_per_token)?;
        params.params_version = u32::try_from(self.params_version)
            .map_err(|_| invalid("params_version", "negative".to_string()))?;
        params.proxy_delay_before_close = Self::PROXY_DELAY_BEFORE_CLOSE;
        params.client_delay_before_close = Self::CLIENT_DELAY_BEFORE_CLOSE;
        params.min_proxy_stake = Self::MIN_PROXY_STAKE.into();
        params.min_client_stake = Self::MIN_CLIENT_STAKE.into();
        let root = cocoon_ledger::address::parse_address(root_address)
            .map(|a| a.address)
            .unwrap_or_else(|_| cocoon_ledger::ledger::devnet::devnet_root_address());
        Ok(ContractContext {
            root,
            params,
            codes,
        })
    }
}

/// Largest contract code BoC accepted from a root config file.
const MAX_CODE_BOC: usize = 1 << 20;
/// Most cells in one contract code.
const MAX_CODE_CELLS: usize = 1 << 16;

/// The root contract's registered request keys (the ledger's model) as the node config holds
/// them. Fails when an expiry does not fit the config's 32 bits (after 2038).
pub fn registered_keys_from_chain(
    keys: &[cocoon_ledger::root_config::RegisteredPublicKey],
) -> Result<Vec<RegisteredPublicKey>, ConfigError> {
    keys.iter()
        .map(|k| {
            Ok(RegisteredPublicKey {
                public_key: Int256(k.public_key),
                key_type: i32::from(k.key_type),
                expire_at: i32::try_from(k.expire_at).map_err(|_| {
                    invalid(
                        "registered_public_keys.expire_at",
                        format!("{} does not fit 32 bits", k.expire_at),
                    )
                })?,
            })
        })
        .collect()
}

fn hex_code(field: &str, s: String) -> Result<Vec<u8>, ConfigError> {
    hex::decode(&s).map_err(|e| {
        let hint = if s.contains('$') {
            " (an unsubstituted template variable?)"
        } else {
            ""
        };
        invalid(field, format!("expected hex-encoded BoC: {e}{hint}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cocoon_ledger::root_config::RegisteredPublicKey as ChainKey;

    #[test]
    fn registered_keys_convert_and_an_expiry_past_32_bits_is_refused() {
        let key = |expire_at| ChainKey {
            public_key: [7; 32],
            key_type: 1,
            expire_at,
        };
        let keys = registered_keys_from_chain(&[key(1_900_000_000)]).unwrap();
        assert_eq!(
            keys,
            vec![RegisteredPublicKey {
                public_key: Int256([7; 32]),
                key_type: 1,
                expire_at: 1_900_000_000,
            }]
        );
        let e = registered_keys_from_chain(&[key(u32::MAX)]).unwrap_err();
        assert!(e.to_string().contains("does not fit 32 bits"), "{e}");
    }
}
