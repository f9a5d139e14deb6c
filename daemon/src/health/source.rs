//! Files as clone reports read them again for their snippets: their content, read once per
//! content and kept in a cache bounded by bytes (a report's pages, and the next
//! report, touch the same files).

use std::sync::Arc;

use crate::store::ContentHash;

/// One file, ready for quoting.
pub struct Source {
    /// Its bytes.
    pub content: Arc<[u8]>,
}

impl Source {
    /// Wraps `content`.
    pub fn new(content: Arc<[u8]>) -> Source {
        Source { content }
    }

    /// Bytes it holds.
    pub fn weight(&self) -> u64 {
        self.content.len() as u64
    }
}

/// Weighs cached sources by their bytes.
#[derive(Clone, Default)]
pub struct ByBytes;

impl quick_cache::Weighter<ContentHash, Arc<Source>> for ByBytes {
    fn weight(&self, _key: &ContentHash, value: &Arc<Source>) -> u64 {
        value.weight().max(1)
    }
}

/// Sources by content hash.
pub type SourceCache = quick_cache::sync::Cache<ContentHash, Arc<Source>, ByBytes>;

/// An empty cache holding up to `bytes` of sources.
pub fn cache(bytes: u64) -> SourceCache {
    quick_cache::sync::Cache::with_weighter(16_384, bytes.max(1), ByBytes)
}
