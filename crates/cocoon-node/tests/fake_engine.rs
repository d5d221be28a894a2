//! The fake engine, served in-process on an ephemeral port and queried over HTTP.

use std::time::{Duration, Instant};

use cocoon_node::fake_engine::{serve_fake_engine, FakeEngineOptions};
use cocoon_node::metering::{TokenMeter, TokenUsage};
use serde_json::{json, Value};

const REFERENCE_USAGE: TokenUsage = TokenUsage {
    prompt: 34,
    cached: 11,
    completion: 100,
    reasoning: 10,
    total: 134,
};

async fn start(opts: FakeEngineOptions) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_fake_engine(listener, opts));
    format!("http://{addr}")
}

fn client() -> reqwest::Client {
    // reqwest is built without a default rustls provider; plain HTTP still needs one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn small(chunks: usize, chunk_bytes: usize) -> FakeEngineOptions {
    FakeEngineOptions {
        chunks,
        chunk_bytes,
        model: "fake/model".to_string(),
        ..FakeEngineOptions::default()
    }
}

/// The JSON payloads of an SSE body, and whether it ended with `data: [DONE]`.
fn sse_events(body: &str) -> (Vec<Value>, bool) {
    let mut events = Vec::new();
    let mut done = false;
    for block in body.split("\n\n").filter(|b| !b.is_empty()) {
        let data = block
            .strip_prefix("data: ")
            .expect("every event is one data line");
        if data == "[DONE]" {
            done = true;
        } else {
            assert!(!done, "nothing after [DONE]");
            events.push(serde_json::from_str(data).unwrap());
        }
    }
    (events, done)
}

fn meter(body: &[u8]) -> TokenUsage {
    let mut m = TokenMeter::new();
    m.feed(body);
    m.finish()
}

#[tokio::test]
async fn chat_non_stream_is_a_chat_completion() {
    let base = start(small(5, 16)).await;
    let resp = client()
        .post(format!("{base}/v1/chat/completions"))
        .json(&json!({"model": "fake/model", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body = resp.bytes().await.unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["model"], "fake/model");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], "0".repeat(80));
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 34, "completion_tokens": 100, "total_tokens": 134,
               "prompt_tokens_details": {"cached_tokens": 11},
               "completion_tokens_details": {"reasoning_tokens": 10}})
    );
    assert_eq!(meter(&body), REFERENCE_USAGE);
}

#[tokio::test]
async fn chat_stream_with_usage_is_valid_sse() {
    let base = start(small(4, 8)).await;
    let resp = client()
        .post(format!("{base}/v1/chat/completions"))
        .json(
            &json!({"model": "fake/model", "messages": [], "stream": true,
                      "stream_options": {"include_usage": true}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let body = resp.bytes().await.unwrap();
    let (events, done) = sse_events(std::str::from_utf8(&body).unwrap());
    assert!(done);
    // role chunk + 4 content chunks + finish chunk + usage chunk
    assert_eq!(events.len(), 7);
    for e in &events {
        assert_eq!(e["object"], "chat.completion.chunk");
        assert_eq!(e["id"], events[0]["id"]);
        assert!(
            e.get("usage").is_some(),
            "include_usage: every chunk has the key"
        );
    }
    assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
    let content: Vec<&Value> = events[1..5]
        .iter()
        .map(|e| &e["choices"][0]["delta"]["content"])
        .collect();
    assert!(content.iter().all(|c| *c == "00000000"));
    assert_eq!(events[5]["choices"][0]["finish_reason"], "stop");
    assert_eq!(events[6]["choices"], json!([]));
    assert_eq!(events[6]["usage"]["total_tokens"], 134);
    assert_eq!(meter(&body), REFERENCE_USAGE);
}

#[tokio::test]
async fn chat_stream_without_include_usage_has_no_usage() {
    let base = start(small(2, 4)).await;
    let body = client()
        .post(format!("{base}/v1/chat/completions"))
        .json(&json!({"model": "m", "messages": [], "stream": true}))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (events, done) = sse_events(std::str::from_utf8(&body).unwrap());
    assert!(done);
    assert_eq!(events.len(), 4);
    assert!(events.iter().all(|e| e.get("usage").is_none()));
    assert_eq!(meter(&body), TokenUsage::default());
}

#[tokio::test]
async fn completions_both_modes() {
    let base = start(small(3, 2)).await;
    let c = client();
    let v: Value = c
        .post(format!("{base}/v1/completions"))
        .json(&json!({"model": "m", "prompt": "p"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"][0]["text"], "000000");
    assert_eq!(v["usage"]["prompt_tokens"], 34);
    let body = c
        .post(format!("{base}/v1/completions"))
        .json(&json!({"model": "m", "prompt": "p", "stream": true,
                      "stream_options": {"include_usage": true}}))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (events, done) = sse_events(std::str::from_utf8(&body).unwrap());
    assert!(done);
    // 3 content chunks + finish + usage (completions have no role chunk)
    assert_eq!(events.len(), 5);
    assert!(events.iter().all(|e| e["object"] == "text_completion"));
    assert_eq!(events[0]["choices"][0]["text"], "00");
    assert_eq!(events[3]["choices"][0]["finish_reason"], "stop");
    assert_eq!(meter(&body), REFERENCE_USAGE);
}

#[tokio::test]
async fn models_list_and_errors() {
    let base = start(small(1, 1)).await;
    let c = client();
    let v: Value = c
        .get(format!("{base}/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], "fake/model");
    assert_eq!(v["data"][0]["object"], "model");

    let resp = c
        .post(format!("{base}/v1/chat/completions"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let resp = c.get(format!("{base}/v1/embeddings")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn reference_ndjson_mode_matches_the_benchmark_server() {
    let base = start(FakeEngineOptions {
        reference_ndjson: true,
        ..small(3, 4)
    })
    .await;
    let c = client();
    let body = c
        .post(format!("{base}/v1/chat/completions"))
        .body(r#"{"stream":true}"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let expected = concat!(
        "{\"chunks\":3,\"bytes\":4,\"delay\":0}\n",
        "{\"delta\":\"0000\",\"i\":0}\n",
        "{\"delta\":\"0000\",\"i\":1}\n",
        "{\"delta\":\"0000\",\"i\":2}\n",
        "{\"usage\":{\"prompt_tokens\":34,\"total_tokens\":134,\"completion_tokens\":100,",
        "\"completion_tokens_details\":{\"reasoning_tokens\":10},",
        "\"prompt_tokens_details\":{\"cached_tokens\":11}}}\n",
    );
    assert_eq!(body, expected);
    assert_eq!(meter(body.as_bytes()), REFERENCE_USAGE);
    let models = c
        .get(format!("{base}/v1/models"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(models, "{}\n");
    // Query-string overrides, as the reference server.
    let body = c
        .post(format!("{base}/v1/completions?chunks=2&bytes=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body.lines().count(), 4);
    assert!(body.starts_with("{\"chunks\":2,\"bytes\":1,\"delay\":0}\n{\"delta\":\"0\",\"i\":0}\n"));
}

#[tokio::test]
async fn delays_are_honoured() {
    let delay = Duration::from_millis(40);
    let base = start(FakeEngineOptions {
        delay,
        ..small(4, 1)
    })
    .await;
    let c = client();
    // Streamed: chunks arrive spread over at least 3 delays (4 chunks, a delay after each).
    let started = Instant::now();
    let mut resp = c
        .post(format!("{base}/v1/chat/completions"))
        .json(&json!({"model": "m", "messages": [], "stream": true}))
        .send()
        .await
        .unwrap();
    let mut first_content_at = None;
    let mut last_at = started;
    while let Some(piece) = resp.chunk().await.unwrap() {
        if first_content_at.is_none() && piece.windows(7).any(|w| w == b"content") {
            first_content_at = Some(Instant::now());
        }
        last_at = Instant::now();
    }
    let first = first_content_at.expect("content arrived");
    assert!(last_at - first >= delay * 3, "spread {:?}", last_at - first);
    // Not streamed: the answer waits for the whole delay.
    let started = Instant::now();
    c.post(format!("{base}/v1/completions"))
        .json(&json!({"model": "m", "prompt": "p"}))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        started.elapsed() >= delay * 4,
        "took {:?}",
        started.elapsed()
    );
}
