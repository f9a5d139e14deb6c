//! One parse, one query run, everything extracted: symbols with nesting and documentation,
//! imports, calls attributed to their enclosing function, and branch counts.

use std::cell::RefCell;
use std::collections::HashMap;

use streaming_iterator::StreamingIterator;
use tree_sitter::{Node, Parser, QueryCursor};

use super::grammars::{self, Grammar};
use super::{Call, FileSymbols, Import, Symbol, SymbolKind, metrics, todos};
use crate::health::fingerprint;

/// Signature lines longer than this many characters are cut.
const MAX_SIGNATURE_CHARS: usize = 200;

thread_local! {
    /// One parser per thread and language: creating parsers is not free.
    static PARSERS: RefCell<HashMap<&'static str, Parser>> = RefCell::new(HashMap::new());
}

/// Extracts the structure of `content` written in `language`; `None` when CodeSage has no
/// grammar for it.
pub fn extract(language: &'static str, content: &[u8]) -> Option<FileSymbols> {
    let grammar = grammars::for_language(language)?;
    let tree = parse(language, content)?;
    let root = tree.root_node();
    let mut found = Found::default();
    collect(grammar, root, content, &mut found);
    let mut comments = Vec::new();
    let tokens = fingerprint::tokens(root, content, |comment| comments.push(comment));
    let mut symbols = assemble(language, found, content, root.has_error());
    for comment in comments {
        let text = String::from_utf8_lossy(&content[comment.byte_range()]);
        symbols
            .todos
            .extend(todos::in_comment(&text, line(comment)));
    }
    symbols.fingerprints = fingerprint::fingerprints(&tokens);
    Some(symbols)
}

/// Drops this thread's parsers (each keeps the stacks and buffers its largest parse grew);
/// the next parse on the thread makes a new one. For the end of an indexing burst.
pub fn drop_thread_parsers() {
    PARSERS.with(|parsers| parsers.borrow_mut().clear());
}

/// The syntax tree of `content` written in `language` (by the thread's parser for it);
/// `None` without a grammar.
pub fn parse(language: &str, content: &[u8]) -> Option<tree_sitter::Tree> {
    let (name, grammar) = grammars::language(language)?;
    PARSERS.with(|parsers| {
        let mut parsers = parsers.borrow_mut();
        let parser = parsers.entry(name).or_insert_with(|| {
            let mut parser = Parser::new();
            // The grammar crates' languages load (the symbol queries compile against them).
            let _ = parser.set_language(&grammar);
            parser
        });
        parser.parse(content, None)
    })
}

#[derive(Default)]
struct Found<'tree> {
    definitions: Vec<FoundDefinition<'tree>>,
    /// (statement node, module node)
    imports: Vec<(Node<'tree>, Option<Node<'tree>>)>,
    /// (call node, name node)
    calls: Vec<(Node<'tree>, Node<'tree>)>,
    branches: Vec<Node<'tree>>,
    /// Functions without a name of their own (callbacks): their decisions are their own.
    anonymous: Vec<Node<'tree>>,
}

/// One definition a query matched.
#[derive(Clone, Copy)]
struct FoundDefinition<'tree> {
    node: Node<'tree>,
    name: Node<'tree>,
    kind: SymbolKind,
    /// A qualifier written in the definition (`@scope`: Go receiver, C++ `Type::`).
    scope: Option<Node<'tree>>,
}

fn collect<'tree>(grammar: &Grammar, root: Node<'tree>, content: &[u8], found: &mut Found<'tree>) {
    let names = grammar.query.capture_names();
    let mut cursor = QueryCursor::new();
    let mut matches = cursor.matches(&grammar.query, root, content);
    while let Some(matched) = matches.next() {
        let mut definition = None;
        let mut name = None;
        let mut scope = None;
        let mut import = None;
        let mut module = None;
        let mut call = None;
        let mut call_name = None;
        for capture in matched.captures() {
            let capture_name = names[capture.index as usize];
            match capture_name {
                "name" => name = Some(capture.node),
                "scope" => scope = Some(capture.node),
                "import" => import = Some(capture.node),
                "import.module" => module = Some(capture.node),
                "call" => call = Some(capture.node),
                "call.name" => call_name = Some(capture.node),
                "branch" => found.branches.push(capture.node),
                "anonymous" => found.anonymous.push(capture.node),
                other => {
                    if let Some(kind) = other
                        .strip_prefix("definition.")
                        .and_then(SymbolKind::from_capture)
                    {
                        definition = Some((capture.node, kind));
                    }
                }
            }
        }
        if let (Some((node, kind)), Some(name)) = (definition, name) {
            found.definitions.push(FoundDefinition {
                node,
                name,
                kind,
                scope,
            });
        }
        if let Some(statement) = import {
            found.imports.push((statement, module));
        }
        if let (Some(call), Some(name)) = (call, call_name) {
            found.calls.push((call, name));
        }
    }
}

fn text<'a>(node: Node<'_>, content: &'a [u8]) -> std::borrow::Cow<'a, str> {
    String::from_utf8_lossy(&content[node.byte_range()])
}

fn line(node: Node<'_>) -> u32 {
    node.start_position().row as u32 + 1
}

/// The last line of `node` (1-based). Some nodes (C preprocessor lines) take their newline:
/// they end at column 0 of the next row, which is not part of them.
fn end_line(node: Node<'_>) -> u32 {
    let end = node.end_position();
    if end.column == 0 && end.row > node.start_position().row {
        end.row as u32
    } else {
        end.row as u32 + 1
    }
}

/// The first line of `node`'s text, trimmed and shortened.
fn first_line(node: Node<'_>, content: &[u8]) -> String {
    let start = node.start_byte();
    let end = memchr::memchr(b'\n', &content[start..]).map_or(node.end_byte(), |at| start + at);
    let line = String::from_utf8_lossy(&content[start..end.min(node.end_byte()).max(start)]);
    let line = line.trim();
    if line.chars().count() > MAX_SIGNATURE_CHARS {
        let mut cut: String = line.chars().take(MAX_SIGNATURE_CHARS).collect();
        cut.push('…');
        cut
    } else {
        line.to_string()
    }
}

fn assemble(language: &str, found: Found<'_>, content: &[u8], has_errors: bool) -> FileSymbols {
    // One symbol per definition node; when several patterns match the same node, the more
    // specific one wins (method over function, with a qualifier over without).
    let mut by_node: HashMap<usize, FoundDefinition<'_>> = HashMap::new();
    for found_definition in found.definitions {
        by_node
            .entry(found_definition.node.id())
            .and_modify(|existing| {
                if found_definition.kind == SymbolKind::Method {
                    existing.kind = SymbolKind::Method;
                }
                if found_definition.scope.is_some() {
                    existing.scope = found_definition.scope;
                }
            })
            .or_insert(found_definition);
    }
    let mut definitions: Vec<FoundDefinition<'_>> = by_node.into_values().collect();
    definitions.sort_by_key(|found| {
        (
            found.node.start_byte(),
            std::cmp::Reverse(found.node.end_byte()),
        )
    });

    // Nesting by containment.
    let mut symbols: Vec<Symbol> = Vec::with_capacity(definitions.len());
    let mut stack: Vec<usize> = Vec::new();
    for (index, found) in definitions.iter().enumerate() {
        let (node, name) = (&found.node, &found.name);
        while let Some(&top) = stack.last() {
            if definitions[top].node.end_byte() >= node.end_byte()
                && definitions[top].node.start_byte() <= node.start_byte()
            {
                break;
            }
            stack.pop();
        }
        let parent = stack.last().map(|&top| top as u32);
        let mut kind = found.kind;
        if kind == SymbolKind::Function
            && parent.is_some_and(|parent| symbols[parent as usize].kind.holds_methods())
        {
            kind = SymbolKind::Method;
        }
        // Ruby's `def` is always a method; outside a class or module it reads as a function.
        if kind == SymbolKind::Method && parent.is_none() && language == "Ruby" {
            kind = SymbolKind::Function;
        }
        let name_position = name.start_position();
        symbols.push(Symbol {
            name: text(*name, content).trim().to_string(),
            kind,
            start_line: line(*node),
            end_line: end_line(*node),
            name_line: name_position.row as u32 + 1,
            name_column: name_position.column as u32,
            parent,
            scope: found
                .scope
                .map(|scope| text(scope, content).trim().to_string()),
            signature: first_line(*node, content),
            documented: is_documented(language, *node, content),
            branches: 0,
            parameters: if kind.is_callable() {
                metrics::parameter_count(*node, content)
            } else {
                0
            },
            nesting: if kind.is_callable() {
                metrics::nesting_depth(*node)
            } else {
                0
            },
        });
        stack.push(index);
    }

    // Byte ranges of the functions and methods, for attributing calls and branches.
    let callables: Vec<(usize, usize, u32)> = definitions
        .iter()
        .enumerate()
        .filter(|(index, _)| symbols[*index].kind.is_callable())
        .map(|(index, found)| (found.node.start_byte(), found.node.end_byte(), index as u32))
        .collect();
    let innermost_callable = |start: usize, end: usize| -> Option<u32> {
        callables
            .iter()
            .filter(|(from, to, _)| *from <= start && end <= *to)
            .max_by_key(|(from, _, _)| *from)
            .map(|(_, _, index)| *index)
    };

    // A decision belongs to the innermost function around it, named or not: one inside a
    // callback counts for no definition.
    let scopes: Vec<(usize, usize, Option<u32>)> = callables
        .iter()
        .map(|&(from, to, index)| (from, to, Some(index)))
        .chain(
            found
                .anonymous
                .iter()
                .map(|node| (node.start_byte(), node.end_byte(), None)),
        )
        .collect();
    for branch in &found.branches {
        let owner = scopes
            .iter()
            .filter(|(from, to, _)| *from <= branch.start_byte() && branch.end_byte() <= *to)
            .max_by_key(|(from, to, _)| (*from, std::cmp::Reverse(*to)))
            .and_then(|(_, _, index)| *index);
        if let Some(owner) = owner {
            symbols[owner as usize].branches += 1;
        }
    }

    let mut calls: Vec<Call> = found
        .calls
        .iter()
        .map(|(call, name)| {
            let position = name.start_position();
            Call {
                name: text(*name, content).trim().to_string(),
                line: position.row as u32 + 1,
                column: position.column as u32,
                caller: innermost_callable(call.start_byte(), call.end_byte()),
            }
        })
        .collect();
    calls.sort_by_key(|call| (call.line, call.column));
    calls.dedup_by_key(|call| (call.line, call.column));

    let mut imports: Vec<Import> = found
        .imports
        .iter()
        .map(|(statement, module)| Import {
            module: module
                .map(|module| clean_module(&text(module, content)))
                .unwrap_or_else(|| first_line(*statement, content)),
            start_line: line(*statement),
            end_line: end_line(*statement),
            text: first_line(*statement, content),
        })
        .collect();
    imports.sort_by_key(|import| (import.start_line, import.module.clone()));
    imports.dedup_by(|a, b| a.start_line == b.start_line && a.module == b.module);

    FileSymbols {
        symbols,
        imports,
        calls,
        has_errors,
        ..FileSymbols::default()
    }
}

/// Strips quotes and angle brackets from an import's module text.
fn clean_module(module: &str) -> String {
    module
        .trim()
        .trim_matches(|c| c == '"' || c == '\'' || c == '<' || c == '>' || c == '`')
        .to_string()
}

fn is_comment(node: Node<'_>) -> bool {
    fingerprint::is_comment(node)
}

/// Whether a definition carries documentation: a docstring (Python) or a comment block right
/// above it (doc comments only, for Rust). The comment may also sit above a wrapper of the
/// definition (an export, a declaration list, a template, a Go `const`/`type` block, a
/// body that starts where the definition does).
fn is_documented(language: &str, node: Node<'_>, content: &[u8]) -> bool {
    if language == "Python" {
        return python_docstring(node).is_some();
    }
    let mut anchor = node;
    loop {
        if let Some(comment) = comment_above(anchor) {
            if language != "Rust" {
                return true;
            }
            let text = &content[comment.byte_range()];
            return text.starts_with(b"///")
                || text.starts_with(b"/**")
                || text.starts_with(b"//!");
        }
        match anchor.parent() {
            Some(parent) if wraps(parent, anchor) => anchor = parent,
            _ => return false,
        }
    }
}

/// Whether `parent` only wraps `child` as far as documentation goes: a comment above the
/// parent documents the child.
fn wraps(parent: Node<'_>, child: Node<'_>) -> bool {
    const WRAPPERS: &[&str] = &[
        "export_statement",
        "decorated_definition",
        "template_declaration",
        "type_declaration",
        "const_declaration",
        "var_declaration",
        "lexical_declaration",
        "variable_declaration",
        "field_declaration",
        "declaration",
    ];
    // The first definition of a body that starts where it does (Ruby's `body_statement`).
    let same_start = parent.start_byte() == child.start_byte();
    let first_named = parent
        .named_child(0)
        .is_some_and(|first| first.id() == child.id());
    (WRAPPERS.contains(&parent.kind()) && first_named) || same_start
}

/// The comment ending on the line right above `node` (or on its first line), skipping
/// attributes and decorators in between.
fn comment_above(node: Node<'_>) -> Option<Node<'_>> {
    let mut previous = node.prev_sibling();
    while let Some(sibling) = previous {
        let kind = sibling.kind();
        if kind == "attribute_item" || kind == "attribute_list" || kind == "decorator" {
            previous = sibling.prev_sibling();
            continue;
        }
        break;
    }
    let comment = previous.filter(|sibling| is_comment(*sibling))?;
    // The comment must end on the line just above (or the same line as) the definition.
    (comment.end_position().row + 1 >= node.start_position().row).then_some(comment)
}

/// The docstring of a Python class or function: the first statement of its body when it is a
/// string.
fn python_docstring(node: Node<'_>) -> Option<Node<'_>> {
    let body = node.child_by_field_name("body")?;
    let mut cursor = body.walk();
    let first = body
        .named_children(&mut cursor)
        .find(|child| !is_comment(*child))?;
    if first.kind() != "expression_statement" {
        return None;
    }
    let expression = first.named_child(0)?;
    (expression.kind() == "string" || expression.kind() == "concatenated_string")
        .then_some(expression)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_parses_the_same_after_its_parsers_are_dropped() {
        let source = b"def f(x):\n    return x\n";
        let before = extract("Python", source).expect("parses");
        assert!(PARSERS.with(|parsers| !parsers.borrow().is_empty()));
        drop_thread_parsers();
        assert!(PARSERS.with(|parsers| parsers.borrow().is_empty()));
        let after = extract("Python", source).expect("parses again");
        assert_eq!(after.outline(), before.outline());
        assert_eq!(after.fingerprints, before.fingerprints);
    }

    #[test]
    fn python_outline_nesting_docs_calls_and_imports() {
        let source = br#"import os
from collections import OrderedDict as OD

MAX_SIZE = 10

class Store:
    """A store."""

    def get(self, key):
        """Get one."""
        if key:
            return os.path.join(key)
        return helper(key)

    def put(self, key):
        return self.get(key)

def helper(value):
    return value
"#;
        let symbols = extract("Python", source).unwrap();
        assert_eq!(
            symbols.outline(),
            "constant MAX_SIZE 4-4\n\
             class Store 6-16 documented\n  \
             method get 9-13 documented\n  \
             method put 15-16\n\
             function helper 18-19\n"
        );
        assert_eq!(symbols.symbols[2].branches, 1);
        assert_eq!(symbols.symbols[2].signature, "def get(self, key):");
        let modules: Vec<&str> = symbols.imports.iter().map(|i| i.module.as_str()).collect();
        assert_eq!(modules, ["os", "collections"]);
        let calls: Vec<(&str, Option<u32>)> = symbols
            .calls
            .iter()
            .map(|c| (c.name.as_str(), c.caller))
            .collect();
        assert_eq!(
            calls,
            [("join", Some(2)), ("helper", Some(2)), ("get", Some(3))]
        );
        assert!(!symbols.has_errors);
    }

    #[test]
    fn syntax_errors_still_give_symbols() {
        let symbols = extract("Rust", b"fn good() {}\nfn broken( {\nstruct After;\n").unwrap();
        assert!(symbols.has_errors);
        assert!(symbols.symbols.iter().any(|s| s.name == "good"));
    }

    #[test]
    fn no_grammar_no_symbols() {
        assert!(extract("Markdown", b"# title").is_none());
    }
}
