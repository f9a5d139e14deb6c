//! Stable symbol ids: `path#Qualified.name`, with `~N` appended for the Nth definition of the
//! same qualified name in one file (overloads, redefinitions, `#ifdef` twins). An id survives
//! edits anywhere else in the file and elsewhere in the codebase; it changes only when the
//! symbol is renamed, moved to another file, or gains a same-named sibling above it. Outlines,
//! symbol lookups and search results carry ids; `read_code_file` and `find_references` accept
//! them.

use std::collections::HashMap;

use super::{Definitions, FileSymbols, scope_parts};

/// A parsed symbol id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolId {
    /// File, relative to its root.
    pub path: String,
    /// `Class.method` style name.
    pub qualified_name: String,
    /// Which definition of that name in the file (1 for the first).
    pub ordinal: usize,
}

impl SymbolId {
    /// Parses `path#Qualified.name` or `path#Qualified.name~N`; `None` for anything else.
    pub fn parse(text: &str) -> Option<SymbolId> {
        let (path, name) = text.trim().rsplit_once('#')?;
        let (qualified_name, ordinal) = match name.rsplit_once('~') {
            Some((qualified, number)) => (qualified, number.parse().ok().filter(|n| *n >= 1)?),
            None => (name, 1),
        };
        if path.is_empty() || qualified_name.is_empty() {
            return None;
        }
        Some(SymbolId {
            path: path.to_string(),
            qualified_name: qualified_name.to_string(),
            ordinal,
        })
    }

    /// The symbol's short name (the last part of its qualified name).
    pub fn name(&self) -> &str {
        self.qualified_name
            .rsplit(['.', ':'])
            .next()
            .unwrap_or(&self.qualified_name)
    }
}

/// Whether `text` looks like a symbol id rather than a plain name.
pub fn looks_like_id(text: &str) -> bool {
    SymbolId::parse(text).is_some()
}

/// The id of each symbol of a file at `path`, in the order of `qualified` (one qualified
/// name per symbol, in source order).
pub fn assign(path: &str, qualified: &[String]) -> Vec<String> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    qualified
        .iter()
        .map(|name| {
            let count = seen.entry(name.as_str()).or_insert(0);
            *count += 1;
            if *count == 1 {
                format!("{path}#{name}")
            } else {
                format!("{path}#{name}~{count}")
            }
        })
        .collect()
}

/// Qualified names of every symbol of a parsed file, in source order.
pub fn qualified_names(symbols: &FileSymbols) -> Vec<String> {
    (0..symbols.symbols.len())
        .map(|index| {
            let mut path = symbols.container_path(index);
            path.push(symbols.symbols[index].name.as_str());
            path.join(".")
        })
        .collect()
}

/// Qualified names of a file's in-memory definitions (the same names as
/// [`qualified_names`] gives for its parsed structure).
pub fn definition_names(definitions: &Definitions) -> Vec<String> {
    (0..definitions.len())
        .map(|index| definition_name(definitions, index))
        .collect()
}

/// The qualified name of one in-memory definition.
fn definition_name(definitions: &Definitions, index: usize) -> String {
    let Some(this) = definitions.get(index) else {
        return String::new();
    };
    let mut path: Vec<&str> = Vec::new();
    let mut parent = this.parent;
    // Bounded: decoded data is not trusted to be free of cycles.
    while let Some(at) = parent
        && path.len() <= definitions.len()
    {
        let Some(definition) = definitions.get(at as usize) else {
            break;
        };
        path.push(definition.name);
        parent = definition.parent;
    }
    path.reverse();
    if let Some(scope) = this.scope {
        path.extend(scope_parts(scope));
    }
    path.push(this.name);
    path.join(".")
}

/// The id of in-memory definition `index` of the file at `path`, working out only the names
/// of the definitions that share its name (an id's number counts same-named ones before it).
pub fn definition_id(path: &str, definitions: &Definitions, index: usize) -> String {
    let qualified = definition_name(definitions, index);
    let name = definitions.get(index).map(|definition| definition.name);
    // By the packed names alone: a search answer asks this for every matching line, and a
    // file can hold thousands of definitions before the one asked for.
    let earlier = definitions
        .names()
        .take(index)
        .filter(|(_, other)| Some(*other) == name)
        .filter(|(other, _)| definition_name(definitions, *other) == qualified)
        .count();
    if earlier == 0 {
        format!("{path}#{qualified}")
    } else {
        format!("{path}#{qualified}~{}", earlier + 1)
    }
}

/// The innermost definition holding `line`: the last one (in source order) starting at or
/// before it, or the nearest of its enclosing definitions that still holds it (a definition
/// starting before that one and holding the line would enclose it).
fn innermost(definitions: &Definitions, line: u32) -> Option<usize> {
    let last_started = definitions.partition_point(|definition| definition.start_line <= line);
    let mut at = last_started.checked_sub(1)?;
    // Bounded: decoded data is not trusted to be free of cycles.
    for _ in 0..=definitions.len() {
        let definition = definitions.get(at)?;
        if definition.start_line <= line && line <= definition.end_line {
            return Some(at);
        }
        at = definition.parent? as usize;
    }
    None
}

/// The id of the innermost definition holding `line`, from a file's in-memory definitions.
pub fn enclosing(path: &str, definitions: &Definitions, line: u32) -> Option<String> {
    enclosing_each(path, definitions, &[line]).pop().flatten()
}

/// For each of `lines`, the id of the innermost definition of the file holding it. Only the
/// ids of the definitions found are worked out (once each).
pub fn enclosing_each(path: &str, definitions: &Definitions, lines: &[u32]) -> Vec<Option<String>> {
    let mut known: Vec<(usize, String)> = Vec::new();
    lines
        .iter()
        .map(|&line| {
            let index = innermost(definitions, line)?;
            if let Some((_, id)) = known.iter().find(|(at, _)| *at == index) {
                return Some(id.clone());
            }
            let id = definition_id(path, definitions, index);
            known.push((index, id.clone()));
            Some(id)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_and_number_duplicates() {
        assert_eq!(
            SymbolId::parse("src/a.py#Store.get"),
            Some(SymbolId {
                path: "src/a.py".into(),
                qualified_name: "Store.get".into(),
                ordinal: 1
            })
        );
        assert_eq!(SymbolId::parse("a.c#f~3").map(|id| id.ordinal), Some(3));
        assert_eq!(SymbolId::parse("a.c#Store.get").unwrap().name(), "get");
        for bad in ["plain_name", "#f", "a.c#", "a.c#f~0", "a.c#f~x"] {
            assert_eq!(SymbolId::parse(bad), None, "{bad}");
        }
        let names = ["f", "Store", "Store.get", "f"].map(String::from);
        assert_eq!(
            assign("a.rs", &names),
            ["a.rs#f", "a.rs#Store", "a.rs#Store.get", "a.rs#f~2"]
        );
    }

    #[test]
    fn memory_and_parse_agree_and_the_innermost_symbol_holds_a_line() {
        let source = b"class Store:\n    def get(self):\n        return 1\n\n    def put(self):\n        pass\n\ndef get():\n    pass\n";
        let symbols = crate::symbols::extract("Python", source).unwrap();
        let definitions = symbols.definitions().unwrap();
        assert_eq!(definition_names(&definitions), qualified_names(&symbols));
        assert_eq!(
            enclosing("s.py", &definitions, 3).as_deref(),
            Some("s.py#Store.get")
        );
        assert_eq!(
            enclosing("s.py", &definitions, 1).as_deref(),
            Some("s.py#Store")
        );
        assert_eq!(
            enclosing("s.py", &definitions, 9).as_deref(),
            Some("s.py#get")
        );
        assert_eq!(enclosing("s.py", &definitions, 7), None);
        // The same as checking every definition, on every line.
        for line in 0..12 {
            let scanned = definitions
                .iter()
                .enumerate()
                .filter(|(_, d)| d.start_line <= line && line <= d.end_line)
                .max_by_key(|(index, d)| (d.start_line, *index))
                .map(|(index, _)| index);
            assert_eq!(innermost(&definitions, line), scanned, "line {line}");
        }
        // One id at a time gives the ids of the whole file.
        let all = assign("s.py", &qualified_names(&symbols));
        for (index, id) in all.iter().enumerate() {
            assert_eq!(&definition_id("s.py", &definitions, index), id);
        }
    }
}
