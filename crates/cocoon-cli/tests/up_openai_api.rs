//! `cocoon up` end to end with real processes on loopback: the OpenAI API
//! (models, streamed and non-streamed chat, completions, audio transcriptions as
//! multipart forms), token metering for SSE and JSON answers, and OpenAI-shaped
//! errors followed by a working request.

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

    transcriptions(&http, &net).await;

    // And a valid request still works after all that.
    let (status, body) = post(&http, &url, &chat(false)).await;
    assert_eq!(status, 200, "{body}");
}

const BOUNDARY: &str = "cocoon-test-boundary-7";

/// A `multipart/form-data` body: the text `fields`, then `file` as `speech.wav` if given.
fn form(fields: &[(&str, &str)], file: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        let part = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        );
        out.extend_from_slice(part.as_bytes());
    }
    if let Some(data) = file {
        out.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; \
                 filename=\"speech.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

/// `seconds` of 16 kHz mono 16-bit silence as a WAV file.
fn wav(seconds: u32) -> Vec<u8> {
    let data_len = 32_000 * seconds;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&16_000u32.to_le_bytes());
    out.extend_from_slice(&32_000u32.to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.resize(44 + data_len as usize, 0);
    out
}

async fn post_form(http: &reqwest::Client, url: &str, body: Vec<u8>) -> (u16, String, String) {
    let resp = http
        .post(url)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ctype, resp.text().await.expect("body"))
}

/// `/v1/audio/transcriptions` through client → proxy → worker → fake engine: a 66 s WAV
/// (2 MiB, over the JSON limit of 1 MiB) is transcribed (simulated, from its name and size),
/// nothing is billed (no token usage, as the reference), and forms are refused as the
/// worker would refuse them.
async fn transcriptions(http: &reqwest::Client, net: &UpNetwork) {
    let url = format!("{}/v1/audio/transcriptions", net.client_url);
    let audio = wav(66);
    let before = workers_tokens(http, net).await;
    let (s, _, b) = post_form(http, &url, form(&[("model", MODEL)], Some(&audio))).await;
    assert_eq!(s, 200, "{b}");
    let v: Value = serde_json::from_str(&b).expect("JSON answer");
    assert_eq!(
        v["text"],
        format!(
            "simulated transcription of speech.wav ({} bytes)",
            audio.len()
        ),
        "{b}"
    );
    assert_eq!(
        v["usage"],
        json!({"type": "duration", "seconds": 66}),
        "{b}"
    );
    assert_eq!(
        workers_tokens(http, net).await,
        before,
        "transcriptions bill no tokens"
    );

    let fields = [
        ("model", MODEL),
        ("response_format", "text"),
        ("language", "en"),
    ];
    let (s, ctype, b) = post_form(http, &url, form(&fields, Some(b"tiny"))).await;
    assert_eq!(s, 200, "{b}");
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    assert_eq!(b, "simulated transcription of speech.wav (4 bytes)");

    // Streamed: OpenAI's transcript events, passed through as they come.
    let fields = [("model", MODEL), ("stream", "true")];
    let (s, ctype, b) = post_form(http, &url, form(&fields, Some(b"tiny"))).await;
    assert_eq!(s, 200, "{b}");
    assert!(ctype.starts_with("text/event-stream"), "{ctype}");
    assert!(b.trim_end().ends_with("data: [DONE]"), "{b}");
    let events: Vec<Value> = b
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    let deltas: String = events
        .iter()
        .filter(|e| e["type"] == "transcript.text.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    assert_eq!(
        deltas, "simulated transcription of speech.wav (4 bytes)",
        "{b}"
    );
    assert!(
        events.iter().any(|e| e["type"] == "transcript.text.done"),
        "{b}"
    );

    let (s, _, b) = post_form(http, &url, form(&[("model", MODEL)], None)).await;
    assert_openai_error(s, &b, &[400], "form without a file");
    assert!(b.contains("'file'"), "{b}");
    let fields = [("model", MODEL), ("colour", "red")];
    let (s, _, b) = post_form(http, &url, form(&fields, Some(b"x"))).await;
    assert_openai_error(s, &b, &[400], "form with an unknown field");
    let (s, _, b) = post_form(http, &url, form(&[("model", "no-such-model")], Some(b"x"))).await;
    assert_openai_error(s, &b, &[404], "form for an unknown model");
    let huge = vec![0u8; cocoon_node::validate::form::MAX_FORM_BODY_BYTES + 1024];
    let (s, _, b) = post_form(http, &url, form(&[("model", MODEL)], Some(&huge))).await;
    assert_openai_error(s, &b, &[413], "oversized form");
}

/// Sum of a numeric field over the `payments` entries (one per proxy) of a node's
/// `/jsonstats`.
fn payment_field_sum(stats: &Value, field: &str) -> u64 {
    stats["payments"]
        .as_object()
        .map(|m| m.values().filter_map(|p| p[field].as_u64()).sum())
        .unwrap_or(0)
}
