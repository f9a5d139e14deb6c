//! The persistent index: one redb database file holding registered roots, per-file metadata,
//! zstd-compressed file contents and the trigram index, plus the in-memory view of that index
//! that queries use.
//!
//! Contents are stored once per distinct content hash (blake3) with a reference count, so the
//! same file in two roots or worktrees costs one blob. Every change to a root goes through
//! [`Store::apply`], one transaction per batch, which also writes one trigram segment for the
//! batch's new documents; a background merger combines segments (dropping dead documents).
//! [`Store::view`] pairs a read transaction with the matching in-memory index, so a query sees
//! one consistent state. The store never walks the filesystem and never decides what to
//! index; the indexer does that.

mod cache;
mod records;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use crate::symbols::{Definition, FileSymbols};
use crate::trigram::index::Doc;
use crate::trigram::{RootIndex, Segment};
use codesage_shared::protocol::StoreSpace;

use redb::{
    Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, TableDefinition,
};

pub use cache::{CacheStats, ContentCache};
pub use records::{
    ContentHash, FileRecord, LineCounts, RACY_WINDOW_NS, RootId, RootRecord, SkipReason,
};

/// Version of the layout written by this build. Opening a store written by a newer version is
/// refused; older versions are migrated: file records are dropped and rebuilt by the start-up
/// reconciliation, roots kept (versions 1 and 2 had no or differently stored trigram
/// segments, version 3 no symbols).
pub const SCHEMA_VERSION: u32 = 4;

/// A root's segments are merged once a size tier holds this many of them.
const MERGE_FANOUT: usize = 4;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const ROOTS: TableDefinition<u32, &[u8]> = TableDefinition::new("roots");
const FILES: TableDefinition<(u32, &str), &[u8]> = TableDefinition::new("files");
const BLOBS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blobs");
const BLOB_REFS: TableDefinition<&[u8], u32> = TableDefinition::new("blob_refs");
/// Segments are stored compressed, in chunks just under 1 MiB: redb rounds a value's pages up
/// to a power of two, which for one large value could waste almost half of it.
const SEGMENTS: TableDefinition<(u32, u64, u32), &[u8]> = TableDefinition::new("segments");
const SEGMENT_CHUNK: usize = (1 << 20) - (4 << 10);
const COUNTERS: TableDefinition<(u32, &str), u64> = TableDefinition::new("counters");
/// Content hash → encoded [`FileSymbols`], stored and dropped with the content's blob.
const SYMBOLS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("symbols");
const NEXT_DOC: &str = "next_doc";
const NEXT_SEGMENT: &str = "next_segment";

const SCHEMA_KEY: &str = "schema_version";
const TRIGRAM_KEY: &str = "trigram_index";
const SYMBOLS_KEY: &str = "symbols";
const EXTRACTOR_KEY: &str = "symbols_extractor";

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

/// A file's parsed structure, as the indexer hands it to the store.
#[derive(Debug, Clone)]
pub struct ParsedSymbols {
    /// [`FileSymbols::encode`]d, for the SYMBOLS table.
    pub encoded: Vec<u8>,
    /// The in-memory summary, for the document table.
    pub definitions: Option<Arc<[Definition]>>,
}

impl ParsedSymbols {
    /// Prepares `symbols` for storage.
    pub fn new(symbols: &FileSymbols) -> ParsedSymbols {
        ParsedSymbols {
            encoded: symbols.encode(),
            definitions: symbols.definitions(),
        }
    }
}

/// Something went wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the database.
    #[error(
        "the store {path} is in use by another process (is another codesaged running with a \
         different socket?); stop it with `codesage stop` or use another --data-dir"
    )]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// The database was written by a newer CodeSage.
    #[error(
        "the store {path} has schema version {found}, newer than this codesaged supports \
         ({supported}); upgrade CodeSage, or move the file away to start a fresh index"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Version found in the file.
        found: u32,
        /// Newest version this build reads.
        supported: u32,
    },
    /// A record could not be decoded.
    #[error("corrupt record in the store: {0}; run `codesage reindex` to rebuild it")]
    Corrupt(String),
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// redb reported an error.
    #[error("store error: {0}")]
    Db(#[from] redb::Error),
}

macro_rules! from_redb {
    ($($error:ty),*) => {$(
        impl From<$error> for StoreError {
            fn from(err: $error) -> Self {
                StoreError::Db(err.into())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Result alias for store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One change to a root's index, applied by [`Store::apply`].
#[derive(Debug)]
pub enum FileChange {
    /// The file is new or changed. `blob` is its zstd-compressed content; `None` when the
    /// record says the file is skipped (binary, too large) or when the content hash is known
    /// to be stored already.
    Upsert {
        /// Path relative to the root, `/`-separated.
        path: String,
        /// Its metadata (its `doc_id` is assigned here).
        record: FileRecord,
        /// Compressed content, if it must be stored.
        blob: Option<Vec<u8>>,
        /// The content's distinct trigrams, whenever the content differs from the record's
        /// previous one.
        trigrams: Option<Vec<u32>>,
        /// The content's parsed structure, whenever the content differs from the record's
        /// previous one and the language has a grammar.
        symbols: Option<ParsedSymbols>,
    },
    /// The file is gone or now ignored.
    Remove {
        /// Path relative to the root.
        path: String,
    },
}

/// The current index of one root. Writers replace it under the write lock while they
/// commit, so a reader that takes the read lock gets a read transaction and an index that
/// match.
#[derive(Default)]
struct RootView {
    current: parking_lot::RwLock<Arc<RootIndex>>,
}

/// A consistent read-only state of one root: store contents and trigram index.
pub struct View {
    /// The store at the moment of the view.
    pub snapshot: Snapshot,
    /// The root's index at the same moment.
    pub index: Arc<RootIndex>,
    /// Whether the index has trigram segments (otherwise every document is a candidate).
    pub trigram_index: bool,
    cache: Option<Arc<ContentCache>>,
}

impl View {
    /// The decompressed content with hash `hash`, through the content cache.
    pub fn content(&self, hash: &ContentHash) -> Result<Option<Arc<[u8]>>> {
        if let Some(cached) = self.cache.as_ref().and_then(|cache| cache.get(hash)) {
            return Ok(Some(cached));
        }
        let Some(content) = self.snapshot.content(hash)? else {
            return Ok(None);
        };
        let content: Arc<[u8]> = Arc::from(content);
        if let Some(cache) = &self.cache {
            cache.insert(*hash, Arc::clone(&content));
        }
        Ok(Some(content))
    }
}

/// The open store.
pub struct Store {
    /// Transactions begin under the read lock; compaction, which needs the database to
    /// itself, takes the write lock.
    db: parking_lot::RwLock<Database>,
    path: PathBuf,
    views: parking_lot::RwLock<HashMap<RootId, Arc<RootView>>>,
    /// Work for the maintenance thread (merges, compaction).
    merge_requests: parking_lot::Mutex<Option<crossbeam_channel::Sender<Maintenance>>>,
    /// A compaction is due once the store is idle.
    compaction_wanted: std::sync::atomic::AtomicBool,
    merger: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// What is kept besides records and contents.
    layout: Layout,
    /// Decompressed contents of recently searched files.
    cache: Option<Arc<ContentCache>>,
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`, caching up to `cache_bytes` of
    /// database pages in memory.
    pub fn open(data_dir: &Path, cache_bytes: usize) -> Result<Store> {
        Store::open_with(data_dir, cache_bytes, Layout::default())
    }

    /// Like [`Store::open`], choosing what is kept besides records and contents (see
    /// [`Layout`]).
    pub fn open_with(data_dir: &Path, cache_bytes: usize, layout: Layout) -> Result<Store> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(codesage_shared::paths::STORE_FILE_NAME);
        let db = match Database::builder()
            .set_cache_size(cache_bytes)
            .create(&path)
        {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::Locked { path });
            }
            Err(err) => return Err(err.into()),
        };
        let store = Store {
            db: parking_lot::RwLock::new(db),
            path,
            views: parking_lot::RwLock::new(HashMap::new()),
            merge_requests: parking_lot::Mutex::new(None),
            merger: parking_lot::Mutex::new(None),
            compaction_wanted: std::sync::atomic::AtomicBool::new(false),
            layout,
            cache: None,
        };
        store.check_schema()?;
        store.load_views()?;
        Ok(store)
    }

    /// Keeps up to `bytes` of decompressed contents in memory for searches (0: none).
    pub fn with_content_cache(mut self, bytes: u64) -> Store {
        self.cache = (bytes > 0).then(|| Arc::new(ContentCache::new(bytes)));
        self
    }

    /// Figures of the content cache, if there is one.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_ref().map(|cache| cache.stats())
    }

    /// Rebuilds every root's in-memory index from the stored records and segments.
    fn load_views(&self) -> Result<()> {
        let txn = self.db.read().begin_read()?;
        let files = txn.open_table(FILES)?;
        let segments = txn.open_table(SEGMENTS)?;
        let symbols = txn.open_table(SYMBOLS)?;
        let mut indexes: HashMap<RootId, RootIndex> = HashMap::new();
        // The same content in several places shares one decoded summary.
        let mut definitions: HashMap<ContentHash, Option<Arc<[Definition]>>> = HashMap::new();
        for entry in files.iter()? {
            let (key, value) = entry?;
            let (root, path) = key.value();
            let record: FileRecord = decode(value.value())?;
            if let Some(id) = record.doc_id {
                let defined = match definitions.get(&record.hash) {
                    Some(known) => known.clone(),
                    None => {
                        let decoded = stored_definitions(&symbols, &record.hash)?;
                        definitions.insert(record.hash, decoded.clone());
                        decoded
                    }
                };
                indexes.entry(root).or_default().docs.set(
                    id,
                    Some(Doc {
                        path: path.into(),
                        hash: record.hash,
                        language: record.language.as_str().into(),
                        definitions: defined,
                    }),
                );
            }
        }
        // Chunks come in key order: (root, segment, chunk).
        let mut pending: Option<((u32, u64), Vec<u8>)> = None;
        let finish = |pending: Option<((u32, u64), Vec<u8>)>,
                      indexes: &mut HashMap<RootId, RootIndex>|
         -> Result<()> {
            if let Some(((root, id), bytes)) = pending {
                let segment = decode_segment(&bytes)?;
                indexes
                    .entry(root)
                    .or_default()
                    .segments
                    .push((id, Arc::new(segment)));
            }
            Ok(())
        };
        for entry in segments.iter()? {
            let (key, value) = entry?;
            let (root, id, _chunk) = key.value();
            match &mut pending {
                Some((current, bytes)) if *current == (root, id) => {
                    bytes.extend_from_slice(value.value());
                }
                _ => {
                    finish(pending.take(), &mut indexes)?;
                    pending = Some(((root, id), value.value().to_vec()));
                }
            }
        }
        finish(pending.take(), &mut indexes)?;
        let mut views = self.views.write();
        for (root, index) in indexes {
            views.insert(
                root,
                Arc::new(RootView {
                    current: parking_lot::RwLock::new(Arc::new(index)),
                }),
            );
        }
        Ok(())
    }

    fn root_view(&self, root: RootId) -> Arc<RootView> {
        if let Some(view) = self.views.read().get(&root) {
            return Arc::clone(view);
        }
        Arc::clone(self.views.write().entry(root).or_default())
    }

    /// A consistent read-only state of `root`: a read transaction and the index that matches
    /// it.
    pub fn view(&self, root: RootId) -> Result<View> {
        let view = self.root_view(root);
        let current = view.current.read();
        let snapshot = self.snapshot()?;
        Ok(View {
            snapshot,
            index: Arc::clone(&current),
            trigram_index: self.layout.trigram_index,
            cache: self.cache.clone(),
        })
    }

    /// Starts the background thread that merges segments when a root has too many.
    pub fn start_merger(self: &Arc<Self>) {
        let (sender, receiver) = crossbeam_channel::unbounded::<Maintenance>();
        let store: Weak<Store> = Arc::downgrade(self);
        let thread = std::thread::Builder::new()
            .name("store maintenance".into())
            .spawn(move || maintain(&store, &receiver));
        match thread {
            Ok(thread) => {
                *self.merge_requests.lock() = Some(sender);
                *self.merger.lock() = Some(thread);
            }
            Err(err) => tracing::warn!(error = %err, "cannot start the segment merger"),
        }
    }

    /// Stops the merger thread (after the merge it may be doing).
    pub fn stop_merger(&self) {
        self.merge_requests.lock().take();
        if let Some(thread) = self.merger.lock().take() {
            let _ = thread.join();
        }
    }

    /// Merges one tier of `root`'s segments if one is full; `true` if it merged.
    pub fn merge_once(&self, root: RootId) -> Result<bool> {
        let view = self.root_view(root);
        let index = Arc::clone(&view.current.read());
        let Some(chosen) = merge_plan(&index.segments) else {
            return Ok(false);
        };
        let parts: Vec<&Segment> = index
            .segments
            .iter()
            .filter(|(id, _)| chosen.contains(id))
            .map(|(_, segment)| segment.as_ref())
            .collect();
        let docs = index.docs.clone();
        let merged = Segment::merge(&parts, &|doc| docs.get(doc).is_some());
        let encoded = encode_segment(&merged)?;

        let txn = self.db.read().begin_write()?;
        let new_id = {
            let mut counters = txn.open_table(COUNTERS)?;
            let new_id = next_counter(&mut counters, root, NEXT_SEGMENT)?;
            let mut segments = txn.open_table(SEGMENTS)?;
            for id in &chosen {
                remove_segment(&mut segments, root, *id)?;
            }
            if merged.trigram_count() > 0 {
                insert_segment(&mut segments, root, new_id, &encoded)?;
            }
            new_id
        };
        let mut current = view.current.write();
        txn.commit()?;
        let mut next = RootIndex::clone(&current);
        next.segments.retain(|(id, _)| !chosen.contains(id));
        if merged.trigram_count() > 0 {
            next.segments.push((new_id, Arc::new(merged)));
        }
        *current = Arc::new(next);
        Ok(true)
    }

    fn check_schema(&self) -> Result<()> {
        let txn = self.db.read().begin_write()?;
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
        }
        txn.commit()?;
        Ok(())
    }

    /// Stores symbols parsed after their content (the indexer's second pass): each is kept
    /// if its content is still referenced and has none yet, and every document with that
    /// content, in every root, gets its definitions in memory. Returns how many were stored.
    pub fn add_symbols(&self, parsed: Vec<(ContentHash, ParsedSymbols)>) -> Result<usize> {
        if parsed.is_empty() {
            return Ok(0);
        }
        let mut added: HashMap<ContentHash, Option<Arc<[Definition]>>> = HashMap::new();
        let txn = self.db.read().begin_write()?;
        {
            let refs = txn.open_table(BLOB_REFS)?;
            let mut symbols = txn.open_table(SYMBOLS)?;
            for (hash, symbols_of) in parsed {
                let live = refs.get(hash.as_slice())?.is_some();
                if live && symbols.get(hash.as_slice())?.is_none() {
                    symbols.insert(hash.as_slice(), symbols_of.encoded.as_slice())?;
                    added.insert(hash, symbols_of.definitions);
                }
            }
        }
        txn.commit()?;
        let views: Vec<Arc<RootView>> = self.views.read().values().cloned().collect();
        for view in views {
            let mut current = view.current.write();
            let edits: Vec<(u32, Doc)> = current
                .docs
                .iter()
                .filter(|(_, doc)| doc.definitions.is_none())
                .filter_map(|(id, doc)| {
                    let definitions = added.get(&doc.hash)?.clone()?;
                    Some((
                        id,
                        Doc {
                            definitions: Some(definitions),
                            ..doc.clone()
                        },
                    ))
                })
                .collect();
            if edits.is_empty() {
                continue;
            }
            let mut next = RootIndex::clone(&current);
            next.generation += 1;
            for (id, doc) in edits {
                next.docs.set(id, Some(doc));
            }
            *current = Arc::new(next);
        }
        Ok(added.len())
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the database file on disk, in bytes.
    pub fn file_size(&self) -> u64 {
        std::fs::metadata(&self.path)
            .map(|meta| meta.len())
            .unwrap_or(0)
    }

    /// Where the store file's bytes go, per table (largest first).
    pub fn space(&self) -> Result<Vec<StoreSpace>> {
        let txn = self.db.read().begin_read()?;
        let mut space = vec![
            table_space("contents", &txn.open_table(BLOBS)?)?,
            table_space("content references", &txn.open_table(BLOB_REFS)?)?,
            table_space("symbols", &txn.open_table(SYMBOLS)?)?,
            table_space("trigram segments", &txn.open_table(SEGMENTS)?)?,
            table_space("file records", &txn.open_table(FILES)?)?,
        ];
        space.sort_by_key(|table| {
            std::cmp::Reverse(table.stored_bytes + table.fragmented_bytes + table.metadata_bytes)
        });
        Ok(space)
    }

    /// Gives free space back to the filesystem and defragments (cheap: tens of milliseconds
    /// for a few hundred MiB). Impossible while any transaction is open: then it says `Busy`.
    pub fn compact(&self) -> Result<Compaction> {
        let mut db = self.db.write();
        let mut outcome = Compaction::NothingToDo;
        loop {
            match db.compact() {
                Ok(true) => outcome = Compaction::Done,
                Ok(false) => return Ok(outcome),
                Err(redb::CompactionError::TransactionInProgress) => return Ok(Compaction::Busy),
                Err(err) => return Err(StoreError::Db(err.into())),
            }
        }
    }

    /// Asks the maintenance thread to compact the store once it is idle (writes leave free
    /// pages behind).
    pub fn request_compaction(&self) {
        self.compaction_wanted
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(sender) = self.merge_requests.lock().as_ref() {
            let _ = sender.send(Maintenance::Compact);
        }
    }

    /// Whether merges or a compaction are still to come (the store is still shrinking).
    pub fn maintenance_pending(&self) -> bool {
        self.compaction_wanted
            .load(std::sync::atomic::Ordering::SeqCst)
            || self
                .views
                .read()
                .values()
                .any(|view| merge_plan(&view.current.read().segments).is_some())
    }

    /// Every registered root.
    pub fn roots(&self) -> Result<Vec<RootRecord>> {
        let txn = self.db.read().begin_read()?;
        let table = txn.open_table(ROOTS)?;
        let mut roots = Vec::new();
        for entry in table.iter()? {
            let (id, value) = entry?;
            let mut record: RootRecord = decode(value.value())?;
            record.id = id.value();
            roots.push(record);
        }
        Ok(roots)
    }

    /// Registers `path` (canonical) as a root, or returns the existing registration.
    pub fn add_root(&self, path: &str, now_ms: u64) -> Result<RootRecord> {
        if let Some(existing) = self.roots()?.into_iter().find(|root| root.path == path) {
            return Ok(existing);
        }
        let txn = self.db.read().begin_write()?;
        let record = {
            let mut table = txn.open_table(ROOTS)?;
            let id = match table.last()? {
                Some((last, _)) => last.value() + 1,
                None => 1,
            };
            let record = RootRecord {
                id,
                path: path.to_string(),
                added_ms: now_ms,
                last_indexed_ms: 0,
            };
            table.insert(id, encode(&record)?.as_slice())?;
            record
        };
        txn.commit()?;
        Ok(record)
    }

    /// Saves a root's record (after an indexing run).
    pub fn update_root(&self, record: &RootRecord) -> Result<()> {
        let txn = self.db.read().begin_write()?;
        txn.open_table(ROOTS)?
            .insert(record.id, encode(record)?.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// Every file record of `root`, in path order.
    pub fn files(&self, root: RootId) -> Result<Vec<(String, FileRecord)>> {
        self.snapshot()?.files(root)
    }

    /// The file records of `root` under directory `prefix` (`""` for all), in path order.
    pub fn files_under(&self, root: RootId, prefix: &str) -> Result<Vec<(String, FileRecord)>> {
        self.snapshot()?.files_under(root, prefix)
    }

    /// Applies `changes` to `root` in one transaction: records, contents, and one trigram
    /// segment for the documents whose content is new. Returns how many segments the root has.
    pub fn apply(&self, root: RootId, changes: Vec<FileChange>) -> Result<usize> {
        if changes.is_empty() {
            return Ok(self.root_view(root).current.read().segments.len());
        }
        // Document table edits, applied to the in-memory index after the commit.
        let mut doc_edits: Vec<(u32, Option<Doc>)> = Vec::new();
        let mut new_docs: Vec<(u32, Vec<u32>)> = Vec::new();
        let txn = self.db.read().begin_write()?;
        let segment_id = {
            let mut files = txn.open_table(FILES)?;
            let mut blobs = txn.open_table(BLOBS)?;
            let mut refs = txn.open_table(BLOB_REFS)?;
            let mut counters = txn.open_table(COUNTERS)?;
            let mut symbol_table = txn.open_table(SYMBOLS)?;
            for change in changes {
                match change {
                    FileChange::Upsert {
                        path,
                        mut record,
                        blob,
                        trigrams,
                        symbols,
                    } => {
                        let old = files
                            .get((root, path.as_str()))?
                            .map(|value| decode::<FileRecord>(value.value()))
                            .transpose()?;
                        let old_hash = old.as_ref().and_then(FileRecord::stored_hash);
                        let new_hash = record.stored_hash();
                        let old_doc = old.as_ref().and_then(|old| old.doc_id);
                        record.doc_id = match new_hash {
                            None => None,
                            // Same content: same document (a re-index of unchanged files
                            // without one, e.g. after an upgrade, gets one now).
                            Some(hash) if Some(hash) == old_hash && old_doc.is_some() => old_doc,
                            Some(_) => {
                                let id = next_counter(&mut counters, root, NEXT_DOC)? as u32;
                                if self.layout.trigram_index {
                                    let trigrams = match trigrams {
                                        Some(trigrams) => trigrams,
                                        None => {
                                            content_trigrams(&blobs, &record.hash, blob.as_deref())?
                                        }
                                    };
                                    new_docs.push((id, trigrams));
                                }
                                Some(id)
                            }
                        };
                        if old_hash != new_hash {
                            if let Some(hash) = new_hash {
                                let mut tables = ContentTables {
                                    blobs: &mut blobs,
                                    refs: &mut refs,
                                    symbols: &mut symbol_table,
                                };
                                tables.add_ref(
                                    &hash,
                                    blob.as_deref(),
                                    symbols.as_ref().map(|parsed| parsed.encoded.as_slice()),
                                )?;
                            }
                            if let Some(hash) = old_hash {
                                ContentTables {
                                    blobs: &mut blobs,
                                    refs: &mut refs,
                                    symbols: &mut symbol_table,
                                }
                                .drop_ref(&hash)?;
                            }
                        }
                        let kept_doc = old_doc.is_some() && record.doc_id == old_doc;
                        if let Some(old_doc) = old_doc
                            && !kept_doc
                        {
                            doc_edits.push((old_doc, None));
                        }
                        if let Some(id) = record.doc_id
                            && !kept_doc
                        {
                            let definitions = match symbols {
                                Some(parsed) => parsed.definitions,
                                None => stored_definitions(&symbol_table, &record.hash)?,
                            };
                            doc_edits.push((
                                id,
                                Some(Doc {
                                    path: path.as_str().into(),
                                    hash: record.hash,
                                    language: record.language.as_str().into(),
                                    definitions,
                                }),
                            ));
                        }
                        files.insert((root, path.as_str()), encode(&record)?.as_slice())?;
                    }
                    FileChange::Remove { path } => {
                        let old = files
                            .remove((root, path.as_str()))?
                            .map(|value| decode::<FileRecord>(value.value()))
                            .transpose()?;
                        if let Some(old) = &old {
                            if let Some(hash) = old.stored_hash() {
                                ContentTables {
                                    blobs: &mut blobs,
                                    refs: &mut refs,
                                    symbols: &mut symbol_table,
                                }
                                .drop_ref(&hash)?;
                            }
                            if let Some(doc) = old.doc_id {
                                doc_edits.push((doc, None));
                            }
                        }
                    }
                }
            }
            if new_docs.is_empty() {
                None
            } else {
                Some(next_counter(&mut counters, root, NEXT_SEGMENT)?)
            }
        };
        let segment = segment_id.map(|id| (id, Segment::build(&new_docs)));
        if let Some((id, segment)) = &segment {
            let mut segments = txn.open_table(SEGMENTS)?;
            insert_segment(&mut segments, root, *id, &encode_segment(segment)?)?;
        }
        let view = self.root_view(root);
        let mut current = view.current.write();
        txn.commit()?;
        let mut next = RootIndex::clone(&current);
        next.generation += 1;
        for (id, doc) in doc_edits {
            next.docs.set(id, doc);
        }
        if let Some((id, segment)) = segment {
            next.segments.push((id, Arc::new(segment)));
        }
        let segments = next.segments.len();
        let wants_merge = merge_plan(&next.segments).is_some();
        *current = Arc::new(next);
        drop(current);
        if wants_merge && let Some(sender) = self.merge_requests.lock().as_ref() {
            let _ = sender.send(Maintenance::Merge(root));
        }
        Ok(segments)
    }

    /// A consistent read-only view of the whole store.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let txn = self.db.read().begin_read()?;
        let files = txn.open_table(FILES)?;
        let blobs = txn.open_table(BLOBS)?;
        let symbols = txn.open_table(SYMBOLS)?;
        Ok(Snapshot {
            _txn: txn,
            files,
            blobs,
            symbols,
        })
    }
}

/// The tables holding one entry per distinct content, reference-counted together: a content
/// and its symbols are stored with its first reference and dropped with its last.
struct ContentTables<'a, 'txn> {
    blobs: &'a mut redb::Table<'txn, &'static [u8], &'static [u8]>,
    refs: &'a mut redb::Table<'txn, &'static [u8], u32>,
    symbols: &'a mut redb::Table<'txn, &'static [u8], &'static [u8]>,
}

impl ContentTables<'_, '_> {
    fn add_ref(
        &mut self,
        hash: &ContentHash,
        blob: Option<&[u8]>,
        symbols: Option<&[u8]>,
    ) -> Result<()> {
        let count = self
            .refs
            .get(hash.as_slice())?
            .map(|v| v.value())
            .unwrap_or(0);
        if count == 0 {
            let Some(blob) = blob else {
                return Err(StoreError::Corrupt(format!(
                    "content {} is referenced but was neither stored nor supplied",
                    hex(hash)
                )));
            };
            self.blobs.insert(hash.as_slice(), blob)?;
        }
        // Stored content may still lack symbols (the indexer parses in a second pass).
        if let Some(symbols) = symbols
            && self.symbols.get(hash.as_slice())?.is_none()
        {
            self.symbols.insert(hash.as_slice(), symbols)?;
        }
        self.refs.insert(hash.as_slice(), count + 1)?;
        Ok(())
    }

    fn drop_ref(&mut self, hash: &ContentHash) -> Result<()> {
        let count = self
            .refs
            .get(hash.as_slice())?
            .map(|v| v.value())
            .unwrap_or(0);
        if count <= 1 {
            self.refs.remove(hash.as_slice())?;
            self.blobs.remove(hash.as_slice())?;
            self.symbols.remove(hash.as_slice())?;
        } else {
            self.refs.insert(hash.as_slice(), count - 1)?;
        }
        Ok(())
    }
}

/// The in-memory summary of the symbols stored for `hash`, if any.
fn stored_definitions(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    hash: &ContentHash,
) -> Result<Option<Arc<[Definition]>>> {
    let Some(value) = table.get(hash.as_slice())? else {
        return Ok(None);
    };
    let symbols = FileSymbols::decode(value.value())
        .ok_or_else(|| StoreError::Corrupt(format!("symbols of content {}", hex(hash))))?;
    Ok(symbols.definitions())
}

/// A consistent read-only view of the store (a redb read transaction).
pub struct Snapshot {
    // Kept alive for as long as the tables opened from it are used.
    _txn: ReadTransaction,
    files: ReadOnlyTable<(u32, &'static str), &'static [u8]>,
    blobs: ReadOnlyTable<&'static [u8], &'static [u8]>,
    symbols: ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl Snapshot {
    /// Every file record of `root`, in path order.
    pub fn files(&self, root: RootId) -> Result<Vec<(String, FileRecord)>> {
        let mut out = Vec::new();
        for entry in self.files.range((root, "")..(root + 1, ""))? {
            let (key, value) = entry?;
            out.push((key.value().1.to_string(), decode(value.value())?));
        }
        Ok(out)
    }

    /// The file records of `root` under directory `prefix` (`""` for all), in path order.
    pub fn files_under(&self, root: RootId, prefix: &str) -> Result<Vec<(String, FileRecord)>> {
        if prefix.is_empty() {
            return self.files(root);
        }
        // Every path under `a/b` sorts between `a/b/` and `a/b0` ('0' follows '/').
        let start = format!("{prefix}/");
        let end = format!("{prefix}0");
        let mut out = Vec::new();
        for entry in self
            .files
            .range((root, start.as_str())..(root, end.as_str()))?
        {
            let (key, value) = entry?;
            out.push((key.value().1.to_string(), decode(value.value())?));
        }
        Ok(out)
    }

    /// One file's record.
    pub fn file(&self, root: RootId, path: &str) -> Result<Option<FileRecord>> {
        self.files
            .get((root, path))?
            .map(|value| decode(value.value()))
            .transpose()
    }

    /// The decompressed content with hash `hash`, if stored.
    pub fn content(&self, hash: &ContentHash) -> Result<Option<Vec<u8>>> {
        let Some(blob) = self.blobs.get(hash.as_slice())? else {
            return Ok(None);
        };
        zstd::stream::decode_all(blob.value())
            .map(Some)
            .map_err(|err| StoreError::Corrupt(format!("content {}: {err}", hex(hash))))
    }

    /// The parsed structure of the content with hash `hash`, if it was parsed.
    pub fn symbols(&self, hash: &ContentHash) -> Result<Option<FileSymbols>> {
        let Some(value) = self.symbols.get(hash.as_slice())? else {
            return Ok(None);
        };
        FileSymbols::decode(value.value())
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt(format!("symbols of content {}", hex(hash))))
    }

    /// Size in bytes of the stored symbols of the content with hash `hash`.
    pub fn symbols_len(&self, hash: &ContentHash) -> Result<u64> {
        Ok(self
            .symbols
            .get(hash.as_slice())?
            .map(|value| value.value().len() as u64)
            .unwrap_or(0))
    }

    /// Size in bytes of the compressed blob with hash `hash`.
    pub fn blob_len(&self, hash: &ContentHash) -> Result<u64> {
        Ok(self
            .blobs
            .get(hash.as_slice())?
            .map(|blob| blob.value().len() as u64)
            .unwrap_or(0))
    }
}

/// What compacting the store did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compaction {
    /// Pages were given back.
    Done,
    /// There was nothing to give back.
    NothingToDo,
    /// A transaction was open; try again later.
    Busy,
}

/// Work for the maintenance thread.
enum Maintenance {
    /// Merge `root`'s segments while a tier is full.
    Merge(RootId),
    /// Compact once idle.
    Compact,
}

/// How long the store must be quiet before the maintenance thread compacts it.
const IDLE_BEFORE_COMPACTION: std::time::Duration = std::time::Duration::from_secs(1);

/// The maintenance thread: merges segments when asked, and compacts the store after writes
/// once no request came for a while, retrying while transactions keep it busy.
fn maintain(store: &Weak<Store>, requests: &crossbeam_channel::Receiver<Maintenance>) {
    use std::sync::atomic::Ordering;
    loop {
        let request = match requests.recv_timeout(IDLE_BEFORE_COMPACTION) {
            Ok(request) => Some(request),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
        };
        let Some(store) = store.upgrade() else { return };
        match request {
            Some(Maintenance::Merge(root)) => loop {
                match store.merge_once(root) {
                    Ok(true) => store.compaction_wanted.store(true, Ordering::SeqCst),
                    Ok(false) => break,
                    Err(err) => {
                        tracing::warn!(root, error = %err, "segment merge failed");
                        break;
                    }
                }
            },
            Some(Maintenance::Compact) => {}
            None => {
                if store.compaction_wanted.load(Ordering::SeqCst) {
                    let before = store.file_size();
                    match store.compact() {
                        Ok(Compaction::Busy) => {}
                        Ok(outcome) => {
                            store.compaction_wanted.store(false, Ordering::SeqCst);
                            if outcome == Compaction::Done {
                                tracing::info!(
                                    before,
                                    after = store.file_size(),
                                    "compacted the store"
                                );
                            }
                        }
                        Err(err) => {
                            store.compaction_wanted.store(false, Ordering::SeqCst);
                            tracing::warn!(error = %err, "store compaction failed");
                        }
                    }
                }
            }
        }
    }
}

/// Takes the next value of a per-root counter.
fn next_counter(
    counters: &mut redb::Table<(u32, &str), u64>,
    root: RootId,
    name: &str,
) -> Result<u64> {
    let value = counters.get((root, name))?.map(|v| v.value()).unwrap_or(1);
    counters.insert((root, name), value + 1)?;
    Ok(value)
}

/// The trigrams of content the caller did not analyse (only reached when a file's document id
/// must be created for content already stored).
fn table_space<K: redb::Key + 'static, V: redb::Value + 'static>(
    name: &str,
    table: &ReadOnlyTable<K, V>,
) -> Result<StoreSpace> {
    let stats = table.stats()?;
    Ok(StoreSpace {
        name: name.to_string(),
        entries: table.len()?,
        stored_bytes: stats.stored_bytes(),
        fragmented_bytes: stats.fragmented_bytes(),
        metadata_bytes: stats.metadata_bytes(),
    })
}

fn content_trigrams(
    blobs: &redb::Table<&[u8], &[u8]>,
    hash: &ContentHash,
    blob: Option<&[u8]>,
) -> Result<Vec<u32>> {
    let compressed = match blob {
        Some(blob) => blob.to_vec(),
        None => blobs
            .get(hash.as_slice())?
            .map(|value| value.value().to_vec())
            .ok_or_else(|| StoreError::Corrupt(format!("content {} is missing", hex(hash))))?,
    };
    let content = zstd::stream::decode_all(compressed.as_slice())
        .map_err(|err| StoreError::Corrupt(format!("content {}: {err}", hex(hash))))?;
    Ok(crate::trigram::trigrams(&content))
}

fn insert_segment(
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

fn remove_segment(
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

fn encode_segment(segment: &Segment) -> Result<Vec<u8>> {
    zstd::bulk::compress(segment.bytes(), 1)
        .map_err(|err| StoreError::Corrupt(format!("cannot compress a segment: {err}")))
}

fn decode_segment(bytes: &[u8]) -> Result<Segment> {
    let raw = zstd::stream::decode_all(bytes)
        .map_err(|err| StoreError::Corrupt(format!("trigram segment: {err}")))?;
    Segment::from_bytes(raw).map_err(|err| StoreError::Corrupt(err.to_string()))
}

/// The segments to merge next: every segment of the first size tier (by powers of
/// [`MERGE_FANOUT`] in documents) that holds at least [`MERGE_FANOUT`] of them.
fn merge_plan(segments: &[(u64, Arc<Segment>)]) -> Option<Vec<u64>> {
    let tier = |segment: &Segment| {
        let mut docs = u64::from(segment.docs().max(1));
        let mut tier = 0u32;
        while docs >= MERGE_FANOUT as u64 {
            docs /= MERGE_FANOUT as u64;
            tier += 1;
        }
        tier
    };
    let mut tiers: HashMap<u32, Vec<u64>> = HashMap::new();
    for (id, segment) in segments {
        tiers.entry(tier(segment)).or_default().push(*id);
    }
    let mut full: Vec<(u32, Vec<u64>)> = tiers
        .into_iter()
        .filter(|(_, ids)| ids.len() >= MERGE_FANOUT)
        .collect();
    full.sort_by_key(|(tier, _)| *tier);
    full.into_iter().next().map(|(_, ids)| ids)
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|err| StoreError::Corrupt(err.to_string()))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|err| StoreError::Corrupt(err.to_string()))
}

fn decode_u32(bytes: &[u8]) -> Result<u32> {
    let array: [u8; 4] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("schema version is not 4 bytes".into()))?;
    Ok(u32::from_le_bytes(array))
}

use crate::hash::short_hex as hex;

#[cfg(test)]
impl Store {
    /// (path, definition name) of every document of `root` in memory, sorted.
    pub(crate) fn definition_names(&self, root: RootId) -> Vec<(String, String)> {
        let view = self.view(root).expect("view");
        let mut names: Vec<(String, String)> = view
            .index
            .docs
            .iter()
            .flat_map(|(_, doc)| {
                doc.definitions
                    .iter()
                    .flat_map(|definitions| definitions.iter())
                    .map(|definition| (doc.path.to_string(), definition.name.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(content: &[u8]) -> (FileRecord, Vec<u8>) {
        let record = FileRecord {
            size: content.len() as u64,
            mtime_ns: 1,
            hash: *blake3::hash(content).as_bytes(),
            language: "Rust".into(),
            lines: LineCounts::default(),
            skipped: None,
            indexed_ns: 0,
            doc_id: None,
        };
        (record, zstd::encode_all(content, 3).unwrap())
    }

    /// Stores `fn main() {}` (as made by `record`) at `main.rs` of `root`.
    fn upsert_main(store: &Store, root: RootId, rec: &FileRecord, blob: &[u8]) {
        store
            .apply(
                root,
                vec![FileChange::Upsert {
                    path: "main.rs".into(),
                    record: rec.clone(),
                    blob: Some(blob.to_vec()),
                    trigrams: Some(crate::trigram::trigrams(b"fn main() {}\n")),
                    symbols: None,
                }],
            )
            .unwrap();
    }

    #[test]
    fn contents_are_shared_and_refcounted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let a = store.add_root("/a", 0).unwrap();
        let b = store.add_root("/b", 0).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(store.add_root("/a", 5).unwrap().id, a.id, "idempotent");

        let (rec, blob) = record(b"fn main() {}\n");
        for root in [a.id, b.id] {
            upsert_main(&store, root, &rec, &blob);
        }
        let snap = store.snapshot().unwrap();
        assert_eq!(snap.content(&rec.hash).unwrap().unwrap(), b"fn main() {}\n");
        drop(snap);

        store
            .apply(
                a.id,
                vec![FileChange::Remove {
                    path: "main.rs".into(),
                }],
            )
            .unwrap();
        let snap = store.snapshot().unwrap();
        assert!(
            snap.content(&rec.hash).unwrap().is_some(),
            "still used by b"
        );
        assert!(snap.file(a.id, "main.rs").unwrap().is_none());
        drop(snap);

        store
            .apply(
                b.id,
                vec![FileChange::Remove {
                    path: "main.rs".into(),
                }],
            )
            .unwrap();
        assert!(
            store
                .snapshot()
                .unwrap()
                .content(&rec.hash)
                .unwrap()
                .is_none(),
            "last reference gone"
        );
    }

    #[test]
    fn symbols_live_and_die_with_their_content_and_reload_into_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let source = b"/// Doc.\nfn main() {}\nstruct Point;\n";
        let parsed = crate::symbols::extract("Rust", source).unwrap();
        let (rec, blob) = record(source);
        let upsert = |path: &str, symbols: Option<ParsedSymbols>| FileChange::Upsert {
            path: path.into(),
            record: rec.clone(),
            blob: Some(blob.clone()),
            trigrams: Some(crate::trigram::trigrams(source)),
            symbols,
        };
        let root = {
            let store = Store::open(dir.path(), 1 << 20).unwrap();
            let root = store.add_root("/r", 0).unwrap().id;
            // The second copy of the same content comes without symbols (as the indexer
            // sends it when only the path is new): its document still gets them.
            store
                .apply(
                    root,
                    vec![
                        upsert("a.rs", Some(ParsedSymbols::new(&parsed))),
                        upsert("b.rs", None),
                    ],
                )
                .unwrap();
            let expected = [
                ("a.rs".to_string(), "main".to_string()),
                ("a.rs".into(), "Point".into()),
                ("b.rs".into(), "main".into()),
                ("b.rs".into(), "Point".into()),
            ];
            let mut expected = expected.to_vec();
            expected.sort();
            assert_eq!(store.definition_names(root), expected);
            let snap = store.snapshot().unwrap();
            assert_eq!(snap.symbols(&rec.hash).unwrap().unwrap(), parsed);
            drop(snap);
            store
                .apply(
                    root,
                    vec![FileChange::Remove {
                        path: "a.rs".into(),
                    }],
                )
                .unwrap();
            root
        };
        // Reopened: definitions come back from the store.
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(
            store.definition_names(root),
            [
                ("b.rs".to_string(), "Point".to_string()),
                ("b.rs".into(), "main".into())
            ]
        );
        store
            .apply(
                root,
                vec![FileChange::Remove {
                    path: "b.rs".into(),
                }],
            )
            .unwrap();
        assert!(
            store
                .snapshot()
                .unwrap()
                .symbols(&rec.hash)
                .unwrap()
                .is_none(),
            "symbols go with the last reference"
        );
        assert!(store.definition_names(root).is_empty());
    }

    #[test]
    fn files_are_scoped_to_their_root_and_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let a = store.add_root("/a", 0).unwrap();
        let b = store.add_root("/b", 0).unwrap();
        let (rec, blob) = record(b"x");
        let upsert = |path: &str| FileChange::Upsert {
            path: path.into(),
            record: rec.clone(),
            blob: Some(blob.clone()),
            trigrams: Some(Vec::new()),
            symbols: None,
        };
        store
            .apply(a.id, vec![upsert("z.rs"), upsert("a.rs")])
            .unwrap();
        store.apply(b.id, vec![upsert("m.rs")]).unwrap();
        let names: Vec<_> = store
            .files(a.id)
            .unwrap()
            .into_iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(names, ["a.rs", "z.rs"]);
    }

    #[test]
    fn reopening_keeps_data_and_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), 1 << 20).unwrap();
            store.add_root("/kept", 0).unwrap();
        }
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(store.roots().unwrap()[0].path, "/kept");
        {
            let txn = store.db.read().begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert(SCHEMA_KEY, (SCHEMA_VERSION + 1).to_le_bytes().as_slice())
                .unwrap();
            txn.commit().unwrap();
        }
        drop(store);
        let err = Store::open(dir.path(), 1 << 20).err().unwrap();
        assert!(matches!(err, StoreError::NewerSchema { .. }), "{err}");
        assert!(err.to_string().contains("upgrade"), "{err}");
    }

    #[test]
    fn switching_the_trigram_index_drops_file_records_but_keeps_roots() {
        let dir = tempfile::tempdir().unwrap();
        let (rec, blob) = record(b"fn main() {}\n");
        {
            let store = Store::open(dir.path(), 1 << 20).unwrap();
            let root = store.add_root("/kept", 0).unwrap();
            upsert_main(&store, root.id, &rec, &blob);
            assert_eq!(store.view(root.id).unwrap().index.segments.len(), 1);
        }
        let store = Store::open_with(
            dir.path(),
            1 << 20,
            Layout {
                trigram_index: false,
                symbols: true,
            },
        )
        .unwrap();
        let roots = store.roots().unwrap();
        assert_eq!(roots.len(), 1);
        assert!(store.files(roots[0].id).unwrap().is_empty());
        let view = store.view(roots[0].id).unwrap();
        assert!(!view.trigram_index);
        assert!(view.index.segments.is_empty());
    }

    #[test]
    fn a_new_symbol_extractor_drops_file_records_so_they_are_parsed_again() {
        let dir = tempfile::tempdir().unwrap();
        let (rec, blob) = record(b"fn main() {}\n");
        let root = {
            let store = Store::open(dir.path(), 1 << 20).unwrap();
            let root = store.add_root("/kept", 0).unwrap().id;
            upsert_main(&store, root, &rec, &blob);
            root
        };
        {
            // Same extractor: records stay.
            let store = Store::open(dir.path(), 1 << 20).unwrap();
            assert_eq!(store.files(root).unwrap().len(), 1);
        }
        {
            // A store written by an older extractor.
            let db =
                Database::create(dir.path().join(codesage_shared::paths::STORE_FILE_NAME)).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert(
                    EXTRACTOR_KEY,
                    (crate::symbols::EXTRACTOR_VERSION - 1)
                        .to_le_bytes()
                        .as_slice(),
                )
                .unwrap();
            txn.commit().unwrap();
        }
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(store.roots().unwrap().len(), 1);
        assert!(store.files(root).unwrap().is_empty());
    }

    #[test]
    fn symbols_added_later_reach_every_root_holding_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let source = b"fn shared() {}\n";
        let (rec, blob) = record(source);
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let upsert = || FileChange::Upsert {
            path: "lib.rs".into(),
            record: rec.clone(),
            blob: Some(blob.clone()),
            trigrams: Some(crate::trigram::trigrams(source)),
            symbols: None,
        };
        let first = store.add_root("/one", 0).unwrap().id;
        let second = store.add_root("/two", 0).unwrap().id;
        store.apply(first, vec![upsert()]).unwrap();
        store.apply(second, vec![upsert()]).unwrap();
        let defined = |root| {
            store.view(root).unwrap().index.docs.iter().all(|(_, doc)| {
                doc.definitions
                    .as_ref()
                    .is_some_and(|defs| defs.iter().any(|def| &*def.name == "shared"))
            })
        };
        assert!(!defined(first) && !defined(second));

        let parsed = ParsedSymbols::new(&crate::symbols::extract("Rust", source).unwrap());
        let (dead, _) = record(b"fn gone() {}\n");
        let stored = store
            .add_symbols(vec![
                (rec.hash, parsed.clone()),
                (dead.hash, parsed.clone()),
            ])
            .unwrap();
        assert_eq!(
            stored, 1,
            "symbols of content nobody references are not kept"
        );
        assert!(defined(first) && defined(second));
        assert!(
            store
                .snapshot()
                .unwrap()
                .symbols(&dead.hash)
                .unwrap()
                .is_none()
        );
        // Already there: not stored twice.
        assert_eq!(store.add_symbols(vec![(rec.hash, parsed)]).unwrap(), 0);
    }

    #[test]
    fn second_open_reports_lock() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path(), 1 << 20).unwrap();
        let err = Store::open(dir.path(), 1 << 20).err().unwrap();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    }
}
