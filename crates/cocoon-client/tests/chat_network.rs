//! The library against an in-test network (in-process proxy, real worker, fake engine,
//! simulated TEE): a streamed chat completion arrives as OpenAI chunks with the tokens
//! billed, a whole completion too, dropping a stream (or a chat still waiting for its first
//! answer) cancels the request at the proxy and the worker, and
//! a request encrypted to a registered key is refused by a proxy that cannot serve it,
//! with the proxy's reason.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use cocoon_client::{ChatRequest, Encryption, Error};
use futures::StreamExt;
use support::*;
use tokio::sync::mpsc;

fn hello() -> ChatRequest {
    ChatRequest::new(MODEL).user("Hello")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_chat_arrives_as_chunks_with_the_tokens_billed() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let proxy = start_proxy().await;
    let _worker = real_worker(&proxy, 5, Duration::ZERO).await;
    let cocoon = builder(root_for(&proxy, vec![]))
        .connect()
        .await
        .expect("connects");
    assert_eq!(
        cocoon.encryption_key().expect("auto"),
        None,
        "no key listed"
    );

    let mut stream = cocoon.chat(hello()).await.expect("starts");
    assert!(!stream.is_encrypted());
    let mut chunks = Vec::new();
    while let Some(chunk) = within("chunk", stream.next()).await {
        chunks.push(chunk.expect("a chunk"));
    }
    let text: String = chunks.iter().map(|c| c.text()).collect();
    let content_chunks = chunks.iter().filter(|c| !c.text().is_empty()).count();
    assert_eq!(content_chunks, 5, "{chunks:?}");
    assert!(chunks.iter().all(|c| c.object == "chat.completion.chunk"));
    let finished = chunks
        .iter()
        .filter_map(|c| c.choices.first()?.finish_reason.as_deref())
        .collect::<Vec<_>>();
    assert_eq!(finished, ["stop"], "{chunks:?}");
    let billed = stream.tokens_billed().expect("billed at the end");
    assert!(
        billed.completion > 0 && billed.total >= billed.completion,
        "{billed:?}"
    );
    eprintln!(
        "streamed {content_chunks} chunks, {} bytes of text; billed {billed:?}",
        text.len()
    );

    let whole = cocoon.chat_once(hello()).await.expect("whole answer");
    assert!(
        !whole.completion.text().is_empty(),
        "{:?}",
        whole.completion
    );
    assert_eq!(whole.completion.object, "chat.completion");
    assert!(whole.tokens_billed.is_some_and(|b| b.total > 0));
    assert!(!whole.encrypted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_stream_cancels_the_request_at_the_proxy() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let proxy = start_proxy().await;
    // 50 chunks, 1 s apart: far from done when the stream is dropped.
    let _worker = real_worker(&proxy, 50, Duration::from_secs(1)).await;
    let cocoon = builder(root_for(&proxy, vec![]))
        .connect()
        .await
        .expect("connects");
    let mut stream = cocoon.chat(hello()).await.expect("starts");
    let first = within("first chunk", stream.next()).await;
    assert!(first.is_some_and(|c| c.is_ok()));
    assert_eq!(running(&proxy), 1);
    drop(stream);
    wait_until("cancelled at the proxy", || {
        proxy.shared.counters.cancelled.load(Ordering::Relaxed) == 1
    })
    .await;
    wait_until("worker slot freed", || running(&proxy) == 0).await;
    assert_eq!(cocoon.stats().requests_cancelled, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_chat_still_waiting_for_its_first_answer_cancels_it_at_the_worker() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let proxy = start_proxy().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let mut worker = spawn_worker(&proxy, "w", 1000, 4, Behaviour::Hang, seen_tx).await;
    let cocoon = builder(root_for(&proxy, vec![]))
        .connect()
        .await
        .expect("connects");
    let mut chat = Box::pin(cocoon.chat(hello()));
    // The request reaches the worker, which never answers; then the app gives up.
    let proxy_id = tokio::select! {
        _ = &mut chat => panic!("a hanging worker cannot answer"),
        s = seen.recv() => s.expect("request seen").request.request_id,
    };
    drop(chat);
    let (cancelled, reason) = within("worker cancel", worker.cancels.recv())
        .await
        .expect("cancel");
    assert_eq!(cancelled, proxy_id);
    assert_eq!(reason, "proxy: cancelled by the client");
    wait_until("slot freed", || running(&proxy) == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_the_proxy_cannot_serve_is_surfaced_and_nothing_reaches_a_worker() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let proxy = start_proxy().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let _worker = spawn_worker(
        &proxy,
        "w",
        1000,
        4,
        Behaviour::Answer { parts: 1 },
        seen_tx,
    )
    .await;
    let km = cocoon_e2e::Seed::from_bytes([5; 32]).public_key();
    let cocoon = builder(root_for(&proxy, vec![live_key(km.0)]))
        .connect()
        .await
        .expect("connects");
    assert_eq!(cocoon.encryption_key().expect("auto"), Some(km));
    let err = cocoon.chat(hello()).await.err().expect("refused");
    eprintln!("surfaced: {err}");
    // A proxy without the key (here: no key manager client at all) names it, in clear.
    match &err {
        Error::Request { message, .. } => assert!(
            message.contains(&format!("unknown public key {}", hex::encode_upper(km.0))),
            "{message}"
        ),
        other => panic!("expected the proxy's refusal, got {other}"),
    }
    assert!(seen.try_recv().is_err(), "no worker got the request");

    // Required with no live key: refused before anything is sent.
    let cocoon = builder(root_for(&proxy, vec![]))
        .encryption(Encryption::Required)
        .connect()
        .await
        .expect("connects");
    assert!(matches!(
        cocoon.chat(hello()).await.err(),
        Some(Error::NoEncryptionKey)
    ));
    assert!(seen.try_recv().is_err());
}
