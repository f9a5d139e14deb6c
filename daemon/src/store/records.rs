//! The records kept in the store, encoded with postcard.

use serde::{Deserialize, Serialize};

/// How close (ns) a file's modification time may be to the moment it was indexed before the
/// time is considered ambiguous. Covers filesystems with coarse (up to 2 s) timestamps.
pub const RACY_WINDOW_NS: i64 = 2_000_000_000;

/// Identifier of a registered root.
pub type RootId = u32;

pub use crate::hash::ContentHash;

/// A registered root directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootRecord {
    /// Key of the root (not serialized in the value; filled in on read).
    #[serde(skip)]
    pub id: RootId,
    /// Canonical absolute path.
    pub path: String,
    /// When the root was registered (ms since the Unix epoch).
    pub added_ms: u64,
    /// When the last complete indexing run finished (ms since the Unix epoch; 0 = never).
    pub last_indexed_ms: u64,
}

/// Line counts of one file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCounts {
    /// Lines in the file.
    pub total: u32,
    /// Lines holding code.
    pub code: u32,
    /// Lines holding only comments.
    pub comment: u32,
    /// Empty or whitespace-only lines.
    pub blank: u32,
}

/// Why a file is known to the index but its content is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SkipReason {
    /// It contains NUL bytes near the start.
    Binary,
    /// It is larger than the configured limit.
    TooLarge,
}

/// What the index knows about one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Size in bytes when indexed.
    pub size: u64,
    /// Modification time when indexed (ns since the Unix epoch).
    pub mtime_ns: i64,
    /// blake3 hash of the content (all zero when skipped).
    pub hash: ContentHash,
    /// Detected language name.
    pub language: String,
    /// Line counts.
    pub lines: LineCounts,
    /// Set when the content is not stored.
    pub skipped: Option<SkipReason>,
    /// When this record was made (ns since the Unix epoch), to spot "racy" modification times.
    pub indexed_ns: i64,
    /// Id of the content's document in the root's trigram index (`None` when not stored).
    /// Assigned by the store; a new id whenever the content changes.
    pub doc_id: Option<u32>,
}

impl FileRecord {
    /// The hash of the stored content, or `None` for skipped files.
    pub fn stored_hash(&self) -> Option<ContentHash> {
        self.skipped.is_none().then_some(self.hash)
    }

    /// Whether size and modification time match and are trustworthy, so the file need not be
    /// read again. A modification time within [`RACY_WINDOW_NS`] of when the record was made is
    /// not trusted: the file may have changed again within the filesystem's timestamp
    /// granularity (git's "racy clean" problem), so such files are re-read and their hash
    /// compared.
    pub fn matches_stat(&self, size: u64, mtime_ns: i64) -> bool {
        self.size == size
            && self.mtime_ns == mtime_ns
            && self.indexed_ns.saturating_sub(mtime_ns) > RACY_WINDOW_NS
    }
}
