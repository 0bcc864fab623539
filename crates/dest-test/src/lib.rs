//! The destination conformance suite of dlt-rs: one set of cases every destination runs.
//!
//! Each case drives real pipelines through the public [`pipeline`] API (extract, normalize,
//! load into the destination under test) and checks what the destination holds through a
//! small [`Harness`] the destination's test implements: the registry name, credentials, a
//! way to start from a clean dataset, SQL queries answered as text, identifier quoting and
//! the columns of a table. This crate depends on no database driver; the harness does the
//! querying.
//!
//! The cases ([`cases`]): every write disposition and strategy (`append`; `replace` with
//! each strategy; `merge` with `delete-insert` and its `primary_key`, `merge_key`,
//! `hard_delete` and `dedup_sort` hints, `upsert`, `scd2`), strategies a destination's
//! [`Capabilities`](dest_core::Capabilities) do not list answered by the clear capability
//! error instead, schema evolution, variant columns, child tables, unicode and reserved
//! names, column and table names at the destination's length limit, re-running a load
//! (and finishing a package a failed run left), an empty load, the `_dlt_*` system tables
//! (one `_dlt_loads` row with status 0 per load, checked in every case) and every file
//! format.
//! Where dlt defines the outcome the expected values are dlt's (the vectors of
//! `dlt-behaviour.md` §12: row hashes, key hashes, nested ids, shortened names).
//!
//! # Adopting the suite
//!
//! Add `dest-test.workspace = true` to the destination crate's `[dev-dependencies]` and
//! write one test file. [`suite!`] expands to one `#[tokio::test]` per case (module
//! `dest_test_suite`), so each case passes or fails on its own; its argument is evaluated
//! (it may `.await`) at the start of every case. PostgreSQL
//! (`crates/dest-postgres/tests/it/suite.rs`) is the reference. For SQLite (whose datasets
//! are database files next to the main one, attached under the dataset's name) this file
//! passes every case as written (`rusqlite` is dest-sqlite's own dependency, `tempfile`
//! already a dev-dependency; the only manifest line to add is `dest-test`):
//!
//! ```ignore
//! // crates/dest-sqlite/tests/it/suite.rs
//! #![allow(clippy::unwrap_used, clippy::expect_used)]
//!
//! use std::path::PathBuf;
//!
//! use dest_sqlite::SqliteCredentials;
//! use dest_test::{async_trait, Harness};
//! use rusqlite::types::ValueRef;
//!
//! use dest_sqlite as _; // registers `sqlite`
//!
//! /// A temporary folder with the main database file; datasets are files next to it.
//! struct Sqlite(tempfile::TempDir);
//!
//! impl Sqlite {
//!     fn db(&self) -> PathBuf {
//!         self.0.path().join("dlt.db")
//!     }
//! }
//!
//! #[async_trait]
//! impl Harness for Sqlite {
//!     fn destination(&self) -> &str {
//!         "sqlite"
//!     }
//!
//!     fn credentials(&self) -> String {
//!         self.db().display().to_string()
//!     }
//!
//!     fn unreachable_credentials(&self) -> Option<String> {
//!         Some("/nonexistent/folder/dlt.db".into())
//!     }
//!
//!     async fn fresh_dataset(&self, name: &str) -> String {
//!         name.to_string() // every case gets a new folder
//!     }
//!
//!     async fn query(&self, dataset: &str, sql: &str) -> Vec<Vec<Option<String>>> {
//!         let conn = rusqlite::Connection::open(self.db()).unwrap();
//!         let file = SqliteCredentials::parse(&self.credentials())
//!             .unwrap()
//!             .dataset_file(dataset);
//!         conn.execute("ATTACH DATABASE ?1 AS ?2", (file.to_str().unwrap(), dataset))
//!             .unwrap();
//!         let mut stmt = conn
//!             .prepare(sql)
//!             .unwrap_or_else(|e| panic!("{e}\n  sql: {sql}"));
//!         let n = stmt.column_count();
//!         let rows = stmt
//!             .query_map([], |r| {
//!                 (0..n)
//!                     .map(|i| {
//!                         Ok(match r.get_ref(i)? {
//!                             ValueRef::Null => None,
//!                             ValueRef::Integer(v) => Some(v.to_string()),
//!                             ValueRef::Real(v) => Some(v.to_string()),
//!                             ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
//!                             ValueRef::Blob(b) => Some(format!("{b:02x?}")),
//!                         })
//!                     })
//!                     .collect::<rusqlite::Result<Vec<_>>>()
//!             })
//!             .unwrap();
//!         rows.collect::<rusqlite::Result<_>>().unwrap()
//!     }
//!
//!     fn quote(&self, ident: &str) -> String {
//!         format!("\"{}\"", ident.replace('"', "\"\""))
//!     }
//!
//!     async fn columns(&self, dataset: &str, table: &str) -> Vec<(String, String)> {
//!         let sql = format!(
//!             "SELECT name, type FROM {}.pragma_table_info('{}')",
//!             self.quote(dataset),
//!             table.replace('\'', "''")
//!         );
//!         self.query(dataset, &sql)
//!             .await
//!             .into_iter()
//!             .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap_or_default()))
//!             .collect()
//!     }
//! }
//!
//! dest_test::suite!(Sqlite(tempfile::tempdir().unwrap()));
//! ```
//!
//! Run it with `cargo test -p dest-sqlite --test suite`; a single case with
//! `cargo test -p dest-sqlite --test suite -- merge_hard_delete`.
//!
//! # What the harness must answer
//!
//! [`Harness::query`] returns every value as text, the way the destination's
//! `CAST(x AS TEXT)` renders it, and SQL NULL as `None`. The cases only read integers, text
//! and counts as text; booleans, doubles and timestamps are compared in SQL (`CASE WHEN`,
//! `=`, `IS NULL`), so the same SQL works on PostgreSQL and SQLite. [`Harness::columns`]
//! lists a table's columns in table order (empty for a table that does not exist); the
//! type names are only compared with each other (a variant `v__v_text` has the type of the
//! table's other text columns), never with a fixed spelling.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step fails the case

pub mod cases;
mod ctx;
pub mod fixtures;
pub mod naming;

pub use async_trait::async_trait;
pub use ctx::Ctx;
/// Re-exported for [`suite!`]: the destination crate needs no tokio of its own.
pub use tokio;

/// What the suite needs from a destination's test: the destination's name and
/// credentials, a clean dataset, and answers to SQL queries.
#[async_trait]
pub trait Harness: Send + Sync {
    /// The registry name the pipeline is built with (`postgres`, `sqlite`).
    fn destination(&self) -> &str;

    /// What `Pipeline::builder().credentials()` takes for this destination.
    fn credentials(&self) -> String;

    /// Credentials that are well-formed but fail to connect (a port nobody listens on),
    /// so a run fails at loading and leaves its package pending. `None` skips that part
    /// of [`cases::pending_package`].
    fn unreachable_credentials(&self) -> Option<String> {
        None
    }

    /// Removes whatever an earlier run left of dataset `name` (and of `name_staging`) and
    /// returns the dataset name to load into (normally `name` itself). `name` is at most
    /// 55 bytes of `[a-z0-9_]`.
    async fn fresh_dataset(&self, name: &str) -> String;

    /// Runs `sql` (which names its tables with [`Harness::table`]) and returns its rows,
    /// every value as text (`None` for NULL). Panics when the query fails, with the SQL.
    async fn query(&self, dataset: &str, sql: &str) -> Vec<Vec<Option<String>>>;

    /// `ident` quoted as an identifier in the destination's SQL.
    fn quote(&self, ident: &str) -> String;

    /// The SQL name of `table` in `dataset`; by default `"dataset"."table"`.
    fn table(&self, dataset: &str, table: &str) -> String {
        format!("{}.{}", self.quote(dataset), self.quote(table))
    }

    /// The columns of `table` in `dataset`, in table order, as (name, type); empty when
    /// the table does not exist.
    async fn columns(&self, dataset: &str, table: &str) -> Vec<(String, String)>;
}

/// Every case of the suite, in the order [`run_all`] runs them.
pub const CASES: &[&str] = &[
    "append",
    "replace_truncate_and_insert",
    "replace_insert_from_staging",
    "replace_staging_optimized",
    "merge_delete_insert",
    "merge_dedup_sort",
    "merge_hard_delete",
    "merge_key",
    "merge_without_keys",
    "upsert",
    "scd2",
    "schema_evolution",
    "variant_columns",
    "child_tables",
    "unicode_and_reserved_names",
    "identifiers_at_length_limit",
    "table_names_at_length_limit",
    "rerun",
    "pending_package",
    "empty_load",
    "system_tables",
    "file_formats",
];

/// Runs every case one after the other (a failure panics naming the case). Prefer
/// [`suite!`], which reports each case as its own test.
pub async fn run_all(h: &dyn Harness) {
    for case in CASES {
        eprintln!("dest-test: {case}");
        cases::run(h, case).await;
    }
}

/// One `#[tokio::test]` per case of the suite, in a module `dest_test_suite`, each running
/// the case against the harness the expression gives (evaluated in every test; it may
/// `.await`). The calling crate must call this crate `dest_test`.
///
/// ```ignore
/// dest_test::suite!(Pg(test_support::connect().await));
/// ```
#[macro_export]
macro_rules! suite {
    ($harness:expr) => {
        $crate::__suite_cases! { $harness;
            append,
            replace_truncate_and_insert,
            replace_insert_from_staging,
            replace_staging_optimized,
            merge_delete_insert,
            merge_dedup_sort,
            merge_hard_delete,
            merge_key,
            merge_without_keys,
            upsert,
            scd2,
            schema_evolution,
            variant_columns,
            child_tables,
            unicode_and_reserved_names,
            identifiers_at_length_limit,
            table_names_at_length_limit,
            rerun,
            pending_package,
            empty_load,
            system_tables,
            file_formats,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __suite_cases {
    ($harness:expr; $($case:ident,)*) => {
        mod dest_test_suite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[$crate::tokio::test(crate = "::dest_test::tokio")]
                async fn $case() {
                    let harness = $harness;
                    $crate::cases::$case(&harness).await;
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    /// [`crate::CASES`], the macro's list and the functions of [`crate::cases`] agree.
    #[test]
    fn every_case_is_listed_once() {
        let src = include_str!("lib.rs");
        let cases_src = include_str!("cases.rs");
        let mut seen = std::collections::HashSet::new();
        for case in crate::CASES {
            assert!(seen.insert(*case), "{case} listed twice");
            assert!(
                src.contains(&format!("            {case},\n")),
                "{case} missing from suite!"
            );
            assert!(
                cases_src.contains(&format!("pub async fn {case}(h: &dyn Harness)")),
                "{case} has no function"
            );
            assert!(
                cases_src.contains(&format!("\"{case}\" => {case}(h).await")),
                "{case} missing from cases::run"
            );
        }
        assert_eq!(
            cases_src.matches("pub async fn ").count(),
            crate::CASES.len() + 1,
            "a case function is not listed in CASES"
        );
    }
}
