//! Verified SEV-SNP report cache. Full verification (RSA-PSS chain, CRL,
//! ECDSA report signature) costs about a millisecond, and every connection
//! from one guest shows the same report and VCEK until its certificate is
//! renewed. Entries are keyed by SHA-256 of `report ‖ VCEK`, bounded, and
//! expire after a TTL but never later than the earliest of the VCEK's
//! notAfter and the CRL's nextUpdate it was verified with. Only successes are
//! cached; on every hit the binding to the peer key, the verifier's guest
//! policy, TCB and measurement switches (the cache may be shared by policies
//! with other switches) and the policy's allowlists are checked again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::verify::VerifiedSnpReport;
use crate::cache::CacheStats;

/// Default capacity, as the DCAP quote cache.
pub const DEFAULT_SEV_CAPACITY: usize = 10_000;
/// Default time to live: a CRL update is noticed within it.
pub const DEFAULT_SEV_TTL: Duration = Duration::from_secs(600);

#[derive(Debug)]
struct Entry {
    report: Arc<VerifiedSnpReport>,
    verified_at: u64,
    expires_at: u64,
}

/// Bounded, TTL-limited cache of verified SEV-SNP reports.
#[derive(Debug)]
pub struct SevReportCache {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    capacity: usize,
    ttl_secs: u64,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl Default for SevReportCache {
    fn default() -> Self {
        SevReportCache::new(DEFAULT_SEV_CAPACITY, DEFAULT_SEV_TTL)
    }
}

impl SevReportCache {
    /// At most `capacity` entries (at least 1), each kept at most `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        SevReportCache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            ttl_secs: ttl.as_secs(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// The key of one report as signed by one VCEK.
    pub fn key(report: &[u8], vcek: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update((report.len() as u64).to_le_bytes());
        hasher.update(report);
        hasher.update(vcek);
        hasher.finalize().into()
    }

    /// The report verified under `key`, if it was verified no later than
    /// `now` and has not expired at `now` (UNIX seconds).
    pub fn get(&self, key: &[u8; 32], now: u64) -> Option<Arc<VerifiedSnpReport>> {
        let found = self
            .entries
            .lock()
            .ok()
            .and_then(|mut entries| match entries.get(key) {
                Some(e) if e.verified_at <= now && now < e.expires_at => Some(e.report.clone()),
                Some(e) if now >= e.expires_at => {
                    entries.remove(key);
                    None
                }
                _ => None,
            });
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Remember a verification made at `now` whose collateral is good until
    /// `collateral_expires_at`. Nothing is stored if that has passed. When
    /// full, expired entries go first, then the one expiring soonest.
    pub fn insert(
        &self,
        key: [u8; 32],
        report: Arc<VerifiedSnpReport>,
        now: u64,
        collateral_expires_at: u64,
    ) {
        let expires_at = now.saturating_add(self.ttl_secs).min(collateral_expires_at);
        if expires_at <= now {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        entries.remove(&key);
        if entries.len() >= self.capacity {
            let before = entries.len();
            entries.retain(|_, e| now < e.expires_at);
            while entries.len() >= self.capacity {
                let Some(soonest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.expires_at)
                    .map(|(k, _)| *k)
                else {
                    break;
                };
                entries.remove(&soonest);
            }
            let evicted = before.saturating_sub(entries.len()) as u64;
            self.evictions.fetch_add(evicted, Ordering::Relaxed);
        }
        entries.insert(
            key,
            Entry {
                report,
                verified_at: now,
                expires_at,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}
