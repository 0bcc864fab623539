//! The PostgreSQL source: the catalog queries that reflect a schema's tables, the statement
//! that reads a table (each row rendered by the server as one JSON object), and the row
//! stream. This is the PostgreSQL source's SQL: identifiers are quoted by
//! `dest_postgres::quote_ident`, values are bound as parameters.

use std::pin::Pin;

use dest_postgres::{quote_ident, PostgresCredentials};
use futures_util::{stream, Stream, StreamExt};
use pipeline::{Incremental, ItemError, Resource};
use tokio_postgres::{Client, RowStream};

use crate::reflect::{dlt_column, SqlColumn, SqlTable};
use crate::SqlSourceError;

/// The base tables' columns of schema `$1`, in table and column order.
const COLUMNS: &str = "SELECT c.table_name::text, c.column_name::text, c.data_type::text, \
     c.is_nullable = 'YES', c.numeric_precision::int4, c.numeric_scale::int4 \
     FROM information_schema.columns c \
     JOIN information_schema.tables t \
       ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
     WHERE c.table_schema = $1 AND t.table_type = 'BASE TABLE' \
     ORDER BY c.table_name COLLATE \"C\", c.ordinal_position";

/// The primary key columns of the tables of schema `$1`, in key order.
const PRIMARY_KEYS: &str = "SELECT k.table_name::text, k.column_name::text \
     FROM information_schema.table_constraints tc \
     JOIN information_schema.key_column_usage k \
       ON k.constraint_schema = tc.constraint_schema \
      AND k.constraint_name = tc.constraint_name \
      AND k.table_name = tc.table_name \
     WHERE tc.table_schema = $1 AND tc.constraint_type = 'PRIMARY KEY' \
     ORDER BY k.table_name, k.ordinal_position";

const CURRENT_SCHEMA: &str = "SELECT current_schema()::text";

/// Timestamps with a zone are rendered in UTC (`+00:00`), whatever the server's setting.
const SESSION_SETUP: &str = "SET TIME ZONE 'UTC'";

/// A database to read tables from (dlt's `sql_database`).
#[derive(Debug, Clone)]
pub struct SqlDatabase {
    credentials: PostgresCredentials,
    schema: Option<String>,
}

impl SqlDatabase {
    /// A source from a URL: `postgresql://user:password@host:port/database?sslmode=...`.
    ///
    /// # Errors
    /// Another scheme, or a URL the PostgreSQL destination would not accept either (the
    /// message shows it with its password replaced by `***`).
    pub fn from_url(url: &str) -> Result<Self, SqlSourceError> {
        let scheme = match url.split_once("://") {
            Some((scheme, _)) => scheme.to_ascii_lowercase(),
            None => return Err(SqlSourceError::NotAUrl),
        };
        match scheme.as_str() {
            "postgresql" | "postgres" => Ok(SqlDatabase {
                credentials: PostgresCredentials::parse_url(url)?,
                schema: None,
            }),
            _ => Err(SqlSourceError::UnsupportedScheme { scheme }),
        }
    }

    /// Reads the tables of `schema` (default: the connection's current schema, as dlt).
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The tables named (all base tables of the schema when `names` is empty), reflected.
    ///
    /// # Errors
    /// The connection fails, a named table is not in the schema (all such are named), or
    /// the schema has no tables.
    pub async fn reflect(&self, names: &[String]) -> Result<Vec<SqlTable>, SqlSourceError> {
        let client = dest_postgres::connect(&self.credentials).await?;
        let schema = match &self.schema {
            Some(s) => s.clone(),
            None => client
                .query_one(CURRENT_SCHEMA, &[])
                .await
                .map_err(db("finding the current schema"))?
                .get::<_, Option<String>>(0)
                .unwrap_or_else(|| "public".to_string()),
        };
        let context = format!("reading the tables of schema `{schema}`");
        let mut tables: Vec<SqlTable> = Vec::new();
        for row in client
            .query(COLUMNS, &[&schema])
            .await
            .map_err(db(&context))?
        {
            let table: String = row.get(0);
            let column = SqlColumn {
                name: row.get(1),
                db_type: row.get(2),
                nullable: row.get::<_, Option<bool>>(3).unwrap_or(true),
                precision: row
                    .get::<_, Option<i32>>(4)
                    .and_then(|p| u32::try_from(p).ok()),
                scale: row
                    .get::<_, Option<i32>>(5)
                    .and_then(|s| u32::try_from(s).ok()),
            };
            match tables.last_mut() {
                Some(t) if t.name == table => t.columns.push(column),
                _ => tables.push(SqlTable {
                    schema: schema.clone(),
                    name: table,
                    columns: vec![column],
                    primary_key: Vec::new(),
                }),
            }
        }
        for row in client
            .query(PRIMARY_KEYS, &[&schema])
            .await
            .map_err(db(&context))?
        {
            let table: String = row.get(0);
            if let Some(t) = tables.iter_mut().find(|t| t.name == table) {
                t.primary_key.push(row.get(1));
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
    /// The table has no such column, or its type cannot be compared (json, arrays, bytea,
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
        let cast = cursor_cast(&column.db_type).ok_or_else(|| SqlSourceError::CursorType {
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
            if dlt_column(c).data_type.is_none() {
                tracing::warn!(
                    "table `{}.{}`: column `{}` has type `{}`, which dlt does not map; its \
                     values are loaded as the server renders them in JSON (text for most), \
                     and its type is inferred from them, as dlt does",
                    table.schema,
                    table.name,
                    c.name,
                    c.db_type
                );
            }
        }
        let columns = table.columns.iter().map(dlt_column).collect();
        let credentials = self.credentials.clone();
        let table_owned = table.clone();
        Resource::from_cursor_json_line_stream(&table.name, move |start| {
            let since = match (cursor, start) {
                (Some((column, cast)), Some(start)) => Some(Since {
                    column,
                    cast,
                    value: match start {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    },
                }),
                _ => None,
            };
            rows(credentials, &table_owned, since)
        })
        .columns(columns)
        .primary_key(table.primary_key.iter().cloned())
    }
}

/// The type a cursor's start value (text) is cast to before comparing, by the column's
/// catalog type; `None` for types that cannot be a cursor.
fn cursor_cast(db_type: &str) -> Option<&'static str> {
    Some(match db_type {
        "smallint" | "integer" | "bigint" => "bigint",
        "numeric" | "decimal" => "numeric",
        "real" | "double precision" => "double precision",
        "character varying" | "character" | "text" | "name" => "text",
        "uuid" => "uuid",
        "date" => "date",
        "timestamp without time zone" => "timestamp without time zone",
        "timestamp with time zone" => "timestamp with time zone",
        "time without time zone" => "time without time zone",
        "time with time zone" => "time with time zone",
        _ => return None,
    })
}

/// Rows from a cursor value on: `column >= CAST(value AS cast)`.
struct Since {
    column: String,
    cast: &'static str,
    value: String,
}

fn db(context: &str) -> impl Fn(tokio_postgres::Error) -> SqlSourceError + '_ {
    move |source| SqlSourceError::Database {
        context: context.to_string(),
        source,
    }
}

/// The statement that reads `table`: each row as one JSON object, columns in table order,
/// `bytea` as `0x` + hex (which dlt's coercion into `binary` reads).
fn select_rows(table: &SqlTable, since: Option<&Since>) -> String {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|c| {
            let name = quote_ident(&c.name);
            if c.db_type == "bytea" {
                format!("'0x' || encode({name}, 'hex') AS {name}")
            } else {
                name
            }
        })
        .collect();
    let filter = match since {
        Some(s) => format!(
            " WHERE {} >= CAST($1::text AS {})",
            quote_ident(&s.column),
            s.cast
        ),
        None => String::new(),
    };
    format!(
        "SELECT row_to_json(r)::text FROM (SELECT {} FROM {}.{}{filter}) AS r",
        columns.join(", "),
        quote_ident(&table.schema),
        quote_ident(&table.name)
    )
}

enum Read {
    Start(PostgresCredentials),
    Rows {
        /// Keeps the connection open while its rows stream.
        _client: Client,
        rows: Pin<Box<RowStream>>,
        read: u64,
    },
    Done,
}

/// The rows of `table` as JSON text, one object per row; the connection is opened when the
/// stream is first polled. An error ends the stream (the run then loads nothing of it).
fn rows(
    credentials: PostgresCredentials,
    table: &SqlTable,
    since: Option<Since>,
) -> impl Stream<Item = Result<Vec<u8>, ItemError>> + Send + 'static {
    let source_name = format!("table `{}.{}`", table.schema, table.name);
    let sql = select_rows(table, since.as_ref());
    let params: Vec<String> = since.into_iter().map(|s| s.value).collect();
    stream::unfold(Read::Start(credentials), move |state| {
        let source_name = source_name.clone();
        let sql = sql.clone();
        let params = params.clone();
        async move {
            let fail = |position: String, message: String| {
                Some((
                    Err(ItemError {
                        source_name: source_name.clone(),
                        position,
                        message,
                    }),
                    Read::Done,
                ))
            };
            let (client, mut rows, read) = match state {
                Read::Done => return None,
                Read::Rows {
                    _client,
                    rows,
                    read,
                } => (_client, rows, read),
                Read::Start(credentials) => match open(&credentials, &sql, params).await {
                    Ok((client, rows)) => (client, Box::pin(rows), 0),
                    Err(e) => return fail("query".into(), e.to_string()),
                },
            };
            match rows.next().await {
                None => None,
                Some(Err(e)) => fail(
                    format!("row {}", read + 1),
                    format!("reading failed: {}", dest_postgres::PgError(e)),
                ),
                Some(Ok(row)) => match row.try_get::<_, &str>(0) {
                    Ok(text) => Some((
                        Ok(one_line(text)),
                        Read::Rows {
                            _client: client,
                            rows,
                            read: read + 1,
                        },
                    )),
                    Err(e) => fail(format!("row {}", read + 1), e.to_string()),
                },
            }
        }
    })
}

async fn open(
    credentials: &PostgresCredentials,
    sql: &str,
    params: Vec<String>,
) -> Result<(Client, RowStream), SqlSourceError> {
    let client = dest_postgres::connect(credentials).await?;
    client
        .batch_execute(SESSION_SETUP)
        .await
        .map_err(db("setting up the session"))?;
    let rows = client
        .query_raw(sql, params)
        .await
        .map_err(db("reading the table"))?;
    Ok((client, rows))
}

/// A row's JSON on one line: `json` values are embedded as stored, line breaks included.
fn one_line(text: &str) -> Vec<u8> {
    if !text.contains('\n') && !text.contains('\r') {
        return text.as_bytes().to_vec();
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => v.to_string().into_bytes(),
        // not JSON after all: the normalizer names the row
        Err(_) => text.replace(['\n', '\r'], " ").into_bytes(),
    }
}
