//! Where the key-manager client learns which key manager to use: the current root config's
//! `key_manager_address` and `key_manager_image_hash` (delta-2026-04 §3.6, §3.7).
//!
//! Implementations: a fixed target (the fake-TON root file, read once), the ledger's root
//! config (read at every poll), and any closure (tests, and nodes that keep the root state
//! themselves).

use std::net::SocketAddrV4;
use std::sync::Arc;

use cocoon_ledger::ledger::Ledger;

use crate::config::LocalRootConfig;

/// The key manager a root config names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyManagerTarget {
    /// Its `ip:port` (IPv4, as the root's `net_addr`).
    pub address: SocketAddrV4,
    /// The root's `key_manager_image_hash` (all zero when the root does not carry one).
    pub image_hash: [u8; 32],
}

/// Reads the key manager of the current root config.
pub trait KeyManagerSource: Send + Sync {
    /// `Ok(None)`: the root names no (valid) key manager — any link is dropped. `Err`: the
    /// root config cannot be read now — the current link is kept. Called on the blocking
    /// pool, so it may do a synchronous ledger read.
    fn current(&self) -> Result<Option<KeyManagerTarget>, String>;
}

impl<F> KeyManagerSource for F
where
    F: Fn() -> Result<Option<KeyManagerTarget>, String> + Send + Sync,
{
    fn current(&self) -> Result<Option<KeyManagerTarget>, String> {
        self()
    }
}

/// A key manager fixed at start: the fake-TON root file (`--disable-ton`), which the
/// reference also reads once. Its image hash is zero there, as the reference's pseudo
/// loader leaves it — so with image-hash checking on, a real key manager is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FixedKeyManager(pub Option<KeyManagerTarget>);

impl FixedKeyManager {
    /// The key manager of a fake-TON root config.
    pub fn from_local_root(root: &LocalRootConfig) -> Self {
        FixedKeyManager(root.key_manager_address.map(|address| KeyManagerTarget {
            address,
            image_hash: [0; 32],
        }))
    }
}

impl KeyManagerSource for FixedKeyManager {
    fn current(&self) -> Result<Option<KeyManagerTarget>, String> {
        Ok(self.0)
    }
}

/// The key manager of the ledger's root config (address and `key_manager_image_hash`),
/// read at every poll.
#[derive(Clone)]
pub struct LedgerKeyManager(pub Arc<dyn Ledger>);

impl std::fmt::Debug for LedgerKeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LedgerKeyManager")
    }
}

impl KeyManagerSource for LedgerKeyManager {
    fn current(&self) -> Result<Option<KeyManagerTarget>, String> {
        let root = self.0.root_config().map_err(|e| e.to_string())?;
        Ok(
            parse_address(root.key_manager_address.as_deref()).map(|address| KeyManagerTarget {
                address,
                image_hash: root.key_manager_image_hash,
            }),
        )
    }
}

/// An `ip:port` key-manager address; empty, absent or not IPv4 `ip:port` = none (the
/// reference drops the key manager on an invalid address).
pub fn parse_address(text: Option<&str>) -> Option<SocketAddrV4> {
    text.filter(|t| !t.is_empty())?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_that_name_no_key_manager() {
        assert_eq!(parse_address(None), None);
        assert_eq!(parse_address(Some("")), None);
        assert_eq!(parse_address(Some("km:13001")), None);
        assert_eq!(parse_address(Some("[::1]:13001")), None);
        assert_eq!(
            parse_address(Some("10.0.0.1:13001")),
            Some("10.0.0.1:13001".parse().unwrap())
        );
    }

    #[test]
    fn a_closure_is_a_source() {
        let target = KeyManagerTarget {
            address: "127.0.0.1:1".parse().unwrap(),
            image_hash: [1; 32],
        };
        let source: Arc<dyn KeyManagerSource> = Arc::new(move || Ok(Some(target)));
        assert_eq!(source.current(), Ok(Some(target)));
        let none: Arc<dyn KeyManagerSource> = Arc::new(FixedKeyManager::default());
        assert_eq!(none.current(), Ok(None));
    }
}
