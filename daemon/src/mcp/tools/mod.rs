//! The MCP tools: one file per tool, each with its parameter type (whose JSON Schema is the
//! tool's input schema) and its handler. This module lists them and dispatches calls.
//!
//! Every tool answers with a JSON object (sent as `structuredContent` and as its text), or
//! with an `isError` result whose text says what was wrong and how to fix it. Tools never
//! panic on their input and never return bare JSON scalars or arrays (Gemini CLI parses the
//! text of a result and rejects anything but an object).

mod analyze_function_dependencies;
mod count_lines_of_code;
mod find_references;
mod find_symbol;
mod get_configuration;
mod get_dependencies_overview;
mod get_file_structure;
mod get_performance_metrics;
mod index_codebase;
mod list_undocumented_functions;
mod read_code_file;
mod search_codebase;

use std::path::PathBuf;
use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{JsonObject, ProgressToken, Tool, ToolAnnotations};
use rmcp::service::Peer;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::engine::{Engine, EngineError, Root};
use crate::structure::{Scope, StructureError};

/// What a tool call can see.
pub struct ToolContext {
    /// The shared daemon state.
    pub engine: Arc<Engine>,
    /// Roots the client declared (its workspace folders), canonical.
    pub client_roots: Vec<PathBuf>,
    /// The client, for progress notifications.
    pub peer: Peer<RoleServer>,
    /// Progress token of this request, if the client asked for progress.
    pub progress_token: Option<ProgressToken>,
}

/// Why a tool call failed; the message goes to the model, so it says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The arguments do not fit the tool's schema.
    #[error("invalid arguments for {tool}: {message}")]
    InvalidArguments {
        /// Tool name.
        tool: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The request was understood but cannot be served.
    #[error("{0}")]
    Failed(String),
}

impl From<EngineError> for ToolError {
    fn from(err: EngineError) -> Self {
        ToolError::Failed(err.to_string())
    }
}

/// Result of a tool handler: a JSON object, or an error for the model.
pub type ToolResult = Result<serde_json::Map<String, Value>, ToolError>;

/// Declares the tool modules once: the list, the names and the dispatch all come from here.
macro_rules! tools {
    ($($tool:ident),* $(,)?) => {
        /// Names of every tool, in the order `tools/list` shows them.
        pub const TOOL_NAMES: &[&str] = &[$(stringify!($tool)),*];

        /// Every tool, in the order `tools/list` shows them.
        pub fn all() -> Vec<Tool> {
            vec![$($tool::tool()),*]
        }

        /// Calls tool `name`; `None` if there is no such tool.
        pub async fn call(
            name: &str,
            arguments: Option<JsonObject>,
            ctx: &ToolContext,
        ) -> Option<ToolResult> {
            match name {
                $(stringify!($tool) => Some(match parse(stringify!($tool), arguments) {
                    Ok(params) => $tool::call(ctx, params).await,
                    Err(err) => Err(err),
                }),)*
                _ => None,
            }
        }
    };
}

tools!(
    index_codebase,
    search_codebase,
    read_code_file,
    count_lines_of_code,
    get_file_structure,
    find_symbol,
    find_references,
    list_undocumented_functions,
    analyze_function_dependencies,
    get_dependencies_overview,
    get_configuration,
    get_performance_metrics,
);

/// Parses a tool's arguments into its parameter type.
fn parse<P: DeserializeOwned>(
    tool: &'static str,
    arguments: Option<JsonObject>,
) -> Result<P, ToolError> {
    let value = Value::Object(arguments.unwrap_or_default());
    serde_json::from_value(value).map_err(|err| ToolError::InvalidArguments {
        tool,
        message: err.to_string(),
    })
}

/// Builds a tool description with the input schema of `P`.
fn describe<P: JsonSchema>(name: &'static str, description: &'static str, read_only: bool) -> Tool {
    Tool::new(name, description, Arc::new(input_schema::<P>())).with_annotations(
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

/// Resolves a `codebase_path` argument given relative to the client's first root.
fn resolve_argument_path(ctx: &ToolContext, path: &str) -> Result<PathBuf, ToolError> {
    let path = PathBuf::from(path.trim());
    if path.as_os_str().is_empty() {
        return Err(ToolError::Failed("the path is empty".into()));
    }
    if path.is_absolute() {
        return Ok(path);
    }
    match ctx.client_roots.first() {
        Some(root) => Ok(root.join(path)),
        None => Err(ToolError::Failed(format!(
            "{} is a relative path and this client declared no workspace root to resolve it \
             against; give an absolute path",
            path.display()
        ))),
    }
}

/// An optional `codebase_path` argument, resolved; blank counts as absent (the tool then
/// uses the client's roots).
fn optional_codebase(ctx: &ToolContext, path: Option<&str>) -> Result<Option<PathBuf>, ToolError> {
    path.filter(|path| !path.trim().is_empty())
        .map(|path| resolve_argument_path(ctx, path))
        .transpose()
}

/// How many results to list: `requested` (default `default`), 0 meaning the server's
/// `max`, never more than `max`.
fn list_limit(requested: Option<u32>, default: u32, max: u32) -> usize {
    let limit = match requested.unwrap_or(default) {
        0 => max,
        n => n.min(max),
    };
    limit as usize
}

/// Finds the file a tool is about: `file_path` absolute, or relative to `codebase_path`
/// when given, else to an indexed root. Returns its root and its path relative to it.
fn locate_file(
    ctx: &ToolContext,
    codebase_path: Option<&str>,
    file_path: &str,
) -> Result<(Arc<Root>, String), ToolError> {
    let file = PathBuf::from(file_path.trim());
    if file.as_os_str().is_empty() {
        return Err(ToolError::Failed("file_path is empty".into()));
    }
    let codebase = codebase_path.filter(|path| !path.trim().is_empty());
    let requested = match codebase {
        Some(codebase) if file.is_relative() => resolve_argument_path(ctx, codebase)?.join(&file),
        _ => file,
    };
    let (root, relative) = ctx.engine.locate(&requested)?;
    if relative.is_empty() {
        return Err(ToolError::Failed(format!(
            "{} is the codebase root, not a file",
            root.path.display()
        )));
    }
    Ok((root, relative))
}

/// Runs a structural query on `root` (or directory `prefix` in it) and returns its answer as
/// the tool's object, with notes on the index's freshness when there are any.
async fn structure_answer<T, F>(
    ctx: &ToolContext,
    root: &Arc<Root>,
    prefix: String,
    query: F,
) -> ToolResult
where
    T: serde::Serialize + Send + 'static,
    F: FnOnce(&Scope<'_>) -> Result<T, StructureError> + Send + 'static,
{
    let (answer, notes) = ctx.engine.structure(root, prefix, query).await?;
    let mut object = to_object(&answer)?;
    if !notes.is_empty() {
        object.insert("notes".into(), notes.into());
    }
    Ok(object)
}

/// Turns a serializable value into the JSON object a tool returns.
fn to_object<T: serde::Serialize>(value: &T) -> ToolResult {
    match serde_json::to_value(value) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => {
            let mut object = serde_json::Map::new();
            object.insert("result".into(), other);
            Ok(object)
        }
        Err(err) => Err(ToolError::Failed(format!(
            "cannot encode the result: {err}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_an_object_schema_without_nullable_types() {
        for tool in all() {
            let schema = Value::Object(tool.input_schema.as_ref().clone());
            assert_eq!(schema["type"], "object", "{}", tool.name);
            let text = schema.to_string();
            assert!(!text.contains("\"null\""), "{}: {text}", tool.name);
            assert!(!text.contains("uint"), "{}: {text}", tool.name);
            assert!(TOOL_NAMES.contains(&tool.name.as_ref()), "{}", tool.name);
        }
        assert_eq!(all().len(), TOOL_NAMES.len());
    }
}
