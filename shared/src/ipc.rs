//! Opening a connection to the daemon's local socket (Unix domain socket, or named pipe on
//! Windows) and performing the hello handshake, for blocking clients.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::time::Duration;

use interprocess::local_socket::traits::Stream as _;
use interprocess::local_socket::{GenericFilePath, Name, Stream, ToFsName};

use crate::protocol::{Channel, MAX_HELLO_LEN, parse_hello_reply};

/// How long a client waits for the daemon's hello reply before giving up.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection to the daemon could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Nothing is listening on the socket (it does not exist, or its daemon died).
    #[error("no daemon is listening on {socket}")]
    NotRunning {
        /// The socket path.
        socket: String,
    },
    /// The socket exists but could not be used.
    #[error("cannot connect to the daemon at {socket}: {source}")]
    Io {
        /// The socket path.
        socket: String,
        /// What the operating system said.
        source: io::Error,
    },
    /// The daemon answered the hello with a refusal.
    #[error("the daemon refused the connection: {0}")]
    Refused(String),
}

/// The socket path as an `interprocess` name.
pub fn socket_name(socket: &Path) -> io::Result<Name<'_>> {
    socket.to_fs_name::<GenericFilePath>()
}

/// Connects to the socket without any handshake.
pub fn connect_raw(socket: &Path) -> Result<Stream, ConnectError> {
    let describe = || socket.display().to_string();
    let name = socket_name(socket).map_err(|source| ConnectError::Io {
        socket: describe(),
        source,
    })?;
    Stream::connect(name).map_err(|source| {
        if is_gone(&source) {
            ConnectError::NotRunning { socket: describe() }
        } else {
            ConnectError::Io {
                socket: describe(),
                source,
            }
        }
    })
}

/// Whether an I/O error means nobody (any more) serves the socket: it does not exist, it is
/// stale, or its daemon died while we were connecting.
fn is_gone(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// An open, handshaken connection to the daemon.
pub struct Connection {
    /// The stream, positioned just after the daemon's hello reply.
    pub stream: BufReader<Stream>,
    /// The daemon's version, from its hello reply.
    pub daemon_version: String,
}

/// Connects to the daemon at `socket` and opens `channel`.
pub fn connect(socket: &Path, channel: Channel) -> Result<Connection, ConnectError> {
    let stream = connect_raw(socket)?;
    let io_error = |source: io::Error| {
        if is_gone(&source) {
            ConnectError::NotRunning {
                socket: socket.display().to_string(),
            }
        } else {
            ConnectError::Io {
                socket: socket.display().to_string(),
                source,
            }
        }
    };
    stream
        .set_recv_timeout(Some(HELLO_TIMEOUT))
        .map_err(io_error)?;
    let mut stream = BufReader::new(stream);
    stream
        .get_mut()
        .write_all(channel.hello().as_bytes())
        .map_err(io_error)?;
    let mut reply = String::new();
    let read = (&mut stream)
        .take(MAX_HELLO_LEN as u64)
        .read_line(&mut reply)
        .map_err(io_error)?;
    if read == 0 {
        // The daemon died (or is shutting down) between accepting and answering.
        return Err(ConnectError::NotRunning {
            socket: socket.display().to_string(),
        });
    }
    let daemon_version =
        parse_hello_reply(reply.trim_end_matches('\n')).map_err(ConnectError::Refused)?;
    stream.get_ref().set_recv_timeout(None).map_err(io_error)?;
    Ok(Connection {
        stream,
        daemon_version,
    })
}
