//! Load sessions: one connection and one open transaction that loads a table chain's job
//! files as the pipeline produces them, so normalize and load overlap.
//!
//! `tokio_postgres::Transaction` borrows its client, so the transaction lives in a task
//! that owns the connection; the session handle sends it commands. Dropping the handle
//! ends the task, which drops the transaction: PostgreSQL rolls it back.

use std::sync::Arc;

use async_trait::async_trait;
use dest_core::{Error, LoadJob, LoadSession, LoadTarget, Result, Schema};
use tokio::sync::{mpsc, oneshot};

use crate::client::db_err;
use crate::load::PostgresClient;
use crate::sql::qualified;

/// How long a session waits for a lock before it gives up (its table is then loaded by the
/// pipeline's load step). Sessions stay open until all of a package's sessions are done, so
/// two pipelines whose sessions wait for each other's tables (both creating `items` and
/// `items__kids`, say) would otherwise wait forever: PostgreSQL sees no deadlock, since the
/// session holding the lock is idle, not waiting.
const LOCK_TIMEOUT_MS: u64 = 2000;

enum Command {
    Prepare(Arc<Schema>, String, LoadTarget, oneshot::Sender<Result<()>>),
    Truncate(Vec<String>, LoadTarget, oneshot::Sender<Result<()>>),
    Load(Box<LoadJob>, oneshot::Sender<Result<u64>>),
    Commit(oneshot::Sender<Result<()>>),
}

/// A [`LoadSession`] on PostgreSQL.
pub(crate) struct PgSession {
    commands: mpsc::Sender<Command>,
}

impl PgSession {
    /// Takes a connection from the pool and begins the transaction.
    pub(crate) async fn open(client: PostgresClient) -> Result<Self> {
        let conn = client.pool.get().await?;
        let (commands, rx) = mpsc::channel(1);
        let (ready, began) = oneshot::channel();
        tokio::spawn(run(client, conn, rx, ready));
        began.await.map_err(|_| gone())??;
        Ok(PgSession { commands })
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Command) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(make(reply)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

fn gone() -> Error {
    Error::Internal("a load session ended unexpectedly".into())
}

#[async_trait]
impl LoadSession for PgSession {
    async fn prepare(&mut self, schema: &Schema, table: &str, target: LoadTarget) -> Result<()> {
        let schema = Arc::new(schema.clone());
        self.call(|r| Command::Prepare(schema, table.to_string(), target, r))
            .await
    }

    async fn truncate(&mut self, tables: &[String], target: LoadTarget) -> Result<()> {
        self.call(|r| Command::Truncate(tables.to_vec(), target, r))
            .await
    }

    async fn load(&mut self, job: &LoadJob) -> Result<u64> {
        self.call(|r| Command::Load(Box::new(job.clone()), r)).await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.call(Command::Commit).await
    }
}

/// The session's task: begins, runs commands in order, commits on `Commit`, rolls back
/// when the handle is dropped.
async fn run(
    client: PostgresClient,
    mut conn: tokio_postgres::Client,
    mut commands: mpsc::Receiver<Command>,
    ready: oneshot::Sender<Result<()>>,
) {
    let ctx = format!("loading into `{}`", client.dataset);
    let begun = async {
        let tx = conn.transaction().await?;
        tx.batch_execute(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'"))
            .await?;
        Ok::<_, tokio_postgres::Error>(tx)
    };
    let tx = match begun.await {
        Ok(tx) => {
            let _ = ready.send(Ok(()));
            tx
        }
        Err(e) => {
            let _ = ready.send(Err(db_err(&ctx, e)));
            return;
        }
    };
    let commit = loop {
        let Some(command) = commands.recv().await else {
            break None;
        };
        match command {
            Command::Prepare(schema, table, target, reply) => {
                let _ = reply.send(prepare(&client, &tx, &schema, &table, target).await);
            }
            Command::Truncate(tables, target, reply) => {
                let ds = client.schema_of(target);
                let sql = tables
                    .iter()
                    .map(|t| format!("TRUNCATE TABLE {}", qualified(ds, t)))
                    .collect::<Vec<_>>()
                    .join(";\n");
                let r = tx
                    .batch_execute(&sql)
                    .await
                    .map_err(|e| db_err(format!("truncating tables in `{ds}`"), e));
                let _ = reply.send(r);
            }
            Command::Load(job, reply) => {
                let loaded = async {
                    let rows = client.load_file(&tx, &job).await?;
                    let keys = [job.key.as_str()];
                    crate::ledger::record(&tx, &client.staging, &job.load_id, &keys, &ctx).await?;
                    Ok(rows)
                };
                let _ = reply.send(loaded.await);
            }
            Command::Commit(reply) => break Some(reply),
        }
    };
    // without `Commit` the transaction is dropped here, which rolls it back
    let Some(reply) = commit else { return };
    let result = tx.commit().await.map_err(|e| db_err(&ctx, e));
    if result.is_ok() {
        client.pool.put(conn);
    }
    let _ = reply.send(result);
}

/// Creates `table` or adds its missing columns, inside the session's transaction.
async fn prepare(
    client: &PostgresClient,
    tx: &tokio_postgres::Transaction<'_>,
    schema: &Schema,
    table: &str,
    target: LoadTarget,
) -> Result<()> {
    let ds = client.schema_of(target);
    let ctx = format!("creating or altering `{ds}`.`{table}`");
    let t = schema.table(table).ok_or_else(|| {
        Error::Internal(format!(
            "table `{table}` is not in schema `{}`",
            schema.name
        ))
    })?;
    client.migrate(tx, schema, &[t], target, &ctx).await?;
    Ok(())
}
