//! OpenAI request validation, as the reference does it at April 2026 (delta-2026-04.md §4), with
//! its OpenAI mismatches fixed where the fix cannot break a reference peer.
//!
//! * **Worker** ([`validate_worker_http`]): the strict schema walker of delta §4.3–§4.6 for
//!   `/v1/chat/completions` and `/v1/completions` JSON bodies (unknown members rejected at every
//!   level), then the rewrites of §4.8 (`stream_options.include_usage` forced on streaming
//!   requests, `stream_options` dropped otherwise, `max_tokens`/`max_completion_tokens` unified),
//!   and a compact re-serialisation with sorted keys, as the reference's `nlohmann::dump()`;
//!   `/v1/audio/transcriptions` `multipart/form-data` bodies ([`form`], §4.7, §4.9): the form's
//!   schema, the `max_tokens` rewrite, the form written out again in name order.
//! * **Both** ([`check_request_schema`]): the worker's schema walk alone; the client's OpenAI
//!   port runs it too (after taking out the cocoon control fields), so a body with an unknown
//!   member gets the worker's 400 at once, without a round trip through the network.
//! * **Client** ([`validate_client_request`]): the light checks of §4.2 — `model`, the cocoon
//!   control fields (removed from the body) and the default `max_tokens` injection.
//!
//! Errors are [`RequestError`]s carrying the TON error code the reference would send (621
//! "protoviolation" for all validation failures), an HTTP status, and OpenAI's error fields.
//! Messages follow the reference's wording (`.messages[2].content[0] has unknown field 'x'`),
//! with the root object called `request`.
//!
//! Deviations from the reference (each is an acceptance of valid OpenAI input the reference
//! rejects, or a rejection of input that crashes or misleads the reference; a reference client
//! forwards bodies without looking at them, so none of them can break a reference peer):
//!
//! 1. `null` for an optional member means "absent" (OpenAI's nullable parameters); the reference
//!    rejects it as a wrong type.
//! 2. Image content parts accept OpenAI's `image_url` member as well as the reference's `image`
//!    (delta §8.15).
//! 3. `input_audio.data` and `file.file_data` accept any string (OpenAI sends base64; the
//!    reference requires hex, §8.15).
//! 4. `stop` may be a string or an array of strings (the reference requires an array).
//! 5. Chat `service_tier` may be a string (OpenAI) or an integer (the reference).
//! 6. Completions `logprobs` may be an integer (OpenAI) or a boolean (the reference).
//! 7. Assistant `content: null` is accepted (OpenAI, with `tool_calls`).
//! 8. Chat `audio.voice` may be an object `{id}` (the reference's walker rejects it, §8.15).
//! 9. `stream_options.include_obfuscation` is kept on streaming requests (the reference rejects
//!    it when `stream` is true, §4.8).
//! 10. When both `max_completion_tokens` and `max_tokens` are present, `max_completion_tokens`
//!     wins, matching the client's reservation (the reference worker lets `max_tokens` win, §8.15).
//! 11. Members whose schema is an object must be objects (`stream_options: 5` passes the
//!     reference's walker and then aborts the reference worker when `stream` is true).
//! 12. Client side: `max_tokens`/`max_completion_tokens`/`max_coefficient` above 2^31−1 are
//!     rejected (the reference truncates them to `int32`), and `timeout` must be positive.
//!
//! Encrypted requests (delta §2) are out of scope here: [`validate_worker_request`] answers an
//! encrypted body as the reference does when it holds no private key; a caller that decrypts
//! first passes the decrypted value to [`validate_worker_json`].

mod client;
pub mod form;
mod schema;
mod walker;

use serde_json::{Map, Value};

pub use client::{
    validate_client_request, ClientRequest, DEFAULT_CLIENT_MAX_TOKENS, DEFAULT_MAX_COEFFICIENT,
    DEFAULT_TIMEOUT_SECONDS,
};

/// TON error code "error" (602).
pub const TON_ERROR: i32 = 602;
/// TON error code "protoviolation" (621): every validation failure.
pub const TON_PROTOVIOLATION: i32 = 621;

/// Largest request body we validate (the frame size limit of the cocoon wire, 16 MiB).
pub const MAX_REQUEST_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Prefix the reference worker puts before validation errors it sends back (delta §4.10).
pub const WORKER_ERROR_PREFIX: &str = "worker: invalid http request: ";
/// Prefix the reference client puts before its own parse errors (delta §4.10).
pub const CLIENT_ERROR_PREFIX: &str = "failed to parse request: ";

/// The top-level members of the encryption envelope, always known to the walker (delta §4.3).
pub const ENVELOPE_FIELDS: [&str; 4] = [
    "is_encrypted",
    "sender_public_key",
    "receiver_public_key",
    "encryption_nonce",
];

/// A rejected request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    /// The TON error code the reference sends for this failure (621 or 602).
    pub ton_code: i32,
    /// HTTP status for an HTTP caller.
    pub http_status: u16,
    /// OpenAI error `type`, e.g. `invalid_request_error`.
    pub error_type: &'static str,
    /// OpenAI error `code`, e.g. `unknown_parameter`.
    pub code: &'static str,
    /// OpenAI error `param`: the offending member as a path (`messages[0].content`), if any.
    pub param: Option<String>,
    /// Human-readable message (the reference's wording where it has one).
    pub message: String,
}

impl RequestError {
    /// A 621 validation error (HTTP 400, `invalid_request_error`).
    pub(crate) fn invalid(code: &'static str, param: Option<String>, message: String) -> Self {
        RequestError {
            ton_code: TON_PROTOVIOLATION,
            http_status: crate::http_util::http_status_for_ton_code(TON_PROTOVIOLATION),
            error_type: "invalid_request_error",
            code,
            param,
            message,
        }
    }

    /// OpenAI's error body: `{"error":{"message","type","param","code"}}`.
    pub fn to_openai_json(&self) -> Value {
        serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

/// The endpoints the worker serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/chat/completions` (JSON).
    ChatCompletions,
    /// `/v1/completions` (JSON).
    Completions,
    /// `/v1/audio/transcriptions` (`multipart/form-data`).
    AudioTranscriptions,
}

impl Endpoint {
    /// The endpoint for an exact path, if it is one of the two.
    pub fn from_path(path: &str) -> Option<Endpoint> {
        match path {
            "/v1/chat/completions" => Some(Endpoint::ChatCompletions),
            "/v1/completions" => Some(Endpoint::Completions),
            "/v1/audio/transcriptions" => Some(Endpoint::AudioTranscriptions),
            _ => None,
        }
    }

    /// The worker's routing rule (delta §4.3): cut the URL at its first `/`, then match exactly
    /// (so a query string or a `http://host` prefix with a path still has to match exactly).
    pub fn from_worker_url(url: &str) -> Result<Endpoint, RequestError> {
        let path = url.find('/').map_or(url, |i| &url[i..]);
        Endpoint::from_path(path).ok_or_else(|| unsupported_endpoint(path))
    }

    /// The path.
    pub fn path(&self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/v1/chat/completions",
            Endpoint::Completions => "/v1/completions",
            Endpoint::AudioTranscriptions => "/v1/audio/transcriptions",
        }
    }

    /// Whether the body is `multipart/form-data` (else JSON).
    pub fn is_form(&self) -> bool {
        matches!(self, Endpoint::AudioTranscriptions)
    }
}

pub(crate) fn unsupported_endpoint(path: &str) -> RequestError {
    RequestError::invalid(
        "unknown_url",
        None,
        format!(
            "unsupported method (path {path:?}; served: /v1/chat/completions, /v1/completions, \
             /v1/audio/transcriptions)"
        ),
    )
}

/// A request that passed the worker's validation, with the body to send to the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedRequest {
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// The request's `model`.
    pub model: String,
    /// Whether the answer will be streamed (`"stream": true`).
    pub stream: bool,
    /// The token limit written into the body (both `max_tokens` and `max_completion_tokens`), if
    /// the request had a positive one.
    pub max_tokens: Option<i64>,
    /// The rewritten body: compact JSON, keys sorted; or the form, parts in name order.
    pub body: Vec<u8>,
    /// The body's `Content-Type` (`application/json`, or the form's with its boundary).
    pub content_type: String,
}

impl ValidatedRequest {
    /// The worker's model check (runners.md §4.4): `model` must equal the worker's model name up
    /// to its first `@`.
    pub fn check_model(&self, worker_model_name: &str) -> Result<(), RequestError> {
        let base = crate::config::model_base_name(worker_model_name);
        if self.model == base {
            Ok(())
        } else {
            Err(RequestError::invalid(
                "model_not_found",
                Some("model".to_string()),
                format!(
                    "model name mismatch: this worker serves {base:?}, the request asks for {:?}",
                    self.model
                ),
            ))
        }
    }
}

/// Validates and rewrites a JSON request body as the worker does, for the URL of the
/// `http.request` ([`validate_worker_http`] without a `Content-Type`).
pub fn validate_worker_request(url: &str, body: &[u8]) -> Result<ValidatedRequest, RequestError> {
    validate_worker_http(url, None, body)
}

/// Validates and rewrites a request body as the worker does, for the URL of the
/// `http.request` and its `Content-Type` (needed for a form's boundary).
pub fn validate_worker_http(
    url: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<ValidatedRequest, RequestError> {
    let endpoint = Endpoint::from_worker_url(url)?;
    if endpoint.is_form() {
        return validate_worker_form(endpoint, form::Form::parse(content_type, body)?);
    }
    let value = parse_json_object(body)?;
    if value.get("is_encrypted").is_some() {
        // What the reference answers for an encrypted body when it holds no private key.
        return Err(RequestError {
            ton_code: TON_ERROR,
            http_status: crate::http_util::http_status_for_ton_code(TON_ERROR),
            error_type: "invalid_request_error",
            code: "encryption_unsupported",
            param: Some("is_encrypted".to_string()),
            message: "cannot find private key for an encrypted request".to_string(),
        });
    }
    validate_worker_json(endpoint, value)
}

/// Checks a parsed body against the worker's schema for `endpoint` (the same walker and
/// rules as [`validate_worker_json`], unknown members included) without rewriting it;
/// returns its `model`. The client runs it before sending, so a body every worker would
/// refuse is refused at the client's port, with the same error, without a network trip.
pub fn check_request_schema(endpoint: Endpoint, value: &Value) -> Result<String, RequestError> {
    match endpoint {
        Endpoint::ChatCompletions => schema::check_chat_completions(value),
        Endpoint::Completions => schema::check_completions(value),
        Endpoint::AudioTranscriptions => Err(RequestError::invalid(
            "invalid_content_type",
            None,
            "/v1/audio/transcriptions takes a multipart/form-data body, not JSON".to_string(),
        )),
    }
}

/// Validates and rewrites a parsed form as the worker does (§4.7, §4.8: only `max_tokens`).
pub fn validate_worker_form(
    endpoint: Endpoint,
    mut form: form::Form,
) -> Result<ValidatedRequest, RequestError> {
    let checked = form::check_transcription_form(&form)?;
    if form.get("is_encrypted").is_some() {
        // Forms are not opened yet (the reference decrypts every field, the file included):
        // refused rather than handing ciphertext to the engine as audio.
        return Err(RequestError {
            ton_code: TON_ERROR,
            http_status: crate::http_util::http_status_for_ton_code(TON_ERROR),
            error_type: "invalid_request_error",
            code: "encryption_unsupported",
            param: Some("is_encrypted".to_string()),
            message: "encrypted multipart/form-data requests are not supported".to_string(),
        });
    }
    let max_tokens = form::apply_form_max_tokens(&mut form);
    Ok(ValidatedRequest {
        endpoint,
        model: checked.model,
        stream: checked.stream,
        max_tokens,
        body: form.to_bytes(),
        content_type: form.content_type(),
    })
}

/// Validates and rewrites an already parsed (and, for encrypted requests, decrypted) body.
/// The envelope members of [`ENVELOPE_FIELDS`] are accepted at the top level and kept.
pub fn validate_worker_json(
    endpoint: Endpoint,
    mut value: Value,
) -> Result<ValidatedRequest, RequestError> {
    let model = check_request_schema(endpoint, &value)?;
    let Value::Object(map) = &mut value else {
        return Err(not_an_object());
    };
    let stream = apply_stream_rewrite(map);
    let max_tokens = apply_max_tokens_rewrite(map);
    sort_keys(&mut value);
    let body = serde_json::to_vec(&value).map_err(|e| {
        RequestError::invalid(
            "invalid_json",
            None,
            format!("cannot serialise request: {e}"),
        )
    })?;
    Ok(ValidatedRequest {
        endpoint,
        model,
        stream,
        max_tokens,
        body,
        content_type: "application/json".to_string(),
    })
}

pub(crate) fn not_an_object() -> RequestError {
    RequestError::invalid("invalid_json", None, "expected json object".to_string())
}

/// Parses a body that must be a JSON object (size-limited).
pub(crate) fn parse_json_object(body: &[u8]) -> Result<Value, RequestError> {
    if body.len() > MAX_REQUEST_BODY_BYTES {
        let mut e = RequestError::invalid(
            "request_too_large",
            None,
            format!("request body is larger than {MAX_REQUEST_BODY_BYTES} bytes"),
        );
        e.http_status = 413;
        return Err(e);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(not_an_object()),
        Err(e) => Err(RequestError::invalid(
            "invalid_json",
            None,
            format!("expected json object ({e})"),
        )),
    }
}

/// `stream: true` ⇒ `stream_options.include_usage = true` (object created if missing);
/// otherwise `stream_options` is removed (delta §4.8). Returns the stream flag.
fn apply_stream_rewrite(map: &mut Map<String, Value>) -> bool {
    let stream = map.get("stream") == Some(&Value::Bool(true));
    if stream {
        let options = map
            .entry("stream_options")
            .or_insert_with(|| Value::Object(Map::new()));
        if !options.is_object() {
            // `null` (deviation 1): replace with an object.
            *options = Value::Object(Map::new());
        }
        if let Value::Object(o) = options {
            o.insert("include_usage".to_string(), Value::Bool(true));
        }
    } else {
        map.remove("stream_options");
    }
    stream
}

/// The token limit `m` (deviation 10: `max_completion_tokens` first, then `max_tokens`); when
/// `m > 0` both members are set to it (delta §4.8).
fn apply_max_tokens_rewrite(map: &mut Map<String, Value>) -> Option<i64> {
    let read = |v: Option<&Value>| -> Option<i64> {
        let v = v?;
        v.as_i64().or_else(|| v.as_u64().map(|_| i64::MAX))
    };
    let m = read(map.get("max_completion_tokens")).or_else(|| read(map.get("max_tokens")))?;
    if m <= 0 {
        return None;
    }
    map.insert("max_tokens".to_string(), Value::from(m));
    map.insert("max_completion_tokens".to_string(), Value::from(m));
    Some(m)
}

/// Sorts object keys at every level, as `nlohmann::json::dump()` prints them (our `serde_json`
/// keeps insertion order).
pub(crate) fn sort_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.sort_keys();
            for v in map.values_mut() {
                sort_keys(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}
