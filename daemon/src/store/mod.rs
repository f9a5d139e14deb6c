//! The persistent index: one redb database file holding registered roots, per-file metadata,
//! zstd-compressed file contents and the trigram index, plus the in-memory view of that index
//! that queries use.
//!
//! Contents are stored once per distinct content hash (blake3) with a reference count and a
//! store-wide content id, so the same file in two roots or worktrees costs one blob, one set
//! of symbols and one set of postings. Every change to a root goes through [`Store::apply`],
//! one transaction per batch, which also writes one trigram segment for the contents the batch
//! stored first; a background merger combines segments (dropping contents no root holds).
//! [`Store::view`] pairs a read transaction with the matching in-memory index, so a query sees
//! one consistent state. The store never walks the filesystem and never decides what to
//! index; the indexer does that.
//!
//! Parts: [`schema`] (tables, encodings, the version check), [`views`] (the in-memory index
//! and consistent reads), [`write`] (batches, symbols, roots), [`merge`] (segment merges and
//! compaction in the background), [`records`] (what is stored per root and file), [`cache`]
//! (decompressed contents), [`maintain`] (snapshots for backups, the integrity check).

mod cache;
mod dictionary;
mod llm_cache;
mod maintain;
mod merge;
mod records;
mod recovery;
mod repack;
mod schema;
mod settle;
#[cfg(test)]
mod tests;
mod vectors;
mod views;
mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use crate::symbols::{Definitions, FileSymbols};
use crate::trigram::index::{Doc, Segments};
use crate::trigram::{RootIndex, Segment};
use codesage_shared::protocol::StoreSpace;

use redb::{
    Database, ReadOnlyTable, ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition,
};

pub use cache::{CacheStats, ContentCache};
pub use dictionary::DecoderSet;
pub use llm_cache::CachedReply;
pub use maintain::SnapshotFigures;
pub use merge::Compaction;
pub use schema::{Layout, SCHEMA_VERSION};
pub use settle::Settled;
pub use vectors::{VectorKey, vector_key};
pub use views::{Snapshot, StoredContents, View};
pub use write::{FileChange, ParsedSymbols};
// The parts share the tables, encodings and helpers of one another.
use dictionary::DICTIONARIES;
use merge::*;
pub use records::{
    ContentHash, FileRecord, LineCounts, RACY_WINDOW_NS, RootId, RootRecord, SkipReason,
};
pub use recovery::is_io_failure;
use recovery::*;
use schema::*;
use views::*;
use write::*;

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
    /// The database file cannot be opened for writing (permissions, a read-only mount).
    #[error(
        "the store {path} cannot be written ({source}); make it and its directory writable, or \
         point CODESAGE_DATA_DIR (--data-dir) at a writable directory"
    )]
    NotWritable {
        /// The database file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
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
    /// A write failed on the file and the database cannot be reopened yet.
    #[error(
        "the store {path} cannot be used right now: a write failed ({cause}); free disk space \
         or fix the device, CodeSage retries by itself"
    )]
    Unavailable {
        /// The database file.
        path: PathBuf,
        /// Why the last attempt to open it failed.
        cause: String,
    },
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

/// What a panic of redb on a damaged file is reported as.
pub(crate) fn damaged_pages() -> redb::StorageError {
    redb::StorageError::Corrupted(
        "the database failed while reading the file (damaged pages); restore a backup or \
         move the file away to start a fresh index"
            .into(),
    )
}

/// Result alias for store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl Drop for Store {
    fn drop(&mut self) {
        // Once redb has panicked on a damaged file (caught where it was called, see
        // `damaged_pages`), its own drop panics on the lock that panic poisoned: contain it.
        let db = &mut self.db;
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: the only place the field is dropped, once; it is not used afterwards.
            unsafe { std::mem::ManuallyDrop::drop(db) }
        }));
    }
}

/// The open store.
pub struct Store {
    /// Transactions begin under the read lock; compaction, which needs the database to
    /// itself, takes the write lock. Dropped by hand (see `Drop`).
    db: std::mem::ManuallyDrop<parking_lot::RwLock<Database>>,
    path: PathBuf,
    views: parking_lot::RwLock<HashMap<RootId, Arc<RootView>>>,
    /// The store-wide trigram segments (postings of content ids). A commit that adds one
    /// takes this lock after its root's index lock and swaps both before letting go, so an
    /// index always holds segments posting every content it holds.
    segments: parking_lot::RwLock<Segments>,
    /// Work for the maintenance thread (merges, compaction).
    merge_requests: parking_lot::Mutex<Option<crossbeam_channel::Sender<Maintenance>>>,
    /// A compaction is due once the store is idle.
    compaction_wanted: std::sync::atomic::AtomicBool,
    merger: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// What is kept besides records and contents.
    layout: Layout,
    /// Decompressed contents of recently searched files.
    cache: Option<Arc<ContentCache>>,
    /// The last space figures and when they were taken (walking every table's pages is
    /// too slow for every status report or metrics scrape).
    space_cache: parking_lot::Mutex<Option<(std::time::Instant, Vec<StoreSpace>)>>,
    /// Page cache size the database is opened with (again after a failure).
    cache_bytes: usize,
    /// A write that failed on the file, until a commit succeeds again (see [`recovery`]).
    write_failure: parking_lot::Mutex<Option<WriteFailure>>,
    /// Why the index is kept in memory instead of in the file (`None`: in the file).
    in_memory_because: Option<String>,
    /// zstd level contents are settled to once the store is quiet (0: never; see
    /// [`settle`]).
    settled_level: std::sync::atomic::AtomicI32,
    /// When the last commit succeeded (or the store was opened), and when the last of
    /// settling's own did.
    last_commit: parking_lot::Mutex<std::time::Instant>,
    last_settling_commit: parking_lot::Mutex<Option<std::time::Instant>>,
    /// The last commit after which the tables were looked at for repacking (see [`repack`]).
    repack_checked: parking_lot::Mutex<Option<std::time::Instant>>,
    /// How full the last leaves of the tables stored in pieces are (see [`schema::PAGE`]).
    fills: LeafFills,
    /// The dictionaries settled contents are compressed with (see [`dictionary`]).
    dictionaries: dictionary::Dictionaries,
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
        let db = open_database(&path, cache_bytes)?;
        Store::with_database(db, path, cache_bytes, layout, None)
    }

    /// A store held in memory only, for when the file at `data_dir` cannot be written
    /// (`because` says why): the daemon keeps serving, from a copy of the file when it can
    /// be read (its roots and index, brought up to date as usual) or else from an index
    /// built afresh, and the file is left as it is. Nothing done in memory is saved.
    pub fn open_in_memory(
        data_dir: &Path,
        cache_bytes: usize,
        layout: Layout,
        because: String,
    ) -> Result<Store> {
        let path = data_dir.join(codesage_shared::paths::STORE_FILE_NAME);
        let open = |backend: redb::backends::InMemoryBackend| {
            std::panic::catch_unwind(|| {
                Database::builder()
                    .set_cache_size(cache_bytes)
                    .create_with_backend(backend)
            })
            .unwrap_or_else(|_| Err(damaged_pages().into()))
        };
        let copied = std::fs::read(&path)
            .ok()
            .filter(|bytes| !bytes.is_empty())
            .and_then(|bytes| {
                use redb::StorageBackend;
                let backend = redb::backends::InMemoryBackend::new();
                backend.set_len(bytes.len() as u64).ok()?;
                backend.write(0, &bytes).ok()?;
                open(backend).ok()
            });
        let db = match copied {
            Some(db) => db,
            None => open(redb::backends::InMemoryBackend::new()).map_err(redb::Error::from)?,
        };
        let store =
            Store::with_database(db, path.clone(), cache_bytes, layout, Some(because.clone()));
        match store {
            Ok(store) => Ok(store),
            // A copy of a file this build cannot use (damaged, another schema): start empty.
            Err(_) => {
                let db = open(redb::backends::InMemoryBackend::new()).map_err(redb::Error::from)?;
                Store::with_database(db, path, cache_bytes, layout, Some(because))
            }
        }
    }

    /// Why the index is kept in memory only (`None`: it is in the store file).
    pub fn in_memory_because(&self) -> Option<&str> {
        self.in_memory_because.as_deref()
    }

    fn with_database(
        db: Database,
        path: PathBuf,
        cache_bytes: usize,
        layout: Layout,
        in_memory_because: Option<String>,
    ) -> Result<Store> {
        let store = Store {
            db: std::mem::ManuallyDrop::new(parking_lot::RwLock::new(db)),
            path,
            views: parking_lot::RwLock::new(HashMap::new()),
            segments: parking_lot::RwLock::new(Segments::default()),
            merge_requests: parking_lot::Mutex::new(None),
            merger: parking_lot::Mutex::new(None),
            compaction_wanted: std::sync::atomic::AtomicBool::new(false),
            layout,
            cache: None,
            space_cache: parking_lot::Mutex::new(None),
            cache_bytes,
            write_failure: parking_lot::Mutex::new(None),
            in_memory_because,
            settled_level: std::sync::atomic::AtomicI32::new(0),
            // Opening counts as a commit: settling waits as long after it.
            last_commit: parking_lot::Mutex::new(std::time::Instant::now()),
            last_settling_commit: parking_lot::Mutex::new(None),
            repack_checked: parking_lot::Mutex::new(None),
            fills: LeafFills::default(),
            dictionaries: dictionary::Dictionaries::default(),
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.check_schema()?;
            store.load_dictionaries()?;
            store.load_views()
        }))
        .unwrap_or_else(|_| Err(StoreError::Db(damaged_pages().into())))?;
        Ok(store)
    }

    /// Keeps up to `bytes` of decompressed contents in memory for searches (0: none).
    pub fn with_content_cache(mut self, bytes: u64) -> Store {
        self.cache = (bytes > 0).then(|| Arc::new(ContentCache::new(bytes)));
        self
    }

    /// Empties the content cache, if there is one.
    pub fn clear_content_cache(&self) {
        if let Some(cache) = &self.cache {
            cache.clear();
        }
    }

    /// Figures of the content cache, if there is one.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_ref().map(|cache| cache.stats())
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes the database file takes on disk: its allocated blocks where the platform tells
    /// them, else its length. (redb grows a full file by doubling its length, and the new
    /// half stays unwritten — a hole, no disk space — until pages are needed: after a
    /// compaction, the next commit makes a file twice the length of what it holds.)
    pub fn file_size(&self) -> u64 {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return 0;
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            meta.len().min(meta.blocks().saturating_mul(512))
        }
        #[cfg(not(unix))]
        {
            meta.len()
        }
    }

    /// Where the store file's bytes go, per table (largest first).
    pub fn space(&self) -> Result<Vec<StoreSpace>> {
        let txn = self.begin_read()?;
        let mut space = vec![
            table_space("contents", &txn.open_table(BLOBS)?)?,
            table_space("content references", &txn.open_table(BLOB_REFS)?)?,
            table_space("content ids", &txn.open_table(CONTENT_IDS)?)?,
            table_space("symbols", &txn.open_table(SYMBOLS)?)?,
            table_space("vectors", &txn.open_table(VECTORS)?)?,
            table_space("trigram segments", &txn.open_table(SEGMENTS)?)?,
            table_space("content dictionaries", &txn.open_table(DICTIONARIES)?)?,
            table_space("file records", &txn.open_table(FILES)?)?,
        ];
        space.sort_by_key(|table| {
            std::cmp::Reverse(table.stored_bytes + table.fragmented_bytes + table.metadata_bytes)
        });
        Ok(space)
    }

    /// [`Store::space`], reusing figures taken less than `max_age` ago.
    /// Figures taken before a later commit are reused only for a couple of seconds (while
    /// commits keep coming, as when indexing), so a quiet store's figures are those of its
    /// last commit (settling and repacking change them long after indexing).
    pub fn space_recent(&self, max_age: std::time::Duration) -> Result<Vec<StoreSpace>> {
        const WHILE_COMMITTING: std::time::Duration = std::time::Duration::from_secs(2);
        let last_commit = *self.last_commit.lock();
        if let Some((taken, space)) = self.space_cache.lock().as_ref()
            && taken.elapsed() < max_age
            && (last_commit <= *taken || taken.elapsed() < WHILE_COMMITTING)
        {
            return Ok(space.clone());
        }
        let space = self.space()?;
        *self.space_cache.lock() = Some((std::time::Instant::now(), space.clone()));
        Ok(space)
    }

    /// Every registered root.
    pub fn roots(&self) -> Result<Vec<RootRecord>> {
        let txn = self.begin_read()?;
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

    /// Every file record of `root`, in path order.
    pub fn files(&self, root: RootId) -> Result<Vec<(String, FileRecord)>> {
        self.snapshot()?.files(root)
    }

    /// The file records of `root` under directory `prefix` (`""` for all), in path order.
    pub fn files_under(&self, root: RootId, prefix: &str) -> Result<Vec<(String, FileRecord)>> {
        self.snapshot()?.files_under(root, prefix)
    }
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
