//! `cocoon up` supervises its nodes (issue 14, item 7): a proxy killed under
//! it is restarted with backoff, the other nodes keep running, and requests
//! succeed again within a bound. Loopback only, every wait bounded.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, UpNetwork};
use serde_json::json;

const MODEL: &str = "Qwen/Qwen3-8B";

/// Whether process `pid` still exists.
fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_proxy_is_restarted_and_requests_succeed_again() {
    let mut net = UpNetwork::start(&["--workers", "1", "--no-payments"]);
    let http = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", net.client_url);
    let chat =
        json!({"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "stream": false});
    let ask = || async {
        match http.post(&url).json(&chat).send().await {
            Ok(r) => r.status() == 200,
            Err(_) => false,
        }
    };
    assert!(ask().await, "served before the kill");

    let proxy = net.node("proxy").pid;
    // SAFETY: SIGKILL to the proxy our `cocoon up` started.
    unsafe {
        libc::kill(proxy as i32, libc::SIGKILL);
    }
    let killed = Instant::now();
    let exited = net.wait_line("cocoon up: proxy exited", Duration::from_secs(10));
    assert!(
        exited.contains("SIGKILL") || exited.contains("signal: 9"),
        "{exited}"
    );
    assert!(exited.contains("next try in 1 s"), "{exited}");
    let restarted = net.wait_line("cocoon up: proxy restarted", Duration::from_secs(10));
    let new_proxy: u32 = restarted
        .rsplit_once("[pid ")
        .and_then(|(_, p)| p.trim_end_matches(']').parse().ok())
        .unwrap_or_else(|| panic!("no pid in {restarted:?}"));

    eventually(
        Duration::from_secs(60),
        "a request succeeds after the restart",
        ask,
    )
    .await;
    let back = killed.elapsed();
    eprintln!("served again {back:?} after the proxy was killed");
    assert!(back < Duration::from_secs(60));
    let others: Vec<u32> = net
        .nodes
        .iter()
        .filter(|n| n.name != "proxy")
        .map(|n| n.pid)
        .collect();
    assert!(
        others.len() >= 3,
        "engine, worker and client: {:?}",
        net.nodes
    );
    for pid in &others {
        assert!(alive(*pid), "node {pid} kept running");
    }

    // Ctrl-C still stops everything, the restarted proxy included.
    let stopped = net
        .interrupt(Duration::from_secs(10))
        .expect("up stops on SIGINT");
    eprintln!("cocoon up stopped {stopped:?} after SIGINT");
    for pid in others.iter().chain([&new_proxy]) {
        // The nodes are up's children: once up has reaped them they are gone.
        assert!(!alive(*pid), "node {pid} still running after Ctrl-C");
    }
}
