//! dlt's `sql_database` source: the tables of a database as resources, one per table, with
//! their columns reflected into dlt hints as dlt's default reflection (`reflection_level =
//! "full"`) gives them, and their primary keys as the resources' primary keys.
//!
//! Sources: PostgreSQL (`postgresql://` URLs, TLS as the destination's) and MySQL/MariaDB
//! (`mysql://` URLs) and SQLite (`sqlite:///path` URLs). Each table is read in one statement (one snapshot), streamed: rows go
//! into the package as they arrive, so memory does not grow with the table.
//!
//! Modules (private; the public items are re-exported below): `reflect` (database column
//! types → dlt column hints; pure), `postgres`, `mysql` and `sqlite` (each database's catalog queries,
//! read statement and row stream: that source's SQL), `binary` (PostgreSQL's binary `COPY`
//! format decoded into Arrow record batches: the columnar read; pure).
//!
//! A PostgreSQL table is read columnar (binary `COPY` into Arrow batches, loaded with dlt's
//! Arrow path but with the row-by-row read's table: same columns, types, `_dlt_load_id` and
//! `_dlt_id`) unless one of its columns has a type that path does not decode
//! ([`SqlDatabase::columnar`]).

mod binary;
mod mysql;
mod postgres;
mod reflect;
mod sqlite;

use columnar::arrow_array::RecordBatch;
use dest_postgres::PostgresCredentials;
use futures_util::Stream;
use pipeline::{Incremental, ItemError, Resource};

pub use reflect::{dlt_column, Dialect, SqlColumn, SqlTable};

/// Errors of the `sql_database` source. Each names the database, table or column it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlSourceError {
    #[error("`{scheme}://` sources are not supported yet (supported: postgresql://, mysql://, sqlite:///)")]
    UnsupportedScheme { scheme: String },

    #[error("the source is not a database URL (expected e.g. postgresql://user@host:5432/db or mysql://user@host:3306/db)")]
    NotAUrl,

    #[error("the source URL is not valid: {reason}")]
    BadUrl { reason: String },

    #[error(transparent)]
    Connection(#[from] dest_core::Error),

    #[error("{context}: {source}")]
    Database {
        context: String,
        #[source]
        source: tokio_postgres::Error,
    },

    #[error("{context}: {source}")]
    Sqlite {
        context: String,
        #[source]
        source: rusqlite::Error,
    },

    #[error("{context}: {source}")]
    Mysql {
        context: String,
        #[source]
        source: mysql_async::Error,
    },

    #[error("schema `{schema}` has no table{} {}", if tables.len() == 1 { "" } else { "s" }, tables.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "))]
    UnknownTables { schema: String, tables: Vec<String> },

    #[error("table `{table}` has no column `{column}` (the incremental cursor)")]
    UnknownColumn { table: String, column: String },

    #[error("table `{table}`: column `{column}` has type `{db_type}`, which cannot be an incremental cursor (use a number, text, date, time or timestamp column)")]
    CursorType {
        table: String,
        column: String,
        db_type: String,
    },

    #[error("schema `{schema}` has no tables")]
    NoTables { schema: String },

    #[error("key range on table `{table}`: it has no column `{column}`")]
    UnknownRangeColumn { table: String, column: String },

    #[error("key range on table `{table}`: column `{column}` has type `{db_type}`, which cannot bound a range (use a number, text, date, time or timestamp column)")]
    RangeType {
        table: String,
        column: String,
        db_type: String,
    },
}

/// Which database a source reads, with how to reach it.
#[derive(Debug, Clone)]
enum Backend {
    Postgres(PostgresCredentials),
    Mysql(mysql::MysqlSource),
    Sqlite(sqlite::SqliteSource),
}

/// A database to read tables from (dlt's `sql_database`).
#[derive(Debug, Clone)]
pub struct SqlDatabase {
    backend: Backend,
    schema: Option<String>,
    /// Read PostgreSQL tables columnar where their types allow (default: yes).
    columnar: bool,
    /// Tables read only within a key range (see [`SqlDatabase::key_range`]).
    ranges: Vec<KeyRange>,
}

/// A table read only where `from <= column < to` ([`SqlDatabase::key_range`]).
#[derive(Debug, Clone)]
struct KeyRange {
    table: String,
    column: String,
    from: Option<String>,
    to: Option<String>,
}

/// The catalog of a schema as a backend reads it: the columns of each base table in table
/// and column order, and the primary key columns in key order.
pub(crate) struct Catalog {
    pub(crate) schema: String,
    pub(crate) columns: Vec<(String, SqlColumn)>,
    pub(crate) primary_keys: Vec<(String, String)>,
}

/// Which rows of a table a read takes: those where every bound holds. Each backend writes
/// the bounds as `column >= CAST(<parameter> AS cast)` or `column < ...`, the values bound
/// as parameters, never pasted into the statement.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub(crate) bounds: Vec<Bound>,
}

/// One bound of a [`Filter`]: `column >= value` (a cursor's start, a key range's start) or
/// `column < value` (a key range's end); the value (text) cast to the column's type.
#[derive(Debug, Clone)]
pub(crate) struct Bound {
    pub(crate) column: String,
    pub(crate) cast: &'static str,
    pub(crate) below: bool,
    pub(crate) value: String,
}

impl Bound {
    /// The comparison operator.
    pub(crate) fn op(&self) -> &'static str {
        if self.below {
            "<"
        } else {
            ">="
        }
    }
}

impl Filter {
    /// The values of the bounds, in order (the statement's parameters).
    pub(crate) fn values(&self) -> Vec<String> {
        self.bounds.iter().map(|b| b.value.clone()).collect()
    }
}

/// One row as a JSON object on one line, or the error that ended the read.
pub(crate) type Line = Result<Vec<u8>, ItemError>;

/// A batch of rows of a columnar read, or the error that ended it.
pub(crate) type Batch = Result<RecordBatch, ItemError>;

impl SqlDatabase {
    /// A source from a URL: `postgresql://user:password@host:port/database?sslmode=...` or
    /// `mysql://user:password@host:port/database`.
    ///
    /// # Errors
    /// Another scheme, or a URL that cannot be read (the message never shows the password).
    pub fn from_url(url: &str) -> Result<Self, SqlSourceError> {
        let scheme = match url.split_once("://") {
            Some((scheme, _)) => scheme.to_ascii_lowercase(),
            None => return Err(SqlSourceError::NotAUrl),
        };
        let backend = match scheme.as_str() {
            "postgresql" | "postgres" => Backend::Postgres(PostgresCredentials::parse_url(url)?),
            "mysql" | "mariadb" => Backend::Mysql(mysql::MysqlSource::parse_url(url)?),
            "sqlite" => Backend::Sqlite(sqlite::SqliteSource::parse_url(url)?),
            _ => return Err(SqlSourceError::UnsupportedScheme { scheme }),
        };
        Ok(SqlDatabase {
            backend,
            schema: None,
            columnar: true,
            ranges: Vec::new(),
        })
    }

    /// Reads the tables of `schema` (default: the connection's current schema, as dlt; for
    /// MySQL the database of the URL).
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Whether PostgreSQL tables are read columnar (the default): binary `COPY` decoded into
    /// Arrow record batches, loaded through the pipeline's Arrow path (straight into `parquet`
    /// jobs where the destination loads them) into the same table as the row-by-row read
    /// makes (reflected hints win, `_dlt_load_id` and `_dlt_id` added). `false`: each row as
    /// JSON (`row_to_json`), as before. A table with a column of a type the columnar read
    /// does not decode (`interval`, `time with time zone`, user-defined types...), and an
    /// incremental table whose cursor is `numeric` (its values compare as numbers only in
    /// JSON), is read row by row either way. MySQL is always read row by row.
    pub fn columnar(mut self, on: bool) -> Self {
        self.columnar = on;
        self
    }

    /// Reads `table` only where `from <= column < to` (either end may be open): one part of
    /// a big table, so several processes can load its parts into one dataset at once
    /// (docs/scale-out.md). The values are text, cast by the source database to the
    /// column's type and bound as parameters; [`Self::reflect`] checks that the column
    /// exists and has a type that compares (numbers, text, dates, times, timestamps).
    /// Combines with an incremental cursor (both bounds apply).
    pub fn key_range(
        mut self,
        table: impl Into<String>,
        column: impl Into<String>,
        from: Option<String>,
        to: Option<String>,
    ) -> Self {
        self.ranges.push(KeyRange {
            table: table.into(),
            column: column.into(),
            from,
            to,
        });
        self
    }

    /// The rows of a reflected PostgreSQL `table` as Arrow record batches (of at most 65,536
    /// rows), read with one binary `COPY` on a connection and thread of their own that start
    /// when the first batch is asked for and stay one batch ahead. `None` for a MySQL source
    /// or a table with a column the columnar read does not decode. An error (a dropped
    /// connection, a value that cannot be read) is the last item.
    pub fn record_batches(
        &self,
        table: &SqlTable,
    ) -> Option<impl Iterator<Item = Result<RecordBatch, ItemError>> + Send + 'static> {
        let Backend::Postgres(credentials) = &self.backend else {
            return None;
        };
        let plan = postgres::columnar_plan(table)?;
        Some(postgres::batches(
            credentials.clone(),
            table,
            &plan,
            Filter::default(),
        ))
    }

    fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Postgres(_) => Dialect::Postgres,
            Backend::Mysql(_) => Dialect::Mysql,
            Backend::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// The tables named (all base tables of the schema when `names` is empty), reflected.
    ///
    /// # Errors
    /// The connection fails, a named table is not in the schema (all such are named), or
    /// the schema has no tables.
    pub async fn reflect(&self, names: &[String]) -> Result<Vec<SqlTable>, SqlSourceError> {
        let catalog = match &self.backend {
            Backend::Postgres(c) => postgres::catalog(c, self.schema.as_deref()).await?,
            Backend::Mysql(m) => m.catalog(self.schema.as_deref()).await?,
            Backend::Sqlite(l) => l.catalog(self.schema.as_deref()).await?,
        };
        let dialect = self.dialect();
        let Catalog {
            schema,
            columns,
            primary_keys,
        } = catalog;
        let mut tables: Vec<SqlTable> = Vec::new();
        for (table, column) in columns {
            match tables.last_mut() {
                Some(t) if t.name == table => t.columns.push(column),
                _ => tables.push(SqlTable {
                    dialect,
                    schema: schema.clone(),
                    name: table,
                    columns: vec![column],
                    primary_key: Vec::new(),
                }),
            }
        }
        for (table, column) in primary_keys {
            if let Some(t) = tables.iter_mut().find(|t| t.name == table) {
                t.primary_key.push(column);
            }
        }
        for range in &self.ranges {
            if let Some(t) = tables.iter().find(|t| t.name == range.table) {
                range_bounds(t, range)?;
            }
        }
        if names.is_empty() {
            if tables.is_empty() {
                return Err(SqlSourceError::NoTables { schema });
            }
            return Ok(tables);
        }
        let unknown: Vec<String> = names
            .iter()
            .filter(|n| !tables.iter().any(|t| &t.name == *n))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(SqlSourceError::UnknownTables {
                schema,
                tables: unknown,
            });
        }
        Ok(names
            .iter()
            .filter_map(|n| tables.iter().find(|t| &t.name == n).cloned())
            .collect())
    }

    /// The resource of a reflected table: named after it, its columns' hints and its
    /// primary key given, its rows read in one statement when the pipeline extracts it.
    pub fn resource(&self, table: &SqlTable) -> Resource {
        self.table_resource(table, None)
    }

    /// [`Self::resource`] loaded incrementally on column `cursor`, as dlt's `sql_table` with
    /// `incremental`: only rows with `cursor >=` the saved last value (or `initial_value`
    /// on the first run) are read (`NULL`s are not), and the last value is kept in the
    /// pipeline state like every cursor's, with dlt's deduplication at the boundary.
    ///
    /// # Errors
    /// The table has no such column, or its type cannot be compared (json, arrays, binary,
    /// types dlt does not map).
    pub fn incremental_resource(
        &self,
        table: &SqlTable,
        cursor: &str,
        initial_value: Option<serde_json::Value>,
    ) -> Result<Resource, SqlSourceError> {
        let column = table
            .columns
            .iter()
            .find(|c| c.name == cursor)
            .ok_or_else(|| SqlSourceError::UnknownColumn {
                table: format!("{}.{}", table.schema, table.name),
                column: cursor.to_string(),
            })?;
        let cast = match table.dialect {
            Dialect::Postgres => postgres::cursor_cast(column),
            Dialect::Mysql => mysql::cursor_cast(column),
            Dialect::Sqlite => sqlite::cursor_cast(column),
        }
        .ok_or_else(|| SqlSourceError::CursorType {
            table: format!("{}.{}", table.schema, table.name),
            column: cursor.to_string(),
            db_type: column.db_type.clone(),
        })?;
        let mut incremental = Incremental::new(cursor);
        if let Some(v) = initial_value {
            incremental = incremental.initial_value(v);
        }
        Ok(self
            .table_resource(table, Some((column.name.clone(), cast)))
            .incremental(incremental))
    }

    fn table_resource(&self, table: &SqlTable, cursor: Option<(String, &'static str)>) -> Resource {
        for c in &table.columns {
            if dlt_column(table.dialect, c).data_type.is_none() {
                tracing::warn!(
                    "table `{}.{}`: column `{}` has type `{}`, which dlt does not map; its \
                     values are loaded as text (numbers as numbers) and its type is \
                     inferred from them, as dlt does",
                    table.schema,
                    table.name,
                    c.name,
                    c.db_type
                );
            }
        }
        // as dlt: a column of a type it does not map gets no hint at all (its type is
        // inferred from the values, and it comes after the hinted columns)
        let columns = table
            .columns
            .iter()
            .map(|c| dlt_column(table.dialect, c))
            .filter(|c| c.data_type.is_some())
            .collect();
        let backend = self.backend.clone();
        let table_owned = table.clone();
        // checked by `reflect`
        let ranged: Vec<Bound> = self
            .ranges
            .iter()
            .filter(|r| r.table == table.name)
            .filter_map(|r| range_bounds(table, r).ok())
            .flatten()
            .collect();
        let filter = move |cursor: Option<(String, &'static str)>, start| {
            let mut filter = Filter {
                bounds: ranged.clone(),
            };
            if let (Some((column, cast)), Some(start)) = (cursor, start) {
                filter.bounds.push(Bound {
                    column,
                    cast,
                    below: false,
                    value: match start {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    },
                });
            }
            filter
        };
        let resource = match (&backend, self.columnar_plan(table, cursor.as_ref())) {
            (Backend::Postgres(credentials), Some(plan)) => {
                let credentials = credentials.clone();
                Resource::from_cursor_record_batches(&table.name, move |start| {
                    postgres::batches(credentials, &table_owned, &plan, filter(cursor, start))
                })
                // the row-by-row read's table: dlt's sqlalchemy backend has these columns
                .dlt_columns(true)
            }
            _ => Resource::from_cursor_json_line_stream(&table.name, move |start| {
                rows(backend, table_owned, filter(cursor, start))
            }),
        };
        // tables are read at the same time, each on a connection of its own
        resource
            .columns(columns)
            .primary_key(table.primary_key.iter().cloned())
            .parallelized(true)
    }

    /// The columnar read of `table` when it is one (see [`Self::columnar`]).
    fn columnar_plan(
        &self,
        table: &SqlTable,
        cursor: Option<&(String, &'static str)>,
    ) -> Option<Vec<(binary::Wire, postgres::Cast)>> {
        if !self.columnar || !matches!(self.backend, Backend::Postgres(_)) {
            return None;
        }
        if cursor.is_some_and(|(_, cast)| *cast == "numeric") {
            return None;
        }
        postgres::columnar_plan(table)
    }
}

/// The bounds of a key range on `table`, or why it cannot bound it.
fn range_bounds(table: &SqlTable, range: &KeyRange) -> Result<Vec<Bound>, SqlSourceError> {
    let column = table
        .columns
        .iter()
        .find(|c| c.name == range.column)
        .ok_or_else(|| SqlSourceError::UnknownRangeColumn {
            table: format!("{}.{}", table.schema, table.name),
            column: range.column.clone(),
        })?;
    let cast = match table.dialect {
        Dialect::Postgres => postgres::cursor_cast(column),
        Dialect::Mysql => mysql::cursor_cast(column),
        Dialect::Sqlite => sqlite::cursor_cast(column),
    }
    .ok_or_else(|| SqlSourceError::RangeType {
        table: format!("{}.{}", table.schema, table.name),
        column: range.column.clone(),
        db_type: column.db_type.clone(),
    })?;
    let bound = |value: &Option<String>, below| {
        value.as_ref().map(|v| Bound {
            column: column.name.clone(),
            cast,
            below,
            value: v.clone(),
        })
    };
    Ok([bound(&range.from, false), bound(&range.to, true)]
        .into_iter()
        .flatten()
        .collect())
}

fn rows(
    backend: Backend,
    table: SqlTable,
    filter: Filter,
) -> std::pin::Pin<Box<dyn Stream<Item = Line> + Send>> {
    match backend {
        Backend::Postgres(credentials) => Box::pin(postgres::rows(credentials, &table, filter)),
        Backend::Mysql(source) => Box::pin(source.rows(table, filter)),
        Backend::Sqlite(source) => Box::pin(source.rows(table, filter)),
    }
}

/// Rows rendered per message of the channel between a reading task and the pipeline.
pub(crate) const CHUNK: usize = 512;
/// Messages the channel holds: at most `CHUNK * DEPTH` rows wait in memory.
const DEPTH: usize = 8;

/// The lines a reader sends in chunks through a bounded channel, as a stream; `start`
/// (which spawns the reader, given the sending end) runs when the stream is first polled.
/// The stream ends when the reader drops the sender; the reader stops when a send fails
/// (the pipeline stopped reading).
pub(crate) fn channel_lines(
    start: impl FnOnce(tokio::sync::mpsc::Sender<Vec<Line>>) + Send + 'static,
) -> impl Stream<Item = Line> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<Line>>(DEPTH);
    let mut started = Some((start, tx));
    futures_util::stream::unfold(
        (rx, std::collections::VecDeque::<Line>::new()),
        move |(mut rx, mut buffered)| {
            if let Some((start, tx)) = started.take() {
                start(tx);
            }
            async move {
                loop {
                    if let Some(line) = buffered.pop_front() {
                        return Some((line, (rx, buffered)));
                    }
                    buffered.extend(rx.recv().await?);
                }
            }
        },
    )
}
