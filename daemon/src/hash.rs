//! Content identity: the blake3 hash every stored content, and everything derived from it
//! (trigrams, symbols), is keyed by.

/// blake3 hash of a file's content.
pub type ContentHash = [u8; 32];

/// The first bytes of `hash` in hex, for messages and logs.
pub fn short_hex(hash: &ContentHash) -> String {
    hash.iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
