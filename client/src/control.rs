//! Sending one control request to the daemon and reading its events.

use std::io::{BufRead, Read, Write};

use anyhow::{Context, Result, bail};
use codesage_shared::protocol::{Channel, ControlEvent, ControlRequest};

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
        let event: ControlEvent = serde_json::from_str(text.trim_end())
            .with_context(|| format!("unexpected answer from the daemon: {}", text.trim_end()))?;
        on_event(&event);
        if event.is_final() {
            return Ok(event);
        }
    }
}
