//! Node configuration files, read exactly as the reference runners read them.
//!
//! The reference decodes its JSON config files into TL objects of `cocoon_api.tl` through
//! TON's generated TL-JSON code (runners.md §10, delta-2026-04.md §1.2 and §5):
//!
//! * every field is optional and defaults to 0 / `false` / `""` / all-zero; a JSON `null`
//!   counts as absent;
//! * `int` fields take a JSON integer or a string holding a decimal integer (`"11000"`);
//! * `Bool` fields take `true`/`false` or an `int` (number or numeric string, non-zero = true),
//!   so the templates' `"$IS_DEBUG"` becomes `"1"` or `"0"`;
//! * `int256` fields are standard base64 (with padding) of exactly 32 bytes;
//! * `string` fields are plain JSON strings.
//!
//! One deliberate difference: the reference silently ignores unknown keys, we reject them with an
//! error naming the key, so that typos do not go unnoticed. The keys that the reference's own
//! shipped files contain although they are not schema fields (`rpc_port`, `max_coefficient`,
//! `max_tokens` in the client file, `rpc_port` in the worker file, `model_names` and
//! `registered_proxies[].proxy_hash` in the fake-TON file) are accepted and reported in
//! `ignored_keys`, so those files load unchanged. A top-level `"@type"` is accepted when it names
//! the expected TL constructor.
//!
//! Types: [`ClientConfig`] (`clientRunner.config`), [`ProxyConfig`] (`proxyRunner.config`),
//! [`WorkerConfig`] (`workerRunner.config`), [`KeyManagerConfig`] (`keyStorageRunner.config`) and
//! [`LocalRootConfig`] (`rootConfig.pseudo`, the fake-TON root of `--disable-ton`, runners.md §6.10).
//! Each has `from_file(path)` and `from_json_str(text)`.

mod root;
mod runners;
mod tl_json;

use std::fmt;
use std::path::{Path, PathBuf};

pub use root::{registered_keys_from_chain, LocalRootConfig, RegisteredProxy, RegisteredPublicKey};
pub use runners::{
    model_base_name, ClientConfig, KeyManagerConfig, ProxyConfig, WorkerConfig,
    DEFAULT_MAX_ACTIVE_REQUESTS,
};

/// Largest config file we read (the real ones are well under 10 KiB; a fake-TON file with
/// contract code is a few tens of KiB).
pub const MAX_CONFIG_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// A 32-byte TL `int256` value that is public (an image hash, a public key).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Int256(pub [u8; 32]);

impl Int256 {
    /// Whether all 32 bytes are zero (the TL default for an absent field).
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|b| *b == 0)
    }
}

impl fmt::Debug for Int256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Int256({})", hex::encode(self.0))
    }
}

/// A 32-byte TL `int256` value that is a secret (an Ed25519 private-key seed). `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretKeySeed(pub [u8; 32]);

impl SecretKeySeed {
    /// Whether all 32 bytes are zero (the TL default for an absent field).
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|b| *b == 0)
    }
}

impl fmt::Debug for SecretKeySeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            f.write_str("SecretKeySeed(<zero>)")
        } else {
            f.write_str("SecretKeySeed(<redacted>)")
        }
    }
}

/// A secret string (the client's `secret_string`). `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretString(pub String);

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("SecretString(<empty>)")
        } else {
            f.write_str("SecretString(<redacted>)")
        }
    }
}

/// Why a config file could not be loaded. Every variant names the file (when read from one) and,
/// for content errors, the offending field as a path such as `registered_proxies[0].address`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config {}: cannot read: {source}", display_path(.path))]
    Read {
        path: Option<PathBuf>,
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_CONFIG_FILE_BYTES`].
    #[error("config {}: file is larger than {max} bytes", display_path(.path))]
    TooLarge { path: Option<PathBuf>, max: u64 },
    /// The text is not JSON.
    #[error("config {}: not valid JSON: {source}", display_path(.path))]
    Json {
        path: Option<PathBuf>,
        #[source]
        source: serde_json::Error,
    },
    /// The text is JSON but the top level is not an object.
    #[error("config {}: expected a JSON object at the top level", display_path(.path))]
    NotAnObject { path: Option<PathBuf> },
    /// A key that is not a field of the TL type.
    #[error("config {}: unknown field `{field}` (not a field of {tl_type})", display_path(.path))]
    UnknownField {
        path: Option<PathBuf>,
        field: String,
        tl_type: &'static str,
    },
    /// A field whose value has the wrong type or an invalid value.
    #[error("config {}: field `{field}`: {reason}", display_path(.path))]
    InvalidField {
        path: Option<PathBuf>,
        field: String,
        reason: String,
    },
}

impl ConfigError {
    /// The field the error is about, if it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownField { field, .. } | ConfigError::InvalidField { field, .. } => {
                Some(field)
            }
            _ => None,
        }
    }

    fn with_path(mut self, file: &Path) -> Self {
        let slot = match &mut self {
            ConfigError::Read { path, .. }
            | ConfigError::TooLarge { path, .. }
            | ConfigError::Json { path, .. }
            | ConfigError::NotAnObject { path }
            | ConfigError::UnknownField { path, .. }
            | ConfigError::InvalidField { path, .. } => path,
        };
        *slot = Some(file.to_path_buf());
        self
    }
}

fn display_path(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => p.display().to_string(),
        None => "<string>".to_string(),
    }
}

/// Reads a config file (size-limited) and decodes it with `decode`, attaching the path to errors.
fn load_file<T>(
    path: &Path,
    decode: impl FnOnce(&str) -> Result<T, ConfigError>,
) -> Result<T, ConfigError> {
    use std::io::Read;
    let read_err = |source| ConfigError::Read {
        path: Some(path.to_path_buf()),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut text = String::new();
    file.take(MAX_CONFIG_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_err)?;
    if text.len() as u64 > MAX_CONFIG_FILE_BYTES {
        return Err(ConfigError::TooLarge {
            path: Some(path.to_path_buf()),
            max: MAX_CONFIG_FILE_BYTES,
        });
    }
    decode(&text).map_err(|e| e.with_path(path))
}
