//! dlt's `sql_database` source: the tables of a database as resources, one per table, with
//! their columns reflected into dlt hints as dlt's default reflection (`reflection_level =
//! "full"`) gives them, and their primary keys as the resources' primary keys.
//!
//! Sources today: PostgreSQL (`postgresql://` URLs, TLS as the destination's). Each table is
//! read in one statement (one snapshot), streamed: the server renders each row as a JSON
//! object and the rows go into the package as they arrive, so memory does not grow with the
//! table.
//!
//! Modules (private; the public items are re-exported below): `reflect` (database column
//! types → dlt column hints; pure) and `postgres` (the catalog queries, the read statement
//! and the row stream: the PostgreSQL source's SQL).

mod postgres;
mod reflect;

pub use postgres::SqlDatabase;
pub use reflect::{dlt_column, SqlColumn, SqlTable};

/// Errors of the `sql_database` source. Each names the database, table or column it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlSourceError {
    #[error("`{scheme}://` sources are not supported yet (supported: postgresql://)")]
    UnsupportedScheme { scheme: String },

    #[error("the source is not a database URL (expected e.g. postgresql://user@host:5432/db)")]
    NotAUrl,

    #[error(transparent)]
    Connection(#[from] dest_core::Error),

    #[error("{context}: {source}")]
    Database {
        context: String,
        #[source]
        source: tokio_postgres::Error,
    },

    #[error("schema `{schema}` has no table{} {}", if tables.len() == 1 { "" } else { "s" }, tables.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "))]
    UnknownTables { schema: String, tables: Vec<String> },

    #[error("table `{table}` has no column `{column}` (the incremental cursor)")]
    UnknownColumn { table: String, column: String },

    #[error("table `{table}`: column `{column}` has type `{db_type}`, which cannot be an incremental cursor (use a number, text, date, time or timestamp column)")]
    CursorType {
        table: String,
        column: String,
        db_type: String,
    },

    #[error("schema `{schema}` has no tables")]
    NoTables { schema: String },
}
