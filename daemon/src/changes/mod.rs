//! What a change did to a codebase, symbol by symbol: the files git says changed since a base
//! (the working tree, or the staged side, against `HEAD` or any revision), each file's old
//! structure parsed from its content at the base and its new structure from the live index,
//! and the symbols added, modified (their own text changed, not just their position) and
//! removed. The change tools (`changed_symbols`, `affected_callers`, `review_changes`) all
//! start here; [`callers`] and [`review`] build on it.
//!
//! Runs on one root's consistent view, off the async threads; reads git and the store, never
//! changes either.

pub mod callers;
pub mod git;
pub mod review;

use std::collections::HashMap;

use serde::Serialize;

use crate::indexer::{BINARY_SNIFF_LEN, language};
use crate::structure::{Scope, StructureError};
use crate::symbols::{self, FileSymbols, Symbol, ids};
use codesage_shared::words::{Explain, Words};
pub use git::{Base, ChangedFile, FileStatus};

/// Files of one change examined symbol by symbol at most; past it the rest are listed
/// without their symbols.
pub const MAX_PARSED_FILES: usize = 2000;

/// Why a change cannot be worked out.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The codebase is not inside a git work tree.
    #[error("{0} is not inside a git repository")]
    NotARepository(String),
    /// The revision is malformed or unknown.
    #[error("{0}")]
    BadRevision(String),
    /// git failed or is missing.
    #[error("{0}")]
    Git(String),
}

impl Explain for ChangeError {
    fn explain(&self, words: Words) -> String {
        match self {
            ChangeError::NotARepository(dir) => format!(
                "{dir} is not inside a git repository; the change tools compare the files with \
                 git (run `git init` and commit, or use {} for the whole codebase)",
                words.tool("analyze_codebase_improvements")
            ),
            ChangeError::BadRevision(message) => format!(
                "{message}; give {} as a branch, tag or commit (default HEAD)",
                words.param("since")
            ),
            ChangeError::Git(message) => message.clone(),
        }
    }
}

impl From<ChangeError> for StructureError {
    fn from(err: ChangeError) -> StructureError {
        // Worded for agents: the change tools are MCP tools first.
        StructureError::InvalidArgument(err.explain(Words::Mcp))
    }
}

/// What happened to a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// New in the change.
    Added,
    /// Its own text changed (a container's members count for themselves, not for it).
    Modified,
    /// Gone in the change.
    Removed,
}

impl ChangeKind {
    /// Its name in answers.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Modified => "modified",
            ChangeKind::Removed => "removed",
        }
    }
}

/// One changed symbol.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SymbolChange {
    /// Added, modified or removed.
    pub change: ChangeKind,
    /// Its id now (`path#Class.method`); for a removed symbol, its id at the base.
    pub symbol_id: String,
    /// `Class.method` style name.
    pub qualified_name: String,
    /// What it is (`function`, `method`, `class`, …).
    pub kind: &'static str,
    /// File, relative to the root (the old path for a removed file's symbols).
    pub file_path: String,
    /// The file's path at the base when it was renamed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_file_path: Option<String>,
    /// First line now (at the base for a removed symbol).
    pub start_line: u32,
    /// Last line now (at the base for a removed symbol).
    pub end_line: u32,
    /// Its lines at the base, for a modified symbol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_lines: Option<(u32, u32)>,
    /// Its first line (now, or at the base when removed).
    pub signature: String,
    /// A modified symbol's first line changed (parameters, return type, visibility).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub signature_changed: bool,
    /// Lines of it the change added or rewrote (all of it when added; its length when
    /// removed).
    pub lines_changed: u32,
}

/// One changed file.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FileSummary {
    /// Path relative to the root (now, or at the base when deleted).
    pub file_path: String,
    /// Its path at the base when it was renamed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_file_path: Option<String>,
    /// How the file changed.
    pub status: FileStatus,
    /// Its language.
    pub language: String,
    /// Lines the change added or rewrote (every line of an added file).
    pub lines_changed: u32,
    /// Symbols added, modified and removed in it.
    pub symbols_changed: usize,
    /// Why its symbols were not compared, when they were not (no grammar, binary, too large).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_parsed: Option<String>,
}

/// One side of a changed file: its text and structure.
pub struct Side {
    /// The content.
    pub content: Vec<u8>,
    /// Its structure, when its language is parsed.
    pub symbols: Option<FileSymbols>,
}

/// A changed file with both sides and its symbol changes.
pub struct FileDiff {
    /// What git says of it.
    pub file: ChangedFile,
    /// Its language (by its current path).
    pub language: &'static str,
    /// At the base (none when added).
    pub old: Option<Side>,
    /// Now (none when deleted).
    pub new: Option<Side>,
    /// Changed symbols, each with its index in the new side's (added, modified) or the old
    /// side's (removed) symbol list.
    pub symbols: Vec<(SymbolChange, usize)>,
    /// Why the symbols were not compared.
    pub not_parsed: Option<String>,
}

impl FileDiff {
    /// The summary for answers.
    pub fn summary(&self) -> FileSummary {
        let lines = self
            .new
            .as_ref()
            .map_or(0, |side| line_count(&side.content));
        FileSummary {
            file_path: self.file.path.clone(),
            old_file_path: (self.file.status == FileStatus::Renamed)
                .then(|| self.file.old_path.clone())
                .flatten(),
            status: self.file.status,
            language: self.language.to_string(),
            lines_changed: if lines == 0 {
                0
            } else {
                self.file.added_within(1, lines)
            },
            symbols_changed: self.symbols.len(),
            not_parsed: self.not_parsed.clone(),
        }
    }

    /// The symbol a change of this file refers to, on its side.
    pub fn symbol(&self, change: &SymbolChange, index: usize) -> Option<&Symbol> {
        let side = if change.change == ChangeKind::Removed {
            &self.old
        } else {
            &self.new
        };
        side.as_ref()?.symbols.as_ref()?.symbols.get(index)
    }

    /// The base's version of a modified symbol.
    pub fn old_symbol(&self, change: &SymbolChange) -> Option<&Symbol> {
        let old = self.old.as_ref()?.symbols.as_ref()?;
        let key = change.symbol_id.rsplit_once('#')?.1;
        let keys = ids::assign("", &ids::qualified_names(old));
        let at = keys.iter().position(|k| k.strip_prefix('#') == Some(key))?;
        old.symbols.get(at)
    }
}

/// A change: its base and its files.
pub struct Change {
    /// What it is compared with.
    pub base: Base,
    /// Changed files in the scope, in path order.
    pub files: Vec<FileDiff>,
    /// Changed files past [`MAX_PARSED_FILES`], listed without symbols.
    pub unparsed_files: usize,
}

impl Change {
    /// Every symbol change, by file then line.
    pub fn symbols(&self) -> impl Iterator<Item = (&FileDiff, &SymbolChange, usize)> {
        self.files.iter().flat_map(|file| {
            file.symbols
                .iter()
                .map(move |(change, index)| (file, change, *index))
        })
    }

    /// The changed file at `path` (its current path).
    pub fn file(&self, path: &str) -> Option<&FileDiff> {
        self.files
            .binary_search_by(|file| file.file.path.as_str().cmp(path))
            .ok()
            .and_then(|at| self.files.get(at))
    }
}

/// The change in `scope` since `since` (default `HEAD`): the working tree's, or the staged
/// one's when `staged`.
pub fn collect(
    scope: &Scope<'_>,
    since: Option<&str>,
    staged: bool,
) -> Result<Change, StructureError> {
    scope.require_symbols()?;
    // git runs in the scope's directory, so a directory holding its own repository (a
    // nested project, a worktree inside the root) answers for itself; its paths are
    // relative to that directory until the contents are read.
    let owned_dir;
    let dir = if scope.prefix.is_empty() {
        scope.root_path
    } else {
        owned_dir = scope.root_path.join(scope.prefix);
        owned_dir.as_path()
    };
    let base = git::base(dir, since, staged)?;
    let inside = |path: &str| -> Option<String> {
        if scope.prefix.is_empty() {
            Some(path.to_string())
        } else {
            path.strip_prefix(scope.prefix)?
                .strip_prefix('/')
                .map(str::to_string)
        }
    };
    let indexed: Vec<String> = scope
        .docs()
        .into_iter()
        .filter_map(|doc| inside(&doc.path))
        .collect();
    let indexed: Vec<&str> = indexed.iter().map(String::as_str).collect();
    let mut files = git::changed_files(dir, &base, &indexed)?;
    let unparsed_files = files.len().saturating_sub(MAX_PARSED_FILES);
    let old_paths: Vec<&str> = files
        .iter()
        .take(MAX_PARSED_FILES)
        .map(|file| file.old_path.as_deref().unwrap_or(""))
        .collect();
    let old_contents = git::contents_at(dir, &base, &old_paths)?;
    let staged_contents = if staged {
        let paths: Vec<&str> = files
            .iter()
            .take(MAX_PARSED_FILES)
            .map(|file| file.path.as_str())
            .collect();
        Some(git::staged_contents(dir, &base, &paths)?)
    } else {
        None
    };
    // Paths relative to the root from here on.
    if !scope.prefix.is_empty() {
        let in_root = |path: &str| format!("{}/{path}", scope.prefix);
        for file in &mut files {
            file.path = in_root(&file.path);
            file.old_path = file.old_path.as_deref().map(in_root);
        }
    }
    // Contents are read here (the view is not shared across threads); parsing the two sides
    // of each file, the bulk of the work, runs in parallel.
    let mut inputs = Vec::with_capacity(files.len());
    for (at, file) in files.into_iter().enumerate() {
        if scope.work.should_stop() || at >= MAX_PARSED_FILES {
            inputs.push((file, None, None, false));
            continue;
        }
        let old = old_contents.get(at).cloned().flatten();
        let new = match &staged_contents {
            Some(contents) => contents
                .get(at)
                .cloned()
                .flatten()
                .map(|content| (content, None)),
            None if file.status == FileStatus::Deleted => None,
            None => current_side(scope, &file.path)?,
        };
        inputs.push((file, old, new, true));
    }
    let limit = scope.config.symbols_max_file_size;
    let diffs: Vec<FileDiff> = {
        use rayon::prelude::*;
        inputs
            .into_par_iter()
            .map(|(file, old, new, compared)| {
                if compared {
                    diff_file(file, old, new, limit)
                } else {
                    FileDiff {
                        language: language::detect(&file.path, b"").name,
                        file,
                        old: None,
                        new: None,
                        symbols: Vec::new(),
                        not_parsed: Some("past the files a change is compared in".into()),
                    }
                }
            })
            .collect()
    };
    Ok(Change {
        base,
        files: diffs,
        unparsed_files,
    })
}

/// A file's content now, with its stored structure when the index has one.
type NewSide = (Vec<u8>, Option<FileSymbols>);

/// The file's content now, with its structure when the index has it: the index's (what every
/// other answer sees), or the disk's for a file the index leaves out.
fn current_side(scope: &Scope<'_>, path: &str) -> Result<Option<NewSide>, StructureError> {
    if let Some(record) = scope.view.snapshot.file(scope.root_id, path)?
        && let Some(hash) = record.stored_hash()
        && let Some(content) = scope.view.content(&hash)?
    {
        let symbols = scope.view.snapshot.symbols(&hash)?;
        return Ok(Some((content.to_vec(), symbols)));
    }
    Ok(
        crate::files::read_regular(&scope.root_path.join(path), scope.config.max_file_size)
            .ok()
            .map(|content| (content, None)),
    )
}

/// Why a content's symbols cannot be compared, if they cannot.
fn unparsable(language: &'static str, content: &[u8], limit: u64) -> Option<String> {
    if !symbols::grammars::has_grammar(language) {
        return Some(format!("{language} is not parsed"));
    }
    if memchr::memchr(0, &content[..content.len().min(BINARY_SNIFF_LEN)]).is_some() {
        return Some("binary".into());
    }
    if content.len() as u64 > limit {
        return Some(format!(
            "{} bytes, over index.symbols_max_file_size",
            content.len()
        ));
    }
    None
}

/// One side of a file: `known` is its stored structure, else it is parsed here.
fn side(
    language: &'static str,
    content: Vec<u8>,
    known: Option<FileSymbols>,
    limit: u64,
) -> (Side, Option<String>) {
    let why = unparsable(language, &content, limit);
    let symbols = match why {
        None => known.or_else(|| symbols::extract(language, &content)),
        Some(_) => None,
    };
    (Side { content, symbols }, why)
}

fn diff_file(
    file: ChangedFile,
    old: Option<Vec<u8>>,
    new: Option<NewSide>,
    limit: u64,
) -> FileDiff {
    let head = new
        .as_ref()
        .map(|(content, _)| content.as_slice())
        .or(old.as_deref())
        .unwrap_or(b"");
    let language = language::detect(&file.path, &head[..head.len().min(BINARY_SNIFF_LEN)]).name;
    let mut not_parsed = None;
    let old = old.map(|content| {
        let (side, why) = side(language, content, None, limit);
        not_parsed = not_parsed.take().or(why);
        side
    });
    let new = new.map(|(content, known)| {
        let (side, why) = side(language, content, known, limit);
        not_parsed = not_parsed.take().or(why);
        side
    });
    let mut diff = FileDiff {
        file,
        language,
        old,
        new,
        symbols: Vec::new(),
        not_parsed,
    };
    if diff.not_parsed.is_none() {
        diff.symbols = symbol_changes(&diff);
    }
    diff
}

/// Whether a symbol is a test, by its file (`tests/`, `test_x.py`, `x_test.go`, `x.spec.ts`,
/// `XTest.java`, …) or its name (`test_x`, `TestX`, `Class.test_x`).
pub fn is_test(path: &str, qualified_name: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let mut parts = lower.split('/');
    let file = parts.next_back().unwrap_or("");
    let in_test_dir = parts.any(|dir| {
        matches!(
            dir,
            "test" | "tests" | "__tests__" | "spec" | "specs" | "testing" | "test_utils"
        )
    });
    let stem = file.split('.').next().unwrap_or(file);
    let test_file = stem.starts_with("test_")
        || stem.ends_with("_test")
        || stem.ends_with("_tests")
        || file.contains(".test.")
        || file.contains(".spec.")
        || path
            .rsplit('/')
            .next()
            .and_then(|name| name.split('.').next())
            .is_some_and(|stem| stem.ends_with("Test") || stem.ends_with("Tests"));
    let name = qualified_name
        .rsplit(['.', ':'])
        .next()
        .unwrap_or(qualified_name);
    in_test_dir || test_file || name.starts_with("test_") || name.starts_with("Test")
}

/// The text of symbol `index` less its members' lines (a class's own lines: its header,
/// fields, decorators), each line's trailing blanks dropped.
fn own_text(lines: &[&[u8]], symbols: &FileSymbols, index: usize) -> Vec<u8> {
    let Some(symbol) = symbols.symbols.get(index) else {
        return Vec::new();
    };
    let members: Vec<(u32, u32)> = symbols
        .symbols
        .iter()
        .filter(|other| other.parent == Some(index as u32))
        .map(|other| (other.start_line, other.end_line))
        .collect();
    let mut text = Vec::new();
    for number in symbol.start_line..=symbol.end_line {
        if members
            .iter()
            .any(|(start, end)| (*start..=*end).contains(&number) && *start != symbol.start_line)
        {
            continue;
        }
        let Some(line) = lines.get(number.saturating_sub(1) as usize) else {
            break;
        };
        let end = line
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |at| at + 1);
        text.extend_from_slice(&line[..end]);
        text.push(b'\n');
    }
    text
}

fn split_lines(content: &[u8]) -> Vec<&[u8]> {
    content.split(|b| *b == b'\n').collect()
}

fn line_count(content: &[u8]) -> u32 {
    if content.is_empty() {
        return 0;
    }
    let newlines = memchr::memchr_iter(b'\n', content).count();
    (newlines + usize::from(!content.ends_with(b"\n"))) as u32
}

fn symbol_changes(diff: &FileDiff) -> Vec<(SymbolChange, usize)> {
    let empty = FileSymbols::default();
    let old = diff
        .old
        .as_ref()
        .and_then(|side| side.symbols.as_ref())
        .unwrap_or(&empty);
    let new = diff
        .new
        .as_ref()
        .and_then(|side| side.symbols.as_ref())
        .unwrap_or(&empty);
    let old_lines = diff
        .old
        .as_ref()
        .map(|side| split_lines(&side.content))
        .unwrap_or_default();
    let new_lines = diff
        .new
        .as_ref()
        .map(|side| split_lines(&side.content))
        .unwrap_or_default();
    // Qualified names once per side; a key is the symbol id without its path.
    let old_names = ids::qualified_names(old);
    let new_names = ids::qualified_names(new);
    let old_keys = ids::assign("", &old_names);
    let new_keys = ids::assign("", &new_names);
    let old_at: HashMap<&str, usize> = old_keys
        .iter()
        .enumerate()
        .map(|(at, key)| (key.as_str(), at))
        .collect();
    let new_path = diff.file.path.as_str();
    let old_path = diff.file.old_path.as_deref().unwrap_or(new_path);
    let renamed = (diff.file.status == FileStatus::Renamed).then(|| old_path.to_string());
    let mut changes = Vec::new();
    for (at, key) in new_keys.iter().enumerate() {
        let symbol = &new.symbols[at];
        let lines_changed = diff.file.added_within(symbol.start_line, symbol.end_line);
        let base = SymbolChange {
            change: ChangeKind::Added,
            symbol_id: format!("{new_path}{key}"),
            qualified_name: new_names[at].clone(),
            kind: symbol.kind.as_str(),
            file_path: new_path.to_string(),
            old_file_path: renamed.clone(),
            start_line: symbol.start_line,
            end_line: symbol.end_line,
            old_lines: None,
            signature: symbol.signature.clone(),
            signature_changed: false,
            lines_changed: symbol.lines(),
        };
        match old_at.get(key.as_str()) {
            None => changes.push((base, at)),
            Some(&before) => {
                let was = &old.symbols[before];
                if own_text(&old_lines, old, before) != own_text(&new_lines, new, at) {
                    changes.push((
                        SymbolChange {
                            change: ChangeKind::Modified,
                            old_lines: Some((was.start_line, was.end_line)),
                            signature_changed: was.signature != symbol.signature,
                            lines_changed: lines_changed.max(1),
                            ..base
                        },
                        at,
                    ));
                }
            }
        }
    }
    let new_set: std::collections::HashSet<&str> = new_keys.iter().map(String::as_str).collect();
    for (at, key) in old_keys.iter().enumerate() {
        if new_set.contains(key.as_str()) {
            continue;
        }
        let symbol = &old.symbols[at];
        changes.push((
            SymbolChange {
                change: ChangeKind::Removed,
                symbol_id: format!("{old_path}{key}"),
                qualified_name: old_names[at].clone(),
                kind: symbol.kind.as_str(),
                file_path: if diff.file.status == FileStatus::Deleted {
                    old_path.to_string()
                } else {
                    new_path.to_string()
                },
                old_file_path: renamed.clone(),
                start_line: symbol.start_line,
                end_line: symbol.end_line,
                old_lines: None,
                signature: symbol.signature.clone(),
                signature_changed: false,
                lines_changed: symbol.lines(),
            },
            at,
        ));
    }
    changes.sort_by_key(|(change, _)| (change.start_line, change.change));
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(old: &str, new: &str, added: Option<Vec<(u32, u32)>>) -> Vec<(ChangeKind, String)> {
        let file = ChangedFile {
            path: "m.py".into(),
            old_path: Some("m.py".into()),
            status: FileStatus::Modified,
            added_lines: added,
        };
        let side = |text: &str| Side {
            content: text.as_bytes().to_vec(),
            symbols: symbols::extract("Python", text.as_bytes()),
        };
        let diff = FileDiff {
            file,
            language: "Python",
            old: Some(side(old)),
            new: Some(side(new)),
            symbols: Vec::new(),
            not_parsed: None,
        };
        symbol_changes(&diff)
            .into_iter()
            .map(|(change, _)| (change.change, change.symbol_id))
            .collect()
    }

    #[test]
    fn a_symbol_changes_by_its_own_text_not_by_its_position() {
        let old = "class A:\n    x = 1\n\n    def f(self):\n        return 1\n\n    def g(self):\n        return 2\n\n\ndef gone():\n    pass\n";
        // Two lines inserted above: every line number moves; f's body changes; g only moves;
        // `gone` is removed and `fresh` added.
        let new = "import os\n\nclass A:\n    x = 1\n\n    def f(self):\n        return 10\n\n    def g(self):\n        return 2\n\n\ndef fresh():\n    pass\n";
        let changes = diff(old, new, Some(vec![(1, 2), (7, 7), (13, 14)]));
        assert_eq!(
            changes,
            vec![
                (ChangeKind::Modified, "m.py#A.f".to_string()),
                (ChangeKind::Removed, "m.py#gone".to_string()),
                (ChangeKind::Added, "m.py#fresh".to_string()),
            ]
        );
    }

    #[test]
    fn a_containers_own_lines_count_for_it() {
        let old = "class A:\n    x = 1\n\n    def f(self):\n        return 1\n";
        let new = "class A(Base):\n    x = 2\n\n    def f(self):\n        return 1\n";
        let changes = diff(old, new, Some(vec![(1, 2)]));
        assert_eq!(changes, vec![(ChangeKind::Modified, "m.py#A".to_string())]);
    }

    #[test]
    fn tests_by_path_or_name() {
        assert!(is_test("tests/test_store.py", "test_get"));
        assert!(is_test("pkg/store_test.go", "TestGet"));
        assert!(is_test("src/a.spec.ts", "works"));
        assert!(is_test("src/main/StoreTest.java", "get"));
        assert!(is_test("app/store.py", "StoreCase.test_get"));
        assert!(!is_test("app/store.py", "Store.get"));
        assert!(!is_test("src/contest.rs", "latest"));
    }

    #[test]
    fn line_counts_with_and_without_a_final_newline() {
        assert_eq!(line_count(b""), 0);
        assert_eq!(line_count(b"a\nb\n"), 2);
        assert_eq!(line_count(b"a\nb"), 2);
    }
}
