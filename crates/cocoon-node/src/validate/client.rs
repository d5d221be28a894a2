//! The client runner's light request checks (delta-2026-04.md §4.2): find `model`, take out the
//! cocoon control fields, inject the default `max_tokens`. The OpenAI schema itself is checked by
//! the worker.

use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{parse_json_object, sort_keys, unsupported_endpoint, Endpoint, RequestError};

/// `max_tokens` the client writes into a body that has neither `max_tokens` nor
/// `max_completion_tokens`; also the reservation size then (delta §4.2).
pub const DEFAULT_CLIENT_MAX_TOKENS: u32 = 10_000;
/// Default `max_coefficient` (4.0×).
pub const DEFAULT_MAX_COEFFICIENT: u32 = 4_000;
/// Default request `timeout`, seconds.
pub const DEFAULT_TIMEOUT_SECONDS: f64 = 120.0;

/// A request as the client runner forwards it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRequest {
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// The request's `model` (the routing key).
    pub model: String,
    /// Tokens to reserve: `max_completion_tokens`, else `max_tokens`, else the default.
    pub max_tokens: u32,
    /// `max_coefficient` (1000 = 1.0×), removed from the body.
    pub max_coefficient: u32,
    /// `timeout` in seconds, removed from the body.
    pub timeout_seconds: f64,
    /// `enable_debug`, removed from the body.
    pub enable_debug: bool,
    /// `sha256(request_guid)` (the debug-log key), the guid removed from the body.
    pub request_guid_sha256: Option<[u8; 32]>,
    /// `receiver_public_key` (raw 32 bytes, 64 hex digits or base64), kept in the body.
    pub receiver_public_key: Option<[u8; 32]>,
    /// The body to forward: compact JSON, keys sorted.
    pub body: Vec<u8>,
}

fn field_error(field: &str, message: String) -> RequestError {
    RequestError::invalid("invalid_type", Some(field.to_string()), message)
}

/// A non-negative integer that fits the TL `int` it travels in (deviation 12).
fn reservation_value(map: &Map<String, Value>, field: &str) -> Result<u32, RequestError> {
    map.get(field)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| i32::try_from(*n).is_ok())
        .ok_or_else(|| {
            field_error(
                field,
                format!("field '{field}' must be a non-negative integer not above 2147483647"),
            )
        })
}

/// Checks and rewrites a request for `path` (the HTTP path, query string already removed).
/// JSON endpoints only: a `/v1/audio/transcriptions` form is checked with
/// [`super::form::check_transcription_form`] (the client's OpenAI port does both).
pub fn validate_client_request(path: &str, body: &[u8]) -> Result<ClientRequest, RequestError> {
    let endpoint = Endpoint::from_path(path).ok_or_else(|| unsupported_endpoint(path))?;
    if endpoint.is_form() {
        return Err(RequestError::invalid(
            "invalid_content_type",
            None,
            format!("{path} takes a multipart/form-data body, not JSON"),
        ));
    }
    let mut value = parse_json_object(body)?;
    let Value::Object(map) = &mut value else {
        return Err(super::not_an_object());
    };
    let model = match map.get("model") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            return Err(RequestError::invalid(
                "missing_required_parameter",
                Some("model".to_string()),
                "missing field 'model'".to_string(),
            ))
        }
    };
    let max_tokens = if map.contains_key("max_completion_tokens") {
        reservation_value(map, "max_completion_tokens")?
    } else if map.contains_key("max_tokens") {
        reservation_value(map, "max_tokens")?
    } else {
        map.insert(
            "max_tokens".to_string(),
            Value::from(DEFAULT_CLIENT_MAX_TOKENS),
        );
        DEFAULT_CLIENT_MAX_TOKENS
    };
    let max_coefficient = if map.contains_key("max_coefficient") {
        let v = reservation_value(map, "max_coefficient")?;
        map.remove("max_coefficient");
        v
    } else {
        DEFAULT_MAX_COEFFICIENT
    };
    let timeout_seconds = match map.remove("timeout") {
        None => DEFAULT_TIMEOUT_SECONDS,
        Some(v) => match v.as_f64() {
            Some(t) if t > 0.0 => t,
            _ => {
                return Err(field_error(
                    "timeout",
                    "field 'timeout' must be a positive number".to_string(),
                ))
            }
        },
    };
    let enable_debug = match map.remove("enable_debug") {
        None => false,
        Some(Value::Bool(b)) => b,
        Some(_) => {
            return Err(field_error(
                "enable_debug",
                "field 'enable_debug' must be a boolean".to_string(),
            ))
        }
    };
    let request_guid_sha256 = match map.remove("request_guid") {
        None => None,
        Some(Value::String(s)) => Some(Sha256::digest(s.as_bytes()).into()),
        Some(_) => {
            return Err(field_error(
                "request_guid",
                "field 'request_guid' must be a string".to_string(),
            ))
        }
    };
    let receiver_public_key = match map.get("receiver_public_key") {
        None => None,
        Some(Value::String(s)) => Some(parse_key(s)?),
        Some(_) => {
            return Err(field_error(
                "receiver_public_key",
                "field 'receiver_public_key' must be a string".to_string(),
            ))
        }
    };
    sort_keys(&mut value);
    let body = serde_json::to_vec(&value).map_err(|e| {
        RequestError::invalid(
            "invalid_json",
            None,
            format!("cannot serialise request: {e}"),
        )
    })?;
    Ok(ClientRequest {
        endpoint,
        model,
        max_tokens,
        max_coefficient,
        timeout_seconds,
        enable_debug,
        request_guid_sha256,
        receiver_public_key,
        body,
    })
}

/// The reference's `parse_bits256_from_json`: 32 raw bytes, 64 hex digits, or 44 base64 chars.
pub(crate) fn parse_key(s: &str) -> Result<[u8; 32], RequestError> {
    let bytes = match s.len() {
        32 => Some(s.as_bytes().to_vec()),
        64 => hex::decode(s).ok(),
        44 => base64::engine::general_purpose::STANDARD.decode(s).ok(),
        _ => None,
    };
    bytes
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| {
            RequestError::invalid(
                "invalid_value",
                Some("receiver_public_key".to_string()),
                "public_key bad length".to_string(),
            )
        })
}
