//! One request budget per store. A BigCommerce store's quota is shared by every client of the
//! store, and imagedesk's engine pulls, pushes and the app's asset fetches all go through clones
//! of one [`Client`](super::Client): so the clones share one [`Pacer`], which reads the
//! `X-Rate-Limit-*` headers of every answer and, when little of the quota is left, spaces the
//! next requests out over what remains of the window instead of running into 429s. A 429
//! pauses every request of the client, not only the one that got it.
//!
//! The arithmetic is in pure functions ([`pace_delay`], [`rate_limit_backoff`]) so it is tested
//! without clocks; [`Pacer`] only keeps the state between requests.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

/// The longest wait any store-given number may make the client wait (`X-Retry-After`,
/// `Retry-After`, `X-Rate-Limit-Time-Reset-Ms`): the headers are the store's (or a proxy's)
/// word, and a broken one (`1e20`, `u64::MAX` ms) must neither panic the arithmetic nor stall
/// the app for ever. A real store's window is 30 s or less.
pub(crate) const MAX_STORE_WAIT: Duration = Duration::from_secs(5 * 60);

/// `at + by` without the panic of `Instant + Duration` on overflow: the durations here come
/// from headers and settings (`max_rate_limit_wait: Duration::MAX` means "no limit").
fn later(at: Instant, by: Duration) -> Instant {
    at.checked_add(by)
        // Unreachable with any real clock; falling back to the longest sane wait keeps the
        // pause a pause rather than none.
        .or_else(|| at.checked_add(MAX_STORE_WAIT))
        .unwrap_or(at)
}

/// What the store's last answers said about the quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    pub quota: u32,
    pub left: u32,
    /// When the window resets.
    pub reset_at: Instant,
}

/// The quota headers of one answer, if it carried them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QuotaHeaders {
    pub quota: u32,
    pub left: u32,
    pub reset: Duration,
}

impl QuotaHeaders {
    pub fn read(headers: &HeaderMap) -> Option<QuotaHeaders> {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let left = number("x-rate-limit-requests-left")?;
        let reset_ms = number("x-rate-limit-time-reset-ms")
            .or_else(|| number("x-rate-limit-time-window-ms"))?;
        let quota = number("x-rate-limit-requests-quota").unwrap_or(left);
        Some(QuotaHeaders {
            quota: u32::try_from(quota).unwrap_or(u32::MAX),
            left: u32::try_from(left).unwrap_or(u32::MAX),
            reset: Duration::from_millis(reset_ms).min(MAX_STORE_WAIT),
        })
    }
}

/// Below this many requests left the pacer starts spacing requests out: a fifth of the quota,
/// and never fewer than 5 (a small quota is spent by a handful of parallel requests).
pub(crate) fn low_water(quota: u32) -> u32 {
    (quota / 5).max(5)
}

/// How long to wait before the next request, given what is left of the quota and of the window.
/// Plenty left: no wait. Little left: the rest of the window shared out over the requests left
/// (`until_reset / left`), at most `max_spacing`. None left: until the window resets (plus a
/// margin, so the request does not land on the last millisecond of the old window).
pub(crate) fn pace_delay(
    quota: u32,
    left: u32,
    until_reset: Duration,
    max_spacing: Duration,
) -> Duration {
    if left == 0 {
        return if until_reset.is_zero() {
            Duration::ZERO
        } else {
            until_reset.saturating_add(RESET_MARGIN)
        };
    }
    if left >= low_water(quota) {
        return Duration::ZERO;
    }
    (until_reset / left).min(max_spacing)
}

const RESET_MARGIN: Duration = Duration::from_millis(100);

/// The pause after the `attempt`-th 429 in a row that did not say how long to wait:
/// exponential from `base`, at most `cap`, scaled by `jitter` in [0, 1) to between half and all
/// of it, so that clients refused together do not come back together.
pub(crate) fn rate_limit_backoff(
    base: Duration,
    attempt: u32,
    cap: Duration,
    jitter: f64,
) -> Duration {
    let ceiling = base.saturating_mul(1u32 << attempt.min(16)).min(cap);
    ceiling.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

#[derive(Debug, Default)]
struct State {
    budget: Option<Budget>,
    /// Every request waits until then (a 429 was answered).
    paused_until: Option<Instant>,
    /// The earliest time the next request may go while spacing out; reserved request by
    /// request, so parallel clones take turns instead of all going at once.
    next_slot: Option<Instant>,
    /// 429s in a row without a wait given.
    refusals: u32,
}

/// The shared request budget of one store (see the module documentation).
#[derive(Debug)]
pub(crate) struct Pacer {
    enabled: bool,
    max_spacing: Duration,
    max_wait: Duration,
    state: Mutex<State>,
}

impl Pacer {
    /// `max_spacing` bounds the gap between two spaced-out requests, `max_wait` any one wait.
    pub fn new(enabled: bool, max_spacing: Duration, max_wait: Duration) -> Pacer {
        Pacer {
            enabled,
            max_spacing,
            max_wait,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a few numbers: one left half-updated by a panicking thread is still a
        // usable estimate.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the next request may go, and counts it against the budget.
    pub async fn before_request(&self) {
        if !self.enabled {
            return;
        }
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            tracing::debug!("pacing requests to the store's quota: waiting {wait:?}");
            tokio::time::sleep(wait).await;
        }
    }

    /// The wait for a request about to be sent at `now`, with the request counted.
    fn reserve(&self, now: Instant) -> Duration {
        let mut state = self.state();
        let mut start = now;
        if let Some(until) = state.paused_until {
            if until > now {
                start = until;
            } else {
                state.paused_until = None;
            }
        }
        if let Some(mut budget) = state.budget {
            if budget.reset_at <= start {
                // The window has reset: the next answer says the new budget.
                state.budget = None;
                state.next_slot = None;
            } else {
                let spacing = pace_delay(
                    budget.quota,
                    budget.left,
                    budget.reset_at - start,
                    self.max_spacing,
                );
                if budget.left == 0 {
                    // Every request waits for the reset, not only this one: a pause.
                    start = later(start, spacing);
                    state.paused_until = Some(start.min(later(now, self.max_wait)));
                    state.budget = None;
                    state.next_slot = None;
                } else if !spacing.is_zero() {
                    let slot = state.next_slot.map_or(start, |s| s.max(start));
                    state.next_slot = Some(later(slot, spacing));
                    start = slot;
                }
                // Count this request now: parallel requests must not all spend the same unit.
                budget.left = budget.left.saturating_sub(1);
                if let Some(b) = state.budget.as_mut() {
                    *b = budget;
                }
            }
        }
        (start - now).min(self.max_wait)
    }

    /// How long background work (a catalogue sweep) should wait before its next request so
    /// that it never spends the half of the window's quota kept for edits, the product the
    /// user looks at, and the merchant's other apps: zero while more than half is left, else
    /// until the window resets. `None` when the store has not said what its quota is.
    pub fn background_wait(&self) -> Option<Duration> {
        let state = self.state();
        let now = Instant::now();
        if let Some(until) = state.paused_until.filter(|until| *until > now) {
            return Some(until - now);
        }
        let budget = state.budget?;
        if budget.reset_at <= now {
            return Some(Duration::ZERO);
        }
        Some(if budget.left.saturating_mul(2) > budget.quota {
            Duration::ZERO
        } else {
            (budget.reset_at - now).min(self.max_wait)
        })
    }

    /// How many requests may be in flight at once now, at most `wanted` and at least 1: all
    /// of them while the store has said nothing of a quota (or the window has reset), the part
    /// of what is left above the low-water mark while it has room, and one at a time once it
    /// is low or a 429 paused the client (each then waits its slot in `before_request`).
    pub fn parallel_allowance(&self, wanted: usize) -> usize {
        let wanted = wanted.max(1);
        if !self.enabled {
            return wanted;
        }
        let state = self.state();
        let now = Instant::now();
        if state.paused_until.is_some_and(|until| until > now) {
            return 1;
        }
        match state.budget {
            Some(budget) if budget.reset_at > now => {
                let spare = budget.left.saturating_sub(low_water(budget.quota));
                wanted
                    .min(usize::try_from(spare).unwrap_or(usize::MAX))
                    .max(1)
            }
            _ => wanted,
        }
    }

    /// Reads the quota headers of an answer (any status).
    pub fn observe(&self, headers: &HeaderMap) {
        if !self.enabled {
            return;
        }
        let Some(seen) = QuotaHeaders::read(headers) else {
            return;
        };
        let now = Instant::now();
        let reset_at = later(now, seen.reset);
        let mut state = self.state();
        let left = match state.budget {
            // Same window: answers to parallel requests come back in any order, and the
            // pacer has already counted the requests sent since; keep the lower estimate.
            Some(known) if reset_at <= later(known.reset_at, Duration::from_secs(1)) => {
                known.left.min(seen.left)
            }
            _ => seen.left,
        };
        state.budget = Some(Budget {
            quota: seen.quota,
            left,
            reset_at,
        });
    }

    /// An answer that was not a 429: the store is taking requests again.
    pub fn accepted(&self) {
        self.state().refusals = 0;
    }

    /// A 429: pauses every request of this client for `asked` (the store's wait), or for an
    /// exponentially growing back-off when the store did not say. Returns the pause.
    pub fn refused(&self, asked: Option<Duration>, base: Duration) -> Duration {
        let mut state = self.state();
        state.refusals = state.refusals.saturating_add(1);
        let wait = asked.unwrap_or_else(|| {
            rate_limit_backoff(base, state.refusals, self.max_wait, rand::random::<f64>())
        });
        if self.enabled {
            let until = later(Instant::now(), wait.min(self.max_wait).min(MAX_STORE_WAIT));
            state.paused_until = Some(state.paused_until.map_or(until, |u| u.max(until)));
            // A 429 means the budget is spent, whatever the last answer said.
            if let Some(budget) = state.budget.as_mut() {
                budget.left = 0;
            }
        }
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn no_wait_while_plenty_is_left() {
        assert_eq!(
            pace_delay(150, 150, 30 * SECOND, 5 * SECOND),
            Duration::ZERO
        );
        assert_eq!(pace_delay(150, 30, 30 * SECOND, 5 * SECOND), Duration::ZERO);
        assert_eq!(low_water(150), 30);
        assert_eq!(low_water(10), 5);
    }

    #[test]
    fn little_left_spreads_the_rest_of_the_window() {
        // 20 s left in the window, 10 requests: one every 2 s.
        assert_eq!(pace_delay(150, 10, 20 * SECOND, 5 * SECOND), 2 * SECOND);
        // Capped.
        assert_eq!(pace_delay(150, 2, 20 * SECOND, 5 * SECOND), 5 * SECOND);
        // Under 5 left of a small quota.
        assert_eq!(pace_delay(10, 4, 8 * SECOND, 5 * SECOND), 2 * SECOND);
    }

    #[test]
    fn none_left_waits_for_the_reset() {
        assert_eq!(
            pace_delay(150, 0, 20 * SECOND, 5 * SECOND),
            20 * SECOND + RESET_MARGIN
        );
        assert_eq!(
            pace_delay(150, 0, Duration::ZERO, 5 * SECOND),
            Duration::ZERO
        );
    }

    #[test]
    fn rate_limit_backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let cap = 10 * SECOND;
        assert_eq!(rate_limit_backoff(base, 1, cap, 0.999_999).as_millis(), 199);
        assert_eq!(
            rate_limit_backoff(base, 1, cap, 0.0),
            Duration::from_millis(100)
        );
        assert_eq!(
            rate_limit_backoff(base, 3, cap, 0.0),
            Duration::from_millis(400)
        );
        assert_eq!(rate_limit_backoff(base, 30, cap, 0.0), 5 * SECOND);
    }

    fn headers(quota: u32, left: u32, reset_ms: u64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-rate-limit-requests-quota", quota.into());
        h.insert("x-rate-limit-requests-left", left.into());
        h.insert("x-rate-limit-time-reset-ms", reset_ms.into());
        h
    }

    #[test]
    fn parallel_requests_take_turns_when_little_is_left() {
        let pacer = Pacer::new(true, 5 * SECOND, 60 * SECOND);
        pacer.observe(&headers(100, 4, 8_000));
        let now = Instant::now();
        let first = pacer.reserve(now);
        let second = pacer.reserve(now);
        // Each request is counted before its answer: 4 left → 2 s apart, then 3 left → the
        // second waits its turn after the first's slot.
        assert!(first <= 2 * SECOND, "{first:?}");
        assert!(second > first, "{first:?} {second:?}");
    }

    #[test]
    fn an_exhausted_budget_waits_for_the_reset_and_a_429_pauses_everyone() {
        let pacer = Pacer::new(true, 5 * SECOND, 60 * SECOND);
        pacer.observe(&headers(10, 0, 3_000));
        let wait = pacer.reserve(Instant::now());
        assert!(wait >= 2 * SECOND && wait <= 4 * SECOND, "{wait:?}");
        // A parallel request waits for the reset too.
        let other = pacer.reserve(Instant::now());
        assert!(other >= 2 * SECOND, "{other:?}");

        let pacer = Pacer::new(true, 5 * SECOND, 60 * SECOND);
        assert_eq!(pacer.refused(Some(7 * SECOND), SECOND), 7 * SECOND);
        let wait = pacer.reserve(Instant::now());
        assert!(wait > 6 * SECOND && wait <= 7 * SECOND, "{wait:?}");
    }

    #[test]
    fn a_later_answer_of_the_same_window_never_raises_the_estimate() {
        let pacer = Pacer::new(true, 5 * SECOND, 60 * SECOND);
        pacer.observe(&headers(10, 3, 20_000));
        pacer.observe(&headers(10, 6, 20_000));
        assert_eq!(pacer.state().budget.unwrap().left, 3);
        // A new window (the reset moved well forward) replaces it.
        pacer.observe(&headers(10, 9, 40_000));
        assert_eq!(pacer.state().budget.unwrap().left, 9);
    }

    #[test]
    fn absurd_waits_neither_panic_nor_stall() {
        // A reset far beyond any window is read as the longest sane wait.
        let read = QuotaHeaders::read(&headers(10, 0, u64::MAX)).unwrap();
        assert_eq!(read.reset, MAX_STORE_WAIT);
        // A setting of "no limit" must not overflow `Instant + Duration`.
        let pacer = Pacer::new(true, Duration::MAX, Duration::MAX);
        pacer.observe(&headers(10, 0, 3_000));
        let wait = pacer.reserve(Instant::now());
        assert!(wait <= 4 * SECOND, "{wait:?}");
        pacer.observe(&headers(10, 2, 3_000));
        let _ = pacer.reserve(Instant::now());
        let _ = pacer.refused(Some(Duration::MAX), SECOND);
        let wait = pacer.reserve(Instant::now());
        assert!(wait <= MAX_STORE_WAIT, "{wait:?}");
    }

    #[test]
    fn parallel_requests_are_allowed_only_while_the_budget_has_room() {
        let pacer = Pacer::new(true, 5 * SECOND, 60 * SECOND);
        // Nothing said yet: as many as wanted.
        assert_eq!(pacer.parallel_allowance(4), 4);
        // 150 quota, low water 30: 100 left has room for 4.
        pacer.observe(&headers(150, 100, 20_000));
        assert_eq!(pacer.parallel_allowance(4), 4);
        // 32 left: only 2 above the low water.
        let pacer = Pacer::new(true, 5 * SECOND, 60 * SECOND);
        pacer.observe(&headers(150, 32, 20_000));
        assert_eq!(pacer.parallel_allowance(4), 2);
        // Low: one at a time.
        let pacer = Pacer::new(true, 5 * SECOND, 60 * SECOND);
        pacer.observe(&headers(150, 10, 20_000));
        assert_eq!(pacer.parallel_allowance(4), 1);
        // A 429: one at a time while paused.
        let pacer = Pacer::new(true, 5 * SECOND, 60 * SECOND);
        pacer.refused(Some(7 * SECOND), SECOND);
        assert_eq!(pacer.parallel_allowance(4), 1);
        assert_eq!(pacer.parallel_allowance(0), 1);
    }

    #[test]
    fn a_disabled_pacer_never_waits() {
        let pacer = Pacer::new(false, 5 * SECOND, 60 * SECOND);
        pacer.observe(&headers(10, 0, 3_000));
        pacer.refused(Some(7 * SECOND), SECOND);
        assert_eq!(pacer.reserve(Instant::now()), Duration::ZERO);
    }
}
