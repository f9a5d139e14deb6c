//! Files as clone reports read them again for their snippets: content and line starts, read
//! once per content and kept in a cache bounded by bytes (a report's pages, and the next
//! report, touch the same files).

use std::sync::Arc;

use crate::store::ContentHash;

/// Bytes of sources kept, at most.
pub const CACHE_BYTES: u64 = 192 << 20;

/// One file, ready for quoting.
pub struct Source {
    /// Its bytes.
    pub content: Arc<[u8]>,
    /// Byte offset of each line's start.
    line_starts: Vec<u32>,
}

impl Source {
    /// Indexes the lines of `content`.
    pub fn new(content: Arc<[u8]>) -> Source {
        let line_starts = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', &content).map(|at| at as u32 + 1))
            .collect();
        Source {
            content,
            line_starts,
        }
    }

    /// Bytes it holds.
    pub fn weight(&self) -> u64 {
        (self.content.len() + self.line_starts.len() * 4) as u64
    }

    /// Whether line `line` (1-based) is blank or past the end.
    pub fn is_blank(&self, line: u32) -> bool {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1) as usize) else {
            return true;
        };
        let end = self
            .line_starts
            .get(line as usize)
            .map_or(self.content.len(), |&next| next as usize);
        self.content[start as usize..end.max(start as usize)]
            .iter()
            .all(u8::is_ascii_whitespace)
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

/// An empty cache of [`CACHE_BYTES`].
pub fn cache() -> SourceCache {
    quick_cache::sync::Cache::with_weighter(16_384, CACHE_BYTES, ByBytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_and_lines_past_the_end() {
        let source = Source::new(Arc::from(&b"a = 1\n   \n\tb = 2\n"[..]));
        assert!(!source.is_blank(1));
        assert!(source.is_blank(2));
        assert!(!source.is_blank(3));
        assert!(source.is_blank(4));
        assert!(source.is_blank(99));
    }
}
