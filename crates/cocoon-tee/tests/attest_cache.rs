//! Verified-quote cache: hits, misses, TTL, collateral expiry, capacity (LRU).

mod attest_support;

use std::sync::Arc;
use std::time::Duration;

use attest_support::synthetic_tdx_quote;
use cocoon_tee::cache::{QuoteCache, DEFAULT_CAPACITY};
use cocoon_tee::dcap::DcapReport;
use cocoon_tee::quote::{ParsedQuote, TD_ATTR_SEPT_VE_DISABLE};

const T0: u64 = 1_750_000_000;

fn report(mrtd: u8, collateral_expires_at: u64) -> Arc<DcapReport> {
    let quote = ParsedQuote::parse(&synthetic_tdx_quote(mrtd, TD_ATTR_SEPT_VE_DISABLE))
        .expect("synthetic quote");
    Arc::new(DcapReport {
        quote,
        tcb_status: "UpToDate".into(),
        advisory_ids: Vec::new(),
        root_key_id: [0; 48],
        collateral_expires_at,
    })
}

fn key(n: u8) -> [u8; 32] {
    QuoteCache::key(&synthetic_tdx_quote(n, TD_ATTR_SEPT_VE_DISABLE))
}

#[test]
fn key_is_sha256_of_the_quote() {
    assert_eq!(
        hex::encode(QuoteCache::key(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn hit_and_miss() {
    let cache = QuoteCache::new(8, Duration::from_secs(60));
    assert!(cache.is_empty());
    assert!(cache.get(&key(1), T0).is_none());
    cache.insert(key(1), report(1, T0 + 3600), T0);
    let hit = cache.get(&key(1), T0 + 1).expect("hit");
    assert_eq!(hit.quote.td_report().map(|td| td.mr_td[0]), Some(1));
    assert!(cache.get(&key(2), T0 + 1).is_none());
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.evictions), (1, 2, 0));
    assert_eq!(cache.len(), 1);
}

#[test]
fn entries_expire_after_the_ttl() {
    let cache = QuoteCache::new(8, Duration::from_secs(60));
    cache.insert(key(1), report(1, T0 + 3600), T0);
    assert!(cache.get(&key(1), T0 + 59).is_some());
    assert!(
        cache.get(&key(1), T0 + 60).is_none(),
        "expired at insert time + TTL"
    );
    assert_eq!(cache.len(), 0, "expired entry is dropped");
}

#[test]
fn entries_never_outlive_the_collateral() {
    let cache = QuoteCache::new(8, Duration::from_secs(3600));
    cache.insert(key(1), report(1, T0 + 10), T0);
    assert!(cache.get(&key(1), T0 + 9).is_some());
    assert!(cache.get(&key(1), T0 + 10).is_none());
    // Collateral already expired: nothing is stored.
    cache.insert(key(2), report(2, T0), T0);
    assert_eq!(cache.len(), 0);
}

#[test]
fn capacity_evicts_the_least_recently_used() {
    let cache = QuoteCache::new(2, Duration::from_secs(600));
    cache.insert(key(1), report(1, T0 + 3600), T0);
    cache.insert(key(2), report(2, T0 + 3600), T0);
    assert!(
        cache.get(&key(1), T0).is_some(),
        "1 is now more recent than 2"
    );
    cache.insert(key(3), report(3, T0 + 3600), T0);
    assert_eq!(cache.len(), 2);
    assert!(cache.get(&key(2), T0).is_none(), "2 was evicted");
    assert!(cache.get(&key(1), T0).is_some());
    assert!(cache.get(&key(3), T0).is_some());
    assert_eq!(cache.stats().evictions, 1);
    // Re-inserting an existing key does not evict.
    cache.insert(key(3), report(3, T0 + 3600), T0);
    assert_eq!((cache.len(), cache.stats().evictions), (2, 1));
}

#[test]
fn defaults() {
    let cache = QuoteCache::default();
    assert_eq!(cache.capacity(), DEFAULT_CAPACITY);
    assert_eq!(QuoteCache::new(0, Duration::from_secs(1)).capacity(), 1);
}
