//! The layout of the store file: its tables, their encodings, and the schema check that
//! refuses a newer store and rebuilds file records when the layout or the symbol extractor
//! changed (roots are kept).

use super::*;

/// Version of the layout written by this build. Opening a store written by a newer version is
/// refused; older versions are migrated: file records are dropped and rebuilt by the start-up
/// reconciliation, roots kept (versions 1 and 2 had no or differently stored trigram
/// segments, version 3 no symbols, version 4 segments per root posting document ids, version 5
/// contents and symbols keyed by hash and stored whole, version 6 no settled contents;
/// version 7 had no content dictionaries, version 8 no bitmap postings in its trigram
/// segments; both are upgraded as they are).
pub const SCHEMA_VERSION: u32 = 9;

pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

pub(super) const ROOTS: TableDefinition<u32, &[u8]> = TableDefinition::new("roots");

pub(super) const FILES: TableDefinition<(u32, &str), &[u8]> = TableDefinition::new("files");

/// Compressed contents by (content id, piece): see [`PAGE`].
pub(super) const BLOBS: TableDefinition<(u32, u32), &[u8]> = TableDefinition::new("contents");

pub(super) const BLOB_REFS: TableDefinition<&[u8], u32> = TableDefinition::new("blob_refs");

/// Content hash → the content's store-wide id (what segments post), for as long as the
/// content is referenced. Ids are never reused: a content dropped and stored again gets a new
/// one, so postings of a dead id can never be mistaken for a live content.
pub(super) const CONTENT_IDS: TableDefinition<&[u8], u32> = TableDefinition::new("content_ids");

/// The owner of the store-wide segments (in SEGMENTS keys) and counters (in COUNTERS keys):
/// root ids start at 1.
pub(super) const SHARED: RootId = 0;

/// Segments (owned by [`SHARED`]) are stored compressed, in chunks of [`SEGMENT_CHUNK`].
pub(super) const SEGMENTS: TableDefinition<(u32, u64, u32), &[u8]> =
    TableDefinition::new("segments");

/// A segment chunk fills one leaf (its key takes 16 bytes): a value larger than a page takes
/// a power-of-two run of pages, which compaction can move only into a free run as large
/// lower in the file. With chunks of almost 1 MiB (before), the store's compaction after
/// settling left 10-13 MiB of free pages inside the file in some runs on the corpus (the
/// file 136 MiB instead of 125).
pub(super) const SEGMENT_CHUNK: usize = PAGE - LEAF_HEADER - (16 + 4);

pub(super) const COUNTERS: TableDefinition<(u32, &str), u64> = TableDefinition::new("counters");

/// Encoded [`FileSymbols`] by (content id, piece), stored and dropped with the content.
pub(super) const SYMBOLS: TableDefinition<(u32, u32), &[u8]> =
    TableDefinition::new("content_symbols");

/// Contents and symbols are stored in pieces under the content's id, each at most a leaf's
/// room for one value. redb gives a value larger than a page a power-of-two run of pages (a
/// third of the contents table was unused space that way), while pieces fill leaves, and ids
/// that only grow append to the tree instead of splitting it at random places (`benches`:
/// 55.7 MiB of compressed contents took a 93.0 MiB table keyed by hash and whole, 61.8 MiB in
/// pieces of 1,000 bytes by id). Appended past its last key, redb keeps a full last leaf as
/// it is and starts a new one with the new pair: [`put_pieces`] sizes pieces so that each
/// leaf is filled to its last bytes (pieces of 1,000 bytes left 7% of the contents and
/// symbols tables unused, the rest of each leaf where the next piece did not fit).
const PAGE: usize = 4096;

/// What a leaf of a pieces table spends besides its pairs (redb: page type and pair count).
const LEAF_HEADER: usize = 4;

/// What each pair spends besides its value: the fixed-width key (two `u32`) and the value's
/// end offset.
const PAIR_OVERHEAD: usize = 8 + 4;

/// The most a piece holds: a leaf of that one pair is exactly a page.
pub(super) const LARGEST_PIECE: usize = PAGE - LEAF_HEADER - PAIR_OVERHEAD;

/// A value is split to fill the rest of a leaf only when that rest holds this much (a
/// smaller piece would cost a pair's overhead and a lookup for little).
const SMALLEST_SPLIT: usize = 128;

/// How many bytes of the last leaf of a pieces table are used, as far as its writer knows
/// (a page when unknown). A wrong figure (after a restart, or when a value is not appended
/// at the end) costs only packing: the first piece too large for the real leaf starts a new
/// one, and the figure is right again from there.
#[derive(Debug)]
pub(super) struct LeafFill(std::sync::atomic::AtomicUsize);

impl Default for LeafFill {
    fn default() -> Self {
        LeafFill(std::sync::atomic::AtomicUsize::new(PAGE))
    }
}

/// The [`LeafFill`] of each table written in pieces: contents as the indexer stores them,
/// settled contents, symbols. (Write transactions are one at a time.)
#[derive(Debug, Default)]
pub(super) struct LeafFills {
    pub(super) contents: LeafFill,
    pub(super) settled: LeafFill,
    pub(super) symbols: LeafFill,
}

/// Tables of schema versions up to 5, dropped when upgrading.
pub(super) const LEGACY_BLOBS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blobs");
pub(super) const LEGACY_SYMBOLS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("symbols");

/// Chunk vectors: model fingerprint (8 bytes, big-endian) + embedding-text key (16 bytes) →
/// quantised vector. Kept across schema upgrades: a key says exactly what was embedded.
pub(super) const VECTORS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("vectors");
/// Cached LLM replies: blake3 of (provider, model, prompt) → postcard `CachedReply`. Kept
/// across schema upgrades (a reply does not depend on the index layout).
pub(super) const LLM_CACHE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("llm_cache");

pub(super) const NEXT_DOC: &str = "next_doc";

pub(super) const NEXT_CONTENT: &str = "next_content";

pub(super) const NEXT_SEGMENT: &str = "next_segment";

pub(super) const SCHEMA_KEY: &str = "schema_version";

pub(super) const TRIGRAM_KEY: &str = "trigram_index";

pub(super) const SYMBOLS_KEY: &str = "symbols";

pub(super) const EXTRACTOR_KEY: &str = "symbols_extractor";

/// What the store keeps besides records and contents. A store written with another choice
/// has its file records dropped when opened (the next indexing run rebuilds them): a partial
/// trigram index would miss matches, and files not re-read would lack symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Trigram segments for candidate selection.
    pub trigram_index: bool,
    /// Parsed symbols per content.
    pub symbols: bool,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            trigram_index: true,
            symbols: true,
        }
    }
}

impl Store {
    pub(super) fn check_schema(&self) -> Result<()> {
        let txn = self.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let found = meta
                .get(SCHEMA_KEY)?
                .map(|value| decode_u32(value.value()))
                .transpose()?;
            let stored_flag = |key: &str, default: bool| -> Result<bool> {
                Ok(meta
                    .get(key)?
                    .map(|value| value.value() == [1])
                    .unwrap_or(default))
            };
            let stored = Layout {
                trigram_index: stored_flag(TRIGRAM_KEY, self.layout.trigram_index)?,
                symbols: stored_flag(SYMBOLS_KEY, self.layout.symbols)?,
            };
            let extractor = meta
                .get(EXTRACTOR_KEY)?
                .map(|value| decode_u32(value.value()))
                .transpose()?;
            // A store without the key predates it: its symbols are stale too.
            let stale_symbols =
                self.layout.symbols && extractor != Some(crate::symbols::EXTRACTOR_VERSION);
            if stale_symbols && found == Some(SCHEMA_VERSION) {
                tracing::info!(
                    from = extractor,
                    to = crate::symbols::EXTRACTOR_VERSION,
                    "the symbol extractor changed; file records are rebuilt by the next \
                     indexing run"
                );
            }
            let found = if (stored != self.layout || stale_symbols) && found == Some(SCHEMA_VERSION)
            {
                tracing::info!(
                    trigram_index = self.layout.trigram_index,
                    symbols = self.layout.symbols,
                    "index.trigram_index or index.symbols changed; file records are rebuilt by \
                     the next indexing run"
                );
                // Treated as an upgrade from an older layout: everything but the roots goes.
                Some(0)
            } else {
                found
            };
            meta.insert(
                TRIGRAM_KEY,
                [u8::from(self.layout.trigram_index)].as_slice(),
            )?;
            meta.insert(SYMBOLS_KEY, [u8::from(self.layout.symbols)].as_slice())?;
            meta.insert(
                EXTRACTOR_KEY,
                crate::symbols::EXTRACTOR_VERSION.to_le_bytes().as_slice(),
            )?;
            match found {
                Some(found) if found > SCHEMA_VERSION => {
                    return Err(StoreError::NewerSchema {
                        path: self.path.clone(),
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                Some(SCHEMA_VERSION) => {}
                // A version 7 store is a version 9 store without dictionaries, a version 8
                // one without bitmap postings in its segments (an older build must not open
                // one that has them: it could not read its contents or segments).
                Some(7 | 8) => {
                    meta.insert(SCHEMA_KEY, SCHEMA_VERSION.to_le_bytes().as_slice())?;
                }
                Some(old) => {
                    tracing::info!(
                        from = old,
                        to = SCHEMA_VERSION,
                        "upgrading the store; file records are rebuilt by the next indexing run"
                    );
                    txn.delete_table(FILES)?;
                    txn.delete_table(LEGACY_BLOBS)?;
                    txn.delete_table(LEGACY_SYMBOLS)?;
                    txn.delete_table(BLOBS)?;
                    txn.delete_table(BLOB_REFS)?;
                    txn.delete_table(SEGMENTS)?;
                    txn.delete_table(COUNTERS)?;
                    txn.delete_table(SYMBOLS)?;
                    txn.delete_table(CONTENT_IDS)?;
                    txn.delete_table(super::DICTIONARIES)?;
                    meta.insert(SCHEMA_KEY, SCHEMA_VERSION.to_le_bytes().as_slice())?;
                }
                None => {
                    meta.insert(SCHEMA_KEY, SCHEMA_VERSION.to_le_bytes().as_slice())?;
                }
            }
            // Create every table so read transactions never meet a missing one.
            txn.open_table(ROOTS)?;
            txn.open_table(FILES)?;
            txn.open_table(BLOBS)?;
            txn.open_table(BLOB_REFS)?;
            txn.open_table(SEGMENTS)?;
            txn.open_table(COUNTERS)?;
            txn.open_table(SYMBOLS)?;
            txn.open_table(CONTENT_IDS)?;
            txn.open_table(super::DICTIONARIES)?;
            txn.open_table(VECTORS)?;
            txn.open_table(LLM_CACHE)?;
        }
        self.commit(txn)?;
        Ok(())
    }
}

pub(super) fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|err| StoreError::Corrupt(err.to_string()))
}

pub(super) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|err| StoreError::Corrupt(err.to_string()))
}

pub(super) fn decode_u32(bytes: &[u8]) -> Result<u32> {
    let array: [u8; 4] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("schema version is not 4 bytes".into()))?;
    Ok(u32::from_le_bytes(array))
}

pub(super) fn encode_segment(segment: &Segment) -> Result<Vec<u8>> {
    zstd::bulk::compress(segment.bytes(), crate::codec::ZSTD_LEVEL)
        .map_err(|err| StoreError::Corrupt(format!("cannot compress a segment: {err}")))
}

pub(super) fn decode_segment(bytes: &[u8]) -> Result<Segment> {
    let raw = zstd::stream::decode_all(bytes)
        .map_err(|err| StoreError::Corrupt(format!("trigram segment: {err}")))?;
    Segment::from_bytes(raw).map_err(|err| StoreError::Corrupt(err.to_string()))
}

pub(super) fn insert_segment(
    table: &mut redb::Table<(u32, u64, u32), &[u8]>,
    root: RootId,
    id: u64,
    bytes: &[u8],
) -> Result<()> {
    for (index, chunk) in bytes.chunks(SEGMENT_CHUNK).enumerate() {
        table.insert((root, id, index as u32), chunk)?;
    }
    Ok(())
}

pub(super) fn remove_segment(
    table: &mut redb::Table<(u32, u64, u32), &[u8]>,
    root: RootId,
    id: u64,
) -> Result<()> {
    let mut chunks = Vec::new();
    for entry in table.range((root, id, 0)..=(root, id, u32::MAX))? {
        chunks.push(entry?.0.value());
    }
    for key in chunks {
        table.remove(key)?;
    }
    Ok(())
}

/// The id of a content `path` holds: every referenced content has one.
pub(super) fn content_id(
    ids: &impl ReadableTable<&'static [u8], u32>,
    hash: &ContentHash,
    path: &str,
) -> Result<u32> {
    ids.get(hash.as_slice())?
        .map(|id| id.value())
        .ok_or_else(|| StoreError::Corrupt(format!("content {} of {path} has no id", hex(hash))))
}

/// Stores `bytes` in pieces under `id` (at least one piece, so an empty value is there
/// too), sized to fill the table's last leaf as `fill` says it stands (see [`PAGE`]).
pub(super) fn put_pieces(
    table: &mut redb::Table<(u32, u32), &[u8]>,
    id: u32,
    bytes: &[u8],
    fill: &LeafFill,
) -> Result<()> {
    use std::sync::atomic::Ordering::Relaxed;
    let mut used = fill.0.load(Relaxed);
    let mut rest = bytes;
    let mut index = 0u32;
    loop {
        let room = PAGE.saturating_sub(used + PAIR_OVERHEAD);
        let take = if rest.len() <= room {
            rest.len()
        } else if room >= SMALLEST_SPLIT {
            room
        } else {
            // Too large for what is left of the leaf: redb starts a new one with it.
            used = LEAF_HEADER;
            rest.len().min(LARGEST_PIECE)
        };
        let (piece, after) = rest.split_at(take);
        table.insert((id, index), piece)?;
        used += PAIR_OVERHEAD + take;
        index += 1;
        rest = after;
        if rest.is_empty() {
            break;
        }
    }
    fill.0.store(used, Relaxed);
    Ok(())
}

/// `use_value` applied to the value stored in pieces under `id`, if any: on the stored bytes
/// themselves when the value is one piece, else on the pieces put together.
pub(super) fn with_pieces<T>(
    table: &impl ReadableTable<(u32, u32), &'static [u8]>,
    id: u32,
    use_value: impl FnOnce(&[u8]) -> Result<T>,
) -> Result<Option<T>> {
    let mut pieces = table.range((id, 0)..=(id, u32::MAX))?;
    let Some(first) = pieces.next() else {
        return Ok(None);
    };
    let first = first?.1;
    let Some(second) = pieces.next() else {
        return use_value(first.value()).map(Some);
    };
    let mut bytes = Vec::with_capacity(first.value().len() * 4);
    bytes.extend_from_slice(first.value());
    bytes.extend_from_slice(second?.1.value());
    for piece in pieces {
        bytes.extend_from_slice(piece?.1.value());
    }
    use_value(&bytes).map(Some)
}

/// Whether a value is stored under `id`.
pub(super) fn has_pieces(
    table: &impl ReadableTable<(u32, u32), &'static [u8]>,
    id: u32,
) -> Result<bool> {
    Ok(table.get((id, 0))?.is_some())
}

/// Size in bytes of the value stored under `id` (0 if none).
pub(super) fn pieces_len(
    table: &impl ReadableTable<(u32, u32), &'static [u8]>,
    id: u32,
) -> Result<u64> {
    let mut len = 0u64;
    for entry in table.range((id, 0)..=(id, u32::MAX))? {
        len += entry?.1.value().len() as u64;
    }
    Ok(len)
}

/// Contents settled at a higher zstd level (see [`super::settle`]) are kept under their id
/// with this bit set: after every key the indexer writes, so settling appends to the end of
/// the table, whose leaves then fill up end to end (rewriting a content under its own key
/// leaves every leaf it shrank partly empty, and the file no smaller). Content ids stay
/// below it.
pub(super) const SETTLED_BIT: u32 = 1 << 31;

/// `use_value` applied to content `id`'s compressed bytes, under its settled key or else its
/// id (one lookup for a settled content, the usual case once the store is quiet).
pub(super) fn with_content<T>(
    blobs: &impl ReadableTable<(u32, u32), &'static [u8]>,
    id: u32,
    mut use_value: impl FnMut(&[u8]) -> Result<T>,
) -> Result<Option<T>> {
    if id < SETTLED_BIT
        && let Some(value) = with_pieces(blobs, id | SETTLED_BIT, &mut use_value)?
    {
        return Ok(Some(value));
    }
    with_pieces(blobs, id, use_value)
}

/// Size in bytes of content `id`'s compressed bytes, under its settled key or else its id.
pub(super) fn content_len(
    blobs: &impl ReadableTable<(u32, u32), &'static [u8]>,
    id: u32,
) -> Result<u64> {
    if id < SETTLED_BIT {
        let settled = pieces_len(blobs, id | SETTLED_BIT)?;
        if settled > 0 {
            return Ok(settled);
        }
    }
    pieces_len(blobs, id)
}

/// Removes the value stored under `id`.
pub(super) fn remove_pieces(table: &mut redb::Table<(u32, u32), &[u8]>, id: u32) -> Result<()> {
    table.retain_in((id, 0)..=(id, u32::MAX), |_, _| false)?;
    Ok(())
}
