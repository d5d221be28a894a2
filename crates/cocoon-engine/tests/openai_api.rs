//! The OpenAI-compatible router on the real test model (SmolLM2-135M-Instruct), called as a
//! service: model list, chat and completions, JSON and SSE, usage, max_tokens, stop, seed,
//! cancellation, and clear errors for bad requests.

mod common;

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use serde_json::{json, Value};
use tower::ServiceExt;

const NAME: &str = "smollm2-test";

fn router() -> Option<axum::Router> {
    Some(cocoon_engine::openai::router(
        common::shared_engine()?,
        NAME.into(),
    ))
}

async fn post(router: &axum::Router, path: &str, body: Value) -> (StatusCode, Bytes) {
    let req = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, bytes)
}

fn sse_events(body: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(body).unwrap();
    assert!(
        text.ends_with("data: [DONE]\n\n"),
        "stream must end with [DONE]: {text}"
    );
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test]
async fn lists_the_served_model() {
    let Some(router) = router() else { return };
    let req = Request::get("/v1/models").body(Body::empty()).unwrap();
    let resp = router.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = serde_json::from_slice(
        &axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body["data"][0]["id"], NAME);
}

#[tokio::test]
async fn chat_answer_has_text_and_real_usage() {
    let Some(router) = router() else { return };
    let body = json!({"model": NAME, "temperature": 0, "max_tokens": 24,
        "messages": [{"role": "user", "content": "What is the capital of France?"}]});
    let (status, bytes) = post(&router, "/v1/chat/completions", body.clone()).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    let text = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(text.chars().any(char::is_alphabetic), "real text: {text:?}");
    // The usage is the engine's own count: the prompt through the template, then the answer.
    let engine = common::shared_engine().unwrap();
    let prompt = engine
        .encode_chat(&[cocoon_engine::ChatMessage {
            role: "user".into(),
            content: "What is the capital of France?".into(),
        }])
        .unwrap();
    assert_eq!(v["usage"]["prompt_tokens"], prompt.len());
    let completion = v["usage"]["completion_tokens"].as_u64().unwrap();
    assert!((1..=24).contains(&completion));
    assert_eq!(
        v["usage"]["total_tokens"].as_u64().unwrap(),
        prompt.len() as u64 + completion
    );

    // Streamed, greedy: the same text, in several pieces, then the usage chunk.
    let mut streamed = body;
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let (status, bytes) = post(&router, "/v1/chat/completions", streamed).await;
    assert_eq!(status, StatusCode::OK);
    let events = sse_events(&bytes);
    assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
    let pieces: Vec<&str> = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .filter(|s| !s.is_empty())
        .collect();
    assert!(pieces.len() > 1, "several pieces: {pieces:?}");
    assert_eq!(pieces.concat(), text);
    let last = events.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"], v["usage"]);
}

#[tokio::test]
async fn max_tokens_ends_with_length_and_counts_exactly() {
    let Some(router) = router() else { return };
    let body =
        json!({"prompt": "The history of the Roman Empire", "max_tokens": 5, "temperature": 0});
    let (status, bytes) = post(&router, "/v1/completions", body).await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 5);
    assert!(!v["choices"][0]["text"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn a_stop_string_cuts_the_answer() {
    let Some(router) = router() else { return };
    let base = json!({"prompt": "1, 2, 3, 4, 5,", "max_tokens": 16, "temperature": 0});
    let (_, bytes) = post(&router, "/v1/completions", base.clone()).await;
    let full: Value = serde_json::from_slice(&bytes).unwrap();
    let full_text = full["choices"][0]["text"].as_str().unwrap().to_string();
    assert!(
        full_text.contains('8'),
        "the model counts on: {full_text:?}"
    );
    let mut with_stop = base;
    with_stop["stop"] = json!(["8"]);
    let (_, bytes) = post(&router, "/v1/completions", with_stop).await;
    let cut: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(cut["choices"][0]["finish_reason"], "stop");
    let cut_text = cut["choices"][0]["text"].as_str().unwrap();
    assert_eq!(cut_text, &full_text[..full_text.find('8').unwrap()]);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_sampled_answer() {
    let Some(router) = router() else { return };
    let body = json!({"prompt": "Once upon a time", "max_tokens": 12, "temperature": 1.0, "top_p": 0.9, "seed": 42});
    let (_, a) = post(&router, "/v1/completions", body.clone()).await;
    let (_, b) = post(&router, "/v1/completions", body).await;
    let text =
        |b: &Bytes| serde_json::from_slice::<Value>(b).unwrap()["choices"][0]["text"].clone();
    assert_eq!(text(&a), text(&b));
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let Some(router) = router() else { return };
    let cases = [
        (json!({"messages": []}), "messages must not be empty"),
        (
            json!({"messages": [{"role": "user", "content": "hi"}], "temperature": 3}),
            "temperature",
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi"}], "n": 2}),
            "n must be 1",
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}),
            "max_tokens",
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi"}], "stop": 5}),
            "stop",
        ),
        (json!({"messages": "hi"}), "messages must be an array"),
    ];
    for (body, needle) in cases {
        let (status, bytes) = post(&router, "/v1/chat/completions", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    let (status, _) = post(&router, "/v1/completions", json!({"prompt": [999999]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let long = "word ".repeat(5000);
    let (status, bytes) = post(&router, "/v1/completions", json!({"prompt": long})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&bytes).contains("context"));
}

#[tokio::test]
async fn a_caller_that_goes_away_cancels_its_request() {
    let Some(router) = router() else { return };
    let engine = common::shared_engine().unwrap();
    let cancelled_before = engine.stats().cancelled;
    let body =
        json!({"prompt": "1, 2, 3, 4, 5, 6,", "max_tokens": 400, "stream": true, "temperature": 0});
    let req = Request::post("/v1/completions")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let mut stream = resp.into_body().into_data_stream();
    // Read two events, then hang up.
    let _ = stream.next().await.unwrap().unwrap();
    let _ = stream.next().await.unwrap().unwrap();
    drop(stream);
    // The engine goes on with the next request.
    let (status, bytes) = post(
        &router,
        "/v1/completions",
        json!({"prompt": "Hi", "max_tokens": 3}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["usage"]["completion_tokens"], 3);
    // Requests run one at a time, in order: the abandoned one has ended, as cancelled (other
    // tests of this binary never hang up, so no other request adds to the count).
    assert_eq!(engine.stats().cancelled, cancelled_before + 1);
}
