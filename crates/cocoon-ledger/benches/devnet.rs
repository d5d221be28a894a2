//! Cost of devnet ledger operations on a small shared file. Nodes may read their contract
//! state at the start of every request, so the figure that matters is `client_state` when
//! the file is unchanged (lock, 8-byte generation read, `stat`, unlock, clone).

use std::hint::black_box;

use cocoon_ledger::accounting::ONE_TON;
use cocoon_ledger::ledger::{DevnetLedger, Ledger};
use cocoon_ledger::root_config::RootConfig;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ed25519_dalek::SigningKey;
use tonlib_core::{TonAddress, TonHash};

fn wallet(byte: u8) -> TonAddress {
    TonAddress::new(0, TonHash::from([byte; 32]))
}

/// A proxy, a client with a balance and a worker: a small devnet.
fn small_devnet(ledger: &DevnetLedger) -> TonAddress {
    let key = SigningKey::from_bytes(&[0x11; 32]);
    let (proxy_owner, client_owner) = (wallet(1), wallet(2));
    ledger.devnet_fund(&proxy_owner, 2 * ONE_TON).expect("fund");
    ledger
        .devnet_fund(&client_owner, 2 * ONE_TON)
        .expect("fund");
    let proxy_sc = ledger
        .proxy_deploy(&proxy_owner, &key.verifying_key(), ONE_TON)
        .expect("proxy");
    let client_sc = ledger
        .client_deploy(&client_owner, &proxy_sc)
        .expect("client");
    ledger.worker_deploy(&wallet(3), &proxy_sc).expect("worker");
    ledger
        .client_top_up(&client_owner, &client_sc, ONE_TON)
        .expect("top up");
    client_sc
}

fn bench_devnet(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("devnet.json");
    let ledger = DevnetLedger::open_or_create(&path, RootConfig::devnet_default()).expect("open");
    let client_sc = small_devnet(&ledger);
    let other = DevnetLedger::open_or_create(&path, RootConfig::devnet_default()).expect("open");
    let memory = DevnetLedger::in_memory(RootConfig::devnet_default()).expect("memory");
    let memory_client = small_devnet(&memory);

    c.bench_function("devnet client_state, file unchanged", |b| {
        b.iter(|| black_box(ledger.client_state(black_box(&client_sc)).expect("state")))
    });
    c.bench_function(
        "devnet client_state, file changed by another instance",
        |b| {
            b.iter_batched(
                || other.devnet_advance_clock(1).expect("clock"),
                |_| black_box(ledger.client_state(black_box(&client_sc)).expect("state")),
                BatchSize::PerIteration,
            )
        },
    );
    c.bench_function("devnet client_state, in memory", |b| {
        b.iter(|| {
            black_box(
                memory
                    .client_state(black_box(&memory_client))
                    .expect("state"),
            )
        })
    });
    c.bench_function("devnet client_top_up (write + fsync + rename)", |b| {
        b.iter(|| {
            ledger
                .client_top_up(&wallet(2), &client_sc, 1)
                .expect("top up")
        })
    });
}

criterion_group!(benches, bench_devnet);
criterion_main!(benches);
