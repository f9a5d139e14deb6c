//! Exact boundaries for the clone classes an answer shows. Detection knows a clone by its
//! matched k-grams, which winnowing samples, so a copy's k-gram range may stop a window
//! short at either end. Here the two copies of each pair are compared line by line (by the
//! hashes of each line's code tokens, stored with the fingerprints: no file is read or
//! parsed again), outwards from the k-gram range, so each copy's first and last line are
//! those of the maximal run of matching lines; exact copies are told from renamed ones by
//! their raw line hashes.

use std::collections::HashMap;

use super::detect::{CloneClass, CloneKind, Region};
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
}

/// Refines `class`; `prints_of(doc)` gives a document's fingerprints (`None` when unknown:
/// that place keeps its k-gram range).
pub fn refine<'a>(
    class: &CloneClass,
    prints_of: &dyn Fn(u32) -> Option<&'a Fingerprints>,
) -> RefinedClass {
    let mut ranges: Vec<Option<(u32, u32)>> = vec![None; class.regions.len()];
    let mut kind = CloneKind::Exact;
    let mut verbatim = vec![false; class.regions.len()];
    let mut tokens: Vec<u32> = class
        .regions
        .iter()
        .map(|region| region.end - region.start + 1)
        .collect();
    for (pair, &(ia, ib)) in class.pairs.iter().zip(&class.ends) {
        let (Some(fa), Some(fb)) = (prints_of(pair.a.doc), prints_of(pair.b.doc)) else {
            kind = kind.max(pair.kind);
            continue;
        };
        let Some(((sa, ea), (sb, eb))) = grow(pair.a, pair.b, fa, fb) else {
            continue;
        };
        // A near copy is a copy edited: much of it stays verbatim. (A renamed copy may have
        // every line renamed; it is matched line for line instead.)
        if pair.kind != CloneKind::Near
            || verbatim_share(fa, (sa, ea), fb, (sb, eb)) >= MIN_VERBATIM_SHARE
        {
            for at in [ia, ib] {
                if let Some(place) = verbatim.get_mut(at) {
                    *place = true;
                }
            }
        }
        let pair_kind = if pair.kind == CloneKind::Near {
            CloneKind::Near
        } else if code_lines(fa, sa, ea)
            .map(|line| line.raw)
            .eq(code_lines(fb, sb, eb).map(|line| line.raw))
        {
            CloneKind::Exact
        } else {
            CloneKind::Renamed
        };
        kind = kind.max(pair_kind);
        let count = |prints: &Fingerprints, start: u32, end: u32| -> u32 {
            code_lines(prints, start, end)
                .map(|line| u32::from(line.tokens))
                .sum()
        };
        for (at, run) in [(ia, count(fa, sa, ea)), (ib, count(fb, sb, eb))] {
            if let Some(longest) = tokens.get_mut(at) {
                *longest = (*longest).max(run);
            }
        }
        for (at, (start, end)) in [(ia, (sa, ea)), (ib, (sb, eb))] {
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
    }
}

/// The share of the substantial lines of the shorter copy found verbatim (by raw hash) in
/// the other, whatever their order.
fn verbatim_share(
    fa: &Fingerprints,
    (sa, ea): (u32, u32),
    fb: &Fingerprints,
    (sb, eb): (u32, u32),
) -> f32 {
    let substantial = |prints: &Fingerprints, start: u32, end: u32| -> Vec<u32> {
        code_lines(prints, start, end)
            .filter(|line| line.tokens >= SUBSTANTIAL_TOKENS)
            .map(|line| line.raw)
            .collect()
    };
    let (lines_a, lines_b) = (substantial(fa, sa, ea), substantial(fb, sb, eb));
    let shorter = lines_a.len().min(lines_b.len());
    if shorter == 0 {
        return 0.0;
    }
    let mut left: HashMap<u32, usize> = HashMap::new();
    for raw in &lines_a {
        *left.entry(*raw).or_default() += 1;
    }
    let mut common = 0;
    for raw in &lines_b {
        if let Some(count) = left.get_mut(raw)
            && *count > 0
        {
            *count -= 1;
            common += 1;
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

/// The maximal matching line ranges of two copies found at k-gram ranges `a` and `b`:
/// their first and last lines are kept only when they match whole (a k-gram run may begin
/// or end inside a line), then both grow outwards while the next code lines match (blank and
/// comment lines between them are passed over on either side). Two copies in one file never
/// grow into each other. `None` when nothing whole is left.
fn grow(
    a: Region,
    b: Region,
    fa: &Fingerprints,
    fb: &Fingerprints,
) -> Option<((u32, u32), (u32, u32))> {
    let same = |x: u32, y: u32| fa.line(x).normalized == fb.line(y).normalized;
    let same_file = a.doc == b.doc;
    let (mut sa, mut sb) = (a.start_line, b.start_line);
    let (mut ea, mut eb) = (a.end_line, b.end_line);
    if same(sa, sb) {
        let mut grown = 0;
        while let (Some(pa), Some(pb)) = (previous_code_line(fa, sa), previous_code_line(fb, sb)) {
            grown += u32::from(fa.line(pa).tokens);
            if !same(pa, pb) || (same_file && pb <= ea) || grown > GROW_TOKENS {
                break;
            }
            (sa, sb) = (pa, pb);
        }
    } else {
        (sa, sb) = (next_code_line(fa, sa)?, next_code_line(fb, sb)?);
    }
    if same(ea, eb) {
        let mut grown = 0;
        while let (Some(na), Some(nb)) = (next_code_line(fa, ea), next_code_line(fb, eb)) {
            grown += u32::from(fa.line(na).tokens);
            if !same(na, nb) || (same_file && na >= sb) || grown > GROW_TOKENS {
                break;
            }
            (ea, eb) = (na, nb);
        }
    } else {
        (ea, eb) = (previous_code_line(fa, ea)?, previous_code_line(fb, eb)?);
    }
    (sa <= ea && sb <= eb).then_some(((sa, ea), (sb, eb)))
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

    /// Documents 0 and 1's fingerprints, for `refine`.
    fn by_doc<'a>(files: [&'a Fingerprints; 2]) -> impl Fn(u32) -> Option<&'a Fingerprints> {
        move |doc| files.get(doc as usize).copied()
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
        let region = |doc: u32| Region {
            doc,
            start: 0,
            end: 0,
            start_line: 20,
            end_line: 30,
        };
        let lines = GROW_TOKENS / 9;
        assert_eq!(
            grow(region(0), region(1), &fa, &fb),
            Some(((20 - lines, 30 + lines), (20 - lines, 30 + lines)))
        );
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
        let refined = refine(&classes[0], &prints);
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
        let exact = refine(&classes[0], &prints);
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
