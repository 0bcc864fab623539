//! The blocking HTTP client shared by the rest_api and chess sources: dlt's `requests`
//! helper (`dlt.sources.helpers.requests`) in Rust.
//!
//! - Retries: a `429`, a `5xx` and a transport error (connection refused or reset, DNS, TLS,
//!   a timeout, a body that breaks off) are retried up to `max_attempts` in all, waiting
//!   `backoff_factor * 2^(retry-1)` (tenacity's `wait_exponential`) or what `Retry-After`
//!   asks (seconds or an HTTP date; a value of 0 or in the past falls back to the backoff,
//!   as in dlt), at most `max_retry_delay`. Any other status is returned as a [`Response`]:
//!   the caller decides what an error is ([`check_status`], [`Http::check_status`]).
//! - A rate limit shared by every thread using one [`Http`].
//! - Query parameters and form bodies encoded as `requests` encodes them.
//! - Secrets never in an error or a log line: URLs are shown through [`redact_url`] (dlt's
//!   `sanitize_url`), and every value given to [`Http::add_secret`] is replaced by `***`.
//!
//! The defaults are those of dlt's `[runtime]` (`request_max_attempts = 5`,
//! `request_backoff_factor = 1`, `request_max_retry_delay = 300`, `request_timeout = 60`).

use std::fmt;
use std::io::Read;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use ureq::http as h;
use ureq::ResponseExt as _;

use crate::request::{Method, Request, Response};
use crate::ConfigError;

/// Characters of an error response's body kept in an error message.
const ERROR_BODY_CHARS: usize = 300;

/// Secrets shorter than this are redacted only where they are a whole query parameter value
/// (replacing every occurrence of a 2-character secret would garble the text).
const MIN_SUBSTRING_SECRET: usize = 4;

/// The redacted form of a secret.
const REDACTED: &str = "***";

/// dlt's `SENSITIVE_PARAMS` (`redaction.py`): query parameters whose value is redacted,
/// compared case-insensitively.
const SENSITIVE_PARAMS: [&str; 11] = [
    "api_key",
    "token",
    "key",
    "access_token",
    "apikey",
    "api-key",
    "access-token",
    "secret",
    "password",
    "pwd",
    "client_secret",
];

/// The default `User-Agent` (dlt sends `dlt/<version>`).
const DEFAULT_USER_AGENT: &str = concat!("dlt-rs/", env!("CARGO_PKG_VERSION"));

/// How the client talks to a server.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOptions {
    /// The `User-Agent` header (a request's own `User-Agent` header wins).
    pub user_agent: String,
    /// At most this many requests per second, across all threads using one [`Http`]
    /// (retries included); `0` or less (or not finite): no limit.
    pub requests_per_second: f64,
    /// Attempts per request, the first one included (at least 1 is made).
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles with every further retry.
    pub backoff_factor: Duration,
    /// The longest wait between two attempts (also caps a `Retry-After`).
    pub max_retry_delay: Duration,
    /// As `requests`' timeout: the longest wait to connect, and for each read or write
    /// (not the whole request: a large body that keeps coming is not cut off).
    pub timeout: Duration,
    /// The largest response body accepted (after decompression).
    pub max_body_bytes: u64,
}

impl Default for HttpOptions {
    /// dlt's runtime defaults, user agent `dlt-rs/<version>`, no rate limit, bodies up to
    /// 256 MiB.
    fn default() -> Self {
        HttpOptions {
            user_agent: DEFAULT_USER_AGENT.to_string(),
            requests_per_second: 0.0,
            max_attempts: 5,
            backoff_factor: Duration::from_secs(1),
            max_retry_delay: Duration::from_secs(300),
            timeout: Duration::from_secs(60),
            max_body_bytes: 256 * 1024 * 1024,
        }
    }
}

impl HttpOptions {
    /// The options as configured, the defaults otherwise: dlt's `[runtime]` keys
    /// `request_max_attempts`, `request_backoff_factor`, `request_max_retry_delay`,
    /// `request_timeout` (seconds; also read from `[sources.rest_api]`, which wins), and
    /// `[sources.rest_api]` `requests_per_second` and `user_agent`. Environment variables
    /// work as in dlt (`RUNTIME__REQUEST_MAX_ATTEMPTS`...).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the key whose value is not a number `>= 0` (or not a
    /// string, for `user_agent`).
    pub fn from_config(config: &dlt_config::Config) -> Result<HttpOptions, ConfigError> {
        let r = config.resolver(None);
        let own: &[&str] = &["sources", "rest_api"];
        let sections: [&[&str]; 2] = [own, &["runtime"]];
        let find = |sections: &[&[&str]], key: &str| sections.iter().find_map(|s| r.find(s, key));
        let number = |sections: &[&[&str]], key: &str| -> Result<Option<f64>, ConfigError> {
            let Some(found) = find(sections, key) else {
                return Ok(None);
            };
            let n = match &found.value {
                Json::Number(n) => n.as_f64(),
                Json::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            match n {
                Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
                _ => Err(ConfigError::new(
                    found.key.clone(),
                    format!("expected a number >= 0 (set in {})", found.origin),
                )),
            }
        };
        let seconds = |key: &str| -> Result<Option<Duration>, ConfigError> {
            Ok(number(&sections, key)?.map(|s| Duration::from_secs_f64(s.min(1e9))))
        };
        let mut o = HttpOptions::default();
        if let Some(found) = find(&[own], "user_agent") {
            match &found.value {
                Json::String(s) if !s.trim().is_empty() => o.user_agent = s.trim().to_string(),
                _ => {
                    return Err(ConfigError::new(
                        found.key.clone(),
                        format!("expected a non-empty string (set in {})", found.origin),
                    ))
                }
            }
        }
        if let Some(rps) = number(&[own], "requests_per_second")? {
            o.requests_per_second = rps;
        }
        if let Some(n) = number(&sections, "request_max_attempts")? {
            o.max_attempts = n.clamp(1.0, 1000.0) as u32;
        }
        if let Some(s) = seconds("request_backoff_factor")? {
            o.backoff_factor = s;
        }
        if let Some(s) = seconds("request_max_retry_delay")? {
            o.max_retry_delay = s;
        }
        if let Some(s) = seconds("request_timeout")? {
            o.timeout = s;
        }
        Ok(o)
    }
}

/// A request that failed. Every message is one line naming the method and the URL, with
/// secrets redacted (the URL through [`redact_url`] and the secrets the [`Http`] knows).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The server answered with an error status: a `429` or `5xx` after the last attempt,
    /// or any status `>= 400` given to `check_status` ([`Http::check_status`]).
    #[error("{} {url}: HTTP {status}{}{}{}",
        method.as_str(), reason_suffix(*status), attempts_suffix(*attempts), body_suffix(body))]
    Status {
        method: Method,
        /// The URL requested, redacted.
        url: String,
        status: u16,
        /// Attempts made; `0` when not known (a response checked by
        /// [`Http::check_status`]).
        attempts: u32,
        /// The start of the response body (at most 300 characters, on one line).
        body: String,
    },

    /// No response: connection refused or reset, DNS, TLS, a timeout, a body that broke
    /// off, too many redirects... (after the last attempt, when retryable).
    #[error("{} {url}: {message} (after {attempts} attempt(s))", method.as_str())]
    Transport {
        method: Method,
        /// The URL requested, redacted.
        url: String,
        message: String,
        attempts: u32,
    },

    /// The response body is larger than [`HttpOptions::max_body_bytes`].
    #[error("{} {url}: the response body is larger than {limit} bytes (max_body_bytes)",
        method.as_str())]
    BodyTooLarge {
        method: Method,
        url: String,
        limit: u64,
    },

    /// The request cannot be sent: not an absolute http(s) URL, an invalid header, a body
    /// that cannot be encoded.
    #[error("{} {url}: invalid request: {message}", method.as_str())]
    InvalidRequest {
        method: Method,
        url: String,
        message: String,
    },

    /// A response that cannot be used (an OAuth2 token response without a token...).
    #[error("{} {url}: unexpected response: {message}", method.as_str())]
    InvalidResponse {
        method: Method,
        url: String,
        message: String,
    },
}

impl HttpError {
    /// The error of a `response` that has an error status (whatever its status: the caller
    /// decided it is one): its redacted URL, status and the start of its body.
    pub fn from_response(response: &Response, method: Method, attempts: u32) -> HttpError {
        HttpError::Status {
            method,
            url: redact_url(&response.url),
            status: response.status,
            attempts,
            body: body_start(&response.body),
        }
    }

    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The method of the failed request.
    pub fn method(&self) -> Method {
        match self {
            HttpError::Status { method, .. }
            | HttpError::Transport { method, .. }
            | HttpError::BodyTooLarge { method, .. }
            | HttpError::InvalidRequest { method, .. }
            | HttpError::InvalidResponse { method, .. } => *method,
        }
    }

    /// The (redacted) URL of the failed request.
    pub fn url(&self) -> &str {
        match self {
            HttpError::Status { url, .. }
            | HttpError::Transport { url, .. }
            | HttpError::BodyTooLarge { url, .. }
            | HttpError::InvalidRequest { url, .. }
            | HttpError::InvalidResponse { url, .. } => url,
        }
    }

    /// The attempts made, when known.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            HttpError::Status { attempts, .. } if *attempts > 0 => Some(*attempts),
            HttpError::Transport { attempts, .. } => Some(*attempts),
            _ => None,
        }
    }

    /// Applies `redact` to every text of the error (URL, body, message).
    fn redacted(self, redact: impl Fn(&str) -> String) -> HttpError {
        match self {
            HttpError::Status {
                method,
                url,
                status,
                attempts,
                body,
            } => HttpError::Status {
                method,
                url: redact(&url),
                status,
                attempts,
                body: redact(&body),
            },
            HttpError::Transport {
                method,
                url,
                message,
                attempts,
            } => HttpError::Transport {
                method,
                url: redact(&url),
                message: redact(&message),
                attempts,
            },
            HttpError::BodyTooLarge { method, url, limit } => HttpError::BodyTooLarge {
                method,
                url: redact(&url),
                limit,
            },
            HttpError::InvalidRequest {
                method,
                url,
                message,
            } => HttpError::InvalidRequest {
                method,
                url: redact(&url),
                message: redact(&message),
            },
            HttpError::InvalidResponse {
                method,
                url,
                message,
            } => HttpError::InvalidResponse {
                method,
                url: redact(&url),
                message: redact(&message),
            },
        }
    }
}

/// `Ok` for a status below 400, else [`HttpError::Status`] naming `method`, the redacted
/// URL, the status and the start of the body (`attempts` 0: not known here). Secrets given
/// to an [`Http`] are not known here either: prefer [`Http::check_status`].
///
/// # Errors
/// The response's status is 400 or more.
// re-exported from the crate root (lib.rs) once it lists it; `Http::check_status` until then
#[allow(unreachable_pub)]
pub fn check_status(response: &Response, method: Method) -> Result<(), HttpError> {
    if response.status >= 400 {
        Err(HttpError::from_response(response, method, 0))
    } else {
        Ok(())
    }
}

/// `url` with its secrets redacted, as dlt's `sanitize_url`: the value of every query
/// parameter named like one of dlt's `SENSITIVE_PARAMS` (`api_key`, `token`, `key`,
/// `access_token`, `apikey`, `api-key`, `access-token`, `secret`, `password`, `pwd`,
/// `client_secret`; case-insensitive) becomes `***`; so does the password of the URL's
/// authority (`https://user:***@host/`; a user without a password, often a token, becomes
/// `***@`). The rest of the URL is kept as it is. Works on any text (not only valid URLs).
pub fn redact_url(url: &str) -> String {
    redact_url_with(url, &[])
}

/// [`redact_url`], and query parameter values equal to one of `secrets` redacted too.
fn redact_url_with(url: &str, secrets: &[String]) -> String {
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let (base, query) = match before_fragment.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (before_fragment, None),
    };
    let mut out = redact_userinfo(base);
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| {
                let Some((key, value)) = pair.split_once('=') else {
                    return pair.to_string();
                };
                let name = form_decode(key);
                let sensitive = SENSITIVE_PARAMS
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(&name));
                let value_is_secret = !value.is_empty() && {
                    let v = form_decode(value);
                    secrets.contains(&v)
                };
                if sensitive || value_is_secret {
                    format!("{key}={REDACTED}")
                } else {
                    pair.to_string()
                }
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// `scheme://user:pass@host/...` → `scheme://user:***@host/...`; `scheme://user@host` →
/// `scheme://***@host`.
fn redact_userinfo(base: &str) -> String {
    let Some(start) = base.find("://").map(|i| i + 3) else {
        return base.to_string();
    };
    let rest = &base[start..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return base.to_string();
    };
    let userinfo = &authority[..at];
    let redacted = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:{REDACTED}"),
        None => REDACTED.to_string(),
    };
    format!("{}{redacted}{}", &base[..start], &rest[at..])
}

/// Replaces every secret of `secrets` (raw, and as it looks percent-encoded in a URL or a
/// form) in `text` by `***`; secrets shorter than 4 characters are left (see
/// `MIN_SUBSTRING_SECRET`).
fn redact_secrets(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        if secret.chars().count() < MIN_SUBSTRING_SECRET {
            continue;
        }
        for form in [
            secret.clone(),
            form_encode(secret),
            percent_encode_all(secret),
        ] {
            if out.contains(&form) {
                out = out.replace(&form, REDACTED);
            }
        }
    }
    out
}

/// Python's `urllib.parse.quote_plus` (what `requests` uses for query parameters and form
/// bodies): letters, digits and `_.-~` as they are, space as `+`, every other byte `%XX`.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// As [`form_encode`] with a space as `%20` (a secret in a URL's path).
fn percent_encode_all(s: &str) -> String {
    form_encode(s).replace('+', "%20")
}

/// Decodes `+` and `%XX` (invalid escapes kept as they are; invalid UTF-8 replaced).
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The text of a query parameter or form value as Python `requests` sends it: a string as
/// it is, a number as its JSON text, `True`/`False`, `null` not sent, an array once per
/// element, an object once per key (Python iterates a dict's keys).
fn param_values(value: &Json) -> Vec<String> {
    match value {
        Json::Null => Vec::new(),
        Json::Array(items) => items.iter().filter_map(scalar_text).collect(),
        Json::Object(map) => map.keys().cloned().collect(),
        v => scalar_text(v).into_iter().collect(),
    }
}

/// One value as `str(value)` would give it (nested lists and dicts as JSON text).
fn scalar_text(value: &Json) -> Option<String> {
    match value {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        Json::Bool(true) => Some("True".into()),
        Json::Bool(false) => Some("False".into()),
        Json::Number(n) => Some(n.to_string()),
        v => Some(v.to_string()),
    }
}

/// `name=value&...` of `pairs`, encoded as `requests` does.
fn form_encode_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a Json)>) -> String {
    let mut out: Vec<String> = Vec::new();
    for (name, value) in pairs {
        for v in param_values(value) {
            out.push(format!("{}={}", form_encode(name), form_encode(&v)));
        }
    }
    out.join("&")
}

/// The URL `req` is sent to: its URL (parsed and normalized, fragment dropped) with `query`
/// appended to the query it may already have.
fn full_url(req: &Request) -> Result<url::Url, String> {
    let mut url = url::Url::parse(&req.url).map_err(|e| format!("not an absolute URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "the URL's scheme is `{}`: only http and https are supported",
            url.scheme()
        ));
    }
    url.set_fragment(None);
    let params = form_encode_pairs(req.query.iter().map(|(k, v)| (k.as_str(), v)));
    if !params.is_empty() {
        let query = match url.query() {
            Some(q) if !q.is_empty() => format!("{q}&{params}"),
            _ => params,
        };
        url.set_query(Some(&query));
    }
    Ok(url)
}

fn retryable_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// What `requests` raises as `ConnectionError`, `Timeout` or `ChunkedEncodingError` (the
/// exceptions dlt retries).
fn retryable_error(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::HostNotFound
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
            | ureq::Error::Tls(_)
            | ureq::Error::Rustls(_)
            | ureq::Error::ConnectProxyFailed(_)
    )
}

/// A transport error as text (never echoing a URL: it may hold a secret).
fn transport_message(e: &ureq::Error) -> String {
    match e {
        ureq::Error::BadUri(_) => "invalid URL".to_string(),
        ureq::Error::RequireHttpsOnly(_) => "an https URL is required".to_string(),
        e => one_line(&e.to_string()),
    }
}

/// The wait before retry number `retry` (1 for the first retry): the server's
/// `Retry-After`, else `factor * 2^(retry-1)`; at most `max`.
fn retry_delay(
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

/// `Retry-After` as dlt reads it (urllib3's parser): seconds, or an HTTP date (RFC 1123,
/// RFC 850 or asctime); `None` when unreadable, zero or in the past (the backoff applies).
fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = value.parse().unwrap_or(u64::MAX);
        return (secs > 0).then(|| Duration::from_secs(secs));
    }
    let date = http_date(value)?;
    let millis = (date - now).num_milliseconds();
    (millis > 0).then(|| Duration::from_millis(millis.unsigned_abs()))
}

/// An HTTP date in any of its three forms.
fn http_date(value: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(d) = chrono::DateTime::parse_from_rfc2822(value) {
        return Some(d.with_timezone(&chrono::Utc));
    }
    let formats = [
        "%A, %d-%b-%y %H:%M:%S GMT", // RFC 850
        "%a %b %e %H:%M:%S %Y",      // asctime
    ];
    formats.iter().find_map(|f| {
        chrono::NaiveDateTime::parse_from_str(value, f)
            .ok()
            .map(|d| d.and_utc())
    })
}

/// The start of a body on one line: at most `ERROR_BODY_CHARS` characters, line breaks and
/// tabs as spaces, trimmed.
fn body_start(body: &[u8]) -> String {
    let head = &body[..body.len().min(ERROR_BODY_CHARS * 4)];
    let text = String::from_utf8_lossy(head);
    let start: String = text.chars().take(ERROR_BODY_CHARS).collect();
    one_line(start.trim())
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn reason_suffix(status: u16) -> String {
    let reason = match status {
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        418 => "I'm a teapot",
        422 => "Unprocessable Entity",
        425 => "Too Early",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        511 => "Network Authentication Required",
        _ => return String::new(),
    };
    format!(" {reason}")
}

fn attempts_suffix(attempts: u32) -> String {
    if attempts == 0 {
        String::new()
    } else {
        format!(" after {attempts} attempt(s)")
    }
}

fn body_suffix(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

/// Spaces requests at least `1 / requests_per_second` apart.
#[derive(Debug)]
struct RateLimiter {
    interval: Option<Duration>,
    next: Option<Instant>,
}

impl RateLimiter {
    fn new(requests_per_second: f64) -> Self {
        let interval = (requests_per_second.is_finite() && requests_per_second > 0.0)
            .then(|| Duration::from_secs_f64(1.0 / requests_per_second));
        RateLimiter {
            interval,
            next: None,
        }
    }

    /// Books the next request slot at or after `now`; returns how long to wait for it.
    fn reserve(&mut self, now: Instant) -> Duration {
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

/// A request ready to go: URL, headers and body checked once, sent at every attempt.
struct Prepared {
    method: Method,
    uri: h::Uri,
    /// The URL as text (for the response and, redacted, for errors).
    url: String,
    headers: Vec<(h::HeaderName, h::HeaderValue)>,
    body: Option<Vec<u8>>,
}

/// What one attempt gave.
enum Attempt {
    Done(Result<Response, HttpError>),
    Retry {
        error: HttpError,
        retry_after: Option<Duration>,
    },
}

/// The blocking HTTP client: one per source, shared (it is `Send + Sync`) by its
/// resources, so the rate limit holds across them and their threads.
pub struct Http {
    agent: ureq::Agent,
    opts: HttpOptions,
    limiter: Mutex<RateLimiter>,
    /// Values redacted from every error and log line.
    secrets: RwLock<Vec<String>>,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("opts", &self.opts)
            .field(
                "secrets",
                &format_args!("{} redacted", self.secrets().len()),
            )
            .finish_non_exhaustive()
    }
}

impl Http {
    /// A client with `opts`.
    pub fn new(opts: HttpOptions) -> Http {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(opts.user_agent.as_str())
            .timeout_connect(Some(opts.timeout))
            .timeout_per_read(Some(opts.timeout))
            .timeout_per_write(Some(opts.timeout))
            .build();
        Http {
            agent: ureq::Agent::new_with_config(config),
            limiter: Mutex::new(RateLimiter::new(opts.requests_per_second)),
            opts,
            secrets: RwLock::new(Vec::new()),
        }
    }

    /// The options the client was made with.
    pub fn options(&self) -> &HttpOptions {
        &self.opts
    }

    /// From now on `value` is shown as `***` in every error and log line of this client
    /// (an api key sent in a query parameter of any name, a token in a URL's path...).
    /// Empty values are ignored; values shorter than 4 characters are redacted only where
    /// they are a whole query parameter value.
    pub fn add_secret(&self, value: &str) {
        if value.is_empty() || self.secrets().iter().any(|s| s == value) {
            return;
        }
        let mut secrets = match self.secrets.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if !secrets.iter().any(|s| s == value) {
            secrets.push(value.to_string());
            // longest first: a secret that contains another is replaced whole
            secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    fn secrets(&self) -> Vec<String> {
        match self.secrets.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// `url` as it may be shown: [`redact_url`], and this client's secrets as `***`.
    pub fn redact_url(&self, url: &str) -> String {
        let secrets = self.secrets();
        redact_secrets(&redact_url_with(url, &secrets), &secrets)
    }

    /// `text` with this client's secrets as `***`.
    pub fn redact(&self, text: &str) -> String {
        redact_secrets(text, &self.secrets())
    }

    /// The crate's `check_status` (`Ok` for a status below 400, else [`HttpError::Status`]
    /// naming the method, the URL and the start of the body), with this client's secrets
    /// redacted from the error.
    ///
    /// # Errors
    /// The response's status is 400 or more.
    pub fn check_status(&self, response: &Response, method: Method) -> Result<(), HttpError> {
        check_status(response, method).map_err(|e| self.redact_error(e))
    }

    fn redact_error(&self, e: HttpError) -> HttpError {
        let secrets = self.secrets();
        e.redacted(|text| redact_secrets(&redact_url_with(text, &secrets), &secrets))
    }

    /// Sends `req`, retrying a `429`, a `5xx` and a transport error (see the module
    /// documentation); any other status, an error status included, is the `Ok` response.
    ///
    /// # Errors
    /// [`HttpError::Status`] when the last attempt still got a `429` or `5xx`;
    /// [`HttpError::Transport`] when no response came; [`HttpError::BodyTooLarge`];
    /// [`HttpError::InvalidRequest`] for a request that cannot be sent.
    pub fn send(&self, req: &Request) -> Result<Response, HttpError> {
        self.send_with_attempts(req).map(|(response, _)| response)
    }

    /// [`Http::send`], and the number of attempts it took.
    ///
    /// # Errors
    /// As [`Http::send`].
    pub fn send_with_attempts(&self, req: &Request) -> Result<(Response, u32), HttpError> {
        let prepared = self.prepare(req).map_err(|e| self.redact_error(e))?;
        let max_attempts = self.opts.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            self.wait_turn();
            match self.attempt(&prepared, attempt) {
                Attempt::Done(result) => {
                    return result
                        .map(|response| (response, attempt))
                        .map_err(|e| self.redact_error(e))
                }
                Attempt::Retry { error, retry_after } => {
                    let error = self.redact_error(error);
                    if attempt >= max_attempts {
                        return Err(error);
                    }
                    let delay = retry_delay(
                        attempt,
                        self.opts.backoff_factor,
                        self.opts.max_retry_delay,
                        retry_after,
                    );
                    tracing::warn!(
                        method = prepared.method.as_str(),
                        url = %error.url(),
                        attempt,
                        max_attempts,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        error = %error,
                        "retrying"
                    );
                    std::thread::sleep(delay);
                    attempt += 1;
                }
            }
        }
    }

    /// Checks and encodes `req` once.
    fn prepare(&self, req: &Request) -> Result<Prepared, HttpError> {
        let method = req.method;
        let invalid = |message: String| HttpError::InvalidRequest {
            method,
            url: redact_url(&req.url),
            message,
        };
        let url = full_url(req).map_err(invalid)?;
        let url = url.to_string();
        let uri: h::Uri = url
            .parse()
            .map_err(|e: h::uri::InvalidUri| invalid(format!("invalid URL: {e}")))?;
        let mut headers = Vec::with_capacity(req.headers.len() + 1);
        for (name, value) in &req.headers {
            let n = h::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(format!("`{name}` is not a valid header name")))?;
            // the value is not shown: it may be a secret
            let mut v = h::HeaderValue::from_str(value)
                .map_err(|_| invalid(format!("the value of header `{name}` is not valid")))?;
            v.set_sensitive(true);
            headers.push((n, v));
        }
        let has_content_type = req
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        let mut content_type = None;
        let body = match (&req.json, &req.data) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "both `json` and `data` are set: use `json` for a JSON body, `data` for a \
                     form or raw body"
                        .into(),
                ))
            }
            (Some(json), None) => {
                content_type = Some("application/json");
                Some(json.to_string().into_bytes())
            }
            (None, Some(Json::String(raw))) => Some(raw.clone().into_bytes()),
            (None, Some(Json::Object(form))) => {
                content_type = Some("application/x-www-form-urlencoded");
                Some(form_encode_pairs(form.iter().map(|(k, v)| (k.as_str(), v))).into_bytes())
            }
            (None, Some(Json::Array(pairs))) => {
                let pairs = pairs
                    .iter()
                    .map(|p| match p.as_array().map(Vec::as_slice) {
                        Some([Json::String(k), v]) => Some((k.as_str(), v)),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        invalid(
                            "`data` as a list must hold [name, value] pairs (names strings)".into(),
                        )
                    })?;
                content_type = Some("application/x-www-form-urlencoded");
                Some(form_encode_pairs(pairs).into_bytes())
            }
            (None, Some(Json::Null)) | (None, None) => None,
            (None, Some(_)) => {
                return Err(invalid(
                    "`data` must be an object (a form), a list of pairs or a string (a raw \
                     body)"
                        .into(),
                ))
            }
        };
        if let (Some(ct), false) = (content_type, has_content_type) {
            headers.push((h::header::CONTENT_TYPE, h::HeaderValue::from_static(ct)));
        }
        // POST, PUT and PATCH send a body, if an empty one (Content-Length: 0)
        let body = match (body, method) {
            (None, Method::Post | Method::Put | Method::Patch) => Some(Vec::new()),
            (body, _) => body,
        };
        Ok(Prepared {
            method,
            uri,
            url,
            headers,
            body,
        })
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

    fn attempt(&self, p: &Prepared, attempt: u32) -> Attempt {
        let transport = |e: &ureq::Error| HttpError::Transport {
            method: p.method,
            url: redact_url(&p.url),
            message: transport_message(e),
            attempts: attempt,
        };
        let method = match p.method {
            Method::Get => h::Method::GET,
            Method::Post => h::Method::POST,
            Method::Put => h::Method::PUT,
            Method::Patch => h::Method::PATCH,
            Method::Delete => h::Method::DELETE,
            Method::Head => h::Method::HEAD,
        };
        let mut builder = h::Request::builder().method(method).uri(p.uri.clone());
        for (name, value) in &p.headers {
            builder = builder.header(name.clone(), value.clone());
        }
        let sent = match &p.body {
            Some(body) => builder.body(body.clone()).map(|r| self.agent.run(r)),
            None => builder.body(()).map(|r| self.agent.run(r)),
        };
        let mut response = match sent {
            Ok(Ok(r)) => r,
            Ok(Err(e)) if retryable_error(&e) => {
                return Attempt::Retry {
                    error: transport(&e),
                    retry_after: None,
                }
            }
            Ok(Err(e)) => return Attempt::Done(Err(transport(&e))),
            Err(e) => {
                return Attempt::Done(Err(HttpError::InvalidRequest {
                    method: p.method,
                    url: redact_url(&p.url),
                    message: one_line(&e.to_string()),
                }))
            }
        };
        let status = response.status().as_u16();
        let final_url = response.get_uri().to_string();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        if retryable_status(status) {
            let retry_after = response
                .headers()
                .get(h::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
            let mut start = Vec::new();
            // the body only explains the error: what of it can be read
            let _ = response
                .body_mut()
                .as_reader()
                .take((ERROR_BODY_CHARS * 4) as u64)
                .read_to_end(&mut start);
            return Attempt::Retry {
                error: HttpError::Status {
                    method: p.method,
                    url: redact_url(&p.url),
                    status,
                    attempts: attempt,
                    body: body_start(&start),
                },
                retry_after,
            };
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(self.opts.max_body_bytes)
            .read_to_vec();
        match body {
            Ok(body) => Attempt::Done(Ok(Response {
                url: final_url,
                status,
                headers,
                body,
            })),
            Err(ureq::Error::BodyExceedsLimit(_)) => Attempt::Done(Err(HttpError::BodyTooLarge {
                method: p.method,
                url: redact_url(&p.url),
                limit: self.opts.max_body_bytes,
            })),
            // the connection broke while reading
            Err(e) if retryable_error(&e) => Attempt::Retry {
                error: transport(&e),
                retry_after: None,
            },
            Err(e) => Attempt::Done(Err(transport(&e))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn http_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Http>();
        check::<HttpError>();
    }

    #[test]
    fn default_options_are_dlts_runtime_defaults() {
        let o = HttpOptions::default();
        assert_eq!(o.max_attempts, 5);
        assert_eq!(o.backoff_factor, Duration::from_secs(1));
        assert_eq!(o.max_retry_delay, Duration::from_secs(300));
        assert_eq!(o.timeout, Duration::from_secs(60));
        assert_eq!(o.requests_per_second, 0.0);
        assert!(o.user_agent.starts_with("dlt-rs/"), "{}", o.user_agent);
        let http = Http::new(o.clone());
        assert_eq!(http.options(), &o);
    }

    #[test]
    fn options_from_dlts_runtime_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = |values: &[(&str, Json)]| {
            let mut b = dlt_config::Config::builder()
                .project_dir(dir.path())
                .no_global_dir()
                .env(Vec::<(String, String)>::new());
            for (k, v) in values {
                b = b.set(k, v.clone());
            }
            b.build().unwrap()
        };
        assert_eq!(
            HttpOptions::from_config(&config(&[])).unwrap(),
            HttpOptions::default()
        );
        let o = HttpOptions::from_config(&config(&[
            ("runtime.request_max_attempts", json!(7)),
            ("runtime.request_backoff_factor", json!(0.5)),
            ("runtime.request_timeout", json!("20")),
            ("runtime.request_max_retry_delay", json!(30)),
            ("sources.rest_api.request_timeout", json!(15)),
            ("sources.rest_api.requests_per_second", json!(2)),
            ("sources.rest_api.user_agent", json!("me/1")),
        ]))
        .unwrap();
        assert_eq!(
            o,
            HttpOptions {
                user_agent: "me/1".into(),
                requests_per_second: 2.0,
                max_attempts: 7,
                backoff_factor: Duration::from_millis(500),
                max_retry_delay: Duration::from_secs(30),
                timeout: Duration::from_secs(15),
                ..HttpOptions::default()
            }
        );
        let e = HttpOptions::from_config(&config(&[("runtime.request_timeout", json!("soon"))]))
            .unwrap_err();
        assert_eq!(e.path, "runtime.request_timeout");
    }

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
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        // 0 and dates in the past: dlt falls back to the backoff
        assert_eq!(parse_retry_after("0", now), None);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            None
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:28:05 2015", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn retryable_statuses() {
        for s in [429, 500, 502, 503, 504, 599] {
            assert!(retryable_status(s), "{s}");
        }
        for s in [200, 301, 400, 401, 403, 404, 410, 600] {
            assert!(!retryable_status(s), "{s}");
        }
    }

    #[test]
    fn query_parameters_are_encoded_as_requests_does() {
        let mut req = Request::new(Method::Get, "https://api.example.com/v1/items?page=2#top");
        req.query = vec![
            ("q".into(), json!("a b&c=d/é")),
            ("limit".into(), json!(50)),
            ("ratio".into(), json!(0.5)),
            ("flag".into(), json!(true)),
            ("off".into(), json!(false)),
            ("none".into(), Json::Null),
            ("ids".into(), json!([1, "x", null, 3])),
            ("obj".into(), json!({"k1": 1, "k2": 2})),
            ("we ird".into(), json!("*~")),
        ];
        assert_eq!(
            full_url(&req).unwrap().as_str(),
            "https://api.example.com/v1/items?page=2&q=a+b%26c%3Dd%2F%C3%A9&limit=50\
             &ratio=0.5&flag=True&off=False&ids=1&ids=x&ids=3&obj=k1&obj=k2&we+ird=%2A~"
        );
        let plain = Request::new(Method::Get, "http://h:1");
        assert_eq!(full_url(&plain).unwrap().as_str(), "http://h:1/");
        let mut only_null = Request::new(Method::Get, "http://h/p?x=1");
        only_null.query = vec![("a".into(), Json::Null)];
        assert_eq!(full_url(&only_null).unwrap().as_str(), "http://h/p?x=1");
        assert!(full_url(&Request::new(Method::Get, "/relative")).is_err());
        let e = full_url(&Request::new(Method::Get, "ftp://h/x")).unwrap_err();
        assert!(e.contains("ftp"), "{e}");
    }

    #[test]
    fn bodies_and_headers() {
        let http = Http::new(HttpOptions::default());
        let mut req = Request::new(Method::Post, "http://h/x");
        req.json = Some(json!({"a": [1, true]}));
        let p = http.prepare(&req).unwrap();
        assert_eq!(p.body.as_deref(), Some(&br#"{"a":[1,true]}"#[..]));
        assert_eq!(p.headers[0].0, h::header::CONTENT_TYPE);
        assert_eq!(p.headers[0].1, "application/json");

        let mut req = Request::new(Method::Post, "http://h/x");
        req.data = Some(json!({"grant_type": "client_credentials", "n": 1, "x": null}));
        req.set_header(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        );
        let p = http.prepare(&req).unwrap();
        assert_eq!(
            p.body.as_deref(),
            Some(&b"grant_type=client_credentials&n=1"[..])
        );
        // the request's own content type is kept
        assert_eq!(p.headers.len(), 1);

        let mut req = Request::new(Method::Put, "http://h/x");
        req.data = Some(json!([["a", "1"], ["a", "2"]]));
        let p = http.prepare(&req).unwrap();
        assert_eq!(p.body.as_deref(), Some(&b"a=1&a=2"[..]));

        let mut req = Request::new(Method::Post, "http://h/x");
        req.data = Some(json!("raw text"));
        let p = http.prepare(&req).unwrap();
        assert_eq!(p.body.as_deref(), Some(&b"raw text"[..]));
        assert!(p.headers.is_empty());

        // POST without a body sends an empty one; GET none
        let p = http
            .prepare(&Request::new(Method::Post, "http://h/"))
            .unwrap();
        assert_eq!(p.body.as_deref(), Some(&b""[..]));
        let p = http
            .prepare(&Request::new(Method::Get, "http://h/"))
            .unwrap();
        assert_eq!(p.body, None);

        let mut req = Request::new(Method::Post, "http://h/x");
        req.data = Some(json!(5));
        let e = http.prepare(&req).err().unwrap().to_string();
        assert!(e.starts_with("POST http://h/x: invalid request"), "{e}");
        req.data = Some(json!({}));
        req.json = Some(json!({}));
        assert!(http.prepare(&req).is_err());

        // an invalid header value is named by its header, never shown
        let mut req = Request::new(Method::Get, "http://h/x?token=abc");
        req.set_header("X-Key", "sec\nret-value");
        let e = http.prepare(&req).err().unwrap().to_string();
        assert!(e.contains("X-Key"), "{e}");
        assert!(!e.contains("ret-value"), "{e}");
        assert!(e.contains("token=***"), "{e}");
        req.headers = vec![("bad header".into(), "v".into())];
        let e = http.prepare(&req).err().unwrap().to_string();
        assert!(e.contains("`bad header`"), "{e}");
    }

    #[test]
    fn redact_url_is_dlts_sanitize_url() {
        assert_eq!(
            redact_url("https://h/p?api_key=abc&page=2&TOKEN=x&Client_Secret=y&q=token"),
            "https://h/p?api_key=***&page=2&TOKEN=***&Client_Secret=***&q=token"
        );
        assert_eq!(
            redact_url("https://h/p?api%5Fkey=abc&key=&pwd=1#frag?token=1"),
            "https://h/p?api%5Fkey=***&key=***&pwd=***#frag?token=1"
        );
        assert_eq!(
            redact_url("https://user:pa:ss@h:8/p?a=1"),
            "https://user:***@h:8/p?a=1"
        );
        assert_eq!(redact_url("https://ghp_token@h/p"), "https://***@h/p");
        assert_eq!(redact_url("https://h/p/a@b"), "https://h/p/a@b");
        assert_eq!(redact_url("not a url"), "not a url");
        assert_eq!(redact_url("http://h/p"), "http://h/p");
        for name in SENSITIVE_PARAMS {
            let r = redact_url(&format!("http://h/?{name}=s3cr3t"));
            assert!(!r.contains("s3cr3t"), "{r}");
        }
    }

    #[test]
    fn secrets_are_redacted_everywhere() {
        let http = Http::new(HttpOptions::default());
        http.add_secret("my secret/key");
        http.add_secret("ab");
        http.add_secret("");
        assert_eq!(
            http.redact_url("https://h/my%20secret%2Fkey/x?custom=my+secret%2Fkey&short=ab&p=abc"),
            "https://h/***/x?custom=***&short=***&p=abc"
        );
        assert_eq!(http.redact("echo: my secret/key ab"), "echo: *** ab");
        let dbg = format!("{http:?}");
        assert!(!dbg.contains("my secret"), "{dbg}");
    }

    #[test]
    fn status_errors_name_method_url_and_status() {
        let response = Response {
            url: "http://h/posts?api_key=k123".into(),
            status: 404,
            headers: vec![],
            body: format!("line one\nline two {}", "x".repeat(1000)).into_bytes(),
        };
        let e = check_status(&response, Method::Get).unwrap_err();
        assert_eq!(e.status(), Some(404));
        assert_eq!(e.method(), Method::Get);
        assert_eq!(e.attempts(), None);
        let text = e.to_string();
        assert!(
            text.starts_with(
                "GET http://h/posts?api_key=***: HTTP 404 Not Found: line one line two xxx"
            ),
            "{text}"
        );
        assert!(!text.contains('\n'));
        assert!(text.len() < 400, "{}", text.len());
        let ok = Response {
            status: 302,
            ..response.clone()
        };
        assert!(check_status(&ok, Method::Get).is_ok());

        let e = HttpError::Status {
            method: Method::Post,
            url: "http://h/x".into(),
            status: 500,
            attempts: 5,
            body: String::new(),
        };
        assert_eq!(
            e.to_string(),
            "POST http://h/x: HTTP 500 Internal Server Error after 5 attempt(s)"
        );
        assert_eq!(e.attempts(), Some(5));
        let e = HttpError::Status {
            method: Method::Get,
            url: "http://h/x".into(),
            status: 299,
            attempts: 1,
            body: " b ".into(),
        };
        assert_eq!(
            e.to_string(),
            "GET http://h/x: HTTP 299 after 1 attempt(s): b"
        );
    }

    use super::test_server::{response, Server};

    fn fast(max_attempts: u32) -> Http {
        Http::new(HttpOptions {
            max_attempts,
            backoff_factor: Duration::from_millis(1),
            max_retry_delay: Duration::from_millis(20),
            timeout: Duration::from_secs(10),
            ..HttpOptions::default()
        })
    }

    #[test]
    fn a_server_error_is_retried() {
        let s = Server::start(vec![
            response(500, &[], "oops"),
            response(200, &[("X-Total", "2")], r#"{"ok":true}"#),
        ]);
        let http = fast(3);
        let mut req = Request::new(Method::Get, s.url("/items"));
        req.query = vec![("page".into(), json!(1))];
        let (r, attempts) = http.send_with_attempts(&req).unwrap();
        assert_eq!(attempts, 2);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, br#"{"ok":true}"#);
        assert_eq!(r.header("x-total"), Some("2"));
        assert_eq!(r.url, s.url("/items?page=1"));
        let got = s.finish();
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|g| g.target == "/items?page=1"));
        assert!(got[0].header("user-agent").unwrap().starts_with("dlt-rs/"));
    }

    #[test]
    fn too_many_requests_with_retry_after_zero_is_retried() {
        let s = Server::start(vec![
            response(429, &[("Retry-After", "0")], ""),
            response(200, &[], "[]"),
        ]);
        let r = fast(2)
            .send(&Request::new(Method::Get, s.url("/")))
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(s.finish().len(), 2);
    }

    #[test]
    fn a_body_that_breaks_off_is_retried() {
        let mut truncated = response(200, &[], "0123456789");
        truncated.truncate(truncated.len() - 5);
        let s = Server::start(vec![truncated, response(200, &[], "0123456789")]);
        let r = fast(2)
            .send(&Request::new(Method::Get, s.url("/")))
            .unwrap();
        assert_eq!(r.body, b"0123456789");
        assert_eq!(s.finish().len(), 2);
    }

    #[test]
    fn a_client_error_is_a_response_and_check_status_names_it() {
        let s = Server::start(vec![response(404, &[], "{\"error\": \"no such post\"}")]);
        let http = fast(3);
        let req = Request::new(Method::Get, s.url("/posts/9?api_key=k-123456"));
        let r = http.send(&req).unwrap();
        assert_eq!(r.status, 404);
        let e = http.check_status(&r, Method::Get).unwrap_err();
        assert_eq!(e.status(), Some(404));
        let text = e.to_string();
        assert_eq!(
            text,
            format!(
                "GET {}: HTTP 404 Not Found: {{\"error\": \"no such post\"}}",
                s.url("/posts/9?api_key=***")
            )
        );
        assert_eq!(s.finish().len(), 1);
    }

    #[test]
    fn exhausted_attempts_give_the_status_and_hide_the_api_key() {
        let s = Server::start(vec![
            response(503, &[], "busy"),
            response(503, &[], "busy"),
            response(502, &[], "echo: key=custom-secret-1"),
        ]);
        let http = fast(3);
        http.add_secret("custom-secret-1");
        let mut req = Request::new(Method::Post, s.url("/posts?api_key=k-123456"));
        req.query = vec![("access".into(), json!("custom-secret-1"))];
        req.json = Some(json!({"a": 1}));
        let e = http.send(&req).unwrap_err();
        assert_eq!(e.status(), Some(502));
        let HttpError::Status { attempts, .. } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(*attempts, 3);
        let text = e.to_string();
        assert_eq!(
            text,
            format!(
                "POST {}: HTTP 502 Bad Gateway after 3 attempt(s): echo: key=***",
                s.url("/posts?api_key=***&access=***")
            )
        );
        let got = s.finish();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].method, "POST");
        assert_eq!(got[0].body, br#"{"a":1}"#);
        assert_eq!(got[0].header("content-type"), Some("application/json"));
    }

    #[test]
    fn connection_refused_is_a_transport_error() {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let http = fast(2);
        let e = http
            .send(&Request::new(
                Method::Get,
                format!("http://{addr}/x?token=t0ps3cret"),
            ))
            .unwrap_err();
        let HttpError::Transport { attempts, .. } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(*attempts, 2);
        assert_eq!(e.status(), None);
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("GET http://{addr}/x?token=***: ")),
            "{text}"
        );
        assert!(text.ends_with("(after 2 attempt(s))"), "{text}");
    }

    #[test]
    fn a_body_over_the_limit_is_an_error() {
        let s = Server::start(vec![response(200, &[], &"x".repeat(100))]);
        let http = Http::new(HttpOptions {
            max_body_bytes: 10,
            ..HttpOptions::default()
        });
        let e = http
            .send(&Request::new(Method::Get, s.url("/big")))
            .unwrap_err();
        assert!(
            matches!(e, HttpError::BodyTooLarge { limit: 10, .. }),
            "{e:?}"
        );
        s.finish();
    }

    #[test]
    fn headers_and_form_bodies_arrive() {
        let s = Server::start(vec![response(200, &[], "")]);
        let mut req = Request::new(Method::Post, s.url("/token"));
        req.set_header("User-Agent", "mine/1");
        req.set_header("X-Custom", "v");
        req.data = Some(json!({"a": "b c", "n": 2}));
        let r = fast(1).send(&req).unwrap();
        assert_eq!(r.status, 200);
        let got = s.finish();
        assert_eq!(got[0].header("user-agent"), Some("mine/1"));
        assert_eq!(got[0].header("x-custom"), Some("v"));
        assert_eq!(
            got[0].header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(got[0].body, b"a=b+c&n=2");
    }
}

/// A loopback HTTP/1.1 server answering scripted responses, one connection each
/// (`Connection: close`), recording what it received.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod test_server {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::thread::JoinHandle;
    use std::time::Duration;

    /// One request as received.
    #[derive(Debug, Clone)]
    pub(crate) struct Received {
        pub(crate) method: String,
        pub(crate) target: String,
        /// Names in lower case.
        pub(crate) headers: Vec<(String, String)>,
        pub(crate) body: Vec<u8>,
    }

    impl Received {
        pub(crate) fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    /// A response: raw bytes written as they are (a truncated body is possible).
    pub(crate) fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {status} X\r\nconnection: close\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (n, v) in headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(body);
        out.into_bytes()
    }

    pub(crate) struct Server {
        pub(crate) addr: SocketAddr,
        handle: JoinHandle<Vec<Received>>,
    }

    impl Server {
        /// Serves `script`, one response per connection, then stops.
        pub(crate) fn start(script: Vec<Vec<u8>>) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let handle = std::thread::spawn(move || {
                let mut got = Vec::new();
                for answer in script {
                    let (stream, _) = listener.accept().unwrap();
                    got.push(serve(stream, &answer));
                }
                got
            });
            Server { addr, handle }
        }

        pub(crate) fn url(&self, path: &str) -> String {
            format!("http://{}{path}", self.addr)
        }

        /// Waits for the script to be served; what was received.
        pub(crate) fn finish(self) -> Vec<Received> {
            self.handle.join().unwrap()
        }
    }

    fn serve(stream: TcpStream, answer: &[u8]) -> Received {
        // a guard against a hanging test, not a synchronisation
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (n, v) = line.split_once(':').unwrap();
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        let mut stream = reader.into_inner();
        stream.write_all(answer).unwrap();
        stream.flush().unwrap();
        Received {
            method,
            target,
            headers,
            body,
        }
    }
}
