//! `read_code_file(file_path, start_line?, end_line?, symbol?)`: a file from a registered
//! root, or the slice of it a line range or a symbol covers, with numbered lines. Refuses
//! anything outside the roots (symlinks are resolved first), missing files, directories,
//! named pipes and other special files, binary files and files over the size limit. Lines
//! are shown with their secrets withheld unless `security.serve_secrets` is set.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::page::Extent;
use super::scope::RootScope;
use super::{Answer, Ctx, Limits, PageArgs, QueryError, QueryResult};
use crate::files::ReadError;
use crate::indexer::{BINARY_SNIFF_LEN, language};
use crate::redact::Redactor;
use crate::structure::StructureError;
use crate::symbols::FileSymbols;
use crate::symbols::ids::{self, SymbolId};
use codesage_shared::words::Words;

/// Lines longer than this are shortened in answers to agents (minified code).
const MAX_LINE_CHARS: usize = 2000;

/// Parameters of `read_code_file`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// File to read: absolute, or relative to an indexed codebase root. May be omitted when
    /// `symbol` is a symbol id (`path#Class.method`), which names its file.
    #[serde(default)]
    pub file_path: Option<String>,
    /// First line to return (1-based, inclusive; default 1).
    #[serde(default)]
    pub start_line: Option<u32>,
    /// Last line to return (inclusive; default: the end).
    #[serde(default)]
    pub end_line: Option<u32>,
    /// Return just this symbol's lines: a symbol id from an outline or a search result
    /// (`src/store.py#Store.get`), or a name defined in `file_path` (`get`, `Store.get`).
    #[serde(default)]
    pub symbol: Option<String>,
    /// Indexed codebase a relative file_path is taken from.
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// Paging: `max_results` counts lines.
    #[serde(flatten)]
    pub page: PageArgs,
}

/// The symbol a slice was cut to.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SymbolSlice {
    /// Its id.
    pub symbol_id: String,
    /// `Class.method` style name.
    pub qualified_name: String,
    /// What it is.
    pub kind: String,
    /// Its first line.
    pub start_line: u32,
    /// Its last line.
    pub end_line: u32,
}

/// A file's lines.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// Path relative to the root.
    pub file_path: String,
    /// The root.
    pub root: String,
    /// Detected language.
    pub language: String,
    /// Lines in the file.
    pub total_lines: usize,
    /// First line shown.
    pub start_line: usize,
    /// Last line shown.
    pub end_line: usize,
    /// The lines, each as `number | text`.
    pub content: String,
    /// The symbol the slice is cut to, when one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<SymbolSlice>,
}

/// Lines per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "lines",
        default: 2000,
        max: 5000,
    }
}

/// What the blocking part found.
struct Read {
    language: String,
    lines: Vec<String>,
    slice: Option<SymbolSlice>,
    /// Numbers of the lines shown with a secret withheld.
    redacted: Vec<usize>,
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.page, limits(ctx.engine.config()))?;
    let words = ctx.words();
    let symbol = params
        .symbol
        .as_deref()
        .map(str::trim)
        .filter(|symbol| !symbol.is_empty())
        .map(String::from);
    if symbol.is_some() && (params.start_line.is_some() || params.end_line.is_some()) {
        return Err(QueryError::Failed(format!(
            "give either {} or {}/{}, not both",
            words.param("symbol"),
            words.param("start_line"),
            words.param("end_line")
        )));
    }
    let id = symbol.as_deref().and_then(SymbolId::parse);
    let file_path = match (params.file_path.as_deref().map(str::trim), &id) {
        (Some(path), _) if !path.is_empty() => path.to_string(),
        (_, Some(id)) => id.path.clone(),
        _ => {
            return Err(QueryError::Failed(format!(
                "{} is empty; give the file to read (or a symbol id such as \
                 src/app.py#Service.handle)",
                words.param("file_path")
            )));
        }
    };
    let (root, relative) = ctx.file_scope(params.codebase_path.as_deref(), &file_path)?;
    if let Some(id) = &id
        && id.path != relative
    {
        return Err(QueryError::Failed(format!(
            "symbol id {} names {}, not {relative}",
            symbol.as_deref().unwrap_or_default(),
            id.path
        )));
    }
    let max_size = ctx.engine.config().index.max_file_size;
    let serve_secrets = ctx.engine.config().security.serve_secrets;
    let shown = format!("{relative} (in {})", root.path.display());
    let scope = RootScope::whole(Arc::clone(&root));
    let wanted_symbol = symbol.clone();
    let task_relative = relative.clone();
    let on = ctx
        .on_root(&scope, "files", move |scope| {
            let wanted = Wanted {
                symbol: wanted_symbol.as_deref(),
                id: id.as_ref(),
            };
            read(scope, &task_relative, max_size, wanted, serve_secrets, words)
        })
        .await?;
    let Read {
        language,
        lines,
        slice,
        redacted,
    } = on.value;
    let total = lines.len();
    let (start, end) = match &slice {
        Some(slice) => (slice.start_line as usize, slice.end_line as usize),
        None => {
            let start = params.start_line.unwrap_or(1).max(1) as usize;
            if let Some(end) = params.end_line
                && (end as usize) < start
            {
                return Err(QueryError::Failed(format!(
                    "{} {end} is before {} {start}",
                    words.param("end_line"),
                    words.param("start_line")
                )));
            }
            if start > total.max(1) {
                return Err(QueryError::Failed(format!(
                    "{} {start} is past the end of {shown}, which has {total} lines",
                    words.param("start_line")
                )));
            }
            (start, params.end_line.map_or(total, |end| (end as usize).min(total)))
        }
    };
    let end = end.min(total);
    let mut long_lines = 0;
    let numbered: Vec<(usize, String)> = (start..=end)
        .filter_map(|number| {
            let line = lines.get(number - 1)?;
            // An agent gets a readable slice of a minified line, not megabytes of it.
            if ctx.caller.bounded && line.chars().count() > MAX_LINE_CHARS {
                long_lines += 1;
                let cut: String = line.chars().take(MAX_LINE_CHARS).collect();
                let rest = line.chars().count() - MAX_LINE_CHARS;
                return Some((number, format!("{cut} …[{rest} more characters]")));
            }
            Some((number, line.clone()))
        })
        .collect();
    let width = end.max(1).to_string().len();
    let mut base = Answer::new(()).with_notes(on.notes).at_generation(on.generation);
    let withheld = redacted
        .iter()
        .filter(|number| (start..=end).contains(*number))
        .count();
    if withheld > 0 {
        base.notes.push(super::redaction_note(withheld as u64));
    }
    if long_lines > 0 {
        base.notes.push(format!(
            "{long_lines} line(s) longer than {MAX_LINE_CHARS} characters are shortened; use \
             {} to find text in them",
            words.tool("search_codebase")
        ));
    }
    let root_text = root.path.display().to_string();
    pager.answer(base, numbered, Extent::Complete, |page| {
        let mut content = String::new();
        for (number, line) in &page {
            let _ = writeln!(content, "{number:>width$} | {line}");
        }
        Output {
            file_path: relative.clone(),
            root: root_text.clone(),
            language: language.clone(),
            total_lines: total,
            start_line: page.first().map_or(start, |(number, _)| *number),
            end_line: page.last().map_or(end, |(number, _)| *number),
            content,
            symbol: slice.clone(),
        }
    })
}

/// The symbol a read is cut to: as given, and parsed when it is an id.
struct Wanted<'a> {
    symbol: Option<&'a str>,
    id: Option<&'a SymbolId>,
}

/// Reads the file as it is on disk and, when a symbol is asked for, finds its lines in the
/// structure of exactly that content.
fn read(
    scope: &crate::structure::Scope<'_>,
    relative: &str,
    max_size: u64,
    wanted: Wanted<'_>,
    serve_secrets: bool,
    words: Words,
) -> Result<Read, StructureError> {
    let shown = format!("{relative} (in {})", scope.root_path.display());
    let content = crate::files::read_regular(&scope.root_path.join(relative), max_size).map_err(
        |err| {
            StructureError::InvalidArgument(match err {
                ReadError::NotFound => format!(
                    "file not found: {shown}; use {} to find the right path",
                    words.tool("search_codebase")
                ),
                ReadError::NotRegular(kind) => {
                    format!("{shown} is {kind}, not a regular file; only files can be read")
                }
                ReadError::TooLarge { size, limit } => format!(
                    "{shown} is {size} bytes, over the {limit}-byte limit for reading; search it \
                     with {} instead",
                    words.tool("search_codebase")
                ),
                ReadError::Io(err) => format!("cannot read {shown}: {err}"),
            })
        },
    )?;
    if memchr::memchr(0, &content[..content.len().min(BINARY_SNIFF_LEN)]).is_some() {
        return Err(StructureError::InvalidArgument(format!(
            "{shown} is a binary file; only text files can be read"
        )));
    }
    let language = language::detect(relative, &content).name;
    let slice = match wanted.symbol {
        None => None,
        Some(symbol) => {
            let symbols = structure_of(scope, relative, language, &content)?;
            Some(find_symbol(&symbols, relative, symbol, wanted.id, &shown, words)?)
        }
    };
    let text = String::from_utf8_lossy(&content);
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut redacted = Vec::new();
    if let Some(redactor) = Redactor::for_file(relative, serve_secrets) {
        for (index, line) in lines.iter_mut().enumerate() {
            if let Cow::Owned(shown) = redactor.line(line) {
                *line = shown;
            }
            if crate::redact::withheld(line) {
                redacted.push(index + 1);
            }
        }
    }
    Ok(Read {
        language: language.to_string(),
        lines,
        slice,
        redacted,
    })
}

/// The structure of `content`: the stored one when the index holds exactly this content,
/// else parsed now.
fn structure_of(
    scope: &crate::structure::Scope<'_>,
    relative: &str,
    language: &'static str,
    content: &[u8],
) -> Result<FileSymbols, StructureError> {
    scope.require_symbols()?;
    let hash = *blake3::hash(content).as_bytes();
    if let Some(record) = scope.view.snapshot.file(scope.root_id, relative)?
        && record.hash == hash
        && let Some(symbols) = scope.view.snapshot.symbols(&hash)?
    {
        return Ok(symbols);
    }
    crate::symbols::extract(language, content).ok_or_else(|| StructureError::NoGrammar {
        path: relative.to_string(),
        language: language.to_string(),
        supported: crate::structure::supported_languages(),
    })
}

/// The symbol `wanted` (an id, or a name defined in the file) and its lines.
fn find_symbol(
    symbols: &FileSymbols,
    relative: &str,
    wanted: &str,
    id: Option<&SymbolId>,
    shown: &str,
    words: Words,
) -> Result<SymbolSlice, StructureError> {
    let names = ids::qualified_names(symbols);
    let all_ids = ids::assign(relative, &names);
    let index = match id {
        Some(_) => all_ids.iter().position(|candidate| candidate == wanted.trim()),
        None => names
            .iter()
            .position(|name| name == wanted)
            .or_else(|| {
                symbols
                    .symbols
                    .iter()
                    .position(|symbol| symbol.name == wanted)
            }),
    };
    let Some(index) = index else {
        let listed: Vec<&str> = all_ids.iter().take(30).map(String::as_str).collect();
        return Err(StructureError::InvalidArgument(format!(
            "{shown} has no symbol {wanted:?} (ids change when a symbol is renamed or moved; \
             {} lists the current ones){}",
            words.tool("get_file_structure"),
            if listed.is_empty() {
                String::new()
            } else {
                format!("; it defines: {}", listed.join(", "))
            }
        )));
    };
    let symbol = &symbols.symbols[index];
    Ok(SymbolSlice {
        symbol_id: all_ids[index].clone(),
        qualified_name: names[index].clone(),
        kind: symbol.kind.as_str().to_string(),
        start_line: symbol.start_line,
        end_line: symbol.end_line,
    })
}
