//! The PostgreSQL source: the catalog queries that reflect a schema's tables, the two ways
//! to read a table — columnar (`COPY (SELECT ...) TO STDOUT (FORMAT binary)`, decoded by
//! `binary` into Arrow batches on a reader thread) and row by row (each row rendered by the
//! server as one JSON object) — and their streams. This is the PostgreSQL source's SQL:
//! identifiers are quoted by `dest_postgres::quote_ident`, values are bound as parameters
//! (the columnar read's cursor value too: `COPY` takes no parameters, so it is bound into a
//! session setting that the statement reads).

use std::pin::Pin;

use dest_postgres::{quote_ident, PostgresCredentials};
use futures_util::{stream, Stream, StreamExt};
use pipeline::ItemError;
use tokio_postgres::{Client, RowStream};

use crate::binary::{Decoder, Wire};
use crate::reflect::{SqlColumn, SqlTable};
use crate::{Batch, Catalog, Filter, Line, SqlSourceError};

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

/// The catalog of `schema` (default: the connection's current schema).
pub(crate) async fn catalog(
    credentials: &PostgresCredentials,
    schema: Option<&str>,
) -> Result<Catalog, SqlSourceError> {
    let client = dest_postgres::connect(credentials).await?;
    let schema = match schema {
        Some(s) => s.to_string(),
        None => client
            .query_one(CURRENT_SCHEMA, &[])
            .await
            .map_err(db("finding the current schema"))?
            .get::<_, Option<String>>(0)
            .unwrap_or_else(|| "public".to_string()),
    };
    let context = format!("reading the tables of schema `{schema}`");
    let columns = client
        .query(COLUMNS, &[&schema])
        .await
        .map_err(db(&context))?
        .into_iter()
        .map(|row| {
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
                unsigned: false,
            };
            (row.get::<_, String>(0), column)
        })
        .collect();
    let primary_keys = client
        .query(PRIMARY_KEYS, &[&schema])
        .await
        .map_err(db(&context))?
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    Ok(Catalog {
        schema,
        columns,
        primary_keys,
    })
}

/// The type a cursor's start value (text) is cast to before comparing, by the column's
/// catalog type; `None` for types that cannot be a cursor.
pub(crate) fn cursor_cast(column: &SqlColumn) -> Option<&'static str> {
    Some(match column.db_type.as_str() {
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

fn db(context: &str) -> impl Fn(tokio_postgres::Error) -> SqlSourceError + '_ {
    move |source| SqlSourceError::Database {
        context: context.to_string(),
        source,
    }
}

/// The statement that reads `table`: each row as one JSON object, columns in table order,
/// `bytea` as `0x` + hex (which dlt's coercion into `binary` reads).
fn select_rows(table: &SqlTable, filter: &Filter) -> String {
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
    let filter = where_clause(filter, |i| format!("${i}::text"));
    format!(
        "SELECT row_to_json(r)::text FROM (SELECT {} FROM {}.{}{filter}) AS r",
        columns.join(", "),
        quote_ident(&table.schema),
        quote_ident(&table.name)
    )
}

/// ` WHERE a >= CAST(<p1> AS t) AND b < CAST(<p2> AS t)` for the bounds of `filter` (empty
/// without bounds); `parameter(i)` is the `i`th value's placeholder (from 1).
fn where_clause(filter: &Filter, parameter: impl Fn(usize) -> String) -> String {
    if filter.bounds.is_empty() {
        return String::new();
    }
    let conditions: Vec<String> = filter
        .bounds
        .iter()
        .enumerate()
        .map(|(i, b)| {
            format!(
                "{} {} CAST({} AS {})",
                quote_ident(&b.column),
                b.op(),
                parameter(i + 1),
                b.cast
            )
        })
        .collect();
    format!(" WHERE {}", conditions.join(" AND "))
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
pub(crate) fn rows(
    credentials: PostgresCredentials,
    table: &SqlTable,
    filter: Filter,
) -> impl Stream<Item = Line> + Send + 'static {
    let source_name = format!("table `{}.{}`", table.schema, table.name);
    let sql = select_rows(table, &filter);
    let params: Vec<String> = filter.values();
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

/// Sets a session setting that holds a value of a columnar read's filter (`COPY` takes no
/// parameters: the value is bound here, and the statement reads the setting).
const SET_BOUND: &str = "SELECT set_config($1, $2, false)";

/// The session setting holding the `i`th value (from 1) of a columnar read's filter.
fn bound_setting(i: usize) -> String {
    format!("dlt_rs.bound_{i}")
}

/// How each column of `table` is read by the columnar path: its wire form and whether the
/// server casts it to text first (`numeric` keeps every digit, `uuid`, `json`/`jsonb` as
/// their text, arrays as JSON, as the row-by-row read renders them). `None` when a column
/// has a type the columnar path does not read (the row-by-row read then reads the table).
pub(crate) fn columnar_plan(table: &SqlTable) -> Option<Vec<(Wire, Cast)>> {
    table
        .columns
        .iter()
        .map(|c| {
            Some(match c.db_type.as_str() {
                "smallint" => (Wire::Int2, Cast::None),
                "integer" => (Wire::Int4, Cast::None),
                "bigint" => (Wire::Int8, Cast::None),
                "real" => (Wire::Float4, Cast::None),
                "double precision" => (Wire::Float8, Cast::None),
                "boolean" => (Wire::Bool, Cast::None),
                "character varying" | "character" | "text" | "name" => (Wire::Text, Cast::None),
                "numeric" | "decimal" | "uuid" | "json" | "jsonb" => (Wire::Text, Cast::Text),
                "ARRAY" => (Wire::Text, Cast::Json),
                "bytea" => (Wire::Bytea, Cast::None),
                "date" => (Wire::Date, Cast::None),
                "timestamp without time zone" => (Wire::Timestamp, Cast::None),
                "timestamp with time zone" => (Wire::Timestamptz, Cast::None),
                "time without time zone" => (Wire::Time, Cast::None),
                _ => return None,
            })
        })
        .collect()
}

/// What the server does to a column before the columnar read sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cast {
    None,
    /// `col::text`
    Text,
    /// `to_json(col)::text`
    Json,
}

/// The `COPY` that reads `table` columnar, columns in table order as `plan` says;
/// `filter`: only the rows within its bounds (the values come from [`SET_BOUND`]).
fn copy_rows(table: &SqlTable, plan: &[(Wire, Cast)], filter: &Filter) -> String {
    let columns: Vec<String> = table
        .columns
        .iter()
        .zip(plan)
        .map(|(c, (_, cast))| {
            let name = quote_ident(&c.name);
            match cast {
                Cast::None => name,
                Cast::Text => format!("{name}::text"),
                Cast::Json => format!("to_json({name})::text"),
            }
        })
        .collect();
    let filter = where_clause(filter, |i| {
        format!("current_setting('{}')", bound_setting(i))
    });
    format!(
        "COPY (SELECT {} FROM {}.{}{filter}) TO STDOUT (FORMAT binary)",
        columns.join(", "),
        quote_ident(&table.schema),
        quote_ident(&table.name)
    )
}

/// The rows of `table` as Arrow record batches (see `binary`), read by a thread of its own
/// that is started when the first batch is asked for and runs one batch ahead of the
/// consumer. An error ends the batches (the run then loads nothing of the table); a
/// consumer that stops asking ends the read and closes its connection.
pub(crate) fn batches(
    credentials: PostgresCredentials,
    table: &SqlTable,
    plan: &[(Wire, Cast)],
    filter: Filter,
) -> Batches {
    let columns: Vec<(String, Wire, bool)> = table
        .columns
        .iter()
        .zip(plan)
        .map(|(c, (wire, _))| (c.name.clone(), *wire, c.nullable))
        .collect();
    Batches {
        start: Some(Start {
            credentials,
            sql: copy_rows(table, plan, &filter),
            values: filter.values(),
            columns,
        }),
        source_name: format!("table `{}.{}`", table.schema, table.name),
        rx: None,
    }
}

struct Start {
    credentials: PostgresCredentials,
    sql: String,
    /// The filter's values, bound to the session settings the statement reads.
    values: Vec<String>,
    columns: Vec<(String, Wire, bool)>,
}

/// The batches of a columnar read (an iterator that blocks while the next batch is read).
pub(crate) struct Batches {
    start: Option<Start>,
    source_name: String,
    rx: Option<std::sync::mpsc::Receiver<Batch>>,
}

impl Iterator for Batches {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if let Some(start) = self.start.take() {
            // one batch in the channel, one being decoded: memory stays bounded
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            let source_name = self.source_name.clone();
            let spawned = std::thread::Builder::new()
                .name("sql-copy-reader".into())
                .spawn(move || read_thread(start, source_name, tx));
            if let Err(e) = spawned {
                return Some(Err(ItemError {
                    source_name: self.source_name.clone(),
                    position: "query".into(),
                    message: format!("could not start the reader thread: {e}"),
                }));
            }
            self.rx = Some(rx);
        }
        // a closed channel: the reader sent everything (or its error) and ended
        self.rx.as_ref()?.recv().ok()
    }
}

/// The reader thread: its own single-threaded runtime drives the connection.
fn read_thread(start: Start, source_name: String, tx: std::sync::mpsc::SyncSender<Batch>) {
    let fail = |position: String, message: String| {
        let _ = tx.send(Err(ItemError {
            source_name: source_name.clone(),
            position,
            message,
        }));
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail("query".into(), format!("could not start a runtime: {e}")),
    };
    runtime.block_on(async {
        let Start {
            credentials,
            sql,
            values,
            columns,
        } = start;
        let (_client, copy) = match open_copy(&credentials, &sql, values).await {
            Ok(opened) => opened,
            Err(e) => return fail("query".into(), e.to_string()),
        };
        let mut copy = std::pin::pin!(copy);
        let mut decoder = Decoder::new(&columns);
        let mut consumer_gone = false;
        while let Some(chunk) = copy.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    return fail(
                        format!("row {}", decoder.rows_read() + 1),
                        format!("reading failed: {}", dest_postgres::PgError(e)),
                    )
                }
            };
            let pushed = decoder.push(&chunk, &mut |batch| {
                consumer_gone = tx.send(Ok(batch)).is_err();
                !consumer_gone
            });
            if consumer_gone {
                // dropping the connection ends the server's COPY
                return;
            }
            if let Err(e) = pushed {
                return fail(format!("row {}", e.row), e.to_string());
            }
        }
        match decoder.finish() {
            Ok(Some(batch)) => {
                let _ = tx.send(Ok(batch));
            }
            Ok(None) => {}
            Err(e) => fail(format!("row {}", e.row), e.to_string()),
        }
    });
}

async fn open_copy(
    credentials: &PostgresCredentials,
    sql: &str,
    values: Vec<String>,
) -> Result<(Client, tokio_postgres::CopyOutStream), SqlSourceError> {
    let client = dest_postgres::connect(credentials).await?;
    client
        .batch_execute(SESSION_SETUP)
        .await
        .map_err(db("setting up the session"))?;
    for (i, value) in values.iter().enumerate() {
        client
            .execute(SET_BOUND, &[&bound_setting(i + 1), value])
            .await
            .map_err(db("setting up the session"))?;
    }
    let copy = client
        .copy_out(sql)
        .await
        .map_err(db("reading the table"))?;
    Ok((client, copy))
}
