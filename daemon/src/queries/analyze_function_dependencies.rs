//! `analyze_function_dependencies(file_path, function_name?)`: what a function (or every
//! function of a file) calls, split into same-file, same-project and external callees, with
//! its length, branch count and cyclomatic complexity.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::page::Extent;
use super::scope::RootScope;
use super::{Answer, Ctx, Limits, PageArgs, QueryResult};
use crate::structure::callees::{self, FunctionDependenciesReport};

/// Parameters of `analyze_function_dependencies` (the original CodeSage's names).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// The file: absolute, or relative to codebase_path / the indexed root.
    pub file_path: String,
    /// The function or method to analyse (`name`, or `Class.method`); every function of the
    /// file when omitted.
    #[serde(default)]
    pub function_name: Option<String>,
    /// Indexed codebase the file is in, when file_path is relative.
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// Paging: `max_results` counts functions.
    #[serde(flatten)]
    pub page: PageArgs,
}

/// What the functions call.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The root.
    pub root: String,
    /// The report (its list holds this page's functions; totals cover them all).
    #[serde(flatten)]
    pub report: FunctionDependenciesReport,
}

/// Functions per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "functions",
        default: 100,
        max: 2000,
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.page, limits(ctx.engine.config()))?;
    let (root, relative) = ctx.file_scope(params.codebase_path.as_deref(), &params.file_path)?;
    let scope = RootScope::whole(Arc::clone(&root));
    let function_name = params.function_name;
    let on = ctx
        .on_root(&scope, "functions", move |scope| {
            callees::analyze(scope, &relative, function_name.as_deref())
        })
        .await?;
    let mut report = on.value;
    let mut functions = std::mem::take(&mut report.functions);
    let mut base = Answer::new(()).with_notes(on.notes).at_generation(on.generation);
    // A function calling hundreds of names would not fit a page on its own: its callee lists
    // are cut, external ones first (it says `calls_truncated`), rather than the answer refused.
    if let Some(max_tokens) = pager.item_budget() {
        let mut cut = 0;
        for function in &mut functions {
            let shrunk = super::page::shrink_to(function, max_tokens, |function| {
                function.calls_truncated = true;
                let calls = &mut function.calls;
                let list = [&mut calls.external, &mut calls.same_project, &mut calls.same_file]
                    .into_iter()
                    .find(|list| !list.is_empty());
                match list {
                    Some(list) => {
                        list.truncate(list.len() / 2);
                        true
                    }
                    None => false,
                }
            });
            cut += usize::from(shrunk);
        }
        if cut > 0 {
            base.notes.push(format!(
                "the callees of {cut} function(s) were cut to fit max_tokens (their \
                 `calls_truncated` is true); raise max_tokens or name one function_name"
            ));
        }
    }
    let root_text = root.path.display().to_string();
    pager.answer(base, functions, Extent::Complete, |page| Output {
        root: root_text.clone(),
        report: FunctionDependenciesReport {
            functions: page,
            ..report.clone()
        },
    })
}
