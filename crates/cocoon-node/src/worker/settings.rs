//! What a worker needs from its config files, in one checked struct.

use std::sync::Arc;
use std::time::Duration;

use cocoon_ledger::accounting::{NanoTon, ONE_TON};
use cocoon_ledger::ledger::{ContractContext, Ledger};

use crate::config::{LocalRootConfig, WorkerConfig};
use crate::metering::PriceMultipliers;

/// When the worker submits its best voucher to its worker contract (runners.md §6.6).
///
/// Thresholds are in nanoTON and compared with nanoTON: `(committed_to_blockchain − paid)
/// × worker_fee_per_token` (the reference compares a token count with nanoTON constants,
/// runners.md §13.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutPolicy {
    /// The payout loop runs every `interval` plus a random part of it.
    pub interval: Duration,
    /// Pay out when at least this much is owed.
    pub threshold_nanoton: NanoTon,
    /// Pay out when the worker is idle and at least this much is owed.
    pub idle_threshold_nanoton: NanoTon,
}

impl PayoutPolicy {
    /// The reference's values: every 10–20 s, 10 TON, or 0.2 TON when idle.
    pub fn reference() -> Self {
        PayoutPolicy {
            interval: Duration::from_secs(10),
            threshold_nanoton: 10 * ONE_TON,
            idle_threshold_nanoton: ONE_TON / 5,
        }
    }

    /// **Devnet** defaults, small so that a local run shows payouts at once: every 1–2 s,
    /// 1000 nanoTON, or any amount when idle.
    pub fn devnet() -> Self {
        PayoutPolicy {
            interval: Duration::from_secs(1),
            threshold_nanoton: 1000,
            idle_threshold_nanoton: 1,
        }
    }
}

/// The worker's settings, derived from `workerRunner.config` and the root
/// config (runners.md §10, delta §5.3).
#[derive(Clone)]
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
    /// The ledger our worker contracts live on; `None`: no money moves (fake-TON
    /// behaviour). Devnet simplification: our wallet is `owner_address` itself.
    pub ledger: Option<Arc<dyn Ledger>>,
    /// When payouts are submitted (with a ledger).
    pub payout: PayoutPolicy,
    /// Where our contract addresses are derived without a ledger: the fake-TON root
    /// config's codes and params (with a ledger, the ledger's context is used).
    pub contracts: ContractContext,
    /// The lowest protocol version we accept (default [`super::WORKER_MIN_PROTO`]). At 4 we
    /// send `machine_description_json` in `worker.params` — a December proxy (≤ v2) cannot
    /// parse that field, so, as in the reference, it goes only with a minimum of 4.
    pub min_proto_version: i32,
    /// The config's `machine_description_json` (a JSON object; `"{}"` when unset).
    pub machine_description_json: String,
    /// How `worker.changeModel` is carried out ([`super::change_model`]).
    pub model_change: super::ModelChange,
}

impl std::fmt::Debug for WorkerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerSettings")
            .field("owner_address", &self.owner_address)
            .field("model_name", &self.model_name)
            .field("coefficient", &self.coefficient)
            .field("max_active_requests", &self.max_active_requests)
            .field("forward_requests_to", &self.forward_requests_to)
            .field("proxy_addresses", &self.proxy_addresses)
            .field("proxy_connections", &self.proxy_connections)
            .field("is_test", &self.is_test)
            .field("multipliers", &self.multipliers)
            .field("ledger", &self.ledger.is_some())
            .field("payout", &self.payout)
            .finish()
    }
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
            ledger: None,
            payout: PayoutPolicy::devnet(),
            contracts: root
                .contract_context(&cfg.root_contract_address)
                .map_err(|e| format!("root config: {e}"))?,
            min_proto_version: super::WORKER_MIN_PROTO,
            machine_description_json: cfg.machine_description_json.clone(),
            model_change: super::ModelChange {
                script: cfg.change_model_script.clone(),
                // With image hashes checked (always outside test mode), only the root's models.
                allowed_hashes: (cfg.check_proxy_hashes || !cfg.is_test).then(|| {
                    root.accepted_model_hashes()
                        .iter()
                        .map(|h| h.0)
                        .chain(root.model_hashes.iter().map(|h| h.0))
                        .collect()
                }),
                ..super::ModelChange::default()
            },
        })
    }

    /// The same settings, settling on `ledger`.
    pub fn with_ledger(mut self, ledger: Option<Arc<dyn Ledger>>) -> Self {
        self.ledger = ledger;
        self
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
