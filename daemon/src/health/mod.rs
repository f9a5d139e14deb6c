//! Code health from the index: per-file facts taken from each parsed file's stored structure
//! (clone fingerprints, function metrics, TODO markers), one root's facts in memory
//! ([`index`]), clone detection over them ([`fingerprint`], [`detect`], [`refine`],
//! [`clones`]), the clone reports kept warm in the background ([`warm`]), the improvements
//! report ([`improvements`]) and the TODO listing ([`todos`]).

pub mod clones;
pub mod detect;
pub mod fingerprint;
pub mod groups;
pub mod improvements;
pub mod index;
pub mod refine;
pub mod similar;
pub mod source;
pub mod todos;
pub mod warm;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::store::{ContentHash, RootId};
use crate::symbols::todos::Todo;
use crate::symbols::{FileSymbols, SymbolKind};
use fingerprint::Fingerprints;
use index::RootHealth;

/// Files whose facts are cached, at most (they are shared by roots); the cache is bounded
/// by bytes too (`memory.budget_mb`).
const CACHED_FILES: usize = 200_000;

/// One function's measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionFacts {
    /// Qualified name (`Class.method`).
    pub name: String,
    /// Function or method.
    pub kind: SymbolKind,
    /// First line.
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
    /// Cyclomatic complexity.
    pub complexity: u32,
    /// Deepest control-flow nesting.
    pub nesting: u32,
    /// Parameters.
    pub parameters: u32,
    /// Whether it has a doc comment or docstring.
    pub documented: bool,
    /// Whether it is part of its module's public surface (by the language's convention).
    pub public: bool,
}

impl FunctionFacts {
    /// Lines it spans.
    pub fn lines(&self) -> u32 {
        // Saturating: stored line numbers are not trusted.
        self.end_line
            .saturating_sub(self.start_line)
            .saturating_add(1)
    }
}

/// What the health tools know of one content.
#[derive(Debug, Default)]
pub struct FileFacts {
    /// Clone fingerprints.
    pub prints: Arc<Fingerprints>,
    /// Functions and methods, in source order.
    pub functions: Vec<FunctionFacts>,
    /// TODO/FIXME/HACK/XXX markers.
    pub todos: Vec<Todo>,
    /// Modules it imports, as written.
    pub imports: Vec<String>,
}

impl FileFacts {
    /// Heap bytes held (an estimate from the collections' lengths).
    pub fn heap_bytes(&self) -> u64 {
        let prints = self.prints.prints.len() * std::mem::size_of::<fingerprint::Fingerprint>()
            + self.prints.lines.len() * std::mem::size_of::<fingerprint::LineHash>();
        let functions: usize = self
            .functions
            .iter()
            .map(|function| std::mem::size_of::<FunctionFacts>() + function.name.len())
            .sum();
        let todos: usize = self
            .todos
            .iter()
            .map(|todo| std::mem::size_of::<Todo>() + todo.text.len())
            .sum();
        let imports: usize = self
            .imports
            .iter()
            .map(|import| std::mem::size_of::<String>() + import.len())
            .sum();
        (std::mem::size_of::<FileFacts>() + prints + functions + todos + imports) as u64
    }

    /// The facts of a file's stored structure.
    pub fn of(symbols: FileSymbols, language: &str) -> FileFacts {
        let functions = symbols
            .symbols
            .iter()
            .enumerate()
            .filter(|(_, symbol)| symbol.kind.is_callable())
            .map(|(index, symbol)| {
                let mut path = symbols.container_path(index);
                path.push(&symbol.name);
                FunctionFacts {
                    name: path.join("."),
                    kind: symbol.kind,
                    start_line: symbol.start_line,
                    end_line: symbol.end_line,
                    complexity: symbol.cyclomatic(),
                    nesting: symbol.nesting,
                    parameters: symbol.parameters,
                    documented: symbol.documented,
                    public: is_public(language, &symbol.name, &symbol.signature),
                }
            })
            .collect();
        FileFacts {
            prints: Arc::new(symbols.fingerprints),
            functions,
            todos: symbols.todos,
            imports: symbols
                .imports
                .into_iter()
                .map(|import| import.module)
                .collect(),
        }
    }
}

/// Whether a function is public by its language's convention: `pub` in Rust, a capital
/// initial in Go, a `public` modifier in Java, C# and PHP, no `static` in C and C++, and no
/// leading underscore elsewhere.
pub fn is_public(language: &str, name: &str, signature: &str) -> bool {
    let words = || signature.split(|c: char| !c.is_alphanumeric() && c != '_');
    match language {
        "Rust" => signature.starts_with("pub"),
        "Go" => name.chars().next().is_some_and(char::is_uppercase),
        "Java" | "C#" | "PHP" => words().any(|word| word == "public"),
        "C" | "C++" => !words().any(|word| word == "static"),
        _ => !name.starts_with('_'),
    }
}

/// Weighs cached facts by their bytes.
#[derive(Clone, Default)]
pub struct FactsBytes;

impl quick_cache::Weighter<ContentHash, Arc<FileFacts>> for FactsBytes {
    fn weight(&self, _key: &ContentHash, value: &Arc<FileFacts>) -> u64 {
        value.heap_bytes().max(1)
    }
}

/// Facts by content hash, bounded by bytes.
pub type FactsCache = quick_cache::sync::Cache<ContentHash, Arc<FileFacts>, FactsBytes>;

/// Daemon-wide code-health state: every root's facts.
pub struct Health {
    roots: Mutex<HashMap<RootId, Arc<Mutex<RootHealth>>>>,
    cache: FactsCache,
    sources: source::SourceCache,
    warm: warm::WarmReports,
    kept_detections: usize,
    /// Each root's heap bytes when last measured: a root busy answering (its lock held for
    /// seconds by a detection) is reported at that figure rather than as nothing.
    measured: Mutex<HashMap<RootId, u64>>,
}

impl Default for Health {
    fn default() -> Health {
        Health::new(&codesage_shared::config::Config::default(), None)
    }
}

impl Health {
    /// Empty state with caches sized from the memory budget; the clone questions kept warm
    /// are remembered in `warm_file` (in memory only when `None`).
    pub fn new(
        config: &codesage_shared::config::Config,
        warm_file: Option<std::path::PathBuf>,
    ) -> Health {
        use codesage_shared::config::CacheShare;
        let memory = &config.memory;
        Health {
            roots: Mutex::new(HashMap::new()),
            cache: FactsCache::with_weighter(
                CACHED_FILES,
                memory.share(CacheShare::HealthFacts).max(1),
                FactsBytes,
            ),
            sources: source::cache(memory.share(CacheShare::HealthSources)),
            warm: warm::WarmReports::load(warm_file),
            kept_detections: config.health.kept_detections.max(1),
            measured: Mutex::new(HashMap::new()),
        }
    }

    /// Heap bytes of the health state: (cached facts, cached sources, every root's clone
    /// detection), estimated.
    pub fn heap_bytes(&self) -> (u64, u64, u64) {
        let roots: Vec<(RootId, Arc<Mutex<RootHealth>>)> = self
            .roots
            .lock()
            .iter()
            .map(|(id, root)| (*id, Arc::clone(root)))
            .collect();
        let detection = roots
            .iter()
            .map(
                |(id, root)| match root.try_lock_for(std::time::Duration::from_millis(2)) {
                    Some(root) => {
                        let bytes = root.heap_bytes();
                        self.measured.lock().insert(*id, bytes);
                        bytes
                    }
                    None => self.measured.lock().get(id).copied().unwrap_or(0),
                },
            )
            .sum();
        (self.cache.weight(), self.sources.weight(), detection)
    }

    /// Notes the heap bytes of `root`'s state, measured by whoever holds its lock.
    pub fn note_heap_bytes(&self, root: RootId, bytes: u64) {
        self.measured.lock().insert(root, bytes);
    }

    /// The health state of `root`.
    pub fn root(&self, root: RootId) -> Arc<Mutex<RootHealth>> {
        Arc::clone(self.roots.lock().entry(root).or_default())
    }

    /// Drops everything held for `root` (a forgotten root).
    pub fn forget_root(&self, root: RootId) {
        self.roots.lock().remove(&root);
        self.measured.lock().remove(&root);
    }

    /// Files re-read for exact clone ranges, by content.
    pub fn sources(&self) -> &source::SourceCache {
        &self.sources
    }

    /// Empties the cache of quoted file sources (reports read them again from the store).
    pub fn clear_sources(&self) {
        self.sources.clear();
    }

    /// Clone detections held per root (`health.kept_detections`).
    pub fn kept_detections(&self) -> usize {
        self.kept_detections
    }

    /// The clone questions kept warm.
    pub fn warm(&self) -> &warm::WarmReports {
        &self.warm
    }

    /// Facts shared across roots, by content.
    pub fn cache(&self) -> &FactsCache {
        &self.cache
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_by_each_languages_convention() {
        assert!(is_public("Rust", "f", "pub fn f()"));
        assert!(!is_public("Rust", "f", "fn f()"));
        assert!(is_public("Go", "Serve", "func Serve()"));
        assert!(!is_public("Go", "serve", "func serve()"));
        assert!(is_public("Java", "m", "public int m()"));
        assert!(!is_public("Java", "m", "private int m()"));
        assert!(!is_public("C", "f", "static int f(void)"));
        assert!(is_public("Python", "run", "def run(self):"));
        assert!(!is_public("Python", "_run", "def _run(self):"));
    }
}
