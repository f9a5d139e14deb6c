//! `generate_unit_tests(file_path, function_name)`: unit tests for one function in the
//! project's own test framework (detected from its manifests), returned as text and never
//! written to disk. The model writes them from the function's context; offline, a test
//! skeleton from its signature.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::assist::{self, FileHeader, ModelArgs, ModelUse, SYSTEM_PREAMBLE};
use super::{Answer, Ctx, Limits, QueryError, QueryResult};
use crate::llm::Prompt;
use crate::llm::context::{ContextSummary, SectionSymbol, Target};
use crate::llm::offline;

/// Parameters of `generate_unit_tests` (the original CodeSage's names).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// The file: absolute, or relative to codebase_path / the indexed root.
    pub file_path: String,
    /// The function or method to test (`name` or `Class.method`).
    pub function_name: String,
    /// The model, the codebase and paging.
    #[serde(flatten)]
    pub args: ModelArgs,
}

/// Tests for a function.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The file.
    #[serde(flatten)]
    pub file: FileHeader,
    /// The function tested.
    pub function: SectionSymbol,
    /// The test framework the tests are written for (detected from the project).
    pub framework: String,
    /// Where such tests usually live in this project's layout (a suggestion; nothing is
    /// written).
    pub suggested_path: String,
    /// The tests: the model's, or the offline skeleton.
    pub test_code: String,
    /// The offline skeleton from the signature (always computed).
    pub skeleton: String,
    /// Who answered.
    #[serde(flatten)]
    pub model: ModelUse,
    /// What context the model was given.
    pub context: ContextSummary,
}

/// One answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "test files",
        default: 1,
        max: 1,
    }
}

/// The code inside the first fenced block of a reply (or the whole reply).
pub fn code_of(reply: &str) -> String {
    let Some(start) = reply.find("```") else {
        return reply.trim().to_string();
    };
    let after = &reply[start + 3..];
    let body_start = after.find('\n').map_or(0, |at| at + 1);
    let body = &after[body_start..];
    match body.find("```") {
        Some(end) => body[..end].trim_end().to_string() + "\n",
        None => body.trim_end().to_string() + "\n",
    }
}

/// The conventional place for tests of `path` under `framework`.
fn suggested_path(path: &str, framework: &str) -> String {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    let (stem, extension) = file.rsplit_once('.').unwrap_or((file, ""));
    let join = |dir: &str, name: String| {
        if dir.is_empty() { name } else { format!("{dir}/{name}") }
    };
    match framework {
        "pytest" | "unittest" => format!("tests/test_{stem}.py"),
        "cargo test" => format!("{path} (a #[cfg(test)] mod tests at its end)"),
        "go test" => join(dir, format!("{stem}_test.go")),
        "jest" | "vitest" | "mocha" | "node:test" => join(dir, format!("{stem}.test.{extension}")),
        "JUnit 5" | "JUnit 4" => {
            let test_dir = dir.replacen("src/main/", "src/test/", 1);
            join(&test_dir, format!("{stem}Test.java"))
        }
        "RSpec" => format!("spec/{stem}_spec.rb"),
        "Minitest" => format!("test/test_{stem}.rb"),
        "PHPUnit" => format!("tests/{stem}Test.php"),
        "xUnit" => format!("tests/{stem}Tests.cs"),
        _ => join(dir, format!("test_{file}")),
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.args.page, limits(ctx.engine.config()))?;
    if params.function_name.trim().is_empty() {
        return Err(QueryError::Failed(format!(
            "{} is empty; name the function to test (`name` or `Class.method`)",
            ctx.words().param("function_name")
        )));
    }
    let target = Target {
        function_name: Some(params.function_name.clone()),
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
    let Some(function) = gathered.symbol.clone() else {
        return Err(QueryError::Internal {
            query: "generate_unit_tests",
            detail: "the function was found but not described".into(),
        });
    };
    let framework = if gathered.project.test_framework.is_empty() {
        "the usual test framework of the language".to_string()
    } else {
        gathered.project.test_framework.clone()
    };
    let skeleton = offline::test_skeleton(gathered, &framework);
    let prompt = Prompt {
        system: format!(
            "{SYSTEM_PREAMBLE} Write unit tests in {framework} for the function. Cover the \
             typical case, edge cases (empty, zero, boundaries) and the errors it raises or \
             returns, one behaviour per test, with descriptive names. Use only names that \
             exist in the context; stub or fake what it calls outside the codebase. Answer with \
             one fenced code block holding a complete test file, and nothing else."
        ),
        user: format!(
            "{}\nWrite {framework} tests for `{}` ({}).\nA skeleton to start from:\n```\n{skeleton}```\n",
            gathered.context, function.qualified_name, gathered.file_path
        ),
        max_tokens: assist::reply_tokens(&ctx, params.args.page.max_tokens),
    };
    let outcome =
        assist::ask(&ctx, "generate_unit_tests", params.args.llm_model.as_deref(), prompt).await?;
    let (model, note) = ModelUse::of(&outcome);
    let test_code = match &outcome {
        Ok(completion) => code_of(&completion.text),
        Err(_) => skeleton.clone(),
    };
    let mut output = Output {
        file: found.header(),
        suggested_path: suggested_path(&gathered.file_path, &framework),
        function,
        framework,
        test_code,
        skeleton,
        model,
        context: gathered.summary.clone(),
    };
    let cut = assist::fit(&pager, &mut output, |output| {
        if !output.skeleton.is_empty() && output.skeleton != output.test_code {
            output.skeleton.clear();
            return true;
        }
        assist::halve(&mut output.test_code)
    });
    Ok(Answer::new(output)
        .with_notes(found.notes)
        .with_notes(note)
        .with_notes(cut)
        .at_generation(found.generation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_blocks_are_unwrapped() {
        assert_eq!(code_of("Here:\n```python\ndef test_x():\n    pass\n```\nDone"), "def test_x():\n    pass\n");
        assert_eq!(code_of("def test_x(): pass"), "def test_x(): pass");
    }

    #[test]
    fn test_paths_follow_conventions() {
        assert_eq!(suggested_path("app/util.py", "pytest"), "tests/test_util.py");
        assert_eq!(suggested_path("pkg/server.go", "go test"), "pkg/server_test.go");
        assert_eq!(suggested_path("src/a.ts", "vitest"), "src/a.test.ts");
        assert_eq!(
            suggested_path("src/main/java/x/Foo.java", "JUnit 5"),
            "src/test/java/x/FooTest.java"
        );
    }
}
