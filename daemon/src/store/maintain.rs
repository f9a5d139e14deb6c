//! Operator maintenance of the store file: a consistent copy of every table taken in one read
//! transaction while the daemon keeps serving (what `codesage backup` packs), and the
//! integrity check behind `codesage check` (redb's own check plus CodeSage's invariants
//! between file records, contents, reference counts, symbols and segments).

use std::collections::{HashMap, HashSet};

use codesage_shared::ops::CheckReport;
use redb::{Key, Value};

use super::*;

/// What a snapshot copied.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SnapshotFigures {
    /// Entries copied per table.
    pub entries: Vec<(String, u64)>,
    /// Registered roots at the time of the snapshot.
    pub roots: Vec<PathBuf>,
    /// Schema version of the copied store.
    pub schema_version: u32,
}

fn copy_table<K: Key + 'static, V: Value + 'static>(
    source: &ReadTransaction,
    target: &redb::WriteTransaction,
    definition: TableDefinition<K, V>,
) -> Result<u64> {
    let from = match source.open_table(definition) {
        Ok(table) => table,
        // A table nothing was ever written to does not exist yet: nothing to copy.
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(err) => return Err(err.into()),
    };
    let mut to = target.open_table(definition)?;
    let mut copied = 0;
    for entry in from.iter()? {
        let (key, value) = entry?;
        to.insert(key.value(), value.value())?;
        copied += 1;
    }
    Ok(copied)
}

impl Store {
    /// Writes a consistent copy of the whole store to a new database file `target` (which
    /// must not exist), from one read transaction: writers go on meanwhile and none of their
    /// changes is half in the copy.
    pub fn snapshot_to(&self, target: &Path) -> Result<SnapshotFigures> {
        let source = self.begin_read()?;
        let copy = Database::builder().create(target)?;
        let txn = copy.begin_write()?;
        let mut entries = Vec::new();
        macro_rules! copy {
            ($($name:literal => $table:expr),* $(,)?) => {$(
                entries.push(($name.to_string(), copy_table(&source, &txn, $table)?));
            )*};
        }
        copy!(
            "meta" => META,
            "roots" => ROOTS,
            "files" => FILES,
            "contents" => BLOBS,
            "content_dictionaries" => DICTIONARIES,
            "blob_refs" => BLOB_REFS,
            "content_ids" => CONTENT_IDS,
            "content_symbols" => SYMBOLS,
            "segments" => SEGMENTS,
            "counters" => COUNTERS,
            "vectors" => VECTORS,
            "llm_cache" => LLM_CACHE,
        );
        txn.commit()?;
        // Inserting table by table leaves partly filled pages behind; the copy is ours alone,
        // so compact it before it is packed.
        let mut copy = copy;
        loop {
            match copy.compact() {
                Ok(true) => continue,
                Ok(false) => break,
                Err(err) => return Err(StoreError::Db(err.into())),
            }
        }
        drop(copy);
        let roots = {
            let table = source.open_table(ROOTS)?;
            let mut roots = Vec::new();
            for entry in table.iter()? {
                let (_, value) = entry?;
                roots.push(PathBuf::from(decode::<RootRecord>(value.value())?.path));
            }
            roots
        };
        let schema_version = source
            .open_table(META)?
            .get(SCHEMA_KEY)?
            .map(|value| decode_u32(value.value()))
            .transpose()?
            .unwrap_or(0);
        Ok(SnapshotFigures {
            entries,
            roots,
            schema_version,
        })
    }

    /// Checks the store: redb's own integrity check (which needs the database to itself for
    /// a moment; when a transaction stays open it is reported as skipped), then CodeSage's
    /// invariants in one read transaction: every file record's content is stored and hashes
    /// to its key, reference counts equal the file records using each content, every used
    /// content has one id of its own, symbols belong to live contents, segments are
    /// store-wide, and every segment decodes.
    pub fn check(&self) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        // redb may panic on damaged pages instead of reporting them (see `damaged_pages`).
        let redb_checked =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.redb_check()))
                .unwrap_or_else(|_| Err(StoreError::Db(damaged_pages().into())));
        match redb_checked {
            Ok(clean) => {
                report.redb_ok = clean;
                if !clean {
                    report.problem(
                        "redb's integrity check found damage and repaired what it could"
                            .to_string(),
                    );
                }
            }
            Err(StoreError::Db(redb::Error::TransactionInProgress)) => {
                report.redb_ok = true;
                report.redb_skipped = Some(
                    "transactions stayed open (the daemon is busy); run `codesage check` \
                     again when it is idle for redb's page-level check"
                        .to_string(),
                );
            }
            Err(err) => {
                report.redb_ok = false;
                report.problem(format!("redb's integrity check failed: {err}"));
            }
        }
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.check_invariants(&mut report)
        }));
        match checked {
            Ok(result) => result?,
            Err(_) => {
                report.redb_ok = false;
                report.problem(format!("reading the tables failed: {}", damaged_pages()));
            }
        }
        Ok(report)
    }

    fn redb_check(&self) -> Result<bool> {
        self.available()?;
        // Readers hold short transactions; a few tries find a moment without one.
        for _ in 0..50 {
            let mut db = self.db.write();
            match db.check_integrity() {
                Err(redb::DatabaseError::TransactionInProgress) => {
                    drop(db);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return Ok(other?),
            }
        }
        Err(StoreError::Db(redb::Error::TransactionInProgress))
    }

    fn check_invariants(&self, report: &mut CheckReport) -> Result<()> {
        let txn = self.begin_read()?;
        let roots: HashSet<u32> = {
            let table = txn.open_table(ROOTS)?;
            let mut ids = HashSet::new();
            for entry in table.iter()? {
                ids.insert(entry?.0.value());
            }
            ids
        };
        let mut used: HashMap<ContentHash, u32> = HashMap::new();
        for entry in txn.open_table(FILES)?.iter()? {
            let (key, value) = entry?;
            let (root, path) = key.value();
            report.files += 1;
            if !roots.contains(&root) {
                report.problem(format!("file record {path} belongs to unknown root {root}"));
            }
            match decode::<FileRecord>(value.value()) {
                Ok(record) => {
                    if let Some(hash) = record.stored_hash() {
                        *used.entry(hash).or_default() += 1;
                    }
                }
                Err(err) => report.problem(format!("file record {path} does not decode: {err}")),
            }
        }
        let refs = txn.open_table(BLOB_REFS)?;
        let mut counted: HashMap<ContentHash, u32> = HashMap::new();
        for entry in refs.iter()? {
            let (key, value) = entry?;
            match ContentHash::try_from(key.value()) {
                Ok(hash) => {
                    counted.insert(hash, value.value());
                }
                Err(_) => report.problem("a content reference has a malformed key".to_string()),
            }
        }
        for (hash, files) in &used {
            match counted.get(hash) {
                Some(count) if count == files => {}
                Some(count) => report.problem(format!(
                    "content {} is used by {files} file records but counted {count} times",
                    hex(hash)
                )),
                None => report.problem(format!(
                    "content {} is used by {files} file records but has no reference count",
                    hex(hash)
                )),
            }
        }
        for hash in counted.keys().filter(|hash| !used.contains_key(*hash)) {
            report.problem(format!(
                "content {} has a reference count but no file uses it",
                hex(hash)
            ));
        }
        let mut numbered: HashMap<u32, ContentHash> = HashMap::new();
        for entry in txn.open_table(CONTENT_IDS)?.iter()? {
            let (key, value) = entry?;
            let Ok(hash) = ContentHash::try_from(key.value()) else {
                report.problem("a content id has a malformed key".to_string());
                continue;
            };
            if !counted.contains_key(&hash) {
                report.problem(format!(
                    "content {} has an id but no file uses it",
                    hex(&hash)
                ));
            }
            if let Some(other) = numbered.insert(value.value(), hash) {
                report.problem(format!(
                    "contents {} and {} share the id {}",
                    hex(&other),
                    hex(&hash),
                    value.value()
                ));
            }
        }
        let ids: HashSet<ContentHash> = numbered.values().copied().collect();
        for hash in counted.keys().filter(|hash| !ids.contains(*hash)) {
            report.problem(format!("content {} is used but has no id", hex(hash)));
        }
        let (decoders, damaged) = dictionary::stored_decoders(&txn)?;
        for problem in damaged {
            report.problem(problem);
        }
        // Contents are stored in pieces, in key order: (id, piece).
        let mut stored: HashSet<ContentHash> = HashSet::new();
        let mut check_content = |id: u32, blob: &[u8], report: &mut CheckReport| {
            report.contents += 1;
            let Some(hash) = numbered.get(&id) else {
                report.problem(format!(
                    "a content is stored under id {id}, which no content has"
                ));
                return;
            };
            if !stored.insert(*hash) {
                report.problem(format!("content {} is stored twice", hex(hash)));
            }
            match decoders.decompress(blob) {
                Ok(content) if blake3::hash(&content).as_bytes() == hash => {}
                Ok(_) => report.problem(format!("content {} does not hash to its key", hex(hash))),
                Err(err) => {
                    report.problem(format!("content {} does not decompress: {err}", hex(hash)))
                }
            }
        };
        let mut pending: Option<(u32, Vec<u8>)> = None;
        for entry in txn.open_table(BLOBS)?.iter()? {
            let (key, value) = entry?;
            // A settled content's key is its id with the settled bit set.
            let (id, _) = key.value();
            let id = id & !SETTLED_BIT;
            match &mut pending {
                Some((current, bytes)) if *current == id => bytes.extend_from_slice(value.value()),
                _ => {
                    if let Some((id, bytes)) = pending.take() {
                        check_content(id, &bytes, report);
                    }
                    pending = Some((id, value.value().to_vec()));
                }
            }
        }
        if let Some((id, bytes)) = pending.take() {
            check_content(id, &bytes, report);
        }
        for hash in used.keys().filter(|hash| !stored.contains(*hash)) {
            report.problem(format!("content {} is used but not stored", hex(hash)));
        }
        let mut kept_for: Option<u32> = None;
        for entry in txn.open_table(SYMBOLS)?.iter()? {
            let (key, _) = entry?;
            let (id, _) = key.value();
            if kept_for == Some(id) {
                continue;
            }
            kept_for = Some(id);
            if !numbered.contains_key(&id) {
                report.problem(format!(
                    "symbols are kept under id {id}, which no used content has"
                ));
            }
        }
        // A segment is stored as chunks of one compressed stream, in key order.
        let mut segment: Option<((u32, u64), Vec<u8>)> = None;
        let check_segment = |segment: Option<((u32, u64), Vec<u8>)>, report: &mut CheckReport| {
            let Some(((root, id), bytes)) = segment else {
                return;
            };
            report.segments += 1;
            if root != SHARED {
                report.problem(format!(
                    "trigram segment {id} is kept for root {root}; segments are store-wide"
                ));
            }
            if let Err(err) = decode_segment(&bytes) {
                report.problem(format!(
                    "trigram segment {id} of root {root} is damaged: {err}"
                ));
            }
        };
        for entry in txn.open_table(SEGMENTS)?.iter()? {
            let (key, value) = entry?;
            let (root, id, _) = key.value();
            match &mut segment {
                Some((current, bytes)) if *current == (root, id) => {
                    bytes.extend_from_slice(value.value())
                }
                _ => {
                    check_segment(segment.take(), report);
                    segment = Some(((root, id), value.value().to_vec()));
                }
            }
        }
        check_segment(segment, report);
        Ok(())
    }
}
