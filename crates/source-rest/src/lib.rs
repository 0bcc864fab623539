//! dlt's `rest_api` source: REST APIs declared in dlt's `RESTAPIConfig` shape (a JSON, YAML
//! or TOML file with the keys of dlt's Python dict), run without code.
//!
//! Modules (private; the public items are re-exported below): `request` (a request and
//! its response: pure data), `http` (the blocking HTTP client shared with the chess source:
//! retries with backoff on 429, 5xx and dropped connections honouring `Retry-After`, a rate
//! limit, URLs with secrets redacted), `auth` (bearer, api_key, http_basic, OAuth2 client
//! credentials), `jsonpath` (dlt's JSON paths: `data_selector`, `cursor_path`...),
//! `paginate` (dlt's paginators and their configuration), `detect` (dlt's detection of the
//! data and the paginator of a response), `client` (dlt's `RESTClient.paginate`: pages of
//! an endpoint), `config` (the `RESTAPIConfig` document: reading, defaults, validation),
//! `source` (the resources of a config: incremental params, dependent resources);
//! `fixture` (public: a deterministic local API for tests, examples and the benchmark).

mod auth;
mod client;
mod config;
mod detect;
pub mod fixture;
mod http;
mod jsonpath;
mod paginate;
mod request;
mod source;

pub use auth::Auth;
pub use client::ClientError;
pub use config::RestApiConfig;
pub use http::{redact_url, Http, HttpError, HttpOptions};
pub use paginate::{Paginator, PaginatorError};
pub use request::{Method, Request, Response};
pub use source::RestApiSource;

/// A configuration that cannot be used: the key path it is about (`resources[2].endpoint.
/// paginator.limit`, `client.auth`) and why. Never holds a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rest_api config `{path}`: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}
