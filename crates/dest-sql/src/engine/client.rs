//! [`SqlClient`]: the one [`LoadClient`] of every SQL destination, over a [`Driver`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dest_core::{
    DatasetRef, Error, FollowUp, FollowUpJob, JobOutcome, LoadClient, LoadJob, LoadSession,
    LoadTarget, Prepared, QueryRows, ReadRequest, ReplaceStrategy, Result, RowCursor, Schema,
    StagingLock, StoredSchema, StoredState, TableDisposition, TableSchema, ENGINE_VERSION,
    LOADS_TABLE, STATE_TABLE, VERSION_TABLE,
};

use super::driver::{Connection, DbError, Driver, Param, Row, SqlValue};
use crate::system::{self, JOBS_TABLE};
use crate::{ddl, merge, Datasets, Dialect};

/// How often a migration that lost a race for a table runs again.
const MIGRATION_ATTEMPTS: usize = 3;

/// Wraps a driver error with what was being done.
pub(crate) fn db(context: impl Into<String>) -> impl FnOnce(DbError) -> Error {
    let context = context.into();
    move |cause| Error::Database { context, cause }
}

/// A connected dataset and its staging dataset on a SQL database: schema migration by
/// version hash, job files, follow-ups, dlt's system tables and dlt-rs's ledgers. Clones
/// share the driver.
#[derive(Debug)]
pub struct SqlClient<D: Driver> {
    pub(crate) driver: Arc<D>,
    pub(crate) dataset: String,
    pub(crate) staging: String,
    /// Whether `unique` hints become UNIQUE constraints.
    pub(crate) create_indexes: bool,
}

impl<D: Driver> Clone for SqlClient<D> {
    fn clone(&self) -> Self {
        SqlClient {
            driver: self.driver.clone(),
            dataset: self.dataset.clone(),
            staging: self.staging.clone(),
            create_indexes: self.create_indexes,
        }
    }
}

impl<D: Driver> SqlClient<D> {
    pub fn new(driver: Arc<D>, dataset: &DatasetRef, create_indexes: bool) -> Self {
        SqlClient {
            driver,
            dataset: dataset.name.clone(),
            staging: dataset.staging.clone(),
            create_indexes,
        }
    }

    fn d(&self) -> &dyn Dialect {
        self.driver.dialect()
    }

    pub(crate) fn dataset_of(&self, target: LoadTarget) -> &str {
        match target {
            LoadTarget::Dataset => &self.dataset,
            LoadTarget::Staging => &self.staging,
        }
    }

    /// Begins a transaction on `conn`.
    pub(crate) async fn begin(&self, conn: &mut D::Conn, ctx: &str) -> Result<()> {
        conn.batch(self.d().begin()).await.map_err(db(ctx))
    }

    /// Commits and gives the connection back.
    pub(crate) async fn commit(&self, mut conn: D::Conn, ctx: &str) -> Result<()> {
        conn.batch("COMMIT").await.map_err(db(ctx))?;
        self.driver.release(conn);
        Ok(())
    }

    /// Takes the dialect's transaction lock on `name` (one migration of a dataset, one
    /// follow-up of a chain at a time); nothing where transactions serialize anyway.
    async fn lock(&self, conn: &mut D::Conn, name: &str, ctx: &str) -> Result<()> {
        if let Some(sql) = self.d().xact_lock() {
            conn.execute(sql, &[Param::Text(name)])
                .await
                .map_err(db(ctx))?;
        }
        Ok(())
    }

    /// Takes the transaction locks of the dataset and of staging, in name order (two
    /// loaders that take both never wait for each other crosswise).
    async fn lock_datasets(&self, conn: &mut D::Conn, ctx: &str) -> Result<()> {
        let mut names = [self.dataset.as_str(), self.staging.as_str()];
        names.sort_unstable();
        for name in names {
            self.lock(conn, name, ctx).await?;
        }
        Ok(())
    }

    /// Whether `table` exists in `dataset`.
    async fn exists(
        &self,
        conn: &mut D::Conn,
        dataset: &str,
        table: &str,
        ctx: &str,
    ) -> Result<bool> {
        let found = conn
            .existing_columns(dataset, &[table])
            .await
            .map_err(db(ctx))?;
        Ok(found.contains_key(table))
    }

    /// Whether `table` gets UNIQUE constraints for its `unique` hints. In staging only the
    /// tables that `staging-optimized` swaps into the dataset do: other staging tables are
    /// emptied at every attempt and need none, and without them an upsert batch with a
    /// repeated key is deduplicated by the follow-up instead of failing (as it does in dlt).
    fn indexes_for(&self, schema: &Schema, table: &TableSchema, target: LoadTarget) -> bool {
        self.create_indexes
            && match target {
                LoadTarget::Dataset => true,
                LoadTarget::Staging => {
                    schema
                        .table(schema.root_of(&table.name))
                        .is_some_and(|root| {
                            root.disposition
                                == TableDisposition::Replace(ReplaceStrategy::StagingOptimized)
                        })
                }
            }
    }

    /// Creates `tables` in `target` or adds their missing columns, inside the open
    /// transaction of `conn`; returns the statements run and whether every table existed.
    pub(crate) async fn migrate(
        &self,
        conn: &mut D::Conn,
        schema: &Schema,
        tables: &[&TableSchema],
        target: LoadTarget,
        ctx: &str,
    ) -> Result<(Vec<String>, Prepared)> {
        let ds = self.dataset_of(target);
        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        let existing = conn.existing_columns(ds, &names).await.map_err(db(ctx))?;
        let statements = self.migration_sql(ds, schema, tables, &existing, target)?;
        for stmt in &statements {
            conn.batch(stmt)
                .await
                .map_err(db(format!("{ctx}, running `{}`", excerpt(stmt))))?;
        }
        let prepared = match names.iter().all(|n| existing.contains_key(*n)) {
            true => Prepared::Existed,
            false => Prepared::Created,
        };
        Ok((statements, prepared))
    }

    fn migration_sql(
        &self,
        ds: &str,
        schema: &Schema,
        tables: &[&TableSchema],
        existing: &HashMap<String, HashSet<String>>,
        target: LoadTarget,
    ) -> Result<Vec<String>> {
        let d = self.d();
        let mut sql = Vec::new();
        for t in tables {
            let columns = t.complete_columns().count();
            if columns == 0 {
                continue;
            }
            if columns > d.max_columns() {
                return Err(Error::InvalidSchema(format!(
                    "table `{}` would have {columns} columns; {} allows at most {} per table \
                     (nest the data with `max_table_nesting`, or load wide objects as one \
                     `json` column with a column hint)",
                    t.name,
                    d.database_name(),
                    d.max_columns()
                )));
            }
            let indexes = self.indexes_for(schema, t, target);
            let invalid = |e: crate::SqlTextError| {
                Error::InvalidSchema(format!("schema `{}`, table `{}`: {e}", schema.name, t.name))
            };
            match existing.get(&t.name) {
                None => sql.push(ddl::create_table(d, ds, t, indexes).map_err(invalid)?),
                Some(cols) => {
                    let missing: Vec<_> = t
                        .complete_columns()
                        .filter(|c| !cols.contains(&c.name))
                        .collect();
                    sql.extend(
                        ddl::add_columns(d, ds, &t.name, &missing, indexes).map_err(invalid)?,
                    );
                }
            }
        }
        Ok(sql)
    }

    /// Whether schema version `hash` is stored in `ds`.
    async fn version_stored(
        &self,
        conn: &mut D::Conn,
        ds: &str,
        hash: &str,
        ctx: &str,
    ) -> Result<bool> {
        let sql = system::version_stored(self.d(), ds);
        let rows = conn
            .query_if_exists(ds, &[VERSION_TABLE], &sql, &[Param::Text(hash)])
            .await
            .map_err(db(ctx))?;
        Ok(rows.is_some_and(|rows| !rows.is_empty()))
    }

    /// One attempt of [`LoadClient::update_schema`]'s transaction: the migration lock, the
    /// DDL, the version record.
    async fn migrate_locked(
        &self,
        conn: &mut D::Conn,
        schema: &Schema,
        wanted: &[&TableSchema],
        target: LoadTarget,
        ctx: &str,
    ) -> Result<Vec<String>> {
        let ds = self.dataset_of(target);
        self.begin(conn, ctx).await?;
        // one migration per dataset at a time
        self.lock(conn, ds, ctx).await?;
        let (statements, _) = self.migrate(conn, schema, wanted, target, ctx).await?;
        // another loader may have stored this version while we waited for the lock
        if !self
            .version_stored(conn, ds, &schema.version_hash, ctx)
            .await?
        {
            let json = serde_json::to_string(schema)
                .map_err(|e| Error::Internal(format!("serializing schema: {e}")))?;
            conn.execute(
                &system::version_insert(self.d(), ds),
                &[
                    Param::Int(schema.version),
                    Param::Int(ENGINE_VERSION),
                    Param::Text(&schema.name),
                    Param::Text(&schema.version_hash),
                    Param::Text(&json),
                ],
            )
            .await
            .map_err(db(ctx))?;
        }
        conn.batch("COMMIT").await.map_err(db(ctx))?;
        Ok(statements)
    }

    /// Truncates `tables` of `ds` inside the open transaction of `conn`.
    pub(crate) async fn truncate_in(
        &self,
        conn: &mut D::Conn,
        ds: &str,
        tables: &[String],
    ) -> Result<()> {
        let ctx = format!("emptying tables in `{ds}`");
        for t in tables {
            let sql = self.d().truncate_table(&self.d().qualified(ds, t));
            conn.batch(&sql).await.map_err(db(&ctx))?;
        }
        Ok(())
    }

    /// Loads `job` inside the open transaction of `conn`.
    pub(crate) async fn load_in(&self, conn: &mut D::Conn, job: &LoadJob) -> Result<u64> {
        let table = self.d().qualified(self.dataset_of(job.target), &job.table);
        conn.load_job(job, &table).await
    }

    /// Records `keys` of `load_id` in the job ledger inside the open transaction of `conn`.
    pub(crate) async fn record_jobs(
        &self,
        conn: &mut D::Conn,
        load_id: &str,
        keys: &[&str],
        ctx: &str,
    ) -> Result<()> {
        let sql = system::jobs_record(self.d(), &self.staging);
        for key in keys {
            conn.execute(&sql, &[Param::Text(load_id), Param::Text(key)])
                .await
                .map_err(db(format!("{ctx}: recording the job in the ledger")))?;
        }
        Ok(())
    }

    /// Runs `sql` if `tables` exist in `ds`; `None` when one does not.
    async fn query_if_exists(
        &self,
        ds: &str,
        tables: &[&str],
        sql: &str,
        params: &[Param<'_>],
        ctx: &str,
    ) -> Result<Option<Vec<Row>>> {
        let mut conn = self.driver.acquire().await?;
        let rows = conn
            .query_if_exists(ds, tables, sql, params)
            .await
            .map_err(db(ctx))?;
        self.driver.release(conn);
        Ok(rows)
    }

    /// The ledger statement `sql` of `load_id` when the ledger exists.
    async fn ledger(&self, sql: &str, load_id: &str, ctx: &str) -> Result<Vec<Row>> {
        Ok(self
            .query_if_exists(
                &self.staging,
                &[JOBS_TABLE],
                sql,
                &[Param::Text(load_id)],
                ctx,
            )
            .await?
            .unwrap_or_default())
    }
}

/// Whether `e` is DDL that lost a race with another transaction's DDL on the same table
/// (`relation already exists`, `column already exists`, or the catalog's unique index on
/// type names).
fn concurrent_ddl(e: &Error) -> bool {
    matches!(e, Error::Database { cause, .. }
        if matches!(cause.sqlstate(), Some("42P07" | "42701" | "23505")))
}

/// The start of a statement, for messages.
pub(crate) fn excerpt(stmt: &str) -> String {
    let mut out: String = stmt.chars().take(300).collect();
    if out.len() < stmt.len() {
        out.push_str("...");
    }
    out
}

fn int(row: &Row, i: usize, ctx: &str) -> Result<i64> {
    match row.get(i) {
        Some(SqlValue::Int(n)) => Ok(*n),
        other => Err(Error::Internal(format!(
            "{ctx}: column {i} is {other:?}, not an integer"
        ))),
    }
}

fn text(row: &Row, i: usize, ctx: &str) -> Result<String> {
    match row.get(i) {
        Some(SqlValue::Text(s)) => Ok(s.clone()),
        other => Err(Error::Internal(format!(
            "{ctx}: column {i} is {other:?}, not text"
        ))),
    }
}

fn timestamp(d: &dyn Dialect, row: &Row, i: usize, ctx: &str) -> Result<DateTime<Utc>> {
    match row.get(i) {
        Some(SqlValue::Timestamp(t)) => Ok(*t),
        Some(SqlValue::Text(s)) => d
            .parse_timestamp(s)
            .ok_or_else(|| Error::Internal(format!("{ctx}: `{s}` is not a timestamp"))),
        other => Err(Error::Internal(format!(
            "{ctx}: column {i} is {other:?}, not a timestamp"
        ))),
    }
}

#[async_trait]
impl<D: Driver> LoadClient for SqlClient<D> {
    /// Creates the dataset and the staging dataset where the database has to (it always
    /// needs staging: the job ledger lives there), and the two ledgers, whatever `staging`
    /// says.
    async fn initialize(&self, _staging: bool) -> Result<()> {
        let d = self.d();
        let ctx = format!("creating dataset `{}`", self.dataset);
        let mut conn = self.driver.acquire().await?;
        self.begin(&mut conn, &ctx).await?;
        // concurrent CREATE ... IF NOT EXISTS can still race on the catalog: take locks
        self.lock_datasets(&mut conn, &ctx).await?;
        for ds in [&self.dataset, &self.staging] {
            let Some(create) = d.create_dataset(ds) else {
                continue;
            };
            // only the missing ones: `CREATE SCHEMA IF NOT EXISTS` needs CREATE on the
            // database even when the schema exists, and a loader that owns schemas made
            // for it by an administrator need not have that privilege
            if let Some(exists) = d.dataset_exists() {
                let found = conn
                    .query(exists, &[Param::Text(ds)])
                    .await
                    .map_err(db(&ctx))?;
                if !found.is_empty() {
                    continue;
                }
            }
            if let Err(cause) = conn.batch(&create).await {
                let context = if cause.sqlstate() == Some("42501") {
                    format!(
                        "creating dataset `{ds}` (dlt-rs needs the dataset `{}` and its \
                         staging dataset `{}`, which keeps the job ledger; create the missing \
                         one for the loader, `CREATE SCHEMA \"{ds}\" AUTHORIZATION <loader>`, \
                         or grant it CREATE on the database)",
                        self.dataset, self.staging
                    )
                } else {
                    format!("creating dataset `{ds}`")
                };
                return Err(Error::Database { context, cause });
            }
        }
        for ledger in [
            system::jobs_ddl(d, &self.staging),
            system::follow_ups_ddl(d, &self.staging),
        ] {
            conn.batch(&ledger)
                .await
                .map_err(db(format!("creating the ledgers in `{}`", self.staging)))?;
        }
        self.commit(conn, &ctx).await
    }

    async fn update_schema(
        &self,
        schema: &Schema,
        tables: &[String],
        target: LoadTarget,
    ) -> Result<Vec<String>> {
        let ds = self.dataset_of(target);
        let ctx = format!("migrating schema `{}` in `{ds}`", schema.name);
        let mut conn = self.driver.acquire().await?;
        if self
            .version_stored(&mut conn, ds, &schema.version_hash, &ctx)
            .await?
        {
            self.driver.release(conn);
            return Ok(Vec::new());
        }
        let mut names: Vec<&str> = vec![VERSION_TABLE];
        if target == LoadTarget::Dataset {
            names.push(LOADS_TABLE);
        }
        for t in tables {
            if !names.contains(&t.as_str()) {
                names.push(t);
            }
        }
        let wanted = names
            .iter()
            .map(|n| {
                schema.table(n).ok_or_else(|| {
                    Error::Internal(format!(
                        "table `{n}` has a load job but is not in schema `{}`",
                        schema.name
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // another loader's load session creates or widens tables in its own transaction,
        // without the migration lock: our DDL then waits for its commit and fails on the
        // name it took; the migration run again sees its tables
        let mut attempt = 1;
        loop {
            match self
                .migrate_locked(&mut conn, schema, &wanted, target, &ctx)
                .await
            {
                Err(e) if attempt < MIGRATION_ATTEMPTS && concurrent_ddl(&e) => {
                    tracing::debug!(error = %e, "a table changed under the migration; again");
                    conn.batch("ROLLBACK").await.map_err(db(&ctx))?;
                    attempt += 1;
                }
                Err(e) => return Err(e),
                Ok(statements) => {
                    self.driver.release(conn);
                    return Ok(statements);
                }
            }
        }
    }

    async fn truncate(&self, tables: &[String], target: LoadTarget) -> Result<()> {
        if tables.is_empty() {
            return Ok(());
        }
        let ds = self.dataset_of(target);
        let ctx = format!("emptying tables in `{ds}`");
        let mut conn = self.driver.acquire().await?;
        self.begin(&mut conn, &ctx).await?;
        self.truncate_in(&mut conn, ds, tables).await?;
        self.commit(conn, &ctx).await
    }

    async fn run_job(&self, job: &LoadJob) -> Result<JobOutcome> {
        let ctx = format!("loading {}", job.file.display());
        let mut conn = self.driver.acquire().await?;
        self.begin(&mut conn, &ctx).await?;
        let rows = self.load_in(&mut conn, job).await?;
        self.record_jobs(&mut conn, &job.load_id, &[&job.key], &ctx)
            .await?;
        self.commit(conn, &ctx).await?;
        Ok(JobOutcome { rows })
    }

    async fn run_jobs_atomically(&self, truncate: &[String], jobs: &[LoadJob]) -> Result<u64> {
        let ctx = format!("replacing {} in `{}`", truncate.join(", "), self.dataset);
        let mut conn = self.driver.acquire().await?;
        self.begin(&mut conn, &ctx).await?;
        self.truncate_in(&mut conn, &self.dataset, truncate).await?;
        let mut rows = 0;
        for job in jobs {
            rows += self.load_in(&mut conn, job).await?;
        }
        if let Some(first) = jobs.first() {
            let keys: Vec<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
            self.record_jobs(&mut conn, &first.load_id, &keys, &ctx)
                .await?;
        }
        self.commit(conn, &ctx).await?;
        Ok(rows)
    }

    /// A follow-up in one transaction, at most once per load and chain: the statements of
    /// [`crate::follow_up_sql`] and a row in the follow-up ledger (load id,
    /// [`FollowUpJob::ledger_key`]). A follow-up whose row is in the ledger is not run
    /// again, so calling it again after a crash (or twice) changes nothing; a failing
    /// follow-up leaves the dataset as it was.
    async fn follow_up(&self, job: &FollowUpJob<'_>) -> Result<()> {
        let root = job
            .chain
            .first()
            .ok_or_else(|| Error::Internal("follow-up for an empty table chain".into()))?;
        let strategy = merge::strategy_name(job.kind);
        let ctx = format!(
            "{strategy} follow-up of table chain `{}` (load {}) from `{}` into `{}`",
            root.name, job.load_id, self.staging, self.dataset
        );
        let datasets = Datasets {
            dataset: &self.dataset,
            staging: &self.staging,
        };
        // schema problems surface before anything touches the database
        let statements =
            merge::follow_up_sql(self.d(), job.kind, datasets, &job.chain, job.created_at)?;
        let d = self.d();
        let mut conn = self.driver.acquire().await?;
        self.begin(&mut conn, &ctx).await?;
        // one follow-up of a chain at a time, so a concurrent duplicate sees the ledger row
        self.lock(&mut conn, &d.qualified(&self.staging, &root.name), &ctx)
            .await?;
        let key = job.ledger_key();
        let done = conn
            .query(
                &system::follow_ups_lookup(d, &self.staging),
                &[Param::Text(job.load_id), Param::Text(&key)],
            )
            .await
            .map_err(db(format!("{ctx}: reading the follow-up ledger")))?;
        if !done.is_empty() {
            tracing::info!(table = %root.name, load_id = job.load_id, "{strategy} follow-up already ran; skipped");
            return self.commit(conn, &ctx).await;
        }
        if job.kind == FollowUp::Upsert {
            self.driver
                .check_follow_up(&mut conn, job.kind, &ctx)
                .await?;
        }
        for stmt in &statements {
            tracing::debug!(sql = %stmt, "follow-up statement");
            conn.batch(stmt)
                .await
                .map_err(db(format!("{ctx}, running `{}`", excerpt(stmt))))?;
        }
        conn.execute(
            &system::follow_ups_record(d, &self.staging),
            &[Param::Text(job.load_id), Param::Text(&key)],
        )
        .await
        .map_err(db(format!("{ctx}: recording it in the follow-up ledger")))?;
        // staging was ours throughout: nobody else emptied or filled it
        self.driver
            .verify_staging_lock(&mut conn, &self.staging, &ctx)
            .await?;
        self.commit(conn, &ctx).await
    }

    async fn complete_load(&self, load_id: &str, schema: &Schema) -> Result<()> {
        // once per load id: a crash after this commit runs it again (the package is still
        // pending locally), and the row must not be doubled
        let mut conn = self.driver.acquire().await?;
        conn.execute(
            &system::complete_load(self.d(), &self.dataset),
            &[
                Param::Text(load_id),
                Param::Text(&schema.name),
                Param::Text(&schema.version_hash),
            ],
        )
        .await
        .map_err(db(format!("recording load {load_id}")))?;
        self.driver.release(conn);
        Ok(())
    }

    async fn stored_state(&self, pipeline_name: &str) -> Result<Option<StoredState>> {
        let ctx = "reading the stored pipeline state";
        let rows = self
            .query_if_exists(
                &self.dataset,
                &[STATE_TABLE, LOADS_TABLE],
                &system::stored_state(self.d(), &self.dataset),
                &[Param::Text(pipeline_name)],
                ctx,
            )
            .await?;
        let Some(r) = rows.and_then(|rows| rows.into_iter().next()) else {
            return Ok(None);
        };
        Ok(Some(StoredState {
            version: int(&r, 0, ctx)?,
            engine_version: int(&r, 1, ctx)?,
            pipeline_name: text(&r, 2, ctx)?,
            state: text(&r, 3, ctx)?,
            load_id: text(&r, 4, ctx)?,
        }))
    }

    async fn stored_schema(&self, schema_name: &str) -> Result<Option<StoredSchema>> {
        let ctx = "reading the stored schema";
        let rows = self
            .query_if_exists(
                &self.dataset,
                &[VERSION_TABLE],
                &system::stored_schema(self.d(), &self.dataset),
                &[Param::Text(schema_name)],
                ctx,
            )
            .await?;
        let Some(r) = rows.and_then(|rows| rows.into_iter().next()) else {
            return Ok(None);
        };
        Ok(Some(StoredSchema {
            version: int(&r, 0, ctx)?,
            version_hash: text(&r, 1, ctx)?,
            schema: text(&r, 2, ctx)?,
        }))
    }

    async fn committed_jobs(&self, load_id: &str) -> Result<Vec<String>> {
        let ctx = "reading the job ledger";
        let sql = system::jobs_committed(self.d(), &self.staging);
        self.ledger(&sql, load_id, ctx)
            .await?
            .iter()
            .map(|r| text(r, 0, ctx))
            .collect()
    }

    async fn forget_jobs(&self, load_id: &str) -> Result<()> {
        let ctx = "cleaning the job ledger";
        let sql = system::jobs_forget(self.d(), &self.staging);
        let mut conn = self.driver.acquire().await?;
        if self
            .exists(&mut conn, &self.staging, JOBS_TABLE, ctx)
            .await?
        {
            conn.execute(&sql, &[Param::Text(load_id)])
                .await
                .map_err(db(ctx))?;
        }
        self.driver.release(conn);
        Ok(())
    }

    async fn lock_staging(&self, wait: bool) -> Result<StagingLock> {
        self.driver.lock_staging(&self.staging, wait).await
    }

    async fn unlock_staging(&self) -> Result<()> {
        self.driver.unlock_staging(&self.staging).await
    }

    async fn session(&self) -> Result<Option<Box<dyn LoadSession>>> {
        if !self.driver.sessions() {
            return Ok(None);
        }
        // `open_session` is the session module's (it knows the client, not the other way)
        Ok(Some(self.open_session().await?))
    }

    async fn read_query(&self, sql: &str) -> Result<QueryRows> {
        let ctx = format!("querying dataset `{}`", self.dataset);
        let mut conn = self.driver.acquire().await?;
        let rows = conn
            .read_query(&self.dataset, sql)
            .await
            .map_err(db(&ctx))?;
        self.driver.release(conn);
        Ok(rows)
    }

    async fn read(&self, request: &ReadRequest) -> Result<Box<dyn RowCursor>> {
        super::read::open(&self.driver, &self.dataset, request).await
    }

    async fn table_row_counts(&self, tables: &[String]) -> Result<Vec<(String, Option<u64>)>> {
        let ctx = format!("counting the rows of tables in `{}`", self.dataset);
        let mut conn = self.driver.acquire().await?;
        let names: Vec<&str> = tables.iter().map(String::as_str).collect();
        let existing = conn
            .existing_columns(&self.dataset, &names)
            .await
            .map_err(db(&ctx))?;
        let mut out = Vec::with_capacity(tables.len());
        for t in tables {
            if !existing.contains_key(t) {
                out.push((t.clone(), None));
                continue;
            }
            let rows = conn
                .query(&system::row_count(self.d(), &self.dataset, t), &[])
                .await
                .map_err(db(&ctx))?;
            let n = rows
                .first()
                .map(|r| int(r, 0, &ctx))
                .transpose()?
                .unwrap_or(0);
            out.push((t.clone(), Some(u64::try_from(n).unwrap_or(0))));
        }
        self.driver.release(conn);
        Ok(out)
    }

    async fn recent_loads(&self, limit: usize) -> Result<Vec<(String, i64, DateTime<Utc>)>> {
        let ctx = format!("reading the loads of `{}`", self.dataset);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .query_if_exists(
                &self.dataset,
                &[LOADS_TABLE],
                &system::recent_loads(self.d(), &self.dataset),
                &[Param::Int(limit)],
                &ctx,
            )
            .await?
            .unwrap_or_default();
        rows.iter()
            .map(|r| {
                Ok((
                    text(r, 0, &ctx)?,
                    int(r, 1, &ctx)?,
                    timestamp(self.d(), r, 2, &ctx)?,
                ))
            })
            .collect()
    }

    async fn drop_empty_tables(&self, tables: &[String]) -> Result<()> {
        let d = self.d();
        let ctx = format!(
            "dropping the empty tables a failed load created in `{}`",
            self.dataset
        );
        let mut conn = self.driver.acquire().await?;
        self.begin(&mut conn, &ctx).await?;
        self.lock(&mut conn, &self.dataset, &ctx).await?;
        let names: Vec<&str> = tables.iter().map(String::as_str).collect();
        let existing = conn
            .existing_columns(&self.dataset, &names)
            .await
            .map_err(db(&ctx))?;
        for t in tables.iter().filter(|t| existing.contains_key(*t)) {
            let rows = conn
                .query(&system::row_count(d, &self.dataset, t), &[])
                .await
                .map_err(db(&ctx))?;
            let n = rows.first().map(|r| int(r, 0, &ctx)).transpose()?;
            if n.unwrap_or(0) == 0 {
                conn.batch(&system::drop_table(d, &self.dataset, t))
                    .await
                    .map_err(db(&ctx))?;
            }
        }
        self.commit(conn, &ctx).await
    }

    /// Drops `tables` from the dataset and staging and deletes the stored versions of
    /// `schema_name` from both `_dlt_version` tables (the dataset's and staging's: a version
    /// still stored would make the next `update_schema` skip creating the tables again), in
    /// one transaction holding the datasets' migration locks.
    async fn drop_tables(&self, tables: &[String], schema_name: &str) -> Result<()> {
        let d = self.d();
        let ctx = format!("dropping tables in `{}`", self.dataset);
        let mut conn = self.driver.acquire().await?;
        self.begin(&mut conn, &ctx).await?;
        let datasets = [self.dataset.as_str(), self.staging.as_str()];
        self.lock_datasets(&mut conn, &ctx).await?;
        for ds in datasets {
            for t in tables {
                conn.batch(&system::drop_table(d, ds, t))
                    .await
                    .map_err(db(&ctx))?;
            }
            if self.exists(&mut conn, ds, VERSION_TABLE, &ctx).await? {
                conn.execute(&system::versions_delete(d, ds), &[Param::Text(schema_name)])
                    .await
                    .map_err(db(&ctx))?;
            }
        }
        self.commit(conn, &ctx).await
    }
}
