//! What a function calls: its callees split into the same file, the same project (defined
//! elsewhere in the root) and external (standard library, dependencies, built-ins), resolved
//! by name, with a simple complexity figure (decision points and length).

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::lookup::{Located, definitions_named};
use super::{Result, Scope, StructureError, parsed_file, qualified_name};
use crate::symbols::{FileSymbols, SymbolKind};

/// Project-wide definitions listed per callee at most.
const MAX_LOCATIONS: usize = 3;

/// Callables named when a function is not found.
const MAX_LISTED: usize = 40;

/// Where a callee is defined.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct CalleeLocation {
    /// File, relative to the root.
    pub file_path: String,
    /// First line of the definition.
    pub start_line: u32,
    /// What it is.
    pub kind: &'static str,
}

/// One called name.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Callee {
    /// The called name.
    pub name: String,
    /// Lines of the calls inside the function.
    pub lines: Vec<u32>,
    /// Where it is defined (same file or project; up to three).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub defined_at: Vec<CalleeLocation>,
    /// Definitions with this name in the project, when more than are listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definitions_total: Option<usize>,
}

/// A function's callees, by where they are defined.
#[derive(Debug, Clone, Default, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Callees {
    /// Defined in the same file.
    pub same_file: Vec<Callee>,
    /// Defined elsewhere in the codebase.
    pub same_project: Vec<Callee>,
    /// Not defined in the codebase (standard library, dependencies, built-ins).
    pub external: Vec<Callee>,
}

/// One function's dependencies.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct FunctionDependencies {
    /// Its name.
    pub name: String,
    /// `Class.method` style name.
    pub qualified_name: String,
    /// `function` or `method`.
    pub kind: &'static str,
    /// First line.
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
    /// Lines.
    pub length: u32,
    /// Decision points (if, loops, case arms, catch, `&&`, `||`, ternaries).
    pub branches: u32,
    /// Cyclomatic complexity: decision points + 1.
    pub cyclomatic_complexity: u32,
    /// Calls made, counted.
    pub call_count: usize,
    /// Some callees were left out of `calls` to fit the answer's budget.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub calls_truncated: bool,
    /// Called names, by where they are defined.
    pub calls: Callees,
}

/// The answer.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct FunctionDependenciesReport {
    /// File, relative to the root.
    pub file_path: String,
    /// Its language.
    pub language: String,
    /// The functions analysed.
    pub functions: Vec<FunctionDependencies>,
    /// Callees per place of definition, over all the functions.
    pub totals: BTreeMap<&'static str, usize>,
    /// The file has syntax errors; the analysis covers what parsed.
    pub has_syntax_errors: bool,
}

/// Kinds a call can resolve to (constructors are calls of classes and structs).
fn callable_target(kind: SymbolKind) -> bool {
    kind.is_callable()
        || matches!(
            kind,
            SymbolKind::Class | SymbolKind::Struct | SymbolKind::Macro | SymbolKind::Enum
        )
}

fn matches_function(symbols: &FileSymbols, index: usize, wanted: &str) -> bool {
    let symbol = &symbols.symbols[index];
    if symbol.name == wanted {
        return true;
    }
    let normalized = wanted.replace("::", ".").replace('#', ".");
    qualified_name(symbols, index) == normalized
}

/// The dependencies of `function_name` in the file at `relative` (every function and method
/// of the file when `None`).
pub fn analyze(
    scope: &Scope<'_>,
    relative: &str,
    function_name: Option<&str>,
) -> Result<FunctionDependenciesReport> {
    let parsed = parsed_file(scope, relative)?;
    let symbols = &parsed.symbols;
    let wanted = function_name.map(str::trim).filter(|name| !name.is_empty());
    let chosen: Vec<usize> = symbols
        .symbols
        .iter()
        .enumerate()
        .filter(|(index, symbol)| {
            symbol.kind.is_callable()
                && wanted.is_none_or(|wanted| matches_function(symbols, *index, wanted))
        })
        .map(|(index, _)| index)
        .collect();
    if let Some(wanted) = wanted
        && chosen.is_empty()
    {
        let callables: Vec<String> = symbols
            .symbols
            .iter()
            .enumerate()
            .filter(|(_, symbol)| symbol.kind.is_callable())
            .map(|(index, _)| qualified_name(symbols, index))
            .collect();
        let mut defined = callables
            .iter()
            .take(MAX_LISTED)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if callables.len() > MAX_LISTED {
            defined.push_str(&format!(" and {} more", callables.len() - MAX_LISTED));
        }
        if callables.is_empty() {
            defined = "no functions".into();
        }
        return Err(StructureError::NoSuchFunction {
            file: parsed.path.clone(),
            name: wanted.to_string(),
            defined,
        });
    }

    // Names defined in this file, and the callee names to look up elsewhere.
    let local: HashSet<&str> = symbols
        .symbols
        .iter()
        .filter(|symbol| callable_target(symbol.kind))
        .map(|symbol| symbol.name.as_str())
        .collect();
    let elsewhere: HashSet<&str> = chosen
        .iter()
        .flat_map(|&index| symbols.calls_of(index))
        .map(|call| call.name.as_str())
        .filter(|name| !local.contains(name))
        .collect();
    let project = definitions_named(scope, &elsewhere);

    let mut totals: BTreeMap<&'static str, usize> = BTreeMap::new();
    let functions = chosen
        .into_iter()
        .map(|index| {
            let symbol = &symbols.symbols[index];
            // Called name → lines, in order of first call.
            let mut called: Vec<(&str, Vec<u32>)> = Vec::new();
            let mut call_count = 0;
            for call in symbols.calls_of(index) {
                call_count += 1;
                match called.iter_mut().find(|(name, _)| *name == call.name) {
                    Some((_, lines)) => lines.push(call.line),
                    None => called.push((&call.name, vec![call.line])),
                }
            }
            let mut calls = Callees::default();
            for (name, lines) in called {
                if local.contains(name) {
                    let defined_at = symbols
                        .symbols
                        .iter()
                        .filter(|s| s.name == name && callable_target(s.kind))
                        .take(MAX_LOCATIONS)
                        .map(|s| CalleeLocation {
                            file_path: parsed.path.clone(),
                            start_line: s.start_line,
                            kind: s.kind.as_str(),
                        })
                        .collect();
                    calls.same_file.push(Callee {
                        name: name.to_string(),
                        lines,
                        defined_at,
                        definitions_total: None,
                    });
                    continue;
                }
                let targets: Vec<&Located<'_>> = project
                    .get(name)
                    .map(|all| all.iter().filter(|l| callable_target(l.kind)).collect())
                    .unwrap_or_default();
                if targets.is_empty() {
                    calls.external.push(Callee {
                        name: name.to_string(),
                        lines,
                        defined_at: Vec::new(),
                        definitions_total: None,
                    });
                } else {
                    calls.same_project.push(Callee {
                        name: name.to_string(),
                        lines,
                        defined_at: targets
                            .iter()
                            .take(MAX_LOCATIONS)
                            .map(|located| CalleeLocation {
                                file_path: located.doc.path.to_string(),
                                start_line: located.start_line,
                                kind: located.kind.as_str(),
                            })
                            .collect(),
                        definitions_total: (targets.len() > MAX_LOCATIONS).then_some(targets.len()),
                    });
                }
            }
            *totals.entry("same_file").or_insert(0) += calls.same_file.len();
            *totals.entry("same_project").or_insert(0) += calls.same_project.len();
            *totals.entry("external").or_insert(0) += calls.external.len();
            FunctionDependencies {
                name: symbol.name.clone(),
                qualified_name: qualified_name(symbols, index),
                kind: symbol.kind.as_str(),
                start_line: symbol.start_line,
                end_line: symbol.end_line,
                length: symbol.end_line.saturating_sub(symbol.start_line) + 1,
                branches: symbol.branches,
                cyclomatic_complexity: symbol.branches + 1,
                call_count,
                calls_truncated: false,
                calls,
            }
        })
        .collect();
    Ok(FunctionDependenciesReport {
        file_path: parsed.path.clone(),
        language: parsed.language.clone(),
        functions,
        totals,
        has_syntax_errors: symbols.has_errors,
    })
}
