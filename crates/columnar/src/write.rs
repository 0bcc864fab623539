//! The `parquet` loader file format: normalized rows into Parquet row groups.
//!
//! Rows are appended to one Arrow builder per column; every [`ROW_GROUP_ROWS`] rows (or
//! [`ROW_GROUP_BYTES`] of values, whichever comes first) the builders become a record batch
//! and the batch a row group, so memory is bounded by a row group, not by the file. Job files
//! are written for speed, not for size: no dictionaries, no statistics, no compression (they
//! are read once, by the load step of the same machine, and deleted).

use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, NullArray, RecordBatch};
use arrow_schema::{DataType as Arrow, SchemaRef};
use chrono::{NaiveDate, Timelike};
use dest_core::{Column, Error, FileFormat, JobWriter, LoaderFileFormat, Result, Value};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::types::{arrow_type, job_schema, UTC};
use crate::ColumnarError;

/// Rows per row group (and per record batch when the file is read back).
const ROW_GROUP_ROWS: usize = 16 * 1024;
/// Bytes of values that close a row group early (long texts).
const ROW_GROUP_BYTES: usize = 2 * 1024 * 1024;

fn job_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build()
}

fn parquet_error(what: &str, path: &str, e: parquet::errors::ParquetError) -> Error {
    match e {
        parquet::errors::ParquetError::External(inner) => {
            match inner.downcast::<std::io::Error>() {
                Ok(io) => Error::io("writing a parquet file", path, *io),
                Err(other) => Error::Internal(format!("{what} {path}: {other}")),
            }
        }
        other => Error::Internal(format!("{what} {path}: {other}")),
    }
}

/// Record batches into a Parquet file, as they come (each batch one row group or more).
/// `name` names the file or table in errors.
pub struct ParquetBatchWriter {
    name: String,
    schema: SchemaRef,
    writer: ArrowWriter<Box<dyn Write + Send>>,
}

impl ParquetBatchWriter {
    pub fn new(name: &str, schema: SchemaRef, out: Box<dyn Write + Send>) -> Result<Self> {
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(job_properties()))
            .map_err(|e| parquet_error("starting", name, e))?;
        Ok(ParquetBatchWriter {
            name: name.to_string(),
            schema,
            writer,
        })
    }

    /// The schema every batch must have.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer
            .write(batch)
            .and_then(|()| self.writer.flush())
            .map_err(|e| parquet_error("writing", &self.name, e))
    }

    /// Writes the footer; returns the underlying writer so the caller can flush and sync it.
    pub fn finish(self) -> Result<Box<dyn Write + Send>> {
        let name = self.name;
        self.writer
            .into_inner()
            .map_err(|e| parquet_error("finishing", &name, e))
    }
}

impl std::fmt::Debug for ParquetBatchWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetBatchWriter")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The `parquet` format (dlt's name). The same writer serves every destination.
#[derive(Debug, Clone, Copy, Default)]
pub struct Parquet;

impl FileFormat for Parquet {
    fn format(&self) -> LoaderFileFormat {
        LoaderFileFormat::Parquet
    }

    fn writer(
        &self,
        table: &str,
        columns: &[Column],
        out: Box<dyn Write + Send>,
    ) -> Result<Box<dyn JobWriter>> {
        let batch = RowBatchBuilder::new(columns);
        let writer = ParquetBatchWriter::new(table, batch.schema.clone(), out)?;
        Ok(Box::new(Writer {
            table: table.to_string(),
            batch,
            writer,
        }))
    }
}

/// Normalized rows into an Arrow record batch of job-typed columns ([`job_schema`]): one
/// builder per column, a batch whenever the caller asks (the `parquet` writer's row groups,
/// a dataset read back as Arrow).
pub struct RowBatchBuilder {
    names: Vec<String>,
    builders: Vec<Builder>,
    schema: SchemaRef,
    /// Rows and value bytes in the builders.
    rows: usize,
    bytes: usize,
}

impl RowBatchBuilder {
    pub fn new(columns: &[Column]) -> Self {
        RowBatchBuilder {
            names: columns.iter().map(|c| c.name.clone()).collect(),
            builders: columns
                .iter()
                .map(|c| Builder::new(&arrow_type(c)))
                .collect(),
            schema: Arc::new(job_schema(columns)),
            rows: 0,
            bytes: 0,
        }
    }

    /// The schema of the batches.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows appended since the last batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes of values appended since the last batch.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Appends a row (a value per column); the error names the column of a value its
    /// Arrow type cannot hold.
    pub fn append_row(&mut self, row: &[Value]) -> std::result::Result<(), ColumnarError> {
        if row.len() != self.builders.len() {
            return Err(ColumnarError::Column {
                column: self.names.join(", "),
                message: format!(
                    "a row of {} values for {} columns",
                    row.len(),
                    self.builders.len()
                ),
            });
        }
        for ((builder, value), name) in self.builders.iter_mut().zip(row).zip(&self.names) {
            self.bytes += builder
                .append(value)
                .map_err(|found| ColumnarError::Column {
                    column: name.clone(),
                    message: format!(
                        "a {found} value in a column of Arrow type {}",
                        builder.arrow_type()
                    ),
                })?;
        }
        self.rows += 1;
        Ok(())
    }

    /// The rows appended since the last batch, as a batch.
    pub fn finish(&mut self) -> std::result::Result<RecordBatch, ColumnarError> {
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(|source| ColumnarError::Arrow {
            context: "a batch of job-typed columns".into(),
            source,
        })
    }
}

impl std::fmt::Debug for RowBatchBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowBatchBuilder")
            .field("schema", &self.schema)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

struct Writer {
    table: String,
    batch: RowBatchBuilder,
    writer: ParquetBatchWriter,
}

impl Writer {
    fn flush(&mut self) -> Result<()> {
        if self.batch.rows == 0 {
            return Ok(());
        }
        let batch = self
            .batch
            .finish()
            .map_err(|e| Error::Internal(format!("a parquet row group of {}: {e}", self.table)))?;
        self.writer.write(&batch)?;
        Ok(())
    }
}

impl JobWriter for Writer {
    fn write_row(&mut self, row: &[Value]) -> Result<()> {
        self.batch.append_row(row).map_err(|e| match e {
            ColumnarError::Column { column, message } => {
                Error::Internal(format!("column {column} of {}: {message}", self.table))
            }
            e => Error::Internal(format!("{} of {}", e, self.table)),
        })?;
        if self.batch.rows >= ROW_GROUP_ROWS || self.batch.bytes >= ROW_GROUP_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn buffered_bytes(&self) -> u64 {
        self.batch.bytes as u64
    }

    fn finish(mut self: Box<Self>) -> Result<Box<dyn Write + Send>> {
        self.flush()?;
        self.writer.finish()
    }
}

/// One column's builder, by job type.
enum Builder {
    Null(usize),
    Utf8(StringBuilder),
    Float64(Float64Builder),
    Boolean(BooleanBuilder),
    Int64(Int64Builder),
    Timestamp(TimestampMicrosecondBuilder, bool),
    Date32(Date32Builder),
    Time64(Time64MicrosecondBuilder),
    Binary(BinaryBuilder),
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

impl Builder {
    fn new(t: &Arrow) -> Builder {
        match t {
            Arrow::Utf8 => Builder::Utf8(StringBuilder::new()),
            Arrow::Float64 => Builder::Float64(Float64Builder::new()),
            Arrow::Boolean => Builder::Boolean(BooleanBuilder::new()),
            Arrow::Int64 => Builder::Int64(Int64Builder::new()),
            Arrow::Timestamp(_, tz) => {
                Builder::Timestamp(TimestampMicrosecondBuilder::new(), tz.is_some())
            }
            Arrow::Date32 => Builder::Date32(Date32Builder::new()),
            Arrow::Time64(_) => Builder::Time64(Time64MicrosecondBuilder::new()),
            Arrow::Binary => Builder::Binary(BinaryBuilder::new()),
            _ => Builder::Null(0),
        }
    }

    fn arrow_type(&self) -> &'static str {
        match self {
            Builder::Null(_) => "Null",
            Builder::Utf8(_) => "Utf8",
            Builder::Float64(_) => "Float64",
            Builder::Boolean(_) => "Boolean",
            Builder::Int64(_) => "Int64",
            Builder::Timestamp(..) => "Timestamp",
            Builder::Date32(_) => "Date32",
            Builder::Time64(_) => "Time64",
            Builder::Binary(_) => "Binary",
        }
    }

    /// Appends `v`; returns the bytes it adds, or the kind of a value this column cannot hold.
    fn append(&mut self, v: &Value) -> std::result::Result<usize, &'static str> {
        if v.is_null() {
            match self {
                Builder::Null(n) => *n += 1,
                Builder::Utf8(b) => b.append_null(),
                Builder::Float64(b) => b.append_null(),
                Builder::Boolean(b) => b.append_null(),
                Builder::Int64(b) => b.append_null(),
                Builder::Timestamp(b, _) => b.append_null(),
                Builder::Date32(b) => b.append_null(),
                Builder::Time64(b) => b.append_null(),
                Builder::Binary(b) => b.append_null(),
            }
            return Ok(0);
        }
        match (self, v) {
            (Builder::Utf8(b), Value::Text(s) | Value::Number(s)) => {
                b.append_value(s);
                Ok(s.len())
            }
            (Builder::Utf8(b), Value::Json(j)) => {
                let s = serde_json::to_string(j).map_err(|_| "JSON")?;
                b.append_value(&s);
                Ok(s.len())
            }
            (Builder::Utf8(b), Value::Int(i)) => {
                let s = i.to_string();
                b.append_value(&s);
                Ok(s.len())
            }
            (Builder::Float64(b), Value::Double(d)) => {
                if d.is_finite() {
                    // -0.0 as 0, as a literal `-0.0` lands (`insert_values`, dlt)
                    b.append_value(if *d == 0.0 { 0.0 } else { *d });
                } else {
                    b.append_null();
                }
                Ok(8)
            }
            (Builder::Float64(b), Value::Int(i)) => {
                #[allow(clippy::cast_precision_loss)]
                b.append_value(*i as f64);
                Ok(8)
            }
            (Builder::Boolean(b), Value::Bool(x)) => {
                b.append_value(*x);
                Ok(1)
            }
            (Builder::Int64(b), Value::Int(i)) => {
                b.append_value(*i);
                Ok(8)
            }
            (Builder::Timestamp(b, _), Value::Timestamp(ts)) => {
                b.append_value(micros(ts.timestamp(), ts.timestamp_subsec_nanos()));
                Ok(8)
            }
            (Builder::Timestamp(b, _), Value::NaiveTimestamp(ts)) => {
                let ts = ts.and_utc();
                b.append_value(micros(ts.timestamp(), ts.timestamp_subsec_nanos()));
                Ok(8)
            }
            (Builder::Date32(b), Value::Date(d)) => {
                let days = d.signed_duration_since(epoch()).num_days();
                b.append_value(i32::try_from(days).map_err(|_| "date")?);
                Ok(4)
            }
            (Builder::Time64(b), Value::Time(t)) => {
                // a leap second (nanosecond() past 10^9) is the last microsecond of the day
                let us = micros(
                    i64::from(t.num_seconds_from_midnight()),
                    t.nanosecond().min(999_999_999),
                );
                b.append_value(us.min(86_399_999_999));
                Ok(8)
            }
            (Builder::Binary(b), Value::Binary(x)) => {
                b.append_value(x);
                Ok(x.len())
            }
            (_, other) => Err(value_kind(other)),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Null(n) => {
                let a = Arc::new(NullArray::new(*n));
                *n = 0;
                a
            }
            Builder::Utf8(b) => Arc::new(b.finish()),
            Builder::Float64(b) => Arc::new(b.finish()),
            Builder::Boolean(b) => Arc::new(b.finish()),
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Timestamp(b, tz) => {
                let a = b.finish();
                Arc::new(if *tz { a.with_timezone(UTC) } else { a })
            }
            Builder::Date32(b) => Arc::new(b.finish()),
            Builder::Time64(b) => Arc::new(b.finish()),
            Builder::Binary(b) => Arc::new(b.finish()),
        }
    }
}

/// Seconds and nanoseconds as microseconds, rounded to the nearest (half to even), as
/// PostgreSQL rounds the fractional seconds of a timestamp it parses.
fn micros(secs: i64, nanos: u32) -> i64 {
    let (us, rest) = (i64::from(nanos / 1000), nanos % 1000);
    let up = rest > 500 || (rest == 500 && us % 2 == 1);
    secs * 1_000_000 + us + i64::from(up)
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Int(_) => "bigint",
        Value::Double(_) => "double",
        Value::Number(_) => "decimal",
        Value::Text(_) => "text",
        Value::Timestamp(_) => "timestamp",
        Value::NaiveTimestamp(_) => "timestamp without time zone",
        Value::Date(_) => "date",
        Value::Time(_) => "time",
        Value::Binary(_) => "binary",
        Value::Json(_) => "json",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{cell, ParquetBatches};
    use chrono::{TimeZone, Utc};
    use dest_core::DataType;

    #[derive(Clone)]
    struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn rows_round_trip_through_a_parquet_job() {
        let mut naive = Column::new("naive", DataType::Timestamp);
        naive.timezone = Some(false);
        let columns = vec![
            Column::new("id", DataType::Bigint),
            Column::new("name", DataType::Text),
            Column::new("doc", DataType::Json),
            Column::new("price", DataType::Decimal),
            Column::new("score", DataType::Double),
            Column::new("ok", DataType::Bool),
            Column::new("ts", DataType::Timestamp),
            naive,
            Column::new("day", DataType::Date),
            Column::new("at", DataType::Time),
            Column::new("raw", DataType::Binary),
        ];
        let ts = Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 58).unwrap();
        let rows = vec![
            vec![
                Value::Int(-1),
                Value::Text("a'\"\n,b".into()),
                Value::Json(serde_json::json!({"z": 1, "a": [true, null]})),
                Value::Number("-12.340".into()),
                Value::Double(0.5),
                Value::Bool(true),
                Value::Timestamp(ts),
                Value::NaiveTimestamp(ts.naive_utc()),
                Value::Date(NaiveDate::from_ymd_opt(1, 1, 1).unwrap()),
                Value::Time(chrono::NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).unwrap()),
                Value::Binary(vec![0, 255]),
            ],
            vec![Value::Null; 11],
            {
                let mut r = vec![Value::Null; 11];
                r[4] = Value::Double(f64::NAN);
                r
            },
        ];
        let buf = Shared(Arc::new(std::sync::Mutex::new(Vec::new())));
        let mut w = Parquet
            .writer("t", &columns, Box::new(buf.clone()))
            .unwrap();
        for r in &rows {
            w.write_row(r).unwrap();
        }
        w.finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        std::fs::write(&path, buf.0.lock().unwrap().as_slice()).unwrap();
        let batches = ParquetBatches::open(&path).unwrap();
        assert_eq!(batches.rows(), 3);
        let schema = batches.schema().clone();
        let mut back = Vec::new();
        for batch in batches {
            let batch = batch.unwrap();
            for row in 0..batch.num_rows() {
                back.push(
                    (0..batch.num_columns())
                        .map(|c| cell(schema.field(c), batch.column(c).as_ref(), row).unwrap())
                        .collect::<Vec<_>>(),
                );
            }
        }
        let mut expected = rows.clone();
        expected[2][4] = Value::Null;
        assert_eq!(back, expected);
    }

    #[test]
    fn a_value_of_the_wrong_kind_names_the_column() {
        let columns = vec![Column::new("id", DataType::Bigint)];
        let mut w = Parquet
            .writer("t", &columns, Box::new(std::io::sink()))
            .unwrap();
        let e = w.write_row(&[Value::Text("x".into())]).unwrap_err();
        assert!(e.to_string().contains("column id of t"), "{e}");
    }
}
