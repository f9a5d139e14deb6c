//! Writing the store: one transaction per batch of file changes (records, contents shared by
//! hash with reference counts, symbols, the batch's trigram segment), symbols added after
//! their content, and root records.

use super::*;

/// A file's parsed structure, as the indexer hands it to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSymbols {
    /// [`FileSymbols::encode`]d, for the SYMBOLS table.
    pub encoded: Vec<u8>,
    /// The in-memory summary, for the document table.
    pub definitions: Option<Arc<Definitions>>,
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

/// One change to a root's index, applied by [`Store::apply`].
// Almost every change is an upsert: boxing it would cost an allocation per file.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
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
        /// The content uncompressed, when `blob` was left out because the content was stored
        /// when the file was read: compressed here only if it is gone by now.
        raw: Option<Vec<u8>>,
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

/// The tables holding one entry per distinct content, reference-counted together: a content,
/// its id and its symbols are stored with its first reference and dropped with its last.
pub(super) struct ContentTables<'txn> {
    /// How full the last leaves of the contents and symbols tables are.
    pub(super) fills: &'txn LeafFills,
    pub(super) blobs: redb::Table<'txn, (u32, u32), &'static [u8]>,
    pub(super) refs: redb::Table<'txn, &'static [u8], u32>,
    pub(super) ids: redb::Table<'txn, &'static [u8], u32>,
    pub(super) symbols: redb::Table<'txn, (u32, u32), &'static [u8]>,
    pub(super) counters: redb::Table<'txn, (u32, &'static str), u64>,
}

/// A content's id after a reference was added.
pub(super) struct ContentRef {
    /// Its store-wide id.
    pub(super) id: u32,
    /// Whether this was its first reference (its postings are not in any segment yet).
    pub(super) new: bool,
}

impl<'txn> ContentTables<'txn> {
    /// Opens the tables in `txn`.
    pub(super) fn open(
        txn: &'txn redb::WriteTransaction,
        fills: &'txn LeafFills,
    ) -> Result<ContentTables<'txn>> {
        Ok(ContentTables {
            fills,
            blobs: txn.open_table(BLOBS)?,
            refs: txn.open_table(BLOB_REFS)?,
            ids: txn.open_table(CONTENT_IDS)?,
            symbols: txn.open_table(SYMBOLS)?,
            counters: txn.open_table(COUNTERS)?,
        })
    }

    pub(super) fn add_ref(
        &mut self,
        hash: &ContentHash,
        blob: Option<&[u8]>,
        symbols: Option<&[u8]>,
    ) -> Result<ContentRef> {
        let count = self
            .refs
            .get(hash.as_slice())?
            .map(|v| v.value())
            .unwrap_or(0);
        let known = self.ids.get(hash.as_slice())?.map(|id| id.value());
        let content = match known {
            Some(id) if count > 0 => ContentRef { id, new: false },
            _ => {
                let Some(blob) = blob else {
                    return Err(StoreError::Corrupt(format!(
                        "content {} is referenced but was neither stored nor supplied",
                        hex(hash)
                    )));
                };
                let next = next_counter(&mut self.counters, SHARED, NEXT_CONTENT)?;
                // Content ids are 32-bit; a counter past them is damaged.
                let id = u32::try_from(next)
                    .ok()
                    .filter(|id| *id < SETTLED_BIT)
                    .ok_or_else(|| damaged_counter(NEXT_CONTENT, SHARED, next))?;
                put_pieces(&mut self.blobs, id, blob, &self.fills.contents)?;
                self.ids.insert(hash.as_slice(), id)?;
                ContentRef { id, new: true }
            }
        };
        // Stored content may still lack symbols (the indexer parses in a second pass).
        if let Some(symbols) = symbols
            && !has_pieces(&self.symbols, content.id)?
        {
            put_pieces(&mut self.symbols, content.id, symbols, &self.fills.symbols)?;
        }
        self.refs.insert(hash.as_slice(), count + 1)?;
        Ok(content)
    }

    /// Drops one reference to the content; `true` when it was the last (the content, its
    /// id and its symbols are gone, its postings are dead).
    pub(super) fn drop_ref(&mut self, hash: &ContentHash) -> Result<bool> {
        let count = self
            .refs
            .get(hash.as_slice())?
            .map(|v| v.value())
            .unwrap_or(0);
        if count <= 1 {
            self.refs.remove(hash.as_slice())?;
            let id = self.ids.remove(hash.as_slice())?.map(|id| id.value());
            if let Some(id) = id {
                remove_pieces(&mut self.blobs, id)?;
                if id < SETTLED_BIT {
                    remove_pieces(&mut self.blobs, id | SETTLED_BIT)?;
                }
                remove_pieces(&mut self.symbols, id)?;
            }
            Ok(true)
        } else {
            self.refs.insert(hash.as_slice(), count - 1)?;
            Ok(false)
        }
    }
}

/// Takes the next value of a per-root (or [`SHARED`]) counter.
pub(super) fn next_counter(
    counters: &mut redb::Table<(u32, &str), u64>,
    root: RootId,
    name: &str,
) -> Result<u64> {
    let value = counters.get((root, name))?.map(|v| v.value()).unwrap_or(1);
    let next = value
        .checked_add(1)
        .ok_or_else(|| damaged_counter(name, root, value))?;
    counters.insert((root, name), next)?;
    Ok(value)
}

/// A counter no id can come from: the store is damaged, and re-indexing would only meet it
/// again.
fn damaged_counter(name: &str, root: RootId, value: u64) -> StoreError {
    StoreError::Db(
        redb::StorageError::Corrupted(format!(
            "the counter {name} of root {root} is {value}, past any id; restore a backup or \
             move the store away to start a fresh index"
        ))
        .into(),
    )
}

/// The trigrams of a content stored for the first time: from its raw bytes when they came
/// The trigrams of a content stored for the first time: from its raw bytes when they came
/// along, else from its compressed blob ([`ContentTables::add_ref`] stores a content for the
/// first time only with one).
fn content_trigrams(
    hash: &ContentHash,
    blob: Option<&[u8]>,
    raw: Option<&[u8]>,
) -> Result<Vec<u32>> {
    if let Some(raw) = raw {
        return Ok(crate::trigram::trigrams(raw));
    }
    let blob = blob.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "content {} was stored without its bytes",
            hex(hash)
        ))
    })?;
    let content = zstd::stream::decode_all(blob)
        .map_err(|err| StoreError::Corrupt(format!("content {}: {err}", hex(hash))))?;
    Ok(crate::trigram::trigrams(&content))
}

impl Store {
    /// Stores symbols parsed after their content (the indexer's second pass): each is kept
    /// if its content is still referenced and has none yet, and every document with that
    /// content, in every root, gets its definitions in memory. Returns how many were stored.
    pub fn add_symbols(&self, parsed: Vec<(ContentHash, ParsedSymbols)>) -> Result<usize> {
        // As in `apply`: a failure on the file before the commit is recorded too.
        self.store_symbols(parsed)
            .inspect_err(|err| self.failed_on_the_file(err))
    }

    fn store_symbols(&self, parsed: Vec<(ContentHash, ParsedSymbols)>) -> Result<usize> {
        if parsed.is_empty() {
            return Ok(0);
        }
        let mut added: HashMap<ContentHash, Option<Arc<Definitions>>> = HashMap::new();
        let txn = self.begin_write()?;
        {
            let ids = txn.open_table(CONTENT_IDS)?;
            let mut symbols = txn.open_table(SYMBOLS)?;
            for (hash, symbols_of) in parsed {
                // A content is live exactly while it has an id.
                let Some(id) = ids.get(hash.as_slice())?.map(|id| id.value()) else {
                    continue;
                };
                if !has_pieces(&symbols, id)? {
                    put_pieces(&mut symbols, id, &symbols_of.encoded, &self.fills.symbols)?;
                    added.insert(hash, symbols_of.definitions);
                }
            }
        }
        self.commit(txn)?;
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
                next.set_doc(id, Some(doc));
            }
            *current = Arc::new(next);
        }
        Ok(added.len())
    }

    /// Registers `path` (canonical) as a root, or returns the existing registration.
    pub fn add_root(&self, path: &str, now_ms: u64) -> Result<RootRecord> {
        if let Some(existing) = self.roots()?.into_iter().find(|root| root.path == path) {
            return Ok(existing);
        }
        let txn = self.begin_write()?;
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
        self.commit(txn)?;
        Ok(record)
    }

    /// Removes `root` and everything only it used, in one transaction: its file records and
    /// counters, its registration, and the contents (with their ids and symbols) no other root
    /// references; the maintenance thread then rewrites the segments whose contents are now
    /// mostly dead. Returns (files removed, contents freed).
    pub fn remove_root(&self, root: RootId) -> Result<(u64, u64)> {
        let txn = self.begin_write()?;
        let counts = {
            let mut files = txn.open_table(FILES)?;
            let mut tables = ContentTables::open(&txn, &self.fills)?;
            let mut records = Vec::new();
            for entry in files.range((root, "")..(root + 1, ""))? {
                let (key, value) = entry?;
                records.push((
                    key.value().1.to_string(),
                    decode::<FileRecord>(value.value())?,
                ));
            }
            let mut freed = 0u64;
            for (path, record) in &records {
                if let Some(hash) = record.stored_hash() {
                    freed += u64::from(tables.drop_ref(&hash)?);
                }
                files.remove((root, path.as_str()))?;
            }
            let mut counters = tables.counters;
            let counter_names: Vec<String> = counters
                .range((root, "")..(root + 1, ""))?
                .map(|entry| entry.map(|(key, _)| key.value().1.to_string()))
                .collect::<std::result::Result<_, _>>()?;
            for name in counter_names {
                counters.remove((root, name.as_str()))?;
            }
            txn.open_table(ROOTS)?.remove(root)?;
            (records.len() as u64, freed)
        };
        // Held across the commit, so no reader pairs the new state with the old index.
        let mut views = self.views.write();
        self.commit(txn)?;
        views.remove(&root);
        drop(views);
        if counts.1 > 0 {
            self.request_merge();
        }
        Ok(counts)
    }

    /// Saves a root's record (after an indexing run).
    pub fn update_root(&self, record: &RootRecord) -> Result<()> {
        let txn = self.begin_write()?;
        txn.open_table(ROOTS)?
            .insert(record.id, encode(record)?.as_slice())?;
        self.commit(txn)?;
        Ok(())
    }

    /// Applies `changes` to `root` in one transaction: records, contents, and one trigram
    /// segment for the contents stored for the first time (a content another root holds is
    /// posted already). Returns how many segments the store has.
    pub fn apply(&self, root: RootId, changes: Vec<FileChange>) -> Result<usize> {
        // A write that fails on the file before the commit (redb writes out its write buffer
        // once it fills, 4 MiB with the default page cache) is a store problem too.
        self.apply_changes(root, changes)
            .inspect_err(|err| self.failed_on_the_file(err))
    }

    fn apply_changes(&self, root: RootId, changes: Vec<FileChange>) -> Result<usize> {
        if changes.is_empty() {
            return Ok(self.segments.read().len());
        }
        // Document table edits, applied to the in-memory index after the commit.
        let mut doc_edits: Vec<(u32, Option<Doc>)> = Vec::new();
        let mut new_contents: Vec<(u32, Vec<u32>)> = Vec::new();
        // Whether a content lost its last reference: its postings are dead, which may leave a
        // segment mostly dead (the merger decides).
        let mut contents_died = false;
        // Definitions documents already hold in memory, by content, gathered once per batch
        // when a change brings a content another root stored (another worktree's file):
        // shared rather than decoded from the stored symbols again.
        let mut donors: Option<HashMap<ContentHash, Arc<Definitions>>> = None;
        let txn = self.begin_write()?;
        let segment_id = {
            let mut files = txn.open_table(FILES)?;
            let mut tables = ContentTables::open(&txn, &self.fills)?;
            for change in changes {
                match change {
                    FileChange::Upsert {
                        path,
                        mut record,
                        blob,
                        raw,
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
                                let next = next_counter(&mut tables.counters, root, NEXT_DOC)?;
                                // Document ids are 32-bit; a counter past them is damaged.
                                Some(
                                    u32::try_from(next)
                                        .map_err(|_| damaged_counter(NEXT_DOC, root, next))?,
                                )
                            }
                        };
                        let mut added_id = None;
                        if old_hash != new_hash {
                            if let Some(hash) = new_hash {
                                // Stored when the file was read, but its last other user
                                // may have dropped it since.
                                let blob = match (blob, raw.as_ref()) {
                                    (None, Some(raw))
                                        if tables.refs.get(hash.as_slice())?.is_none() =>
                                    {
                                        Some(
                                            zstd::bulk::compress(raw, crate::codec::CONTENT_LEVEL)
                                                .map_err(|err| {
                                                    StoreError::Corrupt(format!(
                                                        "cannot compress {path}: {err}"
                                                    ))
                                                })?,
                                        )
                                    }
                                    (blob, _) => blob,
                                };
                                let added = tables.add_ref(
                                    &hash,
                                    blob.as_deref(),
                                    symbols.as_ref().map(|parsed| parsed.encoded.as_slice()),
                                )?;
                                if added.new && self.layout.trigram_index {
                                    let trigrams = match trigrams {
                                        Some(trigrams) => trigrams,
                                        None => content_trigrams(
                                            &hash,
                                            blob.as_deref(),
                                            raw.as_deref(),
                                        )?,
                                    };
                                    new_contents.push((added.id, trigrams));
                                }
                                added_id = Some(added.id);
                            }
                            if let Some(hash) = old_hash {
                                contents_died |= tables.drop_ref(&hash)?;
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
                            let content = match added_id {
                                Some(content) => content,
                                None => content_id(&tables.ids, &record.hash, &path)?,
                            };
                            let definitions = match symbols {
                                Some(parsed) => parsed.definitions,
                                // Stored content read again (its raw bytes came along).
                                None if raw.is_some() => match donors
                                    .get_or_insert_with(|| self.definitions_in_memory())
                                    .get(&record.hash)
                                {
                                    Some(shared) => Some(Arc::clone(shared)),
                                    None => {
                                        stored_definitions(&tables.symbols, &record.hash, content)?
                                    }
                                },
                                None => stored_definitions(&tables.symbols, &record.hash, content)?,
                            };
                            doc_edits.push((
                                id,
                                Some(Doc {
                                    path: path.as_str().into(),
                                    hash: record.hash,
                                    content,
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
                                contents_died |= tables.drop_ref(&hash)?;
                            }
                            if let Some(doc) = old.doc_id {
                                doc_edits.push((doc, None));
                            }
                        }
                    }
                }
            }
            if new_contents.is_empty() {
                None
            } else {
                Some(next_counter(&mut tables.counters, SHARED, NEXT_SEGMENT)?)
            }
        };
        let segment = segment_id.map(|id| (id, Segment::build(&new_contents)));
        if let Some((id, segment)) = &segment {
            let mut segments = txn.open_table(SEGMENTS)?;
            insert_segment(&mut segments, SHARED, *id, &encode_segment(segment)?)?;
        }
        let view = self.root_view(root);
        // Root index first, then the store's segments: the order every writer takes them in.
        let mut current = view.current.write();
        let mut shared = self.segments.write();
        self.commit(txn)?;
        if let Some((id, segment)) = segment {
            let mut listed = Vec::clone(&shared);
            listed.push((id, Arc::new(segment)));
            *shared = Arc::new(listed);
        }
        let mut next = RootIndex::clone(&current);
        next.generation += 1;
        for (id, doc) in doc_edits {
            next.set_doc(id, doc);
        }
        next.segments = Arc::clone(&shared);
        let segments = shared.len();
        let wants_merge = contents_died || merge_plan(&shared).is_some();
        *current = Arc::new(next);
        drop(shared);
        drop(current);
        if wants_merge {
            self.request_merge();
        }
        Ok(segments)
    }
}
