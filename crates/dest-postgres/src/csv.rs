//! The `csv` file format: PostgreSQL CSV, loaded with `COPY ... FROM STDIN`.
//!
//! File layout (one job = one table), UTF-8, `\n` line ends:
//!
//! ```text
//! "id","name","payload"
//! 1,"Alice O'Neil",
//! 2,"",
//! ```
//!
//! - The first line is a header of the column names, each quoted; the loader reads it to
//!   build the column list of `COPY {table} ("id","name",...)` and lets `COPY` skip it
//!   (`HEADER true`), so the line numbers in a `COPY` error are the file's line numbers
//!   (`COPY t, line 5, column s`; a line break inside a quoted value counts as a line).
//! - NULL is an unquoted empty field. Every text value (text, JSON) is quoted, `"` doubled,
//!   raw line breaks kept inside the quotes (COPY CSV reads them as data). So an empty string
//!   stays an empty string: dlt's csv loads with `FORCE_NULL(...)`, which turns `""` into
//!   NULL too; we deliberately do not, so `csv` stores exactly what `insert_values` stores.
//! - Other values are written in the text form PostgreSQL's input functions read back as the
//!   value `insert_values` stores (see the spec §7.2): `t`/`f`, integers, doubles as the
//!   shortest text that reads back to the same double (not finite: NULL), exact numbers as
//!   their decimal text, timestamps `2024-01-01T10:00:00[.ffffff]+00:00` (naive: no offset),
//!   dates, times, binary as `\x0102` (bytea hex input).
//! - A NUL character cannot be stored in PostgreSQL text: the writer refuses it with the
//!   error `insert_values` gives, naming the table and the column.

use std::io::Write;
use std::path::Path;

use bytes::BytesMut;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use dest_core::{Column, Error, FileFormat, JobWriter, Result, Value};
use futures_util::SinkExt;
use tokio::io::AsyncReadExt;

use crate::client::db_err;
use crate::sql::{quote_ident, NulInText};

/// Rendered rows are handed to the output once this many bytes are buffered.
const WRITE_CHUNK: usize = 256 * 1024;

/// The loader sends the file to the server in chunks of about this size.
const COPY_CHUNK: usize = 256 * 1024;

/// The `csv` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Csv;

impl Csv {
    pub fn new() -> Self {
        Csv
    }
}

impl FileFormat for Csv {
    fn format(&self) -> dest_core::LoaderFileFormat {
        dest_core::LoaderFileFormat::Csv
    }

    fn writer(
        &self,
        table: &str,
        columns: &[Column],
        out: Box<dyn Write + Send>,
    ) -> Result<Box<dyn JobWriter>> {
        let mut buf = Vec::with_capacity(WRITE_CHUNK + 64 * 1024);
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            write_quoted(&mut buf, c.name.as_bytes()).map_err(|e| {
                Error::InvalidSchema(format!("table `{table}`, column name `{}`: {e}", c.name))
            })?;
        }
        buf.push(b'\n');
        Ok(Box::new(CsvWriter {
            table: table.to_string(),
            columns: columns.iter().map(|c| c.name.clone()).collect(),
            out,
            buf,
            scratch: Vec::new(),
        }))
    }
}

struct CsvWriter {
    table: String,
    columns: Vec<String>,
    out: Box<dyn Write + Send>,
    /// rendered but not yet written bytes (reused)
    buf: Vec<u8>,
    /// JSON text before quoting (reused)
    scratch: Vec<u8>,
}

impl CsvWriter {
    fn flush_buf(&mut self) -> Result<()> {
        crate::insert_values::write_buffered(
            &mut self.out,
            &mut self.buf,
            "writing a csv job",
            &self.table,
        )
    }
}

impl JobWriter for CsvWriter {
    fn write_row(&mut self, row: &[Value]) -> Result<()> {
        if row.len() != self.columns.len() {
            return Err(Error::Internal(format!(
                "table `{}`: a row of {} values for {} columns",
                self.table,
                row.len(),
                self.columns.len()
            )));
        }
        let start = self.buf.len();
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            if let Err(reason) = render_csv(&mut self.buf, &mut self.scratch, v) {
                self.buf.truncate(start);
                let column = self.columns.get(i).map(String::as_str).unwrap_or("?");
                return Err(Error::InvalidSchema(format!(
                    "table `{}`, column `{column}`: {reason}",
                    self.table
                )));
            }
        }
        self.buf.push(b'\n');
        if self.buf.len() >= WRITE_CHUNK {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Box<dyn Write + Send>> {
        self.flush_buf()?;
        Ok(self.out)
    }
}

/// Why a value cannot be written.
#[derive(Debug, thiserror::Error)]
enum RenderError {
    #[error(transparent)]
    Nul(#[from] NulInText),
    #[error("`{0}` is not a number")]
    NotANumber(String),
    #[error("{0}")]
    Json(String),
}

/// Appends one value as a PostgreSQL CSV field. `scratch` is a reused buffer.
fn render_csv(
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    v: &Value,
) -> std::result::Result<(), RenderError> {
    match v {
        Value::Null => {}
        Value::Bool(true) => out.push(b't'),
        Value::Bool(false) => out.push(b'f'),
        Value::Int(i) => write_i64(out, *i),
        Value::Double(f) => {
            if f.is_finite() {
                // `{:?}` is the shortest text that reads back to the same double
                let _ = write!(out, "{f:?}");
            }
        }
        Value::Number(n) => {
            // unquoted, so it must not carry a delimiter, a quote or a line break
            if !is_numeric_text(n) {
                return Err(RenderError::NotANumber(n.clone()));
            }
            out.extend_from_slice(n.as_bytes());
        }
        Value::Text(s) => write_quoted(out, s.as_bytes())?,
        Value::Timestamp(ts) => write_timestamp(out, ts),
        Value::NaiveTimestamp(ts) => write_naive(out, ts),
        Value::Date(d) => write_date(out, d),
        Value::Time(t) => write_time(out, t),
        Value::Binary(b) => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.reserve(2 + 2 * b.len());
            out.extend_from_slice(b"\\x");
            for byte in b {
                out.push(HEX[usize::from(byte >> 4)]);
                out.push(HEX[usize::from(byte & 0x0f)]);
            }
        }
        Value::Json(j) => {
            scratch.clear();
            serde_json::to_writer(&mut *scratch, j)
                .map_err(|e| RenderError::Json(e.to_string()))?;
            write_quoted(out, scratch)?;
        }
    }
    Ok(())
}

/// Appends `s` as a quoted CSV field: `"` doubled, everything else (line breaks included)
/// copied as is. A NUL byte is refused.
fn write_quoted(out: &mut Vec<u8>, s: &[u8]) -> std::result::Result<(), NulInText> {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        match b {
            b'"' => {
                // copy through this quote, then write it a second time
                out.extend_from_slice(&s[start..=i]);
                out.push(b'"');
                start = i + 1;
            }
            0 => return Err(NulInText(i)),
            _ => {}
        }
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
    Ok(())
}

/// A decimal number: optional sign, digits, optional fraction and exponent (the check
/// `insert_values` makes).
fn is_numeric_text(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter().any(u8::is_ascii_digit)
        && b.iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'))
}

fn write_i64(out: &mut Vec<u8>, i: i64) {
    let mut digits = [0u8; 20];
    let mut pos = digits.len();
    let mut n = i.unsigned_abs();
    loop {
        pos -= 1;
        // n % 10 < 10
        digits[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[pos..]);
}

/// `n` (< 100) as two digits.
fn push2(out: &mut Vec<u8>, n: u32) {
    out.push(b'0' + (n / 10 % 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

/// `YYYY-MM-DD`, as chrono's `%Y-%m-%d` writes it.
fn write_date(out: &mut Vec<u8>, d: &NaiveDate) {
    match u32::try_from(d.year()) {
        Ok(y) if y <= 9999 => {
            push2(out, y / 100);
            push2(out, y % 100);
            out.push(b'-');
            push2(out, d.month());
            out.push(b'-');
            push2(out, d.day());
        }
        // signed years outside 0..=9999: chrono's text, as insert_values writes it
        _ => {
            let _ = write!(out, "{}", d.format("%Y-%m-%d"));
        }
    }
}

/// `HH:MM:SS`, `.ffffff` only when there are microseconds.
fn write_time(out: &mut Vec<u8>, t: &NaiveTime) {
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        // a leap second: chrono's text, as insert_values writes it
        let _ = write!(out, "{}", t.format("%H:%M:%S"));
    } else {
        push2(out, t.hour());
        out.push(b':');
        push2(out, t.minute());
        out.push(b':');
        push2(out, t.second());
    }
    let micros = nanos / 1000;
    if micros != 0 {
        let _ = write!(out, ".{micros:06}");
    }
}

fn write_naive(out: &mut Vec<u8>, ts: &NaiveDateTime) {
    write_date(out, &ts.date());
    out.push(b'T');
    write_time(out, &ts.time());
}

fn write_timestamp(out: &mut Vec<u8>, ts: &DateTime<Utc>) {
    write_naive(out, &ts.naive_utc());
    out.extend_from_slice(b"+00:00");
}

/// Where the header ends, and its fields; `None` when `data` does not hold the whole line.
fn parse_header(data: &[u8]) -> Option<(usize, Vec<String>)> {
    let mut fields = Vec::new();
    let mut field: Vec<u8> = Vec::new();
    let mut quoted = false;
    // whether the line has anything (a quoted empty name is a name)
    let mut any = false;
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if b != b'\n' || quoted {
            any = true;
        }
        if quoted {
            if b == b'"' {
                if data.get(i + 1) == Some(&b'"') {
                    field.push(b'"');
                    i += 1;
                } else if i + 1 == data.len() {
                    // cannot tell a closing quote from the first of a doubled one yet
                    return None;
                } else {
                    quoted = false;
                }
            } else {
                field.push(b);
            }
        } else {
            match b {
                b'"' => quoted = true,
                b',' => fields.push(String::from_utf8_lossy(&std::mem::take(&mut field)).into()),
                b'\n' => {
                    if field.last() == Some(&b'\r') {
                        field.pop();
                    }
                    if any {
                        fields.push(String::from_utf8_lossy(&field).into());
                    }
                    return Some((i + 1, fields));
                }
                _ => field.push(b),
            }
        }
        i += 1;
    }
    None
}

/// Loads one csv job file into `target` (a qualified table name) with
/// `COPY ... FROM STDIN` inside `tx`; returns the number of rows.
///
/// The column list comes from the file's header. A file with a header only loads nothing
/// (no statement is sent). A server error names the line of the file and the column:
/// `COPY t, line 3, column x` (line 1 is the header; line breaks inside quoted values count);
/// such an error comes as [`Error::AtRow`] with the index of the row that line belongs to.
pub(crate) async fn copy_file(
    tx: &tokio_postgres::Client,
    target: &str,
    file: &Path,
) -> Result<u64> {
    let ctx = format!("loading {} into {target}", file.display());
    let mut f = tokio::fs::File::open(file)
        .await
        .map_err(|e| Error::io("opening a job file", file, e))?;
    let mut buf = BytesMut::with_capacity(COPY_CHUNK);
    let mut eof = false;

    // the header: read until it is complete
    let (header_end, columns) = loop {
        if let Some(found) = parse_header(&buf) {
            break found;
        }
        if eof {
            return Err(Error::Internal(format!(
                "csv job file {} has no complete header line",
                file.display()
            )));
        }
        buf.reserve(COPY_CHUNK);
        let n = f
            .read_buf(&mut buf)
            .await
            .map_err(|e| Error::io("reading a job file", file, e))?;
        eof = n == 0;
    };
    // fill the first chunk: an empty job (header only) sends nothing
    while !eof && buf.len() < COPY_CHUNK {
        buf.reserve(COPY_CHUNK - buf.len());
        let n = f
            .read_buf(&mut buf)
            .await
            .map_err(|e| Error::io("reading a job file", file, e))?;
        eof = n == 0;
    }
    if buf.len() == header_end && eof {
        return Ok(0);
    }
    if columns.is_empty() {
        return Err(Error::Internal(format!(
            "csv job file {} has rows but no columns",
            file.display()
        )));
    }

    let column_list = columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(",");
    // NULL is an unquoted empty field; a quoted empty field is an empty string (no
    // FORCE_NULL, unlike dlt: see the module docs)
    let sql = format!(
        "COPY {target} ({column_list}) FROM STDIN \
         WITH (FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', NULL '', ENCODING 'UTF8')"
    );
    let sink = tx
        .copy_in::<_, bytes::Bytes>(sql.as_str())
        .await
        .map_err(|e| db_err(&ctx, e))?;
    let mut sink = Box::pin(sink);
    loop {
        if !buf.is_empty() && (eof || buf.len() >= COPY_CHUNK) {
            if let Err(e) = sink.send(buf.split().freeze()).await {
                return Err(copy_error(file, &ctx, e).await);
            }
        }
        if eof {
            break;
        }
        buf.reserve(COPY_CHUNK);
        let n = f
            .read_buf(&mut buf)
            .await
            .map_err(|e| Error::io("reading a job file", file, e))?;
        eof = n == 0;
    }
    match sink.as_mut().finish().await {
        Ok(rows) => Ok(rows),
        Err(e) => Err(copy_error(file, &ctx, e).await),
    }
}

/// The error of a failed `COPY`: when the server names the line of the file
/// (`COPY t, line 5, column s: ...`), [`Error::AtRow`] with the index of the row that line
/// belongs to.
async fn copy_error(file: &Path, ctx: &str, e: tokio_postgres::Error) -> Error {
    let line = e
        .as_db_error()
        .and_then(|db| db.where_())
        .and_then(copy_line);
    let row = match line {
        Some(line) => row_of_line(file, line).await,
        None => None,
    };
    let err = db_err(ctx, e);
    match row {
        Some(row) => Error::AtRow {
            row,
            source: Box::new(err),
        },
        None => err,
    }
}

/// The line number of PostgreSQL's `COPY` context `COPY t, line 5, column s: "x"` (one of
/// the lines of `where_`).
pub(crate) fn copy_line(where_: &str) -> Option<u64> {
    where_
        .lines()
        .filter(|l| l.starts_with("COPY "))
        .find_map(|l| {
            l.match_indices(", line ").find_map(|(at, m)| {
                let rest = &l[at + m.len()..];
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                let after = rest.as_bytes().get(digits);
                if digits > 0 && matches!(after, None | Some(b',' | b':')) {
                    rest[..digits].parse().ok()
                } else {
                    None
                }
            })
        })
}

/// The index (0-based, the header not counted) of the row of the csv job `file` that
/// physical line `line` (1-based) belongs to. `COPY` counts every line break, also those
/// inside quoted values, so a row spans several lines when a value holds a line break.
/// `None` when the line is the header's or past the end, or the file cannot be read.
async fn row_of_line(file: &Path, line: u64) -> Option<u64> {
    let mut f = tokio::fs::File::open(file).await.ok()?;
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut scan = RecordScan::default();
    loop {
        let n = f.read(&mut buf).await.ok()?;
        if n == 0 {
            return scan.end(line).and_then(|r| r.checked_sub(1));
        }
        if let Some(record) = scan.feed(buf.get(..n)?, line) {
            return record.checked_sub(1);
        }
    }
}

/// Follows the records of a csv file (quoted fields may hold line breaks) and their lines.
#[derive(Debug)]
struct RecordScan {
    in_quote: bool,
    /// the current physical line (1-based)
    line: u64,
    /// the current record (0-based; 0 is the header)
    record: u64,
    /// the line the current record starts on
    start: u64,
    /// whether the current record has any byte yet
    started: bool,
}

impl Default for RecordScan {
    fn default() -> Self {
        RecordScan {
            in_quote: false,
            line: 1,
            record: 0,
            start: 1,
            started: false,
        }
    }
}

impl RecordScan {
    /// Reads `data`; the record that spans `want` once its end is seen.
    fn feed(&mut self, data: &[u8], want: u64) -> Option<u64> {
        for &b in data {
            self.started = true;
            match b {
                b'"' => self.in_quote = !self.in_quote,
                b'\n' if self.in_quote => self.line += 1,
                b'\n' => {
                    if (self.start..=self.line).contains(&want) {
                        return Some(self.record);
                    }
                    self.record += 1;
                    self.line += 1;
                    self.start = self.line;
                    self.started = false;
                }
                _ => {}
            }
        }
        None
    }

    /// At the end of the file: the last record when it has no final line break and spans
    /// `want`.
    fn end(&self, want: u64) -> Option<u64> {
        (self.started && (self.start..=self.line).contains(&want)).then_some(self.record)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use dest_core::DataType;
    use expect_test::expect;
    use std::sync::{Arc, Mutex};

    fn field(v: &Value) -> String {
        let mut out = Vec::new();
        render_csv(&mut out, &mut Vec::new(), v).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn write_file(columns: &[Column], rows: &[Vec<Value>]) -> String {
        let shared = Shared::default();
        let mut w = Csv::new()
            .writer("t", columns, Box::new(shared.clone()))
            .unwrap();
        for r in rows {
            w.write_row(r).unwrap();
        }
        w.finish().unwrap();
        let bytes = shared.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    fn ts() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 10, 0, 0).unwrap()
    }

    #[test]
    fn every_value_type() {
        let date = NaiveDate::from_ymd_opt(2024, 2, 3).unwrap();
        let time = NaiveTime::from_hms_micro_opt(10, 11, 12, 5).unwrap();
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Bool(false),
            Value::Int(0),
            Value::Int(-3),
            Value::Int(i64::MIN),
            Value::Int(i64::MAX),
            Value::Double(1.5),
            Value::Double(7.0),
            Value::Double(-0.0),
            Value::Double(1e-7),
            Value::Double(1.5e300),
            Value::Double(0.1 + 0.2),
            Value::Double(f64::NAN),
            Value::Double(f64::INFINITY),
            Value::Number("123456789012345678901234567890".into()),
            Value::Number("-1.239e-5".into()),
            Value::Timestamp(ts()),
            Value::Timestamp(ts() + chrono::Duration::microseconds(500_000)),
            Value::Timestamp(ts() + chrono::Duration::microseconds(1)),
            Value::NaiveTimestamp(ts().naive_utc()),
            Value::NaiveTimestamp(date.and_time(time)),
            Value::NaiveTimestamp(NaiveDate::from_ymd_opt(12345, 1, 2).unwrap().and_time(time)),
            Value::Date(date),
            Value::Date(NaiveDate::from_ymd_opt(33, 12, 31).unwrap()),
            Value::Time(time),
            Value::Time(NaiveTime::from_hms_opt(0, 0, 0).unwrap()),
            Value::Binary(vec![]),
            Value::Binary(vec![0, 1, 0xab, 0xff]),
            Value::Json(serde_json::json!({"b": [1, "x\"y, z"], "a": null, "n": 1.50})),
            Value::Json(serde_json::json!("s")),
            Value::Json(serde_json::json!({"nl": "a\nb", "nul": "\u{0}"})),
        ];
        let text: String = values
            .iter()
            .map(|v| format!("{v:?}: [{}]\n", field(v)))
            .collect();
        expect![[r#"
            Null: []
            Bool(true): [t]
            Bool(false): [f]
            Int(0): [0]
            Int(-3): [-3]
            Int(-9223372036854775808): [-9223372036854775808]
            Int(9223372036854775807): [9223372036854775807]
            Double(1.5): [1.5]
            Double(7.0): [7.0]
            Double(-0.0): [-0.0]
            Double(1e-7): [1e-7]
            Double(1.5e300): [1.5e300]
            Double(0.30000000000000004): [0.30000000000000004]
            Double(NaN): []
            Double(inf): []
            Number("123456789012345678901234567890"): [123456789012345678901234567890]
            Number("-1.239e-5"): [-1.239e-5]
            Timestamp(2024-01-01T10:00:00Z): [2024-01-01T10:00:00+00:00]
            Timestamp(2024-01-01T10:00:00.500Z): [2024-01-01T10:00:00.500000+00:00]
            Timestamp(2024-01-01T10:00:00.000001Z): [2024-01-01T10:00:00.000001+00:00]
            NaiveTimestamp(2024-01-01T10:00:00): [2024-01-01T10:00:00]
            NaiveTimestamp(2024-02-03T10:11:12.000005): [2024-02-03T10:11:12.000005]
            NaiveTimestamp(+12345-01-02T10:11:12.000005): [+12345-01-02T10:11:12.000005]
            Date(2024-02-03): [2024-02-03]
            Date(0033-12-31): [0033-12-31]
            Time(10:11:12.000005): [10:11:12.000005]
            Time(00:00:00): [00:00:00]
            Binary([]): [\x]
            Binary([0, 1, 171, 255]): [\x0001abff]
            Json(Object {"b": Array [Number(1), String("x\"y, z")], "a": Null, "n": Number(1.5)}): ["{""b"":[1,""x\""y, z""],""a"":null,""n"":1.5}"]
            Json(String("s")): ["""s"""]
            Json(Object {"nl": String("a\nb"), "nul": String("\0")}): ["{""nl"":""a\nb"",""nul"":""\u0000""}"]
        "#]]
        .assert_eq(&text);
    }

    #[test]
    fn nasty_text() {
        let texts = [
            "",
            "plain",
            "Alice O'Neil",
            "say \"hi\"",
            "\"",
            "a,b",
            "line\nbreak",
            "cr\rlf\r\n",
            "\\N",
            "\\.",
            "back\\slash",
            "tab\there",
            " padded ",
            "NULL",
            "emoji 🦀 ünïcödé",
        ];
        let cols = [
            Column::new("id", DataType::Bigint),
            Column::new("s", DataType::Text),
        ];
        let rows: Vec<Vec<Value>> = texts
            .iter()
            .enumerate()
            .map(|(i, s)| vec![Value::Int(i as i64), Value::Text(s.to_string())])
            .chain([vec![Value::Int(99), Value::Null]])
            .collect();
        let file = write_file(&cols, &rows);
        assert!(file.contains("7,\"cr\rlf\r\n\"\n"));
        // CR shown as ␍ so the snapshot is readable
        expect![[r#"
            "id","s"
            0,""
            1,"plain"
            2,"Alice O'Neil"
            3,"say ""hi"""
            4,""""
            5,"a,b"
            6,"line
            break"
            7,"cr␍lf␍
            "
            8,"\N"
            9,"\."
            10,"back\slash"
            11,"tab	here"
            12," padded "
            13,"NULL"
            14,"emoji 🦀 ünïcödé"
            99,
        "#]]
        .assert_eq(&file.replace('\r', "␍"));
    }

    #[test]
    fn header_and_empty_file() {
        let cols = [
            Column::new("a", DataType::Bigint),
            Column::new("we\"ird, name", DataType::Text),
        ];
        let empty = write_file(&cols, &[]);
        expect![[r#"
            "a","we""ird, name"
        "#]]
        .assert_eq(&empty);
        let (end, names) = parse_header(empty.as_bytes()).unwrap();
        assert_eq!(end, empty.len());
        assert_eq!(names, ["a", "we\"ird, name"]);
        // incomplete headers wait for more data
        assert_eq!(parse_header(b"\"a\",\"b"), None);
        assert_eq!(parse_header(b"\"a\",\"b\""), None);
        assert_eq!(
            parse_header(b"\"a\nb\",c\r\n1,2\n"),
            Some((9, vec!["a\nb".to_string(), "c".to_string()]))
        );
        assert_eq!(parse_header(b"\n1\n"), Some((1, vec![])));
    }

    #[test]
    fn nul_is_refused_naming_table_and_column() {
        let cols = [
            Column::new("id", DataType::Bigint),
            Column::new("s", DataType::Text),
        ];
        let mut w = Csv::new()
            .writer("users", &cols, Box::new(Shared::default()))
            .unwrap();
        let err = w
            .write_row(&[Value::Int(1), Value::Text("a\0b".into())])
            .unwrap_err();
        expect![[r#"invalid schema: table `users`, column `s`: text contains a NUL character (\u0000) at byte 1, which PostgreSQL text cannot store"#]]
        .assert_eq(&err.to_string());
        // the same words as insert_values
        let mut iv = crate::InsertValues::new(crate::insert_values::MAX_STATEMENT_BYTES)
            .writer("users", &cols, Box::new(Shared::default()))
            .unwrap();
        let iv_err = iv
            .write_row(&[Value::Int(1), Value::Text("a\0b".into())])
            .unwrap_err();
        assert_eq!(err.to_string(), iv_err.to_string());

        let err = w
            .write_row(&[Value::Number("1,2".into()), Value::Null])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid schema: table `users`, column `id`: `1,2` is not a number"
        );
        assert!(w.write_row(&[Value::Int(1)]).is_err());
    }

    #[test]
    fn copy_lines_map_to_rows() {
        assert_eq!(copy_line(r#"COPY t, line 5, column s: "toolong""#), Some(5));
        assert_eq!(copy_line("COPY t, line 12"), Some(12));
        assert_eq!(copy_line("COPY a, line b, line 3: \"x\""), Some(3));
        assert_eq!(
            copy_line("SQL function \"f\"\nCOPY t, line 7, column s"),
            Some(7)
        );
        assert_eq!(copy_line("COPY t"), None);
        assert_eq!(copy_line("PL/pgSQL function f() line 3 at RAISE"), None);

        // header on line 1; row 0 on lines 2-3 (a quoted line break), row 1 on 4,
        // row 2 on 5-7, row 3 on line 8 without a final line break; a quote doubled
        let file = b"\"id\",\"s\"\n1,\"a\nb\"\n2,\"q\"\"\"\n3,\"x\n\"\"\ny\"\n4,\"z\"";
        let row = |line: u64| {
            let mut scan = RecordScan::default();
            // fed in small pieces: records cross the chunks
            for chunk in file.chunks(3) {
                if let Some(r) = scan.feed(chunk, line) {
                    return r.checked_sub(1);
                }
            }
            scan.end(line).and_then(|r| r.checked_sub(1))
        };
        let got: Vec<Option<u64>> = (1..=9).map(row).collect();
        assert_eq!(
            got,
            [
                None,
                Some(0),
                Some(0),
                Some(1),
                Some(2),
                Some(2),
                Some(2),
                Some(3),
                None
            ]
        );
    }
}
