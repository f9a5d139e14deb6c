//! The layout of the store file: its tables, their encodings, and the schema check that
//! refuses a newer store and rebuilds file records when the layout or the symbol extractor
//! changed (roots are kept).

use super::*;

/// Version of the layout written by this build. Opening a store written by a newer version is
/// refused; older versions are migrated: file records are dropped and rebuilt by the start-up
/// reconciliation, roots kept (versions 1 and 2 had no or differently stored trigram
/// segments, version 3 no symbols, version 4 segments per root posting document ids).
pub const SCHEMA_VERSION: u32 = 5;

pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

pub(super) const ROOTS: TableDefinition<u32, &[u8]> = TableDefinition::new("roots");

pub(super) const FILES: TableDefinition<(u32, &str), &[u8]> = TableDefinition::new("files");

pub(super) const BLOBS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blobs");

pub(super) const BLOB_REFS: TableDefinition<&[u8], u32> = TableDefinition::new("blob_refs");

/// Content hash → the content's store-wide id (what segments post), for as long as the
/// content is referenced. Ids are never reused: a content dropped and stored again gets a new
/// one, so postings of a dead id can never be mistaken for a live content.
pub(super) const CONTENT_IDS: TableDefinition<&[u8], u32> = TableDefinition::new("content_ids");

/// The owner of the store-wide segments (in SEGMENTS keys) and counters (in COUNTERS keys):
/// root ids start at 1.
pub(super) const SHARED: RootId = 0;

/// Segments (owned by [`SHARED`]) are stored compressed, in chunks just under 1 MiB: redb rounds a value's pages up
/// to a power of two, which for one large value could waste almost half of it.
pub(super) const SEGMENTS: TableDefinition<(u32, u64, u32), &[u8]> =
    TableDefinition::new("segments");

pub(super) const SEGMENT_CHUNK: usize = (1 << 20) - (4 << 10);

pub(super) const COUNTERS: TableDefinition<(u32, &str), u64> = TableDefinition::new("counters");

/// Content hash → encoded [`FileSymbols`], stored and dropped with the content's blob.
pub(super) const SYMBOLS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("symbols");

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
                Some(old) => {
                    tracing::info!(
                        from = old,
                        to = SCHEMA_VERSION,
                        "upgrading the store; file records are rebuilt by the next indexing run"
                    );
                    txn.delete_table(FILES)?;
                    txn.delete_table(BLOBS)?;
                    txn.delete_table(BLOB_REFS)?;
                    txn.delete_table(SEGMENTS)?;
                    txn.delete_table(COUNTERS)?;
                    txn.delete_table(SYMBOLS)?;
                    txn.delete_table(CONTENT_IDS)?;
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
    zstd::bulk::compress(segment.bytes(), 1)
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
