//! A FAKE OpenAI-compatible inference engine for development, tests and benchmarks: no model, no
//! inference, only fixed, simulated answers shaped like the reference benchmark's fake server
//! (runners.md §12): `chunks` pieces of `chunk_bytes` ASCII zeros, an optional delay after each
//! piece, and a fixed `usage` (by default the reference's: 34 prompt tokens of which 11 cached, 100
//! completion tokens of which 10 reasoning — so a request bills 134 tokens at 1.0×).
//!
//! Endpoints (OpenAI mode, the default):
//! * `POST /v1/chat/completions`, `POST /v1/completions`: with `"stream": true`, server-sent
//!   events carrying valid `chat.completion.chunk` / `text_completion` objects (a role chunk for
//!   chat, then the content chunks, a `finish_reason: "stop"` chunk, a usage chunk when
//!   `stream_options.include_usage` is true — as vLLM and OpenAI do — then `data: [DONE]`);
//!   otherwise one `chat.completion` / `text_completion` object, sent after the total delay;
//! * `POST /v1/audio/transcriptions` (`multipart/form-data`): a SIMULATED transcription derived
//!   from the uploaded file's name and size ([`transcription`]), in OpenAI's `json`,
//!   `verbose_json` or `text` format, with no token usage;
//! * `GET /v1/models`: a model list with the configured model name;
//! * `GET /fake/stats` (fake only, all modes): answer bodies started, completed
//!   and aborted by the client ([`FakeEngineStats`]).
//!
//! With `reference_ndjson`, every endpoint answers exactly as the reference's `benchmark/server.go`
//! at 9060ce5 does: a header line `{"chunks":N,"bytes":M,"delay":D}`, the chunk lines
//! `{"delta":"000…","i":k}`, and the usage line, as NDJSON (`/v1/models` answers `{}`) — the
//! format the reference worker's token counter understands.
//!
//! As in the reference server, the query parameters `chunks`, `bytes` and `delay_ms` override the
//! options per request (bounded by [`MAX_CHUNKS`], [`MAX_CHUNK_BYTES`], [`MAX_DELAY_MS`]).

mod answers;
mod tracking;
mod transcription;

pub use tracking::FakeEngineStats;

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::stream::{self, Stream, StreamExt};
use serde_json::Value;

use answers::{AnswerPlan, ApiKind};

/// Most chunks per answer.
pub const MAX_CHUNKS: usize = 100_000;
/// Most bytes per chunk.
pub const MAX_CHUNK_BYTES: usize = 1024 * 1024;
/// Longest delay between chunks, milliseconds.
pub const MAX_DELAY_MS: u64 = 60_000;
/// Largest non-streamed answer content (`chunks × chunk_bytes`).
pub const MAX_FULL_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// The `usage` the fake engine reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FakeUsage {
    /// `prompt_tokens` (including cached).
    pub prompt_tokens: u64,
    /// `prompt_tokens_details.cached_tokens`.
    pub cached_tokens: u64,
    /// `completion_tokens` (including reasoning).
    pub completion_tokens: u64,
    /// `completion_tokens_details.reasoning_tokens`.
    pub reasoning_tokens: u64,
}

impl Default for FakeUsage {
    /// The reference benchmark server's values.
    fn default() -> Self {
        FakeUsage {
            prompt_tokens: 34,
            cached_tokens: 11,
            completion_tokens: 100,
            reasoning_tokens: 10,
        }
    }
}

/// The shape of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// Number of content chunks.
    pub chunks: usize,
    /// Bytes of content per chunk.
    pub chunk_bytes: usize,
}

/// Fake engine settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeEngineOptions {
    /// Content chunks per answer (default 50, as the reference).
    pub chunks: usize,
    /// Bytes per chunk (default 128, as the reference).
    pub chunk_bytes: usize,
    /// Delay after each chunk (default none).
    pub delay: Duration,
    /// Model name reported in answers and `/v1/models`.
    pub model: String,
    /// Reported usage.
    pub usage: FakeUsage,
    /// Answer every endpoint with the reference benchmark server's NDJSON lines.
    pub reference_ndjson: bool,
    /// Timeouts and connection cap of its HTTP server.
    pub http_limits: crate::http_server::HttpLimits,
}

impl Default for FakeEngineOptions {
    fn default() -> Self {
        FakeEngineOptions {
            chunks: 50,
            chunk_bytes: 128,
            delay: Duration::ZERO,
            model: "Qwen/Qwen3-8B".to_string(),
            usage: FakeUsage::default(),
            reference_ndjson: false,
            http_limits: crate::http_server::HttpLimits::default(),
        }
    }
}

struct EngineState {
    opts: FakeEngineOptions,
    next_id: AtomicU64,
    answers: Arc<tracking::AnswerCounters>,
}

type Shared = Arc<EngineState>;

/// Serves the fake engine on `listener` until the server fails.
pub async fn serve_fake_engine(
    listener: tokio::net::TcpListener,
    opts: FakeEngineOptions,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            %addr,
            chunks = opts.chunks,
            chunk_bytes = opts.chunk_bytes,
            delay_ms = opts.delay.as_millis() as u64,
            model = %opts.model,
            reference_ndjson = opts.reference_ndjson,
            "fake engine (simulated answers, no model) listening"
        );
    }
    let limits = opts.http_limits;
    crate::http_server::serve(listener, fake_engine_router(opts), limits, "fake engine").await
}

/// The fake engine as an axum router (for embedding in tests).
pub fn fake_engine_router(opts: FakeEngineOptions) -> Router {
    let state: Shared = Arc::new(EngineState {
        opts,
        next_id: AtomicU64::new(1),
        answers: Arc::default(),
    });
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(completions))
        .route(
            "/v1/audio/transcriptions",
            post(audio_transcriptions).layer(DefaultBodyLimit::max(
                crate::validate::MAX_REQUEST_BODY_BYTES,
            )),
        )
        .route("/v1/models", get(models))
        .route("/fake/stats", get(fake_stats))
        .fallback(not_found)
        .with_state(state)
}

/// Per-request answer shape and delay: the options, overridden by the query string.
fn plan_shape(opts: &FakeEngineOptions, uri: &Uri) -> (Answer, Duration) {
    let mut answer = Answer {
        chunks: opts.chunks.min(MAX_CHUNKS),
        chunk_bytes: opts.chunk_bytes.min(MAX_CHUNK_BYTES),
    };
    let mut delay = opts.delay.min(Duration::from_millis(MAX_DELAY_MS));
    for pair in uri.query().unwrap_or("").split('&') {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        let Ok(n) = value.parse::<u64>() else {
            continue;
        };
        let n_usize = usize::try_from(n).unwrap_or(usize::MAX);
        match key {
            "chunks" if n > 0 => answer.chunks = n_usize.min(MAX_CHUNKS),
            "bytes" if n > 0 => answer.chunk_bytes = n_usize.min(MAX_CHUNK_BYTES),
            "delay_ms" => delay = Duration::from_millis(n.min(MAX_DELAY_MS)),
            _ => {}
        }
    }
    (answer, delay)
}

fn openai_error(status: StatusCode, message: String, code: &str) -> Response {
    let body = serde_json::json!({
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": null,
            "code": code,
        }
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn not_found(uri: Uri) -> Response {
    openai_error(
        StatusCode::NOT_FOUND,
        format!("fake engine: no route for {}", uri.path()),
        "unknown_url",
    )
}

async fn fake_stats(State(state): State<Shared>) -> Response {
    axum::Json(state.answers.snapshot()).into_response()
}

async fn models(State(state): State<Shared>) -> Response {
    if state.opts.reference_ndjson {
        return ([(header::CONTENT_TYPE, "application/json")], "{}\n").into_response();
    }
    let body = serde_json::json!({
        "object": "list",
        "data": [{
            "id": state.opts.model,
            "object": "model",
            "created": 0,
            "owned_by": "cocoon-fake-engine",
        }],
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn chat_completions(State(state): State<Shared>, uri: Uri, body: Bytes) -> Response {
    answer(&state, ApiKind::Chat, &uri, &body)
}

async fn completions(State(state): State<Shared>, uri: Uri, body: Bytes) -> Response {
    answer(&state, ApiKind::Completion, &uri, &body)
}

async fn audio_transcriptions(
    State(state): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if state.opts.reference_ndjson {
        let (shape, delay) = plan_shape(&state.opts, &uri);
        return ndjson_response(&state, shape, delay);
    }
    transcription::answer(&headers, &body)
}

fn answer(state: &Shared, kind: ApiKind, uri: &Uri, body: &[u8]) -> Response {
    let (shape, delay) = plan_shape(&state.opts, uri);
    if state.opts.reference_ndjson {
        // The reference server drains and ignores the body.
        return ndjson_response(state, shape, delay);
    }
    let request: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return openai_error(
                StatusCode::BAD_REQUEST,
                "fake engine: the body must be a JSON object".to_string(),
                "invalid_json",
            )
        }
    };
    let stream = request.get("stream") == Some(&Value::Bool(true));
    let include_usage = request
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let id_number = state.next_id.fetch_add(1, Ordering::Relaxed);
    let plan = AnswerPlan {
        kind,
        id: match kind {
            ApiKind::Chat => format!("chatcmpl-fake-{id_number}"),
            ApiKind::Completion => format!("cmpl-fake-{id_number}"),
        },
        created: answers::unix_now(),
        model: state.opts.model.clone(),
        answer: shape,
        usage: state.opts.usage,
        include_usage,
    };
    if stream {
        let body = Body::from_stream(tracking::tracked(
            state.answers.clone(),
            sse_stream(plan, delay),
        ));
        return (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response();
    }
    if shape.chunks.saturating_mul(shape.chunk_bytes) > MAX_FULL_ANSWER_BYTES {
        return openai_error(
            StatusCode::BAD_REQUEST,
            format!(
                "fake engine: a non-streamed answer is limited to {MAX_FULL_ANSWER_BYTES} bytes"
            ),
            "invalid_value",
        );
    }
    // Non-streamed: wait as long as the streamed answer would take, then answer at once.
    let total_delay = delay.saturating_mul(u32::try_from(shape.chunks).unwrap_or(u32::MAX));
    let body = stream::once(async move {
        if !total_delay.is_zero() {
            tokio::time::sleep(total_delay).await;
        }
        Ok::<Bytes, Infallible>(Bytes::from(plan.full_answer().to_string()))
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(tracking::tracked(state.answers.clone(), body)),
    )
        .into_response()
}

/// Pieces of a streamed answer, in order; `Sleep` is the delay after a content piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Head,
    Content(usize),
    Sleep,
    Tail,
}

/// Emits `pieces` in order, sleeping `delay` at each `Sleep`; `render` turns the other pieces
/// into bytes (empty = nothing sent).
fn paced_stream(
    pieces: Vec<Piece>,
    delay: Duration,
    render: impl Fn(Piece) -> String + Send + 'static,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    stream::iter(pieces)
        .then(move |piece| async move {
            if piece == Piece::Sleep {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                None
            } else {
                Some(piece)
            }
        })
        .filter_map(move |piece| {
            let out = piece.map(&render).filter(|s| !s.is_empty());
            async move { out.map(|s| Ok(Bytes::from(s))) }
        })
}

fn piece_list(chunks: usize) -> Vec<Piece> {
    let mut pieces = Vec::with_capacity(chunks * 2 + 2);
    pieces.push(Piece::Head);
    for i in 0..chunks {
        pieces.push(Piece::Content(i));
        pieces.push(Piece::Sleep);
    }
    pieces.push(Piece::Tail);
    pieces
}

fn sse_stream(
    plan: AnswerPlan,
    delay: Duration,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let pieces = piece_list(plan.answer.chunks);
    paced_stream(pieces, delay, move |piece| match piece {
        Piece::Head => plan
            .role_chunk()
            .map(|v| answers::sse_event(&v))
            .unwrap_or_default(),
        Piece::Content(_) => answers::sse_event(&plan.content_chunk()),
        Piece::Tail => {
            let mut out = answers::sse_event(&plan.finish_chunk());
            if let Some(u) = plan.usage_chunk() {
                out.push_str(&answers::sse_event(&u));
            }
            out.push_str(answers::SSE_DONE);
            out
        }
        Piece::Sleep => String::new(),
    })
}

fn ndjson_response(state: &Shared, shape: Answer, delay: Duration) -> Response {
    let usage = state.opts.usage;
    let delay_ms = delay.as_millis() as u64;
    let pieces = piece_list(shape.chunks);
    let body = paced_stream(pieces, delay, move |piece| match piece {
        Piece::Head => answers::ndjson_header(&shape, delay_ms),
        Piece::Content(i) => answers::ndjson_chunk(&shape, i),
        Piece::Tail => answers::ndjson_usage(&usage),
        Piece::Sleep => String::new(),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(tracking::tracked(state.answers.clone(), body)),
    )
        .into_response()
}
