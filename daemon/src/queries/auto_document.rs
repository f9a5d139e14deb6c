//! `auto_document(file_path, function_name?)`: doc comments, in the language's convention
//! (docstrings, `///`, JSDoc/Javadoc, Go comments…), for the undocumented functions of a file
//! (or one function), as a unified diff the agent can apply. The model writes what they
//! say from the file's context; offline, stubs from the signatures with `TODO`s where the
//! descriptions go. Nothing is written to disk.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::assist::{self, FileHeader, ModelArgs, ModelUse, SYSTEM_PREAMBLE};
use super::{Answer, Ctx, Limits, QueryResult};
use crate::llm::Prompt;
use crate::llm::context::{ContextSummary, Gathered, Target};
use crate::llm::offline::{self, DocText};

/// Functions documented in one answer at most.
const MAX_FUNCTIONS: usize = 40;

/// Parameters of `auto_document`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// The file: absolute, or relative to codebase_path / the indexed root.
    pub file_path: String,
    /// Only this function or method (`name` or `Class.method`); every undocumented function
    /// of the file when omitted.
    #[serde(default)]
    pub function_name: Option<String>,
    /// The model, the codebase and paging.
    #[serde(flatten)]
    pub args: ModelArgs,
}

/// One drafted doc comment.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DocDraft {
    /// The function (`Class.method`).
    pub function: String,
    /// Its first line.
    pub line: u32,
    /// The doc comment, as inserted.
    pub comment: String,
    /// Written by the model (false: the offline stub).
    pub from_model: bool,
}

/// Doc comments for a file.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The file.
    #[serde(flatten)]
    pub file: FileHeader,
    /// The doc comments drafted.
    pub documented: Vec<DocDraft>,
    /// Undocumented functions in the file (or the one asked for), in all.
    pub undocumented_total: usize,
    /// A unified diff adding the doc comments (apply with `git apply` or `patch -p1`);
    /// empty when there is nothing to add.
    pub diff: String,
    /// Who answered.
    #[serde(flatten)]
    pub model: ModelUse,
    /// What context the model was given.
    pub context: ContextSummary,
}

/// One answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "diffs",
        default: 1,
        max: 1,
    }
}

/// What the model is asked to answer with.
#[derive(Debug, Deserialize)]
struct ModelDocs {
    #[serde(default)]
    functions: Vec<ModelDoc>,
}

#[derive(Debug, Deserialize)]
struct ModelDoc {
    name: String,
    #[serde(flatten)]
    text: DocText,
}

/// The model's JSON (the outermost object in its reply), by function name.
fn parse_model_docs(reply: &str) -> Option<HashMap<String, DocText>> {
    let start = reply.find('{')?;
    let end = reply.rfind('}')?;
    let parsed: ModelDocs = serde_json::from_str(reply.get(start..=end)?).ok()?;
    Some(
        parsed
            .functions
            .into_iter()
            .map(|doc| (doc.name.trim().to_string(), doc.text))
            .collect(),
    )
}

/// The doc comments and the diff for `chosen` (symbol indexes), with the model's texts.
fn draft(
    gathered: &Gathered,
    chosen: &[usize],
    texts: Option<&HashMap<String, DocText>>,
) -> (Vec<DocDraft>, String) {
    let symbols = &gathered.symbols;
    let mut drafts = Vec::new();
    let mut insertions = Vec::new();
    for &index in chosen {
        let symbol = &symbols.symbols[index];
        let name = crate::structure::qualified_name(symbols, index);
        let text = texts.and_then(|texts| texts.get(&name).or_else(|| texts.get(&symbol.name)));
        let (at, indent) = offline::doc_position(&gathered.language, &gathered.lines, symbol);
        let comment = offline::doc_comment(
            &gathered.language,
            symbol,
            &indent,
            text.unwrap_or(&DocText::default()),
        );
        drafts.push(DocDraft {
            function: name,
            line: symbol.start_line,
            comment: comment.join("\n"),
            from_model: text.is_some(),
        });
        insertions.push((at, comment));
    }
    let diff = if insertions.is_empty() {
        String::new()
    } else {
        offline::insertion_diff(&gathered.file_path, &gathered.lines, insertions)
    };
    (drafts, diff)
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.args.page, limits(ctx.engine.config()))?;
    let function_name = params
        .function_name
        .clone()
        .filter(|name| !name.trim().is_empty());
    let target = Target {
        function_name: function_name.clone(),
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
    let mut notes = found.notes.clone();
    let undocumented: Vec<usize> = match gathered.symbol_index {
        Some(index) if function_name.is_some() => {
            if gathered.symbols.symbols[index].documented {
                notes.push(format!(
                    "{} already has a doc comment; nothing to add",
                    crate::structure::qualified_name(&gathered.symbols, index)
                ));
                Vec::new()
            } else {
                vec![index]
            }
        }
        _ => offline::undocumented(&gathered.symbols),
    };
    let total = undocumented.len();
    let chosen: Vec<usize> = undocumented.into_iter().take(MAX_FUNCTIONS).collect();
    if total > chosen.len() {
        notes.push(format!(
            "{total} functions are undocumented; the first {} are drafted here (name one with {} \
             for the others)",
            chosen.len(),
            ctx.words().param("function_name")
        ));
    }
    if total == 0 && function_name.is_none() {
        notes.push(format!("every function of {} has a doc comment", gathered.file_path));
    }

    let (model, texts) = if chosen.is_empty() {
        (
            ModelUse {
                source: "offline",
                llm: None,
                llm_unavailable: None,
            },
            None,
        )
    } else {
        let listed: Vec<String> = chosen
            .iter()
            .map(|&index| {
                let symbol = &gathered.symbols.symbols[index];
                format!(
                    "- {} (line {}): {}",
                    crate::structure::qualified_name(&gathered.symbols, index),
                    symbol.start_line,
                    symbol.signature.trim()
                )
            })
            .collect();
        let prompt = Prompt {
            system: format!(
                "{SYSTEM_PREAMBLE} Write documentation for functions: what each does (one or \
                 two sentences, in the imperative or descriptive style of the project), what \
                 each parameter means and what it returns. Answer with JSON only, of the form \
                 {{\"functions\": [{{\"name\": \"Class.method\", \"summary\": \"…\", \
                 \"params\": {{\"param\": \"…\"}}, \"returns\": \"…\"}}]}}."
            ),
            user: format!(
                "{}\nDocument these {} functions:\n{}\n",
                gathered.context,
                gathered.language,
                listed.join("\n")
            ),
            max_tokens: assist::reply_tokens(&ctx, params.args.page.max_tokens),
        };
        let outcome = assist::ask(&ctx, "auto_document", params.args.llm_model.as_deref(), prompt).await?;
        let (model, note) = ModelUse::of(&outcome);
        notes.extend(note);
        let texts = match &outcome {
            Ok(completion) => {
                let parsed = parse_model_docs(&completion.text);
                if parsed.is_none() {
                    notes.push(
                        "the model's reply was not the JSON asked for; the doc comments are \
                         the offline stubs"
                            .to_string(),
                    );
                }
                parsed
            }
            Err(_) => None,
        };
        (model, texts)
    };
    let (documented, diff) = draft(gathered, &chosen, texts.as_ref());
    let mut output = Output {
        file: found.header(),
        documented,
        undocumented_total: total,
        diff,
        model,
        context: gathered.summary.clone(),
    };
    // Over budget: fewer functions per answer (the diff is rebuilt for those kept).
    let mut kept = chosen.clone();
    let cut = assist::fit(&pager, &mut output, |output| {
        if kept.len() <= 1 {
            return assist::halve(&mut output.diff);
        }
        kept.truncate(kept.len() / 2);
        let (documented, diff) = draft(gathered, &kept, texts.as_ref());
        output.documented = documented;
        output.diff = diff;
        true
    });
    if cut.is_some() && kept.len() < chosen.len() {
        notes.push(format!(
            "{} of the {} drafted doc comments fit max_tokens; raise it or name one function \
             with {}",
            kept.len(),
            chosen.len(),
            ctx.words().param("function_name")
        ));
    }
    Ok(Answer::new(output)
        .with_notes(notes)
        .with_notes(cut)
        .at_generation(found.generation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_json_is_read_from_a_chatty_reply() {
        let reply = "Sure!\n```json\n{\"functions\": [{\"name\": \"add\", \"summary\": \"Adds.\", \"params\": {\"a\": \"first\"}}]}\n```";
        let docs = parse_model_docs(reply).unwrap();
        assert_eq!(docs["add"].summary.as_deref(), Some("Adds."));
        assert_eq!(docs["add"].params["a"], "first");
        assert!(parse_model_docs("no json here").is_none());
    }
}
