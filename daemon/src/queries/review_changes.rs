//! `review_changes(codebase_path, since?, staged?)`: a pre-commit report on the change only —
//! code it copied, functions it pushed past a health threshold, public functions it added
//! undocumented, TODO/FIXME markers it added, changed functions whose tests it did not touch
//! or that no test calls — each with a place, a severity and a one-line why.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::changed_symbols::{BaseOut, ChangeArgs, change_notes};
use super::page::Extent;
use super::{Answer, Ctx, Limits, PageArgs, QueryResult};
use crate::changes::review::{self, ReviewFinding, Severity};
use crate::changes::{self, FileSummary};

/// Parameters of `review_changes`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Which codebase and which change.
    #[serde(flatten)]
    pub change: ChangeArgs,
    /// Paging: `max_results` counts findings (the totals count all).
    #[serde(flatten)]
    pub page: PageArgs,
}

/// The review.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The codebase.
    pub root: String,
    /// What the change is compared with.
    pub base: BaseOut,
    /// `clean` (no warning) or `needs_attention` (at least one warning).
    pub verdict: &'static str,
    /// Findings: warnings first, then by file and line.
    pub findings: Vec<ReviewFinding>,
    /// Findings in all.
    pub total: usize,
    /// Findings per severity.
    pub by_severity: BTreeMap<String, usize>,
    /// Findings per category.
    pub by_category: BTreeMap<String, usize>,
    /// Changed files, in path order.
    pub files: Vec<FileSummary>,
    /// Symbols per change (`added`, `modified`, `removed`).
    pub symbols: BTreeMap<String, usize>,
    /// Changed functions that tests call, with at least one of those tests changed too.
    pub tested_and_touched: usize,
    /// The thresholds used (`[health]` in the configuration).
    pub thresholds: BTreeMap<String, u32>,
}

/// Findings per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "findings",
        default: 50,
        max: 2000,
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.page, limits(ctx.engine.config()))?;
    let scope = ctx.root_scope(params.change.codebase_path.as_deref())?;
    let args = params.change.clone();
    let engine = std::sync::Arc::clone(&ctx.engine);
    let on = ctx
        .on_root(&scope, "files", move |scope| {
            let change = changes::collect(scope, args.since.as_deref(), args.staged)?;
            let review = review::review(scope, &change, engine.health(), &engine.config().health)?;
            Ok((change, review))
        })
        .await?;
    let (change, review) = on.value;
    // The clone question is the default one: keep it warm for the next review.
    ctx.engine
        .health()
        .warm()
        .remember(crate::health::improvements::clone_question(
            &scope.root.path,
            &ctx.engine.config().health,
        ));
    let mut notes = on.notes;
    notes.extend(change_notes(&change));
    if change.base.staged {
        notes.push("clones are looked for in the indexed working tree, which may differ from the staged side".into());
    }
    if review.pending > 0 {
        notes.push(format!(
            "{} code files have no parsed structure yet; clones of them are not looked for",
            review.pending
        ));
    }
    let mut by_severity: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_category: BTreeMap<String, usize> = BTreeMap::new();
    for finding in &review.findings {
        let severity = match finding.severity {
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        *by_severity.entry(severity.to_string()).or_default() += 1;
        *by_category.entry(finding.category.to_string()).or_default() += 1;
    }
    let verdict = if by_severity.contains_key("warning") {
        "needs_attention"
    } else {
        "clean"
    };
    let mut symbols: BTreeMap<String, usize> = BTreeMap::new();
    for (_, symbol, _) in change.symbols() {
        *symbols.entry(symbol.change.as_str().to_string()).or_default() += 1;
    }
    let health = &ctx.engine.config().health;
    let thresholds: BTreeMap<String, u32> = [
        ("max_complexity", health.max_complexity),
        ("max_function_lines", health.max_function_lines),
        ("max_nesting", health.max_nesting),
        ("max_parameters", health.max_parameters),
        ("min_clone_lines", health.min_clone_lines),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect();
    let files: Vec<FileSummary> = change.files.iter().map(|file| file.summary()).collect();
    let mut base = Answer::new(()).with_notes(notes).at_generation(on.generation);
    base.partial = on.stopped.is_some();
    let total = review.findings.len();
    let root = scope.display();
    let base_out = BaseOut::of(&change);
    pager.answer(base, review.findings, Extent::Counted(total), |page| Output {
        root: root.clone(),
        base: base_out.clone(),
        verdict,
        findings: page,
        total,
        by_severity: by_severity.clone(),
        by_category: by_category.clone(),
        files: files.clone(),
        symbols: symbols.clone(),
        tested_and_touched: review.tested_and_touched,
        thresholds: thresholds.clone(),
    })
}
