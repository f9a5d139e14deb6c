//! The tree-sitter grammars CodeSage parses with, and their symbol queries
//! (`daemon/queries/*.scm`), compiled once per language on first use.

use std::sync::OnceLock;

use tree_sitter::{Language, Query};

/// A language's grammar and compiled symbol query.
pub struct Grammar {
    /// The tree-sitter language.
    pub language: Language,
    /// The compiled `queries/<language>.scm`.
    pub query: Query,
}

struct Entry {
    /// Our language name (`indexer::language`).
    name: &'static str,
    language: fn() -> Language,
    query: &'static str,
    compiled: OnceLock<Option<Grammar>>,
}

macro_rules! entry {
    ($name:expr, $language:expr, $($query:expr),+) => {
        Entry {
            name: $name,
            language: || $language.into(),
            // Several files are concatenated: shared patterns first.
            query: concat!($(include_str!(concat!("../../queries/", $query))),+),
            compiled: OnceLock::new(),
        }
    };
}

static GRAMMARS: [Entry; 13] = [
    entry!("Python", tree_sitter_python::LANGUAGE, "python.scm"),
    entry!("Rust", tree_sitter_rust::LANGUAGE, "rust.scm"),
    entry!(
        "JavaScript",
        tree_sitter_javascript::LANGUAGE,
        "ecmascript.scm",
        "javascript.scm"
    ),
    entry!(
        "TypeScript",
        tree_sitter_typescript::LANGUAGE_TYPESCRIPT,
        "ecmascript.scm",
        "typescript.scm"
    ),
    entry!(
        "TSX",
        tree_sitter_typescript::LANGUAGE_TSX,
        "ecmascript.scm",
        "typescript.scm"
    ),
    entry!("Go", tree_sitter_go::LANGUAGE, "go.scm"),
    entry!("Java", tree_sitter_java::LANGUAGE, "java.scm"),
    entry!("C", tree_sitter_c::LANGUAGE, "c.scm"),
    entry!("C++", tree_sitter_cpp::LANGUAGE, "cpp.scm"),
    entry!("C#", tree_sitter_c_sharp::LANGUAGE, "csharp.scm"),
    entry!("Ruby", tree_sitter_ruby::LANGUAGE, "ruby.scm"),
    entry!("PHP", tree_sitter_php::LANGUAGE_PHP, "php.scm"),
    entry!("Shell", tree_sitter_bash::LANGUAGE, "bash.scm"),
];

/// Names of the languages with a grammar.
pub fn supported() -> impl Iterator<Item = &'static str> {
    GRAMMARS.iter().map(|entry| entry.name)
}

/// Whether language `name` has a grammar.
pub fn has_grammar(name: &str) -> bool {
    GRAMMARS.iter().any(|entry| entry.name == name)
}

/// The language name as CodeSage spells it, if it has a grammar (for [`crate::symbols::extract`],
/// which takes the static name).
pub fn grammar_name(name: &str) -> Option<&'static str> {
    GRAMMARS
        .iter()
        .find(|entry| entry.name == name)
        .map(|entry| entry.name)
}

/// The tree-sitter language of `name` with its static name, without compiling its symbol
/// query (parsing alone does not need it).
pub fn language(name: &str) -> Option<(&'static str, Language)> {
    let entry = GRAMMARS.iter().find(|entry| entry.name == name)?;
    Some((entry.name, (entry.language)()))
}

/// The grammar for language `name`, or `None` if there is none (or its query does not
/// compile, which is logged once).
pub fn for_language(name: &str) -> Option<&'static Grammar> {
    let entry = GRAMMARS.iter().find(|entry| entry.name == name)?;
    entry
        .compiled
        .get_or_init(|| {
            let language = (entry.language)();
            match Query::new(&language, entry.query) {
                Ok(query) => Some(Grammar { language, query }),
                Err(err) => {
                    tracing::error!(language = entry.name, error = %err, "symbol query does not compile");
                    None
                }
            }
        })
        .as_ref()
}

/// Compiles every grammar's query, returning the failures (for tests and start-up checks).
pub fn check_all() -> Vec<String> {
    GRAMMARS
        .iter()
        .filter_map(|entry| {
            let language = (entry.language)();
            Query::new(&language, entry.query)
                .err()
                .map(|err| format!("{}: {err}", entry.name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_compiles_against_its_grammar() {
        let failures = check_all();
        assert!(failures.is_empty(), "{failures:#?}");
        assert_eq!(supported().count(), 13);
        assert!(for_language("Python").is_some());
        assert!(for_language("Markdown").is_none());
    }
}
