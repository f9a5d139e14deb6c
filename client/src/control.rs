//! Sending one control request to the daemon and reading its events.

use std::io::{BufRead, Read, Write};

use anyhow::{Context, Result, bail};
use codesage_shared::protocol::{
    Channel, ControlEvent, ControlRequest, ProgressUpdate, Words, parse_event,
};
use serde_json::{Map, Value};

use crate::target::{Target, explain};

/// Longest event line accepted from the daemon.
const MAX_EVENT_LEN: u64 = 256 * 1024 * 1024;

/// Sends `request` and feeds every event to `on_event` until the final one, which is
/// returned. With `start`, a daemon that is not running is started first.
pub fn request(
    target: &Target,
    request: &ControlRequest,
    start: bool,
    mut on_event: impl FnMut(&ControlEvent),
) -> Result<ControlEvent> {
    let connection = if start {
        target.connect_or_start(Channel::Control)?
    } else {
        target.connect(Channel::Control).map_err(explain)?
    };
    let mut stream = connection.stream;
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    stream
        .get_mut()
        .write_all(&line)
        .context("cannot send the request to the daemon")?;
    loop {
        let mut text = String::new();
        let read = (&mut stream)
            .take(MAX_EVENT_LEN)
            .read_line(&mut text)
            .context("lost the connection to the daemon")?;
        if read == 0 {
            bail!("the daemon closed the connection without answering (did it stop or crash?)");
        }
        let event: ControlEvent = parse_event(text.trim_end()).with_context(|| {
            let shown: String = text.trim_end().chars().take(300).collect();
            format!("unexpected answer from the daemon: {shown}")
        })?;
        on_event(&event);
        if event.is_final() {
            return Ok(event);
        }
    }
}

/// What a query asks the daemon for, as a command line states it.
pub struct Query<'a> {
    /// The query's name (the MCP tool's).
    pub name: &'a str,
    /// Its arguments.
    pub arguments: Value,
    /// Command-line wording and limits (`false`: the limits an agent gets, for `codesage
    /// tool`).
    pub command_line: bool,
}

/// Runs one query of the daemon's query layer (starting the daemon if `start`), feeding its
/// progress to `on_progress`; returns the answer object, or the daemon's message as the
/// error.
pub fn query(
    target: &Target,
    query: Query<'_>,
    start: bool,
    on_progress: impl FnMut(&ProgressUpdate),
) -> Result<Value> {
    let text = query_text(target, query, start, on_progress)?;
    serde_json::from_str(&text).context("unexpected answer from the daemon")
}

/// Like [`query`], returning the answer's JSON text for a caller that parses it into its
/// own type (large answers need no JSON tree).
pub fn query_text(
    target: &Target,
    query: Query<'_>,
    start: bool,
    mut on_progress: impl FnMut(&ProgressUpdate),
) -> Result<String> {
    let arguments = match query.arguments {
        Value::Object(arguments) => arguments,
        Value::Null => Map::new(),
        other => bail!("the arguments must be a JSON object, not {other}"),
    };
    let request = ControlRequest::Query {
        name: query.name.to_string(),
        arguments,
        cwd: std::env::current_dir().ok(),
        words: if query.command_line {
            Words::Cli
        } else {
            Words::Mcp
        },
        bounded: !query.command_line,
    };
    let event = self::request(target, &request, start, |event| {
        if let ControlEvent::Progress(update) = event {
            on_progress(update);
        }
    })?;
    match event {
        ControlEvent::Answer { answer } => Ok(answer.0),
        ControlEvent::Error { message } => bail!(message),
        other => bail!("unexpected answer from the daemon: {other:?}"),
    }
}

/// Prints an answer's notes on stderr, as `codesage: <note>` lines.
pub fn print_notes(answer: &Value) {
    for note in answer["notes"].as_array().into_iter().flatten() {
        eprintln!("codesage: {}", note.as_str().unwrap_or_default());
    }
}
