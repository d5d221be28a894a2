//! The Ed25519 key of an RA-TLS certificate and its PEM form.
//!
//! Keys are written as PKCS#8 **v1** (`302e020100300506032b657004220420‖seed`),
//! the form OpenSSL's `PEM_write_bio_PrivateKey` produces and the only one
//! OpenSSL 3.0 (used by reference nodes) can load; ring and rcgen would write
//! v2. Loading accepts both v1 and v2.

use std::fmt;

use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::Signer;

use super::pem::{pem_decode, pem_encode};
use super::CertError;

/// DER prefix of a PKCS#8 v1 Ed25519 private key; the 32-byte seed follows.
pub const PKCS8_V1_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Largest key PEM we are willing to parse.
const MAX_KEY_PEM_LEN: usize = 16 * 1024;

/// An Ed25519 signing key used for an RA-TLS certificate.
///
/// The secret is zeroed when the key is dropped (ed25519-dalek's `zeroize`).
#[derive(Clone)]
pub struct CertKey {
    signing: ed25519_dalek::SigningKey,
    public: [u8; 32],
}

impl CertKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        let key = Self::from_seed(&seed);
        seed.fill(0);
        key
    }

    /// The key whose RFC 8032 secret seed is `seed` (deterministic; tests and key import).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let signing = ed25519_dalek::SigningKey::from_bytes(seed);
        let public = signing.verifying_key().to_bytes();
        Self { signing, public }
    }

    /// The raw 32-byte public key (what the certificate's SPKI and claims carry).
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// The 32-byte secret seed. Handle with care.
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// Ed25519 signature of `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.signing.sign(msg).to_bytes()
    }

    /// PKCS#8 v1 DER (48 bytes): prefix ‖ seed.
    pub fn to_pkcs8_v1_der(&self) -> Vec<u8> {
        let mut der = Vec::with_capacity(48);
        der.extend_from_slice(&PKCS8_V1_ED25519_PREFIX);
        der.extend_from_slice(self.signing.as_bytes());
        der
    }

    /// `-----BEGIN PRIVATE KEY-----` PEM of the PKCS#8 v1 DER, as OpenSSL writes it.
    pub fn to_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.to_pkcs8_v1_der())
    }

    /// Load a PKCS#8 (v1 or v2) Ed25519 private key from DER. A v2 key's
    /// embedded public key must match the seed.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, CertError> {
        let signing = ed25519_dalek::SigningKey::from_pkcs8_der(der)
            .map_err(|e| CertError::BadKey(format!("not a PKCS#8 Ed25519 private key: {e}")))?;
        let public = signing.verifying_key().to_bytes();
        Ok(Self { signing, public })
    }

    /// Load a `-----BEGIN PRIVATE KEY-----` PEM (PKCS#8 v1 or v2).
    pub fn from_pem(pem: &str) -> Result<Self, CertError> {
        if pem.len() > MAX_KEY_PEM_LEN {
            return Err(CertError::BadKey(format!(
                "key PEM is {} bytes, more than {MAX_KEY_PEM_LEN}",
                pem.len()
            )));
        }
        let der = pem_decode(pem, "PRIVATE KEY").map_err(CertError::BadKey)?;
        Self::from_pkcs8_der(&der)
    }
}

impl fmt::Debug for CertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertKey")
            .field("public", &hex::encode(self.public))
            .finish_non_exhaustive()
    }
}

/// rcgen signs the certificate through this (Ed25519, pure, no prehash).
impl rcgen::PublicKeyData for CertKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

impl rcgen::SigningKey for CertKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(CertKey::sign(self, msg).to_vec())
    }
}
