//! Follow-up jobs: moving a chain from staging into the dataset (replace and merge).
//!
//! A follow-up runs in one transaction: the statements of [`crate::merge_sql`] and a row
//! in the ledger `<staging>."_dlt_rs_follow_ups"` (load id, `<schema>.<root table>`). A follow-up whose
//! row is in the ledger is not run again, so calling it again after a crash (or twice)
//! changes nothing; a failing follow-up leaves the dataset as it was. The ledger lives in
//! the staging schema so the user's dataset gets no extra table.

use dest_core::{Error, FollowUp, FollowUpJob, Result};
use tokio_postgres::Transaction;

use crate::client::db_err;
use crate::load::PostgresClient;
use crate::merge_sql::{self, Schemas};
use crate::sql::{literal, qualified};

/// The first PostgreSQL version with MERGE (`server_version_num`).
const MERGE_MIN_VERSION: i32 = 150_000;

/// Longest statement excerpt in error messages, in characters.
const EXCERPT_CHARS: usize = 300;

/// Runs a follow-up in one transaction, at most once per load and chain.
pub(crate) async fn run(client: &PostgresClient, job: &FollowUpJob<'_>) -> Result<()> {
    let root = job
        .chain
        .first()
        .ok_or_else(|| Error::Internal("follow-up for an empty table chain".into()))?;
    let strategy = merge_sql::strategy_name(job.kind);
    let ctx = format!(
        "{strategy} follow-up of table chain `{}` (load {}) from `{}` into `{}`",
        root.name, job.load_id, client.staging, client.dataset
    );
    let schemas = Schemas {
        dataset: &client.dataset,
        staging: &client.staging,
    };
    // schema problems surface before anything touches the database
    let statements = merge_sql::follow_up_sql(job.kind, schemas, &job.chain, job.created_at)?;

    let mut conn = client.pool.get().await?;
    ensure_ledger(&conn, &client.staging, &ctx).await?;

    let tx = conn.transaction().await.map_err(|e| db_err(&ctx, e))?;
    // one follow-up of a chain at a time, so a concurrent duplicate sees the ledger row
    let lock_key = qualified(&client.staging, &root.name);
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock_key])
        .await
        .map_err(|e| db_err(&ctx, e))?;
    let key = job.ledger_key();
    let done = tx
        .query_opt(
            &merge_sql::ledger_lookup(&client.staging),
            &[&job.load_id, &key],
        )
        .await
        .map_err(|e| db_err(format!("{ctx}: reading the follow-up ledger"), e))?;
    if done.is_some() {
        tracing::info!(
            table = %root.name,
            load_id = job.load_id,
            "{strategy} follow-up already ran; skipped"
        );
        tx.commit().await.map_err(|e| db_err(&ctx, e))?;
        client.pool.put(conn);
        return Ok(());
    }
    if job.kind == FollowUp::Upsert {
        check_merge_support(&tx, &ctx).await?;
    }
    for stmt in &statements {
        tracing::debug!(sql = %stmt, "follow-up statement");
        tx.batch_execute(stmt)
            .await
            .map_err(|e| db_err(format!("{ctx}, running `{}`", excerpt(stmt)), e))?;
    }
    tx.execute(
        &merge_sql::ledger_record(&client.staging),
        &[&job.load_id, &key],
    )
    .await
    .map_err(|e| db_err(format!("{ctx}: recording it in the follow-up ledger"), e))?;
    // staging was ours throughout: nobody else emptied or filled it
    client
        .staging_lock
        .verify(&tx, &client.staging, &ctx)
        .await?;
    tx.commit().await.map_err(|e| db_err(&ctx, e))?;
    client.pool.put(conn);
    Ok(())
}

/// Creates the ledger if missing, in its own transaction (serialized, since concurrent
/// `CREATE TABLE IF NOT EXISTS` can still collide in the catalog).
async fn ensure_ledger(conn: &tokio_postgres::Client, staging: &str, ctx: &str) -> Result<()> {
    let lock = literal(&qualified(staging, merge_sql::LEDGER_TABLE))
        .map_err(|e| Error::Config(format!("staging schema name `{staging}`: {e}")))?;
    let sql = format!(
        "BEGIN; SELECT pg_advisory_xact_lock(hashtext({lock})); {}; COMMIT",
        merge_sql::ledger_ddl(staging)
    );
    conn.batch_execute(&sql)
        .await
        .map_err(|e| db_err(format!("{ctx}: creating the follow-up ledger"), e))
}

/// MERGE needs PostgreSQL 15.
async fn check_merge_support(tx: &Transaction<'_>, ctx: &str) -> Result<()> {
    let row = tx
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(|e| db_err(format!("{ctx}: reading the server version"), e))?;
    let version: i32 = row
        .try_get(0)
        .map_err(|e| db_err(format!("{ctx}: reading the server version"), e))?;
    if version < MERGE_MIN_VERSION {
        return Err(Error::Unsupported {
            destination: "postgres".into(),
            what: format!(
                "merge strategy `upsert` on PostgreSQL {}.{} (server_version_num {version})",
                version / 10_000,
                version % 10_000
            ),
            hint: Some(
                "upsert uses MERGE, which needs PostgreSQL 15 or later; use the delete-insert merge strategy".into(),
            ),
        });
    }
    Ok(())
}

/// The start of a statement, for messages.
fn excerpt(stmt: &str) -> String {
    let mut out: String = stmt.chars().take(EXCERPT_CHARS).collect();
    if out.len() < stmt.len() {
        out.push_str("...");
    }
    out
}
