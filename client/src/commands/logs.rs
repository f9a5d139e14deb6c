//! `codesage logs`: print (and with `-f` follow) the daemon's newest log file.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use codesaged::logging::LOG_FILE_PREFIX;

/// Runs the command.
pub fn run(log_dir: &Path, lines: usize, follow: bool) -> Result<()> {
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
    let all: Vec<&str> = text.lines().collect();
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
            out.write_all(&chunk)?;
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
