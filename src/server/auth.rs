//! Credentials, the rate limit and content negotiation for `/api/v2`, applied in SPEC's order
//! of precedence: 401, then 429, then 406.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::{ACCEPT, AUTHORIZATION};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use base64::Engine as _;
use subtle::ConstantTimeEq as _;

use super::error::ApiError;
use super::state::AppState;

pub async fn api_guard(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    // The OpenAPI description is documentation: readable without credentials.
    // Inside the nested router the path no longer carries the `/api/v2` prefix.
    if request.uri().path().trim_start_matches("/api/v2") == "/openapi" {
        return next.run(request).await;
    }
    let Some(token) = presented_token(request.headers()) else {
        return ApiError::unauthorized().into_response();
    };
    if !token_matches(&token, &state.config.token) {
        return ApiError::unauthorized().into_response();
    }
    let decision = state
        .rate_limiter
        .as_ref()
        .map(|limiter| limiter.check(&token));
    let mut response = match &decision {
        Some(d) if !d.allowed => d.refusal().into_response(),
        _ if !accepts_json(request.headers()) => ApiError::not_acceptable().into_response(),
        _ => next.run(request).await,
    };
    if let Some(d) = decision {
        for (name, value) in d.headers() {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// The token of `X-Auth-Token`, or the password of HTTP Basic (`username:token`).
fn presented_token(headers: &HeaderMap) -> Option<String> {
    if let Some(token) = headers.get("x-auth-token").and_then(|v| v.to_str().ok()) {
        return Some(token.trim().to_owned());
    }
    let authorization = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (_user, token) = decoded.split_once(':')?;
    Some(token.to_owned())
}

/// Constant-time comparison, so that response timing does not reveal how much of a guess matched.
fn token_matches(given: &str, expected: &str) -> bool {
    bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// Whether the `Accept` header (if any) admits `application/json`.
fn accepts_json(headers: &HeaderMap) -> bool {
    let values: Vec<&str> = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return true;
    }
    values.iter().flat_map(|v| v.split(',')).any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|q| q.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        q > 0.0 && matches!(media.as_str(), "*/*" | "application/*" | "application/json")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(v: &str) -> bool {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, HeaderValue::from_str(v).unwrap());
        accepts_json(&h)
    }

    #[test]
    fn accept_header_negotiation() {
        assert!(accepts_json(&HeaderMap::new()));
        assert!(accept("application/json"));
        assert!(accept("text/html, */*;q=0.1"));
        assert!(accept("application/*"));
        assert!(!accept("text/html"));
        assert!(!accept("application/json;q=0"));
        assert!(!accept("image/png, text/plain"));
    }

    #[test]
    fn basic_credentials_carry_the_token() {
        let mut h = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode("admin:s3cret");
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        assert_eq!(presented_token(&h).as_deref(), Some("s3cret"));
        assert!(token_matches("s3cret", "s3cret"));
        assert!(!token_matches("s3cre", "s3cret"));
    }
}
