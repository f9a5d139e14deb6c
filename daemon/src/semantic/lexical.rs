//! The lexical retriever: BM25F over identifier sub-tokens, with a chunk's name, signature,
//! doc comment and body as separate fields, kept incrementally.
//!
//! Chunks are numbered by dense slots (see [`super::index`]); a posting is a slot and the
//! term's count in each field. Removing a file only marks its slots dead (queries skip them);
//! once dead postings outnumber live ones the lists are compacted in memory, renumbering
//! slots, without re-reading any file. Field lengths are kept per slot, and their sums for
//! BM25's length normalisation.

use std::collections::HashMap;

use crate::chunks::{FIELDS, Fields, terms};

/// The field weights and length normalisation of BM25F.
#[derive(Debug, Clone, Copy)]
pub struct Bm25f {
    /// Weight of each field (name, signature, doc, body).
    pub weights: [f32; FIELDS],
    /// Length normalisation of each field (0: none, 1: full).
    pub b: [f32; FIELDS],
    /// Term-frequency saturation.
    pub k1: f32,
}

impl Default for Bm25f {
    fn default() -> Bm25f {
        Bm25f {
            // Tuned on the docstring → function eval: names carry most of what a chunk is
            // about once its docstring is not there; bodies are long and noisy.
            weights: [8.0, 1.5, 1.0, 0.5],
            b: [0.3, 0.5, 0.6, 0.75],
            k1: 1.2,
        }
    }
}

/// A chunk's terms with their count per field, and its field lengths.
#[derive(Debug, Clone, Default)]
pub struct ChunkTerms {
    /// Distinct terms with their count in each field.
    pub terms: Vec<(u64, [u8; FIELDS])>,
    /// Terms per field.
    pub lens: [u16; FIELDS],
}

impl ChunkTerms {
    /// The terms of a chunk's fields.
    pub fn of(fields: &Fields) -> ChunkTerms {
        let mut counts: HashMap<u64, [u8; FIELDS]> = HashMap::new();
        let mut lens = [0u16; FIELDS];
        let texts = [&fields.name, &fields.signature, &fields.doc, &fields.body];
        for (field, text) in texts.into_iter().enumerate() {
            terms::for_each_term(text, |term| {
                let slot = &mut counts.entry(terms::term_key(term)).or_default()[field];
                *slot = slot.saturating_add(1);
                lens[field] = lens[field].saturating_add(1);
            });
        }
        let mut terms: Vec<(u64, [u8; FIELDS])> = counts.into_iter().collect();
        terms.sort_unstable_by_key(|(term, _)| *term);
        ChunkTerms { terms, lens }
    }
}

#[derive(Debug, Clone, Copy)]
struct Posting {
    slot: u32,
    tf: [u8; FIELDS],
}

/// A term's postings, dead ones included until compaction (so its document frequency
/// counts a removed chunk a little longer, which moves scores but never shows a dead chunk).
#[derive(Debug, Default)]
struct PostingList {
    items: Vec<Posting>,
}

/// A lexical match: the slot, its BM25F score, and the share of its name's terms the
/// question contains.
#[derive(Debug, Clone, Copy)]
pub struct LexicalHit {
    /// The chunk's slot.
    pub slot: u32,
    /// BM25F score (higher is better).
    pub score: f32,
    /// Name terms matched over the name's terms (0 to 1).
    pub name_match: f32,
}

/// The inverted index of one root's chunks.
#[derive(Debug, Default)]
pub struct LexicalIndex {
    postings: HashMap<u64, PostingList>,
    /// Field lengths per slot; `None` for dead slots.
    lens: Vec<Option<[u16; FIELDS]>>,
    /// Distinct terms per slot (its postings).
    term_counts: Vec<u32>,
    live: u64,
    len_sums: [u64; FIELDS],
    dead_postings: usize,
    all_postings: usize,
}

impl LexicalIndex {
    /// Adds the chunk in `slot` (a fresh slot, one past the last).
    pub fn insert(&mut self, slot: u32, chunk: &ChunkTerms) {
        let at = slot as usize;
        if self.lens.len() <= at {
            self.lens.resize(at + 1, None);
            self.term_counts.resize(at + 1, 0);
        }
        self.lens[at] = Some(chunk.lens);
        self.term_counts[at] = chunk.terms.len() as u32;
        self.live += 1;
        for (sum, len) in self.len_sums.iter_mut().zip(chunk.lens) {
            *sum += u64::from(len);
        }
        for &(term, tf) in &chunk.terms {
            let list = self.postings.entry(term).or_default();
            list.items.push(Posting { slot, tf });
        }
        self.all_postings += chunk.terms.len();
    }

    /// Marks the chunk in `slot` dead; its postings are skipped until compaction.
    pub fn remove(&mut self, slot: u32) {
        let Some(Some(lens)) = self.lens.get(slot as usize).copied() else {
            return;
        };
        self.lens[slot as usize] = None;
        self.live -= 1;
        for (sum, len) in self.len_sums.iter_mut().zip(lens) {
            *sum -= u64::from(len);
        }
        self.dead_postings += self.term_counts[slot as usize] as usize;
    }

    /// Live chunks.
    pub fn live(&self) -> u64 {
        self.live
    }

    /// Whether compaction is due (dead postings outnumber live ones).
    pub fn wants_compaction(&self) -> bool {
        self.dead_postings > 100_000 && self.dead_postings * 2 > self.all_postings
    }

    /// Drops dead postings and renumbers slots with `remap` (old slot → new, `None` for dead).
    pub fn compact(&mut self, remap: &[Option<u32>]) {
        let new_len = remap.iter().flatten().count();
        let mut lens = vec![None; new_len];
        let mut term_counts = vec![0; new_len];
        for (old, new) in remap.iter().enumerate() {
            if let (Some(new), Some(len)) = (new, self.lens.get(old).copied().flatten()) {
                lens[*new as usize] = Some(len);
                term_counts[*new as usize] = self.term_counts[old];
            }
        }
        self.lens = lens;
        self.term_counts = term_counts;
        self.postings.retain(|_, list| {
            list.items.retain_mut(|posting| {
                match remap.get(posting.slot as usize).copied().flatten() {
                    Some(new) => {
                        posting.slot = new;
                        true
                    }
                    None => false,
                }
            });
            list.items.shrink_to_fit();
            !list.items.is_empty()
        });
        self.all_postings = self.postings.values().map(|list| list.items.len()).sum();
        self.dead_postings = 0;
    }

    /// The best `limit` chunks for `question`, best first, among slots `allowed` accepts.
    pub fn search(
        &self,
        question: &str,
        params: &Bm25f,
        limit: usize,
        allowed: impl Fn(u32) -> bool,
    ) -> Vec<LexicalHit> {
        let mut query: Vec<u64> = terms::terms(question)
            .iter()
            .map(|term| terms::term_key(term))
            .collect();
        query.sort_unstable();
        query.dedup();
        if query.is_empty() || self.live == 0 {
            return Vec::new();
        }
        let live = self.live as f32;
        let averages: [f32; FIELDS] =
            std::array::from_fn(|field| (self.len_sums[field] as f32 / live).max(1.0));
        // slot → (score, name terms matched)
        let mut scores: HashMap<u32, (f32, u16)> = HashMap::new();
        for term in &query {
            let Some(list) = self.postings.get(term) else {
                continue;
            };
            let df = list.items.len() as f32;
            let idf = ((live - df + 0.5).max(0.5) / (df + 0.5) + 1.0).ln();
            for posting in &list.items {
                let Some(Some(lens)) = self.lens.get(posting.slot as usize) else {
                    continue;
                };
                let mut weighted = 0.0;
                for field in 0..FIELDS {
                    let tf = f32::from(posting.tf[field]);
                    if tf > 0.0 {
                        let norm = 1.0 - params.b[field]
                            + params.b[field] * f32::from(lens[field]) / averages[field];
                        weighted += params.weights[field] * tf / norm;
                    }
                }
                let entry = scores.entry(posting.slot).or_default();
                entry.0 += idf * weighted / (params.k1 + weighted);
                if posting.tf[0] > 0 {
                    entry.1 += 1;
                }
            }
        }
        let mut hits: Vec<LexicalHit> = scores
            .into_iter()
            .filter(|(slot, _)| allowed(*slot))
            .map(|(slot, (score, named))| {
                let name_len = self
                    .lens
                    .get(slot as usize)
                    .copied()
                    .flatten()
                    .map(|lens| lens[0])
                    .unwrap_or(0);
                let name_match = if name_len == 0 {
                    0.0
                } else {
                    f32::from(named) / f32::from(name_len.max(named))
                };
                LexicalHit {
                    slot,
                    score,
                    name_match,
                }
            })
            .collect();
        top(&mut hits, limit, |hit| hit.score);
        hits
    }
}

/// Keeps the best `limit` of `items` by `score`, sorted best first (ties by slot order of
/// appearance are broken by the caller's stable order).
pub fn top<T>(items: &mut Vec<T>, limit: usize, score: impl Fn(&T) -> f32) {
    let order = |a: &T, b: &T| score(b).total_cmp(&score(a));
    if items.len() > limit && limit > 0 {
        items.select_nth_unstable_by(limit - 1, order);
        items.truncate(limit);
    }
    if limit == 0 {
        items.clear();
    }
    items.sort_by(order);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(name: &str, body: &str) -> Fields {
        Fields {
            name: name.into(),
            signature: body.lines().next().unwrap_or("").into(),
            doc: String::new(),
            body: body.into(),
        }
    }

    #[test]
    fn names_weigh_more_than_bodies_and_removed_chunks_never_return() {
        let mut index = LexicalIndex::default();
        let chunks = [
            fields(
                "retry_request",
                "def retry_request(url):\n    return send(url)",
            ),
            fields(
                "send",
                "def send(url):\n    # no retry here, we retry elsewhere\n    pass",
            ),
            fields(
                "parse_config",
                "def parse_config(text):\n    return toml(text)",
            ),
        ];
        let terms: Vec<ChunkTerms> = chunks.iter().map(ChunkTerms::of).collect();
        for (slot, chunk) in terms.iter().enumerate() {
            index.insert(slot as u32, chunk);
        }
        let hits = index.search("retrying requests", &Bm25f::default(), 10, |_| true);
        assert_eq!(hits[0].slot, 0, "{hits:?}");
        assert!(hits[0].name_match > 0.99);
        assert!(hits.iter().all(|hit| hit.slot != 2));

        index.remove(0);
        let hits = index.search("retrying requests", &Bm25f::default(), 10, |_| true);
        assert!(hits.iter().all(|hit| hit.slot != 0), "{hits:?}");
        assert_eq!(hits[0].slot, 1);

        // Compaction renumbers the survivors; the answers stay the same.
        index.compact(&[None, Some(0), Some(1)]);
        let hits = index.search("retrying requests", &Bm25f::default(), 10, |_| true);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].slot, 0);
        let hits = index.search("parse the config", &Bm25f::default(), 10, |_| true);
        assert_eq!(hits[0].slot, 1);
        assert!(
            index
                .search("   ", &Bm25f::default(), 10, |_| true)
                .is_empty()
        );
    }
}
