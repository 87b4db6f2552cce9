//! What every request and response passes through before and after the router: the request
//! body's time-out, `Connection: close` when the body was left unread, and `nosniff`.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{CONNECTION, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, Request, Response};
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutBody;

/// The app as the connection sees it: the router with `.json` stripped.
pub type App =
    tower::util::MapRequest<axum::Router, fn(axum::extract::Request) -> axum::extract::Request>;

/// Answers one request: the body fails after `body_timeout` without a frame; a response
/// returned before the body was read to its end says `Connection: close`, since hyper then
/// closes the connection (it drains only what already arrived) and a client must not send its
/// next request there; every response says `X-Content-Type-Options: nosniff`, so a browser
/// never runs a served picture as a script or page.
pub async fn answer(
    app: App,
    request: Request<Incoming>,
    body_timeout: Duration,
) -> Response<Body> {
    let has_body = !request.body().is_end_stream();
    let finished = Arc::new(AtomicBool::new(!has_body));
    let tracked = finished.clone();
    let request = request.map(move |body| {
        Body::new(Tracked {
            inner: Box::pin(TimeoutBody::new(body_timeout, body)),
            finished: tracked,
        })
    });
    let mut response = match app.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let headers = response.headers_mut();
    if !finished.load(Ordering::Acquire) {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// A request body that records whether it was read to its end.
struct Tracked {
    // Boxed because the time-out's timer is not `Unpin`; one allocation per request.
    inner: Pin<Box<TimeoutBody<Incoming>>>,
    finished: Arc<AtomicBool>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = <TimeoutBody<Incoming> as HttpBody>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = self.inner.as_mut().poll_frame(cx);
        let done = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            Poll::Ready(Some(Err(_))) | Poll::Pending => false,
        };
        if done {
            self.finished.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
