//! A pre-commit review of a change, for the change only: code it copied (clone classes with a
//! copy on lines it added), functions it made cross a health threshold (complexity, length,
//! nesting, parameters), public functions it added without documentation, TODO/FIXME markers
//! it added, and changed functions whose tests it did not touch or that no test calls. Each
//! finding has a place, a severity, the measure and threshold where there is one, and a
//! one-line why.

use std::collections::HashMap;

use serde::Serialize;

use super::{Change, ChangeKind, FileDiff, SymbolChange, is_test};
use crate::health::Health;
use crate::structure::graph::CallerSearch;
use crate::structure::{Result, Scope};
use crate::symbols::Symbol;
use codesage_shared::config::HealthConfig;

/// Clone classes examined for the change at most.
const MAX_CLONE_CLASSES: usize = 200;

/// Test callers looked for per changed function at most.
const MAX_TEST_CALLERS: usize = 200;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth fixing before the change is committed (`codesage review` exits 1).
    Warning,
    /// Worth a look.
    Info,
}

/// One finding of the review.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ReviewFinding {
    /// `clone`, `complexity`, `function_length`, `nesting`, `parameters`, `undocumented`,
    /// `todo`, `tests_not_touched` or `untested`.
    pub category: &'static str,
    /// Warning or info.
    pub severity: Severity,
    /// File, relative to the root.
    pub file_path: String,
    /// First line concerned.
    pub line: u32,
    /// Last line concerned.
    pub end_line: u32,
    /// The symbol concerned (its id), if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol_id: Option<String>,
    /// The measure now, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<u32>,
    /// The measure at the base, where there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u32>,
    /// The threshold (from `[health]`), where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u32>,
    /// Other places concerned (`path:start-end`): the other copies of a clone, the tests
    /// of a function.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<String>,
    /// Why it matters, in one line.
    pub why: String,
}

/// The review: its findings (warnings first, then by file and line) and what it looked at.
#[derive(Debug, Default)]
pub struct Review {
    /// Findings.
    pub findings: Vec<ReviewFinding>,
    /// Changed functions that tests call, with at least one of those tests' files changed.
    pub tested_and_touched: usize,
    /// Clone classes examined (those with a copy on the change's lines).
    pub clone_classes_examined: usize,
    /// Code files whose parse was still pending when the clone report was made.
    pub pending: usize,
}

fn finding(
    category: &'static str,
    severity: Severity,
    file: &FileDiff,
    symbol: Option<&SymbolChange>,
    why: String,
) -> ReviewFinding {
    ReviewFinding {
        category,
        severity,
        file_path: file.file.path.clone(),
        line: symbol.map_or(1, |s| s.start_line),
        end_line: symbol.map_or(1, |s| s.end_line),
        symbol_id: symbol.map(|s| s.symbol_id.clone()),
        value: None,
        before: None,
        threshold: None,
        related: Vec::new(),
        why,
    }
}

/// Reviews `change` in `scope` with the thresholds of `config`.
pub fn review(
    scope: &Scope<'_>,
    change: &Change,
    health: &Health,
    config: &HealthConfig,
) -> Result<Review> {
    let mut review = Review::default();
    let mut search = CallerSearch::new(scope);
    for (file, symbol, index) in change.symbols() {
        if symbol.change == ChangeKind::Removed || scope.work.should_stop() {
            continue;
        }
        let Some(now) = file.symbol(symbol, index) else {
            continue;
        };
        if !now.kind.is_callable() {
            continue;
        }
        let before = match symbol.change {
            ChangeKind::Modified => file.old_symbol(symbol),
            _ => None,
        };
        thresholds(&mut review, file, symbol, now, before, config);
        documentation(&mut review, file, symbol, now, before);
        if !is_test(&file.file.path, &symbol.qualified_name) {
            tests(&mut review, &mut search, change, file, symbol, now)?;
        }
    }
    for file in &change.files {
        todos(&mut review, file);
    }
    copies(&mut review, scope, change, health, config)?;
    review.findings.sort_by(|a, b| {
        (a.severity, &a.file_path, a.line, a.category).cmp(&(
            b.severity,
            &b.file_path,
            b.line,
            b.category,
        ))
    });
    Ok(review)
}

/// A health measure of a function: its category, how it is taken, its threshold, what it
/// counts (for the why).
type Measure = (&'static str, fn(&Symbol) -> u32, u32, &'static str);

/// Health measures the change made cross their threshold (a warning), or grew further past
/// it (info).
fn thresholds(
    review: &mut Review,
    file: &FileDiff,
    symbol: &SymbolChange,
    now: &Symbol,
    before: Option<&Symbol>,
    config: &HealthConfig,
) {
    let measures: [Measure; 4] = [
        (
            "complexity",
            Symbol::cyclomatic,
            config.max_complexity,
            "cyclomatic complexity: more paths to test, harder to change safely",
        ),
        (
            "function_length",
            Symbol::lines,
            config.max_function_lines,
            "lines: a long function does several things",
        ),
        (
            "nesting",
            |s| s.nesting,
            config.max_nesting,
            "levels of nested control flow: hard to follow",
        ),
        (
            "parameters",
            |s| s.parameters,
            config.max_parameters,
            "parameters: easy to pass in the wrong order",
        ),
    ];
    for (category, measure, threshold, what) in measures {
        let value = measure(now);
        if value <= threshold {
            continue;
        }
        let was = before.map(measure);
        let (severity, why) = match was {
            Some(was) if was > threshold && value <= was => continue,
            Some(was) if was > threshold => (
                Severity::Info,
                format!(
                    "{value} {what}; it was already {was}, over the {threshold} threshold, and the change adds to it"
                ),
            ),
            Some(was) => (
                Severity::Warning,
                format!(
                    "{value} {what}; the change took it from {was} past the {threshold} threshold"
                ),
            ),
            None => (
                Severity::Warning,
                format!("{value} {what}; over the {threshold} threshold in new code"),
            ),
        };
        review.findings.push(ReviewFinding {
            value: Some(value),
            before: was,
            threshold: Some(threshold),
            ..finding(category, severity, file, Some(symbol), why)
        });
    }
}

/// Public functions the change added without documentation, or whose documentation it
/// removed.
fn documentation(
    review: &mut Review,
    file: &FileDiff,
    symbol: &SymbolChange,
    now: &Symbol,
    before: Option<&Symbol>,
) {
    if now.documented
        || !crate::health::is_public(file.language, &now.name, &now.signature)
        || is_test(&file.file.path, &symbol.qualified_name)
    {
        return;
    }
    let why = match (symbol.change, before) {
        (ChangeKind::Added, _) => {
            "new public function without a doc comment: callers must read its code to use it"
        }
        (_, Some(before)) if before.documented => "the change removed its doc comment",
        _ => return,
    };
    review.findings.push(finding(
        "undocumented",
        Severity::Warning,
        file,
        Some(symbol),
        why.to_string(),
    ));
}

/// Whether tests call a changed function, and whether the change touched them.
fn tests(
    review: &mut Review,
    search: &mut CallerSearch<'_, '_>,
    change: &Change,
    file: &FileDiff,
    symbol: &SymbolChange,
    now: &Symbol,
) -> Result<()> {
    let (callers, _) = search.callers(&now.name, 1, MAX_TEST_CALLERS)?;
    let mut test_files: Vec<String> = callers
        .iter()
        .filter(|edge| is_test(&edge.caller.file_path, &edge.caller.qualified_name))
        .map(|edge| edge.caller.file_path.clone())
        .collect();
    test_files.sort();
    test_files.dedup();
    if test_files
        .iter()
        .any(|path| change.file(path).is_some() && path != &file.file.path)
    {
        review.tested_and_touched += 1;
        return Ok(());
    }
    let (category, why) = if test_files.is_empty() {
        (
            "untested",
            format!(
                "no test calls {} (by name); the {} code is not exercised by a test",
                now.name,
                symbol.change.as_str()
            ),
        )
    } else {
        (
            "tests_not_touched",
            format!(
                "{} test file(s) call {} but the change touches none of them: do they still cover the new behaviour?",
                test_files.len(),
                now.name
            ),
        )
    };
    review.findings.push(ReviewFinding {
        related: test_files.into_iter().take(10).collect(),
        ..finding(category, Severity::Info, file, Some(symbol), why)
    });
    Ok(())
}

/// TODO/FIXME/HACK/XXX markers on lines the change added, not at the base.
fn todos(review: &mut Review, file: &FileDiff) {
    let Some(new) = file.new.as_ref().and_then(|side| side.symbols.as_ref()) else {
        return;
    };
    let mut before: HashMap<&str, usize> = HashMap::new();
    if let Some(old) = file.old.as_ref().and_then(|side| side.symbols.as_ref()) {
        for todo in &old.todos {
            *before.entry(todo.text.as_str()).or_default() += 1;
        }
    }
    for todo in &new.todos {
        if let Some(left) = before.get_mut(todo.text.as_str())
            && *left > 0
        {
            *left -= 1;
            continue;
        }
        if !file.file.touches(todo.line, todo.line) {
            continue;
        }
        review.findings.push(ReviewFinding {
            line: todo.line,
            end_line: todo.line,
            ..finding(
                "todo",
                Severity::Info,
                file,
                None,
                format!("new {}: {}", todo.marker, todo.text),
            )
        });
    }
}

/// Clone classes with a copy on lines the change added: new copies (most of the copy is new:
/// a warning) and edits inside code that exists elsewhere too (the other copies may need the
/// same edit: info).
fn copies(
    review: &mut Review,
    scope: &Scope<'_>,
    change: &Change,
    health: &Health,
    config: &HealthConfig,
) -> Result<()> {
    let added_anything = change.files.iter().any(|file| {
        file.new.is_some() && file.file.added_lines.as_ref().is_none_or(|l| !l.is_empty())
    });
    if !added_anything || scope.work.should_stop() {
        return Ok(());
    }
    // The default clone question, so the detection kept warm for the other tools serves.
    let mut found = crate::health::improvements::default_clones(scope, health, config, None)?;
    review.pending = found.pending;
    let docs = &scope.view.index.docs;
    let on_change = |doc: u32, start: u32, end: u32| {
        docs.get(doc)
            .and_then(|doc| change.file(&doc.path))
            .is_some_and(|file| file.file.touches(start, end))
    };
    // A new list: the detection's own is shared with every report of it.
    found.classes = std::sync::Arc::new(
        found
            .classes
            .iter()
            .filter(|class| {
                class
                    .regions
                    .iter()
                    .any(|region| on_change(region.doc, region.start_line, region.end_line))
            })
            .take(MAX_CLONE_CLASSES)
            .cloned()
            .collect(),
    );
    let page = found.page(scope, health, 0, MAX_CLONE_CLASSES)?;
    review.clone_classes_examined = page.shown.len();
    for class in page.shown {
        for (at, place) in class.locations.iter().enumerate() {
            let Some(file) = change.file(&place.file_path) else {
                continue;
            };
            let added = file.file.added_within(place.start_line, place.end_line);
            if added == 0 {
                continue;
            }
            let span = place
                .end_line
                .saturating_sub(place.start_line)
                .saturating_add(1);
            let related: Vec<String> = class
                .occurrences
                .iter()
                .enumerate()
                .filter(|(other, _)| *other != at)
                .map(|(_, occurrence)| occurrence.clone())
                .take(10)
                .collect();
            let others = class.copies.saturating_sub(1);
            let (severity, why) = if added * 2 >= span {
                (
                    Severity::Warning,
                    format!(
                        "{added} of these {span} lines are new and copy code found in {others} other place(s) ({} clone): extract what they share",
                        class.kind
                    ),
                )
            } else {
                (
                    Severity::Info,
                    format!(
                        "the change edits {added} line(s) of code that has {others} other copy(ies) ({} clone): do they need the same edit?",
                        class.kind
                    ),
                )
            };
            review.findings.push(ReviewFinding {
                line: place.start_line,
                end_line: place.end_line,
                value: Some(span),
                related,
                ..finding("clone", severity, file, None, why)
            });
        }
    }
    Ok(())
}
