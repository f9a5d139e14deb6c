//! One root's semantic index: its files' chunks by dense slot, the lexical index over them,
//! their vectors, and the fused search. It knows nothing of the store: [`super::sync`] feeds
//! it from a view, the benchmark feeds it from files.

use std::collections::HashMap;
use std::sync::Arc;

use super::fusion::{self, Candidate, Weights};
use super::lexical::{Bm25f, ChunkTerms, LexicalHit, LexicalIndex};
use super::vectors::{Quantized, VectorSet};
use crate::chunks::{Chunk, Fields};
use crate::store::ContentHash;

/// Which files a search may return: by path (relative to the root) and language name.
pub type FileAllowed<'a> = &'a dyn Fn(&str, &str) -> bool;

/// Key of a chunk's vector: a digest of the text the model reads.
pub type EmbedKey = [u8; 16];

/// Bytes of a chunk the model is given at most (more than `max_tokens` tokens of code).
const EMBED_TEXT_BYTES: usize = 2048;

/// The text the model reads for a chunk: its qualified name, the doc comment above it (a
/// docstring is inside the body already), then the body from its first line, which the
/// tokenizer cuts at the model's token budget: signature, doc and the head of the body.
pub fn embed_text(fields: &Fields) -> String {
    let mut text = String::with_capacity(EMBED_TEXT_BYTES);
    if !fields.name.is_empty() {
        text.push_str(&fields.name);
        text.push('\n');
    }
    if !fields.doc.is_empty() && !fields.body.contains(fields.doc.as_str()) {
        text.push_str(&fields.doc);
        text.push('\n');
    }
    text.push_str(&fields.body);
    if text.len() > EMBED_TEXT_BYTES {
        let mut cut = EMBED_TEXT_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// A definition's name as words, the text its name vector is computed from:
/// `Store.get_value` → `store get value`, `parseHTTPHeader` → `parse httpheader`.
pub fn name_text(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    let mut previous: Option<char> = None;
    for c in name.chars() {
        if c.is_alphanumeric() {
            if previous.is_some_and(char::is_lowercase) && c.is_uppercase() {
                out.push(' ');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(' ');
        }
        previous = Some(c);
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The key of an embedding text.
pub fn embed_key(text: &str) -> EmbedKey {
    let digest = blake3::hash(text.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest.as_bytes()[..16]);
    key
}

/// A content's chunks as the index takes them: derived once per content (and whether its
/// symbols were there), shared by every root and worktree holding that content.
#[derive(Debug)]
pub struct Prepared {
    /// The chunks.
    pub chunks: Arc<[Chunk]>,
    /// Each chunk's embedding-text key.
    pub keys: Arc<[EmbedKey]>,
    /// Each named chunk's name key (of [`name_text`]).
    pub name_keys: Arc<[Option<EmbedKey>]>,
    /// Each chunk's terms.
    pub terms: Vec<ChunkTerms>,
}

impl Prepared {
    /// Prepares the chunks of one content.
    pub fn new(pieces: Vec<(Chunk, Fields)>) -> Prepared {
        let mut chunks = Vec::with_capacity(pieces.len());
        let mut keys = Vec::with_capacity(pieces.len());
        let mut terms = Vec::with_capacity(pieces.len());
        let mut name_keys = Vec::with_capacity(pieces.len());
        for (chunk, fields) in pieces {
            terms.push(ChunkTerms::of(&fields));
            keys.push(embed_key(&embed_text(&fields)));
            name_keys.push(
                chunk
                    .name
                    .as_deref()
                    .map(name_text)
                    .filter(|text| !text.is_empty())
                    .map(|text| embed_key(&text)),
            );
            chunks.push(chunk);
        }
        Prepared {
            chunks: chunks.into(),
            keys: keys.into(),
            name_keys: name_keys.into(),
            terms,
        }
    }

    /// A size measure for caches: chunks plus their distinct terms.
    pub fn weight(&self) -> u64 {
        self.terms
            .iter()
            .map(|terms| terms.terms.len() as u64 + 1)
            .sum::<u64>()
            .max(1)
    }
}

/// One file as the semantic index holds it.
#[derive(Debug, Clone)]
pub struct FileEntry {
    /// Path relative to the root.
    pub path: Arc<str>,
    /// Its content's hash.
    pub hash: ContentHash,
    /// Its language's name.
    pub language: Arc<str>,
    /// Whether its chunks came from parsed symbols (otherwise windows only, redone when
    /// symbols arrive).
    pub parsed: bool,
    /// Its chunks.
    pub chunks: Arc<[Chunk]>,
    /// The key of each chunk's embedding text.
    pub keys: Arc<[EmbedKey]>,
    /// The key of each named chunk's name text.
    pub name_keys: Arc<[Option<EmbedKey>]>,
    /// The first slot of its chunks (they are consecutive).
    pub first_slot: u32,
}

/// A chunk found by a search.
#[derive(Debug, Clone)]
pub struct SemanticHit {
    /// Path relative to the root.
    pub path: Arc<str>,
    /// Content hash of the file (for snippets).
    pub hash: ContentHash,
    /// The chunk.
    pub chunk: Chunk,
    /// Fused score (higher is better).
    pub score: f32,
    /// BM25F score, if the lexical retriever found it.
    pub lexical: Option<f32>,
    /// Cosine similarity, if the neural retriever found it.
    pub neural: Option<f32>,
    /// Share of its name's words in the question.
    pub name: Option<f32>,
}

/// Progress of embedding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Embedded {
    /// Live chunks with a vector.
    pub done: u64,
    /// Live chunks.
    pub total: u64,
}

/// The first half of a search: what the lexical retriever found, among which files.
pub struct Candidates {
    lexical: Vec<LexicalHit>,
    allowed_docs: Option<std::collections::HashSet<u32>>,
    depth: usize,
    limit: usize,
}

/// Whether `slot` holds a live chunk of a file in `allowed_docs` (`None`: every file).
fn admits(
    allowed_docs: Option<&std::collections::HashSet<u32>>,
    slots: &[Option<(u32, u32)>],
    slot: u32,
) -> bool {
    match (allowed_docs, slots.get(slot as usize)) {
        (_, None | Some(None)) => false,
        (None, Some(Some(_))) => true,
        (Some(docs), Some(Some((doc, _)))) => docs.contains(doc),
    }
}

/// A root's chunks, lexical index and vectors.
#[derive(Default)]
pub struct SemanticIndex {
    files: HashMap<u32, FileEntry>,
    /// Slot → (document id, chunk index); `None` once dead.
    slots: Vec<Option<(u32, u32)>>,
    lexical: LexicalIndex,
    vectors: VectorSet,
    /// Name vectors by name key (names repeat: `__init__`, `new`).
    name_vectors: HashMap<EmbedKey, Arc<Quantized>>,
    /// The index generation of the view last synced from.
    pub generation: Option<u64>,
    /// Set when the vectors were computed by another model (they are dropped).
    pub fingerprint: Option<u64>,
}

impl SemanticIndex {
    /// The file with document id `doc`, if indexed.
    pub fn file(&self, doc: u32) -> Option<&FileEntry> {
        self.files.get(&doc)
    }

    /// Every file with its document id.
    pub fn files(&self) -> impl Iterator<Item = (u32, &FileEntry)> {
        self.files.iter().map(|(doc, file)| (*doc, file))
    }

    /// Live chunks.
    pub fn chunk_count(&self) -> u64 {
        self.lexical.live()
    }

    /// Embedding progress.
    pub fn embedded(&self) -> Embedded {
        Embedded {
            done: self.vectors.live() as u64,
            total: self.lexical.live(),
        }
    }

    /// Vectors held by the HNSW base.
    pub fn base_len(&self) -> usize {
        self.vectors.base_len()
    }

    /// Heap bytes held, estimated per part: (files and chunks, lexical index, vectors).
    pub fn heap_bytes(&self) -> (u64, u64, u64) {
        let files: usize = self
            .files
            .values()
            .map(|file| {
                file.chunks.len() * std::mem::size_of::<Chunk>()
                    + file
                        .chunks
                        .iter()
                        .filter_map(|chunk| chunk.name.as_ref().map(String::capacity))
                        .sum::<usize>()
                    + file.keys.len() * std::mem::size_of::<EmbedKey>()
                    + file.name_keys.len() * std::mem::size_of::<Option<EmbedKey>>()
            })
            .sum();
        let tables = self.files.capacity() * (std::mem::size_of::<(u32, FileEntry)>() + 1)
            + self.slots.capacity() * std::mem::size_of::<Option<(u32, u32)>>();
        let names: usize = self
            .name_vectors
            .values()
            .map(|vector| 16 + 16 + std::mem::size_of::<Quantized>() + vector.values.len())
            .sum();
        (
            (files + tables) as u64,
            self.lexical.heap_bytes(),
            self.vectors.heap_bytes() + names as u64,
        )
    }

    /// Adds (or replaces) document `doc` with its chunks.
    pub fn add_file(
        &mut self,
        doc: u32,
        path: Arc<str>,
        hash: ContentHash,
        language: Arc<str>,
        parsed: bool,
        prepared: &Prepared,
    ) {
        self.remove_file(doc);
        let first_slot = self.slots.len() as u32;
        for (index, terms) in prepared.terms.iter().enumerate() {
            let slot = first_slot + index as u32;
            self.slots.push(Some((doc, index as u32)));
            self.lexical.insert(slot, terms);
        }
        self.files.insert(
            doc,
            FileEntry {
                path,
                hash,
                language,
                parsed,
                chunks: Arc::clone(&prepared.chunks),
                keys: Arc::clone(&prepared.keys),
                name_keys: Arc::clone(&prepared.name_keys),
                first_slot,
            },
        );
        if self.lexical.wants_compaction() {
            self.compact();
        }
    }

    /// Removes document `doc` and its chunks.
    pub fn remove_file(&mut self, doc: u32) {
        let Some(file) = self.files.remove(&doc) else {
            return;
        };
        for slot in file.first_slot..file.first_slot + file.chunks.len() as u32 {
            self.slots[slot as usize] = None;
            self.lexical.remove(slot);
            self.vectors.remove(slot);
        }
    }

    /// Makes the vectors those of the model with `fingerprint`: any held from another model
    /// are dropped (never mixed).
    pub fn use_model(&mut self, fingerprint: u64) {
        if self.fingerprint != Some(fingerprint) {
            self.clear_vectors();
            self.fingerprint = Some(fingerprint);
        }
    }

    /// Drops every vector (another model computed them).
    pub fn clear_vectors(&mut self) {
        self.vectors = VectorSet::default();
        self.name_vectors.clear();
    }

    /// Up to `limit` names without a vector, with their text.
    pub fn missing_names(&self, limit: usize) -> Vec<(EmbedKey, String)> {
        let mut missing: HashMap<EmbedKey, String> = HashMap::new();
        for file in self.files.values() {
            for (chunk, key) in file.chunks.iter().zip(file.name_keys.iter()) {
                if let (Some(key), Some(name)) = (key, &chunk.name)
                    && !self.name_vectors.contains_key(key)
                {
                    missing.entry(*key).or_insert_with(|| name_text(name));
                    if missing.len() >= limit {
                        return missing.into_iter().collect();
                    }
                }
            }
        }
        missing.into_iter().collect()
    }

    /// Stores the vector of a name.
    pub fn set_name_vector(&mut self, key: EmbedKey, vector: Arc<Quantized>) {
        self.name_vectors.insert(key, vector);
    }

    fn compact(&mut self) {
        let mut remap = Vec::with_capacity(self.slots.len());
        let mut slots = Vec::new();
        for slot in &self.slots {
            match slot {
                Some(owner) => {
                    remap.push(Some(slots.len() as u32));
                    slots.push(Some(*owner));
                }
                None => remap.push(None),
            }
        }
        for file in self.files.values_mut() {
            if let Some(Some(new)) = remap.get(file.first_slot as usize) {
                file.first_slot = *new;
            }
        }
        self.lexical.compact(&remap);
        self.vectors.compact(&remap);
        self.slots = slots;
        let used: std::collections::HashSet<EmbedKey> = self
            .files
            .values()
            .flat_map(|file| file.name_keys.iter().flatten().copied())
            .collect();
        self.name_vectors.retain(|key, _| used.contains(key));
    }

    /// Up to `limit` chunks without a vector: their slot, document and key, grouped by
    /// file.
    pub fn missing_vectors(&self, limit: usize) -> Vec<(u32, u32, EmbedKey)> {
        let mut missing = Vec::new();
        let mut docs: Vec<(&u32, &FileEntry)> = self.files.iter().collect();
        // Smaller files first: many whole files become searchable early.
        docs.sort_by_key(|(doc, file)| (file.chunks.len(), **doc));
        for (&doc, file) in docs {
            for (index, key) in file.keys.iter().enumerate() {
                let slot = file.first_slot + index as u32;
                if self.vectors.get(slot).is_none() {
                    missing.push((slot, doc, *key));
                    if missing.len() >= limit {
                        return missing;
                    }
                }
            }
        }
        missing
    }

    /// Gives `slot` its vector, if the slot still holds the chunk with `key`; whether the
    /// chunk got its first vector (a vector that arrives twice, from a query and from the
    /// background worker at once, counts once).
    pub fn set_vector(&mut self, slot: u32, key: &EmbedKey, vector: Arc<Quantized>) -> bool {
        let Some(Some((doc, index))) = self.slots.get(slot as usize).copied() else {
            return false;
        };
        let matches = self
            .files
            .get(&doc)
            .and_then(|file| file.keys.get(index as usize))
            == Some(key);
        matches && self.vectors.insert(slot, vector)
    }

    /// Every chunk that has a vector and that `accept` takes (given its document, file and
    /// chunk), with its document: what `similar` clones are found among.
    pub fn chunk_vectors(
        &self,
        mut accept: impl FnMut(u32, &FileEntry, &Chunk) -> bool,
    ) -> Vec<(u32, Chunk, Arc<Quantized>)> {
        let mut out = Vec::new();
        for (&doc, file) in &self.files {
            for (index, chunk) in file.chunks.iter().enumerate() {
                let slot = file.first_slot + index as u32;
                if let Some(vector) = self.vectors.get(slot)
                    && accept(doc, file, chunk)
                {
                    out.push((doc, chunk.clone(), Arc::clone(vector)));
                }
            }
        }
        out
    }

    /// Whether an HNSW base should be (re)built.
    pub fn wants_base(&self, threshold: usize) -> bool {
        self.vectors.wants_base(threshold)
    }

    /// The vectors now, for building a base off the lock.
    pub fn vector_snapshot(&self) -> super::vectors::BaseSnapshot {
        self.vectors.snapshot()
    }

    /// Installs a base built from a snapshot.
    pub fn install_base(&mut self, built: super::vectors::BuiltBase) {
        self.vectors.install_base(built);
    }

    /// The best `limit` chunks for `question`, fused from the lexical retriever, the neural
    /// one (when `query_vector` is given) and name matches, among the files `allowed`
    /// accepts (by path and language; `None` accepts all).
    pub fn search(
        &self,
        question: &str,
        query_vector: Option<&Quantized>,
        weights: &Weights,
        bm25f: &Bm25f,
        limit: usize,
        allowed: Option<FileAllowed<'_>>,
    ) -> Vec<SemanticHit> {
        let candidates = self.lexical_candidates(question, bm25f, limit, allowed);
        self.rank(candidates, query_vector, weights)
    }

    /// The lexical side of a search (what needs no question vector, so it can run while the
    /// question is embedded): the files `allowed` accepts and the lexical candidates.
    pub fn lexical_candidates(
        &self,
        question: &str,
        bm25f: &Bm25f,
        limit: usize,
        allowed: Option<FileAllowed<'_>>,
    ) -> Candidates {
        // Files are judged once each, not once per scored chunk.
        let allowed_docs: Option<std::collections::HashSet<u32>> = allowed.map(|allowed| {
            self.files
                .iter()
                .filter(|(_, file)| allowed(&file.path, &file.language))
                .map(|(doc, _)| *doc)
                .collect()
        });
        // The same candidate depth for every page size, so that the normalised scores, and so
        // the order, do not depend on how many results were asked for (pages line up).
        let depth = limit.max(fusion::CANDIDATES);
        let lexical = self.lexical.search(question, bm25f, depth, |slot| {
            admits(allowed_docs.as_ref(), &self.slots, slot)
        });
        Candidates {
            lexical,
            allowed_docs,
            depth,
            limit,
        }
    }

    /// Completes a search from its lexical candidates (taken from this index, unchanged
    /// since): the neural neighbours of `query_vector`, then the fusion.
    pub fn rank(
        &self,
        candidates: Candidates,
        query_vector: Option<&Quantized>,
        weights: &Weights,
    ) -> Vec<SemanticHit> {
        let slot_allowed = |slot: u32| admits(candidates.allowed_docs.as_ref(), &self.slots, slot);
        let lexical = &candidates.lexical;
        let neural = query_vector
            .map(|query| self.vectors.search(query, candidates.depth, slot_allowed))
            .unwrap_or_default();
        let limit = candidates.limit;
        let fused = fusion::fuse(
            lexical,
            query_vector.map(|_| neural.as_slice()),
            |slot| {
                let query = query_vector?;
                Some(query.similarity(self.vectors.get(slot)?))
            },
            |slot| {
                let query = query_vector?;
                let (doc, index) = self.slots.get(slot as usize).copied().flatten()?;
                let key = self
                    .files
                    .get(&doc)?
                    .name_keys
                    .get(index as usize)
                    .copied()
                    .flatten()?;
                Some(query.similarity(self.name_vectors.get(&key)?))
            },
            weights,
            limit,
        );
        fused
            .into_iter()
            .filter_map(|candidate: Candidate| {
                let (doc, index) = self.slots.get(candidate.slot as usize).copied().flatten()?;
                let file = self.files.get(&doc)?;
                Some(SemanticHit {
                    path: Arc::clone(&file.path),
                    hash: file.hash,
                    chunk: file.chunks.get(index as usize)?.clone(),
                    score: candidate.score,
                    lexical: candidate.lexical,
                    neural: candidate.neural,
                    name: candidate.name,
                })
            })
            .collect()
    }
}
