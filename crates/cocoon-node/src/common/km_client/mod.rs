//! The key-manager client of a proxy (and, later, a worker): delta-2026-04 §3.6.
//!
//! Every 5–10 s (random; [`KeyManagerSettings::poll_interval`]) the loop of
//! [`run_key_manager_client`]:
//! 1. drops the expired keys of its [`KeyRing`];
//! 2. asks its [`KeyManagerSource`] which key manager the current root config names
//!    (`key_manager_address`, `key_manager_image_hash`); when that changed, the old link is
//!    closed, and with none (or an invalid address) there is no link at all;
//! 3. dials it when there is no open link, with the node's own [`DialConfig`] (PoW +
//!    RA-TLS with our certificate and the peer policy, or the reference router); with
//!    [`KeyManagerSettings::check_image_hash`] the key manager's attested image hash must
//!    equal the root's `key_manager_image_hash`, else the link is refused with "wrong key
//!    manager image hash";
//! 4. sends `keyManager.getProxyPrivateKeys{proto_version = 0}` (or the worker's) and merges
//!    the answer into the ring (each key's public part derived from its seed, a known key
//!    left as it was).
//!
//! Failures (no route, refused link, timeout, error answer) are counted, kept for stats and
//! logged at most once a minute ([`FailureLog`]); they are never fatal, and keys already
//! known stay usable until their expiry. Seeds are never logged.
//!
//! Differences from the reference, on purpose: the query is sent right after the link is
//! up (the reference waits for the next tick), and its timeout is 10 s instead of 60 s —
//! the answer is a few kilobytes and the loop polls every 5–10 s, so a key manager that has
//! not answered in 10 s is taken for hung, its link is closed and the next tick dials anew
//! instead of the loop waiting a minute.

mod keyring;
mod source;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cocoon_net::{QueryError, Session};
use cocoon_wire::schema::{enums, functions};
use rand::Rng;
use tracing::{debug, info, warn};

use super::dial::{dial_proxy, DialConfig};

pub use keyring::{KeyRing, KnownKey, MergeResult, DEFAULT_MAX_KEYS};
pub use source::{FixedKeyManager, KeyManagerSource, KeyManagerTarget, LedgerKeyManager};

/// Default [`KeyManagerSettings::poll_interval`] of a proxy (the reference's 5–10 s).
pub const PROXY_POLL_INTERVAL: (Duration, Duration) =
    (Duration::from_secs(5), Duration::from_secs(10));
/// Default [`KeyManagerSettings::query_timeout`] (see the module doc for why not 60 s).
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long dialing a key manager (TCP, PoW, RA-TLS, session init) may take.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(30);
/// At most one failure line per this interval (the rest are counted in it).
pub const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Which keys a node asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRequest {
    /// `keyManager.getProxyPrivateKeys`.
    Proxy,
    /// `keyManager.getWorkerPrivateKeys`.
    Worker,
}

/// How a node reaches its key manager.
#[derive(Clone)]
pub struct KeyManagerSettings {
    /// Where the current root config says the key manager is.
    pub source: Arc<dyn KeyManagerSource>,
    /// Our certificate and the key manager's policy (and optional router).
    pub dial: DialConfig,
    /// Each poll waits a random time in `[min, max]` after the previous one.
    pub poll_interval: (Duration, Duration),
    /// How long the key query may take.
    pub query_timeout: Duration,
    /// Refuse a key manager whose image hash is not the root's `key_manager_image_hash`
    /// (the reference's `check_image_hashes`).
    pub check_image_hash: bool,
    /// Which keys to ask for.
    pub request: KeyRequest,
}

impl std::fmt::Debug for KeyManagerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyManagerSettings")
            .field("dial", &self.dial)
            .field("poll_interval", &self.poll_interval)
            .field("query_timeout", &self.query_timeout)
            .field("check_image_hash", &self.check_image_hash)
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

impl KeyManagerSettings {
    /// A proxy's settings: the reference's 5–10 s polls, [`DEFAULT_QUERY_TIMEOUT`].
    pub fn proxy(
        source: Arc<dyn KeyManagerSource>,
        dial: DialConfig,
        check_image_hash: bool,
    ) -> Self {
        KeyManagerSettings {
            source,
            dial,
            poll_interval: PROXY_POLL_INTERVAL,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            check_image_hash,
            request: KeyRequest::Proxy,
        }
    }

    fn next_wait(&self) -> Duration {
        let (min, max) = self.poll_interval;
        if max <= min {
            return min;
        }
        rand::thread_rng().gen_range(min..=max)
    }
}

/// Unix time now, seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// An open link to one key manager.
struct Link {
    target: KeyManagerTarget,
    session: Session,
}

/// Failure lines at most once per [`FAILURE_LOG_INTERVAL`]; one line when it works again.
#[derive(Default)]
struct FailureLog {
    last_logged: Option<Instant>,
    suppressed: u64,
    failing: bool,
}

impl FailureLog {
    fn failure(&mut self, ring: &KeyRing, error: &str) {
        ring.record_failure(error);
        self.failing = true;
        let due = self
            .last_logged
            .is_none_or(|t| t.elapsed() >= FAILURE_LOG_INTERVAL);
        if due {
            warn!(
                error,
                suppressed = self.suppressed,
                known_keys = ring.len(),
                "key manager: no keys this time (known keys stay usable until they expire)"
            );
            self.last_logged = Some(Instant::now());
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
            debug!(error, "key manager: poll failed");
        }
    }

    fn success(&mut self) {
        if self.failing {
            info!("key manager: answering again");
        }
        self.failing = false;
        self.last_logged = None;
        self.suppressed = 0;
    }
}

/// Polls the key manager into `ring` until the task is aborted.
pub async fn run_key_manager_client(settings: KeyManagerSettings, ring: Arc<KeyRing>) {
    info!(
        poll_min_s = settings.poll_interval.0.as_secs_f64(),
        poll_max_s = settings.poll_interval.1.as_secs_f64(),
        check_image_hash = settings.check_image_hash,
        "key manager client started"
    );
    let mut link: Option<Link> = None;
    let mut log = FailureLog::default();
    loop {
        let dropped = ring.drop_expired(unix_now());
        if dropped > 0 {
            info!(dropped, left = ring.len(), "expired request keys dropped");
        }
        if let Err(e) = poll_once(&settings, &ring, &mut link).await {
            log.failure(&ring, &e);
        } else if link.is_some() {
            log.success();
        }
        tokio::time::sleep(settings.next_wait()).await;
    }
}

/// One poll; `Err` is what failed (already no link when the link is at fault).
async fn poll_once(
    settings: &KeyManagerSettings,
    ring: &KeyRing,
    link: &mut Option<Link>,
) -> Result<(), String> {
    let source = settings.source.clone();
    let current = tokio::task::spawn_blocking(move || source.current())
        .await
        .map_err(|e| format!("reading the root config failed: {e}"))?;
    // Without a readable root config the current link (if any) stays, as the reference.
    let target = current.map_err(|e| format!("root config: {e}"))?;
    if link.as_ref().map(|l| &l.target) != target.as_ref() {
        if let Some(old) = link.take() {
            info!(old = %old.target.address, new = ?target.as_ref().map(|t| t.address),
                "key manager changed in the root config; old link closed");
            old.session.close();
        }
        ring.set_target(target.as_ref().map(|t| t.address.to_string()));
    }
    let Some(target) = target else {
        return Ok(());
    };
    if link.as_ref().is_none_or(|l| l.session.is_closed()) {
        *link = None;
        let session = connect(settings, &target).await?;
        *link = Some(Link { target, session });
    }
    let Some(open) = link.as_ref() else {
        return Ok(());
    };
    match query_keys(&open.session, settings).await {
        Ok(keys) => {
            let merged = ring.merge(&keys, unix_now());
            ring.record_success();
            if merged.added > 0 || merged.over_capacity > 0 {
                info!(
                    added = merged.added,
                    known = ring.len(),
                    expired = merged.expired,
                    over_capacity = merged.over_capacity,
                    "request keys from the key manager"
                );
            }
            if merged.over_capacity > 0 {
                warn!(
                    capacity = ring.capacity(),
                    "the key manager sent more live keys than we keep; the rest are ignored"
                );
            }
            Ok(())
        }
        Err(e) => {
            // A remote error leaves the link usable; anything else drops it.
            if !matches!(e, QueryError::Remote { .. }) {
                if let Some(l) = link.take() {
                    l.session.close();
                }
            }
            Err(format!("keys query to {}: {e}", target.address))
        }
    }
}

/// Dials `target` and checks its image hash.
async fn connect(
    settings: &KeyManagerSettings,
    target: &KeyManagerTarget,
) -> Result<Session, String> {
    let addr = target.address.to_string();
    let dialed = tokio::time::timeout(DIAL_TIMEOUT, dial_proxy(&addr, &settings.dial))
        .await
        .map_err(|_| format!("dialing key manager {addr} timed out"))?;
    let (session, _inbound, peer) = dialed.map_err(|e| format!("key manager {addr}: {e}"))?;
    if settings.check_image_hash && peer.image_hash != target.image_hash {
        session.close();
        return Err(format!(
            "key manager {addr}: wrong key manager image hash {} (the root config says {})",
            hex::encode(peer.image_hash),
            hex::encode(target.image_hash)
        ));
    }
    info!(%addr, tee = %peer.tee, image_hash = %hex::encode(peer.image_hash),
        "connected to the key manager");
    Ok(session)
}

async fn query_keys(
    session: &Session,
    settings: &KeyManagerSettings,
) -> Result<Vec<cocoon_wire::schema::types::key_manager::PrivateKey>, QueryError> {
    let answer = match settings.request {
        KeyRequest::Proxy => {
            let call = functions::key_manager::GetProxyPrivateKeys { proto_version: 0 };
            session.call(&call, settings.query_timeout).await?
        }
        KeyRequest::Worker => {
            let call = functions::key_manager::GetWorkerPrivateKeys { proto_version: 0 };
            session.call(&call, settings.query_timeout).await?
        }
    };
    let enums::key_manager::PrivateKeys::PrivateKeys(keys) = answer;
    Ok(keys.keys)
}
