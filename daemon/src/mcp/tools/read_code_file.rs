//! `read_code_file(file_path, start_line?, end_line?)`: a file from a registered root, with
//! numbered lines. Refuses anything outside the roots (symlinks are resolved first), missing
//! files, directories, binary files and files over the size limit.

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{ToolContext, ToolError, ToolResult, describe};
use crate::files::ReadError;
use crate::indexer::{BINARY_SNIFF_LEN, language};

/// Lines returned by one call at most; ask for a range to read further.
const MAX_LINES: usize = 2000;

/// Parameters of `read_code_file`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// File to read: absolute, or relative to an indexed codebase root.
    pub file_path: String,
    /// First line to return (1-based, inclusive; default 1).
    #[serde(default)]
    pub start_line: Option<u32>,
    /// Last line to return (inclusive; default: the end, at most 2000 lines per call).
    #[serde(default)]
    pub end_line: Option<u32>,
}

/// The tool's description.
pub fn tool() -> rmcp::model::Tool {
    describe::<Params>(
        "read_code_file",
        "Read a file from an indexed codebase, with line numbers. Give start_line/end_line to \
         read part of a long file (at most 2000 lines per call). Only files inside indexed \
         codebases can be read.",
        true,
    )
}

/// Runs the tool.
pub async fn call(ctx: &ToolContext, params: Params) -> ToolResult {
    let requested = std::path::PathBuf::from(params.file_path.trim());
    if requested.as_os_str().is_empty() {
        return Err(ToolError::Failed("file_path is empty".into()));
    }
    let (root, relative) = ctx.engine.locate(&requested)?;
    if relative.is_empty() {
        return Err(ToolError::Failed(format!(
            "{} is the codebase root, not a file",
            root.path.display()
        )));
    }
    let absolute = root.path.join(&relative);
    let max_size = ctx.engine.config().index.max_file_size;
    let describe_path = format!("{relative} (in {})", root.path.display());
    // Off the async threads: a slow disk must not hold up other clients.
    let read = tokio::task::spawn_blocking(move || crate::files::read_regular(&absolute, max_size))
        .await
        .map_err(|err| ToolError::Failed(format!("internal error while reading: {err}")))?;
    let content = read.map_err(|err| match err {
        ReadError::NotFound => ToolError::Failed(format!(
            "file not found: {describe_path}; use search_codebase to find the right path"
        )),
        ReadError::NotRegular(kind) => ToolError::Failed(format!(
            "{describe_path} is {kind}, not a regular file; only files can be read"
        )),
        ReadError::TooLarge { size, limit } => ToolError::Failed(format!(
            "{describe_path} is {size} bytes, over the {limit}-byte limit for reading; search \
             it with search_codebase instead"
        )),
        ReadError::Io(err) => ToolError::Failed(format!("cannot read {describe_path}: {err}")),
    })?;
    if memchr::memchr(0, &content[..content.len().min(BINARY_SNIFF_LEN)]).is_some() {
        return Err(ToolError::Failed(format!(
            "{describe_path} is a binary file; only text files can be read"
        )));
    }
    let text = String::from_utf8_lossy(&content);
    let lines: Vec<&str> = text.lines().collect();
    let total = lines.len();

    let start = params.start_line.unwrap_or(1).max(1) as usize;
    if let Some(end) = params.end_line
        && (end as usize) < start
    {
        return Err(ToolError::Failed(format!(
            "end_line {end} is before start_line {start}"
        )));
    }
    if start > total.max(1) {
        return Err(ToolError::Failed(format!(
            "start_line {start} is past the end of {describe_path}, which has {total} lines"
        )));
    }
    let wanted_end = params
        .end_line
        .map_or(total, |end| (end as usize).min(total));
    let end = wanted_end.min(start + MAX_LINES - 1);
    let width = end.max(1).to_string().len();
    let mut numbered = String::new();
    for (index, line) in lines.iter().enumerate().take(end).skip(start - 1) {
        let _ = writeln!(numbered, "{:>width$} | {line}", index + 1);
    }

    let mut object = serde_json::Map::new();
    object.insert("file_path".into(), relative.clone().into());
    object.insert("root".into(), root.path.display().to_string().into());
    object.insert(
        "language".into(),
        language::detect(&relative, &content).name.into(),
    );
    object.insert("total_lines".into(), total.into());
    object.insert("start_line".into(), start.into());
    object.insert("end_line".into(), end.into());
    object.insert("content".into(), numbered.into());
    if end < wanted_end {
        object.insert(
            "note".into(),
            format!(
                "showing lines {start}-{end} of {total} ({MAX_LINES} lines per call); call again \
                 with start_line {} to continue",
                end + 1
            )
            .into(),
        );
    }
    Ok(object)
}
