//! The engine behind OpenAI's HTTP API, as an axum [`Router`]: `GET /v1/models`,
//! `POST /v1/chat/completions` and `POST /v1/completions`, as one JSON object or as
//! server-sent events (`"stream": true`; the usage chunk when
//! `stream_options.include_usage` is true; `data: [DONE]` at the end). `usage` holds the
//! engine's real token counts. A caller that goes away cancels its request: the answer body is
//! dropped, and with it the engine's receiver.
//!
//! The same router serves `cocoon backend local` over TCP and a worker in its own process
//! (called as a service, no socket): one engine interface for both.

mod request;
mod response;

pub use request::{parse, ApiKind, ParsedRequest, MAX_STOPS};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::engine::{Engine, Event};
use crate::error::EngineError;
use response::Answer;

struct ApiState {
    engine: Engine,
    model: String,
    next_id: AtomicU64,
}

/// The OpenAI-compatible router over `engine`, answering as model `served_name`.
pub fn router(engine: Engine, served_name: String) -> Router {
    let state = Arc::new(ApiState {
        engine,
        model: served_name,
        next_id: AtomicU64::new(1),
    });
    Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .fallback(not_found)
        .with_state(state)
}

/// An OpenAI-style error answer.
pub fn error_response(status: StatusCode, message: &str, code: &str) -> Response {
    let kind = if status.is_server_error() {
        "server_error"
    } else {
        "invalid_request_error"
    };
    let body = serde_json::json!({
        "error": {"message": message, "type": kind, "param": null, "code": code}
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn engine_error(e: &EngineError) -> Response {
    let (status, code) = match e {
        EngineError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
        EngineError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "engine_busy"),
        EngineError::Stopped | EngineError::Model { .. } | EngineError::Inference(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "engine_error")
        }
    };
    error_response(status, &e.to_string(), code)
}

async fn not_found(uri: Uri) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        &format!("local engine: no route for {}", uri.path()),
        "unknown_url",
    )
}

async fn models(State(state): State<Arc<ApiState>>) -> Response {
    let info = state.engine.info();
    let body = serde_json::json!({
        "object": "list",
        "data": [{
            "id": state.model,
            "object": "model",
            "created": 0,
            "owned_by": "cocoon-local-engine",
            "max_model_len": info.context_length,
        }],
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn chat(State(state): State<Arc<ApiState>>, body: Bytes) -> Response {
    serve(&state, ApiKind::Chat, &body).await
}

async fn completions(State(state): State<Arc<ApiState>>, body: Bytes) -> Response {
    serve(&state, ApiKind::Completion, &body).await
}

async fn serve(state: &ApiState, kind: ApiKind, body: &[u8]) -> Response {
    let parsed = match parse(kind, body, &state.engine) {
        Ok(p) => p,
        Err(e) => return engine_error(&e),
    };
    let mut events = match state.engine.submit(parsed.generate) {
        Ok(rx) => rx,
        Err(e) => return engine_error(&e),
    };
    let n = state.next_id.fetch_add(1, Ordering::Relaxed);
    let answer = Answer::new(kind, n, state.model.clone(), parsed.include_usage);
    if parsed.stream {
        let stream = futures::stream::unfold(
            (events, answer, false),
            |(mut events, mut answer, done)| async move {
                if done {
                    return None;
                }
                loop {
                    let event = events.recv().await;
                    let (out, done) = answer.sse_for(event);
                    if !out.is_empty() || done {
                        return Some((
                            Ok::<_, std::convert::Infallible>(Bytes::from(out)),
                            (events, answer, done),
                        ));
                    }
                }
            },
        );
        return (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            Body::from_stream(stream),
        )
            .into_response();
    }
    let mut text = String::new();
    loop {
        match events.recv().await {
            Some(Event::Token { text: t, .. }) => text.push_str(&t),
            Some(Event::Done {
                text: t,
                finish,
                usage,
            }) => {
                text.push_str(&t);
                return (
                    [(header::CONTENT_TYPE, "application/json")],
                    answer.full(&text, finish, usage).to_string(),
                )
                    .into_response();
            }
            Some(Event::Failed(e)) => {
                return error_response(StatusCode::INTERNAL_SERVER_ERROR, &e, "engine_error")
            }
            None => {
                return error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the engine stopped",
                    "engine_error",
                )
            }
        }
    }
}
