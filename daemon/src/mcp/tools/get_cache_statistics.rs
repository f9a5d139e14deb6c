//! The MCP tool `get_cache_statistics`: its description; the question itself is
//! [`crate::queries::get_cache_statistics`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Show the daemon's caches and their hit rates: decompressed file \
     contents, LLM replies (entries, TTL, hits and misses), per-file code-health facts and \
     stored embedding vectors, each with evictions and the hit rate against the 70% target; \
     with codebase_path, also what that codebase's index holds (files, trigram index, chunks, \
     vectors).";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
