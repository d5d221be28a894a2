//! Cached vs uncached DCAP verification of the real dcap-qvl `tdx_quote`
//! vector against its collateral (read from `COCOON_VECTORS`; without it the
//! bench prints a skip message and measures nothing).

use std::path::PathBuf;
use std::sync::Arc;

use cocoon_tee::cache::{CachedVerifier, QuoteCache};
use cocoon_tee::dcap::{Collateral, DcapVerifier, FixedCollateral};
use criterion::{criterion_group, criterion_main, Criterion};

fn verify(c: &mut Criterion) {
    let Some(dir) = std::env::var_os("COCOON_VECTORS").map(PathBuf::from) else {
        println!("skipped: COCOON_VECTORS not set");
        return;
    };
    let raw = std::fs::read(dir.join("dcap-qvl/tdx_quote")).expect("tdx_quote vector");
    let collateral =
        Collateral::from_file(&dir.join("dcap-qvl/tdx_quote_collateral.json")).expect("collateral");
    let (from, until) = collateral.validity_window().expect("validity window");
    let now = from + (until - from) / 2;

    let verifier = DcapVerifier::new();
    verifier
        .verify(&raw, &collateral, now)
        .expect("vector verifies");
    let cached = CachedVerifier::new(
        verifier.clone(),
        Arc::new(FixedCollateral(Arc::new(collateral.clone()))),
        Some(Arc::new(QuoteCache::default())),
    );
    cached.verify(&raw, now).expect("warm the cache");

    let mut group = c.benchmark_group("tdx_quote_verify");
    group.bench_function("uncached_dcap", |b| {
        b.iter(|| verifier.verify(&raw, &collateral, now).expect("verifies"))
    });
    group.bench_function("cached", |b| {
        b.iter(|| cached.verify(&raw, now).expect("verifies"))
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
