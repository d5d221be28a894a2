//! The proxy's key-manager client and encrypted routing (delta-2026-04 §2.5 step 3, §3.6)
//! over real loopback links (fake TEE): a SCRIPTED key manager hands out seeds, fake
//! clients name their public keys, fake workers report what they were sent.

mod proxy_common;

use std::sync::{Arc, Mutex};

use cocoon_e2e::Seed;
use cocoon_node::common::km_client::{KeyManagerSource, KeyManagerTarget};
use cocoon_node::common::stats::StatsSource;
use cocoon_node::proxy::stats_view::ProxyStats;
use cocoon_node::proxy::{ProxyHandle, ProxySettings};
use proxy_common::scripted_km::*;
use proxy_common::*;
use tokio::sync::mpsc;

fn seed(byte: u8) -> Seed {
    Seed::from_bytes([byte; 32])
}

fn public(seed: &Seed) -> [u8; 32] {
    seed.public_key().0
}

async fn proxy_with_km(km: cocoon_node::common::km_client::KeyManagerSettings) -> ProxyHandle {
    start_proxy_with(ProxySettings {
        key_manager: Some(km),
        ..settings()
    })
    .await
}

fn known_keys(proxy: &ProxyHandle) -> usize {
    proxy.current().keys.len()
}

/// A scripted key manager serving `key` for an hour, and a proxy that has learnt it (keep the
/// key manager alive as long as the proxy).
async fn proxy_knowing(key: &Seed) -> (ScriptedKeyManager, ProxyHandle) {
    let km = ScriptedKeyManager::start(vec![km_key(key, now() + 3600)]).await;
    let proxy = proxy_with_km(fixed_km(km.target([0; 32]))).await;
    wait_until("the key arrives", || known_keys(&proxy) == 1).await;
    (km, proxy)
}

/// A worker speaking protocol 1–2 only (no `private_key` field at all).
fn v2_params(coefficient: i32) -> cocoon_wire::schema::types::worker::Params {
    let mut p = worker_params(MODEL, coefficient, 4);
    p.min_proto_version = Some(1);
    p.max_proto_version = Some(2);
    p
}

#[tokio::test]
async fn encrypted_requests_go_with_their_seed_to_v3_workers_only() {
    let key = seed(11);
    let (_km, proxy) = proxy_knowing(&key).await;

    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let workers_addr = proxy.workers_addr.expect("workers port");
    let answer = Behaviour::Answer { parts: 1 };
    // The v2 worker is the cheaper one: plain requests go there, encrypted ones cannot.
    let _old = spawn_worker_with_params(
        &proxy,
        workers_addr,
        v2_params(500),
        ("v2", answer),
        seen_tx.clone(),
    )
    .await;
    let _new = spawn_worker(&proxy, "v4", 1000, 4, answer, seen_tx).await;

    let mut client = connect_client(&proxy).await;
    for _ in 0..3 {
        let id = client
            .send_request_keyed(MODEL, (4000, 1000, 60.0), Some(public(&key)))
            .await;
        let out = client.outcome(id).await;
        assert_eq!(out.error, None);
        let got = seen.recv().await.expect("worker saw it");
        assert_eq!(
            got.worker, "v4",
            "an encrypted request never goes to a v2 worker"
        );
        assert_eq!(got.request.flags & 2, 2);
        assert_eq!(got.request.private_key, Some(*key.as_bytes()));
    }
    let id = client.send_request(MODEL, 4000, 60.0).await;
    assert_eq!(client.outcome(id).await.error, None);
    let got = seen.recv().await.expect("worker saw it");
    assert_eq!(
        got.worker, "v2",
        "a plain request takes the cheapest worker"
    );
    assert_eq!(got.request.private_key, None, "no key field below v3");
    assert_eq!(got.request.flags & 2, 0);

    // A zero key is a plain request: it goes to the cheapest worker, no seed.
    let id = client
        .send_request_keyed(MODEL, (4000, 1000, 60.0), Some([0; 32]))
        .await;
    assert_eq!(client.outcome(id).await.error, None);
    assert_eq!(seen.recv().await.expect("seen").worker, "v2");
}

#[tokio::test]
async fn an_encrypted_request_with_only_v2_workers_gets_the_no_worker_error() {
    let key = seed(12);
    let (_km, proxy) = proxy_knowing(&key).await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let workers_addr = proxy.workers_addr.expect("workers port");
    let answer = Behaviour::Answer { parts: 1 };
    let _old = spawn_worker_with_params(
        &proxy,
        workers_addr,
        v2_params(500),
        ("v2", answer),
        seen_tx,
    )
    .await;
    let mut client = connect_client(&proxy).await;
    let id = client
        .send_request_keyed(MODEL, (4000, 1000, 60.0), Some(public(&key)))
        .await;
    let out = client.outcome(id).await;
    assert_eq!(
        out.error,
        Some((651, format!("no ready workers for model {MODEL}")))
    );
    assert!(seen.try_recv().is_err(), "the v2 worker got nothing");
}

#[tokio::test]
async fn an_unknown_key_is_refused_at_once_with_the_references_error() {
    let (_km, proxy) = proxy_knowing(&seed(13)).await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let _w = spawn_worker(
        &proxy,
        "w",
        1000,
        4,
        Behaviour::Answer { parts: 1 },
        seen_tx,
    )
    .await;
    let mut client = connect_client(&proxy).await;
    let stranger = public(&seed(99));
    let id = client
        .send_request_keyed(MODEL, (4000, 1000, 60.0), Some(stranger))
        .await;
    let out = client.outcome(id).await;
    assert_eq!(
        out.error,
        Some((
            602,
            format!("unknown public key {}", hex::encode_upper(stranger))
        ))
    );
    assert!(seen.try_recv().is_err(), "no worker was asked");
}

#[tokio::test]
async fn without_a_key_manager_every_encrypted_request_is_unknown() {
    let proxy = start_proxy().await;
    let (seen_tx, _seen) = mpsc::unbounded_channel();
    let _w = spawn_worker(
        &proxy,
        "w",
        1000,
        4,
        Behaviour::Answer { parts: 1 },
        seen_tx,
    )
    .await;
    let mut client = connect_client(&proxy).await;
    let key = public(&seed(14));
    let id = client
        .send_request_keyed(MODEL, (4000, 1000, 60.0), Some(key))
        .await;
    let (code, message) = client.outcome(id).await.error.expect("refused");
    assert_eq!(code, 602);
    assert!(message.starts_with("unknown public key "), "{message}");
}

#[tokio::test]
async fn known_keys_outlive_the_key_manager_until_they_expire() {
    let lasting = seed(21);
    let short = seed(22);
    let km = ScriptedKeyManager::start(vec![
        km_key(&lasting, now() + 3600),
        km_key(&short, now() + 2),
    ])
    .await;
    let proxy = proxy_with_km(fixed_km(km.target([0; 32]))).await;
    wait_until("both keys arrive", || known_keys(&proxy) == 2).await;
    let answered = km.answered();
    km.stop();
    let shared = proxy.current();
    let failures = || {
        shared
            .keys
            .poll_failures
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    wait_until("polls fail without the key manager", || failures() >= 2).await;
    assert_eq!(km.answered(), answered);

    // The short key expires and is dropped; the lasting one still routes.
    wait_until("the short key is dropped", || known_keys(&proxy) == 1).await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let _w = spawn_worker(
        &proxy,
        "w",
        1000,
        4,
        Behaviour::Answer { parts: 1 },
        seen_tx,
    )
    .await;
    let mut client = connect_client(&proxy).await;
    let id = client
        .send_request_keyed(MODEL, (4000, 1000, 60.0), Some(public(&lasting)))
        .await;
    assert_eq!(client.outcome(id).await.error, None);
    assert_eq!(
        seen.recv().await.expect("seen").request.private_key,
        Some(*lasting.as_bytes())
    );
    let id = client
        .send_request_keyed(MODEL, (4000, 1000, 60.0), Some(public(&short)))
        .await;
    let (code, message) = client.outcome(id).await.error.expect("expired key refused");
    assert_eq!(
        (code, message),
        (
            602,
            format!("unknown public key {}", hex::encode_upper(public(&short)))
        )
    );
}

#[tokio::test]
async fn a_key_manager_with_the_wrong_image_hash_is_refused() {
    let key = seed(31);
    let km = ScriptedKeyManager::start(vec![km_key(&key, now() + 3600)]).await;
    let proxy = proxy_with_km(km_settings(
        Arc::new(cocoon_node::common::km_client::FixedKeyManager(Some(
            km.target([0xAB; 32]),
        ))),
        true,
    ))
    .await;
    let shared = proxy.current();
    wait_until("refused twice", || {
        shared
            .keys
            .poll_failures
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    })
    .await;
    let error = shared.keys.last_error().expect("an error kept");
    assert!(error.contains("wrong key manager image hash"), "{error}");
    assert_eq!(km.answered(), 0, "never asked for keys");
    assert_eq!(known_keys(&proxy), 0);

    // With the root naming its real image hash, the same key manager is used.
    let right = km.image_hash().await;
    let proxy = proxy_with_km(km_settings(
        Arc::new(cocoon_node::common::km_client::FixedKeyManager(Some(
            km.target(right),
        ))),
        true,
    ))
    .await;
    wait_until("the key arrives", || known_keys(&proxy) == 1).await;
}

#[tokio::test]
async fn a_new_key_manager_address_replaces_the_link_and_none_drops_it() {
    let first = ScriptedKeyManager::start(vec![km_key(&seed(41), now() + 3600)]).await;
    let second = ScriptedKeyManager::start(vec![km_key(&seed(42), now() + 3600)]).await;
    let root: Arc<Mutex<Option<KeyManagerTarget>>> =
        Arc::new(Mutex::new(Some(first.target([0; 32]))));
    let r = root.clone();
    let source: Arc<dyn KeyManagerSource> = Arc::new(move || Ok(*r.lock().unwrap()));
    let proxy = proxy_with_km(km_settings(source, false)).await;
    wait_until("the first key", || known_keys(&proxy) == 1).await;

    *root.lock().unwrap() = Some(second.target([0; 32]));
    wait_until("the second key", || known_keys(&proxy) == 2).await;
    let shared = proxy.current();
    assert_eq!(shared.keys.target(), Some(second.addr.to_string()));
    let asked_first = first.answered();

    *root.lock().unwrap() = None;
    wait_until("no key manager", || shared.keys.target().is_none()).await;
    let asked_second = second.answered();
    // Two more poll rounds: neither key manager is asked again; known keys stay.
    let polls = || {
        shared
            .keys
            .polls_ok
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let before = polls();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(polls(), before);
    assert_eq!(
        (first.answered(), second.answered()),
        (asked_first, asked_second)
    );
    assert_eq!(known_keys(&proxy), 2);
}

#[tokio::test]
async fn stats_list_public_keys_never_seeds() {
    let key = seed(51);
    let (km, proxy) = proxy_knowing(&key).await;
    let stats = ProxyStats::new(proxy.current());
    let json = stats.json_stats();
    let listed = &json["key_manager"]["known_keys"];
    assert_eq!(listed[0]["public_key"], hex::encode(public(&key)));
    assert!(listed[0]["expire_at"].as_i64().unwrap() > now());
    assert_eq!(
        json["key_manager"]["key_manager_address"],
        km.addr.to_string()
    );
    let text = json.to_string();
    assert!(!text.contains(&hex::encode(key.as_bytes())));
    assert!(!text.contains(&hex::encode_upper(key.as_bytes())));
    let metrics = stats.metrics();
    let keys = metrics
        .iter()
        .find(|m| m.name == "cocoon_proxy_km_keys")
        .expect("key count metric");
    assert_eq!(keys.value, 1.0);
    assert!(metrics
        .iter()
        .any(|m| m.name == "cocoon_proxy_km_poll_failures_total"));
    // The HTML page shows the same.
    let page = http_get(proxy.stats_addr.expect("stats port"), "/stats").await;
    assert!(page.contains(&hex::encode(public(&key))));
    assert!(!page.contains(&hex::encode(key.as_bytes())));
}
