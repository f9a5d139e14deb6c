//! `codesage forget DIR`: stop indexing a codebase and remove it from the store, freeing
//! every content no other indexed codebase (another worktree, a copy) still uses.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;

use crate::control::{self, Query};
use crate::target::Target;

/// Runs the command.
pub fn run(target: &Target, dir: &Path, json: bool) -> Result<()> {
    // A directory that is gone can still be forgotten by its registered path.
    let dir = dir.canonicalize().or_else(|_| {
        std::path::absolute(dir).with_context(|| format!("cannot use {}", dir.display()))
    })?;
    let answer = control::query(
        target,
        Query {
            name: "forget_codebase",
            arguments: json!({ "path": dir }),
            command_line: true,
        },
        true,
        |_| {},
    )?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        outln!(
            "forgot {}: {} file records removed, {} contents freed; {} codebase(s) still indexed",
            answer["root"].as_str().unwrap_or(""),
            answer["files_removed"],
            answer["contents_freed"],
            answer["roots_left"],
        );
    }
    Ok(())
}
