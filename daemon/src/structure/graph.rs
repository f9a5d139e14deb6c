//! `search_codebase` in `graph` mode: the definitions whose names match a pattern, each with
//! its callees and callers followed to a given depth. Calls are resolved by name (there is no
//! type information), so a common name may link to several definitions; every edge says
//! where the call is.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use regex::RegexBuilder;
use serde::Serialize;

use super::lookup::{Located, definitions_named};
use super::{Result, Scope, StructureError, qualified_name};
use crate::store::ContentHash;
use crate::symbols::FileSymbols;
use crate::trigram::TrigramQuery;
use crate::trigram::index::Doc;

/// Deepest level followed.
pub const MAX_DEPTH: usize = 3;

/// Callers or callees listed per matched symbol at most.
const MAX_EDGES: usize = 100;

/// Definitions a callee name links to at most (common names have many).
const MAX_TARGETS: usize = 3;

/// A symbol in the graph.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct GraphSymbol {
    /// `Class.method` style name.
    pub qualified_name: String,
    /// The symbol's id (`path#Class.method`), which `read_code_file` and `find_references`
    /// accept (matched symbols and callers carry one; callees' definitions do not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol_id: Option<String>,
    /// What it is.
    pub kind: &'static str,
    /// File, relative to the root.
    pub file_path: String,
    /// First line.
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
    /// The definition's first line.
    pub signature: String,
}

/// A callee of a symbol (at some depth).
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct CalleeEdge {
    /// The called name.
    pub name: String,
    /// 1 for direct callees, 2 for theirs, …
    pub depth: usize,
    /// The function making the call.
    pub called_from: String,
    /// File of the call.
    pub file_path: String,
    /// Line of the call.
    pub line: u32,
    /// Definitions the name resolves to in the codebase (none: external).
    pub definitions: Vec<GraphSymbol>,
}

/// A caller of a symbol (at some depth).
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct CallerEdge {
    /// The calling function.
    pub caller: GraphSymbol,
    /// 1 for direct callers, 2 for theirs, …
    pub depth: usize,
    /// The name it calls.
    pub calls: String,
    /// Line of the call.
    pub line: u32,
}

/// One matched symbol and its neighbourhood.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct GraphNode {
    /// The symbol.
    pub symbol: GraphSymbol,
    /// What it calls, level by level.
    pub callees: Vec<CalleeEdge>,
    /// What calls it, level by level.
    pub callers: Vec<CallerEdge>,
    /// Edges were cut at the limit.
    pub truncated: bool,
}

/// The answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GraphReport {
    /// Matched symbols with their callers and callees, for the matched definitions from
    /// number `first` on.
    pub results: Vec<GraphNode>,
    /// Position of the first of `results` among all matched definitions.
    pub first: usize,
    /// Definitions whose name matched.
    pub total_matches: usize,
    /// Levels followed.
    pub depth: usize,
}

/// What one request has already looked up: decoded file structures, definitions by name and
/// the documents mentioning a name. Matched symbols often share callees and callers (several
/// definitions of one name), so each is computed once per request.
struct Files<'s, 'v> {
    scope: &'s Scope<'v>,
    decoded: HashMap<ContentHash, Option<Arc<FileSymbols>>>,
    named: HashMap<String, Vec<Located<'v>>>,
    mentions: HashMap<String, Arc<[&'v Doc]>>,
}

impl<'v> Files<'_, 'v> {
    /// The definitions of each of `names`, scanning the in-memory definitions once for all
    /// the names not looked up before.
    fn definitions_of(&mut self, names: &HashSet<&str>) {
        let missing: HashSet<&str> = names
            .iter()
            .copied()
            .filter(|name| !self.named.contains_key(*name))
            .collect();
        if missing.is_empty() {
            return;
        }
        let mut found = definitions_named(self.scope, &missing);
        for name in missing {
            let located = found.remove(name).unwrap_or_default();
            self.named.insert(name.to_string(), located);
        }
    }

    /// The documents that may mention `name` (trigram candidates), in path order.
    fn mentioning(&mut self, name: &str) -> Arc<[&'v Doc]> {
        if let Some(docs) = self.mentions.get(name) {
            return Arc::clone(docs);
        }
        let docs: Arc<[&'v Doc]> = mentioning(self.scope, name).into();
        self.mentions.insert(name.to_string(), Arc::clone(&docs));
        docs
    }

    fn get(&mut self, doc: &Doc) -> Result<Option<Arc<FileSymbols>>> {
        if let Some(known) = self.decoded.get(&doc.hash) {
            return Ok(known.clone());
        }
        let symbols = super::doc_symbols(self.scope.view, doc)?.map(Arc::new);
        self.decoded.insert(doc.hash, symbols.clone());
        Ok(symbols)
    }
}

fn describe(doc: &Doc, symbols: &FileSymbols, index: usize) -> Option<GraphSymbol> {
    let symbol = symbols.symbols.get(index)?;
    Some(GraphSymbol {
        qualified_name: qualified_name(symbols, index),
        symbol_id: None,
        kind: symbol.kind.as_str(),
        file_path: doc.path.to_string(),
        start_line: symbol.start_line,
        end_line: symbol.end_line,
        signature: symbol.signature.clone(),
    })
}

/// The definitions in `scope` whose names match `pattern` (whole-name matches first, then by
/// path and line), with callers and callees to `depth` levels, for the matches numbered
/// `range` (from 0).
pub fn graph(
    scope: &Scope<'_>,
    pattern: &str,
    case_sensitive: bool,
    depth: usize,
    range: std::ops::Range<usize>,
) -> Result<GraphReport> {
    scope.require_symbols()?;
    if pattern.trim().is_empty() {
        return Err(StructureError::InvalidArgument(
            "the pattern is empty; give a symbol name or a regular expression over symbol names"
                .into(),
        ));
    }
    let regex = RegexBuilder::new(pattern)
        .case_insensitive(!case_sensitive)
        .size_limit(1 << 20)
        .build()
        .map_err(|err| {
            StructureError::InvalidArgument(format!(
                "invalid regular expression: {}\n(in graph mode the pattern is matched \
                 against symbol names)",
                crate::search::describe_regex_error(&err)
            ))
        })?;
    let depth = depth.clamp(1, MAX_DEPTH);

    // Whole-name matches first, then by path and line.
    let mut matched: Vec<(bool, &Doc, u32, u32)> = Vec::new();
    for doc in scope.docs() {
        let Some(definitions) = &doc.definitions else {
            continue;
        };
        for (index, name) in definitions.names() {
            if let Some(found) = regex.find(name)
                && let Some(definition) = definitions.get(index)
            {
                let whole = found.start() == 0 && found.end() == name.len();
                matched.push((!whole, doc, definition.start_line, definition.index));
            }
        }
    }
    matched.sort_by(|a, b| (a.0, &a.1.path, a.2).cmp(&(b.0, &b.1.path, b.2)));
    let mut report = GraphReport {
        total_matches: matched.len(),
        first: range.start.min(matched.len()),
        depth,
        ..GraphReport::default()
    };
    let mut files = Files {
        scope,
        decoded: HashMap::new(),
        named: HashMap::new(),
        mentions: HashMap::new(),
    };
    let wanted = range.end.saturating_sub(range.start);
    for (_, doc, _, index) in matched.into_iter().skip(range.start).take(wanted) {
        if scope.work.should_stop() {
            break;
        }
        let Some(symbols) = files.get(doc)? else {
            continue;
        };
        let Some(mut symbol) = describe(doc, &symbols, index as usize) else {
            continue;
        };
        symbol.symbol_id =
            crate::symbols::ids::assign(&doc.path, &crate::symbols::ids::qualified_names(&symbols))
                .into_iter()
                .nth(index as usize);
        let mut node = GraphNode {
            symbol,
            callees: Vec::new(),
            callers: Vec::new(),
            truncated: false,
        };
        callees(&mut files, doc, index as usize, depth, &mut node)?;
        callers(&mut files, doc, index as usize, depth, &mut node)?;
        report.results.push(node);
    }
    Ok(report)
}

/// Follows calls out of the symbol, level by level.
fn callees(
    files: &mut Files<'_, '_>,
    doc: &Doc,
    index: usize,
    depth: usize,
    node: &mut GraphNode,
) -> Result<()> {
    let mut frontier: Vec<(&Doc, usize)> = vec![(doc, index)];
    let mut visited: HashSet<(Arc<str>, usize)> = HashSet::from([(Arc::clone(&doc.path), index)]);
    for level in 1..=depth {
        // (calling doc, its structure, call) for every call made by the frontier.
        let mut calls = Vec::new();
        for (doc, index) in &frontier {
            let Some(symbols) = files.get(doc)? else {
                continue;
            };
            let mut seen_names: HashSet<String> = HashSet::new();
            for call in symbols.calls_of(*index) {
                if seen_names.insert(call.name.clone()) {
                    calls.push((*doc, Arc::clone(&symbols), *index, call.clone()));
                }
            }
        }
        let names: HashSet<&str> = calls
            .iter()
            .map(|(_, _, _, call)| call.name.as_str())
            .collect();
        files.definitions_of(&names);
        let mut next = Vec::new();
        for (doc, symbols, caller, call) in &calls {
            if node.callees.len() >= MAX_EDGES {
                node.truncated = true;
                return Ok(());
            }
            let mut resolved: Vec<Located<'_>> = files
                .named
                .get(&call.name)
                .map(|all| {
                    all.iter()
                        .filter(|located| {
                            located.kind.is_callable() || located.kind.holds_methods()
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            // A definition in the calling file is the likeliest target.
            resolved.sort_by_key(|located| located.doc.path != doc.path);
            let mut definitions = Vec::new();
            for located in resolved.into_iter().take(MAX_TARGETS) {
                let Some(target_symbols) = files.get(located.doc)? else {
                    continue;
                };
                if let Some(described) =
                    describe(located.doc, &target_symbols, located.index as usize)
                {
                    definitions.push(described);
                }
                if located.kind.is_callable()
                    && visited.insert((Arc::clone(&located.doc.path), located.index as usize))
                {
                    next.push((located.doc, located.index as usize));
                }
            }
            node.callees.push(CalleeEdge {
                name: call.name.clone(),
                depth: level,
                called_from: qualified_name(symbols, *caller),
                file_path: doc.path.to_string(),
                line: call.line,
                definitions,
            });
        }
        frontier = next;
        if frontier.is_empty() {
            break;
        }
    }
    Ok(())
}

/// Follows calls into the symbol, level by level: files that mention the name (by the
/// trigram index) are read, and their calls of it attributed to the calling functions.
fn callers(
    files: &mut Files<'_, '_>,
    doc: &Doc,
    index: usize,
    depth: usize,
    node: &mut GraphNode,
) -> Result<()> {
    let Some(symbols) = files.get(doc)? else {
        return Ok(());
    };
    let Some(name) = symbols.symbols.get(index).map(|symbol| symbol.name.clone()) else {
        return Ok(());
    };
    node.truncated |= callers_of_name(files, name, depth, MAX_EDGES, &mut node.callers)?;
    Ok(())
}

/// The callers of `name`, level by level to `depth`, appended to `out` until it holds
/// `limit`; whether the limit cut them.
fn callers_of_name(
    files: &mut Files<'_, '_>,
    name: String,
    depth: usize,
    limit: usize,
    out: &mut Vec<CallerEdge>,
) -> Result<bool> {
    let mut frontier: Vec<String> = vec![name];
    let mut visited: HashSet<(Arc<str>, usize)> = HashSet::new();
    let mut seen_names: HashSet<String> = frontier.iter().cloned().collect();
    for level in 1..=depth {
        let mut next = Vec::new();
        for name in &frontier {
            for &candidate in files.mentioning(name).iter() {
                let Some(symbols) = files.get(candidate)? else {
                    continue;
                };
                for call in symbols.calls.iter().filter(|call| &call.name == name) {
                    let Some(caller) = call.caller else { continue };
                    if !visited.insert((Arc::clone(&candidate.path), caller as usize)) {
                        continue;
                    }
                    if out.len() >= limit {
                        return Ok(true);
                    }
                    let Some(mut described) = describe(candidate, &symbols, caller as usize) else {
                        continue;
                    };
                    described.symbol_id = crate::symbols::ids::assign(
                        &candidate.path,
                        &crate::symbols::ids::qualified_names(&symbols),
                    )
                    .into_iter()
                    .nth(caller as usize);
                    let caller_name = symbols.symbols[caller as usize].name.clone();
                    if seen_names.insert(caller_name.clone()) {
                        next.push(caller_name);
                    }
                    out.push(CallerEdge {
                        caller: described,
                        depth: level,
                        calls: name.clone(),
                        line: call.line,
                    });
                }
            }
        }
        frontier = next;
        if frontier.is_empty() {
            break;
        }
    }
    Ok(false)
}

/// Finds the callers of one name after another in one scope, reading each file's structure
/// once for all of them.
pub struct CallerSearch<'s, 'v> {
    files: Files<'s, 'v>,
}

impl<'s, 'v> CallerSearch<'s, 'v> {
    /// A search in `scope`.
    pub fn new(scope: &'s Scope<'v>) -> CallerSearch<'s, 'v> {
        CallerSearch {
            files: Files {
                scope,
                decoded: HashMap::new(),
                named: HashMap::new(),
                mentions: HashMap::new(),
            },
        }
    }

    /// The callers of `name` (calls resolved by name), level by level to `depth` (at most
    /// [`MAX_DEPTH`]), at most `limit`; whether the limit cut them.
    pub fn callers(
        &mut self,
        name: &str,
        depth: usize,
        limit: usize,
    ) -> Result<(Vec<CallerEdge>, bool)> {
        let mut out = Vec::new();
        let cut = callers_of_name(
            &mut self.files,
            name.to_string(),
            depth.clamp(1, MAX_DEPTH),
            limit,
            &mut out,
        )?;
        Ok((out, cut))
    }

    /// How many definitions in the scope have this exact name (calls are resolved by name:
    /// the more definitions share it, the less a call of it says).
    pub fn definitions_named(&mut self, name: &str) -> usize {
        self.files.definitions_of(&HashSet::from([name]));
        self.files.named.get(name).map_or(0, Vec::len)
    }
}

/// The documents in scope that may mention `name`, in path order.
pub fn mentioning<'a>(scope: &Scope<'a>, name: &str) -> Vec<&'a Doc> {
    let view = scope.view;
    let trigrams =
        TrigramQuery::from_regex(&regex::escape(name), false).unwrap_or(TrigramQuery::All);
    let ids = if view.trigram_index {
        view.index.candidates(&trigrams)
    } else {
        None
    };
    let mut docs: Vec<&'a Doc> = match ids {
        Some(ids) => ids
            .iter()
            .filter_map(|&id| view.index.docs.get(id))
            .collect(),
        None => view.index.docs.iter().map(|(_, doc)| doc).collect(),
    };
    docs.retain(|doc| doc.definitions.is_some() && scope.contains(&doc.path));
    docs.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    docs
}
