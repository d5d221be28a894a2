//! The TON global config file (`global.config.json`): the liteservers to talk to and the
//! network's zero state / init block. Only the fields this client uses are read; every
//! problem is reported with the JSON path of the offending field.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;

use base64::Engine as _;
use serde::Deserialize;
use thiserror::Error;

use crate::tl::BlockIdExt;

/// A problem with the global config.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read TON global config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("TON global config is not valid JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("TON global config: {field}: {problem}")]
    Field { field: String, problem: String },
    #[error("TON global config lists no liteservers")]
    NoLiteservers,
}

fn field_error(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        field: field.into(),
        problem: problem.into(),
    }
}

/// One liteserver: where it listens and its ed25519 ADNL public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiteServerEntry {
    pub addr: SocketAddr,
    pub public_key: [u8; 32],
}

/// What this client takes from a TON global config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalConfig {
    pub liteservers: Vec<LiteServerEntry>,
    /// `validator.zero_state`: answers naming another zero state are from another network.
    pub zero_state: Option<BlockIdExt>,
    /// `validator.init_block`: the newest key block the config vouches for; an agreed
    /// masterchain block older than this is refused.
    pub init_block: Option<BlockIdExt>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    liteservers: Vec<RawLiteServer>,
    validator: Option<RawValidator>,
}

#[derive(Deserialize)]
struct RawLiteServer {
    ip: i64,
    port: i64,
    id: RawKey,
}

#[derive(Deserialize)]
struct RawKey {
    #[serde(rename = "@type")]
    kind: Option<String>,
    key: String,
}

#[derive(Deserialize)]
struct RawValidator {
    zero_state: Option<RawBlock>,
    init_block: Option<RawBlock>,
}

#[derive(Deserialize)]
struct RawBlock {
    workchain: i32,
    shard: i64,
    seqno: u32,
    root_hash: String,
    file_hash: String,
}

fn decode_hash(field: &str, text: &str) -> Result<[u8; 32], ConfigError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| field_error(field, format!("not valid base64 ({e})")))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| field_error(field, format!("expected 32 bytes, got {}", bytes.len())))
}

fn convert_block(field: &str, raw: &RawBlock) -> Result<BlockIdExt, ConfigError> {
    Ok(BlockIdExt {
        workchain: raw.workchain,
        shard: raw.shard as u64,
        seqno: raw.seqno,
        root_hash: decode_hash(&format!("{field}.root_hash"), &raw.root_hash)?,
        file_hash: decode_hash(&format!("{field}.file_hash"), &raw.file_hash)?,
    })
}

fn convert_liteserver(index: usize, raw: &RawLiteServer) -> Result<LiteServerEntry, ConfigError> {
    let at = format!("liteservers[{index}]");
    let ip = i32::try_from(raw.ip).map_err(|_| {
        field_error(
            format!("{at}.ip"),
            format!("{} is not a signed 32-bit IPv4", raw.ip),
        )
    })?;
    let port = u16::try_from(raw.port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| {
            field_error(
                format!("{at}.port"),
                format!("{} is not a TCP port", raw.port),
            )
        })?;
    if let Some(kind) = &raw.id.kind {
        if kind != "pub.ed25519" {
            return Err(field_error(
                format!("{at}.id.@type"),
                format!("expected pub.ed25519, got {kind}"),
            ));
        }
    }
    let public_key = decode_hash(&format!("{at}.id.key"), &raw.id.key)?;
    let ip = Ipv4Addr::from((ip as u32).to_be_bytes());
    Ok(LiteServerEntry {
        addr: SocketAddr::V4(SocketAddrV4::new(ip, port)),
        public_key,
    })
}

impl GlobalConfig {
    /// Parses the JSON text of a global config. At least one liteserver is required.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = serde_json::from_str(text)?;
        let liteservers = raw
            .liteservers
            .iter()
            .enumerate()
            .map(|(i, s)| convert_liteserver(i, s))
            .collect::<Result<Vec<_>, _>>()?;
        if liteservers.is_empty() {
            return Err(ConfigError::NoLiteservers);
        }
        let (zero_state, init_block) = match &raw.validator {
            Some(v) => (
                v.zero_state
                    .as_ref()
                    .map(|b| convert_block("validator.zero_state", b))
                    .transpose()?,
                v.init_block
                    .as_ref()
                    .map(|b| convert_block("validator.init_block", b))
                    .transpose()?,
            ),
            None => (None, None),
        };
        Ok(Self {
            liteservers,
            zero_state,
            init_block,
        })
    }

    /// Reads and parses a global config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text)
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
