//! `summarize_code_section(file_path, start_line?, end_line?, function_name?, class_name?,
//! llm_model?)`: what a section of code does, from the model with the section's context
//! from our indexes, or — when no model answers — a structural summary (signature, doc,
//! calls, callers, complexity, side effects seen).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::assist::{self, FileHeader, ModelArgs, ModelUse, SYSTEM_PREAMBLE};
use super::{Answer, Ctx, Limits, QueryResult};
use crate::llm::Prompt;
use crate::llm::context::{ContextSummary, SectionSymbol, Target};
use crate::llm::offline::{self, StructuralSummary};

/// Parameters of `summarize_code_section` (the original CodeSage's names).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// The file: absolute, or relative to codebase_path / the indexed root.
    pub file_path: String,
    /// First line of the section (1-based); the whole file when no line, function or class
    /// is given.
    #[serde(default)]
    pub start_line: Option<u32>,
    /// Last line of the section.
    #[serde(default)]
    pub end_line: Option<u32>,
    /// A function or method to summarise (`name` or `Class.method`).
    #[serde(default)]
    pub function_name: Option<String>,
    /// A class to summarise (or the class holding function_name).
    #[serde(default)]
    pub class_name: Option<String>,
    /// The model, the codebase and paging.
    #[serde(flatten)]
    pub args: ModelArgs,
}

/// A section's summary.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The file.
    #[serde(flatten)]
    pub file: FileHeader,
    /// First line summarised.
    pub start_line: u32,
    /// Last line summarised.
    pub end_line: u32,
    /// The symbol summarised (or holding the lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<SectionSymbol>,
    /// The summary: the model's, or the offline overview.
    pub summary: String,
    /// Who answered.
    #[serde(flatten)]
    pub model: ModelUse,
    /// The structural facts (always computed, no model needed).
    pub structure: StructuralSummary,
    /// What context the model was given.
    pub context: ContextSummary,
}

/// One summary per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "summaries",
        default: 1,
        max: 1,
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.args.page, limits(ctx.engine.config()))?;
    let target = Target {
        start_line: params.start_line,
        end_line: params.end_line,
        function_name: params.function_name.clone(),
        class_name: params.class_name.clone(),
        todo: None,
    };
    let found = assist::gather_section(
        &ctx,
        params.args.codebase_path.as_deref(),
        &params.file_path,
        target,
    )
    .await?;
    let gathered = &found.gathered;
    let structure = offline::summary(gathered);
    let what = match &gathered.symbol {
        Some(symbol) if symbol.start_line == gathered.start_line && symbol.end_line == gathered.end_line => {
            format!("the {} `{}`", symbol.kind, symbol.qualified_name)
        }
        _ => format!("lines {}-{} of {}", gathered.start_line, gathered.end_line, gathered.file_path),
    };
    let prompt = Prompt {
        system: format!(
            "{SYSTEM_PREAMBLE} Summarise code for a developer who has not read it: its purpose, \
             inputs and outputs, side effects, error handling and anything surprising, in one \
             short paragraph followed by at most five bullet points."
        ),
        user: format!(
            "{}\nSummarise {what}.\nStructural facts: {}\n",
            gathered.context, structure.overview
        ),
        max_tokens: assist::reply_tokens(&ctx, params.args.page.max_tokens),
    };
    let outcome = assist::ask(&ctx, "summarize_code_section", params.args.llm_model.as_deref(), prompt).await?;
    let (model, note) = ModelUse::of(&outcome);
    let summary = match &outcome {
        Ok(completion) => completion.text.trim().to_string(),
        Err(_) => structure.overview.clone(),
    };
    let mut output = Output {
        file: found.header(),
        start_line: gathered.start_line,
        end_line: gathered.end_line,
        symbol: gathered.symbol.clone(),
        summary,
        model,
        structure,
        context: gathered.summary.clone(),
    };
    let cut = assist::fit(&pager, &mut output, |output| {
        output.structure.shrink()
            || assist::halve(&mut output.summary)
            || assist::halve(&mut output.structure.overview)
    });
    let answer = Answer::new(output)
        .with_notes(found.notes)
        .with_notes(note)
        .with_notes(cut)
        .at_generation(found.generation);
    Ok(answer)
}
