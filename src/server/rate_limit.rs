//! `--rate-limit N`: N requests per fixed 30-second window, for each token, or for the whole
//! store (`--compat bc-v2`: a real store's quota is shared by every client).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue, StatusCode};

use super::error::ApiError;

pub const WINDOW: Duration = Duration::from_secs(30);

/// Who shares one quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaScope {
    /// Each token has its own window.
    PerToken,
    /// Every request of the store counts against one window.
    Store,
}

pub struct RateLimiter {
    quota: u32,
    scope: QuotaScope,
    /// Windows by token; the store-wide window is the one under `None`.
    windows: Mutex<HashMap<Option<String>, (Instant, u32)>>,
}

/// The outcome for one request, and what its response headers say.
pub struct Decision {
    pub allowed: bool,
    quota: u32,
    left: u32,
    reset: Duration,
}

impl RateLimiter {
    pub fn new(quota: u32, scope: QuotaScope) -> Self {
        Self {
            quota,
            scope,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `token` if its window (the token's, or the store's) has room.
    pub fn check(&self, token: &str) -> Decision {
        let now = Instant::now();
        let key = match self.scope {
            QuotaScope::PerToken => Some(token.to_owned()),
            QuotaScope::Store => None,
        };
        // A poisoned lock only means another request panicked mid-count; the counts stay usable.
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let (start, used) = windows.entry(key).or_insert((now, 0));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_wide_quota_is_shared_by_every_token() {
        let per_token = RateLimiter::new(2, QuotaScope::PerToken);
        assert!(per_token.check("a").allowed);
        assert!(per_token.check("a").allowed);
        assert!(!per_token.check("a").allowed);
        assert!(
            per_token.check("b").allowed,
            "another token has its own quota"
        );

        let store = RateLimiter::new(2, QuotaScope::Store);
        assert!(store.check("a").allowed);
        assert!(store.check("b").allowed);
        let third = store.check("c");
        assert!(!third.allowed, "the third request of the store is refused");
        assert_eq!(third.left, 0);
    }
}
