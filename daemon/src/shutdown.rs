//! What a connection needs to take part in the daemon's graceful shutdown: the broadcast that
//! it has begun, the token a `stop` request cancels, and the connections that asked for the
//! stop, held open until the daemon has fully stopped.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

/// Signals a connection handler can receive.
#[derive(Clone)]
pub struct Signals {
    /// Fired when the daemon starts shutting down.
    pub shutdown: CancellationToken,
    /// Cancelled by a control `stop` request, to start the shutdown.
    pub stop: CancellationToken,
    /// Connections that asked for the stop, held open until the daemon has stopped.
    pub stop_waiters: StopWaiters,
}

/// Connections that asked the daemon to stop. They stay open until the daemon has fully
/// stopped (store closed), so `codesage stop` returns only then: the client reads until the
/// connection closes.
#[derive(Clone, Default)]
pub struct StopWaiters(Arc<parking_lot::Mutex<Vec<Box<dyn Send>>>>);

impl StopWaiters {
    /// Keeps `connection` open until the held connections are released.
    pub fn hold(&self, connection: impl Send + 'static) {
        self.0.lock().push(Box::new(connection));
    }

    /// Leaves every held connection open until the process exits, when the operating system
    /// closes them: the requester then knows the daemon is gone, not merely finishing.
    pub fn close_at_exit(&self) {
        std::mem::forget(std::mem::take(&mut *self.0.lock()));
    }
}
