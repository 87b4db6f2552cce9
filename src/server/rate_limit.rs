//! `--rate-limit N`: each token may make N requests per fixed 30-second window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue, StatusCode};

use super::error::ApiError;

pub const WINDOW: Duration = Duration::from_secs(30);

pub struct RateLimiter {
    quota: u32,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

/// The outcome for one request, and what its response headers say.
pub struct Decision {
    pub allowed: bool,
    quota: u32,
    left: u32,
    reset: Duration,
}

impl RateLimiter {
    pub fn new(quota: u32) -> Self {
        Self {
            quota,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `token` if the window has room.
    pub fn check(&self, token: &str) -> Decision {
        let now = Instant::now();
        // A poisoned lock only means another request panicked mid-count; the counts stay usable.
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let (start, used) = windows.entry(token.to_owned()).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            *start = now;
            *used = 0;
        }
        let allowed = *used < self.quota;
        if allowed {
            *used += 1;
        }
        Decision {
            allowed,
            quota: self.quota,
            left: self.quota - *used,
            reset: WINDOW.saturating_sub(now.duration_since(*start)),
        }
    }
}

impl Decision {
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let pairs = [
            ("x-rate-limit-requests-quota", u128::from(self.quota)),
            ("x-rate-limit-requests-left", u128::from(self.left)),
            ("x-rate-limit-time-window-ms", WINDOW.as_millis()),
            ("x-rate-limit-time-reset-ms", self.reset.as_millis()),
        ];
        pairs
            .into_iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_static(name),
                    HeaderValue::from(value as u64),
                )
            })
            .collect()
    }

    pub fn refusal(&self) -> ApiError {
        let retry_after = self.reset.as_millis().div_ceil(1000).max(1) as u64;
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many requests: the limit is {} per 30 seconds.",
                self.quota
            ),
        )
        .with_header(
            HeaderName::from_static("x-retry-after"),
            HeaderValue::from(retry_after),
        )
    }
}
