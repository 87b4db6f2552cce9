//! `Idempotency-Key` on creates (SPEC §1, *extension*): the header's rules, and the echo that
//! tells a client this store honours keys. A real BigCommerce store ignores the header and
//! echoes nothing, which is what `--compat bc-v2` does (see `compat.rs`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;

use super::error::{ApiError, ApiResult};
use super::state::AppState;

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set to `true` on an answer that repeats the first answer to the same key.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// How long a key is remembered.
pub const WINDOW_SECS: i64 = 24 * 3600;

/// The validated `Idempotency-Key` header, if sent: 1 to 200 printable ASCII characters.
pub fn key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::bad_request("The Idempotency-Key header is invalid.")
            .with_reason("must be 1 to 200 printable ASCII characters")
    };
    let key = value.to_str().map_err(|_| invalid())?;
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(invalid());
    }
    Ok(Some(key.to_owned()))
}

/// Every answer to a POST that carried a valid key carries the key back, whatever its status:
/// that is how a client learns that this store honours keys (and may resend a create safely).
pub async fn echo_key(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let echo = (request.method() == Method::POST && state.config.compat.honours_idempotency_keys())
        .then(|| key(request.headers()).ok().flatten())
        .flatten()
        .and_then(|k| HeaderValue::from_str(&k).ok());
    let mut response = next.run(request).await;
    if let Some(value) = echo {
        response.headers_mut().insert(IDEMPOTENCY_KEY, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_two_hundred_printable_ascii_characters() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(IDEMPOTENCY_KEY, HeaderValue::from_str(v).unwrap());
            key(&h)
        };
        assert_eq!(with("abc-1").unwrap().as_deref(), Some("abc-1"));
        assert!(with("").is_err());
        assert!(with(&"k".repeat(201)).is_err());
        assert!(with("tab\there").is_err());
        assert_eq!(key(&HeaderMap::new()).unwrap(), None);
    }
}
