//! Retrieval units for semantic search: every indexed file cut at symbol granularity.
//!
//! One chunk per function or method (its whole definition, decorators and attributes above it
//! included), one per class, struct, impl, trait or other container (its header, up to its
//! first member; all of it when it has none), one per other top-level definition, and line
//! windows for what no symbol covers (Markdown, configuration, top-level script code). Each
//! chunk has the text fields a lexical retriever weighs apart: name, signature, doc comment
//! and body. Chunks are a function of a file's content and its parsed structure only, so they
//! are computed once per content, like symbols.

pub mod terms;

use serde::{Deserialize, Serialize};

use crate::indexer::language::Language;
use crate::symbols::{FileSymbols, SymbolKind};

/// Lines per window where no symbol covers a region.
pub const WINDOW_LINES: usize = 30;

/// What a chunk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChunkKind {
    /// A definition (its kind is the symbol's).
    Symbol(SymbolKind),
    /// A window of lines no definition covers.
    Window,
}

impl ChunkKind {
    /// Lower-case name, as answers show it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChunkKind::Symbol(kind) => kind.as_str(),
            ChunkKind::Window => "lines",
        }
    }
}

/// One retrieval unit of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// First line (1-based).
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
    /// What it is.
    pub kind: ChunkKind,
    /// `Class.method` style name of its definition (none for windows).
    pub name: Option<String>,
    /// Index of its definition in the file's symbol list.
    pub symbol: Option<u32>,
}

/// The text fields of a chunk, weighed apart by the lexical retriever.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    /// The definition's name and those of its containers.
    pub name: String,
    /// The definition's first line.
    pub signature: String,
    /// Its doc comment or docstring.
    pub doc: String,
    /// All of its lines.
    pub body: String,
}

/// Field order everywhere: name, signature, doc, body.
pub const FIELDS: usize = 4;

/// The chunks of a file with `content` in `language`, from its parsed `symbols` (none for a
/// language without a grammar, or a file too large to parse: then windows only), each with
/// its text fields.
pub fn split(
    content: &[u8],
    language: &Language,
    symbols: Option<&FileSymbols>,
) -> Vec<(Chunk, Fields)> {
    let text = String::from_utf8_lossy(content);
    let lines: Vec<&str> = text.lines().collect();
    let line_count = lines.len() as u32;
    let mut covered = vec![false; lines.len()];
    let mut chunks: Vec<(Chunk, Fields)> = Vec::new();
    if let Some(symbols) = symbols {
        let names = crate::symbols::ids::qualified_names(symbols);
        for (index, symbol) in symbols.symbols.iter().enumerate() {
            if symbol.start_line == 0 || symbol.start_line > line_count {
                continue;
            }
            let end = symbol.end_line.clamp(symbol.start_line, line_count);
            // Stored structures are not trusted: a member said to start past the end of the
            // file does not shorten its container.
            let first_child = symbols
                .symbols
                .iter()
                .filter(|child| child.parent == Some(index as u32))
                .map(|child| child.start_line)
                .filter(|&line| line <= line_count)
                .min();
            let end = match (symbol.kind.is_callable(), first_child) {
                // A container's header: up to its first member (and that member's decorators).
                (false, Some(child)) if child > symbol.start_line => {
                    leading_annotations(&lines, child)
                        .saturating_sub(1)
                        .max(symbol.start_line)
                }
                _ => end,
            };
            // Nested definitions (a function inside a function) are chunks of their own but
            // are already inside their parent's text.
            let start = leading_annotations(&lines, symbol.start_line);
            // The doc comment above belongs to the chunk too (a window holding only it would
            // answer questions in its definition's place).
            let start = leading_annotations(&lines, doc_start(&lines, language, start));
            for line in start..=end {
                covered[(line - 1) as usize] = true;
            }
            let body = lines[(start - 1) as usize..end as usize].join("\n");
            let fields = Fields {
                name: names.get(index).cloned().unwrap_or_default(),
                signature: symbol.signature.clone(),
                doc: doc_text(&lines, language, start, symbol.start_line, end),
                body,
            };
            chunks.push((
                Chunk {
                    start_line: start,
                    end_line: end,
                    kind: ChunkKind::Symbol(symbol.kind),
                    name: names.get(index).cloned(),
                    symbol: Some(index as u32),
                },
                fields,
            ));
        }
    }
    chunks.extend(windows(&lines, &covered, language));
    chunks.sort_by_key(|(chunk, _)| (chunk.start_line, std::cmp::Reverse(chunk.end_line)));
    chunks
}

/// The first line of a definition with the decorators or attributes just above it
/// (`@retry(3)`, `#[derive(..)]`).
fn leading_annotations(lines: &[&str], start_line: u32) -> u32 {
    let mut start = start_line;
    while start > 1 {
        let above = lines[(start - 2) as usize].trim_start();
        if above.starts_with('@') || above.starts_with("#[") {
            start -= 1;
        } else {
            break;
        }
    }
    start
}

/// The first line of the comment block right above line `start` (`start` if there is none).
fn doc_start(lines: &[&str], language: &Language, start: u32) -> u32 {
    let mut above = start;
    while above > 1 && is_comment(lines[(above - 2) as usize], language) {
        above -= 1;
    }
    above
}

fn is_comment(line: &str, language: &Language) -> bool {
    let line = line.trim_start();
    language
        .line_comments
        .iter()
        .any(|token| line.starts_with(token))
        || language
            .block_comments
            .iter()
            .any(|(open, _)| line.starts_with(open))
        || (line.starts_with('*') && !language.block_comments.is_empty())
}

/// The doc of a definition: the comment lines right above it, and a docstring right after
/// its first line (Python's triple-quoted strings).
fn doc_text(lines: &[&str], language: &Language, start: u32, definition: u32, end: u32) -> String {
    let mut doc: Vec<&str> = Vec::new();
    // Comment lines from the chunk's start down to the definition (decorators skipped).
    doc.extend(
        lines[(start - 1) as usize..(definition - 1) as usize]
            .iter()
            .filter(|line| is_comment(line, language)),
    );
    // A docstring: the first statement after the definition's first line.
    let after = definition as usize;
    if let Some(first) = lines.get(after).map(|line| line.trim_start())
        && (first.starts_with("\"\"\"") || first.starts_with("'''"))
        && after < end as usize
    {
        let quote = &first[..3];
        let rest = &first[3..];
        doc.push(first);
        if !rest.contains(quote) {
            for line in &lines[after + 1..(end as usize).min(lines.len())] {
                doc.push(line);
                if line.contains(quote) {
                    break;
                }
            }
        }
    }
    doc.join("\n")
}

/// Windows over the lines no definition covers: at most [`WINDOW_LINES`] each, Markdown
/// windows starting at its headings, windows of blank lines dropped.
fn windows(lines: &[&str], covered: &[bool], language: &Language) -> Vec<(Chunk, Fields)> {
    let markdown = language.name == "Markdown";
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let flush = |from: usize, to: usize, out: &mut Vec<(Chunk, Fields)>| {
        let text = lines[from..to].join("\n");
        if !text.chars().any(char::is_alphanumeric) {
            return;
        }
        let heading = lines[from..to]
            .iter()
            .find(|line| markdown && line.starts_with('#'))
            .map(|line| line.trim_start_matches('#').trim().to_string());
        out.push((
            Chunk {
                start_line: from as u32 + 1,
                end_line: to as u32,
                kind: ChunkKind::Window,
                name: None,
                symbol: None,
            },
            Fields {
                name: heading.unwrap_or_default(),
                body: text,
                ..Fields::default()
            },
        ));
    };
    for (index, line) in lines.iter().enumerate() {
        if covered[index] {
            if let Some(from) = start.take() {
                flush(from, index, &mut out);
            }
            continue;
        }
        match start {
            None => start = Some(index),
            Some(from) => {
                let full = index - from >= WINDOW_LINES;
                let heading = markdown && line.starts_with('#');
                if full || heading {
                    flush(from, index, &mut out);
                    start = Some(index);
                }
            }
        }
    }
    if let Some(from) = start {
        flush(from, lines.len(), &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indexer::language;

    fn chunks_of(path: &str, source: &str) -> Vec<(Chunk, Fields)> {
        let language = language::detect(path, source.as_bytes());
        let symbols = crate::symbols::extract(language.name, source.as_bytes());
        split(source.as_bytes(), language, symbols.as_ref())
    }

    #[test]
    fn functions_classes_and_the_rest_become_chunks() {
        let source = "import os\n\nTIMEOUT = 3\n\n\nclass Client:\n    \"\"\"Talks to the server.\"\"\"\n\n    retries = 3\n\n    @retry(3)\n    def fetch(self, url):\n        \"\"\"Fetch a URL, retrying failures.\"\"\"\n        return os.get(url)\n\n\n# Runs the client.\ndef main():\n    Client().fetch('x')\n\n\nmain()\nprint('done')\n";
        let chunks = chunks_of("client.py", source);
        let summary: Vec<(u32, u32, &str, Option<&str>)> = chunks
            .iter()
            .map(|(chunk, _)| {
                (
                    chunk.start_line,
                    chunk.end_line,
                    chunk.kind.as_str(),
                    chunk.name.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (1, 2, "lines", None),
                (3, 3, "constant", Some("TIMEOUT")),
                // The class up to its first member (whose decorator belongs to the member).
                (6, 10, "class", Some("Client")),
                (11, 14, "method", Some("Client.fetch")),
                (17, 19, "function", Some("main")),
                (20, 23, "lines", None),
            ]
        );
        let fetch = &chunks
            .iter()
            .find(|(c, _)| c.name.as_deref() == Some("Client.fetch"))
            .unwrap()
            .1;
        assert_eq!(fetch.signature, "def fetch(self, url):");
        assert!(fetch.doc.contains("retrying failures"), "{fetch:?}");
        assert!(
            fetch.body.starts_with("    @retry(3)"),
            "decorators are part of the chunk"
        );
        let main = &chunks
            .iter()
            .find(|(c, _)| c.name.as_deref() == Some("main"))
            .unwrap()
            .1;
        assert_eq!(main.doc, "# Runs the client.");
        // Top-level script code after the last definition is a window.
        assert!(
            chunks
                .iter()
                .any(|(c, f)| c.kind == ChunkKind::Window && f.body.contains("print('done')"))
        );
    }

    #[test]
    fn files_without_symbols_become_windows_markdown_at_its_headings() {
        let mut source = String::from("# Title\n\nIntro text.\n\n## Install\n\nRun it.\n");
        for line in 0..70 {
            source.push_str(&format!("line {line} of a long section\n"));
        }
        let chunks = chunks_of("README.md", &source);
        assert_eq!(chunks[0].0.start_line, 1);
        assert_eq!(chunks[0].1.name, "Title");
        assert_eq!(chunks[1].0.start_line, 5, "a heading starts a window");
        assert_eq!(chunks[1].1.name, "Install");
        assert!(
            chunks
                .iter()
                .all(|(c, _)| c.end_line - c.start_line < WINDOW_LINES as u32)
        );
        let last = chunks.last().unwrap();
        assert_eq!(last.0.end_line as usize, source.lines().count());
        assert!(chunks.iter().all(|(c, _)| c.kind == ChunkKind::Window));
    }
}
