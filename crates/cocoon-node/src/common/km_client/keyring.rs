//! The request-encryption keys a node got from the key manager (delta-2026-04 §3.6): public
//! key → {seed, expiry}, filled by the poll loop and read by request routing.
//!
//! As the reference: a key already known is never replaced by a later answer (its expiry
//! stays what it was first given), and a key is dropped once its expiry passed. Unlike the
//! reference, an expired key is also unknown to [`KeyRing::seed_for`] between two clean-ups,
//! and the ring holds at most [`KeyRing::capacity`] keys (the key manager keeps about 24
//! live; more are ignored with a warning so a faulty one cannot grow our memory).
//!
//! Seeds are wiped on drop ([`Seed`]) and never shown: the views list public keys only.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use cocoon_e2e::Seed;
use cocoon_wire::schema::types;

/// Default [`KeyRing::capacity`].
pub const DEFAULT_MAX_KEYS: usize = 1024;

/// One known key, without its seed (what stats show).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KnownKey {
    /// The Ed25519 public key, lower-case hex.
    pub public_key: String,
    /// Unix time the key expires at (the key manager's `valid_until_utime`).
    pub expire_at: i64,
}

/// What one merge of a key-manager answer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeResult {
    /// Keys new to the ring.
    pub added: usize,
    /// Keys already known (left as they were).
    pub known: usize,
    /// Keys given already expired (not added).
    pub expired: usize,
    /// Keys left out because the ring was full.
    pub over_capacity: usize,
}

struct Entry {
    seed: Seed,
    expire_at: i64,
}

/// The known keys plus the key-manager client's counters.
pub struct KeyRing {
    keys: Mutex<BTreeMap<[u8; 32], Entry>>,
    capacity: usize,
    /// Answers from the key manager merged.
    pub polls_ok: AtomicU64,
    /// Failed dials, refused key managers and failed or undecodable queries.
    pub poll_failures: AtomicU64,
    /// The key manager now targeted (`ip:port`), if any.
    target: Mutex<Option<String>>,
    /// The latest failure, for stats (no key material in it).
    last_error: Mutex<Option<String>>,
}

impl Default for KeyRing {
    fn default() -> Self {
        KeyRing::with_capacity(DEFAULT_MAX_KEYS)
    }
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("keys", &self.len())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl KeyRing {
    /// An empty ring holding at most `capacity` keys.
    pub fn with_capacity(capacity: usize) -> Self {
        KeyRing {
            keys: Mutex::new(BTreeMap::new()),
            capacity,
            polls_ok: AtomicU64::new(0),
            poll_failures: AtomicU64::new(0),
            target: Mutex::new(None),
            last_error: Mutex::new(None),
        }
    }

    /// The most keys held at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Adds every key of a key-manager answer not yet known and not expired at `now`
    /// (unix seconds); the public key is derived from each seed.
    pub fn merge(&self, answer: &[types::key_manager::PrivateKey], now: i64) -> MergeResult {
        let mut result = MergeResult::default();
        let mut keys = lock(&self.keys);
        for k in answer {
            let expire_at = i64::from(k.valid_until_utime);
            if expire_at <= now {
                result.expired += 1;
                continue;
            }
            let seed = Seed::from_bytes(k.private_key);
            let public = seed.public_key().0;
            if keys.contains_key(&public) {
                result.known += 1;
            } else if keys.len() >= self.capacity {
                result.over_capacity += 1;
            } else {
                keys.insert(public, Entry { seed, expire_at });
                result.added += 1;
            }
        }
        result
    }

    /// The seed of `public_key` if it is known and not expired at `now`.
    pub fn seed_for(&self, public_key: &[u8; 32], now: i64) -> Option<Seed> {
        lock(&self.keys)
            .get(public_key)
            .filter(|e| e.expire_at > now)
            .map(|e| e.seed.clone())
    }

    /// Drops every key expired at `now`; returns how many.
    pub fn drop_expired(&self, now: i64) -> usize {
        let mut keys = lock(&self.keys);
        let before = keys.len();
        keys.retain(|_, e| e.expire_at > now);
        before - keys.len()
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        lock(&self.keys).len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys held (public part and expiry), by public key.
    pub fn known(&self) -> Vec<KnownKey> {
        lock(&self.keys)
            .iter()
            .map(|(public, e)| KnownKey {
                public_key: hex::encode(public),
                expire_at: e.expire_at,
            })
            .collect()
    }

    /// Records the key manager now targeted.
    pub(super) fn set_target(&self, target: Option<String>) {
        *lock(&self.target) = target;
    }

    /// The key manager now targeted (`ip:port`).
    pub fn target(&self) -> Option<String> {
        lock(&self.target).clone()
    }

    /// Counts a failure and keeps its text for stats.
    pub(super) fn record_failure(&self, error: &str) {
        self.poll_failures.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_error) = Some(error.to_owned());
    }

    /// Counts a merged answer and clears the last error.
    pub(super) fn record_success(&self) {
        self.polls_ok.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_error) = None;
    }

    /// The latest failure since the last good answer.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    /// Stats view: target, counters, last error and the known keys (never a seed).
    pub fn stats_json(&self) -> serde_json::Value {
        serde_json::json!({
            "key_manager_address": self.target(),
            "polls_ok": self.polls_ok.load(Ordering::Relaxed),
            "poll_failures": self.poll_failures.load(Ordering::Relaxed),
            "last_error": self.last_error(),
            "known_keys": self.known(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8, valid_until: i32) -> types::key_manager::PrivateKey {
        types::key_manager::PrivateKey {
            valid_until_utime: valid_until,
            private_key: [seed; 32],
        }
    }

    fn public(seed: u8) -> [u8; 32] {
        Seed::from_bytes([seed; 32]).public_key().0
    }

    #[test]
    fn merge_adds_new_keys_and_keeps_the_first_expiry() {
        let ring = KeyRing::default();
        let r = ring.merge(&[key(1, 200), key(2, 300)], 100);
        assert_eq!((r.added, r.known, r.expired), (2, 0, 0));
        // The same seed again with another expiry: known, expiry unchanged (as the reference).
        let r = ring.merge(&[key(1, 900)], 100);
        assert_eq!((r.added, r.known), (0, 1));
        let listed = ring.known();
        let first = listed
            .iter()
            .find(|k| k.public_key == hex::encode(public(1)))
            .expect("key 1 listed");
        assert_eq!(first.expire_at, 200);
        assert_eq!(
            ring.seed_for(&public(2), 100).map(|s| *s.as_bytes()),
            Some([2; 32])
        );
    }

    #[test]
    fn expired_keys_are_not_added_not_served_and_dropped() {
        let ring = KeyRing::default();
        let r = ring.merge(&[key(1, 100), key(2, -5), key(3, 150)], 100);
        assert_eq!((r.added, r.expired), (1, 2));
        assert!(ring.seed_for(&public(1), 100).is_none());
        assert!(ring.seed_for(&public(3), 149).is_some());
        // At its expiry the key is unknown even before the clean-up runs.
        assert!(ring.seed_for(&public(3), 150).is_none());
        assert_eq!(ring.drop_expired(149), 0);
        assert_eq!(ring.drop_expired(150), 1);
        assert!(ring.is_empty());
    }

    #[test]
    fn capacity_bounds_the_ring() {
        let ring = KeyRing::with_capacity(2);
        let r = ring.merge(&[key(1, 500), key(2, 500), key(3, 500)], 0);
        assert_eq!((r.added, r.over_capacity), (2, 1));
        assert_eq!(ring.len(), 2);
        assert!(ring.seed_for(&public(3), 0).is_none());
    }

    proptest::proptest! {
        /// Any answer a key manager may send: no panic, the ring stays within its capacity,
        /// and every key it keeps is live and served under its derived public key.
        #[test]
        fn any_answer_merges_within_bounds(
            answer in proptest::collection::vec(
                (proptest::prelude::any::<[u8; 32]>(), proptest::prelude::any::<i32>()),
                0..40,
            ),
            now in proptest::prelude::any::<i32>(),
        ) {
            let ring = KeyRing::with_capacity(16);
            let keys: Vec<_> = answer
                .iter()
                .map(|(seed, until)| types::key_manager::PrivateKey {
                    valid_until_utime: *until,
                    private_key: *seed,
                })
                .collect();
            let now = i64::from(now);
            let r = ring.merge(&keys, now);
            proptest::prop_assert_eq!(r.added + r.known + r.expired + r.over_capacity, keys.len());
            proptest::prop_assert!(ring.len() <= 16);
            for k in ring.known() {
                proptest::prop_assert!(k.expire_at > now);
                let public: [u8; 32] = hex::decode(&k.public_key).unwrap().try_into().unwrap();
                proptest::prop_assert!(ring.seed_for(&public, now).is_some());
            }
        }
    }

    #[test]
    fn stats_show_public_keys_only() {
        let ring = KeyRing::default();
        ring.merge(&[key(9, 500)], 0);
        let text = ring.stats_json().to_string();
        assert!(text.contains(&hex::encode(public(9))));
        assert!(!text.contains(&hex::encode([9u8; 32])));
        assert!(!format!("{ring:?}").contains(&hex::encode([9u8; 32])));
    }
}
