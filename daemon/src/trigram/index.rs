//! One root's in-memory index state: the document table, which documents hold each content,
//! and the store-wide segments. Segments post *content* ids, shared by every root holding a
//! content (a second worktree adds postings only for the contents it alone has); a root turns
//! them into its own document ids. Values of [`RootIndex`] are immutable snapshots; every
//! committed change produces a new one, sharing all untouched parts, so queries run on a
//! consistent state without locks.

use std::sync::Arc;

use super::query::TrigramQuery;
use super::segment::Segment;
use crate::hash::ContentHash;

/// Documents per copy-on-write chunk of the document table.
const CHUNK: usize = 1024;

/// The chunk every empty stretch of a document table shares (copied when first written), so
/// a gap of ids (a damaged id or counter near 2^32) costs a pointer per chunk, neither a
/// chunk of memory nor a scan of its slots.
fn empty_chunk() -> &'static Arc<Vec<Option<Doc>>> {
    static EMPTY: std::sync::LazyLock<Arc<Vec<Option<Doc>>>> =
        std::sync::LazyLock::new(|| Arc::new(vec![None; CHUNK]));
    &EMPTY
}

/// A live document: a stored file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    /// Path relative to the root.
    pub path: Arc<str>,
    /// Content hash (the key of the stored content).
    pub hash: ContentHash,
    /// The content's store-wide id: what the segments post.
    pub content: u32,
    /// Detected language.
    pub language: Arc<str>,
    /// The symbols it defines, if its language was parsed.
    pub definitions: Option<Arc<crate::symbols::Definitions>>,
}

/// Document id → document, for the ids that are live. Cloning shares every chunk; an update
/// copies only the chunk it touches.
#[derive(Debug, Clone, Default)]
pub struct DocTable {
    chunks: Vec<Arc<Vec<Option<Doc>>>>,
    live: usize,
}

impl DocTable {
    /// The live document with this id.
    pub fn get(&self, id: u32) -> Option<&Doc> {
        let id = id as usize;
        self.chunks.get(id / CHUNK)?.get(id % CHUNK)?.as_ref()
    }

    /// Sets (or, with `None`, kills) document `id`.
    pub fn set(&mut self, id: u32, doc: Option<Doc>) {
        let id = id as usize;
        if self.chunks.len() <= id / CHUNK {
            self.chunks
                .resize(id / CHUNK + 1, Arc::clone(empty_chunk()));
        }
        if doc.is_none() && self.get(id as u32).is_none() {
            // Nothing to kill: do not copy a shared chunk for it.
            return;
        }
        let chunk = Arc::make_mut(&mut self.chunks[id / CHUNK]);
        let slot = &mut chunk[id % CHUNK];
        match (slot.is_some(), doc.is_some()) {
            (false, true) => self.live += 1,
            (true, false) => self.live -= 1,
            _ => {}
        }
        let killed = doc.is_none();
        *slot = doc;
        // Ids are never reused, so a chunk whose documents all died stays dead: give its
        // memory back now (a daemon kept fresh by its watcher alone never repacks).
        if killed && chunk.iter().all(Option::is_none) {
            self.chunks[id / CHUNK] = Arc::clone(empty_chunk());
        }
    }

    /// Number of live documents.
    pub fn live(&self) -> usize {
        self.live
    }

    /// A copy with every document, path and definition allocated anew, the languages shared
    /// (one string per language). Run on a thread that has allocated nothing before, the
    /// copies are packed densely in fresh pages, and dropping the originals empties the
    /// pages they were scattered over (between an indexing run's short-lived buffers), so the
    /// allocator can give those back to the system.
    pub fn repacked(&self) -> DocTable {
        let mut languages: std::collections::HashMap<&str, Arc<str>> =
            std::collections::HashMap::new();
        let mut definitions: std::collections::HashMap<usize, Arc<crate::symbols::Definitions>> =
            std::collections::HashMap::new();
        let chunks = self
            .chunks
            .iter()
            .map(|chunk| {
                if Arc::ptr_eq(chunk, empty_chunk()) || chunk.iter().all(Option::is_none) {
                    return Arc::clone(empty_chunk());
                }
                let docs: Vec<Option<Doc>> = chunk
                    .iter()
                    .map(|doc| {
                        let doc = doc.as_ref()?;
                        let language = Arc::clone(
                            languages
                                .entry(&doc.language)
                                .or_insert_with(|| Arc::from(&*doc.language)),
                        );
                        let defined = doc.definitions.as_ref().map(|defined| {
                            let key = Arc::as_ptr(defined) as *const u8 as usize;
                            Arc::clone(definitions.entry(key).or_insert_with(|| {
                                Arc::new(crate::symbols::Definitions::clone(defined))
                            }))
                        });
                        Some(Doc {
                            path: Arc::from(&*doc.path),
                            hash: doc.hash,
                            content: doc.content,
                            language,
                            definitions: defined,
                        })
                    })
                    .collect();
                Arc::new(docs)
            })
            .collect();
        DocTable {
            chunks,
            live: self.live,
        }
    }

    /// Heap bytes held, estimated: (the table with paths and languages, the definitions).
    /// Definitions shared by several documents (one content in several places) count once.
    pub fn heap_bytes(&self) -> (u64, u64) {
        let held = self
            .chunks
            .iter()
            .filter(|chunk| !Arc::ptr_eq(chunk, empty_chunk()))
            .count();
        let mut table = self.chunks.len() * std::mem::size_of::<Arc<Vec<Option<Doc>>>>()
            + held * CHUNK * std::mem::size_of::<Option<Doc>>();
        let mut seen = std::collections::HashSet::new();
        let mut definitions = 0;
        for (_, doc) in self.iter() {
            table += 16 + doc.path.len() + 16 + doc.language.len();
            if let Some(defined) = &doc.definitions
                && seen.insert(Arc::as_ptr(defined) as *const u8 as usize)
            {
                definitions +=
                    16 + std::mem::size_of::<crate::symbols::Definitions>() + defined.heap_bytes();
            }
        }
        (table as u64, definitions as u64)
    }

    /// Every live document with its id.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Doc)> {
        self.chunks
            .iter()
            .enumerate()
            .filter(|(_, chunk)| !Arc::ptr_eq(chunk, empty_chunk()))
            .flat_map(|(chunk_index, chunk)| {
                chunk.iter().enumerate().filter_map(move |(offset, doc)| {
                    doc.as_ref()
                        .map(|doc| ((chunk_index * CHUNK + offset) as u32, doc))
                })
            })
    }
}

/// The store's segments with their store keys, shared by every root's index.
pub type Segments = Arc<Vec<(u64, Arc<Segment>)>>;

/// One content's documents in a root: most contents are in one place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Holders {
    #[default]
    None,
    One(u32),
    Many(Arc<[u32]>),
}

impl Holders {
    fn ids(&self) -> &[u32] {
        match self {
            Holders::None => &[],
            Holders::One(id) => std::slice::from_ref(id),
            Holders::Many(ids) => ids,
        }
    }
}

fn empty_holders() -> &'static Arc<Vec<Holders>> {
    static EMPTY: std::sync::LazyLock<Arc<Vec<Holders>>> =
        std::sync::LazyLock::new(|| Arc::new(vec![Holders::None; CHUNK]));
    &EMPTY
}

/// Content id → the root's documents holding it (ascending), copy-on-write by chunks like
/// [`DocTable`]: the segments' postings name contents, this turns them into documents.
#[derive(Debug, Clone, Default)]
pub struct ContentDocs {
    chunks: Vec<Arc<Vec<Holders>>>,
}

impl ContentDocs {
    /// The documents holding `content`, ascending (empty if none).
    pub fn get(&self, content: u32) -> &[u32] {
        let content = content as usize;
        self.chunks
            .get(content / CHUNK)
            .map_or(&[], |chunk| chunk[content % CHUNK].ids())
    }

    /// Whether some document holds `content`.
    pub fn contains(&self, content: u32) -> bool {
        !self.get(content).is_empty()
    }

    fn slot(&mut self, content: u32) -> &mut Holders {
        let content = content as usize;
        if self.chunks.len() <= content / CHUNK {
            self.chunks
                .resize(content / CHUNK + 1, Arc::clone(empty_holders()));
        }
        &mut Arc::make_mut(&mut self.chunks[content / CHUNK])[content % CHUNK]
    }

    /// Records that document `doc` holds `content`.
    pub fn add(&mut self, content: u32, doc: u32) {
        let slot = self.slot(content);
        *slot = match std::mem::take(slot) {
            Holders::None => Holders::One(doc),
            Holders::One(id) if id == doc => Holders::One(id),
            Holders::One(id) => Holders::Many(Arc::from(if id < doc {
                vec![id, doc]
            } else {
                vec![doc, id]
            })),
            Holders::Many(ids) => {
                let mut ids = ids.to_vec();
                if let Err(at) = ids.binary_search(&doc) {
                    ids.insert(at, doc);
                }
                Holders::Many(Arc::from(ids))
            }
        };
    }

    /// Records that document `doc` no longer holds `content`.
    pub fn remove(&mut self, content: u32, doc: u32) {
        if !self.get(content).contains(&doc) {
            return;
        }
        let slot = self.slot(content);
        *slot = match std::mem::take(slot) {
            Holders::Many(ids) => {
                let rest: Vec<u32> = ids.iter().copied().filter(|&id| id != doc).collect();
                match rest.as_slice() {
                    [] => Holders::None,
                    [one] => Holders::One(*one),
                    _ => Holders::Many(Arc::from(rest)),
                }
            }
            _ => Holders::None,
        };
        let chunk = content as usize / CHUNK;
        if self.chunks[chunk]
            .iter()
            .all(|holders| *holders == Holders::None)
        {
            self.chunks[chunk] = Arc::clone(empty_holders());
        }
    }

    /// Every content some document holds, ascending.
    pub fn contents(&self) -> impl Iterator<Item = u32> + '_ {
        self.chunks
            .iter()
            .enumerate()
            .filter(|(_, chunk)| !Arc::ptr_eq(chunk, empty_holders()))
            .flat_map(|(chunk_index, chunk)| {
                chunk
                    .iter()
                    .enumerate()
                    .filter(|(_, holders)| **holders != Holders::None)
                    .map(move |(offset, _)| (chunk_index * CHUNK + offset) as u32)
            })
    }

    /// Heap bytes held, estimated.
    pub fn heap_bytes(&self) -> u64 {
        let held = self
            .chunks
            .iter()
            .filter(|chunk| !Arc::ptr_eq(chunk, empty_holders()));
        let mut bytes = self.chunks.len() * std::mem::size_of::<Arc<Vec<Holders>>>();
        for chunk in held {
            bytes += CHUNK * std::mem::size_of::<Holders>();
            bytes += chunk
                .iter()
                .map(|holders| match holders {
                    Holders::Many(ids) => 16 + ids.len() * 4,
                    _ => 0,
                })
                .sum::<usize>();
        }
        bytes as u64
    }
}

/// A root's index at one moment.
#[derive(Debug, Clone, Default)]
pub struct RootIndex {
    /// Live documents.
    pub docs: DocTable,
    /// Which live documents hold each content (kept by [`RootIndex::set_doc`]).
    pub contents: ContentDocs,
    /// The store's segments (shared by every root) as of this index: they post every content
    /// this root's documents hold.
    pub segments: Segments,
    /// Grows with every committed change to the root's documents since the daemon started
    /// (merges, which change no answer, leave it alone): answers computed from the same
    /// generation are computed from the same files.
    pub generation: u64,
}

impl RootIndex {
    /// Sets (or, with `None`, kills) document `id`, keeping [`RootIndex::contents`] in step.
    pub fn set_doc(&mut self, id: u32, doc: Option<Doc>) {
        if let Some(old) = self.docs.get(id).map(|old| old.content) {
            self.contents.remove(old, id);
        }
        if let Some(content) = doc.as_ref().map(|doc| doc.content) {
            self.contents.add(content, id);
        }
        self.docs.set(id, doc);
    }

    /// The ids of live documents that may match `query`, ascending; `None` when the query
    /// cannot narrow anything down (every live document is a candidate).
    pub fn candidates(&self, query: &TrigramQuery) -> Option<Vec<u32>> {
        if query.is_all() {
            return None;
        }
        // Contents other roots hold, and dead ones, have no documents here.
        let mut ids = Vec::new();
        for content in self.evaluate(query) {
            ids.extend_from_slice(self.contents.get(content));
        }
        if !ids.is_sorted() {
            ids.sort_unstable();
        }
        Some(ids)
    }

    fn estimate(&self, query: &TrigramQuery) -> u64 {
        match query {
            TrigramQuery::All => self.docs.live() as u64,
            TrigramQuery::None => 0,
            TrigramQuery::Trigram(trigram) => self
                .segments
                .iter()
                .map(|(_, segment)| u64::from(segment.count(*trigram)))
                .sum(),
            TrigramQuery::And(parts) => parts
                .iter()
                .map(|part| self.estimate(part))
                .min()
                .unwrap_or(0),
            TrigramQuery::Or(parts) => parts.iter().map(|part| self.estimate(part)).sum(),
        }
    }

    /// Sorted content ids (possibly dead, or held by other roots only) satisfying `query`.
    fn evaluate(&self, query: &TrigramQuery) -> Vec<u32> {
        match query {
            TrigramQuery::All => self.contents.contents().collect(),
            TrigramQuery::None => Vec::new(),
            TrigramQuery::Trigram(trigram) => {
                // Segments hold disjoint documents and, ordered by their lowest id, mostly
                // disjoint id ranges: their postings then concatenate into a sorted list.
                let mut ordered: Vec<&Segment> = self
                    .segments
                    .iter()
                    .map(|(_, segment)| &**segment)
                    .collect();
                ordered.sort_unstable_by_key(|segment| segment.doc_range());
                let mut ids = Vec::new();
                for segment in ordered {
                    segment.postings_into(*trigram, &mut ids);
                }
                if !ids.is_sorted() {
                    ids.sort_unstable();
                }
                ids
            }
            TrigramQuery::And(parts) => {
                let mut ordered: Vec<(u64, &TrigramQuery)> = parts
                    .iter()
                    .map(|part| (self.estimate(part), part))
                    .collect();
                ordered.sort_by_key(|(estimate, _)| *estimate);
                let mut result: Option<Vec<u32>> = None;
                for (_, part) in ordered {
                    let ids = self.evaluate(part);
                    result = Some(match result {
                        None => ids,
                        Some(previous) => intersect(&previous, &ids),
                    });
                    if result.as_ref().is_some_and(Vec::is_empty) {
                        break;
                    }
                }
                result.unwrap_or_default()
            }
            TrigramQuery::Or(parts) => {
                let lists: Vec<Vec<u32>> = parts.iter().map(|part| self.evaluate(part)).collect();
                union(&lists)
            }
        }
    }

    /// Total encoded size of the store's segments, in bytes (shared by every root).
    pub fn segment_bytes(&self) -> u64 {
        self.segments
            .iter()
            .map(|(_, segment)| segment.bytes().len() as u64)
            .sum()
    }
}

/// Union of ascending lists, ascending and without duplicates. Case-insensitive patterns
/// turn every trigram into an OR of its case variants, so this runs on long lists: a bitmap
/// over the id range is linear where sorting the concatenation is not.
fn union(lists: &[Vec<u32>]) -> Vec<u32> {
    let total: usize = lists.iter().map(Vec::len).sum();
    let Some(max) = lists.iter().filter_map(|list| list.last()).max() else {
        return Vec::new();
    };
    let words = *max as usize / 64 + 1;
    if total < 64 || words > total.saturating_mul(8) {
        // Few ids, or ids so sparse that the bitmap would be mostly empty words.
        let mut ids: Vec<u32> = lists.concat();
        ids.sort_unstable();
        ids.dedup();
        return ids;
    }
    let mut bitmap = vec![0u64; words];
    for &id in lists.iter().flatten() {
        bitmap[id as usize / 64] |= 1 << (id % 64);
    }
    let mut ids = Vec::with_capacity(total);
    for (word_index, &word) in bitmap.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            ids.push((word_index * 64) as u32 + bits.trailing_zeros());
            bits &= bits - 1;
        }
    }
    ids
}

/// Intersection of two ascending lists.
fn intersect(left: &[u32], right: &[u32]) -> Vec<u32> {
    let (small, large) = if left.len() <= right.len() {
        (left, right)
    } else {
        (right, left)
    };
    let mut out = Vec::with_capacity(small.len());
    let mut from = 0;
    for &id in small {
        // Galloping would help for very skewed sizes; binary search on the rest is enough.
        match large[from..].binary_search(&id) {
            Ok(position) => {
                out.push(id);
                from += position + 1;
            }
            Err(position) => from += position,
        }
        if from >= large.len() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trigram::extract::trigrams;

    #[test]
    fn a_repacked_table_holds_the_same_documents_sharing_what_was_shared() {
        let definitions: Arc<crate::symbols::Definitions> = Arc::new(
            std::iter::once(crate::symbols::Definition {
                name: "parse",
                index: 0,
                start_line: 1,
                end_line: 3,
                kind: crate::symbols::SymbolKind::Function,
                documented: true,
                parent: None,
                scope: Some("Parser"),
            })
            .collect(),
        );
        let mut table = DocTable::default();
        for (id, path) in [(0, "a.rs"), (5, "b/copy.rs"), (2000, "c.py")] {
            table.set(
                id,
                Some(Doc {
                    path: path.into(),
                    hash: [id as u8; 32],
                    content: id,
                    language: if path.ends_with(".py") {
                        "Python"
                    } else {
                        "Rust"
                    }
                    .into(),
                    definitions: (id < 2000).then(|| Arc::clone(&definitions)),
                }),
            );
        }
        table.set(5, None);
        table.set(
            6,
            doc("b/copy.rs").map(|doc| Doc {
                definitions: Some(Arc::clone(&definitions)),
                ..doc
            }),
        );
        let repacked = table.repacked();
        assert_eq!(repacked.live(), table.live());
        let before: Vec<(u32, Doc)> = table.iter().map(|(id, doc)| (id, doc.clone())).collect();
        let after: Vec<(u32, Doc)> = repacked.iter().map(|(id, doc)| (id, doc.clone())).collect();
        assert_eq!(before, after);
        // Fresh allocations, one copy per shared original.
        let (a, b) = (repacked.get(0).unwrap(), repacked.get(6).unwrap());
        let (a_defs, b_defs) = (
            a.definitions.as_ref().unwrap(),
            b.definitions.as_ref().unwrap(),
        );
        assert!(Arc::ptr_eq(a_defs, b_defs));
        assert!(!Arc::ptr_eq(a_defs, &definitions));
        assert!(!std::ptr::eq(
            a.path.as_ptr(),
            table.get(0).unwrap().path.as_ptr()
        ));
    }

    fn doc(path: &str) -> Option<Doc> {
        held(path, 0)
    }

    fn held(path: &str, content: u32) -> Option<Doc> {
        Some(Doc {
            path: path.into(),
            hash: [0; 32],
            content,
            language: "Text".into(),
            definitions: None,
        })
    }

    #[test]
    fn doc_table_counts_and_shares() {
        let mut table = DocTable::default();
        table.set(5, doc("a"));
        table.set(2000, doc("b"));
        let snapshot = table.clone();
        table.set(5, None);
        assert_eq!(table.live(), 1);
        assert_eq!(snapshot.live(), 2, "the snapshot is unaffected");
        assert_eq!(snapshot.get(5).unwrap().path.as_ref(), "a");
        assert_eq!(
            snapshot.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            [5, 2000]
        );
    }

    #[test]
    fn chunks_whose_documents_all_died_are_given_back() {
        // A watcher replacing one file over and over: ids only grow.
        let mut table = DocTable::default();
        let chunk_bytes = (CHUNK * std::mem::size_of::<Option<Doc>>()) as u64;
        for id in 0..(10 * CHUNK as u32) {
            table.set(id, doc("churned"));
            if id > 0 {
                table.set(id - 1, None);
            }
        }
        assert_eq!(table.live(), 1);
        let (held, _) = table.heap_bytes();
        assert!(
            held < 2 * chunk_bytes,
            "{held} bytes held for one live document (a chunk is {chunk_bytes})"
        );
        // Killing a document that is not there copies nothing.
        table.set(3, None);
        assert_eq!(table.heap_bytes().0, held);
        assert_eq!(
            table.get(10 * CHUNK as u32 - 1).unwrap().path.as_ref(),
            "churned"
        );
    }

    #[test]
    fn candidates_follow_the_query_and_skip_dead_docs() {
        let mut index = RootIndex::default();
        // Documents 1–3 hold contents 10, 11, 12; content 13 is another root's only.
        for (id, path) in [(1, "x"), (2, "y"), (3, "z")] {
            index.set_doc(id, held(path, id + 9));
        }
        index.segments = Arc::new(vec![
            (
                1,
                Arc::new(Segment::build(&[
                    (10, trigrams(b"hello world")),
                    (11, trigrams(b"help")),
                ])),
            ),
            (
                2,
                Arc::new(Segment::build(&[
                    (12, trigrams(b"shell world")),
                    (13, trigrams(b"other world")),
                ])),
            ),
        ]);
        let query = TrigramQuery::from_regex("world", false).unwrap();
        assert_eq!(index.candidates(&query), Some(vec![1, 3]));
        index.set_doc(3, None);
        assert_eq!(index.candidates(&query), Some(vec![1]));
        // A copy of content 10 in another place is a candidate too; a killed copy is not.
        index.set_doc(7, held("x-copy", 10));
        assert_eq!(index.candidates(&query), Some(vec![1, 7]));
        index.set_doc(1, None);
        assert_eq!(index.candidates(&query), Some(vec![7]));
        assert_eq!(index.contents.get(10), [7]);
        let all = TrigramQuery::from_regex("w.r", false).unwrap();
        assert_eq!(index.candidates(&all), None);
        assert_eq!(intersect(&[1, 3, 5, 7], &[2, 3, 7, 9]), [3, 7]);
    }

    #[test]
    fn content_docs_track_every_holder_and_give_chunks_back() {
        let mut contents = ContentDocs::default();
        contents.add(5, 30);
        contents.add(5, 10);
        contents.add(5, 20);
        contents.add(5, 20);
        contents.add(3000, 1);
        assert_eq!(contents.get(5), [10, 20, 30]);
        assert_eq!(contents.contents().collect::<Vec<_>>(), [5, 3000]);
        let snapshot = contents.clone();
        contents.remove(5, 20);
        contents.remove(5, 99);
        assert_eq!(contents.get(5), [10, 30]);
        assert_eq!(snapshot.get(5), [10, 20, 30], "the snapshot is unaffected");
        contents.remove(5, 10);
        contents.remove(5, 30);
        assert!(!contents.contains(5));
        contents.remove(3000, 1);
        assert_eq!(contents.contents().count(), 0);
        assert!(
            contents.heap_bytes() < 100,
            "emptied chunks are given back: {} bytes",
            contents.heap_bytes()
        );
    }

    #[test]
    fn unions_are_sorted_and_unique_by_either_method() {
        assert_eq!(union(&[]), Vec::<u32>::new());
        assert_eq!(union(&[vec![], vec![]]), Vec::<u32>::new());
        // Few ids: sorted concatenation.
        assert_eq!(union(&[vec![5, 9], vec![1, 5], vec![70]]), [1, 5, 9, 70]);
        // Many dense ids: the bitmap, including ids on word boundaries.
        let evens: Vec<u32> = (0..400).step_by(2).collect();
        let threes: Vec<u32> = (0..400).step_by(3).chain([63, 64, 127, 128]).collect();
        let mut expected: Vec<u32> = evens.iter().chain(&threes).copied().collect();
        expected.sort_unstable();
        expected.dedup();
        let mut threes_sorted = threes.clone();
        threes_sorted.sort_unstable();
        assert_eq!(union(&[evens, threes_sorted]), expected);
        // Sparse ids far apart: sorted concatenation again.
        let sparse: Vec<u32> = (0..100).map(|i| i * 100_000).collect();
        assert_eq!(union(&[sparse.clone(), sparse.clone()]), sparse);
    }

    #[test]
    fn postings_come_out_sorted_whatever_the_segment_order() {
        let mut index = RootIndex::default();
        for id in 1..=6 {
            index.set_doc(id, held("x", id));
        }
        // A merged segment listed after newer ones, and one whose range overlaps another's.
        let mut segments = Vec::new();
        for (key, docs) in [(3, vec![5, 6]), (1, vec![1, 4]), (2, vec![2, 3])] {
            let docs: Vec<(u32, Vec<_>)> = docs
                .into_iter()
                .map(|id| (id, trigrams(b"needle")))
                .collect();
            segments.push((key, Arc::new(Segment::build(&docs))));
        }
        index.segments = Arc::new(segments);
        let query = TrigramQuery::from_regex("needle", false).unwrap();
        assert_eq!(index.candidates(&query), Some(vec![1, 2, 3, 4, 5, 6]));
    }
}
