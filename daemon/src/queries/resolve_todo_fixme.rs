//! `resolve_todo_fixme(file_path, line?)`: a proposed resolution for a TODO/FIXME/HACK/XXX
//! comment, from the model with the function holding it and that function's context; offline,
//! the marker with its function's structural summary and the other markers around it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::assist::{self, FileHeader, ModelArgs, ModelUse, SYSTEM_PREAMBLE};
use super::{Answer, Ctx, Limits, QueryError, QueryResult};
use crate::llm::Prompt;
use crate::llm::context::{ContextSummary, SectionSymbol, Target};
use crate::llm::offline::{self, StructuralSummary};

/// Parameters of `resolve_todo_fixme` (the original CodeSage's names).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// The file: absolute, or relative to codebase_path / the indexed root.
    pub file_path: String,
    /// The marker's line (the nearest marker within 3 lines is taken); the file's first
    /// marker when omitted.
    #[serde(default)]
    pub line: Option<u32>,
    /// The model, the codebase and paging.
    #[serde(flatten)]
    pub args: ModelArgs,
}

/// The marker.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Marker {
    /// Its line.
    pub line: u32,
    /// `TODO`, `FIXME`, `HACK` or `XXX`.
    pub marker: String,
    /// The comment's text.
    pub text: String,
}

/// A proposed resolution.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The file.
    #[serde(flatten)]
    pub file: FileHeader,
    /// The marker resolved.
    pub marker: Marker,
    /// The symbol holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<SectionSymbol>,
    /// First line of the code shown around it.
    pub start_line: u32,
    /// Last line of that code.
    pub end_line: u32,
    /// The proposal: the model's (what to change, with code), or the offline analysis of
    /// what the marker is about.
    pub proposal: String,
    /// Other markers in the same code.
    pub related_markers: Vec<Marker>,
    /// The structural facts of the code holding the marker (always computed).
    pub structure: StructuralSummary,
    /// Who answered.
    #[serde(flatten)]
    pub model: ModelUse,
    /// What context the model was given.
    pub context: ContextSummary,
}

/// One answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "proposals",
        default: 1,
        max: 1,
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.args.page, limits(ctx.engine.config()))?;
    if params.line == Some(0) {
        return Err(QueryError::Failed(format!(
            "{} counts from 1",
            ctx.words().param("line")
        )));
    }
    let target = Target {
        todo: Some(params.line),
        ..Target::default()
    };
    let found = assist::gather_section(
        &ctx,
        params.args.codebase_path.as_deref(),
        &params.file_path,
        target,
    )
    .await?;
    let gathered = &found.gathered;
    let Some(todo) = gathered.todo.clone() else {
        return Err(QueryError::Internal {
            query: "resolve_todo_fixme",
            detail: "the marker was found but not kept".into(),
        });
    };
    let marker = Marker {
        line: todo.line,
        marker: todo.marker.clone(),
        text: todo.text.clone(),
    };
    let related_markers: Vec<Marker> = gathered
        .symbols
        .todos
        .iter()
        .filter(|other| {
            other.line != todo.line && (gathered.start_line..=gathered.end_line).contains(&other.line)
        })
        .map(|other| Marker {
            line: other.line,
            marker: other.marker.clone(),
            text: other.text.clone(),
        })
        .collect();
    let structure = offline::summary(gathered);
    let holder = gathered
        .symbol
        .as_ref()
        .map(|symbol| format!("the {} `{}`", symbol.kind, symbol.qualified_name))
        .unwrap_or_else(|| format!("lines {}-{}", gathered.start_line, gathered.end_line));
    let offline_proposal = format!(
        "{} at {}:{} in {holder}: \"{}\". {} {}",
        todo.marker,
        gathered.file_path,
        todo.line,
        todo.text,
        structure.overview,
        if related_markers.is_empty() {
            String::new()
        } else {
            format!(
                "The same code has {} more marker(s): {}.",
                related_markers.len(),
                related_markers
                    .iter()
                    .map(|other| format!("line {} {}: {}", other.line, other.marker, other.text))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        }
    )
    .trim()
    .to_string();
    let prompt = Prompt {
        system: format!(
            "{SYSTEM_PREAMBLE} Propose how to resolve a TODO/FIXME comment: say what the \
             comment asks for, then give the change as a short explanation and the replacement \
             code in one fenced block, and name the risks and the tests to add. If the context \
             is not enough to resolve it, say what is missing."
        ),
        user: format!(
            "{}\nResolve the {} at line {} of {}: \"{}\"\n",
            gathered.context, todo.marker, todo.line, gathered.file_path, todo.text
        ),
        max_tokens: assist::reply_tokens(&ctx, params.args.page.max_tokens),
    };
    let outcome =
        assist::ask(&ctx, "resolve_todo_fixme", params.args.llm_model.as_deref(), prompt).await?;
    let (model, note) = ModelUse::of(&outcome);
    let proposal = match &outcome {
        Ok(completion) => completion.text.trim().to_string(),
        Err(_) => offline_proposal,
    };
    let mut output = Output {
        file: found.header(),
        marker,
        symbol: gathered.symbol.clone(),
        start_line: gathered.start_line,
        end_line: gathered.end_line,
        proposal,
        related_markers,
        structure,
        model,
        context: gathered.summary.clone(),
    };
    let cut = assist::fit(&pager, &mut output, |output| {
        if output.related_markers.len() > 2 {
            output.related_markers.truncate(output.related_markers.len() / 2);
            return true;
        }
        if output.structure.shrink() {
            return true;
        }
        assist::halve(&mut output.proposal) || assist::halve(&mut output.structure.overview)
    });
    Ok(Answer::new(output)
        .with_notes(found.notes)
        .with_notes(note)
        .with_notes(cut)
        .at_generation(found.generation))
}
