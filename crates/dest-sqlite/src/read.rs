//! Reading a dataset back on SQLite: the query runs on a blocking thread that holds the
//! connection (with `PRAGMA query_only` on) and steps its statement a batch at a time, when
//! the reader asks for one; values are typed by the columns' dlt types (SQLite stores
//! booleans as integers and timestamps, dates, times, decimals and JSON as text).

use chrono::{NaiveDate, NaiveTime};
use dest_core::{DataType, ReadColumn, Value};
use rusqlite::types::{Value as Sql, ValueRef};
use tokio::sync::{mpsc, oneshot, OwnedMutexGuard};
use tokio::task::JoinHandle;

use crate::sql::{parse_timestamp_text, QUERY_ONLY_OFF, QUERY_ONLY_ON};
use crate::typed_jsonl::stored;

type Rows = Vec<Vec<Value>>;

/// An open read: the thread that steps the statement, asked for batches over `want`.
pub(crate) struct ReadThread {
    want: Option<mpsc::Sender<usize>>,
    rows: mpsc::Receiver<rusqlite::Result<Rows>>,
    /// The thread; it gives the connection back when the read ends.
    handle: JoinHandle<OwnedMutexGuard<rusqlite::Connection>>,
}

impl ReadThread {
    /// Starts the read of `sql` with `params` on `conn`; the result's columns, typed by
    /// `types` where given, else by their declared types (or left untyped).
    pub(crate) async fn start(
        mut conn: OwnedMutexGuard<rusqlite::Connection>,
        sql: String,
        params: Vec<Value>,
        types: Vec<Option<DataType>>,
    ) -> rusqlite::Result<(ReadThread, Vec<ReadColumn>)> {
        let (want_tx, mut want_rx) = mpsc::channel::<usize>(1);
        let (rows_tx, rows_rx) = mpsc::channel(1);
        let (columns_tx, columns_rx) = oneshot::channel();
        let handle = tokio::task::spawn_blocking(move || {
            let mut columns_tx = Some(columns_tx);
            let result = step(
                &mut conn,
                &sql,
                params,
                types,
                &mut columns_tx,
                &mut want_rx,
                &rows_tx,
            );
            if let Err(e) = result {
                match columns_tx.take() {
                    Some(tx) => {
                        let _ = tx.send(Err(e));
                    }
                    None => {
                        let _ = rows_tx.blocking_send(Err(e));
                    }
                }
            }
            // best effort: the next user of the connection turns it off again if need be
            let _ = conn.execute_batch(QUERY_ONLY_OFF);
            conn
        });
        let columns = match columns_rx.await {
            Ok(result) => result?,
            Err(_) => {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                    Some("the SQLite read thread ended before the query started".into()),
                ))
            }
        };
        Ok((
            ReadThread {
                want: Some(want_tx),
                rows: rows_rx,
                handle,
            },
            columns,
        ))
    }

    /// Up to `max_rows` next rows; empty at the end.
    pub(crate) async fn next(&mut self, max_rows: usize) -> rusqlite::Result<Rows> {
        let Some(want) = &self.want else {
            return Ok(Vec::new());
        };
        if want.send(max_rows).await.is_err() {
            self.want = None;
            return Ok(Vec::new());
        }
        match self.rows.recv().await {
            Some(result) => result,
            None => {
                self.want = None;
                Ok(Vec::new())
            }
        }
    }

    /// Ends the read; the connection back.
    pub(crate) async fn finish(mut self) -> Option<OwnedMutexGuard<rusqlite::Connection>> {
        self.want = None;
        self.handle.await.ok()
    }
}

/// The thread's work: prepare, announce the columns, then answer each request for rows.
fn step(
    conn: &mut rusqlite::Connection,
    sql: &str,
    params: Vec<Value>,
    types: Vec<Option<DataType>>,
    columns_tx: &mut Option<oneshot::Sender<rusqlite::Result<Vec<ReadColumn>>>>,
    want: &mut mpsc::Receiver<usize>,
    rows_tx: &mpsc::Sender<rusqlite::Result<Rows>>,
) -> rusqlite::Result<()> {
    conn.execute_batch(QUERY_ONLY_ON)?;
    let mut stmt = conn.prepare(sql)?;
    let bound = params
        .into_iter()
        .map(|p| stored(p).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e))))
        .collect::<rusqlite::Result<Vec<Sql>>>()?;
    let columns: Vec<ReadColumn> = stmt
        .columns()
        .iter()
        .enumerate()
        .map(|(i, c)| ReadColumn {
            name: c.name().to_string(),
            data_type: types
                .get(i)
                .copied()
                .flatten()
                .or_else(|| c.decl_type().and_then(declared_type)),
        })
        .collect();
    let types: Vec<Option<DataType>> = columns.iter().map(|c| c.data_type).collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(bound))?;
    if let Some(tx) = columns_tx.take() {
        if tx.send(Ok(columns)).is_err() {
            return Ok(());
        }
    }
    while let Some(n) = want.blocking_recv() {
        let mut batch = Vec::with_capacity(n.min(4096));
        while batch.len() < n {
            let Some(row) = rows.next()? else { break };
            batch.push(
                types
                    .iter()
                    .enumerate()
                    .map(|(i, t)| row.get_ref(i).map(|v| typed(v, *t)))
                    .collect::<rusqlite::Result<Vec<Value>>>()?,
            );
        }
        let end = batch.len() < n;
        if rows_tx.blocking_send(Ok(batch)).is_err() || end {
            return Ok(());
        }
    }
    Ok(())
}

/// The dlt type of a declared column type, as this destination declares them (see
/// `sql::column_type`); other declared types leave the column untyped.
fn declared_type(decl: &str) -> Option<DataType> {
    Some(match decl.to_ascii_uppercase().as_str() {
        "DOUBLE" | "REAL" | "FLOAT" => DataType::Double,
        "BOOLEAN" => DataType::Bool,
        "DATETIME" | "TIMESTAMP" => DataType::Timestamp,
        "DATE" => DataType::Date,
        "TIME" => DataType::Time,
        "BIGINT" | "INTEGER" | "INT" | "SMALLINT" => DataType::Bigint,
        "BLOB" => DataType::Binary,
        "JSON" => DataType::Json,
        d if d.starts_with("TEXT") || d.starts_with("VARCHAR") => DataType::Text,
        _ => return None,
    })
}

/// A stored value as a value of dlt type `t` (a stored form that does not read as its type
/// stays as SQLite holds it).
fn typed(v: ValueRef<'_>, t: Option<DataType>) -> Value {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match (v, t) {
        (ValueRef::Null, _) => Value::Null,
        (ValueRef::Integer(n), Some(DataType::Bool)) => Value::Bool(n != 0),
        #[allow(clippy::cast_precision_loss)]
        (ValueRef::Integer(n), Some(DataType::Double)) => Value::Double(n as f64),
        (ValueRef::Integer(n), Some(DataType::Decimal | DataType::Wei)) => {
            Value::Number(n.to_string())
        }
        (ValueRef::Integer(n), Some(DataType::Text)) => Value::Text(n.to_string()),
        (ValueRef::Integer(n), _) => Value::Int(n),
        (ValueRef::Real(x), Some(DataType::Decimal | DataType::Wei)) => {
            Value::Number(x.to_string())
        }
        (ValueRef::Real(x), _) => Value::Double(x),
        (ValueRef::Blob(b), _) => Value::Binary(b.to_vec()),
        (ValueRef::Text(s), t) => {
            let s = text(s);
            let typed = match t {
                Some(DataType::Timestamp) => parse_timestamp_text(&s).map(Value::Timestamp),
                Some(DataType::Date) => NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                    .ok()
                    .map(Value::Date),
                Some(DataType::Time) => NaiveTime::parse_from_str(&s, "%H:%M:%S%.f")
                    .ok()
                    .map(Value::Time),
                Some(DataType::Json) => serde_json::from_str(&s).ok().map(Value::Json),
                Some(DataType::Decimal | DataType::Wei) => Some(Value::Number(s.clone())),
                _ => None,
            };
            typed.unwrap_or(Value::Text(s))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_forms_read_as_their_types() {
        assert_eq!(
            typed(ValueRef::Integer(1), Some(DataType::Bool)),
            Value::Bool(true)
        );
        let ts = typed(
            ValueRef::Text(b"2024-01-02 03:04:05.000006"),
            Some(DataType::Timestamp),
        );
        assert!(matches!(ts, Value::Timestamp(t) if t.timestamp_subsec_micros() == 6));
        assert_eq!(
            typed(ValueRef::Text(b"{\"a\":1}"), Some(DataType::Json)),
            Value::Json(serde_json::json!({"a": 1}))
        );
        assert_eq!(
            typed(ValueRef::Text(b"not a date"), Some(DataType::Date)),
            Value::Text("not a date".into())
        );
        assert_eq!(typed(ValueRef::Integer(3), None), Value::Int(3));
        assert_eq!(declared_type("DATETIME"), Some(DataType::Timestamp));
    }
}
