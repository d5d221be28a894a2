//! The keys the key manager holds, kept in memory and in the [`KeyStore`], and the
//! blocking steps that change them: the schedule tick ([`KeyRing::tick`]: expire, rotate,
//! register), manual generation and removal. Every change is committed to the store
//! before it is visible (served or registered), so a crash never loses a key handed out.
//!
//! **Registration** (delta §3.3): each stored key (not the fixed test key, which the
//! fake-TON root lists already) is sent once with `root_add_public_key_signed` through the
//! ledger, from the key manager's wallet, signed with the machine key. A failure is logged
//! and retried every [`super::KeyManagerSettings::registration_retry`] until the ledger
//! accepts it; an accepted registration is recorded in the store, so after a restart only
//! the keys still unregistered are sent again. Keys are **served before they are
//! registered**, as the reference does (it sends the message and moves on): a caller only
//! encrypts to keys it finds on the root, so serving an unregistered key exposes nothing,
//! and proxies hold the key by the time callers can use it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cocoon_ledger::ledger::{Ledger, LedgerError};
use cocoon_ledger::root_keys::KeyRegistration;
use ed25519_dalek::SigningKey;
use tonlib_core::TonAddress;
use tracing::{info, warn};

use super::keys::{plan, KeyRecord, AUTO_KEY_TYPE};
use super::store::{KeyStore, StoreError};

/// Unix time now, seconds (injected so tests drive the schedule).
pub type Clock = Arc<dyn Fn() -> u32 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
    })
}

/// Where a key stands with the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Registration {
    /// Accepted by the ledger.
    Registered,
    /// Not yet (retried).
    Pending,
    /// The fixed test key: never sent (the fake-TON root lists it), never stored.
    TestKey,
}

/// One key with its registration state.
#[derive(Debug, Clone)]
pub struct HeldKey {
    pub record: KeyRecord,
    pub registration: Registration,
    /// When the next registration attempt may run (after a failure).
    retry_at: Option<Instant>,
    /// The last registration error, for the stats page.
    pub last_error: Option<String>,
}

/// Everything a registration needs: the ledger, the sending wallet and the machine key.
#[derive(Clone)]
pub struct Registrar {
    pub ledger: Arc<dyn Ledger>,
    /// The key manager's wallet (`owner_address`).
    pub wallet: TonAddress,
    /// Signs `root_add_public_key_signed` (`machine_specific_private_key`).
    pub machine_key: SigningKey,
    /// Wait after a failed attempt.
    pub retry: Duration,
}

/// Counters shown on the stats pages.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct RingCounters {
    pub generated: u64,
    pub expired: u64,
    pub removed: u64,
    pub registrations_sent: u64,
    pub registrations_failed: u64,
}

struct Inner {
    keys: BTreeMap<[u8; 32], HeldKey>,
    config_version: i32,
    counters: RingCounters,
}

/// The keys (see the module doc).
pub struct KeyRing {
    store: KeyStore,
    inner: Mutex<Inner>,
    registrar: Option<Registrar>,
    clock: Clock,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Why a manual step failed.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no key {0}")]
    NoSuchKey(String),
}

impl KeyRing {
    /// The ring over `store` and what it held at open; with `test_key` the reference's
    /// fixed test key is added (in memory only).
    pub fn new(
        store: KeyStore,
        stored: super::store::StoredState,
        registrar: Option<Registrar>,
        clock: Clock,
        test_key: bool,
    ) -> KeyRing {
        let now = clock();
        let config_version = stored.config_version.unwrap_or(0);
        let mut keys = BTreeMap::new();
        for s in stored.keys {
            let registration = if s.registered {
                Registration::Registered
            } else {
                Registration::Pending
            };
            keys.insert(
                s.record.public_key,
                HeldKey {
                    record: s.record,
                    registration,
                    retry_at: None,
                    last_error: None,
                },
            );
        }
        if test_key {
            let k = KeyRecord::test_key(now, config_version);
            keys.insert(
                k.public_key,
                HeldKey {
                    record: k,
                    registration: Registration::TestKey,
                    retry_at: None,
                    last_error: None,
                },
            );
        }
        KeyRing {
            store,
            inner: Mutex::new(Inner {
                keys,
                config_version,
                counters: RingCounters::default(),
            }),
            registrar,
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Unix time now (the ring's clock).
    pub fn now(&self) -> u32 {
        (self.clock)()
    }

    /// Every live key (what callers are served), oldest first.
    pub fn live_keys(&self) -> Vec<KeyRecord> {
        let now = self.now();
        let mut keys: Vec<KeyRecord> = self
            .lock()
            .keys
            .values()
            .filter(|k| !k.record.expired_at(now))
            .map(|k| k.record.clone())
            .collect();
        keys.sort_by_key(|k| (k.valid_since, k.public_key));
        keys
    }

    /// Every held key with its registration state, oldest first.
    pub fn held_keys(&self) -> Vec<HeldKey> {
        let mut keys: Vec<HeldKey> = self.lock().keys.values().cloned().collect();
        keys.sort_by_key(|k| (k.record.valid_since, k.record.public_key));
        keys
    }

    pub fn counters(&self) -> RingCounters {
        self.lock().counters
    }

    pub fn config_version(&self) -> i32 {
        self.lock().config_version
    }

    /// Whether keys are registered anywhere (a ledger is attached).
    pub fn registers(&self) -> bool {
        self.registrar.is_some()
    }

    /// One schedule step (blocking: store writes, ledger calls): follow the root config
    /// version, delete expired keys, generate a type-1 key when due, send due registrations.
    pub fn tick(&self) -> Result<(), StoreError> {
        self.follow_root_version()?;
        let now = self.now();
        let step = plan(self.lock().keys.values().map(|k| &k.record), now);
        if !step.expired.is_empty() {
            self.store.remove_keys(&step.expired)?;
            let mut inner = self.lock();
            for k in &step.expired {
                inner.keys.remove(k);
            }
            inner.counters.expired += step.expired.len() as u64;
            info!(count = step.expired.len(), "expired keys deleted");
        }
        if step.generate {
            self.generate(AUTO_KEY_TYPE)?;
        }
        self.register_due();
        Ok(())
    }

    fn follow_root_version(&self) -> Result<(), StoreError> {
        let Some(r) = &self.registrar else {
            return Ok(());
        };
        let Ok(config) = r.ledger.root_config() else {
            return Ok(());
        };
        let version = i32::try_from(config.version).unwrap_or(i32::MAX);
        if version > self.config_version() {
            self.store.set_config_version(version)?;
            self.lock().config_version = version;
        }
        Ok(())
    }

    /// Generates, stores (durably) and holds a key of `key_type`; returns it.
    pub fn generate(&self, key_type: u8) -> Result<KeyRecord, StoreError> {
        let key = KeyRecord::generate(key_type, self.now(), self.config_version());
        self.store.put_key(&key)?;
        let mut inner = self.lock();
        inner.keys.insert(
            key.public_key,
            HeldKey {
                record: key.clone(),
                registration: Registration::Pending,
                retry_at: None,
                last_error: None,
            },
        );
        inner.counters.generated += 1;
        info!(public_key = %hex::encode(key.public_key), key_type,
            valid_until = key.valid_until, "key generated");
        Ok(key)
    }

    /// Deletes the key `public_key` (store first).
    pub fn remove(&self, public_key: &[u8; 32]) -> Result<(), RingError> {
        if !self.lock().keys.contains_key(public_key) {
            return Err(RingError::NoSuchKey(hex::encode(public_key)));
        }
        self.store.remove_keys(&[*public_key])?;
        let mut inner = self.lock();
        inner.keys.remove(public_key);
        inner.counters.removed += 1;
        info!(public_key = %hex::encode(public_key), "key removed by the operator");
        Ok(())
    }

    /// Sends the registrations that are due (pending, not waiting after a failure).
    fn register_due(&self) {
        let Some(r) = &self.registrar else {
            return;
        };
        let now = Instant::now();
        let due: Vec<KeyRecord> = self
            .lock()
            .keys
            .values()
            .filter(|k| k.registration == Registration::Pending)
            .filter(|k| k.retry_at.is_none_or(|t| t <= now))
            .map(|k| k.record.clone())
            .collect();
        for key in due {
            let result = self.register(r, &key);
            let mut inner = self.lock();
            match result {
                Ok(()) => {
                    inner.counters.registrations_sent += 1;
                    if let Some(k) = inner.keys.get_mut(&key.public_key) {
                        k.registration = Registration::Registered;
                        k.last_error = None;
                    }
                }
                Err(e) => {
                    inner.counters.registrations_failed += 1;
                    warn!(public_key = %hex::encode(key.public_key), error = %e,
                        retry_in_s = r.retry.as_secs_f64(), "key registration failed; retrying");
                    if let Some(k) = inner.keys.get_mut(&key.public_key) {
                        k.retry_at = Some(Instant::now() + r.retry);
                        k.last_error = Some(e);
                    }
                }
            }
        }
    }

    fn register(&self, r: &Registrar, key: &KeyRecord) -> Result<(), String> {
        let signed = KeyRegistration {
            query_id: rand::random(),
            public_key: key.public_key,
            key_type: key.key_type,
            valid_until: key.valid_until,
        }
        .sign(&r.machine_key)
        .map_err(|e| e.to_string())?;
        r.ledger
            .root_add_public_key(&r.wallet, &signed)
            .map_err(|e| match e {
                LedgerError::InsufficientFunds { needed, .. } => {
                    format!("{e}; {}", r.ledger.funding_hint(&r.wallet.to_hex(), needed))
                }
                other => other.to_string(),
            })?;
        self.store
            .mark_registered(&key.public_key)
            .map_err(|e| e.to_string())?;
        info!(public_key = %hex::encode(key.public_key), network = r.ledger.network(),
            "key registered on the root");
        Ok(())
    }
}

#[cfg(test)]
#[path = "ring_tests.rs"]
mod tests;
