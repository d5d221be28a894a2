//! The key manager's registration of a request-encryption public key on the root contract,
//! `root_add_public_key_signed` (delta-2026-04 §3.3): the signed inner cell
//! `op:u32 = 0x9e0e1821 | query_id:u64 | public_key:bits256 | key_type:u8 | valid_until:u32`,
//! signed with Ed25519 over its representation hash by the key manager's
//! `machine_specific_private_key`. The TON ledger wraps it into the outer body
//! (`op | query_id | return_excesses_to | signature | ^inner`); the devnet root checks the
//! signature against its `key_manager_public_key` when one is set.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use tonlib_core::cell::{Cell, CellBuilder};

use crate::boc::{self, BocError};
use crate::root_config::RegisteredPublicKey;

/// `root_add_public_key_signed`.
pub const ROOT_ADD_PUBLIC_KEY_SIGNED: u32 = 0x9e0e_1821;

/// What the key manager asks the root to register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRegistration {
    /// Random query id (echoed in the outer body).
    pub query_id: u64,
    /// The Ed25519 public key.
    pub public_key: [u8; 32],
    /// Key type (1: the auto-rotated request key).
    pub key_type: u8,
    /// Unix expiry time.
    pub valid_until: u32,
}

/// A [`KeyRegistration`] with the key manager's signature over its inner cell's hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedKeyRegistration {
    /// What is registered.
    pub registration: KeyRegistration,
    /// Ed25519 signature of [`KeyRegistration::inner_cell`]'s representation hash.
    pub signature: [u8; 64],
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRegistrationError {
    /// The inner cell could not be built.
    #[error("registration cell: {0}")]
    Cell(String),
    /// The signature does not verify with the root's key manager key.
    #[error("the signature does not verify with the root's key_manager_public_key")]
    BadSignature,
}

impl From<BocError> for KeyRegistrationError {
    fn from(e: BocError) -> Self {
        KeyRegistrationError::Cell(e.to_string())
    }
}

impl KeyRegistration {
    /// The signed inner cell (delta §3.3).
    pub fn inner_cell(&self) -> Result<Cell, BocError> {
        let mut b = CellBuilder::new();
        b.store_u32(32, ROOT_ADD_PUBLIC_KEY_SIGNED)?;
        b.store_u64(64, self.query_id)?;
        b.store_slice(&self.public_key)?;
        b.store_u8(8, self.key_type)?;
        b.store_u32(32, self.valid_until)?;
        Ok(b.build()?)
    }

    /// Signs the inner cell's representation hash with `key`.
    pub fn sign(self, key: &SigningKey) -> Result<SignedKeyRegistration, BocError> {
        let hash = boc::cell_hash(&self.inner_cell()?);
        Ok(SignedKeyRegistration {
            registration: self,
            signature: key.sign(&hash).to_bytes(),
        })
    }

    /// The root's record of this key.
    pub fn registered(&self) -> RegisteredPublicKey {
        RegisteredPublicKey {
            public_key: self.public_key,
            key_type: self.key_type,
            expire_at: self.valid_until,
        }
    }
}

impl SignedKeyRegistration {
    /// Checks the signature with the key manager's public key.
    pub fn verify(&self, key_manager: &VerifyingKey) -> Result<(), KeyRegistrationError> {
        let hash = boc::cell_hash(&self.registration.inner_cell()?);
        key_manager
            .verify(&hash, &Signature::from_bytes(&self.signature))
            .map_err(|_| KeyRegistrationError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration() -> KeyRegistration {
        KeyRegistration {
            query_id: 12,
            public_key: [7; 32],
            key_type: 1,
            valid_until: 2_000_000_000,
        }
    }

    #[test]
    fn inner_cell_has_the_reference_bits() {
        let cell = registration().inner_cell().unwrap();
        assert_eq!(cell.bit_len(), 32 + 64 + 256 + 8 + 32);
        let mut p = cell.parser();
        assert_eq!(p.load_u32(32).unwrap(), 0x9e0e_1821);
        assert_eq!(p.load_u64(64).unwrap(), 12);
        let mut key = [0u8; 32];
        p.load_slice(&mut key).unwrap();
        assert_eq!(key, [7; 32]);
        assert_eq!(p.load_u8(8).unwrap(), 1);
        assert_eq!(p.load_u32(32).unwrap(), 2_000_000_000);
    }

    #[test]
    fn signature_verifies_only_with_the_signer_and_the_same_fields() {
        let km = SigningKey::from_bytes(&[3; 32]);
        let signed = registration().sign(&km).unwrap();
        signed.verify(&km.verifying_key()).unwrap();
        let other = SigningKey::from_bytes(&[4; 32]).verifying_key();
        assert_eq!(
            signed.verify(&other),
            Err(KeyRegistrationError::BadSignature)
        );
        let mut changed = signed;
        changed.registration.valid_until += 1;
        assert_eq!(
            changed.verify(&km.verifying_key()),
            Err(KeyRegistrationError::BadSignature)
        );
    }
}
