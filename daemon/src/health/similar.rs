//! `similar` clones: definitions whose embedding vectors (from the semantic index) are
//! nearly the same although their token streams are not alike enough to be exact, renamed or
//! near clones (the same logic written differently). Every pair of eligible definitions is
//! compared (int8 inner products, in parallel); pairs at or above the threshold that no
//! token-based class already ties together are grouped into classes.

use std::sync::Arc;

use rayon::prelude::*;

use super::groups::DisjointSets;
use crate::chunks::Chunk;
use crate::semantic::vectors::Quantized;

/// One definition in a similar class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Document.
    pub doc: u32,
    /// First line.
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
}

impl Member {
    /// Lines it spans.
    pub fn lines(&self) -> u32 {
        self.end_line.saturating_sub(self.start_line) + 1
    }

    fn overlaps(&self, other: &Member) -> bool {
        self.doc == other.doc
            && self.start_line <= other.end_line
            && other.start_line <= self.end_line
    }
}

/// Definitions that do the same thing, by their vectors.
#[derive(Debug, Clone)]
pub struct SimilarClass {
    /// The definitions, by document and line.
    pub members: Vec<Member>,
    /// The lowest cosine among the pairs that tie them together.
    pub similarity: f32,
}

impl SimilarClass {
    /// Lines of the shortest member.
    pub fn lines(&self) -> u32 {
        self.members.iter().map(Member::lines).min().unwrap_or(0)
    }

    /// Lines × copies: what ranks classes.
    pub fn size(&self) -> u64 {
        u64::from(self.lines()) * self.members.len() as u64
    }
}

/// The similar classes among `chunks` (each with its document and vector): pairs with cosine
/// at least `threshold`, leaving out pairs that overlap each other and pairs `covered` says a
/// token-based class already reports. Largest first.
pub fn classes(
    chunks: &[(u32, Chunk, Arc<Quantized>)],
    threshold: f32,
    covered: impl Fn(&Member, &Member) -> bool + Sync,
) -> Vec<SimilarClass> {
    let members: Vec<Member> = chunks
        .iter()
        .map(|(doc, chunk, _)| Member {
            doc: *doc,
            start_line: chunk.start_line,
            end_line: chunk.end_line,
        })
        .collect();
    let pairs: Vec<(usize, usize, f32)> = (0..chunks.len())
        .into_par_iter()
        .flat_map_iter(|a| {
            let members = &members;
            let covered = &covered;
            (a + 1..chunks.len()).filter_map(move |b| {
                let cosine = chunks[a].2.similarity(&chunks[b].2);
                (cosine >= threshold
                    && !members[a].overlaps(&members[b])
                    && !covered(&members[a], &members[b]))
                .then_some((a, b, cosine))
            })
        })
        .collect();
    let mut sets = DisjointSets::new(chunks.len());
    for &(a, b, _) in &pairs {
        sets.union(a, b);
    }
    let mut by_root: std::collections::HashMap<usize, SimilarClass> =
        std::collections::HashMap::new();
    for &(a, b, cosine) in &pairs {
        let class = by_root.entry(sets.find(a)).or_insert_with(|| SimilarClass {
            members: Vec::new(),
            similarity: 1.0,
        });
        class.similarity = class.similarity.min(cosine);
        for at in [a, b] {
            if !class.members.contains(&members[at]) {
                class.members.push(members[at].clone());
            }
        }
    }
    let mut out: Vec<SimilarClass> = by_root
        .into_values()
        .map(|mut class| {
            // A definition and one nested in it, both tied to a third: one place, the outer.
            let all = class.members.clone();
            class.members.retain(|member| {
                !all.iter().any(|outer| {
                    outer != member && outer.overlaps(member) && outer.lines() > member.lines()
                })
            });
            class
                .members
                .sort_by_key(|member| (member.doc, member.start_line));
            class
        })
        .filter(|class| class.members.len() >= 2)
        .collect();
    out.sort_by(|a, b| {
        b.size().cmp(&a.size()).then_with(|| {
            (a.members[0].doc, a.members[0].start_line)
                .cmp(&(b.members[0].doc, b.members[0].start_line))
        })
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunks::ChunkKind;
    use crate::symbols::SymbolKind;

    fn chunk(
        doc: u32,
        start_line: u32,
        end_line: u32,
        direction: &[f32],
    ) -> (u32, Chunk, Arc<Quantized>) {
        let norm = direction.iter().map(|x| x * x).sum::<f32>().sqrt();
        let unit: Vec<f32> = direction.iter().map(|x| x / norm).collect();
        (
            doc,
            Chunk {
                start_line,
                end_line,
                kind: ChunkKind::Symbol(SymbolKind::Function),
                name: None,
                symbol: None,
            },
            Arc::new(Quantized::new(&unit)),
        )
    }

    #[test]
    fn close_vectors_form_classes_and_covered_or_overlapping_pairs_do_not() {
        let chunks = vec![
            chunk(1, 1, 20, &[1.0, 0.05, 0.0]),
            chunk(2, 5, 30, &[1.0, 0.0, 0.05]),
            chunk(3, 1, 12, &[0.99, 0.04, 0.03]),
            // Far from the others.
            chunk(4, 1, 40, &[0.0, 1.0, 0.0]),
            // Same direction as doc 4's but inside it: nested, not a copy.
            chunk(4, 10, 20, &[0.0, 1.0, 0.01]),
            // Close to doc 4's, but a token-based class covers the pair.
            chunk(5, 1, 40, &[0.0, 1.0, 0.02]),
        ];
        let covered = |a: &Member, b: &Member| (a.doc, b.doc) == (4, 5) || (a.doc, b.doc) == (5, 4);
        let found = classes(&chunks, 0.95, covered);
        assert_eq!(found.len(), 1, "{found:?}");
        let docs: Vec<u32> = found[0].members.iter().map(|m| m.doc).collect();
        assert_eq!(docs, vec![1, 2, 3]);
        assert!(found[0].similarity >= 0.95 && found[0].similarity <= 1.0);
        assert_eq!(found[0].lines(), 12);
        // Without the token-based class, docs 4 and 5 are a similar class of their own.
        let uncovered = classes(&chunks, 0.95, |_, _| false);
        assert_eq!(uncovered.len(), 2);
        assert!(
            uncovered
                .iter()
                .any(|class| class.members.iter().map(|m| m.doc).collect::<Vec<_>>() == vec![4, 5])
        );
        // A bar above every cosine: nothing.
        assert!(classes(&chunks, 1.01, |_, _| false).is_empty());
    }
}
