//! One accepted connection: check the peer, read the hello line, and hand the stream to the
//! MCP server or the control handler.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::Engine;
use crate::shutdown::Signals;
use codesage_shared::protocol::{Channel, MAX_HELLO_LEN, hello_err, hello_ok};
use interprocess::local_socket::tokio::Stream;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// How long a client gets to send its hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one connection to completion. Never panics on client input.
pub async fn handle(engine: Arc<Engine>, stream: Stream, signals: Signals) {
    let counted = Arc::clone(&engine);
    let _open = counted.metrics().connection_opened();
    let stream_uid = peer_creds_uid(&stream);
    let (reader, mut writer) = tokio::io::split(stream);
    let mut reader = BufReader::new(reader);

    let mut hello = String::new();
    let read = tokio::time::timeout(
        HELLO_TIMEOUT,
        (&mut reader)
            .take(MAX_HELLO_LEN as u64)
            .read_line(&mut hello),
    )
    .await;
    let channel = match read {
        Ok(Ok(n)) if n > 0 => Channel::parse_hello(hello.trim_end_matches('\n')),
        Ok(Ok(_)) => return,
        Ok(Err(err)) => Err(format!("cannot read the hello line: {err}")),
        Err(_) => Err("no hello line received in time".to_string()),
    };
    let channel = match channel {
        Ok(channel) => channel,
        Err(reason) => {
            tracing::debug!(%reason, "refused connection");
            let _ = writer.write_all(hello_err(&reason).as_bytes()).await;
            return;
        }
    };
    if writer
        .write_all(hello_ok(codesage_shared::VERSION).as_bytes())
        .await
        .is_err()
    {
        return;
    }
    match channel {
        Channel::Mcp => crate::mcp::serve(engine, reader, writer, signals.shutdown).await,
        Channel::Control => {
            let actor = stream_uid.map_or_else(|| "local".to_string(), |uid| format!("uid:{uid}"));
            if let Err(err) = crate::control::serve(
                engine,
                reader,
                writer,
                signals.stop,
                signals.stop_waiters,
                actor,
            )
            .await
            {
                tracing::debug!(error = %err, "control connection ended early");
            }
        }
    }
}

/// Refuses a connection over the limit with a message the client shows.
pub async fn refuse_busy(stream: Stream, limit: usize) {
    let (_reader, mut writer) = tokio::io::split(stream);
    let reason = format!(
        "the daemon is serving its maximum of {limit} connections; retry shortly or raise \
         server.max_connections"
    );
    let _ = writer.write_all(hello_err(&reason).as_bytes()).await;
}

/// Tells a peer running as another user that it is refused, and why, instead of closing on
/// it without a word (it would look like a daemon that died). Its hello is read first (a
/// bounded line, briefly), so that its write does not fail on a closed socket before it can
/// read the reason.
pub async fn refuse_other_user(stream: Stream) {
    let (reader, mut writer) = tokio::io::split(stream);
    let reason = "this daemon serves only the user it runs as; connections from other users \
                  are refused";
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut hello = Vec::new();
        let _ = BufReader::new(reader)
            .take(MAX_HELLO_LEN as u64)
            .read_until(b'\n', &mut hello)
            .await;
        writer.write_all(hello_err(reason).as_bytes()).await
    })
    .await;
}

/// The peer's effective uid, where the platform tells.
fn peer_creds_uid(stream: &Stream) -> Option<u32> {
    #[cfg(unix)]
    {
        use interprocess::local_socket::traits::StreamCommon;
        stream.peer_creds().ok().and_then(|creds| creds.euid())
    }
    #[cfg(not(unix))]
    {
        let _ = stream;
        None
    }
}

/// Whether the peer runs as the same user as the daemon (always true where the platform
/// cannot tell; the socket's folder is private anyway).
pub fn peer_is_same_user(stream: &Stream, our_uid: Option<u32>) -> bool {
    #[cfg(unix)]
    {
        use interprocess::local_socket::traits::StreamCommon;
        let Some(our_uid) = our_uid else { return true };
        match stream.peer_creds() {
            Ok(creds) => creds.euid().is_none_or(|uid| uid == our_uid),
            Err(_) => true,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (stream, our_uid);
        true
    }
}
