//! `codesage stop`: ask the daemon to shut down gracefully and wait until it has.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use codesage_shared::ipc::ConnectError;
use codesage_shared::protocol::{Channel, ControlEvent, ControlRequest};

use crate::control;
use crate::target::Target;

/// How long to wait for the daemon to finish shutting down.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the command.
pub fn run(target: &Target) -> Result<()> {
    match target.connect(Channel::Control) {
        Err(ConnectError::NotRunning { .. }) => {
            println!("codesaged is not running");
            return Ok(());
        }
        Err(err) => return Err(err.into()),
        Ok(_) => {}
    }
    match control::request(target, &ControlRequest::Stop, false, |_| {})? {
        ControlEvent::Stopping => {}
        ControlEvent::Error { message } => bail!(message),
        other => bail!("unexpected answer from the daemon: {other:?}"),
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if matches!(
            target.connect(Channel::Control),
            Err(ConnectError::NotRunning { .. })
        ) {
            println!("codesaged stopped");
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!(
        "codesaged accepted the stop request but still listens after {} s",
        STOP_TIMEOUT.as_secs()
    )
}
