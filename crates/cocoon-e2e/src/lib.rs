//! End-to-end request encryption between an HTTP caller and the worker, as the
//! April-2026 reference does it (`delta-2026-04.md` §2). A layer beside `cocoon-tee`:
//! pure functions over bytes and JSON values, no I/O.
//!
//! # The scheme, in short
//!
//! * The key manager publishes Ed25519 public keys; proxies and workers get the seeds.
//!   The caller has an Ed25519 seed of its own and encrypts to one published key.
//! * Key agreement ([`keys`]): both seeds are turned into X25519 scalars and both public
//!   keys into Montgomery points (libsodium's conversions); the X25519 value `x` gives a
//!   per-message secret `SHA-256(x ‖ nonce text ‖ direction byte)`, the nonce being the
//!   envelope's `encryption_nonce` string and the direction `c` (caller→worker) or `w`
//!   (worker→caller).
//! * Cipher ([`cipher`]): Telegram's tde2e message encryption — a random padding prefix,
//!   an HMAC-SHA-256 message key that authenticates the plaintext, AES-256-CBC keyed from
//!   the message key; a value is written `ENC_<hex>`. `DEC_<text>` is taken as clear text.
//! * Envelopes ([`envelope`], [`json`], [`multipart`]): an encrypted body carries
//!   `is_encrypted`, `sender_public_key`, `receiver_public_key`, `encryption_nonce`; every
//!   string value (JSON: at any depth; forms: every field, the file included) is encrypted
//!   except the envelope and a short list of routing/accounting names (`model`,
//!   `max_tokens`, …). Numbers, booleans and null stay clear.
//! * Answers ([`stream`]): the worker encrypts each JSON value of the backend's stream to
//!   the caller's key with a fresh nonce, one line each.
//!
//! Errors ([`E2eError`]) carry the reference's texts and TON codes. Untrusted input never
//! panics.

pub mod cipher;
pub mod envelope;
pub mod error;
pub mod json;
pub mod keys;
pub mod multipart;
pub mod stream;

pub use envelope::Receiver;
pub use error::E2eError;
pub use keys::{Direction, PublicKey, Seed};
