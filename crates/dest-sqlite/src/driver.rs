//! SQLite under the SQL engine of `dest-sql`: one connection (SQLite has one writer at a
//! time), taken whole by whoever loads, its calls run on tokio's blocking threads; the
//! staging lock is an OS file lock; job files are `typed-jsonl`, inserted by prepared
//! multi-row `INSERT`s with bound values.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use dest_core::{
    DataType, DestinationError, Error, LoadJob, LoaderFileFormat, QueryRows, ReadColumn, Result,
    Retry, StagingLock, Value,
};
use dest_sql::{Connection, DbError, Dialect, Driver, Param, Row, SqlValue};
use rusqlite::types::{Value as Sql, ValueRef};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::client::{db_err, SqliteError};
use crate::parquet_rows::ParquetRows;
use crate::read::ReadThread;
use crate::sql::{insert_rows, QUERY_ONLY_OFF, QUERY_ONLY_ON, SQLITE};
use crate::typed_jsonl::{Reader, RowSource};

/// SQLite's default limit of bound parameters per statement (`SQLITE_MAX_VARIABLE_NUMBER`).
const MAX_PARAMS: usize = 32_766;
/// Rows per `INSERT` statement (fewer for wide tables).
const MAX_BATCH_ROWS: usize = 200;

/// The connection of a client, and its staging lock.
pub(crate) struct SqliteDriver {
    conn: Arc<Mutex<rusqlite::Connection>>,
    /// `<staging file>.lock` and, while this client holds it, the locked file (an OS file
    /// lock: another process's staged load waits; see `LoadClient::lock_staging`).
    lock_file: PathBuf,
    locked: Mutex<Option<File>>,
}

impl fmt::Debug for SqliteDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteDriver")
            .field("lock_file", &self.lock_file)
            .finish_non_exhaustive()
    }
}

impl SqliteDriver {
    pub(crate) fn new(conn: rusqlite::Connection, lock_file: PathBuf) -> Self {
        SqliteDriver {
            conn: Arc::new(Mutex::new(conn)),
            lock_file,
            locked: Mutex::new(None),
        }
    }
}

/// A blocking task that did not come back (it panicked or was cancelled).
#[derive(Debug)]
struct TaskLost(String);

impl fmt::Display for TaskLost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an SQLite task failed: {}", self.0)
    }
}

impl std::error::Error for TaskLost {}

fn lost(what: &str) -> DbError {
    Box::new(TaskLost(what.into()))
}

impl DestinationError for TaskLost {
    fn retry(&self) -> Retry {
        Retry::Terminal
    }
    fn sqlstate(&self) -> Option<&str> {
        None
    }
}

/// The connection, held exclusively until dropped.
pub(crate) struct SqliteConn {
    guard: Option<OwnedMutexGuard<rusqlite::Connection>>,
    /// The open read, which holds the connection meanwhile.
    read: Option<ReadThread>,
}

impl SqliteConn {
    /// Runs `f` with the connection on a blocking thread.
    async fn with<T, F>(&mut self, f: F) -> Result<T, TaskLost>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> T + Send + 'static,
    {
        let mut guard = self
            .guard
            .take()
            .ok_or_else(|| TaskLost("the connection was lost by an earlier task".into()))?;
        let (guard, out) = tokio::task::spawn_blocking(move || {
            let out = f(&mut guard);
            (guard, out)
        })
        .await
        .map_err(|e| TaskLost(e.to_string()))?;
        self.guard = Some(guard);
        Ok(out)
    }

    /// [`with`](Self::with) for a driver call.
    async fn run<T, F>(&mut self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        match self.with(f).await {
            Ok(out) => out.map_err(|e| Box::new(SqliteError(e)) as DbError),
            Err(lost) => Err(Box::new(lost)),
        }
    }
}

fn bind(params: &[Param<'_>]) -> Vec<Sql> {
    params
        .iter()
        .map(|p| match p {
            Param::Text(s) => Sql::Text((*s).to_string()),
            Param::Int(n) => Sql::Integer(*n),
        })
        .collect()
}

fn value(v: ValueRef<'_>) -> SqlValue {
    match v {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(n) => SqlValue::Int(n),
        ValueRef::Real(x) => SqlValue::Text(x.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            SqlValue::Text(String::from_utf8_lossy(t).into_owned())
        }
    }
}

/// A value of a user's query as text: blobs as hex.
fn text_of(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(n) => Some(n.to_string()),
        ValueRef::Real(x) => Some(x.to_string()),
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Some(dest_core::hex_text(b)),
    }
}

#[async_trait]
impl Connection for SqliteConn {
    async fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        let sql = sql.to_string();
        self.run(move |c| c.execute_batch(&sql)).await
    }

    async fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, DbError> {
        let (sql, params) = (sql.to_string(), bind(params));
        self.run(move |c| {
            let n = c
                .prepare_cached(&sql)?
                .execute(rusqlite::params_from_iter(params))?;
            Ok(n as u64)
        })
        .await
    }

    async fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, DbError> {
        let (sql, params) = (sql.to_string(), bind(params));
        self.run(move |c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let n = stmt.column_count();
            let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(
                    (0..n)
                        .map(|i| r.get_ref(i).map(value))
                        .collect::<rusqlite::Result<Row>>()?,
                );
            }
            Ok(out)
        })
        .await
    }

    /// With `PRAGMA query_only` on (no statement may write): the dataset's file is attached
    /// under its name, so its tables are found by their names alone (after `main`'s).
    /// Values as SQLite prints them; blobs as hex.
    async fn read_query(&mut self, _dataset: &str, sql: &str) -> Result<QueryRows, DbError> {
        let sql = sql.to_string();
        self.run(move |c| {
            c.execute_batch(QUERY_ONLY_ON)?;
            let result = (|| {
                let mut stmt = c.prepare(&sql)?;
                let columns: Vec<String> =
                    stmt.column_names().iter().map(|n| n.to_string()).collect();
                let n = columns.len();
                let mut rows = stmt.query([])?;
                let mut out = QueryRows {
                    columns,
                    rows: Vec::new(),
                };
                while let Some(r) = rows.next()? {
                    let row = (0..n)
                        .map(|i| r.get_ref(i).map(text_of))
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    out.rows.push(row);
                }
                Ok(out)
            })();
            c.execute_batch(QUERY_ONLY_OFF)?;
            result
        })
        .await
    }

    async fn read_open(
        &mut self,
        _dataset: &str,
        sql: &str,
        params: &[Value],
        types: &[Option<DataType>],
    ) -> Result<Vec<ReadColumn>, DbError> {
        let guard = self
            .guard
            .take()
            .ok_or_else(|| lost("the connection was lost by an earlier task"))?;
        let (thread, columns) =
            ReadThread::start(guard, sql.to_string(), params.to_vec(), types.to_vec())
                .await
                .map_err(|e| Box::new(SqliteError(e)) as DbError)?;
        self.read = Some(thread);
        Ok(columns)
    }

    async fn read_next(&mut self, max_rows: usize) -> Result<Vec<Vec<Value>>, DbError> {
        match self.read.as_mut() {
            Some(read) => read
                .next(max_rows)
                .await
                .map_err(|e| Box::new(SqliteError(e)) as DbError),
            None => Ok(Vec::new()),
        }
    }

    async fn read_close(&mut self) -> Result<(), DbError> {
        if let Some(read) = self.read.take() {
            self.guard = Some(
                read.finish()
                    .await
                    .ok_or_else(|| lost("the read thread did not give the connection back"))?,
            );
        }
        Ok(())
    }

    async fn existing_columns(
        &mut self,
        dataset: &str,
        tables: &[&str],
    ) -> Result<HashMap<String, HashSet<String>>, DbError> {
        let dataset = dataset.to_string();
        let tables: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
        self.run(move |c| {
            let mut stmt = c.prepare_cached("SELECT name FROM pragma_table_info(?1, ?2)")?;
            let mut out = HashMap::new();
            for t in tables {
                let cols = stmt
                    .query_map((&t, &dataset), |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<HashSet<_>>>()?;
                if !cols.is_empty() {
                    out.insert(t, cols);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn load_job(&mut self, job: &LoadJob, table: &str) -> Result<u64> {
        let (job, table) = (job.clone(), table.to_string());
        self.with(move |c| match job.format {
            LoaderFileFormat::TypedJsonl => {
                let file = File::open(&job.file)
                    .map_err(|e| Error::io("opening a job file", &job.file, e))?;
                let reader = Reader::open(
                    BufReader::with_capacity(256 * 1024, file),
                    job.file.display().to_string(),
                )?;
                load_rows(c, &job, &table, reader)
            }
            LoaderFileFormat::Parquet => load_rows(c, &job, &table, ParquetRows::open(&job.file)?),
            other => Err(Error::Unsupported {
                destination: crate::NAME.into(),
                what: format!("loader file format `{other}`"),
                hint: Some(format!(
                    "supported: {}, {}",
                    LoaderFileFormat::TypedJsonl,
                    LoaderFileFormat::Parquet
                )),
            }),
        })
        .await
        .map_err(|lost| Error::Internal(lost.to_string()))?
    }
}

/// Loads the rows of one job file into `table` inside the open transaction; returns the
/// rows inserted.
fn load_rows(
    conn: &rusqlite::Connection,
    job: &LoadJob,
    table: &str,
    mut reader: impl RowSource,
) -> Result<u64> {
    let ctx = format!("loading {} into {table}", job.file.display());
    let columns = reader.columns().to_vec();
    let ncols = columns.len();
    if ncols == 0 {
        return Ok(0);
    }
    let batch = (MAX_PARAMS / ncols).clamp(1, MAX_BATCH_ROWS);
    let full = insert_rows(table, &columns, batch);
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
                partial = insert_rows(table, &columns, pending);
                &partial
            };
            let mut stmt = conn.prepare_cached(sql).map_err(|e| db_err(&ctx, e))?;
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

// doc:start driver
#[async_trait]
impl Driver for SqliteDriver {
    type Conn = SqliteConn;

    fn dialect(&self) -> &dyn Dialect {
        &SQLITE
    }

    /// The connection, once whoever holds it is done; a transaction a dropped holder left
    /// open is rolled back first.
    async fn acquire(&self) -> Result<SqliteConn> {
        let mut conn = SqliteConn {
            guard: Some(self.conn.clone().lock_owned().await),
            read: None,
        };
        if conn.guard.as_ref().is_some_and(|c| !c.is_autocommit()) {
            conn.batch("ROLLBACK")
                .await
                .map_err(|cause| Error::Database {
                    context: "rolling back an abandoned transaction".into(),
                    cause,
                })?;
        }
        Ok(conn)
    }

    fn release(&self, conn: SqliteConn) {
        drop(conn);
    }

    /// One connection serves every load: sessions would hold it while others wait.
    fn sessions(&self) -> bool {
        false
    }

    async fn lock_staging(&self, _staging: &str, wait: bool) -> Result<StagingLock> {
        self.lock_file(wait).await
    }

    async fn unlock_staging(&self, _staging: &str) -> Result<()> {
        // closing the file releases the lock
        self.locked.lock().await.take();
        Ok(())
    }
}
// doc:end driver

impl SqliteDriver {
    /// Takes the OS lock of the staging lock file (waits for it when `wait`).
    async fn lock_file(&self, wait: bool) -> Result<StagingLock> {
        let mut held = self.locked.lock().await;
        if held.is_some() {
            return Ok(StagingLock::Held);
        }
        let path = self.lock_file.clone();
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
}
