//! One request from a proxy (`proxy.runQueryEx`), served by the engine.
//!
//! Steps (runners.md §4.4, delta §5.3): parse the embedded `http.request`,
//! validate and rewrite it (`crate::validate`), check the model, call the
//! engine with a deadline of `timeout·0.95`, send `proxy.queryAnswerEx` with
//! the response head as soon as it arrives, then the body as
//! `proxy.queryAnswerPartEx` parts as it arrives (SSE and JSON alike, metered
//! by `crate::metering`), and a final part with `flags=1` and the final info.
//!
//! Coalescing ([`super::answer_parts::AnswerParts`]): a part is sent as soon as one engine chunk is
//! there, carrying that chunk and every further chunk the engine has ALREADY
//! delivered (never waiting for more), up to [`super::answer_parts::COALESCE_LIMIT`] bytes. A slow
//! engine's chunks still go out one by one, at once; a fast engine's burst of
//! small lines becomes one part instead of one part per line, which cuts the
//! per-message cost on every hop (bench/README.md, `one-line-c30`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cocoon_net::Session;
use cocoon_wire::schema::{functions, types};
use cocoon_wire::tl::{from_bytes, to_bytes};

use super::answer_parts::{AnswerParts, COALESCE_LIMIT};
use super::{is_hop_by_hop_header as is_hop_by_hop, unix_now, WorkerState};
use crate::metering::{PriceMultipliers, Pricing, TokenMeter, TokenUsage};

/// TON error codes used on the wire.
pub const CODE_ERROR: i32 = 602;
pub const CODE_PROTOVIOLATION: i32 = 621;
pub const CODE_TIMEOUT: i32 = 652;
/// Largest answer slice put into one part (frames are limited to 16 MiB).
const MAX_PART_BYTES: usize = 1 << 20;

/// What a proxy link agreed on at its handshake, which every request on it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LinkTerms {
    /// The negotiated protocol version (final infos carry timestamps from v2).
    pub(crate) proto: i32,
    /// The root's price per token (nanoTON): the answers' `usage.*_cost` fields.
    pub(crate) price_per_token: i64,
}

/// A taken request slot; frees it (and counts a cancellation if the request
/// never finished) when dropped — also when the task is aborted.
pub struct RequestSlot {
    state: Arc<WorkerState>,
    running: Arc<AtomicUsize>,
    finished: bool,
}

impl RequestSlot {
    /// Takes a slot unless the worker is at `max_active_requests`.
    pub(crate) fn acquire(state: Arc<WorkerState>, running: Arc<AtomicUsize>) -> Option<Self> {
        if !state.try_acquire_slot() {
            return None;
        }
        running.fetch_add(1, Ordering::Relaxed);
        state.counters.queries.fetch_add(1, Ordering::Relaxed);
        Some(RequestSlot {
            state,
            running,
            finished: false,
        })
    }

    fn finish(&mut self, ok: bool) {
        self.finished = true;
        let c = &self.state.counters;
        if ok { &c.success } else { &c.failed }.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for RequestSlot {
    fn drop(&mut self) {
        if !self.finished {
            self.state
                .counters
                .cancelled
                .fetch_add(1, Ordering::Relaxed);
        }
        let _ = self
            .running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        self.state.release_slot();
    }
}

/// Answers an over-capacity request at once (602 "too many active queries").
pub(crate) async fn send_over_capacity(
    state: &WorkerState,
    session: &Session,
    terms: LinkTerms,
    q: &functions::proxy::RunQueryEx,
) {
    state.counters.rejected.fetch_add(1, Ordering::Relaxed);
    let now = unix_now();
    let times = FinalTimes {
        proto: terms.proto,
        start: now,
        end: now,
    };
    let info = final_info(TokenUsage::default(), q.coefficient, state, times, None);
    send_error(
        session,
        q.request_id,
        CODE_ERROR,
        "too many active queries".into(),
        info,
    )
    .await;
}

/// Serves one request to completion (or until the task is aborted).
pub(crate) async fn serve_request(
    state: Arc<WorkerState>,
    session: Session,
    terms: LinkTerms,
    q: functions::proxy::RunQueryEx,
    mut slot: RequestSlot,
) {
    let start = unix_now();
    let deadline = Duration::from_secs_f64((q.timeout * 0.95).clamp(1.0, 24.0 * 3600.0));
    let debug = q.enable_debug.unwrap_or(false);
    let mut meter = TokenMeter::new();
    let mut answer_start = None;
    let outcome = tokio::time::timeout(
        deadline,
        relay(&state, &session, &q, terms, &mut meter, &mut answer_start),
    )
    .await;
    let usage = meter.finish();
    let end = unix_now();
    // runners.md §4.4 item 8; with no engine answer the start is the end.
    let debug_json = debug.then(|| {
        serde_json::json!({"type": "worker_stats", "start_time": start,
            "answer_receive_start_at": answer_start.unwrap_or(end), "answer_receive_end_at": end})
        .to_string()
    });
    let times = FinalTimes {
        proto: terms.proto,
        start,
        end,
    };
    let info = final_info(usage, q.coefficient, &state, times, debug_json);
    record_tokens(&state, &info.tokens_used);
    // The slot is free before the last message leaves: a caller who sees the end of this
    // answer and sends the next request at once must not find this worker still full.
    slot.finish(matches!(outcome, Ok(Ok(()))));
    drop(slot);
    match outcome {
        Ok(Ok(())) => {
            tracing::info!(
                tokens = info.tokens_used.total_tokens_used,
                elapsed_ms = ((end - start) * 1000.0) as u64,
                "request completed"
            );
            let last = types::proxy::QueryAnswerPartEx {
                request_id: q.request_id,
                answer: Vec::new(),
                flags: 1,
                final_info: Some(info),
            };
            let _ = session.send(to_bytes(&last)).await;
        }
        Ok(Err((code, message))) => {
            tracing::info!(code, %message, "request failed");
            send_error(&session, q.request_id, code, message, info).await;
        }
        Err(_) => {
            tracing::info!("request timed out");
            send_error(
                &session,
                q.request_id,
                CODE_TIMEOUT,
                "worker: timeout".into(),
                info,
            )
            .await;
        }
    }
}

/// Validates, calls the engine and streams its answer; an error is (code, message).
/// `answer_start` gets the time the engine's answer head arrived.
async fn relay(
    state: &WorkerState,
    session: &Session,
    q: &functions::proxy::RunQueryEx,
    terms: LinkTerms,
    meter: &mut TokenMeter,
    answer_start: &mut Option<f64>,
) -> Result<(), (i32, String)> {
    let pricing = Pricing {
        coefficient: q.coefficient,
        multipliers: state.settings.multipliers,
        price_per_token: terms.price_per_token,
    };
    let invalid = |m: String| {
        (
            CODE_PROTOVIOLATION,
            format!("worker: invalid http request: {m}"),
        )
    };
    let http_req =
        from_bytes::<functions::http::Request>(&q.query).map_err(|e| invalid(e.to_string()))?;
    state
        .counters
        .bytes_received
        .fetch_add(http_req.payload.len() as u64, Ordering::Relaxed);
    // An encrypted body is opened first (delta §2.5 step 4); the clear one is validated.
    let key = super::e2e::private_key(q);
    // A form (`/v1/audio/transcriptions`) needs its boundary, and is opened field by field.
    let content_type = http_req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-type"))
        .map(|h| h.value.as_str());
    let is_form = content_type.is_some_and(|t| {
        t.trim_start()
            .to_ascii_lowercase()
            .starts_with("multipart/form-data")
    });
    let (clear, caller) = match content_type {
        Some(t) if is_form => super::e2e::open_form_body(t, &http_req.payload, key.as_ref())?,
        _ => super::e2e::open_json_body(&http_req.payload, key.as_ref())?,
    };
    let validated = crate::validate::validate_worker_http(&http_req.url, content_type, &clear)
        .map_err(|e| (e.ton_code, format!("worker: invalid http request: {e}")))?;
    validated
        .check_model(&state.settings.model_name)
        .map_err(|e| invalid(e.to_string()))?;
    let path = validated.endpoint.path();

    // The body was written out again here: its own content type replaces the caller's.
    let mut engine_headers: Vec<(String, String)> = http_req
        .headers
        .iter()
        .filter(|h| !is_hop_by_hop(&h.name) && !h.name.eq_ignore_ascii_case("content-type"))
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect();
    engine_headers.push(("content-type".into(), validated.content_type.clone()));
    let resp = state
        .engine
        .post(path, engine_headers, validated.body.into())
        .await
        .map_err(|e| (CODE_ERROR, format!("worker: http failed: {e}")))?;
    *answer_start = Some(unix_now());

    // The head first, at once (empty payload, chunked), as the April reference.
    let mut headers: Vec<types::http::Header> = resp
        .headers
        .iter()
        .filter(|(name, _)| !is_hop_by_hop(name.as_str()))
        .map(|(name, value)| types::http::Header {
            name: name.as_str().to_string(),
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        })
        .collect();
    let now = format!("{:.6}", unix_now());
    headers.push(types::http::Header {
        name: "X-Cocoon-Worker-Start".into(),
        value: now.clone(),
    });
    headers.push(types::http::Header {
        name: "X-Cocoon-Worker-End".into(),
        value: now,
    });
    headers.push(types::http::Header {
        name: "Transfer-Encoding".into(),
        value: "chunked".into(),
    });
    let head = types::http::Response {
        http_version: "HTTP/1.1".into(),
        status_code: i32::from(resp.status),
        reason: String::new(),
        headers,
        payload: Vec::new(),
    };
    let first = types::proxy::QueryAnswerEx {
        request_id: q.request_id,
        answer: to_bytes(&head),
        flags: 0,
        final_info: None,
    };
    session
        .send(to_bytes(&first))
        .await
        .map_err(|e| (CODE_ERROR, format!("worker: proxy link: {e}")))?;

    let content_type = resp
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut sealer = match (key, caller) {
        (Some(key), Some(caller)) => {
            Some(super::e2e::AnswerSealer::new(&content_type, key, caller))
        }
        _ => None,
    };
    let mut parts = AnswerParts::new(resp.body, COALESCE_LIMIT);
    loop {
        let part = parts
            .next_part(|_| {})
            .await
            .map_err(|e| (CODE_ERROR, format!("worker: failed to get payload: {e}")))?;
        let Some(part) = part else { break };
        // Metered as a whole (a part is its chunks in order), with the reference's cost
        // fields added inside `usage` — on the plaintext, before any encryption.
        let part = meter.feed_priced(part, &pricing);
        let part = match sealer.as_mut() {
            Some(s) => s.push(&part)?,
            None => part,
        };
        if part.is_empty() {
            continue;
        }
        state
            .counters
            .bytes_sent
            .fetch_add(part.len() as u64, Ordering::Relaxed);
        for piece in part.chunks(MAX_PART_BYTES) {
            let part = types::proxy::QueryAnswerPartEx {
                request_id: q.request_id,
                answer: piece.to_vec(),
                flags: 0,
                final_info: None,
            };
            session
                .send(to_bytes(&part))
                .await
                .map_err(|e| (CODE_ERROR, format!("worker: proxy link: {e}")))?;
        }
    }
    if let Some(rest) = sealer.as_mut().map(|s| s.finish()).transpose()? {
        if !rest.is_empty() {
            let part = types::proxy::QueryAnswerPartEx {
                request_id: q.request_id,
                answer: rest,
                flags: 0,
                final_info: None,
            };
            session
                .send(to_bytes(&part))
                .await
                .map_err(|e| (CODE_ERROR, format!("worker: proxy link: {e}")))?;
        }
    }
    Ok(())
}

async fn send_error(
    session: &Session,
    request_id: [u8; 32],
    code: i32,
    message: String,
    info: types::proxy::QueryFinalInfo,
) {
    let msg = types::proxy::QueryAnswerErrorEx {
        request_id,
        error_code: code,
        error: message,
        flags: 1,
        final_info: Some(info),
    };
    if let Err(e) = session.send(to_bytes(&msg)).await {
        tracing::debug!(error = %e, "could not send the error to the proxy");
    }
}

/// The protocol version of the proxy link and the request's start and end times.
#[derive(Debug, Clone, Copy)]
struct FinalTimes {
    proto: i32,
    start: f64,
    end: f64,
}

/// `proxy.queryFinalInfo` with adjusted tokens (runners.md §5.2) and the timestamps, which
/// only v≥2 links carry (flags bit 1; a v1 December peer gets neither bit nor times).
fn final_info(
    usage: TokenUsage,
    coefficient: i64,
    state: &WorkerState,
    times: FinalTimes,
    worker_debug: Option<String>,
) -> types::proxy::QueryFinalInfo {
    let with_times = times.proto >= crate::common::proto::VERSION_TIMESTAMPS;
    types::proxy::QueryFinalInfo {
        flags: crate::common::proto::final_info_flags(worker_debug.is_some(), times.proto),
        tokens_used: adjusted_usage(&usage, coefficient, &state.settings.multipliers),
        worker_debug,
        worker_start_time: with_times.then_some(times.start),
        worker_end_time: with_times.then_some(times.end),
    }
}

/// Adjusted tokens of runners.md §5.2 as the TL `tokensUsed`.
pub fn adjusted_usage(u: &TokenUsage, coefficient: i64, m: &PriceMultipliers) -> types::TokensUsed {
    let a = crate::metering::adjusted_tokens(u, coefficient, m);
    types::TokensUsed {
        prompt_tokens_used: a.prompt,
        cached_tokens_used: a.cached,
        completion_tokens_used: a.completion,
        reasoning_tokens_used: a.reasoning,
        total_tokens_used: a.total,
    }
}

fn record_tokens(state: &WorkerState, t: &types::TokensUsed) {
    let c = &state.counters;
    let add = |a: &std::sync::atomic::AtomicU64, v: i64| {
        a.fetch_add(u64::try_from(v).unwrap_or(0), Ordering::Relaxed);
    };
    add(&c.prompt_tokens, t.prompt_tokens_used);
    add(&c.cached_tokens, t.cached_tokens_used);
    add(&c.completion_tokens, t.completion_tokens_used);
    add(&c.reasoning_tokens, t.reasoning_tokens_used);
    add(&c.total_tokens, t.total_tokens_used);
}
