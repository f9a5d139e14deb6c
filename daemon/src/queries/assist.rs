//! What the LLM-assisted tools share: finding their section and assembling its context on
//! one view ([`gather`]), asking the model with the request's cancellation, deadline and
//! sampler ([`ask`]), and the part of the answer that says who answered ([`ModelUse`]).
//! Each tool's own file writes its prompt and its offline result.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::scope::RootScope;
use super::{Ctx, QueryError};
use crate::engine::Root;
use crate::llm::context::{self, Gathered, Target};
use crate::llm::{Completion, Prompt, Unavailable};
use crate::structure::{Scope, StructureError};

/// What every LLM tool takes besides its section: the model, the codebase, paging.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ModelArgs {
    /// The model to ask, instead of the configured one.
    #[serde(default)]
    pub llm_model: Option<String>,
    /// Indexed codebase the file is in, when file_path is relative.
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// Paging: `max_tokens` also bounds the model's reply (half of it at most).
    #[serde(flatten)]
    pub page: super::PageArgs,
}

/// The file an LLM tool's answer is about.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FileHeader {
    /// The root.
    pub root: String,
    /// File, relative to the root.
    pub file_path: String,
    /// Its language.
    pub language: String,
}

/// The section of a file a tool is about, and what else it needs from the same view.
pub struct Gather<T> {
    /// The root.
    pub root: Arc<Root>,
    /// The section and its context.
    pub gathered: Gathered,
    /// What the tool's own question found on the same view.
    pub extra: T,
    /// Freshness and progress notes.
    pub notes: Vec<String>,
    /// Index generation read.
    pub generation: u64,
}

impl<T> Gather<T> {
    /// The answer's file header.
    pub fn header(&self) -> FileHeader {
        FileHeader {
            root: self.root.path.display().to_string(),
            file_path: self.gathered.file_path.clone(),
            language: self.gathered.language.clone(),
        }
    }
}

/// Finds `target` in `file_path`, assembles its context within `llm.context_tokens`, and
/// runs `extra` on the same view.
pub async fn gather<T, F>(
    ctx: &Ctx,
    codebase_path: Option<&str>,
    file_path: &str,
    target: Target,
    extra: F,
) -> Result<Gather<T>, QueryError>
where
    T: Send + 'static,
    F: FnOnce(&Scope<'_>, &Gathered) -> Result<T, StructureError> + Send + 'static,
{
    let (root, relative) = ctx.file_scope(codebase_path, file_path)?;
    let scope = RootScope::whole(Arc::clone(&root));
    let budget = ctx.engine.config().llm.context_tokens;
    let on = ctx
        .on_root(&scope, "files", move |scope| {
            let gathered = context::gather(scope, &relative, &target, budget)?;
            let extra = extra(scope, &gathered)?;
            Ok((gathered, extra))
        })
        .await?;
    let (gathered, extra) = on.value;
    Ok(Gather {
        root,
        gathered,
        extra,
        notes: on.notes,
        generation: on.generation,
    })
}

/// [`gather`] for a tool that needs nothing else from the view.
pub async fn gather_section(
    ctx: &Ctx,
    codebase_path: Option<&str>,
    file_path: &str,
    target: Target,
) -> Result<Gather<()>, QueryError> {
    gather(ctx, codebase_path, file_path, target, |_, _| Ok(())).await
}

/// Who answered: the model (with its figures) or the offline analysis (with why).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ModelUse {
    /// `llm` when a model answered, `offline` when the answer is the offline analysis.
    pub source: &'static str,
    /// The model's figures, when one answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<Completion>,
    /// Why no model answered (`429 (rate limited) from groq after 3 tries`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_unavailable: Option<String>,
}

impl ModelUse {
    /// The use of `outcome`, and the note an offline answer carries.
    pub fn of(outcome: &Result<Completion, Unavailable>) -> (ModelUse, Option<String>) {
        match outcome {
            Ok(completion) => (
                ModelUse {
                    source: "llm",
                    llm: Some(completion.clone()),
                    llm_unavailable: None,
                },
                None,
            ),
            Err(unavailable) => (
                ModelUse {
                    source: "offline",
                    llm: None,
                    llm_unavailable: Some(unavailable.reason.clone()),
                },
                Some(format!(
                    "llm: unavailable — {}; showing the offline analysis",
                    unavailable.reason
                )),
            ),
        }
    }
}

/// Reply tokens to ask for: `llm.max_output_tokens`, or less when the answer's budget
/// (`max_tokens`) is smaller (half of it, the rest being the offline part and context).
pub fn reply_tokens(ctx: &Ctx, max_tokens: Option<i64>) -> u32 {
    let configured = ctx.engine.config().llm.max_output_tokens;
    match max_tokens {
        Some(budget) if budget > 0 => {
            configured.min((budget / 2).clamp(16, u32::MAX as i64) as u32)
        }
        _ => configured,
    }
}

/// Asks the model of `tool`; a cancelled request stops the tool.
pub async fn ask(
    ctx: &Ctx,
    tool: &'static str,
    model: Option<&str>,
    prompt: Prompt,
) -> Result<Result<Completion, Unavailable>, QueryError> {
    let outcome = ctx
        .engine
        .llm()
        .complete(
            tool,
            model,
            &prompt,
            ctx.sampler.as_ref(),
            &ctx.cancel,
            ctx.deadline,
        )
        .await;
    match outcome {
        Err(unavailable) if unavailable.cancelled => Err(QueryError::Cancelled),
        outcome => Ok(outcome),
    }
}

/// The instructions every assisted tool starts from.
pub const SYSTEM_PREAMBLE: &str = "You are a senior software engineer helping a coding agent. \
You are given a section of code with its context from the project's index: the enclosing \
symbol, the signatures of what it calls and of its callers, the file's outline and the \
project's languages and test framework. Base every statement on that context; when something \
is not in it, say so instead of guessing. Be concise.";

/// Cuts `output` down to the answer's token budget with `cut` (which removes or shortens
/// one part and says whether it could); returns the note to add when anything was cut.
pub fn fit<T: Serialize>(
    pager: &super::page::Pager,
    output: &mut T,
    cut: impl FnMut(&mut T) -> bool,
) -> Option<String> {
    let budget = pager.item_budget()?;
    super::page::shrink_to(output, budget, cut).then(|| {
        "parts of the answer were shortened to fit max_tokens (marked with …); raise max_tokens \
         or narrow the section to see all of it"
            .to_string()
    })
}

/// Halves a text at a character boundary (marking the cut); false when nothing is left
/// worth cutting.
pub fn halve(text: &mut String) -> bool {
    let chars = text.chars().count();
    if chars < 80 {
        return false;
    }
    let keep: String = text.chars().take(chars / 2).collect();
    *text = format!("{keep}…");
    true
}
