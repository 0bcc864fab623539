//! The `insert_values` file format: multi-row `INSERT ... VALUES` statements.
//!
//! File layout (one job = one table): statements of at most about
//! [`MAX_STATEMENT_BYTES`], each
//!
//! ```text
//! INSERT INTO {}("a","b")
//! VALUES
//! (1,E'x'),
//! (2,NULL);
//! ```
//!
//! `{}` stands for the qualified table name, filled in at load time (the same file loads
//! into the dataset or into staging). Literals never contain a raw line break
//! ([`crate::sql::escape_literal`] writes `\n`), so a statement ends exactly at a line that
//! ends with `;`.

use std::io::Write;

use chrono::{DateTime, Datelike, NaiveDateTime, NaiveTime, Timelike, Utc};
use dest_core::{Column, Error, FileFormat, JobWriter, Result, Value};

use crate::sql::escape_literal;

/// Statements are cut at about this size by default. dlt cuts at 16 MiB (half its 32 MiB
/// query limit); PostgreSQL's time per row is the same for 1,000-row and 16 MiB statements
/// (measured, docs/performance.md) while every load worker holds one statement in memory,
/// so ours are smaller. `[destination.postgres] max_statement_bytes` changes it.
pub(crate) const MAX_STATEMENT_BYTES: usize = 256 * 1024;

/// The placeholder for the table name in a statement header.
pub(crate) const TABLE_PLACEHOLDER: &str = "{}";

/// The `insert_values` format.
#[derive(Debug, Clone, Copy)]
pub struct InsertValues {
    /// Statement size limit in bytes.
    pub max_statement_bytes: usize,
}

impl InsertValues {
    pub fn new(max_statement_bytes: usize) -> Self {
        InsertValues {
            max_statement_bytes,
        }
    }
}

impl FileFormat for InsertValues {
    fn format(&self) -> dest_core::LoaderFileFormat {
        dest_core::LoaderFileFormat::InsertValues
    }

    fn writer(
        &self,
        table: &str,
        columns: &[Column],
        out: Box<dyn Write + Send>,
    ) -> Result<Box<dyn JobWriter>> {
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let header = crate::sql::bound::insert_values_header(TABLE_PLACEHOLDER, &names);
        Ok(Box::new(InsertValuesWriter {
            table: table.to_string(),
            columns: columns.to_vec(),
            header,
            out,
            buf: Vec::with_capacity(64 * 1024),
            statement_bytes: 0,
            rows_in_statement: 0,
            max_statement_bytes: self.max_statement_bytes.max(1),
        }))
    }
}

struct InsertValuesWriter {
    table: String,
    columns: Vec<Column>,
    header: String,
    out: Box<dyn Write + Send>,
    /// rendered but not yet written bytes
    buf: Vec<u8>,
    statement_bytes: usize,
    rows_in_statement: u64,
    max_statement_bytes: usize,
}

impl InsertValuesWriter {
    fn flush_buf(&mut self) -> Result<()> {
        crate::insert_values::write_buffered(
            &mut self.out,
            &mut self.buf,
            "writing an insert_values job",
            &self.table,
        )
    }
}

impl JobWriter for InsertValuesWriter {
    fn write_row(&mut self, row: &[Value]) -> Result<()> {
        if self.rows_in_statement > 0 && self.statement_bytes >= self.max_statement_bytes {
            // close the statement; the next row opens a new one
            self.buf.extend_from_slice(b";\n");
            self.rows_in_statement = 0;
            self.statement_bytes = 0;
        }
        let start = self.buf.len();
        if self.rows_in_statement == 0 {
            self.buf.extend_from_slice(self.header.as_bytes());
        } else {
            self.buf.extend_from_slice(b",\n");
        }
        self.buf.push(b'(');
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            if let Err(reason) = render_value(&mut self.buf, v) {
                let column = self.columns.get(i).map(|c| c.name.as_str()).unwrap_or("?");
                return Err(Error::InvalidSchema(format!(
                    "table `{}`, column `{column}`: {reason}",
                    self.table
                )));
            }
        }
        self.buf.push(b')');
        self.statement_bytes += self.buf.len() - start;
        self.rows_in_statement += 1;
        if self.buf.len() >= 256 * 1024 {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Box<dyn Write + Send>> {
        if self.rows_in_statement > 0 {
            self.buf.push(b';');
        }
        self.flush_buf()?;
        Ok(self.out)
    }
}

/// Writes a job writer's rendered bytes to its file and empties the buffer (both formats).
pub(crate) fn write_buffered(
    out: &mut Box<dyn Write + Send>,
    buf: &mut Vec<u8>,
    what: &'static str,
    table: &str,
) -> Result<()> {
    if !buf.is_empty() {
        out.write_all(buf).map_err(|e| Error::io(what, table, e))?;
        buf.clear();
    }
    Ok(())
}

/// Why a value cannot be a PostgreSQL literal.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("`{0}` is not a number")]
    NotANumber(String),
    #[error(transparent)]
    Nul(#[from] crate::sql::NulInText),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Renders one value as a PostgreSQL literal (dlt's rendering, see the spec §7.2).
pub fn render_value(out: &mut Vec<u8>, v: &Value) -> std::result::Result<(), RenderError> {
    match v {
        Value::Null => out.extend_from_slice(b"NULL"),
        Value::Bool(true) => out.extend_from_slice(b"True"),
        Value::Bool(false) => out.extend_from_slice(b"False"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Double(f) => {
            if f.is_finite() {
                // `{:?}` is the shortest text that reads back to the same double
                let _ = write!(out, "{f:?}");
            } else {
                out.extend_from_slice(b"NULL");
            }
        }
        Value::Number(n) => {
            if !is_numeric_text(n) {
                return Err(RenderError::NotANumber(n.to_string()));
            }
            out.extend_from_slice(n.as_bytes());
        }
        Value::Text(s) => escape_literal(out, s)?,
        Value::Timestamp(ts) => {
            out.push(b'\'');
            write_timestamp(out, ts);
            out.push(b'\'');
        }
        Value::NaiveTimestamp(ts) => {
            out.push(b'\'');
            write_naive(out, ts);
            out.push(b'\'');
        }
        Value::Date(d) => {
            let _ = write!(out, "'{}'", d.format("%Y-%m-%d"));
        }
        Value::Time(t) => {
            out.push(b'\'');
            write_time(out, t);
            out.push(b'\'');
        }
        Value::Binary(b) => {
            out.extend_from_slice(b"'\\x");
            b.iter().for_each(|byte| dest_core::push_hex(out, *byte));
            out.extend_from_slice(b"'::bytea");
        }
        Value::Json(j) => {
            let text = serde_json::to_string(j)?;
            escape_literal(out, &text)?;
        }
    }
    Ok(())
}

/// A decimal number: optional sign, digits, optional fraction and exponent.
fn is_numeric_text(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter().any(u8::is_ascii_digit)
        && b.iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'))
}

/// Appends `n` as exactly `width` decimal digits (n < 10^width).
fn push_digits(out: &mut Vec<u8>, mut n: u32, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    for slot in out[start..].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// `HH:MM:SS[.ffffff]` (microseconds only when not zero, as dlt renders).
fn write_time(out: &mut Vec<u8>, t: &NaiveTime) {
    push_digits(out, t.hour(), 2);
    out.push(b':');
    push_digits(out, t.minute(), 2);
    out.push(b':');
    // a leap second is carried in the nanoseconds: PostgreSQL has none, keep :59 + fraction
    push_digits(out, t.second(), 2);
    let micros = (t.nanosecond() % 1_000_000_000) / 1000;
    if micros != 0 {
        out.push(b'.');
        push_digits(out, micros, 6);
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff]`.
fn write_naive(out: &mut Vec<u8>, ts: &NaiveDateTime) {
    let d = ts.date();
    match u32::try_from(d.year()) {
        Ok(y) if y <= 9999 => {
            push_digits(out, y, 4);
            out.push(b'-');
            push_digits(out, d.month(), 2);
            out.push(b'-');
            push_digits(out, d.day(), 2);
        }
        _ => {
            let _ = write!(out, "{}", d.format("%Y-%m-%d"));
        }
    }
    out.push(b'T');
    write_time(out, &ts.time());
}

fn write_timestamp(out: &mut Vec<u8>, ts: &DateTime<Utc>) {
    write_naive(out, &ts.naive_utc());
    out.extend_from_slice(b"+00:00");
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};
    use dest_core::DataType;
    use expect_test::expect;

    fn render(v: Value) -> String {
        let mut out = Vec::new();
        render_value(&mut out, &v).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_render_like_dlt() {
        let ts = Utc.with_ymd_and_hms(2024, 1, 1, 10, 0, 0).unwrap();
        let cases = [
            (Value::Null, "NULL"),
            (Value::Bool(true), "True"),
            (Value::Int(-3), "-3"),
            (Value::Double(1.5), "1.5"),
            (Value::Double(7.0), "7.0"),
            (Value::Double(1e-7), "1e-7"),
            (Value::Double(1.5e300), "1.5e300"),
            (Value::Double(f64::NAN), "NULL"),
            (
                Value::Number("123456789012345678901234567890".into()),
                "123456789012345678901234567890",
            ),
            (
                Value::Text("Alice O'Neil\nx\\y".into()),
                r"E'Alice O''Neil\nx\\y'",
            ),
            (Value::Timestamp(ts), "'2024-01-01T10:00:00+00:00'"),
            (
                Value::Timestamp(ts + chrono::Duration::microseconds(500_000)),
                "'2024-01-01T10:00:00.500000+00:00'",
            ),
            (
                Value::Date(NaiveDate::from_ymd_opt(2024, 2, 3).unwrap()),
                "'2024-02-03'",
            ),
            (Value::Binary(vec![1, 2]), r"'\x0102'::bytea"),
            (
                Value::Time(NaiveTime::from_hms_micro_opt(1, 2, 3, 45).unwrap()),
                "'01:02:03.000045'",
            ),
            (
                Value::NaiveTimestamp(
                    NaiveDate::from_ymd_opt(987, 6, 5)
                        .unwrap()
                        .and_hms_opt(4, 3, 2)
                        .unwrap(),
                ),
                "'0987-06-05T04:03:02'",
            ),
            (
                Value::Json(serde_json::json!({"b": [1, "x'y"], "a": null})),
                r#"E'{"b":[1,"x''y"],"a":null}'"#,
            ),
        ];
        for (v, want) in cases {
            assert_eq!(render(v.clone()), want, "{v:?}");
        }
        let mut out = Vec::new();
        assert!(render_value(&mut out, &Value::Number("1; DROP".into())).is_err());
    }

    #[test]
    fn file_layout_and_statement_split() {
        let cols = vec![
            Column::new("id", DataType::Bigint),
            Column::new("name", DataType::Text),
        ];
        let format = InsertValues {
            max_statement_bytes: 50,
        };
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut w = format
            .writer("t", &cols, Box::new(Shared(buf.clone())))
            .unwrap();
        for i in 0..3 {
            w.write_row(&[Value::Int(i), Value::Text(format!("n{i}"))])
                .unwrap();
        }
        w.finish().unwrap();
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        expect![[r#"
            INSERT INTO {}("id","name")
            VALUES
            (0,E'n0'),
            (1,E'n1');
            INSERT INTO {}("id","name")
            VALUES
            (2,E'n2');"#]]
        .assert_eq(&text);
    }
}
