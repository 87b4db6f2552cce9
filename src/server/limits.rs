//! The server's budgets of time and connections (issue 14): what one client may hold and for
//! how long. Production values are the defaults; tests shorten them through `Config::limits`.

use std::time::Duration;

/// A connection that has not delivered a whole request head this long after it opened, or
/// after its previous response, is closed. hyper starts one timer whenever it begins waiting
/// for a request, so this is both the header read time-out (a half-sent head) and the
/// keep-alive idle time-out. 10 s is ample for any real client to send a head (a few hundred
/// bytes) and short enough that a slow-loris client holds a slot only briefly; API clients
/// reconnect cheaply after an idle close.
pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// A request body that delivers nothing for this long fails (the handler sees an error, the
/// connection is closed). An upload is at most 9 MiB: 30 s without a byte is a stalled client,
/// not a slow one.
pub const REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// A write to the client that makes no progress for this long fails and the connection is cut,
/// so a client that never reads its download does not hold a file and its buffers forever.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Open connections in total. A download holds two descriptors (its socket and its file), so
/// 400 of them stay under the common 1024 open-file soft limit with room for SQLite, the
/// listener and files being written: the cap refuses before the process runs out of
/// descriptors. Raise it together with `ulimit -n`.
pub const MAX_CONNECTIONS: u32 = 400;

/// Open connections from one IP address: one host cannot take every slot. A browser opens 6
/// per origin and the desktop app a handful, so 64 leaves room for proxies and scripts.
pub const MAX_CONNECTIONS_PER_IP: u32 = 64;

/// After a stop is asked for, requests in flight get this long to finish; then every
/// connection still open is cut and the server returns. Inside systemd's default stop time-out
/// (90 s) and Kubernetes' default grace period (30 s).
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Every budget the server enforces on its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// See [`REQUEST_HEAD_TIMEOUT`].
    pub request_head: Duration,
    /// See [`REQUEST_BODY_TIMEOUT`].
    pub request_body: Duration,
    /// See [`WRITE_TIMEOUT`].
    pub write: Duration,
    /// See [`MAX_CONNECTIONS`]. Past it a new connection is closed at once, unread.
    pub max_connections: u32,
    /// See [`MAX_CONNECTIONS_PER_IP`]. Past it a new connection is closed at once, unread.
    pub max_connections_per_ip: u32,
    /// See [`SHUTDOWN_TIMEOUT`].
    pub shutdown: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            request_head: REQUEST_HEAD_TIMEOUT,
            request_body: REQUEST_BODY_TIMEOUT,
            write: WRITE_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            max_connections_per_ip: MAX_CONNECTIONS_PER_IP,
            shutdown: SHUTDOWN_TIMEOUT,
        }
    }
}
