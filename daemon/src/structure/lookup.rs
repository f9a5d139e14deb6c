//! Finding definitions by name: exact, then case-insensitive, prefix, substring and fuzzy
//! (subsequence or one or two typos) matches, ranked, from the in-memory definitions of a
//! root's documents. Only the files of the answers are read from the store, for their
//! signatures and ranges.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::Serialize;

use super::{Result, Scope, StructureError, qualified_name};
use crate::symbols::{Definitions, FileSymbols, SymbolKind};
use crate::trigram::index::Doc;

/// How well a definition's name matches the query; better matches rank first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// The same name.
    Exact,
    /// The same name but for case.
    CaseInsensitive,
    /// The name starts with the query (ignoring case).
    Prefix,
    /// The name contains the query (ignoring case).
    Substring,
    /// The query's letters appear in order in the name, or the name is a typo or two away.
    Fuzzy,
}

/// Which kinds a lookup accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindFilter(Option<SymbolKind>);

impl KindFilter {
    /// Any kind.
    pub const ANY: KindFilter = KindFilter(None);

    /// Parses a kind name (`function` also accepts methods); `None` and `""` accept any.
    pub fn parse(kind: Option<&str>) -> Result<KindFilter> {
        let Some(kind) = kind.map(str::trim).filter(|kind| !kind.is_empty()) else {
            return Ok(KindFilter::ANY);
        };
        let lower = kind.to_ascii_lowercase();
        let parsed = match lower.as_str() {
            "func" | "fn" | "def" => Some(SymbolKind::Function),
            "const" | "static" | "variable" => Some(SymbolKind::Constant),
            "namespace" | "package" | "mod" => Some(SymbolKind::Module),
            "typedef" | "type_alias" | "alias" => Some(SymbolKind::Type),
            other => SymbolKind::from_capture(other),
        };
        match parsed {
            Some(kind) => Ok(KindFilter(Some(kind))),
            None => Err(StructureError::InvalidArgument(format!(
                "unknown symbol kind {kind:?}; use one of: function, method, class, struct, \
                 enum, trait, interface, constant, module, type, macro, impl"
            ))),
        }
    }

    /// Whether `kind` passes.
    pub fn accepts(self, kind: SymbolKind) -> bool {
        match self.0 {
            None => true,
            Some(SymbolKind::Function) => kind.is_callable(),
            Some(wanted) => wanted == kind,
        }
    }
}

/// A definition found by name.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct SymbolMatch {
    /// Its name.
    pub name: String,
    /// `Class.method` style name.
    pub qualified_name: String,
    /// Its id (`path#Class.method`), which `read_code_file` and `find_references` accept.
    pub symbol_id: String,
    /// What it is.
    pub kind: &'static str,
    /// File, relative to the root.
    pub file_path: String,
    /// The root it is in.
    pub root: String,
    /// Language of the file.
    pub language: String,
    /// First line.
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
    /// The definition's first line.
    pub signature: String,
    /// Whether it is documented.
    pub documented: bool,
    /// How the name matched.
    #[serde(rename = "match")]
    pub matched: MatchKind,
}

/// A candidate before its file is read: enough to rank it.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// The document defining it.
    pub doc: &'a Doc,
    /// Index in the document's symbol list.
    pub index: u32,
    /// How the name matched.
    pub matched: MatchKind,
    /// Secondary rank within a match kind (lower first).
    pub distance: u32,
    /// The name, for ordering.
    pub name: &'a str,
    /// First line, for ordering.
    pub start_line: u32,
}

impl Candidate<'_> {
    fn rank(&self) -> (MatchKind, u32, &str, &str, u32) {
        (
            self.matched,
            self.distance,
            &self.doc.path,
            self.name,
            self.start_line,
        )
    }
}

/// A query split into the name to match and an optional container (`Store.get`,
/// `Store::get`, `Store#get`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameQuery {
    /// The name to match.
    pub name: String,
    /// The enclosing symbol's name, if given.
    pub container: Option<String>,
}

impl NameQuery {
    /// Parses `query`, refusing empty or multi-line ones.
    pub fn parse(query: &str) -> Result<NameQuery> {
        let query = query.trim();
        if query.is_empty() {
            return Err(StructureError::InvalidArgument(
                "the symbol name is empty; give a function, class or other symbol name".into(),
            ));
        }
        if query.chars().any(char::is_whitespace) || query.len() > 256 {
            return Err(StructureError::InvalidArgument(format!(
                "{:?} is not a symbol name (no spaces, at most 256 bytes); search for it as text \
                 instead",
                query.chars().take(80).collect::<String>()
            )));
        }
        let split = ["::", ".", "#"]
            .iter()
            .filter_map(|separator| query.rfind(separator).map(|at| (at, at + separator.len())))
            .max_by_key(|(at, _)| *at);
        Ok(match split {
            Some((at, after)) if at > 0 && after < query.len() => NameQuery {
                name: query[after..].to_string(),
                container: Some(query[..at].to_string()),
            },
            _ => NameQuery {
                name: query.to_string(),
                container: None,
            },
        })
    }
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let needle = needle.as_bytes();
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

/// Whether `needle`'s characters appear in order in `haystack` (ignoring case); the number
/// of gaps between them if so.
fn subsequence_gaps(haystack: &str, needle: &str) -> Option<u32> {
    let mut wanted = needle.bytes().map(|b| b.to_ascii_lowercase()).peekable();
    let mut gaps = 0;
    let mut in_gap = false;
    for byte in haystack.bytes().map(|b| b.to_ascii_lowercase()) {
        match wanted.peek() {
            Some(&next) if next == byte => {
                wanted.next();
                in_gap = false;
            }
            Some(_) => {
                if !in_gap {
                    gaps += 1;
                    in_gap = true;
                }
            }
            None => break,
        }
    }
    wanted.peek().is_none().then_some(gaps)
}

/// How many of `query`'s bytes (as a multiset, ignoring ASCII case) `name` lacks: a lower
/// bound of their edit distance (each edit removes at most one), cheap enough to run on every
/// definition before the real distance.
fn missing_letters(query: &str, name: &str) -> usize {
    let mut counts = [0i32; 256];
    for byte in name.bytes() {
        counts[usize::from(byte.to_ascii_lowercase())] += 1;
    }
    let mut missing = 0;
    for byte in query.bytes() {
        let slot = &mut counts[usize::from(byte.to_ascii_lowercase())];
        if *slot > 0 {
            *slot -= 1;
        } else {
            missing += 1;
        }
    }
    missing
}

/// How many typos a fuzzy match may have for a query of `len` bytes.
fn typo_budget(len: usize) -> usize {
    match len {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// Ranks `name` against `query`, or `None` if it does not match (fuzzy only when `fuzzy`).
fn match_name(name: &str, query: &str, fuzzy: bool) -> Option<(MatchKind, u32)> {
    let extra = name.len().abs_diff(query.len()) as u32;
    if name == query {
        return Some((MatchKind::Exact, 0));
    }
    if name.len() == query.len() && name.eq_ignore_ascii_case(query) {
        return Some((MatchKind::CaseInsensitive, 0));
    }
    if name.len() > query.len() {
        if name.as_bytes()[..query.len()].eq_ignore_ascii_case(query.as_bytes()) {
            return Some((MatchKind::Prefix, extra));
        }
        if contains_ignore_case(name, query) {
            return Some((MatchKind::Substring, extra));
        }
    }
    if !fuzzy || query.len() < 3 {
        return None;
    }
    let budget = typo_budget(query.len());
    if budget > 0 && extra as usize <= budget && missing_letters(query, name) <= budget {
        let distance =
            strsim::osa_distance(&name.to_ascii_lowercase(), &query.to_ascii_lowercase());
        if distance <= budget {
            return Some((MatchKind::Fuzzy, distance as u32));
        }
    }
    // Subsequences only for names not much longer than the query (`hndlreq` → `handle_request`).
    if name.len() <= query.len() * 3 {
        return subsequence_gaps(name, query).map(|gaps| (MatchKind::Fuzzy, 2 + gaps * 4 + extra));
    }
    None
}

/// Whether the symbols enclosing `definitions[index]` end with `wanted` (outermost first),
/// e.g. `["Store"]` for `Store.get` or `["a", "B"]` for `a::B::get`.
fn container_matches(definitions: &Definitions, index: u32, wanted: &[&str]) -> bool {
    let mut path = Vec::new();
    let mut parent = definitions.get(index as usize).and_then(|d| d.parent);
    // Bounded: parents come before their children, but stored data is not trusted.
    while let Some(at) = parent
        && path.len() <= definitions.len()
    {
        let Some(definition) = definitions.get(at as usize) else {
            break;
        };
        path.push(definition.name);
        parent = definition.parent;
    }
    path.reverse();
    if let Some(scope) = definitions.get(index as usize).and_then(|d| d.scope) {
        path.extend(crate::symbols::scope_parts(scope));
    }
    path.ends_with(wanted)
}

/// The best candidates in `scope` for `query` (at most `limit`, best first) and how many
/// matched in all; fuzzy matches are only looked for when better ones do not fill the
/// limit. A qualified query (`Store.get`) matches the name exactly (or but for case) inside
/// that container.
pub fn candidates<'a>(
    scope: &Scope<'a>,
    query: &NameQuery,
    kinds: KindFilter,
    limit: usize,
) -> (Vec<Candidate<'a>>, usize) {
    let wanted_container: Option<Vec<&str>> = query.container.as_deref().map(|container| {
        container
            .split(['.', ':', '#'])
            .filter(|part| !part.is_empty())
            .collect()
    });
    let container = wanted_container.as_deref();
    let docs: Vec<&'a Doc> = scope
        .view
        .index
        .docs
        .iter()
        .map(|(_, doc)| doc)
        .filter(|doc| doc.definitions.is_some() && scope.contains(&doc.path))
        .collect();
    // Hundreds of thousands of names on a large root: scanned on every core.
    let collect = |fuzzy: bool| -> Vec<Candidate<'a>> {
        docs.par_iter()
            .flat_map_iter(|&doc| {
                doc.definitions
                    .as_deref()
                    .into_iter()
                    .flat_map(|definitions| {
                        definitions
                            .names()
                            .map(move |(index, name)| (definitions, index, name))
                    })
                    .filter_map(move |(definitions, index, name)| {
                        let (matched, distance) = match_name(name, &query.name, fuzzy)?;
                        let definition = definitions.get(index)?;
                        if !kinds.accepts(definition.kind) {
                            return None;
                        }
                        if let Some(wanted) = container {
                            // A qualified query asks for that symbol, not names like it.
                            if matched > MatchKind::CaseInsensitive
                                || !container_matches(definitions, definition.index, wanted)
                            {
                                return None;
                            }
                        }
                        Some(Candidate {
                            doc,
                            index: definition.index,
                            matched,
                            distance,
                            name: definition.name,
                            start_line: definition.start_line,
                        })
                    })
            })
            .collect()
    };
    let mut found = collect(false);
    if found.len() < limit && container.is_none() {
        found = collect(true);
    }
    let total = found.len();
    // Short queries match most names: rank only the best `limit` fully.
    if limit > 0 && found.len() > limit {
        found.select_nth_unstable_by(limit - 1, |a, b| a.rank().cmp(&b.rank()));
        found.truncate(limit);
    }
    found.sort_by(|a, b| a.rank().cmp(&b.rank()));
    (found, total)
}

/// The definitions in `scope` matching `query`, best first, at most `limit`, with the total
/// number of matches.
pub fn find(
    scope: &Scope<'_>,
    query: &NameQuery,
    kinds: KindFilter,
    limit: usize,
) -> Result<(Vec<SymbolMatch>, usize)> {
    scope.require_symbols()?;
    let (ranked, total) = candidates(scope, query, kinds, limit);
    // Per file: its structure and its symbols' ids.
    let mut files: HashMap<&str, Option<(FileSymbols, Vec<String>)>> = HashMap::new();
    let mut out = Vec::new();
    for candidate in ranked {
        let file = match files.get(candidate.doc.path.as_ref()) {
            Some(file) => file,
            None => {
                let file = scope
                    .view
                    .snapshot
                    .symbols(&candidate.doc.hash)?
                    .map(|symbols| {
                        let ids = crate::symbols::ids::assign(
                            &candidate.doc.path,
                            &crate::symbols::ids::qualified_names(&symbols),
                        );
                        (symbols, ids)
                    });
                files.entry(&candidate.doc.path).or_insert(file)
            }
        };
        let Some((symbols, ids)) = file else { continue };
        let Some(symbol) = symbols.symbols.get(candidate.index as usize) else {
            continue;
        };
        let qualified = qualified_name(symbols, candidate.index as usize);
        out.push(SymbolMatch {
            name: symbol.name.clone(),
            qualified_name: qualified,
            symbol_id: ids
                .get(candidate.index as usize)
                .cloned()
                .unwrap_or_default(),
            kind: symbol.kind.as_str(),
            file_path: candidate.doc.path.to_string(),
            root: scope.root_path.display().to_string(),
            language: candidate.doc.language.to_string(),
            start_line: symbol.start_line,
            end_line: symbol.end_line,
            signature: symbol.signature.clone(),
            documented: symbol.documented,
            matched: candidate.matched,
        });
    }
    Ok((out, total))
}

/// A definition located by exact name.
#[derive(Debug, Clone)]
pub struct Located<'a> {
    /// The document defining it.
    pub doc: &'a Doc,
    /// Index in the document's symbol list.
    pub index: u32,
    /// What it is.
    pub kind: SymbolKind,
    /// First line.
    pub start_line: u32,
}

/// The definitions in `scope` of each of `names` (exact names), in path order, in one pass
/// over the in-memory definitions.
pub fn definitions_named<'a>(
    scope: &Scope<'a>,
    names: &std::collections::HashSet<&str>,
) -> HashMap<String, Vec<Located<'a>>> {
    let mut found: HashMap<String, Vec<Located<'a>>> = HashMap::new();
    if names.is_empty() {
        return found;
    }
    // Hashing every definition's name costs more than the rest of the scan: a name whose
    // (length, first byte) pair is not among the wanted ones is skipped without hashing.
    let mut shapes = vec![0u64; 4 * 256];
    let shape = |name: &str| -> Option<(usize, u64)> {
        let first = *name.as_bytes().first()?;
        let slot = (name.len().min(255) << 2) | usize::from(first >> 6);
        Some((slot, 1u64 << (first & 63)))
    };
    for name in names {
        if let Some((slot, bit)) = shape(name) {
            shapes[slot] |= bit;
        }
    }
    for (_, doc) in scope.view.index.docs.iter() {
        let Some(definitions) = &doc.definitions else {
            continue;
        };
        if !scope.contains(&doc.path) {
            continue;
        }
        for (index, name) in definitions.names() {
            let wanted_shape = shape(name).is_some_and(|(slot, bit)| shapes[slot] & bit != 0);
            if !wanted_shape || !names.contains(name) {
                continue;
            }
            if let Some(definition) = definitions.get(index) {
                found
                    .entry(definition.name.to_string())
                    .or_default()
                    .push(Located {
                        doc,
                        index: definition.index,
                        kind: definition.kind,
                        start_line: definition.start_line,
                    });
            }
        }
    }
    for located in found.values_mut() {
        located.sort_by(|a, b| (&a.doc.path, a.start_line).cmp(&(&b.doc.path, b.start_line)));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_exact_before_case_prefix_substring_and_fuzzy() {
        assert_eq!(
            match_name("parse", "parse", true),
            Some((MatchKind::Exact, 0))
        );
        assert_eq!(
            match_name("Parse", "parse", true),
            Some((MatchKind::CaseInsensitive, 0))
        );
        assert_eq!(
            match_name("parse_args", "parse", true),
            Some((MatchKind::Prefix, 5))
        );
        assert_eq!(
            match_name("try_parse", "parse", true),
            Some((MatchKind::Substring, 4))
        );
        assert_eq!(
            match_name("pasre", "parse", true),
            Some((MatchKind::Fuzzy, 1))
        );
        assert!(matches!(
            match_name("handle_request", "hndlreq", true),
            Some((MatchKind::Fuzzy, _))
        ));
        assert_eq!(match_name("pasre", "parse", false), None);
        assert_eq!(match_name("unrelated", "parse", true), None);
    }

    proptest::proptest! {
        /// The prefilter never drops a name the edit distance would accept.
        #[test]
        fn missing_letters_is_a_lower_bound_of_the_edit_distance(
            query in "[a-dA-D_]{0,10}",
            name in "[a-dA-D_]{0,10}",
        ) {
            let distance =
                strsim::osa_distance(&name.to_ascii_lowercase(), &query.to_ascii_lowercase());
            proptest::prop_assert!(missing_letters(&query, &name) <= distance);
        }
    }

    #[test]
    fn containers_match_from_the_innermost_outwards() {
        let symbols = crate::symbols::extract(
            "Rust",
            b"mod a {\n    struct B;\n    impl B {\n        fn get() {}\n    }\n}\nfn get() {}\n",
        )
        .unwrap();
        let definitions = symbols.definitions().unwrap();
        let gets: Vec<u32> = definitions
            .iter()
            .filter(|definition| definition.name == "get")
            .map(|definition| definition.index)
            .collect();
        assert_eq!(gets.len(), 2);
        let (method, free) = (gets[0], gets[1]);
        assert!(container_matches(&definitions, method, &["B"]));
        assert!(container_matches(&definitions, method, &["a", "B"]));
        assert!(!container_matches(&definitions, method, &["C", "B"]));
        assert!(!container_matches(&definitions, free, &["B"]));
        assert!(container_matches(&definitions, free, &[]));

        // Qualifiers written in the definition: a Go receiver, a C++ `Type::`.
        let go = crate::symbols::extract(
            "Go",
            b"package p\n\nfunc (s *Server) Start() {}\n\nfunc Start() {}\n",
        )
        .unwrap();
        let go_definitions = go.definitions().unwrap();
        assert!(container_matches(&go_definitions, 0, &["Server"]));
        assert!(!container_matches(&go_definitions, 1, &["Server"]));
        assert_eq!(super::qualified_name(&go, 0), "Server.Start");
        let cpp = crate::symbols::extract(
            "C++",
            b"namespace geo {\ndouble Polygon::area() const { return 0; }\n}\n",
        )
        .unwrap();
        let cpp_definitions = cpp.definitions().unwrap();
        let area = cpp_definitions
            .iter()
            .find(|definition| definition.name == "area")
            .unwrap();
        assert!(container_matches(
            &cpp_definitions,
            area.index,
            &["geo", "Polygon"]
        ));
        assert_eq!(
            super::qualified_name(&cpp, area.index as usize),
            "geo.Polygon.area"
        );
    }

    #[test]
    fn splits_qualified_names() {
        assert_eq!(
            NameQuery::parse("Store::get").unwrap(),
            NameQuery {
                name: "get".into(),
                container: Some("Store".into())
            }
        );
        assert_eq!(
            NameQuery::parse("a.b.c").unwrap().container.as_deref(),
            Some("a.b")
        );
        assert_eq!(NameQuery::parse(" plain ").unwrap().name, "plain");
        assert!(NameQuery::parse("").is_err());
        assert!(NameQuery::parse("two words").is_err());
    }

    #[test]
    fn kind_filter_accepts_methods_as_functions() {
        let function = KindFilter::parse(Some("function")).unwrap();
        assert!(function.accepts(SymbolKind::Method));
        assert!(!function.accepts(SymbolKind::Class));
        assert!(KindFilter::parse(Some("klass")).is_err());
        assert!(KindFilter::parse(None).unwrap().accepts(SymbolKind::Macro));
    }
}
