//! All IO with PostgreSQL: connections, a small pool, and error classification by SQLSTATE.

use std::fmt;
use std::sync::Mutex;

use dest_core::{DestinationError, Error, Retry};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

/// A tokio-postgres error with the server's details, classified as transient or terminal.
#[derive(Debug)]
pub struct PgError(pub tokio_postgres::Error);

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_db_error() {
            Some(db) => {
                write!(f, "{} ({})", db.message(), db.code().code())?;
                if let Some(d) = db.detail() {
                    write!(f, "; detail: {d}")?;
                }
                if let Some(h) = db.hint() {
                    write!(f, "; hint: {h}")?;
                }
                if let (Some(t), Some(c)) = (db.table(), db.column()) {
                    write!(f, "; table `{t}`, column `{c}`")?;
                }
                if let Some(w) = db.where_() {
                    write!(f, "; where: {w}")?;
                }
                Ok(())
            }
            None => {
                // the driver's own text, plus the underlying cause (io errors, timeouts)
                write!(f, "{}", self.0)?;
                let mut source = std::error::Error::source(&self.0);
                while let Some(s) = source {
                    write!(f, ": {s}")?;
                    source = s.source();
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for PgError {}

impl DestinationError for PgError {
    fn retry(&self) -> Retry {
        classify(
            self.0.code(),
            self.0.is_closed() || self.0.as_db_error().is_none(),
        )
    }
    fn sqlstate(&self) -> Option<&str> {
        self.0.code().map(SqlState::code)
    }
}

/// Transient: connection problems, server shutting down or starting, serialization
/// failures, deadlocks, lock timeouts, too many connections, out of resources. A failure
/// without a server error (socket closed, timeout) is transient too. Everything else
/// (data, constraint, privilege, syntax errors...) is terminal.
pub(crate) fn classify(code: Option<&SqlState>, no_server_error: bool) -> Retry {
    let Some(code) = code else {
        return if no_server_error {
            Retry::Transient
        } else {
            Retry::Terminal
        };
    };
    let c = code.code();
    let transient = c.starts_with("08") // connection exception
        || c.starts_with("53") // insufficient resources (incl. too many connections)
        || c.starts_with("57P") // admin shutdown, crash shutdown, cannot connect now
        || c == SqlState::T_R_SERIALIZATION_FAILURE.code()
        || c == SqlState::T_R_DEADLOCK_DETECTED.code()
        || c == SqlState::LOCK_NOT_AVAILABLE.code()
        || c == SqlState::QUERY_CANCELED.code();
    if transient {
        Retry::Transient
    } else {
        Retry::Terminal
    }
}

/// Wraps a driver error with what was being done.
pub(crate) fn db_err(context: impl Into<String>, e: tokio_postgres::Error) -> Error {
    Error::database(context, PgError(e))
}

/// Opens one connection (with TLS when `tls` is given) and spawns its IO task.
pub(crate) async fn connect(
    config: &tokio_postgres::Config,
    tls: Option<&MakeRustlsConnect>,
    target: &str,
) -> Result<Client, Error> {
    let ctx = || format!("connecting to PostgreSQL at {target}");
    let client = match tls {
        Some(tls) => {
            let (client, connection) = config
                .connect(tls.clone())
                .await
                .map_err(|e| db_err(ctx(), e))?;
            spawn_connection(connection);
            client
        }
        None => {
            let (client, connection) = config.connect(NoTls).await.map_err(|e| db_err(ctx(), e))?;
            spawn_connection(connection);
            client
        }
    };
    Ok(client)
}

/// Drives a connection's IO until it closes.
fn spawn_connection<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %PgError(e), "PostgreSQL connection closed with an error");
        }
    });
}

/// Idle connections to reuse, so concurrent jobs each get their own.
pub(crate) struct Pool {
    config: tokio_postgres::Config,
    tls: Option<MakeRustlsConnect>,
    /// `host:port/database` for messages (never the password).
    target: String,
    idle: Mutex<Vec<Client>>,
}

impl Pool {
    pub(crate) fn new(
        config: tokio_postgres::Config,
        tls: Option<MakeRustlsConnect>,
        target: String,
    ) -> Self {
        Pool {
            config,
            tls,
            target,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle connection, or a new one.
    pub(crate) async fn get(&self) -> Result<Client, Error> {
        let reused = self.idle.lock().ok().and_then(|mut v| v.pop());
        match reused {
            Some(c) if !c.is_closed() => Ok(c),
            _ => connect(&self.config, self.tls.as_ref(), &self.target).await,
        }
    }

    /// Returns a healthy connection for reuse.
    pub(crate) fn put(&self, client: Client) {
        if client.is_closed() {
            return;
        }
        if let Ok(mut v) = self.idle.lock() {
            v.push(client);
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_by_sqlstate() {
        let cases = [
            (SqlState::CONNECTION_FAILURE, Retry::Transient),
            (SqlState::TOO_MANY_CONNECTIONS, Retry::Transient),
            (SqlState::ADMIN_SHUTDOWN, Retry::Transient),
            (SqlState::T_R_SERIALIZATION_FAILURE, Retry::Transient),
            (SqlState::T_R_DEADLOCK_DETECTED, Retry::Transient),
            (SqlState::STRING_DATA_RIGHT_TRUNCATION, Retry::Terminal),
            (SqlState::UNIQUE_VIOLATION, Retry::Terminal),
            (SqlState::INSUFFICIENT_PRIVILEGE, Retry::Terminal),
            (SqlState::UNDEFINED_TABLE, Retry::Terminal),
            (SqlState::INVALID_PASSWORD, Retry::Terminal),
            (SqlState::SYNTAX_ERROR, Retry::Terminal),
        ];
        for (code, want) in cases {
            assert_eq!(classify(Some(&code), false), want, "{}", code.code());
        }
        assert_eq!(classify(None, true), Retry::Transient);
    }
}
