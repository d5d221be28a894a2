//! The JSON envelope: encrypting every eligible string of an object (requests by the
//! caller, answer values by the worker) and decrypting them back.

use serde_json::{Map, Value};

use crate::cipher::{decrypt_string, encrypt_string};
use crate::envelope::{
    is_encrypted_field, open, FoundEnvelope, Receiver, ENCRYPTION_NONCE, ENVELOPE_VERSION,
    IS_ENCRYPTED, RECEIVER_PUBLIC_KEY, SENDER_PUBLIC_KEY,
};
use crate::error::E2eError;
use crate::keys::{fresh_nonce, message_secret, Direction, PublicKey, Seed};

/// Encrypts `object` in place from `own` to `peer`: adds the envelope (fresh nonce) and
/// replaces every eligible string, at every depth, with `ENC_…`.
pub fn encrypt_json(
    object: &mut Map<String, Value>,
    own: &Seed,
    peer: &PublicKey,
    direction: Direction,
) -> Result<(), E2eError> {
    let own_public = own.public_key();
    let nonce = fresh_nonce();
    let secret = message_secret(own, peer, &own_public, nonce.as_bytes(), direction)?;
    object.insert(IS_ENCRYPTED.into(), ENVELOPE_VERSION.into());
    object.insert(SENDER_PUBLIC_KEY.into(), own_public.to_hex().into());
    object.insert(RECEIVER_PUBLIC_KEY.into(), peer.to_hex().into());
    object.insert(ENCRYPTION_NONCE.into(), nonce.into());
    for (name, value) in object.iter_mut() {
        if is_encrypted_field(name) {
            encrypt_value(value, &secret);
        }
    }
    Ok(())
}

fn encrypt_value(value: &mut Value, secret: &[u8; 32]) {
    match value {
        Value::String(text) => *value = Value::String(encrypt_string(text.as_bytes(), secret)),
        Value::Object(members) => {
            for (name, member) in members.iter_mut() {
                if is_encrypted_field(name) {
                    encrypt_value(member, secret);
                }
            }
        }
        // Array indices are never in the plain list: every element is eligible.
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| encrypt_value(item, secret)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Decrypts `object` in place as `receiver`. Returns the sender's public key, or `None`
/// when the object was (acceptably) not encrypted. The envelope fields stay in place.
pub fn decrypt_json(
    object: &mut Map<String, Value>,
    receiver: Receiver<'_>,
) -> Result<Option<PublicKey>, E2eError> {
    let text = |name: &str| object.get(name).and_then(Value::as_str).map(str::as_bytes);
    let found = FoundEnvelope {
        present: object.contains_key(IS_ENCRYPTED),
        marker_ok: text(IS_ENCRYPTED).is_some(),
        sender: text(SENDER_PUBLIC_KEY),
        receiver: text(RECEIVER_PUBLIC_KEY),
        nonce: text(ENCRYPTION_NONCE),
    };
    let Some(opened) = open(&found, receiver)? else {
        return Ok(None);
    };
    decrypt_members(object, &opened.secret)?;
    Ok(Some(opened.sender))
}

/// Members in byte order of their names, as the reference's `std::map` visits them, so
/// that the first failing member (and so the error text) is the same.
fn decrypt_members(members: &mut Map<String, Value>, secret: &[u8; 32]) -> Result<(), E2eError> {
    let mut names: Vec<String> = members
        .keys()
        .filter(|name| is_encrypted_field(name))
        .cloned()
        .collect();
    names.sort_unstable();
    for name in names {
        if let Some(member) = members.get_mut(&name) {
            decrypt_value(member, secret)?;
        }
    }
    Ok(())
}

fn decrypt_value(value: &mut Value, secret: &[u8; 32]) -> Result<(), E2eError> {
    match value {
        Value::String(text) => {
            let clear = decrypt_string(text.as_bytes(), secret)?;
            *value = Value::String(String::from_utf8(clear).map_err(|_| E2eError::NotUtf8)?);
        }
        Value::Object(members) => decrypt_members(members, secret)?,
        Value::Array(items) => {
            for item in items {
                decrypt_value(item, secret)?;
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

/// Parses a request body that must be a JSON object (`expected json object` otherwise).
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, E2eError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(members)) => Ok(members),
        _ => Err(E2eError::NotJsonObject),
    }
}

/// Caller side of a request: parses `body`, encrypts it to the key manager key `km`
/// (direction `c`) and returns the compact JSON to send.
pub fn encrypt_request_body(
    body: &[u8],
    caller: &Seed,
    km: &PublicKey,
) -> Result<String, E2eError> {
    let mut object = parse_object(body)?;
    encrypt_json(&mut object, caller, km, Direction::CallerToWorker)?;
    Ok(Value::Object(object).to_string())
}

/// Worker side of a request: parses and decrypts `body` with the seed the proxy supplied.
/// Returns the clear object (envelope fields kept) and the caller's key, if encrypted.
pub fn decrypt_request_body(
    body: &[u8],
    key: Option<&Seed>,
) -> Result<(Map<String, Value>, Option<PublicKey>), E2eError> {
    let mut object = parse_object(body)?;
    let caller = decrypt_json(&mut object, Receiver::Worker { key })?;
    Ok((object, caller))
}
