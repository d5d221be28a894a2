//! `rootConfig.pseudo`: the local (fake-TON) root contract config of `--disable-ton`
//! (runners.md §6.10; April 2026 fields of delta §1.2 and §3.7).

use std::net::SocketAddrV4;
use std::path::Path;

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
