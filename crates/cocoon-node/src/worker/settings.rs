//! What a worker needs from its config files, in one checked struct.

use crate::config::{LocalRootConfig, WorkerConfig};
use crate::metering::PriceMultipliers;

/// The worker's settings, derived from `workerRunner.config` and the root
/// config (runners.md §10, delta §5.3).
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Our owner address, sent in `worker.params`.
    pub owner_address: String,
    /// The full model string (`name@commit:verity`); routing uses the part before `@`.
    pub model_name: String,
    /// Price coefficient (1000 = 1.0×).
    pub coefficient: i32,
    /// Global concurrency cap (reference: 200 when ≤ 0).
    pub max_active_requests: usize,
    /// The engine: `host:port` or a full `http://…` base URL.
    pub forward_requests_to: String,
    /// `address_for_workers` of every registered proxy.
    pub proxy_addresses: Vec<String>,
    /// How many proxies to keep connections to (also sent as `proxy_cnt`).
    pub proxy_connections: usize,
    /// Test mode (must match the proxy's).
    pub is_test: bool,
    /// Token price multipliers (10000 = 1.0×; fixed in fake-TON mode).
    pub multipliers: PriceMultipliers,
}

impl WorkerSettings {
    /// Builds the settings from the worker config and the (fake-TON) root config.
    pub fn from_configs(cfg: &WorkerConfig, root: &LocalRootConfig) -> Result<Self, String> {
        if cfg.model_name.is_empty() {
            return Err("model_name is empty".into());
        }
        if cfg.forward_requests_to.is_empty() {
            return Err("forward_requests_to is empty".into());
        }
        let max_active = cfg.max_active_requests() as usize;
        let proxy_addresses = root
            .registered_proxies
            .iter()
            .map(|p| p.address_for_workers.to_string())
            .collect();
        Ok(WorkerSettings {
            owner_address: cfg.owner_address.clone(),
            model_name: cfg.model_name.clone(),
            coefficient: cfg.coefficient,
            max_active_requests: max_active,
            forward_requests_to: cfg.forward_requests_to.clone(),
            proxy_addresses,
            proxy_connections: cfg.proxy_connections.max(1) as usize,
            is_test: cfg.is_test,
            multipliers: PriceMultipliers::default(),
        })
    }

    /// The model's routing name: the part before the first `@`.
    pub fn model_base(&self) -> &str {
        self.model_name
            .split('@')
            .next()
            .unwrap_or(&self.model_name)
    }

    /// The proxies to keep connections to: up to `proxy_connections` distinct addresses.
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
