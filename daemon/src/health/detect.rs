//! From fingerprints to clone classes: equal fingerprints between (or within) files are
//! paired, consecutive pairs with a steady offset are chained into clone pairs (small gaps
//! and offset drift allowed: near-miss clones), and pairs are grouped into classes, each the
//! set of places holding one copy. Pure functions over in-memory fingerprints; boundaries
//! here are those of the matched k-grams (see [`super::refine`] for exact ones).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::fingerprint::{Fingerprints, KGRAM, WINDOW};

/// A hash found in more places than this is boilerplate (license headers, generated
/// tables): its places are not paired all with all, but split by their context first (see
/// [`group_matches`]).
const MAX_GROUP: usize = 100;

/// Tokens a near-miss clone may skip on either side between two matched k-grams (about
/// three lines of changed or inserted code), beyond the gap winnowing itself leaves.
pub const NEAR_TOKENS: u32 = 32;

/// Fewest tokens a clone holds on each side (jscpd's default minimum), whatever its lines:
/// a few tokens spread over many short lines (a list of names) is not a copy worth
/// reporting.
pub const MIN_TOKENS: u32 = 50;

/// How many lines an exact copy's k-grams may fall short of it: winnowing may leave up to a
/// window of tokens unsampled at each end (about three short lines each).
pub const EXACT_SLACK_LINES: u32 = 6;

/// The same for renamed and near copies, which must also hold [`MIN_TOKENS`] in their
/// k-grams alone: short runs alike only up to names (import lists, field declarations) are
/// everywhere, and would tie unrelated classes together.
pub const SLACK_LINES: u32 = 3;

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
}

/// A set of places holding copies of one piece of code.
#[derive(Debug, Clone)]
pub struct CloneClass {
    /// Identity: a digest of its places (equal places, equal identity).
    pub id: u64,
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

/// Matches kept apart by the file with the lower document id, in [`BUCKETS`] lists: the
/// matches of two files all land in one list, so each list is sorted and chained on its own
/// (a root's first detection makes tens of millions of matches: one sort of them all took
/// longer than these smaller sorts, which also stay in cache).
#[derive(Debug)]
struct Buckets(Vec<Vec<Match>>);

/// How many lists [`Buckets`] keeps (a power of two).
const BUCKETS: usize = 256;
const _: () = assert!(BUCKETS.is_power_of_two() && BUCKETS <= 1 << 16);

impl Buckets {
    fn new() -> Buckets {
        Buckets((0..BUCKETS).map(|_| Vec::new()).collect())
    }

    /// Adds the match of `x` and `y`, the place in the lower document first.
    fn push(&mut self, x: (u32, u32), y: (u32, u32)) {
        let (a, b) = if x.0 <= y.0 { (x, y) } else { (y, x) };
        // Fibonacci hashing spreads dense and strided document ids alike.
        let bucket = (a.0.wrapping_mul(0x9E37_79B9) >> (32 - BUCKETS.trailing_zeros())) as usize;
        self.0[bucket].push(Match { a, b });
    }
}

/// One fingerprint as matching sees it: (key, document, fingerprint index).
type Occurrence = (u64, u32, u32);

/// What a fingerprint is matched by. A periodic k-gram (a table of constants, a list of
/// fields) counts only when its raw tokens match too, so it goes by its raw hash: by the
/// normalised one, every such table in the root would fall in one huge group.
fn key_of(print: &super::fingerprint::Fingerprint) -> u64 {
    if print.periodic {
        1 << 32 | u64::from(print.raw)
    } else {
        u64::from(print.hash)
    }
}

/// Fingerprints on each side whose keys (and distances) tell apart the places of a
/// boilerplate group: about forty tokens of context past the k-gram itself.
const CONTEXT_PRINTS: usize = 3;

/// Which of a fingerprint's neighbours make its context, and how they are compared.
#[derive(Debug, Clone, Copy)]
enum Context {
    /// The fingerprints before it, by key.
    Before,
    /// The fingerprints after it, by key.
    After,
    /// Those on both sides, by their raw tokens: exact copies of one longer text.
    Verbatim,
}

/// A digest of the [`CONTEXT_PRINTS`] fingerprints next to `occurrence` (their keys, or raw
/// hashes, and distances), as `context` says: places holding copies of one longer text share
/// it.
fn context_of(
    files: &HashMap<u32, Arc<Fingerprints>>,
    &(_, doc, index): &Occurrence,
    context: Context,
) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut digest = std::collections::hash_map::DefaultHasher::new();
    let Some(prints) = files.get(&doc) else {
        return 0;
    };
    let prints = &prints.prints;
    let at = index as usize;
    let Some(here) = prints.get(at) else {
        return 0;
    };
    let before = prints[..at].iter().rev().take(CONTEXT_PRINTS);
    let after = prints[at + 1..].iter().take(CONTEXT_PRINTS);
    let distance = |print: &super::fingerprint::Fingerprint| print.token.abs_diff(here.token);
    match context {
        Context::Before => before.for_each(|p| (key_of(p), distance(p)).hash(&mut digest)),
        Context::After => after.for_each(|p| (key_of(p), distance(p)).hash(&mut digest)),
        Context::Verbatim => {
            here.raw.hash(&mut digest);
            before
                .chain(after)
                .for_each(|p| (p.raw, distance(p)).hash(&mut digest));
        }
    }
    digest.finish()
}

/// Each place of `group` and the next.
fn neighbours(group: &[Occurrence]) -> impl Iterator<Item = (&Occurrence, &Occurrence)> {
    group.windows(2).map(|pair| (&pair[0], &pair[1]))
}

/// Every two places of `group`.
fn all_pairs(group: &[Occurrence]) -> impl Iterator<Item = (&Occurrence, &Occurrence)> {
    (0..group.len()).flat_map(move |at| group[at + 1..].iter().map(move |y| (&group[at], y)))
}

/// The matches one group of equal keys (sorted by document and position) makes, those with
/// a side in `wanted` only (all when `None`): every two places. A group of boilerplate
/// larger than [`MAX_GROUP`] is split by what surrounds each place (the fingerprints before
/// it; those after it; its raw tokens and both sides' — three splits), so the places of
/// copies of one longer text still meet: every two places of a small part, neighbours in a
/// large one; and each place is paired with the next in the whole group too.
fn group_matches(
    group: &[Occurrence],
    files: &HashMap<u32, Arc<Fingerprints>>,
    wanted: Option<&HashSet<u32>>,
    out: &mut Buckets,
) {
    let place = |&(_, doc, index): &Occurrence| (doc, index);
    let counts = |x: &Occurrence, y: &Occurrence| {
        wanted.is_none_or(|wanted| wanted.contains(&x.1) || wanted.contains(&y.1))
    };
    let mut pair_up = |group: &mut dyn Iterator<Item = (&Occurrence, &Occurrence)>| {
        for (first, second) in group {
            if counts(first, second) {
                out.push(place(first), place(second));
            }
        }
    };
    if group.len() <= MAX_GROUP {
        pair_up(&mut all_pairs(group));
        return;
    }
    pair_up(&mut neighbours(group));
    for context in [Context::Before, Context::After, Context::Verbatim] {
        let mut by_context: Vec<(u64, Occurrence)> = group
            .iter()
            .map(|occurrence| (context_of(files, occurrence, context), *occurrence))
            .collect();
        by_context.sort_unstable();
        for part in by_context.chunk_by(|x, y| x.0 == y.0) {
            let part: Vec<Occurrence> = part.iter().map(|(_, occurrence)| *occurrence).collect();
            if part.len() <= MAX_GROUP {
                pair_up(&mut all_pairs(&part));
            } else {
                pair_up(&mut neighbours(&part));
            }
        }
    }
}

/// Clone detection over a root's files, kept up to date file by file: the fingerprints by
/// key, and the clone pairs of every two files that share any. An edit re-matches the
/// edited files only; the pairs of files it did not touch are kept.
#[derive(Debug, Clone, Default)]
pub struct Detection {
    min_lines: u32,
    min_similarity: f32,
    files: HashMap<u32, Arc<Fingerprints>>,
    occurrences: Vec<Occurrence>,
    pairs: HashMap<(u32, u32), Vec<ClonePair>>,
}

impl Detection {
    /// Heap bytes of the occurrences and pairs (the fingerprints are the files' facts).
    pub fn heap_bytes(&self) -> u64 {
        let pairs: usize = self
            .pairs
            .values()
            .map(|pairs| 32 + pairs.capacity() * std::mem::size_of::<ClonePair>())
            .sum();
        (self.files.capacity() * 16
            + self.occurrences.capacity() * std::mem::size_of::<Occurrence>()
            + pairs) as u64
    }

    /// Detection over `files`: candidate pairs for copies of at least `min_lines` lines
    /// (their k-grams may fall [`EXACT_SLACK_LINES`] or [`SLACK_LINES`] short; the exact
    /// extent is measured when reported) and at least `min_similarity` similar.
    pub fn new(files: &[FileIn], min_lines: u32, min_similarity: f32) -> Detection {
        let mut detection = Detection {
            min_lines,
            min_similarity,
            files: files
                .iter()
                .map(|file| (file.doc, Arc::clone(&file.prints)))
                .collect(),
            occurrences: Vec::new(),
            pairs: HashMap::new(),
        };
        let started = std::time::Instant::now();
        detection.occurrences = occurrences_of(&detection.files, None);
        let sorted = started.elapsed();
        let found = {
            use rayon::prelude::*;
            let files = &detection.files;
            detection
                .occurrences
                .par_chunk_by(|a, b| a.0 == b.0)
                .filter(|group| group.len() >= 2)
                .fold(Buckets::new, |mut found, group| {
                    group_matches(group, files, None, &mut found);
                    found
                })
                .collect::<Vec<Buckets>>()
        };
        let matched = started.elapsed();
        let match_count: usize = found
            .iter()
            .flat_map(|buckets| &buckets.0)
            .map(Vec::len)
            .sum();
        detection.pairs = detection.chain_all(found);
        tracing::debug!(
            occurrences = detection.occurrences.len(),
            matches = match_count,
            file_pairs = detection.pairs.len(),
            occurrences_ms = sorted.as_millis() as u64,
            matching_ms = (matched - sorted).as_millis() as u64,
            chaining_ms = (started.elapsed() - matched).as_millis() as u64,
            "clone detection phases"
        );
        detection
    }

    /// Brings the detection up to `files`: the files added, removed or changed (a new
    /// fingerprints value) are matched again against all; pairs between other files stay.
    /// Returns the files that changed. (In a group of boilerplate larger than [`MAX_GROUP`],
    /// whose places are matched with their neighbours only, two unchanged places that an
    /// edit made neighbours are not matched until the next full detection.)
    pub fn update(&mut self, files: &[FileIn]) -> HashSet<u32> {
        let now: HashMap<u32, &Arc<Fingerprints>> =
            files.iter().map(|file| (file.doc, &file.prints)).collect();
        let mut changed: HashSet<u32> = self
            .files
            .keys()
            .filter(|doc| !now.contains_key(doc))
            .copied()
            .collect();
        for (doc, prints) in &now {
            if self
                .files
                .get(doc)
                .is_none_or(|known| !Arc::ptr_eq(known, prints))
            {
                changed.insert(*doc);
            }
        }
        if changed.is_empty() {
            return changed;
        }
        // Past a twentieth of the files (and a few dozen), matching all again is as quick.
        if changed.len() > (files.len() / 20).max(64) {
            *self = Detection::new(files, self.min_lines, self.min_similarity);
            return changed;
        }
        for doc in &changed {
            match now.get(doc) {
                Some(prints) => {
                    self.files.insert(*doc, Arc::clone(prints));
                }
                None => {
                    self.files.remove(doc);
                }
            }
        }
        self.pairs
            .retain(|(a, b), _| !changed.contains(a) && !changed.contains(b));
        self.occurrences
            .retain(|(_, doc, _)| !changed.contains(doc));
        let added = occurrences_of(&self.files, Some(&changed));
        self.occurrences = merge_sorted(std::mem::take(&mut self.occurrences), added);
        // Every group holding a fingerprint of a changed file, once.
        let mut groups: Vec<(usize, usize)> = Vec::new();
        for doc in &changed {
            let Some(prints) = self.files.get(doc) else {
                continue;
            };
            for print in &prints.prints {
                let key = key_of(print);
                let start = self.occurrences.partition_point(|o| o.0 < key);
                let end = self.occurrences.partition_point(|o| o.0 <= key);
                groups.push((start, end));
            }
        }
        groups.sort_unstable();
        groups.dedup();
        let mut found = Buckets::new();
        for (start, end) in groups {
            if end - start >= 2 {
                group_matches(
                    &self.occurrences[start..end],
                    &self.files,
                    Some(&changed),
                    &mut found,
                );
            }
        }
        let fresh = self.chain_all(vec![found]);
        self.pairs.extend(fresh);
        changed
    }

    /// The clone pairs `found` makes, by the two files they join (`found`: the buckets
    /// that the threads matching in parallel each filled).
    fn chain_all(&self, found: Vec<Buckets>) -> HashMap<(u32, u32), Vec<ClonePair>> {
        use rayon::prelude::*;
        // The same bucket of every thread, as one list.
        let mut lists: Vec<Vec<Vec<Match>>> = (0..BUCKETS).map(|_| Vec::new()).collect();
        for buckets in found {
            for (list, bucket) in lists.iter_mut().zip(buckets.0) {
                if !bucket.is_empty() {
                    list.push(bucket);
                }
            }
        }
        lists
            .into_par_iter()
            .flat_map_iter(|parts| {
                let mut found = parts.concat();
                // Grouped by the two files by sorting, rather than through a map of growing
                // lists; within two files, by position, so their fingerprints are read in
                // order. One 128-bit key: a single comparison instead of four.
                found.sort_unstable_by_key(|found| {
                    u128::from(found.a.0) << 96
                        | u128::from(found.b.0) << 64
                        | u128::from(found.a.1) << 32
                        | u128::from(found.b.1)
                });
                let mut out = Vec::new();
                for found in found.chunk_by(|x, y| (x.a.0, x.b.0) == (y.a.0, y.b.0)) {
                    let key = (found[0].a.0, found[0].b.0);
                    let (Some(whole_a), Some(whole_b)) =
                        (self.files.get(&key.0), self.files.get(&key.1))
                    else {
                        continue;
                    };
                    let pairs = chain(
                        key,
                        (whole_a, whole_b),
                        found,
                        self.min_similarity,
                        |pair| self.is_candidate(pair),
                    );
                    if !pairs.is_empty() {
                        out.push((key, pairs));
                    }
                }
                out
            })
            .collect()
    }

    /// Whether `pair` may be a copy of `min_lines` once measured exactly.
    fn is_candidate(&self, pair: &ClonePair) -> bool {
        let lines = pair.a.lines().min(pair.b.lines());
        if pair.kind == CloneKind::Exact {
            lines + EXACT_SLACK_LINES >= self.min_lines
        } else {
            let tokens = (pair.a.end - pair.a.start).min(pair.b.end - pair.b.start) + 1;
            lines + SLACK_LINES >= self.min_lines && tokens >= MIN_TOKENS
        }
    }

    /// Every clone pair, by file pair and position.
    pub fn pairs(&self) -> Vec<ClonePair> {
        self.pair_refs().into_iter().cloned().collect()
    }

    /// The pairs grouped into classes, as [`classes`] groups [`Detection::pairs`], without
    /// copying every pair first (a root's first detection holds most of a million).
    pub fn classes(&self) -> Vec<CloneClass> {
        group(&self.pair_refs())
    }

    /// Every clone pair, by file pair and position.
    fn pair_refs(&self) -> Vec<&ClonePair> {
        use rayon::prelude::*;
        let mut keys: Vec<&(u32, u32)> = self.pairs.keys().collect();
        keys.par_sort_unstable();
        keys.par_iter()
            .flat_map_iter(|key| &self.pairs[*key])
            .collect()
    }
}

/// The occurrences of the fingerprints of `files` (only those of `only`, when given),
/// sorted.
fn occurrences_of(
    files: &HashMap<u32, Arc<Fingerprints>>,
    only: Option<&HashSet<u32>>,
) -> Vec<Occurrence> {
    use rayon::prelude::*;
    // Millions on a root's first detection: listed and sorted in parallel (every entry is
    // distinct, so the order is the same however they were listed).
    let mut occurrences: Vec<Occurrence> = files
        .par_iter()
        .filter(|(doc, _)| only.is_none_or(|only| only.contains(*doc)))
        .flat_map_iter(|(doc, prints)| {
            prints
                .prints
                .iter()
                .enumerate()
                .map(|(index, print)| (key_of(print), *doc, index as u32))
        })
        .collect();
    occurrences.par_sort_unstable();
    occurrences
}

/// Two sorted runs as one.
fn merge_sorted(old: Vec<Occurrence>, new: Vec<Occurrence>) -> Vec<Occurrence> {
    let mut out = Vec::with_capacity(old.len() + new.len());
    let (mut old, mut new) = (old.into_iter().peekable(), new.into_iter().peekable());
    loop {
        let next = match (old.peek(), new.peek()) {
            (Some(x), Some(y)) if x <= y => old.next(),
            (Some(_), Some(_)) => new.next(),
            (Some(_), None) => old.next(),
            (None, Some(_)) => new.next(),
            (None, None) => break,
        };
        out.extend(next);
    }
    out
}

/// Grows the matches between one pair of files into clone pairs.
fn chain(
    (file_a, file_b): (u32, u32),
    (whole_a, whole_b): (&Fingerprints, &Fingerprints),
    found: &[Match],
    min_similarity: f32,
    keep: impl Fn(&ClonePair) -> bool,
) -> Vec<ClonePair> {
    let prints_a = &whole_a.prints;
    let prints_b = &whole_b.prints;
    // A periodic k-gram counts only when its raw tokens match as well, and its key is its
    // raw hash (by the normalised one, every line of a table of constants looks the same, and
    // the copy would pass for a repetition of one pattern).
    let mut points: Vec<Point> = found
        .iter()
        .map(|m| (m.a.1, m.b.1))
        .map(|(ia, ib)| (ia, ib, &prints_a[ia as usize], &prints_b[ib as usize]))
        .filter(|(_, _, pa, pb)| !pa.periodic || pa.raw == pb.raw)
        .map(|(ia, ib, pa, pb)| (pa.token, pb.token, pa.raw == pb.raw, key_of(pa), ia, ib))
        .filter(|point| file_a != file_b || point.0 != point.1)
        .collect();
    if file_a == file_b {
        // Within a file, each pair once, earlier copy first.
        for point in &mut points {
            if point.0 > point.1 {
                *point = (point.1, point.0, point.2, point.3, point.5, point.4);
            }
        }
    }
    points.sort_unstable();
    points.dedup();
    // Greedy chaining: each point extends the open chain it fits best. Points come in order
    // of their position in `a`, so a chain whose last point is more than a gap behind is
    // finished and no longer looked at.
    // Chains are numbered in the order they begin, which is the order of their first points;
    // each point is told its chain, and the chains are gathered once at the end (a root's
    // first detection begins millions of chains, most of one or two points).
    let mut chain_of: Vec<u32> = Vec::with_capacity(points.len());
    let mut chain_count: u32 = 0;
    // The open chains, in the order the scan below goes through them, each with its last
    // point's places in a and b and its first point's place in b.
    let mut open: Vec<(u32, u32, u32, u32)> = Vec::new();
    // At most the smallest last place in a of an open chain: while it is within a gap of
    // the point, no chain is finished and the scan for finished ones is skipped.
    let mut oldest_end = u32::MAX;
    for point in &points {
        if oldest_end.saturating_add(MAX_GAP) < point.0 {
            oldest_end = u32::MAX;
            let mut at = 0;
            while at < open.len() {
                if open[at].1 + MAX_GAP < point.0 {
                    open.swap_remove(at);
                } else {
                    oldest_end = oldest_end.min(open[at].1);
                    at += 1;
                }
            }
        }
        let offset = i64::from(point.1) - i64::from(point.0);
        // The first open chain (in `open`'s order) whose last point this one follows
        // closest in offset.
        let mut best: Option<(u64, usize)> = None;
        for (at, &(_, last_a, last_b, first_b)) in open.iter().enumerate() {
            let fits = point.0 > last_a
                && point.1 > last_b
                // Within a file, the earlier copy ends where the later one begins: in a
                // run of copies side by side (overloads, test cases), the chain from the
                // first copy to the second would otherwise go on into the second's pairing
                // with the third, and the two places would overlap.
                && (file_a != file_b || point.0 + KGRAM as u32 <= first_b)
                && point.0 - last_a <= MAX_GAP
                && point.1 - last_b <= MAX_GAP;
            if !fits {
                continue;
            }
            let drift = (offset - (i64::from(last_b) - i64::from(last_a))).unsigned_abs();
            if drift <= u64::from(NEAR_TOKENS) && best.is_none_or(|(least, _)| drift < least) {
                best = Some((drift, at));
                if drift == 0 {
                    // No later chain can follow closer, and ties go to the first.
                    break;
                }
            }
        }
        match best {
            Some((_, at)) => {
                chain_of.push(open[at].0);
                (open[at].1, open[at].2) = (point.0, point.1);
            }
            None => {
                chain_of.push(chain_count);
                open.push((chain_count, point.0, point.1, point.1));
                oldest_end = oldest_end.min(point.0);
                chain_count += 1;
            }
        }
    }
    // Gathered by chain, each in its points' order: chain `c` is
    // `by_chain[starts[c]..starts[c + 1]]`.
    let mut starts = vec![0usize; chain_count as usize + 1];
    for &chain in &chain_of {
        starts[chain as usize + 1] += 1;
    }
    for at in 1..starts.len() {
        starts[at] += starts[at - 1];
    }
    let mut by_chain = points.clone();
    let mut next = starts.clone();
    for (point, &chain) in points.iter().zip(&chain_of) {
        by_chain[next[chain as usize]] = *point;
        next[chain as usize] += 1;
    }
    let chains = starts
        .windows(2)
        .map(|bounds| &by_chain[bounds[0]..bounds[1]]);
    let grow = Grow {
        a: (file_a, whole_a),
        b: (file_b, whole_b),
    };
    let mut out = Vec::new();
    let mut push = |pair: ClonePair| {
        if keep(&pair) {
            out.push(pair);
        }
    };
    for chain in chains {
        match grow.pair(chain) {
            Some(pair) if pair.similarity >= min_similarity => push(pair),
            // A chain that wandered (into a repetition of itself, or across unrelated code
            // with a similar offset) is not a clone as a whole, but its exact stretches may
            // be; stretches alike only up to names, inside code that repeats itself, are
            // mostly its shape (test tables, generated declarations), not copies.
            _ => {
                let runs = chain
                    .chunk_by(|x, y| y.0 - x.0 == y.1 - x.1 && y.0 - x.0 <= WINDOW as u32)
                    .flat_map(|run| run.chunk_by(|x, y| x.2 == y.2))
                    .filter(|run| run.len() < chain.len() && run.iter().all(|point| point.2));
                for run in runs {
                    if let Some(pair) = grow.pair(run) {
                        push(pair);
                    }
                }
            }
        }
    }
    out
}

/// One chained point: (token in a, token in b, raw hashes equal, key, fingerprint in a,
/// fingerprint in b).
type Point = (u32, u32, bool, u64, u32, u32);

/// Turns chains of matched k-grams between two files into clone pairs.
struct Grow<'a> {
    /// One file: document and fingerprints.
    a: (u32, &'a Fingerprints),
    /// The other.
    b: (u32, &'a Fingerprints),
}

impl Grow<'_> {
    /// The clone pair `chain` makes, unless it is a repetition (of a short pattern, or of
    /// one stretch overlapping itself).
    fn pair(&self, chain: &[Point]) -> Option<ClonePair> {
        // A run of one short pattern repeated (struct fields, table rows, match arms) has
        // few distinct k-grams: not a copy of anything.
        if distinct_keys(chain) * 2 < chain.len() {
            return None;
        }
        let (first, last) = (chain.first()?, chain.last()?);
        let region =
            |doc: u32, prints: &Fingerprints, (from, to): (u32, u32), (i, j): (u32, u32)| Region {
                doc,
                start: from,
                end: (to + KGRAM as u32 - 1).min(prints.tokens.saturating_sub(1)),
                start_line: prints
                    .prints
                    .get(i as usize)
                    .map_or(0, |print| print.start_line),
                end_line: prints
                    .prints
                    .get(j as usize)
                    .map_or(0, |print| print.end_line),
            };
        let a = region(self.a.0, self.a.1, (first.0, last.0), (first.4, last.4));
        let b = region(self.b.0, self.b.1, (first.1, last.1), (first.5, last.5));
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
        })
    }
}

/// How many different keys the points of `chain` have (on the stack for a short chain:
/// nearly every chain is one).
fn distinct_keys(chain: &[Point]) -> usize {
    const SHORT: usize = 32;
    let count = |keys: &mut [u64]| {
        keys.sort_unstable();
        1 + keys.windows(2).filter(|pair| pair[0] != pair[1]).count()
    };
    match chain.len() {
        0 => 0,
        1 => 1,
        len if len <= SHORT => {
            let mut keys = [0u64; SHORT];
            for (key, point) in keys.iter_mut().zip(chain) {
                *key = point.3;
            }
            count(&mut keys[..len])
        }
        _ => count(&mut chain.iter().map(|point| point.3).collect::<Vec<_>>()),
    }
}

/// Every clone pair among `files`: at least `min_lines` lines on both sides (by their
/// k-grams) and at least `min_similarity` similar.
pub fn pairs(files: &[FileIn], min_lines: u32, min_similarity: f32) -> Vec<ClonePair> {
    Detection::new(files, min_lines, min_similarity).pairs()
}

/// Groups clone pairs into classes: places of one document that overlap by at least half
/// (of the longer) are one place, and pairs join their places.
pub fn classes(pairs: Vec<ClonePair>) -> Vec<CloneClass> {
    group(&pairs.iter().collect::<Vec<_>>())
}

/// [`classes`], from references to the pairs (each copied once, into its class).
fn group(pairs: &[&ClonePair]) -> Vec<CloneClass> {
    use rayon::prelude::*;
    // Places: every region, merged per document by overlap. Each region is listed with
    // where it came from (pair `n`'s `a` is `2n`, its `b` `2n + 1`).
    let mut regions: Vec<(Region, usize)> = pairs
        .par_iter()
        .enumerate()
        .flat_map_iter(|(n, p)| [(p.a, 2 * n), (p.b, 2 * n + 1)])
        .collect();
    regions.par_sort_unstable_by_key(|(r, _)| (r.doc, r.start, r.end));
    let mut places: Vec<Region> = Vec::new();
    for &(region, _) in &regions {
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
    // Each region's place: the last place starting at or before the region's start (in
    // its document). Regions and places come in the same order, so one sweep finds them all.
    let mut ends: Vec<(usize, usize)> = vec![(0, 0); pairs.len()];
    let mut place = 0;
    for (region, from) in &regions {
        while places
            .get(place + 1)
            .is_some_and(|next| (next.doc, next.start) <= (region.doc, region.start))
        {
            place += 1;
        }
        let end = &mut ends[from / 2];
        if from % 2 == 0 {
            end.0 = place;
        } else {
            end.1 = place;
        }
    }
    drop(regions);
    let mut sets = super::groups::DisjointSets::new(places.len());
    for &(a, b) in &ends {
        sets.union(a, b);
    }
    // Class of each place's set (by the set's root place), numbered as first met.
    let mut class_of_root: Vec<Option<usize>> = vec![None; places.len()];
    let mut classes: Vec<CloneClass> = Vec::new();
    // Place index → position in its class's regions; places come in (document, start)
    // order, so each class's regions do too.
    let mut position: Vec<usize> = vec![0; places.len()];
    for (at, place) in places.iter().enumerate() {
        let class_root = sets.find(at);
        let index = *class_of_root[class_root].get_or_insert_with(|| {
            classes.push(CloneClass {
                id: 0,
                regions: Vec::new(),
                pairs: Vec::new(),
                ends: Vec::new(),
                kind: CloneKind::Exact,
                similarity: 1.0,
            });
            classes.len() - 1
        });
        let class = &mut classes[index];
        position[at] = class.regions.len();
        class.regions.push(*place);
    }
    // Each pair's class, and each class's lists made at their size (growing them pair by
    // pair copied most of them several times over).
    let class_of_pair: Vec<Option<usize>> = ends
        .iter()
        .map(|&(a, _)| class_of_root[sets.find(a)])
        .collect();
    let mut pair_counts = vec![0usize; classes.len()];
    for &class in class_of_pair.iter().flatten() {
        pair_counts[class] += 1;
    }
    for (class, &count) in classes.iter_mut().zip(&pair_counts) {
        class.pairs.reserve_exact(count);
        class.ends.reserve_exact(count);
    }
    for ((pair, &(a, b)), class) in pairs.iter().zip(&ends).zip(class_of_pair) {
        let Some(class) = class.and_then(|index| classes.get_mut(index)) else {
            continue;
        };
        class.kind = class.kind.max(pair.kind);
        class.similarity = class.similarity.min(pair.similarity);
        class.ends.push((position[a], position[b]));
        class.pairs.push((*pair).clone());
    }
    let out_classes = classes
        .into_iter()
        .filter(|class| class.regions.len() >= 2 && !class.pairs.is_empty());
    let mut out: Vec<CloneClass> = out_classes
        .map(|mut class| {
            use std::hash::{Hash, Hasher};
            let mut digest = std::collections::hash_map::DefaultHasher::new();
            for region in &class.regions {
                (region.doc, region.start, region.end).hash(&mut digest);
            }
            class.id = digest.finish();
            class
        })
        .collect();
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
        // A higher bar than its similarity drops it as a near clone; only its exact halves
        // (8 lines each: candidates, to be measured against the 10 lines) are left.
        let strict = classes(pairs(&files, 10, 0.99));
        assert!(
            strict
                .iter()
                .all(|class| class.kind == CloneKind::Exact && class.lines() <= 8),
            "{strict:?}"
        );
        // So does a longer minimum.
        assert!(classes(pairs(&files, 30, 0.8)).is_empty());
    }

    #[test]
    fn exact_copies_of_a_table_are_found_and_a_table_of_other_values_is_not() {
        // Twenty lines of one shape (`pub const NAME: u32 = VALUE;`): alike once normalised,
        // told apart by their raw tokens.
        let table = |seed: u32| -> Vec<(u32, u32)> {
            (0..20 * 8)
                .map(|n| {
                    let raw = seed
                        .wrapping_mul(7919)
                        .wrapping_add(n)
                        .wrapping_mul(2_654_435_761);
                    (n % 8 + 1, raw)
                })
                .collect()
        };
        let files = vec![
            file(0, &[table(1)]),
            file(1, &[table(1)]),
            file(2, &[table(2)]),
        ];
        assert!(files[0].prints.prints.iter().all(|print| print.periodic));
        let found = classes(pairs(&files, 10, 0.8));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, CloneKind::Exact);
        let docs: Vec<u32> = found[0].regions.iter().map(|r| r.doc).collect();
        assert_eq!(docs, vec![0, 1]);
    }

    /// `source` parsed as Python, as the detector sees it.
    fn python(doc: u32, source: &str) -> FileIn {
        let parsed = crate::symbols::extract("Python", source.as_bytes()).expect("parses");
        FileIn {
            doc,
            prints: Arc::new(parsed.fingerprints),
        }
    }

    #[test]
    fn a_copied_docstring_is_an_exact_copy_and_docstrings_alike_only_in_length_are_none() {
        let docstring = |words: &[&str]| -> String {
            (0..14)
                .map(|line| {
                    let word = |n: usize| words[(line * 5 + n) % words.len()];
                    format!(
                        "    {} {} {}({}, {})\n",
                        word(0),
                        word(1),
                        word(2),
                        word(3),
                        word(4)
                    )
                })
                .collect()
        };
        let function = |name: &str, doc: &str, body: &str| {
            format!("def {name}(key):\n    \"\"\"\n{doc}    \"\"\"\n    {body}\n\n")
        };
        let copied = docstring(&[
            "frob", "the", "widget", "when", "ready", "and", "cache", "it",
        ]);
        let other = docstring(&[
            "parse", "a", "token", "from", "input", "or", "fail", "loudly",
        ]);
        let files = vec![
            python(0, &function("sync_frob", &copied, "return lookup(key)")),
            python(
                1,
                &function("async_frob", &copied, "await other_lookup(key, 2)"),
            ),
            python(2, &function("parse", &other, "return lookup(key)")),
        ];
        let found = pairs(&files, 10, 0.8);
        // The copied docstring (lines 3-16) is one exact copy of files 0 and 1.
        assert!(
            found.iter().any(|pair| pair.kind == CloneKind::Exact
                && (pair.a.doc, pair.b.doc) == (0, 1)
                && pair.a.start_line <= 6
                && pair.a.end_line >= 13),
            "{found:?}"
        );
        // A docstring of the same shape and other words is no copy of it: text is not
        // normalised like a one-line literal.
        // (Its own repeated lines may pair within it.)
        assert!(
            found
                .iter()
                .all(|pair| (pair.a.doc == 2) == (pair.b.doc == 2)),
            "{found:?}"
        );
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

    #[test]
    fn an_update_gives_what_a_new_detection_gives() {
        let shared = block(21, 12, false);
        let other = block(22, 12, false);
        let make = |doc: u32, parts: &[Vec<(u32, u32)>]| file(doc, parts);
        let before = vec![
            make(0, &[block(30, 3, false), shared.clone()]),
            make(1, &[shared.clone(), block(31, 2, false)]),
            make(2, &[other.clone(), block(32, 4, false)]),
            make(3, &[block(33, 5, false), other.clone()]),
            make(4, &[block(34, 20, false)]),
        ];
        let mut detection = Detection::new(&before, 5, 0.8);
        // File 1 loses its copy, file 4 gains one, file 3 is gone, file 5 is new.
        let after = vec![
            before[0].clone(),
            make(1, &[block(35, 14, false)]),
            before[2].clone(),
            make(4, &[block(34, 2, false), shared.clone()]),
            make(5, std::slice::from_ref(&other)),
        ];
        let changed = detection.update(&after);
        let mut changed: Vec<u32> = changed.into_iter().collect();
        changed.sort_unstable();
        assert_eq!(changed, vec![1, 3, 4, 5]);
        let sides = |pairs: Vec<ClonePair>| -> Vec<(Region, Region, CloneKind)> {
            pairs.into_iter().map(|p| (p.a, p.b, p.kind)).collect()
        };
        let fresh = Detection::new(&after, 5, 0.8);
        assert_eq!(sides(detection.pairs()), sides(fresh.pairs()));
        let docs: Vec<(u32, u32)> = detection
            .pairs()
            .iter()
            .map(|p| (p.a.doc, p.b.doc))
            .collect();
        assert_eq!(docs, vec![(0, 4), (2, 5)]);
        // Nothing changed: nothing to do.
        assert!(detection.update(&after).is_empty());
    }
}
