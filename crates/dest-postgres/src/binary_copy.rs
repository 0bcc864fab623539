//! `parquet` job files into PostgreSQL with binary `COPY`: every value is encoded straight
//! from the Arrow arrays of the job file into PostgreSQL's binary tuple format (the server
//! runs each type's binary receive function instead of parsing text; decimal text becomes
//! `numeric`'s binary form here), streamed to the server in chunks of about [`CHUNK`] bytes.
//!
//! The format (PostgreSQL docs, "COPY — Binary Format"): the signature `PGCOPY\n\377\r\n\0`,
//! flags and header extension length (two int32 zeros), then per row an int16 field count
//! and per field an int32 length (-1: NULL) and the value's bytes, then the int16 trailer -1.
//! The encoding of a value depends on the *column's* type, read from the catalog ([`PgType`]):
//! a column created as `integer` takes four bytes, whatever the job file holds.
//!
//! A value the column's type cannot take is an [`EncodeError`] naming the column and the row
//! (0-based within the file), found before the server sees it: an integer out of range, a
//! text with a NUL, a decimal text that is not a number, a date or time PostgreSQL cannot
//! hold. NaN and infinite doubles load as they are (dlt's Arrow path keeps them; JSON rows
//! never hold them: the `parquet` writer makes them NULL, as the other formats). What only the
//! server checks (JSON syntax, `varchar(n)` lengths, constraints) fails the `COPY`; its
//! error names the row too ([`Error::AtRow`]).

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Decimal256Type, Float64Type, Int64Type, Time64MicrosecondType,
    TimestampMicrosecondType,
};
use arrow_array::{Array, BinaryArray, BooleanArray, PrimitiveArray, RecordBatch, StringArray};
use arrow_buffer::i256;
use arrow_schema::{DataType as Arrow, TimeUnit};
use bytes::{BufMut, Bytes, BytesMut};
use columnar::{ColumnarError, ParquetBatches};
use dest_core::{Error, Result};
use futures_util::SinkExt;

use crate::client::db_err;
use crate::csv::copy_line;
use crate::sql::binary_copy::{copy_binary, COLUMN_TYPES};
use crate::sql::NulInText;

/// The signature, the flags and the header extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// Bytes handed to the server at a time (a chunk ends with a row, so it may be longer).
const CHUNK: usize = 1 << 20;
/// Chunks encoded ahead of the network.
const CHUNKS_AHEAD: usize = 2;

/// Microseconds and days from 1970-01-01 (Arrow's epoch) to 2000-01-01 (PostgreSQL's).
const EPOCH_US: i64 = 946_684_800_000_000;
const EPOCH_DAYS: i32 = 10_957;
/// PostgreSQL's timestamp range in microseconds since its epoch: from 4714-11-24 BC
/// (`MIN_TIMESTAMP`) up to, not including, 294277-01-01 (`END_TIMESTAMP`).
const MIN_TIMESTAMP: i64 = -211_813_488_000_000_000;
const END_TIMESTAMP: i64 = 9_223_371_331_200_000_000;
/// PostgreSQL's date range in days since its epoch (`IS_VALID_DATE`): 4714-11-24 BC up to,
/// not including, 5874898-01-01.
const MIN_DATE: i32 = -2_451_545;
const END_DATE: i32 = 2_145_031_949;
/// `time` is 00:00:00 to 24:00:00 inclusive.
const MAX_TIME: i64 = 86_400_000_000;

/// `numeric`'s sign words, and its limits: a display scale of at most 16383 digits, at most
/// 131072 digits before the point (weight ≤ 32767 in base 10000).
const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_MAX_DSCALE: i64 = 0x3FFF;
const NUMERIC_MAX_POWER: i64 = 131_071;
/// PostgreSQL's bound on a decimal exponent (`PG_INT32_MAX / 2`).
const NUMERIC_MAX_EXPONENT: i64 = 1_073_741_823;

/// The type of a target column, as binary COPY writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PgType {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Bool,
    /// `text`, `varchar`, `bpchar`: the text's bytes (lengths checked by the server).
    Text,
    Json,
    /// A version byte (1), then the JSON text.
    Jsonb,
    Bytea,
    Timestamp,
    Timestamptz,
    Date,
    Time,
}

impl PgType {
    /// The type of catalog (base) type name `typname` of column `column`: a type binary COPY
    /// cannot write is [`EncodeError::Unsupported`].
    pub(crate) fn parse(column: &str, typname: &str) -> Result<PgType, EncodeError> {
        Ok(match typname {
            "int2" => PgType::Int2,
            "int4" => PgType::Int4,
            "int8" => PgType::Int8,
            "float4" => PgType::Float4,
            "float8" => PgType::Float8,
            "numeric" => PgType::Numeric,
            "bool" => PgType::Bool,
            "text" | "varchar" | "bpchar" => PgType::Text,
            "json" => PgType::Json,
            "jsonb" => PgType::Jsonb,
            "bytea" => PgType::Bytea,
            "timestamp" => PgType::Timestamp,
            "timestamptz" => PgType::Timestamptz,
            "date" => PgType::Date,
            "time" => PgType::Time,
            _ => {
                return Err(EncodeError::Unsupported {
                    column: column.to_string(),
                    pg: typname.to_string(),
                })
            }
        })
    }

    /// The SQL name, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PgType::Int2 => "smallint",
            PgType::Int4 => "integer",
            PgType::Int8 => "bigint",
            PgType::Float4 => "real",
            PgType::Float8 => "double precision",
            PgType::Numeric => "numeric",
            PgType::Bool => "boolean",
            PgType::Text => "text",
            PgType::Json => "json",
            PgType::Jsonb => "jsonb",
            PgType::Bytea => "bytea",
            PgType::Timestamp => "timestamp",
            PgType::Timestamptz => "timestamp with time zone",
            PgType::Date => "date",
            PgType::Time => "time",
        }
    }
}

/// What binary COPY cannot write: a column of a type it does not know, an Arrow array of a
/// type the column cannot take, or a value (named by column and 0-based row of the file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EncodeError {
    #[error(
        "column `{column}` has type `{pg}`, which the `parquet` loader file format (binary COPY) \
         cannot write; use --loader-file-format insert_values"
    )]
    Unsupported { column: String, pg: String },
    #[error(
        "column `{column}`: the job file holds Arrow {arrow}, which binary COPY does not write \
         into a column of type {pg}; use --loader-file-format insert_values"
    )]
    Mismatch {
        column: String,
        arrow: String,
        pg: &'static str,
    },
    #[error("a batch of {arrays} arrays for {columns} columns (a bug in dlt-rs)")]
    Width { arrays: usize, columns: usize },
    #[error("column `{column}`, row {row}: {value} is out of range for type {pg}")]
    OutOfRange {
        column: String,
        row: u64,
        value: String,
        pg: &'static str,
    },
    #[error("column `{column}`, row {row}: `{value}` is not a number")]
    NotANumber {
        column: String,
        row: u64,
        value: String,
    },
    #[error("column `{column}`, row {row}: {source}")]
    Nul {
        column: String,
        row: u64,
        source: NulInText,
    },
    #[error("column `{column}`, row {row}: a value of {bytes} bytes is too large for COPY")]
    TooLarge {
        column: String,
        row: u64,
        bytes: usize,
    },
}

impl EncodeError {
    /// The 0-based row of the file the error is about, for a value's error.
    pub(crate) fn row(&self) -> Option<u64> {
        match self {
            EncodeError::OutOfRange { row, .. }
            | EncodeError::NotANumber { row, .. }
            | EncodeError::Nul { row, .. }
            | EncodeError::TooLarge { row, .. } => Some(*row),
            EncodeError::Unsupported { .. }
            | EncodeError::Mismatch { .. }
            | EncodeError::Width { .. } => None,
        }
    }
}

/// A value's error before its column and row are known.
#[derive(Debug)]
enum ValueError {
    /// The value (as text), the type.
    OutOfRange(String, &'static str),
    NotANumber(String),
    Nul(NulInText),
    TooLarge(usize),
}

impl ValueError {
    fn at(self, column: &str, row: u64) -> EncodeError {
        let column = column.to_string();
        match self {
            ValueError::OutOfRange(value, pg) => EncodeError::OutOfRange {
                column,
                row,
                value,
                pg,
            },
            ValueError::NotANumber(value) => EncodeError::NotANumber { column, row, value },
            ValueError::Nul(source) => EncodeError::Nul {
                column,
                row,
                source,
            },
            ValueError::TooLarge(bytes) => EncodeError::TooLarge { column, row, bytes },
        }
    }
}

/// A text value for a message: long ones shortened.
fn shown(s: &str) -> String {
    const MAX: usize = 60;
    match s.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}... ({} bytes)", &s[..at], s.len()),
        None => s.to_string(),
    }
}

/// One array of a batch, downcast once, with what its values become.
enum Col<'a> {
    /// An array of Arrow type `Null`: every value NULL.
    Null,
    Int(&'a PrimitiveArray<Int64Type>, IntAs),
    Float(&'a PrimitiveArray<Float64Type>, bool),
    Bool(&'a BooleanArray),
    Text(&'a StringArray, TextAs),
    Dec128(&'a PrimitiveArray<Decimal128Type>, i64),
    Dec256(&'a PrimitiveArray<Decimal256Type>, i64),
    Timestamp(&'a PrimitiveArray<TimestampMicrosecondType>),
    Date(&'a PrimitiveArray<Date32Type>),
    Time(&'a PrimitiveArray<Time64MicrosecondType>),
    Binary(&'a BinaryArray),
}

#[derive(Clone, Copy)]
enum IntAs {
    Int2,
    Int4,
    Int8,
    Float8,
    Numeric,
}

#[derive(Clone, Copy)]
enum TextAs {
    Text,
    Jsonb,
    Numeric,
}

impl<'a> Col<'a> {
    fn new(name: &str, array: &'a dyn Array, pg: PgType) -> Result<Col<'a>, EncodeError> {
        use PgType as P;
        Ok(match (array.data_type(), pg) {
            (Arrow::Null, _) => Col::Null,
            (Arrow::Int64, P::Int2 | P::Int4 | P::Int8 | P::Float8 | P::Numeric) => {
                let to = match pg {
                    P::Int2 => IntAs::Int2,
                    P::Int4 => IntAs::Int4,
                    P::Float8 => IntAs::Float8,
                    P::Numeric => IntAs::Numeric,
                    _ => IntAs::Int8,
                };
                Col::Int(array.as_primitive(), to)
            }
            (Arrow::Float64, P::Float8 | P::Float4) => {
                Col::Float(array.as_primitive(), pg == P::Float4)
            }
            (Arrow::Boolean, P::Bool) => Col::Bool(array.as_boolean()),
            (Arrow::Utf8, P::Text | P::Json | P::Jsonb | P::Numeric) => {
                let to = match pg {
                    P::Jsonb => TextAs::Jsonb,
                    P::Numeric => TextAs::Numeric,
                    _ => TextAs::Text,
                };
                Col::Text(array.as_string(), to)
            }
            (Arrow::Decimal128(_, scale), P::Numeric) => {
                Col::Dec128(array.as_primitive(), i64::from(*scale))
            }
            (Arrow::Decimal256(_, scale), P::Numeric) => {
                Col::Dec256(array.as_primitive(), i64::from(*scale))
            }
            (Arrow::Timestamp(TimeUnit::Microsecond, _), P::Timestamp | P::Timestamptz) => {
                Col::Timestamp(array.as_primitive())
            }
            (Arrow::Date32, P::Date) => Col::Date(array.as_primitive()),
            (Arrow::Time64(TimeUnit::Microsecond), P::Time) => Col::Time(array.as_primitive()),
            (Arrow::Binary, P::Bytea) => Col::Binary(array.as_binary()),
            (other, _) => {
                return Err(EncodeError::Mismatch {
                    column: name.to_string(),
                    arrow: other.to_string(),
                    pg: pg.name(),
                })
            }
        })
    }

    fn is_null(&self, row: usize) -> bool {
        match self {
            Col::Null => true,
            Col::Int(a, _) => a.is_null(row),
            Col::Float(a, _) => a.is_null(row),
            Col::Bool(a) => a.is_null(row),
            Col::Text(a, _) => a.is_null(row),
            Col::Dec128(a, _) => a.is_null(row),
            Col::Dec256(a, _) => a.is_null(row),
            Col::Timestamp(a) => a.is_null(row),
            Col::Date(a) => a.is_null(row),
            Col::Time(a) => a.is_null(row),
            Col::Binary(a) => a.is_null(row),
        }
    }

    /// Appends the field (length and bytes) of row `row`; `digits` is scratch space.
    fn put(&self, row: usize, out: &mut BytesMut, digits: &mut Vec<u8>) -> Result<(), ValueError> {
        if self.is_null(row) {
            out.put_i32(-1);
            return Ok(());
        }
        match self {
            Col::Null => out.put_i32(-1),
            Col::Int(a, to) => {
                let v = a.value(row);
                match to {
                    IntAs::Int2 => {
                        let v = i16::try_from(v)
                            .map_err(|_| ValueError::OutOfRange(v.to_string(), "smallint"))?;
                        out.put_i32(2);
                        out.put_i16(v);
                    }
                    IntAs::Int4 => {
                        let v = i32::try_from(v)
                            .map_err(|_| ValueError::OutOfRange(v.to_string(), "integer"))?;
                        out.put_i32(4);
                        out.put_i32(v);
                    }
                    IntAs::Int8 => {
                        out.put_i32(8);
                        out.put_i64(v);
                    }
                    IntAs::Float8 => {
                        // rounds to the nearest double, as PostgreSQL's int8 -> float8 cast
                        out.put_i32(8);
                        out.put_f64(v as f64);
                    }
                    IntAs::Numeric => {
                        digits.clear();
                        push_u64_digits(digits, v.unsigned_abs());
                        // at most 20 digits: always in range
                        put_numeric(out, v < 0, digits, 0)
                            .map_err(|()| ValueError::OutOfRange(v.to_string(), "numeric"))?;
                    }
                }
            }
            Col::Float(a, to_float4) => {
                let v = a.value(row);
                // NaN and the infinities load as they are, as dlt's Arrow path loads them
                // (the JSON path's writer has made them NULL already, as dlt does there)
                if *to_float4 {
                    // PostgreSQL's float8 -> float4 cast refuses overflow and underflow alike
                    let f = v as f32;
                    if v.is_finite() && (f.is_infinite() || (f == 0.0 && v != 0.0)) {
                        return Err(ValueError::OutOfRange(format!("{v:?}"), "real"));
                    }
                    out.put_i32(4);
                    out.put_f32(f);
                } else {
                    out.put_i32(8);
                    out.put_f64(v);
                }
            }
            Col::Bool(a) => {
                out.put_i32(1);
                out.put_u8(u8::from(a.value(row)));
            }
            Col::Text(a, to) => {
                let s = a.value(row);
                match to {
                    TextAs::Numeric => put_numeric_text(out, s, digits)?,
                    TextAs::Jsonb => {
                        check_nul(s)?;
                        put_len(out, s.len() + 1)?;
                        out.put_u8(1);
                        out.put_slice(s.as_bytes());
                    }
                    TextAs::Text => {
                        check_nul(s)?;
                        put_len(out, s.len())?;
                        out.put_slice(s.as_bytes());
                    }
                }
            }
            Col::Dec128(a, scale) => {
                let v = a.value(row);
                digits.clear();
                let m = v.unsigned_abs();
                push_wide_digits(digits, [m as u64, (m >> 64) as u64, 0, 0]);
                put_numeric(out, v < 0, digits, -scale)
                    .map_err(|()| ValueError::OutOfRange(v.to_string(), "numeric"))?;
            }
            Col::Dec256(a, scale) => {
                let v = a.value(row);
                digits.clear();
                match v.to_i128() {
                    Some(small) => {
                        let m = small.unsigned_abs();
                        push_wide_digits(digits, [m as u64, (m >> 64) as u64, 0, 0]);
                    }
                    None => push_wide_digits(digits, magnitude_limbs(v)),
                }
                put_numeric(out, v.is_negative(), digits, -scale)
                    .map_err(|()| ValueError::OutOfRange(v.to_string(), "numeric"))?;
            }
            Col::Timestamp(a) => {
                let v = a.value(row);
                match v.checked_sub(EPOCH_US) {
                    Some(t) if (MIN_TIMESTAMP..END_TIMESTAMP).contains(&t) => {
                        out.put_i32(8);
                        out.put_i64(t);
                    }
                    _ => {
                        return Err(ValueError::OutOfRange(
                            format!("{v} microseconds since 1970-01-01"),
                            "timestamp",
                        ))
                    }
                }
            }
            Col::Date(a) => {
                let v = a.value(row);
                match v.checked_sub(EPOCH_DAYS) {
                    Some(d) if (MIN_DATE..END_DATE).contains(&d) => {
                        out.put_i32(4);
                        out.put_i32(d);
                    }
                    _ => {
                        return Err(ValueError::OutOfRange(
                            format!("{v} days since 1970-01-01"),
                            "date",
                        ))
                    }
                }
            }
            Col::Time(a) => {
                let v = a.value(row);
                if !(0..=MAX_TIME).contains(&v) {
                    return Err(ValueError::OutOfRange(
                        format!("{v} microseconds since midnight"),
                        "time",
                    ));
                }
                out.put_i32(8);
                out.put_i64(v);
            }
            Col::Binary(a) => {
                let b = a.value(row);
                put_len(out, b.len())?;
                out.put_slice(b);
            }
        }
        Ok(())
    }
}

/// The arrays of one record batch, downcast once, ready to be written row by row.
pub(crate) struct BatchEncoder<'a> {
    cols: Vec<(Col<'a>, &'a str)>,
    rows: usize,
    /// The index of the batch's first row in its file.
    first: u64,
}

impl<'a> BatchEncoder<'a> {
    /// The arrays of `batch` for columns `names` of types `types` (in the batch's order);
    /// `first` is the index of the batch's first row in its file (for messages).
    pub(crate) fn new(
        batch: &'a RecordBatch,
        names: &'a [String],
        types: &[PgType],
        first: u64,
    ) -> Result<Self, EncodeError> {
        if batch.num_columns() != names.len() || names.len() != types.len() {
            return Err(EncodeError::Width {
                arrays: batch.num_columns(),
                columns: names.len().min(types.len()),
            });
        }
        let cols = batch
            .columns()
            .iter()
            .zip(names)
            .zip(types)
            .map(|((a, n), t)| Col::new(n, a.as_ref(), *t).map(|c| (c, n.as_str())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BatchEncoder {
            cols,
            rows: batch.num_rows(),
            first,
        })
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Appends the tuple of row `row` of the batch to `out`; `digits` is scratch space
    /// reused from row to row. On error `out` may hold part of the tuple.
    pub(crate) fn put_row(
        &self,
        row: usize,
        out: &mut BytesMut,
        digits: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        // at most 1600 columns (PostgreSQL's limit) reach here
        out.put_i16(self.cols.len() as i16);
        for (col, name) in &self.cols {
            col.put(row, out, digits)
                .map_err(|e| e.at(name, self.first + row as u64))?;
        }
        Ok(())
    }
}

/// Appends the tuples of all rows of `batch` to `out` (no header, no trailer).
#[cfg(test)]
pub(crate) fn encode_batch(
    batch: &RecordBatch,
    names: &[String],
    types: &[PgType],
    first: u64,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let encoder = BatchEncoder::new(batch, names, types, first)?;
    let mut digits = Vec::new();
    for row in 0..encoder.rows() {
        encoder.put_row(row, out, &mut digits)?;
    }
    Ok(())
}

/// A field's length word: PostgreSQL takes at most 1 GB a field, so more than `i32` can
/// say is refused here.
fn put_len(out: &mut BytesMut, n: usize) -> Result<(), ValueError> {
    let len = i32::try_from(n).map_err(|_| ValueError::TooLarge(n))?;
    out.put_i32(len);
    Ok(())
}

/// PostgreSQL text cannot hold NUL: refused as the other formats refuse it.
fn check_nul(s: &str) -> Result<(), ValueError> {
    match memchr::memchr(0, s.as_bytes()) {
        Some(at) => Err(ValueError::Nul(NulInText(at))),
        None => Ok(()),
    }
}

/// Appends the decimal digits of `v` (`0` for zero).
fn push_u64_digits(out: &mut Vec<u8>, mut v: u64) {
    let start = out.len();
    loop {
        out.push(b'0' + (v % 10) as u8);
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out[start..].reverse();
}

/// Appends the decimal digits of the unsigned 256-bit number of little-endian `limbs`.
fn push_wide_digits(out: &mut Vec<u8>, mut limbs: [u64; 4]) {
    const TEN19: u128 = 10_000_000_000_000_000_000;
    let start = out.len();
    loop {
        // limbs /= 10^19, the remainder the next 19 digits (least significant first)
        let mut rem: u128 = 0;
        for limb in limbs.iter_mut().rev() {
            let cur = (rem << 64) | u128::from(*limb);
            // rem < 10^19, so cur / 10^19 < 2^64
            *limb = (cur / TEN19) as u64;
            rem = cur % TEN19;
        }
        let mut r = rem as u64;
        if limbs == [0; 4] {
            loop {
                out.push(b'0' + (r % 10) as u8);
                r /= 10;
                if r == 0 {
                    break;
                }
            }
            break;
        }
        for _ in 0..19 {
            out.push(b'0' + (r % 10) as u8);
            r /= 10;
        }
    }
    out[start..].reverse();
}

/// The magnitude of `v` as the little-endian limbs of an unsigned 256-bit number (`i256::MIN`
/// included).
fn magnitude_limbs(v: i256) -> [u64; 4] {
    let (low, high) = v.to_parts();
    let (mut low, mut high) = (low, high as u128);
    if v.is_negative() {
        // two's complement negation over 256 bits
        low = !low;
        high = !high;
        low = low.wrapping_add(1);
        if low == 0 {
            high = high.wrapping_add(1);
        }
    }
    [
        low as u64,
        (low >> 64) as u64,
        high as u64,
        (high >> 64) as u64,
    ]
}

/// Writes the field of `numeric` value `±digits × 10^exp` (`digits` ASCII decimal digits,
/// zeros at either end allowed), with display scale `max(0, -exp)`: base-10000 digits aligned
/// at the decimal point, the weight of the first; zero groups at either end are not written
/// (as PostgreSQL stores them). `Err` when `numeric` cannot hold the value.
fn put_numeric(out: &mut BytesMut, negative: bool, digits: &[u8], exp: i64) -> Result<(), ()> {
    let dscale = (-exp).max(0);
    if dscale > NUMERIC_MAX_DSCALE {
        return Err(());
    }
    let Some(first) = digits.iter().position(|&b| b != b'0') else {
        // zero: no digits, positive, the scale kept (`0.00`)
        out.put_i32(8);
        out.put_i16(0);
        out.put_i16(0);
        out.put_u16(NUMERIC_POS);
        out.put_u16(dscale as u16);
        return Ok(());
    };
    let last = digits.iter().rposition(|&b| b != b'0').unwrap_or(first);
    let d = &digits[first..=last];
    // the powers of ten of the last and the first significant digit
    let low = exp + (digits.len() - 1 - last) as i64;
    let high = low + d.len() as i64 - 1;
    if high > NUMERIC_MAX_POWER {
        return Err(());
    }
    let (g_high, g_low) = (high.div_euclid(4), low.div_euclid(4));
    // g_high <= 32767 and g_low >= -4096 (low >= -dscale): all fit an int16
    let ndigits = (g_high - g_low + 1) as usize;
    out.reserve(12 + 2 * ndigits);
    out.put_i32((8 + 2 * ndigits) as i32);
    out.put_i16(ndigits as i16);
    out.put_i16(g_high as i16);
    out.put_u16(if negative { NUMERIC_NEG } else { NUMERIC_POS });
    out.put_u16(dscale as u16);
    for g in (g_low..=g_high).rev() {
        let mut group: i16 = 0;
        for p in (4 * g..4 * g + 4).rev() {
            group *= 10;
            if (low..=high).contains(&p) {
                group += i16::from(d[(high - p) as usize] - b'0');
            }
        }
        out.put_i16(group);
    }
    Ok(())
}

/// Writes decimal text `s` as a `numeric`, exactly: `[+-]digits[.digits][(e|E)[+-]digits]`
/// (digits on at least one side of the point) or `NaN` in any case; nothing else (no
/// blanks, no `Infinity`), as the other file formats accept.
fn put_numeric_text(out: &mut BytesMut, s: &str, digits: &mut Vec<u8>) -> Result<(), ValueError> {
    if s.eq_ignore_ascii_case("nan") {
        out.put_i32(8);
        out.put_i16(0);
        out.put_i16(0);
        out.put_u16(NUMERIC_NAN);
        out.put_u16(0);
        return Ok(());
    }
    let not_a_number = || ValueError::NotANumber(shown(s));
    let b = s.as_bytes();
    let mut i = 0;
    let negative = match b.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    digits.clear();
    while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
        digits.push(*c);
        i += 1;
    }
    let mut fraction = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            digits.push(*c);
            fraction += 1;
            i += 1;
        }
    }
    if digits.is_empty() {
        return Err(not_a_number());
    }
    let mut exponent = 0i64;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let minus = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            exponent = exponent * 10 + i64::from(c - b'0');
            if exponent > NUMERIC_MAX_EXPONENT {
                return Err(ValueError::OutOfRange(shown(s), "numeric"));
            }
            i += 1;
        }
        if i == start {
            return Err(not_a_number());
        }
        if minus {
            exponent = -exponent;
        }
    }
    if i != b.len() {
        return Err(not_a_number());
    }
    put_numeric(out, negative, digits, exponent - fraction)
        .map_err(|()| ValueError::OutOfRange(shown(s), "numeric"))
}

/// A columnar error as the load's: a job file that cannot be read is an IO error (transient,
/// as with the other formats), anything else names the file.
fn columnar_error(file: &Path, e: ColumnarError) -> Error {
    match e {
        ColumnarError::Io { source, .. } => Error::io("reading a job file", file, source),
        other => Error::Data(other.to_string()),
    }
}

/// An encoding error as the load's ([`Error::Data`], naming the file and the table); a
/// value's error is [`Error::AtRow`].
fn encode_error(ctx: &str, e: EncodeError) -> Error {
    let row = e.row();
    let err = match e {
        EncodeError::Width { .. } => Error::Internal(format!("{ctx}: {e}")),
        _ => Error::Data(format!("{ctx}: {e}")),
    };
    match row {
        Some(row) => Error::AtRow {
            row,
            source: Box::new(err),
        },
        None => err,
    }
}

/// The error of a failed `COPY`, classified as every driver error ([`db_err`]); when the
/// server names the tuple (`COPY t, line 5, column x`: binary COPY counts tuples from 1),
/// [`Error::AtRow`] with its 0-based row.
fn copy_error(ctx: &str, e: tokio_postgres::Error) -> Error {
    let row = e
        .as_db_error()
        .and_then(|db| db.where_())
        .and_then(copy_line)
        .and_then(|line| line.checked_sub(1));
    let err = db_err(ctx, e);
    match row {
        Some(row) => Error::AtRow {
            row,
            source: Box::new(err),
        },
        None => err,
    }
}

/// Loads `parquet` job file `file` into `table` (qualified and quoted) with binary `COPY`
/// inside the open transaction; returns the rows. The file's columns (its Arrow schema's
/// field names) are the `COPY`'s; each is written as the type the catalog gives it. Reading
/// and encoding run on a blocking thread, a few chunks ahead of the network. A file without
/// rows sends nothing.
pub(crate) async fn copy_parquet(
    client: &tokio_postgres::Client,
    table: &str,
    file: &Path,
) -> Result<u64> {
    let ctx = format!("loading {} into {table}", file.display());
    let path = file.to_path_buf();
    let batches = tokio::task::spawn_blocking(move || ParquetBatches::open(&path))
        .await
        .map_err(|e| Error::Internal(format!("{ctx}: opening the job file: {e}")))?
        .map_err(|e| columnar_error(file, e))?;
    if batches.rows() == 0 {
        return Ok(0);
    }
    let names: Vec<String> = batches
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    if names.is_empty() {
        return Err(Error::Internal(format!(
            "parquet job file {} has rows but no columns",
            file.display()
        )));
    }

    let catalog = client
        .query(COLUMN_TYPES, &[&table, &names])
        .await
        .map_err(|e| db_err(format!("{ctx}: reading the column types"), e))?;
    let mut found = Vec::with_capacity(catalog.len());
    for r in &catalog {
        let name: String = r
            .try_get(0)
            .map_err(|e| db_err(format!("{ctx}: reading the column types"), e))?;
        let typname: String = r
            .try_get(1)
            .map_err(|e| db_err(format!("{ctx}: reading the column types"), e))?;
        found.push((name, typname));
    }
    let mut types = Vec::with_capacity(names.len());
    for name in &names {
        let Some((_, typname)) = found.iter().find(|(n, _)| n == name) else {
            return Err(Error::InvalidSchema(format!(
                "{ctx}: the table has no column `{name}`"
            )));
        };
        types.push(PgType::parse(name, typname).map_err(|e| encode_error(&ctx, e))?);
    }

    let sink = client
        .copy_in::<_, Bytes>(copy_binary(table, &names).as_str())
        .await
        .map_err(|e| db_err(&ctx, e))?;
    let mut sink = Box::pin(sink);

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes>>(CHUNKS_AHEAD);
    let encoder = {
        let ctx = ctx.clone();
        let file = file.to_path_buf();
        // true once every row and the trailer are sent (a COPY ended early by a stream
        // closed at a row boundary would load the rows so far: only a finished encoder
        // lets the COPY finish)
        tokio::task::spawn_blocking(move || -> bool {
            let mut buf = BytesMut::with_capacity(CHUNK + CHUNK / 4);
            buf.put_slice(HEADER);
            let mut digits = Vec::new();
            let mut first = 0u64;
            for batch in batches {
                let batch = match batch {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(columnar_error(&file, e)));
                        return false;
                    }
                };
                let encoded = BatchEncoder::new(&batch, &names, &types, first).and_then(|enc| {
                    for row in 0..enc.rows() {
                        enc.put_row(row, &mut buf, &mut digits)?;
                        if buf.len() >= CHUNK {
                            let chunk = buf.split().freeze();
                            if tx.blocking_send(Ok(chunk)).is_err() {
                                // the COPY failed: its error is the load's
                                return Ok(false);
                            }
                            buf.reserve(CHUNK + CHUNK / 4);
                        }
                    }
                    Ok(true)
                });
                match encoded {
                    Ok(true) => {}
                    Ok(false) => return false,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(encode_error(&ctx, e)));
                        return false;
                    }
                }
                first += batch.num_rows() as u64;
            }
            buf.put_i16(-1);
            tx.blocking_send(Ok(buf.split().freeze())).is_ok()
        })
    };

    let mut failed = None;
    while let Some(chunk) = rx.recv().await {
        match chunk {
            Ok(bytes) => {
                if let Err(e) = sink.send(bytes).await {
                    failed = Some(copy_error(&ctx, e));
                    break;
                }
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    drop(rx);
    let finished = encoder.await;
    if let Some(e) = failed {
        // dropping the unfinished sink aborts the COPY (CopyFail); the caller rolls back
        return Err(e);
    }
    match finished {
        Ok(true) => {}
        Ok(false) => {
            return Err(Error::Internal(format!(
                "{ctx}: the encoder stopped before the end of the file"
            )))
        }
        Err(e) => return Err(Error::Internal(format!("{ctx}: the encoder failed: {e}"))),
    }
    sink.as_mut()
        .finish()
        .await
        .map_err(|e| copy_error(&ctx, e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{
        ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Decimal256Array,
        Float64Array, Int64Array, NullArray, StringArray, Time64MicrosecondArray,
        TimestampMicrosecondArray,
    };
    use proptest::prelude::*;

    use super::*;

    /// The words of a numeric field (length word first): ndigits, weight, sign, dscale,
    /// digits...
    fn words(field: &[u8]) -> Vec<i16> {
        let len = i32::from_be_bytes(field[..4].try_into().unwrap()) as usize;
        assert_eq!(len, field.len() - 4, "length word");
        value_words(&field[4..])
    }

    /// The words of a numeric value (no length word).
    fn value_words(value: &[u8]) -> Vec<i16> {
        value
            .chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    fn numeric_text(s: &str) -> Result<Vec<i16>, ValueError> {
        let mut out = BytesMut::new();
        put_numeric_text(&mut out, s, &mut Vec::new())?;
        Ok(words(&out))
    }

    fn numeric(s: &str) -> Vec<i16> {
        numeric_text(s).unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    /// One column `c` of type `pg` holding `array`: its fields, or the error.
    fn fields(array: ArrayRef, pg: PgType) -> Result<Vec<Option<Vec<u8>>>, EncodeError> {
        let batch = RecordBatch::try_from_iter(vec![("c", array)]).unwrap();
        let mut out = BytesMut::new();
        encode_batch(&batch, &["c".into()], &[pg], 0, &mut out)?;
        let mut b = &out[..];
        let mut found = Vec::new();
        while !b.is_empty() {
            assert_eq!(&b[..2], &1i16.to_be_bytes(), "field count");
            let len = i32::from_be_bytes(b[2..6].try_into().unwrap());
            b = &b[6..];
            if len < 0 {
                found.push(None);
            } else {
                found.push(Some(b[..len as usize].to_vec()));
                b = &b[len as usize..];
            }
        }
        Ok(found)
    }

    fn field(array: ArrayRef, pg: PgType) -> Result<Option<Vec<u8>>, EncodeError> {
        fields(array, pg).map(|mut f| f.remove(0))
    }

    fn error(array: ArrayRef, pg: PgType) -> String {
        fields(array, pg).unwrap_err().to_string()
    }

    #[test]
    fn numerics_are_base_10000_digits_aligned_at_the_point() {
        const NEG: i16 = 0x4000;
        // ndigits, weight, sign, dscale, digits...
        assert_eq!(numeric("0"), [0, 0, 0, 0]);
        assert_eq!(numeric("-0"), [0, 0, 0, 0]);
        assert_eq!(numeric("0.00"), [0, 0, 0, 2]);
        assert_eq!(numeric("-0.000e1"), [0, 0, 0, 2]);
        assert_eq!(numeric("0e200000"), [0, 0, 0, 0]);
        assert_eq!(numeric("-0.5"), [1, -1, NEG, 1, 5000]);
        assert_eq!(numeric(".5"), [1, -1, 0, 1, 5000]);
        assert_eq!(numeric("+5."), [1, 0, 0, 0, 5]);
        assert_eq!(numeric("12345.678"), [3, 1, 0, 3, 1, 2345, 6780]);
        assert_eq!(numeric("-12.3400"), [2, 0, NEG, 4, 12, 3400]);
        assert_eq!(numeric("1e-10"), [1, -3, 0, 10, 100]);
        assert_eq!(numeric("1E5"), [1, 1, 0, 0, 10]);
        assert_eq!(numeric("1e+5"), [1, 1, 0, 0, 10]);
        assert_eq!(numeric("1.50e-3"), [1, -1, 0, 5, 15]);
        assert_eq!(numeric("10000"), [1, 1, 0, 0, 1]);
        assert_eq!(numeric("100000000"), [1, 2, 0, 0, 1]);
        assert_eq!(numeric("00012.10"), [2, 0, 0, 2, 12, 1000]);
        assert_eq!(numeric("0.0001"), [1, -1, 0, 4, 1]);
        assert_eq!(numeric("0.00001"), [1, -2, 0, 5, 1000]);
        assert_eq!(numeric("NaN"), [0, 0, 0xC000_u16 as i16, 0]);
        assert_eq!(numeric("nan"), [0, 0, 0xC000_u16 as i16, 0]);
        // wei: 78 digits either side of the point
        let nines = format!("{}.{}", "9".repeat(78), "9".repeat(78));
        let w = numeric(&nines);
        assert_eq!(w[..4], [40, 19, 0, 78]);
        // 78 nines: 99 then 19 groups of 9999; .78 nines: 19 groups of 9999 then 9900
        assert_eq!(w[4], 99);
        assert!(w[5..24].iter().all(|&g| g == 9999));
        assert!(w[24..43].iter().all(|&g| g == 9999));
        assert_eq!(w[43], 9900);
        let wei = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
        assert_eq!(wei.len(), 78);
        assert_eq!(
            numeric(wei),
            [
                20, 19, 0, 0, 11, 5792, 892, 3731, 6195, 4235, 7098, 5008, 6879, 785, 3269, 9846,
                6564, 564, 394, 5758, 4007, 9131, 2963, 9935
            ]
        );
    }

    #[test]
    fn numeric_text_is_refused_as_the_other_formats_refuse_it() {
        for bad in [
            "", "-", "+", ".", "-.", "1e", "1e+", "1x", " 1", "1 ", "Infinity", "-NaN", "1_0",
            "1..2", "1e5.0", "0x10", "1e 5", "e5", "١",
        ] {
            assert!(
                matches!(numeric_text(bad), Err(ValueError::NotANumber(_))),
                "{bad:?}"
            );
        }
        // numeric's own limits, as PostgreSQL's text input has them
        assert_eq!(numeric("1e131071")[..4], [1, 32767, 0, 0]);
        assert_eq!(numeric("1e-16383")[..4], [1, -4096, 0, 16383]);
        for big in [
            "1e131072",
            "0.1e-16383",
            "0e-16384",
            "1e1073741824",
            "1e-99999999999",
        ] {
            assert!(
                matches!(numeric_text(big), Err(ValueError::OutOfRange(_, "numeric"))),
                "{big:?}"
            );
        }
        let long = "1".repeat(131_073);
        assert!(matches!(
            numeric_text(&long),
            Err(ValueError::OutOfRange(v, _)) if v.len() < 100
        ));
    }

    #[test]
    fn decimals_and_integers_as_numeric() {
        let dec = |values: Vec<Option<i128>>, p: u8, s: i8| {
            let a = Decimal128Array::from(values)
                .with_precision_and_scale(p, s)
                .unwrap();
            fields(Arc::new(a), PgType::Numeric).unwrap()
        };
        let got = dec(vec![Some(-5), Some(1_234_567_800), None, Some(0)], 38, 9);
        assert_eq!(
            value_words(got[0].as_ref().unwrap()),
            [1, -3, 0x4000, 9, 5000]
        );
        assert_eq!(
            value_words(got[1].as_ref().unwrap()),
            [3, 0, 0, 9, 1, 2345, 6780]
        );
        assert_eq!(got[2], None);
        assert_eq!(value_words(got[3].as_ref().unwrap()), [0, 0, 0, 9]);
        // a negative scale: 12 × 10^5
        let got = dec(vec![Some(12)], 10, -5);
        assert_eq!(value_words(got[0].as_ref().unwrap()), [1, 1, 0, 0, 120]);
        let got = dec(vec![Some(i128::MIN), Some(i128::MAX)], 38, 0);
        for (v, f) in [i128::MIN, i128::MAX].iter().zip(&got) {
            assert_eq!(
                value_words(f.as_ref().unwrap()),
                numeric(&v.to_string()),
                "{v}"
            );
        }

        let wide = Decimal256Array::from(vec![
            Some(i256::MIN),
            Some(i256::MAX),
            Some(i256::from_i128(-42)),
        ])
        .with_precision_and_scale(76, 10)
        .unwrap();
        let got = fields(Arc::new(wide), PgType::Numeric).unwrap();
        for (v, f) in [i256::MIN, i256::MAX, i256::from_i128(-42)]
            .iter()
            .zip(&got)
        {
            let s = v.to_string();
            let (sign, abs) = s.strip_prefix('-').map_or(("", s.as_str()), |a| ("-", a));
            let text = format!("{sign}{abs}e-10");
            assert_eq!(value_words(f.as_ref().unwrap()), numeric(&text), "{v}");
        }

        let ints = Int64Array::from(vec![i64::MIN, i64::MAX, 0, -10_000]);
        let got = fields(Arc::new(ints), PgType::Numeric).unwrap();
        for (v, f) in [i64::MIN, i64::MAX, 0, -10_000].iter().zip(&got) {
            assert_eq!(
                value_words(f.as_ref().unwrap()),
                numeric(&v.to_string()),
                "{v}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Digits of wide integers are those of their decimal text.
        #[test]
        fn wide_digits_are_decimal_text(parts in any::<(u128, i128)>()) {
            let v = i256::from_parts(parts.0, parts.1);
            let mut digits = Vec::new();
            push_wide_digits(&mut digits, magnitude_limbs(v));
            let text = v.to_string();
            prop_assert_eq!(
                std::str::from_utf8(&digits).unwrap(),
                text.trim_start_matches('-')
            );
        }

        /// Any decimal text: the base-10000 digits read back (as PostgreSQL's numeric_out
        /// would) are the text's value.
        #[test]
        fn numeric_text_reads_back(
            minus in any::<bool>(),
            int in "[0-9]{0,30}",
            frac in "[0-9]{0,30}",
            exp in proptest::option::of(-40i64..40),
        ) {
            prop_assume!(!(int.is_empty() && frac.is_empty()));
            let text = format!(
                "{}{int}.{frac}{}",
                if minus { "-" } else { "" },
                exp.map(|e| format!("e{e}")).unwrap_or_default()
            );
            let w = numeric(&text);
            // the value as digits × 10^e, normalized, from the words...
            let (n, weight, dscale) = (w[0] as i64, w[1] as i64, w[3] as i64);
            let mut got = String::new();
            for g in &w[4..] {
                got.push_str(&format!("{g:04}"));
            }
            let got_exp = (weight - n + 1) * 4;
            // ... and from the text
            let all = format!("{int}{frac}");
            let want_exp = exp.unwrap_or(0) - frac.len() as i64;
            let norm = |d: &str, e: i64| {
                let t = d.trim_start_matches('0');
                let z = t.len() - t.trim_end_matches('0').len();
                (t.trim_end_matches('0').to_string(), if t.is_empty() { 0 } else { e + z as i64 })
            };
            prop_assert_eq!(norm(&got, got_exp), norm(&all, want_exp), "{}", text);
            prop_assert_eq!(dscale, (-want_exp).max(0));
            let zero = all.bytes().all(|b| b == b'0');
            prop_assert_eq!(w[2] == 0x4000, minus && !zero);
        }
    }

    #[test]
    fn integers_are_range_checked() {
        let a = Arc::new(Int64Array::from(vec![
            i64::from(i16::MIN),
            i64::from(i16::MAX),
        ]));
        let got = fields(a, PgType::Int2).unwrap();
        assert_eq!(got[0].as_deref(), Some(&[0x80, 0][..]));
        assert_eq!(got[1].as_deref(), Some(&[0x7f, 0xff][..]));

        let batch = RecordBatch::try_from_iter(vec![
            ("a", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            (
                "n",
                Arc::new(Int64Array::from(vec![Some(1), Some(40_000)])) as ArrayRef,
            ),
        ])
        .unwrap();
        let names = ["a".to_string(), "n".to_string()];
        let e = encode_batch(
            &batch,
            &names,
            &[PgType::Int8, PgType::Int2],
            10,
            &mut BytesMut::new(),
        )
        .unwrap_err();
        assert_eq!(e.row(), Some(11));
        assert_eq!(
            e.to_string(),
            "column `n`, row 11: 40000 is out of range for type smallint"
        );
        let a = Arc::new(Int64Array::from(vec![i64::from(i32::MAX) + 1]));
        assert_eq!(
            error(a, PgType::Int4),
            "column `c`, row 0: 2147483648 is out of range for type integer"
        );
        let a = Arc::new(Int64Array::from(vec![i64::MIN]));
        assert_eq!(
            field(a, PgType::Int8).unwrap().unwrap(),
            i64::MIN.to_be_bytes()
        );
        let a = Arc::new(Int64Array::from(vec![(1 << 53) + 1]));
        assert_eq!(
            field(a, PgType::Float8).unwrap().unwrap(),
            ((1i64 << 53) as f64).to_be_bytes()
        );
    }

    #[test]
    fn text_with_nul_is_refused_as_the_other_formats_do() {
        for pg in [PgType::Text, PgType::Json, PgType::Jsonb] {
            let a = Arc::new(StringArray::from(vec![Some("ok"), None, Some("a\0b")]));
            let e = fields(a, pg).unwrap_err();
            assert_eq!(e.row(), Some(2));
            assert_eq!(
                e.to_string(),
                format!("column `c`, row 2: {}", NulInText(1)),
                "{pg:?}"
            );
        }
        let a = Arc::new(StringArray::from(vec!["{\"a\": 1}"]));
        assert_eq!(field(a, PgType::Jsonb).unwrap().unwrap(), b"\x01{\"a\": 1}");
        let a = Arc::new(StringArray::from(vec!["", "zß😀"]));
        let got = fields(a, PgType::Text).unwrap();
        assert_eq!(got, [Some(vec![]), Some("zß😀".as_bytes().to_vec())]);
    }

    #[test]
    fn types_binary_copy_cannot_write_are_named() {
        let e = PgType::parse("location", "point").unwrap_err();
        assert_eq!(
            e.to_string(),
            "column `location` has type `point`, which the `parquet` loader file format \
             (binary COPY) cannot write; use --loader-file-format insert_values"
        );
        assert_eq!(e.row(), None);
        assert_eq!(PgType::parse("c", "_int4").map_err(|_| ()), Err(()));
        assert_eq!(PgType::parse("c", "varchar").unwrap(), PgType::Text);

        let a = Arc::new(StringArray::from(vec!["t"]));
        assert_eq!(
            error(a, PgType::Bool),
            "column `c`: the job file holds Arrow Utf8, which binary COPY does not write into a \
             column of type boolean; use --loader-file-format insert_values"
        );
        let batch = RecordBatch::try_from_iter(vec![(
            "c",
            Arc::new(Int64Array::from(vec![1])) as ArrayRef,
        )])
        .unwrap();
        let e = encode_batch(&batch, &[], &[], 0, &mut BytesMut::new()).unwrap_err();
        assert!(matches!(e, EncodeError::Width { .. }), "{e}");
    }

    #[test]
    fn doubles_not_finite_load_as_they_are_and_reals_are_range_checked() {
        let a = Arc::new(Float64Array::from(vec![
            Some(f64::NAN),
            Some(f64::INFINITY),
            Some(-0.0),
            Some(1.5),
            None,
        ]));
        let got = fields(a.clone(), PgType::Float8).unwrap();
        assert_eq!(got[0].as_deref(), Some(&f64::NAN.to_be_bytes()[..]));
        assert_eq!(got[1].as_deref(), Some(&f64::INFINITY.to_be_bytes()[..]));
        assert_eq!(got[2].as_deref(), Some(&(-0.0f64).to_be_bytes()[..]));
        assert_eq!(got[3].as_deref(), Some(&1.5f64.to_be_bytes()[..]));
        assert_eq!(got[4], None);
        let got = fields(a, PgType::Float4).unwrap();
        assert_eq!(got[1].as_deref(), Some(&f32::INFINITY.to_be_bytes()[..]));
        assert_eq!(got[3].as_deref(), Some(&1.5f32.to_be_bytes()[..]));
        for v in [1e39, -1e39, 1e-50] {
            let a = Arc::new(Float64Array::from(vec![v]));
            assert_eq!(
                error(a, PgType::Float4),
                format!("column `c`, row 0: {v:?} is out of range for type real")
            );
        }
    }

    #[test]
    fn times_are_since_2000_and_range_checked() {
        let ts = |v: i64| {
            let a = TimestampMicrosecondArray::from(vec![v]).with_timezone("UTC");
            field(Arc::new(a), PgType::Timestamptz)
        };
        assert_eq!(ts(EPOCH_US).unwrap().unwrap(), 0i64.to_be_bytes());
        assert_eq!(ts(0).unwrap().unwrap(), (-EPOCH_US).to_be_bytes());
        assert_eq!(
            ts(i64::MAX).unwrap().unwrap(),
            (i64::MAX - EPOCH_US).to_be_bytes()
        );
        // 4714-11-24 00:00:00 BC, the first instant PostgreSQL has
        let first = MIN_TIMESTAMP + EPOCH_US;
        assert!(ts(first).is_ok());
        assert_eq!(
            ts(first - 1).unwrap_err().to_string(),
            format!(
                "column `c`, row 0: {} microseconds since 1970-01-01 is out of range for type \
                 timestamp",
                first - 1
            )
        );
        assert!(ts(i64::MIN).is_err());
        let naive = TimestampMicrosecondArray::from(vec![EPOCH_US + 1]);
        assert_eq!(
            field(Arc::new(naive), PgType::Timestamp).unwrap().unwrap(),
            1i64.to_be_bytes()
        );

        let date = |v: i32| field(Arc::new(Date32Array::from(vec![v])), PgType::Date);
        assert_eq!(date(0).unwrap().unwrap(), (-EPOCH_DAYS).to_be_bytes());
        assert_eq!(
            date(-1_000_000).unwrap().unwrap(),
            (-1_010_957i32).to_be_bytes()
        );
        assert!(date(MIN_DATE + EPOCH_DAYS).is_ok());
        assert!(date(MIN_DATE + EPOCH_DAYS - 1).is_err());
        assert!(date(END_DATE - 1 + EPOCH_DAYS).is_ok());
        assert!(date(END_DATE + EPOCH_DAYS).is_err());
        assert!(date(i32::MIN).is_err());
        assert!(date(i32::MAX).is_err());

        let time = |v: i64| {
            field(
                Arc::new(Time64MicrosecondArray::from(vec![v])),
                PgType::Time,
            )
        };
        assert_eq!(time(MAX_TIME).unwrap().unwrap(), MAX_TIME.to_be_bytes());
        assert_eq!(time(0).unwrap().unwrap(), 0i64.to_be_bytes());
        assert!(time(-1).is_err());
        assert!(time(MAX_TIME + 1).is_err());
    }

    #[test]
    fn tuples_have_a_field_count_and_lengths() {
        let batch = RecordBatch::try_from_iter(vec![
            (
                "b",
                Arc::new(BooleanArray::from(vec![Some(true), None])) as ArrayRef,
            ),
            (
                "x",
                Arc::new(BinaryArray::from(vec![
                    Some(&b"\0\xff"[..]),
                    Some(&b""[..]),
                ])) as ArrayRef,
            ),
            ("n", Arc::new(NullArray::new(2)) as ArrayRef),
        ])
        .unwrap();
        let names = ["b".to_string(), "x".to_string(), "n".to_string()];
        let mut out = BytesMut::new();
        // a NULL-typed array goes into a column of any type
        encode_batch(
            &batch,
            &names,
            &[PgType::Bool, PgType::Bytea, PgType::Date],
            0,
            &mut out,
        )
        .unwrap();
        let want: &[u8] = b"\0\x03\0\0\0\x01\x01\0\0\0\x02\0\xff\xff\xff\xff\xff\
                            \0\x03\xff\xff\xff\xff\0\0\0\0\xff\xff\xff\xff";
        assert_eq!(&out[..], want);
        assert_eq!(HEADER.len(), 19);
    }

    #[test]
    fn copy_errors_name_the_tuple() {
        assert_eq!(copy_line("COPY t, line 5, column s"), Some(5));
        assert_eq!(copy_line("COPY t, line 12"), Some(12));
        assert_eq!(
            copy_line("SQL function \"f\"\nCOPY t, line 7, column x"),
            Some(7)
        );
        assert_eq!(copy_line("COPY t"), None);
        assert_eq!(copy_line("PL/pgSQL function, line 4"), None);
    }
}
