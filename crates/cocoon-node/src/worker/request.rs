//! One request from a proxy (`proxy.runQueryEx`), served by the engine.
//!
//! Steps (runners.md §4.4, delta §5.3): parse the embedded `http.request`,
//! validate and rewrite it (`crate::validate`), check the model, call the
//! engine with a deadline of `timeout·0.95`, send `proxy.queryAnswerEx` with
//! the response head as soon as it arrives, then the body as
//! `proxy.queryAnswerPartEx` parts as it arrives (SSE and JSON alike, metered
//! by `crate::metering`), and a final part with `flags=1` and the final info.
//!
//! Coalescing ([`AnswerParts`]): a part is sent as soon as one engine chunk is
//! there, carrying that chunk and every further chunk the engine has ALREADY
//! delivered (never waiting for more), up to [`COALESCE_LIMIT`] bytes. A slow
//! engine's chunks still go out one by one, at once; a fast engine's burst of
//! small lines becomes one part instead of one part per line, which cuts the
//! per-message cost on every hop (bench/README.md, `one-line-c30`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cocoon_net::Session;
use cocoon_wire::schema::{functions, types};
use cocoon_wire::tl::{from_bytes, to_bytes};
use futures::{FutureExt, Stream, StreamExt};

use super::{is_hop_by_hop_header as is_hop_by_hop, unix_now, WorkerState};
use crate::metering::{PriceMultipliers, TokenMeter, TokenUsage};

/// TON error codes used on the wire.
pub const CODE_ERROR: i32 = 602;
pub const CODE_PROTOVIOLATION: i32 = 621;
pub const CODE_TIMEOUT: i32 = 652;
/// Largest answer slice put into one part (frames are limited to 16 MiB).
const MAX_PART_BYTES: usize = 1 << 20;
/// Coalescing stops taking already-available chunks once a part holds this many bytes.
pub const COALESCE_LIMIT: usize = 128 * 1024;

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
    q: &functions::proxy::RunQueryEx,
) {
    state.counters.rejected.fetch_add(1, Ordering::Relaxed);
    let now = unix_now();
    let info = final_info(TokenUsage::default(), q.coefficient, state, now, now, None);
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
    _proto: i32,
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
        relay(&state, &session, &q, &mut meter, &mut answer_start),
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
    let info = final_info(usage, q.coefficient, &state, start, end, debug_json);
    record_tokens(&state, &info.tokens_used);
    match outcome {
        Ok(Ok(())) => {
            slot.finish(true);
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
            slot.finish(false);
            tracing::info!(code, %message, "request failed");
            send_error(&session, q.request_id, code, message, info).await;
        }
        Err(_) => {
            slot.finish(false);
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
    meter: &mut TokenMeter,
    answer_start: &mut Option<f64>,
) -> Result<(), (i32, String)> {
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
    let validated = crate::validate::validate_worker_request(&http_req.url, &http_req.payload)
        .map_err(|e| (e.ton_code, format!("worker: invalid http request: {e}")))?;
    validated
        .check_model(&state.settings.model_name)
        .map_err(|e| invalid(e.to_string()))?;
    let path = validated.endpoint.path();

    let mut req = state.http.post(format!("{}{}", state.engine_base, path));
    let mut has_content_type = false;
    for h in &http_req.headers {
        if !is_hop_by_hop(&h.name) {
            has_content_type |= h.name.eq_ignore_ascii_case("content-type");
            req = req.header(h.name.as_str(), h.value.as_str());
        }
    }
    if !has_content_type {
        req = req.header("content-type", "application/json");
    }
    let resp = req
        .body(validated.body)
        .send()
        .await
        .map_err(|e| (CODE_ERROR, format!("worker: http failed: {e}")))?;
    *answer_start = Some(unix_now());

    // The head first, at once (empty payload, chunked), as the April reference.
    let mut headers: Vec<types::http::Header> = resp
        .headers()
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
        status_code: i32::from(resp.status().as_u16()),
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

    let mut parts = AnswerParts::new(resp.bytes_stream(), COALESCE_LIMIT);
    loop {
        let part = parts
            .next_part(|chunk| meter.feed(chunk))
            .await
            .map_err(|e| (CODE_ERROR, format!("worker: failed to get payload: {e}")))?;
        let Some(part) = part else { break };
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
    Ok(())
}

/// Turns an engine body (a stream of chunks) into answer parts: each part is
/// one chunk waited for, plus every chunk already available without waiting
/// (what the body yields at once, or after one scheduler turn), until the part
/// holds at least `limit` bytes (`limit` 0: one chunk per part). A part is at
/// most `limit` bytes plus one chunk.
pub struct AnswerParts<S> {
    body: S,
    limit: usize,
    ended: bool,
}

impl<S, E> AnswerParts<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    /// Wraps an engine body.
    pub fn new(body: S, limit: usize) -> Self {
        AnswerParts {
            body,
            limit,
            ended: false,
        }
    }

    /// The next part (`None` at the end of the body). `on_chunk` sees every
    /// chunk, in order, exactly once (for metering). Waits only for the first
    /// chunk of the part. An engine error is returned at once, even when the
    /// part already holds chunks (the request fails then anyway).
    pub async fn next_part(
        &mut self,
        mut on_chunk: impl FnMut(&[u8]),
    ) -> Result<Option<Vec<u8>>, E> {
        if self.ended {
            return Ok(None);
        }
        let mut part = loop {
            match self.body.next().await {
                None => {
                    self.ended = true;
                    return Ok(None);
                }
                Some(Err(e)) => return Err(e),
                Some(Ok(chunk)) if chunk.is_empty() => continue,
                Some(Ok(chunk)) => {
                    on_chunk(&chunk);
                    break Vec::from(chunk);
                }
            }
        };
        while part.len() < self.limit {
            // Only what is already there: a body still pending after one turn ends the part.
            let next = match self.body.next().now_or_never() {
                Some(next) => Some(next),
                None => {
                    // hyper's client hands body chunks over from its connection task one at
                    // a time, when asked: give that task one turn to pass on what it has
                    // already read (no I/O wait; a slow engine's chunk is not there then).
                    tokio::task::yield_now().await;
                    self.body.next().now_or_never()
                }
            };
            match next {
                None => break,
                Some(None) => {
                    self.ended = true;
                    break;
                }
                Some(Some(Err(e))) => return Err(e),
                Some(Some(Ok(chunk))) => {
                    on_chunk(&chunk);
                    part.extend_from_slice(&chunk);
                }
            }
        }
        Ok(Some(part))
    }
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

/// `proxy.queryFinalInfo` with adjusted tokens (runners.md §5.2) and the timestamps (v≥2).
fn final_info(
    usage: TokenUsage,
    coefficient: i64,
    state: &WorkerState,
    start: f64,
    end: f64,
    worker_debug: Option<String>,
) -> types::proxy::QueryFinalInfo {
    types::proxy::QueryFinalInfo {
        flags: 2 | u32::from(worker_debug.is_some()),
        tokens_used: adjusted_usage(&usage, coefficient, &state.settings.multipliers),
        worker_debug,
        worker_start_time: Some(start),
        worker_end_time: Some(end),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_engine::{serve_fake_engine, FakeEngineOptions};
    use crate::metering::TokenMeter;
    use futures::channel::mpsc;
    use futures::SinkExt;

    type Chunk = Result<Bytes, std::io::Error>;

    /// All parts of `body` with `limit`: (parts, usage counted from the chunks).
    async fn collect<S, E>(body: S, limit: usize) -> (Vec<Vec<u8>>, TokenUsage)
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Debug,
    {
        let mut parts = AnswerParts::new(body, limit);
        let mut meter = TokenMeter::new();
        let mut out = Vec::new();
        while let Some(part) = parts.next_part(|c| meter.feed(c)).await.unwrap() {
            out.push(part);
        }
        (out, meter.finish())
    }

    fn ready_chunks(lines: &[Vec<u8>]) -> impl Stream<Item = Chunk> + Unpin {
        futures::stream::iter(
            lines
                .iter()
                .map(|l| Ok(Bytes::from(l.clone())))
                .collect::<Vec<_>>(),
        )
    }

    /// 50 SSE lines of 128 content bytes and a usage event, as separate chunks.
    fn sse_lines() -> Vec<Vec<u8>> {
        let mut lines: Vec<Vec<u8>> = (0..50)
            .map(|i| {
                format!(
                    "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}}}}],\"i\":{i}}}\n\n",
                    "0".repeat(128)
                )
                .into_bytes()
            })
            .collect();
        lines.push(
            b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":34,\"completion_tokens\":100,\"total_tokens\":134,\"prompt_tokens_details\":{\"cached_tokens\":11},\"completion_tokens_details\":{\"reasoning_tokens\":10}}}\n\ndata: [DONE]\n\n"
                .to_vec(),
        );
        lines
    }

    #[tokio::test]
    async fn ready_chunks_become_one_part_with_the_same_bytes_and_tokens() {
        let lines = sse_lines();
        let (single, usage_single) = collect(ready_chunks(&lines), 0).await;
        let (coalesced, usage_coalesced) = collect(ready_chunks(&lines), COALESCE_LIMIT).await;
        assert_eq!(single.len(), lines.len(), "limit 0: one part per chunk");
        assert_eq!(coalesced.len(), 1, "all chunks were ready: one part");
        assert_eq!(single.concat(), lines.concat());
        assert_eq!(coalesced.concat(), lines.concat());
        assert_eq!(usage_single, usage_coalesced);
        assert_eq!(
            (
                usage_coalesced.prompt,
                usage_coalesced.completion,
                usage_coalesced.total
            ),
            (34, 100, 134)
        );
    }

    #[tokio::test]
    async fn parts_stop_at_the_limit_plus_one_chunk() {
        let lines: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 100 * 1024]).collect();
        let (parts, _) = collect(ready_chunks(&lines), COALESCE_LIMIT).await;
        let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![200 * 1024, 200 * 1024, 100 * 1024]);
        assert_eq!(parts.concat(), lines.concat());
    }

    #[tokio::test]
    async fn a_slow_engines_first_chunk_is_forwarded_without_waiting_for_more() {
        let (mut tx, rx) = mpsc::channel::<Chunk>(8);
        let mut parts = AnswerParts::new(rx, COALESCE_LIMIT);
        let mut seen = Vec::new();
        tx.send(Ok(Bytes::from_static(b"first"))).await.unwrap();
        // The second chunk is not sent yet: the part must come without it.
        let part = tokio::time::timeout(
            Duration::from_secs(10),
            parts.next_part(|c| seen.push(c.to_vec())),
        )
        .await
        .expect("next_part waited for a chunk that was not there")
        .unwrap();
        assert_eq!(part.as_deref(), Some(&b"first"[..]));
        // Two chunks that arrived meanwhile travel together.
        tx.send(Ok(Bytes::from_static(b"second"))).await.unwrap();
        tx.send(Ok(Bytes::from_static(b"third"))).await.unwrap();
        let part = parts.next_part(|c| seen.push(c.to_vec())).await.unwrap();
        assert_eq!(part.as_deref(), Some(&b"secondthird"[..]));
        drop(tx);
        assert_eq!(
            parts.next_part(|c| seen.push(c.to_vec())).await.unwrap(),
            None
        );
        assert_eq!(
            parts.next_part(|c| seen.push(c.to_vec())).await.unwrap(),
            None
        );
        assert_eq!(
            seen,
            vec![b"first".to_vec(), b"second".to_vec(), b"third".to_vec()]
        );
    }

    #[tokio::test]
    async fn an_engine_error_is_returned() {
        let body = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"a")),
            Err(std::io::Error::other("engine reset")),
        ]);
        let mut parts = AnswerParts::new(body, COALESCE_LIMIT);
        assert!(parts.next_part(|_| {}).await.is_err());
    }

    /// The body with the digits of per-answer values (`"id":"chatcmpl-fake-N"`,
    /// `"created":N`) removed: they differ between two requests.
    fn without_ids(body: &[u8]) -> String {
        let mut text = String::from_utf8_lossy(body).into_owned();
        for marker in ["chatcmpl-fake-", "\"created\":"] {
            let mut out = String::with_capacity(text.len());
            let mut rest = text.as_str();
            while let Some(at) = rest.find(marker) {
                let (head, tail) = rest.split_at(at + marker.len());
                out.push_str(head);
                rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
            }
            out.push_str(rest);
            text = out;
        }
        text
    }

    /// The fake engine over HTTP (SSE and the reference NDJSON): the same bytes
    /// and token counts with and without coalescing, and never more parts.
    #[tokio::test]
    async fn fake_engine_answers_are_identical_with_and_without_coalescing() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        for reference_ndjson in [false, true] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let opts = FakeEngineOptions {
                reference_ndjson,
                ..FakeEngineOptions::default()
            };
            tokio::spawn(serve_fake_engine(listener, opts));
            let http = reqwest::Client::new();
            let body = serde_json::json!({"model": "Qwen/Qwen3-8B", "stream": true,
                "stream_options": {"include_usage": true},
                "messages": [{"role": "user", "content": "hi"}]});
            let mut runs = Vec::new();
            for limit in [0, COALESCE_LIMIT] {
                let resp = http
                    .post(format!("http://{addr}/v1/chat/completions"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
                runs.push(collect(resp.bytes_stream(), limit).await);
            }
            let (single, usage_single) = &runs[0];
            let (coalesced, usage_coalesced) = &runs[1];
            let (a, b) = (
                without_ids(&single.concat()),
                without_ids(&coalesced.concat()),
            );
            assert!(a == b, "ndjson={reference_ndjson}: bodies differ");
            assert_eq!(usage_single, usage_coalesced, "ndjson={reference_ndjson}");
            assert_eq!(usage_coalesced.total, 134, "ndjson={reference_ndjson}");
            assert!(
                coalesced.len() < single.len(),
                "ndjson={reference_ndjson}: an instant answer is coalesced ({} vs {} parts)",
                coalesced.len(),
                single.len()
            );
        }
    }
}
