//! `cocoon up` end to end with real processes on loopback: the OpenAI API
//! (models, streamed and non-streamed chat, completions), token metering for
//! SSE and JSON answers, and OpenAI-shaped errors followed by a working request.

mod common;

use std::time::Duration;

use common::{adjusted_total, eventually, json_stats, sse_usage, workers_tokens, UpNetwork};
use serde_json::{json, Value};

const MODEL: &str = "Qwen/Qwen3-8B";

fn chat(stream: bool) -> Value {
    json!({"model": MODEL, "stream": stream, "messages": [{"role": "user", "content": "Hello!"}]})
}

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> (u16, String) {
    let resp = http.post(url).json(body).send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

fn assert_openai_error(status: u16, body: &str, want_status: &[u16], what: &str) {
    assert!(
        want_status.contains(&status),
        "{what}: status {status}, body {body}"
    );
    let v: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{what}: error body is not JSON ({e}): {body}"));
    let err = &v["error"];
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
    assert!(err["type"].is_string(), "{what}: {body}");
    assert!(
        err.get("param").is_some() && err.get("code").is_some(),
        "{what}: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_api_streams_meters_and_reports_errors() {
    let net = UpNetwork::start(&["--workers", "2", "--fake-chunks", "8"]);
    let http = reqwest::Client::new();
    let base = &net.client_url;

    // /v1/models lists the model with both workers.
    let models: Value = http
        .get(format!("{base}/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == MODEL)
        .expect("model listed");
    assert_eq!(entry["workers"].as_array().unwrap().len(), 2, "{models}");

    // Streamed chat: SSE chunks, [DONE], usage; the workers billed exactly that usage.
    let before = workers_tokens(&http, &net).await;
    let (status, body) = post(&http, &format!("{base}/v1/chat/completions"), &chat(true)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    let chunks = body.lines().filter(|l| l.starts_with("data: {")).count();
    assert!(chunks >= 8, "expected at least 8 SSE chunks, got {chunks}");
    let usage = sse_usage(&body).expect("usage in the stream");
    let after_sse = workers_tokens(&http, &net).await;
    assert_eq!(
        after_sse - before,
        adjusted_total(&usage),
        "SSE metering: usage {usage}"
    );

    // Non-streamed chat: one chat.completion; metered too.
    let (status, body) = post(&http, &format!("{base}/v1/chat/completions"), &chat(false)).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON answer");
    assert_eq!(v["object"], "chat.completion");
    let after_json = workers_tokens(&http, &net).await;
    assert_eq!(
        after_json - after_sse,
        adjusted_total(&v["usage"]),
        "JSON metering: {}",
        v["usage"]
    );

    // Payments (devnet): every worker holds a verified voucher for exactly what it
    // earned, the client one for what it was charged, and no voucher was refused.
    let expected = after_json;
    let client_stats = net.node("client").stats.clone().expect("client stats");
    let client_stats = client_stats.as_str();
    eventually(Duration::from_secs(10), "vouchers received", || async {
        let mut paid = 0;
        for w in net.workers() {
            let stats = json_stats(&http, w.stats.as_deref().expect("worker stats")).await;
            paid += payment_field_sum(&stats, "voucher_tokens");
            assert_eq!(payment_field_sum(&stats, "vouchers_rejected"), 0, "{stats}");
        }
        let client = json_stats(&http, client_stats).await;
        assert_eq!(
            payment_field_sum(&client, "vouchers_rejected"),
            0,
            "{client}"
        );
        paid == expected && payment_field_sum(&client, "voucher_tokens") == expected
    })
    .await;

    // Completions.
    let (status, body) = post(
        &http,
        &format!("{base}/v1/completions"),
        &json!({"model": MODEL, "prompt": "Hi"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON answer");
    assert_eq!(v["object"], "text_completion");

    // Errors, each OpenAI-shaped with a meaningful status.
    let url = format!("{base}/v1/chat/completions");
    let (s, b) = post(
        &http,
        &url,
        &json!({"model": "no-such-model", "messages": []}),
    )
    .await;
    assert_openai_error(s, &b, &[404], "unknown model");
    let (s, b) = post(
        &http,
        &url,
        &json!({"model": MODEL, "messages": [], "max_coefficient": 10}),
    )
    .await;
    assert_openai_error(s, &b, &[503, 429], "coefficient too high");
    let (s, b) = post(
        &http,
        &url,
        &json!({"model": MODEL, "messages": [], "tools": []}),
    )
    .await;
    assert_openai_error(s, &b, &[400], "forbidden field");
    // An unknown member is refused by the client itself, with the worker's rule and error;
    // the proxy sees nothing of it.
    let proxy_stats = net.node("proxy").stats.clone().expect("proxy stats");
    let proxy_counts = |v: Value| {
        (
            v["stats"]["queries"].clone(),
            v["stats"]["rejected"].clone(),
        )
    };
    let before = proxy_counts(json_stats(&http, &proxy_stats).await);
    let (s, b) = post(
        &http,
        &url,
        &json!({"model": MODEL, "messages": [{"role": "user", "content": "Hi", "nmae": "x"}]}),
    )
    .await;
    assert_openai_error(s, &b, &[400], "unknown field");
    let v: Value = serde_json::from_str(&b).expect("error JSON");
    assert_eq!(v["error"]["code"], "unknown_parameter", "{b}");
    assert_eq!(v["error"]["param"], "messages[0].nmae", "{b}");
    assert_eq!(
        proxy_counts(json_stats(&http, &proxy_stats).await),
        before,
        "the request reached the proxy"
    );
    let (s, b) = post(&http, &url, &json!({"messages": []})).await;
    assert_openai_error(s, &b, &[400], "missing model");
    let resp = http
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"model\": ")
        .send()
        .await
        .unwrap();
    let (s, b) = (resp.status().as_u16(), resp.text().await.unwrap());
    assert_openai_error(s, &b, &[400], "malformed JSON");
    let huge =
        json!({"model": MODEL, "messages": [{"role": "user", "content": "x".repeat(2 << 20)}]});
    let (s, b) = post(&http, &url, &huge).await;
    assert_openai_error(s, &b, &[413], "oversized body");
    let resp = http
        .get(format!("{base}/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    let (s, b) = (resp.status().as_u16(), resp.text().await.unwrap());
    assert_openai_error(s, &b, &[404], "unknown URL");

    // CORS preflight.
    let resp = http
        .request(reqwest::Method::OPTIONS, &url)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");

    // And a valid request still works after all that.
    let (status, body) = post(&http, &url, &chat(false)).await;
    assert_eq!(status, 200, "{body}");
}

/// Sum of a numeric field over the `payments` entries (one per proxy) of a node's
/// `/jsonstats`.
fn payment_field_sum(stats: &Value, field: &str) -> u64 {
    stats["payments"]
        .as_object()
        .map(|m| m.values().filter_map(|p| p[field].as_u64()).sum())
        .unwrap_or(0)
}
