//! What the model is told, from our indexes, within a token budget: the section's code, the
//! signature and doc of the symbol holding it, the signatures of what it calls and of its
//! callers, the file's outline, and the project's languages and test framework. This is
//! what makes an answer better than pasting a file into a chat: the model sees the code's
//! neighbourhood, and only that.
//!
//! Runs on one consistent view (blocking); reads the file from the store (or the disk, for
//! a file the index leaves out) and the structure of the files it names.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Serialize;

use crate::queries::page::estimate_tokens;
use crate::structure::lookup::definitions_named;
use crate::structure::{ParsedFile, Result, Scope, StructureError, parsed_file, qualified_name};
use crate::symbols::deps::Manifests;
use crate::symbols::{FileSymbols, Symbol};

/// Callees and callers listed at most.
const MAX_RELATED: usize = 12;
/// Files read to find callers at most.
const MAX_CALLER_FILES: usize = 200;

/// What part of a file a tool is about.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// First line (1-based).
    pub start_line: Option<u32>,
    /// Last line.
    pub end_line: Option<u32>,
    /// A function or method (`name`, `Class.method`).
    pub function_name: Option<String>,
    /// A class (or struct, trait, interface…).
    pub class_name: Option<String>,
    /// The section is a TODO/FIXME/HACK/XXX marker (the one at or nearest this line, or the
    /// file's first when `None`) with the function holding it.
    pub todo: Option<Option<u32>>,
}

/// Lines around a marker shown when no function holds it (or the one holding it is longer
/// than [`MAX_HOLDER_LINES`]).
const MARKER_RADIUS: u32 = 12;
/// The longest function shown whole around a marker.
const MAX_HOLDER_LINES: u32 = 200;

/// The symbol a section is (or lies in).
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct SectionSymbol {
    /// `Class.method` style name.
    pub qualified_name: String,
    /// What it is.
    pub kind: String,
    /// First line.
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
    /// Its signature line.
    pub signature: String,
    /// Its doc comment or docstring, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// Cyclomatic complexity.
    pub complexity: u32,
    /// Deepest nesting.
    pub nesting: u32,
    /// Parameters.
    pub parameters: u32,
}

/// A function related to the section (called by it, or calling it).
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Related {
    /// Its name (`Class.method` when known).
    pub name: String,
    /// Where it is defined (callees) or where the call is (callers): `path:line`.
    pub location: String,
    /// Its signature line (empty when it is defined outside the codebase).
    pub signature: String,
}

/// The project around the file.
#[derive(Debug, Clone, Default, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Project {
    /// Languages by indexed files, most first.
    pub languages: Vec<String>,
    /// The test framework of the file's language, from the manifests and config files
    /// (`pytest`, `cargo test`, `jest`, `vitest`, `go test`, `JUnit 5`, …).
    pub test_framework: String,
    /// Manifests read.
    pub manifests: Vec<String>,
}

/// One part of the context, as the answer summarises it.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct PartSummary {
    /// `code`, `symbol`, `callees`, `callers`, `outline` or `project`.
    pub kind: String,
    /// Items in it (lines of code, callees, callers, outline entries).
    pub items: usize,
    /// Tokens it took.
    pub tokens: usize,
    /// Items left out for the budget.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub left_out: usize,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

/// What context was sent, in short (the answer's `context`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, schemars::JsonSchema)]
pub struct ContextSummary {
    /// The parts, in the order the model reads them.
    pub parts: Vec<PartSummary>,
    /// Tokens of context in all.
    pub tokens: usize,
    /// The budget (`llm.context_tokens`).
    pub budget: usize,
    /// Tokens of the whole file, for comparison.
    pub file_tokens: usize,
}

/// Everything the tools know about a section.
#[derive(Debug, Clone)]
pub struct Gathered {
    /// Path relative to the root.
    pub file_path: String,
    /// Language.
    pub language: String,
    /// The file's lines.
    pub lines: Vec<String>,
    /// First line of the section.
    pub start_line: u32,
    /// Last line of the section.
    pub end_line: u32,
    /// The file's structure.
    pub symbols: FileSymbols,
    /// Index of the section's symbol in `symbols` (the one asked for, or the innermost one
    /// holding the whole range).
    pub symbol_index: Option<usize>,
    /// That symbol, described.
    pub symbol: Option<SectionSymbol>,
    /// What the section calls.
    pub callees: Vec<Related>,
    /// Who calls the section's symbol.
    pub callers: Vec<Related>,
    /// The marker the section is about (`Target::todo`).
    pub todo: Option<crate::symbols::todos::Todo>,
    /// The project.
    pub project: Project,
    /// The context text sent to the model.
    pub context: String,
    /// Its summary.
    pub summary: ContextSummary,
}

impl Gathered {
    /// The section's lines.
    pub fn section_lines(&self) -> &[String] {
        let start = (self.start_line as usize)
            .saturating_sub(1)
            .min(self.lines.len());
        let end = (self.end_line as usize).min(self.lines.len()).max(start);
        &self.lines[start..end]
    }

    /// The section's code, with line numbers.
    pub fn numbered_section(&self) -> String {
        numbered(self.section_lines(), self.start_line)
    }
}

fn numbered(lines: &[String], first: u32) -> String {
    let mut out = String::new();
    for (offset, line) in lines.iter().enumerate() {
        out.push_str(&format!("{:>5} | {line}\n", first as usize + offset));
    }
    out
}

/// The file's content: from the store when indexed, else from the disk.
fn content(scope: &Scope<'_>, relative: &str, parsed: &ParsedFile) -> Result<String> {
    if !parsed.from_disk
        && let Some(record) = scope.view.snapshot.file(scope.root_id, relative)?
        && let Some(bytes) = scope.view.content(&record.hash)?
    {
        return Ok(String::from_utf8_lossy(&bytes).into_owned());
    }
    let absolute = scope.root_path.join(relative);
    let bytes = crate::files::read_regular(&absolute, scope.config.max_file_size)
        .map_err(|err| StructureError::InvalidArgument(format!("cannot read {relative}: {err}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Whether symbol `index` is the function `wanted` (`name`, `Class.method`, `A::b`).
fn is_function(symbols: &FileSymbols, index: usize, wanted: &str) -> bool {
    let symbol = &symbols.symbols[index];
    if !symbol.kind.is_callable() {
        return false;
    }
    let normalized = wanted.replace("::", ".").replace('#', ".");
    symbol.name == wanted
        || qualified_name(symbols, index) == normalized
        || qualified_name(symbols, index).ends_with(&format!(".{normalized}"))
}

/// The names of the callables (or containers) of a file, for "it defines: …" messages.
fn defined_names(symbols: &FileSymbols, keep: impl Fn(&Symbol) -> bool) -> String {
    let names: Vec<String> = symbols
        .symbols
        .iter()
        .enumerate()
        .filter(|(_, symbol)| keep(symbol))
        .map(|(index, _)| qualified_name(symbols, index))
        .collect();
    if names.is_empty() {
        return "nothing of that kind".into();
    }
    let mut listed = names
        .iter()
        .take(40)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 40 {
        listed.push_str(&format!(" and {} more", names.len() - 40));
    }
    listed
}

/// The innermost symbol holding lines `start..=end`.
fn innermost_holding(symbols: &FileSymbols, start: u32, end: u32) -> Option<usize> {
    symbols
        .symbols
        .iter()
        .enumerate()
        .filter(|(_, symbol)| symbol.start_line <= start && end <= symbol.end_line)
        .min_by_key(|(_, symbol)| symbol.end_line - symbol.start_line)
        .map(|(index, _)| index)
}

/// A symbol's doc comment or docstring, read from the file's lines.
pub fn doc_text(lines: &[String], symbol: &Symbol) -> Option<String> {
    if !symbol.documented {
        return None;
    }
    let start = symbol.start_line as usize;
    // A docstring: the first statement after the header.
    let header_end = (start.saturating_sub(1)..lines.len().min(start + 10))
        .find(|&at| lines[at].trim_end().ends_with(':'));
    if let Some(header_end) = header_end
        && let Some(first) = lines.get(header_end + 1)
    {
        let trimmed = first.trim_start();
        for quote in ["\"\"\"", "'''"] {
            if let Some(rest) = trimmed
                .strip_prefix(quote)
                .or_else(|| trimmed.strip_prefix(&format!("r{quote}")))
            {
                if let Some(end) = rest.find(quote) {
                    return Some(rest[..end].trim().to_string());
                }
                let mut text = vec![rest.trim().to_string()];
                for line in lines.iter().skip(header_end + 2).take(60) {
                    if let Some(end) = line.find(quote) {
                        text.push(line[..end].trim().to_string());
                        break;
                    }
                    text.push(line.trim().to_string());
                }
                return Some(text.join("\n").trim().to_string());
            }
        }
    }
    // A comment block right above the definition (attributes and decorators skipped).
    let mut above: Vec<String> = Vec::new();
    let mut at = start.saturating_sub(1);
    while at > 0 {
        let line = lines[at - 1].trim();
        let is_comment = ["///", "//!", "//", "/**", "/*", "*", "#"]
            .iter()
            .any(|marker| line.starts_with(marker))
            && !line.starts_with("#[")
            && !line.starts_with("#!");
        if is_comment {
            above.push(
                line.trim_start_matches(['/', '*', '!', '#'])
                    .trim_end_matches("*/")
                    .trim()
                    .to_string(),
            );
        } else if !(line.starts_with('@') || line.starts_with("#[")) || line.is_empty() {
            break;
        }
        at -= 1;
    }
    above.reverse();
    let text = above.join("\n").trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn describe(symbols: &FileSymbols, index: usize, lines: &[String]) -> SectionSymbol {
    let symbol = &symbols.symbols[index];
    SectionSymbol {
        qualified_name: qualified_name(symbols, index),
        kind: symbol.kind.as_str().to_string(),
        start_line: symbol.start_line,
        end_line: symbol.end_line,
        signature: symbol.signature.trim().to_string(),
        doc: doc_text(lines, symbol),
        complexity: symbol.cyclomatic(),
        nesting: symbol.nesting,
        parameters: symbol.parameters,
    }
}

/// Resolves `target` in the file at `relative` and assembles its context within `budget`
/// tokens.
pub fn gather(
    scope: &Scope<'_>,
    relative: &str,
    target: &Target,
    budget: usize,
) -> Result<Gathered> {
    let parsed = parsed_file(scope, relative)?;
    let text = content(scope, relative, &parsed)?;
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let total = lines.len().max(1) as u32;
    let symbols = &parsed.symbols;
    let function = target
        .function_name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty());
    let class = target
        .class_name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty());

    let mut todo = None;
    let (start_line, end_line, symbol_index) = if let Some(wanted) = target.todo {
        let markers = &symbols.todos;
        let marker = match wanted {
            Some(line) => markers
                .iter()
                .filter(|marker| marker.line.abs_diff(line) <= 3)
                .min_by_key(|marker| marker.line.abs_diff(line)),
            None => markers.first(),
        };
        let Some(marker) = marker else {
            let listed: Vec<String> = markers
                .iter()
                .take(20)
                .map(|marker| format!("{} at line {}", marker.marker, marker.line))
                .collect();
            return Err(StructureError::InvalidArgument(
                match (wanted, listed.is_empty()) {
                    (_, true) => format!(
                        "{} has no TODO, FIXME, HACK or XXX comment (list_todo_fixme lists a \
                     codebase's markers)",
                        parsed.path
                    ),
                    (line, false) => format!(
                        "{} has no marker at or near line {}; it has: {}",
                        parsed.path,
                        line.unwrap_or(1),
                        listed.join(", ")
                    ),
                },
            ));
        };
        todo = Some(marker.clone());
        let line = marker.line;
        let holder = symbols
            .symbols
            .iter()
            .enumerate()
            .filter(|(_, symbol)| {
                symbol.start_line <= line
                    && line <= symbol.end_line
                    && symbol.end_line - symbol.start_line < MAX_HOLDER_LINES
            })
            .min_by_key(|(_, symbol)| symbol.end_line - symbol.start_line)
            .map(|(index, _)| index);
        match holder {
            Some(index) => {
                let symbol = &symbols.symbols[index];
                (symbol.start_line, symbol.end_line, Some(index))
            }
            None => {
                let start = line.saturating_sub(MARKER_RADIUS).max(1);
                let end = (line + MARKER_RADIUS).min(total);
                (start, end, innermost_holding(symbols, line, line))
            }
        }
    } else if let Some(function) = function {
        let found = (0..symbols.symbols.len()).find(|&index| {
            is_function(symbols, index, function)
                && class.is_none_or(|class| symbols.container_path(index).contains(&class))
        });
        let Some(index) = found else {
            return Err(StructureError::NoSuchFunction {
                file: parsed.path.clone(),
                name: match class {
                    Some(class) => format!("{class}.{function}"),
                    None => function.to_string(),
                },
                defined: defined_names(symbols, |symbol| symbol.kind.is_callable()),
            });
        };
        let symbol = &symbols.symbols[index];
        (symbol.start_line, symbol.end_line, Some(index))
    } else if let Some(class) = class {
        let found = symbols
            .symbols
            .iter()
            .position(|symbol| symbol.kind.holds_methods() && symbol.name == class);
        let Some(index) = found else {
            return Err(StructureError::InvalidArgument(format!(
                "{} defines no class, struct, trait or interface named {class:?}; it defines: {}",
                parsed.path,
                defined_names(symbols, |symbol| symbol.kind.holds_methods())
            )));
        };
        let symbol = &symbols.symbols[index];
        (symbol.start_line, symbol.end_line, Some(index))
    } else if target.start_line.is_some() || target.end_line.is_some() {
        let start = target.start_line.unwrap_or(1);
        let end = target.end_line.unwrap_or(total);
        if start == 0 {
            return Err(StructureError::InvalidArgument(
                "start_line counts from 1".to_string(),
            ));
        }
        if start > total {
            return Err(StructureError::InvalidArgument(format!(
                "start_line {start} is past the end of {} ({total} lines)",
                parsed.path
            )));
        }
        if end < start {
            return Err(StructureError::InvalidArgument(format!(
                "end_line ({end}) is before start_line ({start})"
            )));
        }
        let end = end.min(total);
        (start, end, innermost_holding(symbols, start, end))
    } else {
        (1, total, None)
    };

    let symbol = symbol_index.map(|index| describe(symbols, index, &lines));

    // Callees: the calls made inside the section, resolved by name (same file first).
    let mut called: Vec<&str> = Vec::new();
    for call in &symbols.calls {
        if (start_line..=end_line).contains(&call.line) && !called.contains(&call.name.as_str()) {
            called.push(&call.name);
        }
    }
    let local: BTreeMap<&str, usize> = symbols
        .symbols
        .iter()
        .enumerate()
        .filter(|(_, symbol)| symbol.kind.is_callable() || symbol.kind.holds_methods())
        .map(|(index, symbol)| (symbol.name.as_str(), index))
        .collect();
    let elsewhere: HashSet<&str> = called
        .iter()
        .copied()
        .filter(|name| !local.contains_key(name))
        .collect();
    let project_definitions = definitions_named(scope, &elsewhere);
    let mut callees = Vec::new();
    let mut decoded: BTreeMap<crate::hash::ContentHash, Option<FileSymbols>> = BTreeMap::new();
    for name in &called {
        if callees.len() >= MAX_RELATED {
            break;
        }
        if let Some(&index) = local.get(name) {
            if Some(index) == symbol_index {
                continue;
            }
            let symbol = &symbols.symbols[index];
            callees.push(Related {
                name: qualified_name(symbols, index),
                location: format!("{}:{}", parsed.path, symbol.start_line),
                signature: symbol.signature.trim().to_string(),
            });
            continue;
        }
        let Some(located) = project_definitions.get(*name).and_then(|all| {
            all.iter()
                .find(|l| l.kind.is_callable() || l.kind.holds_methods())
        }) else {
            continue;
        };
        let their = decoded.entry(located.doc.hash).or_insert_with(|| {
            crate::structure::doc_symbols(scope.view, located.doc)
                .ok()
                .flatten()
        });
        let signature = their
            .as_ref()
            .and_then(|their| their.symbols.get(located.index as usize))
            .map(|symbol| symbol.signature.trim().to_string())
            .unwrap_or_default();
        let name = their
            .as_ref()
            .map(|their| qualified_name(their, located.index as usize))
            .unwrap_or_else(|| name.to_string());
        callees.push(Related {
            name,
            location: format!("{}:{}", located.doc.path, located.start_line),
            signature,
        });
    }

    // Callers of the section's symbol, from the files that mention its name.
    let mut callers = Vec::new();
    if let Some(index) = symbol_index
        && symbols.symbols[index].kind.is_callable()
    {
        let name = symbols.symbols[index].name.clone();
        for doc in crate::structure::graph::mentioning(scope, &name)
            .into_iter()
            .take(MAX_CALLER_FILES)
        {
            if callers.len() >= MAX_RELATED || scope.work.should_stop() {
                break;
            }
            let their = if *doc.path == *parsed.path {
                Some(symbols.clone())
            } else {
                crate::structure::doc_symbols(scope.view, doc)?
            };
            let Some(their) = their else { continue };
            for call in their.calls.iter().filter(|call| call.name == name) {
                let Some(caller) = call.caller else { continue };
                let same = *doc.path == *parsed.path && caller as usize == index;
                if same || callers.len() >= MAX_RELATED {
                    continue;
                }
                let Some(caller_symbol) = their.symbols.get(caller as usize) else {
                    continue;
                };
                callers.push(Related {
                    name: qualified_name(&their, caller as usize),
                    location: format!("{}:{}", doc.path, call.line),
                    signature: caller_symbol.signature.trim().to_string(),
                });
            }
        }
    }

    let project = project_facts(scope, &parsed.language);

    // The context, part by part, each taking what fits of the budget that is left.
    let mut assembler = Assembler::new(budget);
    let code_lines: Vec<String> = {
        let start = (start_line as usize).saturating_sub(1);
        let end = (end_line as usize).min(lines.len());
        lines
            .get(start..end.max(start))
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(offset, line)| format!("{:>5} | {line}", start_line as usize + offset))
            .collect()
    };
    // The code itself may take up to two thirds; the rest is for its neighbourhood.
    assembler.add(
        "code",
        &format!(
            "Code ({}:{start_line}-{end_line}, {}):",
            parsed.path, parsed.language
        ),
        &code_lines,
        budget * 2 / 3,
    );
    if let Some(symbol) = &symbol {
        let mut items = vec![
            format!(
                "{} {} (lines {}-{})",
                symbol.kind, symbol.qualified_name, symbol.start_line, symbol.end_line
            ),
            format!("signature: {}", symbol.signature),
        ];
        if let Some(doc) = &symbol.doc {
            items.push(format!("doc: {}", doc.replace('\n', " ")));
        }
        items.push(format!(
            "cyclomatic complexity {}, nesting {}, parameters {}",
            symbol.complexity, symbol.nesting, symbol.parameters
        ));
        assembler.add("symbol", "Enclosing symbol:", &items, usize::MAX);
    }
    let related = |list: &[Related]| -> Vec<String> {
        list.iter()
            .map(|item| {
                if item.signature.is_empty() {
                    format!("{} ({})", item.name, item.location)
                } else {
                    format!("{} ({}): {}", item.name, item.location, item.signature)
                }
            })
            .collect()
    };
    assembler.add("callees", "It calls:", &related(&callees), usize::MAX);
    assembler.add("callers", "Called from:", &related(&callers), usize::MAX);
    let outline: Vec<String> = symbols
        .symbols
        .iter()
        .enumerate()
        .map(|(index, symbol)| {
            format!(
                "{}{} {} {}-{}",
                "  ".repeat(symbols.container_path(index).len()),
                symbol.kind.as_str(),
                symbol.name,
                symbol.start_line,
                symbol.end_line
            )
        })
        .collect();
    assembler.add(
        "outline",
        &format!("Outline of {}:", parsed.path),
        &outline,
        usize::MAX,
    );
    let mut project_items = vec![format!("languages: {}", project.languages.join(", "))];
    if !project.test_framework.is_empty() {
        project_items.push(format!("test framework: {}", project.test_framework));
    }
    assembler.add("project", "Project:", &project_items, usize::MAX);
    let (context, mut summary) = assembler.finish();
    summary.file_tokens = estimate_tokens(text.as_bytes());

    Ok(Gathered {
        file_path: parsed.path.clone(),
        language: parsed.language.clone(),
        lines,
        start_line,
        end_line,
        symbols: parsed.symbols,
        symbol_index,
        symbol,
        callees,
        callers,
        todo,
        project,
        context,
        summary,
    })
}

/// Builds the context text part by part within a budget.
struct Assembler {
    budget: usize,
    used: usize,
    text: String,
    parts: Vec<PartSummary>,
}

impl Assembler {
    fn new(budget: usize) -> Assembler {
        Assembler {
            budget,
            used: 0,
            text: String::new(),
            parts: Vec::new(),
        }
    }

    /// Adds a part: its title and as many of `items` as fit (the part itself may take at
    /// most `cap` tokens).
    fn add(&mut self, kind: &str, title: &str, items: &[String], cap: usize) {
        if items.is_empty() {
            return;
        }
        let room = self.budget.saturating_sub(self.used).min(cap);
        let mut part = format!("{title}\n");
        let mut tokens = estimate_tokens(part.as_bytes());
        if tokens >= room {
            return;
        }
        let mut taken = 0;
        for item in items {
            let cost = estimate_tokens(item.as_bytes()) + 1;
            if tokens + cost > room {
                break;
            }
            part.push_str(item);
            part.push('\n');
            tokens += cost;
            taken += 1;
        }
        if taken == 0 {
            return;
        }
        let left_out = items.len() - taken;
        if left_out > 0 {
            part.push_str(&format!("… ({left_out} more left out)\n"));
        }
        part.push('\n');
        self.used += tokens;
        self.text.push_str(&part);
        self.parts.push(PartSummary {
            kind: kind.to_string(),
            items: taken,
            tokens,
            left_out,
        });
    }

    fn finish(self) -> (String, ContextSummary) {
        let summary = ContextSummary {
            parts: self.parts,
            tokens: self.used,
            budget: self.budget,
            file_tokens: 0,
        };
        (self.text, summary)
    }
}

/// Languages of the root and the test framework of `language`.
fn project_facts(scope: &Scope<'_>, language: &str) -> Project {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, doc) in scope.view.index.docs.iter() {
        if doc.definitions.is_some() {
            *counts.entry(&doc.language).or_insert(0) += 1;
        }
    }
    let mut languages: Vec<(&str, usize)> = counts.into_iter().collect();
    languages.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let manifests = Manifests::read(scope.root_path);
    Project {
        languages: languages
            .iter()
            .take(5)
            .map(|(name, _)| name.to_string())
            .collect(),
        test_framework: test_framework(scope.root_path, language, &manifests),
        manifests: manifests.read.clone(),
    }
}

/// The test framework a project uses for `language`, from its manifests and config files;
/// the language's usual one when nothing says.
pub fn test_framework(root: &Path, language: &str, manifests: &Manifests) -> String {
    let has = |name: &str| manifests.dependencies.contains(name);
    let exists = |name: &str| root.join(name).exists();
    let framework = match language {
        "Python" => {
            let pytest = has("pytest")
                || ["pytest.ini", "conftest.py", "tests/conftest.py", "tox.ini"]
                    .iter()
                    .any(|file| exists(file))
                || std::fs::read_to_string(root.join("pyproject.toml"))
                    .is_ok_and(|text| text.contains("pytest"));
            if pytest { "pytest" } else { "unittest" }
        }
        "Rust" => "cargo test",
        "JavaScript" | "TypeScript" => {
            if has("vitest") || exists("vitest.config.ts") || exists("vitest.config.js") {
                "vitest"
            } else if has("jest") || exists("jest.config.js") || exists("jest.config.ts") {
                "jest"
            } else if has("mocha") {
                "mocha"
            } else {
                "node:test"
            }
        }
        "Go" => "go test",
        "Java" => {
            let pom = std::fs::read_to_string(root.join("pom.xml")).unwrap_or_default();
            if pom.contains("junit-jupiter") || pom.contains("junit5") {
                "JUnit 5"
            } else if pom.contains("<artifactId>junit</artifactId>") {
                "JUnit 4"
            } else {
                "JUnit 5"
            }
        }
        "C#" => "xUnit",
        "Ruby" => {
            if exists("spec") || exists(".rspec") {
                "RSpec"
            } else {
                "Minitest"
            }
        }
        "PHP" => "PHPUnit",
        "C" | "C++" => "assert-based tests",
        "Shell" | "Bash" => "bats",
        _ => "",
    };
    framework.to_string()
}
