//! Answers to structural questions — what is in a file, where a symbol is defined, who
//! refers to it, what a function calls, what a codebase imports — from the symbols the
//! indexer stored with each file.
//!
//! Everything here runs on one consistent [`View`] of a root (blocking; the engine runs it
//! off the async threads) and reads the store but never changes it. Name lookups scan the
//! in-memory definitions of the root's documents; full per-file structure (signatures,
//! calls, imports) is decoded from the store only for the files an answer needs.

pub mod callees;
pub mod dependencies;
pub mod graph;
pub mod lookup;
pub mod outline;
pub mod references;
pub mod undocumented;

use std::path::Path;

use codesage_shared::config::IndexConfig;

use crate::indexer::{BINARY_SNIFF_LEN, language};
use crate::store::{RootId, SkipReason, StoreError, View};
use crate::symbols::{self, FileSymbols, grammars};
use crate::trigram::index::Doc;
use crate::work::Work;
use codesage_shared::words::{Explain, Words};

/// A structural question that cannot be answered; the message says what to do instead.
#[derive(Debug)]
pub enum StructureError {
    /// The file is neither indexed nor present on disk.
    NotFound(String),
    /// The path names a directory.
    Directory(String),
    /// The file is binary.
    Binary(String),
    /// The file is over the indexing size limit.
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// CodeSage has no grammar for the file's language.
    NoGrammar {
        /// The file.
        path: String,
        /// Its detected language.
        language: String,
        /// The languages with a grammar.
        supported: String,
    },
    /// Symbols are turned off in the configuration.
    SymbolsOff,
    /// The named function is not in the file.
    NoSuchFunction {
        /// The file.
        file: String,
        /// The name asked for.
        name: String,
        /// The callables it does define.
        defined: String,
    },
    /// An argument is unusable.
    InvalidArgument(String),
    /// The request was cancelled before it finished.
    Cancelled,
    /// The store failed.
    Store(StoreError),
    /// Semantic search failed (the model could not embed, …).
    Semantic(String),
}

impl Explain for StructureError {
    fn explain(&self, words: Words) -> String {
        match self {
            StructureError::NotFound(path) => format!(
                "file not found: {path}; use {} or {} to find the right path",
                words.tool("find_symbol"),
                words.tool("search_codebase")
            ),
            StructureError::Directory(path) => format!(
                "{path} is a directory; give a file (or use {} for a whole codebase)",
                words.param("codebase_path")
            ),
            StructureError::Binary(path) => {
                format!("{path} is a binary file; it has no code structure")
            }
            StructureError::TooLarge { path, size, limit } => {
                format!("{path} is {size} bytes, over the {limit}-byte limit (index.max_file_size)")
            }
            StructureError::NoGrammar {
                path,
                language,
                supported,
            } => format!(
                "{path} is {language}, which CodeSage cannot parse (it parses {supported}); use \
                 {} or {} for it",
                words.tool("read_code_file"),
                words.tool("search_codebase")
            ),
            StructureError::SymbolsOff => "symbols are turned off (index.symbols = false in the \
                daemon's configuration); turn them on and restart the daemon to use the \
                structure tools"
                .to_string(),
            StructureError::NoSuchFunction {
                file,
                name,
                defined,
            } => format!("{file} defines no function named {name:?}; it defines: {defined}"),
            StructureError::InvalidArgument(message) => message.clone(),
            StructureError::Cancelled => "the request was cancelled".to_string(),
            StructureError::Store(err) => err.to_string(),
            StructureError::Semantic(message) => format!("semantic search failed: {message}"),
        }
    }
}

impl std::fmt::Display for StructureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        codesage_shared::words::display(self, f)
    }
}

impl std::error::Error for StructureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StructureError::Store(err) => Some(err),
            _ => None,
        }
    }
}

impl From<StoreError> for StructureError {
    fn from(err: StoreError) -> Self {
        StructureError::Store(err)
    }
}

/// Result alias for structural queries.
pub type Result<T, E = StructureError> = std::result::Result<T, E>;

/// Where a question is asked: one root's consistent view, and optionally a directory in it.
pub struct Scope<'a> {
    /// The root's view.
    pub view: &'a View,
    /// The root's store key.
    pub root_id: RootId,
    /// The root's path on disk.
    pub root_path: &'a Path,
    /// Directory inside the root (`""` for all of it).
    pub prefix: &'a str,
    /// The indexing configuration (symbol switches and limits).
    pub config: &'a IndexConfig,
    /// The request's work: root-wide questions report progress on it and stop when it says
    /// so (cancellation, deadline), answering with what they have.
    pub work: &'a Work,
}

impl Scope<'_> {
    /// Whether `path` (relative to the root) lies in the scope's directory.
    pub fn contains(&self, path: &str) -> bool {
        self.prefix.is_empty()
            || path
                .strip_prefix(self.prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// The live documents in scope, in path order.
    pub fn docs(&self) -> Vec<&Doc> {
        let mut docs: Vec<&Doc> = self
            .view
            .index
            .docs
            .iter()
            .map(|(_, doc)| doc)
            .filter(|doc| self.contains(&doc.path))
            .collect();
        docs.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        docs
    }

    /// Refuses when symbols are off.
    pub fn require_symbols(&self) -> Result<()> {
        if self.config.symbols {
            Ok(())
        } else {
            Err(StructureError::SymbolsOff)
        }
    }
}

/// One file's structure, and where it came from.
pub struct ParsedFile {
    /// Path relative to the root.
    pub path: String,
    /// Detected language.
    pub language: String,
    /// What the parse found.
    pub symbols: FileSymbols,
    /// Read from disk because the file is not in the index (ignored or excluded).
    pub from_disk: bool,
}

/// The structure of the file at `relative` in `scope`'s root: from the index, or — for a
/// file the index leaves out (ignored, excluded) — parsed from disk on the spot.
pub fn parsed_file(scope: &Scope<'_>, relative: &str) -> Result<ParsedFile> {
    scope.require_symbols()?;
    let shown = || format!("{relative} (in {})", scope.root_path.display());
    if relative.is_empty() {
        return Err(StructureError::Directory(shown()));
    }
    if let Some(record) = scope.view.snapshot.file(scope.root_id, relative)? {
        match record.skipped {
            Some(SkipReason::Binary) => return Err(StructureError::Binary(shown())),
            Some(SkipReason::TooLarge) => {
                return Err(StructureError::TooLarge {
                    path: shown(),
                    size: record.size,
                    limit: scope.config.max_file_size,
                });
            }
            None => {}
        }
        require_grammar(&shown(), &record.language)?;
        if let Some(symbols) = scope.view.snapshot.symbols(&record.hash)? {
            return Ok(ParsedFile {
                path: relative.to_string(),
                language: record.language,
                symbols,
                from_disk: false,
            });
        }
        // Indexed without symbols: over symbols_max_file_size. Parse it now; the caller
        // asked about this one file.
    }
    parse_from_disk(scope, relative)
}

fn parse_from_disk(scope: &Scope<'_>, relative: &str) -> Result<ParsedFile> {
    use crate::files::ReadError;
    let shown = format!("{relative} (in {})", scope.root_path.display());
    let absolute = scope.root_path.join(relative);
    let limit = scope.config.max_file_size;
    let content = crate::files::read_regular(&absolute, limit).map_err(|err| match err {
        ReadError::NotFound => StructureError::NotFound(shown.clone()),
        ReadError::NotRegular("a directory") => StructureError::Directory(shown.clone()),
        ReadError::TooLarge { size, limit } => StructureError::TooLarge {
            path: shown.clone(),
            size,
            limit,
        },
        other => StructureError::InvalidArgument(format!("cannot read {shown}: {other}")),
    })?;
    let head = &content[..content.len().min(BINARY_SNIFF_LEN)];
    if memchr::memchr(0, head).is_some() {
        return Err(StructureError::Binary(shown));
    }
    let language = language::detect(relative, head).name;
    require_grammar(&shown, language)?;
    let symbols =
        symbols::extract(language, &content).ok_or_else(|| StructureError::NoGrammar {
            path: shown.clone(),
            language: language.to_string(),
            supported: supported_languages(),
        })?;
    Ok(ParsedFile {
        path: relative.to_string(),
        language: language.to_string(),
        symbols,
        from_disk: true,
    })
}

fn require_grammar(shown: &str, language: &str) -> Result<()> {
    if grammars::has_grammar(language) {
        Ok(())
    } else {
        Err(StructureError::NoGrammar {
            path: shown.to_string(),
            language: language.to_string(),
            supported: supported_languages(),
        })
    }
}

/// The languages CodeSage parses, for messages.
pub fn supported_languages() -> String {
    grammars::supported().collect::<Vec<_>>().join(", ")
}

/// The stored structure of document `doc`, if it was parsed.
pub fn doc_symbols(view: &View, doc: &Doc) -> Result<Option<FileSymbols>> {
    if doc.definitions.is_none() && !grammars::has_grammar(&doc.language) {
        return Ok(None);
    }
    Ok(view.snapshot.symbols(&doc.hash)?)
}

/// `name` qualified by its enclosing symbols (`Store.get`).
pub fn qualified_name(symbols: &FileSymbols, index: usize) -> String {
    let mut path = symbols.container_path(index);
    let name = symbols
        .symbols
        .get(index)
        .map_or("", |symbol| symbol.name.as_str());
    path.push(name);
    path.join(".")
}
