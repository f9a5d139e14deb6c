//! Reading the store: the in-memory index of each root, rebuilt from the stored records and
//! segments when the store opens and swapped at every commit, and [`View`]s that pair a read
//! transaction with the index of the same commit, so a query sees one consistent state.

use super::*;

/// The current index of one root. Writers replace it under the write lock while they
/// commit, so a reader that takes the read lock gets a read transaction and an index that
/// match.
#[derive(Default)]
pub(super) struct RootView {
    pub(super) current: parking_lot::RwLock<Arc<RootIndex>>,
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
        self.cached(hash, || self.snapshot.content(hash))
    }

    /// The decompressed content of `doc`, through the content cache: [`View::content`]
    /// without looking its id up (the document knows it).
    pub fn content_of(&self, doc: &Doc) -> Result<Option<Arc<[u8]>>> {
        self.cached(&doc.hash, || {
            self.snapshot.content_by_id(&doc.hash, doc.content)
        })
    }

    fn cached(
        &self,
        hash: &ContentHash,
        read: impl FnOnce() -> Result<Option<Vec<u8>>>,
    ) -> Result<Option<Arc<[u8]>>> {
        if let Some(cached) = self.cache.as_ref().and_then(|cache| cache.get(hash)) {
            return Ok(Some(cached));
        }
        let Some(content) = read()? else {
            return Ok(None);
        };
        let content: Arc<[u8]> = Arc::from(content);
        if let Some(cache) = &self.cache {
            cache.insert(*hash, Arc::clone(&content));
        }
        Ok(Some(content))
    }
}

/// Contents stored when an indexing run began, with the line counts their records give
/// them per language.
#[derive(Debug, Default)]
pub struct StoredContents {
    hashes: std::collections::HashSet<ContentHash>,
    lines: HashMap<(ContentHash, String), LineCounts>,
}

impl StoredContents {
    /// Whether the content was stored.
    pub fn contains(&self, hash: &ContentHash) -> bool {
        self.hashes.contains(hash)
    }

    /// Its line counts as a file of `language`, when a record of that language has it.
    pub fn lines(&self, hash: &ContentHash, language: &str) -> Option<LineCounts> {
        // The map is keyed by owned strings; the probe is built only for stored hashes.
        self.hashes
            .contains(hash)
            .then(|| self.lines.get(&(*hash, language.to_string())).copied())
            .flatten()
    }
}

/// A consistent read-only view of the store (a redb read transaction).
pub struct Snapshot {
    // Kept alive for as long as the tables opened from it are used.
    _txn: ReadTransaction,
    files: ReadOnlyTable<(u32, &'static str), &'static [u8]>,
    ids: ReadOnlyTable<&'static [u8], u32>,
    blobs: ReadOnlyTable<(u32, u32), &'static [u8]>,
    symbols: ReadOnlyTable<(u32, u32), &'static [u8]>,
    /// The dictionaries settled contents may need (taken after the transaction began, so
    /// it holds every one its contents name).
    decoders: DecoderSet,
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

    /// The id of the content with hash `hash`, if it is stored.
    fn id(&self, hash: &ContentHash) -> Result<Option<u32>> {
        Ok(self.ids.get(hash.as_slice())?.map(|id| id.value()))
    }

    /// The decompressed content with hash `hash`, if stored.
    pub fn content(&self, hash: &ContentHash) -> Result<Option<Vec<u8>>> {
        match self.id(hash)? {
            Some(id) => self.content_by_id(hash, id),
            None => Ok(None),
        }
    }

    /// The decompressed content with hash `hash` and id `id`, if stored.
    pub fn content_by_id(&self, hash: &ContentHash, id: u32) -> Result<Option<Vec<u8>>> {
        with_content(&self.blobs, id, |blob| {
            self.decoders
                .decompress(blob)
                .map_err(|err| StoreError::Corrupt(format!("content {}: {err}", hex(hash))))
        })
    }

    /// The parsed structure of the content with hash `hash`, if it was parsed.
    pub fn symbols(&self, hash: &ContentHash) -> Result<Option<FileSymbols>> {
        match self.id(hash)? {
            Some(id) => stored_symbols(&self.symbols, hash, id, FileSymbols::decode),
            None => Ok(None),
        }
    }

    /// [`Snapshot::symbols`] without the calls (`calls` left empty): cheaper to decode.
    pub fn symbols_without_calls(&self, hash: &ContentHash) -> Result<Option<FileSymbols>> {
        match self.id(hash)? {
            Some(id) => stored_symbols(&self.symbols, hash, id, FileSymbols::decode_without_calls),
            None => Ok(None),
        }
    }

    /// Size in bytes of the stored symbols of the content with hash `hash`.
    pub fn symbols_len(&self, hash: &ContentHash) -> Result<u64> {
        match self.id(hash)? {
            Some(id) => pieces_len(&self.symbols, id),
            None => Ok(0),
        }
    }

    /// Size in bytes of the compressed blob with hash `hash`.
    pub fn blob_len(&self, hash: &ContentHash) -> Result<u64> {
        match self.id(hash)? {
            Some(id) => content_len(&self.blobs, id),
            None => Ok(0),
        }
    }
}

/// The symbols stored for content `hash` (id `id`), if any, read by `decode`
/// ([`FileSymbols::decode`], or [`FileSymbols::decode_without_calls`] where the calls are
/// not needed).
fn stored_symbols(
    table: &impl ReadableTable<(u32, u32), &'static [u8]>,
    hash: &ContentHash,
    id: u32,
    decode: fn(&[u8]) -> Option<FileSymbols>,
) -> Result<Option<FileSymbols>> {
    with_pieces(table, id, |value| {
        decode(value)
            .ok_or_else(|| StoreError::Corrupt(format!("symbols of content {}", hex(hash))))
    })
}

/// The in-memory summary of the symbols stored for content `hash` (id `id`), if any.
pub(super) fn stored_definitions(
    table: &impl ReadableTable<(u32, u32), &'static [u8]>,
    hash: &ContentHash,
    id: u32,
) -> Result<Option<Arc<Definitions>>> {
    Ok(
        stored_symbols(table, hash, id, FileSymbols::decode_without_calls)?
            .and_then(|symbols| symbols.definitions()),
    )
}

impl Store {
    /// Rebuilds every root's in-memory index from the stored records and segments.
    pub(super) fn load_views(&self) -> Result<()> {
        let txn = self.begin_read()?;
        let files = txn.open_table(FILES)?;
        let segments = txn.open_table(SEGMENTS)?;
        let symbols = txn.open_table(SYMBOLS)?;
        let ids = txn.open_table(CONTENT_IDS)?;
        let mut indexes: HashMap<RootId, RootIndex> = HashMap::new();
        // The same content in several places shares one decoded summary and one id lookup.
        type Known = (u32, Option<Arc<Definitions>>);
        let mut known: HashMap<ContentHash, Known> = HashMap::new();
        for entry in files.iter()? {
            let (key, value) = entry?;
            let (root, path) = key.value();
            let record: FileRecord = decode(value.value())?;
            if let Some(id) = record.doc_id {
                let (content, defined) = match known.get(&record.hash) {
                    Some(found) => found.clone(),
                    None => {
                        let content = content_id(&ids, &record.hash, path)?;
                        let decoded = stored_definitions(&symbols, &record.hash, content)?;
                        known.insert(record.hash, (content, decoded.clone()));
                        (content, decoded)
                    }
                };
                indexes.entry(root).or_default().set_doc(
                    id,
                    Some(Doc {
                        path: path.into(),
                        hash: record.hash,
                        content,
                        language: record.language.as_str().into(),
                        definitions: defined,
                    }),
                );
            }
        }
        // Chunks come in key order: (owner, segment, chunk); only the store-wide ones are
        // read (no other owner is written).
        let mut listed: Vec<(u64, Arc<Segment>)> = Vec::new();
        let mut pending: Option<(u64, Vec<u8>)> = None;
        for entry in segments.range((SHARED, 0, 0)..(SHARED + 1, 0, 0))? {
            let (key, value) = entry?;
            let (_, id, _chunk) = key.value();
            match &mut pending {
                Some((current, bytes)) if *current == id => {
                    bytes.extend_from_slice(value.value());
                }
                _ => {
                    if let Some((id, bytes)) = pending.take() {
                        listed.push((id, Arc::new(decode_segment(&bytes)?)));
                    }
                    pending = Some((id, value.value().to_vec()));
                }
            }
        }
        if let Some((id, bytes)) = pending.take() {
            listed.push((id, Arc::new(decode_segment(&bytes)?)));
        }
        let listed: Segments = Arc::new(listed);
        *self.segments.write() = Arc::clone(&listed);
        let mut views = self.views.write();
        for (root, mut index) in indexes {
            index.segments = Arc::clone(&listed);
            views.insert(
                root,
                Arc::new(RootView {
                    current: parking_lot::RwLock::new(Arc::new(index)),
                }),
            );
        }
        Ok(())
    }

    /// Copies every root's document table into freshly allocated memory on a new thread
    /// ([`DocTable::repacked`]) and swaps it in, so the memory an indexing run left
    /// fragmented can be handed back. Answers do not change (same documents, same
    /// generation).
    pub fn repack_indexes(&self) {
        let views: Vec<Arc<RootView>> = self.views.read().values().cloned().collect();
        let repack = move || {
            for view in views {
                // Commits replace the index under this lock: none is lost meanwhile.
                let mut current = view.current.write();
                let docs = current.docs.repacked();
                let fresh = RootIndex {
                    docs,
                    contents: current.contents.clone(),
                    segments: current.segments.clone(),
                    generation: current.generation,
                };
                *current = Arc::new(fresh);
            }
        };
        let spawned = std::thread::Builder::new()
            .name("codesage-repack".into())
            .spawn(repack)
            .map(|thread| thread.join());
        if !matches!(spawned, Ok(Ok(()))) {
            tracing::warn!("repacking the in-memory indexes failed; memory stays as it was");
        }
    }

    /// The contents the file records of every root hold (each is stored), with their line
    /// counts: what indexing a copy of a root (another worktree) need not compress or count
    /// again.
    pub fn stored_contents(&self) -> Result<StoredContents> {
        let snapshot = self.snapshot()?;
        let mut stored = StoredContents::default();
        for entry in snapshot.files.iter()? {
            let (_, value) = entry?;
            let record: FileRecord = decode(value.value())?;
            if let Some(hash) = record.stored_hash() {
                stored.lines.insert((hash, record.language), record.lines);
                stored.hashes.insert(hash);
            }
        }
        Ok(stored)
    }

    /// The definitions every root's documents hold in memory, by content: shared (not
    /// decoded again) by a document of another root with the same content.
    pub(super) fn definitions_in_memory(&self) -> HashMap<ContentHash, Arc<Definitions>> {
        let views: Vec<Arc<RootView>> = self.views.read().values().cloned().collect();
        let mut shared = HashMap::new();
        for view in views {
            let index = Arc::clone(&view.current.read());
            for (_, doc) in index.docs.iter() {
                if let Some(definitions) = &doc.definitions {
                    shared
                        .entry(doc.hash)
                        .or_insert_with(|| Arc::clone(definitions));
                }
            }
        }
        shared
    }

    pub(super) fn root_view(&self, root: RootId) -> Arc<RootView> {
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

    /// A consistent read-only view of the whole store.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let txn = self.begin_read()?;
        let files = txn.open_table(FILES)?;
        let ids = txn.open_table(CONTENT_IDS)?;
        let blobs = txn.open_table(BLOBS)?;
        let symbols = txn.open_table(SYMBOLS)?;
        Ok(Snapshot {
            _txn: txn,
            files,
            ids,
            blobs,
            symbols,
            decoders: self.decoders(),
        })
    }
}
