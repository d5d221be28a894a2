//! The message cipher (Telegram tde2e `MessageEncryption`, empty additional data) and
//! the `ENC_`/`DEC_` string forms used inside envelopes.
//!
//! `M = prefix ‖ data` with a 16..=31-byte prefix whose first byte is its length, so that
//! `|M|` is a multiple of 16; `K = HMAC-SHA-512(secret, "tde2e_encrypt_data")`;
//! `msg_key = HMAC-SHA-256(K[32..], M ‖ 00000000)[..16]`;
//! `Y = HMAC-SHA-512(K[..32], msg_key)`; blob = `msg_key ‖ AES-256-CBC(Y[..32], iv Y[32..48], M)`.

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::E2eError;
use crate::keys::decode_hex;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// The smallest padding prefix.
pub const MIN_PADDING: usize = 16;
/// Length of the message key at the front of a blob.
pub const MSG_KEY_LEN: usize = 16;
/// Prefix of an encrypted string value.
pub const ENC_PREFIX: &str = "ENC_";
/// Prefix of a string value the decryptor takes as plaintext.
pub const DEC_PREFIX: &str = "DEC_";

const KDF_INFO: &[u8] = b"tde2e_encrypt_data";

/// Length of the padding prefix for `data_len` bytes of data: `L + data_len` is a
/// multiple of 16 and `16 <= L <= 31`.
pub fn prefix_len(data_len: usize) -> usize {
    ((MIN_PADDING + 15 + data_len) & !15) - data_len
}

fn hmac_sha512(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 64]> {
    let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    Zeroizing::new(mac.finalize().into_bytes().into())
}

fn msg_key(hmac_key: &[u8], padded: &[u8]) -> [u8; MSG_KEY_LEN] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(hmac_key).expect("HMAC takes any key length");
    mac.update(padded);
    // Little-endian length of the (empty) additional data.
    mac.update(&0u32.to_le_bytes());
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; MSG_KEY_LEN];
    out.copy_from_slice(&full[..MSG_KEY_LEN]);
    out
}

/// `(aes key ‖ iv)` material for one message.
fn aes_material(encrypt_key: &[u8], msg_key: &[u8]) -> Zeroizing<[u8; 64]> {
    hmac_sha512(encrypt_key, &[msg_key])
}

/// Encrypts `data` with a padding prefix of random bytes (first byte = its length).
pub fn encrypt_data(data: &[u8], secret: &[u8; 32]) -> Vec<u8> {
    let len = prefix_len(data.len());
    let mut prefix = [0u8; 31];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut prefix[..len]);
    encrypt_with_prefix(data, &prefix[..len], secret)
}

/// Encrypts `data` behind a caller-chosen `prefix` (its first byte is overwritten with
/// its length). For reproducible test vectors; `prefix.len()` must be
/// [`prefix_len`]`(data.len())`, or this panics.
pub fn encrypt_with_prefix(data: &[u8], prefix: &[u8], secret: &[u8; 32]) -> Vec<u8> {
    assert_eq!(
        prefix.len(),
        prefix_len(data.len()),
        "padding prefix length"
    );
    let mut padded = Zeroizing::new(Vec::with_capacity(prefix.len() + data.len()));
    padded.extend_from_slice(prefix);
    padded[0] = prefix.len() as u8;
    padded.extend_from_slice(data);

    let keys = hmac_sha512(secret, &[KDF_INFO]);
    let key = msg_key(&keys[32..], &padded);
    let material = aes_material(&keys[..32], &key);

    let mut out = vec![0u8; MSG_KEY_LEN + padded.len()];
    out[..MSG_KEY_LEN].copy_from_slice(&key);
    Aes256CbcEnc::new_from_slices(&material[..32], &material[32..48])
        .expect("32-byte key, 16-byte iv")
        .encrypt_padded_b2b_mut::<NoPadding>(&padded, &mut out[MSG_KEY_LEN..])
        .expect("whole blocks, output of the same length");
    out
}

/// Decrypts a blob made by [`encrypt_data`]; refuses anything not authenticated by `secret`.
pub fn decrypt_data(blob: &[u8], secret: &[u8; 32]) -> Result<Vec<u8>, E2eError> {
    if blob.len() < MSG_KEY_LEN {
        return Err(E2eError::CipherTooShort);
    }
    if !blob.len().is_multiple_of(16) {
        return Err(E2eError::CipherNotBlocks);
    }
    let (given_key, encrypted) = blob.split_at(MSG_KEY_LEN);
    let keys = hmac_sha512(secret, &[KDF_INFO]);
    let material = aes_material(&keys[..32], given_key);
    let mut padded = Zeroizing::new(vec![0u8; encrypted.len()]);
    Aes256CbcDec::new_from_slices(&material[..32], &material[32..48])
        .expect("32-byte key, 16-byte iv")
        .decrypt_padded_b2b_mut::<NoPadding>(encrypted, &mut padded)
        .map_err(|_| E2eError::CipherNotBlocks)?;
    let expected_key = msg_key(&keys[32..], &padded);
    if !bool::from(expected_key.ct_eq(given_key)) {
        return Err(E2eError::MsgIdMismatch);
    }
    // An empty plaintext has no prefix byte: the reference reads it anyway; both refuse.
    let prefix = *padded.first().ok_or(E2eError::InvalidPrefix)? as usize;
    if prefix > padded.len() || prefix < MIN_PADDING {
        return Err(E2eError::InvalidPrefix);
    }
    Ok(padded[prefix..].to_vec())
}

/// `"ENC_" + lowercase hex(blob)` of `data`.
pub fn encrypt_string(data: &[u8], secret: &[u8; 32]) -> String {
    let mut out = String::from(ENC_PREFIX);
    out.push_str(&hex::encode(encrypt_data(data, secret)));
    out
}

/// The plaintext bytes of an `ENC_…` value, or the text after `DEC_`; any other value
/// is `bad encryption method`.
pub fn decrypt_string(value: &[u8], secret: &[u8; 32]) -> Result<Vec<u8>, E2eError> {
    let (method, rest) = value.split_at(value.len().min(4));
    if method == ENC_PREFIX.as_bytes() {
        decrypt_data(&decode_hex(rest)?, secret)
    } else if method == DEC_PREFIX.as_bytes() {
        Ok(rest.to_vec())
    } else {
        Err(E2eError::BadMethod(
            String::from_utf8_lossy(rest).into_owned(),
        ))
    }
}
