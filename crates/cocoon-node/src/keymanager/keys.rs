//! The key manager's request-encryption keys and their schedule (delta-2026-04 §3.2).
//!
//! A key is an Ed25519 pair (the private part is the 32-byte seed) with a type, the root
//! config version it was made under and a validity window. [`plan`] is the reference's
//! alarm step as a pure function of the keys and the time: keys whose `valid_until` has
//! passed are deleted; when no type-1 key is live, or the newest one is older than
//! [`KEY_GENERATE_PERIOD`], a new type-1 key valid for [`KEY_TTL`] is generated (so about 24
//! keys are live at a time). Only type 1 is rotated; other types are made by hand
//! (`/request/generatekey?type=`).

use std::fmt;

use base64::Engine as _;
use ed25519_dalek::SigningKey;

/// The auto-rotated request-encryption key type.
pub const AUTO_KEY_TYPE: u8 = 1;
/// Lifetime of a generated key, seconds (reference `key_ttl`).
pub const KEY_TTL: u32 = 86_400;
/// A new type-1 key once the newest is older than this, seconds (`key_generate_period`).
pub const KEY_GENERATE_PERIOD: u32 = 3_600;

/// The reference's fixed test key (fake-TEE test mode only): seed, base64.
pub const TEST_KEY_SEED_BASE64: &str = "BwrYLmEy2rMgZ/tyCv0AYFVaZPkFu+wNwoSQiJUbOmM=";
/// Its public key, base64 (the shipped fake-TON root config registers exactly this key).
pub const TEST_KEY_PUBLIC_BASE64: &str = "+2fQ/NM48g4NSVfZ6CrcEB0uNROkSKOrRgUu4biMWBg=";
/// Its expiry (unix time).
pub const TEST_KEY_VALID_UNTIL: u32 = 2_000_000_000;

/// One key pair the key manager holds. `Debug` hides the seed.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Ed25519 seed (what `keyManager.privateKey.private_key` carries).
    pub seed: [u8; 32],
    /// Ed25519 public key (what callers encrypt to, registered on the root).
    pub public_key: [u8; 32],
    /// Key type (1: auto-rotated).
    pub key_type: u8,
    /// Root config version when it was made.
    pub valid_since_config_version: i32,
    /// Unix time it was made.
    pub valid_since: u32,
    /// Unix time it expires.
    pub valid_until: u32,
}

impl fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("public_key", &hex::encode(self.public_key))
            .field("key_type", &self.key_type)
            .field("valid_since", &self.valid_since)
            .field("valid_until", &self.valid_until)
            .finish_non_exhaustive()
    }
}

impl KeyRecord {
    /// The record of `seed` (its public key derived).
    pub fn from_seed(
        seed: [u8; 32],
        key_type: u8,
        valid_since_config_version: i32,
        valid_since: u32,
        valid_until: u32,
    ) -> KeyRecord {
        KeyRecord {
            public_key: SigningKey::from_bytes(&seed).verifying_key().to_bytes(),
            seed,
            key_type,
            valid_since_config_version,
            valid_since,
            valid_until,
        }
    }

    /// A fresh key of `key_type` made at `now` (random seed from the OS), valid [`KEY_TTL`].
    pub fn generate(key_type: u8, now: u32, config_version: i32) -> KeyRecord {
        let seed = SigningKey::generate(&mut rand::rngs::OsRng).to_bytes();
        KeyRecord::from_seed(
            seed,
            key_type,
            config_version,
            now,
            now.saturating_add(KEY_TTL),
        )
    }

    /// The reference's fixed test key, made "now" at start (so, as in the reference, it
    /// counts as a fresh type-1 key and delays the first rotation by an hour).
    pub fn test_key(now: u32, config_version: i32) -> KeyRecord {
        let mut seed = [0u8; 32];
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(TEST_KEY_SEED_BASE64)
            .unwrap_or_default();
        if decoded.len() == 32 {
            seed.copy_from_slice(&decoded);
        }
        KeyRecord::from_seed(
            seed,
            AUTO_KEY_TYPE,
            config_version,
            now,
            TEST_KEY_VALID_UNTIL,
        )
    }

    /// Whether the key is expired at `now` (the reference deletes it then).
    pub fn expired_at(&self, now: u32) -> bool {
        self.valid_until < now
    }
}

/// What one schedule step does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Public keys to delete (expired).
    pub expired: Vec<[u8; 32]>,
    /// Whether to generate a new type-1 key.
    pub generate: bool,
}

/// The reference's alarm step at `now` over `keys` (see the module doc).
pub fn plan<'a>(keys: impl IntoIterator<Item = &'a KeyRecord>, now: u32) -> Plan {
    let mut out = Plan::default();
    let mut newest_auto: Option<u32> = None;
    for key in keys {
        if key.expired_at(now) {
            out.expired.push(key.public_key);
        } else if key.key_type == AUTO_KEY_TYPE {
            newest_auto = Some(newest_auto.map_or(key.valid_since, |n| n.max(key.valid_since)));
        }
    }
    out.generate = match newest_auto {
        None => true,
        Some(newest) => u64::from(newest) + u64::from(KEY_GENERATE_PERIOD) < u64::from(now),
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u32 = 1_800_000_000;

    fn key(key_type: u8, since: u32) -> KeyRecord {
        KeyRecord::from_seed([since as u8; 32], key_type, 0, since, since + KEY_TTL)
    }

    #[test]
    fn no_key_means_generate() {
        assert_eq!(
            plan(&[], T0),
            Plan {
                expired: vec![],
                generate: true
            }
        );
    }

    #[test]
    fn a_fresh_type1_key_waits_an_hour_then_rotates() {
        let keys = [key(1, T0)];
        assert!(!plan(&keys, T0).generate);
        assert!(!plan(&keys, T0 + KEY_GENERATE_PERIOD).generate);
        assert!(plan(&keys, T0 + KEY_GENERATE_PERIOD + 1).generate);
    }

    #[test]
    fn only_type1_keys_count_for_rotation() {
        let keys = [key(2, T0)];
        assert!(plan(&keys, T0).generate);
    }

    #[test]
    fn the_newest_type1_key_decides() {
        let keys = [key(1, T0), key(1, T0 + 3000)];
        assert!(!plan(&keys, T0 + 3700).generate);
        assert!(plan(&keys, T0 + 3000 + KEY_GENERATE_PERIOD + 1).generate);
    }

    #[test]
    fn expired_keys_are_deleted_and_do_not_count() {
        let old = key(1, T0);
        let keys = [old.clone()];
        let at = T0 + KEY_TTL + 1;
        let p = plan(&keys, at);
        assert_eq!(p.expired, vec![old.public_key]);
        assert!(p.generate);
        // Valid through its last second.
        assert!(plan(&keys, T0 + KEY_TTL).expired.is_empty());
    }

    #[test]
    fn a_day_of_rotation_keeps_about_24_live_keys() {
        let mut keys: Vec<KeyRecord> = Vec::new();
        let mut now = T0;
        let mut seq = 0u32;
        while now < T0 + 3 * KEY_TTL {
            let p = plan(&keys, now);
            keys.retain(|k| !p.expired.contains(&k.public_key));
            if p.generate {
                seq += 1;
                let mut seed = [0u8; 32];
                seed[..4].copy_from_slice(&seq.to_be_bytes());
                keys.push(KeyRecord::from_seed(seed, 1, 0, now, now + KEY_TTL));
            }
            now += 60;
        }
        assert!((23..=25).contains(&keys.len()), "{} live keys", keys.len());
    }

    #[test]
    fn the_test_key_is_the_references() {
        let k = KeyRecord::test_key(T0, 0);
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(k.public_key),
            TEST_KEY_PUBLIC_BASE64
        );
        assert_eq!(k.valid_until, TEST_KEY_VALID_UNTIL);
        assert_eq!(k.key_type, AUTO_KEY_TYPE);
    }

    #[test]
    fn debug_hides_the_seed() {
        let k = KeyRecord::test_key(T0, 0);
        let shown = format!("{k:?}");
        assert!(!shown.contains("seed"), "{shown}");
    }
}
