//! The proxy role: accepts clients and workers, routes each client request to
//! a worker, and relays the answer back (runners.md §3.2, §3.3, §4.3, §4.6, §7).
//!
//! Structure:
//! * [`listener`] — the two RPC ports, each connection through the PoW +
//!   RA-TLS gate (`cocoon_tee::link::accept`) and then `cocoon_net::establish`;
//! * [`admission`] — the caps and deadline a connection is under until then;
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
//! Payments ([`payments`]): per client / worker counters and real signed vouchers;
//! contract addresses derived from the devnet placeholder codes. The counters persist in
//! [`books`] under `db_path` (a tampered file stops the proxy at start).
//!
//! With a ledger (`ProxySettings::ledger`, devnet today) the proxy also runs [`money`]:
//! its contract, `save_state` commits read back before vouchers move, reservations against
//! client contracts ([`reservation`]), client charges, worker payouts and commission
//! withdrawals, and the control endpoints of [`http`]. Without one, every commit counts as
//! on chain at once and no money moves (fake-TON behaviour).
//!
//! When the root `params_version` rises above our contract's, the money loop commits, moves
//! every counter into an old-contract record of the books and the proxy restarts in-process
//! on a new contract ([`listener`]); the old one is closed by [`money::old_contract`].
//!
//! `POST /request/disable` ([`http`]) leaves the contract the same way without a params
//! change; the proxy then restarts *disabled* (refusing clients and workers) while its
//! contract is closed, until the root params change.
//!
//! End-to-end encrypted requests (delta-2026-04 §2.5 step 3): the key-manager client
//! (`crate::common::km_client`, started by [`listener::start`] when
//! `ProxySettings::key_manager` is set) keeps the key manager's keys in [`ProxyShared::keys`];
//! a request naming an unknown key is refused with `unknown public key <HEX>` (602), a known
//! one goes only to a worker of protocol ≥ 3 with the matching seed in
//! `proxy.runQueryEx.private_key` ([`relay`]). The keys outlive in-process restarts.

mod accept;
/// Moved to [`crate::common::admission`] (shared with the key manager); kept here as a path.
pub use crate::common::admission;
pub mod books;
pub mod client_auth;
pub mod client_conn;
pub mod gate;
pub mod http;
pub mod listener;
pub mod messages;
pub mod money;
pub mod payments;
pub mod registry;
pub mod relay;
pub mod reservation;
pub mod settings;
pub mod stats_view;
pub mod worker_conn;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::common::km_client::KeyRing;
use cocoon_ledger::address::wire_form;
use cocoon_wire::schema::types;

pub use admission::{
    deadline_fits_pow, AdmissionLimits, DEBUG_BUILD_HASHES_PER_SECOND, SLOW_PEER_HASHES_PER_SECOND,
};
pub use gate::{build_gate, spawn_cert_renewal, GateOptions};
pub use listener::{start, GateConfig, ProxyHandle, ProxyListeners};
pub use payments::{PaymentSnapshot, ProxyPayments, Side};
pub use registry::{Registry, SelectError, WorkerConn};
pub use settings::{MoneySettings, ProxySettings};

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
    /// Requests refused because the client's reservation did not fit.
    pub refused_balance: AtomicU64,
    /// Reported tokens above a request's reservation: not charged, not credited (§13.9).
    pub unbilled_tokens: AtomicU64,
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
    /// Token counters and vouchers.
    pub payments: Mutex<ProxyPayments>,
    /// The proxy on its ledger (`None` without one).
    pub money: Option<money::Money>,
    /// Request-encryption keys from the key manager (kept across in-process restarts).
    pub keys: Arc<KeyRing>,
}

impl ProxyShared {
    /// Shared state of a proxy; opens the books at `settings.db_path` when both it and a
    /// signing key are set, and fails if they do not verify. With a ledger it also
    /// attaches to (or deploys) the proxy contract and confirms a start-up commit there.
    pub fn open(settings: ProxySettings) -> Result<Arc<Self>, String> {
        Self::open_with_keys(settings, Arc::default())
    }

    /// [`ProxyShared::open`] keeping the key-manager keys of `keys` (a restart).
    pub fn open_with_keys(
        mut settings: ProxySettings,
        keys: Arc<KeyRing>,
    ) -> Result<Arc<Self>, String> {
        let mut payments = match &settings.ledger {
            None => {
                let mut p = ProxyPayments::with_context(
                    settings.signing_key.clone(),
                    &settings.owner_address,
                    settings.contracts.clone(),
                );
                p.throttle_flushes(settings.money.flush_interval);
                p
            }
            Some(ledger) => {
                // The ledger's own context (root address, params, codes), so that our
                // contract addresses are the ledger's.
                let ctx = ledger
                    .contract_context()
                    .map_err(|e| format!("ledger contract context: {e}"))?;
                let mut p = ProxyPayments::with_context(
                    settings.signing_key.clone(),
                    &settings.owner_address,
                    ctx,
                );
                p.require_chain_confirmation();
                p
            }
        };
        if let (Some(dir), Some(key)) = (&settings.db_path, &settings.signing_key) {
            let known = match (&settings.ledger, payments.proxy_accounts()) {
                (Some(ledger), Some((proxy_sc, _))) => {
                    money::last_saved_seqno(&**ledger, &proxy_sc)
                }
                _ => None,
            };
            let mut books = books::ProxyBooks::open_checked(dir, key.clone(), known)?;
            if let Some(ledger) = &settings.ledger {
                payments.retire_earlier_rows(&mut books, &**ledger)?;
            }
            payments.attach_books(books);
        }
        if settings.proxy_sc_address.is_empty() || settings.ledger.is_some() {
            settings.proxy_sc_address = payments.proxy_sc_address();
        }
        let payments = Mutex::new(payments);
        let money = match &settings.ledger {
            None => None,
            Some(ledger) => Some(money::Money::start(
                ledger.clone(),
                settings.money.clone(),
                &ed25519_dalek::VerifyingKey::from_bytes(&settings.public_key)
                    .map_err(|e| format!("proxy public key: {e}"))?,
                &payments,
            )?),
        };
        Ok(Arc::new(ProxyShared {
            settings,
            payments,
            money,
            keys,
            registry: Registry::new(),
            counters: ProxyCounters::default(),
            accounts: Mutex::new(Accounts::default()),
        }))
    }

    /// Writes any counters not yet committed (called at shutdown).
    pub fn flush_payments(&self) {
        lock(&self.payments).flush();
    }

    /// Flushes, sends `save_state` and reads it back now (with a ledger); returns the
    /// highest confirmed seqno.
    pub fn commit_to_chain_now(&self) -> Result<u64, String> {
        match &self.money {
            Some(money) => money.commit_now(&self.payments),
            None => Err("this proxy runs without a ledger".into()),
        }
    }

    /// Adds a finished request's tokens to its client and worker (stats and payment
    /// counters) and returns the client's and the worker's payment snapshots and the
    /// tokens billed. With a
    /// reservation at most its remaining tokens are billed (§13.9: the surplus is neither
    /// charged nor credited, and counted in `unbilled_tokens`).
    pub fn settle(
        &self,
        client: &str,
        worker: &str,
        tokens: &types::TokensUsed,
        reservation: Option<&reservation::Reservation>,
    ) -> (PaymentSnapshot, PaymentSnapshot, u64) {
        self.charge(client, worker, tokens);
        let reported = u64::try_from(tokens.total_tokens_used).unwrap_or(0);
        let mut payments = lock(&self.payments);
        let billed = match reservation {
            None => reported,
            Some(r) => {
                let billed = r.consume(reported);
                payments.release(client, billed);
                billed
            }
        };
        if billed < reported {
            ProxyCounters::add(&self.counters.unbilled_tokens, reported - billed);
            tracing::warn!(
                client,
                worker,
                reported,
                billed,
                "usage beyond the reservation is not billed"
            );
        }
        payments.settle(client, worker, billed);
        (
            payments.snapshot(Side::Client, client),
            payments.snapshot(Side::Worker, worker),
            billed,
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

    /// The contract address of `owner` on `side` in the reference's wire form (what the
    /// handshakes send; empty when unknown).
    pub fn wire_sc_address(&self, side: Side, owner: &str) -> String {
        lock(&self.payments)
            .contract(side, owner)
            .map(|a| wire_form(&a, self.settings.is_testnet))
            .unwrap_or_default()
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
