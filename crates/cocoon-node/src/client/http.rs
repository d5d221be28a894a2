//! The client's OpenAI-compatible HTTP API (runners.md §4.1, delta §5.1):
//! `GET /v1/models`, `POST /v1/chat/completions`, `POST /v1/completions`,
//! `POST /v1/audio/transcriptions` (`multipart/form-data`, at most 15 MiB), and CORS
//! (`OPTIONS` on any path, CORS headers on every answer, as the reference: browser apps use
//! this port). Nothing else: the stats pages, the debug log and the money controls the
//! reference serves here are on the stats and admin ports ([`super::stats_http`]), so a web
//! page the user opens can spend tokens through this port but cannot move or read money.
//!
//! Streams (`"stream": true`) are written to the caller part by part as they
//! arrive; a failure mid-stream ends it with one SSE error event. Non-stream
//! answers are collected first so a failure can still be a 502/504 JSON error.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use cocoon_wire::schema::{enums, functions, types};

use super::debug;
use super::error::ApiError;
use super::request::{self, AnswerStream};
use super::{unix_now, ClientState};
use crate::worker::is_hop_by_hop_header as is_hop_by_hop;

/// Largest non-stream answer we collect before answering.
const MAX_COLLECTED_ANSWER: usize = 256 << 20;
/// Deadline of `client.getWorkerTypesV2` (reference: 10 s).
const MODELS_QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP API as a router.
pub fn api_router(state: Arc<ClientState>) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

async fn dispatch(State(state): State<Arc<ClientState>>, req: Request) -> Response {
    let mut resp = route(state, req).await;
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type, Authorization"),
    );
    resp
}

async fn route(state: Arc<ClientState>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if method == Method::OPTIONS {
        return StatusCode::NO_CONTENT.into_response();
    }
    match (method.as_str(), path.as_str()) {
        ("GET", "/v1/models") => models(&state)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        ("POST", "/v1/chat/completions")
        | ("POST", "/v1/completions")
        | ("POST", "/v1/audio/transcriptions") => inference(state, req)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        (_, "/v1/chat/completions")
        | (_, "/v1/completions")
        | (_, "/v1/audio/transcriptions")
        | (_, "/v1/models") => ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "method_not_allowed",
            format!("{method} is not allowed on {path}"),
        )
        .into_response(),
        _ => ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "unknown_url",
            format!("unknown URL {path}"),
        )
        .into_response(),
    }
}

/// The caller's headers that travel to the worker: all but hop-by-hop and framing ones and the
/// caller's credentials (`Authorization`, `Cookie`: they are for this client, not for a worker).
/// `Host` travels, as the reference client forwards it: the December reference worker adds none
/// and its engine refuses a request without one (interop.md §3). A caller that sent none
/// (HTTP/1.0, or HTTP/2's `:authority`) gets the authority it addressed, else `localhost`.
fn forwarded_headers(parts: &axum::http::request::Parts) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(n, _)| {
            !is_hop_by_hop(n.as_str()) && !matches!(n.as_str(), "authorization" | "cookie")
        })
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_owned());
    out.insert(0, ("host".to_owned(), host));
    out
}

async fn inference(state: Arc<ClientState>, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let limit = request::max_body_bytes(parts.uri.path());
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(e) if crate::http_server::is_body_timeout(&e) => {
            state.counters.rejected.fetch_add(1, Ordering::Relaxed);
            let mut resp = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request_error",
                "request_timeout",
                format!("the request body did not arrive in time: {e}"),
            )
            .into_response();
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return Ok(resp);
        }
        Err(_) => {
            state.counters.rejected.fetch_add(1, Ordering::Relaxed);
            let mut resp = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                "request_too_large",
                format!("request body larger than {limit} bytes"),
            )
            .into_response();
            // The rest of the oversized body was never read: the connection
            // cannot carry another request, so tell the caller not to reuse it.
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return Ok(resp);
        }
    };
    let forwarded = forwarded_headers(&parts);
    let prepared = request::prepare(parts.uri.path(), forwarded, &bytes).inspect_err(|_| {
        state.counters.rejected.fetch_add(1, Ordering::Relaxed);
    })?;
    state.counters.queries.fetch_add(1, Ordering::Relaxed);
    let client_start = unix_now();
    let started = request::start(&state, &prepared).await.inspect_err(|_| {
        state.counters.failed.fetch_add(1, Ordering::Relaxed);
    })?;
    let request_label = started.answers.request_label();
    let debug = prepared.enable_debug.then(|| DebugContext {
        guid: prepared.request_guid.clone(),
        start_time: client_start,
        answer_receive_start_at: unix_now(),
    });

    let status = u16::try_from(started.head.status_code)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| {
            ApiError::upstream(format!(
                "engine answered an invalid status {}",
                started.head.status_code
            ))
        })?;
    let mut builder = Response::builder().status(status);
    let mut has_type = false;
    for h in &started.head.headers {
        if is_hop_by_hop(&h.name) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(h.name.as_str()),
            HeaderValue::try_from(h.value.as_str()),
        ) {
            has_type |= n == header::CONTENT_TYPE;
            builder = builder.header(n, v);
        }
    }
    if !has_type {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    builder = builder.header("X-Cocoon-Client-Start", format!("{client_start:.6}"));
    builder = builder.header("X-Cocoon-Client-End", format!("{:.6}", unix_now()));

    let body = if started.complete {
        state.counters.success.fetch_add(1, Ordering::Relaxed);
        tracing::info!(request = %request_label, status = status.as_u16(), "request completed");
        let payload = started.head.payload;
        match &debug {
            Some(d) => Body::from(debug::merge_into_body(
                payload,
                &d.finish(&state, started.final_info.as_ref()),
            )),
            None => Body::from(payload),
        }
    } else if prepared.stream {
        Body::from_stream(stream_body(state.clone(), started.answers, debug))
    } else {
        let (out, info) = collect_body(&state, started.head.payload, started.answers)
            .await
            .inspect_err(|e| {
                tracing::info!(request = %request_label, error = %e.message, "request failed");
            })?;
        tracing::info!(request = %request_label, status = status.as_u16(), bytes = out.len(),
            "request completed");
        match &debug {
            Some(d) => Body::from(debug::merge_into_body(
                out,
                &d.finish(&state, info.as_ref()),
            )),
            None => Body::from(out),
        }
    };
    builder
        .body(body)
        .map_err(|e| ApiError::upstream(format!("cannot build the response: {e}")))
}

/// What the client knows of a debug-enabled request until its end.
struct DebugContext {
    guid: Option<String>,
    start_time: f64,
    answer_receive_start_at: f64,
}

impl DebugContext {
    /// The request's debug record; stored under its `request_guid`, if any.
    fn finish(
        &self,
        state: &ClientState,
        info: Option<&types::client::QueryFinalInfo>,
    ) -> serde_json::Value {
        let times = debug::ClientTimes {
            start_time: self.start_time,
            answer_receive_start_at: self.answer_receive_start_at,
            answer_receive_end_at: unix_now(),
        };
        let record = debug::debug_record(info, times);
        if let Some(guid) = &self.guid {
            state.debug_log.insert(guid, record.clone());
        }
        record
    }
}

/// Collects a non-stream answer and its final info; failures become 502/504 JSON errors.
async fn collect_body(
    state: &ClientState,
    mut out: Vec<u8>,
    mut answers: AnswerStream,
) -> Result<(Vec<u8>, Option<types::client::QueryFinalInfo>), ApiError> {
    loop {
        let result = match answers.next().await {
            Ok(enums::client::QueryAnswerEx::QueryAnswerPartEx(p)) => {
                state
                    .counters
                    .bytes_received
                    .fetch_add(p.answer.len() as u64, Ordering::Relaxed);
                out.extend_from_slice(&p.answer);
                if out.len() > MAX_COLLECTED_ANSWER {
                    Err(ApiError::upstream(
                        "answer too large to collect; use \"stream\": true",
                    ))
                } else if p.flags & 1 != 0 {
                    state.counters.success.fetch_add(1, Ordering::Relaxed);
                    return Ok((out, p.final_info));
                } else {
                    continue;
                }
            }
            Ok(enums::client::QueryAnswerEx::QueryAnswerErrorEx(e)) => {
                let mut err = ApiError::from_wire(e.error_code, &e.error);
                if err.status.is_client_error() {
                    // A 4xx after the head means the link failed mid-answer.
                    err = ApiError::upstream(e.error);
                }
                Err(err)
            }
            Ok(enums::client::QueryAnswerEx::QueryAnswerEx(_)) => {
                Err(ApiError::upstream("answer head received twice"))
            }
            Err(e) => Err(e),
        };
        state.counters.failed.fetch_add(1, Ordering::Relaxed);
        return result;
    }
}

struct StreamState {
    client: Arc<ClientState>,
    answers: AnswerStream,
    debug: Option<DebugContext>,
    /// With debug: a `data: [DONE]` tail held back until the final part.
    held: Vec<u8>,
    done: bool,
}

/// The body of a streamed answer: each part as it arrives; an error ends the
/// stream with one SSE error event. With `enable_debug` the last part carries
/// the debug event (see [`debug`]).
fn stream_body(
    client: Arc<ClientState>,
    answers: AnswerStream,
    debug: Option<DebugContext>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    let st = StreamState {
        client,
        answers,
        debug,
        held: Vec::new(),
        done: false,
    };
    futures::stream::unfold(st, |mut st| async move {
        while !st.done {
            let err = match st.answers.next().await {
                Ok(enums::client::QueryAnswerEx::QueryAnswerPartEx(p)) => {
                    let last = p.flags & 1 != 0;
                    st.client
                        .counters
                        .bytes_received
                        .fetch_add(p.answer.len() as u64, Ordering::Relaxed);
                    let mut answer = p.answer;
                    if st.debug.is_some() {
                        let mut joined = std::mem::take(&mut st.held);
                        joined.extend_from_slice(&answer);
                        answer = joined;
                    }
                    if last {
                        st.done = true;
                        st.client.counters.success.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(request = %st.answers.request_label(), "stream completed");
                        if let Some(d) = &st.debug {
                            let record = d.finish(&st.client, p.final_info.as_ref());
                            answer = debug::merge_into_sse_tail(answer, &record);
                        }
                    } else if st.debug.is_some() {
                        let (send, held) = debug::split_at_done(answer);
                        answer = send;
                        st.held = held;
                    }
                    if answer.is_empty() {
                        continue;
                    }
                    return Some((Ok(Bytes::from(answer)), st));
                }
                Ok(enums::client::QueryAnswerEx::QueryAnswerErrorEx(e)) => {
                    ApiError::from_wire(e.error_code, &e.error)
                }
                Ok(enums::client::QueryAnswerEx::QueryAnswerEx(_)) => {
                    ApiError::upstream("answer head received twice")
                }
                Err(e) => e,
            };
            tracing::info!(request = %st.answers.request_label(), error = %err.message,
                "stream ended with an error");
            st.done = true;
            st.client.counters.failed.fetch_add(1, Ordering::Relaxed);
            // A held-back `[DONE]` goes out first, as it would have without debug.
            let mut out = std::mem::take(&mut st.held);
            out.extend_from_slice(err.to_sse_event().as_bytes());
            return Some((Ok(Bytes::from(out)), st));
        }
        None
    })
}

async fn models(state: &ClientState) -> Result<Response, ApiError> {
    let proxies = state.ready_proxies();
    if proxies.is_empty() {
        return Err(ApiError::no_proxy());
    }
    let mut last = ApiError::no_proxy();
    for proxy in proxies {
        match proxy
            .session
            .call(
                &functions::client::GetWorkerTypesV2 {},
                MODELS_QUERY_TIMEOUT,
            )
            .await
        {
            Ok(enums::client::WorkerTypesV2::WorkerTypesV2(t)) => {
                let data: Vec<serde_json::Value> = t
                    .types
                    .iter()
                    .map(|m| {
                        let mut workers: Vec<_> = m.workers.iter().collect();
                        workers.sort_by_key(|w| w.coefficient);
                        let workers: Vec<serde_json::Value> = workers
                            .iter()
                            .map(|w| {
                                serde_json::json!({"coefficient": w.coefficient, "running_requests": w.active_requests,
                                    "max_running_requests": w.max_active_requests})
                            })
                            .collect();
                        serde_json::json!({"id": m.name, "object": "model", "created": 0, "owned_by": "cocoon", "workers": workers})
                    })
                    .collect();
                let body = serde_json::json!({"object": "list", "data": data});
                return Ok((
                    [(header::CONTENT_TYPE, "application/json")],
                    body.to_string(),
                )
                    .into_response());
            }
            Err(e) => {
                last = ApiError::upstream(format!("got error from proxy {}: {e}", proxy.address))
            }
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::forwarded_headers;

    fn parts(req: axum::http::Request<()>) -> axum::http::request::Parts {
        req.into_parts().0
    }

    fn names(headers: &[(String, String)]) -> Vec<&str> {
        headers.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn host_travels_credentials_and_framing_do_not() {
        let req = axum::http::Request::builder()
            .uri("/v1/chat/completions")
            .header("Host", "127.0.0.1:10000")
            .header("Content-Type", "application/json")
            .header("Content-Length", "12")
            .header("Connection", "keep-alive")
            .header("Authorization", "Bearer secret")
            .header("Cookie", "a=b")
            .header("X-Custom", "1")
            .body(())
            .unwrap();
        let out = forwarded_headers(&parts(req));
        assert_eq!(names(&out), ["host", "content-type", "x-custom"]);
        assert_eq!(out[0].1, "127.0.0.1:10000");
    }

    #[test]
    fn a_caller_without_host_still_sends_one() {
        // HTTP/2 carries the authority in the URI; HTTP/1.0 may carry nothing.
        let h2 = axum::http::Request::builder()
            .uri("http://example.test:8080/v1/chat/completions")
            .body(())
            .unwrap();
        assert_eq!(
            forwarded_headers(&parts(h2))[0],
            ("host".to_owned(), "example.test:8080".to_owned())
        );
        let bare = axum::http::Request::builder()
            .uri("/v1/chat/completions")
            .body(())
            .unwrap();
        assert_eq!(
            forwarded_headers(&parts(bare)),
            [("host".to_owned(), "localhost".to_owned())]
        );
    }
}
