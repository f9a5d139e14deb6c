//! `count_lines_of_code(codebase_path?)`: files, code, comment and blank lines per language,
//! from the line counts recorded at indexing time (no file is read).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::page::Extent;
use super::{Answer, Ctx, Limits, PageArgs, QueryResult};
use crate::store::LineCounts;

/// Parameters of `count_lines_of_code`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Indexed codebase (or a directory inside one). Defaults to the client's workspace root.
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// Paging: `max_results` counts languages.
    #[serde(flatten)]
    pub page: PageArgs,
}

/// Line counts of a set of files.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Counts {
    /// Files.
    pub files: u64,
    /// Lines.
    pub lines: u64,
    /// Lines holding code.
    pub code: u64,
    /// Lines holding only comments.
    pub comment: u64,
    /// Empty lines.
    pub blank: u64,
}

impl Counts {
    fn add(&mut self, lines: &LineCounts) {
        self.files += 1;
        self.lines += u64::from(lines.total);
        self.code += u64::from(lines.code);
        self.comment += u64::from(lines.comment);
        self.blank += u64::from(lines.blank);
    }
}

/// One language's counts.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LanguageCounts {
    /// The language.
    pub language: String,
    /// Its counts.
    #[serde(flatten)]
    pub counts: Counts,
}

/// Line counts of a codebase.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The codebase (or directory) counted.
    pub root: String,
    /// All files together.
    pub total: Counts,
    /// Languages, most code first.
    pub languages: Vec<LanguageCounts>,
    /// The index reflected every change made before this moment (ms since the Unix epoch).
    pub fresh_as_of_ms: u64,
    /// How the root is kept fresh.
    pub watch: String,
}

/// Languages per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "languages",
        default: 100,
        max: 1000,
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.page, limits(ctx.engine.config()))?;
    let scope = ctx.root_scope(params.codebase_path.as_deref())?;
    let on = ctx
        .on_root(&scope, "files", |scope| {
            let prefix = (!scope.prefix.is_empty()).then(|| format!("{}/", scope.prefix));
            let mut total = Counts::default();
            let mut by_language: BTreeMap<String, Counts> = BTreeMap::new();
            for (path, record) in scope.view.snapshot.files(scope.root_id)? {
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
            Ok((total, by_language))
        })
        .await?;
    let (total, by_language) = on.value;
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
    let base = Answer::new(()).with_notes(on.notes).at_generation(on.generation);
    let root = scope.display();
    let freshness = on.freshness;
    pager.answer(base, languages, Extent::Complete, |page| Output {
        root: root.clone(),
        total: total.clone(),
        languages: page,
        fresh_as_of_ms: freshness.fresh_as_of_ms,
        watch: freshness.watch.to_string(),
    })
}
