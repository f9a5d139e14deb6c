//! A bounded cache of decompressed file contents, keyed by content hash. Contents are
//! immutable per hash, so an entry stays valid whatever changes later; searches read through
//! it when they verify candidate files.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::Weighter;

use super::ContentHash;

#[derive(Clone)]
struct ByLength;

impl Weighter<ContentHash, Arc<[u8]>> for ByLength {
    fn weight(&self, _key: &ContentHash, value: &Arc<[u8]>) -> u64 {
        // Entry overhead counts too, so empty files are not free.
        value.len() as u64 + 64
    }
}

/// Decompressed contents of recently used files.
pub struct ContentCache {
    entries: quick_cache::sync::Cache<ContentHash, Arc<[u8]>, ByLength>,
    capacity: u64,
    hits: AtomicU64,
    misses: AtomicU64,
    inserts: AtomicU64,
}

/// Cache figures for status and metrics.
pub type CacheStats = codesage_shared::protocol::CacheStatus;

impl ContentCache {
    /// A cache holding at most `capacity` bytes.
    pub fn new(capacity: u64) -> ContentCache {
        // Estimated entries only sizes the table; a typical source file is ~10 KiB.
        let estimated = (capacity / 10_240).clamp(16, 1 << 20) as usize;
        ContentCache {
            entries: quick_cache::sync::Cache::with_weighter(estimated, capacity, ByLength),
            capacity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            inserts: AtomicU64::new(0),
        }
    }

    /// The content for `hash`, if cached.
    pub fn get(&self, hash: &ContentHash) -> Option<Arc<[u8]>> {
        let found = self.entries.get(hash);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Remembers `content` for `hash`.
    pub fn insert(&self, hash: ContentHash, content: Arc<[u8]>) {
        self.inserts.fetch_add(1, Ordering::Relaxed);
        self.entries.insert(hash, content);
    }

    /// Forgets every entry (the hit and miss counts stay).
    pub fn clear(&self) {
        // Cleared on purpose, not evicted: counted as inserted no more.
        self.inserts
            .fetch_sub(self.entries.len() as u64, Ordering::Relaxed);
        self.entries.clear();
    }

    /// Current figures.
    pub fn stats(&self) -> CacheStats {
        let hits = self.hits.load(Ordering::Relaxed);
        let misses = self.misses.load(Ordering::Relaxed);
        let entries = self.entries.len() as u64;
        CacheStats {
            bytes: self.entries.weight(),
            capacity: self.capacity,
            entries,
            // Contents never change per hash, so whatever was inserted and is gone was evicted.
            evictions: self.inserts.load(Ordering::Relaxed).saturating_sub(entries),
            hits,
            misses,
            hit_rate: if hits + misses == 0 {
                0.0
            } else {
                hits as f64 / (hits + misses) as f64
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_hits_and_stays_within_capacity() {
        let cache = ContentCache::new(10_000);
        assert!(cache.get(&[1; 32]).is_none());
        cache.insert([1; 32], Arc::from(vec![b'x'; 1000]));
        assert_eq!(cache.get(&[1; 32]).unwrap().len(), 1000);
        for key in 2..100u8 {
            cache.insert([key; 32], Arc::from(vec![b'y'; 1000]));
        }
        let stats = cache.stats();
        assert!(stats.bytes <= 10_000, "{stats:?}");
        assert_eq!((stats.hits, stats.misses), (1, 1));
        assert!((stats.hit_rate - 0.5).abs() < 1e-9);
    }
}
