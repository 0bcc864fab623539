//! How the source talks to chess.com: its [`HttpOptions`] (a User-Agent naming the source,
//! 4 requests a second) and JSON GETs through the HTTP client shared with the rest_api
//! source ([`source_rest::Http`]: bounded retries with exponential backoff on 429, 5xx and
//! connection errors, honouring `Retry-After`; a rate limit across the resources).
//!
//! The retry defaults are those of dlt's `requests` helper (`[runtime] request_max_attempts
//! = 5`, `request_backoff_factor = 1`, `request_max_retry_delay = 300`, `request_timeout =
//! 60`).

use std::time::Duration;

use serde_json::Value as Json;
use source_rest::{HttpError, Method, Request};

use crate::ChessError;

/// How the source talks to the API.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOptions {
    /// The `User-Agent` header (chess.com asks clients to name themselves).
    pub user_agent: String,
    /// At most this many requests per second, across the resources of one run;
    /// `0` or less: no limit.
    pub requests_per_second: f64,
    /// Attempts per request, the first one included (at least 1).
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles with every further retry.
    pub backoff_factor: Duration,
    /// The longest wait between two attempts (also caps a `Retry-After`).
    pub max_retry_delay: Duration,
    /// As `requests`' timeout: the longest wait to connect, and for each read or write.
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

impl From<HttpOptions> for source_rest::HttpOptions {
    fn from(o: HttpOptions) -> Self {
        source_rest::HttpOptions {
            user_agent: o.user_agent,
            requests_per_second: o.requests_per_second,
            max_attempts: o.max_attempts,
            backoff_factor: o.backoff_factor,
            max_retry_delay: o.max_retry_delay,
            timeout: o.timeout,
            max_body_bytes: o.max_body_bytes,
        }
    }
}

/// The HTTP client of one source: shared by its resources, so the rate limit holds across
/// them.
#[derive(Debug)]
pub(crate) struct Http {
    inner: source_rest::Http,
}

impl Http {
    pub(crate) fn new(opts: HttpOptions) -> Self {
        Http {
            inner: source_rest::Http::new(opts.into()),
        }
    }

    /// GET `url` as JSON; any status but 2xx is an error.
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
        let (response, attempts) = self
            .inner
            .send_with_attempts(&Request::new(Method::Get, url))?;
        if (200..300).contains(&response.status) {
            return serde_json::from_slice(&response.body)
                .map(Some)
                .map_err(|e| ChessError::Response {
                    url: url.to_string(),
                    message: format!("the body is not JSON: {e}"),
                });
        }
        if response.status == 404 && allow_404 {
            return Ok(None);
        }
        Err(
            match HttpError::from_response(&response, Method::Get, attempts) {
                HttpError::Status { status, body, .. } => ChessError::Status {
                    url: url.to_string(),
                    status,
                    attempts,
                    body,
                },
                e => e.into(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_carry_over_to_the_shared_client() {
        let o = HttpOptions::default();
        let rest: source_rest::HttpOptions = o.clone().into();
        assert_eq!(rest.user_agent, DEFAULT_USER_AGENT);
        assert_eq!(rest.requests_per_second, 4.0);
        assert_eq!(rest.max_attempts, o.max_attempts);
        assert_eq!(rest.backoff_factor, o.backoff_factor);
        assert_eq!(rest.max_retry_delay, o.max_retry_delay);
        assert_eq!(rest.timeout, o.timeout);
        assert_eq!(rest.max_body_bytes, o.max_body_bytes);
        let http = Http::new(o);
        assert_eq!(http.inner.options(), &rest);
    }
}
