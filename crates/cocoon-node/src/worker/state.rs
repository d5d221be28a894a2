//! The worker's shared state: enable/disable, coefficient, active requests,
//! counters, and the live proxy connections (to push state changes to them).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use cocoon_net::Session;
use cocoon_wire::schema::types;
use cocoon_wire::tl::to_bytes;
use serde::Serialize;

use super::WorkerSettings;

/// One ready proxy connection, as seen by stats and state pushes.
#[derive(Clone)]
pub(crate) struct ProxyLink {
    pub address: String,
    pub session: Session,
    pub proto_version: i32,
    pub running: std::sync::Arc<AtomicUsize>,
}

/// Shared worker state (one per process).
pub struct WorkerState {
    pub settings: WorkerSettings,
    /// Base URL of the engine, e.g. `http://127.0.0.1:8000`, or `in-process`.
    pub engine_base: String,
    /// How requests reach the engine.
    pub(crate) engine: super::engine_link::EngineLink,
    coefficient: AtomicI32,
    forced_disabled: AtomicBool,
    engine_healthy: AtomicBool,
    active: AtomicUsize,
    next_link_id: AtomicU64,
    links: Mutex<HashMap<u64, ProxyLink>>,
    pub(crate) counters: Counters,
    /// Vouchers received from each proxy (verified, highest kept).
    pub payments: crate::common::vouchers::PaymentsBook,
    /// Our worker contracts on the ledger (`None` without a ledger: no money moves).
    pub money: Option<std::sync::Arc<super::payout::WorkerMoney>>,
    /// Runs `worker.changeModel` scripts, one at a time.
    pub(crate) model_changer: super::change_model::ModelChanger,
}

/// Monotone counters shown on `/jsonstats` and `/metrics`.
#[derive(Default)]
pub(crate) struct Counters {
    pub queries: AtomicU64,
    pub success: AtomicU64,
    pub failed: AtomicU64,
    pub rejected: AtomicU64,
    /// Requests that ended without an answer or error: cancelled by the
    /// proxy (`cocoonrs.cancelRequest`) or aborted when its connection dropped.
    pub cancelled: AtomicU64,
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub cached_tokens: AtomicU64,
    pub completion_tokens: AtomicU64,
    pub reasoning_tokens: AtomicU64,
    pub total_tokens: AtomicU64,
}

/// A point-in-time copy of the worker's state for stats pages.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerStatsSnapshot {
    pub enabled: bool,
    pub engine_healthy: bool,
    pub forced_disabled: bool,
    pub model: String,
    pub coefficient: i32,
    pub active_requests: usize,
    pub max_active_requests: usize,
    pub queries: u64,
    pub success: u64,
    pub failed: u64,
    pub rejected: u64,
    pub cancelled: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub prompt_adjusted_tokens_used: u64,
    pub cached_adjusted_tokens_used: u64,
    pub completion_adjusted_tokens_used: u64,
    pub reasoning_adjusted_tokens_used: u64,
    pub total_adjusted_tokens_used: u64,
    pub proxies: Vec<ProxyLinkSnapshot>,
}

/// One proxy connection on the stats page.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyLinkSnapshot {
    pub address: String,
    pub proto_version: i32,
    pub running_requests: usize,
}

impl WorkerState {
    pub(crate) fn new(settings: WorkerSettings) -> Result<Self, String> {
        let fwd = settings.forward_requests_to.trim_end_matches('/');
        let engine_base = if fwd.starts_with("http://") || fwd.starts_with("https://") {
            fwd.to_string()
        } else {
            format!("http://{fwd}")
        };
        // reqwest is built without a default TLS provider: use ring, as the rest of the workspace.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .pool_idle_timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| format!("cannot build the engine HTTP client: {e}"))?;
        let money = match &settings.ledger {
            Some(ledger) => Some(std::sync::Arc::new(super::payout::WorkerMoney::new(
                ledger.clone(),
                &settings.owner_address,
                settings.payout.clone(),
            )?)),
            None => None,
        };
        let engine = super::engine_link::EngineLink::Http {
            base: engine_base.clone(),
            client: http,
        };
        Ok(WorkerState {
            money,
            coefficient: AtomicI32::new(settings.coefficient),
            settings,
            engine_base,
            engine,
            forced_disabled: AtomicBool::new(false),
            engine_healthy: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            next_link_id: AtomicU64::new(1),
            links: Mutex::new(HashMap::new()),
            payments: Default::default(),
            counters: Counters::default(),
            model_changer: Default::default(),
        })
    }

    /// Current coefficient (1000 = 1.0×).
    pub fn coefficient(&self) -> i32 {
        self.coefficient.load(Ordering::Relaxed)
    }

    /// Disabled = forced off by the operator, or the engine is unhealthy.
    pub fn is_disabled(&self) -> bool {
        self.forced_disabled.load(Ordering::Relaxed) || !self.engine_healthy.load(Ordering::Relaxed)
    }

    /// Number of requests being served right now.
    pub fn active_requests(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Takes a request slot unless the worker is at `max_active_requests`.
    pub(crate) fn try_acquire_slot(&self) -> bool {
        let max = self.settings.max_active_requests;
        self.active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    pub(crate) fn release_slot(&self) {
        let _ = self
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Records the engine's health; pushes `worker.enabledDisabled` when the
    /// effective state changes.
    pub async fn set_engine_healthy(&self, healthy: bool) {
        let before = self.is_disabled();
        let was = self.engine_healthy.swap(healthy, Ordering::Relaxed);
        if was != healthy {
            tracing::info!(healthy, engine = %self.engine_base, "engine health changed");
        }
        self.push_disabled_if_changed(before).await;
    }

    /// Operator enable/disable (`/request/enable`, `/request/disable`).
    pub async fn set_forced_disabled(&self, disabled: bool) {
        let before = self.is_disabled();
        self.forced_disabled.store(disabled, Ordering::Relaxed);
        self.push_disabled_if_changed(before).await;
    }

    async fn push_disabled_if_changed(&self, before: bool) {
        let now = self.is_disabled();
        if now != before {
            let msg = to_bytes(&types::worker::EnabledDisabled {
                disabled: i32::from(now),
            });
            self.broadcast(msg).await;
        }
    }

    /// Changes the coefficient and pushes `worker.newCoefficient` to every proxy.
    pub async fn set_coefficient(&self, coefficient: i32) {
        let old = self.coefficient.swap(coefficient, Ordering::Relaxed);
        if old != coefficient {
            tracing::info!(old, new = coefficient, "coefficient changed");
            let msg = to_bytes(&types::worker::NewCoefficient {
                new_coefficient: coefficient,
            });
            self.broadcast(msg).await;
        }
    }

    async fn broadcast(&self, msg: Vec<u8>) {
        let sessions: Vec<Session> = self
            .lock_links()
            .values()
            .map(|l| l.session.clone())
            .collect();
        for s in sessions {
            if let Err(e) = s.send(msg.clone()).await {
                tracing::debug!(error = %e, "state push to a proxy failed (connection closing)");
            }
        }
    }

    fn lock_links(&self) -> std::sync::MutexGuard<'_, HashMap<u64, ProxyLink>> {
        self.links.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn add_link(&self, link: ProxyLink) -> u64 {
        let id = self.next_link_id.fetch_add(1, Ordering::Relaxed);
        self.lock_links().insert(id, link);
        id
    }

    /// `(proxy address, session)` of every ready connection.
    pub(crate) fn link_sessions(&self) -> Vec<(String, Session)> {
        self.lock_links()
            .values()
            .map(|l| (l.address.clone(), l.session.clone()))
            .collect()
    }

    pub(crate) fn remove_link(&self, id: u64) {
        self.lock_links().remove(&id);
    }

    /// A snapshot for the stats endpoints.
    pub fn snapshot(&self) -> WorkerStatsSnapshot {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let proxies = self
            .lock_links()
            .values()
            .map(|l| ProxyLinkSnapshot {
                address: l.address.clone(),
                proto_version: l.proto_version,
                running_requests: l.running.load(Ordering::Relaxed),
            })
            .collect();
        WorkerStatsSnapshot {
            enabled: !self.is_disabled(),
            engine_healthy: self.engine_healthy.load(Ordering::Relaxed),
            forced_disabled: self.forced_disabled.load(Ordering::Relaxed),
            model: self.settings.model_name.clone(),
            coefficient: self.coefficient(),
            active_requests: self.active_requests(),
            max_active_requests: self.settings.max_active_requests,
            queries: get(&c.queries),
            success: get(&c.success),
            failed: get(&c.failed),
            rejected: get(&c.rejected),
            cancelled: get(&c.cancelled),
            bytes_received: get(&c.bytes_received),
            bytes_sent: get(&c.bytes_sent),
            prompt_adjusted_tokens_used: get(&c.prompt_tokens),
            cached_adjusted_tokens_used: get(&c.cached_tokens),
            completion_adjusted_tokens_used: get(&c.completion_tokens),
            reasoning_adjusted_tokens_used: get(&c.reasoning_tokens),
            total_adjusted_tokens_used: get(&c.total_tokens),
            proxies,
        }
    }
}
