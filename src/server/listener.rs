//! The accept loop: connection caps, per-connection time-outs, and a stop with a deadline.
//! `axum::serve` has none of these (and runs hyper without the timer its header time-out
//! needs), so the server drives hyper itself.

use std::convert::Infallible;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_io_timeout::TimeoutStream;

use super::conn_caps::ConnectionCaps;
use super::exchange::{self, App};
use super::limits::ServerLimits;
use super::metrics::Metrics;

/// The most hyper buffers per connection, each way. Its default (about 400 KiB) is what a
/// client that stops reading pins in memory until the write time-out: 200 such downloads held
/// 96 MiB with it and 28 MiB with 64 KiB (tests/server_limits.rs). It also caps a request
/// head, which is a few hundred bytes from any real client.
const CONNECTION_BUFFER: usize = 64 * 1024;

/// How long the loop waits after an accept error that is not about one connection (out of
/// file descriptors, say), so that it does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets requests
/// in flight finish for at most `limits.shutdown`, cuts whatever is still open, and returns.
pub async fn serve(
    listener: TcpListener,
    app: App,
    limits: ServerLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let caps = ConnectionCaps::new(limits.max_connections, limits.max_connections_per_ip);
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.request_head)
        .max_buf_size(CONNECTION_BUFFER)
        .keep_alive(true);
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            // Reaps finished connection tasks so the set holds only open ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        pause_after(&err).await;
                        continue;
                    }
                };
                let Some(slot) = caps.admit(peer.ip()) else {
                    // Refused unread: answering would mean reading the request first, which is
                    // the very work the cap is there to refuse.
                    tracing::debug!(%peer, "connection refused: connection cap reached");
                    metrics.connection_refused();
                    drop(stream);
                    continue;
                };
                let app = app.clone();
                let body_timeout = limits.request_body;
                let service = hyper::service::service_fn(move |request| {
                    let app = app.clone();
                    async move {
                        Ok::<_, Infallible>(exchange::answer(app, request, body_timeout).await)
                    }
                });
                let io = io_with_write_timeout(stream, limits.write);
                let watched = graceful.watch(http.serve_connection(io, service));
                let open = OpenConnection::new(metrics.clone());
                connections.spawn(async move {
                    // Both end with the task, however it ends (aborted at the deadline too).
                    let _held = (slot, open);
                    if let Err(err) = watched.await {
                        tracing::debug!(%peer, "connection ended: {err}");
                    }
                });
            }
        }
    }
    drop(listener);
    // Idle connections close now, busy ones after their response; past the deadline the rest
    // are aborted (their tasks dropped, which closes the sockets and frees their slots).
    if tokio::time::timeout(limits.shutdown, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "shutdown deadline of {:?} passed: cutting the connections still open",
            limits.shutdown
        );
    }
    connections.shutdown().await;
}

/// Counts a connection in `/metrics` while it is open.
struct OpenConnection(Arc<Metrics>);

impl OpenConnection {
    fn new(metrics: Arc<Metrics>) -> Self {
        metrics.connection_opened();
        Self(metrics)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}

fn io_with_write_timeout(
    stream: TcpStream,
    write_timeout: Duration,
) -> TokioIo<std::pin::Pin<Box<TimeoutStream<TcpStream>>>> {
    let mut stream = TimeoutStream::new(stream);
    stream.set_write_timeout(Some(write_timeout));
    TokioIo::new(Box::pin(stream))
}

/// Errors about one connection (reset before it was accepted) are the client's affair; others
/// (no file descriptors left) last a while, so the loop pauses instead of spinning.
async fn pause_after(err: &io::Error) {
    if matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::warn!("accept failed: {err}");
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}
