//! `codesage logs`: print (and with `-f` follow) the daemon's newest log file, optionally only
//! the lines at or above a level (text or JSON-lines logs alike).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use codesaged::logging::LOG_FILE_PREFIX;

/// A log level, least to most verbose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Level {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Informational lines and above.
    Info,
    /// Debugging lines and above.
    Debug,
    /// Everything.
    Trace,
}

impl Level {
    const NAMES: [(&'static str, Level); 5] = [
        ("ERROR", Level::Error),
        ("WARN", Level::Warn),
        ("INFO", Level::Info),
        ("DEBUG", Level::Debug),
        ("TRACE", Level::Trace),
    ];

    /// The level of a log line: `"level":"WARN"` in JSON lines, or the level word after
    /// the timestamp in text lines. `None` for continuation lines.
    fn of_line(line: &str) -> Option<Level> {
        if let Some(rest) = line.split_once("\"level\":\"").map(|(_, rest)| rest) {
            return Self::NAMES
                .iter()
                .find(|(name, _)| rest.starts_with(name))
                .map(|(_, level)| *level);
        }
        let word = line.split_whitespace().nth(1)?;
        Self::NAMES
            .iter()
            .find(|(name, _)| *name == word)
            .map(|(_, level)| *level)
    }
}

/// Keeps lines at `wanted` or above; a line without a level (a continuation) goes with the
/// line before it.
struct LevelFilter {
    wanted: Option<Level>,
    showing: bool,
}

impl LevelFilter {
    fn keep(&mut self, line: &str) -> bool {
        let Some(wanted) = self.wanted else {
            return true;
        };
        if let Some(level) = Level::of_line(line) {
            self.showing = level <= wanted;
        }
        self.showing
    }
}

/// Runs the command.
pub fn run(log_dir: &Path, lines: usize, follow: bool, level: Option<Level>) -> Result<()> {
    let mut filter = LevelFilter {
        wanted: level,
        showing: true,
    };
    let Some(file) = newest_log(log_dir)? else {
        bail!(
            "no daemon log in {} yet (the daemon writes one once it has started)",
            log_dir.display()
        );
    };
    let mut handle =
        std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut text = String::new();
    handle.read_to_string(&mut text)?;
    let all: Vec<&str> = text.lines().filter(|line| filter.keep(line)).collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in &all[all.len().saturating_sub(lines)..] {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    if !follow {
        return Ok(());
    }
    let mut position = handle.seek(SeekFrom::End(0))?;
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let length = std::fs::metadata(&file).map(|meta| meta.len()).unwrap_or(0);
        if length < position {
            position = 0; // rotated or truncated
        }
        if length > position {
            handle.seek(SeekFrom::Start(position))?;
            let mut chunk = Vec::new();
            handle.read_to_end(&mut chunk)?;
            position += chunk.len() as u64;
            for line in String::from_utf8_lossy(&chunk).split_inclusive('\n') {
                if filter.keep(line) {
                    out.write_all(line.as_bytes())?;
                }
            }
            out.flush()?;
        }
    }
}

fn newest_log(log_dir: &Path) -> Result<Option<PathBuf>> {
    let entries = match std::fs::read_dir(log_dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", log_dir.display())),
    };
    let mut logs: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(LOG_FILE_PREFIX))
        })
        .collect();
    // Daily files are named by date, so the newest sorts last.
    logs.sort();
    Ok(logs.pop())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_read_from_text_and_json_lines() {
        let text = "2026-12-05T12:00:00.000000Z  WARN codesaged::server: slow";
        assert_eq!(Level::of_line(text), Some(Level::Warn));
        let json = r#"{"timestamp":"2026-12-05T12:00:00Z","level":"ERROR","fields":{}}"#;
        assert_eq!(Level::of_line(json), Some(Level::Error));
        let mut filter = LevelFilter {
            wanted: Some(Level::Warn),
            showing: true,
        };
        assert!(filter.keep(text));
        assert!(filter.keep("   continuation of the warning"));
        assert!(!filter.keep("2026-12-05T12:00:01.000000Z  INFO codesaged: fine"));
        assert!(!filter.keep("   continuation of the info line"));
    }
}
