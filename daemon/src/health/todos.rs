//! The TODO/FIXME/HACK/XXX markers of a scope, from the markers stored with each parsed
//! file (comments only), each with the symbol holding it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Health;
use crate::structure::{Scope, StructureError};
use crate::symbols::ids;

/// One marker.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TodoItem {
    /// Path relative to the codebase root.
    pub file_path: String,
    /// Its line (1-based).
    pub line: u32,
    /// `TODO`, `FIXME`, `HACK` or `XXX`.
    pub marker: String,
    /// The comment from the marker on.
    pub text: String,
    /// Id of the innermost symbol holding it (`path#Class.method`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
}

/// Every marker of the scope (or of one file in it), in path and line order, with counts per
/// marker.
pub struct Listing {
    /// The markers.
    pub items: Vec<TodoItem>,
    /// Markers per kind.
    pub by_marker: BTreeMap<String, u64>,
    /// Files holding at least one.
    pub files: usize,
    /// Code files not parsed yet (their markers are not listed).
    pub pending: usize,
}

/// Lists the markers of `scope` (only `file` when given, a path relative to the root).
pub fn list(
    scope: &Scope<'_>,
    health: &Health,
    file: Option<&str>,
) -> Result<Listing, StructureError> {
    let root = health.root(scope.root_id);
    let mut root = root.lock();
    root.sync(scope.view, health.cache())?;
    let mut files: Vec<_> = root
        .files()
        .filter(|(_, facts)| !facts.facts.todos.is_empty())
        .filter(|(_, facts)| match file {
            Some(file) => &*facts.path == file,
            None => scope.contains(&facts.path),
        })
        .collect();
    files.sort_unstable_by(|a, b| a.1.path.cmp(&b.1.path));
    let mut items = Vec::new();
    let mut by_marker: BTreeMap<String, u64> = BTreeMap::new();
    for (doc, file) in &files {
        if scope.work.should_stop() {
            break;
        }
        let lines: Vec<u32> = file.facts.todos.iter().map(|todo| todo.line).collect();
        let symbols = match scope
            .view
            .index
            .docs
            .get(*doc)
            .and_then(|live| live.definitions.clone())
        {
            Some(definitions) => ids::enclosing_each(&file.path, &definitions, &lines),
            None => vec![None; lines.len()],
        };
        for (todo, symbol) in file.facts.todos.iter().zip(symbols) {
            *by_marker.entry(todo.marker.clone()).or_default() += 1;
            items.push(TodoItem {
                file_path: file.path.to_string(),
                line: todo.line,
                marker: todo.marker.clone(),
                text: todo.text.clone(),
                symbol,
            });
        }
    }
    Ok(Listing {
        files: files.len(),
        items,
        by_marker,
        pending: root.pending(),
    })
}
