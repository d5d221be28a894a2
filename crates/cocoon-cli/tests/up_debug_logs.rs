//! `cocoon up` end to end with real processes: `enable_debug` answers (the
//! proxy's, worker's and client's records merged into non-stream and SSE
//! answers, `/request/debuglogentry` by `request_guid` on the client's stats port), `/v1/models` in
//! OpenAI's list shape, and `COCOON_LOG_FORMAT=json` logs whose request lines
//! carry the request id.

mod common;

use common::UpNetwork;
use serde_json::{json, Value};

const MODEL: &str = "Qwen/Qwen3-8B";

fn chat(stream: bool, guid: &str) -> Value {
    json!({"model": MODEL, "stream": stream, "enable_debug": true, "request_guid": guid,
        "messages": [{"role": "user", "content": "Hello!"}]})
}

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> (u16, String) {
    let resp = http.post(url).json(body).send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

/// Checks one debug record: the three parts, their types and ordered times.
fn assert_debug_record(d: &Value, what: &str) {
    for (part, kind) in [
        ("proxy", "proxy_stats"),
        ("worker", "worker_stats"),
        ("client", "client_stats"),
    ] {
        let p = &d[part];
        assert_eq!(p["type"], kind, "{what}: {d}");
        let start = p["start_time"].as_f64().expect("start_time");
        let first = p["answer_receive_start_at"].as_f64().expect("answer start");
        let end = p["answer_receive_end_at"].as_f64().expect("answer end");
        assert!(
            start > 1.0e9 && start <= first && first <= end,
            "{what}: {part} times out of order: {p}"
        );
    }
    let (c, w) = (&d["client"], &d["worker"]);
    assert!(
        c["start_time"].as_f64() <= w["start_time"].as_f64(),
        "{what}: client starts before the worker: {d}"
    );
}

/// `/request/debuglogentry` on the client's stats port `stats` (`host:port`).
async fn debug_log_entry(http: &reqwest::Client, stats: &str, guid: &str) -> (u16, String) {
    let resp = http
        .get(format!("http://{stats}/request/debuglogentry"))
        .query(&[("request_guid", guid)])
        .send()
        .await
        .expect("debuglogentry");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_answers_models_list_and_json_logs() {
    let net = UpNetwork::start_with_env(
        &["--workers", "1", "--fake-chunks", "4"],
        &[("COCOON_LOG_FORMAT", "json")],
    );
    let http = reqwest::Client::new();
    let base = &net.client_url;
    let url = format!("{base}/v1/chat/completions");
    let stats = net.node("client").stats.clone().expect("client stats port");
    let stats = stats.as_str();

    // /v1/models: an OpenAI list plus the reference's `workers` extension.
    let models: Value = http
        .get(format!("{base}/v1/models"))
        .send()
        .await
        .expect("models")
        .json()
        .await
        .expect("models JSON");
    assert_eq!(models["object"], "list", "{models}");
    let entry = models["data"]
        .as_array()
        .and_then(|d| d.iter().find(|m| m["id"] == MODEL))
        .unwrap_or_else(|| panic!("model not listed: {models}"));
    assert_eq!(entry["object"], "model", "{models}");
    assert!(entry["created"].is_u64(), "{models}");
    assert!(entry["owned_by"].is_string(), "{models}");
    let workers = entry["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 1, "{models}");
    for key in ["coefficient", "running_requests", "max_running_requests"] {
        assert!(workers[0][key].is_number(), "{key}: {models}");
    }

    // Non-stream: the answer JSON gets a "debug" key; the record is logged by guid.
    let (status, body) = post(&http, &url, &chat(false, "guid-json")).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON answer");
    assert_eq!(v["object"], "chat.completion", "{body}");
    assert_debug_record(&v["debug"], "non-stream");
    let (status, stored) = debug_log_entry(&http, stats, "guid-json").await;
    assert_eq!(status, 200, "{stored}");
    let stored: Value = serde_json::from_str(&stored).expect("stored record JSON");
    assert_eq!(stored, v["debug"], "stored record is the one in the answer");

    // Stream: one extra SSE event with an empty choices list, right before [DONE].
    let (status, body) = post(&http, &url, &chat(true, "guid-sse")).await;
    assert_eq!(status, 200, "{body}");
    let events: Vec<&str> = body
        .split("\n\n")
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    assert_eq!(events.last().copied(), Some("data: [DONE]"), "{body}");
    let debug_event = events
        .iter()
        .rev()
        .nth(1)
        .and_then(|e| e.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("no event before [DONE]: {body}"));
    let debug_event: Value = serde_json::from_str(debug_event).expect("debug event JSON");
    assert_eq!(debug_event["choices"], json!([]), "{debug_event}");
    assert_debug_record(&debug_event["debug"], "stream");
    let with_debug = events.iter().filter(|e| e.contains("\"debug\"")).count();
    assert_eq!(with_debug, 1, "exactly one debug event: {body}");
    let (status, stored) = debug_log_entry(&http, stats, "guid-sse").await;
    assert_eq!(status, 200, "{stored}");
    let stored: Value = serde_json::from_str(&stored).expect("stored record JSON");
    assert_eq!(stored, debug_event["debug"]);

    // Without enable_debug: no record in the answer; unknown guids are 404.
    let plain = json!({"model": MODEL, "request_guid": "guid-off",
        "messages": [{"role": "user", "content": "Hi"}]});
    let (status, body) = post(&http, &url, &plain).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON answer");
    assert!(v.get("debug").is_none(), "{body}");
    assert_eq!(debug_log_entry(&http, stats, "guid-off").await.0, 404);
    assert_eq!(debug_log_entry(&http, stats, "never-sent").await.0, 404);

    // JSON logs: the node logs (stdout progress lines and stderr logs) hold
    // no text-format log line, every log line is a JSON object, and each role
    // logged request lines carrying the request id.
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let logs: Vec<_> = std::fs::read_dir(net.dir())
        .expect("network dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    for path in &logs {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(path).expect("log readable");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if !line.starts_with('{') {
                // A progress line the node prints on stdout, never a text log line.
                let head: String = line.chars().take(60).collect();
                assert!(
                    !["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
                        .iter()
                        .any(|level| head.contains(level)),
                    "{name}.log: a text-format log line: {line}"
                );
                continue;
            }
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{name}.log: not a JSON line ({e}): {line}"));
            let id = v["fields"]["request"]
                .as_str()
                .or_else(|| v["span"]["request"].as_str());
            if id.is_some_and(|id| id.len() == 16) {
                *seen.entry(name.clone()).or_default() += 1;
            }
        }
    }
    for role in ["client", "proxy", "worker"] {
        assert!(
            seen.iter().any(|(n, c)| n.starts_with(role) && *c >= 3),
            "{role}: no request lines with a request id in the JSON logs: {seen:?} (logs {logs:?})"
        );
    }
}
