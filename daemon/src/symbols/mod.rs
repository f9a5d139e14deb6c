//! Code structure from tree-sitter: per file, the symbols it defines (with kind, range,
//! nesting, signature line and whether they are documented), its import statements, the
//! calls made inside each function, and a branch count for complexity.
//!
//! Each file is parsed once, at indexing time, and everything is extracted from that one tree
//! with one query per language (`daemon/queries/<language>.scm`). The result is stored per
//! content hash next to the content, and kept in memory with the file's document for the
//! symbol tools. This module never touches the store; the indexer calls [`extract`].

mod definitions;
pub mod deps;
mod extract;
pub mod grammars;
pub mod ids;
pub mod metrics;
pub mod todos;

use serde::{Deserialize, Serialize};

pub use definitions::{Definition, Definitions};
pub use extract::{drop_thread_parsers, extract, parse};

/// Version of what [`extract`] produces (queries, rules, encoding). Bump it whenever a
/// change would give a file different symbols: a store written by another version drops its
/// file records when opened, and the next indexing run re-parses everything.
pub const EXTRACTOR_VERSION: u32 = 14;

/// What a symbol is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SymbolKind {
    /// A free function.
    Function,
    /// A function defined inside a class, struct, impl, trait or interface.
    Method,
    /// A class (or record).
    Class,
    /// A struct or union.
    Struct,
    /// An enum.
    Enum,
    /// A trait.
    Trait,
    /// An interface.
    Interface,
    /// A constant (or static).
    Constant,
    /// A module, namespace or package.
    Module,
    /// A type alias or other named type.
    Type,
    /// A macro.
    Macro,
    /// A Rust `impl` block (a container of methods, named by its type).
    Impl,
}

impl SymbolKind {
    /// Parses the suffix of a `@definition.<kind>` capture.
    pub fn from_capture(kind: &str) -> Option<SymbolKind> {
        Some(match kind {
            "function" => SymbolKind::Function,
            "method" => SymbolKind::Method,
            "class" => SymbolKind::Class,
            "struct" => SymbolKind::Struct,
            "enum" => SymbolKind::Enum,
            "trait" => SymbolKind::Trait,
            "interface" => SymbolKind::Interface,
            "constant" => SymbolKind::Constant,
            "module" => SymbolKind::Module,
            "type" => SymbolKind::Type,
            "macro" => SymbolKind::Macro,
            "impl" => SymbolKind::Impl,
            _ => return None,
        })
    }

    /// The lower-case name used in answers.
    pub fn as_str(self) -> &'static str {
        match self {
            SymbolKind::Function => "function",
            SymbolKind::Method => "method",
            SymbolKind::Class => "class",
            SymbolKind::Struct => "struct",
            SymbolKind::Enum => "enum",
            SymbolKind::Trait => "trait",
            SymbolKind::Interface => "interface",
            SymbolKind::Constant => "constant",
            SymbolKind::Module => "module",
            SymbolKind::Type => "type",
            SymbolKind::Macro => "macro",
            SymbolKind::Impl => "impl",
        }
    }

    /// Functions and methods (what call lists and complexity are about).
    pub fn is_callable(self) -> bool {
        matches!(self, SymbolKind::Function | SymbolKind::Method)
    }

    /// Kinds whose functions are methods.
    pub fn holds_methods(self) -> bool {
        matches!(
            self,
            SymbolKind::Class
                | SymbolKind::Struct
                | SymbolKind::Enum
                | SymbolKind::Trait
                | SymbolKind::Interface
                | SymbolKind::Impl
        )
    }
}

/// One definition in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbol {
    /// Its name.
    pub name: String,
    /// What it is.
    pub kind: SymbolKind,
    /// First line of the definition (1-based).
    pub start_line: u32,
    /// Last line of the definition.
    pub end_line: u32,
    /// Line of the name.
    pub name_line: u32,
    /// Byte column of the name on that line (0-based).
    pub name_column: u32,
    /// Index of the enclosing symbol in the file's list.
    pub parent: Option<u32>,
    /// The type it belongs to when that is written in the definition rather than around it:
    /// a Go method's receiver type, a C++ `Type::method` qualifier (`::`-separated).
    pub scope: Option<String>,
    /// The definition's first line, trimmed.
    pub signature: String,
    /// Whether it carries a doc comment or docstring.
    pub documented: bool,
    /// Decision points inside it (if/loop/case/catch/&&/||), for functions.
    pub branches: u32,
    /// Parameters it declares, for functions.
    pub parameters: u32,
    /// Deepest nesting of control structures inside it, for functions.
    pub nesting: u32,
}

impl Symbol {
    /// Lines it spans (saturating, like [`Symbol::cyclomatic`]: stored structures are not
    /// trusted).
    pub fn lines(&self) -> u32 {
        self.end_line
            .saturating_sub(self.start_line)
            .saturating_add(1)
    }

    /// Its cyclomatic complexity: decision points plus one.
    pub fn cyclomatic(&self) -> u32 {
        self.branches.saturating_add(1)
    }
}

/// One import statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    /// The module, package or path imported, as written (quotes removed).
    pub module: String,
    /// First line of the statement.
    pub start_line: u32,
    /// Last line of the statement.
    pub end_line: u32,
    /// The statement's first line, trimmed.
    pub text: String,
}

/// One call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// The called name (the last segment: `b` in `a.b()` or `a::b()`).
    pub name: String,
    /// Line of the name.
    pub line: u32,
    /// Byte column of the name.
    pub column: u32,
    /// Index of the innermost function or method containing the call.
    pub caller: Option<u32>,
}

/// The names in a written qualifier (`Polygon`, `geo::Polygon`, `pkg.Type`).
pub fn scope_parts(scope: &str) -> impl Iterator<Item = &str> {
    scope
        .split("::")
        .flat_map(|part| part.split('.'))
        .map(str::trim)
        .filter(|part| !part.is_empty())
}

/// A stored [`FileSymbols`] read with its calls skipped: the same fields in the same order
/// (the encoding is positional).
#[derive(Deserialize)]
struct StoredWithoutCalls {
    symbols: Vec<Symbol>,
    imports: Vec<Import>,
    _calls: SkippedCalls,
    has_errors: bool,
    todos: Vec<todos::Todo>,
    fingerprints: crate::health::fingerprint::Fingerprints,
}

/// A sequence of [`Call`]s, read and dropped.
struct SkippedCalls;

impl<'de> Deserialize<'de> for SkippedCalls {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// One call's fields, borrowed from the input.
        #[derive(Deserialize)]
        struct SkippedCall<'a> {
            #[serde(borrow)]
            _name: &'a str,
            _line: u32,
            _column: u32,
            _caller: Option<u32>,
        }
        struct Calls;
        impl<'de> serde::de::Visitor<'de> for Calls {
            type Value = SkippedCalls;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a sequence of calls")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut calls: A,
            ) -> Result<SkippedCalls, A::Error> {
                while calls.next_element::<SkippedCall<'de>>()?.is_some() {}
                Ok(SkippedCalls)
            }
        }
        deserializer.deserialize_seq(Calls)
    }
}

/// Everything extracted from one file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSymbols {
    /// Definitions, in source order.
    pub symbols: Vec<Symbol>,
    /// Import statements, in source order.
    pub imports: Vec<Import>,
    /// Calls, in source order.
    pub calls: Vec<Call>,
    /// The parse had errors (symbols come from the parts that parsed).
    pub has_errors: bool,
    /// TODO/FIXME/HACK/XXX markers in its comments, in source order.
    pub todos: Vec<todos::Todo>,
    /// Its clone fingerprints.
    pub fingerprints: crate::health::fingerprint::Fingerprints,
}

impl FileSymbols {
    /// Encodes for storage.
    pub fn encode(&self) -> Vec<u8> {
        let raw = postcard::to_stdvec(self).unwrap_or_default();
        zstd::bulk::compress(&raw, crate::codec::ZSTD_LEVEL).unwrap_or(raw)
    }

    /// Decodes what [`FileSymbols::encode`] produced.
    pub fn decode(bytes: &[u8]) -> Option<FileSymbols> {
        let raw = crate::codec::decompress(bytes).ok()?;
        postcard::from_bytes(&raw).ok()
    }

    /// [`FileSymbols::decode`] with the calls read past and left out (`calls` empty): what
    /// loading definitions at start-up and a root's code-health facts read of every file,
    /// without a string made for each call site.
    pub fn decode_without_calls(bytes: &[u8]) -> Option<FileSymbols> {
        let raw = crate::codec::decompress(bytes).ok()?;
        let stored: StoredWithoutCalls = postcard::from_bytes(&raw).ok()?;
        Some(FileSymbols {
            symbols: stored.symbols,
            imports: stored.imports,
            calls: Vec::new(),
            has_errors: stored.has_errors,
            todos: stored.todos,
            fingerprints: stored.fingerprints,
        })
    }

    /// The in-memory summary of the definitions (see [`Definitions`]); `None` when the file
    /// defines nothing.
    pub fn definitions(&self) -> Option<std::sync::Arc<Definitions>> {
        if self.symbols.is_empty() {
            return None;
        }
        Some(std::sync::Arc::new(Definitions::of(&self.symbols)))
    }

    /// The names of the symbols enclosing symbol `index`, outermost first (`Store.get` style
    /// qualification).
    pub fn container_path(&self, index: usize) -> Vec<&str> {
        let mut path = Vec::new();
        let symbol = self.symbols.get(index);
        let mut parent = symbol.and_then(|symbol| symbol.parent);
        // Bounded: decoded data is not trusted to be free of cycles.
        while let Some(at) = parent
            && path.len() <= self.symbols.len()
        {
            let Some(symbol) = self.symbols.get(at as usize) else {
                break;
            };
            path.push(symbol.name.as_str());
            parent = symbol.parent;
        }
        path.reverse();
        if let Some(scope) = symbol.and_then(|symbol| symbol.scope.as_deref()) {
            path.extend(scope_parts(scope));
        }
        path
    }

    /// The symbol whose name is at (`line`, `column`), if any.
    pub fn definition_at(&self, line: u32, column: u32) -> Option<&Symbol> {
        self.symbols
            .iter()
            .find(|symbol| symbol.name_line == line && symbol.name_column == column)
    }

    /// The call whose name is at (`line`, `column`), if any.
    pub fn call_at(&self, line: u32, column: u32) -> Option<&Call> {
        self.calls
            .iter()
            .find(|call| call.line == line && call.column == column)
    }

    /// The import statement covering `line`, if any.
    pub fn import_at(&self, line: u32) -> Option<&Import> {
        self.imports
            .iter()
            .find(|import| (import.start_line..=import.end_line).contains(&line))
    }

    /// A readable outline, one symbol per line, indented by nesting:
    /// `kind name [(scope)] start-end [documented]` (used by tests).
    pub fn outline(&self) -> String {
        let mut out = String::new();
        for symbol in &self.symbols {
            let mut depth = 0;
            let mut parent = symbol.parent;
            while let Some(index) = parent {
                depth += 1;
                parent = self.symbols[index as usize].parent;
            }
            out.push_str(&"  ".repeat(depth));
            let scope = symbol
                .scope
                .as_deref()
                .map(|scope| format!(" ({scope})"))
                .unwrap_or_default();
            out.push_str(&format!(
                "{} {}{scope} {}-{}{}\n",
                symbol.kind.as_str(),
                symbol.name,
                symbol.start_line,
                symbol.end_line,
                if symbol.documented { " documented" } else { "" }
            ));
        }
        out
    }

    /// The calls made inside symbol `index`.
    pub fn calls_of(&self, index: usize) -> impl Iterator<Item = &Call> {
        self.calls
            .iter()
            .filter(move |call| call.caller == Some(index as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_without_calls_gives_everything_else_as_stored() {
        let source = b"import os\nfrom json import loads\n\n\
def load(path):\n    \"\"\"Reads a file.\"\"\"\n    # TODO: cache it\n    with open(path) as f:\n        return loads(f.read())\n\n\
class Store:\n    def get(self, key):\n        if key:\n            return load(os.path.join('a', key))\n        return None\n";
        let symbols = extract("Python", source).expect("Python parses");
        assert!(!symbols.calls.is_empty() && !symbols.imports.is_empty());
        assert!(!symbols.todos.is_empty() && !symbols.symbols.is_empty());
        let stored = symbols.encode();
        let mut expected = FileSymbols::decode(&stored).expect("decodes");
        assert_eq!(expected, symbols);
        expected.calls.clear();
        assert_eq!(FileSymbols::decode_without_calls(&stored), Some(expected));
        // Damaged bytes are refused, not misread.
        let mut damaged = postcard::to_stdvec(&symbols).expect("encodes");
        damaged.truncate(damaged.len() / 2);
        let damaged = zstd::bulk::compress(&damaged, 3).expect("compresses");
        assert_eq!(FileSymbols::decode_without_calls(&damaged), None);
    }
}
