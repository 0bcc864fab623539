//! PostgreSQL's binary `COPY` format decoded into Arrow record batches: the columnar read of
//! a table (`COPY (SELECT ...) TO STDOUT (FORMAT binary)`).
//!
//! Each column is read as one of a few [`Wire`] forms, each already the Arrow type of its dlt
//! type in a `parquet` job file (`columnar`'s job types), so normalizing casts nothing:
//! integers of every width as `Int64`, `real` and `double` as `Float64` (a `real` through its
//! shortest decimal text, as the server's text output and so the row-by-row read give it),
//! `boolean`, text as `Utf8` (also what the server cast to text: `numeric`, `uuid`, `json`,
//! arrays as JSON), `bytea` as `Binary`, `date` as `Date32`, timestamps as microseconds
//! (`+00:00` for `timestamptz`), `time` as `Time64(Microsecond)`.
//!
//! The decoder takes the stream in chunks of any size (a row may span chunks) and cuts a
//! batch every [`BATCH_ROWS`] rows or [`BATCH_BYTES`] bytes of values, so memory is bounded
//! by the batch, not the table. Pure: no IO.

use std::fmt::Write as _;
use std::sync::Arc;

use columnar::arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use columnar::arrow_array::{ArrayRef, RecordBatch};
use columnar::arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Rows per record batch at most.
pub(crate) const BATCH_ROWS: usize = 65_536;
/// Bytes of values per record batch at most (a batch of wide rows ends sooner).
pub(crate) const BATCH_BYTES: usize = 32 << 20;

/// `PGCOPY\n\377\r\n\0`: the signature of the binary format.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// 2000-01-01 (PostgreSQL's epoch) in days and microseconds since 1970-01-01.
const EPOCH_DAYS: i32 = 10_957;
const EPOCH_MICROS: i64 = 946_684_800_000_000;
/// The time zone of timestamps with a time zone (`columnar`'s job type).
const UTC: &str = "+00:00";

/// How a column arrives in the binary format, and the Arrow array it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Bool,
    /// `text`, `varchar`, `bpchar`, `name`, and anything the server casts to text.
    Text,
    Bytea,
    Date,
    Timestamp,
    Timestamptz,
    Time,
}

impl Wire {
    fn arrow(self) -> DataType {
        match self {
            Wire::Int2 | Wire::Int4 | Wire::Int8 => DataType::Int64,
            Wire::Float4 | Wire::Float8 => DataType::Float64,
            Wire::Bool => DataType::Boolean,
            Wire::Text => DataType::Utf8,
            Wire::Bytea => DataType::Binary,
            Wire::Date => DataType::Date32,
            Wire::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Wire::Timestamptz => DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from(UTC))),
            Wire::Time => DataType::Time64(TimeUnit::Microsecond),
        }
    }
}

/// A value the decoder cannot read: the column (when known), the row (1-based) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}row {row}: {message}", column.as_ref().map(|c| format!("column `{c}`, ")).unwrap_or_default())]
pub(crate) struct DecodeError {
    pub(crate) column: Option<String>,
    pub(crate) row: u64,
    pub(crate) message: String,
}

enum Builder {
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Text(StringBuilder),
    Bytes(BinaryBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder, Option<Arc<str>>),
    Time(Time64MicrosecondBuilder),
}

impl Builder {
    fn new(wire: Wire) -> Self {
        match wire {
            Wire::Int2 | Wire::Int4 | Wire::Int8 => Builder::Int(Int64Builder::new()),
            Wire::Float4 | Wire::Float8 => Builder::Float(Float64Builder::new()),
            Wire::Bool => Builder::Bool(BooleanBuilder::new()),
            Wire::Text => Builder::Text(StringBuilder::new()),
            Wire::Bytea => Builder::Bytes(BinaryBuilder::new()),
            Wire::Date => Builder::Date(Date32Builder::new()),
            Wire::Timestamp => Builder::Timestamp(TimestampMicrosecondBuilder::new(), None),
            Wire::Timestamptz => {
                Builder::Timestamp(TimestampMicrosecondBuilder::new(), Some(Arc::from(UTC)))
            }
            Wire::Time => Builder::Time(Time64MicrosecondBuilder::new()),
        }
    }

    fn append_null(&mut self) {
        match self {
            Builder::Int(b) => b.append_null(),
            Builder::Float(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Text(b) => b.append_null(),
            Builder::Bytes(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Timestamp(b, _) => b.append_null(),
            Builder::Time(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Bytes(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Timestamp(b, tz) => Arc::new(b.finish().with_timezone_opt(tz.clone())),
            Builder::Time(b) => Arc::new(b.finish()),
        }
    }
}

/// Decodes one binary `COPY` stream of the columns given at [`Decoder::new`].
pub(crate) struct Decoder {
    names: Vec<String>,
    wires: Vec<Wire>,
    schema: SchemaRef,
    builders: Vec<Builder>,
    /// Rows and value bytes in the batch being built.
    rows: usize,
    bytes: usize,
    /// Rows decoded so far (for messages).
    row: u64,
    header: bool,
    trailer: bool,
    /// The start of a row that has not fully arrived.
    pending: Vec<u8>,
    /// Scratch text of a `real`.
    float_text: String,
}

fn be<const N: usize>(data: &[u8], at: usize) -> Option<[u8; N]> {
    data.get(at..at + N)?.try_into().ok()
}

impl Decoder {
    /// A decoder of columns `(name, wire form)`, in the order the `SELECT` lists them.
    pub(crate) fn new(columns: &[(String, Wire, bool)]) -> Self {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(name, wire, nullable)| Field::new(name.as_str(), wire.arrow(), *nullable))
            .collect();
        Decoder {
            names: columns.iter().map(|(n, _, _)| n.clone()).collect(),
            wires: columns.iter().map(|(_, w, _)| *w).collect(),
            schema: Arc::new(Schema::new(fields)),
            builders: columns.iter().map(|(_, w, _)| Builder::new(*w)).collect(),
            rows: 0,
            bytes: 0,
            row: 0,
            header: false,
            trailer: false,
            pending: Vec::new(),
            float_text: String::new(),
        }
    }

    /// Rows decoded so far.
    pub(crate) fn rows_read(&self) -> u64 {
        self.row
    }

    fn error(&self, column: Option<usize>, message: impl Into<String>) -> DecodeError {
        DecodeError {
            column: column.and_then(|c| self.names.get(c).cloned()),
            row: self.row + 1,
            message: message.into(),
        }
    }

    /// Takes the next `chunk` of the stream; `batch` gets every batch completed by it and
    /// returns false to stop (the rest of the chunk is then left undecoded).
    pub(crate) fn push(
        &mut self,
        chunk: &[u8],
        batch: &mut dyn FnMut(RecordBatch) -> bool,
    ) -> Result<(), DecodeError> {
        if self.pending.is_empty() {
            let used = self.parse(chunk, batch)?;
            self.pending.extend_from_slice(&chunk[used..]);
        } else {
            let mut data = std::mem::take(&mut self.pending);
            data.extend_from_slice(chunk);
            let used = self.parse(&data, batch)?;
            data.drain(..used);
            self.pending = data;
        }
        Ok(())
    }

    /// The last batch, once the stream ended: an error unless the stream ended as the
    /// format ends (its trailer), so a stream cut short never reads as complete.
    pub(crate) fn finish(mut self) -> Result<Option<RecordBatch>, DecodeError> {
        if !self.trailer || !self.pending.is_empty() {
            return Err(self.error(None, "the COPY data ended in the middle"));
        }
        if self.rows == 0 {
            return Ok(None);
        }
        self.take_batch().map(Some)
    }

    fn take_batch(&mut self) -> Result<RecordBatch, DecodeError> {
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| self.error(None, format!("making a record batch: {e}")))
    }

    /// Decodes the complete rows at the start of `data`; returns the bytes used.
    fn parse(
        &mut self,
        data: &[u8],
        batch: &mut dyn FnMut(RecordBatch) -> bool,
    ) -> Result<usize, DecodeError> {
        let mut at = 0usize;
        if !self.header {
            // signature, flags (4), header extension length (4), extension
            let Some(len) = be::<4>(data, 15) else {
                return Ok(0);
            };
            if data.get(..11) != Some(SIGNATURE.as_slice()) {
                return Err(self.error(None, "not PostgreSQL's binary COPY format"));
            }
            let ext = usize::try_from(u32::from_be_bytes(len))
                .map_err(|_| self.error(None, "a header extension of impossible length"))?;
            if data.len() < 19 + ext {
                return Ok(0);
            }
            at = 19 + ext;
            self.header = true;
        }
        let columns = self.wires.len();
        loop {
            if self.trailer {
                if at < data.len() {
                    return Err(self.error(None, "data after the end of the COPY data"));
                }
                return Ok(at);
            }
            let Some(count) = be::<2>(data, at) else {
                return Ok(at);
            };
            let count = i16::from_be_bytes(count);
            if count == -1 {
                self.trailer = true;
                at += 2;
                continue;
            }
            if usize::try_from(count).ok() != Some(columns) {
                return Err(
                    self.error(None, format!("a row of {count} fields, expected {columns}"))
                );
            }
            // is the whole row here?
            let mut end = at + 2;
            for _ in 0..columns {
                let Some(len) = be::<4>(data, end) else {
                    return Ok(at);
                };
                end += 4;
                let len = i32::from_be_bytes(len);
                if len > 0 {
                    end += len as usize;
                }
            }
            if end > data.len() {
                return Ok(at);
            }
            let mut pos = at + 2;
            for c in 0..columns {
                let len = be::<4>(data, pos).map(i32::from_be_bytes).unwrap_or(-1);
                pos += 4;
                if len < 0 {
                    self.builders[c].append_null();
                    continue;
                }
                let value = &data[pos..pos + len as usize];
                pos += len as usize;
                self.value(c, value)?;
            }
            self.bytes += end - at;
            at = end;
            self.rows += 1;
            self.row += 1;
            if self.rows >= BATCH_ROWS || self.bytes >= BATCH_BYTES {
                let b = self.take_batch()?;
                if !batch(b) {
                    return Ok(at);
                }
            }
        }
    }

    fn value(&mut self, c: usize, v: &[u8]) -> Result<(), DecodeError> {
        let wire = self.wires[c];
        let width = match wire {
            Wire::Bool => Some(1),
            Wire::Int2 => Some(2),
            Wire::Int4 | Wire::Float4 | Wire::Date => Some(4),
            Wire::Int8 | Wire::Float8 | Wire::Timestamp | Wire::Timestamptz | Wire::Time => Some(8),
            Wire::Text | Wire::Bytea => None,
        };
        if let Some(n) = width {
            if v.len() != n {
                return Err(self.error(
                    Some(c),
                    format!("a value of {} bytes, expected {n}", v.len()),
                ));
            }
        }
        let row = self.row + 1;
        let Decoder {
            builders,
            names,
            float_text,
            ..
        } = self;
        let fail = |message: String| DecodeError {
            column: names.get(c).cloned(),
            row,
            message,
        };
        let infinite =
            || fail("an infinite date or timestamp has no place in the destination".into());
        match (&mut builders[c], wire) {
            (Builder::Int(b), Wire::Int2) => {
                b.append_value(i16::from_be_bytes([v[0], v[1]]).into());
            }
            (Builder::Int(b), Wire::Int4) => {
                b.append_value(i32::from_be_bytes([v[0], v[1], v[2], v[3]]).into());
            }
            (Builder::Int(b), _) => b.append_value(i64::from_be_bytes(eight(v))),
            (Builder::Float(b), Wire::Float4) => {
                let f = f32::from_be_bytes([v[0], v[1], v[2], v[3]]);
                // the shortest text that reads back as this `real` (the server's text
                // output), as a double: 1.1, not 1.100000023841858
                float_text.clear();
                let _ = write!(float_text, "{f}");
                b.append_value(float_text.parse().unwrap_or(f64::from(f)));
            }
            (Builder::Float(b), _) => b.append_value(f64::from_be_bytes(eight(v))),
            (Builder::Bool(b), _) => b.append_value(v[0] != 0),
            (Builder::Text(b), _) => match std::str::from_utf8(v) {
                Ok(text) => b.append_value(text),
                Err(e) => return Err(fail(format!("text that is not UTF-8: {e}"))),
            },
            (Builder::Bytes(b), _) => b.append_value(v),
            (Builder::Date(b), _) => {
                let days = i32::from_be_bytes([v[0], v[1], v[2], v[3]]);
                if days == i32::MAX || days == i32::MIN {
                    return Err(infinite());
                }
                b.append_value(days.checked_add(EPOCH_DAYS).ok_or_else(infinite)?);
            }
            (Builder::Timestamp(b, _), _) => {
                let micros = i64::from_be_bytes(eight(v));
                if micros == i64::MAX || micros == i64::MIN {
                    return Err(infinite());
                }
                b.append_value(micros.checked_add(EPOCH_MICROS).ok_or_else(infinite)?);
            }
            (Builder::Time(b), _) => b.append_value(i64::from_be_bytes(eight(v))),
        }
        Ok(())
    }
}

/// The first eight bytes of a value whose width was checked.
fn eight(v: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&v[..8]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use columnar::arrow_array::cast::AsArray;
    use columnar::arrow_array::types::{
        Date32Type, Float64Type, Int64Type, TimestampMicrosecondType,
    };
    use columnar::arrow_array::Array;

    fn header() -> Vec<u8> {
        let mut v = SIGNATURE.to_vec();
        v.extend_from_slice(&0u32.to_be_bytes());
        v.extend_from_slice(&0u32.to_be_bytes());
        v
    }

    fn row(out: &mut Vec<u8>, fields: &[Option<&[u8]>]) {
        out.extend_from_slice(&(fields.len() as i16).to_be_bytes());
        for f in fields {
            match f {
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(b) => {
                    out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    out.extend_from_slice(b);
                }
            }
        }
    }

    fn columns() -> Vec<(String, Wire, bool)> {
        vec![
            ("id".into(), Wire::Int4, false),
            ("r".into(), Wire::Float4, true),
            ("t".into(), Wire::Text, true),
            ("b".into(), Wire::Bytea, true),
            ("d".into(), Wire::Date, true),
            ("ts".into(), Wire::Timestamptz, true),
        ]
    }

    fn stream() -> Vec<u8> {
        let mut s = header();
        row(
            &mut s,
            &[
                Some(&7i32.to_be_bytes()),
                Some(&1.1f32.to_be_bytes()),
                Some("Müller".as_bytes()),
                Some(b""),
                Some(&1i32.to_be_bytes()),
                Some(&(-1i64).to_be_bytes()),
            ],
        );
        row(
            &mut s,
            &[Some(&8i32.to_be_bytes()), None, None, None, None, None],
        );
        s.extend_from_slice(&(-1i16).to_be_bytes());
        s
    }

    fn decode(chunks: &[&[u8]]) -> Result<Vec<RecordBatch>, DecodeError> {
        let mut d = Decoder::new(&columns());
        let mut out = Vec::new();
        for c in chunks {
            d.push(c, &mut |b| {
                out.push(b);
                true
            })?;
        }
        out.extend(d.finish()?);
        Ok(out)
    }

    #[test]
    fn rows_decode_into_job_types_in_chunks_of_any_size() {
        let s = stream();
        let whole = decode(&[&s]).unwrap();
        for size in [1, 2, 3, 7, 19, 20, 33] {
            let chunks: Vec<&[u8]> = s.chunks(size).collect();
            assert_eq!(decode(&chunks).unwrap(), whole, "chunks of {size}");
        }
        let b = &whole[0];
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.column(0).as_primitive::<Int64Type>().value(1), 8);
        assert_eq!(b.column(1).as_primitive::<Float64Type>().value(0), 1.1);
        assert!(b.column(1).is_null(1));
        assert_eq!(b.column(2).as_string::<i32>().value(0), "Müller");
        // an empty bytea stays an empty value, not NULL
        assert!(!b.column(3).is_null(0));
        assert_eq!(b.column(3).as_binary::<i32>().value(0), b"");
        assert_eq!(
            b.column(4).as_primitive::<Date32Type>().value(0),
            EPOCH_DAYS + 1
        );
        assert_eq!(
            b.column(5)
                .as_primitive::<TimestampMicrosecondType>()
                .value(0),
            EPOCH_MICROS - 1
        );
        assert_eq!(
            b.schema().field(5).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from(UTC)))
        );
    }

    #[test]
    fn a_stream_cut_short_is_an_error() {
        let s = stream();
        let e = decode(&[&s[..s.len() - 2]]).unwrap_err();
        assert!(e.message.contains("ended in the middle"), "{e}");
        let e = decode(&[&s[..30]]).unwrap_err();
        assert!(e.message.contains("ended in the middle"), "{e}");
    }

    #[test]
    fn bad_values_name_column_and_row() {
        let mut s = header();
        row(&mut s, &[Some(&[0, 1]), None, None, None, None, None]);
        let e = decode(&[&s]).unwrap_err();
        assert_eq!(e.column.as_deref(), Some("id"));
        assert_eq!(e.row, 1);
        let mut s = header();
        row(
            &mut s,
            &[
                Some(&1i32.to_be_bytes()),
                None,
                Some(&[0xff, 0xfe]),
                None,
                None,
                Some(&i64::MAX.to_be_bytes()),
            ],
        );
        let e = decode(&[&s]).unwrap_err();
        assert_eq!(e.column.as_deref(), Some("t"));
        assert!(e.to_string().contains("column `t`, row 1"), "{e}");
    }

    #[test]
    fn batches_are_bounded() {
        let mut s = header();
        for i in 0..(BATCH_ROWS as i32 + 5) {
            row(
                &mut s,
                &[Some(&i.to_be_bytes()), None, None, None, None, None],
            );
        }
        s.extend_from_slice(&(-1i16).to_be_bytes());
        let out = decode(&[&s]).unwrap();
        let sizes: Vec<usize> = out.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(sizes, vec![BATCH_ROWS, 5]);
    }
}
