//! A client whose proxy goes silent (issue 14): the link to it is dropped after the
//! silence limit, the request in flight ends with a 502 naming the silent proxy, and
//! the slot moves on to the spare proxy the root config registers, where requests are
//! served again. In-process proxies and fake workers on loopback, every wait bounded.

mod proxy_common;

use std::time::{Duration, Instant};

use cocoon_node::client::{run_client, ClientMoneyPolicy, ClientSettings};
use cocoon_node::common::dial::{DialConfig, TeeMode};
use proxy_common::*;
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// The client's `--proxy-silence-limit` here.
const SILENCE_LIMIT: Duration = Duration::from_millis(1500);

/// POSTs a chat completion to the client; the status and the JSON body.
async fn chat(http: &reqwest::Client, base: &str) -> (u16, Value) {
    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]});
    let resp = http
        .post(format!("{base}/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .expect("the client answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Asks until a request is served (at most [`WAIT`]); the last status.
async fn served_within(http: &reqwest::Client, base: &str) -> u16 {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, _) = chat(http, base).await;
        if status == 200 || Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_proxy_is_dropped_and_the_spare_serves() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (first, spare) = (start_proxy().await, start_proxy().await);
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let answer = Behaviour::Answer { parts: 2 };
    let _a = spawn_worker(&first, "first", 1000, 4, answer, seen_tx.clone()).await;
    let _b = spawn_worker(&spare, "spare", 1000, 4, answer, seen_tx).await;
    let (relay, freeze) = freezable_relay(first.clients_addr.expect("clients port")).await;

    let settings = ClientSettings {
        owner_address: OWNER.into(),
        secret_string: String::new(),
        is_test: true,
        proxy_addresses: vec![
            relay.to_string(),
            spare.clients_addr.expect("clients port").to_string(),
        ],
        // One slot: the second registered proxy is its spare.
        proxy_connections: 1,
        config_version: CONFIG_VERSION,
        ledger: None,
        money: ClientMoneyPolicy::default(),
        proxy_wait: SILENCE_LIMIT,
        contracts: cocoon_ledger::ledger::ContractContext::devnet(
            cocoon_ledger::root_config::RootConfig::devnet_default().params,
        )
        .expect("devnet context"),
    };
    let dial = DialConfig::new(TeeMode::Fake, "fake", None)
        .expect("dial config")
        .with_silence_limit(SILENCE_LIMIT);
    let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", http_listener.local_addr().expect("addr"));
    let client = tokio::spawn(run_client(
        settings,
        dial,
        http_listener,
        Default::default(),
    ));
    let http = reqwest::Client::new();
    let status = served_within(&http, &base).await;
    assert_eq!(status, 200, "served through the first proxy");
    let by = within("seen", seen.recv()).await.expect("seen").worker;
    assert_eq!(by, "first");

    // The first proxy goes silent (its relay stops moving bytes, as a stopped process).
    freeze.send(true).expect("freeze");
    let sent = Instant::now();
    let (status, body) = chat(&http, &base).await;
    let noticed = sent.elapsed();
    eprintln!("in-flight request ended after {noticed:?}: {status} {body}");
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("proxy {relay} went silent"))),
        "{body}"
    );
    assert!(
        noticed < SILENCE_LIMIT + Duration::from_secs(3),
        "noticed after {noticed:?}"
    );

    // The slot dials its spare; a request waits for it (at most the limit) and is served.
    let status = served_within(&http, &base).await;
    assert_eq!(status, 200, "served by the spare");
    eprintln!("served by the spare {:?} after the freeze", sent.elapsed());
    let by = within("seen", seen.recv()).await.expect("seen").worker;
    assert_eq!(by, "spare", "the frozen proxy got nothing more");
    client.abort();
}
