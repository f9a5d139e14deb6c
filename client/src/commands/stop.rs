//! `codesage stop`: ask the daemon to shut down gracefully and wait until it has.

use std::io::{BufRead, Read, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use codesage_shared::ipc::ConnectError;
use codesage_shared::protocol::{Channel, ControlEvent, ControlRequest};
use interprocess::local_socket::traits::Stream as _;

use crate::target::Target;

/// How long to wait for the daemon to finish shutting down.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the command.
pub fn run(target: &Target) -> Result<()> {
    // The daemon keeps this connection open until it has fully stopped (requests finished,
    // store closed), then the connection ends.
    let mut stream = match target.connect(Channel::Control) {
        Ok(connection) => connection.stream,
        Err(ConnectError::NotRunning { .. }) => {
            outln!("codesaged is not running");
            return Ok(());
        }
        Err(err) => return Err(err.into()),
    };
    let mut line = serde_json::to_vec(&ControlRequest::Stop)?;
    line.push(b'\n');
    stream.get_mut().write_all(&line)?;
    stream
        .get_ref()
        .set_recv_timeout(Some(STOP_TIMEOUT))
        .context("cannot set a timeout on the connection")?;
    let mut answer = String::new();
    stream.read_line(&mut answer)?;
    match serde_json::from_str::<ControlEvent>(answer.trim_end()) {
        Ok(ControlEvent::Stopping) => {}
        Ok(ControlEvent::Error { message }) => bail!(message),
        _ => bail!("unexpected answer from the daemon: {}", answer.trim_end()),
    }
    let started = Instant::now();
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => {
            outln!("codesaged stopped");
            Ok(())
        }
        Err(err) if started.elapsed() >= STOP_TIMEOUT => bail!(
            "codesaged accepted the stop request but had not stopped after {} s ({err})",
            STOP_TIMEOUT.as_secs()
        ),
        // The connection broke rather than closed: the daemon is gone either way.
        Err(_) => {
            outln!("codesaged stopped");
            Ok(())
        }
    }
}
