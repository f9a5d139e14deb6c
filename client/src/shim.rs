//! `codesage mcp`: the stdio shim an MCP client launches. It connects to the daemon (starting
//! it if needed) and then only copies bytes: stdin to the socket, the socket to stdout. It
//! does no other work, so it starts in milliseconds.

use std::io::{BufRead, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use codesage_shared::protocol::Channel;
use interprocess::TryClone;
use interprocess::local_socket::Stream;

use crate::target::Target;

/// Runs the shim until either side closes.
pub fn run(target: &Target) -> Result<ExitCode> {
    let connection = target.connect_or_start(Channel::Mcp)?;
    let mut from_daemon = connection.stream;
    // A second handle to the connection, so reading and writing run on two threads.
    let stream: Arc<Stream> = Arc::new(from_daemon.get_ref().try_clone()?);
    let stdin_closed = Arc::new(AtomicBool::new(false));

    let to_daemon = Arc::clone(&stream);
    let closed = Arc::clone(&stdin_closed);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match stdin.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    if (&*to_daemon).write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        closed.store(true, Ordering::SeqCst);
        // Tell the daemon no more requests come; it answers what it has and closes.
        shutdown_write(&to_daemon);
    });

    let mut stdout = std::io::stdout().lock();
    loop {
        let chunk = match from_daemon.fill_buf() {
            Ok([]) => break,
            Ok(chunk) => chunk,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let length = chunk.len();
        if stdout
            .write_all(chunk)
            .and_then(|()| stdout.flush())
            .is_err()
        {
            // The MCP client closed our stdout: nobody is listening any more.
            return Ok(ExitCode::SUCCESS);
        }
        from_daemon.consume(length);
    }
    if stdin_closed.load(Ordering::SeqCst) {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "codesage mcp: the daemon on {} closed the connection (it stopped or crashed); \
             restart the MCP server to reconnect",
            target.socket.display()
        );
        Ok(ExitCode::FAILURE)
    }
}

fn shutdown_write(stream: &Stream) {
    #[cfg(unix)]
    {
        #[allow(irrefutable_let_patterns)]
        if let Stream::UdSocket(socket) = stream {
            let _ = socket.inner().shutdown(std::net::Shutdown::Write);
        }
    }
    #[cfg(not(unix))]
    {
        let _ = stream;
    }
}
