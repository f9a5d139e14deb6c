//! The offline half of the LLM tools: deterministic answers from the indexes alone, given
//! when no model is configured or reachable (and shown next to the model's answer when one
//! is): a structural summary with the side effects seen, suggestions from the code-health
//! metrics, a test skeleton from a signature, doc comments from signatures as a diff.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::context::Gathered;
use crate::symbols::{FileSymbols, Symbol};

/// A side effect seen in the code: what kind, where, and the text that shows it.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct SideEffect {
    /// `file I/O`, `network`, `environment`, `process`, `database` or `output`.
    pub kind: String,
    /// Line.
    pub line: u32,
    /// What was matched (`open(`, `requests.get`, `env::var`, …).
    pub evidence: String,
}

static SIDE_EFFECTS: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    let patterns: [(&str, &str); 6] = [
        (
            "file I/O",
            r"\bopen\(|\bfopen\(|\bfs::\w+|\bFile::(?:open|create)|\bread_to_string\b|\.(?:read|write)_(?:text|bytes)\(|\bos\.(?:remove|rename|mkdir|makedirs|unlink|rmdir)\b|\bshutil\.\w+|\b(?:readFile|writeFile|appendFile|createReadStream|createWriteStream)(?:Sync)?\b|\bos\.(?:Open|Create|ReadFile|WriteFile)\b|\bioutil\.\w+|\bnew File(?:Input|Output)?(?:Stream|Reader|Writer)?\(|\bFiles\.\w+\(|\bFile\.(?:read|write|open)\w*",
        ),
        (
            "network",
            r"\brequests\.(?:get|post|put|delete|patch|head|request|Session)\b|\burllib\b|\bhttpx\.\w+|\baiohttp\b|\bhttp\.client\b|\bsocket\.\w+|\bfetch\(|\baxios\b|\bXMLHttpRequest\b|\breqwest::|\bhyper::|\bTcpStream\b|\bUdpSocket\b|\bTcpListener\b|\bhttp\.(?:Get|Post|NewRequest|ListenAndServe)\b|\bnet\.(?:Dial|Listen)\w*|\bHttpClient\b|\bURLConnection\b|\bcurl_\w+",
        ),
        (
            "environment",
            r"\bos\.environ\b|\bos\.getenv\b|\benv::var\w*|\bprocess\.env\b|\bgetenv\(|\bSystem\.getenv\b|\bEnvironment\.GetEnvironmentVariable\b|\bENV\[|\bos\.Getenv\b",
        ),
        (
            "process",
            r"\bsubprocess\.\w+|\bos\.system\b|\bos\.exec\w*|\bCommand::new\b|\bchild_process\b|\bexecSync\b|\bspawn\(|\bRuntime\.getRuntime\(\)\.exec\b|\bexec\.Command\b|\bProcess\.Start\b|\bsystem\(",
        ),
        (
            "database",
            r"\.execute(?:many)?\(|\.cursor\(\)|\bsqlx::|\brusqlite\b|\bdiesel::|(?i:\bSELECT\s+[\w*,\s]+\s+FROM\b|\bINSERT\s+INTO\b|\bDELETE\s+FROM\b)",
        ),
        (
            "output",
            r"\bprint\(|\bprintln!|\beprintln!|\bconsole\.(?:log|error|warn)\b|\bSystem\.(?:out|err)\.print|\bfmt\.(?:Print|Fprint)\w*|\bprintf\(|\bputs\b|\becho\b|\blogging\.\w+\(|\blog::\w+!|\btracing::\w+!|\blogger\.\w+\(",
        ),
    ];
    patterns
        .into_iter()
        .filter_map(|(kind, pattern)| Regex::new(pattern).ok().map(|regex| (kind, regex)))
        .collect()
});

/// Whether a line is only a comment (its side-effect words do not count).
fn is_comment_line(line: &str) -> bool {
    let trimmed = line.trim_start();
    ["//", "#", "/*", "*", "--"]
        .iter()
        .any(|marker| trimmed.starts_with(marker))
        && !trimmed.starts_with("#[")
        && !trimmed.starts_with("#include")
}

/// The side effects seen in `lines` (the first being line `first`), at most one per kind
/// and line.
pub fn side_effects(lines: &[String], first: u32) -> Vec<SideEffect> {
    let mut found = Vec::new();
    for (offset, line) in lines.iter().enumerate() {
        if is_comment_line(line) {
            continue;
        }
        for (kind, regex) in SIDE_EFFECTS.iter() {
            if let Some(matched) = regex.find(line) {
                found.push(SideEffect {
                    kind: kind.to_string(),
                    line: first + offset as u32,
                    evidence: matched.as_str().trim().to_string(),
                });
            }
        }
    }
    found
}

/// The offline structural summary of a section.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct StructuralSummary {
    /// One paragraph saying what the section is, from its structure.
    pub overview: String,
    /// Definitions in the section (kind and name), outermost first.
    pub defines: Vec<String>,
    /// What it calls (names; `calls` in `context` has their signatures).
    pub calls: Vec<String>,
    /// Who calls it.
    pub callers: Vec<String>,
    /// Side effects seen.
    pub side_effects: Vec<SideEffect>,
    /// Lines of code in the section.
    pub lines: u32,
}

impl StructuralSummary {
    /// Halves its longest-running list (side effects, definitions, calls, callers, in that
    /// order) to fit an answer's budget; false when every list is already short.
    pub fn shrink(&mut self) -> bool {
        if self.side_effects.len() > 3 {
            self.side_effects.truncate(self.side_effects.len() / 2);
            return true;
        }
        for list in [&mut self.defines, &mut self.calls, &mut self.callers] {
            if list.len() > 3 {
                list.truncate(list.len() / 2);
                return true;
            }
        }
        false
    }
}

/// A structural summary of the gathered section.
pub fn summary(gathered: &Gathered) -> StructuralSummary {
    let lines = gathered.section_lines();
    let effects = side_effects(lines, gathered.start_line);
    let defines: Vec<String> = gathered
        .symbols
        .symbols
        .iter()
        .enumerate()
        .filter(|(_, symbol)| {
            symbol.start_line >= gathered.start_line && symbol.end_line <= gathered.end_line
        })
        .map(|(index, symbol)| {
            format!(
                "{} {}",
                symbol.kind.as_str(),
                crate::structure::qualified_name(&gathered.symbols, index)
            )
        })
        .take(50)
        .collect();
    let calls: Vec<String> = gathered.callees.iter().map(|c| c.name.clone()).collect();
    let callers: Vec<String> = gathered.callers.iter().map(|c| c.name.clone()).collect();
    let span = gathered.end_line.saturating_sub(gathered.start_line) + 1;
    let mut overview = match &gathered.symbol {
        Some(symbol) => {
            let mut text = format!(
                "{} `{}` ({} lines, cyclomatic complexity {}, {} parameter{}) in {}",
                symbol.kind,
                symbol.qualified_name,
                symbol.end_line - symbol.start_line + 1,
                symbol.complexity,
                symbol.parameters,
                if symbol.parameters == 1 { "" } else { "s" },
                gathered.file_path
            );
            if let Some(doc) = &symbol.doc {
                let first = doc.lines().next().unwrap_or_default();
                text.push_str(&format!(": \"{first}\""));
            } else {
                text.push_str("; it has no doc comment");
            }
            text.push('.');
            text
        }
        None => format!(
            "Lines {}-{} of {} ({}, {span} lines), defining {} symbol{}.",
            gathered.start_line,
            gathered.end_line,
            gathered.file_path,
            gathered.language,
            defines.len(),
            if defines.len() == 1 { "" } else { "s" }
        ),
    };
    if !calls.is_empty() {
        overview.push_str(&format!(
            " It calls {}{}.",
            calls.iter().take(8).cloned().collect::<Vec<_>>().join(", "),
            if calls.len() > 8 { ", …" } else { "" }
        ));
    }
    if !callers.is_empty() {
        overview.push_str(&format!(
            " It is called from {}{}.",
            callers
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if callers.len() > 5 { ", …" } else { "" }
        ));
    }
    let mut kinds: Vec<&str> = effects.iter().map(|effect| effect.kind.as_str()).collect();
    kinds.dedup();
    kinds.sort_unstable();
    kinds.dedup();
    if kinds.is_empty() {
        overview.push_str(" No I/O, network, environment or process access is visible.");
    } else {
        overview.push_str(&format!(" Side effects seen: {}.", kinds.join(", ")));
    }
    StructuralSummary {
        overview,
        defines,
        calls,
        callers,
        side_effects: effects,
        lines: span,
    }
}

/// One suggestion for improving code.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Suggestion {
    /// `complexity`, `length`, `nesting`, `parameters`, `undocumented`, `duplicate`,
    /// `todo`, `side effects` or `model` (from the LLM).
    pub kind: String,
    /// Where: `path:line` (or a range).
    pub location: String,
    /// The function it is about, when one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// The measured value, when a metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The threshold it crossed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// What to do and why.
    pub message: String,
}

/// Parameter names of a signature (`self`/`this` and receivers left out), by the usual
/// conventions of `language`.
pub fn parameter_names(language: &str, signature: &str) -> Vec<String> {
    // A Go method's receiver comes before its parameters.
    let skip = if language == "Go" && signature.trim_start().starts_with("func (") {
        signature.find(')').map_or(0, |at| at + 1)
    } else {
        0
    };
    let Some(open) = signature[skip..].find('(').map(|at| at + skip) else {
        return Vec::new();
    };
    // The parameter list: up to the matching parenthesis.
    let mut depth = 0i32;
    let mut close = signature.len();
    for (at, ch) in signature[open..].char_indices() {
        match ch {
            '(' | '[' | '<' | '{' => depth += 1,
            ')' | ']' | '>' | '}' => {
                depth -= 1;
                if depth == 0 {
                    close = open + at;
                    break;
                }
            }
            _ => {}
        }
    }
    let inner = &signature[open + 1..close.max(open + 1)];
    let mut parts = Vec::new();
    let mut current = String::new();
    depth = 0;
    for ch in inner.chars() {
        match ch {
            '(' | '[' | '<' | '{' => depth += 1,
            ')' | ']' | '>' | '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    parts.push(current);
    let ident = |text: &str| -> Option<String> {
        let cleaned: String = text
            .trim()
            .trim_start_matches(['*', '&', '$', '.'])
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        (!cleaned.is_empty()).then_some(cleaned)
    };
    parts
        .iter()
        .map(|part| part.trim())
        .filter(|part| !part.is_empty())
        .filter_map(|part| {
            let before_default = part.split('=').next().unwrap_or(part).trim();
            match language {
                "Python" | "Rust" | "TypeScript" | "JavaScript" | "Ruby" | "PHP" | "Go" => {
                    let head = before_default.split(':').next().unwrap_or(before_default);
                    let head = head.trim().trim_start_matches("mut ").trim();
                    if head.starts_with('{') || head.starts_with('[') {
                        return Some("options".to_string());
                    }
                    let word = if language == "Go" {
                        head.split_whitespace().next().unwrap_or(head)
                    } else if language == "PHP" {
                        head.split_whitespace().last().unwrap_or(head)
                    } else {
                        head
                    };
                    ident(word)
                }
                // C-family: the last identifier before any default.
                _ => before_default
                    .split(|c: char| c.is_whitespace() || c == '*' || c == '&')
                    .rfind(|word| !word.is_empty())
                    .and_then(ident),
            }
        })
        .filter(|name| !matches!(name.as_str(), "self" | "this" | "cls" | "_" | "void"))
        .collect()
}

/// Whether a signature declares a return value.
fn returns_value(language: &str, signature: &str) -> bool {
    match language {
        "Rust" | "Python" => signature.contains("->") && !signature.contains("-> None"),
        "TypeScript" => {
            let after = signature.rsplit(')').next().unwrap_or_default();
            after.contains(':') && !after.contains("void")
        }
        "Go" => signature
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim().trim_end_matches('{').trim().is_empty()),
        "Java" | "C" | "C++" | "C#" => {
            let head = signature.split('(').next().unwrap_or_default();
            !head.split_whitespace().any(|word| word == "void")
                && head.split_whitespace().count() > 1
        }
        _ => false,
    }
}

/// What a doc comment says: a summary and descriptions of parameters and result (from a
/// model; the offline stub leaves `TODO`s where they go).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct DocText {
    /// One or two sentences.
    #[serde(default)]
    pub summary: Option<String>,
    /// Parameter name → description.
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, String>,
    /// What it returns.
    #[serde(default)]
    pub returns: Option<String>,
}

/// A doc comment for `symbol` in its language's convention, indented like it: lines to
/// insert above the definition (or, for a Python docstring, below its header).
pub fn doc_comment(language: &str, symbol: &Symbol, indent: &str, text: &DocText) -> Vec<String> {
    let params = parameter_names(language, &symbol.signature);
    let returns = returns_value(language, &symbol.signature);
    let summary = text
        .summary
        .as_deref()
        .map(|text| text.split_whitespace().collect::<Vec<_>>().join(" "))
        .map(|text| text.trim_end_matches('.').to_string())
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| humanize(&symbol.name));
    let summary = format!("{summary}.");
    let describe = |param: &str| -> String {
        text.params
            .get(param)
            .map(|text| text.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|text| !text.is_empty())
            .unwrap_or_else(|| format!("TODO: describe {param}."))
    };
    let result = text
        .returns
        .as_deref()
        .map(|text| text.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| "TODO: describe the result.".to_string());
    match language {
        "Python" => {
            let mut out = vec![format!("{indent}\"\"\"{summary}")];
            if !params.is_empty() {
                out.push(String::new());
                out.push(format!("{indent}Args:"));
                for param in &params {
                    out.push(format!("{indent}    {param}: {}", describe(param)));
                }
            }
            if returns {
                out.push(String::new());
                out.push(format!("{indent}Returns:"));
                out.push(format!("{indent}    {result}"));
            }
            if out.len() == 1 {
                out[0].push_str("\"\"\"");
            } else {
                out.push(format!("{indent}\"\"\""));
            }
            out
        }
        "Rust" => {
            let mut out = vec![format!("{indent}/// {summary}")];
            if !params.is_empty() {
                out.push(format!("{indent}///"));
                out.push(format!("{indent}/// # Arguments"));
                out.push(format!("{indent}///"));
                for param in &params {
                    out.push(format!("{indent}/// * `{param}` - {}", describe(param)));
                }
            }
            out
        }
        "Go" => vec![format!(
            "{indent}// {} {}",
            symbol.name,
            lowercase_first(&summary)
        )],
        "Ruby" | "Shell" => {
            let mut out = vec![format!("{indent}# {summary}")];
            for param in &params {
                out.push(format!("{indent}# @param {param} {}", describe(param)));
            }
            out
        }
        "C#" => {
            let mut out = vec![
                format!("{indent}/// <summary>"),
                format!("{indent}/// {summary}"),
                format!("{indent}/// </summary>"),
            ];
            for param in &params {
                out.push(format!(
                    "{indent}/// <param name=\"{param}\">{}</param>",
                    describe(param)
                ));
            }
            if returns {
                out.push(format!("{indent}/// <returns>{result}</returns>"));
            }
            out
        }
        _ => {
            // JSDoc, Javadoc, Doxygen and PHPDoc share the block form.
            let mut out = vec![format!("{indent}/**"), format!("{indent} * {summary}")];
            if !params.is_empty() || returns {
                out.push(format!("{indent} *"));
            }
            for param in &params {
                out.push(format!("{indent} * @param {param} {}", describe(param)));
            }
            if returns {
                out.push(format!("{indent} * @return {result}"));
            }
            out.push(format!("{indent} */"));
            out
        }
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

/// `parse_config_file` / `parseConfigFile` → `Parse config file`.
pub fn humanize(name: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for ch in name.chars() {
        if ch == '_' || ch == '-' {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if ch.is_uppercase() && previous_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        previous_lower = ch.is_lowercase() || ch.is_ascii_digit();
        current.extend(ch.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    let text = words.join(" ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().collect::<String>() + chars.as_str(),
        None => name.to_string(),
    }
}

/// Where a doc comment for `symbol` goes: the 0-based index of the line it is inserted
/// before, and the indentation to use. Python docstrings go after the header (the first
/// line ending in `:`); everything else above the definition and its decorators.
pub fn doc_position(language: &str, lines: &[String], symbol: &Symbol) -> (usize, String) {
    let start = (symbol.start_line as usize)
        .saturating_sub(1)
        .min(lines.len());
    let indent_of =
        |line: &str| -> String { line.chars().take_while(|c| c.is_whitespace()).collect() };
    let own_indent = lines
        .get(start)
        .map(|line| indent_of(line))
        .unwrap_or_default();
    if language == "Python" {
        let header_end = (start..lines.len().min(start + 20))
            .find(|&at| {
                lines[at]
                    .split('#')
                    .next()
                    .unwrap_or("")
                    .trim_end()
                    .ends_with(':')
            })
            .unwrap_or(start);
        let body_indent = lines
            .get(header_end + 1)
            .map(|line| indent_of(line))
            .filter(|indent| indent.len() > own_indent.len())
            .unwrap_or_else(|| format!("{own_indent}    "));
        return ((header_end + 1).min(lines.len()), body_indent);
    }
    (start, own_indent)
}

/// A unified diff of `path` that inserts each `(before_line_index, lines)` block.
pub fn insertion_diff(
    path: &str,
    original: &[String],
    mut insertions: Vec<(usize, Vec<String>)>,
) -> String {
    insertions.sort_by_key(|(at, _)| *at);
    let mut out = format!("--- a/{path}\n+++ b/{path}\n");
    let context = 3usize;
    let mut shift = 0usize;
    // Insertions close together share a hunk.
    let mut groups: Vec<Vec<(usize, Vec<String>)>> = Vec::new();
    for insertion in insertions {
        match groups.last_mut() {
            Some(group)
                if group
                    .last()
                    .is_some_and(|(at, _)| insertion.0 <= at + 2 * context) =>
            {
                group.push(insertion)
            }
            _ => groups.push(vec![insertion]),
        }
    }
    for group in groups {
        let first_at = group[0].0;
        let last_at = group.last().map_or(first_at, |(at, _)| *at);
        let from = first_at.saturating_sub(context);
        let to = (last_at + context).min(original.len());
        let old_len = to - from;
        let added: usize = group.iter().map(|(_, lines)| lines.len()).sum();
        out.push_str(&format!(
            "@@ -{},{} +{},{} @@\n",
            if old_len == 0 { from } else { from + 1 },
            old_len,
            from + 1 + shift,
            old_len + added
        ));
        let mut pending = group.iter().peekable();
        let kept = original[from..to]
            .iter()
            .map(Some)
            .chain(std::iter::once(None));
        for (at, line) in (from..).zip(kept) {
            while let Some((insert_at, lines)) = pending.peek() {
                if *insert_at != at {
                    break;
                }
                for line in lines {
                    out.push_str(&format!("+{line}\n"));
                }
                pending.next();
            }
            if let Some(line) = line {
                out.push_str(&format!(" {line}\n"));
            }
        }
        shift += added;
    }
    out
}

/// The undocumented functions and methods of a file, in source order.
pub fn undocumented(symbols: &FileSymbols) -> Vec<usize> {
    symbols
        .symbols
        .iter()
        .enumerate()
        .filter(|(_, symbol)| symbol.kind.is_callable() && !symbol.documented)
        .map(|(index, _)| index)
        .collect()
}

/// A test skeleton for `function` (qualified name) in `framework`.
pub fn test_skeleton(gathered: &Gathered, framework: &str) -> String {
    let Some(symbol) = &gathered.symbol else {
        return String::new();
    };
    let name = symbol
        .qualified_name
        .rsplit('.')
        .next()
        .unwrap_or(&symbol.qualified_name);
    let owner = symbol
        .qualified_name
        .rsplit_once('.')
        .map(|(owner, _)| owner.to_string());
    let params = parameter_names(&gathered.language, &symbol.signature);
    let snake = humanize(name).to_lowercase().replace(' ', "_");
    let module = gathered.file_path.trim_end_matches(".py").replace('/', ".");
    let args = params.join(", ");
    let call = match &owner {
        Some(owner) => format!("{owner}(...).{name}({args})"),
        None => format!("{name}({args})"),
    };
    let arranges: Vec<String> = params
        .iter()
        .map(|param| format!("{param} = ...  # TODO"))
        .collect();
    match framework {
        "pytest" => {
            let import = match &owner {
                Some(owner) => format!(
                    "from {module} import {}",
                    owner.split('.').next().unwrap_or(owner)
                ),
                None => format!("from {module} import {name}"),
            };
            let mut out = format!(
                "import pytest\n\n{import}\n\n\ndef test_{snake}_returns_expected_result():\n"
            );
            for line in &arranges {
                out.push_str(&format!("    {line}\n"));
            }
            out.push_str(&format!(
                "    result = {call}\n    assert result == ...  # TODO: expected value\n\n\n"
            ));
            out.push_str(&format!("def test_{snake}_rejects_invalid_input():\n    with pytest.raises(Exception):  # TODO: the exception it raises\n        {call}\n"));
            out
        }
        "unittest" => {
            let mut out = format!(
                "import unittest\n\nfrom {module} import {}\n\n\nclass Test{}(unittest.TestCase):\n    def test_{snake}_returns_expected_result(self):\n",
                owner
                    .as_deref()
                    .unwrap_or(name)
                    .split('.')
                    .next()
                    .unwrap_or(name),
                pascal(name)
            );
            for line in &arranges {
                out.push_str(&format!("        {line}\n"));
            }
            out.push_str(&format!("        result = {call}\n        self.assertEqual(result, ...)  # TODO: expected value\n\n\nif __name__ == \"__main__\":\n    unittest.main()\n"));
            out
        }
        "cargo test" => {
            let lets: Vec<String> = params
                .iter()
                .map(|param| format!("        let {param} = todo!(\"a value for {param}\");"))
                .collect();
            let call = match &owner {
                Some(owner) => format!("{owner}::{name}({args})"),
                None => format!("{name}({args})"),
            };
            format!(
                "#[cfg(test)]\nmod tests {{\n    use super::*;\n\n    #[test]\n    fn {snake}_returns_expected_result() {{\n{}\n        let result = {call};\n        assert_eq!(result, todo!(\"expected value\"));\n    }}\n}}\n",
                lets.join("\n")
            )
        }
        "jest" | "vitest" | "mocha" | "node:test" => {
            let import = match framework {
                "vitest" => "import { describe, it, expect } from \"vitest\";\n",
                "node:test" => {
                    "import { describe, it } from \"node:test\";\nimport assert from \"node:assert/strict\";\n"
                }
                _ => "",
            };
            let module = format!(
                "./{}",
                gathered
                    .file_path
                    .rsplit('/')
                    .next()
                    .unwrap_or(&gathered.file_path)
                    .trim_end_matches(".ts")
                    .trim_end_matches(".js")
            );
            let import_name = owner
                .as_deref()
                .map(|o| o.split('.').next().unwrap_or(o))
                .unwrap_or(name);
            let assertion = if framework == "node:test" {
                "assert.deepEqual(result, undefined /* TODO: expected value */);"
            } else {
                "expect(result).toEqual(undefined /* TODO: expected value */);"
            };
            let consts: Vec<String> = params
                .iter()
                .map(|param| format!("    const {param} = undefined; // TODO"))
                .collect();
            format!(
                "{import}import {{ {import_name} }} from \"{module}\";\n\ndescribe(\"{}\", () => {{\n  it(\"returns the expected result\", () => {{\n{}\n    const result = {call};\n    {assertion}\n  }});\n}});\n",
                symbol.qualified_name,
                consts.join("\n")
            )
        }
        "go test" => {
            format!(
                "func Test{}(t *testing.T) {{\n\ttests := []struct {{\n\t\tname string\n\t\t// TODO: inputs ({args}) and the expected result\n\t}}{{\n\t\t{{name: \"typical case\"}},\n\t}}\n\tfor _, tt := range tests {{\n\t\tt.Run(tt.name, func(t *testing.T) {{\n\t\t\tgot := {name}(/* TODO */)\n\t\t\t_ = got // TODO: compare with the expected result\n\t\t}})\n\t}}\n}}\n",
                pascal(name)
            )
        }
        "JUnit 5" | "JUnit 4" => {
            let (import, annotation) = if framework == "JUnit 5" {
                (
                    "import org.junit.jupiter.api.Test;\nimport static org.junit.jupiter.api.Assertions.*;",
                    "@Test",
                )
            } else {
                (
                    "import org.junit.Test;\nimport static org.junit.Assert.*;",
                    "@Test",
                )
            };
            let class = owner.clone().unwrap_or_else(|| "Subject".to_string());
            format!(
                "{import}\n\nclass {}Test {{\n    {annotation}\n    void {}ReturnsExpectedResult() {{\n        // TODO: arrange {args}\n        var result = new {class}(/* TODO */).{name}(/* TODO */);\n        assertEquals(null /* TODO: expected */, result);\n    }}\n}}\n",
                class.split('.').next_back().unwrap_or(&class),
                lowercase_first(&pascal(name))
            )
        }
        _ => format!(
            "// TODO: test {} ({framework})\n// call: {call}\n",
            symbol.qualified_name
        ),
    }
}

fn pascal(name: &str) -> String {
    humanize(name)
        .split(' ')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().collect::<String>() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_by_language() {
        assert_eq!(
            parameter_names(
                "Python",
                "def load(self, path: str, *, strict: bool = True) -> dict:"
            ),
            ["path", "strict"]
        );
        assert_eq!(
            parameter_names(
                "Rust",
                "pub fn get(&self, key: &[u8], opts: Options<'_>) -> Option<Vec<u8>>"
            ),
            ["key", "opts"]
        );
        assert_eq!(
            parameter_names("Java", "public int add(int a, List<String> b)"),
            ["a", "b"]
        );
        assert_eq!(
            parameter_names(
                "Go",
                "func (s *Server) Handle(w http.ResponseWriter, r *http.Request)"
            ),
            ["w", "r"]
        );
        assert_eq!(
            parameter_names("TypeScript", "function f({ a, b }: Opts, n = 3): number"),
            ["options", "n"]
        );
        assert_eq!(
            parameter_names(
                "PHP",
                "public function save(array $rows, ?int $limit = null)"
            ),
            ["rows", "limit"]
        );
    }

    #[test]
    fn side_effects_are_seen_outside_comments() {
        let lines: Vec<String> = [
            "data = open(path).read()",
            "# requests.get(url) in a comment",
            "resp = requests.get(url)",
            "home = os.environ['HOME']",
        ]
        .map(String::from)
        .to_vec();
        let kinds: Vec<(String, u32)> = side_effects(&lines, 10)
            .into_iter()
            .map(|effect| (effect.kind, effect.line))
            .collect();
        assert_eq!(
            kinds,
            [
                ("file I/O".to_string(), 10),
                ("network".to_string(), 12),
                ("environment".to_string(), 13)
            ]
        );
    }

    #[test]
    fn insertion_diff_is_a_valid_unified_diff() {
        let original: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let diff = insertion_diff("x.py", &original, vec![(1, vec!["new".to_string()])]);
        assert_eq!(
            diff,
            "--- a/x.py\n+++ b/x.py\n@@ -1,4 +1,5 @@\n a\n+new\n b\n c\n d\n"
        );
    }

    #[test]
    fn names_become_words() {
        assert_eq!(humanize("parse_config_file"), "Parse config file");
        assert_eq!(humanize("parseConfigFile"), "Parse config file");
    }
}
