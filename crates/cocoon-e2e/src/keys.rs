//! Keys and the per-message secret: Ed25519 seeds and public keys, the three spellings
//! of a key field, the Ed25519→X25519 agreement and `SHA-256(x ‖ nonce ‖ direction)`.

use base64::Engine as _;
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::error::E2eError;

/// Length of a seed, a public key and a message secret.
pub const KEY_LEN: usize = 32;

/// Which way a message travels; the byte is the last input of the message secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// HTTP caller → worker (requests): `'c'`.
    CallerToWorker,
    /// Worker → HTTP caller (answers): `'w'`.
    WorkerToCaller,
}

impl Direction {
    /// The byte mixed into the secret.
    pub fn byte(self) -> u8 {
        match self {
            Direction::CallerToWorker => b'c',
            Direction::WorkerToCaller => b'w',
        }
    }
}

/// A 32-byte Ed25519 seed (the reference's "private key"); wiped on drop.
#[derive(Clone)]
pub struct Seed(Zeroizing<[u8; KEY_LEN]>);

impl Seed {
    /// Any 32 bytes are a seed.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Seed(Zeroizing::new(bytes))
    }

    /// A key as it travels on the wire (`proxy.runQueryEx.private_key`): all zero means "none".
    pub fn from_wire(bytes: [u8; KEY_LEN]) -> Option<Self> {
        if bytes == [0; KEY_LEN] {
            None
        } else {
            Some(Seed::from_bytes(bytes))
        }
    }

    /// The seed bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The Ed25519 public key of this seed.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(SigningKey::from_bytes(&self.0).verifying_key().to_bytes())
    }
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Seed(public {})", self.public_key())
    }
}

/// A 32-byte Ed25519 public key as carried in an envelope (not checked to be a point
/// until it is used for an agreement).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; KEY_LEN]);

impl PublicKey {
    /// Lowercase hex, the spelling the encryptor writes.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses an envelope key field: by length, 32 characters = the raw bytes, 64 = hex,
    /// 44 = standard base64; anything else (or a decoding to other than 32 bytes) is
    /// `public_key bad length`.
    pub fn parse_field(raw: &[u8]) -> Result<Self, E2eError> {
        let bytes = match raw.len() {
            32 => raw.to_vec(),
            64 => decode_hex(raw)?,
            44 => decode_base64(raw)?,
            _ => return Err(E2eError::KeyBadLength),
        };
        let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| E2eError::KeyBadLength)?;
        Ok(PublicKey(key))
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

/// Hex decoding with td's error texts (either case accepted).
pub(crate) fn decode_hex(text: &[u8]) -> Result<Vec<u8>, E2eError> {
    if !text.len().is_multiple_of(2) {
        return Err(E2eError::HexLength);
    }
    hex::decode(text).map_err(|_| E2eError::HexCharacter)
}

fn decode_base64(text: &[u8]) -> Result<Vec<u8>, E2eError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| match e {
            base64::DecodeError::InvalidLastSymbol(..) | base64::DecodeError::InvalidPadding => {
                E2eError::Base64Padding
            }
            _ => E2eError::Base64Character,
        })
}

/// A fresh `encryption_nonce`: standard base64 (with padding) of 32 random bytes.
pub fn fresh_nonce() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The raw X25519 agreement between our seed and the peer's Ed25519 public key
/// (libsodium's `ed25519_sk_to_curve25519` / `ed25519_pk_to_curve25519`, then X25519).
/// Refuses a peer key that is not a curve point and an all-zero result.
pub fn agreement(own: &Seed, peer: &PublicKey) -> Result<Zeroizing<[u8; KEY_LEN]>, E2eError> {
    // The Montgomery u of the peer depends only on y (bit 255 is the sign of x).
    let mut y = peer.0;
    y[31] &= 0x7f;
    let peer_point = VerifyingKey::from_bytes(&y).map_err(|_| E2eError::SharedSecret)?;
    // First half of SHA-512(seed); mul_clamped applies the X25519 clamping.
    let mut scalar = SigningKey::from_bytes(own.as_bytes()).to_scalar_bytes();
    let shared = peer_point.to_montgomery().mul_clamped(scalar);
    scalar.zeroize();
    let out = Zeroizing::new(shared.to_bytes());
    if *out == [0u8; KEY_LEN] {
        return Err(E2eError::SharedSecret);
    }
    Ok(out)
}

/// The per-message secret. Checks first that `own_public` (the key the envelope names as
/// this side) is the public key of `own`, as the reference does (`public key mismatch`).
pub fn message_secret(
    own: &Seed,
    peer: &PublicKey,
    own_public: &PublicKey,
    nonce: &[u8],
    direction: Direction,
) -> Result<Zeroizing<[u8; KEY_LEN]>, E2eError> {
    if own.public_key() != *own_public {
        return Err(E2eError::PublicKeyMismatch);
    }
    let x = agreement(own, peer)?;
    let mut hash = Sha256::new();
    hash.update(x.as_slice());
    hash.update(nonce);
    hash.update([direction.byte()]);
    Ok(Zeroizing::new(hash.finalize().into()))
}
