//! [`SqlSession`]: a [`LoadSession`] over one connection with one open transaction, which
//! loads a table chain's job files as the pipeline produces them (normalize and load
//! overlap). Dropping the session drops the connection inside its transaction, which
//! rolls it back.

use async_trait::async_trait;
use dest_core::{Error, LoadJob, LoadSession, LoadTarget, Prepared, Result, Schema};

use super::client::{db, SqlClient};
use super::driver::{Connection, Driver};

/// How long a session waits for a lock before it gives up (its table is then loaded by the
/// pipeline's load step). Sessions stay open until all of a package's sessions are done, so
/// two pipelines whose sessions wait for each other's tables (both creating `items` and
/// `items__kids`, say) would otherwise wait forever: the database sees no deadlock, since
/// the session holding the lock is idle, not waiting.
const LOCK_TIMEOUT_MS: u64 = 2000;

/// A [`LoadSession`] of a [`SqlClient`].
pub(crate) struct SqlSession<D: Driver> {
    client: SqlClient<D>,
    conn: D::Conn,
    ctx: String,
}

impl<D: Driver> SqlSession<D> {
    /// Takes a connection and begins the transaction.
    pub(crate) async fn open(client: SqlClient<D>) -> Result<Self> {
        let ctx = format!("loading into `{}`", client.dataset);
        let mut conn = client.driver.acquire().await?;
        client.begin(&mut conn, &ctx).await?;
        if let Some(sql) = client.driver.dialect().lock_timeout(LOCK_TIMEOUT_MS) {
            conn.batch(&sql).await.map_err(db(&ctx))?;
        }
        Ok(SqlSession { client, conn, ctx })
    }
}

impl<D: Driver> SqlClient<D> {
    /// A [`LoadSession`] on a connection of its own ([`LoadClient::session`]).
    ///
    /// [`LoadClient::session`]: dest_core::LoadClient::session
    pub(crate) async fn open_session(&self) -> Result<Box<dyn LoadSession>> {
        Ok(Box::new(SqlSession::open(self.clone()).await?))
    }
}

#[async_trait]
impl<D: Driver> LoadSession for SqlSession<D> {
    /// Creates `table` or adds its missing columns, inside the session's transaction.
    async fn prepare(
        &mut self,
        schema: &Schema,
        table: &str,
        target: LoadTarget,
    ) -> Result<Prepared> {
        let ds = self.client.dataset_of(target);
        let ctx = format!("creating or altering `{ds}`.`{table}`");
        let t = schema.table(table).ok_or_else(|| {
            Error::Internal(format!(
                "table `{table}` is not in schema `{}`",
                schema.name
            ))
        })?;
        let (_, prepared) = self
            .client
            .migrate(&mut self.conn, schema, &[t], target, &ctx)
            .await?;
        Ok(prepared)
    }

    async fn truncate(&mut self, tables: &[String], target: LoadTarget) -> Result<()> {
        let ds = self.client.dataset_of(target).to_string();
        self.client.truncate_in(&mut self.conn, &ds, tables).await
    }

    async fn load(&mut self, job: &LoadJob) -> Result<u64> {
        let rows = self.client.load_in(&mut self.conn, job).await?;
        self.client
            .record_jobs(&mut self.conn, &job.load_id, &[&job.key], &self.ctx)
            .await?;
        Ok(rows)
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let SqlSession { client, conn, ctx } = *self;
        client.commit(conn, &ctx).await
    }
}
