//! Bringing a root's index in line with the disk: a parallel, gitignore-aware walk that reads
//! only new or changed files, and a single writer that commits them in batches.
//!
//! Files whose size and modification time match their record are not read at all, which is
//! what makes re-indexing an unchanged root, or reconciling one after a restart, cheap.
//! The indexer decides what is indexed (ignore rules, size limit, binary detection) but never
//! serves queries.

pub mod language;
pub mod lines;
pub mod walk;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use codesage_shared::config::IndexConfig;
use codesage_shared::protocol::IndexProgress;
use tokio_util::sync::CancellationToken;

use crate::store::{
    FileChange, FileRecord, LineCounts, ParsedSymbols, RootRecord, SkipReason, Store, StoreError,
    StoredContents,
};

/// How many leading bytes are checked for NUL when deciding whether a file is binary (the
/// same heuristic as git and ripgrep).
pub const BINARY_SNIFF_LEN: usize = 8 * 1024;

/// A batch is committed once its compressed contents reach this many bytes.
const BATCH_BYTES: usize = 32 * 1024 * 1024;

/// An indexing run failed as a whole (single unreadable files are counted, not fatal).
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The root is not a readable directory.
    #[error("cannot index {path}: {reason}")]
    Root {
        /// The root.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Writing to the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An exclude glob in the configuration is invalid.
    #[error("invalid exclude glob in configuration: {0}")]
    Glob(String),
}

/// Live counters of a run, readable from other threads while it goes.
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    files_seen: AtomicU64,
    files_done: AtomicU64,
    bytes_read: AtomicU64,
    walk_done: AtomicBool,
    symbols_total: AtomicU64,
    symbols_done: AtomicU64,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            started: Instant::now(),
            files_seen: AtomicU64::new(0),
            files_done: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            walk_done: AtomicBool::new(false),
            symbols_total: AtomicU64::new(0),
            symbols_done: AtomicU64::new(0),
        }
    }
}

impl Progress {
    /// A snapshot for reporting.
    pub fn snapshot(&self, root: &Path) -> IndexProgress {
        IndexProgress {
            root: root.to_path_buf(),
            files_seen: self.files_seen.load(Ordering::Relaxed),
            files_done: self.files_done.load(Ordering::Relaxed),
            walk_done: self.walk_done.load(Ordering::Relaxed),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            elapsed_ms: self.started.elapsed().as_millis() as u64,
            symbols_total: self.symbols_total.load(Ordering::Relaxed),
            symbols_done: self.symbols_done.load(Ordering::Relaxed),
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Files read from disk (new, changed, or with an ambiguous modification time).
    pub files_read: u64,
    /// Files not read because size and modification time matched.
    pub files_unchanged: u64,
    /// Records removed (file gone or now ignored).
    pub files_removed: u64,
    /// Files recorded as binary.
    pub skipped_binary: u64,
    /// Files recorded as too large.
    pub skipped_too_large: u64,
    /// Files that could not be read.
    pub errors: u64,
    /// Directories or files the walk could not read (what is under them is not indexed):
    /// how many, and the first few with their errors.
    pub unreadable: (u64, Vec<String>),
    /// Contents parsed for their symbols by the run's second pass.
    pub files_parsed: u64,
    /// Milliseconds until the text pass had committed everything (the root fully
    /// searchable), before the symbols pass.
    pub text_ms: u64,
    /// True if the run was cancelled before finishing (nothing was removed then).
    pub cancelled: bool,
    /// Directories the walk descended into, relative to the root (the watcher watches them).
    pub dirs: Vec<String>,
}

/// What a walker thread found out about one entry.
// Almost every outcome is a `Changed` one: boxing it would cost an allocation per file.
#[allow(clippy::large_enum_variant)]
enum Outcome {
    Unchanged(String),
    Changed(String, Analyzed),
    /// Could not be read (e.g. permission denied): its record is dropped rather than served
    /// stale, and the error counted.
    Failed,
    /// Disappeared between listing and reading.
    Vanished,
    /// A directory descended into.
    Dir(String),
}

/// Current time in nanoseconds since the Unix epoch.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as i64)
        .unwrap_or(0)
}

/// Modification time of `meta` in nanoseconds since the Unix epoch (0 if unavailable).
pub fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map(|elapsed| elapsed.as_nanos() as i64)
        .unwrap_or(0)
}

/// Brings `root`'s whole index in line with the disk.
pub fn index_root(
    store: &Store,
    root: &RootRecord,
    config: &IndexConfig,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<RunStats, IndexError> {
    reconcile(store, root, config, "", false, progress, cancel)
}

/// Brings the part of `root`'s index under directory `prefix` (relative; `""` for all of it)
/// in line with the disk. Files whose size and modification time match their record are not
/// read, unless `force` (a full rebuild) says to trust nothing.
pub fn reconcile(
    store: &Store,
    root: &RootRecord,
    config: &IndexConfig,
    prefix: &str,
    force: bool,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<RunStats, IndexError> {
    let root_path = PathBuf::from(&root.path);
    if !root_path.is_dir() {
        return Err(IndexError::Root {
            path: root_path,
            reason: "it is not a directory (was it moved or deleted?)".into(),
        });
    }
    let existing: Arc<HashMap<String, FileRecord>> =
        Arc::new(store.files_under(root.id, prefix)?.into_iter().collect());
    let mut stats = RunStats::default();
    if !prefix.is_empty() && !root_path.join(prefix).is_dir() {
        // The directory is gone: everything that was under it goes too.
        let removals: Vec<FileChange> = existing
            .keys()
            .map(|path| FileChange::Remove { path: path.clone() })
            .collect();
        stats.files_removed = removals.len() as u64;
        store.apply(root.id, removals)?;
        progress.walk_done.store(true, Ordering::Relaxed);
        return Ok(stats);
    }
    let walker = walk::Walker::subtree(&root_path, prefix, config, None, None)?;
    let unreadable = walker.unreadable();
    // A root indexed for the first time (often another worktree or a copy of one) may hold
    // contents stored for other roots: those are neither compressed nor counted again. Not
    // worth reading every record for a re-index or for a directory the watcher re-walks.
    let stored = if prefix.is_empty() && existing.is_empty() {
        Some(store.stored_contents()?)
    } else {
        None
    };
    let (sender, receiver) = crossbeam_channel::bounded::<Outcome>(256);

    let mut stats = RunStats::default();
    std::thread::scope(|scope| -> Result<(), IndexError> {
        let walk_progress = &*progress;
        let existing_for_walk = Arc::clone(&existing);
        scope.spawn(move || {
            walker.run(cancel, |found| {
                let outcome = match found {
                    walk::Found::Dir { relative } => Outcome::Dir(relative),
                    walk::Found::File {
                        relative,
                        absolute,
                        meta,
                    } => {
                        walk_progress.files_seen.fetch_add(1, Ordering::Relaxed);
                        examine(
                            relative,
                            absolute,
                            meta,
                            &existing_for_walk,
                            config,
                            force,
                            walk_progress,
                            stored.as_ref(),
                        )
                    }
                };
                sender.send(outcome).is_ok()
            });
            walk_progress.walk_done.store(true, Ordering::Relaxed);
        });

        let mut seen: HashSet<String> = HashSet::with_capacity(existing.len());
        let mut batch: Vec<FileChange> = Vec::new();
        let mut batch_bytes = 0usize;
        for outcome in receiver {
            if !matches!(outcome, Outcome::Dir(_)) {
                progress.files_done.fetch_add(1, Ordering::Relaxed);
            }
            match outcome {
                Outcome::Dir(dir) => stats.dirs.push(dir),
                Outcome::Unchanged(path) => {
                    stats.files_unchanged += 1;
                    seen.insert(path);
                }
                Outcome::Failed => stats.errors += 1,
                Outcome::Vanished => {}
                Outcome::Changed(path, analyzed) => {
                    match analyzed.record.skipped {
                        Some(SkipReason::Binary) => stats.skipped_binary += 1,
                        Some(SkipReason::TooLarge) => stats.skipped_too_large += 1,
                        None => {}
                    }
                    if analyzed.record.skipped != Some(SkipReason::TooLarge) {
                        stats.files_read += 1;
                    }
                    batch_bytes += analyzed.blob.as_ref().map_or(0, Vec::len);
                    // Held only until the commit, and only for contents stored already (a
                    // second worktree): weighed at what it would compress to.
                    batch_bytes += analyzed.raw.as_ref().map_or(0, |raw| raw.len() / 4);
                    batch_bytes += analyzed.trigrams.as_ref().map_or(0, |t| t.len() * 4);
                    seen.insert(path.clone());
                    batch.push(analyzed.into_change(path));
                }
            }
            if batch.len() >= config.commit_batch_files || batch_bytes >= BATCH_BYTES {
                store.apply(root.id, std::mem::take(&mut batch))?;
                batch_bytes = 0;
            }
        }
        if cancel.is_cancelled() {
            stats.cancelled = true;
        } else {
            for path in existing.keys() {
                if !seen.contains(path) {
                    batch.push(FileChange::Remove { path: path.clone() });
                    stats.files_removed += 1;
                }
            }
        }
        store.apply(root.id, batch)?;
        Ok(())
    })?;
    stats.text_ms = progress.started.elapsed().as_millis() as u64;
    stats.unreadable = unreadable.report();
    if config.symbols && !stats.cancelled {
        stats.files_parsed = parse_missing_symbols(store, root, config, prefix, progress, cancel)?;
        // Stopped in the symbols pass: the text is complete, the symbols are not.
        stats.cancelled = cancel.is_cancelled();
    }
    Ok(stats)
}

/// Contents parsed per store transaction in the second pass.
const SYMBOLS_BATCH: usize = 256;

/// The second pass of a run: parses the documents under `prefix` whose content has no stored
/// symbols yet (new in this run, or left unparsed by an interrupted earlier run), reading
/// their contents back from the store, in parallel, committing in batches. Search already
/// serves the whole text index meanwhile; structure answers say the pass is running.
fn parse_missing_symbols(
    store: &Store,
    root: &RootRecord,
    config: &IndexConfig,
    prefix: &str,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<u64, IndexError> {
    use rayon::prelude::*;

    let view = store.view(root.id)?;
    let in_prefix = |path: &str| {
        prefix.is_empty()
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    let mut wanted: HashMap<crate::store::ContentHash, (u32, &'static str)> = HashMap::new();
    for (_, doc) in view.index.docs.iter() {
        if doc.definitions.is_some() || wanted.contains_key(&doc.hash) || !in_prefix(&doc.path) {
            continue;
        }
        let Some(language) = crate::symbols::grammars::grammar_name(&doc.language) else {
            continue;
        };
        // Parsed before (it defines nothing), or over the size limit: nothing to do.
        if view.snapshot.symbols_len(&doc.hash)? > 0 {
            continue;
        }
        let size = view
            .snapshot
            .file(root.id, &doc.path)?
            .map_or(u64::MAX, |record| record.size);
        if size > config.symbols_max_file_size {
            continue;
        }
        wanted.insert(doc.hash, (doc.content, language));
    }
    // In content id order: the store keeps symbols by content id, and a tree filled in key
    // order packs its pages (in hash order, a third of the symbols table was unused space);
    // the contents are read back in the order they were stored, too.
    let mut wanted: Vec<(u32, crate::store::ContentHash, &'static str)> = wanted
        .into_iter()
        .map(|(hash, (content, language))| (content, hash, language))
        .collect();
    wanted.sort_unstable_by_key(|(content, _, _)| *content);
    progress
        .symbols_total
        .store(wanted.len() as u64, Ordering::Relaxed);
    let mut parsed_total = 0u64;
    for chunk in wanted.chunks(SYMBOLS_BATCH) {
        if cancel.is_cancelled() {
            break;
        }
        // Read on this thread (the snapshot is not shared across threads), parsed on all.
        let mut contents = Vec::with_capacity(chunk.len());
        for (_, hash, language) in chunk {
            if let Some(content) = view.snapshot.content(hash)? {
                contents.push((*hash, *language, content));
            }
        }
        let parsed: Vec<(crate::store::ContentHash, ParsedSymbols)> = contents
            .par_iter()
            .filter_map(|(hash, language, content)| {
                let symbols = parse(language, content, config);
                progress.symbols_done.fetch_add(1, Ordering::Relaxed);
                Some((*hash, symbols?))
            })
            .collect();
        parsed_total += parsed.len() as u64;
        store.add_symbols(parsed)?;
    }
    Ok(parsed_total)
}

/// Decides what to do with one file found by the walk.
#[allow(clippy::too_many_arguments)]
fn examine(
    relative: String,
    absolute: &Path,
    meta: &std::fs::Metadata,
    existing: &HashMap<String, FileRecord>,
    config: &IndexConfig,
    force: bool,
    progress: &Progress,
    stored: Option<&StoredContents>,
) -> Outcome {
    let size = meta.len();
    let mtime = mtime_ns(meta);
    let previous = existing.get(&relative);
    if !force && previous.is_some_and(|record| record.matches_stat(size, mtime)) {
        return Outcome::Unchanged(relative);
    }
    // Symbols come in the run's second pass, so the text index is complete first.
    match analyze(
        &relative, absolute, size, mtime, previous, config, false, stored,
    ) {
        Ok(Some(analyzed)) => {
            progress
                .bytes_read
                .fetch_add(analyzed.record.size, Ordering::Relaxed);
            Outcome::Changed(relative, analyzed)
        }
        Ok(None) => Outcome::Vanished,
        Err(err) => {
            tracing::warn!(path = %absolute.display(), error = %err, "cannot read file; skipped");
            Outcome::Failed
        }
    }
}

/// What reading one file produced.
#[derive(Debug)]
pub struct Analyzed {
    /// Its record.
    pub record: FileRecord,
    /// Its compressed content, when that must be stored (new or changed content).
    pub blob: Option<Vec<u8>>,
    /// Its content uncompressed, when it was not compressed because another file already
    /// had it stored (a second worktree, a copy): compressed only if that one is gone by the
    /// time the change is committed.
    pub raw: Option<Vec<u8>>,
    /// Its distinct trigrams, when the content is new or changed.
    pub trigrams: Option<Vec<u32>>,
    /// Its parsed structure, when the content is new or changed and its language parsed.
    pub symbols: Option<ParsedSymbols>,
}

impl Analyzed {
    /// The store change that records this file at `path`.
    pub fn into_change(self, path: String) -> FileChange {
        FileChange::Upsert {
            path,
            record: self.record,
            blob: self.blob,
            raw: self.raw,
            trigrams: self.trigrams,
            symbols: self.symbols,
        }
    }
}

/// Reads and analyzes one file: its record, and its compressed content and trigrams when the
/// content is new, and its symbols too when `parse_now` (else the run's second pass parses
/// it). A content among the `stored` ones is neither compressed, parsed nor counted again.
/// `Ok(None)` if the file vanished.
#[allow(clippy::too_many_arguments)]
pub fn analyze(
    relative: &str,
    absolute: &Path,
    size: u64,
    mtime: i64,
    previous: Option<&FileRecord>,
    config: &IndexConfig,
    parse_now: bool,
    stored: Option<&StoredContents>,
) -> std::io::Result<Option<Analyzed>> {
    let indexed_ns = now_ns();
    let skipped = |reason, language: &str| Analyzed {
        record: FileRecord {
            size,
            mtime_ns: mtime,
            hash: [0; 32],
            language: language.to_string(),
            lines: LineCounts::default(),
            skipped: Some(reason),
            indexed_ns,
            doc_id: None,
        },
        blob: None,
        raw: None,
        trigrams: None,
        symbols: None,
    };
    if size > config.max_file_size {
        let language = language::detect(relative, b"").name;
        return Ok(Some(skipped(SkipReason::TooLarge, language)));
    }
    let content = match read_capped(absolute, config.max_file_size) {
        Ok(Some(content)) => content,
        Ok(None) => {
            let language = language::detect(relative, b"").name;
            return Ok(Some(skipped(SkipReason::TooLarge, language)));
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    let head = &content[..content.len().min(BINARY_SNIFF_LEN)];
    let language = language::detect(relative, head);
    if memchr::memchr(0, head).is_some() {
        return Ok(Some(skipped(SkipReason::Binary, language.name)));
    }
    let hash = *blake3::hash(&content).as_bytes();
    let known = stored.filter(|stored| stored.contains(&hash));
    let record = FileRecord {
        size: content.len() as u64,
        mtime_ns: mtime,
        hash,
        language: language.name.to_string(),
        lines: known
            .and_then(|stored| stored.lines(&hash, language.name))
            .unwrap_or_else(|| lines::count(&content, language)),
        skipped: None,
        indexed_ns,
        doc_id: None,
    };
    if previous.and_then(FileRecord::stored_hash) == Some(hash) {
        return Ok(Some(Analyzed {
            record,
            blob: None,
            raw: None,
            trigrams: None,
            symbols: None,
        }));
    }
    if known.is_some() {
        return Ok(Some(Analyzed {
            record,
            blob: None,
            trigrams: config
                .trigram_index
                .then(|| crate::trigram::trigrams(&content)),
            raw: Some(content),
            symbols: None,
        }));
    }
    let blob = zstd::bulk::compress(&content, config.compression_level)?;
    Ok(Some(Analyzed {
        record,
        blob: Some(blob),
        raw: None,
        trigrams: config
            .trigram_index
            .then(|| crate::trigram::trigrams(&content)),
        symbols: if parse_now {
            parse(language.name, &content, config)
        } else {
            None
        },
    }))
}

/// Parses `content` for its symbols when the configuration asks for them and the language
/// has a grammar.
fn parse(language: &'static str, content: &[u8], config: &IndexConfig) -> Option<ParsedSymbols> {
    if !config.symbols || content.len() as u64 > config.symbols_max_file_size {
        return None;
    }
    crate::symbols::extract(language, content).map(|symbols| ParsedSymbols::new(&symbols))
}

/// Reads a whole file, or `None` if it turns out larger than `limit` (it may have grown since
/// it was listed). A path that became something other than a regular file (a FIFO, say) since
/// it was listed counts as gone: it is never opened in a way that could block.
fn read_capped(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    use crate::files::ReadError;
    match crate::files::read_regular(path, limit) {
        Ok(content) => Ok(Some(content)),
        Err(ReadError::TooLarge { .. }) => Ok(None),
        Err(ReadError::NotFound | ReadError::NotRegular(_)) => {
            Err(std::io::ErrorKind::NotFound.into())
        }
        Err(ReadError::Io(err)) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codesage_shared::config::Config;

    fn index(store: &Store, root: &RootRecord, config: &IndexConfig) -> RunStats {
        index_root(
            store,
            root,
            config,
            &Progress::default(),
            &CancellationToken::new(),
        )
        .unwrap()
    }

    #[test]
    fn indexes_skips_and_reconciles() {
        let tree = tempfile::tempdir().unwrap();
        let base = tree.path();
        std::fs::create_dir_all(base.join("src")).unwrap();
        std::fs::create_dir_all(base.join("node_modules/dep")).unwrap();
        std::fs::create_dir_all(base.join(".hidden")).unwrap();
        std::fs::write(base.join("src/main.rs"), "fn main() {}\n").unwrap();
        std::fs::write(base.join("src/lib.py"), "# hi\nx = 1\n").unwrap();
        std::fs::write(base.join("node_modules/dep/index.js"), "x").unwrap();
        std::fs::write(base.join(".hidden/secret.rs"), "x").unwrap();
        std::fs::write(base.join("ignored.log"), "x").unwrap();
        std::fs::write(base.join(".gitignore"), "*.log\n").unwrap();
        std::fs::write(base.join("blob.bin"), [0u8, 1, 2, 3]).unwrap();
        std::fs::write(base.join("big.txt"), vec![b'a'; 5000]).unwrap();

        let data = tempfile::tempdir().unwrap();
        let store = Store::open(data.path(), 1 << 20).unwrap();
        let root = store
            .add_root(base.canonicalize().unwrap().to_str().unwrap(), 0)
            .unwrap();
        let mut config = Config::default().index;
        config.max_file_size = 4096;

        let first = index(&store, &root, &config);
        assert_eq!(first.files_read, 3, "{first:?}"); // main.rs, lib.py, blob.bin
        assert_eq!(first.skipped_binary, 1);
        assert_eq!(first.skipped_too_large, 1);
        let paths: Vec<_> = store
            .files(root.id)
            .unwrap()
            .into_iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(paths, ["big.txt", "blob.bin", "src/lib.py", "src/main.rs"]);

        // Make every record's modification time unambiguous, as it is for files not touched
        // in the last seconds before indexing.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        for path in ["big.txt", "blob.bin", "src/lib.py", "src/main.rs"] {
            let file = std::fs::File::options()
                .write(true)
                .open(base.join(path))
                .unwrap();
            file.set_modified(old).unwrap();
        }
        index(&store, &root, &config);
        let second = index(&store, &root, &config);
        assert_eq!(second.files_read, 0, "{second:?}");
        assert_eq!(second.files_unchanged, 4);

        std::fs::remove_file(base.join("src/lib.py")).unwrap();
        std::fs::write(base.join("src/new.rs"), "struct A;\n").unwrap();
        let third = index(&store, &root, &config);
        assert_eq!(third.files_read, 1);
        assert_eq!(third.files_removed, 1);
        let snap = store.snapshot().unwrap();
        let record = snap.file(root.id, "src/new.rs").unwrap().unwrap();
        assert_eq!(record.language, "Rust");
        assert_eq!(snap.content(&record.hash).unwrap().unwrap(), b"struct A;\n");
    }

    #[test]
    fn symbols_come_in_a_second_pass_that_also_finishes_an_interrupted_one() {
        let tree = tempfile::tempdir().unwrap();
        let base = tree.path();
        std::fs::write(base.join("a.rs"), "fn alpha() {}\nstruct Beta;\n").unwrap();
        std::fs::write(base.join("b.py"), "def gamma():\n    pass\n").unwrap();
        std::fs::write(base.join("copy.rs"), "fn alpha() {}\nstruct Beta;\n").unwrap();
        std::fs::write(base.join("empty.py"), "").unwrap();
        std::fs::write(base.join("notes.txt"), "fn not_code() {}\n").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        for name in ["a.rs", "b.py", "copy.rs", "empty.py", "notes.txt"] {
            let file = std::fs::File::options()
                .write(true)
                .open(base.join(name))
                .unwrap();
            file.set_modified(old).unwrap();
        }
        let data = tempfile::tempdir().unwrap();
        let store = Store::open(data.path(), 1 << 20).unwrap();
        let root = store
            .add_root(base.canonicalize().unwrap().to_str().unwrap(), 0)
            .unwrap();
        let config = Config::default().index;

        // An earlier run stopped after its text pass: records and contents, no symbols.
        let mut text_only = Vec::new();
        for name in ["a.rs", "b.py", "copy.rs", "empty.py", "notes.txt"] {
            let path = base.join(name);
            let meta = std::fs::metadata(&path).unwrap();
            let analyzed = analyze(
                name,
                &path,
                meta.len(),
                mtime_ns(&meta),
                None,
                &config,
                false,
                None,
            )
            .unwrap()
            .unwrap();
            assert!(analyzed.symbols.is_none());
            text_only.push(analyzed.into_change(name.to_string()));
        }
        store.apply(root.id, text_only).unwrap();
        assert!(store.definition_names(root.id).is_empty());

        // The next run reads nothing but parses what has no symbols: a.rs and copy.rs share
        // one content (parsed once), b.py and the empty file; not the text file.
        let run = index(&store, &root, &config);
        assert_eq!(run.files_read, 0, "{run:?}");
        assert_eq!(run.files_parsed, 3, "{run:?}");
        let expected: Vec<(String, String)> = [
            ("a.rs", "Beta"),
            ("a.rs", "alpha"),
            ("b.py", "gamma"),
            ("copy.rs", "Beta"),
            ("copy.rs", "alpha"),
        ]
        .iter()
        .map(|(path, name)| (path.to_string(), name.to_string()))
        .collect();
        assert_eq!(store.definition_names(root.id), expected);

        // Everything parsed (the empty file too, which defines nothing): nothing left to do.
        let again = index(&store, &root, &config);
        assert_eq!(again.files_parsed, 0, "{again:?}");
        assert_eq!(store.definition_names(root.id), expected);
    }
}
