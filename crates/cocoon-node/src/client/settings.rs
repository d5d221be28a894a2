//! What a client needs from its config files, in one checked struct.

use std::sync::Arc;
use std::time::Duration;

use cocoon_ledger::ledger::{ContractContext, Ledger};

use crate::config::{ClientConfig, LocalRootConfig};

/// How the client manages its money at each proxy (runners.md §6.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMoneyPolicy {
    /// The money loop runs every `interval` plus a random part of it (reference: 1–2 s).
    pub interval: Duration,
    /// Force charge when the proxy's `tokens_max` exceeds what was charged on chain by more
    /// than this many tokens; `None`: half the stake in tokens, as the reference.
    pub force_charge_margin_tokens: Option<u64>,
}

impl Default for ClientMoneyPolicy {
    fn default() -> Self {
        ClientMoneyPolicy {
            interval: Duration::from_secs(1),
            force_charge_margin_tokens: None,
        }
    }
}

/// The client's settings, derived from `clientRunner.config` and the root
/// config (runners.md §10).
#[derive(Clone)]
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
    /// The ledger our contracts live on; `None`: no money moves (fake-TON behaviour).
    /// Devnet simplification: our wallet is `owner_address` itself.
    pub ledger: Option<Arc<dyn Ledger>>,
    /// Money management with a ledger.
    pub money: ClientMoneyPolicy,
    /// How long a request waits for a proxy connection when none is ready (a lost link
    /// being dialled again) before it fails with 503 `no_proxy`.
    pub proxy_wait: Duration,
    /// Where our contract addresses are derived without a ledger: the fake-TON root
    /// config's codes and params (with a ledger, the ledger's context is used).
    pub contracts: ContractContext,
}

impl std::fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSettings")
            .field("owner_address", &self.owner_address)
            .field("is_test", &self.is_test)
            .field("proxy_addresses", &self.proxy_addresses)
            .field("proxy_connections", &self.proxy_connections)
            .field("config_version", &self.config_version)
            .field("ledger", &self.ledger.is_some())
            .field("money", &self.money)
            .field("proxy_wait", &self.proxy_wait)
            .finish_non_exhaustive()
    }
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
            ledger: None,
            money: ClientMoneyPolicy::default(),
            proxy_wait: crate::common::dial::DEFAULT_PROXY_SILENCE_LIMIT,
            contracts: root
                .contract_context(&cfg.root_contract_address)
                .map_err(|e| format!("root config: {e}"))?,
        })
    }

    /// The same settings, settling on `ledger`.
    pub fn with_ledger(mut self, ledger: Option<Arc<dyn Ledger>>) -> Self {
        self.ledger = ledger;
        self
    }

    /// The distinct registered proxy addresses beyond [`proxy_targets`](Self::proxy_targets):
    /// spares a slot dials after its own target failed.
    pub fn proxy_spares(&self) -> Vec<String> {
        let targets = self.proxy_targets();
        let mut out: Vec<String> = Vec::new();
        for a in &self.proxy_addresses {
            if !targets.contains(a) && !out.contains(a) {
                out.push(a.clone());
            }
        }
        out
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
