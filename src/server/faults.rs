//! `--faults SEED`: a deterministic fault injector on `/api/v2` and `/api/v3`, so that clients
//! can be tested against what the network and a real store's front do to them (SPEC §2: "a 502
//! or a closed connection may come on any method", "an answer can be lost after the write
//! committed") and a failure, once seen, can be replayed with the same seed.
//!
//! Each API request draws from one seeded RNG, in the order the requests reach the injector, so
//! the same seed and the same sequence of requests give the same faults. A request gets either
//! nothing or one [`Fault`]. `/healthz`, `/metrics` and `/product_images` are never touched.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

/// Percent of API requests that get a fault unless `--fault-rate` says otherwise: high enough
/// that a few dozen requests meet every kind, low enough that a client's retries get through.
pub const DEFAULT_FAULT_PERCENT: u8 = 15;

/// A faulty request gets each kind of [`Fault`] with the same chance: one in
/// `FAULT_KINDS` of [`DEFAULT_FAULT_PERCENT`] (or `--fault-rate`). On GET, HEAD and OPTIONS
/// (nothing to commit) the two "after commit" kinds are their "before" twins.
pub const FAULT_KINDS: u32 = 4;

/// What a faulty request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A 502 with a short non-JSON body (as a proxy in front of a store sends), before the
    /// handler runs: nothing happened.
    BadGateway,
    /// The connection is closed without an answer, before the handler runs: nothing happened.
    ConnectionClosed,
    /// The handler runs and its write commits, then the answer is replaced by a 502.
    BadGatewayAfterCommit,
    /// The handler runs and its write commits, then the connection is closed without an answer.
    ConnectionClosedAfterCommit,
}

impl Fault {
    /// Whether the request was carried out before its answer was lost.
    pub fn after_commit(self) -> bool {
        matches!(
            self,
            Fault::BadGatewayAfterCommit | Fault::ConnectionClosedAfterCommit
        )
    }
}

/// The seeded source of faults.
pub struct Injector {
    percent: u32,
    rng: Mutex<StdRng>,
}

impl Injector {
    /// `percent` is capped at 100.
    pub fn new(seed: u64, percent: u8) -> Self {
        Self {
            percent: u32::from(percent.min(100)),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    /// The fault of the next request (of `method`), if any. Exactly two draws per request, so
    /// that the sequence depends on the seed and the order of requests only.
    pub fn draw(&self, method: &Method) -> Option<Fault> {
        let (roll, kind) = {
            // A poisoned lock only means a request panicked while holding it; the RNG is intact.
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            (
                rng.random_range(0..100u32),
                rng.random_range(0..FAULT_KINDS),
            )
        };
        if roll >= self.percent {
            return None;
        }
        let commits = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        Some(match (kind, commits) {
            (0, _) | (2, false) => Fault::BadGateway,
            (1, _) | (3, false) => Fault::ConnectionClosed,
            (2, true) => Fault::BadGatewayAfterCommit,
            _ => Fault::ConnectionClosedAfterCommit,
        })
    }
}

/// Marks a response the injector made, so that `json_errors` leaves its body as it is.
#[derive(Debug, Clone, Copy)]
pub struct Injected;

/// The middleware on the API routers. Its state is the injector alone (not the server's
/// `AppState`, which holds it), so that this module does not depend on the one that uses it.
pub async fn inject(
    State(injector): State<Option<Arc<Injector>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(fault) = injector
        .as_ref()
        .and_then(|injector| injector.draw(request.method()))
    else {
        return next.run(request).await;
    };
    // Inside `nest` the URI has lost its `/api/v2` or `/api/v3`; the log names the full path.
    let path = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().path(), |uri| uri.path())
        .to_owned();
    tracing::debug!(kind = ?fault, method = %request.method(), path, "injecting a fault");
    if fault.after_commit() {
        // The whole answer is built (handlers render their bodies before returning), so the
        // write has committed when this returns; the answer is then thrown away.
        drop(next.run(request).await);
    }
    match fault {
        Fault::BadGateway | Fault::BadGatewayAfterCommit => bad_gateway(),
        Fault::ConnectionClosed | Fault::ConnectionClosedAfterCommit => closed_connection(),
    }
}

fn bad_gateway() -> Response {
    let mut response = Response::new(Body::from(
        "<html><body><h1>502 Bad Gateway</h1>(injected by --faults)</body></html>",
    ));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/html"),
    );
    response.extensions_mut().insert(Injected);
    response
}

/// A response whose body fails at once: hyper then drops the connection before the buffered
/// head is flushed, so the client sees the connection closed without an answer.
fn closed_connection() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "connection closed by --faults",
        ))
    });
    let mut response = Response::new(Body::from_stream(failing));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response.extensions_mut().insert(Injected);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(seed: u64, percent: u8, method: &Method) -> Vec<Option<Fault>> {
        let injector = Injector::new(seed, percent);
        (0..400).map(|_| injector.draw(method)).collect()
    }

    #[test]
    fn the_seed_decides_the_sequence() {
        assert_eq!(
            sequence(7, 15, &Method::POST),
            sequence(7, 15, &Method::POST)
        );
        assert_ne!(
            sequence(7, 15, &Method::POST),
            sequence(8, 15, &Method::POST)
        );
        let faults = sequence(7, 15, &Method::POST).into_iter().flatten().count();
        assert!((20..=100).contains(&faults), "{faults} faults in 400");
        assert!(sequence(7, 0, &Method::POST).iter().all(Option::is_none));
        assert!(sequence(7, 100, &Method::POST).iter().all(Option::is_some));
    }

    #[test]
    fn reads_never_get_a_fault_after_commit() {
        let reads = sequence(3, 100, &Method::GET);
        assert!(reads.iter().flatten().all(|f| !f.after_commit()));
        let writes = sequence(3, 100, &Method::DELETE);
        assert!(writes.iter().flatten().any(|f| f.after_commit()));
        assert!(writes.iter().flatten().any(|f| !f.after_commit()));
    }
}
