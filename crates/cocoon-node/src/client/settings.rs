//! What a client needs from its config files, in one checked struct.

use crate::config::{ClientConfig, LocalRootConfig};

/// The client's settings, derived from `clientRunner.config` and the root
/// config (runners.md §10).
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Our identity towards proxies (`client.params.client_owner_address`).
    pub owner_address: String,
    /// Secret for the short auth (`sha256(secret)` must match the proxy's hash).
    pub secret_string: String,
    /// Test mode (must match the proxy's).
    pub is_test: bool,
    /// `address_for_clients` of every registered proxy.
    pub proxy_addresses: Vec<String>,
    /// How many proxies to keep connections to.
    pub proxy_connections: usize,
    /// The root config version (`min_config_version` in our messages).
    pub config_version: i32,
}

impl ClientSettings {
    /// Builds the settings from the client config and the (fake-TON) root config.
    pub fn from_configs(cfg: &ClientConfig, root: &LocalRootConfig) -> Result<Self, String> {
        let proxy_addresses = root
            .registered_proxies
            .iter()
            .map(|p| p.address_for_clients.to_string())
            .collect();
        Ok(ClientSettings {
            owner_address: cfg.owner_address.clone(),
            secret_string: cfg.secret_string.0.clone(),
            is_test: cfg.is_test,
            proxy_addresses,
            proxy_connections: cfg.proxy_connections.max(1) as usize,
            config_version: root.version,
        })
    }

    /// Up to `proxy_connections` distinct proxy addresses, in registration order.
    pub fn proxy_targets(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in &self.proxy_addresses {
            if out.len() >= self.proxy_connections {
                break;
            }
            if !out.contains(a) {
                out.push(a.clone());
            }
        }
        out
    }
}
