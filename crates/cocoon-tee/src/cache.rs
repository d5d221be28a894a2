//! Verified-quote cache: DCAP verification (signature chain, CRLs, TCB
//! status) is costly, and every connection from the same TD shows the same
//! quote until its certificate is renewed (hourly). Entries are keyed by
//! SHA-256 of the raw quote, bounded (least recently used evicted), expire
//! after a TTL and never outlive the collateral they were verified with.
//! Only successes are cached, and every hit is appraised again (TCB status,
//! root key, debug flag, collateral expiry) before use, as are the policy's
//! own checks. The reference's cache has no TTL (tee.md §15.3).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::dcap::{CollateralSource, DcapReport, DcapVerifier};
use crate::quote::{ParsedQuote, MAX_QUOTE_SIZE};
use crate::AttestError;

/// Default capacity (the reference's cache size).
pub const DEFAULT_CAPACITY: usize = 10_000;
/// Default time to live: TCB downgrades and revocations are noticed within it.
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);

/// Hit/miss counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

#[derive(Debug)]
struct Entry {
    report: Arc<DcapReport>,
    expires_at: u64,
    last_used: u64,
}

#[derive(Debug, Default)]
struct Lru {
    entries: HashMap<[u8; 32], Entry>,
    /// last-use tick → key, oldest first.
    order: BTreeMap<u64, [u8; 32]>,
    tick: u64,
}

impl Lru {
    fn touch(&mut self, key: &[u8; 32]) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(entry) = self.entries.get_mut(key) {
            self.order.remove(&entry.last_used);
            entry.last_used = tick;
            self.order.insert(tick, *key);
        }
    }

    fn remove(&mut self, key: &[u8; 32]) {
        if let Some(entry) = self.entries.remove(key) {
            self.order.remove(&entry.last_used);
        }
    }
}

/// Bounded, TTL-limited cache of successful DCAP verifications.
#[derive(Debug)]
pub struct QuoteCache {
    lru: Mutex<Lru>,
    capacity: usize,
    ttl_secs: u64,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl Default for QuoteCache {
    fn default() -> Self {
        QuoteCache::new(DEFAULT_CAPACITY, DEFAULT_TTL)
    }
}

impl QuoteCache {
    /// A cache of at most `capacity` entries (at least 1), each kept at most `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        QuoteCache {
            lru: Mutex::new(Lru::default()),
            capacity: capacity.max(1),
            ttl_secs: ttl.as_secs(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// The cache key of a raw quote.
    pub fn key(raw_quote: &[u8]) -> [u8; 32] {
        Sha256::digest(raw_quote).into()
    }

    /// The cached report for `key`, if present and not expired at `now` (UNIX seconds).
    pub fn get(&self, key: &[u8; 32], now: u64) -> Option<Arc<DcapReport>> {
        let Ok(mut lru) = self.lru.lock() else {
            return None;
        };
        let found = match lru.entries.get(key) {
            Some(entry) if now < entry.expires_at => Some(entry.report.clone()),
            Some(_) => {
                lru.remove(key);
                None
            }
            None => None,
        };
        match &found {
            Some(_) => {
                lru.touch(key);
                self.hits.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
            }
        }
        found
    }

    /// Remember a successful verification made at `now`. It expires at
    /// `min(now + ttl, collateral expiry)`; nothing is stored if that has passed.
    pub fn insert(&self, key: [u8; 32], report: Arc<DcapReport>, now: u64) {
        let expires_at = now
            .saturating_add(self.ttl_secs)
            .min(report.collateral_expires_at);
        if expires_at <= now {
            return;
        }
        let Ok(mut lru) = self.lru.lock() else {
            return;
        };
        lru.remove(&key);
        while lru.entries.len() >= self.capacity {
            let Some((_, oldest)) = lru.order.pop_first() else {
                break;
            };
            lru.entries.remove(&oldest);
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
        lru.tick += 1;
        let tick = lru.tick;
        lru.entries.insert(
            key,
            Entry {
                report,
                expires_at,
                last_used: tick,
            },
        );
        lru.order.insert(tick, key);
    }

    pub fn len(&self) -> usize {
        self.lru.lock().map(|lru| lru.entries.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}

/// DCAP verification of raw quotes with collateral from a source and an
/// optional shared cache: what a `tdx` policy uses.
#[derive(Debug, Clone)]
pub struct CachedVerifier {
    pub verifier: DcapVerifier,
    pub collateral: Arc<dyn CollateralSource>,
    pub cache: Option<Arc<QuoteCache>>,
}

impl CachedVerifier {
    pub fn new(
        verifier: DcapVerifier,
        collateral: Arc<dyn CollateralSource>,
        cache: Option<Arc<QuoteCache>>,
    ) -> Self {
        CachedVerifier {
            verifier,
            collateral,
            cache,
        }
    }

    /// Verify and appraise `raw_quote` at `now` (UNIX seconds), from the cache when possible.
    pub fn verify(&self, raw_quote: &[u8], now: u64) -> Result<Arc<DcapReport>, AttestError> {
        if raw_quote.len() > MAX_QUOTE_SIZE {
            return Err(AttestError::QuoteTooLarge {
                size: raw_quote.len(),
                max: MAX_QUOTE_SIZE,
            });
        }
        let key = QuoteCache::key(raw_quote);
        if let Some(report) = self.cache.as_ref().and_then(|cache| cache.get(&key, now)) {
            self.verifier.appraise(&report, now)?;
            return Ok(report);
        }
        let parsed = ParsedQuote::parse(raw_quote)?;
        let collateral = self.collateral.collateral_for(&parsed, now)?;
        let report = Arc::new(
            self.verifier
                .check_signatures(raw_quote, &collateral, now)?,
        );
        self.verifier.appraise(&report, now)?;
        if let Some(cache) = &self.cache {
            cache.insert(key, report.clone(), now);
        }
        Ok(report)
    }
}
