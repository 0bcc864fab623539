//! Opening the main file and attaching the datasets; error classification.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use dest_core::{DestinationError, Error, Result, Retry};
use rusqlite::{Connection, ErrorCode, OpenFlags};

/// A rusqlite error, classified as transient or terminal.
#[derive(Debug)]
pub struct SqliteError(pub rusqlite::Error);

impl fmt::Display for SqliteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            rusqlite::Error::SqliteFailure(e, Some(msg)) => {
                write!(f, "{msg} ({:?}, extended code {})", e.code, e.extended_code)
            }
            other => write!(f, "{other}"),
        }
    }
}

impl std::error::Error for SqliteError {}

impl DestinationError for SqliteError {
    /// Transient: another connection holds a lock (past the busy timeout), IO errors, a
    /// full disk, out of memory. Everything else (constraints, SQL, types) is terminal.
    fn retry(&self) -> Retry {
        match self.0.sqlite_error_code() {
            Some(
                ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::OutOfMemory,
            ) => Retry::Transient,
            _ => Retry::Terminal,
        }
    }
    /// SQLite has no SQLSTATE.
    fn sqlstate(&self) -> Option<&str> {
        None
    }
}

/// Wraps a driver error with what was being done.
pub(crate) fn db_err(context: impl Into<String>, e: rusqlite::Error) -> Error {
    Error::database(context, SqliteError(e))
}

/// Opens `main` and attaches each `(name, file)` of `attach` (files are created when
/// missing). The attached files use a rollback journal (SQLite's default), which commits a
/// transaction across attached files atomically (WAL does not), so a job's rows in the
/// dataset and its record in the staging ledger commit together.
pub(crate) fn open(
    main: &Path,
    attach: &[(&str, &Path)],
    busy_timeout: Duration,
) -> Result<Connection> {
    let ctx = || format!("opening the SQLite database {}", main.display());
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(main, flags).map_err(|e| {
        let hint = match main.parent() {
            Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
                format!(" (folder {} does not exist)", dir.display())
            }
            _ => String::new(),
        };
        db_err(format!("{}{hint}", ctx()), e)
    })?;
    conn.busy_timeout(busy_timeout)
        .map_err(|e| db_err(ctx(), e))?;
    for (name, file) in attach {
        let path = file.to_str().ok_or_else(|| {
            Error::Config(format!(
                "the dataset file {} is not valid UTF-8",
                file.display()
            ))
        })?;
        conn.execute("ATTACH DATABASE ?1 AS ?2", (path, *name))
            .map_err(|e| {
                db_err(
                    format!("attaching {} as dataset `{name}`", file.display()),
                    e,
                )
            })?;
        let mode: String = conn
            .query_row(&crate::sql::rollback_journal(name), [], |r| r.get(0))
            .map_err(|e| db_err(format!("setting the journal mode of {}", file.display()), e))?;
        if !mode.eq_ignore_ascii_case("delete") {
            tracing::warn!(file = %file.display(), mode, "dataset file not in rollback journal mode");
        }
    }
    let main_mode: String = conn
        .query_row("PRAGMA main.journal_mode", [], |r| r.get(0))
        .map_err(|e| db_err(ctx(), e))?;
    if main_mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(
            file = %main.display(),
            "the main database is in WAL mode: SQLite then commits a transaction across \
             attached files per file, so a crash could separate a job's rows from its record"
        );
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("database is locked".into()),
        );
        assert_eq!(SqliteError(busy).retry(), Retry::Transient);
        let constraint = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
            Some("UNIQUE constraint failed: t.id".into()),
        );
        let e = SqliteError(constraint);
        assert_eq!(e.retry(), Retry::Terminal);
        assert!(
            e.to_string().starts_with("UNIQUE constraint failed: t.id"),
            "{e}"
        );
        assert_eq!(e.sqlstate(), None);
    }
}
