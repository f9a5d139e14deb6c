//! The MCP tools: one file per tool with its description; the question each answers lives
//! in `crate::queries` under the same name, whose `Params` give the tool's input schema and
//! whose answer envelope gives its `outputSchema`. This module lists the tools (the list
//! generates their `mod` lines), describes them for `tools/list` and dispatches calls.
//!
//! Every tool answers with a JSON object (sent as `structuredContent` and as its text), or
//! with an `isError` result whose text says what was wrong and how to fix it. Tools never
//! panic on their input and never return bare JSON scalars or arrays (Gemini CLI parses the
//! text of a result and rejects anything but an object).

use std::sync::Arc;

use codesage_shared::config::Config;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde_json::Value;

use crate::queries::{self, Encoded, Limits, QueryError, Request, answer, page};

/// Declares the tools once: their modules, their names, their descriptions and the dispatch
/// all come from here. Each name is also a query in `crate::queries`.
macro_rules! tools {
    ($($tool:ident),* $(,)?) => {
        $(mod $tool;)*

        /// Names of every tool, in the order `tools/list` shows them.
        pub const TOOL_NAMES: &[&str] = &[$(stringify!($tool)),*];

        /// Every tool, in the order `tools/list` shows them, with the limits of `config`.
        pub fn all(config: &Config) -> Vec<Tool> {
            vec![$(
                describe::<queries::$tool::Params, queries::$tool::Output>(
                    stringify!($tool),
                    $tool::DESCRIPTION,
                    $tool::READ_ONLY,
                    queries::$tool::limits(config),
                    config,
                )
            ),*]
        }
    };
}

tools!(
    index_codebase,
    search_codebase,
    semantic_search_codebase,
    read_code_file,
    count_lines_of_code,
    get_file_structure,
    find_symbol,
    find_references,
    list_undocumented_functions,
    find_duplicate_code,
    analyze_codebase_improvements,
    list_todo_fixme,
    changed_symbols,
    affected_callers,
    review_changes,
    analyze_function_dependencies,
    get_dependencies_overview,
    summarize_code_section,
    suggest_code_improvements,
    generate_unit_tests,
    auto_document,
    resolve_todo_fixme,
    get_configuration,
    get_cache_statistics,
    get_performance_metrics,
);

/// Calls tool `name`; `None` if there is no such tool.
pub async fn call(
    name: &str,
    arguments: Option<JsonObject>,
    request: Request,
) -> Option<Result<Value, QueryError>> {
    if !TOOL_NAMES.contains(&name) {
        return None;
    }
    let answer = queries::dispatch(name, arguments.unwrap_or_default(), request).await?;
    Some(answer.and_then(|encoded| match encoded {
        Encoded::Value(value) => Ok(value),
        Encoded::Text(text) => serde_json::from_str(&text).map_err(|err| QueryError::Internal {
            query: "tools/call",
            detail: format!("the answer is not JSON: {err}"),
        }),
    }))
}

/// Builds a tool description: input schema of `P`, output schema of the answer of `O`, and
/// the paging figures of `limits`.
fn describe<P: JsonSchema, O: JsonSchema>(
    name: &'static str,
    description: &'static str,
    read_only: bool,
    limits: Limits,
    config: &Config,
) -> Tool {
    let default_tokens = config.server.answer_tokens;
    let mut input = input_schema::<P>();
    page::describe_limits(&mut input, limits, default_tokens);
    let description = format!(
        "{description} Answers are bounded: at most max_results {} (default {}, at most {}) \
         and max_tokens (default {default_tokens}); when something is left out, `truncated` \
         says what and `cursor` gets the next page.",
        limits.unit, limits.default, limits.max
    );
    Tool::new(name, description, Arc::new(input))
        .with_raw_output_schema(Arc::new(answer::output_schema::<O>()))
        .with_annotations(
            ToolAnnotations::new()
                .read_only(read_only)
                .destructive(false)
                .idempotent(true)
                .open_world(false),
        )
}

/// The JSON Schema of `P`, simplified for the strictest clients: no `$schema`, nullable
/// types written as plain optional properties, and no integer `format`s (Gemini's function
/// declarations reject `uint`).
pub fn input_schema<P: JsonSchema>() -> JsonObject {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<P>();
    let mut value = schema.to_value();
    simplify_schema(&mut value);
    match value {
        Value::Object(mut object) => {
            object.remove("$schema");
            // The parameter struct's own doc comment and name mean nothing to a model.
            object.remove("description");
            object.remove("title");
            object
                .entry("type")
                .or_insert_with(|| Value::String("object".into()));
            object
                .entry("properties")
                .or_insert_with(|| Value::Object(Default::default()));
            object
        }
        _ => JsonObject::new(),
    }
}

fn simplify_schema(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if let Some(Value::Array(types)) = object.get("type") {
                let concrete: Vec<Value> = types
                    .iter()
                    .filter(|kind| kind.as_str() != Some("null"))
                    .cloned()
                    .collect();
                if concrete.len() == 1 {
                    object.insert("type".into(), concrete[0].clone());
                }
            }
            if object.get("type").and_then(Value::as_str) == Some("integer") {
                object.remove("format");
            }
            if object.get("default") == Some(&Value::Null) {
                object.remove("default");
            }
            object.values_mut().for_each(simplify_schema);
        }
        Value::Array(items) => items.iter_mut().for_each(simplify_schema),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_an_object_schema_without_nullable_types() {
        let config = Config::default();
        for tool in all(&config) {
            let schema = Value::Object(tool.input_schema.as_ref().clone());
            assert_eq!(schema["type"], "object", "{}", tool.name);
            let text = schema.to_string();
            assert!(!text.contains("\"null\""), "{}: {text}", tool.name);
            assert!(!text.contains("uint"), "{}: {text}", tool.name);
            assert!(TOOL_NAMES.contains(&tool.name.as_ref()), "{}", tool.name);
            for paging in ["max_results", "max_tokens", "cursor"] {
                assert!(
                    schema["properties"][paging].is_object(),
                    "{} takes {paging}: {text}",
                    tool.name
                );
            }
            let output = tool.output_schema.as_ref().expect("output schema");
            // A payload field named like an envelope field would appear twice.
            let required: Vec<&str> = output["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let unique: std::collections::HashSet<&&str> = required.iter().collect();
            assert_eq!(unique.len(), required.len(), "{}: {required:?}", tool.name);
            for envelope in [
                "notes",
                "truncated",
                "cursor",
                "index_generation",
                "partial",
            ] {
                assert!(
                    output["properties"][envelope].is_object(),
                    "{}: {envelope} in {}",
                    tool.name,
                    Value::Object(output.as_ref().clone())
                );
            }
        }
        assert_eq!(all(&config).len(), TOOL_NAMES.len());
        for name in TOOL_NAMES {
            assert!(queries::NAMES.contains(name), "{name} is a query");
        }
    }
}
