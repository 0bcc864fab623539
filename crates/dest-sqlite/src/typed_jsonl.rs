//! The `typed-jsonl` file format: rows as JSON arrays of SQLite values, loaded with
//! prepared multi-row `INSERT`s whose values are bound as parameters.
//!
//! dlt's sqlalchemy destination prefers a format of this name; this one is dlt-rs's own
//! (job files are internal). Why not `insert_values`: SQLite parses every literal of an
//! `INSERT ... VALUES` statement, while a prepared statement with bound values is parsed
//! once per file; bound values need no escaping at all, so text with NUL characters and
//! binary data arrive exactly; and one JSON line per row splits and streams like the
//! other formats.
//!
//! ```text
//! {"format":"typed-jsonl/1","columns":["id","name","data"],"types":["bigint","text","binary"]}
//! [1,"ann","00ff"]
//! [2,null,null]
//! ```
//!
//! The first line names the columns (schema order) and their dlt types; each further line
//! is one row, each cell already in its stored form (`crate::sql`'s type mapping): NULL,
//! an integer (bigint, bool as 1/0), a number with a fraction or exponent (double), or a
//! string (text, exact numbers, timestamps, dates, times, JSON documents; binary as hex,
//! decoded by the column's type).

use std::io::{BufRead, Write};

use dest_core::{push_hex, Column, DataType, Error, FileFormat, JobWriter, Result, Value};
use rusqlite::types::Value as Sql;
use serde_json::Value as Json;

use crate::sql::{time_text, timestamp_text};

/// The header's `format` value.
const VERSION: &str = "typed-jsonl/1";

/// The `typed-jsonl` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct TypedJsonl;

impl FileFormat for TypedJsonl {
    fn format(&self) -> dest_core::LoaderFileFormat {
        dest_core::LoaderFileFormat::TypedJsonl
    }

    fn writer(
        &self,
        table: &str,
        columns: &[Column],
        mut out: Box<dyn Write + Send>,
    ) -> Result<Box<dyn JobWriter>> {
        let header = serde_json::json!({
            "format": VERSION,
            "columns": columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            "types": columns
                .iter()
                .map(|c| c.data_type.map_or("text", |t| t.as_str()))
                .collect::<Vec<_>>(),
        });
        let mut line = serde_json::to_vec(&header)
            .map_err(|e| Error::Internal(format!("writing a typed-jsonl header: {e}")))?;
        line.push(b'\n');
        out.write_all(&line)
            .map_err(|e| Error::io("writing a typed-jsonl job", table, e))?;
        Ok(Box::new(Writer {
            table: table.to_string(),
            out,
            buf: Vec::with_capacity(64 * 1024),
        }))
    }
}

struct Writer {
    table: String,
    out: Box<dyn Write + Send>,
    buf: Vec<u8>,
}

impl Writer {
    fn flush_buf(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.out
                .write_all(&self.buf)
                .map_err(|e| Error::io("writing a typed-jsonl job", &self.table, e))?;
            self.buf.clear();
        }
        Ok(())
    }
}

impl JobWriter for Writer {
    fn write_row(&mut self, row: &[Value]) -> Result<()> {
        self.buf.push(b'[');
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            write_cell(&mut self.buf, v)?;
        }
        self.buf.extend_from_slice(b"]\n");
        if self.buf.len() >= 256 * 1024 {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Box<dyn Write + Send>> {
        self.flush_buf()?;
        Ok(self.out)
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) -> Result<()> {
    serde_json::to_writer(&mut *out, s)
        .map_err(|e| Error::Internal(format!("writing a typed-jsonl string: {e}")))
}

/// One cell in its stored form.
fn write_cell(out: &mut Vec<u8>, v: &Value) -> Result<()> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.push(if *b { b'1' } else { b'0' }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Double(f) if f.is_finite() => {
            // `{:?}` is the shortest text that reads back to the same double, always with
            // a `.` or an exponent, so it is read back as a real
            let _ = write!(out, "{f:?}");
        }
        Value::Double(_) => out.extend_from_slice(b"null"),
        Value::Number(n) | Value::Text(n) => write_str(out, n)?,
        Value::Timestamp(ts) => write_str(out, &timestamp_text(&ts.naive_utc()))?,
        Value::NaiveTimestamp(ts) => write_str(out, &timestamp_text(ts))?,
        Value::Date(d) => write_str(out, &d.format("%Y-%m-%d").to_string())?,
        Value::Time(t) => write_str(out, &time_text(t))?,
        Value::Binary(b) => {
            out.push(b'"');
            b.iter().for_each(|byte| push_hex(out, *byte));
            out.push(b'"');
        }
        Value::Json(j) => {
            let text = serde_json::to_string(j)
                .map_err(|e| Error::Internal(format!("writing a json value: {e}")))?;
            write_str(out, &text)?;
        }
    }
    Ok(())
}

/// One cell in its stored form, as a value to bind (the same form [`write_cell`] writes).
pub(crate) fn stored(v: Value) -> Result<Sql> {
    Ok(match v {
        Value::Null => Sql::Null,
        Value::Bool(b) => Sql::Integer(i64::from(b)),
        Value::Int(i) => Sql::Integer(i),
        Value::Double(f) if f.is_finite() => Sql::Real(f),
        Value::Double(_) => Sql::Null,
        Value::Number(n) | Value::Text(n) => Sql::Text(n),
        Value::Timestamp(ts) => Sql::Text(timestamp_text(&ts.naive_utc())),
        Value::NaiveTimestamp(ts) => Sql::Text(timestamp_text(&ts)),
        Value::Date(d) => Sql::Text(d.format("%Y-%m-%d").to_string()),
        Value::Time(t) => Sql::Text(time_text(&t)),
        Value::Binary(b) => Sql::Blob(b),
        Value::Json(j) => Sql::Text(
            serde_json::to_string(&j)
                .map_err(|e| Error::Internal(format!("writing a json value: {e}")))?,
        ),
    })
}

/// The rows of a job file, as SQLite values to bind.
pub(crate) trait RowSource {
    /// The file's columns, in the order of each row's values.
    fn columns(&self) -> &[String];
    /// Appends the next row's values to `out`; false at the end of the file.
    fn next_row(&mut self, out: &mut Vec<Sql>) -> Result<bool>;
}

impl<R: BufRead> RowSource for Reader<R> {
    fn columns(&self) -> &[String] {
        &self.columns
    }
    fn next_row(&mut self, out: &mut Vec<Sql>) -> Result<bool> {
        Reader::next_row(self, out)
    }
}

/// A job file being read: its columns, then its rows as SQLite values.
pub(crate) struct Reader<R> {
    input: R,
    pub columns: Vec<String>,
    binary: Vec<bool>,
    line: String,
    line_no: u64,
    what: String,
}

impl<R: BufRead> Reader<R> {
    /// Reads the header; `what` names the file in errors.
    pub(crate) fn open(mut input: R, what: String) -> Result<Self> {
        let mut line = String::new();
        input
            .read_line(&mut line)
            .map_err(|e| Error::io("reading a job file", &what, e))?;
        let header: Json = serde_json::from_str(&line)
            .map_err(|e| Error::Internal(format!("{what}: not a typed-jsonl header: {e}")))?;
        if header.get("format").and_then(Json::as_str) != Some(VERSION) {
            return Err(Error::Internal(format!(
                "{what}: not a `{VERSION}` job file"
            )));
        }
        let strings = |key: &str| -> Result<Vec<String>> {
            header
                .get(key)
                .and_then(Json::as_array)
                .map(|a| {
                    a.iter()
                        .map(|v| v.as_str().map(String::from))
                        .collect::<Option<Vec<_>>>()
                })
                .and_then(|v| v)
                .ok_or_else(|| Error::Internal(format!("{what}: header without `{key}`")))
        };
        let columns = strings("columns")?;
        let types = strings("types")?;
        if types.len() != columns.len() {
            return Err(Error::Internal(format!(
                "{what}: {} columns but {} types",
                columns.len(),
                types.len()
            )));
        }
        let binary = types
            .iter()
            .map(|t| t == DataType::Binary.as_str())
            .collect();
        Ok(Reader {
            input,
            columns,
            binary,
            line,
            line_no: 1,
            what,
        })
    }

    /// Appends the next row's values to `out`; false at the end of the file.
    pub(crate) fn next_row(&mut self, out: &mut Vec<Sql>) -> Result<bool> {
        self.line.clear();
        let n = self
            .input
            .read_line(&mut self.line)
            .map_err(|e| Error::io("reading a job file", &self.what, e))?;
        if n == 0 {
            return Ok(false);
        }
        self.line_no += 1;
        let bad = |reason: String| {
            Error::Internal(format!(
                "{}, line {}: not a typed-jsonl row: {reason}",
                self.what, self.line_no
            ))
        };
        let cells: Vec<Json> = serde_json::from_str(&self.line).map_err(|e| bad(e.to_string()))?;
        if cells.len() != self.columns.len() {
            return Err(bad(format!(
                "{} values for {} columns",
                cells.len(),
                self.columns.len()
            )));
        }
        for (cell, binary) in cells.into_iter().zip(&self.binary) {
            out.push(match cell {
                Json::Null => Sql::Null,
                Json::Bool(b) => Sql::Integer(i64::from(b)),
                Json::Number(n) => match n.as_i64() {
                    Some(i) => Sql::Integer(i),
                    None => Sql::Real(
                        n.as_f64()
                            .ok_or_else(|| bad(format!("number `{n}` out of range")))?,
                    ),
                },
                Json::String(s) if *binary => {
                    Sql::Blob(dest_core::decode_hex(&s).ok_or_else(|| {
                        bad("a binary value that is not hexadecimal text".to_string())
                    })?)
                }
                Json::String(s) => Sql::Text(s),
                other => return Err(bad(format!("unexpected value `{other}`"))),
            });
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
    use dest_test::fixtures::SharedBuf as Shared;
    use expect_test::expect;

    #[test]
    fn round_trip() {
        let cols = vec![
            Column::new("i", DataType::Bigint),
            Column::new("f", DataType::Double),
            Column::new("b", DataType::Bool),
            Column::new("s", DataType::Text),
            Column::new("bin", DataType::Binary),
            Column::new("ts", DataType::Timestamp),
            Column::new("d", DataType::Date),
            Column::new("t", DataType::Time),
            Column::new("j", DataType::Json),
            Column::new("w", DataType::Wei),
        ];
        let buf = Shared::default();
        let mut w = TypedJsonl
            .writer("t", &cols, Box::new(buf.clone()))
            .unwrap();
        w.write_row(&[
            Value::Int(-3),
            Value::Double(7.0),
            Value::Bool(true),
            Value::Text("a\"b\0c\nd 🦀".into()),
            Value::Binary(vec![0, 255, 16]),
            Value::Timestamp(Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap()),
            Value::Date(NaiveDate::from_ymd_opt(2024, 2, 3).unwrap()),
            Value::Time(NaiveTime::from_hms_micro_opt(1, 2, 3, 45).unwrap()),
            Value::Json(serde_json::json!({"b": [1, "x"], "a": null})),
            Value::Number("123456789012345678901234567890123".into()),
        ])
        .unwrap();
        w.write_row(&[
            Value::Null,
            Value::Double(f64::NAN),
            Value::Bool(false),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ])
        .unwrap();
        w.finish().unwrap();
        let text = String::from_utf8(buf.bytes()).unwrap();
        expect![[r#"
            {"format":"typed-jsonl/1","columns":["i","f","b","s","bin","ts","d","t","j","w"],"types":["bigint","double","bool","text","binary","timestamp","date","time","json","wei"]}
            [-3,7.0,1,"a\"b\u0000c\nd 🦀","00ff10","2024-01-02 03:04:05.000000","2024-02-03","01:02:03.000045","{\"b\":[1,\"x\"],\"a\":null}","123456789012345678901234567890123"]
            [null,null,0,null,null,null,null,null,null,null]
        "#]]
        .assert_eq(&text);

        let mut r = Reader::open(text.as_bytes(), "job".into()).unwrap();
        assert_eq!(r.columns.len(), 10);
        let mut row = Vec::new();
        assert!(r.next_row(&mut row).unwrap());
        assert_eq!(row[0], Sql::Integer(-3));
        assert_eq!(row[1], Sql::Real(7.0));
        assert_eq!(row[2], Sql::Integer(1));
        assert_eq!(row[3], Sql::Text("a\"b\0c\nd 🦀".into()));
        assert_eq!(row[4], Sql::Blob(vec![0, 255, 16]));
        assert_eq!(
            row[9],
            Sql::Text("123456789012345678901234567890123".into())
        );
        row.clear();
        assert!(r.next_row(&mut row).unwrap());
        assert_eq!(row[1], Sql::Null);
        assert!(!r.next_row(&mut row).unwrap());
        let err = Reader::open(&b"[1]\n"[..], "job".into()).err().unwrap();
        assert!(
            err.to_string().contains("not a `typed-jsonl/1` job file"),
            "{err}"
        );
    }
}
