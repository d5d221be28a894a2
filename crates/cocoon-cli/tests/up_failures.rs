//! `cocoon up` under failure: a worker killed mid-stream, a caller that goes
//! away mid-stream (cancelled at the worker and the engine), and a worker over
//! capacity — with real processes.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, json_stats, UpNetwork};
use futures::StreamExt;
use serde_json::{json, Value};

const MODEL: &str = "Qwen/Qwen3-8B";

fn slow_chat() -> Value {
    json!({"model": MODEL, "stream": true, "messages": [{"role": "user", "content": "Hello!"}]})
}

/// The worker (name, pid, stats) currently serving a request.
async fn busy_worker(http: &reqwest::Client, net: &UpNetwork) -> Option<common::NodeInfo> {
    for w in net.workers() {
        let s = json_stats(http, w.stats.as_deref()?).await;
        if s["stats"]["active_requests"].as_u64() == Some(1) {
            return Some(w);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_mid_stream_ends_the_stream_quickly() {
    // 60 chunks, 100 ms apart: the answer would take 6 s.
    let net = UpNetwork::start(&[
        "--workers",
        "2",
        "--fake-chunks",
        "60",
        "--fake-delay-ms",
        "100",
    ]);
    let http = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", net.client_url);
    let resp = http.post(&url).json(&slow_chat()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let first = body
        .next()
        .await
        .expect("first chunk")
        .expect("first chunk ok");
    assert!(!first.is_empty());

    let deadline = Instant::now() + Duration::from_secs(5);
    let victim = loop {
        if let Some(w) = busy_worker(&http, &net).await {
            break w;
        }
        assert!(Instant::now() < deadline, "no worker became busy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // SAFETY: SIGKILL to a process started by our `cocoon up`.
    unsafe {
        libc::kill(victim.pid as i32, libc::SIGKILL);
    }
    let killed_at = Instant::now();
    let mut rest = Vec::new();
    while let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_secs(5), body.next()).await {
        match chunk {
            Ok(c) => rest.extend_from_slice(&c),
            Err(_) => break,
        }
    }
    let took = killed_at.elapsed();
    let text = String::from_utf8_lossy(&rest);
    assert!(
        took <= Duration::from_secs(2),
        "stream took {took:?} to end after the worker died"
    );
    assert!(
        text.contains("\"error\""),
        "the stream should end with an error event, got tail: {}",
        &text[text.len().saturating_sub(300)..]
    );
    assert!(
        !text.contains("[DONE]"),
        "a broken stream must not look complete"
    );

    // The other worker serves the next request.
    let resp = http
        .post(&url)
        .json(&json!({"model": MODEL, "messages": [], "stream": false}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_going_away_cancels_the_request_at_the_worker_and_engine() {
    // 30 chunks, 100 ms apart: left alone, the answer would take 3 s.
    let net = UpNetwork::start(&[
        "--workers",
        "1",
        "--fake-chunks",
        "30",
        "--fake-delay-ms",
        "100",
    ]);
    // The caller has its own HTTP client, so that going away closes its connection.
    let caller = reqwest::Client::new();
    let http = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", net.client_url);
    let resp = caller.post(&url).json(&slow_chat()).send().await.unwrap();
    let mut body = resp.bytes_stream();
    body.next()
        .await
        .expect("first chunk")
        .expect("first chunk ok");
    let engine = net
        .engine_url
        .clone()
        .expect("cocoon up started the fake engine")
        .trim_start_matches("http://")
        .to_string();
    let engine_stats = || {
        let (http, engine) = (&http, &engine);
        async move {
            http.get(format!("http://{engine}/fake/stats"))
                .send()
                .await
                .expect("fake stats")
                .json::<Value>()
                .await
                .expect("fake stats json")
        }
    };
    assert_eq!(engine_stats().await["answers_aborted"], 0);
    // The caller goes away mid-stream (its HTTP connection closes).
    drop(body);
    drop(caller);

    // Client → proxy → worker, each with `cocoonrs.cancelRequest`
    // (docs/protocol-extensions.md): the client forgets the request...
    let client = net.node("client").stats.clone().expect("client stats");
    eventually(
        Duration::from_secs(10),
        "client drops the abandoned request",
        || {
            let (http, client) = (&http, &client);
            async move {
                let s = json_stats(http, client).await;
                s["proxy_connections"][0]["pending_requests"].as_u64() == Some(0)
                    && s["stats"]["requests_cancelled"].as_u64() == Some(1)
            }
        },
    )
    .await;
    // ...the proxy relays the cancel to the worker...
    let proxy = net.node("proxy").stats.clone().expect("proxy stats");
    eventually(
        Duration::from_secs(10),
        "proxy cancels at the worker",
        || {
            let (http, proxy) = (&http, &proxy);
            async move {
                let s = json_stats(http, proxy).await;
                s["stats"]["requests_cancelled"].as_u64() == Some(1)
                    && s["stats"]["worker_cancels_sent"].as_u64() == Some(1)
            }
        },
    )
    .await;
    // ...the worker cancels its engine call (left alone it would count a
    // success, never a cancel)...
    let worker = net.node("worker1").stats.clone().expect("worker stats");
    eventually(
        Duration::from_secs(10),
        "worker counts the cancel and is idle",
        || {
            let (http, worker) = (&http, &worker);
            async move {
                let s = json_stats(http, worker).await;
                s["stats"]["requests_cancelled"].as_u64() == Some(1)
                    && s["stats"]["active_requests"].as_u64() == Some(0)
            }
        },
    )
    .await;
    // ...and the engine saw its client go away mid-answer.
    eventually(
        Duration::from_secs(10),
        "engine answer aborted by its client",
        || {
            let stats = engine_stats();
            async move { stats.await["answers_aborted"].as_u64() == Some(1) }
        },
    )
    .await;
    let worker_stats = json_stats(&http, &worker).await;
    assert_eq!(worker_stats["stats"]["success"], 0, "{worker_stats}");

    // The network serves the next request.
    let resp = http
        .post(&url)
        .json(&json!({"model": MODEL, "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_capacity_is_a_clear_error() {
    let net = UpNetwork::start(&[
        "--workers",
        "1",
        "--max-active-requests",
        "1",
        "--fake-chunks",
        "30",
        "--fake-delay-ms",
        "100",
    ]);
    let http = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", net.client_url);
    let busy = http.post(&url).json(&slow_chat()).send().await.unwrap();
    let mut busy_body = busy.bytes_stream();
    busy_body
        .next()
        .await
        .expect("first chunk")
        .expect("first chunk ok");

    let resp = http
        .post(&url)
        .json(&json!({"model": MODEL, "messages": []}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("JSON error");
    assert!(status == 429 || status == 503, "status {status}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );

    // Once the first request is done, the next one works.
    while let Some(Ok(_)) = busy_body.next().await {}
    let resp = http
        .post(&url)
        .json(&json!({"model": MODEL, "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
