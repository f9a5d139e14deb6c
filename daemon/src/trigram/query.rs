//! Compiling a regular expression into a boolean trigram query that every document with a
//! match must satisfy (Russ Cox's analysis from Google Code Search, on `regex-syntax`'s HIR).
//!
//! For each node of the regex the analysis tracks whether it can match the empty string, the
//! exact set of strings it matches (while small), the possible prefixes and suffixes of its
//! matches, and a query that any text containing a match satisfies. Every step keeps the
//! query a *necessary* condition, so filtering documents with it never loses a match; the
//! sets are bounded so that the analysis stays cheap on any pattern.

use std::collections::BTreeSet;

use regex_syntax::hir::{Class, Hir, HirKind};

use super::extract::{Trigram, pack};

/// At most this many exact strings are tracked before falling back to prefixes/suffixes.
const MAX_EXACT: usize = 7;
/// Prefix and suffix sets are trimmed above this size.
const MAX_SET: usize = 20;
/// Character classes larger than this match "anything".
const MAX_CLASS: usize = 7;

/// A boolean query over trigrams.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum TrigramQuery {
    /// Every document qualifies (the pattern has no usable trigram).
    All,
    /// No document qualifies (the pattern cannot match within a line).
    None,
    /// Documents containing this trigram.
    Trigram(Trigram),
    /// Documents satisfying every sub-query.
    And(Vec<TrigramQuery>),
    /// Documents satisfying at least one sub-query.
    Or(Vec<TrigramQuery>),
}

impl TrigramQuery {
    fn and(self, other: TrigramQuery) -> TrigramQuery {
        match (self, other) {
            (TrigramQuery::None, _) | (_, TrigramQuery::None) => TrigramQuery::None,
            (TrigramQuery::All, other) | (other, TrigramQuery::All) => other,
            (TrigramQuery::And(mut left), TrigramQuery::And(right)) => {
                left.extend(right);
                TrigramQuery::And(normalize(left))
            }
            (TrigramQuery::And(mut left), other) | (other, TrigramQuery::And(mut left)) => {
                left.push(other);
                TrigramQuery::And(normalize(left))
            }
            (left, right) if left == right => left,
            (left, right) => TrigramQuery::And(normalize(vec![left, right])),
        }
    }

    fn or(self, other: TrigramQuery) -> TrigramQuery {
        match (self, other) {
            (TrigramQuery::All, _) | (_, TrigramQuery::All) => TrigramQuery::All,
            (TrigramQuery::None, other) | (other, TrigramQuery::None) => other,
            (TrigramQuery::Or(mut left), TrigramQuery::Or(right)) => {
                left.extend(right);
                TrigramQuery::Or(normalize(left))
            }
            (TrigramQuery::Or(mut left), other) | (other, TrigramQuery::Or(mut left)) => {
                left.push(other);
                TrigramQuery::Or(normalize(left))
            }
            (left, right) if left == right => left,
            (left, right) => TrigramQuery::Or(normalize(vec![left, right])),
        }
    }

    /// Whether the query selects every document.
    pub fn is_all(&self) -> bool {
        matches!(self, TrigramQuery::All)
    }

    /// The query for a regex, parsed with the same flags the search uses.
    pub fn from_regex(pattern: &str, case_insensitive: bool) -> Result<TrigramQuery, String> {
        let hir = regex_syntax::ParserBuilder::new()
            .multi_line(true)
            .case_insensitive(case_insensitive)
            .build()
            .parse(pattern)
            .map_err(|err| err.to_string())?;
        let mut info = analyze(&hir);
        info.simplify(true);
        info.add_exact();
        Ok(info.matches)
    }
}

fn normalize(mut queries: Vec<TrigramQuery>) -> Vec<TrigramQuery> {
    queries.sort();
    queries.dedup();
    queries
}

type Strings = BTreeSet<Vec<u8>>;

fn min_len(set: &Strings) -> usize {
    set.iter().map(Vec::len).min().unwrap_or(0)
}

fn cross(left: &Strings, right: &Strings) -> Strings {
    let mut out = Strings::new();
    for a in left {
        for b in right {
            let mut joined = a.clone();
            joined.extend_from_slice(b);
            out.insert(joined);
        }
    }
    out
}

/// Removes strings made redundant by shorter ones: in a prefix set a string that extends
/// another adds no information (the shorter one is implied), likewise for suffixes.
fn clean(set: &mut Strings, is_suffix: bool) {
    let all: Vec<Vec<u8>> = set.iter().cloned().collect();
    set.retain(|string| {
        !all.iter().any(|other| {
            other.len() < string.len()
                && if is_suffix {
                    string.ends_with(other)
                } else {
                    string.starts_with(other)
                }
        })
    });
}

/// `query AND (OR over strings of (AND of the string's trigrams))`, when every string is long
/// enough to have a trigram.
fn and_trigrams(query: TrigramQuery, strings: &Strings) -> TrigramQuery {
    if strings.is_empty() || min_len(strings) < 3 {
        return query;
    }
    let mut any = TrigramQuery::None;
    for string in strings {
        let mut all = TrigramQuery::All;
        for window in string.windows(3) {
            if window.contains(&b'\n') {
                // No line contains a newline, and matches never span lines.
                all = TrigramQuery::None;
                break;
            }
            all = all.and(TrigramQuery::Trigram(pack(window[0], window[1], window[2])));
        }
        any = any.or(all);
    }
    query.and(any)
}

/// What the analysis knows about one regex node.
#[derive(Debug, Clone)]
struct Info {
    can_empty: bool,
    /// The exact set of strings matched, while known and small.
    exact: Option<Strings>,
    prefix: Strings,
    suffix: Strings,
    matches: TrigramQuery,
}

impl Info {
    fn any_match() -> Info {
        Info {
            can_empty: true,
            exact: None,
            prefix: Strings::from([Vec::new()]),
            suffix: Strings::from([Vec::new()]),
            matches: TrigramQuery::All,
        }
    }

    fn any_char() -> Info {
        Info {
            can_empty: false,
            ..Info::any_match()
        }
    }

    fn exactly(strings: Strings) -> Info {
        Info {
            can_empty: strings.iter().any(Vec::is_empty),
            exact: Some(strings),
            prefix: Strings::new(),
            suffix: Strings::new(),
            matches: TrigramQuery::All,
        }
    }

    fn empty_string() -> Info {
        Info::exactly(Strings::from([Vec::new()]))
    }

    fn add_exact(&mut self) {
        if let Some(exact) = &self.exact {
            self.matches = and_trigrams(
                std::mem::replace(&mut self.matches, TrigramQuery::All),
                exact,
            );
        }
    }

    fn simplify(&mut self, force: bool) {
        // The exact set is not cleaned like prefix sets: {"b", ""} means the node matches
        // "b" or nothing, and dropping "b" because it extends "" would lose every match
        // that contains it.
        let too_big = self
            .exact
            .as_ref()
            .is_some_and(|exact| exact.len() > MAX_EXACT || (min_len(exact) >= 3 && !force));
        if too_big {
            self.add_exact();
            if let Some(exact) = self.exact.take() {
                for string in exact {
                    let n = string.len();
                    if n < 3 {
                        self.prefix.insert(string.clone());
                        self.suffix.insert(string);
                    } else {
                        self.prefix.insert(string[..2].to_vec());
                        self.suffix.insert(string[n - 2..].to_vec());
                    }
                }
            }
        }
        if self.exact.is_none() {
            let prefix = std::mem::take(&mut self.prefix);
            self.prefix = self.simplify_set(prefix, false);
            let suffix = std::mem::take(&mut self.suffix);
            self.suffix = self.simplify_set(suffix, true);
        }
    }

    /// Moves what a prefix/suffix set knows into the query and trims it to short strings.
    fn simplify_set(&mut self, mut set: Strings, is_suffix: bool) -> Strings {
        clean(&mut set, is_suffix);
        self.matches = and_trigrams(
            std::mem::replace(&mut self.matches, TrigramQuery::All),
            &set,
        );
        let mut keep = 2usize;
        loop {
            set = set
                .into_iter()
                .map(|string| {
                    if string.len() > keep {
                        if is_suffix {
                            string[string.len() - keep..].to_vec()
                        } else {
                            string[..keep].to_vec()
                        }
                    } else {
                        string
                    }
                })
                .collect();
            clean(&mut set, is_suffix);
            if set.len() <= MAX_SET || keep == 0 {
                return set;
            }
            keep -= 1;
        }
    }
}

fn concat(x: Info, y: Info) -> Info {
    let mut out = Info {
        can_empty: x.can_empty && y.can_empty,
        exact: None,
        prefix: Strings::new(),
        suffix: Strings::new(),
        matches: x.matches.clone().and(y.matches.clone()),
    };
    match (&x.exact, &y.exact) {
        (Some(left), Some(right)) => out.exact = Some(cross(left, right)),
        _ => {
            // An exact side has empty prefix/suffix sets, so where the other side may be
            // empty its exact strings stand in for them.
            let x_suffix = x.exact.clone().unwrap_or_else(|| x.suffix.clone());
            let y_prefix = y.exact.clone().unwrap_or_else(|| y.prefix.clone());
            out.prefix = match &x.exact {
                Some(left) => cross(left, &y.prefix),
                None if x.can_empty => x.prefix.union(&y_prefix).cloned().collect(),
                None => x.prefix.clone(),
            };
            out.suffix = match &y.exact {
                Some(right) => cross(&x.suffix, right),
                None if y.can_empty => y.suffix.union(&x_suffix).cloned().collect(),
                None => y.suffix.clone(),
            };
        }
    }
    // A match of x followed by a match of y contains one of the strings x.suffix × y.prefix
    // across the boundary; when all are long enough, one of their trigrams must appear.
    if x.exact.is_none()
        && y.exact.is_none()
        && x.suffix.len() <= MAX_SET
        && y.prefix.len() <= MAX_SET
        && min_len(&x.suffix) + min_len(&y.prefix) >= 3
    {
        out.matches = and_trigrams(out.matches, &cross(&x.suffix, &y.prefix));
    }
    out.simplify(false);
    out
}

fn alternate(mut x: Info, mut y: Info) -> Info {
    let mut out = Info {
        can_empty: x.can_empty || y.can_empty,
        exact: None,
        prefix: Strings::new(),
        suffix: Strings::new(),
        matches: TrigramQuery::All,
    };
    match (x.exact.clone(), y.exact.clone()) {
        (Some(left), Some(right)) => {
            out.exact = Some(left.union(&right).cloned().collect());
        }
        (Some(left), None) => {
            out.prefix = left.union(&y.prefix).cloned().collect();
            out.suffix = left.union(&y.suffix).cloned().collect();
            x.add_exact();
        }
        (None, Some(right)) => {
            out.prefix = x.prefix.union(&right).cloned().collect();
            out.suffix = x.suffix.union(&right).cloned().collect();
            y.add_exact();
        }
        (None, None) => {
            out.prefix = x.prefix.union(&y.prefix).cloned().collect();
            out.suffix = x.suffix.union(&y.suffix).cloned().collect();
        }
    }
    out.matches = x.matches.or(y.matches);
    out.simplify(false);
    out
}

/// The UTF-8 (or raw byte) strings a small class matches, or `None` if it is large.
fn class_strings(class: &Class) -> Option<Strings> {
    let mut out = Strings::new();
    match class {
        Class::Unicode(class) => {
            let size: u64 = class
                .iter()
                .map(|range| u64::from(range.end()) - u64::from(range.start()) + 1)
                .sum();
            if size as usize > MAX_CLASS {
                return None;
            }
            for range in class.iter() {
                for code in u32::from(range.start())..=u32::from(range.end()) {
                    if let Some(character) = char::from_u32(code) {
                        let mut buffer = [0u8; 4];
                        out.insert(character.encode_utf8(&mut buffer).as_bytes().to_vec());
                    }
                }
            }
        }
        Class::Bytes(class) => {
            let size: usize = class
                .iter()
                .map(|range| usize::from(range.end()) - usize::from(range.start()) + 1)
                .sum();
            if size > MAX_CLASS {
                return None;
            }
            for range in class.iter() {
                for byte in range.start()..=range.end() {
                    out.insert(vec![byte]);
                }
            }
        }
    }
    Some(out)
}

fn analyze(hir: &Hir) -> Info {
    let mut info = match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Info::empty_string(),
        HirKind::Literal(literal) => Info::exactly(Strings::from([literal.0.to_vec()])),
        HirKind::Class(class) => match class_strings(class) {
            Some(strings) if strings.is_empty() => Info {
                // A class that matches nothing: no document can match.
                matches: TrigramQuery::None,
                ..Info::any_char()
            },
            Some(strings) => Info::exactly(strings),
            None => Info::any_char(),
        },
        HirKind::Capture(capture) => analyze(&capture.sub),
        HirKind::Repetition(repetition) => {
            let sub = analyze(&repetition.sub);
            match (repetition.min, repetition.max) {
                (0, Some(1)) => alternate(sub, Info::empty_string()),
                (0, _) => Info::any_match(),
                (1, Some(1)) => sub,
                _ => {
                    // x{n,} or x{n,m} with n ≥ 1: at least one x, so x's query holds, and a
                    // match starts with a prefix of x and ends with a suffix of x.
                    let mut info = sub;
                    if let Some(exact) = info.exact.take() {
                        info.prefix = exact.clone();
                        info.suffix = exact;
                    }
                    info.simplify(false);
                    info
                }
            }
        }
        HirKind::Concat(subs) => {
            let mut parts = subs.iter().map(analyze);
            let first = parts.next().unwrap_or_else(Info::empty_string);
            parts.fold(first, concat)
        }
        HirKind::Alternation(subs) => {
            let mut parts = subs.iter().map(analyze);
            match parts.next() {
                Some(first) => parts.fold(first, alternate),
                None => Info {
                    matches: TrigramQuery::None,
                    ..Info::any_char()
                },
            }
        }
    };
    info.simplify(false);
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pattern: &str) -> TrigramQuery {
        TrigramQuery::from_regex(pattern, false).unwrap()
    }

    fn t(text: &str) -> TrigramQuery {
        let bytes = text.as_bytes();
        TrigramQuery::Trigram(pack(bytes[0], bytes[1], bytes[2]))
    }

    #[test]
    fn literals_need_all_their_trigrams() {
        assert_eq!(
            q("hello"),
            TrigramQuery::And(normalize(vec![t("hel"), t("ell"), t("llo")]))
        );
        assert_eq!(q("ab"), TrigramQuery::All);
        assert_eq!(q("a.c"), TrigramQuery::All);
    }

    #[test]
    fn alternations_and_wildcards() {
        assert_eq!(
            q("abc|xyz"),
            TrigramQuery::Or(normalize(vec![t("abc"), t("xyz")]))
        );
        assert_eq!(
            q("abc.*xyz"),
            TrigramQuery::And(normalize(vec![t("abc"), t("xyz")]))
        );
        assert_eq!(q("abc|x"), TrigramQuery::All);
        assert_eq!(q("(abc)+"), t("abc"));
        assert_eq!(q("(abc)*"), TrigramQuery::All);
    }

    #[test]
    fn identifiers_with_classes_keep_their_literal_parts() {
        let query = q(r"fn \w+_handler\(");
        let text = format!("{query:?}");
        assert!(text.contains(&format!("{:?}", t("han"))), "{text}");
        assert!(text.contains(&format!("{:?}", t("fn "))), "{text}");
    }

    #[test]
    fn case_insensitive_expands_variants() {
        let query = TrigramQuery::from_regex("abc", true).unwrap();
        let text = format!("{query:?}");
        assert!(text.contains(&format!("{:?}", t("ABC"))), "{text}");
        assert!(text.contains(&format!("{:?}", t("abc"))), "{text}");
    }

    /// Whether a text with these trigrams satisfies `query`.
    fn satisfied(query: &TrigramQuery, text: &str) -> bool {
        let have = crate::trigram::trigrams(text.as_bytes());
        match query {
            TrigramQuery::All => true,
            TrigramQuery::None => false,
            TrigramQuery::Trigram(trigram) => have.contains(trigram),
            TrigramQuery::And(parts) => parts.iter().all(|part| satisfied(part, text)),
            TrigramQuery::Or(parts) => parts.iter().any(|part| satisfied(part, text)),
        }
    }

    #[test]
    fn optional_pieces_of_exact_strings_are_kept() {
        // The exact set {"b", ""} once lost "b" to prefix-style redundancy cleaning, so the
        // query asked for "acd"'s trigrams and missed "abcd" (found by the prefilter proptest).
        for (pattern, case_insensitive, text) in [
            ("a(?:b|)cd", false, "abcd"),
            ("a(?:b|)cd", false, "acd"),
            ("x(?:|yz)abc", false, "xyzabc"),
            (r"(?:a)*(?:é|ab)(?:b|\b)(?:abc)", true, "ébabc"),
        ] {
            let query = TrigramQuery::from_regex(pattern, case_insensitive).unwrap();
            assert!(
                satisfied(&query, text),
                "{pattern:?} must admit {text:?}: {query:?}"
            );
        }
    }

    #[test]
    fn newlines_cannot_match() {
        assert_eq!(q("a\nbc"), TrigramQuery::None);
        assert_eq!(q("[^\\x00-\\x{10FFFF}]"), TrigramQuery::None);
    }
}
