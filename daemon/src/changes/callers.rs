//! Who a change affects: the callers of each modified or removed symbol across the codebase
//! (calls resolved by name, level by level), and for removed symbols and changed signatures
//! the other references (imports, annotations) that may break, ranked by how likely each is
//! to need attention: a call of a removed symbol first, then of a changed signature, then of
//! a changed body; further levels and names many definitions share count for less.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::{Change, ChangeKind, is_test};
use crate::structure::graph::{CallerSearch, GraphSymbol};
use crate::structure::references::{self, ReferenceKind};
use crate::structure::{Result, Scope};

/// Callers followed per changed name at most.
const MAX_CALLERS_PER_NAME: usize = 500;

/// Non-call references listed per removed or re-signed name at most.
const MAX_REFERENCES_PER_NAME: usize = 50;

/// A changed symbol a caller reaches.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Reaches {
    /// The changed symbol's id.
    pub symbol_id: String,
    /// How it changed.
    pub change: ChangeKind,
    /// Its first line changed (parameters, return type, visibility).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub signature_changed: bool,
    /// The name the caller calls (the changed symbol's at depth 1, an intermediate caller's
    /// beyond).
    pub calls: String,
    /// Line of that call in the caller's file.
    pub line: u32,
}

/// One affected caller.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AffectedCaller {
    /// The calling symbol (with its id).
    pub caller: GraphSymbol,
    /// 1 when it calls a changed symbol itself, 2 when it calls such a caller, …
    pub depth: usize,
    /// The changed symbols it reaches, and through which call.
    pub reaches: Vec<Reaches>,
    /// Its file is part of the change (it may already be updated).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_change: bool,
    /// It is a test (by its file or its name).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
    /// Rank: removed (3) > signature changed (2) > modified (1), divided by the depth and by
    /// how many definitions share the called name, summed over what it reaches.
    pub score: f32,
}

/// A non-call reference to a removed or re-signed symbol.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct OtherReference {
    /// The changed symbol's id.
    pub symbol_id: String,
    /// File, relative to the root.
    pub file_path: String,
    /// Line (1-based).
    pub line: u32,
    /// `import` or `other`.
    pub kind: ReferenceKind,
    /// The symbol it is inside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enclosing: Option<String>,
    /// The line, trimmed.
    pub line_content: String,
}

/// Everything a change affects.
#[derive(Debug, Default)]
pub struct Affected {
    /// Callers, highest score first.
    pub callers: Vec<AffectedCaller>,
    /// Imports and other mentions of removed or re-signed symbols outside the change.
    pub references: Vec<OtherReference>,
    /// Changed symbols whose callers were looked for (modified and removed).
    pub symbols_followed: usize,
    /// Names that several definitions share, with how many (their calls may be of another).
    pub ambiguous: BTreeMap<String, usize>,
    /// A name had more callers than are followed.
    pub truncated: bool,
}

fn weight(change: ChangeKind, signature_changed: bool) -> f32 {
    match change {
        ChangeKind::Removed => 3.0,
        ChangeKind::Modified if signature_changed => 2.0,
        _ => 1.0,
    }
}

/// The callers (to `depth` levels) and other references of the change's modified and removed
/// symbols.
pub fn affected(scope: &Scope<'_>, change: &Change, depth: usize) -> Result<Affected> {
    let mut search = CallerSearch::new(scope);
    let mut affected = Affected::default();
    let mut by_caller: HashMap<(String, u32, String), AffectedCaller> = HashMap::new();
    for (file, symbol, _) in change.symbols() {
        if symbol.change == ChangeKind::Added || scope.work.should_stop() {
            continue;
        }
        affected.symbols_followed += 1;
        let name = symbol
            .qualified_name
            .rsplit(['.', ':'])
            .next()
            .unwrap_or(&symbol.qualified_name)
            .to_string();
        let (edges, cut) = search.callers(&name, depth, MAX_CALLERS_PER_NAME)?;
        affected.truncated |= cut;
        let sharing = search.definitions_named(&name);
        // A removed symbol no longer counts among the definitions now.
        let sharing = sharing + usize::from(symbol.change == ChangeKind::Removed);
        if sharing > 1 {
            affected.ambiguous.insert(name.clone(), sharing);
        }
        let base = weight(symbol.change, symbol.signature_changed) / sharing.max(1) as f32;
        for edge in edges {
            let own = edge.caller.file_path == file.file.path
                && edge.caller.start_line == symbol.start_line
                && symbol.change != ChangeKind::Removed;
            if own {
                continue; // recursion: the symbol calling itself
            }
            let key = (
                edge.caller.file_path.clone(),
                edge.caller.start_line,
                edge.caller.qualified_name.clone(),
            );
            let in_change = change.file(&edge.caller.file_path).is_some();
            let test = is_test(&edge.caller.file_path, &edge.caller.qualified_name);
            let entry = by_caller.entry(key).or_insert_with(|| AffectedCaller {
                caller: edge.caller.clone(),
                depth: edge.depth,
                reaches: Vec::new(),
                in_change,
                test,
                score: 0.0,
            });
            entry.depth = entry.depth.min(edge.depth);
            entry.score += base / edge.depth as f32;
            entry.reaches.push(Reaches {
                symbol_id: symbol.symbol_id.clone(),
                change: symbol.change,
                signature_changed: symbol.signature_changed,
                calls: edge.calls,
                line: edge.line,
            });
        }
        if symbol.change == ChangeKind::Removed || symbol.signature_changed {
            let found = references::find(scope, &name, MAX_REFERENCES_PER_NAME)?;
            for reference in found.references {
                let elsewhere = change.file(&reference.file_path).is_none();
                if elsewhere
                    && matches!(reference.kind, ReferenceKind::Import | ReferenceKind::Other)
                {
                    affected.references.push(OtherReference {
                        symbol_id: symbol.symbol_id.clone(),
                        file_path: reference.file_path,
                        line: reference.line,
                        kind: reference.kind,
                        enclosing: reference.enclosing,
                        line_content: reference.line_content,
                    });
                }
            }
        }
    }
    let mut callers: Vec<AffectedCaller> = by_caller.into_values().collect();
    // Callers outside the change need the attention: the change's own files were edited
    // along with it.
    for caller in &mut callers {
        if caller.in_change {
            caller.score /= 2.0;
        }
        caller.score = (caller.score * 1000.0).round() / 1000.0;
    }
    callers.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.depth.cmp(&b.depth))
            .then_with(|| a.caller.file_path.cmp(&b.caller.file_path))
            .then_with(|| a.caller.start_line.cmp(&b.caller.start_line))
    });
    affected.callers = callers;
    Ok(affected)
}
