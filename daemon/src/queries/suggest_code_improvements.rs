//! `suggest_code_improvements(file_path, start_line?, end_line?, function_name?)`: what to
//! improve in a section of code: the code-health findings that concern it (complexity,
//! length, nesting, parameters, missing docs, duplicates, TODO markers), merged with the
//! model's suggestions when a model answers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::assist::{self, FileHeader, ModelArgs, ModelUse, SYSTEM_PREAMBLE};
use super::page::Extent;
use super::{Answer, Ctx, Limits, QueryResult};
use crate::health::clones::{self, Options};
use crate::llm::Prompt;
use crate::llm::context::{ContextSummary, Gathered, SectionSymbol, Target};
use crate::llm::offline::Suggestion;
use crate::search::FileFilter;
use crate::structure::StructureError;

/// Parameters of `suggest_code_improvements` (the original CodeSage's names).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// The file: absolute, or relative to codebase_path / the indexed root.
    pub file_path: String,
    /// First line of the section (1-based); the whole file when no line or function is given.
    #[serde(default)]
    pub start_line: Option<u32>,
    /// Last line of the section.
    #[serde(default)]
    pub end_line: Option<u32>,
    /// A function or method (`name` or `Class.method`).
    #[serde(default)]
    pub function_name: Option<String>,
    /// The model, the codebase and paging.
    #[serde(flatten)]
    pub args: ModelArgs,
}

/// Suggestions for a section.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The file.
    #[serde(flatten)]
    pub file: FileHeader,
    /// First line looked at.
    pub start_line: u32,
    /// Last line looked at.
    pub end_line: u32,
    /// The symbol looked at (or holding the lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<SectionSymbol>,
    /// Suggestions: measured findings first (`complexity`, `length`, `nesting`,
    /// `parameters`, `undocumented`, `duplicate`, `todo`), then the model's (`model`).
    pub suggestions: Vec<Suggestion>,
    /// Who answered.
    #[serde(flatten)]
    pub model: ModelUse,
    /// What context the model was given.
    pub context: ContextSummary,
}

/// Suggestions per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "suggestions",
        default: 50,
        max: 500,
    }
}

/// The code-health findings inside the section.
fn measured(
    gathered: &Gathered,
    health: &codesage_shared::config::HealthConfig,
    duplicates: &[clones::ReportedClass],
) -> Vec<Suggestion> {
    let path = &gathered.file_path;
    let mut found = Vec::new();
    let range = gathered.start_line..=gathered.end_line;
    for (index, symbol) in gathered.symbols.symbols.iter().enumerate() {
        if !symbol.kind.is_callable()
            || !(range.contains(&symbol.start_line) || (symbol.start_line <= gathered.start_line && gathered.end_line <= symbol.end_line))
        {
            continue;
        }
        let name = crate::structure::qualified_name(&gathered.symbols, index);
        let location = format!("{path}:{}", symbol.start_line);
        let mut add = |kind: &str, value: u32, threshold: u32, message: String| {
            found.push(Suggestion {
                kind: kind.to_string(),
                location: location.clone(),
                symbol: Some(name.clone()),
                value: Some(f64::from(value)),
                threshold: Some(f64::from(threshold)),
                message,
            });
        };
        if symbol.cyclomatic() > health.max_complexity {
            add("complexity", symbol.cyclomatic(), health.max_complexity, format!(
                "{name} has cyclomatic complexity {} (over {}): split its branches into helper functions or replace conditionals with a table or polymorphism; each branch is a path to test",
                symbol.cyclomatic(), health.max_complexity
            ));
        }
        if symbol.lines() > health.max_function_lines {
            add("length", symbol.lines(), health.max_function_lines, format!(
                "{name} is {} lines long (over {}): extract its steps into named functions so each can be read and tested on its own",
                symbol.lines(), health.max_function_lines
            ));
        }
        if symbol.nesting > health.max_nesting {
            add("nesting", symbol.nesting, health.max_nesting, format!(
                "{name} nests control flow {} deep (over {}): return early from guard clauses and move inner loops into functions",
                symbol.nesting, health.max_nesting
            ));
        }
        if symbol.parameters > health.max_parameters {
            add("parameters", symbol.parameters, health.max_parameters, format!(
                "{name} takes {} parameters (over {}): group the ones that travel together into a struct, dataclass or options object",
                symbol.parameters, health.max_parameters
            ));
        }
        if !symbol.documented
            && crate::health::is_public(&gathered.language, &symbol.name, &symbol.signature)
        {
            found.push(Suggestion {
                kind: "undocumented".into(),
                location: location.clone(),
                symbol: Some(name.clone()),
                value: None,
                threshold: None,
                message: format!("{name} is public and has no doc comment: say what it does, its parameters and what it returns or raises (auto_document writes a draft)"),
            });
        }
    }
    for class in duplicates {
        let here = class.locations.iter().find(|place| {
            place.file_path == *path && place.start_line <= gathered.end_line && gathered.start_line <= place.end_line
        });
        let Some(here) = here else { continue };
        let others: Vec<&str> = class
            .occurrences
            .iter()
            .filter(|occurrence| **occurrence != format!("{}:{}-{}", here.file_path, here.start_line, here.end_line))
            .map(String::as_str)
            .take(5)
            .collect();
        found.push(Suggestion {
            kind: "duplicate".into(),
            location: format!("{path}:{}-{}", here.start_line, here.end_line),
            symbol: None,
            value: Some(f64::from(class.lines)),
            threshold: Some(f64::from(health.min_clone_lines)),
            message: format!(
                "{} lines here are a {} copy ({} copies in all) of {}: extract the shared code into one function",
                class.lines, class.kind, class.copies, others.join(", ")
            ),
        });
    }
    for todo in &gathered.symbols.todos {
        if range.contains(&todo.line) {
            found.push(Suggestion {
                kind: "todo".into(),
                location: format!("{path}:{}", todo.line),
                symbol: None,
                value: None,
                threshold: None,
                message: format!("unresolved {}: {} (resolve_todo_fixme proposes a fix)", todo.marker, todo.text),
            });
        }
    }
    found
}

/// The model's bullet points as suggestions (`- [line 12] text`).
fn parse_model_suggestions(text: &str, gathered: &Gathered) -> Vec<Suggestion> {
    let line_tag = regex::Regex::new(r"(?i)^\[?\s*lines?\s*(\d+)(?:\s*[-–]\s*(\d+))?\s*\]?\s*[:.-]?\s*").ok();
    text.lines()
        .map(str::trim)
        .filter_map(|line| {
            let body = line
                .strip_prefix("- ")
                .or_else(|| line.strip_prefix("* "))
                .or_else(|| {
                    let digits = line.find(|c: char| !c.is_ascii_digit())?;
                    (digits > 0).then(|| line[digits..].strip_prefix(". ")).flatten()
                })?
                .trim();
            if body.is_empty() {
                return None;
            }
            let (location, message) = match line_tag.as_ref().and_then(|tag| tag.captures(body)) {
                Some(captures) => {
                    let start: u32 = captures.get(1)?.as_str().parse().ok()?;
                    let location = match captures.get(2) {
                        Some(end) => format!("{}:{start}-{}", gathered.file_path, end.as_str()),
                        None => format!("{}:{start}", gathered.file_path),
                    };
                    (location, body[captures.get(0)?.end()..].trim().to_string())
                }
                None => (
                    format!("{}:{}-{}", gathered.file_path, gathered.start_line, gathered.end_line),
                    body.to_string(),
                ),
            };
            (!message.is_empty()).then(|| Suggestion {
                kind: "model".into(),
                location,
                symbol: gathered.symbol.as_ref().map(|symbol| symbol.qualified_name.clone()),
                value: None,
                threshold: None,
                message,
            })
        })
        .collect()
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.args.page, limits(ctx.engine.config()))?;
    let target = Target {
        start_line: params.start_line,
        end_line: params.end_line,
        function_name: params.function_name.clone(),
        class_name: None,
        todo: None,
    };
    let engine = std::sync::Arc::clone(&ctx.engine);
    let min_lines = engine.config().health.min_clone_lines;
    let skip_generated = engine.config().health.skip_generated;
    let mut found = assist::gather(
        &ctx,
        params.args.codebase_path.as_deref(),
        &params.file_path,
        target,
        move |scope, gathered| {
            let filter = FileFilter::new("", &[], &[])
                .map_err(|err| StructureError::InvalidArgument(err.to_string()))?;
            let clones = clones::find(
                scope,
                engine.health(),
                &Options {
                    min_lines,
                    min_similarity: 0.8,
                    filter: &filter,
                    filter_key: "",
                    skip_generated,
                    touching: Some(&gathered.file_path),
                    similar: None,
                },
            )?;
            Ok(clones.page(scope, engine.health(), 0, 50)?.shown)
        },
    )
    .await?;
    let gathered = &found.gathered;
    let mut suggestions = measured(gathered, &ctx.engine.config().health, &found.extra);
    let facts: Vec<String> = suggestions.iter().map(|s| format!("- {}: {}", s.location, s.message)).collect();
    let prompt = Prompt {
        system: format!(
            "{SYSTEM_PREAMBLE} Suggest concrete improvements to the code: correctness risks \
             first, then error handling, readability, performance and testability. Answer only \
             with a bullet list, one suggestion per line, each starting with the line it is \
             about, like `- [line 12] …`. Do not repeat the measured findings you are given."
        ),
        user: format!(
            "{}\nMeasured findings already reported:\n{}\n",
            gathered.context,
            if facts.is_empty() { "(none)".to_string() } else { facts.join("\n") }
        ),
        max_tokens: assist::reply_tokens(&ctx, params.args.page.max_tokens),
    };
    let outcome =
        assist::ask(&ctx, "suggest_code_improvements", params.args.llm_model.as_deref(), prompt).await?;
    let (model, note) = ModelUse::of(&outcome);
    let mut notes = std::mem::take(&mut found.notes);
    notes.extend(note);
    if let Ok(completion) = &outcome {
        let from_model = parse_model_suggestions(&completion.text, gathered);
        if from_model.is_empty() {
            suggestions.push(Suggestion {
                kind: "model".into(),
                location: format!("{}:{}-{}", gathered.file_path, gathered.start_line, gathered.end_line),
                symbol: gathered.symbol.as_ref().map(|symbol| symbol.qualified_name.clone()),
                value: None,
                threshold: None,
                message: completion.text.trim().to_string(),
            });
        } else {
            suggestions.extend(from_model);
        }
    }
    if suggestions.is_empty() {
        notes.push(format!(
            "nothing to suggest: no function in the section crosses the thresholds in [health], \
             it has no clone of {min_lines} lines or more and no TODO marker"
        ));
    }
    if let Some(budget) = pager.item_budget() {
        for suggestion in &mut suggestions {
            super::page::shrink_to(suggestion, budget, |suggestion| assist::halve(&mut suggestion.message));
        }
    }
    let total = suggestions.len();
    let file = found.header();
    let base = Answer::new(()).with_notes(notes).at_generation(found.generation);
    pager.answer(base, suggestions, Extent::Counted(total), |page| Output {
        file: file.clone(),
        start_line: gathered.start_line,
        end_line: gathered.end_line,
        symbol: gathered.symbol.clone(),
        suggestions: page,
        model: model.clone(),
        context: gathered.summary.clone(),
    })
}
