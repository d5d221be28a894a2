//! An end-to-end encrypted chat through the library and the whole cocoon-rs stack: the app
//! (this library) → our proxy (keys from a SCRIPTED key manager, simulated TEE) → our real
//! worker → the FAKE engine, and back. The library encrypts to the key the root lists and
//! opens every answer line; the streamed and the whole answer read as the engine wrote them.

mod support;

use std::time::Duration;

use cocoon_client::{ChatRequest, Encryption};
use cocoon_e2e::Seed;
use cocoon_node::proxy::ProxySettings;
use futures::StreamExt;
use support::proxy_common::scripted_km::{fixed_km, km_key, now, ScriptedKeyManager};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_streamed_chat_crosses_the_network_and_opens_for_the_app() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let km_seed = Seed::from_bytes(rand::random());
    let km = ScriptedKeyManager::start(vec![km_key(&km_seed, now() + 3600)]).await;
    let proxy = start_proxy_with(ProxySettings {
        key_manager: Some(fixed_km(km.target([0; 32]))),
        ..settings()
    })
    .await;
    wait_until("the proxy has the key", || proxy.current().keys.len() == 1).await;
    let _worker = real_worker(&proxy, 3, Duration::ZERO).await;
    let cocoon = builder(root_for(&proxy, vec![live_key(km_seed.public_key().0)]))
        .encryption(Encryption::Required)
        .connect()
        .await
        .expect("connects");
    assert_eq!(
        cocoon.encryption_key().expect("a key"),
        Some(km_seed.public_key())
    );
    // The fake engine answers 3 chunks of 8 zeros.
    let zeros = "0".repeat(24);

    let mut stream = cocoon
        .chat(ChatRequest::new(MODEL).user("a secret prompt"))
        .await
        .expect("starts");
    assert!(stream.is_encrypted());
    let mut text = String::new();
    while let Some(chunk) = within("chunk", stream.next()).await {
        let chunk = chunk.expect("an opened chunk");
        assert!(
            !chunk.extra.contains_key("is_encrypted"),
            "envelope removed"
        );
        text.push_str(&chunk.text());
    }
    assert_eq!(text, zeros);
    assert!(stream.tokens_billed().is_some_and(|b| b.total > 0));

    let whole = cocoon
        .chat_once(ChatRequest::new(MODEL).user("another secret"))
        .await
        .expect("whole answer");
    assert!(whole.encrypted);
    assert_eq!(whole.completion.text(), zeros);
    assert!(whole.tokens_billed.is_some_and(|b| b.total > 0));
}
