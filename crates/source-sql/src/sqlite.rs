//! The SQLite source: the tables of a database file (`sqlite:///path`, as SQLAlchemy names
//! them), reflected from `sqlite_master` and `PRAGMA table_info`, read on a thread of its own
//! that sends the rows, rendered as JSON, in chunks through a bounded channel. This is the
//! SQLite source's SQL: identifiers are quoted by `dest_sql::quote_ident`, values bound.

use std::path::PathBuf;

use dest_sql::quote_ident;
use futures_util::Stream;
use pipeline::ItemError;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::reflect::{SqlColumn, SqlTable};
use crate::{Catalog, Filter, Line, SqlSourceError};

/// The tables of the database, in binary name order (SQLite's own tables left out).
const TABLES: &str = "SELECT name FROM sqlite_master WHERE type = 'table' \
     AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name";

/// The columns of table `?1` of database `?2`: name, declared type, NOT NULL, position in
/// the primary key (0: none).
const TABLE_INFO: &str =
    "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1, ?2) ORDER BY cid";

/// A SQLite database file, opened read-only.
#[derive(Debug, Clone)]
pub(crate) struct SqliteSource {
    path: PathBuf,
}

fn db(path: &std::path::Path, context: &str) -> impl Fn(rusqlite::Error) -> SqlSourceError {
    let context = format!("{context} of {}", path.display());
    move |source| SqlSourceError::Sqlite {
        context: context.clone(),
        source,
    }
}

impl SqliteSource {
    /// `sqlite:///relative/path.db` or `sqlite:////absolute/path.db` (SQLAlchemy's form).
    pub(crate) fn parse_url(url: &str) -> Result<Self, SqlSourceError> {
        let rest = url.split_once("://").map_or("", |(_, rest)| rest);
        let Some(path) = rest.strip_prefix('/') else {
            return Err(SqlSourceError::BadUrl {
                reason: "a SQLite URL is sqlite:///relative/path.db or \
                         sqlite:////absolute/path.db"
                    .into(),
            });
        };
        if path.is_empty() {
            return Err(SqlSourceError::BadUrl {
                reason: "it names no database file (sqlite:///path/to/file.db)".into(),
            });
        }
        Ok(SqliteSource {
            path: PathBuf::from(path),
        })
    }

    fn open(&self) -> Result<Connection, SqlSourceError> {
        Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db(&self.path, "opening the SQLite database"))
    }

    /// The catalog of the database (`schema`: an attached database's name; default `main`).
    pub(crate) async fn catalog(&self, schema: Option<&str>) -> Result<Catalog, SqlSourceError> {
        let source = self.clone();
        let schema = schema.unwrap_or("main").to_string();
        tokio::task::spawn_blocking(move || source.catalog_blocking(schema))
            .await
            .map_err(|e| SqlSourceError::BadUrl {
                reason: format!("reading the catalog stopped: {e}"),
            })?
    }

    fn catalog_blocking(&self, schema: String) -> Result<Catalog, SqlSourceError> {
        let conn = self.open()?;
        let context = "reading the tables";
        let tables_sql = if schema == "main" {
            TABLES.to_string()
        } else {
            TABLES.replace(
                "sqlite_master",
                &format!("{}.sqlite_master", quote_ident(&schema)),
            )
        };
        let names = conn
            .prepare(&tables_sql)
            .and_then(|mut s| {
                s.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(db(&self.path, context))?;
        let mut columns = Vec::new();
        let mut primary_keys = Vec::new();
        for table in names {
            let rows = conn
                .prepare(TABLE_INFO)
                .and_then(|mut s| {
                    s.query_map([&table, &schema], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, i64>(3)?,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()
                })
                .map_err(db(&self.path, context))?;
            let mut keys = Vec::new();
            for (name, declared, notnull, pk) in rows {
                let (db_type, precision, scale) = declared_type(&declared);
                if pk > 0 {
                    keys.push((pk, name.clone()));
                }
                columns.push((
                    table.clone(),
                    SqlColumn {
                        name,
                        db_type,
                        // as SQLAlchemy: a primary key column is nullable unless declared NOT NULL
                        nullable: notnull == 0,
                        precision,
                        scale,
                        unsigned: false,
                    },
                ));
            }
            keys.sort();
            primary_keys.extend(keys.into_iter().map(|(_, k)| (table.clone(), k)));
        }
        Ok(Catalog {
            schema,
            columns,
            primary_keys,
        })
    }

    /// The rows of `table` as JSON objects, one per line, read on a thread of their own
    /// when the stream is first polled; an error ends the stream naming table and row.
    pub(crate) fn rows(
        self,
        table: SqlTable,
        filter: Filter,
    ) -> impl Stream<Item = Line> + Send + 'static {
        crate::channel_lines(move |tx| {
            tokio::task::spawn_blocking(move || read(&self, &table, filter, &tx));
        })
    }
}

/// A declared column type as SQLAlchemy's SQLite dialect resolves it: its upper-case name
/// (`DECIMAL(10,2)` → `DECIMAL`, precision 10, scale 2).
fn declared_type(declared: &str) -> (String, Option<u32>, Option<u32>) {
    let (name, args) = match declared.split_once('(') {
        Some((name, args)) => (name, Some(args.trim_end_matches(')'))),
        None => (declared, None),
    };
    let mut numbers = args
        .into_iter()
        .flat_map(|a| a.split(','))
        .map(|n| n.trim().parse::<u32>().ok());
    let precision = numbers.next().flatten();
    let scale = numbers.next().flatten();
    (name.trim().to_ascii_uppercase(), precision, scale)
}

/// The type a cursor's start value is cast to before comparing; `None` for types that
/// cannot be a cursor.
pub(crate) fn cursor_cast(column: &SqlColumn) -> Option<&'static str> {
    use dest_core::DataType;
    Some(
        match crate::reflect::dlt_column(crate::Dialect::Sqlite, column).data_type? {
            DataType::Bigint => "INTEGER",
            DataType::Double => "REAL",
            DataType::Decimal => "NUMERIC",
            DataType::Text | DataType::Date | DataType::Timestamp | DataType::Time => "TEXT",
            _ => return None,
        },
    )
}

fn select_rows(table: &SqlTable, filter: &Filter) -> String {
    let columns: Vec<String> = table.columns.iter().map(|c| quote_ident(&c.name)).collect();
    let conditions: Vec<String> = filter
        .bounds
        .iter()
        .enumerate()
        .map(|(i, b)| {
            format!(
                "{} {} CAST(?{} AS {})",
                quote_ident(&b.column),
                b.op(),
                i + 1,
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

/// Reads `table` and sends its rows in chunks; an error is the last message.
fn read(
    source: &SqliteSource,
    table: &SqlTable,
    filter: Filter,
    tx: &tokio::sync::mpsc::Sender<Vec<Line>>,
) {
    let name = format!("table `{}` of {}", table.name, source.path.display());
    let fail = |position: String, message: String| {
        vec![Err(ItemError {
            source_name: name.clone(),
            position,
            message,
        })]
    };
    let result = (|| -> Result<(), (u64, String)> {
        let conn = source.open().map_err(|e| (0, e.to_string()))?;
        let sql = select_rows(table, &filter);
        let mut statement = conn.prepare(&sql).map_err(|e| (0, e.to_string()))?;
        let params: Vec<String> = filter.values();
        let mut rows = statement
            .query(rusqlite::params_from_iter(params))
            .map_err(|e| (0, e.to_string()))?;
        let kinds: Vec<Kind> = table.columns.iter().map(Kind::of).collect();
        let mut chunk = Vec::with_capacity(crate::CHUNK);
        let mut read = 0u64;
        while let Some(row) = rows.next().map_err(|e| (read + 1, e.to_string()))? {
            read += 1;
            let mut out = Vec::with_capacity(64 * kinds.len());
            out.push(b'{');
            for (i, (column, kind)) in table.columns.iter().zip(&kinds).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_json_string(&mut out, &column.name);
                out.push(b':');
                let value = row.get_ref(i).map_err(|e| (read, e.to_string()))?;
                render(&mut out, *kind, value);
            }
            out.push(b'}');
            chunk.push(Ok(out));
            if chunk.len() == crate::CHUNK
                && tx
                    .blocking_send(std::mem::replace(
                        &mut chunk,
                        Vec::with_capacity(crate::CHUNK),
                    ))
                    .is_err()
            {
                return Ok(()); // the pipeline stopped reading
            }
        }
        if !chunk.is_empty() {
            tx.blocking_send(chunk).ok();
        }
        Ok(())
    })();
    if let Err((row, message)) = result {
        let position = if row == 0 {
            "query".to_string()
        } else {
            format!("row {row}")
        };
        tx.blocking_send(fail(position, message)).ok();
    }
}

/// How a column's values are rendered (SQLite stores any value in any column).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Bool,
    Json,
    Other,
}

impl Kind {
    fn of(column: &SqlColumn) -> Kind {
        use dest_core::DataType;
        match crate::reflect::dlt_column(crate::Dialect::Sqlite, column).data_type {
            Some(DataType::Bool) => Kind::Bool,
            Some(DataType::Json) => Kind::Json,
            _ => Kind::Other,
        }
    }
}

fn push_json_string(out: &mut Vec<u8>, s: &str) {
    // writing into a Vec cannot fail
    serde_json::to_writer(&mut *out, s).ok();
}

fn render(out: &mut Vec<u8>, kind: Kind, value: ValueRef<'_>) {
    match (kind, value) {
        (_, ValueRef::Null) => out.extend_from_slice(b"null"),
        (Kind::Bool, ValueRef::Integer(i)) => {
            out.extend_from_slice(if i != 0 { b"true" } else { b"false" })
        }
        (_, ValueRef::Integer(i)) => out.extend_from_slice(i.to_string().as_bytes()),
        (_, ValueRef::Real(f)) => match serde_json::Number::from_f64(f) {
            Some(n) => out.extend_from_slice(n.to_string().as_bytes()),
            None => out.extend_from_slice(b"null"),
        },
        (Kind::Json, ValueRef::Text(t)) => match serde_json::from_slice::<serde_json::Value>(t) {
            Ok(v) => {
                serde_json::to_writer(&mut *out, &v).ok();
            }
            Err(_) => push_json_string(out, &String::from_utf8_lossy(t)),
        },
        (_, ValueRef::Text(t)) => push_json_string(out, &String::from_utf8_lossy(t)),
        (_, ValueRef::Blob(b)) => {
            let mut text = String::with_capacity(2 + 2 * b.len());
            text.push_str("0x");
            for byte in b {
                text.push_str(&format!("{byte:02x}"));
            }
            push_json_string(out, &text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_relative_and_absolute_files() {
        let abs = SqliteSource::parse_url("sqlite:////tmp/x.db").unwrap();
        assert_eq!(abs.path, PathBuf::from("/tmp/x.db"));
        let rel = SqliteSource::parse_url("sqlite:///data/x.db").unwrap();
        assert_eq!(rel.path, PathBuf::from("data/x.db"));
        assert!(SqliteSource::parse_url("sqlite://").is_err());
        assert!(SqliteSource::parse_url("sqlite:///").is_err());
    }

    #[test]
    fn declared_types_split_into_name_and_arguments() {
        assert_eq!(
            declared_type("decimal(10, 2)"),
            ("DECIMAL".into(), Some(10), Some(2))
        );
        assert_eq!(
            declared_type("varchar(20)"),
            ("VARCHAR".into(), Some(20), None)
        );
        assert_eq!(declared_type(""), (String::new(), None, None));
    }
}
