//! Typed errors shared by destinations and the pipeline.
//!
//! Driver failures enter as a boxed [`DestinationError`] that classifies itself as transient
//! (retry may help) or terminal, so the pipeline can decide without knowing the driver.

use std::path::PathBuf;

/// Whether retrying the failed operation may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Connection lost, server restart, serialization failure, deadlock...
    Transient,
    /// The data or the schema is wrong; retrying gives the same error.
    Terminal,
}

/// A failure reported by a database driver, classified next to the driver.
pub trait DestinationError: std::error::Error + Send + Sync + 'static {
    fn retry(&self) -> Retry;
    /// The SQLSTATE of a server error, when there is one.
    fn sqlstate(&self) -> Option<&str>;
}

/// Errors of the destination contract.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("unknown destination `{name}`; known destinations: {}", known.join(", "))]
    UnknownDestination { name: String, known: Vec<String> },

    #[error("missing configuration value{} {} for {what}; looked for (first found wins): {}",
        if fields.len() > 1 { "s" } else { "" },
        fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", "),
        tried.join(", "))]
    MissingConfig {
        what: String,
        fields: Vec<String>,
        tried: Vec<String>,
    },

    #[error("invalid configuration value for `{key}` (from {origin}): {reason}")]
    InvalidConfig {
        key: String,
        origin: String,
        reason: String,
    },

    #[error("{0}")]
    Config(String),

    #[error("{what} is not supported by destination `{destination}`{}", hint.as_deref().map(|h| format!("; {h}")).unwrap_or_default())]
    Unsupported {
        destination: String,
        what: String,
        hint: Option<String>,
    },

    #[error("invalid schema: {0}")]
    InvalidSchema(String),

    #[error("{context}: {cause}")]
    Database {
        context: String,
        /// The classified driver error (its text is part of this error's message).
        cause: Box<dyn DestinationError>,
    },

    #[error("{context}: {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Data that cannot be loaded as it is (a value a column cannot take, a malformed
    /// file); the message names the file, column and row where they are known.
    #[error("{0}")]
    Data(String),

    /// A failure that running the same step again may cure (a lock lost with its
    /// connection, say), found by dlt-rs rather than reported by a driver.
    #[error("{0}")]
    Transient(String),

    #[error("internal error (a bug in dlt-rs, please report it): {0}")]
    Internal(String),

    /// `source` failed on one row of a job file: `row` is its 0-based index among the
    /// file's rows (the pipeline maps it back to the item it came from). The message is the
    /// source's.
    #[error("{source}")]
    AtRow { row: u64, source: Box<Error> },
}

impl Error {
    /// Transient errors may succeed when retried; everything else is terminal.
    pub fn retry(&self) -> Retry {
        match self {
            Error::Database { cause, .. } => cause.retry(),
            Error::AtRow { source, .. } => source.retry(),
            Error::Io { .. } | Error::Transient(_) => Retry::Transient,
            _ => Retry::Terminal,
        }
    }

    pub fn is_transient(&self) -> bool {
        self.retry() == Retry::Transient
    }

    /// Wraps a driver error with what was being done.
    pub fn database(context: impl Into<String>, source: impl DestinationError) -> Self {
        Error::Database {
            context: context.into(),
            cause: Box::new(source),
        }
    }

    pub fn io(context: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            context,
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
