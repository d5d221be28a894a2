//! An in-test network for the library: the in-process proxy and fake workers of
//! cocoon-node's proxy tests (`proxy_common`, reused as is), a real worker in front of the
//! fake engine, and root configs that register them.

#![allow(dead_code)]

#[path = "../../../cocoon-node/tests/proxy_common/mod.rs"]
pub mod proxy_common;

use std::net::SocketAddr;
use std::time::Duration;

use cocoon_client::{Cocoon, CocoonBuilder};
use cocoon_node::config::{Int256, LocalRootConfig, RegisteredProxy, RegisteredPublicKey};
use cocoon_node::fake_engine::{serve_fake_engine, FakeEngineOptions};
use cocoon_node::proxy::ProxyHandle;
pub use proxy_common::*;

/// The root config of a network with one proxy, listing `keys`.
pub fn root_for(proxy: &ProxyHandle, keys: Vec<RegisteredPublicKey>) -> LocalRootConfig {
    let SocketAddr::V4(clients) = proxy.clients_addr.expect("clients port") else {
        panic!("IPv4 loopback");
    };
    let SocketAddr::V4(workers) = proxy.workers_addr.expect("workers port") else {
        panic!("IPv4 loopback");
    };
    LocalRootConfig {
        registered_proxies: vec![RegisteredProxy {
            seqno: 1,
            address: format!("{workers} {clients}"),
            address_for_workers: workers,
            address_for_clients: clients,
        }],
        last_proxy_seqno: 1,
        version: CONFIG_VERSION,
        params_version: 1,
        registered_public_keys: keys,
        ..LocalRootConfig::default()
    }
}

/// A key manager key of type 1 that expires in an hour.
pub fn live_key(public_key: [u8; 32]) -> RegisteredPublicKey {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    RegisteredPublicKey {
        public_key: Int256(public_key),
        key_type: 1,
        expire_at: i32::try_from(now + 3600).expect("fits"),
    }
}

/// The library's builder for `root`: the test wallet, the simulated TEE, short limits.
pub fn builder(root: LocalRootConfig) -> CocoonBuilder {
    Cocoon::builder()
        .wallet(OWNER, "")
        .root(root)
        .simulated_fake_tee()
        .connect_timeout(WAIT)
        .answer_silence_limit(WAIT)
}

/// Starts the fake engine (`chunks` content chunks, `delay` after each) serving [`MODEL`]
/// and a real worker in front of it; waits until the proxy has the worker.
pub async fn real_worker(
    proxy: &ProxyHandle,
    chunks: usize,
    delay: Duration,
) -> tokio::task::JoinHandle<()> {
    let engine = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("engine");
    let engine_addr = engine.local_addr().expect("addr").to_string();
    let options = FakeEngineOptions {
        chunks,
        chunk_bytes: 8,
        delay,
        model: MODEL.into(),
        ..FakeEngineOptions::default()
    };
    tokio::spawn(serve_fake_engine(engine, options));
    let worker = spawn_real_worker(real_worker_settings(proxy, &engine_addr, MODEL));
    wait_until("worker ready", || ready_workers(proxy, MODEL) == 1).await;
    worker
}
