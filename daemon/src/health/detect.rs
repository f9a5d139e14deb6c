//! From fingerprints to clone classes: equal fingerprints between (or within) files are
//! paired, consecutive pairs with a steady offset are chained into clone pairs (small gaps
//! and offset drift allowed: near-miss clones), and pairs are grouped into classes, each the
//! set of places holding one copy. Pure functions over in-memory fingerprints; boundaries
//! here are those of the matched k-grams (see [`super::refine`] for exact ones).

use std::collections::HashMap;
use std::sync::Arc;

use super::fingerprint::{Fingerprints, KGRAM, WINDOW};

/// A hash found in more places than this is boilerplate (license headers, generated
/// tables): its places are paired with their neighbours only, not all with all.
const MAX_GROUP: usize = 32;

/// Tokens a near-miss clone may skip on either side between two matched k-grams (about
/// three lines of changed or inserted code), beyond the gap winnowing itself leaves.
pub const NEAR_TOKENS: u32 = 32;

/// Fewest tokens a clone holds on each side (jscpd's default minimum), whatever its lines:
/// a few tokens spread over many short lines (a list of names) is not a copy worth
/// reporting.
pub const MIN_TOKENS: u32 = 50;

/// How far two matched k-grams of one clone may be apart, in tokens.
const MAX_GAP: u32 = (KGRAM + WINDOW) as u32 + NEAR_TOKENS;

/// One file as the detector sees it.
#[derive(Debug, Clone)]
pub struct FileIn {
    /// The file's document id (any stable number).
    pub doc: u32,
    /// Its fingerprints.
    pub prints: Arc<Fingerprints>,
}

/// What a clone's copies have in common.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CloneKind {
    /// The same tokens.
    Exact,
    /// The same tokens up to identifiers and literals.
    Renamed,
    /// Mostly the same, with a few tokens inserted, removed or changed.
    Near,
}

impl CloneKind {
    /// The name used in answers.
    pub fn as_str(self) -> &'static str {
        match self {
            CloneKind::Exact => "exact",
            CloneKind::Renamed => "renamed",
            CloneKind::Near => "near",
        }
    }
}

/// A stretch of one file: tokens `start..=end` on lines `start_line..=end_line`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Document.
    pub doc: u32,
    /// First token.
    pub start: u32,
    /// Last token.
    pub end: u32,
    /// First line.
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
}

impl Region {
    /// Lines it spans.
    pub fn lines(&self) -> u32 {
        self.end_line.saturating_sub(self.start_line) + 1
    }

    fn overlaps(&self, other: &Region) -> bool {
        self.doc == other.doc && self.start <= other.end && other.start <= self.end
    }
}

/// Two places holding the same code.
#[derive(Debug, Clone)]
pub struct ClonePair {
    /// One copy.
    pub a: Region,
    /// The other.
    pub b: Region,
    /// Exact, renamed or near.
    pub kind: CloneKind,
    /// Share of the copies' tokens that matched (1 for exact and renamed clones).
    pub similarity: f32,
    /// The matched k-grams' first tokens, (in a, in b), in order: anchors to grow exact
    /// boundaries from.
    pub anchors: Vec<(u32, u32)>,
}

/// A set of places holding copies of one piece of code.
#[derive(Debug, Clone)]
pub struct CloneClass {
    /// The places, by document and position.
    pub regions: Vec<Region>,
    /// The pairs that tie them together.
    pub pairs: Vec<ClonePair>,
    /// For each pair, the positions of its two places in `regions`.
    pub ends: Vec<(usize, usize)>,
    /// The least similar kind among the pairs.
    pub kind: CloneKind,
    /// The lowest similarity among the pairs.
    pub similarity: f32,
}

impl CloneClass {
    /// Lines of one copy (the shortest), the class's line count.
    pub fn lines(&self) -> u32 {
        self.regions.iter().map(Region::lines).min().unwrap_or(0)
    }

    /// Lines × copies: what ranks classes.
    pub fn size(&self) -> u64 {
        u64::from(self.lines()) * self.regions.len() as u64
    }
}

/// A matched k-gram: (document, fingerprint index) on each side.
#[derive(Debug, Clone, Copy)]
struct Match {
    a: (u32, u32),
    b: (u32, u32),
}

/// Pairs of equal fingerprints among `files`.
fn matches(files: &[FileIn]) -> Vec<Match> {
    // A periodic k-gram (a table of constants, a list of fields) counts only when its raw
    // tokens match too, so it is grouped by its raw hash: grouped by the normalised one, every
    // such table in the root would fall in one huge group.
    let mut occurrences: Vec<(u64, u32, u32)> = Vec::new();
    for (file, input) in files.iter().enumerate() {
        for (index, print) in input.prints.prints.iter().enumerate() {
            let key = if print.periodic {
                1 << 32 | u64::from(print.raw)
            } else {
                u64::from(print.hash)
            };
            occurrences.push((key, file as u32, index as u32));
        }
    }
    occurrences.sort_unstable();
    let mut out = Vec::new();
    for group in occurrences.chunk_by(|a, b| a.0 == b.0) {
        if group.len() < 2 {
            continue;
        }
        let place = |&(_, file, index): &(u64, u32, u32)| (file, index);
        if group.len() > MAX_GROUP {
            for pair in group.windows(2) {
                out.push(Match {
                    a: place(&pair[0]),
                    b: place(&pair[1]),
                });
            }
            continue;
        }
        for (at, first) in group.iter().enumerate() {
            for second in &group[at + 1..] {
                out.push(Match {
                    a: place(first),
                    b: place(second),
                });
            }
        }
    }
    out
}

/// Grows the matches between one pair of files into clone pairs.
fn chain(
    files: &[FileIn],
    (file_a, file_b): (u32, u32),
    found: &[Match],
    min_similarity: f32,
) -> Vec<ClonePair> {
    let prints_a = &files[file_a as usize].prints.prints;
    let prints_b = &files[file_b as usize].prints.prints;
    // (token in a, token in b, raw hashes equal, hash); a periodic k-gram counts only when
    // its raw tokens match as well.
    let mut points: Vec<Point> = found
        .iter()
        .map(|m| (&prints_a[m.a.1 as usize], &prints_b[m.b.1 as usize]))
        .filter(|(pa, pb)| !pa.periodic || pa.raw == pb.raw)
        .map(|(pa, pb)| (pa.token, pb.token, pa.raw == pb.raw, pa.hash))
        .filter(|(ta, tb, _, _)| file_a != file_b || ta != tb)
        .collect();
    if file_a == file_b {
        // Within a file, each pair once, earlier copy first.
        for point in &mut points {
            if point.0 > point.1 {
                *point = (point.1, point.0, point.2, point.3);
            }
        }
    }
    points.sort_unstable();
    points.dedup();
    // Greedy chaining: each point extends the open chain it fits best. Points come in order
    // of their position in `a`, so a chain whose last point is more than a gap behind is
    // finished and no longer looked at.
    let mut chains: Vec<Vec<Point>> = Vec::new();
    let mut open: Vec<Vec<Point>> = Vec::new();
    for point in points {
        let mut at = 0;
        while at < open.len() {
            if open[at][open[at].len() - 1].0 + MAX_GAP < point.0 {
                chains.push(open.swap_remove(at));
            } else {
                at += 1;
            }
        }
        let offset = i64::from(point.1) - i64::from(point.0);
        let best = open
            .iter_mut()
            .filter(|chain| {
                let last = chain[chain.len() - 1];
                point.0 > last.0
                    && point.1 > last.1
                    && point.0 - last.0 <= MAX_GAP
                    && point.1 - last.1 <= MAX_GAP
                    && (offset - (i64::from(last.1) - i64::from(last.0))).unsigned_abs()
                        <= u64::from(NEAR_TOKENS)
            })
            .min_by_key(|chain| {
                let last = chain[chain.len() - 1];
                (offset - (i64::from(last.1) - i64::from(last.0))).unsigned_abs()
            });
        match best {
            Some(chain) => chain.push(point),
            None => open.push(vec![point]),
        }
    }
    chains.append(&mut open);
    chains.sort_unstable_by_key(|chain| (chain[0].0, chain[0].1));
    let grow = Grow {
        files,
        file_a,
        file_b,
    };
    let mut out = Vec::new();
    for chain in chains {
        match grow.pair(&chain) {
            Some(pair) if pair.similarity >= min_similarity => out.push(pair),
            // A chain that wandered (into a repetition of itself, or across unrelated code
            // with a similar offset) is not a clone as a whole, but its steady runs — the
            // exact or renamed stretches it was chained from — may be.
            _ => out.extend(
                chain
                    .chunk_by(|x, y| y.0 - x.0 == y.1 - x.1 && y.0 - x.0 <= WINDOW as u32)
                    .filter(|run| run.len() < chain.len())
                    .filter_map(|run| grow.pair(run)),
            ),
        }
    }
    out
}

/// One chained point: (token in a, token in b, raw hashes equal, hash).
type Point = (u32, u32, bool, u32);

/// Turns chains of matched k-grams between two files into clone pairs.
struct Grow<'a> {
    files: &'a [FileIn],
    file_a: u32,
    file_b: u32,
}

impl Grow<'_> {
    /// The clone pair `chain` makes, unless it is a repetition (of a short pattern, or of
    /// one stretch overlapping itself).
    fn pair(&self, chain: &[Point]) -> Option<ClonePair> {
        let prints_a = &self.files[self.file_a as usize].prints;
        let prints_b = &self.files[self.file_b as usize].prints;
        // A run of one short pattern repeated (struct fields, table rows, match arms) has
        // few distinct k-grams: not a copy of anything.
        let mut hashes: Vec<u32> = chain.iter().map(|point| point.3).collect();
        hashes.sort_unstable();
        hashes.dedup();
        if hashes.len() * 2 < chain.len() {
            return None;
        }
        let (first, last) = (chain.first()?, chain.last()?);
        let region = |file: u32, prints: &Fingerprints, from: u32, to: u32| {
            let line_of = |token: u32, end: bool| {
                let at = prints.prints.partition_point(|p| p.token < token);
                let print = &prints.prints[at.min(prints.prints.len() - 1)];
                if end {
                    print.end_line
                } else {
                    print.start_line
                }
            };
            Region {
                doc: self.files[file as usize].doc,
                start: from,
                end: (to + KGRAM as u32 - 1).min(prints.tokens.saturating_sub(1)),
                start_line: line_of(from, false),
                end_line: line_of(to, true),
            }
        };
        let a = region(self.file_a, prints_a, first.0, last.0);
        let b = region(self.file_b, prints_b, first.1, last.1);
        if a.overlaps(&b) {
            return None; // a repetition inside one stretch, not two copies
        }
        let span_a = a.end - a.start + 1;
        let span_b = b.end - b.start + 1;
        let steady = chain.windows(2).all(|pair| {
            pair[1].0 - pair[0].0 == pair[1].1 - pair[0].1 && pair[1].0 - pair[0].0 <= WINDOW as u32
        });
        let kind = if !steady {
            CloneKind::Near
        } else if chain.iter().all(|point| point.2) {
            CloneKind::Exact
        } else {
            CloneKind::Renamed
        };
        // Between two matched k-grams whose gap winnowing alone cannot explain, the tokens
        // past a k-gram and a window are taken as changed (give or take half a window).
        let unmatched = |side: fn(&Point) -> u32| -> u32 {
            chain
                .windows(2)
                .map(|pair| {
                    let gap = side(&pair[1]) - side(&pair[0]);
                    gap.saturating_sub((KGRAM + WINDOW / 2) as u32)
                })
                .sum()
        };
        let similarity = if kind == CloneKind::Near {
            let kept_a = span_a.saturating_sub(unmatched(|p| p.0)) as f32 / span_a as f32;
            let kept_b = span_b.saturating_sub(unmatched(|p| p.1)) as f32 / span_b as f32;
            kept_a.min(kept_b).clamp(0.0, 1.0)
        } else {
            1.0
        };
        Some(ClonePair {
            a,
            b,
            kind,
            similarity,
            anchors: chain.iter().map(|point| (point.0, point.1)).collect(),
        })
    }
}

/// Every clone pair among `files`: at least `min_lines` lines on both sides and at least
/// `min_similarity` similar.
pub fn pairs(files: &[FileIn], min_lines: u32, min_similarity: f32) -> Vec<ClonePair> {
    let mut by_files: HashMap<(u32, u32), Vec<Match>> = HashMap::new();
    for found in matches(files) {
        let (a, b) = if found.a.0 <= found.b.0 {
            (found.a, found.b)
        } else {
            (found.b, found.a)
        };
        by_files.entry((a.0, b.0)).or_default().push(Match { a, b });
    }
    let mut keys: Vec<(u32, u32)> = by_files.keys().copied().collect();
    keys.sort_unstable();
    use rayon::prelude::*;
    keys.par_iter()
        .flat_map_iter(|key| chain(files, *key, &by_files[key], min_similarity))
        .filter(|pair| {
            // No bar on tokens here: the k-grams of a copy of MIN_TOKENS may cover a
            // window less at each end; the exact extent is measured when reported.
            pair.a.lines() >= min_lines && pair.b.lines() >= min_lines
        })
        .collect()
}

/// Groups clone pairs into classes: places of one document that overlap by at least half
/// (of the longer) are one place, and pairs join their places.
pub fn classes(pairs: Vec<ClonePair>) -> Vec<CloneClass> {
    // Places: every region, merged per document by overlap.
    let mut regions: Vec<Region> = pairs.iter().flat_map(|p| [p.a, p.b]).collect();
    regions.sort_unstable_by_key(|r| (r.doc, r.start, r.end));
    let mut places: Vec<Region> = Vec::new();
    for region in regions {
        if let Some(last) = places.last_mut()
            && last.doc == region.doc
            && region.start <= last.end
        {
            // The same place only when they mostly coincide: merging on a small overlap
            // would chain unrelated classes together.
            let overlap = last.end.min(region.end) - region.start + 1;
            let longer = (last.end - last.start + 1).max(region.end - region.start + 1);
            if overlap * 2 >= longer {
                if region.end > last.end {
                    last.end = region.end;
                    last.end_line = region.end_line;
                }
                continue;
            }
        }
        places.push(region);
    }
    let place_of = |region: &Region| -> usize {
        // The last place starting at or before the region's start, in its document.
        let at = places.partition_point(|p| (p.doc, p.start) <= (region.doc, region.start));
        at.saturating_sub(1)
    };
    let mut sets = super::groups::DisjointSets::new(places.len());
    let ends: Vec<(usize, usize)> = pairs
        .iter()
        .map(|pair| (place_of(&pair.a), place_of(&pair.b)))
        .collect();
    for &(a, b) in &ends {
        sets.union(a, b);
    }
    let mut by_root: HashMap<usize, CloneClass> = HashMap::new();
    // Place index → (class root, position in the class's regions); places come in
    // (document, start) order, so each class's regions do too.
    let mut position: Vec<usize> = vec![0; places.len()];
    for (at, place) in places.iter().enumerate() {
        let class_root = sets.find(at);
        let class = by_root.entry(class_root).or_insert_with(|| CloneClass {
            regions: Vec::new(),
            pairs: Vec::new(),
            ends: Vec::new(),
            kind: CloneKind::Exact,
            similarity: 1.0,
        });
        position[at] = class.regions.len();
        class.regions.push(*place);
    }
    for (pair, (a, b)) in pairs.into_iter().zip(ends) {
        let class_root = sets.find(a);
        let Some(class) = by_root.get_mut(&class_root) else {
            continue;
        };
        class.kind = class.kind.max(pair.kind);
        class.similarity = class.similarity.min(pair.similarity);
        class.ends.push((position[a], position[b]));
        class.pairs.push(pair);
    }
    let out_classes = by_root
        .into_values()
        .filter(|class| class.regions.len() >= 2 && !class.pairs.is_empty());
    let mut out: Vec<CloneClass> = out_classes.collect();
    out.sort_by(|a, b| {
        b.size().cmp(&a.size()).then_with(|| {
            (a.regions[0].doc, a.regions[0].start).cmp(&(b.regions[0].doc, b.regions[0].start))
        })
    });
    out
}

#[cfg(test)]
mod tests {
    use super::super::fingerprint::{Token, fingerprints};
    use super::*;

    /// A stream of `lines` lines, 8 tokens each, values from `seed` (normalized and raw
    /// equal unless `renamed`).
    fn block(seed: u32, lines: u32, renamed: bool) -> Vec<(u32, u32)> {
        (0..lines * 8)
            .map(|n| {
                let value = seed
                    .wrapping_mul(7919)
                    .wrapping_add(n.wrapping_mul(104_729));
                (value, if renamed { value ^ 0x5555 } else { value })
            })
            .collect()
    }

    fn file(doc: u32, parts: &[Vec<(u32, u32)>]) -> FileIn {
        let tokens: Vec<Token> = parts
            .iter()
            .flatten()
            .enumerate()
            .map(|(at, &(normalized, raw))| Token {
                normalized,
                raw,
                line: at as u32 / 8 + 1,
            })
            .collect();
        FileIn {
            doc,
            prints: Arc::new(fingerprints(&tokens)),
        }
    }

    #[test]
    fn five_copies_are_one_class_of_five_and_kinds_are_told_apart() {
        let shared = block(1, 15, false);
        let files: Vec<FileIn> = (0..5)
            .map(|doc| {
                file(
                    doc,
                    &[
                        block(100 + doc, 5, false),
                        shared.clone(),
                        block(200 + doc, 4, false),
                    ],
                )
            })
            .collect();
        let found = classes(pairs(&files, 10, 0.8));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].regions.len(), 5);
        assert_eq!(found[0].kind, CloneKind::Exact);
        // Lines 6-20 hold the shared block; k-gram boundaries may fall short by a window.
        for region in &found[0].regions {
            assert!(
                region.start_line >= 6 && region.start_line <= 8,
                "{region:?}"
            );
            assert!(region.end_line <= 20 && region.end_line >= 18, "{region:?}");
        }
        // Renamed: same shape, other names.
        let files = vec![
            file(0, &[block(5, 3, false), block(9, 12, false)]),
            file(1, &[block(9, 12, true), block(6, 3, false)]),
        ];
        let found = classes(pairs(&files, 10, 0.8));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, CloneKind::Renamed);
    }

    #[test]
    fn a_line_inserted_makes_a_near_clone_and_unrelated_code_none() {
        let head = block(3, 8, false);
        let tail = block(4, 8, false);
        let files = vec![
            file(0, &[head.clone(), tail.clone()]),
            file(1, &[head, block(77, 1, false), tail]),
            file(2, &[block(50, 20, false)]),
        ];
        let found = classes(pairs(&files, 10, 0.8));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, CloneKind::Near);
        assert!(found[0].similarity >= 0.8 && found[0].similarity < 1.0);
        assert!(found[0].regions.iter().all(|r| r.doc != 2));
        // A higher bar than its similarity drops it.
        assert!(classes(pairs(&files, 10, 0.99)).is_empty());
        // So does a longer minimum.
        assert!(classes(pairs(&files, 30, 0.8)).is_empty());
    }

    #[test]
    fn copies_within_one_file_count() {
        let shared = block(8, 12, false);
        let files = vec![file(0, &[shared.clone(), block(1, 3, false), shared])];
        let found = classes(pairs(&files, 10, 0.8));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].regions.len(), 2);
        assert!(found[0].regions.iter().all(|r| r.doc == 0));
    }

    #[test]
    fn a_chain_below_the_bar_still_gives_its_exact_stretches() {
        let head = block(11, 9, false);
        let tail = block(12, 9, false);
        let files = vec![
            file(0, &[head.clone(), block(13, 4, false), tail.clone()]),
            file(1, &[head, block(14, 4, false), tail]),
        ];
        // As one near clone, four changed lines of 22 are too many for 0.95; the two exact
        // stretches around them are clones of their own.
        let found = pairs(&files, 5, 0.95);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|pair| pair.kind == CloneKind::Exact));
        assert!(
            found[0].a.end_line <= 9 && found[1].a.start_line >= 14,
            "{found:?}"
        );
        // A lower bar takes the whole as one near clone.
        let found = pairs(&files, 5, 0.5);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, CloneKind::Near);
    }
}
