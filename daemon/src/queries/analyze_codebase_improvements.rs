//! `analyze_codebase_improvements(codebase_path)`: what to improve in a codebase, ranked by
//! impact: complex, long and deeply nested functions, long parameter lists, the largest
//! clone classes, undocumented public functions, TODO/FIXME density, very large files and
//! dependencies declared but unused or declared twice; each finding with its place, measure,
//! threshold (`[health]` in the configuration) and why it matters.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::page::Extent;
use super::{Answer, Ctx, Limits, PageArgs, QueryResult};
use crate::health::improvements::{self, Finding};

/// Parameters of `analyze_codebase_improvements` (the original CodeSage's name).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Indexed codebase (or a directory inside one) to analyse. Defaults to the client's
    /// workspace root.
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// Paging: `max_results` counts findings (the totals count all).
    #[serde(flatten)]
    pub page: PageArgs,
}

/// The report.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The codebase or directory analysed.
    pub root: String,
    /// Findings, highest impact first.
    pub findings: Vec<Finding>,
    /// Findings in all.
    pub total_findings: usize,
    /// Findings per category.
    pub by_category: BTreeMap<String, u64>,
    /// Files analysed.
    pub files_analyzed: usize,
    /// Functions and methods analysed.
    pub functions_analyzed: usize,
    /// Lines in the analysed files.
    pub lines: u64,
    /// The thresholds used (`[health]` in the configuration).
    pub thresholds: BTreeMap<String, f64>,
}

/// Findings per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "findings",
        default: 30,
        max: 1000,
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.page, limits(ctx.engine.config()))?;
    let scope = ctx.root_scope(params.codebase_path.as_deref())?;
    let engine = std::sync::Arc::clone(&ctx.engine);
    let on = ctx
        .on_root(&scope, "files", move |scope| {
            improvements::analyze(scope, engine.health(), &engine.config().health)
        })
        .await?;
    let report = on.value;
    ctx.engine
        .health()
        .warm()
        .remember(improvements::clone_question(
            &scope.root.path,
            &ctx.engine.config().health,
        ));
    let mut notes = on.notes;
    if report.pending > 0 {
        notes.push(format!(
            "{} code files have no parsed structure (still being parsed, or larger than index.symbols_max_file_size) and are not in this report",
            report.pending
        ));
    }
    if report.findings.is_empty() {
        notes.push("nothing crossed a threshold".to_string());
    }
    let health = &ctx.engine.config().health;
    let thresholds: BTreeMap<String, f64> = [
        ("max_complexity", f64::from(health.max_complexity)),
        ("max_function_lines", f64::from(health.max_function_lines)),
        ("max_nesting", f64::from(health.max_nesting)),
        ("max_parameters", f64::from(health.max_parameters)),
        ("max_file_lines", f64::from(health.max_file_lines)),
        ("max_todo_density", f64::from(health.max_todo_density)),
        ("min_clone_lines", f64::from(health.min_clone_lines)),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect();
    let mut base = Answer::new(()).with_notes(notes).at_generation(on.generation);
    base.partial = on.stopped.is_some();
    let total = report.findings.len();
    let root = scope.display();
    pager.answer(base, report.findings, Extent::Counted(total), |page| Output {
        root: root.clone(),
        findings: page,
        total_findings: total,
        by_category: report.by_category.clone(),
        files_analyzed: report.files,
        functions_analyzed: report.functions,
        lines: report.lines,
        thresholds: thresholds.clone(),
    })
}
