//! The load client: schema migration, job files, system tables. One instance per dataset.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dest_core::{
    Error, FollowUpJob, JobOutcome, LoadClient, LoadJob, LoadSession, LoadTarget, Result, Schema,
    StagingLock, StoredSchema, StoredState, TableSchema, ENGINE_VERSION, LOADS_TABLE,
    VERSION_TABLE,
};
use postgres_types::ToSql;
use tokio::io::AsyncBufReadExt;
use tokio_postgres::error::SqlState;

use crate::client::{db_err, Pool};
use crate::config::PostgresSettings;
use crate::insert_values::TABLE_PLACEHOLDER;
use crate::sql::{add_columns, create_table, qualified, quote_ident, PG};
use dest_sql::system;

/// PostgreSQL's limit of columns per table.
const MAX_COLUMNS: usize = 1600;

/// A connected PostgreSQL dataset (schema) and its staging schema. Clones share the pool.
#[derive(Debug, Clone)]
pub struct PostgresClient {
    pub(crate) pool: Arc<Pool>,
    pub(crate) dataset: String,
    pub(crate) staging: String,
    pub(crate) settings: Arc<PostgresSettings>,
    /// The staging lock (`crate::staging_lock`), shared by the clones.
    pub(crate) staging_lock: Arc<crate::staging_lock::StagingLocks>,
}

fn missing_relation(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::UNDEFINED_TABLE || *c == SqlState::INVALID_SCHEMA_NAME
    )
}

impl PostgresClient {
    fn job_context(&self, job: &LoadJob) -> String {
        format!(
            "loading {} into {}",
            job.file.display(),
            qualified(self.schema_of(job.target), &job.table)
        )
    }

    /// Executes one insert_values job file inside `tx`; returns the rows inserted.
    pub(crate) async fn load_file(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        job: &LoadJob,
    ) -> Result<u64> {
        if job.format == "csv" {
            let target = qualified(self.schema_of(job.target), &job.table);
            return crate::csv::copy_file(tx, &target, &job.file).await;
        }
        if job.format != "insert_values" {
            return Err(Error::Unsupported {
                destination: "postgres".into(),
                what: format!("loader file format `{}`", job.format),
                hint: None,
            });
        }
        let target = qualified(self.schema_of(job.target), &job.table);
        let ctx = self.job_context(job);
        if self.settings.insert_values_execution == crate::config::InsertValuesExecution::Bound {
            let batch = self.settings.max_statement_bytes;
            return crate::bound::execute_bound(tx, &target, &job.file, &ctx, batch).await;
        }
        let file = tokio::fs::File::open(&job.file)
            .await
            .map_err(|e| Error::io("opening a job file", &job.file, e))?;
        let mut reader = tokio::io::BufReader::with_capacity(256 * 1024, file);
        let mut statement: Vec<u8> =
            Vec::with_capacity(self.settings.max_statement_bytes + 64 * 1024);
        let mut line: Vec<u8> = Vec::new();
        let mut rows: u64 = 0;
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .await
                .map_err(|e| Error::io("reading a job file", &job.file, e))?;
            if n == 0 {
                break;
            }
            let text = trim_newline(&line);
            if text.starts_with(b"INSERT INTO ") {
                // the header: fill in the table
                let header = String::from_utf8_lossy(text).replacen(TABLE_PLACEHOLDER, &target, 1);
                statement.extend_from_slice(header.as_bytes());
                statement.push(b'\n');
                continue;
            }
            if text.first() == Some(&b'(') {
                rows += 1;
            }
            statement.extend_from_slice(text);
            statement.push(b'\n');
            if text.last() == Some(&b';') {
                let sql = std::str::from_utf8(&statement).map_err(|e| {
                    Error::Internal(format!("job file {} is not UTF-8: {e}", job.file.display()))
                })?;
                tx.batch_execute(sql).await.map_err(|e| db_err(&ctx, e))?;
                statement.clear();
            }
        }
        if statement.iter().any(|b| !b.is_ascii_whitespace()) {
            return Err(Error::Internal(format!(
                "job file {} ends inside a statement",
                job.file.display()
            )));
        }
        Ok(rows)
    }

    pub(crate) fn schema_of(&self, target: LoadTarget) -> &str {
        match target {
            LoadTarget::Dataset => &self.dataset,
            LoadTarget::Staging => &self.staging,
        }
    }

    /// The statements that make `tables` of `schema` exist with all their complete columns,
    /// given the columns that already exist.
    /// Whether `table` gets UNIQUE constraints for its `unique` hints. In staging only the
    /// tables that `staging-optimized` swaps into the dataset do: other staging tables are
    /// emptied at every attempt and need none, and without them an upsert batch with a
    /// repeated key is deduplicated by the follow-up instead of failing (as it does in dlt).
    fn indexes_for(&self, schema: &Schema, table: &TableSchema, target: LoadTarget) -> bool {
        self.settings.create_indexes
            && match target {
                LoadTarget::Dataset => true,
                LoadTarget::Staging => schema
                    .table(schema.root_of(&table.name))
                    .is_some_and(|root| root.strategy.as_deref() == Some("staging-optimized")),
            }
    }

    /// Creates `tables` in `target` or adds their missing columns, inside `tx`; returns the
    /// statements run.
    pub(crate) async fn migrate(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        schema: &Schema,
        tables: &[&TableSchema],
        target: LoadTarget,
        ctx: &str,
    ) -> Result<Vec<String>> {
        let ds = self.schema_of(target);
        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        let rows = tx
            .query(
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = $1 AND table_name = ANY($2)",
                &[&ds, &names],
            )
            .await
            .map_err(|e| db_err(ctx, e))?;
        let mut existing: HashMap<String, HashSet<String>> = HashMap::new();
        for r in rows {
            let t: String = r.try_get(0).map_err(|e| db_err(ctx, e))?;
            let c: String = r.try_get(1).map_err(|e| db_err(ctx, e))?;
            existing.entry(t).or_default().insert(c);
        }
        let statements = self.migration_sql(ds, schema, tables, &existing, target)?;
        if !statements.is_empty() {
            let script = format!("{};", statements.join(";\n"));
            tx.batch_execute(&script)
                .await
                .map_err(|e| db_err(ctx, e))?;
        }
        Ok(statements)
    }

    fn migration_sql(
        &self,
        ds: &str,
        schema: &Schema,
        tables: &[&TableSchema],
        existing: &HashMap<String, HashSet<String>>,
        target: LoadTarget,
    ) -> Result<Vec<String>> {
        let mut sql = Vec::new();
        for t in tables {
            let columns = t.complete_columns().count();
            if columns == 0 {
                continue;
            }
            if columns > MAX_COLUMNS {
                return Err(Error::InvalidSchema(format!(
                    "table `{}` would have {columns} columns; PostgreSQL allows at most \
                     {MAX_COLUMNS} per table (nest the data with `max_table_nesting`, or load \
                     wide objects as one `json` column with a column hint)",
                    t.name
                )));
            }
            let indexes = self.indexes_for(schema, t, target);
            let stmt = match existing.get(&t.name) {
                None => Some(create_table(ds, t, indexes)),
                Some(cols) => {
                    let missing: Vec<_> = t
                        .complete_columns()
                        .filter(|c| !cols.contains(&c.name))
                        .collect();
                    add_columns(ds, &t.name, &missing, indexes).transpose()
                }
            };
            if let Some(stmt) = stmt {
                sql.push(stmt.map_err(|e| {
                    Error::InvalidSchema(format!(
                        "schema `{}`, table `{}`: {e}",
                        schema.name, t.name
                    ))
                })?);
            }
        }
        Ok(sql)
    }
}

/// The first column of every row of `sql`, as text.
async fn texts(
    c: &(impl tokio_postgres::GenericClient + Sync),
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    ctx: &str,
) -> Result<HashSet<String>> {
    c.query(sql, params)
        .await
        .map_err(|e| db_err(ctx, e))?
        .iter()
        .map(|r| r.try_get::<_, String>(0))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| db_err(ctx, e))
}

/// Whether `e` is DDL that lost a race with another transaction's DDL on the same table
/// (`relation already exists`, `column already exists`, or the catalog's unique index on
/// type names).
fn concurrent_ddl(e: &Error) -> bool {
    matches!(e, Error::Database { cause, .. }
        if matches!(cause.sqlstate(), Some("42P07" | "42701" | "23505")))
}

impl PostgresClient {
    /// One attempt of [`LoadClient::update_schema`]'s transaction: the migration lock,
    /// the DDL, the version record.
    async fn migrate_locked(
        &self,
        client: &mut tokio_postgres::Client,
        schema: &Schema,
        wanted: &[&TableSchema],
        target: LoadTarget,
        stored_q: &str,
        ctx: &str,
    ) -> Result<Vec<String>> {
        let ds = self.schema_of(target);
        let tx = client.transaction().await.map_err(|e| db_err(ctx, e))?;
        // one migration per dataset at a time
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&ds])
            .await
            .map_err(|e| db_err(ctx, e))?;
        let statements = self.migrate(&tx, schema, wanted, target, ctx).await?;
        // another loader may have stored this version while we waited for the lock
        let stored = tx
            .query_opt(stored_q, &[&schema.version_hash])
            .await
            .map_err(|e| db_err(ctx, e))?;
        if stored.is_none() {
            let json = serde_json::to_string(schema)
                .map_err(|e| Error::Internal(format!("serializing schema: {e}")))?;
            let insert = system::version_insert(&PG, ds);
            let params: [&(dyn ToSql + Sync); 5] = [
                &schema.version,
                &ENGINE_VERSION,
                &schema.name,
                &schema.version_hash,
                &json,
            ];
            tx.execute(&insert, &params)
                .await
                .map_err(|e| db_err(ctx, e))?;
        }
        tx.commit().await.map_err(|e| db_err(ctx, e))?;
        Ok(statements)
    }
}

#[async_trait]
impl LoadClient for PostgresClient {
    /// Creates the dataset and, always, the staging schema with the job ledger
    /// (`crate::ledger`), whatever `staging` says.
    async fn initialize(&self, _staging: bool) -> Result<()> {
        let mut client = self.pool.get().await?;
        let ctx = format!("creating schema `{}`", self.dataset);
        let tx = client.transaction().await.map_err(|e| db_err(&ctx, e))?;
        // concurrent CREATE ... IF NOT EXISTS can still race on the catalog: take a lock
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            &[&self.dataset],
        )
        .await
        .map_err(|e| db_err(&ctx, e))?;
        // only the schemas that are missing: `CREATE SCHEMA IF NOT EXISTS` needs CREATE on
        // the database even when the schema exists, and a loader that owns schemas made for
        // it by an administrator need not have that privilege
        let wanted = [self.dataset.as_str(), self.staging.as_str()];
        let existing = texts(
            &tx,
            "SELECT nspname::text FROM pg_namespace WHERE nspname = ANY($1)",
            &[&&wanted[..]],
            &ctx,
        )
        .await?;
        for schema in wanted.iter().filter(|s| !existing.contains(**s)) {
            let sql = format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema));
            tx.batch_execute(&sql).await.map_err(|e| {
                let denied = e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE);
                let ctx = if denied {
                    format!(
                        "creating schema `{schema}` (dlt-rs needs the dataset `{}` and its \
                         staging schema `{}`, which keeps the job ledger; create the missing \
                         one for the loader, `CREATE SCHEMA \"{schema}\" AUTHORIZATION <loader>`, \
                         or grant it CREATE on the database)",
                        self.dataset, self.staging
                    )
                } else {
                    format!("creating schema `{schema}`")
                };
                db_err(ctx, e)
            })?;
        }
        tx.batch_execute(&crate::ledger::ddl(&self.staging))
            .await
            .map_err(|e| db_err(format!("creating the job ledger in `{}`", self.staging), e))?;
        tx.commit().await.map_err(|e| db_err(&ctx, e))?;
        self.pool.put(client);
        Ok(())
    }

    async fn update_schema(
        &self,
        schema: &Schema,
        tables: &[String],
        target: LoadTarget,
    ) -> Result<Vec<String>> {
        let ds = self.schema_of(target).to_string();
        let stored_q = system::version_stored(&PG, &ds);
        let mut client = self.pool.get().await?;
        match client.query_opt(&stored_q, &[&schema.version_hash]).await {
            Ok(Some(_)) => {
                self.pool.put(client);
                return Ok(Vec::new());
            }
            Ok(None) => {}
            Err(e) if missing_relation(&e) => {}
            Err(e) => return Err(db_err(format!("reading `{ds}`.`{VERSION_TABLE}`"), e)),
        }

        let ctx = format!("migrating schema `{}` in `{ds}`", schema.name);
        let mut wanted: Vec<&TableSchema> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut push = |t: &'_ str| {
            if !names.iter().any(|n| n == t) {
                names.push(t.to_string());
            }
        };
        push(VERSION_TABLE);
        if target == LoadTarget::Dataset {
            push(LOADS_TABLE);
        }
        for t in tables {
            push(t);
        }
        for n in &names {
            match schema.table(n) {
                Some(t) => wanted.push(t),
                None => {
                    return Err(Error::Internal(format!(
                        "table `{n}` has a load job but is not in schema `{}`",
                        schema.name
                    )))
                }
            }
        }
        // another loader's load session creates or widens tables in its own transaction,
        // without the migration lock: our DDL then waits for its commit and fails on the
        // name it took; the migration run again sees its tables
        let mut attempt = 1;
        loop {
            match self
                .migrate_locked(&mut client, schema, &wanted, target, &stored_q, &ctx)
                .await
            {
                Err(e) if attempt < 3 && concurrent_ddl(&e) => {
                    tracing::debug!(error = %e, "a table changed under the migration; again");
                    attempt += 1;
                }
                Err(e) => return Err(e),
                Ok(statements) => {
                    self.pool.put(client);
                    return Ok(statements);
                }
            }
        }
    }

    async fn truncate(&self, tables: &[String], target: LoadTarget) -> Result<()> {
        if tables.is_empty() {
            return Ok(());
        }
        let ds = self.schema_of(target);
        let sql = tables
            .iter()
            .map(|t| format!("TRUNCATE TABLE {}", qualified(ds, t)))
            .collect::<Vec<_>>()
            .join(";\n");
        let client = self.pool.get().await?;
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| db_err(format!("truncating tables in `{ds}`"), e))?;
        self.pool.put(client);
        Ok(())
    }

    async fn run_job(&self, job: &LoadJob) -> Result<JobOutcome> {
        let mut client = self.pool.get().await?;
        let ctx = self.job_context(job);
        let tx = client.transaction().await.map_err(|e| db_err(&ctx, e))?;
        let rows = self.load_file(&tx, job).await?;
        crate::ledger::record(&tx, &self.staging, &job.load_id, &[&job.key], &ctx).await?;
        tx.commit().await.map_err(|e| db_err(&ctx, e))?;
        self.pool.put(client);
        Ok(JobOutcome { rows })
    }

    async fn run_jobs_atomically(&self, truncate: &[String], jobs: &[LoadJob]) -> Result<u64> {
        let mut client = self.pool.get().await?;
        let ctx = format!("replacing {} in `{}`", truncate.join(", "), self.dataset);
        let tx = client.transaction().await.map_err(|e| db_err(&ctx, e))?;
        if !truncate.is_empty() {
            let sql = truncate
                .iter()
                .map(|t| format!("TRUNCATE TABLE {}", qualified(&self.dataset, t)))
                .collect::<Vec<_>>()
                .join(";\n");
            tx.batch_execute(&sql).await.map_err(|e| db_err(&ctx, e))?;
        }
        let mut rows = 0;
        for job in jobs {
            rows += self.load_file(&tx, job).await?;
        }
        if let Some(first) = jobs.first() {
            let keys: Vec<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
            crate::ledger::record(&tx, &self.staging, &first.load_id, &keys, &ctx).await?;
        }
        tx.commit().await.map_err(|e| db_err(&ctx, e))?;
        self.pool.put(client);
        Ok(rows)
    }

    async fn follow_up(&self, job: &FollowUpJob<'_>) -> Result<()> {
        crate::follow_up::run(self, job).await
    }

    async fn complete_load(&self, load_id: &str, schema: &Schema) -> Result<()> {
        // once per load id: a crash after this commit runs it again (the package is still
        // pending locally), and the row must not be doubled
        let sql = system::complete_load(&PG, &self.dataset);
        let client = self.pool.get().await?;
        client
            .execute(&sql, &[&load_id, &schema.name, &schema.version_hash])
            .await
            .map_err(|e| db_err(format!("recording load {load_id}"), e))?;
        self.pool.put(client);
        Ok(())
    }

    async fn stored_state(&self, pipeline_name: &str) -> Result<Option<StoredState>> {
        let sql = system::stored_state(&PG, &self.dataset);
        let client = self.pool.get().await?;
        let row = match client.query_opt(&sql, &[&pipeline_name]).await {
            Ok(r) => r,
            Err(e) if missing_relation(&e) => None,
            Err(e) => return Err(db_err("reading the stored pipeline state", e)),
        };
        self.pool.put(client);
        let ctx = "reading the stored pipeline state";
        row.map(|r| {
            Ok(StoredState {
                version: r.try_get(0).map_err(|e| db_err(ctx, e))?,
                engine_version: r.try_get(1).map_err(|e| db_err(ctx, e))?,
                pipeline_name: r.try_get(2).map_err(|e| db_err(ctx, e))?,
                state: r.try_get(3).map_err(|e| db_err(ctx, e))?,
                load_id: r.try_get(4).map_err(|e| db_err(ctx, e))?,
            })
        })
        .transpose()
    }

    async fn committed_jobs(&self, load_id: &str) -> Result<Vec<String>> {
        let conn = self.pool.get().await?;
        let keys = crate::ledger::committed(&conn, &self.staging, load_id).await?;
        self.pool.put(conn);
        Ok(keys)
    }

    async fn forget_jobs(&self, load_id: &str) -> Result<()> {
        let conn = self.pool.get().await?;
        crate::ledger::forget(&conn, &self.staging, load_id).await?;
        self.pool.put(conn);
        Ok(())
    }

    async fn lock_staging(&self, wait: bool) -> Result<StagingLock> {
        self.staging_lock
            .lock(&self.pool, &self.staging, wait)
            .await
    }

    async fn unlock_staging(&self) -> Result<()> {
        self.staging_lock.unlock(&self.pool, &self.staging).await
    }

    async fn session(&self) -> Result<Option<Box<dyn LoadSession>>> {
        Ok(Some(Box::new(
            crate::session::PgSession::open(self.clone()).await?,
        )))
    }

    async fn stored_schema(&self, schema_name: &str) -> Result<Option<StoredSchema>> {
        let sql = system::stored_schema(&PG, &self.dataset);
        let client = self.pool.get().await?;
        let row = match client.query_opt(&sql, &[&schema_name]).await {
            Ok(r) => r,
            Err(e) if missing_relation(&e) => None,
            Err(e) => return Err(db_err("reading the stored schema", e)),
        };
        self.pool.put(client);
        let ctx = "reading the stored schema";
        row.map(|r| {
            Ok(StoredSchema {
                version: r.try_get(0).map_err(|e| db_err(ctx, e))?,
                version_hash: r.try_get(1).map_err(|e| db_err(ctx, e))?,
                schema: r.try_get(2).map_err(|e| db_err(ctx, e))?,
            })
        })
        .transpose()
    }

    async fn table_row_counts(&self, tables: &[String]) -> Result<Vec<(String, Option<u64>)>> {
        let ctx = format!("counting the rows of tables in `{}`", self.dataset);
        let client = self.pool.get().await?;
        let existing = texts(
            &client,
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = $1 AND table_name = ANY($2)",
            &[&self.dataset, &tables],
            &ctx,
        )
        .await?;
        let mut out = Vec::with_capacity(tables.len());
        for t in tables {
            if !existing.contains(t) {
                out.push((t.clone(), None));
                continue;
            }
            let sql = format!("SELECT count(*) FROM {}", qualified(&self.dataset, t));
            let row = client
                .query_one(&sql, &[])
                .await
                .map_err(|e| db_err(&ctx, e))?;
            let n: i64 = row.try_get(0).map_err(|e| db_err(&ctx, e))?;
            out.push((t.clone(), Some(u64::try_from(n).unwrap_or(0))));
        }
        self.pool.put(client);
        Ok(out)
    }

    async fn recent_loads(&self, limit: usize) -> Result<Vec<(String, i64, DateTime<Utc>)>> {
        let ctx = format!("reading the loads of `{}`", self.dataset);
        let sql = format!(
            "SELECT \"load_id\"::text, \"status\", \
             (extract(epoch FROM \"inserted_at\") * 1000000)::int8 \
             FROM {} ORDER BY \"inserted_at\" DESC, \"load_id\" DESC LIMIT $1",
            qualified(&self.dataset, LOADS_TABLE)
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.pool.get().await?;
        let rows = match client.query(&sql, &[&limit]).await {
            Ok(rows) => rows,
            Err(e) if missing_relation(&e) => Vec::new(),
            Err(e) => return Err(db_err(&ctx, e)),
        };
        self.pool.put(client);
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let micros: i64 = r.try_get(2).map_err(|e| db_err(&ctx, e))?;
            let inserted_at = DateTime::from_timestamp_micros(micros).ok_or_else(|| {
                Error::Internal(format!("{ctx}: inserted_at out of range ({micros} µs)"))
            })?;
            out.push((
                r.try_get(0).map_err(|e| db_err(&ctx, e))?,
                r.try_get(1).map_err(|e| db_err(&ctx, e))?,
                inserted_at,
            ));
        }
        Ok(out)
    }

    /// Drops `tables` from the dataset and staging and deletes the stored versions of
    /// `schema_name` from both `_dlt_version` tables (the dataset's and staging's: a version
    /// still stored would make the next `update_schema` skip creating the tables again), in
    /// one transaction holding the datasets' migration locks.
    async fn drop_tables(&self, tables: &[String], schema_name: &str) -> Result<()> {
        let ctx = format!("dropping tables in `{}`", self.dataset);
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await.map_err(|e| db_err(&ctx, e))?;
        let datasets = [self.dataset.as_str(), self.staging.as_str()];
        for ds in datasets {
            tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&ds])
                .await
                .map_err(|e| db_err(&ctx, e))?;
        }
        let versioned: Vec<String> = tx
            .query(
                "SELECT table_schema::text FROM information_schema.tables \
                 WHERE table_schema = ANY($1) AND table_name = $2",
                &[&&datasets[..], &VERSION_TABLE],
            )
            .await
            .map_err(|e| db_err(&ctx, e))?
            .iter()
            .map(|r| r.try_get::<_, String>(0))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| db_err(&ctx, e))?;
        let mut statements = Vec::new();
        for t in tables {
            for ds in datasets {
                statements.push(format!("DROP TABLE IF EXISTS {}", qualified(ds, t)));
            }
        }
        if !statements.is_empty() {
            tx.batch_execute(&statements.join(";\n"))
                .await
                .map_err(|e| db_err(&ctx, e))?;
        }
        for ds in &versioned {
            let sql = system::versions_delete(&PG, ds);
            tx.execute(&sql, &[&schema_name])
                .await
                .map_err(|e| db_err(&ctx, e))?;
        }
        tx.commit().await.map_err(|e| db_err(&ctx, e))?;
        self.pool.put(client);
        Ok(())
    }
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &line[..end]
}
