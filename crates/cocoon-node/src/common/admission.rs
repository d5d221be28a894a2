//! Admission on an RPC port **before the handshake** (the proxy's two ports, the key
//! manager's one): what an unauthenticated peer may hold.
//!
//! A connection is *pending* from `accept` until its session is established: through the
//! PoW and RA-TLS gate (or the reference router's peer-info record behind a router) and the
//! `tcp.connect` init. Each RPC port (workers, clients) counts its own pending connections,
//! so a flood of one port never locks the other out:
//!
//! * **Global cap** ([`AdmissionLimits::max_pending`], default 1024): a connection beyond it
//!   is closed at once, never read.
//! * **Per-address cap** ([`AdmissionLimits::max_pending_per_address`], default 32): the same
//!   for one source address (an IPv6 source counts by its /64, which one host usually holds
//!   whole). Off behind a reference router, where every connection comes from the router.
//! * **Deadline** ([`AdmissionLimits::deadline`], default 10 s): everything from `accept` to
//!   the established session; a connection still pending then is closed. A peer solving the
//!   default difficulty-20 PoW needs about 2^20 SHA-256 hashes, well under a second of one
//!   core (see `docs/security.md`).
//!
//! Established sessions are not counted: they have passed the PoW and the attestation
//! policy, and their own limits apply (the handshake timeout, worker liveness).
//!
//! Every shed connection is counted by reason; [`PortAdmission::report_if_due`] logs at most
//! one warning per [`SHED_LOG_INTERVAL`] per port with the counts since the last one, so an
//! operator sees a flood without one line per connection.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::warn;

pub use crate::http_server::SHED_LOG_INTERVAL;

/// The limits of one RPC port before the handshake. See the module docs for each figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Most pending connections on the port.
    pub max_pending: usize,
    /// Most pending connections on the port from one source address.
    pub max_pending_per_address: usize,
    /// Longest time from `accept` to an established session.
    pub deadline: Duration,
}

impl AdmissionLimits {
    /// Default global cap (per port).
    pub const MAX_PENDING: usize = 1024;
    /// Default per-address cap (per port).
    pub const MAX_PENDING_PER_ADDRESS: usize = 32;
    /// Default handshake deadline.
    pub const DEADLINE: Duration = Duration::from_secs(10);
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        AdmissionLimits {
            max_pending: Self::MAX_PENDING,
            max_pending_per_address: Self::MAX_PENDING_PER_ADDRESS,
            deadline: Self::DEADLINE,
        }
    }
}

/// SHA-256 hashes per second a slow peer is assumed to try while solving the PoW: one core,
/// shared (release build: 2^20 hashes took 0.21 s, 4.9 M/s, on a 2-core machine at load 5).
pub const SLOW_PEER_HASHES_PER_SECOND: f64 = 4.0e6;

/// The same for a peer running a debug build (`opt-level` 0): 2^20 hashes took 13.1 s on
/// that machine at load 11 (0.08 M/s), so difficulty 20 does not fit the default deadline
/// there; `cocoon up` asks difficulty 12 (0.05 s).
pub const DEBUG_BUILD_HASHES_PER_SECOND: f64 = 8.0e4;

/// Whether a peer solving a PoW of `difficulty` at `hashes_per_second` is expected to finish
/// within a tenth of `deadline` (so the deadline leaves it a wide margin: the number of tries
/// is geometric, and needing ten times its mean has odds e^-10). The default difficulty 20
/// takes 0.26 s at [`SLOW_PEER_HASHES_PER_SECOND`] against the default 10 s.
pub fn deadline_fits_pow(deadline: Duration, difficulty: u32, hashes_per_second: f64) -> bool {
    let expected = 2f64.powi(difficulty.min(64) as i32) / hashes_per_second;
    deadline.as_secs_f64() >= 10.0 * expected
}

/// Why a connection was shed before its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShedReason {
    /// The port's pending connections were at [`AdmissionLimits::max_pending`].
    GlobalCap,
    /// Its address's pending connections were at [`AdmissionLimits::max_pending_per_address`].
    AddressCap,
    /// It was still pending at [`AdmissionLimits::deadline`].
    Deadline,
}

/// Sheds by reason (global cap, address cap, deadline).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ShedCounts {
    pub global_cap: u64,
    pub address_cap: u64,
    pub deadline: u64,
}

impl ShedCounts {
    fn add(&mut self, reason: ShedReason) {
        let n = match reason {
            ShedReason::GlobalCap => &mut self.global_cap,
            ShedReason::AddressCap => &mut self.address_cap,
            ShedReason::Deadline => &mut self.deadline,
        };
        *n += 1;
    }

    fn any(&self) -> bool {
        self.global_cap + self.address_cap + self.deadline > 0
    }
}

#[derive(Debug, Default)]
struct State {
    pending: usize,
    by_address: HashMap<IpAddr, usize>,
    /// Sheds not yet logged.
    unreported: ShedCounts,
    /// Every shed since the port started serving.
    total: ShedCounts,
    last_report: Option<Instant>,
}

/// The pending connections of one RPC port and its shed counters.
#[derive(Debug)]
pub struct PortAdmission {
    limits: AdmissionLimits,
    /// "workers" or "clients", for the log lines.
    port: &'static str,
    /// Whether the per-address cap applies (not behind a router).
    per_address: bool,
    state: Mutex<State>,
}

impl PortAdmission {
    /// Admission for the port named `port` under `limits`; `per_address` = whether the
    /// per-address cap applies.
    pub fn new(limits: AdmissionLimits, port: &'static str, per_address: bool) -> Arc<Self> {
        Arc::new(PortAdmission {
            limits,
            port,
            per_address,
            state: Mutex::default(),
        })
    }

    /// The limits this port applies.
    pub fn limits(&self) -> AdmissionLimits {
        self.limits
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update is one step.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a connection from `source` as pending, or says why it must be closed (the
    /// shed is counted and, when due, logged). The slot is released when dropped.
    pub fn admit(self: &Arc<Self>, source: IpAddr) -> Result<PendingSlot, ShedReason> {
        let key = address_key(source);
        let refused = {
            let mut st = self.state();
            let from_address = st.by_address.get(&key).copied().unwrap_or(0);
            let refused = if st.pending >= self.limits.max_pending {
                Some(ShedReason::GlobalCap)
            } else if self.per_address && from_address >= self.limits.max_pending_per_address {
                Some(ShedReason::AddressCap)
            } else {
                None
            };
            if refused.is_none() {
                st.pending += 1;
                *st.by_address.entry(key).or_insert(0) += 1;
            }
            refused
        };
        match refused {
            Some(reason) => {
                self.note_shed(reason);
                Err(reason)
            }
            None => Ok(PendingSlot {
                port: self.clone(),
                key,
            }),
        }
    }

    /// Connections pending now.
    pub fn pending(&self) -> usize {
        self.state().pending
    }

    /// Every shed since this port started serving.
    pub fn shed_total(&self) -> ShedCounts {
        self.state().total
    }

    fn release(&self, key: IpAddr) {
        let mut st = self.state();
        st.pending = st.pending.saturating_sub(1);
        if let Some(n) = st.by_address.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                st.by_address.remove(&key);
            }
        }
    }

    fn note_shed(&self, reason: ShedReason) {
        {
            let mut st = self.state();
            st.unreported.add(reason);
            st.total.add(reason);
        }
        self.report_if_due();
    }

    /// Logs the sheds not yet reported, if there are any and the last report is at least
    /// [`SHED_LOG_INTERVAL`] old. The accept loop also calls it on a timer, so the sheds
    /// after a report are reported too once the interval has passed.
    pub fn report_if_due(&self) {
        let (counts, pending, address_count) = {
            let mut st = self.state();
            let due = st
                .last_report
                .is_none_or(|t| t.elapsed() >= SHED_LOG_INTERVAL);
            if !due || !st.unreported.any() {
                return;
            }
            st.last_report = Some(Instant::now());
            let counts = std::mem::take(&mut st.unreported);
            (counts, st.pending, st.by_address.len())
        };
        warn!(
            port = self.port,
            shed_global_cap = counts.global_cap,
            shed_address_cap = counts.address_cap,
            shed_deadline = counts.deadline,
            pending,
            pending_addresses = address_count,
            max_pending = self.limits.max_pending,
            max_pending_per_address = self.limits.max_pending_per_address,
            deadline_s = self.limits.deadline.as_secs_f64(),
            "shedding connections before the handshake (counts since the last such line)"
        );
    }
}

/// One pending connection; dropping it (session established, or connection over) frees its
/// place under the caps.
#[derive(Debug)]
pub struct PendingSlot {
    port: Arc<PortAdmission>,
    key: IpAddr,
}

impl PendingSlot {
    /// The connection was still pending at the deadline (it is being closed).
    pub fn timed_out(self) {
        self.port.note_shed(ShedReason::Deadline);
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        self.port.release(self.key);
    }
}

/// The address a source counts under: IPv4 (and IPv4-mapped IPv6) as is, IPv6 by its /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

/// Accepts connections on `listener` until the task is aborted (which drops every
/// connection it spawned): each one is admitted under `admission`'s caps (beyond them it is
/// closed unread) and handed with its pending slot to `handle`; shed counts are reported
/// every [`SHED_LOG_INTERVAL`]. One loop for every RPC port (the proxy's two, the key
/// manager's).
pub async fn accept_admitted<F, Fut>(
    listener: tokio::net::TcpListener,
    admission: Arc<PortAdmission>,
    handle: F,
) where
    F: Fn(tokio::net::TcpStream, std::net::SocketAddr, PendingSlot) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut report = tokio::time::interval(SHED_LOG_INTERVAL);
    report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, addr)) => match admission.admit(addr.ip()) {
                    Ok(slot) => {
                        conns.spawn(handle(tcp, addr, slot));
                    }
                    // Shed (counted and reported by the admission): closed unread.
                    Err(_) => drop(tcp),
                },
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = report.tick() => admission.report_if_due(),
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
