//! A hung proxy is noticed by its client within the silence limit (issue 14): the
//! proxy process of a `cocoon up` network is stopped with SIGSTOP (it keeps its
//! sockets, so only the silence tells), a request in flight fails with an
//! OpenAI-style error naming the silent proxy instead of hanging, a new request
//! fails with 503 after waiting at most the limit, and once the proxy gets SIGCONT
//! requests are served again. Real processes on loopback, every wait bounded.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, json_stats, UpNetwork};
use serde_json::{json, Value};

const MODEL: &str = "Qwen/Qwen3-8B";
/// `--proxy-silence-limit` of the client and worker in this test.
const SILENCE_LIMIT_S: u64 = 2;
/// What noticing may take on a loaded 2-core machine: the limit plus generous slack,
/// still well under the 20 s the reference's dialer idle timer would take.
const NOTICE_BOUND: Duration = Duration::from_secs(SILENCE_LIMIT_S + 6);

/// Sends SIGCONT to the stopped proxy when dropped, so a failing test does not leave
/// a stopped process behind (`cocoon up` can only stop running nodes).
struct ContinueOnDrop(i32);

impl Drop for ContinueOnDrop {
    fn drop(&mut self) {
        // SAFETY: SIGCONT to the proxy our `cocoon up` started.
        unsafe {
            libc::kill(self.0, libc::SIGCONT);
        }
    }
}

/// POSTs a chat completion; the status and the JSON body (`Null` if there is none).
async fn chat(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]});
    match http.post(url).json(&body).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(e) => panic!("the client did not answer: {e}"),
    }
}

/// Whether a slot's error says its proxy hangs: the link went silent, or (once the redial
/// to the still stopped proxy gave up) no proof-of-work challenge came.
fn names_a_hung_proxy(error: &str) -> bool {
    error.contains("went silent") || error.contains("no proof-of-work challenge")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_proxy_is_noticed_within_the_silence_limit_and_served_after_sigcont() {
    let limit = SILENCE_LIMIT_S.to_string();
    let net = UpNetwork::start(&[
        "--workers",
        "1",
        "--no-payments",
        "--proxy-silence-limit",
        &limit,
    ]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client");
    let url = format!("{}/v1/chat/completions", net.client_url);
    let client_stats = net.node("client").stats.clone().expect("client stats");
    assert_eq!(chat(&http, &url).await.0, 200, "served before the stop");

    let proxy = net.node("proxy").pid as i32;
    // SAFETY: SIGSTOP to the proxy our `cocoon up` started; the guard continues it.
    unsafe {
        libc::kill(proxy, libc::SIGSTOP);
    }
    let _continue = ContinueOnDrop(proxy);

    // A request sent to the stopped proxy fails once the link is found silent.
    let stopped = Instant::now();
    let (status, body) = chat(&http, &url).await;
    let noticed = stopped.elapsed();
    eprintln!("in-flight request failed after {noticed:?}: {status} {body}");
    assert_eq!(status, 502, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("went silent"), "{body}");
    assert!(
        noticed < NOTICE_BOUND,
        "noticed after {noticed:?}, bound {NOTICE_BOUND:?}"
    );
    eventually(
        Duration::from_secs(5),
        "the client's stats show the proxy slot down for silence",
        || async {
            let stats = json_stats(&http, &client_stats).await;
            let slot = &stats["proxy_connections"][0];
            slot["is_ready"] == false && slot["last_error"].as_str().is_some_and(names_a_hung_proxy)
        },
    )
    .await;

    // While it stays stopped, a new request waits at most the limit, then fails clearly.
    let asked = Instant::now();
    let (status, body) = chat(&http, &url).await;
    let waited = asked.elapsed();
    eprintln!("new request failed after {waited:?}: {status} {body}");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "no_proxy", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(names_a_hung_proxy),
        "{body}"
    );
    assert!(waited < NOTICE_BOUND, "waited {waited:?}");

    // SIGCONT: the client and the worker dial again and requests are served.
    // SAFETY: as above.
    unsafe {
        libc::kill(proxy, libc::SIGCONT);
    }
    let resumed = Instant::now();
    eventually(
        Duration::from_secs(40),
        "a request succeeds after SIGCONT",
        || async { chat(&http, &url).await.0 == 200 },
    )
    .await;
    eprintln!("served again {:?} after SIGCONT", resumed.elapsed());
}
