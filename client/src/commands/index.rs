//! `codesage index PATH`: register and index a directory through the daemon (starting it if
//! needed), with a progress bar, then a summary; `codesage reindex [PATH]` rebuilds one root
//! (or all) from the disk. Both are the daemon's `index_codebase` / `reindex` queries.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use codesage_shared::protocol::{IndexSummary, ProgressUpdate};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use super::{human_bytes, human_count};
use crate::control::{self, Query};
use crate::target::Target;

/// Runs the command.
pub fn run(target: &Target, path: &Path, json: bool) -> Result<()> {
    let path = path
        .canonicalize()
        .with_context(|| format!("cannot index {}", path.display()))?;
    if !path.is_dir() {
        bail!("{} is not a directory", path.display());
    }
    let bar = progress_bar();
    let answer = control::query(
        target,
        Query {
            name: "index_codebase",
            arguments: json!({ "path": path }),
            command_line: true,
        },
        true,
        |update| show_progress(&bar, update),
    );
    bar.finish_and_clear();
    let answer = answer?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print_summary(&summary(&answer)?);
    }
    control::print_notes(&answer);
    Ok(())
}

/// `codesage reindex [PATH]`: rebuild one root (or all) from the disk, trusting nothing stored.
pub fn reindex(target: &Target, path: Option<&Path>, json: bool) -> Result<()> {
    let path = path
        .map(|path| {
            path.canonicalize()
                .with_context(|| format!("cannot reindex {}", path.display()))
        })
        .transpose()?;
    let bar = progress_bar();
    let answer = control::query(
        target,
        Query {
            name: "reindex",
            arguments: json!({ "path": path }),
            command_line: true,
        },
        false,
        |update| show_progress(&bar, update),
    );
    bar.finish_and_clear();
    let answer = answer?;
    let roots = answer["roots"].clone();
    if json {
        // The summaries, one per rebuilt root.
        outln!("{}", serde_json::to_string_pretty(&roots)?);
    } else {
        let summaries: Vec<IndexSummary> =
            serde_json::from_value(roots).context("unexpected answer from the daemon")?;
        for summary in &summaries {
            print_summary(summary);
        }
    }
    control::print_notes(&answer);
    Ok(())
}

fn summary(answer: &Value) -> Result<IndexSummary> {
    serde_json::from_value(answer.clone()).context("unexpected answer from the daemon")
}

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} indexing [{elapsed_precise}] {bar:30} {pos}/{len} files {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn show_progress(bar: &ProgressBar, update: &ProgressUpdate) {
    let Some(progress) = &update.index else {
        return;
    };
    bar.set_length(progress.files_seen.max(progress.files_done));
    bar.set_position(progress.files_done);
    let stage = if progress.symbols_total > 0 {
        // The text index is complete; symbols are parsed in a second pass.
        format!(
            ", searchable; parsing symbols {}/{}",
            progress.symbols_done, progress.symbols_total
        )
    } else if progress.walk_done {
        String::new()
    } else {
        " (still walking)".to_string()
    };
    bar.set_message(format!("{}{stage}", human_bytes(progress.bytes_read)));
}

fn print_summary(summary: &IndexSummary) {
    let seconds = (summary.elapsed_ms as f64 / 1000.0).max(0.001);
    let processed = summary.files_read + summary.files_unchanged;
    outln!("Indexed {}", summary.root.display());
    outln!(
        "  files      {} ({} read, {} unchanged, {} removed)",
        human_count(summary.files),
        human_count(summary.files_read),
        human_count(summary.files_unchanged),
        human_count(summary.files_removed)
    );
    outln!("  size       {}", human_bytes(summary.bytes));
    if summary.files_parsed > 0 {
        outln!(
            "  symbols    {} files parsed (all text searchable after {:.2}s)",
            human_count(summary.files_parsed),
            summary.text_ms as f64 / 1000.0
        );
    }
    if summary.skipped_binary + summary.skipped_too_large + summary.errors > 0 {
        outln!(
            "  skipped    {} binary, {} too large, {} unreadable",
            summary.skipped_binary,
            summary.skipped_too_large,
            summary.errors
        );
    }
    let mut languages: Vec<(&String, &u64)> = summary.languages.iter().collect();
    languages.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let listed: Vec<String> = languages
        .iter()
        .take(8)
        .map(|(name, files)| format!("{name} {}", human_count(**files)))
        .collect();
    if !listed.is_empty() {
        let more = languages.len().saturating_sub(listed.len());
        let suffix = if more > 0 {
            format!(" · +{more} more")
        } else {
            String::new()
        };
        outln!("  languages  {}{suffix}", listed.join(" · "));
    }
    outln!(
        "  time       {:.2} s ({} files/s)",
        seconds,
        human_count((processed as f64 / seconds) as u64)
    );
}
