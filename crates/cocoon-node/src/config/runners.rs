//! The runner configs: `clientRunner.config`, `proxyRunner.config`, `workerRunner.config` and
//! `keyStorageRunner.config` of `cocoon_api.tl` at 9060ce5 (runners.md §10, delta §1.2, §5).

use std::net::SocketAddrV4;
use std::path::Path;

use super::tl_json::{invalid, ipv4_socket_addr, parse_object, ObjectReader};
use super::{load_file, ConfigError, Int256, SecretKeySeed, SecretString};

/// Keys the reference's shipped `client-config.json` carries that are not schema fields
/// (runners.md §10); the reference ignores them, so do we.
const CLIENT_IGNORED_KEYS: &[&str] = &["rpc_port", "max_coefficient", "max_tokens"];
/// Same for the shipped `worker-config.json`.
const WORKER_IGNORED_KEYS: &[&str] = &["rpc_port"];

/// The worker's concurrency cap when the config gives none (`max_active_requests <= 0`).
pub const DEFAULT_MAX_ACTIVE_REQUESTS: u32 = 200;

fn optional_ipv4(field: &str, s: String) -> Result<Option<SocketAddrV4>, ConfigError> {
    if s.is_empty() {
        Ok(None)
    } else {
        ipv4_socket_addr(field, &s).map(Some)
    }
}

/// `clientRunner.config` (reference file `spec/spec-client/client-config.json`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientConfig {
    /// Test mode: allows unattested (fake-TEE) proxies unless `check_proxy_hashes`.
    pub is_test: bool,
    /// TON testnet addresses and network.
    pub is_testnet: bool,
    /// Stats/OpenAI HTTP port; 0 = no HTTP server (the reference's spec uses 10000).
    pub http_port: u16,
    /// Owner of the client's cocoon wallet.
    pub owner_address: String,
    /// Number of proxies to keep connections to.
    pub proxy_connections: i32,
    /// Router SOCKS5 address; `None` = direct PoW + RA-TLS to the proxy.
    pub connect_to_proxy_via: Option<SocketAddrV4>,
    /// Root contract address.
    pub root_contract_address: String,
    /// Ed25519 seed of the cocoon wallet.
    pub node_wallet_key: SecretKeySeed,
    /// Verify proxy image hashes (forced when `!is_test`, see [`Self::check_image_hashes`]).
    pub check_proxy_hashes: bool,
    /// Client secret; its sha256 goes into client contracts (Short auth).
    pub secret_string: SecretString,
    /// tonlib global config file; empty = the reference's default.
    pub ton_config_filename: String,
    /// The admin port's credential, also required by the stats pages when set; empty = a
    /// generated token guards the admin port and the stats are open (docs/security.md).
    pub http_access_hash: String,
    /// Non-schema keys that were present and ignored (see the module doc).
    pub ignored_keys: Vec<String>,
}

impl ClientConfig {
    /// TL constructor name.
    pub const TL_NAME: &'static str = "clientRunner.config";

    /// Reads and decodes a config file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        load_file(path.as_ref(), Self::from_json_str)
    }

    /// Decodes config text.
    pub fn from_json_str(text: &str) -> Result<Self, ConfigError> {
        let mut r = ObjectReader::new(parse_object(text)?, String::new(), Self::TL_NAME);
        r.type_tag(Self::TL_NAME)?;
        let mut c = ClientConfig {
            is_test: r.boolean("is_test")?,
            is_testnet: r.boolean("is_testnet")?,
            http_port: r.port("http_port")?,
            owner_address: r.string("owner_address")?,
            proxy_connections: r.int32("proxy_connections")?,
            connect_to_proxy_via: None,
            root_contract_address: r.string("root_contract_address")?,
            node_wallet_key: r.secret_seed("node_wallet_key")?,
            check_proxy_hashes: r.boolean("check_proxy_hashes")?,
            secret_string: SecretString(r.string("secret_string")?),
            ton_config_filename: r.string("ton_config_filename")?,
            http_access_hash: r.string("http_access_hash")?,
            ignored_keys: Vec::new(),
        };
        c.connect_to_proxy_via =
            optional_ipv4("connect_to_proxy_via", r.string("connect_to_proxy_via")?)?;
        c.ignored_keys = r.finish(CLIENT_IGNORED_KEYS)?;
        Ok(c)
    }

    /// Whether proxy image hashes are checked: `check_proxy_hashes || !is_test` (delta §5.5).
    pub fn check_image_hashes(&self) -> bool {
        self.check_proxy_hashes || !self.is_test
    }
}

/// `proxyRunner.config` (reference file `spec/spec-proxy/proxy-config.json`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxyConfig {
    /// Test mode; `false` forces worker hash checking.
    pub is_test: bool,
    /// TON testnet addresses and network.
    pub is_testnet: bool,
    /// Local port for worker connections (spec 11101); 0 = none.
    pub workers_rpc_port: u16,
    /// Local port for client connections (spec 11102); 0 = none.
    pub client_rpc_port: u16,
    /// Stats/control HTTP port (spec 11000); 0 = no HTTP server.
    pub http_port: u16,
    /// Proxy owner address.
    pub owner_address: String,
    /// SOCKS5 route for outbound connections (to the key manager), April 2026 field.
    pub connect_to_proxy_via: Option<SocketAddrV4>,
    /// Root contract address.
    pub root_contract_address: String,
    /// Ed25519 seed: payment signing, DB signing, proxy identity.
    pub machine_specific_private_key: SecretKeySeed,
    /// Ed25519 seed of the cocoon wallet.
    pub node_wallet_key: SecretKeySeed,
    /// tonlib global config file; empty = the reference's default.
    pub ton_config_filename: String,
    /// Database directory.
    pub db_path: String,
    /// Verify worker image and model hashes (forced when `!is_test`).
    pub check_worker_hashes: bool,
    /// Own image hash (display only).
    pub image_hash: Int256,
    /// The admin port's credential, also required by the stats pages when set; empty = a
    /// generated token guards the admin port and the stats are open (docs/security.md).
    pub http_access_hash: String,
    /// Non-schema keys that were present and ignored (none are known for this file).
    pub ignored_keys: Vec<String>,
}

impl ProxyConfig {
    /// TL constructor name.
    pub const TL_NAME: &'static str = "proxyRunner.config";

    /// Reads and decodes a config file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        load_file(path.as_ref(), Self::from_json_str)
    }

    /// Decodes config text.
    pub fn from_json_str(text: &str) -> Result<Self, ConfigError> {
        let mut r = ObjectReader::new(parse_object(text)?, String::new(), Self::TL_NAME);
        r.type_tag(Self::TL_NAME)?;
        let mut c = ProxyConfig {
            is_test: r.boolean("is_test")?,
            is_testnet: r.boolean("is_testnet")?,
            workers_rpc_port: r.port("workers_rpc_port")?,
            client_rpc_port: r.port("client_rpc_port")?,
            http_port: r.port("http_port")?,
            owner_address: r.string("owner_address")?,
            connect_to_proxy_via: None,
            root_contract_address: r.string("root_contract_address")?,
            machine_specific_private_key: r.secret_seed("machine_specific_private_key")?,
            node_wallet_key: r.secret_seed("node_wallet_key")?,
            ton_config_filename: r.string("ton_config_filename")?,
            db_path: r.string("db_path")?,
            check_worker_hashes: r.boolean("check_worker_hashes")?,
            image_hash: r.int256("image_hash")?,
            http_access_hash: r.string("http_access_hash")?,
            ignored_keys: Vec::new(),
        };
        c.connect_to_proxy_via =
            optional_ipv4("connect_to_proxy_via", r.string("connect_to_proxy_via")?)?;
        c.ignored_keys = r.finish(&[])?;
        Ok(c)
    }

    /// Whether worker image/model hashes are checked: `check_worker_hashes || !is_test`.
    pub fn check_image_hashes(&self) -> bool {
        self.check_worker_hashes || !self.is_test
    }
}

/// `workerRunner.config` (reference file `spec/spec-worker/worker-config.json`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkerConfig {
    /// Test mode; `false` forces proxy hash checking.
    pub is_test: bool,
    /// TON testnet addresses and network.
    pub is_testnet: bool,
    /// Stats/control HTTP port (spec 12000); 0 = no HTTP server.
    pub http_port: u16,
    /// Worker owner address (payouts).
    pub owner_address: String,
    /// Number of proxies to keep (also sent as `proxy_cnt`).
    pub proxy_connections: i32,
    /// Router SOCKS5 address. The reference worker requires it (it fails to start without);
    /// `None` here leaves that decision to the worker role.
    pub connect_to_proxy_via: Option<SocketAddrV4>,
    /// `"<HF name>@<commit>:<verity hash>"`; see [`Self::model_base_name`].
    pub model_name: String,
    /// Price coefficient, 1000 = 1.0×.
    pub coefficient: i32,
    /// Root contract address.
    pub root_contract_address: String,
    /// Ed25519 seed of the cocoon wallet.
    pub node_wallet_key: SecretKeySeed,
    /// Inference backend `host:port` (spec `127.0.0.1:8000`); the port may be omitted (0) as in
    /// the reference.
    pub forward_requests_to: String,
    /// tonlib global config file; empty = the reference's default.
    pub ton_config_filename: String,
    /// Verify proxy image hashes (forced when `!is_test`).
    pub check_proxy_hashes: bool,
    /// Raw config value; see [`Self::max_active_requests`] for the effective cap.
    pub max_active_requests: i32,
    /// Own image hash (display only).
    pub image_hash: Int256,
    /// The admin port's credential, also required by the stats pages when set; empty = a
    /// generated token guards the admin port and the stats are open (docs/security.md).
    pub http_access_hash: String,
    /// Script run on `worker.changeModel` (April 2026); empty = model changes refused.
    pub change_model_script: String,
    /// JSON object text describing the machine; empty in the file means `"{}"` (April 2026).
    pub machine_description_json: String,
    /// Non-schema keys that were present and ignored (see the module doc).
    pub ignored_keys: Vec<String>,
}

impl WorkerConfig {
    /// TL constructor name.
    pub const TL_NAME: &'static str = "workerRunner.config";

    /// Reads and decodes a config file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        load_file(path.as_ref(), Self::from_json_str)
    }

    /// Decodes config text. Besides the TL-JSON rules, checks what the reference checks at
    /// start-up: `forward_requests_to` is `host[:port]` with a valid port, and
    /// `machine_description_json` is a JSON object (the reference aborts otherwise).
    pub fn from_json_str(text: &str) -> Result<Self, ConfigError> {
        let mut r = ObjectReader::new(parse_object(text)?, String::new(), Self::TL_NAME);
        r.type_tag(Self::TL_NAME)?;
        let mut c = WorkerConfig {
            is_test: r.boolean("is_test")?,
            is_testnet: r.boolean("is_testnet")?,
            http_port: r.port("http_port")?,
            owner_address: r.string("owner_address")?,
            proxy_connections: r.int32("proxy_connections")?,
            connect_to_proxy_via: None,
            model_name: r.string("model_name")?,
            coefficient: r.int32("coefficient")?,
            root_contract_address: r.string("root_contract_address")?,
            node_wallet_key: r.secret_seed("node_wallet_key")?,
            forward_requests_to: r.string("forward_requests_to")?,
            ton_config_filename: r.string("ton_config_filename")?,
            check_proxy_hashes: r.boolean("check_proxy_hashes")?,
            max_active_requests: r.int32("max_active_requests")?,
            image_hash: r.int256("image_hash")?,
            http_access_hash: r.string("http_access_hash")?,
            change_model_script: r.string("change_model_script")?,
            machine_description_json: r.string("machine_description_json")?,
            ignored_keys: Vec::new(),
        };
        c.connect_to_proxy_via =
            optional_ipv4("connect_to_proxy_via", r.string("connect_to_proxy_via")?)?;
        c.ignored_keys = r.finish(WORKER_IGNORED_KEYS)?;
        check_backend_address(&c.forward_requests_to)?;
        if c.machine_description_json.is_empty() {
            c.machine_description_json = "{}".to_string();
        }
        match serde_json::from_str::<serde_json::Value>(&c.machine_description_json) {
            Ok(serde_json::Value::Object(_)) => {}
            _ => {
                return Err(invalid(
                    "machine_description_json",
                    "expected a string holding a JSON object".to_string(),
                ))
            }
        }
        Ok(c)
    }

    /// The routing key: `model_name` up to the first `@` (runners.md §10).
    pub fn model_base_name(&self) -> &str {
        model_base_name(&self.model_name)
    }

    /// The effective concurrency cap: the config value, or 200 when it is ≤ 0.
    pub fn max_active_requests(&self) -> u32 {
        u32::try_from(self.max_active_requests)
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_MAX_ACTIVE_REQUESTS)
    }

    /// Whether proxy image hashes are checked: `check_proxy_hashes || !is_test`.
    pub fn check_image_hashes(&self) -> bool {
        self.check_proxy_hashes || !self.is_test
    }
}

/// `keyStorageRunner.config` (the key manager, reference file
/// `spec/spec-key-manager/key-manager-config.json`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyManagerConfig {
    /// Test mode.
    pub is_test: bool,
    /// TON testnet addresses and network.
    pub is_testnet: bool,
    /// Add a test key at start (April 2026 field; ignored by the reference, delta §8.4).
    pub add_default_key: bool,
    /// Port serving key queries.
    pub rpc_port: u16,
    /// Stats/control HTTP port; 0 = no HTTP server.
    pub http_port: u16,
    /// Owner address (April 2026 field).
    pub owner_address: String,
    /// Root contract address.
    pub root_contract_address: String,
    /// Ed25519 seed of the key manager's identity.
    pub machine_specific_private_key: SecretKeySeed,
    /// Ed25519 seed of the cocoon wallet (April 2026 field).
    pub node_wallet_key: SecretKeySeed,
    /// tonlib global config file.
    pub ton_config_filename: String,
    /// Database directory.
    pub db_path: String,
    /// Check the image hashes of callers.
    pub check_hashes: bool,
    /// Own image hash (display only).
    pub image_hash: Int256,
    /// Protects the custom HTTP handlers; empty = unprotected.
    pub http_access_hash: String,
    /// Non-schema keys that were present and ignored (none are known for this file).
    pub ignored_keys: Vec<String>,
}

impl KeyManagerConfig {
    /// TL constructor name.
    pub const TL_NAME: &'static str = "keyStorageRunner.config";

    /// Reads and decodes a config file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        load_file(path.as_ref(), Self::from_json_str)
    }

    /// Decodes config text.
    pub fn from_json_str(text: &str) -> Result<Self, ConfigError> {
        let mut r = ObjectReader::new(parse_object(text)?, String::new(), Self::TL_NAME);
        r.type_tag(Self::TL_NAME)?;
        let mut c = KeyManagerConfig {
            is_test: r.boolean("is_test")?,
            is_testnet: r.boolean("is_testnet")?,
            add_default_key: r.boolean("add_default_key")?,
            rpc_port: r.port("rpc_port")?,
            http_port: r.port("http_port")?,
            owner_address: r.string("owner_address")?,
            root_contract_address: r.string("root_contract_address")?,
            machine_specific_private_key: r.secret_seed("machine_specific_private_key")?,
            node_wallet_key: r.secret_seed("node_wallet_key")?,
            ton_config_filename: r.string("ton_config_filename")?,
            db_path: r.string("db_path")?,
            check_hashes: r.boolean("check_hashes")?,
            image_hash: r.int256("image_hash")?,
            http_access_hash: r.string("http_access_hash")?,
            ignored_keys: Vec::new(),
        };
        c.ignored_keys = r.finish(&[])?;
        Ok(c)
    }
}

/// `name` up to the first `@` (the model routing key of runners.md §10).
pub fn model_base_name(name: &str) -> &str {
    name.split_once('@').map_or(name, |(base, _)| base)
}

/// `forward_requests_to` as the reference's `create_http_client` accepts it: `host[:port]` with
/// a decimal port up to 65535 and a non-empty host. Empty is allowed (no backend configured).
fn check_backend_address(s: &str) -> Result<(), ConfigError> {
    if s.is_empty() {
        return Ok(());
    }
    let (host, port) = match s.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
    });
    if host.is_empty() || !port_ok {
        return Err(invalid(
            "forward_requests_to",
            format!("expected \"host:port\" like \"127.0.0.1:8000\", got {s:?}"),
        ));
    }
    Ok(())
}
