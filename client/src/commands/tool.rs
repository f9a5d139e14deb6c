//! `codesage tool NAME [ARGUMENTS]`: calls any MCP tool with JSON arguments and prints its
//! answer as an MCP client would get it (the same limits, wording and envelope), for scripts
//! and for seeing exactly what an agent sees.

use anyhow::{Context, Result};
use serde_json::Value;

use crate::control::{self, Query};
use crate::target::Target;

/// Runs the command.
pub fn run(target: &Target, name: &str, arguments: Option<&str>) -> Result<()> {
    let arguments: Value = match arguments.map(str::trim).filter(|text| !text.is_empty()) {
        Some(text) => serde_json::from_str(text).with_context(|| {
            format!(
                "the arguments must be a JSON object, e.g. '{{\"pattern\": \"x\"}}'; got {text:?}"
            )
        })?,
        None => Value::Null,
    };
    let answer = control::query(
        target,
        Query {
            name,
            arguments,
            command_line: false,
        },
        true,
        |update| eprintln!("codesage: {}", update.message),
    )?;
    outln!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}
