//! The persistent index: one redb database file holding registered roots, per-file metadata
//! and zstd-compressed file contents.
//!
//! Contents are stored once per distinct content hash (blake3) with a reference count, so the
//! same file in two roots or worktrees costs one blob. Every change to a root goes through
//! [`Store::apply`], one transaction per batch. The store never walks the filesystem and never
//! decides what to index; the indexer does that.

mod records;

use std::path::{Path, PathBuf};

use redb::{
    Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
};

pub use records::{
    ContentHash, FileRecord, LineCounts, RACY_WINDOW_NS, RootId, RootRecord, SkipReason,
};

/// Version of the layout written by this build. Opening a store written by a newer version is
/// refused; older versions are migrated (none exist yet).
pub const SCHEMA_VERSION: u32 = 1;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const ROOTS: TableDefinition<u32, &[u8]> = TableDefinition::new("roots");
const FILES: TableDefinition<(u32, &str), &[u8]> = TableDefinition::new("files");
const BLOBS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blobs");
const BLOB_REFS: TableDefinition<&[u8], u32> = TableDefinition::new("blob_refs");

const SCHEMA_KEY: &str = "schema_version";

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
        /// Its metadata.
        record: FileRecord,
        /// Compressed content, if it must be stored.
        blob: Option<Vec<u8>>,
    },
    /// The file is gone or now ignored.
    Remove {
        /// Path relative to the root.
        path: String,
    },
}

/// The open store.
pub struct Store {
    /// Transactions begin under the read lock; compaction, which needs the database to
    /// itself, takes the write lock.
    db: parking_lot::RwLock<Database>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`, caching up to `cache_bytes` of
    /// database pages in memory.
    pub fn open(data_dir: &Path, cache_bytes: usize) -> Result<Store> {
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
        };
        store.check_schema()?;
        Ok(store)
    }

    fn check_schema(&self) -> Result<()> {
        let txn = self.db.read().begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let found = meta
                .get(SCHEMA_KEY)?
                .map(|value| decode_u32(value.value()))
                .transpose()?;
            match found {
                Some(found) if found > SCHEMA_VERSION => {
                    return Err(StoreError::NewerSchema {
                        path: self.path.clone(),
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                Some(_) => {}
                None => {
                    meta.insert(SCHEMA_KEY, SCHEMA_VERSION.to_le_bytes().as_slice())?;
                }
            }
            // Create every table so read transactions never meet a missing one.
            txn.open_table(ROOTS)?;
            txn.open_table(FILES)?;
            txn.open_table(BLOBS)?;
            txn.open_table(BLOB_REFS)?;
        }
        txn.commit()?;
        Ok(())
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

    /// Gives free space back to the filesystem and defragments (cheap: tens of milliseconds
    /// for a few hundred MiB). Skipped, returning `false`, while any transaction is open.
    pub fn compact(&self) -> Result<bool> {
        let mut db = self.db.write();
        let mut compacted = false;
        loop {
            match db.compact() {
                Ok(true) => compacted = true,
                Ok(false) => return Ok(compacted),
                Err(redb::CompactionError::TransactionInProgress) => return Ok(compacted),
                Err(err) => return Err(StoreError::Db(err.into())),
            }
        }
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

    /// Applies `changes` to `root` in one transaction.
    pub fn apply(&self, root: RootId, changes: Vec<FileChange>) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let txn = self.db.read().begin_write()?;
        {
            let mut files = txn.open_table(FILES)?;
            let mut blobs = txn.open_table(BLOBS)?;
            let mut refs = txn.open_table(BLOB_REFS)?;
            for change in changes {
                match change {
                    FileChange::Upsert { path, record, blob } => {
                        let old = files
                            .get((root, path.as_str()))?
                            .map(|value| decode::<FileRecord>(value.value()))
                            .transpose()?;
                        let old_hash = old.as_ref().and_then(FileRecord::stored_hash);
                        let new_hash = record.stored_hash();
                        if old_hash != new_hash {
                            if let Some(hash) = new_hash {
                                add_blob_ref(&mut blobs, &mut refs, &hash, blob.as_deref())?;
                            }
                            if let Some(hash) = old_hash {
                                drop_blob_ref(&mut blobs, &mut refs, &hash)?;
                            }
                        }
                        files.insert((root, path.as_str()), encode(&record)?.as_slice())?;
                    }
                    FileChange::Remove { path } => {
                        let old = files
                            .remove((root, path.as_str()))?
                            .map(|value| decode::<FileRecord>(value.value()))
                            .transpose()?;
                        if let Some(hash) = old.as_ref().and_then(FileRecord::stored_hash) {
                            drop_blob_ref(&mut blobs, &mut refs, &hash)?;
                        }
                    }
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// A consistent read-only view of the whole store.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let txn = self.db.read().begin_read()?;
        let files = txn.open_table(FILES)?;
        let blobs = txn.open_table(BLOBS)?;
        Ok(Snapshot {
            _txn: txn,
            files,
            blobs,
        })
    }
}

fn add_blob_ref(
    blobs: &mut redb::Table<&[u8], &[u8]>,
    refs: &mut redb::Table<&[u8], u32>,
    hash: &ContentHash,
    blob: Option<&[u8]>,
) -> Result<()> {
    let count = refs.get(hash.as_slice())?.map(|v| v.value()).unwrap_or(0);
    if count == 0 {
        let Some(blob) = blob else {
            return Err(StoreError::Corrupt(format!(
                "content {} is referenced but was neither stored nor supplied",
                hex(hash)
            )));
        };
        blobs.insert(hash.as_slice(), blob)?;
    }
    refs.insert(hash.as_slice(), count + 1)?;
    Ok(())
}

fn drop_blob_ref(
    blobs: &mut redb::Table<&[u8], &[u8]>,
    refs: &mut redb::Table<&[u8], u32>,
    hash: &ContentHash,
) -> Result<()> {
    let count = refs.get(hash.as_slice())?.map(|v| v.value()).unwrap_or(0);
    if count <= 1 {
        refs.remove(hash.as_slice())?;
        blobs.remove(hash.as_slice())?;
    } else {
        refs.insert(hash.as_slice(), count - 1)?;
    }
    Ok(())
}

/// A consistent read-only view of the store (a redb read transaction).
pub struct Snapshot {
    // Kept alive for as long as the tables opened from it are used.
    _txn: ReadTransaction,
    files: ReadOnlyTable<(u32, &'static str), &'static [u8]>,
    blobs: ReadOnlyTable<&'static [u8], &'static [u8]>,
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

    /// Size in bytes of the compressed blob with hash `hash`.
    pub fn blob_len(&self, hash: &ContentHash) -> Result<u64> {
        Ok(self
            .blobs
            .get(hash.as_slice())?
            .map(|blob| blob.value().len() as u64)
            .unwrap_or(0))
    }
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

fn hex(hash: &ContentHash) -> String {
    hash.iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
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
        };
        (record, zstd::encode_all(content, 3).unwrap())
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
            store
                .apply(
                    root,
                    vec![FileChange::Upsert {
                        path: "main.rs".into(),
                        record: rec.clone(),
                        blob: Some(blob.clone()),
                    }],
                )
                .unwrap();
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
    fn second_open_reports_lock() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path(), 1 << 20).unwrap();
        let err = Store::open(dir.path(), 1 << 20).err().unwrap();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    }
}
