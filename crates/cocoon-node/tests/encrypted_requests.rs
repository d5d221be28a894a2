//! An end-to-end encrypted request through the whole cocoon-rs stack (delta-2026-04 §2.5):
//! HTTP caller (cocoon-e2e's encryptor) → our client runner → our proxy (keys from a
//! SCRIPTED key manager, fake TEE) → our worker → the FAKE engine, and the answer back. The
//! caller decrypts the answer lines; the client runner's own log (debug and trace) never
//! holds the clear prompt or answer, and its HTTP answer carries only ciphertext.

mod proxy_common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use cocoon_e2e::json::encrypt_request_body;
use cocoon_e2e::stream::decrypt_answer_line;
use cocoon_e2e::Seed;
use cocoon_node::client::{ClientMoneyPolicy, ClientSettings};
use cocoon_node::common::dial::{DialConfig, TeeMode};
use cocoon_node::fake_engine::{serve_fake_engine, FakeEngineOptions};
use cocoon_node::proxy::{ProxyHandle, ProxySettings};
use cocoon_node::worker::{PayoutPolicy, WorkerSettings};
use proxy_common::scripted_km::*;
use proxy_common::*;

/// The word the caller's prompt holds; it must never show in the client runner's log.
const SECRET_WORD: &str = "ZEBRAPLAINTEXT";

/// Every log line of the client runner's modules (`cocoon_node::client`, trace level).
#[derive(Clone, Default)]
struct ClientLog(Arc<Mutex<Vec<u8>>>);

impl Write for ClientLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log sink").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl ClientLog {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log sink")).into_owned()
    }
}

/// The process-wide capture (the nodes run on the runtime's worker threads).
fn client_log() -> ClientLog {
    static LOG: OnceLock<ClientLog> = OnceLock::new();
    LOG.get_or_init(|| {
        let sink = ClientLog::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "cocoon_node::client=trace",
            ))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        sink
    })
    .clone()
}

fn devnet_context() -> cocoon_ledger::ledger::ContractContext {
    cocoon_ledger::ledger::ContractContext::devnet(
        cocoon_ledger::root_config::RootConfig::devnet_default().params,
    )
    .expect("devnet context")
}

/// Starts the fake engine, our worker on `proxy` and our client runner; returns the client
/// runner's HTTP base URL.
async fn start_nodes(proxy: &ProxyHandle) -> String {
    let engine = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let engine_addr = engine.local_addr().unwrap().to_string();
    tokio::spawn(serve_fake_engine(
        engine,
        FakeEngineOptions {
            model: MODEL.into(),
            chunks: 3,
            chunk_bytes: 40,
            ..FakeEngineOptions::default()
        },
    ));
    let worker = WorkerSettings {
        owner_address: OWNER.into(),
        model_name: MODEL.into(),
        coefficient: 1000,
        max_active_requests: 8,
        forward_requests_to: engine_addr,
        proxy_addresses: vec![proxy.workers_addr.expect("workers port").to_string()],
        proxy_connections: 1,
        is_test: true,
        multipliers: Default::default(),
        ledger: None,
        payout: PayoutPolicy::devnet(),
        contracts: devnet_context(),
        min_proto_version: cocoon_node::worker::WORKER_MIN_PROTO,
        machine_description_json: "{}".into(),
        model_change: Default::default(),
    };
    let dial = || DialConfig::new(TeeMode::Fake, "fake", None).expect("dial config");
    tokio::spawn(cocoon_node::worker::run_worker(
        worker,
        dial(),
        Default::default(),
    ));
    wait_until("our worker is ready", || ready_workers(proxy, MODEL) == 1).await;
    let client = ClientSettings {
        owner_address: OWNER.into(),
        secret_string: String::new(),
        is_test: true,
        proxy_addresses: vec![proxy.clients_addr.expect("clients port").to_string()],
        proxy_connections: 1,
        config_version: CONFIG_VERSION,
        ledger: None,
        money: ClientMoneyPolicy::default(),
        proxy_wait: std::time::Duration::from_secs(6),
        contracts: devnet_context(),
    };
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", http.local_addr().unwrap());
    tokio::spawn(cocoon_node::client::run_client(
        client,
        dial(),
        http,
        Default::default(),
    ));
    base
}

/// POSTs `body`; with `until_ready`, again while the client runner has no proxy yet
/// (503/502). Returns (status, body).
async fn post(base: &str, body: String, until_ready: bool) -> (u16, Vec<u8>) {
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let response = http
            .post(format!("{base}/v1/chat/completions"))
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("the client runner answers");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("body").to_vec();
        if !until_ready || (status != 503 && status != 502) {
            return (status, body);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never ready: {status} {}",
            String::from_utf8_lossy(&body)
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn request_body(stream: bool) -> Vec<u8> {
    serde_json::json!({
        "model": MODEL,
        "stream": stream,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": format!("the secret word is {SECRET_WORD}")}],
    })
    .to_string()
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_request_crosses_the_stack_and_only_the_caller_reads_it() {
    let log = client_log();
    let km_seed = Seed::from_bytes(rand::random());
    let km_public = km_seed.public_key();
    let km = ScriptedKeyManager::start(vec![km_key(&km_seed, now() + 3600)]).await;
    let proxy = start_proxy_with(ProxySettings {
        key_manager: Some(fixed_km(km.target([0; 32]))),
        ..settings()
    })
    .await;
    wait_until("the proxy has the key", || proxy.current().keys.len() == 1).await;
    let base = start_nodes(&proxy).await;
    let caller = Seed::from_bytes(rand::random());

    // A whole answer: one encrypted object per line, each from the key manager's key.
    let body = encrypt_request_body(&request_body(false), &caller, &km_public).expect("encrypt");
    assert!(!body.contains(SECRET_WORD));
    let (status, answer) = post(&base, body, true).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    assert_eq!(status, 200, "{text}");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "an answer");
    let mut content = String::new();
    for line in &lines {
        let clear = decrypt_answer_line(line.as_bytes(), &caller, &km_public)
            .unwrap_or_else(|e| panic!("line decrypts: {e}: {line}"));
        if let Some(c) = clear["choices"][0]["message"]["content"].as_str() {
            content.push_str(c);
        }
    }
    // The fake engine answers 3 chunks of 40 zeros; the caller reads them, the wire did not.
    let zeros = "0".repeat(120);
    assert_eq!(content, zeros);
    assert!(
        !text.contains(&"0".repeat(40)),
        "clear content in the HTTP answer: {text}"
    );

    // A streamed answer (SSE): every data payload decrypts for the caller.
    let body = encrypt_request_body(&request_body(true), &caller, &km_public).expect("encrypt");
    let (status, answer) = post(&base, body, false).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    assert_eq!(status, 200, "{text}");
    let mut streamed = String::new();
    for payload in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if payload == "[DONE]" {
            continue;
        }
        let clear = decrypt_answer_line(payload.as_bytes(), &caller, &km_public)
            .unwrap_or_else(|e| panic!("event decrypts: {e}: {payload}"));
        if let Some(c) = clear["choices"][0]["delta"]["content"].as_str() {
            streamed.push_str(c);
        }
    }
    assert_eq!(streamed, zeros);
    assert!(
        !text.contains(&"0".repeat(40)),
        "clear content in the stream: {text}"
    );

    // A key the key manager never gave: the reference's error, in clear, from the proxy.
    let stranger = Seed::from_bytes(rand::random()).public_key();
    let body = encrypt_request_body(&request_body(false), &caller, &stranger).expect("encrypt");
    let (status, answer) = post(&base, body, false).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    // As the reference client (delta-2026-04.md §4.10): 500, with the proxy's code 602.
    assert_eq!(status, 500, "{text}");
    let refusal: serde_json::Value = serde_json::from_str(&text).expect("a JSON error");
    assert_eq!(refusal["error_code"], 602, "{text}");
    assert!(
        text.contains(&format!(
            "unknown public key {}",
            hex::encode_upper(stranger.0)
        )),
        "{text}"
    );

    // The client runner logged the requests (its modules at trace level) but never a clear
    // word of the prompt or of the answer.
    let logged = log.text();
    assert_eq!(
        logged.matches("request sent to proxy").count(),
        3,
        "the capture sees the client's requests: {logged}"
    );
    assert!(
        !logged.contains(SECRET_WORD),
        "clear prompt in the client log"
    );
    assert!(
        !logged.contains(&"0".repeat(40)),
        "clear answer in the client log"
    );
}
