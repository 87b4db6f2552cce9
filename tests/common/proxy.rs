//! A round-robin HTTP/1.1 proxy on loopback, for several `serve` nodes in tests and benchmarks:
//! each *request* (not each connection) goes to the next node in turn, both bodies stream, and
//! every end-to-end header is kept, `Host` included, so the image URLs a node writes point at
//! the proxy, as behind a real load balancer.
//!
//! Used by `nodes.rs` and, through `#[path]`, by `benches/nodes.rs`: it needs nothing else of
//! the test helpers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::serve::ListenerExt as _;
use futures_util::{StreamExt as _, TryStreamExt as _};

/// A connection to a node that does not come up within this is a dead node: 502.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A whole exchange with a node, up to its answer's head (the slowest test upload, imaging
/// included, takes seconds).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a stopping proxy waits for the exchanges in flight before it drops them.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The nodes a [`Proxy`] sends to, and its turn counter.
struct Backends {
    /// Each node's `host:port`.
    nodes: Mutex<Vec<String>>,
    turn: AtomicUsize,
    /// Requests answered per node (by the node, not with the proxy's own 502).
    answered: Mutex<std::collections::HashMap<String, u64>>,
}

impl Backends {
    fn next(&self) -> Option<String> {
        let nodes = self.nodes.lock().unwrap();
        if nodes.is_empty() {
            return None;
        }
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        Some(nodes[turn % nodes.len()].clone())
    }
}

/// `http://host:port` → `host:port`.
fn authority(base_url: &str) -> String {
    base_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// A round-robin HTTP/1.1 proxy on loopback in front of nodes given by their base URLs.
pub struct Proxy {
    addr: SocketAddr,
    backends: Arc<Backends>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    /// Listens on `listen` (port 0: a free one) and sends requests to `nodes` in turn.
    pub async fn start(listen: SocketAddr, nodes: Vec<String>) -> Proxy {
        let backends = Arc::new(Backends {
            nodes: Mutex::new(nodes.iter().map(|n| authority(n)).collect()),
            turn: AtomicUsize::new(0),
            answered: Mutex::default(),
        });
        let listener = tokio::net::TcpListener::bind(listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(backends.clone());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // Small writes (a head, then its body) go out at once, not after a delayed ACK.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await;
        });
        Proxy {
            addr,
            backends,
            stop: Some(stop_tx),
            task: Some(task),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends the next requests to these nodes only (a load balancer taking a dead node out).
    pub fn set_nodes(&self, nodes: Vec<String>) {
        *self.backends.nodes.lock().unwrap() = nodes.iter().map(|n| authority(n)).collect();
    }

    /// How many requests each node answered through this proxy, by `host:port`.
    pub fn answered(&self) -> std::collections::HashMap<String, u64> {
        self.backends.answered.lock().unwrap().clone()
    }

    /// Stops accepting, lets the exchanges in flight finish for a while, then drops them.
    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(STOP_GRACE, &mut task).await.is_err()
        {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Headers that belong to one connection, not to the request (RFC 9110 §7.6.1).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if !is_hop_by_hop(name) {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
}

/// An error and its causes, for the 502's body (what failed between the proxy and the node).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

async fn forward(State(backends): State<Arc<Backends>>, request: Request) -> Response {
    let Some(node) = backends.next() else {
        return bad_gateway("the proxy has no node");
    };
    match tokio::time::timeout(EXCHANGE_TIMEOUT, exchange(&node, request)).await {
        Ok(Ok(answer)) => {
            *backends.answered.lock().unwrap().entry(node).or_default() += 1;
            answer
        }
        Ok(Err(err)) if closed_without_answer(err.as_ref()) => cut_off(),
        Ok(Err(err)) => bad_gateway(&format!("{node}: {}", error_chain(err.as_ref()))),
        Err(_) => bad_gateway(&format!(
            "{node} did not answer within {EXCHANGE_TIMEOUT:?}"
        )),
    }
}

fn bad_gateway(why: &str) -> Response {
    (
        StatusCode::BAD_GATEWAY,
        format!("the proxy could not get an answer from {why}"),
    )
        .into_response()
}

/// Whether the node closed the connection before a complete answer head (as `serve --faults`
/// does on purpose, and a killed node by accident).
fn closed_without_answer(err: &(dyn std::error::Error + 'static)) -> bool {
    err.downcast_ref::<hyper::Error>()
        .is_some_and(|e| e.is_incomplete_message())
}

/// The client sees what the node did: its connection closes without an answer. (A body that
/// fails before the head is flushed makes hyper drop the connection, as the node's own faults
/// do; a real load balancer would answer 502 instead, which the client treats alike.)
fn cut_off() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<bytes::Bytes, _>(std::io::Error::other("the node closed the connection"))
    });
    Response::new(Body::from_stream(failing))
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One request to `node` on a connection of its own, its answer streamed back.
///
/// A request body waits for the node's `100 Continue` (`Expect: 100-continue`): a node that
/// answers before reading the body (401, 404, 413) closes the connection after its answer, and
/// a proxy still sending the body then gets a broken pipe instead of the answer. Waiting also
/// means the node sees the body arrive as the client sends it, slow clients included.
async fn exchange(node: &str, request: Request) -> Result<Response, BoxError> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(node))
        .await
        .map_err(|_| format!("no connection within {CONNECT_TIMEOUT:?}"))??;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);

    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = end_to_end(&parts.headers);
    let has_body = parts.headers.contains_key(header::CONTENT_LENGTH)
        || parts.headers.contains_key(header::TRANSFER_ENCODING);
    let (go_on, gate) = tokio::sync::oneshot::channel::<()>();
    let upstream_body = if has_body {
        headers.insert(
            header::EXPECT,
            axum::http::HeaderValue::from_static("100-continue"),
        );
        let client_body = body.into_data_stream();
        let gated = futures_util::stream::once(async move {
            gate.await
                .map_err(|_| std::io::Error::other("the node never asked for the body"))
        })
        .map_ok(|()| futures_util::stream::empty::<Result<bytes::Bytes, std::io::Error>>())
        .try_flatten()
        .chain(client_body.map_err(std::io::Error::other));
        Body::from_stream(gated)
    } else {
        Body::empty()
    };
    let mut upstream = axum::http::Request::builder()
        .method(parts.method)
        .uri(path)
        .body(upstream_body)?;
    *upstream.headers_mut() = headers;
    let go_on = Mutex::new(Some(go_on));
    hyper::ext::on_informational(&mut upstream, move |informational| {
        if informational.status() == StatusCode::CONTINUE
            && let Some(go_on) = go_on.lock().unwrap().take()
        {
            let _ = go_on.send(());
        }
    });
    let answer = sender.send_request(upstream).await?;
    let (parts, body) = answer.into_parts();
    let mut response = Response::from_parts(parts, Body::new(body));
    *response.headers_mut() = end_to_end(response.headers());
    Ok(response)
}
