//! End-to-end encryption of requests (delta-2026-04 §2): which key manager key a request
//! is encrypted to, and the caller's key pair.
//!
//! The key is picked per request among the root config's registered keys: type 1, not
//! expired, the latest expiry first. The caller's seed is **fresh per request** (random,
//! never stored): two requests of one app cannot be linked by their `sender_public_key`,
//! and a seed only lives as long as the answer stream that needs it.

use cocoon_e2e::{PublicKey, Seed};
use cocoon_node::config::RegisteredPublicKey;

/// Whether requests are encrypted end to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encryption {
    /// Encrypt when the root config lists a live type-1 key (the default); send in clear
    /// otherwise.
    #[default]
    Auto,
    /// Always encrypt; a request fails with [`crate::Error::NoEncryptionKey`] when no live
    /// key is listed.
    Required,
    /// Never encrypt (the request's content is visible to the network path past TLS).
    Off,
}

/// The key type the key manager uses for request keys.
pub const REQUEST_KEY_TYPE: i32 = 1;

/// The registered key a request made at `now` (unix seconds) is encrypted to: type 1, not
/// expired, the latest expiry (the first listed among equals).
pub fn pick_key(keys: &[RegisteredPublicKey], now: u64) -> Option<PublicKey> {
    keys.iter()
        .filter(|k| k.key_type == REQUEST_KEY_TYPE)
        .filter(|k| u64::try_from(k.expire_at).is_ok_and(|at| at > now))
        .fold(None::<&RegisteredPublicKey>, |best, k| match best {
            Some(b) if b.expire_at >= k.expire_at => Some(b),
            _ => Some(k),
        })
        .map(|k| PublicKey(k.public_key.0))
}

/// The keys of one encrypted request: the caller's fresh seed and the key manager key.
#[derive(Debug, Clone)]
pub struct RequestKeys {
    pub caller: Seed,
    pub key_manager: PublicKey,
}

impl RequestKeys {
    /// A fresh caller seed for a request to `key_manager`.
    pub fn fresh(key_manager: PublicKey) -> Self {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        RequestKeys {
            caller: Seed::from_bytes(seed),
            key_manager,
        }
    }

    /// Encrypts a prepared (clear, compact JSON object) request body.
    pub fn seal(&self, body: &[u8]) -> Result<Vec<u8>, cocoon_e2e::E2eError> {
        cocoon_e2e::json::encrypt_request_body(body, &self.caller, &self.key_manager)
            .map(String::into_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cocoon_node::config::Int256;

    fn key(byte: u8, key_type: i32, expire_at: i32) -> RegisteredPublicKey {
        RegisteredPublicKey {
            public_key: Int256([byte; 32]),
            key_type,
            expire_at,
        }
    }

    #[test]
    fn the_live_type_1_key_with_the_latest_expiry_is_picked() {
        let keys = [
            key(1, 1, 2_000),
            key(2, 1, 3_000),
            key(3, 2, 9_000), // another type
            key(4, 1, 500),   // expired
        ];
        assert_eq!(pick_key(&keys, 1_000), Some(PublicKey([2; 32])));
        // Once the later one expires too, nothing is left.
        assert_eq!(pick_key(&keys, 3_000), None);
        assert_eq!(pick_key(&[], 0), None);
        // Among equal expiries the first listed wins.
        assert_eq!(
            pick_key(&[key(5, 1, 10), key(6, 1, 10)], 0),
            Some(PublicKey([5; 32]))
        );
    }

    #[test]
    fn a_sealed_body_opens_at_the_key_manager_and_keeps_routing_fields_clear() {
        let km = Seed::from_bytes([9; 32]);
        let keys = RequestKeys::fresh(km.public_key());
        let other = RequestKeys::fresh(km.public_key());
        assert_ne!(
            keys.caller.public_key(),
            other.caller.public_key(),
            "fresh per request"
        );
        let body =
            br#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"secret"}]}"#;
        let sealed = keys.seal(body).expect("seal");
        let text = String::from_utf8(sealed.clone()).expect("utf8");
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains(r#""model":"m""#), "{text}");
        let (clear, sender) =
            cocoon_e2e::json::decrypt_request_body(&sealed, Some(&km)).expect("opens");
        assert_eq!(sender, Some(keys.caller.public_key()));
        assert_eq!(clear["messages"][0]["content"], "secret");
    }
}
