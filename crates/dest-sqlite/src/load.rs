//! The load client: schema migration, job files, follow-ups, system tables and ledgers.
//! Every method runs on a blocking thread with the client's one connection; every write
//! is one `BEGIN IMMEDIATE` transaction (the write lock first, so two loaders wait for each
//! other in the busy timeout instead of failing halfway).

use std::collections::HashSet;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dest_core::{
    Error, FollowUpJob, JobOutcome, LoadClient, LoadJob, LoadTarget, Result, Schema, StagingLock,
    StoredSchema, StoredState, TableSchema, ENGINE_VERSION, LOADS_TABLE, STATE_TABLE,
    VERSION_TABLE,
};
use dest_sql::{system, Datasets, Dialect};
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::client::{blocking, db_err, table_exists, Shared};
use crate::config::SqliteSettings;
use crate::sql::{parse_timestamp_text, SQLITE};
use crate::typed_jsonl::{self, Reader};

/// SQLite's default limit of columns per table (`SQLITE_MAX_COLUMN`).
const MAX_COLUMNS: usize = 2000;
/// SQLite's default limit of bound parameters per statement (`SQLITE_MAX_VARIABLE_NUMBER`).
const MAX_PARAMS: usize = 32_766;
/// Rows per `INSERT` statement (fewer for wide tables).
const MAX_BATCH_ROWS: usize = 200;

/// A connected SQLite dataset (an attached file) and its staging dataset.
#[derive(Debug, Clone)]
pub struct SqliteClient {
    pub(crate) conn: Shared,
    pub(crate) dataset: String,
    pub(crate) staging: String,
    pub(crate) settings: Arc<SqliteSettings>,
    /// `<staging file>.lock` and, while this client holds it, the locked file (an OS file
    /// lock: another process's staged load waits; see [`LoadClient::lock_staging`]).
    pub(crate) staging_lock: (PathBuf, Arc<tokio::sync::Mutex<Option<std::fs::File>>>),
}

/// What a blocking task needs of the client (it must own it).
#[derive(Debug, Clone)]
struct Names {
    dataset: String,
    staging: String,
    create_indexes: bool,
}

impl Names {
    fn of(&self, target: LoadTarget) -> &str {
        match target {
            LoadTarget::Dataset => &self.dataset,
            LoadTarget::Staging => &self.staging,
        }
    }
}

fn begin<'c>(conn: &'c mut Connection, ctx: &str) -> Result<Transaction<'c>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| db_err(ctx, e))
}

fn commit(tx: Transaction<'_>, ctx: &str) -> Result<()> {
    tx.commit().map_err(|e| db_err(ctx, e))
}

impl SqliteClient {
    fn names(&self) -> Names {
        Names {
            dataset: self.dataset.clone(),
            staging: self.staging.clone(),
            create_indexes: self.settings.create_indexes,
        }
    }

    async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Names) -> Result<T> + Send + 'static,
    {
        let names = self.names();
        blocking(&self.conn, move |conn| f(conn, &names)).await
    }
}

/// Loads one job file into its table inside `tx`; returns the rows inserted.
fn load_file(tx: &Transaction<'_>, names: &Names, job: &LoadJob) -> Result<u64> {
    if job.format != typed_jsonl::NAME {
        return Err(Error::Unsupported {
            destination: crate::NAME.into(),
            what: format!("loader file format `{}`", job.format),
            hint: Some(format!("supported: {}", typed_jsonl::NAME)),
        });
    }
    let target = SQLITE.qualified(names.of(job.target), &job.table);
    let ctx = format!("loading {} into {target}", job.file.display());
    let file = File::open(&job.file).map_err(|e| Error::io("opening a job file", &job.file, e))?;
    let mut reader = Reader::open(
        BufReader::with_capacity(256 * 1024, file),
        job.file.display().to_string(),
    )?;
    let ncols = reader.columns.len();
    if ncols == 0 {
        return Ok(0);
    }
    let batch = (MAX_PARAMS / ncols).clamp(1, MAX_BATCH_ROWS);
    let head = format!(
        "INSERT INTO {target}({}) VALUES ",
        reader
            .columns
            .iter()
            .map(|c| SQLITE.quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let row = format!("({})", vec!["?"; ncols].join(", "));
    let statement = |rows: usize| format!("{head}{}", vec![row.as_str(); rows].join(", "));
    let full = statement(batch);
    let mut values: Vec<Sql> = Vec::with_capacity(batch * ncols);
    let mut rows: u64 = 0;
    let mut pending = 0;
    loop {
        let more = reader.next_row(&mut values)?;
        if more {
            pending += 1;
            rows += 1;
        }
        if pending > 0 && (pending == batch || !more) {
            let partial;
            let sql = if pending == batch {
                &full
            } else {
                partial = statement(pending);
                &partial
            };
            let mut stmt = tx.prepare_cached(sql).map_err(|e| db_err(&ctx, e))?;
            stmt.execute(rusqlite::params_from_iter(values.drain(..)))
                .map_err(|e| db_err(&ctx, e))?;
            pending = 0;
        }
        if !more {
            break;
        }
    }
    Ok(rows)
}

/// Records `keys` of `load_id` in the job ledger inside `tx`.
fn record_jobs(
    tx: &Transaction<'_>,
    staging: &str,
    load_id: &str,
    keys: &[&str],
    ctx: &str,
) -> Result<()> {
    let mut stmt = tx
        .prepare_cached(&system::jobs_record(&SQLITE, staging))
        .map_err(|e| db_err(format!("{ctx}: recording the job in the ledger"), e))?;
    for key in keys {
        stmt.execute((load_id, key))
            .map_err(|e| db_err(format!("{ctx}: recording the job in the ledger"), e))?;
    }
    Ok(())
}

/// Whether `table` gets UNIQUE constraints for its `unique` hints: in the dataset when
/// `create_indexes`; staging tables get none (they are emptied at every attempt, and an
/// upsert batch with a repeated key is deduplicated by the follow-up instead of failing).
fn indexes_for(names: &Names, target: LoadTarget) -> bool {
    names.create_indexes && target == LoadTarget::Dataset
}

/// Creates `tables` in `target` or adds their missing columns, inside `tx`; returns the
/// statements run.
fn migrate(
    tx: &Transaction<'_>,
    names: &Names,
    schema: &Schema,
    tables: &[&TableSchema],
    target: LoadTarget,
    ctx: &str,
) -> Result<Vec<String>> {
    let ds = names.of(target);
    let mut sql = Vec::new();
    for t in tables {
        let columns = t.complete_columns().count();
        if columns == 0 {
            continue;
        }
        if columns > MAX_COLUMNS {
            return Err(Error::InvalidSchema(format!(
                "table `{}` would have {columns} columns; SQLite allows at most {MAX_COLUMNS} \
                 per table (nest the data with `max_table_nesting`, or load wide objects as one \
                 `json` column with a column hint)",
                t.name
            )));
        }
        let indexes = indexes_for(names, target);
        let existing: HashSet<String> = {
            let mut stmt = tx
                .prepare_cached("SELECT name FROM pragma_table_info(?1, ?2)")
                .map_err(|e| db_err(ctx, e))?;
            let rows = stmt
                .query_map((&t.name, ds), |r| r.get::<_, String>(0))
                .map_err(|e| db_err(ctx, e))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(|e| db_err(ctx, e))?
        };
        let invalid = |e: String| {
            Error::InvalidSchema(format!("schema `{}`, table `{}`: {e}", schema.name, t.name))
        };
        if existing.is_empty() {
            sql.push(dest_sql::ddl::create_table(&SQLITE, ds, t, indexes).map_err(invalid)?);
        } else {
            let missing: Vec<_> = t
                .complete_columns()
                .filter(|c| !existing.contains(&c.name))
                .collect();
            sql.extend(
                dest_sql::ddl::add_columns(&SQLITE, ds, &t.name, &missing, indexes)
                    .map_err(invalid)?,
            );
        }
    }
    for stmt in &sql {
        tx.execute_batch(stmt)
            .map_err(|e| db_err(format!("{ctx}, running `{stmt}`"), e))?;
    }
    Ok(sql)
}

fn truncate_in(tx: &Transaction<'_>, ds: &str, tables: &[String], ctx: &str) -> Result<()> {
    for t in tables {
        tx.execute_batch(&SQLITE.truncate_table(&SQLITE.qualified(ds, t)))
            .map_err(|e| db_err(ctx, e))?;
    }
    Ok(())
}

/// A follow-up in one transaction, at most once per load and chain (the follow-up ledger,
/// `key` is [`FollowUpJob::ledger_key`]).
fn follow_up(
    conn: &mut Connection,
    names: &Names,
    statements: &[String],
    load_id: &str,
    key: &str,
    ctx: &str,
) -> Result<()> {
    let tx = begin(conn, ctx)?;
    let done = tx
        .query_row(
            &system::follow_ups_lookup(&SQLITE, &names.staging),
            (load_id, key),
            |_| Ok(()),
        )
        .optional()
        .map_err(|e| db_err(format!("{ctx}: reading the follow-up ledger"), e))?;
    if done.is_some() {
        tracing::info!(chain = key, load_id, "follow-up already ran; skipped");
        return commit(tx, ctx);
    }
    for stmt in statements {
        tracing::debug!(sql = %stmt, "follow-up statement");
        tx.execute_batch(stmt)
            .map_err(|e| db_err(format!("{ctx}, running `{}`", excerpt(stmt)), e))?;
    }
    tx.execute(
        &system::follow_ups_record(&SQLITE, &names.staging),
        (load_id, key),
    )
    .map_err(|e| db_err(format!("{ctx}: recording it in the follow-up ledger"), e))?;
    commit(tx, ctx)
}

/// The start of a statement, for messages.
fn excerpt(stmt: &str) -> String {
    let mut out: String = stmt.chars().take(300).collect();
    if out.len() < stmt.len() {
        out.push_str("...");
    }
    out
}

#[async_trait]
impl LoadClient for SqliteClient {
    /// The dataset and staging files were attached when connecting; this creates the
    /// ledgers in staging, whatever `staging` says (the job ledger serves every load).
    async fn initialize(&self, _staging: bool) -> Result<()> {
        self.run(|conn, names| {
            let ctx = format!("creating dataset `{}`", names.dataset);
            let tx = begin(conn, &ctx)?;
            tx.execute_batch(&format!(
                "{};\n{};",
                system::jobs_ddl(&SQLITE, &names.staging),
                system::follow_ups_ddl(&SQLITE, &names.staging)
            ))
            .map_err(|e| db_err(&ctx, e))?;
            commit(tx, &ctx)
        })
        .await
    }

    async fn update_schema(
        &self,
        schema: &Schema,
        tables: &[String],
        target: LoadTarget,
    ) -> Result<Vec<String>> {
        let mut wanted: Vec<TableSchema> = Vec::new();
        let mut names: Vec<&str> = vec![VERSION_TABLE];
        if target == LoadTarget::Dataset {
            names.push(LOADS_TABLE);
        }
        for t in tables {
            if !names.contains(&t.as_str()) {
                names.push(t);
            }
        }
        for n in names {
            match schema.table(n) {
                Some(t) => wanted.push(t.clone()),
                None => {
                    return Err(Error::Internal(format!(
                        "table `{n}` has a load job but is not in schema `{}`",
                        schema.name
                    )))
                }
            }
        }
        let schema = schema.clone();
        self.run(move |conn, names| {
            let ds = names.of(target).to_string();
            let ctx = format!("migrating schema `{}` in `{ds}`", schema.name);
            let stored = |c: &Connection| -> Result<bool> {
                if !table_exists(c, &ds, VERSION_TABLE).map_err(|e| db_err(&ctx, e))? {
                    return Ok(false);
                }
                c.prepare_cached(&system::version_stored(&SQLITE, &ds))
                    .and_then(|mut s| s.exists([&schema.version_hash]))
                    .map_err(|e| db_err(&ctx, e))
            };
            if stored(conn)? {
                return Ok(Vec::new());
            }
            let tx = begin(conn, &ctx)?;
            let refs: Vec<&TableSchema> = wanted.iter().collect();
            let statements = migrate(&tx, names, &schema, &refs, target, &ctx)?;
            // another loader may have stored this version while we waited for the lock
            if !stored(&tx)? {
                let json = serde_json::to_string(&schema)
                    .map_err(|e| Error::Internal(format!("serializing schema: {e}")))?;
                tx.execute(
                    &system::version_insert(&SQLITE, &ds),
                    (
                        schema.version,
                        ENGINE_VERSION,
                        &schema.name,
                        &schema.version_hash,
                        json,
                    ),
                )
                .map_err(|e| db_err(&ctx, e))?;
            }
            commit(tx, &ctx)?;
            Ok(statements)
        })
        .await
    }

    async fn truncate(&self, tables: &[String], target: LoadTarget) -> Result<()> {
        if tables.is_empty() {
            return Ok(());
        }
        let tables = tables.to_vec();
        self.run(move |conn, names| {
            let ds = names.of(target);
            let ctx = format!("emptying tables in `{ds}`");
            let tx = begin(conn, &ctx)?;
            truncate_in(&tx, ds, &tables, &ctx)?;
            commit(tx, &ctx)
        })
        .await
    }

    async fn run_job(&self, job: &LoadJob) -> Result<JobOutcome> {
        let job = job.clone();
        self.run(move |conn, names| {
            let ctx = format!("loading {}", job.file.display());
            let tx = begin(conn, &ctx)?;
            let rows = load_file(&tx, names, &job)?;
            record_jobs(&tx, &names.staging, &job.load_id, &[&job.key], &ctx)?;
            commit(tx, &ctx)?;
            Ok(JobOutcome { rows })
        })
        .await
    }

    async fn run_jobs_atomically(&self, truncate: &[String], jobs: &[LoadJob]) -> Result<u64> {
        let truncate = truncate.to_vec();
        let jobs = jobs.to_vec();
        self.run(move |conn, names| {
            let ctx = format!("replacing {} in `{}`", truncate.join(", "), names.dataset);
            let tx = begin(conn, &ctx)?;
            truncate_in(&tx, &names.dataset, &truncate, &ctx)?;
            let mut rows = 0;
            for job in &jobs {
                rows += load_file(&tx, names, job)?;
            }
            if let Some(first) = jobs.first() {
                let keys: Vec<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
                record_jobs(&tx, &names.staging, &first.load_id, &keys, &ctx)?;
            }
            commit(tx, &ctx)?;
            Ok(rows)
        })
        .await
    }

    async fn lock_staging(&self, wait: bool) -> Result<StagingLock> {
        let (path, held) = &self.staging_lock;
        let mut held = held.lock().await;
        if held.is_some() {
            return Ok(StagingLock::Held);
        }
        let path = path.clone();
        let file = tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| Error::io("opening the staging lock file", &path, e))?;
            match fs2::FileExt::try_lock_exclusive(&file) {
                Ok(()) => Ok(Some(file)),
                Err(_) if !wait => Ok(None),
                Err(_) => fs2::FileExt::lock_exclusive(&file)
                    .map(|()| Some(file))
                    .map_err(|e| Error::io("locking the staging lock file", &path, e)),
            }
        })
        .await
        .map_err(|e| Error::Internal(format!("an SQLite task failed: {e}")))??;
        match file {
            Some(file) => {
                *held = Some(file);
                Ok(StagingLock::Acquired)
            }
            None => Ok(StagingLock::Busy),
        }
    }

    async fn unlock_staging(&self) -> Result<()> {
        // closing the file releases the lock
        self.staging_lock.1.lock().await.take();
        Ok(())
    }

    async fn follow_up(&self, job: &FollowUpJob<'_>) -> Result<()> {
        let root = job
            .chain
            .first()
            .ok_or_else(|| Error::Internal("follow-up for an empty table chain".into()))?
            .name
            .clone();
        let strategy = dest_sql::strategy_name(job.kind);
        let ctx = format!(
            "{strategy} follow-up of table chain `{root}` (load {}) from `{}` into `{}`",
            job.load_id, self.staging, self.dataset
        );
        // schema problems surface before anything touches the database
        let statements = dest_sql::follow_up_sql(
            &SQLITE,
            job.kind,
            Datasets {
                dataset: &self.dataset,
                staging: &self.staging,
            },
            &job.chain,
            job.created_at,
        )?;
        let load_id = job.load_id.to_string();
        let key = job.ledger_key();
        self.run(move |conn, names| follow_up(conn, names, &statements, &load_id, &key, &ctx))
            .await
    }

    async fn complete_load(&self, load_id: &str, schema: &Schema) -> Result<()> {
        let args = (
            load_id.to_string(),
            schema.name.clone(),
            schema.version_hash.clone(),
        );
        self.run(move |conn, names| {
            conn.execute(
                &system::complete_load(&SQLITE, &names.dataset),
                args.clone(),
            )
            .map_err(|e| db_err(format!("recording load {}", args.0), e))?;
            Ok(())
        })
        .await
    }

    async fn stored_state(&self, pipeline_name: &str) -> Result<Option<StoredState>> {
        let pipeline_name = pipeline_name.to_string();
        self.run(move |conn, names| {
            let ctx = "reading the stored pipeline state";
            for t in [STATE_TABLE, LOADS_TABLE] {
                if !table_exists(conn, &names.dataset, t).map_err(|e| db_err(ctx, e))? {
                    return Ok(None);
                }
            }
            conn.query_row(
                &system::stored_state(&SQLITE, &names.dataset),
                [&pipeline_name],
                |r| {
                    Ok(StoredState {
                        version: r.get(0)?,
                        engine_version: r.get(1)?,
                        pipeline_name: r.get(2)?,
                        state: r.get(3)?,
                        load_id: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(|e| db_err(ctx, e))
        })
        .await
    }

    async fn stored_schema(&self, schema_name: &str) -> Result<Option<StoredSchema>> {
        let schema_name = schema_name.to_string();
        self.run(move |conn, names| {
            let ctx = "reading the stored schema";
            if !table_exists(conn, &names.dataset, VERSION_TABLE).map_err(|e| db_err(ctx, e))? {
                return Ok(None);
            }
            conn.query_row(
                &system::stored_schema(&SQLITE, &names.dataset),
                [&schema_name],
                |r| {
                    Ok(StoredSchema {
                        version: r.get(0)?,
                        version_hash: r.get(1)?,
                        schema: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(|e| db_err(ctx, e))
        })
        .await
    }

    async fn committed_jobs(&self, load_id: &str) -> Result<Vec<String>> {
        let load_id = load_id.to_string();
        self.run(move |conn, names| {
            let ctx = "reading the job ledger";
            if !table_exists(conn, &names.staging, system::JOBS_TABLE)
                .map_err(|e| db_err(ctx, e))?
            {
                return Ok(Vec::new());
            }
            let mut stmt = conn
                .prepare_cached(&system::jobs_committed(&SQLITE, &names.staging))
                .map_err(|e| db_err(ctx, e))?;
            let keys = stmt
                .query_map([&load_id], |r| r.get::<_, String>(0))
                .map_err(|e| db_err(ctx, e))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| db_err(ctx, e))?;
            Ok(keys)
        })
        .await
    }

    async fn forget_jobs(&self, load_id: &str) -> Result<()> {
        let load_id = load_id.to_string();
        self.run(move |conn, names| {
            let ctx = "cleaning the job ledger";
            if table_exists(conn, &names.staging, system::JOBS_TABLE).map_err(|e| db_err(ctx, e))? {
                conn.execute(&system::jobs_forget(&SQLITE, &names.staging), [&load_id])
                    .map_err(|e| db_err(ctx, e))?;
            }
            Ok(())
        })
        .await
    }

    async fn table_row_counts(&self, tables: &[String]) -> Result<Vec<(String, Option<u64>)>> {
        let tables = tables.to_vec();
        self.run(move |conn, names| {
            let ctx = format!("counting the rows of tables in `{}`", names.dataset);
            let mut out = Vec::with_capacity(tables.len());
            for t in tables {
                if !table_exists(conn, &names.dataset, &t).map_err(|e| db_err(&ctx, e))? {
                    out.push((t, None));
                    continue;
                }
                let n: i64 = conn
                    .query_row(
                        &format!(
                            "SELECT count(*) FROM {}",
                            SQLITE.qualified(&names.dataset, &t)
                        ),
                        [],
                        |r| r.get(0),
                    )
                    .map_err(|e| db_err(&ctx, e))?;
                out.push((t, Some(u64::try_from(n).unwrap_or(0))));
            }
            Ok(out)
        })
        .await
    }

    async fn recent_loads(&self, limit: usize) -> Result<Vec<(String, i64, DateTime<Utc>)>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |conn, names| {
            let ctx = format!("reading the loads of `{}`", names.dataset);
            if !table_exists(conn, &names.dataset, LOADS_TABLE).map_err(|e| db_err(&ctx, e))? {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT \"load_id\", \"status\", \"inserted_at\" FROM {} \
                 ORDER BY \"inserted_at\" DESC, \"load_id\" DESC LIMIT ?1",
                SQLITE.qualified(&names.dataset, LOADS_TABLE)
            );
            let mut stmt = conn.prepare(&sql).map_err(|e| db_err(&ctx, e))?;
            let rows = stmt
                .query_map([limit], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(|e| db_err(&ctx, e))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| db_err(&ctx, e))?;
            rows.into_iter()
                .map(|(id, status, at)| {
                    let at = parse_timestamp_text(&at).ok_or_else(|| {
                        Error::Internal(format!("{ctx}: inserted_at `{at}` is not a timestamp"))
                    })?;
                    Ok((id, status, at))
                })
                .collect()
        })
        .await
    }

    /// Drops `tables` from the dataset and staging and deletes the stored versions of
    /// `schema_name` from both `_dlt_version` tables, in one transaction.
    async fn drop_tables(&self, tables: &[String], schema_name: &str) -> Result<()> {
        let tables = tables.to_vec();
        let schema_name = schema_name.to_string();
        self.run(move |conn, names| {
            let ctx = format!("dropping tables in `{}`", names.dataset);
            let tx = begin(conn, &ctx)?;
            for ds in [&names.dataset, &names.staging] {
                for t in &tables {
                    tx.execute_batch(&format!("DROP TABLE IF EXISTS {}", SQLITE.qualified(ds, t)))
                        .map_err(|e| db_err(&ctx, e))?;
                }
                if table_exists(&tx, ds, VERSION_TABLE).map_err(|e| db_err(&ctx, e))? {
                    tx.execute(&system::versions_delete(&SQLITE, ds), [&schema_name])
                        .map_err(|e| db_err(&ctx, e))?;
                }
            }
            commit(tx, &ctx)
        })
        .await
    }
}
