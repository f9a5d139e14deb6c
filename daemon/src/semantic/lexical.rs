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
    /// Per-slot accumulators reused by every search (all zero between searches), so a
    /// query on a large root does not clear megabytes of fresh memory.
    scratch: parking_lot::Mutex<Vec<(f32, u16)>>,
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

    /// Heap bytes held (an estimate from the collections' capacities).
    pub fn heap_bytes(&self) -> u64 {
        let table = self.postings.capacity() * (std::mem::size_of::<(u64, PostingList)>() + 1);
        let lists: usize = self
            .postings
            .values()
            .map(|list| list.items.capacity() * std::mem::size_of::<Posting>())
            .sum();
        let per_slot = self.lens.capacity() * std::mem::size_of::<Option<[u16; FIELDS]>>()
            + self.term_counts.capacity() * std::mem::size_of::<u32>()
            + self.scratch.lock().capacity() * std::mem::size_of::<(f32, u16)>();
        (table + lists + per_slot) as u64
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
        *self.scratch.get_mut() = Vec::new();
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
        // Rarest terms first; each term adds less than its idf to a chunk's score (BM25's
        // saturation keeps the rest of the factor under 1), which bounds what the terms still
        // to come can add.
        let mut lists: Vec<(&PostingList, f32)> = query
            .iter()
            .filter_map(|term| self.postings.get(term))
            .map(|list| {
                let df = list.items.len() as f32;
                (list, ((live - df + 0.5).max(0.5) / (df + 0.5) + 1.0).ln())
            })
            .collect();
        lists.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut still_to_add: f32 = lists.iter().map(|(_, idf)| idf).sum();
        // Dense accumulators (score, name terms matched) by slot: a common word touches a
        // good share of a large root's chunks, and a hash map per posting cost more than the
        // scoring itself.
        let mut scores = self.scratch.lock();
        scores.resize(self.lens.len(), (0.0, 0));
        let mut touched: Vec<u32> = Vec::new();
        let mut admitting = true;
        for (list, idf) in lists {
            // MaxScore: once `limit` admitted chunks score more than everything the remaining
            // terms could give a chunk not met yet, those terms only add to chunks already met.
            if admitting && touched.len() >= limit && limit > 0 {
                let mut admitted: Vec<f32> = touched
                    .iter()
                    .filter(|slot| allowed(**slot))
                    .map(|slot| scores[*slot as usize].0)
                    .collect();
                if admitted.len() >= limit {
                    let (_, kth, _) =
                        admitted.select_nth_unstable_by(limit - 1, |a, b| b.total_cmp(a));
                    admitting = *kth <= still_to_add;
                }
            }
            still_to_add -= idf;
            let add = |posting: &Posting, scores: &mut [(f32, u16)]| {
                let Some(Some(lens)) = self.lens.get(posting.slot as usize) else {
                    return false;
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
                let entry = &mut scores[posting.slot as usize];
                let new = entry.0 == 0.0 && entry.1 == 0;
                entry.0 += idf * weighted / (params.k1 + weighted);
                if posting.tf[0] > 0 {
                    entry.1 += 1;
                }
                new
            };
            if admitting {
                for posting in &list.items {
                    if add(posting, &mut scores) {
                        touched.push(posting.slot);
                    }
                }
            } else if touched.len() * 16 < list.items.len() {
                // Few chunks met: find each in the (slot-ordered) list.
                for &slot in &touched {
                    if let Ok(at) = list.items.binary_search_by_key(&slot, |p| p.slot) {
                        add(&list.items[at], &mut scores);
                    }
                }
            } else {
                for posting in &list.items {
                    if scores[posting.slot as usize] != (0.0, 0) {
                        add(posting, &mut scores);
                    }
                }
            }
        }
        let mut hits: Vec<LexicalHit> = touched
            .iter()
            .copied()
            .filter(|slot| allowed(*slot))
            .map(|slot| {
                let (score, named) = scores[slot as usize];
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
        for slot in touched {
            scores[slot as usize] = (0.0, 0);
        }
        drop(scores);
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

    #[test]
    fn the_max_score_shortcut_returns_what_scoring_everything_returns() {
        // A vocabulary with a few very common words and many rare ones, chunks drawn from it
        // with a fixed generator; every query's best 5 must equal the exhaustive ranking's.
        let words: Vec<String> = (0..400).map(|n| format!("w{n}x")).collect();
        let mut seed = 0x2545_f491_u64;
        let mut next = move |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound as u64) as usize
        };
        let mut index = LexicalIndex::default();
        for slot in 0..3000u32 {
            let mut body = String::new();
            for _ in 0..20 {
                // Skewed: low word numbers are far more frequent.
                let bound = next(400) + 1;
                let word = next(bound);
                body.push_str(&words[word]);
                body.push(' ');
            }
            let name = words[next(400)].clone();
            index.insert(slot, &ChunkTerms::of(&fields(&name, &body)));
            if slot % 7 == 0 {
                index.remove(slot);
            }
        }
        for _ in 0..200 {
            let query: Vec<&str> = (0..1 + next(5))
                .map(|_| words[next(400)].as_str())
                .collect();
            let question = query.join(" ");
            let every = index.search(&question, &Bm25f::default(), usize::MAX, |_| true);
            let best = index.search(&question, &Bm25f::default(), 5, |_| true);
            let expected: Vec<f32> = every.iter().take(5).map(|hit| hit.score).collect();
            let got: Vec<f32> = best.iter().map(|hit| hit.score).collect();
            assert_eq!(got.len(), expected.len(), "{question}");
            for (a, b) in got.iter().zip(&expected) {
                assert!((a - b).abs() < 1e-4, "{question}: {got:?} vs {expected:?}");
            }
            // With a filter, the shortcut's threshold counts admitted chunks only.
            let odd = |slot: u32| slot % 2 == 1;
            let every = index.search(&question, &Bm25f::default(), usize::MAX, odd);
            let best = index.search(&question, &Bm25f::default(), 5, odd);
            let expected: Vec<f32> = every.iter().take(5).map(|hit| hit.score).collect();
            let got: Vec<f32> = best.iter().map(|hit| hit.score).collect();
            assert_eq!(got.len(), expected.len(), "{question}");
            for (a, b) in got.iter().zip(&expected) {
                assert!((a - b).abs() < 1e-4, "{question}: {got:?} vs {expected:?}");
            }
        }
    }
}
