//! `count_lines_of_code(codebase_path?)`: files, code, comment and blank lines per language,
//! from the line counts recorded at indexing time (no file is read).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ToolContext, ToolResult, describe, resolve_argument_path, to_object};
use crate::store::StoreError;

/// Parameters of `count_lines_of_code`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Indexed codebase (or a directory inside one). Defaults to the client's workspace root.
    #[serde(default)]
    pub codebase_path: Option<String>,
}

/// The tool's description.
pub fn tool() -> rmcp::model::Tool {
    describe::<Params>(
        "count_lines_of_code",
        "Count files and lines of code, comments and blank lines per language in an indexed \
         codebase.",
        true,
    )
}

#[derive(Debug, Default, Serialize)]
struct Counts {
    files: u64,
    lines: u64,
    code: u64,
    comment: u64,
    blank: u64,
}

impl Counts {
    fn add(&mut self, lines: &crate::store::LineCounts) {
        self.files += 1;
        self.lines += u64::from(lines.total);
        self.code += u64::from(lines.code);
        self.comment += u64::from(lines.comment);
        self.blank += u64::from(lines.blank);
    }
}

#[derive(Debug, Serialize)]
struct Report {
    root: String,
    total: Counts,
    /// Languages, most code first.
    languages: Vec<LanguageCounts>,
}

#[derive(Debug, Serialize)]
struct LanguageCounts {
    language: String,
    #[serde(flatten)]
    counts: Counts,
}

/// Runs the tool.
pub async fn call(ctx: &ToolContext, params: Params) -> ToolResult {
    let explicit = params
        .codebase_path
        .as_deref()
        .map(|path| resolve_argument_path(ctx, path))
        .transpose()?;
    let (root, prefix) = ctx.engine.scope(explicit.as_deref(), &ctx.client_roots)?;
    let prefix = (!prefix.is_empty()).then(|| format!("{prefix}/"));
    let freshness = ctx.engine.sync_root(&root).await;
    let files = ctx
        .engine
        .store()
        .files(root.id)
        .map_err(|err: StoreError| super::ToolError::Failed(err.to_string()))?;

    let mut total = Counts::default();
    let mut by_language: BTreeMap<String, Counts> = BTreeMap::new();
    for (path, record) in &files {
        if record.skipped.is_some()
            || prefix
                .as_ref()
                .is_some_and(|prefix| !path.starts_with(prefix.as_str()))
        {
            continue;
        }
        total.add(&record.lines);
        by_language
            .entry(record.language.clone())
            .or_default()
            .add(&record.lines);
    }
    let mut languages: Vec<LanguageCounts> = by_language
        .into_iter()
        .map(|(language, counts)| LanguageCounts { language, counts })
        .collect();
    languages.sort_by(|a, b| {
        b.counts
            .code
            .cmp(&a.counts.code)
            .then_with(|| a.language.cmp(&b.language))
    });
    let mut root_text = root.path.display().to_string();
    if let Some(prefix) = &prefix {
        root_text = format!("{root_text}/{}", prefix.trim_end_matches('/'));
    }
    let mut object = to_object(&Report {
        root: root_text,
        total,
        languages,
    })?;
    object.insert("index_generation".into(), freshness.index_generation.into());
    object.insert("fresh_as_of_ms".into(), freshness.fresh_as_of_ms.into());
    object.insert("watch".into(), freshness.watch.into());
    if let Some(note) = crate::engine::freshness_note(&root, &freshness) {
        object.insert("freshness_note".into(), note.into());
    }
    if let Some(job) = root.running_job() {
        let progress = job.snapshot();
        object.insert(
            "note".into(),
            format!(
                "indexing is still running ({} files done): counts are partial",
                progress.files_done
            )
            .into(),
        );
    }
    Ok(object)
}
