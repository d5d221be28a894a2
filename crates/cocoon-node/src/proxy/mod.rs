//! The proxy role: accepts clients and workers, routes each client request to
//! a worker, and relays the answer back (runners.md §3.2, §3.3, §4.3, §4.6, §7).
//!
//! Structure:
//! * [`listener`] — the two RPC ports, each connection through the PoW +
//!   RA-TLS gate (`cocoon_tee::link::accept`) and then `cocoon_net::establish`;
//! * [`client_conn`] / [`worker_conn`] — the handshakes and message loops of
//!   one client / worker connection;
//! * [`registry`] — ready worker connections by model and worker selection;
//! * [`relay`] — one running request: forwarding, failover, cancellation;
//! * [`stats_view`] — `/stats`, `/jsonstats`, `/metrics` data.
//!
//! Differences from the reference, on purpose: errors reach v≥1 clients as
//! `client.queryAnswerErrorEx` (§13.1); compare-balance anomalies close that
//! one connection instead of aborting the process (§13.4); the extended
//! balance compare completes (§13.5); selection prefers the cheapest worker
//! (§13.10); a request whose worker fails before its first byte is retried once
//! on another worker, a failure after it reaches the client at once, and a
//! client that goes away frees its requests' worker slots (§13.11).
//!
//! Extension (docs/protocol-extensions.md): a client may cancel a running
//! request with `cocoonrs.cancelRequest`; the proxy in turn sends it to the
//! worker whenever it abandons a request the worker may still be running.
//!
//! Payments ([`payments`], devnet first slice): per client / worker counters and
//! real signed vouchers; contract addresses derived from the devnet placeholder codes.
//!
//! The counters persist in [`books`] under `db_path` (flushed after every settled
//! request; a tampered file stops the proxy at start).
//!
//! Not done yet (later issues): balance reservations, the TON backend (fake-TON
//! root config only), end-to-end encrypted requests (rejected with an error).

pub mod books;
pub mod client_conn;
pub mod gate;
pub mod listener;
pub mod messages;
pub mod payments;
pub mod registry;
pub mod relay;
pub mod settings;
pub mod stats_view;
pub mod worker_conn;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cocoon_wire::schema::types;

pub use gate::{build_gate, spawn_cert_renewal, GateOptions};
pub use listener::{start, GateConfig, ProxyHandle, ProxyListeners};
pub use payments::{PaymentSnapshot, ProxyPayments, Side};
pub use registry::{Registry, SelectError, WorkerConn};
pub use settings::ProxySettings;

use registry::lock;

/// Request counters of the proxy (`/jsonstats` `stats`, reference keys §9).
#[derive(Debug, Default)]
pub struct ProxyCounters {
    pub queries: AtomicU64,
    pub success: AtomicU64,
    pub failed: AtomicU64,
    pub rejected: AtomicU64,
    /// Requests that ended because the client went away or sent
    /// `cocoonrs.cancelRequest`.
    pub cancelled: AtomicU64,
    /// `cocoonrs.cancelRequest` messages sent to workers (client cancels,
    /// client gone, proxy timeouts, abandoned attempts).
    pub worker_cancels: AtomicU64,
    pub retried: AtomicU64,
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// Total request time, microseconds.
    pub time_us: AtomicU64,
    pub client_connections: AtomicU64,
    pub worker_connections: AtomicU64,
}

impl ProxyCounters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Adjusted tokens, summed (from the workers' final infos).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TokenTotals {
    pub prompt: i64,
    pub cached: i64,
    pub completion: i64,
    pub reasoning: i64,
    pub total: i64,
}

impl TokenTotals {
    pub fn add(&mut self, t: &types::TokensUsed) {
        self.prompt = self.prompt.saturating_add(t.prompt_tokens_used);
        self.cached = self.cached.saturating_add(t.cached_tokens_used);
        self.completion = self.completion.saturating_add(t.completion_tokens_used);
        self.reasoning = self.reasoning.saturating_add(t.reasoning_tokens_used);
        self.total = self.total.saturating_add(t.total_tokens_used);
    }
}

/// In-memory per-client and per-worker usage (payments come later).
#[derive(Debug, Default)]
pub struct Accounts {
    pub clients: BTreeMap<String, AccountEntry>,
    pub workers: BTreeMap<String, AccountEntry>,
    pub all: TokenTotals,
}

/// Usage of one client or worker owner.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AccountEntry {
    pub tokens: TokenTotals,
    pub requests: u64,
    pub running: u64,
}

/// State shared by every task of one proxy.
#[derive(Debug)]
pub struct ProxyShared {
    pub settings: ProxySettings,
    pub registry: Registry,
    pub counters: ProxyCounters,
    pub accounts: Mutex<Accounts>,
    /// Token counters and vouchers (devnet: flushes count as committed on chain).
    pub payments: Mutex<ProxyPayments>,
}

impl ProxyShared {
    /// Shared state of a proxy; opens the books at `settings.db_path` when both it and a
    /// signing key are set, and fails if they do not verify.
    pub fn open(mut settings: ProxySettings) -> Result<Arc<Self>, String> {
        let mut payments = ProxyPayments::new(
            settings.signing_key.clone(),
            &settings.owner_address,
            &settings.root_address,
        );
        if let (Some(dir), Some(key)) = (&settings.db_path, &settings.signing_key) {
            payments.attach_books(books::ProxyBooks::open(dir, key.clone())?);
        }
        if settings.proxy_sc_address.is_empty() {
            settings.proxy_sc_address = payments.proxy_sc_address();
        }
        Ok(Arc::new(ProxyShared {
            settings,
            payments: Mutex::new(payments),
            registry: Registry::new(),
            counters: ProxyCounters::default(),
            accounts: Mutex::new(Accounts::default()),
        }))
    }

    /// Writes any counters not yet committed (called at shutdown).
    pub fn flush_payments(&self) {
        lock(&self.payments).flush();
    }

    /// Adds a finished request's tokens to its client and worker (stats and payment
    /// counters) and returns the client's and the worker's payment snapshots.
    pub fn settle(
        &self,
        client: &str,
        worker: &str,
        tokens: &types::TokensUsed,
    ) -> (PaymentSnapshot, PaymentSnapshot) {
        self.charge(client, worker, tokens);
        let billed = u64::try_from(tokens.total_tokens_used).unwrap_or(0);
        let mut payments = lock(&self.payments);
        payments.settle(client, worker, billed);
        (
            payments.snapshot(Side::Client, client),
            payments.snapshot(Side::Worker, worker),
        )
    }

    /// The payment snapshot of `owner` on `side`.
    pub fn payment_snapshot(&self, side: Side, owner: &str) -> PaymentSnapshot {
        lock(&self.payments).snapshot(side, owner)
    }

    /// The contract address of `owner` on `side` (empty when unknown).
    pub fn sc_address(&self, side: Side, owner: &str) -> String {
        lock(&self.payments).sc_address(side, owner)
    }

    /// Adds a finished request's tokens to its client and worker (stats only).
    fn charge(&self, client: &str, worker: &str, tokens: &types::TokensUsed) {
        let mut acc = lock(&self.accounts);
        acc.all.add(tokens);
        let c = acc.clients.entry(client.to_owned()).or_default();
        c.tokens.add(tokens);
        c.requests += 1;
        let w = acc.workers.entry(worker.to_owned()).or_default();
        w.tokens.add(tokens);
        w.requests += 1;
    }

    /// Changes the running count of a client owner (for stats).
    pub fn client_running(&self, client: &str, delta: i64) {
        let mut acc = lock(&self.accounts);
        let c = acc.clients.entry(client.to_owned()).or_default();
        c.running = c.running.saturating_add_signed(delta);
    }
}
