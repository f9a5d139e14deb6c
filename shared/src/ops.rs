//! What the operator commands (`codesage backup`, `restore`, `check`, `compact`, `metrics`)
//! exchange with the daemon: backup manifests and maintenance reports.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The manifest at the head of a backup file: what it holds and how to verify it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BackupManifest {
    /// Version of the backup file format.
    pub format: u32,
    /// CodeSage version that wrote it.
    pub codesage_version: String,
    /// Schema version of the store inside.
    pub schema_version: u32,
    /// When it was written, ms since the Unix epoch.
    pub created_ms: u64,
    /// Roots registered in the store.
    pub roots: Vec<PathBuf>,
    /// Entries per table.
    pub tables: Vec<(String, u64)>,
    /// Size of the live store file when the backup was taken.
    pub live_store_bytes: u64,
    /// Size of the store copy inside (uncompressed).
    pub store_bytes: u64,
    /// Size of the compressed payload after the manifest.
    pub payload_bytes: u64,
    /// blake3 of the compressed payload, hex.
    pub payload_blake3: String,
    /// blake3 of the uncompressed store copy, hex.
    pub store_blake3: String,
}

/// What `codesage check` found.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CheckReport {
    /// redb's own check passed (page checksums, tree structure, allocator state).
    pub redb_ok: bool,
    /// Set when redb could not run its check now (transactions stayed open); the
    /// invariants were still checked.
    pub redb_skipped: Option<String>,
    /// File records checked.
    pub files: u64,
    /// Stored contents checked (each decompressed and hashed).
    pub contents: u64,
    /// Trigram segments decoded.
    pub segments: u64,
    /// Every broken invariant, one line each (the first [`CheckReport::MAX_PROBLEMS`]).
    pub problems: Vec<String>,
}

impl CheckReport {
    /// Problems listed at most.
    pub const MAX_PROBLEMS: usize = 50;

    /// Whether the store is sound.
    pub fn ok(&self) -> bool {
        self.redb_ok && self.problems.is_empty()
    }

    /// Records one broken invariant.
    pub fn problem(&mut self, text: String) {
        if self.problems.len() < Self::MAX_PROBLEMS {
            self.problems.push(text);
        } else if self.problems.len() == Self::MAX_PROBLEMS {
            self.problems.push("… more problems not listed".to_string());
        }
    }
}

/// What `codesage compact` did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CompactReport {
    /// Store file size before, bytes.
    pub before_bytes: u64,
    /// Store file size after, bytes.
    pub after_bytes: u64,
    /// `compacted`, `nothing to do`, or `busy` (a transaction stayed open; try again).
    pub outcome: String,
}
