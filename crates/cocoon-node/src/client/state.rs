//! The client's shared state: one slot per proxy target (ready or not), the
//! routing table of requests waiting for answers, and counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cocoon_net::Session;
use cocoon_wire::schema::enums;
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use super::debug::{DebugLog, DEBUG_LOG_CAPACITY};
use super::ClientSettings;

/// Messages routed to one waiting request.
pub(crate) type AnswerSender = mpsc::Sender<enums::client::QueryAnswerEx>;

/// A ready proxy connection.
#[derive(Clone)]
pub(crate) struct ReadyProxy {
    pub address: String,
    pub session: Session,
    pub proto_version: i32,
    /// Requests waiting for answers on this connection, by client request id.
    pub pending: Arc<Mutex<HashMap<[u8; 32], AnswerSender>>>,
}

impl ReadyProxy {
    pub(crate) fn lock_pending(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], AnswerSender>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Slot {
    address: String,
    ready: Option<ReadyProxy>,
    last_error: Option<String>,
}

/// Shared client state (one per process).
pub struct ClientState {
    pub settings: ClientSettings,
    slots: Mutex<Vec<Slot>>,
    pub(crate) counters: Counters,
    /// Debug records by `request_guid` (`/request/debuglogentry`).
    pub(crate) debug_log: DebugLog,
    /// Vouchers received from each proxy (verified, highest kept).
    pub payments: crate::common::vouchers::PaymentsBook,
    /// Our contracts on the ledger (`None` without a ledger: no money moves).
    pub money: Option<Arc<super::money::ClientMoney>>,
    /// Bumped whenever a slot becomes ready, so requests waiting for a proxy wake up.
    ready_changed: watch::Sender<u64>,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub queries: AtomicU64,
    pub success: AtomicU64,
    pub failed: AtomicU64,
    pub rejected: AtomicU64,
    pub failovers: AtomicU64,
    /// Requests the client cancelled at its proxy (`cocoonrs.cancelRequest`):
    /// the caller went away or the client's deadline passed.
    pub cancelled: Arc<AtomicU64>,
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
}

/// A point-in-time copy for the stats endpoints.
#[derive(Debug, Clone, Serialize)]
pub struct ClientStatsSnapshot {
    pub queries: u64,
    pub success: u64,
    pub failed: u64,
    pub rejected: u64,
    pub failovers: u64,
    pub requests_cancelled: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub proxy_connections: Vec<ProxySlotSnapshot>,
}

/// One proxy target on the stats page.
#[derive(Debug, Clone, Serialize)]
pub struct ProxySlotSnapshot {
    pub address: String,
    pub is_ready: bool,
    pub proto_version: Option<i32>,
    pub pending_requests: usize,
    pub last_error: Option<String>,
}

impl ClientState {
    pub(crate) fn new(
        settings: ClientSettings,
        targets: Vec<String>,
        money: Option<Arc<super::money::ClientMoney>>,
    ) -> Self {
        let slots = targets
            .into_iter()
            .map(|address| Slot {
                address,
                ready: None,
                last_error: None,
            })
            .collect();
        ClientState {
            settings,
            slots: Mutex::new(slots),
            counters: Counters::default(),
            debug_log: DebugLog::new(DEBUG_LOG_CAPACITY),
            payments: Default::default(),
            money,
            ready_changed: watch::Sender::new(0),
        }
    }

    fn lock_slots(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_ready(&self, index: usize, proxy: Option<ReadyProxy>, error: Option<String>) {
        let now_ready = proxy.is_some();
        if let Some(slot) = self.lock_slots().get_mut(index) {
            slot.ready = proxy;
            if error.is_some() {
                slot.last_error = error;
            }
        }
        if now_ready {
            self.ready_changed.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// The address slot `index` is dialling now (it moves on to a spare after a failure).
    pub(crate) fn set_address(&self, index: usize, address: &str) {
        if let Some(slot) = self.lock_slots().get_mut(index) {
            if slot.address != address {
                slot.address = address.to_string();
            }
        }
    }

    /// The ready proxies, waiting until `deadline` for one when none is (a lost link
    /// being dialled again); empty if none got ready in time.
    pub(crate) async fn wait_ready_proxies(
        &self,
        deadline: tokio::time::Instant,
    ) -> Vec<ReadyProxy> {
        let mut changed = self.ready_changed.subscribe();
        loop {
            let ready = self.ready_proxies();
            if !ready.is_empty() {
                return ready;
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                // Deadline passed (the sender lives as long as `self`).
                _ => return self.ready_proxies(),
            }
        }
    }

    /// Waits until `deadline` for a ready proxy connection; whether one is ready.
    pub async fn wait_until_ready(&self, deadline: tokio::time::Instant) -> bool {
        !self.wait_ready_proxies(deadline).await.is_empty()
    }

    /// The last connection error of each slot that is not ready, for error messages.
    pub fn slot_errors(&self) -> Vec<String> {
        self.lock_slots()
            .iter()
            .filter(|s| s.ready.as_ref().is_none_or(|r| r.session.is_closed()))
            .filter_map(|s| s.last_error.clone())
            .collect()
    }

    /// Ready proxies in target order (the first is preferred, the rest are failover).
    pub(crate) fn ready_proxies(&self) -> Vec<ReadyProxy> {
        self.lock_slots()
            .iter()
            .filter_map(|s| s.ready.clone())
            .filter(|p| !p.session.is_closed())
            .collect()
    }

    /// Whether at least one proxy connection is ready.
    pub fn has_ready_proxy(&self) -> bool {
        !self.ready_proxies().is_empty()
    }

    pub fn snapshot(&self) -> ClientStatsSnapshot {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let proxy_connections = self
            .lock_slots()
            .iter()
            .map(|s| ProxySlotSnapshot {
                address: s.address.clone(),
                is_ready: s.ready.as_ref().is_some_and(|r| !r.session.is_closed()),
                proto_version: s.ready.as_ref().map(|r| r.proto_version),
                pending_requests: s
                    .ready
                    .as_ref()
                    .map(|r| r.lock_pending().len())
                    .unwrap_or(0),
                last_error: s.last_error.clone(),
            })
            .collect();
        ClientStatsSnapshot {
            queries: get(&c.queries),
            success: get(&c.success),
            failed: get(&c.failed),
            rejected: get(&c.rejected),
            failovers: get(&c.failovers),
            requests_cancelled: get(&c.cancelled),
            bytes_received: get(&c.bytes_received),
            bytes_sent: get(&c.bytes_sent),
            proxy_connections,
        }
    }
}
