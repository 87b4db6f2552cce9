//! `/metrics`: Prometheus text with request counts by route and status, and latency histograms.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The method label: a fixed set, so that invented methods cannot add series (issue 14: 3,000
/// requests with made-up methods grew `/metrics` from 246 B to 6 MB).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum MethodLabel {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
    Other,
}

impl MethodLabel {
    fn of(method: &Method) -> Self {
        match *method {
            Method::GET => Self::Get,
            Method::HEAD => Self::Head,
            Method::POST => Self::Post,
            Method::PUT => Self::Put,
            Method::DELETE => Self::Delete,
            Method::PATCH => Self::Patch,
            Method::OPTIONS => Self::Options,
            _ => Self::Other,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Patch => "PATCH",
            Self::Options => "OPTIONS",
            Self::Other => "other",
        }
    }
}

impl EncodeLabelValue for MethodLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

/// Routes not matched by any template share this label (never the raw path).
const UNMATCHED_ROUTE: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: MethodLabel,
    /// A route template, or [`UNMATCHED_ROUTE`].
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: MethodLabel,
    route: String,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    /// Connections open now, and those closed unread at the caps: how near the caps run.
    open_connections: Gauge,
    refused_connections: Counter,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "imagedesk_http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "imagedesk_http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        let open_connections = Gauge::default();
        let refused_connections = Counter::default();
        registry.register(
            "imagedesk_http_connections_open",
            "HTTP connections open now",
            open_connections.clone(),
        );
        registry.register(
            "imagedesk_http_connections_refused",
            "HTTP connections closed unread at the connection caps",
            refused_connections.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            open_connections,
            refused_connections,
        }
    }

    pub fn connection_opened(&self) {
        self.open_connections.inc();
    }

    pub fn connection_closed(&self) {
        self.open_connections.dec();
    }

    pub fn connection_refused(&self) {
        self.refused_connections.inc();
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED_ROUTE.to_owned(), |p| p.as_str().to_owned());
    let method = MethodLabel::of(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64();
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    metrics
        .latency
        .get_or_create(&RouteLabels { method, route })
        .observe(elapsed);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        let invented = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(MethodLabel::of(&invented), MethodLabel::Other);
        assert_eq!(MethodLabel::of(&Method::PATCH).as_str(), "PATCH");
    }
}
