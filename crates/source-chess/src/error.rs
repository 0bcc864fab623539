//! Errors of the chess source: every request error names the URL.

use pipeline::PipelineError;
use source_rest::HttpError;

/// What can go wrong reading chess.com (or configuring the source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChessError {
    /// The server answered with an error status (after the retries, for 429 and 5xx).
    #[error("GET {url}: HTTP {status}{reason} after {attempts} attempt(s){body}",
        reason = reason_suffix(*status),
        body = body_suffix(body))]
    Status {
        url: String,
        status: u16,
        attempts: u32,
        /// The start of the response body (chess.com explains its errors there).
        body: String,
    },

    /// No response: connection refused or reset, timeout, DNS, TLS... (after the retries).
    #[error("GET {url}: {message} (after {attempts} attempt(s))")]
    Transport {
        url: String,
        message: String,
        attempts: u32,
    },

    /// The response body is not JSON or not of the expected shape.
    #[error("GET {url}: unexpected response: {message}")]
    Response { url: String, message: String },

    /// An invalid setting (`sources.chess.*`, a month that is not `YYYY/MM`...).
    #[error("chess source configuration: {0}")]
    Config(String),

    /// Reading the pipeline's state (the incremental cursor) failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),

    /// Another failure of the HTTP client (a body over the size limit, an invalid URL...),
    /// naming the method and the URL.
    #[error(transparent)]
    Http(HttpError),
}

impl From<HttpError> for ChessError {
    /// A status or transport error of the shared client as the source's own variant (the
    /// URL, the status, the attempts), anything else as [`ChessError::Http`].
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Status {
                url,
                status,
                attempts,
                body,
                ..
            } => ChessError::Status {
                url,
                status,
                attempts,
                body,
            },
            HttpError::Transport {
                url,
                message,
                attempts,
                ..
            } => ChessError::Transport {
                url,
                message,
                attempts,
            },
            e => ChessError::Http(e),
        }
    }
}

impl ChessError {
    /// The URL of a failed request, if the error is about one.
    pub fn url(&self) -> Option<&str> {
        match self {
            ChessError::Status { url, .. }
            | ChessError::Transport { url, .. }
            | ChessError::Response { url, .. } => Some(url),
            ChessError::Http(e) => Some(e.url()),
            ChessError::Config(_) | ChessError::Pipeline(_) => None,
        }
    }

    /// The HTTP status of a failed request, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ChessError::Status { status, .. } => Some(*status),
            ChessError::Http(e) => e.status(),
            _ => None,
        }
    }
}

fn reason_suffix(status: u16) -> String {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return String::new(),
    };
    format!(" {reason}")
}

fn body_suffix(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}
