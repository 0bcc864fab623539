//! The SQL destination engine of dlt-rs: the load protocol every SQL destination shares,
//! and its SQL text, parameterised by a [`Dialect`].
//!
//! * [`SqlClient`]: the load protocol itself, written once for every SQL database over a
//!   [`Driver`] the destination implements (connections that run SQL text and load one job
//!   file): migrations by version hash, the job and follow-up ledgers, atomic chains,
//!   follow-ups, `_dlt_loads`, stored schema and state, drops, counts, load sessions;
//! * [`create_table`] / [`add_columns`]: DDL from dlt's schema, `unique` hints as UNIQUE
//!   constraints;
//! * [`system`]: the statements on dlt's system tables (`_dlt_version`, `_dlt_loads`,
//!   `_dlt_pipeline_state`; their DDL is [`create_table`] of [`dest_core::version_table`] and
//!   friends), the job ledger and the follow-up ledger;
//! * [`merge`]: the follow-ups that move a table chain from staging into the dataset:
//!   replace (`insert-from-staging`, `staging-optimized`) and merge (`delete-insert` with
//!   `primary_key` / `merge_key` / `hard_delete` / `dedup_sort`, `upsert`, `insert-only`, `scd2`);
//! * [`SqlSettings`]: the settings every SQL destination reads.
//!
//! The statements are pure text; the engine does its IO through [`Driver`] and depends on
//! no database driver (the same invariant as `dest-core`). What only one database has stays
//! in its destination crate (PostgreSQL's `COPY`, `unnest` bound inserts and `E'...'`
//! literals; SQLite's attached files), in its dialect module.
//!
//! Every identifier goes through [`Dialect::quote_ident`] and every string literal through
//! [`Dialect::string_literal`]; values of the engine's own statements are bound parameters.

mod ddl;
mod engine;
pub mod merge;
mod settings;
pub mod system;

use std::fmt;

use chrono::{DateTime, Utc};
use dest_core::Column;

pub use ddl::{add_columns, column_def, create_table};
pub use engine::{Connection, DbError, Driver, Param, Row, SqlClient, SqlValue};
pub use merge::{follow_up_sql, strategy_name};
pub use settings::SqlSettings;

/// What differs between the SQL of two databases, as far as the shared statements go.
///
/// The defaults are ANSI SQL as PostgreSQL and SQLite both read it; a dialect overrides
/// what its database does differently.
pub trait Dialect: fmt::Debug + Send + Sync {
    /// The destination's registry name, for messages (`postgres`, `sqlite`).
    fn destination(&self) -> &'static str;

    /// The longest identifier, in bytes (PostgreSQL: 63). Names the shared SQL derives
    /// from table names (temporary tables) are cut to fit.
    fn max_identifier_length(&self) -> usize;

    /// Quotes an identifier: wrapped in `"`, inner `"` doubled.
    fn quote_ident(&self, name: &str) -> String {
        quote_ident(name)
    }

    /// The name of `table` in `dataset`: `"dataset"."table"` (a PostgreSQL schema, an
    /// attached SQLite database).
    fn qualified(&self, dataset: &str, table: &str) -> String {
        format!("{}.{}", self.quote_ident(dataset), self.quote_ident(table))
    }

    /// The database's name in messages (`PostgreSQL`).
    fn database_name(&self) -> &'static str;

    /// The most columns a table may have.
    fn max_columns(&self) -> usize;

    /// Begins a transaction (`BEGIN`; SQLite: `BEGIN IMMEDIATE`, the write lock first).
    fn begin(&self) -> &'static str {
        "BEGIN"
    }

    /// A lock held until the end of the transaction on the text of parameter 1 (a dataset,
    /// a chain), so two loaders migrate a dataset or run a follow-up one after the other.
    /// `None` where write transactions serialize anyway (SQLite).
    fn xact_lock(&self) -> Option<&'static str> {
        None
    }

    /// The statement that makes the open transaction give up waiting for a lock after
    /// `ms` milliseconds (load sessions), where the database has one.
    fn lock_timeout(&self, _ms: u64) -> Option<String> {
        None
    }

    /// Creates dataset `name` if it is missing; `None` where datasets come with the
    /// connection (SQLite's attached files).
    fn create_dataset(&self, _name: &str) -> Option<String> {
        None
    }

    /// A query with a row when the dataset named by parameter 1 exists (so
    /// [`create_dataset`](Dialect::create_dataset) runs only when needed).
    fn dataset_exists(&self) -> Option<&'static str> {
        None
    }

    /// Reads a timestamp the database returns as text (SQLite); `None` when `text` is not
    /// one.
    fn parse_timestamp(&self, _text: &str) -> Option<DateTime<Utc>> {
        None
    }

    /// The column type of a complete column (dlt's type mapping of the database); the
    /// error says why a column cannot be created.
    fn column_type(&self, column: &Column) -> Result<String, SqlTextError>;

    /// A string literal; the error says why the text cannot be one (PostgreSQL: a NUL).
    fn string_literal(&self, s: &str) -> Result<String, SqlTextError>;

    /// A UTC timestamp as a literal comparable with the database's stored timestamps
    /// (the validity boundary of scd2), rounded to the microsecond.
    fn timestamp_literal(&self, ts: DateTime<Utc>) -> Result<String, SqlTextError>;

    /// Positional parameter `n` (from 1): `$1` (PostgreSQL), `?1` (SQLite).
    fn param(&self, n: usize) -> String;

    /// Parameter `n` where it must be typed as text because the database cannot infer it
    /// (PostgreSQL: `$1::varchar` when it is used in a select list and a condition).
    fn text_param(&self, n: usize) -> String {
        self.param(n)
    }

    /// The current time as an SQL expression of the ledger and system tables' timestamp
    /// columns (also valid as a column `DEFAULT`).
    fn now(&self) -> &'static str;

    /// The column type of the ledgers' timestamps (`committed_at`, `done_at`).
    fn ledger_timestamp_type(&self) -> &'static str;

    /// Empties a table (`TRUNCATE TABLE`; `DELETE FROM` where there is no TRUNCATE).
    fn truncate_table(&self, qualified: &str) -> String {
        format!("TRUNCATE TABLE {qualified}")
    }

    /// A temporary table named `name` (already cut to the identifier limit) that lives
    /// until the end of the follow-up's transaction.
    fn temp_table(&self, name: &str) -> TempTable;

    /// Whether the database has `MERGE INTO ... USING ... WHEN MATCHED ...` (upsert uses
    /// it; without it upsert runs as delete / update / insert over a temporary table).
    fn has_merge(&self) -> bool {
        false
    }

    /// `ALTER TABLE ... ADD COLUMN` of several columns in one statement; `false`: one
    /// statement per column, added as nullable, `unique` made a UNIQUE index (SQLite).
    fn add_columns_in_one_statement(&self) -> bool {
        true
    }

    /// The statements that move staging table `staging_qualified` into `dataset` as
    /// `dataset_qualified` (dropped first by the caller) and leave an empty copy in
    /// staging: replace / staging-optimized. `None`: the database cannot move a table
    /// between datasets, and the strategy is not supported.
    fn move_table(
        &self,
        _staging_qualified: &str,
        _dataset: &str,
        _dataset_qualified: &str,
    ) -> Option<Vec<String>> {
        None
    }
}

/// The integer width of a `bigint` column by dlt's rule on its `precision` (bits): up to
/// 16 a smallint, up to 32 an integer, else (and without a precision) a bigint; the error
/// names a column past 64 bits.
pub fn integer_bits(c: &Column) -> Result<u32, SqlTextError> {
    match c.precision {
        Some(p) if p <= 16 => Ok(16),
        Some(p) if p <= 32 => Ok(32),
        Some(p) if p <= 64 => Ok(64),
        Some(p) => Err(SqlTextError::Column {
            column: c.name.clone(),
            reason: format!("bigint precision {p} bits is above 64"),
        }),
        None => Ok(64),
    }
}

/// Why a column or a value cannot be written as SQL text of a dialect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlTextError {
    #[error("column `{column}` has no data type")]
    NoDataType { column: String },
    /// A column the database cannot create (a precision past its limit).
    #[error("column `{column}`: {reason}")]
    Column { column: String, reason: String },
    /// Text with a NUL character, which the database cannot hold (`what`: "PostgreSQL
    /// text cannot store").
    #[error("text contains a NUL character (\\u0000) at byte {at}, which {what}")]
    Nul { at: usize, what: &'static str },
}

/// A temporary table of a follow-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempTable {
    /// `CREATE ... TABLE <name> ...` without its `AS` query.
    pub create: String,
    /// The (qualified, quoted) name to select from.
    pub name: String,
    /// The statement that drops it at the end, when the transaction does not.
    pub drop: Option<String>,
}

/// The dataset and its staging dataset a follow-up moves between.
#[derive(Debug, Clone, Copy)]
pub struct Datasets<'a> {
    pub dataset: &'a str,
    pub staging: &'a str,
}

/// ANSI identifier quoting: wrapped in `"`, inner `"` doubled (PostgreSQL and SQLite).
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for ch in name.chars() {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    out.push('"');
    out
}

/// `name` cut to at most `max` bytes at a character boundary.
pub fn truncate_ident(name: &str, max: usize) -> &str {
    let mut end = name.len().min(max);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

#[cfg(test)]
pub(crate) mod test_dialect {
    //! A dialect for this crate's own tests: ANSI quoting, plain `'...'` literals, `?n`
    //! parameters, no MERGE, one column per ALTER (SQLite's shape, without SQLite).

    use super::*;

    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Ansi {
        pub merge: bool,
    }

    impl Dialect for Ansi {
        fn destination(&self) -> &'static str {
            "ansi"
        }
        fn max_identifier_length(&self) -> usize {
            20
        }
        fn database_name(&self) -> &'static str {
            "ANSI SQL"
        }
        fn max_columns(&self) -> usize {
            100
        }
        fn column_type(&self, c: &Column) -> Result<String, SqlTextError> {
            c.data_type
                .map(|t| t.as_str().to_uppercase())
                .ok_or_else(|| SqlTextError::NoDataType {
                    column: c.name.clone(),
                })
        }
        fn string_literal(&self, s: &str) -> Result<String, SqlTextError> {
            Ok(format!("'{}'", s.replace('\'', "''")))
        }
        fn timestamp_literal(&self, ts: DateTime<Utc>) -> Result<String, SqlTextError> {
            self.string_literal(&ts.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
        }
        fn param(&self, n: usize) -> String {
            format!("?{n}")
        }
        fn now(&self) -> &'static str {
            "CURRENT_TIMESTAMP"
        }
        fn ledger_timestamp_type(&self) -> &'static str {
            "TIMESTAMP"
        }
        fn truncate_table(&self, qualified: &str) -> String {
            format!("DELETE FROM {qualified}")
        }
        fn temp_table(&self, name: &str) -> TempTable {
            let name = self.qualified("temp", name);
            TempTable {
                create: format!("CREATE TABLE {name}"),
                drop: Some(format!("DROP TABLE {name}")),
                name,
            }
        }
        fn has_merge(&self) -> bool {
            self.merge
        }
        fn add_columns_in_one_statement(&self) -> bool {
            false
        }
    }

    #[test]
    fn quoting_and_truncation() {
        let d = Ansi { merge: false };
        assert_eq!(d.quote_ident(r#"we"ird"#), r#""we""ird""#);
        assert_eq!(d.qualified("ds", "t"), r#""ds"."t""#);
        assert_eq!(truncate_ident("abcé", 4), "abc");
        assert_eq!(truncate_ident("abc", 10), "abc");
    }
}
