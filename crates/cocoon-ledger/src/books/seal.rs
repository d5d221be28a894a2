//! Sealing of stored values: `payload ‖ Ed25519 signature`, where the signature covers a
//! domain tag, the table name and the row key as well as the payload, so a valid row cannot
//! be moved to another key or table.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// Domain-separation tag of every signature in the books.
pub const SEAL_DOMAIN: &[u8] = b"cocoon-rs proxy books v1";

/// Length of the appended signature.
pub const SIGNATURE_LEN: usize = 64;

fn message(table: &str, key: &[u8], payload: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(SEAL_DOMAIN);
    h.update((table.len() as u64).to_be_bytes());
    h.update(table.as_bytes());
    h.update((key.len() as u64).to_be_bytes());
    h.update(key);
    h.update(payload);
    h.finalize().into()
}

/// Returns `payload ‖ signature`.
pub fn seal(signing_key: &SigningKey, table: &str, key: &[u8], payload: &[u8]) -> Vec<u8> {
    let signature = signing_key.sign(&message(table, key, payload));
    let mut out = Vec::with_capacity(payload.len() + SIGNATURE_LEN);
    out.extend_from_slice(payload);
    out.extend_from_slice(&signature.to_bytes());
    out
}

/// Checks a sealed value and returns its payload.
pub fn unseal<'a>(
    verifying_key: &VerifyingKey,
    table: &str,
    key: &[u8],
    sealed: &'a [u8],
) -> Option<&'a [u8]> {
    let split = sealed.len().checked_sub(SIGNATURE_LEN)?;
    let (payload, signature) = sealed.split_at(split);
    let signature = Signature::from_slice(signature).ok()?;
    verifying_key
        .verify(&message(table, key, payload), &signature)
        .ok()?;
    Some(payload)
}

/// SHA-256 of a byte string.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
