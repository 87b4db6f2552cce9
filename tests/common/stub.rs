//! Shared by the stub-store tests (tests/api_real_store.rs, tests/api_review_fixes.rs): a client
//! with short retries for stores that answer in milliseconds, and a loopback server for a stub.

use std::time::Duration;

use imagedesk::api::{Client, Credentials, RetryPolicy};
use tokio::net::TcpListener;

/// A client for a stub store: `retries` resends, 20 ms apart to begin with, as `adjust` leaves
/// them. The time-out is short because a stub answers at once or not at all.
pub fn stub_client(
    api_url: &str,
    token: &str,
    retries: u32,
    adjust: impl FnOnce(&mut RetryPolicy),
) -> Client {
    let mut retry = RetryPolicy {
        max_retries: retries,
        base_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    adjust(&mut retry);
    Client::with_options(
        api_url,
        Credentials::Token(token.into()),
        Duration::from_secs(10),
        retry,
    )
    .unwrap()
}

/// Serves `app` on a loopback port; returns its origin (`http://127.0.0.1:port`).
pub async fn serve_on_loopback(app: axum::Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}
