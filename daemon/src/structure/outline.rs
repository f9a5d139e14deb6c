//! A file's outline: its symbols as a tree (nesting by containment) with line ranges,
//! signatures and documentation flags, plus its imports.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{ParsedFile, Result, Scope, parsed_file};
use crate::symbols::FileSymbols;

/// Nesting deeper than this is cut from outlines (pathological generated code would
/// otherwise recurse without bound).
const MAX_DEPTH: usize = 32;

/// One symbol in an outline, with the symbols nested in it.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct OutlineNode {
    /// Its name.
    pub name: String,
    /// Its id (`path#Class.method`), which `read_code_file` and `find_references` accept.
    pub symbol_id: String,
    /// What it is (`function`, `method`, `class`, …).
    pub kind: &'static str,
    /// First line (1-based).
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
    /// The definition's first line.
    pub signature: String,
    /// Whether it has a docstring or doc comment.
    pub documented: bool,
    /// The type it belongs to when the definition names it (Go receiver, C++ `Type::`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Shown only to hold the nested symbols of this page: the symbol itself was listed on
    /// an earlier page.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continued: bool,
    /// Symbols defined inside it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<OutlineNode>,
}

/// One import statement in an outline.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct OutlineImport {
    /// The module imported.
    pub module: String,
    /// Its line.
    pub line: u32,
    /// The statement's first line.
    pub statement: String,
}

/// A file's outline.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Outline {
    /// Path relative to the root.
    pub file_path: String,
    /// Detected language.
    pub language: String,
    /// Top-level symbols, each with its nested ones.
    pub symbols: Vec<OutlineNode>,
    /// Import statements.
    pub imports: Vec<OutlineImport>,
    /// Symbols per kind.
    pub counts: BTreeMap<&'static str, usize>,
    /// The file has syntax errors; the outline holds what parsed.
    pub has_syntax_errors: bool,
    /// The file is not in the index (ignored or excluded) and was parsed from disk.
    pub parsed_from_disk: bool,
}

/// The outline of the file at `relative` in `scope`'s root.
pub fn file_structure(scope: &Scope<'_>, relative: &str) -> Result<Outline> {
    let ParsedFile {
        path,
        language,
        symbols,
        from_disk,
    } = parsed_file(scope, relative)?;
    let mut counts = BTreeMap::new();
    for symbol in &symbols.symbols {
        *counts.entry(symbol.kind.as_str()).or_insert(0) += 1;
    }
    Ok(Outline {
        symbols: tree(&path, &symbols),
        file_path: path,
        language,
        imports: symbols
            .imports
            .iter()
            .map(|import| OutlineImport {
                module: import.module.clone(),
                line: import.start_line,
                statement: import.text.clone(),
            })
            .collect(),
        counts,
        has_syntax_errors: symbols.has_errors,
        parsed_from_disk: from_disk,
    })
}

/// Nests the flat symbol list of the file at `path` by its parent links.
pub fn tree(path: &str, symbols: &FileSymbols) -> Vec<OutlineNode> {
    let ids = crate::symbols::ids::assign(path, &crate::symbols::ids::qualified_names(symbols));
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); symbols.symbols.len()];
    let mut top = Vec::new();
    for (index, symbol) in symbols.symbols.iter().enumerate() {
        // Parents always come before their children; anything else is treated as top level.
        match symbol.parent.map(|parent| parent as usize) {
            Some(parent) if parent < index => children[parent].push(index),
            _ => top.push(index),
        }
    }
    fn build(
        symbols: &FileSymbols,
        ids: &[String],
        children: &[Vec<usize>],
        index: usize,
        depth: usize,
    ) -> OutlineNode {
        let symbol = &symbols.symbols[index];
        let nested: &[usize] = if depth < MAX_DEPTH {
            &children[index]
        } else {
            &[]
        };
        OutlineNode {
            name: symbol.name.clone(),
            symbol_id: ids.get(index).cloned().unwrap_or_default(),
            kind: symbol.kind.as_str(),
            start_line: symbol.start_line,
            end_line: symbol.end_line,
            signature: symbol.signature.clone(),
            documented: symbol.documented,
            scope: symbol.scope.clone(),
            continued: false,
            children: nested
                .iter()
                .map(|&child| build(symbols, ids, children, child, depth + 1))
                .collect(),
        }
    }
    top.into_iter()
        .map(|index| build(symbols, &ids, &children, index, 0))
        .collect()
}
