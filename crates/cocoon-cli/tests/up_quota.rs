//! Money limits answer like OpenAI (issue 14, item 8): a request whose
//! `max_tokens` needs more than the client contract holds gets `429`
//! `insufficient_quota` naming the balance and what it would reserve, streamed
//! or not, instead of `502 upstream_error`; a request that fits still works.

mod common;

use common::UpNetwork;
use serde_json::{json, Value};

const MODEL: &str = "Qwen/Qwen3-8B";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_tokens_beyond_the_balance_is_429_insufficient_quota() {
    let net = UpNetwork::start(&["--workers", "1", "--fake-chunks", "2"]);
    let http = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", net.client_url);
    for stream in [false, true] {
        let body = json!({"model": MODEL, "max_tokens": 2_000_000_000u32, "stream": stream,
            "messages": [{"role": "user", "content": "Hi"}]});
        let resp = http.post(&url).json(&body).send().await.expect("answer");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        assert_eq!(status, 429, "stream={stream}: {text}");
        let v: Value = serde_json::from_str(&text).expect("json error");
        let e = &v["error"];
        assert_eq!(e["type"], "insufficient_quota", "{text}");
        assert_eq!(e["code"], "insufficient_quota", "{text}");
        assert_eq!(e["param"], "max_tokens", "{text}");
        let message = e["message"].as_str().unwrap_or_default();
        assert!(message.contains("would reserve"), "{message}");
        assert!(message.contains("tokens are available"), "{message}");
    }
    let fits =
        json!({"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]});
    let resp = http.post(&url).json(&fits).send().await.expect("answer");
    let status = resp.status();
    assert_eq!(status, 200, "{}", resp.text().await.unwrap_or_default());
}
