//! Preparing and sending one inference request (runners.md §4.2, delta §4.2,
//! §5.2): the COCOON extension fields are read and removed, the rest is checked
//! against the worker's schema ([`crate::validate::check_request_schema`]: an
//! unknown member is a 400 here; an end-to-end encrypted body is left to the worker,
//! which alone can read it), the body is re-serialised, the request goes to
//! the first ready proxy as `client.runQueryEx`; if that proxy's connection is
//! down or fails before the first byte, the next proxy is tried.
//!
//! Cancellation (our extension `cocoonrs.cancelRequest`, see
//! docs/protocol-extensions.md): an [`AnswerStream`] dropped before its
//! request ended — the HTTP caller went away (the stream body or the
//! non-stream handler future is dropped) or the client's own deadline fired —
//! tells the proxy to cancel the request, which in turn cancels it at the
//! worker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cocoon_wire::schema::{enums, functions, types};
use cocoon_wire::tl::to_bytes;
use rand::RngCore;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::error::ApiError;
use super::proxy_conn::lost_connection_message;
use super::state::ReadyProxy;
use super::ClientState;
use crate::common::cancel::spawn_cancel;
use crate::validate::{check_request_schema, Endpoint};

/// Largest accepted JSON request body (delta §5.1: 1 MiB).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Largest accepted body for `path`: [`MAX_BODY_BYTES`] for JSON, the form limit
/// ([`crate::validate::form::MAX_FORM_BODY_BYTES`], 15 MiB) for `/v1/audio/transcriptions`.
pub fn max_body_bytes(path: &str) -> usize {
    match Endpoint::from_path(path) {
        Some(e) if e.is_form() => crate::validate::form::MAX_FORM_BODY_BYTES,
        _ => MAX_BODY_BYTES,
    }
}
/// Default `timeout` of a request, seconds (reference: 120).
pub const DEFAULT_TIMEOUT_S: f64 = 120.0;
/// Our own deadline is the request's timeout plus this margin.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(2);
/// Default `max_coefficient` (4000 = 4.0×).
pub const DEFAULT_MAX_COEFFICIENT: u64 = 4000;
/// `max_tokens` injected when the caller sets none (delta §4.2).
pub const DEFAULT_MAX_TOKENS: u64 = 10000;
const ANSWER_QUEUE: usize = 256;

/// A request ready to send.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    pub path: String,
    pub model: String,
    pub body: Vec<u8>,
    pub stream: bool,
    pub max_coefficient: i32,
    pub max_tokens: i32,
    /// Seconds.
    pub timeout: f64,
    pub enable_debug: bool,
    /// `request_guid`: keys the debug record for `/request/debuglogentry`.
    pub request_guid: Option<String>,
    pub headers: Vec<(String, String)>,
    /// An end-to-end encrypted body's `receiver_public_key` (the key manager key it is
    /// encrypted to): sent as `client.runQueryEx.public_key` so the proxy can hand the
    /// worker the matching private key (delta-2026-04 §2.5 step 2). The field stays in the
    /// body.
    pub encrypted_with: Option<[u8; 32]>,
}

/// Reads and strips the COCOON extension fields; errors are OpenAI-shaped 400s. A form
/// (`/v1/audio/transcriptions`) goes to [`super::request_form::prepare_form`].
pub fn prepare(
    path: &str,
    headers: Vec<(String, String)>,
    body: &[u8],
) -> Result<PreparedRequest, ApiError> {
    if Endpoint::from_path(path).is_some_and(|e| e.is_form()) {
        return super::request_form::prepare_form(path, headers, body);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid(
            "invalid_json",
            format!("request body is not valid JSON: {e}"),
        )
    })?;
    let Value::Object(mut obj) = value else {
        return Err(ApiError::invalid(
            "invalid_json",
            "request body must be a JSON object",
        ));
    };
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(_) => {
            return Err(
                ApiError::invalid("invalid_type", "'model' must be a non-empty string")
                    .with_param("model"),
            )
        }
        None => {
            return Err(
                ApiError::invalid("missing_required_parameter", "missing field 'model'")
                    .with_param("model"),
            )
        }
    };
    let max_coefficient =
        take_unsigned(&mut obj, "max_coefficient")?.unwrap_or(DEFAULT_MAX_COEFFICIENT);
    let timeout = match obj.remove("timeout") {
        None => DEFAULT_TIMEOUT_S,
        Some(v) => match v.as_f64() {
            Some(t) if t.is_finite() && t > 0.0 => t.min(24.0 * 3600.0),
            _ => {
                return Err(ApiError::invalid(
                    "invalid_type",
                    "'timeout' must be a positive number of seconds",
                )
                .with_param("timeout"))
            }
        },
    };
    let enable_debug = match obj.remove("enable_debug") {
        None => false,
        Some(Value::Bool(b)) => b,
        Some(_) => {
            return Err(
                ApiError::invalid("invalid_type", "'enable_debug' must be a boolean")
                    .with_param("enable_debug"),
            )
        }
    };
    let request_guid = match obj.remove("request_guid") {
        None => None,
        Some(Value::String(g)) => Some(g),
        Some(_) => {
            return Err(
                ApiError::invalid("invalid_type", "'request_guid' must be a string")
                    .with_param("request_guid"),
            )
        }
    };
    let max_tokens = match (
        peek_unsigned(&obj, "max_completion_tokens")?,
        peek_unsigned(&obj, "max_tokens")?,
    ) {
        (Some(m), _) | (None, Some(m)) => m,
        (None, None) => {
            obj.insert("max_tokens".into(), Value::from(DEFAULT_MAX_TOKENS));
            DEFAULT_MAX_TOKENS
        }
    };
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(
                ApiError::invalid("invalid_type", "'stream' must be a boolean")
                    .with_param("stream"),
            )
        }
    };
    let encrypted_with = match obj.get("receiver_public_key") {
        None => None,
        Some(Value::String(key)) => Some(
            cocoon_e2e::PublicKey::parse_field(key.as_bytes())
                .map_err(|e| {
                    ApiError::invalid("invalid_value", format!("receiver_public_key: {e}"))
                })?
                .0,
        ),
        Some(_) => {
            return Err(ApiError::invalid(
                "invalid_type",
                "'receiver_public_key' must be a string",
            ))
        }
    };
    // An end-to-end encrypted body's values are ciphertext here: only the worker, after
    // decrypting, can check them (as the reference client, which checks none of them).
    let encrypted = obj.contains_key("is_encrypted");
    let value = Value::Object(obj);
    // The worker's schema, unknown members included: refused here, not after a network trip.
    if let Some(endpoint) = Endpoint::from_path(path).filter(|_| !encrypted) {
        check_request_schema(endpoint, &value)?;
    }
    let body =
        serde_json::to_vec(&value).map_err(|e| ApiError::invalid("invalid_json", e.to_string()))?;
    Ok(PreparedRequest {
        path: path.to_string(),
        model,
        body,
        stream,
        max_coefficient: clamp_i32(max_coefficient),
        max_tokens: clamp_i32(max_tokens),
        timeout,
        enable_debug,
        request_guid,
        headers,
        encrypted_with,
    })
}

pub(super) fn clamp_i32(v: u64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn take_unsigned(obj: &mut Map<String, Value>, key: &str) -> Result<Option<u64>, ApiError> {
    let v = peek_unsigned(obj, key)?;
    obj.remove(key);
    Ok(v)
}

fn peek_unsigned(obj: &Map<String, Value>, key: &str) -> Result<Option<u64>, ApiError> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            ApiError::invalid(
                "invalid_type",
                format!("'{key}' must be an unsigned integer"),
            )
            .with_param(key)
        }),
    }
}

/// A request that got its first answer: the response head and the rest of the stream.
pub struct Started {
    pub head: types::http::Response,
    /// The first answer already completed the request.
    pub complete: bool,
    /// The final info when the first answer already completed the request.
    pub final_info: Option<types::client::QueryFinalInfo>,
    pub answers: AnswerStream,
}

/// The answers after the first one, with the request's deadline; removes the
/// routing entry when dropped (the caller went away or the request ended),
/// and if the request had not ended yet, sends the proxy
/// `cocoonrs.cancelRequest` for it.
pub struct AnswerStream {
    rx: mpsc::Receiver<enums::client::QueryAnswerEx>,
    proxy: ReadyProxy,
    request_id: [u8; 32],
    pub deadline: Instant,
    pub timeout_s: f64,
    /// The request ended upstream (final part, error, or link lost).
    ended: bool,
    /// Sent with the cancel if dropped before the end.
    cancel_reason: &'static str,
    /// Counts the cancels sent (the client's `requests_cancelled`).
    cancelled: Arc<AtomicU64>,
}

impl AnswerStream {
    /// The request's id as logged (first 8 bytes, hex); the proxy logs the same `request`.
    pub fn request_label(&self) -> String {
        hex::encode(&self.request_id[..8])
    }

    /// The next answer; `Err` when the deadline passed or the proxy link died.
    pub async fn next(&mut self) -> Result<enums::client::QueryAnswerEx, ApiError> {
        match tokio::time::timeout_at(self.deadline, self.rx.recv()).await {
            Err(_) => {
                self.cancel_reason = "client: deadline passed";
                Err(ApiError::timeout(self.timeout_s))
            }
            Ok(None) => {
                self.ended = true;
                let message = match self.proxy.session.close_reason() {
                    Some(reason) => lost_connection_message(&self.proxy.address, &reason),
                    None => format!("connection to proxy {} lost", self.proxy.address),
                };
                Err(ApiError::upstream(message))
            }
            Ok(Some(a)) => {
                self.ended |= match &a {
                    enums::client::QueryAnswerEx::QueryAnswerEx(x) => x.flags & 1 != 0,
                    enums::client::QueryAnswerEx::QueryAnswerPartEx(x) => x.flags & 1 != 0,
                    enums::client::QueryAnswerEx::QueryAnswerErrorEx(_) => true,
                };
                Ok(a)
            }
        }
    }
}

impl Drop for AnswerStream {
    fn drop(&mut self) {
        self.proxy.lock_pending().remove(&self.request_id);
        if self.ended || self.proxy.session.is_closed() {
            return;
        }
        tracing::info!(proxy = %self.proxy.address, request = %hex::encode(&self.request_id[..8]),
            reason = self.cancel_reason, "cancelling the request at the proxy");
        self.cancelled.fetch_add(1, Ordering::Relaxed);
        spawn_cancel(&self.proxy.session, self.request_id, self.cancel_reason);
    }
}

/// Sends `req`, trying the ready proxies in order until one gives a first answer. With
/// no proxy ready (a lost link being dialled again) it waits for one at most the
/// settings' `proxy_wait` (and never past the request's deadline), then fails with 503.
pub async fn start(state: &ClientState, req: &PreparedRequest) -> Result<Started, ApiError> {
    let now = Instant::now();
    let deadline = now + Duration::from_secs_f64(req.timeout) + DEADLINE_MARGIN;
    let proxies = state
        .wait_ready_proxies(deadline.min(now + state.settings.proxy_wait))
        .await;
    if proxies.is_empty() {
        return Err(ApiError::no_proxy_because(&state.slot_errors()));
    }
    let mut last_error = ApiError::no_proxy();
    for (attempt, proxy) in proxies.into_iter().enumerate() {
        if attempt > 0 {
            state.counters.failovers.fetch_add(1, Ordering::Relaxed);
            tracing::info!(proxy = %proxy.address, "failing over to the next proxy");
        }
        match start_on(state, &proxy, req, deadline).await {
            Ok(started) => return Ok(started),
            Err((err, retry)) => {
                if !retry {
                    return Err(err);
                }
                last_error = err;
            }
        }
    }
    Err(last_error)
}

/// One attempt; the error says whether another proxy may do better.
async fn start_on(
    state: &ClientState,
    proxy: &ReadyProxy,
    req: &PreparedRequest,
    deadline: Instant,
) -> Result<Started, (ApiError, bool)> {
    let mut request_id = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut request_id);
    let (tx, rx) = mpsc::channel(ANSWER_QUEUE);
    proxy.lock_pending().insert(request_id, tx);
    let mut answers = AnswerStream {
        rx,
        proxy: proxy.clone(),
        request_id,
        deadline,
        timeout_s: req.timeout,
        ended: false,
        cancel_reason: "client: caller went away",
        cancelled: state.counters.cancelled.clone(),
    };

    let mut headers: Vec<types::http::Header> = req
        .headers
        .iter()
        .map(|(n, v)| types::http::Header {
            name: n.clone(),
            value: v.clone(),
        })
        .collect();
    headers.push(types::http::Header {
        name: "Content-Length".into(),
        value: req.body.len().to_string(),
    });
    let http_request = functions::http::Request {
        method: "POST".into(),
        url: req.path.clone(),
        http_version: "HTTP/1.1".into(),
        headers,
        payload: req.body.clone(),
    };
    let v3 = proxy.proto_version >= 3;
    if req.encrypted_with.is_some() && !v3 {
        // The reference sends it anyway and the worker fails it; say why at once.
        answers.ended = true;
        return Err((
            ApiError::upstream(format!(
                "proxy {} speaks protocol {} (< 3): it cannot route end-to-end encrypted requests",
                proxy.address, proxy.proto_version
            )),
            true,
        ));
    }
    let run = functions::client::RunQueryEx {
        model_name: req.model.clone(),
        query: to_bytes(&http_request),
        max_coefficient: req.max_coefficient,
        max_tokens: req.max_tokens,
        timeout: req.timeout * 0.95,
        request_id,
        min_config_version: state.settings.config_version,
        flags: 1,
        enable_debug: Some(req.enable_debug),
        // v≥3: bit 1 with an all-zero key means "not encrypted" (delta §1.2).
        public_key: v3.then_some(req.encrypted_with.unwrap_or([0u8; 32])),
    };
    state
        .counters
        .bytes_sent
        .fetch_add(req.body.len() as u64, Ordering::Relaxed);
    if let Err(e) = proxy.session.send(to_bytes(&run)).await {
        // Never reached the proxy: nothing to cancel.
        answers.ended = true;
        return Err((
            ApiError::upstream(format!("cannot send to proxy {}: {e}", proxy.address)),
            true,
        ));
    }
    tracing::info!(request = %answers.request_label(), proxy = %proxy.address, model = %req.model,
        stream = req.stream, "request sent to proxy");
    let first = answers.next().await.map_err(|e| {
        let retry = e.status == axum::http::StatusCode::BAD_GATEWAY;
        (e, retry)
    })?;
    match first {
        enums::client::QueryAnswerEx::QueryAnswerEx(a) => {
            let head =
                cocoon_wire::tl::from_bytes::<types::http::Response>(&a.answer).map_err(|e| {
                    (
                        ApiError::upstream(format!("malformed answer head from the network: {e}")),
                        false,
                    )
                })?;
            Ok(Started {
                head,
                complete: a.flags & 1 != 0,
                final_info: a.final_info,
                answers,
            })
        }
        enums::client::QueryAnswerEx::QueryAnswerErrorEx(e) => {
            let retry = e.error_code == 651;
            tracing::info!(request = %answers.request_label(), code = e.error_code,
                error = %e.error, retry, "request failed at the proxy");
            Err((ApiError::from_wire(e.error_code, &e.error), retry))
        }
        enums::client::QueryAnswerEx::QueryAnswerPartEx(_) => Err((
            ApiError::upstream("answer part arrived before the answer head"),
            false,
        )),
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
