//! PostgreSQL under the SQL engine of `dest-sql`: pooled connections, parameters and rows
//! in PostgreSQL's types, the three job formats' loaders, the staging lock and the server
//! version check of upsert.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dest_core::{
    DataType, Error, FollowUp, LoadJob, LoaderFileFormat, QueryRows, ReadColumn, Result,
    StagingLock, Value,
};
use dest_sql::{Connection, DbError, Dialect, Driver, Param, Row, SqlValue};
use postgres_types::{ToSql, Type};
use tokio::io::AsyncBufReadExt;
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::client::{db_err, PgError, Pool};
use crate::config::{InsertValuesExecution, PostgresSettings};
use crate::insert_values::TABLE_PLACEHOLDER;
use crate::read;
use crate::sql::{EXISTING_COLUMNS, PG, SERVER_VERSION};
use crate::staging_lock::StagingLocks;

/// The first PostgreSQL version with MERGE (`server_version_num`).
const MERGE_MIN_VERSION: i32 = 150_000;

/// The pool of a client and its staging lock.
#[derive(Debug)]
pub(crate) struct PgDriver {
    pub(crate) pool: Pool,
    pub(crate) settings: Arc<PostgresSettings>,
    pub(crate) staging_lock: StagingLocks,
}

/// A pooled connection.
pub(crate) struct PgConn {
    client: Client,
    settings: Arc<PostgresSettings>,
    /// The result column types of the open read ([`Connection::read_open`]).
    read_types: Vec<Type>,
}

fn boxed(e: tokio_postgres::Error) -> DbError {
    Box::new(PgError(e))
}

fn params<'a>(params: &'a [Param<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| match p {
            Param::Text(s) => s as &(dyn ToSql + Sync),
            Param::Int(n) => n as &(dyn ToSql + Sync),
        })
        .collect()
}

/// A result value in the engine's terms: integers, text, timestamps (booleans as 0 / 1).
fn value(row: &tokio_postgres::Row, i: usize) -> Result<SqlValue, tokio_postgres::Error> {
    let ty = row.columns()[i].type_();
    Ok(if *ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i)?
            .map_or(SqlValue::Null, SqlValue::Int)
    } else if *ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(i)?
            .map_or(SqlValue::Null, |n| SqlValue::Int(n.into()))
    } else if *ty == Type::INT2 {
        row.try_get::<_, Option<i16>>(i)?
            .map_or(SqlValue::Null, |n| SqlValue::Int(n.into()))
    } else if *ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(i)?
            .map_or(SqlValue::Null, |b| SqlValue::Int(b.into()))
    } else if *ty == Type::TIMESTAMPTZ {
        row.try_get::<_, Option<DateTime<Utc>>>(i)?
            .map_or(SqlValue::Null, SqlValue::Timestamp)
    } else {
        row.try_get::<_, Option<String>>(i)?
            .map_or(SqlValue::Null, SqlValue::Text)
    })
}

#[async_trait]
impl Connection for PgConn {
    async fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.client.batch_execute(sql).await.map_err(boxed)
    }

    async fn execute(&mut self, sql: &str, p: &[Param<'_>]) -> Result<u64, DbError> {
        self.client.execute(sql, &params(p)).await.map_err(boxed)
    }

    async fn query(&mut self, sql: &str, p: &[Param<'_>]) -> Result<Vec<Row>, DbError> {
        let rows = self.client.query(sql, &params(p)).await.map_err(boxed)?;
        rows.iter()
            .map(|r| (0..r.len()).map(|i| value(r, i)).collect())
            .collect::<Result<_, _>>()
            .map_err(boxed)
    }

    /// `BEGIN READ ONLY` with the dataset first on the search path (then `public`, where
    /// extensions such as PostGIS live), the query as a simple query (values as text, the
    /// server's own rendering), and `ROLLBACK` whatever happened.
    async fn read_query(&mut self, dataset: &str, sql: &str) -> Result<QueryRows, DbError> {
        let begin = crate::sql::read_begin(dataset);
        self.client.batch_execute(&begin).await.map_err(boxed)?;
        let result = self.client.simple_query(sql).await;
        let rollback = self.client.batch_execute(crate::sql::READ_END).await;
        let messages = result.map_err(boxed)?;
        rollback.map_err(boxed)?;
        let mut out = QueryRows::default();
        for m in messages {
            match m {
                SimpleQueryMessage::RowDescription(columns) => {
                    // a new statement's rows: the last one's are returned
                    out.columns = columns.iter().map(|c| c.name().to_string()).collect();
                    out.rows.clear();
                }
                SimpleQueryMessage::Row(row) => out.rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                ),
                _ => {}
            }
        }
        Ok(out)
    }

    /// `BEGIN READ ONLY` (one snapshot) with the dataset first on the search path, the
    /// query prepared (its column types) and declared as a cursor with its parameters in
    /// text form; rows are fetched in text form and typed by column type.
    async fn read_open(
        &mut self,
        dataset: &str,
        sql: &str,
        params: &[Value],
        types: &[Option<DataType>],
    ) -> Result<Vec<ReadColumn>, DbError> {
        let begin = crate::sql::read_begin(dataset);
        self.client.batch_execute(&begin).await.map_err(boxed)?;
        let sql = sql.trim_end().trim_end_matches(';');
        let statement = self.client.prepare(sql).await.map_err(boxed)?;
        let bound: Vec<read::TextParam> = params
            .iter()
            .map(|p| read::TextParam(read::param_text(p)))
            .collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            bound.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let declare = crate::sql::declare_read_cursor(sql);
        self.client
            .execute(declare.as_str(), &refs)
            .await
            .map_err(boxed)?;
        self.read_types = statement
            .columns()
            .iter()
            .map(|c| c.type_().clone())
            .collect();
        Ok(statement
            .columns()
            .iter()
            .enumerate()
            .map(|(i, c)| ReadColumn {
                name: c.name().to_string(),
                data_type: Some(
                    types
                        .get(i)
                        .copied()
                        .flatten()
                        .unwrap_or_else(|| read::column_type(c.type_())),
                ),
            })
            .collect())
    }

    async fn read_next(&mut self, max_rows: usize) -> Result<Vec<Vec<Value>>, DbError> {
        let fetch = crate::sql::fetch_read_cursor(max_rows);
        let messages = self.client.simple_query(&fetch).await.map_err(boxed)?;
        let mut rows = Vec::new();
        for m in messages {
            if let SimpleQueryMessage::Row(row) = m {
                rows.push(
                    (0..row.len())
                        .map(|i| match (row.get(i), self.read_types.get(i)) {
                            (None, _) => Value::Null,
                            (Some(s), Some(ty)) => read::text_value(ty, s),
                            (Some(s), None) => Value::Text(s.to_string()),
                        })
                        .collect(),
                );
            }
        }
        Ok(rows)
    }

    async fn read_close(&mut self) -> Result<(), DbError> {
        self.read_types.clear();
        self.client
            .batch_execute(crate::sql::READ_END)
            .await
            .map_err(boxed)
    }

    async fn existing_columns(
        &mut self,
        dataset: &str,
        tables: &[&str],
    ) -> Result<HashMap<String, HashSet<String>>, DbError> {
        let rows = self
            .client
            .query(EXISTING_COLUMNS, &[&dataset, &tables])
            .await
            .map_err(boxed)?;
        let mut out: HashMap<String, HashSet<String>> = HashMap::new();
        for r in rows {
            let t: String = r.try_get(0).map_err(boxed)?;
            let c: String = r.try_get(1).map_err(boxed)?;
            out.entry(t).or_default().insert(c);
        }
        Ok(out)
    }

    /// The query alone: a missing table or schema is its error (`42P01`, `3F000`), and an
    /// error for anything else (a privilege) is the user's to see.
    async fn query_if_exists(
        &mut self,
        _dataset: &str,
        _tables: &[&str],
        sql: &str,
        p: &[Param<'_>],
    ) -> Result<Option<Vec<Row>>, DbError> {
        match self.query(sql, p).await {
            Ok(rows) => Ok(Some(rows)),
            Err(e) if matches!(e.sqlstate(), Some("42P01" | "3F000")) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn load_job(&mut self, job: &LoadJob, table: &str) -> Result<u64> {
        let ctx = format!("loading {} into {table}", job.file.display());
        match job.format {
            LoaderFileFormat::Csv => crate::csv::copy_file(&self.client, table, &job.file).await,
            LoaderFileFormat::Parquet => {
                crate::binary_copy::copy_parquet(&self.client, table, &job.file).await
            }
            LoaderFileFormat::InsertValues => match self.settings.insert_values_execution {
                InsertValuesExecution::Bound => {
                    let batch = self.settings.max_statement_bytes;
                    crate::bound::execute_bound(&self.client, table, &job.file, &ctx, batch).await
                }
                _ => self.insert_values_text(job, table, &ctx).await,
            },
            other => Err(Error::Unsupported {
                destination: crate::NAME.into(),
                what: format!("loader file format `{other}`"),
                hint: None,
            }),
        }
    }
}

impl PgConn {
    /// Runs an `insert_values` job file's statements as they are; returns the rows.
    async fn insert_values_text(&self, job: &LoadJob, table: &str, ctx: &str) -> Result<u64> {
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
                let header = String::from_utf8_lossy(text).replacen(TABLE_PLACEHOLDER, table, 1);
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
                self.client
                    .batch_execute(sql)
                    .await
                    .map_err(|e| db_err(ctx, e))?;
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
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &line[..end]
}

#[async_trait]
impl Driver for PgDriver {
    type Conn = PgConn;

    fn dialect(&self) -> &dyn Dialect {
        &PG
    }

    async fn acquire(&self) -> Result<PgConn> {
        Ok(PgConn {
            client: self.pool.get().await?,
            settings: self.settings.clone(),
            read_types: Vec::new(),
        })
    }

    fn release(&self, conn: PgConn) {
        self.pool.put(conn.client);
    }

    async fn lock_staging(&self, staging: &str, wait: bool) -> Result<StagingLock> {
        self.staging_lock.lock(&self.pool, staging, wait).await
    }

    async fn unlock_staging(&self, staging: &str) -> Result<()> {
        self.staging_lock.unlock(&self.pool, staging).await
    }

    async fn verify_staging_lock(&self, conn: &mut PgConn, staging: &str, ctx: &str) -> Result<()> {
        self.staging_lock.verify(&conn.client, staging, ctx).await
    }

    /// MERGE (upsert) needs PostgreSQL 15.
    async fn check_follow_up(&self, conn: &mut PgConn, kind: FollowUp, ctx: &str) -> Result<()> {
        if kind != FollowUp::Upsert {
            return Ok(());
        }
        let version: i32 = conn
            .client
            .query_one(SERVER_VERSION, &[])
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| db_err(format!("{ctx}: reading the server version"), e))?;
        if version >= MERGE_MIN_VERSION {
            return Ok(());
        }
        Err(Error::Unsupported {
            destination: crate::NAME.into(),
            what: format!(
                "merge strategy `upsert` on PostgreSQL {}.{} (server_version_num {version})",
                version / 10_000,
                version % 10_000
            ),
            hint: Some(
                "upsert uses MERGE, which needs PostgreSQL 15 or later; use the delete-insert \
                 merge strategy"
                    .into(),
            ),
        })
    }
}
