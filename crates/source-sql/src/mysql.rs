//! The MySQL / MariaDB source: the catalog queries that reflect a database's tables, the
//! statement that reads a table, and the rows rendered as JSON. This is the MySQL source's
//! SQL: identifiers are quoted by [`quote_ident`], values are bound as parameters of a
//! prepared statement (the binary protocol, which also gives typed values).
//!
//! A read runs on a task of its own that owns the connection and sends the rows, rendered,
//! in chunks through a bounded channel: memory stays bounded however large the table.

use std::fmt;

use futures_util::Stream;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Params, Value};
use pipeline::ItemError;

use crate::reflect::{SqlColumn, SqlTable};
use crate::{Catalog, Filter, Line, SqlSourceError};

/// The base tables' columns of database `?`, in table (binary name order) and column order:
/// name, column, type, nullable, precision, scale, unsigned.
const COLUMNS: &str = "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, \
     c.IS_NULLABLE = 'YES', c.NUMERIC_PRECISION, c.NUMERIC_SCALE, \
     c.COLUMN_TYPE LIKE '%unsigned%' \
     FROM information_schema.COLUMNS c \
     JOIN information_schema.TABLES t \
       ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME \
     WHERE c.TABLE_SCHEMA = ? AND t.TABLE_TYPE = 'BASE TABLE' \
     ORDER BY BINARY c.TABLE_NAME, c.ORDINAL_POSITION";

/// The primary key columns of the tables of database `?`, in key order.
const PRIMARY_KEYS: &str = "SELECT TABLE_NAME, COLUMN_NAME \
     FROM information_schema.KEY_COLUMN_USAGE \
     WHERE TABLE_SCHEMA = ? AND CONSTRAINT_NAME = 'PRIMARY' \
     ORDER BY BINARY TABLE_NAME, ORDINAL_POSITION";

const CURRENT_DATABASE: &str = "SELECT DATABASE()";

/// `TIMESTAMP` values in UTC whatever the server's zone; a consumer that waits (a slow
/// destination) does not make the server drop a long read.
const SESSION_SETUP: &str = "SET time_zone = '+00:00', net_write_timeout = 3600";

/// A MySQL or MariaDB server and database (`mysql://user:password@host:port/database`).
#[derive(Clone)]
pub(crate) struct MysqlSource {
    opts: Opts,
}

/// Without the password.
impl fmt::Debug for MysqlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlSource")
            .field("host", &self.opts.ip_or_hostname())
            .field("port", &self.opts.tcp_port())
            .field("user", &self.opts.user())
            .field("database", &self.opts.db_name())
            .finish_non_exhaustive()
    }
}

/// A MySQL identifier in backticks (a backtick inside doubled).
pub(crate) fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn db(context: &str) -> impl Fn(mysql_async::Error) -> SqlSourceError + '_ {
    move |source| SqlSourceError::Mysql {
        context: context.to_string(),
        source,
    }
}

impl MysqlSource {
    /// `mysql://` (or `mariadb://`) URL; its parameters as `mysql_async` reads them.
    pub(crate) fn parse_url(url: &str) -> Result<Self, SqlSourceError> {
        let url = match url.split_once("://") {
            Some((_, rest)) => format!("mysql://{rest}"),
            None => return Err(SqlSourceError::NotAUrl),
        };
        let opts = Opts::from_url(&url).map_err(|e| SqlSourceError::BadUrl {
            // the parser's messages name a parameter or the URL's syntax, never the password
            reason: e.to_string(),
        })?;
        Ok(MysqlSource { opts })
    }

    async fn connect(&self) -> Result<Conn, SqlSourceError> {
        let context = format!(
            "connecting to MySQL at {}:{}",
            self.opts.ip_or_hostname(),
            self.opts.tcp_port()
        );
        let mut conn = Conn::new(self.opts.clone()).await.map_err(db(&context))?;
        conn.query_drop(SESSION_SETUP)
            .await
            .map_err(db("setting up the session"))?;
        Ok(conn)
    }

    /// The catalog of database `schema` (default: the URL's database).
    pub(crate) async fn catalog(&self, schema: Option<&str>) -> Result<Catalog, SqlSourceError> {
        let mut conn = self.connect().await?;
        let schema = match schema {
            Some(s) => s.to_string(),
            None => conn
                .query_first::<Option<String>, _>(CURRENT_DATABASE)
                .await
                .map_err(db("finding the current database"))?
                .flatten()
                .ok_or_else(|| SqlSourceError::BadUrl {
                    reason: "it names no database (mysql://user@host:3306/DATABASE), and no \
                             --schema is given"
                        .into(),
                })?,
        };
        let context = format!("reading the tables of database `{schema}`");
        type ColumnRow = (String, String, String, i64, Option<u64>, Option<u64>, i64);
        let columns = conn
            .exec::<ColumnRow, _, _>(COLUMNS, (schema.as_str(),))
            .await
            .map_err(db(&context))?
            .into_iter()
            .map(
                |(table, name, db_type, nullable, precision, scale, unsigned)| {
                    let column = SqlColumn {
                        name,
                        db_type: db_type.to_ascii_lowercase(),
                        nullable: nullable != 0,
                        precision: precision.and_then(|p| u32::try_from(p).ok()),
                        scale: scale.and_then(|s| u32::try_from(s).ok()),
                        unsigned: unsigned != 0,
                    };
                    (table, column)
                },
            )
            .collect();
        let primary_keys = conn
            .exec::<(String, String), _, _>(PRIMARY_KEYS, (schema.as_str(),))
            .await
            .map_err(db(&context))?;
        conn.disconnect().await.ok();
        Ok(Catalog {
            schema,
            columns,
            primary_keys,
        })
    }

    /// The rows of `table` as JSON objects, one per line; the read starts when the stream
    /// is first polled and ends the stream with an error naming the table and row.
    pub(crate) fn rows(
        self,
        table: SqlTable,
        filter: Filter,
    ) -> impl Stream<Item = Line> + Send + 'static {
        crate::channel_lines(move |tx| {
            tokio::spawn(read(self, table, filter, tx));
        })
    }
}

/// The statement that reads `table`, columns in table order.
fn select_rows(table: &SqlTable, filter: &Filter) -> String {
    let columns: Vec<String> = table.columns.iter().map(|c| quote_ident(&c.name)).collect();
    let conditions: Vec<String> = filter
        .bounds
        .iter()
        .map(|b| {
            format!(
                "{} {} CAST(? AS {})",
                quote_ident(&b.column),
                b.op(),
                b.cast
            )
        })
        .collect();
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    format!(
        "SELECT {} FROM {}.{}{filter}",
        columns.join(", "),
        quote_ident(&table.schema),
        quote_ident(&table.name)
    )
}

/// The type a cursor's start value (text) is cast to before comparing; `None` for types
/// that cannot be a cursor.
pub(crate) fn cursor_cast(column: &SqlColumn) -> Option<&'static str> {
    Some(match column.db_type.as_str() {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" => {
            if column.unsigned {
                "UNSIGNED"
            } else {
                "SIGNED"
            }
        }
        "decimal" | "numeric" => "DECIMAL(65, 30)",
        "float" | "double" | "real" => "DOUBLE",
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" => "CHAR",
        "date" => "DATE",
        "datetime" | "timestamp" => "DATETIME(6)",
        "time" => "TIME(6)",
        _ => return None,
    })
}

/// Reads `table` and sends its rows, rendered, in chunks; an error is the last message.
async fn read(
    source: MysqlSource,
    table: SqlTable,
    filter: Filter,
    tx: tokio::sync::mpsc::Sender<Vec<Line>>,
) {
    let name = format!("table `{}.{}`", table.schema, table.name);
    let fail = |position: String, message: String| {
        vec![Err(ItemError {
            source_name: name.clone(),
            position,
            message,
        })]
    };
    let mut conn = match source.connect().await {
        Ok(conn) => conn,
        Err(e) => {
            tx.send(fail("query".into(), e.to_string())).await.ok();
            return;
        }
    };
    let sql = select_rows(&table, &filter);
    let params = if filter.bounds.is_empty() {
        Params::Empty
    } else {
        Params::Positional(filter.values().into_iter().map(Value::from).collect())
    };
    let mut result = match conn.exec_iter(sql.as_str(), params).await {
        Ok(result) => result,
        Err(e) => {
            tx.send(fail("query".into(), format!("reading the table: {e}")))
                .await
                .ok();
            return;
        }
    };
    let mut chunk = Vec::with_capacity(crate::CHUNK);
    let mut read = 0u64;
    loop {
        match result.next().await {
            Ok(Some(row)) => {
                read += 1;
                chunk.push(Ok(render(&table, row.unwrap_raw())));
                if chunk.len() == crate::CHUNK
                    && tx
                        .send(std::mem::replace(
                            &mut chunk,
                            Vec::with_capacity(crate::CHUNK),
                        ))
                        .await
                        .is_err()
                {
                    return; // the pipeline stopped reading
                }
            }
            Ok(None) => break,
            Err(e) => {
                chunk.extend(fail(
                    format!("row {}", read + 1),
                    format!("reading failed: {e}"),
                ));
                tx.send(chunk).await.ok();
                return;
            }
        }
    }
    drop(result);
    if !chunk.is_empty() {
        tx.send(chunk).await.ok();
    }
    conn.disconnect().await.ok();
}

/// One row as a JSON object on one line, values rendered by their column's type as dlt's
/// SQLAlchemy rows would give them: numbers as numbers (decimals exact), text as strings,
/// binary as `0x` + hex, date/time values in ISO 8601 (datetimes without a zone), `json`
/// embedded as JSON.
fn render(table: &SqlTable, values: Vec<Option<Value>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 * values.len());
    out.push(b'{');
    for (i, (column, value)) in table.columns.iter().zip(values).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_json_string(&mut out, &column.name);
        out.push(b':');
        match value {
            None | Some(Value::NULL) => out.extend_from_slice(b"null"),
            Some(v) => render_value(&mut out, column, v),
        }
    }
    out.push(b'}');
    out
}

fn push_json_string(out: &mut Vec<u8>, s: &str) {
    // writing into a Vec cannot fail
    serde_json::to_writer(&mut *out, s).ok();
}

fn render_value(out: &mut Vec<u8>, column: &SqlColumn, value: Value) {
    use std::io::Write;
    match value {
        Value::NULL => out.extend_from_slice(b"null"),
        Value::Int(i) => {
            write!(out, "{i}").ok();
        }
        Value::UInt(u) => {
            write!(out, "{u}").ok();
        }
        Value::Float(f) => push_float(out, f64::from(f), &f.to_string()),
        Value::Double(d) => push_float(out, d, &d.to_string()),
        Value::Date(y, m, d, h, mi, s, us) => {
            let text = if column.db_type == "date" {
                format!("{y:04}-{m:02}-{d:02}")
            } else if us == 0 {
                format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
            } else {
                format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}")
            };
            push_json_string(out, &text);
        }
        Value::Time(negative, days, h, mi, s, us) => {
            let hours = u64::from(days) * 24 + u64::from(h);
            let sign = if negative { "-" } else { "" };
            let text = if us == 0 {
                format!("{sign}{hours:02}:{mi:02}:{s:02}")
            } else {
                format!("{sign}{hours:02}:{mi:02}:{s:02}.{us:06}")
            };
            push_json_string(out, &text);
        }
        Value::Bytes(bytes) => render_bytes(out, column, bytes),
    }
}

/// A float as a JSON number (shortest text that reads back the same).
fn push_float(out: &mut Vec<u8>, value: f64, text: &str) {
    if value.is_finite() {
        out.extend_from_slice(text.as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

fn render_bytes(out: &mut Vec<u8>, column: &SqlColumn, bytes: Vec<u8>) {
    match column.db_type.as_str() {
        // exact decimal text: a JSON number as the server wrote it
        "decimal" | "numeric" if is_number(&bytes) => out.extend_from_slice(&bytes),
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" | "geometry"
        | "point" | "linestring" | "polygon" => {
            let mut text = String::with_capacity(2 + 2 * bytes.len());
            text.push_str("0x");
            for b in &bytes {
                text.push_str(&format!("{b:02x}"));
            }
            push_json_string(out, &text);
        }
        "bit" => {
            let n = bytes.iter().fold(0u128, |n, b| (n << 8) | u128::from(*b));
            out.extend_from_slice(n.to_string().as_bytes());
        }
        "json" => match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(v) => {
                serde_json::to_writer(&mut *out, &v).ok();
            }
            Err(_) => push_json_string(out, &String::from_utf8_lossy(&bytes)),
        },
        _ => push_json_string(out, &String::from_utf8_lossy(&bytes)),
    }
}

/// Whether `bytes` is a JSON number (`-12.50`, `3`), as MySQL writes decimals.
fn is_number(bytes: &[u8]) -> bool {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    let mut parts = digits.splitn(2, |b| *b == b'.');
    let int = parts.next().unwrap_or_default();
    let frac = parts.next();
    !int.is_empty()
        && int.iter().all(u8::is_ascii_digit)
        && (int.len() == 1 || int[0] != b'0')
        && frac.is_none_or(|f| !f.is_empty() && f.iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_with_backticks() {
        assert_eq!(quote_ident("a`b"), "`a``b`");
        assert_eq!(quote_ident("x y"), "`x y`");
    }

    #[test]
    fn decimal_text_is_a_json_number_only_when_it_is_one() {
        for ok in ["0", "-12.50", "12345678901234567890.123", "0.001"] {
            assert!(is_number(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "-", "01", "1.", ".5", "1e5", "abc"] {
            assert!(!is_number(bad.as_bytes()), "{bad}");
        }
    }
}
