//! A polite blocking HTTP client: a request rate limit, bounded retries with exponential
//! backoff on 429, 5xx and connection errors (honouring `Retry-After`), and a User-Agent.
//!
//! The defaults are those of dlt's `requests` helper (`[runtime] request_max_attempts = 5`,
//! `request_backoff_factor = 1`, `request_max_retry_delay = 300`, `request_timeout = 60`).

use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::ChessError;

/// Characters of an error response's body kept in the error message.
const ERROR_BODY_CHARS: usize = 300;

/// How the source talks to the API.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOptions {
    /// The `User-Agent` header (chess.com asks clients to name themselves).
    pub user_agent: String,
    /// At most this many requests per second (requests are made one at a time);
    /// `0` or less: no limit.
    pub requests_per_second: f64,
    /// Attempts per request, the first one included (at least 1).
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles with every further retry.
    pub backoff_factor: Duration,
    /// The longest wait between two attempts (also caps a `Retry-After`).
    pub max_retry_delay: Duration,
    /// The longest a whole request (connect, send, read) may take.
    pub timeout: Duration,
    /// The largest response body accepted.
    pub max_body_bytes: u64,
}

/// The default `User-Agent`.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "dlt-rs-source-chess/",
    env!("CARGO_PKG_VERSION"),
    " (dlt-rs chess.com source)"
);

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            user_agent: DEFAULT_USER_AGENT.to_string(),
            requests_per_second: 4.0,
            max_attempts: 5,
            backoff_factor: Duration::from_secs(1),
            max_retry_delay: Duration::from_secs(300),
            timeout: Duration::from_secs(60),
            max_body_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Spaces requests at least `1 / requests_per_second` apart.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Option<Duration>,
    next: Option<Instant>,
}

impl RateLimiter {
    pub(crate) fn new(requests_per_second: f64) -> Self {
        let interval = (requests_per_second.is_finite() && requests_per_second > 0.0)
            .then(|| Duration::from_secs_f64(1.0 / requests_per_second));
        RateLimiter {
            interval,
            next: None,
        }
    }

    /// Books the next request slot at or after `now`; returns how long to wait for it.
    pub(crate) fn reserve(&mut self, now: Instant) -> Duration {
        let Some(interval) = self.interval else {
            return Duration::ZERO;
        };
        let slot = match self.next {
            Some(next) if next > now => next,
            _ => now,
        };
        self.next = Some(slot + interval);
        slot - now
    }
}

/// The wait before retry number `retry` (1 for the first retry): `factor * 2^(retry-1)`, or
/// the server's `Retry-After`, capped at `max`.
pub(crate) fn retry_delay(
    retry: u32,
    factor: Duration,
    max: Duration,
    retry_after: Option<Duration>,
) -> Duration {
    let backoff = retry_after.unwrap_or_else(|| {
        let exp = retry.saturating_sub(1).min(30);
        factor.saturating_mul(1u32 << exp)
    });
    backoff.min(max)
}

/// `Retry-After` in its seconds form (the HTTP-date form is ignored: backoff applies).
fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn retryable_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

fn retryable_error(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::HostNotFound
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
    )
}

/// What one attempt gave.
enum Attempt {
    Done(Result<Option<Json>, ChessError>),
    Retry {
        error: ChessError,
        retry_after: Option<Duration>,
    },
}

/// The HTTP client of one source: shared by its resources, so the rate limit holds across
/// them.
#[derive(Debug)]
pub(crate) struct Http {
    agent: ureq::Agent,
    opts: HttpOptions,
    limiter: Mutex<RateLimiter>,
}

impl Http {
    pub(crate) fn new(opts: HttpOptions) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(opts.user_agent.as_str())
            .timeout_global(Some(opts.timeout))
            .build();
        Http {
            agent: ureq::Agent::new_with_config(config),
            limiter: Mutex::new(RateLimiter::new(opts.requests_per_second)),
            opts,
        }
    }

    /// GET `url` as JSON.
    pub(crate) fn get_json(&self, url: &str) -> Result<Json, ChessError> {
        match self.get(url, false)? {
            Some(v) => Ok(v),
            // not reached: 404 is an error when not allowed
            None => Err(ChessError::Status {
                url: url.to_string(),
                status: 404,
                attempts: 1,
                body: String::new(),
            }),
        }
    }

    /// GET `url` as JSON; `None` when the server answers 404 Not Found.
    pub(crate) fn get_json_or_404(&self, url: &str) -> Result<Option<Json>, ChessError> {
        self.get(url, true)
    }

    fn get(&self, url: &str, allow_404: bool) -> Result<Option<Json>, ChessError> {
        let max_attempts = self.opts.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            self.wait_turn();
            match self.attempt(url, attempt, allow_404) {
                Attempt::Done(result) => return result,
                Attempt::Retry { error, retry_after } => {
                    if attempt >= max_attempts {
                        return Err(error);
                    }
                    let delay = retry_delay(
                        attempt,
                        self.opts.backoff_factor,
                        self.opts.max_retry_delay,
                        retry_after,
                    );
                    tracing::warn!(url, attempt, error = %error, delay_ms = delay.as_millis() as u64, "retrying");
                    std::thread::sleep(delay);
                    attempt += 1;
                }
            }
        }
    }

    fn wait_turn(&self) {
        let wait = match self.limiter.lock() {
            Ok(mut l) => l.reserve(Instant::now()),
            Err(poisoned) => poisoned.into_inner().reserve(Instant::now()),
        };
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }

    fn attempt(&self, url: &str, attempt: u32, allow_404: bool) -> Attempt {
        let transport = |e: &dyn std::fmt::Display| ChessError::Transport {
            url: url.to_string(),
            message: e.to_string(),
            attempts: attempt,
        };
        let mut response = match self.agent.get(url).call() {
            Ok(r) => r,
            Err(e) if retryable_error(&e) => {
                return Attempt::Retry {
                    error: transport(&e),
                    retry_after: None,
                }
            }
            Err(e) => return Attempt::Done(Err(transport(&e))),
        };
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            let body = response
                .body_mut()
                .with_config()
                .limit(self.opts.max_body_bytes)
                .read_to_vec();
            return match body {
                Ok(bytes) => Attempt::Done(serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                    ChessError::Response {
                        url: url.to_string(),
                        message: format!("the body is not JSON: {e}"),
                    }
                })),
                // the connection broke while reading
                Err(e) if retryable_error(&e) => Attempt::Retry {
                    error: transport(&e),
                    retry_after: None,
                },
                Err(e) => Attempt::Done(Err(transport(&e))),
            };
        }
        if status == 404 && allow_404 {
            return Attempt::Done(Ok(None));
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let mut text = String::new();
        let _ = response
            .body_mut()
            .as_reader()
            .take((ERROR_BODY_CHARS * 4) as u64)
            .read_to_string(&mut text);
        let body: String = text.chars().take(ERROR_BODY_CHARS).collect();
        let error = ChessError::Status {
            url: url.to_string(),
            status,
            attempts: attempt,
            body,
        };
        if retryable_status(status) {
            Attempt::Retry { error, retry_after }
        } else {
            Attempt::Done(Err(error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_spaces_requests() {
        let mut l = RateLimiter::new(4.0);
        let t0 = Instant::now();
        assert_eq!(l.reserve(t0), Duration::ZERO);
        assert_eq!(l.reserve(t0), Duration::from_millis(250));
        assert_eq!(l.reserve(t0), Duration::from_millis(500));
        // a request long after the last one does not wait
        let later = t0 + Duration::from_secs(10);
        assert_eq!(l.reserve(later), Duration::ZERO);
        assert_eq!(
            l.reserve(later + Duration::from_millis(100)),
            Duration::from_millis(150)
        );
    }

    #[test]
    fn no_rate_limit_never_waits() {
        for rps in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let mut l = RateLimiter::new(rps);
            let t0 = Instant::now();
            for _ in 0..5 {
                assert_eq!(l.reserve(t0), Duration::ZERO, "{rps}");
            }
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let f = Duration::from_secs(1);
        let max = Duration::from_secs(5);
        let delays: Vec<u64> = (1..=5)
            .map(|r| retry_delay(r, f, max, None).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
        assert_eq!(
            retry_delay(1, f, max, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(retry_delay(1, f, max, Some(Duration::from_secs(60))), max);
        assert_eq!(retry_delay(100, f, Duration::MAX, None), f * (1 << 30));
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn retryable_statuses() {
        for s in [429, 500, 502, 503, 504] {
            assert!(retryable_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 410] {
            assert!(!retryable_status(s), "{s}");
        }
    }
}
