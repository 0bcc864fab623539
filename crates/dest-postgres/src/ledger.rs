//! The job ledger: which job files of a package have committed.
//!
//! A load job writes its key (`<table>.<file id>`) into `<staging>."_dlt_rs_jobs"` in the
//! same transaction as its rows, so the record and the rows commit together or not at all.
//! After a crash between a commit and the pipeline's own bookkeeping (the job file's move
//! to `completed_jobs`), the pipeline asks which jobs committed instead of loading them a
//! second time (dlt's gap: it re-runs such a job and duplicates its rows). The ledger
//! lives in the staging schema, so the user's dataset gets no extra table; a package's
//! rows are removed once the package is complete. The table and its queries are
//! `dest-sql`'s ([`dest_sql::system`]); recording several keys at once with `unnest` is
//! PostgreSQL's own.

use dest_core::Result;
use tokio_postgres::error::SqlState;
use tokio_postgres::Transaction;

use dest_sql::system::{self, JOBS_TABLE};

use crate::client::db_err;
use crate::sql::{qualified, PG};

/// Creates the ledger (in an initializing transaction).
pub(crate) fn ddl(staging: &str) -> String {
    system::jobs_ddl(&PG, staging)
}

/// Records that `keys` of `load_id` are committing with `tx`. A key already there (a staged
/// job loaded again after staging was emptied) stays as it is.
pub(crate) async fn record(
    tx: &Transaction<'_>,
    staging: &str,
    load_id: &str,
    keys: &[&str],
    ctx: &str,
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO {} (\"load_id\", \"job\") SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
        qualified(staging, JOBS_TABLE)
    );
    tx.execute(&sql, &[&load_id, &keys])
        .await
        .map_err(|e| db_err(format!("{ctx}: recording the job in the ledger"), e))?;
    Ok(())
}

/// The keys of `load_id`'s jobs that committed; none when the ledger does not exist yet.
pub(crate) async fn committed(
    conn: &tokio_postgres::Client,
    staging: &str,
    load_id: &str,
) -> Result<Vec<String>> {
    let sql = system::jobs_committed(&PG, staging);
    let ctx = "reading the job ledger";
    match conn.query(&sql, &[&load_id]).await {
        Ok(rows) => rows
            .iter()
            .map(|r| r.try_get(0).map_err(|e| db_err(ctx, e)))
            .collect(),
        Err(e) if missing(&e) => Ok(Vec::new()),
        Err(e) => Err(db_err(ctx, e)),
    }
}

/// Removes the rows of a completed package.
pub(crate) async fn forget(
    conn: &tokio_postgres::Client,
    staging: &str,
    load_id: &str,
) -> Result<()> {
    let sql = system::jobs_forget(&PG, staging);
    match conn.execute(&sql, &[&load_id]).await {
        Ok(_) => Ok(()),
        Err(e) if missing(&e) => Ok(()),
        Err(e) => Err(db_err("cleaning the job ledger", e)),
    }
}

fn missing(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::UNDEFINED_TABLE || *c == SqlState::INVALID_SCHEMA_NAME
    )
}
