//! Exact boundaries for the clone classes an answer shows. Detection knows a clone by its
//! matched k-grams, which winnowing samples, so a copy's k-gram range may stop a window
//! short at either end. Here the two copies of each pair are compared line by line (by the
//! hashes of each line's code tokens, stored with the fingerprints: no file is read or
//! parsed again), outwards from the k-gram range, so each copy's first and last line are
//! those of the maximal run of matching lines; exact copies are told from renamed ones by
//! their raw line hashes.

use super::detect::{CloneClass, CloneKind, ClonePair, Region};
use super::fingerprint::{Fingerprints, WINDOW};

/// Share of a near copy's substantial lines (three tokens or more) that must appear verbatim
/// in the other copy. Code alike only in shape — two enums of other variants, two tests
/// feeding other data to one assertion, two structs of other fields — has none in common; a
/// copy adapted by hand keeps many.
pub const MIN_VERBATIM_SHARE: f32 = 1.0 / 3.0;

/// Tokens a line needs to count as substantial (`}` or `else:` are in every copy of
/// anything).
const SUBSTANTIAL_TOKENS: u16 = 3;

/// A copy's exact range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refined {
    /// First line.
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
}

/// A class with exact ranges, one per place in `class.regions` order, and its kind with raw
/// tokens compared.
#[derive(Debug, Clone)]
pub struct RefinedClass {
    /// Ranges, one per place.
    pub ranges: Vec<Refined>,
    /// Exact, renamed or near.
    pub kind: CloneKind,
    /// Code tokens of each copy (its longest matching run), one per place.
    pub tokens: Vec<u32>,
    /// Whether each place is a copy of another by at least one pair that is exact, renamed,
    /// or near with enough lines in common verbatim (see [`MIN_VERBATIM_SHARE`]), one per
    /// place.
    pub verbatim: Vec<bool>,
    /// The lowest similarity among the pairs, once measured (a pair grown over changed lines
    /// is less similar than its k-grams said).
    pub similarity: f32,
}

/// Pairs in a class from which its pairs are measured in parallel (a file copied many times
/// makes one class of thousands of pairs, which would otherwise hold up a whole page on one
/// thread).
const PARALLEL_PAIRS: usize = 64;

/// What measuring one pair of a class found.
enum PairMeasure {
    /// A side's fingerprints are unknown: only the kind detection gave counts.
    Unknown(CloneKind),
    /// Lines on both sides.
    Grown {
        kind: CloneKind,
        /// The similarity once grown over changed lines, if it was.
        gapped_similarity: Option<f32>,
        /// Whether the two sides count as copies of each other (see [`MIN_VERBATIM_SHARE`]).
        verbatim: bool,
        /// Line range of each side.
        ranges: [(u32, u32); 2],
        /// Code tokens of each side.
        tokens: [u32; 2],
    },
}

/// Refines `class`; `prints_of(doc)` gives a document's fingerprints (`None` when unknown:
/// that place keeps its k-gram range).
pub fn refine<'a>(
    class: &CloneClass,
    prints_of: &(dyn Fn(u32) -> Option<&'a Fingerprints> + Sync),
    min_similarity: f32,
) -> RefinedClass {
    use rayon::prelude::*;
    let measure = |pair: &ClonePair| -> Option<PairMeasure> {
        let (Some(fa), Some(fb)) = (prints_of(pair.a.doc), prints_of(pair.b.doc)) else {
            return Some(PairMeasure::Unknown(pair.kind));
        };
        measure_pair(pair, fa, fb, min_similarity)
    };
    // Every measure is folded in by min, max, or and union: the same in any order.
    let measures: Vec<Option<PairMeasure>> = if class.pairs.len() >= PARALLEL_PAIRS {
        class.pairs.par_iter().map(measure).collect()
    } else {
        class.pairs.iter().map(measure).collect()
    };
    let mut similarity = class.similarity;
    let mut ranges: Vec<Option<(u32, u32)>> = vec![None; class.regions.len()];
    let mut kind = CloneKind::Exact;
    let mut verbatim = vec![false; class.regions.len()];
    let mut tokens: Vec<u32> = class
        .regions
        .iter()
        .map(|region| region.end - region.start + 1)
        .collect();
    for (measured, &(ia, ib)) in measures.into_iter().zip(&class.ends) {
        let Some(measured) = measured else {
            continue;
        };
        let (pair_kind, gapped_similarity, is_verbatim, sides, runs) = match measured {
            PairMeasure::Unknown(pair_kind) => {
                kind = kind.max(pair_kind);
                continue;
            }
            PairMeasure::Grown {
                kind,
                gapped_similarity,
                verbatim,
                ranges,
                tokens,
            } => (kind, gapped_similarity, verbatim, ranges, tokens),
        };
        if let Some(gapped) = gapped_similarity {
            similarity = similarity.min(gapped);
        }
        if is_verbatim {
            for at in [ia, ib] {
                if let Some(place) = verbatim.get_mut(at) {
                    *place = true;
                }
            }
        }
        kind = kind.max(pair_kind);
        for ((at, run), (start, end)) in [ia, ib].into_iter().zip(runs).zip(sides) {
            if let Some(longest) = tokens.get_mut(at) {
                *longest = (*longest).max(run);
            }
            let range = ranges[at].get_or_insert((start, end));
            range.0 = range.0.min(start);
            range.1 = range.1.max(end);
        }
    }
    RefinedClass {
        ranges: class
            .regions
            .iter()
            .zip(ranges)
            .map(|(region, range)| {
                let (start_line, end_line) = range.unwrap_or((region.start_line, region.end_line));
                Refined {
                    start_line,
                    end_line,
                }
            })
            .collect(),
        kind,
        tokens,
        verbatim,
        similarity,
    }
}

/// One pair's exact lines, kind and verbatim share; `None` when it does not grow into lines.
fn measure_pair(
    pair: &ClonePair,
    fa: &Fingerprints,
    fb: &Fingerprints,
    min_similarity: f32,
) -> Option<PairMeasure> {
    let mut grown = grow(pair.a, pair.b, fa, fb, Gaps::Allowed)?;
    // A near copy is a copy edited: much of it stays verbatim. (A renamed copy may have
    // every line renamed; it is matched line for line instead, and grown over no gap
    // when that would leave too little verbatim.)
    let is_verbatim = |near: bool, (sa, ea), (sb, eb)| {
        !near || verbatim_share(fa, (sa, ea), fb, (sb, eb)) >= MIN_VERBATIM_SHARE
    };
    // Passing over changed lines must leave the copies as similar as asked, and (for
    // copies found exact or renamed) enough lines verbatim; else they grow over none.
    if grown.gapped()
        && (grown.similarity < min_similarity
            || (pair.kind != CloneKind::Near && !is_verbatim(true, grown.a, grown.b)))
        && let Some(ungapped) = grow(pair.a, pair.b, fa, fb, Gaps::Refused)
    {
        grown = ungapped;
    }
    let Grown {
        a: (sa, ea),
        b: (sb, eb),
        ..
    } = grown;
    let near = pair.kind == CloneKind::Near || grown.gapped();
    let kind = if near {
        CloneKind::Near
    } else if code_lines(fa, sa, ea)
        .map(|line| line.raw)
        .eq(code_lines(fb, sb, eb).map(|line| line.raw))
    {
        CloneKind::Exact
    } else {
        CloneKind::Renamed
    };
    let count = |prints: &Fingerprints, start: u32, end: u32| -> u32 {
        code_lines(prints, start, end)
            .map(|line| u32::from(line.tokens))
            .sum()
    };
    Some(PairMeasure::Grown {
        kind,
        gapped_similarity: grown.gapped().then_some(grown.similarity),
        verbatim: is_verbatim(near, (sa, ea), (sb, eb)),
        ranges: [(sa, ea), (sb, eb)],
        tokens: [count(fa, sa, ea), count(fb, sb, eb)],
    })
}

/// The share of the substantial lines of the shorter copy found verbatim (by raw hash) in
/// the other, whatever their order.
fn verbatim_share(
    fa: &Fingerprints,
    (sa, ea): (u32, u32),
    fb: &Fingerprints,
    (sb, eb): (u32, u32),
) -> f32 {
    let substantial = |prints: &Fingerprints, start: u32, end: u32| -> Vec<u16> {
        code_lines(prints, start, end)
            .filter(|line| line.tokens >= SUBSTANTIAL_TOKENS)
            .map(|line| line.raw)
            .collect()
    };
    let (mut lines_a, mut lines_b) = (substantial(fa, sa, ea), substantial(fb, sb, eb));
    let shorter = lines_a.len().min(lines_b.len());
    if shorter == 0 {
        return 0.0;
    }
    // The lines in common, each as often as the side holding it fewer times: counted by
    // merging the two sorted lists (no map to build for every pair measured).
    lines_a.sort_unstable();
    lines_b.sort_unstable();
    let (mut at_a, mut at_b, mut common) = (0, 0, 0);
    while let (Some(a), Some(b)) = (lines_a.get(at_a), lines_b.get(at_b)) {
        match a.cmp(b) {
            std::cmp::Ordering::Less => at_a += 1,
            std::cmp::Ordering::Greater => at_b += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                at_a += 1;
                at_b += 1;
            }
        }
    }
    common as f32 / shorter as f32
}

/// The lines of `start..=end` that hold code.
fn code_lines(
    prints: &Fingerprints,
    start: u32,
    end: u32,
) -> impl Iterator<Item = super::fingerprint::LineHash> + '_ {
    (start..=end)
        .map(|line| prints.line(line))
        .filter(|line| line.tokens > 0)
}

/// The code line before `line` (`None` at the top).
fn previous_code_line(prints: &Fingerprints, line: u32) -> Option<u32> {
    (1..line).rev().find(|&at| prints.line(at).tokens > 0)
}

/// The code line after `line` (`None` past the last).
fn next_code_line(prints: &Fingerprints, line: u32) -> Option<u32> {
    let last = prints.lines.len() as u32;
    (line + 1..=last).find(|&at| prints.line(at).tokens > 0)
}

/// How many tokens past its k-grams a copy may grow at each end: winnowing leaves at most a
/// window of k-grams unsampled there (twice that, for lines cut by a k-gram's edge). Lines
/// alike further out belong to another copy (the next overload of a run of them), which has
/// k-grams of its own.
const GROW_TOKENS: u32 = 2 * WINDOW as u32;

/// Code lines growth may pass over at once on either side (a line changed, inserted or
/// removed) when the lines past them match again: the copy is then a near one.
const GAP_LINES: usize = 2;

/// Matching code lines, one of them substantial, that must follow such a gap: a lone `}`
/// or blank-ish line matching past a difference is chance, not the copy going on.
const CONFIRM_LINES: usize = 2;

/// The skips tried when the next lines differ, fewest lines first, a changed line (one on
/// each side) before an inserted one.
const GAPS: [(usize, usize); 8] = [
    (1, 1),
    (1, 0),
    (0, 1),
    (2, 2),
    (2, 1),
    (1, 2),
    (2, 0),
    (0, 2),
];

/// Whether growing may pass over changed lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gaps {
    /// Up to [`GAP_LINES`] at a time.
    Allowed,
    /// Matching lines only.
    Refused,
}

/// Which way a copy grows.
#[derive(Debug, Clone, Copy)]
enum Toward {
    /// Towards the top of the file.
    Start,
    /// Towards the end.
    End,
}

/// Code lines looked at past a copy's end at each step of growing it.
const AHEAD: usize = GAP_LINES + CONFIRM_LINES;

/// Up to [`AHEAD`] code lines after `line`, going `toward` (on the stack: growing takes
/// them at every line of every pair measured).
fn code_lines_from(prints: &Fingerprints, line: u32, toward: Toward) -> ([u32; AHEAD], usize) {
    let mut out = [0; AHEAD];
    let mut len = 0;
    let mut at = line;
    while len < AHEAD {
        let next = match toward {
            Toward::Start => previous_code_line(prints, at),
            Toward::End => next_code_line(prints, at),
        };
        let Some(next) = next else { break };
        out[len] = next;
        len += 1;
        at = next;
    }
    (out, len)
}

/// Two copies' ends `(la, lb)` grown `toward` one end of their files while the next code
/// lines match (passing over a gap of up to [`GAP_LINES`] when [`CONFIRM_LINES`] match past
/// it), at most [`GROW_TOKENS`] tokens, never onto a line pair `blocked` refuses. Returns
/// the new ends and the code tokens passed over as changed on each side.
fn grow_end(
    (fa, fb): (&Fingerprints, &Fingerprints),
    (mut la, mut lb): (u32, u32),
    toward: Toward,
    gaps: Gaps,
    blocked: &dyn Fn(u32, u32) -> bool,
) -> ((u32, u32), (u32, u32)) {
    let same = |x: u32, y: u32| fa.line(x).normalized == fb.line(y).normalized;
    let tokens = |prints: &Fingerprints, lines: &[u32]| -> u32 {
        lines
            .iter()
            .map(|&line| u32::from(prints.line(line).tokens))
            .sum()
    };
    let tried: &[(usize, usize)] = match gaps {
        Gaps::Allowed => &GAPS,
        Gaps::Refused => &[],
    };
    let mut grown = 0;
    let mut skipped = (0, 0);
    loop {
        let (next_a, len_a) = code_lines_from(fa, la, toward);
        let (next_b, len_b) = code_lines_from(fb, lb, toward);
        let (next_a, next_b) = (&next_a[..len_a], &next_b[..len_b]);
        // Whether the `need` lines after skipping `skip_a` and `skip_b` match and may be
        // taken.
        let fits = |(skip_a, skip_b): (usize, usize), need: usize| -> bool {
            let (Some(xs), Some(ys)) = (
                next_a.get(skip_a..skip_a + need),
                next_b.get(skip_b..skip_b + need),
            ) else {
                return false;
            };
            let matching = xs.iter().zip(ys).all(|(&x, &y)| same(x, y));
            let substantial =
                need == 1 || xs.iter().any(|&x| fa.line(x).tokens >= SUBSTANTIAL_TOKENS);
            matching && substantial && !blocked(xs[need - 1], ys[need - 1])
        };
        let step = if fits((0, 0), 1) {
            Some(((0, 0), 1))
        } else {
            tried
                .iter()
                .find(|&&skips| fits(skips, CONFIRM_LINES))
                .map(|&skips| (skips, CONFIRM_LINES))
        };
        let Some(((skip_a, skip_b), need)) = step else {
            break;
        };
        grown += tokens(fa, &next_a[..skip_a + need]);
        if grown > GROW_TOKENS {
            break;
        }
        skipped.0 += tokens(fa, &next_a[..skip_a]);
        skipped.1 += tokens(fb, &next_b[..skip_b]);
        (la, lb) = (next_a[skip_a + need - 1], next_b[skip_b + need - 1]);
    }
    ((la, lb), skipped)
}

/// Two copies' line ranges, grown.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Grown {
    /// First and last line of one copy.
    a: (u32, u32),
    /// The other's.
    b: (u32, u32),
    /// Share of the copies' code tokens not passed over as changed (1 when growing passed
    /// over nothing; below it, a near copy), the lower of the two sides.
    similarity: f32,
}

impl Grown {
    /// Whether growing passed over changed lines: a near copy.
    fn gapped(&self) -> bool {
        self.similarity < 1.0
    }
}

/// The maximal matching line ranges of two copies found at k-gram ranges `a` and `b`:
/// their first and last lines are kept only when they match whole (a k-gram run may begin
/// or end inside a line), then both grow outwards while the next code lines match (blank and
/// comment lines between them are passed over on either side; so is a line or two changed
/// or inserted, when matching lines follow). Two copies in one file never grow into each
/// other. `None` when nothing whole is left; otherwise the ranges and how much of them
/// growing passed over as changed.
fn grow(a: Region, b: Region, fa: &Fingerprints, fb: &Fingerprints, gaps: Gaps) -> Option<Grown> {
    let same = |x: u32, y: u32| fa.line(x).normalized == fb.line(y).normalized;
    let same_file = a.doc == b.doc;
    let (mut sa, mut sb) = (a.start_line, b.start_line);
    let (mut ea, mut eb) = (a.end_line, b.end_line);
    if !same(sa, sb) {
        (sa, sb) = (next_code_line(fa, sa)?, next_code_line(fb, sb)?);
    }
    if !same(ea, eb) {
        (ea, eb) = (previous_code_line(fa, ea)?, previous_code_line(fb, eb)?);
    }
    if sa > ea || sb > eb {
        return None;
    }
    let ((start_a, start_b), skipped_start) =
        grow_end((fa, fb), (sa, sb), Toward::Start, gaps, &|_, pb| {
            same_file && pb <= ea
        });
    (sa, sb) = (start_a, start_b);
    let ((end_a, end_b), skipped_end) =
        grow_end((fa, fb), (ea, eb), Toward::End, gaps, &|na, _| {
            same_file && na >= sb
        });
    (ea, eb) = (end_a, end_b);
    let side = |prints: &Fingerprints, (start, end): (u32, u32), skipped: u32| -> f32 {
        let all: u32 = code_lines(prints, start, end)
            .map(|line| u32::from(line.tokens))
            .sum();
        1.0 - skipped as f32 / all.max(1) as f32
    };
    let similarity = side(fa, (sa, ea), skipped_start.0 + skipped_end.0).min(side(
        fb,
        (sb, eb),
        skipped_start.1 + skipped_end.1,
    ));
    Some(Grown {
        a: (sa, ea),
        b: (sb, eb),
        similarity,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::detect::{self, FileIn};
    use super::super::fingerprint::{Token, fingerprints};
    use super::*;

    /// Tokens of `lines`, one token per word, each line's words on that line.
    fn stream(lines: &[&str]) -> Vec<Token> {
        let hash = |word: &str| {
            word.bytes().fold(0x811c_9dc5_u32, |h, b| {
                (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
            })
        };
        lines
            .iter()
            .enumerate()
            .flat_map(|(at, line)| {
                line.split_whitespace().map(move |word| {
                    // Words starting with `v` are identifiers: normalised alike.
                    let normalized = if word.starts_with('v') {
                        hash("$id")
                    } else {
                        hash(word)
                    };
                    Token {
                        normalized,
                        raw: hash(word),
                        line: at as u32 + 1,
                    }
                })
            })
            .collect()
    }

    #[test]
    fn the_verbatim_share_counts_each_line_as_often_as_the_side_holding_it_fewer_times() {
        let a = fingerprints(&stream(&[
            "k1 = k2 ;",
            "k1 = k2 ;",
            "k3 = k4 ;",
            "}",
            "k5 = k6 ;",
        ]));
        let b = fingerprints(&stream(&[
            "k1 = k2 ;",
            "k3 = k4 ;",
            "k3 = k4 ;",
            "k7 = k8 ;",
        ]));
        // Substantial lines: four on each side (`}` is not); in common, one `k1` line (b
        // has one) and one `k3` line (a has one).
        assert_eq!(verbatim_share(&a, (1, 5), &b, (1, 4)), 0.5);
        assert_eq!(verbatim_share(&a, (1, 2), &b, (1, 1)), 1.0);
        assert_eq!(verbatim_share(&a, (4, 4), &b, (1, 4)), 0.0);
    }

    /// Documents 0 and 1's fingerprints, for `refine`.
    fn by_doc<'a>(files: [&'a Fingerprints; 2]) -> impl Fn(u32) -> Option<&'a Fingerprints> {
        move |doc| files.get(doc as usize).copied()
    }

    /// Lines `start_line..=end_line` of document `doc`, as a k-gram range found there.
    fn lines_of(doc: u32, start_line: u32, end_line: u32) -> Region {
        Region {
            doc,
            start: 0,
            end: 0,
            start_line,
            end_line,
        }
    }

    fn body(seed: u32, lines: u32, name: &str) -> Vec<String> {
        (0..lines)
            .map(|n| {
                format!(
                    "k{} ( {name} ) = k{} + k{} ;",
                    seed * 1000 + n,
                    n * 7,
                    n * 13
                )
            })
            .collect()
    }

    #[test]
    fn a_copy_grows_past_its_k_grams_by_a_window_at_most() {
        // Forty lines alike up to names (a run of overloads): the pair found on lines 20-30
        // grows by whole lines while at most GROW_TOKENS tokens are added at each end (each
        // line is 9 tokens: three lines), not over the whole run.
        let a = body(9, 40, "va");
        let b = body(9, 40, "vb");
        let fa = fingerprints(&stream(&a.iter().map(String::as_str).collect::<Vec<_>>()));
        let fb = fingerprints(&stream(&b.iter().map(String::as_str).collect::<Vec<_>>()));
        let region = |doc: u32| lines_of(doc, 20, 30);
        let lines = GROW_TOKENS / 9;
        assert_eq!(
            grow(region(0), region(1), &fa, &fb, Gaps::Allowed),
            Some(Grown {
                a: (20 - lines, 30 + lines),
                b: (20 - lines, 30 + lines),
                similarity: 1.0
            })
        );
    }

    #[test]
    fn growth_passes_over_a_changed_or_inserted_line_when_matching_lines_follow() {
        // Lines 1-3 and 5-12 alike; line 4 changed in b; b also has a line inserted after
        // its line 10. Found at lines 6-9 (9 tokens a line), the copies grow over the
        // insertion (two lines confirm it: 27 tokens grown), and upwards by line 5 only:
        // passing over line 4 and confirming with lines 3 and 2 would take 36 tokens, past
        // GROW_TOKENS.
        let a = body(9, 12, "va");
        let mut b = body(9, 12, "va");
        b[3] = "k77 ( q ) = z ;".to_string();
        b.insert(10, "extra ( line ) ;".to_string());
        let fa = fingerprints(&stream(&a.iter().map(String::as_str).collect::<Vec<_>>()));
        let fb = fingerprints(&stream(&b.iter().map(String::as_str).collect::<Vec<_>>()));
        let region = |doc: u32| lines_of(doc, 6, 9);
        assert_eq!(
            grow(region(0), region(1), &fa, &fb, Gaps::Allowed),
            Some(Grown {
                a: (5, 12),
                b: (5, 13),
                // b's inserted line (5 tokens) of its 77 passed over.
                similarity: 1.0 - 5.0 / 77.0
            })
        );
        assert_eq!(
            grow(region(0), region(1), &fa, &fb, Gaps::Refused),
            Some(Grown {
                a: (5, 10),
                b: (5, 10),
                similarity: 1.0
            })
        );
        // A lone differing line with nothing alike past it is not passed over.
        let mut c = body(9, 12, "va");
        for line in c.iter_mut().skip(9) {
            *line = "other ( stuff ) here ;".to_string();
        }
        let fc = fingerprints(&stream(&c.iter().map(String::as_str).collect::<Vec<_>>()));
        let grown = grow(region(0), region(1), &fa, &fc, Gaps::Allowed);
        assert_eq!(grown.map(|grown| grown.a.1), Some(9));
    }

    #[test]
    fn copies_grow_to_their_whole_matching_lines_and_kinds_are_told() {
        // a: 3 lines of its own, 20 shared, 2 of its own; b: a blank line and 5 of its own,
        // then the 20 (identifiers renamed), then 1 of its own.
        let mut a: Vec<String> = body(1, 3, "x");
        a.extend(body(9, 20, "va"));
        a.extend(body(2, 2, "x"));
        let mut b: Vec<String> = vec![String::new()];
        b.extend(body(3, 5, "y"));
        b.extend(body(9, 20, "vb"));
        b.extend(body(4, 1, "y"));
        let ta = stream(&a.iter().map(String::as_str).collect::<Vec<_>>());
        let tb = stream(&b.iter().map(String::as_str).collect::<Vec<_>>());
        let (fa, fb) = (Arc::new(fingerprints(&ta)), Arc::new(fingerprints(&tb)));
        let files = vec![
            FileIn {
                doc: 0,
                prints: Arc::clone(&fa),
            },
            FileIn {
                doc: 1,
                prints: Arc::clone(&fb),
            },
        ];
        let classes = detect::classes(detect::pairs(&files, 5, 0.8));
        assert_eq!(classes.len(), 1, "{classes:?}");
        let prints = by_doc([&fa, &fb]);
        let refined = refine(&classes[0], &prints, 0.8);
        assert_eq!(
            refined.ranges,
            vec![
                Refined {
                    start_line: 4,
                    end_line: 23
                },
                Refined {
                    start_line: 7,
                    end_line: 26
                }
            ]
        );
        assert_eq!(refined.kind, CloneKind::Renamed);
        assert_eq!(refined.tokens, vec![20 * 9, 20 * 9]);
        // Every line renamed, matched line for line: a renamed copy counts.
        assert_eq!(refined.verbatim, vec![true, true]);
        // Without the renaming, the same copies are exact.
        let tb = stream(
            &b.iter()
                .map(|line| line.replace("vb", "va"))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        let fb = Arc::new(fingerprints(&tb));
        let prints = by_doc([&fa, &fb]);
        let exact = refine(&classes[0], &prints, 0.8);
        assert_eq!(exact.kind, CloneKind::Exact);
        assert_eq!(exact.verbatim, vec![true, true]);
    }

    #[test]
    fn near_copies_need_lines_in_common_verbatim() {
        let a = stream(&["k1 ( x ) = y ;", "k2 ( x ) = z ;", "k3 ( x ) = w ;", "}"]);
        let same = stream(&["k1 ( x ) = y ;", "k9 ( q ) = z ;", "k3 ( x ) = w ;", "}"]);
        let other = stream(&["j1 ( a ) = b ;", "j2 ( c ) = d ;", "j3 ( e ) = f ;", "}"]);
        let (fa, fs, fo) = (fingerprints(&a), fingerprints(&same), fingerprints(&other));
        // Two of three substantial lines in common; `}` does not count.
        let share = verbatim_share(&fa, (1, 4), &fs, (1, 4));
        assert!((share - 2.0 / 3.0).abs() < 1e-6, "{share}");
        assert!(share >= MIN_VERBATIM_SHARE);
        assert_eq!(verbatim_share(&fa, (1, 4), &fo, (1, 4)), 0.0);
    }
}
