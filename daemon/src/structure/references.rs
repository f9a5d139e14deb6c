//! Every occurrence of a name as a whole word, classified from the parse as a definition, a
//! call, an import or another use. The trigram index picks the candidate files; each is
//! scanned for the word and its stored structure says what each occurrence is.

use std::collections::BTreeMap;

use rayon::prelude::*;
use regex::bytes::Regex;
use serde::Serialize;

use super::lookup::NameQuery;
use super::{Result, Scope, StructureError, qualified_name};
use crate::symbols::FileSymbols;
use crate::trigram::TrigramQuery;
use crate::trigram::index::Doc;

/// Longest line text returned with a reference.
const MAX_LINE_CHARS: usize = 300;

/// What an occurrence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceKind {
    /// Where the symbol is defined.
    Definition,
    /// A call of it.
    Call,
    /// An import statement naming it.
    Import,
    /// Any other use (a type annotation, an argument, a comment, a file CodeSage does not
    /// parse).
    Other,
}

impl ReferenceKind {
    fn as_str(self) -> &'static str {
        match self {
            ReferenceKind::Definition => "definition",
            ReferenceKind::Call => "call",
            ReferenceKind::Import => "import",
            ReferenceKind::Other => "other",
        }
    }
}

/// One occurrence.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Reference {
    /// File, relative to the root.
    pub file_path: String,
    /// The root it is in.
    pub root: String,
    /// Line (1-based).
    pub line: u32,
    /// Column (1-based, in bytes).
    pub column: u32,
    /// What it is.
    pub kind: ReferenceKind,
    /// The symbol the occurrence is inside (`Class.method`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enclosing: Option<String>,
    /// The line's text, trimmed.
    pub line_content: String,
}

/// The answer.
#[derive(Debug, Clone, Default, Serialize, PartialEq, schemars::JsonSchema)]
pub struct ReferencesReport {
    /// The name searched for.
    pub symbol: String,
    /// Occurrences in path and line order (at most the limit).
    pub references: Vec<Reference>,
    /// Occurrences found.
    pub total: u64,
    /// Occurrences per kind.
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Files with at least one occurrence.
    pub files: u64,
    /// Files read to find them (the index's candidates).
    pub files_searched: u64,
}

/// The regex finding `name` as a whole word (word boundaries only where the name starts or
/// ends with a word character, so `operator==` or `$var` still match).
fn word_regex(name: &str) -> Result<Regex> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut pattern = String::new();
    if name.starts_with(is_word) {
        pattern.push_str(r"\b");
    }
    pattern.push_str(&regex::escape(name));
    if name.ends_with(is_word) {
        pattern.push_str(r"\b");
    }
    Regex::new(&pattern).map_err(|err| StructureError::InvalidArgument(err.to_string()))
}

/// Every occurrence of `symbol` in `scope`, at most `limit` listed.
pub fn find(scope: &Scope<'_>, symbol: &str, limit: usize) -> Result<ReferencesReport> {
    let query = NameQuery::parse(symbol)?;
    let name = query.name;
    let regex = word_regex(&name)?;
    let view = scope.view;
    let trigrams =
        TrigramQuery::from_regex(&regex::escape(&name), false).unwrap_or(TrigramQuery::All);
    let candidate_ids = if view.trigram_index {
        view.index.candidates(&trigrams)
    } else {
        None
    };
    let mut docs: Vec<&Doc> = match &candidate_ids {
        Some(ids) => ids
            .iter()
            .filter_map(|&id| view.index.docs.get(id))
            .collect(),
        None => view.index.docs.iter().map(|(_, doc)| doc).collect(),
    };
    docs.retain(|doc| scope.contains(&doc.path));
    docs.sort_unstable_by(|a, b| a.path.cmp(&b.path));

    scope.work.set_total(docs.len() as u64);
    let per_file: Vec<Result<Vec<Reference>>> = docs
        .par_iter()
        .map(|doc| {
            if scope.work.should_stop() {
                return Ok(Vec::new());
            }
            let found = in_document(scope, doc, &regex);
            scope.work.advance(1);
            found
        })
        .collect();
    let mut report = ReferencesReport {
        symbol: name,
        files_searched: docs.len() as u64,
        ..ReferencesReport::default()
    };
    for found in per_file {
        let found = found?;
        if found.is_empty() {
            continue;
        }
        report.files += 1;
        for reference in found {
            report.total += 1;
            *report.by_kind.entry(reference.kind.as_str()).or_insert(0) += 1;
            if report.references.len() < limit {
                report.references.push(reference);
            }
        }
    }
    Ok(report)
}

fn in_document(scope: &Scope<'_>, doc: &Doc, regex: &Regex) -> Result<Vec<Reference>> {
    let Some(content) = scope.view.content_of(doc)? else {
        return Err(StructureError::Store(crate::store::StoreError::Corrupt(
            format!("content of {} is missing from the store", doc.path),
        )));
    };
    let mut occurrences = Vec::new();
    let mut line = 1u32;
    let mut line_start = 0usize;
    let mut counted_to = 0usize;
    for found in regex.find_iter(&content) {
        for newline in memchr::memchr_iter(b'\n', &content[counted_to..found.start()]) {
            line += 1;
            line_start = counted_to + newline + 1;
        }
        counted_to = found.start();
        occurrences.push((line, (found.start() - line_start) as u32, line_start));
    }
    if occurrences.is_empty() {
        return Ok(Vec::new());
    }
    let symbols: Option<FileSymbols> = super::doc_symbols(scope.view, doc)?;
    Ok(occurrences
        .into_iter()
        .map(|(line, column, line_start)| {
            let line_end = memchr::memchr(b'\n', &content[line_start..])
                .map_or(content.len(), |at| line_start + at);
            let text = String::from_utf8_lossy(&content[line_start..line_end]);
            let text = text.trim();
            let line_content = if text.chars().count() > MAX_LINE_CHARS {
                let mut cut: String = text.chars().take(MAX_LINE_CHARS).collect();
                cut.push('…');
                cut
            } else {
                text.to_string()
            };
            let (kind, enclosing) = match &symbols {
                Some(symbols) => classify(symbols, line, column),
                None => (ReferenceKind::Other, None),
            };
            Reference {
                file_path: doc.path.to_string(),
                root: scope.root_path.display().to_string(),
                line,
                column: column + 1,
                kind,
                enclosing,
                line_content,
            }
        })
        .collect())
}

/// What the occurrence at (`line`, byte `column`) is, and the symbol it is inside.
fn classify(symbols: &FileSymbols, line: u32, column: u32) -> (ReferenceKind, Option<String>) {
    let enclosing = |exclude: Option<usize>| {
        symbols
            .symbols
            .iter()
            .enumerate()
            .filter(|(index, symbol)| {
                Some(*index) != exclude && symbol.start_line <= line && line <= symbol.end_line
            })
            .max_by_key(|(_, symbol)| symbol.start_line)
            .map(|(index, _)| qualified_name(symbols, index))
    };
    if let Some(index) = symbols
        .symbols
        .iter()
        .position(|symbol| symbol.name_line == line && symbol.name_column == column)
    {
        let parent = symbols.symbols[index]
            .parent
            .map(|parent| qualified_name(symbols, parent as usize));
        return (ReferenceKind::Definition, parent);
    }
    if let Some(call) = symbols.call_at(line, column) {
        let caller = call
            .caller
            .map(|caller| qualified_name(symbols, caller as usize))
            .or_else(|| enclosing(None));
        return (ReferenceKind::Call, caller);
    }
    if symbols.import_at(line).is_some() {
        return (ReferenceKind::Import, enclosing(None));
    }
    (ReferenceKind::Other, enclosing(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_regex_respects_boundaries_only_at_word_ends() {
        let regex = word_regex("get").unwrap();
        assert!(regex.is_match(b"x.get()"));
        assert!(!regex.is_match(b"getter"));
        let operator = word_regex("$var").unwrap();
        assert!(operator.is_match(b"echo $var;"));
    }

    #[test]
    fn classifies_definitions_calls_imports_and_others() {
        let source = b"from m import helper\n\ndef helper():\n    pass\n\ndef main():\n    helper()\n    x = helper\n";
        let symbols = crate::symbols::extract("Python", source).unwrap();
        assert_eq!(classify(&symbols, 1, 14).0, ReferenceKind::Import);
        assert_eq!(classify(&symbols, 3, 4).0, ReferenceKind::Definition);
        assert_eq!(
            classify(&symbols, 7, 4),
            (ReferenceKind::Call, Some("main".to_string()))
        );
        assert_eq!(
            classify(&symbols, 8, 8),
            (ReferenceKind::Other, Some("main".to_string()))
        );
    }
}
